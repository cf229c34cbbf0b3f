//! `db.sync({ url, store, token? })`: the database as a replica of a chronik-server store.
//!
//! A thin class over [`chronik_idb::sync::SyncHandle`] (the driver) and the backend's
//! replica mode, the shared [`ReplicaMode`] (`backend.rs`): from the moment `sync()`
//! resolves, every write of this database is a pending batch that the sync pushes, and
//! every read shows the server-confirmed log with the pending batches on top.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use chronik_core::sync::{BatchOrigin, ExecuteError, SyncStatus as CoreStatus};
use chronik_idb::replica_mode::{ReplicaMode, ReplicaModeError, SyncTarget};
use chronik_idb::sync::{SyncChange, SyncConfig, SyncHandle};
use serde::{Deserialize, Serialize};
use tsify::Tsify;
use wasm_bindgen::prelude::*;

use super::backend::{Backend, Mode, Runner, Store};
use super::{call, input, out, Chronik, Shared};
use crate::error::{js_error, store_error};

/// What `db.sync()` takes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncOptions {
    /// The server's base URL, such as `"https://example.org"` (`http:` or `https:`).
    pub url: String,
    /// The server store this database replicates (created on first use).
    pub store: String,
    /// A bearer token, when the server requires one.
    #[serde(default)]
    #[tsify(optional)]
    pub token: Option<String>,
    /// When caught up, look for news at least this often, in ms (default 30000; the
    /// server's live stream usually tells sooner).
    #[serde(default)]
    #[tsify(optional)]
    pub poll_ms: Option<u32>,
    /// Give up a call to the server after this many ms (default 30000).
    #[serde(default)]
    #[tsify(optional)]
    pub timeout_ms: Option<u32>,
}

/// Where a sync stands: `connecting` (no answer yet), `pulling`, `pushing`, `live`
/// (caught up, nothing to send), `offline` (the last call failed on the network; it is
/// retried, backing off) or `error` (see `lastError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub enum SyncStatus {
    /// The last call failed on the network.
    Offline,
    /// No call has answered yet.
    Connecting,
    /// Catching up with the server.
    Pulling,
    /// Sending local writes.
    Pushing,
    /// Caught up, nothing to send.
    Live,
    /// A failure retrying will not fix by itself.
    Error,
}

impl From<CoreStatus> for SyncStatus {
    fn from(s: CoreStatus) -> Self {
        match s {
            CoreStatus::Offline => SyncStatus::Offline,
            CoreStatus::Connecting => SyncStatus::Connecting,
            CoreStatus::Pulling => SyncStatus::Pulling,
            CoreStatus::Pushing => SyncStatus::Pushing,
            CoreStatus::Live => SyncStatus::Live,
            CoreStatus::Error => SyncStatus::Error,
        }
    }
}

/// What a `change` listener receives.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct SyncState {
    /// Where the sync stands.
    pub status: SyncStatus,
    /// The last failure's message, `null` after a success.
    #[tsify(type = "string | null")]
    pub last_error: Option<String>,
    /// Whether this tab runs the sync (with IndexedDB, one tab per database does).
    pub leader: bool,
    /// Whether the change wrote the database (events confirmed, pending batches decided
    /// again, new conflicts): read views again.
    pub store_changed: bool,
}

/// A command as a pending batch keeps it, to decide it again on the server's state.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct SyncCommand {
    /// Its name, such as `"bank.withdraw"`.
    pub name: String,
    /// Its input, such as `{ accountId: "acc-1", amount: "70" }`.
    #[tsify(type = "JsonValue")]
    pub input: serde_json::Value,
}

/// A local write not yet confirmed by the server.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct PendingBatch {
    /// The batch's id (the same in `conflicts()` if it becomes one).
    pub id: String,
    /// The stream it appends to.
    pub stream_id: String,
    /// Its events, with their ids.
    #[tsify(type = "NewEvent[]")]
    pub events: Vec<chronik_core::NewEvent>,
    /// The command it came from (`bank.withdraw`, ...); absent for a raw `append`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub command: Option<SyncCommand>,
    /// How many times it was decided again on the server's state.
    pub attempt: u32,
    /// When it was written here (ms since the Unix epoch).
    pub created_at: i64,
    /// Whether the server accepted it (its events come with the next pull).
    pub pushed: bool,
}

