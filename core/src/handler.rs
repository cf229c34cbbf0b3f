//! The command handler: load an aggregate (nearest snapshot + tail, upcast), decide,
//! append with an exact expected version, retry on conflict, snapshot by policy; and
//! temporal queries (state at a version, state at a time).

use std::convert::Infallible;
use std::marker::PhantomData;

use serde_json::Value;

use crate::aggregate::{Aggregate, AggregateState, DomainEvent};
use crate::error::StoreError;
use crate::event::{ExpectedVersion, Metadata, NewEvent, RecordedEvent};
use crate::limits::MAX_BATCH_EVENTS;
use crate::store::{Direction, EventStore, ReadStreamOptions, Snapshot};
use crate::upcast::{UpcastError, UpcastEvent, Upcasters};

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

    pub(crate) fn metadata(&self) -> Metadata {
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
    /// The aggregate's state after the command: the loaded state with the decided
    /// events folded in (as a load would fold them).
    pub state: A,
    /// How many times the command was decided (1 unless another writer interfered).
    pub attempts: u32,
    /// Whether a snapshot was saved after the append.
    pub snapshot_saved: bool,
}

/// What can go wrong while handling a command or rebuilding an aggregate: one error type
/// for typed aggregates ([`CommandHandler`], `HandlerError<A::Error>`) and JSON ones
/// ([`DynamicHandler`](crate::DynamicHandler), whose
/// [`DynamicError<E>`](crate::DynamicError) is `HandlerError<E, E>`).
///
/// `R` is why `decide` rejects a command; `V` is why `evolve` fails: typed aggregates'
/// `evolve` cannot fail (`V` = [`Infallible`]), JSON ones' can. Neither needs any bound
/// except `Display` and `Debug`, and only for this type to be displayed or used as a
/// `std::error::Error`.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError<R, V = Infallible> {
    /// The aggregate rejected the command. Nothing was written; show the reason or fix
    /// the command.
    #[error("command rejected: {0}")]
    Rejected(R),
    /// `evolve` failed on a stored event, or on an event `decide` just produced (then
    /// nothing was written). Fix `evolve` so that it accepts every event it may meet
    /// (and every event `decide` produces), or add an upcaster.
    #[error("evolve failed at stream '{stream}' version {version}: {error}")]
    Evolve {
        /// The stream.
        stream: String,
        /// The version of the event `evolve` failed on.
        version: u64,
        /// The aggregate's error, unchanged.
        error: V,
    },
    /// The store failed; see [`StoreError`] for what to do. Nothing was written. A
    /// decision of more than [`MAX_BATCH_EVENTS`] events is refused here, before the
    /// append, as [`StoreError::InvalidInput`]: split the work over several commands.
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
    /// A stored (upcast) event does not decode into the aggregate's event type, or an
    /// event `decide` just produced would not decode once stored (then nothing was
    /// written). Add an upcaster or fix the event's serde form.
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
    /// The aggregate's name cannot be a stream category (JSON aggregates, named at run
    /// time). Use a non-empty name without `-`, such as `cart`.
    #[error("invalid aggregate name '{0}': it must be non-empty and contain no '-'")]
    InvalidName(String),
}

impl<R, V> HandlerError<R, V> {
    /// The same error with the aggregate's own errors (a rejection, a failing `evolve`)
    /// converted by `rejected` and `evolve`; every other variant is kept as it is.
    pub fn map_aggregate<R2, V2>(
        self,
        rejected: impl FnOnce(R) -> R2,
        evolve: impl FnOnce(V) -> V2,
    ) -> HandlerError<R2, V2> {
        match self {
            HandlerError::Rejected(r) => HandlerError::Rejected(rejected(r)),
            HandlerError::Evolve {
                stream,
                version,
                error,
            } => HandlerError::Evolve {
                stream,
                version,
                error: evolve(error),
            },
            HandlerError::Store(e) => HandlerError::Store(e),
            HandlerError::RetriesExhausted { attempts, source } => {
                HandlerError::RetriesExhausted { attempts, source }
            }
            HandlerError::Upcast {
                stream,
                version,
                source,
            } => HandlerError::Upcast {
                stream,
                version,
                source,
            },
            HandlerError::Decode {
                stream,
                version,
                event_type,
                schema_version,
                message,
            } => HandlerError::Decode {
                stream,
                version,
                event_type,
                schema_version,
                message,
            },
            HandlerError::SnapshotDecode {
                stream,
                version,
                message,
            } => HandlerError::SnapshotDecode {
                stream,
                version,
                message,
            },
            HandlerError::Encode(message) => HandlerError::Encode(message),
            HandlerError::VersionNotFound {
                stream,
                requested,
                current,
            } => HandlerError::VersionNotFound {
                stream,
                requested,
                current,
            },
            HandlerError::InvalidName(name) => HandlerError::InvalidName(name),
        }
    }
}

