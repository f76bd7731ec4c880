//! What [`Host::metrics`](crate::Host::metrics) returns: every counter and histogram at one
//! moment, with the percentiles people ask for, the difference between two moments, and the
//! Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use super::histogram;
use super::names;

/// Every plugin's metrics at one moment ([`Host::metrics`](crate::Host::metrics)).
///
/// Counters count from when the host started (or, for a snapshot made with
/// [`since`](MetricsSnapshot::since), between two snapshots).
///
/// # Example
///
/// ```no_run
/// # fn demo(host: &switchboard_host::Host) {
/// let snapshot = host.metrics();
/// for (plugin, m) in &snapshot.plugins {
///     for (command, c) in &m.commands {
///         println!(
///             "{plugin}.{command}: {} calls, {} errors, p99 {:?}",
///             c.calls,
///             c.errors_total(),
///             c.latency.p99()
///         );
///     }
/// }
/// print!("{}", snapshot.to_prometheus());
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// When it was taken.
    pub taken_at: SystemTime,
    /// Each plugin's metrics, by name.
    pub plugins: BTreeMap<String, PluginMetrics>,
}

/// One plugin's metrics.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PluginMetrics {
    /// Each command's metrics (services' methods included), by name.
    pub commands: BTreeMap<String, CommandMetrics>,
    /// Events its subscriptions delivered to its handlers.
    pub events_delivered: u64,
    /// Events its subscriptions dropped (overflow, expiry, a batch cut short).
    pub events_dropped: u64,
    /// Times its isolated runner was restarted after exiting.
    pub restarts: u64,
    /// Hot reloads that succeeded.
    pub reloads: u64,
    /// Panics caught in its commands.
    pub panics: u64,
    /// Usage it reported outside any command call (from its own threads or event
    /// handlers), by unit; `-` as the command in the Prometheus text and in storage.
    pub usage_outside_calls: BTreeMap<String, u64>,
}

impl PluginMetrics {
    /// Its usage in all, by unit: every command's and that outside calls, added up
    /// (saturating).
    pub fn usage_total(&self) -> BTreeMap<String, u64> {
        let mut total = self.usage_outside_calls.clone();
        for c in self.commands.values() {
            for (unit, n) in &c.usage {
                let t = total.entry(unit.clone()).or_default();
                *t = t.saturating_add(*n);
            }
        }
        total
    }
}

/// One command's metrics.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CommandMetrics {
    /// Calls made, failed ones included.
    pub calls: u64,
    /// Failed calls by error code (`"SB0305"`, or the plugin's own code).
    pub errors: BTreeMap<String, u64>,
    /// How long calls took.
    pub latency: Latency,
    /// Usage its calls reported (`ctx.usage`), by unit (SPEC S1.6).
    pub usage: BTreeMap<String, u64>,
}

impl CommandMetrics {
    /// Failed calls, every code together.
    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// A latency distribution: an HDR histogram of nanoseconds.
///
/// Calls shorter than a few microseconds are timed one in 64, each timed call counting for
/// 64 (reading the clock costs more than such a call); longer ones are all timed. Values are
/// within about 3% of the measured ones.
#[derive(Debug, Clone)]
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            histogram: histogram::empty(),
        }
    }
}

impl Latency {
    pub(crate) fn from_histogram(histogram: Histogram<u64>) -> Latency {
        Latency { histogram }
    }

    /// The latency under which a fraction `q` (0.0–1.0) of calls finished; zero with none.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.histogram.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.histogram.value_at_quantile(q.clamp(0.0, 1.0)))
    }

    /// The median.
    pub fn p50(&self) -> Duration {
        self.quantile(0.50)
    }

    /// The 95th percentile.
    pub fn p95(&self) -> Duration {
        self.quantile(0.95)
    }

    /// The 99th percentile.
    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }

    /// The longest.
    pub fn max(&self) -> Duration {
        if self.histogram.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.histogram.max())
    }

    /// The calls the distribution stands for.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Their total time (the mean times the count).
    pub fn sum(&self) -> Duration {
        Duration::from_secs_f64(self.histogram.mean() * self.count() as f64 / 1e9)
    }

    /// The underlying histogram, in nanoseconds.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.histogram
    }

    /// What was recorded after `earlier` (a histogram of the same command, taken before).
    fn since(&self, earlier: &Latency) -> Latency {
        let mut h = self.histogram.clone();
        if h.subtract(&earlier.histogram).is_err() {
            // `earlier` is not a prefix of this one (the host was restarted between the
            // two): everything here happened after it.
            h = self.histogram.clone();
        }
        Latency { histogram: h }
    }
}

