//! Handles callers keep: a plugin, a typed command, a raw command. Names are resolved and
//! contracts checked once, when the handle is made.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use switchboard_sdk::abi::gather::{run_store, Gather};
use switchboard_sdk::abi::{ResponseBuffer, WindowSink};
use switchboard_sdk::caps::{Access, Capability};
use switchboard_sdk::{
    view_contract, EmbeddedManifest, Health, Message, MessageRef, View, RAW_BYTES_CONTRACT,
};

use super::{Code, Instance};
use crate::caps::{Grant, Token};
use crate::error::{CallError, CapsError, Error, LifecycleError};
use crate::lifecycle::{State, Transition};
use crate::metrics::CommandRecorder;
use crate::reload::{ReloadReport, Reloads};
use crate::LoadOptions;

/// A loaded plugin, as callers see it.
///
/// # Example
///
/// ```no_run
/// # fn demo(host: &switchboard_host::Host) -> Result<(), switchboard_host::Error> {
/// let hello = host.plugin("hello")?;
/// let greet = hello.command::<String, String>("greet")?;
/// assert_eq!(greet.call(&"Ada".to_string())?, "Hello, Ada!");
/// println!("{} is {}", hello.name(), hello.state());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PluginHandle {
    pub(crate) instance: Instance,
}

impl fmt::Debug for PluginHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.instance.fmt(f)
    }
}