/// Why a local write became a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub enum ConflictKind {
    /// Decided again on the server's state, the command was refused (insufficient
    /// funds, ...).
    Rejected,
    /// A raw append's expected version no longer holds on the server.
    VersionConflict,
    /// The server refused the batch.
    Refused,
    /// An earlier step of the same operation (a transfer, a saga) is a conflict, and
    /// this one was decided on top of it: it is not sent (retry or discard that one).
    Abandoned,
}

/// A local write the server will not take as it is: nothing of it is applied. Discard
/// it (`sync.discard(id)`) or try it again on the current state (`sync.retry(id)`).
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct SyncConflict {
    /// The batch's id.
    pub id: String,
    /// The stream it appended to.
    pub stream_id: String,
    /// Why, for programs.
    pub reason: ConflictKind,
    /// Why, for people, such as `"command rejected: insufficient funds: balance 40.00,
    /// amount 70.00"`.
    pub message: String,
    /// The command, when it was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub command: Option<SyncCommand>,
    /// Its events as last decided.
    #[tsify(type = "NewEvent[]")]
    pub events: Vec<chronik_core::NewEvent>,
    /// When it became a conflict (ms since the Unix epoch).
    pub at: i64,
}

fn command_of(origin: &BatchOrigin) -> Option<SyncCommand> {
    match origin {
        BatchOrigin::Command { command } => Some(SyncCommand {
            name: command.name.clone(),
            input: command.input.clone(),
        }),
        BatchOrigin::Raw => None,
    }
}

impl From<&chronik_core::sync::PendingBatch> for PendingBatch {
    fn from(b: &chronik_core::sync::PendingBatch) -> Self {
        PendingBatch {
            id: b.id.clone(),
            stream_id: b.stream_id.clone(),
            events: b.events.clone(),
            command: command_of(&b.origin),
            attempt: b.attempt,
            created_at: b.created_at,
            pushed: b.is_committed(),
        }
    }
}

impl From<&chronik_core::sync::Conflict> for SyncConflict {
    fn from(c: &chronik_core::sync::Conflict) -> Self {
        use chronik_core::sync::ConflictReason as R;
        SyncConflict {
            id: c.batch.id.clone(),
            stream_id: c.batch.stream_id.clone(),
            reason: match c.reason {
                R::Rejected { .. } => ConflictKind::Rejected,
                R::VersionConflict { .. } => ConflictKind::VersionConflict,
                R::Refused { .. } => ConflictKind::Refused,
                R::Abandoned { .. } => ConflictKind::Abandoned,
            },
            message: c.reason.to_string(),
            command: command_of(&c.batch.origin),
            events: c.batch.events.clone(),
            at: c.at,
        }
    }
}

/// A replica's error as a `ChronikError`: a command refused on the current view is
/// `CommandRejected`, an unknown batch id `UnknownBatch`, the retry of an abandoned step
/// `AbandonedStep`.
pub(super) fn execute_error(e: ExecuteError) -> JsValue {
    let message = e.to_string();
    match e {
        ExecuteError::Store(e) => store_error(e),
        ExecuteError::Run(chronik_core::sync::RunError::Refused(_)) => {
            js_error("CommandRejected", &message).into()
        }
        ExecuteError::UnknownBatch(_) => js_error("UnknownBatch", &message).into(),
        ExecuteError::Abandoned { .. } => js_error("AbandonedStep", &message).into(),
        ExecuteError::Run(_) | ExecuteError::ManyAppends(_) => {
            js_error("Internal", &message).into()
        }
    }
}

/// The sync of one database with one server store, from `db.sync()`.
#[wasm_bindgen(js_name = Sync)]
pub struct SyncJs {
    shared: Rc<Shared>,
    mode: Rc<Mode>,
    /// This sync (a later `db.sync()` starts another on the same replica mode).
    sync: SyncHandle,
    /// The `change` listeners: `off` functions remove them.
    listeners: Rc<RefCell<Vec<(u64, js_sys::Function)>>>,
    /// The next listener's id (ids are never reused, so an old `off` removes nothing new).
    next_listener: std::cell::Cell<u64>,
}

