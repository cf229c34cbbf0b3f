//! Simulated external services for the fulfilment saga: inventory, payment, shipping.
//!
//! They are event-sourced in the same store as everything else, so they survive a
//! reload and a saga resumed in a new page sees the stock it left behind:
//!
//! | service | stream | events |
//! | --- | --- | --- |
//! | inventory | `inventory-{warehouse}` (one stream, default `main`) | `StockReceived`, `StockReserved`, `StockReleased`, `StockCommitted` |
//! | payment | `payment-{key}` | `PaymentCaptured`, `PaymentRefunded` |
//! | shipping | `shipment-{key}` | `ShipmentDispatched`, `ShipmentCancelled` |
//!
//! Every operation takes an idempotency key (the saga uses the order id): doing it again
//! with the same key records nothing and returns the first answer. Reservations change
//! stock for real: `available = onHand − reserved`; a release gives the units back, a
//! commit ships them out of `onHand`. A product never received is *untracked*: by
//! default it has nothing available; a warehouse built
//! [`with_untracked`](Services::with_untracked)`(`[`UntrackedStock::Reservable`]`)`
//! reserves it always, without counting it, as seed 003's inventory does (chronik-server
//! runs that way). Receiving stock makes a product tracked under either policy.
//!
//! Failures are injected deterministically by [`Faults`], in the services' own
//! vocabulary ([`Operation`]): always for one operation, or at a rate decided by a hash
//! of `(seed, operation, key)`, so that the same seed fails the
//! same orders on every run and platform.

use std::cell::Cell;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::codec;
use super::money::Money;
use super::orders::OrderItem;
use super::rng::{stable_hash, SplitMix64};
use chronik_core::aggregate::{Aggregate, DomainEvent};
use chronik_core::error::StoreError;
use chronik_core::handler::{CommandContext, CommandHandler, HandlerError};
use chronik_core::store::EventStore;

/// An operation of the simulated services that a [`Faults`] plan can make fail: the
/// services' own vocabulary (the saga maps its steps onto it with
/// `SagaStep::operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Operation {
    /// Reserving stock ([`ServiceCall::Reserve`]).
    Reserve,
    /// Charging a customer ([`ServiceCall::Charge`]).
    Charge,
    /// Dispatching a parcel ([`ServiceCall::Ship`]).
    Ship,
    /// Booking a reservation out of stock ([`ServiceCall::Commit`]). A caller that must
    /// not act on a booking that will be refused asks [`Faults::check`] first: the
    /// fulfilment saga does, before it completes the order, so that a refused booking
    /// never leaves a completed order behind. [`Services::commit`] itself never fails by
    /// injection.
    Commit,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 4] = [
        Operation::Reserve,
        Operation::Charge,
        Operation::Ship,
        Operation::Commit,
    ];

    /// Its name, as in JSON: `reserve`, `charge`, `ship`, `commit`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Reserve => "reserve",
            Operation::Charge => "charge",
            Operation::Ship => "ship",
            Operation::Commit => "commit",
        }
    }

    /// The label hashed into a fault draw. These are the saga step names the draws were
    /// keyed by before the services had a vocabulary of their own; kept, so that a seed
    /// fails the same calls (and the demo writes the same data) as it always has.
    fn draw_label(self) -> &'static str {
        match self {
            Operation::Reserve => "ReserveInventory",
            Operation::Charge => "TakePayment",
            Operation::Ship => "Ship",
            Operation::Commit => "CompleteOrder",
        }
    }
}

/// Deterministic failure injection for the services' operations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// Every call of this operation fails.
    pub fail: Option<Operation>,
    /// Probability in `[0, 1]` that an operation fails for a given key (decided per
    /// `(seed, operation, key)`, so re-running gives the same answer).
    pub failure_rate: f64,
    /// Seed of the failure-rate decisions.
    pub seed: u64,
}

impl Faults {
    /// No failures.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every call of `operation` fails.
    pub fn fail(operation: Operation) -> Self {
        Self {
            fail: Some(operation),
            ..Self::default()
        }
    }

    /// Each operation fails for each key with probability `rate`, decided by `seed`.
    pub fn rate(rate: f64, seed: u64) -> Self {
        Self {
            failure_rate: rate,
            seed,
            ..Self::default()
        }
    }

    /// Whether `operation` fails for `key`.
    pub fn fails(&self, operation: Operation, key: &str) -> bool {
        if self.fail == Some(operation) {
            return true;
        }
        self.failure_rate > 0.0
            && SplitMix64::new(stable_hash(&[
                &self.seed.to_string(),
                operation.draw_label(),
                key,
            ]))
            .unit()
                < self.failure_rate
    }

