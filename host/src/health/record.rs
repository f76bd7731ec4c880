//! What the host saw of one plugin between checks: a small, bounded list of recent
//! incidents, fed from the cold paths only (a call that failed, a runner's supervisor), and
//! the last status a check evaluated. The call path that succeeds never touches it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use switchboard_sdk::{codes, PluginError};

use super::status::HealthStatus;
use crate::isolation::{CALL_TIMED_OUT, PROTOCOL_BROKEN, RUNNER_DIED, RUNNER_UNAVAILABLE};
use crate::timestamp::Timestamp;

/// The most incidents kept per plugin; older ones are dropped first, so counts within a
/// window saturate here.
pub(crate) const MAX_INCIDENTS: usize = 256;

/// What kind of trouble an incident was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum IncidentKind {
    /// Plugin code panicked (a command, an event handler).
    Panic,
    /// A call failed because of the plugin's runtime: a timeout, a runner that died or broke
    /// the protocol, no runner up.
    FailedCall,
    /// The plugin's runner exited and another is started.
    RunnerRestart,
}

/// One thing that went wrong, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Incident {
    pub at: Timestamp,
    pub kind: IncidentKind,
    pub detail: String,
}

/// One plugin's health record, kept by its instance.
#[derive(Debug, Default)]
pub(crate) struct Record {
    inner: Mutex<Inner>,
    /// Whether a `health` hook asked by a check is still running (a hung one is not asked
    /// again until it returns, so a hang costs one thread, not one per check).
    hook_busy: Arc<AtomicBool>,
}

#[derive(Debug, Default)]
struct Inner {
    incidents: VecDeque<Incident>,
    /// Why the runner is down, between its exit and its restart.
    runner_down: Option<String>,
    last: Option<HealthStatus>,
}

impl Record {
    /// Notes an incident now.
    pub(crate) fn note(&self, kind: IncidentKind, detail: impl Into<String>) {
        self.note_at(Timestamp::now(), kind, detail);
    }

    pub(crate) fn note_at(&self, at: Timestamp, kind: IncidentKind, detail: impl Into<String>) {
        let mut inner = self.inner.lock();
        if inner.incidents.len() == MAX_INCIDENTS {
            inner.incidents.pop_front();
        }
        inner.incidents.push_back(Incident {
            at,
            kind,
            detail: detail.into(),
        });
    }

    /// Notes a plugin call (command or event) that failed, if the failure says something
    /// about the plugin's health: a panic, or its runtime failing the call. Errors the plugin
    /// returned as answers are its business, not incidents.
    pub(crate) fn note_error(&self, what: std::fmt::Arguments<'_>, error: &PluginError) {
        let code = error.code();
        let kind = if code == codes::PLUGIN_PANICKED {
            IncidentKind::Panic
        } else if [
            CALL_TIMED_OUT,
            RUNNER_DIED,
            RUNNER_UNAVAILABLE,
            PROTOCOL_BROKEN,
        ]
        .contains(&code)
        {
            IncidentKind::FailedCall
        } else {
            return;
        };
        self.note(kind, format!("{what}: [{code}] {}", error.message()));
    }

    /// The runner exited; `restart` says whether another is being started.
    pub(crate) fn runner_exited(&self, reason: &str, restart: bool) {
        if restart {
            self.note(IncidentKind::RunnerRestart, reason);
            self.inner.lock().runner_down = Some(reason.to_owned());
        }
    }

    /// A new runner is up.
    pub(crate) fn runner_restarted(&self) {
        self.inner.lock().runner_down = None;
    }

    /// The incidents kept, oldest first.
    pub(crate) fn incidents(&self) -> Vec<Incident> {
        self.inner.lock().incidents.iter().cloned().collect()
    }

    /// Why the runner is down, if it is between an exit and its restart.
    pub(crate) fn runner_down(&self) -> Option<String> {
        self.inner.lock().runner_down.clone()
    }

    /// The status the last check evaluated.
    pub(crate) fn last(&self) -> Option<HealthStatus> {
        self.inner.lock().last.clone()
    }

    /// Stores `status` as the last one; returns the one before.
    pub(crate) fn replace_last(&self, status: HealthStatus) -> Option<HealthStatus> {
        self.inner.lock().last.replace(status)
    }

    /// Marks a hook as running, unless one already is; `None` then.
    pub(crate) fn claim_hook(&self) -> Option<HookClaim> {
        (!self.hook_busy.swap(true, Ordering::AcqRel)).then(|| HookClaim(self.hook_busy.clone()))
    }
}

/// A running `health` hook's claim on its plugin's record; released when dropped (when the
/// hook returns, however late).
#[derive(Debug)]
pub(crate) struct HookClaim(Arc<AtomicBool>);

impl Drop for HookClaim {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
