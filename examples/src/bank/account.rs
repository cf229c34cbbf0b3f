//! The bank account aggregate: commands, events, rules.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::money::{Money, MoneyError};
use chronik_core::aggregate::{Aggregate, DomainEvent};

/// What an account can be asked to do. JSON: internally tagged by `type`, camelCase
/// fields, amounts as decimal strings with at most two places:
///
/// ```json
/// { "type": "OpenAccount", "owner": "Alice", "initialDeposit": "100.00" }
/// { "type": "OpenAccount", "owner": "Alice", "initialBalance": "100.00" }
/// { "type": "Deposit", "amount": "10.50" }
/// { "type": "Withdraw", "amount": "3" }
/// { "type": "CloseAccount" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum BankCommand {
    /// Opens the account for `owner`, optionally with a first deposit.
    OpenAccount {
        /// The owner's name; must not be blank.
        owner: String,
        /// A first deposit, recorded as a `MoneyDeposited` right after `AccountOpened`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        initial_deposit: Option<String>,
        /// An opening balance (positive), recorded in the `AccountOpened` event itself:
        /// one event, as the seed 000/001/004 APIs count versions. Given with
        /// `initialDeposit`, the deposit comes on top of it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        initial_balance: Option<String>,
    },
    /// Puts money into the account.
    Deposit {
        /// The amount, such as `"10.50"`.
        amount: String,
        /// Set by the transfer process manager: the transfer this deposit belongs to.
        /// A deposit for a transfer the account has already been credited for records
        /// nothing, so re-running a transfer never moves money twice.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transfer_id: Option<String>,
    },
    /// Takes money out of the account; fails beyond the balance.
    Withdraw {
        /// The amount, such as `"10.50"`.
        amount: String,
        /// Set by the transfer process manager, as for `Deposit`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transfer_id: Option<String>,
    },
    /// Closes the account; its balance must be zero.
    CloseAccount,
}

impl BankCommand {
    /// `OpenAccount` without an initial deposit.
    pub fn open(owner: impl Into<String>) -> Self {
        BankCommand::OpenAccount {
            owner: owner.into(),
            initial_deposit: None,
            initial_balance: None,
        }
    }

    /// `Deposit` of `amount` (a decimal string).
    pub fn deposit(amount: impl Into<String>) -> Self {
        BankCommand::Deposit {
            amount: amount.into(),
            transfer_id: None,
        }
    }

    /// `Withdraw` of `amount` (a decimal string).
    pub fn withdraw(amount: impl Into<String>) -> Self {
        BankCommand::Withdraw {
            amount: amount.into(),
            transfer_id: None,
        }
    }
}

/// What an account records. Stored with `event_type` = the variant name and the fields
/// (camelCase) as payload; amounts are integer cents.
///
/// `MoneyDeposited` is at schema version 2: version 1 stored `amount` as a decimal
/// string (`{"amount": "10.50"}`); [`bank_upcasters`](super::bank_upcasters) lifts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum BankEvent {
    /// The account was opened for `owner`.
    AccountOpened {
        /// The owner's name.
        owner: String,
        /// The opening balance in cents, when the account opened with one (events
        /// stored before this field existed have none and read as a zero balance).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        initial_balance: Option<Money>,
    },
    /// Money came in.
    MoneyDeposited {
        /// Amount in cents.
        amount: Money,
        /// The transfer this deposit belongs to (a credit or a refund), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transfer_id: Option<String>,
    },
    /// Money went out.
    MoneyWithdrawn {
        /// Amount in cents.
        amount: Money,
        /// The transfer this withdrawal belongs to, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transfer_id: Option<String>,
    },
    /// The account was closed; it accepts nothing more.
    AccountClosed,
}

impl BankEvent {
    /// Every event type of the bank domain.
    pub const TYPES: [&'static str; 4] = [
        "AccountOpened",
        "MoneyDeposited",
        "MoneyWithdrawn",
        "AccountClosed",
    ];
}

