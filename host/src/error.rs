//! The host's errors: one enum per area, an umbrella [`Error`], stable codes and next steps
//! (ARCHITECTURE D12).

use std::path::PathBuf;

use switchboard_sdk::caps::CapabilityError;
use switchboard_sdk::{ErrorCode, PluginError};

use crate::caps::{DenyReason, TrustLevel};
use crate::lifecycle::State;
use crate::resolve::LockChange;

/// Any error the host returns.
///
/// It prints the way a compiler reports an error — the stable code, the message and the next
/// step — both with `{}` and with `{:?}`, so `fn main() -> Result<(), Error>`, `unwrap()` and a
/// log line all show the whole report:
///
/// ```text
/// [SB0202] libgreeter.so has no Switchboard manifest section: it was not built with `#[plugin]`
///   next: build the crate as a `cdylib` with `#[plugin]` on its impl block
/// ```
///
/// [`message`](Error::message) is the message alone (for a report that shows the code and the
/// next step itself, as the CLI does), and `{:#?}` the structure (`Load(NoManifest { … })`).
/// Like a transparent wrapper, its [`source`](std::error::Error::source) is the area error's
/// source, so an error chain does not repeat the message.
#[non_exhaustive]
pub enum Error {
    /// Building the host failed.
    Config(ConfigError),
    /// Loading a plugin failed; no plugin code ran unless the error says so.
    Load(LoadError),
    /// Calling into a plugin failed.
    Call(CallError),
    /// A lifecycle transition was refused or its hook failed.
    Lifecycle(LifecycleError),
    /// A package was refused: damaged, tampered with, or not trusted enough.
    Package(crate::package::PackageError),
    /// Dependency resolution, the installed graph or the lockfile failed.
    Resolve(ResolveError),
    /// A capability was denied, or policy refused a plugin or a grant.
    Caps(CapsError),
    /// The host database failed.
    Store(StoreError),
    /// The event bus or a shared service failed.
    Bus(crate::bus::BusError),
    /// Plugin state: KV, quotas, secrets, configuration or data migrations.
    State(StateError),
    /// A plugin's data belongs to another identity, or an identity could not be changed.
    Identity(crate::identity::IdentityError),
    /// An install, update, removal or rollback failed or was refused.
    Install(crate::install::InstallError),
    /// A package source failed.
    Source(crate::install::SourceError),
    /// A hot reload was refused or failed (the old version serves on). Boxed: it names both
    /// versions and the cause.
    Reload(Box<crate::reload::ReloadError>),
    /// An extension point was declared wrongly, a contribution refused, or an invocation
    /// failed.
    Extend(Box<crate::extend::ExtendError>),
}

/// Runs `$body` with `$e` bound to the area error inside any [`Error`].
macro_rules! each_area {
    ($err:expr, $e:ident => $body:expr) => {
        match $err {
            Error::Config($e) => $body,
            Error::Load($e) => $body,
            Error::Call($e) => $body,
            Error::Lifecycle($e) => $body,
            Error::Package($e) => $body,
            Error::Resolve($e) => $body,
            Error::Caps($e) => $body,
            Error::Store($e) => $body,
            Error::Bus($e) => $body,
            Error::State($e) => $body,
            Error::Identity($e) => $body,
            Error::Install($e) => $body,
            Error::Source($e) => $body,
            Error::Reload($e) => $body,
            Error::Extend($e) => $body,
        }
    };
}

macro_rules! from_area {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        $(impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Error::$variant(e)
            }
        })*
    };
}

from_area!(
    Config(ConfigError),
    Load(LoadError),
    Call(CallError),
    Lifecycle(LifecycleError),
    Package(crate::package::PackageError),
    Resolve(ResolveError),
    Caps(CapsError),
    Store(StoreError),
    Bus(crate::bus::BusError),
    State(StateError),
    Identity(crate::identity::IdentityError),
    Install(crate::install::InstallError),
    Source(crate::install::SourceError),
);

impl From<crate::extend::ExtendError> for Error {
    fn from(e: crate::extend::ExtendError) -> Self {
        Error::Extend(Box::new(e))
    }
}

impl From<crate::reload::ReloadError> for Error {
    fn from(e: crate::reload::ReloadError) -> Self {
        Error::Reload(Box::new(e))
    }
}

impl Error {
    /// The stable code, shown as `SB####`.
    pub fn code(&self) -> ErrorCode {
        each_area!(self, e => e.code())
    }

    /// What the person seeing this error should do next.
    pub fn next_step(&self) -> String {
        each_area!(self, e => e.next_step())
    }

    /// The one-line message alone, without the code or the next step.
    pub fn message(&self) -> String {
        each_area!(self, e => e.to_string())
    }

    /// Whether the load this error ended had already opened the library in this process
    /// (which then stays mapped, ARCHITECTURE D2).
    pub(crate) fn mapped_a_library(&self) -> bool {
        matches!(
            self,
            Error::Load(LoadError::Mismatch { .. } | LoadError::Instantiate { .. })
        )
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let message = each_area!(self, e => e as &dyn std::fmt::Display);
        write!(
            f,
            "[{}] {message}\n  next: {}",
            self.code(),
            self.next_step()
        )
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if f.alternate() {
            let name = match self {
                Error::Config(_) => "Config",
                Error::Load(_) => "Load",
                Error::Call(_) => "Call",
                Error::Lifecycle(_) => "Lifecycle",
                Error::Package(_) => "Package",
                Error::Resolve(_) => "Resolve",
                Error::Caps(_) => "Caps",
                Error::Store(_) => "Store",
                Error::Bus(_) => "Bus",
                Error::State(_) => "State",
                Error::Identity(_) => "Identity",
                Error::Install(_) => "Install",
                Error::Source(_) => "Source",
                Error::Reload(_) => "Reload",
                Error::Extend(_) => "Extend",
            };
            let inner = each_area!(self, e => e as &dyn std::fmt::Debug);
            f.debug_tuple(name).field(inner).finish()
        } else {
            std::fmt::Display::fmt(self, f)
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        each_area!(self, e => std::error::Error::source(e))
    }
}

#[cfg(test)]
mod tests;

const fn code(n: u16) -> ErrorCode {
    ErrorCode::from_number(n)
}

/// Errors building a [`Host`](crate::Host).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The data directory could not be created or used.
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The underlying failure.
        source: std::io::Error,
    },
    /// A trusted key given to the builder does not parse.
    #[error("cannot trust the key given: {reason}")]
    Trust {
        /// What is wrong.
        reason: String,
    },
    /// The host API name or version is not valid.
    #[error("invalid host API `{name}@{version}`: {reason}")]
    HostApi {
        /// The name given.
        name: String,
        /// The version given.
        version: String,
        /// What is wrong.
        reason: String,
    },
    /// The health settings are inconsistent (a zero interval or hook deadline, thresholds
    /// in the wrong order), or the monitor's thread could not start.
    #[error("invalid health settings: {reason}")]
    Health {
        /// What is wrong.
        reason: String,
    },
}

