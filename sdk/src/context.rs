//! The plugin's handle on its host.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::caps::Access;
use crate::error::{codes, PluginError};
use crate::state::{CasOutcome, CasRequest, CommitBatch, CommitOutcome, KvEntry, KvPage, Secret};

/// The severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum Level {
    /// Something failed.
    Error = 1,
    /// Something looks wrong.
    Warn = 2,
    /// Normal operation.
    Info = 3,
    /// Detail for developers.
    Debug = 4,
    /// Very fine detail.
    Trace = 5,
}

impl Level {
    /// The level for its wire number, if valid.
    pub fn from_u8(n: u8) -> Option<Level> {
        Some(match n {
            1 => Level::Error,
            2 => Level::Warn,
            3 => Level::Info,
            4 => Level::Debug,
            5 => Level::Trace,
            _ => return None,
        })
    }

    /// The level's lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What stands behind a [`Context`]: the host across the ABI, or a mock in tests.
pub(crate) trait ContextBackend: Send + Sync {
    fn plugin_name(&self) -> String;
    fn log(&self, level: Level, message: &str);
    fn check(&self, access: &Access<'_>) -> Result<(), PluginError>;
    fn read_file(&self, path: &str) -> Result<Vec<u8>, PluginError>;
    fn write_file(&self, path: &str, data: &[u8]) -> Result<(), PluginError>;
    fn env_var(&self, name: &str) -> Result<Option<String>, PluginError>;
    fn publish(
        &self,
        topic: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
    ) -> Result<u32, PluginError>;
    fn publish_batch(&self, batch: &crate::batch::EventBatch<'_>) -> Result<u32, PluginError>;
    fn call_service(&self, call: &crate::abi::ServiceCall<'_>) -> Result<Vec<u8>, PluginError>;
    // plugin state (issue 6)
    fn kv_get(&self, key: &str) -> Result<Option<KvEntry>, PluginError>;
    fn kv_put(&self, key: &str, value: &[u8]) -> Result<u64, PluginError>;
    fn kv_delete(&self, key: &str) -> Result<bool, PluginError>;
    fn kv_list(&self, prefix: &str, after: Option<&str>, limit: u32)
        -> Result<KvPage, PluginError>;
    fn kv_cas(&self, request: &CasRequest) -> Result<CasOutcome, PluginError>;
    fn kv_commit(&self, batch: &CommitBatch) -> Result<CommitOutcome, PluginError>;
    fn secret_get(&self, name: &str) -> Result<Option<Secret>, PluginError>;
    fn secret_put(&self, name: &str, value: &[u8]) -> Result<(), PluginError>;
    fn secret_delete(&self, name: &str) -> Result<bool, PluginError>;
    fn config_json(&self) -> Result<String, PluginError>;
    /// The time now. Hosts read the system clock; the mock host's clock is the test's.
    fn now(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
    }
    /// Adds `amount` of `unit` (already checked) to the current call's usage.
    fn usage(&self, unit: &str, amount: u64) -> Result<(), PluginError>;
}

/// The plugin's handle on its host: logging, and the host services — files, environment
/// variables, and (as the host offers them) KV, events, services and configuration — each
/// behind a capability the host must have granted.
///
/// A denied use is an ordinary [`PluginError`] whose code says why (`SB0410`–`SB0416`, see
/// [`codes`](crate::codes)) and whose next step names the capability to request or grant;
/// it is never a panic.
///
/// A `Context` is cheap to clone and may be kept and used from any thread.
///
/// # Example
///
/// ```
/// use switchboard_sdk::prelude::*;
///
/// fn greet(ctx: &Context, name: &str) -> String {
///     ctx.info(&format!("greeting {name}"));
///     format!("Hello, {name}!")
/// }
/// # #[cfg(feature = "testing")]
/// # {
/// let host = switchboard_sdk::testing::MockHost::new("hello");
/// assert_eq!(greet(&host.context(), "Ada"), "Hello, Ada!");
/// assert_eq!(host.logs()[0].1, "greeting Ada");
/// # }
/// ```
#[derive(Clone)]
pub struct Context {
    backend: Arc<dyn ContextBackend>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("plugin", &self.plugin_name())
            .finish()
    }
}

impl Context {
    pub(crate) fn from_backend(backend: Arc<dyn ContextBackend>) -> Self {
        Context { backend }
    }

    pub(crate) fn backend(&self) -> &dyn ContextBackend {
        &*self.backend
    }

    /// The name this plugin was loaded under.
    pub fn plugin_name(&self) -> String {
        self.backend.plugin_name()
    }

    /// The current time. Read it here rather than from `SystemTime::now()` so a unit test
    /// can control it: a real host gives the system clock, and the SDK's mock host
    /// (`MockHost::set_time`, `MockHost::advance`) gives the test's clock.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use switchboard_sdk::Context;
    ///
    /// /// Whether a token issued at `issued` has expired (after an hour).
    /// fn expired(ctx: &Context, issued: SystemTime) -> bool {
    ///     ctx.now().duration_since(issued).is_ok_and(|age| age > Duration::from_secs(3600))
    /// }
    /// # #[cfg(feature = "testing")]
    /// # {
    /// let host = switchboard_sdk::testing::MockHost::new("tokens");
    /// let issued = host.now();
    /// assert!(!expired(&host.context(), issued));
    /// host.advance(Duration::from_secs(3601));
    /// assert!(expired(&host.context(), issued));
    /// # }
    /// ```
    pub fn now(&self) -> std::time::SystemTime {
        self.backend.now()
    }

    /// Sends a log line to the host, which routes it (plugins never print).
    pub fn log(&self, level: Level, message: &str) {
        self.backend.log(level, message);
    }

    /// Logs at [`Level::Error`].
    pub fn error(&self, message: &str) {
        self.log(Level::Error, message);
    }

    /// Logs at [`Level::Warn`].
    pub fn warn(&self, message: &str) {
        self.log(Level::Warn, message);
    }

    /// Logs at [`Level::Info`].
    pub fn info(&self, message: &str) {
        self.log(Level::Info, message);
    }

    /// Logs at [`Level::Debug`].
    pub fn debug(&self, message: &str) {
        self.log(Level::Debug, message);
    }

    /// Asks whether the host would allow `access` now, without doing it. Host services make
    /// the same check themselves; this is for plugins that adapt to what they were granted.
    ///
    /// A `once` grant is used up by a successful check.
    ///
    /// # Example
    ///
    /// ```
    /// use switchboard_sdk::prelude::*;
    ///
    /// fn announce(ctx: &Context) -> bool {
    ///     ctx.check(&Access::Publish("plugin.hello.ready")).is_ok()
    /// }
    /// # #[cfg(feature = "testing")]
    /// # {
    /// let host = switchboard_sdk::testing::MockHost::new("hello");
    /// assert!(!announce(&host.context()));
    /// host.grant("events.publish:plugin.hello.*").unwrap();
    /// assert!(announce(&host.context()));
    /// # }
    /// ```
    pub fn check(&self, access: &Access<'_>) -> Result<(), PluginError> {
        self.backend.check(access)
    }

    /// Reports usage for metering: `amount` of `unit` (`"tokens"`, `"gpu.ms"`) consumed by the
    /// command being served. The host attaches it to the call's result, adds it up per plugin
    /// and command in its metrics (saturating at `u64::MAX`), and stores it for billing. Calls
    /// add up: report as you go or once at the end. Needs no capability.
    ///
    /// Report from the thread that serves the command: usage reported from another thread
    /// (one the plugin started, an event handler) is counted for the plugin outside any
    /// command (`-` in reports).
    ///
    /// # Errors
    ///
    /// [`BAD_USAGE_UNIT`](crate::codes::BAD_USAGE_UNIT) for a unit that is not 1–64
    /// characters of lower-case letters, digits, `_`, `.`, `-` starting with a letter;
    /// [`TOO_MANY_USAGE_UNITS`](crate::codes::TOO_MANY_USAGE_UNITS) for a unit past the
    /// plugin's first [`MAX_USAGE_UNITS`](crate::stream::MAX_USAGE_UNITS) (32);
    /// [`USAGE_UNSUPPORTED`](crate::codes::USAGE_UNSUPPORTED) from a host older than SDK
    /// ABI 1.3.
    ///
    /// # Example
    ///
    /// ```
    /// # #[cfg(feature = "testing")]
    /// # {
    /// let host = switchboard_sdk::testing::MockHost::new("llm");
    /// let ctx = host.context();
    /// ctx.usage("tokens", 1200).unwrap();
    /// ctx.usage("tokens", 34).unwrap();
    /// assert_eq!(host.usage()["tokens"], 1234);
    /// assert_eq!(ctx.usage("Tokens!", 1).unwrap_err().code().to_string(), "SB1734");
    /// # }
    /// ```
    pub fn usage(&self, unit: &str, amount: u64) -> Result<(), PluginError> {
        crate::stream::check_usage_unit(unit)?;
        self.backend.usage(unit, amount)
    }

    /// The file system, as far as the `fs.read` and `fs.write` grants reach.
    pub fn fs(&self) -> Fs<'_> {
        Fs { ctx: self }
    }

    /// The environment variable `name`, as the host passes it on (`None` if unset). Needs
    /// `env:NAME` (or a pattern covering it). Hosts pass on only the variables they choose;
    /// this is not the process environment.
    ///
    /// # Example
    ///
    /// ```
    /// # #[cfg(feature = "testing")]
    /// # {
    /// let host = switchboard_sdk::testing::MockHost::new("hello");
    /// host.set_env("APP_MODE", "fast");
    /// let ctx = host.context();
    /// assert_eq!(ctx.env("APP_MODE").unwrap_err().code().to_string(), "SB0410");
    /// host.grant("env:APP_*").unwrap();
    /// assert_eq!(ctx.env("APP_MODE").unwrap().as_deref(), Some("fast"));
    /// # }
    /// ```
    pub fn env(&self, name: &str) -> Result<Option<String>, PluginError> {
        self.backend.env_var(name)
    }

    /// Publishes `message` on `topic`, with a `contract` header naming its type. Returns how
    /// many subscriptions took it.
    ///
    /// A plugin may always publish in its own namespace, `plugin.<its name>.*`; anywhere else
    /// needs an `events.publish` grant covering the topic, and `system.*` belongs to the bus.
    /// Published from a handler or a command called by one, the event joins the same trace.
    ///
    /// # Example
    ///
    /// ```
    /// # #[cfg(feature = "testing")]
    /// # {
    /// let host = switchboard_sdk::testing::MockHost::new("notes");
    /// let ctx = host.context();
    /// ctx.publish("plugin.notes.saved", &"today.md".to_string()).unwrap();
    /// assert_eq!(host.published()[0].0, "plugin.notes.saved");
    /// let denied = ctx.publish("plugin.other.saved", &"x".to_string()).unwrap_err();
    /// assert_eq!(denied.code().to_string(), "SB0410");
    /// # }
    /// ```
    pub fn publish<M: crate::Message>(&self, topic: &str, message: &M) -> Result<u32, PluginError> {
        let payload = crate::message::encode(message);
        self.backend
            .publish(topic, &[("contract", M::CONTRACT.id)], &payload)
    }

    /// Publishes `message` as `plugin.<this plugin>.<event>`.
    pub fn emit<M: crate::Message>(&self, event: &str, message: &M) -> Result<u32, PluginError> {
        let topic = format!("plugin.{}.{event}", self.plugin_name());
        self.publish(&topic, message)
    }

    /// Publishes `messages` on `topic`, in order, crossing to the host once: the plugin's
    /// right to the topic is checked once and every message's size before anything is
    /// delivered, so the batch is published whole or not at all. Returns how many deliveries
    /// were queued in all. An empty batch publishes nothing and returns 0.
    ///
    /// The same rules as [`publish`](Context::publish) decide which topics are allowed; on
    /// the host, the events travel as runs of up to 64 per subscriber queue slot, as the
    /// host's own `Bus::publish_batch` does. For several topics in one batch, use
    /// [`batch`](Context::batch).
    ///
    /// # Errors
    ///
    /// A denied topic (`SB0410`…), an event over the host's event size limit (`SB0819`), a
    /// batch over its call size limit ([`BATCH_TOO_LARGE`](codes::BATCH_TOO_LARGE)), or a
    /// host older than SDK ABI 1.2 ([`BATCH_UNSUPPORTED`](codes::BATCH_UNSUPPORTED)).
    ///
    /// # Example
    ///
    /// ```
    /// # #[cfg(feature = "testing")]
    /// # {
    /// let host = switchboard_sdk::testing::MockHost::new("sensor");
    /// let ctx = host.context();
    /// let readings = [20.5f64, 20.75, 21.0];
    /// ctx.publish_batch("plugin.sensor.reading", &readings).unwrap();
    /// assert_eq!(host.published().len(), 3);
    /// # }
    /// ```
    pub fn publish_batch<'m, M: crate::Message + 'm>(
        &self,
        topic: &str,
        messages: impl IntoIterator<Item = &'m M>,
    ) -> Result<u32, PluginError> {
        let mut batch = self.batch();
        for m in messages {
            batch.publish(topic, m);
        }
        batch.send()
    }

    /// A batch to fill with events on one topic or several and publish at once with
    /// [`PublishBatch::send`](crate::batch::PublishBatch::send).
    ///
    /// # Example
    ///
    /// ```
    /// # #[cfg(feature = "testing")]
    /// # {
    /// let host = switchboard_sdk::testing::MockHost::new("notes");
    /// let ctx = host.context();
    /// ctx.batch()
    ///     .publish("plugin.notes.saved", &"a.md".to_string())
    ///     .publish("plugin.notes.count", &1u32)
    ///     .send()
    ///     .unwrap();
    /// assert_eq!(host.published().len(), 2);
    /// # }
    /// ```
    pub fn batch(&self) -> crate::batch::PublishBatch<'_> {
        crate::batch::PublishBatch::new(self)
    }

