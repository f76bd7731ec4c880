//! The host side: opening a plugin library and driving the plugin object it creates.

use std::fmt;
use std::mem::MaybeUninit;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use abi_stable::library::{lib_header_from_path, LibraryError};
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, RBox, ROption, RResult, RSlice, RStr, RString, RVec};

use super::gather::{Input, GATHERED};
use super::types::{
    AbiError, AbiKvEntry, CommandEntries, CommandEntry, CommandFn, HostContext, HostContext_TO,
    PluginModuleRef, PluginObjectBox, StreamSink, StreamSink_TO, WindowEntry,
};
use crate::batch::{BatchTopic, EventBatch};
use crate::caps::Access;
use crate::context::Level;
use crate::error::{codes, ErrorCode, PluginError};
use crate::message::{decode_as, encode_into};
use crate::plugin::Health;
use crate::state::{CasOutcome, CasRequest, CommitBatch, CommitOutcome, KvEntry, KvPage, Secret};

/// What a host offers the plugins it loads. The host implements it; the SDK carries the calls
/// across the boundary. Implementations must not panic (a panic is caught and becomes an
/// error).
///
/// Each service must check the plugin's capability grants before acting. The provided methods
/// deny everything (`SB0431`, no such service): a host that offers nothing grants nothing.
pub trait HostServices: Send + Sync + 'static {
    /// The name of the plugin this context belongs to.
    fn plugin_name(&self) -> String;
    /// A log line from the plugin.
    fn log(&self, level: Level, message: &str);

    /// Whether `access` would be allowed now.
    fn check(&self, access: &Access<'_>) -> Result<(), PluginError> {
        Err(unavailable(&access.to_string()))
    }

    /// Reads a whole file (the path as the plugin gave it).
    fn read_file(&self, path: &str) -> Result<Vec<u8>, PluginError> {
        Err(unavailable(&format!("fs.read:{path}")))
    }

    /// Creates or replaces a file.
    fn write_file(&self, path: &str, data: &[u8]) -> Result<(), PluginError> {
        let _ = data;
        Err(unavailable(&format!("fs.write:{path}")))
    }

    /// An environment variable the host passes on.
    fn env_var(&self, name: &str) -> Result<Option<String>, PluginError> {
        Err(unavailable(&format!("env:{name}")))
    }

    /// Publishes an event; returns how many subscriptions took it.
    fn publish(
        &self,
        topic: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
    ) -> Result<u32, PluginError> {
        let _ = (headers, payload);
        Err(unavailable(&format!("events.publish:{topic}")))
    }

    /// Publishes a batch of events, all or nothing: every distinct topic and every event's
    /// size checked before anything is delivered; events delivered in order. Returns how
    /// many deliveries were queued. The provided method answers
    /// [`BATCH_UNSUPPORTED`](crate::codes::BATCH_UNSUPPORTED).
    fn publish_batch(&self, batch: &EventBatch<'_>) -> Result<u32, PluginError> {
        let _ = batch;
        Err(crate::batch::unsupported())
    }

    /// Calls a shared service.
    fn call_service(&self, call: &ServiceCall<'_>) -> Result<Vec<u8>, PluginError> {
        Err(unavailable(&format!("service.call:{}", call.service)))
    }

    // plugin state (issue 6)

    /// The plugin's value under `key`, with its version.
    fn kv_get(&self, key: &str) -> Result<Option<KvEntry>, PluginError> {
        let _ = key;
        Err(unavailable("kv"))
    }

    /// Writes a value; returns its version.
    fn kv_put(&self, key: &str, value: &[u8]) -> Result<u64, PluginError> {
        let _ = (key, value);
        Err(unavailable("kv"))
    }

    /// Deletes a key; returns whether it existed.
    fn kv_delete(&self, key: &str) -> Result<bool, PluginError> {
        let _ = key;
        Err(unavailable("kv"))
    }

    /// One page of the keys starting with `prefix` after `after`.
    fn kv_list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<KvPage, PluginError> {
        let _ = (prefix, after, limit);
        Err(unavailable("kv"))
    }

    /// A compare-and-swap.
    fn kv_cas(&self, request: &CasRequest) -> Result<CasOutcome, PluginError> {
        let _ = request;
        Err(unavailable("kv"))
    }

    /// Commits an optimistic transaction's batch atomically.
    fn kv_commit(&self, batch: &CommitBatch) -> Result<CommitOutcome, PluginError> {
        let _ = batch;
        Err(unavailable("kv"))
    }

    /// The secret `name`, decrypted.
    fn secret_get(&self, name: &str) -> Result<Option<Secret>, PluginError> {
        let _ = name;
        Err(unavailable("secrets"))
    }

    /// Stores a secret, encrypted.
    fn secret_put(&self, name: &str, value: &[u8]) -> Result<(), PluginError> {
        let _ = (name, value);
        Err(unavailable("secrets"))
    }

    /// Deletes a secret; returns whether it existed.
    fn secret_delete(&self, name: &str) -> Result<bool, PluginError> {
        let _ = name;
        Err(unavailable("secrets"))
    }

    /// The plugin's effective configuration as JSON text.
    fn config_json(&self) -> Result<String, PluginError> {
        Err(unavailable("config"))
    }

    /// Adds `amount` of `unit` (a name [`check_usage_unit`](crate::stream::check_usage_unit)
    /// accepted) to the usage of the call the plugin serves on this thread. The provided
    /// method answers [`USAGE_UNSUPPORTED`](crate::codes::USAGE_UNSUPPORTED).
    fn usage(&self, unit: &str, amount: u64) -> Result<(), PluginError> {
        let _ = (unit, amount);
        Err(super::export::usage_unsupported())
    }
}

