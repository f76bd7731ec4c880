//! The host's side of an isolated plugin: the `Instance` backend that speaks the D4 protocol to
//! a runner process, and the supervisor that notices the runner's death and restarts it.
//!
//! Calls: a caller takes an idle channel (or makes one, handing the runner its end over the
//! control channel), sends its request and reads on that channel until the reply comes,
//! serving on its own thread any service the plugin asks for meanwhile — with no thread hop
//! on either side. A runner that dies, stops answering within the call timeout, or breaks the
//! protocol is killed; the call fails with a coded error; the supervisor restarts it with
//! backoff, and after `max_restarts` crashes without a successful call in between the plugin
//! is given up (the instance becomes `failed`). A runner killed because a call overran an
//! extension point's timeout (shorter than the call timeout) is restarted the same way, but
//! that kill is the host's choice and does not count as a crash.

use std::cell::RefCell;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use parking_lot::{Condvar, Mutex};
use switchboard_sdk::abi::{ChunkReceiver, HostServices, ResponseBuffer};
use switchboard_sdk::Level;
use switchboard_sdk::{ErrorCode, Health, PluginError};

use super::channel::Channel;
use super::decide::IsolationDecision;
use super::launch::{describe_exit, spawn, RunnerCommand, Spawned};
use super::protocol::{decode_health, Call, Frame, Init, Service, WireError, PROTOCOL_VERSION};
use super::proxy::serve;
use super::runner::Control;
use super::sandbox::{LayerStatus, SandboxSpec};

/// A call's answer: the runner died during it (`SB1501`).
pub(crate) const RUNNER_DIED: ErrorCode = ErrorCode::from_number(1501);
/// A call's answer: it ran past its timeout; the runner was killed (`SB1502`).
pub(crate) const CALL_TIMED_OUT: ErrorCode = ErrorCode::from_number(1502);
/// A call's answer: no runner is up (restarting failed, or the plugin was given up) (`SB1503`).
pub(crate) const RUNNER_UNAVAILABLE: ErrorCode = ErrorCode::from_number(1503);
/// A call's answer: the runner broke the protocol; it was killed (`SB1505`).
pub(crate) const PROTOCOL_BROKEN: ErrorCode = ErrorCode::from_number(1505);

/// A call's answer: the runner had no thread for it (`SB1508`); the runner carries on.
pub(crate) const NO_THREAD: ErrorCode = ErrorCode::from_number(1508);

/// How long a runner has to sandbox itself, load the plugin and answer.
const INIT_DEADLINE: Duration = Duration::from_secs(20);
/// How long a call that finds the runner restarting waits for it.
const RESTART_WAIT: Duration = Duration::from_secs(30);
/// How long a caller polls for the runner's answer before sleeping (a short call answers
/// within it, and the caller's thread is never put to sleep and woken).
const CALLER_SPIN: Duration = Duration::from_micros(30);
/// The longest backoff between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

thread_local! {
    /// A tighter bound than its call timeout for the next call this thread makes into one
    /// isolated plugin (an extension point's timeout), set by [`with_call_limit`].
    static CALL_LIMIT: RefCell<Option<(Arc<str>, Duration)>> = const { RefCell::new(None) };
}

/// Runs `f`, whose first call into the isolated plugin `plugin` gets at most `limit` (or its
/// own call timeout, if shorter): past it, the runner is killed and the call fails with
/// `SB1502`, as past the call timeout. Calls `f` makes into other plugins, and the ones that
/// call makes in turn, keep their own timeouts.
pub(crate) fn with_call_limit<R>(plugin: &Arc<str>, limit: Duration, f: impl FnOnce() -> R) -> R {
    /// Puts back the limit that was set before, even if `f` unwinds.
    struct Restore(Option<(Arc<str>, Duration)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let before = self.0.take();
            CALL_LIMIT.with(|c| *c.borrow_mut() = before);
        }
    }
    let before = CALL_LIMIT.with(|c| c.borrow_mut().replace((plugin.clone(), limit)));
    let _restore = Restore(before);
    f()
}

