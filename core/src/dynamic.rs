//! Dynamic aggregates: deciders defined at run time over JSON state, for example in
//! JavaScript and wrapped by the bindings.
//!
//! A [`DynamicAggregate`] names its stream category, gives an initial JSON state, decides
//! which events a JSON command causes, and folds stored events into the state. A
//! [`DynamicHandler`] runs it with exactly the machinery of
//! [`CommandHandler`](crate::CommandHandler) (they share one implementation): the nearest
//! snapshot plus the tail on load, upcasting, an append with an exact expected version,
//! retries on conflicts, snapshots by policy, event ids `{command_id}-n`, correlation and
//! causation metadata, and temporal queries.
//!
//! The aggregate's error type is free: it needs no `std::error::Error`, `Send`, `Sync`
//! or `'static`, so a binding can carry a thrown JavaScript value in it. An error from
//! `decide` comes back unchanged as [`DynamicError::Rejected`] and nothing is written.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aggregate::AggregateState;
use crate::event::{Metadata, NewEvent, RecordedEvent};
use crate::handler::{
    CommandContext, CommandOutcome, Decider, HandlerCore, HandlerError, Recorded, SnapshotPolicy,
};
use crate::limits;
use crate::store::EventStore;
use crate::upcast::{UpcastEvent, Upcasters};

/// An event decided by a [`DynamicAggregate`]: what to append. The handler adds the id
/// (`{command_id}-n` when the command has an id) and the command's metadata.
///
/// Its JSON form is `{"type": "Deposited", "data": {...}, "schemaVersion": 1,
/// "metadata": {...}}`; only `type` is required (`eventType` is accepted too), `data`
/// defaults to `null` and `schemaVersion` to 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecidedEvent {
    /// The event's type name, such as `Deposited`.
    #[serde(rename = "type", alias = "eventType")]
    pub event_type: String,
    /// The event's payload.
    #[serde(default)]
    pub data: Value,
    /// The schema version of `data` (1 unless its shape has changed).
    #[serde(default = "one")]
    pub schema_version: u32,
    /// Free key/values added to the event's `metadata.extra`, on top of the command
    /// context's (a key set here wins). Correlation and causation always come from the
    /// [`CommandContext`]: a key named `correlationId` or `causationId` here is refused
    /// when the events are appended
    /// ([`RESERVED_METADATA_KEYS`](crate::event::RESERVED_METADATA_KEYS)).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, Value>,
}

fn one() -> u32 {
    1
}

impl DecidedEvent {
    /// An event of `event_type` with `data`, schema version 1 and no extra metadata.
    pub fn new(event_type: impl Into<String>, data: Value) -> Self {
        Self {
            event_type: event_type.into(),
            data,
            schema_version: 1,
            metadata: BTreeMap::new(),
        }
    }

    /// Sets the schema version of `data`.
    pub fn with_schema_version(mut self, schema_version: u32) -> Self {
        self.schema_version = schema_version;
        self
    }

    /// Adds a key/value to the event's metadata.
    pub fn with_metadata(mut self, key: impl Into<String>, value: Value) -> Self {
        self.metadata.insert(key.into(), value);
        self
    }
}

/// An aggregate defined at run time over JSON state and commands.
///
/// Same rules as [`Aggregate`](crate::Aggregate): `decide` must be pure (the handler may
/// call it again on a fresher state after a conflict) and `evolve` deterministic. Its
/// streams are `{name}-{id}`.
pub trait DynamicAggregate {
    /// Why `decide` rejects a command or `evolve` fails: any payload (a message, a JSON
    /// value, a thrown JavaScript value). It reaches the caller unchanged.
    type Error;

    /// The stream category, such as `cart`; not empty and without `-`.
    fn name(&self) -> &str;

    /// The state before any event.
    fn initial_state(&self) -> Value;

