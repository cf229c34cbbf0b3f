//! The rest of the seed 003 order system's published benchmark set, on the same workloads,
//! so `cargo xtask bench` can print chronik's numbers next to it: order commands, and the
//! order read models (process one event, catch up / rebuild, queries). The store rows of
//! that set are in `engine.rs`.

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Duration;

use chronik_core::{
    CommandContext, EventStore, ManualClock, MemoryStore, Projection, ReadAllOptions, SequentialIds,
};
use chronik_examples::orders::{CurrentOrders, CustomerStats};
use chronik_examples::{OrderCommand, Orders};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use futures::executor::block_on;
use serde_json::json;

fn new_store() -> MemoryStore {
    MemoryStore::new(
        ManualClock::new(1_700_000_000_000),
        SequentialIds::new("evt"),
    )
}

fn command(value: serde_json::Value) -> OrderCommand {
    serde_json::from_value(value).expect("a valid order command")
}

/// `n` orders, each created, given one item and submitted (3 events each).
fn orders_store(n: usize) -> MemoryStore {
    let store = new_store();
    let orders = Orders::new(&store);
    for i in 0..n {
        full_cycle(&orders, &format!("o-{i}"), &format!("c-{}", i % 10));
    }
    store
}

fn full_cycle(orders: &Orders<&MemoryStore>, id: &str, customer: &str) {
    let ctx = CommandContext::default();
    for c in [
        json!({ "type": "CreateOrder", "customerId": customer }),
        json!({ "type": "AddItem", "productId": "tea", "quantity": 2, "unitPrice": "3.50" }),
        json!({ "type": "SubmitOrder" }),
    ] {
        block_on(orders.execute(id, &command(c), &ctx)).unwrap();
    }
}

fn command_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("orders");
    g.throughput(Throughput::Elements(1));
    let store = new_store();
    let orders = Orders::new(&store);
    let next = Cell::new(0u64);
    let create = command(json!({ "type": "CreateOrder", "customerId": "c-1" }));
    g.bench_function("create order", |b| {
        b.iter(|| {
            let n = next.get();
            next.set(n + 1);
            block_on(orders.execute(&format!("new-{n}"), &create, &CommandContext::default()))
                .unwrap()
        })
    });
    g.bench_function("full cycle (create, add item, submit)", |b| {
        b.iter(|| {
            let n = next.get();
            next.set(n + 1);
            full_cycle(&orders, &format!("cycle-{n}"), "c-1");
        })
    });
    g.finish();
}

fn read_model_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("order read models");
    let store = orders_store(100);
    let events = block_on(store.read_all(ReadAllOptions::default())).unwrap();
    g.throughput(Throughput::Elements(1));
    g.bench_function("process one event", |b| {
        let mut state = CurrentOrders.initial_state();
        let mut i = 0;
        b.iter(|| {
            CurrentOrders
                .apply(&mut state, &events[i % events.len()])
                .unwrap();
            i += 1;
        })
    });
    let clock = Rc::new(ManualClock::new(0));
    g.throughput(Throughput::Elements(300));
    g.bench_function("rebuild over 300 events", |b| {
        let orders = Orders::new(&store);
        let mut runner = orders.projection(CurrentOrders, Rc::clone(&clock));
        b.iter(|| assert_eq!(block_on(runner.rebuild(|_| {})).unwrap(), 300))
    });
    let runs = Cell::new(0);
    g.bench_function("catch-up over 300 events", |b| {
        b.iter_batched(
            || {
                runs.set(runs.get() + 1);
                // A fresh store each time: no checkpoint, so it catches up from zero.
                let store = orders_store(100);
                (store, runs.get())
            },
            |(store, _)| {
                let orders = Orders::new(&store);
                let mut runner = orders.projection(CurrentOrders, Rc::clone(&clock));
                assert_eq!(block_on(runner.catch_up()).unwrap(), 300);
            },
            BatchSize::LargeInput,
        )
    });
    let orders = Orders::new(&store);
    let mut current = orders.projection(CurrentOrders, Rc::clone(&clock));
    block_on(current.catch_up()).unwrap();
    let mut stats = orders.projection(CustomerStats, Rc::clone(&clock));
    block_on(stats.catch_up()).unwrap();
    g.throughput(Throughput::Elements(1));
    g.bench_function("query all orders (100)", |b| {
        b.iter(|| {
            let all: Vec<_> = current.state().orders.values().collect();
            assert_eq!(black_box(all).len(), 100);
        })
    });
    g.bench_function("query by customer", |b| {
        b.iter(|| black_box(stats.state().customers.get("c-3")).unwrap())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = command_benches, read_model_benches
}
criterion_main!(benches);
