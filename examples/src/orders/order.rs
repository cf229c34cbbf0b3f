//! The order aggregate: a state machine over a list of items.
//!
//! ```text
//! Draft ─► Submitted ─► Reserved ─► Processing ─► Completed
//!   └──────────┴────────────┴────────────┴──► Cancelled
//! ```
//!
//! `Submitted` is the hand-over to the fulfilment saga: the items are frozen and the
//! saga reserves the stock next.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::money::{Money, MoneyError};
use chronik_core::aggregate::{Aggregate, DomainEvent};

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    /// The product id (SKU).
    pub product_id: String,
    /// The product's name, for display (seed 003's orders carry one). Absent in
    /// events written before it existed, and then not written at all, so an item
    /// without a name is recorded exactly as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    /// How many; always positive.
    pub quantity: u32,
    /// Price of one unit, in cents.
    pub unit_price: Money,
}

impl OrderItem {
    /// `quantity × unit_price`, saturating at [`Money::MAX`] (and −`MAX`). `decide`
    /// never records a line whose total passes `MAX`, so this saturates only for
    /// events written by other means.
    pub fn line_total(&self) -> Money {
        self.unit_price.saturating_mul(i64::from(self.quantity))
    }

    /// `quantity × unit_price`, `None` when it leaves [−[`Money::MAX`], `MAX`].
    pub fn checked_line_total(&self) -> Option<Money> {
        self.unit_price.checked_mul(i64::from(self.quantity))
    }
}

/// What an order can be asked to do. JSON: internally tagged by `type`, camelCase
/// fields, prices as decimal strings:
///
/// ```json
/// { "type": "CreateOrder", "customerId": "cust-1" }
/// { "type": "AddItem", "productId": "sku-1", "quantity": 2, "unitPrice": "9.99" }
/// { "type": "AddItem", "productId": "sku-2", "productName": "Widget", "quantity": 1, "unitPrice": "5" }
/// { "type": "UpdateItemQuantity", "productId": "sku-1", "quantity": 5 }
/// { "type": "RemoveItem", "productId": "sku-1" }
/// { "type": "SubmitOrder" }
/// { "type": "CancelOrder", "reason": "changed my mind" }
/// ```
///
/// `MarkReserved`, `MarkProcessing` and `CompleteOrder` are sent by the fulfilment
/// saga; each is a no-op when repeated with the same reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum OrderCommand {
    /// Creates the order for a customer.
    CreateOrder {
        /// The customer's id; must not be blank.
        customer_id: String,
    },
    /// Adds a product; adding a product already in the order adds to its quantity.
    AddItem {
        /// The product id.
        product_id: String,
        /// The product's name, optional (blank counts as none). A line keeps the first
        /// name it was given; a later add of the same product only names a line that
        /// had none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        product_name: Option<String>,
        /// How many; positive.
        quantity: u32,
        /// Unit price as a decimal string, such as `"9.99"`.
        unit_price: String,
    },
    /// Removes a product.
    RemoveItem {
        /// The product id.
        product_id: String,
    },
    /// Sets a product's quantity (positive; remove the item to drop it).
    UpdateItemQuantity {
        /// The product id.
        product_id: String,
        /// The new quantity.
        quantity: u32,
    },
    /// Freezes the items and hands the order to fulfilment.
    SubmitOrder,
    /// Records that the stock is reserved.
    MarkReserved {
        /// The inventory reservation's id.
        reservation_id: String,
    },
    /// Records that the payment is taken.
    MarkProcessing {
        /// The payment's id.
        payment_id: String,
    },
    /// Records that the order was shipped: it is complete.
    CompleteOrder {
        /// The shipment's tracking number.
        tracking_number: String,
    },
    /// Cancels the order (any state before `Completed`).
    CancelOrder {
        /// Why; shown to the customer.
        reason: String,
    },
}

