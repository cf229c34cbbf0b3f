//! The IndexedDB migrations to the one event shape (schema version 3) and to the outbox
//! (schema version 4), in headless Chromium: a database written by the previous event
//! shape (its layout made by the old migration steps, its rows written raw in the
//! previous shape, as the old code stored them) opens with every event as it was, and one
//! holding an event the current shape cannot hold is refused and left unchanged; a
//! database of version 3 opens with its events and an empty, never-synced outbox.
#![cfg(target_arch = "wasm32")]

mod common;

use chronik_core::sync::{ReplicaState, ReplicaStore};
use chronik_core::{
    EventStore, ExpectedVersion, Metadata, NewEvent, ReadAllOptions, ReadStreamOptions,
    RecordedEvent, StoreError,
};
use chronik_idb::{IdbStore, JsClock, RandomUuids, SCHEMA_VERSION};
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::{IdbDatabase, IdbFactory, IdbRequest, IdbTransaction, IdbTransactionMode};

wasm_bindgen_test_configure!(run_in_browser);

const T0: i64 = 1_700_000_000_000;

/// Rows of `events` as schema version 2 stored them (chronik's previous event shape).
const PREVIOUS_ROWS: [&str; 4] = [
    r#"{"eventId":"e-1","streamId":"account-1","version":1,"position":1,"eventType":"Opened","schemaVersion":1,"data":{"owner":"ada"},"metadata":{"correlationId":"c-1","causationId":"cmd-1","extra":{"userId":7,"client":{"v":"1.2"}}},"recordedAt":1700000000000}"#,
    r#"{"eventId":"e-2","streamId":"account-1","version":2,"position":2,"eventType":"Deposited","schemaVersion":2,"data":{"cents":150,"rate":0.1},"metadata":{"correlationId":"c-1"},"recordedAt":1700000001000}"#,
    r#"{"eventId":"e-3","streamId":"order-9","version":1,"position":3,"eventType":"Placed","schemaVersion":1,"data":null,"metadata":{},"recordedAt":1700000002000}"#,
    r#"{"eventId":"e-4","streamId":"order-9","version":2,"position":4,"eventType":"Noted","schemaVersion":1,"data":[1,"x"],"metadata":{"extra":{"extra":true}},"recordedAt":1700000003000}"#,
];

fn global(key: &str) -> JsValue {
    js_sys::Reflect::get(&js_sys::global(), &key.into()).unwrap()
}

/// A plain connection to `name` at `version` (no upgrade: the database exists), or at its
/// current version when `None`.
async fn raw_open(name: &str, version: Option<u32>) -> IdbDatabase {
    let factory: IdbFactory = global("indexedDB").unchecked_into();
    let request = match version {
        Some(v) => factory.open_with_u32(name, v).unwrap(),
        None => factory.open(name).unwrap(),
    };
    let done = js_sys::Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    JsFuture::from(done).await.expect("open a plain connection");
    request.result().unwrap().unchecked_into()
}

async fn committed(tx: &IdbTransaction) {
    let done = js_sys::Promise::new(&mut |resolve, reject| {
        tx.set_oncomplete(Some(&resolve));
        tx.set_onerror(Some(&reject));
        tx.set_onabort(Some(&reject));
    });
    JsFuture::from(done).await.expect("the transaction commits");
}

async fn result(request: &IdbRequest) -> JsValue {
    let done = js_sys::Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    JsFuture::from(done).await.expect("the request succeeds");
    request.result().unwrap()
}

/// A database at schema version 2, made by the old migration steps, holding `rows` (and
/// their streams' heads) written raw, as the code of schema 2 wrote them.
async fn previous_database(label: &str, rows: &[&str]) -> String {
    let name = common::fresh_name("migrate3", label);
    IdbStore::open_at_schema_version(&name, 2, JsClock, RandomUuids)
        .await
        .expect("create the version 2 layout")
        .close();
    let db = raw_open(&name, Some(2)).await;
    let names: js_sys::Array = ["events", "streams"]
        .iter()
        .map(|s| JsValue::from_str(s))
        .collect();
    let tx = db
        .transaction_with_str_sequence_and_mode(&names, IdbTransactionMode::Readwrite)
        .unwrap();
    let (events, streams) = (
        tx.object_store("events").unwrap(),
        tx.object_store("streams").unwrap(),
    );
    for row in rows {
        let value: serde_json::Value = serde_json::from_str(row).unwrap();
        events.add(&js_sys::JSON::parse(row).unwrap()).unwrap();
        let stream = value["streamId"].as_str().unwrap();
        let head = json!({
            "streamId": stream,
            "streamType": stream.split('-').next().unwrap(),
            "version": value["version"],
            "lastPosition": value["position"],
            "updatedAt": value["recordedAt"],
        });
        streams
            .put(&js_sys::JSON::parse(&head.to_string()).unwrap())
            .unwrap();
    }
    committed(&tx).await;
    db.close();
    name
}