/// The host's side of one streaming call: where the plugin's chunks arrive, as it sends them.
///
/// [`chunk`](ChunkReceiver::chunk) runs on the thread serving the command, inside the
/// plugin's `send`: blocking in it is how the host makes a plugin wait for a slow consumer,
/// and an error from it (usually [`STREAM_CANCELLED`](crate::codes::STREAM_CANCELLED)) is what
/// `send` returns. A panic in it is caught and becomes an error of the call.
pub trait ChunkReceiver {
    /// One encoded chunk.
    fn chunk(&mut self, bytes: &[u8]) -> Result<(), PluginError>;
    /// Whether the consumer stopped the stream.
    fn is_cancelled(&self) -> bool;
}

/// A [`ChunkReceiver`] lent to the plugin as its stream sink.
struct ReceiverSink<'r>(&'r mut dyn ChunkReceiver);

impl StreamSink for ReceiverSink<'_> {
    fn send(&mut self, chunk: RSlice<'_, u8>) -> RResult<(), AbiError> {
        guarded(|| self.0.chunk(chunk.as_slice()))
    }

    fn is_cancelled(&self) -> bool {
        catch_unwind(AssertUnwindSafe(|| self.0.is_cancelled())).unwrap_or(true)
    }
}

/// A plugin's call of a shared service, as the host receives it.
#[derive(Debug, Clone, Copy)]
pub struct ServiceCall<'a> {
    /// The service.
    pub service: &'a str,
    /// The method.
    pub method: &'a str,
    /// The contract id of the caller's request type.
    pub request_contract: &'a str,
    /// The contract id of the caller's response type.
    pub response_contract: &'a str,
    /// The encoded request.
    pub request: &'a [u8],
    /// How long the caller waits for the reply (`None`: the provider runs on the caller's
    /// thread, without a timeout).
    pub timeout: Option<std::time::Duration>,
}

fn unavailable(what: &str) -> PluginError {
    PluginError::with_code(
        codes::SERVICE_UNAVAILABLE,
        format!("this host offers no service for `{what}`"),
    )
    .next_step("ask the host's developers to provide the service")
}

/// Why a library could not be opened as a Switchboard plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AbiLoadError {
    /// The dynamic loader refused the file.
    Open(String),
    /// The library does not export a Switchboard root module.
    NotAPlugin(String),
    /// The library's root module has another layout or version than this host expects.
    Incompatible(String),
    /// The root module's constructor failed or panicked.
    RootModule(String),
}

impl fmt::Display for AbiLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AbiLoadError::Open(m) => write!(f, "the dynamic loader refused the library: {m}"),
            AbiLoadError::NotAPlugin(m) => {
                write!(f, "the library exports no Switchboard root module: {m}")
            }
            AbiLoadError::Incompatible(m) => write!(f, "incompatible plugin ABI layout: {m}"),
            AbiLoadError::RootModule(m) => write!(f, "the plugin's root module failed: {m}"),
        }
    }
}

impl std::error::Error for AbiLoadError {}

impl From<LibraryError> for AbiLoadError {
    fn from(e: LibraryError) -> Self {
        let text = e.to_string();
        match e {
            LibraryError::OpenError { .. } => AbiLoadError::Open(text),
            LibraryError::GetSymbolError { .. } | LibraryError::InvalidAbiHeader(_) => {
                AbiLoadError::NotAPlugin(text)
            }
            LibraryError::RootModule { .. } => AbiLoadError::RootModule(text),
            _ => AbiLoadError::Incompatible(text),
        }
    }
}

/// A plugin library opened and checked against this SDK's ABI layout.
///
/// The library stays mapped for the life of the process (ARCHITECTURE D2): unloading Rust
/// dynamic libraries is unsound.
#[derive(Clone, Copy)]
pub struct LoadedModule {
    module: PluginModuleRef,
}

