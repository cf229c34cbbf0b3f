//! The replica cases of the conformance suite: what every [`ReplicaStore`] must do, run
//! by [`run_replica`] natively on [`MemoryStore`](crate::MemoryStore) and in headless
//! Chromium on the IndexedDB store.

use std::future::Future;
use std::rc::Rc;

use serde_json::json;

use crate::clock::ManualClock;
use crate::event::{ExpectedVersion, Metadata, NewEvent, RecordedEvent};
use crate::store::{Checkpoint, EventStore, ReadAllOptions, ReadStreamOptions, StreamInfo};
use crate::sync::{
    BatchOrigin, Conflict, ConflictReason, Overlay, PendingBatch, ReplicaState, ReplicaStore,
    ReplicaWrite, OUTBOX_STREAM,
};
use crate::StoreError;

use super::{ev, recorded, snapshot, DAY_MS, START_MS};

/// Runs every replica case, each against a fresh, empty store made by `make` from a fresh
/// clock standing at [`START_MS`]. `reopen` closes a store and opens it again on the same
/// data with the clock it is given, or answers `None` when the store cannot be reopened
/// (a `MemoryStore`: its data goes with it); then the case checks only what it can before.
pub async fn run_replica<S, F, Fut, R, RFut>(make: F, reopen: R)
where
    S: ReplicaStore,
    F: Fn(Rc<ManualClock>) -> Fut,
    Fut: Future<Output = S>,
    R: Fn(S, Rc<ManualClock>) -> RFut,
    RFut: Future<Output = Option<S>>,
{
    macro_rules! run {
        ($($case:ident),* $(,)?) => {$({
            let clock = Rc::new(ManualClock::new(START_MS));
            let store = make(Rc::clone(&clock)).await;
            $case(store, &clock).await;
        })*};
    }
    run!(
        replica_fresh_store_is_empty,
        replica_write_keeps_outbox_and_conflicts,
        replica_stale_revision_changes_nothing,
        replica_confirm_imports_server_events,
        replica_confirm_must_continue_the_log,
        replica_batch_event_without_id_is_refused,
        adoption_makes_the_local_log_pending,
        adoption_is_refused_once_synced,
    );
    let clock = Rc::new(ManualClock::new(START_MS));
    let store = make(Rc::clone(&clock)).await;
    replica_state_survives_reopening(store, &clock, &reopen).await;
}

/// A pending batch of `n` events with ids `{id}.0.{k}`.
fn batch(id: &str, stream: &str, expected: ExpectedVersion, n: i64) -> PendingBatch {
    PendingBatch {
        id: id.into(),
        stream_id: stream.into(),
        expected,
        events: (1..=n)
            .map(|k| ev("Local", k).with_id(format!("{id}.0.{k}")))
            .collect(),
        origin: BatchOrigin::Raw,
        attempt: 0,
        created_at: START_MS + 7,
        pushed: None,
        confirmed: 0,
    }
}

fn conflict(id: &str) -> Conflict {
    Conflict {
        batch: batch(id, "s-9", ExpectedVersion::Exact(3), 1),
        reason: ConflictReason::VersionConflict {
            expected: ExpectedVersion::Exact(3),
            actual: Some(5),
        },
        at: START_MS + 9,
    }
}

fn write(
    revision: u64,
    confirm: Vec<RecordedEvent>,
    pending: Vec<PendingBatch>,
    conflicts: Vec<Conflict>,
) -> ReplicaWrite {
    ReplicaWrite {
        revision,
        confirm,
        pending,
        conflicts,
    }
}

async fn state<S: ReplicaStore>(store: &S, c: &str) -> ReplicaState {
    store
        .replica_state()
        .await
        .unwrap_or_else(|e| panic!("{c}: replica state: {e}"))
}

async fn log<S: EventStore>(store: &S) -> Vec<RecordedEvent> {
    store.read_all(ReadAllOptions::default()).await.unwrap()
}

/// A fresh store is revision 0 with an empty outbox, no conflicts, never synced.
pub async fn replica_fresh_store_is_empty<S: ReplicaStore>(store: S, _clock: &ManualClock) {
    const C: &str = "replica_fresh_store_is_empty";
    assert_eq!(state(&store, C).await, ReplicaState::default(), "{C}");
}

