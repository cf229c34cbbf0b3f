//! [`MemoryStore`]: the reference implementation of [`EventStore`], kept in memory.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::append::{
    import_streams, plan_append, plan_import, AppendContext, AppendPlan, ImportContext, StoredId,
};
use crate::clock::{Clock, IdSource};
use crate::error::StoreError;
use crate::event::{AppendResult, ExpectedVersion, NewEvent, RecordedEvent};
use crate::store::{
    stream_category, Checkpoint, Direction, EventStore, ReadAllOptions, ReadStreamOptions,
    Snapshot, StreamInfo,
};
use crate::sync::{
    plan_adoption_write, plan_replica_write, ReplicaContext, ReplicaState, ReplicaStore,
    ReplicaWrite,
};

#[derive(Default)]
struct Inner {
    /// The global log: `events[p - 1]` has position `p`.
    events: Vec<RecordedEvent>,
    /// Per stream, the positions of its events in version order.
    streams: BTreeMap<String, Vec<u64>>,
    /// Event id to position.
    ids: IdIndex,
    /// Snapshots by stream, then version (looked up by `&str`, without a key to build).
    snapshots: BTreeMap<String, BTreeMap<u64, Snapshot>>,
    /// How many snapshots `snapshots` holds.
    snapshot_count: u64,
    checkpoints: HashMap<String, Checkpoint>,
    /// The outbox and conflicts when the store is a replica.
    replica: ReplicaState,
}

/// The position of every stored event by its id, without a second copy of the id: an
/// entry holds the id's hash and the event's position, and a lookup compares the id
/// with the stored event's. Ids are hashed with a randomly keyed hasher, as a
/// `HashMap`'s are.
#[derive(Default)]
struct IdIndex {
    /// (hash of the id, position) per stored event.
    table: HashTable<(u64, u64)>,
    hasher: RandomState,
}

impl IdIndex {
    /// The position of the event with `id` in `events` (the log this indexes).
    fn get(&self, events: &[RecordedEvent], id: &str) -> Option<u64> {
        let hash = self.hasher.hash_one(id);
        self.table
            .find(hash, |&(h, position)| {
                h == hash && event_at(events, position).is_some_and(|e| e.event_id == id)
            })
            .map(|&(_, position)| position)
    }

    /// Makes room for `additional` more ids.
    fn reserve(&mut self, additional: usize) {
        self.table.reserve(additional, |&(hash, _)| hash);
    }

    /// Records that the event with `id` is at `position`. Ids are unique in a store: the
    /// append and import plans refuse any id already stored.
    fn insert(&mut self, id: &str, position: u64) {
        let hash = self.hasher.hash_one(id);
        self.table
            .insert_unique(hash, (hash, position), |&(hash, _)| hash);
    }

    fn clear(&mut self) {
        self.table.clear();
    }
}

/// The event at `position` of `events` (the log, `events[p - 1]` at position `p`).
fn event_at(events: &[RecordedEvent], position: u64) -> Option<&RecordedEvent> {
    let index = usize::try_from(position.checked_sub(1)?).ok()?;
    events.get(index)
}

impl Inner {
    /// The event at `position`, `None` outside the log.
    fn event(&self, position: u64) -> Option<&RecordedEvent> {
        event_at(&self.events, position)
    }

