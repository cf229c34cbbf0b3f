//! The command handler: load an aggregate (nearest snapshot + tail, upcast), decide,
//! append with an exact expected version, retry on conflict, snapshot by policy; and
//! temporal queries (state at a version, state at a time).

use std::marker::PhantomData;

use serde_json::Value;

use crate::aggregate::{Aggregate, AggregateState, DomainEvent};
use crate::error::StoreError;
use crate::event::{ExpectedVersion, Metadata, NewEvent, RecordedEvent};
use crate::store::{Direction, EventStore, ReadStreamOptions, Snapshot};
use crate::upcast::{UpcastError, Upcasters};

/// How many events are read per page while rebuilding an aggregate.
const PAGE: usize = 1_000;

/// When the handler saves a snapshot of an aggregate after an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotPolicy {
    /// Never snapshot: every load replays the whole stream.
    Off,
    /// Snapshot whenever an append crosses a multiple of this many events (so with 10:
    /// at version 10, 20, ... or the end of the batch that passed it). Must be > 0.
    Every(u64),
}

impl Default for SnapshotPolicy {
    /// Every 10 events.
    fn default() -> Self {
        SnapshotPolicy::Every(10)
    }
}

impl SnapshotPolicy {
    /// Whether an append that moved a stream from `before` to `after` should snapshot.
    pub fn should_snapshot(self, before: u64, after: u64) -> bool {
        match self {
            SnapshotPolicy::Off => false,
            SnapshotPolicy::Every(0) => false,
            SnapshotPolicy::Every(n) => before / n != after / n,
        }
    }
}

/// Who is asking and why: enriches every event a command records.
///
/// Each event gets `causation_id` = the command id and `correlation_id` = the given
/// correlation id (or the command id when none is given, starting a new correlation),
/// plus `extra`. When a command id is given, the events get the ids `{command_id}-1`,
/// `{command_id}-2`, ...: a command handled again (say, after a lost answer) never
/// writes twice. If it decides events again, the store recognizes the ids and the
/// outcome reports the originally stored events; if it now decides more events than
/// before, the append fails with [`StoreError::PartialDuplicate`]; if the aggregate now
/// rejects it, that rejection is returned.
///
/// Snapshots saved by the handler carry, as `taken_at`, the `recorded_at` of the last
/// event they include: the store's clock at the append that triggered them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandContext {
    /// The command's unique id, if the caller has one.
    pub command_id: Option<String>,
    /// The correlation id of the request the command belongs to.
    pub correlation_id: Option<String>,
    /// Free key/values copied into every event's metadata (user id, ...).
    pub extra: std::collections::BTreeMap<String, Value>,
}

impl CommandContext {
    /// A context for the command with `command_id`.
    pub fn new(command_id: impl Into<String>) -> Self {
        Self {
            command_id: Some(command_id.into()),
            ..Self::default()
        }
    }

    /// Sets the correlation id.
    pub fn correlated_with(mut self, correlation_id: impl Into<String>) -> Self {
        self.correlation_id = Some(correlation_id.into());
        self
    }

    /// Adds a free key/value to every event's metadata.
    pub fn with_extra(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }

    fn metadata(&self) -> Metadata {
        Metadata {
            correlation_id: self
                .correlation_id
                .clone()
                .or_else(|| self.command_id.clone()),
            causation_id: self.command_id.clone(),
            extra: self.extra.clone(),
        }
    }
}

/// What a handled command did.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome<A> {
    /// The events the command recorded, as stored (empty when it decided nothing).
    pub events: Vec<RecordedEvent>,
    /// The stream's version after the command.
    pub version: u64,
    /// The aggregate's state after the command.
    pub state: A,
    /// How many times the command was decided (1 unless another writer interfered).
    pub attempts: u32,
    /// Whether a snapshot was saved after the append.
    pub snapshot_saved: bool,
}