impl PluginHandle {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        self.instance.name()
    }

    /// The plugin's version (the version serving now: a hot reload changes it).
    pub fn version(&self) -> String {
        self.instance.code().manifest().version.clone()
    }

    /// The manifest read from the library's section before it was opened (of the version
    /// serving now).
    pub fn manifest(&self) -> Arc<EmbeddedManifest> {
        self.instance.manifest()
    }

    /// The trust level its package earned (`unsigned` for development loads).
    pub fn trust(&self) -> crate::package::TrustLevel {
        self.instance.code().provenance().trust
    }

    /// The settings its load did not apply (`SB1120`, `SB1121`): the limits and strict sandbox
    /// of its manifest when it runs in-process — see
    /// [`not_applied_for`](crate::not_applied_for). Also in the load's audit row and logged (`log`
    /// target `switchboard::load`); a host application can show them to its operator.
    pub fn warnings(&self) -> Vec<switchboard_sdk::manifest::Diagnostic> {
        self.instance.warnings()
    }

    /// The key id that signed its package, if any.
    pub fn signer(&self) -> Option<String> {
        self.instance.code().provenance().signer.clone()
    }

    /// The file the plugin's serving version was loaded from.
    pub fn source(&self) -> PathBuf {
        self.instance.source()
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.instance.state()
    }

    /// Every state change so far, oldest first.
    pub fn history(&self) -> Vec<Transition> {
        self.instance.history()
    }

    /// Runs the plugin's `start` hook: loaded or stopped → starting → active (or failed).
    pub fn start(&self) -> Result<(), LifecycleError> {
        self.instance.start()
    }

    /// Runs the plugin's `stop` hook: active → stopping → stopped (or failed). Waits for the
    /// hook at most [`HostBuilder::stop_deadline`](crate::HostBuilder::stop_deadline); a hook
    /// still running then is abandoned, the plugin is failed and keeps no host service, and the
    /// error is `SB0321` (its thread cannot be killed in-process). Once stopped, the plugin's
    /// access is suspended until it starts again (`SB0320` for any thread still using it).
    pub fn stop(&self) -> Result<(), LifecycleError> {
        self.instance.stop()
    }

    /// Where the plugin runs — in-process or isolated in a runner process — why (policy's
    /// decision), and for an isolated plugin the sandbox layers in force (SPEC S7.2).
    pub fn isolation(&self) -> crate::isolation::Isolation {
        self.instance.isolation()
    }

    /// The plugin's health: its own report when active, unhealthy otherwise. This asks the
    /// plugin's hook on the caller's thread, with no deadline; [`health_status`](Self::health_status)
    /// is what the host's checks concluded.
    pub fn health(&self) -> Health {
        self.instance.health()
    }

    /// The plugin's health as the host's last check evaluated it — state, reasons, since
    /// when — or `None` before its first check ([`Host::check_health`](crate::Host::check_health),
    /// or the periodic one every [`HostBuilder::health_interval`](crate::HostBuilder::health_interval)).
    pub fn health_status(&self) -> Option<crate::HealthStatus> {
        self.instance.health_record().last()
    }

    /// The instance's capability token (an index and generation into
    /// [`Host::grant_table`](crate::Host::grant_table)). Stale once the plugin is removed;
    /// each version a hot reload puts in place has a token of its own.
    pub fn token(&self) -> Token {
        self.instance.code().caps().gate.token
    }

    /// The capabilities its manifest requests (a bare `events.publish` read as its own
    /// namespace).
    pub fn requested(&self) -> Vec<Capability> {
        let code = self.instance.code();
        let gate = &code.caps().gate;
        gate.table
            .set(gate.token)
            .map(|s| s.requested.clone())
            .unwrap_or_default()
    }

    /// The grants it holds now.
    pub fn grants(&self) -> Vec<Grant> {
        let code = self.instance.code();
        let gate = &code.caps().gate;
        gate.table.grants(gate.token)
    }

    /// The requests refused at load, with the reason.
    pub fn denied(&self) -> Vec<(Capability, String)> {
        let code = self.instance.code();
        let gate = &code.caps().gate;
        gate.table
            .set(gate.token)
            .map(|s| s.denied.clone())
            .unwrap_or_default()
    }

    /// Checks whether the plugin may perform `access` — for services the host application
    /// offers plugins itself. A denial is audited, like those of the built-in services.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use switchboard_sdk::caps::Access;
    /// # fn demo(hello: &switchboard_host::PluginHandle) -> Result<(), switchboard_host::Error> {
    /// hello.check(&Access::CallService("billing.charge"))?;
    /// // … perform the host's own service for the plugin …
    /// # Ok(()) }
    /// ```
    pub fn check(&self, access: &Access<'_>) -> Result<(), CapsError> {
        self.instance.code().caps().gate.authorize(access)
    }

    /// A typed handle on command `name`, its request and response contracts checked now.
    ///
    /// `Req` and `Resp` are usually [`Message`] types, called with [`Command::call`]. Either
    /// may also be a message that borrows (`Chunk<'static>` for `#[derive(Message)] struct
    /// Chunk<'a> { data: &'a [u8] }`), called with [`Command::call_with`], which reads the
    /// response where the plugin wrote it instead of copying it out.
    ///
    /// The handle survives hot reloads ([`reload`](Self::reload)): after one, its next call
    /// finds the command again by name in the new version and checks its contracts again; a
    /// command the new version removed is `SB0373`, one whose contract changed is `SB0374`.
    pub fn command<Req: View, Resp: View>(
        &self,
        name: &str,
    ) -> Result<Command<Req, Resp>, CallError> {
        let contracts = (view_contract::<Req>().id, view_contract::<Resp>().id);
        let code = self.instance.code();
        let binding = Binding::resolve(&self.instance, &code, name, Some(contracts), None, false)?;
        Ok(Command {
            instance: self.instance.clone(),
            binding,
            _types: PhantomData,
        })
    }

    /// A handle on the streaming command `name` (one declared with `out: &mut Sink<'_, Chunk>`),
    /// its request, chunk and summary contracts checked now. A plain command is refused
    /// (`SB1731`), as [`command`](Self::command) refuses a streaming one (`SB1730`).
    ///
    /// ```no_run
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, switchboard_sdk::Message)] pub struct Prompt { text: String }
    /// # #[derive(Serialize, Deserialize, switchboard_sdk::Message)] pub struct Token { text: String }
    /// # #[derive(Serialize, Deserialize, switchboard_sdk::Message)] pub struct Summary { tokens: u64 }
    /// # fn demo(host: &switchboard_host::Host) -> Result<(), switchboard_host::Error> {
    /// let generate = host
    ///     .plugin("instrument")?
    ///     .stream_command::<Prompt, Token, Summary>("generate")?;
    /// let mut stream = generate.start(&Prompt { text: "hello".into() })?;
    /// for token in &mut stream {
    ///     print!("{}", token?.text);
    /// }
    /// let done = stream.finish()?;
    /// println!("\n{} tokens", done.usage.get("tokens"));
    /// # Ok(()) }
    /// ```
    pub fn stream_command<Req: Message, Chunk: Message, Summary: Message>(
        &self,
        name: &str,
    ) -> Result<super::StreamCommand<Req, Chunk, Summary>, CallError> {
        let contracts = (Req::CONTRACT.id, Summary::CONTRACT.id);
        let code = self.instance.code();
        let binding = Binding::resolve(
            &self.instance,
            &code,
            name,
            Some(contracts),
            Some(Chunk::CONTRACT.id),
            false,
        )?;
        Ok(super::StreamCommand::new(self.instance.clone(), binding))
    }

    /// A raw-bytes handle on command `name`. Any command can be called raw: a typed command
    /// takes and returns its messages' postcard bytes.
    pub fn raw_command(&self, name: &str) -> Result<RawCommand, CallError> {
        let code = self.instance.code();
        let binding = Binding::resolve(&self.instance, &code, name, None, None, false)?;
        Ok(RawCommand {
            instance: self.instance.clone(),
            binding,
        })
    }

    /// Swaps the plugin's code for the library or package at `source` while it serves: a
    /// hot reload (SPEC S8.3). See [`reload_with`](Self::reload_with).
    pub fn reload(&self, source: impl AsRef<Path>) -> Result<ReloadReport, Error> {
        self.reload_with(source, &LoadOptions::default())
    }

    /// Swaps the plugin's code for `source` — a development library (with the development
    /// opt-in) or a `.sbpkg` package, as the load APIs take them, with the same `options` —
    /// without its callers noticing: handles keep working; calls in flight finish on the old
    /// code, new ones wait for the handover and go to the new code; the old version's
    /// [`snapshot`](switchboard_sdk::Plugin::snapshot) goes to the new one's
    /// [`restore`](switchboard_sdk::Plugin::restore); the plugin's KV, secrets and
    /// configuration stay (same name). The new version passes every load check first.
    ///
    /// A failure at any step leaves the old version serving and says which step
    /// (`SB0365`–`SB0371`). Each reload maps a fresh copy of an in-process library that
    /// stays mapped (ARCHITECTURE D2), so they are bounded per plugin
    /// ([`HostBuilder::max_reloads`](crate::HostBuilder::max_reloads), `SB0363`).
    ///
    /// ```no_run
    /// # fn demo(host: &switchboard_host::Host) -> Result<(), switchboard_host::Error> {
    /// let counter = host.plugin("counter")?;
    /// let report = counter.reload("target/debug/libcounter.so")?;
    /// println!("{} → {} (paused {:?})", report.from, report.to, report.paused);
    /// # Ok(()) }
    /// ```
    pub fn reload_with(
        &self,
        source: impl AsRef<Path>,
        options: &LoadOptions,
    ) -> Result<ReloadReport, Error> {
        crate::reload::reload(&self.instance, source.as_ref(), options)
    }

    /// How often it was reloaded since it was loaded, and against what bound.
    pub fn reloads(&self) -> Reloads {
        crate::reload::counts(&self.instance)
    }
}