impl ConfigError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ConfigError::DataDir { .. } => code(901),
            ConfigError::HostApi { .. } => code(902),
            ConfigError::Trust { .. } => code(903),
            ConfigError::Health { .. } => code(399),
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            ConfigError::DataDir { path, .. } => format!(
                "check that {} is a writable directory, or pass another with `data_dir`",
                path.display()
            ),
            ConfigError::Trust { .. } => "pass the text of a minisign .pub file".into(),
            ConfigError::HostApi { .. } => {
                "pass `host_api(\"name\", \"MAJOR.MINOR.PATCH\")` with a semver version".into()
            }
            ConfigError::Health { .. } => "pass a non-zero `health_interval` (or `None`), a \
                 non-zero `hook_deadline`, and `unhealthy_after` at or above `degraded_after`"
                .into(),
        }
    }
}

/// Errors loading a plugin library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying failure.
        source: std::io::Error,
    },
    /// The file is not a dynamic library.
    #[error("{path} is not a dynamic library: {reason}")]
    NotALibrary {
        /// The file.
        path: PathBuf,
        /// What the object parser said.
        reason: String,
    },
    /// The library carries no Switchboard manifest section.
    #[error("{path} has no Switchboard manifest section: it was not built with `#[plugin]`")]
    NoManifest {
        /// The file.
        path: PathBuf,
    },
    /// The manifest section does not parse.
    #[error("the manifest embedded in {path} does not parse: {reason}")]
    BadManifest {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        reason: String,
    },
    /// The plugin was built against another SDK ABI major version.
    #[error("plugin `{plugin}` uses SDK ABI {found}; this host supports {supported}")]
    AbiMajor {
        /// The plugin.
        plugin: String,
        /// Its SDK ABI.
        found: String,
        /// The host's SDK ABI.
        supported: String,
    },
    /// The plugin needs a newer SDK ABI minor than this host has.
    #[error("plugin `{plugin}` needs SDK ABI {found}; this host supports up to {supported}")]
    AbiMinor {
        /// The plugin.
        plugin: String,
        /// Its SDK ABI.
        found: String,
        /// The host's SDK ABI.
        supported: String,
    },
    /// A plugin of this name is already loaded.
    #[error("a plugin named `{name}` is already loaded")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// Unsigned libraries are refused unless the host opted in.
    #[error("refusing to load unsigned library {path}")]
    Unsigned {
        /// The file.
        path: PathBuf,
    },
    /// The verified bytes could not be prepared for loading.
    #[error("cannot prepare the verified image of {path}: {reason}")]
    Image {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The dynamic loader or the ABI layout check refused the library.
    #[error("cannot open plugin `{plugin}`: {reason}")]
    Open {
        /// The plugin.
        plugin: String,
        /// What the loader said.
        reason: String,
    },
    /// What the library's code reports differs from its manifest section.
    #[error("plugin `{plugin}`: the code's {field} differs from its manifest section")]
    Mismatch {
        /// The plugin.
        plugin: String,
        /// The first field that differs.
        field: &'static str,
    },
    /// The plugin is not compatible with this host, or its package manifest and library differ.
    #[error("plugin `{plugin}`: {message}")]
    Incompatible {
        /// The plugin.
        plugin: String,
        /// The finding's code (`SB11xx`, `SB0204`, `SB0205`).
        code: ErrorCode,
        /// What is wrong.
        message: String,
        /// What to do.
        next_step: String,
    },
    /// The plugin could not be started isolated: no runner, the runner failed, or its sandbox
    /// lacks a layer policy demands (`SB15xx`).
    #[error("plugin `{plugin}` (isolated): {message}")]
    Isolation {
        /// The plugin.
        plugin: String,
        /// The code (`SB1500`–`SB1559`).
        code: ErrorCode,
        /// What is wrong.
        message: String,
        /// What to do.
        next_step: String,
    },
    /// The plugin's constructor failed or panicked.
    #[error("plugin `{plugin}` failed to initialise: {}", .error.message())]
    Instantiate {
        /// The plugin.
        plugin: String,
        /// What the plugin reported.
        error: PluginError,
    },
    /// The plugin is older than the version this host last recorded for it, and the caller
    /// did not ask for a downgrade ([`LoadOptions::allow_downgrade`](crate::LoadOptions)).
    #[error(
        "plugin `{plugin}` {found} is older than {recorded}, the version this host last recorded"
    )]
    Downgrade {
        /// The plugin.
        plugin: String,
        /// The version recorded.
        recorded: String,
        /// The version offered.
        found: String,
    },
    /// The library's embedded name breaks the manifest's naming rules (a path, non-ASCII, …).
    #[error("{path} embeds the plugin name {name:?}, which is not a valid plugin name")]
    InvalidName {
        /// The file.
        path: PathBuf,
        /// The name (cut to 80 characters).
        name: String,
    },
    /// The library file is larger than the host reads.
    #[error("{path} is larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap ([`UnpackLimits::max_package_bytes`](crate::package::UnpackLimits)).
        limit: u64,
    },
    /// The `plugin.toml` a development library embeds does not validate.
    #[error("plugin `{plugin}`: its embedded plugin.toml is invalid: {summary}")]
    DevManifest {
        /// The plugin.
        plugin: String,
        /// The first problems, joined.
        summary: String,
    },
}

