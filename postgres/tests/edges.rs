//! Where PostgreSQL differs from memory and the store must hide it: the server-side
//! statistics against the default computation (days before 1970 included), the NUL
//! character `text` cannot hold, numbers past `i64::MAX`, byte order of stream ids.

mod common;

use chronik_core::{
    compute_stats, Checkpoint, EventStore, ExpectedVersion, Metadata, NewEvent, RecordedEvent,
    Snapshot, StoreError,
};
use common::TestDb;
use serde_json::json;

fn recorded(id: &str, stream: &str, version: u64, position: u64, at: i64) -> RecordedEvent {
    RecordedEvent {
        event_id: id.into(),
        stream_id: stream.into(),
        version,
        position,
        event_type: format!("T{}", position % 3),
        schema_version: 1,
        data: json!({ "p": position }),
        metadata: Metadata::default(),
        recorded_at: at,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn server_side_stats_agree_with_the_default_computation() {
    let db = TestDb::new().await;
    let pool = db.pool(2);
    let (store, _) = db.store(&pool, "stats", "e").await;
    let day = 86_400_000;
    let times = [
        i64::MIN,
        -day - 1,
        -day,
        -1,
        0,
        day - 1,
        day,
        1_700_000_000_000,
        i64::MAX,
    ];
    let streams = ["account-1", "account-2", "order-1", "plain", "-dash"];
    let mut versions = std::collections::BTreeMap::new();
    let events: Vec<RecordedEvent> = times
        .iter()
        .enumerate()
        .map(|(i, at)| {
            let stream = streams[i % streams.len()];
            let v = versions.entry(stream).or_insert(0u64);
            *v += 1;
            recorded(&format!("id-{i}"), stream, *v, i as u64 + 1, *at)
        })
        .collect();
    store.import_events(events).await.unwrap();
    store
        .save_snapshot(Snapshot {
            stream_id: "account-1".into(),
            version: 1,
            schema_version: 1,
            state: json!({}),
            taken_at: 0,
        })
        .await
        .unwrap();
    let server = store.stats().await.unwrap();
    assert_eq!(server, compute_stats(&store).await.unwrap());
    assert_eq!(server.event_count, times.len() as u64);
    assert_eq!(server.events_by_day["1969-12-31"], 2);
    assert_eq!(server.events_by_day["1970-01-01"], 2);
    assert_eq!(server.streams_by_type[""], 1, "'-dash' has an empty type");
}

#[tokio::test(flavor = "current_thread")]
async fn what_postgresql_cannot_hold_is_invalid_input_and_writes_nothing() {
    let db = TestDb::new().await;
    let pool = db.pool(2);
    let (store, _) = db.store(&pool, "edges", "e").await;
    for (stream, event) in [
        ("bad\0stream", NewEvent::new("A", json!(1))),
        ("s-1", NewEvent::new("Bad\0Type", json!(1))),
        ("s-1", NewEvent::new("A", json!(1)).with_id("bad\0id")),
    ] {
        let err = store
            .append(stream, ExpectedVersion::Any, vec![event])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidInput(m) if m.contains("NUL")),
            "{err:?}"
        );
    }
    // NUL inside JSON values is fine: it is stored escaped.
    let data = json!({ "text": "a\u{0}b" });
    store
        .append(
            "s-1",
            ExpectedVersion::NoStream,
            vec![NewEvent::new("A", data.clone())],
        )
        .await
        .unwrap();
    let read = store.read_all(Default::default()).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].data, data);

    let err = store
        .save_checkpoint(Checkpoint {
            name: "p".into(),
            position: u64::MAX,
            state: json!(null),
            updated_at: 0,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
    assert_eq!(store.load_checkpoint("p").await.unwrap(), None);
}

#[tokio::test(flavor = "current_thread")]
async fn streams_are_listed_in_byte_order_whatever_the_collation() {
    // ICU's en-US sorts `_-1 a-10 a-2 b-1 B-1 Z-1`; MemoryStore sorts by bytes.
    let db = TestDb::with_options(
        "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'",
    )
    .await;
    let pool = db.pool(2);
    let (store, _) = db.store(&pool, "order", "e").await;
    let ids = ["b-1", "B-1", "a-2", "a-10", "é-1", "_-1", "Z-1"];
    for id in ids {
        store
            .append(
                id,
                ExpectedVersion::NoStream,
                vec![NewEvent::new("A", json!(1))],
            )
            .await
            .unwrap();
    }
    let listed: Vec<String> = store
        .list_streams()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.stream_id)
        .collect();
    let mut expected: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
}
