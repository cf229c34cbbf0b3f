//! IndexedDB store lifecycle tests in headless Chromium: schema versioning and upgrades,
//! `versionchange` and blocked upgrades, cross-store notifications (of appends and of
//! replica changes), concurrent writers, error mapping and storage estimates.
#![cfg(target_arch = "wasm32")]

mod common;

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use chronik_core::sync::{BatchOrigin, PendingBatch, ReplicaStore, ReplicaWrite};
use chronik_core::{
    EventStore, ExpectedVersion, ManualClock, NewEvent, ReadAllOptions, ReadStreamOptions,
    RecordedEvent, StoreError,
};
use chronik_idb::{channel_name, error_from_js, SCHEMA_VERSION};
use chronik_idb::{IdbStore, JsClock, RandomUuids};
use futures::channel::mpsc;
use futures::future::{select, Either};
use futures::StreamExt;
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::{BroadcastChannel, DomException, IdbDatabase, IdbFactory, MessageEvent};

wasm_bindgen_test_configure!(run_in_browser);

/// A database name no other test (or earlier run) uses.
fn fresh_name(label: &str) -> String {
    common::fresh_name("life", label)
}

fn global(key: &str) -> JsValue {
    js_sys::Reflect::get(&js_sys::global(), &key.into()).unwrap()
}

