//! # chronik-idb
//!
//! [`IdbStore`]: the [`EventStore`] contract of `chronik-core` on IndexedDB, with the
//! browser's clock and id source ([`JsClock`], [`RandomUuids`]). No JavaScript API is
//! exported from here: the `chronik` npm package wraps this crate for JS, and Rust apps
//! (such as chronik-www) use it directly.
//!
//! Object stores (database version [`SCHEMA_VERSION`]):
//! - `events`, keyed by global `position`: one row per event in the one JSON shape of a
//!   [`RecordedEvent`] (`id`, `streamId`, `version`, `position`, `type`, `schemaVersion`,
//!   `data`, flat `metadata`, `recordedAt`: what the JS API returns and NDJSON lines
//!   hold), with a unique `[streamId, version]` index (`streamVersion`), a unique
//!   `eventId` index on `id`, and `eventType` (on `type`) and `recordedAt` indexes;
//! - `streams`, keyed by `streamId`: each stream's head version and type;
//! - `snapshots`, keyed by `[streamId, version]`;
//! - `projections`, keyed by `name`: a projection's checkpoint and state together;
//! - `meta`, keyed by `key`: `{ key: "schemaVersion", value }` and `{ key: "createdAt", value }`;
//! - `outbox`, keyed by `key`: `{ key: "state", value }`, the store's
//!   [`ReplicaState`] as a sync replica (revision, synced mark, pending batches,
//!   conflicts) as one JSON text (IndexedDB clones a string at memory speed, where an
//!   object tree of thousands of pending events costs it a walk per read and write;
//!   a record written as an object by an earlier build is read too); no record is the
//!   empty state.
//!
//! **Versioning.** The database version is the schema version. Opening runs the missing
//! migration steps (one per version, see `open.rs`; version 3 rewrote the rows of older
//! databases from the previous event shape, `eventId`/`eventType` and a nested
//! `metadata.extra`, refusing, unchanged, a database holding an event it cannot convert)
//! in the upgrade transaction, through a
//! raw `web-sys` open request: an upgrade that another connection blocks (it does not
//! close on `versionchange`) fails with [`StoreError::Blocked`] after a short grace period
//! instead of hanging, and is then abandoned without changing anything. That raw
//! connection stays open: when another tab opens a newer version or deletes the
//! database, its `versionchange` handler closes this store, whose operations then fail
//! with [`StoreError::Closed`]. A second connection, through `rexie`, opened at the same
//! version (so it cannot upgrade or block), serves the reads.
//!
//! **Writes** (appends, imports, snapshots, checkpoints) are raw readwrite transactions
//! whose completion is awaited: an abort, for instance `QuotaExceededError` at commit,
//! becomes an error ([`error_from_js`]) and nothing is written. An append is one
//! transaction over `events` and `streams`: it issues the reads of the stream head, the
//! log head and every event id of the batch at once, awaits the last (IndexedDB answers a
//! transaction's requests in order), decides with [`plan_append`], and issues every `add`
//! without awaiting each. An import ([`EventStore::import_events`]) is one such
//! transaction over every stream it touches: it reads each of those streams' heads, the
//! log head and every id, decides with [`plan_import`], and adds the events as given,
//! keyed by their own positions, with their ids, versions and `recordedAt`, all or
//! nothing. IndexedDB
//! runs overlapping readwrite transactions on the same stores one after another, also
//! across tabs, so two writers can never both take the same version.
//!
//! **Replica.** [`IdbStore`] is a [`ReplicaStore`]: a
//! [`write_replica`](ReplicaStore::write_replica) is one transaction over `events`,
//! `streams` and `outbox` that reads the stored state and an import's context, decides
//! with [`plan_replica_write`], adds the confirmed events exactly as an import does (the
//! same code) and puts the new state; an [`adopt_local_log`](ReplicaStore::adopt_local_log)
//! is one transaction that reads the state and the whole log, decides with
//! [`plan_adoption_write`], clears `events`, `streams`, `snapshots` and `projections`
//! and puts the new state.
//!
//! **Notifications.** After each committed append or import the store calls its local
//! listeners and posts `{ db, lastPosition, sender }` on the `BroadcastChannel`
//! [`channel_name`]; see [`IdbStore::on_append`]. After each committed replica write or
//! adoption it does the same with `{ db, replicaRevision, sender }`; see
//! [`IdbStore::on_replica_change`].

#![deny(missing_docs)]

mod notify;
mod open;
pub mod platform;
mod raw;
pub mod replica_mode;
pub mod sync;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use chronik_core::append::{
    import_streams, plan_append, plan_import, AppendContext, AppendPlan, ImportContext, ImportPlan,
    StoredId,
};
use chronik_core::sync::{
    plan_adoption_write, plan_replica_write, ReplicaContext, ReplicaState, ReplicaStore,
    ReplicaWrite,
};
use chronik_core::{
    stream_category, utc_date, AppendResult, Checkpoint, Clock, Direction, EventStore,
    ExpectedVersion, IdSource, NewEvent, ReadAllOptions, ReadStreamOptions, RecordedEvent,
    Snapshot, StoreError, StoreStats, StreamInfo,
};
use rexie::{KeyRange, Rexie, Store, TransactionMode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Event, IdbCursor, IdbCursorDirection, IdbDatabase, IdbObjectStore, IdbRequest, IdbTransaction,
    IdbTransactionMode, IdbVersionChangeEvent, StorageManager,
};

use notify::Topic;
pub use notify::{channel_name, AppendListener};
pub use open::SCHEMA_VERSION;
pub use platform::{JsClock, RandomUuids};
pub use raw::error_from_js;

const EVENTS: &str = "events";
const STREAMS: &str = "streams";
const SNAPSHOTS: &str = "snapshots";
const PROJECTIONS: &str = "projections";
const META: &str = "meta";
const OUTBOX: &str = "outbox";
/// The key of the one `outbox` record, which holds the [`ReplicaState`].
const REPLICA_STATE: &str = "state";

/// Largest integer a JS number holds exactly: the open upper bound of version ranges.
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

/// What the database's `meta` store records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaInfo {
    /// The schema (and IndexedDB) version the database was last upgraded to.
    pub version: u32,
    /// When the database was created (ms since the Unix epoch, from the store's clock);
    /// `None` for a database created before the `meta` store existed (schema version 1).
    pub created_at: Option<i64>,
}

/// The two connections of a store and whether they were closed under it.
struct Connection {
    /// The raw connection: writes, and the `versionchange` sentinel.
    raw: IdbDatabase,
    /// The rexie connection for reads; `None` once closed.
    rexie: RefCell<Option<Rexie>>,
    /// Why the store was closed under its user, if it was.
    closed: RefCell<Option<String>>,
}

impl Connection {
    /// Closes the raw connection (after its running transactions) and fails every later
    /// operation with `reason`. The rexie connection closes itself on its own
    /// `versionchange` event; it is not dropped here because that event may already be
    /// queued for it, and its handler must still be alive then.
    fn shut(&self, reason: String) {
        self.closed.borrow_mut().get_or_insert(reason);
        self.raw.close();
    }

