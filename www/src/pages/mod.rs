//! One module per page.

pub mod stream;