impl<E> HandlerError<E, E> {
    /// The aggregate's own error when `decide` or `evolve` failed, `None` otherwise.
    pub fn aggregate_error(&self) -> Option<&E> {
        match self {
            HandlerError::Rejected(e) | HandlerError::Evolve { error: e, .. } => Some(e),
            _ => None,
        }
    }
}

/// Loads aggregates of type `A` from a store, handles their commands, and answers
/// temporal queries. Owns its store handle `S` (`&Store` or `Rc<Store>` work too).
pub struct CommandHandler<S, A> {
    core: HandlerCore<S>,
    _aggregate: PhantomData<fn() -> A>,
}

impl<S: EventStore, A: Aggregate> CommandHandler<S, A> {
    /// A handler with no upcasters, the default snapshot policy (every 10 events) and
    /// up to 3 attempts per command.
    pub fn new(store: S) -> Self {
        Self {
            core: HandlerCore::new(store),
            _aggregate: PhantomData,
        }
    }

    /// Reads events through `upcasters`.
    pub fn with_upcasters(mut self, upcasters: Upcasters) -> Self {
        self.core.upcasters = upcasters;
        self
    }

    /// Sets when snapshots are saved.
    pub fn with_snapshot_policy(mut self, policy: SnapshotPolicy) -> Self {
        self.core.snapshots = policy;
        self
    }

    /// Decides each command at most `max_attempts` times (at least once) when other
    /// writers cause version conflicts.
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.core.max_attempts = max_attempts.max(1);
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.core.store
    }

    /// The upcasters events are read through.
    pub fn upcasters(&self) -> &Upcasters {
        &self.core.upcasters
    }

    /// The current state of the aggregate `id`: the newest snapshot of the current
    /// snapshot schema version plus the events after it.
    pub async fn load(&self, id: &str) -> Result<AggregateState<A>, HandlerError<A::Error>> {
        let stream = A::stream_id(id);
        self.core.rebuild(&Typed::<A>::NEW, &stream, None).await
    }

    /// The aggregate's state just after version `version` (0: the empty state), rebuilt
    /// from the nearest snapshot at or below it.
    pub async fn state_at_version(
        &self,
        id: &str,
        version: u64,
    ) -> Result<AggregateState<A>, HandlerError<A::Error>> {
        let stream = A::stream_id(id);
        self.core
            .state_at_version(&Typed::<A>::NEW, &stream, version)
            .await
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
        self.core
            .state_at_time(&Typed::<A>::NEW, &stream, at_ms)
            .await
    }

    /// Handles `command` for the aggregate `id`: loads it, decides, and appends the
    /// events with [`ExpectedVersion::Exact`] of the loaded version. On a version
    /// conflict it reloads and decides again, up to the handler's attempt limit.
    ///
    /// Before appending, the decided events are encoded as they will be stored, upcast
    /// and decoded as a later load will, and folded into the loaded state; that state is
    /// the outcome's. An event that would not come back ([`HandlerError::Decode`],
    /// [`HandlerError::Upcast`]) or a decision of more than
    /// [`MAX_BATCH_EVENTS`] events ([`HandlerError::Store`] with
    /// [`StoreError::InvalidInput`]) is refused and nothing is written.
    pub async fn handle(
        &self,
        id: &str,
        command: &A::Command,
        context: &CommandContext,
    ) -> Result<CommandOutcome<A>, HandlerError<A::Error>> {
        let stream = A::stream_id(id);
        self.core
            .handle(
                &Typed::<A>::NEW,
                &stream,
                command,
                context,
                Recorded::Return,
            )
            .await
    }

    /// Handles `command` for the aggregate `id` exactly as [`handle`](Self::handle)
    /// does, and returns only the aggregate's state and the stream's version after it:
    /// the recorded events are not read back from the store for the caller.
    pub async fn handle_state(
        &self,
        id: &str,
        command: &A::Command,
        context: &CommandContext,
    ) -> Result<(A, u64), HandlerError<A::Error>> {
        let stream = A::stream_id(id);
        let outcome = self
            .core
            .handle(&Typed::<A>::NEW, &stream, command, context, Recorded::Skip)
            .await?;
        Ok((outcome.state, outcome.version))
    }

    /// Replays the aggregate's whole stream (ignoring existing snapshots) and saves a
    /// snapshot of its current state, whatever the policy: for example after raising
    /// [`Aggregate::SNAPSHOT_SCHEMA_VERSION`] or to replace an undecodable snapshot.
    /// Returns the snapshot's version, `None` when the aggregate has no events.
    pub async fn snapshot_now(&self, id: &str) -> Result<Option<u64>, HandlerError<A::Error>> {
        let stream = A::stream_id(id);
        self.core.snapshot_now(&Typed::<A>::NEW, &stream).await
    }
}

