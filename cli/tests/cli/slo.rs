//! `switchboard metrics` and `switchboard slo report` on data directories a real host wrote
//! while calling the real `hello` plugin; on an empty directory, a damaged database, hostile
//! `--since` values and a closed stdout.

use std::path::Path;
use std::time::Duration;

use switchboard_host::Host;

use super::{switchboard, with_closed_stdout};

fn hello() -> std::path::PathBuf {
    switchboard_cli::examples::library(switchboard_cli::examples::Profile::Debug, "hello").unwrap()
}

/// A host on `data` calls `hello.greet` `greets` times and `hello.env` (which fails: the
/// variable is not passed on) `fails` times, then is dropped.
fn run_host(data: &Path, greets: u64, fails: u64) {
    let mut b = Host::builder();
    b.data_dir(data)
        .host_api("switchboard-demo", "0.1.0")
        // No timer: what is stored is what the drop flushes (and any flush_metrics call).
        .metrics_export_interval(None);
    b.dangerous().load_unsigned_libraries();
    let host = b.build().unwrap();
    let plugin = host.load_unsigned(hello()).unwrap();
    plugin.start().unwrap();
    let greet = host.command::<String, String>("hello", "greet").unwrap();
    for _ in 0..greets {
        greet.call(&"Ada".to_string()).unwrap();
    }
    let env = host.command::<String, String>("hello", "env").unwrap();
    for _ in 0..fails {
        assert!(env.call(&"SB_NOT_SET".to_string()).is_err());
    }
    // Half written now, the rest when the host drops: neither counted twice.
    host.flush_metrics().unwrap();
    for _ in 0..greets {
        greet.call(&"Grace".to_string()).unwrap();
    }
}

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .unwrap_or_else(|| panic!("no `{line_start}` in\n{text}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn metrics_survive_restarts_without_double_counting_and_print_as_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    run_host(&data, 5, 2);
    run_host(&data, 3, 1); // a restart: counters start from zero again

    let out = switchboard()
        .args(["metrics", "--since", "1d", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = r#"switchboard_plugin_calls_total{plugin="hello",command="greet"}"#;
    assert_eq!(metric(&text, calls), 16, "(5 + 3) × 2 greets");
    let env = r#"switchboard_plugin_calls_total{plugin="hello",command="env"}"#;
    assert_eq!(metric(&text, env), 3);
    let errors = r#"switchboard_plugin_errors_total{plugin="hello",command="env","#;
    assert_eq!(metric(&text, errors), 3);
    assert!(text.contains("# TYPE switchboard_plugin_call_duration_seconds summary"));
    assert!(text.contains(r#"quantile="0.99""#));

    let out = switchboard()
        .args(["metrics", "--json", "--since", "1d", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["plugins"]["hello"]["commands"]["greet"]["calls"], 16);
    assert_eq!(
        doc["plugins"]["hello"]["commands"]["env"]["errors"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
    assert!(
        doc["plugins"]["hello"]["commands"]["greet"]["p99_ms"]
            .as_f64()
            .unwrap()
            > 0.0
    );

    // The host API reads the same rows.
    let mut b = Host::builder();
    b.data_dir(&data).metrics_export_interval(None);
    let host = b.build().unwrap();
    let stored = host.stored_metrics(Duration::from_secs(86_400)).unwrap();
    assert_eq!(stored.plugins["hello"].commands["greet"].calls, 16);
    drop(host);

    // The report: JSON, Markdown, and the chart.
    let out = switchboard()
        .args([
            "slo",
            "report",
            "--format",
            "json",
            "--since",
            "7d",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &doc["plugins"][0];
    assert_eq!(p["plugin"], "hello");
    assert_eq!(p["calls"], 19);
    assert_eq!(p["errors"], 3);
    assert_eq!(p["availability"]["target"], 0.999);
    assert_eq!(p["availability"]["met"], false);

    let svg = dir.path().join("chart/hello.svg");
    let out = switchboard()
        .args(["slo", "report", "--since", "7d", "--svg"])
        .arg(&svg)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.starts_with("# SLO report"), "{md}");
    assert!(md.contains("| hello | 19 | 3 |"), "{md}");
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(chart.trim_end().ends_with("</svg>"));

    let report_dir = dir.path().join("report");
    let out = switchboard()
        .args(["slo", "report", "--out"])
        .arg(&report_dir)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    for f in ["slo-report.json", "slo-report.md", "slo-report.svg"] {
        assert!(report_dir.join(f).is_file(), "{f}");
    }

    // Objectives from the data directory's policy.
    std::fs::write(
        data.join("policy.toml"),
        "[slo.plugins.hello]\navailability = 0.5\n",
    )
    .unwrap();
    let out = switchboard()
        .args(["slo", "report", "--format", "json", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["plugins"][0]["availability"]["target"], 0.5);
    assert_eq!(doc["plugins"][0]["availability"]["met"], true);
    std::fs::write(data.join("policy.toml"), "[slo]\navailabilty = 0.5\n").unwrap();
    let out = switchboard()
        .args(["slo", "report", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SB1810"));

    // A closed stdout ends both quietly.
    for args in [
        vec!["metrics".as_ref(), "--data-dir".as_ref(), data.as_os_str()],
        vec![
            "slo".as_ref(),
            "report".as_ref(),
            "--policy".as_ref(),
            "/dev/null".as_ref(),
            "--data-dir".as_ref(),
            data.as_os_str(),
        ],
    ] {
        let out = with_closed_stdout(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

fn refusal(args: &[&str], data: &Path) -> (Option<i32>, String) {
    let out = switchboard()
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    assert!(out.stdout.is_empty() || args.contains(&"--format"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_empty_or_damaged_data_dir_and_hostile_durations_are_coded_refusals() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["metrics"][..], &["slo", "report"]] {
        let (code, err) = refusal(args, dir.path());
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("SB0605"), "{args:?}: {err}");
    }
    assert!(
        !dir.path().join("switchboard.db").exists(),
        "nothing was created"
    );

    let damaged = tempfile::tempdir().unwrap();
    std::fs::write(damaged.path().join("switchboard.db"), vec![0x5a; 8192]).unwrap();
    for args in [&["metrics"][..], &["slo", "report"]] {
        let (code, err) = refusal(args, damaged.path());
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("SB0611"), "{args:?}: {err}");
    }
    let empty_file = tempfile::tempdir().unwrap();
    std::fs::write(empty_file.path().join("switchboard.db"), b"").unwrap();
    let (_, err) = refusal(&["metrics"], empty_file.path());
    assert!(err.contains("SB0611"), "{err}");

    // A database with no metrics yet prints the families without rows.
    let fresh = tempfile::tempdir().unwrap();
    switchboard_host::Store::open(fresh.path()).unwrap();
    let out = switchboard()
        .args(["metrics", "--data-dir"])
        .arg(fresh.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("# TYPE switchboard_plugin_calls_total counter"));
    assert!(!text.contains("plugin=\""));

    let long = "9".repeat(5000);
    // `--since=VALUE`, so that clap hands `-1d` over rather than taking it for a flag.
    for since in [
        "",
        "7",
        "-1d",
        "0s",
        "1.5h",
        "7d;rm",
        "3651d",
        "99999999999999999999999d",
        &long,
    ] {
        let since = format!("--since={since}");
        let since = since.as_str();
        let (code, out) = {
            let o = switchboard()
                .args(["metrics", "--json", since, "--data-dir"])
                .arg(fresh.path())
                .output()
                .unwrap();
            (o.status.code(), o.stdout)
        };
        assert_eq!(code, Some(1));
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["error"]["code"], "SB1801", "{doc}");
        for args in [
            vec!["metrics", since],
            vec!["slo", "report", since],
            vec!["slo", "report", "--format", "json", since],
        ] {
            let (code, err) = refusal(&args, fresh.path());
            assert_eq!(code, Some(1), "{args:?}: {err}");
            assert!(
                err.contains("SB1801") || args.contains(&"json"),
                "{args:?}: {err}"
            );
        }
    }
}
