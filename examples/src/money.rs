//! Money as integer minor units (cents), parsed from decimal strings.
//!
//! Floating point never touches an amount: `"10.50"` becomes `1050` cents, and every
//! balance is an `i64` of cents with checked arithmetic.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An amount of money in minor units (cents). Serialized as an integer of cents;
/// [`Display`](fmt::Display) renders it with two decimals (`1050` → `10.50`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(i64);

/// Why a decimal string is not an acceptable amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The string is empty. Send an amount such as `"10.50"`.
    #[error("amount is empty; send a decimal string such as \"10.50\"")]
    Empty,
    /// The string is not a plain decimal number. Send digits with an optional `.` and
    /// at most two decimals, no sign, spaces or thousands separators.
    #[error("amount '{0}' is not a decimal number such as \"10.50\"")]
    Malformed(String),
    /// The string has more than two decimal places. Round it to cents first.
    #[error("amount '{0}' has more than two decimal places")]
    TooManyDecimals(String),
    /// The amount is zero or negative. Send a positive amount.
    #[error("amount '{0}' must be greater than zero")]
    NotPositive(String),
    /// The amount is larger than [`Money::MAX`] (90071992547409.91, the largest number
    /// of cents a JavaScript number holds exactly). Send a smaller amount.
    #[error("amount '{0}' is too large; the maximum is 90071992547409.91")]
    Overflow(String),
}

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(0);

    /// The largest amount: 2^53 − 1 cents (90071992547409.91), the largest integer a
    /// JavaScript number holds exactly. Parsed amounts, balances and totals stay within
    /// [−`MAX`, `MAX`], so every amount chronik stores reads back exactly in JS.
    pub const MAX: Money = Money(9_007_199_254_740_991);

    /// `cents` minor units.
    pub const fn from_cents(cents: i64) -> Self {
        Money(cents)
    }

    /// The amount in minor units.
    pub const fn cents(self) -> i64 {
        self.0
    }

    /// Parses a positive amount with at most two decimals: `"10.5"`, `"10.50"` and
    /// `"1000"` are accepted; `"0"`, `"-1"`, `"1.234"`, `"1e3"`, `"1,000"`, `".5"` and
    /// amounts beyond [`Money::MAX`] are rejected.
    ///
    /// ```
    /// use chronik_examples::{Money, MoneyError};
    /// assert_eq!(Money::parse("10.5"), Ok(Money::from_cents(1050)));
    /// assert_eq!(Money::parse("1000").unwrap().to_string(), "1000.00");
    /// assert_eq!(Money::parse("0.00"), Err(MoneyError::NotPositive("0.00".into())));
    /// assert_eq!(Money::parse("1.234"), Err(MoneyError::TooManyDecimals("1.234".into())));
    /// ```
    pub fn parse(input: &str) -> Result<Money, MoneyError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(MoneyError::Empty);
        }
        let unsigned = match s.strip_prefix('-') {
            Some(rest) if is_decimal(rest) => return Err(MoneyError::NotPositive(shown(input))),
            Some(_) => return Err(MoneyError::Malformed(shown(input))),
            None => s,
        };
        if !is_decimal(unsigned) {
            return Err(MoneyError::Malformed(shown(input)));
        }
        let (whole, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        if frac.len() > 2 {
            return Err(MoneyError::TooManyDecimals(shown(input)));
        }
        let overflow = || MoneyError::Overflow(shown(input));
        let mut cents: i64 = 0;
        for digit in whole.bytes().chain(frac.bytes()).chain(
            std::iter::repeat_n(b'0', 2 - frac.len()), // pad "10.5" to 1050
        ) {
            cents = cents
                .checked_mul(10)
                .and_then(|c| c.checked_add(i64::from(digit - b'0')))
                .ok_or_else(overflow)?;
        }
        if cents == 0 {
            return Err(MoneyError::NotPositive(shown(input)));
        }
        Money::within_bounds(cents).ok_or_else(overflow)
    }

    /// `cents` as an amount when it lies within [−[`MAX`](Self::MAX), `MAX`].
    pub const fn within_bounds(cents: i64) -> Option<Money> {
        if cents >= -Self::MAX.0 && cents <= Self::MAX.0 {
            Some(Money(cents))
        } else {
            None
        }
    }

    /// Whether the amount lies within [−[`MAX`](Self::MAX), `MAX`].
    pub const fn is_within_bounds(self) -> bool {
        Self::within_bounds(self.0).is_some()
    }

    /// `self + other`, `None` when the result leaves [−[`MAX`](Self::MAX), `MAX`].
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).and_then(Money::within_bounds)
    }

    /// `self - other`, `None` when the result leaves [−[`MAX`](Self::MAX), `MAX`].
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).and_then(Money::within_bounds)
    }

    /// `self × factor`, `None` when the result leaves [−[`MAX`](Self::MAX), `MAX`].
    pub fn checked_mul(self, factor: i64) -> Option<Money> {
        self.0.checked_mul(factor).and_then(Money::within_bounds)
    }

    /// `self + other`, saturating at −[`MAX`](Self::MAX) and `MAX` (for folds and read
    /// models, where a total must never panic and must stay readable in JS).
    pub fn saturating_add(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0)).clamped()
    }

    /// `self - other`, saturating at −[`MAX`](Self::MAX) and `MAX`.
    pub fn saturating_sub(self, other: Money) -> Money {
        Money(self.0.saturating_sub(other.0)).clamped()
    }

    /// `self × factor`, saturating at −[`MAX`](Self::MAX) and `MAX`.
    pub fn saturating_mul(self, factor: i64) -> Money {
        Money(self.0.saturating_mul(factor)).clamped()
    }

    /// The amount, brought into [−[`MAX`](Self::MAX), `MAX`].
    pub const fn clamped(self) -> Money {
        if self.0 > Self::MAX.0 {
            Self::MAX
        } else if self.0 < -Self::MAX.0 {
            Money(-Self::MAX.0)
        } else {
            self
        }
    }

    /// Whether the amount is zero.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

