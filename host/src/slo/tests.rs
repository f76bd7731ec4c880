//! The tick against a real database, bus and audit log, with a clock moved by hand and
//! synthetic traffic: alerts fire and clear, once per transition.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::bus::{Bus, Mode, SubscribeOptions};
use crate::metrics::{histogram_of, CommandMetrics, MetricsSnapshot, PluginMetrics, Retention};
use crate::store::Store;
use crate::{AuditFilter, AuditKind};

/// A host's cumulative counters, as `Host::metrics` would return them.
#[derive(Default)]
struct Traffic {
    calls: u64,
    errors: u64,
    latencies: Vec<(u64, u64)>,
}

impl Traffic {
    /// `calls` more calls, `errors` of them failed, each taking `ms`.
    fn add(&mut self, calls: u64, errors: u64, ms: u64) {
        self.calls += calls;
        self.errors += errors;
        self.latencies.push((ms * 1_000_000, calls));
    }

    fn snapshot(&self) -> MetricsSnapshot {
        let mut c = CommandMetrics {
            calls: self.calls,
            latency: histogram_of(&self.latencies),
            ..CommandMetrics::default()
        };
        if self.errors > 0 {
            c.errors.insert("SB1001".into(), self.errors);
        }
        let mut p = PluginMetrics::default();
        p.commands.insert("greet".into(), c);
        MetricsSnapshot {
            taken_at: SystemTime::now(),
            plugins: [("hello".to_owned(), p)].into(),
        }
    }
}

struct Rig {
    store: Store,
    bus: Bus,
    clock: ManualClock,
    monitor: Monitor,
    published: Arc<Mutex<Vec<SloAlert>>>,
    _dir: tempfile::TempDir,
}

/// A whole hour (500 000 × 3600 s).
const START: u64 = 1_800_000_000;

fn rig() -> Rig {
    rig_with(Retention::default())
}

fn rig_with(retention: Retention) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let bus = Bus::new();
    let published = Arc::new(Mutex::new(Vec::new()));
    let sink = published.clone();
    bus.subscribe(
        ALERT_TOPIC,
        SubscribeOptions::new().mode(Mode::Inline),
        move |e| {
            sink.lock()
                .unwrap()
                .push(serde_json::from_slice(e.payload()).unwrap());
            Ok(())
        },
    )
    .unwrap();
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START));
    let monitor = Monitor::new(Arc::new(clock.clone()), retention, SloPolicy::new());
    Rig {
        store,
        bus,
        clock,
        monitor,
        published,
        _dir: dir,
    }
}

impl Rig {
    /// A minute of traffic, then the tick.
    fn minute(&self, traffic: &mut Traffic, calls: u64, errors: u64, ms: u64) -> Vec<SloAlert> {
        self.clock.advance(Duration::from_secs(60));
        traffic.add(calls, errors, ms);
        self.monitor
            .tick(
                &self.store,
                &self.store.audit(),
                &self.bus,
                traffic.snapshot(),
            )
            .unwrap()
    }

    fn minutes(&self, traffic: &mut Traffic, n: u32, errors: u64, ms: u64) -> Vec<SloAlert> {
        (0..n)
            .flat_map(|_| self.minute(traffic, 1000, errors, ms))
            .collect()
    }
}

fn names(alerts: &[SloAlert]) -> Vec<(String, &'static str)> {
    alerts
        .iter()
        .map(|a| {
            let state = match a.state {
                AlertState::Firing => "firing",
                AlertState::Resolved => "resolved",
            };
            (format!("{} {}", a.objective.as_str(), a.rule), state)
        })
        .collect()
}

