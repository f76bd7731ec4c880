//! The `[isolation]` section of a host policy: the rules that route plugins to isolated mode,
//! and the sandbox profiles (limits and allowances) isolated plugins run under.
//!
//! ```toml
//! [isolation]
//! default = "in-process"            # in-process | isolated: for plugins no rule isolates
//! isolate_below = "verified"        # a trust level, as in `min_trust`
//! isolate_plugins = ["scraper"]
//! isolate_kinds = ["agent", "integration"]
//!
//! [isolation.defaults]              # every isolated plugin, unless its kind's profile says
//! memory_mb = 512
//! require = ["landlock", "seccomp"]
//!
//! [isolation.profiles.agent]        # plugins whose manifest says `kind = "agent"`
//! memory_mb = 2048
//! call_timeout_ms = 120000
//! allow_network = true
//! ```
//!
//! Every problem is a coded error naming the key: an unknown key (`SB1540`), an unknown
//! sandbox layer in `require` (`SB1541`), a value of the wrong type or out of range, an unknown
//! trust level or mode (`SB1542`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use switchboard_sdk::ErrorCode;

use super::decide::Mode;
use super::sandbox::Layer;
use crate::package::TrustLevel;

/// Limits and allowances for isolated plugins: `[isolation.defaults]` or one
/// `[isolation.profiles.<kind>]` table. Every field is optional; an unset one falls back to
/// the defaults table, then to the built-in default ([`IsolationLimits`](super::IsolationLimits)
/// lists them).
///
/// # Example
///
/// ```
/// use switchboard_host::isolation::{IsolationProfile, Layer};
/// use switchboard_host::Policy;
///
/// let mut agent = IsolationProfile::default();
/// agent.memory_mb = Some(2048);
/// agent.allow_network = Some(true);
/// agent.require = vec![Layer::Landlock, Layer::Seccomp];
/// let mut policy = Policy::new();
/// policy.isolate_kind("agent").isolation_profile("agent", agent);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct IsolationProfile {
    /// The most memory (`RLIMIT_DATA`) a plugin gets, MiB; caps the manifest's request.
    pub memory_mb: Option<u64>,
    /// The most CPU time, milliseconds; caps the manifest's request.
    pub cpu_ms: Option<u64>,
    /// The longest wall-clock time per call, milliseconds; caps the manifest's request. It
    /// bounds the plugin's own time: the time the host spends answering the plugin during the
    /// call (a service of another plugin, a wrapper's `next`) is not counted.
    pub call_timeout_ms: Option<u64>,
    /// Open files.
    pub open_files: Option<u64>,
    /// The largest file the plugin may write, MiB (0: none).
    pub file_size_mb: Option<u64>,
    /// Restarts after a crash or timeout before the plugin is `failed`.
    pub max_restarts: Option<u32>,
    /// The first restart's delay, doubled each time, milliseconds.
    pub restart_backoff_ms: Option<u64>,
    /// Whether `execve` is allowed to a plugin granted `process.spawn`.
    pub allow_exec: Option<bool>,
    /// Whether network is allowed to a plugin granted `net.connect`.
    pub allow_network: Option<bool>,
    /// Whether filesystem grants open Landlock paths.
    pub allow_files: Option<bool>,
    /// Sandbox layers a machine must provide, or the plugin is refused.
    pub require: Vec<Layer>,
}

/// The routing rules and profiles of a policy (see [`Policy`](crate::Policy)'s isolation
/// methods).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IsolationPolicy {
    /// For plugins no rule isolates (`None`: in-process, unsaid).
    pub(crate) default: Option<Mode>,
    pub(crate) isolate_below: Option<TrustLevel>,
    /// Name keys (`crate::caps::policy::plugin_key`).
    pub(crate) isolate_plugins: BTreeSet<String>,
    pub(crate) isolate_kinds: BTreeSet<String>,
    pub(crate) defaults: IsolationProfile,
    pub(crate) profiles: BTreeMap<String, IsolationProfile>,
}

