//! The plugin side: turning a [`PluginEntry`] type into the exported root module.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Once};

use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RBox, RResult, RSlice, RStr, RString, RVec};

use super::gather::{Input, Run, GATHERED};
use super::output::Output;
use super::types::{
    AbiError, AbiHealth, CommandEntries, CommandEntry, HostContextBox, PluginModule,
    PluginModuleRef, PluginObject, PluginObjectBox, PluginObject_TO, StreamSinkBox, WindowEntry,
    WindowFn,
};
use crate::caps::Access;
use crate::context::{Context, ContextBackend, Level};
use crate::error::{codes, PluginError};
use crate::message::{decode_as, encode_into};
use crate::plugin::{Health, PluginEntry};
use crate::state::{CasOutcome, CasRequest, CommitBatch, CommitOutcome, KvEntry, KvPage, Secret};

/// Builds the root module for plugin type `P`. Called once, by the exported loader.
pub fn root_module<P: PluginEntry>() -> PluginModuleRef {
    PluginModule {
        sdk_abi_major: super::SDK_ABI_MAJOR,
        sdk_abi_minor: super::SDK_ABI_MINOR,
        manifest: RSlice::from_slice(P::MANIFEST),
        instantiate: instantiate::<P>,
    }
    .leak_into_prefix()
}

/// Creates the plugin object. Panics in [`Plugin::create`](crate::Plugin::create) become errors.
pub extern "C" fn instantiate<P: PluginEntry>(
    host: HostContextBox,
) -> RResult<PluginObjectBox, AbiError> {
    panic_message_hook_install();
    let ctx = Context::from_backend(Arc::new(HostLink { host }));
    match guard(|| P::create(&ctx)) {
        Ok(plugin) => RResult::ROk(PluginObject_TO::from_value(
            Adapter { plugin, ctx },
            TD_Opaque,
        )),
        Err(e) => RResult::RErr(to_abi(e)),
    }
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once per library) a panic hook that records the message and location of a panic
/// for the error the host receives, instead of printing it: a library never prints.
pub fn panic_message_hook_install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string panic payload".to_owned());
            let text = match info.location() {
                Some(loc) => format!("{msg} (at {}:{})", loc.file(), loc.line()),
                None => msg,
            };
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(text));
        }));
    });
}

/// Runs plugin code; a panic becomes a coded [`PluginError`] and never unwinds across the ABI.
/// Always inlined: the small-call entry's one frame holds it (issue 17; left to the
/// heuristics, it became a frame of its own once the entry had two callers of it).
#[inline(always)]
fn guard<T>(f: impl FnOnce() -> Result<T, PluginError>) -> Result<T, PluginError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(panicked()),
    }
}

/// The error for a panic [`guard`] caught, with the message the panic hook kept.
#[cold]
#[inline(never)]
fn panicked() -> PluginError {
    let text = LAST_PANIC
        .with(|p| p.borrow_mut().take())
        .unwrap_or_else(|| "the plugin panicked".to_owned());
    PluginError::with_code(codes::PLUGIN_PANICKED, format!("plugin panicked: {text}"))
}

pub(super) fn to_abi(e: PluginError) -> AbiError {
    AbiError {
        code: e.code().number(),
        message: RString::from(e.message()),
        next_step: RString::from(e.next_step_hint().unwrap_or_default()),
    }
}

/// What a host gets from a plugin built before streaming (SDK ABI 1.3).
pub(super) fn stream_unsupported() -> PluginError {
    PluginError::with_code(
        codes::STREAM_UNSUPPORTED,
        "this plugin predates SDK ABI 1.3 and has no streaming commands",
    )
    .next_step("rebuild the plugin against switchboard-sdk 1.3 or later")
}

/// What a plugin gets from a host built before metering (SDK ABI 1.3).
pub(super) fn usage_unsupported() -> PluginError {
    PluginError::with_code(
        codes::USAGE_UNSUPPORTED,
        "this host predates SDK ABI 1.3 and does not meter usage; nothing was recorded",
    )
    .next_step("run the plugin in a host built with switchboard-host 1.3 or later")
}

/// A host's stream sink, seen by the plugin through [`RawSink`](crate::stream::RawSink).
struct AbiSink<'s> {
    sink: StreamSinkBox<'s>,
}

impl crate::stream::RawSink for AbiSink<'_> {
    fn send(&mut self, chunk: &[u8]) -> Result<(), PluginError> {
        from_rresult(self.sink.send(RSlice::from_slice(chunk)))
    }

    fn is_cancelled(&self) -> bool {
        self.sink.is_cancelled()
    }
}

#[inline]
fn to_rresult(r: Result<(), PluginError>) -> RResult<(), AbiError> {
    match r {
        Ok(()) => RResult::ROk(()),
        Err(e) => RResult::RErr(to_abi(e)),
    }
}

/// Adapts a [`PluginEntry`] type to the ABI trait, guarding every entry point.
struct Adapter<P> {
    plugin: P,
    ctx: Context,
}

impl<P: PluginEntry> PluginObject for Adapter<P> {
    fn start(&self) -> RResult<(), AbiError> {
        to_rresult(guard(|| self.plugin.start(&self.ctx)))
    }

