//! Helpers shared by the browser test files.

use std::cell::Cell;

thread_local! {
    static NEXT: Cell<u32> = const { Cell::new(0) };
}

/// A database name no other test (or earlier run) uses: `chronik-<suite>-<label>-<ms>-<n>`.
pub fn fresh_name(suite: &str, label: &str) -> String {
    let n = NEXT.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    format!("chronik-{suite}-{label}-{}-{n}", js_sys::Date::now() as u64)
}
