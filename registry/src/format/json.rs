//! JSON as the registry reads and signs it: bounded parsing (size and nesting checked before
//! the parser runs) and the canonical encoding that signatures cover.

use serde_json::Value;

use super::FormatError;

/// The deepest nesting any registry file needs (an index line's dependency objects are 3).
pub const MAX_DEPTH: usize = 8;

/// Refuses `bytes` if longer than `limit` or nested deeper than `max_depth`, by a byte scan
/// that runs before any parser does (so a line of a million `[` costs a scan, not a stack).
pub fn check_shape(
    bytes: &[u8],
    limit: u64,
    max_depth: usize,
    what: &dyn Fn() -> String,
) -> Result<(), FormatError> {
    if bytes.len() as u64 > limit {
        return Err(FormatError::TooLarge {
            what: what(),
            limit,
        });
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(FormatError::TooDeep {
                        what: what(),
                        limit: max_depth,
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses `bytes` as JSON into `T` after [`check_shape`]; every failure is a coded
/// [`FormatError`] naming `what`.
pub fn parse_bounded<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    limit: u64,
    what: &dyn Fn() -> String,
) -> Result<T, FormatError> {
    check_shape(bytes, limit, MAX_DEPTH, what)?;
    serde_json::from_slice(bytes).map_err(|e| FormatError::Invalid {
        what: what(),
        reason: e.to_string(),
    })
}

/// The canonical JSON encoding of `value`, the bytes signatures cover: object keys sorted by
/// their UTF-8 bytes, no whitespace, strings escaped as serde_json escapes them (`"`, `\`,
/// control characters; everything else as UTF-8), integers in decimal, and no floats (refused,
/// since two encoders need not print a float alike). Independent of serde_json's
/// `preserve_order` feature: keys are sorted here, not by the map.
///
/// ```
/// use switchboard_registry::format::canonical_json;
/// let v = serde_json::json!({"b": [1, "x"], "a": {"d": true, "c": null}});
/// assert_eq!(canonical_json(&v).unwrap(), br#"{"a":{"c":null,"d":true},"b":[1,"x"]}"#);
/// ```
pub fn canonical_json(value: &Value) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<(), FormatError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else {
                return Err(FormatError::Invalid {
                    what: "signed metadata".into(),
                    reason: format!("{n} is not an integer; canonical JSON has integers only"),
                });
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out)?;
                }
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// Escapes as serde_json does: `"`, `\\` and U+0000–U+001F only, with the short forms
/// `\b \f \n \r \t` and `\u00xx` otherwise.
fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn deep_json_is_refused_before_parsing() {
        let deep = "[".repeat(100_000);
        let e = parse_bounded::<Value>(deep.as_bytes(), 1 << 20, &|| "x".into()).unwrap_err();
        assert!(matches!(e, FormatError::TooDeep { .. }), "{e:?}");
        // Brackets inside strings do not count.
        let ok = format!("{{\"a\":\"{}\"}}", "[".repeat(100));
        parse_bounded::<Value>(ok.as_bytes(), 1 << 20, &|| "x".into()).unwrap();
    }

    #[test]
    fn floats_have_no_canonical_form() {
        assert!(canonical_json(&serde_json::json!({"a": 1.5})).is_err());
        assert_eq!(canonical_json(&serde_json::json!(-3)).unwrap(), b"-3");
    }

    #[test]
    fn strings_escape_like_serde_json() {
        let s = "a\"b\\c\n\u{1}\u{7f}é\u{2028}";
        assert_eq!(
            canonical_json(&Value::String(s.into())).unwrap(),
            serde_json::to_vec(s).unwrap()
        );
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            ".{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(".{0,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn canonical_form_parses_back_to_the_same_value(v in json_value()) {
            let bytes = canonical_json(&v).unwrap();
            let back: Value = serde_json::from_slice(&bytes).unwrap();
            prop_assert_eq!(&back, &v);
            prop_assert_eq!(canonical_json(&back).unwrap(), bytes);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_bounded::<Value>(&bytes, 256, &|| "x".into());
        }
    }
}
