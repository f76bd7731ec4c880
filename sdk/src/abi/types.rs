//! The `repr(C)` types that cross the library boundary.

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RArc, RBox, ROption, RResult, RSlice, RStr, RString, RVec},
    StableAbi,
};

/// An error crossing the boundary: a stable code, a message and a next step.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct AbiError {
    pub code: u16,
    pub message: RString,
    pub next_step: RString,
}

/// A KV value and its version crossing the boundary.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct AbiKvEntry {
    pub value: RVec<u8>,
    pub version: u64,
}

/// A health report crossing the boundary; `status` is `0` healthy, `1` degraded, `2` unhealthy.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct AbiHealth {
    pub status: u8,
    pub message: RString,
}

/// The object a plugin library hands to the host: the D4 protocol.
///
/// Every method takes `&self`: the host may call a plugin from several threads at once and never
/// holds a lock around plugin code.
#[sabi_trait]
pub trait PluginObject: Send + Sync {
    fn start(&self) -> RResult<(), AbiError>;
    fn stop(&self) -> RResult<(), AbiError>;
    fn dispatch(
        &self,
        method: u32,
        request: RSlice<'_, u8>,
        response: &mut RVec<u8>,
    ) -> RResult<(), RBox<AbiError>>;
    fn on_event(&self, topic: RStr<'_>, envelope: RSlice<'_, u8>) -> RResult<(), AbiError>;
    fn snapshot(&self) -> RResult<RVec<u8>, AbiError>;
    fn restore(&self, state: RSlice<'_, u8>) -> RResult<(), AbiError>;
    #[sabi(last_prefix_field)]
    fn health(&self) -> AbiHealth;

    // SDK ABI 1.3.
    /// Runs streaming command number `method`: its chunks go to `sink` as it sends them, its
    /// summary into `response`.
    ///
    /// The body is what a host gets from a plugin built before this method existed (its
    /// vtable has no entry): a coded error, never a crash.
    fn dispatch_stream(
        &self,
        method: u32,
        request: RSlice<'_, u8>,
        sink: StreamSinkBox<'_>,
        response: &mut RVec<u8>,
    ) -> RResult<(), RBox<AbiError>> {
        let _ = (method, request, sink, response);
        RResult::RErr(RBox::new(crate::abi::export::to_abi(
            crate::abi::export::stream_unsupported(),
        )))
    }

    // SDK ABI 1.4.
    /// The small-call fast lane: a plain function and the object's address, which the host
    /// asks for once, when it instantiates the plugin, and then calls directly (no shim, no
    /// trait-object dispatch). Since SDK ABI 1.6 a host calls each command's own entry
    /// ([`command_entries`](PluginObject::command_entries)) and this one only for numbers
    /// without one: migrations, and numbers no command has.
    ///
    /// The body is what a host gets from a plugin built before this method existed: no
    /// entry, and every call goes through [`dispatch`](PluginObject::dispatch) as before.
    fn window_entry(&self) -> WindowEntry {
        WindowEntry::NONE
    }

    // SDK ABI 1.6.
    /// One entry per command, indexed by command number: the host asks for the table once,
    /// when it instantiates the plugin, and calls a command's own function directly. Each
    /// holds only its command's decode, call and encode, so a call has no `match` on the
    /// command number and no frame sized for the plugin's largest command.
    ///
    /// The body is what a host gets from a plugin built before this method existed: an empty
    /// table, and every call goes through [`window_entry`](PluginObject::window_entry).
    fn command_entries(&self) -> CommandEntries {
        CommandEntries::NONE
    }
}

/// A plugin's small-call entry (SDK ABI 1.4): [`WindowFn`] and the object it is called on.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct WindowEntry {
    /// The plugin object's address: the first argument of every call of `call`.
    pub this: *const (),
    /// A [`WindowFn`]; `None` for a plugin built before SDK ABI 1.4. (Spelt out: abi_stable's
    /// derive reads function pointer types only where they are written.)
    #[expect(
        clippy::type_complexity,
        reason = "abi_stable's derive needs the function pointer type written out, not an alias"
    )]
    pub call: Option<
        unsafe extern "C" fn(
            this: *const (),
            method: u32,
            request: *const u8,
            request_len: usize,
            window: *mut u8,
            capacity: usize,
            spill: *mut RVec<u8>,
        ) -> RResult<usize, RBox<AbiError>>,
    >,
}

