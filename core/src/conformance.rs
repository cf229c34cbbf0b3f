//! The store conformance suite: one set of checks that every [`EventStore`] must pass.
//!
//! Written once here and run natively against [`MemoryStore`](crate::MemoryStore) and in
//! headless Chromium against the IndexedDB store. Each case takes a fresh, empty store
//! from the factory and panics, naming itself, when the store breaks the contract.
//!
//! ```text
//! chronik_core::conformance::run_all(|| async { make_empty_store().await }).await;
//! ```

use std::future::Future;

use serde_json::json;

use crate::event::{ExpectedVersion, NewEvent};
use crate::store::{Direction, EventStore, ReadStreamOptions};
use crate::StoreError;

/// Runs every conformance case, each against a fresh store made by `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: EventStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    append_then_read_stream(make().await).await;
    expected_version_modes(make().await).await;
}

fn ev(event_type: &str, n: i64) -> NewEvent {
    NewEvent::new(event_type, json!({ "n": n }))
}

/// Appended events come back from the stream in order, with versions 1.. and positions 1..
pub async fn append_then_read_stream<S: EventStore>(store: S) {
    let r = store
        .append(
            "s-1",
            ExpectedVersion::NoStream,
            vec![ev("A", 1), ev("B", 2)],
        )
        .await
        .expect("append_then_read_stream: first append");
    assert_eq!((r.first_version, r.last_version), (1, 2));
    assert_eq!((r.first_position, r.last_position), (1, 2));
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
    assert_eq!(seen, vec![("A", 1, 1, Some(1)), ("B", 2, 2, Some(2))]);
    let backward = store
        .read_stream(
            "s-1",
            ReadStreamOptions {
                direction: Direction::Backward,
                ..Default::default()
            },
        )
        .await
        .expect("append_then_read_stream: read backward");
    assert_eq!(
        backward.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![2, 1]
    );
}

/// `Any`, `NoStream`, `StreamExists` and `Exact` accept and reject as documented, and a
/// rejected append writes nothing.
pub async fn expected_version_modes<S: EventStore>(store: S) {
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
        }
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
        }
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
        .expect("expected_version_modes: Any");
    assert!(store
        .append("s-1", ExpectedVersion::NoStream, vec![ev("A", 5)])
        .await
        .is_err());
    assert_eq!(store.stream_version("s-1").await.unwrap(), Some(4));
    assert_eq!(store.head_position().await.unwrap(), 4);
}
