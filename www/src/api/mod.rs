//! All data access of the app: the one IndexedDB store, opened once, and the operations
//! the pages call. Views never touch storage directly. Each domain's operations live in a
//! submodule; this file holds the store, the change signal and the event log.

pub mod bank;
pub mod data;
pub mod error;
pub mod projections;
pub mod sync;
pub mod travel;

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;

use chronik_core::{
    AppendResult, EventStore, ExpectedVersion, NewEvent, ReadAllOptions, ReadStreamOptions,
    RecordedEvent, StoreStats,
};
use chronik_examples::commands::DomainCommands;
use chronik_idb::replica_mode::{ReplicaMode, Routed};
use chronik_idb::AppendListener;
use chronik_idb::{IdbStore, JsClock, RandomUuids};
use leptos::prelude::{ArcRwSignal, Update};

pub use error::{store_closed, AppError, AppResult};

pub mod orders;

/// The IndexedDB database the app keeps its events in.
pub const DATABASE: &str = "chronik-app";

/// The store every operation goes through: the IndexedDB store itself, or, once the app
/// syncs (or ever synced), the replica's view of it (see [`sync`]).
pub type AppStore = Routed<Rc<IdbStore>, DomainCommands>;

/// The store in replica mode.
pub type AppReplica = ReplicaMode<Rc<IdbStore>, DomainCommands>;

thread_local! {
    static STORE: RefCell<Option<Rc<AppStore>>> = const { RefCell::new(None) };
    static CHANGES: OnceCell<ArcRwSignal<u64>> = const { OnceCell::new() };
    /// Hears appends made through any other connection (other tabs, the demo writer); the
    /// store's own appends already call [`changed`] where they are made.
    static REMOTE: RefCell<Option<AppendListener>> = const { RefCell::new(None) };
}

/// A counter that moves whenever the store may have changed: after this tab appends,
/// and when an append through another connection (another tab) is announced. Views
/// that show stored data track it to refresh.
///
/// Reference-counted rather than arena-owned: an arena signal belongs to the reactive
/// owner that first asked for it (say, a resource's fetcher) and dies with it, after
/// which every view tracking it would stop refreshing.
pub fn changes() -> ArcRwSignal<u64> {
    CHANGES.with(|c| c.get_or_init(|| ArcRwSignal::new(0)).clone())
}

/// Tells every view that tracks [`changes`] that the store has grown.
pub(crate) fn changed() {
    changes().update(|n| *n += 1);
}

/// The app's store, opened on first use (and again after [`forget_store`]). A database
/// that is a replica already (it synced, or holds pending writes) is opened in replica
/// mode, connected or not: its log is the server's.
pub(crate) async fn store() -> Result<Rc<AppStore>, AppError> {
    if let Some(store) = STORE.with(|s| s.borrow().clone()) {
        return Ok(store);
    }
    let idb = Rc::new(
        IdbStore::open(DATABASE, JsClock, RandomUuids)
            .await
            .map_err(AppError::from)?,
    );
    let opened = Rc::new(Routed::new(Rc::clone(&idb)));
    if AppReplica::is_replica(&idb).await.map_err(AppError::from)? {
        let mode = AppReplica::enter(idb, DomainCommands, JsClock)
            .await
            .map_err(AppError::from)?;
        opened.set_mode(Rc::new(mode));
    }
    // Two callers may race to open; keep whichever finished first.
    let store = STORE.with(|s| {
        s.borrow_mut()
            .get_or_insert_with(|| Rc::clone(&opened))
            .clone()
    });
    if Rc::ptr_eq(&store, &opened) {
        let listener = opened
            .inner()
            .on_remote_append(|_| changed())
            .map_err(AppError::from)?;
        REMOTE.with(|r| *r.borrow_mut() = Some(listener));
        sync::listen_replica_changes(opened.inner())?;
    }
    Ok(store)
}

/// Takes the app's store out of use: the next [`store`] call opens the database again.
/// Returns the handle so the caller can close it (dropping the last handle closes the
/// connection). Callers must not keep store handles across awaits they do not own.
pub(crate) fn forget_store() -> Option<Rc<AppStore>> {
    REMOTE.with(|r| r.borrow_mut().take());
    sync::forget();
    let store = STORE.with(|s| s.borrow_mut().take());
    if let Some(mode) = store.as_ref().and_then(|s| s.clear_mode()) {
        mode.disconnect();
    }
    store
}

