//! Multi-window burn-rate alerts (the SRE workbook, "Alerting on SLOs", method 6).
//!
//! The *burn rate* over a window is the fraction of bad events in it divided by the fraction
//! the objective allows (`1 - target`): at 1 the budget lasts exactly the budget window, at
//! 14.4 a 30-day budget's 2% is gone in an hour. A rule fires when the burn rate reaches its
//! factor over both its long window (enough budget spent to matter) and its short window
//! (still happening), and resolves as soon as either drops below — which the short window
//! makes quick once the problem stops.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::metrics::store::CommandRow;

use super::policy::SloPolicy;

/// How urgent an alert is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// Wake someone: the budget burns fast.
    Page,
    /// Look at it during working hours: the budget burns slowly but surely.
    Ticket,
}

impl Severity {
    /// `page` or `ticket`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

/// Which objective an alert is about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Objective {
    /// The fraction of calls that succeed.
    Availability,
    /// The fraction of calls within the latency threshold.
    Latency,
}

impl Objective {
    /// Both objectives.
    pub const ALL: [Objective; 2] = [Objective::Availability, Objective::Latency];

    /// `availability` or `latency`.
    pub fn as_str(self) -> &'static str {
        match self {
            Objective::Availability => "availability",
            Objective::Latency => "latency",
        }
    }
}

/// One multi-window burn-rate rule.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct AlertRule {
    /// Its name (`page-1h`, `page-6h`, `ticket-3d`).
    pub name: &'static str,
    /// How urgent.
    pub severity: Severity,
    /// The burn rate both windows must reach.
    pub burn_rate: f64,
    /// The long window.
    pub long: Duration,
    /// The short window.
    pub short: Duration,
}

const MIN: u64 = 60;
const HOUR: u64 = 3600;

/// The SRE workbook's rules for a 30-day budget: page at 14.4× over 1 h and 5 min (2% of the
/// budget in an hour), page at 6× over 6 h and 30 min (5% in six hours), ticket at 1× over
/// 3 days and 6 h (10% in three days).
pub const RULES: [AlertRule; 3] = [
    AlertRule {
        name: "page-1h",
        severity: Severity::Page,
        burn_rate: 14.4,
        long: Duration::from_secs(HOUR),
        short: Duration::from_secs(5 * MIN),
    },
    AlertRule {
        name: "page-6h",
        severity: Severity::Page,
        burn_rate: 6.0,
        long: Duration::from_secs(6 * HOUR),
        short: Duration::from_secs(30 * MIN),
    },
    AlertRule {
        name: "ticket-3d",
        severity: Severity::Ticket,
        burn_rate: 1.0,
        long: Duration::from_secs(72 * HOUR),
        short: Duration::from_secs(6 * HOUR),
    },
];

/// The longest window any rule reads.
pub(crate) const LONGEST: Duration = Duration::from_secs(72 * HOUR);

/// Events and bad events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub total: u64,
    pub bad: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.total = self.total.saturating_add(other.total);
        self.bad = self.bad.saturating_add(other.bad);
    }

    /// The fraction of good events; `None` without events.
    pub fn good_fraction(self) -> Option<f64> {
        (self.total > 0).then(|| 1.0 - self.bad as f64 / self.total as f64)
    }

    /// The burn rate against `target` (0 without events).
    pub fn burn_rate(self, target: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        (self.bad as f64 / self.total as f64) / (1.0 - target)
    }
}

/// One stored bucket of a plugin, reduced to what the objectives need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Bucket {
    /// The bucket's end, Unix seconds.
    pub end: i64,
    pub availability: Tally,
    pub latency: Tally,
}

impl Bucket {
    pub fn tally(&self, objective: Objective) -> Tally {
        match objective {
            Objective::Availability => self.availability,
            Objective::Latency => self.latency,
        }
    }
}

/// One stored row reduced to what the objectives need. Latency counts calls whose time is
/// above the plugin's threshold as bad, from the histogram (whose count is the timed calls,
/// each weighted as the recorder sampled them).
pub(crate) fn summarize(row: &CommandRow, policy: &SloPolicy) -> Bucket {
    let objectives = policy.objectives(&row.plugin);
    let m = &row.metrics;
    let h = m.latency.histogram();
    let threshold = u64::try_from(objectives.latency.as_nanos()).unwrap_or(u64::MAX);
    let within = if h.is_empty() {
        0
    } else {
        h.count_between(0, threshold)
    };
    Bucket {
        end: row.start.saturating_add(row.resolution),
        availability: Tally {
            total: m.calls,
            bad: m.errors_total().min(m.calls),
        },
        latency: Tally {
            total: h.len(),
            bad: h.len().saturating_sub(within),
        },
    }
}

/// Each plugin's buckets, those ending at the same time (its commands) added together,
/// oldest first.
pub(crate) fn group<'a>(
    rows: impl IntoIterator<Item = (&'a str, Bucket)>,
) -> BTreeMap<String, Vec<Bucket>> {
    let mut by_plugin: BTreeMap<String, BTreeMap<i64, Bucket>> = BTreeMap::new();
    for (plugin, row) in rows {
        let b = by_plugin
            .entry(plugin.to_owned())
            .or_default()
            .entry(row.end)
            .or_insert(Bucket {
                end: row.end,
                ..Bucket::default()
            });
        b.availability.add(row.availability);
        b.latency.add(row.latency);
    }
    by_plugin
        .into_iter()
        .map(|(p, b)| (p, b.into_values().collect()))
        .collect()
}

/// [`summarize`] and [`group`] over `rows`.
pub(crate) fn buckets<'a>(
    rows: impl IntoIterator<Item = &'a CommandRow>,
    policy: &SloPolicy,
) -> BTreeMap<String, Vec<Bucket>> {
    group(
        rows.into_iter()
            .map(|r| (r.plugin.as_str(), summarize(r, policy))),
    )
}

/// The events of `objective` in buckets that overlap the `window` before `now`.
pub(crate) fn tally(buckets: &[Bucket], objective: Objective, now: i64, window: Duration) -> Tally {
    let from = now.saturating_sub(i64::try_from(window.as_secs()).unwrap_or(i64::MAX));
    let mut t = Tally::default();
    for b in buckets.iter().filter(|b| b.end > from) {
        t.add(b.tally(objective));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_rate_is_the_bad_fraction_over_the_allowed_one() {
        let t = Tally {
            total: 1000,
            bad: 10,
        };
        assert!((t.burn_rate(0.999) - 10.0).abs() < 1e-9);
        assert!((t.burn_rate(0.99) - 1.0).abs() < 1e-9);
        assert_eq!(Tally::default().burn_rate(0.999), 0.0);
        assert_eq!(Tally::default().good_fraction(), None);
    }

    #[test]
    fn windows_take_the_buckets_that_overlap_them() {
        let b = |end, bad| Bucket {
            end,
            availability: Tally { total: 10, bad },
            latency: Tally::default(),
        };
        let buckets = [b(60, 1), b(3600, 2), b(3660, 4)];
        let w = |secs| {
            tally(
                &buckets,
                Objective::Availability,
                3660,
                Duration::from_secs(secs),
            )
        };
        assert_eq!(w(60).bad, 4);
        assert_eq!(w(61).bad, 6);
        assert_eq!(
            w(3600).bad,
            6,
            "the bucket ending at 60 ends at the window's start"
        );
        assert_eq!(w(3601).bad, 7);
    }
}