    /// Publishes raw bytes on `topic`, with the given headers and no contract.
    pub fn publish_raw(
        &self,
        topic: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
    ) -> Result<u32, PluginError> {
        self.backend.publish(topic, headers, payload)
    }

    /// Calls `method` of the shared service `service`. Needs `service.call` covering the
    /// service; the request and response types must be the ones the provider declares (the
    /// host compares contract ids and names both on a mismatch). The provider sees only the
    /// request: nothing of this plugin's state or grants.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use switchboard_sdk::prelude::*;
    ///
    /// fn shout(ctx: &Context, text: &str) -> Result<String, PluginError> {
    ///     ctx.call_service::<String, String>("text.tools", "upper", &text.to_owned())
    /// }
    /// ```
    pub fn call_service<Req: crate::Message, Resp: crate::Message>(
        &self,
        service: &str,
        method: &str,
        request: &Req,
    ) -> Result<Resp, PluginError> {
        self.service_call(service, method, request, None)
    }

    /// [`call_service`](Context::call_service) that gives up after `timeout` with a coded
    /// error (`SB0811`). The provider runs on its own thread, so a provider that hangs cannot
    /// hold this plugin's thread beyond the timeout.
    pub fn call_service_timeout<Req: crate::Message, Resp: crate::Message>(
        &self,
        service: &str,
        method: &str,
        request: &Req,
        timeout: std::time::Duration,
    ) -> Result<Resp, PluginError> {
        self.service_call(service, method, request, Some(timeout))
    }

