//! A mock host, so plugin authors can unit-test a plugin without loading a library.
//!
//! Enable with the `testing` feature, usually as a dev-dependency:
//!
//! ```toml
//! [dev-dependencies]
//! switchboard-sdk = { version = "0.1", features = ["testing"] }
//! ```
//!
//! # Example
//!
//! ```
//! use switchboard_sdk::prelude::*;
//! use switchboard_sdk::testing::MockHost;
//!
//! pub struct Echo;
//!
//! impl Plugin for Echo {
//!     fn create(_ctx: &Context) -> Result<Self, PluginError> {
//!         Ok(Echo)
//!     }
//! }
//!
//! #[plugin]
//! impl Echo {
//!     #[command]
//!     fn shout(&self, ctx: &Context, text: String) -> String {
//!         ctx.info("shouting");
//!         text.to_uppercase()
//!     }
//! }
//!
//! let host = MockHost::new("echo");
//! let echo = host.instantiate::<Echo>().unwrap();
//! let out: String = echo.call("shout", &"hi".to_string()).unwrap();
//! assert_eq!(out, "HI");
//! assert_eq!(host.logs(), vec![(Level::Info, "shouting".to_string())]);
//! ```
//!
//! # Capabilities
//!
//! The mock denies every service until a test grants it with [`MockHost::grant`], and checks
//! grants with the same matching as real hosts. Files live in memory ([`MockHost::add_file`]),
//! paths are resolved lexically (the mock has no symlinks), and environment variables come
//! from [`MockHost::set_env`]. A use of a kind with no grant at all fails with `SB0410`; one
//! outside the granted patterns with `SB0412`.
//!
//! # Events, services, time, and what a plugin did
//!
//! [`MockPlugin::deliver`] hands an event to every `#[subscribe]` handler whose pattern
//! matches its topic, as a host's bus would (the handler's pattern must be granted
//! `events.subscribe`). [`MockHost::stub_service`] answers a service method with a closure,
//! checking both contracts as a host does when it binds a call. [`MockHost::set_time`] and
//! [`MockHost::advance`] move the clock a plugin reads with [`Context::now`]. And
//! [`MockHost::activity`] lists every host service a plugin used — files read and written,
//! KV and secret reads and writes, configuration and environment reads, service calls — in
//! order, beside [`MockHost::published`] and [`MockHost::logs`].
//!
//! ```
//! use std::time::Duration;
//! use switchboard_sdk::prelude::*;
//! use switchboard_sdk::testing::{Activity, MockHost};
//!
//! #[derive(Default)]
//! pub struct Counter;
//!
//! impl Plugin for Counter {
//!     fn create(_ctx: &Context) -> Result<Self, PluginError> {
//!         Ok(Counter)
//!     }
//! }
//!
//! #[plugin(capabilities = ["kv", "events.subscribe:files.*", "service.call:clock.*"])]
//! impl Counter {
//!     #[subscribe("files.*")]
//!     fn on_file(&self, ctx: &Context, event: &Event<'_>) -> Result<(), PluginError> {
//!         let path: String = event.decode()?;
//!         let stamp: u64 = ctx.call_service("clock.ticks", "now", &())?;
//!         ctx.kv().put(&path, &stamp.to_le_bytes())?;
//!         Ok(())
//!     }
//! }
//!
//! let host = MockHost::new("counter");
//! host.grant("kv").unwrap();
//! host.grant("events.subscribe:files.*").unwrap();
//! host.grant("service.call:clock.*").unwrap();
//! host.stub_service("clock.ticks", "now", |(): ()| Ok(42u64));
//! let counter = host.instantiate::<Counter>().unwrap();
//!
//! assert_eq!(counter.deliver("files.saved", &"/notes.md".to_string()).unwrap(), 1);
//! assert_eq!(host.kv_value("/notes.md"), Some(42u64.to_le_bytes().to_vec()));
//! assert!(host.activity().contains(&Activity::KvWrite("/notes.md".into())));
//! assert_eq!(host.service_calls(), vec![("clock.ticks".to_string(), "now".to_string())]);
//! ```
//!
//! KV (`kv`) and secrets (`secrets`) live in memory with a real host's semantics (versions,
//! compare-and-swap, optimistic commits). The configuration is the `[config] defaults` of the
//! crate's `plugin.toml` unless [`MockHost::set_config`] replaces it; a plugin reads it only
//! with `config.read` granted, as on a real host.

use parking_lot::{Mutex, MutexGuard};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::caps::{Access, Capability, CapabilityError};
use crate::context::{Context, ContextBackend, Level};
use crate::embedded::EmbeddedManifest;
use crate::error::{codes, ErrorCode, PluginError};
use crate::event::Frame;
use crate::message::{decode, encode, Message};
use crate::plugin::PluginEntry;
use crate::state::{
    valid_key, CasOutcome, CasRequest, CommitBatch, CommitOutcome, Expected, KvEntry, KvPage,
    Secret,
};
use crate::Output;

/// A host stand-in that records what a plugin asks of it.
#[derive(Debug, Clone)]
pub struct MockHost {
    inner: Arc<MockInner>,
}

