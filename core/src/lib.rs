//! # chronik-core
//!
//! The platform-neutral heart of chronik: the event store contract ([`EventStore`]),
//! an in-memory implementation ([`MemoryStore`]) and the engine built on top of it.
//!
//! This crate never touches JavaScript, the wall clock or randomness directly: a
//! [`Clock`] and an [`IdSource`] are injected into every store, so the same code runs
//! natively, in tests with deterministic time, and in the browser.
#![deny(missing_docs)]

pub mod append;
pub mod clock;
#[cfg(feature = "testkit")]
pub mod conformance;
pub mod error;
pub mod event;
pub mod memory;
pub mod store;

pub use clock::{Clock, IdSource, ManualClock, SequentialIds};
pub use error::StoreError;
pub use event::{AppendResult, ExpectedVersion, Metadata, NewEvent, RecordedEvent};
pub use memory::MemoryStore;
pub use store::{
    stream_category, Checkpoint, Direction, EventStore, ReadAllOptions, ReadStreamOptions,
    Snapshot, StreamInfo,
};
