//! A store in "replica mode", shared by every shell that syncs a local store (the npm
//! package's backend, the web app): [`ReplicaMode`] keeps the [`Replica`] (local writes as
//! pending batches, the view, conflicts) and the running [`SyncHandle`], and
//! [`Routed`] is the one [`EventStore`] the shell reads and writes through: the store
//! itself until it enters replica mode, then the replica's view (the server-confirmed
//! log with the pending batches on top), its appends becoming pending batches.
//!
//! Entering replica mode adopts a never-synced store's own log (its events become
//! pending, to be uploaded); [`ReplicaMode::connect`] starts the sync and
//! [`ReplicaMode::disconnect`] stops it while the store stays a replica: its log is the
//! server's, so local writes keep going to the outbox until the next connect.

use std::cell::RefCell;
use std::rc::Rc;

use chronik_core::sync::{
    CommandRunner, Conflict, ExecuteError, Overlay, PendingBatch, PendingCommand, Replica,
    ReplicaState, ReplicaStore, SyncEngine,
};
use chronik_core::{
    AppendResult, Checkpoint, Clock, EventStore, ExpectedVersion, NewEvent, ReadAllOptions,
    ReadStreamOptions, RecordedEvent, Snapshot, StoreError, StoreStats, StreamInfo,
};

use crate::sync::{HttpTransport, SyncConfig, SyncHandle};
use crate::RandomUuids;

/// Why replica mode could not be entered or the sync not started.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplicaModeError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The server URL is not an http: or https: URL.
    #[error("the server url must start with http:// or https://, not {0:?}")]
    BadUrl(String),
    /// The store name is empty.
    #[error("enter the name of the server's store")]
    NoStore,
    /// The sync driver could not start (no `BroadcastChannel`, …).
    #[error("cannot start the sync: {0}")]
    Start(String),
}

/// Where and how to sync.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncTarget {
    /// The chronik-server's base URL (`http://…` or `https://…`).
    pub url: String,
    /// The server store's name.
    pub store: String,
    /// A bearer token, when the server requires one.
    pub token: Option<String>,
    /// Calls taking longer than this (ms) are network failures (default 30 s).
    pub timeout_ms: Option<u32>,
    /// Look for news at least this often when caught up (ms).
    pub poll_ms: u32,
    /// The Web Lock (one syncing tab per database): see
    /// [`SyncConfig::lock_for_database`]; `None` for a memory store.
    pub lock_name: Option<String>,
}

impl SyncTarget {
    /// The server `url`'s store `store`, polled every 30 s, without a lock.
    pub fn new(url: &str, store: &str) -> Self {
        Self {
            url: url.trim().to_string(),
            store: store.trim().to_string(),
            token: None,
            timeout_ms: None,
            poll_ms: 30_000,
            lock_name: None,
        }
    }

    fn check(&self) -> Result<(), ReplicaModeError> {
        let lower = self.url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(ReplicaModeError::BadUrl(self.url.clone()));
        }
        if self.store.is_empty() {
            return Err(ReplicaModeError::NoStore);
        }
        Ok(())
    }
}

type MakeReplica<S, R> = Box<dyn Fn() -> Replica<S, R>>;

/// A store that is a replica: local writes through the [`Replica`], and the sync when
/// connected.
pub struct ReplicaMode<S, R> {
    replica: Replica<S, R>,
    /// Another replica of the same store, for a sync engine.
    make: MakeReplica<S, R>,
    sync: RefCell<Option<SyncHandle>>,
}