/// A problem in a policy's `[isolation]` section (`SB1540`–`SB1542`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IsolationPolicyError {
    /// A key the section does not have (`SB1540`).
    #[error("`{key}` is not a setting of `{table}` (known: {known})")]
    UnknownKey {
        /// The key, with its path (`isolation.profiles.agent.memry_mb`).
        key: String,
        /// The table it is in.
        table: String,
        /// The keys that table has.
        known: String,
    },
    /// A name in a `require` list that is no sandbox layer (`SB1541`).
    #[error("`{key}`: `{name}` is not a sandbox layer (known: {known})")]
    UnknownLayer {
        /// The key, with its index (`isolation.defaults.require[1]`).
        key: String,
        /// The name given.
        name: String,
        /// The layers there are.
        known: String,
    },
    /// A value of the wrong type or out of range, or an unknown trust level or mode
    /// (`SB1542`).
    #[error("`{key}`: {reason}")]
    BadValue {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl IsolationPolicyError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            IsolationPolicyError::UnknownKey { .. } => ErrorCode::from_number(1540),
            IsolationPolicyError::UnknownLayer { .. } => ErrorCode::from_number(1541),
            IsolationPolicyError::BadValue { .. } => ErrorCode::from_number(1542),
        }
    }

    /// What to do about it.
    pub fn next_step(&self) -> String {
        match self {
            IsolationPolicyError::UnknownKey { .. } => {
                "fix or remove the key (the `[isolation]` section is described in docs/guide.md, \"Isolating plugins\")".into()
            }
            IsolationPolicyError::UnknownLayer { .. } => {
                "name layers as `switchboard inspect` shows them, e.g. `landlock`, `seccomp`".into()
            }
            IsolationPolicyError::BadValue { .. } => "fix the value named".into(),
        }
    }
}

const SECTION_KEYS: &[&str] = &[
    "default",
    "isolate_below",
    "isolate_plugins",
    "isolate_kinds",
    "defaults",
    "profiles",
];

const PROFILE_KEYS: &[&str] = &[
    "memory_mb",
    "cpu_ms",
    "call_timeout_ms",
    "open_files",
    "file_size_mb",
    "max_restarts",
    "restart_backoff_ms",
    "allow_exec",
    "allow_network",
    "allow_files",
    "require",
];

fn layer_names() -> String {
    Layer::ALL.map(Layer::as_str).join(", ")
}

/// Parses a mode as policies write it: `in-process` (or `in_process`) or `isolated`.
pub(crate) fn parse_mode(text: &str) -> Option<Mode> {
    match text {
        "in-process" | "in_process" => Some(Mode::InProcess),
        "isolated" => Some(Mode::Isolated),
        _ => None,
    }
}

fn unknown_keys(
    table: &toml::Table,
    path: &str,
    known: &[&str],
) -> Result<(), IsolationPolicyError> {
    match table.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(IsolationPolicyError::UnknownKey {
            key: format!("{path}.{k}"),
            table: path.to_owned(),
            known: known.join(", "),
        }),
        None => Ok(()),
    }
}

fn bad(key: &str, reason: impl Into<String>) -> IsolationPolicyError {
    IsolationPolicyError::BadValue {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

fn type_name(v: &toml::Value) -> &'static str {
    v.type_str()
}

fn string<'a>(v: &'a toml::Value, key: &str) -> Result<&'a str, IsolationPolicyError> {
    v.as_str()
        .ok_or_else(|| bad(key, format!("expected a string, found {}", type_name(v))))
}

fn strings(v: &toml::Value, key: &str) -> Result<Vec<String>, IsolationPolicyError> {
    let list = v.as_array().ok_or_else(|| {
        bad(
            key,
            format!("expected a list of strings, found {}", type_name(v)),
        )
    })?;
    list.iter()
        .enumerate()
        .map(|(i, item)| string(item, &format!("{key}[{i}]")).map(str::to_owned))
        .collect()
}

fn number(v: &toml::Value, key: &str, min: u64) -> Result<u64, IsolationPolicyError> {
    let n = v.as_integer().ok_or_else(|| {
        bad(
            key,
            format!("expected a whole number, found {}", type_name(v)),
        )
    })?;
    match u64::try_from(n) {
        Ok(n) if n >= min => Ok(n),
        _ => Err(bad(
            key,
            format!("expected a whole number of at least {min}, found {n}"),
        )),
    }
}

fn boolean(v: &toml::Value, key: &str) -> Result<bool, IsolationPolicyError> {
    v.as_bool().ok_or_else(|| {
        bad(
            key,
            format!("expected true or false, found {}", type_name(v)),
        )
    })
}

fn table<'a>(v: &'a toml::Value, key: &str) -> Result<&'a toml::Table, IsolationPolicyError> {
    v.as_table()
        .ok_or_else(|| bad(key, format!("expected a table, found {}", type_name(v))))
}

