//! The host's declared points and who contributes to them. Membership changes (a plugin
//! starting, stopping, failing, being reloaded) are rare and serialised; invocations read an
//! immutable snapshot per point, with no lock.
//!
//! A plugin's contributions are checked before its `start` hook runs and join after it
//! returned; in between they are *reserved*: the check and the reservation are one step under
//! the membership lock, and every later check counts the reservations, so of two plugins
//! starting at once with conflicting replacements (or items, or order constraints) exactly
//! one passes and the other is refused before its `start` runs.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use parking_lot::{Mutex, RwLock};
use switchboard_sdk::extend::HookKind;
use switchboard_sdk::ErrorCode;

use super::kind::{ErrorPolicy, PointKind, PointOptions};
use super::order::Ordered;
use super::ExtendError;
use crate::RawCommand;

/// The failures a point keeps for [`ExtensionPoint::failures`](super::ExtensionPoint::failures).
const KEEP_FAILURES: usize = 64;

/// Every point a host declares.
#[derive(Clone, Default)]
pub(crate) struct Points {
    inner: Arc<PointsInner>,
}

#[derive(Default)]
struct PointsInner {
    points: RwLock<BTreeMap<String, Arc<PointCore>>>,
    /// Held while contributions are reserved, join or leave, so a plugin's changes to several
    /// points are all or nothing, and a check and its reservation are one step.
    membership: Mutex<Reservations>,
}

/// Contributions, each with the point it goes to.
pub(crate) type Planned = Vec<(Arc<PointCore>, Arc<Entry>)>;

/// The contributions of plugins checked to start (or reload) whose contributions have not
/// joined yet.
#[derive(Default)]
struct Reservations {
    next_id: u64,
    held: Vec<Held>,
}

struct Held {
    id: u64,
    plugin: String,
    entries: Planned,
}

/// A plugin's contributions, checked and reserved until they join
/// ([`Points::replace_plugin`] takes the plugin's reservations) or the start gives up
/// (dropping this releases them).
pub(crate) struct Reservation {
    points: Points,
    id: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.points
            .inner
            .membership
            .lock()
            .held
            .retain(|h| h.id != self.id);
    }
}

impl std::fmt::Debug for Points {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Points")
            .field("points", &self.names())
            .finish()
    }
}

/// One declared point.
pub(crate) struct PointCore {
    pub(crate) name: String,
    /// The name again, shared with the wrappers running on it.
    pub(crate) name_arc: Arc<str>,
    pub(crate) kind: PointKind,
    pub(crate) input: &'static str,
    pub(crate) output: &'static str,
    pub(crate) policy: ErrorPolicy,
    pub(crate) timeout: Option<Duration>,
    /// How many contributions the snapshot holds: 0 means an invocation does nothing more.
    pub(crate) live: AtomicUsize,
    pub(crate) snapshot: ArcSwap<Snapshot>,
    pub(crate) failures: Mutex<VecDeque<Failure>>,
}

/// A point's contributions, each list in running order.
#[derive(Default, Clone)]
pub(crate) struct Snapshot {
    /// `before` hooks of an operation.
    pub(crate) before: Vec<Arc<Entry>>,
    /// `wrap` hooks of an operation, outermost first.
    pub(crate) wrap: Vec<Arc<Entry>>,
    /// The contributions of every other kind (an operation's replacement).
    pub(crate) main: Vec<Arc<Entry>>,
    /// `after` hooks of an operation.
    pub(crate) after: Vec<Arc<Entry>>,
}

impl Snapshot {
    fn all(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.before
            .iter()
            .chain(&self.wrap)
            .chain(&self.main)
            .chain(&self.after)
    }
}

/// One contribution: a plugin's hook, and the command that serves it.
pub(crate) struct Entry {
    pub(crate) plugin: Arc<str>,
    pub(crate) command: Arc<str>,
    pub(crate) kind: HookKind,
    pub(crate) priority: i32,
    pub(crate) before: Vec<String>,
    pub(crate) after: Vec<String>,
    pub(crate) call: RawCommand,
    /// Whether the plugin runs isolated (its calls can be held to the point's timeout).
    pub(crate) isolated: bool,
    /// Failures in a row (for `DisableAfter`).
    pub(crate) in_a_row: AtomicU32,
    pub(crate) failures: AtomicU64,
    pub(crate) disabled: AtomicBool,
}

impl Ordered for Arc<Entry> {
    fn plugin(&self) -> &str {
        &self.plugin
    }
    fn command(&self) -> &str {
        &self.command
    }
    fn priority(&self) -> i32 {
        self.priority
    }
    fn before(&self) -> &[String] {
        &self.before
    }
    fn after(&self) -> &[String] {
        &self.after
    }
}

