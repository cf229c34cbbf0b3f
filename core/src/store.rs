//! The event store contract every backend implements.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use std::rc::Rc;

use crate::error::StoreError;
use crate::event::{AppendResult, ExpectedVersion, NewEvent, RecordedEvent};
use crate::stats::{compute_stats, StoreStats};

/// Which way to read a stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// Oldest first.
    #[default]
    Forward,
    /// Newest first.
    Backward,
}

/// Options for [`EventStore::read_stream`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReadStreamOptions {
    /// First version to return (inclusive). Forwards the default is 1; backwards it is
    /// the stream's last version.
    pub from_version: Option<u64>,
    /// Return at most this many events.
    pub limit: Option<usize>,
    /// Forwards (oldest first) or backwards (newest first).
    pub direction: Direction,
}

/// Options for [`EventStore::read_all`], the global log over every stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReadAllOptions {
    /// First global position to return (inclusive); 0 and 1 both mean the start.
    pub from_position: u64,
    /// Return at most this many events (after filtering).
    pub limit: Option<usize>,
    /// Only events of these types; `None` means every type.
    pub event_types: Option<Vec<String>>,
    /// Only events whose stream id starts with this prefix (a category such as `order-`).
    pub stream_prefix: Option<String>,
}

impl ReadAllOptions {
    /// Whether `event` passes the type and stream-prefix filters.
    pub fn matches(&self, event: &RecordedEvent) -> bool {
        self.matches_parts(&event.event_type, &event.stream_id)
    }

    /// Whether an event of `event_type` in `stream_id` passes the filters (for stores that
    /// can look at those two fields before decoding the rest of a stored event).
    pub fn matches_parts(&self, event_type: &str, stream_id: &str) -> bool {
        self.event_types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == event_type))
            && self
                .stream_prefix
                .as_ref()
                .is_none_or(|prefix| stream_id.starts_with(prefix.as_str()))
    }
}

/// A stream as listed by [`EventStore::list_streams`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamInfo {
    /// The stream's id.
    pub stream_id: String,
    /// The stream's type (category): its id up to the first `-`, see [`stream_category`].
    pub stream_type: String,
    /// The stream's current version: the version of its last event.
    pub version: u64,
    /// Global position of the stream's last event.
    pub last_position: u64,
    /// When the stream's last event was recorded (ms since the Unix epoch).
    pub updated_at: i64,
}

/// The category of a stream: its id up to the first `-` (`account-1` is an `account`),
/// or the whole id when it has no `-`.
pub fn stream_category(stream_id: &str) -> &str {
    stream_id.split_once('-').map_or(stream_id, |(c, _)| c)
}

/// A saved aggregate state at a stream version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The stream whose state this is.
    pub stream_id: String,
    /// The stream version the state includes (every event up to and including it).
    pub version: u64,
    /// Schema version of `state`; a snapshot of another schema version is never used.
    pub schema_version: u32,
    /// The serialized state.
    pub state: Value,
    /// When the snapshot was taken (ms since the Unix epoch).
    pub taken_at: i64,
}

/// A projection's progress and state, saved together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// The projection's name.
    pub name: String,
    /// Global position of the last event the projection has processed (0: none).
    pub position: u64,
    /// The projection's state after processing that event.
    pub state: Value,
    /// When the checkpoint was saved (ms since the Unix epoch).
    pub updated_at: i64,
}

/// An append-only event store: streams of events with optimistic concurrency, a global
/// log, snapshots and projection checkpoints.
///
/// Invariants every implementation keeps (checked by the conformance suite):
/// - stream versions start at 1 and are contiguous;
/// - global positions start at 1, are gapless, and totally order all events;
/// - an append is atomic: every event of the batch is written, or none is;
/// - an append is exactly idempotent by event id: re-appending a batch whose ids are all
///   stored in that stream returns the original [`AppendResult`] and writes nothing, and
///   a batch that only partly overlaps stored ids is rejected;
/// - an import ([`import_events`](EventStore::import_events)) is atomic over all its
///   streams and writes only events that continue every stream and the log exactly;
/// - every accepted value keeps to [`crate::limits`], so it can be read, exported and
///   imported back.
///
/// The futures have no `Send` bound, so single-threaded backends such as IndexedDB can
/// implement the trait.
#[allow(async_fn_in_trait)] // deliberate: no `Send` bound, see above
pub trait EventStore {
    /// Appends `events` to `stream_id` if the stream is at `expected`.
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError>;

