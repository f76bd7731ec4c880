//! Unit tests: the rules with explicit times, the record, the monitor's thread.

use std::time::Duration;

use switchboard_sdk::{codes as sdk_codes, ErrorCode, Health, PluginError};

use super::codes;
use super::record::{Incident, IncidentKind, Record, MAX_INCIDENTS};
use super::rules::{evaluate, human, HealthRules, HookOutcome, Observed};
use super::status::{HealthReason, HealthState, HealthStatus, PluginHealth};
use crate::lifecycle::State;
use crate::timestamp::Timestamp;

const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

fn at(secs: u64) -> Timestamp {
    T0.plus(Duration::from_secs(secs))
}

fn incident(secs: u64, kind: IncidentKind) -> Incident {
    Incident {
        at: at(secs),
        kind,
        detail: format!("incident at +{secs}s"),
    }
}

fn active(hook: Health) -> Observed<'static> {
    Observed {
        state: State::Active,
        failure: None,
        hook: HookOutcome::Answered(hook),
        incidents: &[],
        runner_down: None,
    }
}

fn codes_of(reasons: &[HealthReason]) -> Vec<ErrorCode> {
    reasons.iter().map(|r| r.code).collect()
}

#[test]
fn a_healthy_hook_and_no_incidents_is_healthy_without_reasons() {
    let (state, reasons) = evaluate(&HealthRules::default(), &active(Health::Healthy), at(0));
    assert_eq!(state, HealthState::Healthy);
    assert!(reasons.is_empty());
}

#[test]
fn the_hooks_own_report_sets_the_state() {
    let rules = HealthRules::default();
    let (state, reasons) = evaluate(&rules, &active(Health::Degraded("slow disk".into())), at(0));
    assert_eq!(state, HealthState::Degraded);
    assert_eq!(codes_of(&reasons), [codes::HOOK_DEGRADED]);
    assert!(reasons[0].message.contains("slow disk"));

    let (state, reasons) = evaluate(&rules, &active(Health::Unhealthy("no db".into())), at(0));
    assert_eq!(state, HealthState::Unhealthy);
    assert_eq!(codes_of(&reasons), [codes::HOOK_UNHEALTHY]);

    let mut seen = active(Health::Healthy);
    seen.hook = HookOutcome::NoAnswer("the health check did not answer within 5 ms".into());
    let (state, reasons) = evaluate(&rules, &seen, at(0));
    assert_eq!(state, HealthState::Unhealthy);
    assert_eq!(codes_of(&reasons), [codes::HOOK_NO_ANSWER]);
}

#[test]
fn the_lifecycle_state_sets_the_state() {
    let rules = HealthRules::default();
    let observed = |state, failure: Option<&str>| Observed {
        state,
        failure: failure.map(str::to_owned),
        hook: HookOutcome::NotAsked,
        incidents: &[],
        runner_down: None,
    };
    let (state, reasons) = evaluate(&rules, &observed(State::Failed, Some("boom")), at(0));
    assert_eq!(state, HealthState::Unhealthy);
    assert_eq!(codes_of(&reasons), [codes::FAILED]);
    assert!(reasons[0].message.contains("boom"));

    let (state, reasons) = evaluate(&rules, &observed(State::Reloading, None), at(0));
    assert_eq!(state, HealthState::Degraded);
    assert_eq!(codes_of(&reasons), [codes::RELOADING]);

    for not_running in [State::Loaded, State::Stopped, State::Stopping] {
        let (state, reasons) = evaluate(&rules, &observed(not_running, None), at(0));
        assert_eq!(state, HealthState::Unhealthy, "{not_running}");
        assert_eq!(codes_of(&reasons), [codes::NOT_RUNNING]);
        assert!(reasons[0].message.contains(not_running.as_str()));
    }
}

#[test]
fn a_panic_counts_while_it_is_within_the_window_and_not_after() {
    let rules = HealthRules {
        window: Duration::from_secs(60),
        ..HealthRules::default()
    };
    let incidents = [incident(10, IncidentKind::Panic)];
    let mut seen = active(Health::Healthy);
    seen.incidents = &incidents;
    // At the edge of the window it still counts …
    for now in [at(10), at(40), at(70)] {
        let (state, reasons) = evaluate(&rules, &seen, now);
        assert_eq!(state, HealthState::Degraded, "at {now}");
        assert_eq!(codes_of(&reasons), [codes::PANICS]);
        assert!(reasons[0].message.starts_with("1 panic in the last 1 min"));
        assert!(reasons[0].message.contains("incident at +10s"));
    }
    // … a millisecond later it has aged out.
    let (state, reasons) = evaluate(&rules, &seen, at(70).plus(Duration::from_millis(1)));
    assert_eq!(state, HealthState::Healthy);
    assert!(reasons.is_empty());
}