/// A write stores the whole outbox and the conflicts as given and bumps the revision; the
/// next write replaces them.
pub async fn replica_write_keeps_outbox_and_conflicts<S: ReplicaStore>(
    store: S,
    _clock: &ManualClock,
) {
    const C: &str = "replica_write_keeps_outbox_and_conflicts";
    let mut pushed = batch("b-2", "s-2", ExpectedVersion::Any, 1);
    pushed.pushed = Some(crate::AppendResult {
        first_version: 4,
        last_version: 4,
        first_position: 10,
        last_position: 10,
    });
    let mut command = batch("b-1", "s-1", ExpectedVersion::NoStream, 2);
    command.origin = BatchOrigin::Command {
        command: crate::sync::PendingCommand {
            name: "bank.deposit".into(),
            input: json!({ "cents": 5, "rate": 0.25 }),
        },
    };
    let pending = vec![command, pushed];
    let written = store
        .write_replica(write(0, vec![], pending.clone(), vec![conflict("c-1")]))
        .await
        .unwrap_or_else(|e| panic!("{C}: first write: {e}"));
    let expected = ReplicaState {
        revision: 1,
        pending: pending.clone(),
        conflicts: vec![conflict("c-1")],
        synced: false,
    };
    assert_eq!(written, expected, "{C}: the returned state");
    assert_eq!(state(&store, C).await, expected, "{C}: read back");
    assert_eq!(store.head_position().await.unwrap(), 0, "{C}: no events");

    let written = store
        .write_replica(write(1, vec![], pending[1..].to_vec(), vec![]))
        .await
        .unwrap_or_else(|e| panic!("{C}: second write: {e}"));
    assert_eq!(written.revision, 2, "{C}: revision");
    assert_eq!(state(&store, C).await, written, "{C}: replaced");
    assert_eq!(written.pending, pending[1..].to_vec(), "{C}: outbox");
    assert!(written.conflicts.is_empty(), "{C}: conflicts");
}

/// A write planned on an older revision is refused as a version conflict on
/// [`OUTBOX_STREAM`], and nothing of it is applied: no event, no outbox change.
pub async fn replica_stale_revision_changes_nothing<S: ReplicaStore>(
    store: S,
    _clock: &ManualClock,
) {
    const C: &str = "replica_stale_revision_changes_nothing";
    let first = store
        .write_replica(write(
            0,
            vec![],
            vec![batch("b-1", "s-1", ExpectedVersion::NoStream, 1)],
            vec![],
        ))
        .await
        .unwrap_or_else(|e| panic!("{C}: first write: {e}"));
    let err = store
        .write_replica(write(
            0,
            vec![recorded("x-1", "acc-1", 1, 1, START_MS - DAY_MS)],
            vec![],
            vec![conflict("c-1")],
        ))
        .await
        .expect_err("replica_stale_revision_changes_nothing: a stale write");
    assert_eq!(
        err,
        StoreError::WrongExpectedVersion {
            stream: OUTBOX_STREAM.to_string(),
            expected: ExpectedVersion::Exact(0),
            actual: Some(1),
        },
        "{C}: the refusal"
    );
    assert_eq!(
        state(&store, C).await,
        first,
        "{C}: the outbox is unchanged"
    );
    assert_eq!(store.head_position().await.unwrap(), 0, "{C}: no event");
    assert_eq!(
        store.stream_version("acc-1").await.unwrap(),
        None,
        "{C}: no stream"
    );
}