    fn closed_error(&self) -> Option<StoreError> {
        self.closed.borrow().clone().map(StoreError::Closed)
    }

    /// A storage failure on a connection closed under us is reported as the closing.
    fn fail(&self, err: StoreError) -> StoreError {
        match (&err, self.closed_error()) {
            (StoreError::Storage(_), Some(closed)) => closed,
            _ => err,
        }
    }
}

/// An event store persisted in one IndexedDB database.
///
/// Dropping it (or [`close`](IdbStore::close)) closes its connections.
pub struct IdbStore {
    connection: Rc<Connection>,
    name: String,
    clock: Box<dyn Clock>,
    ids: Box<dyn IdSource>,
    notifier: notify::Notifier,
    /// The outbox record's last text read or written here and its decoded state: a read
    /// that finds the same text (no writer, in any tab, changed it) skips the decoding.
    outbox_cache: std::cell::RefCell<Option<(String, ReplicaState)>>,
    _on_version_change: Closure<dyn FnMut(IdbVersionChangeEvent)>,
    _on_close: Closure<dyn FnMut(Event)>,
}

/// What an append's transaction did.
enum Batch {
    /// Wrote the events: commit, then announce.
    Written(AppendResult),
    /// The batch was stored before: nothing written.
    AlreadyAppended(AppendResult),
}

/// The reads an import needs inside its transaction (every stream it touches, the log
/// head, every event id), issued at once, and then what they found: shared by
/// [`import_events`](EventStore::import_events) and a replica write's `confirm`.
struct ImportReads {
    streams: Vec<(String, IdbRequest)>,
    log: IdbRequest,
    ids: Vec<IdbRequest>,
}

/// What [`ImportReads`] found: the owned parts of an [`ImportContext`].
struct ImportFound {
    stream_versions: BTreeMap<String, u64>,
    head_position: u64,
    stored_ids: Vec<Option<StoredId>>,
}

impl ImportFound {
    fn context(&self) -> ImportContext<'_> {
        ImportContext {
            head_position: self.head_position,
            stream_versions: &self.stream_versions,
            stored_ids: &self.stored_ids,
        }
    }
}

impl ImportReads {
    /// Issues the reads for an import of `events` in `tx` (over `events` and `streams`).
    fn issue(tx: &IdbTransaction, events: &[RecordedEvent]) -> Result<Self, StoreError> {
        let js = |e: JsValue| error_from_js(&e);
        let event_store = tx.object_store(EVENTS).map_err(js)?;
        let stream_store = tx.object_store(STREAMS).map_err(js)?;
        let streams = import_streams(events)
            .into_iter()
            .map(|s| Ok((s.to_string(), stream_store.get(&JsValue::from_str(s))?)))
            .collect::<Result<Vec<(String, IdbRequest)>, JsValue>>()
            .map_err(js)?;
        let log = event_store
            .open_key_cursor_with_range_and_direction(&JsValue::NULL, IdbCursorDirection::Prev)
            .map_err(js)?;
        let by_id = event_store.index("eventId").map_err(js)?;
        let ids = events
            .iter()
            .map(|e| by_id.get(&JsValue::from_str(&e.event_id)))
            .collect::<Result<Vec<IdbRequest>, JsValue>>()
            .map_err(js)?;
        Ok(Self { streams, log, ids })
    }

    /// Awaits the last read (IndexedDB answers a transaction's requests in order, so then
    /// every request issued before it is done too) and collects what they found.
    async fn settle(self) -> Result<ImportFound, StoreError> {
        let js = |e: JsValue| error_from_js(&e);
        raw::request(self.ids.last().unwrap_or(&self.log))
            .await
            .map_err(js)?;
        let mut stream_versions = BTreeMap::new();
        for (stream, request) in &self.streams {
            if let Some(info) = optional::<StreamInfo>(request.result().map_err(js)?)? {
                stream_versions.insert(stream.clone(), info.version);
            }
        }
        let head_position = cursor_position(self.log.result().map_err(js)?)?;
        let mut stored_ids = Vec::with_capacity(self.ids.len());
        for request in &self.ids {
            let found: Option<RecordedEvent> = optional(request.result().map_err(js)?)?;
            stored_ids.push(found.map(|e| StoredId {
                stream_id: e.stream_id,
                version: e.version,
                position: e.position,
            }));
        }
        Ok(ImportFound {
            stream_versions,
            head_position,
            stored_ids,
        })
    }

    /// Adds the planned events (keyed by their own positions) and puts every stream's
    /// new head in `tx`, without awaiting each; the last event's position.
    fn write(tx: &IdbTransaction, plan: &ImportPlan) -> Result<Option<u64>, StoreError> {
        let js = |e: JsValue| error_from_js(&e);
        let event_store = tx.object_store(EVENTS).map_err(js)?;
        let stream_store = tx.object_store(STREAMS).map_err(js)?;
        // Rows from one `JSON.parse`, as for an append.
        for row in rows_to_js(&plan.events)?.iter() {
            event_store.add(&row).map_err(js)?;
        }
        for info in &plan.streams {
            put(&stream_store, &to_js(info)?)?;
        }
        Ok(plan.events.last().map(|e| e.position))
    }
}

impl IdbStore {
    /// Opens the IndexedDB database `name`, creating it or running the missing schema
    /// migrations when needed.
    ///
    /// Fails with [`StoreError::Blocked`] when an upgrade is needed but a connection in
    /// another tab does not close, and with [`StoreError::Closed`] when the database
    /// already has a newer schema than this code.
    pub async fn open(
        name: &str,
        clock: impl Clock + 'static,
        ids: impl IdSource + 'static,
    ) -> Result<Self, StoreError> {
        Self::open_at_schema_version(name, SCHEMA_VERSION, clock, ids).await
    }