    /// Decides which events `command` causes in `state`, or rejects it. An empty list
    /// records nothing.
    fn decide(&self, state: &Value, command: &Value) -> Result<Vec<DecidedEvent>, Self::Error>;

    /// The state after `event` (already upcast to its current schema version).
    ///
    /// The handler also calls it on each event `decide` just produced, before anything
    /// is appended, so that an event no load could fold is never stored: that event
    /// carries its final stream, version, type, schema version (upcast as a load would),
    /// data and metadata, and its final id when the command has one (otherwise an empty
    /// id); its `position` and `recorded_at` are 0, as the store assigns them at the
    /// append. After the append the handler folds the events again as they were
    /// recorded, so the state the command returns (and any snapshot it saves) is the
    /// same as a later replay gives, also for an `evolve` that reads `position` or
    /// `recorded_at`. `evolve` must be deterministic.
    fn evolve(&self, state: Value, event: &RecordedEvent) -> Result<Value, Self::Error>;

    /// Schema version of the state in snapshots (1 by default). Raise it when the
    /// state's shape changes: older snapshots are then ignored and events replayed.
    fn snapshot_schema_version(&self) -> u32 {
        1
    }
}

/// What can go wrong while handling a command of, or rebuilding, a dynamic aggregate:
/// the one [`HandlerError`], with the aggregate's own error `E` for both a rejected
/// command ([`HandlerError::Rejected`]) and a failing `evolve` ([`HandlerError::Evolve`]).
pub type DynamicError<E> = HandlerError<E, E>;

/// A [`DynamicAggregate`] seen by the shared handler core.
struct Json<'a, D>(&'a D);

impl<D: DynamicAggregate> Decider for Json<'_, D> {
    type State = Value;
    type Command = Value;
    type Event = RecordedEvent;
    type Decided = DecidedEvent;
    type Rejection = D::Error;
    type EvolveError = D::Error;

    fn snapshot_schema_version(&self) -> u32 {
        self.0.snapshot_schema_version()
    }

    fn initial_state(&self) -> Value {
        self.0.initial_state()
    }

    fn decode_state(&self, state: Value) -> Result<Value, String> {
        Ok(state)
    }

    fn encode_state(&self, state: &Value) -> Result<Value, String> {
        Ok(state.clone())
    }

    fn decode_event(
        &self,
        up: UpcastEvent,
    ) -> Result<RecordedEvent, HandlerError<D::Error, D::Error>> {
        Ok(up.event)
    }

    fn evolve(&self, state: &mut Value, event: &RecordedEvent) -> Result<(), D::Error> {
        *state = self.0.evolve(std::mem::take(state), event)?;
        Ok(())
    }

    fn decide(&self, state: &Value, command: &Value) -> Result<Vec<DecidedEvent>, D::Error> {
        self.0.decide(state, command)
    }

    fn to_new_event(
        &self,
        decided: &DecidedEvent,
        event_id: Option<String>,
        metadata: &Metadata,
    ) -> Result<NewEvent, String> {
        let mut metadata = metadata.clone();
        metadata
            .extra
            .extend(decided.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(NewEvent {
            event_id,
            event_type: decided.event_type.clone(),
            schema_version: decided.schema_version,
            data: decided.data.clone(),
            metadata,
        })
    }

    fn evolve_sees_envelope(&self) -> bool {
        true
    }

    fn check_state(&self, state: &Value) -> Result<(), String> {
        // A snapshot of a deeper state could never be read back.
        limits::check_depth("the aggregate state", state).map_err(|e| e.to_string())
    }
}

/// Loads [`DynamicAggregate`]s from a store, handles their JSON commands and answers
/// temporal queries, with the semantics of [`CommandHandler`](crate::CommandHandler):
/// snapshots every 10 events by default, up to 3 attempts per command, causation = the
/// command id, event ids `{command_id}-n`.
pub struct DynamicHandler<S, D> {
    core: HandlerCore<S>,
    aggregate: D,
}

