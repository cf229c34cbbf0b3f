//! The store conformance suite: one set of checks that every [`EventStore`] must pass.
//!
//! Written once here and run natively against [`MemoryStore`](crate::MemoryStore) and in
//! headless Chromium against the IndexedDB store, so it uses nothing native-only. Each
//! case takes a fresh, empty store and the [`ManualClock`] that store reads time from,
//! and panics, naming itself, when the store breaks the contract.
//!
//! [`run_all`] hands the factory a new clock (standing at [`START_MS`]) for every case;
//! the factory must build an empty store that takes its time from that clock:
//!
//! ```
//! use chronik_core::{conformance, MemoryStore, SequentialIds};
//!
//! futures::executor::block_on(conformance::run_all(|clock| async move {
//!     MemoryStore::new(clock, SequentialIds::new("evt"))
//! }));
//! ```
//!
//! [`run_replica`] runs the cases of a [`ReplicaStore`](crate::sync::ReplicaStore) (the
//! outbox, confirmed imports, adoption of a local log) the same way, and reopens the
//! store where the factory can, to check that the state is durable:
//!
//! ```
//! use chronik_core::{conformance, MemoryStore, SequentialIds};
//!
//! futures::executor::block_on(conformance::run_replica(
//!     |clock| async move { MemoryStore::new(clock, SequentialIds::new("evt")) },
//!     |_store, _clock| async { None }, // its data goes with it
//! ));
//! ```

use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use serde_json::{json, Value};

use crate::clock::ManualClock;
use crate::event::{ExpectedVersion, Metadata, NewEvent, RecordedEvent};
use crate::limits::{MAX_BATCH_EVENTS, MAX_DEPTH, MAX_NAME_BYTES};
use crate::ndjson::{import_ndjson, ImportOptions};
use crate::store::{
    Checkpoint, Direction, EventStore, ReadAllOptions, ReadStreamOptions, Snapshot,
};
use crate::StoreError;

mod replica;

pub use replica::*;

/// Where every case's clock starts: 2023-11-14T22:13:20Z.
pub const START_MS: i64 = 1_700_000_000_000;

/// One day in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// Runs every conformance case, each against a fresh store made by `make` from a fresh
/// clock standing at [`START_MS`]; the suite moves that clock to test time ranges.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: EventStore,
    F: Fn(Rc<ManualClock>) -> Fut,
    Fut: Future<Output = S>,
{
    macro_rules! run {
        ($($case:ident),* $(,)?) => {$({
            let clock = Rc::new(ManualClock::new(START_MS));
            let store = make(Rc::clone(&clock)).await;
            $case(store, &clock).await;
        })*};
    }
    run!(
        append_then_read_stream,
        expected_version_modes,
        exact_zero_means_no_stream,
        concurrent_exact_appends_one_wins,
        rejected_batches_write_nothing,
        invalid_input_is_rejected,
        idempotent_reappend_returns_the_original_result,
        partial_overlap_is_rejected,
        event_id_used_in_another_stream_is_rejected,
        envelope_round_trips,
        positions_are_gapless_across_streams,
        read_stream_directions_from_version_and_limits,
        read_all_filters_and_limits,
        time_ranges_use_the_injected_clock,
        list_streams_reports_type_and_version,
        snapshots_nearest_below_schema_filter_and_history,
        checkpoints_are_saved_and_replaced,
        stats_count_types_days_streams_and_snapshots,
        large_batch_of_ten_thousand_events,
        import_keeps_ids_versions_positions_and_times,
        import_rejections_write_nothing,
        failed_multi_stream_import_writes_nothing,
        reimport_is_a_no_op_and_other_content_is_refused,
        limits_are_refused_and_nothing_is_written,
        reserved_metadata_keys_are_refused,
    );
}

fn ev(event_type: &str, n: i64) -> NewEvent {
    NewEvent::new(event_type, json!({ "n": n }))
}

fn evs(event_type: &str, range: std::ops::Range<i64>) -> Vec<NewEvent> {
    range.map(|n| ev(event_type, n)).collect()
}

fn versions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.version).collect()
}

fn positions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
}

fn forward(from_version: Option<u64>, limit: Option<usize>) -> ReadStreamOptions {
    ReadStreamOptions {
        from_version,
        limit,
        direction: Direction::Forward,
    }
}

fn backward(from_version: Option<u64>, limit: Option<usize>) -> ReadStreamOptions {
    ReadStreamOptions {
        from_version,
        limit,
        direction: Direction::Backward,
    }
}

/// Polls both futures until both are done: two operations in flight at once, without
/// threads or an executor of our own (so it also runs in the browser).
async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready((ra.take().unwrap(), rb.take().unwrap()))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Appended events come back from the stream in order, with versions 1.. and positions 1..
pub async fn append_then_read_stream<S: EventStore>(store: S, _clock: &ManualClock) {
    const C: &str = "append_then_read_stream";
    let r = store
        .append(
            "s-1",
            ExpectedVersion::NoStream,
            vec![ev("A", 1), ev("B", 2)],
        )
        .await
        .expect("append_then_read_stream: first append");
    assert_eq!((r.first_version, r.last_version), (1, 2), "{C}: versions");
    assert_eq!(
        (r.first_position, r.last_position),
        (1, 2),
        "{C}: positions"
    );
    let events = store
        .read_stream("s-1", ReadStreamOptions::default())
        .await
        .expect("append_then_read_stream: read");
    let seen: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.event_type.as_str(),
                e.version,
                e.position,
                e.data["n"].as_i64(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![("A", 1, 1, Some(1)), ("B", 2, 2, Some(2))],
        "{C}: events"
    );
    let backward = store
        .read_stream("s-1", backward(None, None))
        .await
        .expect("append_then_read_stream: read backward");
    assert_eq!(versions(&backward), vec![2, 1], "{C}: backward");
    assert_eq!(store.stream_version("s-1").await.unwrap(), Some(2), "{C}");
    assert_eq!(store.stream_version("s-2").await.unwrap(), None, "{C}");
    assert_eq!(store.head_position().await.unwrap(), 2, "{C}: head");
}

/// `Any`, `NoStream`, `StreamExists` and `Exact` accept and reject as documented, the
/// conflict carries the expected and actual versions, and a rejected append writes
/// nothing.
pub async fn expected_version_modes<S: EventStore>(store: S, _clock: &ManualClock) {
    const C: &str = "expected_version_modes";
    let err = store
        .append("s-1", ExpectedVersion::StreamExists, vec![ev("A", 1)])
        .await
        .expect_err("expected_version_modes: StreamExists on a missing stream");
    assert_eq!(
        err,
        StoreError::WrongExpectedVersion {
            stream: "s-1".into(),
            expected: ExpectedVersion::StreamExists,
            actual: None
        },
        "{C}"
    );
    store
        .append("s-1", ExpectedVersion::NoStream, vec![ev("A", 1)])
        .await
        .expect("expected_version_modes: NoStream on a missing stream");
    let err = store
        .append("s-1", ExpectedVersion::Exact(3), vec![ev("A", 2)])
        .await
        .expect_err("expected_version_modes: Exact(3) at version 1");
    assert_eq!(
        err,
        StoreError::WrongExpectedVersion {
            stream: "s-1".into(),
            expected: ExpectedVersion::Exact(3),
            actual: Some(1)
        },
        "{C}"
    );
    store
        .append("s-1", ExpectedVersion::Exact(1), vec![ev("A", 2)])
        .await
        .expect("expected_version_modes: Exact(1) at version 1");
    store
        .append("s-1", ExpectedVersion::StreamExists, vec![ev("A", 3)])
        .await
        .expect("expected_version_modes: StreamExists");
    store
        .append("s-1", ExpectedVersion::Any, vec![ev("A", 4)])
        .await
        .expect("expected_version_modes: Any on an existing stream");
    store
        .append("s-2", ExpectedVersion::Any, vec![ev("A", 1)])
        .await
        .expect("expected_version_modes: Any on a missing stream");
    let err = store
        .append("s-1", ExpectedVersion::NoStream, vec![ev("A", 5)])
        .await
        .expect_err("expected_version_modes: NoStream on an existing stream");
    assert_eq!(
        err,
        StoreError::WrongExpectedVersion {
            stream: "s-1".into(),
            expected: ExpectedVersion::NoStream,
            actual: Some(4)
        },
        "{C}"
    );
    assert_eq!(store.stream_version("s-1").await.unwrap(), Some(4), "{C}");
    assert_eq!(store.head_position().await.unwrap(), 5, "{C}: head");
}

