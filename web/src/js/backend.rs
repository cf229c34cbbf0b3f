//! The storage behind a `Chronik` instance: IndexedDB or memory, behind one
//! [`EventStore`] so that every engine type (handlers, projection runners) runs on both.

use chronik_core::{
    AppendResult, Checkpoint, EventStore, ExpectedVersion, MemoryStore, NewEvent, ReadAllOptions,
    ReadStreamOptions, RecordedEvent, Snapshot, StoreError, StoreStats, StreamInfo,
};

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use chronik_idb::IdbStore;

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
    store: RefCell<Option<Rc<Store>>>,
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
            store: RefCell::new(Some(Rc::new(store))),
            busy: Cell::new(0),
            closing: Cell::new(false),
        }
    }

    fn closed() -> StoreError {
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

    /// Refuses new calls and closes the store once the calls in flight have settled.
    pub fn close(&self) {
        self.closing.set(true);
        if self.busy.get() == 0 {
            self.store.borrow_mut().take();
        }
    }

    /// The store, unless it was closed.
    pub fn store(&self) -> Result<Rc<Store>, StoreError> {
        self.store.borrow().clone().ok_or_else(Self::closed)
    }

    /// The IndexedDB store, when this is one and it is open.
    pub fn idb(&self) -> Option<Rc<Store>> {
        self.store
            .borrow()
            .clone()
            .filter(|s| matches!(**s, Store::Idb(_)))
    }
}

/// Calls the same method on whichever store is in use.
macro_rules! dispatch {
    ($self:expr, $store:ident => $call:expr) => {{
        let store = $self.store()?;
        match &*store {
            Store::Memory($store) => $call.await,
            Store::Idb($store) => $call.await,
        }
    }};
}

impl EventStore for Backend {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        dispatch!(self, s => s.append(stream_id, expected, events))
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        options: ReadStreamOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        dispatch!(self, s => s.read_stream(stream_id, options))
    }

    async fn read_all(&self, options: ReadAllOptions) -> Result<Vec<RecordedEvent>, StoreError> {
        dispatch!(self, s => s.read_all(options))
    }

    async fn read_time_range(
        &self,
        from_ms: i64,
        to_ms: i64,
        options: ReadAllOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        dispatch!(self, s => s.read_time_range(from_ms, to_ms, options))
    }

    async fn stream_version(&self, stream_id: &str) -> Result<Option<u64>, StoreError> {
        dispatch!(self, s => s.stream_version(stream_id))
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        dispatch!(self, s => s.head_position())
    }

    async fn list_streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
        dispatch!(self, s => s.list_streams())
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        dispatch!(self, s => s.save_snapshot(snapshot))
    }

    async fn load_snapshot(
        &self,
        stream_id: &str,
        schema_version: u32,
        at_or_below: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError> {
        dispatch!(self, s => s.load_snapshot(stream_id, schema_version, at_or_below))
    }

    async fn list_snapshots(&self, stream_id: &str) -> Result<Vec<Snapshot>, StoreError> {
        dispatch!(self, s => s.list_snapshots(stream_id))
    }

    async fn snapshot_count(&self) -> Result<u64, StoreError> {
        dispatch!(self, s => s.snapshot_count())
    }

    async fn save_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), StoreError> {
        dispatch!(self, s => s.save_checkpoint(checkpoint))
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        dispatch!(self, s => s.load_checkpoint(name))
    }

    async fn import_events(&self, events: Vec<RecordedEvent>) -> Result<u64, StoreError> {
        dispatch!(self, s => s.import_events(events))
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        dispatch!(self, s => s.stats())
    }
}