/// What an order records (payload: camelCase fields, prices in cents).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum OrderEvent {
    /// The order was created.
    OrderCreated {
        /// The customer's id.
        customer_id: String,
    },
    /// A product was added (merged into an existing line of the same product).
    ItemAdded {
        /// The product id.
        product_id: String,
        /// The product's name, when the command gave one (not written otherwise).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        product_name: Option<String>,
        /// How many were added.
        quantity: u32,
        /// Unit price in cents.
        unit_price: Money,
    },
    /// A product was removed.
    ItemRemoved {
        /// The product id.
        product_id: String,
    },
    /// A product's quantity was set.
    ItemQuantityUpdated {
        /// The product id.
        product_id: String,
        /// The new quantity.
        quantity: u32,
    },
    /// The order was submitted with these items and total.
    OrderSubmitted {
        /// The customer's id (so that read models need no lookup).
        customer_id: String,
        /// The frozen items.
        items: Vec<OrderItem>,
        /// The order total in cents.
        total: Money,
    },
    /// Stock was reserved.
    OrderReserved {
        /// The reservation id.
        reservation_id: String,
    },
    /// Payment was taken; the order is being fulfilled.
    OrderProcessing {
        /// The payment id.
        payment_id: String,
    },
    /// The order was shipped.
    OrderCompleted {
        /// The tracking number.
        tracking_number: String,
    },
    /// The order was cancelled.
    OrderCancelled {
        /// Why.
        reason: String,
    },
}

impl OrderEvent {
    /// Every event type of the order domain.
    pub const TYPES: [&'static str; 9] = [
        "OrderCreated",
        "ItemAdded",
        "ItemRemoved",
        "ItemQuantityUpdated",
        "OrderSubmitted",
        "OrderReserved",
        "OrderProcessing",
        "OrderCompleted",
        "OrderCancelled",
    ];
}

impl DomainEvent for OrderEvent {
    fn event_type(&self) -> &'static str {
        match self {
            OrderEvent::OrderCreated { .. } => "OrderCreated",
            OrderEvent::ItemAdded { .. } => "ItemAdded",
            OrderEvent::ItemRemoved { .. } => "ItemRemoved",
            OrderEvent::ItemQuantityUpdated { .. } => "ItemQuantityUpdated",
            OrderEvent::OrderSubmitted { .. } => "OrderSubmitted",
            OrderEvent::OrderReserved { .. } => "OrderReserved",
            OrderEvent::OrderProcessing { .. } => "OrderProcessing",
            OrderEvent::OrderCompleted { .. } => "OrderCompleted",
            OrderEvent::OrderCancelled { .. } => "OrderCancelled",
        }
    }

    fn to_data(&self) -> Result<serde_json::Value, serde_json::Error> {
        codec::to_data(self)
    }

    fn from_data(event_type: &str, data: serde_json::Value) -> Result<Self, serde_json::Error> {
        Self::from_data_ref(event_type, &data)
    }

    fn from_data_ref(
        event_type: &str,
        data: &serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        codec::from_tagged(event_type, data, OrderEventFields::deserialize)
    }
}

/// [`OrderEvent`]'s payloads read as the variant named by the envelope's type, without
/// the derived internally tagged decoder's copy of every field into a buffer (see
/// [`codec::from_tagged`]): the same variants, fields and field attributes, which the
/// compiler checks against `OrderEvent` (a test checks every type decodes alike).
#[derive(Deserialize)]
#[serde(remote = "OrderEvent", rename_all_fields = "camelCase")]
enum OrderEventFields {
    OrderCreated {
        customer_id: String,
    },
    ItemAdded {
        product_id: String,
        #[serde(default)]
        product_name: Option<String>,
        quantity: u32,
        unit_price: Money,
    },
    ItemRemoved {
        product_id: String,
    },
    ItemQuantityUpdated {
        product_id: String,
        quantity: u32,
    },
    OrderSubmitted {
        customer_id: String,
        items: Vec<OrderItem>,
        total: Money,
    },
    OrderReserved {
        reservation_id: String,
    },
    OrderProcessing {
        payment_id: String,
    },
    OrderCompleted {
        tracking_number: String,
    },
    OrderCancelled {
        reason: String,
    },
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Not created yet.
    #[default]
    NotCreated,
    /// Being filled: items can change.
    Draft,
    /// Submitted: items frozen, waiting for stock.
    Submitted,
    /// Stock reserved, waiting for payment.
    Reserved,
    /// Paid, being shipped.
    Processing,
    /// Shipped (terminal).
    Completed,
    /// Cancelled (terminal).
    Cancelled,
}

