//! The JavaScript API: the `Chronik` class, its projections and subscriptions.
//!
//! Classes here are thin: they convert arguments (`types.rs`), call the engine in
//! `chronik-core` on the [`Backend`], and convert the results back.
//! Errors become `ChronikError`s in one place, `crate::error`.

mod aggregate;
mod backend;
#[cfg(feature = "examples")]
mod domain_types;
#[cfg(feature = "examples")]
mod domains;
mod input;
mod projection;
mod subscription;
mod sync;
pub mod types;

/// TypeScript names for optional arguments, so the `.d.ts` marks them optional
/// (`options?: AppendOptions`); their values are checked in `input` like any other.
mod ts {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        /// `AppendOptions` in the TypeScript declarations.
        #[wasm_bindgen(typescript_type = "AppendOptions")]
        pub type AppendOptions;
        /// `CommandOptions` in the TypeScript declarations.
        #[wasm_bindgen(typescript_type = "CommandOptions")]
        pub type CommandOptions;
        /// `FaultsInput` in the TypeScript declarations.
        #[cfg(feature = "examples")]
        #[wasm_bindgen(typescript_type = "FaultsInput")]
        pub type FaultsInput;
        /// `ImportOptions` in the TypeScript declarations.
        #[wasm_bindgen(typescript_type = "ImportOptions")]
        pub type ImportOptions;
        /// `(done: number, total: number) => void` in the TypeScript declarations.
        #[wasm_bindgen(typescript_type = "((done: number, total: number) => void)")]
        pub type ProgressCallback;
        /// `ReadAllOptions` in the TypeScript declarations.
        #[wasm_bindgen(typescript_type = "ReadAllOptions")]
        pub type ReadAllOptions;
        /// `ReadStreamOptions` in the TypeScript declarations.
        #[wasm_bindgen(typescript_type = "ReadStreamOptions")]
        pub type ReadStreamOptions;
        /// `RebuildOptions` in the TypeScript declarations.
        #[wasm_bindgen(typescript_type = "RebuildOptions")]
        pub type RebuildOptions;
        /// `StateOptions` in the TypeScript declarations.
        #[wasm_bindgen(typescript_type = "StateOptions")]
        pub type StateOptions;
        /// `SubscribeOptions` in the TypeScript declarations.
        #[wasm_bindgen(typescript_type = "SubscribeOptions")]
        pub type SubscribeOptions;
    }
}

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use chronik_core::{EventStore, MemoryStore, ProjectionRunner, StoreError};
use serde::Serialize;
use wasm_bindgen::prelude::*;

pub use aggregate::Aggregate;
pub use backend::{Backend, Store};
#[cfg(feature = "examples")]
use domains::{built_in_projection, BUILT_IN_PROJECTIONS};
#[cfg(feature = "examples")]
pub use domains::{Bank, Fulfilment, Orders};

/// Without the example domains there are no built-in read models.
#[cfg(not(feature = "examples"))]
const BUILT_IN_PROJECTIONS: [&str; 0] = [];

/// Without the example domains there are no built-in read models.
#[cfg(not(feature = "examples"))]
fn built_in_projection(_shared: &Shared, _name: &str) -> Option<projection::PendingRunner> {
    None
}
pub use projection::Projection;
use projection::{JsProjection, Projections};
use subscription::{Subscriber, Subscribers};
pub use sync::SyncJs;
use types::{
    AppendOptions, AppendResult, ReadAllOptions, ReadStreamOptions, Stats, SubscribeOptions,
};

use crate::error::{js_error, store_error};
use chronik_idb::IdbStore;
use chronik_idb::{JsClock, RandomUuids};

/// What every handle of one `Chronik` instance shares.
struct Shared {
    store: Rc<Backend>,
    /// `Date.now()`: every store, runner and demo run of this API reads time here.
    clock: JsClock,
    subscribers: Subscribers,
    /// Every projection of this database, one runner per name.
    projections: Projections,
    /// Hears appends and replica changes (a sync's writes, local writes while syncing)
    /// made by other tabs (IndexedDB only); dropping them stops listening.
    remote: RefCell<Vec<chronik_idb::AppendListener>>,
}

impl Shared {
    /// Tells subscribers the store may have grown.
    fn changed(&self) {
        if !self.store.is_closed() {
            self.subscribers.notify(&self.store);
        }
    }

