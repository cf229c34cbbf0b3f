//! The rest of the seed 003 order system's published benchmark set, on the same workloads,
//! so `cargo xtask bench` can print chronik's numbers next to it: order commands, order
//! rebuilds, and the order read models (process one event, catch up / rebuild, queries).
//! The store rows of that set are in `core/benches/engine.rs`.
//!
//! Each row does what seed 003's benchmark of that name does per iteration (see
//! `crates/{domain,projections}/benches` of `maumercado/event-sourcing-rust`): a new
//! store where it makes one, the same aggregate (an order), the same events (an
//! `OrderCreated`, `ItemAdded`s with distinct SKUs, an `OrderSubmitted`) and the same
//! read model (current orders). Ids come from counters instead of random UUIDs.

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Duration;

use chronik_core::testing::uuid_like;
use chronik_core::{
    CommandContext, CommandHandler, DomainEvent, EventStore, ExpectedVersion, ManualClock,
    MemoryStore, NewEvent, Projection, ReadAllOptions, RecordedEvent, SequentialIds,
    SnapshotPolicy,
};
use chronik_examples::orders::{CurrentOrders, OrderSummary};
use chronik_examples::{Money, Order, OrderCommand, OrderEvent, Orders};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use futures::executor::block_on;

fn new_store() -> MemoryStore {
    MemoryStore::new(
        ManualClock::new(1_700_000_000_000),
        SequentialIds::new("evt"),
    )
}

/// Seed 003's `full_create_add_submit`: create, add 2 × "SKU-001" "Widget" at 10.00,
/// submit, each a full command (load, decide, append).
fn full_cycle(orders: &Orders<&MemoryStore>, id: &str, customer: &str) {
    let ctx = CommandContext::default();
    for c in [
        OrderCommand::CreateOrder {
            customer_id: customer.to_string(),
        },
        OrderCommand::AddItem {
            product_id: "SKU-001".into(),
            product_name: Some("Widget".into()),
            quantity: 2,
            unit_price: "10.00".into(),
        },
        OrderCommand::SubmitOrder,
    ] {
        block_on(orders.execute(id, &c, &ctx)).unwrap();
    }
}

/// Seed 003's `populate_store`: `n` orders of new customers, each created, given one
/// item and submitted (3 events each).
fn orders_store(n: u64) -> MemoryStore {
    let store = new_store();
    let orders = Orders::new(&store);
    for i in 0..n {
        full_cycle(&orders, &uuid_like(i), &uuid_like(1_000_000 + i));
    }
    store
}

/// A new store holding `events` (a log exported from another store).
fn store_with(events: &[RecordedEvent]) -> MemoryStore {
    let store = new_store();
    block_on(store.import_events(events.to_vec())).unwrap();
    store
}

fn command_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("orders");
    g.throughput(Throughput::Elements(1));
    let next = Cell::new(0u64);
    let order_id = || {
        next.set(next.get() + 1);
        uuid_like(next.get())
    };
    g.bench_function("create order", |b| {
        b.iter(|| {
            // As seed 003: a new store and service, a new order for a new customer.
            let store = new_store();
            let orders = Orders::new(&store);
            let create = OrderCommand::CreateOrder {
                customer_id: order_id(),
            };
            block_on(orders.execute(&order_id(), &create, &CommandContext::default())).unwrap()
        })
    });
    g.bench_function("full cycle (create, add item, submit)", |b| {
        b.iter(|| {
            let store = new_store();
            let orders = Orders::new(&store);
            full_cycle(&orders, &order_id(), &order_id());
        })
    });
    g.finish();
}

/// Seed 003's `reconstruct_N_events`: one order of an `OrderCreated` then `ItemAdded`s
/// of "SKU-002", "SKU-003", ... ("Product v", quantity 1, v × 1.00), rebuilt without
/// snapshots (seed 003 has none to use).
fn rebuild_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("orders");
    for (events, name) in [
        (51u64, "rebuild from 51 events (created, 50 items)"),
        (100, "rebuild from 100 events (created, 99 items)"),
    ] {
        let store = new_store();
        let id = uuid_like(7);
        let mut batch = vec![OrderEvent::OrderCreated {
            customer_id: uuid_like(8),
        }];
        batch.extend((2..=events).map(|v| OrderEvent::ItemAdded {
            product_id: format!("SKU-{v:03}"),
            product_name: Some(format!("Product {v}")),
            quantity: 1,
            unit_price: Money::from_cents(100 * v as i64),
        }));
        let batch = batch
            .iter()
            .map(|e| NewEvent::new(e.event_type(), e.to_data().unwrap()))
            .collect();
        block_on(store.append(&format!("order-{id}"), ExpectedVersion::NoStream, batch)).unwrap();
        let handler =
            CommandHandler::<_, Order>::new(&store).with_snapshot_policy(SnapshotPolicy::Off);
        g.throughput(Throughput::Elements(events));
        g.bench_function(name, |b| {
            b.iter(|| {
                let loaded = block_on(handler.load(&id)).unwrap();
                assert_eq!(loaded.version, events);
                loaded
            })
        });
    }
    g.finish();
}