    fn service_call<Req: crate::Message, Resp: crate::Message>(
        &self,
        service: &str,
        method: &str,
        request: &Req,
        timeout: Option<std::time::Duration>,
    ) -> Result<Resp, PluginError> {
        let request = crate::message::encode(request);
        let reply = self.backend.call_service(&crate::abi::ServiceCall {
            service,
            method,
            request_contract: Req::CONTRACT.id,
            response_contract: Resp::CONTRACT.id,
            request: &request,
            timeout,
        })?;
        crate::message::decode::<Resp>(&reply)
    }
}

/// File access through the host: every path is checked against the plugin's `fs.read` /
/// `fs.write` grants after the host resolves it (symlinks and `..` cannot escape a grant).
/// Paths must be absolute.
///
/// # Example
///
/// ```
/// # #[cfg(feature = "testing")]
/// # {
/// let host = switchboard_sdk::testing::MockHost::new("notes");
/// host.grant("fs.write:/notes/**").unwrap();
/// host.grant("fs.read:/notes/**").unwrap();
/// let ctx = host.context();
/// ctx.fs().write("/notes/today.txt", b"buy milk").unwrap();
/// assert_eq!(ctx.fs().read_to_string("/notes/today.txt").unwrap(), "buy milk");
/// let denied = ctx.fs().read("/etc/passwd").unwrap_err();
/// assert_eq!(denied.code().to_string(), "SB0412");
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Fs<'a> {
    ctx: &'a Context,
}