    /// `DatabaseClosed` once `close()` was called (for calls that return at once).
    fn check_open(&self) -> Result<(), JsValue> {
        if self.store.is_closed() {
            return Err(store_error(StoreError::Closed(
                "this database was closed with close(); open it again".into(),
            )));
        }
        Ok(())
    }
}

/// Runs one API call as a promise. The database must be open and `prepare` must accept
/// the arguments; otherwise the promise is rejected at once and nothing runs. The work
/// holds the database open until it settles, so `close()` waits for it.
fn call<F>(shared: &Shared, prepare: impl FnOnce() -> Result<F, JsValue>) -> js_sys::Promise
where
    F: std::future::Future<Output = Result<JsValue, JsValue>> + 'static,
{
    let busy = match shared.store.begin() {
        Ok(busy) => busy,
        Err(e) => return js_sys::Promise::reject(&store_error(e)),
    };
    match prepare() {
        Ok(work) => wasm_bindgen_futures::future_to_promise(async move {
            let result = work.await;
            drop(busy);
            result
        }),
        Err(e) => js_sys::Promise::reject(&e),
    }
}

/// An event store for JavaScript: persisted in IndexedDB (`Chronik.open`) or kept in
/// memory (`Chronik.inMemory`, also in Node).
#[wasm_bindgen]
pub struct Chronik {
    shared: Rc<Shared>,
}

impl Chronik {
    fn with_backend(backend: Store, clock: JsClock) -> Result<Chronik, JsValue> {
        let shared = Rc::new(Shared {
            store: Rc::new(Backend::new(backend)),
            clock,
            subscribers: Subscribers::default(),
            projections: Projections::default(),
            remote: RefCell::new(Vec::new()),
        });
        if let Some(store) = shared.store.idb() {
            if let Store::Idb(idb) = &*store {
                let weak: Weak<Shared> = Rc::downgrade(&shared);
                let listener = idb
                    .on_remote_append(move |_| {
                        if let Some(shared) = weak.upgrade() {
                            shared.changed();
                        }
                    })
                    .map_err(store_error)?;
                shared.remote.borrow_mut().push(listener);
                // Another tab's sync confirmed, decided again or dropped events this
                // tab's views may have read as pending, or another tab wrote while
                // syncing: views are read again, and the leading tab pushes.
                let weak: Weak<Shared> = Rc::downgrade(&shared);
                let listener = idb
                    .on_remote_replica_change(move |_| {
                        let Some(shared) = weak.upgrade() else {
                            return;
                        };
                        shared.projections.invalidate();
                        shared.changed();
                        if let Some(sync) = shared.store.replica().and_then(|m| m.sync()) {
                            if sync.state().leader {
                                sync.wake();
                            }
                        }
                    })
                    .map_err(store_error)?;
                shared.remote.borrow_mut().push(listener);
            }
        }
        Ok(Chronik { shared })
    }
}

/// The events of an `append` call, checked.
fn new_events(events: &JsValue) -> Result<Vec<chronik_core::NewEvent>, JsValue> {
    let array = input::array(events, "events")?.ok_or_else(|| {
            input::invalid(
                "events",
                format!(
                    "must be an array of events such as [{{ type: \"Deposited\", data: {{}} }}], not {}",
                    input::kind(events)
                ),
            )
        })?;
    let array = &array;
    let len = array.length() as usize;
    if len > chronik_core::MAX_BATCH_EVENTS {
        return Err(input::invalid(
            "events",
            format!(
                "holds {len} events; one append takes at most {}",
                chronik_core::MAX_BATCH_EVENTS
            ),
        ));
    }
    (0..len as u32)
        .map(|i| {
            let what = format!("events[{i}]");
            let item = js_sys::Reflect::get(array, &JsValue::from(i)).map_err(|e| {
                input::invalid(
                    &what,
                    format!("could not be read: {}", input::describe_thrown(&e)),
                )
            })?;
            input::object(&item, &what)?;
            // The event object and its metadata wrap values the planner bounds exactly.
            let json = input::json_within(&item, &what, 2)?;
            // Decoded straight into the engine's type: its serde shape is the API's (the
            // `NewEvent` declaration mirrors it).
            input::decode::<chronik_core::NewEvent>(json, &what)
        })
        .collect()
}

