//! The [`Host`] and its builder.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use serde_json::json;
use switchboard_sdk::caps::Capability;
use switchboard_sdk::{EmbeddedManifest, Message};

use crate::audit::{AuditEvent, AuditKind, AuditLog};
use crate::caps::decide::{decide, Subject};
use crate::caps::policy::{in_namespace, resolve_paths, Refusal};
use crate::caps::{
    Approver, Grant, GrantSet, GrantSource, GrantTable, Policy, Scope, Token, TrustLevel,
    MAX_INSTANCES,
};
use crate::error::{CallError, CapsError, ConfigError, Error, LoadError};
use crate::instance::{Command, Instance, InstanceCaps, PluginHandle};
use crate::lifecycle::State;
use crate::loader;
use crate::services::{log_facade, Gate, LogRecord, LogSink, PluginServices};
use crate::store::{DeniedRecord, GrantRecord, PluginRecord, Store};
use crate::timestamp::Timestamp;

/// Builds a [`Host`]. Setters take `&mut self` and chain; [`build`](HostBuilder::build) checks
/// everything and returns a typed error.
///
/// # Example
///
/// ```
/// use switchboard_host::Host;
///
/// let dir = tempfile::tempdir().unwrap();
/// let mut builder = Host::builder();
/// builder.data_dir(dir.path()).host_api("my-editor", "2.3.0");
/// let host = builder.build().unwrap();
/// assert_eq!(host.host_api(), ("my-editor", "2.3.0"));
/// ```
pub struct HostBuilder {
    data_dir: Option<PathBuf>,
    host_api: (String, String),
    log: LogSink,
    dangerous: DangerousOptions,
    policy: Policy,
    approver: Option<Arc<dyn Approver>>,
    env: BTreeMap<String, String>,
}

impl fmt::Debug for HostBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostBuilder")
            .field("data_dir", &self.data_dir)
            .field("host_api", &self.host_api)
            .field("dangerous", &self.dangerous)
            .field("policy", &self.policy)
            .field("approver", &self.approver.is_some())
            .field("plugin_env", &self.env.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default)]
struct DangerousOptions {
    unsigned_libraries: bool,
}

/// Switches that weaken the host's guarantees, kept apart so that reading a host's setup shows
/// them plainly. Reached through [`HostBuilder::dangerous`].
#[derive(Debug)]
pub struct DangerousHostBuilder<'a> {
    builder: &'a mut HostBuilder,
}

impl DangerousHostBuilder<'_> {
    /// Allows [`Host::load_unsigned`]: loading a plugin library with no package or signature.
    /// For development only: the library's code runs in this process with its full rights.
    pub fn load_unsigned_libraries(&mut self) -> &mut Self {
        self.builder.dangerous.unsigned_libraries = true;
        self
    }
}

impl Default for HostBuilder {
    fn default() -> Self {
        HostBuilder {
            data_dir: None,
            host_api: ("switchboard-host".into(), env!("CARGO_PKG_VERSION").into()),
            log: log_facade(),
            dangerous: DangerousOptions::default(),
            policy: Policy::default(),
            approver: None,
            env: BTreeMap::new(),
        }
    }
}

impl HostBuilder {
    /// The directory where the host keeps its state. Created if missing. Required.
    pub fn data_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// The name and semver version of the API this host offers plugins.
    pub fn host_api(&mut self, name: impl Into<String>, version: impl Into<String>) -> &mut Self {
        self.host_api = (name.into(), version.into());
        self
    }