impl LoadError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        code(match self {
            LoadError::NotALibrary { .. } => 201,
            LoadError::NoManifest { .. } => 202,
            LoadError::BadManifest { .. } => 203,
            LoadError::AbiMajor { .. } => 204,
            LoadError::AbiMinor { .. } => 205,
            LoadError::DuplicateName { .. } => 206,
            LoadError::Open { .. } => 207,
            LoadError::Unsigned { .. } => 209,
            LoadError::Mismatch { .. } => 210,
            LoadError::Read { .. } => 211,
            LoadError::Instantiate { .. } => 212,
            LoadError::Image { .. } => 213,
            LoadError::Incompatible { code, .. } | LoadError::Isolation { code, .. } => {
                return *code
            }
            LoadError::Downgrade { .. } => 214,
            LoadError::InvalidName { .. } => 215,
            LoadError::TooLarge { .. } => 216,
            LoadError::DevManifest { .. } => 217,
        })
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            LoadError::Read { .. } => "check the path and its permissions".into(),
            LoadError::NotALibrary { .. } => {
                "pass the plugin's cdylib (`lib<name>.so`, `.dylib` or `.dll`) from `target/`"
                    .into()
            }
            LoadError::NoManifest { .. } => {
                "build the crate as a `cdylib` with `#[plugin]` on its impl block".into()
            }
            LoadError::BadManifest { .. } => {
                "rebuild the plugin with a matching switchboard-sdk; the file may be damaged".into()
            }
            LoadError::AbiMajor { .. } | LoadError::AbiMinor { .. } => {
                "rebuild the plugin against the switchboard-sdk version this host uses".into()
            }
            LoadError::DuplicateName { name } => {
                format!("stop and remove the loaded `{name}` first, or rename one of the plugins")
            }
            LoadError::Unsigned { .. } => "sign the plugin into a package, or for development \
                 enable `HostBuilder::dangerous().load_unsigned_libraries()`"
                .into(),
            LoadError::Image { .. } => "check free memory and the temp/data directory".into(),
            LoadError::Open { .. } => {
                "rebuild the plugin for this platform against this host's switchboard-sdk".into()
            }
            LoadError::Mismatch { .. } => {
                "the library was altered after it was built; rebuild it from source".into()
            }
            LoadError::Incompatible { next_step, .. } | LoadError::Isolation { next_step, .. } => {
                next_step.clone()
            }
            LoadError::Instantiate { .. } => {
                "see the plugin's message; fix `Plugin::create` or its environment".into()
            }
            LoadError::Downgrade { plugin, recorded, .. } => format!(
                "load `{plugin}` {recorded} or newer; to roll back on purpose, load with \
                 `LoadOptions::allow_downgrade(true)` (`Host::load_package_with`)"
            ),
            LoadError::InvalidName { .. } => {
                "a plugin name is ASCII: a letter, then letters, digits, `-` or `_` (at most 64); \
                 rebuild the plugin from a crate with such a name"
                    .into()
            }
            LoadError::TooLarge { .. } => {
                "pass the plugin's cdylib; raise `UnpackLimits::max_package_bytes` if it really is this large"
                    .into()
            }
            LoadError::DevManifest { .. } => {
                "fix the crate's plugin.toml (`switchboard preflight CRATE` shows every problem) and rebuild"
                    .into()
            }
        }
    }
}

