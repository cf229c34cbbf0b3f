//! Ready-made example domains on the engine.
//!
//! | module | what | streams |
//! | --- | --- | --- |
//! | [`money`] | [`Money`]: integer cents parsed from decimal strings | |
//! | [`bank`] | accounts, transfers (process manager), read models, `MoneyDeposited` v1 → v2 | `account-{id}`, `transfer-{id}` |
//! | [`rng`] | [`SplitMix64`]: the deterministic PRNG behind failure injection and demo data | |
pub mod bank;
mod codec;
pub mod money;
pub mod rng;

pub use bank::{
    bank_upcasters, AccountBalances, AccountStatus, Bank, BankAccount, BankCommand, BankError,
    BankEvent, DailySummary, TransactionHistory, Transfer, TransferRunError, TransferStatus,
};
pub use money::{Money, MoneyError};
pub use rng::SplitMix64;