impl<S, R> ReplicaMode<S, R>
where
    S: ReplicaStore + Clone + 'static,
    R: CommandRunner + Clone + 'static,
{
    /// Makes `store` a replica deciding commands with `runner` (`clock` dates local
    /// batches). A store that never synced and holds events adopts its own log: its
    /// events become pending batches, uploaded at the first sync, and the view shows the
    /// same events as before.
    pub async fn enter(
        store: S,
        runner: R,
        clock: impl Clock + Clone + 'static,
    ) -> Result<Self, ReplicaModeError> {
        let state = store.replica_state().await?;
        if !state.synced && store.head_position().await? > 0 {
            store.adopt_local_log().await?;
        }
        let make: MakeReplica<S, R> = {
            let (store, runner, clock) = (store.clone(), runner.clone(), clock.clone());
            Box::new(move || {
                Replica::new(store.clone(), runner.clone(), clock.clone(), RandomUuids)
            })
        };
        Ok(Self {
            replica: Replica::new(store, runner, clock, RandomUuids),
            make,
            sync: RefCell::new(None),
        })
    }

    /// Whether `store` is a replica already: it synced once, or has pending batches or
    /// conflicts. Such a store's log is (or will be) the server's: it must be read and
    /// written in replica mode even while not connected.
    pub async fn is_replica(store: &S) -> Result<bool, StoreError> {
        let state = store.replica_state().await?;
        Ok(state.synced || !state.pending.is_empty() || !state.conflicts.is_empty())
    }

    /// Starts syncing with `target`, stopping a sync already running; returns the
    /// handle (for its state and changes).
    pub fn connect(&self, target: &SyncTarget) -> Result<SyncHandle, ReplicaModeError> {
        target.check()?;
        self.disconnect();
        let mut transport = HttpTransport::new(&target.url, &target.store, target.token.clone());
        if let Some(ms) = target.timeout_ms {
            transport = transport.with_timeout(ms);
        }
        let engine = SyncEngine::new((self.make)(), Rc::new(transport));
        let config = SyncConfig {
            lock_name: target.lock_name.clone(),
            poll_ms: target.poll_ms.max(100),
            ..SyncConfig::default()
        };
        let handle = SyncHandle::start(engine, config).map_err(ReplicaModeError::Start)?;
        *self.sync.borrow_mut() = Some(handle.clone());
        Ok(handle)
    }

    /// Stops the sync, if one runs. The store stays a replica: local writes stay
    /// pending until the next [`connect`](Self::connect).
    pub fn disconnect(&self) {
        if let Some(handle) = self.sync.borrow_mut().take() {
            handle.stop();
        }
    }

    /// The running sync, if connected.
    pub fn sync(&self) -> Option<SyncHandle> {
        self.sync.borrow().clone()
    }

    /// The replica.
    pub fn replica(&self) -> &Replica<S, R> {
        &self.replica
    }

    /// The store (its own log: the server-confirmed one).
    pub fn store(&self) -> &S {
        self.replica.store()
    }

    /// What the user sees now.
    pub async fn view(&self) -> Result<Overlay<&S>, StoreError> {
        self.replica.view().await
    }

    /// The outbox and conflicts.
    pub async fn state(&self) -> Result<ReplicaState, StoreError> {
        self.replica.store().replica_state().await
    }

    /// Wakes the sync to push: for writes made through [`replica`](Self::replica)
    /// directly (the methods here wake it themselves).
    pub fn wake(&self) {
        if let Some(sync) = self.sync() {
            sync.wake();
        }
    }

    /// Appends raw events as a pending batch and wakes the sync. The versions and
    /// positions returned are the view's, provisional until the server confirms them.
    pub async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        let batch = self.replica.append(stream_id, expected, events).await?;
        self.wake();
        let view = self.replica.view().await?;
        let n = batch.events.len() as u64;
        let last_version = view.stream_version(stream_id).await?.unwrap_or(n);
        let last_position = view.head_position().await?;
        Ok(AppendResult {
            first_version: last_version.saturating_sub(n - 1),
            last_version,
            first_position: last_position.saturating_sub(n - 1),
            last_position,
        })
    }

    /// Decides `command` on the view; its events become a pending batch (decided again
    /// on the server's state if someone wrote first) and the sync is woken.
    pub async fn execute(
        &self,
        command: PendingCommand,
    ) -> Result<Option<PendingBatch>, ExecuteError> {
        let batch = self.replica.execute(command).await?;
        if batch.is_some() {
            self.wake();
        }
        Ok(batch)
    }

    /// Forgets the conflict of batch `id`.
    pub async fn discard(&self, id: &str) -> Result<Conflict, ExecuteError> {
        self.replica.discard(id).await
    }

    /// Tries the conflict of batch `id` again on the current view (see
    /// [`Replica::retry`]) and wakes the sync.
    pub async fn retry(&self, id: &str) -> Result<Option<PendingBatch>, ExecuteError> {
        let batch = self.replica.retry(id).await?;
        self.wake();
        Ok(batch)
    }
}