/// `Exact(0)` is satisfied only by a stream that does not exist yet.
pub async fn exact_zero_means_no_stream<S: EventStore>(store: S, _clock: &ManualClock) {
    const C: &str = "exact_zero_means_no_stream";
    store
        .append("s-1", ExpectedVersion::Exact(0), vec![ev("A", 1)])
        .await
        .unwrap_or_else(|e| panic!("{C}: Exact(0) on a missing stream: {e}"));
    let err = store
        .append("s-1", ExpectedVersion::Exact(0), vec![ev("A", 2)])
        .await
        .expect_err("exact_zero_means_no_stream: Exact(0) on an existing stream");
    assert!(
        matches!(
            err,
            StoreError::WrongExpectedVersion {
                actual: Some(1),
                ..
            }
        ),
        "{C}: {err:?}"
    );
}

/// Two appends in flight with the same `Exact(v)`: exactly one wins, the other gets the
/// conflict and writes nothing.
pub async fn concurrent_exact_appends_one_wins<S: EventStore>(store: S, _clock: &ManualClock) {
    const C: &str = "concurrent_exact_appends_one_wins";
    store
        .append("s-1", ExpectedVersion::NoStream, vec![ev("A", 1)])
        .await
        .unwrap_or_else(|e| panic!("{C}: setup: {e}"));
    let (a, b) = join2(
        store.append(
            "s-1",
            ExpectedVersion::Exact(1),
            vec![ev("Left", 1), ev("Left", 2)],
        ),
        store.append("s-1", ExpectedVersion::Exact(1), vec![ev("Right", 1)]),
    )
    .await;
    let (winner, loser) = match (&a, &b) {
        (Ok(_), Err(e)) => ("Left", e),
        (Err(e), Ok(_)) => ("Right", e),
        _ => panic!("{C}: exactly one append must win, got {a:?} and {b:?}"),
    };
    let winner_len = if winner == "Left" { 2 } else { 1 };
    assert_eq!(
        loser,
        &StoreError::WrongExpectedVersion {
            stream: "s-1".into(),
            expected: ExpectedVersion::Exact(1),
            actual: Some(1 + winner_len)
        },
        "{C}: the loser's conflict"
    );
    let events = store
        .read_stream("s-1", ReadStreamOptions::default())
        .await
        .unwrap();
    assert_eq!(events.len() as u64, 1 + winner_len, "{C}: stream length");
    assert!(
        events[1..].iter().all(|e| e.event_type == winner),
        "{C}: only the winner's events are stored"
    );
    assert_eq!(store.head_position().await.unwrap(), 1 + winner_len, "{C}");
}

/// A rejected batch writes nothing: no version, no position, no id is used up.
pub async fn rejected_batches_write_nothing<S: EventStore>(store: S, _clock: &ManualClock) {
    const C: &str = "rejected_batches_write_nothing";
    store
        .append("s-1", ExpectedVersion::NoStream, vec![ev("A", 1)])
        .await
        .unwrap_or_else(|e| panic!("{C}: setup: {e}"));
    let batch = vec![
        ev("A", 2).with_id("x-1"),
        ev("A", 3).with_id("x-2"),
        ev("A", 4).with_id("x-3"),
    ];
    store
        .append("s-1", ExpectedVersion::Exact(7), batch.clone())
        .await
        .expect_err("rejected_batches_write_nothing: wrong version");
    let mut with_twice_used_id = batch.clone();
    with_twice_used_id.push(ev("A", 5).with_id("x-1"));
    let err = store
        .append("s-1", ExpectedVersion::Any, with_twice_used_id)
        .await
        .expect_err("rejected_batches_write_nothing: an id twice in one batch");
    assert!(matches!(err, StoreError::InvalidInput(_)), "{C}: {err:?}");
    assert_eq!(store.stream_version("s-1").await.unwrap(), Some(1), "{C}");
    assert_eq!(store.head_position().await.unwrap(), 1, "{C}: head");
    assert_eq!(
        store
            .read_all(ReadAllOptions::default())
            .await
            .unwrap()
            .len(),
        1,
        "{C}: log"
    );
    // The ids are still free, and the next write takes the next version and position.
    let r = store
        .append("s-1", ExpectedVersion::Exact(1), batch)
        .await
        .unwrap_or_else(|e| panic!("{C}: the batch with the right version: {e}"));
    assert_eq!(
        (
            r.first_version,
            r.last_version,
            r.first_position,
            r.last_position
        ),
        (2, 4, 2, 4),
        "{C}: no gap after rejections"
    );
}

/// Empty stream ids, empty batches, empty types and schema version 0 are rejected and
/// write nothing.
pub async fn invalid_input_is_rejected<S: EventStore>(store: S, _clock: &ManualClock) {
    const C: &str = "invalid_input_is_rejected";
    let cases: Vec<(&str, &str, Vec<NewEvent>)> = vec![
        ("empty stream id", "", vec![ev("A", 1)]),
        ("empty batch", "s-1", vec![]),
        ("empty type", "s-1", vec![ev("", 1)]),
        (
            "schema version 0",
            "s-1",
            vec![ev("A", 1).with_schema_version(0)],
        ),
        ("empty id", "s-1", vec![ev("A", 1).with_id("")]),
    ];
    for (what, stream, events) in cases {
        let err = store
            .append(stream, ExpectedVersion::Any, events)
            .await
            .expect_err(what);
        assert!(
            matches!(err, StoreError::InvalidInput(_)),
            "{C}: {what}: {err:?}"
        );
    }
    assert_eq!(store.head_position().await.unwrap(), 0, "{C}: head");
    assert!(
        store.list_streams().await.unwrap().is_empty(),
        "{C}: streams"
    );
}