    /// The events at `positions`, in that order (every stored position is in the log).
    fn events_at<'a>(
        &'a self,
        positions: impl Iterator<Item = &'a u64> + 'a,
    ) -> impl Iterator<Item = RecordedEvent> + 'a {
        positions.filter_map(|p| self.event(*p).cloned())
    }

    /// Where each of the batch's ids is already stored.
    fn stored_ids<'a>(&self, ids: impl Iterator<Item = Option<&'a str>>) -> Vec<Option<StoredId>> {
        ids.map(|id| {
            let position = self.ids.get(&self.events, id?)?;
            let stored = self.event(position)?;
            Some(StoredId {
                stream_id: stored.stream_id.clone(),
                version: stored.version,
                position,
            })
        })
        .collect()
    }

    fn context<'a>(
        &self,
        stream_id: &str,
        stored_ids: &'a [Option<StoredId>],
    ) -> AppendContext<'a> {
        AppendContext {
            current_version: self.streams.get(stream_id).map(|s| s.len() as u64),
            head_position: self.events.len() as u64,
            stored_ids,
        }
    }

    /// The current version of every stream an import of `events` touches.
    fn import_versions(&self, events: &[RecordedEvent]) -> BTreeMap<String, u64> {
        import_streams(events)
            .into_iter()
            .filter_map(|s| Some((s.to_string(), self.streams.get(s)?.len() as u64)))
            .collect()
    }

    /// Carries out a plan; the planner has checked that versions and positions follow on.
    fn write(&mut self, stream_id: &str, plan: AppendPlan) -> Result<AppendResult, StoreError> {
        let recorded = match plan {
            AppendPlan::AlreadyAppended(result) => return Ok(result),
            AppendPlan::Write(recorded) => recorded,
        };
        let Some(result) = AppendResult::of(&recorded) else {
            return Err(StoreError::InvalidInput(format!(
                "append to stream '{stream_id}' needs at least one event"
            )));
        };
        self.push(recorded);
        Ok(result)
    }

    /// Adds planned events (versions and positions checked by the planner) to the log.
    fn push(&mut self, events: Vec<RecordedEvent>) {
        self.ids.reserve(events.len());
        for (i, event) in events.iter().enumerate() {
            // The stream's id is copied once, when the stream begins, with room for the
            // positions of the events of the stream that follow in this write.
            match self.streams.get_mut(event.stream_id.as_str()) {
                Some(positions) => positions.push(event.position),
                None => {
                    let run = events[i..]
                        .iter()
                        .take_while(|e| e.stream_id == event.stream_id)
                        .count();
                    let mut positions = Vec::with_capacity(run);
                    positions.push(event.position);
                    self.streams.insert(event.stream_id.clone(), positions);
                }
            }
            self.ids.insert(&event.event_id, event.position);
        }
        if self.events.is_empty() {
            // The first write keeps the planned events' allocation as the log.
            self.events = events;
        } else {
            self.events.extend(events);
        }
    }
}

/// An [`EventStore`] in memory: fast, complete, and gone when dropped. Used natively,
/// in tests, and in the browser or Node when no persistence is wanted.
pub struct MemoryStore {
    inner: RefCell<Inner>,
    clock: Box<dyn Clock>,
    ids: Box<dyn IdSource>,
}

impl MemoryStore {
    /// An empty store that takes time from `clock` and fresh event ids from `ids`.
    pub fn new(clock: impl Clock + 'static, ids: impl IdSource + 'static) -> Self {
        Self {
            inner: RefCell::new(Inner::default()),
            clock: Box::new(clock),
            ids: Box::new(ids),
        }
    }

    /// How many events the store holds.
    pub fn len(&self) -> usize {
        self.inner.borrow().events.len()
    }

