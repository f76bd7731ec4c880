//! Policy routing: whether a plugin runs in-process or isolated, under which profile and
//! limits.
//!
//! A plugin runs isolated when any of these holds (each one that matches is a reason):
//!
//! 1. the load asks for it ([`LoadOptions::isolation`](crate::LoadOptions::isolation));
//! 2. its manifest says `sandbox = "strict"` (a request policy always honours);
//! 3. its trust level is below the policy's `isolation.isolate_below`;
//! 4. its name is in `isolation.isolate_plugins`;
//! 5. its manifest's `kind` is in `isolation.isolate_kinds`;
//! 6. the policy's `isolation.default` is `isolated`.
//!
//! A load that asks for in-process does not overrule 2–6: a load may ask for more isolation,
//! never less. The profile is the `[isolation.profiles.<kind>]` table for the plugin's kind
//! (else `default`); each setting comes from it, else from `[isolation.defaults]`, else from
//! the built-in defaults ([`IsolationLimits::DEFAULT_MEMORY_MB`] and the others). The
//! manifest's `[limits]` memory, CPU and call time are requests: the smaller of the request
//! and the policy's value wins, and the policy's value applies when the manifest names none.

use serde::{Deserialize, Serialize};
use switchboard_sdk::manifest::{Manifest, SandboxProfile};

use super::policy::IsolationProfile;
use super::sandbox::{Layer, LayerStatus, RlimitSpec};
use crate::caps::policy::plugin_key;

/// Where a plugin's code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Mode {
    /// In the host's process: fast, trusted.
    InProcess,
    /// In a sandboxed runner process: contained.
    Isolated,
}

impl Mode {
    /// The mode's name as policies and reports write it: `in-process` or `isolated`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::InProcess => "in-process",
            Mode::Isolated => "isolated",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The limits an isolated plugin runs under: the manifest's `[limits]`, capped by policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationLimits {
    /// Memory (`RLIMIT_DATA`: heap and private writable mappings), MiB.
    pub memory_mb: Option<u64>,
    /// CPU time, milliseconds (the runner's lifetime total; rounded up to seconds).
    pub cpu_ms: Option<u64>,
    /// Wall-clock time per call, milliseconds.
    pub call_timeout_ms: Option<u64>,
    /// Open files.
    pub open_files: Option<u64>,
    /// Largest file the plugin may write, MiB.
    pub file_size_mb: Option<u64>,
    /// Restarts after a crash or timeout before the plugin is `failed`.
    pub max_restarts: u32,
    /// The first restart's delay, doubled each time, milliseconds.
    pub restart_backoff_ms: u64,
}

impl IsolationLimits {
    /// Memory when neither the manifest nor the policy names any: 1 GiB.
    pub const DEFAULT_MEMORY_MB: u64 = 1024;
    /// Time per call when neither names any: 30 s.
    pub const DEFAULT_CALL_TIMEOUT_MS: u64 = 30_000;
    /// Open files when the policy names none.
    pub const DEFAULT_OPEN_FILES: u64 = 256;
    /// The largest file written when the policy names none: 64 MiB.
    pub const DEFAULT_FILE_SIZE_MB: u64 = 64;
    /// Restarts when the policy names none.
    pub const DEFAULT_MAX_RESTARTS: u32 = 3;
    /// The first restart's delay when the policy names none.
    pub const DEFAULT_RESTART_BACKOFF_MS: u64 = 100;
    // CPU time has no built-in limit: a plugin that waits on events for days uses little,
    // and a long computation would die at an arbitrary bound. The call timeout bounds a spin.