    /// Where plugin log lines go. Default: the `log` facade, target `switchboard::plugin`.
    pub fn on_log(&mut self, sink: impl Fn(&LogRecord<'_>) + Send + Sync + 'static) -> &mut Self {
        self.log = Arc::new(sink);
        self
    }

    /// The capability policy (default: no rules — every request goes to the approver, and
    /// with no approver is denied).
    pub fn policy(&mut self, policy: Policy) -> &mut Self {
        self.policy = policy;
        self
    }

    /// Who decides the capability requests policy leaves open: any
    /// `Fn(&ApprovalRequest<'_>) -> Approval`. Default: none, so they are denied.
    pub fn approver(&mut self, approver: impl Approver) -> &mut Self {
        self.approver = Some(Arc::new(approver));
        self
    }

    /// Passes an environment variable on to plugins granted `env:NAME`. Hosts choose what to
    /// pass; the library never reads the process environment itself.
    pub fn plugin_env(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// Options that weaken the host's guarantees, for development.
    pub fn dangerous(&mut self) -> DangerousHostBuilder<'_> {
        DangerousHostBuilder { builder: self }
    }

    /// Checks the configuration and creates the data directory.
    pub fn build(&mut self) -> Result<Host, Error> {
        let data_dir = self.data_dir.clone().ok_or_else(|| ConfigError::DataDir {
            path: PathBuf::new(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "no data directory was given",
            ),
        })?;
        std::fs::create_dir_all(&data_dir).map_err(|source| ConfigError::DataDir {
            path: data_dir.clone(),
            source,
        })?;
        let (name, version) = &self.host_api;
        if name.is_empty() || !valid_version(version) {
            return Err(ConfigError::HostApi {
                name: name.clone(),
                version: version.clone(),
                reason: "the name must be non-empty and the version MAJOR.MINOR.PATCH".into(),
            }
            .into());
        }
        let store = Store::open(&data_dir)?;
        Ok(Host {
            inner: Arc::new(Inner {
                data_dir,
                host_api: self.host_api.clone(),
                log: self.log.clone(),
                dangerous: self.dangerous.clone(),
                plugins: RwLock::new(BTreeMap::new()),
                audit: store.audit(),
                store,
                table: Arc::new(GrantTable::new()),
                policy: self.policy.clone(),
                approver: self.approver.clone(),
                env: Arc::new(self.env.clone()),
            }),
        })
    }
}

fn valid_version(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<_> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// An embedded plugin runtime: loads plugins, drives their lifecycle and routes calls.
///
/// Cheap to clone; clones share the same plugins.
///
/// # Example
///
/// ```no_run
/// use switchboard_host::Host;
///
/// # fn main() -> Result<(), switchboard_host::Error> {
/// let mut builder = Host::builder();
/// builder.data_dir("/var/lib/my-app/plugins").host_api("my-app", "1.0.0");
/// builder.dangerous().load_unsigned_libraries();
/// let host = builder.build()?;
///
/// let hello = host.load_unsigned("target/debug/libhello.so")?;
/// hello.start()?;
/// let greet = hello.command::<String, String>("greet")?;
/// println!("{}", greet.call(&"Ada".to_string())?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

struct Inner {
    data_dir: PathBuf,
    host_api: (String, String),
    log: LogSink,
    dangerous: DangerousOptions,
    plugins: RwLock<BTreeMap<String, Instance>>,
    store: Store,
    audit: AuditLog,
    table: Arc<GrantTable>,
    policy: Policy,
    approver: Option<Arc<dyn Approver>>,
    env: Arc<BTreeMap<String, String>>,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("data_dir", &self.inner.data_dir)
            .field("host_api", &self.inner.host_api)
            .field("plugins", &self.plugin_names())
            .finish()
    }
}

/// The key plugins are stored under: names equal up to ASCII case and `-`/`_` are one name.
fn name_key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

impl Host {
    /// A builder with defaults.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// The host API name and version plugins are checked against.
    pub fn host_api(&self) -> (&str, &str) {
        (&self.inner.host_api.0, &self.inner.host_api.1)
    }

