//! The JavaScript API: the `Chronik` class, its projections and subscriptions.
//!
//! Classes here are thin: they convert arguments (`types.rs`), call the engine in
//! `chronik-core` on the [`Backend`], and convert the results back.
//! Errors become `ChronikError`s in one place, `crate::error`.

mod aggregate;
mod backend;
mod domain_types;
mod domains;
mod projection;
mod subscription;
pub mod types;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};

use chronik_core::domains::bank::{
    AccountBalances, DailySummary, PendingTransfers, TransactionHistory,
};
use chronik_core::domains::orders::{CurrentOrders, CustomerStats, InventoryDemand, OrderHistory};
use chronik_core::domains::{Bank as CoreBank, DemoConfig, Orders as CoreOrders};
use chronik_core::{Clock, EventStore, MemoryStore, StoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

pub use aggregate::Aggregate;
pub use backend::Backend;
pub use domains::{Bank, Fulfilment, Orders};
pub use projection::Projection;
use projection::{AnyProjection, JsProjection, SharedRunner};
use subscription::{Subscriber, Subscribers};
use types::{
    AppendOptions, AppendResult, NewEvent, ReadAllOptions, ReadStreamOptions, RecordedEvent, Stats,
    SubscribeOptions,
};

use crate::error::{invalid_input, js_error, store_error};
use crate::idb::IdbStore;
use crate::platform::RandomUuids;

/// The clock every store of this API uses: `Date.now()`, unless demo data is being
/// written with its own timeline.
#[derive(Clone, Default)]
struct AppClock(Rc<Cell<Option<i64>>>);

impl Clock for AppClock {
    fn now_ms(&self) -> i64 {
        self.0.get().unwrap_or_else(|| js_sys::Date::now() as i64)
    }
}

/// The names of the projections the example domains provide.
const BUILT_IN_PROJECTIONS: [&str; 8] = [
    "AccountBalances",
    "TransactionHistory",
    "DailySummary",
    "PendingTransfers",
    "CurrentOrders",
    "OrderHistory",
    "CustomerStats",
    "InventoryDemand",
];

/// What every handle of one `Chronik` instance shares.
struct Shared {
    store: Rc<Backend>,
    clock: AppClock,
    subscribers: Subscribers,
    projections: RefCell<BTreeMap<String, Rc<dyn AnyProjection>>>,
    /// Hears appends made by other tabs (IndexedDB only); dropping it stops listening.
    remote: RefCell<Option<crate::idb::AppendListener>>,
}

impl Shared {
    /// Tells subscribers the store may have grown.
    fn changed(&self) {
        self.subscribers.notify(&self.store);
    }
}

/// An event store for JavaScript: persisted in IndexedDB (`Chronik.open`) or kept in
/// memory (`Chronik.inMemory`, also in Node).
#[wasm_bindgen]
pub struct Chronik {
    shared: Rc<Shared>,
}

impl Chronik {
    fn with_backend(backend: Backend, clock: AppClock) -> Result<Chronik, JsValue> {
        let shared = Rc::new(Shared {
            store: Rc::new(backend),
            clock,
            subscribers: Subscribers::default(),
            projections: RefCell::new(BTreeMap::new()),
            remote: RefCell::new(None),
        });
        if let Backend::Idb(store) = &*shared.store {
            let weak: Weak<Shared> = Rc::downgrade(&shared);
            let listener = store
                .on_remote_append(move |_| {
                    if let Some(shared) = weak.upgrade() {
                        shared.changed();
                    }
                })
                .map_err(store_error)?;
            *shared.remote.borrow_mut() = Some(listener);
        }
        Ok(Chronik { shared })
    }
}

#[wasm_bindgen]
impl Chronik {
    /// Opens (or creates) the IndexedDB database `name`.
    pub async fn open(name: &str) -> Result<Chronik, JsValue> {
        let clock = AppClock::default();
        let store = IdbStore::open(name, clock.clone(), RandomUuids)
            .await
            .map_err(store_error)?;
        // Ask the browser not to evict the data under storage pressure; the answer
        // (it may say no) does not change how the store works.
        wasm_bindgen_futures::spawn_local(async {
            IdbStore::request_persistence().await;
        });
        Chronik::with_backend(Backend::Idb(store), clock)
    }

    /// A store that lives in memory only, in the browser or in Node.
    #[wasm_bindgen(js_name = inMemory)]
    pub fn in_memory() -> Chronik {
        let clock = AppClock::default();
        Chronik {
            shared: Rc::new(Shared {
                store: Rc::new(Backend::Memory(MemoryStore::new(
                    clock.clone(),
                    RandomUuids,
                ))),
                clock,
                subscribers: Subscribers::default(),
                projections: RefCell::new(BTreeMap::new()),
                remote: RefCell::new(None),
            }),
        }
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
    pub async fn delete_database(name: &str) -> Result<(), JsValue> {
        IdbStore::delete_database(name).await.map_err(store_error)
    }

    /// Appends `events` to `streamId` atomically, if the stream is at
    /// `options.expectedVersion` (any version when absent).
    pub async fn append(
        &self,
        #[wasm_bindgen(js_name = streamId)] stream_id: String,
        events: Vec<Ts<NewEvent>>,
        options: Option<Ts<AppendOptions>>,
    ) -> Result<Ts<AppendResult>, JsValue> {
        let expected = rust_options(options)?
            .expected_version
            .map_or(chronik_core::ExpectedVersion::Any, Into::into);
        let events = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                e.to_rust()
                    .map(chronik_core::NewEvent::from)
                    .map_err(|err| invalid_input(format!("event {i}: {err}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let shared = Rc::clone(&self.shared);
        let result = shared
            .store
            .append(&stream_id, expected, events)
            .await
            .map_err(store_error)?;
        shared.changed();
        to_js(&AppendResult::from(result))
    }

    /// Reads one stream, oldest first unless `options.direction` is `"backward"`.
    #[wasm_bindgen(js_name = readStream, unchecked_return_type = "RecordedEvent[]")]
    pub async fn read_stream(
        &self,
        #[wasm_bindgen(js_name = streamId)] stream_id: String,
        options: Option<Ts<ReadStreamOptions>>,
    ) -> Result<js_sys::Array, JsValue> {
        let options = rust_options(options)?.to_core();
        let store = Rc::clone(&self.shared.store);
        if let Backend::Idb(idb) = &*store {
            let rows = idb.stored_stream_rows(&stream_id, options).await;
            return rows.map(api_events).map_err(store_error);
        }
        to_list(store.read_stream(&stream_id, options).await)
    }

    /// Reads the global log over every stream, in position order.
    #[wasm_bindgen(js_name = readAll, unchecked_return_type = "RecordedEvent[]")]
    pub async fn read_all(
        &self,
        options: Option<Ts<ReadAllOptions>>,
    ) -> Result<js_sys::Array, JsValue> {
        let options = rust_options(options)?.to_core();
        let store = Rc::clone(&self.shared.store);
        if let Backend::Idb(idb) = &*store {
            if options.event_types.is_none() && options.stream_prefix.is_none() {
                let rows = idb
                    .stored_log_rows(options.from_position, options.limit)
                    .await;
                return rows.map(api_events).map_err(store_error);
            }
        }
        to_list(store.read_all(options).await)
    }

    /// Calls `callback` with every new event, in position order, each once: events
    /// appended through this instance and, for IndexedDB, by other tabs. With
    /// `fromPosition`, stored events from there are delivered first. Returns a function
    /// that stops the subscription.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(
        &self,
        options: Option<Ts<SubscribeOptions>>,
        #[wasm_bindgen(unchecked_param_type = "(event: RecordedEvent) => void")]
        callback: js_sys::Function,
    ) -> Result<JsValue, JsValue> {
        let options = rust_options(options)?;
        let shared = Rc::clone(&self.shared);
        let subscriber = Rc::new(Subscriber::new(
            options.from_position,
            options.types,
            callback,
        ));
        shared.subscribers.add(Rc::clone(&subscriber));
        wasm_bindgen_futures::spawn_local(Rc::clone(&subscriber).deliver(Rc::clone(&shared.store)));
        let stop = Closure::once_into_js(move || subscriber.stop());
        Ok(stop)
    }

    /// Counts over the whole store: events, streams, snapshots, events per type and per
    /// day, and (in browsers that tell) storage used and quota.
    pub async fn stats(&self) -> Result<Ts<Stats>, JsValue> {
        let store = Rc::clone(&self.shared.store);
        let mut stats = Stats::from(store.stats().await.map_err(store_error)?);
        if let Backend::Idb(_) = &*store {
            if let Some((usage, quota)) = IdbStore::storage_estimate().await {
                stats.storage_usage = Some(usage as f64);
                stats.storage_quota = Some(quota as f64);
            }
        }
        to_js(&stats)
    }

    /// Defines a projection written in JavaScript: `apply(state, event)` returns the next
    /// state. Its checkpoint and state are saved together under `name`, so it resumes
    /// where it stopped; it catches up whenever its state is read.
    #[wasm_bindgen(js_name = defineProjection)]
    pub fn define_projection(
        &self,
        #[wasm_bindgen(unchecked_param_type = "DefineProjectionOptions")] options: js_sys::Object,
    ) -> Result<Projection, JsValue> {
        let field = |key: &str| js_sys::Reflect::get(&options, &JsValue::from_str(key));
        let name = field("name")?
            .as_string()
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| invalid_input("defineProjection needs a non-empty `name`"))?;
        let apply = field("apply")?
            .dyn_into::<js_sys::Function>()
            .map_err(|_| {
                invalid_input("defineProjection needs an `apply(state, event)` function")
            })?;
        let initial = from_js_value(field("initialState")?)
            .map_err(|e| invalid_input(format!("initialState: {e}")))?;
        let types_js = field("types")?;
        let types: Option<Vec<String>> = if types_js.is_undefined() || types_js.is_null() {
            None
        } else {
            Some(from_js_value(types_js).map_err(|e| invalid_input(format!("types: {e}")))?)
        };
        if self.shared.projections.borrow().contains_key(&name) {
            return Err(js_error(
                "InvalidInput",
                &format!("a projection named '{name}' is already defined"),
            )
            .into());
        }
        let runner: Rc<dyn AnyProjection> = Rc::new(SharedRunner::new(
            Rc::clone(&self.shared.store),
            JsProjection::new(name.clone(), types, initial, apply),
        ));
        self.shared
            .projections
            .borrow_mut()
            .insert(name, Rc::clone(&runner));
        Ok(Projection::new(runner))
    }

    /// The projection named `name`: one defined with `defineProjection`, or one of the
    /// example domains' read models (`AccountBalances`, `TransactionHistory`,
    /// `DailySummary`, `PendingTransfers`, `CurrentOrders`, `OrderHistory`,
    /// `CustomerStats`, `InventoryDemand`).
    pub fn projection(&self, name: &str) -> Result<Projection, JsValue> {
        if let Some(found) = self.shared.projections.borrow().get(name).cloned() {
            return Ok(Projection::new(found));
        }
        let Some(runner) = self.built_in_projection(name) else {
            return Err(js_error(
                "UnknownProjection",
                &format!(
                    "no projection named '{name}'; known: {}",
                    self.projection_names().join(", ")
                ),
            )
            .into());
        };
        self.shared
            .projections
            .borrow_mut()
            .insert(name.to_string(), Rc::clone(&runner));
        Ok(Projection::new(runner))
    }

    /// The names of every projection: the built-in read models and those defined here.
    #[wasm_bindgen(js_name = projectionNames)]
    pub fn projection_names(&self) -> Vec<String> {
        let mut names: Vec<String> = BUILT_IN_PROJECTIONS.iter().map(|s| s.to_string()).collect();
        for name in self.shared.projections.borrow().keys() {
            if !names.contains(name) {
                names.push(name.clone());
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
        #[wasm_bindgen(unchecked_param_type = "DefineAggregateOptions")] options: js_sys::Object,
    ) -> Result<Aggregate, JsValue> {
        let field = |key: &str| js_sys::Reflect::get(&options, &JsValue::from_str(key));
        let function = |key: &str| -> Result<js_sys::Function, JsValue> {
            field(key)?
                .dyn_into::<js_sys::Function>()
                .map_err(|_| invalid_input(format!("defineAggregate needs a `{key}` function")))
        };
        let name = field("name")?
            .as_string()
            .ok_or_else(|| invalid_input("defineAggregate needs a `name`"))?;
        let initial = from_js_value(field("initialState")?)
            .map_err(|e| invalid_input(format!("initialState: {e}")))?;
        let every = field("snapshotEvery")?;
        let snapshot_every = match every.as_f64() {
            Some(n) if n >= 0.0 && n.fract() == 0.0 => Some(n as u64),
            Some(_) => return Err(invalid_input("snapshotEvery must be a whole number")),
            None if every.is_undefined() || every.is_null() => None,
            None => return Err(invalid_input("snapshotEvery must be a number")),
        };
        let aggregate =
            aggregate::JsAggregate::new(name, initial, function("decide")?, function("evolve")?);
        Aggregate::new(Rc::clone(&self.shared), aggregate, snapshot_every)
    }

    /// The whole log as NDJSON (one stored event a line), built from pages so that no
    /// single string holds it: a `Blob` to download or upload.
    #[wasm_bindgen(js_name = exportNdjson)]
    pub async fn export_ndjson(&self) -> Result<web_sys::Blob, JsValue> {
        let parts = js_sys::Array::new();
        let store = Rc::clone(&self.shared.store);
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
        web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)
    }

    /// Streams the log as NDJSON: `onChunk` receives whole lines, a page at a time.
    /// Resolves to the number of events exported.
    #[wasm_bindgen(js_name = exportNdjsonChunks)]
    pub async fn export_ndjson_chunks(
        &self,
        #[wasm_bindgen(js_name = onChunk, unchecked_param_type = "(chunk: string) => void")]
        on_chunk: js_sys::Function,
    ) -> Result<f64, JsValue> {
        let store = Rc::clone(&self.shared.store);
        let mut thrown = None;
        let n = chronik_core::export_ndjson(
            &*store,
            chronik_core::ndjson::DEFAULT_EXPORT_PAGE,
            |chunk| {
                if thrown.is_none() {
                    if let Err(e) = on_chunk.call1(&JsValue::NULL, &JsValue::from_str(chunk)) {
                        thrown = Some(e);
                    }
                }
            },
        )
        .await
        .map_err(store_error)?;
        match thrown {
            Some(e) => Err(e),
            None => Ok(n as f64),
        }
    }

    /// Imports NDJSON written by `exportNdjson`. Every line is checked first: when any is
    /// bad, nothing is written and a `ChronikError` with code `InvalidImport` lists the bad
    /// lines (`errors: [{ line, message }]`, `errorCount`). Events keep their ids,
    /// versions, positions and times; events already present are skipped, so importing
    /// the same file again duplicates nothing and resumes an interrupted import.
    #[wasm_bindgen(js_name = importNdjson)]
    pub async fn import_ndjson(
        &self,
        text: String,
        #[wasm_bindgen(unchecked_param_type = "ImportOptions")] options: Option<js_sys::Object>,
    ) -> Result<Ts<domain_types::ImportResult>, JsValue> {
        let mut core_options = chronik_core::ImportOptions::default();
        let mut on_progress = None;
        if let Some(o) = &options {
            let keep = js_sys::Reflect::get(o, &"keepPositions".into())?;
            if let Some(keep) = keep.as_bool() {
                core_options.keep_positions = keep;
            } else if !keep.is_undefined() {
                return Err(invalid_input("keepPositions must be a boolean"));
            }
            let f = js_sys::Reflect::get(o, &"onProgress".into())?;
            if !f.is_undefined() {
                on_progress = Some(
                    f.dyn_into::<js_sys::Function>()
                        .map_err(|_| invalid_input("onProgress must be a function"))?,
                );
            }
        }
        let shared = Rc::clone(&self.shared);
        let report = chronik_core::import_ndjson(&*shared.store, &text, core_options, |p| {
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
        let result = domain_types::ImportResult::from(report);
        if result.error_count > 0 && result.imported == 0 {
            let err = js_error(
                "InvalidImport",
                &format!(
                    "{} bad line(s), nothing imported; first: line {}: {}",
                    result.error_count,
                    result.errors.first().map_or(0, |e| e.line),
                    result.errors.first().map_or("", |e| e.message.as_str()),
                ),
            );
            crate::error::set_field(&err, "errors", to_js_value(&result.errors));
            crate::error::set_field(&err, "errorCount", (result.error_count as f64).into());
            return Err(err.into());
        }
        to_js(&result)
    }

    /// Bank accounts and transfers, stored in this database.
    pub fn bank(&self) -> Bank {
        Bank::new(Rc::clone(&self.shared))
    }

    /// Orders, stored in this database.
    pub fn orders(&self) -> Orders {
        Orders::new(Rc::clone(&self.shared))
    }

    /// The fulfilment saga over simulated inventory, payment and shipping services;
    /// `faults` makes a step fail on purpose (every time, or at a seeded rate).
    pub fn fulfilment(
        &self,
        faults: Option<Ts<domain_types::FaultsInput>>,
    ) -> Result<Fulfilment, JsValue> {
        Ok(Fulfilment::new(
            Rc::clone(&self.shared),
            rust_options(faults)?,
        ))
    }

    /// Writes realistic, deterministic demo activity (accounts, transfers, orders and
    /// their sagas), the same events for the same seed, calling `onProgress(done, total)`
    /// as it goes; resolves to the number of events written.
    #[wasm_bindgen(js_name = generateDemo)]
    pub async fn generate_demo(
        &self,
        options: Ts<domain_types::DemoOptions>,
        #[wasm_bindgen(unchecked_param_type = "(done: number, total: number) => void")]
        on_progress: Option<js_sys::Function>,
    ) -> Result<f64, JsValue> {
        let options = options.to_rust().map_err(invalid_input)?;
        let shared = Rc::clone(&self.shared);
        let mut config = DemoConfig::new(options.seed.unwrap_or(1), options.events);
        // The generator moves its clock 1-40 s per batch (about 12 s per event): start so
        // that the timeline ends around now, and never more than 90 days back.
        let span_ms = (12_000 * options.events.max(1) as i64).min(90 * 86_400_000);
        config.start_ms = js_sys::Date::now() as i64 - span_ms;
        let clock = shared.clock.clone();
        let result = chronik_core::domains::write_demo(
            &*shared.store,
            config,
            (options.events / 100).max(1),
            |at| clock.0.set(Some(at)),
            |done, total| {
                if let Some(f) = &on_progress {
                    let _ = f.call2(
                        &JsValue::NULL,
                        &(done as f64).into(),
                        &(total as f64).into(),
                    );
                }
            },
        )
        .await;
        shared.clock.0.set(None);
        shared.changed();
        Ok(result.map_err(store_error)? as f64)
    }

    /// Closes the database connection (a no-op in memory). Pending subscriptions stop.
    pub fn close(self) {
        if let Ok(shared) = Rc::try_unwrap(self.shared) {
            shared.remote.borrow_mut().take();
            if let Ok(Backend::Idb(store)) = Rc::try_unwrap(shared.store) {
                store.close();
            }
        }
    }
}

/// Stored IndexedDB rows (`chronik_core::RecordedEvent` as stored) as the API's
/// `RecordedEvent`s, without decoding them into Rust: each becomes a new object with the
/// same values, `eventId` and `eventType` named `id` and `type`. Two JS calls per field, a
/// fraction of decoding the row into Rust and encoding it again.
fn api_events(rows: Vec<JsValue>) -> js_sys::Array {
    use js_sys::Reflect;
    thread_local! {
        /// (stored name, API name) of every field, in the API's order.
        static FIELDS: Vec<(JsValue, JsValue)> = [
            ("eventId", "id"),
            ("streamId", "streamId"),
            ("version", "version"),
            ("position", "position"),
            ("eventType", "type"),
            ("schemaVersion", "schemaVersion"),
            ("data", "data"),
            ("metadata", "metadata"),
            ("recordedAt", "recordedAt"),
        ]
        .into_iter()
        .map(|(from, to)| (JsValue::from_str(from), JsValue::from_str(to)))
        .collect();
    }
    const METADATA: usize = 7;
    FIELDS.with(|fields| {
        rows.iter()
            .map(|row| {
                let event = js_sys::Object::new();
                for (i, (from, to)) in fields.iter().enumerate() {
                    let value = Reflect::get(row, from).unwrap_or(JsValue::UNDEFINED);
                    // Rows written without metadata read as an empty one, as in Rust.
                    let value = if value.is_undefined() && i == METADATA {
                        js_sys::Object::new().into()
                    } else {
                        value
                    };
                    let _ = Reflect::set(&event, to, &value);
                }
                event
            })
            .collect()
    })
}

/// Events as a JS array, built by one `JSON.parse` of a `serde_json` string: for many
/// events that is several times cheaper than creating every field from wasm.
fn to_list(
    result: Result<Vec<chronik_core::RecordedEvent>, StoreError>,
) -> Result<js_sys::Array, JsValue> {
    let events: Vec<RecordedEvent> = result
        .map_err(store_error)?
        .into_iter()
        .map(RecordedEvent::from)
        .collect();
    let text = serde_json::to_string(&events)
        .map_err(|e| JsValue::from(js_error("Internal", &e.to_string())))?;
    Ok(js_sys::JSON::parse(&text)?.unchecked_into())
}

/// Reads an optional options object, defaulting every field.
fn rust_options<T>(options: Option<Ts<T>>) -> Result<T, JsValue>
where
    T: Tsify + Default + DeserializeOwned,
    T::JsType: Clone,
{
    options
        .map(|o| o.to_rust().map_err(invalid_input))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// A Rust value as a typed JS value.
fn to_js<T: Tsify + Serialize>(value: &T) -> Result<Ts<T>, JsValue> {
    Ts::from_rust(value).map_err(|e| js_error("Internal", &e.to_string()).into())
}

/// A Rust value as a plain JS value (objects, not `Map`s).
fn to_js_value<T: Serialize>(value: &T) -> JsValue {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .unwrap_or(JsValue::UNDEFINED)
}

/// A JS value as a Rust value.
fn from_js_value<T: DeserializeOwned>(value: JsValue) -> Result<T, serde_wasm_bindgen::Error> {
    serde_wasm_bindgen::from_value(value)
}

impl Chronik {
    /// A runner for one of the example domains' read models.
    fn built_in_projection(&self, name: &str) -> Option<Rc<dyn AnyProjection>> {
        let store = Rc::clone(&self.shared.store);
        let bank = CoreBank::new(Rc::clone(&store));
        let orders = CoreOrders::new(store);
        let clock = self.shared.clock.clone();
        Some(match name {
            "AccountBalances" => Rc::new(SharedRunner::from_runner(
                bank.projection(AccountBalances, clock),
            )),
            "TransactionHistory" => Rc::new(SharedRunner::from_runner(
                bank.projection(TransactionHistory, clock),
            )),
            "DailySummary" => Rc::new(SharedRunner::from_runner(
                bank.projection(DailySummary, clock),
            )),
            "PendingTransfers" => Rc::new(SharedRunner::from_runner(
                bank.projection(PendingTransfers, clock),
            )),
            "CurrentOrders" => Rc::new(SharedRunner::from_runner(
                orders.projection(CurrentOrders, clock),
            )),
            "OrderHistory" => Rc::new(SharedRunner::from_runner(
                orders.projection(OrderHistory, clock),
            )),
            "CustomerStats" => Rc::new(SharedRunner::from_runner(
                orders.projection(CustomerStats, clock),
            )),
            "InventoryDemand" => Rc::new(SharedRunner::from_runner(
                orders.projection(InventoryDemand, clock),
            )),
            _ => return None,
        })
    }
}
