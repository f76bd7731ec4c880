//! What the host does on each metrics tick: write the delta since the last tick, apply
//! retention, evaluate the burn-rate rules, and announce each alert transition once — on the
//! bus (`system.slo.alert`), in the audit log (kind `slo`) and in `slo_alerts`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use rusqlite::params;

use super::burn::{self, Bucket, Objective, Severity, RULES};
use super::clock::Clock;
use super::policy::SloPolicy;
use crate::audit::{AuditEvent, AuditKind, AuditLog};
use crate::metrics::store::{self, unix_secs, Retention, RowKey};
use crate::metrics::{MetricsError, MetricsSnapshot};
use crate::store::Store;
use crate::timestamp::Timestamp;

/// The topic alert transitions are published on, with a JSON [`SloAlert`] as payload.
pub const ALERT_TOPIC: &str = "system.slo.alert";

/// Whether an alert started or stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum AlertState {
    /// The rule's condition holds.
    Firing,
    /// It no longer does.
    Resolved,
}

/// An alert transition: what is published on [`ALERT_TOPIC`], audited, and listed in the
/// report.
///
/// The JSON form (the bus payload):
///
/// ```json
/// {"plugin":"hello","objective":"availability","rule":"page-1h","severity":"page",
///  "state":"firing","at":"2026-12-02T22:00:00.000Z","target":0.999,"threshold":14.4,
///  "burn_rate_long":52.0,"burn_rate_short":100.0,
///  "long_window_secs":3600,"short_window_secs":300}
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct SloAlert {
    /// The plugin.
    pub plugin: String,
    /// The objective.
    pub objective: Objective,
    /// The rule's name ([`RULES`](super::RULES)).
    pub rule: String,
    /// How urgent.
    pub severity: Severity,
    /// Started or stopped.
    pub state: AlertState,
    /// When, by the host's clock.
    pub at: Timestamp,
    /// The objective's target (e.g. 0.999).
    pub target: f64,
    /// The burn rate both windows had to reach.
    pub threshold: f64,
    /// The burn rate over the long window.
    pub burn_rate_long: f64,
    /// The burn rate over the short window.
    pub burn_rate_short: f64,
    /// The long window, in seconds.
    pub long_window_secs: u64,
    /// The short window, in seconds.
    pub short_window_secs: u64,
}

