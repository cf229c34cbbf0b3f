//! The append decision shared by every store: validation, exact idempotency, the
//! expected-version check, and assignment of ids, versions, positions and time.
//!
//! A store reads what it needs inside its write transaction (the stream's version, the
//! global head and any stored events with the batch's ids), calls [`plan_append`], and
//! then writes [`AppendPlan::Write`]'s events in that same transaction.
//!
//! Both check the bounds of [`crate::limits`] (names, nesting depth, batch size) before
//! anything else, so no store ever writes a value it could not read back or export.
//!
//! Imports ([`EventStore::import_events`](crate::EventStore::import_events)) work the
//! same way with [`plan_import`]: one import carries events of any streams in log order,
//! keeping their ids, times, versions and positions, so the plan only checks that they
//! continue every stream and the log exactly and that none of their ids is stored.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use crate::clock::{Clock, IdSource};
use crate::error::StoreError;
use crate::event::{AppendResult, ExpectedVersion, Metadata, NewEvent, RecordedEvent};
use crate::limits::{check_depth, check_metadata_key, check_name, LimitError, MAX_BATCH_EVENTS};
use crate::store::{stream_category, StreamInfo};

/// Where an already stored event with one of the batch's ids lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredId {
    /// The stream holding the event.
    pub stream_id: String,
    /// Its version in that stream.
    pub version: u64,
    /// Its global position.
    pub position: u64,
}

/// What a store must do for an append.
#[derive(Debug, Clone, PartialEq)]
pub enum AppendPlan {
    /// Every id of the batch is already stored in the stream, in order: return this
    /// original result and write nothing.
    AlreadyAppended(AppendResult),
    /// Write these events (versions, positions, ids and times assigned) atomically.
    Write(Vec<RecordedEvent>),
}

/// Everything the store knows about the stream and the log inside its transaction.
#[derive(Debug, Clone, Copy)]
pub struct AppendContext<'a> {
    /// The stream's current version, `None` when it does not exist.
    pub current_version: Option<u64>,
    /// The global position of the newest event in the store (0 when empty).
    pub head_position: u64,
    /// For each event of the batch, where an already stored event with its id lives
    /// (`None` when the event has no id or the id is new). Same length as the batch,
    /// or empty when no event of the batch has an id (there is nothing to look up).
    pub stored_ids: &'a [Option<StoredId>],
}

/// Validates an append and decides what to write. Returns an error, and the store must
/// write nothing, when the input is invalid, ids partly overlap, or the version check fails.
pub fn plan_append(
    stream_id: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    ctx: AppendContext<'_>,
    clock: &dyn Clock,
    ids: &dyn IdSource,
) -> Result<AppendPlan, StoreError> {
    validate(stream_id, &events)?;
    let no_ids = ctx.stored_ids.is_empty() && events.iter().all(|e| e.event_id.is_none());
    if ctx.stored_ids.len() != events.len() && !no_ids {
        return Err(StoreError::InvalidInput(format!(
            "the store looked up {} ids for a batch of {} events",
            ctx.stored_ids.len(),
            events.len()
        )));
    }

    if let Some(result) = already_appended(stream_id, &events, ctx.stored_ids)? {
        return Ok(AppendPlan::AlreadyAppended(result));
    }
    if !expected.is_satisfied_by(ctx.current_version) {
        return Err(StoreError::WrongExpectedVersion {
            stream: stream_id.to_string(),
            expected,
            actual: ctx.current_version,
        });
    }

    let now = clock.now_ms();
    let current = ctx.current_version.unwrap_or(0);
    // Checked once for the last event, so every earlier one fits too.
    nth(current, events.len(), || {
        format!("the version of stream '{stream_id}'")
    })?;
    nth(ctx.head_position, events.len(), || {
        "the log's position".into()
    })?;
    let recorded = events
        .into_iter()
        .enumerate()
        .map(|(i, e)| RecordedEvent {
            event_id: e.event_id.unwrap_or_else(|| ids.next_id()),
            stream_id: stream_id.to_string(),
            version: current.saturating_add(1).saturating_add(i as u64),
            position: ctx.head_position.saturating_add(1).saturating_add(i as u64),
            event_type: e.event_type,
            schema_version: e.schema_version,
            data: e.data,
            metadata: e.metadata,
            recorded_at: now,
        })
        .collect();
    Ok(AppendPlan::Write(recorded))
}

