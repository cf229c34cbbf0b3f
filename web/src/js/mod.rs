//! The JavaScript API: the `Chronik` class, its projections and subscriptions.
//!
//! Classes here are thin: they convert arguments (`types.rs`), call the engine in
//! `chronik-core` on the [`Backend`](backend::Backend), and convert the results back.
//! Errors become `ChronikError`s in one place, `crate::error`.

mod backend;
mod projection;
mod subscription;
pub mod types;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use chronik_core::{EventStore, MemoryStore, StoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

pub use backend::Backend;
pub use projection::Projection;
use projection::{js_projection, AnyProjection, SharedRunner};
use subscription::{Subscriber, Subscribers};
use types::{
    AppendOptions, AppendResult, NewEvent, ReadAllOptions, ReadStreamOptions, RecordedEvent, Stats,
    SubscribeOptions,
};

use crate::error::{invalid_input, js_error, store_error};
use crate::idb::IdbStore;
use crate::platform::{JsClock, RandomUuids};

/// What every handle of one `Chronik` instance shares.
struct Shared {
    store: Rc<Backend>,
    subscribers: Subscribers,
    projections: RefCell<BTreeMap<String, Rc<dyn AnyProjection>>>,
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
    fn with_backend(backend: Backend) -> Chronik {
        Chronik {
            shared: Rc::new(Shared {
                store: Rc::new(backend),
                subscribers: Subscribers::default(),
                projections: RefCell::new(BTreeMap::new()),
            }),
        }
    }
}

#[wasm_bindgen]
impl Chronik {
    /// Opens (or creates) the IndexedDB database `name`.
    pub async fn open(name: &str) -> Result<Chronik, JsValue> {
        let store = IdbStore::open(name, JsClock, RandomUuids)
            .await
            .map_err(store_error)?;
        Ok(Chronik::with_backend(Backend::Idb(store)))
    }

    /// A store that lives in memory only, in the browser or in Node.
    #[wasm_bindgen(js_name = inMemory)]
    pub fn in_memory() -> Chronik {
        Chronik::with_backend(Backend::Memory(MemoryStore::new(JsClock, RandomUuids)))
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
    #[wasm_bindgen(js_name = readStream)]
    pub async fn read_stream(
        &self,
        #[wasm_bindgen(js_name = streamId)] stream_id: String,
        options: Option<Ts<ReadStreamOptions>>,
    ) -> Result<Vec<Ts<RecordedEvent>>, JsValue> {
        let options = rust_options(options)?.to_core();
        let store = Rc::clone(&self.shared.store);
        to_list(store.read_stream(&stream_id, options).await)
    }

    /// Reads the global log over every stream, in position order.
    #[wasm_bindgen(js_name = readAll)]
    pub async fn read_all(
        &self,
        options: Option<Ts<ReadAllOptions>>,
    ) -> Result<Vec<Ts<RecordedEvent>>, JsValue> {
        let options = rust_options(options)?.to_core();
        let store = Rc::clone(&self.shared.store);
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
        let stats = store.stats().await.map_err(store_error)?;
        to_js(&Stats::from(stats))
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
            js_projection(name.clone(), types, initial, apply),
        ));
        self.shared
            .projections
            .borrow_mut()
            .insert(name, Rc::clone(&runner));
        Ok(Projection::new(runner))
    }

    /// The projection defined under `name`.
    pub fn projection(&self, name: &str) -> Result<Projection, JsValue> {
        let found = self.shared.projections.borrow().get(name).cloned();
        found.map(Projection::new).ok_or_else(|| {
            let known: Vec<String> = self.shared.projections.borrow().keys().cloned().collect();
            js_error(
                "UnknownProjection",
                &format!(
                    "no projection named '{name}'; defined: {}",
                    known.join(", ")
                ),
            )
            .into()
        })
    }

    /// Closes the database connection (a no-op in memory). Pending subscriptions stop.
    pub fn close(self) {
        if let Ok(shared) = Rc::try_unwrap(self.shared) {
            if let Ok(Backend::Idb(store)) = Rc::try_unwrap(shared.store) {
                store.close();
            }
        }
    }
}

fn to_list(
    result: Result<Vec<chronik_core::RecordedEvent>, StoreError>,
) -> Result<Vec<Ts<RecordedEvent>>, JsValue> {
    result
        .map_err(store_error)?
        .into_iter()
        .map(|e| to_js(&RecordedEvent::from(e)))
        .collect()
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