#[test]
fn incidents_of_one_kind_at_the_threshold_make_it_unhealthy() {
    let rules = HealthRules {
        window: Duration::from_secs(300),
        degraded_after: 2,
        unhealthy_after: 4,
        ..HealthRules::default()
    };
    let failed: Vec<Incident> = (0..4)
        .map(|i| incident(i * 10, IncidentKind::FailedCall))
        .collect();
    let state_with = |n: usize| {
        let mut seen = active(Health::Healthy);
        seen.incidents = &failed[..n];
        evaluate(&rules, &seen, at(100))
    };
    assert_eq!(state_with(1).0, HealthState::Healthy);
    assert_eq!(state_with(2).0, HealthState::Degraded);
    assert_eq!(state_with(3).0, HealthState::Degraded);
    let (state, reasons) = state_with(4);
    assert_eq!(state, HealthState::Unhealthy);
    assert_eq!(codes_of(&reasons), [codes::FAILED_CALLS]);
    assert!(
        reasons[0].message.starts_with("4 calls failed"),
        "{}",
        reasons[0].message
    );
    // Kinds count apart: two of each is degraded, not unhealthy.
    let mixed = [
        incident(1, IncidentKind::Panic),
        incident(2, IncidentKind::Panic),
        incident(3, IncidentKind::RunnerRestart),
        incident(4, IncidentKind::RunnerRestart),
    ];
    let mut seen = active(Health::Healthy);
    seen.incidents = &mixed;
    let (state, reasons) = evaluate(&rules, &seen, at(100));
    assert_eq!(state, HealthState::Degraded);
    assert_eq!(codes_of(&reasons), [codes::PANICS, codes::RUNNER_RESTARTS]);
}

#[test]
fn a_threshold_of_zero_turns_its_rule_off() {
    let rules = HealthRules {
        degraded_after: 0,
        unhealthy_after: 0,
        ..HealthRules::default()
    };
    let incidents: Vec<Incident> = (0..10).map(|i| incident(i, IncidentKind::Panic)).collect();
    let mut seen = active(Health::Healthy);
    seen.incidents = &incidents;
    assert_eq!(evaluate(&rules, &seen, at(20)).0, HealthState::Healthy);
}

#[test]
fn a_runner_restarting_now_is_degraded() {
    let mut seen = active(Health::Healthy);
    seen.runner_down = Some("killed by signal 9");
    let (state, reasons) = evaluate(&HealthRules::default(), &seen, at(0));
    assert_eq!(state, HealthState::Degraded);
    assert_eq!(codes_of(&reasons), [codes::RUNNER_RESTARTS]);
    assert!(reasons[0].message.contains("signal 9"));
}

#[test]
fn reasons_come_worst_first_and_the_worst_sets_the_state() {
    let incidents = [incident(1, IncidentKind::RunnerRestart)];
    let mut seen = active(Health::Unhealthy("down".into()));
    seen.incidents = &incidents;
    let (state, reasons) = evaluate(&HealthRules::default(), &seen, at(2));
    assert_eq!(state, HealthState::Unhealthy);
    assert_eq!(
        codes_of(&reasons),
        [codes::HOOK_UNHEALTHY, codes::RUNNER_RESTARTS]
    );
}

#[test]
fn inconsistent_rules_are_named() {
    assert_eq!(HealthRules::default().problem(), None);
    let backwards = HealthRules {
        degraded_after: 3,
        unhealthy_after: 2,
        ..HealthRules::default()
    };
    assert!(backwards
        .problem()
        .unwrap()
        .contains("below degraded_after"));
    let no_time = HealthRules {
        hook_deadline: Duration::ZERO,
        ..HealthRules::default()
    };
    assert!(no_time.problem().is_some());
    // Off is not backwards.
    let off = HealthRules {
        degraded_after: 3,
        unhealthy_after: 0,
        ..HealthRules::default()
    };
    assert_eq!(off.problem(), None);
}

#[test]
fn windows_read_as_words() {
    assert_eq!(human(Duration::from_secs(300)), "5 min");
    assert_eq!(human(Duration::from_secs(7200)), "2 h");
    assert_eq!(human(Duration::from_secs(90)), "90 s");
    assert_eq!(human(Duration::from_millis(1500)), "1500 ms");
}

