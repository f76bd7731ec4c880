//! The [`Host`] and its builder.

use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use switchboard_sdk::caps::Capability;
use switchboard_sdk::manifest::{Diagnostic, Manifest};
use switchboard_sdk::{EmbeddedManifest, Message};

use crate::audit::{
    AuditEvent, AuditKey, AuditKind, AuditLog, Checkpoint, Checkpointer, CHECKPOINT_FILE,
};
use crate::bus::{Bus, BusLimits};
use crate::caps::decide::{decide, Subject};
use crate::caps::policy::{in_namespace, resolve_paths, Refusal};
use crate::caps::{
    Approver, Grant, GrantSet, GrantSource, GrantTable, Policy, Scope, Token, MAX_INSTANCES,
};
use crate::compat::{check_embedded, check_manifest, HostProfile};
use crate::error::{CallError, CapsError, ConfigError, Error, LoadError, StateError};
use crate::identity::PluginIdentity;
use crate::instance::{Backend, Code, Command, Instance, InstanceCaps, PluginHandle};
use crate::lifecycle::State;
use crate::loader;
use crate::loader::options::{is_downgrade, LoadOptions};
use crate::package::{self, TrustLevel, TrustStore, UnpackLimits, VerifiedPackage};
use crate::services::{
    log_facade, Gate, GrantDirs, LogRecord, LogSink, PluginServices, PluginState,
};
use crate::state::{
    resolve_config, ConfigInputs, ConfigSpec, DataMigration, EffectiveConfig, Kv, MasterKey,
    MigrationOutput, MigrationReport, Secrets, Snapshot,
};
use crate::store::{DeniedRecord, GrantRecord, PluginRecord, Store};
use crate::timestamp::Timestamp;
use crate::verify::{self, VerifiedPlugin};

/// Appends between two automatic audit checkpoints, unless the builder says otherwise.
const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;

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
    trusted_authors: Vec<String>,
    trusted_registries: Vec<String>,
    limits: UnpackLimits,
    master_key: Option<MasterKey>,
    environment: Option<String>,
    config_vars: BTreeMap<String, String>,
    stop_deadline: std::time::Duration,
    max_reloads: u32,
    audit_key: Option<AuditKey>,
    checkpoint_every: u64,
    bus_limits: BusLimits,
    runner: Option<crate::isolation::RunnerCommand>,
    plugin_dirs: Vec<PathBuf>,
    metrics: bool,
    metrics_export: Option<std::time::Duration>,
    health_interval: Option<std::time::Duration>,
    health_rules: crate::health::HealthRules,
    metrics_retention: crate::metrics::Retention,
    clock: Arc<dyn crate::slo::Clock>,
}

/// How often a host hands its metrics to the [`metrics`] facade by default; see
/// [`HostBuilder::metrics_export_interval`].
pub const DEFAULT_METRICS_EXPORT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// How many copies of one plugin's library hot reloads map into the process by default
/// before the next reload is refused (`SB0363`); see [`HostBuilder::max_reloads`].
pub const DEFAULT_MAX_RELOADS: u32 = 32;

/// How long [`PluginHandle::stop`], [`Host::remove`] and dropping a [`Host`] wait for a
/// plugin's `stop` hook by default.
pub const DEFAULT_STOP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

