//! Sync with a chronik-server: connect and disconnect, where the sync stands, the
//! outbox and the conflicts.
//!
//! Connecting puts the app's store in replica mode ([`chronik_idb::replica_mode`]): from
//! then on every read of the app goes through the replica's view (the server-confirmed
//! log with the pending batches on top), bank commands are kept by name
//! ([`DomainCommands`](chronik_examples::commands::DomainCommands)) so that the sync can
//! decide them again on the server's state, and other writes become raw pending
//! batches. A database that never synced adopts its own log at the first connect: its
//! events are uploaded. Disconnecting stops the sync; the store stays a replica.

use std::cell::RefCell;

use chronik_core::sync::{BatchOrigin, ConflictReason, SyncStatus};
use chronik_core::EventStore;
use chronik_examples::commands::DomainCommands;
use chronik_idb::replica_mode::SyncTarget;
use chronik_idb::sync::{SyncChange, SyncConfig};
use chronik_idb::{AppendListener, IdbStore, JsClock};
use leptos::prelude::{ArcRwSignal, Set};
use std::rc::Rc;

use super::{changed, projections, store, AppError, AppReplica, DATABASE};

/// The localStorage key of the remembered server URL.
pub const URL_KEY: &str = "chronik-sync-url";
/// The localStorage key of the remembered server store.
pub const STORE_KEY: &str = "chronik-sync-store";
/// The localStorage key set while the app is connected, to connect again after a reload.
pub const CONNECTED_KEY: &str = "chronik-sync-connected";

/// How often a caught-up sync looks for news when no live notice came (ms).
const POLL_MS: u32 = 5_000;

/// Where the sync stands, as the header badge and the Sync page show it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncInfo {
    /// Whether a sync runs (connected, whatever the network does).
    pub connected: bool,
    /// The engine's status while connected.
    pub status: SyncStatus,
    /// The last failure's message.
    pub last_error: Option<String>,
}

impl SyncInfo {
    /// One word for the badge: `off` when not connected, else the status.
    pub fn label(&self) -> &'static str {
        if !self.connected {
            return "off";
        }
        match self.status {
            SyncStatus::Offline => "offline",
            SyncStatus::Connecting => "connecting",
            SyncStatus::Pulling => "pulling",
            SyncStatus::Pushing => "pushing",
            SyncStatus::Live => "live",
            SyncStatus::Error => "error",
        }
    }
}

thread_local! {
    static INFO: std::cell::OnceCell<ArcRwSignal<SyncInfo>> = const { std::cell::OnceCell::new() };
    /// Hears the replica writes of other tabs (their outbox, the leader's sync).
    static REPLICA: RefCell<Option<AppendListener>> = const { RefCell::new(None) };
}

/// Where the sync stands; moves with every change of its state.
pub fn info() -> ArcRwSignal<SyncInfo> {
    INFO.with(|i| {
        i.get_or_init(|| ArcRwSignal::new(SyncInfo::default()))
            .clone()
    })
}

/// The views rest on the replica's state, which changed: read them again.
fn replica_changed() {
    projections::forget_runners();
    changed();
}

/// Refreshes the views when another tab writes the replica (set up with the store).
pub(crate) fn listen_replica_changes(idb: &Rc<IdbStore>) -> Result<(), AppError> {
    let listener = idb
        .on_replica_change(|_| replica_changed())
        .map_err(AppError::from)?;
    REPLICA.with(|r| *r.borrow_mut() = Some(listener));
    Ok(())
}

