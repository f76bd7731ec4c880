//! A JSON Schema subset for plugin configuration: `type`, `properties`, `required`,
//! `additionalProperties`, `items`, `enum`, `const`, `minimum`, `maximum`, `exclusiveMinimum`,
//! `exclusiveMaximum`, `minLength`, `maxLength`, `minItems`, `maxItems`. Annotations (`title`,
//! `description`, `default`, `examples`, `$schema`, `$id`, `$comment`) are accepted; any other
//! keyword is reported as a warning rather than silently ignored.

use serde_json::Value as J;

const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "default",
    "examples",
    "$schema",
    "$id",
    "$comment",
];
const TYPES: &[&str] = &[
    "object", "array", "string", "integer", "number", "boolean", "null",
];

/// A problem with the schema itself: `(path, message, is_warning)`.
pub(crate) type SchemaProblem = (String, String, bool);

/// Checks that `schema` is a schema this validator understands.
pub(crate) fn check_schema(schema: &J, path: &str, out: &mut Vec<SchemaProblem>) {
    let J::Object(map) = schema else {
        if !matches!(schema, J::Bool(_)) {
            out.push((path.into(), "a schema is a table (object)".into(), false));
        }
        return;
    };
    for (k, v) in map {
        let here = format!("{path}.{k}");
        match k.as_str() {
            "type" => {
                let names: Vec<&J> = match v {
                    J::Array(a) => a.iter().collect(),
                    other => vec![other],
                };
                for n in names {
                    match n.as_str() {
                        Some(t) if TYPES.contains(&t) => {}
                        _ => out.push((
                            here.clone(),
                            format!("`type` is one of {}, found {n}", TYPES.join(", ")),
                            false,
                        )),
                    }
                }
            }
            "properties" => match v {
                J::Object(props) => {
                    for (name, sub) in props {
                        check_schema(sub, &format!("{here}.{name}"), out);
                    }
                }
                _ => out.push((here, "`properties` is a table of schemas".into(), false)),
            },
            "items" | "additionalProperties" => check_schema(v, &here, out),
            "required" => {
                if !v.as_array().is_some_and(|a| a.iter().all(J::is_string)) {
                    out.push((here, "`required` is a list of property names".into(), false));
                }
            }
            "enum" => {
                if !v.is_array() {
                    out.push((here, "`enum` is a list of allowed values".into(), false));
                }
            }
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {
                if !v.is_number() {
                    out.push((here, format!("`{k}` is a number"), false));
                }
            }
            "minLength" | "maxLength" | "minItems" | "maxItems" => {
                if !v.is_u64() {
                    out.push((here, format!("`{k}` is a non-negative integer"), false));
                }
            }
            "const" => {}
            k if ANNOTATIONS.contains(&k) => {}
            other => out.push((
                here,
                format!("schema keyword `{other}` is not checked by Switchboard's validator"),
                true,
            )),
        }
    }
}

fn type_matches(t: &str, v: &J) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

fn kind_of(v: &J) -> &'static str {
    match v {
        J::Null => "null",
        J::Bool(_) => "boolean",
        J::Number(n) if n.is_i64() || n.is_u64() => "integer",
        J::Number(_) => "number",
        J::String(_) => "string",
        J::Array(_) => "array",
        J::Object(_) => "object",
    }
}