    /// Test support: opens at another schema version. Below [`SCHEMA_VERSION`] only the
    /// migrations up to `version` run (an older layout, to test upgrades); above it, the
    /// extra versions change nothing but the recorded version (to make other connections
    /// see an upgrade). Applications use [`open`](IdbStore::open).
    #[doc(hidden)]
    pub async fn open_at_schema_version(
        name: &str,
        version: u32,
        clock: impl Clock + 'static,
        ids: impl IdSource + 'static,
    ) -> Result<Self, StoreError> {
        let raw = open::open(name, version, clock.now_ms() as f64).await?;
        let connection = Rc::new(Connection {
            raw,
            rexie: RefCell::new(None),
            closed: RefCell::new(None),
        });
        let on_version_change = {
            let connection = connection.clone();
            Closure::<dyn FnMut(IdbVersionChangeEvent)>::new(move |e: IdbVersionChangeEvent| {
                connection.shut(match e.new_version() {
                    Some(v) => format!(
                        "the database was upgraded to schema version {v} elsewhere \
                         (a newer version of the app in another tab?); reload"
                    ),
                    None => "the database was deleted elsewhere; reload".to_string(),
                });
            })
        };
        let on_close = {
            let connection = connection.clone();
            Closure::<dyn FnMut(Event)>::new(move |_: Event| {
                connection.shut(
                    "the browser closed the database connection (site data cleared?); reload"
                        .to_string(),
                );
            })
        };
        connection
            .raw
            .set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
        connection
            .raw
            .set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let store = Self {
            connection,
            name: name.to_string(),
            clock: Box::new(clock),
            ids: Box::new(ids),
            notifier: notify::Notifier::new(name),
            outbox_cache: std::cell::RefCell::new(None),
            _on_version_change: on_version_change,
            _on_close: on_close,
        };

        // The same version as the raw connection: no upgrade, so it cannot block.
        let rexie = Rexie::builder(name)
            .version(version)
            .build()
            .await
            .map_err(|e| store.connection.fail(storage(e)))?;
        if let Some(closed) = store.connection.closed_error() {
            rexie.close();
            return Err(closed);
        }
        let mut expected = vec![EVENTS, STREAMS, SNAPSHOTS, PROJECTIONS];
        if version >= 2 {
            expected.push(META);
        }
        if version >= 4 {
            expected.push(OUTBOX);
        }
        let present = rexie.store_names();
        if let Some(missing) = expected.iter().find(|s| !present.iter().any(|p| p == *s)) {
            rexie.close();
            return Err(StoreError::Corrupt(format!(
                "database '{name}' has no '{missing}' object store; it is not a chronik database"
            )));
        }
        *store.connection.rexie.borrow_mut() = Some(rexie);
        Ok(store)
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Closes the connections (the same as dropping the store).
    pub fn close(self) {}

    /// Deletes the IndexedDB database `name`. Every open [`IdbStore`] on it, in any tab,
    /// closes; a connection that does not close makes this fail with
    /// [`StoreError::Blocked`] (the deletion then still happens once it closes).
    pub async fn delete_database(name: &str) -> Result<(), StoreError> {
        open::delete(name).await
    }

    /// The schema version and creation time recorded in the `meta` store.
    pub async fn schema_info(&self) -> Result<SchemaInfo, StoreError> {
        let tx = self.tx(&[META], TransactionMode::ReadOnly)?;
        let meta = tx.store(META).map_err(self.rexie_err())?;
        let value = |row: Option<JsValue>| {
            row.and_then(|r| js_sys::Reflect::get(&r, &"value".into()).ok())
                .and_then(|v| v.as_f64())
        };
        let version = meta
            .get(JsValue::from_str("schemaVersion"))
            .await
            .map_err(self.rexie_err())?;
        let created = meta
            .get(JsValue::from_str("createdAt"))
            .await
            .map_err(self.rexie_err())?;
        Ok(SchemaInfo {
            version: value(version)
                .ok_or_else(|| StoreError::Corrupt("meta has no schemaVersion".into()))?
                as u32,
            created_at: value(created).map(|ms| ms as i64),
        })
    }

    /// Calls `callback` with the last position after every append (or import) committed
    /// through this store, synchronously before the append returns.
    pub fn on_local_append(&self, callback: impl Fn(u64) + 'static) -> AppendListener {
        self.notifier.on_local(Topic::Append, Rc::new(callback))
    }

    /// Calls `callback` with the last position announced by every append committed
    /// through another store on this database: other tabs, workers, and other
    /// [`IdbStore`]s in this tab (not this one). Messages arrive asynchronously, in order
    /// per sender.
    pub fn on_remote_append(
        &self,
        callback: impl Fn(u64) + 'static,
    ) -> Result<AppendListener, StoreError> {
        self.notifier.on_remote(Topic::Append, Rc::new(callback))
    }

    /// Both [`on_local_append`](IdbStore::on_local_append) and
    /// [`on_remote_append`](IdbStore::on_remote_append) with one callback: every append
    /// to the database, wherever it was made. A subscriber reads from its own position
    /// up to (at least) the announced one.
    pub fn on_append(
        &self,
        callback: impl Fn(u64) + 'static,
    ) -> Result<AppendListener, StoreError> {
        self.notifier.on_any(Topic::Append, Rc::new(callback))
    }

    /// Calls `callback` with the new revision after every replica write
    /// ([`ReplicaStore::write_replica`]) or adoption ([`ReplicaStore::adopt_local_log`])
    /// committed through this store, synchronously before it returns.
    pub fn on_local_replica_change(&self, callback: impl Fn(u64) + 'static) -> AppendListener {
        self.notifier.on_local(Topic::Replica, Rc::new(callback))
    }

    /// Calls `callback` with the new revision announced by every replica write or
    /// adoption committed through another store on this database (other tabs, workers,
    /// other [`IdbStore`]s in this tab), asynchronously: that tab's outbox, conflicts or
    /// confirmed log changed, so a view built on this store's
    /// [`replica_state`](ReplicaStore::replica_state) is stale and is read again.
    pub fn on_remote_replica_change(
        &self,
        callback: impl Fn(u64) + 'static,
    ) -> Result<AppendListener, StoreError> {
        self.notifier.on_remote(Topic::Replica, Rc::new(callback))
    }

    /// Both [`on_local_replica_change`](IdbStore::on_local_replica_change) and
    /// [`on_remote_replica_change`](IdbStore::on_remote_replica_change) with one
    /// callback: every replica change of the database, wherever it was made. (Confirmed
    /// events a replica write imports are announced to the append listeners too; an
    /// adoption empties the log, which only the replica listeners hear.)
    pub fn on_replica_change(
        &self,
        callback: impl Fn(u64) + 'static,
    ) -> Result<AppendListener, StoreError> {
        self.notifier.on_any(Topic::Replica, Rc::new(callback))
    }

    /// Asks the browser to keep this origin's storage under pressure
    /// (`navigator.storage.persist()`); `true` when it is persistent. `false` also when
    /// the API is unavailable (for instance in a worker).
    pub async fn request_persistence() -> bool {
        let Some(persist) = storage_manager().and_then(|m| m.persist().ok()) else {
            return false;
        };
        JsFuture::from(persist)
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    }

    /// `navigator.storage.estimate()`: `(usage, quota)` in bytes for this origin, `None`
    /// when the browser does not tell.
    pub async fn storage_estimate() -> Option<(u64, u64)> {
        let estimate = JsFuture::from(storage_manager()?.estimate().ok()?)
            .await
            .ok()?;
        let get = |k: &str| {
            js_sys::Reflect::get(&estimate, &JsValue::from_str(k))
                .ok()
                .and_then(|v| v.as_f64())
        };
        Some((get("usage")? as u64, get("quota")? as u64))
    }

    fn fail(&self, err: StoreError) -> StoreError {
        self.connection.fail(err)
    }

    /// One stream's stored rows as IndexedDB holds them (`RecordedEvent`s in their JSON
    /// shape, which is the JS API's), undecoded: what `read_stream` decodes, and what the
    /// JS API returns as they are, without a round trip through Rust.
    pub async fn stored_stream_rows(
        &self,
        stream_id: &str,
        options: ReadStreamOptions,
    ) -> Result<Vec<JsValue>, StoreError> {
        // IndexedDB reads `count = 0` as "no limit".
        if options.limit == Some(0) {
            return Ok(Vec::new());
        }
        let tx = self.tx(&[EVENTS], TransactionMode::ReadOnly)?;
        let index = tx
            .store(EVENTS)
            .map_err(self.rexie_err())?
            .index("streamVersion")
            .map_err(self.rexie_err())?;
        let stream = JsValue::from_str(stream_id);
        let limit = options.limit.map(|l| l.min(u32::MAX as usize) as u32);
        let rows = match options.direction {
            Direction::Forward => {
                let from = options.from_version.unwrap_or(1).max(1) as f64;
                let r = range(
                    key(&[stream.clone(), from.into()]),
                    key(&[stream, MAX_SAFE.into()]),
                )?;
                index
                    .get_all(Some(r), limit)
                    .await
                    .map_err(self.rexie_err())?
            }
            Direction::Backward => {
                let to = options.from_version.map_or(MAX_SAFE, |v| v as f64);
                if to < 1.0 {
                    return Ok(Vec::new());
                }
                let r = range(
                    key(&[stream.clone(), 1.0.into()]),
                    key(&[stream, to.into()]),
                )?;
                index
                    .scan(Some(r), limit, None, Some(rexie::Direction::Prev))
                    .await
                    .map_err(self.rexie_err())?
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect()
            }
        };
        Ok(rows)
    }

    /// The stored rows of the global log from `from_position` (at most `limit`), undecoded.
    pub async fn stored_log_rows(
        &self,
        from_position: u64,
        limit: Option<usize>,
    ) -> Result<Vec<JsValue>, StoreError> {
        if limit == Some(0) {
            return Ok(Vec::new());
        }
        let tx = self.tx(&[EVENTS], TransactionMode::ReadOnly)?;
        let store = tx.store(EVENTS).map_err(self.rexie_err())?;
        let from = from_position.max(1) as f64;
        let r = KeyRange::lower_bound(&from.into(), Some(false)).map_err(|e| storage(e.into()))?;
        let limit = limit.map(|l| l.min(u32::MAX as usize) as u32);
        store
            .get_all(Some(r), limit)
            .await
            .map_err(self.rexie_err())
    }

    fn rexie_err(&self) -> impl Fn(rexie::Error) -> StoreError + '_ {
        move |e| self.fail(storage(e))
    }

