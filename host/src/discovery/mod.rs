//! Discovery and watching (SPEC S8.2): plugin directories given to
//! [`HostBuilder::plugin_dir`](crate::HostBuilder::plugin_dir) are scanned by
//! [`Host::discover`](crate::Host::discover) and, optionally, watched
//! ([`Host::watch`](crate::Host::watch)).
//!
//! A scan looks at each directory's entries in path order: development libraries (`*.so`,
//! `*.dylib`, `*.dll`) go through [`Host::load_unsigned`](crate::Host::load_unsigned) (only
//! where the host allows unsigned libraries), packages (`*.sbpkg`) through
//! [`Host::load_package`](crate::Host::load_package) — the normal checks and policy, nothing
//! less. What does not load is skipped with a code (`SB0380`–`SB0387`) and, where a load
//! check refused it, the check's own code. Hidden files, editors' and downloads' temporary
//! files, and packages' `.minisig`/`.cert` companions are ignored without a word.
//!
//! The watcher turns file-system events into the same loads, into hot reloads
//! ([`Host::reload`](crate::Host::reload)) of files it loaded before, and into removals; a
//! burst of events for one file becomes one action once the file has been quiet for the
//! settle time ([`Debouncer`]). Its decisions are the plain function [`decide`].

mod error;
mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;
use switchboard_sdk::ErrorCode;

use crate::audit::{AuditEvent, AuditKind};
use crate::error::{Error, LoadError};
use crate::host::Host;

pub use self::error::DiscoveryError;
pub(crate) use self::watch::start as start_watch;
#[cfg(test)]
pub(crate) use self::watch::{decide, Action, Debouncer};
pub use self::watch::{PluginWatcher, DEFAULT_SETTLE};

const fn code(n: u16) -> ErrorCode {
    ErrorCode::from_number(n)
}

/// The codes a discovery skip carries.
pub mod codes {
    use super::{code, ErrorCode};

    /// A file in a plugin directory that is neither a plugin library nor a package.
    pub const NOT_A_PLUGIN_FILE: ErrorCode = code(380);
    /// A development library, and the host does not allow unsigned libraries.
    pub const UNSIGNED_NOT_ALLOWED: ErrorCode = code(381);
    /// A library that is not a Switchboard plugin (not a library, no or a bad manifest section).
    pub const NOT_A_SWITCHBOARD_PLUGIN: ErrorCode = code(382);
    /// A load check (signature, manifest, compatibility, policy, version…) refused the file.
    pub const REFUSED: ErrorCode = code(383);
    /// A plugin of that name is already loaded, from another file or by another way.
    pub const NAME_TAKEN: ErrorCode = code(384);
    /// The file vanished or could not be read while it was scanned.
    pub const VANISHED: ErrorCode = code(385);
    /// A plugin directory cannot be read.
    pub const UNREADABLE_DIR: ErrorCode = code(386);
    /// The plugin loaded but did not start; it was removed again.
    pub const START_FAILED: ErrorCode = code(387);
    /// The watcher could not watch a plugin directory.
    pub const WATCH_FAILED: ErrorCode = code(388);
    /// A watcher's reload or removal of a plugin failed (the old version serves on).
    pub const ACTION_FAILED: ErrorCode = code(389);
}

/// Options for [`Host::discover_with`](crate::Host::discover_with).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoverOptions {
    /// Whether each plugin loaded is started as well (the default); one that does not start
    /// is removed again and skipped with `SB0387`.
    pub start: bool,
}

impl Default for DiscoverOptions {
    fn default() -> Self {
        DiscoverOptions { start: true }
    }
}

impl DiscoverOptions {
    /// The defaults: load and start.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether to start what loads.
    pub fn start(mut self, start: bool) -> Self {
        self.start = start;
        self
    }
}

/// A plugin a scan (or the watcher) loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Discovered {
    /// The file.
    pub path: PathBuf,
    /// The plugin's name.
    pub plugin: String,
    /// Its version.
    pub version: String,
    /// Whether it was started.
    pub started: bool,
}