/// Validates `value` against `schema`; each problem is `(field path, message)`.
pub(crate) fn validate(value: &J, schema: &J, path: &str, out: &mut Vec<(String, String)>) {
    let schema = match schema {
        J::Bool(true) => return,
        J::Bool(false) => {
            out.push((path.into(), "no value is allowed here".into()));
            return;
        }
        J::Object(m) => m,
        _ => return,
    };
    if let Some(t) = schema.get("type") {
        let allowed: Vec<&str> = match t {
            J::Array(a) => a.iter().filter_map(J::as_str).collect(),
            J::String(s) => vec![s.as_str()],
            _ => Vec::new(),
        };
        if !allowed.is_empty() && !allowed.iter().any(|t| type_matches(t, value)) {
            out.push((
                path.into(),
                format!(
                    "expected {}, found {} `{value}`",
                    allowed.join(" or "),
                    kind_of(value)
                ),
            ));
            return;
        }
    }
    if let Some(J::Array(options)) = schema.get("enum") {
        if !options.contains(value) {
            let list: Vec<String> = options.iter().map(ToString::to_string).collect();
            out.push((
                path.into(),
                format!("expected one of {}, found `{value}`", list.join(", ")),
            ));
        }
    }
    if let Some(c) = schema.get("const") {
        if c != value {
            out.push((path.into(), format!("expected `{c}`, found `{value}`")));
        }
    }
    if let Some(n) = value.as_f64() {
        let bound = |k: &str| schema.get(k).and_then(J::as_f64);
        if let Some(min) = bound("minimum").filter(|m| n < *m) {
            out.push((path.into(), format!("expected at least {min}, found {n}")));
        }
        if let Some(max) = bound("maximum").filter(|m| n > *m) {
            out.push((path.into(), format!("expected at most {max}, found {n}")));
        }
        if let Some(min) = bound("exclusiveMinimum").filter(|m| n <= *m) {
            out.push((path.into(), format!("expected more than {min}, found {n}")));
        }
        if let Some(max) = bound("exclusiveMaximum").filter(|m| n >= *m) {
            out.push((path.into(), format!("expected less than {max}, found {n}")));
        }
    }
    let count = |k: &str| schema.get(k).and_then(J::as_u64);
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        if let Some(min) = count("minLength").filter(|m| len < *m) {
            out.push((
                path.into(),
                format!("expected at least {min} characters, found {len}"),
            ));
        }
        if let Some(max) = count("maxLength").filter(|m| len > *m) {
            out.push((
                path.into(),
                format!("expected at most {max} characters, found {len}"),
            ));
        }
    }
    if let Some(items) = value.as_array() {
        let len = items.len() as u64;
        if let Some(min) = count("minItems").filter(|m| len < *m) {
            out.push((
                path.into(),
                format!("expected at least {min} items, found {len}"),
            ));
        }
        if let Some(max) = count("maxItems").filter(|m| len > *m) {
            out.push((
                path.into(),
                format!("expected at most {max} items, found {len}"),
            ));
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(item, item_schema, &format!("{path}[{i}]"), out);
            }
        }
    }
    if let Some(obj) = value.as_object() {
        let props = schema.get("properties").and_then(J::as_object);
        if let Some(J::Array(required)) = schema.get("required") {
            for r in required.iter().filter_map(J::as_str) {
                if !obj.contains_key(r) {
                    out.push((
                        format!("{path}.{r}"),
                        "required by the schema but missing".into(),
                    ));
                }
            }
        }
        for (k, v) in obj {
            let here = format!("{path}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(sub) => validate(v, sub, &here, out),
                None => match schema.get("additionalProperties") {
                    Some(J::Bool(false)) => {
                        out.push((here, "not a property the schema allows".into()));
                    }
                    Some(extra @ J::Object(_)) => validate(v, extra, &here, out),
                    _ => {}
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(value: J, schema: J) -> Vec<(String, String)> {
        let mut out = Vec::new();
        validate(&value, &schema, "config", &mut out);
        out
    }

    #[test]
    fn nested_paths_and_bounds() {
        let schema = json!({"type": "object", "properties": {
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "units": {"enum": ["metric", "imperial"]},
            "tags": {"type": "array", "items": {"type": "string"}}
        }, "required": ["port"], "additionalProperties": false});
        assert!(problems(
            json!({"port": 80, "units": "metric", "tags": ["a"]}),
            schema.clone()
        )
        .is_empty());
        let p = problems(
            json!({"port": 0, "units": "kelvin", "tags": [1], "x": 1}),
            schema.clone(),
        );
        let paths: Vec<&str> = p.iter().map(|(f, _)| f.as_str()).collect();
        assert!(paths.contains(&"config.port"));
        assert!(paths.contains(&"config.units"));
        assert!(paths.contains(&"config.tags[0]"));
        assert!(paths.contains(&"config.x"));
        assert_eq!(problems(json!({}), schema)[0].0, "config.port");
    }

    #[test]
    fn unknown_keywords_warn() {
        let mut out = Vec::new();
        check_schema(
            &json!({"type": "string", "pattern": "^a"}),
            "config.schema",
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert!(out[0].2, "a warning, not an error");
    }
}
