//! The storage behind a `Chronik` instance: IndexedDB or memory, behind one
//! [`EventStore`] so that every engine type (handlers, projection runners) runs on both.

use chronik_core::{
    AppendResult, Checkpoint, EventStore, ExpectedVersion, MemoryStore, NewEvent, ReadAllOptions,
    ReadStreamOptions, RecordedEvent, Snapshot, StoreError, StoreStats, StreamInfo,
};

use crate::idb::IdbStore;

/// IndexedDB in the browser, or memory (browser or Node).
pub enum Backend {
    /// `Chronik.inMemory()`.
    Memory(MemoryStore),
    /// `Chronik.open(name)`.
    Idb(IdbStore),
}

/// Calls the same method on whichever store is in use.
macro_rules! dispatch {
    ($self:expr, $store:ident => $call:expr) => {
        match $self {
            Backend::Memory($store) => $call.await,
            Backend::Idb($store) => $call.await,
        }
    };
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
        limit: Option<usize>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        dispatch!(self, s => s.read_time_range(from_ms, to_ms, limit))
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

    async fn import_events(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<RecordedEvent>,
    ) -> Result<AppendResult, StoreError> {
        dispatch!(self, s => s.import_events(stream_id, expected, events))
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        dispatch!(self, s => s.stats())
    }
}
