//! # chronik
//!
//! Offline-first event sourcing for the browser. This crate puts the platform-neutral
//! engine of `chronik-core` on IndexedDB ([`IdbStore`]) and gives JavaScript and
//! TypeScript apps a thin, typed API ([`Chronik`]). All conversion between Rust and
//! JavaScript lives here.
#![deny(missing_docs)]

#[cfg(feature = "js-api")]
pub mod error;
pub mod idb;
#[cfg(feature = "js-api")]
pub mod js;
pub mod platform;

#[cfg(feature = "js-api")]
pub use error::ChronikError;
pub use idb::IdbStore;
#[cfg(feature = "js-api")]
pub use js::Chronik;
pub use platform::{JsClock, RandomUuids};