impl WindowEntry {
    /// No fast lane.
    pub const NONE: WindowEntry = WindowEntry {
        this: std::ptr::null(),
        call: None,
    };
}

// SAFETY: `this` is the address of the plugin object, which is `Send + Sync` (see
// `PluginObject`); the entry only hands it back to the function that knows its type.
unsafe impl Send for WindowEntry {}
// SAFETY: as for `Send`.
unsafe impl Sync for WindowEntry {}

/// One command's own entries (SDK ABI 1.6): the small-call entry's function for that command
/// only, without the command number, for a request in one buffer and for a gathered one.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
#[expect(
    clippy::type_complexity,
    reason = "abi_stable's derive needs the function pointer types written out, not an alias"
)]
pub struct CommandEntry {
    /// A `CommandFn` taking the request in one buffer; `None` for a command the host
    /// reaches through the shared entry.
    pub call: Option<
        unsafe extern "C" fn(
            this: *const (),
            request: *const u8,
            request_len: usize,
            window: *mut u8,
            capacity: usize,
            spill: *mut RVec<u8>,
        ) -> RResult<usize, RBox<AbiError>>,
    >,
    /// A `CommandFn` taking the request gathered: `request` is the address of
    /// `request_len` [`Run`](super::gather::Run)s, as with the shared entry's bit 30. `None`
    /// for a command the host reaches through the shared entry.
    pub gathered: Option<
        unsafe extern "C" fn(
            this: *const (),
            request: *const u8,
            request_len: usize,
            window: *mut u8,
            capacity: usize,
            spill: *mut RVec<u8>,
        ) -> RResult<usize, RBox<AbiError>>,
    >,
}

/// A plugin's per-command entries (SDK ABI 1.6) and the object they are called on.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct CommandEntries {
    /// The plugin object's address: the first argument of every entry's call.
    pub this: *const (),
    /// Entry `i` is command number `i`'s; the slice lives in the library's static memory.
    pub entries: RSlice<'static, CommandEntry>,
}

impl CommandEntries {
    /// No per-command entries.
    pub const NONE: CommandEntries = CommandEntries {
        this: std::ptr::null(),
        entries: RSlice::from_slice(&[]),
    };
}

// SAFETY: as for `WindowEntry`: `this` is the plugin object's address, which is `Send + Sync`,
// handed back only to functions that know its type; the entries are plain function pointers.
unsafe impl Send for CommandEntries {}
// SAFETY: as for `Send`.
unsafe impl Sync for CommandEntries {}

/// Runs one command (SDK ABI 1.6, [`CommandEntry`]): [`WindowFn`] without the command number.
/// The request is one buffer for [`CommandEntry::call`]'s function, and `request_len`
/// [`Run`](super::gather::Run)s at `request` for [`CommandEntry::gathered`]'s.
///
/// # Safety
///
/// As [`WindowFn`] says for a request in one buffer, or for a gathered one; `this` is the
/// `this` of the [`CommandEntries`] the entry came in.
pub type CommandFn = unsafe extern "C" fn(
    this: *const (),
    request: *const u8,
    request_len: usize,
    window: *mut u8,
    capacity: usize,
    spill: *mut RVec<u8>,
) -> RResult<usize, RBox<AbiError>>;

