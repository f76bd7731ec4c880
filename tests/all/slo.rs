//! SLO alerts end to end: a real host calling the real `hello` plugin, its clock moved by
//! hand, alerts observed on the host's bus and in its audit log.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchboard_host::bus::{Mode, SubscribeOptions};
use switchboard_host::slo::{AlertState, ManualClock, SloAlert, ALERT_TOPIC};
use switchboard_host::{AuditFilter, AuditKind};
use switchboard_tests::{host_with, library};

#[test]
fn an_outage_of_hello_pages_and_resolves_through_the_bus_and_the_audit_log() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let (host, _dir) = host_with(|b, _| {
        b.clock(clock.clone()).metrics_export_interval(None);
    });
    let seen: Arc<Mutex<Vec<SloAlert>>> = Arc::default();
    let sink = seen.clone();
    host.bus()
        .subscribe(
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
    let hello = host.load_unsigned(library("hello")).unwrap();
    hello.start().unwrap();
    let greet = host.command::<String, String>("hello", "greet").unwrap();
    let env = host.command::<String, String>("hello", "env").unwrap();
    // `step` of time with 20 good calls and `failing` failed ones, then the host's tick.
    let tick = |step: u64, failing: u32| -> Vec<SloAlert> {
        clock.advance(Duration::from_secs(step));
        for _ in 0..20 {
            greet.call(&"Ada".to_string()).unwrap();
        }
        for _ in 0..failing {
            assert!(env.call(&"SB_UNSET".to_string()).is_err());
        }
        host.flush_metrics().unwrap()
    };
    for _ in 0..10 {
        assert!(tick(60, 0).is_empty());
    }
    // Half the calls fail: every rule's windows are over its burn rate at once.
    let fired = tick(60, 20);
    let mut rules: Vec<&str> = fired.iter().map(|a| a.rule.as_str()).collect();
    rules.sort_unstable();
    assert_eq!(rules, ["page-1h", "page-6h", "ticket-3d"]);
    assert!(fired
        .iter()
        .all(|a| a.state == AlertState::Firing && a.plugin == "hello"));
    assert!(tick(60, 20).is_empty(), "announced once");

    // Fixed: the page-1h alert resolves once its 5-minute window is clean, page-6h after
    // 30 minutes, the ticket after 6 hours.
    let mut resolved = Vec::new();
    for _ in 0..40 {
        for a in tick(600, 0) {
            assert_eq!(a.state, AlertState::Resolved);
            resolved.push(a.rule);
        }
    }
    assert_eq!(resolved, ["page-1h", "page-6h", "ticket-3d"]);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 6, "each transition published once");
    let audited = host
        .audit()
        .query(&AuditFilter::new().kind(AuditKind::Slo))
        .unwrap();
    assert_eq!(audited.len(), 6, "each transition audited once");

    let report = host.slo_report(Duration::from_secs(86_400)).unwrap();
    let p = &report.plugins[0];
    assert_eq!(p.plugin, "hello");
    assert_eq!(p.alerts.len(), 6);
    assert_eq!(p.errors, 40);
    assert!(
        p.availability.budget_remaining.unwrap() < 0.0,
        "the day's budget is spent"
    );
    assert!(report.until.to_system_time() > SystemTime::UNIX_EPOCH);
}
