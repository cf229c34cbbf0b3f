//! Live subscriptions: a callback per event, in position order, each event once.
//!
//! A subscriber remembers the next position it owes its callback. Whenever the store may
//! have grown (an append in this instance, or a notice from another tab), each subscriber
//! reads the log from there and delivers. Deliveries never overlap: a notice that arrives
//! while one is running makes it read again before it stops.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use chronik_core::{EventStore, ReadAllOptions};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::backend::Backend;

/// Events read per page while delivering.
const PAGE: usize = 500;

/// One `subscribe` call.
pub struct Subscriber {
    /// The next position owed; 0 until the first delivery has read the log's head.
    next: Cell<u64>,
    types: Option<Vec<String>>,
    callback: js_sys::Function,
    running: Cell<bool>,
    again: Cell<bool>,
    stopped: Cell<bool>,
}

impl Subscriber {
    /// A subscriber that owes `callback` every event from position `from` on, or, when
    /// `from` is `None`, every event appended after the first delivery starts. (That first
    /// delivery is spawned when subscribing; IndexedDB runs transactions in the order they
    /// were created, so an append started after `subscribe` returned is never missed.)
    pub fn new(from: Option<u64>, types: Option<Vec<String>>, callback: js_sys::Function) -> Self {
        Self {
            next: Cell::new(from.map_or(0, |p| p.max(1))),
            types,
            callback,
            running: Cell::new(false),
            again: Cell::new(false),
            stopped: Cell::new(false),
        }
    }

    /// Stops deliveries; an event being delivered finishes.
    pub fn stop(&self) {
        self.stopped.set(true);
    }

    /// Whether `stop` was called.
    pub fn is_stopped(&self) -> bool {
        self.stopped.get()
    }

    /// Delivers every event past the last delivered one. A callback that throws is
    /// reported on the console and does not stop the subscription.
    pub async fn deliver(self: Rc<Self>, backend: Rc<Backend>) {
        // The store's own log: when syncing, the server-confirmed one, whose positions
        // never change (pending events are provisional until confirmed).
        let store = match backend.confirmed() {
            Ok(store) => store,
            Err(_) => return,
        };
        if self.running.replace(true) {
            self.again.set(true);
            return;
        }
        if self.next.get() == 0 {
            match store.head_position().await {
                Ok(head) => self.next.set(head + 1),
                Err(e) => {
                    web_sys::console::error_1(&format!("chronik subscription: {e}").into());
                    self.running.set(false);
                    return;
                }
            }
        }
        loop {
            self.again.set(false);
            let mut drained = false;
            while !drained && !self.is_stopped() {
                let page = store
                    .read_all(ReadAllOptions {
                        from_position: self.next.get(),
                        limit: Some(PAGE),
                        event_types: self.types.clone(),
                        stream_prefix: None,
                    })
                    .await;
                let events = match page {
                    Ok(events) => events,
                    Err(e) => {
                        web_sys::console::error_1(&format!("chronik subscription: {e}").into());
                        break;
                    }
                };
                drained = events.len() < PAGE;
                for event in events {
                    if self.is_stopped() {
                        break;
                    }
                    self.next.set(event.position + 1);
                    let js = super::out(&event).unwrap_or(JsValue::NULL);
                    match self.callback.call1(&JsValue::NULL, &js) {
                        Err(thrown) => web_sys::console::error_2(
                            &"chronik subscription callback threw".into(),
                            &thrown,
                        ),
                        // An async callback's rejection is reported here, not left
                        // unhandled (which ends a plain Node process).
                        Ok(returned) => report_rejection(&returned),
                    }
                }
            }
            if !self.again.get() || self.is_stopped() {
                break;
            }
        }
        self.running.set(false);
    }
}

/// Every live subscription of one `Chronik` instance.
#[derive(Default)]
pub struct Subscribers {
    list: RefCell<Vec<Rc<Subscriber>>>,
}

impl Subscribers {
    /// Adds `subscriber`.
    pub fn add(&self, subscriber: Rc<Subscriber>) {
        self.list.borrow_mut().push(subscriber);
    }

    /// Stops every subscription (the database is closing).
    pub fn stop_all(&self) {
        for subscriber in self.list.borrow_mut().drain(..) {
            subscriber.stop();
        }
    }

    /// Tells every subscriber the store may have grown; drops stopped ones.
    pub fn notify(&self, store: &Rc<Backend>) {
        self.list.borrow_mut().retain(|s| !s.is_stopped());
        for subscriber in self.list.borrow().iter() {
            wasm_bindgen_futures::spawn_local(Rc::clone(subscriber).deliver(Rc::clone(store)));
        }
    }
}

thread_local! {
    /// Logs the rejection of a promise a subscription callback returned.
    static LOG_REJECTION: Closure<dyn FnMut(JsValue)> = Closure::new(|reason: JsValue| {
        web_sys::console::error_2(&"chronik subscription callback rejected".into(), &reason);
    });
}

/// When `value` is a promise (or thenable), reports its rejection on the console.
fn report_rejection(value: &JsValue) {
    if !value.is_object() {
        return;
    }
    let Ok(then) = js_sys::Reflect::get(value, &JsValue::from_str("then")) else {
        return;
    };
    if then.is_function() {
        let then: &js_sys::Function = then.unchecked_ref();
        LOG_REJECTION.with(|log| {
            let _ = then.call2(value, &JsValue::UNDEFINED, log.as_ref());
        });
    }
}
