//! `Instance`, the only door to a running plugin (ARCHITECTURE D5).
//!
//! Every call into plugin code, from any handle, goes through an [`Instance`]: it checks the
//! state, drives the backend, and turns a panic into a failed instance. The state lives in an
//! atomic so the call path takes no lock; no host lock is held while plugin code runs.

mod bus;
mod handle;
mod inflight;
mod stream;
mod usage;

use arc_swap::{ArcSwap, Guard};
use parking_lot::{Condvar, Mutex};
use std::fmt;
use std::mem::MaybeUninit;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::json;
use switchboard_sdk::abi::gather::Input;
use switchboard_sdk::abi::{ChunkReceiver, RawPlugin, ResponseBuffer};
use switchboard_sdk::{codes, EmbeddedManifest, Health, PluginError};

use crate::audit::{AuditEvent, AuditKind};
use crate::error::{CallError, LifecycleError};
use crate::host::{HostLink, Provenance};
use crate::isolation::{Isolated, Isolation, RunnerEvent};
use crate::lifecycle::{State, Transition};
use crate::metrics::{CommandRecorder, PluginRecorder};
use crate::services::Gate;
use crate::store::Store;

pub(crate) use self::handle::Binding;
pub use self::handle::CallOutcome;
pub use self::handle::{Command, PluginHandle, RawCommand};
pub(crate) use self::inflight::wait_until;
pub use self::stream::{Stream, StreamCommand, Streamed, DEFAULT_STREAM_CAPACITY};
pub(crate) use self::usage::report as report_usage;
pub(crate) use self::usage::UnitLimit;
pub use self::usage::Usage;

/// How the plugin's code is reached: in this process, or in a runner process speaking the same
/// protocol (ARCHITECTURE D4, D5).
pub(crate) enum Backend {
    InProcess(RawPlugin),
    Isolated(Arc<Isolated>),
}

impl Backend {
    /// Always inlined, like the window lane's: as a frame of its own it cost about 14
    /// instructions a raw call in saved registers and moved arguments.
    #[inline(always)]
    fn dispatch<Q: Request>(
        &self,
        method: u32,
        request: Q,
        out: &mut ResponseBuffer,
    ) -> Result<(), PluginError> {
        match self {
            Backend::InProcess(p) => request.in_process(p, method, out),
            // The runner's protocol carries one buffer: a gathered request is joined.
            Backend::Isolated(i) => request.with_bytes(|bytes| i.dispatch(method, bytes, out)),
        }
    }

    /// [`RawPlugin::dispatch_window`]'s convention for both backends: the response's length,
    /// its bytes in `window` when they fit, in `spill` otherwise.
    #[inline(always)]
    fn dispatch_window(
        &self,
        method: u32,
        request: &[u8],
        window: &mut [MaybeUninit<u8>],
        spill: &mut ResponseBuffer,
    ) -> Result<usize, PluginError> {
        match self {
            Backend::InProcess(p) => p.dispatch_window(method, request, window, spill),
            Backend::Isolated(i) => {
                i.dispatch(method, request, spill)?;
                Ok(spill.to_window(window))
            }
        }
    }

    /// Whether calls reach the plugin through SDK ABI 1.4's small-call entry.
    fn has_window(&self) -> bool {
        match self {
            Backend::InProcess(p) => p.has_window(),
            Backend::Isolated(_) => false,
        }
    }

