//! The sandbox an isolated plugin's runner applies to itself before it opens the plugin
//! library (ARCHITECTURE D13; `docs/architecture.md`, "Isolated mode: the sandbox").
//!
//! - [`apply`] — confines the calling process, layer by layer, and reports each layer.
//! - [`probe`] — what this machine supports, for the host; applies nothing.
//!
//! One file per layer, in the order [`apply`] runs them:
//! - `lifeline` — the parent-death signal (not a reported layer).
//! - `namespace` — [`Layer::NetNamespace`].
//! - `rlimits` — [`Layer::Rlimits`].
//! - `cgroup` — [`Layer::Cgroup`] (before Landlock, which would hide `/sys/fs/cgroup`).
//! - `privileges` — [`Layer::NoNewPrivs`], and every capability dropped.
//! - `landlock` — [`Layer::Landlock`] and [`Layer::LandlockNet`].
//! - `seccomp` — [`Layer::Seccomp`] (last: it forbids what the others need).
//!
//! On other systems than Linux nothing is applied: every layer is reported inactive and a
//! required layer refuses the start.

#[cfg(target_os = "linux")]
mod cgroup;
#[cfg(target_os = "linux")]
mod landlock;
#[cfg(target_os = "linux")]
mod lifeline;
#[cfg(target_os = "linux")]
mod namespace;
#[cfg(target_os = "linux")]
mod privileges;
#[cfg(target_os = "linux")]
mod rlimits;
#[cfg(target_os = "linux")]
mod seccomp;

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use switchboard_sdk::ErrorCode;

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
    /// Resource limits: memory (data), CPU seconds, open files, file size, no core dumps.
    Rlimits,
    /// `PR_SET_NO_NEW_PRIVS`, and every capability dropped.
    NoNewPrivs,
    /// A network namespace without interfaces (when no network is granted).
    NetNamespace,
    /// A cgroup v2 with memory and pids limits (only where one is delegated).
    Cgroup,
}

impl Layer {
    /// Every layer, in the order [`probe`] reports them.
    pub const ALL: [Layer; 7] = [
        Layer::Landlock,
        Layer::LandlockNet,
        Layer::Seccomp,
        Layer::Rlimits,
        Layer::NoNewPrivs,
        Layer::NetNamespace,
        Layer::Cgroup,
    ];

    /// The layer's name as policies, reports and `switchboard inspect` write it (its serde
    /// name).
    ///
    /// ```
    /// use switchboard_host::isolation::Layer;
    ///
    /// assert_eq!(Layer::LandlockNet.as_str(), "landlock_net");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Layer::Landlock => "landlock",
            Layer::LandlockNet => "landlock_net",
            Layer::Seccomp => "seccomp",
            Layer::Rlimits => "rlimits",
            Layer::NoNewPrivs => "no_new_privs",
            Layer::NetNamespace => "net_namespace",
            Layer::Cgroup => "cgroup",
        }
    }
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

impl LayerStatus {
    fn new(layer: Layer, active: bool, detail: impl Into<String>) -> Self {
        LayerStatus {
            layer,
            active,
            detail: detail.into(),
        }
    }
}

/// Resource limits the runner sets on itself. Each only ever lowers the limit the runner
/// inherited, never raises it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RlimitSpec {
    /// `RLIMIT_DATA`, bytes: the heap and private writable mappings — the memory a plugin
    /// allocates (address space merely reserved does not count).
    pub memory_bytes: Option<u64>,
    /// `RLIMIT_CPU`, seconds: `SIGXCPU` (which kills, the runner does not catch it) once they
    /// are used, `SIGKILL` one second later.
    pub cpu_seconds: Option<u64>,
    /// `RLIMIT_NOFILE`.
    pub open_files: Option<u64>,
    /// `RLIMIT_FSIZE`, bytes.
    pub file_size_bytes: Option<u64>,
}

/// What the runner confines itself to.
///
/// ```
/// use switchboard_host::isolation::sandbox::{Layer, SandboxSpec};
///
/// let spec = SandboxSpec {
///     read_paths: vec!["/srv/data".into()],
///     tcp_connect: vec![443],
///     network: true,
///     required: vec![Layer::Landlock, Layer::Seccomp],
///     ..SandboxSpec::default()
/// };
/// assert!(!spec.allow_exec);
/// ```
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
    /// The host's process id: the runner exits at once ([`EXIT_PARENT_GONE`]) when its parent
    /// is not this process any more (the host died before the parent-death signal was set).
    /// `None` skips the check.
    #[serde(default)]
    pub parent_pid: Option<u32>,
}

