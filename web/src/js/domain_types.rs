//! The example domains as JavaScript sees them: commands in, states out.
//!
//! Each type mirrors one in `chronik_examples` and converts from or into it, so a
//! change in core that the JavaScript surface does not follow fails to compile. Money
//! goes out both as a decimal string (`"69.50"`) and as integer cents.

use chronik_examples::bank::{AccountStatus, BankAccount, BankCommand, TransferStatus};
use chronik_examples::orders::{OrderCommand, OrderStatus};
use chronik_examples::saga::{SagaStatus, SagaStep, StepStatus};
use chronik_examples::Money;
use serde::{Deserialize, Serialize};
use tsify::Tsify;

/// A command for a bank account.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(tag = "type", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum BankCommandInput {
    /// Opens the account; `initialDeposit` (a decimal string) is optional.
    OpenAccount {
        /// The owner's name.
        owner: String,
        /// A first deposit, such as `"100.00"`.
        #[serde(default)]
        #[tsify(optional)]
        initial_deposit: Option<String>,
    },
    /// Puts money in, such as `{ type: "Deposit", amount: "10.50" }`.
    Deposit {
        /// A positive decimal string with at most two places.
        amount: String,
    },
    /// Takes money out; fails beyond the balance.
    Withdraw {
        /// A positive decimal string with at most two places.
        amount: String,
    },
    /// Closes the account; its balance must be zero.
    CloseAccount,
}

impl From<BankCommandInput> for BankCommand {
    fn from(c: BankCommandInput) -> Self {
        match c {
            BankCommandInput::OpenAccount {
                owner,
                initial_deposit,
            } => BankCommand::OpenAccount {
                owner,
                initial_deposit,
                initial_balance: None,
            },
            BankCommandInput::Deposit { amount } => BankCommand::Deposit {
                amount,
                transfer_id: None,
            },
            BankCommandInput::Withdraw { amount } => BankCommand::Withdraw {
                amount,
                transfer_id: None,
            },
            BankCommandInput::CloseAccount => BankCommand::CloseAccount,
        }
    }
}

/// A bank account's state.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// The account id (its stream is `account-<id>`).
    pub id: String,
    /// The owner's name.
    pub owner: String,
    /// The balance as a decimal string, such as `"69.50"`.
    pub balance: String,
    /// The balance in cents.
    pub balance_cents: i64,
    /// `"notOpened"`, `"open"` or `"closed"`.
    pub status: String,
    /// The account stream's version this state includes.
    pub version: u64,
}

impl Account {
    /// The JS view of `account`, whose id is `id`.
    pub fn new(id: &str, account: &BankAccount) -> Self {
        Account {
            id: id.to_string(),
            owner: account.owner.clone(),
            balance: account.balance.to_string(),
            balance_cents: account.balance.cents(),
            status: match account.status {
                AccountStatus::NotOpened => "notOpened",
                AccountStatus::Open => "open",
                AccountStatus::Closed => "closed",
            }
            .to_string(),
            version: account.version,
        }
    }
}

/// What `bank.transfer` takes.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferInput {
    /// The transfer's id: running a transfer again with the same id never moves money
    /// twice, it continues where the first run stopped.
    pub id: String,
    /// The account money leaves.
    pub from: String,
    /// The account money goes to.
    pub to: String,
    /// A positive decimal string, such as `"60.00"`.
    pub amount: String,
}

/// Where a transfer stands.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct TransferView {
    /// The transfer's id.
    pub id: String,
    /// The account money leaves.
    pub from: String,
    /// The account money goes to.
    pub to: String,
    /// The amount as a decimal string.
    pub amount: String,
    /// `"requested"`, `"debited"`, `"creditFailed"`, `"completed"`, `"failed"` (nothing
    /// moved) or `"refunded"` (the credit failed and the source got its money back).
    pub status: String,
    /// Why it failed or was refunded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub reason: Option<String>,
}

impl From<chronik_examples::bank::Transfer> for TransferView {
    fn from(t: chronik_examples::bank::Transfer) -> Self {
        TransferView {
            id: t.id,
            from: t.from,
            to: t.to,
            amount: t.amount.to_string(),
            status: match t.status {
                TransferStatus::NotStarted => "notStarted",
                TransferStatus::Requested => "requested",
                TransferStatus::Debited => "debited",
                TransferStatus::CreditFailed => "creditFailed",
                TransferStatus::Completed => "completed",
                TransferStatus::Failed => "failed",
                TransferStatus::Refunded => "refunded",
            }
            .to_string(),
            reason: t.reason,
        }
    }
}

