//! Engine benchmarks on the MemoryStore: `cargo bench -p chronik-core`.
//!
//! Store appends and reads (seed 003's store rows, on its events and with a new store per
//! append as it does), aggregate rebuilds and projection catch-up of a test account,
//! and state at a version in the middle of a 1,000,000-event stream with and without
//! snapshots. Seed 003's order rows are in `examples/benches/seed003.rs`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Duration;

use chronik_core::testing::uuid_like;
use chronik_core::{
    Aggregate, CommandContext, CommandHandler, EventStore, ExpectedVersion, ManualClock,
    MemoryStore, NewEvent, Projection, ProjectionRunner, ReadAllOptions, ReadStreamOptions,
    RecordedEvent, SequentialIds, Snapshot, SnapshotPolicy,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use futures::executor::block_on;
use serde_json::json;
use support::{Account, AccountCommand, AccountEvent};

fn new_store() -> MemoryStore {
    MemoryStore::new(
        ManualClock::new(1_700_000_000_000),
        SequentialIds::new("evt"),
    )
}

fn deposited(amount: i64) -> NewEvent {
    NewEvent::new(
        "Deposited",
        json!({ "type": "Deposited", "amount": amount }),
    )
    .with_schema_version(2)
}

fn opened() -> NewEvent {
    NewEvent::new("Opened", json!({ "type": "Opened", "owner": "ada" }))
}

/// A store with one account of `n` events (an `Opened` then deposits).
fn account_store(n: usize) -> MemoryStore {
    let store = new_store();
    let mut events = vec![opened()];
    events.extend((1..n).map(|i| deposited(i as i64)));
    block_on(store.append("account-1", ExpectedVersion::NoStream, events)).unwrap();
    store
}

/// Seed 003's store benchmark event: an `OrderCreated` of order `order_id` (its
/// `make_event`: the payload is a ready JSON value, nothing is serialized).
fn order_created(order_id: &str) -> NewEvent {
    NewEvent::new(
        "OrderCreated",
        json!({
            "type": "OrderCreated",
            "data": {
                "order_id": order_id,
                "customer_id": "00000000-0000-0000-0000-000000000001"
            }
        }),
    )
}

/// A store with `streams` orders of `per_stream` [`order_created`] events each.
fn order_store(streams: u64, per_stream: usize) -> MemoryStore {
    let store = new_store();
    for s in 0..streams {
        let id = uuid_like(s);
        let events = (0..per_stream).map(|_| order_created(&id)).collect();
        block_on(store.append(&format!("order-{id}"), ExpectedVersion::Any, events)).unwrap();
    }
    store
}

/// The store rows of seed 003's benchmark set, doing its work per iteration: a new
/// store, a new order id, the event(s) built, one append, everything dropped.
fn store_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(1));
    let next = Cell::new(0u64);
    let order_id = || {
        next.set(next.get() + 1);
        uuid_like(next.get())
    };
    let append = |expected: ExpectedVersion, events: usize| {
        let store = new_store();
        let id = order_id();
        let batch = (0..events).map(|_| order_created(&id)).collect();
        block_on(store.append(&["order-", &id].concat(), expected, batch)).unwrap()
    };
    g.bench_function("append one event", |b| {
        b.iter(|| append(ExpectedVersion::Any, 1))
    });
    g.bench_function("append with version check", |b| {
        b.iter(|| append(ExpectedVersion::NoStream, 1))
    });
    g.throughput(Throughput::Elements(10));
    g.bench_function("append batch of 10", |b| {
        b.iter(|| append(ExpectedVersion::Any, 10))
    });
    g.throughput(Throughput::Elements(100));
    let store = order_store(1, 100);
    let stream = format!("order-{}", uuid_like(0));
    g.bench_function("read 100 events", |b| {
        b.iter(|| {
            black_box(block_on(store.read_stream(&stream, ReadStreamOptions::default())).unwrap())
        })
    });
    g.throughput(Throughput::Elements(1_000));
    let store = order_store(10, 100);
    g.bench_function("stream 1,000 events", |b| {
        b.iter(|| {
            // The global log in pages of 100, as a subscriber reads it.
            let mut from_position = 1;
            let mut seen = 0;
            loop {
                let page = block_on(store.read_all(ReadAllOptions {
                    from_position,
                    limit: Some(100),
                    ..Default::default()
                }))
                .unwrap();
                let Some(last) = page.last() else { break };
                from_position = last.position + 1;
                seen += page.len();
            }
            assert_eq!(seen, 1_000);
        })
    });
    g.finish();
}