    /// A rexie transaction for reads.
    fn tx(&self, stores: &[&str], mode: TransactionMode) -> Result<rexie::Transaction, StoreError> {
        if let Some(closed) = self.connection.closed_error() {
            return Err(closed);
        }
        match self.connection.rexie.borrow().as_ref() {
            Some(db) => db.transaction(stores, mode).map_err(self.rexie_err()),
            None => Err(self
                .connection
                .closed_error()
                .unwrap_or_else(|| StoreError::Closed("the store was closed".to_string()))),
        }
    }

    /// A raw readwrite transaction for writes.
    fn write_tx(&self, stores: &[&str]) -> Result<IdbTransaction, StoreError> {
        self.raw_tx(stores, IdbTransactionMode::Readwrite)
    }

    /// A raw transaction on the sentinel connection.
    fn raw_tx(
        &self,
        stores: &[&str],
        mode: IdbTransactionMode,
    ) -> Result<IdbTransaction, StoreError> {
        if let Some(closed) = self.connection.closed_error() {
            return Err(closed);
        }
        let names: js_sys::Array = stores.iter().map(|s| JsValue::from_str(s)).collect();
        self.connection
            .raw
            .transaction_with_str_sequence_and_mode(&names, mode)
            .map_err(|e| self.fail(error_from_js(&e)))
    }

    /// Puts one value in `store` in its own transaction and waits for the commit.
    async fn put_one(&self, store: &str, value: JsValue) -> Result<(), StoreError> {
        let tx = self.write_tx(&[store])?;
        if let Err(e) = tx.object_store(store).and_then(|s| s.put(&value)) {
            let _ = tx.abort();
            return Err(self.fail(error_from_js(&e)));
        }
        raw::transaction(&tx).await.map_err(|e| self.fail(e))
    }

