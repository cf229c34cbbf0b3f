//! Upcasting: lifting events stored with an old schema version to the current one on
//! read. Stored events are never rewritten.
//!
//! Register one step per `(event type, from version)`; each step turns the payload of
//! version `n` into version `n + 1`. The current version of a type is one past its
//! highest registered step, and reading an event walks every step from its stored
//! version up to that. A gap in the chain is an error naming the type and the version.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::StoreError;
use crate::event::RecordedEvent;
use crate::store::{EventStore, ReadAllOptions, ReadStreamOptions};

/// Why an event could not be brought to its current schema version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpcastError {
    /// No step lifts `event_type` from `version`, but the event is older than the
    /// current version the code knows. Register the missing upcaster.
    #[error("no upcaster for event type '{event_type}' from schema version {version} (current is {current})")]
    MissingStep {
        /// The event type.
        event_type: String,
        /// The schema version no step starts from.
        version: u32,
        /// The version the chain should reach.
        current: u32,
    },
    /// The event was stored with a newer schema version than this code knows (written by
    /// a newer release). Upgrade the code; downcasting is not supported.
    #[error(
        "event type '{event_type}' has schema version {version}, newer than the known {current}"
    )]
    FromTheFuture {
        /// The event type.
        event_type: String,
        /// The stored schema version.
        version: u32,
        /// The newest version this code knows.
        current: u32,
    },
    /// An upcaster step returned an error. Fix the step or the stored data.
    #[error("upcaster for event type '{event_type}' from schema version {from_version} failed: {message}")]
    StepFailed {
        /// The event type.
        event_type: String,
        /// The version the step starts from.
        from_version: u32,
        /// What the step reported.
        message: String,
    },
}

/// An error from reading through [`Upcasters`]: the store failed, or an event could not
/// be upcast.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadError {
    /// The store failed; see [`StoreError`] for what to do.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An event could not be upcast; see [`UpcastError`].
    #[error("event at position {position}: {source}")]
    Upcast {
        /// Global position of the event.
        position: u64,
        /// What went wrong.
        source: UpcastError,
    },
}

/// One upcaster step: the payload at version `n` in, the payload at `n + 1` out.
pub type UpcastFn = dyn Fn(Value) -> Result<Value, String>;

/// A recorded event as read through [`Upcasters`]: its payload and `schema_version` are
/// current; `original_schema_version` is what the store holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpcastEvent {
    /// The event, upcast to the current schema version of its type.
    #[serde(flatten)]
    pub event: RecordedEvent,
    /// The schema version the event was stored with.
    pub original_schema_version: u32,
}

impl UpcastEvent {
    /// Whether at least one upcaster step changed this event on read.
    pub fn was_upcast(&self) -> bool {
        self.event.schema_version != self.original_schema_version
    }
}

/// A registry of upcaster steps, keyed by event type and the version they lift from.
/// Cheap to clone (steps are shared).
#[derive(Clone, Default)]
pub struct Upcasters {
    steps: HashMap<String, BTreeMap<u32, Rc<UpcastFn>>>,
}

impl fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (event_type, steps) in &self.steps {
            map.entry(event_type, &steps.keys().collect::<Vec<_>>());
        }
        map.finish()
    }
}

impl Upcasters {
    /// An empty registry: every event is read as stored.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the step that lifts `event_type` from `from_version` to
    /// `from_version + 1`, replacing any earlier step for the same pair. A step from
    /// `u32::MAX` would lift to a version that does not exist, so it never runs.
    pub fn register(
        mut self,
        event_type: impl Into<String>,
        from_version: u32,
        step: impl Fn(Value) -> Result<Value, String> + 'static,
    ) -> Self {
        self.steps
            .entry(event_type.into())
            .or_default()
            .insert(from_version, Rc::new(step));
        self
    }

