//! Seed 003, the order system as its upstream `api` crate serves it: `POST /orders`,
//! `GET /orders` (the active orders, from the CurrentOrders read model),
//! `GET /orders/{id}`, `POST /orders/{id}/submit`, `POST /orders/{id}/fulfill` (runs
//! the fulfilment saga), `GET /orders/{id}/saga`, `GET /orders/{id}/events`; plus, not
//! in the seed (its inventory tracks no stock), `POST /inventory/{product_id}/receive`
//! and `GET /inventory/{product_id}`.
//!
//! Bodies use seed 003's snake_case names; money is integer cents (`unit_price_cents`,
//! `total_cents`); timestamps are RFC 3339. Order ids (and customer ids the server
//! makes) come from the server's injected id source and are UUIDs; an id in a path that
//! is not a UUID is 400, as in the seed.
//!
//! **Order states.** Seed 003 names five: `Draft`, `Reserved`, `Processing`,
//! `Completed`, `Cancelled`. chronik's order has a sixth, `Submitted` (the items are
//! frozen and the order waits for the saga to reserve its stock). Seed 003 has the same
//! moment but no state for it: its `OrderSubmitted` event leaves the order `Draft` until
//! `OrderReserved`. So `Submitted` is shown as `Draft`, and the events
//! (`GET /orders/{id}/events`) tell the two apart. Unlike the seed, chronik refuses to
//! submit an order twice (409).
//!
//! **Fulfilment.** `POST /orders/{id}/fulfill` submits a `Draft` order first (seed 003
//! fulfils drafts), then runs the saga (id = the order id) to its end: reserve
//! inventory, take payment, ship, complete the order; on a refusal it compensates and
//! cancels the order with the reason. The answer is 200 with the saga's final state,
//! `Completed` or `Failed`. A saga left mid-way (the server stopped) is continued; one
//! already finished is 409. Saga states map from chronik's: `Running`, `Compensating`,
//! `Completed`, and `Aborted` shown as `Failed`; `completed_steps` names seed 003's three
//! steps (`reserve_inventory`, `process_payment`, `create_shipment`); chronik's fourth,
//! completing the order, is part of finishing the saga, as in the seed.
//!
//! **Stock.** The warehouse is the examples' event-sourced inventory, with products
//! whose stock was never received *untracked* and always reservable, as every product
//! is in seed 003 ([`UntrackedStock::Reservable`]); receiving stock makes a product
//! tracked, and then an order of more units than are available fails its
//! `reserve_inventory` step and is compensated.
//!
//! Refusals: 400 bad input, 404 an unknown order (or saga), 409 a step the order's state
//! does not allow, 422 a rule (a price that differs from the same product's line, a
//! total past the maximum, a delivery past the maximum). A refused request appends
//! nothing: `POST /orders` decides the whole order (creation and every item) before it
//! appends its events in ONE atomic append.

use std::rc::Rc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chronik_core::{
    Aggregate, DomainEvent, EventStore, ExpectedVersion, NewEvent, ReadStreamOptions,
};
use chronik_examples::orders::CurrentOrdersState;
use chronik_examples::saga::StepStatus;
use chronik_examples::services::StockLevel;
use chronik_examples::{
    Money, Order, OrderCommand, OrderItem, OrderStatus, SagaState, SagaStatus, SagaStep,
    ServiceError, UntrackedStock,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::Worker;
use crate::error::DomainRefusal;
use crate::{metrics_layer, ApiError, AppState, JsonBody};

/// The seed 003 routes, and the stock deliveries.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/orders", post(create).get(list))
        .route("/orders/{id}", get(order))
        .route("/orders/{id}/submit", post(submit))
        .route("/orders/{id}/fulfill", post(fulfill))
        .route("/orders/{id}/saga", get(saga))
        .route("/orders/{id}/events", get(events))
        .route("/inventory/{product_id}", get(stock))
        .route("/inventory/{product_id}/receive", post(receive))
}

/// The warehouse policy the server runs its saga with (see the module docs).
pub const UNTRACKED: UntrackedStock = UntrackedStock::Reservable;

/// `POST /orders`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// A UUID; the server makes one when absent.
    customer_id: Option<String>,
    items: Vec<ItemBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemBody {
    product_id: String,
    product_name: String,
    quantity: u32,
    unit_price_cents: i64,
}

#[derive(Debug, Serialize)]
struct Created {
    order_id: String,
    state: &'static str,
}

/// An order line as seed 003 shows it.
#[derive(Debug, Serialize)]
struct ItemView {
    product_id: String,
    product_name: String,
    quantity: u32,
    unit_price_cents: i64,
}