#[test]
fn an_error_spike_pages_then_resolves_once_each() {
    let r = rig();
    let mut t = Traffic::default();
    // An hour of good traffic: nothing fires.
    assert!(r.minutes(&mut t, 60, 0, 5).is_empty());

    // Half the calls fail. After one minute the hour's burn rate is 500/61000 / 0.001 = 8.2:
    // below 14.4, so page-1h waits; page-6h (6×) and the ticket (1×) fire at once.
    let first = r.minute(&mut t, 1000, 500, 5);
    assert_eq!(
        names(&first),
        [
            ("availability page-6h".to_owned(), "firing"),
            ("availability ticket-3d".to_owned(), "firing"),
        ]
    );
    let fired = &first[0];
    assert_eq!(fired.plugin, "hello");
    assert_eq!(fired.severity, Severity::Page);
    assert!(
        fired.burn_rate_long >= 6.0 && fired.burn_rate_short >= 6.0,
        "{fired:?}"
    );
    assert_eq!(
        (fired.long_window_secs, fired.short_window_secs),
        (21_600, 1_800)
    );
    // The second minute takes the hour over 14.4.
    let second = r.minute(&mut t, 1000, 500, 5);
    assert_eq!(
        names(&second),
        [("availability page-1h".to_owned(), "firing")]
    );
    // Still failing: no transition, so nothing is announced again.
    assert!(r.minutes(&mut t, 5, 500, 5).is_empty());

    // Fixed. The 5-minute window clears after its buckets age out.
    let after: Vec<_> = (0..10).flat_map(|_| r.minute(&mut t, 1000, 0, 5)).collect();
    assert_eq!(
        names(&after),
        [("availability page-1h".to_owned(), "resolved")]
    );
    // Half an hour later the 30-minute window is clean too.
    let later = r.minutes(&mut t, 30, 0, 5);
    assert_eq!(
        names(&later),
        [("availability page-6h".to_owned(), "resolved")]
    );
    // And six hours later the ticket's short window.
    let much_later = r.minutes(&mut t, 6 * 60, 0, 5);
    assert_eq!(
        names(&much_later),
        [("availability ticket-3d".to_owned(), "resolved")]
    );

    // Every transition went to the bus and the audit log exactly once.
    let published = r.published.lock().unwrap().clone();
    assert_eq!(published.len(), 6);
    let audited = r
        .store
        .audit()
        .query(&AuditFilter::new().kind(AuditKind::Slo))
        .unwrap();
    assert_eq!(audited.len(), 6);
    assert_eq!(audited[0].plugin, "hello");
    assert_eq!(audited[0].subject, "availability page-6h firing");
    let detail: SloAlert = serde_json::from_str(&audited[0].detail).unwrap();
    assert_eq!(detail, published[0]);
}

#[test]
fn slow_calls_burn_the_latency_budget() {
    let r = rig();
    let mut t = Traffic::default();
    assert!(r.minutes(&mut t, 30, 0, 5).is_empty());
    // Every call takes 250 ms, over the 100 ms threshold; no call fails. After six minutes
    // the hour's burn rate is 6000/36000 / 0.01 = 16.7.
    let alerts = r.minutes(&mut t, 6, 0, 250);
    let fired = names(&alerts);
    assert!(
        fired.contains(&("latency page-1h".to_owned(), "firing")),
        "{fired:?}"
    );
    assert!(
        fired.iter().all(|(n, _)| n.starts_with("latency")),
        "{fired:?}"
    );
}

#[test]
fn a_restarted_host_does_not_announce_a_firing_alert_again() {
    let r = rig();
    let mut t = Traffic::default();
    let fired = r.minutes(&mut t, 3, 1000, 5);
    assert!(!fired.is_empty());
    // A new host on the same database: its counters start from zero.
    let again = Monitor::new(
        Arc::new(r.clock.clone()),
        Retention::default(),
        SloPolicy::new(),
    );
    let mut fresh = Traffic::default();
    r.clock.advance(Duration::from_secs(60));
    fresh.add(1000, 1000, 5);
    let alerts = again
        .tick(&r.store, &r.store.audit(), &r.bus, fresh.snapshot())
        .unwrap();
    assert!(alerts.is_empty(), "{:?}", names(&alerts));
}

#[test]
fn a_few_calls_with_no_errors_never_fire() {
    let r = rig();
    let mut t = Traffic::default();
    for _ in 0..120 {
        assert!(r.minute(&mut t, 1, 0, 5).is_empty());
    }
}

#[test]
fn the_report_shows_compliance_budget_alerts_and_a_chart() {
    let r = rig();
    let mut t = Traffic::default();
    r.minutes(&mut t, 60, 0, 5);
    r.minutes(&mut t, 10, 100, 50);
    r.minutes(&mut t, 50, 0, 5);
    let now = r.clock.now();
    let report = report(
        &r.store,
        &SloPolicy::new(),
        now - Duration::from_secs(7200),
        now,
    )
    .unwrap();
    assert_eq!(report.plugins.len(), 1);
    let p = &report.plugins[0];
    assert_eq!(p.plugin, "hello");
    assert_eq!(p.calls, 120_000);
    assert_eq!(p.errors, 1000);
    let a = p.availability;
    assert_eq!((a.events, a.bad), (120_000, 1000));
    assert_eq!(a.met, Some(false));
    // 1000 bad against an allowance of 0.001 × 120000 = 120: the budget is overspent.
    let left = a.budget_remaining.unwrap();
    assert!((left - (1.0 - 1000.0 / 120.0)).abs() < 1e-9, "{left}");
    assert_eq!(p.latency.bad, 0);
    assert_eq!(p.latency.met, Some(true));
    assert!(!p.alerts.is_empty());
    assert!(report.step_secs >= 60 && report.step_secs.is_multiple_of(60));
    assert!(p.series.len() <= 120);
    assert_eq!(p.series.iter().map(|s| s.calls).sum::<u64>(), 120_000);
    assert!(p.series.iter().any(|s| s.error_rate > 0.09));

    let md = report.to_markdown();
    assert!(md.contains("| hello | 120000 | 1000 |"), "{md}");
    assert!(md.contains("## Alerts of hello"), "{md}");
    let json = report.to_json();
    assert_eq!(json["plugins"][0]["availability"]["bad"], 1000);
    assert_eq!(json["plugins"][0]["alerts"][0]["state"], "firing");
    let svg = report.to_svg();
    check_svg(&svg);
    assert!(svg.contains("class=\"p99\""));
    assert!(svg.contains("class=\"errors\""));
}