/// A command resolved by name against one generation of a plugin's code, and resolved again
/// by name when a hot reload changed the generation.
pub(crate) struct Binding {
    pub(crate) name: String,
    /// The generation (high half) and command index (low half) it was last resolved against.
    at: AtomicU64,
    /// The contract ids a typed handle was checked against (request, response); `None` for
    /// a raw handle.
    contracts: Option<(&'static str, &'static str)>,
    /// `Some(chunk contract)` for a streaming handle; `None` for a plain one (which a
    /// streaming command refuses).
    stream: Option<&'static str>,
    /// Where its calls are counted and timed; `None` when the host records no metrics.
    pub(crate) recorder: Option<Arc<CommandRecorder>>,
    /// A response of this command came back longer than the small-call window: its typed
    /// calls take the thread's reused buffers from then on, where the window would have
    /// allocated a spill buffer on every call.
    spills: AtomicBool,
}

impl Clone for Binding {
    fn clone(&self) -> Self {
        Binding {
            name: self.name.clone(),
            at: AtomicU64::new(self.at.load(Ordering::Relaxed)),
            contracts: self.contracts,
            stream: self.stream,
            recorder: self.recorder.clone(),
            spills: AtomicBool::new(self.spills.load(Ordering::Relaxed)),
        }
    }
}

