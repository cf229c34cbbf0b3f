//! Ready-made example domains on the engine.
//!
//! | module | what | streams |
//! | --- | --- | --- |
//! | [`money`] | [`Money`]: integer cents parsed from decimal strings | |
//! | [`bank`] | accounts, transfers (process manager), read models, `MoneyDeposited` v1 → v2 | `account-{id}`, `transfer-{id}` |
//! | [`orders`] | the order state machine and its read models | `order-{id}` |
//! | [`services`] | simulated inventory, payment and shipping, event-sourced, with [`Faults`] | `inventory-main`, `payment-{orderId}`, `shipment-{orderId}` |
//! | [`saga`] | the fulfilment saga, resumable, with compensations | `saga-{orderId}` |
//! | [`demo`] | [`DemoData`]: deterministic demo data for both domains, in batches | all of the above |
//! | [`rng`] | [`SplitMix64`]: the deterministic PRNG behind failure injection and demo data | |
pub mod bank;
mod codec;
pub mod demo;
pub mod money;
pub mod orders;
pub mod rng;
pub mod saga;
pub mod services;

pub use bank::{
    bank_upcasters, AccountBalances, AccountStatus, Bank, BankAccount, BankCommand, BankError,
    BankEvent, DailySummary, TransactionHistory, Transfer, TransferRunError, TransferStatus,
};
pub use demo::{write_demo, DemoBatch, DemoConfig, DemoData};
pub use money::{Money, MoneyError};
pub use orders::{Order, OrderCommand, OrderError, OrderEvent, OrderItem, OrderStatus, Orders};
pub use rng::SplitMix64;
pub use saga::{FulfilmentSagas, Interruption, SagaError, SagaState, SagaStatus, SagaStep};
pub use services::{Faults, ServiceError, Services};