/// Errors calling a plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No plugin of this name is loaded.
    #[error("no plugin named `{plugin}` is loaded")]
    UnknownPlugin {
        /// The name asked for.
        plugin: String,
    },
    /// The plugin has no such command.
    #[error("plugin `{plugin}` has no command `{command}` (it has: {available})")]
    UnknownCommand {
        /// The plugin.
        plugin: String,
        /// The command asked for.
        command: String,
        /// The commands it has, comma-separated.
        available: String,
    },
    /// The caller's message type is not the one the command declares.
    #[error(
        "`{plugin}.{command}` {side} contract mismatch: the plugin declares `{declared}`, the caller uses `{used}`"
    )]
    ContractMismatch {
        /// The plugin.
        plugin: String,
        /// The command.
        command: String,
        /// `request` or `response`.
        side: &'static str,
        /// The contract id in the plugin's manifest.
        declared: String,
        /// The contract id of the caller's type.
        used: String,
    },
    /// The plugin failed earlier (a panic or a failed hook) and takes no more calls.
    #[error("plugin `{plugin}` has failed: {reason}")]
    PluginFailed {
        /// The plugin.
        plugin: String,
        /// Why it failed.
        reason: String,
    },
    /// The plugin is not active.
    #[error("plugin `{plugin}` is {state}, not active")]
    NotActive {
        /// The plugin.
        plugin: String,
        /// Its state.
        state: State,
    },
    /// A hot reload put in place a version without this command: the handle's next call
    /// says so instead of calling another command.
    #[error(
        "`{plugin}` was reloaded to version {version}, which has no command `{command}` \
         (it has: {available})"
    )]
    CommandRemoved {
        /// The plugin.
        plugin: String,
        /// The command the handle was made for.
        command: String,
        /// The version serving now.
        version: String,
        /// The commands that version has.
        available: String,
    },
    /// A hot reload put in place a version whose command takes or returns another type than
    /// the handle was made for: refused before any bytes are sent.
    #[error(
        "`{plugin}` was reloaded, and its `{command}` declares `{declared}` now where this \
         handle was made for `{used}`"
    )]
    ContractChanged {
        /// The plugin.
        plugin: String,
        /// The command.
        command: String,
        /// The contract the new version declares.
        declared: String,
        /// The contract the handle was made for.
        used: String,
    },
    /// The plugin's command returned an error (or panicked, which also fails the instance).
    #[error("`{plugin}.{command}` failed: {}", .error.message())]
    Plugin {
        /// The plugin.
        plugin: String,
        /// The command.
        command: String,
        /// What the plugin reported.
        error: PluginError,
    },
    /// The response did not decode as the caller's type.
    #[error("`{plugin}.{command}` returned bytes that do not decode: {reason}")]
    Decode {
        /// The plugin.
        plugin: String,
        /// The command.
        command: String,
        /// The decoder's message.
        reason: String,
    },
    /// The request is larger than the host's limit for command payloads
    /// ([`BusLimits::max_call_bytes`](crate::bus::BusLimits)); the plugin never saw it.
    #[error("a {size}-byte request to `{plugin}.{command}` is over the {limit}-byte limit")]
    RequestTooLarge {
        /// The plugin.
        plugin: String,
        /// The command.
        command: String,
        /// The request's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A streaming command was called as a plain one (`command`, `raw_command`): refused
    /// before the plugin runs.
    #[error(
        "`{plugin}.{command}` streams its output in chunks; it cannot be called as a plain command"
    )]
    StreamingCommand {
        /// The plugin.
        plugin: String,
        /// The command.
        command: String,
    },
    /// A plain command was called as a streaming one (`stream_command`).
    #[error("`{plugin}.{command}` returns one response; it does not stream")]
    NotStreaming {
        /// The plugin.
        plugin: String,
        /// The command.
        command: String,
    },
    /// No thread could be started to run a stream's producer.
    #[error("cannot start a thread for the stream of `{plugin}.{command}`: {reason}")]
    StreamThread {
        /// The plugin.
        plugin: String,
        /// The command.
        command: String,
        /// The system's reason.
        reason: String,
    },
    /// The plugin's response is larger than the host's limit for command payloads; it was
    /// discarded before anything copied or decoded it.
    #[error("`{plugin}.{command}` responded with {size} bytes, over the {limit}-byte limit")]
    ResponseTooLarge {
        /// The plugin.
        plugin: String,
        /// The command.
        command: String,
        /// The response's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

impl CallError {
    /// The error as plugin code sees it (a service method, a handler): a plugin's own error as
    /// it was, any other with its code, message and next step.
    pub(crate) fn into_plugin_error(self) -> PluginError {
        match self {
            CallError::Plugin { error, .. } => error,
            other => {
                PluginError::with_code(other.code(), other.to_string()).next_step(other.next_step())
            }
        }
    }

    /// The stable code. A plugin's own error keeps the plugin's code.
    pub fn code(&self) -> ErrorCode {
        match self {
            CallError::UnknownPlugin { .. } => code(301),
            CallError::UnknownCommand { .. } => code(302),
            CallError::ContractMismatch { .. } => code(303),
            CallError::PluginFailed { .. } => code(304),
            CallError::NotActive { .. } => code(305),
            CallError::Plugin { error, .. } => error.code(),
            CallError::Decode { .. } => code(307),
            CallError::RequestTooLarge { .. } => code(309),
            CallError::ResponseTooLarge { .. } => code(310),
            CallError::StreamingCommand { .. } => code(1730),
            CallError::NotStreaming { .. } => code(1731),
            CallError::StreamThread { .. } => code(1736),
            CallError::CommandRemoved { .. } => code(373),
            CallError::ContractChanged { .. } => code(374),
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            CallError::UnknownPlugin { .. } => {
                "load the plugin first; `plugins()` lists what is loaded".into()
            }
            CallError::UnknownCommand { .. } => "call one of the commands listed".into(),
            CallError::ContractMismatch { .. } => {
                "build the caller and the plugin against the same version of the message type"
                    .into()
            }
            CallError::PluginFailed { plugin, .. } => {
                format!("inspect `{plugin}`'s history, fix the plugin, and load it again")
            }
            CallError::NotActive { plugin, .. } => format!("start `{plugin}` first"),
            CallError::Plugin { error, .. } => error
                .next_step_hint()
                .map(str::to_owned)
                .unwrap_or_else(|| "see the plugin's message".into()),
            CallError::Decode { .. } => {
                "build the caller and the plugin against the same version of the message type"
                    .into()
            }
            CallError::CommandRemoved {
                plugin, command, ..
            } => format!(
                "make a new handle for one of the commands `{plugin}` has now, or reload a \
                 version that still has `{command}`"
            ),
            CallError::ContractChanged { .. } => {
                "rebuild the caller against the new version's message types and make a new \
                 handle, or reload a version with the old contract"
                    .into()
            }
            CallError::StreamingCommand { plugin, command } => format!(
                "call it as a stream: `host.plugin(\"{plugin}\")?.stream_command::<Req, Chunk, Summary>(\"{command}\")`"
            ),
            CallError::NotStreaming { plugin, command } => format!(
                "call it as a plain command: `host.plugin(\"{plugin}\")?.command::<Req, Resp>(\"{command}\")`"
            ),
            CallError::StreamThread { .. } => {
                "the process is out of threads or memory: end some streams (or raise the \
                 limits) and try again, or use `call_streaming`, which runs on the caller's \
                 thread"
                    .into()
            }
            CallError::RequestTooLarge { .. } | CallError::ResponseTooLarge { .. } => {
                "pass the data in smaller pieces (or stream it), or raise \
                 `BusLimits::max_call_bytes` on the host"
                    .into()
            }
        }
    }
}

/// Errors moving a plugin through its lifecycle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The transition is not allowed from the current state.
    #[error("plugin `{plugin}` cannot go from {from} to {to}")]
    InvalidTransition {
        /// The plugin.
        plugin: String,
        /// Its state.
        from: State,
        /// The state asked for.
        to: State,
    },
    /// A lifecycle hook returned an error or panicked; the plugin is now failed.
    #[error("plugin `{plugin}`'s {hook} hook failed: {}", .error.message())]
    HookFailed {
        /// The plugin.
        plugin: String,
        /// `start` or `stop`.
        hook: &'static str,
        /// What the plugin reported.
        error: PluginError,
    },
    /// The `stop` hook did not return within the host's stop deadline: the instance is now
    /// failed, its token suspended and its subscriptions and services closed, but its threads
    /// may still run — they cannot be killed in-process.
    #[error(
        "plugin `{plugin}`'s stop hook did not return within {} ms; the plugin is marked failed \
         and keeps no host service, but its threads may still be running",
        .deadline.as_millis()
    )]
    StopTimedOut {
        /// The plugin.
        plugin: String,
        /// The deadline it missed.
        deadline: std::time::Duration,
    },
    /// The plugin's subscriptions or services could not join the bus: not granted, a bad
    /// pattern, or a service name already taken. The error keeps the underlying code.
    #[error("plugin `{plugin}` cannot join the bus: {error}")]
    Bus {
        /// The plugin.
        plugin: String,
        /// Why.
        error: Box<crate::bus::BusError>,
    },
    /// The plugin's contributions cannot join their extension points: a replacement or
    /// registry item another plugin holds, an order cycle, a point no longer declared. The
    /// error keeps the underlying code.
    #[error("plugin `{plugin}` cannot join its extension points: {error}")]
    Extend {
        /// The plugin.
        plugin: String,
        /// Why.
        error: Box<crate::extend::ExtendError>,
    },
}