impl fmt::Debug for LoadedModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedModule")
            .field("sdk_abi", &self.sdk_abi())
            .finish_non_exhaustive()
    }
}

impl LoadedModule {
    /// Opens the library at `path`, checks the layout of its root module and returns it.
    ///
    /// Uses `lib_header_from_path` and `init_root_module`, never `RootModule::load_from*`,
    /// which would cache one module per process for all plugins (ARCHITECTURE D2).
    ///
    /// # Safety
    ///
    /// Opening a library runs its initialisers, and its code runs from then on with the full
    /// rights of the process. The caller must have verified the file first (ARCHITECTURE D3)
    /// and must not change it while it is mapped.
    pub unsafe fn open(path: &Path) -> Result<Self, AbiLoadError> {
        let header = lib_header_from_path(path)?;
        let module = header.init_root_module::<PluginModuleRef>()?;
        Ok(LoadedModule { module })
    }

    /// The SDK ABI version `(major, minor)` the library was built against.
    pub fn sdk_abi(&self) -> (u32, u32) {
        (self.module.sdk_abi_major(), self.module.sdk_abi_minor())
    }

    /// The manifest bytes the library's code reports (the same static as its manifest section).
    pub fn manifest_bytes(&self) -> &'static [u8] {
        self.module.manifest().as_slice()
    }

    /// Creates the plugin object, handing it the host's services.
    pub fn instantiate(&self, services: Arc<dyn HostServices>) -> Result<RawPlugin, PluginError> {
        let ctx = HostContext_TO::from_ptr(RArc::new(ServicesAdapter(services)), TD_Opaque);
        match (self.module.instantiate())(ctx) {
            RResult::ROk(object) => Ok(RawPlugin::from_object(object, self.module.sdk_abi_minor())),
            RResult::RErr(e) => Err(from_abi(e)),
        }
    }
}

/// The buffer a host lends plugins to write responses into. Keep one per thread (or per
/// caller) and reuse it: the plugin grows it with the host's allocator, and a call that fits
/// allocates nothing.
///
/// # Example
///
/// ```
/// let mut buf = switchboard_sdk::abi::ResponseBuffer::new();
/// assert!(buf.as_slice().is_empty());
/// buf.release_if_larger_than(1 << 20);
/// ```
#[derive(Debug, Default)]
pub struct ResponseBuffer(RVec<u8>);

impl ResponseBuffer {
    /// An empty buffer.
    pub const fn new() -> Self {
        ResponseBuffer(RVec::new())
    }

    /// The last response.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        self.0.as_slice()
    }

    /// Replaces the contents with `bytes`, reusing the allocation: for a backend that receives
    /// the response from elsewhere (isolated mode copies it off its channel).
    ///
    /// ```
    /// let mut buf = switchboard_sdk::abi::ResponseBuffer::new();
    /// buf.fill(b"ok");
    /// assert_eq!(buf.as_slice(), b"ok");
    /// ```
    #[inline]
    pub fn fill(&mut self, bytes: &[u8]) {
        self.0.clear();
        crate::copy::extend_rvec(&mut self.0, bytes);
    }

    /// The last response as a `Vec`, without a copy where the allocation can be taken over.
    ///
    /// ```
    /// let mut buf = switchboard_sdk::abi::ResponseBuffer::new();
    /// buf.fill(b"ok");
    /// assert_eq!(buf.into_vec(), b"ok");
    /// ```
    #[inline]
    pub fn into_vec(self) -> Vec<u8> {
        self.0.into_vec()
    }

    /// Hands the response over the way [`RawPlugin::dispatch_window`] does: copied into
    /// `window` when it fits, and its length returned — the bytes are then `window[..n]`;
    /// when it does not fit, they stay here and `n` is over `window.len()`. For a backend
    /// without the fast lane (a plugin built before SDK ABI 1.4, an isolated one).
    ///
    /// ```
    /// use std::mem::MaybeUninit;
    /// let mut buf = switchboard_sdk::abi::ResponseBuffer::new();
    /// buf.fill(b"ok");
    /// let mut window = [MaybeUninit::<u8>::uninit(); 8];
    /// assert_eq!(buf.to_window(&mut window), 2);
    /// assert_eq!(buf.to_window(&mut window[..1]), 2); // too long: it stays in the buffer
    /// ```
    #[inline]
    pub fn to_window(&self, window: &mut [MaybeUninit<u8>]) -> usize {
        let bytes = self.0.as_slice();
        if let Some(room) = window.get_mut(..bytes.len()) {
            for (slot, &byte) in room.iter_mut().zip(bytes) {
                slot.write(byte);
            }
        }
        bytes.len()
    }

    /// The bytes it can hold without growing; 0 for a buffer that never allocated (which
    /// then owns no memory).
    #[inline]
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }

    /// Frees the allocation if it grew past `bytes` (after an unusually large response).
    #[inline]
    pub fn release_if_larger_than(&mut self, bytes: usize) {
        if self.0.capacity() > bytes {
            self.0 = RVec::new();
        }
    }
}

