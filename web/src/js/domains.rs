//! The example domains for JavaScript: `db.bank()`, `db.orders()`, `db.fulfilment()`.
//!
//! Thin classes over the facades in `chronik_core::domains`; errors become
//! `ChronikError`s with a `code` a program can act on.

use std::rc::Rc;

use chronik_core::domains::bank::{BankAccount, BankError};
use chronik_core::domains::orders::{Order, OrderError};
use chronik_core::domains::{Bank as CoreBank, FulfilmentSagas, Orders as CoreOrders, Services};
use chronik_core::domains::{SagaError, ServiceError, TransferRunError};
use chronik_core::{Aggregate, AggregateState, CommandHandler, HandlerError};
use tsify::Ts;
use wasm_bindgen::prelude::*;

use super::domain_types::{
    money, Account, BankCommandInput, CommandOptions, FaultsInput, OrderCommandInput, OrderView,
    SagaView, StateOptions, TransferInput, TransferView,
};
use super::{rust_options, to_js, Shared};
use crate::error::{js_error, set_field, store_error};

fn rust_value<T>(value: Ts<T>, what: &str) -> Result<T, JsValue>
where
    T: tsify::Tsify + serde::de::DeserializeOwned,
    T::JsType: Clone,
{
    value
        .to_rust()
        .map_err(|e| js_error("InvalidCommand", &format!("invalid {what}: {e}")).into())
}

/// A handler error as a `ChronikError`; `rejected` names the domain rule that refused.
fn handler_error<E: std::error::Error>(
    err: HandlerError<E>,
    rejected: impl FnOnce(&E) -> (&'static str, Vec<(&'static str, JsValue)>),
) -> JsValue {
    let message = err.to_string();
    match err {
        HandlerError::Rejected(e) => {
            let (code, fields) = rejected(&e);
            let js = js_error(code, &message);
            for (key, value) in fields {
                set_field(&js, key, value);
            }
            js.into()
        }
        HandlerError::Store(e) => store_error(e),
        HandlerError::RetriesExhausted { .. } => js_error("RetriesExhausted", &message).into(),
        HandlerError::VersionNotFound { .. } => js_error("VersionNotFound", &message).into(),
        HandlerError::Upcast { .. }
        | HandlerError::Decode { .. }
        | HandlerError::SnapshotDecode { .. } => js_error("CorruptData", &message).into(),
        HandlerError::Encode(_) => js_error("Internal", &message).into(),
    }
}

