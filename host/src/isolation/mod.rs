//! Isolated mode (ARCHITECTURE D4, D5, D13; SPEC S7.2): the same plugin library, run in a
//! sandboxed child process — the *runner* — instead of the host's own.
//!
//! - `decide` — policy routing: which plugins run isolated, under which profile and limits
//!   ([`IsolationDecision`], [`Mode`], [`IsolationLimits`]). A plugin runs isolated when any
//!   of these holds: the load asks for it (`LoadOptions::isolation`), its manifest says
//!   `sandbox = "strict"`, its trust is below the policy's `isolate_below`, its name is in
//!   `isolate_plugins`, its kind in `isolate_kinds`, or the policy's `default` is `isolated`.
//!   A load asking for in-process never overrules a rule that isolates. Its limits are the
//!   manifest's `[limits]` capped by its kind's profile (or the defaults) —
//!   [`IsolationProfile`]; `switchboard inspect` shows the decision and why.
//! - `policy` — the policy's `[isolation]` section and its coded errors
//!   ([`IsolationPolicyError`], `SB1540`–`SB1542`).
//! - [`sandbox`] — the layers the runner applies to itself before any plugin code runs
//!   (Landlock, seccomp, rlimits, `no_new_privs`, a network namespace, cgroups), and what this
//!   machine supports ([`sandbox::probe`]).
//! - `protocol` — the messages host and runner exchange (the D4 protocol and the services).
//! - `channel` — one framed, blocking unix-socket channel.
//! - `proxy` — services across the boundary: the runner's proxy, the host's answers.
//! - `runner` — the child's side: receives the verified image, sandboxes itself, loads it,
//!   serves calls; entered through [`runner_main`] or [`hook`].
//! - `launch` — finding the runner ([`RunnerCommand`]) and starting one.
//! - `spec` — from grants and policy's decision to a [`SandboxSpec`].
//! - `backend` — the host's side: the `Instance` backend on top of channels, supervision,
//!   restarts.

mod backend;
mod channel;
pub(crate) mod decide;
mod launch;
pub(crate) mod policy;
mod protocol;
mod proxy;
mod runner;
pub mod sandbox;
mod spec;

pub(crate) use self::backend::{
    with_call_limit, Isolated, Launch, RunnerEvent, CALL_TIMED_OUT, FRAME_HEADROOM,
    PROTOCOL_BROKEN, RUNNER_DIED, RUNNER_UNAVAILABLE,
};
pub use self::decide::{IsolationDecision, IsolationLimits, Mode};
pub use self::launch::{RunnerCommand, RUNNER_ENV};
pub use self::policy::{IsolationPolicyError, IsolationProfile};
pub use self::runner::{hook, runner_main, RUNNER_ARG};
pub use self::sandbox::{Layer, LayerStatus, SandboxSpec};
pub(crate) use self::spec::sandbox_spec;

use serde::Serialize;

/// Where a loaded plugin runs and how it is confined
/// ([`PluginHandle::isolation`](crate::PluginHandle::isolation)): policy's decision, and for an isolated plugin the
/// sandbox layers its runner reported in force and the runner's process id.
///
/// ```no_run
/// # fn demo(plugin: &switchboard_host::PluginHandle) {
/// let isolation = plugin.isolation();
/// for layer in &isolation.layers {
///     println!("{:?}: {} ({})", layer.layer, if layer.active { "on" } else { "off" }, layer.detail);
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Isolation {
    /// In-process or isolated.
    pub mode: Mode,
    /// What policy decided, and why.
    pub decision: IsolationDecision,
    /// The sandbox layers in force (empty in-process).
    pub layers: Vec<LayerStatus>,
    /// The runner's process id (isolated only; it changes when the runner restarts).
    pub runner_pid: Option<u32>,
}

impl Isolation {
    pub(crate) fn in_process(decision: IsolationDecision) -> Isolation {
        Isolation {
            mode: Mode::InProcess,
            decision,
            layers: Vec::new(),
            runner_pid: None,
        }
    }

    pub(crate) fn isolated(decision: IsolationDecision, backend: &Isolated) -> Isolation {
        Isolation {
            mode: Mode::Isolated,
            decision,
            layers: backend.layers(),
            runner_pid: Some(backend.pid()),
        }
    }
}