    fn dispatch_stream(
        &self,
        method: u32,
        request: &[u8],
        receiver: &mut dyn ChunkReceiver,
        out: &mut ResponseBuffer,
    ) -> Result<(), PluginError> {
        match self {
            Backend::InProcess(p) => p.dispatch_stream(method, request, receiver, out),
            Backend::Isolated(i) => i.dispatch_stream(method, request, receiver, out),
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

    fn snapshot(&self) -> Result<Vec<u8>, PluginError> {
        match self {
            Backend::InProcess(p) => p.snapshot(),
            Backend::Isolated(i) => i.snapshot(),
        }
    }

    fn restore(&self, state: &[u8]) -> Result<(), PluginError> {
        match self {
            Backend::InProcess(p) => p.restore(state),
            Backend::Isolated(i) => i.restore(state),
        }
    }
}

/// One version of a plugin's code and everything bound to it: what a hot reload swaps
/// (ARCHITECTURE D5). Handles never hold one; they reach it through the instance.
pub(crate) struct Code {
    /// 0 for the code the plugin was loaded with, one more for each reload.
    generation: u32,
    manifest: Arc<EmbeddedManifest>,
    source: PathBuf,
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

impl Code {
    pub(crate) fn new(
        manifest: EmbeddedManifest,
        source: PathBuf,
        backend: Backend,
        provenance: Provenance,
        caps: InstanceCaps,
        warnings: Vec<switchboard_sdk::manifest::Diagnostic>,
        decision: crate::isolation::IsolationDecision,
    ) -> Code {
        Code {
            generation: 0,
            manifest: Arc::new(manifest),
            source,
            backend,
            provenance,
            max_call_bytes: caps.bus.limits().max_call_bytes,
            caps,
            warnings,
            decision,
        }
    }

    pub(crate) fn generation(&self) -> u32 {
        self.generation
    }

    /// Sets the generation of code about to replace another (one more than that one's).
    pub(crate) fn set_generation(&mut self, generation: u32) {
        self.generation = generation;
    }

    pub(crate) fn manifest(&self) -> &Arc<EmbeddedManifest> {
        &self.manifest
    }

    pub(crate) fn caps(&self) -> &InstanceCaps {
        &self.caps
    }

    pub(crate) fn source(&self) -> &std::path::Path {
        &self.source
    }

    pub(crate) fn warnings(&self) -> &[switchboard_sdk::manifest::Diagnostic] {
        &self.warnings
    }

    pub(crate) fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    pub(crate) fn is_isolated(&self) -> bool {
        matches!(self.backend, Backend::Isolated(_))
    }

    /// Where this code runs and how it is confined.
    pub(crate) fn isolation(&self) -> Isolation {
        match &self.backend {
            Backend::InProcess(_) => Isolation::in_process(self.decision.clone()),
            Backend::Isolated(i) => Isolation::isolated(self.decision.clone(), i),
        }
    }

    pub(crate) fn snapshot(&self) -> Result<Vec<u8>, PluginError> {
        self.backend.snapshot()
    }

    pub(crate) fn restore(&self, state: &[u8]) -> Result<(), PluginError> {
        self.backend.restore(state)
    }

    pub(crate) fn start_hook(&self) -> Result<(), PluginError> {
        self.backend.start()
    }

    pub(crate) fn health_hook(&self) -> Health {
        self.backend.health()
    }

    /// Runs this code's `stop` hook on a thread of its own, waiting at most `deadline`.
    /// `Err(None)`: the hook did not return in time (its thread is abandoned).
    pub(crate) fn stop_hook(
        self: &Arc<Self>,
        name: &str,
        deadline: std::time::Duration,
    ) -> Result<(), Option<PluginError>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let code = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("switchboard-stop-{name}"))
            .spawn(move || {
                let _ = tx.send(code.backend.stop());
            });
        match spawned {
            Ok(_) => match rx.recv_timeout(deadline) {
                Ok(result) => result.map_err(Some),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(None),
                // The adapter catches panics, so the thread always answers; if it did not,
                // that is a failed hook.
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(Some(
                    PluginError::new("the stop hook's thread ended without an answer"),
                )),
            },
            // No thread to spare: running the hook here would have no deadline, so a hung hook
            // would hang `remove` and `Host` drop again. The hook is not run; the stop fails.
            Err(e) => Err(Some(PluginError::new(format!(
                "the stop hook was not run: no thread to run it under its deadline ({e})"
            )))),
        }
    }

    /// Runs data migration number `index` (see `#[migration]`) in this code.
    pub(crate) fn run_migration(&self, index: u32, request: &[u8]) -> Result<Vec<u8>, PluginError> {
        let mut out = ResponseBuffer::new();
        let method = switchboard_sdk::migration::MIGRATION_BASE.saturating_add(index);
        self.backend.dispatch(method, request, &mut out)?;
        Ok(out.as_slice().to_vec())
    }

    /// Ends what this code holds once a newer version serves: its token (a thread of it that
    /// kept its `Context` is refused every host service) and, isolated, its runner.
    pub(crate) fn retire(&self) {
        self.caps.gate.table.release(self.caps.gate.token);
        self.shutdown_runner();
    }

    /// Stops this code's runner, if it runs isolated.
    pub(crate) fn shutdown_runner(&self) {
        if let Backend::Isolated(i) = &self.backend {
            i.shutdown();
        }
    }
}

struct Shared {
    name: String,
    state: AtomicU8,
    history: Mutex<Vec<Transition>>,
    /// The code serving now. A call loads it once (a `Guard`, no reference count on the
    /// common path) and finishes on it even if a reload swaps it meanwhile.
    code: ArcSwap<Code>,
    /// The same code as `code`, for the call path: read with a plain load, no guard. Always
    /// the address of the `Arc` that `code` holds; see `Instance::dispatch` for why a call
    /// may use it without holding a reference count.
    current: AtomicPtr<Code>,
    /// Whether the code serving now has SDK ABI 1.4's small-call entry: a hint read without
    /// marking a call, so a typed call picks its lane (a call that meets other code than the
    /// hint said still completes, through the other backend path).
    windowed: AtomicBool,
    /// The host that loaded it, for reloads through the handle.
    host: HostLink,
    /// What hot reload keeps per instance.
    reload: ReloadSlot,
    /// Its counters; `None` when the host records no metrics.
    metrics: Option<Arc<PluginRecorder>>,
    /// Recent incidents and the last health status (`health`).
    health: crate::health::Record,
    /// The streams open on it, which a reload, a stop or a removal ends.
    streams: stream::OpenStreams,
}

/// Hot reload's per-instance state: one reload at a time, the callers waiting while one
/// hands over, and the counts.
#[derive(Default)]
pub(crate) struct ReloadSlot {
    /// Held for the whole of a reload.
    pub(crate) busy: Mutex<()>,
    /// Callers that met the `reloading` state wait here until it ends.
    paused: Mutex<()>,
    resumed: Condvar,
    /// Reloads that succeeded since the plugin was loaded.
    pub(crate) done: AtomicU32,
    /// Library copies reloads mapped into this process (kept mapped, ARCHITECTURE D2),
    /// failed attempts that got as far as opening one included.
    pub(crate) mapped: AtomicU32,
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
    /// The most library copies reloads map for this plugin (`HostBuilder::max_reloads`).
    pub max_reloads: u32,
    /// The host's extension points its contributions join when it starts.
    pub extend: crate::extend::Points,
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
        code: Code,
        host: HostLink,
        metrics: Option<Arc<PluginRecorder>>,
    ) -> Instance {
        inflight::init();
        let code = Arc::new(code);
        let current = AtomicPtr::new(Arc::as_ptr(&code).cast_mut());
        let instance = Instance {
            shared: Arc::new(Shared {
                name: code.manifest.name.clone(),
                state: AtomicU8::new(State::Loaded as u8),
                history: Mutex::new(vec![Transition {
                    from: None,
                    to: State::Loaded,
                    at: SystemTime::now(),
                    reason: None,
                }]),
                windowed: AtomicBool::new(code.backend.has_window()),
                code: ArcSwap::new(code),
                current,
                host,
                reload: ReloadSlot::default(),
                metrics,
                health: crate::health::Record::default(),
                streams: stream::OpenStreams::default(),
            }),
        };
        instance.record(None, State::Loaded, None);
        instance.watch_runner(&instance.code());
        instance
    }