/// Runs command number `method` (arguments: the object, the method, the request's address
/// and length, the response window's address and capacity, the spill buffer).
///
/// The response is written into the window when it fits; otherwise all of it goes into the
/// spill buffer (the host's `RVec`, grown with the host's allocator). Returns the response's
/// length `n`: the bytes are `window[..n]` when `n <= capacity`, else the spill buffer's.
/// The command runs once either way. A panic comes back as a coded error.
///
/// **Gathered requests (SDK ABI 1.5).** When `method` has the bit
/// [`GATHERED`](super::gather::GATHERED) set, the command is `method` without it and
/// `request` is the address of `request_len` [`Run`](super::gather::Run)s: the request is
/// their bytes in order, cut only between values, so a long byte or string field is read
/// where the host's caller keeps it. A host sets the bit only for a plugin whose SDK ABI
/// minor is at least 5.
///
/// # Safety
///
/// `this` is the `this` of the same [`WindowEntry`], for as long as the plugin object lives;
/// the request is `request_len` readable bytes (or, gathered, `request_len` runs each naming
/// readable bytes); the window is `capacity` writable bytes (not necessarily initialised)
/// that nothing else uses during the call; `spill` is a valid, exclusive `RVec<u8>`.
pub type WindowFn = unsafe extern "C" fn(
    this: *const (),
    method: u32,
    request: *const u8,
    request_len: usize,
    window: *mut u8,
    capacity: usize,
    spill: *mut RVec<u8>,
) -> RResult<usize, RBox<AbiError>>;

