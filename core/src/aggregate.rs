//! Aggregates: typed commands in, typed events out (`decide`), state folded from events
//! (`evolve`).
//!
//! An aggregate is a consistency boundary stored as one stream, `{CATEGORY}-{id}`. The
//! [`CommandHandler`](crate::CommandHandler) loads it, asks it to decide, and appends the
//! events with an exact expected version.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// A typed domain event: it names its type and the schema version of its payload.
///
/// By default an event is stored as its serde JSON form (`to_data`/`from_data`), so an
/// enum tagged with `#[serde(tag = "type")]` gives readable payloads such as
/// `{"type": "Deposited", "amount": 5}`. Override both methods to store another shape.
///
/// When the payload of an event type changes, raise its `schema_version` and register an
/// upcaster from the old version in [`Upcasters`](crate::Upcasters); stored events are
/// never rewritten.
pub trait DomainEvent: Serialize + DeserializeOwned {
    /// The event's type name, such as `Deposited`; stored as the envelope's `event_type`.
    fn event_type(&self) -> &'static str;

    /// The schema version this code writes and reads for this event's type (1 unless
    /// the payload has changed since the first release).
    fn schema_version(&self) -> u32 {
        1
    }

    /// The payload stored for this event.
    fn to_data(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(self)
    }

    /// Rebuilds an event from a stored (and upcast) payload of type `event_type`.
    fn from_data(event_type: &str, data: Value) -> Result<Self, serde_json::Error> {
        let _ = event_type;
        serde_json::from_value(data)
    }

    /// [`from_data`](Self::from_data) from a borrowed payload, for readers that keep
    /// the event: the handler's check that a decided event will load, projections. It
    /// must give what `from_data` gives. The default clones `data` for `from_data`;
    /// override it when the event can be read from the payload without a copy (for the
    /// default `from_data`: `Self::deserialize(data)`).
    fn from_data_ref(event_type: &str, data: &Value) -> Result<Self, serde_json::Error> {
        Self::from_data(event_type, data.clone())
    }
}

/// An event-sourced aggregate: its state is the fold of its events.
///
/// `decide` must be pure (no clock, no randomness, no IO): the handler may call it again
/// on a fresher state when another writer got there first. `evolve` must be total and
/// deterministic: it only records what already happened.
pub trait Aggregate: Default + Serialize + DeserializeOwned {
    /// What the aggregate can be asked to do.
    type Command;
    /// What the aggregate records.
    type Event: DomainEvent;
    /// Why a command is rejected (a domain rule, such as "insufficient funds").
    type Error: std::error::Error + 'static;

    /// The stream category: the aggregate with id `42` lives in stream `{CATEGORY}-42`.
    /// Must not contain `-`, so that [`stream_category`](crate::stream_category) finds it.
    const CATEGORY: &'static str;

    /// Schema version of the serialized state. Raise it whenever the state's shape
    /// changes: snapshots of other versions are then ignored and the state is rebuilt
    /// by replaying events.
    const SNAPSHOT_SCHEMA_VERSION: u32 = 1;

    /// The stream that holds the aggregate with `id`.
    fn stream_id(id: &str) -> String {
        [Self::CATEGORY, "-", id].concat()
    }

    /// Decides which events `command` causes in the current state, or rejects it.
    fn decide(&self, command: &Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// Applies one event to the state.
    fn evolve(&mut self, event: &Self::Event);
}

/// Folds `events` into a fresh aggregate: the state they describe.
pub fn fold<'a, A: Aggregate>(events: impl IntoIterator<Item = &'a A::Event>) -> A
where
    A::Event: 'a,
{
    let mut state = A::default();
    for event in events {
        state.evolve(event);
    }
    state
}

/// An aggregate's state as of a stream version, and how it was rebuilt.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateState<A> {
    /// The state.
    pub state: A,
    /// The stream version the state includes (0: no events).
    pub version: u64,
    /// The version of the snapshot the rebuild started from, `None` for a full replay.
    pub snapshot_version: Option<u64>,
    /// How many events were replayed on top of the snapshot (or from the start).
    pub events_replayed: u64,
}

impl<A: Default> AggregateState<A> {
    /// The state of an aggregate with no events.
    pub fn empty() -> Self {
        Self {
            state: A::default(),
            version: 0,
            snapshot_version: None,
            events_replayed: 0,
        }
    }
}