impl fmt::Debug for HostBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostBuilder")
            .field("data_dir", &self.data_dir)
            .field("host_api", &self.host_api)
            .field("dangerous", &self.dangerous)
            .field("policy", &self.policy)
            .field("approver", &self.approver.is_some())
            .field("plugin_env", &self.env.keys().collect::<Vec<_>>())
            .field("environment", &self.environment)
            .field("config_vars", &self.config_vars.keys().collect::<Vec<_>>())
            .field("audit_key", &self.audit_key)
            .field("checkpoint_every", &self.checkpoint_every)
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
            trusted_authors: Vec::new(),
            trusted_registries: Vec::new(),
            limits: UnpackLimits::default(),
            master_key: None,
            environment: None,
            config_vars: BTreeMap::new(),
            stop_deadline: DEFAULT_STOP_DEADLINE,
            max_reloads: DEFAULT_MAX_RELOADS,
            metrics: true,
            metrics_export: Some(DEFAULT_METRICS_EXPORT_INTERVAL),
            metrics_retention: crate::metrics::Retention::default(),
            clock: Arc::new(crate::slo::SystemClock),
            audit_key: None,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            bus_limits: BusLimits::default(),
            runner: None,
            plugin_dirs: Vec::new(),
            health_interval: Some(crate::health::DEFAULT_HEALTH_INTERVAL),
            health_rules: crate::health::HealthRules::default(),
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

    /// Where plugin log lines go. Default: `tracing` events, target `switchboard::plugin`, with
    /// the plugin as a field, inside the call's `plugin_call` span (and, through `tracing`'s `log`
    /// feature, `log` records when no `tracing` subscriber is installed).
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

    /// Trusts an author's minisign public key (the text of a `.pub` file): packages it signs
    /// are `verified`. Checked by [`build`](HostBuilder::build).
    pub fn trust(&mut self, public_key: impl Into<String>) -> &mut Self {
        self.trusted_authors.push(public_key.into());
        self
    }

    /// Trusts a registry's countersigning key: packages it certifies are `certified`.
    pub fn trust_registry(&mut self, public_key: impl Into<String>) -> &mut Self {
        self.trusted_registries.push(public_key.into());
        self
    }

    /// The caps on unpacking packages. Default: [`UnpackLimits::default`].
    pub fn unpack_limits(&mut self, limits: UnpackLimits) -> &mut Self {
        self.limits = limits;
        self
    }

    /// The bus's limits: event chain depth, service call depth, and the largest event payload
    /// (default 1 MiB) and call payload — service requests and replies, command requests and
    /// responses (default 16 MiB). Default: [`BusLimits::default`].
    pub fn bus_limits(&mut self, limits: BusLimits) -> &mut Self {
        self.bus_limits = limits;
        self
    }

    /// The master key that encrypts plugin secrets. Default: the key in
    /// `<data dir>/master.key`, created (mode 0600) on first run.
    pub fn master_key(&mut self, key: MasterKey) -> &mut Self {
        self.master_key = Some(key);
        self
    }

    /// The key that signs the audit log's checkpoints (ARCHITECTURE D15). Default: the key in
    /// `<data dir>/audit.key`, created (mode 0600) on first run. A host that keeps this key
    /// outside the data directory — in its own secret store — makes checkpoints that someone
    /// who can write the data directory cannot forge. The public key is written to
    /// `<data dir>/audit.pub` beside the first checkpoint either way.
    pub fn audit_key(&mut self, key: AuditKey) -> &mut Self {
        self.audit_key = Some(key);
        self
    }

    /// Writes a signed checkpoint of the audit log's head to `<data dir>/audit.checkpoint`
    /// after every `appends` appended rows (default 1000), as well as when the host is built
    /// and dropped and on [`Host::audit_checkpoint`]. `0` keeps only the latter. Rows appended since the
    /// last checkpoint are protected by the hash chain alone, so a smaller number narrows that
    /// window at the cost of one signature and file write per checkpoint.
    pub fn audit_checkpoint_every(&mut self, appends: u64) -> &mut Self {
        self.checkpoint_every = appends;
        self
    }

    /// The configuration profile to apply: `production` applies `[profile.production]` of
    /// each `<data dir>/config/<plugin>.toml`. Default: none.
    pub fn environment(&mut self, name: impl Into<String>) -> &mut Self {
        self.environment = Some(name.into());
        self
    }

    /// Configuration variables (`SWITCHBOARD_<PLUGIN>_<KEY>`, others are ignored), which
    /// override every other source. The library never reads the process environment; a host
    /// that wants it passes `std::env::vars()` here.
    ///
    /// **Names.** `SWITCHBOARD_`, the plugin's name upper-cased with `-` as `_`, `_`, then the
    /// key upper-cased, with `__` between levels: `SWITCHBOARD_MY_APP_DB__PORT` sets `db.port`
    /// of plugin `my-app`. Keys match the schema's and defaults' without regard to case and
    /// `-`/`_`.
    ///
    /// **Values.** For a *string key* — its schema's `type` allows `string`, or its `enum` or
    /// `const` is made of strings, or (with no type in the schema) the value it replaces is a
    /// string — the text is the value as it stands: `imperial`, `1.2`, `true` and `null` are
    /// all strings, and quotes are kept. For any other key the text is read as JSON (`5432`,
    /// `true`, `["a","b"]`, `{"host":"db"}`); text that is not JSON is kept as a string, and the
    /// schema check then names the field if a string is not allowed (`SB0722`).
    ///
    /// ```
    /// let mut b = switchboard_host::Host::builder();
    /// b.config_vars([
    ///     ("SWITCHBOARD_WEATHER_UNITS", "imperial"), // a string key: plain text
    ///     ("SWITCHBOARD_WEATHER_RETRIES", "5"),      // an integer key: JSON
    ///     ("SWITCHBOARD_WEATHER_DB__HOSTS", r#"["a", "b"]"#),
    /// ]);
    /// ```
    pub fn config_vars<K: Into<String>, V: Into<String>>(
        &mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> &mut Self {
        self.config_vars
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// How long stopping a plugin waits for its `stop` hook (default
    /// [`DEFAULT_STOP_DEADLINE`], 5 s). A hook still running then is abandoned: the plugin is
    /// marked failed, keeps no host service, and the call returns `SB0321`. Its threads go on
    /// running — in-process code cannot be killed.
    pub fn stop_deadline(&mut self, deadline: std::time::Duration) -> &mut Self {
        self.stop_deadline = deadline;
        self
    }

    /// The most times one plugin is reloaded in-process ([`PluginHandle::reload`]) before
    /// the process restarts (default [`DEFAULT_MAX_RELOADS`]). Each such reload maps a fresh
    /// copy of the library that stays mapped until the process exits (ARCHITECTURE D2): its
    /// code, its statics and the memory they hold. Past the bound a reload is refused with
    /// `SB0363`. Reloads of an isolated plugin start a new runner and map nothing here.
    pub fn max_reloads(&mut self, max: u32) -> &mut Self {
        self.max_reloads = max;
        self
    }

    /// Whether calls are counted and timed (default: yes). Off, [`Host::metrics`] holds no
    /// commands and a call skips one branch's worth of work — about 10 ns less on a typed
    /// call (`dispatch/typed_small_metrics` beside `dispatch/typed_small`).
    pub fn metrics(&mut self, record: bool) -> &mut Self {
        self.metrics = record;
        self
    }

    /// How often the host hands its metrics to the [`metrics`] facade (default
    /// [`DEFAULT_METRICS_EXPORT_INTERVAL`]); `None`: only when [`Host::export_metrics`] is
    /// called. On the same tick it stores them in its database and evaluates SLOs
    /// ([`Host::flush_metrics`]); with `None` they are stored only when the host is dropped
    /// or the application calls that. Without a recorder installed by the application (e.g.
    /// `metrics-exporter-prometheus`) the facade drops them: nothing leaves the process.
    pub fn metrics_export_interval(&mut self, every: Option<std::time::Duration>) -> &mut Self {
        self.metrics_export = every.filter(|d| !d.is_zero());
        self
    }

    /// How long the metrics stored in the host database are kept (default: minute rows for
    /// 2 days, hour rows for 30 days; see [`metrics::Retention`](crate::metrics::Retention)).
    /// The host writes them on each tick of [`metrics_export_interval`](Self::metrics_export_interval)
    /// and when it is dropped.
    pub fn metrics_retention(&mut self, retention: crate::metrics::Retention) -> &mut Self {
        self.metrics_retention = retention;
        self
    }

    /// The clock stored metrics are filed under and SLOs are evaluated at (default: the
    /// system clock). A [`ManualClock`](crate::slo::ManualClock) lets a test or a simulation
    /// move time by hand.
    pub fn clock(&mut self, clock: impl crate::slo::Clock + 'static) -> &mut Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The runner process for isolated plugins. Without one the host looks for it as
    /// [`RunnerCommand::locate`](crate::isolation::RunnerCommand::locate) says: the
    /// `SWITCHBOARD_RUNNER` variable, this executable if its `main` called
    /// [`isolation::hook`](crate::isolation::hook), or a `switchboard-runner` beside it.
    ///
    /// ```no_run
    /// use switchboard_host::{isolation::RunnerCommand, Host};
    ///
    /// let mut builder = Host::builder();
    /// builder.runner(RunnerCommand::binary("/usr/libexec/switchboard-runner"));
    /// ```
    pub fn runner(&mut self, command: crate::isolation::RunnerCommand) -> &mut Self {
        self.runner = Some(command);
        self
    }

    /// Adds a plugin directory (repeatable): [`Host::discover`] loads the development
    /// libraries (`*.so`, `*.dylib`, `*.dll`; only where unsigned libraries are allowed) and
    /// packages (`*.sbpkg`) in it, and [`Host::watch`] watches it.
    pub fn plugin_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.plugin_dirs.push(dir.into());
        self
    }

    /// How often the host checks the health of every loaded plugin on a thread of its own
    /// (default [`DEFAULT_HEALTH_INTERVAL`](crate::DEFAULT_HEALTH_INTERVAL), 30 s); `None`
    /// turns periodic checks off ([`Host::check_health`] still runs one on demand). The
    /// thread keeps no host alive and ends when the host is dropped. A zero interval is
    /// refused by [`build`](Self::build) with `SB0399`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard_host::Host;
    ///
    /// let mut builder = Host::builder();
    /// builder.health_interval(Duration::from_secs(10));
    /// builder.health_interval(None); // only `check_health`
    /// ```
    pub fn health_interval(
        &mut self,
        interval: impl Into<Option<std::time::Duration>>,
    ) -> &mut Self {
        self.health_interval = interval.into();
        self
    }

    /// The thresholds health checks apply: the incident window, how many incidents make a
    /// plugin degraded or unhealthy, and how long a `health` hook may take (see
    /// [`HealthRules`](crate::HealthRules)). Inconsistent rules are refused by
    /// [`build`](Self::build) with `SB0399`.
    pub fn health_rules(&mut self, rules: crate::health::HealthRules) -> &mut Self {
        self.health_rules = rules;
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
        if let Some(reason) = self.health_rules.problem().or_else(|| {
            (self.health_interval == Some(std::time::Duration::ZERO))
                .then(|| "the health interval is zero; pass `None` to turn checks off".into())
        }) {
            return Err(ConfigError::Health { reason }.into());
        }
        let mut trust = TrustStore::new();
        for key in &self.trusted_authors {
            trust.add_author(key).map_err(|e| ConfigError::Trust {
                reason: e.to_string(),
            })?;
        }
        for key in &self.trusted_registries {
            trust.add_registry(key).map_err(|e| ConfigError::Trust {
                reason: e.to_string(),
            })?;
        }
        let store = Store::open(&data_dir)?;
        let audit_key = match &self.audit_key {
            Some(k) => k.clone(),
            None => AuditKey::load_or_create(&data_dir)?,
        };
        store.set_checkpointer(Checkpointer::new(
            audit_key,
            data_dir.join(CHECKPOINT_FILE),
            self.checkpoint_every,
        ));
        // A log cut while no host ran is found here, and its checkpoint kept as evidence; an
        // intact one gets a checkpoint even if the last host never reached its drop.
        if let Some(checkpointer) = store.checkpointer() {
            if let Err(e) = checkpointer.write_now(&store.audit()) {
                tracing::error!(target: "switchboard::audit", "no audit checkpoint written: {e}");
            }
        }
        let master_key = match &self.master_key {
            Some(k) => k.clone(),
            None => MasterKey::load_or_create(&data_dir)?,
        };
        let bus = Bus::with_policy(
            self.bus_limits,
            self.policy.service_throttle_value(),
            self.policy.delivery_value(),
        )
        .audited(store.audit());
        let host = Host {
            inner: Arc::new(Inner {
                data_dir,
                trust,
                limits: self.limits,
                host_api: self.host_api.clone(),
                log: self.log.clone(),
                dangerous: self.dangerous.clone(),
                plugins: RwLock::new(BTreeMap::new()),
                audit: store.audit(),
                store,
                table: Arc::new(GrantTable::new()),
                bus,
                points: crate::extend::Points::default(),
                policy: self.policy.clone(),
                approver: self.approver.clone(),
                env: Arc::new(self.env.clone()),
                master_key,
                environment: self.environment.clone(),
                config_vars: self.config_vars.clone(),
                states: RwLock::new(BTreeMap::new()),
                stop_deadline: self.stop_deadline,
                max_reloads: self.max_reloads,
                runner: self.runner.clone(),
                plugin_dirs: self.plugin_dirs.clone(),
                discovered: parking_lot::Mutex::new(BTreeMap::new()),
                recovered: parking_lot::Mutex::new(Vec::new()),
                verified_packages: crate::install::VerifiedCache::default(),
                metrics: crate::metrics::Registry::new(self.metrics),
                exported: crate::metrics::Exported::default(),
                exporter: parking_lot::Mutex::new(None),
                health: crate::health::Monitor::new(self.health_rules, self.health_interval),
                usage_units: parking_lot::Mutex::new(BTreeMap::new()),
                slo: crate::slo::Monitor::new(
                    self.clock.clone(),
                    self.metrics_retention,
                    self.policy.slo_policy().clone(),
                ),
            }),
        };
        if let Some(every) = self.metrics_export.filter(|_| self.metrics) {
            *host.inner.exporter.lock() =
                crate::metrics::Exporter::spawn(HostLink(Arc::downgrade(&host.inner)), every);
        }
        // An install operation a crash interrupted is rolled back before anything loads
        // (ARCHITECTURE D10); one another process is running is left alone.
        let recovered = crate::install::recover(&host)?;
        *host.inner.recovered.lock() = recovered;
        host.inner
            .health
            .start(host.link())
            .map_err(|e| ConfigError::Health {
                reason: format!("cannot start the health monitor's thread: {e}"),
            })?;
        Ok(host)
    }
}

fn valid_version(v: &str) -> bool {
    semver::Version::parse(v).is_ok()
}

/// The error for a plugin policy refuses outright.
pub(crate) fn refusal_error(name: &str, trust: TrustLevel, r: Refusal) -> CapsError {
    match r {
        Refusal::Trust { required } => CapsError::TrustTooLow {
            plugin: name.to_owned(),
            trust,
            required,
        },
        Refusal::DenyListed => CapsError::PluginRefused {
            plugin: name.to_owned(),
            reason: "it is on the deny list".into(),
        },
        Refusal::NotAllowListed => CapsError::PluginRefused {
            plugin: name.to_owned(),
            reason: "it is not on the allow list".into(),
        },
        Refusal::Signer { signer } => CapsError::PluginRefused {
            plugin: name.to_owned(),
            reason: match signer {
                Some(id) => format!("its signer {id} is not among the allowed signers"),
                None => "it is unsigned and the policy names allowed signers".into(),
            },
        },
    }
}

/// Where a loaded plugin's code came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Provenance {
    pub trust: TrustLevel,
    pub signer: Option<String>,
    /// Who owns the data it reads and writes.
    pub identity: PluginIdentity,
}