#[test]
fn the_record_keeps_only_failures_that_say_something_about_health() {
    let record = Record::default();
    let plain = PluginError::new("not found");
    record.note_error(format_args!("`get`"), &plain);
    assert!(record.incidents().is_empty());
    let panic = PluginError::with_code(sdk_codes::PLUGIN_PANICKED, "boom");
    record.note_error(format_args!("`crash`"), &panic);
    let timeout = PluginError::with_code(ErrorCode::from_number(1502), "too slow");
    record.note_error(format_args!("`slow`"), &timeout);
    let kinds: Vec<IncidentKind> = record.incidents().iter().map(|i| i.kind).collect();
    assert_eq!(kinds, [IncidentKind::Panic, IncidentKind::FailedCall]);
    assert_eq!(record.incidents()[0].detail, "`crash`: [SB0101] boom");
}

#[test]
fn the_record_is_bounded_and_drops_the_oldest() {
    let record = Record::default();
    for i in 0..(MAX_INCIDENTS as u64 + 10) {
        record.note_at(at(i), IncidentKind::Panic, "p");
    }
    let kept = record.incidents();
    assert_eq!(kept.len(), MAX_INCIDENTS);
    assert_eq!(kept[0].at, at(10));
}

#[test]
fn a_runner_restart_is_an_incident_and_down_until_it_is_back() {
    let record = Record::default();
    record.runner_exited("signal 9", true);
    assert_eq!(record.runner_down().as_deref(), Some("signal 9"));
    assert_eq!(record.incidents()[0].kind, IncidentKind::RunnerRestart);
    record.runner_restarted();
    assert_eq!(record.runner_down(), None);
    // An exit with no restart is a give-up: the plugin fails, which the state says.
    record.runner_exited("again", false);
    assert_eq!(record.incidents().len(), 1);
}

#[test]
fn a_hook_is_claimed_once_until_it_returns() {
    let record = Record::default();
    let claim = record.claim_hook().unwrap();
    assert!(record.claim_hook().is_none());
    drop(claim);
    assert!(record.claim_hook().is_some());
}

#[test]
fn a_change_is_a_new_state_or_a_first_state_other_than_healthy() {
    let status = |state| HealthStatus {
        state,
        reasons: Vec::new(),
        since: at(0),
        checked: at(0),
    };
    let result = |previous, state| PluginHealth {
        plugin: "p".into(),
        status: status(state),
        previous,
    };
    assert!(!result(None, HealthState::Healthy).changed());
    assert!(result(None, HealthState::Degraded).changed());
    assert!(!result(Some(HealthState::Degraded), HealthState::Degraded).changed());
    assert!(result(Some(HealthState::Degraded), HealthState::Healthy).changed());
}

fn host(setup: impl FnOnce(&mut crate::HostBuilder)) -> (crate::Host, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut b = crate::Host::builder();
    b.data_dir(dir.path());
    setup(&mut b);
    (b.build().unwrap(), dir)
}

#[test]
fn the_monitor_thread_stops_when_the_host_is_dropped() {
    let (host, _dir) = host(|b| {
        b.health_interval(Duration::from_millis(10));
    });
    let alive = host.health_monitor().alive().unwrap();
    assert!(alive.upgrade().is_some());
    let clone = host.clone();
    drop(host);
    // A clone keeps the host, and so the thread.
    assert!(alive.upgrade().is_some());
    drop(clone);
    // Dropping the last one joined the thread: its token is gone.
    assert!(alive.upgrade().is_none());
}

#[test]
fn no_interval_no_thread() {
    let (host, _dir) = host(|b| {
        b.health_interval(None);
    });
    assert!(host.health_monitor().alive().is_none());
    assert_eq!(host.health_interval(), None);
    // On demand still works, on a host without plugins too.
    let report = host.check_health();
    assert!(report.plugins.is_empty());
    assert_eq!(report.worst(), HealthState::Healthy);
}

#[test]
fn bad_health_settings_are_refused_with_sb0399() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = crate::Host::builder();
    b.data_dir(dir.path()).health_interval(Duration::ZERO);
    let e = b.build().unwrap_err();
    assert_eq!(e.code().to_string(), "SB0399");
    let mut b = crate::Host::builder();
    b.data_dir(dir.path()).health_rules(HealthRules {
        degraded_after: 5,
        unhealthy_after: 1,
        ..HealthRules::default()
    });
    let e = b.build().unwrap_err();
    assert_eq!(e.code().to_string(), "SB0399");
    assert!(e.to_string().contains("below degraded_after"), "{e}");
}