fn packed(generation: u32, index: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(index)
}

impl Binding {
    /// A raw binding to command number `index` of `code` (a service method the plugin
    /// provides); its name is how a reload finds it again.
    pub(crate) fn raw(instance: &Instance, name: &str, code: &Code, index: u32) -> Binding {
        Binding {
            name: name.to_owned(),
            at: AtomicU64::new(packed(code.generation(), index)),
            contracts: None,
            stream: None,
            recorder: instance.command_recorder(name),
            spills: AtomicBool::new(false),
        }
    }

    /// Finds `name` in `code` and checks `contracts`. `reloaded`: the errors say the command
    /// changed in a reload (`SB0373`, `SB0374`) rather than that it was never there.
    pub(crate) fn resolve(
        instance: &Instance,
        code: &Code,
        name: &str,
        contracts: Option<(&'static str, &'static str)>,
        stream: Option<&'static str>,
        reloaded: bool,
    ) -> Result<Binding, CallError> {
        let manifest = code.manifest();
        let plugin = || instance.name().to_owned();
        let found = manifest
            .command_index(name)
            .and_then(|i| Some((i, manifest.commands.get(i as usize)?)));
        let Some((index, decl)) = found else {
            let available = manifest
                .commands
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(if reloaded {
                CallError::CommandRemoved {
                    plugin: plugin(),
                    command: name.to_owned(),
                    version: manifest.version.clone(),
                    available,
                }
            } else {
                CallError::UnknownCommand {
                    plugin: plugin(),
                    command: name.to_owned(),
                    available,
                }
            });
        };
        match (stream, &decl.stream) {
            (None, Some(_)) => {
                return Err(CallError::StreamingCommand {
                    plugin: plugin(),
                    command: name.to_owned(),
                })
            }
            (Some(_), None) => {
                return Err(CallError::NotStreaming {
                    plugin: plugin(),
                    command: name.to_owned(),
                })
            }
            (Some(used), Some(declared)) if used != declared.as_str() => {
                return Err(CallError::ContractMismatch {
                    plugin: plugin(),
                    command: name.to_owned(),
                    side: "chunk",
                    declared: declared.clone(),
                    used: used.to_owned(),
                })
            }
            _ => {}
        }
        if let Some((request, response)) = contracts {
            for (side, declared, used) in [
                ("request", &decl.request, request),
                ("response", &decl.response, response),
            ] {
                if declared != used {
                    return Err(if reloaded {
                        CallError::ContractChanged {
                            plugin: plugin(),
                            command: name.to_owned(),
                            declared: declared.clone(),
                            used: used.to_owned(),
                        }
                    } else {
                        CallError::ContractMismatch {
                            plugin: plugin(),
                            command: name.to_owned(),
                            side,
                            declared: declared.clone(),
                            used: used.to_owned(),
                        }
                    });
                }
            }
        }
        Ok(Binding {
            name: name.to_owned(),
            at: AtomicU64::new(packed(code.generation(), index)),
            contracts,
            stream,
            recorder: if reloaded {
                None
            } else {
                instance.command_recorder(name)
            },
            spills: AtomicBool::new(false),
        })
    }

