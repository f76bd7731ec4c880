//! The watcher: file-system events, debounced per file, turned into loads, reloads and
//! removals through the host's own APIs.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use notify::event::{EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher as _};

use super::{
    codes, dir_key, kind_of, known_plugin, load_one, record_skip, DiscoverOptions, DiscoveryError,
    FileKind, Skipped,
};
use crate::host::{Host, HostLink};

/// How long a file must be quiet (no event) before the watcher acts on it, by default: a
/// copy in progress is a burst of events that ends well within it.
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(300);

/// How often an idle watcher looks whether its host is still there.
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// Collects events per file and hands a file on once it has been quiet for the settle
/// time: a burst of events for one file becomes one action. Driven by the times given, so
/// it is tested without a clock.
#[derive(Debug)]
pub(crate) struct Debouncer {
    settle: Duration,
    /// Each file with events not yet acted on, and the time of its last one.
    pending: BTreeMap<PathBuf, Instant>,
}

impl Debouncer {
    pub(crate) fn new(settle: Duration) -> Self {
        Debouncer {
            settle,
            pending: BTreeMap::new(),
        }
    }

    /// An event for `path` at `at`: the file's quiet time starts again.
    pub(crate) fn event(&mut self, path: PathBuf, at: Instant) {
        if kind_of(&path) != FileKind::Ignored {
            self.pending.insert(path, at);
        }
    }

    /// The files quiet for the settle time at `now`, in path order; they are no longer
    /// pending.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<PathBuf> {
        let due: Vec<PathBuf> = self
            .pending
            .iter()
            .filter(|(_, last)| now.saturating_duration_since(**last) >= self.settle)
            .map(|(p, _)| p.clone())
            .collect();
        for p in &due {
            self.pending.remove(p);
        }
        due
    }

    /// When the next file becomes due, if any is pending.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.pending.values().min().map(|last| *last + self.settle)
    }
}

/// What the watcher does with a file that settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// A file not loaded before: load it (a non-plugin file is skipped with its code).
    Load(FileKind),
    /// A file loaded before, changed: hot-reload the plugin from it.
    Reload(String),
    /// A file loaded before, gone: stop and remove the plugin.
    Remove(String),
    /// Nothing to do.
    Nothing,
}

/// The watcher's decision for a settled file of `kind`, by whether it exists now and which
/// plugin discovery loaded from it (still loaded), if any.
pub(crate) fn decide(kind: FileKind, exists: bool, known: Option<String>) -> Action {
    match (exists, known) {
        (_, _) if kind == FileKind::Ignored => Action::Nothing,
        (true, Some(plugin)) => Action::Reload(plugin),
        (true, None) => Action::Load(kind),
        (false, Some(plugin)) => Action::Remove(plugin),
        (false, None) => Action::Nothing,
    }
}

/// Whether a file-system event can mean a file's content or presence changed (reads, which
/// the host's own loads make, cannot; nor metadata alone).
fn relevant(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Any
        | EventKind::Create(_)
        | EventKind::Modify(_)
        | EventKind::Remove(_)
        | EventKind::Other => true,
    }
}

/// Watches a host's plugin directories while it lives ([`Host::watch`](crate::Host::watch)).
/// Dropping it stops the watcher (and waits for an action under way to end); dropping the
/// host stops it too.
pub struct PluginWatcher {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Kept for its watches; dropped with the guard.
    _notifier: notify::RecommendedWatcher,
    dirs: Vec<PathBuf>,
}

impl std::fmt::Debug for PluginWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginWatcher")
            .field("dirs", &self.dirs)
            .finish_non_exhaustive()
    }
}