impl LifecycleError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            LifecycleError::InvalidTransition { .. } => code(306),
            LifecycleError::HookFailed { .. } => code(308),
            LifecycleError::StopTimedOut { .. } => code(321),
            LifecycleError::Bus { error, .. } => error.code(),
            LifecycleError::Extend { error, .. } => error.code(),
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            LifecycleError::InvalidTransition { plugin, from, .. } => {
                format!("`{plugin}` is {from}; see `PluginHandle::history` for how it got there")
            }
            LifecycleError::HookFailed { error, .. } => error
                .next_step_hint()
                .map(str::to_owned)
                .unwrap_or_else(|| "fix the plugin's hook, then load it again".into()),
            LifecycleError::StopTimedOut { plugin, .. } => format!(
                "make `{plugin}`'s stop hook return promptly (or raise \
                 `HostBuilder::stop_deadline`); restart the host process to end its threads — \
                 a plugin that must be stoppable by force belongs in isolated mode \
                 (`LoadOptions::isolation`, or the policy's `[isolation]`)"
            ),
            LifecycleError::Bus { error, .. } => error.next_step(),
            LifecycleError::Extend { error, .. } => error.next_step(),
        }
    }
}

/// Why an [`Index`](crate::Index) could not answer. Index implementations build it; the resolver
/// carries it out as [`ResolveError::Index`].
///
/// # Example
///
/// ```
/// use switchboard_host::IndexError;
///
/// let e = IndexError::new("geo", "the registry answered 503");
/// assert_eq!(e.to_string(), "cannot read the index entry for `geo`: the registry answered 503");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the index entry for `{plugin}`: {reason}")]
pub struct IndexError {
    plugin: String,
    reason: String,
}

impl IndexError {
    /// An index failure for `plugin`, with the reason a person can act on.
    pub fn new(plugin: impl Into<String>, reason: impl Into<String>) -> Self {
        IndexError {
            plugin: plugin.into(),
            reason: reason.into(),
        }
    }

    /// The plugin whose entry could not be read.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// What went wrong.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Errors resolving dependencies, building the installed graph, or reading and checking the
/// lockfile (SPEC S3).
///
/// # Example
///
/// ```
/// use switchboard_host::{Dependency, MemoryIndex, Release, Resolver};
///
/// let mut index = MemoryIndex::new();
/// index
///     .add("weather", Release::new("1.0.0".parse().unwrap(), "sha256:01")
///         .with_dependency(Dependency::new("geo", "^3".parse().unwrap())))
///     .add("geo", Release::new("2.0.0".parse().unwrap(), "sha256:02"));
/// let err = Resolver::new(&index)
///     .resolve(&[Dependency::new("weather", "*".parse().unwrap())])
///     .unwrap_err();
/// assert_eq!(err.code().to_string(), "SB0501");
/// assert!(err.to_string().contains("weather needs geo ^3 (the index has geo 2.0.0 only)"));
/// assert_eq!(err.next_step(), "Add a registry that publishes geo ^3, or drop weather.");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// No set of versions satisfies every requirement.
    #[error("no set of plugin versions satisfies the request:\n{explanation}")]
    NoSolution {
        /// The chain of reasons, in sentences.
        explanation: String,
        /// A concrete step: which plugin to upgrade, pin or drop.
        next_step: String,
    },
    /// A requested plugin is not in the index at all.
    #[error("no plugin named `{name}` is in the index")]
    UnknownPlugin {
        /// The name asked for.
        name: String,
    },
    /// The plugins' dependencies form a cycle, so no load order exists.
    #[error("dependency cycle: {}", .path.join(" → "))]
    Cycle {
        /// The cycle, starting and ending with the same plugin.
        path: Vec<String>,
    },
    /// A plugin depends on one that is not in the graph.
    #[error("`{plugin}` depends on `{dependency}`, which is not installed")]
    MissingDependency {
        /// The dependent.
        plugin: String,
        /// The missing dependency.
        dependency: String,
    },
    /// The same plugin appears twice.
    #[error("`{name}` is listed more than once")]
    DuplicatePlugin {
        /// The name.
        name: String,
    },
    /// The index could not be read.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The lockfile could not be read or written.
    #[error("cannot access the lockfile {path}: {source}")]
    LockfileIo {
        /// The lockfile.
        path: PathBuf,
        /// The underlying failure.
        source: std::io::Error,
    },
    /// The lockfile does not parse.
    #[error("the lockfile does not parse: {reason}")]
    LockfileParse {
        /// The parser's message, with line and column.
        reason: String,
    },
    /// The lockfile has a format version this build does not know.
    #[error("the lockfile has format version {found}; this build reads version 1")]
    LockfileVersion {
        /// The version found.
        found: i64,
    },
    /// `--locked` was given and the resolution differs from the lockfile.
    #[error("the lockfile would change, and --locked forbids it: {}", LockChange::summary(.changes))]
    LockedDrift {
        /// Every change, sorted by plugin name.
        changes: Vec<LockChange>,
    },
}

impl ResolveError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        code(match self {
            ResolveError::NoSolution { .. } => 501,
            ResolveError::UnknownPlugin { .. } => 502,
            ResolveError::Cycle { .. } => 503,
            ResolveError::MissingDependency { .. } => 504,
            ResolveError::DuplicatePlugin { .. } => 505,
            ResolveError::Index(_) => 506,
            ResolveError::LockfileIo { .. } => 507,
            ResolveError::LockfileParse { .. } => 508,
            ResolveError::LockfileVersion { .. } => 509,
            ResolveError::LockedDrift { .. } => 510,
        })
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            ResolveError::NoSolution { next_step, .. } => next_step.clone(),
            ResolveError::UnknownPlugin { name } => {
                format!("check the spelling of `{name}`, or add the registry that publishes it")
            }
            ResolveError::Cycle { path } => {
                let mut names: Vec<&str> = path.iter().map(String::as_str).collect();
                let (from, to) = match names.as_slice() {
                    [.., from, to] => (*from, *to),
                    _ => ("", ""),
                };
                let step = format!("use a release of `{from}` that does not depend on `{to}`");
                names.pop();
                names.sort_unstable();
                names.dedup();
                match names.as_slice() {
                    [one] => format!("{step}, or drop `{one}`"),
                    _ => format!("{step}, or drop one of {}", join_names(&names)),
                }
            }
            ResolveError::MissingDependency { plugin, dependency } => format!(
                "install `{dependency}`, or remove `{plugin}`; if this came from a lockfile, \
                 resolve again without --locked"
            ),
            ResolveError::DuplicatePlugin { name } => {
                format!("keep one entry for `{name}`; resolve again to rewrite the lockfile")
            }
            ResolveError::Index(e) => format!(
                "check the connection to the registry and its index entry for `{}`, then retry",
                e.plugin()
            ),
            ResolveError::LockfileIo { path, .. } => {
                format!(
                    "check that {} exists and is readable and writable",
                    path.display()
                )
            }
            ResolveError::LockfileParse { .. } | ResolveError::LockfileVersion { .. } => {
                "restore switchboard.lock from version control, or delete it and resolve again"
                    .into()
            }
            ResolveError::LockedDrift { .. } => "run without --locked to update switchboard.lock, \
                 or change the request back to what the lockfile was made from"
                .into(),
        }
    }
}

