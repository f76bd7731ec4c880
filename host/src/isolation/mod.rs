//! Isolated mode (ARCHITECTURE D4, D5, D13; SPEC S7.2): the same plugin library, run in a
//! sandboxed child process — the *runner* — instead of the host's own.
//!
//! - [`decide`](self::decide) — policy routing: which plugins run isolated, under which
//!   profile and limits ([`IsolationDecision`]).
//! - [`sandbox`] — the layers the runner applies to itself before any plugin code runs
//!   (Landlock, seccomp, rlimits, `no_new_privs`, a network namespace, cgroups), and what this
//!   machine supports ([`sandbox::probe`]).
//! - `protocol` — the messages host and runner exchange (the D4 protocol and the services).
//! - `channel` — one framed, blocking unix-socket channel.
//! - `proxy` — services across the boundary: the runner's proxy, the host's answers.
//! - `runner` — the child's side: receives the verified image, sandboxes itself, loads it,
//!   serves calls; entered through [`runner_main`] or [`hook`].
//! - `launch` — finding the runner ([`RunnerCommand`]) and starting one.
//! - `backend` — the host's side: the `Instance` backend on top of channels, supervision,
//!   restarts.

mod backend;
mod channel;
pub(crate) mod decide;
mod launch;
mod protocol;
mod proxy;
mod runner;
pub mod sandbox;

pub(crate) use self::backend::Isolated;
pub use self::decide::{IsolationDecision, IsolationLimits, Mode};
pub use self::launch::RunnerCommand;
pub use self::runner::{hook, runner_main, RUNNER_ARG};
pub use self::sandbox::{Layer, LayerStatus, SandboxSpec};