/// The store a shell reads and writes through: `store` itself until
/// [`set_mode`](Routed::set_mode), then the replica's view.
pub struct Routed<S, R> {
    store: S,
    mode: RefCell<Option<Rc<ReplicaMode<S, R>>>>,
}

impl<S, R> Routed<S, R> {
    /// `store`, not (yet) a replica.
    pub fn new(store: S) -> Self {
        Self {
            store,
            mode: RefCell::new(None),
        }
    }

    /// The store itself (in replica mode: the confirmed log).
    pub fn inner(&self) -> &S {
        &self.store
    }

    /// The replica mode, once entered.
    pub fn mode(&self) -> Option<Rc<ReplicaMode<S, R>>> {
        self.mode.borrow().clone()
    }

    /// From now on reads and writes go through `mode`.
    pub fn set_mode(&self, mode: Rc<ReplicaMode<S, R>>) {
        *self.mode.borrow_mut() = Some(mode);
    }

    /// Back to the store itself (its outbox stays for the next replica mode).
    pub fn clear_mode(&self) -> Option<Rc<ReplicaMode<S, R>>> {
        self.mode.borrow_mut().take()
    }
}

/// Calls the method on the replica's view in replica mode, else on the store.
macro_rules! routed {
    ($self:expr, $s:ident => $call:expr) => {{
        match $self.mode() {
            Some(mode) => {
                let $s = mode.view().await?;
                $call.await
            }
            None => {
                let $s = &$self.store;
                $call.await
            }
        }
    }};
}

impl<S, R> EventStore for Routed<S, R>
where
    S: ReplicaStore + Clone + 'static,
    R: CommandRunner + Clone + 'static,
{
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        match self.mode() {
            Some(mode) => mode.append(stream_id, expected, events).await,
            None => self.store.append(stream_id, expected, events).await,
        }
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        options: ReadStreamOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        routed!(self, s => s.read_stream(stream_id, options))
    }

    async fn read_all(&self, options: ReadAllOptions) -> Result<Vec<RecordedEvent>, StoreError> {
        routed!(self, s => s.read_all(options))
    }

    async fn read_time_range(
        &self,
        from_ms: i64,
        to_ms: i64,
        options: ReadAllOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        routed!(self, s => s.read_time_range(from_ms, to_ms, options))
    }

    async fn stream_version(&self, stream_id: &str) -> Result<Option<u64>, StoreError> {
        routed!(self, s => s.stream_version(stream_id))
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        routed!(self, s => s.head_position())
    }

    async fn list_streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
        routed!(self, s => s.list_streams())
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        routed!(self, s => s.save_snapshot(snapshot))
    }

    async fn load_snapshot(
        &self,
        stream_id: &str,
        schema_version: u32,
        at_or_below: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError> {
        routed!(self, s => s.load_snapshot(stream_id, schema_version, at_or_below))
    }

    async fn list_snapshots(&self, stream_id: &str) -> Result<Vec<Snapshot>, StoreError> {
        routed!(self, s => s.list_snapshots(stream_id))
    }

    async fn snapshot_count(&self) -> Result<u64, StoreError> {
        routed!(self, s => s.snapshot_count())
    }

    async fn save_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), StoreError> {
        routed!(self, s => s.save_checkpoint(checkpoint))
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        routed!(self, s => s.load_checkpoint(name))
    }

    async fn import_events(&self, events: Vec<RecordedEvent>) -> Result<u64, StoreError> {
        routed!(self, s => s.import_events(events))
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        routed!(self, s => s.stats())
    }
}