#[test]
fn the_chart_escapes_plugin_names() {
    let r = rig();
    let mut t = Traffic::default();
    r.minute(&mut t, 10, 0, 5);
    r.store
        .lock()
        .execute("UPDATE metrics_commands SET plugin = '<x>&\"y\"'", [])
        .unwrap();
    let now = r.clock.now();
    let report = report(
        &r.store,
        &SloPolicy::new(),
        now - Duration::from_secs(3600),
        now,
    )
    .unwrap();
    let svg = report.to_svg();
    check_svg(&svg);
    assert!(svg.contains("&lt;x&gt;&amp;&quot;y&quot;"));
    assert!(!svg.contains("<x>"));
    assert!(report.to_markdown().contains("<x>&\"y\""));
}

/// Well-formed enough for any XML parser: tags balance, attributes are quoted, `&` only
/// starts the five predefined entities, and no `<` appears in text.
fn check_svg(svg: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    let mut seen_root = false;
    while let Some(open) = rest.find('<') {
        check_text(&rest[..open]);
        let close = rest[open..].find('>').expect("unclosed tag") + open;
        let tag = &rest[open + 1..close];
        assert!(!tag.contains('<'), "`<` inside a tag: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
        } else {
            let self_closing = tag.ends_with('/');
            let body = tag.trim_end_matches('/');
            let name = body.split_whitespace().next().expect("a tag name");
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric()),
                "tag {name}"
            );
            check_attributes(&body[name.len()..]);
            if stack.is_empty() {
                assert!(!seen_root, "a second root element");
                assert_eq!(name, "svg");
                seen_root = true;
            }
            if !self_closing {
                stack.push(name.to_owned());
            }
        }
        rest = &rest[close + 1..];
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed {stack:?}");
    assert!(seen_root);
}

fn check_attributes(mut attrs: &str) {
    loop {
        attrs = attrs.trim_start();
        if attrs.is_empty() {
            return;
        }
        let eq = attrs.find('=').expect("attribute without value");
        let name = &attrs[..eq];
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'),
            "{name}"
        );
        assert_eq!(&attrs[eq + 1..eq + 2], "\"", "unquoted attribute {name}");
        let end = attrs[eq + 2..].find('"').expect("unterminated attribute") + eq + 2;
        check_text(&attrs[eq + 2..end]);
        attrs = &attrs[end + 1..];
    }
}

fn check_text(text: &str) {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        let after = &rest[amp..];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                .iter()
                .any(|e| after.starts_with(e)),
            "a bare `&` in {text:?}"
        );
        rest = &rest[amp + 1..];
    }
    assert!(!text.contains('>') || !text.contains('<'));
}

#[test]
fn compaction_during_an_outage_keeps_every_transition_once() {
    // Minute rows older than an hour become hour rows while the alerts fire and resolve.
    let r = rig_with(Retention::new(
        Duration::from_secs(3600),
        Duration::from_secs(30 * 86_400),
    ));
    let mut t = Traffic::default();
    let mut all = Vec::new();
    for minute in 0..(60 + 7 + 9 * 60) {
        let errors = if (60..67).contains(&minute) { 500 } else { 0 };
        all.extend(r.minute(&mut t, 1000, errors, 5));
        // What the tick keeps in memory is what the database holds (checked every few
        // minutes, and at each hour, where compaction runs).
        if minute % 5 == 0 || minute % 60 == 59 {
            assert!(r.monitor.cache_matches(&r.store), "minute {minute}");
        }
    }
    let hours: i64 = r
        .store
        .lock()
        .query_row(
            "SELECT COUNT(*) FROM metrics_commands WHERE resolution = 3600",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(hours > 5, "compaction ran");
    let mut seen = names(&all);
    seen.sort();
    let mut want = Vec::new();
    for rule in ["page-1h", "page-6h", "ticket-3d"] {
        want.push((format!("availability {rule}"), "firing"));
        want.push((format!("availability {rule}"), "resolved"));
    }
    want.sort();
    assert_eq!(seen, want);
}
