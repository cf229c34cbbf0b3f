//! One module per page.

pub mod append;
pub mod bank;
pub mod log;
pub mod orders;
pub mod stats;