    /// Whether the store holds no events.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl EventStore for MemoryStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        let mut inner = self.inner.borrow_mut();
        // Without ids there is nothing to look up (the planner accepts no lookups then).
        let stored_ids = if events.iter().any(|e| e.event_id.is_some()) {
            inner.stored_ids(events.iter().map(|e| e.event_id.as_deref()))
        } else {
            Vec::new()
        };
        let ctx = inner.context(stream_id, &stored_ids);
        let plan = plan_append(
            stream_id,
            expected,
            events,
            ctx,
            self.clock.as_ref(),
            self.ids.as_ref(),
        )?;
        inner.write(stream_id, plan)
    }

    async fn import_events(&self, events: Vec<RecordedEvent>) -> Result<u64, StoreError> {
        let mut inner = self.inner.borrow_mut();
        let stored_ids = inner.stored_ids(events.iter().map(|e| Some(e.event_id.as_str())));
        let stream_versions = inner.import_versions(&events);
        let plan = plan_import(
            events,
            ImportContext {
                head_position: inner.events.len() as u64,
                stream_versions: &stream_versions,
                stored_ids: &stored_ids,
            },
        )?;
        let written = plan.events.len() as u64;
        inner.push(plan.events);
        Ok(written)
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        options: ReadStreamOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let inner = self.inner.borrow();
        let Some(positions) = inner.streams.get(stream_id) else {
            return Ok(Vec::new());
        };
        let limit = options.limit.unwrap_or(usize::MAX);
        let len = positions.len() as u64;
        let events: Vec<RecordedEvent> = match options.direction {
            Direction::Forward => {
                let from = options.from_version.unwrap_or(1).max(1);
                let skip = (from - 1).min(len) as usize;
                inner
                    .events_at(positions.iter().skip(skip).take(limit))
                    .collect()
            }
            Direction::Backward => {
                let upto = options.from_version.unwrap_or(len).min(len) as usize;
                inner
                    .events_at(positions.iter().take(upto).rev().take(limit))
                    .collect()
            }
        };
        Ok(events)
    }

    async fn read_all(&self, options: ReadAllOptions) -> Result<Vec<RecordedEvent>, StoreError> {
        let inner = self.inner.borrow();
        let skip = usize::try_from(options.from_position.saturating_sub(1)).unwrap_or(usize::MAX);
        Ok(inner
            .events
            .iter()
            .skip(skip)
            .filter(|e| options.matches(e))
            .take(options.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }

    async fn read_time_range(
        &self,
        from_ms: i64,
        to_ms: i64,
        options: ReadAllOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let inner = self.inner.borrow();
        let skip = usize::try_from(options.from_position.saturating_sub(1)).unwrap_or(usize::MAX);
        Ok(inner
            .events
            .iter()
            .skip(skip)
            .filter(|e| e.recorded_at >= from_ms && e.recorded_at < to_ms && options.matches(e))
            .take(options.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }

    async fn stream_version(&self, stream_id: &str) -> Result<Option<u64>, StoreError> {
        Ok(self
            .inner
            .borrow()
            .streams
            .get(stream_id)
            .map(|s| s.len() as u64))
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        Ok(self.inner.borrow().events.len() as u64)
    }

    async fn list_streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
        let inner = self.inner.borrow();
        Ok(inner
            .streams
            .iter()
            .filter_map(|(id, positions)| {
                let last = inner.event(*positions.last()?)?;
                Some(StreamInfo {
                    stream_id: id.clone(),
                    stream_type: stream_category(id).to_string(),
                    version: positions.len() as u64,
                    last_position: last.position,
                    updated_at: last.recorded_at,
                })
            })
            .collect())
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        let inner = &mut *self.inner.borrow_mut();
        let versions = match inner.snapshots.get_mut(snapshot.stream_id.as_str()) {
            Some(versions) => versions,
            None => inner
                .snapshots
                .entry(snapshot.stream_id.clone())
                .or_default(),
        };
        if versions.insert(snapshot.version, snapshot).is_none() {
            inner.snapshot_count += 1;
        }
        Ok(())
    }

    async fn load_snapshot(
        &self,
        stream_id: &str,
        schema_version: u32,
        at_or_below: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError> {
        let inner = self.inner.borrow();
        let Some(versions) = inner.snapshots.get(stream_id) else {
            return Ok(None);
        };
        Ok(versions
            .range(..=at_or_below.unwrap_or(u64::MAX))
            .rev()
            .map(|(_, s)| s)
            .find(|s| s.schema_version == schema_version)
            .cloned())
    }

    async fn list_snapshots(&self, stream_id: &str) -> Result<Vec<Snapshot>, StoreError> {
        let inner = self.inner.borrow();
        Ok(inner
            .snapshots
            .get(stream_id)
            .map(|versions| versions.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn snapshot_count(&self) -> Result<u64, StoreError> {
        Ok(self.inner.borrow().snapshot_count)
    }

    async fn save_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), StoreError> {
        self.inner
            .borrow_mut()
            .checkpoints
            .insert(checkpoint.name.clone(), checkpoint);
        Ok(())
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self.inner.borrow().checkpoints.get(name).cloned())
    }
}

impl ReplicaStore for MemoryStore {
    async fn replica_state(&self) -> Result<ReplicaState, StoreError> {
        Ok(self.inner.borrow().replica.clone())
    }

    async fn write_replica(&self, write: ReplicaWrite) -> Result<ReplicaState, StoreError> {
        let mut inner = self.inner.borrow_mut();
        let stored_ids = inner.stored_ids(write.confirm.iter().map(|e| Some(e.event_id.as_str())));
        let stream_versions = inner.import_versions(&write.confirm);
        let (import, state) = plan_replica_write(
            write,
            ReplicaContext {
                revision: inner.replica.revision,
                synced: inner.replica.synced,
                import: ImportContext {
                    head_position: inner.events.len() as u64,
                    stream_versions: &stream_versions,
                    stored_ids: &stored_ids,
                },
            },
        )?;
        if let Some(import) = import {
            inner.push(import.events);
        }
        inner.replica = state.clone();
        Ok(state)
    }

    async fn adopt_local_log(&self) -> Result<ReplicaState, StoreError> {
        let mut inner = self.inner.borrow_mut();
        let state = plan_adoption_write(inner.replica.clone(), &inner.events)?;
        inner.events.clear();
        inner.streams.clear();
        inner.ids.clear();
        inner.snapshots.clear();
        inner.snapshot_count = 0;
        inner.checkpoints.clear();
        inner.replica = state.clone();
        Ok(state)
    }
}