/// A live plugin object: the D4 protocol in plain Rust types.
///
/// Every call is guarded on the plugin side: a panic in plugin code comes back as a
/// [`PluginError`] with code [`PLUGIN_PANICKED`](crate::codes::PLUGIN_PANICKED).
pub struct RawPlugin {
    object: PluginObjectBox,
    /// The small-call entry (SDK ABI 1.4), asked for once; `None` in it for older plugins.
    window: WindowEntry,
    /// Whether that entry reads gathered requests (SDK ABI 1.5).
    gathers: bool,
    /// Each command's own entry (SDK ABI 1.6), asked for once; empty for older plugins.
    commands: CommandEntries,
}

/// The SDK ABI minor from which the small-call entry reads gathered requests.
const GATHER_MINOR: u32 = 5;

/// The SDK ABI minor from which a plugin has an entry per command.
const COMMANDS_MINOR: u32 = 6;

/// A command number with [`GATHERED`] set, which the small-call entry reads as "the request is
/// runs": refused before any call, whatever the caller passed (no command or migration is
/// numbered there).
#[cold]
#[inline(never)]
fn reserved_method(method: u32) -> PluginError {
    PluginError::with_code(
        codes::UNKNOWN_METHOD,
        format!("no command with index {method} (bit 30 is reserved for gathered requests)"),
    )
}

impl fmt::Debug for RawPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawPlugin").finish_non_exhaustive()
    }
}

impl RawPlugin {
    /// The plugin `object` of a library built against SDK ABI minor `minor`.
    pub(super) fn from_object(object: PluginObjectBox, minor: u32) -> RawPlugin {
        // Asked once: a plugin built before SDK ABI 1.4 answers with the trait's default, no
        // entry, and one built before 1.6 with no per-command entries. (Asked only of a
        // minor that has the method: abi_stable answers an older vtable with the default
        // too, but the minor is what the plugin promises.)
        let window = object.window_entry();
        let gathers = minor >= GATHER_MINOR && window.call.is_some();
        let commands = if minor >= COMMANDS_MINOR && window.call.is_some() {
            object.command_entries()
        } else {
            CommandEntries::NONE
        };
        RawPlugin {
            object,
            window,
            gathers,
            commands,
        }
    }

    /// Command number `method`'s own entry for a request in one buffer, if the plugin has
    /// one (SDK ABI 1.6). A number with [`GATHERED`] set is past every table, so it goes the
    /// shared way and is refused there.
    #[inline(always)]
    fn command_entry(&self, method: u32) -> Option<CommandFn> {
        self.entry_of(method).and_then(|entry| entry.call)
    }

    /// Command number `method`'s own entry for a gathered request, if the plugin has one.
    #[inline(always)]
    fn command_entry_gathered(&self, method: u32) -> Option<CommandFn> {
        self.entry_of(method).and_then(|entry| entry.gathered)
    }

    #[inline(always)]
    fn entry_of(&self, method: u32) -> Option<&CommandEntry> {
        self.commands.entries.as_slice().get(method as usize)
    }

    /// Runs the plugin's `start` hook.
    pub fn start(&self) -> Result<(), PluginError> {
        unit(self.object.start())
    }

    /// Runs the plugin's `stop` hook.
    pub fn stop(&self) -> Result<(), PluginError> {
        unit(self.object.stop())
    }

    /// Calls command number `method` with `request`; the response replaces the contents of
    /// `response`, whose allocation is reused across calls.
    ///
    /// A plugin with SDK ABI 1.4's small-call entry is called through it here too, with
    /// `response`'s own memory as the window: the plugin writes the response where the host
    /// reads it, and only a response longer than the buffer's capacity comes back in a new
    /// buffer, which then replaces it (so the next call of that size fits). No abi_stable
    /// shim and no trait object on the way (issue 17: raw calls). Always inlined: out of line,
    /// its frame cost a raw call about 12 instructions.
    #[inline(always)]
    pub fn dispatch(
        &self,
        method: u32,
        request: &[u8],
        response: &mut ResponseBuffer,
    ) -> Result<(), PluginError> {
        response.0.clear();
        if let Some(call) = self.command_entry(method) {
            let (ptr, len) = (request.as_ptr(), request.len());
            // SAFETY: `this` came with the entry from this plugin's object, which `self`
            // holds; the request is borrowed for the call, the window as `CommandFn` asks.
            return self.dispatch_in_place(response, |window, capacity, spill| unsafe {
                call(self.commands.this, ptr, len, window, capacity, spill)
            });
        }
        if method & GATHERED != 0 {
            return Err(reserved_method(method));
        }
        if let Some(call) = self.window.call {
            let (ptr, len) = (request.as_ptr(), request.len());
            // SAFETY: `call` is this plugin's small-call entry; the request is one buffer,
            // borrowed for the call, and the window as `WindowFn` asks.
            return self.dispatch_in_place(response, |window, capacity, spill| unsafe {
                self.enter(call, method, ptr, len, window, capacity, spill)
            });
        }
        match self
            .object
            .dispatch(method, RSlice::from_slice(request), &mut response.0)
        {
            RResult::ROk(()) => Ok(()),
            RResult::RErr(e) => Err(from_abi(RBox::into_inner(e))),
        }
    }

