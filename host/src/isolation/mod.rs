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
//! - `protocol` — the messages host and runner exchange (the D4 protocol, plus the proxied
//!   services).
//! - `channel` — one framed, blocking unix-socket channel.
//! - `runner` — the child's side: receives the verified image, sandboxes itself, loads it,
//!   serves calls; entered through [`runner_main`] or [`hook`].
//! - `backend` — the host's side: spawns and supervises the runner, and implements the
//!   `Instance` backend on top of channels.

pub(crate) mod decide;
pub(crate) mod policy;
pub mod sandbox;

pub use self::decide::{IsolationDecision, IsolationLimits, Mode};
pub use self::policy::{IsolationPolicyError, IsolationProfile};
pub use self::sandbox::{Layer, LayerStatus, SandboxSpec};
