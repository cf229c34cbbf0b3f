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
        // `format!` without the formatting machinery: one exact allocation per id.
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        let mut rest = n;
        loop {
            start -= 1;
            digits[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        let digits = &digits[start..];
        let mut id = String::with_capacity(self.prefix.len() + 1 + digits.len());
        id.push_str(&self.prefix);
        id.push('-');
        id.extend(digits.iter().map(|&d| char::from(d)));
        id
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_count_from_one() {
        let ids = SequentialIds::new("evt");
        let made: Vec<String> = (0..11).map(|_| ids.next_id()).collect();
        assert_eq!(made[0], "evt-1");
        assert_eq!(made[9], "evt-10");
        assert_eq!(made[10], "evt-11");
        ids.next.set(u64::MAX - 1);
        assert_eq!(ids.next_id(), format!("evt-{}", u64::MAX - 1));
    }
}