    /// The resource limits a runner sets on itself for these limits: MiB as bytes, CPU
    /// milliseconds rounded up to whole seconds (`RLIMIT_CPU` counts seconds). A value too
    /// large to express is no limit rather than a wrong one.
    ///
    /// ```
    /// # use switchboard_host::isolation::IsolationLimits;
    /// let limits = IsolationLimits {
    ///     memory_mb: Some(512), cpu_ms: Some(1500), call_timeout_ms: Some(30_000),
    ///     open_files: Some(256), file_size_mb: Some(0), max_restarts: 3, restart_backoff_ms: 100,
    /// };
    /// let r = limits.rlimits();
    /// assert_eq!(r.memory_bytes, Some(512 << 20));
    /// assert_eq!(r.cpu_seconds, Some(2));
    /// assert_eq!(r.file_size_bytes, Some(0));
    /// ```
    pub fn rlimits(&self) -> RlimitSpec {
        let mib = |v: Option<u64>| v.and_then(|m| m.checked_mul(1 << 20));
        RlimitSpec {
            memory_bytes: mib(self.memory_mb),
            cpu_seconds: self.cpu_ms.map(|ms| ms.div_ceil(1000)),
            open_files: self.open_files,
            file_size_bytes: mib(self.file_size_mb),
        }
    }
}

/// What policy decided for one plugin, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationDecision {
    /// Where it runs.
    pub mode: Mode,
    /// Why, in words: each rule that matched (a plugin no rule isolates has one reason
    /// saying so).
    pub reasons: Vec<String>,
    /// The sandbox profile: the kind's `[isolation.profiles.<kind>]` table, or `default`.
    pub profile: String,
    /// Whether the manifest asked for `sandbox = "strict"`: no files, network or exec,
    /// whatever is granted or the profile allows.
    pub strict: bool,
    /// Its limits (meaningful in isolated mode).
    pub limits: IsolationLimits,
    /// Whether the profile allows `execve` when `process.spawn` is granted (default: no).
    pub allow_exec: bool,
    /// Whether the profile allows network when `net.connect` is granted (default: yes;
    /// `strict`: never).
    pub allow_network: bool,
    /// Whether filesystem grants open Landlock paths (default: yes; `strict`: never).
    pub allow_files: bool,
    /// Layers the policy demands; a machine without one refuses the plugin.
    pub required_layers: Vec<Layer>,
    /// The plugin's kind (the manifest's `kind`, `extension` when it says none; empty in a
    /// record of a host that did not record it), which `isolate_kinds` and the profiles go by
    /// and which preflight checks the library against (`switchboard_host::kinds`).
    #[serde(default)]
    pub kind: String,
}

impl IsolationDecision {
    /// The record `switchboard inspect` shows
    /// ([`Store::set_plugin_isolation`](crate::Store::set_plugin_isolation)): the decision
    /// and, for an isolated plugin, each sandbox layer's status in its runner.
    ///
    /// ```json
    /// { "mode": "isolated", "profile": "agent", "strict": false,
    ///   "reasons": ["trust `unsigned` is below `verified` (policy `isolation.isolate_below`)"],
    ///   "limits": { "memory_mb": 512, "cpu_ms": null, "call_timeout_ms": 30000, … },
    ///   "allow_exec": false, "allow_network": true, "allow_files": true,
    ///   "required_layers": ["landlock"],
    ///   "layers": [{ "layer": "landlock", "active": true, "detail": "…" }, …] }
    /// ```
    pub fn record(&self, layers: &[LayerStatus]) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(map) = v.as_object_mut() {
            map.insert(
                "layers".into(),
                serde_json::to_value(layers).unwrap_or_default(),
            );
        }
        v
    }
}

/// The smaller of a request and a cap; either alone when the other is unsaid.
fn capped(request: Option<u64>, cap: Option<u64>) -> Option<u64> {
    match (request, cap) {
        (Some(r), Some(c)) => Some(r.min(c)),
        (r, c) => r.or(c),
    }
}

