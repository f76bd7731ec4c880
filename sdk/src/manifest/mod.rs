//! `plugin.toml`: the manifest a plugin package carries (SPEC S2.1), its parser and validator.
//!
//! Parsing collects every problem in one pass (syntax errors with line and column; unknown
//! fields with "did you mean"; wrong types; then the semantic rules), each a [`Diagnostic`]
//! with a stable code, the field path and a next step. The same document may be written as
//! JSON (`plugin.json`); JSON positions are reported for syntax errors.
//!
//! # Example
//!
//! ```
//! use switchboard_sdk::manifest::{Format, Manifest};
//!
//! let toml = r#"
//! name = "weather"
//! version = "1.2.0"
//! description = "Forecasts"
//! capabilities = ["net.connect:api.example.com:443"]
//!
//! [requires]
//! host_api = { name = "my-editor", version = "^2.1" }
//! dependencies = { geo = "^3", maps = { version = "1.4", optional = true } }
//! "#;
//! let manifest = Manifest::parse(toml, Format::Toml).unwrap();
//! assert_eq!(manifest.requires.dependencies["maps"].optional(), true);
//!
//! let errors = Manifest::parse("name = \"weather\"\nversoin = \"1.0.0\"\n", Format::Toml).unwrap_err();
//! assert_eq!(errors[0].code, "SB1002");
//! assert!(errors[0].message.contains("did you mean `version`"));
//! assert_eq!((errors[0].line, errors[0].column), (Some(2), Some(1)));
//! ```

mod diagnostic;
mod library;
mod node;
mod schema;
mod structure;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use self::diagnostic::{codes, Diagnostic, Severity};
use self::node::{LineIndex, Node};
pub use self::validate::safe_relative_path;
use crate::embedded::CommandDecl;

/// Validates a configuration value against a `[config] schema` (the JSON Schema subset
/// described in `docs/manifest.md`). Each problem is `(field path, message)`, with paths
/// starting at `root` (`config.server.port`).
///
/// ```
/// use serde_json::json;
/// use switchboard_sdk::manifest::validate_config;
///
/// let schema = json!({ "type": "object", "properties": { "port": { "type": "integer" } } });
/// let problems = validate_config(&json!({ "port": "eighty" }), &schema, "config");
/// assert_eq!(problems[0].0, "config.port");
/// ```
pub fn validate_config(
    value: &serde_json::Value,
    schema: &serde_json::Value,
    root: &str,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    schema::validate(value, schema, root, &mut out);
    out
}

/// The largest manifest accepted, in bytes (1 MiB). A real manifest is a few kilobytes; a
/// larger one is refused before it is parsed (SB1024), so hostile input costs little.
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;

/// The most findings [`Manifest::check`] lists; past it, one last finding (SB1025) counts the
/// rest, as compilers do, so a manifest of 40,000 mistakes prints 101 lines, not 40,000.
pub const MAX_DIAGNOSTICS: usize = 100;

/// The file name of a TOML manifest.
pub const MANIFEST_FILE: &str = "plugin.toml";
/// The file name of a JSON manifest.
pub const MANIFEST_JSON_FILE: &str = "plugin.json";

/// How a manifest is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// `plugin.toml`.
    Toml,
    /// `plugin.json`.
    Json,
}

impl Format {
    /// The format for a file name (`.json` is JSON; anything else TOML).
    pub fn for_path(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Toml,
        }
    }
}

