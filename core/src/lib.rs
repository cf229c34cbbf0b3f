//! # chronik-core
//!
//! The platform-neutral heart of chronik: the event store contract ([`EventStore`]),
//! an in-memory implementation ([`MemoryStore`]) and the engine built on top of it.
//!
//! This crate never touches JavaScript, the wall clock or randomness directly: a
//! [`Clock`] and an [`IdSource`] are injected into every store, so the same code runs
//! natively, in tests with deterministic time, and in the browser.
#![deny(missing_docs)]

pub mod aggregate;
pub mod append;
pub mod clock;
#[cfg(feature = "testkit")]
pub mod conformance;
pub mod error;
pub mod event;
pub mod handler;
pub mod memory;
pub mod projection;
pub mod stats;
pub mod store;
pub mod testing;
pub mod upcast;

pub use aggregate::{fold, Aggregate, AggregateState, DomainEvent};
pub use handler::{CommandContext, CommandHandler, CommandOutcome, HandlerError, SnapshotPolicy};
pub use projection::{
    JsonProjection, JsonReducer, Projection, ProjectionRunner, ProjectionStatus, RebuildProgress,
};
pub use stats::{compute_stats, utc_date, StoreStats};
pub use upcast::{ReadError, UpcastError, UpcastEvent, UpcastFn, Upcasters};

pub use clock::{Clock, IdSource, ManualClock, SequentialIds};
pub use error::StoreError;
pub use event::{AppendResult, ExpectedVersion, Metadata, NewEvent, RecordedEvent};
pub use memory::MemoryStore;
pub use store::{
    stream_category, Checkpoint, Direction, EventStore, ReadAllOptions, ReadStreamOptions,
    Snapshot, StreamInfo,
};