/// The limit [`with_call_limit`] set for `plugin` on this thread, taken (used once).
fn take_call_limit(plugin: &str) -> Option<Duration> {
    // `try_with`: a call made from a thread-local's destructor has no limit set, not a panic.
    CALL_LIMIT
        .try_with(|c| {
            let mut c = c.borrow_mut();
            match &*c {
                Some((p, limit)) if **p == *plugin => {
                    let limit = *limit;
                    *c = None;
                    Some(limit)
                }
                _ => None,
            }
        })
        .ok()
        .flatten()
}

/// What the supervisor tells the instance.
#[derive(Debug)]
pub(crate) enum RunnerEvent<'a> {
    /// The runner ended; `restart` says whether another is started.
    Exited { reason: &'a str, restart: bool },
    /// A new runner is up (`generation` counts them from 1).
    Restarted { generation: u32 },
    /// No more restarts: the plugin is given up.
    GaveUp { reason: &'a str },
}

/// The instance's ear: told of each [`RunnerEvent`]; answers whether the plugin is active (so a
/// restarted runner is started again).
pub(crate) type Owner = Box<dyn Fn(RunnerEvent<'_>) -> bool + Send + Sync>;

/// What a frame may hold beyond the largest request or reply it carries (the host's
/// `max_call_bytes`): the frame's own fields.
pub(crate) const FRAME_HEADROOM: usize = 64 << 10;

/// What starting a runner needs; kept for restarts.
pub(crate) struct Launch {
    command: RunnerCommand,
    init: Init,
    /// The verified image, a sealed memfd.
    image: OwnedFd,
    max_frame: usize,
}

impl Launch {
    /// A runner `command` for `plugin`, sandboxed per `spec`, to load `image` (the verified
    /// library) whose manifest section is `manifest`; frames up to `max_frame` bytes.
    pub(crate) fn new(
        command: RunnerCommand,
        plugin: &str,
        manifest: Vec<u8>,
        image: OwnedFd,
        spec: SandboxSpec,
        max_frame: usize,
    ) -> Launch {
        Launch {
            command,
            init: Init {
                protocol: PROTOCOL_VERSION,
                plugin: plugin.to_owned(),
                manifest,
                spec,
                max_call_bytes: u64::try_from(max_frame.saturating_sub(FRAME_HEADROOM))
                    .unwrap_or(u64::MAX),
            },
            image,
            max_frame,
        }
    }
}

/// An isolated plugin.
pub(crate) struct Isolated {
    plugin: String,
    launch: Launch,
    services: Arc<dyn HostServices>,
    decision: IsolationDecision,
    current: ArcSwap<Runner>,
    /// Crashes since the last successful call.
    crashes: AtomicU32,
    /// The runner was killed because a call overran an extension point's timeout: the host's
    /// choice, not the plugin's crash, so its exit does not count towards `max_restarts`.
    killed_for_point: AtomicBool,
    closing: AtomicBool,
    /// No more restarts: the plugin was given up.
    given_up: AtomicBool,
    /// Guards the wait of callers that found the runner dead: notified when a new runner is
    /// current, when the plugin is given up, and at shutdown.
    changes: Mutex<()>,
    changed: Condvar,
    owner: parking_lot::RwLock<Option<Owner>>,
}

impl std::fmt::Debug for Isolated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Isolated")
            .field("plugin", &self.plugin)
            .field("pid", &self.current.load().pid)
            .finish_non_exhaustive()
    }
}

/// One runner process.
struct Runner {
    pid: u32,
    generation: u32,
    pidfd: Option<OwnedFd>,
    control: Mutex<Channel>,
    idle: Mutex<Vec<(Channel, Vec<u8>)>>,
    layers: Vec<LayerStatus>,
    dead: AtomicBool,
    /// How it ended, once it has.
    exit: Mutex<Option<String>>,
    exited: Condvar,
}