impl Provenance {
    fn unsigned(path: &Path) -> Self {
        Provenance {
            trust: TrustLevel::Unsigned,
            signer: None,
            identity: PluginIdentity::of_library(path),
        }
    }
}

/// A plugin's code opened by a load and not yet registered: what a load registers, or a
/// reload swaps in.
pub(crate) struct Opened {
    pub code: Code,
    pub state: Arc<PluginState>,
    /// The version a deliberate downgrade replaces.
    pub downgrade_from: Option<String>,
    pub undo: Undo,
}

/// What a load that does not go through gives back: its token, and the claim on the plugin's
/// data it made (if it was the first to).
pub(crate) struct Undo {
    token: Token,
    claim: Option<(String, PluginIdentity)>,
}

impl Undo {
    pub(crate) fn run(&self, host: &Host) {
        host.inner.table.release(self.token);
        if let Some((name, identity)) = &self.claim {
            if let Err(err) = host.inner.store.unclaim_identity(name, identity) {
                tracing::error!(target: "switchboard::load", "cannot undo the claim on `{name}`'s data: {err}");
            }
        }
    }
}

/// An instance's way back to the host that loaded it (for reloads through its handle),
/// without keeping the host alive.
#[derive(Debug, Clone)]
pub(crate) struct HostLink(std::sync::Weak<Inner>);

impl HostLink {
    pub(crate) fn upgrade(&self) -> Option<Host> {
        self.0.upgrade().map(|inner| Host { inner })
    }

    /// Whether the host is still there (without keeping it).
    pub(crate) fn alive(&self) -> bool {
        self.0.strong_count() > 0
    }
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
/// builder.data_dir("/var/lib/my-app/plugins").host_api("switchboard-demo", "0.1.0");
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
    trust: TrustStore,
    limits: UnpackLimits,
    host_api: (String, String),
    log: LogSink,
    dangerous: DangerousOptions,
    plugins: RwLock<BTreeMap<String, Instance>>,
    bus: Bus,
    /// The extension points this host declares (SPEC S5.4).
    points: crate::extend::Points,
    store: Store,
    audit: AuditLog,
    table: Arc<GrantTable>,
    policy: Policy,
    approver: Option<Arc<dyn Approver>>,
    env: Arc<BTreeMap<String, String>>,
    master_key: MasterKey,
    environment: Option<String>,
    config_vars: BTreeMap<String, String>,
    /// Each loaded plugin's state service, by name key.
    states: RwLock<BTreeMap<String, Arc<PluginState>>>,
    stop_deadline: std::time::Duration,
    /// The most library copies reloads map per plugin ([`HostBuilder::max_reloads`]).
    max_reloads: u32,
    /// The runner for isolated plugins, if set ([`HostBuilder::runner`]).
    runner: Option<crate::isolation::RunnerCommand>,
    /// The plugin directories ([`HostBuilder::plugin_dir`]).
    plugin_dirs: Vec<PathBuf>,
    /// The files discovery loaded, and the plugin each one holds.
    discovered: parking_lot::Mutex<BTreeMap<PathBuf, String>>,
    /// Install operations rolled back when this host opened its data directory.
    recovered: parking_lot::Mutex<Vec<crate::install::Recovery>>,
    /// Every plugin's counters ([`Host::metrics`]).
    metrics: crate::metrics::Registry,
    /// What was last handed to the `metrics` facade.
    exported: crate::metrics::Exported,
    /// The timer that hands them over; dropped with the host, which ends its thread.
    exporter: parking_lot::Mutex<Option<crate::metrics::Exporter>>,
    /// Stored metrics and SLO alerts ([`Host::flush_metrics`]).
    slo: crate::slo::Monitor,
    /// Packages verified from the package store, reused by a rollback.
    verified_packages: crate::install::VerifiedCache,
    /// The health monitor and its periodic thread.
    health: crate::health::Monitor,
    /// The usage units each plugin has reported, by name key: kept across reloads and
    /// removals, so the bound on units (and on the counters keyed by them) holds per name.
    usage_units: parking_lot::Mutex<BTreeMap<String, Arc<crate::instance::UnitLimit>>>,
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

use switchboard_sdk::manifest::name_key;

impl Host {
    /// A builder with defaults.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// The event bus and shared services: publish, subscribe and provide services with
    /// closures; plugins' `#[subscribe]` handlers and services join it when they start.
    ///
    /// # Example
    ///
    /// ```
    /// use switchboard_host::bus::{Outgoing, ServiceBuilder, SubscribeOptions};
    /// use switchboard_host::Host;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let host = Host::builder().data_dir(dir.path()).build().unwrap();
    /// host.bus()
    ///     .provide(ServiceBuilder::new("clock").method("now", |_: ()| Ok(42u64)))
    ///     .unwrap();
    /// let now = host.bus().client::<(), u64>("clock", "now").unwrap();
    /// assert_eq!(now.call(&()).unwrap(), 42);
    /// host.bus().publish(Outgoing::new("host.ready", Vec::new())).unwrap();
    /// ```
    pub fn bus(&self) -> &Bus {
        &self.inner.bus
    }

    /// Every plugin's metrics now (SPEC S8.4): per command calls, errors by code and
    /// latency percentiles; per plugin events delivered and dropped, restarts, reloads and
    /// panics. Counters count from when this host was built and survive unloads and reloads.
    /// Empty when [`HostBuilder::metrics`] is off.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn demo(host: &switchboard_host::Host) -> Result<(), switchboard_host::Error> {
    /// let greet = host.command::<String, String>("hello", "greet")?;
    /// greet.call(&"Ada".to_string())?;
    /// let m = host.metrics();
    /// let greet = &m.plugins["hello"].commands["greet"];
    /// assert_eq!(greet.calls, 1);
    /// println!("p99 {:?}", greet.latency.p99());
    /// print!("{}", m.to_prometheus()); // the Prometheus text format
    /// # Ok(()) }
    /// ```
    pub fn metrics(&self) -> crate::metrics::MetricsSnapshot {
        self.inner
            .metrics
            .snapshot(&self.inner.bus.events_by_owner())
    }

    /// Hands the metrics to the [`metrics`] facade now (the host also does so every
    /// [`HostBuilder::metrics_export_interval`]): counters as absolute values, latencies as
    /// the histogram values recorded since the last export, under the names in
    /// [`metrics::names`](crate::metrics::names). Without a recorder installed by the
    /// application this does nothing observable.
    pub fn export_metrics(&self) {
        self.inner.exported.export(self.metrics());
    }

    /// Writes the metrics since the last write to the host database (minute rows, see
    /// [`metrics::stored`](crate::metrics::stored)), applies the retention, evaluates every
    /// plugin's SLOs ([`slo`](crate::slo)) and returns the alerts that started or stopped —
    /// each also published on `system.slo.alert` and audited. The host does this on every
    /// tick of [`HostBuilder::metrics_export_interval`], and writes (without evaluating) when
    /// it is dropped.
    pub fn flush_metrics(&self) -> Result<Vec<crate::slo::SloAlert>, crate::metrics::MetricsError> {
        let inner = &self.inner;
        inner
            .slo
            .tick(&inner.store, &inner.audit, &inner.bus, self.metrics())
    }

    /// What the host database holds of the last `period` (this host's metrics up to now
    /// included, and those of hosts that ran before on this data directory), at the stored
    /// resolution: minutes, or hours past the retention of minute rows.
    pub fn stored_metrics(
        &self,
        period: std::time::Duration,
    ) -> Result<crate::metrics::MetricsSnapshot, crate::metrics::MetricsError> {
        let inner = &self.inner;
        inner.slo.persist(&inner.store, self.metrics())?;
        let now = inner.slo.now();
        crate::metrics::stored(
            &inner.store,
            now.checked_sub(period).unwrap_or(std::time::UNIX_EPOCH),
        )
    }

    /// The usage plugins reported for metering (`ctx.usage`, SPEC S1.6) between `since` and
    /// `until`, per plugin × command × unit, from the host database (this host's usage up to
    /// now written first, and that of hosts that ran before on this data directory): what
    /// billing reads, and what `switchboard usage --data-dir DIR --since 30d` prints. Stored
    /// rows are minutes (hours past the retention of minute rows), so a period covers every
    /// bucket it overlaps.
    ///
    /// ```no_run
    /// # fn demo(host: &switchboard_host::Host) -> Result<(), switchboard_host::metrics::MetricsError> {
    /// use std::time::{Duration, SystemTime};
    /// let now = SystemTime::now();
    /// let month = host.usage(now - Duration::from_secs(30 * 86_400), now)?;
    /// for row in &month.rows {
    ///     println!("{} {} {}: {}", row.plugin, row.command, row.unit, row.amount);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn usage(
        &self,
        since: std::time::SystemTime,
        until: std::time::SystemTime,
    ) -> Result<crate::metrics::UsageReport, crate::metrics::MetricsError> {
        let inner = &self.inner;
        inner.slo.persist(&inner.store, self.metrics())?;
        crate::metrics::usage(&inner.store, since, until)
    }

