//! The event shape before the one shape: `eventId`, `eventType`, and metadata with its
//! free keys nested under `extra` (`{"correlationId"?, "causationId"?, "extra": {…}}`).
//!
//! chronik wrote it to IndexedDB rows (schema version 2 and before), to PostgreSQL's
//! `metadata` column (schema version 1) and to NDJSON exports. Nothing writes it any more;
//! this module reads it, once, for the NDJSON import (which takes either shape, decided
//! per line by [`event_shape`]) and for the IndexedDB and PostgreSQL migrations
//! ([`migrate_event_json`], [`migrate_metadata_json`]), so that all three convert the
//! same way and refuse the same events: one whose free metadata keys hold a reserved key
//! ([`RESERVED_METADATA_KEYS`](crate::event::RESERVED_METADATA_KEYS)), which the flat
//! shape could not tell apart from the named field.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::event::{Metadata, RecordedEvent};
use crate::limits::{check_metadata_key, LimitError};

/// The fields that only the current shape has.
const CURRENT_KEYS: [&str; 2] = ["id", "type"];
/// The fields that only the previous shape has.
const PREVIOUS_KEYS: [&str; 2] = ["eventId", "eventType"];

/// Which shape an event object has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventShape {
    /// `id`, `type`, flat metadata: [`RecordedEvent`]'s serde shape.
    Current,
    /// `eventId`, `eventType`, metadata with `extra` nested: [`PreviousRecordedEvent`].
    Previous,
}

impl EventShape {
    /// The names of the id and type fields in this shape.
    pub fn id_and_type(self) -> (&'static str, &'static str) {
        match self {
            EventShape::Current => ("id", "type"),
            EventShape::Previous => ("eventId", "eventType"),
        }
    }
}

/// The shape of an event object, by the keys it has: `eventId` or `eventType` make it the
/// previous shape, `id` or `type` the current one (also when it has none of the four:
/// its errors then name the current fields). `Err` (the message) when it has keys of both.
pub fn event_shape(object: &Map<String, Value>) -> Result<EventShape, String> {
    let present = |keys: [&'static str; 2]| -> Vec<&'static str> {
        keys.into_iter()
            .filter(|k| object.contains_key(*k))
            .collect()
    };
    let (current, previous) = (present(CURRENT_KEYS), present(PREVIOUS_KEYS));
    match (current.is_empty(), previous.is_empty()) {
        (_, true) => Ok(EventShape::Current),
        (true, false) => Ok(EventShape::Previous),
        (false, false) => Err(format!(
            "mixes the current event shape ({}) with the previous one ({}); an event has \
             either id and type or eventId and eventType",
            current.join(", "),
            previous.join(", ")
        )),
    }
}

/// Metadata in the previous shape: free keys nested under `extra`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviousMetadata {
    /// The correlation id.
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// The causation id.
    #[serde(default)]
    pub causation_id: Option<String>,
    /// The free keys.
    #[serde(default)]
    pub extra: BTreeMap<String, Value>,
}

impl From<PreviousMetadata> for Metadata {
    /// The same metadata in the current shape. Its `extra` may hold a reserved key, which
    /// the stores and the import refuse ([`check_reserved`]).
    fn from(m: PreviousMetadata) -> Self {
        Metadata {
            correlation_id: m.correlation_id,
            causation_id: m.causation_id,
            extra: m.extra,
        }
    }
}

/// A recorded event in the previous shape.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviousRecordedEvent {
    /// The event's id.
    pub event_id: String,
    /// Its stream.
    pub stream_id: String,
    /// Its version in the stream.
    pub version: u64,
    /// Its position in the log.
    pub position: u64,
    /// Its type name.
    pub event_type: String,
    /// The schema version of `data`.
    pub schema_version: u32,
    /// The payload.
    pub data: Value,
    /// Correlation, causation and the nested free keys.
    #[serde(default)]
    pub metadata: PreviousMetadata,
    /// When it was recorded (ms since the Unix epoch).
    pub recorded_at: i64,
}