/// Parses `payload` as JSON and appends one event of `event_type` to `stream`.
/// Bad input is rejected before anything is written.
pub async fn append_json(
    stream: &str,
    event_type: &str,
    payload: &str,
) -> Result<AppendResult, AppError> {
    let stream = stream.trim();
    let event_type = event_type.trim();
    if stream.is_empty() {
        return Err(AppError::invalid("enter a stream id"));
    }
    if event_type.is_empty() {
        return Err(AppError::invalid("enter an event type"));
    }
    let data: serde_json::Value = serde_json::from_str(payload)
        .map_err(|e| AppError::invalid(format!("payload is not valid JSON: {e}")))?;
    let result = store()
        .await?
        .append(
            stream,
            ExpectedVersion::Any,
            vec![NewEvent::new(event_type, data)],
        )
        .await
        .map_err(AppError::from)?;
    changed();
    Ok(result)
}

/// Every event of `stream`, oldest first.
pub async fn read_stream(stream: &str) -> Result<Vec<RecordedEvent>, AppError> {
    store()
        .await?
        .read_stream(stream.trim(), ReadStreamOptions::default())
        .await
        .map_err(AppError::from)
}

/// Which events the event log shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFilter {
    /// Only streams whose id starts with this.
    pub stream_prefix: Option<String>,
    /// Only this event type.
    pub event_type: Option<String>,
    /// Only events recorded at or after this time (ms since the epoch).
    pub from_ms: Option<i64>,
    /// Only events recorded before this time (ms since the epoch).
    pub to_ms: Option<i64>,
}

/// An event as the log shows it: upcast to its current schema, remembering the stored one.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// The event, upcast when an upcaster knows its type and version.
    pub event: RecordedEvent,
    /// The schema version the event is stored with.
    pub stored_schema_version: u32,
    /// Why upcasting failed, if it did (the event is then shown as stored).
    pub upcast_error: Option<String>,
}

impl LogEntry {
    /// Whether the event was lifted from an older schema on read.
    pub fn was_upcast(&self) -> bool {
        self.event.schema_version != self.stored_schema_version
    }
}

/// Up to `limit` events from global position `from` on that pass `filter`, upcast for
/// display.
pub async fn read_log(
    filter: &LogFilter,
    from: u64,
    limit: usize,
) -> Result<Vec<LogEntry>, AppError> {
    let store = store().await?;
    let types = filter.event_type.clone().map(|t| vec![t]);
    let prefix = filter.stream_prefix.clone().filter(|p| !p.is_empty());
    let options = ReadAllOptions {
        from_position: from,
        limit: Some(limit),
        event_types: types,
        stream_prefix: prefix,
    };
    let events = if filter.from_ms.is_some() || filter.to_ms.is_some() {
        // The store filters and pages the time range itself: the page never holds more
        // than one page of events, however many the range has.
        store
            .read_time_range(
                filter.from_ms.unwrap_or(i64::MIN),
                filter.to_ms.unwrap_or(i64::MAX),
                options,
            )
            .await
            .map_err(AppError::from)?
    } else {
        store.read_all(options).await.map_err(AppError::from)?
    };
    let upcasters = chronik_examples::registry::upcasters();
    Ok(events
        .into_iter()
        .map(|event| {
            let stored_schema_version = event.schema_version;
            match upcasters.upcast(event.clone()) {
                Ok(up) => LogEntry {
                    event: up.event,
                    stored_schema_version,
                    upcast_error: None,
                },
                Err(e) => LogEntry {
                    event,
                    stored_schema_version,
                    upcast_error: Some(e.to_string()),
                },
            }
        })
        .collect())
}

/// Position of the newest event (0 when the store is empty).
pub async fn head_position() -> Result<u64, AppError> {
    store().await?.head_position().await.map_err(AppError::from)
}

/// Counts over the whole store.
pub async fn stats() -> Result<StoreStats, AppError> {
    store().await?.stats().await.map_err(AppError::from)
}