/// `first + offset`, or an error naming `what()` when the numbers run out (only a
/// corrupt store or a hostile context can get there; the name is only built then).
fn nth(first: u64, offset: usize, what: impl FnOnce() -> String) -> Result<u64, StoreError> {
    u64::try_from(offset)
        .ok()
        .and_then(|offset| first.checked_add(offset))
        .ok_or_else(|| {
            StoreError::InvalidInput(format!("{} would pass the largest number", what()))
        })
}

/// At most this many characters of a metadata key go into an error message.
const KEY_IN_MESSAGE: usize = 64;

/// `key` as an error message names it: cut to [`KEY_IN_MESSAGE`] characters.
fn key_name(key: &str) -> String {
    let mut chars = key.chars();
    let short: String = chars.by_ref().take(KEY_IN_MESSAGE).collect();
    if chars.next().is_some() {
        format!("metadata '{short}…'")
    } else {
        format!("metadata '{short}'")
    }
}

/// The limits ([`crate::limits`]) every event obeys, appended or imported: the names of
/// its metadata, no reserved free metadata key
/// ([`RESERVED_METADATA_KEYS`](crate::event::RESERVED_METADATA_KEYS)), its data's and its
/// metadata values' depth. `Err` is the message.
pub(crate) fn check_envelope(
    event_type: &str,
    data: &Value,
    metadata: &Metadata,
) -> Result<(), LimitError> {
    check_name("event type", event_type)?;
    if let Some(id) = &metadata.correlation_id {
        check_name("correlation id", id)?;
    }
    if let Some(id) = &metadata.causation_id {
        check_name("causation id", id)?;
    }
    check_depth("data", data)?;
    for (key, value) in &metadata.extra {
        check_metadata_key(key)?;
        check_depth(&key_name(key), value)?;
    }
    Ok(())
}

fn validate(stream_id: &str, events: &[NewEvent]) -> Result<(), StoreError> {
    check_name("stream id", stream_id).map_err(|e| StoreError::InvalidInput(e.to_string()))?;
    if events.is_empty() {
        return Err(StoreError::InvalidInput(format!(
            "append to stream '{stream_id}' needs at least one event"
        )));
    }
    if events.len() > MAX_BATCH_EVENTS {
        return Err(StoreError::InvalidInput(format!(
            "a batch of {} events is too large; at most {MAX_BATCH_EVENTS} are allowed in one append",
            events.len()
        )));
    }
    let mut seen = HashSet::new();
    for (i, e) in events.iter().enumerate() {
        let invalid = |message: String| {
            StoreError::InvalidInput(format!("event {i} of the batch: {message}"))
        };
        if let Some(id) = &e.event_id {
            check_name("event id", id).map_err(|e| invalid(e.to_string()))?;
        }
        check_envelope(&e.event_type, &e.data, &e.metadata).map_err(|e| invalid(e.to_string()))?;
        if e.schema_version == 0 {
            return Err(invalid("schema version 0; versions start at 1".to_string()));
        }
        if let Some(id) = &e.event_id {
            if !seen.insert(id.as_str()) {
                return Err(StoreError::InvalidInput(format!(
                    "event id '{id}' appears twice in one batch"
                )));
            }
        }
    }
    Ok(())
}