/// `confirm` imports the server's events as the server recorded them (ids, versions,
/// positions, times, payloads), together with the new outbox, and the store is synced
/// from then on; later confirmed pages follow on.
pub async fn replica_confirm_imports_server_events<S: ReplicaStore>(
    store: S,
    _clock: &ManualClock,
) {
    const C: &str = "replica_confirm_imports_server_events";
    let at = START_MS - 3 * DAY_MS;
    let page = vec![
        recorded("x-1", "acc-1", 1, 1, at),
        recorded("x-2", "acc-2", 1, 2, at + 1),
        recorded("x-3", "acc-1", 2, 3, at + 2),
    ];
    let pending = vec![batch("b-1", "acc-1", ExpectedVersion::Exact(2), 1)];
    let written = store
        .write_replica(write(0, page.clone(), pending.clone(), vec![]))
        .await
        .unwrap_or_else(|e| panic!("{C}: confirm: {e}"));
    assert_eq!(
        written,
        ReplicaState {
            revision: 1,
            pending: pending.clone(),
            conflicts: vec![],
            synced: true,
        },
        "{C}: the state"
    );
    assert_eq!(state(&store, C).await, written, "{C}: read back");
    assert_eq!(log(&store).await, page, "{C}: the confirmed log, exactly");
    assert_eq!(
        store
            .read_stream("acc-1", ReadStreamOptions::default())
            .await
            .unwrap(),
        vec![page[0].clone(), page[2].clone()],
        "{C}: the stream"
    );
    let streams: Vec<_> = store
        .list_streams()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.stream_id, s.version, s.last_position, s.updated_at))
        .collect();
    assert_eq!(
        streams,
        vec![
            ("acc-1".to_string(), 2, 3, at + 2),
            ("acc-2".to_string(), 1, 2, at + 1)
        ],
        "{C}: stream heads"
    );

    // The next page continues the log; the outbox may change at the same time.
    let next = vec![recorded("x-4", "acc-1", 3, 4, at + 3)];
    let written = store
        .write_replica(write(1, next.clone(), vec![], vec![]))
        .await
        .unwrap_or_else(|e| panic!("{C}: the next page: {e}"));
    assert_eq!((written.revision, written.synced), (2, true), "{C}");
    assert!(written.pending.is_empty(), "{C}: the outbox emptied");
    assert_eq!(store.head_position().await.unwrap(), 4, "{C}: head");
    assert_eq!(
        store.stream_version("acc-1").await.unwrap(),
        Some(3),
        "{C}: version"
    );
    // A write without events keeps the store synced.
    let written = store
        .write_replica(write(2, vec![], vec![], vec![conflict("c-1")]))
        .await
        .unwrap_or_else(|e| panic!("{C}: a write without events: {e}"));
    assert!(written.synced, "{C}: still synced");
}

/// Confirmed events that do not continue the log exactly (a gap, a wrong first position,
/// a wrong first version, an id already stored) are refused, and NOTHING of the write is
/// applied: neither its events nor its outbox and conflicts, nor the revision.
pub async fn replica_confirm_must_continue_the_log<S: ReplicaStore>(
    store: S,
    _clock: &ManualClock,
) {
    const C: &str = "replica_confirm_must_continue_the_log";
    let at = START_MS - DAY_MS;
    let first = store
        .write_replica(write(
            0,
            vec![
                recorded("x-1", "acc-1", 1, 1, at),
                recorded("x-2", "acc-1", 2, 2, at),
            ],
            vec![batch("b-1", "acc-1", ExpectedVersion::Exact(2), 1)],
            vec![],
        ))
        .await
        .unwrap_or_else(|e| panic!("{C}: first page: {e}"));
    let before = log(&store).await;
    let refused = [
        (
            "a gap in positions",
            vec![
                recorded("x-3", "acc-1", 3, 3, at),
                recorded("x-5", "acc-2", 1, 5, at),
            ],
        ),
        (
            "a wrong first position",
            vec![recorded("x-3", "acc-1", 3, 2, at)],
        ),
        (
            "a position past the head",
            vec![recorded("x-4", "acc-1", 3, 4, at)],
        ),
        (
            "a wrong first version",
            vec![recorded("x-3", "acc-1", 4, 3, at)],
        ),
        (
            "a new stream not at version 1",
            vec![recorded("x-3", "acc-3", 2, 3, at)],
        ),
        (
            "an id already stored",
            vec![recorded("x-1", "acc-1", 3, 3, at)],
        ),
    ];
    for (what, confirm) in refused {
        let err = store
            .write_replica(write(
                1,
                confirm,
                vec![batch("b-9", "acc-9", ExpectedVersion::Any, 1)],
                vec![conflict("c-1")],
            ))
            .await
            .expect_err(what);
        assert!(
            matches!(
                err,
                StoreError::InvalidInput(_) | StoreError::DuplicateEventId { .. }
            ),
            "{C}: {what}: {err:?}"
        );
        assert_eq!(state(&store, C).await, first, "{C}: {what}: the outbox");
        assert_eq!(log(&store).await, before, "{C}: {what}: the log");
        assert_eq!(
            store.stream_version("acc-2").await.unwrap(),
            None,
            "{C}: {what}: no stream"
        );
    }
}

