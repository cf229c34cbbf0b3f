//! Orders, their fulfilment sagas and the simulated services (inventory, payment,
//! shipping), all event-sourced in the app's store through `chronik_core`'s order
//! domain. The order lists come from the persisted `CurrentOrders` and `OrderHistory`
//! read models of the app's one projection hub, so opening the page does not replay the
//! log.

use chronik_core::{
    Aggregate, CommandContext, DomainEvent, EventStore, IdSource, ReadStreamOptions,
};
use chronik_examples::commands::order_command;
use chronik_examples::orders::{CurrentOrdersState, OrderError, OrderHistoryState};
use chronik_examples::saga::{SagaEvent, StepStatus};
use chronik_examples::services::{Inventory, StockLevel};
use chronik_examples::{
    Faults, FulfilmentSagas, Order, OrderCommand, OrderStatus, Orders, SagaState, SagaStep,
    Services,
};
use chronik_idb::RandomUuids;

use super::projections::state;
use super::AppError;
use super::{changed, store};

/// How many orders of each status the board shows (the newest first); the count
/// covers them all.
pub const SHOWN_PER_STATUS: usize = 20;

/// The statuses on the board, in the order an order moves through them.
pub const STATUSES: [OrderStatus; 6] = [
    OrderStatus::Draft,
    OrderStatus::Submitted,
    OrderStatus::Reserved,
    OrderStatus::Processing,
    OrderStatus::Completed,
    OrderStatus::Cancelled,
];

/// Which saga steps the simulated services refuse (the page's failure switches).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultSwitches {
    /// Reserving inventory fails.
    pub inventory: bool,
    /// Taking payment fails.
    pub payment: bool,
    /// Shipping fails.
    pub shipping: bool,
}

impl FaultSwitches {
    /// The faults to inject: the earliest switched-on step fails (a saga never reaches
    /// the later ones once it compensates).
    pub fn faults(self) -> Faults {
        [
            (self.inventory, SagaStep::ReserveInventory),
            (self.payment, SagaStep::TakePayment),
            (self.shipping, SagaStep::Ship),
        ]
        .into_iter()
        .find(|(on, _)| *on)
        .map_or_else(Faults::none, |(_, step)| Faults::fail(step.operation()))
    }
}

/// One event of a saga's stream, as the page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SagaLine {
    /// The event's version in `saga-{orderId}`.
    pub version: u64,
    /// `SagaStarted`, `StepStarted`, ...
    pub event_type: String,
    /// The step, reference or reason it carries.
    pub detail: String,
}

/// A saga: its state (the fold of its stream) and its events.
#[derive(Debug, Clone, PartialEq)]
pub struct SagaView {
    /// The saga's state.
    pub state: SagaState,
    /// Its events, oldest first.
    pub events: Vec<SagaLine>,
}

/// One order on the board.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderCard {
    /// The order (id, customer, status, items, references, cancellation reason).
    pub order: Order,
    /// When it last changed (ms since the epoch).
    pub updated_at: i64,
    /// Its fulfilment saga, once started.
    pub saga: Option<SagaView>,
}

/// The orders in one status.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderGroup {
    /// The status.
    pub status: OrderStatus,
    /// How many orders are in it.
    pub count: u64,
    /// Up to [`SHOWN_PER_STATUS`] of them, the most recently changed first.
    pub orders: Vec<OrderCard>,
}

fn new_context() -> CommandContext {
    CommandContext::new(RandomUuids.next_id())
}

fn required<'a>(value: &'a str, what: &str) -> Result<&'a str, AppError> {
    let value = value.trim();
    if value.is_empty() {
        Err(AppError::invalid(format!("enter {what}")))
    } else {
        Ok(value)
    }
}

fn parse_quantity(value: &str) -> Result<u32, AppError> {
    let value = value.trim();
    value.parse::<u32>().map_err(|_| {
        AppError::invalid(format!(
            "quantity '{value}' is not a whole number such as 2"
        ))
    })
}

async fn execute(order_id: &str, command: OrderCommand) -> Result<Order, AppError> {
    let order_id = required(order_id, "an order id")?;
    let orders = Orders::new(store().await?);
    let context = new_context();
    if let Some(mode) = super::sync::mode().await? {
        // Syncing: kept by name in the outbox, to be decided again on the server's
        // state if another device wrote to the order first.
        mode.execute(order_command(order_id, &command, &context))
            .await
            .map_err(AppError::from)?;
        changed();
        return orders
            .order(order_id)
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| AppError::store(format!("{order_id}: {}", OrderError::OrderNotFound)));
    }
    let order = orders
        .execute(order_id, &command, &context)
        .await
        .map_err(AppError::from)?;
    changed();
    Ok(order)
}