/// One recorded failure of a contribution.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// The plugin.
    pub plugin: String,
    /// The command serving the contribution.
    pub command: String,
    /// The error's code (`SB0101` for a panic, `SB1712` for an overrun, the plugin's own…).
    pub code: ErrorCode,
    /// The error's message.
    pub message: String,
    /// Whether this failure disabled the contribution.
    pub disabled: bool,
    /// When.
    pub at: SystemTime,
}

impl Points {
    pub(crate) fn get(&self, name: &str) -> Option<Arc<PointCore>> {
        self.inner.points.read().get(name).cloned()
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.inner.points.read().keys().cloned().collect()
    }

    /// Declares a point, or returns the one declared under `name` if it is the same.
    pub(crate) fn declare(
        &self,
        name: &str,
        kind: PointKind,
        input: &'static str,
        output: &'static str,
        options: &PointOptions,
    ) -> Result<Arc<PointCore>, ExtendError> {
        let bad = |reason: &str| ExtendError::BadDeclaration {
            point: name.to_owned(),
            reason: reason.to_owned(),
        };
        if !valid_point_name(name) {
            return Err(bad(
                "a point's name is dot-separated segments of ASCII letters, digits, `-` and `_`",
            ));
        }
        if kind == PointKind::Filter && input != output {
            return Err(bad(&format!(
                "a filter threads one value through its contributions, so it takes and returns \
                 one type; `{input}` and `{output}` differ"
            )));
        }
        let mut points = self.inner.points.write();
        if let Some(existing) = points.get(name) {
            if existing.kind == kind
                && existing.input == input
                && existing.output == output
                && existing.policy == options.policy
                && existing.timeout == options.timeout
            {
                return Ok(existing.clone());
            }
            return Err(ExtendError::Redeclared {
                point: name.to_owned(),
                kind: existing.kind.as_str(),
                input: existing.input.to_owned(),
                output: existing.output.to_owned(),
            });
        }
        let core = Arc::new(PointCore {
            name: name.to_owned(),
            name_arc: name.into(),
            kind,
            input,
            output,
            policy: options.policy,
            timeout: options.timeout,
            live: AtomicUsize::new(0),
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            failures: Mutex::new(VecDeque::new()),
        });
        points.insert(name.to_owned(), core.clone());
        Ok(core)
    }

    /// Checks that `entries` (all of `plugin`'s contributions) can join their points, counting
    /// the contributions in place and those other plugins reserved, and reserves them, in one
    /// step; changes no point.
    pub(crate) fn reserve(
        &self,
        plugin: &str,
        entries: Planned,
    ) -> Result<Reservation, ExtendError> {
        let mut membership = self.inner.membership.lock();
        self.plan(plugin, &entries, &membership)?;
        let id = membership.next_id;
        membership.next_id += 1;
        membership.held.push(Held {
            id,
            plugin: plugin.to_owned(),
            entries,
        });
        Ok(Reservation {
            points: self.clone(),
            id,
        })
    }

    /// Puts `entries` (all of one plugin's contributions, possibly none) in place of that
    /// plugin's contributions, in every point, or changes nothing and says why. The plugin's
    /// reservations are taken either way.
    pub(crate) fn replace_plugin(&self, plugin: &str, entries: Planned) -> Result<(), ExtendError> {
        let mut membership = self.inner.membership.lock();
        let planned = self.plan(plugin, &entries, &membership);
        membership.held.retain(|h| h.plugin != plugin);
        for (point, next) in planned? {
            let count = next.before.len() + next.wrap.len() + next.main.len() + next.after.len();
            point.snapshot.store(Arc::new(next));
            point.live.store(count, Ordering::Release);
        }
        Ok(())
    }

    /// The snapshots of the points `plugin`'s `entries` change, with them in place of its
    /// contributions; an error if they conflict with, or make a cycle with, the contributions
    /// in place or reserved by another plugin (which the snapshots leave out).
    fn plan(
        &self,
        plugin: &str,
        entries: &[(Arc<PointCore>, Arc<Entry>)],
        membership: &Reservations,
    ) -> Result<Vec<(Arc<PointCore>, Snapshot)>, ExtendError> {
        let points: Vec<Arc<PointCore>> = self.inner.points.read().values().cloned().collect();
        let mut planned = Vec::new();
        for point in points {
            let old = point.snapshot.load();
            let of_point = |list: &mut dyn Iterator<Item = &(Arc<PointCore>, Arc<Entry>)>| {
                list.filter(|(p, _)| Arc::ptr_eq(p, &point))
                    .map(|(_, e)| e.clone())
                    .collect::<Vec<_>>()
            };
            let mine = of_point(&mut entries.iter());
            let had = old.all().any(|e| &*e.plugin == plugin);
            if mine.is_empty() && !had {
                continue;
            }
            let keep = |list: &[Arc<Entry>]| -> Vec<Arc<Entry>> {
                list.iter()
                    .filter(|e| &*e.plugin != plugin)
                    .cloned()
                    .collect()
            };
            let others = Snapshot {
                before: keep(&old.before),
                wrap: keep(&old.wrap),
                main: keep(&old.main),
                after: keep(&old.after),
            };
            let reserved = of_point(
                &mut membership
                    .held
                    .iter()
                    .filter(|h| h.plugin != plugin)
                    .flat_map(|h| &h.entries),
            );
            if !reserved.is_empty() && !mine.is_empty() {
                joined(&point, others.clone(), &reserved, &mine)?;
            }
            planned.push((point.clone(), joined(&point, others, &[], &mine)?));
        }
        Ok(planned)
    }
}