/// The exit status of a runner whose parent ([`SandboxSpec::parent_pid`]) is already gone.
pub const EXIT_PARENT_GONE: i32 = 70;

/// Why a layer could not be applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SandboxFailure {
    /// This machine lacks the layer (`SB1520`).
    Unavailable,
    /// The machine has it, but applying it failed (`SB1521`).
    #[default]
    Failed,
}

/// Why the runner could not confine itself as asked: a required layer is missing on this
/// machine (`SB1520`), or applying one failed (`SB1521`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("the sandbox layer `{layer:?}` could not be applied: {reason}")]
pub struct SandboxError {
    /// The layer.
    pub layer: Layer,
    /// Why.
    pub reason: String,
    /// Missing here, or failed.
    #[serde(default)]
    pub kind: SandboxFailure,
}

impl SandboxError {
    /// A required layer this machine lacks (`SB1520`).
    pub fn unavailable(layer: Layer, reason: impl Into<String>) -> Self {
        SandboxError {
            layer,
            reason: reason.into(),
            kind: SandboxFailure::Unavailable,
        }
    }

    /// A required layer whose application failed (`SB1521`).
    pub fn failed(layer: Layer, reason: impl Into<String>) -> Self {
        SandboxError {
            layer,
            reason: reason.into(),
            kind: SandboxFailure::Failed,
        }
    }

    /// The stable code: `SB1520` (missing on this machine) or `SB1521` (applying failed).
    pub fn code(&self) -> ErrorCode {
        match self.kind {
            SandboxFailure::Unavailable => ErrorCode::from_number(1520),
            SandboxFailure::Failed => ErrorCode::from_number(1521),
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self.kind {
            SandboxFailure::Unavailable => format!(
                "run the plugin on a machine with the `{:?}` layer (`switchboard inspect` lists \
                 what this one has), or drop it from the policy's required layers",
                self.layer
            ),
            SandboxFailure::Failed => {
                "report it with the reason; the runner refused to start unconfined".to_string()
            }
        }
    }
}

/// Why a layer is not in force: the machine lacks it, or applying it failed.
#[cfg_attr(
    not(target_os = "linux"),
    expect(dead_code, reason = "Linux layers only")
)]
enum Inactive {
    Unavailable(String),
    Failed(String),
}

/// Applies `spec` to the calling process, which must still be single-threaded (the runner,
/// before it opens the plugin). Returns each layer's status in the order applied; a layer in
/// `spec.required` that ends inactive is an error, and the runner must not go on.
///
/// Order: parent-death signal (exits at once if the parent is gone), network namespace,
/// rlimits, cgroup, `no_new_privs` and capabilities, Landlock (filesystem, TCP, scopes),
/// seccomp (last: it forbids what the others need). Irreversible for the process.
pub fn apply(spec: &SandboxSpec) -> Result<Vec<LayerStatus>, SandboxError> {
    imp::apply(spec)
}

/// Removes what a runner's sandbox left behind it in the system once the host has reaped
/// the runner `pid`: its empty cgroup, where it made one.
pub(crate) fn release(pid: u32) {
    #[cfg(target_os = "linux")]
    cgroup::remove(pid);
    #[cfg(not(target_os = "linux"))]
    let _ = pid;
}

/// What this machine supports, without applying anything (for the host, `switchboard
/// inspect` and the refusal of plugins whose policy demands a missing layer). Computed once
/// per process.
pub fn probe() -> Vec<LayerStatus> {
    static PROBE: OnceLock<Vec<LayerStatus>> = OnceLock::new();
    PROBE.get_or_init(imp::probe).clone()
}

/// Turns a layer's outcome into its status, refusing a required layer that is inactive.
#[cfg_attr(
    not(target_os = "linux"),
    expect(dead_code, reason = "Linux layers only")
)]
fn settle(
    spec: &SandboxSpec,
    layer: Layer,
    outcome: Result<String, Inactive>,
    out: &mut Vec<LayerStatus>,
) -> Result<(), SandboxError> {
    let required = spec.required.contains(&layer);
    match outcome {
        Ok(detail) => out.push(LayerStatus::new(layer, true, detail)),
        Err(Inactive::Unavailable(why)) if required => {
            return Err(SandboxError::unavailable(layer, why))
        }
        Err(Inactive::Failed(why)) if required => return Err(SandboxError::failed(layer, why)),
        Err(Inactive::Unavailable(why)) => out.push(LayerStatus::new(layer, false, why)),
        Err(Inactive::Failed(why)) => {
            out.push(LayerStatus::new(layer, false, format!("failed: {why}")))
        }
    }
    Ok(())
}