    /// The current schema version of `event_type`: one past its highest step, `None`
    /// when it has no steps (its events are read as stored).
    pub fn current_version(&self, event_type: &str) -> Option<u32> {
        self.steps
            .get(event_type)
            .and_then(|steps| steps.keys().next_back())
            .map(|v| v.saturating_add(1))
    }

    /// Lifts `data` of `event_type` from `version` to the current version; returns the
    /// new payload and its version.
    pub fn upcast_data(
        &self,
        event_type: &str,
        version: u32,
        mut data: Value,
    ) -> Result<(Value, u32), UpcastError> {
        let Some(steps) = self.steps.get(event_type) else {
            return Ok((data, version));
        };
        // A step from u32::MAX has no version to lift to: it never runs.
        let current = steps
            .keys()
            .next_back()
            .map_or(version, |v| v.saturating_add(1));
        if version > current {
            return Err(UpcastError::FromTheFuture {
                event_type: event_type.to_string(),
                version,
                current,
            });
        }
        let mut at = version;
        while at < current {
            let step = steps.get(&at).ok_or_else(|| UpcastError::MissingStep {
                event_type: event_type.to_string(),
                version: at,
                current,
            })?;
            data = step(data).map_err(|message| UpcastError::StepFailed {
                event_type: event_type.to_string(),
                from_version: at,
                message,
            })?;
            at += 1;
        }
        Ok((data, at))
    }

    /// Lifts a recorded event to the current version of its type.
    pub fn upcast(&self, mut event: RecordedEvent) -> Result<UpcastEvent, UpcastError> {
        let original_schema_version = event.schema_version;
        let data = std::mem::take(&mut event.data);
        let (data, version) = self.upcast_data(&event.event_type, event.schema_version, data)?;
        event.data = data;
        event.schema_version = version;
        Ok(UpcastEvent {
            event,
            original_schema_version,
        })
    }

    /// Upcasts every event of a read, naming the position of the first that fails.
    pub fn upcast_all(&self, events: Vec<RecordedEvent>) -> Result<Vec<UpcastEvent>, ReadError> {
        events
            .into_iter()
            .map(|e| {
                let position = e.position;
                self.upcast(e)
                    .map_err(|source| ReadError::Upcast { position, source })
            })
            .collect()
    }

    /// [`EventStore::read_stream`], upcast.
    pub async fn read_stream<S: EventStore + ?Sized>(
        &self,
        store: &S,
        stream_id: &str,
        options: ReadStreamOptions,
    ) -> Result<Vec<UpcastEvent>, ReadError> {
        self.upcast_all(store.read_stream(stream_id, options).await?)
    }

