//! Usage plugins report for metering (SPEC S1.6), kept in the host database beside the
//! metric rollups (schema v8) and rolled up the same way: one row per plugin × command × unit
//! × minute, merged into hour rows past [`Retention::minutes`](super::Retention), deleted past
//! [`Retention::hours`](super::Retention). Amounts saturate at `i64::MAX` in storage.

use std::collections::BTreeMap;
use std::time::SystemTime;

use rusqlite::{params, Transaction};
use serde::Serialize;

use super::store::{floor, from_unix_secs, to_i64, to_u64, unix_secs, HOUR, MINUTE};
use super::{MetricsError, PluginMetrics};
use crate::store::Store;

/// The table of schema v8.
pub(crate) const SCHEMA: &str = r#"
-- Usage plugins reported (`ctx.usage`), per plugin × command × unit × bucket, with the
-- buckets of `metrics_commands` (`resolution` 60 or 3600 seconds). `command` is `-` for usage
-- reported outside any command call.
CREATE TABLE metrics_usage (
    resolution   INTEGER NOT NULL,
    bucket_start INTEGER NOT NULL,
    plugin       TEXT    NOT NULL,
    command      TEXT    NOT NULL,
    unit         TEXT    NOT NULL,
    amount       INTEGER NOT NULL,
    PRIMARY KEY (resolution, bucket_start, plugin, command, unit)
) WITHOUT ROWID;
CREATE INDEX metrics_usage_at ON metrics_usage (bucket_start);
"#;

/// The command name usage reported outside any command call is filed under.
pub const OUTSIDE_CALLS: &str = "-";

/// Adds `amount` to a row, saturating at `i64::MAX`.
const UPSERT: &str = "INSERT INTO metrics_usage
         (resolution, bucket_start, plugin, command, unit, amount)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
     ON CONFLICT (resolution, bucket_start, plugin, command, unit) DO UPDATE SET
         amount = CASE WHEN amount > 9223372036854775807 - excluded.amount
                       THEN 9223372036854775807 ELSE amount + excluded.amount END";

/// Adds plugin `plugin`'s usage in `m` (a delta) to the rows of `bucket`.
pub(crate) fn persist(
    tx: &Transaction<'_>,
    (resolution, start): (i64, i64),
    plugin: &str,
    m: &PluginMetrics,
) -> Result<(), MetricsError> {
    let commands = m
        .commands
        .iter()
        .map(|(c, cm)| (c.as_str(), &cm.usage))
        .chain(std::iter::once((OUTSIDE_CALLS, &m.usage_outside_calls)));
    for (command, usage) in commands {
        for (unit, amount) in usage {
            if *amount == 0 {
                continue;
            }
            tx.execute(
                UPSERT,
                params![resolution, start, plugin, command, unit, to_i64(*amount)],
            )?;
        }
    }
    Ok(())
}

/// Merges the minute rows of hours that start before `minute_cutoff` into hour rows; returns
/// how many minute rows it merged.
pub(crate) fn compact(tx: &Transaction<'_>, minute_cutoff: i64) -> Result<usize, MetricsError> {
    let old: Vec<(i64, String, String, String, i64)> = {
        let mut q = tx.prepare(
            "SELECT bucket_start, plugin, command, unit, amount FROM metrics_usage
             WHERE resolution = ?1 AND bucket_start < ?2",
        )?;
        let rows = q.query_map(params![MINUTE, minute_cutoff], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let merged = old.len();
    let mut hours: BTreeMap<(i64, String, String, String), u64> = BTreeMap::new();
    for (start, plugin, command, unit, amount) in old {
        let total = hours
            .entry((floor(start, HOUR), plugin, command, unit))
            .or_default();
        *total = total.saturating_add(to_u64(amount));
    }
    for ((start, plugin, command, unit), amount) in &hours {
        tx.execute(
            UPSERT,
            params![HOUR, start, plugin, command, unit, to_i64(*amount)],
        )?;
    }
    tx.execute(
        "DELETE FROM metrics_usage WHERE resolution = ?1 AND bucket_start < ?2",
        params![MINUTE, minute_cutoff],
    )?;
    Ok(merged)
}

/// The stored usage of buckets that overlap `[since, until)` (Unix seconds), summed per
/// plugin × command × unit, sorted.
pub(crate) fn rows(store: &Store, since: i64, until: i64) -> Result<Vec<UsageRow>, MetricsError> {
    let conn = store.lock();
    let mut q = conn.prepare(
        "SELECT plugin, command, unit, amount FROM metrics_usage
         WHERE bucket_start + resolution > ?1 AND bucket_start < ?2",
    )?;
    let raw = q.query_map(params![since, until], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)?))
    })?;
    let mut sums: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for row in raw {
        let (plugin, command, unit, amount) = row?;
        let total = sums.entry((plugin, command, unit)).or_default();
        *total = total.saturating_add(to_u64(amount));
    }
    Ok(sums
        .into_iter()
        .map(|((plugin, command, unit), amount)| UsageRow {
            plugin,
            command,
            unit,
            amount,
        })
        .collect())
}