/// An order as seed 003 shows it.
#[derive(Debug, Serialize)]
struct OrderView {
    id: String,
    customer_id: String,
    state: &'static str,
    items: Vec<ItemView>,
    total_cents: i64,
}

impl OrderView {
    fn new(id: String, customer_id: String, status: OrderStatus, items: &[OrderItem]) -> Self {
        let total = items
            .iter()
            .fold(Money::ZERO, |sum, i| sum.saturating_add(i.line_total()));
        OrderView {
            id,
            customer_id,
            state: order_state(status),
            items: items
                .iter()
                .map(|i| ItemView {
                    product_id: i.product_id.clone(),
                    product_name: i.product_name.clone().unwrap_or_default(),
                    quantity: i.quantity,
                    unit_price_cents: i.unit_price.cents(),
                })
                .collect(),
            total_cents: total.cents(),
        }
    }

    fn of(id: String, order: &Order) -> Self {
        Self::new(id, order.customer_id.clone(), order.status, &order.items)
    }
}

/// Seed 003's name of an order status (`Submitted` is its `Draft`: see the module docs).
pub fn order_state(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::NotCreated | OrderStatus::Draft | OrderStatus::Submitted => "Draft",
        OrderStatus::Reserved => "Reserved",
        OrderStatus::Processing => "Processing",
        OrderStatus::Completed => "Completed",
        OrderStatus::Cancelled => "Cancelled",
    }
}

/// Seed 003's name of a saga status (`Aborted` is its `Failed`).
pub fn saga_state(status: SagaStatus) -> &'static str {
    match status {
        SagaStatus::NotStarted | SagaStatus::Running => "Running",
        SagaStatus::Compensating => "Compensating",
        SagaStatus::Completed => "Completed",
        SagaStatus::Aborted => "Failed",
    }
}

/// Seed 003's name of a saga step; `None` for chronik's completing step, which seed 003
/// does as part of its last one.
pub fn step_name(step: SagaStep) -> Option<&'static str> {
    match step {
        SagaStep::ReserveInventory => Some("reserve_inventory"),
        SagaStep::TakePayment => Some("process_payment"),
        SagaStep::Ship => Some("create_shipment"),
        SagaStep::CompleteOrder => None,
    }
}

/// `raw` as a UUID in its canonical form; 400 otherwise.
fn uuid(raw: &str, what: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw.trim())
        .map(|u| u.to_string())
        .map_err(|e| ApiError::BadRequest(format!("invalid {what} '{raw}': {e}")))
}

fn order_id(raw: &str) -> Result<String, ApiError> {
    uuid(raw, "order id")
}

/// A fresh id from the server's id source, which must make UUIDs.
fn fresh_uuid(state: &AppState) -> Result<String, ApiError> {
    let id = state.ids.next_id();
    uuid::Uuid::parse_str(&id)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::Internal(format!("the id source made '{id}', not a UUID")))
}

/// The commands of a `POST /orders`: create, then add each item.
fn creation(customer_id: String, items: Vec<ItemBody>) -> Result<Vec<OrderCommand>, ApiError> {
    let mut commands = vec![OrderCommand::CreateOrder { customer_id }];
    for (n, item) in items.into_iter().enumerate() {
        if item.unit_price_cents <= 0 {
            return Err(ApiError::BadRequest(format!(
                "items[{n}]: unit_price_cents must be positive, not {}",
                item.unit_price_cents
            )));
        }
        commands.push(OrderCommand::AddItem {
            product_id: item.product_id,
            product_name: Some(item.product_name),
            quantity: item.quantity,
            unit_price: Money::from_cents(item.unit_price_cents).to_string(),
        });
    }
    Ok(commands)
}

/// `error` about `items[n]` of the request.
fn at_item(n: usize, error: ApiError) -> ApiError {
    let at = |m: String| format!("items[{n}]: {m}");
    match error {
        ApiError::BadRequest(m) => ApiError::BadRequest(at(m)),
        ApiError::Conflict(m) => ApiError::Conflict(at(m)),
        ApiError::Refused(m) => ApiError::Refused(at(m)),
        other => other,
    }
}

/// Decides `commands` one after the other on a new order, as the handler would, and
/// returns every event as it will be appended; the first refusal refuses them all.
fn decide_all(commands: &[OrderCommand]) -> Result<Vec<NewEvent>, ApiError> {
    let mut order = Order::default();
    let mut out = Vec::new();
    for (n, command) in commands.iter().enumerate() {
        let events = order.decide(command).map_err(|e| match n {
            0 => e.api_error(),
            n => at_item(n - 1, e.api_error()),
        })?;
        for event in &events {
            order.evolve(event);
            out.push(NewEvent {
                event_id: None,
                event_type: event.event_type().to_string(),
                schema_version: event.schema_version(),
                data: event.to_data().map_err(|e| {
                    ApiError::Internal(format!("an order event does not encode: {e}"))
                })?,
                metadata: Default::default(),
            });
        }
    }
    Ok(out)
}

