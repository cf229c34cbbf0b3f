//! The fulfilment saga: reserve inventory, take payment, ship, complete the order; on a
//! failure, compensate in reverse (cancel the shipment, refund the payment, release the
//! stock) and cancel the order with the reason.
//!
//! The saga's state is event-sourced in its own stream, `saga-{orderId}`. Every action
//! records exactly one event, and every service call sits between a `StepStarted` and
//! the `StepCompleted`/`StepFailed` that records its answer:
//!
//! ```text
//! SagaStarted
//! StepStarted(ReserveInventory)  StepCompleted(ReserveInventory, reservationId)
//! StepStarted(TakePayment)       StepCompleted(TakePayment, paymentId)
//! StepStarted(Ship)              StepFailed(Ship, reason)
//! CompensationStarted(Ship)          CompensationCompleted(Ship)
//! CompensationStarted(TakePayment)   CompensationCompleted(TakePayment)
//! CompensationStarted(ReserveInventory) CompensationCompleted(ReserveInventory)
//! SagaAborted(reason)            (the order is cancelled with the same reason)
//! ```
//!
//! Invariants:
//! - a step whose `StepCompleted` or `StepFailed` is recorded is never called again;
//! - a step started but not finished (the page closed mid-call) is called again with the
//!   same idempotency key (the order id), so the service answers as before and changes
//!   nothing twice;
//! - compensation covers every started step, the failed one included (it may have
//!   half-happened), newest first; compensations are idempotent no-ops for work that
//!   never happened;
//! - the saga ends in `Completed` (order completed, stock shipped out) or `Aborted`
//!   (order cancelled, stock back, payment refunded).

use std::cell::Cell;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::codec;
use super::money::Money;
use super::orders::{Order, OrderCommand, OrderError, OrderItem, OrderStatus};
use super::services::{Faults, Operation, ServiceCall, ServiceError, Services, StockLine};
use chronik_core::aggregate::{Aggregate, DomainEvent};
use chronik_core::handler::{CommandContext, CommandHandler, HandlerError};
use chronik_core::store::EventStore;

/// A forward step of the saga, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SagaStep {
    /// Reserve the order's items in the warehouse; compensated by releasing them.
    ReserveInventory,
    /// Charge the customer; compensated by a refund.
    TakePayment,
    /// Dispatch the parcel; compensated by calling it back.
    Ship,
    /// Complete the order and ship the reserved units out of stock.
    CompleteOrder,
}

impl SagaStep {
    /// The steps in order.
    pub const ALL: [SagaStep; 4] = [
        SagaStep::ReserveInventory,
        SagaStep::TakePayment,
        SagaStep::Ship,
        SagaStep::CompleteOrder,
    ];

    /// The step's name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SagaStep::ReserveInventory => "ReserveInventory",
            SagaStep::TakePayment => "TakePayment",
            SagaStep::Ship => "Ship",
            SagaStep::CompleteOrder => "CompleteOrder",
        }
    }

    /// Whether the step has a compensation.
    pub fn is_compensable(self) -> bool {
        self != SagaStep::CompleteOrder
    }

    /// The service operation the step performs: what a [`Faults`] plan names to make it
    /// fail (completing the order books the reservation out: [`Operation::Commit`]).
    pub fn operation(self) -> Operation {
        match self {
            SagaStep::ReserveInventory => Operation::Reserve,
            SagaStep::TakePayment => Operation::Charge,
            SagaStep::Ship => Operation::Ship,
            SagaStep::CompleteOrder => Operation::Commit,
        }
    }
}

