//! The example domains for JavaScript: `db.bank()`, `db.orders()`, `db.fulfilment()`.
//!
//! Thin classes over the facades in `chronik_examples`; errors become
//! `ChronikError`s with a `code` a program can act on.

use std::rc::Rc;

use chronik_core::{Aggregate, AggregateState, Clock, CommandHandler, HandlerError};
use chronik_examples::bank::{BankAccount, BankCommand, BankError, TransferSteps};
use chronik_examples::commands::{self, ReplicaTransfers};
use chronik_examples::orders::{Order, OrderCommand, OrderError};
use chronik_examples::{
    registry, Bank as CoreBank, DemoConfig, DemoError, FulfilmentSagas, Orders as CoreOrders,
    Services,
};
use chronik_examples::{SagaError, ServiceError, Timeline, TransferRunError};
use wasm_bindgen::prelude::*;

use super::domain_types::{
    money, Account, BankCommandInput, FaultsInput, OrderCommandInput, OrderView, SagaView,
    TransferInput, TransferView,
};
use super::projection::PendingRunner;
use super::sync::execute_error;
use super::types::{CommandOptions, StateOptions};
use super::{call, domain_types, input, out, ts, Chronik, Shared};
use crate::error::{handler_error, js_error, set_field, store_error};

/// A command or transfer from JavaScript: checked JSON, then decoded. Refusals carry
/// the code `InvalidCommand` and name the field.
fn command<T: serde::de::DeserializeOwned>(value: &JsValue, what: &str) -> Result<T, JsValue> {
    let recode = |e: JsValue| -> JsValue {
        let message = input::describe_thrown(&e);
        js_error("InvalidCommand", &message).into()
    };
    input::object(value, what).map_err(recode)?;
    input::typed(value, what).map_err(recode)
}

/// A domain handler's error as a `ChronikError`; `rejected` names the domain rule that
/// refused and the fields that say why.
fn domain_error<E: std::error::Error>(
    err: HandlerError<E>,
    rejected: impl FnOnce(&E) -> (&'static str, Vec<(&'static str, JsValue)>),
) -> JsValue {
    handler_error(
        err,
        |e| {
            let (code, fields) = rejected(&e);
            let js = js_error(code, &format!("command rejected: {e}"));
            for (key, value) in fields {
                set_field(&js, key, value);
            }
            js.into()
        },
        |never| match never {},
    )
}

fn bank_error(err: HandlerError<BankError>) -> JsValue {
    domain_error(err, |e| match e {
        BankError::InsufficientFunds { balance, amount } => (
            "InsufficientFunds",
            vec![
                ("balance", balance.to_string().into()),
                ("amount", amount.to_string().into()),
            ],
        ),
        BankError::InvalidAmount(_) | BankError::BalanceOverflow { .. } => {
            ("InvalidAmount", Vec::new())
        }
        BankError::AccountClosed => ("AccountClosed", Vec::new()),
        BankError::AccountNotFound => ("AccountNotFound", Vec::new()),
        BankError::AccountAlreadyExists => ("AccountAlreadyExists", Vec::new()),
        BankError::BalanceNotZero { balance } => (
            "BalanceNotZero",
            vec![("balance", balance.to_string().into())],
        ),
        BankError::EmptyOwner => ("InvalidCommand", Vec::new()),
    })
}

fn order_error(err: HandlerError<OrderError>) -> JsValue {
    domain_error(err, |e| match e {
        OrderError::InvalidTransition { .. } | OrderError::ItemsLocked { .. } => {
            ("InvalidTransition", Vec::new())
        }
        OrderError::OrderNotFound => ("OrderNotFound", Vec::new()),
        OrderError::TotalTooLarge { .. } => ("InvalidAmount", Vec::new()),
        _ => ("InvalidCommand", Vec::new()),
    })
}

fn transfer_error(err: TransferRunError) -> JsValue {
    let message = err.to_string();
    match err {
        TransferRunError::InvalidAmount(_) => js_error("InvalidAmount", &message).into(),
        TransferRunError::Account(e) => bank_error(e),
        TransferRunError::Transfer(e) => domain_error(e, |_| ("InvalidCommand", Vec::new())),
        TransferRunError::RefundRejected(_) => js_error("RefundRejected", &message).into(),
        TransferRunError::Replica(e) => execute_error(e),
    }
}