impl OrderStatus {
    /// Whether no transition leaves this status.
    pub fn is_terminal(self) -> bool {
        matches!(self, OrderStatus::Completed | OrderStatus::Cancelled)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The sum of `totals`, `None` when one of them is `None` or the sum leaves
/// [−[`Money::MAX`], `MAX`].
fn total_of(totals: impl IntoIterator<Item = Option<Money>>) -> Option<Money> {
    totals
        .into_iter()
        .try_fold(Money::ZERO, |sum, line| sum.checked_add(line?))
}

/// Why an order command is rejected. Nothing was recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// `CreateOrder` for an id already used. Pick another order id.
    #[error("order already exists; choose another order id")]
    OrderAlreadyExists,
    /// The order was never created. Create it first (or check the id).
    #[error("order does not exist; create it first")]
    OrderNotFound,
    /// The customer id is blank. Send a customer id.
    #[error("customer id must not be empty")]
    EmptyCustomer,
    /// The product id is blank. Send a product id.
    #[error("product id must not be empty")]
    EmptyProduct,
    /// A quantity of zero. Send a positive quantity (remove the item to drop it).
    #[error("quantity must be positive")]
    InvalidQuantity,
    /// The merged quantity would not fit. Order fewer.
    #[error("quantity of {product_id} would exceed {max}")]
    QuantityOverflow {
        /// The product.
        product_id: String,
        /// The largest quantity.
        max: u32,
    },
    /// The line of `product_id` (quantity × unit price), or the order total with it,
    /// would pass `max` ([`Money::MAX`], the largest amount a JavaScript number holds
    /// exactly). Order fewer or cheaper items.
    #[error("the total for {product_id} would exceed the maximum amount {max}; order fewer or cheaper items")]
    TotalTooLarge {
        /// The product whose line was being changed.
        product_id: String,
        /// The largest amount, [`Money::MAX`].
        max: Money,
    },
    /// The unit price is not acceptable; see [`MoneyError`].
    #[error("invalid unit price: {0}")]
    InvalidPrice(#[from] MoneyError),
    /// The product is already in the order at another price. Use the same price, or
    /// remove the line first.
    #[error("{product_id} is already in the order at {existing}, not {requested}")]
    PriceMismatch {
        /// The product.
        product_id: String,
        /// The price of the existing line.
        existing: Money,
        /// The price sent.
        requested: Money,
    },
    /// The product is not in the order. Check the product id.
    #[error("{product_id} is not in the order")]
    ItemNotFound {
        /// The product.
        product_id: String,
    },
    /// Items only change while the order is a draft. Cancel and create a new order.
    #[error("items cannot change: the order is {status}")]
    ItemsLocked {
        /// The current status.
        status: OrderStatus,
    },
    /// An order without items cannot be submitted. Add an item first.
    #[error("cannot submit an empty order; add an item first")]
    EmptyOrder,
    /// The transition is not allowed from the current status (for example shipping a
    /// cancelled order). Nothing to do, or follow the state machine.
    #[error("cannot {action}: the order is {status}")]
    InvalidTransition {
        /// What was asked.
        action: &'static str,
        /// The current status.
        status: OrderStatus,
    },
}

/// An order: the fold of its events. Serialized in camelCase.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Order {
    /// The order id ([`Orders`](super::Orders) fills it in; empty in a bare fold).
    pub id: String,
    /// The customer's id.
    pub customer_id: String,
    /// Where the order stands.
    pub status: OrderStatus,
    /// The lines, in the order they were first added.
    pub items: Vec<OrderItem>,
    /// The inventory reservation, once reserved.
    pub reservation_id: Option<String>,
    /// The payment, once paid.
    pub payment_id: Option<String>,
    /// The tracking number, once shipped.
    pub tracking_number: Option<String>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// How many events the order has (its stream version).
    pub version: u64,
}

impl Order {
    /// The sum of the lines, saturating at [`Money::MAX`] (and −`MAX`). `decide` never
    /// lets the total of a draft pass `MAX`, so this saturates only for events written
    /// by other means.
    pub fn total(&self) -> Money {
        self.items.iter().fold(Money::ZERO, |sum, item| {
            sum.saturating_add(item.line_total())
        })
    }

    /// The sum of the lines, `None` when a line total or the sum leaves
    /// [−[`Money::MAX`], `MAX`].
    pub fn checked_total(&self) -> Option<Money> {
        total_of(self.items.iter().map(OrderItem::checked_line_total))
    }

