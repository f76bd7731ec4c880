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
//!
//! Memory stays bounded whatever a plugin reports: a plugin has at most [`MAX_UNITS`]
//! distinct units ([`UnitLimit`]), and repeated reports of a unit in one call add up in one
//! pending entry instead of one each.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use switchboard_sdk::{codes, PluginError};

use crate::metrics::{CommandRecorder, PluginRecorder};

/// The most distinct usage units one plugin instance reports; a report of another unit is
/// refused (`SB1738`) rather than growing the host's counters, reports and stored rows.
pub(crate) const MAX_UNITS: usize = switchboard_sdk::stream::MAX_USAGE_UNITS;

/// The usage units one plugin instance has reported, up to [`MAX_UNITS`].
#[derive(Debug, Default)]
pub(crate) struct UnitLimit {
    units: Mutex<Vec<Box<str>>>,
}

impl UnitLimit {
    /// Admits `unit`: one already reported, or a new one while there is room.
    pub(crate) fn admit(&self, plugin: &str, unit: &str) -> Result<(), PluginError> {
        let mut units = self.units.lock();
        if units.iter().any(|u| &**u == unit) {
            return Ok(());
        }
        if units.len() >= MAX_UNITS {
            return Err(PluginError::with_code(
                codes::TOO_MANY_USAGE_UNITS,
                format!(
                    "`{plugin}` reported usage in {MAX_UNITS} units already; `{unit}` would be \
                     one more: not recorded"
                ),
            )
            .next_step("meter a few units (`tokens`, `requests`); put detail in a log line"));
        }
        units.push(unit.into());
        Ok(())
    }
}

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
        // A unit reported again in the same call adds to its entry (the entries of this
        // depth are at the end: deeper ones were settled when their calls returned).
        let same = p
            .iter_mut()
            .rev()
            .take_while(|e| e.depth >= depth)
            .find(|e| e.depth == depth && e.unit == unit && e.plugin == *plugin);
        if let Some(e) = same {
            e.amount = e.amount.saturating_add(amount);
            return;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pending_len() -> usize {
        COUNT.with(Cell::get)
    }

    #[test]
    fn repeated_reports_in_one_call_keep_one_entry_and_settle_to_their_sum() {
        let plugin: Arc<str> = "meter".into();
        let outer = super::super::inflight::enter(1);
        report(&plugin, "tokens", 5, None);
        {
            let _inner = super::super::inflight::enter(2);
            for _ in 0..10_000 {
                report(&plugin, "tokens", 1, None);
            }
            report(&plugin, "requests", 1, None);
            // One entry per unit at this depth, one below it: not one per report.
            assert_eq!(pending_len(), 3);
        }
        let mut inner = Usage::default();
        settle("meter", None, Some(&mut inner));
        assert_eq!(inner.get("tokens"), 10_000);
        assert_eq!(inner.get("requests"), 1);
        assert_eq!(pending_len(), 1);
        drop(outer);
        let mut outer_usage = Usage::default();
        settle("meter", None, Some(&mut outer_usage));
        assert_eq!(outer_usage.get("tokens"), 5);
        assert_eq!(pending_len(), 0);
    }

    #[test]
    fn a_plugin_gets_its_first_units_and_no_more() {
        let limit = UnitLimit::default();
        for i in 0..MAX_UNITS {
            limit.admit("meter", &format!("u{i}")).unwrap();
        }
        limit.admit("meter", "u0").unwrap();
        let e = limit.admit("meter", "one-more").unwrap_err();
        assert_eq!(e.code(), codes::TOO_MANY_USAGE_UNITS);
        assert!(e.to_string().contains("one-more"), "{e}");
    }
}