#[wasm_bindgen]
impl Chronik {
    /// Opens (or creates) the IndexedDB database `name`.
    pub async fn open(
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
    ) -> Result<Chronik, JsValue> {
        let name = input::name(&name, "name")?;
        let clock = JsClock;
        let store = IdbStore::open(&name, clock, RandomUuids)
            .await
            .map_err(store_error)?;
        // Ask the browser not to evict the data under storage pressure; the answer
        // (it may say no) does not change how the store works.
        wasm_bindgen_futures::spawn_local(async {
            IdbStore::request_persistence().await;
        });
        let chronik = Chronik::with_backend(Store::Idb(store), clock)?;
        sync::resume(&chronik.shared).await?;
        Ok(chronik)
    }

    /// A store that lives in memory only, in the browser or in Node.
    #[wasm_bindgen(js_name = inMemory)]
    pub fn in_memory() -> Result<Chronik, JsValue> {
        let clock = JsClock;
        Chronik::with_backend(Store::Memory(MemoryStore::new(clock, RandomUuids)), clock)
    }

    /// Asks the browser to keep this origin's data under storage pressure
    /// (`navigator.storage.persist()`); resolves to whether it is persistent.
    /// `Chronik.open` asks once by itself.
    #[wasm_bindgen(js_name = requestPersistence)]
    pub async fn request_persistence() -> bool {
        IdbStore::request_persistence().await
    }

    /// Deletes the IndexedDB database `name` and everything in it.
    #[wasm_bindgen(js_name = deleteDatabase)]
    pub async fn delete_database(
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
    ) -> Result<(), JsValue> {
        let name = input::name(&name, "name")?;
        IdbStore::delete_database(&name).await.map_err(store_error)
    }

    /// Appends `events` to `streamId` atomically, if the stream is at
    /// `options.expectedVersion` (any version when absent).
    #[wasm_bindgen(unchecked_return_type = "Promise<AppendResult>")]
    pub fn append(
        &self,
        #[wasm_bindgen(js_name = streamId, unchecked_param_type = "string")] stream_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "NewEvent[]")] events: JsValue,
        options: Option<ts::AppendOptions>,
    ) -> js_sys::Promise {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let shared = Rc::clone(&self.shared);
        call(&self.shared, || {
            let stream_id = input::name(&stream_id, "streamId")?;
            let events = new_events(&events)?;
            let expected = input::options::<AppendOptions>(&options, "options")?
                .expected_version
                .map_or(chronik_core::ExpectedVersion::Any, Into::into);
            Ok(async move {
                let result = shared
                    .store
                    .append(&stream_id, expected, events)
                    .await
                    .map_err(store_error)?;
                shared.changed();
                out(&AppendResult::from(result))
            })
        })
    }

    /// Reads one stream, oldest first unless `options.direction` is `"backward"`.
    #[wasm_bindgen(js_name = readStream, unchecked_return_type = "Promise<RecordedEvent[]>")]
    pub fn read_stream(
        &self,
        #[wasm_bindgen(js_name = streamId, unchecked_param_type = "string")] stream_id: JsValue,
        options: Option<ts::ReadStreamOptions>,
    ) -> js_sys::Promise {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let store = Rc::clone(&self.shared.store);
        call(&self.shared, || {
            let stream_id = input::name(&stream_id, "streamId")?;
            let options = input::options::<ReadStreamOptions>(&options, "options")?.to_core();
            Ok(async move {
                if let Some(idb) = store.direct_idb() {
                    if let Store::Idb(idb) = &*idb {
                        let rows = idb.stored_stream_rows(&stream_id, options).await;
                        return rows.map(|r| api_events(r).into()).map_err(store_error);
                    }
                }
                to_list(store.read_stream(&stream_id, options).await)
            })
        })
    }

    /// Reads the global log over every stream, in position order.
    #[wasm_bindgen(js_name = readAll, unchecked_return_type = "Promise<RecordedEvent[]>")]
    pub fn read_all(&self, options: Option<ts::ReadAllOptions>) -> js_sys::Promise {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let store = Rc::clone(&self.shared.store);
        call(&self.shared, || {
            let options = input::options::<ReadAllOptions>(&options, "options")?.to_core();
            Ok(async move {
                if options.event_types.is_none() && options.stream_prefix.is_none() {
                    if let Some(idb) = store.direct_idb() {
                        if let Store::Idb(idb) = &*idb {
                            let rows = idb
                                .stored_log_rows(options.from_position, options.limit)
                                .await;
                            return rows.map(|r| api_events(r).into()).map_err(store_error);
                        }
                    }
                }
                to_list(store.read_all(options).await)
            })
        })
    }

