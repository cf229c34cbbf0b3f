//! Change notifications. After every committed append (or import) an
//! [`IdbStore`](super::IdbStore) calls its local append listeners (this store, this tab)
//! and posts `{ db, lastPosition, sender }` on the `BroadcastChannel` named
//! `chronik:<db name>`, which every other store on the same database hears: other tabs,
//! workers, and other `IdbStore` instances in this tab. After every committed replica
//! write or adoption it does the same for its replica listeners with
//! `{ db, replicaRevision, sender }`. A store ignores its own messages (`sender`), and
//! each listener the messages of the other kind.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use chronik_core::StoreError;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

use super::raw::error_from_js;

/// The `BroadcastChannel` name on which appends to database `db` are announced.
pub fn channel_name(db: &str) -> String {
    format!("chronik:{db}")
}

type Callback = Rc<dyn Fn(u64)>;

#[derive(Default)]
struct LocalListeners {
    next_id: Cell<u64>,
    list: RefCell<Vec<(u64, Callback)>>,
}

/// A registered listener (of appends or of replica changes). It is called until this is
/// dropped or [`close`](AppendListener::close)d (also from inside the callback itself).
#[must_use = "the listener stops when this is dropped"]
pub struct AppendListener {
    kind: Kind,
}

enum Kind {
    Local {
        list: Weak<LocalListeners>,
        id: u64,
    },
    Remote {
        channel: BroadcastChannel,
        handler: Option<Closure<dyn FnMut(MessageEvent)>>,
    },
    /// Both listeners, stopped when dropped with this.
    Both {
        _local: Box<AppendListener>,
        _remote: Box<AppendListener>,
    },
}

impl AppendListener {
    /// Stops the listener (the same as dropping it).
    pub fn close(self) {}
}

impl Drop for AppendListener {
    fn drop(&mut self) {
        match &mut self.kind {
            Kind::Local { list, id } => {
                if let Some(list) = list.upgrade() {
                    list.list.borrow_mut().retain(|(i, _)| i != id);
                }
            }
            Kind::Remote { channel, handler } => {
                channel.set_onmessage(None);
                channel.close();
                // This may run inside the handler itself: free it afterwards.
                if let Some(handler) = handler.take() {
                    wasm_bindgen_futures::spawn_local(async move { drop(handler) });
                }
            }
            Kind::Both { .. } => {}
        }
    }
}

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Topic {
    /// Events were appended or imported: the notice carries the last position.
    Append,
    /// The replica's outbox (and maybe its confirmed log) changed: the notice carries
    /// the new revision.
    Replica,
}

impl Topic {
    /// The message field carrying the notice's number.
    fn field(self) -> &'static str {
        match self {
            Topic::Append => "lastPosition",
            Topic::Replica => "replicaRevision",
        }
    }
}

/// The notification side of a store: its channel and its local listeners.
pub(crate) struct Notifier {
    db: String,
    /// Tells this store's own broadcasts apart from other stores'.
    sender: String,
    channel: Option<BroadcastChannel>,
    local: Rc<LocalListeners>,
    local_replica: Rc<LocalListeners>,
}

impl Notifier {
    pub(crate) fn new(db: &str) -> Self {
        let sender = format!(
            "{:x}-{:x}",
            js_sys::Date::now() as u64,
            (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64
        );
        Self {
            db: db.to_string(),
            sender,
            // Absent in a few contexts (some embedded webviews): local listeners still work.
            channel: BroadcastChannel::new(&channel_name(db)).ok(),
            local: Rc::default(),
            local_replica: Rc::default(),
        }
    }

    fn listeners(&self, topic: Topic) -> &Rc<LocalListeners> {
        match topic {
            Topic::Append => &self.local,
            Topic::Replica => &self.local_replica,
        }
    }

    /// Announces a committed append whose last event is at `last_position`.
    pub(crate) fn appended(&self, last_position: u64) {
        self.announce(Topic::Append, last_position);
    }

    /// Announces a committed replica write (or adoption) that made `revision`.
    pub(crate) fn replica_changed(&self, revision: u64) {
        self.announce(Topic::Replica, revision);
    }

    fn announce(&self, topic: Topic, number: u64) {
        if let Some(channel) = &self.channel {
            let message = js_sys::Object::new();
            let set = |k: &str, v: JsValue| {
                let _ = js_sys::Reflect::set(&message, &JsValue::from_str(k), &v);
            };
            set("db", self.db.as_str().into());
            set(topic.field(), (number as f64).into());
            set("sender", self.sender.as_str().into());
            // Posting only fails on a closed channel, which means nobody can listen.
            let _ = channel.post_message(&message);
        }
        // Clone first: a callback may add or remove listeners.
        let callbacks: Vec<Callback> = self
            .listeners(topic)
            .list
            .borrow()
            .iter()
            .map(|(_, c)| c.clone())
            .collect();
        for callback in callbacks {
            callback(number);
        }
    }

    pub(crate) fn on_local(&self, topic: Topic, callback: Callback) -> AppendListener {
        let local = self.listeners(topic);
        let id = local.next_id.get() + 1;
        local.next_id.set(id);
        local.list.borrow_mut().push((id, callback));
        AppendListener {
            kind: Kind::Local {
                list: Rc::downgrade(local),
                id,
            },
        }
    }

    pub(crate) fn on_remote(
        &self,
        topic: Topic,
        callback: Callback,
    ) -> Result<AppendListener, StoreError> {
        let channel = BroadcastChannel::new(&channel_name(&self.db)).map_err(|e| {
            let what = match topic {
                Topic::Append => "appends",
                Topic::Replica => "replica changes",
            };
            StoreError::Storage(format!(
                "cannot listen for {what} in other tabs: {}",
                error_from_js(&e)
            ))
        })?;
        let (db, sender) = (self.db.clone(), self.sender.clone());
        let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let data = event.data();
            let get = |k: &str| js_sys::Reflect::get(&data, &JsValue::from_str(k)).ok();
            let from_db = get("db").and_then(|v| v.as_string());
            let from = get("sender").and_then(|v| v.as_string());
            let number = get(topic.field()).and_then(|v| v.as_f64());
            if let (Some(from_db), Some(number)) = (from_db, number) {
                if from_db == db && from.as_deref() != Some(sender.as_str()) {
                    callback(number as u64);
                }
            }
        });
        channel.set_onmessage(Some(handler.as_ref().unchecked_ref()));
        Ok(AppendListener {
            kind: Kind::Remote {
                channel,
                handler: Some(handler),
            },
        })
    }

    pub(crate) fn on_any(
        &self,
        topic: Topic,
        callback: Callback,
    ) -> Result<AppendListener, StoreError> {
        let remote = self.on_remote(topic, callback.clone())?;
        let local = self.on_local(topic, callback);
        Ok(AppendListener {
            kind: Kind::Both {
                _local: Box::new(local),
                _remote: Box::new(remote),
            },
        })
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        if let Some(channel) = &self.channel {
            channel.close();
        }
    }
}
