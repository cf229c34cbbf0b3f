//! The one place where Rust errors become JavaScript errors.
//!
//! Every error thrown to JavaScript is a `ChronikError`: a real `Error` (with a stack)
//! whose prototype is the exported `ChronikError` class, so both `e instanceof Error` and
//! `e instanceof ChronikError` hold. It has a machine-readable `code` and the fields that
//! explain it (for a version conflict: `stream`, `expected` and `actual`). The class's
//! TypeScript declaration is merged with an interface listing those fields.

use std::cell::{OnceCell, RefCell};

use chronik_core::{ExpectedVersion, HandlerError, HubError, ProjectionError, StoreError};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const CHRONIK_ERROR: &str = r#"
/** Every `code` a `ChronikError` can carry. */
export type ChronikErrorCode =
    | "WrongExpectedVersion" | "PartialDuplicate" | "DuplicateEventId" | "InvalidInput"
    | "QuotaExceeded" | "StorageFailure" | "CorruptData" | "UnknownProjection"
    | "CallbackFailed" | "Internal" | "UpgradeBlocked" | "DatabaseClosed" | "InvalidImport"
    | "InvalidCommand" | "InvalidAmount" | "InsufficientFunds" | "InvalidTransition"
    | "AccountClosed" | "AccountNotFound" | "AccountAlreadyExists" | "BalanceNotZero"
    | "OrderNotFound" | "RetriesExhausted" | "VersionNotFound" | "ServiceFailed"
    | "RefundRejected" | "SagaOutOfOrder" | "Interrupted" | "ProjectionFailed" | "DemoConflict"
    | "CommandRejected" | "UnknownBatch" | "AbandonedStep"
    | (string & {});

/** What every error thrown by chronik carries besides `message` and `stack`. */
export interface ChronikError extends Error {
    readonly name: "ChronikError";
    /** What went wrong, for programs. */
    readonly code: ChronikErrorCode;
    /** `WrongExpectedVersion`: the stream appended to. */
    readonly stream?: string;
    /** `WrongExpectedVersion`: the version the append expected. */
    readonly expected?: ExpectedVersion;
    /** `WrongExpectedVersion`: the stream's actual version (`null`: no stream). */
    readonly actual?: number | null;
    /** `PartialDuplicate`: the ids already stored. */
    readonly duplicateIds?: string[];
    /** `InsufficientFunds`: the balance and the amount asked for; `BalanceNotZero`: the balance. */
    readonly balance?: string;
    /** `InsufficientFunds`: the amount asked for, such as `"1000.00"`. */
    readonly amount?: string;
    /** `InvalidImport`: the bad lines (the first hundred). */
    readonly errors?: { line: number; message: string }[];
    /** `InvalidImport`: how many lines were bad. */
    readonly errorCount?: number;
    /** `ProjectionFailed`: the position of the event the projection's `apply` fails on. */
    readonly position?: number;
    /** `ProjectionFailed`: why `apply` failed there. */
    readonly error?: string;
}
"#;

/// The class of every error chronik throws (`e instanceof ChronikError`). It is never
/// constructed by JavaScript code: chronik creates its instances.
#[wasm_bindgen]
pub struct ChronikError {
    _private: u8,
}

thread_local! {
    /// `ChronikError.prototype`, chained to `Error.prototype` on first use.
    static PROTOTYPE: OnceCell<js_sys::Object> = const { OnceCell::new() };
}

fn prototype() -> js_sys::Object {
    PROTOTYPE.with(|cell| {
        cell.get_or_init(|| {
            let sample = JsValue::from(ChronikError { _private: 0 });
            let proto = js_sys::Object::get_prototype_of(&sample);
            let error_proto = js_sys::Object::get_prototype_of(&js_sys::Error::new(""));
            js_sys::Object::set_prototype_of(&proto, &error_proto);
            proto
        })
        .clone()
    })
}

/// Sets a field on a thrown error (setting a property on a fresh `Error` cannot fail).
pub fn set_field(target: &js_sys::Error, key: &str, value: JsValue) {
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(target, &JsValue::from_str(key), &value);
}

fn expected_to_js(expected: ExpectedVersion) -> JsValue {
    match expected {
        ExpectedVersion::Any => "any".into(),
        ExpectedVersion::NoStream => "noStream".into(),
        ExpectedVersion::StreamExists => "streamExists".into(),
        ExpectedVersion::Exact(v) => (v as f64).into(),
    }
}