    /// Routes what the supervisor of `code`'s runner reports to this instance, as long as
    /// `code` is the one serving (a retired version's runner reports nothing).
    pub(crate) fn watch_runner(&self, code: &Code) {
        if let Backend::Isolated(isolated) = &code.backend {
            let weak = Arc::downgrade(&self.shared);
            let generation = code.generation;
            isolated.set_owner(Box::new(move |event| {
                weak.upgrade().is_some_and(|shared| {
                    let instance = Instance { shared };
                    instance.code().generation == generation && instance.runner_event(event)
                })
            }));
        }
    }

    /// Whether the code serving now takes small typed calls through its window entry (SDK
    /// ABI 1.4); a hint, see `Shared::windowed`.
    #[inline]
    pub(crate) fn windowed(&self) -> bool {
        self.shared.windowed.load(Ordering::Relaxed)
    }

    /// The code serving now.
    #[inline]
    pub(crate) fn code(&self) -> Guard<Arc<Code>> {
        self.shared.code.load()
    }

    /// Puts `code` in place of the code serving, which is returned. Calls already on the old
    /// code finish there; its reference count says when the last one has.
    pub(crate) fn swap_code(&self, code: Arc<Code>) -> Arc<Code> {
        let ptr = Arc::as_ptr(&code).cast_mut();
        let windowed = code.backend.has_window();
        let old = self.shared.code.swap(code);
        self.shared.current.store(ptr, Ordering::Release);
        self.shared.windowed.store(windowed, Ordering::Relaxed);
        old
    }

    /// Ends the streams open on this instance: each one's next `send` (and one waiting now)
    /// returns `STREAM_CANCELLED`, and its consumer's iterator ends.
    pub(crate) fn end_streams(&self) {
        self.shared.streams.end_all();
    }

    /// The registry of this instance's open streams.
    pub(crate) fn open_streams(&self) -> &stream::OpenStreams {
        &self.shared.streams
    }

    /// The generation of `code` (0 as loaded, one more per reload).
    pub(crate) fn generation_of(code: &Code) -> u32 {
        code.generation
    }

    /// Waits, at most `deadline`, until no thread but this one is inside a command call into
    /// this instance; the state must already turn new calls away (`reloading`).
    pub(crate) fn wait_for_calls(&self, deadline: std::time::Duration) -> bool {
        inflight::wait_idle(self.id(), deadline)
    }

    /// This instance's address, which calls in progress are marked with.
    #[inline]
    fn id(&self) -> usize {
        Arc::as_ptr(&self.shared) as usize
    }

