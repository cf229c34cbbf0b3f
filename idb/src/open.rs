//! Opening, upgrading and deleting the database with raw `web-sys` requests, so that a
//! `blocked` upgrade is reported instead of hanging, plus the schema migrations.

use std::cell::RefCell;
use std::rc::Rc;

use chronik_core::previous::migrate_event_json;
use chronik_core::StoreError;
use futures::channel::mpsc;
use futures::future::{select, Either};
use futures::StreamExt;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{
    Event, IdbCursorWithValue, IdbDatabase, IdbFactory, IdbIndexParameters,
    IdbObjectStoreParameters, IdbOpenDbRequest, IdbTransaction, IdbVersionChangeEvent,
};

use super::raw::{self, error_from_js};
use super::{EVENTS, META, OUTBOX, PROJECTIONS, SNAPSHOTS, STREAMS};

/// How long an open or delete that another connection blocks may wait for that connection
/// to close before it is reported as [`StoreError::Blocked`]. Connections that honour
/// `versionchange` (every [`IdbStore`](super::IdbStore)) close well within it.
const BLOCKED_GRACE_MS: u32 = 3_000;

/// Where a migration step that works after it returns (over a cursor, inside the upgrade
/// transaction) puts why it aborted the upgrade, for the open to report.
type Failure = Rc<RefCell<Option<StoreError>>>;

/// A callback kept alive until it releases itself.
type Held = Rc<RefCell<Option<Closure<dyn FnMut(Event)>>>>;

/// One schema migration, run inside the upgrade (`versionchange`) transaction. An `Err`
/// aborts the upgrade; so does a step that records a [`Failure`] and aborts the
/// transaction later (from a cursor's callback).
type Migration = fn(&IdbDatabase, &IdbTransaction, f64, &Failure) -> Result<(), JsValue>;

/// `MIGRATIONS[n]` takes the database from version `n` to `n + 1`. Never edit a step that
/// has shipped: append a new one (and the database version follows).
const MIGRATIONS: &[Migration] = &[v1_event_log, v2_meta, v3_one_event_shape, v4_outbox];

/// The IndexedDB schema version this code creates and expects: the number of migrations.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// v0 → v1: the event log, stream heads, snapshots and projection checkpoints.
fn v1_event_log(
    db: &IdbDatabase,
    _tx: &IdbTransaction,
    _now: f64,
    _failure: &Failure,
) -> Result<(), JsValue> {
    let unique = IdbIndexParameters::new();
    unique.set_unique(true);
    let events = db.create_object_store_with_optional_parameters(EVENTS, &key_path("position"))?;
    let stream_version: js_sys::Array = ["streamId", "version"]
        .iter()
        .map(|s| JsValue::from_str(s))
        .collect();
    events.create_index_with_str_sequence_and_optional_parameters(
        "streamVersion",
        &stream_version,
        &unique,
    )?;
    events.create_index_with_str_and_optional_parameters("eventId", "eventId", &unique)?;
    events.create_index_with_str("eventType", "eventType")?;
    events.create_index_with_str("recordedAt", "recordedAt")?;
    db.create_object_store_with_optional_parameters(STREAMS, &key_path("streamId"))?;
    let snapshot_key = IdbObjectStoreParameters::new();
    snapshot_key.set_key_path(&stream_version);
    db.create_object_store_with_optional_parameters(SNAPSHOTS, &snapshot_key)?;
    db.create_object_store_with_optional_parameters(PROJECTIONS, &key_path("name"))?;
    Ok(())
}

/// v1 → v2: the `meta` store of `{ key, value }` records. [`upgrade`] writes
/// `schemaVersion` after every upgrade and `createdAt` when it creates the database; a
/// database upgraded from version 1 has no `createdAt` (it is not known).
fn v2_meta(
    db: &IdbDatabase,
    _tx: &IdbTransaction,
    _now: f64,
    _failure: &Failure,
) -> Result<(), JsValue> {
    db.create_object_store_with_optional_parameters(META, &key_path("key"))?;
    Ok(())
}