/// A command for an order.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(tag = "type", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum OrderCommandInput {
    /// Starts a draft order for a customer.
    CreateOrder {
        /// The customer's id.
        customer_id: String,
    },
    /// Adds a product (merging with the same product already in the order).
    AddItem {
        /// The product's id.
        product_id: String,
        /// The product's name, for display (optional; the line keeps the first one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[tsify(optional)]
        product_name: Option<String>,
        /// A positive quantity.
        quantity: u32,
        /// The unit price as a decimal string, such as `"9.99"`.
        unit_price: String,
    },
    /// Removes a product.
    RemoveItem {
        /// The product's id.
        product_id: String,
    },
    /// Changes a product's quantity.
    UpdateItemQuantity {
        /// The product's id.
        product_id: String,
        /// The new, positive quantity.
        quantity: u32,
    },
    /// Freezes the items and hands the order to fulfilment.
    SubmitOrder,
    /// Cancels the order (before it is completed).
    CancelOrder {
        /// Why.
        reason: String,
    },
}

impl From<OrderCommandInput> for OrderCommand {
    fn from(c: OrderCommandInput) -> Self {
        match c {
            OrderCommandInput::CreateOrder { customer_id } => {
                OrderCommand::CreateOrder { customer_id }
            }
            OrderCommandInput::AddItem {
                product_id,
                product_name,
                quantity,
                unit_price,
            } => OrderCommand::AddItem {
                product_id,
                product_name,
                quantity,
                unit_price,
            },
            OrderCommandInput::RemoveItem { product_id } => OrderCommand::RemoveItem { product_id },
            OrderCommandInput::UpdateItemQuantity {
                product_id,
                quantity,
            } => OrderCommand::UpdateItemQuantity {
                product_id,
                quantity,
            },
            OrderCommandInput::SubmitOrder => OrderCommand::SubmitOrder,
            OrderCommandInput::CancelOrder { reason } => OrderCommand::CancelOrder { reason },
        }
    }
}

/// One line of an order.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    /// The product's id.
    pub product_id: String,
    /// The product's name, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub product_name: Option<String>,
    /// How many.
    pub quantity: u32,
    /// The unit price as a decimal string.
    pub unit_price: String,
    /// Quantity times unit price, as a decimal string.
    pub line_total: String,
}

/// An order's state.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    /// The order id (its stream is `order-<id>`).
    pub id: String,
    /// The customer's id.
    pub customer_id: String,
    /// `"draft"`, `"submitted"`, `"reserved"`, `"processing"`, `"completed"` or
    /// `"cancelled"` (`"notCreated"` before it exists).
    pub status: String,
    /// The lines.
    pub items: Vec<OrderLine>,
    /// The sum of the lines, as a decimal string.
    pub total: String,
    /// Set once inventory is reserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub reservation_id: Option<String>,
    /// Set once payment is taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub payment_id: Option<String>,
    /// Set once shipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub tracking_number: Option<String>,
    /// Why it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub cancel_reason: Option<String>,
    /// The order stream's version this state includes.
    pub version: u64,
}

/// The camelCase name of an order status.
pub fn order_status(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::NotCreated => "notCreated",
        OrderStatus::Draft => "draft",
        OrderStatus::Submitted => "submitted",
        OrderStatus::Reserved => "reserved",
        OrderStatus::Processing => "processing",
        OrderStatus::Completed => "completed",
        OrderStatus::Cancelled => "cancelled",
    }
}

impl OrderView {
    /// The JS view of `order`, whose id is `id`.
    pub fn new(id: &str, order: &chronik_examples::orders::Order) -> Self {
        OrderView {
            id: id.to_string(),
            customer_id: order.customer_id.clone(),
            status: order_status(order.status).to_string(),
            items: order
                .items
                .iter()
                .map(|i| OrderLine {
                    product_id: i.product_id.clone(),
                    product_name: i.product_name.clone(),
                    quantity: i.quantity,
                    unit_price: i.unit_price.to_string(),
                    line_total: i.line_total().to_string(),
                })
                .collect(),
            total: order.total().to_string(),
            reservation_id: order.reservation_id.clone(),
            payment_id: order.payment_id.clone(),
            tracking_number: order.tracking_number.clone(),
            cancel_reason: order.cancel_reason.clone(),
            version: order.version,
        }
    }
}

