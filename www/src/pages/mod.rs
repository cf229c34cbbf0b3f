//! One module per page.

pub mod append;
pub mod log;
pub mod stats;