    /// The command's index in `code`: the one resolved before, unless a reload put a newer
    /// generation in place since.
    ///
    /// The error is boxed here, on the cold path, so the call path's frame holds no
    /// 112-byte `CallError`.
    #[inline]
    pub(crate) fn method_in(
        &self,
        code: &Code,
        instance: &Instance,
    ) -> Result<u32, Box<CallError>> {
        let at = self.at.load(Ordering::Relaxed);
        if (at >> 32) as u32 == code.generation() {
            Ok(at as u32)
        } else {
            self.rebind(code, instance)
        }
    }

    #[cold]
    #[inline(never)]
    fn rebind(&self, code: &Code, instance: &Instance) -> Result<u32, Box<CallError>> {
        let fresh = Binding::resolve(
            instance,
            code,
            &self.name,
            self.contracts,
            self.stream,
            true,
        )
        .map_err(Box::new)?;
        let at = fresh.at.load(Ordering::Relaxed);
        self.at.store(at, Ordering::Relaxed);
        Ok(at as u32)
    }
}

thread_local! {
    /// Request and response buffers reused across typed calls on this thread. Initialised as a
    /// constant, so a call does not check whether it is the thread's first.
    static BUFFERS: RefCell<(Vec<u8>, ResponseBuffer)> =
        const { RefCell::new((Vec::new(), ResponseBuffer::new())) };
}

/// Buffers above this size are released after a call rather than kept for the next one.
const KEEP_BUFFER_BYTES: usize = 1 << 20;

/// The longest request a typed call encodes on its own stack and hands the plugin's
/// small-call entry (SDK ABI 1.4); a longer one takes the thread's reused buffers.
const REQUEST_WINDOW: usize = 256;

/// The response window a small typed call lends the plugin on its stack; a longer response
/// goes into a buffer of its own.
const RESPONSE_WINDOW: usize = 256;

/// A typed handle on one command, resolved once. Cheap to clone; calls need no lock.
pub struct Command<Req, Resp> {
    instance: Instance,
    binding: Binding,
    _types: PhantomData<fn(&Req) -> Resp>,
}

impl<Req, Resp> Clone for Command<Req, Resp> {
    fn clone(&self) -> Self {
        Command {
            instance: self.instance.clone(),
            binding: self.binding.clone(),
            _types: PhantomData,
        }
    }
}

impl<Req, Resp> fmt::Debug for Command<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("plugin", &self.instance.name())
            .field("command", &self.binding.name)
            .finish()
    }
}

impl<Req: Message, Resp: Message> Command<Req, Resp> {
    /// Calls the command, on the calling thread.
    ///
    /// **In-process, no timeout.** The plugin runs in this process on this thread, and nothing
    /// can stop native code that never returns: a call into an in-process plugin that hangs or
    /// loops blocks the calling thread for good, whatever the manifest's `[limits]
    /// call_timeout_ms` says (`SB1120` warns of it at load). A panic, by contrast, comes back
    /// as `SB0101`. **Isolated**, the call timeout applies: past it the call returns `SB1502`
    /// and the plugin's runner is killed and restarted. Run plugins you do not trust to return
    /// isolated (see [`crate::isolation`]).
    ///
    /// **Small calls.** When the plugin was built with SDK ABI 1.4 or later and runs
    /// in-process, a request that encodes to at most 256 bytes is encoded on this call's stack
    /// and the plugin writes a response of up to 256 bytes into a window on it too: no shared
    /// buffer, no thread-local. A longer response comes back in a buffer of its own, and from
    /// then on this handle's calls use this thread's reused buffers (so a command with large
    /// answers does not allocate one per call); a longer request, an older plugin or an
    /// isolated one use them too. Limits,
    /// errors and guarantees are the same on both paths, and the command runs once.
    #[inline]
    pub fn call(&self, request: &Req) -> Result<Resp, CallError> {
        // Unboxed only here, so the 112-byte error is not copied through every frame on the
        // path that succeeds.
        self.call_boxed(request).map_err(|e| *e)
    }