    /// [`ServiceError::Injected`] when `operation` fails for `key`.
    pub fn check(&self, operation: Operation, key: &str) -> Result<(), ServiceError> {
        if self.fails(operation, key) {
            Err(ServiceError::Injected { operation })
        } else {
            Ok(())
        }
    }
}

/// One call of a service under an idempotency key: what the fulfilment saga (and the
/// demo generator, through the saga's own step code) asks of the services.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceCall {
    /// Reserve `lines` under `key`, all or nothing.
    Reserve {
        /// The idempotency key (the reservation id).
        key: String,
        /// What to reserve.
        lines: Vec<StockLine>,
    },
    /// Give reservation `key`'s units back.
    Release {
        /// The reservation.
        key: String,
    },
    /// Ship reservation `key`'s units out of the warehouse.
    Commit {
        /// The reservation.
        key: String,
    },
    /// Charge `customer_id` `amount` under `key`.
    Charge {
        /// The idempotency key.
        key: String,
        /// Who pays.
        customer_id: String,
        /// How much.
        amount: Money,
    },
    /// Refund payment `key` in full.
    Refund {
        /// The payment's key.
        key: String,
    },
    /// Dispatch `units` units under `key`.
    Ship {
        /// The idempotency key.
        key: String,
        /// Units in the parcel.
        units: u64,
    },
    /// Call shipment `key` back.
    CancelShipment {
        /// The shipment's key.
        key: String,
    },
}

/// The command a [`ServiceCall`] decides on its service's aggregate.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceCommand {
    /// On the warehouse's [`Inventory`].
    Inventory(InventoryCommand),
    /// On the key's [`Payment`].
    Payment(PaymentCommand),
    /// On the key's [`Shipment`].
    Shipment(ShipmentCommand),
}

impl ServiceCall {
    /// The idempotency key.
    pub fn key(&self) -> &str {
        match self {
            ServiceCall::Reserve { key, .. }
            | ServiceCall::Release { key }
            | ServiceCall::Commit { key }
            | ServiceCall::Charge { key, .. }
            | ServiceCall::Refund { key }
            | ServiceCall::Ship { key, .. }
            | ServiceCall::CancelShipment { key } => key,
        }
    }

    /// The operation [`Faults`] may make fail on a call (`None`: compensations, and the
    /// booking out, which never fail by injection).
    pub fn injectable(&self) -> Option<Operation> {
        match self {
            ServiceCall::Reserve { .. } => Some(Operation::Reserve),
            ServiceCall::Charge { .. } => Some(Operation::Charge),
            ServiceCall::Ship { .. } => Some(Operation::Ship),
            _ => None,
        }
    }

    /// The aggregate command the call decides, in a warehouse whose policy for
    /// untracked products is `untracked`.
    pub fn command(&self, untracked: UntrackedStock) -> ServiceCommand {
        let key = self.key().to_string();
        match self {
            ServiceCall::Reserve { lines, .. } => {
                ServiceCommand::Inventory(InventoryCommand::Reserve {
                    reservation_id: key,
                    lines: lines.clone(),
                    untracked,
                })
            }
            ServiceCall::Release { .. } => ServiceCommand::Inventory(InventoryCommand::Release {
                reservation_id: key,
            }),
            ServiceCall::Commit { .. } => ServiceCommand::Inventory(InventoryCommand::Commit {
                reservation_id: key,
            }),
            ServiceCall::Charge {
                customer_id,
                amount,
                ..
            } => ServiceCommand::Payment(PaymentCommand::Capture {
                payment_id: payment_id_for(&key),
                customer_id: customer_id.clone(),
                amount: *amount,
            }),
            ServiceCall::Refund { .. } => ServiceCommand::Payment(PaymentCommand::Refund),
            ServiceCall::Ship { units, .. } => {
                ServiceCommand::Shipment(ShipmentCommand::Dispatch {
                    tracking_number: tracking_number_for(&key),
                    units: *units,
                })
            }
            ServiceCall::CancelShipment { .. } => ServiceCommand::Shipment(ShipmentCommand::Cancel),
        }
    }

    /// What a successful call answers: the reservation id, payment id or tracking
    /// number (`None` for the calls that answer nothing).
    pub fn reference(&self) -> Option<String> {
        match self {
            ServiceCall::Reserve { key, .. } => Some(key.clone()),
            ServiceCall::Charge { key, .. } => Some(payment_id_for(key)),
            ServiceCall::Ship { key, .. } => Some(tracking_number_for(key)),
            _ => None,
        }
    }

