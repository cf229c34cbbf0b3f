//! The demo data generator: deterministic, exact size, progress reported, and the data
//! it writes obeys every rule of both domains.

use chronik_core::{
    Clock, EventStore, ExpectedVersion, ManualClock, MemoryStore, NewEvent, Projection,
    ProjectionStatus, ReadAllOptions, SequentialIds, StoreError,
};
use chronik_examples::bank::{AccountBalances, DailySummary, TransactionHistory};
use chronik_examples::orders::{CurrentOrders, CustomerStats, InventoryDemand, OrderHistory};
use chronik_examples::rng::stable_hash;
use chronik_examples::{
    write_demo, Bank, DemoConfig, DemoData, DemoError, DemoOutcome, FulfilmentSagas, Orders,
    SagaStatus, Services, Timeline,
};
use futures::executor::block_on;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

#[test]
fn the_same_seed_gives_the_same_batches_and_another_seed_does_not() {
    let a: Vec<_> = DemoData::new(DemoConfig::new(7, 3_000)).collect();
    let b: Vec<_> = DemoData::new(DemoConfig::new(7, 3_000)).collect();
    assert_eq!(a, b);
    let c: Vec<_> = DemoData::new(DemoConfig::new(8, 3_000)).collect();
    assert_ne!(a, c);
}

/// The generator's output for a seed is part of its contract: the app's "generate demo"
/// button, the JS `generateDemo` and the benchmarks all promise the same events for the
/// same seed, release after release. These fingerprints (a stable hash of every event's
/// stream, expected version, time, id, type, schema version and data) were taken before the demo ran the saga through the saga's own step code and
/// the services got their own fault vocabulary; a change that moves them changes the
/// data users get, and must say so.
#[test]
fn a_seed_writes_the_same_events_release_after_release() {
    for (seed, failure_rate, fingerprint) in [
        (42_u64, 0.2_f64, 0x2241_daf8_c03a_7ac4_u64),
        (1, 0.03, 0xff13_b101_95d7_a62a),
    ] {
        let config = DemoConfig {
            failure_rate,
            ..DemoConfig::new(seed, 20_000)
        };
        // Field by field, so that the envelope's JSON shape is not part of it.
        let lines: Vec<String> = DemoData::new(config)
            .flat_map(|batch| {
                let head = format!(
                    "{} {:?} {}",
                    batch.stream_id, batch.expected_version, batch.at_ms
                );
                batch.events.into_iter().map(move |e| {
                    format!(
                        "{head} {} {} {} {}",
                        e.event_id.unwrap_or_default(),
                        e.event_type,
                        e.schema_version,
                        e.data
                    )
                })
            })
            .collect();
        assert_eq!(
            stable_hash(&[&lines.join("\n")]),
            fingerprint,
            "seed {seed}, failure rate {failure_rate}"
        );
    }
}

#[test]
fn the_size_is_exact_and_covers_both_domains() {
    for size in [0, 1, 2, 999, 5_000] {
        let batches: Vec<_> = DemoData::new(DemoConfig::new(3, size)).collect();
        let events: u64 = batches.iter().map(|b| b.events.len() as u64).sum();
        assert_eq!(events, size);
        assert!(batches.iter().all(|b| !b.events.is_empty()));
    }
    let mut types = BTreeMap::<String, u64>::new();
    for batch in DemoData::new(DemoConfig::new(3, 20_000)) {
        for e in batch.events {
            *types.entry(e.event_type).or_default() += 1;
        }
    }
    for expected in [
        "AccountOpened",
        "MoneyDeposited",
        "MoneyWithdrawn",
        "TransferCompleted",
        "OrderCreated",
        "ItemAdded",
        "OrderSubmitted",
        "OrderCompleted",
        "OrderCancelled",
        "SagaAborted",
        "StockReleased",
        "PaymentRefunded",
        "StockReceived",
    ] {
        assert!(types.contains_key(expected), "no {expected}: {types:?}");
    }
}