/// Every row of `events`, as JSON text, in position order.
async fn raw_rows(db: &IdbDatabase) -> Vec<String> {
    let tx = db.transaction_with_str("events").unwrap();
    let rows = result(&tx.object_store("events").unwrap().get_all().unwrap()).await;
    rows.unchecked_into::<js_sys::Array>()
        .iter()
        .map(|r| String::from(js_sys::JSON::stringify(&r).unwrap()))
        .collect()
}

fn expected_events() -> Vec<RecordedEvent> {
    let event = |id: &str, stream: &str, version, position, kind: &str, schema, data, metadata| {
        RecordedEvent {
            event_id: id.into(),
            stream_id: stream.into(),
            version,
            position,
            event_type: kind.into(),
            schema_version: schema,
            data,
            metadata,
            recorded_at: T0 + (position as i64 - 1) * 1_000,
        }
    };
    vec![
        event(
            "e-1",
            "account-1",
            1,
            1,
            "Opened",
            1,
            json!({ "owner": "ada" }),
            Metadata {
                correlation_id: Some("c-1".into()),
                causation_id: Some("cmd-1".into()),
                extra: [
                    ("userId".to_string(), json!(7)),
                    ("client".to_string(), json!({ "v": "1.2" })),
                ]
                .into_iter()
                .collect(),
            },
        ),
        event(
            "e-2",
            "account-1",
            2,
            2,
            "Deposited",
            2,
            json!({ "cents": 150, "rate": 0.1 }),
            Metadata {
                correlation_id: Some("c-1".into()),
                ..Metadata::default()
            },
        ),
        event(
            "e-3",
            "order-9",
            1,
            3,
            "Placed",
            1,
            json!(null),
            Metadata::default(),
        ),
        event(
            "e-4",
            "order-9",
            2,
            4,
            "Noted",
            1,
            json!([1, "x"]),
            Metadata {
                extra: [("extra".to_string(), json!(true))].into_iter().collect(),
                ..Metadata::default()
            },
        ),
    ]
}