fn saga_error(err: SagaError) -> JsValue {
    let message = err.to_string();
    match err {
        SagaError::OrderNotFound(_) => js_error("OrderNotFound", &message).into(),
        SagaError::NotSubmitted { .. } => js_error("InvalidTransition", &message).into(),
        SagaError::Order(e) => order_error(e),
        SagaError::Saga(e) => domain_error(e, |_| ("SagaOutOfOrder", Vec::new())),
        SagaError::Service(ServiceError::Store(e)) => store_error(e),
        SagaError::Service(
            ServiceError::InvalidQuantity { .. }
            | ServiceError::StockOverflow { .. }
            | ServiceError::InvalidAmount { .. },
        ) => js_error("InvalidCommand", &message).into(),
        SagaError::Service(_) => js_error("ServiceFailed", &message).into(),
        SagaError::Interrupted(_) => js_error("Interrupted", &message).into(),
    }
}

/// The state of aggregate `id` now, at a version, or at a time.
async fn state_of<A: Aggregate>(
    handler: &CommandHandler<Rc<super::Backend>, A>,
    id: &str,
    options: &StateOptions,
) -> Result<AggregateState<A>, HandlerError<A::Error>> {
    match (options.at_version, options.at_time) {
        (Some(v), _) => handler.state_at_version(id, v).await,
        (None, Some(t)) => handler.state_at_time(id, t).await,
        (None, None) => handler.load(id).await,
    }
}

/// Bank accounts and transfers. Amounts are decimal strings (`"10.50"`), balances come
/// back as strings and as cents.
#[wasm_bindgen]
pub struct Bank {
    shared: Rc<Shared>,
    bank: Rc<CoreBank<Rc<super::Backend>>>,
}

impl Bank {
    pub(super) fn new(shared: Rc<Shared>) -> Self {
        let bank = Rc::new(CoreBank::new(Rc::clone(&shared.store)));
        Bank { shared, bank }
    }
}

#[wasm_bindgen]
impl Bank {
    /// Executes a command on account `accountId` and resolves to its new state. A rejected
    /// command (`InsufficientFunds`, `InvalidAmount`, `AccountClosed`, ...) writes nothing.
    #[wasm_bindgen(unchecked_return_type = "Promise<Account>")]
    pub fn execute(
        &self,
        #[wasm_bindgen(js_name = accountId, unchecked_param_type = "string")] account_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "BankCommandInput")] command: JsValue,
        options: Option<super::ts::CommandOptions>,
    ) -> js_sys::Promise {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let (bank, shared) = (Rc::clone(&self.bank), Rc::clone(&self.shared));
        call(&self.shared, || {
            let account_id = input::name(&account_id, "accountId")?;
            let command: BankCommandInput = self::command(&command, "command")?;
            let ctx = input::options::<CommandOptions>(&options, "options")?.context();
            Ok(async move {
                let command: BankCommand = command.into();
                let account = match shared.store.replica() {
                    // Syncing: decided on the view first, for the domain's own error
                    // codes and the state after it, then kept by name so that the sync
                    // decides it again on the server's state if someone wrote first.
                    Some(mode) => {
                        let view = mode.view().await.map_err(store_error)?;
                        let mut account = CoreBank::new(&view)
                            .execute(&account_id, &command, &ctx)
                            .await
                            .map_err(bank_error)?;
                        drop(view);
                        let pending = commands::bank_command(&account_id, &command, &ctx);
                        mode.execute(pending).await.map_err(execute_error)?;
                        account.id = account_id.clone();
                        account
                    }
                    None => bank
                        .execute(&account_id, &command, &ctx)
                        .await
                        .map_err(bank_error)?,
                };
                shared.changed();
                out(&Account::new(&account_id, &account))
            })
        })
    }