    /// An append: one readwrite transaction over `events` and `streams` whose reads are
    /// handed to `plan` ([`plan_append`]); what it decides to write is committed and then
    /// announced to the listeners.
    async fn write_events(
        &self,
        stream_id: &str,
        events: Vec<NewEvent>,
        plan: impl FnOnce(Vec<NewEvent>, AppendContext<'_>) -> Result<AppendPlan, StoreError>,
    ) -> Result<AppendResult, StoreError> {
        let tx = self.write_tx(&[EVENTS, STREAMS])?;
        match self.write_batch(&tx, stream_id, events, plan).await {
            Ok(Batch::Written(result)) => {
                raw::transaction(&tx).await.map_err(|e| self.fail(e))?;
                self.notifier.appended(result.last_position);
                Ok(result)
            }
            // Nothing was written; the empty transaction commits by itself.
            Ok(Batch::AlreadyAppended(result)) => Ok(result),
            Err(err) => {
                // Already aborted when a request failed; then this throws, harmlessly.
                let _ = tx.abort();
                Err(self.fail(err))
            }
        }
    }

    /// The reads, decision (`plan`) and writes of an append, inside `tx`. The caller
    /// commits or aborts.
    async fn write_batch(
        &self,
        tx: &IdbTransaction,
        stream_id: &str,
        events: Vec<NewEvent>,
        plan: impl FnOnce(Vec<NewEvent>, AppendContext<'_>) -> Result<AppendPlan, StoreError>,
    ) -> Result<Batch, StoreError> {
        let js = |e: JsValue| error_from_js(&e);
        let event_store = tx.object_store(EVENTS).map_err(js)?;
        let stream_store = tx.object_store(STREAMS).map_err(js)?;

        // Issue every read at once; requests complete in order, so awaiting the last one
        // means all are done.
        let head_request = stream_store
            .get(&JsValue::from_str(stream_id))
            .map_err(js)?;
        let log_request = event_store
            .open_key_cursor_with_range_and_direction(&JsValue::NULL, IdbCursorDirection::Prev)
            .map_err(js)?;
        let by_id = event_store.index("eventId").map_err(js)?;
        let id_requests = events
            .iter()
            .map(|e| {
                e.event_id
                    .as_deref()
                    .map(|id| by_id.get(&JsValue::from_str(id)))
                    .transpose()
            })
            .collect::<Result<Vec<Option<IdbRequest>>, JsValue>>()
            .map_err(js)?;
        let last = id_requests
            .iter()
            .rev()
            .flatten()
            .next()
            .unwrap_or(&log_request);
        raw::request(last).await.map_err(js)?;

        let current: Option<StreamInfo> = optional(head_request.result().map_err(js)?)?;
        let head_position = cursor_position(log_request.result().map_err(js)?)?;
        let mut stored_ids = Vec::with_capacity(events.len());
        for request in &id_requests {
            let found: Option<RecordedEvent> = match request {
                Some(r) => optional(r.result().map_err(js)?)?,
                None => None,
            };
            stored_ids.push(found.map(|e| StoredId {
                stream_id: e.stream_id,
                version: e.version,
                position: e.position,
            }));
        }
        let ctx = AppendContext {
            current_version: current.as_ref().map(|s| s.version),
            head_position,
            stored_ids: &stored_ids,
        };
        let recorded = match plan(events, ctx)? {
            AppendPlan::Write(recorded) => recorded,
            AppendPlan::AlreadyAppended(result) => return Ok(Batch::AlreadyAppended(result)),
        };
        let (Some(result), Some(last)) = (AppendResult::of(&recorded), recorded.last()) else {
            return Err(StoreError::InvalidInput(format!(
                "append to stream '{stream_id}' needs at least one event"
            )));
        };
        let info = StreamInfo {
            stream_id: stream_id.to_string(),
            stream_type: stream_category(stream_id).to_string(),
            version: last.version,
            last_position: last.position,
            updated_at: last.recorded_at,
        };
        // Every add is issued without awaiting it (keyed by the event's own position); the
        // commit is awaited by the caller. The rows come from one `JSON.parse`: objects
        // built field by field from wasm are slower both to build and for `add` to clone.
        for row in rows_to_js(&recorded)?.iter() {
            event_store.add(&row).map_err(js)?;
        }
        put(&stream_store, &to_js(&info)?)?;
        Ok(Batch::Written(result))
    }

    /// An import: one readwrite transaction over `events` and `streams`. It issues the
    /// reads of every stream the import touches, the log head and every event id at
    /// once, decides with [`plan_import`], adds every event (keyed by its own position)
    /// and puts every stream's new head without awaiting each, then awaits the commit
    /// and announces it.
    async fn write_import(&self, events: Vec<RecordedEvent>) -> Result<u64, StoreError> {
        let tx = self.write_tx(&[EVENTS, STREAMS])?;
        match self.import_batch(&tx, events).await {
            Ok((written, last_position)) => {
                raw::transaction(&tx).await.map_err(|e| self.fail(e))?;
                self.notifier.appended(last_position);
                Ok(written)
            }
            Err(err) => {
                // Already aborted when a request failed; then this throws, harmlessly.
                let _ = tx.abort();
                Err(self.fail(err))
            }
        }
    }

    /// The reads, decision and writes of an import inside `tx`: how many events it
    /// wrote and the last one's position. The caller commits or aborts.
    async fn import_batch(
        &self,
        tx: &IdbTransaction,
        events: Vec<RecordedEvent>,
    ) -> Result<(u64, u64), StoreError> {
        let reads = ImportReads::issue(tx, &events)?.settle().await?;
        let plan = plan_import(events, reads.context())?;
        let last_position = ImportReads::write(tx, &plan)?.unwrap_or(reads.head_position);
        Ok((plan.events.len() as u64, last_position))
    }

    /// A replica write: one readwrite transaction over `events`, `streams` and `outbox`.
    /// It issues the read of the stored state and the reads of an import of `confirm`
    /// at once, decides with [`plan_replica_write`], writes the import as
    /// [`import_events`](EventStore::import_events) does and puts the new state; then
    /// awaits the commit and announces the confirmed events (if any) and the change.
    async fn write_replica_tx(&self, write: ReplicaWrite) -> Result<ReplicaState, StoreError> {
        let tx = self.write_tx(&[EVENTS, STREAMS, OUTBOX])?;
        match self.replica_batch(&tx, write).await {
            Ok((state, last_position)) => {
                raw::transaction(&tx).await.map_err(|e| self.fail(e))?;
                if let Some(last_position) = last_position {
                    self.notifier.appended(last_position);
                }
                self.notifier.replica_changed(state.revision);
                Ok(state)
            }
            Err(err) => {
                let _ = tx.abort();
                Err(self.fail(err))
            }
        }
    }

    /// The reads, decision and writes of a replica write inside `tx`: the new state and,
    /// when it confirmed events, the last one's position. The caller commits or aborts.
    async fn replica_batch(
        &self,
        tx: &IdbTransaction,
        write: ReplicaWrite,
    ) -> Result<(ReplicaState, Option<u64>), StoreError> {
        let js = |e: JsValue| error_from_js(&e);
        let outbox = tx.object_store(OUTBOX).map_err(js)?;
        // Issued first, so it is done once the import's last read is.
        let state_request = outbox.get(&JsValue::from_str(REPLICA_STATE)).map_err(js)?;
        let reads = ImportReads::issue(tx, &write.confirm)?.settle().await?;
        let stored = state_from_row(state_request.result().map_err(js)?)?;
        let (import, state) = plan_replica_write(
            write,
            ReplicaContext {
                revision: stored.revision,
                synced: stored.synced,
                import: reads.context(),
            },
        )?;
        let last_position = match &import {
            Some(plan) => ImportReads::write(tx, plan)?,
            None => None,
        };
        outbox.put(&state_row(&state)?).map_err(js)?;
        Ok((state, last_position))
    }

    /// An adoption: one readwrite transaction over every store but `meta`. It reads the
    /// stored state and the whole log, decides with [`plan_adoption_write`], clears
    /// `events`, `streams`, `snapshots` and `projections` and puts the new state; then
    /// awaits the commit and announces the change.
    async fn adopt_tx(&self) -> Result<ReplicaState, StoreError> {
        let tx = self.write_tx(&[EVENTS, STREAMS, SNAPSHOTS, PROJECTIONS, OUTBOX])?;
        match self.adopt_batch(&tx).await {
            Ok(state) => {
                raw::transaction(&tx).await.map_err(|e| self.fail(e))?;
                self.notifier.replica_changed(state.revision);
                Ok(state)
            }
            Err(err) => {
                let _ = tx.abort();
                Err(self.fail(err))
            }
        }
    }

    async fn adopt_batch(&self, tx: &IdbTransaction) -> Result<ReplicaState, StoreError> {
        let js = |e: JsValue| error_from_js(&e);
        let outbox = tx.object_store(OUTBOX).map_err(js)?;
        let events = tx.object_store(EVENTS).map_err(js)?;
        let state_request = outbox.get(&JsValue::from_str(REPLICA_STATE)).map_err(js)?;
        let rows_request = events.get_all().map_err(js)?;
        let rows: js_sys::Array = raw::request(&rows_request)
            .await
            .map_err(js)?
            .unchecked_into();
        let stored = state_from_row(state_request.result().map_err(js)?)?;
        let log: Vec<RecordedEvent> = rows_from_js(rows.iter().collect())?;
        let state = plan_adoption_write(stored, &log)?;
        for store in [EVENTS, STREAMS, SNAPSHOTS, PROJECTIONS] {
            tx.object_store(store).and_then(|s| s.clear()).map_err(js)?;
        }
        outbox.put(&state_row(&state)?).map_err(js)?;
        Ok(state)
    }

    /// [`EventStore::stats`] from the indexes in one read transaction: IndexedDB counts
    /// each event type (`eventType` index, one step per type) and each UTC day
    /// (`recordedAt` index, one step per day), so no event is read or decoded.
    async fn indexed_stats(&self) -> Result<StoreStats, StoreError> {
        let js = |e: JsValue| error_from_js(&e);
        let tx = self.raw_tx(&[EVENTS, STREAMS, SNAPSHOTS], IdbTransactionMode::Readonly)?;
        let events = tx.object_store(EVENTS).map_err(js)?;
        let event_count = events.count().map_err(js)?;
        let snapshot_count = tx
            .object_store(SNAPSHOTS)
            .and_then(|s| s.count())
            .map_err(js)?;
        let streams = tx
            .object_store(STREAMS)
            .and_then(|s| s.get_all())
            .map_err(js)?;

        let by_type = events.index("eventType").map_err(js)?;
        let mut type_counts = Vec::new();
        let cursor_request = by_type
            .open_key_cursor_with_range_and_direction(
                &JsValue::NULL,
                IdbCursorDirection::Nextunique,
            )
            .map_err(js)?;
        while let Some(cursor) = next_cursor(&cursor_request).await? {
            let key = cursor.key().map_err(js)?;
            let name = key
                .as_string()
                .ok_or_else(|| StoreError::Corrupt("event type is not a string".into()))?;
            type_counts.push((name, by_type.count_with_key(&key).map_err(js)?));
            cursor.continue_().map_err(js)?;
        }

        const DAY: f64 = 86_400_000.0;
        let by_time = events.index("recordedAt").map_err(js)?;
        let mut day_counts = Vec::new();
        let cursor_request = by_time.open_key_cursor().map_err(js)?;
        while let Some(cursor) = next_cursor(&cursor_request).await? {
            let time = cursor
                .key()
                .map_err(js)?
                .as_f64()
                .ok_or_else(|| StoreError::Corrupt("recordedAt is not a number".into()))?;
            let start = (time / DAY).floor() * DAY;
            let day = web_sys::IdbKeyRange::bound_with_lower_open_and_upper_open(
                &start.into(),
                &(start + DAY).into(),
                false,
                true,
            )
            .map_err(js)?;
            let count = by_time.count_with_key(&day).map_err(js)?;
            day_counts.push((utc_date(start as i64), count));
            cursor
                .continue_with_key(&(start + DAY).into())
                .map_err(js)?;
        }
        // The cursor's last step came after every other request: all are done.
        let count = |r: &IdbRequest| -> Result<u64, StoreError> {
            Ok(r.result().map_err(js)?.as_f64().unwrap_or(0.0) as u64)
        };
        let mut stats = StoreStats {
            event_count: count(&event_count)?,
            snapshot_count: count(&snapshot_count)?,
            ..StoreStats::default()
        };
        for (name, request) in &type_counts {
            stats.events_by_type.insert(name.clone(), count(request)?);
        }
        for (day, request) in &day_counts {
            stats.events_by_day.insert(day.clone(), count(request)?);
        }
        let streams: Vec<StreamInfo> = from_js(streams.result().map_err(js)?)?;
        stats.stream_count = streams.len() as u64;
        for stream in streams {
            *stats.streams_by_type.entry(stream.stream_type).or_default() += 1;
        }
        Ok(stats)
    }

    async fn head(events: &Store) -> Result<u64, StoreError> {
        let newest = events
            .scan(None, Some(1), None, Some(rexie::Direction::Prev))
            .await
            .map_err(storage)?;
        Ok(newest
            .first()
            .and_then(|(k, _)| k.as_f64())
            .map_or(0, |p| p as u64))
    }
}

impl Drop for IdbStore {
    fn drop(&mut self) {
        self.connection.raw.set_onversionchange(None);
        self.connection.raw.set_onclose(None);
        self.connection.shut("the store was closed".to_string());
        if let Some(rexie) = self.connection.rexie.borrow_mut().take() {
            rexie.close();
        }
    }
}

fn put(store: &IdbObjectStore, value: &JsValue) -> Result<(), StoreError> {
    store.put(value).map(|_| ()).map_err(|e| error_from_js(&e))
}

/// `navigator.storage` of the global scope, when there is one.
fn storage_manager() -> Option<StorageManager> {
    let navigator = raw::global("navigator")?;
    js_sys::Reflect::get(&navigator, &JsValue::from_str("storage"))
        .ok()
        .filter(|s| s.is_object())
        .map(JsCast::unchecked_into)
}

/// A rexie failure as a [`StoreError`] (its detail is in the source error's text).
fn storage(err: rexie::Error) -> StoreError {
    // rexie's own message is only "idb error": the detail is in its source.
    let text = match std::error::Error::source(&err) {
        Some(source) => source.to_string(),
        None => err.to_string(),
    };
    if text.contains("QuotaExceededError") {
        StoreError::QuotaExceeded(text)
    } else if text.contains("VersionError") {
        StoreError::Closed(format!(
            "the database was upgraded to a newer schema by a newer version of the app; reload ({text})"
        ))
    } else {
        StoreError::Storage(text)
    }
}

/// The cursor a cursor request's next `success` carries, `None` at the end.
async fn next_cursor(request: &IdbRequest) -> Result<Option<IdbCursor>, StoreError> {
    let value = raw::request(request).await.map_err(|e| error_from_js(&e))?;
    Ok((!value.is_null() && !value.is_undefined()).then(|| value.unchecked_into()))
}

/// The position of the event a key cursor stands on, 0 when there is none (an empty log).
fn cursor_position(cursor: JsValue) -> Result<u64, StoreError> {
    if cursor.is_null() || cursor.is_undefined() {
        return Ok(0);
    }
    let key = cursor
        .unchecked_into::<IdbCursor>()
        .key()
        .map_err(|e| error_from_js(&e))?;
    key.as_f64()
        .filter(|p| p.is_finite() && *p >= 0.0)
        .map(|p| p as u64)
        .ok_or_else(|| StoreError::Corrupt("event key is not a number".into()))
}

/// A stored row, `None` when the request found nothing (`undefined`).
fn optional<T: DeserializeOwned>(value: JsValue) -> Result<Option<T>, StoreError> {
    if value.is_undefined() || value.is_null() {
        Ok(None)
    } else {
        from_js(value).map(Some)
    }
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, StoreError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| StoreError::InvalidInput(format!("cannot store value: {e}")))
}

fn from_js<T: DeserializeOwned>(value: JsValue) -> Result<T, StoreError> {
    serde_wasm_bindgen::from_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Many rows to store, as a JS array made by one `JSON.parse` of a `serde_json` string;
/// the same values the json-compatible serializer of [`to_js`] makes.
fn rows_to_js<T: Serialize>(rows: &[T]) -> Result<js_sys::Array, StoreError> {
    let text = serde_json::to_string(rows)
        .map_err(|e| StoreError::InvalidInput(format!("cannot store value: {e}")))?;
    js_sys::JSON::parse(&text)
        .map(JsCast::unchecked_into)
        .map_err(|e| StoreError::InvalidInput(format!("cannot store value: {e:?}")))
}

/// Decodes many stored rows at once: one `JSON.stringify` of the whole array in JS and one
/// `serde_json` parse in Rust. Walking each row's fields through serde-wasm-bindgen costs
/// a JS call per field and was most of a projection rebuild's time; the stored rows are
/// JSON values (written by the json-compatible serializer), so nothing is lost.
fn rows_from_js<T: DeserializeOwned>(rows: Vec<JsValue>) -> Result<Vec<T>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let array: js_sys::Array = rows.into_iter().collect();
    let text = js_sys::JSON::stringify(&array)
        .map_err(|e| StoreError::Corrupt(format!("cannot read stored rows: {e:?}")))?;
    serde_json::from_str(&String::from(text)).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The [`ReplicaState`] in an `outbox` record read by `get` (the empty state when there is
/// none): its JSON text, or (written by an earlier build) an object, stringified first.
fn state_from_row(row: JsValue) -> Result<ReplicaState, StoreError> {
    if row.is_undefined() || row.is_null() {
        return Ok(ReplicaState::default());
    }
    let value = js_sys::Reflect::get(&row, &JsValue::from_str("value"))
        .map_err(|_| StoreError::Corrupt("the outbox record has no value".into()))?;
    let text = match value.as_string() {
        Some(text) => text,
        None => js_sys::JSON::stringify(&value)
            .map_err(|e| StoreError::Corrupt(format!("cannot read the outbox: {e:?}")))?
            .into(),
    };
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("the outbox: {e}")))
}

/// The JSON text of an `outbox` record read by `get`, when it holds one (`None`: no
/// record, or an object written by an earlier build).
fn row_text(row: &JsValue) -> Option<String> {
    if row.is_undefined() || row.is_null() {
        return None;
    }
    js_sys::Reflect::get(row, &JsValue::from_str("value"))
        .ok()?
        .as_string()
}

/// The `outbox` record `{ key: "state", value }` holding `state` as its JSON text.
fn state_row(state: &ReplicaState) -> Result<JsValue, StoreError> {
    let text = serde_json::to_string(state)
        .map_err(|e| StoreError::InvalidInput(format!("cannot store the outbox: {e}")))?;
    Ok(open::meta_record(REPLICA_STATE, JsValue::from_str(&text)))
}

fn key(parts: &[JsValue]) -> JsValue {
    parts.iter().collect::<js_sys::Array>().into()
}

fn range(lower: JsValue, upper: JsValue) -> Result<KeyRange, StoreError> {
    KeyRange::bound(&lower, &upper, Some(false), Some(false)).map_err(|e| storage(e.into()))
}

impl EventStore for IdbStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        self.write_events(stream_id, events, |events, ctx| {
            plan_append(
                stream_id,
                expected,
                events,
                ctx,
                self.clock.as_ref(),
                self.ids.as_ref(),
            )
        })
        .await
    }

    /// Writes the events as given (ids, versions, positions and `recordedAt` kept), of
    /// any streams, in one readwrite transaction decided by [`plan_import`]; a committed
    /// import is announced like an append.
    async fn import_events(&self, events: Vec<RecordedEvent>) -> Result<u64, StoreError> {
        self.write_import(events).await
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        options: ReadStreamOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        rows_from_js(self.stored_stream_rows(stream_id, options).await?)
    }

    async fn read_all(&self, options: ReadAllOptions) -> Result<Vec<RecordedEvent>, StoreError> {
        if options.limit == Some(0) {
            return Ok(Vec::new());
        }
        if options.event_types.is_none() && options.stream_prefix.is_none() {
            return rows_from_js(
                self.stored_log_rows(options.from_position, options.limit)
                    .await?,
            );
        }
        let wanted = options.limit.unwrap_or(usize::MAX);
        // Filtered: read in pages so a selective filter does not load the whole log at
        // once, and decode only the rows that pass (their type and stream are read off the
        // row). The next page is requested before this one is filtered and decoded, so
        // IndexedDB fetches while wasm works.
        const PAGE: u32 = 1000;
        let js = |e: JsValue| error_from_js(&e);
        let tx = self.raw_tx(&[EVENTS], IdbTransactionMode::Readonly)?;
        let events = tx.object_store(EVENTS).map_err(js)?;
        let page_from = |position: f64| -> Result<IdbRequest, StoreError> {
            let r = web_sys::IdbKeyRange::lower_bound(&position.into()).map_err(js)?;
            events.get_all_with_key_and_limit(&r, PAGE).map_err(js)
        };
        let (type_key, stream_key, position_key) = (
            JsValue::from_str("type"),
            JsValue::from_str("streamId"),
            JsValue::from_str("position"),
        );
        let field = |row: &JsValue, key: &JsValue| {
            js_sys::Reflect::get(row, key)
                .ok()
                .and_then(|v| v.as_string())
                .ok_or_else(|| StoreError::Corrupt(format!("a stored event has no {key:?}")))
        };
        let mut out = Vec::new();
        let mut pending = page_from(options.from_position.max(1) as f64)?;
        loop {
            let rows: js_sys::Array = raw::request(&pending)
                .await
                .map_err(|e| self.fail(js(e)))?
                .unchecked_into();
            let done = rows.length() < PAGE;
            if !done {
                let last = rows.get(rows.length() - 1);
                let position = js_sys::Reflect::get(&last, &position_key)
                    .ok()
                    .and_then(|v| v.as_f64())
                    .ok_or_else(|| StoreError::Corrupt("a stored event has no position".into()))?;
                pending = page_from(position + 1.0)?;
            }
            let mut wanted_rows = Vec::with_capacity(rows.length() as usize);
            for row in rows.iter() {
                let stream = match options.stream_prefix {
                    Some(_) => field(&row, &stream_key)?,
                    None => String::new(),
                };
                let event_type = match options.event_types {
                    Some(_) => field(&row, &type_key)?,
                    None => String::new(),
                };
                if options.matches_parts(&event_type, &stream) {
                    wanted_rows.push(row);
                }
            }
            wanted_rows.truncate(wanted.saturating_sub(out.len()));
            out.extend(rows_from_js::<RecordedEvent>(wanted_rows)?);
            if done || out.len() >= wanted {
                return Ok(out);
            }
        }
    }

    async fn read_time_range(
        &self,
        from_ms: i64,
        to_ms: i64,
        options: ReadAllOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if to_ms <= from_ms || options.limit == Some(0) {
            return Ok(Vec::new());
        }
        let tx = self.tx(&[EVENTS], TransactionMode::ReadOnly)?;
        let events = tx.store(EVENTS).map_err(self.rexie_err())?;
        let times = KeyRange::bound(
            &(from_ms as f64).into(),
            &(to_ms as f64).into(),
            Some(false),
            Some(true),
        )
        .map_err(|e| storage(e.into()))?;
        // The `recordedAt` index gives the positions in the range (keys only, no rows),
        // ordered by time; the contract orders by position.
        let mut positions: Vec<u64> = events
            .index("recordedAt")
            .map_err(self.rexie_err())?
            .get_all_keys(Some(times), None)
            .await
            .map_err(self.rexie_err())?
            .iter()
            .filter_map(|k| k.as_f64())
            .map(|p| p as u64)
            .filter(|p| *p >= options.from_position)
            .collect();
        positions.sort_unstable();
        // Then the rows, a chunk of positions at a time (one key range per chunk: the
        // positions of a time range are usually contiguous), until the page is full.
        const CHUNK: usize = 1_000;
        let wanted = options.limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for chunk in positions.chunks(CHUNK) {
            let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else {
                continue;
            };
            let rows = events
                .get_all(
                    Some(range((*first as f64).into(), (*last as f64).into())?),
                    None,
                )
                .await
                .map_err(self.rexie_err())?;
            let decoded: Vec<RecordedEvent> = rows_from_js(rows)?;
            out.extend(decoded.into_iter().filter(|e| {
                e.recorded_at >= from_ms
                    && e.recorded_at < to_ms
                    && chunk.binary_search(&e.position).is_ok()
                    && options.matches(e)
            }));
            if out.len() >= wanted {
                out.truncate(wanted);
                break;
            }
        }
        Ok(out)
    }

    async fn stream_version(&self, stream_id: &str) -> Result<Option<u64>, StoreError> {
        let tx = self.tx(&[STREAMS], TransactionMode::ReadOnly)?;
        let row = tx
            .store(STREAMS)
            .map_err(self.rexie_err())?
            .get(JsValue::from_str(stream_id))
            .await
            .map_err(self.rexie_err())?;
        Ok(match row {
            Some(v) => Some(from_js::<StreamInfo>(v)?.version),
            None => None,
        })
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let tx = self.tx(&[EVENTS], TransactionMode::ReadOnly)?;
        Self::head(&tx.store(EVENTS).map_err(self.rexie_err())?)
            .await
            .map_err(|e| self.fail(e))
    }

    async fn list_streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
        let tx = self.tx(&[STREAMS], TransactionMode::ReadOnly)?;
        let rows = tx
            .store(STREAMS)
            .map_err(self.rexie_err())?
            .get_all(None, None)
            .await
            .map_err(self.rexie_err())?;
        rows_from_js(rows)
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.put_one(SNAPSHOTS, to_js(&snapshot)?).await
    }

    async fn load_snapshot(
        &self,
        stream_id: &str,
        schema_version: u32,
        at_or_below: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError> {
        let tx = self.tx(&[SNAPSHOTS], TransactionMode::ReadOnly)?;
        let store = tx.store(SNAPSHOTS).map_err(self.rexie_err())?;
        let stream = JsValue::from_str(stream_id);
        let upper = at_or_below.map_or(MAX_SAFE, |v| v as f64);
        let r = range(
            key(&[stream.clone(), 0.0.into()]),
            key(&[stream, upper.into()]),
        )?;
        let rows = store
            .scan(Some(r), None, None, Some(rexie::Direction::Prev))
            .await
            .map_err(self.rexie_err())?;
        for (_, row) in rows {
            let snapshot: Snapshot = from_js(row)?;
            if snapshot.schema_version == schema_version {
                return Ok(Some(snapshot));
            }
        }
        Ok(None)
    }

    async fn list_snapshots(&self, stream_id: &str) -> Result<Vec<Snapshot>, StoreError> {
        let tx = self.tx(&[SNAPSHOTS], TransactionMode::ReadOnly)?;
        let stream = JsValue::from_str(stream_id);
        let r = range(
            key(&[stream.clone(), 0.0.into()]),
            key(&[stream, MAX_SAFE.into()]),
        )?;
        let rows = tx
            .store(SNAPSHOTS)
            .map_err(self.rexie_err())?
            .get_all(Some(r), None)
            .await
            .map_err(self.rexie_err())?;
        rows_from_js(rows)
    }

    async fn snapshot_count(&self) -> Result<u64, StoreError> {
        let tx = self.tx(&[SNAPSHOTS], TransactionMode::ReadOnly)?;
        let n = tx
            .store(SNAPSHOTS)
            .map_err(self.rexie_err())?
            .count(None)
            .await
            .map_err(self.rexie_err())?;
        Ok(u64::from(n))
    }

    async fn save_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), StoreError> {
        self.put_one(PROJECTIONS, to_js(&checkpoint)?).await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.indexed_stats().await.map_err(|e| self.fail(e))
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        let tx = self.tx(&[PROJECTIONS], TransactionMode::ReadOnly)?;
        let row = tx
            .store(PROJECTIONS)
            .map_err(self.rexie_err())?
            .get(JsValue::from_str(name))
            .await
            .map_err(self.rexie_err())?;
        row.map(from_js).transpose()
    }
}

