//! The rules that turn what was observed of a plugin into a [`HealthStatus`]'s state and
//! reasons. A pure function of its inputs and an explicit "now", so every rule is tested
//! with times written down, no clock.
//!
//! | observed | reason | state |
//! |---|---|---|
//! | lifecycle `failed` (a panic, a failed hook, a runner given up) | `SB0396` | unhealthy |
//! | lifecycle `reloading` | `SB0398` | degraded |
//! | lifecycle loaded, starting, stopping, stopped | `SB0397` | unhealthy |
//! | `health` hook says degraded | `SB0390` | degraded |
//! | `health` hook says unhealthy (or panicked) | `SB0391` | unhealthy |
//! | `health` hook silent past the deadline | `SB0392` | unhealthy |
//! | panics within the window (`degraded_after` / `unhealthy_after`) | `SB0393` | degraded / unhealthy |
//! | calls failed by the plugin's runtime within the window | `SB0394` | degraded / unhealthy |
//! | runner restarts within the window, or a runner restarting now | `SB0395` | degraded / unhealthy |
//!
//! The state is the worst any reason calls for; no reason, healthy. The hook is asked only
//! of an active plugin.
//!
//! [`HealthStatus`]: super::HealthStatus

use std::time::Duration;

use switchboard_sdk::Health;

use super::codes;
use super::record::{Incident, IncidentKind};
use super::status::{HealthReason, HealthState};
use crate::lifecycle::State;
use crate::timestamp::Timestamp;

/// How often the host checks every plugin's health by default
/// ([`HostBuilder::health_interval`](crate::HostBuilder::health_interval)).
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(30);

/// The thresholds of the health rules
/// ([`HostBuilder::health_rules`](crate::HostBuilder::health_rules)).
///
/// A check turns what it observed of a plugin into reasons, each with a code from
/// [`health_codes`](crate::health_codes) and the state it calls for; the plugin's state is the
/// worst of them (healthy without any):
///
/// | observed | reason | state |
/// |---|---|---|
/// | lifecycle `failed` (a panic, a failed hook, a runner given up) | `SB0396` | unhealthy |
/// | lifecycle `reloading` | `SB0398` | degraded |
/// | lifecycle loaded, starting, stopping, stopped | `SB0397` | unhealthy |
/// | `health` hook says degraded | `SB0390` | degraded |
/// | `health` hook says unhealthy (or panicked) | `SB0391` | unhealthy |
/// | `health` hook silent past `hook_deadline` | `SB0392` | unhealthy |
/// | panics within `window` | `SB0393` | degraded / unhealthy by count |
/// | calls failed by the plugin's runtime (timeout, runner died) within `window` | `SB0394` | degraded / unhealthy by count |
/// | runner restarts within `window`, or restarting now | `SB0395` | degraded / unhealthy by count |
///
/// Incidents of one kind within `window` before a check count against `degraded_after` and
/// `unhealthy_after` (kinds count apart); a threshold of 0 turns its rule off. The hook is
/// asked only of an active plugin.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use switchboard_host::HealthRules;
///
/// let rules = HealthRules { window: Duration::from_secs(60), unhealthy_after: 3, ..HealthRules::default() };
/// assert_eq!(rules.degraded_after, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthRules {
    /// How far back incidents count (default 5 minutes).
    pub window: Duration,
    /// Incidents of one kind within the window that make a plugin degraded (default 1).
    pub degraded_after: u32,
    /// Incidents of one kind within the window that make a plugin unhealthy (default 5).
    pub unhealthy_after: u32,
    /// How long a check waits for a plugin's `health` hook (default 5 s). A hook still
    /// running then makes the plugin unhealthy; its thread is abandoned, and the plugin's
    /// hook is not asked again until it returns.
    pub hook_deadline: Duration,
}

impl Default for HealthRules {
    fn default() -> Self {
        HealthRules {
            window: Duration::from_secs(300),
            degraded_after: 1,
            unhealthy_after: 5,
            hook_deadline: Duration::from_secs(5),
        }
    }
}

impl HealthRules {
    /// What is wrong with these rules, if anything.
    pub(crate) fn problem(&self) -> Option<String> {
        if self.hook_deadline.is_zero() {
            return Some("the health hook deadline is zero: no hook could answer".into());
        }
        if self.degraded_after > 0
            && self.unhealthy_after > 0
            && self.unhealthy_after < self.degraded_after
        {
            return Some(format!(
                "unhealthy_after ({}) is below degraded_after ({})",
                self.unhealthy_after, self.degraded_after
            ));
        }
        None
    }