type AlertKey = (String, Objective, &'static str);

/// A host's metrics persistence and SLO evaluation.
#[derive(Debug)]
pub(crate) struct Monitor {
    clock: Arc<dyn Clock>,
    retention: Retention,
    policy: SloPolicy,
    /// The snapshot last written: the next write is the difference from it.
    written: Mutex<Option<MetricsSnapshot>>,
    /// Held for the whole of a tick.
    ticking: Mutex<()>,
    /// Which alerts fire (read from `slo_alerts` on first use).
    firing: Mutex<Option<BTreeMap<AlertKey, bool>>>,
    /// The rows of the longest window, reduced to what the objectives need.
    summaries: Mutex<Summaries>,
}

/// Stored rows already reduced to what the objectives need, so that a tick reads back only
/// the minutes written and the hours compaction wrote since the last one. This host is the
/// only writer of its database's metrics.
#[derive(Debug, Default)]
struct Summaries {
    /// Whether `rows` holds every row of the window.
    complete: bool,
    /// Minute buckets written since the last evaluation.
    dirty: BTreeSet<i64>,
    /// Hour buckets a compaction wrote since the last evaluation.
    dirty_hours: BTreeSet<i64>,
    rows: BTreeMap<RowKey, Bucket>,
}

impl Monitor {
    pub(crate) fn new(clock: Arc<dyn Clock>, retention: Retention, policy: SloPolicy) -> Monitor {
        Monitor {
            clock,
            retention,
            policy,
            written: Mutex::new(None),
            ticking: Mutex::new(()),
            firing: Mutex::new(None),
            summaries: Mutex::new(Summaries::default()),
        }
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    pub(crate) fn policy(&self) -> &SloPolicy {
        &self.policy
    }

    /// Writes what `now` holds beyond the last snapshot written, under the clock's minute.
    /// On failure nothing is marked written, so the next write carries it.
    pub(crate) fn persist(&self, store: &Store, now: MetricsSnapshot) -> Result<(), MetricsError> {
        let mut written = self.written.lock();
        let delta = match written.as_ref() {
            // Two threads (the export timer and a caller of `flush_metrics`) may take their
            // snapshots in one order and get here in the other: the later snapshot, written
            // first, holds everything the earlier one does. Subtracting would read as a
            // restart and count the earlier one's totals again.
            Some(before) if now.taken_at < before.taken_at => return Ok(()),
            Some(before) => now.since(before),
            None => now.clone(),
        };
        let at = self.clock.now();
        store::persist(store, &delta, at)?;
        *written = Some(now);
        self.summaries.lock().dirty.insert(store::minute_of(at));
        Ok(())
    }

    /// One tick: persist, apply retention, evaluate, announce.
    pub(crate) fn tick(
        &self,
        store: &Store,
        audit: &AuditLog,
        bus: &crate::bus::Bus,
        now: MetricsSnapshot,
    ) -> Result<Vec<SloAlert>, MetricsError> {
        // One tick at a time: an evaluation on older rows must not finish after a newer one
        // and flip alerts back.
        let _one_at_a_time = self.ticking.lock();
        self.persist(store, now)?;
        let compacted = store::compact(store, self.clock.now(), self.retention)?;
        if compacted.deleted > 0 {
            self.summaries.lock().complete = false;
        } else if !compacted.hours.is_empty() {
            // The merged minutes are gone; their hours are read back at the evaluation.
            let mut summaries = self.summaries.lock();
            summaries.rows.retain(|(resolution, start, _, _), _| {
                *resolution != store::MINUTE
                    || !compacted
                        .hours
                        .contains(&(start - start.rem_euclid(store::HOUR)))
            });
            summaries.dirty_hours.extend(compacted.hours);
        }
        let alerts = self.evaluate(store, audit)?;
        for a in &alerts {
            let payload = serde_json::to_vec(a).unwrap_or_default();
            bus.inner()
                .publish_system(crate::bus::Outgoing::new(ALERT_TOPIC, payload));
        }
        Ok(alerts)
    }

    /// Brings `summaries` up to the stored rows of the window from `from`: all of them the
    /// first time (or after rows were deleted), else the minutes written and the hours
    /// compaction wrote since.
    fn refresh(
        &self,
        store: &Store,
        summaries: &mut Summaries,
        from: i64,
    ) -> Result<(), MetricsError> {
        let key =
            |r: &store::CommandRow| (r.resolution, r.start, r.plugin.clone(), r.command.clone());
        if !summaries.complete {
            summaries.rows.clear();
            for row in store::command_rows(store, from, None)? {
                summaries
                    .rows
                    .insert(key(&row), burn::summarize(&row, &self.policy));
            }
            summaries.complete = true;
        } else {
            let minutes = std::mem::take(&mut summaries.dirty);
            let hours = std::mem::take(&mut summaries.dirty_hours);
            let buckets = minutes
                .into_iter()
                .map(|m| (store::MINUTE, m))
                .chain(hours.into_iter().map(|h| (store::HOUR, h)));
            for (resolution, start) in buckets {
                for row in store::command_rows_at(store, resolution, start)? {
                    summaries
                        .rows
                        .insert(key(&row), burn::summarize(&row, &self.policy));
                }
            }
        }
        summaries.dirty.clear();
        summaries.dirty_hours.clear();
        summaries.rows.retain(|_, b| b.end > from);
        Ok(())
    }

    /// Whether the tallies kept in memory are those of the stored rows read afresh.
    #[cfg(test)]
    pub(crate) fn cache_matches(&self, store: &Store) -> bool {
        let from = unix_secs(self.clock.now()).saturating_sub(burn::LONGEST.as_secs() as i64);
        let fresh = burn::buckets(
            store::command_rows(store, from, None)
                .unwrap_or_default()
                .iter(),
            &self.policy,
        );
        let kept = burn::group(
            self.summaries
                .lock()
                .rows
                .iter()
                .map(|((_, _, p, _), b)| (p.as_str(), *b)),
        );
        fresh == kept
    }

    /// The transitions since the last evaluation, recorded in `slo_alerts` and audited.
    fn evaluate(&self, store: &Store, audit: &AuditLog) -> Result<Vec<SloAlert>, MetricsError> {
        let now = self.clock.now();
        let now_s = unix_secs(now);
        let from = now_s.saturating_sub(burn::LONGEST.as_secs() as i64);
        let buckets = {
            let mut summaries = self.summaries.lock();
            if let Err(e) = self.refresh(store, &mut summaries, from) {
                summaries.complete = false;
                return Err(e);
            }
            burn::group(
                summaries
                    .rows
                    .iter()
                    .map(|((_, _, p, _), b)| (p.as_str(), *b)),
            )
        };
        let mut firing = self.firing.lock();
        if firing.is_none() {
            *firing = Some(load_firing(store)?);
        }
        let Some(firing) = firing.as_mut() else {
            return Ok(Vec::new());
        };
        let mut plugins: Vec<String> = buckets.keys().cloned().collect();
        for ((p, _, _), on) in firing.iter() {
            if *on && !buckets.contains_key(p) {
                plugins.push(p.clone());
            }
        }
        plugins.sort_unstable();
        plugins.dedup();
        let mut out = Vec::new();
        for plugin in &plugins {
            let b = buckets.get(plugin).map_or(&[][..], Vec::as_slice);
            let objectives = self.policy.objectives(plugin);
            for objective in Objective::ALL {
                let target = match objective {
                    Objective::Availability => objectives.availability,
                    Objective::Latency => objectives.latency_target,
                };
                for rule in RULES {
                    let long = burn::tally(b, objective, now_s, rule.long).burn_rate(target);
                    let short = burn::tally(b, objective, now_s, rule.short).burn_rate(target);
                    let fires = long >= rule.burn_rate && short >= rule.burn_rate;
                    let key = (plugin.to_owned(), objective, rule.name);
                    if firing.get(&key).copied().unwrap_or(false) == fires {
                        continue;
                    }
                    out.push(SloAlert {
                        plugin: plugin.to_owned(),
                        objective,
                        rule: rule.name.to_owned(),
                        severity: rule.severity,
                        state: if fires {
                            AlertState::Firing
                        } else {
                            AlertState::Resolved
                        },
                        at: Timestamp::from(now),
                        target,
                        threshold: rule.burn_rate,
                        burn_rate_long: long,
                        burn_rate_short: short,
                        long_window_secs: rule.long.as_secs(),
                        short_window_secs: rule.short.as_secs(),
                    });
                    firing.insert(key, fires);
                }
            }
        }
        if out.is_empty() {
            return Ok(out);
        }
        if let Err(e) = record(store, &out) {
            // Not recorded: evaluate them again next time rather than lose them.
            for a in &out {
                if let Some(rule) = RULES.iter().find(|r| r.name == a.rule) {
                    firing.insert(
                        (a.plugin.clone(), a.objective, rule.name),
                        a.state == AlertState::Resolved,
                    );
                }
            }
            return Err(e);
        }
        let events: Vec<AuditEvent> = out.iter().map(audit_event).collect();
        if let Err(e) = audit.append_all(&events) {
            tracing::error!(target: "switchboard::slo", "cannot audit SLO alerts: {e}");
        }
        Ok(out)
    }
}

fn audit_event(a: &SloAlert) -> AuditEvent {
    let state = match a.state {
        AlertState::Firing => "firing",
        AlertState::Resolved => "resolved",
    };
    AuditEvent::new(
        AuditKind::Slo,
        a.plugin.clone(),
        format!("{} {} {state}", a.objective.as_str(), a.rule),
        serde_json::to_value(a).unwrap_or_default(),
    )
}

fn record(store: &Store, alerts: &[SloAlert]) -> Result<(), MetricsError> {
    let mut conn = store.lock();
    let tx = conn.transaction()?;
    for a in alerts {
        let state = match a.state {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        };
        tx.execute(
            "INSERT INTO slo_alerts (at_ms, plugin, objective, rule, severity, state, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                a.at.as_millis(),
                a.plugin,
                a.objective.as_str(),
                a.rule,
                a.severity.as_str(),
                state,
                serde_json::to_string(a).unwrap_or_default(),
            ],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Which alerts the newest rows of `slo_alerts` say fire.
fn load_firing(store: &Store) -> Result<BTreeMap<AlertKey, bool>, MetricsError> {
    let conn = store.lock();
    let mut q = conn.prepare(
        "SELECT plugin, objective, rule, state FROM slo_alerts
         WHERE id IN (SELECT MAX(id) FROM slo_alerts GROUP BY plugin, objective, rule)",
    )?;
    let rows = q.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (plugin, objective, rule, state) = row?;
        let objective = Objective::ALL.into_iter().find(|o| o.as_str() == objective);
        let rule = RULES.iter().find(|r| r.name == rule);
        // Rows of objectives or rules this build does not know are left alone.
        if let (Some(objective), Some(rule)) = (objective, rule) {
            out.insert((plugin, objective, rule.name), state == "firing");
        }
    }
    Ok(out)
}

/// The alert transitions recorded from `since` (Unix milliseconds), oldest first.
pub(crate) fn alerts_since(store: &Store, since_ms: i64) -> Result<Vec<SloAlert>, MetricsError> {
    let conn = store.lock();
    let mut q =
        conn.prepare("SELECT plugin, detail FROM slo_alerts WHERE at_ms >= ?1 ORDER BY id")?;
    let rows = q.query_map([since_ms], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (plugin, detail) = row?;
        let alert = serde_json::from_str(&detail).map_err(|e| MetricsError::Damaged {
            plugin,
            what: "alert",
            reason: e.to_string(),
        })?;
        out.push(alert);
    }
    Ok(out)
}
