//! The stored form of domain events: the variant name is the envelope's `event_type`
//! and the payload holds only the (camelCase) fields, without a `type` tag.

use serde::de::value::{BorrowedStrDeserializer, MapDeserializer};
use serde::de::{
    DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, Error as _, MapAccess,
    VariantAccess, Visitor,
};
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
    from_data_ref(event_type, &data)
}

/// [`from_data`] from a borrowed payload: the event is read from the payload's fields
/// and `"type": event_type` in place (the payload is neither copied nor changed; a
/// `type` field of its own is ignored, as the envelope's type wins).
pub(crate) fn from_data_ref<E: DeserializeOwned>(
    event_type: &str,
    data: &Value,
) -> Result<E, serde_json::Error> {
    let empty = Map::new();
    let fields = match data {
        Value::Object(map) => map,
        Value::Null => &empty,
        other => {
            return Err(serde_json::Error::custom(format!(
                "payload of '{event_type}' must be an object, got {other}"
            )))
        }
    };
    E::deserialize(Tagged { event_type, fields })
}

/// Reads an event of `event_type` from its tag-less payload `data` with `deserialize`,
/// the decoder of the event's externally tagged form (a `#[serde(remote = …)]` copy of
/// the enum without `tag`): the variant is `event_type` and its fields are read from
/// `data` in place. The derived decoder of an internally tagged enum first copies every
/// field into a buffer to find the tag, which this skips. Gives what [`from_data_ref`]
/// gives: a `type` field of the payload is ignored, a `null` payload has no fields.
pub(crate) fn from_tagged<'a, E>(
    event_type: &'a str,
    data: &'a Value,
    deserialize: impl FnOnce(ExternallyTagged<'a>) -> Result<E, serde_json::Error>,
) -> Result<E, serde_json::Error> {
    static NO_FIELDS: Value = Value::Null;
    let fields = match data {
        Value::Object(_) => data,
        Value::Null => &NO_FIELDS,
        other => {
            return Err(serde_json::Error::custom(format!(
                "payload of '{event_type}' must be an object, got {other}"
            )))
        }
    };
    deserialize(ExternallyTagged { event_type, fields })
}

/// An event as `{event_type: fields}`, for [`from_tagged`]; `fields` is an object or
/// `null` (no fields).
pub(crate) struct ExternallyTagged<'a> {
    event_type: &'a str,
    fields: &'a Value,
}

impl<'de> Deserializer<'de> for ExternallyTagged<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de> EnumAccess<'de> for ExternallyTagged<'de> {
    type Error = serde_json::Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), Self::Error> {
        let variant = seed.deserialize(BorrowedStrDeserializer::new(self.event_type))?;
        Ok((variant, self))
    }
}

impl<'de> VariantAccess<'de> for ExternallyTagged<'de> {
    type Error = serde_json::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        seed.deserialize(self.fields)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.fields.deserialize_tuple(len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.fields {
            Value::Null => {
                visitor.visit_map(MapDeserializer::new(std::iter::empty::<(&str, &Value)>()))
            }
            fields => fields.deserialize_any(visitor),
        }
    }
}

/// A payload's fields with the tag `"type": event_type` first, as one JSON object.
struct Tagged<'a> {
    event_type: &'a str,
    fields: &'a Map<String, Value>,
}