    /// The SLO report of the last `period` against this host's objectives: what
    /// `switchboard slo report` prints (see [`slo::SloReport`](crate::slo::SloReport)).
    pub fn slo_report(
        &self,
        period: std::time::Duration,
    ) -> Result<crate::slo::SloReport, crate::metrics::MetricsError> {
        let inner = &self.inner;
        inner.slo.persist(&inner.store, self.metrics())?;
        let now = inner.slo.now();
        let since = now.checked_sub(period).unwrap_or(std::time::UNIX_EPOCH);
        crate::slo::report(&inner.store, inner.slo.policy(), since, now)
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
        self.load_unsigned_with(path, &LoadOptions::default())
    }

    /// [`load_unsigned`](Host::load_unsigned) with options (e.g. a deliberate downgrade).
    ///
    /// The manifest a development load sees is the crate's `plugin.toml` as `#[plugin]`
    /// embedded it in the library at build time — the manifest a package of this library
    /// would carry, less the file hashes: its configuration schema and defaults, KV quota
    /// request and requirements apply, and it must agree with the rest of the embedded
    /// manifest and accept this host's API (`SB1101`/`SB1102`). A library built without a
    /// `plugin.toml` loads with its embedded facts alone.
    pub fn load_unsigned_with(
        &self,
        path: impl AsRef<Path>,
        options: &LoadOptions,
    ) -> Result<PluginHandle, Error> {
        let path = path.as_ref();
        let checked = self.check_unsigned(path)?;
        let declared = match checked.embedded_plugin_toml(self.inner.limits.max_manifest_bytes)? {
            Some(m) => Some(self.check_declared(&m, &checked)?),
            None => None,
        };
        self.open_checked(
            path,
            checked,
            Provenance::unsigned(path),
            declared.as_ref(),
            options,
        )
    }

    /// Like [`load_unsigned`](Host::load_unsigned), with a `plugin.toml` given by the caller
    /// in place of the one the library embeds. The manifest must agree with the library's
    /// embedded manifest and accept this host's API.
    pub fn load_unsigned_with_manifest(
        &self,
        path: impl AsRef<Path>,
        manifest: &Manifest,
    ) -> Result<PluginHandle, Error> {
        let path = path.as_ref();
        let checked = self.check_unsigned(path)?;
        let manifest = self.check_declared(manifest, &checked)?;
        self.open_checked(
            path,
            checked,
            Provenance::unsigned(path),
            Some(&manifest),
            &LoadOptions::default(),
        )
    }

    /// The development opt-in, then the library's bytes (capped) and section.
    fn check_unsigned(&self, path: &Path) -> Result<loader::Checked, Error> {
        if !self.inner.dangerous.unsigned_libraries {
            return Err(LoadError::Unsigned {
                path: path.to_owned(),
            }
            .into());
        }
        Ok(loader::check(path, self.inner.limits.max_package_bytes)?)
    }

    /// A development load's manifest against its library and this host.
    fn check_declared(
        &self,
        written: &Manifest,
        checked: &loader::Checked,
    ) -> Result<Manifest, Error> {
        // A crate's plugin.toml may leave out what the library embeds (pack fills it in); what
        // it does write must agree with the library.
        let manifest = written
            .with_library(checked.manifest())
            .map_err(|d| match d.first() {
                Some(d) => Error::from(verify::incompatible(&written.name, d)),
                None => Error::from(LoadError::DevManifest {
                    plugin: written.name.clone(),
                    summary: "it contradicts the library".to_owned(),
                }),
            })?;
        let manifest = &manifest;
        if let Some(d) = check_embedded(manifest, checked.manifest()).first() {
            return Err(verify::incompatible(&manifest.name, d).into());
        }
        let profile = HostProfile::new(&self.inner.host_api.0, &self.inner.host_api.1);
        if let Some(d) = check_manifest(manifest, &profile)
            .iter()
            .find(|d| d.is_error())
        {
            return Err(verify::incompatible(&manifest.name, d).into());
        }
        Ok(manifest.clone())
    }

    /// Verifies the package at `path` — sizes, signature (`PATH.minisig`), certification
    /// (`PATH.cert`), manifest, file hashes, policy, compatibility with this host, the
    /// library's embedded section against the manifest, and what this host recorded (the
    /// owner of the plugin's data, `SB0440`; the version, `SB0214`) — without running any of
    /// its code: every check a load makes before plugin code. Hand the result to
    /// [`load_verified`](Host::load_verified) to load exactly the bytes that were checked.
    pub fn verify_package(&self, path: impl AsRef<Path>) -> Result<VerifiedPlugin, Error> {
        self.verify_package_with(path, &LoadOptions::default())
    }

    /// [`verify_package`](Host::verify_package) with the options the load will use.
    pub fn verify_package_with(
        &self,
        path: impl AsRef<Path>,
        options: &LoadOptions,
    ) -> Result<VerifiedPlugin, Error> {
        let path = path.as_ref();
        let profile = HostProfile::new(&self.inner.host_api.0, &self.inner.host_api.1);
        let admit = |v: &VerifiedPackage| self.admit(v);
        let mut verified = verify::verify(
            path,
            &self.inner.trust,
            &self.inner.limits,
            Some(&profile),
            &admit,
        )?;
        let decision = crate::isolation::decide::decide(
            &self.inner.policy,
            &verified.package.manifest.name,
            Some(&verified.package.manifest),
            verified.package.trust,
            options.mode,
        );
        verified.warnings = self.load_warnings(Some(&verified.package.manifest), &decision);
        let m = &verified.package.manifest;
        let identity = PluginIdentity::of_package(path, verified.package.signer.as_deref());
        self.recorded_checks(&m.name, &m.version, &identity, options)?;
        Ok(verified)
    }

    /// The host's admission of a verified package: unsigned code only with the development
    /// opt-in, then the policy (trust level, signer).
    fn admit(&self, v: &VerifiedPackage) -> Result<(), Error> {
        // Unsigned code needs the explicit development opt-in, whatever the policy says.
        if v.trust == TrustLevel::Unsigned && !self.inner.dangerous.unsigned_libraries {
            return Err(package::PackageError::Unsigned.into());
        }
        let m = &v.manifest;
        self.inner
            .policy
            .admit_package(&m.name, v.trust, v.signer.as_deref())
            .map_err(|r| refusal_error(&m.name, v.trust, r).into())
    }

    /// The packages this host verified from its package store (see `install::VerifiedCache`).
    pub(crate) fn verified_packages(&self) -> &crate::install::VerifiedCache {
        &self.inner.verified_packages
    }

    /// [`verify_package_with`](Host::verify_package_with), a refusal that names the plugin
    /// audited as a failed load.
    pub(crate) fn verify_package_audited(
        &self,
        path: &Path,
        options: &LoadOptions,
    ) -> Result<VerifiedPlugin, Error> {
        self.verify_package_with(path, options).map_err(|e| {
            // Refusals that name the plugin are audited; a file that is no package names none.
            match refused_release(&e) {
                Some((name, version)) => self.load_failed(&name, &version, path, e),
                None => e,
            }
        })
    }

    /// Loads a package verified earlier in this process (a copy the install verified): the
    /// policy is asked again, as it may have changed, then the verified bytes load.
    pub(crate) fn load_reverified(
        &self,
        verified: VerifiedPlugin,
        options: &LoadOptions,
    ) -> Result<PluginHandle, Error> {
        self.admit(verified.package())?;
        self.load_verified_with(verified, options)
    }