/// `a`, `a and b`, `a, b and c` — with each name in backticks.
pub(crate) fn join_names(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => format!("`{one}`"),
        [init @ .., last] => format!(
            "{} and `{last}`",
            init.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Capability errors: denials, and policy refusing a plugin or a grant (`SB04xx`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CapsError {
    /// An access was denied.
    #[error("plugin `{plugin}` may not use `{access}`: {reason}")]
    Denied {
        /// The plugin.
        plugin: String,
        /// What it tried, as `capability:target`.
        access: String,
        /// Why it was denied.
        reason: DenyReason,
    },
    /// The plugin's manifest requests a capability that does not parse.
    #[error("plugin `{plugin}` requests an invalid capability: {error}")]
    BadCapability {
        /// The plugin.
        plugin: String,
        /// The parser's error.
        error: CapabilityError,
    },
    /// The plugin's trust level is below the policy's minimum.
    #[error("plugin `{plugin}` is {trust}; policy requires at least {required}")]
    TrustTooLow {
        /// The plugin.
        plugin: String,
        /// Its trust level.
        trust: TrustLevel,
        /// The policy's minimum.
        required: TrustLevel,
    },
    /// Policy's plugin allow or deny list refuses the plugin.
    #[error("policy refuses plugin `{plugin}`: {reason}")]
    PluginRefused {
        /// The plugin.
        plugin: String,
        /// Which list refused it.
        reason: String,
    },
    /// There is no grant to revoke.
    #[error("plugin `{plugin}` holds no grant covered by `{capability}`")]
    NoSuchGrant {
        /// The plugin.
        plugin: String,
        /// The capability given.
        capability: String,
    },
    /// A grant was asked for a capability the plugin did not request.
    #[error("plugin `{plugin}` did not request `{capability}`")]
    NotRequested {
        /// The plugin.
        plugin: String,
        /// The capability.
        capability: String,
    },
    /// A grant was asked for a capability policy blocks.
    #[error("policy blocks `{capability}` (rule `{rule}`)")]
    Blocked {
        /// The capability.
        capability: String,
        /// The block rule.
        rule: String,
    },
    /// The grant table holds as many instances as it can.
    #[error("the grant table is full ({max} instances)")]
    TableFull {
        /// The table's capacity.
        max: usize,
    },
}

impl CapsError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            CapsError::Denied { reason, .. } => reason.code(),
            CapsError::BadCapability { error, .. } => error.code(),
            CapsError::TrustTooLow { .. } => code(420),
            CapsError::PluginRefused { .. } => code(421),
            CapsError::NoSuchGrant { .. } => code(422),
            CapsError::NotRequested { .. } => code(423),
            CapsError::Blocked { .. } => code(424),
            CapsError::TableFull { .. } => code(425),
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            CapsError::Denied {
                plugin,
                access,
                reason,
            } => reason.next_step(plugin, access),
            CapsError::BadCapability { error, .. } => {
                format!(
                    "fix the plugin's `#[plugin(capabilities = [...])]`: {}",
                    error.next_step()
                )
            }
            CapsError::TrustTooLow {
                trust, required, ..
            } => {
                // Lowering the bar is safe only with isolation below it: in-process plugins run
                // with the host's rights.
                let raise = match (trust, required) {
                    (_, TrustLevel::Certified) => {
                        "load a release the registry certified (its `.cert` beside the package, \
                         the registry's key given to `HostBuilder::trust_registry`)"
                    }
                    (TrustLevel::Unsigned, _) => {
                        "sign the package (`switchboard keygen`, then `switchboard sign`) and \
                         give the host that public key (`HostBuilder::trust`)"
                    }
                    _ => {
                        "if you trust its author, give the host the signer's public key \
                         (`HostBuilder::trust`)"
                    }
                };
                format!(
                    "{raise}; or lower the policy's minimum trust below {required} and run \
                     plugins below it isolated (`[isolation] isolate_below = \"{required}\"`), \
                     since in-process plugins run with the host's rights"
                )
            }
            CapsError::PluginRefused { .. } => {
                "change the policy's plugin lists if this plugin should load".into()
            }
            CapsError::NoSuchGrant { plugin, .. } => {
                format!("see what `{plugin}` holds with `PluginHandle::grants` or `switchboard inspect`")
            }
            CapsError::NotRequested { plugin, capability } => format!(
                "add `{capability}` to `{plugin}`'s `#[plugin(capabilities = [...])]` and rebuild"
            ),
            CapsError::Blocked { .. } => "remove the policy's block rule first".into(),
            CapsError::TableFull { .. } => "remove plugins that are no longer needed".into(),
        }
    }

    /// The error as a plugin receives it across the boundary.
    pub(crate) fn to_plugin_error(&self) -> PluginError {
        PluginError::with_code(self.code(), self.to_string()).next_step(self.next_step())
    }
}

