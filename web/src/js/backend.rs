//! The storage behind a `Chronik` instance: IndexedDB or memory, behind one
//! [`EventStore`] so that every engine type (handlers, projection runners) runs on both.
//!
//! This is the one seam every write and read of the API goes through, so it is also
//! where sync takes over: the backend reads and writes through the shared
//! [`Routed`] store of `chronik_idb::replica_mode`. Once `db.sync()` runs, it is in
//! replica mode ([`Mode`]): reads go through the replica's
//! [`Overlay`](chronik_core::sync::Overlay) (the server-confirmed log, then the pending
//! batches), appends become pending batches, and the store's own log ([`Confirmed`]) is
//! written by the sync engine only.

use chronik_core::{
    AppendResult, Checkpoint, EventStore, ExpectedVersion, MemoryStore, NewEvent, ReadAllOptions,
    ReadStreamOptions, RecordedEvent, Snapshot, StoreError, StoreStats, StreamInfo,
};

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use chronik_core::sync::{ReplicaState, ReplicaStore, ReplicaWrite};
use chronik_idb::replica_mode::{ReplicaMode, Routed};
use chronik_idb::IdbStore;

/// What decides a pending command again when sync rebases it: the example domains'
/// commands by name.
#[cfg(feature = "examples")]
pub type Runner = chronik_examples::commands::DomainCommands;

/// Without the example domains no command is kept by name: every local write is a raw
/// append, pushed as it is.
#[cfg(not(feature = "examples"))]
pub type Runner = NoCommands;

/// The runner of a build without the example domains: it knows no command.
#[cfg(not(feature = "examples"))]
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCommands;

#[cfg(not(feature = "examples"))]
impl chronik_core::sync::CommandRunner for NoCommands {
    async fn run<S: EventStore>(
        &self,
        _store: &S,
        command: &chronik_core::sync::PendingCommand,
    ) -> Result<(), chronik_core::sync::RunError> {
        Err(chronik_core::sync::RunError::Failed(format!(
            "unknown command '{}': this build has no command registry",
            command.name
        )))
    }
}

/// A syncing database's replica mode: local writes through the replica, and the sync
/// when connected.
pub type Mode = ReplicaMode<Confirmed, Runner>;

/// The store the API reads and writes through: the store itself, or the replica's view
/// in replica mode.
pub type RoutedStore = Routed<Confirmed, Runner>;

/// The store's own log, as it is: in replica mode, the server-confirmed log, which only
/// the sync engine writes (through [`ReplicaStore::write_replica`]).
#[derive(Clone)]
pub struct Confirmed(pub Rc<Store>);

/// The store itself: IndexedDB in the browser, or memory (browser or Node).
pub enum Store {
    /// `Chronik.inMemory()`.
    Memory(MemoryStore),
    /// `Chronik.open(name)`.
    Idb(IdbStore),
}

/// The store of one `Chronik` instance, which `close()` can close under every handle
/// that shares it.
///
/// Every API call holds a [`Busy`] from the moment it is made until it settles. `close`
/// refuses new calls at once (`DatabaseClosed`) and drops the store when the last call
/// in flight has settled, so a call made before `close` finishes normally and the
/// IndexedDB connection closes right after it.
pub struct Backend {
    store: RefCell<Option<Rc<RoutedStore>>>,
    busy: Cell<usize>,
    closing: Cell<bool>,
}

/// A call in flight: keeps the store open until it is dropped.
pub struct Busy(Rc<Backend>);

impl Drop for Busy {
    fn drop(&mut self) {
        let backend = &self.0;
        backend.busy.set(backend.busy.get().saturating_sub(1));
        if backend.closing.get() && backend.busy.get() == 0 {
            backend.store.borrow_mut().take();
        }
    }
}