    /// [`dispatch`](Self::dispatch) with a request in one buffer or gathered from runs of
    /// the caller's bytes. A plugin of SDK ABI 1.5 or later reads the runs where they are (a
    /// long byte field it borrows is the caller's own slice); an older one is given them
    /// joined, which is the same bytes.
    #[inline(always)]
    pub fn dispatch_input(
        &self,
        method: u32,
        request: Input<'_>,
        response: &mut ResponseBuffer,
    ) -> Result<(), PluginError> {
        match request.contiguous() {
            Some(bytes) => self.dispatch(method, bytes, response),
            None => self.dispatch_gathered(method, request, response),
        }
    }

    #[inline(never)]
    fn dispatch_gathered(
        &self,
        method: u32,
        request: Input<'_>,
        response: &mut ResponseBuffer,
    ) -> Result<(), PluginError> {
        if method & GATHERED != 0 {
            return Err(reserved_method(method));
        }
        if let Some(call) = self.command_entry_gathered(method) {
            response.0.clear();
            let runs = request.gathered();
            let (ptr, len) = (runs.as_ptr().cast::<u8>(), runs.len());
            // SAFETY: `this` came with the entry from this plugin's object, which `self`
            // holds; the runs name bytes borrowed for the call, and the window is as
            // `CommandFn` asks.
            return self.dispatch_in_place(response, |window, capacity, spill| unsafe {
                call(self.commands.this, ptr, len, window, capacity, spill)
            });
        }
        match self.window.call {
            Some(call) if self.gathers => {
                response.0.clear();
                let runs = request.gathered();
                let (ptr, len) = (runs.as_ptr().cast::<u8>(), runs.len());
                // SAFETY: `call` is this plugin's small-call entry, which reads runs
                // (`self.gathers`); the runs name bytes borrowed for the call, and the window
                // is as `WindowFn` asks.
                self.dispatch_in_place(response, |window, capacity, spill| unsafe {
                    self.enter(call, method | GATHERED, ptr, len, window, capacity, spill)
                })
            }
            _ => self.dispatch(method, &request.to_vec(), response),
        }
    }

    /// Whether the plugin has SDK ABI 1.4's small-call entry, which
    /// [`dispatch_window`](Self::dispatch_window) calls directly.
    #[inline]
    pub fn has_window(&self) -> bool {
        self.window.call.is_some()
    }

    /// Calls command number `method` with `request`, the response written into `window` if
    /// it fits and into `spill` otherwise; returns its length `n`: the bytes are
    /// `window[..n]` when `n <= window.len()`, else `spill`'s. The command runs once either
    /// way. With SDK ABI 1.4's entry this is one plain function call into the plugin, no
    /// shim and no trait object; a plugin built before it goes through
    /// [`dispatch`](Self::dispatch) into `spill`, copied into the window if it fits.
    #[inline(always)]
    pub fn dispatch_window(
        &self,
        method: u32,
        request: &[u8],
        window: &mut [MaybeUninit<u8>],
        spill: &mut ResponseBuffer,
    ) -> Result<usize, PluginError> {
        let result = if let Some(call) = self.command_entry(method) {
            spill.0.clear();
            // SAFETY: `this` came with the entry from this plugin's object, which `self`
            // holds; the request, the window and the spill buffer are borrowed for the call,
            // nothing else touches them during it.
            unsafe {
                call(
                    self.commands.this,
                    request.as_ptr(),
                    request.len(),
                    window.as_mut_ptr().cast(),
                    window.len(),
                    &mut spill.0,
                )
            }
        } else {
            if method & GATHERED != 0 {
                return Err(reserved_method(method));
            }
            let Some(call) = self.window.call else {
                return self.dispatch_copied(method, request, window, spill);
            };
            spill.0.clear();
            // SAFETY: the window and the spill buffer are borrowed for the call, nothing else
            // touches them during it.
            unsafe {
                self.enter(
                    call,
                    method,
                    request.as_ptr(),
                    request.len(),
                    window.as_mut_ptr().cast(),
                    window.len(),
                    &mut spill.0,
                )
            }
        };
        match result {
            RResult::ROk(n) => Ok(n),
            RResult::RErr(e) => Err(from_abi(RBox::into_inner(e))),
        }
    }

