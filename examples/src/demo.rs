//! Deterministic demo data across both domains: accounts with deposits, withdrawals,
//! transfers and the odd closure; orders created, filled, submitted and fulfilled by
//! the saga (with seeded failures and their compensations); stock deliveries.
//!
//! Every event comes from the real aggregates' `decide`, so the data obeys every rule
//! (no negative balance, no illegal transition) and reads back through the handlers,
//! the saga runner and the read models. The same [`DemoConfig`] always gives the same
//! batches, event ids included, so writing it twice is idempotent.
//!
//! [`DemoData`] is an iterator of [`DemoBatch`]es (one append each). [`write_demo`]
//! writes them to any store, in atomic chunks on the generator's own timeline, with
//! progress, cancellation and resumption: the one demo writer of the app and the JS API.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::bank::{BankAccount, BankCommand, Transfer, TransferCommand};
use super::money::Money;
use super::orders::{Order, OrderCommand, OrderError, OrderItem, OrderStatus};
use super::rng::SplitMix64;
use super::saga::{perform, SagaAction, SagaEffects, SagaEvent, SagaState};
use super::services::{
    Faults, Inventory, InventoryCommand, Payment, ServiceCall, ServiceCommand, ServiceError,
    Shipment, UntrackedStock,
};
use chronik_core::aggregate::{Aggregate, DomainEvent};
use chronik_core::error::StoreError;
use chronik_core::event::{ExpectedVersion, Metadata, NewEvent, RecordedEvent};
use chronik_core::handler::HandlerError;
use chronik_core::store::{EventStore, ReadAllOptions};
use futures::FutureExt;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DemoConfig {
    /// Seed: the same seed gives the same data.
    pub seed: u64,
    /// Exactly how many events to produce.
    pub events: u64,
    /// Time of the first event (ms since the Unix epoch); later events follow at
    /// irregular intervals (about 20 seconds apart on average).
    pub start_ms: i64,
    /// Most accounts to open.
    pub max_accounts: u32,
    /// Customers placing orders.
    pub customers: u32,
    /// Products in the catalogue (1 to [`MAX_PRODUCTS`]; values outside are brought
    /// within).
    pub products: u32,
    /// Probability that a saga step fails (see [`Faults::rate`]).
    pub failure_rate: f64,
}

/// The most products a demo catalogue holds: a larger [`DemoConfig::products`] is
/// treated as this many, so that no configuration exhausts memory before the first
/// event.
pub const MAX_PRODUCTS: u32 = 10_000;

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            events: 10_000,
            start_ms: 1_704_067_200_000, // 2024-01-01T00:00:00Z
            max_accounts: 500,
            customers: 200,
            products: 40,
            failure_rate: 0.03,
        }
    }
}

impl DemoConfig {
    /// The default mix with `seed` and `events`.
    pub fn new(seed: u64, events: u64) -> Self {
        Self {
            seed,
            events,
            ..Self::default()
        }
    }
}

/// One append: events for one stream at an expected version, meant to be recorded at
/// `at_ms` ([`write_demo`] records them at that time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoBatch {
    /// The stream.
    pub stream_id: String,
    /// The stream's version before this batch.
    pub expected_version: ExpectedVersion,
    /// The events, with deterministic ids.
    pub events: Vec<NewEvent>,
    /// When the events happen (ms since the Unix epoch).
    pub at_ms: i64,
}

struct Tracked<A> {
    id: String,
    state: A,
    version: u64,
}

impl<A: Aggregate> Tracked<A> {
    fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            state: A::default(),
            version: 0,
        }
    }
}

struct Flow {
    order: Tracked<Order>,
    saga: Tracked<SagaState>,
    payment: Tracked<Payment>,
    shipment: Tracked<Shipment>,
    /// Items still to add before submitting.
    to_add: Vec<OrderItem>,
}

/// The demo data generator: an iterator of [`DemoBatch`]es that stops after exactly
/// [`DemoConfig::events`] events (the last batch may be cut short; every prefix of a
/// batch is itself valid history).
pub struct DemoData {
    config: DemoConfig,
    rng: SplitMix64,
    faults: Faults,
    now: i64,
    produced: u64,
    next_event: u64,
    queue: VecDeque<DemoBatch>,
    accounts: Vec<Tracked<BankAccount>>,
    transfers: u64,
    orders: u64,
    flows: Vec<Flow>,
    inventory: Tracked<Inventory>,
    catalogue: Vec<(String, Money)>,
    deliveries: u64,
}