impl Runner {
    /// Kills it, and counts it dead at once: a call after this one waits for the supervisor's
    /// restart instead of racing the kill on an idle channel.
    fn kill(&self) {
        if self.dead.swap(true, Ordering::AcqRel) {
            return;
        }
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.pidfd {
            let _ = rustix::process::pidfd_send_signal(fd, rustix::process::Signal::KILL);
        }
    }

    /// How it ended, waiting for the supervisor to reap it (it is dead or dying).
    fn exit_reason(&self) -> String {
        let mut exit = self.exit.lock();
        if exit.is_none() {
            let _ = self
                .exited
                .wait_while_for(&mut exit, |e| e.is_none(), Duration::from_secs(5));
        }
        exit.clone()
            .unwrap_or_else(|| "it stopped answering".to_owned())
    }
}

impl Isolated {
    /// Starts the first runner of `launch`, whose plugin's services are `services`.
    pub(crate) fn start(
        launch: Launch,
        services: Arc<dyn HostServices>,
        decision: IsolationDecision,
    ) -> Result<Arc<Isolated>, WireError> {
        let spawned = spawn(
            &launch.command,
            &launch.init,
            launch.image.as_fd(),
            launch.max_frame,
            INIT_DEADLINE,
        )?;
        let plugin = launch.init.plugin.clone();
        let isolated = Arc::new_cyclic(|weak: &Weak<Isolated>| {
            let runner = adopt(spawned, 1, weak.clone(), services.clone());
            Isolated {
                plugin,
                launch,
                services,
                decision,
                current: ArcSwap::new(runner),
                crashes: AtomicU32::new(0),
                killed_for_point: AtomicBool::new(false),
                closing: AtomicBool::new(false),
                given_up: AtomicBool::new(false),
                changes: Mutex::new(()),
                changed: Condvar::new(),
                owner: parking_lot::RwLock::new(None),
            }
        });
        Ok(isolated)
    }

    /// Sets who hears of the runner's deaths and restarts (the instance).
    pub(crate) fn set_owner(&self, owner: Owner) {
        *self.owner.write() = Some(owner);
    }

    /// The sandbox layers of the current runner.
    pub(crate) fn layers(&self) -> Vec<LayerStatus> {
        self.current.load().layers.clone()
    }

