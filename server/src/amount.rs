//! Amounts on the wire: JSON numbers in currency units (`1000.0`, `10.5`, `250`),
//! converted to integer cents exactly, from the number's text (never through a float).

use chronik_examples::Money;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// A non-negative amount with at most two decimals, read from a JSON number's text.
///
/// Refused (400): strings, negatives, exponents (`1e3`), more than two decimals
/// (`1.005`), and amounts beyond [`Money::MAX`]. JSON has no `NaN` or `Infinity`, so a
/// body holding one does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(pub Money);

impl Amount {
    /// Parses the text of a JSON number.
    pub fn parse_number(text: &str) -> Result<Amount, String> {
        let text = text.trim();
        if text.starts_with('"') {
            return Err(format!(
                "amounts are JSON numbers in currency units, such as 10.50, not the string {text}"
            ));
        }
        if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            return Err(format!("amount must be a number, got {text}"));
        }
        if text.starts_with('-') {
            return Err(format!("amount must not be negative, got {text}"));
        }
        if text.contains(['e', 'E']) {
            return Err(format!(
                "amount must be written without an exponent, got {text}"
            ));
        }
        let (_, frac) = text.split_once('.').unwrap_or((text, ""));
        if frac.len() > 2 {
            return Err(format!("amount has more than two decimals: {text}"));
        }
        if text.bytes().all(|b| b == b'0' || b == b'.') {
            return Ok(Amount(Money::ZERO));
        }
        Money::parse(text)
            .map(Amount)
            .map_err(|e| format!("invalid amount: {e}"))
    }

    /// The amount as a decimal string, as the domain's commands take it.
    pub fn decimal(self) -> String {
        self.0.to_string()
    }

    /// Whether it is zero.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Amount::parse_number(raw.get()).map_err(D::Error::custom)
    }
}

/// How a JSON number of currency units is written back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Always with a decimal point, as a float prints: `1300.0`, `10.5` (seed 000/001).
    Float,
    /// Whole amounts without one: `1300`, `10.5` (seed 004).
    Plain,
}

/// An amount written as an exact JSON number (its text is built from the cents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Units(pub Money, pub Style);

impl Units {
    /// The JSON text of the number.
    pub fn text(self) -> String {
        let cents = self.0.cents();
        let sign = if cents < 0 { "-" } else { "" };
        let (whole, frac) = (cents.unsigned_abs() / 100, cents.unsigned_abs() % 100);
        match (frac, self.1) {
            (0, Style::Float) => format!("{sign}{whole}.0"),
            (0, Style::Plain) => format!("{sign}{whole}"),
            (f, _) if f % 10 == 0 => format!("{sign}{whole}.{}", f / 10),
            (f, _) => format!("{sign}{whole}.{f:02}"),
        }
    }
}

impl Serialize for Units {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(self.text()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cents(text: &str) -> Result<i64, String> {
        Amount::parse_number(text).map(|a| a.0.cents())
    }

    #[test]
    fn numbers_become_exact_cents() {
        assert_eq!(cents("1000.0"), Ok(100_000));
        assert_eq!(cents("10.5"), Ok(1_050));
        assert_eq!(cents("0.07"), Ok(7));
        assert_eq!(cents("250"), Ok(25_000));
        assert_eq!(cents("0"), Ok(0));
        assert_eq!(cents("0.00"), Ok(0));
        assert_eq!(cents("90071992547409.91"), Ok(9_007_199_254_740_991));
    }

    #[test]
    fn everything_else_is_refused() {
        for bad in [
            "1.005",
            "-1",
            "-0.5",
            "1e3",
            "1E-2",
            "\"10\"",
            "null",
            "true",
            "90071992547409.92",
        ] {
            assert!(cents(bad).is_err(), "{bad} must be refused");
        }
        let body: Result<Amount, _> = serde_json::from_str("NaN");
        assert!(body.is_err());
    }

    #[test]
    fn units_are_written_exactly() {
        let t = |c, s| Units(Money::from_cents(c), s).text();
        assert_eq!(t(130_000, Style::Float), "1300.0");
        assert_eq!(t(130_000, Style::Plain), "1300");
        assert_eq!(t(1_050, Style::Float), "10.5");
        assert_eq!(t(1_005, Style::Plain), "10.05");
        assert_eq!(t(9_007_199_254_740_991, Style::Plain), "90071992547409.91");
        assert_eq!(t(-250, Style::Float), "-2.5");
        assert_eq!(
            serde_json::to_string(&Units(Money::from_cents(7), Style::Float)).unwrap(),
            "0.07"
        );
    }
}