/// Whether a handled command's outcome carries the recorded events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// Read the appended events back for [`CommandOutcome::events`].
    Return,
    /// Leave [`CommandOutcome::events`] empty (the events are read back only when the
    /// handler needs them itself).
    Skip,
}

/// A typed [`Aggregate`] seen as a [`Decider`]: its state is `A` itself, and the events
/// it decides are evolved as decided.
struct Typed<A>(PhantomData<fn() -> A>);

impl<A> Typed<A> {
    const NEW: Self = Typed(PhantomData);
}

impl<A: Aggregate> Decider for Typed<A> {
    type State = A;
    type Command = A::Command;
    type Event = A::Event;
    type Decided = A::Event;
    type Rejection = A::Error;
    type EvolveError = Infallible;

    fn snapshot_schema_version(&self) -> u32 {
        A::SNAPSHOT_SCHEMA_VERSION
    }

    fn initial_state(&self) -> A {
        A::default()
    }

    fn decode_state(&self, state: Value) -> Result<A, String> {
        serde_json::from_value(state).map_err(|e| e.to_string())
    }

    fn encode_state(&self, state: &A) -> Result<Value, String> {
        serde_json::to_value(state).map_err(|e| e.to_string())
    }

    fn decode_event(
        &self,
        up: UpcastEvent,
    ) -> Result<A::Event, HandlerError<A::Error, Infallible>> {
        let UpcastEvent { event: up, .. } = up;
        let decoded = A::Event::from_data(&up.event_type, up.data);
        typed_event::<A>(
            decoded,
            &up.stream_id,
            up.version,
            &up.event_type,
            up.schema_version,
        )
    }

    fn decode_unchanged(
        &self,
        stream: &str,
        version: u64,
        event: &NewEvent,
    ) -> Option<CoreResult<A::Event, Self>> {
        let decoded = A::Event::from_data_ref(&event.event_type, &event.data);
        Some(typed_event::<A>(
            decoded,
            stream,
            version,
            &event.event_type,
            event.schema_version,
        ))
    }

    fn evolve(&self, state: &mut A, event: &A::Event) -> Result<(), Infallible> {
        state.evolve(event);
        Ok(())
    }

    fn decide(&self, state: &A, command: &A::Command) -> Result<Vec<A::Event>, A::Error> {
        state.decide(command)
    }

    fn to_new_event(
        &self,
        decided: &A::Event,
        event_id: Option<String>,
        metadata: &Metadata,
    ) -> Result<NewEvent, String> {
        Ok(NewEvent {
            event_id,
            event_type: decided.event_type().to_string(),
            schema_version: decided.schema_version(),
            data: decided.to_data().map_err(|e| e.to_string())?,
            metadata: metadata.clone(),
        })
    }
}

/// A decoded event of a typed aggregate, or the error naming where it is: at `version`
/// of `stream`, of `event_type` with payload `schema_version` (after upcasting), which
/// must be the version the event's code reads.
fn typed_event<A: Aggregate>(
    decoded: Result<A::Event, serde_json::Error>,
    stream: &str,
    version: u64,
    event_type: &str,
    schema_version: u32,
) -> Result<A::Event, HandlerError<A::Error, Infallible>> {
    let event = decoded.map_err(|e| HandlerError::Decode {
        stream: stream.to_string(),
        version,
        event_type: event_type.to_string(),
        schema_version,
        message: e.to_string(),
    })?;
    if event.schema_version() != schema_version {
        return Err(HandlerError::Upcast {
            stream: stream.to_string(),
            version,
            source: UpcastError::MissingStep {
                event_type: event_type.to_string(),
                version: schema_version,
                current: event.schema_version(),
            },
        });
    }
    Ok(event)
}

