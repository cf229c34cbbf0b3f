//! # chronik-examples
//!
//! Ready-made example domains on the chronik engine, written only against
//! `chronik-core`'s public API: what a user's own domain looks like.
//!
//! | module | what | streams |
//! | --- | --- | --- |
//! | [`money`] | [`Money`]: integer cents parsed from decimal strings | |
//! | [`bank`] | accounts, transfers (process manager), read models, `MoneyDeposited` v1 → v2 | `account-{id}`, `transfer-{id}` |
//! | [`orders`] | the order state machine and its read models | `order-{id}` |
//! | [`services`] | simulated inventory, payment and shipping, event-sourced, with [`Faults`] | `inventory-main`, `payment-{orderId}`, `shipment-{orderId}` |
//! | [`saga`] | the fulfilment saga, resumable, with compensations | `saga-{orderId}` |
//! | [`demo`] | [`DemoData`]: deterministic demo data for both domains, in batches | all of the above |
//! | [`commands`] | [`DomainCommands`](commands::DomainCommands): the domains' commands by name (`bank.withdraw`, …), the [`CommandRunner`](chronik_core::sync::CommandRunner) sync rebases with | |
//! | [`registry`] | the domains' read models, upcasters and stream categories, for shells | |
//! | [`rng`] | [`SplitMix64`]: the deterministic PRNG behind failure injection and demo data | |
//!
//! ## Example
//!
//! ```
//! use chronik_examples::bank::AccountBalances;
//! use chronik_examples::{
//!     Bank, BankCommand, FulfilmentSagas, OrderCommand, Orders, SagaStatus, Services,
//!     TransferStatus,
//! };
//! use chronik_core::{CommandContext, ManualClock, MemoryStore, SequentialIds};
//! use futures::executor::block_on;
//! use std::rc::Rc;
//!
//! let clock = Rc::new(ManualClock::new(1_700_000_000_000));
//! let store = Rc::new(MemoryStore::new(Rc::clone(&clock), SequentialIds::new("evt")));
//! block_on(async {
//!     // Commands arrive as JSON from the app: `bank.execute("acc-1", { type: "Deposit", ... })`.
//!     let bank = Bank::new(Rc::clone(&store));
//!     let open: BankCommand = serde_json::from_str(
//!         r#"{ "type": "OpenAccount", "owner": "Alice", "initialDeposit": "100" }"#,
//!     )?;
//!     bank.execute("acc-1", &open, &CommandContext::new("cmd-1")).await?;
//!     bank.execute("acc-2", &BankCommand::open("Bob"), &CommandContext::new("cmd-2")).await?;
//!     let deposit = serde_json::from_str(r#"{ "type": "Deposit", "amount": "10.50" }"#)?;
//!     let alice = bank.execute("acc-1", &deposit, &CommandContext::new("cmd-3")).await?;
//!     assert_eq!(alice.balance.to_string(), "110.50");
//!
//!     let err = bank
//!         .execute("acc-2", &BankCommand::withdraw("5"), &CommandContext::new("cmd-4"))
//!         .await
//!         .unwrap_err();
//!     assert_eq!(err.to_string(), "command rejected: insufficient funds: balance 0.00, amount 5.00");
//!
//!     // A transfer is a process manager: safe to re-run, money moves once.
//!     let t = bank.transfer("t-1", "acc-1", "acc-2", "60").await?;
//!     assert_eq!(t.status, TransferStatus::Completed);
//!     bank.transfer("t-1", "acc-1", "acc-2", "60").await?;
//!     let mut balances = bank.projection(AccountBalances, Rc::clone(&clock));
//!     balances.catch_up().await?;
//!     assert_eq!(balances.state().accounts["acc-2"].balance.to_string(), "60.00");
//!
//!     // Orders, then the fulfilment saga over event-sourced services.
//!     let services = Services::new(Rc::clone(&store));
//!     services.receive_stock("sku-1", 10, "delivery-1").await?;
//!     let orders = Orders::new(Rc::clone(&store));
//!     for command in [
//!         r#"{ "type": "CreateOrder", "customerId": "cust-1" }"#,
//!         r#"{ "type": "AddItem", "productId": "sku-1", "quantity": 2, "unitPrice": "9.99" }"#,
//!         r#"{ "type": "SubmitOrder" }"#,
//!     ] {
//!         let command: OrderCommand = serde_json::from_str(command)?;
//!         orders.execute("ord-1", &command, &CommandContext::default()).await?;
//!     }
//!     let sagas = FulfilmentSagas::new(Rc::clone(&store), services);
//!     let saga = sagas.run("ord-1").await?;
//!     assert_eq!(saga.status, SagaStatus::Completed);
//!     let stock = sagas.services().inventory().await?.products["sku-1"];
//!     assert_eq!((stock.on_hand, stock.reserved), (8, 0));
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! .unwrap();
//! ```
#![deny(missing_docs)]

pub mod bank;
mod codec;
pub mod commands;
pub mod demo;
pub mod money;
pub mod orders;
pub mod registry;
pub mod rng;
pub mod saga;
pub mod services;

pub use bank::{
    bank_upcasters, AccountBalances, AccountStatus, Bank, BankAccount, BankCommand, BankError,
    BankEvent, DailySummary, TransactionHistory, Transfer, TransferRunError, TransferStatus,
};
pub use demo::{write_demo, DemoBatch, DemoConfig, DemoData, DemoError, DemoOutcome, Timeline};
pub use money::{Money, MoneyError};
pub use orders::{Order, OrderCommand, OrderError, OrderEvent, OrderItem, OrderStatus, Orders};
pub use rng::SplitMix64;
pub use saga::{FulfilmentSagas, Interruption, SagaError, SagaState, SagaStatus, SagaStep};
pub use services::{
    Faults, Operation, ServiceCall, ServiceCommand, ServiceError, Services, UntrackedStock,
};

/// The README's Rust example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