    /// The total the order would have if the line of `product_id` had `quantity` units
    /// at `unit_price` (added when the order has no such line); `Err` when that line's
    /// total or the order's total would pass [`Money::MAX`].
    fn total_with(
        &self,
        product_id: &str,
        quantity: u32,
        unit_price: Money,
    ) -> Result<Money, OrderError> {
        let changed = OrderItem {
            product_id: product_id.to_string(),
            product_name: None,
            quantity,
            unit_price,
        };
        let others = self
            .items
            .iter()
            .filter(|i| i.product_id != product_id)
            .map(OrderItem::checked_line_total);
        total_of(others.chain([changed.checked_line_total()])).ok_or_else(|| {
            OrderError::TotalTooLarge {
                product_id: product_id.to_string(),
                max: Money::MAX,
            }
        })
    }

    fn item(&self, product_id: &str) -> Option<&OrderItem> {
        self.items.iter().find(|i| i.product_id == product_id)
    }

    fn ensure_draft(&self) -> Result<(), OrderError> {
        match self.status {
            OrderStatus::NotCreated => Err(OrderError::OrderNotFound),
            OrderStatus::Draft => Ok(()),
            status => Err(OrderError::ItemsLocked { status }),
        }
    }

    fn transition(
        &self,
        action: &'static str,
        from: OrderStatus,
        already: Option<(OrderStatus, &Option<String>, &String)>,
        event: OrderEvent,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        if self.status == OrderStatus::NotCreated {
            return Err(OrderError::OrderNotFound);
        }
        if let Some((status, recorded, sent)) = already {
            // The same step sent again (a saga resuming): nothing new happened.
            if self.status >= status && recorded.as_ref() == Some(sent) {
                return Ok(Vec::new());
            }
        }
        if self.status != from {
            return Err(OrderError::InvalidTransition {
                action,
                status: self.status,
            });
        }
        Ok(vec![event])
    }
}

impl Aggregate for Order {
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Error = OrderError;
    const CATEGORY: &'static str = "order";

    fn decide(&self, command: &OrderCommand) -> Result<Vec<OrderEvent>, OrderError> {
        use OrderStatus as S;
        match command {
            OrderCommand::CreateOrder { customer_id } => {
                if self.status != S::NotCreated {
                    return Err(OrderError::OrderAlreadyExists);
                }
                if customer_id.trim().is_empty() {
                    return Err(OrderError::EmptyCustomer);
                }
                Ok(vec![OrderEvent::OrderCreated {
                    customer_id: customer_id.trim().to_string(),
                }])
            }
            OrderCommand::AddItem {
                product_id,
                product_name,
                quantity,
                unit_price,
            } => {
                self.ensure_draft()?;
                if product_id.trim().is_empty() {
                    return Err(OrderError::EmptyProduct);
                }
                if *quantity == 0 {
                    return Err(OrderError::InvalidQuantity);
                }
                let unit_price = Money::parse(unit_price)?;
                let merged = match self.item(product_id) {
                    Some(existing) => {
                        if existing.unit_price != unit_price {
                            return Err(OrderError::PriceMismatch {
                                product_id: product_id.clone(),
                                existing: existing.unit_price,
                                requested: unit_price,
                            });
                        }
                        existing.quantity.checked_add(*quantity).ok_or_else(|| {
                            OrderError::QuantityOverflow {
                                product_id: product_id.clone(),
                                max: u32::MAX,
                            }
                        })?
                    }
                    None => *quantity,
                };
                self.total_with(product_id, merged, unit_price)?;
                let product_name = product_name
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_string);
                Ok(vec![OrderEvent::ItemAdded {
                    product_id: product_id.clone(),
                    product_name,
                    quantity: *quantity,
                    unit_price,
                }])
            }
            OrderCommand::RemoveItem { product_id } => {
                self.ensure_draft()?;
                if self.item(product_id).is_none() {
                    return Err(OrderError::ItemNotFound {
                        product_id: product_id.clone(),
                    });
                }
                Ok(vec![OrderEvent::ItemRemoved {
                    product_id: product_id.clone(),
                }])
            }
            OrderCommand::UpdateItemQuantity {
                product_id,
                quantity,
            } => {
                self.ensure_draft()?;
                if *quantity == 0 {
                    return Err(OrderError::InvalidQuantity);
                }
                match self.item(product_id) {
                    None => Err(OrderError::ItemNotFound {
                        product_id: product_id.clone(),
                    }),
                    Some(item) if item.quantity == *quantity => Ok(Vec::new()),
                    Some(item) => {
                        self.total_with(product_id, *quantity, item.unit_price)?;
                        Ok(vec![OrderEvent::ItemQuantityUpdated {
                            product_id: product_id.clone(),
                            quantity: *quantity,
                        }])
                    }
                }
            }
            OrderCommand::SubmitOrder => {
                match self.status {
                    S::NotCreated => return Err(OrderError::OrderNotFound),
                    S::Draft => {}
                    status => {
                        return Err(OrderError::InvalidTransition {
                            action: "submit",
                            status,
                        })
                    }
                }
                if self.items.is_empty() {
                    return Err(OrderError::EmptyOrder);
                }
                Ok(vec![OrderEvent::OrderSubmitted {
                    customer_id: self.customer_id.clone(),
                    items: self.items.clone(),
                    total: self.total(),
                }])
            }
            OrderCommand::MarkReserved { reservation_id } => self.transition(
                "reserve",
                S::Submitted,
                Some((S::Reserved, &self.reservation_id, reservation_id)),
                OrderEvent::OrderReserved {
                    reservation_id: reservation_id.clone(),
                },
            ),
            OrderCommand::MarkProcessing { payment_id } => self.transition(
                "start processing",
                S::Reserved,
                Some((S::Processing, &self.payment_id, payment_id)),
                OrderEvent::OrderProcessing {
                    payment_id: payment_id.clone(),
                },
            ),
            OrderCommand::CompleteOrder { tracking_number } => self.transition(
                "complete",
                S::Processing,
                Some((S::Completed, &self.tracking_number, tracking_number)),
                OrderEvent::OrderCompleted {
                    tracking_number: tracking_number.clone(),
                },
            ),
            OrderCommand::CancelOrder { reason } => match self.status {
                S::NotCreated => Err(OrderError::OrderNotFound),
                S::Completed | S::Cancelled => Err(OrderError::InvalidTransition {
                    action: "cancel",
                    status: self.status,
                }),
                _ => Ok(vec![OrderEvent::OrderCancelled {
                    reason: reason.clone(),
                }]),
            },
        }
    }