/// `Some(original result)` when every id is already stored in this stream at
/// consecutive versions in batch order; `None` when no id is stored; an error otherwise.
fn already_appended(
    stream_id: &str,
    events: &[NewEvent],
    stored: &[Option<StoredId>],
) -> Result<Option<AppendResult>, StoreError> {
    if stored.iter().all(Option::is_none) {
        return Ok(None);
    }
    let pairs = || events.iter().zip(stored);
    if let Some((event, Some(other))) =
        pairs().find(|(_, s)| s.as_ref().is_some_and(|s| s.stream_id != stream_id))
    {
        return Err(StoreError::DuplicateEventId {
            event_id: event.event_id.clone().unwrap_or_default(),
            existing_stream: other.stream_id.clone(),
        });
    }
    let all: Option<Vec<&StoredId>> = stored.iter().map(Option::as_ref).collect();
    match all {
        Some(all)
            if all.windows(2).all(|w| {
                w[0].version.checked_add(1) == Some(w[1].version) && w[1].position > w[0].position
            }) =>
        {
            let (Some(first), Some(last)) = (all.first(), all.last()) else {
                return Ok(None);
            };
            Ok(Some(AppendResult {
                first_version: first.version,
                last_version: last.version,
                first_position: first.position,
                last_position: last.position,
            }))
        }
        _ => Err(StoreError::PartialDuplicate {
            stream: stream_id.to_string(),
            duplicate_ids: pairs()
                .filter(|(_, s)| s.is_some())
                .filter_map(|(e, _)| e.event_id.clone())
                .collect(),
        }),
    }
}

/// Everything the store knows inside its write transaction, for an import.
#[derive(Debug, Clone, Copy)]
pub struct ImportContext<'a> {
    /// The global position of the newest event in the store (0 when empty).
    pub head_position: u64,
    /// The current version of every stream the import touches ([`import_streams`]); a
    /// stream missing here does not exist.
    pub stream_versions: &'a BTreeMap<String, u64>,
    /// For each event of the import, where an already stored event with its id lives
    /// (`None` when the id is new). Same length as the import.
    pub stored_ids: &'a [Option<StoredId>],
}

/// What a store must write for an import.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportPlan {
    /// The events, unchanged, in log order.
    pub events: Vec<RecordedEvent>,
    /// The new head of every stream the import writes to, ordered by stream id.
    pub streams: Vec<StreamInfo>,
}

/// The streams an import of `events` touches, each once, ordered by id: the ones whose
/// version a store reads into [`ImportContext::stream_versions`].
pub fn import_streams(events: &[RecordedEvent]) -> Vec<&str> {
    let mut streams: Vec<&str> = events.iter().map(|e| e.stream_id.as_str()).collect();
    streams.sort_unstable();
    streams.dedup();
    streams
}

