//! Small futures over raw IndexedDB requests and transactions (`web-sys`), for what
//! rexie does not expose: the versioned open with its `blocked` event, and transactions
//! whose abort reason (a `DOMException`, e.g. `QuotaExceededError`) must be read.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use chronik_core::StoreError;
use futures::channel::oneshot;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DomException, Event, EventTarget, IdbRequest, IdbTransaction};

/// An event handler kept alive on the Rust side.
pub(crate) type Handler = Closure<dyn FnMut(Event)>;

/// Resolves with the first of `names` that `target` fires. The listeners are removed when
/// the future is dropped, which never happens inside one of them: they only send on a
/// channel, and the awaiting task runs afterwards.
pub(crate) struct NextEvent {
    target: EventTarget,
    listeners: Vec<(&'static str, Handler)>,
    rx: oneshot::Receiver<(&'static str, Event)>,
}

impl NextEvent {
    pub(crate) fn new(target: &EventTarget, names: &[&'static str]) -> Self {
        let (tx, rx) = oneshot::channel();
        let tx = Rc::new(RefCell::new(Some(tx)));
        let listeners = names
            .iter()
            .map(|&name| {
                let tx = tx.clone();
                let closure = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
                    if let Some(tx) = tx.borrow_mut().take() {
                        let _ = tx.send((name, event));
                    }
                });
                // Adding a listener to a live IndexedDB object cannot fail.
                let _ =
                    target.add_event_listener_with_callback(name, closure.as_ref().unchecked_ref());
                (name, closure)
            })
            .collect();
        Self {
            target: target.clone(),
            listeners,
            rx,
        }
    }
}

impl Future for NextEvent {
    type Output = (&'static str, Event);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The senders live in the listeners, which live as long as `self`: never cancelled.
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.expect("listeners outlive the receiver"))
    }
}

impl Drop for NextEvent {
    fn drop(&mut self) {
        for (name, closure) in &self.listeners {
            let _ = self
                .target
                .remove_event_listener_with_callback(name, closure.as_ref().unchecked_ref());
        }
    }
}

/// Waits for `request` to succeed (its `result`) or fail (its `error`, a `DOMException`).
pub(crate) async fn request(request: &IdbRequest) -> Result<JsValue, JsValue> {
    let (name, _) = NextEvent::new(request, &["success", "error"]).await;
    if name == "success" {
        request.result()
    } else {
        Err(request
            .error()
            .ok()
            .flatten()
            .map_or(JsValue::NULL, JsValue::from))
    }
}

/// Waits for `tx` to commit. An aborted transaction (explicitly, by a failed request, or
/// at commit, e.g. when the quota is exceeded) becomes an error naming why.
pub(crate) async fn transaction(tx: &IdbTransaction) -> Result<(), StoreError> {
    let (name, _) = NextEvent::new(tx, &["complete", "abort"]).await;
    if name == "complete" {
        return Ok(());
    }
    Err(match tx.error() {
        Some(reason) => aborted(&reason),
        None => StoreError::Storage("transaction aborted; nothing was written".into()),
    })
}

/// A transaction abort caused by `reason`, as a [`StoreError`].
fn aborted(reason: &DomException) -> StoreError {
    match error_from_js(reason) {
        StoreError::Storage(detail) => StoreError::Storage(format!(
            "transaction aborted; nothing was written: {detail}"
        )),
        other => other,
    }
}

/// The `name` and `message` of a JS error value (`DOMException`, `Error`), if it has them.
fn name_and_message(err: &JsValue) -> (String, String) {
    let get = |key: &str| {
        js_sys::Reflect::get(err, &JsValue::from_str(key))
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    if err.is_object() {
        (get("name"), get("message"))
    } else {
        (
            String::new(),
            err.as_string().unwrap_or_else(|| format!("{err:?}")),
        )
    }
}

/// Maps an IndexedDB failure (a `DOMException` from a request, a transaction or the open
/// request) to a [`StoreError`]: `QuotaExceededError` becomes
/// [`StoreError::QuotaExceeded`], `VersionError` (the database is newer than this code)
/// [`StoreError::Closed`], an `AbortError` a storage failure saying the transaction was
/// aborted, anything else [`StoreError::Storage`] with the exception's name and message.
pub fn error_from_js(err: &JsValue) -> StoreError {
    let (name, message) = name_and_message(err);
    let detail = match (name.is_empty(), message.is_empty()) {
        (true, _) => message.clone(),
        (false, true) => name.clone(),
        (false, false) => format!("{name}: {message}"),
    };
    match name.as_str() {
        "QuotaExceededError" => StoreError::QuotaExceeded(detail),
        "VersionError" => StoreError::Closed(format!(
            "the database was upgraded to a newer schema by a newer version of the app; reload ({detail})"
        )),
        "AbortError" => {
            StoreError::Storage(format!("transaction aborted; nothing was written: {detail}"))
        }
        _ => StoreError::Storage(detail),
    }
}

/// A promise resolved after `ms` milliseconds through the global `setTimeout` (window or
/// worker).
pub(crate) fn sleep(ms: u32) -> wasm_bindgen_futures::JsFuture {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let set_timeout = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("setTimeout"))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        match set_timeout {
            Some(set_timeout) => {
                let _ = set_timeout.call2(&JsValue::UNDEFINED, &resolve, &JsValue::from(ms));
            }
            // No timers in this scope: resolve at once rather than never.
            None => {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        }
    });
    wasm_bindgen_futures::JsFuture::from(promise)
}

/// `globalThis[key]`, `None` when absent.
pub(crate) fn global(key: &str) -> Option<JsValue> {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str(key))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}