impl<S, D: fmt::Debug> fmt::Debug for DynamicHandler<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamicHandler")
            .field("aggregate", &self.aggregate)
            .field("snapshots", &self.core.snapshots)
            .field("max_attempts", &self.core.max_attempts)
            .finish_non_exhaustive()
    }
}

impl<S: EventStore, D: DynamicAggregate> DynamicHandler<S, D> {
    /// A handler for `aggregate` over `store` with no upcasters, snapshots every 10
    /// events and up to 3 attempts per command. Fails with
    /// [`DynamicError::InvalidName`] when the aggregate's name is empty or contains `-`.
    pub fn new(store: S, aggregate: D) -> Result<Self, DynamicError<D::Error>> {
        let name = aggregate.name();
        if name.trim().is_empty() || name.contains('-') {
            return Err(DynamicError::InvalidName(name.to_string()));
        }
        Ok(Self {
            core: HandlerCore::new(store),
            aggregate,
        })
    }

    /// Reads events through `upcasters`.
    pub fn with_upcasters(mut self, upcasters: Upcasters) -> Self {
        self.core.upcasters = upcasters;
        self
    }

    /// Sets when snapshots are saved (`SnapshotPolicy::Every(n)` for a JS
    /// `snapshotEvery: n`).
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

    /// The aggregate definition.
    pub fn aggregate(&self) -> &D {
        &self.aggregate
    }

    /// The upcasters events are read through.
    pub fn upcasters(&self) -> &Upcasters {
        &self.core.upcasters
    }

    /// The stream that holds the aggregate with `id`: `{name}-{id}`.
    pub fn stream_id(&self, id: &str) -> String {
        format!("{}-{id}", self.aggregate.name())
    }

    /// The current state of the aggregate `id`: the newest snapshot of the current
    /// snapshot schema version plus the events after it.
    pub async fn load(&self, id: &str) -> Result<AggregateState<Value>, DynamicError<D::Error>> {
        let stream = self.stream_id(id);
        self.core
            .rebuild(&Json(&self.aggregate), &stream, None)
            .await
    }

    /// The aggregate's state just after version `version` (0: the initial state),
    /// rebuilt from the nearest snapshot at or below it.
    pub async fn state_at_version(
        &self,
        id: &str,
        version: u64,
    ) -> Result<AggregateState<Value>, DynamicError<D::Error>> {
        let stream = self.stream_id(id);
        self.core
            .state_at_version(&Json(&self.aggregate), &stream, version)
            .await
    }

    /// The aggregate's state as of `at_ms` (ms since the Unix epoch): every event
    /// recorded at or before that time.
    pub async fn state_at_time(
        &self,
        id: &str,
        at_ms: i64,
    ) -> Result<AggregateState<Value>, DynamicError<D::Error>> {
        let stream = self.stream_id(id);
        self.core
            .state_at_time(&Json(&self.aggregate), &stream, at_ms)
            .await
    }

    /// Handles `command` for the aggregate `id`: loads it, decides, and appends the
    /// events with an exact expected version, deciding again on a fresher state after a
    /// conflict, up to the attempt limit. A rejection writes nothing.
    pub async fn handle(
        &self,
        id: &str,
        command: &Value,
        context: &CommandContext,
    ) -> Result<CommandOutcome<Value>, DynamicError<D::Error>> {
        let stream = self.stream_id(id);
        self.core
            .handle(
                &Json(&self.aggregate),
                &stream,
                command,
                context,
                Recorded::Return,
            )
            .await
    }

    /// Replays the aggregate's whole stream (ignoring snapshots) and saves a snapshot of
    /// its state, whatever the policy. Returns its version, `None` when there are no
    /// events.
    pub async fn snapshot_now(&self, id: &str) -> Result<Option<u64>, DynamicError<D::Error>> {
        let stream = self.stream_id(id);
        self.core
            .snapshot_now(&Json(&self.aggregate), &stream)
            .await
    }
}