    /// The account's state now, after version `atVersion`, or as of time `atTime`;
    /// `undefined` when the account was never opened (at that point).
    #[wasm_bindgen(unchecked_return_type = "Promise<Account | undefined>")]
    pub fn state(
        &self,
        #[wasm_bindgen(js_name = accountId, unchecked_param_type = "string")] account_id: JsValue,
        options: Option<super::ts::StateOptions>,
    ) -> js_sys::Promise {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let bank = Rc::clone(&self.bank);
        call(&self.shared, || {
            let account_id = input::name(&account_id, "accountId")?;
            let options = input::options::<StateOptions>(&options, "options")?;
            Ok(async move {
                let state = state_of::<BankAccount>(bank.accounts(), &account_id, &options)
                    .await
                    .map_err(bank_error)?;
                if state.version == 0 {
                    return Ok(JsValue::UNDEFINED);
                }
                out(&Account::new(&account_id, &state.state))
            })
        })
    }

    /// Moves money between two accounts: withdraws from `from`, deposits to `to`, and
    /// refunds `from` when the deposit fails. Running it again with the same `id` never
    /// moves money twice; it finishes what an interrupted run started.
    #[wasm_bindgen(unchecked_return_type = "Promise<TransferView>")]
    pub fn transfer(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TransferInput")] transfer: JsValue,
    ) -> js_sys::Promise {
        let (bank, shared) = (Rc::clone(&self.bank), Rc::clone(&self.shared));
        call(&self.shared, || {
            let t: TransferInput = command(&transfer, "transfer")?;
            for (value, what) in [
                (&t.id, "transfer.id"),
                (&t.from, "transfer.from"),
                (&t.to, "transfer.to"),
            ] {
                chronik_core::limits::check_name(what, value)
                    .map_err(|e| js_error("InvalidCommand", &format!("invalid input: {e}")))?;
            }
            Ok(async move {
                let result = match shared.store.replica() {
                    // Syncing: every step kept by name, decided again on the server's
                    // state; a debit refused there abandons the steps after it.
                    Some(mode) => {
                        let done = ReplicaTransfers::new(mode.replica())
                            .transfer(&t.id, &t.from, &t.to, &t.amount)
                            .await;
                        mode.wake();
                        done
                    }
                    None => bank.transfer(&t.id, &t.from, &t.to, &t.amount).await,
                }
                .map_err(transfer_error)?;
                shared.changed();
                out(&TransferView::from(result))
            })
        })
    }

    /// Finishes every transfer an interruption (a closed page) left half done.
    #[wasm_bindgen(js_name = resumeTransfers, unchecked_return_type = "Promise<TransferView[]>")]
    pub fn resume_transfers(&self) -> js_sys::Promise {
        let (bank, shared) = (Rc::clone(&self.bank), Rc::clone(&self.shared));
        call(&self.shared, || {
            Ok(async move {
                let resumed = match shared.store.replica() {
                    Some(mode) => {
                        let done = ReplicaTransfers::new(mode.replica())
                            .resume_transfers()
                            .await;
                        mode.wake();
                        done
                    }
                    None => bank.resume_transfers().await,
                }
                .map_err(transfer_error)?;
                shared.changed();
                let views: Vec<TransferView> =
                    resumed.into_iter().map(TransferView::from).collect();
                out(&views)
            })
        })
    }

    /// Formats integer cents as the bank does (`6950` → `"69.50"`). `cents` must be a
    /// whole number within ±`Number.MAX_SAFE_INTEGER`.
    #[wasm_bindgen(js_name = formatCents)]
    pub fn format_cents(
        #[wasm_bindgen(unchecked_param_type = "number")] cents: JsValue,
    ) -> Result<String, JsValue> {
        const MAX: f64 = 9_007_199_254_740_991.0;
        match cents.as_f64() {
            Some(n) if n.fract() == 0.0 && n.abs() <= MAX => Ok(money(n as i64)),
            _ => Err(input::invalid(
                "cents",
                "must be a whole number of cents within ±9007199254740991",
            )),
        }
    }
}

/// Orders: a draft you add items to, then submit for fulfilment.
#[wasm_bindgen]
pub struct Orders {
    shared: Rc<Shared>,
    orders: Rc<CoreOrders<Rc<super::Backend>>>,
}

impl Orders {
    pub(super) fn new(shared: Rc<Shared>) -> Self {
        let orders = Rc::new(CoreOrders::new(Rc::clone(&shared.store)));
        Orders { shared, orders }
    }
}

