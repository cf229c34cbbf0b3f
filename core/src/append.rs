//! The append decision shared by every store: validation, exact idempotency, the
//! expected-version check, and assignment of ids, versions, positions and time.
//!
//! A store reads what it needs inside its write transaction (the stream's version, the
//! global head and any stored events with the batch's ids), calls [`plan_append`], and
//! then writes [`AppendPlan::Write`]'s events in that same transaction.
//!
//! Imports ([`EventStore::import_events`](crate::EventStore::import_events)) work the
//! same way with [`plan_import`]: the events keep their ids, times, versions and
//! positions, so the plan only checks them.

use std::collections::HashSet;

use crate::clock::{Clock, IdSource};
use crate::error::StoreError;
use crate::event::{AppendResult, ExpectedVersion, NewEvent, RecordedEvent};

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
    /// (`None` when the event has no id or the id is new). Same length as the batch.
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
    debug_assert_eq!(ctx.stored_ids.len(), events.len());

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
    let first_version = ctx.current_version.unwrap_or(0) + 1;
    let first_position = ctx.head_position + 1;
    let recorded = events
        .into_iter()
        .enumerate()
        .map(|(i, e)| RecordedEvent {
            event_id: e.event_id.unwrap_or_else(|| ids.next_id()),
            stream_id: stream_id.to_string(),
            version: first_version + i as u64,
            position: first_position + i as u64,
            event_type: e.event_type,
            schema_version: e.schema_version,
            data: e.data,
            metadata: e.metadata,
            recorded_at: now,
        })
        .collect();
    Ok(AppendPlan::Write(recorded))
}

fn validate(stream_id: &str, events: &[NewEvent]) -> Result<(), StoreError> {
    if stream_id.trim().is_empty() {
        return Err(StoreError::InvalidInput(
            "stream id must not be empty".into(),
        ));
    }
    if events.is_empty() {
        return Err(StoreError::InvalidInput(format!(
            "append to stream '{stream_id}' needs at least one event"
        )));
    }
    let mut seen = HashSet::new();
    for (i, e) in events.iter().enumerate() {
        if e.event_type.trim().is_empty() {
            return Err(StoreError::InvalidInput(format!(
                "event {i} of the batch has an empty type"
            )));
        }
        if e.schema_version == 0 {
            return Err(StoreError::InvalidInput(format!(
                "event {i} of the batch has schema version 0; versions start at 1"
            )));
        }
        if let Some(id) = &e.event_id {
            if id.is_empty() {
                return Err(StoreError::InvalidInput(format!(
                    "event {i} of the batch has an empty id"
                )));
            }
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
            if all
                .windows(2)
                .all(|w| w[1].version == w[0].version + 1 && w[1].position > w[0].position) =>
        {
            let (first, last) = (all[0], all[all.len() - 1]);
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

/// Validates an import of events recorded elsewhere into `stream_id` and decides what to
/// write: the events unchanged (ids, versions, positions, `recorded_at` kept).
///
/// Like [`plan_append`]: the batch is checked (non-empty; every event of `stream_id`,
/// with a non-empty id and type and a schema version of at least 1; no id twice), a batch
/// whose every id is already stored in this stream at the same versions is
/// [`AppendPlan::AlreadyAppended`], other overlaps are rejected, and `expected` must hold.
/// Then the events must continue the stream and the log exactly: versions
/// `current + 1, current + 2, ...` and positions `head + 1, head + 2, ...`; otherwise the
/// import is rejected with [`StoreError::InvalidInput`] and the store writes nothing.
pub fn plan_import(
    stream_id: &str,
    expected: ExpectedVersion,
    events: Vec<RecordedEvent>,
    ctx: AppendContext<'_>,
) -> Result<AppendPlan, StoreError> {
    validate_import(stream_id, &events)?;
    debug_assert_eq!(ctx.stored_ids.len(), events.len());

    if ctx.stored_ids.iter().any(Option::is_some) {
        let same_place = events.iter().zip(ctx.stored_ids).all(|(e, s)| {
            s.as_ref()
                .is_some_and(|s| s.stream_id == stream_id && s.version == e.version)
        });
        if same_place {
            let positions: Vec<u64> = ctx
                .stored_ids
                .iter()
                .flatten()
                .map(|s| s.position)
                .collect();
            return Ok(AppendPlan::AlreadyAppended(AppendResult {
                first_version: events[0].version,
                last_version: events[events.len() - 1].version,
                first_position: positions[0],
                last_position: positions[positions.len() - 1],
            }));
        }
        if let Some((event, Some(other))) = events
            .iter()
            .zip(ctx.stored_ids)
            .find(|(_, s)| s.as_ref().is_some_and(|s| s.stream_id != stream_id))
        {
            return Err(StoreError::DuplicateEventId {
                event_id: event.event_id.clone(),
                existing_stream: other.stream_id.clone(),
            });
        }
        return Err(StoreError::PartialDuplicate {
            stream: stream_id.to_string(),
            duplicate_ids: events
                .iter()
                .zip(ctx.stored_ids)
                .filter(|(_, s)| s.is_some())
                .map(|(e, _)| e.event_id.clone())
                .collect(),
        });
    }
    if !expected.is_satisfied_by(ctx.current_version) {
        return Err(StoreError::WrongExpectedVersion {
            stream: stream_id.to_string(),
            expected,
            actual: ctx.current_version,
        });
    }
    let current = ctx.current_version.unwrap_or(0);
    for (i, e) in events.iter().enumerate() {
        let version = current + 1 + i as u64;
        if e.version != version {
            return Err(StoreError::InvalidInput(format!(
                "imported event '{}' has version {}, but it would be version {version} of stream '{stream_id}' (at version {current}); imported versions must continue the stream",
                e.event_id, e.version
            )));
        }
        let position = ctx.head_position + 1 + i as u64;
        if e.position != position {
            return Err(StoreError::InvalidInput(format!(
                "imported event '{}' has position {}, but it would be position {position} (the store's head is {}); imports keep positions, so they must continue the global log",
                e.event_id, e.position, ctx.head_position
            )));
        }
    }
    Ok(AppendPlan::Write(events))
}

fn validate_import(stream_id: &str, events: &[RecordedEvent]) -> Result<(), StoreError> {
    if stream_id.trim().is_empty() {
        return Err(StoreError::InvalidInput(
            "stream id must not be empty".into(),
        ));
    }
    if events.is_empty() {
        return Err(StoreError::InvalidInput(format!(
            "import into stream '{stream_id}' needs at least one event"
        )));
    }
    let mut seen = HashSet::new();
    for (i, e) in events.iter().enumerate() {
        if e.stream_id != stream_id {
            return Err(StoreError::InvalidInput(format!(
                "event {i} of the import belongs to stream '{}', not '{stream_id}'",
                e.stream_id
            )));
        }
        if e.event_id.is_empty() {
            return Err(StoreError::InvalidInput(format!(
                "event {i} of the import has an empty id; imported events keep their ids"
            )));
        }
        if e.event_type.trim().is_empty() {
            return Err(StoreError::InvalidInput(format!(
                "event {i} of the import has an empty type"
            )));
        }
        if e.schema_version == 0 {
            return Err(StoreError::InvalidInput(format!(
                "event {i} of the import has schema version 0; versions start at 1"
            )));
        }
        if !seen.insert(e.event_id.as_str()) {
            return Err(StoreError::InvalidInput(format!(
                "event id '{}' appears twice in one import batch",
                e.event_id
            )));
        }
    }
    Ok(())
}