    fn evolve(&mut self, event: &OrderEvent) {
        self.version = self.version.saturating_add(1);
        match event {
            OrderEvent::OrderCreated { customer_id } => {
                self.customer_id = customer_id.clone();
                self.status = OrderStatus::Draft;
            }
            OrderEvent::ItemAdded {
                product_id,
                product_name,
                quantity,
                unit_price,
            } => match self.items.iter_mut().find(|i| &i.product_id == product_id) {
                Some(item) => {
                    item.quantity = item.quantity.saturating_add(*quantity);
                    if item.product_name.is_none() {
                        item.product_name.clone_from(product_name);
                    }
                }
                // Clamped: only events written by other means can pass Money::MAX, and the
                // state must stay readable in JS.
                None => self.items.push(OrderItem {
                    product_id: product_id.clone(),
                    product_name: product_name.clone(),
                    quantity: *quantity,
                    unit_price: unit_price.clamped(),
                }),
            },
            OrderEvent::ItemRemoved { product_id } => {
                self.items.retain(|i| &i.product_id != product_id)
            }
            OrderEvent::ItemQuantityUpdated {
                product_id,
                quantity,
            } => {
                if let Some(item) = self.items.iter_mut().find(|i| &i.product_id == product_id) {
                    item.quantity = *quantity;
                }
            }
            OrderEvent::OrderSubmitted { .. } => self.status = OrderStatus::Submitted,
            OrderEvent::OrderReserved { reservation_id } => {
                self.status = OrderStatus::Reserved;
                self.reservation_id = Some(reservation_id.clone());
            }
            OrderEvent::OrderProcessing { payment_id } => {
                self.status = OrderStatus::Processing;
                self.payment_id = Some(payment_id.clone());
            }
            OrderEvent::OrderCompleted { tracking_number } => {
                self.status = OrderStatus::Completed;
                self.tracking_number = Some(tracking_number.clone());
            }
            OrderEvent::OrderCancelled { reason } => {
                self.status = OrderStatus::Cancelled;
                self.cancel_reason = Some(reason.clone());
            }
        }
    }
}