/// The store as a sync replica: its log is the confirmed log, and the outbox and the
/// conflicts live in the `outbox` store (one record, written whole by each write).
impl ReplicaStore for IdbStore {
    async fn replica_state(&self) -> Result<ReplicaState, StoreError> {
        let js = |e: JsValue| error_from_js(&e);
        let tx = self.raw_tx(&[OUTBOX], IdbTransactionMode::Readonly)?;
        let request = tx
            .object_store(OUTBOX)
            .and_then(|s| s.get(&JsValue::from_str(REPLICA_STATE)))
            .map_err(|e| self.fail(js(e)))?;
        let row = raw::request(&request).await.map_err(|e| self.fail(js(e)))?;
        let text = row_text(&row);
        if let (Some(text), Some((cached, state))) = (&text, &*self.outbox_cache.borrow()) {
            if text == cached {
                return Ok(state.clone());
            }
        }
        let state = state_from_row(row)?;
        if let Some(text) = text {
            *self.outbox_cache.borrow_mut() = Some((text, state.clone()));
        }
        Ok(state)
    }

    /// One readwrite transaction over `events`, `streams` and `outbox`, decided by
    /// [`plan_replica_write`] on what it reads there; the confirmed events are written as
    /// an import is. Announced to the replica listeners (and, when it confirmed events,
    /// to the append listeners) after the commit.
    async fn write_replica(&self, write: ReplicaWrite) -> Result<ReplicaState, StoreError> {
        self.write_replica_tx(write).await
    }

    /// One readwrite transaction over `events`, `streams`, `snapshots`, `projections` and
    /// `outbox`, decided by [`plan_adoption_write`] on the whole log and the stored
    /// state read there; announced to the replica listeners after the commit.
    async fn adopt_local_log(&self) -> Result<ReplicaState, StoreError> {
        self.adopt_tx().await
    }
}