    #[inline]
    fn call_boxed(&self, request: &Req) -> Result<Resp, Box<CallError>> {
        if self.instance.windowed() && !self.binding.spills.load(Ordering::Relaxed) {
            // Not zeroed: the sink, not the trait method, says how many bytes were written
            // (`WindowSink::written`), so no `Message` impl can make the plugin read bytes
            // nobody wrote.
            let mut req = [MaybeUninit::<u8>::uninit(); REQUEST_WINDOW];
            let mut sink = WindowSink::new(&mut req);
            request.__encode_window(&mut sink);
            if let Some(encoded) = sink.written() {
                return self.call_windowed(encoded);
            }
        }
        self.call_buffered(request)
    }

    /// The small-call lane (SDK ABI 1.4): the request encoded on this frame's stack, the
    /// response written by the plugin into a window on it too, no thread-local and no shared
    /// buffer. A response longer than the window comes back in a buffer of its own (the
    /// command runs once either way).
    #[inline(always)]
    fn call_windowed(&self, request: &[u8]) -> Result<Resp, Box<CallError>> {
        let mut resp = [MaybeUninit::<u8>::uninit(); RESPONSE_WINDOW];
        let mut window = super::Window::new(&mut resp);
        self.instance
            .dispatch_with_usage(&self.binding, request, &mut window, None)?;
        if window.spilled() {
            self.binding.spills.store(true, Ordering::Relaxed);
        }
        Resp::__decode(window.bytes()).map_err(|e| self.undecodable(&e))
    }

    /// The general lane: the thread's reused buffers, for a request too long for the window
    /// or a plugin without the small-call entry.
    #[inline(never)]
    fn call_buffered(&self, request: &Req) -> Result<Resp, Box<CallError>> {
        BUFFERS.with(|cell| match cell.try_borrow_mut() {
            Ok(mut bufs) => {
                let (req, resp) = &mut *bufs;
                let result = self.call_owned(request, req, resp);
                if req.capacity() > KEEP_BUFFER_BYTES {
                    *req = Vec::new();
                }
                resp.release_if_larger_than(KEEP_BUFFER_BYTES);
                result
            }
            // A call made from inside another call on this thread (a re-entrant chain).
            Err(_) => self.call_owned(request, &mut Vec::new(), &mut ResponseBuffer::new()),
        })
    }

    #[inline]
    fn call_owned(
        &self,
        request: &Req,
        req: &mut Vec<u8>,
        resp: &mut ResponseBuffer,
    ) -> Result<Resp, Box<CallError>> {
        let mut sink = Gather::new(req);
        Message::__gather(request, &mut sink);
        self.send(&sink, resp)?;
        Resp::__decode(resp.as_slice()).map_err(|e| self.undecodable(&e))
    }
}

impl<Req: Message, Resp: Message> Command<Req, Resp> {
    /// [`call`](Self::call), returning with the response the usage the plugin reported
    /// during the call (`ctx.usage`, SPEC S1.6). The usage is counted in the host's metrics
    /// whichever way the command is called.
    ///
    /// ```no_run
    /// # fn demo(host: &switchboard_host::Host) -> Result<(), switchboard_host::Error> {
    /// let words = host.plugin("streamer")?.command::<u64, String>("words")?;
    /// let outcome = words.call_metered(&3)?;
    /// assert_eq!(outcome.usage.get("words"), 3);
    /// # Ok(()) }
    /// ```
    pub fn call_metered(&self, request: &Req) -> Result<CallOutcome<Resp>, CallError> {
        let mut req = Vec::new();
        request.__encode_into(&mut req);
        let mut resp = ResponseBuffer::new();
        let mut usage = super::Usage::default();
        self.instance
            .dispatch_with_usage(&self.binding, &req, &mut resp, Some(&mut usage))
            .map_err(|e| *e)?;
        let response = Resp::__decode(resp.as_slice()).map_err(|e| *self.undecodable(&e))?;
        Ok(CallOutcome { response, usage })
    }
}

/// A call's response and the usage the plugin reported during it ([`Command::call_metered`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CallOutcome<Resp> {
    /// The command's response.
    pub response: Resp,
    /// What the plugin reported with `ctx.usage` while serving the call.
    pub usage: super::Usage,
}

