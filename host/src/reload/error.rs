//! What can go wrong in a hot reload, and which step it went wrong at.

use std::fmt;

use switchboard_sdk::ErrorCode;

use crate::lifecycle::State;

/// A step of a hot reload, named in the error of a reload that failed at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReloadStep {
    /// Verifying and loading the new version (every load check; its `create`).
    Load,
    /// Waiting for the calls in flight on the old version to finish.
    Drain,
    /// The old version's `snapshot`.
    Snapshot,
    /// The old version's `stop` hook.
    Stop,
    /// The new version's data migrations (`#[migration]`) over the plugin's KV.
    Migrate,
    /// The new version's `restore` of the old version's snapshot.
    Restore,
    /// The new version's `start` hook, and joining the bus.
    Start,
    /// The health check of the new version right after it started.
    Health,
}

impl ReloadStep {
    /// The step's lower-case name (as audited).
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadStep::Load => "load",
            ReloadStep::Drain => "drain",
            ReloadStep::Snapshot => "snapshot",
            ReloadStep::Stop => "stop",
            ReloadStep::Migrate => "migrate",
            ReloadStep::Restore => "restore",
            ReloadStep::Start => "start",
            ReloadStep::Health => "health",
        }
    }

    const fn number(self) -> u16 {
        match self {
            ReloadStep::Load => 365,
            ReloadStep::Drain => 366,
            ReloadStep::Snapshot | ReloadStep::Stop => 367,
            ReloadStep::Migrate => 368,
            ReloadStep::Restore => 369,
            ReloadStep::Start => 370,
            ReloadStep::Health => 371,
        }
    }
}

impl fmt::Display for ReloadStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors of a hot reload ([`PluginHandle::reload`](crate::PluginHandle::reload)). Every one
/// but [`RollbackFailed`](ReloadError::RollbackFailed) leaves the old version serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The host that loaded the plugin is gone (the handle outlived it).
    #[error("`{plugin}` cannot be reloaded: the host that loaded it has been dropped")]
    HostGone {
        /// The plugin.
        plugin: String,
    },
    /// Only an active plugin is reloaded.
    #[error("`{plugin}` is {state}; only an active plugin is reloaded")]
    NotActive {
        /// The plugin.
        plugin: String,
        /// Its state.
        state: State,
    },
    /// The new library or package is another plugin.
    #[error("`{plugin}` cannot be reloaded from {source_path}: that is the plugin `{found}`")]
    NameMismatch {
        /// The plugin.
        plugin: String,
        /// The file given.
        source_path: String,
        /// The plugin that file holds.
        found: String,
    },
    /// The plugin was reloaded in-process as often as the host allows without a restart:
    /// each reload left a copy of its library mapped.
    #[error(
        "`{plugin}` has {mapped} reloaded copies of its library mapped in this process, the \
         most this host allows"
    )]
    Limit {
        /// The plugin.
        plugin: String,
        /// The copies mapped.
        mapped: u32,
        /// The bound ([`HostBuilder::max_reloads`](crate::HostBuilder::max_reloads)).
        max: u32,
    },
    /// Another reload of the plugin is under way.
    #[error("`{plugin}` is being reloaded already")]
    InProgress {
        /// The plugin.
        plugin: String,
    },
    /// A step failed; the old version serves on, unchanged.
    #[error(
        "reloading `{plugin}` {from} → {to} failed at its {step} step: [{cause}] {reason}; \
         version {from} serves on"
    )]
    Failed {
        /// The plugin.
        plugin: String,
        /// The version serving (and still serving).
        from: String,
        /// The version that did not take over (empty if the file did not say).
        to: String,
        /// Where it failed.
        step: ReloadStep,
        /// The code of the underlying error (the load's, the plugin's).
        cause: ErrorCode,
        /// The underlying error's message.
        reason: String,
        /// The underlying error's next step.
        cause_next: String,
    },
    /// A step failed and the old version could not be resumed either: the plugin is failed.
    #[error(
        "reloading `{plugin}` {from} → {to} failed at its {step} step ({reason}), and version \
         {from} could not be resumed: {resume}; the plugin is failed"
    )]
    RollbackFailed {
        /// The plugin.
        plugin: String,
        /// The old version.
        from: String,
        /// The new version.
        to: String,
        /// Where the reload failed.
        step: ReloadStep,
        /// Why.
        reason: String,
        /// Why the old version did not resume.
        resume: String,
    },
}

impl ReloadError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        let n = match self {
            ReloadError::HostGone { .. } => 360,
            ReloadError::NotActive { .. } => 361,
            ReloadError::NameMismatch { .. } => 362,
            ReloadError::Limit { .. } => 363,
            ReloadError::InProgress { .. } => 364,
            ReloadError::Failed { step, .. } => step.number(),
            ReloadError::RollbackFailed { .. } => 372,
        };
        ErrorCode::from_number(n)
    }

    /// The step a failed reload stopped at, if it got that far.
    pub fn step(&self) -> Option<ReloadStep> {
        match self {
            ReloadError::Failed { step, .. } | ReloadError::RollbackFailed { step, .. } => {
                Some(*step)
            }
            _ => None,
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            ReloadError::HostGone { plugin } => {
                format!("reload `{plugin}` through a handle of a live host (`Host::reload`)")
            }
            ReloadError::NotActive { plugin, .. } => {
                format!("start `{plugin}` first, or load the new version in its place")
            }
            ReloadError::NameMismatch { plugin, .. } => {
                format!("give the library or package of `{plugin}` itself")
            }
            ReloadError::Limit { plugin, .. } => format!(
                "restart the host process to load `{plugin}` afresh, or raise \
                 `HostBuilder::max_reloads` (each reload keeps its library mapped); an isolated \
                 plugin's reloads map nothing in the host"
            ),
            ReloadError::InProgress { .. } => "wait for the other reload to end".into(),
            ReloadError::Failed {
                step, cause_next, ..
            } => match step {
                ReloadStep::Load => cause_next.clone(),
                ReloadStep::Drain => "a call into the old version did not return within the \
                     stop deadline; find the hung call, or raise `HostBuilder::stop_deadline`"
                    .into(),
                ReloadStep::Snapshot | ReloadStep::Stop => {
                    "fix the old version's snapshot or stop hook (the plugin's log says more)"
                        .into()
                }
                ReloadStep::Migrate => cause_next.clone(),
                ReloadStep::Restore => "make the new version's restore accept what the old \
                     version's snapshot hands it (see `switchboard_sdk::Handover`)"
                    .into(),
                ReloadStep::Start | ReloadStep::Health => {
                    "fix the new version's start hook or health (the plugin's log says more), \
                     then reload again"
                        .into()
                }
            },
            ReloadError::RollbackFailed { plugin, .. } => {
                format!("see `{plugin}`'s history; remove it and load a working version")
            }
        }
    }
}