impl SyncJs {
    fn state(&self, store_changed: bool) -> SyncState {
        let s = self.sync.state();
        SyncState {
            status: s.status.into(),
            last_error: s.last_error,
            leader: s.leader,
            store_changed,
        }
    }

    fn batch_id(id: &JsValue) -> Result<String, JsValue> {
        input::name(id, "id")
    }
}

#[wasm_bindgen(js_class = Sync)]
impl SyncJs {
    /// Where the sync stands.
    #[wasm_bindgen(getter, unchecked_return_type = "SyncStatus")]
    pub fn status(&self) -> JsValue {
        out(&self.state(false).status).unwrap_or(JsValue::UNDEFINED)
    }

    /// The last failure's message, `null` after a success.
    #[wasm_bindgen(getter, js_name = lastError, unchecked_return_type = "string | null")]
    pub fn last_error(&self) -> JsValue {
        self.sync
            .state()
            .last_error
            .map_or(JsValue::NULL, |e| JsValue::from_str(&e))
    }

    /// Whether this tab runs the sync (with IndexedDB, one tab per database does; the
    /// others show its status and take over when it closes).
    #[wasm_bindgen(getter)]
    pub fn leader(&self) -> bool {
        self.sync.state().leader
    }

    /// The local writes not yet confirmed by the server, oldest first.
    #[wasm_bindgen(unchecked_return_type = "Promise<PendingBatch[]>")]
    pub fn pending(&self) -> js_sys::Promise {
        let mode = Rc::clone(&self.mode);
        call(&self.shared, || {
            Ok(async move {
                let pending = mode.replica().pending().await.map_err(store_error)?;
                out(&pending.iter().map(PendingBatch::from).collect::<Vec<_>>())
            })
        })
    }

    /// The local writes the server will not take as they are, oldest first.
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncConflict[]>")]
    pub fn conflicts(&self) -> js_sys::Promise {
        let mode = Rc::clone(&self.mode);
        call(&self.shared, || {
            Ok(async move {
                let conflicts = mode.replica().conflicts().await.map_err(store_error)?;
                out(&conflicts.iter().map(SyncConflict::from).collect::<Vec<_>>())
            })
        })
    }

    /// Calls `listener` whenever the status or last error changes and whenever the sync
    /// wrote the database. Returns a function that removes it. Only `"change"` exists.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn on(
        &self,
        #[wasm_bindgen(unchecked_param_type = "\"change\"")] event: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(state: SyncState) => void")] listener: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.shared.check_open()?;
        if event.as_string().as_deref() != Some("change") {
            return Err(input::invalid(
                "event",
                format!("must be \"change\", not {}", input::kind(&event)),
            ));
        }
        let listener = input::function(&listener, "listener")?;
        let id = self.next_listener.get();
        self.next_listener.set(id + 1);
        self.listeners.borrow_mut().push((id, listener));
        let weak: Weak<RefCell<Vec<(u64, js_sys::Function)>>> = Rc::downgrade(&self.listeners);
        let off = Closure::<dyn Fn()>::new(move || {
            if let Some(list) = weak.upgrade() {
                list.borrow_mut().retain(|(i, _)| *i != id);
            }
        });
        Ok(off.into_js_value())
    }

    /// Forgets the conflict `id`: nothing of it was ever applied anywhere.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn discard(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
    ) -> js_sys::Promise {
        let (mode, shared) = (Rc::clone(&self.mode), Rc::clone(&self.shared));
        call(&self.shared, || {
            let id = Self::batch_id(&id)?;
            Ok(async move {
                mode.discard(&id).await.map_err(execute_error)?;
                shared.changed();
                Ok(JsValue::UNDEFINED)
            })
        })
    }

    /// Tries the conflict `id` again on the current state, after the other pending
    /// writes: a command is decided again (refused again, it stays a conflict and this
    /// rejects with `CommandRejected`); raw events are appended again over what happened
    /// meanwhile, the explicit choice to keep them.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn retry(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
    ) -> js_sys::Promise {
        let (mode, shared) = (Rc::clone(&self.mode), Rc::clone(&self.shared));
        call(&self.shared, || {
            let id = Self::batch_id(&id)?;
            Ok(async move {
                mode.retry(&id).await.map_err(execute_error)?;
                shared.changed();
                Ok(JsValue::UNDEFINED)
            })
        })
    }

    /// Stops syncing. Writes go on as before, shown at once and pending, kept in the
    /// database until the next `db.sync()` pushes them. Stopping twice does nothing.
    pub fn stop(&self) {
        self.sync.stop();
        self.listeners.borrow_mut().clear();
    }
}