/// A pending batch with an event without an id (it could not be pushed idempotently),
/// or without events, or twice in the outbox, is refused with nothing applied.
pub async fn replica_batch_event_without_id_is_refused<S: ReplicaStore>(
    store: S,
    _clock: &ManualClock,
) {
    const C: &str = "replica_batch_event_without_id_is_refused";
    let mut no_id = batch("b-1", "s-1", ExpectedVersion::NoStream, 2);
    no_id.events[1].event_id = None;
    let mut empty = batch("b-2", "s-1", ExpectedVersion::NoStream, 1);
    empty.events.clear();
    let twice = batch("b-3", "s-1", ExpectedVersion::Any, 1);
    let mut in_conflict = conflict("c-1");
    in_conflict.batch.events[0].event_id = None;
    let cases = [
        ("an event without an id", vec![no_id], vec![]),
        ("a batch without events", vec![empty], vec![]),
        ("a batch twice", vec![twice.clone(), twice], vec![]),
        (
            "a conflict's event without an id",
            vec![],
            vec![in_conflict],
        ),
    ];
    for (what, pending, conflicts) in cases {
        let err = store
            .write_replica(write(
                0,
                vec![recorded("x-1", "acc-1", 1, 1, START_MS)],
                pending,
                conflicts,
            ))
            .await
            .expect_err(what);
        assert!(
            matches!(err, StoreError::InvalidInput(_)),
            "{C}: {what}: {err:?}"
        );
        assert_eq!(
            state(&store, C).await,
            ReplicaState::default(),
            "{C}: {what}: the outbox"
        );
        assert_eq!(
            store.head_position().await.unwrap(),
            0,
            "{C}: {what}: no event"
        );
    }
}

/// A local history: `s-1` 1-2 in one append, then `s-2` 1 and `s-1` 3 at one time, then
/// `s-1` 4 later (with metadata), a snapshot and a checkpoint at local positions.
async fn local_history<S: EventStore>(store: &S, clock: &ManualClock, c: &str) {
    let append = |stream: &'static str, expected, events: Vec<NewEvent>| async move {
        store
            .append(stream, expected, events)
            .await
            .unwrap_or_else(|e| panic!("{c}: local append: {e}"))
    };
    append(
        "s-1",
        ExpectedVersion::NoStream,
        vec![ev("A", 1), ev("A", 2)],
    )
    .await;
    clock.advance(1_000);
    append("s-2", ExpectedVersion::NoStream, vec![ev("B", 1)]).await;
    append("s-1", ExpectedVersion::Exact(2), vec![ev("A", 3)]).await;
    clock.advance(1_000);
    let metadata = Metadata {
        correlation_id: Some("corr-1".into()),
        ..Metadata::default()
    };
    append(
        "s-1",
        ExpectedVersion::Exact(3),
        vec![ev("A", 4).with_metadata(metadata).with_schema_version(2)],
    )
    .await;
    store
        .save_snapshot(snapshot("s-1", 2, 1, "local"))
        .await
        .unwrap();
    store
        .save_checkpoint(Checkpoint {
            name: "totals".into(),
            position: 5,
            state: json!({ "sum": 10 }),
            updated_at: START_MS,
        })
        .await
        .unwrap();
}

/// What an overlay of `store` shows: its log, two streams and the stream list.
async fn view<S: ReplicaStore>(
    store: &S,
) -> (Vec<RecordedEvent>, Vec<RecordedEvent>, Vec<StreamInfo>) {
    let state = store.replica_state().await.unwrap();
    let overlay = Overlay::new(store, Vec::new(), &state.pending)
        .await
        .unwrap();
    let all = overlay.read_all(ReadAllOptions::default()).await.unwrap();
    let stream = overlay
        .read_stream("s-1", ReadStreamOptions::default())
        .await
        .unwrap();
    let streams = overlay.list_streams().await.unwrap();
    (all, stream, streams)
}

