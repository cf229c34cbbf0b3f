//! The stored form of domain events: the variant name is the envelope's `event_type`
//! and the payload holds only the (camelCase) fields, without a `type` tag.

use serde::de::{DeserializeOwned, Error as _};
use serde::Serialize;
use serde_json::{Map, Value};

/// Serializes an internally tagged (`#[serde(tag = "type")]`) event and drops the tag.
pub(crate) fn to_data<E: Serialize>(event: &E) -> Result<Value, serde_json::Error> {
    let mut value = serde_json::to_value(event)?;
    if let Value::Object(map) = &mut value {
        map.remove("type");
    }
    Ok(value)
}

/// Rebuilds an internally tagged event from its type and tag-less payload.
pub(crate) fn from_data<E: DeserializeOwned>(
    event_type: &str,
    data: Value,
) -> Result<E, serde_json::Error> {
    let mut map = match data {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            return Err(serde_json::Error::custom(format!(
                "payload of '{event_type}' must be an object, got {other}"
            )))
        }
    };
    map.insert("type".into(), Value::String(event_type.to_string()));
    serde_json::from_value(Value::Object(map))
}

/// The id of an aggregate from its stream id: `account-acc-1` → `acc-1`.
pub(crate) fn id_in(stream_id: &str, category: &str) -> String {
    stream_id
        .strip_prefix(category)
        .and_then(|rest| rest.strip_prefix('-'))
        .unwrap_or(stream_id)
        .to_string()
}
