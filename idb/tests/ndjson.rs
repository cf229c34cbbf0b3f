//! NDJSON round trip through IndexedDB in headless Chromium: an export of one database
//! imported into a fresh one holds the same events (ids, versions, positions, payloads,
//! metadata, `recordedAt`), and importing it again writes nothing.
#![cfg(target_arch = "wasm32")]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use chronik_core::{
    export_ndjson, import_ndjson, EventStore, ExpectedVersion, ImportOptions, ManualClock,
    Metadata, NewEvent, ReadAllOptions, MAX_DEPTH,
};
use chronik_idb::{IdbStore, RandomUuids};
use serde_json::json;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A database name no other test (or earlier run) uses.
fn fresh_name(label: &str) -> String {
    common::fresh_name("ndjson", label)
}

const DAY_MS: i64 = 86_400_000;

#[wasm_bindgen_test]
async fn an_indexeddb_export_imports_into_a_fresh_database_unchanged_and_only_once() {
    // The source: interleaved streams, metadata, several schema versions, and events
    // recorded on different days (so `recordedAt` must come from the file, not a clock).
    let source_name = fresh_name("source");
    let clock = Rc::new(ManualClock::new(1_600_000_000_000));
    let source = IdbStore::open(&source_name, clock.clone(), RandomUuids)
        .await
        .expect("open the source database");
    let metadata = Metadata {
        correlation_id: Some("corr-1".into()),
        causation_id: Some("cmd-1".into()),
        extra: [("user".to_string(), json!({ "id": 7, "roles": ["admin"] }))]
            .into_iter()
            .collect(),
    };
    let batches = [
        (
            "account-1",
            vec![
                NewEvent::new("Opened", json!({ "owner": "Ada" })).with_metadata(metadata.clone()),
                NewEvent::new("Deposited", json!({ "cents": 500 })).with_id("dep-1"),
            ],
        ),
        (
            "account-2",
            vec![NewEvent::new(
                "Opened",
                json!({ "owner": "Grace", "tags": [1, 2.5, null] }),
            )],
        ),
        (
            "account-1",
            vec![NewEvent::new("Withdrawn", json!({ "cents": 125 }))
                .with_schema_version(3)
                .with_metadata(metadata)],
        ),
        (
            "order-9",
            vec![
                NewEvent::new("Placed", json!({ "lines": [{ "sku": "a", "qty": 2 }] })),
                NewEvent::new("Shipped", json!({})),
                NewEvent::new(
                    "Delivered",
                    json!({ "note": "ünïcødé \"quoted\"\nnewline" }),
                ),
            ],
        ),
    ];
    for (stream, events) in batches {
        source
            .append(stream, ExpectedVersion::Any, events)
            .await
            .unwrap_or_else(|e| panic!("append to {stream}: {e}"));
        clock.advance(DAY_MS + 1_234);
    }
    let original = source.read_all(ReadAllOptions::default()).await.unwrap();
    assert_eq!(original.len(), 7);
    let original_streams = source.list_streams().await.unwrap();

    // Export in pages of 3 events (three chunks, each of whole lines).
    let mut text = String::new();
    let mut chunks = 0;
    let exported = export_ndjson(&source, 3, |chunk| {
        assert!(chunk.ends_with('\n'), "a chunk holds whole lines");
        chunks += 1;
        text.push_str(chunk);
    })
    .await
    .expect("export");
    assert_eq!((exported, chunks), (7, 3));
    assert_eq!(text.lines().count(), 7);

    // Import into a fresh database whose own clock is far from the recorded times: one
    // atomic write of every event of every stream, with progress every 2 lines.
    let target_name = fresh_name("target");
    let target = IdbStore::open(
        &target_name,
        ManualClock::new(1_900_000_000_000),
        RandomUuids,
    )
    .await
    .expect("open the target database");
    let announced = Rc::new(RefCell::new(Vec::new()));
    let _listener = target.on_local_append({
        let announced = announced.clone();
        move |position| announced.borrow_mut().push(position)
    });
    let options = ImportOptions {
        progress_every: 2,
        ..ImportOptions::default()
    };
    let mut progress = Vec::new();
    let report = import_ndjson(&target, &text, options, |p| progress.push(p.lines_done))
        .await
        .expect("import");
    assert!(report.is_ok(), "import errors: {:?}", report.errors);
    assert_eq!((report.lines, report.imported, report.skipped), (7, 7, 0));
    assert_eq!(progress.last(), Some(&7), "progress reaches the end");

    let imported = target.read_all(ReadAllOptions::default()).await.unwrap();
    assert_eq!(imported, original, "every field of every event is kept");
    for (a, b) in imported.iter().zip(&original) {
        assert_eq!(
            (
                &a.event_id,
                &a.stream_id,
                a.version,
                a.position,
                a.recorded_at
            ),
            (
                &b.event_id,
                &b.stream_id,
                b.version,
                b.position,
                b.recorded_at
            ),
        );
        assert_eq!((&a.data, &a.metadata), (&b.data, &b.metadata));
    }
    assert_eq!(imported[1].event_id, "dep-1");
    assert_eq!(imported[3].schema_version, 3);
    assert_eq!(
        imported[3].metadata.correlation_id.as_deref(),
        Some("corr-1")
    );
    assert_ne!(
        imported[0].recorded_at, imported[6].recorded_at,
        "recorded on different days"
    );
    assert_eq!(
        target.list_streams().await.unwrap(),
        original_streams,
        "stream heads, including updatedAt, match the source"
    );
    assert_eq!(target.head_position().await.unwrap(), 7);
    assert_eq!(
        announced.borrow().as_slice(),
        &[7],
        "the import is one write, announced once to local listeners"
    );

    // The same file again: everything is skipped, nothing is written or announced.
    let writes_before = announced.borrow().len();
    let again = import_ndjson(&target, &text, options, |_| {})
        .await
        .expect("second import");
    assert!(again.is_ok(), "second import errors: {:?}", again.errors);
    assert_eq!((again.imported, again.skipped), (0, 7));
    assert_eq!(target.head_position().await.unwrap(), 7);
    assert_eq!(
        target.read_all(ReadAllOptions::default()).await.unwrap(),
        original
    );
    assert_eq!(announced.borrow().len(), writes_before, "no new writes");

    // The imported database goes on appending after the imported log, at its own time.
    let next = target
        .append(
            "account-1",
            ExpectedVersion::Exact(3),
            vec![NewEvent::new("Closed", json!({}))],
        )
        .await
        .expect("append after the import");
    assert_eq!((next.first_version, next.first_position), (4, 8));

    source.close();
    target.close();
    IdbStore::delete_database(&source_name).await.unwrap();
    IdbStore::delete_database(&target_name).await.unwrap();
}