/// The checked options of `db.sync()`.
fn sync_options(value: &JsValue) -> Result<SyncOptions, JsValue> {
    input::object(value, "options")?;
    let options: SyncOptions = input::typed(value, "options")?;
    let lower = options.url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(input::invalid(
            "options.url",
            format!("must be an http: or https: URL, not {:?}", options.url),
        ));
    }
    input::name(&JsValue::from_str(&options.store), "options.store")?;
    if let Some(token) = &options.token {
        if token.is_empty() || token.chars().any(|c| c.is_control() || c == ' ') {
            return Err(input::invalid(
                "options.token",
                "must be a non-empty token without spaces or control characters",
            ));
        }
    }
    Ok(options)
}

#[wasm_bindgen]
impl Chronik {
    /// Makes this database a replica of the server store `options.store` at
    /// `options.url` and starts syncing: local writes are kept and shown at once,
    /// pushed when the server can be reached, and decided again on the server's state
    /// when someone else wrote first (a command that no longer fits becomes a conflict,
    /// in `conflicts()`). A database that never synced uploads the events it holds.
    /// Rejects with `InvalidInput` when the database already syncs.
    #[wasm_bindgen(unchecked_return_type = "Promise<Sync>")]
    pub fn sync(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SyncOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let shared = Rc::clone(&self.shared);
        call(&self.shared, || {
            let options = sync_options(&options)?;
            Ok(async move { start(shared, options).await.map(JsValue::from) })
        })
    }
}

/// Replica mode's error as a `ChronikError`.
fn mode_error(e: ReplicaModeError) -> JsValue {
    match e {
        ReplicaModeError::Store(e) => store_error(e),
        ReplicaModeError::BadUrl(_) | ReplicaModeError::NoStore => {
            input::invalid("options", e.to_string())
        }
        ReplicaModeError::Start(_) => js_error("Internal", &e.to_string()).into(),
    }
}

/// Whether `mode` has a sync running.
fn syncing(mode: &Mode) -> bool {
    mode.sync().is_some_and(|h| !h.state().stopped)
}

/// A database that already is a replica (it synced before, or holds pending writes or
/// conflicts) opens in replica mode, not connected: its log is the server's, so this
/// tab's writes must be pending too (pushed by whichever tab syncs), never written into
/// the confirmed log.
pub(super) async fn resume(shared: &Rc<Shared>) -> Result<(), JsValue> {
    let routed = shared.store.routed().map_err(store_error)?;
    if routed.mode().is_some()
        || !Mode::is_replica(routed.inner())
            .await
            .map_err(store_error)?
    {
        return Ok(());
    }
    let mode = ReplicaMode::enter(routed.inner().clone(), Runner::default(), shared.clock)
        .await
        .map_err(mode_error)?;
    routed.set_mode(Rc::new(mode));
    Ok(())
}