    /// The command id that makes a repeated call count once.
    fn command_id(&self) -> String {
        let verb = match self {
            ServiceCall::Reserve { .. } => "reserve",
            ServiceCall::Release { .. } => "release",
            ServiceCall::Commit { .. } => "commit",
            ServiceCall::Charge { .. } => "charge",
            ServiceCall::Refund { .. } => "refund",
            ServiceCall::Ship { .. } => "ship",
            ServiceCall::CancelShipment { .. } => "cancel-shipment",
        };
        format!("{verb}:{}", self.key())
    }
}

/// Why a service call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ServiceError {
    /// Not enough stock. The saga compensates; receive more stock for later orders.
    #[error("out of stock: {product_id} has {available} available, {requested} requested")]
    OutOfStock {
        /// The product.
        product_id: String,
        /// Units asked for.
        requested: u64,
        /// Units available.
        available: u64,
    },
    /// The payment was refunded already and cannot be captured again. Use a new key.
    #[error("payment {key} was refunded; it cannot be captured again")]
    PaymentRefunded {
        /// The idempotency key.
        key: String,
    },
    /// The shipment was cancelled and cannot be dispatched again. Use a new key.
    #[error("shipment {key} was cancelled; it cannot be dispatched again")]
    ShipmentCancelled {
        /// The idempotency key.
        key: String,
    },
    /// A simulated failure from [`Faults`]. The saga compensates.
    #[error("simulated failure")]
    Injected {
        /// The operation that failed.
        operation: Operation,
    },
    /// A stock delivery of 0 units. Nothing was recorded; send at least 1 unit.
    #[error("quantity of {product_id} must be at least 1")]
    InvalidQuantity {
        /// The product.
        product_id: String,
    },
    /// The delivery would take the units on hand past `max` ([`MAX_UNITS`], the largest
    /// count a JavaScript number holds exactly). Nothing was recorded; receive fewer.
    #[error("receiving {quantity} of {product_id} would take its {on_hand} units on hand past the maximum {max}")]
    StockOverflow {
        /// The product.
        product_id: String,
        /// Units on hand before the delivery.
        on_hand: u64,
        /// Units in the delivery.
        quantity: u64,
        /// The largest count, [`MAX_UNITS`].
        max: u64,
    },
    /// A charge of zero, a negative amount or one past [`Money::MAX`]. Nothing was
    /// recorded; charge a positive amount.
    #[error("cannot charge {amount}: the amount must be positive and at most {max}")]
    InvalidAmount {
        /// The amount asked for.
        amount: Money,
        /// The largest amount, [`Money::MAX`].
        max: Money,
    },
    /// The store failed (or holds undecodable data). Nothing is known to have changed
    /// beyond what the store recorded; retry the call with the same key later.
    #[error("service storage failed: {0}")]
    Store(StoreError),
}

impl ServiceError {
    /// Whether this is a business failure (retrying will not help: compensate), as
    /// opposed to a storage failure (retry later).
    pub fn is_business(&self) -> bool {
        !matches!(self, ServiceError::Store(_))
    }
}

fn lift<E: std::error::Error>(
    err: HandlerError<E>,
    rejected: impl FnOnce(E) -> ServiceError,
) -> ServiceError {
    match err {
        HandlerError::Rejected(e) => rejected(e),
        HandlerError::Store(e) | HandlerError::RetriesExhausted { source: e, .. } => {
            ServiceError::Store(e)
        }
        other => ServiceError::Store(StoreError::Corrupt(other.to_string())),
    }
}

// ---------------------------------------------------------------- inventory

/// The most units of one product the warehouse holds: 2^53 − 1, the largest count a
/// JavaScript number holds exactly.
pub const MAX_UNITS: u64 = (1 << 53) - 1;

/// Units of one product in a reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StockLine {
    /// The product.
    pub product_id: String,
    /// Units.
    pub quantity: u64,
}

/// Stock of one product.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StockLevel {
    /// Units in the warehouse (reserved ones included); at most [`MAX_UNITS`] (a fold
    /// of events written by other means saturates there).
    pub on_hand: u64,
    /// Units held by reservations; never more than `on_hand` (saturating, as above).
    pub reserved: u64,
}

impl StockLevel {
    /// Units free to reserve.
    pub fn available(&self) -> u64 {
        self.on_hand.saturating_sub(self.reserved)
    }
}

