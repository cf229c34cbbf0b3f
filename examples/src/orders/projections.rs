//! Order read models: current orders by status, per-customer history, customer
//! statistics, and the reserved quantity per product.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::order::{Order, OrderEvent, OrderItem, OrderStatus};
use crate::codec;
use crate::money::Money;
use crate::services::MAX_UNITS;
use chronik_core::aggregate::{Aggregate, DomainEvent};
use chronik_core::event::RecordedEvent;
use chronik_core::projection::Projection;

fn decode(event: &RecordedEvent) -> Result<(String, OrderEvent), String> {
    let order = codec::id_in(&event.stream_id, Order::CATEGORY);
    OrderEvent::from_data_ref(&event.event_type, &event.data)
        .map(|e| (order, e))
        .map_err(|e| {
            format!(
                "cannot decode {} at position {}: {e}",
                event.event_type, event.position
            )
        })
}

/// `a + b` units, saturating at [`MAX_UNITS`] so that a count always reads back exactly
/// in JavaScript.
fn add_units(a: u64, b: u64) -> u64 {
    a.saturating_add(b).min(MAX_UNITS)
}

/// `item` with its unit price brought within [−[`Money::MAX`], `MAX`] (only events
/// written by other means than `decide` can hold a larger one).
fn bounded(item: &OrderItem) -> OrderItem {
    OrderItem {
        unit_price: item.unit_price.clamped(),
        ..item.clone()
    }
}

fn order_event_types() -> Option<Vec<String>> {
    Some(OrderEvent::TYPES.iter().map(|t| t.to_string()).collect())
}

/// The status an order event moves its order to, if it changes the status.
fn status_after(event: &OrderEvent) -> Option<OrderStatus> {
    Some(match event {
        OrderEvent::OrderCreated { .. } => OrderStatus::Draft,
        OrderEvent::OrderSubmitted { .. } => OrderStatus::Submitted,
        OrderEvent::OrderReserved { .. } => OrderStatus::Reserved,
        OrderEvent::OrderProcessing { .. } => OrderStatus::Processing,
        OrderEvent::OrderCompleted { .. } => OrderStatus::Completed,
        OrderEvent::OrderCancelled { .. } => OrderStatus::Cancelled,
        _ => return None,
    })
}

/// One open order in [`CurrentOrders`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderSummary {
    /// The customer's id.
    pub customer_id: String,
    /// Where the order stands (never terminal here).
    pub status: OrderStatus,
    /// The lines.
    pub items: Vec<OrderItem>,
    /// The sum of the lines, saturating at [`Money::MAX`] (`decide` keeps an order's
    /// total within it; only events written by other means can pass it).
    pub total: Money,
    /// When the order last changed (ms since the Unix epoch).
    pub updated_at: i64,
}

/// The state of [`CurrentOrders`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentOrdersState {
    /// Every order not yet completed or cancelled, by order id.
    pub orders: BTreeMap<String, OrderSummary>,
    /// How many orders are in each status (terminal ones included).
    pub counts: BTreeMap<OrderStatus, u64>,
}

impl CurrentOrdersState {
    /// The open orders in `status`, by order id.
    pub fn by_status(&self, status: OrderStatus) -> impl Iterator<Item = (&String, &OrderSummary)> {
        self.orders.iter().filter(move |(_, o)| o.status == status)
    }
}

/// Read model: the orders in progress, by status; finished orders leave it (their counts
/// stay).
#[derive(Debug, Clone, Copy, Default)]
pub struct CurrentOrders;

impl Projection for CurrentOrders {
    type State = CurrentOrdersState;
    type Error = String;

    fn name(&self) -> &str {
        "CurrentOrders"
    }

    fn event_types(&self) -> Option<Vec<String>> {
        order_event_types()
    }

    fn apply(&self, state: &mut Self::State, event: &RecordedEvent) -> Result<(), String> {
        let (id, e) = decode(event)?;
        let previous = state.orders.get(&id).map(|o| o.status);
        let order = state.orders.entry(id.clone()).or_default();
        order.updated_at = event.recorded_at;
        match &e {
            OrderEvent::OrderCreated { customer_id } => order.customer_id = customer_id.clone(),
            OrderEvent::ItemAdded {
                product_id,
                product_name,
                quantity,
                unit_price,
            } => match order.items.iter_mut().find(|i| &i.product_id == product_id) {
                Some(item) => {
                    item.quantity = item.quantity.saturating_add(*quantity);
                    if item.product_name.is_none() {
                        item.product_name.clone_from(product_name);
                    }
                }
                None => order.items.push(OrderItem {
                    product_id: product_id.clone(),
                    product_name: product_name.clone(),
                    quantity: *quantity,
                    unit_price: unit_price.clamped(),
                }),
            },
            OrderEvent::ItemRemoved { product_id } => {
                order.items.retain(|i| &i.product_id != product_id)
            }
            OrderEvent::ItemQuantityUpdated {
                product_id,
                quantity,
            } => {
                if let Some(item) = order.items.iter_mut().find(|i| &i.product_id == product_id) {
                    item.quantity = *quantity;
                }
            }
            OrderEvent::OrderSubmitted { items, .. } => {
                order.items = items.iter().map(bounded).collect()
            }
            _ => {}
        }
        order.total = order
            .items
            .iter()
            .fold(Money::ZERO, |sum, i| sum.saturating_add(i.line_total()));
        if let Some(status) = status_after(&e) {
            order.status = status;
            if let Some(previous) = previous {
                if let Some(count) = state.counts.get_mut(&previous) {
                    *count = count.saturating_sub(1);
                }
            }
            let count = state.counts.entry(status).or_default();
            *count = count.saturating_add(1);
            if status.is_terminal() {
                state.orders.remove(&id);
            }
        }
        Ok(())
    }
}