#[cfg(target_os = "linux")]
mod imp {
    use super::{
        cgroup, landlock, lifeline, namespace, privileges, rlimits, seccomp, settle, Layer,
        LayerStatus, SandboxError, SandboxSpec,
    };

    pub(super) fn apply(spec: &SandboxSpec) -> Result<Vec<LayerStatus>, SandboxError> {
        lifeline::tie_to_parent(spec.parent_pid);
        single_threaded()?;
        let mut out = Vec::with_capacity(Layer::ALL.len());
        settle(
            spec,
            Layer::NetNamespace,
            namespace::apply(spec.network),
            &mut out,
        )?;
        settle(
            spec,
            Layer::Rlimits,
            rlimits::apply(&spec.rlimits),
            &mut out,
        )?;
        settle(
            spec,
            Layer::Cgroup,
            cgroup::apply(spec.cgroup_memory_bytes),
            &mut out,
        )?;
        settle(spec, Layer::NoNewPrivs, privileges::apply(), &mut out)?;
        let confined = landlock::apply(spec);
        settle(spec, Layer::Landlock, confined.fs, &mut out)?;
        settle(spec, Layer::LandlockNet, confined.net, &mut out)?;
        settle(
            spec,
            Layer::Seccomp,
            seccomp::apply(spec.allow_exec, confined.signals_scoped),
            &mut out,
        )?;
        Ok(out)
    }

    /// Landlock and seccomp confine the calling thread and the threads it starts later; a
    /// thread already running would stay unconfined.
    fn single_threaded() -> Result<(), SandboxError> {
        let threads = std::fs::read_dir("/proc/self/task").map(Iterator::count);
        match threads {
            Ok(n) if n > 1 => Err(SandboxError::failed(
                Layer::Seccomp,
                format!(
                    "the process already has {n} threads; the sandbox must be applied before \
                     any thread starts"
                ),
            )),
            _ => Ok(()),
        }
    }

    pub(super) fn probe() -> Vec<LayerStatus> {
        let (fs, net) = landlock::probe();
        vec![
            fs,
            net,
            seccomp::probe(),
            rlimits::probe(),
            privileges::probe(),
            namespace::probe(),
            cgroup::probe(),
        ]
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::{Layer, LayerStatus, SandboxError, SandboxSpec};

    const WHY: &str = "the sandbox exists on Linux only";

    pub(super) fn apply(spec: &SandboxSpec) -> Result<Vec<LayerStatus>, SandboxError> {
        if let Some(layer) = spec.required.first() {
            return Err(SandboxError::unavailable(*layer, WHY));
        }
        Ok(probe())
    }

    pub(super) fn probe() -> Vec<LayerStatus> {
        Layer::ALL
            .iter()
            .map(|layer| LayerStatus::new(*layer, false, WHY))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_split_missing_from_failed() {
        assert_eq!(
            SandboxError::unavailable(Layer::Cgroup, "x")
                .code()
                .to_string(),
            "SB1520"
        );
        assert_eq!(
            SandboxError::failed(Layer::Seccomp, "x").code().to_string(),
            "SB1521"
        );
    }

    #[test]
    fn an_error_without_kind_reads_as_failed() {
        let e: SandboxError = serde_json::from_str(r#"{"layer":"seccomp","reason":"x"}"#).unwrap();
        assert_eq!(e.kind, SandboxFailure::Failed);
    }

    #[test]
    fn a_required_inactive_layer_refuses_and_an_optional_one_is_reported() {
        let spec = SandboxSpec {
            required: vec![Layer::Cgroup],
            ..SandboxSpec::default()
        };
        let mut out = Vec::new();
        let err = settle(
            &spec,
            Layer::Cgroup,
            Err(Inactive::Unavailable("none".into())),
            &mut out,
        )
        .unwrap_err();
        assert_eq!(err.kind, SandboxFailure::Unavailable);
        settle(
            &spec,
            Layer::Seccomp,
            Err(Inactive::Failed("boom".into())),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            out,
            vec![LayerStatus::new(Layer::Seccomp, false, "failed: boom")]
        );
    }

    #[test]
    fn probe_reports_every_layer_once() {
        let layers: Vec<Layer> = probe().iter().map(|s| s.layer).collect();
        assert_eq!(layers, Layer::ALL.to_vec());
    }
}