/// Re-appending a batch whose ids are all stored in that stream returns the original
/// result and writes nothing, whatever the expected version says now.
pub async fn idempotent_reappend_returns_the_original_result<S: EventStore>(
    store: S,
    _clock: &ManualClock,
) {
    const C: &str = "idempotent_reappend_returns_the_original_result";
    let batch = vec![ev("A", 1).with_id("a"), ev("B", 2).with_id("b")];
    let first = store
        .append("s-1", ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap_or_else(|e| panic!("{C}: first: {e}"));
    store
        .append("s-2", ExpectedVersion::Any, vec![ev("C", 3)])
        .await
        .unwrap();
    store
        .append("s-1", ExpectedVersion::Any, vec![ev("D", 4)])
        .await
        .unwrap();
    for expected in [
        ExpectedVersion::NoStream,
        ExpectedVersion::Exact(0),
        ExpectedVersion::Any,
    ] {
        let again = store
            .append("s-1", expected, batch.clone())
            .await
            .unwrap_or_else(|e| panic!("{C}: again with {expected:?}: {e}"));
        assert_eq!(again, first, "{C}: original result with {expected:?}");
    }
    let tail = store
        .append("s-1", ExpectedVersion::Any, vec![batch[1].clone()])
        .await
        .unwrap_or_else(|e| panic!("{C}: a stored suffix: {e}"));
    assert_eq!(
        (tail.first_version, tail.first_position),
        (2, 2),
        "{C}: a stored sub-batch answers with its own place"
    );
    assert_eq!(store.head_position().await.unwrap(), 4, "{C}: head");
    assert_eq!(store.stream_version("s-1").await.unwrap(), Some(3), "{C}");
}

/// A batch that only partly overlaps stored ids is rejected and writes nothing.
pub async fn partial_overlap_is_rejected<S: EventStore>(store: S, _clock: &ManualClock) {
    const C: &str = "partial_overlap_is_rejected";
    store
        .append(
            "s-1",
            ExpectedVersion::NoStream,
            vec![ev("A", 1).with_id("a"), ev("A", 2).with_id("b")],
        )
        .await
        .unwrap_or_else(|e| panic!("{C}: setup: {e}"));
    let err = store
        .append(
            "s-1",
            ExpectedVersion::Any,
            vec![ev("A", 2).with_id("b"), ev("A", 3).with_id("c")],
        )
        .await
        .expect_err("partial_overlap_is_rejected: b stored, c new");
    assert_eq!(
        err,
        StoreError::PartialDuplicate {
            stream: "s-1".into(),
            duplicate_ids: vec!["b".into()]
        },
        "{C}"
    );
    let err = store
        .append(
            "s-1",
            ExpectedVersion::Any,
            vec![ev("A", 2).with_id("b"), ev("A", 1).with_id("a")],
        )
        .await
        .expect_err("partial_overlap_is_rejected: stored ids out of order");
    assert!(
        matches!(err, StoreError::PartialDuplicate { .. }),
        "{C}: {err:?}"
    );
    assert_eq!(store.head_position().await.unwrap(), 2, "{C}: head");
    store
        .append(
            "s-1",
            ExpectedVersion::Exact(2),
            vec![ev("A", 3).with_id("c")],
        )
        .await
        .unwrap_or_else(|e| panic!("{C}: c is still free: {e}"));
}

/// An id stored in one stream cannot be appended to another.
pub async fn event_id_used_in_another_stream_is_rejected<S: EventStore>(
    store: S,
    _clock: &ManualClock,
) {
    const C: &str = "event_id_used_in_another_stream_is_rejected";
    store
        .append("s-1", ExpectedVersion::Any, vec![ev("A", 1).with_id("a")])
        .await
        .unwrap_or_else(|e| panic!("{C}: setup: {e}"));
    let err = store
        .append("s-2", ExpectedVersion::Any, vec![ev("A", 1).with_id("a")])
        .await
        .expect_err("event_id_used_in_another_stream_is_rejected");
    assert_eq!(
        err,
        StoreError::DuplicateEventId {
            event_id: "a".into(),
            existing_stream: "s-1".into()
        },
        "{C}"
    );
    assert_eq!(store.stream_version("s-2").await.unwrap(), None, "{C}");
    assert_eq!(store.head_position().await.unwrap(), 1, "{C}: head");
}

/// Ids, types, schema versions, payloads, metadata and the recording time are stored
/// as given; missing ids are generated, non-empty and unique.
pub async fn envelope_round_trips<S: EventStore>(store: S, clock: &ManualClock) {
    const C: &str = "envelope_round_trips";
    let mut metadata = Metadata {
        correlation_id: Some("corr-1".into()),
        causation_id: Some("cmd-1".into()),
        ..Metadata::default()
    };
    metadata.extra.insert("user".into(), json!("ada"));
    metadata.extra.insert("n".into(), json!([1, 2]));
    let data = json!({ "text": "grüße ✓", "nested": { "list": [1, 2.5, null, true] }, "big": 9_007_199_254_740_991_u64 });
    clock.advance(1234);
    store
        .append(
            "order-7",
            ExpectedVersion::NoStream,
            vec![
                NewEvent::new("Placed", data.clone())
                    .with_id("given-id")
                    .with_schema_version(3)
                    .with_metadata(metadata.clone()),
                NewEvent::new("Paid", Value::Null),
                NewEvent::new("Shipped", json!([])),
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("{C}: append: {e}"));
    let events = store
        .read_stream("order-7", ReadStreamOptions::default())
        .await
        .unwrap();
    let e = &events[0];
    assert_eq!(e.event_id, "given-id", "{C}: id");
    assert_eq!(e.stream_id, "order-7", "{C}: stream");
    assert_eq!(e.event_type, "Placed", "{C}: type");
    assert_eq!(e.schema_version, 3, "{C}: schema version");
    assert_eq!(e.data, data, "{C}: data");
    assert_eq!(e.metadata, metadata, "{C}: metadata");
    assert_eq!(
        e.recorded_at,
        START_MS + 1234,
        "{C}: recorded_at from the clock"
    );
    assert_eq!(events[1].data, Value::Null, "{C}: null data");
    assert_eq!(events[1].schema_version, 1, "{C}: default schema version");
    assert_eq!(
        events[1].metadata,
        Metadata::default(),
        "{C}: empty metadata"
    );
    let generated = [&events[1].event_id, &events[2].event_id];
    assert!(
        generated
            .iter()
            .all(|id| !id.is_empty() && *id != "given-id")
            && generated[0] != generated[1],
        "{C}: generated ids {generated:?}"
    );
    let by_all = store.read_all(ReadAllOptions::default()).await.unwrap();
    assert_eq!(by_all, events, "{C}: the log holds the same envelopes");
}

/// Appends to several streams interleave in one gapless global order, and every stream
/// keeps contiguous versions.
pub async fn positions_are_gapless_across_streams<S: EventStore>(store: S, _clock: &ManualClock) {
    const C: &str = "positions_are_gapless_across_streams";
    let plan = [
        ("a-1", 2),
        ("b-1", 1),
        ("a-1", 3),
        ("c-1", 2),
        ("b-1", 1),
        ("a-2", 1),
    ];
    let mut expected_order = Vec::new();
    for (i, (stream, n)) in plan.iter().enumerate() {
        let events = (0..*n)
            .map(|k| ev("E", (i * 10 + k) as i64))
            .collect::<Vec<_>>();
        store
            .append(stream, ExpectedVersion::Any, events)
            .await
            .unwrap_or_else(|e| panic!("{C}: append {i}: {e}"));
        for k in 0..*n {
            expected_order.push((stream.to_string(), (i * 10 + k) as i64));
        }
    }
    let all = store.read_all(ReadAllOptions::default()).await.unwrap();
    assert_eq!(
        positions(&all),
        (1..=10).collect::<Vec<u64>>(),
        "{C}: gapless positions"
    );
    let order: Vec<_> = all
        .iter()
        .map(|e| (e.stream_id.clone(), e.data["n"].as_i64().unwrap()))
        .collect();
    assert_eq!(order, expected_order, "{C}: append order");
    for (stream, len) in [("a-1", 5), ("b-1", 2), ("c-1", 2), ("a-2", 1)] {
        let events = store
            .read_stream(stream, ReadStreamOptions::default())
            .await
            .unwrap();
        assert_eq!(
            versions(&events),
            (1..=len).collect::<Vec<u64>>(),
            "{C}: contiguous versions of {stream}"
        );
        assert!(
            events.windows(2).all(|w| w[0].position < w[1].position),
            "{C}: {stream} in position order"
        );
    }
    assert_eq!(store.head_position().await.unwrap(), 10, "{C}: head");
}

/// Stream reads honor direction, `from_version` and `limit`.
pub async fn read_stream_directions_from_version_and_limits<S: EventStore>(
    store: S,
    _clock: &ManualClock,
) {
    const C: &str = "read_stream_directions_from_version_and_limits";
    store
        .append("s-1", ExpectedVersion::NoStream, evs("A", 1..6))
        .await
        .unwrap_or_else(|e| panic!("{C}: setup: {e}"));
    let cases: Vec<(&str, ReadStreamOptions, Vec<u64>)> = vec![
        ("all forward", forward(None, None), vec![1, 2, 3, 4, 5]),
        ("forward from 3", forward(Some(3), None), vec![3, 4, 5]),
        ("forward from 3, 2", forward(Some(3), Some(2)), vec![3, 4]),
        ("forward from 0", forward(Some(0), Some(1)), vec![1]),
        ("forward past the end", forward(Some(6), None), vec![]),
        ("forward limit 0", forward(None, Some(0)), vec![]),
        ("all backward", backward(None, None), vec![5, 4, 3, 2, 1]),
        ("backward from 3", backward(Some(3), None), vec![3, 2, 1]),
        ("backward from 3, 2", backward(Some(3), Some(2)), vec![3, 2]),
        ("backward limit 2", backward(None, Some(2)), vec![5, 4]),
        (
            "backward from past the end",
            backward(Some(99), Some(1)),
            vec![5],
        ),
        ("backward from 0", backward(Some(0), None), vec![]),
    ];
    for (what, options, expected) in cases {
        let events = store.read_stream("s-1", options).await.unwrap();
        assert_eq!(versions(&events), expected, "{C}: {what}");
    }
    assert!(
        store
            .read_stream("missing", ReadStreamOptions::default())
            .await
            .unwrap()
            .is_empty(),
        "{C}: a missing stream reads as empty"
    );
}

/// The global log honors `from_position`, `limit` (after filtering), event type and
/// stream prefix filters.
pub async fn read_all_filters_and_limits<S: EventStore>(store: S, _clock: &ManualClock) {
    const C: &str = "read_all_filters_and_limits";
    for (stream, t) in [
        ("order-1", "Placed"),
        ("account-1", "Opened"),
        ("order-1", "Paid"),
        ("order-2", "Placed"),
        ("account-1", "Deposited"),
        ("orders-x", "Placed"),
    ] {
        store
            .append(stream, ExpectedVersion::Any, vec![ev(t, 0)])
            .await
            .unwrap_or_else(|e| panic!("{C}: setup: {e}"));
    }
    let read = |options: ReadAllOptions| {
        let store = &store;
        async move { positions(&store.read_all(options).await.unwrap()) }
    };
    let types = |ts: &[&str]| Some(ts.iter().map(|t| t.to_string()).collect::<Vec<_>>());
    assert_eq!(
        read(ReadAllOptions::default()).await,
        vec![1, 2, 3, 4, 5, 6],
        "{C}: all"
    );
    let from3 = ReadAllOptions {
        from_position: 3,
        ..Default::default()
    };
    assert_eq!(read(from3.clone()).await, vec![3, 4, 5, 6], "{C}: from 3");
    assert_eq!(
        read(ReadAllOptions {
            limit: Some(2),
            ..from3
        })
        .await,
        vec![3, 4],
        "{C}: from 3, limit 2"
    );
    assert_eq!(
        read(ReadAllOptions {
            from_position: 7,
            ..Default::default()
        })
        .await,
        Vec::<u64>::new(),
        "{C}: past the head"
    );
    assert_eq!(
        read(ReadAllOptions {
            event_types: types(&["Placed"]),
            ..Default::default()
        })
        .await,
        vec![1, 4, 6],
        "{C}: one type"
    );
    assert_eq!(
        read(ReadAllOptions {
            event_types: types(&["Paid", "Opened"]),
            ..Default::default()
        })
        .await,
        vec![2, 3],
        "{C}: two types"
    );
    assert_eq!(
        read(ReadAllOptions {
            event_types: types(&[]),
            ..Default::default()
        })
        .await,
        Vec::<u64>::new(),
        "{C}: no type"
    );
    assert_eq!(
        read(ReadAllOptions {
            stream_prefix: Some("order-".into()),
            ..Default::default()
        })
        .await,
        vec![1, 3, 4],
        "{C}: prefix"
    );
    assert_eq!(
        read(ReadAllOptions {
            stream_prefix: Some("order".into()),
            event_types: types(&["Placed"]),
            from_position: 2,
            limit: Some(1),
        })
        .await,
        vec![4],
        "{C}: prefix, type, from and limit"
    );
}

/// Time-range reads use `recorded_at` from the injected clock, `[from, to)`, in
/// position order, with a limit.
pub async fn time_ranges_use_the_injected_clock<S: EventStore>(store: S, clock: &ManualClock) {
    const C: &str = "time_ranges_use_the_injected_clock";
    let t0 = START_MS;
    store
        .append("s-1", ExpectedVersion::Any, evs("A", 0..2))
        .await
        .unwrap_or_else(|e| panic!("{C}: t0: {e}"));
    clock.advance(1_000);
    store
        .append("s-2", ExpectedVersion::Any, evs("B", 0..1))
        .await
        .unwrap_or_else(|e| panic!("{C}: t0+1s: {e}"));
    clock.advance(DAY_MS);
    store
        .append("s-1", ExpectedVersion::Any, evs("C", 0..3))
        .await
        .unwrap_or_else(|e| panic!("{C}: t0+1d: {e}"));
    let all = store.read_all(ReadAllOptions::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.recorded_at - t0).collect::<Vec<_>>(),
        vec![0, 0, 1_000, 1_000 + DAY_MS, 1_000 + DAY_MS, 1_000 + DAY_MS],
        "{C}: recorded_at"
    );
    let range = |from: i64, to: i64, limit: Option<usize>| {
        let store = &store;
        let options = ReadAllOptions {
            limit,
            ..ReadAllOptions::default()
        };
        async move { positions(&store.read_time_range(from, to, options).await.unwrap()) }
    };
    let filtered = |from: i64, to: i64, options: ReadAllOptions| {
        let store = &store;
        async move { positions(&store.read_time_range(from, to, options).await.unwrap()) }
    };
    assert_eq!(
        range(t0, t0 + 1_000, None).await,
        vec![1, 2],
        "{C}: end is exclusive"
    );
    assert_eq!(
        range(t0, t0 + 1_001, None).await,
        vec![1, 2, 3],
        "{C}: start inclusive"
    );
    assert_eq!(
        range(t0 + 1, t0 + 1_000, None).await,
        Vec::<u64>::new(),
        "{C}: empty"
    );
    assert_eq!(
        range(t0 + 1_000, i64::MAX, None).await,
        vec![3, 4, 5, 6],
        "{C}: open end"
    );
    assert_eq!(
        range(i64::MIN, i64::MAX, Some(4)).await,
        vec![1, 2, 3, 4],
        "{C}: limit"
    );
    assert_eq!(
        range(t0 + DAY_MS, t0 + 2 * DAY_MS, Some(2)).await,
        vec![4, 5],
        "{C}: next day, limit"
    );
    assert_eq!(
        range(t0 + 5, t0, None).await,
        Vec::<u64>::new(),
        "{C}: reversed"
    );
    // A page of a time-filtered log: the same filters as `read_all`, the limit applied
    // after filtering, from a position on.
    let all_time = (i64::MIN, i64::MAX);
    assert_eq!(
        filtered(
            all_time.0,
            all_time.1,
            ReadAllOptions {
                event_types: Some(vec!["C".into()]),
                ..ReadAllOptions::default()
            }
        )
        .await,
        vec![4, 5, 6],
        "{C}: by type"
    );
    assert_eq!(
        filtered(
            t0,
            t0 + 2 * DAY_MS,
            ReadAllOptions {
                stream_prefix: Some("s-1".into()),
                limit: Some(3),
                ..ReadAllOptions::default()
            }
        )
        .await,
        vec![1, 2, 4],
        "{C}: by stream prefix, limited after filtering"
    );
    assert_eq!(
        filtered(
            t0,
            t0 + 2 * DAY_MS,
            ReadAllOptions {
                from_position: 5,
                stream_prefix: Some("s-1".into()),
                ..ReadAllOptions::default()
            }
        )
        .await,
        vec![5, 6],
        "{C}: the next page, from a position"
    );
    assert_eq!(
        filtered(
            t0 + 1_000,
            t0 + 1_001,
            ReadAllOptions {
                event_types: Some(vec!["A".into()]),
                ..ReadAllOptions::default()
            }
        )
        .await,
        Vec::<u64>::new(),
        "{C}: nothing of that type in the range"
    );
}

/// `list_streams` gives every stream, ordered by id, with its type, version, last
/// position and last update time.
pub async fn list_streams_reports_type_and_version<S: EventStore>(store: S, clock: &ManualClock) {
    const C: &str = "list_streams_reports_type_and_version";
    assert!(store.list_streams().await.unwrap().is_empty(), "{C}: empty");
    store
        .append("order-2", ExpectedVersion::Any, evs("A", 0..2))
        .await
        .unwrap();
    clock.advance(10);
    store
        .append("account-1", ExpectedVersion::Any, evs("A", 0..1))
        .await
        .unwrap();
    clock.advance(10);
    store
        .append("order-2", ExpectedVersion::Any, evs("A", 0..1))
        .await
        .unwrap();
    store
        .append("plain", ExpectedVersion::Any, evs("A", 0..1))
        .await
        .unwrap();
    let seen: Vec<_> = store
        .list_streams()
        .await
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.stream_id,
                s.stream_type,
                s.version,
                s.last_position,
                s.updated_at - START_MS,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("account-1".into(), "account".into(), 1, 3, 10),
            ("order-2".into(), "order".into(), 3, 4, 20),
            ("plain".into(), "plain".into(), 1, 5, 20),
        ],
        "{C}"
    );
}