/// A plugin manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's name: ASCII letters, digits, `-` and `_`, starting with a letter, at most
    /// 64 characters. Names equal up to case and `-`/`_` are the same name.
    pub name: String,
    /// Its semver version.
    pub version: String,
    /// One line saying what it does.
    #[serde(default)]
    pub description: String,
    /// Its authors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    /// An SPDX license expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Where its source lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Its home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    /// Marketplace categories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Search keywords.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// The kind of plugin (default `extension`). A host's policy may isolate plugins by kind
    /// (`isolate_kinds`) and give each kind its own sandbox profile
    /// (`[isolation.profiles.<kind>]`).
    #[serde(default = "default_kind")]
    pub kind: String,
    /// What it needs: host API, SDK ABI, other plugins.
    #[serde(default)]
    pub requires: Requires,
    /// The capabilities it requests (`kv`, `fs.read:/data/**`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// What it offers: commands, services, topics.
    #[serde(default)]
    pub provides: Provides,
    /// Its configuration schema and defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigSpec>,
    /// Resource limits: the KV quota is applied in every mode; memory, CPU and call time only
    /// in isolated mode, capped by the host's policy (an in-process load reports them as not
    /// applied, `SB1120`).
    #[serde(default)]
    pub limits: Limits,
    /// The sandbox profile: `strict` asks to run isolated with no files, network or exec,
    /// whatever is granted; hosts honour it.
    #[serde(default)]
    pub sandbox: SandboxProfile,
    /// The target triples it is built for (empty: the package's libraries say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// In a package: the sha256 (lower-case hex) of every other file, by path in the package.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
    /// The smoke calls `switchboard test` makes once the built library is loaded into a real
    /// host (`[test]`); hosts ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<TestSpec>,
}

/// `[test]`: what `switchboard test` grants the plugin and which calls it makes.
///
/// ```toml
/// [test]
/// grant = ["kv"]            # default: every capability the plugin requests
///
/// [[test.calls]]
/// command = "greet"
/// input = "Ada"             # a string, number or boolean for built-in request types;
///                           # omitted for `()`; `input_hex` (postcard bytes) for others
/// expect = "Hello, Ada!"    # optional: the answer, in the same form
///
/// [[test.calls]]
/// command = "greet"
/// input = ""
/// expect_error = "SB0100"   # the call must fail with this code
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    /// The capabilities granted for the smoke calls; `None`: every one the plugin requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Vec<String>>,
    /// The calls, made in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<SmokeCall>,
}

/// One smoke call of `[[test.calls]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeCall {
    /// The command.
    pub command: String,
    /// The request, for a command whose request is a built-in type (string, integer, float,
    /// boolean, or raw bytes given as a string); absent for `()`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<serde_json::Value>,
    /// The request as hex of its encoded bytes, for a command whose request is a
    /// `#[derive(Message)]` type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_hex: Option<String>,
    /// The answer expected, in the same form as `input` (absent: any answer passes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<serde_json::Value>,
    /// The error code the call must fail with (`SB0100`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_error: Option<String>,
}

fn default_kind() -> String {
    "extension".into()
}

/// What a plugin needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    /// The host API it was written for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_api: Option<HostApiRequirement>,
    /// The SDK ABI it was built against, `MAJOR.MINOR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk_abi: Option<String>,
    /// Other plugins, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, Dependency>,
}

/// A host API name and the semver range of its versions a plugin works with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostApiRequirement {
    /// The host API's name.
    pub name: String,
    /// A semver range, e.g. `^2.1`.
    pub version: String,
}

/// A dependency on another plugin: `"^1.2"` or `{ version = "^1.2", optional = true }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dependency {
    /// Just a version range.
    Range(String),
    /// A range with options.
    Detailed {
        /// A semver range.
        version: String,
        /// Whether the plugin works without it.
        #[serde(default)]
        optional: bool,
    },
}

impl Dependency {
    /// The version range.
    pub fn range(&self) -> &str {
        match self {
            Dependency::Range(r) | Dependency::Detailed { version: r, .. } => r,
        }
    }

    /// Whether the plugin works without it.
    pub fn optional(&self) -> bool {
        matches!(self, Dependency::Detailed { optional: true, .. })
    }
}

/// What a plugin offers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provides {
    /// Commands, in dispatch order, with their contract ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<CommandDecl>,
    /// Named services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Provided>,
    /// Event topics it publishes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<Provided>,
}

