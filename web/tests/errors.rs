//! The JS API's errors, run in headless Chromium by `wasm-bindgen-test`: every store error
//! becomes a `ChronikError` whose `code` a program can act on.
#![cfg(target_arch = "wasm32")]

use chronik::error::store_error;
use chronik_core::StoreError;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn code(err: StoreError) -> JsValue {
    js_sys::Reflect::get(&store_error(err), &"code".into()).unwrap()
}

#[wasm_bindgen_test]
fn store_errors_carry_the_codes_programs_act_on() {
    assert_eq!(
        code(StoreError::Blocked("did not close".into())),
        "UpgradeBlocked"
    );
    assert_eq!(
        code(StoreError::QuotaExceeded("full".into())),
        "QuotaExceeded"
    );
    assert_eq!(
        code(StoreError::Closed("newer version".into())),
        "DatabaseClosed"
    );
    assert_eq!(
        code(StoreError::Storage("aborted".into())),
        "StorageFailure"
    );
    assert_eq!(code(StoreError::InvalidInput("bad".into())), "InvalidInput");
    let conflict = store_error(StoreError::WrongExpectedVersion {
        stream: "s".into(),
        expected: chronik_core::ExpectedVersion::Exact(0),
        actual: Some(1),
    });
    assert_eq!(
        js_sys::Reflect::get(&conflict, &"expected".into()).unwrap(),
        0.0
    );
    assert_eq!(
        js_sys::Reflect::get(&conflict, &"actual".into()).unwrap(),
        1.0
    );
}
