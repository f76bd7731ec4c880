//! The demo's hot-reload tour (issue 18): `counter` 0.1.0 serving a thread that calls it in a
//! loop, hot-reloaded to 0.2.0 — the same code with its manifest rewritten to the new version,
//! as `release` makes example releases, written over the library file the way a rebuild
//! would — with no failed call, the KV counter it bumps kept, and the reload audited.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use switchboard_host::caps::{Capability, Policy};
use switchboard_host::{AuditFilter, AuditKind, Host};

use super::{describe, Report};
use crate::examples::{self, Profile};

/// Calls the thread makes before the reload, and after it, before the check.
const CALLS_EACH_SIDE: u64 = 200;

/// Runs the tour in a host of its own in `data_dir`.
pub(super) fn run(r: &mut Report<'_>, data_dir: &Path, profile: Profile) -> Result<()> {
    let mut policy = Policy::new();
    for c in ["kv", "secrets", "config.read"] {
        policy.allow(c.parse::<Capability>()?);
    }
    let mut builder = Host::builder();
    builder
        .data_dir(data_dir)
        .host_api("switchboard-demo", env!("CARGO_PKG_VERSION"))
        .policy(policy);
    builder.dangerous().load_unsigned_libraries();
    let host = builder.build()?;

    let built = std::fs::read(examples::library(profile, "counter")?)?;
    let lib_dir = data_dir.join("lib");
    std::fs::create_dir_all(&lib_dir)?;
    let path = lib_dir.join(examples::library_file_name("counter"));
    std::fs::write(&path, &built)?;
    let counter = host.load_unsigned(&path)?;
    counter.start()?;

    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let incr = counter.command::<String, u64>("incr")?;
    let caller = {
        let (stop, calls) = (stop.clone(), calls.clone());
        std::thread::spawn(move || {
            let mut failed = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match incr.call(&"visits".to_owned()) {
                    Ok(_) => {
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => failed.push(e.to_string()),
                }
            }
            failed
        })
    };
    let reached = |n: u64| {
        let until = Instant::now() + Duration::from_secs(60);
        while calls.load(Ordering::Relaxed) < n && Instant::now() < until {
            std::thread::yield_now();
        }
    };
    reached(CALLS_EACH_SIDE);
    let v2 = crate::release::rewrite_manifest(&built, "counter", "0.2.0", &[])?;
    std::fs::write(&path, v2)?;
    let reloaded = counter.reload(&path);
    let after = calls.load(Ordering::Relaxed);
    reached(after + CALLS_EACH_SIDE);
    stop.store(true, Ordering::Relaxed);
    let failed = caller
        .join()
        .unwrap_or_else(|_| vec!["the calling thread panicked".to_owned()]);
    let total = calls.load(Ordering::Relaxed);
    let value = counter
        .command::<String, u64>("value")?
        .call(&"visits".to_owned())?;
    let audited = host
        .audit()
        .query(&AuditFilter::new().plugin("counter").kind(AuditKind::Reload))?
        .len();
    let (ok, detail) = match &reloaded {
        Ok(report) => (
            failed.is_empty()
                && report.from == "0.1.0"
                && counter.version() == "0.2.0"
                && value == total
                && total >= after + CALLS_EACH_SIDE
                && audited == 1,
            format!(
                "counter {} → {} (generation {}), calls paused {:?}, whole reload {:?}\n\
                 {total} calls by the thread, {} failed; visits = {value} (kept in its KV)\n\
                 {} library copy left mapped of at most {}; audited: {audited} reload row\n\
                 the old library stays mapped (never unloaded); `switchboard inspect counter \
                 --data-dir …` shows the count",
                report.from,
                report.to,
                report.generation,
                report.paused,
                report.took,
                failed.len(),
                counter.reloads().mapped,
                counter.reloads().max,
            ),
        ),
        Err(e) => (false, describe(e)),
    };
    r.say(
        "Hot-reloaded counter 0.1.0 → 0.2.0 while a thread called it: no call failed, its state kept",
        ok,
        detail,
    )?;
    metrics_step(r, &host, data_dir, total)
}