/// Creates order `order_id` for `customer_id`.
pub async fn create_order(order_id: &str, customer_id: &str) -> Result<Order, AppError> {
    let customer_id = required(customer_id, "a customer id")?.to_string();
    execute(order_id, OrderCommand::CreateOrder { customer_id }).await
}

/// Adds `quantity` units of `product_id` at `unit_price` (a decimal string).
pub async fn add_item(
    order_id: &str,
    product_id: &str,
    quantity: &str,
    unit_price: &str,
) -> Result<Order, AppError> {
    let product_id = required(product_id, "a product id")?.to_string();
    let quantity = parse_quantity(quantity)?;
    let command = OrderCommand::AddItem {
        product_id,
        product_name: None,
        quantity,
        unit_price: unit_price.trim().to_string(),
    };
    execute(order_id, command).await
}

/// Sets the quantity of `product_id`.
pub async fn change_quantity(
    order_id: &str,
    product_id: &str,
    quantity: &str,
) -> Result<Order, AppError> {
    let quantity = parse_quantity(quantity)?;
    let command = OrderCommand::UpdateItemQuantity {
        product_id: product_id.to_string(),
        quantity,
    };
    execute(order_id, command).await
}

/// Removes `product_id` from the order.
pub async fn remove_item(order_id: &str, product_id: &str) -> Result<Order, AppError> {
    let command = OrderCommand::RemoveItem {
        product_id: product_id.to_string(),
    };
    execute(order_id, command).await
}

/// Submits the order: its items freeze and it waits for its fulfilment saga.
pub async fn submit(order_id: &str) -> Result<Order, AppError> {
    execute(order_id, OrderCommand::SubmitOrder).await
}

/// What cancelling an order did.
#[derive(Debug, Clone, PartialEq)]
pub struct Cancelled {
    /// The order, cancelled.
    pub order: Order,
    /// The saga that was under way, now compensated.
    pub saga: Option<SagaState>,
}

/// Cancels the order with `reason`. A fulfilment saga under way is then run to its end:
/// its next step fails on the cancelled order and it undoes what it did (releases the
/// stock, refunds the payment, calls the parcel back).
pub async fn cancel(order_id: &str, reason_text: &str) -> Result<Cancelled, AppError> {
    let reason_text = required(reason_text, "a reason for the cancellation")?.to_string();
    let order = execute(
        order_id,
        OrderCommand::CancelOrder {
            reason: reason_text,
        },
    )
    .await?;
    let sagas = sagas(FaultSwitches::default()).await?;
    let saga = match sagas.saga(&order.id).await.map_err(AppError::from)? {
        Some(saga) if !saga.status.is_terminal() => {
            let result = sagas.run(&order.id).await;
            changed();
            Some(result.map_err(AppError::from)?)
        }
        _ => None,
    };
    Ok(Cancelled { order, saga })
}

async fn sagas(
    switches: FaultSwitches,
) -> Result<FulfilmentSagas<std::rc::Rc<super::AppStore>>, AppError> {
    let store = store().await?;
    let services = Services::new(store.clone()).with_faults(switches.faults());
    Ok(FulfilmentSagas::new(store, services))
}

/// Performs the next action of the order's saga (starting it when the order was just
/// submitted): one event in `saga-{orderId}`.
pub async fn step_saga(order_id: &str, switches: FaultSwitches) -> Result<SagaState, AppError> {
    let order_id = required(order_id, "an order id")?;
    let result = sagas(switches).await?.advance(order_id).await;
    // Even a failed action may have recorded something.
    changed();
    result.map_err(AppError::from)
}

/// Runs (or resumes) the order's saga to its end. Steps already answered are not
/// called again.
pub async fn run_saga(order_id: &str, switches: FaultSwitches) -> Result<SagaState, AppError> {
    let order_id = required(order_id, "an order id")?;
    let result = sagas(switches).await?.run(order_id).await;
    changed();
    result.map_err(AppError::from)
}

/// The warehouse: stock per product and the open reservations.
pub async fn inventory() -> Result<Inventory, AppError> {
    Services::new(store().await?)
        .inventory()
        .await
        .map_err(AppError::from)
}

/// Receives `units` units of `product_id` into the warehouse.
pub async fn receive_stock(product_id: &str, units: &str) -> Result<StockLevel, AppError> {
    let product_id = required(product_id, "a product id")?;
    let units = units.trim();
    let units: u64 = units.parse().map_err(|_| {
        AppError::invalid(format!("units '{units}' is not a whole number such as 10"))
    })?;
    if units == 0 {
        return Err(AppError::invalid("units must be positive"));
    }
    let level = Services::new(store().await?)
        .receive_stock(product_id, units, &RandomUuids.next_id())
        .await
        .map_err(AppError::from)?;
    changed();
    Ok(level)
}