impl<'de> Deserializer<'de> for Tagged<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(TaggedFields {
            tag: Some(self.event_type),
            fields: self.fields.iter(),
            value: None,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// The entries of [`Tagged`]: the tag, then every field but a `type` of its own.
struct TaggedFields<'de> {
    /// The tag's value, until its key has been read.
    tag: Option<&'de str>,
    fields: serde_json::map::Iter<'de>,
    /// The value of the key just read: the tag (`Err`) or a field's.
    value: Option<Result<&'de Value, &'de str>>,
}

impl<'de> MapAccess<'de> for TaggedFields<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        if let Some(tag) = self.tag.take() {
            self.value = Some(Err(tag));
            return seed
                .deserialize(BorrowedStrDeserializer::new("type"))
                .map(Some);
        }
        for (key, value) in self.fields.by_ref() {
            if key != "type" {
                self.value = Some(Ok(value));
                return seed
                    .deserialize(BorrowedStrDeserializer::new(key.as_str()))
                    .map(Some);
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(Ok(value)) => seed.deserialize(value),
            Some(Err(tag)) => seed.deserialize(BorrowedStrDeserializer::new(tag)),
            None => Err(serde_json::Error::custom("a value was read before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.fields.len() + usize::from(self.tag.is_some()))
    }
}

/// The id of an aggregate from its stream id: `account-acc-1` → `acc-1`.
pub(crate) fn id_in(stream_id: &str, category: &str) -> String {
    stream_id
        .strip_prefix(category)
        .and_then(|rest| rest.strip_prefix('-'))
        .unwrap_or(stream_id)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::OrderEvent;
    use chronik_core::aggregate::DomainEvent;
    use serde_json::json;

    #[test]
    fn the_externally_tagged_order_decoder_reads_every_type_as_the_derived_one() {
        use crate::money::Money;
        use crate::orders::OrderItem;
        let item = OrderItem {
            product_id: "p".into(),
            product_name: Some("P".into()),
            quantity: 2,
            unit_price: Money::from_cents(150),
        };
        let s = |v: &str| v.to_string();
        let events = [
            OrderEvent::OrderCreated {
                customer_id: s("c"),
            },
            OrderEvent::ItemAdded {
                product_id: s("p"),
                product_name: None,
                quantity: 1,
                unit_price: Money::from_cents(5),
            },
            OrderEvent::ItemAdded {
                product_id: s("p"),
                product_name: Some(s("P")),
                quantity: 1,
                unit_price: Money::from_cents(5),
            },
            OrderEvent::ItemRemoved { product_id: s("p") },
            OrderEvent::ItemQuantityUpdated {
                product_id: s("p"),
                quantity: 3,
            },
            OrderEvent::OrderSubmitted {
                customer_id: s("c"),
                items: vec![
                    item.clone(),
                    OrderItem {
                        product_name: None,
                        ..item
                    },
                ],
                total: Money::from_cents(300),
            },
            OrderEvent::OrderReserved {
                reservation_id: s("r"),
            },
            OrderEvent::OrderProcessing { payment_id: s("p") },
            OrderEvent::OrderCompleted {
                tracking_number: s("t"),
            },
            OrderEvent::OrderCancelled { reason: s("r") },
        ];
        let mut types: Vec<&str> = events.iter().map(|e| e.event_type()).collect();
        types.dedup();
        assert_eq!(types, OrderEvent::TYPES, "every type is covered");
        for event in &events {
            let mut data = event.to_data().unwrap();
            let fast = OrderEvent::from_data_ref(event.event_type(), &data).unwrap();
            assert_eq!(&fast, event);
            // A `type` field of the payload is ignored, unknown fields too.
            data["type"] = json!("OrderCancelled");
            data["extra"] = json!([1]);
            let derived: OrderEvent = from_data_ref(event.event_type(), &data).unwrap();
            let fast = OrderEvent::from_data_ref(event.event_type(), &data).unwrap();
            assert_eq!((&fast, &derived), (event, event));
        }
        for (event_type, data) in [
            ("OrderCreated", json!({})),
            ("OrderCreated", Value::Null),
            ("OrderCreated", json!([1])),
            ("OrderCreated", json!({ "customerId": 1 })),
            ("NoSuchEvent", json!({ "customerId": "c" })),
        ] {
            assert!(from_data_ref::<OrderEvent>(event_type, &data).is_err());
            assert!(OrderEvent::from_data_ref(event_type, &data).is_err());
        }
    }

    #[test]
    fn a_borrowed_payload_decodes_as_an_owned_one() {
        let submitted = json!({ "customerId": "c", "items": [], "total": 0 });
        let created = json!({ "customerId": "c", "type": "ItemRemoved" });
        for (event_type, data) in [("OrderSubmitted", &submitted), ("OrderCreated", &created)] {
            let owned: OrderEvent = from_data(event_type, data.clone()).unwrap();
            let borrowed: OrderEvent = from_data_ref(event_type, data).unwrap();
            assert_eq!(owned, borrowed);
            assert_eq!(borrowed.event_type(), event_type);
        }
        assert!(from_data_ref::<OrderEvent>("OrderCreated", &json!({})).is_err());
        assert!(from_data_ref::<OrderEvent>("OrderCreated", &json!([1])).is_err());
        assert!(from_data_ref::<OrderEvent>("NoSuchEvent", &created).is_err());
        let cancelled: OrderEvent =
            from_data_ref("OrderCancelled", &json!({ "reason": "r" })).unwrap();
        assert_eq!(cancelled, OrderEvent::OrderCancelled { reason: "r".into() });
        let null: Result<OrderEvent, _> = from_data_ref("OrderCreated", &Value::Null);
        assert!(null.unwrap_err().to_string().contains("customerId"));
    }
}