#[derive(Debug, Default)]
struct MockInner {
    name: String,
    activity: Mutex<Vec<Activity>>,
    services: Mutex<BTreeMap<(String, String), StubService>>,
    clock: Mutex<Option<SystemTime>>,
    event_ids: Mutex<u64>,
    logs: Mutex<Vec<(Level, String)>>,
    grants: Mutex<Vec<Capability>>,
    files: Mutex<BTreeMap<PathBuf, Vec<u8>>>,
    env: Mutex<BTreeMap<String, String>>,
    published: Mutex<Vec<(String, Vec<u8>)>>,
    kv: Mutex<MockKv>,
    secrets: Mutex<BTreeMap<String, Vec<u8>>>,
    config: Mutex<Option<serde_json::Value>>,
    usage: Mutex<BTreeMap<String, u64>>,
    nexts: MockNexts,
}

/// The `next`s of wrappers [`MockPlugin::wrap`] is running, by token.
#[derive(Default)]
struct MockNexts {
    last: Mutex<u64>,
    pending: Mutex<BTreeMap<u64, MockNext>>,
}

type MockNext = Box<dyn FnOnce(&[u8]) -> Result<Vec<u8>, PluginError> + Send>;

impl std::fmt::Debug for MockNexts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockNexts")
            .field("pending", &lock(&self.pending).len())
            .finish()
    }
}

/// One use of a host service, as [`MockHost::activity`] lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Activity {
    /// A file read (the normalised absolute path), allowed or not.
    ReadFile(PathBuf),
    /// A file written.
    WriteFile(PathBuf),
    /// A KV key read (`get`, or a compare-and-swap's read).
    KvRead(String),
    /// A KV key written (`put`, a swap or a commit).
    KvWrite(String),
    /// A KV key deleted.
    KvDelete(String),
    /// A KV listing under this prefix.
    KvList(String),
    /// A secret read.
    SecretRead(String),
    /// A secret written.
    SecretWrite(String),
    /// A secret deleted.
    SecretDelete(String),
    /// The configuration read.
    ConfigRead,
    /// An environment variable read.
    EnvRead(String),
    /// A service method called: service, method.
    ServiceCall(String, String),
}

/// A stub's answer: request bytes in, response bytes out.
type Answer = Arc<dyn Fn(&[u8]) -> Result<Vec<u8>, PluginError> + Send + Sync>;

/// A service method the test answers with a closure.
struct StubService {
    request_contract: &'static str,
    response_contract: &'static str,
    answer: Answer,
}

impl std::fmt::Debug for StubService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StubService")
            .field("request_contract", &self.request_contract)
            .field("response_contract", &self.response_contract)
            .finish_non_exhaustive()
    }
}

/// The mock's in-memory KV store: the same semantics as a host's (versions grow across the
/// whole store; commits check every read version).
#[derive(Debug, Default)]
struct MockKv {
    seq: u64,
    entries: BTreeMap<String, KvEntry>,
}

impl MockKv {
    fn write(&mut self, key: &str, value: Option<&[u8]>) -> Option<u64> {
        match value {
            Some(v) => {
                self.seq += 1;
                self.entries.insert(
                    key.to_owned(),
                    KvEntry {
                        value: v.to_vec(),
                        version: self.seq,
                    },
                );
                Some(self.seq)
            }
            None => {
                self.entries.remove(key);
                None
            }
        }
    }
}

fn mock_key(key: &str) -> Result<(), PluginError> {
    if valid_key(key) {
        Ok(())
    } else {
        Err(
            PluginError::with_code(codes::STATE_BAD_KEY, format!("`{key}` is not a valid key"))
                .next_step("use a key of 1 to 1024 bytes without NUL characters"),
        )
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock()
}

/// Resolves `.` and `..` lexically; `None` for a relative path.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir => out.push("/"),
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Prefix(_) => return None,
        }
    }
    path.has_root().then_some(out)
}

impl MockInner {
    fn record(&self, activity: Activity) {
        lock(&self.activity).push(activity);
    }

    fn allow(&self, access: &Access<'_>) -> Result<(), PluginError> {
        let grants = lock(&self.grants);
        if grants.iter().any(|g| g.allows(access)) {
            return Ok(());
        }
        let kind = access.kind();
        let (code, why) = if grants.iter().any(|g| g.kind() == kind) {
            (
                codes::CAPABILITY_OUT_OF_SCOPE,
                format!("`{access}` is outside the `{kind}` grants"),
            )
        } else {
            (codes::CAPABILITY_NOT_DECLARED, format!("no `{kind}` grant"))
        };
        Err(PluginError::with_code(
            code,
            format!("plugin `{}` may not use `{access}`: {why}", self.name),
        )
        .next_step(format!(
            "in the test, call `MockHost::grant(\"{}\")`",
            access
        )))
    }

    fn resolve(&self, path: &str) -> Result<PathBuf, PluginError> {
        normalize(Path::new(path)).ok_or_else(|| {
            PluginError::with_code(
                codes::SERVICE_FAILED,
                format!("`{path}` is not an absolute path"),
            )
            .next_step("pass an absolute path")
        })
    }
}