/// What the warehouse answers for a product it never received stock of (an
/// *untracked* product: it has no entry in [`Inventory::products`]). Receiving stock
/// makes a product tracked, and a tracked product is reserved against its available
/// units under either policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UntrackedStock {
    /// None available: reserving it is [`ServiceError::OutOfStock`]. The default, and
    /// what the browser app, the JS API and the demo data have always done.
    #[default]
    OutOfStock,
    /// Always reservable, and not counted (seed 003's inventory, which tracks no stock
    /// at all; chronik-server's warehouse).
    Reservable,
}

/// `lines` with each quantity brought within [`MAX_UNITS`] (only events written by
/// other means can hold more), so that the state stays readable in JS.
fn bounded_lines(lines: &[StockLine]) -> Vec<StockLine> {
    lines
        .iter()
        .map(|l| StockLine {
            product_id: l.product_id.clone(),
            quantity: l.quantity.min(MAX_UNITS),
        })
        .collect()
}

/// What the inventory records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum InventoryEvent {
    /// Units arrived.
    StockReceived {
        /// The product.
        product_id: String,
        /// Units.
        quantity: u64,
    },
    /// Units were reserved under `reservationId`.
    StockReserved {
        /// The reservation (the idempotency key).
        reservation_id: String,
        /// What was reserved.
        lines: Vec<StockLine>,
    },
    /// A reservation was released: its units are available again.
    StockReleased {
        /// The reservation.
        reservation_id: String,
    },
    /// A reservation was shipped: its units left the warehouse.
    StockCommitted {
        /// The reservation.
        reservation_id: String,
    },
}

impl DomainEvent for InventoryEvent {
    fn event_type(&self) -> &'static str {
        match self {
            InventoryEvent::StockReceived { .. } => "StockReceived",
            InventoryEvent::StockReserved { .. } => "StockReserved",
            InventoryEvent::StockReleased { .. } => "StockReleased",
            InventoryEvent::StockCommitted { .. } => "StockCommitted",
        }
    }
    fn to_data(&self) -> Result<serde_json::Value, serde_json::Error> {
        codec::to_data(self)
    }
    fn from_data(event_type: &str, data: serde_json::Value) -> Result<Self, serde_json::Error> {
        codec::from_data(event_type, data)
    }

    fn from_data_ref(
        event_type: &str,
        data: &serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        codec::from_data_ref(event_type, data)
    }
}

/// What the inventory can be asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventoryCommand {
    /// Add units of a product; refused ([`ServiceError::InvalidQuantity`]) for 0 units
    /// and ([`ServiceError::StockOverflow`]) past [`MAX_UNITS`] on hand.
    Receive {
        /// The product.
        product_id: String,
        /// Units (at least 1).
        quantity: u64,
    },
    /// Reserve all lines, or nothing.
    Reserve {
        /// The idempotency key.
        reservation_id: String,
        /// What to reserve.
        lines: Vec<StockLine>,
        /// What a line of an untracked product gets.
        untracked: UntrackedStock,
    },
    /// Give a reservation's units back (no-op when unknown or done).
    Release {
        /// The reservation.
        reservation_id: String,
    },
    /// Ship a reservation's units out (no-op when unknown or done).
    Commit {
        /// The reservation.
        reservation_id: String,
    },
}

/// A warehouse: stock per product and the open reservations. Serialized in camelCase.
///
/// A product is *tracked* once stock of it was received (it has an entry in
/// `products`); what a reservation of an untracked product gets is the caller's
/// [`UntrackedStock`] policy. Untracked lines hold no units and are not listed in
/// `reservations`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Inventory {
    /// Stock per tracked product id.
    pub products: BTreeMap<String, StockLevel>,
    /// Open reservations by id: the lines each holds of tracked products.
    pub reservations: BTreeMap<String, Vec<StockLine>>,
}

impl Aggregate for Inventory {
    type Command = InventoryCommand;
    type Event = InventoryEvent;
    type Error = ServiceError;
    const CATEGORY: &'static str = "inventory";