/// `depth` levels of objects around a string.
fn nested(depth: usize) -> serde_json::Value {
    let mut value = json!("leaf");
    for _ in 0..depth {
        value = json!({ "in": value });
    }
    value
}

#[wasm_bindgen_test]
async fn an_event_at_the_depth_limit_round_trips_through_indexeddb_and_a_bad_file_writes_nothing() {
    let name = fresh_name("deep");
    let store = IdbStore::open(&name, ManualClock::new(1_600_000_000_000), RandomUuids)
        .await
        .expect("open");
    let metadata = Metadata {
        extra: [("customKey".to_string(), nested(MAX_DEPTH))]
            .into_iter()
            .collect(),
        ..Metadata::default()
    };
    store
        .append(
            "deep-1",
            ExpectedVersion::NoStream,
            vec![NewEvent::new("Deep", nested(MAX_DEPTH)).with_metadata(metadata)],
        )
        .await
        .expect("an event exactly at the limit is accepted");
    let mut text = String::new();
    export_ndjson(&store, 10, |chunk| text.push_str(chunk))
        .await
        .expect("export");

    let target_name = fresh_name("deep-target");
    let target = IdbStore::open(&target_name, ManualClock::new(0), RandomUuids)
        .await
        .expect("open the target");
    // The file plus a last line of another stream with a gap: nothing of it lands.
    let mut bad = text.clone();
    bad.push_str(
        &text
            .replace("\"deep-1\"", "\"deep-2\"")
            .replace("\"version\":1", "\"version\":2")
            .replace("\"position\":1", "\"position\":2")
            .replace("\"id\":\"", "\"id\":\"x"),
    );
    let report = import_ndjson(&target, &bad, ImportOptions::default(), |_| {})
        .await
        .expect("import");
    assert_eq!(report.imported, 0, "{:?}", report.errors);
    assert_eq!(
        report.errors.first().map(|e| e.line),
        Some(2),
        "{:?}",
        report.errors
    );
    assert_eq!(target.head_position().await.unwrap(), 0, "nothing written");

    let report = import_ndjson(&target, &text, ImportOptions::default(), |_| {})
        .await
        .expect("import");
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(
        target.read_all(ReadAllOptions::default()).await.unwrap(),
        store.read_all(ReadAllOptions::default()).await.unwrap()
    );
    let mut again = String::new();
    export_ndjson(&target, 10, |chunk| again.push_str(chunk))
        .await
        .expect("export again");
    assert_eq!(
        again, text,
        "exported, imported and exported again identically"
    );

    store.close();
    target.close();
    IdbStore::delete_database(&name).await.unwrap();
    IdbStore::delete_database(&target_name).await.unwrap();
}