    /// [`dispatch`](Self::dispatch) through a small-call entry (the shared one or a
    /// command's own), the response buffer's spare capacity lent as the window: `enter`
    /// calls the entry with the window's address and capacity and the spill buffer.
    #[inline(always)]
    #[expect(
        unsafe_code,
        reason = "the buffer's memory lent to the plugin as its window, and its length set after"
    )]
    fn dispatch_in_place(
        &self,
        response: &mut ResponseBuffer,
        enter: impl FnOnce(*mut u8, usize, &mut RVec<u8>) -> RResult<usize, RBox<AbiError>>,
    ) -> Result<(), PluginError> {
        let buf = &mut response.0;
        let capacity = buf.capacity();
        // An `RVec`'s pointer is never null (one that never allocated has a dangling one), so
        // with no capacity zero bytes are lent through a pointer that is at least not null.
        let window = buf.as_mut_ptr();
        // Dropped only if the plugin grew it: an `RVec`'s drop is a call through its vtable.
        let mut spill = std::mem::ManuallyDrop::new(RVec::<u8>::new());
        // The window is the buffer's `capacity` bytes (its length is 0 after `clear`),
        // exclusively ours through `response`, and nothing else touches them during the call.
        let result = enter(window, capacity, &mut spill);
        let outcome = match result {
            RResult::ROk(n) if n <= capacity => {
                // SAFETY: a length within the window means the plugin wrote the response's
                // `n` bytes at the window's start (`WindowFn`'s contract), which is the
                // buffer's start, and `n` is within its capacity.
                unsafe { buf.set_len(n) };
                Ok(())
            }
            RResult::ROk(_) => {
                // The response is in `spill`, all of it: it becomes the buffer, and the old
                // buffer goes with the spill below.
                std::mem::swap(buf, &mut *spill);
                Ok(())
            }
            RResult::RErr(e) => Err(from_abi(RBox::into_inner(e))),
        };
        // Whatever holds memory now (a response that spilled and was then cleared and
        // rewritten in the window, the old buffer, a failed call's spill) is freed.
        if spill.capacity() > 0 {
            drop(std::mem::ManuallyDrop::into_inner(spill));
        }
        outcome
    }

    /// Calls the small-call entry `call` of this plugin.
    ///
    /// # Safety
    ///
    /// `call` is `self.window.call`'s function; `request` is `request_len` readable bytes, or
    /// with `GATHERED` in `method` that many [`Run`](super::gather::Run)s whose bytes are
    /// readable, for a plugin that reads them (`self.gathers`); `window` is `capacity`
    /// writable bytes that nothing else reads or writes during the call.
    #[inline(always)]
    #[expect(unsafe_code, reason = "the call into the plugin's small-call entry")]
    #[expect(
        clippy::too_many_arguments,
        reason = "the ABI entry's arguments, passed through"
    )]
    unsafe fn enter(
        &self,
        call: super::types::WindowFn,
        method: u32,
        request: *const u8,
        request_len: usize,
        window: *mut u8,
        capacity: usize,
        spill: &mut RVec<u8>,
    ) -> RResult<usize, RBox<AbiError>> {
        // SAFETY: `this` came with `call` from this plugin's object, which `self` holds; the
        // request and the spill buffer are borrowed for the call (exclusively, the buffer),
        // and the window is as the caller promises: what `WindowFn` requires.
        unsafe {
            call(
                self.window.this,
                method,
                request,
                request_len,
                window,
                capacity,
                spill,
            )
        }
    }

    #[cold]
    #[inline(never)]
    fn dispatch_copied(
        &self,
        method: u32,
        request: &[u8],
        window: &mut [MaybeUninit<u8>],
        spill: &mut ResponseBuffer,
    ) -> Result<usize, PluginError> {
        self.dispatch(method, request, spill)?;
        Ok(spill.to_window(window))
    }

    /// Calls streaming command number `method` with `request`: each chunk the plugin sends
    /// goes to `receiver` on this thread, as it is sent; the summary replaces the contents of
    /// `response`.
    pub fn dispatch_stream(
        &self,
        method: u32,
        request: &[u8],
        receiver: &mut dyn ChunkReceiver,
        response: &mut ResponseBuffer,
    ) -> Result<(), PluginError> {
        response.0.clear();
        let sink = StreamSink_TO::from_value(ReceiverSink(receiver), TD_Opaque);
        match self.object.dispatch_stream(
            method,
            RSlice::from_slice(request),
            sink,
            &mut response.0,
        ) {
            RResult::ROk(()) => Ok(()),
            RResult::RErr(e) => Err(from_abi(RBox::into_inner(e))),
        }
    }

    /// Delivers an event envelope.
    pub fn on_event(&self, topic: &str, envelope: &[u8]) -> Result<(), PluginError> {
        unit(
            self.object
                .on_event(RStr::from_str(topic), RSlice::from_slice(envelope)),
        )
    }

    /// Asks the plugin for the state to hand to its next version.
    pub fn snapshot(&self) -> Result<Vec<u8>, PluginError> {
        match self.object.snapshot() {
            RResult::ROk(v) => Ok(v.into_vec()),
            RResult::RErr(e) => Err(from_abi(e)),
        }
    }

    /// Hands a previous version's state to this plugin.
    pub fn restore(&self, state: &[u8]) -> Result<(), PluginError> {
        unit(self.object.restore(RSlice::from_slice(state)))
    }

    /// The plugin's own health report.
    pub fn health(&self) -> Health {
        let h = self.object.health();
        let message = h.message.into_string();
        match h.status {
            0 => Health::Healthy,
            1 => Health::Degraded(message),
            _ => Health::Unhealthy(message),
        }
    }
}