/// Every order, by status: the open ones from `CurrentOrders`, the finished ones from
/// `OrderHistory` (their items loaded from their streams), each with its saga.
pub async fn board() -> Result<Vec<OrderGroup>, AppError> {
    let store = store().await?;
    let orders = Orders::new(store.clone());
    let open: CurrentOrdersState = state("CurrentOrders").await?;
    let history: OrderHistoryState = state("OrderHistory").await?;

    let mut groups = Vec::new();
    for status in STATUSES {
        let mut cards: Vec<OrderCard> = if status.is_terminal() {
            let mut finished: Vec<_> = history
                .customers
                .values()
                .flatten()
                .filter(|entry| entry.status == status)
                .collect();
            finished.sort_by(|a, b| {
                b.updated_at
                    .cmp(&a.updated_at)
                    .then_with(|| a.order_id.cmp(&b.order_id))
            });
            let mut cards = Vec::new();
            for entry in finished.into_iter().take(SHOWN_PER_STATUS) {
                let order = orders
                    .order(&entry.order_id)
                    .await
                    .map_err(AppError::from)?
                    .unwrap_or_default();
                cards.push(OrderCard {
                    order,
                    updated_at: entry.updated_at,
                    saga: None,
                });
            }
            cards
        } else {
            let mut cards: Vec<OrderCard> = open
                .by_status(status)
                .map(|(id, summary)| OrderCard {
                    order: Order {
                        id: id.clone(),
                        customer_id: summary.customer_id.clone(),
                        status,
                        items: summary.items.clone(),
                        ..Order::default()
                    },
                    updated_at: summary.updated_at,
                    saga: None,
                })
                .collect();
            cards.sort_by(|a, b| {
                b.updated_at
                    .cmp(&a.updated_at)
                    .then_with(|| a.order.id.cmp(&b.order.id))
            });
            cards.truncate(SHOWN_PER_STATUS);
            cards
        };
        for card in &mut cards {
            if card.order.status != OrderStatus::Draft {
                card.saga = saga(&store, &card.order.id).await?;
            }
        }
        groups.push(OrderGroup {
            status,
            count: open.counts.get(&status).copied().unwrap_or(0),
            orders: cards,
        });
    }
    Ok(groups)
}

/// The saga of `order_id` folded from its stream, `None` when not started.
async fn saga(store: &impl EventStore, order_id: &str) -> Result<Option<SagaView>, AppError> {
    let recorded = store
        .read_stream(
            &SagaState::stream_id(order_id),
            ReadStreamOptions::default(),
        )
        .await
        .map_err(AppError::from)?;
    if recorded.is_empty() {
        return Ok(None);
    }
    let mut state = SagaState::default();
    let mut events = Vec::with_capacity(recorded.len());
    for e in recorded {
        let event = SagaEvent::from_data(&e.event_type, e.data.clone()).map_err(|err| {
            AppError::store(format!(
                "cannot decode {} of {}: {err}",
                e.event_type, e.stream_id
            ))
        })?;
        let detail = match &event {
            SagaEvent::SagaStarted { items, total, .. } => {
                format!("{} item line(s), total {total}", items.len())
            }
            SagaEvent::StepStarted { step }
            | SagaEvent::CompensationStarted { step }
            | SagaEvent::CompensationCompleted { step } => step.to_string(),
            SagaEvent::StepCompleted { step, reference } => format!("{step} → {reference}"),
            SagaEvent::StepFailed { step, reason } => format!("{step}: {reason}"),
            SagaEvent::SagaCompleted => String::new(),
            SagaEvent::SagaAborted { reason } => reason.clone(),
        };
        state.evolve(&event);
        events.push(SagaLine {
            version: e.version,
            event_type: e.event_type,
            detail,
        });
    }
    Ok(Some(SagaView { state, events }))
}

/// How far a forward step got, for display: `pending`, `started`, `done`, `failed` or
/// `skipped` (never reached by a finished saga).
pub fn step_status(saga: &SagaState, step: SagaStep) -> &'static str {
    match saga.step(step).map(|r| r.status) {
        Some(StepStatus::Started) => "started",
        Some(StepStatus::Completed) => "done",
        Some(StepStatus::Failed) => "failed",
        None if saga.status.is_terminal() => "skipped",
        None => "pending",
    }
}