impl DomainEvent for BankEvent {
    fn event_type(&self) -> &'static str {
        match self {
            BankEvent::AccountOpened { .. } => "AccountOpened",
            BankEvent::MoneyDeposited { .. } => "MoneyDeposited",
            BankEvent::MoneyWithdrawn { .. } => "MoneyWithdrawn",
            BankEvent::AccountClosed => "AccountClosed",
        }
    }

    fn schema_version(&self) -> u32 {
        match self {
            BankEvent::MoneyDeposited { .. } => 2,
            _ => 1,
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

/// Why an account command is rejected. Nothing was recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BankError {
    /// The amount is not acceptable; see [`MoneyError`]. Fix the amount and retry.
    #[error("invalid amount: {0}")]
    InvalidAmount(#[from] MoneyError),
    /// The owner's name is blank. Send a name.
    #[error("owner must not be empty")]
    EmptyOwner,
    /// `OpenAccount` for an id that is already used. Pick another id.
    #[error("account already exists; choose another account id")]
    AccountAlreadyExists,
    /// The account was never opened. Open it first (or check the id).
    #[error("account does not exist; open it first")]
    AccountNotFound,
    /// The account is closed and accepts no command. Use another account.
    #[error("account is closed; it accepts no more commands")]
    AccountClosed,
    /// The withdrawal is larger than the balance. Withdraw at most `balance`.
    #[error("insufficient funds: balance {balance}, amount {amount}")]
    InsufficientFunds {
        /// The balance before the withdrawal.
        balance: Money,
        /// The amount asked for.
        amount: Money,
    },
    /// Only an empty account can be closed. Withdraw the balance first.
    #[error("cannot close an account with balance {balance}; withdraw it first")]
    BalanceNotZero {
        /// The current balance.
        balance: Money,
    },
    /// The deposit (or transfer credit, or opening deposit) would push the balance past
    /// [`Money::MAX`] (90071992547409.91, the largest amount a JavaScript number holds
    /// exactly). Nothing was recorded; deposit less, or into another account.
    #[error(
        "deposit of {amount} would take the balance {balance} past the maximum 90071992547409.91"
    )]
    BalanceOverflow {
        /// The balance before the deposit.
        balance: Money,
        /// The amount asked for.
        amount: Money,
    },
}

/// Whether an account is open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountStatus {
    /// No `AccountOpened` yet: the id is free.
    #[default]
    NotOpened,
    /// Open: accepts deposits and withdrawals.
    Open,
    /// Closed: rejects everything.
    Closed,
}

/// A bank account: the fold of its events. Serialized in camelCase (this is also the
/// snapshot form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BankAccount {
    /// The account id (the part of the stream id after `account-`). Events do not carry
    /// it: [`Bank`](super::Bank) fills it in when loading; empty in a bare fold.
    pub id: String,
    /// The owner's name.
    pub owner: String,
    /// Balance in cents; never negative and never above [`Money::MAX`] (`decide`
    /// refuses a deposit past it; a fold of events written by other means saturates
    /// there).
    pub balance: Money,
    /// Open or closed.
    pub status: AccountStatus,
    /// How many events the account has (its stream version).
    pub version: u64,
    /// Transfers this account was debited for (keeps transfer legs idempotent).
    pub transfers_debited: BTreeSet<String>,
    /// Transfers this account was credited (or refunded) for.
    pub transfers_credited: BTreeSet<String>,
}

impl BankAccount {
    /// Whether the account is open.
    pub fn is_open(&self) -> bool {
        self.status == AccountStatus::Open
    }

    fn ensure_open(&self) -> Result<(), BankError> {
        match self.status {
            AccountStatus::NotOpened => Err(BankError::AccountNotFound),
            AccountStatus::Closed => Err(BankError::AccountClosed),
            AccountStatus::Open => Ok(()),
        }
    }