impl PluginWatcher {
    /// The directories watched.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Whether the watcher still runs: false once its host has been dropped.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for PluginWatcher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The last host clone may be dropped on the watcher's own thread: no self-join.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

type Events = Receiver<notify::Result<notify::Event>>;

/// Starts watching `dirs` for `host`.
pub(crate) fn start(
    host: &Host,
    dirs: &[PathBuf],
    settle: Duration,
) -> Result<PluginWatcher, DiscoveryError> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut notifier = notify::recommended_watcher(move |res| {
        // The thread is gone only when the guard is: nothing to tell then.
        let _ = tx.send(res);
    })
    .map_err(|e| DiscoveryError::Watch {
        path: PathBuf::new(),
        reason: e.to_string(),
    })?;
    let dirs: Vec<PathBuf> = dirs.iter().map(|d| dir_key(d)).collect();
    for dir in &dirs {
        notifier
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(|e| DiscoveryError::Watch {
                path: dir.clone(),
                reason: e.to_string(),
            })?;
    }
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    let link = host.link();
    let watched = dirs.clone();
    let thread = std::thread::Builder::new()
        .name("switchboard-watch".into())
        .spawn(move || run(&link, &watched, &rx, &stop_rx, settle))
        .map_err(|e| DiscoveryError::Watch {
            path: PathBuf::new(),
            reason: format!("no watcher thread: {e}"),
        })?;
    Ok(PluginWatcher {
        stop: Some(stop_tx),
        thread: Some(thread),
        _notifier: notifier,
        dirs,
    })
}

fn run(link: &HostLink, dirs: &[PathBuf], events: &Events, stop: &Receiver<()>, settle: Duration) {
    let mut debouncer = Debouncer::new(settle);
    loop {
        let wait = debouncer
            .next_due()
            .map(|at| at.saturating_duration_since(Instant::now()))
            .unwrap_or(IDLE_CHECK)
            .min(IDLE_CHECK);
        crossbeam_channel::select! {
            recv(stop) -> _ => return,
            recv(events) -> msg => match msg {
                Ok(Ok(event)) if relevant(&event.kind) => {
                    let now = Instant::now();
                    for path in event.paths {
                        if path.parent().is_some_and(|p| dirs.iter().any(|d| d == p)) {
                            debouncer.event(path, now);
                        }
                    }
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(
                    target: "switchboard::discovery",
                    "[{}] the watcher reported an error: {e}",
                    codes::WATCH_FAILED
                ),
                Err(_) => return,
            },
            default(wait) => {}
        }
        let due = debouncer.due(Instant::now());
        if due.is_empty() {
            if link.alive() {
                continue;
            }
            return;
        }
        let Some(host) = link.upgrade() else {
            return;
        };
        for path in due {
            // Plugin code is guarded where the host calls it; this keeps the watcher alive
            // whatever else goes wrong in one action.
            if std::panic::catch_unwind(AssertUnwindSafe(|| act(&host, &path))).is_err() {
                tracing::error!(
                    target: "switchboard::discovery",
                    "[{}] the watcher's action on {} panicked",
                    codes::ACTION_FAILED,
                    path.display()
                );
            }
        }
    }
}

/// What the watcher does with one settled file.
pub(crate) fn act(host: &Host, path: &Path) {
    let kind = kind_of(path);
    match decide(kind, path.exists(), known_plugin(host, path)) {
        Action::Load(kind) => {
            if let Err(skip) = load_one(host, path, kind, &DiscoverOptions::default()) {
                record_skip(host, &skip);
            }
        }
        Action::Reload(plugin) => match host.reload(&plugin, path) {
            Ok(r) => tracing::info!(
                target: "switchboard::discovery",
                "reloaded `{plugin}` {} -> {} from {}",
                r.from,
                r.to,
                path.display()
            ),
            Err(e) => record_skip(
                host,
                &Skipped::new(
                    path,
                    codes::ACTION_FAILED,
                    Some(e.code()),
                    format!(
                        "the reload of `{plugin}` failed: [{}] {}",
                        e.code(),
                        e.message()
                    ),
                ),
            ),
        },
        Action::Remove(plugin) => {
            host.discovered().lock().remove(path);
            match host.remove(&plugin) {
                Ok(()) => tracing::info!(
                    target: "switchboard::discovery",
                    "removed `{plugin}`: {} is gone",
                    path.display()
                ),
                Err(e) => record_skip(
                    host,
                    &Skipped::new(
                        path,
                        codes::ACTION_FAILED,
                        Some(e.code()),
                        format!(
                            "the removal of `{plugin}` failed: [{}] {}",
                            e.code(),
                            e.message()
                        ),
                    ),
                ),
            }
        }
        Action::Nothing => {}
    }
}