impl Backend {
    /// A backend over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store: RefCell::new(Some(Rc::new(Routed::new(Confirmed(Rc::new(store)))))),
            busy: Cell::new(0),
            closing: Cell::new(false),
        }
    }

    /// The error of a call made after `close()`.
    pub fn closed() -> StoreError {
        StoreError::Closed("this database was closed with close(); open it again".into())
    }

    /// Starts a call: `Err` once `close` was called.
    pub fn begin(self: &Rc<Self>) -> Result<Busy, StoreError> {
        if self.closing.get() {
            return Err(Self::closed());
        }
        self.busy.set(self.busy.get() + 1);
        Ok(Busy(Rc::clone(self)))
    }

    /// Whether `close` was called.
    pub fn is_closed(&self) -> bool {
        self.closing.get()
    }

    /// Refuses new calls, stops the sync, and closes the store once the calls in flight
    /// have settled.
    pub fn close(&self) {
        self.closing.set(true);
        let routed = self.store.borrow().clone();
        if let Some(mode) = routed.and_then(|r| r.clear_mode()) {
            mode.disconnect();
        }
        if self.busy.get() == 0 {
            self.store.borrow_mut().take();
        }
    }

    /// What the API reads and writes through, unless the store was closed.
    pub fn routed(&self) -> Result<Rc<RoutedStore>, StoreError> {
        self.store.borrow().clone().ok_or_else(Self::closed)
    }

    /// The store, unless it was closed.
    pub fn store(&self) -> Result<Rc<Store>, StoreError> {
        self.confirmed().map(|c| c.0)
    }

    /// The store's own log: the confirmed log when syncing, else the whole store.
    pub fn confirmed(&self) -> Result<Confirmed, StoreError> {
        self.routed().map(|r| r.inner().clone())
    }

    /// The replica mode, once `db.sync()` entered it (a stopped sync leaves the backend
    /// in replica mode: writes stay pending batches, the store's log being the
    /// server's, kept for the next `db.sync()`).
    pub fn replica(&self) -> Option<Rc<Mode>> {
        self.store.borrow().as_ref().and_then(|r| r.mode())
    }

    /// The IndexedDB store, when this is one, it is open and its rows are the API's view
    /// (not syncing: then reads go through the replica's view).
    pub fn direct_idb(&self) -> Option<Rc<Store>> {
        if self.replica().is_some() {
            return None;
        }
        self.idb()
    }

    /// The IndexedDB store, when this is one and it is open.
    pub fn idb(&self) -> Option<Rc<Store>> {
        self.store().ok().filter(|s| matches!(**s, Store::Idb(_)))
    }
}

/// Calls the same method on whichever store is in use.
macro_rules! dispatch {
    ($store:expr, $s:ident => $call:expr) => {{
        match &*$store {
            Store::Memory($s) => $call.await,
            Store::Idb($s) => $call.await,
        }
    }};
}

/// Calls the method on the routed store, unless it was closed.
macro_rules! routed {
    ($self:expr, $s:ident => $call:expr) => {{
        let $s = $self.routed()?;
        $call.await
    }};
}

impl EventStore for Confirmed {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        dispatch!(self.0, s => s.append(stream_id, expected, events))
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        options: ReadStreamOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        dispatch!(self.0, s => s.read_stream(stream_id, options))
    }

    async fn read_all(&self, options: ReadAllOptions) -> Result<Vec<RecordedEvent>, StoreError> {
        dispatch!(self.0, s => s.read_all(options))
    }

    async fn read_time_range(
        &self,
        from_ms: i64,
        to_ms: i64,
        options: ReadAllOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        dispatch!(self.0, s => s.read_time_range(from_ms, to_ms, options))
    }

    async fn stream_version(&self, stream_id: &str) -> Result<Option<u64>, StoreError> {
        dispatch!(self.0, s => s.stream_version(stream_id))
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        dispatch!(self.0, s => s.head_position())
    }

    async fn list_streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
        dispatch!(self.0, s => s.list_streams())
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        dispatch!(self.0, s => s.save_snapshot(snapshot))
    }

    async fn load_snapshot(
        &self,
        stream_id: &str,
        schema_version: u32,
        at_or_below: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError> {
        dispatch!(self.0, s => s.load_snapshot(stream_id, schema_version, at_or_below))
    }

    async fn list_snapshots(&self, stream_id: &str) -> Result<Vec<Snapshot>, StoreError> {
        dispatch!(self.0, s => s.list_snapshots(stream_id))
    }

    async fn snapshot_count(&self) -> Result<u64, StoreError> {
        dispatch!(self.0, s => s.snapshot_count())
    }

    async fn save_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), StoreError> {
        dispatch!(self.0, s => s.save_checkpoint(checkpoint))
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        dispatch!(self.0, s => s.load_checkpoint(name))
    }

    async fn import_events(&self, events: Vec<RecordedEvent>) -> Result<u64, StoreError> {
        dispatch!(self.0, s => s.import_events(events))
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        dispatch!(self.0, s => s.stats())
    }
}

impl ReplicaStore for Confirmed {
    async fn replica_state(&self) -> Result<ReplicaState, StoreError> {
        dispatch!(self.0, s => s.replica_state())
    }

    async fn write_replica(&self, write: ReplicaWrite) -> Result<ReplicaState, StoreError> {
        dispatch!(self.0, s => s.write_replica(write))
    }

    async fn adopt_local_log(&self) -> Result<ReplicaState, StoreError> {
        dispatch!(self.0, s => s.adopt_local_log())
    }
}

impl EventStore for Backend {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        // In replica mode a pending batch, shown at once and pushed by the sync; its
        // versions and positions are provisional until the server confirms it.
        routed!(self, s => s.append(stream_id, expected, events))
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
