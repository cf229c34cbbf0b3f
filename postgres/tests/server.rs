//! What only a real server can show: many connections at once, killed transactions,
//! several store instances on one database, and the schema version check.
//!
//! Store futures are not `Send`, so every test runs on a current-thread runtime and
//! spawns with `spawn_local` on a `LocalSet`; the concurrency is still real, since each
//! task works on its own pooled connection and the server runs their transactions side
//! by side.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use chronik_core::{
    EventStore, ExpectedVersion, NewEvent, ReadAllOptions, ReadStreamOptions, StoreError,
};
use chronik_postgres::{PgError, PgStore, SCHEMA_VERSION};
use common::TestDb;
use serde_json::json;
use tokio::task::{spawn_local, LocalSet};

fn ev(event_type: &str, n: i64) -> NewEvent {
    NewEvent::new(event_type, json!({ "n": n }))
}

fn all() -> ReadAllOptions {
    ReadAllOptions::default()
}

/// A database whose schema is newer than this build's is refused with a clear error and
/// left unchanged; connecting again at the same version migrates nothing; stores
/// connecting at once on a fresh database migrate it once.
#[tokio::test(flavor = "current_thread")]
async fn migrations_run_once_and_a_newer_schema_is_refused() {
    let db = TestDb::new().await;
    let pool = db.pool(8);
    // Four stores connecting at once on an empty database: one migrates, all succeed.
    let (a, b, c, d) = tokio::join!(
        db.store(&pool, "one", "a"),
        db.store(&pool, "two", "b"),
        db.store(&pool, "three", "c"),
        db.store(&pool, "four", "d"),
    );
    drop((b, c, d));
    let client = db.client().await;
    let versions: Vec<i32> = client
        .query("SELECT version FROM chronik_schema ORDER BY version", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    a.0.append("s-1", ExpectedVersion::NoStream, vec![ev("A", 1)])
        .await
        .unwrap();
    // Reconnecting changes nothing and keeps the data.
    let (again, _) = db.store(&pool, "one", "a2").await;
    assert_eq!(again.head_position().await.unwrap(), 1);

    client
        .execute(
            "INSERT INTO chronik_schema (version) VALUES ($1)",
            &[&(SCHEMA_VERSION + 1)],
        )
        .await
        .unwrap();
    let clock = Rc::new(chronik_core::ManualClock::new(0));
    let err = PgStore::connect(
        pool.clone(),
        "one",
        clock,
        chronik_core::SequentialIds::new("x"),
    )
    .await
    .expect_err("a newer schema must be refused");
    assert!(
        matches!(err, PgError::SchemaTooNew { found, known } if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&format!("schema version {}", SCHEMA_VERSION + 1))
            && message.contains("upgrade chronik"),
        "{message}"
    );
    assert!(matches!(StoreError::from(err), StoreError::Corrupt(_)));
    // Nothing was touched.
    assert_eq!(again.head_position().await.unwrap(), 1);
}

/// 16 tasks on 16 connections append to ONE stream with the same `Exact(v)` at once,
/// round after round: every round exactly one wins, the 15 others get the conflict with
/// the winner's version, and the stream ends contiguous with one event per version.
#[tokio::test(flavor = "current_thread")]
async fn one_stream_many_connections_exactly_one_winner_per_version() {
    const TASKS: usize = 16;
    const ROUNDS: u64 = 20;
    let db = TestDb::new().await;
    let pool = db.pool(TASKS);
    let mut stores = Vec::new();
    for t in 0..TASKS {
        stores.push(Rc::new(db.store(&pool, "race", &format!("t{t}")).await.0));
    }
    LocalSet::new()
        .run_until(async {
            let mut winners = Vec::new();
            for round in 0..ROUNDS {
                let handles: Vec<_> = stores
                    .iter()
                    .enumerate()
                    .map(|(t, store)| {
                        let store = Rc::clone(store);
                        spawn_local(async move {
                            let r = store
                                .append(
                                    "hot-1",
                                    ExpectedVersion::Exact(round),
                                    vec![ev("Won", t as i64)],
                                )
                                .await;
                            (t, r)
                        })
                    })
                    .collect();
                let mut won = Vec::new();
                for h in handles {
                    let (t, r) = h.await.unwrap();
                    match r {
                        Ok(r) => {
                            assert_eq!((r.first_version, r.last_version), (round + 1, round + 1));
                            won.push((t, r.first_position));
                        }
                        Err(e) => assert_eq!(
                            e,
                            StoreError::WrongExpectedVersion {
                                stream: "hot-1".into(),
                                expected: ExpectedVersion::Exact(round),
                                actual: Some(round + 1),
                            },
                            "round {round}, task {t}"
                        ),
                    }
                }
                assert_eq!(
                    won.len(),
                    1,
                    "round {round}: exactly one winner, got {won:?}"
                );
                winners.push(won[0]);
            }
            let events = stores[0]
                .read_stream("hot-1", ReadStreamOptions::default())
                .await
                .unwrap();
            assert_eq!(
                events.iter().map(|e| e.version).collect::<Vec<_>>(),
                (1..=ROUNDS).collect::<Vec<_>>()
            );
            assert_eq!(
                events.iter().map(|e| e.position).collect::<Vec<_>>(),
                (1..=ROUNDS).collect::<Vec<_>>(),
                "losers used up no position"
            );
            for (e, (t, position)) in events.iter().zip(&winners) {
                assert_eq!(e.data["n"], json!(*t), "the stored event is the winner's");
                assert_eq!(e.position, *position);
            }
            assert_eq!(stores[0].head_position().await.unwrap(), ROUNDS);
        })
        .await;
    assert!(
        pool.status().size > 1,
        "the appends ran on several connections ({:?})",
        pool.status()
    );
}

/// 16 writers on 16 connections append batches to many streams while a reader on its
/// own connection polls `read_all` after the last position it saw: it never sees a gap
/// or a position out of order, and at the end the log is 1..N with every stream
/// contiguous.
#[tokio::test(flavor = "current_thread")]
async fn many_streams_gapless_positions_and_a_polling_reader_never_sees_a_gap() {
    const WRITERS: usize = 16;
    const APPENDS: usize = 30;
    let db = TestDb::new().await;
    let pool = db.pool(WRITERS + 2);
    let (reader_store, _) = db.store(&pool, "busy", "r").await;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        writers.push(db.store(&pool, "busy", &format!("w{w}")).await.0);
    }
    let done = Rc::new(Cell::new(0usize));
    let seen = Rc::new(RefCell::new(Vec::<u64>::new()));
    let written = Rc::new(Cell::new(0u64));
    LocalSet::new()
        .run_until(async {
            let reader = {
                let (done, seen) = (Rc::clone(&done), Rc::clone(&seen));
                spawn_local(async move {
                    let (mut polls, mut growing_polls) = (0u64, 0u64);
                    let mut last = 0u64;
                    loop {
                        let finished = done.get() == WRITERS;
                        let page = reader_store
                            .read_all(ReadAllOptions {
                                from_position: last + 1,
                                limit: Some(500),
                                ..Default::default()
                            })
                            .await
                            .unwrap();
                        polls += 1;
                        if !page.is_empty() {
                            growing_polls += 1;
                        }
                        for e in &page {
                            assert_eq!(
                                e.position,
                                last + 1,
                                "poll {polls}: after position {last} the reader saw {} (a gap or out of order)",
                                e.position
                            );
                            last = e.position;
                            seen.borrow_mut().push(e.position);
                        }
                        if finished && page.is_empty() {
                            return (polls, growing_polls);
                        }
                        tokio::task::yield_now().await;
                    }
                })
            };
            let handles: Vec<_> = writers
                .into_iter()
                .enumerate()
                .map(|(w, store)| {
                    let (done, written) = (Rc::clone(&done), Rc::clone(&written));
                    spawn_local(async move {
                        for k in 0..APPENDS {
                            let size = 1 + (w + k) % 4;
                            let batch = (0..size).map(|i| ev("Busy", i as i64)).collect();
                            let stream = format!("s{}-{}", w, k % 3);
                            let r = store
                                .append(&stream, ExpectedVersion::Any, batch)
                                .await
                                .unwrap();
                            assert_eq!(r.last_position - r.first_position + 1, size as u64);
                            written.set(written.get() + size as u64);
                        }
                        done.set(done.get() + 1);
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
            let (polls, growing_polls) = reader.await.unwrap();
            let total = written.get();
            assert_eq!(
                *seen.borrow(),
                (1..=total).collect::<Vec<_>>(),
                "the reader saw every position once, in order"
            );
            assert!(
                growing_polls > 1,
                "the reader polled while the log grew ({polls} polls, {growing_polls} with new events)"
            );
        })
        .await;
    let (store, _) = db.store(&pool, "busy", "check").await;
    let events = store.read_all(all()).await.unwrap();
    let total = written.get();
    assert_eq!(
        events.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    assert_eq!(store.head_position().await.unwrap(), total);
    let mut by_stream: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for e in &events {
        by_stream.entry(&e.stream_id).or_default().push(e.version);
    }
    assert_eq!(by_stream.len(), WRITERS * 3);
    for (stream, versions) in by_stream {
        assert_eq!(
            versions,
            (1..=versions.len() as u64).collect::<Vec<_>>(),
            "{stream} is contiguous"
        );
    }
}

/// A test-only trigger: an event of type `Stall` waits for advisory lock 4242 (held by
/// the test), one of type `Explode` fails its row. Both come last in their batch, after
/// every other row of it was inserted.
async fn install_faults(client: &chronik_postgres::tokio_postgres::Client) {
    client
        .batch_execute(
            "CREATE FUNCTION chronik_test_fault() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.event_type = 'Stall' THEN
                     PERFORM pg_advisory_lock(4242);
                     PERFORM pg_advisory_unlock(4242);
                 END IF;
                 IF NEW.event_type = 'Explode' THEN
                     RAISE EXCEPTION 'test fault: the last row of the batch fails';
                 END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER chronik_test_fault BEFORE INSERT ON chronik_events
                 FOR EACH ROW EXECUTE FUNCTION chronik_test_fault();",
        )
        .await
        .unwrap();
}

/// A transaction killed in the middle of its batch (`pg_terminate_backend` on the
/// appending connection, with 999 of its 1,000 rows inserted) and a batch that fails on
/// its last row leave nothing visible: no event, no version, no position. A writer that
/// waited on the killed one's head row takes the next position, gapless.
#[tokio::test(flavor = "current_thread")]
async fn a_transaction_killed_mid_batch_leaves_nothing() {
    let db = TestDb::new().await;
    let pool = db.pool(6);
    let (store, _) = db.store(&pool, "crash", "a").await;
    let store = Rc::new(store);
    let (observer, _) = db.store(&pool, "crash", "o").await;
    store
        .append("s-1", ExpectedVersion::NoStream, vec![ev("Setup", 0)])
        .await
        .unwrap();
    let admin = db.client().await;
    install_faults(&admin).await;
    admin
        .execute("SELECT pg_advisory_lock(4242)", &[])
        .await
        .unwrap();

    LocalSet::new()
        .run_until(async {
            let killed = {
                let store = Rc::clone(&store);
                spawn_local(async move {
                    let mut batch: Vec<NewEvent> = (1..1000).map(|n| ev("Doomed", n)).collect();
                    batch.push(ev("Stall", 1000));
                    store.append("s-1", ExpectedVersion::Exact(1), batch).await
                })
            };
            // Wait until the append stalls on its last row.
            let started = Instant::now();
            let pid: i32 = loop {
                let row = admin
                    .query_opt(
                        "SELECT pid FROM pg_stat_activity
                         WHERE datname = current_database() AND wait_event_type = 'Lock'
                           AND wait_event = 'advisory' AND query LIKE '%chronik_events%'",
                        &[],
                    )
                    .await
                    .unwrap();
                if let Some(row) = row {
                    break row.get(0);
                }
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "the append never stalled"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            };
            // Its 999 inserted rows are invisible to others.
            assert_eq!(observer.head_position().await.unwrap(), 1);
            assert_eq!(observer.read_all(all()).await.unwrap().len(), 1);
            // Another writer now waits for the head row the stalled append holds.
            let waiter = {
                let store = Rc::clone(&store);
                spawn_local(async move {
                    store
                        .append("other-1", ExpectedVersion::NoStream, vec![ev("After", 1)])
                        .await
                })
            };
            tokio::time::sleep(Duration::from_millis(100)).await;
            let terminated: bool = admin
                .query_one("SELECT pg_terminate_backend($1)", &[&pid])
                .await
                .unwrap()
                .get(0);
            assert!(terminated);
            let err = killed.await.unwrap().expect_err("the killed append fails");
            assert!(matches!(err, StoreError::Storage(_)), "{err:?}");
            let after = waiter.await.unwrap().expect("the waiting writer goes on");
            assert_eq!(
                (after.first_position, after.last_position),
                (2, 2),
                "the killed append used up no position"
            );
        })
        .await;
    admin
        .execute("SELECT pg_advisory_unlock(4242)", &[])
        .await
        .unwrap();

    let events = observer.read_all(all()).await.unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| (e.position, e.event_type.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "Setup"), (2, "After")]
    );
    assert_eq!(observer.stream_version("s-1").await.unwrap(), Some(1));

    // A batch whose last row fails writes nothing either.
    let mut batch: Vec<NewEvent> = (1..100).map(|n| ev("Doomed", n)).collect();
    batch.push(ev("Explode", 100));
    let err = store
        .append("s-1", ExpectedVersion::Exact(1), batch)
        .await
        .expect_err("the failing batch is refused");
    assert!(
        matches!(&err, StoreError::Storage(m) if m.contains("the last row of the batch fails")),
        "{err:?}"
    );
    assert_eq!(observer.head_position().await.unwrap(), 2);
    assert_eq!(observer.stream_version("s-1").await.unwrap(), Some(1));
    let count: i64 = admin
        .query_one("SELECT count(*) FROM chronik_events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2, "no row of either batch is stored");

    // The store goes on from there.
    let r = store
        .append("s-1", ExpectedVersion::Exact(1), vec![ev("Next", 1)])
        .await
        .unwrap();
    assert_eq!((r.first_version, r.first_position), (2, 3));
}

/// Re-appending a batch through another store instance on another pool (other
/// connections) returns the original result and writes nothing, also when both send it
/// at once; partial overlaps and ids of another stream are refused as by MemoryStore.
#[tokio::test(flavor = "current_thread")]
async fn idempotent_reappend_across_connections_returns_the_original_result() {
    let db = TestDb::new().await;
    let (pool_a, pool_b) = (db.pool(2), db.pool(2));
    let (a, _) = db.store(&pool_a, "shared", "a").await;
    let (b, _) = db.store(&pool_b, "shared", "b").await;
    a.append("warm-1", ExpectedVersion::Any, vec![ev("Warm", 0)])
        .await
        .unwrap();
    let batch = || {
        vec![
            ev("X", 1).with_id("x-1"),
            ev("X", 2).with_id("x-2"),
            ev("X", 3).with_id("x-3"),
        ]
    };
    let original = a
        .append("order-1", ExpectedVersion::NoStream, batch())
        .await
        .unwrap();
    assert_eq!((original.first_position, original.last_position), (2, 4));
    // Through the other instance, whatever the expected version says now.
    let again = b
        .append("order-1", ExpectedVersion::NoStream, batch())
        .await
        .unwrap();
    assert_eq!(again, original);
    assert_eq!(b.head_position().await.unwrap(), 4);

    assert_eq!(
        b.append(
            "order-1",
            ExpectedVersion::Any,
            vec![ev("X", 1).with_id("x-1"), ev("Y", 1).with_id("y-new")],
        )
        .await,
        Err(StoreError::PartialDuplicate {
            stream: "order-1".into(),
            duplicate_ids: vec!["x-1".into()],
        })
    );
    assert_eq!(
        b.append(
            "order-2",
            ExpectedVersion::Any,
            vec![ev("X", 2).with_id("x-2")]
        )
        .await,
        Err(StoreError::DuplicateEventId {
            event_id: "x-2".into(),
            existing_stream: "order-1".into(),
        })
    );

    // Both instances send the same new batch at once: written once, the same result.
    let twice = || vec![ev("Z", 1).with_id("z-1"), ev("Z", 2).with_id("z-2")];
    let (ra, rb) = tokio::join!(
        a.append("order-3", ExpectedVersion::NoStream, twice()),
        b.append("order-3", ExpectedVersion::NoStream, twice()),
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra, rb);
    assert_eq!((ra.first_position, ra.last_position), (5, 6));
    assert_eq!(a.head_position().await.unwrap(), 6);
    assert_eq!(
        a.read_stream("order-3", ReadStreamOptions::default())
            .await
            .unwrap()
            .len(),
        2
    );
}

/// The same new id appended to two different streams at once, on two connections:
/// one append wins and the other gets `DuplicateEventId` naming the winner's stream
/// (the loser's insert may hit the unique index after the winner commits: that 23505
/// becomes the contract's error, never a storage failure).
#[tokio::test(flavor = "current_thread")]
async fn one_id_in_two_streams_at_once_is_a_duplicate_not_a_failure() {
    let db = TestDb::new().await;
    let (pool_a, pool_b) = (db.pool(2), db.pool(2));
    let (a, _) = db.store(&pool_a, "ids", "a").await;
    let (b, _) = db.store(&pool_b, "ids", "b").await;
    let mut winners = BTreeSet::new();
    for round in 0..20 {
        let id = format!("same-{round}");
        let (left, right) = (format!("left-{round}"), format!("right-{round}"));
        let (ra, rb) = tokio::join!(
            a.append(
                &left,
                ExpectedVersion::Any,
                vec![ev("L", round).with_id(&id)]
            ),
            b.append(
                &right,
                ExpectedVersion::Any,
                vec![ev("R", round).with_id(&id)]
            ),
        );
        let (winner, loser) = match (&ra, &rb) {
            (Ok(_), Err(e)) => (&left, e),
            (Err(e), Ok(_)) => (&right, e),
            _ => panic!("round {round}: exactly one must win: {ra:?} {rb:?}"),
        };
        assert_eq!(
            loser,
            &StoreError::DuplicateEventId {
                event_id: id.clone(),
                existing_stream: winner.clone(),
            },
            "round {round}"
        );
        winners.insert(winner.split('-').next().unwrap().to_string());
    }
    let events = a.read_all(all()).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
}

/// Stores with different names in one database share nothing: each has its own
/// positions from 1, streams, ids, snapshots and checkpoints.
#[tokio::test(flavor = "current_thread")]
async fn named_stores_in_one_database_are_independent() {
    let db = TestDb::new().await;
    let pool = db.pool(4);
    let (red, _) = db.store(&pool, "red", "r").await;
    let (blue, _) = db.store(&pool, "blue", "b").await;
    red.append(
        "s-1",
        ExpectedVersion::NoStream,
        vec![ev("Red", 1).with_id("id-1")],
    )
    .await
    .unwrap();
    let r = blue
        .append(
            "s-1",
            ExpectedVersion::NoStream,
            vec![ev("Blue", 1).with_id("id-1"), ev("Blue", 2)],
        )
        .await
        .unwrap();
    assert_eq!((r.first_position, r.last_position), (1, 2));
    assert_eq!(red.head_position().await.unwrap(), 1);
    assert_eq!(blue.head_position().await.unwrap(), 2);
    assert_eq!(red.read_all(all()).await.unwrap()[0].event_type, "Red");
    assert_eq!(red.list_streams().await.unwrap()[0].version, 1);
    assert_eq!(blue.list_streams().await.unwrap()[0].version, 2);
    red.save_checkpoint(chronik_core::Checkpoint {
        name: "p".into(),
        position: 1,
        state: json!({"red": true}),
        updated_at: 0,
    })
    .await
    .unwrap();
    assert_eq!(blue.load_checkpoint("p").await.unwrap(), None);
    assert_eq!(blue.stats().await.unwrap().event_count, 2);
    assert_eq!(red.stats().await.unwrap().event_count, 1);
}

/// An import (which keeps its positions) racing an append on another stream: either the
/// import lands at 1..=300 and the append after it, or the append took position 1 first
/// and the import is refused (it no longer continues the log) writing nothing. Never a
/// gap, a clash or a storage failure.
#[tokio::test(flavor = "current_thread")]
async fn an_import_racing_an_append_either_lands_whole_or_is_refused() {
    let db = TestDb::new().await;
    let (pool_a, pool_b) = (db.pool(2), db.pool(2));
    let mut outcomes = BTreeSet::new();
    for round in 0..10 {
        let name = format!("race-{round}");
        let (importer, _) = db.store(&pool_a, &name, "i").await;
        let (appender, _) = db.store(&pool_b, &name, "a").await;
        // 300 events over 7 streams, in log order, each stream's versions from 1.
        let mut versions = BTreeMap::new();
        let events: Vec<chronik_core::RecordedEvent> = (1..=300u64)
            .map(|p| {
                let stream = format!("imp-{}", p % 7);
                let version = versions.entry(stream.clone()).or_insert(0u64);
                *version += 1;
                chronik_core::RecordedEvent {
                    event_id: format!("imp-{p}"),
                    stream_id: stream,
                    version: *version,
                    position: p,
                    event_type: "Imported".into(),
                    schema_version: 1,
                    data: json!({ "p": p }),
                    metadata: Default::default(),
                    recorded_at: 0,
                }
            })
            .collect();
        let (imported, appended) = tokio::join!(
            importer.import_events(events),
            appender.append("live-1", ExpectedVersion::Any, vec![ev("Live", round)]),
        );
        let appended = appended.unwrap();
        match imported {
            Ok(300) => {
                assert_eq!(appended.first_position, 301, "round {round}");
                outcomes.insert("import first");
            }
            Err(StoreError::InvalidInput(m)) => {
                assert!(m.contains("position"), "{m}");
                assert_eq!(appended.first_position, 1, "round {round}");
                outcomes.insert("append first");
            }
            other => panic!("round {round}: {other:?}"),
        }
        let log = appender.read_all(all()).await.unwrap();
        assert_eq!(
            log.iter().map(|e| e.position).collect::<Vec<_>>(),
            (1..=log.len() as u64).collect::<Vec<_>>(),
            "round {round}: gapless"
        );
        assert_eq!(appender.head_position().await.unwrap(), log.len() as u64);
    }
    eprintln!("outcomes seen: {outcomes:?}");
}
