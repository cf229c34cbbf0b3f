//! Adopting a never-synced local log: the history a store gathered before it was ever a
//! replica becomes pending batches, to be pushed like any local write.

use std::collections::BTreeMap;

use crate::append::ImportContext;
use crate::error::StoreError;
use crate::event::{ExpectedVersion, NewEvent, RecordedEvent};
use crate::limits::MAX_BATCH_EVENTS;

use super::{
    plan_replica_write, BatchOrigin, PendingBatch, ReplicaContext, ReplicaState, ReplicaWrite,
};

/// The raw pending batches that re-create `events` (a local log, in position order): each
/// run of consecutive events of one stream with the same `recorded_at` (one local append,
/// as far as the log can tell; at most [`MAX_BATCH_EVENTS`] events) is one batch, which
/// expects the stream at the version before its first event
/// ([`ExpectedVersion::NoStream`] for version 1, else [`ExpectedVersion::Exact`]), keeps
/// the events' ids, is dated by their time, and is named after its first event's id (event
/// ids are unique in a store, and fresh across devices when they come from a UUID
/// source). Pending in that order on an empty confirmed log, they show every event with
/// its version, position and time unchanged.
pub fn plan_adoption(events: &[RecordedEvent]) -> Vec<PendingBatch> {
    let mut batches: Vec<PendingBatch> = Vec::new();
    let mut last: Option<&RecordedEvent> = None;
    for event in events {
        let continues = last.is_some_and(|prev| {
            prev.stream_id == event.stream_id
                && prev.recorded_at == event.recorded_at
                && prev.version.checked_add(1) == Some(event.version)
        });
        let new_event = NewEvent {
            event_id: Some(event.event_id.clone()),
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            data: event.data.clone(),
            metadata: event.metadata.clone(),
        };
        match batches.last_mut() {
            Some(batch) if continues && batch.events.len() < MAX_BATCH_EVENTS => {
                batch.events.push(new_event);
            }
            _ => batches.push(PendingBatch {
                id: event.event_id.clone(),
                stream_id: event.stream_id.clone(),
                expected: match event.version.saturating_sub(1) {
                    0 => ExpectedVersion::NoStream,
                    v => ExpectedVersion::Exact(v),
                },
                events: vec![new_event],
                origin: BatchOrigin::Raw,
                attempt: 0,
                created_at: event.recorded_at,
                pushed: None,
                confirmed: 0,
            }),
        }
        last = Some(event);
    }
    batches
}

/// Decides a [`ReplicaStore::adopt_local_log`](super::ReplicaStore::adopt_local_log) on
/// what the store read inside its transaction (its replica `state` and its whole `log`):
/// refused with [`StoreError::InvalidInput`] when the store is
/// [`synced`](ReplicaState::synced) (its log is the server's); else the new state: the
/// log's batches ([`plan_adoption`]) then the outbox's, its conflicts, checked like any
/// [`ReplicaWrite`] by [`plan_replica_write`], revision one more. The store then empties
/// its log, streams, snapshots and checkpoints and writes the state, in that transaction.
pub fn plan_adoption_write(
    state: ReplicaState,
    log: &[RecordedEvent],
) -> Result<ReplicaState, StoreError> {
    if state.synced {
        return Err(StoreError::InvalidInput(
            "cannot adopt the local log: this store already holds events confirmed by the server, so its log is the server's".into(),
        ));
    }
    let mut pending = plan_adoption(log);
    pending.extend(state.pending);
    let no_streams = BTreeMap::new();
    let (_, adopted) = plan_replica_write(
        ReplicaWrite {
            revision: state.revision,
            confirm: Vec::new(),
            pending,
            conflicts: state.conflicts,
        },
        ReplicaContext {
            revision: state.revision,
            synced: false,
            import: ImportContext {
                head_position: 0,
                stream_versions: &no_streams,
                stored_ids: &[],
            },
        },
    )?;
    Ok(adopted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Metadata;
    use serde_json::json;

    fn recorded(id: &str, stream: &str, version: u64, position: u64, at: i64) -> RecordedEvent {
        RecordedEvent {
            event_id: id.into(),
            stream_id: stream.into(),
            version,
            position,
            event_type: "T".into(),
            schema_version: 1,
            data: json!({ "id": id }),
            metadata: Metadata::default(),
            recorded_at: at,
        }
    }

    fn shape(batches: &[PendingBatch]) -> Vec<(String, String, ExpectedVersion, usize, i64)> {
        batches
            .iter()
            .map(|b| {
                (
                    b.id.clone(),
                    b.stream_id.clone(),
                    b.expected,
                    b.events.len(),
                    b.created_at,
                )
            })
            .collect()
    }

    #[test]
    fn runs_of_one_stream_and_one_time_are_one_batch() {
        let log = vec![
            recorded("a", "s-1", 1, 1, 10),
            recorded("b", "s-1", 2, 2, 10),
            recorded("c", "s-2", 1, 3, 10),
            recorded("d", "s-1", 3, 4, 10),
            recorded("e", "s-1", 4, 5, 11),
            recorded("f", "s-1", 5, 6, 11),
        ];
        let batches = plan_adoption(&log);
        let s = |x: &str| x.to_string();
        assert_eq!(
            shape(&batches),
            vec![
                (s("a"), s("s-1"), ExpectedVersion::NoStream, 2, 10),
                (s("c"), s("s-2"), ExpectedVersion::NoStream, 1, 10),
                (s("d"), s("s-1"), ExpectedVersion::Exact(2), 1, 10),
                (s("e"), s("s-1"), ExpectedVersion::Exact(3), 2, 11),
            ]
        );
        let ids: Vec<_> = batches
            .iter()
            .flat_map(|b| b.events.iter().map(|e| e.event_id.clone().unwrap()))
            .collect();
        assert_eq!(ids, ["a", "b", "c", "d", "e", "f"]);
        assert!(batches
            .iter()
            .all(|b| b.origin == BatchOrigin::Raw && b.attempt == 0 && !b.is_committed()));
        assert_eq!(batches[0].events[1].data, json!({ "id": "b" }));
    }

    #[test]
    fn a_run_longer_than_a_batch_is_split() {
        let n = MAX_BATCH_EVENTS as u64 + 3;
        let log: Vec<_> = (1..=n)
            .map(|v| recorded(&format!("e{v}"), "s-1", v, v, 7))
            .collect();
        let batches = plan_adoption(&log);
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].events.len(), MAX_BATCH_EVENTS);
        assert_eq!(
            batches[1].expected,
            ExpectedVersion::Exact(MAX_BATCH_EVENTS as u64)
        );
        assert_eq!(batches[1].events.len(), 3);
        assert!(plan_adoption(&[]).is_empty());
    }

    #[test]
    fn a_synced_store_cannot_adopt() {
        let state = ReplicaState {
            synced: true,
            ..ReplicaState::default()
        };
        let err = plan_adoption_write(state, &[recorded("a", "s-1", 1, 1, 1)]).unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidInput(m) if m.contains("confirmed by the server")),
            "{err:?}"
        );
    }
}
