//! # chronik-core
//!
//! The platform-neutral heart of chronik: the event store contract ([`EventStore`]),
//! an in-memory implementation ([`MemoryStore`]) and the engine built on top of it.
//!
//! This crate never touches JavaScript, the wall clock or randomness directly: a
//! [`Clock`] and an [`IdSource`] are injected into every store, so the same code runs
//! natively, in tests with deterministic time, and in the browser.
//!
//! | module | what |
//! | --- | --- |
//! | [`event`], [`store`], [`error`] | the envelope, the [`EventStore`] contract, [`StoreError`] |
//! | [`append`] | the append decision every store shares (idempotency, version check) |
//! | [`memory`] | [`MemoryStore`], the reference store |
//! | [`aggregate`], [`handler`] | [`Aggregate`], [`CommandHandler`]: load, decide, append, snapshot, temporal queries |
//! | [`dynamic`] | [`DynamicAggregate`], [`DynamicHandler`]: the same over JSON state, for aggregates defined at run time (in JS) |
//! | [`upcast`] | [`Upcasters`]: old event schemas lifted on read |
//! | [`projection`] | [`Projection`], [`ProjectionRunner`]: read models with checkpoints |
//! | [`hub`] | [`ProjectionHub`]: one runner per projection of a store, caught up in one pass |
//! | [`ndjson`] | [`export_ndjson`], [`import_ndjson`], [`Importer`]: the log as one event a line, paged out, validated and resumable in |
//! | [`previous`] | the event shape before the one shape (`eventId`, `eventType`, nested `metadata.extra`), read by the NDJSON import and the store migrations only |
//! | [`limits`] | the bounds of accepted values: depth, name length, batch size |
//! | [`sync`] | [`SyncEngine`](sync::SyncEngine), [`Replica`](sync::Replica), [`ReplicaStore`](sync::ReplicaStore): a local store as a replica of a server store, offline writes, rebase, conflicts, adoption of a never-synced local log |
//! | [`stats`] | [`StoreStats`] |
//! | [`testing`] | [`AggregateTest`](testing::AggregateTest): given/when/then |
//! | `conformance` (feature `testkit`) | the suite every store must pass |
//!
//! ## Example
//!
//! ```
//! use chronik_core::{
//!     Aggregate, CommandContext, CommandHandler, DomainEvent, JsonProjection, ManualClock,
//!     MemoryStore, ProjectionRunner, SequentialIds,
//! };
//! use futures::executor::block_on;
//! use serde::{Deserialize, Serialize};
//! use serde_json::json;
//! use std::rc::Rc;
//!
//! #[derive(Debug, Default, Serialize, Deserialize)]
//! struct Account { balance: i64 }
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
//! #[serde(tag = "type")]
//! enum Event { Deposited { amount: i64 }, Withdrawn { amount: i64 } }
//!
//! impl DomainEvent for Event {
//!     fn event_type(&self) -> &'static str {
//!         match self { Event::Deposited { .. } => "Deposited", Event::Withdrawn { .. } => "Withdrawn" }
//!     }
//! }
//!
//! enum Command { Deposit(i64), Withdraw(i64) }
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("insufficient funds: balance {0}")]
//! struct InsufficientFunds(i64);
//!
//! impl Aggregate for Account {
//!     type Command = Command;
//!     type Event = Event;
//!     type Error = InsufficientFunds;
//!     const CATEGORY: &'static str = "account"; // streams `account-{id}`
//!
//!     fn decide(&self, command: &Command) -> Result<Vec<Event>, InsufficientFunds> {
//!         match *command {
//!             Command::Deposit(amount) => Ok(vec![Event::Deposited { amount }]),
//!             Command::Withdraw(amount) if amount > self.balance => Err(InsufficientFunds(self.balance)),
//!             Command::Withdraw(amount) => Ok(vec![Event::Withdrawn { amount }]),
//!         }
//!     }
//!
//!     fn evolve(&mut self, event: &Event) {
//!         match event {
//!             Event::Deposited { amount } => self.balance += amount,
//!             Event::Withdrawn { amount } => self.balance -= amount,
//!         }
//!     }
//! }
//!
//! let clock = Rc::new(ManualClock::new(1_700_000_000_000));
//! let store = MemoryStore::new(Rc::clone(&clock), SequentialIds::new("evt"));
//! let accounts = CommandHandler::<_, Account>::new(&store); // snapshots every 10 events
//!
//! block_on(async {
//!     let ctx = CommandContext::new("cmd-1").correlated_with("session-7");
//!     let out = accounts.handle("42", &Command::Deposit(100), &ctx).await?;
//!     assert_eq!((out.version, out.state.balance), (1, 100));
//!     clock.advance(60_000);
//!     accounts.handle("42", &Command::Withdraw(30), &CommandContext::new("cmd-2")).await?;
//!
//!     // Rejected commands write nothing.
//!     let err = accounts.handle("42", &Command::Withdraw(500), &CommandContext::new("cmd-3")).await;
//!     assert_eq!(err.unwrap_err().to_string(), "command rejected: insufficient funds: balance 70");
//!
//!     // Time travel: the state at a version, or at a wall-clock time.
//!     assert_eq!(accounts.state_at_version("42", 1).await?.state.balance, 100);
//!     assert_eq!(accounts.state_at_time("42", 1_700_000_000_000).await?.state.balance, 100);
//!
//!     // A read model over the global log, with a persisted checkpoint.
//!     let totals = JsonProjection::new("deposits", json!(0), |total, event| {
//!         Ok(json!(total.as_i64().unwrap_or(0) + event.data["amount"].as_i64().unwrap_or(0)))
//!     })
//!     .handling(["Deposited"]);
//!     let mut runner = ProjectionRunner::new(&store, totals, Rc::clone(&clock));
//!     runner.catch_up().await?;
//!     assert_eq!(runner.state(), &json!(100));
//!     assert_eq!(runner.lag().await?, 0);
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! .unwrap();
//! ```
#![deny(missing_docs)]