    /// Reads one stream.
    async fn read_stream(
        &self,
        stream_id: &str,
        options: ReadStreamOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Reads the global log in position order.
    async fn read_all(&self, options: ReadAllOptions) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Events recorded in `[from_ms, to_ms)` that pass `options` (from its position on,
    /// of its types and stream prefix), in position order, at most `options.limit`: a
    /// page of a time-filtered log, as [`read_all`](EventStore::read_all) gives one of
    /// the whole log.
    async fn read_time_range(
        &self,
        from_ms: i64,
        to_ms: i64,
        options: ReadAllOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The stream's current version, `None` when it does not exist.
    async fn stream_version(&self, stream_id: &str) -> Result<Option<u64>, StoreError>;

    /// The global position of the newest event, 0 when the store is empty.
    async fn head_position(&self) -> Result<u64, StoreError>;

    /// Every stream with its type and version, ordered by stream id.
    async fn list_streams(&self) -> Result<Vec<StreamInfo>, StoreError>;

    /// Saves a snapshot; one for the same stream and version is replaced.
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError>;

    /// The snapshot of `stream_id` with `schema_version` at the highest version that is
    /// at most `at_or_below` (any version when `None`).
    async fn load_snapshot(
        &self,
        stream_id: &str,
        schema_version: u32,
        at_or_below: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError>;

    /// Every snapshot of `stream_id`, oldest version first.
    async fn list_snapshots(&self, stream_id: &str) -> Result<Vec<Snapshot>, StoreError>;

    /// How many snapshots the store holds, over all streams.
    async fn snapshot_count(&self) -> Result<u64, StoreError>;

    /// Saves a projection checkpoint (position and state together), replacing the last.
    async fn save_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), StoreError>;

    /// The last saved checkpoint of projection `name`.
    async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError>;

    /// Writes events recorded elsewhere (an NDJSON import, a backup) as they were
    /// recorded: with their ids, versions, positions, `recorded_at`, types, schema
    /// versions, payloads and metadata, all in one atomic write like
    /// [`append`](EventStore::append): every event is written, or none is. Returns how
    /// many events were written.
    ///
    /// One import may carry events of many streams, in log order. Inside its write
    /// transaction the store checks, with
    /// [`plan_import`](crate::append::plan_import), that each event continues its
    /// stream's version exactly (the first event of a stream is `current + 1`, and so on)
    /// and the global log's positions exactly (`head + 1, head + 2, ...`), that every
    /// event obeys the [limits](crate::limits), and that no id is already stored
    /// ([`StoreError::DuplicateEventId`]); otherwise it writes nothing. Skipping events
    /// that are already stored is the caller's decision, made by comparing content
    /// ([`import_ndjson`](crate::import_ndjson) does).
    ///
    /// The default refuses with [`StoreError::InvalidInput`]: a store that cannot keep
    /// positions and times cannot import.
    async fn import_events(&self, events: Vec<RecordedEvent>) -> Result<u64, StoreError> {
        let _ = events;
        Err(StoreError::InvalidInput(
            "this store cannot import events with their original ids, positions and times; import into a store that implements import_events".into(),
        ))
    }

    /// Counts of events (by type and by UTC day), streams and snapshots. The default
    /// pages through the global log with [`read_all`](EventStore::read_all); a backend
    /// with suitable indexes may override it.
    async fn stats(&self) -> Result<StoreStats, StoreError> {
        compute_stats(self).await
    }
}

/// Forwards every method, so engine types can own a `&S` or an `Rc<S>` as their store.
macro_rules! forward_event_store {
    ($($ty:ty),*) => {$(
        impl<S: EventStore + ?Sized> EventStore for $ty {
            async fn append(
                &self,
                stream_id: &str,
                expected: ExpectedVersion,
                events: Vec<NewEvent>,
            ) -> Result<AppendResult, StoreError> {
                (**self).append(stream_id, expected, events).await
            }
            async fn read_stream(
                &self,
                stream_id: &str,
                options: ReadStreamOptions,
            ) -> Result<Vec<RecordedEvent>, StoreError> {
                (**self).read_stream(stream_id, options).await
            }
            async fn read_all(
                &self,
                options: ReadAllOptions,
            ) -> Result<Vec<RecordedEvent>, StoreError> {
                (**self).read_all(options).await
            }
            async fn read_time_range(
                &self,
                from_ms: i64,
                to_ms: i64,
                options: ReadAllOptions,
            ) -> Result<Vec<RecordedEvent>, StoreError> {
                (**self).read_time_range(from_ms, to_ms, options).await
            }
            async fn stream_version(&self, stream_id: &str) -> Result<Option<u64>, StoreError> {
                (**self).stream_version(stream_id).await
            }
            async fn head_position(&self) -> Result<u64, StoreError> {
                (**self).head_position().await
            }
            async fn list_streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
                (**self).list_streams().await
            }
            async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
                (**self).save_snapshot(snapshot).await
            }
            async fn load_snapshot(
                &self,
                stream_id: &str,
                schema_version: u32,
                at_or_below: Option<u64>,
            ) -> Result<Option<Snapshot>, StoreError> {
                (**self).load_snapshot(stream_id, schema_version, at_or_below).await
            }
            async fn list_snapshots(&self, stream_id: &str) -> Result<Vec<Snapshot>, StoreError> {
                (**self).list_snapshots(stream_id).await
            }
            async fn snapshot_count(&self) -> Result<u64, StoreError> {
                (**self).snapshot_count().await
            }
            async fn save_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), StoreError> {
                (**self).save_checkpoint(checkpoint).await
            }
            async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
                (**self).load_checkpoint(name).await
            }
            async fn import_events(&self, events: Vec<RecordedEvent>) -> Result<u64, StoreError> {
                (**self).import_events(events).await
            }
            async fn stats(&self) -> Result<StoreStats, StoreError> {
                (**self).stats().await
            }
        }
    )*};
}

forward_event_store!(&S, Rc<S>);
