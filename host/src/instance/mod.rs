//! `Instance`, the only door to a running plugin (ARCHITECTURE D5).
//!
//! Every call into plugin code, from any handle, goes through an [`Instance`]: it checks the
//! state, drives the backend, and turns a panic into a failed instance. The state lives in an
//! atomic so the call path takes no lock; no host lock is held while plugin code runs.

mod bus;
mod handle;

use parking_lot::Mutex;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::json;
use switchboard_sdk::abi::{RawPlugin, ResponseBuffer};
use switchboard_sdk::{codes, EmbeddedManifest, Health, PluginError};

use crate::audit::{AuditEvent, AuditKind};
use crate::error::{CallError, LifecycleError};
use crate::host::Provenance;
use crate::isolation::{Isolated, Isolation, RunnerEvent};
use crate::lifecycle::{State, Transition};
use crate::services::Gate;
use crate::store::Store;

pub use self::handle::{Command, PluginHandle, RawCommand};

/// How the plugin's code is reached: in this process, or in a runner process speaking the same
/// protocol (ARCHITECTURE D4, D5).
pub(crate) enum Backend {
    InProcess(RawPlugin),
    Isolated(Arc<Isolated>),
}

impl Backend {
    #[inline]
    fn dispatch(
        &self,
        method: u32,
        request: &[u8],
        out: &mut ResponseBuffer,
    ) -> Result<(), PluginError> {
        match self {
            Backend::InProcess(p) => p.dispatch(method, request, out),
            Backend::Isolated(i) => i.dispatch(method, request, out),
        }
    }

    fn start(&self) -> Result<(), PluginError> {
        match self {
            Backend::InProcess(p) => p.start(),
            Backend::Isolated(i) => i.start_plugin(),
        }
    }

    fn stop(&self) -> Result<(), PluginError> {
        match self {
            Backend::InProcess(p) => p.stop(),
            Backend::Isolated(i) => i.stop_plugin(),
        }
    }

    fn health(&self) -> Health {
        match self {
            Backend::InProcess(p) => p.health(),
            Backend::Isolated(i) => i.health(),
        }
    }

    fn on_event(&self, topic: &str, frame: &[u8]) -> Result<(), PluginError> {
        match self {
            Backend::InProcess(p) => p.on_event(topic, frame),
            Backend::Isolated(i) => i.on_event(topic, frame),
        }
    }
}

struct Shared {
    name: String,
    manifest: EmbeddedManifest,
    source: PathBuf,
    state: AtomicU8,
    history: Mutex<Vec<Transition>>,
    backend: Backend,
    provenance: Provenance,
    caps: InstanceCaps,
    /// The largest command request or response (the bus's `max_call_bytes`), read once.
    max_call_bytes: usize,
    /// What its load did not apply in-process (`SB1120`, `SB1121`).
    warnings: Vec<switchboard_sdk::manifest::Diagnostic>,
    /// What policy decided about isolating it.
    decision: crate::isolation::IsolationDecision,
}

/// What an instance holds of the capability system: its gate (token, table, audit log) and
/// the store that records its state. (Its trust level is in its provenance.)
#[derive(Debug, Clone)]
pub(crate) struct InstanceCaps {
    pub gate: Gate,
    pub store: Store,
    /// The bus its handlers and services join when it starts.
    pub bus: crate::bus::Bus,
    /// How long `stop` waits for the plugin's hook before giving up on it.
    pub stop_deadline: std::time::Duration,
}

