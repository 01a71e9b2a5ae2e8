//! Deserializers that coerce the way pydantic v1 does, so every document FATE accepts is
//! accepted here: strings from numbers, integers from numeric strings, lists in place of
//! `str | list` unions, and an order-preserving map that keeps duplicate keys for the
//! validator to report.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// An optional string; numbers and booleans are turned into their text.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(if b { "True" } else { "False" }.into())),
        Some(other) => Err(de::Error::custom(format!("str type expected, got {other}"))),
    }
}

/// An optional integer; integral floats and numeric strings are accepted.
pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("value is not a valid integer: {n}"))),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| de::Error::custom(format!("value is not a valid integer: {s:?}"))),
        Some(other) => Err(de::Error::custom(format!(
            "value is not a valid integer: {other}"
        ))),
    }
}

/// A list of strings; numbers inside are turned into text (party ids written as integers).
pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(de::Error::custom(format!("str type expected, got {other}"))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(de::Error::custom(format!(
            "value is not a valid list: {other}"
        ))),
    }
}

/// One item or a list of items (`channel | [channel]`).
#[derive(Debug, Clone, PartialEq)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn iter(&self) -> Box<dyn Iterator<Item = &T> + '_> {
        match self {
            OneOrMany::One(t) => Box::new(std::iter::once(t)),
            OneOrMany::Many(v) => Box::new(v.iter()),
        }
    }

    pub fn is_many(&self) -> bool {
        matches!(self, OneOrMany::Many(_))
    }

    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

impl<T: Serialize> Serialize for OneOrMany<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OneOrMany::One(t) => t.serialize(s),
            OneOrMany::Many(v) => v.serialize(s),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    serde_json::from_value(v).map_err(|e| de::Error::custom(format!("[{i}]: {e}")))
                })
                .collect::<Result<Vec<T>, _>>()
                .map(OneOrMany::Many),
            v => serde_json::from_value(v)
                .map(OneOrMany::One)
                .map_err(de::Error::custom),
        }
    }
}

/// A JSON/YAML object read in document order, duplicates kept (the DAG validator reports
/// them; a plain map would silently keep the last one).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<V> OrderedMap<V> {
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn insert(&mut self, key: impl Into<String>, value: V) {
        self.0.push((key.into(), value));
    }
}

impl<V: Serialize> Serialize for OrderedMap<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, V>()? {
                    out.push((k, v));
                }
                Ok(OrderedMap(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(OrderedMap(Vec::new()))
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    struct S {
        #[serde(default, deserialize_with = "opt_string")]
        s: Option<String>,
        #[serde(default, deserialize_with = "opt_int")]
        i: Option<i64>,
        #[serde(default, deserialize_with = "string_list")]
        l: Option<Vec<String>>,
    }

    #[test]
    fn coercions() {
        let s: S = serde_json::from_value(json!({"s": 5, "i": "7", "l": [9999, "10000"]})).unwrap();
        assert_eq!(s.s.as_deref(), Some("5"));
        assert_eq!(s.i, Some(7));
        assert_eq!(s.l.unwrap(), ["9999", "10000"]);
    }

    #[test]
    fn ordered_map_keeps_order_and_duplicates() {
        let text = r#"{"b": 1, "a": 2, "b": 3}"#;
        let m: OrderedMap<i64> = serde_json::from_str(text).unwrap();
        assert_eq!(m.0, vec![("b".into(), 1), ("a".into(), 2), ("b".into(), 3)]);
        let y: OrderedMap<i64> = serde_yaml::from_str("b: 1\na: 2\n").unwrap();
        assert_eq!(y.keys().collect::<Vec<_>>(), ["b", "a"]);
    }

    #[test]
    fn one_or_many() {
        let one: OneOrMany<i64> = serde_json::from_value(json!(1)).unwrap();
        let many: OneOrMany<i64> = serde_json::from_value(json!([1, 2])).unwrap();
        assert_eq!(one, OneOrMany::One(1));
        assert_eq!(many.into_vec(), [1, 2]);
    }
}