/// What the shared handler core needs from an aggregate definition: a typed
/// [`Aggregate`] or a JSON one defined at run time.
pub(crate) trait Decider {
    /// The aggregate's state.
    type State;
    /// What it can be asked to do.
    type Command: ?Sized;
    /// An event as `evolve` takes it (decoded from a stored, upcast event).
    type Event;
    /// An event as `decide` produces it.
    type Decided;
    /// Why `decide` rejects a command.
    type Rejection;
    /// Why `evolve` fails.
    type EvolveError;

    fn snapshot_schema_version(&self) -> u32;
    fn initial_state(&self) -> Self::State;
    fn decode_state(&self, state: Value) -> Result<Self::State, String>;
    fn encode_state(&self, state: &Self::State) -> Result<Value, String>;
    /// Decodes a stored event that has been upcast.
    fn decode_event(&self, up: UpcastEvent) -> CoreResult<Self::Event, Self>;
    /// Decodes `event`, about to be appended at `version` of `stream`, as
    /// [`decode_event`](Self::decode_event) would once it is stored, when no upcaster
    /// changes it. `None`: no shortcut, the handler builds the stored event to decode.
    fn decode_unchanged(
        &self,
        _stream: &str,
        _version: u64,
        _event: &NewEvent,
    ) -> Option<CoreResult<Self::Event, Self>> {
        None
    }
    fn evolve(&self, state: &mut Self::State, event: &Self::Event)
        -> Result<(), Self::EvolveError>;
    fn decide(
        &self,
        state: &Self::State,
        command: &Self::Command,
    ) -> Result<Vec<Self::Decided>, Self::Rejection>;
    /// The envelope to append for a decided event, with its id and the command's metadata.
    fn to_new_event(
        &self,
        decided: &Self::Decided,
        event_id: Option<String>,
        metadata: &Metadata,
    ) -> Result<NewEvent, String>;
    /// `Err` with a message when `state`, the state after a command, could not be
    /// stored in a snapshot and loaded again (the command is then refused).
    fn check_state(&self, _state: &Self::State) -> Result<(), String> {
        Ok(())
    }
    /// Whether `evolve` sees the whole recorded envelope (position, time, id), not only
    /// the decoded domain event. Then the check before the append folds provisional
    /// envelopes, and the state returned and snapshotted is folded again from the
    /// events as they were recorded, so a snapshot always equals a replay.
    fn evolve_sees_envelope(&self) -> bool {
        false
    }
}

type CoreResult<T, D> =
    Result<T, HandlerError<<D as Decider>::Rejection, <D as Decider>::EvolveError>>;

/// Load, decide, append, retry, snapshot and temporal queries, shared by
/// [`CommandHandler`] and the dynamic (JSON) handler.
pub(crate) struct HandlerCore<S> {
    pub(crate) store: S,
    pub(crate) upcasters: Upcasters,
    pub(crate) snapshots: SnapshotPolicy,
    pub(crate) max_attempts: u32,
}

impl<S: EventStore> HandlerCore<S> {
    /// No upcasters, snapshots every 10 events, 3 attempts.
    pub(crate) fn new(store: S) -> Self {
        Self {
            store,
            upcasters: Upcasters::new(),
            snapshots: SnapshotPolicy::default(),
            max_attempts: 3,
        }
    }

    fn empty<D: Decider>(d: &D) -> AggregateState<D::State> {
        AggregateState {
            state: d.initial_state(),
            version: 0,
            snapshot_version: None,
            events_replayed: 0,
        }
    }

    pub(crate) async fn state_at_version<D: Decider>(
        &self,
        d: &D,
        stream: &str,
        version: u64,
    ) -> CoreResult<AggregateState<D::State>, D> {
        let current = self.store.stream_version(stream).await?.unwrap_or(0);
        if version > current {
            return Err(HandlerError::VersionNotFound {
                stream: stream.to_string(),
                requested: version,
                current,
            });
        }
        self.rebuild(d, stream, Some(version)).await
    }