#[inline]
fn unit(r: RResult<(), AbiError>) -> Result<(), PluginError> {
    match r {
        RResult::ROk(()) => Ok(()),
        RResult::RErr(e) => Err(from_abi(e)),
    }
}

pub(super) fn from_abi(e: AbiError) -> PluginError {
    let mut err = PluginError::with_code(ErrorCode::from_number(e.code), e.message.into_string());
    let next = e.next_step.into_string();
    if !next.is_empty() {
        err = err.next_step(next);
    }
    err
}

pub(super) struct ServicesAdapter(pub(super) Arc<dyn HostServices>);

impl ServicesAdapter {
    /// Both ABI forms of a service call: service, method and the two contract ids, then the
    /// request and the timeout.
    fn service_call(
        &self,
        [service, method, request_contract, response_contract]: [RStr<'_>; 4],
        request: RSlice<'_, u8>,
        timeout: Option<std::time::Duration>,
    ) -> RResult<RVec<u8>, AbiError> {
        guarded(|| {
            self.0
                .call_service(&ServiceCall {
                    service: service.as_str(),
                    method: method.as_str(),
                    request_contract: request_contract.as_str(),
                    response_contract: response_contract.as_str(),
                    request: request.as_slice(),
                    timeout,
                })
                .map(RVec::from)
        })
    }
}

impl HostContext for ServicesAdapter {
    fn plugin_name(&self) -> RString {
        catch_unwind(AssertUnwindSafe(|| self.0.plugin_name()))
            .map(RString::from)
            .unwrap_or_default()
    }

    fn log(&self, level: u8, message: RStr<'_>) {
        let level = Level::from_u8(level).unwrap_or(Level::Info);
        let _ = catch_unwind(AssertUnwindSafe(|| self.0.log(level, message.as_str())));
    }

    fn check(&self, kind: RStr<'_>, target: RStr<'_>) -> RResult<(), AbiError> {
        guarded(|| {
            let access = Access::from_parts(kind.as_str(), target.as_str())?;
            self.0.check(&access)
        })
    }

    fn read_file(&self, path: RStr<'_>) -> RResult<RVec<u8>, AbiError> {
        guarded(|| self.0.read_file(path.as_str()).map(RVec::from))
    }

    fn write_file(&self, path: RStr<'_>, data: RSlice<'_, u8>) -> RResult<(), AbiError> {
        guarded(|| self.0.write_file(path.as_str(), data.as_slice()))
    }

    fn env_var(&self, name: RStr<'_>) -> RResult<ROption<RString>, AbiError> {
        guarded(|| {
            self.0
                .env_var(name.as_str())
                .map(|v| ROption::from(v.map(RString::from)))
        })
    }

    fn publish(
        &self,
        topic: RStr<'_>,
        headers: RSlice<'_, u8>,
        payload: RSlice<'_, u8>,
    ) -> RResult<u32, AbiError> {
        guarded(|| {
            let headers: Vec<(&str, &str)> = if headers.is_empty() {
                Vec::new()
            } else {
                postcard::from_bytes(headers.as_slice()).map_err(|e| {
                    PluginError::with_code(
                        codes::BAD_REQUEST,
                        format!("the event headers do not decode: {e}"),
                    )
                })?
            };
            self.0.publish(topic.as_str(), &headers, payload.as_slice())
        })
    }

    fn publish_batch(
        &self,
        topics: RSlice<'_, u8>,
        events: RSlice<'_, u32>,
        ends: RSlice<'_, u32>,
        payloads: RSlice<'_, u8>,
    ) -> RResult<u32, AbiError> {
        guarded(|| {
            let topics: Vec<BatchTopic<'_>> =
                postcard::from_bytes(topics.as_slice()).map_err(|e| {
                    PluginError::with_code(
                        codes::BATCH_MALFORMED,
                        format!("the batch's topics do not decode: {e}"),
                    )
                })?;
            let batch = EventBatch::new(
                topics,
                events.as_slice(),
                ends.as_slice(),
                payloads.as_slice(),
            )?;
            self.0.publish_batch(&batch)
        })
    }