impl ContextBackend for MockInner {
    fn plugin_name(&self) -> String {
        self.name.clone()
    }

    fn log(&self, level: Level, message: &str) {
        lock(&self.logs).push((level, message.to_owned()));
    }

    fn check(&self, access: &Access<'_>) -> Result<(), PluginError> {
        self.allow(access)
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, PluginError> {
        let path = self.resolve(path)?;
        self.record(Activity::ReadFile(path.clone()));
        self.allow(&Access::ReadFile(&path))?;
        lock(&self.files).get(&path).cloned().ok_or_else(|| {
            PluginError::with_code(
                codes::SERVICE_FAILED,
                format!("{} does not exist", path.display()),
            )
            .next_step("add it with `MockHost::add_file`")
        })
    }

    fn write_file(&self, path: &str, data: &[u8]) -> Result<(), PluginError> {
        let path = self.resolve(path)?;
        self.record(Activity::WriteFile(path.clone()));
        self.allow(&Access::WriteFile(&path))?;
        lock(&self.files).insert(path, data.to_vec());
        Ok(())
    }

    fn env_var(&self, name: &str) -> Result<Option<String>, PluginError> {
        self.record(Activity::EnvRead(name.to_owned()));
        self.allow(&Access::Env(name))?;
        Ok(lock(&self.env).get(name).cloned())
    }

    fn publish(
        &self,
        topic: &str,
        _headers: &[(&str, &str)],
        payload: &[u8],
    ) -> Result<u32, PluginError> {
        let own = format!("plugin.{}.", self.name);
        if !topic.starts_with(&own) {
            self.allow(&Access::Publish(topic))?;
        }
        lock(&self.published).push((topic.to_owned(), payload.to_vec()));
        Ok(0)
    }

    fn publish_batch(&self, batch: &crate::batch::EventBatch<'_>) -> Result<u32, PluginError> {
        // As a host does: every distinct topic checked before anything is recorded.
        let own = format!("plugin.{}.", self.name);
        for t in batch.topics() {
            if !t.topic.starts_with(&own) {
                self.allow(&Access::Publish(t.topic))?;
            }
        }
        let mut published = lock(&self.published);
        for (topic, payload) in batch.iter() {
            let topic = batch.topics().get(topic).map_or("", |t| t.topic);
            published.push((topic.to_owned(), payload.to_vec()));
        }
        Ok(0)
    }

    fn call_service(&self, call: &crate::abi::ServiceCall<'_>) -> Result<Vec<u8>, PluginError> {
        // A wrapper's `next`, in a wrapper `MockPlugin::wrap` runs: the test's closure.
        if call.service == crate::extend::NEXT_SERVICE {
            let token = call.method.parse::<u64>().unwrap_or(0);
            let next = lock(&self.nexts.pending).remove(&token);
            return match next {
                Some(next) => next(call.request),
                None => Err(PluginError::with_code(
                    crate::ErrorCode::from_number(1715),
                    "this `next` is not active: its wrapper returned, or it was called already",
                )),
            };
        }
        self.record(Activity::ServiceCall(
            call.service.to_owned(),
            call.method.to_owned(),
        ));
        self.allow(&Access::CallService(call.service))?;
        let services = lock(&self.services);
        let key = (call.service.to_owned(), call.method.to_owned());
        let Some(stub) = services.get(&key) else {
            // A real host's codes: no such service (SB0807), or no such method of one (SB0808).
            let known = services.keys().any(|(service, _)| service == call.service);
            let code = ErrorCode::from_number(if known { 808 } else { 807 });
            return Err(PluginError::with_code(
                code,
                format!(
                    "the mock host provides no service method `{}`.`{}`",
                    call.service, call.method
                ),
            )
            .next_step("answer it in the test with `MockHost::stub_service`"));
        };
        for (side, theirs, ours) in [
            ("request", call.request_contract, stub.request_contract),
            ("response", call.response_contract, stub.response_contract),
        ] {
            if theirs != ours {
                return Err(PluginError::with_code(
                    codes::SERVICE_CONTRACT_MISMATCH,
                    format!(
                        "`{}`.`{}`: the caller's {side} contract is `{theirs}`, the stub's `{ours}`",
                        call.service, call.method
                    ),
                )
                .next_step("stub the service with the message types the plugin calls it with"));
            }
        }
        // The lock is released before the stub runs, so a stub may use the mock itself.
        let answer = stub.answer.clone();
        drop(services);
        answer(call.request)
    }

    // plugin state (issue 6)
    fn kv_get(&self, key: &str) -> Result<Option<KvEntry>, PluginError> {
        self.record(Activity::KvRead(key.to_owned()));
        self.allow(&Access::Kv)?;
        mock_key(key)?;
        Ok(lock(&self.kv).entries.get(key).cloned())
    }

    fn kv_put(&self, key: &str, value: &[u8]) -> Result<u64, PluginError> {
        self.record(Activity::KvWrite(key.to_owned()));
        self.allow(&Access::Kv)?;
        mock_key(key)?;
        Ok(lock(&self.kv).write(key, Some(value)).unwrap_or_default())
    }

    fn kv_delete(&self, key: &str) -> Result<bool, PluginError> {
        self.record(Activity::KvDelete(key.to_owned()));
        self.allow(&Access::Kv)?;
        mock_key(key)?;
        Ok(lock(&self.kv).entries.remove(key).is_some())
    }

    fn kv_list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<KvPage, PluginError> {
        self.record(Activity::KvList(prefix.to_owned()));
        self.allow(&Access::Kv)?;
        let kv = lock(&self.kv);
        let mut entries: Vec<(String, KvEntry)> = kv
            .entries
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
            .take(limit as usize + 1)
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        let next = if entries.len() > limit as usize {
            entries.truncate(limit as usize);
            entries.last().map(|(k, _)| k.clone())
        } else {
            None
        };
        Ok(KvPage { entries, next })
    }

    fn kv_cas(&self, request: &CasRequest) -> Result<CasOutcome, PluginError> {
        self.record(Activity::KvRead(request.key.clone()));
        self.allow(&Access::Kv)?;
        mock_key(&request.key)?;
        let mut kv = lock(&self.kv);
        let current = kv.entries.get(&request.key).cloned();
        let holds = match (&request.expected, &current) {
            (Expected::Absent, None) => true,
            (Expected::Version(v), Some(e)) => e.version == *v,
            (Expected::Value(v), Some(e)) => &e.value == v,
            _ => false,
        };
        if !holds {
            return Ok(CasOutcome::Mismatch(current));
        }
        self.record(match request.new {
            Some(_) => Activity::KvWrite(request.key.clone()),
            None => Activity::KvDelete(request.key.clone()),
        });
        Ok(CasOutcome::Swapped(
            kv.write(&request.key, request.new.as_deref()),
        ))
    }

    fn kv_commit(&self, batch: &CommitBatch) -> Result<CommitOutcome, PluginError> {
        if let Err(refused) = self.allow(&Access::Kv) {
            for w in &batch.writes {
                self.record(match w.value {
                    Some(_) => Activity::KvWrite(w.key.clone()),
                    None => Activity::KvDelete(w.key.clone()),
                });
            }
            return Err(refused);
        }
        let mut kv = lock(&self.kv);
        for (key, seen) in &batch.reads {
            if kv.entries.get(key).map(|e| e.version) != *seen {
                return Ok(CommitOutcome::Conflict(key.clone()));
            }
        }
        for w in &batch.writes {
            if let Err(bad) = mock_key(&w.key) {
                self.record(match w.value {
                    Some(_) => Activity::KvWrite(w.key.clone()),
                    None => Activity::KvDelete(w.key.clone()),
                });
                return Err(bad);
            }
        }
        for w in &batch.writes {
            self.record(match w.value {
                Some(_) => Activity::KvWrite(w.key.clone()),
                None => Activity::KvDelete(w.key.clone()),
            });
            kv.write(&w.key, w.value.as_deref());
        }
        Ok(CommitOutcome::Committed)
    }

    fn secret_get(&self, name: &str) -> Result<Option<Secret>, PluginError> {
        self.record(Activity::SecretRead(name.to_owned()));
        self.allow(&Access::Secrets)?;
        Ok(lock(&self.secrets)
            .get(name)
            .map(|v| Secret::new(v.clone())))
    }

    fn secret_put(&self, name: &str, value: &[u8]) -> Result<(), PluginError> {
        self.record(Activity::SecretWrite(name.to_owned()));
        self.allow(&Access::Secrets)?;
        mock_key(name)?;
        lock(&self.secrets).insert(name.to_owned(), value.to_vec());
        Ok(())
    }

    fn secret_delete(&self, name: &str) -> Result<bool, PluginError> {
        self.record(Activity::SecretDelete(name.to_owned()));
        self.allow(&Access::Secrets)?;
        Ok(lock(&self.secrets).remove(name).is_some())
    }

    fn config_json(&self) -> Result<String, PluginError> {
        self.record(Activity::ConfigRead);
        self.allow(&Access::ReadConfig)?;
        let config = lock(&self.config)
            .clone()
            .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new()));
        Ok(config.to_string())
    }

    fn now(&self) -> SystemTime {
        *lock(&self.clock).get_or_insert_with(SystemTime::now)
    }

    fn usage(&self, unit: &str, amount: u64) -> Result<(), PluginError> {
        let mut usage = lock(&self.usage);
        if !usage.contains_key(unit) && usage.len() >= crate::stream::MAX_USAGE_UNITS {
            return Err(PluginError::with_code(
                crate::codes::TOO_MANY_USAGE_UNITS,
                format!(
                    "usage in {} units already; `{unit}` would be one more: not recorded",
                    crate::stream::MAX_USAGE_UNITS
                ),
            ));
        }
        let total = usage.entry(unit.to_owned()).or_default();
        *total = total.saturating_add(amount);
        Ok(())
    }
}