/// What can go wrong while handling a command or rebuilding an aggregate.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError<E: std::error::Error + 'static> {
    /// The aggregate rejected the command. Nothing was written; show the reason or fix
    /// the command.
    #[error("command rejected: {0}")]
    Rejected(#[source] E),
    /// The store failed; see [`StoreError`] for what to do. Nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Other writers kept changing the stream: every attempt met a
    /// [`StoreError::WrongExpectedVersion`] (the last one is `source`). Nothing was
    /// written; retry later or raise the handler's retry limit.
    #[error("gave up after {attempts} attempts: {source}")]
    RetriesExhausted {
        /// How many times the command was decided.
        attempts: u32,
        /// The last conflict, with the expected and actual versions.
        source: StoreError,
    },
    /// A stored event could not be upcast to its current schema version. Register the
    /// missing upcaster.
    #[error("stream '{stream}' version {version}: {source}")]
    Upcast {
        /// The stream.
        stream: String,
        /// The event's version.
        version: u64,
        /// What went wrong.
        source: UpcastError,
    },
    /// A stored (upcast) event does not decode into the aggregate's event type. Add an
    /// upcaster or fix the event's serde form.
    #[error(
        "cannot decode event '{event_type}' (schema version {schema_version}) at stream '{stream}' version {version}: {message}"
    )]
    Decode {
        /// The stream.
        stream: String,
        /// The event's version.
        version: u64,
        /// The event's type.
        event_type: String,
        /// The event's schema version after upcasting.
        schema_version: u32,
        /// The serde error.
        message: String,
    },
    /// A snapshot with the current snapshot schema version does not decode. Raise
    /// [`Aggregate::SNAPSHOT_SCHEMA_VERSION`] when the state's shape changes.
    #[error("cannot decode snapshot of stream '{stream}' at version {version}: {message}")]
    SnapshotDecode {
        /// The stream.
        stream: String,
        /// The snapshot's version.
        version: u64,
        /// The serde error.
        message: String,
    },
    /// An event or the state could not be serialized. Nothing was written; fix the
    /// type's serde implementation.
    #[error("cannot encode: {0}")]
    Encode(String),
    /// The requested version is past the stream's end. Ask for at most `current`.
    #[error("stream '{stream}' has no version {requested}; it is at {current}")]
    VersionNotFound {
        /// The stream.
        stream: String,
        /// The version asked for.
        requested: u64,
        /// The stream's current version (0: no stream).
        current: u64,
    },
}

/// Loads aggregates of type `A` from a store, handles their commands, and answers
/// temporal queries. Owns its store handle `S` (`&Store` or `Rc<Store>` work too).
pub struct CommandHandler<S, A> {
    store: S,
    upcasters: Upcasters,
    snapshots: SnapshotPolicy,
    max_attempts: u32,
    _aggregate: PhantomData<fn() -> A>,
}

impl<S: EventStore, A: Aggregate> CommandHandler<S, A> {
    /// A handler with no upcasters, the default snapshot policy (every 10 events) and
    /// up to 3 attempts per command.
    pub fn new(store: S) -> Self {
        Self {
            store,
            upcasters: Upcasters::new(),
            snapshots: SnapshotPolicy::default(),
            max_attempts: 3,
            _aggregate: PhantomData,
        }
    }

    /// Reads events through `upcasters`.
    pub fn with_upcasters(mut self, upcasters: Upcasters) -> Self {
        self.upcasters = upcasters;
        self
    }

    /// Sets when snapshots are saved.
    pub fn with_snapshot_policy(mut self, policy: SnapshotPolicy) -> Self {
        self.snapshots = policy;
        self
    }

    /// Decides each command at most `max_attempts` times (at least once) when other
    /// writers cause version conflicts.
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The upcasters events are read through.
    pub fn upcasters(&self) -> &Upcasters {
        &self.upcasters
    }

    /// The current state of the aggregate `id`: the newest snapshot of the current
    /// snapshot schema version plus the events after it.
    pub async fn load(&self, id: &str) -> Result<AggregateState<A>, HandlerError<A::Error>> {
        self.rebuild(&A::stream_id(id), None).await
    }

    /// The aggregate's state just after version `version` (0: the empty state), rebuilt
    /// from the nearest snapshot at or below it.
    pub async fn state_at_version(
        &self,
        id: &str,
        version: u64,
    ) -> Result<AggregateState<A>, HandlerError<A::Error>> {
        let stream = A::stream_id(id);
        let current = self.store.stream_version(&stream).await?.unwrap_or(0);
        if version > current {
            return Err(HandlerError::VersionNotFound {
                stream,
                requested: version,
                current,
            });
        }
        self.rebuild(&stream, Some(version)).await
    }