fn snapshot(stream: &str, version: u64, schema_version: u32, tag: &str) -> Snapshot {
    Snapshot {
        stream_id: stream.into(),
        version,
        schema_version,
        state: json!({ "tag": tag, "version": version }),
        taken_at: START_MS + version as i64,
    }
}

/// Snapshots: the nearest at or below a version with the asked schema version, all kept
/// as history, replaced per (stream, version), counted over all streams.
pub async fn snapshots_nearest_below_schema_filter_and_history<S: EventStore>(
    store: S,
    _clock: &ManualClock,
) {
    const C: &str = "snapshots_nearest_below_schema_filter_and_history";
    assert_eq!(store.snapshot_count().await.unwrap(), 0, "{C}: empty");
    assert_eq!(
        store.load_snapshot("a-1", 1, None).await.unwrap(),
        None,
        "{C}: none yet"
    );
    for s in [
        snapshot("a-1", 10, 1, "ten"),
        snapshot("a-1", 5, 1, "five"),
        snapshot("a-1", 7, 2, "seven-v2"),
        snapshot("a-10", 3, 1, "other stream"),
        snapshot("a", 4, 1, "prefix stream"),
    ] {
        store
            .save_snapshot(s)
            .await
            .unwrap_or_else(|e| panic!("{C}: save: {e}"));
    }
    let load = |schema: u32, below: Option<u64>| {
        let store = &store;
        async move {
            store
                .load_snapshot("a-1", schema, below)
                .await
                .unwrap()
                .map(|s| s.version)
        }
    };
    assert_eq!(load(1, None).await, Some(10), "{C}: newest");
    assert_eq!(load(1, Some(10)).await, Some(10), "{C}: at");
    assert_eq!(load(1, Some(9)).await, Some(5), "{C}: nearest below");
    assert_eq!(load(1, Some(4)).await, None, "{C}: none below");
    assert_eq!(load(2, None).await, Some(7), "{C}: schema 2");
    assert_eq!(load(2, Some(6)).await, None, "{C}: schema 2 below 6");
    assert_eq!(load(3, None).await, None, "{C}: unknown schema");
    let full = store.load_snapshot("a-1", 1, Some(5)).await.unwrap();
    assert_eq!(full, Some(snapshot("a-1", 5, 1, "five")), "{C}: content");
    store
        .save_snapshot(snapshot("a-1", 5, 1, "five again"))
        .await
        .unwrap();
    let history = store.list_snapshots("a-1").await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|s| (s.version, s.state["tag"].as_str().unwrap()))
            .collect::<Vec<_>>(),
        vec![(5, "five again"), (7, "seven-v2"), (10, "ten")],
        "{C}: history, oldest first, replaced per version"
    );
    assert_eq!(store.snapshot_count().await.unwrap(), 5, "{C}: count");
    assert!(store.list_snapshots("b-1").await.unwrap().is_empty(), "{C}");
}