/// v2 → v3: the one JSON shape of an event. Every row of `events` written in the previous
/// shape (`eventId`, `eventType`, free metadata keys nested in `metadata.extra`) is
/// rewritten, over a cursor, in the current one (`id`, `type`, the free keys beside
/// `correlationId` and `causationId`) by [`chronik_core::previous::migrate_event_json`],
/// the conversion PostgreSQL's migration and the NDJSON import use too; rows already in
/// the current shape are left alone. The `eventId` (unique) and `eventType` indexes keep
/// their names and now index `id` and `type`. No other store holds the event shape
/// (streams, snapshots, checkpoints and meta have their own records).
///
/// A row that cannot be converted (its free metadata keys hold a reserved key, or it is
/// not an event) aborts the upgrade: the open fails with [`StoreError::Corrupt`] naming
/// the event, and the database stays at version 2 with every row as it was.
fn v3_one_event_shape(
    _db: &IdbDatabase,
    tx: &IdbTransaction,
    _now: f64,
    failure: &Failure,
) -> Result<(), JsValue> {
    let events = tx.object_store(EVENTS)?;
    events.delete_index("eventId")?;
    events.delete_index("eventType")?;
    let unique = IdbIndexParameters::new();
    unique.set_unique(true);
    events.create_index_with_str_and_optional_parameters("eventId", "id", &unique)?;
    events.create_index_with_str("eventType", "type")?;

    let request = events.open_cursor()?;
    // The callback lives until the cursor ends (or fails), then drops itself from a task
    // (a closure cannot be dropped while it runs).
    let holder: Held = Rc::default();
    let step = {
        let (holder, request, tx, failure) =
            (holder.clone(), request.clone(), tx.clone(), failure.clone());
        Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            let release = || {
                let holder = holder.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    holder.borrow_mut().take();
                });
            };
            let fail = |error: StoreError| {
                failure.borrow_mut().get_or_insert(error);
                let _ = tx.abort();
                release();
            };
            let cursor = match request.result() {
                Ok(c) if !c.is_null() && !c.is_undefined() => {
                    c.unchecked_into::<IdbCursorWithValue>()
                }
                // The end of the rows, or the request failed (the upgrade is aborting).
                _ => return release(),
            };
            let row = cursor
                .value()
                .and_then(|row| js_sys::JSON::stringify(&row))
                .map(String::from);
            let row = match row {
                Ok(row) => row,
                Err(e) => return fail(error_from_js(&e)),
            };
            let converted = match migrate_event_json(&row) {
                Ok(converted) => converted,
                Err(e) => {
                    return fail(StoreError::Corrupt(format!(
                        "schema upgrade to version 3 failed; the database was left unchanged: {e}"
                    )))
                }
            };
            let written = match converted {
                Some(text) => {
                    js_sys::JSON::parse(&text).and_then(|row| cursor.update(&row).map(drop))
                }
                None => Ok(()),
            };
            if let Err(e) = written.and_then(|()| cursor.continue_()) {
                fail(error_from_js(&e));
            }
        })
    };
    request.set_onsuccess(Some(step.as_ref().unchecked_ref()));
    request.set_onerror(Some(step.as_ref().unchecked_ref()));
    *holder.borrow_mut() = Some(step);
    Ok(())
}

/// v3 → v4: the `outbox` store of `{ key, value }` records, for the store as a sync
/// replica: `{ key: "state", value }` holds its
/// [`ReplicaState`](chronik_core::sync::ReplicaState) (revision, synced mark, pending
/// batches, conflicts) as JSON. No row means the empty state (revision 0, never synced),
/// so an upgraded database is a never-synced replica whose log can be adopted. The
/// events and every other store are left as they were.
fn v4_outbox(
    db: &IdbDatabase,
    _tx: &IdbTransaction,
    _now: f64,
    _failure: &Failure,
) -> Result<(), JsValue> {
    db.create_object_store_with_optional_parameters(OUTBOX, &key_path("key"))?;
    Ok(())
}

fn key_path(path: &str) -> IdbObjectStoreParameters {
    let params = IdbObjectStoreParameters::new();
    params.set_key_path(&JsValue::from_str(path));
    params
}

