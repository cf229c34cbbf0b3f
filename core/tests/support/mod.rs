//! A small bank-account domain shared by the integration tests.
#![allow(dead_code)] // each test crate uses a different part

use chronik_core::{Aggregate, DomainEvent, ManualClock, MemoryStore, SequentialIds, Upcasters};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::rc::Rc;

/// The account's state.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub owner: Option<String>,
    pub balance: i64,
    pub transactions: u64,
}

/// What an account records. `Deposited` is at schema version 2 (v1 called the
/// amount `amt`); see [`upcasters`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AccountEvent {
    Opened { owner: String },
    Deposited { amount: i64 },
    Withdrawn { amount: i64 },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> &'static str {
        match self {
            AccountEvent::Opened { .. } => "Opened",
            AccountEvent::Deposited { .. } => "Deposited",
            AccountEvent::Withdrawn { .. } => "Withdrawn",
        }
    }

    fn schema_version(&self) -> u32 {
        match self {
            AccountEvent::Deposited { .. } => 2,
            _ => 1,
        }
    }
}

/// What an account can be asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountCommand {
    Open {
        owner: String,
    },
    Deposit(i64),
    Withdraw(i64),
    /// Decides nothing.
    Noop,
}

/// Why an account rejects a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AccountError {
    #[error("account is already open")]
    AlreadyOpen,
    #[error("account is not open")]
    NotOpen,
    #[error("amount must be positive")]
    NonPositive,
    #[error("insufficient funds: balance {balance}, requested {requested}")]
    InsufficientFunds { balance: i64, requested: i64 },
}

impl Aggregate for Account {
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;
    const CATEGORY: &'static str = "account";

    fn decide(&self, command: &AccountCommand) -> Result<Vec<AccountEvent>, AccountError> {
        use AccountCommand::*;
        match command {
            Open { .. } if self.owner.is_some() => Err(AccountError::AlreadyOpen),
            Open { owner } => Ok(vec![AccountEvent::Opened {
                owner: owner.clone(),
            }]),
            _ if self.owner.is_none() => Err(AccountError::NotOpen),
            Deposit(n) | Withdraw(n) if *n <= 0 => Err(AccountError::NonPositive),
            Deposit(n) => Ok(vec![AccountEvent::Deposited { amount: *n }]),
            Withdraw(n) if *n > self.balance => Err(AccountError::InsufficientFunds {
                balance: self.balance,
                requested: *n,
            }),
            Withdraw(n) => Ok(vec![AccountEvent::Withdrawn { amount: *n }]),
            Noop => Ok(vec![]),
        }
    }

    fn evolve(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Opened { owner } => self.owner = Some(owner.clone()),
            AccountEvent::Deposited { amount } => self.balance += amount,
            AccountEvent::Withdrawn { amount } => self.balance -= amount,
        }
        self.transactions += 1;
    }
}

/// Lifts `Deposited` v1 (`{"amt": n}`) to v2 (`{"amount": n}`).
pub fn upcasters() -> Upcasters {
    Upcasters::new().register("Deposited", 1, |mut data| {
        let amt = data
            .as_object_mut()
            .and_then(|o| o.remove("amt"))
            .ok_or_else(|| "v1 Deposited without amt".to_string())?;
        data["amount"] = amt;
        Ok(data)
    })
}

/// A v1 `Deposited` payload as an old release stored it.
pub fn deposited_v1(amt: i64) -> serde_json::Value {
    json!({ "type": "Deposited", "amt": amt })
}

/// A fresh store and its clock.
pub fn store() -> (MemoryStore, Rc<ManualClock>) {
    let clock = Rc::new(ManualClock::new(1_700_000_000_000));
    (
        MemoryStore::new(Rc::clone(&clock), SequentialIds::new("evt")),
        clock,
    )
}
