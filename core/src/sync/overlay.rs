//! [`Overlay`]: the confirmed log with pending batches on top, as one [`EventStore`].

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::append::{plan_append, AppendContext, AppendPlan};
use crate::clock::{Clock, IdSource};
use crate::error::StoreError;
use crate::event::{AppendResult, ExpectedVersion, NewEvent, RecordedEvent};
use crate::store::{
    stream_category, Checkpoint, Direction, EventStore, ReadAllOptions, ReadStreamOptions,
    Snapshot, StreamInfo,
};

use super::PendingBatch;

/// An append an [`Overlay`] recorded instead of writing it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The stream.
    pub stream_id: String,
    /// The expected version it was checked against (the overlay's version).
    pub expected: ExpectedVersion,
    /// The events as decided (ids as given, possibly none).
    pub events: Vec<NewEvent>,
}

/// What a replica shows: the confirmed log of `base` (server positions), then events
/// confirmed but not yet written (a pulled page being planned), then the unconfirmed
/// events of the pending batches, in outbox order, with provisional versions and
/// positions continuing the confirmed ones and the batch's `created_at` as their time.
///
/// A snapshot of the replica when it was built: build one per read (or per command).
/// Reads of the base stop at its head as it was then, so sync confirming more events
/// meanwhile does not show them twice (once confirmed, once still pending); build it
/// from a [`ReplicaState`](super::ReplicaState) read together with that head (see
/// [`Replica::view`](super::Replica::view)).
/// It is an [`EventStore`], so command handlers, projection runners and exports work on
/// it unchanged, with three rules that keep the confirmed prefix the only durable truth:
/// - [`append`](EventStore::append) writes nothing: it checks the expected version
///   against the overlay and records a [`Decision`] ([`Overlay::decisions`]);
/// - a checkpoint past the confirmed head and a snapshot past a stream's confirmed
///   version are not saved (pending events may still be replaced or dropped), so a
///   projection's checkpoint covers only confirmed events and a runner built on a fresh
///   overlay folds the pending ones on top at read time;
/// - [`import_events`](EventStore::import_events) is refused: only sync writes the log.
pub struct Overlay<S> {
    base: S,
    base_head: u64,
    base_versions: BTreeMap<String, Option<u64>>,
    /// Events past the base's head: confirmed ones first (`confirmed_tail` of them).
    tail: Vec<RecordedEvent>,
    decisions: RefCell<Vec<Decision>>,
}

/// A clock standing still, for the overlay's provisional events.
struct Fixed(i64);

impl Clock for Fixed {
    fn now_ms(&self) -> i64 {
        self.0
    }
}

/// Placeholder ids for decided events that have none (the replica assigns real ones).
struct Unassigned;

impl IdSource for Unassigned {
    fn next_id(&self) -> String {
        "unassigned".to_string()
    }
}

impl<S: EventStore> Overlay<S> {
    /// The view of `base` (the confirmed log) with `confirmed` (events continuing it, not
    /// yet written) and then `pending` on top.
    pub async fn new(
        base: S,
        confirmed: Vec<RecordedEvent>,
        pending: &[PendingBatch],
    ) -> Result<Self, StoreError> {
        let base_head = base.head_position().await?;
        let mut overlay = Self {
            base,
            base_head,
            base_versions: BTreeMap::new(),
            tail: Vec::new(),
            decisions: RefCell::new(Vec::new()),
        };
        for stream in confirmed
            .iter()
            .map(|e| e.stream_id.as_str())
            .chain(pending.iter().map(|b| b.stream_id.as_str()))
        {
            overlay.capture_version(stream).await?;
        }
        overlay.tail = confirmed;
        for batch in pending {
            overlay.stack(batch);
        }
        Ok(overlay)
    }

    /// Puts `batch`'s unconfirmed events on top, after the events already shown (as
    /// [`new`](Self::new) does with each pending batch): a rebase builds one overlay and
    /// stacks each batch as it keeps or decides it, instead of a new overlay per batch.
    pub async fn push_batch(&mut self, batch: &PendingBatch) -> Result<(), StoreError> {
        self.capture_version(&batch.stream_id).await?;
        self.stack(batch);
        Ok(())
    }

    /// Reads the stream's base version once (at the base head) into `base_versions`.
    async fn capture_version(&mut self, stream_id: &str) -> Result<(), StoreError> {
        if !self.base_versions.contains_key(stream_id) {
            let version = self.base_version(stream_id).await?;
            self.base_versions.insert(stream_id.to_string(), version);
        }
        Ok(())
    }