    fn stop(&self) -> RResult<(), AbiError> {
        to_rresult(guard(|| self.plugin.stop(&self.ctx)))
    }

    #[inline]
    fn dispatch(
        &self,
        method: u32,
        request: RSlice<'_, u8>,
        response: &mut RVec<u8>,
    ) -> RResult<(), RBox<AbiError>> {
        let mut out = Output::from_rvec(response);
        // The hot path: the error is boxed so the result fits in two registers.
        match guard(|| {
            dispatch_any(
                &self.plugin,
                &self.ctx,
                method,
                Input::bytes(request.as_slice()),
                &mut out,
            )
        }) {
            Ok(()) => RResult::ROk(()),
            Err(e) => RResult::RErr(RBox::new(to_abi(e))),
        }
    }

    fn window_entry(&self) -> WindowEntry {
        WindowEntry {
            this: std::ptr::from_ref(self).cast(),
            call: Some(window_call::<P> as WindowFn),
        }
    }

    fn command_entries(&self) -> CommandEntries {
        CommandEntries {
            this: std::ptr::from_ref(self).cast(),
            entries: RSlice::from_slice(CommandEntryOf::erase(P::COMMAND_ENTRIES)),
        }
    }

    fn dispatch_stream(
        &self,
        method: u32,
        request: RSlice<'_, u8>,
        sink: StreamSinkBox<'_>,
        response: &mut RVec<u8>,
    ) -> RResult<(), RBox<AbiError>> {
        let mut out = Output::from_rvec(response);
        let mut sink = AbiSink { sink };
        match guard(|| {
            self.plugin
                .dispatch_stream(&self.ctx, method, request.as_slice(), &mut sink, &mut out)
        }) {
            Ok(()) => RResult::ROk(()),
            Err(e) => RResult::RErr(RBox::new(to_abi(e))),
        }
    }

    fn on_event(&self, topic: RStr<'_>, envelope: RSlice<'_, u8>) -> RResult<(), AbiError> {
        to_rresult(guard(|| {
            self.plugin
                .on_event(&self.ctx, topic.as_str(), envelope.as_slice())
        }))
    }

    fn snapshot(&self) -> RResult<RVec<u8>, AbiError> {
        match guard(|| self.plugin.snapshot(&self.ctx)) {
            Ok(bytes) => RResult::ROk(RVec::from(bytes)),
            Err(e) => RResult::RErr(to_abi(e)),
        }
    }

    fn restore(&self, state: RSlice<'_, u8>) -> RResult<(), AbiError> {
        to_rresult(guard(|| self.plugin.restore(&self.ctx, state.as_slice())))
    }

    fn health(&self) -> AbiHealth {
        let health = guard(|| Ok(self.plugin.health(&self.ctx)))
            .unwrap_or_else(|e| Health::Unhealthy(e.message().to_owned()));
        let (status, message) = match health {
            Health::Healthy => (0, String::new()),
            Health::Degraded(m) => (1, m),
            Health::Unhealthy(m) => (2, m),
        };
        AbiHealth {
            status,
            message: RString::from(message),
        }
    }
}

/// The small-call entry of plugin type `P` (SDK ABI 1.4, [`WindowFn`](super::types::WindowFn)):
/// the host calls it directly. Since SDK ABI 1.6 a host calls each command's own entry
/// instead, and this one only for migrations and numbers no command has, so its match is the
/// shared out-of-line copy (`dispatch_any`).
///
/// # Safety
///
/// As [`WindowFn`](super::types::WindowFn) says; `this` is the `this` of the
/// [`WindowEntry`] an `Adapter<P>` returned.
unsafe extern "C" fn window_call<P: PluginEntry>(
    this: *const (),
    method: u32,
    request: *const u8,
    request_len: usize,
    window: *mut u8,
    capacity: usize,
    spill: *mut RVec<u8>,
) -> RResult<usize, RBox<AbiError>> {
    if method & GATHERED != 0 {
        // SAFETY: the caller's contract, passed on.
        return unsafe {
            window_call_gathered::<P>(this, method, request, request_len, window, capacity, spill)
        };
    }
    // SAFETY: `request_len` readable bytes at `request` (the caller's contract).
    let request = unsafe { std::slice::from_raw_parts(request, request_len) };
    let run = |plugin: &P, ctx: &Context, request: Input<'_>, out: &mut Output<'_>| {
        dispatch_any(plugin, ctx, method, request, out)
    };
    // SAFETY: the caller's contract, passed on.
    unsafe { window_run::<P>(this, Input::bytes(request), window, capacity, spill, run) }
}

/// The generated dispatch with the command number a value, for the shared ways in: the
/// small-call entry (and its gathered half) and the object's `dispatch`. One copy out of line
/// for all three. A host of SDK ABI 1.6 reaches commands through their own entries, where the
/// number is a constant, so these serve migrations (numbered past the commands) and plugins'
/// unknown numbers; inlined into each, every command's code was built into the library three
/// more times (+75 KB for hello's 13 commands).
#[inline(never)]
fn dispatch_any<P: PluginEntry>(
    plugin: &P,
    ctx: &Context,
    method: u32,
    request: Input<'_>,
    out: &mut Output<'_>,
) -> Result<(), PluginError> {
    plugin.dispatch(ctx, method, request, out)
}

