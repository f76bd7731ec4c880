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
    assert!(steps
        .iter()
        .any(|s| s["detail"].as_str().unwrap_or("").contains("SB0412")));

    // The demo left grants and audit rows behind, and the chain verifies.
    let verify = switchboard()
        .args(["audit", "verify", "--json", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert!(report["rows"].as_u64().unwrap() > 10);

    let denials = switchboard()
        .args([
            "audit", "--json", "--plugin", "hello", "--kind", "deny", "--since", "1h",
        ])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(denials.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&denials.stdout).unwrap();
    let rows = doc["rows"].as_array().unwrap();
    assert!(rows
        .iter()
        .all(|r| r["kind"] == "deny" && r["plugin"] == "hello"));
    assert!(rows
        .iter()
        .any(|r| r["detail"].as_str().unwrap().contains("SB0412")));

    let csv = switchboard()
        .args(["audit", "--format", "csv", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8(csv.stdout).unwrap();
    assert!(text.starts_with("id,at,kind,plugin,subject,detail,prev_hash,hash\n"));

    let inspect = switchboard()
        .args(["inspect", "hello", "--json"])
        .env("SWITCHBOARD_HOME", &data)
        .output()
        .unwrap();
    assert!(inspect.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(doc["plugin"]["trust"], "unsigned");
    assert!(doc["plugin"]["granted"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["capability"] == "kv" && g["scope"] == "persistent"));
    assert!(!doc["history"].as_array().unwrap().is_empty());

    // Tamper with one row: verify fails with SB0610 and names the row.
    let conn = rusqlite::Connection::open(data.join("switchboard.db")).unwrap();
    conn.execute_batch("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE id = 4;")
        .unwrap();
    drop(conn);
    let broken = switchboard()
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(1));
    let err = String::from_utf8_lossy(&broken.stderr);
    assert!(err.contains("SB0610") && err.contains("row 4"), "{err}");
}

#[test]
fn audit_of_a_directory_without_a_database_is_a_coded_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let out = switchboard()
        .args(["audit", "--json", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "SB0605");
    let out = switchboard()
        .args(["inspect", "nobody", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_bad_audit_filter_is_a_usage_error() {
    let out = switchboard()
        .args(["audit", "--kind", "bogus", "--data-dir", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = switchboard()
        .args([
            "audit",
            "--since",
            "next tuesday",
            "--data-dir",
            "/nonexistent",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn usage_errors_exit_with_status_2() {
    let out = switchboard().arg("no-such-command").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