    /// Stacks `batch`, whose stream's base version is in `base_versions`.
    fn stack(&mut self, batch: &PendingBatch) {
        let mut version = self.version_of(&batch.stream_id).unwrap_or(0);
        for event in batch.unconfirmed() {
            version = version.saturating_add(1);
            let position = self.head().saturating_add(1);
            self.tail.push(RecordedEvent {
                event_id: event.event_id.clone().unwrap_or_default(),
                stream_id: batch.stream_id.clone(),
                version,
                position,
                event_type: event.event_type.clone(),
                schema_version: event.schema_version,
                data: event.data.clone(),
                metadata: event.metadata.clone(),
                recorded_at: batch.created_at,
            });
        }
    }

    /// The appends recorded so far, in order.
    pub fn decisions(&self) -> Vec<Decision> {
        self.decisions.borrow().clone()
    }

    /// The appends recorded so far, in order, forgetting them.
    pub fn take_decisions(&self) -> Vec<Decision> {
        std::mem::take(&mut *self.decisions.borrow_mut())
    }

    /// The confirmed store underneath.
    pub fn base(&self) -> &S {
        &self.base
    }

    fn head(&self) -> u64 {
        self.tail.last().map_or(self.base_head, |e| e.position)
    }

    /// The stream's version in the overlay (`None`: no stream), for a stream of the
    /// tail or the pending batches (the ones `base_versions` holds).
    fn version_of(&self, stream_id: &str) -> Option<u64> {
        self.tail
            .iter()
            .rev()
            .find(|e| e.stream_id == stream_id)
            .map(|e| e.version)
            .or_else(|| self.base_versions.get(stream_id).copied().flatten())
    }

    /// `events` of the base without those written after the overlay was built (sync
    /// confirming more meanwhile): the overlay stays the snapshot it was.
    fn at_head(&self, mut events: Vec<RecordedEvent>) -> Vec<RecordedEvent> {
        events.retain(|e| e.position <= self.base_head);
        events
    }

    /// The stream's version in the base as of the overlay's base head: captured for the
    /// streams of the tail, else its newest event at or below the head (one read of the
    /// newest event; more only when sync confirmed events of the stream since).
    async fn base_version(&self, stream_id: &str) -> Result<Option<u64>, StoreError> {
        if let Some(v) = self.base_versions.get(stream_id) {
            return Ok(*v);
        }
        let (mut from, mut limit) = (None, 1);
        loop {
            let older = self
                .base
                .read_stream(
                    stream_id,
                    ReadStreamOptions {
                        from_version: from,
                        limit: Some(limit),
                        direction: Direction::Backward,
                    },
                )
                .await?;
            if let Some(e) = older.iter().find(|e| e.position <= self.base_head) {
                return Ok(Some(e.version));
            }
            match older.last() {
                Some(e) if e.version > 1 => (from, limit) = (Some(e.version - 1), 16),
                _ => return Ok(None),
            }
        }
    }
}