#[test]
fn written_demo_data_obeys_the_rules_and_reads_back_everywhere() {
    let clock = Rc::new(ManualClock::new(0));
    let store = Rc::new(MemoryStore::new(Rc::clone(&clock), SequentialIds::new("e")));
    let mut reports = Vec::new();
    block_on(async {
        let config = DemoConfig::new(11, 12_345);
        let outcome = write_demo(
            &*store,
            config.clone(),
            Timeline::Configured,
            || false,
            |done, total| reports.push((done, total)),
        )
        .await
        .unwrap();
        assert_eq!(
            outcome,
            DemoOutcome {
                written: 12_345,
                produced: 12_345,
                cancelled: false
            }
        );
        assert_eq!(store.len(), 12_345);
        assert!(reports.len() >= 12, "a report per chunk: {reports:?}");
        assert!(reports.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(reports.last(), Some(&(12_345, 12_345)));
        // The events carry the generator's times, not the store's clock (left at 0).
        let log = store.read_all(ReadAllOptions::default()).await.unwrap();
        let times: Vec<i64> = DemoData::new(config.clone())
            .flat_map(|b| vec![b.at_ms; b.events.len()])
            .collect();
        assert_eq!(log.iter().map(|e| e.recorded_at).collect::<Vec<_>>(), times);
        assert_eq!(clock.now_ms(), 0);

        // Writing the same data again is a no-op (deterministic event ids).
        let again = write_demo(
            &*store,
            config.clone(),
            Timeline::Configured,
            || false,
            |_, _| {},
        )
        .await
        .unwrap();
        assert_eq!(again.written, 0);
        assert_eq!(again.produced, 12_345);
        assert_eq!(store.len(), 12_345);

        // Every account loads through the handler, never negative.
        let bank = Bank::new(Rc::clone(&store));
        let streams = store.list_streams().await.unwrap();
        let mut total = 0;
        for s in streams.iter().filter(|s| s.stream_type == "account") {
            let id = s.stream_id.trim_start_matches("account-");
            let account = bank.account(id).await.unwrap().unwrap();
            assert!(account.balance.cents() >= 0);
            total += account.balance.cents();
        }
        // Every read model catches up without a failure; balances agree.
        async fn caught_up<P: Projection>(
            store: &Rc<MemoryStore>,
            p: P,
            clock: &Rc<ManualClock>,
        ) -> P::State {
            let bank = Bank::new(Rc::clone(store));
            let mut runner = bank.projection(p, Rc::clone(clock));
            runner.catch_up().await.unwrap();
            assert_eq!(runner.status(), &ProjectionStatus::CaughtUp);
            serde_json::from_value(serde_json::to_value(runner.state()).unwrap()).unwrap()
        }
        let balances = caught_up(&store, AccountBalances, &clock).await;
        assert_eq!(balances.total.cents(), total);
        let days = caught_up(&store, DailySummary, &clock).await;
        assert!(days.days.len() >= 2, "the data spans several days");
        caught_up(&store, TransactionHistory, &clock).await;
        caught_up(&store, CurrentOrders, &clock).await;
        caught_up(&store, OrderHistory, &clock).await;
        caught_up(&store, CustomerStats, &clock).await;
        caught_up(&store, InventoryDemand, &clock).await;

        // Orders load; the real saga runner finishes every saga the generator left
        // mid-way, and leaves no reservation behind.
        let orders = Orders::new(Rc::clone(&store));
        for s in streams.iter().filter(|s| s.stream_type == "order") {
            let id = s.stream_id.trim_start_matches("order-");
            orders.order(id).await.unwrap().unwrap();
        }
        let sagas = FulfilmentSagas::new(Rc::clone(&store), Services::new(Rc::clone(&store)));
        let resumed = sagas.resume_all().await.unwrap();
        assert!(resumed.iter().all(|s| s.status.is_terminal()));
        for s in streams.iter().filter(|s| s.stream_type == "saga") {
            let id = s.stream_id.trim_start_matches("saga-");
            let saga = sagas.saga(id).await.unwrap().unwrap();
            assert!(matches!(
                saga.status,
                SagaStatus::Completed | SagaStatus::Aborted
            ));
        }
        let inventory = sagas.services().inventory().await.unwrap();
        assert!(inventory.reservations.is_empty());
        assert!(inventory.products.values().all(|l| l.reserved == 0));
    });
}

#[test]
fn extreme_configurations_neither_panic_nor_exhaust_memory() {
    let config = DemoConfig {
        seed: u64::MAX,
        events: 500,
        start_ms: i64::MAX - 1_000,
        max_accounts: u32::MAX,
        customers: u32::MAX,
        products: u32::MAX, // brought down to MAX_PRODUCTS
        failure_rate: f64::NAN,
    };
    let batches: Vec<_> = DemoData::new(config).collect();
    let events: u64 = batches.iter().map(|b| b.events.len() as u64).sum();
    assert_eq!(events, 500);
    // Time saturates at the end of i64 instead of wrapping to the past.
    assert!(batches.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    let none = DemoConfig {
        customers: 0,
        products: 0,
        max_accounts: 0,
        ..DemoConfig::new(1, 300)
    };
    let events: usize = DemoData::new(none).map(|b| b.events.len()).sum();
    assert_eq!(events, 300);
}

fn memory_store() -> Rc<MemoryStore> {
    Rc::new(MemoryStore::new(
        ManualClock::new(0),
        SequentialIds::new("e"),
    ))
}

/// Every event's id, stream, version, position, type, data and time.
async fn log_of(store: &MemoryStore) -> Vec<(String, String, u64, u64, String, String, i64)> {
    store
        .read_all(ReadAllOptions::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let data = e.data.to_string();
            (
                e.event_id,
                e.stream_id,
                e.version,
                e.position,
                e.event_type,
                data,
                e.recorded_at,
            )
        })
        .collect()
}

#[test]
fn a_cancelled_run_keeps_whole_chunks_and_the_next_run_resumes_on_the_same_timeline() {
    block_on(async {
        let now = 1_800_000_000_000;
        let config = DemoConfig::new(5, 4_321);
        let whole = memory_store();
        write_demo(
            &*whole,
            config.clone(),
            Timeline::EndingAt(now),
            || false,
            |_, _| {},
        )
        .await
        .unwrap();

        let store = memory_store();
        let asked = Cell::new(0);
        let first = write_demo(
            &*store,
            config.clone(),
            Timeline::EndingAt(now),
            || {
                asked.set(asked.get() + 1);
                asked.get() >= 2 // cancel after the second chunk
            },
            |_, _| {},
        )
        .await
        .unwrap();
        assert!(first.cancelled);
        assert!(first.written >= 2_000 && first.written < 4_321, "{first:?}");
        assert_eq!(store.len() as u64, first.written);

        // Resumed later (the clock moved on): the same events at the same times.
        let second = write_demo(
            &*store,
            config,
            Timeline::EndingAt(now + 3_600_000),
            || false,
            |_, _| {},
        )
        .await
        .unwrap();
        assert_eq!(second.written, 4_321 - first.written);
        assert_eq!(second.produced, 4_321);
        assert!(!second.cancelled);
        assert_eq!(log_of(&store).await, log_of(&whole).await);
    });
}

#[test]
fn the_timeline_ends_around_now_and_after_the_newest_event() {
    block_on(async {
        let now = 1_800_000_000_000;
        let store = memory_store();
        write_demo(
            &*store,
            DemoConfig::new(9, 2_000),
            Timeline::EndingAt(now),
            || false,
            |_, _| {},
        )
        .await
        .unwrap();
        let log = store.read_all(ReadAllOptions::default()).await.unwrap();
        let (first, last) = (log[0].recorded_at, log[log.len() - 1].recorded_at);
        assert!(log.windows(2).all(|w| w[0].recorded_at <= w[1].recorded_at));
        assert!(
            first < last && (now - last).abs() < 2 * 86_400_000,
            "{first}..{last}"
        );

        // A newer event in the store: another seed's demo starts after it.
        let later = memory_store();
        let clock_at = now + 86_400_000;
        let recorded = later
            .import_events(vec![chronik_core::RecordedEvent {
                event_id: "mine".into(),
                stream_id: "notes-1".into(),
                version: 1,
                position: 1,
                event_type: "Noted".into(),
                schema_version: 1,
                data: serde_json::json!({}),
                metadata: Default::default(),
                recorded_at: clock_at,
            }])
            .await
            .unwrap();
        assert_eq!(recorded, 1);
        write_demo(
            &*later,
            DemoConfig::new(9, 500),
            Timeline::EndingAt(now),
            || false,
            |_, _| {},
        )
        .await
        .unwrap();
        let log = later.read_all(ReadAllOptions::default()).await.unwrap();
        assert_eq!(log.len(), 501);
        assert!(log[1].recorded_at > clock_at);
    });
}

#[test]
fn a_store_with_other_events_in_a_demo_stream_is_refused_and_keeps_its_data() {
    block_on(async {
        let store = memory_store();
        // The demo's first account, opened by hand.
        store
            .append(
                "account-acc-00001",
                ExpectedVersion::NoStream,
                vec![NewEvent::new(
                    "AccountOpened",
                    serde_json::json!({"owner": "Me"}),
                )],
            )
            .await
            .unwrap();
        let err = write_demo(
            &*store,
            DemoConfig::new(1, 300),
            Timeline::Configured,
            || false,
            |_, _| {},
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, DemoError::Occupied(StoreError::InvalidInput(_))),
            "{err}"
        );
        assert!(err.to_string().contains("clear it first"), "{err}");
        assert_eq!(store.len(), 1, "nothing of the refused chunk was written");
    });
}