/// Forgets the sync of a store that is being closed.
pub(crate) fn forget() {
    REPLICA.with(|r| r.borrow_mut().take());
    info().set(SyncInfo::default());
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

fn remembered(key: &str) -> Option<String> {
    local_storage()?.get_item(key).ok().flatten()
}

fn remember(key: &str, value: Option<&str>) {
    if let Some(storage) = local_storage() {
        let _ = match value {
            Some(v) => storage.set_item(key, v),
            None => storage.remove_item(key),
        };
    }
}

/// The remembered server URL and store (empty when never entered).
pub fn settings() -> (String, String) {
    (
        remembered(URL_KEY).unwrap_or_default(),
        remembered(STORE_KEY).unwrap_or_default(),
    )
}

/// The replica mode of the app's store, entering it (and adopting a never-synced log)
/// when needed.
async fn replica() -> Result<Rc<AppReplica>, AppError> {
    let app = store().await?;
    if let Some(mode) = app.mode() {
        return Ok(mode);
    }
    let mode = Rc::new(
        AppReplica::enter(Rc::clone(app.inner()), DomainCommands, JsClock)
            .await
            .map_err(AppError::from)?,
    );
    // Another caller may have entered it meanwhile: keep the first.
    if let Some(mode) = app.mode() {
        return Ok(mode);
    }
    app.set_mode(Rc::clone(&mode));
    replica_changed();
    Ok(mode)
}

/// The replica mode, if the store is in it.
pub(crate) async fn mode() -> Result<Option<Rc<AppReplica>>, AppError> {
    Ok(store().await?.mode())
}

/// Connects to the store `server_store` of the chronik-server at `url` (both
/// remembered) and starts syncing.
pub async fn connect(url: &str, server_store: &str) -> Result<(), AppError> {
    let (url, server_store) = (url.trim(), server_store.trim());
    let mut target = SyncTarget::new(url, server_store);
    target.lock_name = Some(SyncConfig::lock_for_database(DATABASE));
    target.poll_ms = POLL_MS;
    remember(URL_KEY, Some(url));
    remember(STORE_KEY, Some(server_store));
    let mode = replica().await?;
    let handle = mode.connect(&target).map_err(AppError::from)?;
    remember(CONNECTED_KEY, Some("1"));
    let signal = info();
    signal.set(SyncInfo {
        connected: true,
        status: handle.state().status,
        last_error: handle.state().last_error,
    });
    handle.on_change(move |change: &SyncChange| {
        signal.set(SyncInfo {
            connected: !change.state.stopped,
            status: change.state.status,
            last_error: change.state.last_error.clone(),
        });
        if change.store_changed {
            replica_changed();
        }
    });
    changed();
    Ok(())
}

/// Connects again with the remembered settings if the app was connected when it was
/// last closed; `Ok(false)` when it was not.
pub async fn resume() -> Result<bool, AppError> {
    if remembered(CONNECTED_KEY).is_none() {
        return Ok(false);
    }
    let (url, server_store) = settings();
    connect(&url, &server_store).await?;
    Ok(true)
}

/// Stops syncing. Local writes stay pending until the next connect.
pub async fn disconnect() -> Result<(), AppError> {
    remember(CONNECTED_KEY, None);
    if let Some(mode) = mode().await? {
        mode.disconnect();
    }
    info().set(SyncInfo::default());
    changed();
    Ok(())
}

/// A batch the server will not take, as the Sync page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictInfo {
    /// The batch's id (for discard and retry).
    pub id: String,
    /// The stream it appends to.
    pub stream_id: String,
    /// What it is: the command's name and input, or the raw events' types.
    pub what: String,
    /// Why it is a conflict.
    pub reason: String,
    /// Whether Retry applies: not to a step abandoned after an earlier step of its
    /// operation failed (retry or discard that one).
    pub retryable: bool,
    /// When it became one (ms since the epoch).
    pub at: i64,
}

/// The outbox and the confirmed log, as the Sync page shows them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overview {
    /// Whether the store is a replica (it synced, or connected once).
    pub replica: bool,
    /// Local batches not yet confirmed by the server.
    pub pending: usize,
    /// The position of the newest server-confirmed event (0: none yet).
    pub confirmed_position: u64,
    /// The conflicts, oldest first.
    pub conflicts: Vec<ConflictInfo>,
}

/// Where the outbox and the confirmed log stand.
pub async fn overview() -> Result<Overview, AppError> {
    let Some(mode) = mode().await? else {
        return Ok(Overview::default());
    };
    let state = mode.state().await.map_err(AppError::from)?;
    let confirmed_position = mode.store().head_position().await.map_err(AppError::from)?;
    let conflicts = state
        .conflicts
        .iter()
        .map(|c| ConflictInfo {
            id: c.batch.id.clone(),
            stream_id: c.batch.stream_id.clone(),
            what: match &c.batch.origin {
                BatchOrigin::Command { command } => {
                    // The command's own fields; its ids say nothing to the user.
                    let mut input = command.input.clone();
                    if let Some(fields) = input.as_object_mut() {
                        fields.remove("commandId");
                        fields.remove("correlationId");
                    }
                    format!("{} {input}", command.name)
                }
                BatchOrigin::Raw => {
                    let types: Vec<&str> = c
                        .batch
                        .events
                        .iter()
                        .map(|e| e.event_type.as_str())
                        .collect();
                    format!("append {}", types.join(", "))
                }
            },
            reason: c.reason.to_string(),
            retryable: !matches!(c.reason, ConflictReason::Abandoned { .. }),
            at: c.at,
        })
        .collect();
    Ok(Overview {
        replica: true,
        pending: state.pending.len(),
        confirmed_position,
        conflicts,
    })
}

/// Forgets conflict `id`: nothing of it was ever applied.
pub async fn discard(id: &str) -> Result<(), AppError> {
    let Some(mode) = mode().await? else {
        return Err(AppError::invalid("this app does not sync"));
    };
    mode.discard(id).await.map_err(AppError::from)?;
    replica_changed();
    Ok(())
}

/// Tries conflict `id` again on what the app shows now; a command refused again stays
/// a conflict (and the refusal is the error).
pub async fn retry(id: &str) -> Result<(), AppError> {
    let Some(mode) = mode().await? else {
        return Err(AppError::invalid("this app does not sync"));
    };
    let result = mode.retry(id).await;
    replica_changed();
    result.map(drop).map_err(AppError::from)
}