/// A file a scan did not load, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Skipped {
    /// The file (or the directory, for `SB0386`).
    pub path: PathBuf,
    /// Why, as one of [`codes`].
    pub code: ErrorCode,
    /// The refusing check's own code, where one refused it (e.g. `SB0202`, `SB0204`).
    pub cause: Option<ErrorCode>,
    /// What happened, in words.
    pub reason: String,
}

/// What [`Host::discover`](crate::Host::discover) did, each list in path order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoverReport {
    /// Plugins loaded by this scan.
    pub loaded: Vec<Discovered>,
    /// Files an earlier scan (or the watcher) loaded, whose plugin is still loaded: left as
    /// they are (a changed file is the watcher's to reload).
    pub known: Vec<PathBuf>,
    /// Files not loaded, each with its code.
    pub skipped: Vec<Skipped>,
}

/// What kind of file a plugin directory entry is, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// A development library.
    Library,
    /// A package.
    Package,
    /// Hidden, temporary, or a package's companion: not looked at.
    Ignored,
    /// Anything else.
    Other,
}

/// The kind of the file at `path`, from its name alone.
pub(crate) fn kind_of(path: &Path) -> FileKind {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return FileKind::Other;
    };
    let lower = name.to_ascii_lowercase();
    const TEMPORARY: [&str; 10] = [
        "~",
        ".swp",
        ".swo",
        ".swx",
        ".tmp",
        ".part",
        ".partial",
        ".crdownload",
        ".download",
        ".bak",
    ];
    if lower.starts_with('.')
        || lower.starts_with('#')
        || TEMPORARY.iter().any(|t| lower.ends_with(t))
        || lower.ends_with(".sbpkg.minisig")
        || lower.ends_with(".sbpkg.cert")
    {
        return FileKind::Ignored;
    }
    match Path::new(&lower).extension().and_then(|e| e.to_str()) {
        Some("so" | "dylib" | "dll") => FileKind::Library,
        Some("sbpkg") => FileKind::Package,
        _ => FileKind::Other,
    }
}

/// A directory as the scan and the watcher name it (canonical where it exists), so paths
/// from both agree.
pub(crate) fn dir_key(dir: &Path) -> PathBuf {
    dir.canonicalize().unwrap_or_else(|_| dir.to_owned())
}

/// The code a failed load of `path` is skipped with.
fn classify(e: &Error, path: &Path) -> ErrorCode {
    if !path.exists() {
        return codes::VANISHED;
    }
    match e {
        Error::Load(LoadError::Unsigned { .. }) => codes::UNSIGNED_NOT_ALLOWED,
        Error::Load(
            LoadError::NotALibrary { .. }
            | LoadError::NoManifest { .. }
            | LoadError::BadManifest { .. }
            | LoadError::InvalidName { .. }
            | LoadError::TooLarge { .. },
        ) => codes::NOT_A_SWITCHBOARD_PLUGIN,
        Error::Load(LoadError::DuplicateName { .. }) => codes::NAME_TAKEN,
        Error::Load(LoadError::Read { .. }) => codes::VANISHED,
        _ => codes::REFUSED,
    }
}

impl Skipped {
    fn new(path: &Path, code: ErrorCode, cause: Option<ErrorCode>, reason: String) -> Self {
        Skipped {
            path: path.to_owned(),
            code,
            cause,
            reason,
        }
    }
}

/// Logs and audits a skip (the audit row is a refused load, by the file's path).
pub(crate) fn record_skip(host: &Host, skip: &Skipped) {
    tracing::warn!(
        target: "switchboard::discovery",
        "[{}] skipped {}: {}",
        skip.code,
        skip.path.display(),
        skip.reason
    );
    let event = AuditEvent::new(
        AuditKind::Load,
        "",
        skip.path.display().to_string(),
        json!({
            "outcome": "skipped",
            "via": "discovery",
            "code": skip.code.to_string(),
            "cause": skip.cause.map(|c| c.to_string()),
            "reason": skip.reason,
        }),
    );
    if let Err(e) = host.audit().append(&event) {
        tracing::error!(target: "switchboard::discovery", "a discovery skip was not audited: {e}");
    }
}

