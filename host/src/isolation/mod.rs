//! Isolated mode (ARCHITECTURE D4, D5, D13; SPEC S7.2): the same plugin library, run in a
//! sandboxed child process — the *runner* — instead of the host's own.
//!
//! - [`decide`](self::decide) — policy routing: which plugins run isolated, under which
//!   profile and limits ([`IsolationDecision`]).
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
pub mod sandbox;

pub use self::decide::{IsolationDecision, IsolationLimits, Mode};
pub use self::sandbox::{Layer, LayerStatus, SandboxSpec};
