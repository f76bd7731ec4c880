//! Policy routing: whether a plugin runs in-process or isolated, under which profile and
//! limits. SKELETON — the contract; filled in on branch `iso-policy`.

use serde::{Deserialize, Serialize};

use super::sandbox::Layer;

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

/// The limits an isolated plugin runs under: the manifest's `[limits]`, capped by policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationLimits {
    /// Memory (address space), MiB.
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

/// What policy decided for one plugin, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationDecision {
    /// Where it runs.
    pub mode: Mode,
    /// Why, in words (each rule that matched).
    pub reasons: Vec<String>,
    /// The sandbox profile: `default`, a kind's profile, or `strict`.
    pub profile: String,
    /// Its limits (meaningful in isolated mode).
    pub limits: IsolationLimits,
    /// Whether the profile allows `execve` when `process.spawn` is granted.
    pub allow_exec: bool,
    /// Whether the profile allows network when `net.connect` is granted (`strict`: never).
    pub allow_network: bool,
    /// Whether filesystem grants open Landlock paths (`strict`: never).
    pub allow_files: bool,
    /// Layers the policy demands; a machine without one refuses the plugin.
    pub required_layers: Vec<Layer>,
}

/// Decides for one plugin. `declared` is its package manifest (or its development
/// `plugin.toml`), which carries `kind`, `[limits]` and `sandbox`; `forced` is the load
/// options' explicit choice, which policy may still overrule towards isolation (never towards
/// in-process for a plugin policy isolates).
pub(crate) fn decide(
    policy: &crate::caps::Policy,
    name: &str,
    declared: Option<&switchboard_sdk::manifest::Manifest>,
    trust: crate::package::TrustLevel,
    forced: Option<Mode>,
) -> IsolationDecision {
    let _ = (policy, name, declared, trust, forced);
    IsolationDecision {
        mode: forced.unwrap_or(Mode::InProcess),
        reasons: Vec::new(),
        profile: "default".into(),
        limits: IsolationLimits {
            memory_mb: None,
            cpu_ms: None,
            call_timeout_ms: None,
            open_files: None,
            file_size_mb: None,
            max_restarts: 3,
            restart_backoff_ms: 100,
        },
        allow_exec: false,
        allow_network: true,
        allow_files: true,
        required_layers: Vec::new(),
    }
}
