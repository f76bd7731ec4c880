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
    assert_eq!(
        doc["plugin"]["trust"], "verified",
        "the demo loads hello from its signed package"
    );
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
fn a_demo_step_that_fails_makes_the_demo_exit_1_with_a_coded_error() {
    // A data directory whose demo key pair does not match: the demo signs hello with one key
    // and its host trusts the other, so the package is only self-signed, and the steps that
    // expect a verified signature fail for real while the rest of the demo runs on.
    let dir = tempfile::tempdir().unwrap();
    for k in ["a", "b"] {
        let keygen = switchboard()
            .args(["keygen", "--unencrypted", "--out"])
            .arg(dir.path().join(k))
            .output()
            .unwrap();
        assert!(keygen.status.success(), "{keygen:?}");
    }
    let data = dir.path().join("data");
    let keys = data.join("demo-keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::copy(
        dir.path().join("a/switchboard.key"),
        keys.join("switchboard.key"),
    )
    .unwrap();
    std::fs::copy(
        dir.path().join("b/switchboard.pub"),
        keys.join("switchboard.pub"),
    )
    .unwrap();

    let out = switchboard()
        .args(["demo", "--debug", "--json", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON document");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["code"], "SB0090", "{doc:#}");
    let failed: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["ok"] == false)
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    assert!(
        failed.iter().any(|t| t.contains("signed")),
        "the signature steps fail: {failed:?}"
    );
    let message = doc["error"]["message"].as_str().unwrap();
    for title in &failed {
        assert!(message.contains(title), "{message} names {title}");
    }
    // The demo ran on after the failures: the later steps still passed.
    assert!(doc["steps"].as_array().unwrap().len() >= 30, "{doc:#}");
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

#[test]
fn preflight_exits_0_on_a_good_manifest_and_1_with_json_on_a_broken_one() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let good = switchboard()
        .args(["preflight", "--host-api", "switchboard-demo@0.1.0"])
        .arg(root.join("examples/hello/plugin.toml"))
        .output()
        .unwrap();
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stdout)
    );
    assert!(String::from_utf8_lossy(&good.stdout).contains("✓ manifest"));

    let bad = switchboard()
        .args(["preflight", "--json"])
        .arg(root.join("tests/manifests/unknown_field.toml"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&bad.stdout).expect("one JSON document");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["diagnostics"][0]["code"], "SB1002");
    assert!(doc["diagnostics"][0]["message"]
        .as_str()
        .unwrap()
        .contains("did you mean `license`"));
}

