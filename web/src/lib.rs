//! # chronik
//!
//! Offline-first event sourcing for the browser, for JavaScript and TypeScript apps: a
//! thin, typed API ([`Chronik`]) over the platform-neutral engine of `chronik-core` and
//! its IndexedDB store (`chronik-idb`). All conversion between Rust and JavaScript lives
//! here; Rust apps use `chronik-idb` directly.
#![deny(missing_docs)]

pub mod error;
pub mod js;

pub use chronik_idb::{IdbStore, JsClock, RandomUuids};
pub use error::ChronikError;
pub use js::Chronik;