impl<S: EventStore> EventStore for Overlay<S> {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        let stored_ids = vec![None; events.len()];
        let ctx = AppendContext {
            current_version: self.stream_version(stream_id).await?,
            head_position: self.head(),
            stored_ids: &stored_ids,
        };
        // The shared planner checks the input and the version exactly as a store would.
        let plan = plan_append(
            stream_id,
            expected,
            events.clone(),
            ctx,
            &Fixed(0),
            &Unassigned,
        )?;
        let AppendPlan::Write(recorded) = plan else {
            return Err(StoreError::InvalidInput(
                "an overlay has no stored ids".to_string(),
            ));
        };
        let result = AppendResult::of(&recorded).ok_or_else(|| {
            StoreError::InvalidInput(format!(
                "append to stream '{stream_id}' needs at least one event"
            ))
        })?;
        self.decisions.borrow_mut().push(Decision {
            stream_id: stream_id.to_string(),
            expected,
            events,
        });
        Ok(result)
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        options: ReadStreamOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = options.limit.unwrap_or(usize::MAX);
        let tail = self.tail.iter().filter(|e| e.stream_id == stream_id);
        match options.direction {
            Direction::Forward => {
                let from = options.from_version.unwrap_or(1).max(1);
                let mut out = match self.base_version(stream_id).await? {
                    Some(v) if v >= from => {
                        self.at_head(self.base.read_stream(stream_id, options).await?)
                    }
                    _ => Vec::new(),
                };
                let rest = limit.saturating_sub(out.len());
                out.extend(tail.filter(|e| e.version >= from).take(rest).cloned());
                Ok(out)
            }
            Direction::Backward => {
                let top = self.version_of(stream_id).unwrap_or(0);
                let from = options.from_version.unwrap_or(top).min(top);
                let mut out: Vec<RecordedEvent> = tail
                    .filter(|e| e.version <= from)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .take(limit)
                    .cloned()
                    .collect();
                let rest = limit.saturating_sub(out.len());
                let base = self.base_version(stream_id).await?.unwrap_or(0);
                if rest > 0 && base > 0 && from > 0 {
                    let older = self
                        .base
                        .read_stream(
                            stream_id,
                            ReadStreamOptions {
                                from_version: Some(from.min(base)),
                                limit: Some(rest),
                                direction: Direction::Backward,
                            },
                        )
                        .await?;
                    out.extend(self.at_head(older));
                }
                Ok(out)
            }
        }
    }

    async fn read_all(&self, options: ReadAllOptions) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = options.limit.unwrap_or(usize::MAX);
        let mut out = if options.from_position <= self.base_head {
            self.at_head(self.base.read_all(options.clone()).await?)
        } else {
            Vec::new()
        };
        let rest = limit.saturating_sub(out.len());
        out.extend(
            self.tail
                .iter()
                .filter(|e| e.position >= options.from_position && options.matches(e))
                .take(rest)
                .cloned(),
        );
        Ok(out)
    }

    async fn read_time_range(
        &self,
        from_ms: i64,
        to_ms: i64,
        options: ReadAllOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = options.limit.unwrap_or(usize::MAX);
        let mut out = if options.from_position <= self.base_head {
            let base = self
                .base
                .read_time_range(from_ms, to_ms, options.clone())
                .await?;
            self.at_head(base)
        } else {
            Vec::new()
        };
        let rest = limit.saturating_sub(out.len());
        out.extend(
            self.tail
                .iter()
                .filter(|e| {
                    e.position >= options.from_position
                        && e.recorded_at >= from_ms
                        && e.recorded_at < to_ms
                        && options.matches(e)
                })
                .take(rest)
                .cloned(),
        );
        Ok(out)
    }

    async fn stream_version(&self, stream_id: &str) -> Result<Option<u64>, StoreError> {
        match self.tail.iter().rev().find(|e| e.stream_id == stream_id) {
            Some(e) => Ok(Some(e.version)),
            None => self.base_version(stream_id).await,
        }
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        Ok(self.head())
    }

    async fn list_streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
        // A stream sync confirmed after the overlay was built shows its newer head (its
        // id and category are what callers list streams for); the tail's streams show
        // the overlay's.
        let mut streams: BTreeMap<String, StreamInfo> = self
            .base
            .list_streams()
            .await?
            .into_iter()
            .map(|s| (s.stream_id.clone(), s))
            .collect();
        for e in &self.tail {
            streams.insert(
                e.stream_id.clone(),
                StreamInfo {
                    stream_id: e.stream_id.clone(),
                    stream_type: stream_category(&e.stream_id).to_string(),
                    version: e.version,
                    last_position: e.position,
                    updated_at: e.recorded_at,
                },
            );
        }
        Ok(streams.into_values().collect())
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        match self.base_version(&snapshot.stream_id).await? {
            Some(v) if snapshot.version <= v => self.base.save_snapshot(snapshot).await,
            _ => Ok(()),
        }
    }

    async fn load_snapshot(
        &self,
        stream_id: &str,
        schema_version: u32,
        at_or_below: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError> {
        self.base
            .load_snapshot(stream_id, schema_version, at_or_below)
            .await
    }

    async fn list_snapshots(&self, stream_id: &str) -> Result<Vec<Snapshot>, StoreError> {
        self.base.list_snapshots(stream_id).await
    }

    async fn snapshot_count(&self) -> Result<u64, StoreError> {
        self.base.snapshot_count().await
    }

    async fn save_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), StoreError> {
        if checkpoint.position <= self.base_head {
            self.base.save_checkpoint(checkpoint).await
        } else {
            Ok(())
        }
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.base.load_checkpoint(name).await
    }

    async fn import_events(&self, events: Vec<RecordedEvent>) -> Result<u64, StoreError> {
        let _ = events;
        Err(StoreError::InvalidInput(
            "a replica's view cannot import: its confirmed log is written by sync only".into(),
        ))
    }
}