fn aggregate_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("aggregate");
    for n in [50u64, 100] {
        let store = account_store(n as usize);
        let h = CommandHandler::<_, Account>::new(&store).with_snapshot_policy(SnapshotPolicy::Off);
        g.throughput(Throughput::Elements(n));
        g.bench_function(format!("rebuild from {n} events"), |b| {
            b.iter(|| {
                let loaded = block_on(h.load("1")).unwrap();
                assert_eq!(loaded.version, n);
            })
        });
    }
    g.throughput(Throughput::Elements(1));
    let store = new_store();
    let h = CommandHandler::<_, Account>::new(&store);
    let next = Cell::new(0u64);
    g.bench_function(
        "handle a command (load, decide, append, snapshot policy)",
        |b| {
            b.iter(|| {
                // Every 100 commands, a new account: the load stays short, as in an app.
                let n = next.get();
                next.set(n + 1);
                let id = (n / 100).to_string();
                let cmd = if n % 100 == 0 {
                    AccountCommand::Open {
                        owner: "ada".into(),
                    }
                } else {
                    AccountCommand::Deposit(1)
                };
                block_on(h.handle(&id, &cmd, &CommandContext::default())).unwrap()
            })
        },
    );
    g.finish();
}

/// Sums deposits; the benchmark's projection.
struct Total {
    name: String,
}

impl Projection for Total {
    type State = i64;
    type Error = String;
    fn name(&self) -> &str {
        &self.name
    }
    fn apply(&self, state: &mut i64, event: &RecordedEvent) -> Result<(), String> {
        *state += event.data["amount"].as_i64().unwrap_or(0);
        Ok(())
    }
}

fn projection_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("projection");
    for n in [300u64, 3_000] {
        let store = account_store(n as usize);
        let clock = Rc::new(ManualClock::new(0));
        let runs = Cell::new(0);
        g.throughput(Throughput::Elements(n));
        g.bench_function(format!("catch-up {n} events"), |b| {
            b.iter_batched(
                || {
                    // A fresh name: no checkpoint yet, so it catches up from zero.
                    runs.set(runs.get() + 1);
                    let total = Total {
                        name: format!("total-{}", runs.get()),
                    };
                    ProjectionRunner::new(&store, total, Rc::clone(&clock))
                },
                |mut runner| {
                    block_on(runner.catch_up()).unwrap();
                    assert_eq!(runner.position(), n);
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

const MILLION: u64 = 1_000_000;

/// One account with a million events; with `snapshots`, one every 10 events (the
/// default policy), saved as the handler would.
fn million_event_store(snapshots: bool) -> MemoryStore {
    let store = new_store();
    let mut state = Account::default();
    let mut version = 0u64;
    while version < MILLION {
        let first = version;
        let batch: Vec<NewEvent> = (0..10_000)
            .map(|i| {
                if first + i == 0 {
                    opened()
                } else {
                    deposited(1)
                }
            })
            .collect();
        if snapshots {
            let mut at = first;
            for chunk in batch.chunks(10) {
                for e in chunk {
                    let event: AccountEvent = serde_json::from_value(e.data.clone()).unwrap();
                    state.evolve(&event);
                }
                at += chunk.len() as u64;
                block_on(store.save_snapshot(Snapshot {
                    stream_id: "account-1".into(),
                    version: at,
                    schema_version: Account::SNAPSHOT_SCHEMA_VERSION,
                    state: serde_json::to_value(&state).unwrap(),
                    taken_at: 0,
                }))
                .unwrap();
            }
        }
        let r = block_on(store.append("account-1", ExpectedVersion::Any, batch)).unwrap();
        version = r.last_version;
    }
    store
}

fn temporal_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("temporal");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    let middle = MILLION / 2 + 5;
    for snapshots in [true, false] {
        let store = million_event_store(snapshots);
        let h = CommandHandler::<_, Account>::new(&store);
        let label = if snapshots { "with" } else { "without" };
        g.bench_function(
            format!("state at version {middle} of 1,000,000, {label} snapshots"),
            |b| {
                b.iter(|| {
                    let at = block_on(h.state_at_version("1", middle)).unwrap();
                    assert_eq!(at.state.balance, middle as i64 - 1);
                })
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = store_benches, aggregate_benches, projection_benches, temporal_benches
}
criterion_main!(benches);