async fn start(shared: Rc<Shared>, options: SyncOptions) -> Result<SyncJs, JsValue> {
    let already = || input::invalid("sync", "this database already syncs");
    if shared.store.replica().is_some_and(|m| syncing(&m)) {
        return Err(already());
    }
    let routed = shared.store.routed().map_err(store_error)?;
    let mode = match routed.mode() {
        Some(mode) => mode,
        None => {
            // A database used before it ever synced adopts its own log (local
            // positions): it becomes pending, to be uploaded, and the views show the
            // same events as before.
            let entered =
                ReplicaMode::enter(routed.inner().clone(), Runner::default(), shared.clock)
                    .await
                    .map_err(mode_error)?;
            if shared.store.is_closed() {
                return Err(store_error(Backend::closed()));
            }
            // Another `db.sync()` may have entered it meanwhile.
            routed.mode().unwrap_or_else(|| {
                let entered = Rc::new(entered);
                routed.set_mode(Rc::clone(&entered));
                entered
            })
        }
    };
    if syncing(&mode) {
        return Err(already());
    }
    let lock_name = match &*routed.inner().0 {
        Store::Idb(idb) => Some(SyncConfig::lock_for_database(idb.name())),
        Store::Memory(_) => None,
    };
    let target = SyncTarget {
        url: options.url,
        store: options.store,
        token: options.token,
        timeout_ms: options.timeout_ms,
        poll_ms: options.poll_ms.unwrap_or(30_000),
        lock_name,
    };
    let handle = mode.connect(&target).map_err(mode_error)?;
    // The views read so far may rest on the store alone.
    shared.projections.invalidate();
    let listeners: Rc<RefCell<Vec<(u64, js_sys::Function)>>> = Rc::default();
    let sync = SyncJs {
        shared: Rc::clone(&shared),
        mode: Rc::clone(&mode),
        sync: handle.clone(),
        listeners: Rc::clone(&listeners),
        next_listener: std::cell::Cell::new(0),
    };
    let weak_shared = Rc::downgrade(&shared);
    let weak_listeners = Rc::downgrade(&listeners);
    handle.on_change(move |change: &SyncChange| {
        if change.store_changed {
            if let Some(shared) = weak_shared.upgrade() {
                shared.projections.invalidate();
                shared.changed();
            }
        }
        let Some(listeners) = weak_listeners.upgrade() else {
            return;
        };
        let state = SyncState {
            status: change.state.status.into(),
            last_error: change.state.last_error.clone(),
            leader: change.state.leader,
            store_changed: change.store_changed,
        };
        let Ok(js) = out(&state) else {
            return;
        };
        let list: Vec<js_sys::Function> =
            listeners.borrow().iter().map(|(_, f)| f.clone()).collect();
        for f in list {
            if let Err(thrown) = f.call1(&JsValue::NULL, &js) {
                web_sys::console::error_2(&"chronik sync listener threw".into(), &thrown);
            }
        }
    });
    Ok(sync)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chronik_core::sync::{Conflict, ConflictReason, PendingCommand};
    use chronik_core::{ExpectedVersion, NewEvent};
    use serde_json::json;

    fn batch(origin: BatchOrigin) -> chronik_core::sync::PendingBatch {
        chronik_core::sync::PendingBatch {
            id: "b-1".into(),
            stream_id: "account-acc-1".into(),
            expected: ExpectedVersion::Exact(2),
            events: vec![NewEvent {
                event_id: Some("b-1.0.1".into()),
                event_type: "MoneyWithdrawn".into(),
                schema_version: 1,
                data: json!({ "amount": 7000 }),
                metadata: Default::default(),
            }],
            origin,
            attempt: 0,
            created_at: 5,
            pushed: None,
            confirmed: 0,
        }
    }

    #[test]
    fn pending_batches_and_conflicts_have_the_declared_shape() {
        let command = PendingCommand {
            name: "bank.withdraw".into(),
            input: json!({ "accountId": "acc-1", "amount": "70" }),
        };
        let pending = PendingBatch::from(&batch(BatchOrigin::Command {
            command: command.clone(),
        }));
        assert_eq!(
            serde_json::to_value(&pending).unwrap(),
            json!({
                "id": "b-1", "streamId": "account-acc-1",
                "events": [{ "id": "b-1.0.1", "type": "MoneyWithdrawn", "schemaVersion": 1,
                             "data": { "amount": 7000 }, "metadata": {} }],
                "command": { "name": "bank.withdraw", "input": { "accountId": "acc-1", "amount": "70" } },
                "attempt": 0, "createdAt": 5, "pushed": false
            })
        );
        let conflict = SyncConflict::from(&Conflict {
            batch: batch(BatchOrigin::Raw),
            reason: ConflictReason::VersionConflict {
                expected: ExpectedVersion::Exact(2),
                actual: Some(3),
            },
            at: 9,
        });
        let js = serde_json::to_value(&conflict).unwrap();
        assert_eq!(js["reason"], "versionConflict");
        assert_eq!(js["message"], "the stream moved: expected 2, actual 3");
        assert_eq!(js["command"], serde_json::Value::Null);
        assert_eq!(
            serde_json::to_value(SyncStatus::from(CoreStatus::Live)).unwrap(),
            "live"
        );
    }
}
