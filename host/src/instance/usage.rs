//! Usage a plugin reports (`ctx.usage("tokens", n)`, SPEC S1.6), attributed to the call it was
//! reported in.
//!
//! A plugin's context is one per instance, not per call, so the host tells calls apart by
//! thread: a command runs on the thread that called it (in-process, and isolated too — the
//! runner's service requests are served on the caller's thread), and `inflight` already
//! knows how many calls deep each thread is. A report is filed in a per-thread list under
//! that depth; when a call returns, the entries above its depth are its own (or, for another
//! plugin's deeper entries a path did not settle, that plugin's usage outside a command).
//! A call that reports nothing pays one thread-local read to learn so.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::metrics::{CommandRecorder, PluginRecorder};

/// Usage figures reported in one call (or summed over many): amounts by unit.
///
/// # Example
///
/// ```no_run
/// # fn demo(host: &switchboard_host::Host) -> Result<(), switchboard_host::Error> {
/// let words = host.plugin("streamer")?.command::<u64, String>("words")?;
/// let outcome = words.call_metered(&12)?;
/// assert_eq!(outcome.usage.get("words"), 12);
/// for (unit, amount) in outcome.usage.iter() {
///     println!("{unit}: {amount}");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    units: BTreeMap<String, u64>,
}

impl Usage {
    /// The amount of `unit` (0 if none was reported).
    pub fn get(&self, unit: &str) -> u64 {
        self.units.get(unit).copied().unwrap_or(0)
    }

    /// Every unit and its amount, by unit name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.units.iter().map(|(u, a)| (u.as_str(), *a))
    }

    /// Whether nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// The amounts by unit.
    pub fn as_map(&self) -> &BTreeMap<String, u64> {
        &self.units
    }

    /// Adds `amount` of `unit`, saturating.
    pub(crate) fn add(&mut self, unit: &str, amount: u64) {
        match self.units.get_mut(unit) {
            Some(total) => *total = total.saturating_add(amount),
            None => {
                self.units.insert(unit.to_owned(), amount);
            }
        }
    }
}

/// One report not yet settled.
struct Pending {
    /// The call depth of the thread when it was reported.
    depth: usize,
    plugin: Arc<str>,
    unit: String,
    amount: u64,
    /// Where the plugin's usage outside a command is counted, if it ever has to be.
    recorder: Option<Arc<PluginRecorder>>,
}

thread_local! {
    static PENDING: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
    /// `PENDING`'s length, read by every call without borrowing the list.
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

/// Files a report from plugin `plugin` on this thread. Outside any command call, it is
/// counted at once as the plugin's usage outside a command.
pub(crate) fn report(
    plugin: &Arc<str>,
    unit: &str,
    amount: u64,
    recorder: Option<&Arc<PluginRecorder>>,
) {
    let depth = super::inflight::depth();
    if depth == 0 {
        if let Some(r) = recorder {
            r.add_usage_outside(unit, amount);
        }
        return;
    }
    let _ = PENDING.try_with(|p| {
        let mut p = p.borrow_mut();
        p.push(Pending {
            depth,
            plugin: plugin.clone(),
            unit: unit.to_owned(),
            amount,
            recorder: recorder.cloned(),
        });
        COUNT.set(p.len());
    });
}

/// Whether this thread holds reports not yet settled: the one check every call makes.
#[inline]
pub(crate) fn pending() -> bool {
    COUNT.try_with(Cell::get).unwrap_or(0) != 0
}

/// Settles the reports a call into `plugin` made, now that it returned (the thread is back at
/// its depth from before the call): its own go to `into` and `command`'s recorder; another
/// plugin's deeper ones to that plugin's usage outside a command.
#[cold]
pub(crate) fn settle(
    plugin: &str,
    command: Option<&CommandRecorder>,
    mut into: Option<&mut Usage>,
) {
    let depth = super::inflight::depth();
    let taken: Vec<Pending> = PENDING
        .try_with(|p| {
            let mut p = p.borrow_mut();
            let (taken, kept): (Vec<Pending>, Vec<Pending>) =
                p.drain(..).partition(|e| e.depth > depth);
            *p = kept;
            COUNT.set(p.len());
            taken
        })
        .unwrap_or_default();
    for e in taken {
        if &*e.plugin == plugin {
            if let Some(c) = command {
                c.add_usage(&e.unit, e.amount);
            }
            if let Some(u) = into.as_deref_mut() {
                u.add(&e.unit, e.amount);
            }
        } else if let Some(r) = &e.recorder {
            r.add_usage_outside(&e.unit, e.amount);
        }
    }
}
