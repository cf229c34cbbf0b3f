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
//! writes them to any store with a progress callback.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::bank::{BankAccount, BankCommand, Transfer, TransferCommand};
use super::money::Money;
use super::orders::{Order, OrderCommand, OrderItem, OrderStatus};
use super::rng::SplitMix64;
use super::saga::{SagaAction, SagaEvent, SagaState, SagaStep};
use super::services::{
    payment_id_for, tracking_number_for, Faults, Inventory, InventoryCommand, Payment,
    PaymentCommand, Shipment, ShipmentCommand, StockLine,
};
use chronik_core::aggregate::{Aggregate, DomainEvent};
use chronik_core::error::StoreError;
use chronik_core::event::{ExpectedVersion, Metadata, NewEvent};
use chronik_core::store::EventStore;

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
/// `at_ms` (a store whose clock the caller controls can honour it, see [`write_demo`]).
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
                event_id: Some(format!("demo-{seed:x}-{next_event}")),
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
        let saga = &flow.saga.state;
        let key = flow.order.id.clone();
        let event = match saga.next_action() {
            SagaAction::Start => SagaEvent::SagaStarted {
                order_id: key.clone(),
                customer_id: flow.order.state.customer_id.clone(),
                items: flow.order.state.items.clone(),
                total: flow.order.state.total(),
            },
            SagaAction::Done => return true,
            SagaAction::BeginStep(step) => SagaEvent::StepStarted { step },
            SagaAction::BeginCompensation(step) => SagaEvent::CompensationStarted { step },
            SagaAction::Finish => SagaEvent::SagaCompleted,
            SagaAction::RunStep(step) => {
                let result: Result<String, String> = if self.faults.fails(step, &key) {
                    Err("simulated failure".into())
                } else {
                    match step {
                        SagaStep::ReserveInventory => {
                            let lines = saga
                                .items
                                .iter()
                                .map(|i| StockLine {
                                    product_id: i.product_id.clone(),
                                    quantity: u64::from(i.quantity),
                                })
                                .collect();
                            let reserve = InventoryCommand::Reserve {
                                reservation_id: key.clone(),
                                lines,
                            };
                            Self::emit(q, n, seed, now, &mut self.inventory, &reserve)
                                .map(|()| key.clone())
                                .map_err(|e| e.to_string())
                                .and_then(|r| {
                                    let mark = OrderCommand::MarkReserved {
                                        reservation_id: r.clone(),
                                    };
                                    Self::emit(q, n, seed, now, &mut flow.order, &mark)
                                        .map(|()| r)
                                        .map_err(|e| e.to_string())
                                })
                        }
                        SagaStep::TakePayment => {
                            let payment_id = payment_id_for(&key);
                            let capture = PaymentCommand::Capture {
                                payment_id: payment_id.clone(),
                                customer_id: saga.customer_id.clone(),
                                amount: saga.total,
                            };
                            Self::emit(q, n, seed, now, &mut flow.payment, &capture)
                                .map_err(|e| e.to_string())
                                .and_then(|()| {
                                    let mark = OrderCommand::MarkProcessing {
                                        payment_id: payment_id.clone(),
                                    };
                                    Self::emit(q, n, seed, now, &mut flow.order, &mark)
                                        .map(|()| payment_id)
                                        .map_err(|e| e.to_string())
                                })
                        }
                        SagaStep::Ship => {
                            let tracking_number = tracking_number_for(&key);
                            let units = saga.items.iter().map(|i| u64::from(i.quantity)).sum();
                            let dispatch = ShipmentCommand::Dispatch {
                                tracking_number: tracking_number.clone(),
                                units,
                            };
                            Self::emit(q, n, seed, now, &mut flow.shipment, &dispatch)
                                .map(|()| tracking_number)
                                .map_err(|e| e.to_string())
                        }
                        SagaStep::CompleteOrder => {
                            let tracking_number = tracking_number_for(&key);
                            let complete = OrderCommand::CompleteOrder {
                                tracking_number: tracking_number.clone(),
                            };
                            let done = Self::emit(q, n, seed, now, &mut flow.order, &complete)
                                .map_err(|e| e.to_string());
                            if done.is_ok() {
                                let commit = InventoryCommand::Commit {
                                    reservation_id: key.clone(),
                                };
                                Self::emit(q, n, seed, now, &mut self.inventory, &commit).ok();
                            }
                            done.map(|()| tracking_number)
                        }
                    }
                };
                match result {
                    Ok(reference) => SagaEvent::StepCompleted { step, reference },
                    Err(reason) => SagaEvent::StepFailed {
                        step,
                        reason: format!("{step} failed: {reason}"),
                    },
                }
            }
            SagaAction::RunCompensation(step) => {
                match step {
                    SagaStep::ReserveInventory => {
                        let release = InventoryCommand::Release {
                            reservation_id: key.clone(),
                        };
                        Self::emit(q, n, seed, now, &mut self.inventory, &release).ok();
                    }
                    SagaStep::TakePayment => {
                        Self::emit(q, n, seed, now, &mut flow.payment, &PaymentCommand::Refund)
                            .ok();
                    }
                    SagaStep::Ship => {
                        Self::emit(
                            q,
                            n,
                            seed,
                            now,
                            &mut flow.shipment,
                            &ShipmentCommand::Cancel,
                        )
                        .ok();
                    }
                    SagaStep::CompleteOrder => {}
                }
                SagaEvent::CompensationCompleted { step }
            }
            SagaAction::Abort => {
                let reason = saga.failure.clone().unwrap_or_default();
                let cancel = OrderCommand::CancelOrder {
                    reason: reason.clone(),
                };
                Self::emit(q, n, seed, now, &mut flow.order, &cancel).ok();
                SagaEvent::SagaAborted { reason }
            }
        };
        Self::emit(q, n, seed, now, &mut flow.saga, &event).ok();
        flow.saga.state.status.is_terminal()
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

/// Writes the demo data for `config` to `store`. Calls `set_time(at_ms)` before each
/// batch (to move a [`ManualClock`](chronik_core::ManualClock) the store uses; ignore it with a
/// real clock) and `on_progress(done, total)` every `progress_every` events and at the
/// end. Returns how many events were written. Idempotent: the ids are deterministic,
/// so writing the same config to the same store again changes nothing.
pub async fn write_demo<S: EventStore + ?Sized>(
    store: &S,
    config: DemoConfig,
    progress_every: u64,
    mut set_time: impl FnMut(i64),
    mut on_progress: impl FnMut(u64, u64),
) -> Result<u64, StoreError> {
    let mut data = DemoData::new(config);
    let total = data.total();
    let mut last_report = 0;
    while let Some(batch) = data.next() {
        set_time(batch.at_ms);
        store
            .append(&batch.stream_id, batch.expected_version, batch.events)
            .await?;
        if data.produced() - last_report >= progress_every.max(1) {
            last_report = data.produced();
            on_progress(last_report, total);
        }
    }
    if last_report != data.produced() || total == 0 {
        on_progress(data.produced(), total);
    }
    Ok(data.produced())
}