    fn decide(&self, command: &InventoryCommand) -> Result<Vec<InventoryEvent>, ServiceError> {
        match command {
            InventoryCommand::Receive {
                product_id,
                quantity,
            } => {
                if *quantity == 0 {
                    return Err(ServiceError::InvalidQuantity {
                        product_id: product_id.clone(),
                    });
                }
                let on_hand = self.products.get(product_id).map_or(0, |l| l.on_hand);
                if on_hand
                    .checked_add(*quantity)
                    .is_none_or(|after| after > MAX_UNITS)
                {
                    return Err(ServiceError::StockOverflow {
                        product_id: product_id.clone(),
                        on_hand,
                        quantity: *quantity,
                        max: MAX_UNITS,
                    });
                }
                Ok(vec![InventoryEvent::StockReceived {
                    product_id: product_id.clone(),
                    quantity: *quantity,
                }])
            }
            InventoryCommand::Reserve {
                reservation_id,
                lines,
                untracked,
            } => {
                if self.reservations.contains_key(reservation_id) {
                    return Ok(Vec::new());
                }
                let mut wanted: BTreeMap<&str, u64> = BTreeMap::new();
                for line in lines {
                    // Saturating: a sum past u64::MAX is more than any stock anyway.
                    let units = wanted.entry(&line.product_id).or_default();
                    *units = units.saturating_add(line.quantity);
                }
                for (product_id, requested) in wanted {
                    let available = match (self.products.get(product_id), untracked) {
                        (Some(level), _) => level.available(),
                        (None, UntrackedStock::Reservable) => continue,
                        (None, UntrackedStock::OutOfStock) => 0,
                    };
                    if requested > available {
                        return Err(ServiceError::OutOfStock {
                            product_id: product_id.to_string(),
                            requested,
                            available,
                        });
                    }
                }
                Ok(vec![InventoryEvent::StockReserved {
                    reservation_id: reservation_id.clone(),
                    lines: lines.clone(),
                }])
            }
            InventoryCommand::Release { reservation_id } => {
                Ok(if self.reservations.contains_key(reservation_id) {
                    vec![InventoryEvent::StockReleased {
                        reservation_id: reservation_id.clone(),
                    }]
                } else {
                    Vec::new()
                })
            }
            InventoryCommand::Commit { reservation_id } => {
                Ok(if self.reservations.contains_key(reservation_id) {
                    vec![InventoryEvent::StockCommitted {
                        reservation_id: reservation_id.clone(),
                    }]
                } else {
                    Vec::new()
                })
            }
        }
    }