/// One order in a customer's [`OrderHistory`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderHistoryEntry {
    /// The order id.
    pub order_id: String,
    /// Where the order stands.
    pub status: OrderStatus,
    /// The total once submitted (brought within ±[`Money::MAX`]).
    pub total: Money,
    /// When the order was created (ms since the Unix epoch).
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
    /// The tracking number, once shipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    /// Why it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
}

/// The state of [`OrderHistory`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderHistoryState {
    /// Per customer, their orders in creation order.
    pub customers: BTreeMap<String, Vec<OrderHistoryEntry>>,
    /// Which customer each order belongs to.
    pub order_customer: BTreeMap<String, String>,
}

/// Read model: every order of every customer, with its outcome. An event of an order
/// it never saw created (only possible in a log written by other means) is skipped.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderHistory;

impl Projection for OrderHistory {
    type State = OrderHistoryState;
    type Error = String;

    fn name(&self) -> &str {
        "OrderHistory"
    }

    fn event_types(&self) -> Option<Vec<String>> {
        order_event_types()
    }

    fn apply(&self, state: &mut Self::State, event: &RecordedEvent) -> Result<(), String> {
        let (id, e) = decode(event)?;
        if let OrderEvent::OrderCreated { customer_id } = &e {
            state.order_customer.insert(id.clone(), customer_id.clone());
            state
                .customers
                .entry(customer_id.clone())
                .or_default()
                .push(OrderHistoryEntry {
                    order_id: id,
                    status: OrderStatus::Draft,
                    created_at: event.recorded_at,
                    updated_at: event.recorded_at,
                    ..OrderHistoryEntry::default()
                });
            return Ok(());
        }
        let Some(entry) = state
            .order_customer
            .get(&id)
            .and_then(|c| state.customers.get_mut(c))
            .and_then(|orders| orders.iter_mut().rev().find(|o| o.order_id == id))
        else {
            return Ok(());
        };
        entry.updated_at = event.recorded_at;
        if let Some(status) = status_after(&e) {
            entry.status = status;
        }
        match e {
            OrderEvent::OrderSubmitted { total, .. } => entry.total = total.clamped(),
            OrderEvent::OrderCompleted { tracking_number } => {
                entry.tracking_number = Some(tracking_number)
            }
            OrderEvent::OrderCancelled { reason } => entry.cancel_reason = Some(reason),
            _ => {}
        }
        Ok(())
    }
}

/// One customer in [`CustomerStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerStat {
    /// Orders created.
    pub order_count: u64,
    /// Orders completed.
    pub completed_count: u64,
    /// Orders cancelled.
    pub cancelled_count: u64,
    /// Sum of the totals of completed orders, saturating at [`Money::MAX`] (each
    /// order's total is within it; many large orders can pass it).
    pub total_spent: Money,
    /// `total_spent / completed_count`, rounded down to the cent (0 with none); it
    /// understates the average once `total_spent` saturates.
    pub average_order_value: Money,
}

/// The state of [`CustomerStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerStatsState {
    /// Per customer id.
    pub customers: BTreeMap<String, CustomerStat>,
    /// Customer and total of each submitted order not finished yet.
    pub open_orders: BTreeMap<String, (String, Money)>,
    /// Customer of each order not submitted yet.
    pub drafts: BTreeMap<String, String>,
}

/// Read model: per customer, order count, completed and cancelled counts, total spent
/// and average order value. An `OrderCompleted` of an order it never saw submitted
/// (only possible in a log written by other means) is skipped.
#[derive(Debug, Clone, Copy, Default)]
pub struct CustomerStats;

impl Projection for CustomerStats {
    type State = CustomerStatsState;
    type Error = String;

    fn name(&self) -> &str {
        "CustomerStats"
    }

    fn event_types(&self) -> Option<Vec<String>> {
        Some(
            [
                "OrderCreated",
                "OrderSubmitted",
                "OrderCompleted",
                "OrderCancelled",
            ]
            .map(String::from)
            .to_vec(),
        )
    }