/// One command's entries for plugin type `P` (SDK ABI 1.6): a [`CommandEntry`] that only its
/// constructors make, each naming `P`'s own entries, so safe code cannot list another type's
/// entry in `P`'s table (the host would hand it `P`'s object). `#[plugin]` lists one per
/// command in [`PluginEntry::COMMAND_ENTRIES`](crate::PluginEntry::COMMAND_ENTRIES).
#[repr(transparent)]
pub struct CommandEntryOf<P> {
    entry: CommandEntry,
    plugin: PhantomData<fn(&P)>,
}

impl<P> fmt::Debug for CommandEntryOf<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.entry.fmt(f)
    }
}

impl<P: PluginEntry> CommandEntryOf<P> {
    /// No entry of its own: the host calls the command through the shared entry.
    pub const NONE: Self = CommandEntryOf {
        entry: CommandEntry {
            call: None,
            gathered: None,
        },
        plugin: PhantomData,
    };

    /// Command number `M`'s entry for a request in one buffer, and none for a gathered one
    /// (a command whose request is not a typed message: a host gathers no other).
    pub const fn plain<const M: u32>() -> Self {
        CommandEntryOf {
            entry: CommandEntry {
                call: Some(command_entry::<P, M>),
                gathered: None,
            },
            plugin: PhantomData,
        }
    }

    /// Command number `M`'s entries for a request in one buffer and for a gathered one.
    pub const fn typed<const M: u32>() -> Self {
        CommandEntryOf {
            entry: CommandEntry {
                call: Some(command_entry::<P, M>),
                gathered: Some(command_entry_gathered::<P, M>),
            },
            plugin: PhantomData,
        }
    }

    /// `Self`, with `M` standing for command number `N` in both entries: for tests that
    /// need a table whose entries are not in command order.
    #[cfg(test)]
    const fn crossed<const M: u32, const N: u32>() -> Self {
        CommandEntryOf {
            entry: CommandEntry {
                call: Some(command_entry::<P, M>),
                gathered: Some(command_entry_gathered::<P, N>),
            },
            plugin: PhantomData,
        }
    }

    /// The entry as it crosses the boundary.
    pub fn entry(&self) -> CommandEntry {
        self.entry
    }