#[wasm_bindgen]
impl Orders {
    /// Executes a command on order `orderId` and resolves to its new state. An illegal
    /// transition or bad input is a `ChronikError` and writes nothing.
    #[wasm_bindgen(unchecked_return_type = "Promise<OrderView>")]
    pub fn execute(
        &self,
        #[wasm_bindgen(js_name = orderId, unchecked_param_type = "string")] order_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "OrderCommandInput")] command: JsValue,
        options: Option<super::ts::CommandOptions>,
    ) -> js_sys::Promise {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let (orders, shared) = (Rc::clone(&self.orders), Rc::clone(&self.shared));
        call(&self.shared, || {
            let order_id = input::name(&order_id, "orderId")?;
            let command: OrderCommandInput = self::command(&command, "command")?;
            let ctx = input::options::<CommandOptions>(&options, "options")?.context();
            Ok(async move {
                let command: OrderCommand = command.into();
                let order = match shared.store.replica() {
                    // Syncing: as for `Bank.execute`.
                    Some(mode) => {
                        let view = mode.view().await.map_err(store_error)?;
                        let order = CoreOrders::new(&view)
                            .execute(&order_id, &command, &ctx)
                            .await
                            .map_err(order_error)?;
                        drop(view);
                        let pending = commands::order_command(&order_id, &command, &ctx);
                        mode.execute(pending).await.map_err(execute_error)?;
                        order
                    }
                    None => orders
                        .execute(&order_id, &command, &ctx)
                        .await
                        .map_err(order_error)?,
                };
                shared.changed();
                out(&OrderView::new(&order_id, &order))
            })
        })
    }

    /// The order's state now, after version `atVersion`, or as of time `atTime`;
    /// `undefined` when it did not exist (at that point).
    #[wasm_bindgen(unchecked_return_type = "Promise<OrderView | undefined>")]
    pub fn state(
        &self,
        #[wasm_bindgen(js_name = orderId, unchecked_param_type = "string")] order_id: JsValue,
        options: Option<super::ts::StateOptions>,
    ) -> js_sys::Promise {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let orders = Rc::clone(&self.orders);
        call(&self.shared, || {
            let order_id = input::name(&order_id, "orderId")?;
            let options = input::options::<StateOptions>(&options, "options")?;
            Ok(async move {
                let state = state_of::<Order>(orders.handler(), &order_id, &options)
                    .await
                    .map_err(order_error)?;
                if state.version == 0 {
                    return Ok(JsValue::UNDEFINED);
                }
                out(&OrderView::new(&order_id, &state.state))
            })
        })
    }
}

/// The fulfilment saga: reserve inventory, take payment, ship, complete; on a failure,
/// compensate in reverse and cancel the order. Its state is event-sourced, so `run`
/// after a reload resumes where it stopped and never repeats a step.
#[wasm_bindgen]
pub struct Fulfilment {
    shared: Rc<Shared>,
    sagas: Rc<FulfilmentSagas<Rc<super::Backend>>>,
}

impl Fulfilment {
    pub(super) fn new(shared: Rc<Shared>, faults: FaultsInput) -> Self {
        let services = Services::new(Rc::clone(&shared.store)).with_faults(faults.into());
        let sagas = Rc::new(FulfilmentSagas::new(Rc::clone(&shared.store), services));
        Fulfilment { shared, sagas }
    }
}

/// The largest stock quantity one delivery may bring (`Number.MAX_SAFE_INTEGER`).
const MAX_QUANTITY: u64 = 9_007_199_254_740_991;

#[wasm_bindgen]
impl Fulfilment {
    /// Runs (or resumes) the saga of a submitted order to its end.
    #[wasm_bindgen(unchecked_return_type = "Promise<SagaView>")]
    pub fn run(
        &self,
        #[wasm_bindgen(js_name = orderId, unchecked_param_type = "string")] order_id: JsValue,
    ) -> js_sys::Promise {
        let (sagas, shared) = (Rc::clone(&self.sagas), Rc::clone(&self.shared));
        call(&self.shared, || {
            let order_id = input::name(&order_id, "orderId")?;
            Ok(async move {
                let result = sagas.run(&order_id).await;
                shared.changed();
                out(&SagaView::from(result.map_err(saga_error)?))
            })
        })
    }