    /// The code at `ptr`, loaded from `current` by a command call marked in progress
    /// (`inflight::enter`) before it, which then read the state `active`.
    #[inline]
    #[expect(
        unsafe_code,
        reason = "a plain load of the code pointer instead of an ArcSwap guard on every call"
    )]
    fn current_code(&self, ptr: *mut Code) -> &Code {
        // SAFETY: `current` always holds the address of an `Arc<Code>` that `code` held when it
        // was stored (`new`, `swap_code`), so it points to a live `Code` as long as that Arc
        // lives. The caller is marked in progress before loading it and uses it only if the
        // state it reads afterwards is `active`. A reload moves the state to `reloading`
        // before it swaps the code, and drops the old code only after `wait_for_calls` — so
        // either this call read `reloading` (and does not use the pointer), or the reload's
        // wait saw this call (and the old code outlives it). See `inflight` for the
        // handshake's ordering. A call that loaded the pointer a swap stored (acquire, paired
        // with the swap's release) reads the `reloading` stored before that swap, or a later
        // state, and the new Arc is then held by `code` until a later swap and wait.
        unsafe { &*ptr }
    }

    pub(crate) fn host(&self) -> &HostLink {
        &self.shared.host
    }

    pub(crate) fn reload_slot(&self) -> &ReloadSlot {
        &self.shared.reload
    }

    pub(crate) fn health_record(&self) -> &crate::health::Record {
        &self.shared.health
    }

    /// Its counters; `None` when the host records no metrics.
    pub(crate) fn metrics(&self) -> Option<&PluginRecorder> {
        self.shared.metrics.as_deref()
    }

    /// Where calls of command `name` are counted; `None` when the host records no metrics.
    pub(crate) fn command_recorder(&self, name: &str) -> Option<Arc<CommandRecorder>> {
        self.shared.metrics.as_ref().map(|m| m.command(name))
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
        let audited = self.code().caps.gate.audit.append(&AuditEvent::new(
            AuditKind::Isolation,
            &self.shared.name,
            action,
            detail,
        ));
        if let Err(e) = audited {
            tracing::error!(target: "switchboard::audit", "cannot record `{}`'s {action}: {e}", self.shared.name);
        }
        match event {
            RunnerEvent::Exited { reason, restart } => {
                self.shared.health.runner_exited(reason, restart);
                tracing::warn!(target: "switchboard::isolation", "`{}`: its runner ended: {reason}", self.shared.name);
            }
            RunnerEvent::GaveUp { reason } => self.fail(format!("given up: {reason}")),
            RunnerEvent::Restarted { .. } => {
                self.shared.health.runner_restarted();
                if let Some(m) = self.metrics() {
                    m.restarts.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        matches!(self.state(), State::Active | State::Reloading)
    }

    /// Where the plugin runs and how it is confined.
    pub(crate) fn isolation(&self) -> Isolation {
        self.code().isolation()
    }

    /// Records a state change in the audit log and the plugin's record. A failure to record
    /// does not undo the change; it is logged.
    fn record(&self, from: Option<State>, to: State, reason: Option<&str>) {
        let code = self.code();
        let caps = &code.caps;
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
            tracing::error!(
                target: "switchboard::audit",
                "cannot record `{}` going {to}: {e}",
                self.shared.name
            );
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.shared.name
    }

    pub(crate) fn manifest(&self) -> Arc<EmbeddedManifest> {
        self.code().manifest.clone()
    }

    pub(crate) fn warnings(&self) -> Vec<switchboard_sdk::manifest::Diagnostic> {
        self.code().warnings.clone()
    }

    pub(crate) fn source(&self) -> PathBuf {
        self.code().source.clone()
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
            // Sequentially consistent: a reload's move to `reloading` must be ordered before
            // it looks for calls still on the old code (see `dispatch`).
            match self.shared.state.compare_exchange(
                current,
                to as u8,
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // A plugin's access follows its state: suspended while it is not running
                    // (threads that outlive `stop` keep nothing), gone once it is removed.
                    let code = self.code();
                    let gate = &code.caps.gate;
                    match to {
                        State::Starting => gate.table.resume(gate.token),
                        State::Stopped | State::Failed => gate.table.suspend(gate.token),
                        State::Removed => gate.table.release(gate.token),
                        _ => {}
                    }
                    // A failed or removed plugin never runs again: its runner goes.
                    if let (State::Failed | State::Removed, Backend::Isolated(i)) =
                        (to, &code.backend)
                    {
                        i.shutdown();
                    }
                    drop(code);
                    // Contributions run only while the plugin is active (or hands over).
                    if !matches!(to, State::Active | State::Starting | State::Reloading) {
                        self.leave_points();
                    }
                    self.record(Some(from), to, reason.as_deref());
                    self.shared.history.lock().push(Transition {
                        from: Some(from),
                        to,
                        at: SystemTime::now(),
                        reason,
                    });
                    if from == State::Reloading {
                        self.resume_callers();
                    }
                    return Ok(from);
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Wakes the callers that waited out a reload.
    fn resume_callers(&self) {
        let slot = &self.shared.reload;
        drop(slot.paused.lock());
        slot.resumed.notify_all();
    }

    /// Waits while a reload hands the plugin over; returns the state it ended in.
    #[cold]
    fn wait_out_reload(&self) -> State {
        let slot = &self.shared.reload;
        let mut paused = slot.paused.lock();
        loop {
            let state = self.state();
            if state != State::Reloading {
                return state;
            }
            slot.resumed.wait(&mut paused);
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
        let code = self.code_owned();
        let patterns = self.check_bus(&code)?;
        let refuse_points = |error| LifecycleError::Extend {
            plugin: self.name().to_owned(),
            error: Box::new(error),
        };
        // Reserved until they join: a plugin starting meanwhile is checked against them, so
        // of two conflicting plugins started at once exactly one runs its `start` hook.
        let _reserved = self.check_points(&code).map_err(refuse_points)?;
        self.transition(State::Starting, None)?;
        let started = code.backend.start();
        self.run_hook("start", State::Active, started)?;
        if let Err(error) = self.join_points(&code) {
            self.fail(format!("cannot join its extension points: {error}"));
            return Err(refuse_points(error));
        }
        if let Err(error) = self.join_bus(&code, patterns) {
            self.leave_bus();
            self.fail(format!("cannot join the bus: {error}"));
            return Err(LifecycleError::Bus {
                plugin: self.name().to_owned(),
                error: Box::new(error),
            });
        }
        Ok(())
    }

    /// The code serving now, as a reference of its own (for work that outlasts a call).
    pub(crate) fn code_owned(&self) -> Arc<Code> {
        self.shared.code.load_full()
    }

    /// Stops the instance: leaves the bus (no more events or service calls), then runs `stop`
    /// on a thread of its own and waits for it at most the stop deadline. A hook that does not
    /// return by then is abandoned: the instance fails (its token suspended, its handlers and
    /// services already gone) and the error says so. Its thread cannot be killed in-process.
    pub(crate) fn stop(&self) -> Result<(), LifecycleError> {
        self.transition(State::Stopping, None)?;
        self.leave_bus();
        self.end_streams();
        let code = self.code_owned();
        let deadline = code.caps.stop_deadline;
        let stopped = match code.stop_hook(self.name(), deadline) {
            Ok(()) => Ok(()),
            Err(Some(error)) => Err(error),
            Err(None) => {
                self.fail(format!(
                    "the stop hook did not return within {} ms; its thread was abandoned",
                    deadline.as_millis()
                ));
                return Err(LifecycleError::StopTimedOut {
                    plugin: self.name().to_owned(),
                    deadline,
                });
            }
        };
        self.run_hook("stop", State::Stopped, stopped)
    }

    /// Delivers one event frame to the plugin's handlers: the path from the bus into plugin
    /// code. A panic fails the instance, as in a command. During a reload the delivery waits
    /// for it to end, then goes to the code serving then.
    pub(crate) fn on_event(&self, topic: &str, frame: &[u8]) -> Result<(), PluginError> {
        loop {
            let code = self.code();
            let state = State::from_u8(self.shared.state.load(Ordering::SeqCst));
            if state == State::Reloading {
                drop(code);
                self.wait_out_reload();
                continue;
            }
            if state != State::Active {
                return Err(self.not_callable(state).into_plugin_error());
            }
            return code.backend.on_event(topic, frame).inspect_err(|error| {
                let what = format_args!("an event handler for `{topic}`");
                self.shared.health.note_error(what, error);
                if error.code() == codes::PLUGIN_PANICKED {
                    self.fail(format!(
                        "an event handler for `{topic}` panicked: {}",
                        error.message()
                    ));
                }
            });
        }
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
            State::Active => self.code().backend.health(),
            State::Reloading => Health::Degraded("a hot reload is handing it over".into()),
            State::Failed => Health::Unhealthy(
                self.failure()
                    .unwrap_or_else(|| "the plugin has failed".into()),
            ),
            other => Health::Unhealthy(format!("the plugin is {other}")),
        }
    }

    /// Calls the command `binding` names. The one path from callers into plugin command code.
    ///
    /// The code is loaded before the state is read (both sequentially consistent), so a
    /// reload that sees no call on the old code after moving to `reloading` has none to wait
    /// for: a call that read `active` holds the old code until it returns.
    ///
    /// The error is boxed: a `CallError` is 112 bytes, and returned unboxed it was copied
    /// through every frame of a typed call on the path that succeeds (issue 17's profile).
    /// Always inlined: a borrowed call (`Command::call_with`) paid about 15 instructions for
    /// this frame of its own.
    #[inline(always)]
    pub(crate) fn dispatch(
        &self,
        binding: &Binding,
        request: &[u8],
        out: &mut ResponseBuffer,
    ) -> Result<(), Box<CallError>> {
        self.dispatch_with_usage(binding, request, out, None)
    }

    /// [`dispatch`](Self::dispatch), the usage the call reported added to `usage` (it is
    /// counted in the metrics either way). Always inlined: a typed call is then one frame
    /// from `Command::call` to the plugin's entry (issue 17's fifth round).
    #[inline(always)]
    pub(crate) fn dispatch_with_usage<R: Reply>(
        &self,
        binding: &Binding,
        request: &[u8],
        out: &mut R,
        usage: Option<&mut Usage>,
    ) -> Result<(), Box<CallError>> {
        self.dispatch_input(binding, request, out, usage)
    }

    /// [`dispatch_with_usage`](Self::dispatch_with_usage) with a request in one buffer or
    /// gathered from runs of the caller's bytes (SDK ABI 1.5; see `Command::call_with`).
    #[inline(always)]
    pub(crate) fn dispatch_input<Q: Request, R: Reply>(
        &self,
        binding: &Binding,
        request: Q,
        out: &mut R,
        usage: Option<&mut Usage>,
    ) -> Result<(), Box<CallError>> {
        if calls_traced() {
            return self.dispatch_traced(binding, request, out, usage);
        }
        self.dispatch_counted(binding, request, out, usage)
    }

    /// The call counted in the metrics (when the binding records) and its usage settled.
    #[inline(always)]
    fn dispatch_counted<Q: Request, R: Reply>(
        &self,
        binding: &Binding,
        request: Q,
        out: &mut R,
        usage: Option<&mut Usage>,
    ) -> Result<(), Box<CallError>> {
        let result = match &binding.recorder {
            None => self.dispatch_unmetered(binding, request, out),
            Some(recorder) => {
                let timer = recorder.start();
                let result = self.dispatch_unmetered(binding, request, out);
                if let Err(e) = &result {
                    recorder.error(e.code());
                }
                recorder.finish(timer);
                result
            }
        };
        if usage::pending() {
            usage::settle(self.name(), binding.recorder.as_deref(), usage);
        }
        result
    }

    /// Calls the streaming command `binding` names: the plugin's chunks go to `receiver` as
    /// it sends them (on this thread), its summary into `out`, the usage it reported into
    /// `usage`. `cancelled` says whether the receiver refused a chunk because its consumer
    /// stopped: the plugin's `STREAM_CANCELLED` error is then the stream's end, not a failure.
    pub(crate) fn dispatch_stream(
        &self,
        binding: &Binding,
        request: &[u8],
        receiver: &mut dyn StreamReceiver,
        out: &mut ResponseBuffer,
        usage: &mut Usage,
    ) -> Result<(), Box<CallError>> {
        let span = self.call_span(binding);
        let _in_span = span.enter();
        let timer = binding.recorder.as_ref().map(|r| r.start());
        let result = self.dispatch_stream_unmetered(binding, request, receiver, out);
        if let (Some(recorder), Some(timer)) = (&binding.recorder, timer) {
            if let Err(e) = &result {
                recorder.error(e.code());
            }
            recorder.finish(timer);
        }
        if usage::pending() {
            usage::settle(self.name(), binding.recorder.as_deref(), Some(usage));
        }
        result
    }

    fn dispatch_stream_unmetered(
        &self,
        binding: &Binding,
        request: &[u8],
        receiver: &mut dyn StreamReceiver,
        out: &mut ResponseBuffer,
    ) -> Result<(), Box<CallError>> {
        let entered = inflight::enter(self.id());
        let ptr = self.shared.current.load(Ordering::Acquire);
        let state = self.shared.state.load(Ordering::Acquire);
        if state != State::Active as u8 {
            drop(entered);
            let state = State::from_u8(state);
            if state == State::Reloading && self.wait_out_reload() == State::Active {
                return self.dispatch_stream_unmetered(binding, request, receiver, out);
            }
            return Err(Box::new(self.not_callable(self.state())));
        }
        let code = self.current_code(ptr);
        let method = binding.method_in(code, self)?;
        let limit = code.max_call_bytes;
        if request.len() > limit {
            out.discard();
            return Err(self.too_large_boxed(&binding.name, request.len(), limit, true));
        }
        receiver.admitted(&self.shared.streams, code.generation);
        let mut limited = LimitedReceiver {
            inner: receiver,
            limit,
            too_large: None,
        };
        let result = code
            .backend
            .dispatch_stream(method, request, &mut limited, out);
        if let Some(size) = limited.too_large {
            out.discard();
            return Err(self.too_large_boxed(&binding.name, size, limit, false));
        }
        match result {
            Ok(()) => {}
            Err(e) if e.code() == codes::STREAM_CANCELLED && limited.inner.refused() => {}
            Err(error) => return Err(self.call_failed_boxed(&binding.name, error)),
        }
        let size = out.as_slice().len();
        if size > limit {
            out.discard();
            return Err(self.too_large_boxed(&binding.name, size, limit, false));
        }
        Ok(())
    }

    /// The `plugin_call` span a call runs in, so the plugin's log lines during it carry its
    /// plugin and command. With no subscriber, or one below `debug`, it is `Span::none()`
    /// after one level check: `tracing`'s own disabled spans build their fields for its `log`
    /// fallback on every call, which cost more than a whole typed call (issue 18's profile).
    #[inline]
    fn call_span(&self, binding: &Binding) -> tracing::Span {
        if calls_traced() {
            self.enabled_call_span(binding)
        } else {
            tracing::Span::none()
        }
    }

    /// [`dispatch_with_usage`](Self::dispatch_with_usage) inside a `plugin_call` span: the
    /// path taken only while a subscriber listens at `debug`, so the untraced path builds,
    /// enters and drops no span at all (that cost about 30 instructions a call).
    #[cold]
    #[inline(never)]
    fn dispatch_traced<Q: Request, R: Reply>(
        &self,
        binding: &Binding,
        request: Q,
        out: &mut R,
        usage: Option<&mut Usage>,
    ) -> Result<(), Box<CallError>> {
        let span = self.enabled_call_span(binding);
        let _in_span = span.enter();
        self.dispatch_counted(binding, request, out, usage)
    }

    #[cold]
    fn enabled_call_span(&self, binding: &Binding) -> tracing::Span {
        tracing::debug_span!(
            target: "switchboard::call",
            "plugin_call",
            plugin = %self.shared.name,
            command = %binding.name
        )
    }

    /// [`dispatch`](Self::dispatch) without counting the call. Inlined into
    /// [`dispatch`](Self::dispatch)'s one frame: as a frame of its own it cost about 20
    /// instructions a call in saving and restoring registers (issue 17's fourth round).
    #[inline(always)]
    fn dispatch_unmetered<Q: Request, R: Reply>(
        &self,
        binding: &Binding,
        request: Q,
        out: &mut R,
    ) -> Result<(), Box<CallError>> {
        // Marked in progress, then the code pointer, then the state: see `current_code`.
        let entered = inflight::enter(self.id());
        let ptr = self.shared.current.load(Ordering::Acquire);
        let state = self.shared.state.load(Ordering::Acquire);
        if state != State::Active as u8 {
            drop(entered);
            return self.dispatch_not_active(State::from_u8(state), binding, request, out);
        }
        let code = self.current_code(ptr);
        let method = binding.method_in(code, self)?;
        let limit = code.max_call_bytes;
        if request.len() > limit {
            out.discard();
            return Err(self.too_large_boxed(&binding.name, request.len(), limit, true));
        }
        let size = out
            .run(&code.backend, method, request)
            .map_err(|error| self.call_failed_boxed(&binding.name, error))?;
        if size > limit {
            out.discard();
            return Err(self.too_large_boxed(&binding.name, size, limit, false));
        }
        Ok(())
    }

    /// A call that met a state other than `active`: during a reload it waits for the handover
    /// and goes to the code serving then; otherwise it is refused.
    #[cold]
    #[inline(never)]
    fn dispatch_not_active<Q: Request, R: Reply>(
        &self,
        state: State,
        binding: &Binding,
        request: Q,
        out: &mut R,
    ) -> Result<(), Box<CallError>> {
        if state == State::Reloading && self.wait_out_reload() == State::Active {
            return self.dispatch_unmetered(binding, request, out);
        }
        Err(Box::new(self.not_callable(self.state())))
    }

    /// [`too_large`](Self::too_large), boxed out of line: the call path's frame then holds no
    /// `CallError` (issue 17's fourth round).
    #[cold]
    #[inline(never)]
    fn too_large_boxed(
        &self,
        command: &str,
        size: usize,
        limit: usize,
        request: bool,
    ) -> Box<CallError> {
        Box::new(self.too_large(command, size, limit, request))
    }

    /// [`call_failed`](Self::call_failed), boxed out of line.
    #[cold]
    #[inline(never)]
    fn call_failed_boxed(&self, command: &str, error: PluginError) -> Box<CallError> {
        Box::new(self.call_failed(command, error))
    }

    /// A request or response over the payload limit. The caller empties the response buffer
    /// and releases its allocation first, so nothing copies or decodes it and the memory goes
    /// back now.
    #[cold]
    fn too_large(&self, command: &str, size: usize, limit: usize, request: bool) -> CallError {
        let (plugin, command) = (self.shared.name.clone(), command.to_owned());
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
    pub(crate) fn not_callable(&self, state: State) -> CallError {
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
        self.shared
            .health
            .note_error(format_args!("`{command}`"), &error);
        if error.code() == codes::PLUGIN_PANICKED {
            if let Some(m) = self.metrics() {
                m.panics.fetch_add(1, Ordering::Relaxed);
            }
            self.fail(format!("`{command}` panicked: {}", error.message()));
        }
        CallError::Plugin {
            plugin: self.shared.name.clone(),
            command: command.to_owned(),
            error,
        }
    }
}

/// A command call's request: bytes in one buffer (`&[u8]`, every caller but one), or a typed
/// request gathered from runs of the caller's bytes ([`Input`], SDK ABI 1.5: `Command::call`
/// and `call_with` with long byte or string fields). The call path is generic over it, so the
/// one-buffer path carries no trace of the other.
pub(crate) trait Request: Copy {
    /// The request's length in bytes (checked against the payload limit).
    fn len(self) -> usize;

    /// Runs command `method` of an in-process plugin.
    fn in_process(
        self,
        plugin: &RawPlugin,
        method: u32,
        out: &mut ResponseBuffer,
    ) -> Result<(), PluginError>;

    /// Runs `f` on the request's bytes in one buffer (joined, for runs).
    fn with_bytes<T>(self, f: impl FnOnce(&[u8]) -> T) -> T;

    /// The request's bytes when they are one buffer (always, for `&[u8]`: no closure on
    /// the hot path, which LLVM left out of line — 35 instructions a small typed call).
    fn one_buffer<'s>(self) -> Option<&'s [u8]>
    where
        Self: 's;
}

impl Request for &[u8] {
    #[inline(always)]
    fn len(self) -> usize {
        <[u8]>::len(self)
    }

    #[inline(always)]
    fn in_process(
        self,
        plugin: &RawPlugin,
        method: u32,
        out: &mut ResponseBuffer,
    ) -> Result<(), PluginError> {
        plugin.dispatch(method, self, out)
    }

    #[inline(always)]
    fn with_bytes<T>(self, f: impl FnOnce(&[u8]) -> T) -> T {
        f(self)
    }

    #[inline(always)]
    fn one_buffer<'s>(self) -> Option<&'s [u8]>
    where
        Self: 's,
    {
        Some(self)
    }
}

impl Request for Input<'_> {
    #[inline]
    fn len(self) -> usize {
        Input::len(self)
    }

    #[inline(always)]
    fn in_process(
        self,
        plugin: &RawPlugin,
        method: u32,
        out: &mut ResponseBuffer,
    ) -> Result<(), PluginError> {
        plugin.dispatch_input(method, self, out)
    }

    #[inline]
    fn with_bytes<T>(self, f: impl FnOnce(&[u8]) -> T) -> T {
        match self.contiguous() {
            Some(bytes) => f(bytes),
            None => f(&self.to_vec()),
        }
    }

    #[inline]
    fn one_buffer<'s>(self) -> Option<&'s [u8]>
    where
        Self: 's,
    {
        self.contiguous()
    }
}

/// Where a command call's response goes: the reused [`ResponseBuffer`] of the general path,
/// or a small typed call's [`Window`] on the caller's stack (SDK ABI 1.4). The call path is
/// the same for both (marking, state, limits, metrics, usage, tracing), monomorphised.
pub(crate) trait Reply {
    /// Runs command `method` on `backend`; returns the response's length.
    fn run<Q: Request>(
        &mut self,
        backend: &Backend,
        method: u32,
        request: Q,
    ) -> Result<usize, PluginError>;

    /// Drops the response (over the payload limit): nothing reads it, and a buffer's memory
    /// goes back now.
    fn discard(&mut self);
}

impl Reply for ResponseBuffer {
    #[inline(always)]
    fn run<Q: Request>(
        &mut self,
        backend: &Backend,
        method: u32,
        request: Q,
    ) -> Result<usize, PluginError> {
        backend.dispatch(method, request, self)?;
        Ok(self.as_slice().len())
    }

    #[inline]
    fn discard(&mut self) {
        self.release_if_larger_than(0);
    }
}

/// A small typed call's response window (SDK ABI 1.4): the plugin writes the response into
/// `window`, on the caller's stack, or into `spill` when it does not fit there.
pub(crate) struct Window<'w> {
    window: &'w mut [MaybeUninit<u8>],
    /// Dropped only if a response spilled into it: an `RVec`'s drop is a call through its
    /// vtable even when it never allocated, and most small calls never touch it.
    spill: std::mem::ManuallyDrop<ResponseBuffer>,
    /// The response's length; its bytes are in `window` when it is at most the window's
    /// length.
    len: usize,
}

impl<'w> Window<'w> {
    /// A window over `window`, empty.
    #[inline]
    pub(crate) fn new(window: &'w mut [MaybeUninit<u8>]) -> Self {
        Window {
            window,
            spill: std::mem::ManuallyDrop::new(ResponseBuffer::new()),
            len: 0,
        }
    }

    /// Whether the last call's response was longer than the window (it is in the spill
    /// buffer).
    #[inline]
    pub(crate) fn spilled(&self) -> bool {
        self.len > self.window.len()
    }

    /// The response the last call wrote.
    #[inline]
    #[expect(
        unsafe_code,
        reason = "the window's written prefix read without initialising the whole window first"
    )]
    pub(crate) fn bytes(&self) -> &[u8] {
        match self.window.get(..self.len) {
            // SAFETY: a length within the window comes from `run` only after the plugin (or
            // `ResponseBuffer::to_window`) wrote that many bytes at its start, as
            // `dispatch_window` promises; `len` is 0 otherwise. `MaybeUninit<u8>` has the
            // layout of `u8` (`assume_init_ref` once the MSRV reaches 1.93).
            Some(written) => unsafe { &*(std::ptr::from_ref(written) as *const [u8]) },
            None => self.spill.as_slice(),
        }
    }
}

impl Drop for Window<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.spill.capacity() > 0 {
            // The buffer left in its place owns no memory, so not dropping it leaks nothing.
            drop(std::mem::replace(&mut *self.spill, ResponseBuffer::new()));
        }
    }
}

