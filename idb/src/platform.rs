//! The browser's clock and id source, injected into the platform-neutral core.

use chronik_core::{Clock, IdSource};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = randomUUID)]
    fn random_uuid() -> String;
}

/// `Date.now()`.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsClock;

impl Clock for JsClock {
    fn now_ms(&self) -> i64 {
        js_sys::Date::now() as i64
    }
}

/// `crypto.randomUUID()`, available in browsers and Node 19+.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomUuids;

impl IdSource for RandomUuids {
    fn next_id(&self) -> String {
        random_uuid()
    }
}