    /// Loads a plugin library file without a package or signature — development mode, refused
    /// with `SB0209` unless [`DangerousHostBuilder::load_unsigned_libraries`] was enabled.
    ///
    /// Everything that needs no plugin code is checked first, from the file's bytes: that it is
    /// a dynamic library, its embedded manifest, the SDK ABI, that the name is free. Then policy
    /// admits the plugin (its trust level is [`TrustLevel::Unsigned`]) and decides each
    /// capability it requests, with the approver where policy leaves it open; refused requests
    /// do not stop the load, they are simply not granted. Every decision and the load are
    /// audited. Then the checked bytes themselves are opened, never the path again. The plugin
    /// is left `loaded`; call [`PluginHandle::start`].
    pub fn load_unsigned(&self, path: impl AsRef<Path>) -> Result<PluginHandle, Error> {
        let path = path.as_ref();
        if !self.inner.dangerous.unsigned_libraries {
            return Err(LoadError::Unsigned {
                path: path.to_owned(),
            }
            .into());
        }
        let checked = loader::check(path)?;
        let name = checked.manifest().name.clone();
        let key = name_key(&name);
        if self
            .read_plugins()
            .get(&key)
            .is_some_and(|i| i.state() != State::Removed)
        {
            return Err(LoadError::DuplicateName { name }.into());
        }
        let trust = TrustLevel::Unsigned;
        let token = self.grant_capabilities(checked.manifest(), path, trust)?;
        let gate = Gate {
            plugin: name.clone(),
            table: self.inner.table.clone(),
            token,
            audit: self.inner.audit.clone(),
        };
        let services = Arc::new(PluginServices {
            name: name.clone(),
            log: self.inner.log.clone(),
            gate: gate.clone(),
            env: self.inner.env.clone(),
        });
        // No host lock is held while plugin code (initialisers, `create`) runs.
        let raw = match loader::open(path, &checked, &self.inner.data_dir, services) {
            Ok(raw) => raw,
            Err(e) => {
                self.inner.table.release(token);
                let version = &checked.section.manifest.version;
                return Err(self.load_failed(&name, version, path, e.into()));
            }
        };
        let mut plugins = self
            .inner
            .plugins
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if plugins
            .get(&key)
            .is_some_and(|i| i.state() != State::Removed)
        {
            // Another thread loaded the same name meanwhile; this copy is discarded.
            self.inner.table.release(token);
            return Err(LoadError::DuplicateName { name }.into());
        }
        let manifest = checked.section.manifest;
        self.inner.store.put_plugin(&PluginRecord::new(
            name.clone(),
            manifest.version.clone(),
            trust,
            None,
            path.display().to_string(),
            State::Loaded.as_str().to_owned(),
            manifest.capabilities.clone(),
            self.grant_records(token),
            self.denied_records(token),
        ))?;
        self.inner.audit.append(&AuditEvent::new(
            AuditKind::Load,
            &name,
            &manifest.version,
            json!({
                "outcome": "loaded",
                "source": path.display().to_string(),
                "trust": trust.as_str(),
                "sdk_abi": manifest.sdk_abi,
                "token": token.to_string(),
            }),
        ))?;
        let caps = InstanceCaps {
            gate,
            trust,
            store: self.inner.store.clone(),
        };
        let instance = Instance::in_process(manifest, path.to_owned(), raw, caps);
        plugins.insert(key, instance.clone());
        Ok(PluginHandle { instance })
    }