    /// [`EventStore::read_all`], upcast.
    pub async fn read_all<S: EventStore + ?Sized>(
        &self,
        store: &S,
        options: ReadAllOptions,
    ) -> Result<Vec<UpcastEvent>, ReadError> {
        self.upcast_all(store.read_all(options).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_step_from_the_last_version_never_overflows() {
        let up = Upcasters::new().register("E", u32::MAX, |_| Err("never runs".into()));
        assert_eq!(up.current_version("E"), Some(u32::MAX));
        assert_eq!(
            up.upcast_data("E", u32::MAX, json!(1)).unwrap(),
            (json!(1), u32::MAX)
        );
        assert!(matches!(
            up.upcast_data("E", 1, json!(1)),
            Err(UpcastError::MissingStep { version: 1, .. })
        ));
    }

    fn renamed() -> Upcasters {
        Upcasters::new()
            // v1 {"amt": n} -> v2 {"amount": n}
            .register("Deposited", 1, |mut v| {
                let amt = v
                    .as_object_mut()
                    .and_then(|o| o.remove("amt"))
                    .ok_or("missing amt")?;
                Ok(json!({ "amount": amt }))
            })
            // v2 -> v3 adds a currency
            .register("Deposited", 2, |mut v| {
                v["currency"] = json!("EUR");
                Ok(v)
            })
    }

    #[test]
    fn a_chain_lifts_every_step_in_order() {
        let up = renamed();
        assert_eq!(up.current_version("Deposited"), Some(3));
        let (data, v) = up.upcast_data("Deposited", 1, json!({"amt": 5})).unwrap();
        assert_eq!((data, v), (json!({"amount": 5, "currency": "EUR"}), 3));
        let (data, v) = up
            .upcast_data("Deposited", 2, json!({"amount": 7}))
            .unwrap();
        assert_eq!((data, v), (json!({"amount": 7, "currency": "EUR"}), 3));
    }

    #[test]
    fn current_events_and_unknown_types_pass_through() {
        let up = renamed();
        let current = json!({"amount": 1, "currency": "USD"});
        assert_eq!(
            up.upcast_data("Deposited", 3, current.clone()).unwrap(),
            (current.clone(), 3)
        );
        assert_eq!(
            up.upcast_data("Withdrawn", 1, current.clone()).unwrap(),
            (current, 1)
        );
    }

    #[test]
    fn a_missing_step_names_type_and_version() {
        let up = Upcasters::new()
            .register("Deposited", 1, Ok)
            .register("Deposited", 3, Ok);
        let err = up.upcast_data("Deposited", 1, json!({})).unwrap_err();
        assert_eq!(
            err,
            UpcastError::MissingStep {
                event_type: "Deposited".into(),
                version: 2,
                current: 4
            }
        );
        assert_eq!(
            err.to_string(),
            "no upcaster for event type 'Deposited' from schema version 2 (current is 4)"
        );
    }

    #[test]
    fn newer_and_failing_events_are_errors() {
        let up = renamed();
        assert!(matches!(
            up.upcast_data("Deposited", 4, json!({})),
            Err(UpcastError::FromTheFuture {
                version: 4,
                current: 3,
                ..
            })
        ));
        assert_eq!(
            up.upcast_data("Deposited", 1, json!({"wrong": 1})),
            Err(UpcastError::StepFailed {
                event_type: "Deposited".into(),
                from_version: 1,
                message: "missing amt".into()
            })
        );
    }

    #[test]
    fn reads_through_the_registry_flag_upcast_events_and_keep_the_store_intact() {
        use crate::{ExpectedVersion, ManualClock, MemoryStore, NewEvent, SequentialIds};
        let store = MemoryStore::new(ManualClock::new(0), SequentialIds::new("e"));
        futures::executor::block_on(async {
            store
                .append(
                    "account-1",
                    ExpectedVersion::NoStream,
                    vec![
                        NewEvent::new("Deposited", json!({"amt": 5})),
                        NewEvent::new("Deposited", json!({"amount": 6, "currency": "EUR"}))
                            .with_schema_version(3),
                    ],
                )
                .await
                .unwrap();
            let up = renamed();
            let read = up
                .read_stream(&store, "account-1", ReadStreamOptions::default())
                .await
                .unwrap();
            assert_eq!(
                read.iter()
                    .map(|e| (
                        e.was_upcast(),
                        e.original_schema_version,
                        e.event.schema_version
                    ))
                    .collect::<Vec<_>>(),
                vec![(true, 1, 3), (false, 3, 3)]
            );
            assert_eq!(read[0].event.data, json!({"amount": 5, "currency": "EUR"}));
            let all = up
                .read_all(&store, ReadAllOptions::default())
                .await
                .unwrap();
            assert_eq!(all, read);
            let raw = store
                .read_stream("account-1", ReadStreamOptions::default())
                .await
                .unwrap();
            assert_eq!(raw[0].data, json!({"amt": 5}));
            assert_eq!(raw[0].schema_version, 1);

            store
                .append(
                    "account-1",
                    ExpectedVersion::Any,
                    vec![NewEvent::new("Deposited", json!({"bad": 1}))],
                )
                .await
                .unwrap();
            let err = up
                .read_all(&store, ReadAllOptions::default())
                .await
                .unwrap_err();
            assert!(matches!(err, ReadError::Upcast { position: 3, .. }));
        });
    }
}