fn read_model_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("order read models");
    let clock = Rc::new(ManualClock::new(0));
    g.throughput(Throughput::Elements(1));
    g.bench_function("process one new OrderCreated (build, encode, apply)", |b| {
        // As seed 003: a new order's event built and serialized, then applied to one
        // view that keeps every order of the run.
        let mut state = CurrentOrders.initial_state();
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            let event = OrderEvent::OrderCreated {
                customer_id: uuid_like(n),
            };
            let recorded = RecordedEvent {
                event_id: uuid_like(n),
                stream_id: ["order-", &uuid_like(n)].concat(),
                version: 1,
                position: n,
                event_type: event.event_type().to_string(),
                schema_version: 1,
                data: event.to_data().unwrap(),
                metadata: Default::default(),
                recorded_at: 1_700_000_000_000,
            };
            CurrentOrders.apply(&mut state, &recorded).unwrap();
        })
    });
    for orders in [100u64, 1_000] {
        let log = block_on(orders_store(orders).read_all(ReadAllOptions::default())).unwrap();
        let events = orders * 3;
        g.throughput(Throughput::Elements(events));
        g.bench_function(format!("catch-up over {events} events"), |b| {
            b.iter_batched(
                // The same log in a new store: no checkpoint, so it catches up from zero.
                || store_with(&log),
                |store| {
                    let orders = Orders::new(&store);
                    let mut runner = orders.projection(CurrentOrders, Rc::clone(&clock));
                    assert_eq!(block_on(runner.catch_up()).unwrap() as u64, events);
                    store
                },
                BatchSize::LargeInput,
            )
        });
    }
    let store = orders_store(100);
    g.bench_function("rebuild over 300 events", |b| {
        let orders = Orders::new(&store);
        let mut runner = orders.projection(CurrentOrders, Rc::clone(&clock));
        b.iter(|| assert_eq!(block_on(runner.rebuild(|_| {})).unwrap(), 300))
    });
    let orders = Orders::new(&store);
    let mut current = orders.projection(CurrentOrders, Rc::clone(&clock));
    block_on(current.catch_up()).unwrap();
    g.throughput(Throughput::Elements(1));
    g.bench_function("query all orders (100), cloned", |b| {
        b.iter(|| {
            // As seed 003's `get_all_orders`: a copy of every summary.
            let all: Vec<OrderSummary> = current.state().orders.values().cloned().collect();
            assert_eq!(black_box(all).len(), 100);
        })
    });
    // As seed 003: 5 orders (created, one item) of the customer, 95 full orders of others.
    let store = new_store();
    let orders = Orders::new(&store);
    let ctx = CommandContext::default();
    for i in 0..5 {
        for c in [
            OrderCommand::CreateOrder {
                customer_id: "target".into(),
            },
            OrderCommand::AddItem {
                product_id: "SKU-001".into(),
                product_name: Some("Widget".into()),
                quantity: 1,
                unit_price: "5.00".into(),
            },
        ] {
            block_on(orders.execute(&format!("t-{i}"), &c, &ctx)).unwrap();
        }
    }
    for i in 0..95 {
        full_cycle(&orders, &uuid_like(i), &uuid_like(1_000 + i));
    }
    let mut current = orders.projection(CurrentOrders, Rc::clone(&clock));
    block_on(current.catch_up()).unwrap();
    g.bench_function(
        "query by customer (scan 100 orders, 5 match, cloned)",
        |b| {
            b.iter(|| {
                let found: Vec<OrderSummary> = current
                    .state()
                    .orders
                    .values()
                    .filter(|o| o.customer_id == "target")
                    .cloned()
                    .collect();
                assert_eq!(black_box(found).len(), 5);
            })
        },
    );
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = command_benches, rebuild_benches, read_model_benches
}
criterion_main!(benches);
