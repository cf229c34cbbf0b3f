//! The plain objects the JavaScript API takes and returns.
//!
//! Every type here derives `tsify`, so the generated `.d.ts` is precise; nothing is
//! hand-written TypeScript except the `JsonValue` alias.

use std::collections::BTreeMap;

use chronik_core::Direction;
use serde::{Deserialize, Serialize};
use tsify::Tsify;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const JSON_VALUE: &str = r#"
/** Any value that survives `JSON.stringify` / `JSON.parse`. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** What `defineProjection` takes: a name, the event types it reads, and a reducer. */
export interface DefineProjectionOptions<S extends JsonValue = JsonValue> {
    /** Unique name; its checkpoint and state are saved under it. */
    name: string;
    /** Only these event types reach `apply` (all types when absent). */
    types?: string[];
    /** The state before any event. */
    initialState: S;
    /** The next state after `event`. Must be pure; a throw marks the projection failed. */
    apply(state: S, event: RecordedEvent): S;
}

/** What `defineAggregate` takes: JSON state, and pure `decide` and `evolve`. */
export interface DefineAggregateOptions<S extends JsonValue = JsonValue, C extends JsonValue = JsonValue> {
    /** The stream category: aggregate `id` lives in stream `<name>-<id>` (no `-` in it). */
    name: string;
    /** The state before any event. */
    initialState: S;
    /** The events `command` causes in `state`; throw to refuse (nothing is written). */
    decide(state: S, command: C): { type: string; data?: JsonValue; schemaVersion?: number; metadata?: Record<string, JsonValue> }[];
    /** The state after `event`. */
    evolve(state: S, event: RecordedEvent): S;
    /** Save a snapshot every this many events (default 10; 0: never). */
    snapshotEvery?: number;
}

/** What `importNdjson` takes. */
export interface ImportOptions {
    /** Keep every event's global position (default true; needs the store's head just
     * before the file's first new event, as in an empty store). With false, events go
     * after the head with new positions, keeping ids and versions. */
    keepPositions?: boolean;
    /** Called as lines are processed. */
    onProgress?: (done: number, total: number) => void;
}

/** What `Projection.rebuild` takes. */
export interface RebuildOptions {
    /** Called after every page of events with how far the rebuild has come. */
    onProgress?: (progress: RebuildProgress) => void;
}
"#;

// The event types below exist for their TypeScript declarations only: values cross as
// `chronik_core`'s own `Metadata`, `NewEvent` and `RecordedEvent`, whose serde shape is
// the API's (one JSON shape of an event everywhere). Each mirror has exactly the serde
// shape of its core type, which `tests` below proves by round trips.

/// Context stored with an event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Tsify)]
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
    /// Any other keys (`userId`, `clientVersion`, ...), kept as given; never
    /// `correlationId` or `causationId` (an append refuses them).
    #[serde(flatten)]
    #[tsify(type = "Record<string, JsonValue>")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// An event to append.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[tsify(hashmap_as_object)]
pub struct NewEvent {
    /// The event's type, such as `"Deposited"`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payload.
    #[tsify(type = "JsonValue")]
    pub data: serde_json::Value,
    /// An id that makes the append idempotent; generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub id: Option<String>,
    /// Schema version of `data` (default 1).
    #[serde(default = "first_schema_version")]
    #[tsify(optional)]
    pub schema_version: u32,
    /// Correlation, causation and free key/values.
    #[serde(default)]
    #[tsify(optional)]
    pub metadata: EventMetadata,
}

fn first_schema_version() -> u32 {
    1
}

/// A stored event as JavaScript sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Tsify)]
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
    // Always written, so declared required: without `#[serde(default)]` (which would make
    // it optional in TypeScript), the one difference from core, which also reads an
    // event without `metadata` (an NDJSON line may leave it out).
    pub metadata: EventMetadata,
    /// When it was recorded, in ms since the Unix epoch.
    pub recorded_at: i64,
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
#[derive(Debug, Clone, Copy, Serialize, Tsify)]
#[serde(untagged)]
pub enum ExpectedVersion {
    /// The stream's last event must have exactly this version (0: the stream is empty).
    Exact(u64),
    /// A named expectation.
    Named(NamedVersion),
}

impl<'de> Deserialize<'de> for ExpectedVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        match &value {
            serde_json::Value::Number(n) => {
                if let Some(v) = n.as_u64() {
                    return Ok(ExpectedVersion::Exact(v));
                }
            }
            serde_json::Value::String(s) => match s.as_str() {
                "any" => return Ok(ExpectedVersion::Named(NamedVersion::Any)),
                "noStream" => return Ok(ExpectedVersion::Named(NamedVersion::NoStream)),
                "streamExists" => return Ok(ExpectedVersion::Named(NamedVersion::StreamExists)),
                _ => {}
            },
            _ => {}
        }
        Err(serde::de::Error::custom(format!(
            "expected a version (a whole number, 0 or more) or \"any\", \"noStream\" or \"streamExists\", not {value}"
        )))
    }
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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReadStreamOptions {
    /// First version to return (inclusive).
    #[serde(default)]
    #[tsify(optional)]
    pub from_version: Option<u64>,
    /// At most this many events.
    #[serde(default)]
    #[tsify(optional)]
    pub limit: Option<u64>,
    /// Read direction, `"forward"` by default.
    #[serde(default)]
    #[tsify(optional)]
    pub direction: Option<ReadDirection>,
}