    fn evolve(&mut self, event: &InventoryEvent) {
        match event {
            InventoryEvent::StockReceived {
                product_id,
                quantity,
            } => {
                let level = self.products.entry(product_id.clone()).or_default();
                level.on_hand = level.on_hand.saturating_add(*quantity).min(MAX_UNITS);
            }
            InventoryEvent::StockReserved {
                reservation_id,
                lines,
            } => {
                // Only tracked products hold units; an untracked product's line is not
                // counted (nor kept, so that its release or commit after the product
                // became tracked takes back nothing it never held).
                let held: Vec<StockLine> = lines
                    .iter()
                    .filter(|l| self.products.contains_key(&l.product_id))
                    .cloned()
                    .collect();
                for line in &held {
                    if let Some(level) = self.products.get_mut(&line.product_id) {
                        level.reserved =
                            level.reserved.saturating_add(line.quantity).min(MAX_UNITS);
                    }
                }
                self.reservations
                    .insert(reservation_id.clone(), bounded_lines(&held));
            }
            InventoryEvent::StockReleased { reservation_id }
            | InventoryEvent::StockCommitted { reservation_id } => {
                let commit = matches!(event, InventoryEvent::StockCommitted { .. });
                for line in self.reservations.remove(reservation_id).unwrap_or_default() {
                    if let Some(level) = self.products.get_mut(&line.product_id) {
                        level.reserved = level.reserved.saturating_sub(line.quantity);
                        if commit {
                            level.on_hand = level.on_hand.saturating_sub(line.quantity);
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- payment

/// What a payment records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum PaymentEvent {
    /// The customer was charged.
    PaymentCaptured {
        /// The payment id.
        payment_id: String,
        /// Who paid.
        customer_id: String,
        /// Amount in cents.
        amount: Money,
    },
    /// The charge was refunded in full.
    PaymentRefunded {
        /// Amount in cents.
        amount: Money,
    },
}

impl DomainEvent for PaymentEvent {
    fn event_type(&self) -> &'static str {
        match self {
            PaymentEvent::PaymentCaptured { .. } => "PaymentCaptured",
            PaymentEvent::PaymentRefunded { .. } => "PaymentRefunded",
        }
    }
    fn to_data(&self) -> Result<serde_json::Value, serde_json::Error> {
        codec::to_data(self)
    }
    fn from_data(event_type: &str, data: serde_json::Value) -> Result<Self, serde_json::Error> {
        codec::from_data(event_type, data)
    }

    fn from_data_ref(
        event_type: &str,
        data: &serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        codec::from_data_ref(event_type, data)
    }
}

/// What a payment can be asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentCommand {
    /// Charge the customer (no-op when already captured).
    Capture {
        /// The payment id to record.
        payment_id: String,
        /// Who pays.
        customer_id: String,
        /// Amount in cents.
        amount: Money,
    },
    /// Refund in full (no-op when not captured or already refunded).
    Refund,
}

/// A payment, one per idempotency key. Serialized in camelCase.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Payment {
    /// The payment id, once captured.
    pub payment_id: Option<String>,
    /// Who paid.
    pub customer_id: String,
    /// Amount captured, in cents.
    pub amount: Money,
    /// Whether it was refunded.
    pub refunded: bool,
}

impl Aggregate for Payment {
    type Command = PaymentCommand;
    type Event = PaymentEvent;
    type Error = ServiceError;
    const CATEGORY: &'static str = "payment";

    fn decide(&self, command: &PaymentCommand) -> Result<Vec<PaymentEvent>, ServiceError> {
        match command {
            PaymentCommand::Capture {
                payment_id,
                customer_id,
                amount,
            } => {
                if self.refunded {
                    return Err(ServiceError::PaymentRefunded {
                        key: payment_id.clone(),
                    });
                }
                if *amount <= Money::ZERO || *amount > Money::MAX {
                    return Err(ServiceError::InvalidAmount {
                        amount: *amount,
                        max: Money::MAX,
                    });
                }
                Ok(if self.payment_id.is_some() {
                    Vec::new()
                } else {
                    vec![PaymentEvent::PaymentCaptured {
                        payment_id: payment_id.clone(),
                        customer_id: customer_id.clone(),
                        amount: *amount,
                    }]
                })
            }
            PaymentCommand::Refund => Ok(if self.payment_id.is_some() && !self.refunded {
                vec![PaymentEvent::PaymentRefunded {
                    amount: self.amount,
                }]
            } else {
                Vec::new()
            }),
        }
    }

    fn evolve(&mut self, event: &PaymentEvent) {
        match event {
            PaymentEvent::PaymentCaptured {
                payment_id,
                customer_id,
                amount,
            } => {
                self.payment_id = Some(payment_id.clone());
                self.customer_id = customer_id.clone();
                self.amount = amount.clamped();
            }
            PaymentEvent::PaymentRefunded { .. } => self.refunded = true,
        }
    }
}

// ---------------------------------------------------------------- shipping

/// What a shipment records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum ShipmentEvent {
    /// The parcel left with this tracking number.
    ShipmentDispatched {
        /// The tracking number.
        tracking_number: String,
        /// Units in the parcel.
        units: u64,
    },
    /// The shipment was called back.
    ShipmentCancelled,
}

impl DomainEvent for ShipmentEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ShipmentEvent::ShipmentDispatched { .. } => "ShipmentDispatched",
            ShipmentEvent::ShipmentCancelled => "ShipmentCancelled",
        }
    }
    fn to_data(&self) -> Result<serde_json::Value, serde_json::Error> {
        codec::to_data(self)
    }
    fn from_data(event_type: &str, data: serde_json::Value) -> Result<Self, serde_json::Error> {
        codec::from_data(event_type, data)
    }

    fn from_data_ref(
        event_type: &str,
        data: &serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        codec::from_data_ref(event_type, data)
    }
}

/// What a shipment can be asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShipmentCommand {
    /// Dispatch (no-op when already dispatched).
    Dispatch {
        /// The tracking number to record.
        tracking_number: String,
        /// Units in the parcel.
        units: u64,
    },
    /// Call it back (no-op when not dispatched or already cancelled).
    Cancel,
}

/// A shipment, one per idempotency key. Serialized in camelCase.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Shipment {
    /// The tracking number, once dispatched.
    pub tracking_number: Option<String>,
    /// Units in the parcel.
    pub units: u64,
    /// Whether it was cancelled.
    pub cancelled: bool,
}

impl Aggregate for Shipment {
    type Command = ShipmentCommand;
    type Event = ShipmentEvent;
    type Error = ServiceError;
    const CATEGORY: &'static str = "shipment";

    fn decide(&self, command: &ShipmentCommand) -> Result<Vec<ShipmentEvent>, ServiceError> {
        match command {
            ShipmentCommand::Dispatch {
                tracking_number,
                units,
            } => {
                if self.cancelled {
                    return Err(ServiceError::ShipmentCancelled {
                        key: tracking_number.clone(),
                    });
                }
                Ok(if self.tracking_number.is_some() {
                    Vec::new()
                } else {
                    vec![ShipmentEvent::ShipmentDispatched {
                        tracking_number: tracking_number.clone(),
                        units: *units,
                    }]
                })
            }
            ShipmentCommand::Cancel => Ok(if self.tracking_number.is_some() && !self.cancelled {
                vec![ShipmentEvent::ShipmentCancelled]
            } else {
                Vec::new()
            }),
        }
    }