impl MetricsSnapshot {
    /// What happened between `earlier` and this snapshot: counters subtracted, histograms
    /// subtracted. A counter lower than its earlier value (the host restarted between the
    /// two) counts from zero.
    pub fn since(&self, earlier: &MetricsSnapshot) -> MetricsSnapshot {
        let empty = PluginMetrics::default();
        let plugins = self
            .plugins
            .iter()
            .map(|(name, now)| {
                let before = earlier.plugins.get(name).unwrap_or(&empty);
                (name.clone(), now.since(before))
            })
            .collect();
        MetricsSnapshot {
            taken_at: self.taken_at,
            plugins,
        }
    }

    /// The snapshot in the Prometheus text exposition format (version 0.0.4): counters
    /// `switchboard_plugin_*_total`, latency as a summary in seconds with quantiles 0.5,
    /// 0.95 and 0.99. Names and labels are listed in `docs/architecture.md` ("Metrics").
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, rows: &mut dyn FnMut(&mut String)| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            rows(&mut out);
        };
        family(
            names::CALLS,
            "counter",
            "Calls of a plugin's command.",
            &mut |o| {
                self.each_command(|p, c, m| row(o, names::CALLS, &[p, c], &[], m.calls));
            },
        );
        family(
            names::ERRORS,
            "counter",
            "Failed calls by error code.",
            &mut |o| {
                self.each_command(|p, c, m| {
                    for (code, n) in &m.errors {
                        row(o, names::ERRORS, &[p, c], &[("code", code)], *n);
                    }
                });
            },
        );
        family(
            names::LATENCY,
            "summary",
            "How long calls took, in seconds.",
            &mut |o| {
                self.each_command(|p, c, m| {
                    for q in [0.5, 0.95, 0.99] {
                        let v = m.latency.quantile(q).as_secs_f64();
                        let q = q.to_string();
                        let labels = labels(&[p, c], &[("quantile", &q)]);
                        let _ = writeln!(o, "{}{labels} {v}", names::LATENCY);
                    }
                    let labels = labels(&[p, c], &[]);
                    let sum = m.latency.sum().as_secs_f64();
                    let _ = writeln!(o, "{}_sum{labels} {sum}", names::LATENCY);
                    let _ = writeln!(o, "{}_count{labels} {}", names::LATENCY, m.latency.count());
                });
            },
        );
        family(
            names::USAGE,
            "counter",
            "Usage plugins reported for metering, by unit (command `-`: outside any call).",
            &mut |o| {
                for (p, m) in &self.plugins {
                    for (c, cm) in &m.commands {
                        for (unit, n) in &cm.usage {
                            row(o, names::USAGE, &[p, c], &[("unit", unit)], *n);
                        }
                    }
                    for (unit, n) in &m.usage_outside_calls {
                        row(o, names::USAGE, &[p, "-"], &[("unit", unit)], *n);
                    }
                }
            },
        );
        type Read = fn(&PluginMetrics) -> u64;
        let per_plugin: [(&str, &str, Read); 5] = [
            (
                names::EVENTS_DELIVERED,
                "Events delivered to a plugin's handlers.",
                |m| m.events_delivered,
            ),
            (
                names::EVENTS_DROPPED,
                "Events a plugin's subscriptions dropped.",
                |m| m.events_dropped,
            ),
            (
                names::RESTARTS,
                "Restarts of a plugin's isolated runner.",
                |m| m.restarts,
            ),
            (names::RELOADS, "Hot reloads of a plugin.", |m| m.reloads),
            (
                names::PANICS,
                "Panics caught in a plugin's commands.",
                |m| m.panics,
            ),
        ];
        for (name, help, value) in per_plugin {
            family(name, "counter", help, &mut |o| {
                for (p, m) in &self.plugins {
                    let labels = labels(&[p], &[]);
                    let _ = writeln!(o, "{name}{labels} {}", value(m));
                }
            });
        }
        out
    }

    fn each_command(&self, mut f: impl FnMut(&str, &str, &CommandMetrics)) {
        for (p, m) in &self.plugins {
            for (c, cm) in &m.commands {
                f(p, c, cm);
            }
        }
    }
}

impl PluginMetrics {
    fn since(&self, earlier: &PluginMetrics) -> PluginMetrics {
        let empty = CommandMetrics::default();
        PluginMetrics {
            commands: self
                .commands
                .iter()
                .map(|(name, now)| {
                    let before = earlier.commands.get(name).unwrap_or(&empty);
                    let reset = now.calls < before.calls;
                    let before = if reset { &empty } else { before };
                    let errors = now
                        .errors
                        .iter()
                        .map(|(code, n)| {
                            let b = before.errors.get(code).copied().unwrap_or(0);
                            (code.clone(), n.checked_sub(b).unwrap_or(*n))
                        })
                        .filter(|(_, n)| *n > 0)
                        .collect();
                    let m = CommandMetrics {
                        calls: now.calls - before.calls,
                        errors,
                        latency: now.latency.since(&before.latency),
                        usage: usage_since(&now.usage, &before.usage),
                    };
                    (name.clone(), m)
                })
                .collect(),
            events_delivered: delta(self.events_delivered, earlier.events_delivered),
            events_dropped: delta(self.events_dropped, earlier.events_dropped),
            restarts: delta(self.restarts, earlier.restarts),
            reloads: delta(self.reloads, earlier.reloads),
            panics: delta(self.panics, earlier.panics),
            usage_outside_calls: usage_since(
                &self.usage_outside_calls,
                &earlier.usage_outside_calls,
            ),
        }
    }
}