impl MockHost {
    /// The usage plugins reported so far ([`Context::usage`]), by unit, added up
    /// (saturating) as a host does. As a host does, it keeps
    /// [`MAX_USAGE_UNITS`](crate::stream::MAX_USAGE_UNITS) distinct units and refuses more.
    ///
    /// ```
    /// let host = switchboard_sdk::testing::MockHost::new("meter");
    /// let ctx = host.context();
    /// for i in 0..switchboard_sdk::stream::MAX_USAGE_UNITS {
    ///     ctx.usage(&format!("u{i}"), 1).unwrap();
    /// }
    /// ctx.usage("u0", 1).unwrap();
    /// let refused = ctx.usage("one-more", 1).unwrap_err();
    /// assert_eq!(refused.code().to_string(), "SB1738");
    /// assert_eq!(host.usage()["u0"], 2);
    /// ```
    pub fn usage(&self) -> BTreeMap<String, u64> {
        lock(&self.inner.usage).clone()
    }

    /// A mock host for a plugin named `name`.
    pub fn new(name: &str) -> Self {
        MockHost {
            inner: Arc::new(MockInner {
                name: name.to_owned(),
                ..MockInner::default()
            }),
        }
    }

    /// Grants a capability, written as in manifests (`"fs.read:/data/**"`).
    pub fn grant(&self, capability: &str) -> Result<&Self, CapabilityError> {
        let cap: Capability = capability.parse()?;
        lock(&self.inner.grants).push(cap);
        Ok(self)
    }

