//! The shape of the manifest: which fields exist, what kind of value each holds, which are
//! required. Checked over the whole document so that every unknown field and every wrong type
//! is reported in one pass.

use super::diagnostic::{codes, Diagnostic};
use super::node::{LineIndex, Node, Value};

#[derive(Debug)]
enum Shape {
    Str,
    Bool,
    UInt,
    StrList,
    /// Any value (JSON Schema, configuration defaults).
    Any,
    Table(&'static [Field]),
    /// A table whose keys are chosen by the author, each value of one shape.
    Map(&'static Shape),
    TableList(&'static [Field]),
    /// A dependency: a range string or a table.
    StrOr(&'static [Field]),
}

#[derive(Debug)]
struct Field {
    name: &'static str,
    shape: Shape,
    required: bool,
}

const fn f(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: false,
    }
}

const fn req(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: true,
    }
}

const DEPENDENCY: &[Field] = &[req("version", Shape::Str), f("optional", Shape::Bool)];
const COMMAND: &[Field] = &[
    req("name", Shape::Str),
    req("request", Shape::Str),
    req("response", Shape::Str),
    // A streaming command's chunk contract (`CommandDecl::stream`, SDK ABI 1.3).
    f("stream", Shape::Str),
];
const SMOKE_CALL: &[Field] = &[
    req("command", Shape::Str),
    f("input", Shape::Any),
    f("input_hex", Shape::Str),
    f("expect", Shape::Any),
    f("expect_error", Shape::Str),
];
const PROVIDED: &[Field] = &[req("name", Shape::Str), req("contract", Shape::Str)];

const ROOT: &[Field] = &[
    req("name", Shape::Str),
    req("version", Shape::Str),
    f("description", Shape::Str),
    f("authors", Shape::StrList),
    f("license", Shape::Str),
    f("repository", Shape::Str),
    f("homepage", Shape::Str),
    f("categories", Shape::StrList),
    f("keywords", Shape::StrList),
    f("kind", Shape::Str),
    f(
        "requires",
        Shape::Table(&[
            f(
                "host_api",
                Shape::Table(&[req("name", Shape::Str), req("version", Shape::Str)]),
            ),
            f("sdk_abi", Shape::Str),
            f("dependencies", Shape::Map(&Shape::StrOr(DEPENDENCY))),
        ]),
    ),
    f("capabilities", Shape::StrList),
    f(
        "provides",
        Shape::Table(&[
            f("commands", Shape::TableList(COMMAND)),
            f("services", Shape::TableList(PROVIDED)),
            f("topics", Shape::TableList(PROVIDED)),
        ]),
    ),
    f(
        "config",
        Shape::Table(&[
            f("schema", Shape::Any),
            f("defaults", Shape::Map(&Shape::Any)),
        ]),
    ),
    f(
        "limits",
        Shape::Table(&[
            f("memory_mb", Shape::UInt),
            f("cpu_ms", Shape::UInt),
            f("call_timeout_ms", Shape::UInt),
            f("kv_bytes", Shape::UInt),
            f("kv_keys", Shape::UInt),
        ]),
    ),
    f("sandbox", Shape::Str),
    f("platforms", Shape::StrList),
    f("files", Shape::Map(&Shape::Str)),
    f(
        "test",
        Shape::Table(&[
            f("grant", Shape::StrList),
            f("calls", Shape::TableList(SMOKE_CALL)),
        ]),
    ),
];

pub(crate) fn check(root: &Node, index: &LineIndex<'_>, out: &mut Vec<Diagnostic>) {
    walk(root, "", &Shape::Table(ROOT), index, out);
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn expected(shape: &Shape) -> &'static str {
    match shape {
        Shape::Str => "a string",
        Shape::Bool => "a boolean",
        Shape::UInt => "a non-negative integer",
        Shape::StrList => "an array of strings",
        Shape::Any => "a value",
        Shape::Table(_) | Shape::Map(_) => "a table",
        Shape::TableList(_) => "an array of tables",
        Shape::StrOr(_) => "a version range string or a table",
    }
}

fn wrong(node: &Node, path: &str, shape: &Shape, index: &LineIndex<'_>, out: &mut Vec<Diagnostic>) {
    let pos = node.span.as_ref().map(|s| index.position(s.start));
    out.push(
        Diagnostic::error(
            codes::WRONG_TYPE,
            path,
            format!("expected {}, found {}", expected(shape), node.value.kind()),
            format!("write `{path}` as {}", expected(shape)),
        )
        .at(pos),
    );
}

fn walk(node: &Node, path: &str, shape: &Shape, index: &LineIndex<'_>, out: &mut Vec<Diagnostic>) {
    match (shape, &node.value) {
        (Shape::Any, _)
        | (Shape::Str, Value::Str(_))
        | (Shape::Bool, Value::Bool(_))
        | (Shape::StrOr(_), Value::Str(_)) => {}
        (Shape::UInt, Value::Int(i)) if *i >= 0 => {}
        (Shape::StrList, Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if !matches!(item.value, Value::Str(_)) {
                    wrong(item, &format!("{path}[{i}]"), &Shape::Str, index, out);
                }
            }
        }
        (Shape::TableList(fields), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                walk(
                    item,
                    &format!("{path}[{i}]"),
                    &Shape::Table(fields),
                    index,
                    out,
                );
            }
        }
        (Shape::Map(inner), Value::Table(entries)) => {
            for (k, _, v) in entries {
                walk(v, &join(path, k), inner, index, out);
            }
        }
        (Shape::Table(fields) | Shape::StrOr(fields), Value::Table(entries)) => {
            for (k, key_span, v) in entries {
                let here = join(path, k);
                match fields.iter().find(|f| f.name == k) {
                    Some(field) => walk(v, &here, &field.shape, index, out),
                    None => {
                        let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
                        let (message, next) = match crate::suggest::closest(k, &names) {
                            Some(c) => (
                                format!("unknown field `{k}`; did you mean `{c}`?"),
                                format!("rename `{k}` to `{c}`"),
                            ),
                            None => (
                                format!(
                                    "unknown field `{k}`; expected one of: {}",
                                    names.join(", ")
                                ),
                                format!("remove `{k}`"),
                            ),
                        };
                        let pos = key_span
                            .as_ref()
                            .or(v.span.as_ref())
                            .map(|s| index.position(s.start));
                        out.push(
                            Diagnostic::error(codes::UNKNOWN_FIELD, here, message, next).at(pos),
                        );
                    }
                }
            }
            for field in fields.iter().filter(|f| f.required) {
                if !entries.iter().any(|(k, _, _)| k == field.name) {
                    let here = join(path, field.name);
                    let pos = node.span.as_ref().map(|s| index.position(s.start));
                    out.push(
                        Diagnostic::error(
                            codes::MISSING_FIELD,
                            here.clone(),
                            format!("missing required field `{here}`"),
                            format!("add `{}` ({})", field.name, expected(&field.shape)),
                        )
                        .at(pos),
                    );
                }
            }
        }
        _ => wrong(node, path, shape, index, out),
    }
}
