//! The JavaScript API: the `Chronik` class and the plain objects it takes and returns.
//!
//! Types crossing the boundary are derived with `tsify`, so the generated `.d.ts` is
//! precise; nothing here is hand-written TypeScript except the `JsonValue` alias.

use std::collections::BTreeMap;
use std::rc::Rc;

use chronik_core::{Direction, EventStore, MemoryStore, Metadata, StoreError};
use serde::{Deserialize, Serialize};
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

use crate::error::{invalid_input, store_error};
use crate::idb::IdbStore;
use crate::platform::{JsClock, RandomUuids};

#[wasm_bindgen(typescript_custom_section)]
const JSON_VALUE: &str = r#"
/** Any value that survives `JSON.stringify` / `JSON.parse`. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
"#;

/// Context stored with an event.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
#[tsify(hashmap_as_object)]
pub struct EventMetadata {
    /// Groups every event caused by one original request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub correlation_id: Option<String>,
    /// The id of the command or event that caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub causation_id: Option<String>,
    /// Free key/values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[tsify(optional, type = "Record<string, JsonValue>")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl From<EventMetadata> for Metadata {
    fn from(m: EventMetadata) -> Self {
        Metadata {
            correlation_id: m.correlation_id,
            causation_id: m.causation_id,
            extra: m.extra,
        }
    }
}

impl From<Metadata> for EventMetadata {
    fn from(m: Metadata) -> Self {
        EventMetadata {
            correlation_id: m.correlation_id,
            causation_id: m.causation_id,
            extra: m.extra,
        }
    }
}

/// An event to append.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
#[tsify(hashmap_as_object)]
pub struct NewEvent {
    /// The event's type, such as `"Deposited"`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payload.
    #[tsify(type = "JsonValue")]
    pub data: serde_json::Value,
    /// An id that makes the append idempotent; generated when absent.
    #[serde(default)]
    #[tsify(optional)]
    pub id: Option<String>,
    /// Schema version of `data` (default 1).
    #[serde(default)]
    #[tsify(optional)]
    pub schema_version: Option<u32>,
    /// Correlation, causation and free key/values.
    #[serde(default)]
    #[tsify(optional)]
    pub metadata: Option<EventMetadata>,
}

impl From<NewEvent> for chronik_core::NewEvent {
    fn from(e: NewEvent) -> Self {
        chronik_core::NewEvent {
            event_id: e.id,
            event_type: e.event_type,
            schema_version: e.schema_version.unwrap_or(1),
            data: e.data,
            metadata: e.metadata.map(Into::into).unwrap_or_default(),
        }
    }
}

/// A stored event as JavaScript sees it.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
#[tsify(hashmap_as_object)]
pub struct RecordedEvent {
    /// Unique id.
    pub id: String,
    /// The stream it belongs to.
    pub stream_id: String,
    /// 1-based, contiguous position in its stream.
    pub version: u64,
    /// 1-based, gapless position in the global log.
    pub position: u64,
    /// The event's type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Schema version of `data`.
    pub schema_version: u32,
    /// The payload.
    #[tsify(type = "JsonValue")]
    pub data: serde_json::Value,
    /// Correlation, causation and free key/values.
    pub metadata: EventMetadata,
    /// When it was recorded, in ms since the Unix epoch.
    pub recorded_at: i64,
}

impl From<chronik_core::RecordedEvent> for RecordedEvent {
    fn from(e: chronik_core::RecordedEvent) -> Self {
        RecordedEvent {
            id: e.event_id,
            stream_id: e.stream_id,
            version: e.version,
            position: e.position,
            event_type: e.event_type,
            schema_version: e.schema_version,
            data: e.data,
            metadata: e.metadata.into(),
            recorded_at: e.recorded_at,
        }
    }
}

/// `"any"`, `"noStream"` or `"streamExists"`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub enum NamedVersion {
    /// No check.
    Any,
    /// The stream must not exist.
    NoStream,
    /// The stream must exist.
    StreamExists,
}

/// The version a stream must be at: an exact version number or a named expectation.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Tsify)]
#[serde(untagged)]
pub enum ExpectedVersion {
    /// The stream's last event must have exactly this version (0: the stream is empty).
    Exact(u64),
    /// A named expectation.
    Named(NamedVersion),
}

impl From<ExpectedVersion> for chronik_core::ExpectedVersion {
    fn from(v: ExpectedVersion) -> Self {
        match v {
            ExpectedVersion::Exact(v) => chronik_core::ExpectedVersion::Exact(v),
            ExpectedVersion::Named(NamedVersion::Any) => chronik_core::ExpectedVersion::Any,
            ExpectedVersion::Named(NamedVersion::NoStream) => {
                chronik_core::ExpectedVersion::NoStream
            }
            ExpectedVersion::Named(NamedVersion::StreamExists) => {
                chronik_core::ExpectedVersion::StreamExists
            }
        }
    }
}

/// Options for `append`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct AppendOptions {
    /// Optimistic concurrency check; `"any"` when absent.
    #[serde(default)]
    #[tsify(optional)]
    pub expected_version: Option<ExpectedVersion>,
}

/// Where an append landed.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct AppendResult {
    /// Version of the first appended event.
    pub first_version: u64,
    /// Version of the last appended event: the stream's new version.
    pub last_version: u64,
    /// Global position of the first appended event.
    pub first_position: u64,
    /// Global position of the last appended event.
    pub last_position: u64,
}

impl From<chronik_core::AppendResult> for AppendResult {
    fn from(r: chronik_core::AppendResult) -> Self {
        AppendResult {
            first_version: r.first_version,
            last_version: r.last_version,
            first_position: r.first_position,
            last_position: r.last_position,
        }
    }
}

/// `"forward"` (oldest first) or `"backward"` (newest first).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub enum ReadDirection {
    /// Oldest first.
    #[default]
    Forward,
    /// Newest first.
    Backward,
}

/// Options for `readStream`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct ReadStreamOptions {
    /// First version to return (inclusive).
    #[serde(default)]
    #[tsify(optional)]
    pub from_version: Option<u64>,
    /// At most this many events.
    #[serde(default)]
    #[tsify(optional)]
    pub limit: Option<usize>,
    /// Read direction, `"forward"` by default.
    #[serde(default)]
    #[tsify(optional)]
    pub direction: Option<ReadDirection>,
}

/// Options for `readAll`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct ReadAllOptions {
    /// First global position to return (inclusive).
    #[serde(default)]
    #[tsify(optional)]
    pub from_position: Option<u64>,
    /// At most this many events.
    #[serde(default)]
    #[tsify(optional)]
    pub limit: Option<usize>,
    /// Only these event types.
    #[serde(default)]
    #[tsify(optional)]
    pub types: Option<Vec<String>>,
    /// Only streams whose id starts with this.
    #[serde(default)]
    #[tsify(optional)]
    pub stream_prefix: Option<String>,
}

/// The storage behind a [`Chronik`] instance.
enum Backend {
    Memory(MemoryStore),
    Idb(IdbStore),
}

/// Calls the same [`EventStore`] method on whichever backend is in use.
macro_rules! dispatch {
    ($self:expr, $store:ident => $call:expr) => {
        match &*$self {
            Backend::Memory($store) => $call.await,
            Backend::Idb($store) => $call.await,
        }
    };
}

/// An event store for JavaScript: persisted in IndexedDB (`Chronik.open`) or in memory
/// (`Chronik.inMemory`, also in Node).
#[wasm_bindgen]
pub struct Chronik {
    backend: Rc<Backend>,
}

#[wasm_bindgen]
impl Chronik {
    /// Opens (or creates) the IndexedDB database `name`.
    pub async fn open(name: &str) -> Result<Chronik, JsValue> {
        let store = IdbStore::open(name, JsClock, RandomUuids)
            .await
            .map_err(store_error)?;
        Ok(Chronik {
            backend: Rc::new(Backend::Idb(store)),
        })
    }

    /// A store that lives in memory only, in the browser or in Node.
    #[wasm_bindgen(js_name = inMemory)]
    pub fn in_memory() -> Chronik {
        Chronik {
            backend: Rc::new(Backend::Memory(MemoryStore::new(JsClock, RandomUuids))),
        }
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
        let backend = self.backend.clone();
        let result = dispatch!(backend, s => s.append(&stream_id, expected, events));
        to_js(&AppendResult::from(result.map_err(store_error)?))
    }

    /// Reads one stream, oldest first unless `options.direction` is `"backward"`.
    #[wasm_bindgen(js_name = readStream)]
    pub async fn read_stream(
        &self,
        #[wasm_bindgen(js_name = streamId)] stream_id: String,
        options: Option<Ts<ReadStreamOptions>>,
    ) -> Result<Vec<Ts<RecordedEvent>>, JsValue> {
        let options = rust_options(options)?;
        let options = chronik_core::ReadStreamOptions {
            from_version: options.from_version,
            limit: options.limit,
            direction: match options.direction.unwrap_or_default() {
                ReadDirection::Forward => Direction::Forward,
                ReadDirection::Backward => Direction::Backward,
            },
        };
        let backend = self.backend.clone();
        let result = dispatch!(backend, s => s.read_stream(&stream_id, options));
        to_list(result)
    }

    /// Reads the global log over every stream, in position order.
    #[wasm_bindgen(js_name = readAll)]
    pub async fn read_all(
        &self,
        options: Option<Ts<ReadAllOptions>>,
    ) -> Result<Vec<Ts<RecordedEvent>>, JsValue> {
        let options = rust_options(options)?;
        let options = chronik_core::ReadAllOptions {
            from_position: options.from_position.unwrap_or(1),
            limit: options.limit,
            event_types: options.types,
            stream_prefix: options.stream_prefix,
        };
        let backend = self.backend.clone();
        let result = dispatch!(backend, s => s.read_all(options));
        to_list(result)
    }

    /// Closes the database connection (a no-op in memory).
    pub fn close(self) {
        if let Ok(Backend::Idb(store)) = Rc::try_unwrap(self.backend) {
            store.close();
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
    T: Tsify + Default + serde::de::DeserializeOwned,
    T::JsType: Clone,
{
    options
        .map(|o| o.to_rust().map_err(invalid_input))
        .transpose()
        .map(Option::unwrap_or_default)
}

fn to_js<T: Tsify + Serialize>(value: &T) -> Result<Ts<T>, JsValue> {
    Ts::from_rust(value).map_err(|e| crate::error::js_error("Internal", &e.to_string()).into())
}