    /// Revokes every grant that `capability` covers.
    pub fn revoke(&self, capability: &str) -> Result<&Self, CapabilityError> {
        let cap: Capability = capability.parse()?;
        lock(&self.inner.grants).retain(|g| !cap.covers(g));
        Ok(self)
    }

    /// The capabilities granted so far.
    pub fn grants(&self) -> Vec<Capability> {
        lock(&self.inner.grants).clone()
    }

    /// Puts a file in the mock's in-memory file system.
    pub fn add_file(&self, path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> &Self {
        if let Some(p) = normalize(path.as_ref()) {
            lock(&self.inner.files).insert(p, contents.as_ref().to_vec());
        }
        self
    }

    /// A file of the in-memory file system, as a plugin left it.
    pub fn file(&self, path: impl AsRef<Path>) -> Option<Vec<u8>> {
        let p = normalize(path.as_ref())?;
        lock(&self.inner.files).get(&p).cloned()
    }

    /// Sets an environment variable the mock passes on to plugins that hold `env:NAME`.
    pub fn set_env(&self, name: &str, value: &str) -> &Self {
        lock(&self.inner.env).insert(name.to_owned(), value.to_owned());
        self
    }

    /// Sets the configuration plugins receive from [`Context::config`], replacing the
    /// `plugin.toml` `[config] defaults` (default: those defaults, or `{}` without any).
    pub fn set_config(&self, config: serde_json::Value) -> &Self {
        *lock(&self.inner.config) = Some(config);
        self
    }

    /// The value a plugin left under `key` in the mock's KV store.
    pub fn kv_value(&self, key: &str) -> Option<Vec<u8>> {
        lock(&self.inner.kv)
            .entries
            .get(key)
            .map(|e| e.value.clone())
    }

    /// A context backed by this mock.
    pub fn context(&self) -> Context {
        Context::from_backend(self.inner.clone())
    }

    /// The events plugins published so far: topic and payload.
    pub fn published(&self) -> Vec<(String, Vec<u8>)> {
        lock(&self.inner.published).clone()
    }

    /// The log lines plugins sent so far.
    pub fn logs(&self) -> Vec<(Level, String)> {
        lock(&self.inner.logs).clone()
    }

    /// Every host service plugins used so far, in order (see [`Activity`]). Uses the mock
    /// refused (no grant, a bad key) are listed too — what a plugin *tried* is often what a
    /// test checks. A compare-and-swap lists its read, and its write only if it swapped.
    ///
    /// ```
    /// use switchboard_sdk::testing::{Activity, MockHost};
    ///
    /// let host = MockHost::new("nosy");
    /// let ctx = host.context();
    /// // Nothing granted: each use is refused, and listed.
    /// assert!(ctx.kv().put("k", b"v").is_err());
    /// assert!(ctx.secrets().get("token").is_err());
    /// host.grant("kv").unwrap();
    /// ctx.kv().put("k", b"v").unwrap();
    /// assert_eq!(
    ///     host.activity(),
    ///     vec![
    ///         Activity::KvWrite("k".into()),
    ///         Activity::SecretRead("token".into()),
    ///         Activity::KvWrite("k".into()),
    ///     ]
    /// );
    /// ```
    pub fn activity(&self) -> Vec<Activity> {
        lock(&self.inner.activity).clone()
    }

    /// Forgets the recorded activity, so a test can look at one step's alone.
    pub fn clear_activity(&self) -> &Self {
        lock(&self.inner.activity).clear();
        self
    }

    /// The service methods plugins called so far (service, method), answered or not.
    pub fn service_calls(&self) -> Vec<(String, String)> {
        lock(&self.inner.activity)
            .iter()
            .filter_map(|a| match a {
                Activity::ServiceCall(s, m) => Some((s.clone(), m.clone())),
                _ => None,
            })
            .collect()
    }

    /// Answers calls to `service`.`method` with `answer`, as a provider plugin would. A
    /// call whose request or response type is not `Req`/`Resp` fails with `SB0809` naming
    /// both contracts, as a host refuses it; the caller still needs `service.call` granted.
    /// Stubbing a method again replaces its answer.
    ///
    /// ```
    /// use switchboard_sdk::testing::MockHost;
    /// use switchboard_sdk::PluginError;
    ///
    /// let host = MockHost::new("client");
    /// host.grant("service.call:greetings.*").unwrap();
    /// host.stub_service("greetings.en", "greet", |name: String| {
    ///     if name.is_empty() {
    ///         return Err(PluginError::new("no name"));
    ///     }
    ///     Ok(format!("Hello, {name}!"))
    /// });
    /// let ctx = host.context();
    /// let answer: String = ctx.call_service("greetings.en", "greet", &"Ada".to_string()).unwrap();
    /// assert_eq!(answer, "Hello, Ada!");
    /// ```
    pub fn stub_service<Req, Resp, F>(&self, service: &str, method: &str, answer: F) -> &Self
    where
        Req: Message,
        Resp: Message,
        F: Fn(Req) -> Result<Resp, PluginError> + Send + Sync + 'static,
    {
        let stub = StubService {
            request_contract: Req::CONTRACT.id,
            response_contract: Resp::CONTRACT.id,
            answer: Arc::new(move |bytes: &[u8]| {
                let request: Req = decode(bytes)?;
                answer(request).map(|r| encode(&r))
            }),
        };
        lock(&self.inner.services).insert((service.to_owned(), method.to_owned()), stub);
        self
    }

    /// The mock's clock: what [`Context::now`] returns. It starts at the system time of its
    /// first reading and moves only when the test moves it.
    pub fn now(&self) -> SystemTime {
        self.inner.now()
    }

    /// Sets the mock's clock.
    pub fn set_time(&self, time: SystemTime) -> &Self {
        *lock(&self.inner.clock) = Some(time);
        self
    }

    /// Moves the mock's clock forward by `by` (saturating at the largest time the platform
    /// represents).
    pub fn advance(&self, by: Duration) -> &Self {
        let mut clock = lock(&self.inner.clock);
        let now = *clock.get_or_insert_with(SystemTime::now);
        *clock = Some(now.checked_add(by).unwrap_or(now));
        self
    }

    /// Creates and starts plugin `P` against this mock.
    ///
    /// Unless the test called [`MockHost::set_config`], the configuration is the
    /// `[config] defaults` of the crate's `plugin.toml` (embedded by `#[plugin]` at build time),
    /// as a real host would start from.
    pub fn instantiate<P: PluginEntry>(&self) -> Result<MockPlugin<P>, PluginError> {
        let manifest: EmbeddedManifest = serde_json::from_slice(P::MANIFEST)
            .map_err(|e| PluginError::new(format!("the generated manifest does not parse: {e}")))?;
        if let Some(defaults) = config_defaults(&manifest)? {
            lock(&self.inner.config).get_or_insert(defaults);
        }
        let ctx = self.context();
        let plugin = P::create(&ctx)?;
        plugin.start(&ctx)?;
        Ok(MockPlugin {
            plugin,
            host: self.inner.clone(),
            ctx,
            manifest,
        })
    }
}

/// The `[config] defaults` of the `plugin.toml` a plugin embeds, as JSON.
fn config_defaults(manifest: &EmbeddedManifest) -> Result<Option<serde_json::Value>, PluginError> {
    let Some(text) = &manifest.plugin_toml else {
        return Ok(None);
    };
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        PluginError::new(format!("the embedded plugin.toml does not parse: {e}"))
            .next_step("fix plugin.toml (`switchboard preflight .` names the problem)")
    })?;
    let Some(defaults) = table.get("config").and_then(|c| c.get("defaults")).cloned() else {
        return Ok(None);
    };
    serde_json::to_value(defaults)
        .map(Some)
        .map_err(|e| PluginError::new(format!("the plugin.toml config defaults are not JSON: {e}")))
}