async fn sleep(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let set_timeout: js_sys::Function = global("setTimeout").unchecked_into();
        set_timeout
            .call2(&JsValue::UNDEFINED, &resolve, &ms.into())
            .unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

/// `future`'s output, or `None` if it takes longer than `ms` (so a hang fails the test
/// instead of stalling the run).
async fn within<T>(ms: u32, future: impl Future<Output = T>) -> Option<T> {
    let future = std::pin::pin!(future);
    let timer = std::pin::pin!(sleep(ms));
    match select(future, timer).await {
        Either::Left((value, _)) => Some(value),
        Either::Right(_) => None,
    }
}

/// A plain connection at `version` with no `versionchange` handler: an old tab that never
/// closes.
async fn stubborn_connection(name: &str, version: u32) -> IdbDatabase {
    let factory: IdbFactory = global("indexedDB").unchecked_into();
    let request = factory.open_with_u32(name, version).unwrap();
    let done = js_sys::Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    JsFuture::from(done).await.expect("open a plain connection");
    request.result().unwrap().unchecked_into()
}

/// The next notification, failing the test if none comes.
async fn next(rx: &mut mpsc::UnboundedReceiver<u64>) -> u64 {
    within(10_000, rx.next())
        .await
        .flatten()
        .expect("a notification")
}

fn event(kind: &str, n: u64) -> NewEvent {
    NewEvent::new(kind, json!({ "n": n }))
}

#[wasm_bindgen_test]
async fn schema_version_and_creation_time_are_recorded_in_meta() {
    let name = fresh_name("meta");
    let store = IdbStore::open(&name, ManualClock::new(1_700_000_000_000), RandomUuids)
        .await
        .unwrap();
    let info = store.schema_info().await.unwrap();
    assert_eq!(info.version, SCHEMA_VERSION);
    assert_eq!(info.created_at, Some(1_700_000_000_000));
    store.close();

    // Reopening at the same version is no upgrade: the creation time stays.
    let again = IdbStore::open(&name, ManualClock::new(1_800_000_000_000), RandomUuids)
        .await
        .unwrap();
    assert_eq!(
        again.schema_info().await.unwrap().created_at,
        Some(1_700_000_000_000)
    );
    again.close();
    IdbStore::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_version_1_database_is_migrated_keeping_its_events() {
    let name = fresh_name("migrate");
    let old = IdbStore::open_at_schema_version(&name, 1, JsClock, RandomUuids)
        .await
        .unwrap();
    old.append(
        "account-1",
        ExpectedVersion::NoStream,
        vec![event("Opened", 1), event("Deposited", 2)],
    )
    .await
    .unwrap();
    // Version 1 had no meta store.
    assert!(old.schema_info().await.is_err());
    old.close();

    let store = IdbStore::open(&name, JsClock, RandomUuids).await.unwrap();
    let info = store.schema_info().await.unwrap();
    assert_eq!(info.version, SCHEMA_VERSION);
    assert_eq!(
        info.created_at, None,
        "an upgraded database's age is unknown"
    );
    let events = store
        .read_stream("account-1", ReadStreamOptions::default())
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    let result = store
        .append(
            "account-1",
            ExpectedVersion::Exact(2),
            vec![event("Deposited", 3)],
        )
        .await
        .unwrap();
    assert_eq!((result.first_version, result.first_position), (3, 3));
    store.close();
    IdbStore::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_newer_version_opened_elsewhere_closes_this_store() {
    let name = fresh_name("versionchange");
    let old = IdbStore::open(&name, JsClock, RandomUuids).await.unwrap();
    old.append(
        "order-1",
        ExpectedVersion::NoStream,
        vec![event("Placed", 1)],
    )
    .await
    .unwrap();
    let created = old.schema_info().await.unwrap().created_at;

    // The newer "tab" is not blocked: the old store closes on versionchange.
    let newer = within(
        20_000,
        IdbStore::open_at_schema_version(&name, SCHEMA_VERSION + 1, JsClock, RandomUuids),
    )
    .await
    .expect("the upgrade is not blocked by a store that honours versionchange")
    .unwrap();
    let info = newer.schema_info().await.unwrap();
    assert_eq!(info.version, SCHEMA_VERSION + 1);
    assert_eq!(info.created_at, created);
    assert_eq!(newer.stream_version("order-1").await.unwrap(), Some(1));

    let write = old
        .append("order-1", ExpectedVersion::Exact(1), vec![event("Paid", 2)])
        .await;
    match write {
        Err(StoreError::Closed(reason)) => {
            assert!(reason.contains("reload"), "{reason}");
            assert!(
                reason.contains(&format!("version {}", SCHEMA_VERSION + 1)),
                "{reason}"
            );
        }
        other => panic!("expected a closed error, got {other:?}"),
    }
    assert!(matches!(
        old.read_stream("order-1", ReadStreamOptions::default())
            .await,
        Err(StoreError::Closed(_))
    ));
    assert!(matches!(
        old.head_position().await,
        Err(StoreError::Closed(_))
    ));
    // Nothing was written by the closed store.
    assert_eq!(newer.stream_version("order-1").await.unwrap(), Some(1));

    // This code's version is now older than the database: a clear error, no downgrade.
    match IdbStore::open(&name, JsClock, RandomUuids).await {
        Err(StoreError::Closed(reason)) => assert!(reason.contains("newer"), "{reason}"),
        Err(other) => panic!("expected a closed error, got {other:?}"),
        Ok(_) => panic!("opened a newer database with older code"),
    }
    old.close();
    newer.close();
    IdbStore::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_blocked_upgrade_is_reported_and_then_abandoned() {
    let name = fresh_name("blocked");
    IdbStore::open(&name, JsClock, RandomUuids)
        .await
        .unwrap()
        .close();
    let stubborn = stubborn_connection(&name, SCHEMA_VERSION).await;

    let attempt = within(
        30_000,
        IdbStore::open_at_schema_version(&name, SCHEMA_VERSION + 1, JsClock, RandomUuids),
    )
    .await
    .expect("a blocked upgrade must be reported, not hang");
    match attempt {
        Err(StoreError::Blocked(reason)) => {
            assert!(reason.contains("did not close"), "{reason}");
        }
        Err(other) => panic!("expected a blocked error, got {other:?}"),
        Ok(_) => panic!("the upgrade went through an open old connection"),
    }

    // Once the old connection goes, the abandoned upgrade must not happen behind our
    // back: the database is still at this code's version and opens normally.
    stubborn.close();
    let store = within(20_000, IdbStore::open(&name, JsClock, RandomUuids))
        .await
        .expect("open after the old connection closed")
        .unwrap();
    assert_eq!(store.schema_info().await.unwrap().version, SCHEMA_VERSION);
    store.close();
    IdbStore::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_blocked_delete_is_reported() {
    let name = fresh_name("blocked-delete");
    IdbStore::open(&name, JsClock, RandomUuids)
        .await
        .unwrap()
        .close();
    let stubborn = stubborn_connection(&name, SCHEMA_VERSION).await;
    let attempt = within(30_000, IdbStore::delete_database(&name))
        .await
        .expect("a blocked delete must be reported, not hang");
    assert!(
        matches!(attempt, Err(StoreError::Blocked(_))),
        "{attempt:?}"
    );
    stubborn.close();
    // The deletion goes ahead once the connection is gone; deleting again succeeds.
    within(20_000, IdbStore::delete_database(&name))
        .await
        .expect("delete after the old connection closed")
        .unwrap();
}

#[wasm_bindgen_test]
async fn every_append_is_announced_on_the_database_channel() {
    let name = fresh_name("broadcast");
    let store = IdbStore::open(&name, JsClock, RandomUuids).await.unwrap();
    let channel = BroadcastChannel::new(&channel_name(&name)).unwrap();
    assert_eq!(channel.name(), format!("chronik:{name}"));
    let (tx, mut rx) = mpsc::unbounded::<JsValue>();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let _ = tx.unbounded_send(e.data());
    });
    channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));

    store
        .append(
            "account-1",
            ExpectedVersion::NoStream,
            vec![event("Opened", 1), event("Deposited", 2)],
        )
        .await
        .unwrap();
    store
        .append(
            "account-2",
            ExpectedVersion::NoStream,
            vec![event("Opened", 3)],
        )
        .await
        .unwrap();
    // A rejected append announces nothing.
    assert!(store
        .append(
            "account-2",
            ExpectedVersion::NoStream,
            vec![event("Opened", 4)]
        )
        .await
        .is_err());

    for expected in [2.0, 3.0] {
        let data = within(10_000, rx.next())
            .await
            .expect("a message after the append")
            .unwrap();
        let get = |k: &str| js_sys::Reflect::get(&data, &k.into()).unwrap();
        assert_eq!(get("db").as_string().as_deref(), Some(name.as_str()));
        assert_eq!(get("lastPosition").as_f64(), Some(expected));
    }
    channel.set_onmessage(None);
    channel.close();
    drop(on_message);
    store.close();
    IdbStore::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_replica_change_in_one_store_is_heard_by_the_others() {
    let name = fresh_name("replica");
    let a = IdbStore::open(&name, JsClock, RandomUuids).await.unwrap();
    let b = IdbStore::open(&name, JsClock, RandomUuids).await.unwrap();
    let a_local = Rc::new(RefCell::new(Vec::new()));
    let _a_local = a.on_local_replica_change({
        let seen = a_local.clone();
        move |r| seen.borrow_mut().push(r)
    });
    let (tx, mut b_replica) = mpsc::unbounded::<u64>();
    let _b_replica = b
        .on_remote_replica_change(move |r| {
            let _ = tx.unbounded_send(r);
        })
        .unwrap();
    let (tx, mut b_appends) = mpsc::unbounded::<u64>();
    let _b_appends = b
        .on_remote_append(move |p| {
            let _ = tx.unbounded_send(p);
        })
        .unwrap();
    let (tx, mut a_all) = mpsc::unbounded::<u64>();
    let _a_all = a
        .on_replica_change(move |r| {
            let _ = tx.unbounded_send(r);
        })
        .unwrap();

    // A local history in a, adopted: b's view of the outbox follows.
    a.append("s-1", ExpectedVersion::NoStream, vec![event("A", 1)])
        .await
        .unwrap();
    assert_eq!(next(&mut b_appends).await, 1, "b hears a's local append");
    let adopted = a.adopt_local_log().await.unwrap();
    assert_eq!(adopted.revision, 1);
    assert_eq!(*a_local.borrow(), [1], "a's local listener, at once");
    assert_eq!(
        next(&mut a_all).await,
        1,
        "a's own change, through on_replica_change"
    );
    assert_eq!(next(&mut b_replica).await, 1, "b hears a's adoption");
    assert_eq!(
        b.replica_state().await.unwrap(),
        adopted,
        "b reads the new outbox"
    );
    assert_eq!(
        b.head_position().await.unwrap(),
        0,
        "b sees the emptied log"
    );

    // The server confirms the batch: b hears the confirmed events and the change.
    let mine = adopted.pending[0].events[0].clone();
    let server = RecordedEvent {
        event_id: mine.event_id.clone().unwrap(),
        stream_id: "s-1".into(),
        version: 1,
        position: 1,
        event_type: mine.event_type,
        schema_version: mine.schema_version,
        data: mine.data,
        metadata: mine.metadata,
        recorded_at: 1_700_000_000_000,
    };
    let later = PendingBatch {
        id: "b-2".into(),
        stream_id: "s-1".into(),
        expected: ExpectedVersion::Exact(1),
        events: vec![event("A", 2).with_id("b-2.0.1")],
        origin: BatchOrigin::Raw,
        attempt: 0,
        created_at: 1_700_000_000_001,
        pushed: None,
        confirmed: 0,
    };
    let confirmed = a
        .write_replica(ReplicaWrite {
            revision: 1,
            confirm: vec![server.clone()],
            pending: vec![later],
            conflicts: vec![],
        })
        .await
        .unwrap();
    assert_eq!(*a_local.borrow(), [1, 2]);
    assert_eq!(
        next(&mut b_appends).await,
        1,
        "b hears the confirmed events"
    );
    assert_eq!(next(&mut b_replica).await, 2, "b hears the replica write");
    assert_eq!(b.replica_state().await.unwrap(), confirmed);
    assert_eq!(
        b.read_all(ReadAllOptions::default()).await.unwrap(),
        vec![server]
    );
    // A refused write announces nothing: the next notice b hears is the next write's.
    assert!(a
        .write_replica(ReplicaWrite {
            revision: 1,
            ..ReplicaWrite::default()
        })
        .await
        .is_err());
    a.write_replica(ReplicaWrite {
        revision: 2,
        ..ReplicaWrite::default()
    })
    .await
    .unwrap();
    assert_eq!(next(&mut b_replica).await, 3);
    assert_eq!(*a_local.borrow(), [1, 2, 3]);
    a.close();
    b.close();
    IdbStore::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn local_and_remote_append_listeners() {
    let name = fresh_name("listeners");
    let a = IdbStore::open(&name, JsClock, RandomUuids).await.unwrap();
    let b = IdbStore::open(&name, JsClock, RandomUuids).await.unwrap();

    let a_local = Rc::new(RefCell::new(Vec::new()));
    let _a_local_listener = a.on_local_append({
        let seen = a_local.clone();
        move |p| seen.borrow_mut().push(p)
    });
    let b_local = Rc::new(RefCell::new(Vec::new()));
    let _b_local_listener = b.on_local_append({
        let seen = b_local.clone();
        move |p| seen.borrow_mut().push(p)
    });
    let (a_tx, mut a_remote) = mpsc::unbounded::<u64>();
    let _a_remote_listener = a
        .on_remote_append(move |p| {
            let _ = a_tx.unbounded_send(p);
        })
        .unwrap();
    let (b_tx, mut b_remote) = mpsc::unbounded::<u64>();
    let b_remote_listener = b
        .on_remote_append(move |p| {
            let _ = b_tx.unbounded_send(p);
        })
        .unwrap();
    let (all_tx, mut b_all) = mpsc::unbounded::<u64>();
    let _b_all_listener = b
        .on_append(move |p| {
            let _ = all_tx.unbounded_send(p);
        })
        .unwrap();

    a.append("s-1", ExpectedVersion::NoStream, vec![event("A", 1)])
        .await
        .unwrap();
    // Local listeners have run when the append returns.
    assert_eq!(*a_local.borrow(), [1]);
    b.append(
        "s-1",
        ExpectedVersion::Exact(1),
        vec![event("B", 2), event("B", 3)],
    )
    .await
    .unwrap();
    assert_eq!(*b_local.borrow(), [3]);
    assert_eq!(*a_local.borrow(), [1], "a's local listener hears only a");

    assert_eq!(next(&mut b_remote).await, 1, "b hears a's append");
    // a's own append is not echoed back to it: the first thing it hears is b's.
    assert_eq!(
        next(&mut a_remote).await,
        3,
        "a hears b's append, not its own"
    );
    // on_append hears both: b's own append (at once) and a's (from the channel).
    let mut both = vec![next(&mut b_all).await, next(&mut b_all).await];
    both.sort();
    assert_eq!(both, [1, 3]);

    // A dropped listener hears nothing more.
    drop(b_remote_listener);
    a.append("s-1", ExpectedVersion::Exact(3), vec![event("A", 4)])
        .await
        .unwrap();
    assert_eq!(next(&mut b_all).await, 4);
    assert!(
        b_remote.next().await.is_none(),
        "the dropped listener's channel is closed"
    );
    a.close();
    b.close();
    IdbStore::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn concurrent_exact_appends_from_two_stores_one_wins_every_round() {
    let name = fresh_name("race");
    let a = IdbStore::open(&name, JsClock, RandomUuids).await.unwrap();
    let b = IdbStore::open(&name, JsClock, RandomUuids).await.unwrap();
    let mut version = 0u64;
    let mut wins = [0u32; 2];
    for round in 0..12u64 {
        let (ra, rb) = futures::join!(
            a.append(
                "account-1",
                ExpectedVersion::Exact(version),
                vec![event("A", round), event("A", round)],
            ),
            b.append(
                "account-1",
                ExpectedVersion::Exact(version),
                vec![event("B", round)],
            ),
        );
        let (won, lost, winner) = match (ra, rb) {
            (Ok(r), Err(e)) => (r, e, 0),
            (Err(e), Ok(r)) => (r, e, 1),
            other => panic!("round {round}: exactly one append must win, got {other:?}"),
        };
        wins[winner] += 1;
        let before = version;
        assert_eq!(won.first_version, before + 1);
        version = won.last_version;
        assert_eq!(
            lost,
            StoreError::WrongExpectedVersion {
                stream: "account-1".into(),
                expected: ExpectedVersion::Exact(before),
                actual: Some(version),
            },
            "round {round}"
        );
    }
    let events = a
        .read_stream("account-1", ReadStreamOptions::default())
        .await
        .unwrap();
    let versions: Vec<u64> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, (1..=version).collect::<Vec<_>>());
    let positions: Vec<u64> = events.iter().map(|e| e.position).collect();
    assert_eq!(positions, versions, "one stream: positions follow versions");
    assert_eq!(wins.iter().sum::<u32>(), 12);
    a.close();
    b.close();
    IdbStore::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_large_batch_with_ids_is_written_once() {
    let name = fresh_name("ids");
    let store = IdbStore::open(&name, JsClock, RandomUuids).await.unwrap();
    let batch: Vec<NewEvent> = (0..10_000u64)
        .map(|i| event("Counted", i).with_id(format!("evt-{i}")))
        .collect();
    let first = store
        .append("counter-1", ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap();
    assert_eq!((first.last_version, first.last_position), (10_000, 10_000));
    // Re-sending the whole batch is recognised by its ids and writes nothing.
    let again = store
        .append("counter-1", ExpectedVersion::NoStream, batch)
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(store.head_position().await.unwrap(), 10_000);
    store.close();
    IdbStore::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
fn dom_exceptions_map_to_clear_store_errors() {
    let quota = DomException::new_with_message_and_name(
        "the quota has been exceeded",
        "QuotaExceededError",
    )
    .unwrap();
    let err = error_from_js(&quota);
    assert_eq!(
        err,
        StoreError::QuotaExceeded("QuotaExceededError: the quota has been exceeded".into())
    );

    let abort =
        DomException::new_with_message_and_name("the transaction was aborted", "AbortError")
            .unwrap();
    match error_from_js(&abort) {
        StoreError::Storage(m) => assert!(m.contains("aborted; nothing was written"), "{m}"),
        other => panic!("{other:?}"),
    }
    let version =
        DomException::new_with_message_and_name("requested version is less", "VersionError")
            .unwrap();
    let err = error_from_js(&version);
    assert!(matches!(err, StoreError::Closed(_)), "{err:?}");

    let other = DomException::new_with_message_and_name("bad key", "DataError").unwrap();
    assert_eq!(
        error_from_js(&other),
        StoreError::Storage("DataError: bad key".into())
    );
}

#[wasm_bindgen_test]
async fn storage_estimate_and_persistence() {
    let (usage, quota) = IdbStore::storage_estimate()
        .await
        .expect("Chromium reports an estimate");
    assert!(quota > 0);
    assert!(usage <= quota);

    let granted = IdbStore::request_persistence().await;
    let storage = js_sys::Reflect::get(&global("navigator"), &"storage".into()).unwrap();
    let persisted: js_sys::Function = js_sys::Reflect::get(&storage, &"persisted".into())
        .unwrap()
        .unchecked_into();
    let promise: js_sys::Promise = persisted.call0(&storage).unwrap().unchecked_into();
    let now_persisted = JsFuture::from(promise).await.unwrap().as_bool();
    assert_eq!(Some(granted), now_persisted);
}

#[wasm_bindgen_test]
async fn indexed_stats_equal_the_stats_computed_from_the_log() {
    let name = fresh_name("stats");
    let clock = Rc::new(ManualClock::new(1_700_000_000_000));
    let store = IdbStore::open(&name, clock.clone(), RandomUuids)
        .await
        .unwrap();
    let empty = store.stats().await.unwrap();
    assert_eq!(empty, chronik_core::compute_stats(&store).await.unwrap());
    assert_eq!(empty.event_count, 0);

    for day in 0..4u64 {
        for (i, stream) in ["account-1", "account-2", "order-9", "misc"]
            .iter()
            .enumerate()
        {
            let kinds = ["Opened", "Deposited", "Placed"];
            let batch = (0..=(day as usize + i) % 3)
                .map(|k| event(kinds[(k + i) % 3], day))
                .collect();
            store
                .append(stream, ExpectedVersion::Any, batch)
                .await
                .unwrap();
            clock.advance(3 * 3_600_000);
        }
        clock.advance(13 * 3_600_000);
    }
    store
        .save_snapshot(chronik_core::Snapshot {
            stream_id: "account-1".into(),
            version: 1,
            schema_version: 1,
            state: json!({}),
            taken_at: 0,
        })
        .await
        .unwrap();
    let stats = store.stats().await.unwrap();
    assert_eq!(stats, chronik_core::compute_stats(&store).await.unwrap());
    assert_eq!(stats.events_by_day.len(), 5, "{stats:?}");
    assert_eq!(stats.stream_count, 4);
    assert_eq!(stats.snapshot_count, 1);
    assert_eq!(
        stats.event_count,
        store.head_position().await.unwrap(),
        "every event counted once"
    );
    store.close();
    IdbStore::delete_database(&name).await.unwrap();
}