    /// The current runner's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.current.load().pid
    }

    /// Kills the runner for good (the instance is removed or dropped).
    pub(crate) fn shutdown(&self) {
        self.closing.store(true, Ordering::Release);
        let runner = self.current.load();
        runner.control.lock().shutdown();
        runner.kill();
        self.notify();
    }

    /// Wakes every caller waiting for a runner.
    fn notify(&self) {
        let _guard = self.changes.lock();
        self.changed.notify_all();
    }

    pub(crate) fn dispatch(
        &self,
        method: u32,
        request: &[u8],
        out: &mut ResponseBuffer,
    ) -> Result<(), PluginError> {
        self.call(&Call::Dispatch { method, request }, |bytes| out.fill(bytes))
    }

    /// Runs a streaming command in the runner: each chunk it sends arrives as a nested
    /// request, goes to `receiver` on this thread, and is answered with its result — so a
    /// receiver that waits holds the plugin's `send`, and a cancellation is its answer. The
    /// call timeout bounds the wait for each chunk (and for the summary), not the stream.
    pub(crate) fn dispatch_stream(
        &self,
        method: u32,
        request: &[u8],
        receiver: &mut dyn ChunkReceiver,
        out: &mut ResponseBuffer,
    ) -> Result<(), PluginError> {
        self.call_with(
            &Call::DispatchStream { method, request },
            Some(receiver),
            |bytes| out.fill(bytes),
        )
    }

    pub(crate) fn on_event(&self, topic: &str, envelope: &[u8]) -> Result<(), PluginError> {
        self.call(&Call::OnEvent { topic, envelope }, |_| ())
    }

    pub(crate) fn start_plugin(&self) -> Result<(), PluginError> {
        self.call(&Call::Start, |_| ())
    }

    pub(crate) fn stop_plugin(&self) -> Result<(), PluginError> {
        self.call(&Call::Stop, |_| ())
    }

    pub(crate) fn health(&self) -> Health {
        let mut health = None;
        match self.call(&Call::Health, |bytes| health = Some(decode_health(bytes))) {
            Ok(()) => health.unwrap_or_else(|| Health::Unhealthy("no health report".into())),
            Err(e) => Health::Unhealthy(e.to_string()),
        }
    }

    /// The plugin's state for a hand-over (hot reload).
    pub(crate) fn snapshot(&self) -> Result<Vec<u8>, PluginError> {
        let mut state = Vec::new();
        self.call(&Call::Snapshot, |bytes| state = bytes.to_vec())?;
        Ok(state)
    }

    /// Hands the plugin a state from [`snapshot`](Self::snapshot).
    pub(crate) fn restore(&self, state: &[u8]) -> Result<(), PluginError> {
        self.call(&Call::Restore(state), |_| ())
    }

    /// The one exchange: request out, nested services served, reply in.
    fn call(&self, call: &Call<'_>, answer: impl FnOnce(&[u8])) -> Result<(), PluginError> {
        self.call_with(call, None, answer)
    }

    /// [`call`](Self::call), with the receiver of a streaming call's chunks.
    fn call_with(
        &self,
        call: &Call<'_>,
        receiver: Option<&mut dyn ChunkReceiver>,
        answer: impl FnOnce(&[u8]),
    ) -> Result<(), PluginError> {
        let own = self
            .decision
            .limits
            .call_timeout_ms
            .map(Duration::from_millis);
        // An extension point's timeout, when shorter, bounds this call instead.
        let (limit, points) = match (own, take_call_limit(&self.plugin)) {
            (Some(own), Some(point)) if point < own => (Some(point), true),
            (None, Some(point)) => (Some(point), true),
            (own, _) => (own, false),
        };
        let runner = self.live_runner()?;
        let (mut channel, mut buf) = self.channel(&runner)?;
        let outcome = self.exchange(&mut channel, &mut buf, *call, limit, receiver);
        match outcome {
            Ok(()) => {
                let result = match postcard::from_bytes::<Frame<'_>>(&buf) {
                    Ok(Frame::Reply(Ok(bytes))) => {
                        answer(bytes);
                        Ok(())
                    }
                    // The runner closed a channel it had no thread for.
                    Ok(Frame::Reply(Err(e))) if e.code == NO_THREAD.number() => {
                        return Err(PluginError::from(e))
                    }
                    Ok(Frame::Reply(Err(e))) => Err(PluginError::from(e)),
                    // `exchange` returns only once a reply is in the buffer.
                    _ => Err(PluginError::with_code(PROTOCOL_BROKEN, "no reply")),
                };
                if buf.capacity() > 1 << 20 {
                    buf = Vec::new();
                }
                runner.idle.lock().push((channel, buf));
                // A command or event the plugin served proves the runner healthy; a restart's
                // own `start` hook does not (else a plugin crashing on every call would
                // restart for ever).
                if matches!(
                    call,
                    Call::Dispatch { .. } | Call::DispatchStream { .. } | Call::OnEvent { .. }
                ) {
                    self.crashes.store(0, Ordering::Relaxed);
                }
                result
            }
            Err(Broken::TimedOut) => {
                if points {
                    self.killed_for_point.store(true, Ordering::Release);
                }
                runner.kill();
                let ms = limit.map_or(0, |l| l.as_millis());
                let (bound, raise) = if points {
                    (
                        "the extension point's timeout",
                        "the point's timeout (`PointOptions::timeout`)",
                    )
                } else {
                    (
                        "its call timeout",
                        "`limits.call_timeout_ms` (manifest or policy profile)",
                    )
                };
                Err(PluginError::with_code(
                    CALL_TIMED_OUT,
                    format!(
                        "`{}` did not answer within {bound} of {ms} ms; its runner was killed",
                        self.plugin
                    ),
                )
                .next_step(format!(
                    "the plugin restarts; raise {raise} if the work needs longer"
                )))
            }
            Err(Broken::Protocol(what)) => {
                runner.kill();
                Err(PluginError::with_code(
                    PROTOCOL_BROKEN,
                    format!(
                        "`{}`'s runner broke the protocol ({what}); it was killed",
                        self.plugin
                    ),
                )
                .next_step(
                    "the plugin restarts; a plugin that keeps doing this is hostile or broken",
                ))
            }
            Err(Broken::Died) => {
                runner.kill();
                let reason = runner.exit_reason();
                Err(PluginError::with_code(
                    RUNNER_DIED,
                    format!("`{}`'s runner died during the call: {reason}", self.plugin),
                )
                .next_step(
                    "the plugin restarts; see the audit log (`switchboard audit`) for its \
                     crashes, and fix the plugin",
                ))
            }
        }
    }

    /// Sends `call` and reads until its reply is in `buf`, serving the plugin's services.
    fn exchange(
        &self,
        channel: &mut Channel,
        buf: &mut Vec<u8>,
        call: Call<'_>,
        limit: Option<Duration>,
        mut receiver: Option<&mut dyn ChunkReceiver>,
    ) -> Result<(), Broken> {
        let mut deadline = limit.map(|l| Instant::now() + l);
        channel.send(&Frame::Call(call)).map_err(|_| Broken::Died)?;
        let mut refused_before = false;
        loop {
            channel.set_deadline(deadline).map_err(|e| io_broken(&e))?;
            channel.recv(buf).map_err(|e| io_broken(&e))?;
            let frame = postcard::from_bytes::<Frame<'_>>(buf)
                .map_err(|e| Broken::Protocol(format!("a frame that does not decode: {e}")))?;
            match frame {
                Frame::Reply(_) => return Ok(()),
                Frame::Service(Service::StreamChunk(chunk)) if receiver.is_some() => {
                    let taken = match receiver.as_deref_mut() {
                        Some(r) => r.chunk(chunk),
                        None => Ok(()),
                    };
                    // Re-armed for each accepted chunk, and once more at the first refused
                    // one (the wait for a full buffer was the host's time, not the plugin's).
                    let rearm = taken.is_ok() || !refused_before;
                    refused_before |= taken.is_err();
                    let reply = taken.map(|()| Vec::new()).map_err(|e| WireError::from(&e));
                    channel
                        .send(&Frame::Reply(reply.as_deref().map_err(Clone::clone)))
                        .map_err(|_| Broken::Died)?;
                    // The timeout bounds the wait for the next chunk, not the whole stream —
                    // until the stream is stopped: from then on the plugin has its timeout to
                    // return, however many refused chunks it goes on sending.
                    if rearm {
                        deadline = limit.map(|l| Instant::now() + l);
                    }
                }
                Frame::Service(Service::StreamCancelled) if receiver.is_some() => {
                    let cancelled = receiver.as_deref().is_none_or(|r| r.is_cancelled());
                    let reply = postcard::to_allocvec(&cancelled).unwrap_or_default();
                    channel
                        .send(&Frame::Reply(Ok(&reply)))
                        .map_err(|_| Broken::Died)?;
                }
                Frame::Service(service) => {
                    // The timeout bounds the plugin's own time: the time the host spends
                    // answering (another plugin's service, a wrapper's `next` running the
                    // rest of the onion) is given back.
                    let asked = Instant::now();
                    answer(&*self.services, service, channel).map_err(|_| Broken::Died)?;
                    deadline = deadline.map(|d| d + asked.elapsed());
                }
                Frame::Log { level, message } => log(&*self.services, level, message),
                Frame::Call(_) => {
                    return Err(Broken::Protocol("a call from the runner's side".into()))
                }
            }
        }
    }

    /// An idle channel to `runner`, or a new one.
    fn channel(&self, runner: &Runner) -> Result<(Channel, Vec<u8>), PluginError> {
        if let Some(idle) = runner.idle.lock().pop() {
            return Ok(idle);
        }
        let unavailable = |e: std::io::Error| {
            PluginError::with_code(
                RUNNER_DIED,
                format!("cannot open a channel to `{}`'s runner: {e}", self.plugin),
            )
        };
        let (mut ours, theirs) = Channel::pair(self.launch.max_frame).map_err(unavailable)?;
        ours.set_spin(CALLER_SPIN);
        runner
            .control
            .lock()
            .send_with_fds(&Control::Channel, &[theirs.as_fd()])
            .map_err(unavailable)?;
        Ok((ours, Vec::new()))
    }

    /// The current runner if it is alive. A dead one's supervisor is restarting it (or giving
    /// the plugin up): wait for that outcome, whichever it is.
    fn live_runner(&self) -> Result<Arc<Runner>, PluginError> {
        let runner = self.current.load_full();
        if !runner.dead.load(Ordering::Acquire) {
            return Ok(runner);
        }
        let deadline = Instant::now() + RESTART_WAIT;
        let mut guard = self.changes.lock();
        loop {
            let runner = self.current.load_full();
            if !runner.dead.load(Ordering::Acquire) {
                return Ok(runner);
            }
            let over = self.given_up.load(Ordering::Acquire)
                || self.closing.load(Ordering::Acquire)
                || self.changed.wait_until(&mut guard, deadline).timed_out();
            if over {
                drop(guard);
                return Err(PluginError::with_code(
                    RUNNER_UNAVAILABLE,
                    format!("`{}` has no runner: {}", self.plugin, runner.exit_reason()),
                )
                .next_step("see the audit log for its crashes; load it again once fixed"));
            }
        }
    }

    /// Called by the supervisor when `generation`'s runner has ended.
    fn runner_exited(self: &Arc<Self>, generation: u32, reason: &str) {
        if self.closing.load(Ordering::Acquire) || self.current.load().generation != generation {
            return;
        }
        // A kill at an extension point's timeout restarts the runner without counting as a
        // crash: a slow contribution under `skip` must not fail the whole plugin.
        let for_point = self.killed_for_point.swap(false, Ordering::AcqRel);
        let crashes = if for_point {
            self.crashes.load(Ordering::Acquire).max(1)
        } else {
            self.crashes.fetch_add(1, Ordering::AcqRel) + 1
        };
        let max = self.decision.limits.max_restarts;
        let restart = for_point || crashes <= max;
        let active = self.tell(RunnerEvent::Exited { reason, restart });
        if !restart {
            self.give_up(&format!(
                "its runner died {crashes} times without a successful call in between (the \
                 limit is {max} restarts); the last time: {reason}"
            ));
            return;
        }
        let backoff = Duration::from_millis(self.decision.limits.restart_backoff_ms)
            .saturating_mul(1 << (crashes - 1).min(16))
            .min(MAX_BACKOFF);
        std::thread::sleep(backoff);
        if self.closing.load(Ordering::Acquire) {
            return;
        }
        let spawned = spawn(
            &self.launch.command,
            &self.launch.init,
            self.launch.image.as_fd(),
            self.launch.max_frame,
            INIT_DEADLINE,
        );
        match spawned {
            Ok(spawned) => {
                let next = generation + 1;
                let runner = adopt(spawned, next, Arc::downgrade(self), self.services.clone());
                self.current.store(runner);
                let started = if active { self.start_plugin() } else { Ok(()) };
                self.notify();
                match started {
                    Ok(()) => {
                        self.tell(RunnerEvent::Restarted { generation: next });
                    }
                    Err(e) => self.give_up(&format!("the restarted plugin did not start: {e}")),
                }
            }
            Err(e) => self.give_up(&format!("a new runner did not start: {}", e.message)),
        }
    }

    fn give_up(&self, reason: &str) {
        self.given_up.store(true, Ordering::Release);
        self.notify();
        self.tell(RunnerEvent::GaveUp { reason });
    }

    fn tell(&self, event: RunnerEvent<'_>) -> bool {
        match &*self.owner.read() {
            Some(owner) => owner(event),
            None => false,
        }
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::Release);
        let runner = self.current.load();
        runner.control.lock().shutdown();
        runner.kill();
    }
}