/// Whether the concrete `topic` matches a `#[subscribe]` pattern, as a host's bus matches
/// them: `*` is one segment, a last `>` one or more.
fn subscription_matches(pattern: &str, topic: &str) -> bool {
    let mut parts = topic.split('.');
    let segs: Vec<&str> = pattern.split('.').collect();
    for (i, seg) in segs.iter().enumerate() {
        match *seg {
            ">" if i + 1 == segs.len() => return parts.next().is_some(),
            "*" => {
                if parts.next().is_none() {
                    return false;
                }
            }
            lit => {
                if parts.next() != Some(lit) {
                    return false;
                }
            }
        }
    }
    parts.next().is_none()
}

/// A `#[subscribe]` pattern in the capability syntax (`*` one segment, `**` any number), the
/// form an `events.subscribe` grant is checked in.
fn subscription_as_capability(pattern: &str) -> String {
    match pattern.strip_suffix(">") {
        Some(head) if head.is_empty() || head.ends_with('.') => format!("{head}*.**"),
        _ => pattern.to_owned(),
    }
}

/// A plugin instance driven by a [`MockHost`].
#[derive(Debug)]
pub struct MockPlugin<P> {
    plugin: P,
    host: Arc<MockInner>,
    ctx: Context,
    manifest: EmbeddedManifest,
}

