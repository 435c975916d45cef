//! Values the evaluator compares: literals from the rules and fields of a
//! caller's contact record.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A scalar value. Contact fields keep the type their source gave them
/// (SQL text, integer, boolean, null), so `contact.vip == true` compares a
/// boolean with a boolean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Value {
    /// The kind of value, in the words of error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) | Value::Float(_) => "number",
            Value::Text(_) => "text",
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// Equality across the numeric kinds (an SQL REAL of 1.0 equals the
    /// literal `1`); text never equals a number.
    pub fn loosely_equals(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Int(a), Value::Float(b)) | (Value::Float(b), Value::Int(a)) => {
                // Exact for every integer a contact id or flag realistically holds.
                #[expect(clippy::cast_precision_loss, reason = "comparison only")]
                let a = *a as f64;
                a == *b
            }
            _ => self == other,
        }
    }

    /// Parses a command-line value (`--contact vip=true`): `true`/`false`,
    /// an integer, `null`, else text.
    pub fn parse_loose(text: &str) -> Value {
        match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            _ => text
                .parse::<i64>()
                .map(Value::Int)
                .unwrap_or_else(|_| Value::Text(text.to_owned())),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(text) => write!(f, "{text:?}"),
        }
    }
}

/// A caller's record from the company's own data: field name to value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Contact {
    pub fields: BTreeMap<String, Value>,
}

impl Contact {
    /// A field's value; a null field counts as missing.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields
            .get(field)
            .filter(|value| **value != Value::Null)
    }

    pub fn insert(&mut self, field: impl Into<String>, value: Value) {
        self.fields.insert(field.into(), value);
    }
}