impl fmt::Display for SagaStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the saga records in `saga-{orderId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum SagaEvent {
    /// Fulfilment of a submitted order began.
    SagaStarted {
        /// The order.
        order_id: String,
        /// Its customer.
        customer_id: String,
        /// Its items.
        items: Vec<OrderItem>,
        /// Its total in cents.
        total: Money,
    },
    /// A step is about to call its service.
    StepStarted {
        /// The step.
        step: SagaStep,
    },
    /// The step's service answered yes.
    StepCompleted {
        /// The step.
        step: SagaStep,
        /// What it produced (reservation id, payment id, tracking number, ...).
        reference: String,
    },
    /// The step's service answered no: compensation begins.
    StepFailed {
        /// The step.
        step: SagaStep,
        /// Why.
        reason: String,
    },
    /// Undoing a step is about to call its service.
    CompensationStarted {
        /// The step being undone.
        step: SagaStep,
    },
    /// A step was undone.
    CompensationCompleted {
        /// The step undone.
        step: SagaStep,
    },
    /// Every step completed.
    SagaCompleted,
    /// Every started step was undone and the order cancelled.
    SagaAborted {
        /// Why (also the order's cancellation reason).
        reason: String,
    },
}

impl DomainEvent for SagaEvent {
    fn event_type(&self) -> &'static str {
        match self {
            SagaEvent::SagaStarted { .. } => "SagaStarted",
            SagaEvent::StepStarted { .. } => "StepStarted",
            SagaEvent::StepCompleted { .. } => "StepCompleted",
            SagaEvent::StepFailed { .. } => "StepFailed",
            SagaEvent::CompensationStarted { .. } => "CompensationStarted",
            SagaEvent::CompensationCompleted { .. } => "CompensationCompleted",
            SagaEvent::SagaCompleted => "SagaCompleted",
            SagaEvent::SagaAborted { .. } => "SagaAborted",
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

/// Where a saga stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SagaStatus {
    /// Not started.
    #[default]
    NotStarted,
    /// Going forwards.
    Running,
    /// A step failed; undoing the started steps.
    Compensating,
    /// Every step completed (terminal).
    Completed,
    /// Compensated and the order cancelled (terminal).
    Aborted,
}

impl SagaStatus {
    /// Whether the saga is finished.
    pub fn is_terminal(self) -> bool {
        matches!(self, SagaStatus::Completed | SagaStatus::Aborted)
    }
}

/// How far a step got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepStatus {
    /// Started, no answer recorded yet.
    Started,
    /// Done.
    Completed,
    /// Refused.
    Failed,
}

/// One forward step in [`SagaState::steps`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    /// The step.
    pub step: SagaStep,
    /// How far it got.
    pub status: StepStatus,
    /// What it produced, once completed.
    pub reference: Option<String>,
}

/// One compensation in [`SagaState::compensations`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompensationRecord {
    /// The step being undone.
    pub step: SagaStep,
    /// Whether it is done.
    pub completed: bool,
}

/// What the saga should do next, derived from its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SagaAction {
    /// Record `SagaStarted`.
    Start,
    /// Record `StepStarted(step)`.
    BeginStep(SagaStep),
    /// Call the step's service and record its answer.
    RunStep(SagaStep),
    /// Record `CompensationStarted(step)`.
    BeginCompensation(SagaStep),
    /// Undo the step and record `CompensationCompleted(step)`.
    RunCompensation(SagaStep),
    /// Record `SagaCompleted`.
    Finish,
    /// Cancel the order and record `SagaAborted`.
    Abort,
    /// Nothing: the saga is finished.
    Done,
}

/// A fulfilment saga: the fold of `saga-{orderId}`. Serialized in camelCase.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SagaState {
    /// The order.
    pub order_id: String,
    /// Its customer.
    pub customer_id: String,
    /// Its items.
    pub items: Vec<OrderItem>,
    /// Its total.
    pub total: Money,
    /// Where the saga stands.
    pub status: SagaStatus,
    /// The forward steps started so far, in order.
    pub steps: Vec<StepRecord>,
    /// The compensations started so far, in order.
    pub compensations: Vec<CompensationRecord>,
    /// Why the saga failed.
    pub failure: Option<String>,
}

impl SagaState {
    /// The record of `step`, if started.
    pub fn step(&self, step: SagaStep) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.step == step)
    }

    /// What to do next.
    pub fn next_action(&self) -> SagaAction {
        match self.status {
            SagaStatus::NotStarted => SagaAction::Start,
            SagaStatus::Completed | SagaStatus::Aborted => SagaAction::Done,
            SagaStatus::Running => match self.steps.last() {
                Some(r) if r.status == StepStatus::Started => SagaAction::RunStep(r.step),
                last => {
                    let next = last.map_or(Some(SagaStep::ALL[0]), |r| {
                        SagaStep::ALL
                            .iter()
                            .copied()
                            .skip_while(|s| *s != r.step)
                            .nth(1)
                    });
                    next.map_or(SagaAction::Finish, SagaAction::BeginStep)
                }
            },
            SagaStatus::Compensating => {
                if let Some(c) = self.compensations.last().filter(|c| !c.completed) {
                    return SagaAction::RunCompensation(c.step);
                }
                self.steps
                    .iter()
                    .rev()
                    .map(|r| r.step)
                    .filter(|s| s.is_compensable())
                    .find(|s| !self.compensations.iter().any(|c| c.step == *s))
                    .map_or(SagaAction::Abort, SagaAction::BeginCompensation)
            }
        }
    }
}

/// Why the saga stream refused an event: it does not follow from the saga's state
/// (another runner got there first). Reload the saga and continue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("saga expects {expected:?}, cannot record {event}")]
pub struct SagaOutOfOrder {
    /// What the saga expected next.
    pub expected: SagaAction,
    /// The event type refused.
    pub event: &'static str,
}

impl Aggregate for SagaState {
    type Command = SagaEvent;
    type Event = SagaEvent;
    type Error = SagaOutOfOrder;
    const CATEGORY: &'static str = "saga";

    /// The command is the event to record; it is accepted when it is what
    /// [`next_action`](SagaState::next_action) calls for, and a repeated `SagaStarted`
    /// is a no-op.
    fn decide(&self, event: &SagaEvent) -> Result<Vec<SagaEvent>, SagaOutOfOrder> {
        let expected = self.next_action();
        let fits = match (expected, event) {
            (SagaAction::Start, SagaEvent::SagaStarted { .. }) => true,
            (_, SagaEvent::SagaStarted { .. }) => return Ok(Vec::new()),
            (SagaAction::BeginStep(s), SagaEvent::StepStarted { step }) => s == *step,
            (SagaAction::RunStep(s), SagaEvent::StepCompleted { step, .. })
            | (SagaAction::RunStep(s), SagaEvent::StepFailed { step, .. }) => s == *step,
            (SagaAction::BeginCompensation(s), SagaEvent::CompensationStarted { step })
            | (SagaAction::RunCompensation(s), SagaEvent::CompensationCompleted { step }) => {
                s == *step
            }
            (SagaAction::Finish, SagaEvent::SagaCompleted)
            | (SagaAction::Abort, SagaEvent::SagaAborted { .. }) => true,
            _ => false,
        };
        if fits {
            Ok(vec![event.clone()])
        } else {
            Err(SagaOutOfOrder {
                expected,
                event: event.event_type(),
            })
        }
    }

    fn evolve(&mut self, event: &SagaEvent) {
        match event {
            SagaEvent::SagaStarted {
                order_id,
                customer_id,
                items,
                total,
            } => {
                self.order_id = order_id.clone();
                self.customer_id = customer_id.clone();
                self.items = items.clone();
                self.total = total.clamped();
                self.status = SagaStatus::Running;
            }
            SagaEvent::StepStarted { step } => self.steps.push(StepRecord {
                step: *step,
                status: StepStatus::Started,
                reference: None,
            }),
            SagaEvent::StepCompleted { step, reference } => {
                if let Some(r) = self.steps.iter_mut().find(|r| r.step == *step) {
                    r.status = StepStatus::Completed;
                    r.reference = Some(reference.clone());
                }
            }
            SagaEvent::StepFailed { step, reason } => {
                if let Some(r) = self.steps.iter_mut().find(|r| r.step == *step) {
                    r.status = StepStatus::Failed;
                }
                self.failure = Some(reason.clone());
                self.status = SagaStatus::Compensating;
            }
            SagaEvent::CompensationStarted { step } => {
                self.compensations.push(CompensationRecord {
                    step: *step,
                    completed: false,
                })
            }
            SagaEvent::CompensationCompleted { step } => {
                if let Some(c) = self.compensations.iter_mut().find(|c| c.step == *step) {
                    c.completed = true;
                }
            }
            SagaEvent::SagaCompleted => self.status = SagaStatus::Completed,
            SagaEvent::SagaAborted { reason } => {
                self.failure = Some(reason.clone());
                self.status = SagaStatus::Aborted;
            }
        }
    }
}

impl SagaEvent {
    /// The `SagaStarted` of fulfilling `order` (submitted), as order `order_id`.
    pub fn started(order_id: &str, order: &Order) -> SagaEvent {
        SagaEvent::SagaStarted {
            order_id: order_id.to_string(),
            customer_id: order.customer_id.clone(),
            items: order.items.clone(),
            total: order.total(),
        }
    }
}

/// What a saga step acts on: the simulated services and the order. [`FulfilmentSagas`]
/// performs the calls through the services' and the order's handlers over a store; the
/// demo generator applies the same commands to aggregates it keeps in memory. Both run
/// the one step code, [`perform`].
#[allow(async_fn_in_trait)] // single-threaded like the engine's stores: no `Send` bound
pub(crate) trait SagaEffects {
    /// The injected failures.
    fn faults(&self) -> &Faults;
    /// Performs `call` ([`Services::call`]). An error that
    /// [`is_business`](ServiceError::is_business) is the service's answer; any other
    /// is a failure to retry.
    async fn call(&mut self, call: &ServiceCall) -> Result<Option<String>, ServiceError>;
    /// Decides `command` on order `order_id`, as the saga's `what` (its command id).
    async fn update_order(
        &mut self,
        order_id: &str,
        what: &str,
        command: &OrderCommand,
    ) -> Result<(), HandlerError<OrderError>>;
}

/// Performs `action` (not [`SagaAction::Start`], which needs the order loaded, nor
/// [`SagaAction::Done`]) of `saga` on `effects` and returns the one event that records
/// it; `Ok(None)` for `Start` and `Done`.
pub(crate) async fn perform<E: SagaEffects>(
    saga: &SagaState,
    action: SagaAction,
    effects: &mut E,
) -> Result<Option<SagaEvent>, SagaError> {
    let key = saga.order_id.as_str();
    let event = match action {
        SagaAction::Start | SagaAction::Done => return Ok(None),
        SagaAction::BeginStep(step) => SagaEvent::StepStarted { step },
        SagaAction::RunStep(step) => match run_step(saga, step, effects).await? {
            Ok(reference) => SagaEvent::StepCompleted { step, reference },
            Err(reason) => SagaEvent::StepFailed {
                step,
                reason: format!("{step} failed: {reason}"),
            },
        },
        SagaAction::BeginCompensation(step) => SagaEvent::CompensationStarted { step },
        SagaAction::RunCompensation(step) => {
            let key = key.to_string();
            let undo = match step {
                SagaStep::ReserveInventory => Some(ServiceCall::Release { key }),
                SagaStep::TakePayment => Some(ServiceCall::Refund { key }),
                SagaStep::Ship => Some(ServiceCall::CancelShipment { key }),
                SagaStep::CompleteOrder => None,
            };
            if let Some(undo) = undo {
                effects.call(&undo).await.map_err(SagaError::Service)?;
            }
            SagaEvent::CompensationCompleted { step }
        }
        SagaAction::Finish => SagaEvent::SagaCompleted,
        SagaAction::Abort => {
            let reason = saga
                .failure
                .clone()
                .unwrap_or_else(|| "fulfilment failed".into());
            let cancel = OrderCommand::CancelOrder {
                reason: reason.clone(),
            };
            match effects.update_order(key, "order:cancel", &cancel).await {
                Ok(()) => {}
                // Cancelled already (by the customer, or by an earlier run).
                Err(HandlerError::Rejected(OrderError::InvalidTransition {
                    status: OrderStatus::Cancelled,
                    ..
                })) => {}
                Err(other) => return Err(SagaError::Order(other)),
            }
            SagaEvent::SagaAborted { reason }
        }
    };
    Ok(Some(event))
}

/// Calls `step`'s service and updates the order: `Ok(Ok(reference))` done,
/// `Ok(Err(reason))` refused (compensate), `Err` infrastructure failure (retry).
async fn run_step<E: SagaEffects>(
    saga: &SagaState,
    step: SagaStep,
    effects: &mut E,
) -> Result<Result<String, String>, SagaError> {
    let key = saga.order_id.as_str();
    let call = match step {
        SagaStep::ReserveInventory => Some(ServiceCall::Reserve {
            key: key.to_string(),
            lines: saga
                .items
                .iter()
                .map(|i| StockLine {
                    product_id: i.product_id.clone(),
                    quantity: u64::from(i.quantity),
                })
                .collect(),
        }),
        SagaStep::TakePayment => Some(ServiceCall::Charge {
            key: key.to_string(),
            customer_id: saga.customer_id.clone(),
            amount: saga.total,
        }),
        SagaStep::Ship => Some(ServiceCall::Ship {
            key: key.to_string(),
            units: saga
                .items
                .iter()
                .fold(0_u64, |sum, i| sum.saturating_add(u64::from(i.quantity))),
        }),
        SagaStep::CompleteOrder => None,
    };
    let service = match &call {
        Some(call) => effects.call(call).await.map(Option::unwrap_or_default),
        // Completing books the reservation out after the order is completed; a booking
        // the services would refuse is refused before anything changes.
        None => effects.faults().check(Operation::Commit, key).map(|()| {
            saga.step(SagaStep::Ship)
                .and_then(|r| r.reference.clone())
                .unwrap_or_default()
        }),
    };
    let reference = match service {
        Ok(reference) => reference,
        Err(e) if e.is_business() => return Ok(Err(e.to_string())),
        Err(e) => return Err(SagaError::Service(e)),
    };
    let order_command = match step {
        SagaStep::ReserveInventory => Some(OrderCommand::MarkReserved {
            reservation_id: reference.clone(),
        }),
        SagaStep::TakePayment => Some(OrderCommand::MarkProcessing {
            payment_id: reference.clone(),
        }),
        SagaStep::Ship => None,
        SagaStep::CompleteOrder => Some(OrderCommand::CompleteOrder {
            tracking_number: reference.clone(),
        }),
    };
    if let Some(command) = order_command {
        match effects
            .update_order(key, &format!("order:{step}"), &command)
            .await
        {
            Ok(()) => {}
            Err(HandlerError::Rejected(e)) => return Ok(Err(e.to_string())),
            Err(other) => return Err(SagaError::Order(other)),
        }
    }
    if step == SagaStep::CompleteOrder {
        let key = key.to_string();
        effects
            .call(&ServiceCall::Commit { key })
            .await
            .map_err(SagaError::Service)?;
    }
    Ok(Ok(reference))
}

/// [`SagaEffects`] over a store: the services' and the order's command handlers.
struct StoreEffects<'a, S> {
    services: &'a Services<S>,
    orders: &'a CommandHandler<S, Order>,
}

impl<S: EventStore + Clone> SagaEffects for StoreEffects<'_, S> {
    fn faults(&self) -> &Faults {
        self.services.faults()
    }

    async fn call(&mut self, call: &ServiceCall) -> Result<Option<String>, ServiceError> {
        // A saga's calls are keyed by its order: one operation with the saga's records.
        let saga = SagaState::stream_id(call.key());
        self.services.call_in(call, Some(&saga)).await
    }

    async fn update_order(
        &mut self,
        order_id: &str,
        what: &str,
        command: &OrderCommand,
    ) -> Result<(), HandlerError<OrderError>> {
        let ctx = FulfilmentSagas::<S>::ctx(order_id, what);
        self.orders.handle(order_id, command, &ctx).await.map(drop)
    }
}

/// Where a runner stops on purpose, to simulate a page closed mid-saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Interruption {
    /// Stop after recording this many saga events.
    AfterActions(u32),
    /// Stop right after `step`'s service call and order update succeeded, before
    /// `StepCompleted` is recorded: the worst moment to crash.
    AfterServiceCall(SagaStep),
}

/// Why a saga could not make progress. In every case the saga stream holds all that
/// happened; run the saga again to continue.
#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    /// The order does not exist. Create and submit it first.
    #[error("order {0} does not exist")]
    OrderNotFound(String),
    /// Only a submitted order can be fulfilled. Submit it first.
    #[error("order {order_id} is {status}; submit it first")]
    NotSubmitted {
        /// The order.
        order_id: String,
        /// Its status.
        status: OrderStatus,
    },
    /// The order stream failed (store error or undecodable event). Retry later.
    #[error("order: {0}")]
    Order(HandlerError<OrderError>),
    /// The saga stream failed (store error, or another runner got there first). Run the
    /// saga again.
    #[error("saga stream: {0}")]
    Saga(#[from] HandlerError<SagaOutOfOrder>),
    /// A service's storage failed. Run the saga again later: the call is retried with
    /// the same idempotency key.
    #[error("service: {0}")]
    Service(ServiceError),
    /// The runner stopped as told by its [`Interruption`]. Run the saga again (with any
    /// runner) to continue.
    #[error("saga for order {0} interrupted on purpose")]
    Interrupted(String),
}

/// Runs fulfilment sagas over one store with a set of [`Services`]. The JS bindings
/// wrap this.
pub struct FulfilmentSagas<S> {
    sagas: CommandHandler<S, SagaState>,
    orders: CommandHandler<S, Order>,
    services: Services<S>,
    store: S,
    interruption: Option<Interruption>,
    actions: Cell<u32>,
}

impl<S: EventStore + Clone> FulfilmentSagas<S> {
    /// A runner over `store`, calling `services`.
    pub fn new(store: S, services: Services<S>) -> Self {
        Self {
            sagas: CommandHandler::new(store.clone()),
            orders: CommandHandler::new(store.clone()),
            services,
            store,
            interruption: None,
            actions: Cell::new(0),
        }
    }

    /// Stops on purpose at `interruption` (tests and demos of crash recovery).
    pub fn with_interruption(mut self, interruption: Interruption) -> Self {
        self.interruption = Some(interruption);
        self
    }

    /// The services this runner calls.
    pub fn services(&self) -> &Services<S> {
        &self.services
    }

    /// The saga of order `order_id`, `None` when not started.
    pub async fn saga(&self, order_id: &str) -> Result<Option<SagaState>, SagaError> {
        let loaded = self.sagas.load(order_id).await?;
        Ok((loaded.version > 0).then_some(loaded.state))
    }

    fn ctx(order_id: &str, what: &str) -> CommandContext {
        CommandContext::new(format!("saga:{order_id}:{what}"))
            .correlated_with(SagaState::stream_id(order_id))
    }

    async fn record(&self, order_id: &str, event: SagaEvent) -> Result<SagaState, SagaError> {
        let what = match &event {
            SagaEvent::StepStarted { step } => format!("StepStarted:{step}"),
            SagaEvent::StepCompleted { step, .. } | SagaEvent::StepFailed { step, .. } => {
                format!("StepEnded:{step}")
            }
            SagaEvent::CompensationStarted { step } => format!("CompensationStarted:{step}"),
            SagaEvent::CompensationCompleted { step } => format!("CompensationCompleted:{step}"),
            other => other.event_type().to_string(),
        };
        let state = self
            .sagas
            .handle(order_id, &event, &Self::ctx(order_id, &what))
            .await?
            .state;
        self.actions.set(self.actions.get() + 1);
        Ok(state)
    }

    /// Starts fulfilment of the submitted order `order_id` (a no-op when started).
    pub async fn start(&self, order_id: &str) -> Result<SagaState, SagaError> {
        if let Some(saga) = self.saga(order_id).await? {
            return Ok(saga);
        }
        let order = self
            .orders
            .load(order_id)
            .await
            .map_err(SagaError::Order)?
            .state;
        match order.status {
            OrderStatus::NotCreated => return Err(SagaError::OrderNotFound(order_id.into())),
            OrderStatus::Submitted => {}
            status => {
                return Err(SagaError::NotSubmitted {
                    order_id: order_id.into(),
                    status,
                })
            }
        }
        self.record(order_id, SagaEvent::started(order_id, &order))
            .await
    }

    /// Performs the saga's next action (one event), returning the new state.
    pub async fn advance(&self, order_id: &str) -> Result<SagaState, SagaError> {
        if let Some(Interruption::AfterActions(n)) = self.interruption {
            if self.actions.get() >= n {
                return Err(SagaError::Interrupted(order_id.into()));
            }
        }
        let saga = match self.saga(order_id).await? {
            Some(saga) => saga,
            None => return self.start(order_id).await,
        };
        let action = saga.next_action();
        let mut effects = StoreEffects {
            services: &self.services,
            orders: &self.orders,
        };
        let event = match perform(&saga, action, &mut effects).await? {
            Some(event) => event,
            None if action == SagaAction::Start => return self.start(order_id).await,
            None => return Ok(saga),
        };
        if let (SagaAction::RunStep(step), SagaEvent::StepCompleted { .. }) = (action, &event) {
            if self.interruption == Some(Interruption::AfterServiceCall(step)) {
                return Err(SagaError::Interrupted(order_id.into()));
            }
        }
        self.record(order_id, event).await
    }

    /// Runs the saga of `order_id` (starting it if needed) until it is finished.
    pub async fn run(&self, order_id: &str) -> Result<SagaState, SagaError> {
        loop {
            let saga = self.advance(order_id).await?;
            if saga.status.is_terminal() {
                return Ok(saga);
            }
        }
    }

    /// Finishes every saga left mid-way (after a reload). Returns them, finished.
    pub async fn resume_all(&self) -> Result<Vec<SagaState>, SagaError> {
        let streams = self
            .store
            .list_streams()
            .await
            .map_err(|e| SagaError::Saga(e.into()))?;
        let mut resumed = Vec::new();
        for stream in streams
            .iter()
            .filter(|s| s.stream_type == SagaState::CATEGORY)
        {
            let order_id = codec::id_in(&stream.stream_id, SagaState::CATEGORY);
            let saga = self.sagas.load(&order_id).await?.state;
            if !saga.status.is_terminal() {
                resumed.push(self.run(&order_id).await?);
            }
        }
        Ok(resumed)
    }
}