    /// Performs the saga's next single action (one event) and resolves to its state.
    #[wasm_bindgen(unchecked_return_type = "Promise<SagaView>")]
    pub fn advance(
        &self,
        #[wasm_bindgen(js_name = orderId, unchecked_param_type = "string")] order_id: JsValue,
    ) -> js_sys::Promise {
        let (sagas, shared) = (Rc::clone(&self.sagas), Rc::clone(&self.shared));
        call(&self.shared, || {
            let order_id = input::name(&order_id, "orderId")?;
            Ok(async move {
                let result = sagas.advance(&order_id).await;
                shared.changed();
                out(&SagaView::from(result.map_err(saga_error)?))
            })
        })
    }

    /// The saga's state, `undefined` when it never started.
    #[wasm_bindgen(unchecked_return_type = "Promise<SagaView | undefined>")]
    pub fn state(
        &self,
        #[wasm_bindgen(js_name = orderId, unchecked_param_type = "string")] order_id: JsValue,
    ) -> js_sys::Promise {
        let sagas = Rc::clone(&self.sagas);
        call(&self.shared, || {
            let order_id = input::name(&order_id, "orderId")?;
            Ok(async move {
                match sagas.saga(&order_id).await.map_err(saga_error)? {
                    Some(s) => out(&SagaView::from(s)),
                    None => Ok(JsValue::UNDEFINED),
                }
            })
        })
    }

    /// Resumes every saga left unfinished (after a reload) and resolves to their states.
    #[wasm_bindgen(js_name = resumeAll, unchecked_return_type = "Promise<SagaView[]>")]
    pub fn resume_all(&self) -> js_sys::Promise {
        let (sagas, shared) = (Rc::clone(&self.sagas), Rc::clone(&self.shared));
        call(&self.shared, || {
            Ok(async move {
                let result = sagas.resume_all().await;
                shared.changed();
                let views: Vec<SagaView> = result
                    .map_err(saga_error)?
                    .into_iter()
                    .map(SagaView::from)
                    .collect();
                out(&views)
            })
        })
    }

    /// Puts `quantity` units of `productId` into stock (idempotent by `deliveryId`).
    /// `quantity` must be a whole number from 1 to `Number.MAX_SAFE_INTEGER`.
    #[wasm_bindgen(js_name = receiveStock, unchecked_return_type = "Promise<void>")]
    pub fn receive_stock(
        &self,
        #[wasm_bindgen(js_name = productId, unchecked_param_type = "string")] product_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] quantity: JsValue,
        #[wasm_bindgen(js_name = deliveryId, unchecked_param_type = "string")] delivery_id: JsValue,
    ) -> js_sys::Promise {
        let (sagas, shared) = (Rc::clone(&self.sagas), Rc::clone(&self.shared));
        call(&self.shared, || {
            let product_id = input::name(&product_id, "productId")?;
            let quantity = input::integer(&quantity, "quantity", 1, MAX_QUANTITY)?;
            let delivery_id = input::name(&delivery_id, "deliveryId")?;
            Ok(async move {
                sagas
                    .services()
                    .receive_stock(&product_id, quantity, &delivery_id)
                    .await
                    .map_err(|e| saga_error(SagaError::Service(e)))?;
                shared.changed();
                Ok(JsValue::UNDEFINED)
            })
        })
    }

    /// Units of `productId` in stock and not reserved.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn available(
        &self,
        #[wasm_bindgen(js_name = productId, unchecked_param_type = "string")] product_id: JsValue,
    ) -> js_sys::Promise {
        let sagas = Rc::clone(&self.sagas);
        call(&self.shared, || {
            let product_id = input::name(&product_id, "productId")?;
            Ok(async move {
                let inventory = sagas
                    .services()
                    .inventory()
                    .await
                    .map_err(|e| saga_error(SagaError::Service(e)))?;
                Ok((inventory
                    .products
                    .get(&product_id)
                    .map_or(0, |p| p.available()) as f64)
                    .into())
            })
        })
    }
}

/// The names of the read models the example domains provide.
pub(super) const BUILT_IN_PROJECTIONS: [&str; registry::READ_MODELS.len()] = {
    let mut names = [""; registry::READ_MODELS.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = registry::READ_MODELS[i].name;
        i += 1;
    }
    names
};