/// Options for `readAll`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReadAllOptions {
    /// First global position to return (inclusive).
    #[serde(default)]
    #[tsify(optional)]
    pub from_position: Option<u64>,
    /// At most this many events.
    #[serde(default)]
    #[tsify(optional)]
    pub limit: Option<u64>,
    /// Only these event types.
    #[serde(default)]
    #[tsify(optional)]
    pub types: Option<Vec<String>>,
    /// Only streams whose id starts with this.
    #[serde(default)]
    #[tsify(optional)]
    pub stream_prefix: Option<String>,
}

impl ReadStreamOptions {
    /// The core read options.
    pub fn to_core(&self) -> chronik_core::ReadStreamOptions {
        chronik_core::ReadStreamOptions {
            from_version: self.from_version,
            limit: self.limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            direction: match self.direction.unwrap_or_default() {
                ReadDirection::Forward => Direction::Forward,
                ReadDirection::Backward => Direction::Backward,
            },
        }
    }
}

impl ReadAllOptions {
    /// The core read options.
    pub fn to_core(&self) -> chronik_core::ReadAllOptions {
        chronik_core::ReadAllOptions {
            from_position: self.from_position.unwrap_or(1),
            limit: self.limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            event_types: self.types.clone(),
            stream_prefix: self.stream_prefix.clone(),
        }
    }
}

/// Options for `subscribe`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscribeOptions {
    /// Deliver events from this global position on (replaying stored ones first); by
    /// default only events appended after subscribing.
    #[serde(default)]
    #[tsify(optional)]
    pub from_position: Option<u64>,
    /// Only these event types.
    #[serde(default)]
    #[tsify(optional)]
    pub types: Option<Vec<String>>,
}

/// Counts over the whole store.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
#[tsify(hashmap_as_object)]
pub struct Stats {
    /// Number of events.
    pub event_count: u64,
    /// Number of streams.
    pub stream_count: u64,
    /// Number of snapshots.
    pub snapshot_count: u64,
    /// Events per event type.
    pub events_by_type: BTreeMap<String, u64>,
    /// Events per UTC day (`YYYY-MM-DD`).
    pub events_by_day: BTreeMap<String, u64>,
    /// Streams per stream type (the id up to the first `-`).
    pub streams_by_type: BTreeMap<String, u64>,
    /// Bytes used by this origin's storage, when the browser tells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub storage_usage: Option<f64>,
    /// Bytes this origin may use, when the browser tells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub storage_quota: Option<f64>,
}

impl From<chronik_core::StoreStats> for Stats {
    fn from(s: chronik_core::StoreStats) -> Self {
        Stats {
            event_count: s.event_count,
            stream_count: s.stream_count,
            snapshot_count: s.snapshot_count,
            events_by_type: s.events_by_type,
            events_by_day: s.events_by_day,
            streams_by_type: s.streams_by_type,
            storage_usage: None,
            storage_quota: None,
        }
    }
}

/// How far a rebuild has come.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct RebuildProgress {
    /// Global position processed so far.
    pub position: u64,
    /// Head of the log when the rebuild started.
    pub head: u64,
}

/// Where a projection stands.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct ProjectionInfo {
    /// The projection's name.
    pub name: String,
    /// `"catchingUp"`, `"caughtUp"`, `"rebuilding"` or `"failed"`.
    pub status: ProjectionState,
    /// Global position of the last event processed (the checkpoint).
    pub position: u64,
    /// Events in the log after the checkpoint.
    pub lag: u64,
    /// When failed: the position of the event that could not be applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub failed_at: Option<u64>,
    /// When failed: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub error: Option<String>,
}

/// A projection's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub enum ProjectionState {
    /// Events past the checkpoint remain.
    CatchingUp,
    /// At the head of the log.
    CaughtUp,
    /// Rebuilding from the start.
    Rebuilding,
    /// Stopped at an event it could not apply; see `failedAt` and `error`.
    Failed,
}

/// Options for `state(id, options)`: the state as of a version or a time.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StateOptions {
    /// The state after this version of the stream.
    #[serde(default)]
    #[tsify(optional)]
    pub at_version: Option<u64>,
    /// The state as of this time (ms since the epoch).
    #[serde(default)]
    #[tsify(optional)]
    pub at_time: Option<i64>,
}

/// Context recorded with a command's events.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommandOptions {
    /// The command's id: events get ids derived from it, so executing the same command
    /// twice writes once. It is also each event's causation id.
    #[serde(default)]
    #[tsify(optional)]
    pub command_id: Option<String>,
    /// Groups the events of one user request (defaults to the command id).
    #[serde(default)]
    #[tsify(optional)]
    pub correlation_id: Option<String>,
}