const OWNERS: [&str; 16] = [
    "Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory",
    "Niaj", "Olivia", "Peggy", "Rupert", "Sybil",
];

impl DemoData {
    /// A generator for `config`.
    pub fn new(config: DemoConfig) -> Self {
        let mut rng = SplitMix64::new(config.seed);
        let catalogue = (1..=config.products.clamp(1, MAX_PRODUCTS))
            .map(|i| {
                let price = Money::from_cents(rng.range(99, 9_999) as i64);
                (format!("sku-{i:03}"), price)
            })
            .collect();
        Self {
            faults: Faults::rate(config.failure_rate, config.seed),
            now: config.start_ms,
            rng,
            produced: 0,
            next_event: 0,
            queue: VecDeque::new(),
            accounts: Vec::new(),
            transfers: 0,
            orders: 0,
            flows: Vec::new(),
            inventory: Tracked::new("main"),
            catalogue,
            deliveries: 0,
            config,
        }
    }

    /// How many events the generator produces in all.
    pub fn total(&self) -> u64 {
        self.config.events
    }

    /// How many events it has produced so far.
    pub fn produced(&self) -> u64 {
        self.produced
    }

    /// Decides `command` on `tracked` and queues the events as one batch. `Err` when the
    /// aggregate refuses (nothing is queued).
    fn emit<A: Aggregate>(
        queue: &mut VecDeque<DemoBatch>,
        next_event: &mut u64,
        seed: u64,
        now: i64,
        tracked: &mut Tracked<A>,
        command: &A::Command,
    ) -> Result<(), A::Error> {
        let events = tracked.state.decide(command)?;
        if events.is_empty() {
            return Ok(());
        }
        let expected = if tracked.version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(tracked.version)
        };
        let mut batch = Vec::with_capacity(events.len());
        for event in &events {
            tracked.state.evolve(event);
            tracked.version += 1;
            *next_event += 1;
            batch.push(NewEvent {
                event_id: Some(demo_event_id(seed, *next_event)),
                event_type: event.event_type().to_string(),
                schema_version: event.schema_version(),
                data: event.to_data().unwrap_or_default(),
                metadata: Metadata::default(),
            });
        }
        queue.push_back(DemoBatch {
            stream_id: A::stream_id(&tracked.id),
            expected_version: expected,
            events: batch,
            at_ms: now,
        });
        Ok(())
    }

    fn run<A: Aggregate>(
        &mut self,
        pick: impl FnOnce(&mut Self) -> &mut Tracked<A>,
        command: &A::Command,
    ) -> bool {
        // Split borrows: take the queue out while the aggregate is borrowed.
        let mut queue = std::mem::take(&mut self.queue);
        let mut next = self.next_event;
        let (seed, now) = (self.config.seed, self.now);
        let ok = Self::emit(&mut queue, &mut next, seed, now, pick(self), command).is_ok();
        self.queue = queue;
        self.next_event = next;
        ok
    }

    fn run_on<A: Aggregate>(&mut self, tracked: &mut Tracked<A>, command: &A::Command) -> bool {
        let (seed, now) = (self.config.seed, self.now);
        Self::emit(
            &mut self.queue,
            &mut self.next_event,
            seed,
            now,
            tracked,
            command,
        )
        .is_ok()
    }

    fn amount(&mut self, max_cents: i64) -> String {
        let cents = self.rng.range(100, max_cents.max(100) as u64) as i64;
        Money::from_cents(cents).to_string()
    }

    fn open_accounts(&self) -> Vec<usize> {
        (0..self.accounts.len())
            .filter(|&i| self.accounts[i].state.is_open())
            .collect()
    }

    /// One piece of activity; queues at least one batch.
    fn tick(&mut self) {
        self.now = self
            .now
            .saturating_add(self.rng.range(1_000, 40_000) as i64);
        if self.inventory.version == 0 || self.rng.chance(0.02) {
            return self.restock();
        }
        let roll = self.rng.unit();
        let open = self.open_accounts();
        if open.len() < 2
            || (roll < 0.05 && self.accounts.len() < self.config.max_accounts as usize)
        {
            let n = self.accounts.len() + 1;
            let owner = format!("{} {}", self.rng.pick(&OWNERS), n);
            let deposit = self.rng.chance(0.8).then(|| self.amount(500_000));
            self.accounts.push(Tracked::new(format!("acc-{n:05}")));
            self.run(
                |s| s.accounts.last_mut().expect("just pushed"),
                &BankCommand::OpenAccount {
                    owner,
                    initial_deposit: deposit,
                    initial_balance: None,
                },
            );
        } else if roll < 0.55 {
            let i = *self.rng.pick(&open);
            let balance = self.accounts[i].state.balance.cents();
            let command = if balance > 100 && self.rng.chance(0.45) {
                BankCommand::withdraw(self.amount(balance / 2))
            } else {
                BankCommand::deposit(self.amount(200_000))
            };
            self.run(|s| &mut s.accounts[i], &command);
        } else if roll < 0.62 {
            self.transfer(&open);
        } else if roll < 0.625 {
            self.close(&open);
        } else {
            self.order_activity();
        }
    }

    fn restock(&mut self) {
        for _ in 0..3 {
            let (product, _) = self.rng.pick(&self.catalogue).clone();
            self.deliveries += 1;
            let quantity = self.rng.range(20, 200);
            self.run(
                |s| &mut s.inventory,
                &InventoryCommand::Receive {
                    product_id: product,
                    quantity,
                },
            );
        }
    }

    fn close(&mut self, open: &[usize]) {
        let i = *self.rng.pick(open);
        let balance = self.accounts[i].state.balance;
        if !balance.is_zero() {
            self.run(
                |s| &mut s.accounts[i],
                &BankCommand::withdraw(balance.to_string()),
            );
        }
        self.run(|s| &mut s.accounts[i], &BankCommand::CloseAccount);
    }

    /// A whole transfer, as the process manager records it (including the occasional
    /// refund when the target was closed).
    fn transfer(&mut self, open: &[usize]) {
        let from = *self.rng.pick(open);
        let balance = self.accounts[from].state.balance.cents();
        if balance < 200 {
            self.run(|s| &mut s.accounts[from], &BankCommand::deposit("50.00"));
            return;
        }
        let to = if self.rng.chance(0.03) {
            self.rng.below(self.accounts.len() as u64) as usize // may be closed
        } else {
            *self.rng.pick(open)
        };
        if to == from {
            return;
        }
        self.transfers += 1;
        let id = format!("tr-{:06}", self.transfers);
        let cents = self.rng.range(100, (balance / 3).max(100) as u64) as i64;
        let amount = Money::from_cents(cents);
        let mut transfer = Tracked::<Transfer>::new(id.clone());
        let (from_id, to_id) = (self.accounts[from].id.clone(), self.accounts[to].id.clone());
        self.run_on(
            &mut transfer,
            &TransferCommand::Request {
                from: from_id,
                to: to_id,
                amount,
            },
        );
        let leg = |withdraw: bool| {
            let (amount, transfer_id) = (amount.to_string(), Some(id.clone()));
            if withdraw {
                BankCommand::Withdraw {
                    amount,
                    transfer_id,
                }
            } else {
                BankCommand::Deposit {
                    amount,
                    transfer_id,
                }
            }
        };
        self.run(|s| &mut s.accounts[from], &leg(true));
        self.run_on(&mut transfer, &TransferCommand::MarkDebited);
        if self.run(|s| &mut s.accounts[to], &leg(false)) {
            self.run_on(&mut transfer, &TransferCommand::MarkCompleted);
        } else {
            self.run_on(
                &mut transfer,
                &TransferCommand::MarkCreditFailed {
                    reason: format!(
                        "target {}: account is closed; it accepts no more commands",
                        self.accounts[to].id
                    ),
                },
            );
            self.run(|s| &mut s.accounts[from], &leg(false));
            self.run_on(&mut transfer, &TransferCommand::MarkRefunded);
        }
    }

    fn order_activity(&mut self) {
        if self.flows.len() < 8 || self.rng.chance(0.15) {
            self.orders += 1;
            let customer = format!(
                "cust-{:04}",
                self.rng.range(1, u64::from(self.config.customers.max(1)))
            );
            let lines = self.rng.range(1, 4);
            let to_add = (0..lines)
                .map(|_| {
                    let (product_id, unit_price) = self.rng.pick(&self.catalogue).clone();
                    OrderItem {
                        product_id,
                        product_name: None,
                        quantity: self.rng.range(1, 5) as u32,
                        unit_price,
                    }
                })
                .collect();
            let id = format!("ord-{:06}", self.orders);
            let mut flow = Flow {
                order: Tracked::new(id.clone()),
                saga: Tracked::new(id.clone()),
                payment: Tracked::new(id.clone()),
                shipment: Tracked::new(id),
                to_add,
            };
            Self::emit(
                &mut self.queue,
                &mut self.next_event,
                self.config.seed,
                self.now,
                &mut flow.order,
                &OrderCommand::CreateOrder {
                    customer_id: customer,
                },
            )
            .ok();
            self.flows.push(flow);
            return;
        }
        let i = self.rng.below(self.flows.len() as u64) as usize;
        let mut flow = self.flows.swap_remove(i);
        let done = self.advance_flow(&mut flow);
        if !done {
            self.flows.push(flow);
        }
    }

    /// One step of an order's life; `true` when it is finished.
    fn advance_flow(&mut self, flow: &mut Flow) -> bool {
        let (seed, now) = (self.config.seed, self.now);
        let q = &mut self.queue;
        let n = &mut self.next_event;
        if flow.order.state.status == OrderStatus::Draft {
            let command = match flow.to_add.pop() {
                Some(item) => OrderCommand::AddItem {
                    product_id: item.product_id,
                    product_name: None,
                    quantity: item.quantity,
                    unit_price: item.unit_price.to_string(),
                },
                None if self.rng.chance(0.05) => OrderCommand::CancelOrder {
                    reason: "customer changed their mind".into(),
                },
                None => OrderCommand::SubmitOrder,
            };
            Self::emit(q, n, seed, now, &mut flow.order, &command).ok();
            return flow.order.state.status == OrderStatus::Cancelled;
        }
        let saga = flow.saga.state.clone();
        let action = saga.next_action();
        let event = if action == SagaAction::Start {
            SagaEvent::started(&flow.order.id, &flow.order.state)
        } else {
            let mut effects = DemoEffects {
                queue: q,
                next_event: n,
                seed,
                now,
                faults: &self.faults,
                inventory: &mut self.inventory,
                order: &mut flow.order,
                payment: &mut flow.payment,
                shipment: &mut flow.shipment,
            };
            // The demo's effects never wait, so the saga's own step code finishes at once.
            match perform(&saga, action, &mut effects).now_or_never() {
                Some(Ok(Some(event))) => event,
                // Done, or refused where the saga would stop and retry: the flow ends.
                Some(Ok(None) | Err(_)) | None => return true,
            }
        };
        Self::emit(q, n, seed, now, &mut flow.saga, &event).ok();
        flow.saga.state.status.is_terminal()
    }
}

