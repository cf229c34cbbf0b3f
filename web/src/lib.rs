//! chronik for the browser.
#![deny(missing_docs)]