/// Errors of the host database and the audit log (`SB06xx`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened or created.
    #[error("cannot open the host database {path}: {reason}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        reason: String,
    },
    /// A query failed.
    #[error("host database error: {reason}")]
    Sqlite {
        /// What SQLite said.
        reason: String,
    },
    /// The database was written by a newer Switchboard.
    #[error("the host database has schema version {found}; this build knows up to {supported}")]
    SchemaTooNew {
        /// The database's version.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// A migration failed; the database is left at the version before it.
    #[error("migrating the host database to version {version} failed: {reason}")]
    Migration {
        /// The version being migrated to.
        version: u32,
        /// What failed.
        reason: String,
    },
    /// There is no host database in this directory.
    #[error("no host database in {path}")]
    NoDatabase {
        /// The data directory.
        path: PathBuf,
    },
    /// A stored value does not parse.
    #[error("the host database holds an invalid {what}: `{value}`")]
    Corrupt {
        /// What kind of value.
        what: &'static str,
        /// The value.
        value: String,
    },
    /// Writing an export failed.
    #[error("cannot write the export: {reason}")]
    Export {
        /// What failed.
        reason: String,
    },
    /// No plugin of this name was ever recorded.
    #[error("the host database has no record of plugin `{plugin}`")]
    UnknownPlugin {
        /// The name asked for.
        plugin: String,
    },
    /// SQLite's integrity check (`quick_check`) found damage when the database was opened.
    #[error("the host database {path} is damaged: {reason}")]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// The first problems SQLite reported.
        reason: String,
        /// The newest backup in the data directory's `backups/`, if any.
        backup: Option<PathBuf>,
    },
    /// The audit log's hash chain is broken.
    #[error("the audit log is broken at row {id}: {reason}")]
    ChainBroken {
        /// The first row where the chain breaks.
        id: i64,
        /// How it breaks.
        reason: String,
    },
    /// The key that signs audit checkpoints cannot be read, created or used.
    #[error("cannot use the audit key {path}: {reason}")]
    AuditKey {
        /// The key file (empty for a key given to the builder).
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An audit checkpoint's signature does not verify with the audit public key.
    #[error("the audit checkpoint {path} is not genuine: {reason}")]
    CheckpointForged {
        /// The checkpoint file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// An audit checkpoint cannot be read or does not parse.
    #[error("cannot read the audit checkpoint {path}: {reason}")]
    CheckpointUnreadable {
        /// The checkpoint file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An audit checkpoint cannot be written.
    #[error("cannot write the audit checkpoint {path}: {reason}")]
    CheckpointWrite {
        /// The checkpoint file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The data directory has an audit key, so checkpoints were written, but none is there.
    #[error("the audit checkpoint {path} is missing, though `audit.pub` shows one was written")]
    CheckpointMissing {
        /// Where the checkpoint should be.
        path: PathBuf,
    },
}

impl StoreError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        code(match self {
            StoreError::Open { .. } => 601,
            StoreError::Sqlite { .. } => 602,
            StoreError::SchemaTooNew { .. } => 603,
            StoreError::Migration { .. } => 604,
            StoreError::NoDatabase { .. } => 605,
            StoreError::Corrupt { .. } => 606,
            StoreError::Export { .. } => 607,
            StoreError::UnknownPlugin { .. } => 608,
            StoreError::ChainBroken { .. } => 610,
            StoreError::Damaged { .. } => 611,
            StoreError::AuditKey { .. } => 620,
            StoreError::CheckpointForged { .. } => 621,
            StoreError::CheckpointUnreadable { .. } => 622,
            StoreError::CheckpointWrite { .. } => 623,
            StoreError::CheckpointMissing { .. } => 624,
        })
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            StoreError::Open { path, .. } => format!(
                "check that {} is writable and not locked by another program",
                path.display()
            ),
            StoreError::Sqlite { .. } => "retry; if it persists, run `switchboard audit verify` \
                 and check the disk"
                .into(),
            StoreError::SchemaTooNew { .. } => {
                "use the newer Switchboard that wrote this database".into()
            }
            StoreError::Migration { .. } => "restore the data directory from a backup, or report \
                 the message to the Switchboard developers"
                .into(),
            StoreError::NoDatabase { .. } => "pass the data directory of a host that has run \
                 (`--data-dir`, or `SWITCHBOARD_HOME`)"
                .into(),
            StoreError::Corrupt { .. } => "run `switchboard audit verify`; restore the database \
                 from a backup if it fails"
                .into(),
            StoreError::Export { .. } => "check the output destination".into(),
            StoreError::UnknownPlugin { .. } => {
                "check the name; the plugin must have been loaded by a host using this data \
                 directory"
                    .into()
            }
            StoreError::Damaged { backup, .. } => restore_hint(backup),
            StoreError::ChainBroken { id, .. } => format!(
                "the log was altered at or after row {id}: keep the database for investigation \
                 and compare it with a backup or an exported copy"
            ),
            StoreError::AuditKey { path, .. } => format!(
                "check {} (a minisign secret key, mode 0600), or pass \
                 `HostBuilder::audit_key`",
                path.display()
            ),
            StoreError::CheckpointForged { .. } => "keep the data directory for investigation; \
                 verify against a checkpoint and public key kept elsewhere (`switchboard audit \
                 verify --checkpoint FILE --key FILE`)"
                .into(),
            StoreError::CheckpointUnreadable { .. } => "restore the checkpoint from a copy kept \
                 elsewhere, or check its permissions"
                .into(),
            StoreError::CheckpointWrite { .. } => {
                "check that the data directory is writable and has space".into()
            }
            StoreError::CheckpointMissing { .. } => "the log may have been cut: restore the \
                 checkpoint from a copy and verify with `--checkpoint FILE`, or pass \
                 `--no-checkpoint` to check the hash chain alone"
                .into(),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite {
            reason: e.to_string(),
        }
    }
}

/// Errors of plugin state: KV, quotas, secrets, configuration and data migrations (`SB07xx`).
///
/// No variant carries a secret's value: messages name the plugin and the secret only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A key or secret name is not valid.
    #[error("plugin `{plugin}`: `{key}` is not a valid key")]
    BadKey {
        /// The plugin.
        plugin: String,
        /// The key (cut to 80 characters).
        key: String,
    },
    /// A write would exceed the plugin's quota; nothing was written.
    #[error(
        "plugin `{plugin}` would use {bytes} of {max_bytes} bytes and {keys} of {max_keys} keys \
         (quota exceeded)"
    )]
    QuotaExceeded {
        /// The plugin.
        plugin: String,
        /// Bytes (keys plus values) the plugin would use after the write.
        bytes: u64,
        /// Its byte limit.
        max_bytes: u64,
        /// Keys it would hold after the write.
        keys: u64,
        /// Its key limit.
        max_keys: u64,
    },
    /// A transaction kept conflicting with concurrent writers.
    #[error("plugin `{plugin}`: the transaction conflicted {attempts} times")]
    Conflict {
        /// The plugin.
        plugin: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A stored value fails its checksum: the database was damaged or edited.
    #[error("plugin `{plugin}`: the stored {what} `{key}` fails its checksum (corrupt)")]
    Corrupt {
        /// The plugin whose data is damaged.
        plugin: String,
        /// What kind of entry (`KV value`, `configuration`).
        what: &'static str,
        /// The key.
        key: String,
        /// The newest backup of the database, if one exists.
        backup: Option<PathBuf>,
    },
    /// The database stayed busy (locked by another process) through every retry.
    #[error("the host database stayed locked through {attempts} attempts")]
    Busy {
        /// Attempts made.
        attempts: u32,
    },
    /// A query failed.
    #[error("plugin state database error: {reason}")]
    Sqlite {
        /// What SQLite said.
        reason: String,
    },
    /// The master key could not be read, created or used.
    #[error("the secrets master key {path}: {reason}")]
    MasterKey {
        /// The key file (empty for a key handed to the builder).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A secret does not decrypt: a different master key, or a ciphertext moved or altered.
    #[error("plugin `{plugin}`: secret `{name}` does not decrypt with this host's master key")]
    Decrypt {
        /// The plugin.
        plugin: String,
        /// The secret's name.
        name: String,
    },
    /// A configuration file does not parse.
    #[error("cannot read configuration file {path}: {reason}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A configuration variable does not parse.
    #[error("configuration variable `{name}`: {reason}")]
    ConfigVariable {
        /// The variable.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The effective configuration does not satisfy the schema.
    #[error("plugin `{plugin}`: the configuration is invalid: {}", problems_text(.problems))]
    ConfigInvalid {
        /// The plugin.
        plugin: String,
        /// `(field path, problem)`, every one found.
        problems: Vec<(String, String)>,
    },
    /// No configuration schema is known for the plugin.
    #[error("no configuration is recorded for plugin `{plugin}`")]
    NoConfigSpec {
        /// The plugin.
        plugin: String,
    },
    /// A data migration failed; the database was restored from the backup taken before it.
    #[error(
        "plugin `{plugin}`: migration {from} -> {to} failed: {reason}; its data was restored from the backup {}",
        .backup.display()
    )]
    MigrationFailed {
        /// The plugin.
        plugin: String,
        /// The version migrated from.
        from: String,
        /// The version migrated to.
        to: String,
        /// What failed.
        reason: String,
        /// The backup the database was restored from (kept).
        backup: PathBuf,
    },
    /// Taking or restoring a backup failed.
    #[error("backup {path}: {reason}")]
    Backup {
        /// The backup file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

fn problems_text(problems: &[(String, String)]) -> String {
    problems
        .iter()
        .map(|(path, msg)| format!("`{path}`: {msg}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn restore_hint(backup: &Option<PathBuf>) -> String {
    match backup {
        Some(b) => format!(
            "stop the host and restore the database from the backup {}",
            b.display()
        ),
        None => "stop the host and restore the database from your own backup".into(),
    }
}

impl StateError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        code(match self {
            StateError::BadKey { .. } => 701,
            StateError::QuotaExceeded { .. } => 702,
            StateError::Conflict { .. } => 703,
            StateError::Corrupt { .. } => 704,
            StateError::Busy { .. } => 705,
            StateError::Sqlite { .. } => 706,
            StateError::MasterKey { .. } => 710,
            StateError::Decrypt { .. } => 711,
            StateError::ConfigFile { .. } => 720,
            StateError::ConfigVariable { .. } => 721,
            StateError::ConfigInvalid { .. } => 722,
            StateError::NoConfigSpec { .. } => 723,
            StateError::MigrationFailed { .. } => 730,
            StateError::Backup { .. } => 732,
        })
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            StateError::BadKey { .. } => {
                "use a key of 1 to 1024 bytes without NUL characters".into()
            }
            StateError::QuotaExceeded { plugin, .. } => format!(
                "delete keys `{plugin}` no longer needs, or raise its quota (`[limits] kv_bytes` / \
                 `kv_keys` in its manifest, up to the policy's `[quota]` maximum)"
            ),
            StateError::Conflict { .. } => {
                "retry later, or split the transaction so fewer writers touch the same keys".into()
            }
            StateError::Corrupt { backup, .. } => restore_hint(backup),
            StateError::Busy { .. } => {
                "another process holds the database; retry when it has finished".into()
            }
            StateError::Sqlite { .. } => "retry; if it persists, check the disk".into(),
            StateError::MasterKey { path, .. } => format!(
                "check that {} holds the 32-byte key this host created (mode 0600), or pass the \
                 key with `HostBuilder::master_key`",
                path.display()
            ),
            StateError::Decrypt { plugin, name } => format!(
                "start the host with the master key that stored `{name}`, or set the secret of \
                 `{plugin}` again"
            ),
            StateError::ConfigFile { path, .. } => format!("fix the TOML in {}", path.display()),
            StateError::ConfigVariable { name, .. } => format!(
                "give `{name}` a value of the field's type (JSON, or plain text for strings)"
            ),
            StateError::ConfigInvalid { .. } => "fix the fields named, in the configuration file, \
                 profile or variables (see `switchboard config PLUGIN` for where each came from)"
                .into(),
            StateError::NoConfigSpec { .. } => {
                "load the plugin once in a host using this data directory, or pass `--manifest`"
                    .into()
            }
            StateError::MigrationFailed { plugin, .. } => format!(
                "fix the plugin's migration and update again; `{plugin}` keeps its previous data"
            ),
            StateError::Backup { path, .. } => {
                format!("check free space and permissions for {}", path.display())
            }
        }
    }

    /// The error as a plugin receives it across the boundary.
    pub(crate) fn to_plugin_error(&self) -> PluginError {
        PluginError::with_code(self.code(), self.to_string()).next_step(self.next_step())
    }
}

impl From<rusqlite::Error> for StateError {
    fn from(e: rusqlite::Error) -> Self {
        StateError::Sqlite {
            reason: e.to_string(),
        }
    }
}

impl From<StoreError> for StateError {
    fn from(e: StoreError) -> Self {
        StateError::Sqlite {
            reason: e.to_string(),
        }
    }
}
