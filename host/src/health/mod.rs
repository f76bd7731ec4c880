//! Health (SPEC S8.4): the host's periodic view of each loaded plugin — healthy, degraded or
//! unhealthy, with reasons — and a `system.plugin.health` event on every change.
//!
//! A check of one plugin combines two views:
//!
//! - **the plugin's own**: its `health` hook, asked on a thread of its own and waited for at
//!   most [`HealthRules::hook_deadline`] ([`hook`]); a hook that hangs or panics makes the
//!   plugin unhealthy, never the monitor stuck;
//! - **the host's**: the lifecycle state (failed → unhealthy, reloading → degraded, not
//!   running → unhealthy) and the incidents the host saw within [`HealthRules::window`] —
//!   panics, calls that failed because of the plugin's runtime (a call timeout, a runner that
//!   died or broke the protocol), runner restarts ([`record`]).
//!
//! [`rules`] turns those into a [`HealthStatus`]; [`monitor`] runs a round over every plugin
//! (periodically on a thread of its own, or at once with [`Host::check_health`]), keeps the
//! last status per plugin, and on each change publishes [`HEALTH_TOPIC`] and writes an audit
//! row of kind [`AuditKind::Health`](crate::AuditKind::Health).
//!
//! [`Host::check_health`]: crate::Host::check_health

pub(crate) mod hook;
pub(crate) mod monitor;
pub(crate) mod record;
pub(crate) mod rules;
mod status;

#[cfg(test)]
mod tests;

pub(crate) use self::monitor::Monitor;
pub(crate) use self::record::Record;
pub use self::rules::{HealthRules, DEFAULT_HEALTH_INTERVAL};
pub use self::status::{HealthReason, HealthReport, HealthState, HealthStatus, PluginHealth};

/// The bus topic each health change is published on, as the system publisher. The payload
/// is JSON: `plugin`, `from` (the state before, `null` at a plugin's first check), `to`,
/// `reasons` (each `{code, message}`), `since` and `at` (RFC 3339).
pub const HEALTH_TOPIC: &str = "system.plugin.health";

/// The codes a health reason carries (SB0390–SB0398; `docs/errors.md` gives each a next
/// step).
pub mod codes {
    use switchboard_sdk::ErrorCode;

    const fn code(n: u16) -> ErrorCode {
        ErrorCode::from_number(n)
    }

    /// The plugin's `health` hook reports itself degraded.
    pub const HOOK_DEGRADED: ErrorCode = code(390);
    /// The plugin's `health` hook reports itself unhealthy (or panicked).
    pub const HOOK_UNHEALTHY: ErrorCode = code(391);
    /// The plugin's `health` hook did not answer within the deadline, or one asked by an
    /// earlier check has still not returned.
    pub const HOOK_NO_ANSWER: ErrorCode = code(392);
    /// Plugin code panicked within the window.
    pub const PANICS: ErrorCode = code(393);
    /// Calls failed within the window because of the plugin's runtime: a call timeout, a
    /// runner that died or broke the protocol, no runner up.
    pub const FAILED_CALLS: ErrorCode = code(394);
    /// The plugin's runner exited and was restarted within the window, or is restarting.
    pub const RUNNER_RESTARTS: ErrorCode = code(395);
    /// The plugin is failed (a panic, a failed hook, a runner given up).
    pub const FAILED: ErrorCode = code(396);
    /// The plugin is not running (loaded and not started, stopping, stopped).
    pub const NOT_RUNNING: ErrorCode = code(397);
    /// A hot reload is handing the plugin over.
    pub const RELOADING: ErrorCode = code(398);
}