    fn deposit_events(
        &self,
        amount: Money,
        transfer_id: Option<&String>,
    ) -> Result<Vec<BankEvent>, BankError> {
        self.balance
            .checked_add(amount)
            .ok_or(BankError::BalanceOverflow {
                balance: self.balance,
                amount,
            })?;
        Ok(vec![BankEvent::MoneyDeposited {
            amount,
            transfer_id: transfer_id.cloned(),
        }])
    }
}

impl Aggregate for BankAccount {
    type Command = BankCommand;
    type Event = BankEvent;
    type Error = BankError;
    const CATEGORY: &'static str = "account";

    fn decide(&self, command: &BankCommand) -> Result<Vec<BankEvent>, BankError> {
        match command {
            BankCommand::OpenAccount {
                owner,
                initial_deposit,
                initial_balance,
            } => {
                if self.status != AccountStatus::NotOpened {
                    return Err(BankError::AccountAlreadyExists);
                }
                if owner.trim().is_empty() {
                    return Err(BankError::EmptyOwner);
                }
                let initial_balance = initial_balance.as_deref().map(Money::parse).transpose()?;
                let mut events = vec![BankEvent::AccountOpened {
                    owner: owner.trim().to_string(),
                    initial_balance,
                }];
                if let Some(amount) = initial_deposit {
                    let opened = BankAccount {
                        balance: initial_balance.unwrap_or(Money::ZERO),
                        ..BankAccount::default()
                    };
                    events.extend(opened.deposit_events(Money::parse(amount)?, None)?);
                }
                Ok(events)
            }
            BankCommand::Deposit {
                amount,
                transfer_id,
            } => {
                if transfer_id
                    .as_ref()
                    .is_some_and(|t| self.transfers_credited.contains(t))
                {
                    return Ok(Vec::new()); // this transfer leg already happened
                }
                self.ensure_open()?;
                self.deposit_events(Money::parse(amount)?, transfer_id.as_ref())
            }
            BankCommand::Withdraw {
                amount,
                transfer_id,
            } => {
                if transfer_id
                    .as_ref()
                    .is_some_and(|t| self.transfers_debited.contains(t))
                {
                    return Ok(Vec::new()); // this transfer leg already happened
                }
                self.ensure_open()?;
                let amount = Money::parse(amount)?;
                if amount > self.balance {
                    return Err(BankError::InsufficientFunds {
                        balance: self.balance,
                        amount,
                    });
                }
                Ok(vec![BankEvent::MoneyWithdrawn {
                    amount,
                    transfer_id: transfer_id.clone(),
                }])
            }
            BankCommand::CloseAccount => {
                self.ensure_open()?;
                if !self.balance.is_zero() {
                    return Err(BankError::BalanceNotZero {
                        balance: self.balance,
                    });
                }
                Ok(vec![BankEvent::AccountClosed])
            }
        }
    }

    fn evolve(&mut self, event: &BankEvent) {
        self.version = self.version.saturating_add(1);
        match event {
            BankEvent::AccountOpened {
                owner,
                initial_balance,
            } => {
                self.owner = owner.clone();
                self.status = AccountStatus::Open;
                if let Some(amount) = initial_balance {
                    self.balance = self.balance.saturating_add(amount.clamped());
                }
            }
            BankEvent::MoneyDeposited {
                amount,
                transfer_id,
            } => {
                self.balance = self.balance.saturating_add(amount.clamped());
                if let Some(t) = transfer_id {
                    self.transfers_credited.insert(t.clone());
                }
            }
            BankEvent::MoneyWithdrawn {
                amount,
                transfer_id,
            } => {
                self.balance = self.balance.saturating_sub(amount.clamped());
                if let Some(t) = transfer_id {
                    self.transfers_debited.insert(t.clone());
                }
            }
            BankEvent::AccountClosed => self.status = AccountStatus::Closed,
        }
    }
}
