//! The `switchboard` binary, run as a real child process.

use std::process::Command;

fn switchboard() -> Command {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
}

#[test]
fn demo_runs_end_to_end_and_prints_one_json_document() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = switchboard()
        .args(["demo", "--debug", "--json", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON document");
    assert_eq!(doc["ok"], true);
    let steps = doc["steps"].as_array().unwrap();
    assert!(steps.len() >= 10);
    assert!(steps
        .iter()
        .any(|s| s["detail"].as_str().unwrap_or("").contains("SB0101")));
    assert!(data.is_dir(), "--data-dir is kept");
}

#[test]
fn usage_errors_exit_with_status_2() {
    let out = switchboard().arg("no-such-command").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