/// `{ key, value }`, a `meta` record.
pub(crate) fn meta_record(key: &str, value: JsValue) -> JsValue {
    let record = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&record, &"key".into(), &key.into());
    let _ = js_sys::Reflect::set(&record, &"value".into(), &value);
    record.into()
}

/// Runs the migrations from `old` to `new` and records the version (and, for a new
/// database, the creation time) in `meta`. Versions above the last migration (only
/// opened by tests) change nothing but the recorded version.
fn upgrade(
    db: &IdbDatabase,
    tx: &IdbTransaction,
    old: u32,
    new: u32,
    now: f64,
    failure: &Failure,
) -> Result<(), JsValue> {
    for from in old..new {
        if let Some(step) = MIGRATIONS.get(from as usize) {
            step(db, tx, now, failure)?;
        }
    }
    if db.object_store_names().contains(META) {
        let meta = tx.object_store(META)?;
        meta.put(&meta_record("schemaVersion", new.into()))?;
        if old == 0 {
            meta.put(&meta_record("createdAt", now.into()))?;
        }
    }
    Ok(())
}

/// `indexedDB` of the global scope (window or worker).
fn factory() -> Result<IdbFactory, StoreError> {
    raw::global("indexedDB")
        .and_then(|f| f.dyn_into::<IdbFactory>().ok())
        .ok_or_else(|| StoreError::Storage("indexedDB is not available in this context".into()))
}

/// Opens `name` at `version`, running the migrations when it is older. Fails with
/// [`StoreError::Blocked`] when an older connection elsewhere does not close.
pub(crate) async fn open(name: &str, version: u32, now: f64) -> Result<IdbDatabase, StoreError> {
    let request = factory()?
        .open_with_u32(name, version)
        .map_err(|e| error_from_js(&e))?;
    let upgrade: Upgrade = Box::new(move |event, request, failure| {
        let db: IdbDatabase = request.result()?.dyn_into()?;
        let tx = request
            .transaction()
            .ok_or_else(|| JsValue::from_str("no upgrade transaction"))?;
        let old = event.old_version() as u32;
        let new = event.new_version().map_or(version, |v| v as u32);
        upgrade(&db, &tx, old, new, now, failure)
    });
    let db = settle(
        request,
        Some(upgrade),
        format!("opening database '{name}' at version {version}"),
    )
    .await?;
    db.dyn_into::<IdbDatabase>()
        .map_err(|_| StoreError::Storage("open request returned no database".into()))
}

/// Deletes the database `name`. Every [`IdbStore`](super::IdbStore) on it closes; a
/// connection that does not close makes this fail with [`StoreError::Blocked`] (the
/// deletion then happens once that connection closes).
pub(crate) async fn delete(name: &str) -> Result<(), StoreError> {
    let request = factory()?
        .delete_database(name)
        .map_err(|e| error_from_js(&e))?;
    settle(request, None, format!("deleting database '{name}'")).await?;
    Ok(())
}

type Upgrade =
    Box<dyn Fn(&IdbVersionChangeEvent, &IdbOpenDbRequest, &Failure) -> Result<(), JsValue>>;

enum Outcome {
    Success(JsValue),
    Failed(StoreError),
    Blocked,
}