/// A step of the fulfilment saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Tsify)]
pub enum SagaStepName {
    /// Reserve the order's items in inventory.
    ReserveInventory,
    /// Charge the customer.
    TakePayment,
    /// Hand the parcel to shipping.
    Ship,
    /// Mark the order completed.
    CompleteOrder,
}

impl From<SagaStepName> for SagaStep {
    fn from(s: SagaStepName) -> Self {
        match s {
            SagaStepName::ReserveInventory => SagaStep::ReserveInventory,
            SagaStepName::TakePayment => SagaStep::TakePayment,
            SagaStepName::Ship => SagaStep::Ship,
            SagaStepName::CompleteOrder => SagaStep::CompleteOrder,
        }
    }
}

impl From<SagaStep> for SagaStepName {
    fn from(s: SagaStep) -> Self {
        match s {
            SagaStep::ReserveInventory => SagaStepName::ReserveInventory,
            SagaStep::TakePayment => SagaStepName::TakePayment,
            SagaStep::Ship => SagaStepName::Ship,
            SagaStep::CompleteOrder => SagaStepName::CompleteOrder,
        }
    }
}

/// Failures to inject into the simulated inventory, payment and shipping services.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultsInput {
    /// Every call of this step fails.
    #[serde(default)]
    #[tsify(optional)]
    pub fail_step: Option<SagaStepName>,
    /// Probability in [0, 1] that a step of an order fails (the same answer every time
    /// for the same seed, step and order).
    #[serde(default)]
    #[tsify(optional)]
    pub failure_rate: Option<f64>,
    /// Seed of `failureRate`.
    #[serde(default)]
    #[tsify(optional)]
    pub seed: Option<u64>,
}

impl From<FaultsInput> for chronik_examples::Faults {
    fn from(f: FaultsInput) -> Self {
        chronik_examples::Faults {
            fail: f
                .fail_step
                .map(|step| chronik_examples::SagaStep::from(step).operation()),
            failure_rate: f.failure_rate.unwrap_or(0.0),
            seed: f.seed.unwrap_or(0),
        }
    }
}

/// One step of a saga and how far it got.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct SagaStepView {
    /// The step.
    pub step: SagaStepName,
    /// `"started"`, `"completed"` or `"failed"`.
    pub status: String,
    /// What it produced (reservation, payment or tracking id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub reference: Option<String>,
}

/// One compensation of a failed saga.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct CompensationView {
    /// The step being undone (release inventory, refund payment, cancel shipment).
    pub step: SagaStepName,
    /// Whether it is done.
    pub completed: bool,
}

/// A fulfilment saga's state.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct SagaView {
    /// The order it fulfils.
    pub order_id: String,
    /// `"running"`, `"compensating"`, `"completed"` or `"aborted"`.
    pub status: String,
    /// The steps started so far, in order.
    pub steps: Vec<SagaStepView>,
    /// The compensations started so far, in order.
    pub compensations: Vec<CompensationView>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub failure: Option<String>,
}

impl From<chronik_examples::SagaState> for SagaView {
    fn from(s: chronik_examples::SagaState) -> Self {
        SagaView {
            order_id: s.order_id,
            status: match s.status {
                SagaStatus::NotStarted => "notStarted",
                SagaStatus::Running => "running",
                SagaStatus::Compensating => "compensating",
                SagaStatus::Completed => "completed",
                SagaStatus::Aborted => "aborted",
            }
            .to_string(),
            steps: s
                .steps
                .into_iter()
                .map(|r| SagaStepView {
                    step: r.step.into(),
                    status: match r.status {
                        StepStatus::Started => "started",
                        StepStatus::Completed => "completed",
                        StepStatus::Failed => "failed",
                    }
                    .to_string(),
                    reference: r.reference,
                })
                .collect(),
            compensations: s
                .compensations
                .into_iter()
                .map(|c| CompensationView {
                    step: c.step.into(),
                    completed: c.completed,
                })
                .collect(),
            failure: s.failure,
        }
    }
}

/// Options for `generateDemo`.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DemoOptions {
    /// How many events to write.
    pub events: u64,
    /// The seed: the same seed writes the same events.
    #[serde(default)]
    #[tsify(optional)]
    pub seed: Option<u64>,
}

/// Formats cents as a decimal string.
pub fn money(cents: i64) -> String {
    Money::from_cents(cents).to_string()
}