/// Usage counted after `before` (per unit as [`delta`]); units with nothing new left out.
fn usage_since(
    now: &BTreeMap<String, u64>,
    before: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    now.iter()
        .map(|(unit, n)| {
            (
                unit.clone(),
                delta(*n, before.get(unit).copied().unwrap_or(0)),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// `now - before`, or `now` if the counter went back (it restarted from zero in between).
fn delta(now: u64, before: u64) -> u64 {
    now.checked_sub(before).unwrap_or(now)
}

/// `{plugin="…",command="…",extra="…"}`, values escaped as the format requires.
fn labels(ids: &[&str], extra: &[(&str, &str)]) -> String {
    let keys = ["plugin", "command"];
    let pairs = keys
        .iter()
        .zip(ids)
        .map(|(k, v)| (*k, *v))
        .chain(extra.iter().copied());
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"");
        for ch in v.chars() {
            match ch {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

fn row(out: &mut String, name: &str, ids: &[&str], extra: &[(&str, &str)], value: u64) {
    let _ = writeln!(out, "{name}{} {value}", labels(ids, extra));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(calls: u64, errors: u64, panics: u64) -> MetricsSnapshot {
        let mut latency = histogram::empty();
        latency.record_n(1_000, calls).unwrap();
        let command = CommandMetrics {
            calls,
            errors: [("SB0305".to_owned(), errors)].into_iter().collect(),
            latency: Latency::from_histogram(latency),
            usage: [("tokens".to_owned(), calls * 10)].into_iter().collect(),
        };
        let plugin = PluginMetrics {
            commands: [("go \"fast\"\n\\".to_owned(), command)]
                .into_iter()
                .collect(),
            panics,
            ..PluginMetrics::default()
        };
        MetricsSnapshot {
            taken_at: SystemTime::UNIX_EPOCH,
            plugins: [("p".to_owned(), plugin)].into_iter().collect(),
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let text = snapshot(3, 1, 0).to_prometheus();
        let line = format!(
            "{}{{plugin=\"p\",command=\"go \\\"fast\\\"\\n\\\\\"}} 3",
            names::CALLS
        );
        assert!(text.contains(&line), "{text}");
        assert_eq!(
            text.lines().filter(|l| l.starts_with(names::CALLS)).count(),
            1
        );
    }

    #[test]
    fn since_subtracts_and_restarts_count_from_zero() {
        let d = snapshot(10, 4, 2).since(&snapshot(7, 1, 1));
        let c = &d.plugins["p"].commands["go \"fast\"\n\\"];
        assert_eq!((c.calls, c.errors_total(), c.latency.count()), (3, 3, 3));
        assert_eq!(d.plugins["p"].panics, 1);
        assert_eq!(c.usage["tokens"], 30);
        // A later snapshot lower than an earlier one: the host restarted in between.
        let d = snapshot(2, 1, 0).since(&snapshot(7, 3, 1));
        let c = &d.plugins["p"].commands["go \"fast\"\n\\"];
        assert_eq!((c.calls, c.errors_total(), c.latency.count()), (2, 1, 2));
        assert_eq!(d.plugins["p"].panics, 0);
    }

    #[test]
    fn usage_is_a_counter_per_plugin_command_and_unit() {
        let mut snap = snapshot(3, 0, 0);
        if let Some(p) = snap.plugins.get_mut("p") {
            p.usage_outside_calls.insert("tokens".into(), 5);
        }
        let text = snap.to_prometheus();
        assert!(
            text.contains(&format!("# TYPE {} counter", names::USAGE)),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "{}{{plugin=\"p\",command=\"-\",unit=\"tokens\"}} 5",
                names::USAGE
            )),
            "{text}"
        );
        assert_eq!(snap.plugins["p"].usage_total()["tokens"], 35);
    }

    #[test]
    fn an_empty_latency_reads_as_zero() {
        let l = Latency::default();
        assert_eq!(
            (l.p50(), l.p99(), l.max(), l.count()),
            (Duration::ZERO, Duration::ZERO, Duration::ZERO, 0)
        );
        assert_eq!(l.sum(), Duration::ZERO);
    }
}