/// Wraps a started runner, and starts its supervisor and the thread serving its outbound
/// channel (services asked from threads the plugin started itself).
fn adopt(
    spawned: Spawned,
    generation: u32,
    owner: Weak<Isolated>,
    services: Arc<dyn HostServices>,
) -> Arc<Runner> {
    let Spawned {
        mut child,
        control,
        outbound,
        layers,
    } = spawned;
    let pid = child.id();
    #[cfg(target_os = "linux")]
    let pidfd = rustix::process::Pid::from_raw(pid as i32)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok());
    #[cfg(not(target_os = "linux"))]
    let pidfd = None;
    let runner = Arc::new(Runner {
        pid,
        generation,
        pidfd,
        control: Mutex::new(control),
        idle: Mutex::new(Vec::new()),
        layers,
        dead: AtomicBool::new(false),
        exit: Mutex::new(None),
        exited: Condvar::new(),
    });
    let watched = runner.clone();
    let supervisor = std::thread::Builder::new()
        .name(format!("switchboard-supervise-{pid}"))
        .spawn(move || {
            let reason = match child.wait() {
                Ok(status) => describe_exit(status),
                Err(e) => format!("cannot be waited for: {e}"),
            };
            super::sandbox::release(pid);
            watched.dead.store(true, Ordering::Release);
            *watched.exit.lock() = Some(reason.clone());
            watched.exited.notify_all();
            // Wake every caller blocked on one of its channels.
            for (channel, _) in watched.idle.lock().drain(..) {
                channel.shutdown();
            }
            if let Some(isolated) = owner.upgrade() {
                isolated.runner_exited(watched.generation, &reason);
            }
        });
    if supervisor.is_err() {
        // Without a supervisor nobody would notice its death: kill it now, so calls fail
        // cleanly rather than hang.
        runner.kill();
    }
    let _ = std::thread::Builder::new()
        .name(format!("switchboard-outbound-{pid}"))
        .spawn(move || serve_outbound(outbound, &*services));
    runner
}