/// A `ChronikError` with `code` and `message`.
pub fn js_error(code: &str, message: &str) -> js_sys::Error {
    let err = js_sys::Error::new(message);
    js_sys::Object::set_prototype_of(&err, &prototype());
    err.set_name("ChronikError");
    set_field(&err, "code", code.into());
    err
}

/// Converts a store error into a thrown `ChronikError`.
pub fn store_error(err: StoreError) -> JsValue {
    let message = err.to_string();
    let js = match &err {
        StoreError::WrongExpectedVersion {
            stream,
            expected,
            actual,
        } => {
            let e = js_error("WrongExpectedVersion", &message);
            set_field(&e, "stream", stream.as_str().into());
            set_field(&e, "expected", expected_to_js(*expected));
            set_field(
                &e,
                "actual",
                actual.map_or(JsValue::NULL, |v| (v as f64).into()),
            );
            e
        }
        StoreError::PartialDuplicate { duplicate_ids, .. } => {
            let e = js_error("PartialDuplicate", &message);
            let ids: js_sys::Array = duplicate_ids.iter().map(|s| JsValue::from_str(s)).collect();
            set_field(&e, "duplicateIds", ids.into());
            e
        }
        StoreError::DuplicateEventId { .. } => js_error("DuplicateEventId", &message),
        StoreError::InvalidInput(_) => js_error("InvalidInput", &message),
        StoreError::QuotaExceeded(_) => js_error("QuotaExceeded", &message),
        StoreError::Storage(_) => js_error("StorageFailure", &message),
        StoreError::Corrupt(_) => js_error("CorruptData", &message),
        StoreError::Blocked(_) => js_error("UpgradeBlocked", &message),
        StoreError::Closed(_) => js_error("DatabaseClosed", &message),
    };
    js.into()
}

/// Converts bad input from JavaScript (an argument of the wrong shape) into a thrown
/// `ChronikError` with code `InvalidInput`. Nothing is written.
pub fn invalid_input(err: impl std::fmt::Display) -> JsValue {
    js_error("InvalidInput", &format!("invalid input: {err}")).into()
}

/// A command handler's error as a `ChronikError`, the same codes for aggregates written
/// in Rust and in JavaScript. The aggregate's own errors become JS values through
/// `rejected` (why `decide` refused) and `evolve` (why `evolve` failed); every other
/// variant is coded here.
pub fn handler_error<R, V>(
    err: HandlerError<R, V>,
    rejected: impl FnOnce(R) -> JsValue,
    evolve: impl FnOnce(V) -> JsValue,
) -> JsValue {
    let aggregate = RefCell::new(None);
    let err = err.map_aggregate(
        |r| *aggregate.borrow_mut() = Some(rejected(r)),
        |v| *aggregate.borrow_mut() = Some(evolve(v)),
    );
    if let Some(js) = aggregate.into_inner() {
        return js;
    }
    let err = err.map_aggregate(|()| "", |()| "");
    let message = err.to_string();
    match err {
        HandlerError::Store(e) => store_error(e),
        HandlerError::RetriesExhausted { .. } => js_error("RetriesExhausted", &message).into(),
        HandlerError::VersionNotFound { .. } => js_error("VersionNotFound", &message).into(),
        HandlerError::Upcast { .. }
        | HandlerError::Decode { .. }
        | HandlerError::SnapshotDecode { .. } => js_error("CorruptData", &message).into(),
        HandlerError::InvalidName(_) => js_error("InvalidInput", &message).into(),
        // An event or state that cannot be encoded is a bug of the aggregate's serde form;
        // rejections and evolve failures were returned above.
        HandlerError::Encode(_) | HandlerError::Rejected(_) | HandlerError::Evolve { .. } => {
            js_error("Internal", &message).into()
        }
    }
}

/// A stopped projection runner as a `ChronikError`.
pub fn projection_error(err: ProjectionError) -> JsValue {
    let message = err.to_string();
    match err {
        ProjectionError::Store(e) => store_error(e),
        // A state that does not encode (or nests too deep) is bad input from `apply`.
        ProjectionError::Encode(_) => js_error("InvalidInput", &message).into(),
        ProjectionError::NotDeterministic(_) => js_error("ProjectionFailed", &message).into(),
    }
}

/// A projection hub's refusal as a `ChronikError`.
pub fn hub_error(err: HubError) -> JsValue {
    let message = err.to_string();
    match err {
        HubError::Projection(e) => projection_error(e),
        HubError::Unknown(_) => js_error("UnknownProjection", &message).into(),
        HubError::Duplicate(_) => js_error("InvalidInput", &message).into(),
    }
}
