//! A given/when/then test kit for aggregates: tests that read like the domain rules
//! they check. Pure: no store, no async.
//!
//! ```
//! use chronik_core::testing::AggregateTest;
//! # use chronik_core::{Aggregate, DomainEvent};
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Debug, Default, Serialize, Deserialize)]
//! # struct Counter { value: i64 }
//! # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
//! # #[serde(tag = "type")]
//! # enum Event { Added { n: i64 } }
//! # impl DomainEvent for Event { fn event_type(&self) -> &'static str { "Added" } }
//! # #[derive(Debug, PartialEq, thiserror::Error)]
//! # #[error("must be positive")]
//! # struct NotPositive;
//! # impl Aggregate for Counter {
//! #     type Command = i64; type Event = Event; type Error = NotPositive;
//! #     const CATEGORY: &'static str = "counter";
//! #     fn decide(&self, n: &i64) -> Result<Vec<Event>, NotPositive> {
//! #         if *n > 0 { Ok(vec![Event::Added { n: *n }]) } else { Err(NotPositive) }
//! #     }
//! #     fn evolve(&mut self, Event::Added { n }: &Event) { self.value += n }
//! # }
//! AggregateTest::<Counter>::given(vec![Event::Added { n: 1 }])
//!     .when(2)
//!     .then_expect(vec![Event::Added { n: 2 }])
//!     .then_state(|counter| assert_eq!(counter.value, 3));
//! AggregateTest::<Counter>::given_no_events()
//!     .when(0)
//!     .then_expect_error(NotPositive);
//! ```

use std::fmt::Debug;

use crate::aggregate::{Aggregate, DomainEvent};

/// The "given" half of an aggregate test: the events that already happened.
pub struct AggregateTest<A: Aggregate> {
    state: A,
}

impl<A: Aggregate> AggregateTest<A> {
    /// Given these events already happened.
    pub fn given(events: impl IntoIterator<Item = A::Event>) -> Self {
        let mut state = A::default();
        for event in events {
            state.evolve(&event);
        }
        Self { state }
    }

    /// Given a new aggregate with no events.
    pub fn given_no_events() -> Self {
        Self::given(Vec::new())
    }

    /// When this command is decided.
    pub fn when(self, command: A::Command) -> AggregateOutcome<A> {
        let result = self.state.decide(&command);
        AggregateOutcome {
            state: self.state,
            result,
        }
    }
}

/// The "then" half of an aggregate test: what the command decided.
pub struct AggregateOutcome<A: Aggregate> {
    state: A,
    result: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> AggregateOutcome<A>
where
    A::Event: Debug + PartialEq,
{
    /// Then the command records exactly these events. Also checks that each event
    /// survives its stored form (`to_data` then `from_data`). Panics otherwise.
    /// Returns the outcome so that the resulting state can be checked too.
    pub fn then_expect(self, expected: Vec<A::Event>) -> Self {
        match &self.result {
            Ok(events) => {
                assert_eq!(events, &expected, "the command recorded other events");
                for event in events {
                    let data = event
                        .to_data()
                        .unwrap_or_else(|e| panic!("event {event:?} does not serialize: {e}"));
                    let back = A::Event::from_data(event.event_type(), data)
                        .unwrap_or_else(|e| panic!("event {event:?} does not deserialize: {e}"));
                    assert_eq!(&back, event, "event changed through its stored form");
                }
            }
            Err(e) => panic!("expected events {expected:?}, but the command was rejected: {e}"),
        }
        self
    }

    /// Then the command is rejected with `expected`. Panics otherwise.
    pub fn then_expect_error(self, expected: A::Error)
    where
        A::Error: PartialEq + Debug,
    {
        match self.result {
            Ok(events) => {
                panic!("expected error {expected:?}, but the command recorded {events:?}")
            }
            Err(e) => assert_eq!(e, expected, "the command was rejected for another reason"),
        }
    }

    /// Then the command is rejected with an error whose message is `expected`.
    pub fn then_expect_error_message(self, expected: &str) {
        match self.result {
            Ok(events) => {
                panic!("expected error '{expected}', but the command recorded {events:?}")
            }
            Err(e) => assert_eq!(
                e.to_string(),
                expected,
                "the command was rejected for another reason"
            ),
        }
    }

    /// Then the state after the recorded events satisfies `check` (which asserts).
    /// Panics if the command was rejected.
    pub fn then_state(self, check: impl FnOnce(&A)) {
        let mut state = self.state;
        match self.result {
            Ok(events) => {
                for event in &events {
                    state.evolve(event);
                }
                check(&state);
            }
            Err(e) => panic!("expected a new state, but the command was rejected: {e}"),
        }
    }
}

/// A UUID-shaped id (36 characters, as seed 003's `AggregateId::to_string()`) made from
/// the counter `n`: the same string work as a UUID's, without a random number per id
/// (for benchmarks that compare with systems keyed by UUIDs). Written as
/// `Uuid::to_string` writes one: hex digits into a buffer, no `format!`.
pub fn uuid_like(n: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = *b"00000000-0000-4000-8000-000000000000";
    let (high, low) = (n >> 48, n & 0xffff_ffff_ffff);
    for (i, at) in (0..8).rev().zip(0..8) {
        id[at] = HEX[((high >> (4 * i)) & 0xf) as usize];
    }
    for (i, at) in (0..12).rev().zip(24..36) {
        id[at] = HEX[((low >> (4 * i)) & 0xf) as usize];
    }
    String::from_utf8(id.to_vec()).expect("hex digits")
}