fn path_text(path: &Path) -> Result<&str, PluginError> {
    path.to_str().ok_or_else(|| {
        PluginError::with_code(
            codes::SERVICE_FAILED,
            format!("the path {} is not valid UTF-8", path.display()),
        )
        .next_step("use a UTF-8 path")
    })
}

impl Fs<'_> {
    /// Reads a whole file. Needs `fs.read` covering the file's canonical path; the host opens
    /// it beneath the granted directory, so no symlink leads out, and reads regular files only
    /// (`SB0432` otherwise).
    pub fn read(&self, path: impl AsRef<Path>) -> Result<Vec<u8>, PluginError> {
        self.ctx.backend.read_file(path_text(path.as_ref())?)
    }

    /// Reads a whole file as UTF-8 text. Needs `fs.read` covering the file's canonical path.
    pub fn read_to_string(&self, path: impl AsRef<Path>) -> Result<String, PluginError> {
        let path = path.as_ref();
        String::from_utf8(self.read(path)?).map_err(|_| {
            PluginError::with_code(
                codes::SERVICE_FAILED,
                format!("{} is not UTF-8 text", path.display()),
            )
            .next_step("read it as bytes with `fs().read`")
        })
    }

    /// Creates or replaces a file. Needs `fs.write` covering its canonical path; the host opens
    /// it beneath the granted directory, so no symlink leads out, and refuses anything but a
    /// regular file (`SB0432`) and a file with other hard links (`SB0433`).
    pub fn write(&self, path: impl AsRef<Path>, data: impl AsRef<[u8]>) -> Result<(), PluginError> {
        self.ctx
            .backend
            .write_file(path_text(path.as_ref())?, data.as_ref())
    }
}