impl CommandOptions {
    /// The engine's command context.
    pub fn context(&self) -> chronik_core::CommandContext {
        let mut ctx = match &self.command_id {
            Some(id) => chronik_core::CommandContext::new(id.clone()),
            None => chronik_core::CommandContext::default(),
        };
        if let Some(c) = &self.correlation_id {
            ctx = ctx.correlated_with(c.clone());
        }
        ctx
    }
}

/// A bad line of an import.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct ImportLineError {
    /// Its line number, from 1.
    pub line: u64,
    /// What is wrong with it.
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct ImportResult {
    /// Lines read.
    pub lines: u64,
    /// Events written.
    pub imported: u64,
    /// Events already present, skipped.
    pub skipped: u64,
    /// The bad lines (the first hundred).
    pub errors: Vec<ImportLineError>,
    /// How many lines were bad in all.
    pub error_count: u64,
}

impl From<chronik_core::ImportReport> for ImportResult {
    fn from(r: chronik_core::ImportReport) -> Self {
        ImportResult {
            lines: r.lines,
            imported: r.imported,
            skipped: r.skipped,
            errors: r
                .errors
                .into_iter()
                .map(|e| ImportLineError {
                    line: e.line,
                    message: e.message,
                })
                .collect(),
            error_count: r.error_count,
        }
    }
}

#[cfg(test)]
mod tests {
    //! The declaration-only mirrors have their core type's serde shape: a core value
    //! serialized decodes into the mirror, which serializes to the same JSON, which decodes
    //! back into the same core value.

    use serde::de::DeserializeOwned;
    use serde_json::{json, Value};

    use super::*;

    fn same_shape<Core, Mirror>(core: &Core)
    where
        Core: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
        Mirror: Serialize + DeserializeOwned,
    {
        let text = serde_json::to_string(core).unwrap();
        let mirror: Mirror = serde_json::from_str(&text).unwrap();
        let again = serde_json::to_string(&mirror).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&again).unwrap(),
            serde_json::from_str::<Value>(&text).unwrap(),
            "the mirror writes what the core type wrote"
        );
        assert_eq!(&serde_json::from_str::<Core>(&again).unwrap(), core);
    }

    fn metadata() -> chronik_core::Metadata {
        chronik_core::Metadata {
            correlation_id: Some("c-1".into()),
            causation_id: Some("cmd-1".into()),
            extra: [
                ("userId".to_string(), json!(7)),
                ("extra".to_string(), json!({ "nested": [1, 2.5, null] })),
            ]
            .into_iter()
            .collect(),
        }
    }

    #[test]
    fn recorded_events_have_the_mirror_shape() {
        let event = chronik_core::RecordedEvent {
            event_id: "e-1".into(),
            stream_id: "account-1".into(),
            version: 3,
            position: 9,
            event_type: "Deposited".into(),
            schema_version: 2,
            data: json!({ "cents": 150, "list": [1, "x", { "a": null }] }),
            metadata: metadata(),
            recorded_at: 1_700_000_000_000,
        };
        same_shape::<chronik_core::RecordedEvent, RecordedEvent>(&event);
        same_shape::<chronik_core::RecordedEvent, RecordedEvent>(&chronik_core::RecordedEvent {
            metadata: chronik_core::Metadata::default(),
            ..event.clone()
        });
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["id"], json!("e-1"));
        assert_eq!(json["type"], json!("Deposited"));
        assert_eq!(json["metadata"]["userId"], json!(7));
        let mirror: RecordedEvent = serde_json::from_value(json).unwrap();
        assert_eq!(mirror.metadata.extra.len(), 2);
    }

    #[test]
    fn new_events_and_metadata_have_the_mirror_shape() {
        let full = chronik_core::NewEvent::new("Deposited", json!({ "cents": 1 }))
            .with_id("e-1")
            .with_schema_version(3)
            .with_metadata(metadata());
        same_shape::<chronik_core::NewEvent, NewEvent>(&full);
        same_shape::<chronik_core::NewEvent, NewEvent>(&chronik_core::NewEvent::new(
            "Noted",
            json!(null),
        ));
        same_shape::<chronik_core::Metadata, EventMetadata>(&metadata());
        same_shape::<chronik_core::Metadata, EventMetadata>(&chronik_core::Metadata::default());

        // The minimal input, and what both refuse, agree too.
        let minimal = json!({ "type": "T", "data": 1 });
        let core: chronik_core::NewEvent = serde_json::from_value(minimal.clone()).unwrap();
        let mirror: NewEvent = serde_json::from_value(minimal).unwrap();
        assert_eq!((core.schema_version, mirror.schema_version), (1, 1));
        assert_eq!(core.event_id, mirror.id);
        for refused in [
            json!({ "type": "T", "data": 1, "extra": 1 }),
            json!({ "eventType": "T", "data": 1 }),
            json!({ "type": "T", "data": 1, "metadata": 5 }),
        ] {
            assert!(serde_json::from_value::<chronik_core::NewEvent>(refused.clone()).is_err());
            assert!(serde_json::from_value::<NewEvent>(refused).is_err());
        }
    }
}
