//! The [`Host`] and its builder.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use switchboard_sdk::Message;

use crate::error::{CallError, ConfigError, Error, LoadError};
use crate::instance::{Command, Instance, PluginHandle};
use crate::lifecycle::State;
use crate::loader;
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
        Ok(Host {
            inner: Arc::new(Inner {
                data_dir,
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
        let instance = Instance::in_process(checked.section.manifest, path.to_owned(), raw);
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