/// `base` with `also` (taken as they are) and `mine` (each checked against what is there)
/// added, each list in order; an error for a conflict or a cycle.
fn joined(
    point: &PointCore,
    base: Snapshot,
    also: &[Arc<Entry>],
    mine: &[Arc<Entry>],
) -> Result<Snapshot, ExtendError> {
    let Snapshot {
        mut before,
        mut wrap,
        mut main,
        mut after,
    } = base;
    for (i, e) in also.iter().chain(mine).enumerate() {
        if i >= also.len() {
            conflicts(point, &main, e)?;
        }
        match e.kind {
            HookKind::Before => before.push(e.clone()),
            HookKind::Wrap => wrap.push(e.clone()),
            HookKind::After => after.push(e.clone()),
            _ => main.push(e.clone()),
        }
    }
    let sorted = |list: Vec<Arc<Entry>>| {
        super::order::order(list).map_err(|path| ExtendError::Cycle {
            point: point.name.clone(),
            path: path.join(" → "),
        })
    };
    Ok(Snapshot {
        before: sorted(before)?,
        wrap: sorted(wrap)?,
        main: sorted(main)?,
        after: sorted(after)?,
    })
}

/// A replacement or registry item that another plugin holds already.
fn conflicts(point: &PointCore, main: &[Arc<Entry>], new: &Entry) -> Result<(), ExtendError> {
    match new.kind {
        HookKind::Replace => match main.iter().find(|e| e.kind == HookKind::Replace) {
            Some(holder) => Err(ExtendError::ReplaceConflict {
                plugin: new.plugin.to_string(),
                point: point.name.clone(),
                holder: holder.plugin.to_string(),
            }),
            None => Ok(()),
        },
        HookKind::Register => match main.iter().find(|e| e.command == new.command) {
            Some(holder) => Err(ExtendError::RegistryConflict {
                plugin: new.plugin.to_string(),
                point: point.name.clone(),
                item: new.command.to_string(),
                holder: holder.plugin.to_string(),
            }),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Whether `s` is dot-separated segments of ASCII letters, digits, `-` and `_`.
pub(crate) fn valid_point_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl PointCore {
    /// A contribution failed with `error`: recorded, and under the point's policy either
    /// the invocation's error (`Err`) or skipped (`Ok`).
    #[cold]
    pub(crate) fn failed(&self, entry: &Entry, error: ExtendError) -> Result<(), ExtendError> {
        entry.failures.fetch_add(1, Ordering::Relaxed);
        let in_a_row = entry
            .in_a_row
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let disable = matches!(self.policy, ErrorPolicy::DisableAfter(n) if in_a_row >= n);
        if disable {
            entry.disabled.store(true, Ordering::Relaxed);
        }
        let message = match &error {
            ExtendError::Contribution { source, .. } => source.to_string(),
            other => other.to_string(),
        };
        let code = match &error {
            ExtendError::Contribution { source, .. } => source.code(),
            other => other.code(),
        };
        tracing::warn!(
            target: "switchboard::extend",
            "`{}`: contribution `{}`/`{}` failed ({code}): {message}{}",
            self.name,
            entry.plugin,
            entry.command,
            if disable { "; disabled" } else { "" }
        );
        let mut failures = self.failures.lock();
        if failures.len() == KEEP_FAILURES {
            failures.pop_front();
        }
        failures.push_back(Failure {
            plugin: entry.plugin.to_string(),
            command: entry.command.to_string(),
            code,
            message,
            disabled: disable,
            at: SystemTime::now(),
        });
        drop(failures);
        match self.policy {
            ErrorPolicy::Propagate => Err(error),
            ErrorPolicy::Skip | ErrorPolicy::DisableAfter(_) => Ok(()),
        }
    }
}