impl From<PreviousRecordedEvent> for RecordedEvent {
    /// The same event in the current shape (see [`Metadata`'s conversion](PreviousMetadata)).
    fn from(e: PreviousRecordedEvent) -> Self {
        RecordedEvent {
            event_id: e.event_id,
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

/// Why a stored event cannot take the current shape. A migration that meets one changes
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrateError {
    /// A free metadata key is reserved in the current shape.
    #[error("event '{event_id}' cannot take the current event shape: {reason}; nothing was migrated (open the database with the chronik release that wrote it, move that key out of the metadata's free keys, and open it here again)")]
    ReservedKey {
        /// The event's id.
        event_id: String,
        /// Which key, and what it names.
        reason: LimitError,
    },
    /// The stored value is not an event (metadata) of the previous or the current shape.
    #[error("event '{event_id}' cannot take the current event shape: {message}")]
    Invalid {
        /// The event's id (`?` when the row has none).
        event_id: String,
        /// What is wrong with it.
        message: String,
    },
}

/// `Err` when a free key of `metadata` is reserved, naming the event.
pub fn check_reserved(event_id: &str, metadata: &Metadata) -> Result<(), MigrateError> {
    for key in metadata.extra.keys() {
        check_metadata_key(key).map_err(|reason| MigrateError::ReservedKey {
            event_id: event_id.to_string(),
            reason,
        })?;
    }
    Ok(())
}

/// A stored event row (JSON text) in the current shape: `Ok(Some(text))` when the row had
/// the previous shape, `Ok(None)` when it already has the current one (nothing to do),
/// `Err` when it mixes both, is not an event, or its free metadata keys hold a reserved
/// key. The IndexedDB migration runs it on every row of `events`.
pub fn migrate_event_json(row: &str) -> Result<Option<String>, MigrateError> {
    let invalid = |event_id: &str, message: String| MigrateError::Invalid {
        event_id: event_id.to_string(),
        message,
    };
    let value: Value = serde_json::from_str(row).map_err(|e| invalid("?", e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(invalid("?", "a stored event is not an object".into()));
    };
    let id_of = |key: &str| {
        object
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    match event_shape(&object) {
        Ok(EventShape::Current) => Ok(None),
        Ok(EventShape::Previous) => {
            let event_id = id_of("eventId");
            let event: RecordedEvent =
                serde_json::from_value::<PreviousRecordedEvent>(Value::Object(object))
                    .map_err(|e| invalid(&event_id, format!("not an event: {e}")))?
                    .into();
            check_reserved(&event.event_id, &event.metadata)?;
            serde_json::to_string(&event)
                .map(Some)
                .map_err(|e| invalid(&event_id, e.to_string()))
        }
        Err(message) => Err(invalid(&id_of("eventId"), message)),
    }
}

/// Stored metadata (JSON text) of the previous shape in the current one: `Ok(Some(text))`
/// when the text changes (it had free keys), `Ok(None)` when it is the same in both shapes,
/// `Err` when it is not metadata or a free key is reserved. The PostgreSQL migration runs
/// it on the `metadata` column of every event, `event_id` naming the event in errors.
pub fn migrate_metadata_json(event_id: &str, text: &str) -> Result<Option<String>, MigrateError> {
    let metadata: Metadata = serde_json::from_str::<PreviousMetadata>(text)
        .map_err(|e| MigrateError::Invalid {
            event_id: event_id.to_string(),
            message: format!("its metadata is not metadata of the previous shape: {e}"),
        })?
        .into();
    check_reserved(event_id, &metadata)?;
    let current = serde_json::to_string(&metadata).map_err(|e| MigrateError::Invalid {
        event_id: event_id.to_string(),
        message: e.to_string(),
    })?;
    Ok((current != text).then_some(current))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_shape_is_decided_by_the_keys() {
        let shape = |v: Value| event_shape(v.as_object().unwrap());
        assert_eq!(
            shape(json!({"id": "a", "type": "T"})),
            Ok(EventShape::Current)
        );
        assert_eq!(shape(json!({"eventId": "a"})), Ok(EventShape::Previous));
        assert_eq!(shape(json!({"data": 1})), Ok(EventShape::Current));
        assert_eq!(
            shape(json!({"id": "a", "eventType": "T"})).unwrap_err(),
            "mixes the current event shape (id) with the previous one (eventType); an event has either id and type or eventId and eventType"
        );
    }

    #[test]
    fn a_previous_row_takes_the_current_shape() {
        let row = r#"{"eventId":"e-1","streamId":"s","version":1,"position":1,"eventType":"T","schemaVersion":1,"data":{"x":1.5},"metadata":{"correlationId":"c","extra":{"user":7,"extra":[1]}},"recordedAt":5}"#;
        assert_eq!(
            migrate_event_json(row).unwrap().unwrap(),
            r#"{"id":"e-1","streamId":"s","version":1,"position":1,"type":"T","schemaVersion":1,"data":{"x":1.5},"metadata":{"correlationId":"c","extra":[1],"user":7},"recordedAt":5}"#
        );
        let current = r#"{"id":"e-1","streamId":"s","version":1,"position":1,"type":"T","schemaVersion":1,"data":1,"metadata":{},"recordedAt":5}"#;
        assert_eq!(migrate_event_json(current), Ok(None));
    }

    #[test]
    fn a_reserved_free_key_is_refused_naming_the_event() {
        let row = r#"{"eventId":"e-9","streamId":"s","version":1,"position":1,"eventType":"T","schemaVersion":1,"data":1,"metadata":{"extra":{"causationId":"x"}},"recordedAt":5}"#;
        let err = migrate_event_json(row).unwrap_err();
        assert!(matches!(&err, MigrateError::ReservedKey { event_id, .. } if event_id == "e-9"));
        assert!(err.to_string().starts_with(
            "event 'e-9' cannot take the current event shape: metadata key 'causationId' is reserved"
        ), "{err}");
        assert_eq!(
            migrate_metadata_json("e-9", r#"{"extra":{"correlationId":"x"}}"#),
            Err(MigrateError::ReservedKey {
                event_id: "e-9".into(),
                reason: check_metadata_key("correlationId").unwrap_err(),
            })
        );
    }

    #[test]
    fn metadata_changes_only_when_it_has_free_keys() {
        assert_eq!(migrate_metadata_json("e", "{}"), Ok(None));
        assert_eq!(
            migrate_metadata_json("e", r#"{"correlationId":"c"}"#),
            Ok(None)
        );
        assert_eq!(
            migrate_metadata_json("e", r#"{"causationId":"c","extra":{"b":1,"a":{"z":null}}}"#),
            Ok(Some(r#"{"causationId":"c","a":{"z":null},"b":1}"#.into()))
        );
        assert!(matches!(
            migrate_metadata_json("e", "[1]"),
            Err(MigrateError::Invalid { .. })
        ));
    }
}