impl<P: PluginEntry> MockPlugin<P> {
    /// The plugin value itself.
    pub fn plugin(&self) -> &P {
        &self.plugin
    }

    /// The manifest `#[plugin]` generated.
    pub fn manifest(&self) -> &EmbeddedManifest {
        &self.manifest
    }

    /// Calls command `name` with a typed request, through the generated dispatch table. The
    /// request reaches the command as a host sends it: a byte or string field of 1 KiB or
    /// more is handed over in place, not copied (a gathered request, SDK ABI 1.5).
    pub fn call<Req: Message, Resp: Message>(
        &self,
        name: &str,
        request: &Req,
    ) -> Result<Resp, PluginError> {
        use crate::abi::gather::{run_store, Gather};
        let index = self.index_of(name)?;
        let mut inline = Vec::new();
        let mut sink = Gather::new(&mut inline);
        Message::__gather(request, &mut sink);
        let mut runs = run_store();
        let mut buf = Vec::new();
        let mut out = Output::from_vec(&mut buf);
        self.plugin
            .dispatch(&self.ctx, index, sink.input(&mut runs), &mut out)?;
        decode(&buf)
    }

    /// The dispatch index of command `name`.
    fn index_of(&self, name: &str) -> Result<u32, PluginError> {
        self.manifest.command_index(name).ok_or_else(|| {
            PluginError::with_code(codes::UNKNOWN_METHOD, format!("no command `{name}`"))
        })
    }

    /// Delivers an event to every `#[subscribe]` handler of this plugin whose pattern
    /// matches `topic`, in handler order, as a host's bus would; returns how many ran. Each
    /// matching handler's pattern must be granted (`events.subscribe:PATTERN`, with a
    /// trailing `>` written `*.**` as in capabilities), as a host checks before it
    /// subscribes one. The first handler error is returned; the handlers
    /// after it do not run.
    pub fn deliver<M: Message>(&self, topic: &str, message: &M) -> Result<usize, PluginError> {
        self.deliver_raw(topic, &encode(message), &[])
    }

