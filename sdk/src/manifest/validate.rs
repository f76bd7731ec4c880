//! The semantic rules of a manifest whose shape is right.

use std::collections::BTreeMap;

use semver::{Version, VersionReq};

use super::diagnostic::{codes, Diagnostic};
use super::node::{LineIndex, Node, Value};
use super::{name_key, schema, valid_name, Manifest, Provided};
use crate::error::ErrorCode;

struct Checker<'a> {
    root: &'a Node,
    index: &'a LineIndex<'a>,
    out: &'a mut Vec<Diagnostic>,
}

impl Checker<'_> {
    fn position(&self, path: &str) -> Option<(usize, usize)> {
        let mut node = self.root;
        for part in path.split('.') {
            let (key, idx) = match part.split_once('[') {
                Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
                None => (part, None),
            };
            node = node.get(key)?;
            if let Some(i) = idx {
                match &node.value {
                    Value::Array(items) => node = items.get(i)?,
                    _ => return None,
                }
            }
        }
        node.span.as_ref().map(|s| self.index.position(s.start))
    }

    fn error(&mut self, code: ErrorCode, field: &str, message: String, next: impl Into<String>) {
        let pos = self.position(field);
        self.out
            .push(Diagnostic::error(code, field, message, next).at(pos));
    }

    fn warning(&mut self, code: ErrorCode, field: &str, message: String, next: impl Into<String>) {
        let pos = self.position(field);
        self.out
            .push(Diagnostic::warning(code, field, message, next).at(pos));
    }

    fn range(&mut self, field: &str, range: &str) {
        if let Err(e) = VersionReq::parse(range) {
            self.error(
                codes::INVALID_RANGE,
                field,
                format!("expected a semver range, found `{range}` ({e})"),
                "write a range such as `^1.2`, `~1.2.3`, `>=1, <2` or `1.*`",
            );
        }
    }

    fn url(&mut self, field: &str, url: Option<&str>) {
        let Some(url) = url else { return };
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let ok = rest.is_some_and(|r| {
            let host = r.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !host.contains(char::is_whitespace)
        });
        if !ok {
            self.error(
                codes::INVALID_URL,
                field,
                format!("expected an http(s) URL, found `{url}`"),
                "write a full URL such as `https://github.com/you/plugin`",
            );
        }
    }

    fn contract(&mut self, field: &str, id: &str) {
        if !valid_contract(id) {
            self.error(
                codes::INVALID_CONTRACT,
                field,
                format!("`{id}` is not a contract id"),
                "copy the id from the type's `Message::CONTRACT.id` (`path@version#hash`), or use `bytes`",
            );
        }
    }

    fn provided(&mut self, list: &[Provided], what: &str, plugin: &str) {
        let mut seen = BTreeMap::new();
        for (i, p) in list.iter().enumerate() {
            let field = format!("provides.{what}[{i}].name");
            if let Some(first) = seen.insert(p.name.clone(), i) {
                self.error(
                    codes::DUPLICATE_PROVIDED,
                    &field,
                    format!(
                        "`{}` is declared twice (also `provides.{what}[{first}]`)",
                        p.name
                    ),
                    "remove one of them or rename it",
                );
            }
            if what == "topics" {
                let prefix = format!("plugin.{plugin}.");
                let event = p.name.strip_prefix(&prefix).unwrap_or("");
                if event.is_empty() || !event.split('.').all(valid_segment) {
                    self.error(
                        codes::TOPIC_NAMESPACE,
                        &field,
                        format!(
                            "topic `{}` is outside this plugin's namespace `{prefix}*`",
                            p.name
                        ),
                        format!("name it `{prefix}<event>`"),
                    );
                }
            } else if p.name.is_empty() || !p.name.split('.').all(valid_segment) {
                self.error(
                    codes::INVALID_NAME,
                    &field,
                    format!("`{}` is not a valid service name", p.name),
                    "use dot-separated segments of letters, digits, `-` and `_`",
                );
            }
            self.contract(&format!("provides.{what}[{i}].contract"), &p.contract);
        }
    }
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `bytes`, `name@N` or `path@N#hash` with a 16-digit hex hash.
fn valid_contract(id: &str) -> bool {
    if id == crate::RAW_BYTES_CONTRACT {
        return true;
    }
    let Some((path, rest)) = id.rsplit_once('@') else {
        return false;
    };
    let (version, hash) = match rest.split_once('#') {
        Some((v, h)) => (v, Some(h)),
        None => (rest, None),
    };
    let path_ok = !path.is_empty()
        && path
            .split("::")
            .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    path_ok
        && version.parse::<u32>().is_ok_and(|v| v >= 1)
        && hash.is_none_or(|h| h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Checks one capability request with the same parser the host grants with (typed values,
/// `crate::caps::Capability`); `Err` says what is wrong and what to write.
pub(crate) fn check_capability(request: &str) -> Result<(), (String, String)> {
    request
        .parse::<crate::caps::Capability>()
        .map(|_| ())
        .map_err(|e| (e.to_string(), e.next_step()))
}

/// Whether `path` is a safe path inside a package: relative, with no empty, `.` or `..` segments, no backslashes, no leading `/`.
pub fn safe_relative_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains(':')
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// A target triple: three or four `-`-separated parts of lower-case letters, digits, `_`, `.`.
fn valid_triple(t: &str) -> bool {
    let parts: Vec<&str> = t.split('-').collect();
    (3..=4).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
        })
}

pub(crate) fn check(m: &Manifest, root: &Node, index: &LineIndex<'_>, out: &mut Vec<Diagnostic>) {
    let mut c = Checker { root, index, out };

    if !valid_name(&m.name) {
        c.error(
            codes::INVALID_NAME,
            "name",
            format!("`{}` is not a valid plugin name", m.name),
            "use ASCII letters, digits, `-` and `_`, starting with a letter, at most 64 characters",
        );
    }
    if let Err(e) = Version::parse(&m.version) {
        c.error(
            codes::INVALID_VERSION,
            "version",
            format!("expected a semver version, found `{}` ({e})", m.version),
            "write MAJOR.MINOR.PATCH, e.g. `1.0.0`",
        );
    }
    c.url("repository", m.repository.as_deref());
    c.url("homepage", m.homepage.as_deref());
    if !(m.kind.starts_with(|ch: char| ch.is_ascii_lowercase())
        && m.kind
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-'))
    {
        c.error(
            codes::INVALID_KIND,
            "kind",
            format!("`{}` is not a valid kind", m.kind),
            "use lower-case letters, digits and `-`, e.g. `extension` or `theme`",
        );
    }

    if let Some(api) = &m.requires.host_api {
        if api.name.trim().is_empty() {
            c.error(
                codes::INVALID_NAME,
                "requires.host_api.name",
                "the host API name is empty".into(),
                "write the name the host declares with `HostBuilder::host_api`",
            );
        }
        c.range("requires.host_api.version", &api.version);
    }
    if let Some(abi) = &m.requires.sdk_abi {
        let ok = abi
            .split_once('.')
            .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok());
        if !ok {
            c.error(
                codes::INVALID_SDK_ABI,
                "requires.sdk_abi",
                format!("expected MAJOR.MINOR, found `{abi}`"),
                format!(
                    "write the SDK ABI the plugin was built with, e.g. `{}`",
                    crate::SDK_ABI_VERSION
                ),
            );
        }
    }
    let mut dep_keys: BTreeMap<String, &str> = BTreeMap::new();
    for (name, dep) in &m.requires.dependencies {
        let base = format!("requires.dependencies.{name}");
        if !valid_name(name) {
            c.error(
                codes::INVALID_NAME,
                &base,
                format!("`{name}` is not a valid plugin name"),
                "use ASCII letters, digits, `-` and `_`, starting with a letter",
            );
        }
        if name_key(name) == name_key(&m.name) {
            c.error(
                codes::INVALID_DEPENDENCY,
                &base,
                format!("`{}` depends on itself", m.name),
                "remove this dependency",
            );
        }
        if let Some(other) = dep_keys.insert(name_key(name), name) {
            c.error(
                codes::INVALID_DEPENDENCY,
                &base,
                format!("`{name}` and `{other}` are the same plugin (names compare ignoring case and `-`/`_`)"),
                "keep one of them",
            );
        }
        let field = match dep {
            super::Dependency::Range(_) => base.clone(),
            super::Dependency::Detailed { .. } => format!("{base}.version"),
        };
        c.range(&field, dep.range());
    }

    for (i, cap) in m.capabilities.iter().enumerate() {
        if let Err((message, next)) = check_capability(cap) {
            c.error(
                codes::INVALID_CAPABILITY,
                &format!("capabilities[{i}]"),
                message,
                next,
            );
        }
    }

    let mut commands = BTreeMap::new();
    for (i, cmd) in m.provides.commands.iter().enumerate() {
        let field = format!("provides.commands[{i}].name");
        if !valid_name(&cmd.name) {
            c.error(
                codes::INVALID_NAME,
                &field,
                format!("`{}` is not a valid command name", cmd.name),
                "use ASCII letters, digits, `-` and `_`, starting with a letter",
            );
        }
        if let Some(first) = commands.insert(cmd.name.clone(), i) {
            c.error(
                codes::DUPLICATE_COMMAND,
                &field,
                format!(
                    "command `{}` is declared twice (also `provides.commands[{first}]`)",
                    cmd.name
                ),
                "remove one of them or rename it",
            );
        }
        c.contract(&format!("provides.commands[{i}].request"), &cmd.request);
        c.contract(&format!("provides.commands[{i}].response"), &cmd.response);
    }
    c.provided(&m.provides.services, "services", &m.name);
    c.provided(&m.provides.topics, "topics", &m.name);

    if let Some(config) = &m.config {
        let mut problems = Vec::new();
        if let Some(s) = &config.schema {
            schema::check_schema(s, "config.schema", &mut problems);
        }
        let schema_ok = !problems.iter().any(|(_, _, warning)| !warning);
        for (field, message, warning) in problems {
            if warning {
                c.warning(
                    codes::UNCHECKED_KEYWORD,
                    &field,
                    message,
                    "remove the keyword, or validate it in the plugin",
                );
            } else {
                c.error(
                    codes::INVALID_SCHEMA,
                    &field,
                    message,
                    "fix the schema (see docs/manifest.md for the supported subset)",
                );
            }
        }
        if let (Some(s), true) = (&config.schema, schema_ok) {
            let defaults = serde_json::Value::Object(config.defaults.clone());
            let mut errs = Vec::new();
            schema::validate(&defaults, s, "config.defaults", &mut errs);
            for (field, message) in errs {
                c.error(
                    codes::CONFIG_DEFAULT,
                    &field,
                    message,
                    "change the default so it satisfies `config.schema`",
                );
            }
        }
    }

    for (name, value) in [
        ("memory_mb", m.limits.memory_mb),
        ("cpu_ms", m.limits.cpu_ms),
        ("call_timeout_ms", m.limits.call_timeout_ms),
        ("kv_bytes", m.limits.kv_bytes),
        ("kv_keys", m.limits.kv_keys),
    ] {
        if value == Some(0) {
            c.error(
                codes::INVALID_LIMIT,
                &format!("limits.{name}"),
                format!("`limits.{name}` is 0, which would refuse every call or write"),
                "remove the limit or give a positive value",
            );
        }
    }

    for (path, hash) in &m.files {
        let field = format!("files.{path}");
        if !safe_relative_path(path) {
            c.error(
                codes::INVALID_FILE_PATH,
                &field,
                format!("`{path}` is not a relative path inside the package"),
                "use `/`-separated relative paths without `..`, e.g. `lib/x86_64-unknown-linux-gnu/libweather.so`",
            );
        }
        if hash.len() != 64
            || !hash
                .chars()
                .all(|ch| ch.is_ascii_hexdigit() && !ch.is_ascii_uppercase())
        {
            c.error(
                codes::INVALID_FILE_PATH,
                &field,
                format!("`{hash}` is not a lower-case hex sha256"),
                "let `switchboard pack` write the file pins",
            );
        }
    }

    for (i, p) in m.platforms.iter().enumerate() {
        if !valid_triple(p) {
            c.error(
                codes::INVALID_PLATFORM,
                &format!("platforms[{i}]"),
                format!("`{p}` is not a target triple"),
                "write a triple such as `x86_64-unknown-linux-gnu`",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_ids() {
        assert!(valid_contract("bytes"));
        assert!(valid_contract("string@1"));
        assert!(valid_contract("hello::AddRequest@1#745f34fc45e2c991"));
        assert!(!valid_contract("hello::AddRequest@0#745f34fc45e2c991"));
        assert!(!valid_contract("hello::AddRequest@1#xyz"));
        assert!(!valid_contract("no-version"));
    }

    #[test]
    fn triples() {
        assert!(valid_triple("x86_64-unknown-linux-gnu"));
        assert!(valid_triple("aarch64-apple-darwin"));
        assert!(!valid_triple("linux"));
        assert!(!valid_triple("X86_64-unknown-linux-gnu"));
    }
}