/// What plugins reported for metering over a period ([`usage()`], `switchboard usage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UsageReport {
    /// The start asked for, Unix seconds (rows are minutes or hours, so the report covers
    /// every bucket that overlaps the period).
    pub since: i64,
    /// The end asked for, Unix seconds.
    pub until: i64,
    /// The amounts, per plugin × command × unit, sorted.
    pub rows: Vec<UsageRow>,
}

/// One plugin's usage of one unit in one command over a report's period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UsageRow {
    /// The plugin.
    pub plugin: String,
    /// The command (`-`: reported outside any command call).
    pub command: String,
    /// The unit (`tokens`, …).
    pub unit: String,
    /// How much, in all.
    pub amount: u64,
}

impl UsageReport {
    /// The amounts per plugin and unit, every command added up.
    pub fn per_plugin(&self) -> BTreeMap<(String, String), u64> {
        let mut out: BTreeMap<(String, String), u64> = BTreeMap::new();
        for r in &self.rows {
            let total = out.entry((r.plugin.clone(), r.unit.clone())).or_default();
            *total = total.saturating_add(r.amount);
        }
        out
    }

    /// The amount of `unit` plugin `plugin` used, every command added up.
    pub fn total(&self, plugin: &str, unit: &str) -> u64 {
        self.rows
            .iter()
            .filter(|r| r.plugin == plugin && r.unit == unit)
            .fold(0u64, |a, r| a.saturating_add(r.amount))
    }
}

/// The usage stored in `store` for buckets overlapping `since`..`until`: what billing reads.
/// [`Host::usage`](crate::Host::usage) is the same for a running host (its latest interval
/// written first); `switchboard usage --data-dir DIR --since 30d` prints it.
///
/// # Example
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use switchboard_host::{metrics, Store};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = Store::open(dir.path()).unwrap();
/// let now = SystemTime::now();
/// let report = metrics::usage(&store, now - Duration::from_secs(86_400), now).unwrap();
/// assert!(report.rows.is_empty());
/// ```
pub fn usage(
    store: &Store,
    since: SystemTime,
    until: SystemTime,
) -> Result<UsageReport, MetricsError> {
    // The end is rounded up to its second: usage reported at 12:00:00.4 is in a period that
    // ends at 12:00:00.7 (rounded down, both would be 12:00:00 and the row's minute, which
    // starts at 12:00:00, would not start before the end).
    let until_rounded_up = until
        .checked_add(std::time::Duration::from_nanos(999_999_999))
        .unwrap_or(until);
    let (since, until) = (unix_secs(since), unix_secs(until_rounded_up));
    if until < since {
        return Err(MetricsError::Duration {
            given: format!("{:?}..{:?}", from_unix_secs(since), from_unix_secs(until)),
            reason: "the period ends before it starts".into(),
        });
    }
    Ok(UsageReport {
        since,
        until,
        rows: rows(store, since, until)?,
    })
}