/// Loads (and maybe starts) the plugin file at `path` of kind `kind`; a file that does not
/// load is returned as a skip (not yet recorded).
pub(crate) fn load_one(
    host: &Host,
    path: &Path,
    kind: FileKind,
    options: &DiscoverOptions,
) -> Result<Discovered, Skipped> {
    let loaded = match kind {
        FileKind::Library if !host.allows_unsigned_libraries() => {
            return Err(Skipped::new(
                path,
                codes::UNSIGNED_NOT_ALLOWED,
                None,
                "a development library, and this host does not allow unsigned libraries".into(),
            ))
        }
        FileKind::Library => host.load_unsigned(path),
        FileKind::Package => host.load_package(path),
        FileKind::Ignored | FileKind::Other => {
            return Err(Skipped::new(
                path,
                codes::NOT_A_PLUGIN_FILE,
                None,
                "neither a plugin library (.so, .dylib, .dll) nor a package (.sbpkg)".into(),
            ))
        }
    };
    let handle = loaded.map_err(|e| {
        Skipped::new(
            path,
            classify(&e, path),
            Some(e.code()),
            format!("[{}] {}", e.code(), e.message()),
        )
    })?;
    let plugin = handle.name().to_owned();
    let version = handle.version();
    if options.start {
        if let Err(e) = handle.start() {
            let e = Error::from(e);
            if let Err(r) = host.remove(&plugin) {
                tracing::warn!(target: "switchboard::discovery", "`{plugin}` not removed: {r}");
            }
            return Err(Skipped::new(
                path,
                codes::START_FAILED,
                Some(e.code()),
                format!(
                    "`{plugin}` loaded but did not start: [{}] {}",
                    e.code(),
                    e.message()
                ),
            ));
        }
    }
    host.discovered()
        .lock()
        .insert(path.to_owned(), plugin.clone());
    tracing::info!(
        target: "switchboard::discovery",
        "loaded `{plugin}` {version} from {}",
        path.display()
    );
    Ok(Discovered {
        path: path.to_owned(),
        plugin,
        version,
        started: options.start,
    })
}

/// Whether `path` was loaded by discovery and its plugin is still loaded: its name if so.
pub(crate) fn known_plugin(host: &Host, path: &Path) -> Option<String> {
    let name = host.discovered().lock().get(path).cloned()?;
    host.plugin(&name).is_ok().then_some(name)
}

/// The whole scan of every plugin directory.
pub(crate) fn discover(host: &Host, dirs: &[PathBuf], options: &DiscoverOptions) -> DiscoverReport {
    let mut report = DiscoverReport::default();
    let mut files: BTreeMap<PathBuf, FileKind> = BTreeMap::new();
    for dir in dirs {
        let dir = dir_key(dir);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                report.skipped.push(Skipped::new(
                    &dir,
                    codes::UNREADABLE_DIR,
                    None,
                    format!("the plugin directory cannot be read: {e}"),
                ));
                continue;
            }
        };
        for entry in entries {
            match entry {
                Ok(entry) => {
                    let path = entry.path();
                    let kind = kind_of(&path);
                    if kind != FileKind::Ignored {
                        let kind = match entry.file_type() {
                            Ok(t) if t.is_dir() => FileKind::Other,
                            _ => kind,
                        };
                        files.insert(path, kind);
                    }
                }
                Err(e) => report.skipped.push(Skipped::new(
                    &dir,
                    codes::UNREADABLE_DIR,
                    None,
                    format!("an entry of the plugin directory cannot be read: {e}"),
                )),
            }
        }
    }
    for (path, kind) in files {
        if known_plugin(host, &path).is_some() {
            report.known.push(path);
            continue;
        }
        match load_one(host, &path, kind, options) {
            Ok(d) => report.loaded.push(d),
            Err(s) => report.skipped.push(s),
        }
    }
    report.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    for skip in &report.skipped {
        record_skip(host, skip);
    }
    report
}

#[cfg(test)]
mod tests;