/// Decides for one plugin. `declared` is its package manifest (or its development
/// `plugin.toml`), which carries `kind`, `[limits]` and `sandbox`; `forced` is the load
/// options' explicit choice, which policy may still overrule towards isolation (never towards
/// in-process for a plugin policy isolates). See the [module documentation](self) for the
/// rules.
pub(crate) fn decide(
    policy: &crate::caps::Policy,
    name: &str,
    declared: Option<&Manifest>,
    trust: crate::package::TrustLevel,
    forced: Option<Mode>,
) -> IsolationDecision {
    let iso = policy.isolation();
    let kind = declared.map(|m| m.kind.as_str());
    let strict = declared.is_some_and(|m| m.sandbox == SandboxProfile::Strict);

    let mut rules = Vec::new();
    if strict {
        rules.push("the manifest asks for `sandbox = \"strict\"`".to_owned());
    }
    if let Some(below) = iso.isolate_below.filter(|b| trust < *b) {
        rules.push(format!(
            "trust `{trust}` is below `{below}` (policy `isolation.isolate_below`)"
        ));
    }
    if iso.isolate_plugins.contains(&plugin_key(name)) {
        rules.push(format!(
            "plugin `{name}` is listed in policy `isolation.isolate_plugins`"
        ));
    }
    if let Some(k) = kind.filter(|k| iso.isolate_kinds.contains(*k)) {
        rules.push(format!(
            "kind `{k}` is listed in policy `isolation.isolate_kinds`"
        ));
    }
    if iso.default == Some(Mode::Isolated) {
        rules.push("policy `isolation.default` is `isolated`".to_owned());
    }

    let (mode, reasons) = match forced {
        Some(Mode::Isolated) => {
            let mut r = vec!["the load asked for isolated mode (`LoadOptions::isolation`)".into()];
            r.extend(rules);
            (Mode::Isolated, r)
        }
        Some(Mode::InProcess) if !rules.is_empty() => {
            rules.push(
                "the load asked for in-process mode, which does not overrule the rules above: \
                 a load may ask for more isolation, never less"
                    .into(),
            );
            (Mode::Isolated, rules)
        }
        Some(Mode::InProcess) => (
            Mode::InProcess,
            vec!["the load asked for in-process mode (`LoadOptions::isolation`) and no rule isolates it".into()],
        ),
        None if !rules.is_empty() => (Mode::Isolated, rules),
        None => (Mode::InProcess, vec!["no rule isolates it".into()]),
    };

    let profile_name = kind
        .filter(|k| iso.profiles.contains_key(*k))
        .unwrap_or("default");
    let defaults = &iso.defaults;
    let profile = iso.profiles.get(profile_name).unwrap_or(defaults);
    let setting = |f: fn(&IsolationProfile) -> Option<u64>| f(profile).or(f(defaults));
    let flag = |f: fn(&IsolationProfile) -> Option<bool>| f(profile).or(f(defaults));
    let requested = declared.map(|m| &m.limits);
    let limits = IsolationLimits {
        memory_mb: capped(
            requested.and_then(|l| l.memory_mb),
            setting(|p| p.memory_mb),
        )
        .or(Some(IsolationLimits::DEFAULT_MEMORY_MB)),
        cpu_ms: capped(requested.and_then(|l| l.cpu_ms), setting(|p| p.cpu_ms)),
        call_timeout_ms: capped(
            requested.and_then(|l| l.call_timeout_ms),
            setting(|p| p.call_timeout_ms),
        )
        .or(Some(IsolationLimits::DEFAULT_CALL_TIMEOUT_MS)),
        open_files: setting(|p| p.open_files).or(Some(IsolationLimits::DEFAULT_OPEN_FILES)),
        file_size_mb: setting(|p| p.file_size_mb).or(Some(IsolationLimits::DEFAULT_FILE_SIZE_MB)),
        max_restarts: profile
            .max_restarts
            .or(defaults.max_restarts)
            .unwrap_or(IsolationLimits::DEFAULT_MAX_RESTARTS),
        restart_backoff_ms: setting(|p| p.restart_backoff_ms)
            .unwrap_or(IsolationLimits::DEFAULT_RESTART_BACKOFF_MS),
    };
    // Requirements add up: the defaults' apply to every profile.
    let required_layers = Layer::ALL
        .iter()
        .copied()
        .filter(|l| defaults.require.contains(l) || profile.require.contains(l))
        .collect();
    IsolationDecision {
        mode,
        reasons,
        profile: profile_name.to_owned(),
        strict,
        limits,
        allow_exec: !strict && flag(|p| p.allow_exec).unwrap_or(false),
        allow_network: !strict && flag(|p| p.allow_network).unwrap_or(true),
        allow_files: !strict && flag(|p| p.allow_files).unwrap_or(true),
        required_layers,
        kind: kind.unwrap_or(crate::kinds::DEFAULT_KIND).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use switchboard_sdk::manifest::Format;

    use super::*;
    use crate::caps::Policy;
    use crate::package::TrustLevel;

    fn manifest(extra: &str) -> Manifest {
        Manifest::parse(
            &format!("name = \"weather\"\nversion = \"1.0.0\"\n{extra}"),
            Format::Toml,
        )
        .unwrap()
    }

    fn policy(text: &str) -> Policy {
        Policy::from_toml(text).unwrap()
    }

    fn run(p: &Policy, m: &Manifest, trust: TrustLevel, forced: Option<Mode>) -> IsolationDecision {
        decide(p, &m.name, Some(m), trust, forced)
    }

    #[test]
    fn no_rule_means_in_process_with_the_built_in_defaults() {
        let d = run(&Policy::new(), &manifest(""), TrustLevel::Unsigned, None);
        assert_eq!(d.mode, Mode::InProcess);
        assert_eq!(d.reasons, vec!["no rule isolates it".to_owned()]);
        assert_eq!(d.profile, "default");
        assert!(!d.strict);
        assert_eq!(
            d.limits,
            IsolationLimits {
                memory_mb: Some(1024),
                cpu_ms: None,
                call_timeout_ms: Some(30_000),
                open_files: Some(256),
                file_size_mb: Some(64),
                max_restarts: 3,
                restart_backoff_ms: 100,
            }
        );
        assert!(!d.allow_exec && d.allow_network && d.allow_files);
        assert!(d.required_layers.is_empty());
        // A development load without plugin.toml has nothing to ask.
        let d = decide(&Policy::new(), "probe", None, TrustLevel::Unsigned, None);
        assert_eq!(d.mode, Mode::InProcess);
        assert_eq!(d.profile, "default");
    }

    #[test]
    fn trust_below_the_threshold_isolates() {
        let p = policy("[isolation]\nisolate_below = \"verified\"");
        let m = manifest("");
        for (trust, mode) in [
            (TrustLevel::Unsigned, Mode::Isolated),
            (TrustLevel::SelfSigned, Mode::Isolated),
            (TrustLevel::Verified, Mode::InProcess),
            (TrustLevel::Certified, Mode::InProcess),
        ] {
            assert_eq!(run(&p, &m, trust, None).mode, mode, "{trust}");
        }
        assert_eq!(
            run(&p, &m, TrustLevel::Unsigned, None).reasons,
            vec!["trust `unsigned` is below `verified` (policy `isolation.isolate_below`)"]
        );
    }

    #[test]
    fn listed_names_and_kinds_isolate() {
        let p = policy("[isolation]\nisolate_plugins = [\"Weather\"]\nisolate_kinds = [\"agent\"]");
        let d = run(&p, &manifest(""), TrustLevel::Certified, None);
        assert_eq!(d.mode, Mode::Isolated);
        assert_eq!(
            d.reasons,
            vec!["plugin `weather` is listed in policy `isolation.isolate_plugins`"]
        );
        let agent = Manifest::parse(
            "name = \"helper\"\nversion = \"1.0.0\"\nkind = \"agent\"",
            Format::Toml,
        )
        .unwrap();
        let d = run(&p, &agent, TrustLevel::Certified, None);
        assert_eq!(d.mode, Mode::Isolated);
        assert_eq!(
            d.reasons,
            vec!["kind `agent` is listed in policy `isolation.isolate_kinds`"]
        );
        let other = Manifest::parse("name = \"other\"\nversion = \"1.0.0\"", Format::Toml).unwrap();
        assert_eq!(
            run(&p, &other, TrustLevel::Certified, None).mode,
            Mode::InProcess
        );
    }

    #[test]
    fn the_default_mode_isolates_everything() {
        let p = policy("[isolation]\ndefault = \"isolated\"");
        let d = run(&p, &manifest(""), TrustLevel::Certified, None);
        assert_eq!(d.mode, Mode::Isolated);
        assert_eq!(d.reasons, vec!["policy `isolation.default` is `isolated`"]);
        let p = policy("[isolation]\ndefault = \"in-process\"");
        assert_eq!(
            run(&p, &manifest(""), TrustLevel::Unsigned, None).mode,
            Mode::InProcess
        );
    }

    #[test]
    fn every_matching_rule_is_a_reason() {
        let p = policy(
            "[isolation]\ndefault = \"isolated\"\nisolate_below = \"certified\"\n\
             isolate_plugins = [\"weather\"]\nisolate_kinds = [\"tool\"]",
        );
        let d = run(
            &p,
            &manifest("kind = \"tool\"\nsandbox = \"strict\""),
            TrustLevel::Verified,
            None,
        );
        assert_eq!(d.mode, Mode::Isolated);
        assert_eq!(d.reasons.len(), 5, "{:#?}", d.reasons);
        assert!(d.reasons[0].contains("strict"));
    }

    #[test]
    fn strict_isolates_and_allows_nothing_whatever_the_profile() {
        let p = policy(
            "[isolation.defaults]\nallow_exec = true\nallow_network = true\nallow_files = true",
        );
        let d = run(
            &p,
            &manifest("sandbox = \"strict\""),
            TrustLevel::Certified,
            None,
        );
        assert_eq!(d.mode, Mode::Isolated);
        assert!(d.strict);
        assert_eq!(
            d.reasons,
            vec!["the manifest asks for `sandbox = \"strict\"`"]
        );
        assert!(!d.allow_exec && !d.allow_network && !d.allow_files);
        // Without strict, the same profile allows them.
        let d = run(
            &p,
            &manifest(""),
            TrustLevel::Certified,
            Some(Mode::Isolated),
        );
        assert!(d.allow_exec && d.allow_network && d.allow_files);
    }

    #[test]
    fn a_load_may_ask_for_isolation() {
        let d = run(
            &Policy::new(),
            &manifest(""),
            TrustLevel::Certified,
            Some(Mode::Isolated),
        );
        assert_eq!(d.mode, Mode::Isolated);
        assert_eq!(
            d.reasons,
            vec!["the load asked for isolated mode (`LoadOptions::isolation`)"]
        );
    }

    #[test]
    fn a_load_asking_for_in_process_never_overrules_a_rule_that_isolates() {
        let p = policy("[isolation]\nisolate_below = \"verified\"");
        let d = run(
            &p,
            &manifest(""),
            TrustLevel::Unsigned,
            Some(Mode::InProcess),
        );
        assert_eq!(d.mode, Mode::Isolated);
        assert_eq!(d.reasons.len(), 2);
        assert!(d.reasons[0].contains("isolate_below"));
        assert!(d.reasons[1].contains("never less"), "{}", d.reasons[1]);
        let d = run(
            &Policy::new(),
            &manifest("sandbox = \"strict\""),
            TrustLevel::Certified,
            Some(Mode::InProcess),
        );
        assert_eq!(d.mode, Mode::Isolated, "strict is honoured too");
        // Where nothing isolates, the load's choice stands, and says so.
        let d = run(
            &p,
            &manifest(""),
            TrustLevel::Verified,
            Some(Mode::InProcess),
        );
        assert_eq!(d.mode, Mode::InProcess);
        assert!(
            d.reasons[0].contains("asked for in-process"),
            "{:?}",
            d.reasons
        );
    }

    #[test]
    fn manifest_requests_are_capped_by_policy_and_policy_values_apply_alone() {
        let p =
            policy("[isolation.defaults]\nmemory_mb = 512\ncall_timeout_ms = 5000\ncpu_ms = 60000");
        // Asks for more memory than allowed, less time, and no CPU limit.
        let d = run(
            &p,
            &manifest("[limits]\nmemory_mb = 4096\ncall_timeout_ms = 200"),
            TrustLevel::Unsigned,
            Some(Mode::Isolated),
        );
        assert_eq!(d.limits.memory_mb, Some(512), "policy caps the request");
        assert_eq!(
            d.limits.call_timeout_ms,
            Some(200),
            "a smaller request wins"
        );
        assert_eq!(
            d.limits.cpu_ms,
            Some(60_000),
            "the policy's value without a request"
        );
        // Without a policy value the request stands, however large.
        let d = run(
            &Policy::new(),
            &manifest("[limits]\nmemory_mb = 4096\ncpu_ms = 10"),
            TrustLevel::Unsigned,
            Some(Mode::Isolated),
        );
        assert_eq!(d.limits.memory_mb, Some(4096));
        assert_eq!(d.limits.cpu_ms, Some(10));
        assert_eq!(d.limits.call_timeout_ms, Some(30_000));
    }

    #[test]
    fn a_kind_profile_overrides_the_defaults_setting_by_setting() {
        let p = policy(
            r#"
[isolation]
isolate_kinds = ["agent"]
[isolation.defaults]
memory_mb = 256
open_files = 32
max_restarts = 1
require = ["seccomp"]
[isolation.profiles.agent]
memory_mb = 2048
allow_exec = true
allow_network = false
restart_backoff_ms = 5
require = ["landlock"]
[isolation.profiles.integration]
memory_mb = 64
"#,
        );
        let agent = manifest("kind = \"agent\"\n[limits]\nmemory_mb = 4096");
        let d = run(&p, &agent, TrustLevel::Certified, None);
        assert_eq!(d.mode, Mode::Isolated);
        assert_eq!(d.profile, "agent");
        assert_eq!(d.limits.memory_mb, Some(2048));
        assert_eq!(d.limits.open_files, Some(32), "from the defaults");
        assert_eq!(d.limits.max_restarts, 1, "from the defaults");
        assert_eq!(d.limits.restart_backoff_ms, 5);
        assert_eq!(d.limits.file_size_mb, Some(64), "built in");
        assert!(d.allow_exec && !d.allow_network && d.allow_files);
        assert_eq!(d.required_layers, vec![Layer::Landlock, Layer::Seccomp]);
        // Another kind without a profile gets the defaults.
        let d = run(
            &p,
            &manifest("kind = \"tool\""),
            TrustLevel::Unsigned,
            Some(Mode::Isolated),
        );
        assert_eq!(d.profile, "default");
        assert_eq!(d.limits.memory_mb, Some(256));
        assert_eq!(d.required_layers, vec![Layer::Seccomp]);
        // A profile applies to its kind whatever rule isolated the plugin.
        let d = run(
            &p,
            &manifest("kind = \"integration\""),
            TrustLevel::Unsigned,
            Some(Mode::Isolated),
        );
        assert_eq!(d.profile, "integration");
        assert_eq!(d.limits.memory_mb, Some(64));
    }

    #[test]
    fn the_record_holds_the_decision_and_the_layers() {
        let d = run(
            &Policy::new(),
            &manifest(""),
            TrustLevel::Unsigned,
            Some(Mode::Isolated),
        );
        let layers = vec![LayerStatus {
            layer: Layer::Landlock,
            active: true,
            detail: "ABI 7".into(),
        }];
        let r = d.record(&layers);
        assert_eq!(r["mode"], "isolated");
        assert_eq!(r["profile"], "default");
        assert_eq!(r["limits"]["memory_mb"], 1024);
        assert_eq!(r["layers"][0]["layer"], "landlock");
        assert_eq!(r["layers"][0]["active"], true);
        assert_eq!(r["reasons"].as_array().unwrap().len(), 1);
    }
}
