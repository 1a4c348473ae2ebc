//! A read-only view of JSON values, so that schedules compile from a `serde_json::Value` or from
//! a [`Node`]: a light tree whose strings borrow from the input text. `curfew plan` reads 300 000
//! schedule entries; building each as a `Value` (a map and a string per key) was a fifth of its
//! work.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::fmt;

/// What a JSON value is, as the schedule compiler needs to see it.
#[derive(Debug)]
pub enum View<'v, J> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as serde_json reads it.
    Number(&'v Number),
    /// A string (escapes resolved).
    Str(&'v str),
    /// A list.
    Array(&'v [J]),
    /// An object; read its members with [`Json::get`].
    Object,
}

/// A JSON value the schedule compiler can read. `Display` prints it as compact JSON, for
/// messages (`expected a string, found 5`).
pub trait Json: fmt::Display + Sized {
    /// What the value is.
    fn view(&self) -> View<'_, Self>;
    /// The member `key` of an object (the last one when a key repeats); `None` otherwise.
    fn get(&self, key: &str) -> Option<&Self>;
    /// Whether some member of an object satisfies `f` (false for other values).
    fn any_member(&self, f: &mut dyn FnMut(&Self) -> bool) -> bool;

    /// Whether the value is `null`.
    fn is_null(&self) -> bool {
        matches!(self.view(), View::Null)
    }
    /// Whether the value is an object.
    fn is_object(&self) -> bool {
        matches!(self.view(), View::Object)
    }
    /// The string, when the value is one.
    fn as_str(&self) -> Option<&str> {
        match self.view() {
            View::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl Json for Value {
    fn view(&self) -> View<'_, Self> {
        match self {
            Value::Null => View::Null,
            Value::Bool(b) => View::Bool(*b),
            Value::Number(n) => View::Number(n),
            Value::String(s) => View::Str(s),
            Value::Array(a) => View::Array(a),
            Value::Object(_) => View::Object,
        }
    }

    fn get(&self, key: &str) -> Option<&Self> {
        self.as_object().and_then(|o| o.get(key))
    }

    fn any_member(&self, f: &mut dyn FnMut(&Self) -> bool) -> bool {
        self.as_object().is_some_and(|o| o.values().any(f))
    }
}

/// A JSON value whose strings borrow from the text it was read from (owned only where the text
/// has escapes), and whose objects are short lists of members: a few allocations per schedule
/// entry instead of a few dozen.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Node<'a> {
    /// `null`.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    Str(Cow<'a, str>),
    /// A list.
    Array(Vec<Node<'a>>),
    /// An object's members in input order (repeated keys kept; the last one counts).
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl Node<'_> {
    /// The same value as a `serde_json::Value` (a repeated key keeps its last value, as
    /// serde_json does).
    pub fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(n) => Value::Number(n.clone()),
            Node::Str(s) => Value::String(s.to_string()),
            Node::Array(a) => Value::Array(a.iter().map(Node::to_value).collect()),
            Node::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
}

impl From<Value> for Node<'_> {
    fn from(v: Value) -> Self {
        match v {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(b),
            Value::Number(n) => Node::Number(n),
            Value::String(s) => Node::Str(Cow::Owned(s)),
            Value::Array(a) => Node::Array(a.into_iter().map(Node::from).collect()),
            Value::Object(o) => Node::Object(
                o.into_iter()
                    .map(|(k, v)| (Cow::Owned(k), Node::from(v)))
                    .collect(),
            ),
        }
    }
}

impl fmt::Display for Node<'_> {
    /// Exactly as the equivalent `serde_json::Value` prints (only messages use this).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_value(), f)
    }
}

impl Json for Node<'_> {
    fn view(&self) -> View<'_, Self> {
        match self {
            Node::Null => View::Null,
            Node::Bool(b) => View::Bool(*b),
            Node::Number(n) => View::Number(n),
            Node::Str(s) => View::Str(s),
            Node::Array(a) => View::Array(a),
            Node::Object(_) => View::Object,
        }
    }

    fn get(&self, key: &str) -> Option<&Self> {
        match self {
            Node::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|m| &m.1),
            _ => None,
        }
    }

    fn any_member(&self, f: &mut dyn FnMut(&Self) -> bool) -> bool {
        match self {
            // A repeated key counts once, with its last value, as in a serde_json map.
            Node::Object(members) => members
                .iter()
                .enumerate()
                .filter(|(i, (k, _))| !members[i + 1..].iter().any(|(later, _)| later == k))
                .any(|(_, (_, v))| f(v)),
            _ => false,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Node<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor(std::marker::PhantomData))
    }
}

struct NodeVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for NodeVisitor<'a> {
    type Value = Node<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node<'a>, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node<'a>, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node<'a>, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Node<'a>, E> {
        Ok(Node::Bool(b))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Node<'a>, E> {
        Ok(Node::Number(n.into()))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Node<'a>, E> {
        Ok(Node::Number(n.into()))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Node<'a>, E> {
        Ok(Number::from_f64(n).map_or(Node::Null, Node::Number))
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Node<'a>, E> {
        Ok(Node::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Node<'a>, E> {
        Ok(Node::Str(Cow::Owned(s.to_string())))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Node<'a>, E> {
        Ok(Node::Str(Cow::Owned(s)))
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Node<'a>, S::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Node<'a>, M::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).clamp(4, 64));
        while let Some(key) = map.next_key::<Key<'a>>()? {
            members.push((key.0, map.next_value()?));
        }
        Ok(Node::Object(members))
    }
}

/// An object key, borrowed from the text unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Node::deserialize(d)? {
            Node::Str(s) => Ok(Key(s)),
            _ => Err(de::Error::custom("object keys are strings")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_read_print_and_look_up_as_values_do() {
        for text in [
            r#"{"b":1,"a":[true,null,-2,1.5,"x\"y"],"c":{"z":"w"},"a":"last"}"#,
            r#"[1e3, {}, [], "é\u00e9"]"#,
            "null",
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            let node: Node<'_> = serde_json::from_str(text).unwrap();
            assert_eq!(node.to_string(), value.to_string());
            assert_eq!(node.to_value(), value);
            assert_eq!(Node::from(value.clone()), Node::from(node.to_value()));
            for key in ["a", "b", "c", "missing"] {
                assert_eq!(
                    node.get(key).map(Node::to_value),
                    value.get(key).cloned(),
                    "{key} in {text}"
                );
            }
            let (mut from_node, mut from_value) = (Vec::new(), Vec::new());
            node.any_member(&mut |v| {
                from_node.push(v.to_value());
                false
            });
            value.any_member(&mut |v| {
                from_value.push(v.clone());
                false
            });
            from_node.sort_by_key(Value::to_string);
            from_value.sort_by_key(Value::to_string);
            assert_eq!(from_node, from_value);
        }
        let node: Node<'_> = serde_json::from_str(r#"{"k":"plain","e":"a\nb"}"#).unwrap();
        assert!(matches!(
            node.get("k"),
            Some(Node::Str(Cow::Borrowed("plain")))
        ));
        assert!(matches!(node.get("e"), Some(Node::Str(Cow::Owned(_)))));
    }
}