    pub(crate) async fn state_at_time<D: Decider>(
        &self,
        d: &D,
        stream: &str,
        at_ms: i64,
    ) -> CoreResult<AggregateState<D::State>, D> {
        let version = self.version_at_time(stream, at_ms).await?;
        self.rebuild(d, stream, Some(version)).await
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

    /// The state up to `up_to` (the end when `None`), from the nearest usable snapshot.
    pub(crate) async fn rebuild<D: Decider>(
        &self,
        d: &D,
        stream: &str,
        up_to: Option<u64>,
    ) -> CoreResult<AggregateState<D::State>, D> {
        let snapshot = match up_to {
            Some(0) => return Ok(Self::empty(d)),
            _ => {
                self.store
                    .load_snapshot(stream, d.snapshot_schema_version(), up_to)
                    .await?
            }
        };
        self.replay(d, stream, snapshot, up_to).await
    }

    /// Replays the events after `snapshot` (all when `None`) up to `up_to` (the end
    /// when `None`).
    async fn replay<D: Decider>(
        &self,
        d: &D,
        stream: &str,
        snapshot: Option<Snapshot>,
        up_to: Option<u64>,
    ) -> CoreResult<AggregateState<D::State>, D> {
        let mut loaded = match snapshot {
            Some(snapshot) => AggregateState {
                state: d.decode_state(snapshot.state).map_err(|message| {
                    HandlerError::SnapshotDecode {
                        stream: stream.to_string(),
                        version: snapshot.version,
                        message,
                    }
                })?,
                version: snapshot.version,
                snapshot_version: Some(snapshot.version),
                events_replayed: 0,
            },
            None => Self::empty(d),
        };
        loop {
            let remaining = up_to.map_or(usize::MAX, |v| {
                usize::try_from(v.saturating_sub(loaded.version)).unwrap_or(usize::MAX)
            });
            if remaining == 0 {
                break;
            }
            let page = self
                .store
                .read_stream(
                    stream,
                    ReadStreamOptions {
                        from_version: Some(loaded.version.saturating_add(1)),
                        limit: Some(remaining.min(PAGE)),
                        direction: Direction::Forward,
                    },
                )
                .await?;
            let n = page.len();
            for recorded in page {
                let version = recorded.version;
                let event = self.decode(d, recorded)?;
                d.evolve(&mut loaded.state, &event)
                    .map_err(|error| HandlerError::Evolve {
                        stream: stream.to_string(),
                        version,
                        error,
                    })?;
                loaded.version = version;
                loaded.events_replayed += 1;
            }
            if n < PAGE.min(remaining) {
                break;
            }
        }
        Ok(loaded)
    }

    /// Upcasts a stored event and decodes it for `d`.
    pub(crate) fn decode<D: Decider>(
        &self,
        d: &D,
        recorded: RecordedEvent,
    ) -> CoreResult<D::Event, D> {
        if self
            .upcasters
            .current_version(&recorded.event_type)
            .is_none()
        {
            // No upcaster for the type: read as stored (what `upcast` would return).
            let original_schema_version = recorded.schema_version;
            return d.decode_event(UpcastEvent {
                event: recorded,
                original_schema_version,
            });
        }
        let stream = recorded.stream_id.clone();
        let version = recorded.version;
        let up = self
            .upcasters
            .upcast(recorded)
            .map_err(|source| HandlerError::Upcast {
                stream,
                version,
                source,
            })?;
        d.decode_event(up)
    }

    /// Decodes `event`, about to be appended at `version` of `stream`, exactly as a load
    /// will decode it once stored: upcast, then decoded for `d`.
    fn decode_planned<D: Decider>(
        &self,
        d: &D,
        stream: &str,
        version: u64,
        event: &NewEvent,
    ) -> CoreResult<D::Event, D> {
        if self.upcasters.current_version(&event.event_type).is_none() {
            // No upcaster for the type: the stored event is read as it is written.
            if let Some(decoded) = d.decode_unchanged(stream, version, event) {
                return decoded;
            }
        }
        let provisional = RecordedEvent {
            event_id: event.event_id.clone().unwrap_or_default(),
            stream_id: stream.to_string(),
            version,
            position: 0,
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            data: event.data.clone(),
            metadata: event.metadata.clone(),
            recorded_at: 0,
        };
        self.decode(d, provisional)
    }

    /// Handles `command` for `stream` (see [`CommandHandler::handle`]); with
    /// [`Recorded::Skip`], the outcome's `events` are left empty instead of read back.
    pub(crate) async fn handle<D: Decider>(
        &self,
        d: &D,
        stream: &str,
        command: &D::Command,
        context: &CommandContext,
        events: Recorded,
    ) -> CoreResult<CommandOutcome<D::State>, D> {
        let metadata = context.metadata();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut loaded = self.rebuild(d, stream, None).await?;
            let decided = d
                .decide(&loaded.state, command)
                .map_err(HandlerError::Rejected)?;
            if decided.is_empty() {
                return Ok(CommandOutcome {
                    events: Vec::new(),
                    version: loaded.version,
                    state: loaded.state,
                    attempts,
                    snapshot_saved: false,
                });
            }
            if decided.len() > MAX_BATCH_EVENTS {
                return Err(HandlerError::Store(StoreError::InvalidInput(format!(
                    "the command decided {} events; one command may record at most {MAX_BATCH_EVENTS}",
                    decided.len()
                ))));
            }
            let before = loaded.version;
            let new_events = decided
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let id = context
                        .command_id
                        .as_ref()
                        .map(|c| format!("{c}-{}", i + 1));
                    d.to_new_event(e, id, &metadata)
                        .map_err(HandlerError::Encode)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let before_fold = if d.evolve_sees_envelope() {
                Some(
                    d.encode_state(&loaded.state)
                        .map_err(HandlerError::Encode)?,
                )
            } else {
                None
            };
            // Apply the events, exactly as they will be stored, to the loaded state the
            // way a later load will (upcast, decode, evolve) before anything is written:
            // an event that no load could fold must never be stored.
            for (offset, event) in (1..).zip(&new_events) {
                let version = before + offset;
                let decoded = self.decode_planned(d, stream, version, event)?;
                d.evolve(&mut loaded.state, &decoded)
                    .map_err(|error| HandlerError::Evolve {
                        stream: stream.to_string(),
                        version,
                        error,
                    })?;
            }
            d.check_state(&loaded.state)
                .map_err(|message| HandlerError::Store(StoreError::InvalidInput(message)))?;
            let result = match self
                .store
                .append(stream, ExpectedVersion::Exact(before), new_events)
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
                    .read_range(stream, result.first_version, result.last_version)
                    .await?;
                let now = self.rebuild(d, stream, None).await?;
                return Ok(CommandOutcome {
                    events: stored,
                    version: now.version,
                    state: now.state,
                    attempts,
                    snapshot_saved: false,
                });
            }
            let snapshot_saved = self.snapshots.should_snapshot(before, result.last_version);
            // The events as recorded: for the outcome, the fold of envelopes, and the
            // snapshot's time; a caller that wants only the state may need none.
            let recorded = if events == Recorded::Return || before_fold.is_some() || snapshot_saved
            {
                self.read_range(stream, result.first_version, result.last_version)
                    .await?
            } else {
                Vec::new()
            };
            if let Some(before_fold) = before_fold {
                // Fold what was recorded (real positions and times) onto the state as
                // loaded; the provisional fold above proved each event can be folded.
                let mut state = d
                    .decode_state(before_fold)
                    .map_err(|message| HandlerError::Store(StoreError::Corrupt(message)))?;
                for event in &recorded {
                    let version = event.version;
                    let decoded = self.decode(d, event.clone())?;
                    d.evolve(&mut state, &decoded)
                        .map_err(|error| HandlerError::Evolve {
                            stream: stream.to_string(),
                            version,
                            error,
                        })?;
                }
                loaded.state = state;
            }
            if snapshot_saved {
                self.store
                    .save_snapshot(Snapshot {
                        stream_id: stream.to_string(),
                        version: result.last_version,
                        schema_version: d.snapshot_schema_version(),
                        state: d
                            .encode_state(&loaded.state)
                            .map_err(HandlerError::Encode)?,
                        taken_at: recorded.last().map_or(0, |e| e.recorded_at),
                    })
                    .await?;
            }
            let recorded = match events {
                Recorded::Return => recorded,
                Recorded::Skip => Vec::new(),
            };
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
                    limit: Some(
                        usize::try_from(last.saturating_sub(first).saturating_add(1))
                            .unwrap_or(usize::MAX),
                    ),
                    direction: Direction::Forward,
                },
            )
            .await
    }

    pub(crate) async fn snapshot_now<D: Decider>(
        &self,
        d: &D,
        stream: &str,
    ) -> CoreResult<Option<u64>, D> {
        let loaded = self.replay(d, stream, None, None).await?;
        if loaded.version == 0 {
            return Ok(None);
        }
        d.check_state(&loaded.state)
            .map_err(|message| HandlerError::Store(StoreError::InvalidInput(message)))?;
        let last = self
            .read_range(stream, loaded.version, loaded.version)
            .await?;
        self.store
            .save_snapshot(Snapshot {
                stream_id: stream.to_string(),
                version: loaded.version,
                schema_version: d.snapshot_schema_version(),
                state: d
                    .encode_state(&loaded.state)
                    .map_err(HandlerError::Encode)?,
                taken_at: last.first().map_or(0, |e| e.recorded_at),
            })
            .await?;
        Ok(Some(loaded.version))
    }
}