/// Checkpoints keep position and state together; the last save wins.
pub async fn checkpoints_are_saved_and_replaced<S: EventStore>(store: S, _clock: &ManualClock) {
    const C: &str = "checkpoints_are_saved_and_replaced";
    assert_eq!(store.load_checkpoint("totals").await.unwrap(), None, "{C}");
    let first = Checkpoint {
        name: "totals".into(),
        position: 3,
        state: json!({ "sum": 6 }),
        updated_at: START_MS,
    };
    store.save_checkpoint(first.clone()).await.unwrap();
    store
        .save_checkpoint(Checkpoint {
            name: "other".into(),
            position: 1,
            state: json!([]),
            updated_at: START_MS,
        })
        .await
        .unwrap();
    assert_eq!(
        store.load_checkpoint("totals").await.unwrap(),
        Some(first),
        "{C}: saved"
    );
    let second = Checkpoint {
        name: "totals".into(),
        position: 9,
        state: json!({ "sum": 45, "list": [1, 2] }),
        updated_at: START_MS + 5,
    };
    store.save_checkpoint(second.clone()).await.unwrap();
    assert_eq!(
        store.load_checkpoint("totals").await.unwrap(),
        Some(second),
        "{C}: replaced"
    );
    assert_eq!(
        store
            .load_checkpoint("other")
            .await
            .unwrap()
            .map(|c| c.position),
        Some(1),
        "{C}: independent"
    );
}