/// The saga's effects on the generator's in-memory aggregates: each call or order
/// update queues the batch its command decides, exactly as the store-backed services
/// and order handler would record it.
struct DemoEffects<'a> {
    queue: &'a mut VecDeque<DemoBatch>,
    next_event: &'a mut u64,
    seed: u64,
    now: i64,
    faults: &'a Faults,
    inventory: &'a mut Tracked<Inventory>,
    order: &'a mut Tracked<Order>,
    payment: &'a mut Tracked<Payment>,
    shipment: &'a mut Tracked<Shipment>,
}

impl SagaEffects for DemoEffects<'_> {
    fn faults(&self) -> &Faults {
        self.faults
    }

    async fn call(&mut self, call: &ServiceCall) -> Result<Option<String>, ServiceError> {
        if let Some(operation) = call.injectable() {
            self.faults.check(operation, call.key())?;
        }
        let (q, n, seed, now) = (&mut *self.queue, &mut *self.next_event, self.seed, self.now);
        // The demo's warehouse has always refused products it never received; its
        // recorded history (and so every seed's data) depends on it.
        match call.command(UntrackedStock::OutOfStock) {
            ServiceCommand::Inventory(c) => DemoData::emit(q, n, seed, now, self.inventory, &c),
            ServiceCommand::Payment(c) => DemoData::emit(q, n, seed, now, self.payment, &c),
            ServiceCommand::Shipment(c) => DemoData::emit(q, n, seed, now, self.shipment, &c),
        }?;
        Ok(call.reference())
    }

    async fn update_order(
        &mut self,
        _order_id: &str,
        _what: &str,
        command: &OrderCommand,
    ) -> Result<(), HandlerError<OrderError>> {
        let (q, n, seed, now) = (&mut *self.queue, &mut *self.next_event, self.seed, self.now);
        DemoData::emit(q, n, seed, now, self.order, command).map_err(HandlerError::Rejected)
    }
}