    fn apply(&self, state: &mut Self::State, event: &RecordedEvent) -> Result<(), String> {
        let (id, e) = decode(event)?;
        match e {
            OrderEvent::OrderCreated { customer_id } => {
                let stat = state.customers.entry(customer_id.clone()).or_default();
                stat.order_count = stat.order_count.saturating_add(1);
                state.drafts.insert(id, customer_id);
            }
            OrderEvent::OrderSubmitted {
                customer_id, total, ..
            } => {
                state.drafts.remove(&id);
                state.open_orders.insert(id, (customer_id, total.clamped()));
            }
            OrderEvent::OrderCompleted { .. } => {
                let Some((customer, total)) = state.open_orders.remove(&id) else {
                    return Ok(());
                };
                let stat = state.customers.entry(customer).or_default();
                stat.completed_count = stat.completed_count.saturating_add(1);
                stat.total_spent = stat.total_spent.saturating_add(total);
                // completed_count ≥ 1 here; i128 so that no count can truncate.
                stat.average_order_value = clamp_cents(
                    i128::from(stat.total_spent.cents()) / i128::from(stat.completed_count),
                );
            }
            OrderEvent::OrderCancelled { .. } => {
                let customer = match state.open_orders.remove(&id) {
                    Some((customer, _)) => Some(customer),
                    None => state.drafts.remove(&id),
                };
                if let Some(customer) = customer {
                    let stat = state.customers.entry(customer).or_default();
                    stat.cancelled_count = stat.cancelled_count.saturating_add(1);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// `cents` as an amount, saturating at ±[`Money::MAX`].
fn clamp_cents(cents: i128) -> Money {
    let max = i128::from(Money::MAX.cents());
    // In range after the clamp, so the conversion cannot fail.
    Money::from_cents(i64::try_from(cents.clamp(-max, max)).unwrap_or(0))
}

/// One product in [`InventoryDemand`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductDemand {
    /// Units in orders that are reserved or processing right now.
    pub reserved: u64,
    /// Units in submitted orders, ever; saturating at [`MAX_UNITS`].
    pub ordered: u64,
    /// Units shipped in completed orders; saturating at [`MAX_UNITS`].
    pub shipped: u64,
    /// Revenue of shipped units, in cents; saturating at [`Money::MAX`].
    pub revenue: Money,
}

/// The state of [`InventoryDemand`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryDemandState {
    /// Per product id.
    pub products: BTreeMap<String, ProductDemand>,
    /// The items of each submitted, unfinished order, and whether they are reserved.
    pub open_orders: BTreeMap<String, (Vec<OrderItem>, bool)>,
}

/// Read model: per product, the quantity reserved by orders in progress, plus ordered
/// and shipped quantities and revenue.
#[derive(Debug, Clone, Copy, Default)]
pub struct InventoryDemand;

impl Projection for InventoryDemand {
    type State = InventoryDemandState;
    type Error = String;

    fn name(&self) -> &str {
        "InventoryDemand"
    }

    fn event_types(&self) -> Option<Vec<String>> {
        Some(
            [
                "OrderSubmitted",
                "OrderReserved",
                "OrderCompleted",
                "OrderCancelled",
            ]
            .map(String::from)
            .to_vec(),
        )
    }

    fn apply(&self, state: &mut Self::State, event: &RecordedEvent) -> Result<(), String> {
        let (id, e) = decode(event)?;
        match e {
            OrderEvent::OrderSubmitted { items, .. } => {
                let items: Vec<OrderItem> = items.iter().map(bounded).collect();
                for item in &items {
                    let p = state.products.entry(item.product_id.clone()).or_default();
                    p.ordered = add_units(p.ordered, u64::from(item.quantity));
                }
                state.open_orders.insert(id, (items, false));
            }
            OrderEvent::OrderReserved { .. } => {
                if let Some((items, reserved)) = state.open_orders.get_mut(&id) {
                    if !*reserved {
                        *reserved = true;
                        for item in items.iter() {
                            let p = state.products.entry(item.product_id.clone()).or_default();
                            p.reserved = add_units(p.reserved, u64::from(item.quantity));
                        }
                    }
                }
            }
            OrderEvent::OrderCompleted { .. } | OrderEvent::OrderCancelled { .. } => {
                let shipped = matches!(e, OrderEvent::OrderCompleted { .. });
                if let Some((items, reserved)) = state.open_orders.remove(&id) {
                    for item in &items {
                        let p = state.products.entry(item.product_id.clone()).or_default();
                        if reserved {
                            p.reserved = p.reserved.saturating_sub(u64::from(item.quantity));
                        }
                        if shipped {
                            p.shipped = add_units(p.shipped, u64::from(item.quantity));
                            p.revenue = p.revenue.saturating_add(item.line_total());
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}