async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let customer_id = match &body.customer_id {
        Some(raw) => uuid(raw, "customer_id")?,
        None => fresh_uuid(&state)?,
    };
    let events = decide_all(&creation(customer_id, body.items)?)?;
    let id = fresh_uuid(&state)?;
    let order_id = id.clone();
    state
        .engine
        .run(move |w: Rc<Worker>| async move {
            let n = events.len();
            w.store
                .append(&Order::stream_id(&id), ExpectedVersion::NoStream, events)
                .await?;
            metrics_layer::command_done(n, 1);
            Ok(())
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            order_id,
            state: "Draft",
        }),
    ))
}

/// Order `id`, 404 when it was never created.
async fn load(state: &AppState, id: String) -> Result<Order, ApiError> {
    state
        .engine
        .run(move |w: Rc<Worker>| async move {
            let loaded = w.orders.load(&id).await?;
            if loaded.version == 0 {
                return Err(ApiError::NotFound(format!("order {id} does not exist")));
            }
            Ok(loaded.state)
        })
        .await
}

async fn order(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    let id = order_id(&raw)?;
    let order = load(&state, id.clone()).await?;
    Ok(Json(OrderView::of(id, &order)))
}

/// The active (not completed, not cancelled) orders, by id, from the CurrentOrders
/// read model caught up to the end of the log.
async fn list(State(state): State<AppState>) -> Result<Json<Vec<OrderView>>, ApiError> {
    let current: CurrentOrdersState = state
        .engine
        .with_hub(|_, hub| async move {
            let raw = hub.lock().await.state("CurrentOrders").await?;
            serde_json::from_value(raw).map_err(|e| {
                ApiError::Internal(format!("the state of CurrentOrders does not decode: {e}"))
            })
        })
        .await?;
    Ok(Json(
        current
            .orders
            .into_iter()
            .filter(|(_, o)| !o.status.is_terminal())
            .map(|(id, o)| OrderView::new(id, o.customer_id, o.status, &o.items))
            .collect(),
    ))
}

async fn submit(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    let id = order_id(&raw)?;
    let order = state
        .engine
        .run(move |w: Rc<Worker>| async move {
            let outcome = w
                .orders
                .handle(&id, &OrderCommand::SubmitOrder, &Default::default())
                .await?;
            metrics_layer::command_done(outcome.events.len(), outcome.attempts);
            Ok((id, outcome.state))
        })
        .await?;
    Ok(Json(OrderView::of(order.0, &order.1)))
}

#[derive(Debug, Serialize)]
struct Fulfilled {
    saga_id: String,
    saga_state: &'static str,
}