    fn evolve(&mut self, event: &ShipmentEvent) {
        match event {
            ShipmentEvent::ShipmentDispatched {
                tracking_number,
                units,
            } => {
                self.tracking_number = Some(tracking_number.clone());
                self.units = (*units).min(MAX_UNITS);
            }
            ShipmentEvent::ShipmentCancelled => self.cancelled = true,
        }
    }
}

/// The payment id recorded for idempotency key `key`.
pub fn payment_id_for(key: &str) -> String {
    format!("pay-{key}")
}

/// The tracking number recorded for idempotency key `key`: stable, looks real.
pub fn tracking_number_for(key: &str) -> String {
    format!(
        "TRK{:010}",
        stable_hash(&["tracking", key]) % 10_000_000_000
    )
}

/// How many times each service operation was called on this [`Services`] value
/// (idempotent repeats included). Lets tests check that a resumed saga calls nothing
/// it already did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallCounts {
    /// `reserve` calls.
    pub reserve: u32,
    /// `release` calls.
    pub release: u32,
    /// `commit` calls.
    pub commit: u32,
    /// `charge` calls.
    pub charge: u32,
    /// `refund` calls.
    pub refund: u32,
    /// `ship` calls.
    pub ship: u32,
    /// `cancel_shipment` calls.
    pub cancel_shipment: u32,
}

/// The simulated inventory, payment and shipping services, over one store.
pub struct Services<S> {
    inventory: CommandHandler<S, Inventory>,
    payments: CommandHandler<S, Payment>,
    shipments: CommandHandler<S, Shipment>,
    warehouse: String,
    faults: Faults,
    untracked: UntrackedStock,
    calls: Cell<CallCounts>,
}

impl<S: EventStore + Clone> Services<S> {
    /// Services over `store`, warehouse `main`, no injected failures, untracked
    /// products out of stock ([`UntrackedStock::OutOfStock`]).
    pub fn new(store: S) -> Self {
        Self {
            inventory: CommandHandler::new(store.clone()),
            payments: CommandHandler::new(store.clone()),
            shipments: CommandHandler::new(store),
            warehouse: "main".into(),
            faults: Faults::none(),
            untracked: UntrackedStock::default(),
            calls: Cell::new(CallCounts::default()),
        }
    }

    /// What reserving a product never received gets (see [`UntrackedStock`]).
    pub fn with_untracked(mut self, untracked: UntrackedStock) -> Self {
        self.untracked = untracked;
        self
    }

    /// The policy for products never received.
    pub fn untracked(&self) -> UntrackedStock {
        self.untracked
    }

    /// Injects failures.
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// The injected failures.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Operation counts so far.
    pub fn calls(&self) -> CallCounts {
        self.calls.get()
    }

    fn count(&self, bump: impl FnOnce(&mut CallCounts)) {
        let mut c = self.calls.get();
        bump(&mut c);
        self.calls.set(c);
    }

    async fn inventory_do(
        &self,
        command: InventoryCommand,
        command_id: String,
    ) -> Result<Inventory, ServiceError> {
        self.inventory
            .handle(&self.warehouse, &command, &CommandContext::new(command_id))
            .await
            .map(|o| o.state)
            .map_err(|e| lift(e, |e| e))
    }

    /// Adds `quantity` units of `product_id` to the warehouse (a command id makes a
    /// retried delivery count once). Refuses 0 units ([`ServiceError::InvalidQuantity`])
    /// and a delivery that would take the units on hand past [`MAX_UNITS`]
    /// ([`ServiceError::StockOverflow`]); nothing is recorded then.
    pub async fn receive_stock(
        &self,
        product_id: &str,
        quantity: u64,
        delivery_id: &str,
    ) -> Result<StockLevel, ServiceError> {
        let inv = self
            .inventory_do(
                InventoryCommand::Receive {
                    product_id: product_id.to_string(),
                    quantity,
                },
                format!("delivery:{delivery_id}"),
            )
            .await?;
        Ok(inv.products.get(product_id).copied().unwrap_or_default())
    }

    /// The warehouse: stock per product and open reservations.
    pub async fn inventory(&self) -> Result<Inventory, ServiceError> {
        self.inventory
            .load(&self.warehouse)
            .await
            .map(|l| l.state)
            .map_err(|e| lift(e, |e| e))
    }

    /// Performs `call`: counts it, fails it when [`Faults`] inject a failure
    /// ([`ServiceError::Injected`], nothing recorded), decides its command on the
    /// service's aggregate (a repeated call records nothing and answers as the first),
    /// and returns its [`reference`](ServiceCall::reference).
    pub async fn call(&self, call: &ServiceCall) -> Result<Option<String>, ServiceError> {
        self.call_in(call, None).await
    }

