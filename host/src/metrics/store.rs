//! Metrics kept in the host database at a coarse resolution, so reports and SLOs survive
//! restarts (schema v7).
//!
//! On every tick the host writes what happened since the previous tick (a
//! [`MetricsSnapshot::since`] delta) into one row per plugin × command × minute, added to the
//! row of the current minute; per-plugin counters get one row per plugin × minute. Minute rows
//! older than [`Retention::minutes`] are merged into hour rows, and hour rows older than
//! [`Retention::hours`] are deleted. A restarted host counts from zero, so its first delta is
//! everything it saw: nothing is counted twice, and the host's last interval is written when
//! it is dropped.
//!
//! Latency histograms are stored in a compact encoding of their own: a version byte, then the
//! recorded values (ascending, each as the difference from the previous one) and their counts
//! as postcard varints. Values are the histogram's bucket values, so decoding and recording
//! them again gives the same histogram.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, OptionalExtension, Transaction};
use switchboard_sdk::ErrorCode;

use super::{histogram, CommandMetrics, Latency, MetricsSnapshot, PluginMetrics};
use crate::error::StoreError;
use crate::store::Store;

/// The tables of schema v7: metric rollups, and SLO alert transitions.
pub(crate) const SCHEMA: &str = r#"
-- Per plugin × command × bucket: `resolution` is the bucket's width in seconds (60 or 3600),
-- `bucket_start` its start in Unix seconds. `errors` is a JSON object of counts by code;
-- `latency` the histogram of nanoseconds in the encoding of `metrics/store.rs`.
CREATE TABLE metrics_commands (
    resolution   INTEGER NOT NULL,
    bucket_start INTEGER NOT NULL,
    plugin       TEXT    NOT NULL,
    command      TEXT    NOT NULL,
    calls        INTEGER NOT NULL,
    errors_total INTEGER NOT NULL,
    errors       TEXT    NOT NULL,
    latency      BLOB    NOT NULL,
    PRIMARY KEY (resolution, bucket_start, plugin, command)
) WITHOUT ROWID;
CREATE INDEX metrics_commands_at ON metrics_commands (bucket_start);
-- Per plugin × bucket: the counters that are not per command.
CREATE TABLE metrics_plugins (
    resolution       INTEGER NOT NULL,
    bucket_start     INTEGER NOT NULL,
    plugin           TEXT    NOT NULL,
    events_delivered INTEGER NOT NULL,
    events_dropped   INTEGER NOT NULL,
    restarts         INTEGER NOT NULL,
    reloads          INTEGER NOT NULL,
    panics           INTEGER NOT NULL,
    PRIMARY KEY (resolution, bucket_start, plugin)
) WITHOUT ROWID;
CREATE INDEX metrics_plugins_at ON metrics_plugins (bucket_start);
-- Every SLO alert transition (firing, resolved); the newest row per plugin × objective × rule
-- is the alert's state, so a restarted host does not announce a firing alert twice.
CREATE TABLE slo_alerts (
    id        INTEGER PRIMARY KEY,
    at_ms     INTEGER NOT NULL,
    plugin    TEXT    NOT NULL,
    objective TEXT    NOT NULL,
    rule      TEXT    NOT NULL,
    severity  TEXT    NOT NULL,
    state     TEXT    NOT NULL,
    detail    TEXT    NOT NULL
);
CREATE INDEX slo_alerts_at ON slo_alerts (at_ms);
CREATE INDEX slo_alerts_key ON slo_alerts (plugin, objective, rule, id);
"#;

/// Width of a minute row, in seconds.
pub(crate) const MINUTE: i64 = 60;
/// Width of an hour row, in seconds.
pub(crate) const HOUR: i64 = 3600;

/// How long stored metrics are kept ([`HostBuilder::metrics_retention`]): minute rows for
/// `minutes` (then merged into hour rows), hour rows for `hours` (then deleted). Default: 2
/// days and 30 days, which holds the SLO alerts' longest window (3 days) and a 30-day error
/// budget.
///
/// [`HostBuilder::metrics_retention`]: crate::HostBuilder::metrics_retention
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retention {
    /// How long minute rows are kept before they are merged into hour rows.
    pub minutes: Duration,
    /// How long hour rows are kept before they are deleted.
    pub hours: Duration,
}