/// Adopting a never-synced store's log makes it raw pending batches (runs of one stream
/// at one time, expecting the version before them, keeping ids and times) before the
/// outbox's batches, empties the log and deletes its snapshots and checkpoints, keeps the
/// conflicts, and the overlay shows exactly what it showed before. Adopting again moves
/// nothing; the server's copy of an adopted batch can then be confirmed.
pub async fn adoption_makes_the_local_log_pending<S: ReplicaStore>(store: S, clock: &ManualClock) {
    const C: &str = "adoption_makes_the_local_log_pending";
    local_history(&store, clock, C).await;
    // A pending batch decided on top of the local log, and a conflict.
    let local = batch("p-1", "s-2", ExpectedVersion::Exact(1), 1);
    store
        .write_replica(write(0, vec![], vec![local.clone()], vec![conflict("c-1")]))
        .await
        .unwrap_or_else(|e| panic!("{C}: outbox: {e}"));
    let old_log = log(&store).await;
    let before = view(&store).await;
    assert_eq!(before.0.len(), 6, "{C}: the view before");

    let adopted = store
        .adopt_local_log()
        .await
        .unwrap_or_else(|e| panic!("{C}: adopt: {e}"));
    assert_eq!(state(&store, C).await, adopted, "{C}: read back");
    assert_eq!((adopted.revision, adopted.synced), (2, false), "{C}");
    assert_eq!(adopted.conflicts, vec![conflict("c-1")], "{C}: conflicts");
    let shape: Vec<_> = adopted
        .pending
        .iter()
        .map(|b| {
            (
                b.id.clone(),
                b.stream_id.as_str(),
                b.expected,
                b.events.len(),
                b.created_at,
            )
        })
        .collect();
    let id = |i: usize| old_log[i].event_id.clone();
    assert_eq!(
        shape,
        vec![
            (id(0), "s-1", ExpectedVersion::NoStream, 2, START_MS),
            (id(2), "s-2", ExpectedVersion::NoStream, 1, START_MS + 1_000),
            (id(3), "s-1", ExpectedVersion::Exact(2), 1, START_MS + 1_000),
            (id(4), "s-1", ExpectedVersion::Exact(3), 1, START_MS + 2_000),
            (
                "p-1".to_string(),
                "s-2",
                ExpectedVersion::Exact(1),
                1,
                START_MS + 7
            ),
        ],
        "{C}: the batches"
    );
    assert!(
        adopted.pending[..4]
            .iter()
            .all(|b| b.origin == BatchOrigin::Raw && b.attempt == 0 && !b.is_committed()),
        "{C}: raw, first attempt, not pushed"
    );
    let ids: Vec<_> = adopted.pending[..4]
        .iter()
        .flat_map(|b| b.events.iter().map(|e| e.event_id.clone().unwrap()))
        .collect();
    assert_eq!(
        ids,
        old_log
            .iter()
            .map(|e| e.event_id.clone())
            .collect::<Vec<_>>(),
        "{C}: event ids kept"
    );

    assert_eq!(store.head_position().await.unwrap(), 0, "{C}: log emptied");
    assert!(log(&store).await.is_empty(), "{C}: no event");
    assert!(
        store.list_streams().await.unwrap().is_empty(),
        "{C}: no stream"
    );
    assert_eq!(store.stream_version("s-1").await.unwrap(), None, "{C}");
    assert_eq!(store.snapshot_count().await.unwrap(), 0, "{C}: snapshots");
    assert_eq!(
        store.load_snapshot("s-1", 1, None).await.unwrap(),
        None,
        "{C}: snapshot"
    );
    assert_eq!(
        store.load_checkpoint("totals").await.unwrap(),
        None,
        "{C}: checkpoint"
    );
    assert_eq!(
        view(&store).await,
        before,
        "{C}: the view is unchanged: same events, versions, positions and times"
    );

    let again = store
        .adopt_local_log()
        .await
        .unwrap_or_else(|e| panic!("{C}: adopt again: {e}"));
    assert_eq!(again.revision, 3, "{C}: revision");
    assert_eq!(again.pending, adopted.pending, "{C}: nothing more adopted");

    // The server accepted the first batch: its events come back with their ids (the
    // store no longer holds them) at the server's positions and time.
    let server: Vec<_> = old_log[..2]
        .iter()
        .map(|e| RecordedEvent {
            recorded_at: START_MS + DAY_MS,
            ..e.clone()
        })
        .collect();
    let confirmed = store
        .write_replica(write(
            3,
            server.clone(),
            again.pending[1..].to_vec(),
            again.conflicts.clone(),
        ))
        .await
        .unwrap_or_else(|e| panic!("{C}: confirm an adopted batch: {e}"));
    assert!(confirmed.synced, "{C}: synced");
    assert_eq!(log(&store).await, server, "{C}: the confirmed log");
}

