//! The [`Host`] and its builder.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use switchboard_sdk::{ErrorCode, Message};

use crate::compat::{check_embedded, check_manifest, current_target, HostProfile};
use crate::error::{CallError, ConfigError, Error, LoadError};
use crate::instance::{Command, Instance, PluginHandle};
use crate::lifecycle::State;
use crate::loader;
use crate::package::{self, TrustLevel, TrustStore, UnpackLimits, VerifiedPackage};
use crate::policy::Policy;
use crate::services::{log_facade, LogRecord, LogSink, PluginServices};

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
    trusted_authors: Vec<String>,
    trusted_registries: Vec<String>,
    policy: Policy,
    limits: UnpackLimits,
}

impl fmt::Debug for HostBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostBuilder")
            .field("data_dir", &self.data_dir)
            .field("host_api", &self.host_api)
            .field("dangerous", &self.dangerous)
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
            trusted_authors: Vec::new(),
            trusted_registries: Vec::new(),
            policy: Policy::default(),
            limits: UnpackLimits::default(),
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

    /// The policy packages must satisfy. Default: [`Policy::default`] (refuses unsigned).
    pub fn policy(&mut self, policy: Policy) -> &mut Self {
        self.policy = policy;
        self
    }

    /// The caps on unpacking packages. Default: [`UnpackLimits::default`].
    pub fn unpack_limits(&mut self, limits: UnpackLimits) -> &mut Self {
        self.limits = limits;
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
        Ok(Host {
            inner: Arc::new(Inner {
                data_dir,
                trust,
                policy: self.policy.clone(),
                limits: self.limits,
                host_api: self.host_api.clone(),
                log: self.log.clone(),
                dangerous: self.dangerous.clone(),
                plugins: RwLock::new(BTreeMap::new()),
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

/// A package that passed every check that needs no plugin code; load it with
/// [`Host::load_verified`].
#[derive(Debug)]
pub struct VerifiedPlugin {
    source: PathBuf,
    package: VerifiedPackage,
    checked: loader::Checked,
}

impl VerifiedPlugin {
    /// What verification found: manifest, trust level, signer, file checks.
    pub fn package(&self) -> &VerifiedPackage {
        &self.package
    }
}

/// Where a loaded plugin's code came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Provenance {
    pub trust: TrustLevel,
    pub signer: Option<String>,
}

impl Provenance {
    fn unsigned() -> Self {
        Provenance {
            trust: TrustLevel::Unsigned,
            signer: None,
        }
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
    trust: TrustStore,
    policy: Policy,
    limits: UnpackLimits,
    host_api: (String, String),
    log: LogSink,
    dangerous: DangerousOptions,
    plugins: RwLock<BTreeMap<String, Instance>>,
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
    /// a dynamic library, its embedded manifest, the SDK ABI, that the name is free. Then the
    /// checked bytes themselves are opened, never the path again. The plugin is left `loaded`;
    /// call [`PluginHandle::start`].
    pub fn load_unsigned(&self, path: impl AsRef<Path>) -> Result<PluginHandle, Error> {
        let path = path.as_ref();
        if !self.inner.dangerous.unsigned_libraries {
            return Err(LoadError::Unsigned {
                path: path.to_owned(),
            }
            .into());
        }
        let checked = loader::check(path)?;
        self.open_checked(path, checked, Provenance::unsigned())
    }

    /// Verifies the package at `path` — signature (`PATH.minisig`), certification
    /// (`PATH.cert`), file hashes, policy, compatibility and the library's embedded manifest —
    /// without running any of its code. Hand the result to [`load_verified`](Host::load_verified)
    /// to load exactly the bytes that were checked.
    pub fn verify_package(&self, path: impl AsRef<Path>) -> Result<VerifiedPlugin, Error> {
        let path = path.as_ref();
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| package::PackageError::Io {
                what: format!("reading {}", p.display()),
                reason: e.to_string(),
            })
        };
        let bytes = read(path)?;
        let sidecar = |ext: &str| {
            let mut p = path.as_os_str().to_owned();
            p.push(ext);
            let p = PathBuf::from(p);
            if p.exists() {
                read(&p).map(|b| Some(String::from_utf8_lossy(&b).into_owned()))
            } else {
                Ok(None)
            }
        };
        let signature = sidecar(".minisig")?;
        let certification = sidecar(".cert")?;
        let mut verified = package::verify(
            &bytes,
            signature.as_deref(),
            certification.as_deref(),
            &self.inner.trust,
            current_target(),
            &self.inner.limits,
        )?;
        let m = &verified.manifest;
        // A package file named for one release must hold that release: a validly signed older
        // release renamed to a newer one is a downgrade.
        if let Some(stem) = path
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(|f| f.strip_suffix(&format!(".{}", package::EXTENSION)))
        {
            let expected = format!("{}-{}", m.name, m.version);
            if stem != expected {
                return Err(package::PackageError::Replayed {
                    reason: format!("the file is named `{stem}` but holds `{expected}`"),
                }
                .into());
            }
        }
        let decision = self.inner.policy.decide(
            &m.name,
            verified.trust,
            verified.signer.as_deref(),
            &m.capabilities,
        );
        if !decision.allowed {
            if verified.trust == TrustLevel::Unsigned {
                return Err(package::PackageError::Unsigned.into());
            }
            if verified.trust < self.inner.policy.minimum_trust {
                return Err(package::PackageError::TrustTooLow {
                    found: verified.trust,
                    required: self.inner.policy.minimum_trust,
                }
                .into());
            }
            return Err(LoadError::Policy {
                plugin: m.name.clone(),
                rule: decision.rule,
            }
            .into());
        }
        let profile = HostProfile::new(&self.inner.host_api.0, &self.inner.host_api.1);
        let incompatible = |d: &switchboard_sdk::manifest::Diagnostic| LoadError::Incompatible {
            plugin: m.name.clone(),
            code: ErrorCode::from_number(d.code.trim_start_matches("SB").parse().unwrap_or(1100)),
            message: format!("{}: {}", d.field, d.message),
            next_step: d.next_step.clone(),
        };
        if let Some(d) = check_manifest(m, &profile).iter().find(|d| d.is_error()) {
            return Err(incompatible(d).into());
        }
        let library_name = path.join(&verified.library_path);
        let checked = loader::check_bytes(&library_name, std::mem::take(&mut verified.library))?;
        if let Some(d) = check_embedded(m, checked.manifest()).first() {
            return Err(incompatible(d).into());
        }
        Ok(VerifiedPlugin {
            source: path.to_owned(),
            package: verified,
            checked,
        })
    }

    /// Loads a package [`verify_package`](Host::verify_package) accepted: the verified bytes,
    /// whatever happened to the file since.
    pub fn load_verified(&self, verified: VerifiedPlugin) -> Result<PluginHandle, Error> {
        let provenance = Provenance {
            trust: verified.package.trust,
            signer: verified.package.signer.clone(),
        };
        self.open_checked(&verified.source, verified.checked, provenance)
    }

    /// Verifies and loads the package at `path` (see [`verify_package`](Host::verify_package)).
    pub fn load_package(&self, path: impl AsRef<Path>) -> Result<PluginHandle, Error> {
        let verified = self.verify_package(path)?;
        self.load_verified(verified)
    }

    fn open_checked(
        &self,
        path: &Path,
        checked: loader::Checked,
        provenance: Provenance,
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
        let services = Arc::new(PluginServices {
            name: name.clone(),
            log: self.inner.log.clone(),
        });
        // No host lock is held while plugin code (initialisers, `create`) runs.
        let raw = loader::open(path, &checked, &self.inner.data_dir, services)?;
        let instance =
            Instance::in_process(checked.section.manifest, path.to_owned(), raw, provenance);
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
            return Err(LoadError::DuplicateName { name }.into());
        }
        plugins.insert(key, instance.clone());
        Ok(PluginHandle { instance })
    }

    /// Runs preflight on `path` against this host's API: every check that needs no plugin
    /// code (see [`preflight`](crate::preflight)).
    pub fn preflight(&self, path: impl AsRef<Path>) -> crate::PreflightReport {
        let profile = crate::HostProfile::new(&self.inner.host_api.0, &self.inner.host_api.1);
        crate::preflight(path.as_ref(), Some(&profile))
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