    fn call_service(
        &self,
        service: RStr<'_>,
        method: RStr<'_>,
        request_contract: RStr<'_>,
        response_contract: RStr<'_>,
        request: RSlice<'_, u8>,
    ) -> RResult<RVec<u8>, AbiError> {
        self.service_call(
            [service, method, request_contract, response_contract],
            request,
            None,
        )
    }

    fn call_service_timeout(
        &self,
        service: RStr<'_>,
        method: RStr<'_>,
        request_contract: RStr<'_>,
        response_contract: RStr<'_>,
        request: RSlice<'_, u8>,
        timeout_ms: u64,
    ) -> RResult<RVec<u8>, AbiError> {
        self.service_call(
            [service, method, request_contract, response_contract],
            request,
            Some(std::time::Duration::from_millis(timeout_ms)),
        )
    }

    // plugin state (issue 6)
    fn kv_get(&self, key: RStr<'_>) -> RResult<ROption<AbiKvEntry>, AbiError> {
        guarded(|| {
            self.0.kv_get(key.as_str()).map(|e| {
                ROption::from(e.map(|e| AbiKvEntry {
                    value: RVec::from(e.value),
                    version: e.version,
                }))
            })
        })
    }

    fn kv_put(&self, key: RStr<'_>, value: RSlice<'_, u8>) -> RResult<u64, AbiError> {
        guarded(|| self.0.kv_put(key.as_str(), value.as_slice()))
    }

    fn kv_delete(&self, key: RStr<'_>) -> RResult<bool, AbiError> {
        guarded(|| self.0.kv_delete(key.as_str()))
    }

    fn kv_list(
        &self,
        prefix: RStr<'_>,
        after: ROption<RStr<'_>>,
        limit: u32,
    ) -> RResult<RVec<u8>, AbiError> {
        guarded(|| {
            let after = after.into_option().map(|a| a.as_str());
            let page = self.0.kv_list(prefix.as_str(), after, limit)?;
            Ok(postcard_rvec(&page))
        })
    }

    fn kv_cas(&self, request: RSlice<'_, u8>) -> RResult<RVec<u8>, AbiError> {
        guarded(|| {
            let request: CasRequest = decode_as(request.as_slice())?;
            Ok(postcard_rvec(&self.0.kv_cas(&request)?))
        })
    }

    fn kv_commit(&self, batch: RSlice<'_, u8>) -> RResult<RVec<u8>, AbiError> {
        guarded(|| {
            let batch: CommitBatch = decode_as(batch.as_slice())?;
            Ok(postcard_rvec(&self.0.kv_commit(&batch)?))
        })
    }

    fn secret_get(&self, name: RStr<'_>) -> RResult<ROption<RVec<u8>>, AbiError> {
        guarded(|| {
            self.0
                .secret_get(name.as_str())
                .map(|s| ROption::from(s.map(|s| RVec::from(s.expose()))))
        })
    }

    fn secret_put(&self, name: RStr<'_>, value: RSlice<'_, u8>) -> RResult<(), AbiError> {
        guarded(|| self.0.secret_put(name.as_str(), value.as_slice()))
    }

    fn secret_delete(&self, name: RStr<'_>) -> RResult<bool, AbiError> {
        guarded(|| self.0.secret_delete(name.as_str()))
    }

    fn config_json(&self) -> RResult<RString, AbiError> {
        guarded(|| self.0.config_json().map(RString::from))
    }

    fn usage(&self, unit: RStr<'_>, amount: u64) -> RResult<(), AbiError> {
        guarded(|| {
            // A plugin that skipped the SDK's check gets the same refusal.
            crate::stream::check_usage_unit(unit.as_str())?;
            self.0.usage(unit.as_str(), amount)
        })
    }
}

fn postcard_rvec<T: serde::Serialize>(value: &T) -> RVec<u8> {
    let mut buf = Vec::new();
    encode_into(value, &mut buf);
    RVec::from(buf)
}

/// Runs a host service for a plugin: a host-side panic becomes an error, never an unwind into
/// plugin code.
fn guarded<T>(f: impl FnOnce() -> Result<T, PluginError>) -> RResult<T, AbiError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => RResult::ROk(v),
        Ok(Err(e)) => RResult::RErr(super::export::to_abi(e)),
        Err(_) => RResult::RErr(super::export::to_abi(
            PluginError::with_code(codes::SERVICE_FAILED, "the host service panicked")
                .next_step("report this to the host's developers"),
        )),
    }
}