impl Retention {
    /// Minute rows for `minutes`, hour rows for `hours` (at least `minutes`).
    pub fn new(minutes: Duration, hours: Duration) -> Retention {
        Retention {
            minutes,
            hours: hours.max(minutes),
        }
    }
}

impl Default for Retention {
    fn default() -> Self {
        Retention::new(
            Duration::from_secs(2 * 86_400),
            Duration::from_secs(30 * 86_400),
        )
    }
}

/// Stored metrics could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The database failed (its own code).
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A stored row does not decode (`SB1800`).
    #[error("the stored metrics of `{plugin}` are damaged ({what}): {reason}")]
    Damaged {
        /// The plugin the row belongs to.
        plugin: String,
        /// Which part of the row.
        what: &'static str,
        /// Why it does not decode.
        reason: String,
    },
    /// A duration (`--since 7d`, a policy window) does not parse or is out of range
    /// (`SB1801`).
    #[error("`{given}` is not a usable duration: {reason}")]
    Duration {
        /// The text given.
        given: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// `SB1800`: a stored metrics row does not decode.
pub const DAMAGED: ErrorCode = ErrorCode::from_number(1800);
/// `SB1801`: a duration does not parse or is out of range.
pub const BAD_DURATION: ErrorCode = ErrorCode::from_number(1801);

impl MetricsError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            MetricsError::Store(e) => e.code(),
            MetricsError::Damaged { .. } => DAMAGED,
            MetricsError::Duration { .. } => BAD_DURATION,
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            MetricsError::Store(e) => e.next_step(),
            MetricsError::Damaged { .. } => {
                "the metrics tables can be emptied without harm to anything else: \
                 `DELETE FROM metrics_commands; DELETE FROM metrics_plugins;` with sqlite3 \
                 while no host runs, or restore the database from a backup"
                    .into()
            }
            MetricsError::Duration { .. } => {
                "write a positive whole number and a unit, combined as needed: `90s`, `15m`, \
                 `6h`, `7d`, `2w`, `1d12h` (at most 3650 days)"
                    .into()
            }
        }
    }
}

impl From<rusqlite::Error> for MetricsError {
    fn from(e: rusqlite::Error) -> Self {
        MetricsError::Store(e.into())
    }
}

