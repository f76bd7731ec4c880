//! What a health check concludes: [`HealthState`], [`HealthReason`], [`HealthStatus`], and a
//! round's [`HealthReport`].

use std::fmt;

use switchboard_sdk::ErrorCode;

use crate::timestamp::Timestamp;

/// How a plugin is doing, from best to worst (the order compares severity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum HealthState {
    /// Serving, nothing to report.
    Healthy,
    /// Serving, with a problem worth a look (the reasons say which).
    Degraded,
    /// Not able to serve, or not trusted to.
    Unhealthy,
}

impl HealthState {
    /// The state's name, as events, the audit log and the CLI show it.
    pub const fn as_str(self) -> &'static str {
        match self {
            HealthState::Healthy => "healthy",
            HealthState::Degraded => "degraded",
            HealthState::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason for a state other than healthy: a code from
/// [`health_codes`](crate::health_codes) and what was seen, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthReason {
    /// Which rule applied (SB0390–SB0398).
    pub code: ErrorCode,
    /// What was seen.
    pub message: String,
    /// The state this reason alone calls for.
    pub state: HealthState,
}

impl HealthReason {
    pub(crate) fn new(code: ErrorCode, state: HealthState, message: impl Into<String>) -> Self {
        HealthReason {
            code,
            message: message.into(),
            state,
        }
    }
}

impl fmt::Display for HealthReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)
    }
}

/// A plugin's health as last evaluated: the state, why, since when, and when it was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthStatus {
    /// The worst state any reason calls for; healthy without reasons.
    pub state: HealthState,
    /// Why, worst first (empty when healthy).
    pub reasons: Vec<HealthReason>,
    /// When the plugin entered this state (the check that first saw it).
    pub since: Timestamp,
    /// When it was last checked.
    pub checked: Timestamp,
}

impl HealthStatus {
    /// Whether the state is healthy.
    pub fn is_healthy(&self) -> bool {
        self.state == HealthState::Healthy
    }

    /// Whether a reason with `code` applies.
    pub fn has(&self, code: ErrorCode) -> bool {
        self.reasons.iter().any(|r| r.code == code)
    }

    /// The status as JSON: `state`, `reasons` (each `{code, message}`), `since`, `checked`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "state": self.state.as_str(),
            "reasons": reasons_json(&self.reasons),
            "since": self.since.to_string(),
            "checked": self.checked.to_string(),
        })
    }
}

pub(crate) fn reasons_json(reasons: &[HealthReason]) -> serde_json::Value {
    reasons
        .iter()
        .map(|r| serde_json::json!({ "code": r.code.to_string(), "message": r.message }))
        .collect()
}

/// One plugin's result in a round.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginHealth {
    /// The plugin's name.
    pub plugin: String,
    /// Its status after this round.
    pub status: HealthStatus,
    /// Its state before this round; `None` at its first check.
    pub previous: Option<HealthState>,
}

impl PluginHealth {
    /// Whether this round published a change: the state differs from the one before, or
    /// (at a plugin's first check) is not healthy.
    pub fn changed(&self) -> bool {
        match self.previous {
            Some(previous) => previous != self.status.state,
            None => self.status.state != HealthState::Healthy,
        }
    }
}

/// What one round of checks found ([`Host::check_health`](crate::Host::check_health)), one
/// entry per loaded plugin in name order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthReport {
    /// When the round ran.
    pub at: Timestamp,
    /// Each plugin's result.
    pub plugins: Vec<PluginHealth>,
}

impl HealthReport {
    /// The worst state of any plugin (healthy for a host without plugins).
    pub fn worst(&self) -> HealthState {
        self.plugins
            .iter()
            .map(|p| p.status.state)
            .max()
            .unwrap_or(HealthState::Healthy)
    }

    /// The result for `plugin`, if it was checked.
    pub fn plugin(&self, plugin: &str) -> Option<&PluginHealth> {
        self.plugins.iter().find(|p| p.plugin == plugin)
    }

    /// The report as JSON: `at`, `worst`, and `plugins` (each `plugin`, `previous` and the
    /// fields of [`HealthStatus::to_json`]).
    pub fn to_json(&self) -> serde_json::Value {
        let plugins: Vec<serde_json::Value> = self
            .plugins
            .iter()
            .map(|p| {
                let mut v = p.status.to_json();
                v["plugin"] = serde_json::json!(p.plugin);
                v["previous"] = serde_json::json!(p.previous.map(HealthState::as_str));
                v
            })
            .collect();
        serde_json::json!({
            "at": self.at.to_string(),
            "worst": self.worst().as_str(),
            "plugins": plugins,
        })
    }
}