/// Serves services asked from the plugin's own threads until the runner ends.
fn serve_outbound(mut channel: Channel, services: &dyn HostServices) {
    let mut buf = Vec::new();
    while channel.recv(&mut buf).is_ok() {
        let Ok(frame) = postcard::from_bytes::<Frame<'_>>(&buf) else {
            return;
        };
        match frame {
            Frame::Service(service) => {
                if answer(services, service, &mut channel).is_err() {
                    return;
                }
            }
            Frame::Log { level, message } => log(services, level, message),
            _ => return,
        }
    }
}

/// Answers one service request of the plugin on `channel`, with its services (which check its
/// token as in-process).
fn answer(
    services: &dyn HostServices,
    service: Service<'_>,
    channel: &mut Channel,
) -> std::io::Result<()> {
    let reply = serve(services, service);
    channel.send(&Frame::Reply(reply.as_deref().map_err(Clone::clone)))
}

/// A log line of the plugin, to the host's sink.
fn log(services: &dyn HostServices, level: u8, message: &str) {
    services.log(Level::from_u8(level).unwrap_or(Level::Info), message);
}

enum Broken {
    TimedOut,
    Died,
    Protocol(String),
}

fn io_broken(e: &std::io::Error) -> Broken {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Broken::TimedOut,
        std::io::ErrorKind::InvalidData => Broken::Protocol(e.to_string()),
        _ => Broken::Died,
    }
}