/// Adds the runner of one of the example domains' read models to the hub, configured by
/// the domains' registry; `None` for a name the examples do not have.
pub(super) fn built_in_projection(shared: &Shared, name: &str) -> Option<PendingRunner> {
    registry::read_model(name)?;
    let store = Rc::clone(&shared.store);
    let clock = shared.clock;
    let name = name.to_string();
    Some(Rc::new(move |hub| {
        registry::add_read_model(hub, &store, &clock, &name).map(|_| ())
    }))
}

#[wasm_bindgen]
impl Chronik {
    /// Bank accounts and transfers, stored in this database.
    pub fn bank(&self) -> Result<Bank, JsValue> {
        self.shared.check_open()?;
        Ok(Bank::new(Rc::clone(&self.shared)))
    }

    /// Orders, stored in this database.
    pub fn orders(&self) -> Result<Orders, JsValue> {
        self.shared.check_open()?;
        Ok(Orders::new(Rc::clone(&self.shared)))
    }

    /// The fulfilment saga over simulated inventory, payment and shipping services;
    /// `faults` makes a step fail on purpose (every time, or at a seeded rate).
    pub fn fulfilment(&self, faults: Option<ts::FaultsInput>) -> Result<Fulfilment, JsValue> {
        let faults: JsValue = faults.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        self.shared.check_open()?;
        let faults: domain_types::FaultsInput = input::options(&faults, "faults")?;
        if let Some(rate) = faults.failure_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(input::invalid(
                    "faults.failureRate",
                    format!("must be from 0 to 1, not {rate}"),
                ));
            }
        }
        Ok(Fulfilment::new(Rc::clone(&self.shared), faults))
    }

    /// Writes realistic, deterministic demo activity (accounts, transfers, orders and
    /// their sagas), the same events for the same seed, spread over the time before now
    /// (after the store's newest event), calling `onProgress(done, total)` as it goes;
    /// resolves to the number of events written. Each thousand events or so are one
    /// atomic write; a run that failed half-way resumes when called again, and a finished
    /// one writes nothing (`DemoConflict` when the store holds other events where the
    /// demo writes).
    #[wasm_bindgen(js_name = generateDemo, unchecked_return_type = "Promise<number>")]
    pub fn generate_demo(
        &self,
        #[wasm_bindgen(unchecked_param_type = "DemoOptions")] options: JsValue,
        #[wasm_bindgen(js_name = onProgress)] on_progress: Option<ts::ProgressCallback>,
    ) -> js_sys::Promise {
        let on_progress: JsValue = on_progress.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let shared = Rc::clone(&self.shared);
        call(&self.shared, || {
            input::object(&options, "options")?;
            let options: domain_types::DemoOptions = input::typed(&options, "options")?;
            if options.events == 0 || options.events > MAX_DEMO_EVENTS {
                return Err(input::invalid(
                    "options.events",
                    format!(
                        "must be from 1 to {MAX_DEMO_EVENTS}, not {}",
                        options.events
                    ),
                ));
            }
            let on_progress = input::optional_function(&on_progress, "onProgress")?;
            Ok(async move {
                let config = DemoConfig::new(options.seed.unwrap_or(1), options.events);
                let result = chronik_examples::write_demo(
                    &*shared.store,
                    config,
                    Timeline::EndingAt(shared.clock.now_ms()),
                    || false,
                    |done, total| {
                        if let Some(f) = &on_progress {
                            let _ = f.call2(
                                &JsValue::NULL,
                                &(done as f64).into(),
                                &(total as f64).into(),
                            );
                        }
                    },
                )
                .await;
                shared.changed();
                let outcome = result.map_err(demo_error)?;
                Ok((outcome.written as f64).into())
            })
        })
    }
}

/// `DemoConflict` when the store holds events where the demo writes; a store error as
/// any other.
fn demo_error(err: DemoError) -> JsValue {
    match err {
        DemoError::Occupied(_) => js_error("DemoConflict", &err.to_string()).into(),
        DemoError::Store(e) => store_error(e),
    }
}

/// The most events `generateDemo` writes in one call.
const MAX_DEMO_EVENTS: u64 = 1_000_000;