/// A provided service or topic and its message contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provided {
    /// The service or topic name.
    pub name: String,
    /// The contract id of its messages.
    pub contract: String,
}

/// Configuration: a JSON Schema and default values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    /// The schema the effective configuration must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    /// Default values.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub defaults: serde_json::Map<String, serde_json::Value>,
}

/// Resource limits: memory and time (enforced in isolated mode, capped by the host's policy;
/// an in-process load reports them as not applied, `SB1120`) and the KV quota requested
/// (applied in every mode).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Memory, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// CPU time, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u64>,
    /// Wall-clock time per call, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_timeout_ms: Option<u64>,
    /// The KV quota requested, in bytes (keys plus values); capped by the host's policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_bytes: Option<u64>,
    /// The KV quota requested, in keys; capped by the host's policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_keys: Option<u64>,
}

/// How tightly isolated mode confines the plugin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SandboxProfile {
    /// In isolated mode: filesystem allowlist from grants, no network unless granted (the
    /// host's policy profile may narrow both).
    #[default]
    Standard,
    /// Always isolated, with no filesystem, network or exec of its own, whatever is granted
    /// (the host's services, checked by capability, still work).
    Strict,
}

impl Manifest {
    /// Parses and validates a manifest, returning every error found (warnings are dropped;
    /// use [`Manifest::check`] to see them).
    pub fn parse(source: &str, format: Format) -> Result<Manifest, Vec<Diagnostic>> {
        let (manifest, diagnostics) = Manifest::check(source, format);
        let errors: Vec<Diagnostic> = diagnostics
            .into_iter()
            .filter(Diagnostic::is_error)
            .collect();
        match manifest {
            Some(m) if errors.is_empty() => Ok(m),
            _ => Err(errors),
        }
    }

    /// Parses and validates, returning the manifest when it could be read and its findings:
    /// at most [`MAX_DIAGNOSTICS`], then one that counts the rest. A source over
    /// [`MAX_MANIFEST_BYTES`] is refused unread (SB1024).
    pub fn check(source: &str, format: Format) -> (Option<Manifest>, Vec<Diagnostic>) {
        if source.len() > MAX_MANIFEST_BYTES {
            return (None, vec![too_large(source.len())]);
        }
        let (manifest, mut diagnostics) = Manifest::check_unbounded(source, format);
        cap_diagnostics(&mut diagnostics);
        (manifest, diagnostics)
    }

    fn check_unbounded(source: &str, format: Format) -> (Option<Manifest>, Vec<Diagnostic>) {
        let index = LineIndex::new(source);
        let root = match format {
            Format::Toml => match toml::de::DeTable::parse(source) {
                Ok(t) => {
                    let span = t.span();
                    Node::from_toml_table(t.get_ref(), span)
                }
                Err(e) => {
                    let pos = e.span().map(|s| index.position(s.start));
                    let message = e.message().trim().to_owned();
                    return (
                        None,
                        vec![Diagnostic::error(
                            codes::SYNTAX,
                            "",
                            format!("invalid TOML: {message}"),
                            "fix the syntax at the position shown",
                        )
                        .at(pos)],
                    );
                }
            },
            Format::Json => match serde_json::from_str::<serde_json::Value>(source) {
                Ok(v) => Node::from_json(&v),
                Err(e) => {
                    return (
                        None,
                        vec![Diagnostic::error(
                            codes::SYNTAX,
                            "",
                            format!("invalid JSON: {e}"),
                            "fix the syntax at the position shown",
                        )
                        .at(Some((e.line(), e.column())))],
                    )
                }
            },
        };
        let mut diagnostics = Vec::new();
        structure::check(&root, &index, &mut diagnostics);
        if diagnostics.iter().any(Diagnostic::is_error) {
            return (None, diagnostics);
        }
        let manifest: Manifest = match serde_json::from_value(root.to_json()) {
            Ok(m) => m,
            Err(e) => {
                diagnostics.push(Diagnostic::error(
                    codes::WRONG_TYPE,
                    "",
                    format!("the manifest does not have the expected shape: {e}"),
                    "compare the manifest with the format in docs/manifest.md",
                ));
                return (None, diagnostics);
            }
        };
        validate::check(&manifest, &root, &index, &mut diagnostics);
        (Some(manifest), diagnostics)
    }