/// The most characters of a refused input an error repeats.
const SHOWN_CHARS: usize = 40;

/// `input` as an error shows it: whole when short, else its first [`SHOWN_CHARS`]
/// characters (cut at a character boundary) and `…`, so that a huge input never makes
/// a huge message.
fn shown(input: &str) -> String {
    match input.char_indices().nth(SHOWN_CHARS) {
        None => input.to_string(),
        Some((cut, _)) => format!("{}…", &input[..cut]),
    }
}

/// Digits, optionally followed by `.` and at least one digit.
fn is_decimal(s: &str) -> bool {
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (s, None),
    };
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

impl FromStr for Money {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Money::parse(s)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_whole_and_decimal_amounts() {
        assert_eq!(Money::parse("10.5").unwrap().cents(), 1050);
        assert_eq!(Money::parse("10.50").unwrap().cents(), 1050);
        assert_eq!(Money::parse("1000").unwrap().cents(), 100_000);
        assert_eq!(Money::parse("0.01").unwrap().cents(), 1);
        assert_eq!(Money::parse(" 7 ").unwrap().cents(), 700);
        assert_eq!(Money::parse("007.10").unwrap().cents(), 710);
    }

    #[test]
    fn rejects_bad_amounts_with_the_reason() {
        assert_eq!(Money::parse(""), Err(MoneyError::Empty));
        assert_eq!(Money::parse("  "), Err(MoneyError::Empty));
        for bad in [
            "abc", "1.", ".5", "1,000", "1e3", "+5", "1.2.3", "--1", "- 1", "NaN",
        ] {
            assert_eq!(
                Money::parse(bad),
                Err(MoneyError::Malformed(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(Money::parse("0"), Err(MoneyError::NotPositive("0".into())));
        assert_eq!(
            Money::parse("-5"),
            Err(MoneyError::NotPositive("-5".into()))
        );
        assert_eq!(
            Money::parse("1.001"),
            Err(MoneyError::TooManyDecimals("1.001".into()))
        );
        assert_eq!(
            Money::parse("92233720368547758.08"),
            Err(MoneyError::Overflow("92233720368547758.08".into()))
        );
        assert_eq!(
            Money::parse("90071992547409.92"),
            Err(MoneyError::Overflow("90071992547409.92".into()))
        );
        assert_eq!(
            Money::parse("90071992547409.92").unwrap_err().to_string(),
            "amount '90071992547409.92' is too large; the maximum is 90071992547409.91"
        );
        assert_eq!(Money::parse("90071992547409.91"), Ok(Money::MAX));
        assert_eq!(Money::MAX.cents(), (1_i64 << 53) - 1);
        assert_eq!(Money::MAX.to_string(), "90071992547409.91");
        let huge = "9".repeat(400);
        assert_eq!(
            Money::parse(&huge),
            Err(MoneyError::Overflow(format!("{}…", "9".repeat(40))))
        );
        // Cut at a character boundary, never inside one.
        let wide = "é".repeat(100);
        assert_eq!(
            Money::parse(&wide),
            Err(MoneyError::Malformed(format!("{}…", "é".repeat(40))))
        );
    }

    #[test]
    fn arithmetic_stays_within_the_maximum() {
        let one = Money::from_cents(1);
        assert_eq!(Money::MAX.checked_add(one), None);
        assert_eq!(
            Money::MAX.checked_sub(one),
            Some(Money::from_cents(Money::MAX.cents() - 1))
        );
        assert_eq!(
            Money::ZERO.checked_sub(Money::MAX),
            Some(Money::from_cents(-Money::MAX.cents()))
        );
        assert_eq!(
            Money::ZERO
                .checked_sub(Money::MAX)
                .unwrap()
                .checked_sub(one),
            None
        );
        assert_eq!(Money::MAX.checked_mul(2), None);
        assert_eq!(
            Money::MAX.checked_mul(-1),
            Some(Money::from_cents(-Money::MAX.cents()))
        );
        assert_eq!(Money::from_cents(i64::MAX).checked_add(Money::ZERO), None);
        assert_eq!(Money::from_cents(1 << 52).checked_mul(2), None);
        assert!(!Money::from_cents(i64::MIN).is_within_bounds());
        assert!(Money::MAX.is_within_bounds());
        assert_eq!(Money::MAX.saturating_add(one), Money::MAX);
        assert_eq!(Money::MAX.saturating_mul(3), Money::MAX);
        assert_eq!(
            Money::MAX.saturating_mul(-3),
            Money::ZERO.saturating_sub(Money::MAX)
        );
        assert_eq!(
            Money::from_cents(i64::MIN).saturating_sub(one),
            Money::from_cents(-Money::MAX.cents())
        );
    }

    #[test]
    fn displays_two_decimals_and_serializes_as_cents() {
        assert_eq!(Money::from_cents(1050).to_string(), "10.50");
        assert_eq!(Money::from_cents(-7).to_string(), "-0.07");
        assert_eq!(
            Money::from_cents(i64::MIN).to_string(),
            "-92233720368547758.08"
        );
        assert_eq!(
            serde_json::to_string(&Money::from_cents(1050)).unwrap(),
            "1050"
        );
    }
}