/// Whether `kind` is written as manifests write kinds (lower-case letters, digits, `-`).
fn valid_kind(kind: &str) -> bool {
    kind.starts_with(|c: char| c.is_ascii_lowercase())
        && kind
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn kind(name: &str, key: &str) -> Result<String, IsolationPolicyError> {
    if valid_kind(name) {
        Ok(name.to_owned())
    } else {
        Err(bad(
            key,
            format!(
                "`{name}` is not a plugin kind (kinds are lower-case letters, digits and `-`, \
                 as in a manifest's `kind`)"
            ),
        ))
    }
}

impl IsolationProfile {
    /// Reads one profile table, `path` naming it in errors.
    fn from_table(t: &toml::Table, path: &str) -> Result<IsolationProfile, IsolationPolicyError> {
        unknown_keys(t, path, PROFILE_KEYS)?;
        let key = |k: &str| format!("{path}.{k}");
        let num = |k: &str, min: u64| -> Result<Option<u64>, IsolationPolicyError> {
            t.get(k).map(|v| number(v, &key(k), min)).transpose()
        };
        let flag = |k: &str| -> Result<Option<bool>, IsolationPolicyError> {
            t.get(k).map(|v| boolean(v, &key(k))).transpose()
        };
        let mut require = Vec::new();
        if let Some(v) = t.get("require") {
            let k = key("require");
            for (i, name) in strings(v, &k)?.into_iter().enumerate() {
                let layer = Layer::ALL
                    .iter()
                    .copied()
                    .find(|l| l.as_str() == name)
                    .ok_or_else(|| IsolationPolicyError::UnknownLayer {
                        key: format!("{k}[{i}]"),
                        name: name.clone(),
                        known: layer_names(),
                    })?;
                if !require.contains(&layer) {
                    require.push(layer);
                }
            }
        }
        let max_restarts = match num("max_restarts", 0)? {
            Some(n) => Some(
                u32::try_from(n)
                    .map_err(|_| bad(&key("max_restarts"), format!("{n} is too large")))?,
            ),
            None => None,
        };
        Ok(IsolationProfile {
            memory_mb: num("memory_mb", 1)?,
            cpu_ms: num("cpu_ms", 1)?,
            call_timeout_ms: num("call_timeout_ms", 1)?,
            open_files: num("open_files", 1)?,
            file_size_mb: num("file_size_mb", 0)?,
            max_restarts,
            restart_backoff_ms: num("restart_backoff_ms", 0)?,
            allow_exec: flag("allow_exec")?,
            allow_network: flag("allow_network")?,
            allow_files: flag("allow_files")?,
            require,
        })
    }
}

impl IsolationPolicy {
    /// Reads the `[isolation]` section of `policy.toml`.
    pub(crate) fn from_value(v: &toml::Value) -> Result<IsolationPolicy, IsolationPolicyError> {
        IsolationPolicy::from_table(table(v, "isolation")?)
    }

    fn from_table(t: &toml::Table) -> Result<IsolationPolicy, IsolationPolicyError> {
        const PATH: &str = "isolation";
        unknown_keys(t, PATH, SECTION_KEYS)?;
        let mut p = IsolationPolicy::default();
        if let Some(v) = t.get("default") {
            let key = "isolation.default";
            let text = string(v, key)?;
            p.default = Some(parse_mode(text).ok_or_else(|| {
                bad(
                    key,
                    format!("`{text}` is not a mode: write `in-process` or `isolated`"),
                )
            })?);
        }
        if let Some(v) = t.get("isolate_below") {
            let key = "isolation.isolate_below";
            let level: TrustLevel = string(v, key)?
                .parse()
                .map_err(|e: crate::package::TrustLevelError| bad(key, e.to_string()))?;
            p.isolate_below = Some(level);
        }
        if let Some(v) = t.get("isolate_plugins") {
            p.isolate_plugins = strings(v, "isolation.isolate_plugins")?
                .iter()
                .map(|n| crate::caps::policy::plugin_key(n))
                .collect();
        }
        if let Some(v) = t.get("isolate_kinds") {
            let key = "isolation.isolate_kinds";
            for (i, k) in strings(v, key)?.iter().enumerate() {
                p.isolate_kinds.insert(kind(k, &format!("{key}[{i}]"))?);
            }
        }
        if let Some(v) = t.get("defaults") {
            let key = "isolation.defaults";
            p.defaults = IsolationProfile::from_table(table(v, key)?, key)?;
        }
        if let Some(v) = t.get("profiles") {
            for (name, profile) in table(v, "isolation.profiles")? {
                let key = format!("isolation.profiles.{name}");
                let name = kind(name, &key)?;
                let profile = IsolationProfile::from_table(table(profile, &key)?, &key)?;
                p.profiles.insert(name, profile);
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<IsolationPolicy, IsolationPolicyError> {
        let t: toml::Table = toml::from_str(text).unwrap();
        IsolationPolicy::from_value(&t["isolation"])
    }

    #[test]
    fn a_full_section_parses() {
        let p = parse(
            r#"
[isolation]
default = "in-process"
isolate_below = "self-signed"
isolate_plugins = ["Web-Scraper"]
isolate_kinds = ["agent"]
[isolation.defaults]
memory_mb = 512
open_files = 64
file_size_mb = 0
max_restarts = 0
require = ["landlock", "seccomp", "landlock"]
[isolation.profiles.agent]
call_timeout_ms = 120000
allow_network = false
allow_exec = true
allow_files = false
restart_backoff_ms = 0
require = ["landlock_net", "no_new_privs", "rlimits", "net_namespace", "cgroup"]
"#,
        )
        .unwrap();
        assert_eq!(p.default, Some(Mode::InProcess));
        assert_eq!(p.isolate_below, Some(TrustLevel::SelfSigned));
        assert!(p.isolate_plugins.contains("web_scraper"));
        assert!(p.isolate_kinds.contains("agent"));
        assert_eq!(p.defaults.memory_mb, Some(512));
        assert_eq!(p.defaults.file_size_mb, Some(0));
        assert_eq!(p.defaults.max_restarts, Some(0));
        assert_eq!(p.defaults.require, vec![Layer::Landlock, Layer::Seccomp]);
        let agent = &p.profiles["agent"];
        assert_eq!(agent.call_timeout_ms, Some(120_000));
        assert_eq!(agent.allow_network, Some(false));
        assert_eq!(agent.allow_exec, Some(true));
        assert_eq!(agent.allow_files, Some(false));
        assert_eq!(agent.memory_mb, None);
        assert_eq!(agent.require.len(), 5);
    }

    #[test]
    fn an_unknown_key_is_sb1540_and_names_its_path() {
        for (text, key) in [
            (
                "[isolation]\nisolate_bellow = \"verified\"",
                "isolation.isolate_bellow",
            ),
            (
                "[isolation.defaults]\nmemry_mb = 5",
                "isolation.defaults.memry_mb",
            ),
            (
                "[isolation.profiles.agent]\nallow_net = true",
                "isolation.profiles.agent.allow_net",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.code().to_string(), "SB1540", "{e}");
            assert!(e.to_string().contains(key), "{e}");
        }
    }

    #[test]
    fn an_unknown_layer_is_sb1541() {
        let e = parse("[isolation.defaults]\nrequire = [\"landlock\", \"apparmor\"]").unwrap_err();
        assert_eq!(e.code().to_string(), "SB1541");
        let text = e.to_string();
        assert!(text.contains("isolation.defaults.require[1]"), "{text}");
        assert!(
            text.contains("apparmor") && text.contains("seccomp"),
            "{text}"
        );
        // Layers are written in snake_case, as `inspect` shows them.
        assert_eq!(
            parse("[isolation.defaults]\nrequire = [\"Landlock\"]")
                .unwrap_err()
                .code()
                .to_string(),
            "SB1541"
        );
    }

    #[test]
    fn bad_values_are_sb1542() {
        for (text, key) in [
            ("[isolation]\ndefault = \"sandboxed\"", "isolation.default"),
            (
                "[isolation]\nisolate_below = \"trusted\"",
                "isolation.isolate_below",
            ),
            (
                "[isolation]\nisolate_kinds = [\"Agent\"]",
                "isolation.isolate_kinds[0]",
            ),
            (
                "[isolation]\nisolate_plugins = \"x\"",
                "isolation.isolate_plugins",
            ),
            (
                "[isolation.defaults]\nmemory_mb = 0",
                "isolation.defaults.memory_mb",
            ),
            (
                "[isolation.defaults]\ncpu_ms = -5",
                "isolation.defaults.cpu_ms",
            ),
            (
                "[isolation.defaults]\nallow_exec = \"yes\"",
                "isolation.defaults.allow_exec",
            ),
            (
                "[isolation.defaults]\nmax_restarts = 5000000000",
                "isolation.defaults.max_restarts",
            ),
            ("[isolation]\ndefaults = 3", "isolation.defaults"),
            (
                "[isolation.profiles]\nagent = 3",
                "isolation.profiles.agent",
            ),
            (
                "[isolation.profiles.\"Big Agent\"]\nmemory_mb = 5",
                "isolation.profiles.Big Agent",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.code().to_string(), "SB1542", "{text}: {e}");
            assert!(e.to_string().contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn layer_names_are_their_serde_names() {
        for l in Layer::ALL {
            assert_eq!(serde_json::to_value(l).unwrap(), l.as_str());
        }
        assert_eq!(Layer::NoNewPrivs.as_str(), "no_new_privs");
    }
}