impl Reply for Window<'_> {
    #[inline(always)]
    fn run<Q: Request>(
        &mut self,
        backend: &Backend,
        method: u32,
        request: Q,
    ) -> Result<usize, PluginError> {
        // A window call's request is one buffer (it is encoded on the caller's stack); a
        // gathered one would be joined.
        let joined;
        let bytes = match request.one_buffer() {
            Some(bytes) => bytes,
            None => {
                joined = request.with_bytes(<[u8]>::to_vec);
                &joined
            }
        };
        let n = backend.dispatch_window(method, bytes, self.window, &mut self.spill)?;
        // A length past the window means the spill buffer holds the response: its own length
        // is the one that counts.
        self.len = if n <= self.window.len() {
            n
        } else {
            self.spill.as_slice().len().max(self.window.len() + 1)
        };
        Ok(self.len)
    }

    #[inline]
    fn discard(&mut self) {
        self.len = 0;
        self.spill.release_if_larger_than(0);
    }
}

/// The host's receiver of one stream's chunks.
pub(crate) trait StreamReceiver: ChunkReceiver {
    /// Whether it refused a chunk because its consumer stopped the stream.
    fn refused(&self) -> bool;

    /// Its call was admitted on code `generation`: from now on a reload retiring that code,
    /// a stop or a removal ends the stream.
    fn admitted(&self, open: &stream::OpenStreams, generation: u32);
}

/// Refuses chunks over the host's payload limit before its receiver sees them.
struct LimitedReceiver<'r> {
    inner: &'r mut dyn StreamReceiver,
    limit: usize,
    /// The size of the first chunk refused as too large.
    too_large: Option<usize>,
}

impl ChunkReceiver for LimitedReceiver<'_> {
    fn chunk(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        if bytes.len() > self.limit {
            self.too_large.get_or_insert(bytes.len());
            return Err(PluginError::with_code(
                codes::CHUNK_TOO_LARGE,
                format!(
                    "a {}-byte chunk is over the host's {}-byte limit; it was not delivered",
                    bytes.len(),
                    self.limit
                ),
            )
            .next_step("send smaller chunks"));
        }
        self.inner.chunk(bytes)
    }

    fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }
}

/// Whether a subscriber listens to `debug` spans now, so calls get a `plugin_call` span: two
/// loads of constants and one of a global, and no span built when it says no.
#[inline]
fn calls_traced() -> bool {
    tracing::Level::DEBUG <= tracing::level_filters::STATIC_MAX_LEVEL
        && tracing::Level::DEBUG <= tracing::level_filters::LevelFilter::current()
}