pub mod aggregate;
pub mod append;
pub mod clock;
#[cfg(feature = "testkit")]
pub mod conformance;
pub mod dynamic;
pub mod error;
pub mod event;
pub mod handler;
pub mod hub;
pub mod limits;
pub mod memory;
pub mod ndjson;
pub mod previous;
pub mod projection;
pub mod stats;
pub mod store;
pub mod sync;
pub mod testing;
pub mod upcast;

pub use aggregate::{fold, Aggregate, AggregateState, DomainEvent};
pub use dynamic::{DecidedEvent, DynamicAggregate, DynamicError, DynamicHandler};
pub use handler::{CommandContext, CommandHandler, CommandOutcome, HandlerError, SnapshotPolicy};
pub use hub::{HubError, HubInfo, ProjectionHub};
pub use projection::{
    JsonProjection, JsonReducer, Projection, ProjectionError, ProjectionRunner, ProjectionStatus,
    RebuildProgress, StateAtError,
};
pub use stats::{compute_stats, utc_date, StoreStats};
pub use upcast::{ReadError, UpcastError, UpcastEvent, UpcastFn, Upcasters};

pub use clock::{Clock, IdSource, ManualClock, SequentialIds};
pub use error::StoreError;
pub use event::{
    AppendResult, ExpectedVersion, Metadata, NewEvent, RecordedEvent, RESERVED_METADATA_KEYS,
};
pub use limits::{LimitError, MAX_BATCH_EVENTS, MAX_DEPTH, MAX_NAME_BYTES, MAX_VALUE_BYTES};
pub use memory::MemoryStore;
pub use ndjson::{
    export_ndjson, import_ndjson, validate_ndjson, ImportError, ImportOptions, ImportProgress,
    ImportReport, Importer, NdjsonExport, NdjsonValidator,
};
pub use store::{
    stream_category, Checkpoint, Direction, EventStore, ReadAllOptions, ReadStreamOptions,
    Snapshot, StreamInfo,
};