impl<Req: View, Resp: View> Command<Req, Resp> {
    /// Calls the command and hands `f` the response **as it lies in the response buffer**:
    /// a message that borrows (`&str`, `&[u8]` fields) points into the bytes the plugin wrote,
    /// with no copy and no allocation; the request, owned or borrowing, is encoded once into
    /// the buffer the plugin reads. Use it for large payloads you only need to look at; use
    /// [`Command::call`] for everything else (it returns an owned value you can keep).
    ///
    /// The borrow ends with `f`. A call made from inside `f` works (it uses buffers of its
    /// own). The same limits and errors as [`Command::call`] apply.
    ///
    /// ```no_run
    /// use serde::{Deserialize, Serialize};
    /// use switchboard_sdk::Message;
    ///
    /// #[derive(Serialize, Deserialize, Message)]
    /// pub struct Chunk<'a> {
    ///     pub data: &'a [u8],
    /// }
    ///
    /// # fn demo(plugin: &switchboard_host::PluginHandle) -> Result<(), Box<dyn std::error::Error>> {
    /// let echo = plugin.command::<Chunk<'static>, Chunk<'static>>("echo")?;
    /// let input = vec![7u8; 4096];
    /// let sum: u64 = echo.call_with(&Chunk { data: &input }, |reply: Chunk<'_>| {
    ///     reply.data.iter().map(|&b| u64::from(b)).sum()
    /// })?;
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn call_with<R>(
        &self,
        request: &Req::Of<'_>,
        f: impl for<'b> FnOnce(Resp::Of<'b>) -> R,
    ) -> Result<R, CallError> {
        BUFFERS
            .with(|cell| match cell.try_borrow_mut() {
                Ok(mut bufs) => {
                    let (req, resp) = &mut *bufs;
                    let result = self.call_view(request, req, resp, f);
                    if req.capacity() > KEEP_BUFFER_BYTES {
                        *req = Vec::new();
                    }
                    resp.release_if_larger_than(KEEP_BUFFER_BYTES);
                    result
                }
                Err(_) => self.call_view(request, &mut Vec::new(), &mut ResponseBuffer::new(), f),
            })
            .map_err(|e| *e)
    }

    /// Always inlined into the closure `call_with` passes to `LocalKey::with`: out of line, it
    /// handed its result back through memory in pieces that the closure then read whole — two
    /// store-to-load forwarding stalls a call, about 20 ns of a borrowed 4 KiB call with the
    /// bench's `(usize, Option<u8>)` result (`docs/architecture.md`, *What did pay: the
    /// stalls*).
    #[inline(always)]
    fn call_view<R>(
        &self,
        request: &Req::Of<'_>,
        req: &mut Vec<u8>,
        resp: &mut ResponseBuffer,
        f: impl for<'b> FnOnce(Resp::Of<'b>) -> R,
    ) -> Result<R, Box<CallError>> {
        // Long byte and string fields are not copied: the plugin reads them where the caller
        // keeps them (SDK ABI 1.5's gathered requests).
        let mut sink = Gather::new(req);
        request.__gather(&mut sink);
        self.send(&sink, resp)?;
        let view = <Resp::Of<'_> as MessageRef<'_>>::__decode_ref(resp.as_slice())
            .map_err(|e| self.undecodable(&e))?;
        Ok(f(view))
    }
}

impl<Req, Resp> Command<Req, Resp> {
    /// Sends the request `sink` encoded: in one buffer when nothing was gathered (the call
    /// path every raw call takes), as runs of the caller's bytes otherwise.
    #[inline(always)]
    fn send(&self, sink: &Gather<'_, '_>, resp: &mut ResponseBuffer) -> Result<(), Box<CallError>> {
        let mut runs = run_store();
        let input = sink.input(&mut runs);
        match input.contiguous() {
            Some(bytes) => self.instance.dispatch(&self.binding, bytes, resp),
            None => self
                .instance
                .dispatch_input(&self.binding, input, resp, None),
        }
    }

    /// The command's name.
    pub fn name(&self) -> &str {
        &self.binding.name
    }