    /// Calls `callback` with every new event, in position order, each once: events
    /// appended through this instance and, for IndexedDB, by other tabs. With
    /// `fromPosition`, stored events from there are delivered first. Returns a function
    /// that stops the subscription (calling it again does nothing).
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(
        &self,
        options: Option<ts::SubscribeOptions>,
        #[wasm_bindgen(unchecked_param_type = "(event: RecordedEvent) => void")] callback: JsValue,
    ) -> Result<JsValue, JsValue> {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        self.shared.check_open()?;
        let options = input::options::<SubscribeOptions>(&options, "options")?;
        let callback = input::function(&callback, "callback")?;
        let shared = Rc::clone(&self.shared);
        let subscriber = Rc::new(Subscriber::new(
            options.from_position,
            options.types,
            callback,
        ));
        shared.subscribers.add(Rc::clone(&subscriber));
        wasm_bindgen_futures::spawn_local(Rc::clone(&subscriber).deliver(Rc::clone(&shared.store)));
        let stop = Closure::<dyn Fn()>::new(move || subscriber.stop());
        Ok(stop.into_js_value())
    }

    /// Counts over the whole store: events, streams, snapshots, events per type and per
    /// day, and (in browsers that tell) storage used and quota.
    #[wasm_bindgen(unchecked_return_type = "Promise<Stats>")]
    pub fn stats(&self) -> js_sys::Promise {
        let store = Rc::clone(&self.shared.store);
        call(&self.shared, || {
            Ok(async move {
                let mut stats = Stats::from(store.stats().await.map_err(store_error)?);
                if store.idb().is_some() {
                    if let Some((usage, quota)) = IdbStore::storage_estimate().await {
                        stats.storage_usage = Some(usage as f64);
                        stats.storage_quota = Some(quota as f64);
                    }
                }
                out(&stats)
            })
        })
    }

    /// Defines a projection written in JavaScript: `apply(state, event)` returns the next
    /// state. Its checkpoint and state are saved together under `name`, so it resumes
    /// where it stopped; it catches up whenever its state is read.
    #[wasm_bindgen(js_name = defineProjection)]
    pub fn define_projection(
        &self,
        #[wasm_bindgen(unchecked_param_type = "DefineProjectionOptions")] options: JsValue,
    ) -> Result<Projection, JsValue> {
        self.shared.check_open()?;
        let what = "defineProjection options";
        input::object(&options, what)?;
        let field = |key: &str| input::field(&options, key, what);
        let name = input::name(&field("name")?, "defineProjection options.name")?;
        let apply = input::function(&field("apply")?, "defineProjection options.apply")?;
        let initial = input::json(
            &field("initialState")?,
            "defineProjection options.initialState",
        )?;
        let types_js = field("types")?;
        let types: Option<Vec<String>> = if types_js.is_undefined() || types_js.is_null() {
            None
        } else {
            Some(names(&types_js, "defineProjection options.types")?)
        };
        if self.shared.projections.knows(&name) || BUILT_IN_PROJECTIONS.contains(&name.as_str()) {
            return Err(js_error(
                "InvalidInput",
                &format!("a projection named '{name}' is already defined"),
            )
            .into());
        }
        let (store, clock, projection_name) = (
            Rc::clone(&self.shared.store),
            self.shared.clock,
            name.clone(),
        );
        self.shared.projections.register(
            name.clone(),
            Rc::new(move |hub| {
                hub.add(ProjectionRunner::new(
                    Rc::clone(&store),
                    JsProjection::new(
                        projection_name.clone(),
                        types.clone(),
                        initial.clone(),
                        apply.clone(),
                    ),
                    clock,
                ))
            }),
        );
        Ok(Projection::new(Rc::clone(&self.shared), name))
    }

    /// The projection named `name`: one defined with `defineProjection`, or one of the
    /// example domains' read models (`AccountBalances`, `TransactionHistory`,
    /// `DailySummary`, `PendingTransfers`, `CurrentOrders`, `OrderHistory`,
    /// `CustomerStats`, `InventoryDemand`).
    pub fn projection(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
    ) -> Result<Projection, JsValue> {
        self.shared.check_open()?;
        let name = input::name(&name, "name")?;
        if self.shared.projections.knows(&name) {
            return Ok(Projection::new(Rc::clone(&self.shared), name));
        }
        let Some(add) = built_in_projection(&self.shared, &name) else {
            return Err(js_error(
                "UnknownProjection",
                &format!(
                    "no projection named '{name}'; known: {}",
                    self.projection_names().join(", ")
                ),
            )
            .into());
        };
        self.shared.projections.register(name.clone(), add);
        Ok(Projection::new(Rc::clone(&self.shared), name))
    }