#[test]
fn preflight_rejects_a_malformed_host_api_as_a_coded_error() {
    let out = switchboard()
        .args(["preflight", "--host-api", "nonsense", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NAME@VERSION"));
}

#[test]
fn author_round_trip_keygen_pack_sign_verify_then_load() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let run = |args: &[&str]| {
        let out = switchboard()
            .args(args)
            // The outer `cargo test` holds the lock on target/; build beside it.
            .env("CARGO_TARGET_DIR", root.join("target").join("examples"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["keygen", "--out", keys.to_str().unwrap(), "--unencrypted"]);
    let out_dir = dir.path().join("out");
    let printed = run(&[
        "pack",
        root.join("examples/hello").to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let package = printed.lines().last().unwrap().to_owned();
    assert!(package.ends_with("hello-0.1.0.sbpkg"), "{printed}");
    let first = std::fs::read(&package).unwrap();
    let again = run(&[
        "pack",
        root.join("examples/hello").to_str().unwrap(),
        "--out",
        dir.path().join("again").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(again.lines().last().unwrap()).unwrap(),
        first,
        "pack is reproducible"
    );

    run(&[
        "sign",
        &package,
        "--key",
        keys.join("switchboard.key").to_str().unwrap(),
    ]);
    let report = run(&[
        "verify",
        &package,
        "--trust",
        keys.join("switchboard.pub").to_str().unwrap(),
        "--json",
        "--data-dir",
        dir.path().join("data").to_str().unwrap(),
    ]);
    let doc: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["trust"], "verified");

    // Keygen refuses to overwrite.
    let again = switchboard()
        .args(["keygen", "--out", keys.to_str().unwrap(), "--unencrypted"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));

    // The signed package loads into a host that trusts the key.
    let mut b = switchboard_host::Host::builder();
    b.data_dir(dir.path().join("host"))
        .host_api("switchboard-demo", "0.1.0");
    b.trust(std::fs::read_to_string(keys.join("switchboard.pub")).unwrap());
    let host = b.build().unwrap();
    let hello = host.load_package(&package).unwrap();
    hello.start().unwrap();
    assert_eq!(hello.trust().as_str(), "verified");
    let greet = hello.command::<String, String>("greet").unwrap();
    assert_eq!(greet.call(&"Ada".to_string()).unwrap(), "Hello, Ada!");
}

const LOCKFILE: &str = r#"version = 1

[[plugin]]
name = "geo"
version = "3.0.0"
source = "registry+https://plugins.example"
checksum = "sha256:01"
trust = "verified"
dependencies = []

[[plugin]]
name = "maps"
version = "1.4.0"
source = "registry+https://plugins.example"
checksum = "sha256:02"
trust = "verified"
dependencies = ["geo"]

[[plugin]]
name = "weather"
version = "2.1.0"
source = "registry+https://plugins.example"
checksum = "sha256:03"
signer = "RWQf6LRCGA9i53ml"
trust = "self-signed"
dependencies = ["geo", "maps"]
optional-dependencies = ["maps"]
"#;

fn write_lockfile(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("switchboard.lock");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn tree_prints_the_lockfile_as_a_tree() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_lockfile(dir.path(), LOCKFILE);
    let out = switchboard()
        .args(["tree", "--lockfile"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "weather 2.1.0\n├── geo 3.0.0\n└── maps 1.4.0 (optional)\n    └── geo 3.0.0\n"
    );
}

#[test]
fn tree_reads_switchboard_lock_in_the_current_directory_by_default() {
    let dir = tempfile::tempdir().unwrap();
    write_lockfile(dir.path(), LOCKFILE);
    let out = switchboard()
        .arg("tree")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("weather 2.1.0\n"));
}

#[test]
fn tree_dot_prints_graphviz() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_lockfile(dir.path(), LOCKFILE);
    let out = switchboard()
        .args(["tree", "--dot", "--lockfile"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(dot.starts_with("digraph plugins {\n"), "{dot}");
    assert!(
        dot.contains("    \"weather\" -> \"maps\" [style=dashed];\n"),
        "{dot}"
    );
    assert!(dot.contains("    \"maps\" -> \"geo\";\n"), "{dot}");
}

#[test]
fn tree_json_is_one_document_with_the_load_order_and_dependents() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_lockfile(dir.path(), LOCKFILE);
    let out = switchboard()
        .args(["tree", "--json", "--lockfile"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["ok"], true);
    assert_eq!(
        doc["load_order"],
        serde_json::json!(["geo", "maps", "weather"])
    );
    let geo = &doc["plugins"][0];
    assert_eq!(geo["name"], "geo");
    assert_eq!(geo["dependents"], serde_json::json!(["maps", "weather"]));
    assert_eq!(doc["plugins"][2]["trust"], "self-signed");
}

#[test]
fn tree_of_a_missing_lockfile_fails_with_a_coded_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = switchboard()
        .args(["tree", "--lockfile"])
        .arg(dir.path().join("nope.lock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error[SB0507]: cannot access the lockfile"),
        "{stderr}"
    );
    assert!(stderr.contains("next: "), "{stderr}");
    // The host error's own report (code, next step) is not printed a second time.
    assert_eq!(stderr.matches("SB0507").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("next:").count(), 1, "{stderr}");
    let out = switchboard()
        .args(["tree", "--json", "--lockfile"])
        .arg(dir.path().join("nope.lock"))
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let message = doc["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("cannot access the lockfile"),
        "{message}"
    );
    assert!(!message.contains("next:"), "{message}");
}

#[test]
fn tree_reports_a_cycle_as_json_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let cyclic = LOCKFILE.replace("dependencies = []", "dependencies = [\"weather\"]");
    let path = write_lockfile(dir.path(), &cyclic);
    let out = switchboard()
        .args(["tree", "--json", "--lockfile"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["code"], "SB0503");
    assert_eq!(
        doc["error"]["message"],
        "dependency cycle: geo → weather → geo"
    );
}

#[test]
fn tree_refuses_dot_and_json_together() {
    let out = switchboard()
        .args(["tree", "--dot", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn weather_data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = switchboard_host::Store::open(dir.path()).unwrap();
    let spec: switchboard_host::state::ConfigSpec = serde_json::from_value(serde_json::json!({
        "schema": { "type": "object", "properties": { "retries": { "type": "integer" } } },
        "defaults": { "units": "metric", "retries": 1, "debug": false }
    }))
    .unwrap();
    store.record_config_spec("weather", "1.0.0", &spec).unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/weather.toml"),
        "units = \"imperial\"\n[profile.production]\nretries = 5\n",
    )
    .unwrap();
    dir
}

#[test]
fn config_shows_each_value_and_where_it_came_from() {
    let dir = weather_data_dir();
    let out = switchboard()
        .args(["config", "weather", "--json", "--environment", "production"])
        .arg("--data-dir")
        .arg(dir.path())
        .env("SWITCHBOARD_WEATHER_DEBUG", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["config"],
        serde_json::json!({ "units": "imperial", "retries": 5, "debug": true })
    );
    assert_eq!(doc["sources"]["units"], "file");
    assert_eq!(doc["sources"]["retries"], "profile production");
    assert_eq!(
        doc["sources"]["debug"],
        "variable SWITCHBOARD_WEATHER_DEBUG"
    );
    let text = switchboard()
        .args(["config", "weather", "--data-dir"])
        .arg(dir.path())
        .env_remove("SWITCHBOARD_WEATHER_DEBUG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("retries  1  (default)"), "{text}");
    assert!(text.contains("units    \"imperial\"  (file)"), "{text}");
}

#[test]
fn config_errors_are_coded_with_the_field_path() {
    let dir = weather_data_dir();
    let out = switchboard()
        .args(["config", "weather", "--json", "--data-dir"])
        .arg(dir.path())
        .env("SWITCHBOARD_WEATHER_RETRIES", "\"many\"")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "SB0722");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("config.retries"));
    let out = switchboard()
        .args(["config", "nobody", "--json", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "SB0723");
}

#[test]
fn state_show_transfer_and_wipe_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lib =
        switchboard_cli::examples::library(switchboard_cli::examples::Profile::Debug, "counter")
            .unwrap();
    {
        let mut policy = switchboard_host::Policy::new();
        policy.allow("kv".parse().unwrap());
        let mut b = switchboard_host::Host::builder();
        b.data_dir(&data)
            .host_api("switchboard-demo", "0.1.0")
            .policy(policy);
        b.dangerous().load_unsigned_libraries();
        let host = b.build().unwrap();
        host.load_unsigned(&lib).unwrap();
        host.kv("counter").put("c/x", b"1").unwrap();
    }
    let run = |args: &[&str]| {
        switchboard()
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let json = |out: &std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&out.stdout).expect("one JSON document")
    };

    let shown = run(&["state", "show", "counter", "--json"]);
    assert!(shown.status.success());
    let owner = format!("library:{}", lib.canonicalize().unwrap().display());
    assert_eq!(json(&shown)["owner"], owner.as_str());
    let inspected = run(&["inspect", "counter", "--json"]);
    assert_eq!(json(&inspected)["owner"], owner.as_str());

    let bad = run(&["state", "transfer", "counter", "--to", "somebody", "--json"]);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(json(&bad)["error"]["code"], "SB0443");

    // Not a terminal and no --yes: refused, nothing deleted.
    let unconfirmed = run(&["state", "wipe", "counter"]);
    assert_eq!(unconfirmed.status.code(), Some(1));

    let moved = run(&[
        "state",
        "transfer",
        "counter",
        "--to",
        "key:0123456789ABCDEF",
    ]);
    assert!(
        moved.status.success(),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );

    let wiped = run(&["state", "wipe", "counter", "--yes", "--json"]);
    assert!(wiped.status.success());
    let doc = json(&wiped);
    assert_eq!(doc["wiped"]["kv_entries"], 1);
    assert_eq!(doc["wiped"]["owner"], "key:0123456789ABCDEF");
    assert_eq!(
        json(&run(&["state", "show", "counter", "--json"]))["owner"],
        serde_json::Value::Null
    );
}

/// A data directory where a host ran, appended `rows` audit rows and was dropped (writing its
/// checkpoint).
fn audited_data_dir(rows: usize) -> tempfile::TempDir {
    use switchboard_host::{AuditEvent, AuditKind, Host};
    let dir = tempfile::tempdir().unwrap();
    let host = Host::builder().data_dir(dir.path()).build().unwrap();
    for i in 0..rows {
        host.audit()
            .append(&AuditEvent::new(
                AuditKind::Grant,
                "hello",
                format!("s{i}"),
                serde_json::json!({}),
            ))
            .unwrap();
    }
    drop(host);
    dir
}

fn verify_audit(dir: &std::path::Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = switchboard()
        .args(["audit", "verify", "--data-dir"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sql(dir: &std::path::Path, sql: &str) {
    let conn = rusqlite::Connection::open(dir.join("switchboard.db")).unwrap();
    conn.execute_batch(&format!(
        "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete; {sql}"
    ))
    .unwrap();
}

#[test]
fn audit_verify_uses_the_checkpoint_and_finds_a_cut_tail_with_a_rewritten_head() {
    let dir = audited_data_dir(6);
    let (code, out, err) = verify_audit(dir.path(), &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("matches the checkpoint"), "{out}");
    sql(
        dir.path(),
        "DELETE FROM audit WHERE id > 4;
         UPDATE audit_head SET last_id = 4, last_hash = (SELECT hash FROM audit WHERE id = 4);",
    );
    // The chain alone cannot see it ...
    let (code, out, _) = verify_audit(dir.path(), &["--no-checkpoint"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("not anchored"), "{out}");
    // ... the checkpoint beside the database can, by default.
    let (code, _, err) = verify_audit(dir.path(), &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("SB0610") && err.contains("row 5"), "{err}");
    let (code, out, _) = verify_audit(dir.path(), &["--json"]);
    assert_eq!(code, Some(1));
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["broken"]["id"], 5);
    assert!(doc["checkpoint"]["rows"].as_u64().unwrap() >= 6, "{doc}");
}

#[test]
fn audit_verify_finds_a_log_emptied_and_a_checkpoint_removed_or_forged() {
    let dir = audited_data_dir(3);
    // A copy kept elsewhere, and the head as verify reports it.
    let kept = tempfile::tempdir().unwrap();
    let kept_cp = kept.path().join("audit.checkpoint");
    let kept_pub = kept.path().join("audit.pub");
    std::fs::copy(dir.path().join("audit.checkpoint"), &kept_cp).unwrap();
    std::fs::copy(dir.path().join("audit.pub"), &kept_pub).unwrap();
    let (_, out, _) = verify_audit(dir.path(), &["--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let head = doc["head"].as_str().unwrap().to_owned();

    sql(dir.path(), "DELETE FROM audit; DELETE FROM audit_head;");
    let (code, _, err) = verify_audit(dir.path(), &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("SB0610") && err.contains("the log is empty"),
        "{err}"
    );
    let (code, _, err) = verify_audit(dir.path(), &["--no-checkpoint", "--expect-head", &head]);
    assert_eq!(code, Some(1));
    assert!(err.contains("expected head"), "{err}");

    // Removing the checkpoint too does not make the log pass.
    std::fs::remove_file(dir.path().join("audit.checkpoint")).unwrap();
    let (code, _, err) = verify_audit(dir.path(), &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("SB0624"), "{err}");

    // Nor does a checkpoint of the emptied log signed with a key of one's own, replacing the
    // data directory's key: checked with the public key kept elsewhere, it is refused.
    {
        use switchboard_host::{AuditEvent, AuditKey, AuditKind, Store};
        let log = Store::open(dir.path()).unwrap().audit();
        log.append(&AuditEvent::new(
            AuditKind::Grant,
            "x",
            "y",
            serde_json::json!({}),
        ))
        .unwrap();
        let mine = AuditKey::generate().unwrap();
        let forged = log.sign_checkpoint(&mine).unwrap().unwrap();
        forged.write(&dir.path().join("audit.checkpoint")).unwrap();
        std::fs::write(dir.path().join("audit.pub"), mine.public_key()).unwrap();
    }
    let kept_pub = kept_pub.to_str().unwrap();
    let (code, _, err) = verify_audit(dir.path(), &["--key", kept_pub]);
    assert_eq!(code, Some(1));
    assert!(err.contains("SB0621"), "{err}");
    // And the genuine copy kept elsewhere still shows the cut.
    let (code, _, err) = verify_audit(
        dir.path(),
        &["--checkpoint", kept_cp.to_str().unwrap(), "--key", kept_pub],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("SB0610"), "{err}");
}