    /// A response that does not decode: an error of the call, counted as one (the call
    /// itself was counted as a success when it returned).
    #[cold]
    fn undecodable(&self, error: &switchboard_sdk::PluginError) -> Box<CallError> {
        let e = CallError::Decode {
            plugin: self.instance.name().to_owned(),
            command: self.binding.name.clone(),
            reason: error.message().to_owned(),
        };
        if let Some(r) = &self.binding.recorder {
            r.error(e.code());
        }
        Box::new(e)
    }
}

/// A raw-bytes handle on one command, resolved once.
#[derive(Clone)]
pub struct RawCommand {
    instance: Instance,
    binding: Binding,
}

impl fmt::Debug for RawCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawCommand")
            .field("plugin", &self.instance.name())
            .field("command", &self.binding.name)
            .finish()
    }
}

impl RawCommand {
    /// Command `name` of `code` (the version serving, or the one a reload is about to put
    /// in place), called through `instance`.
    pub(crate) fn in_code(
        instance: &Instance,
        code: &super::Code,
        name: &str,
    ) -> Result<RawCommand, CallError> {
        Ok(RawCommand {
            instance: instance.clone(),
            binding: Binding::resolve(instance, code, name, None, None, false)?,
        })
    }

    /// Calls the command with `request`, returning the response bytes. Like
    /// [`Command::call`], it has no timeout: a hung plugin blocks the calling thread.
    pub fn call(&self, request: &[u8]) -> Result<Vec<u8>, CallError> {
        let mut out = Vec::new();
        self.call_into(request, &mut out)?;
        Ok(out)
    }

    /// Calls the command; the response replaces the contents of `out`, reusing its allocation.
    #[inline]
    pub fn call_into(&self, request: &[u8], out: &mut Vec<u8>) -> Result<(), CallError> {
        self.call_with(request, |resp| {
            out.clear();
            out.extend_from_slice(resp);
        })
    }

    /// Calls the command with a response buffer the caller keeps and reuses: no copy, no
    /// thread-local lookup — the fastest way to make many raw calls from one place.
    ///
    /// ```no_run
    /// # fn demo(cmd: &switchboard_host::RawCommand) -> Result<(), switchboard_host::CallError> {
    /// let mut buf = switchboard_host::ResponseBuffer::new();
    /// for chunk in [&b"abc"[..], b"def"] {
    ///     let response = cmd.call_buffered(chunk, &mut buf)?;
    ///     println!("{} bytes", response.len());
    /// }
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn call_buffered<'b>(
        &self,
        request: &[u8],
        out: &'b mut ResponseBuffer,
    ) -> Result<&'b [u8], CallError> {
        self.instance
            .dispatch(&self.binding, request, out)
            .map_err(|e| *e)?;
        Ok(out.as_slice())
    }

    /// Calls the command and hands the response bytes to `f` without copying them.
    #[inline]
    pub fn call_with<R>(&self, request: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<R, CallError> {
        BUFFERS.with(|cell| match cell.try_borrow_mut() {
            Ok(mut bufs) => {
                let resp = &mut bufs.1;
                self.instance
                    .dispatch(&self.binding, request, resp)
                    .map_err(|e| *e)?;
                let r = f(resp.as_slice());
                resp.release_if_larger_than(KEEP_BUFFER_BYTES);
                Ok(r)
            }
            Err(_) => {
                let mut resp = ResponseBuffer::new();
                self.instance
                    .dispatch(&self.binding, request, &mut resp)
                    .map_err(|e| *e)?;
                Ok(f(resp.as_slice()))
            }
        })
    }

    /// Whether the command declares raw bytes on both sides.
    pub fn is_raw(&self) -> bool {
        let manifest = self.instance.manifest();
        manifest
            .command_index(&self.binding.name)
            .and_then(|i| manifest.commands.get(i as usize))
            .is_some_and(|c| c.request == RAW_BYTES_CONTRACT && c.response == RAW_BYTES_CONTRACT)
    }

    /// The command's name.
    pub fn name(&self) -> &str {
        &self.binding.name
    }
}