/// [`EventStore::stats`] counts events by type and by UTC day, streams and snapshots.
pub async fn stats_count_types_days_streams_and_snapshots<S: EventStore>(
    store: S,
    clock: &ManualClock,
) {
    const C: &str = "stats_count_types_days_streams_and_snapshots";
    let empty = store.stats().await.unwrap();
    assert_eq!(empty.event_count, 0, "{C}: empty");
    store
        .append("account-1", ExpectedVersion::Any, evs("Deposited", 0..3))
        .await
        .unwrap();
    clock.advance(DAY_MS);
    store
        .append("account-2", ExpectedVersion::Any, evs("Opened", 0..1))
        .await
        .unwrap();
    store
        .append("order-1", ExpectedVersion::Any, evs("Deposited", 0..1))
        .await
        .unwrap();
    store
        .save_snapshot(snapshot("account-1", 3, 1, "s"))
        .await
        .unwrap();
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.event_count, 5, "{C}: events");
    assert_eq!(stats.stream_count, 3, "{C}: streams");
    assert_eq!(stats.snapshot_count, 1, "{C}: snapshots");
    let pairs = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter().map(|(k, v)| (k.clone(), *v)).collect::<Vec<_>>()
    };
    assert_eq!(
        pairs(&stats.events_by_type),
        vec![("Deposited".into(), 4), ("Opened".into(), 1)],
        "{C}: by type"
    );
    assert_eq!(
        pairs(&stats.events_by_day),
        vec![("2023-11-14".into(), 3), ("2023-11-15".into(), 2)],
        "{C}: by day"
    );
    assert_eq!(
        pairs(&stats.streams_by_type),
        vec![("account".into(), 2), ("order".into(), 1)],
        "{C}: streams by type"
    );
}