    /// What this host recorded, checked before any plugin code runs: the plugin's data must
    /// belong to `identity` (`SB0440`), and `version` must not be older than the version
    /// recorded unless `options` allow it (`SB0214`). Returns the version a downgrade replaces.
    fn recorded_checks(
        &self,
        name: &str,
        version: &str,
        identity: &PluginIdentity,
        options: &LoadOptions,
    ) -> Result<Option<String>, Error> {
        self.inner.store.check_identity(name, identity)?;
        let recorded = match self.inner.store.plugin(name) {
            Ok(r) => Some(r.version),
            Err(crate::error::StoreError::UnknownPlugin { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let older = recorded.filter(|r| is_downgrade(r, version));
        if let Some(recorded) = &older {
            if !options.allow_downgrade {
                return Err(LoadError::Downgrade {
                    plugin: name.to_owned(),
                    recorded: recorded.clone(),
                    found: version.to_owned(),
                }
                .into());
            }
        }
        Ok(older)
    }

    /// Loads a package [`verify_package`](Host::verify_package) accepted: the verified bytes,
    /// whatever happened to the file since.
    pub fn load_verified(&self, verified: VerifiedPlugin) -> Result<PluginHandle, Error> {
        self.load_verified_with(verified, &LoadOptions::default())
    }

    /// [`load_verified`](Host::load_verified) with options (e.g. a deliberate downgrade).
    pub fn load_verified_with(
        &self,
        verified: VerifiedPlugin,
        options: &LoadOptions,
    ) -> Result<PluginHandle, Error> {
        let provenance = Provenance {
            trust: verified.package.trust,
            signer: verified.package.signer.clone(),
            identity: PluginIdentity::of_package(
                &verified.source,
                verified.package.signer.as_deref(),
            ),
        };
        let manifest = verified.package.manifest.clone();
        self.open_checked(
            &verified.source,
            verified.checked,
            provenance,
            Some(&manifest),
            options,
        )
    }

    /// Verifies and loads the package at `path` (see [`verify_package`](Host::verify_package)).
    pub fn load_package(&self, path: impl AsRef<Path>) -> Result<PluginHandle, Error> {
        self.load_package_with(path, &LoadOptions::default())
    }

    /// [`load_package`](Host::load_package) with options: `LoadOptions::allow_downgrade` lets
    /// a rollback load an older release than the one recorded.
    pub fn load_package_with(
        &self,
        path: impl AsRef<Path>,
        options: &LoadOptions,
    ) -> Result<PluginHandle, Error> {
        let verified = self.verify_package_audited(path.as_ref(), options)?;
        self.load_verified_with(verified, options)
    }

    /// What a load does not apply: the declared manifest's inert settings and the policy's.
    /// The settings this load does not apply: a manifest's limits and sandbox only when the
    /// plugin runs in-process (isolated, they are its limits).
    fn load_warnings(
        &self,
        declared: Option<&Manifest>,
        decision: &crate::isolation::IsolationDecision,
    ) -> Vec<Diagnostic> {
        let mut warnings = declared
            .map(|m| crate::not_applied_for(m, decision))
            .unwrap_or_default();
        warnings.extend(self.inner.policy.not_applied());
        warnings
    }

    fn open_checked(
        &self,
        path: &Path,
        checked: loader::Checked,
        provenance: Provenance,
        declared: Option<&Manifest>,
        options: &LoadOptions,
    ) -> Result<PluginHandle, Error> {
        let name = checked.manifest().name.clone();
        let key = name_key(&name);
        if self
            .read_plugins()
            .get(&key)
            .is_some_and(|i| i.state() != State::Removed)
        {
            return Err(LoadError::DuplicateName { name }.into());
        }
        let opened = self.open_code(path, checked, provenance, declared, options)?;
        self.register(opened)
    }

    /// Every step of a load up to a running plugin object (or runner): recorded checks,
    /// grants, the data's identity, state services, then the library is opened and its
    /// `create` runs. Registers nothing; a load registers the result, a reload swaps it in.
    fn open_code(
        &self,
        path: &Path,
        checked: loader::Checked,
        provenance: Provenance,
        declared: Option<&Manifest>,
        options: &LoadOptions,
    ) -> Result<Opened, Error> {
        let name = checked.manifest().name.clone();
        let decision = crate::isolation::decide::decide(
            &self.inner.policy,
            &name,
            declared,
            provenance.trust,
            options.mode,
        );
        let warnings = self.load_warnings(declared, &decision);
        let version = checked.manifest().version.clone();
        // What its kind promises, in the library, before any of its code runs (issue 19).
        let kind = declared.map_or(crate::kinds::DEFAULT_KIND, |m| m.kind.as_str());
        if let Err(e) = crate::kinds::check_kind(kind, checked.manifest()) {
            return Err(self.load_failed(&name, &version, path, e.into()));
        }
        let downgrade_from = self
            .recorded_checks(&name, &version, &provenance.identity, options)
            .map_err(|e| self.load_failed(&name, &version, path, e))?;
        let trust = provenance.trust;
        let token = self.grant_capabilities(checked.manifest(), path, trust)?;
        // Admitted: from here the plugin's data is this identity's (if nobody's before).
        let claimed = match self.inner.store.claim_identity(&name, &provenance.identity) {
            Ok(claimed) => claimed,
            Err(e) => {
                self.inner.table.release(token);
                return Err(self.load_failed(&name, &version, path, e));
            }
        };
        // Every failure from here gives the token back and undoes a claim this load made, so
        // a library that never loaded keeps neither grants nor the name's data.
        let undoing = Undo {
            token,
            claim: claimed.then(|| (name.clone(), provenance.identity.clone())),
        };
        let undo = |e: Error| -> Error {
            undoing.run(self);
            e
        };
        let gate = Gate {
            plugin: name.clone(),
            table: self.inner.table.clone(),
            token,
            audit: self.inner.audit.clone(),
        };
        // Its contributions go to declared points, with the points' contracts, as granted.
        if let Err(e) =
            crate::extend::check_manifest(&self.inner.points, checked.manifest(), Some(&gate))
        {
            return Err(undo(self.load_failed(&name, &version, path, e.into())));
        }
        let state = match self.plugin_state(&name, &checked.manifest().version, declared) {
            Ok(s) => Arc::new(s),
            Err(e) => return Err(undo(e.into())),
        };
        let services = Arc::new(PluginServices {
            name: name.clone(),
            log: self.inner.log.clone(),
            gate: gate.clone(),
            env: self.inner.env.clone(),
            bus: self.inner.bus.clone(),
            publisher: name.as_str().into(),
            state: state.clone(),
            dirs: GrantDirs::default(),
            metrics: self.inner.metrics.plugin(&name),
            usage_units: self
                .inner
                .usage_units
                .lock()
                .entry(name_key(&name))
                .or_default()
                .clone(),
        });
        // No host lock is held while plugin code (initialisers, `create`) runs.
        let opened = match decision.mode {
            crate::isolation::Mode::Isolated => {
                self.start_isolated(path, &checked, token, services, &decision)
            }
            _ => {
                loader::open(path, &checked, &self.inner.data_dir, services).map(Backend::InProcess)
            }
        };
        let backend = match opened {
            Ok(backend) => backend,
            Err(e) => {
                let version = &checked.section.manifest.version;
                return Err(undo(self.load_failed(&name, version, path, e.into())));
            }
        };
        let caps = InstanceCaps {
            gate,
            store: self.inner.store.clone(),
            bus: self.inner.bus.clone(),
            stop_deadline: self.inner.stop_deadline,
            max_reloads: self.inner.max_reloads,
            extend: self.inner.points.clone(),
        };
        let code = Code::new(
            checked.section.manifest,
            path.to_owned(),
            backend,
            provenance,
            caps,
            warnings,
            decision,
        );
        Ok(Opened {
            code,
            state,
            downgrade_from,
            undo: undoing,
        })
    }

    /// Registers a plugin `open_code` opened: its record, the audit row, the instance, and
    /// its data migrations if its version changed.
    fn register(&self, opened: Opened) -> Result<PluginHandle, Error> {
        let Opened {
            code,
            state,
            downgrade_from,
            undo: undoing,
        } = opened;
        let name = code.manifest().name.clone();
        let key = name_key(&name);
        let path = code.source().to_owned();
        let path = path.as_path();
        let token = code.caps().gate.token;
        let trust = code.provenance().trust;
        let undo = |e: Error| -> Error {
            undoing.run(self);
            e
        };
        let mut plugins = self.inner.plugins.write();
        if plugins
            .get(&key)
            .is_some_and(|i| i.state() != State::Removed)
        {
            // Another thread loaded the same name meanwhile; this copy is discarded.
            // The winner claimed the name's data under the same identity (another would have
            // been refused), so only the token goes back.
            self.inner.table.release(token);
            return Err(LoadError::DuplicateName { name }.into());
        }
        let manifest = code.manifest().clone();
        // The version this host last knew, before this load overwrites it: an update if it
        // differs, and the plugin's data migrations run from there.
        // A deliberate downgrade runs no migration: they lead forward only.
        let previous = self
            .inner
            .store
            .plugin(&name)
            .ok()
            .map(|r| r.version)
            .filter(|v| *v != manifest.version && downgrade_from.is_none());
        if let Err(e) = self.inner.store.put_plugin(&PluginRecord::new(
            name.clone(),
            manifest.version.clone(),
            trust,
            code.provenance().signer.clone(),
            path.display().to_string(),
            State::Loaded.as_str().to_owned(),
            manifest.capabilities.clone(),
            self.grant_records(token),
            self.denied_records(token),
        )) {
            drop(plugins);
            return Err(undo(e.into()));
        }
        let isolation = code.isolation();
        let isolation = isolation.decision.record(&isolation.layers);
        if let Err(e) = self.inner.store.set_plugin_isolation(&name, &isolation) {
            drop(plugins);
            return Err(undo(e.into()));
        }
        let warnings = code.warnings();
        let mut detail = json!({
            "outcome": "loaded",
            "isolation": isolation,
            "source": path.display().to_string(),
            "trust": trust.as_str(),
            "identity": code.provenance().identity.to_string(),
            "downgrade_from": downgrade_from,
            "sdk_abi": manifest.sdk_abi,
            "token": token.to_string(),
        });
        if !warnings.is_empty() {
            detail["warnings"] = json!(warnings
                .iter()
                .map(|w| json!({ "code": w.code, "field": w.field, "message": w.message }))
                .collect::<Vec<_>>());
        }
        if let Err(e) = self.inner.audit.append(&AuditEvent::new(
            AuditKind::Load,
            &name,
            &manifest.version,
            detail,
        )) {
            drop(plugins);
            return Err(undo(e.into()));
        }
        // Not through the `on_log` sink: that carries what plugins say, and a plugin could
        // print the same words; these are the host's own.
        for w in warnings {
            tracing::warn!(target: "switchboard::load", "`{name}`: {w}");
        }
        let instance = Instance::new(
            code,
            HostLink(Arc::downgrade(&self.inner)),
            self.inner.metrics.plugin(&name),
        );
        plugins.insert(key.clone(), instance.clone());
        drop(plugins);
        self.inner.states.write().insert(key, state.clone());
        if let Some(from) = previous {
            if !manifest.migrations.is_empty() {
                let code = instance.code_owned();
                if let Err(e) = self.run_plugin_migrations(&name, &code, &from, &state) {
                    // The update is aborted: the plugin's data is back as it was (the error
                    // names the backup) and the new version is not left loaded.
                    let _ = self.remove(&name);
                    // The record goes back to the version whose data is kept, so the next
                    // attempt migrates from there again.
                    if let Ok(mut record) = self.inner.store.plugin(&name) {
                        record.version = from;
                        if let Err(err) = self.inner.store.put_plugin(&record) {
                            tracing::error!(target: "switchboard::state", "cannot restore the record of `{name}`: {err}");
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(PluginHandle { instance })
    }

    /// Verifies and opens `path` — a `.sbpkg` package, or a development library with the
    /// development opt-in — as the next version of the loaded plugin `plugin`: every check a
    /// load makes, the same `options`, nothing registered (see `crate::reload`).
    pub(crate) fn open_for_reload(
        &self,
        plugin: &str,
        path: &Path,
        options: &LoadOptions,
    ) -> Result<Opened, Error> {
        let is_package = path
            .extension()
            .is_some_and(|e| e == crate::package::EXTENSION);
        let mismatch = |found: &str| -> Result<(), Error> {
            if name_key(found) == name_key(plugin) {
                Ok(())
            } else {
                Err(crate::reload::ReloadError::NameMismatch {
                    plugin: plugin.to_owned(),
                    source_path: path.display().to_string(),
                    found: found.to_owned(),
                }
                .into())
            }
        };
        if is_package {
            let verified = self.verify_package_audited(path, options)?;
            mismatch(&verified.package.manifest.name)?;
            let provenance = Provenance {
                trust: verified.package.trust,
                signer: verified.package.signer.clone(),
                identity: PluginIdentity::of_package(
                    &verified.source,
                    verified.package.signer.as_deref(),
                ),
            };
            let manifest = verified.package.manifest.clone();
            self.open_code(
                &verified.source,
                verified.checked,
                provenance,
                Some(&manifest),
                options,
            )
        } else {
            let checked = self.check_unsigned(path)?;
            mismatch(&checked.manifest().name)?;
            let declared =
                match checked.embedded_plugin_toml(self.inner.limits.max_manifest_bytes)? {
                    Some(m) => Some(self.check_declared(&m, &checked)?),
                    None => None,
                };
            self.open_code(
                path,
                checked,
                Provenance::unsigned(path),
                declared.as_ref(),
                options,
            )
        }
    }

    /// Runs the data migrations `code` declares from version `from`, for a reload.
    pub(crate) fn migrate_code(
        &self,
        plugin: &str,
        from: &str,
        code: &Arc<Code>,
        state: &PluginState,
    ) -> Result<MigrationReport, Error> {
        self.run_plugin_migrations(plugin, code, from, state)
    }

    /// Records what a reload put in place: the plugin's record (version, source, grants,
    /// isolation) and its state services. A failure to record is logged: the new code
    /// already serves.
    pub(crate) fn commit_reload(&self, plugin: &str, code: &Code, state: Arc<PluginState>) {
        let token = code.caps().gate.token;
        let manifest = code.manifest();
        let isolation = code.isolation();
        let isolation = isolation.decision.record(&isolation.layers);
        let recorded = self
            .inner
            .store
            .put_plugin(&PluginRecord::new(
                plugin.to_owned(),
                manifest.version.clone(),
                code.provenance().trust,
                code.provenance().signer.clone(),
                code.source().display().to_string(),
                State::Reloading.as_str().to_owned(),
                manifest.capabilities.clone(),
                self.grant_records(token),
                self.denied_records(token),
            ))
            .and_then(|()| self.inner.store.set_plugin_isolation(plugin, &isolation));
        if let Err(e) = recorded {
            tracing::error!(target: "switchboard::store", "cannot record the reload of `{plugin}`: {e}");
        }
        self.inner.states.write().insert(name_key(plugin), state);
    }

    /// Starts `checked` in a runner process: the verified bytes go to it as a sealed memfd,
    /// confined by the sandbox its grants and `decision` give (ARCHITECTURE D13).
    fn start_isolated(
        &self,
        path: &Path,
        checked: &loader::Checked,
        token: Token,
        services: Arc<PluginServices>,
        decision: &crate::isolation::IsolationDecision,
    ) -> Result<Backend, LoadError> {
        let plugin = checked.manifest().name.clone();
        let refuse = |code: u16, message: String, next_step: String| LoadError::Isolation {
            plugin: plugin.clone(),
            code: switchboard_sdk::ErrorCode::from_number(code),
            message,
            next_step,
        };
        let Some(command) = self
            .inner
            .runner
            .clone()
            .or_else(crate::isolation::RunnerCommand::locate)
        else {
            return Err(refuse(
                1500,
                "no runner process is configured or found for isolated plugins".into(),
                "call `switchboard_host::isolation::hook()` first in `main`, or set \
                 `HostBuilder::runner` (or `SWITCHBOARD_RUNNER`) to a `switchboard-runner` binary"
                    .into(),
            ));
        };
        #[cfg(target_os = "linux")]
        {
            let image = loader::sealed_image(path, checked, &self.inner.data_dir)?;
            let spec = crate::isolation::sandbox_spec(&self.inner.table.grants(token), decision);
            let max_frame = self
                .inner
                .bus
                .limits()
                .max_call_bytes
                .saturating_add(crate::isolation::FRAME_HEADROOM);
            let launch = crate::isolation::Launch::new(
                command,
                &plugin,
                loader::section_bytes(checked).to_vec(),
                image,
                spec,
                max_frame,
            );
            crate::isolation::Isolated::start(launch, services, decision.clone())
                .map(Backend::Isolated)
                .map_err(|e| {
                    refuse(
                        e.code,
                        e.message,
                        e.next_step
                            .unwrap_or_else(|| "see the runner's message".to_owned()),
                    )
                })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (path, token, services, decision, command);
            Err(refuse(
                1507,
                "isolated mode needs Linux (memfd, Landlock, seccomp)".into(),
                "run the plugin in-process only if you trust it, or on a Linux host".into(),
            ))
        }
    }

    /// Runs the data migrations the plugin's new version declares (`#[migration]`), from the
    /// version the host last knew, before the plugin starts. See [`Store::migrate_plugin`]:
    /// an online backup first, each step applied in one transaction, the plugin's data
    /// restored from the backup if a step fails (`SB0730`).
    fn run_plugin_migrations(
        &self,
        plugin: &str,
        code: &Arc<Code>,
        from: &str,
        state: &PluginState,
    ) -> Result<MigrationReport, Error> {
        use switchboard_sdk::migration::{decode_response, encode_request, MigrationRequest};
        let manifest = code.manifest();
        let migrations: Vec<DataMigration> = manifest
            .migrations
            .iter()
            .enumerate()
            .map(|(i, decl)| {
                let code = code.clone();
                let index = u32::try_from(i).unwrap_or(u32::MAX);
                let (from, to) = (decl.from.clone(), decl.to.clone());
                DataMigration::new(&decl.from, &decl.to, move |snapshot: &Snapshot| {
                    let request = encode_request(&MigrationRequest {
                        from: from.clone(),
                        to: to.clone(),
                        config: snapshot.config.to_string(),
                        kv: snapshot
                            .kv
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    });
                    let reply = code
                        .run_migration(index, &request)
                        .map_err(|e| format!("{}: {}", e.code(), e.message()))?;
                    let reply = decode_response(&reply).map_err(|e| e.message().to_owned())?;
                    let config = reply
                        .config
                        .map(|c| serde_json::from_str(&c))
                        .transpose()
                        .map_err(|e| {
                            format!("the migration returned a configuration that is not JSON: {e}")
                        })?;
                    Ok(MigrationOutput {
                        config,
                        writes: reply.writes,
                    })
                })
            })
            .collect();
        let report = self.migrate_plugin_data(plugin, from, &manifest.version, &migrations)?;
        // A migration may have changed the stored configuration: resolve it again (the spec
        // was recorded when the plugin's state was set up).
        let config = self.config(plugin)?;
        *state.config_json.write() = config.value().to_string();
        Ok(report)
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
            return refused(refusal_error(name, trust, r));
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
                "error": error.message(),
            }),
        );
        if let Err(e) = self.inner.audit.append(&event) {
            tracing::error!(target: "switchboard::audit", "cannot record a refused load of `{name}`: {e}");
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

    /// The state service of a plugin about to load: its quota (policy and manifest), its
    /// configuration spec (recorded from the manifest, or as last recorded) and its effective
    /// configuration.
    fn plugin_state(
        &self,
        name: &str,
        version: &str,
        declared: Option<&Manifest>,
    ) -> Result<PluginState, StateError> {
        let store = &self.inner.store;
        let (bytes, keys) =
            declared.map_or((None, None), |m| (m.limits.kv_bytes, m.limits.kv_keys));
        let quota = self.inner.policy.quotas().effective(bytes, keys);
        let spec = match declared {
            Some(m) => {
                let spec = m.config.clone().unwrap_or_default();
                store.record_config_spec(name, version, &spec)?;
                spec
            }
            None => store.config_spec(name)?.unwrap_or_default(),
        };
        let config = self.resolve_config(name, &spec)?;
        Ok(PluginState {
            kv: store.kv_with_quota(name, quota),
            secrets: store.secrets(name, &self.inner.master_key),
            config_json: parking_lot::RwLock::new(config.value().to_string()),
        })
    }

    fn resolve_config(&self, name: &str, spec: &ConfigSpec) -> Result<EffectiveConfig, StateError> {
        let stored = self.inner.store.stored_config(name)?;
        resolve_config(
            name,
            spec,
            stored.as_ref(),
            &ConfigInputs {
                data_dir: &self.inner.data_dir,
                environment: self.inner.environment.as_deref(),
                vars: &self.inner.config_vars,
            },
        )
    }

    /// The KV store of `plugin`, with its quota if it is loaded (the policy's default quota
    /// otherwise). Host code uses it to seed, inspect or repair a plugin's data.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let host = switchboard_host::Host::builder().data_dir(dir.path()).build().unwrap();
    /// host.kv("counter").put("c/visits", b"41").unwrap();
    /// assert_eq!(host.kv("counter").get("c/visits").unwrap().as_deref(), Some(&b"41"[..]));
    /// ```
    pub fn kv(&self, plugin: &str) -> Kv {
        let key = switchboard_sdk::manifest::name_key(plugin);
        if let Some(s) = self.inner.states.read().get(&key) {
            return s.kv.clone();
        }
        let quota = self.inner.policy.quotas().default;
        self.inner.store.kv_with_quota(plugin, quota)
    }

    /// The secrets of `plugin`, under this host's master key.
    pub fn secrets(&self, plugin: &str) -> Secrets {
        self.inner.store.secrets(plugin, &self.inner.master_key)
    }

    /// The identity that owns `plugin`'s data — KV, secrets, stored configuration and
    /// persistent grants — if one is recorded: the first identity admitted under its name
    /// (names compare by key, so `Victim_B` is `victim-b`). See [`PluginIdentity`].
    pub fn plugin_identity(&self, plugin: &str) -> Result<Option<PluginIdentity>, Error> {
        self.inner.store.plugin_identity(plugin)
    }

    /// Hands `plugin`'s data to identity `to` — the operator's explicit action after a load
    /// was refused with `SB0440` (e.g. the publisher rotated its signing key, or a development
    /// library moved). Refused while the plugin is loaded (`SB0442`); audited. CLI:
    /// `switchboard state transfer PLUGIN --to IDENTITY`.
    pub fn transfer_state(
        &self,
        plugin: &str,
        to: &PluginIdentity,
    ) -> Result<PluginIdentity, Error> {
        self.refuse_if_loaded(plugin)?;
        self.inner.store.transfer_state(plugin, to)
    }

    /// Deletes `plugin`'s data (KV, secrets, stored configuration, persistent grants) and its
    /// recorded owner, so the next load starts afresh. Refused while the plugin is loaded
    /// (`SB0442`); audited. CLI: `switchboard state wipe PLUGIN`.
    pub fn wipe_state(&self, plugin: &str) -> Result<crate::identity::WipeReport, Error> {
        self.refuse_if_loaded(plugin)?;
        self.inner.store.wipe_state(plugin)
    }

    fn refuse_if_loaded(&self, plugin: &str) -> Result<(), Error> {
        if self
            .read_plugins()
            .get(&name_key(plugin))
            .is_some_and(|i| i.state() != State::Removed)
        {
            return Err(crate::identity::IdentityError::Loaded {
                plugin: plugin.to_owned(),
            }
            .into());
        }
        Ok(())
    }

    /// The effective configuration of `plugin` now (defaults recorded when it last loaded,
    /// stored, file, profile, variables), with where each value came from.
    pub fn config(&self, plugin: &str) -> Result<EffectiveConfig, Error> {
        let spec = self.inner.store.config_spec(plugin)?.unwrap_or_default();
        Ok(self.resolve_config(plugin, &spec)?)
    }

    /// Runs the data migrations of `plugin` from version `from` to `to` (see
    /// [`Store::migrate_plugin`]) under its quota. A host updating a plugin calls this before
    /// loading the new version and aborts the update if it fails (`SB0730`; the plugin's
    /// data is restored from the backup the error names).
    pub fn migrate_plugin_data(
        &self,
        plugin: &str,
        from: &str,
        to: &str,
        migrations: &[DataMigration],
    ) -> Result<MigrationReport, Error> {
        let quota = self.kv(plugin).quota();
        Ok(self
            .inner
            .store
            .migrate_plugin(plugin, from, to, migrations, quota)?)
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.inner.audit
    }

    /// Signs a checkpoint of the audit log's head now and writes it to
    /// `<data dir>/audit.checkpoint` (ARCHITECTURE D15); `None` while the log is empty. Refused
    /// (`SB0610`) if the log no longer extends the previous checkpoint, which is then kept as
    /// evidence, and (`SB0623`) once that has happened.
    pub fn audit_checkpoint(&self) -> Result<Option<Checkpoint>, Error> {
        match self.inner.store.checkpointer() {
            Some(c) => Ok(c.write_now(&self.inner.audit)?),
            None => Ok(None),
        }
    }

    /// Runs preflight on `path` against this host's API, policy and trusted keys: every check
    /// that needs no plugin code (see [`preflight`](crate::preflight)).
    pub fn preflight(&self, path: impl AsRef<Path>) -> crate::PreflightReport {
        self.preflight_with(path, &crate::PreflightOptions::new())
    }

    /// [`preflight`](Host::preflight) with more inputs (a library, an index, a lockfile); the
    /// host API, policy and trust store are this host's unless `options` names others.
    pub fn preflight_with(
        &self,
        path: impl AsRef<Path>,
        options: &crate::PreflightOptions<'_>,
    ) -> crate::PreflightReport {
        let profile = crate::HostProfile::new(&self.inner.host_api.0, &self.inner.host_api.1);
        let mut options = *options;
        if options.host_profile().is_none() {
            options.host(&profile);
        }
        if options.policy_ref().is_none() {
            options.policy(&self.inner.policy);
        }
        if options.trust_ref().is_none() {
            options.trust(&self.inner.trust);
        }
        crate::preflight_with(path.as_ref(), &options)
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

    /// Swaps the code of the loaded plugin `name` for the library or package at `source`
    /// while it serves: [`PluginHandle::reload`] on its handle.
    pub fn reload(
        &self,
        name: &str,
        source: impl AsRef<Path>,
    ) -> Result<crate::ReloadReport, Error> {
        self.reload_with(name, source, &LoadOptions::default())
    }

    /// [`reload`](Host::reload) with load options: [`PluginHandle::reload_with`].
    pub fn reload_with(
        &self,
        name: &str,
        source: impl AsRef<Path>,
        options: &LoadOptions,
    ) -> Result<crate::ReloadReport, Error> {
        self.plugin(name)?.reload_with(source, options)
    }

    /// Declares the extension point `name` (SPEC S5.4), a place plugins contribute to with
    /// `#[hook(name, kind)]` methods, and returns a typed handle to invoke it with. Contracts
    /// are `In`'s and `Out`'s; the [`PointKind`](crate::extend::PointKind) says how
    /// contributions run. Failing contributions propagate their error; see
    /// [`extension_point_with`](Self::extension_point_with) for other policies and a timeout.
    ///
    /// Declare points before loading the plugins that contribute to them: a load refuses a
    /// contribution to a point not declared (`SB1701`) before any plugin code runs. Declaring
    /// the same point again with the same kind, contracts and options returns a handle on it;
    /// otherwise it is `SB1709`.
    ///
    /// ```no_run
    /// use switchboard_host::extend::PointKind;
    /// # fn demo(host: &switchboard_host::Host) -> Result<(), switchboard_host::Error> {
    /// let build = host.extension_point::<String, String>("workflow.phase.build", PointKind::Operation)?;
    /// let plugin = host.load_unsigned("target/debug/libstamp.so")?;
    /// plugin.start()?; // its hooks join the point
    /// let out = build.run("src/".to_string(), |dir| format!("built {dir}"))?;
    /// # Ok(()) }
    /// ```
    pub fn extension_point<In: Message, Out: Message>(
        &self,
        name: &str,
        kind: crate::extend::PointKind,
    ) -> Result<crate::extend::ExtensionPoint<In, Out>, crate::extend::ExtendError> {
        self.extension_point_with(name, kind, &crate::extend::PointOptions::new())
    }

    /// [`extension_point`](Self::extension_point) with options: the
    /// [`ErrorPolicy`](crate::extend::ErrorPolicy) for failing contributions and a
    /// per-contribution timeout (see [`PointOptions::timeout`](crate::extend::PointOptions::timeout)
    /// for what it can and cannot do in-process).
    pub fn extension_point_with<In: Message, Out: Message>(
        &self,
        name: &str,
        kind: crate::extend::PointKind,
        options: &crate::extend::PointOptions,
    ) -> Result<crate::extend::ExtensionPoint<In, Out>, crate::extend::ExtendError> {
        let core =
            self.inner
                .points
                .declare(name, kind, In::CONTRACT.id, Out::CONTRACT.id, options)?;
        Ok(crate::extend::ExtensionPoint {
            core,
            _types: std::marker::PhantomData,
        })
    }

    /// The names of the extension points this host declares.
    pub fn extension_points(&self) -> Vec<String> {
        self.inner.points.names()
    }

    /// The checks a load makes of `manifest`'s hooks against this host's points, but the
    /// grants: for preflight.
    pub(crate) fn check_hooks(
        &self,
        manifest: &EmbeddedManifest,
    ) -> Result<(), crate::extend::ExtendError> {
        crate::extend::check_manifest(&self.inner.points, manifest, None)
    }

    /// Stops `name` if it is active and removes it. Its library stays mapped (ARCHITECTURE D2);
    /// handles still held see it as removed, and its token is stale from then on, so a thread
    /// of the plugin that kept its `Context` is refused every host service (`SB0416`).
    ///
    /// A `stop` hook that does not return within the stop deadline
    /// ([`HostBuilder::stop_deadline`]) is abandoned: the plugin is removed all the same, and
    /// the call returns that `SB0321` error, because the hook's thread may still be running.
    pub fn remove(&self, name: &str) -> Result<(), Error> {
        let handle = self.plugin(name)?;
        let mut abandoned = None;
        if handle.state() == State::Active {
            // A failing stop hook leaves the instance failed, which may still be removed.
            if let Err(e @ crate::error::LifecycleError::StopTimedOut { .. }) = handle.stop() {
                abandoned = Some(e);
            }
        }
        handle.instance.transition(State::Removed, None)?;
        // A failed or stopped plugin may still have streams open: they end now.
        handle.instance.end_streams();
        self.inner.bus.inner().remove_owner(handle.instance.name());
        self.inner.plugins.write().remove(&name_key(name));
        match abandoned {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// An [`Installer`](crate::install::Installer) for this host: install, update, remove,
    /// enable, disable and roll back plugins as generations (ARCHITECTURE D10). Add sources
    /// with [`Installer::source`](crate::install::Installer::source).
    ///
    /// ```no_run
    /// # fn demo(host: &switchboard_host::Host) -> Result<(), Box<dyn std::error::Error>> {
    /// use switchboard_host::install::InstallOptions;
    /// let installer = host.installer();
    /// installer.install(&["./hello-0.1.0.sbpkg".parse()?], &InstallOptions::new())?;
    /// for p in installer.list()? {
    ///     println!("{} {} {}", p.name, p.version, p.state);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn installer(&self) -> crate::install::Installer {
        crate::install::Installer::new(self)
    }

    /// Loads and starts the current generation's enabled plugins, dependencies first; a
    /// plugin whose dependency did not start is not started and the report says why (see
    /// [`Installer::start`](crate::install::Installer::start)).
    ///
    /// ```no_run
    /// # fn demo(host: &switchboard_host::Host) -> Result<(), switchboard_host::Error> {
    /// let report = host.start_installed()?;
    /// for (plugin, why) in &report.skipped {
    ///     eprintln!("{plugin} not started: {why}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn start_installed(&self) -> Result<crate::install::StartReport, Error> {
        self.installer().start()
    }

    /// The install operations a crash interrupted that this host rolled back when it opened
    /// its data directory (each also audited and published as `system.plugin.rolled_back`).
    pub fn recovered_operations(&self) -> Vec<crate::install::Recovery> {
        self.inner.recovered.lock().clone()
    }

    /// The plugin directories given to [`HostBuilder::plugin_dir`], in order.
    pub fn plugin_dirs(&self) -> &[PathBuf] {
        &self.inner.plugin_dirs
    }

    /// Loads and starts what is valid in the plugin directories ([`HostBuilder::plugin_dir`])
    /// and reports the rest: [`discover_with`](Host::discover_with) with the defaults.
    ///
    /// ```no_run
    /// # fn demo() -> Result<(), switchboard_host::Error> {
    /// use switchboard_host::Host;
    /// let mut builder = Host::builder();
    /// builder.data_dir("/var/lib/my-app").plugin_dir("/var/lib/my-app/plugins");
    /// let host = builder.build()?;
    /// let report = host.discover();
    /// for skip in &report.skipped {
    ///     eprintln!("[{}] {}: {}", skip.code, skip.path.display(), skip.reason);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn discover(&self) -> crate::DiscoverReport {
        self.discover_with(&crate::DiscoverOptions::default())
    }

    /// Scans the plugin directories, every file in path order: packages load through
    /// [`load_package`](Host::load_package), development libraries through
    /// [`load_unsigned`](Host::load_unsigned) (where the host allows them), each started
    /// unless `options` say not. Nothing is lowered: every check and the policy apply. A
    /// file that does not load is skipped with a code (`SB0380`–`SB0387`, and the refusing
    /// check's code as its cause), logged and audited; a scan never fails as a whole. Files
    /// loaded by an earlier scan are left alone. Hidden and temporary files are ignored.
    pub fn discover_with(&self, options: &crate::DiscoverOptions) -> crate::DiscoverReport {
        crate::discovery::discover(self, &self.inner.plugin_dirs, options)
    }

    /// Watches the plugin directories until the returned guard (or the host) is dropped: a
    /// new file is loaded and started as [`discover`](Host::discover) would, a file
    /// discovery loaded that changes is hot-reloaded from ([`Host::reload`]), one that goes
    /// is stopped and removed. Events for a file are debounced: the watcher acts once the
    /// file has been quiet for [`DEFAULT_SETTLE`](crate::DEFAULT_SETTLE). Each action and
    /// skip is logged (target `switchboard::discovery`) and audited with its code; a failed
    /// action leaves what served serving. Call [`discover`](Host::discover) first for the
    /// files already there.
    pub fn watch(&self) -> Result<crate::PluginWatcher, crate::DiscoveryError> {
        self.watch_with(crate::DEFAULT_SETTLE)
    }

    /// [`watch`](Host::watch) with another settle time.
    pub fn watch_with(
        &self,
        settle: std::time::Duration,
    ) -> Result<crate::PluginWatcher, crate::DiscoveryError> {
        crate::discovery::start_watch(self, &self.inner.plugin_dirs, settle)
    }

    /// Whether development libraries may load ([`DangerousHostBuilder::load_unsigned_libraries`]).
    /// Checks the health of every loaded plugin now — one round, as the periodic thread runs
    /// every [`HostBuilder::health_interval`] — and returns what it found. Each plugin's
    /// status is kept ([`PluginHandle::health_status`]); each change is published on
    /// [`HEALTH_TOPIC`](crate::HEALTH_TOPIC) and audited (kind `health`), once. Active
    /// plugins' `health` hooks are asked at once and waited for at most
    /// [`HealthRules::hook_deadline`](crate::HealthRules::hook_deadline) together. The rules
    /// are tabled on [`HealthRules`](crate::HealthRules).
    ///
    /// # Example
    ///
    /// ```no_run
    /// use switchboard_host::{Host, HealthState};
    ///
    /// # fn main() -> Result<(), switchboard_host::Error> {
    /// let mut builder = Host::builder();
    /// builder.data_dir("/tmp/my-app").host_api("switchboard-demo", "0.1.0");
    /// builder.dangerous().load_unsigned_libraries();
    /// let host = builder.build()?;
    /// host.load_unsigned("target/debug/libhello.so")?.start()?;
    ///
    /// let report = host.check_health();
    /// for plugin in &report.plugins {
    ///     println!("{}: {}", plugin.plugin, plugin.status.state);
    ///     for reason in &plugin.status.reasons {
    ///         println!("  {reason}");
    ///     }
    /// }
    /// assert_eq!(report.worst(), HealthState::Healthy);
    /// # Ok(()) }
    /// ```
    pub fn check_health(&self) -> crate::HealthReport {
        self.check_health_at(crate::Timestamp::now())
    }

    /// [`check_health`](Self::check_health) with an explicit "now" for the incident window.
    pub(crate) fn check_health_at(&self, now: crate::Timestamp) -> crate::HealthReport {
        let plugins: Vec<Instance> = self.read_plugins().values().cloned().collect();
        crate::health::monitor::check(self, &self.inner.health, &plugins, now)
    }

    /// The health rules in force ([`HostBuilder::health_rules`]).
    pub fn health_rules(&self) -> &crate::HealthRules {
        self.inner.health.rules()
    }

    /// How often health is checked periodically; `None` when only on demand
    /// ([`HostBuilder::health_interval`]).
    pub fn health_interval(&self) -> Option<std::time::Duration> {
        self.inner.health.interval()
    }

    #[cfg(test)]
    pub(crate) fn health_monitor(&self) -> &crate::health::Monitor {
        &self.inner.health
    }

    pub(crate) fn allows_unsigned_libraries(&self) -> bool {
        self.inner.dangerous.unsigned_libraries
    }

    /// The files discovery loaded, by path.
    pub(crate) fn discovered(&self) -> &parking_lot::Mutex<BTreeMap<PathBuf, String>> {
        &self.inner.discovered
    }

    /// A link to this host that does not keep it alive.
    pub(crate) fn link(&self) -> HostLink {
        HostLink(Arc::downgrade(&self.inner))
    }

    /// The size limits packages are read with.
    pub(crate) fn unpack_limits(&self) -> UnpackLimits {
        self.inner.limits
    }

    fn read_plugins(&self) -> parking_lot::RwLockReadGuard<'_, BTreeMap<String, Instance>> {
        self.inner.plugins.read()
    }
}

/// The plugin and version a refused package load names, so the refusal is audited: a
/// downgrade, or a copy whose data belongs to another identity.
fn refused_release(e: &Error) -> Option<(String, String)> {
    match e {
        Error::Load(LoadError::Downgrade { plugin, found, .. }) => {
            Some((plugin.clone(), found.clone()))
        }
        Error::Identity(crate::identity::IdentityError::Mismatch { plugin, .. }) => {
            Some((plugin.clone(), String::new()))
        }
        _ => None,
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
        // First, so no round runs while plugins stop.
        self.health.stop();
        let plugins = self.plugins.get_mut();
        for instance in plugins.values() {
            if instance.state() == State::Active {
                // Bounded by the stop deadline: a hung hook is abandoned, never waited on.
                if let Err(e) = instance.stop() {
                    tracing::warn!(target: "switchboard::lifecycle", "{e}");
                }
            }
        }
        // The last interval's metrics, after the plugins' last calls and events.
        let last = self.metrics.snapshot(&self.bus.events_by_owner());
        if let Err(e) = self.slo.persist(&self.store, last) {
            tracing::error!(target: "switchboard::metrics", "cannot store the last metrics: {e}");
        }
        // Stops the delivery and service threads, and breaks any cycle a host closure made by
        // keeping a clone of the bus.
        self.bus.close();
        // After the last transitions above were logged: the checkpoint covers them.
        if let Some(checkpointer) = self.store.checkpointer() {
            if let Err(e) = checkpointer.write_now(&self.audit) {
                tracing::error!(target: "switchboard::audit", "no audit checkpoint written: {e}");
            }
        }
    }
}