    /// The state `count` incidents of one kind within the window call for.
    fn state_for(&self, count: u32) -> HealthState {
        if self.unhealthy_after > 0 && count >= self.unhealthy_after {
            HealthState::Unhealthy
        } else if self.degraded_after > 0 && count >= self.degraded_after {
            HealthState::Degraded
        } else {
            HealthState::Healthy
        }
    }
}

/// What became of the plugin's `health` hook in a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HookOutcome {
    /// Not asked (the plugin is not active).
    NotAsked,
    /// It answered in time.
    Answered(Health),
    /// It did not answer (why, in words).
    NoAnswer(String),
}

/// What a check observed of one plugin.
#[derive(Debug)]
pub(crate) struct Observed<'a> {
    pub state: State,
    /// Why it failed, if it is failed.
    pub failure: Option<String>,
    pub hook: HookOutcome,
    pub incidents: &'a [Incident],
    /// Why its runner is down, between an exit and the restart.
    pub runner_down: Option<&'a str>,
}

/// The state and the reasons (worst first) for what was observed, at `now`.
pub(crate) fn evaluate(
    rules: &HealthRules,
    seen: &Observed<'_>,
    now: Timestamp,
) -> (HealthState, Vec<HealthReason>) {
    use HealthState::{Degraded, Unhealthy};
    let mut reasons = Vec::new();
    match seen.state {
        State::Active => {}
        State::Failed => reasons.push(HealthReason::new(
            codes::FAILED,
            Unhealthy,
            format!(
                "the plugin is failed: {}",
                seen.failure.as_deref().unwrap_or("no reason was recorded")
            ),
        )),
        State::Reloading => reasons.push(HealthReason::new(
            codes::RELOADING,
            Degraded,
            "a hot reload is handing the plugin over",
        )),
        other => reasons.push(HealthReason::new(
            codes::NOT_RUNNING,
            Unhealthy,
            format!("the plugin is not running (it is {other})"),
        )),
    }
    match &seen.hook {
        HookOutcome::NotAsked | HookOutcome::Answered(Health::Healthy) => {}
        HookOutcome::Answered(Health::Degraded(m)) => reasons.push(HealthReason::new(
            codes::HOOK_DEGRADED,
            Degraded,
            format!("its health hook reports degraded: {m}"),
        )),
        HookOutcome::Answered(Health::Unhealthy(m)) => reasons.push(HealthReason::new(
            codes::HOOK_UNHEALTHY,
            Unhealthy,
            format!("its health hook reports unhealthy: {m}"),
        )),
        HookOutcome::Answered(other) => reasons.push(HealthReason::new(
            codes::HOOK_UNHEALTHY,
            Unhealthy,
            format!("its health hook gave an answer this host does not know: {other:?}"),
        )),
        HookOutcome::NoAnswer(why) => reasons.push(HealthReason::new(
            codes::HOOK_NO_ANSWER,
            Unhealthy,
            why.clone(),
        )),
    }
    let since = now.minus(rules.window);
    for (kind, code, one, many) in [
        (IncidentKind::Panic, codes::PANICS, "panic", "panics"),
        (
            IncidentKind::FailedCall,
            codes::FAILED_CALLS,
            "call failed by the plugin's runtime",
            "calls failed by the plugin's runtime",
        ),
        (
            IncidentKind::RunnerRestart,
            codes::RUNNER_RESTARTS,
            "runner restart",
            "runner restarts",
        ),
    ] {
        let recent: Vec<&Incident> = seen
            .incidents
            .iter()
            .filter(|i| i.kind == kind && i.at >= since)
            .collect();
        let count = u32::try_from(recent.len()).unwrap_or(u32::MAX);
        let state = rules.state_for(count);
        if let (true, Some(last)) = (state != HealthState::Healthy, recent.last()) {
            let what = if count == 1 { one } else { many };
            reasons.push(HealthReason::new(
                code,
                state,
                format!(
                    "{count} {what} in the last {}; the last at {}: {}",
                    human(rules.window),
                    last.at,
                    last.detail
                ),
            ));
        }
    }
    if let Some(why) = seen.runner_down {
        reasons.push(HealthReason::new(
            codes::RUNNER_RESTARTS,
            Degraded,
            format!("its runner exited and is restarting: {why}"),
        ));
    }
    reasons.sort_by_key(|r| std::cmp::Reverse(r.state));
    let state = reasons
        .first()
        .map_or(HealthState::Healthy, |r: &HealthReason| r.state);
    (state, reasons)
}

/// A window's length in words: whole hours, minutes or seconds where it is one.
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_nanos() != 0 || s == 0 {
        format!("{} ms", d.as_millis())
    } else if s.is_multiple_of(3600) {
        format!("{} h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}