    /// [`call`](Self::call) as one step of the operation `correlation` (its events carry
    /// it as their correlation id: the fulfilment saga passes its stream, so that on a
    /// sync replica a refused call abandons the saga's later steps).
    pub async fn call_in(
        &self,
        call: &ServiceCall,
        correlation: Option<&str>,
    ) -> Result<Option<String>, ServiceError> {
        self.count(|c| match call {
            ServiceCall::Reserve { .. } => c.reserve += 1,
            ServiceCall::Release { .. } => c.release += 1,
            ServiceCall::Commit { .. } => c.commit += 1,
            ServiceCall::Charge { .. } => c.charge += 1,
            ServiceCall::Refund { .. } => c.refund += 1,
            ServiceCall::Ship { .. } => c.ship += 1,
            ServiceCall::CancelShipment { .. } => c.cancel_shipment += 1,
        });
        if let Some(operation) = call.injectable() {
            self.faults.check(operation, call.key())?;
        }
        let mut ctx = CommandContext::new(call.command_id());
        if let Some(correlation) = correlation {
            ctx = ctx.correlated_with(correlation);
        }
        let key = call.key();
        match call.command(self.untracked) {
            ServiceCommand::Inventory(c) => self
                .inventory
                .handle(&self.warehouse, &c, &ctx)
                .await
                .map(drop),
            ServiceCommand::Payment(c) => self.payments.handle(key, &c, &ctx).await.map(drop),
            ServiceCommand::Shipment(c) => self.shipments.handle(key, &c, &ctx).await.map(drop),
        }
        .map_err(|e| lift(e, |e| e))?;
        Ok(call.reference())
    }

    /// Reserves `items` under `key`, all or nothing. Returns the reservation id (`key`).
    pub async fn reserve(&self, key: &str, items: &[OrderItem]) -> Result<String, ServiceError> {
        let lines = items
            .iter()
            .map(|i| StockLine {
                product_id: i.product_id.clone(),
                quantity: u64::from(i.quantity),
            })
            .collect();
        let call = ServiceCall::Reserve {
            key: key.to_string(),
            lines,
        };
        self.call(&call).await.map(Option::unwrap_or_default)
    }

    /// Releases reservation `key`: its units are available again.
    pub async fn release(&self, key: &str) -> Result<(), ServiceError> {
        let key = key.to_string();
        self.call(&ServiceCall::Release { key }).await.map(drop)
    }

    /// Ships reservation `key`'s units out of the warehouse.
    pub async fn commit(&self, key: &str) -> Result<(), ServiceError> {
        let key = key.to_string();
        self.call(&ServiceCall::Commit { key }).await.map(drop)
    }

    /// Charges `customer_id` `amount` under `key`. Returns the payment id.
    pub async fn charge(
        &self,
        key: &str,
        customer_id: &str,
        amount: Money,
    ) -> Result<String, ServiceError> {
        let call = ServiceCall::Charge {
            key: key.to_string(),
            customer_id: customer_id.to_string(),
            amount,
        };
        self.call(&call).await.map(Option::unwrap_or_default)
    }

    /// Refunds payment `key` in full.
    pub async fn refund(&self, key: &str) -> Result<(), ServiceError> {
        let key = key.to_string();
        self.call(&ServiceCall::Refund { key }).await.map(drop)
    }

    /// The payment under `key`.
    pub async fn payment(&self, key: &str) -> Result<Payment, ServiceError> {
        self.payments
            .load(key)
            .await
            .map(|l| l.state)
            .map_err(|e| lift(e, |e| e))
    }

    /// Dispatches `units` units under `key`. Returns the tracking number.
    pub async fn ship(&self, key: &str, units: u64) -> Result<String, ServiceError> {
        let call = ServiceCall::Ship {
            key: key.to_string(),
            units,
        };
        self.call(&call).await.map(Option::unwrap_or_default)
    }

    /// Calls shipment `key` back.
    pub async fn cancel_shipment(&self, key: &str) -> Result<(), ServiceError> {
        let key = key.to_string();
        self.call(&ServiceCall::CancelShipment { key })
            .await
            .map(drop)
    }

    /// The shipment under `key`.
    pub async fn shipment(&self, key: &str) -> Result<Shipment, ServiceError> {
        self.shipments
            .load(key)
            .await
            .map(|l| l.state)
            .map_err(|e| lift(e, |e| e))
    }
}