    /// The manifest as TOML.
    pub fn to_toml_string(&self) -> Result<String, String> {
        toml::to_string_pretty(self).map_err(|e| e.to_string())
    }

    /// The parsed version (validated by [`Manifest::parse`]).
    pub fn semver(&self) -> Option<semver::Version> {
        semver::Version::parse(&self.version).ok()
    }
}

/// The finding for a manifest of `len` bytes, over [`MAX_MANIFEST_BYTES`].
pub fn too_large(len: usize) -> Diagnostic {
    Diagnostic::error(
        codes::TOO_LARGE,
        "",
        format!("the manifest is {len} bytes; the limit is {MAX_MANIFEST_BYTES} (1 MiB)"),
        "a manifest describes a plugin in a few kilobytes: remove what does not belong in it",
    )
}

/// Keeps the first [`MAX_DIAGNOSTICS`] findings and replaces the rest with one that counts them.
fn cap_diagnostics(diagnostics: &mut Vec<Diagnostic>) {
    if diagnostics.len() <= MAX_DIAGNOSTICS {
        return;
    }
    let rest = diagnostics.split_off(MAX_DIAGNOSTICS);
    let errors = rest.iter().filter(|d| d.is_error()).count();
    let message = format!(
        "{} more findings not shown ({errors} errors, {} warnings)",
        rest.len(),
        rest.len() - errors
    );
    let next = "fix the findings above and check again to see the rest";
    diagnostics.push(if errors > 0 {
        Diagnostic::error(codes::MORE_FINDINGS, "", message, next)
    } else {
        Diagnostic::warning(codes::MORE_FINDINGS, "", message, next)
    });
}

/// Reads a manifest file, refusing one over [`MAX_MANIFEST_BYTES`] without reading past the
/// limit. The error is the finding to report (SB1024, or SB1001 for I/O and UTF-8 problems).
pub fn read_file(path: &std::path::Path) -> Result<String, Box<Diagnostic>> {
    use std::io::Read as _;
    let unreadable = |e: &dyn std::fmt::Display| {
        Box::new(Diagnostic::error(
            codes::SYNTAX,
            "",
            format!("cannot read {}: {e}", path.display()),
            "check the path, its permissions, and that the file is UTF-8",
        ))
    };
    // Opening a FIFO blocks until someone writes to it: refuse anything but a regular file.
    if !std::fs::metadata(path)
        .map_err(|e| unreadable(&e))?
        .is_file()
    {
        return Err(unreadable(&"not a regular file"));
    }
    let file = std::fs::File::open(path).map_err(|e| unreadable(&e))?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_MANIFEST_BYTES).unwrap_or(u64::MAX) + 1;
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(&e))?;
    if bytes.len() > MAX_MANIFEST_BYTES {
        let len = std::fs::metadata(path).map_or(bytes.len(), |m| {
            usize::try_from(m.len()).unwrap_or(usize::MAX)
        });
        return Err(Box::new(too_large(len)));
    }
    String::from_utf8(bytes).map_err(|e| unreadable(&e))
}

/// Whether `name` follows the plugin naming rules: ASCII, starts with a letter, then letters,
/// digits, `-` or `_`, at most 64 characters.
///
/// ```
/// use switchboard_sdk::manifest::valid_name;
/// assert!(valid_name("weather-v2"));
/// assert!(!valid_name("2weather"));
/// assert!(!valid_name("wéather"));
/// ```
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The form under which names compare: ASCII lower case, `-` as `_`.
///
/// ```
/// use switchboard_sdk::manifest::name_key;
/// assert_eq!(name_key("My-Plugin"), name_key("my_plugin"));
/// ```
pub fn name_key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}
