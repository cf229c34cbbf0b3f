//! IndexedDB store tests, run in headless Chromium by `wasm-bindgen-test`.
#![cfg(target_arch = "wasm32")]

mod common;

use chronik_core::{conformance, EventStore, ExpectedVersion, NewEvent, ReadStreamOptions};
use chronik_idb::{IdbStore, JsClock, RandomUuids};
use serde_json::json;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A database name no other test (or earlier run) uses.
fn fresh_name(label: &str) -> String {
    common::fresh_name("test", label)
}

#[wasm_bindgen_test]
async fn indexeddb_store_passes_the_conformance_suite() {
    conformance::run_all(|clock| async move {
        IdbStore::open(&fresh_name("conformance"), clock, RandomUuids)
            .await
            .expect("open a fresh database")
    })
    .await;
}

#[wasm_bindgen_test]
async fn indexeddb_store_passes_the_replica_conformance_suite() {
    conformance::run_replica(
        |clock| async move {
            IdbStore::open(&fresh_name("replica"), clock, RandomUuids)
                .await
                .expect("open a fresh database")
        },
        |store, clock| async move {
            let name = store.name().to_string();
            store.close();
            Some(
                IdbStore::open(&name, clock, RandomUuids)
                    .await
                    .expect("reopen the database"),
            )
        },
    )
    .await;
}

#[wasm_bindgen_test]
async fn events_survive_closing_and_reopening_the_database() {
    let name = fresh_name("reopen");
    let store = IdbStore::open(&name, JsClock, RandomUuids).await.unwrap();
    store
        .append(
            "account-1",
            ExpectedVersion::NoStream,
            vec![
                NewEvent::new("Opened", json!({ "owner": "Ada" })),
                NewEvent::new("Deposited", json!({ "cents": 500 })),
            ],
        )
        .await
        .unwrap();
    store.close();

    let reopened = IdbStore::open(&name, JsClock, RandomUuids).await.unwrap();
    let events = reopened
        .read_stream("account-1", ReadStreamOptions::default())
        .await
        .unwrap();
    let types: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["Opened", "Deposited"]);
    assert_eq!(events[1].data, json!({ "cents": 500 }));
    assert_eq!(reopened.stream_version("account-1").await.unwrap(), Some(2));
    reopened.close();
    IdbStore::delete_database(&name).await.unwrap();
}