/// Once the store holds confirmed events, adoption is refused and changes nothing.
pub async fn adoption_is_refused_once_synced<S: ReplicaStore>(store: S, _clock: &ManualClock) {
    const C: &str = "adoption_is_refused_once_synced";
    let page = vec![recorded("x-1", "acc-1", 1, 1, START_MS - DAY_MS)];
    let pending = vec![batch("b-1", "acc-1", ExpectedVersion::Exact(1), 1)];
    let synced = store
        .write_replica(write(0, page.clone(), pending, vec![]))
        .await
        .unwrap_or_else(|e| panic!("{C}: confirm: {e}"));
    store
        .save_checkpoint(Checkpoint {
            name: "totals".into(),
            position: 1,
            state: json!(1),
            updated_at: START_MS,
        })
        .await
        .unwrap();
    let err = store
        .adopt_local_log()
        .await
        .expect_err("adoption_is_refused_once_synced: adopt");
    match &err {
        StoreError::InvalidInput(m) => assert!(m.contains("confirmed by the server"), "{C}: {m}"),
        other => panic!("{C}: {other:?}"),
    }
    assert_eq!(state(&store, C).await, synced, "{C}: the outbox");
    assert_eq!(log(&store).await, page, "{C}: the log");
    assert!(
        store.load_checkpoint("totals").await.unwrap().is_some(),
        "{C}: the checkpoint"
    );
}

/// The outbox, the conflicts, the confirmed log and the synced mark are durable: they
/// are the same after the store is closed and opened again (when `reopen` can), also
/// right after an adoption.
pub async fn replica_state_survives_reopening<S, R, RFut>(
    store: S,
    clock: &Rc<ManualClock>,
    reopen: &R,
) where
    S: ReplicaStore,
    R: Fn(S, Rc<ManualClock>) -> RFut,
    RFut: Future<Output = Option<S>>,
{
    const C: &str = "replica_state_survives_reopening";
    local_history(&store, clock, C).await;
    let adopted = store
        .adopt_local_log()
        .await
        .unwrap_or_else(|e| panic!("{C}: adopt: {e}"));
    let adopted_view = view(&store).await;
    let Some(store) = reopen(store, Rc::clone(clock)).await else {
        return;
    };
    assert_eq!(state(&store, C).await, adopted, "{C}: adopted outbox");
    assert_eq!(view(&store).await, adopted_view, "{C}: the view");
    assert_eq!(store.head_position().await.unwrap(), 0, "{C}: empty log");
    assert_eq!(store.snapshot_count().await.unwrap(), 0, "{C}: snapshots");
    assert_eq!(store.load_checkpoint("totals").await.unwrap(), None, "{C}");

    let page = vec![
        recorded("x-1", "acc-1", 1, 1, START_MS - DAY_MS),
        recorded("x-2", "acc-1", 2, 2, START_MS - DAY_MS + 1),
    ];
    let written = store
        .write_replica(write(
            adopted.revision,
            page.clone(),
            adopted.pending[1..].to_vec(),
            vec![conflict("c-1")],
        ))
        .await
        .unwrap_or_else(|e| panic!("{C}: confirm: {e}"));
    let Some(store) = reopen(store, Rc::clone(clock)).await else {
        return;
    };
    assert_eq!(state(&store, C).await, written, "{C}: outbox and synced");
    assert!(written.synced, "{C}: synced");
    assert_eq!(log(&store).await, page, "{C}: confirmed log");
    assert_eq!(
        store.stream_version("acc-1").await.unwrap(),
        Some(2),
        "{C}: stream head"
    );
}
