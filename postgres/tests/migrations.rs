//! Schema migrations of databases written by an older chronik: a database at schema 1,
//! its event metadata in the previous JSON shape (`extra` nested), is brought to the one
//! flat shape when a store connects; one holding an event it cannot convert is refused,
//! rolled back and left as it was.

mod common;

use std::rc::Rc;

use chronik_core::{
    EventStore, ExpectedVersion, ManualClock, Metadata, NewEvent, ReadAllOptions,
    ReadStreamOptions, SequentialIds, StoreError,
};
use chronik_postgres::tokio_postgres::Client;
use chronik_postgres::{schema, PgError, PgStore, SCHEMA_VERSION};
use common::TestDb;
use serde_json::json;

const T0: i64 = 1_700_000_000_000;

/// A database at schema version 1 with `events` (id, stream, version, type, metadata
/// text as chronik 1 wrote it) in store `store`, positions from 1, and their stream
/// heads, written with plain SQL as the old build did.
async fn schema_1_database(db: &TestDb, store: &str, events: &[(&str, &str, i64, &str, &str)]) {
    let mut client = db.client().await;
    assert_eq!(schema::migrate_to(&mut client, 1).await.unwrap(), 0);
    client
        .execute(
            "INSERT INTO chronik_heads (store, position) VALUES ($1, $2)",
            &[&store, &(events.len() as i64)],
        )
        .await
        .unwrap();
    for (i, (id, stream, version, event_type, metadata)) in events.iter().enumerate() {
        let position = i as i64 + 1;
        client
            .execute(
                "INSERT INTO chronik_events (store, position, stream_id, version, event_id,
                     event_type, schema_version, data, metadata, recorded_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9)",
                &[
                    &store,
                    &position,
                    stream,
                    version,
                    id,
                    event_type,
                    &format!(r#"{{"n":{position}}}"#),
                    metadata,
                    &(T0 + position),
                ],
            )
            .await
            .unwrap();
        client
            .execute(
                "INSERT INTO chronik_streams (store, stream_id, version, last_position, updated_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (store, stream_id) DO UPDATE
                 SET version = EXCLUDED.version, last_position = EXCLUDED.last_position,
                     updated_at = EXCLUDED.updated_at",
                &[&store, stream, version, &position, &(T0 + position)],
            )
            .await
            .unwrap();
    }
}

async fn schema_versions(client: &Client) -> Vec<i32> {
    client
        .query("SELECT version FROM chronik_schema ORDER BY version", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn stored_metadata(client: &Client) -> Vec<String> {
    client
        .query(
            "SELECT metadata FROM chronik_events ORDER BY store, position",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn connect(db: &TestDb, store: &str) -> Result<PgStore, PgError> {
    PgStore::connect(
        db.pool(2),
        store,
        Rc::new(ManualClock::new(T0 + 1_000)),
        SequentialIds::new("new"),
    )
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn a_schema_1_database_gets_the_flat_metadata_shape_and_keeps_working() {
    let db = TestDb::new().await;
    schema_1_database(
        &db,
        "bank",
        &[
            (
                "e-1",
                "account-1",
                1,
                "Opened",
                r#"{"correlationId":"c-1","causationId":"cmd-1","extra":{"userId":7,"client":{"v":"1.2"}}}"#,
            ),
            ("e-2", "account-1", 2, "Deposited", r#"{"correlationId":"c-1"}"#),
            ("e-3", "order-1", 1, "Placed", "{}"),
            (
                "e-4",
                "order-1",
                2,
                "Noted",
                r#"{"extra":{"extra":{"nested":true}}}"#,
            ),
        ],
    )
    .await;

    let store = connect(&db, "bank").await.expect("the migration runs");
    let client = db.client().await;
    assert_eq!(
        schema_versions(&client).await,
        (1..=SCHEMA_VERSION).collect::<Vec<_>>()
    );
    assert_eq!(
        stored_metadata(&client).await,
        vec![
            r#"{"correlationId":"c-1","causationId":"cmd-1","client":{"v":"1.2"},"userId":7}"#,
            r#"{"correlationId":"c-1"}"#,
            "{}",
            r#"{"extra":{"nested":true}}"#,
        ],
        "the free keys are flat; metadata without them is untouched"
    );

    let events = store.read_all(ReadAllOptions::default()).await.unwrap();
    let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["e-1", "e-2", "e-3", "e-4"]);
    assert_eq!(
        events[0].metadata,
        Metadata {
            correlation_id: Some("c-1".into()),
            causation_id: Some("cmd-1".into()),
            extra: [
                ("userId".to_string(), json!(7)),
                ("client".to_string(), json!({ "v": "1.2" })),
            ]
            .into_iter()
            .collect(),
        }
    );
    assert_eq!(
        events[3].metadata.extra,
        [("extra".to_string(), json!({ "nested": true }))]
            .into_iter()
            .collect()
    );
    assert_eq!(events[1].data, json!({ "n": 2 }));
    assert_eq!(events[1].recorded_at, T0 + 2);

    // Re-appending an old event by its id is still the idempotent no-op.
    let again = store
        .append(
            "account-1",
            ExpectedVersion::Any,
            vec![NewEvent::new("Opened", json!({ "n": 1 })).with_id("e-1")],
        )
        .await
        .unwrap();
    assert_eq!((again.first_version, again.first_position), (1, 1));
    assert_eq!(store.head_position().await.unwrap(), 4);
    let next = store
        .append(
            "order-1",
            ExpectedVersion::Exact(2),
            vec![NewEvent::new("Shipped", json!(null))],
        )
        .await
        .unwrap();
    assert_eq!((next.first_version, next.first_position), (3, 5));
    let order = store
        .read_stream("order-1", ReadStreamOptions::default())
        .await
        .unwrap();
    assert_eq!(
        order.iter().map(|e| e.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );

    // Connecting again migrates nothing more.
    drop(store);
    let store = connect(&db, "bank").await.unwrap();
    assert_eq!(
        store
            .read_all(ReadAllOptions::default())
            .await
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        schema_versions(&client).await,
        (1..=SCHEMA_VERSION).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_event_with_a_reserved_free_key_stops_the_migration_and_changes_nothing() {
    let db = TestDb::new().await;
    let bad = r#"{"correlationId":"c-1","extra":{"correlationId":"other"}}"#;
    schema_1_database(
        &db,
        "shop",
        &[
            ("e-1", "cart-1", 1, "Added", r#"{"extra":{"userId":7}}"#),
            ("e-2", "cart-1", 2, "Added", bad),
        ],
    )
    .await;
    let client = db.client().await;
    let before = stored_metadata(&client).await;

    let err = connect(&db, "shop")
        .await
        .expect_err("the migration must refuse the event");
    let message = err.to_string();
    assert!(
        matches!(&err, PgError::Migration { version: 2, store, .. } if store == "shop"),
        "{err:?}"
    );
    assert!(
        message.contains("rolled back")
            && message.contains("event 'e-2'")
            && message.contains("metadata key 'correlationId' is reserved"),
        "{message}"
    );
    assert!(matches!(StoreError::from(err), StoreError::Corrupt(_)));
    assert_eq!(schema_versions(&client).await, [1], "still at schema 1");
    assert_eq!(
        stored_metadata(&client).await,
        before,
        "not even the convertible event was rewritten"
    );
}
