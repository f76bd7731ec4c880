//! The sandbox an isolated plugin's runner applies to itself before it opens the plugin
//! library (ARCHITECTURE D13). SKELETON — the contract between the runner and the sandbox
//! helper; bodies are filled in on branch `iso-sandbox`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One layer of the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Layer {
    /// Landlock filesystem rules: only the runner's needs and the granted paths.
    Landlock,
    /// Landlock TCP rules: bind/connect only to granted ports (Landlock ABI 4 and later).
    LandlockNet,
    /// A seccomp-bpf filter denying what a plugin never needs.
    Seccomp,
    /// Resource limits: address space, CPU seconds, open files, file size, no core dumps.
    Rlimits,
    /// `PR_SET_NO_NEW_PRIVS`.
    NoNewPrivs,
    /// A network namespace without interfaces (when no network is granted).
    NetNamespace,
    /// A cgroup v2 with memory and pids limits (only where one is delegated).
    Cgroup,
}

/// Whether one layer is active for a runner (or available on this machine), and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerStatus {
    /// The layer.
    pub layer: Layer,
    /// Whether it is in force.
    pub active: bool,
    /// What it does here, or why it is not in force.
    pub detail: String,
}

/// Resource limits the runner sets on itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RlimitSpec {
    /// `RLIMIT_AS`, bytes.
    pub address_space_bytes: Option<u64>,
    /// `RLIMIT_CPU`, seconds.
    pub cpu_seconds: Option<u64>,
    /// `RLIMIT_NOFILE`.
    pub open_files: Option<u64>,
    /// `RLIMIT_FSIZE`, bytes.
    pub file_size_bytes: Option<u64>,
}

/// What the runner confines itself to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// Directories the plugin may read beneath (from `fs.read` grants).
    pub read_paths: Vec<PathBuf>,
    /// Directories the plugin may read and write beneath (from `fs.write` grants).
    pub write_paths: Vec<PathBuf>,
    /// TCP ports the plugin may connect to (from `net.connect` grants).
    pub tcp_connect: Vec<u16>,
    /// A grant covers too many ports to list (a range or `*`): TCP connect is not limited by
    /// port (the `LandlockNet` layer is off, saying why).
    pub tcp_connect_any: bool,
    /// Whether any network is granted; without, a namespace without interfaces where possible.
    pub network: bool,
    /// Whether `execve` (and `fork`) are allowed (`process.spawn` granted).
    pub allow_exec: bool,
    /// Resource limits.
    pub rlimits: RlimitSpec,
    /// Memory limit for a cgroup, bytes, where one is delegated.
    pub cgroup_memory_bytes: Option<u64>,
    /// Layers whose absence refuses the start.
    pub required: Vec<Layer>,
}

/// Why the runner could not confine itself as asked (`SB1520`): a required layer is missing,
/// or applying one failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("the sandbox layer `{layer:?}` could not be applied: {reason}")]
pub struct SandboxError {
    /// The layer.
    pub layer: Layer,
    /// Why.
    pub reason: String,
}

impl SandboxError {
    /// `SB1520`.
    pub fn code(&self) -> switchboard_sdk::ErrorCode {
        switchboard_sdk::ErrorCode::from_number(1520)
    }

    /// What to do about it.
    pub fn next_step(&self) -> &'static str {
        "run the plugin on a machine with this layer, or drop it from the policy's `require`"
    }
}

/// Applies `spec` to the calling process, which must still be single-threaded (the runner,
/// before it opens the plugin). Returns each layer's status; a layer in `spec.required` that
/// cannot be applied is an error. Order: parent-death signal, network namespace, rlimits,
/// `no_new_privs`, Landlock, seccomp (last: it forbids what the others need).
pub fn apply(spec: &SandboxSpec) -> Result<Vec<LayerStatus>, SandboxError> {
    match spec.required.first() {
        Some(layer) => Err(SandboxError {
            layer: *layer,
            reason: "skeleton".into(),
        }),
        None => Ok(Vec::new()),
    }
}

/// What this machine supports, without applying anything (for the host, `switchboard
/// inspect` and the refusal of plugins whose policy demands a missing layer).
pub fn probe() -> Vec<LayerStatus> {
    Vec::new()
}