    /// The aggregate's state as of `at_ms` (ms since the Unix epoch): every event
    /// recorded at or before that time. Finds the version by binary search over the
    /// stream (events of a stream are recorded in non-decreasing time with a monotonic
    /// clock), then rebuilds from the nearest snapshot at or below it.
    pub async fn state_at_time(
        &self,
        id: &str,
        at_ms: i64,
    ) -> Result<AggregateState<A>, HandlerError<A::Error>> {
        let stream = A::stream_id(id);
        let version = self.version_at_time(&stream, at_ms).await?;
        self.rebuild(&stream, Some(version)).await
    }

    /// The version of the last event of `stream` recorded at or before `at_ms` (0: none).
    async fn version_at_time(&self, stream: &str, at_ms: i64) -> Result<u64, StoreError> {
        let (mut lo, mut hi) = (0, self.store.stream_version(stream).await?.unwrap_or(0));
        // Invariant: version `lo` is at or before `at_ms` (0 trivially); every version
        // above `hi` is after it.
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            let event = self
                .store
                .read_stream(
                    stream,
                    ReadStreamOptions {
                        from_version: Some(mid),
                        limit: Some(1),
                        direction: Direction::Forward,
                    },
                )
                .await?;
            match event.first() {
                Some(e) if e.recorded_at <= at_ms => lo = mid,
                _ => hi = mid - 1,
            }
        }
        Ok(lo)
    }

    async fn rebuild(
        &self,
        stream: &str,
        up_to: Option<u64>,
    ) -> Result<AggregateState<A>, HandlerError<A::Error>> {
        let snapshot = match up_to {
            Some(0) => return Ok(AggregateState::empty()),
            _ => {
                self.store
                    .load_snapshot(stream, A::SNAPSHOT_SCHEMA_VERSION, up_to)
                    .await?
            }
        };
        self.replay(stream, snapshot, up_to).await
    }

    /// Replays the events after `snapshot` (all when `None`) up to `up_to` (the end
    /// when `None`).
    async fn replay(
        &self,
        stream: &str,
        snapshot: Option<Snapshot>,
        up_to: Option<u64>,
    ) -> Result<AggregateState<A>, HandlerError<A::Error>> {
        let mut loaded: AggregateState<A> = match snapshot {
            Some(snapshot) => AggregateState {
                state: serde_json::from_value::<A>(snapshot.state).map_err(|e| {
                    HandlerError::SnapshotDecode {
                        stream: stream.to_string(),
                        version: snapshot.version,
                        message: e.to_string(),
                    }
                })?,
                version: snapshot.version,
                snapshot_version: Some(snapshot.version),
                events_replayed: 0,
            },
            None => AggregateState::empty(),
        };
        loop {
            let remaining = up_to.map_or(usize::MAX, |v| v.saturating_sub(loaded.version) as usize);
            if remaining == 0 {
                break;
            }
            let page = self
                .store
                .read_stream(
                    stream,
                    ReadStreamOptions {
                        from_version: Some(loaded.version + 1),
                        limit: Some(remaining.min(PAGE)),
                        direction: Direction::Forward,
                    },
                )
                .await?;
            let n = page.len();
            for recorded in page {
                let version = recorded.version;
                let event = self.decode(recorded)?;
                loaded.state.evolve(&event);
                loaded.version = version;
                loaded.events_replayed += 1;
            }
            if n < PAGE.min(remaining) {
                break;
            }
        }
        Ok(loaded)
    }

    fn decode(&self, recorded: RecordedEvent) -> Result<A::Event, HandlerError<A::Error>> {
        let stream = recorded.stream_id.clone();
        let version = recorded.version;
        let up = self
            .upcasters
            .upcast(recorded)
            .map_err(|source| HandlerError::Upcast {
                stream: stream.clone(),
                version,
                source,
            })?;
        let event_type = up.event.event_type;
        let event =
            A::Event::from_data(&event_type, up.event.data).map_err(|e| HandlerError::Decode {
                stream: stream.clone(),
                version,
                event_type: event_type.clone(),
                schema_version: up.event.schema_version,
                message: e.to_string(),
            })?;
        if event.schema_version() != up.event.schema_version {
            return Err(HandlerError::Upcast {
                stream,
                version,
                source: UpcastError::MissingStep {
                    event_type,
                    version: up.event.schema_version,
                    current: event.schema_version(),
                },
            });
        }
        Ok(event)
    }

    /// Handles `command` for the aggregate `id`: loads it, decides, and appends the
    /// events with [`ExpectedVersion::Exact`] of the loaded version. On a version
    /// conflict it reloads and decides again, up to the handler's attempt limit.
    pub async fn handle(
        &self,
        id: &str,
        command: &A::Command,
        context: &CommandContext,
    ) -> Result<CommandOutcome<A>, HandlerError<A::Error>> {
        let stream = A::stream_id(id);
        let metadata = context.metadata();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut loaded = self.rebuild(&stream, None).await?;
            let events = loaded
                .state
                .decide(command)
                .map_err(HandlerError::Rejected)?;
            if events.is_empty() {
                return Ok(CommandOutcome {
                    events: Vec::new(),
                    version: loaded.version,
                    state: loaded.state,
                    attempts,
                    snapshot_saved: false,
                });
            }
            let new_events = events
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    Ok(NewEvent {
                        event_id: context
                            .command_id
                            .as_ref()
                            .map(|c| format!("{c}-{}", i + 1)),
                        event_type: e.event_type().to_string(),
                        schema_version: e.schema_version(),
                        data: e
                            .to_data()
                            .map_err(|e| HandlerError::Encode(e.to_string()))?,
                        metadata: metadata.clone(),
                    })
                })
                .collect::<Result<Vec<_>, HandlerError<A::Error>>>()?;
            let before = loaded.version;
            let result = match self
                .store
                .append(&stream, ExpectedVersion::Exact(before), new_events)
                .await
            {
                Ok(result) => result,
                Err(conflict @ StoreError::WrongExpectedVersion { .. }) => {
                    if attempts >= self.max_attempts {
                        return Err(HandlerError::RetriesExhausted {
                            attempts,
                            source: conflict,
                        });
                    }
                    continue;
                }
                Err(other) => return Err(other.into()),
            };
            if result.first_version != before + 1 {
                // An idempotent re-append of an earlier handling of this command: report
                // what was stored then, and the state as of now.
                let stored = self
                    .read_range(&stream, result.first_version, result.last_version)
                    .await?;
                let now = self.rebuild(&stream, None).await?;
                return Ok(CommandOutcome {
                    events: stored,
                    version: now.version,
                    state: now.state,
                    attempts,
                    snapshot_saved: false,
                });
            }
            for event in &events {
                loaded.state.evolve(event);
            }
            let recorded = self
                .read_range(&stream, result.first_version, result.last_version)
                .await?;
            let snapshot_saved = self.snapshots.should_snapshot(before, result.last_version);
            if snapshot_saved {
                self.store
                    .save_snapshot(Snapshot {
                        stream_id: stream.clone(),
                        version: result.last_version,
                        schema_version: A::SNAPSHOT_SCHEMA_VERSION,
                        state: serde_json::to_value(&loaded.state)
                            .map_err(|e| HandlerError::Encode(e.to_string()))?,
                        taken_at: recorded.last().map_or(0, |e| e.recorded_at),
                    })
                    .await?;
            }
            return Ok(CommandOutcome {
                events: recorded,
                version: result.last_version,
                state: loaded.state,
                attempts,
                snapshot_saved,
            });
        }
    }

    async fn read_range(
        &self,
        stream: &str,
        first: u64,
        last: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.store
            .read_stream(
                stream,
                ReadStreamOptions {
                    from_version: Some(first),
                    limit: Some((last + 1 - first) as usize),
                    direction: Direction::Forward,
                },
            )
            .await
    }

    /// Replays the aggregate's whole stream (ignoring existing snapshots) and saves a
    /// snapshot of its current state, whatever the policy: for example after raising
    /// [`Aggregate::SNAPSHOT_SCHEMA_VERSION`] or to replace an undecodable snapshot.
    /// Returns the snapshot's version, `None` when the aggregate has no events.
    pub async fn snapshot_now(&self, id: &str) -> Result<Option<u64>, HandlerError<A::Error>> {
        let stream = A::stream_id(id);
        let loaded = self.replay(&stream, None, None).await?;
        if loaded.version == 0 {
            return Ok(None);
        }
        let last = self
            .read_range(&stream, loaded.version, loaded.version)
            .await?;
        self.store
            .save_snapshot(Snapshot {
                stream_id: stream,
                version: loaded.version,
                schema_version: A::SNAPSHOT_SCHEMA_VERSION,
                state: serde_json::to_value(&loaded.state)
                    .map_err(|e| HandlerError::Encode(e.to_string()))?,
                taken_at: last.first().map_or(0, |e| e.recorded_at),
            })
            .await?;
        Ok(Some(loaded.version))
    }
}
