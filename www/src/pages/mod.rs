//! One module per page.

pub mod append;
pub mod bank;
pub mod data;
pub mod log;
pub mod orders;
pub mod projections;
pub mod stats;
pub mod sync;
pub mod travel;