/// Validates an import of events recorded elsewhere and decides what to write: the
/// events unchanged (ids, versions, positions, `recorded_at` kept), which may belong to
/// many streams and come in log order.
///
/// Every event is checked like an appended one (names, depth, schema version of at
/// least 1; see [`crate::limits`]) and must have a fresh id: no id twice in the import,
/// none already stored ([`StoreError::DuplicateEventId`], also when it is stored at this
/// very place: deciding that an import is a repeat is the importer's job, which compares
/// content). Then the events must continue each stream and the log exactly: the first
/// event of a stream has version `current + 1`, the next `current + 2`, and so on, and the
/// events have positions `head + 1, head + 2, ...` in order; otherwise the import is
/// rejected with [`StoreError::InvalidInput`] naming the event's index, and the store
/// writes nothing. An import is not bounded by
/// [`MAX_BATCH_EVENTS`]: a whole export must be able to come back in one write.
pub fn plan_import(
    events: Vec<RecordedEvent>,
    ctx: ImportContext<'_>,
) -> Result<ImportPlan, StoreError> {
    validate_import(&events)?;
    if ctx.stored_ids.len() != events.len() {
        return Err(StoreError::InvalidInput(format!(
            "the store looked up {} ids for an import of {} events",
            ctx.stored_ids.len(),
            events.len()
        )));
    }
    if let Some((event, Some(stored))) = events
        .iter()
        .zip(ctx.stored_ids)
        .find(|(_, stored)| stored.is_some())
    {
        return Err(StoreError::DuplicateEventId {
            event_id: event.event_id.clone(),
            existing_stream: stored.stream_id.clone(),
        });
    }
    let mut heads: BTreeMap<&str, StreamInfo> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        let invalid = |message: String| {
            StoreError::InvalidInput(format!(
                "event {i} of the import ('{}'): {message}",
                e.event_id
            ))
        };
        let current = match heads.get(e.stream_id.as_str()) {
            Some(head) => head.version,
            None => ctx.stream_versions.get(&e.stream_id).copied().unwrap_or(0),
        };
        let version = nth(current, 1, || {
            format!("the version of stream '{}'", e.stream_id)
        })?;
        if e.version != version {
            return Err(invalid(format!(
                "it has version {}, but it would be version {version} of stream '{}' (at version {current}); imported versions must continue the stream",
                e.version, e.stream_id
            )));
        }
        let position = nth(ctx.head_position, i.saturating_add(1), || {
            "the log's position".into()
        })?;
        if e.position != position {
            return Err(invalid(format!(
                "it has position {}, but it would be position {position} (the store's head is {}); imports keep positions, so they must continue the global log",
                e.position, ctx.head_position
            )));
        }
        heads.insert(
            e.stream_id.as_str(),
            StreamInfo {
                stream_id: e.stream_id.clone(),
                stream_type: stream_category(&e.stream_id).to_string(),
                version: e.version,
                last_position: e.position,
                updated_at: e.recorded_at,
            },
        );
    }
    let streams = heads.into_values().collect();
    Ok(ImportPlan { events, streams })
}

fn validate_import(events: &[RecordedEvent]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Err(StoreError::InvalidInput(
            "an import needs at least one event".into(),
        ));
    }
    let mut seen = HashSet::new();
    for (i, e) in events.iter().enumerate() {
        let invalid = |message: String| {
            StoreError::InvalidInput(format!("event {i} of the import: {message}"))
        };
        check_name("stream id", &e.stream_id).map_err(|e| invalid(e.to_string()))?;
        check_name("event id", &e.event_id)
            .map_err(|e| invalid(format!("{e}; imported events keep their ids")))?;
        check_envelope(&e.event_type, &e.data, &e.metadata).map_err(|e| invalid(e.to_string()))?;
        if e.schema_version == 0 {
            return Err(invalid("schema version 0; versions start at 1".to_string()));
        }
        if !seen.insert(e.event_id.as_str()) {
            return Err(StoreError::InvalidInput(format!(
                "event id '{}' appears twice in one import",
                e.event_id
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualClock, SequentialIds};
    use serde_json::json;

    fn plan(
        events: Vec<NewEvent>,
        stored_ids: &[Option<StoredId>],
    ) -> Result<AppendPlan, StoreError> {
        let ctx = AppendContext {
            current_version: None,
            head_position: 0,
            stored_ids,
        };
        plan_append(
            "s-1",
            ExpectedVersion::Any,
            events,
            ctx,
            &ManualClock::new(5),
            &SequentialIds::new("e"),
        )
    }

    #[test]
    fn lookups_may_be_left_out_only_when_no_event_has_an_id() {
        let plain = || NewEvent::new("T", json!({}));
        let Ok(AppendPlan::Write(written)) = plan(vec![plain(), plain()], &[]) else {
            panic!("a batch without ids needs no lookups");
        };
        let ids: Vec<_> = written.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids, ["e-1", "e-2"]);
        assert!(matches!(
            plan(vec![plain(), plain().with_id("x")], &[]),
            Err(StoreError::InvalidInput(m)) if m.contains("looked up 0 ids for a batch of 2")
        ));
        assert!(matches!(
            plan(vec![plain(), plain()], &[None]),
            Err(StoreError::InvalidInput(_))
        ));
        assert!(plan(vec![plain(), plain().with_id("x")], &[None, None]).is_ok());
    }
}