/// A batch of 10,000 events is stored atomically with contiguous versions and positions.
pub async fn large_batch_of_ten_thousand_events<S: EventStore>(store: S, _clock: &ManualClock) {
    const C: &str = "large_batch_of_ten_thousand_events";
    store
        .append("small-1", ExpectedVersion::Any, evs("A", 0..1))
        .await
        .unwrap();
    let r = store
        .append("big-1", ExpectedVersion::NoStream, evs("Big", 0..10_000))
        .await
        .unwrap_or_else(|e| panic!("{C}: append: {e}"));
    assert_eq!(
        (
            r.first_version,
            r.last_version,
            r.first_position,
            r.last_position
        ),
        (1, 10_000, 2, 10_001),
        "{C}: result"
    );
    assert_eq!(
        store.stream_version("big-1").await.unwrap(),
        Some(10_000),
        "{C}"
    );
    assert_eq!(store.head_position().await.unwrap(), 10_001, "{C}: head");
    let events = store
        .read_stream("big-1", ReadStreamOptions::default())
        .await
        .unwrap();
    assert_eq!(events.len(), 10_000, "{C}: read back");
    assert!(
        events
            .iter()
            .enumerate()
            .all(|(i, e)| e.version == i as u64 + 1
                && e.position == i as u64 + 2
                && e.data["n"] == json!(i)),
        "{C}: contiguous and in order"
    );
    let tail = store
        .read_stream("big-1", backward(None, Some(3)))
        .await
        .unwrap();
    assert_eq!(versions(&tail), vec![10_000, 9_999, 9_998], "{C}: tail");
    let page = store
        .read_all(ReadAllOptions {
            from_position: 5_000,
            limit: Some(100),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        positions(&page),
        (5_000..5_100).collect::<Vec<u64>>(),
        "{C}: a page of the log"
    );
}

/// An event recorded elsewhere, as an import brings it.
fn recorded(id: &str, stream: &str, version: u64, position: u64, at: i64) -> RecordedEvent {
    RecordedEvent {
        event_id: id.into(),
        stream_id: stream.into(),
        version,
        position,
        event_type: "Imported".into(),
        schema_version: 2,
        data: json!({ "id": id, "nested": { "list": [1, 2.5, "x", null] } }),
        metadata: Metadata {
            correlation_id: Some("corr".into()),
            causation_id: Some(format!("cause-{id}")),
            extra: [("origin".to_string(), json!("backup"))]
                .into_iter()
                .collect(),
        },
        recorded_at: at,
    }
}

/// `import_events` stores events of several streams exactly as given, in one call (ids,
/// versions, positions, types, schema versions, payloads, metadata and `recorded_at`,
/// not the store's clock); they are found by every read, the same import again is
/// refused (its ids are stored) and writes nothing, and later appends follow on.
pub async fn import_keeps_ids_versions_positions_and_times<S: EventStore>(
    store: S,
    clock: &ManualClock,
) {
    const C: &str = "import_keeps_ids_versions_positions_and_times";
    let old = START_MS - 30 * DAY_MS;
    let first = vec![
        recorded("x-1", "acc-1", 1, 1, old),
        recorded("x-2", "acc-1", 2, 2, old + 5),
    ];
    let second = vec![recorded("x-3", "acc-2", 1, 3, old + 9)];
    let all_imported = [first.clone(), second.clone()].concat();
    let n = store
        .import_events(all_imported.clone())
        .await
        .unwrap_or_else(|e| panic!("{C}: import: {e}"));
    assert_eq!(n, 3, "{C}: events written");
    let stream = store
        .read_stream("acc-1", ReadStreamOptions::default())
        .await
        .unwrap();
    assert_eq!(stream, first, "{C}: read back exactly");
    let all = store.read_all(ReadAllOptions::default()).await.unwrap();
    assert_eq!(all, all_imported, "{C}: the log");
    let range = store
        .read_time_range(old, old + 6, ReadAllOptions::default())
        .await
        .unwrap();
    assert_eq!(
        positions(&range),
        vec![1, 2],
        "{C}: found by their own time"
    );
    let streams = store.list_streams().await.unwrap();
    assert_eq!(
        streams
            .iter()
            .map(|s| (
                s.stream_id.as_str(),
                s.version,
                s.last_position,
                s.updated_at
            ))
            .collect::<Vec<_>>(),
        vec![("acc-1", 2, 2, old + 5), ("acc-2", 1, 3, old + 9)],
        "{C}: streams"
    );

    // The same events again: their ids are stored, so nothing is written.
    let err = store
        .import_events(first.clone())
        .await
        .expect_err("import_keeps_ids_versions_positions_and_times: repeated import");
    assert!(
        matches!(err, StoreError::DuplicateEventId { .. }),
        "{C}: repeated import: {err:?}"
    );
    assert_eq!(store.head_position().await.unwrap(), 3, "{C}: head");

    // Appends continue after the imported events, at the store's own time.
    clock.set(START_MS + DAY_MS);
    let next = store
        .append("acc-1", ExpectedVersion::Exact(2), vec![ev("After", 1)])
        .await
        .unwrap_or_else(|e| panic!("{C}: append after import: {e}"));
    assert_eq!((next.first_version, next.first_position), (3, 4), "{C}");
    let last = store
        .read_stream("acc-1", forward(Some(3), None))
        .await
        .unwrap();
    assert_eq!(last[0].recorded_at, START_MS + DAY_MS, "{C}: clock time");
    // An id taken by an import cannot be appended again elsewhere.
    let err = store
        .append(
            "acc-9",
            ExpectedVersion::Any,
            vec![ev("A", 1).with_id("x-1")],
        )
        .await
        .expect_err("import_keeps_ids_versions_positions_and_times: reused id");
    assert!(
        matches!(err, StoreError::DuplicateEventId { .. }),
        "{C}: {err:?}"
    );
}

/// Imports that do not continue the streams and the log exactly, or that clash with
/// stored ids, are rejected and write nothing.
pub async fn import_rejections_write_nothing<S: EventStore>(store: S, _clock: &ManualClock) {
    const C: &str = "import_rejections_write_nothing";
    store
        .append(
            "s-1",
            ExpectedVersion::NoStream,
            vec![ev("A", 1).with_id("a-1")],
        )
        .await
        .unwrap_or_else(|e| panic!("{C}: setup: {e}"));
    let at = START_MS;
    let cases: Vec<(&str, Vec<RecordedEvent>)> = vec![
        ("an empty batch", vec![]),
        ("an empty id", vec![recorded("", "s-2", 1, 2, at)]),
        ("a blank id", vec![recorded(" \t", "s-2", 1, 2, at)]),
        ("an empty stream id", vec![recorded("i-1", "", 1, 2, at)]),
        (
            "a version that skips ahead",
            vec![recorded("i-1", "s-2", 2, 2, at)],
        ),
        (
            "a version already taken",
            vec![recorded("i-1", "s-1", 1, 2, at)],
        ),
        ("a gap in positions", vec![recorded("i-1", "s-2", 1, 3, at)]),
        (
            "a position already taken",
            vec![recorded("i-1", "s-2", 1, 1, at)],
        ),
        (
            "non-contiguous versions in the batch",
            vec![
                recorded("i-1", "s-2", 1, 2, at),
                recorded("i-2", "s-2", 3, 3, at),
            ],
        ),
        (
            "positions out of order across streams",
            vec![
                recorded("i-1", "s-2", 1, 3, at),
                recorded("i-2", "s-3", 1, 2, at),
            ],
        ),
        (
            "an id twice in the batch",
            vec![
                recorded("i-1", "s-2", 1, 2, at),
                recorded("i-1", "s-3", 1, 3, at),
            ],
        ),
    ];
    for (what, events) in cases {
        let err = store.import_events(events).await.expect_err(what);
        assert!(
            matches!(err, StoreError::InvalidInput(_)),
            "{C}: {what}: {err:?}"
        );
    }
    for (what, events) in [
        (
            "an id of another stream",
            vec![recorded("a-1", "s-2", 1, 2, at)],
        ),
        (
            "an id stored at this very place",
            vec![recorded("a-1", "s-1", 1, 1, at)],
        ),
    ] {
        let err = store.import_events(events).await.expect_err(what);
        assert_eq!(
            err,
            StoreError::DuplicateEventId {
                event_id: "a-1".into(),
                existing_stream: "s-1".into()
            },
            "{C}: {what}"
        );
    }
    assert_eq!(
        store.head_position().await.unwrap(),
        1,
        "{C}: nothing written"
    );
    assert_eq!(store.stream_version("s-2").await.unwrap(), None, "{C}");
    let ok = store
        .import_events(vec![recorded("i-1", "s-2", 1, 2, at)])
        .await
        .unwrap_or_else(|e| panic!("{C}: a valid import after the rejections: {e}"));
    assert_eq!(ok, 1, "{C}");
    assert_eq!(store.stream_version("s-2").await.unwrap(), Some(1), "{C}");
}

/// An import of several streams that fails on its very last event (a version gap, or
/// an id already stored) writes none of its events: no stream, no position, no id.
pub async fn failed_multi_stream_import_writes_nothing<S: EventStore>(
    store: S,
    _clock: &ManualClock,
) {
    const C: &str = "failed_multi_stream_import_writes_nothing";
    store
        .append(
            "s-1",
            ExpectedVersion::NoStream,
            vec![ev("A", 1).with_id("a-1")],
        )
        .await
        .unwrap_or_else(|e| panic!("{C}: setup: {e}"));
    let at = START_MS;
    let good = vec![
        recorded("i-1", "s-2", 1, 2, at),
        recorded("i-2", "s-3", 1, 3, at),
        recorded("i-3", "s-2", 2, 4, at),
        recorded("i-4", "s-1", 2, 5, at),
    ];
    let mut gap = good.clone();
    gap.push(recorded("i-5", "s-3", 3, 6, at));
    let mut taken = good.clone();
    taken.push(recorded("a-1", "s-3", 2, 6, at));
    let mut too_deep = good.clone();
    too_deep.push(RecordedEvent {
        data: nested(MAX_DEPTH + 1),
        ..recorded("i-5", "s-3", 2, 6, at)
    });
    for (what, events) in [
        ("a version gap last", gap),
        ("a stored id last", taken),
        ("too deep data last", too_deep),
    ] {
        store.import_events(events).await.expect_err(what);
        assert_eq!(store.head_position().await.unwrap(), 1, "{C}: {what}: head");
        assert_eq!(
            store.stream_version("s-1").await.unwrap(),
            Some(1),
            "{C}: {what}"
        );
        for stream in ["s-2", "s-3"] {
            assert_eq!(
                store.stream_version(stream).await.unwrap(),
                None,
                "{C}: {what}: {stream}"
            );
        }
        assert_eq!(
            store.list_streams().await.unwrap().len(),
            1,
            "{C}: {what}: streams"
        );
    }
    // Nothing was taken: the good part imports with the same ids and positions.
    assert_eq!(store.import_events(good.clone()).await, Ok(4), "{C}");
    let all = store.read_all(ReadAllOptions::default()).await.unwrap();
    assert_eq!(&all[1..], &good[..], "{C}: the log");
}

/// `import_ndjson` of the same file twice writes once: the second run skips every
/// event. A file in which one stored event has other content is refused naming the
/// line, and nothing of it is written, not even its new events.
pub async fn reimport_is_a_no_op_and_other_content_is_refused<S: EventStore>(
    store: S,
    _clock: &ManualClock,
) {
    const C: &str = "reimport_is_a_no_op_and_other_content_is_refused";
    let at = START_MS - DAY_MS;
    let events = vec![
        recorded("r-1", "acc-1", 1, 1, at),
        recorded("r-2", "acc-2", 1, 2, at + 1),
        recorded("r-3", "acc-1", 2, 3, at + 2),
    ];
    let line = |e: &RecordedEvent| serde_json::to_string(e).unwrap() + "\n";
    let text: String = events.iter().map(line).collect();
    let import = |text: String| {
        let store = &store;
        async move { import_ndjson(store, &text, ImportOptions::default(), |_| {}).await }
    };
    let first = import(text.clone())
        .await
        .unwrap_or_else(|e| panic!("{C}: import: {e}"));
    assert_eq!(
        (first.imported, first.skipped, first.error_count),
        (3, 0, 0),
        "{C}: {first:?}"
    );
    let again = import(text.clone())
        .await
        .unwrap_or_else(|e| panic!("{C}: again: {e}"));
    assert_eq!(
        (again.imported, again.skipped, again.error_count),
        (0, 3, 0),
        "{C}: {again:?}"
    );
    assert_eq!(store.head_position().await.unwrap(), 3, "{C}: head");

    // Line 2 now differs in its data; line 4 is new and must not be written either.
    let mut changed = events.clone();
    changed[1].data = json!({ "other": true });
    changed.push(recorded("r-4", "acc-2", 2, 4, at + 3));
    let text: String = changed.iter().map(line).collect();
    let report = import(text)
        .await
        .unwrap_or_else(|e| panic!("{C}: changed: {e}"));
    assert_eq!(report.imported, 0, "{C}: {report:?}");
    assert_eq!(report.error_count, 1, "{C}: {report:?}");
    assert_eq!(report.errors[0].line, 2, "{C}: {report:?}");
    assert_eq!(
        report.errors[0].to_string(),
        "line 2: event 'r-2' is already stored with other content (data differs)",
        "{C}"
    );
    assert_eq!(
        store.head_position().await.unwrap(),
        3,
        "{C}: nothing written"
    );
    let stored = store.read_all(ReadAllOptions::default()).await.unwrap();
    assert_eq!(stored, events, "{C}: the stored events are untouched");
}

/// `depth` levels of arrays around a number (`nested(1)` is `[1]`).
fn nested(depth: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..depth {
        value = Value::Array(vec![value]);
    }
    value
}

/// Appends and imports over the limits of [`crate::limits`] (nesting depth, name
/// length, blank ids, batch size) are refused, naming the event, and write nothing;
/// values exactly at the limits are accepted.
pub async fn limits_are_refused_and_nothing_is_written<S: EventStore>(
    store: S,
    _clock: &ManualClock,
) {
    const C: &str = "limits_are_refused_and_nothing_is_written";
    let long = "x".repeat(MAX_NAME_BYTES + 1);
    let deep_extra = Metadata {
        extra: [("k".to_string(), nested(MAX_DEPTH + 1))]
            .into_iter()
            .collect(),
        ..Metadata::default()
    };
    let long_correlation = Metadata {
        correlation_id: Some(long.clone()),
        ..Metadata::default()
    };
    let cases: Vec<(&str, &str, Vec<NewEvent>, &str)> = vec![
        (
            "too deep data",
            "s-1",
            vec![ev("A", 1), NewEvent::new("A", nested(MAX_DEPTH + 1))],
            "event 1 of the batch: data nests deeper than 64 levels",
        ),
        (
            "too deep metadata",
            "s-1",
            vec![ev("A", 1).with_metadata(deep_extra)],
            "event 0 of the batch: metadata 'k' nests deeper than 64 levels",
        ),
        (
            "a long stream id",
            &long,
            vec![ev("A", 1)],
            "stream id is 1025 bytes long",
        ),
        (
            "a long type",
            "s-1",
            vec![NewEvent::new(long.clone(), json!(1))],
            "event 0 of the batch: event type is 1025 bytes long",
        ),
        (
            "a long id",
            "s-1",
            vec![ev("A", 1).with_id(long.clone())],
            "event 0 of the batch: event id is 1025 bytes long",
        ),
        (
            "a blank id",
            "s-1",
            vec![ev("A", 1).with_id("  ")],
            "event 0 of the batch: event id must not be empty",
        ),
        (
            "a long correlation id",
            "s-1",
            vec![ev("A", 1), ev("A", 2).with_metadata(long_correlation)],
            "event 1 of the batch: correlation id is 1025 bytes long",
        ),
        (
            "too many events",
            "s-1",
            (0..=MAX_BATCH_EVENTS).map(|_| ev("A", 0)).collect(),
            "at most 100000 are allowed",
        ),
    ];
    for (what, stream, events, message) in cases {
        let err = store
            .append(stream, ExpectedVersion::Any, events)
            .await
            .expect_err(what);
        match &err {
            StoreError::InvalidInput(m) => assert!(m.contains(message), "{C}: {what}: {m}"),
            other => panic!("{C}: {what}: {other:?}"),
        }
    }
    let err = store
        .import_events(vec![RecordedEvent {
            data: nested(MAX_DEPTH + 1),
            ..recorded("i-1", "s-1", 1, 1, START_MS)
        }])
        .await
        .expect_err("limits_are_refused_and_nothing_is_written: import");
    assert!(matches!(err, StoreError::InvalidInput(_)), "{C}: {err:?}");
    assert_eq!(store.head_position().await.unwrap(), 0, "{C}: head");
    assert!(
        store.list_streams().await.unwrap().is_empty(),
        "{C}: streams"
    );

    // Exactly at the limits: accepted, and read back unchanged.
    let at_limit = Metadata {
        correlation_id: Some("c".repeat(MAX_NAME_BYTES)),
        extra: [("k".to_string(), nested(MAX_DEPTH))].into_iter().collect(),
        ..Metadata::default()
    };
    let name = "s".repeat(MAX_NAME_BYTES);
    store
        .append(
            &name,
            ExpectedVersion::NoStream,
            vec![NewEvent::new("t".repeat(MAX_NAME_BYTES), nested(MAX_DEPTH))
                .with_id("i".repeat(MAX_NAME_BYTES))
                .with_metadata(at_limit.clone())],
        )
        .await
        .unwrap_or_else(|e| panic!("{C}: at the limits: {e}"));
    let back = store
        .read_stream(&name, ReadStreamOptions::default())
        .await
        .unwrap();
    assert_eq!(back.len(), 1, "{C}");
    assert_eq!(back[0].data, nested(MAX_DEPTH), "{C}: data");
    assert_eq!(back[0].metadata, at_limit, "{C}: metadata");
}

/// A free metadata key named like one of the metadata's own fields (`correlationId`,
/// `causationId`: the flat JSON shape could not tell them apart) is refused in an append
/// and in an import, naming the key, and nothing is written; other keys, and the fields
/// themselves, are kept.
pub async fn reserved_metadata_keys_are_refused<S: EventStore>(store: S, _clock: &ManualClock) {
    const C: &str = "reserved_metadata_keys_are_refused";
    let with_key = |key: &str| Metadata {
        correlation_id: Some("c-1".into()),
        extra: [
            (key.to_string(), json!("x")),
            ("userId".to_string(), json!(7)),
        ]
        .into_iter()
        .collect(),
        ..Metadata::default()
    };
    for (key, field) in [
        ("correlationId", "correlation id"),
        ("causationId", "causation id"),
    ] {
        let err = store
            .append(
                "s-1",
                ExpectedVersion::Any,
                vec![ev("A", 1), ev("A", 2).with_metadata(with_key(key))],
            )
            .await
            .expect_err(key);
        assert_eq!(
            err,
            StoreError::InvalidInput(format!(
                "event 1 of the batch: metadata key '{key}' is reserved; set the {field} itself instead of a free metadata key of that name"
            )),
            "{C}: append"
        );
        let err = store
            .import_events(vec![RecordedEvent {
                metadata: with_key(key),
                ..recorded("i-1", "s-1", 1, 1, START_MS)
            }])
            .await
            .expect_err(key);
        match &err {
            StoreError::InvalidInput(m) => assert!(
                m.contains(&format!("metadata key '{key}' is reserved")),
                "{C}: import: {m}"
            ),
            other => panic!("{C}: import: {other:?}"),
        }
    }
    assert_eq!(store.head_position().await.unwrap(), 0, "{C}: head");
    assert!(
        store.list_streams().await.unwrap().is_empty(),
        "{C}: streams"
    );

    let fine = Metadata {
        correlation_id: Some("c-1".into()),
        causation_id: Some("k-1".into()),
        extra: [
            ("correlation".to_string(), json!(1)),
            (
                "extra".to_string(),
                json!({ "causationId": "nested is fine" }),
            ),
        ]
        .into_iter()
        .collect(),
    };
    store
        .append(
            "s-1",
            ExpectedVersion::NoStream,
            vec![ev("A", 1).with_metadata(fine.clone())],
        )
        .await
        .unwrap_or_else(|e| panic!("{C}: {e}"));
    let back = store
        .read_stream("s-1", ReadStreamOptions::default())
        .await
        .unwrap();
    assert_eq!(back[0].metadata, fine, "{C}: metadata read back");
}
