//! A format-neutral tree of the manifest document, keeping where each value was written, so
//! checks can name the line and column of any field.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// A value and the byte range it came from (TOML only; JSON positions are known for syntax
/// errors, not per value).
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub value: Value,
    pub span: Option<Range<usize>>,
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Node>),
    /// Keys in document order, each with the span of the key itself.
    Table(Vec<(String, Option<Range<usize>>, Node)>),
}

impl Value {
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
            Value::Datetime(_) => "a date-time",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Table(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, _, n)| n),
            _ => None,
        }
    }

    /// Converts to JSON, the form typed deserialization and schema checks use.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Str(s) | Value::Datetime(s) => J::String(s.clone()),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Bool(b) => J::Bool(*b),
            Value::Array(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Table(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, _, n)| (k.clone(), n.to_json()))
                    .collect(),
            ),
        }
    }

    pub fn from_json(v: &serde_json::Value) -> Node {
        use serde_json::Value as J;
        let value = match v {
            J::Null => Value::Table(Vec::new()),
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => Value::Str(s.clone()),
            J::Array(items) => Value::Array(items.iter().map(Node::from_json).collect()),
            J::Object(map) => Value::Table(
                map.iter()
                    .map(|(k, v)| (k.clone(), None, Node::from_json(v)))
                    .collect(),
            ),
        };
        Node { value, span: None }
    }

    pub fn from_toml_table(table: &DeTable<'_>, span: Range<usize>) -> Node {
        Node {
            value: Value::Table(
                table
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.get_ref().to_string(),
                            Some(k.span()),
                            Node::from_toml(v.get_ref(), v.span()),
                        )
                    })
                    .collect(),
            ),
            span: Some(span),
        }
    }

    fn from_toml(v: &DeValue<'_>, span: Range<usize>) -> Node {
        let value = match v {
            DeValue::String(s) => Value::Str(s.to_string()),
            DeValue::Integer(i) => {
                let text = i.as_str().replace('_', "");
                let parsed = match i.radix() {
                    10 => text.parse::<i64>().ok(),
                    radix => {
                        let digits = text.get(2..).unwrap_or("");
                        i64::from_str_radix(digits, radix).ok()
                    }
                };
                match parsed {
                    Some(n) => Value::Int(n),
                    None => Value::Str(text),
                }
            }
            DeValue::Float(f) => {
                Value::Float(f.as_str().replace('_', "").parse().unwrap_or(f64::NAN))
            }
            DeValue::Boolean(b) => Value::Bool(*b),
            DeValue::Datetime(d) => Value::Datetime(d.to_string()),
            DeValue::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|n| Node::from_toml(n.get_ref(), n.span()))
                    .collect(),
            ),
            DeValue::Table(t) => return Node::from_toml_table(t, span),
        };
        Node {
            value,
            span: Some(span),
        }
    }
}

/// Converts byte offsets to 1-based line and column (in characters).
#[derive(Debug)]
pub(crate) struct LineIndex<'a> {
    source: &'a str,
}

impl<'a> LineIndex<'a> {
    pub fn new(source: &'a str) -> Self {
        LineIndex { source }
    }

    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.source.len());
        let before = self.source.get(..offset).unwrap_or(self.source);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before
            .get(line_start..)
            .map_or(1, |s| s.chars().count() + 1);
        (line, column)
    }
}