impl Iterator for DemoData {
    type Item = DemoBatch;

    fn next(&mut self) -> Option<DemoBatch> {
        let remaining = self.config.events.saturating_sub(self.produced);
        if remaining == 0 {
            return None;
        }
        while self.queue.is_empty() {
            self.tick();
        }
        let mut batch = self.queue.pop_front()?;
        batch
            .events
            .truncate(usize::try_from(remaining).unwrap_or(usize::MAX));
        self.produced += batch.events.len() as u64;
        Some(batch)
    }
}

/// Where [`write_demo`] puts the data on the time axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeline {
    /// As configured: the first event at [`DemoConfig::start_ms`].
    Configured,
    /// Spread over the time before `now_ms` (the caller's clock, in ms since the Unix
    /// epoch), about [`DEMO_MS_PER_EVENT`] apart (at most 90 days in all), and after the
    /// store's newest event, so the log's times keep going forward.
    EndingAt(i64),
}

/// About how far apart in time the generator's events fall, on average (ms).
pub const DEMO_MS_PER_EVENT: i64 = 12_000;

/// Events [`write_demo`] writes per atomic import at most (whole batches; a batch
/// larger than this is one write): how often it reports progress and can stop.
pub const DEMO_CHUNK_EVENTS: usize = 1_000;

