//! The bounds every value must keep to before any store sees it.
//!
//! They exist so that no input can exhaust a stack, a quota or a parser later: a value
//! chronik accepts can always be stored, read back, exported and imported again
//! (`serde_json`'s parser stops at 128 levels, and an exported line wraps the payload in
//! two more). The JavaScript API checks the same bounds before a value reaches wasm, and
//! [`plan_append`](crate::append::plan_append) checks them for every store.

use serde_json::Value;

/// The deepest nesting allowed in any JSON value chronik accepts: event data, metadata
/// values, commands, aggregate and projection states. `[]` and `{}` are depth 1,
/// `[[1]]` is depth 2, a scalar is depth 0.
pub const MAX_DEPTH: usize = 64;

/// The longest stream id, event id, event type, correlation or causation id, aggregate
/// or projection name, in UTF-8 bytes.
pub const MAX_NAME_BYTES: usize = 1_024;

/// The most events one append (or one command's decision) may carry.
pub const MAX_BATCH_EVENTS: usize = 100_000;

/// The largest JSON text of one value crossing into chronik (an event's data, a
/// command, a state), in bytes.
pub const MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;

/// Why a value is outside the bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// The value nests deeper than [`MAX_DEPTH`]. Flatten it.
    #[error("{what} nests deeper than {MAX_DEPTH} levels")]
    TooDeep {
        /// Which value.
        what: String,
    },
    /// A name or id is empty (or only spaces). Give it a value.
    #[error("{what} must not be empty")]
    Empty {
        /// Which name.
        what: String,
    },
    /// A name or id is longer than [`MAX_NAME_BYTES`]. Shorten it.
    #[error("{what} is {len} bytes long; at most {MAX_NAME_BYTES} are allowed")]
    TooLong {
        /// Which name.
        what: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A free metadata key (`Metadata::extra`) is one of the keys that name the metadata's
    /// own fields ([`RESERVED_METADATA_KEYS`](crate::event::RESERVED_METADATA_KEYS)), which
    /// the flat JSON shape of metadata could not tell apart. Set the field itself.
    #[error("metadata key '{key}' is reserved; set the {field} itself instead of a free metadata key of that name")]
    ReservedKey {
        /// The key (`correlationId` or `causationId`).
        key: String,
        /// The field it names ("correlation id", "causation id").
        field: &'static str,
    },
}

/// `Err` when `key`, a free metadata key, is one of the
/// [`RESERVED_METADATA_KEYS`](crate::event::RESERVED_METADATA_KEYS).
pub fn check_metadata_key(key: &str) -> Result<(), LimitError> {
    let field = match key {
        "correlationId" => "correlation id",
        "causationId" => "causation id",
        _ => return Ok(()),
    };
    Err(LimitError::ReservedKey {
        key: key.to_string(),
        field,
    })
}

/// The nesting depth of `value` (see [`MAX_DEPTH`]), computed without recursion so that
/// even a value built natively millions of levels deep cannot overflow the stack.
pub fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Array(items) => {
                deepest = deepest.max(d + 1);
                stack.extend(items.iter().map(|item| (item, d + 1)));
            }
            Value::Object(map) => {
                deepest = deepest.max(d + 1);
                stack.extend(map.values().map(|item| (item, d + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// Whether `value` nests deeper than `levels` (see [`MAX_DEPTH`]). It stops descending
/// once `levels` containers deep, so it recurses at most `levels + 1` frames whatever
/// the value, and allocates nothing: the check every appended event goes through.
fn deeper_than(value: &Value, levels: usize) -> bool {
    let Some(inner) = levels.checked_sub(1) else {
        return matches!(value, Value::Array(_) | Value::Object(_));
    };
    match value {
        Value::Array(items) => items.iter().any(|v| deeper_than(v, inner)),
        Value::Object(map) => map.values().any(|v| deeper_than(v, inner)),
        _ => false,
    }
}

/// `Err` when `value` nests deeper than [`MAX_DEPTH`]; `what` names it in the error.
pub fn check_depth(what: &str, value: &Value) -> Result<(), LimitError> {
    if deeper_than(value, MAX_DEPTH) {
        return Err(LimitError::TooDeep { what: what.into() });
    }
    Ok(())
}

/// `Err` when `name` is empty, only whitespace, or longer than [`MAX_NAME_BYTES`].
pub fn check_name(what: &str, name: &str) -> Result<(), LimitError> {
    if name.trim().is_empty() {
        return Err(LimitError::Empty { what: what.into() });
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(LimitError::TooLong {
            what: what.into(),
            len: name.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_counts_containers() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!([])), 1);
        assert_eq!(depth(&json!({ "a": [1, { "b": [] }] })), 4);
    }

    #[test]
    fn the_check_agrees_with_depth() {
        let mut v = json!(1);
        for d in 0..=MAX_DEPTH + 2 {
            assert_eq!(depth(&v), d);
            assert_eq!(deeper_than(&v, MAX_DEPTH), d > MAX_DEPTH, "depth {d}");
            assert!(!deeper_than(&v, d));
            assert_eq!(deeper_than(&v, d.saturating_sub(1)), d > 0);
            v = if d % 2 == 0 {
                json!([0, v])
            } else {
                json!({ "a": null, "b": v })
            };
        }
    }

    #[test]
    fn deep_values_are_refused_without_recursion() {
        let mut v = json!(null);
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        assert!(matches!(
            check_depth("data", &v),
            Err(LimitError::TooDeep { .. })
        ));
        // Dropping a value this deep would recurse; take it apart iteratively.
        let mut stack = vec![v];
        while let Some(v) = stack.pop() {
            if let Value::Array(items) = v {
                stack.extend(items);
            }
        }
        let mut ok = json!(1);
        for _ in 0..MAX_DEPTH {
            ok = json!([ok]);
        }
        assert_eq!(check_depth("data", &ok), Ok(()));
        assert!(check_depth("data", &json!([ok])).is_err());
    }

    #[test]
    fn names_must_be_present_and_short() {
        assert!(matches!(
            check_name("stream id", " "),
            Err(LimitError::Empty { .. })
        ));
        assert_eq!(check_name("stream id", &"a".repeat(MAX_NAME_BYTES)), Ok(()));
        assert_eq!(
            check_name("stream id", &"a".repeat(MAX_NAME_BYTES + 1))
                .unwrap_err()
                .to_string(),
            "stream id is 1025 bytes long; at most 1024 are allowed"
        );
    }
}