/// What the host's metrics say about the tour: the thread's calls all counted (and the one
/// `value` call after), none failed, the reload counted, latency percentiles; and the same in
/// the Prometheus text format.
fn metrics_step(r: &mut Report<'_>, host: &Host, data_dir: &Path, total: u64) -> Result<()> {
    let m = host.metrics();
    let Some(counter) = m.plugins.get("counter") else {
        return r.say(
            "Metrics of the tour",
            false,
            "no metrics for counter".into(),
        );
    };
    let incr = counter.commands.get("incr").cloned().unwrap_or_default();
    let value_calls = counter.commands.get("value").map_or(0, |c| c.calls);
    let text = m.to_prometheus();
    let line = format!(
        "{}{{plugin=\"counter\",command=\"incr\"}} {}",
        switchboard_host::metrics::names::CALLS,
        incr.calls
    );
    let ok = incr.calls == total
        && incr.errors_total() == 0
        && value_calls == 1
        && counter.reloads == 1
        && counter.panics == 0
        && incr.latency.count() > 0
        && incr.latency.p50() <= incr.latency.p99()
        && text.contains(&line);
    let detail = format!(
        "incr: {} calls, {} failed, p50 {:?}, p95 {:?}, p99 {:?}, max {:?}\n\
         counter: {} reload, {} panics; in the Prometheus text format:\n{line}",
        incr.calls,
        incr.errors_total(),
        incr.latency.p50(),
        incr.latency.p95(),
        incr.latency.p99(),
        incr.latency.max(),
        counter.reloads,
        counter.panics,
    );
    r.say(
        "Metrics: every call of the tour counted, none failed, the reload counted, latency percentiles",
        ok,
        detail,
    )?;
    slo_step(r, host, data_dir, total)
}

/// The SLO report of the tour: the metrics stored in the host's database (as every tick and
/// the host's drop store them), counter's objectives met with its budget untouched, no alert;
/// the Markdown and the SVG chart written beside the data.
fn slo_step(r: &mut Report<'_>, host: &Host, data_dir: &Path, total: u64) -> Result<()> {
    let outcome = host
        .flush_metrics()
        .and_then(|_| host.slo_report(Duration::from_secs(3600)));
    let report = match outcome {
        Ok(report) => report,
        Err(e) => return r.say("SLO report of the tour", false, e.to_string()),
    };
    let Some(counter) = report.plugins.iter().find(|p| p.plugin == "counter") else {
        return r.say("SLO report of the tour", false, "no row for counter".into());
    };
    let (md, svg) = (
        data_dir.join("slo-report.md"),
        data_dir.join("slo-report.svg"),
    );
    std::fs::write(&md, report.to_markdown())?;
    std::fs::write(&svg, report.to_svg())?;
    let ok = counter.calls >= total
        && counter.errors == 0
        && counter.availability.met == Some(true)
        && counter.availability.budget_remaining == Some(1.0)
        && counter.alerts.is_empty();
    let percent = |c: Option<f64>| c.map_or("—".to_owned(), |c| format!("{:.3}%", c * 100.0));
    let detail = format!(
        "counter: {} calls, {} failed; availability {} (target {}), within {} ms: {} (target {}); \
         alerts: {}\nstored in the host database; report: {} and chart: {}\n\
         `switchboard slo report --data-dir {}` and `switchboard metrics --data-dir {}` read the same",
        counter.calls,
        counter.errors,
        percent(counter.availability.compliance),
        percent(Some(counter.availability.target)),
        counter.latency_threshold_ms,
        percent(counter.latency.compliance),
        percent(Some(counter.latency.target)),
        counter.alerts.len(),
        md.display(),
        svg.display(),
        data_dir.display(),
        data_dir.display(),
    );
    r.say(
        "SLO report: counter met its objectives with its error budget untouched, no alert fired",
        ok,
        detail,
    )
}
