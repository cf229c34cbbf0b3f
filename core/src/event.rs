//! The event envelope: what callers append and what stores return.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The metadata keys that name [`Metadata`]'s own fields in its JSON shape, so they cannot
/// be free keys of [`Metadata::extra`]: an append or import whose `extra` holds one is
/// refused.
pub const RESERVED_METADATA_KEYS: [&str; 2] = ["correlationId", "causationId"];

/// Context carried by every event: why it happened and what caused it.
///
/// Its JSON shape is flat: `{"correlationId": …, "causationId": …, "userId": …}`, the
/// free keys of `extra` beside the two named ones (which are therefore reserved, see
/// [`RESERVED_METADATA_KEYS`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// Groups every event caused, directly or not, by one original request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The id of the command or event that directly caused this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    /// Free key/values (user id, client version, ...), flattened beside the named fields
    /// in JSON; never one of [`RESERVED_METADATA_KEYS`].
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// An event to append. The store assigns its version, position and time.
///
/// Its JSON shape is the JavaScript API's: `{"id"?: …, "type": …, "schemaVersion"?: …,
/// "data": …, "metadata"?: {…}}`; unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewEvent {
    /// Caller-supplied id; when `None`, the store's [`IdSource`](crate::IdSource) makes one.
    /// Re-appending the same ids to the same stream is a no-op (exact idempotency).
    #[serde(rename = "id", default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The event's type name, such as `MoneyDeposited`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The schema version of `data`, starting at 1; upcasters lift old versions on read.
    #[serde(default = "default_schema_version")]
    pub schema_version: u32,
    /// The event's payload.
    pub data: Value,
    /// Correlation, causation and free key/values.
    #[serde(default)]
    pub metadata: Metadata,
}

fn default_schema_version() -> u32 {
    1
}

impl NewEvent {
    /// An event of `event_type` with `data`, schema version 1, no id and empty metadata.
    pub fn new(event_type: impl Into<String>, data: Value) -> Self {
        Self {
            event_id: None,
            event_type: event_type.into(),
            schema_version: 1,
            data,
            metadata: Metadata::default(),
        }
    }

    /// Sets the event id, making the append idempotent for this event.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.event_id = Some(id.into());
        self
    }

    /// Sets the schema version of `data`.
    pub fn with_schema_version(mut self, schema_version: u32) -> Self {
        self.schema_version = schema_version;
        self
    }

    /// Sets the metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

/// An event as stored: the envelope with its place in the stream and in the global log.
///
/// Its JSON shape is the one every boundary uses (the JavaScript API, NDJSON lines,
/// IndexedDB rows): `{"id", "streamId", "version", "position", "type", "schemaVersion",
/// "data", "metadata": {"correlationId"?, "causationId"?, …free keys}, "recordedAt"}`.
/// The shape before it (`eventId`, `eventType`, `metadata.extra` nested) is read by
/// [`crate::previous`] only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedEvent {
    /// Unique id of the event.
    #[serde(rename = "id")]
    pub event_id: String,
    /// The stream the event belongs to.
    pub stream_id: String,
    /// Position within the stream: 1 for the first event, contiguous.
    pub version: u64,
    /// Position in the global log over all streams: 1-based, gapless, a total order.
    pub position: u64,
    /// The event's type name.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Schema version of `data` (after upcasting, when read through an upcaster).
    pub schema_version: u32,
    /// The event's payload.
    pub data: Value,
    /// Correlation, causation and free key/values.
    #[serde(default)]
    pub metadata: Metadata,
    /// When the store recorded the event, in ms since the Unix epoch (injected clock).
    pub recorded_at: i64,
}

/// The version a stream must be at for an append to succeed (optimistic concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ExpectedVersion {
    /// No check: append whatever the stream's version.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must exist, at any version.
    StreamExists,
    /// The stream must be exactly at this version (its last event has this version).
    Exact(u64),
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::StreamExists => f.write_str("stream exists"),
            ExpectedVersion::Exact(v) => write!(f, "{v}"),
        }
    }
}

impl ExpectedVersion {
    /// Whether a stream at `actual` (`None`: it does not exist) satisfies this expectation.
    pub fn is_satisfied_by(self, actual: Option<u64>) -> bool {
        match (self, actual) {
            (ExpectedVersion::Any, _) => true,
            (ExpectedVersion::NoStream, None) => true,
            (ExpectedVersion::NoStream, Some(_)) => false,
            (ExpectedVersion::StreamExists, actual) => actual.is_some(),
            (ExpectedVersion::Exact(v), actual) => actual.unwrap_or(0) == v,
        }
    }

    /// As the HTTP API (and the JS API) write it: a number, or `"any"`, `"noStream"`,
    /// `"streamExists"`.
    pub fn to_json(self) -> Value {
        match self {
            ExpectedVersion::Any => Value::from("any"),
            ExpectedVersion::NoStream => Value::from("noStream"),
            ExpectedVersion::StreamExists => Value::from("streamExists"),
            ExpectedVersion::Exact(v) => Value::from(v),
        }
    }

    /// Reads what [`to_json`](Self::to_json) writes; `None` for anything else.
    pub fn from_json(value: &Value) -> Option<Self> {
        match value {
            Value::String(s) if s == "any" => Some(ExpectedVersion::Any),
            Value::String(s) if s == "noStream" => Some(ExpectedVersion::NoStream),
            Value::String(s) if s == "streamExists" => Some(ExpectedVersion::StreamExists),
            other => other.as_u64().map(ExpectedVersion::Exact),
        }
    }
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

impl AppendResult {
    /// Where `written`, the events of one append in order, landed; `None` when empty.
    pub fn of(written: &[RecordedEvent]) -> Option<AppendResult> {
        let (first, last) = (written.first()?, written.last()?);
        Some(AppendResult {
            first_version: first.version,
            last_version: last.version,
            first_position: first.position,
            last_position: last.position,
        })
    }
}