/// Waits for an open or delete request to succeed, fail, or stay blocked past the grace
/// period. The handlers stay alive until the request ends even if this gives up: a
/// request that later succeeds has its connection closed, and a late upgrade is aborted,
/// so an abandoned open changes nothing.
async fn settle(
    request: IdbOpenDbRequest,
    upgrade: Option<Upgrade>,
    what: String,
) -> Result<JsValue, StoreError> {
    let (tx, mut rx) = mpsc::unbounded::<Outcome>();
    // Why a migration step aborted the upgrade after it returned, if one did.
    let failure: Failure = Rc::default();
    let handlers: Rc<RefCell<Vec<raw::Handler>>> = Rc::default();
    // Drops the handlers once the request has ended, after the running one returns.
    let release: Rc<dyn Fn()> = {
        let handlers = handlers.clone();
        let request = request.clone();
        Rc::new(move || {
            let handlers = handlers.clone();
            let request = request.clone();
            wasm_bindgen_futures::spawn_local(async move {
                request.set_onsuccess(None);
                request.set_onerror(None);
                request.set_onblocked(None);
                request.set_onupgradeneeded(None);
                handlers.borrow_mut().clear();
            });
        })
    };

    let on_success = {
        let (tx, request, release) = (tx.clone(), request.clone(), release.clone());
        Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            let result = request.result().unwrap_or(JsValue::UNDEFINED);
            if tx.unbounded_send(Outcome::Success(result.clone())).is_err() {
                // Nobody waits any more (blocked and given up, or cancelled).
                if let Ok(db) = result.dyn_into::<IdbDatabase>() {
                    db.close();
                }
            }
            release();
        })
    };
    let on_error = {
        let (tx, request, release, failure) = (
            tx.clone(),
            request.clone(),
            release.clone(),
            failure.clone(),
        );
        Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            let err = request
                .error()
                .ok()
                .flatten()
                .map_or(JsValue::NULL, JsValue::from);
            let error = failure
                .borrow_mut()
                .take()
                .unwrap_or_else(|| error_from_js(&err));
            let _ = tx.unbounded_send(Outcome::Failed(error));
            release();
        })
    };
    let on_blocked = {
        let tx = tx.clone();
        Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            let _ = tx.unbounded_send(Outcome::Blocked);
        })
    };
    request.set_onsuccess(Some(on_success.as_ref().unchecked_ref()));
    request.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    request.set_onblocked(Some(on_blocked.as_ref().unchecked_ref()));
    let mut kept = vec![on_success, on_error, on_blocked];
    if let Some(upgrade) = upgrade {
        let (tx, req, failure) = (tx.clone(), request.clone(), failure.clone());
        let on_upgrade = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            let Some(upgrade_tx) = req.transaction() else {
                return;
            };
            if tx.is_closed() {
                // The caller gave up (blocked): leave the database as it was.
                let _ = upgrade_tx.abort();
                return;
            }
            let result = event
                .dyn_into::<IdbVersionChangeEvent>()
                .map_err(JsValue::from)
                .and_then(|event| upgrade(&event, &req, &failure));
            if let Err(err) = result {
                let (name, message) = (
                    js_sys::Reflect::get(&err, &"name".into())
                        .ok()
                        .and_then(|v| v.as_string()),
                    js_sys::Reflect::get(&err, &"message".into())
                        .ok()
                        .and_then(|v| v.as_string()),
                );
                let detail = match (name, message) {
                    (Some(n), Some(m)) => format!("{n}: {m}"),
                    _ => err.as_string().unwrap_or_else(|| format!("{err:?}")),
                };
                let _ = tx.unbounded_send(Outcome::Failed(StoreError::Storage(format!(
                    "schema upgrade failed; the database was left unchanged: {detail}"
                ))));
                let _ = upgrade_tx.abort();
            }
        });
        request.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
        kept.push(on_upgrade);
    }
    *handlers.borrow_mut() = kept;
    drop(tx);

    let mut deadline = None;
    loop {
        let outcome = match deadline.as_mut() {
            None => rx.next().await,
            Some(timer) => match select(rx.next(), timer).await {
                Either::Left((outcome, _)) => outcome,
                Either::Right(_) => {
                    return Err(StoreError::Blocked(format!(
                        "{what}: another connection (an older version of the app in another tab?) \
                         keeps the database open and did not close; close or reload the other tabs and retry"
                    )))
                }
            },
        };
        match outcome {
            Some(Outcome::Success(value)) => return Ok(value),
            Some(Outcome::Failed(err)) => return Err(err),
            Some(Outcome::Blocked) => {
                if deadline.is_none() {
                    deadline = Some(raw::sleep(BLOCKED_GRACE_MS));
                }
            }
            None => {
                return Err(StoreError::Storage(format!(
                    "{what}: the request ended without a result"
                )))
            }
        }
    }
}