    /// Admits the plugin and decides its capability requests; publishes the grants and returns
    /// the instance's token. Runs no plugin code.
    fn grant_capabilities(
        &self,
        manifest: &EmbeddedManifest,
        path: &Path,
        trust: TrustLevel,
    ) -> Result<Token, Error> {
        let name = &manifest.name;
        let refused = |e: CapsError| Err(self.load_failed(name, &manifest.version, path, e.into()));
        if let Err(r) = self.inner.policy.admit(name, trust) {
            return refused(match r {
                Refusal::Trust { required } => CapsError::TrustTooLow {
                    plugin: name.clone(),
                    trust,
                    required,
                },
                Refusal::DenyListed => CapsError::PluginRefused {
                    plugin: name.clone(),
                    reason: "it is on the deny list".into(),
                },
                Refusal::NotAllowListed => CapsError::PluginRefused {
                    plugin: name.clone(),
                    reason: "it is not on the allow list".into(),
                },
            });
        }
        let mut requested = Vec::with_capacity(manifest.capabilities.len());
        for text in &manifest.capabilities {
            match text.parse::<Capability>() {
                Ok(c) => requested.push(c),
                Err(error) => {
                    return refused(CapsError::BadCapability {
                        plugin: name.clone(),
                        error,
                    })
                }
            }
        }
        let stored = self.inner.store.stored_grants(name)?;
        let now = Timestamp::now();
        let decisions = decide(
            &self.inner.policy,
            self.inner.approver.as_deref(),
            &stored,
            Subject {
                name,
                version: &manifest.version,
                trust,
            },
            &requested,
            now,
        );
        let mut events = Vec::new();
        for g in &decisions.grants {
            if g.source() == GrantSource::Approver && g.scope().is_stored() {
                self.inner.store.save_grant(name, g)?;
            }
            events.push(grant_event(name, g));
        }
        for (cap, reason) in &decisions.denied {
            events.push(AuditEvent::new(
                AuditKind::Deny,
                name,
                cap.to_string(),
                json!({ "at": "load", "reason": reason }),
            ));
        }
        self.inner.audit.append_all(&events)?;
        self.inner
            .table
            .insert(GrantSet {
                generation: 0,
                requested: decisions.requested,
                grants: decisions.grants,
                denied: decisions.denied,
                revoked: Vec::new(),
            })
            .ok_or_else(|| CapsError::TableFull { max: MAX_INSTANCES }.into())
    }

    /// Records a refused or failed load, and hands the error back.
    fn load_failed(&self, name: &str, version: &str, path: &Path, error: Error) -> Error {
        let event = AuditEvent::new(
            AuditKind::Load,
            name,
            version,
            json!({
                "outcome": "refused",
                "source": path.display().to_string(),
                "code": error.code().to_string(),
                "error": error.to_string(),
            }),
        );
        if let Err(e) = self.inner.audit.append(&event) {
            log::error!(target: "switchboard::audit", "cannot record a refused load of `{name}`: {e}");
        }
        error
    }

    fn grant_records(&self, token: Token) -> Vec<GrantRecord> {
        self.inner
            .table
            .grants(token)
            .iter()
            .map(GrantRecord::from)
            .collect()
    }

