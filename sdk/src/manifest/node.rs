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

/// Converts byte offsets to 1-based line and column (in characters) in logarithmic time:
/// a table of line starts found by binary search, and character counts sampled every
/// [`CHUNK`] bytes. Rescanning the source per lookup made validation quadratic: 40,000
/// unknown keys took minutes (issue 12, items 5 and 20).
#[derive(Debug)]
pub(crate) struct LineIndex<'a> {
    source: &'a str,
    /// The byte offset where each line starts; the first is 0.
    line_starts: Vec<usize>,
    /// `chars_before[k]`: the characters in `source[..k * CHUNK]`.
    chars_before: Vec<usize>,
}

/// How many bytes apart the character counts are sampled.
const CHUNK: usize = 256;

/// Whether `b` starts a UTF-8 character (is not a continuation byte).
fn starts_char(b: u8) -> bool {
    b & 0xC0 != 0x80
}

impl<'a> LineIndex<'a> {
    pub fn new(source: &'a str) -> Self {
        let bytes = source.as_bytes();
        let mut line_starts = vec![0];
        line_starts.extend(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        );
        let mut chars_before = Vec::with_capacity(bytes.len() / CHUNK + 1);
        let mut count = 0;
        for chunk in bytes.chunks(CHUNK) {
            chars_before.push(count);
            count += chunk.iter().filter(|b| starts_char(**b)).count();
        }
        chars_before.push(count);
        LineIndex {
            source,
            line_starts,
            chars_before,
        }
    }

    /// The characters in `source[..offset]`.
    fn chars_to(&self, offset: usize) -> usize {
        let chunk = offset / CHUNK;
        let sampled = self.chars_before.get(chunk).copied().unwrap_or(0);
        let rest = self
            .source
            .as_bytes()
            .get(chunk * CHUNK..offset)
            .map_or(0, |s| s.iter().filter(|b| starts_char(**b)).count());
        sampled + rest
    }

    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.source.len());
        // The last line start at or before `offset`.
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let line_start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let column = self.chars_to(offset) - self.chars_to(line_start) + 1;
        (line.max(1), column)
    }
}

#[cfg(test)]
mod tests {
    use super::LineIndex;

    /// The old definition: count what comes before, every time.
    fn rescan(source: &str, offset: usize) -> (usize, usize) {
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[start..].chars().count() + 1)
    }

    #[test]
    fn positions_match_a_rescan_at_every_character_boundary() {
        let long: String = "é".repeat(300);
        let source = format!("a = 1\n\nname = \"wé\"\n{long}x\n  ü = 2\n");
        let index = LineIndex::new(&source);
        for offset in (0..=source.len()).filter(|o| source.is_char_boundary(*o)) {
            assert_eq!(
                index.position(offset),
                rescan(&source, offset),
                "offset {offset}"
            );
        }
        assert_eq!(LineIndex::new("").position(0), (1, 1));
    }
}
