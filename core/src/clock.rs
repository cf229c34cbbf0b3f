//! Injected sources of time and identity.
//!
//! The engine asks these traits for "now" and for fresh event ids, so that tests are
//! deterministic and the browser can supply `Date.now()` and `crypto.randomUUID()`.

use std::cell::Cell;

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock {
    /// The current time in milliseconds since 1970-01-01T00:00:00Z.
    fn now_ms(&self) -> i64;
}

/// A source of unique event ids, used when the caller supplies none.
pub trait IdSource {
    /// A new id, unique within the store.
    fn next_id(&self) -> String;
}

/// A clock that only moves when told to: deterministic time for tests and replays.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: Cell<i64>,
}

impl ManualClock {
    /// A clock standing at `start_ms`.
    pub fn new(start_ms: i64) -> Self {
        Self {
            now: Cell::new(start_ms),
        }
    }

    /// Moves the clock forwards (or backwards) by `delta_ms`.
    pub fn advance(&self, delta_ms: i64) {
        self.now.set(self.now.get() + delta_ms);
    }

    /// Sets the clock to `ms`.
    pub fn set(&self, ms: i64) {
        self.now.set(ms);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.get()
    }
}

/// Ids `prefix-1`, `prefix-2`, ...: deterministic ids for tests and demo data.
#[derive(Debug)]
pub struct SequentialIds {
    prefix: String,
    next: Cell<u64>,
}

impl SequentialIds {
    /// Ids that start at `prefix-1`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            next: Cell::new(1),
        }
    }
}

impl IdSource for SequentialIds {
    fn next_id(&self) -> String {
        let n = self.next.get();
        self.next.set(n + 1);
        format!("{}-{n}", self.prefix)
    }
}

impl<T: Clock + ?Sized> Clock for std::rc::Rc<T> {
    fn now_ms(&self) -> i64 {
        (**self).now_ms()
    }
}

impl<T: IdSource + ?Sized> IdSource for std::rc::Rc<T> {
    fn next_id(&self) -> String {
        (**self).next_id()
    }
}