/// What a [`write_demo`] run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoOutcome {
    /// Events the store gained in this run.
    pub written: u64,
    /// Demo events the store holds now: those of an earlier, interrupted run of the
    /// same seed, and this run's.
    pub produced: u64,
    /// Whether the run stopped early because it was cancelled.
    pub cancelled: bool,
}

/// Why [`write_demo`] wrote less than asked. What it wrote before the failure stays;
/// running it again resumes.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The store holds events the demo's would collide with (other events in a demo
    /// stream, another demo's events, or the same demo's not at the end of the log), or
    /// another writer appended during the run. Demo data goes into a store without them:
    /// clear it, or use another seed.
    #[error("{0}; the store already holds other events where the demo writes (demo data goes into a store without them: clear it first, or use another seed)")]
    Occupied(StoreError),
    /// The store failed. Run again to resume.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the ids of the demo of `seed` start with.
fn demo_id_prefix(seed: u64) -> String {
    format!("demo-{seed:x}-")
}

/// The id of the `n`-th event (1-based) of the demo of `seed`.
fn demo_event_id(seed: u64, n: u64) -> String {
    format!("{}{n}", demo_id_prefix(seed))
}

/// Writes the demo data for `config` to `store`, [`DEMO_CHUNK_EVENTS`] at a time, each
/// chunk ONE atomic [`import_events`](EventStore::import_events): the events keep the
/// generator's own times (on `timeline`) instead of the store's clock, which nobody has
/// to move. `cancelled` is asked between chunks (a cancelled run keeps what it wrote),
/// and `on_progress(done, total)` is called after each.
///
/// Deterministic and resumable: when the log ends with the events of an earlier run of
/// the same seed (one cancelled, or failed half-way), the run continues after them on
/// the same timeline; a finished demo writes nothing. The streams the demo writes
/// (`account-acc-…`, `order-ord-…`, …) must not hold other events, or the first write
/// into one fails with [`DemoError::Occupied`] and nothing of that chunk is written.
pub async fn write_demo<S: EventStore + ?Sized>(
    store: &S,
    config: DemoConfig,
    timeline: Timeline,
    cancelled: impl Fn() -> bool,
    mut on_progress: impl FnMut(u64, u64),
) -> Result<DemoOutcome, DemoError> {
    let seed = config.seed;
    // Generated relative to 0 when the timeline is placed later.
    let relative = matches!(timeline, Timeline::EndingAt(_));
    let mut data = DemoData::new(DemoConfig {
        start_ms: if relative { 0 } else { config.start_ms },
        ..config
    });
    let total = data.total();
    let mut head = store.head_position().await?;
    let newest = match head {
        0 => None,
        _ => store
            .read_all(ReadAllOptions {
                from_position: head,
                limit: Some(1),
                ..ReadAllOptions::default()
            })
            .await?
            .pop(),
    };
    // An earlier run of this seed that the log ends with: skip what it wrote.
    let done_before = newest
        .as_ref()
        .and_then(|e| e.event_id.strip_prefix(&demo_id_prefix(seed)))
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|&n| n <= total);
    let mut shift = match (timeline, &newest) {
        (Timeline::Configured, _) => 0,
        (Timeline::EndingAt(now), newest) => {
            let span = DEMO_MS_PER_EVENT
                .saturating_mul(i64::try_from(total).unwrap_or(i64::MAX))
                .min(90 * 86_400_000);
            let after_newest = newest
                .as_ref()
                .map_or(i64::MIN, |e| e.recorded_at.saturating_add(1));
            now.saturating_sub(span).max(after_newest)
        }
    };
    if let (Some(n), Some(stored)) = (done_before, &newest) {
        let mut last = None;
        while data.produced() < n {
            last = data.next();
        }
        match last {
            Some(batch)
                if data.produced() == n
                    && batch.stream_id == stored.stream_id
                    && batch.events.last().and_then(|e| e.event_id.as_deref())
                        == Some(stored.event_id.as_str()) =>
            {
                shift = stored.recorded_at.saturating_sub(batch.at_ms);
            }
            // The same ids, other events: not this demo's run after all.
            _ => {
                return Err(DemoError::Occupied(StoreError::DuplicateEventId {
                    event_id: stored.event_id.clone(),
                    existing_stream: stored.stream_id.clone(),
                }))
            }
        }
    }
    let skipped = data.produced();
    let mut outcome = DemoOutcome {
        written: 0,
        produced: skipped,
        cancelled: false,
    };
    if skipped > 0 {
        on_progress(skipped, total);
    }
    loop {
        let mut chunk: Vec<RecordedEvent> = Vec::new();
        while chunk.len() < DEMO_CHUNK_EVENTS {
            let Some(batch) = data.next() else {
                break;
            };
            let before = match batch.expected_version {
                ExpectedVersion::Exact(v) => v,
                _ => 0,
            };
            let at = batch.at_ms.saturating_add(shift);
            for (e, version) in batch.events.into_iter().zip(before + 1..) {
                chunk.push(RecordedEvent {
                    event_id: e.event_id.unwrap_or_default(),
                    stream_id: batch.stream_id.clone(),
                    version,
                    position: head + chunk.len() as u64 + 1,
                    event_type: e.event_type,
                    schema_version: e.schema_version,
                    data: e.data,
                    metadata: e.metadata,
                    recorded_at: at,
                });
            }
        }
        if chunk.is_empty() {
            break;
        }
        let written = match store.import_events(chunk).await {
            Ok(written) => written,
            Err(e @ (StoreError::InvalidInput(_) | StoreError::DuplicateEventId { .. })) => {
                return Err(DemoError::Occupied(e))
            }
            Err(e) => return Err(e.into()),
        };
        head += written;
        outcome.written += written;
        outcome.produced += written;
        on_progress(outcome.produced, total);
        if outcome.produced < total && cancelled() {
            outcome.cancelled = true;
            break;
        }
    }
    if outcome.produced == 0 {
        on_progress(0, total);
    }
    Ok(outcome)
}