    /// Delivers an event with payload bytes and headers (see [`MockPlugin::deliver`]).
    pub fn deliver_raw(
        &self,
        topic: &str,
        payload: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<usize, PluginError> {
        let mut ran = 0;
        for (handler, pattern) in self.manifest.subscriptions.iter().enumerate() {
            if !subscription_matches(pattern, topic) {
                continue;
            }
            self.ctx
                .backend()
                .check(&Access::Subscribe(&subscription_as_capability(pattern)))?;
            let id = {
                let mut ids = lock(&self.host.event_ids);
                *ids += 1;
                *ids
            };
            let frame = Frame {
                handler: u32::try_from(handler).unwrap_or(u32::MAX),
                id,
                trace_id: id,
                causation_id: None,
                hops: 0,
                publisher: "test",
                headers: headers.to_vec(),
                payload,
            };
            self.plugin.on_event(&self.ctx, topic, &frame.encode())?;
            ran += 1;
        }
        Ok(ran)
    }

    /// Calls the `wrap` hook served by command `name` with `input`, as a host would, its
    /// `next` being `next`: the closure stands in for the rest of the operation. A `next`
    /// called after the wrapper returned, or twice, gets `SB1715`.
    ///
    /// ```ignore
    /// let plugin = MockHost::new("stamp").instantiate::<Stamp>()?;
    /// let out: String = plugin.wrap("around_build", &"app".to_owned(), |job: String| {
    ///     Ok(format!("built {job}"))
    /// })?;
    /// ```
    pub fn wrap<In: Message, Out: Message>(
        &self,
        name: &str,
        input: &In,
        next: impl FnOnce(In) -> Result<Out, PluginError> + Send + 'static,
    ) -> Result<Out, PluginError> {
        let token = {
            let mut last = lock(&self.host.nexts.last);
            *last += 1;
            *last
        };
        let run: MockNext = Box::new(move |bytes: &[u8]| {
            let out = next(decode(bytes)?)?;
            Ok(encode(&out))
        });
        lock(&self.host.nexts.pending).insert(token, run);
        let mut request = token.to_le_bytes().to_vec();
        request.extend_from_slice(&encode(input));
        let result = self.call_raw(name, &request);
        lock(&self.host.nexts.pending).remove(&token);
        decode(&result?)
    }

    /// Calls streaming command `name` and collects its chunks, as a host's consumer would
    /// take them one by one. See [`MockPlugin::stream_until`] to stop early.
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # use switchboard_sdk::prelude::*;
    /// # pub struct Counter;
    /// # impl Plugin for Counter { fn create(_: &Context) -> Result<Self, PluginError> { Ok(Counter) } }
    /// #[plugin]
    /// impl Counter {
    ///     #[command]
    ///     fn count(&self, ctx: &Context, to: u32, out: &mut Sink<'_, u32>) -> Result<u32, PluginError> {
    ///         for i in 1..=to {
    ///             out.send(i)?;
    ///         }
    ///         ctx.usage("numbers", u64::from(to))?;
    ///         Ok(to)
    ///     }
    /// }
    ///
    /// let host = switchboard_sdk::testing::MockHost::new("counter");
    /// let plugin = host.instantiate::<Counter>().unwrap();
    /// let run = plugin.stream::<u32, u32, u32>("count", &3).unwrap();
    /// assert_eq!(run.chunks, [1, 2, 3]);
    /// assert_eq!(run.summary.unwrap(), 3);
    /// assert_eq!(host.usage()["numbers"], 3);
    ///
    /// let stopped = plugin.stream_until::<u32, u32, u32>("count", &1000, 2).unwrap();
    /// assert_eq!(stopped.chunks, [1, 2]);
    /// assert!(stopped.cancelled);
    /// assert_eq!(stopped.summary.unwrap_err().code().to_string(), "SB1732");
    /// ```
    pub fn stream<Req: Message, Chunk: Message, Summary: Message>(
        &self,
        name: &str,
        request: &Req,
    ) -> Result<MockStream<Chunk, Summary>, PluginError> {
        self.stream_until(name, request, usize::MAX)
    }

    /// Calls streaming command `name` and cancels the stream once `limit` chunks arrived, as
    /// a consumer that stops reading does: the plugin's next `send` returns
    /// [`STREAM_CANCELLED`](crate::codes::STREAM_CANCELLED).
    ///
    /// # Errors
    ///
    /// An unknown command, a command that does not stream
    /// ([`CALL_STYLE_PLAIN`](crate::codes::CALL_STYLE_PLAIN)), or a chunk that does not decode
    /// as `Chunk`. The command's own error is in [`MockStream::summary`].
    pub fn stream_until<Req: Message, Chunk: Message, Summary: Message>(
        &self,
        name: &str,
        request: &Req,
        limit: usize,
    ) -> Result<MockStream<Chunk, Summary>, PluginError> {
        let index = self.manifest.command_index(name).ok_or_else(|| {
            PluginError::with_code(codes::UNKNOWN_METHOD, format!("no command `{name}`"))
        })?;
        let streams = self
            .manifest
            .commands
            .get(index as usize)
            .is_some_and(|c| c.stream.is_some());
        if !streams {
            return Err(PluginError::with_code(
                codes::CALL_STYLE_PLAIN,
                format!("`{name}` does not stream; call it with `call`"),
            ));
        }
        let mut sink = Collector {
            chunks: Vec::new(),
            limit,
            cancelled: false,
        };
        let mut buf = Vec::new();
        let mut out = Output::from_vec(&mut buf);
        let result =
            self.plugin
                .dispatch_stream(&self.ctx, index, &encode(request), &mut sink, &mut out);
        let chunks = sink
            .chunks
            .iter()
            .map(|c| decode::<Chunk>(c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MockStream {
            chunks,
            summary: result.and_then(|()| decode::<Summary>(&buf)),
            cancelled: sink.cancelled,
        })
    }

    /// Calls command `name` with request bytes.
    pub fn call_raw(&self, name: &str, request: &[u8]) -> Result<Vec<u8>, PluginError> {
        let index = self.index_of(name)?;
        let mut buf = Vec::new();
        let mut out = Output::from_vec(&mut buf);
        self.plugin.dispatch(
            &self.ctx,
            index,
            crate::abi::gather::Input::bytes(request),
            &mut out,
        )?;
        Ok(buf)
    }
}

/// What a streaming command produced under the mock ([`MockPlugin::stream`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct MockStream<Chunk, Summary> {
    /// The chunks, in the order sent.
    pub chunks: Vec<Chunk>,
    /// The command's return value, or its error (`SB1732` when it stopped on cancellation).
    pub summary: Result<Summary, PluginError>,
    /// Whether the mock cancelled the stream (its limit was reached).
    pub cancelled: bool,
}

/// The mock's consumer: keeps chunks up to a limit, then cancels.
struct Collector {
    chunks: Vec<Vec<u8>>,
    limit: usize,
    cancelled: bool,
}

impl crate::stream::RawSink for Collector {
    fn send(&mut self, chunk: &[u8]) -> Result<(), PluginError> {
        if self.cancelled {
            return Err(PluginError::with_code(
                codes::STREAM_CANCELLED,
                "the consumer stopped the stream",
            ));
        }
        self.chunks.push(chunk.to_vec());
        if self.chunks.len() >= self.limit {
            self.cancelled = true;
        }
        Ok(())
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled
    }
}