/// Unix seconds of `t` (0 before the epoch, saturated far in the future).
pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The time `secs` Unix seconds stand for.
pub(crate) fn from_unix_secs(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

pub(crate) fn floor(secs: i64, width: i64) -> i64 {
    secs - secs.rem_euclid(width)
}

fn secs_of(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The histogram encoding's version byte.
const ENCODING_V1: u8 = 1;

/// Encodes a latency histogram (see the module docs).
pub(crate) fn encode_latency(latency: &Latency) -> Vec<u8> {
    let mut pairs = Vec::new();
    let mut previous = 0u64;
    for v in latency.histogram().iter_recorded() {
        let value = v.value_iterated_to();
        pairs.push((value - previous, v.count_at_value()));
        previous = value;
    }
    let mut out = vec![ENCODING_V1];
    // A Vec of integer pairs always serializes; an empty histogram is the empty list.
    out.extend(postcard::to_allocvec(&pairs).unwrap_or_else(|_| vec![0]));
    out
}

/// Decodes what [`encode_latency`] wrote.
pub(crate) fn decode_latency(bytes: &[u8]) -> Result<Latency, String> {
    let Some((&version, rest)) = bytes.split_first() else {
        return Err("the latency histogram is empty (no version byte)".into());
    };
    if version != ENCODING_V1 {
        return Err(format!("unknown latency encoding version {version}"));
    }
    let pairs: Vec<(u64, u64)> =
        postcard::from_bytes(rest).map_err(|e| format!("latency histogram: {e}"))?;
    let mut h = histogram::empty();
    let mut value = 0u64;
    for (step, count) in pairs {
        value = value
            .checked_add(step)
            .filter(|v| *v <= histogram::MAX_VALUE)
            .ok_or("a latency value out of range")?;
        h.record_n(value, count)
            .map_err(|e| format!("latency value {value}: {e:?}"))?;
    }
    Ok(Latency::from_histogram(h))
}

/// `a` with `b` added: calls, errors by code, latencies.
pub(crate) fn merge_command(a: &mut CommandMetrics, b: &CommandMetrics) -> Result<(), String> {
    a.calls = a.calls.saturating_add(b.calls);
    for (code, n) in &b.errors {
        let e = a.errors.entry(code.clone()).or_insert(0);
        *e = e.saturating_add(*n);
    }
    let mut h = a.latency.histogram().clone();
    h.add(b.latency.histogram())
        .map_err(|e| format!("adding latency histograms: {e:?}"))?;
    a.latency = Latency::from_histogram(h);
    Ok(())
}

fn merge_plugin_counters(a: &mut PluginMetrics, b: &PluginMetrics) {
    a.events_delivered = a.events_delivered.saturating_add(b.events_delivered);
    a.events_dropped = a.events_dropped.saturating_add(b.events_dropped);
    a.restarts = a.restarts.saturating_add(b.restarts);
    a.reloads = a.reloads.saturating_add(b.reloads);
    a.panics = a.panics.saturating_add(b.panics);
}

fn has_counters(m: &PluginMetrics) -> bool {
    m.events_delivered | m.events_dropped | m.restarts | m.reloads | m.panics != 0
}

pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// One stored per-command row.
#[derive(Debug, Clone)]
pub(crate) struct CommandRow {
    /// The bucket's width in seconds.
    pub resolution: i64,
    /// The bucket's start, Unix seconds.
    pub start: i64,
    pub plugin: String,
    pub command: String,
    pub metrics: CommandMetrics,
}

fn decode_row(
    plugin: &str,
    calls: i64,
    errors: &str,
    latency: &[u8],
) -> Result<CommandMetrics, MetricsError> {
    let damaged = |what, reason: String| MetricsError::Damaged {
        plugin: plugin.to_owned(),
        what,
        reason,
    };
    let errors: BTreeMap<String, u64> =
        serde_json::from_str(errors).map_err(|e| damaged("errors", e.to_string()))?;
    let latency = decode_latency(latency).map_err(|e| damaged("latency", e))?;
    Ok(CommandMetrics {
        calls: to_u64(calls),
        errors,
        latency,
        usage: BTreeMap::new(),
    })
}

/// Adds `m` to the row (`resolution`, `start`, `plugin`, `command`).
fn add_command_row(
    tx: &Transaction<'_>,
    (resolution, start): (i64, i64),
    plugin: &str,
    command: &str,
    m: &CommandMetrics,
) -> Result<(), MetricsError> {
    let existing: Option<(i64, String, Vec<u8>)> = tx
        .query_row(
            "SELECT calls, errors, latency FROM metrics_commands
             WHERE resolution = ?1 AND bucket_start = ?2 AND plugin = ?3 AND command = ?4",
            params![resolution, start, plugin, command],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let mut total = match existing {
        Some((calls, errors, latency)) => decode_row(plugin, calls, &errors, &latency)?,
        None => CommandMetrics::default(),
    };
    merge_command(&mut total, m).map_err(|reason| MetricsError::Damaged {
        plugin: plugin.to_owned(),
        what: "latency",
        reason,
    })?;
    // A map of strings to integers always serializes.
    let errors = serde_json::to_string(&total.errors).unwrap_or_else(|_| "{}".into());
    tx.execute(
        "INSERT OR REPLACE INTO metrics_commands
             (resolution, bucket_start, plugin, command, calls, errors_total, errors, latency)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            resolution,
            start,
            plugin,
            command,
            to_i64(total.calls),
            to_i64(total.errors_total()),
            errors,
            encode_latency(&total.latency),
        ],
    )?;
    Ok(())
}

/// Adds `m`'s per-plugin counters to the row (`resolution`, `start`, `plugin`).
fn add_plugin_row(
    tx: &Transaction<'_>,
    (resolution, start): (i64, i64),
    plugin: &str,
    m: &PluginMetrics,
) -> Result<(), MetricsError> {
    tx.execute(
        "INSERT INTO metrics_plugins
             (resolution, bucket_start, plugin, events_delivered, events_dropped, restarts,
              reloads, panics)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (resolution, bucket_start, plugin) DO UPDATE SET
             events_delivered = events_delivered + excluded.events_delivered,
             events_dropped = events_dropped + excluded.events_dropped,
             restarts = restarts + excluded.restarts,
             reloads = reloads + excluded.reloads,
             panics = panics + excluded.panics",
        params![
            resolution,
            start,
            plugin,
            to_i64(m.events_delivered),
            to_i64(m.events_dropped),
            to_i64(m.restarts),
            to_i64(m.reloads),
            to_i64(m.panics),
        ],
    )?;
    Ok(())
}

/// Adds `delta` (what happened since the last write) to the minute rows of `at`, in one
/// transaction: all of it is written or none.
pub(crate) fn persist(
    store: &Store,
    delta: &MetricsSnapshot,
    at: SystemTime,
) -> Result<(), MetricsError> {
    let bucket = (MINUTE, floor(unix_secs(at), MINUTE));
    let mut conn = store.lock();
    let tx = conn.transaction()?;
    for (plugin, m) in &delta.plugins {
        super::usage::persist(&tx, bucket, plugin, m)?;
        for (command, c) in &m.commands {
            if c.calls == 0 && c.errors.is_empty() && c.latency.count() == 0 {
                continue;
            }
            add_command_row(&tx, bucket, plugin, command, c)?;
        }
        if has_counters(m) {
            add_plugin_row(&tx, bucket, plugin, m)?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// What [`compact`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Compacted {
    /// Minute rows merged into hour rows.
    pub merged: usize,
    /// The starts of the hour rows the merge wrote (whose minute rows are gone).
    pub hours: std::collections::BTreeSet<i64>,
    /// Hour rows and alert rows deleted for age.
    pub deleted: usize,
}

/// Applies `retention` at time `now`: minute rows of hours that ended more than
/// `retention.minutes` ago are merged into their hour's rows; hour rows (and alert
/// transitions) older than `retention.hours` are deleted.
pub(crate) fn compact(
    store: &Store,
    now: SystemTime,
    retention: Retention,
) -> Result<Compacted, MetricsError> {
    let now = unix_secs(now);
    let minute_cutoff = floor(now.saturating_sub(secs_of(retention.minutes)), HOUR);
    let hour_cutoff = now.saturating_sub(secs_of(retention.hours));
    let mut conn = store.lock();
    let tx = conn.transaction()?;
    let mut done = Compacted::default();
    let old: Vec<(i64, String, String, i64, String, Vec<u8>)> = {
        let mut q = tx.prepare(
            "SELECT bucket_start, plugin, command, calls, errors, latency FROM metrics_commands
             WHERE resolution = ?1 AND bucket_start < ?2",
        )?;
        let rows = q.query_map(params![MINUTE, minute_cutoff], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let mut hours: BTreeMap<(i64, String, String), CommandMetrics> = BTreeMap::new();
    for (start, plugin, command, calls, errors, latency) in old {
        // A damaged row is logged and left out of its hour (the minute rows are deleted
        // below either way): one bad row must not stop retention, and the SLOs with it.
        let merged = decode_row(&plugin, calls, &errors, &latency).and_then(|m| {
            let into = hours
                .entry((floor(start, HOUR), plugin.clone(), command.clone()))
                .or_default();
            merge_command(into, &m).map_err(|reason| MetricsError::Damaged {
                plugin: plugin.clone(),
                what: "latency",
                reason,
            })
        });
        match merged {
            Ok(()) => done.merged += 1,
            Err(e) => tracing::warn!(
                target: "switchboard::metrics",
                "a stored minute of `{plugin}.{command}` is left out of its hour: {e}"
            ),
        }
    }
    for ((start, plugin, command), m) in &hours {
        add_command_row(&tx, (HOUR, *start), plugin, command, m)?;
        done.hours.insert(*start);
    }
    tx.execute(
        "DELETE FROM metrics_commands WHERE resolution = ?1 AND bucket_start < ?2",
        params![MINUTE, minute_cutoff],
    )?;
    let old_plugins: Vec<(i64, String, PluginMetrics)> = {
        let mut q = tx.prepare(
            "SELECT bucket_start, plugin, events_delivered, events_dropped, restarts, reloads,
                    panics
             FROM metrics_plugins WHERE resolution = ?1 AND bucket_start < ?2",
        )?;
        let rows = q.query_map(params![MINUTE, minute_cutoff], plugin_row)?;
        rows.collect::<Result<_, _>>()?
    };
    let mut plugin_hours: BTreeMap<(i64, String), PluginMetrics> = BTreeMap::new();
    for (start, plugin, m) in old_plugins {
        merge_plugin_counters(
            plugin_hours
                .entry((floor(start, HOUR), plugin))
                .or_default(),
            &m,
        );
        done.merged += 1;
    }
    for ((start, plugin), m) in &plugin_hours {
        add_plugin_row(&tx, (HOUR, *start), plugin, m)?;
    }
    tx.execute(
        "DELETE FROM metrics_plugins WHERE resolution = ?1 AND bucket_start < ?2",
        params![MINUTE, minute_cutoff],
    )?;
    done.merged += super::usage::compact(&tx, minute_cutoff)?;
    for table in ["metrics_commands", "metrics_plugins", "metrics_usage"] {
        done.deleted += tx.execute(
            &format!("DELETE FROM {table} WHERE bucket_start + resolution <= ?1"),
            params![hour_cutoff],
        )?;
    }
    // The newest row of each alert stays whatever its age: it says whether the alert fires.
    done.deleted += tx.execute(
        "DELETE FROM slo_alerts WHERE at_ms < ?1 AND id NOT IN \
         (SELECT MAX(id) FROM slo_alerts GROUP BY plugin, objective, rule)",
        params![hour_cutoff.saturating_mul(1000)],
    )?;
    tx.commit()?;
    Ok(done)
}

fn plugin_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, PluginMetrics)> {
    let n = |i| r.get::<_, i64>(i).map(to_u64);
    Ok((
        r.get(0)?,
        r.get(1)?,
        PluginMetrics {
            commands: BTreeMap::new(),
            events_delivered: n(2)?,
            events_dropped: n(3)?,
            restarts: n(4)?,
            reloads: n(5)?,
            panics: n(6)?,
            usage_outside_calls: BTreeMap::new(),
        },
    ))
}

/// The per-command rows whose bucket ends after `since` (Unix seconds), of `plugin` or of
/// every plugin, oldest first.
pub(crate) fn command_rows(
    store: &Store,
    since: i64,
    plugin: Option<&str>,
) -> Result<Vec<CommandRow>, MetricsError> {
    let raw: Vec<(CommandRow, String, Vec<u8>)> = {
        let conn = store.lock();
        let mut q = conn.prepare(
            "SELECT resolution, bucket_start, plugin, command, calls, errors, latency
             FROM metrics_commands
             WHERE bucket_start + resolution > ?1 AND (?2 IS NULL OR plugin = ?2)
             ORDER BY bucket_start, plugin, command",
        )?;
        let rows = q.query_map(params![since, plugin], |r| {
            let row = CommandRow {
                resolution: r.get(0)?,
                start: r.get(1)?,
                plugin: r.get(2)?,
                command: r.get(3)?,
                metrics: CommandMetrics {
                    calls: to_u64(r.get(4)?),
                    ..CommandMetrics::default()
                },
            };
            Ok((row, r.get(5)?, r.get(6)?))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    raw.into_iter()
        .map(|(mut row, errors, latency)| {
            let calls = to_i64(row.metrics.calls);
            row.metrics = decode_row(&row.plugin, calls, &errors, &latency)?;
            Ok(row)
        })
        .collect()
}

/// Identifies a per-command row: resolution, start, plugin, command.
pub(crate) type RowKey = (i64, i64, String, String);

/// The per-command rows of one bucket (`resolution`, `start`).
pub(crate) fn command_rows_at(
    store: &Store,
    resolution: i64,
    start: i64,
) -> Result<Vec<CommandRow>, MetricsError> {
    let raw: Vec<(String, String, i64, String, Vec<u8>)> = {
        let conn = store.lock();
        let mut q = conn.prepare(
            "SELECT plugin, command, calls, errors, latency FROM metrics_commands
             WHERE resolution = ?1 AND bucket_start = ?2",
        )?;
        let rows = q.query_map(params![resolution, start], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    raw.into_iter()
        .map(|(plugin, command, calls, errors, latency)| {
            let metrics = decode_row(&plugin, calls, &errors, &latency)?;
            Ok(CommandRow {
                resolution,
                start,
                plugin,
                command,
                metrics,
            })
        })
        .collect()
}

/// The minute bucket `at` falls in.
pub(crate) fn minute_of(at: SystemTime) -> i64 {
    floor(unix_secs(at), MINUTE)
}

/// Everything stored about what happened after `since`, summed into one snapshot: per
/// command calls, errors by code and latencies; per plugin events, restarts, reloads and
/// panics. Rows are minutes (for the last two days by default) or hours, so the start is
/// that coarse: a row is counted if its bucket ends after `since`.
///
/// This is what `switchboard metrics --data-dir DIR --since DUR` prints (as
/// [`MetricsSnapshot::to_prometheus`]); [`Host::stored_metrics`](crate::Host::stored_metrics)
/// reads a host's own.
///
/// # Example
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use switchboard_host::{metrics, Store};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = Store::open(dir.path()).unwrap();
/// let day_ago = SystemTime::now() - Duration::from_secs(86_400);
/// let m = metrics::stored(&store, day_ago).unwrap();
/// assert!(m.plugins.is_empty());
/// ```
pub fn stored(store: &Store, since: SystemTime) -> Result<MetricsSnapshot, MetricsError> {
    let since = unix_secs(since);
    let mut plugins: BTreeMap<String, PluginMetrics> = BTreeMap::new();
    for row in command_rows(store, since, None)? {
        let p = plugins.entry(row.plugin.clone()).or_default();
        let c = p.commands.entry(row.command).or_default();
        merge_command(c, &row.metrics).map_err(|reason| MetricsError::Damaged {
            plugin: row.plugin,
            what: "latency",
            reason,
        })?;
    }
    let rows: Vec<(i64, String, PluginMetrics)> = {
        let conn = store.lock();
        let mut q = conn.prepare(
            "SELECT bucket_start, plugin, events_delivered, events_dropped, restarts, reloads,
                    panics
             FROM metrics_plugins WHERE bucket_start + resolution > ?1",
        )?;
        let rows = q.query_map(params![since], plugin_row)?;
        rows.collect::<Result<_, _>>()?
    };
    for (_, plugin, m) in rows {
        merge_plugin_counters(plugins.entry(plugin).or_default(), &m);
    }
    for row in super::usage::rows(store, since, i64::MAX)? {
        let p = plugins.entry(row.plugin).or_default();
        let into = if row.command == super::usage::OUTSIDE_CALLS {
            &mut p.usage_outside_calls
        } else {
            &mut p.commands.entry(row.command).or_default().usage
        };
        let total = into.entry(row.unit).or_default();
        *total = total.saturating_add(row.amount);
    }
    Ok(MetricsSnapshot {
        taken_at: SystemTime::now(),
        plugins,
    })
}

/// Parses a duration as people write one: whole numbers with units `s`, `m`, `h`, `d`, `w`,
/// combined (`90s`, `15m`, `1d12h`, `7d`); positive and at most 3650 days. Used by
/// `--since` and the policy's SLO window.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use switchboard_host::metrics::parse_duration;
///
/// assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(7 * 86_400));
/// assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5_400));
/// assert_eq!(parse_duration("-1d").unwrap_err().code().to_string(), "SB1801");
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, MetricsError> {
    const MAX_SECS: u64 = 3650 * 86_400;
    let bad = |reason: &str| MetricsError::Duration {
        given: text.chars().take(64).collect(),
        reason: reason.to_owned(),
    };
    if text.is_empty() {
        return Err(bad("it is empty"));
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for ch in text.chars() {
        if let Some(d) = ch.to_digit(10) {
            let n = number
                .unwrap_or(0)
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d)))
                .filter(|n| *n <= MAX_SECS)
                .ok_or_else(|| bad("it is longer than 3650 days"))?;
            number = Some(n);
            continue;
        }
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => {
                return Err(bad(
                    "only digits and the units s, m, h, d, w are allowed (no signs, spaces or \
                     fractions)",
                ))
            }
        };
        let n = number
            .take()
            .ok_or_else(|| bad("a unit must follow a number"))?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .filter(|t| *t <= MAX_SECS)
            .ok_or_else(|| bad("it is longer than 3650 days"))?;
    }
    if number.is_some() {
        return Err(bad("the last number has no unit (write `7d`, not `7`)"));
    }
    if total == 0 {
        return Err(bad("it is zero"));
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests;