    /// A table of them as the boundary's type.
    fn erase(entries: &'static [Self]) -> &'static [CommandEntry] {
        // SAFETY: `CommandEntryOf<P>` is `repr(transparent)` over `CommandEntry` (the other
        // field is a zero-sized marker), so a slice of one is a slice of the other.
        unsafe { &*(std::ptr::from_ref(entries) as *const [CommandEntry]) }
    }
}

/// Command number `M`'s own entry (SDK ABI 1.6, the boundary's `CommandFn`): [`window_call`]
/// with the command number a constant, so the generated `match` (always inlined) folds to
/// that command's arm and the frame holds only what it needs.
///
/// # Safety
///
/// As `CommandFn` says; `this` is the `this` of the [`CommandEntries`] an `Adapter<P>`
/// returned.
unsafe extern "C" fn command_entry<P: PluginEntry, const M: u32>(
    this: *const (),
    request: *const u8,
    request_len: usize,
    window: *mut u8,
    capacity: usize,
    spill: *mut RVec<u8>,
) -> RResult<usize, RBox<AbiError>> {
    // SAFETY: `request_len` readable bytes at `request` (the caller's contract).
    let request = unsafe { std::slice::from_raw_parts(request, request_len) };
    // The command number is a constant of this function's own closure, so the guard's
    // closure is this entry's alone and inlined here with the match folded: passed to
    // `window_run` as a value, every entry shared one out-of-line closure that matched on it.
    let run = |plugin: &P, ctx: &Context, request: Input<'_>, out: &mut Output<'_>| {
        plugin.dispatch(ctx, M, request, out)
    };
    // SAFETY: the caller's contract, passed on.
    unsafe { window_run::<P>(this, Input::bytes(request), window, capacity, spill, run) }
}

/// Command number `M`'s own entry for a gathered request (SDK ABI 1.6): as
/// [`window_call_gathered`], the command number a constant.
///
/// # Safety
///
/// As `CommandFn` says for a gathered request: `request_len` [`Run`]s at `request`, each
/// naming bytes readable for the call.
unsafe extern "C" fn command_entry_gathered<P: PluginEntry, const M: u32>(
    this: *const (),
    request: *const u8,
    request_len: usize,
    window: *mut u8,
    capacity: usize,
    spill: *mut RVec<u8>,
) -> RResult<usize, RBox<AbiError>> {
    // SAFETY: `request_len` runs at `request` (the caller's contract).
    let runs = unsafe { std::slice::from_raw_parts(request.cast::<Run<'_>>(), request_len) };
    let run = |plugin: &P, ctx: &Context, request: Input<'_>, out: &mut Output<'_>| {
        plugin.dispatch(ctx, M, request, out)
    };
    // SAFETY: the caller's contract, passed on.
    unsafe { window_run::<P>(this, Input::runs(runs), window, capacity, spill, run) }
}

/// [`window_call`] with a gathered request (SDK ABI 1.5): `GATHERED` is set in `method`, and
/// the request is `request_len` runs. Out of line, so the one-buffer entry carries no trace
/// of runs.
///
/// # Safety
///
/// As [`WindowFn`](super::types::WindowFn) says for a gathered request: `request_len`
/// [`Run`]s at `request`, each naming bytes readable for the call.
#[inline(never)]
unsafe fn window_call_gathered<P: PluginEntry>(
    this: *const (),
    method: u32,
    request: *const u8,
    request_len: usize,
    window: *mut u8,
    capacity: usize,
    spill: *mut RVec<u8>,
) -> RResult<usize, RBox<AbiError>> {
    // SAFETY: `request_len` runs at `request` (the caller's contract; a host sets the bit
    // only for a plugin of SDK ABI 1.5 or later, which this is).
    let runs = unsafe { std::slice::from_raw_parts(request.cast::<Run<'_>>(), request_len) };
    let input = Input::runs(runs);
    let method = method & !GATHERED;
    let run = |plugin: &P, ctx: &Context, request: Input<'_>, out: &mut Output<'_>| {
        dispatch_any(plugin, ctx, method, request, out)
    };
    // SAFETY: the caller's contract, passed on.
    unsafe { window_run::<P>(this, input, window, capacity, spill, run) }
}

/// The body of the small-call entries: the guard, `run` (the generated match, the decode, the
/// command and the encode into the host's window). Each entry passes a closure of its own, so
/// each gets its own instance, and so its own `catch_unwind` closure, which is then inlined
/// into its one caller (shared, it was a frame of its own: 48 instructions a raw call).
///
/// # Safety
///
/// As [`WindowFn`](super::types::WindowFn) says, the request already read into `request`.
#[inline(always)]
unsafe fn window_run<P: PluginEntry>(
    this: *const (),
    request: Input<'_>,
    window: *mut u8,
    capacity: usize,
    spill: *mut RVec<u8>,
    run: impl FnOnce(&P, &Context, Input<'_>, &mut Output<'_>) -> Result<(), PluginError>,
) -> RResult<usize, RBox<AbiError>> {
    // SAFETY: `this` is the address of the `Adapter<P>` that handed it out, alive while the
    // host holds its object (the caller's contract).
    let adapter = unsafe { &*this.cast::<Adapter<P>>() };
    // SAFETY: `capacity` writable bytes at `window`, lent for this call only; as
    // `MaybeUninit` they need not be initialised.
    let window = unsafe { std::slice::from_raw_parts_mut(window.cast(), capacity) };
    // SAFETY: a valid `RVec<u8>` the host lends exclusively for this call.
    let spill = unsafe { &mut *spill };
    let mut out = Output::from_window(window, spill);
    match guard(|| run(&adapter.plugin, &adapter.ctx, request, &mut out)) {
        // A length within the window only while the response is still in it: an `Output`
        // the command replaced wholesale (`*out = Output::from_vec(..)`) is not there, and
        // the host must then read the spill buffer, never window bytes nobody wrote.
        Ok(()) => {
            let (len, in_window) = out.windowed_len();
            RResult::ROk(if in_window {
                len
            } else {
                len.max(capacity.saturating_add(1))
            })
        }
        Err(e) => RResult::RErr(RBox::new(to_abi(e))),
    }
}

/// The plugin's view of the host: calls back through the host's ABI object.
struct HostLink {
    host: HostContextBox,
}

impl ContextBackend for HostLink {
    fn plugin_name(&self) -> String {
        self.host.plugin_name().into_string()
    }

    fn log(&self, level: Level, message: &str) {
        self.host.log(level as u8, RStr::from_str(message));
    }

    fn check(&self, access: &Access<'_>) -> Result<(), PluginError> {
        let target = access.target();
        from_rresult(self.host.check(
            RStr::from_str(access.kind().as_str()),
            RStr::from_str(&target),
        ))
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, PluginError> {
        from_rresult(self.host.read_file(RStr::from_str(path))).map(RVec::into_vec)
    }

    fn write_file(&self, path: &str, data: &[u8]) -> Result<(), PluginError> {
        from_rresult(
            self.host
                .write_file(RStr::from_str(path), RSlice::from_slice(data)),
        )
    }

    fn env_var(&self, name: &str) -> Result<Option<String>, PluginError> {
        from_rresult(self.host.env_var(RStr::from_str(name)))
            .map(|v| v.into_option().map(RString::into_string))
    }

    fn publish(
        &self,
        topic: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
    ) -> Result<u32, PluginError> {
        let headers = if headers.is_empty() {
            Vec::new()
        } else {
            postcard::to_allocvec(headers).map_err(|e| {
                PluginError::with_code(
                    codes::ENCODE_FAILED,
                    format!("the event headers do not encode: {e}"),
                )
            })?
        };
        from_rresult(self.host.publish(
            RStr::from_str(topic),
            RSlice::from_slice(&headers),
            RSlice::from_slice(payload),
        ))
    }

    fn publish_batch(&self, batch: &crate::batch::EventBatch<'_>) -> Result<u32, PluginError> {
        let (topics, events, ends, payloads) = batch.parts();
        let topics = postcard::to_allocvec(topics).map_err(|e| {
            PluginError::with_code(
                codes::ENCODE_FAILED,
                format!("the batch's topics do not encode: {e}"),
            )
        })?;
        from_rresult(self.host.publish_batch(
            RSlice::from_slice(&topics),
            RSlice::from_slice(events),
            RSlice::from_slice(ends),
            RSlice::from_slice(payloads),
        ))
    }

    fn call_service(&self, call: &super::import::ServiceCall<'_>) -> Result<Vec<u8>, PluginError> {
        let (service, method) = (RStr::from_str(call.service), RStr::from_str(call.method));
        let (req, resp) = (
            RStr::from_str(call.request_contract),
            RStr::from_str(call.response_contract),
        );
        let request = RSlice::from_slice(call.request);
        let reply = match call.timeout {
            None => self.host.call_service(service, method, req, resp, request),
            Some(t) => self.host.call_service_timeout(
                service,
                method,
                req,
                resp,
                request,
                u64::try_from(t.as_millis()).unwrap_or(u64::MAX),
            ),
        };
        from_rresult(reply).map(RVec::into_vec)
    }

    // plugin state (issue 6)
    fn kv_get(&self, key: &str) -> Result<Option<KvEntry>, PluginError> {
        from_rresult(self.host.kv_get(RStr::from_str(key))).map(|e| {
            e.into_option().map(|e| KvEntry {
                value: e.value.into_vec(),
                version: e.version,
            })
        })
    }

    fn kv_put(&self, key: &str, value: &[u8]) -> Result<u64, PluginError> {
        from_rresult(
            self.host
                .kv_put(RStr::from_str(key), RSlice::from_slice(value)),
        )
    }

    fn kv_delete(&self, key: &str) -> Result<bool, PluginError> {
        from_rresult(self.host.kv_delete(RStr::from_str(key)))
    }

    fn kv_list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<KvPage, PluginError> {
        let bytes = from_rresult(self.host.kv_list(
            RStr::from_str(prefix),
            after.map(RStr::from_str).into(),
            limit,
        ))?;
        decode_as(&bytes)
    }

    fn kv_cas(&self, request: &CasRequest) -> Result<CasOutcome, PluginError> {
        let mut buf = Vec::new();
        encode_into(request, &mut buf);
        let bytes = from_rresult(self.host.kv_cas(RSlice::from_slice(&buf)))?;
        decode_as(&bytes)
    }

    fn kv_commit(&self, batch: &CommitBatch) -> Result<CommitOutcome, PluginError> {
        let mut buf = Vec::new();
        encode_into(batch, &mut buf);
        let bytes = from_rresult(self.host.kv_commit(RSlice::from_slice(&buf)))?;
        decode_as(&bytes)
    }

    fn secret_get(&self, name: &str) -> Result<Option<Secret>, PluginError> {
        from_rresult(self.host.secret_get(RStr::from_str(name)))
            .map(|v| v.into_option().map(|b| Secret::new(b.into_vec())))
    }

    fn secret_put(&self, name: &str, value: &[u8]) -> Result<(), PluginError> {
        from_rresult(
            self.host
                .secret_put(RStr::from_str(name), RSlice::from_slice(value)),
        )
    }

    fn secret_delete(&self, name: &str) -> Result<bool, PluginError> {
        from_rresult(self.host.secret_delete(RStr::from_str(name)))
    }

    fn config_json(&self) -> Result<String, PluginError> {
        from_rresult(self.host.config_json()).map(RString::into_string)
    }

    fn usage(&self, unit: &str, amount: u64) -> Result<(), PluginError> {
        from_rresult(self.host.usage(RStr::from_str(unit), amount))
    }
}

fn from_rresult<T>(r: RResult<T, AbiError>) -> Result<T, PluginError> {
    match r {
        RResult::ROk(v) => Ok(v),
        RResult::RErr(e) => Err(super::import::from_abi(e)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use abi_stable::sabi_trait::TD_Opaque;
    use abi_stable::std_types::RArc;

    use super::HostLink;
    use crate::abi::import::ServicesAdapter;
    use crate::abi::types::HostContext_TO;
    use crate::abi::HostServices;
    use crate::context::{Context, Level};
    use crate::error::codes;

    /// A host that offers nothing beyond the two required services, as one written before
    /// batches existed does.
    struct Plain;

    impl HostServices for Plain {
        fn plugin_name(&self) -> String {
            "old".into()
        }
        fn log(&self, _level: Level, _message: &str) {}
    }

    #[test]
    fn a_batch_to_a_host_without_batches_is_a_coded_error() {
        let host = HostContext_TO::from_ptr(RArc::new(ServicesAdapter(Arc::new(Plain))), TD_Opaque);
        let ctx = Context::from_backend(Arc::new(HostLink { host }));
        let e = ctx
            .publish_batch("plugin.old.tick", &[1u32, 2])
            .unwrap_err();
        assert_eq!(e.code(), codes::BATCH_UNSUPPORTED);
        assert_eq!(e.code().to_string(), "SB1620");
        // Empty batches never reach the host.
        assert_eq!(ctx.publish_batch::<u32>("plugin.old.tick", &[]).unwrap(), 0);
    }

    /// Small calls through SDK ABI 1.4's window entry, and through a plugin built before it.
    mod window {
        use std::cell::Cell;
        use std::mem::MaybeUninit;
        use std::sync::Arc;

        use abi_stable::sabi_trait::TD_Opaque;
        use abi_stable::std_types::{RArc, RBox, RResult, RSlice, RStr, RVec};

        use super::super::CommandEntryOf;
        use crate::abi::gather::Input;
        use crate::abi::import::{RawPlugin, ServicesAdapter};
        use crate::abi::types::{
            AbiError, AbiHealth, HostContext_TO, PluginObject, PluginObject_TO,
        };
        use crate::abi::{Output, ResponseBuffer};
        use crate::error::codes;
        use crate::{Context, Plugin, PluginEntry, PluginError};

        std::thread_local! {
            /// Commands `Echo` ran on this thread (each test has its own).
            static RUNS: Cell<usize> = const { Cell::new(0) };
        }

        /// Command 0 answers `n` bytes of 7 for a one-byte request `n`; command 1 encodes
        /// the request's first byte as a `u64` times 1000 (a typed response); command 2
        /// panics.
        struct Echo;

        impl Plugin for Echo {
            fn create(_ctx: &Context) -> Result<Self, PluginError> {
                Ok(Echo)
            }
        }

        impl PluginEntry for Echo {
            const MANIFEST: &'static [u8] = b"{}";

            fn dispatch(
                &self,
                _ctx: &Context,
                method: u32,
                request: Input<'_>,
                out: &mut Output<'_>,
            ) -> Result<(), PluginError> {
                RUNS.with(|r| r.set(r.get() + 1));
                let runs = request.gathered().len() as u64;
                let request = request.to_vec();
                let n = usize::from(request.first().copied().unwrap_or(0));
                match method {
                    4 => crate::__private::write_message(&(runs, request), out),
                    0 => {
                        for chunk in vec![7u8; n].chunks(3) {
                            out.extend_from_slice(chunk);
                        }
                        Ok(())
                    }
                    1 => crate::__private::wire::write(&(n as u64 * 1000), out),
                    3 => {
                        // Safe code replacing the output wholesale: its bytes are not in the
                        // host's window.
                        *out = Output::from_vec(Box::leak(Box::new(vec![5u8; n])));
                        Ok(())
                    }
                    _ => panic!("command {method} panics"),
                }
            }
        }

        /// `Echo` with a per-command table (SDK ABI 1.6) that crosses commands 0 and 1 on
        /// purpose and has no entry for 2 onwards: which body answers tells which way a call
        /// went.
        struct Crossed;

        impl Plugin for Crossed {
            fn create(_ctx: &Context) -> Result<Self, PluginError> {
                Ok(Crossed)
            }
        }

        impl PluginEntry for Crossed {
            const MANIFEST: &'static [u8] = b"{}";
            const COMMAND_ENTRIES: &'static [CommandEntryOf<Self>] = &[
                CommandEntryOf::crossed::<1, 4>(),
                CommandEntryOf::plain::<0>(),
                CommandEntryOf::NONE,
            ];

            fn dispatch(
                &self,
                ctx: &Context,
                method: u32,
                request: Input<'_>,
                out: &mut Output<'_>,
            ) -> Result<(), PluginError> {
                Echo.dispatch(ctx, method, request, out)
            }
        }

        fn instantiate<P: PluginEntry>(minor: u32) -> RawPlugin {
            let host = HostContext_TO::from_ptr(
                RArc::new(ServicesAdapter(Arc::new(super::Plain))),
                TD_Opaque,
            );
            match super::super::instantiate::<P>(host) {
                RResult::ROk(object) => RawPlugin::from_object(object, minor),
                RResult::RErr(e) => panic!("{}", e.message),
            }
        }

        fn plugin() -> RawPlugin {
            instantiate::<Echo>(crate::abi::SDK_ABI_MINOR)
        }

        /// Command 0's answer to `[n]` (`n` sevens) and command 1's (`n` × 1000 as a `u64`).
        fn answers(n: u8) -> (Vec<u8>, Vec<u8>) {
            let mut typed = Vec::new();
            crate::__private::wire::encode_into(&(u64::from(n) * 1000), &mut typed);
            (vec![7; usize::from(n)], typed)
        }

        #[test]
        fn a_plugin_of_sdk_abi_1_6_is_called_through_each_commands_own_entry() {
            let plugin = instantiate::<Crossed>(6);
            let (sevens, typed) = answers(5);
            let before = RUNS.with(Cell::get);
            // Both ways in: the general lane (the buffer lent as the window) and the window.
            let mut out = ResponseBuffer::new();
            plugin.dispatch(0, &[5], &mut out).unwrap();
            assert_eq!(out.as_slice(), typed, "entry 0 is command 1's");
            plugin.dispatch(1, &[5], &mut out).unwrap();
            assert_eq!(out.as_slice(), sevens, "entry 1 is command 0's");
            assert_eq!(call(&plugin, 0, 5, 16).1, typed);
            // A response past the window spills whole, through an entry too.
            assert_eq!(call(&plugin, 1, 40, 8), (40, vec![7; 40]));
            assert_eq!(RUNS.with(Cell::get), before + 4, "each call ran once");
            // No entry (`None`, or past the table): the shared entry, which matches.
            for method in [2, 5] {
                let e = plugin.dispatch(method, &[1], &mut out).unwrap_err();
                assert_eq!(e.code(), codes::PLUGIN_PANICKED);
                assert!(e.message().contains(&format!("command {method} panics")));
            }
            // A gathered request: entry 0's own gathered function is command 4's (which
            // answers the runs it saw and the bytes); entry 1 has none, so the shared entry
            // serves command 1 with bit 30.
            use crate::abi::gather::Run;
            let long = vec![3u8; 2000];
            let runs = [Run::new(&[2]), Run::new(&long)];
            plugin
                .dispatch_input(0, Input::runs(&runs), &mut out)
                .unwrap();
            let mut joined = vec![2u8];
            joined.extend_from_slice(&long);
            let (seen, bytes): (u64, Vec<u8>) = postcard::from_bytes(out.as_slice()).unwrap();
            assert_eq!((seen, bytes), (2, joined));
            plugin
                .dispatch_input(1, Input::runs(&runs), &mut out)
                .unwrap();
            assert_eq!(out.as_slice(), answers(2).1);
            // The reserved bit is past every table: refused before any call, as before.
            let before = RUNS.with(Cell::get);
            let e = plugin
                .dispatch(crate::abi::gather::GATHERED, &[0; 8], &mut out)
                .unwrap_err();
            assert_eq!(e.code(), codes::UNKNOWN_METHOD);
            assert_eq!(RUNS.with(Cell::get), before);
        }

        #[test]
        fn a_plugin_of_an_older_minor_is_not_asked_for_its_entries() {
            let plugin = instantiate::<Crossed>(5);
            let (sevens, typed) = answers(3);
            let mut out = ResponseBuffer::new();
            plugin.dispatch(0, &[3], &mut out).unwrap();
            assert_eq!(out.as_slice(), sevens, "the shared entry's command 0");
            assert_eq!(call(&plugin, 1, 3, 16).1, typed);
        }

        fn call(plugin: &RawPlugin, method: u32, n: u8, cap: usize) -> (usize, Vec<u8>) {
            let mut window = vec![MaybeUninit::<u8>::uninit(); cap];
            let mut spill = ResponseBuffer::new();
            let len = plugin
                .dispatch_window(method, &[n], &mut window, &mut spill)
                .unwrap();
            let bytes = if len <= cap {
                window[..len]
                    .iter()
                    // SAFETY: `dispatch_window` wrote the `len` bytes it returned.
                    .map(|b| unsafe { b.assume_init() })
                    .collect()
            } else {
                spill.as_slice().to_vec()
            };
            assert_eq!(bytes.len(), len);
            (len, bytes)
        }

        #[test]
        fn a_response_that_fits_is_written_into_the_window() {
            let plugin = plugin();
            assert!(plugin.has_window());
            assert_eq!(call(&plugin, 0, 16, 16), (16, vec![7; 16]));
            assert_eq!(call(&plugin, 0, 0, 16), (0, vec![]));
            let (len, bytes) = call(&plugin, 1, 200, 16);
            assert_eq!(
                crate::__private::wire::decode::<u64>(&bytes).unwrap(),
                200_000
            );
            assert_eq!(len, 3);
        }

        #[test]
        fn a_response_past_the_window_spills_whole_and_the_command_runs_once() {
            let plugin = plugin();
            let runs = || RUNS.with(Cell::get);
            let before = runs();
            // Written 3 bytes at a time: the fifth write no longer fits 13 bytes.
            assert_eq!(call(&plugin, 0, 17, 13), (17, vec![7; 17]));
            assert_eq!(runs(), before + 1);
            // A typed response that does not fit is encoded again into the spill buffer,
            // its command not run again.
            let (len, bytes) = call(&plugin, 1, 200, 2);
            assert_eq!((len, bytes), (3, vec![0xC0, 0x9A, 0x0C]));
            assert_eq!(runs(), before + 2);
        }

        #[test]
        fn an_output_replaced_by_the_command_never_lends_the_host_unwritten_window_bytes() {
            let plugin = plugin();
            let mut window = [MaybeUninit::<u8>::uninit(); 16];
            let mut spill = ResponseBuffer::new();
            let n = plugin
                .dispatch_window(3, &[2], &mut window, &mut spill)
                .unwrap();
            // Past the window: the host reads the spill buffer, which holds what reached it
            // (nothing), not two window bytes nobody wrote.
            assert!(n > window.len(), "{n}");
            assert!(spill.as_slice().is_empty());
        }

        /// A gathered request reaches a plugin of SDK ABI 1.5 as its runs, and one that
        /// cannot read them (an older minor) joined: the same bytes either way.
        #[test]
        fn a_gathered_request_arrives_as_runs_or_joined_for_an_older_plugin() {
            use crate::abi::gather::{Input, Run};
            let head = [1u8, 2];
            let long = vec![3u8; 2000];
            let runs = [Run::new(&head), Run::new(&long), Run::new(&[9])];
            let mut expected = vec![1, 2];
            expected.extend_from_slice(&long);
            expected.push(9);
            for (minor, seen) in [(5, 3u64), (4, 0)] {
                let plugin = match super::super::instantiate::<Echo>(HostContext_TO::from_ptr(
                    RArc::new(ServicesAdapter(Arc::new(super::Plain))),
                    TD_Opaque,
                )) {
                    RResult::ROk(object) => RawPlugin::from_object(object, minor),
                    RResult::RErr(e) => panic!("{}", e.message),
                };
                let mut out = ResponseBuffer::new();
                plugin
                    .dispatch_input(4, Input::runs(&runs), &mut out)
                    .unwrap();
                let (got_runs, bytes): (u64, Vec<u8>) =
                    postcard::from_bytes(out.as_slice()).unwrap();
                assert_eq!(got_runs, seen, "minor: {minor}");
                assert_eq!(bytes, expected, "minor: {minor}");
                // One buffer is one buffer to either.
                plugin
                    .dispatch_input(4, Input::bytes(&expected), &mut out)
                    .unwrap();
                let (got_runs, bytes): (u64, Vec<u8>) =
                    postcard::from_bytes(out.as_slice()).unwrap();
                assert_eq!((got_runs, bytes), (0, expected.clone()));
            }
        }

        /// Bit 30 of a command number means "the request is runs" to the small-call entry:
        /// a caller passing it with plain bytes is refused before the plugin sees anything.
        #[test]
        fn a_command_number_with_the_gathered_bit_is_refused() {
            let plugin = plugin();
            let before = RUNS.with(Cell::get);
            let mut out = ResponseBuffer::new();
            let e = plugin
                .dispatch(crate::abi::gather::GATHERED, &[0; 48], &mut out)
                .unwrap_err();
            assert_eq!(e.code(), codes::UNKNOWN_METHOD);
            let mut window = [MaybeUninit::<u8>::uninit(); 8];
            let e = plugin
                .dispatch_window(1 << 30 | 1, &[1], &mut window, &mut out)
                .unwrap_err();
            assert_eq!(e.code(), codes::UNKNOWN_METHOD);
            assert_eq!(RUNS.with(Cell::get), before, "no command ran");
        }

        #[test]
        fn a_panic_in_a_small_call_is_a_coded_error() {
            let plugin = plugin();
            let mut window = [MaybeUninit::<u8>::uninit(); 8];
            let e = plugin
                .dispatch_window(2, &[1], &mut window, &mut ResponseBuffer::new())
                .unwrap_err();
            assert_eq!(e.code(), codes::PLUGIN_PANICKED);
            assert!(e.message().contains("command 2 panics"), "{}", e.message());
        }

        /// A plugin object as a plugin built before SDK ABI 1.4 implements it: no
        /// `window_entry`, so the trait's default (what abi_stable answers for a vtable
        /// without the entry) says there is none.
        struct Old;

        impl PluginObject for Old {
            fn start(&self) -> RResult<(), AbiError> {
                RResult::ROk(())
            }
            fn stop(&self) -> RResult<(), AbiError> {
                RResult::ROk(())
            }
            fn dispatch(
                &self,
                _method: u32,
                request: RSlice<'_, u8>,
                response: &mut RVec<u8>,
            ) -> RResult<(), RBox<AbiError>> {
                let n = usize::from(request.first().copied().unwrap_or(0));
                response.extend_from_copy_slice(&vec![9u8; n]);
                RResult::ROk(())
            }
            fn on_event(
                &self,
                _topic: RStr<'_>,
                _envelope: RSlice<'_, u8>,
            ) -> RResult<(), AbiError> {
                RResult::ROk(())
            }
            fn snapshot(&self) -> RResult<RVec<u8>, AbiError> {
                RResult::ROk(RVec::new())
            }
            fn restore(&self, _state: RSlice<'_, u8>) -> RResult<(), AbiError> {
                RResult::ROk(())
            }
            fn health(&self) -> AbiHealth {
                AbiHealth {
                    status: 0,
                    message: "".into(),
                }
            }
        }

        #[test]
        fn a_plugin_built_before_sdk_abi_1_4_takes_small_calls_through_dispatch() {
            let old = RawPlugin::from_object(PluginObject_TO::from_value(Old, TD_Opaque), 6);
            assert!(!old.has_window());
            assert_eq!(call(&old, 0, 5, 8), (5, vec![9; 5]));
            assert_eq!(call(&old, 0, 9, 8), (9, vec![9; 9]));
        }
    }

    #[test]
    fn usage_to_a_host_without_metering_is_a_coded_error() {
        let host = HostContext_TO::from_ptr(RArc::new(ServicesAdapter(Arc::new(Plain))), TD_Opaque);
        let ctx = Context::from_backend(Arc::new(HostLink { host }));
        let e = ctx.usage("tokens", 3).unwrap_err();
        assert_eq!(e.code(), codes::USAGE_UNSUPPORTED);
        assert_eq!(e.code().to_string(), "SB1735");
        // A bad unit is refused before it reaches any host.
        assert_eq!(ctx.usage("", 3).unwrap_err().code(), codes::BAD_USAGE_UNIT);
        assert_eq!(
            ctx.usage(&"a".repeat(65), 3).unwrap_err().code(),
            codes::BAD_USAGE_UNIT
        );
    }
}
