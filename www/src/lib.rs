//! The chronik web app as a library: the binary (`main.rs`) mounts [`app::App`]; the
//! tests in `www/tests/` call the [`api`] the pages call, in headless Chromium.

pub mod api;
pub mod app;
pub mod format;
pub mod pages;