/// A loaded plugin. Cheap to clone; every clone is the same instance.
#[derive(Clone)]
pub(crate) struct Instance {
    shared: Arc<Shared>,
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance")
            .field("name", &self.shared.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Instance {
    pub(crate) fn new(
        manifest: EmbeddedManifest,
        source: PathBuf,
        backend: Backend,
        provenance: Provenance,
        caps: InstanceCaps,
        warnings: Vec<switchboard_sdk::manifest::Diagnostic>,
        decision: crate::isolation::IsolationDecision,
    ) -> Instance {
        let instance = Instance {
            shared: Arc::new(Shared {
                name: manifest.name.clone(),
                manifest,
                source,
                state: AtomicU8::new(State::Loaded as u8),
                history: Mutex::new(vec![Transition {
                    from: None,
                    to: State::Loaded,
                    at: SystemTime::now(),
                    reason: None,
                }]),
                backend,
                provenance,
                max_call_bytes: caps.bus.limits().max_call_bytes,
                caps,
                warnings,
                decision,
            }),
        };
        instance.record(None, State::Loaded, None);
        if let Backend::Isolated(isolated) = &instance.shared.backend {
            let weak = Arc::downgrade(&instance.shared);
            isolated.set_owner(Box::new(move |event| {
                weak.upgrade()
                    .is_some_and(|shared| Instance { shared }.runner_event(event))
            }));
        }
        instance
    }

    /// What the supervisor of an isolated plugin's runner reports: audited; a plugin given up
    /// fails. Returns whether the plugin is active (so a restarted runner starts it again).
    fn runner_event(&self, event: RunnerEvent<'_>) -> bool {
        let (action, detail) = match &event {
            RunnerEvent::Exited { reason, restart } => (
                "runner-exited",
                json!({ "reason": reason, "restart": restart }),
            ),
            RunnerEvent::Restarted { generation } => {
                ("runner-restarted", json!({ "generation": generation }))
            }
            RunnerEvent::GaveUp { reason } => ("runner-given-up", json!({ "reason": reason })),
        };
        let audited = self.shared.caps.gate.audit.append(&AuditEvent::new(
            AuditKind::Isolation,
            &self.shared.name,
            action,
            detail,
        ));
        if let Err(e) = audited {
            log::error!(target: "switchboard::audit", "cannot record `{}`'s {action}: {e}", self.shared.name);
        }
        match event {
            RunnerEvent::Exited { reason, .. } => {
                log::warn!(target: "switchboard::isolation", "`{}`: its runner ended: {reason}", self.shared.name);
            }
            RunnerEvent::GaveUp { reason } => self.fail(format!("given up: {reason}")),
            RunnerEvent::Restarted { .. } => {}
        }
        self.state() == State::Active
    }

    /// Where the plugin runs and how it is confined.
    pub(crate) fn isolation(&self) -> Isolation {
        match &self.shared.backend {
            Backend::InProcess(_) => Isolation::in_process(self.shared.decision.clone()),
            Backend::Isolated(i) => Isolation::isolated(self.shared.decision.clone(), i),
        }
    }

    pub(crate) fn caps(&self) -> &InstanceCaps {
        &self.shared.caps
    }

    /// Records a state change in the audit log and the plugin's record. A failure to record
    /// does not undo the change; it is logged.
    fn record(&self, from: Option<State>, to: State, reason: Option<&str>) {
        let caps = &self.shared.caps;
        let event = AuditEvent::new(
            AuditKind::State,
            &self.shared.name,
            to.as_str(),
            json!({ "from": from.map(State::as_str), "reason": reason }),
        );
        let result = caps
            .gate
            .audit
            .append(&event)
            .and_then(|_| caps.store.set_plugin_state(&self.shared.name, to.as_str()));
        if let Err(e) = result {
            log::error!(
                target: "switchboard::audit",
                "cannot record `{}` going {to}: {e}",
                self.shared.name
            );
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.shared.name
    }

    pub(crate) fn manifest(&self) -> &EmbeddedManifest {
        &self.shared.manifest
    }

    pub(crate) fn provenance(&self) -> &Provenance {
        &self.shared.provenance
    }

    pub(crate) fn warnings(&self) -> &[switchboard_sdk::manifest::Diagnostic] {
        &self.shared.warnings
    }

    pub(crate) fn source(&self) -> &std::path::Path {
        &self.shared.source
    }

    #[inline]
    pub(crate) fn state(&self) -> State {
        State::from_u8(self.shared.state.load(Ordering::Acquire))
    }

    pub(crate) fn history(&self) -> Vec<Transition> {
        self.shared.history.lock().clone()
    }

    /// Moves to `to` if the lifecycle allows it from the current state.
    pub(crate) fn transition(
        &self,
        to: State,
        reason: Option<String>,
    ) -> Result<State, LifecycleError> {
        let mut current = self.shared.state.load(Ordering::Acquire);
        loop {
            let from = State::from_u8(current);
            if !from.can_go_to(to) {
                return Err(LifecycleError::InvalidTransition {
                    plugin: self.shared.name.clone(),
                    from,
                    to,
                });
            }
            match self.shared.state.compare_exchange(
                current,
                to as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // A plugin's access follows its state: suspended while it is not running
                    // (threads that outlive `stop` keep nothing), gone once it is removed.
                    let gate = &self.shared.caps.gate;
                    match to {
                        State::Starting => gate.table.resume(gate.token),
                        State::Stopped | State::Failed => gate.table.suspend(gate.token),
                        State::Removed => gate.table.release(gate.token),
                        _ => {}
                    }
                    // A failed or removed plugin never runs again: its runner goes.
                    if let (State::Failed | State::Removed, Backend::Isolated(i)) =
                        (to, &self.shared.backend)
                    {
                        i.shutdown();
                    }
                    self.record(Some(from), to, reason.as_deref());
                    self.shared.history.lock().push(Transition {
                        from: Some(from),
                        to,
                        at: SystemTime::now(),
                        reason,
                    });
                    return Ok(from);
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Marks the instance failed (no-op if it already is, or cannot fail from where it is).
    pub(crate) fn fail(&self, reason: String) {
        let _ = self.transition(State::Failed, Some(reason));
    }

    /// The reason recorded when the instance failed.
    pub(crate) fn failure(&self) -> Option<String> {
        self.shared
            .history
            .lock()
            .iter()
            .rev()
            .find(|t| t.to == State::Failed)
            .and_then(|t| t.reason.clone())
    }

    /// Starts the instance: checks its subscriptions and services against its grants first
    /// (refusing without running anything), runs `start`, then joins the bus.
    pub(crate) fn start(&self) -> Result<(), LifecycleError> {
        let patterns = self.check_bus()?;
        self.transition(State::Starting, None)?;
        let started = self.shared.backend.start();
        self.run_hook("start", State::Active, started)?;
        if let Err(error) = self.join_bus(patterns) {
            self.leave_bus();
            self.fail(format!("cannot join the bus: {error}"));
            return Err(LifecycleError::Bus {
                plugin: self.name().to_owned(),
                error: Box::new(error),
            });
        }
        Ok(())
    }

    /// Stops the instance: leaves the bus (no more events or service calls), then runs `stop`
    /// on a thread of its own and waits for it at most the stop deadline. A hook that does not
    /// return by then is abandoned: the instance fails (its token suspended, its handlers and
    /// services already gone) and the error says so. Its thread cannot be killed in-process.
    pub(crate) fn stop(&self) -> Result<(), LifecycleError> {
        self.transition(State::Stopping, None)?;
        self.leave_bus();
        let deadline = self.shared.caps.stop_deadline;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let instance = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("switchboard-stop-{}", self.name()))
            .spawn(move || {
                let _ = tx.send(instance.shared.backend.stop());
            });
        let stopped = match spawned {
            Ok(_) => match rx.recv_timeout(deadline) {
                Ok(result) => result,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    self.fail(format!(
                        "the stop hook did not return within {} ms; its thread was abandoned",
                        deadline.as_millis()
                    ));
                    return Err(LifecycleError::StopTimedOut {
                        plugin: self.name().to_owned(),
                        deadline,
                    });
                }
                // The adapter catches panics, so the thread always answers; if it did not,
                // that is a failed hook.
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(PluginError::new(
                    "the stop hook's thread ended without an answer",
                )),
            },
            // No thread to spare: running the hook here would have no deadline, so a hung hook
            // would hang `remove` and `Host` drop again. The hook is not run; the stop fails.
            Err(e) => Err(PluginError::new(format!(
                "the stop hook was not run: no thread to run it under its deadline ({e})"
            ))),
        };
        self.run_hook("stop", State::Stopped, stopped)
    }

    /// Runs the plugin's data migration number `index` (see `#[migration]`): before `start`,
    /// from the loaded or stopped state, with no host lock held. A panic fails the instance.
    pub(crate) fn run_migration(&self, index: u32, request: &[u8]) -> Result<Vec<u8>, PluginError> {
        let state = self.state();
        if !matches!(state, State::Loaded | State::Stopped) {
            return Err(self.not_callable(state).into_plugin_error());
        }
        let mut out = ResponseBuffer::new();
        let method = switchboard_sdk::migration::MIGRATION_BASE.saturating_add(index);
        self.shared
            .backend
            .dispatch(method, request, &mut out)
            .inspect_err(|error| {
                if error.code() == codes::PLUGIN_PANICKED {
                    self.fail(format!("a data migration panicked: {}", error.message()));
                }
            })?;
        Ok(out.as_slice().to_vec())
    }

    /// Delivers one event frame to the plugin's handlers: the path from the bus into plugin
    /// code. A panic fails the instance, as in a command.
    pub(crate) fn on_event(&self, topic: &str, frame: &[u8]) -> Result<(), PluginError> {
        let state = self.state();
        if state != State::Active {
            return Err(self.not_callable(state).into_plugin_error());
        }
        self.shared
            .backend
            .on_event(topic, frame)
            .inspect_err(|error| {
                if error.code() == codes::PLUGIN_PANICKED {
                    self.fail(format!(
                        "an event handler for `{topic}` panicked: {}",
                        error.message()
                    ));
                }
            })
    }

    fn run_hook(
        &self,
        hook: &'static str,
        then: State,
        outcome: Result<(), PluginError>,
    ) -> Result<(), LifecycleError> {
        match outcome {
            Ok(()) => self.transition(then, None).map(|_| ()),
            Err(error) => {
                self.fail(format!("{hook} hook failed: {}", error.message()));
                Err(LifecycleError::HookFailed {
                    plugin: self.shared.name.clone(),
                    hook,
                    error,
                })
            }
        }
    }

    pub(crate) fn health(&self) -> Health {
        match self.state() {
            State::Active => self.shared.backend.health(),
            State::Failed => Health::Unhealthy(
                self.failure()
                    .unwrap_or_else(|| "the plugin has failed".into()),
            ),
            other => Health::Unhealthy(format!("the plugin is {other}")),
        }
    }

    /// Calls command `method`. The one path from callers into plugin command code.
    ///
    /// The error is boxed: a `CallError` is 112 bytes, and returned unboxed it was copied
    /// through every frame of a typed call on the path that succeeds (issue 17's profile).
    #[inline]
    pub(crate) fn dispatch(
        &self,
        method: u32,
        command: &str,
        request: &[u8],
        out: &mut ResponseBuffer,
    ) -> Result<(), Box<CallError>> {
        let state = self.state();
        if state != State::Active {
            return Err(Box::new(self.not_callable(state)));
        }
        let limit = self.shared.max_call_bytes;
        if request.len() > limit {
            return Err(Box::new(self.too_large(command, request.len(), true, out)));
        }
        self.shared
            .backend
            .dispatch(method, request, out)
            .map_err(|error| Box::new(self.call_failed(command, error)))?;
        if out.as_slice().len() > limit {
            return Err(Box::new(self.too_large(
                command,
                out.as_slice().len(),
                false,
                out,
            )));
        }
        Ok(())
    }

    /// A request or response over the payload limit. The response buffer is emptied and its
    /// allocation released, so nothing copies or decodes it and the memory goes back now.
    #[cold]
    fn too_large(
        &self,
        command: &str,
        size: usize,
        request: bool,
        out: &mut ResponseBuffer,
    ) -> CallError {
        out.release_if_larger_than(0);
        let (plugin, command, limit) = (
            self.shared.name.clone(),
            command.to_owned(),
            self.shared.max_call_bytes,
        );
        if request {
            CallError::RequestTooLarge {
                plugin,
                command,
                size,
                limit,
            }
        } else {
            CallError::ResponseTooLarge {
                plugin,
                command,
                size,
                limit,
            }
        }
    }

    #[cold]
    fn not_callable(&self, state: State) -> CallError {
        if state == State::Failed {
            CallError::PluginFailed {
                plugin: self.shared.name.clone(),
                reason: self.failure().unwrap_or_else(|| "unknown".into()),
            }
        } else {
            CallError::NotActive {
                plugin: self.shared.name.clone(),
                state,
            }
        }
    }

    #[cold]
    fn call_failed(&self, command: &str, error: PluginError) -> CallError {
        if error.code() == codes::PLUGIN_PANICKED {
            self.fail(format!("`{command}` panicked: {}", error.message()));
        }
        CallError::Plugin {
            plugin: self.shared.name.clone(),
            command: command.to_owned(),
            error,
        }
    }
}