/// Where a streaming command's chunks go: the host's side of a stream (SDK ABI 1.3).
#[sabi_trait]
pub trait StreamSink {
    /// Hands one encoded chunk to the host; blocks while its consumer is behind.
    fn send(&mut self, chunk: RSlice<'_, u8>) -> RResult<(), AbiError>;
    /// Whether the consumer stopped the stream.
    #[sabi(last_prefix_field)]
    fn is_cancelled(&self) -> bool;
}

/// A host's stream sink, borrowed for the length of one streaming call.
pub type StreamSinkBox<'s> = StreamSink_TO<'s, RBox<()>>;

/// The services a host offers a plugin. Later SDK minors append methods after the prefix.
///
/// Every service but `plugin_name` and `log` is checked against the instance's capability
/// grants on the host side; the plugin never holds or passes its token.
#[sabi_trait]
pub trait HostContext: Send + Sync {
    fn plugin_name(&self) -> RString;
    fn log(&self, level: u8, message: RStr<'_>);
    /// Whether `kind` (a capability name) on `target` (see `caps::Access::from_parts`) would
    /// be allowed now.
    fn check(&self, kind: RStr<'_>, target: RStr<'_>) -> RResult<(), AbiError>;
    fn read_file(&self, path: RStr<'_>) -> RResult<RVec<u8>, AbiError>;
    fn write_file(&self, path: RStr<'_>, data: RSlice<'_, u8>) -> RResult<(), AbiError>;
    #[sabi(last_prefix_field)]
    fn env_var(&self, name: RStr<'_>) -> RResult<ROption<RString>, AbiError>;

    // The event bus and shared services (SDK ABI 1.1).
    /// Publishes `payload` on `topic` with `headers` (postcard `Vec<(&str, &str)>`); returns
    /// how many subscriptions took it.
    fn publish(
        &self,
        topic: RStr<'_>,
        headers: RSlice<'_, u8>,
        payload: RSlice<'_, u8>,
    ) -> RResult<u32, AbiError>;
    /// Calls `service.method`, the caller's contracts checked against the provider's.
    fn call_service(
        &self,
        service: RStr<'_>,
        method: RStr<'_>,
        request_contract: RStr<'_>,
        response_contract: RStr<'_>,
        request: RSlice<'_, u8>,
    ) -> RResult<RVec<u8>, AbiError>;
    // plugin state (issue 6): SDK ABI 1.1. Structured arguments and results travel as
    // postcard bytes of the `crate::state` types.
    fn kv_get(&self, key: RStr<'_>) -> RResult<ROption<AbiKvEntry>, AbiError>;
    fn kv_put(&self, key: RStr<'_>, value: RSlice<'_, u8>) -> RResult<u64, AbiError>;
    fn kv_delete(&self, key: RStr<'_>) -> RResult<bool, AbiError>;
    /// A `KvPage`.
    fn kv_list(
        &self,
        prefix: RStr<'_>,
        after: ROption<RStr<'_>>,
        limit: u32,
    ) -> RResult<RVec<u8>, AbiError>;
    /// A `CasRequest` in, a `CasOutcome` out.
    fn kv_cas(&self, request: RSlice<'_, u8>) -> RResult<RVec<u8>, AbiError>;
    /// A `CommitBatch` in, a `CommitOutcome` out.
    fn kv_commit(&self, batch: RSlice<'_, u8>) -> RResult<RVec<u8>, AbiError>;
    fn secret_get(&self, name: RStr<'_>) -> RResult<ROption<RVec<u8>>, AbiError>;
    fn secret_put(&self, name: RStr<'_>, value: RSlice<'_, u8>) -> RResult<(), AbiError>;
    fn secret_delete(&self, name: RStr<'_>) -> RResult<bool, AbiError>;
    /// The effective configuration as JSON text.
    fn config_json(&self) -> RResult<RString, AbiError>;

    /// `call_service` that gives up after `timeout_ms` milliseconds (the provider runs on its
    /// own thread).
    fn call_service_timeout(
        &self,
        service: RStr<'_>,
        method: RStr<'_>,
        request_contract: RStr<'_>,
        response_contract: RStr<'_>,
        request: RSlice<'_, u8>,
        timeout_ms: u64,
    ) -> RResult<RVec<u8>, AbiError>;

    // SDK ABI 1.2.
    /// Publishes a batch of events at once, all or nothing: `topics` is a postcard
    /// `Vec<BatchTopic>`, `events[i]` the topic index of event `i` and `ends[i]` where its
    /// payload ends in `payloads`. Returns how many deliveries were queued.
    ///
    /// The body is what a plugin gets from a host built before this method existed (its
    /// vtable has no entry, and abi_stable falls back to the trait's default): a coded error,
    /// never a crash.
    fn publish_batch(
        &self,
        topics: RSlice<'_, u8>,
        events: RSlice<'_, u32>,
        ends: RSlice<'_, u32>,
        payloads: RSlice<'_, u8>,
    ) -> RResult<u32, AbiError> {
        let _ = (topics, events, ends, payloads);
        RResult::RErr(crate::abi::export::to_abi(crate::batch::unsupported()))
    }

    // SDK ABI 1.3.
    /// Adds `amount` of `unit` to the usage of the call the plugin serves on this thread.
    /// The body answers a plugin whose host predates metering: a coded error.
    fn usage(&self, unit: RStr<'_>, amount: u64) -> RResult<(), AbiError> {
        let _ = (unit, amount);
        RResult::RErr(crate::abi::export::to_abi(
            crate::abi::export::usage_unsupported(),
        ))
    }
}

pub type PluginObjectBox = PluginObject_TO<'static, RBox<()>>;
pub type HostContextBox = HostContext_TO<'static, RArc<()>>;

/// The root module every plugin library exports.
#[expect(
    missing_debug_implementations,
    reason = "a prefix type; its fields are reached through the generated PluginModuleRef"
)]
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    pub sdk_abi_major: u32,
    pub sdk_abi_minor: u32,
    /// The manifest embedded in the library's `switchboard_manifest` section.
    pub manifest: RSlice<'static, u8>,
    #[sabi(last_prefix_field)]
    pub instantiate: extern "C" fn(HostContextBox) -> RResult<PluginObjectBox, AbiError>,
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "switchboard_plugin";
    const NAME: &'static str = "switchboard_plugin";
    // The abi_stable-level version; Switchboard checks its own SDK ABI before this is read.
    const VERSION_STRINGS: VersionStrings = VersionStrings {
        version: RStr::from_str("1.0.0"),
    };
}