/// Submits a draft, then runs its saga to the end (see the module docs).
async fn fulfill(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Fulfilled>, ApiError> {
    let id = order_id(&raw)?;
    let saga = state
        .engine
        .run(move |w: Rc<Worker>| async move {
            match w.sagas.saga(&id).await? {
                Some(saga) if saga.status.is_terminal() => {
                    return Err(ApiError::Conflict(format!(
                        "order {id} was fulfilled already: its saga is {}",
                        saga_state(saga.status)
                    )))
                }
                Some(_) => {}
                None => {
                    let order = w.orders.load(&id).await?;
                    match order.state.status {
                        OrderStatus::NotCreated => {
                            return Err(ApiError::NotFound(format!("order {id} does not exist")))
                        }
                        OrderStatus::Draft => {
                            let outcome = w
                                .orders
                                .handle(&id, &OrderCommand::SubmitOrder, &Default::default())
                                .await?;
                            metrics_layer::command_done(outcome.events.len(), outcome.attempts);
                        }
                        // Submitted goes on; any other state is refused by the saga.
                        _ => {}
                    }
                }
            }
            Ok(w.sagas.run(&id).await?)
        })
        .await?;
    Ok(Json(Fulfilled {
        saga_id: saga.order_id,
        saga_state: saga_state(saga.status),
    }))
}

#[derive(Debug, Serialize)]
struct SagaView {
    saga_id: String,
    order_id: String,
    state: &'static str,
    completed_steps: Vec<&'static str>,
    reservation_id: Option<String>,
    payment_id: Option<String>,
    tracking_number: Option<String>,
    failure_reason: Option<String>,
}

impl SagaView {
    fn of(saga: SagaState) -> Self {
        let reference = |step| {
            saga.step(step)
                .filter(|r| r.status == StepStatus::Completed)
                .and_then(|r| r.reference.clone())
        };
        SagaView {
            saga_id: saga.order_id.clone(),
            order_id: saga.order_id.clone(),
            state: saga_state(saga.status),
            completed_steps: saga
                .steps
                .iter()
                .filter(|r| r.status == StepStatus::Completed)
                .filter_map(|r| step_name(r.step))
                .collect(),
            reservation_id: reference(SagaStep::ReserveInventory),
            payment_id: reference(SagaStep::TakePayment),
            tracking_number: reference(SagaStep::Ship),
            failure_reason: saga.failure.clone(),
        }
    }
}

async fn saga(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<SagaView>, ApiError> {
    let id = order_id(&raw)?;
    let saga = state
        .engine
        .run(move |w: Rc<Worker>| async move {
            w.sagas.saga(&id).await?.ok_or_else(|| {
                ApiError::NotFound(format!(
                    "order {id} has no saga; POST /orders/{id}/fulfill starts it"
                ))
            })
        })
        .await?;
    Ok(Json(SagaView::of(saga)))
}

/// An event as seed 003 shows it.
#[derive(Debug, Serialize)]
struct EventView {
    event_id: String,
    event_type: String,
    aggregate_id: String,
    version: u64,
    timestamp: String,
    payload: Value,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The order's own events (`order-{id}`), oldest first; the payload is the event's
/// data as stored.
async fn events(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Vec<EventView>>, ApiError> {
    let id = order_id(&raw)?;
    let events = state
        .engine
        .run(move |w: Rc<Worker>| async move {
            let recorded = w
                .store
                .read_stream(&Order::stream_id(&id), ReadStreamOptions::default())
                .await?;
            if recorded.is_empty() {
                return Err(ApiError::NotFound(format!("order {id} does not exist")));
            }
            Ok(recorded
                .into_iter()
                .map(|e| EventView {
                    event_id: e.event_id,
                    event_type: e.event_type,
                    aggregate_id: id.clone(),
                    version: e.version,
                    timestamp: rfc3339(e.recorded_at),
                    payload: e.data,
                })
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(events))
}

/// `POST /inventory/{product_id}/receive`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiveBody {
    quantity: u64,
    /// Makes a retried delivery count once; a fresh id when absent.
    delivery_id: Option<String>,
}

/// A product's stock; `available` is `null` for an untracked product (always
/// reservable).
#[derive(Debug, Serialize)]
struct StockView {
    product_id: String,
    tracked: bool,
    on_hand: u64,
    reserved: u64,
    available: Option<u64>,
}

impl StockView {
    fn of(product_id: String, level: Option<StockLevel>) -> Self {
        let l = level.unwrap_or_default();
        StockView {
            product_id,
            tracked: level.is_some(),
            on_hand: l.on_hand,
            reserved: l.reserved,
            available: level.map(|l| l.available()),
        }
    }
}

fn service_error(e: ServiceError) -> ApiError {
    let message = e.to_string();
    match e {
        ServiceError::InvalidQuantity { .. } => ApiError::BadRequest(message),
        ServiceError::StockOverflow { .. } => ApiError::Refused(message),
        ServiceError::Store(store) => store.into(),
        _ => ApiError::Internal(message),
    }
}

fn product_id(raw: String) -> Result<String, ApiError> {
    super::non_empty(raw, "product id")
}

/// Receives stock: the product is tracked from now on.
async fn receive(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<ReceiveBody>,
) -> Result<Json<StockView>, ApiError> {
    let product = product_id(raw)?;
    let delivery = match body.delivery_id {
        Some(d) => super::non_empty(d, "delivery_id")?,
        None => state.ids.next_id(),
    };
    let level = state
        .engine
        .run(move |w: Rc<Worker>| async move {
            let level = w
                .sagas
                .services()
                .receive_stock(&product, body.quantity, &delivery)
                .await
                .map_err(service_error)?;
            Ok(StockView::of(product, Some(level)))
        })
        .await?;
    Ok(Json(level))
}

async fn stock(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<StockView>, ApiError> {
    let product = product_id(raw)?;
    let view = state
        .engine
        .run(move |w: Rc<Worker>| async move {
            let inventory = w
                .sagas
                .services()
                .inventory()
                .await
                .map_err(service_error)?;
            let level = inventory.products.get(&product).copied();
            Ok(StockView::of(product, level))
        })
        .await?;
    Ok(Json(view))
}