    fn denied_records(&self, token: Token) -> Vec<DeniedRecord> {
        self.inner
            .table
            .set(token)
            .map(|s| {
                s.denied
                    .iter()
                    .map(|(c, r)| DeniedRecord::new(c.to_string(), r.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Revokes from `plugin` every grant that `capability` covers — in the running instance,
    /// effective on its next check, and in the database. Returns how many grants the instance
    /// lost. Refused with `SB0422` if it held none.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn demo(host: &switchboard_host::Host) -> Result<(), Box<dyn std::error::Error>> {
    /// host.revoke("hello", &"fs.read".parse()?)?; // every fs.read grant hello holds
    /// # Ok(()) }
    /// ```
    pub fn revoke(&self, plugin: &str, capability: &Capability) -> Result<usize, Error> {
        let live = self.plugin(plugin).ok();
        let name = live
            .as_ref()
            .map_or_else(|| plugin.to_owned(), |h| h.name().to_owned());
        let gone = match &live {
            Some(h) => self.inner.table.revoke(h.token(), capability),
            None => Vec::new(),
        };
        let deleted = self.inner.store.delete_grants(&name, capability)?;
        if gone.is_empty() && deleted == 0 {
            return Err(CapsError::NoSuchGrant {
                plugin: name,
                capability: capability.to_string(),
            }
            .into());
        }
        let mut events: Vec<AuditEvent> = gone
            .iter()
            .map(|g| {
                AuditEvent::new(
                    AuditKind::Revoke,
                    &name,
                    g.capability().to_string(),
                    json!({ "scope": g.scope().to_string(), "by": capability.to_string() }),
                )
            })
            .collect();
        if gone.is_empty() {
            events.push(AuditEvent::new(
                AuditKind::Revoke,
                &name,
                capability.to_string(),
                json!({ "stored_grants": deleted }),
            ));
        }
        self.inner.audit.append_all(&events)?;
        if let Some(h) = &live {
            self.inner
                .store
                .set_plugin_grants(&name, &self.grant_records(h.token()))?;
        }
        Ok(gone.len())
    }

    /// Grants a loaded plugin a capability at run time, for `scope`. The capability must be
    /// covered by one the plugin requested (`SB0423`) and not blocked by policy (`SB0424`).
    pub fn grant(&self, plugin: &str, capability: Capability, scope: Scope) -> Result<(), Error> {
        let handle = self.plugin(plugin)?;
        let name = handle.name().to_owned();
        let capability = resolve_paths(in_namespace(&name, capability));
        if !handle.requested().iter().any(|r| r.covers(&capability)) {
            return Err(CapsError::NotRequested {
                plugin: name,
                capability: capability.to_string(),
            }
            .into());
        }
        if let Some(rule) = self.inner.policy.blocked(&capability) {
            return Err(CapsError::Blocked {
                capability: capability.to_string(),
                rule: rule.to_string(),
            }
            .into());
        }
        let grant = Grant::new(capability, scope, Timestamp::now(), GrantSource::Operator);
        if !self.inner.table.add_grant(handle.token(), grant.clone()) {
            return Err(CallError::UnknownPlugin { plugin: name }.into());
        }
        if scope.is_stored() {
            self.inner.store.save_grant(&name, &grant)?;
        }
        self.inner.audit.append(&grant_event(&name, &grant))?;
        self.inner
            .store
            .set_plugin_grants(&name, &self.grant_records(handle.token()))?;
        Ok(())
    }

    /// The grant table every instance's token indexes; [`GrantTable::check`] is the
    /// lock-free check every host service makes.
    pub fn grant_table(&self) -> &GrantTable {
        &self.inner.table
    }

    /// The host database.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.inner.audit
    }

    /// The loaded plugin called `name`.
    pub fn plugin(&self, name: &str) -> Result<PluginHandle, CallError> {
        self.read_plugins()
            .get(&name_key(name))
            .cloned()
            .map(|instance| PluginHandle { instance })
            .ok_or_else(|| CallError::UnknownPlugin {
                plugin: name.to_owned(),
            })
    }

    /// Every loaded plugin, by name.
    pub fn plugins(&self) -> Vec<PluginHandle> {
        self.read_plugins()
            .values()
            .cloned()
            .map(|instance| PluginHandle { instance })
            .collect()
    }

    /// The names of the loaded plugins, sorted.
    pub fn plugin_names(&self) -> Vec<String> {
        self.read_plugins()
            .values()
            .map(|i| i.name().to_owned())
            .collect()
    }

    /// A typed handle on `plugin`'s command `command`, resolved and contract-checked now.
    pub fn command<Req: Message, Resp: Message>(
        &self,
        plugin: &str,
        command: &str,
    ) -> Result<Command<Req, Resp>, CallError> {
        self.plugin(plugin)?.command(command)
    }

    /// Stops `name` if it is active and removes it. Its library stays mapped (ARCHITECTURE D2);
    /// handles still held see it as removed.
    pub fn remove(&self, name: &str) -> Result<(), Error> {
        let handle = self.plugin(name)?;
        if handle.state() == State::Active {
            // A failing stop hook leaves the instance failed, which may still be removed.
            let _ = handle.stop();
        }
        handle.instance.transition(State::Removed, None)?;
        self.inner
            .plugins
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&name_key(name));
        Ok(())
    }

    fn read_plugins(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Instance>> {
        self.inner
            .plugins
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn grant_event(plugin: &str, g: &Grant) -> AuditEvent {
    AuditEvent::new(
        AuditKind::Grant,
        plugin,
        g.capability().to_string(),
        json!({
            "scope": g.scope().as_str(),
            "expires": g.scope().expires().map(|t| t.to_string()),
            "source": g.source().as_str(),
        }),
    )
}

impl Drop for Inner {
    fn drop(&mut self) {
        let plugins = self
            .plugins
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for instance in plugins.values() {
            if instance.state() == State::Active {
                let _ = instance.stop();
            }
        }
    }
}