    /// The names of every projection: the built-in read models and those defined here.
    #[wasm_bindgen(js_name = projectionNames)]
    pub fn projection_names(&self) -> Vec<String> {
        let mut names: Vec<String> = BUILT_IN_PROJECTIONS.iter().map(|s| s.to_string()).collect();
        for name in self.shared.projections.names() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// Defines an aggregate written in JavaScript: `decide(state, command)` returns the
    /// events a command causes (or throws to refuse it), `evolve(state, event)` returns
    /// the next state. Its streams are `<name>-<id>`; it is snapshotted every
    /// `snapshotEvery` events (default 10, 0 for never).
    #[wasm_bindgen(js_name = defineAggregate)]
    pub fn define_aggregate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "DefineAggregateOptions")] options: JsValue,
    ) -> Result<Aggregate, JsValue> {
        self.shared.check_open()?;
        let what = "defineAggregate options";
        input::object(&options, what)?;
        let field = |key: &str| input::field(&options, key, what);
        let name = input::name(&field("name")?, "defineAggregate options.name")?;
        let initial = input::json(
            &field("initialState")?,
            "defineAggregate options.initialState",
        )?;
        let decide = input::function(&field("decide")?, "defineAggregate options.decide")?;
        let evolve = input::function(&field("evolve")?, "defineAggregate options.evolve")?;
        let every = field("snapshotEvery")?;
        let snapshot_every = if every.is_undefined() || every.is_null() {
            None
        } else {
            Some(input::integer(
                &every,
                "defineAggregate options.snapshotEvery",
                0,
                u32::MAX.into(),
            )?)
        };
        let aggregate = aggregate::JsAggregate::new(name, initial, decide, evolve);
        Aggregate::new(Rc::clone(&self.shared), aggregate, snapshot_every)
    }

    /// The whole log as NDJSON (one stored event a line), built from pages so that no
    /// single string holds it: a `Blob` to download or upload.
    #[wasm_bindgen(js_name = exportNdjson, unchecked_return_type = "Promise<Blob>")]
    pub fn export_ndjson(&self) -> js_sys::Promise {
        let store = Rc::clone(&self.shared.store);
        call(&self.shared, || {
            Ok(async move {
                let parts = js_sys::Array::new();
                chronik_core::export_ndjson(
                    &*store,
                    chronik_core::ndjson::DEFAULT_EXPORT_PAGE,
                    |chunk| {
                        parts.push(&JsValue::from_str(chunk));
                    },
                )
                .await
                .map_err(store_error)?;
                let options = web_sys::BlobPropertyBag::new();
                options.set_type("application/x-ndjson");
                web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map(Into::into)
            })
        })
    }

    /// Streams the log as NDJSON: `onChunk` receives whole lines, a page at a time.
    /// Resolves to the number of events exported; when `onChunk` throws, the export
    /// stops and rejects with what it threw.
    #[wasm_bindgen(js_name = exportNdjsonChunks, unchecked_return_type = "Promise<number>")]
    pub fn export_ndjson_chunks(
        &self,
        #[wasm_bindgen(js_name = onChunk, unchecked_param_type = "(chunk: string) => void")]
        on_chunk: JsValue,
    ) -> js_sys::Promise {
        let store = Rc::clone(&self.shared.store);
        call(&self.shared, || {
            let on_chunk = input::function(&on_chunk, "onChunk")?;
            Ok(async move {
                let mut thrown = None;
                let n = chronik_core::export_ndjson(
                    &*store,
                    chronik_core::ndjson::DEFAULT_EXPORT_PAGE,
                    |chunk| {
                        if thrown.is_none() {
                            if let Err(e) =
                                on_chunk.call1(&JsValue::NULL, &JsValue::from_str(chunk))
                            {
                                thrown = Some(e);
                            }
                        }
                    },
                )
                .await
                .map_err(store_error)?;
                match thrown {
                    Some(e) => Err(e),
                    None => Ok((n as f64).into()),
                }
            })
        })
    }

    /// Imports NDJSON written by `exportNdjson`, all or nothing: every line is checked,
    /// and when any is bad, or does not continue the store, nothing is written and a
    /// `ChronikError` with code `InvalidImport` lists the bad lines (`errors: [{ line,
    /// message }]`, `errorCount`). Events keep their ids, versions, positions and times;
    /// events already stored (the same in every field) are skipped, so importing the
    /// same file again duplicates nothing.
    #[wasm_bindgen(js_name = importNdjson, unchecked_return_type = "Promise<ImportResult>")]
    pub fn import_ndjson(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] text: JsValue,
        options: Option<ts::ImportOptions>,
    ) -> js_sys::Promise {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let shared = Rc::clone(&self.shared);
        call(&self.shared, || {
            let text = input::text(&text, "text")?;
            let mut core_options = chronik_core::ImportOptions::default();
            let mut on_progress = None;
            if !options.is_undefined() && !options.is_null() {
                input::object(&options, "options")?;
                let keep = input::field(&options, "keepPositions", "options")?;
                if let Some(keep) = keep.as_bool() {
                    core_options.keep_positions = keep;
                } else if !keep.is_undefined() {
                    return Err(input::invalid(
                        "options.keepPositions",
                        format!("must be a boolean, not {}", input::kind(&keep)),
                    ));
                }
                on_progress = input::optional_function(
                    &input::field(&options, "onProgress", "options")?,
                    "options.onProgress",
                )?;
            }
            Ok(async move {
                let report =
                    chronik_core::import_ndjson(&*shared.store, &text, core_options, |p| {
                        if let Some(f) = &on_progress {
                            let _ = f.call2(
                                &JsValue::NULL,
                                &(p.lines_done as f64).into(),
                                &(p.lines_total as f64).into(),
                            );
                        }
                    })
                    .await
                    .map_err(store_error)?;
                shared.changed();
                let result = types::ImportResult::from(report);
                if result.error_count > 0 {
                    let err = js_error(
                        "InvalidImport",
                        &format!(
                            "{} bad line(s), nothing imported; first: line {}: {}",
                            result.error_count,
                            result.errors.first().map_or(0, |e| e.line),
                            result.errors.first().map_or("", |e| e.message.as_str()),
                        ),
                    );
                    crate::error::set_field(&err, "errors", out(&result.errors)?);
                    crate::error::set_field(&err, "errorCount", (result.error_count as f64).into());
                    return Err(err.into());
                }
                out(&result)
            })
        })
    }

    /// Closes the database. Calls made from now on (through this object or any handle
    /// from it) fail with `DatabaseClosed`; calls already made finish, and the connection
    /// closes as soon as they have. Subscriptions stop. Closing twice does nothing.
    pub fn close(&self) {
        if self.shared.store.is_closed() {
            return;
        }
        self.shared.subscribers.stop_all();
        self.shared.remote.borrow_mut().clear();
        self.shared.projections.clear();
        self.shared.store.close();
    }
}