fn bank_error(err: HandlerError<BankError>) -> JsValue {
    handler_error(err, |e| match e {
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
    handler_error(err, |e| match e {
        OrderError::InvalidTransition { .. } | OrderError::ItemsLocked { .. } => {
            ("InvalidTransition", Vec::new())
        }
        OrderError::OrderNotFound => ("OrderNotFound", Vec::new()),
        _ => ("InvalidCommand", Vec::new()),
    })
}

fn transfer_error(err: TransferRunError) -> JsValue {
    let message = err.to_string();
    match err {
        TransferRunError::InvalidAmount(_) => js_error("InvalidAmount", &message).into(),
        TransferRunError::Account(e) => bank_error(e),
        TransferRunError::Transfer(e) => handler_error(e, |_| ("InvalidCommand", Vec::new())),
        TransferRunError::RefundRejected(_) => js_error("RefundRejected", &message).into(),
    }
}

fn saga_error(err: SagaError) -> JsValue {
    let message = err.to_string();
    match err {
        SagaError::OrderNotFound(_) => js_error("OrderNotFound", &message).into(),
        SagaError::NotSubmitted { .. } => js_error("InvalidTransition", &message).into(),
        SagaError::Order(e) => order_error(e),
        SagaError::Saga(e) => handler_error(e, |_| ("SagaOutOfOrder", Vec::new())),
        SagaError::Service(ServiceError::Store(e)) => store_error(e),
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
    pub async fn execute(
        &self,
        #[wasm_bindgen(js_name = accountId)] account_id: String,
        command: Ts<BankCommandInput>,
        options: Option<Ts<CommandOptions>>,
    ) -> Result<Ts<Account>, JsValue> {
        let command = rust_value(command, "bank command")?;
        let ctx = rust_options(options)?.context();
        let (bank, shared) = (Rc::clone(&self.bank), Rc::clone(&self.shared));
        let account = bank
            .execute(&account_id, &command.into(), &ctx)
            .await
            .map_err(bank_error)?;
        shared.changed();
        to_js(&Account::new(&account_id, &account))
    }

    /// The account's state now, after version `atVersion`, or as of time `atTime`;
    /// `undefined` when the account was never opened (at that point).
    pub async fn state(
        &self,
        #[wasm_bindgen(js_name = accountId)] account_id: String,
        options: Option<Ts<StateOptions>>,
    ) -> Result<Option<Ts<Account>>, JsValue> {
        let options = rust_options(options)?;
        let bank = Rc::clone(&self.bank);
        let state = state_of::<BankAccount>(bank.accounts(), &account_id, &options)
            .await
            .map_err(bank_error)?;
        if state.version == 0 {
            return Ok(None);
        }
        to_js(&Account::new(&account_id, &state.state)).map(Some)
    }

    /// Moves money between two accounts: withdraws from `from`, deposits to `to`, and
    /// refunds `from` when the deposit fails. Running it again with the same `id` never
    /// moves money twice; it finishes what an interrupted run started.
    pub async fn transfer(&self, transfer: Ts<TransferInput>) -> Result<Ts<TransferView>, JsValue> {
        let t = rust_value(transfer, "transfer")?;
        let (bank, shared) = (Rc::clone(&self.bank), Rc::clone(&self.shared));
        let result = bank
            .transfer(&t.id, &t.from, &t.to, &t.amount)
            .await
            .map_err(transfer_error)?;
        shared.changed();
        to_js(&TransferView::from(result))
    }

    /// Finishes every transfer an interruption (a closed page) left half done.
    #[wasm_bindgen(js_name = resumeTransfers)]
    pub async fn resume_transfers(&self) -> Result<Vec<Ts<TransferView>>, JsValue> {
        let (bank, shared) = (Rc::clone(&self.bank), Rc::clone(&self.shared));
        let resumed = bank.resume_transfers().await.map_err(transfer_error)?;
        shared.changed();
        resumed
            .into_iter()
            .map(|t| to_js(&TransferView::from(t)))
            .collect()
    }

    /// Formats integer cents as the bank does (`6950` → `"69.50"`).
    #[wasm_bindgen(js_name = formatCents)]
    pub fn format_cents(cents: f64) -> String {
        money(cents as i64)
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
    pub async fn execute(
        &self,
        #[wasm_bindgen(js_name = orderId)] order_id: String,
        command: Ts<OrderCommandInput>,
        options: Option<Ts<CommandOptions>>,
    ) -> Result<Ts<OrderView>, JsValue> {
        let command = rust_value(command, "order command")?;
        let ctx = rust_options(options)?.context();
        let (orders, shared) = (Rc::clone(&self.orders), Rc::clone(&self.shared));
        let order = orders
            .execute(&order_id, &command.into(), &ctx)
            .await
            .map_err(order_error)?;
        shared.changed();
        to_js(&OrderView::new(&order_id, &order))
    }

    /// The order's state now, after version `atVersion`, or as of time `atTime`; `null`
    /// when it did not exist (at that point).
    pub async fn state(
        &self,
        #[wasm_bindgen(js_name = orderId)] order_id: String,
        options: Option<Ts<StateOptions>>,
    ) -> Result<Option<Ts<OrderView>>, JsValue> {
        let options = rust_options(options)?;
        let orders = Rc::clone(&self.orders);
        let state = state_of::<Order>(orders.handler(), &order_id, &options)
            .await
            .map_err(order_error)?;
        if state.version == 0 {
            return Ok(None);
        }
        to_js(&OrderView::new(&order_id, &state.state)).map(Some)
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

#[wasm_bindgen]
impl Fulfilment {
    /// Runs (or resumes) the saga of a submitted order to its end.
    pub async fn run(
        &self,
        #[wasm_bindgen(js_name = orderId)] order_id: String,
    ) -> Result<Ts<SagaView>, JsValue> {
        let (sagas, shared) = (Rc::clone(&self.sagas), Rc::clone(&self.shared));
        let result = sagas.run(&order_id).await;
        shared.changed();
        to_js(&SagaView::from(result.map_err(saga_error)?))
    }

    /// Performs the saga's next single action (one event) and resolves to its state.
    pub async fn advance(
        &self,
        #[wasm_bindgen(js_name = orderId)] order_id: String,
    ) -> Result<Ts<SagaView>, JsValue> {
        let (sagas, shared) = (Rc::clone(&self.sagas), Rc::clone(&self.shared));
        let result = sagas.advance(&order_id).await;
        shared.changed();
        to_js(&SagaView::from(result.map_err(saga_error)?))
    }

    /// The saga's state, `undefined` when it never started.
    pub async fn state(
        &self,
        #[wasm_bindgen(js_name = orderId)] order_id: String,
    ) -> Result<Option<Ts<SagaView>>, JsValue> {
        let sagas = Rc::clone(&self.sagas);
        match sagas.saga(&order_id).await.map_err(saga_error)? {
            Some(s) => to_js(&SagaView::from(s)).map(Some),
            None => Ok(None),
        }
    }

    /// Resumes every saga left unfinished (after a reload) and resolves to their states.
    #[wasm_bindgen(js_name = resumeAll)]
    pub async fn resume_all(&self) -> Result<Vec<Ts<SagaView>>, JsValue> {
        let (sagas, shared) = (Rc::clone(&self.sagas), Rc::clone(&self.shared));
        let result = sagas.resume_all().await;
        shared.changed();
        result
            .map_err(saga_error)?
            .into_iter()
            .map(|s| to_js(&SagaView::from(s)))
            .collect()
    }

    /// Puts `quantity` units of `productId` into stock (idempotent by `deliveryId`).
    #[wasm_bindgen(js_name = receiveStock)]
    pub async fn receive_stock(
        &self,
        #[wasm_bindgen(js_name = productId)] product_id: String,
        quantity: u32,
        #[wasm_bindgen(js_name = deliveryId)] delivery_id: String,
    ) -> Result<(), JsValue> {
        let (sagas, shared) = (Rc::clone(&self.sagas), Rc::clone(&self.shared));
        sagas
            .services()
            .receive_stock(&product_id, u64::from(quantity), &delivery_id)
            .await
            .map_err(|e| saga_error(SagaError::Service(e)))?;
        shared.changed();
        Ok(())
    }

    /// Units of `productId` in stock and not reserved.
    pub async fn available(
        &self,
        #[wasm_bindgen(js_name = productId)] product_id: String,
    ) -> Result<f64, JsValue> {
        let sagas = Rc::clone(&self.sagas);
        let inventory = sagas
            .services()
            .inventory()
            .await
            .map_err(|e| saga_error(SagaError::Service(e)))?;
        Ok(inventory
            .products
            .get(&product_id)
            .map_or(0, |p| p.available()) as f64)
    }
}