#[wasm_bindgen_test]
async fn a_database_of_the_previous_schema_opens_with_its_events_in_the_one_shape() {
    let name = previous_database("ok", &PREVIOUS_ROWS).await;
    let store = IdbStore::open(&name, JsClock, RandomUuids)
        .await
        .expect("the upgrade runs");
    assert_eq!(store.schema_info().await.unwrap().version, SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 4);

    let expected = expected_events();
    assert_eq!(
        store.read_all(ReadAllOptions::default()).await.unwrap(),
        expected
    );
    assert_eq!(
        store
            .read_stream("order-9", ReadStreamOptions::default())
            .await
            .unwrap(),
        expected[2..].to_vec(),
        "the streamVersion index reads them"
    );
    // A filtered read takes the type off the raw row; the stats count the `eventType` index.
    let deposits = store
        .read_all(ReadAllOptions {
            event_types: Some(vec!["Deposited".into()]),
            ..ReadAllOptions::default()
        })
        .await
        .unwrap();
    assert_eq!(deposits, vec![expected[1].clone()]);
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.event_count, 4);
    assert_eq!(stats.events_by_type.get("Opened"), Some(&1));
    assert_eq!(stats.events_by_type.get("Noted"), Some(&1));

    // Re-appending an old event by its id finds it (the `eventId` index on `id`).
    let again = store
        .append(
            "account-1",
            ExpectedVersion::Any,
            vec![NewEvent::new("Opened", json!({ "owner": "ada" })).with_id("e-1")],
        )
        .await
        .unwrap();
    assert_eq!((again.first_version, again.first_position), (1, 1));
    let err = store
        .append(
            "order-9",
            ExpectedVersion::Any,
            vec![NewEvent::new("Noted", json!(1)).with_id("e-2")],
        )
        .await
        .expect_err("an old id in another stream");
    assert_eq!(
        err,
        StoreError::DuplicateEventId {
            event_id: "e-2".into(),
            existing_stream: "account-1".into()
        }
    );
    let next = store
        .append(
            "account-1",
            ExpectedVersion::Exact(2),
            vec![NewEvent::new("Deposited", json!({ "cents": 1 }))],
        )
        .await
        .unwrap();
    assert_eq!((next.first_version, next.first_position), (3, 5));
    store.close();

    // Every stored row has the one shape now.
    let db = raw_open(&name, None).await;
    for row in raw_rows(&db).await {
        assert!(
            row.starts_with(r#"{"id":"#) && !row.contains("eventType"),
            "{row}"
        );
    }
    assert!(raw_rows(&db).await[0].contains(r#""metadata":{"correlationId":"c-1","causationId":"cmd-1","client":{"v":"1.2"},"userId":7}"#));
    db.close();
    IdbStore::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn an_event_with_a_reserved_free_key_stops_the_upgrade_and_changes_nothing() {
    let bad = r#"{"eventId":"e-5","streamId":"order-9","version":3,"position":5,"eventType":"Noted","schemaVersion":1,"data":1,"metadata":{"correlationId":"c-5","extra":{"correlationId":"other"}},"recordedAt":1700000004000}"#;
    let rows = [
        PREVIOUS_ROWS[0],
        PREVIOUS_ROWS[1],
        PREVIOUS_ROWS[2],
        PREVIOUS_ROWS[3],
        bad,
    ];
    let name = previous_database("reserved", &rows).await;
    let old = raw_open(&name, Some(2)).await;
    let before = raw_rows(&old).await;
    old.close();

    let err = match IdbStore::open(&name, JsClock, RandomUuids).await {
        Ok(_) => panic!("the upgrade must refuse the event"),
        Err(err) => err,
    };
    match &err {
        StoreError::Corrupt(m) => assert!(
            m.contains("schema upgrade to version 3 failed")
                && m.contains("event 'e-5'")
                && m.contains("metadata key 'correlationId' is reserved"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }

    let db = raw_open(&name, None).await;
    assert_eq!(db.version() as u32, 2, "still at version 2");
    assert_eq!(raw_rows(&db).await, before, "every row as it was");
    let index = db
        .transaction_with_str("events")
        .unwrap()
        .object_store("events")
        .unwrap()
        .index("eventId")
        .unwrap();
    assert_eq!(index.key_path().unwrap(), JsValue::from_str("eventId"));
    db.close();
    IdbStore::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_version_3_database_opens_with_its_events_and_an_empty_outbox_that_can_adopt_them() {
    let name = common::fresh_name("migrate4", "ok");
    let old = IdbStore::open_at_schema_version(&name, 3, JsClock, RandomUuids)
        .await
        .expect("create a version 3 database");
    old.append(
        "account-1",
        ExpectedVersion::NoStream,
        vec![
            NewEvent::new("Opened", json!({ "owner": "ada" })),
            NewEvent::new("Deposited", json!({ "cents": 150, "rate": 0.1 })),
        ],
    )
    .await
    .unwrap();
    let before = old.read_all(ReadAllOptions::default()).await.unwrap();
    old.close();
    let v3 = raw_open(&name, None).await;
    assert!(
        !v3.object_store_names().contains("outbox"),
        "no outbox at v3"
    );
    v3.close();

    let store = IdbStore::open(&name, JsClock, RandomUuids)
        .await
        .expect("the upgrade runs");
    assert_eq!(store.schema_info().await.unwrap().version, 4);
    assert_eq!(
        store.read_all(ReadAllOptions::default()).await.unwrap(),
        before,
        "the events as they were"
    );
    assert_eq!(
        store.replica_state().await.unwrap(),
        ReplicaState::default(),
        "an empty outbox, never synced"
    );

    // Its local history can be adopted, and the state is the outbox's one record.
    let adopted = store.adopt_local_log().await.unwrap();
    assert_eq!(adopted.pending.len(), 1, "one append, one batch");
    let ids: Vec<_> = adopted.pending[0]
        .events
        .iter()
        .map(|e| e.event_id.clone().unwrap())
        .collect();
    assert_eq!(
        ids,
        before
            .iter()
            .map(|e| e.event_id.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(store.head_position().await.unwrap(), 0);
    store.close();

    let db = raw_open(&name, None).await;
    let tx = db.transaction_with_str("outbox").unwrap();
    let rows = result(&tx.object_store("outbox").unwrap().get_all().unwrap()).await;
    let rows: js_sys::Array = rows.unchecked_into();
    assert_eq!(rows.length(), 1);
    let row = rows.get(0);
    assert_eq!(
        js_sys::Reflect::get(&row, &"key".into())
            .unwrap()
            .as_string()
            .as_deref(),
        Some("state")
    );
    let value = js_sys::Reflect::get(&row, &"value".into()).unwrap();
    let text = value
        .as_string()
        .expect("the state is stored as one JSON text");
    let stored: ReplicaState = serde_json::from_str(&text).unwrap();
    assert_eq!(stored, adopted, "the record holds the state as JSON");

    // A record an earlier build wrote as an object tree is read as well.
    let tx = db
        .transaction_with_str_and_mode("outbox", web_sys::IdbTransactionMode::Readwrite)
        .unwrap();
    let object = js_sys::JSON::parse(&text).unwrap();
    js_sys::Reflect::set(&row, &"value".into(), &object).unwrap();
    result(&tx.object_store("outbox").unwrap().put(&row).unwrap()).await;
    db.close();
    let store = IdbStore::open(&name, JsClock, RandomUuids).await.unwrap();
    assert_eq!(store.replica_state().await.unwrap(), adopted);
    store.close();
    IdbStore::delete_database(&name).await.unwrap();
}