/// A list of names (event types), each checked.
fn names(value: &JsValue, what: &str) -> Result<Vec<String>, JsValue> {
    let list: Vec<String> = input::typed(value, what)?;
    for (i, name) in list.iter().enumerate() {
        chronik_core::limits::check_name(&format!("{what}[{i}]"), name)
            .map_err(|e| js_error("InvalidInput", &format!("invalid input: {e}")))?;
    }
    Ok(list)
}

/// Stored IndexedDB rows as the API's `RecordedEvent`s: the rows are already in the API's
/// shape (the one JSON shape of an event), so the array is returned as it is, without
/// decoding a row into Rust.
fn api_events(rows: Vec<JsValue>) -> js_sys::Array {
    rows.into_iter().collect()
}

/// Events as a JS array.
fn to_list(
    result: Result<Vec<chronik_core::RecordedEvent>, StoreError>,
) -> Result<JsValue, JsValue> {
    out(&result.map_err(store_error)?)
}

/// A Rust value as a plain JS value, built by one `JSON.parse` of a `serde_json` string:
/// for many values that is several times cheaper than creating every field from wasm,
/// and it never fails on an integer beyond 2^53 (which becomes the nearest JS number).
fn out<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value)
        .map_err(|e| JsValue::from(js_error("Internal", &e.to_string())))?;
    js_sys::JSON::parse(&text)
}
