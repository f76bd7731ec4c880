//! The `switchboard` binary, run as a real child process.

use std::process::Command;

#[path = "cli/install.rs"]
mod install;

#[path = "cli/hostile.rs"]
mod hostile;

#[path = "cli/purchase.rs"]
mod purchase;

#[path = "cli/slo.rs"]
mod slo;

#[path = "cli/reviews.rs"]
mod reviews;

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
    // The reviews step: a review moderated on the demo's server, the rating moved.
    assert!(steps.iter().any(|s| s["ok"] == true
        && s["title"]
            .as_str()
            .unwrap_or("")
            .contains("a moderator approves it")
        && s["detail"]
            .as_str()
            .unwrap_or("")
            .contains("rating after: 3.33 from 1")));
    assert!(steps
        .iter()
        .any(|s| s["detail"].as_str().unwrap_or("").contains("SB0412")));

    // The install tour: each operation ran as a step, and its data directory is one the CLI
    // reads (it trusts the demo's key and remembers the host API).
    for title in [
        "Installed hello 0.1.0",
        "Updated hello to 0.2.0",
        "Rolled back",
        "Disabled hello",
        "Enabled hello again",
        "Removed hello",
        // The isolation tour: the CLI is its own runner (`isolation::hook` first in `main`).
        "Ran hello isolated",
        "hello read files with std::fs",
        "hello segfaulted",
        // Health after hello's panic.
        "Checked every plugin's health",
        // The marketplace's payout rules on the documented ledger.
        "Marketplace: November's creator payouts",
    ] {
        assert!(
            steps
                .iter()
                .any(|s| s["title"].as_str().unwrap_or("").starts_with(title) && s["ok"] == true),
            "no passing step `{title}…`"
        );
    }
    let generations = switchboard()
        .args(["generations", "--json", "--data-dir"])
        .arg(data.join("installed"))
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&generations.stdout).unwrap();
    assert_eq!(doc["generations"].as_array().unwrap().len(), 5, "{doc:#}");
    let rollback = switchboard()
        .args(["rollback", "--yes", "--json", "--data-dir"])
        .arg(data.join("installed"))
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&rollback.stdout).unwrap();
    assert_eq!(doc["ok"], true, "{doc:#}");

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
fn preflight_checks_hooks_against_a_points_file() {
    let dir = tempfile::tempdir().unwrap();
    let library = switchboard_cli::examples::library(
        switchboard_cli::examples::Profile::Debug,
        "pipeline-lint",
    )
    .unwrap();
    let points = dir.path().join("points.toml");
    let run = |text: &str| {
        std::fs::write(&points, text).unwrap();
        let out = switchboard()
            .args(["preflight", "--json", "--points"])
            .arg(&points)
            .arg(&library)
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        (out.status.code(), doc)
    };
    let check = |doc: &serde_json::Value| {
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "extension points")
            .cloned()
            .unwrap_or_else(|| panic!("no extension points check: {doc:#}"))
    };
    let point = |name: &str, kind: &str, input: &str| {
        format!(
            "[[point]]\nname = \"{name}\"\nkind = \"{kind}\"\ninput = \"{input}\"\noutput = \"string@1\"\n"
        )
    };
    // pipeline-lint hooks both points, with these kinds and contracts: the check passes.
    let both = format!(
        "{}{}",
        point("pipeline.build", "operation", "string@1"),
        point("pipeline.commands", "registry", "unit@1")
    );
    let (_, doc) = run(&both);
    assert_eq!(check(&doc)["status"], "passed", "{doc:#}");
    // A point missing: SB1701 on its hooks, and preflight fails.
    let (status, doc) = run(&point("pipeline.build", "operation", "string@1"));
    assert_eq!(status, Some(1), "{doc:#}");
    assert_eq!(check(&doc)["status"], "failed", "{doc:#}");
    assert_eq!(check(&doc)["diagnostics"][0]["code"], "SB1701", "{doc:#}");
    // The wrong kind, the wrong contract.
    let (_, doc) = run(&format!(
        "{}{}",
        point("pipeline.build", "filter", "string@1"),
        point("pipeline.commands", "registry", "unit@1")
    ));
    assert_eq!(check(&doc)["diagnostics"][0]["code"], "SB1702", "{doc:#}");
    let (_, doc) = run(&format!(
        "{}{}",
        point("pipeline.build", "operation", "u64@1"),
        point("pipeline.commands", "registry", "unit@1")
    ));
    assert_eq!(check(&doc)["diagnostics"][0]["code"], "SB1703", "{doc:#}");
    // A bad file is the command's coded error, not a report.
    let twice = point("a", "filter", "string@1").repeat(2);
    for (text, code) in [
        ("[[point]]\nname = \"a\"\n".to_owned(), "SB1725"),
        (point("a", "pipe", "unit@1"), "SB1726"),
        (twice, "SB1727"),
    ] {
        let (status, doc) = run(&text);
        assert_eq!(status, Some(1), "{doc:#}");
        assert_eq!(doc["error"]["code"], code, "{doc:#}");
    }
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
fn pack_of_a_crate_without_plugin_toml_says_to_add_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"g\"\n").unwrap();
    let out = switchboard()
        .arg("pack")
        .arg(dir.path())
        .arg("--out")
        .arg(dir.path().join("dist"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no plugin.toml"), "{err}");
    assert!(err.contains("add a plugin.toml"), "{err}");
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

    // The public key passed as the secret key: not a key to sign with, not "a password is
    // needed"; and no signature is written.
    let wrong = switchboard()
        .args(["sign", &package, "--json", "--key"])
        .arg(keys.join("switchboard.pub"))
        .env_remove("SWITCHBOARD_KEY_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&wrong.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "SB0008", "{doc}");
    assert!(!std::path::Path::new(&format!("{package}.minisig")).exists());

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

    // hello's plugin.toml no longer lists its commands, contracts, capabilities or SDK ABI:
    // pack took them from the library.
    let packed = run(&[
        "pack",
        root.join("examples/hello").to_str().unwrap(),
        "--out",
        dir.path().join("json").to_str().unwrap(),
        "--json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(packed.trim()).expect("one JSON document");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["name"], "hello");
    assert_eq!(
        doc["from_library"],
        serde_json::json!(["provides.commands", "capabilities", "requires.sdk_abi"])
    );
    let signed = run(&[
        "sign",
        doc["package"].as_str().unwrap(),
        "--key",
        keys.join("switchboard.key").to_str().unwrap(),
        "--json",
    ]);
    let signed: serde_json::Value = serde_json::from_str(signed.trim()).unwrap();
    assert_eq!(signed["ok"], true);
    assert!(signed["signature"]
        .as_str()
        .unwrap()
        .ends_with(".sbpkg.minisig"));
    let data = dir.path().join("trusting");
    let added = run(&[
        "trust",
        "add",
        keys.join("switchboard.pub").to_str().unwrap(),
        "--json",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let added: serde_json::Value = serde_json::from_str(added.trim()).unwrap();
    assert_eq!(added["key_id"], signed["key_id"]);
    let listed = run(&[
        "trust",
        "list",
        "--json",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let listed: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(listed["keys"], serde_json::json!([signed["key_id"]]));

    // Preflight verifies a package: signature, hashes, its name, the library against the
    // manifest, policy.
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "min_trust = \"verified\"\nallow = [\"kv\", \"fs.read\", \"fs.write\", \"env:HELLO_*\", \"events.publish\", \"events.subscribe:plugin.**\", \"service.call:greetings.*\"]\n").unwrap();
    let checked = run(&[
        "preflight",
        &package,
        "--json",
        "--trust",
        keys.join("switchboard.pub").to_str().unwrap(),
        "--host-api",
        "switchboard-demo@0.1.0",
        "--policy",
        policy.to_str().unwrap(),
    ]);
    let checked: serde_json::Value = serde_json::from_str(checked.trim()).unwrap();
    assert_eq!(checked["ok"], true, "{checked:#}");
    assert_eq!(checked["complete"], true, "{checked:#}");
    let names: Vec<&str> = checked["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for expected in ["package", "library", "manifest matches library", "policy"] {
        assert!(names.contains(&expected), "{names:?}");
    }
    // Without the key, the same package only self-signed: a policy demanding verified refuses.
    let refused = switchboard()
        .args(["preflight", "--json", "--policy"])
        .arg(&policy)
        .arg(&package)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let refused: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(refused["diagnostics"][0]["code"], "SB0420", "{refused:#}");

    // A release renamed to another version is refused by verify (as by the host): SB1205.
    let renamed = dir.path().join("hello-0.2.0.sbpkg");
    std::fs::copy(&package, &renamed).unwrap();
    std::fs::copy(
        format!("{package}.minisig"),
        dir.path().join("hello-0.2.0.sbpkg.minisig"),
    )
    .unwrap();
    let out = switchboard()
        .args(["verify", "--json", "--trust"])
        .arg(keys.join("switchboard.pub"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg(&renamed)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["code"], "SB1205");

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
    let refusal = String::from_utf8_lossy(&unconfirmed.stderr);
    assert!(refusal.contains("SB0018"), "a coded refusal: {refusal}");
    let unconfirmed = run(&["state", "wipe", "counter", "--json"]);
    assert_eq!(unconfirmed.status.code(), Some(1));
    assert_eq!(json(&unconfirmed)["error"]["code"], "SB0018");

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

/// A command whose reader has gone: the read end of its stdout is closed before the command
/// even starts, so its first write fails with a broken pipe whatever the timing.
fn with_closed_stdout(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = switchboard()
        .args(args)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_pipe_ends_the_cli_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let lock = write_lockfile(dir.path(), LOCKFILE);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bad = root.join("tests/manifests/unknown_field.toml");
    for args in [
        vec!["tree".as_ref(), "--lockfile".as_ref(), lock.as_os_str()],
        vec!["preflight".as_ref(), "--json".as_ref(), bad.as_os_str()],
        vec!["preflight".as_ref(), bad.as_os_str()],
        vec![
            "keygen".as_ref(),
            "--unencrypted".as_ref(),
            "--out".as_ref(),
            dir.path().join("k").as_os_str(),
        ],
    ] {
        let out = with_closed_stdout(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn a_huge_manifest_is_refused_unread_and_many_findings_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.toml");
    let mut text = String::from("name = \"w\"\nversion = \"1.0.0\"\n");
    while text.len() <= 2 << 20 {
        text.push_str(&format!(
            "unknown_{} = \"{}\"\n",
            text.len(),
            "x".repeat(100)
        ));
    }
    std::fs::write(&huge, &text).unwrap();
    let out = switchboard()
        .args(["preflight", "--json"])
        .arg(&huge)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let diagnostics = doc["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{doc:#}");
    assert_eq!(diagnostics[0]["code"], "SB1024");

    let many = dir.path().join("many.toml");
    text.truncate(900_000);
    let cut = text.rfind('\n').unwrap() + 1;
    text.truncate(cut);
    std::fs::write(&many, &text).unwrap();
    let out = switchboard()
        .args(["preflight", "--json"])
        .arg(&many)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let diagnostics = doc["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 101);
    assert_eq!(diagnostics[100]["code"], "SB1025");
}

#[test]
fn a_data_dir_that_is_a_file_is_a_coded_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    for args in [
        vec!["trust", "list", "--json"],
        vec!["verify", "--json", "nothing.sbpkg"],
        vec!["audit", "--json"],
    ] {
        let out = switchboard()
            .args(&args)
            .arg("--data-dir")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["error"]["code"], "SB0009", "{args:?}: {doc}");
        assert!(doc["error"]["next_step"]
            .as_str()
            .unwrap()
            .contains("not a file"));
    }
    // A data directory that cannot be reached is that, not "no host database" (SB0605). (An
    // unreadable one takes the same path; as root, permissions cannot be made to refuse.)
    let out = switchboard()
        .args(["audit", "--json", "--data-dir"])
        .arg(file.join("below"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "SB0009", "{doc}");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cannot use the data directory"));
}

#[test]
fn cli_refusals_have_their_own_codes_and_next_steps() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let ok = switchboard()
        .args(["keygen", "--unencrypted", "--out"])
        .arg(&keys)
        .output()
        .unwrap();
    assert!(ok.status.success());
    let cases: Vec<(Vec<std::ffi::OsString>, &str)> = vec![
        (
            vec![
                "keygen".into(),
                "--unencrypted".into(),
                "--json".into(),
                "--out".into(),
                keys.clone().into(),
            ],
            "SB0003",
        ),
        (
            vec![
                "sign".into(),
                "--json".into(),
                "missing.sbpkg".into(),
                "--key".into(),
                keys.join("switchboard.key").into(),
            ],
            "SB0005",
        ),
        (
            vec![
                "pack".into(),
                "--json".into(),
                dir.path().join("no-crate").into(),
                "--out".into(),
                dir.path().into(),
            ],
            "SB0005",
        ),
        (
            vec![
                "trust".into(),
                "add".into(),
                "--json".into(),
                keys.join("switchboard.key").into(),
                "--data-dir".into(),
                dir.path().join("d").into(),
            ],
            "SB0008",
        ),
        (
            vec![
                "preflight".into(),
                "--json".into(),
                "--host-api".into(),
                "nonsense".into(),
                ".".into(),
            ],
            "SB0010",
        ),
    ];
    for (args, code) in cases {
        let out = switchboard().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)));
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["error"]["code"], code, "{args:?}: {doc}");
        let next = doc["error"]["next_step"].as_str().unwrap();
        assert!(
            !next.is_empty() && next != "see the message above",
            "{args:?}: {next}"
        );
    }
}

/// A crate directory holding hello's plugin.toml (and `extra` appended to it), its Cargo.toml
/// naming no dependencies, so `cargo metadata` answers without a network.
fn hello_crate(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let krate = dir.join("hello");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::write(krate.join("src/lib.rs"), "").unwrap();
    std::fs::write(
        krate.join("Cargo.toml"),
        "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[workspace]\n",
    )
    .unwrap();
    let mut manifest = std::fs::read_to_string(root.join("examples/hello/plugin.toml")).unwrap();
    manifest.push_str(extra);
    std::fs::write(krate.join("plugin.toml"), manifest).unwrap();
    krate
}

fn built_hello() -> std::path::PathBuf {
    switchboard_cli::examples::library(switchboard_cli::examples::Profile::Debug, "hello").unwrap()
}

#[test]
fn preflight_finds_the_library_where_cargo_target_dir_puts_it() {
    let dir = tempfile::tempdir().unwrap();
    let krate = hello_crate(dir.path(), "");
    let target = dir.path().join("elsewhere");

    // Nothing built yet: the library checks cannot run, and that is not a pass.
    let out = switchboard()
        .args(["preflight", "--json"])
        .arg(&krate)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["diagnostics"][0]["code"], "SB1105", "{doc:#}");

    std::fs::create_dir_all(target.join("release")).unwrap();
    std::fs::copy(built_hello(), target.join("release/libhello.so")).unwrap();
    let out = switchboard()
        .args([
            "preflight",
            "--json",
            "--host-api",
            "switchboard-demo@0.1.0",
        ])
        .arg(&krate)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    let library = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "manifest matches library")
        .unwrap();
    assert_eq!(library["status"], "passed", "{doc:#}");
}

#[test]
fn preflight_refuses_a_plugin_toml_that_contradicts_its_library() {
    let dir = tempfile::tempdir().unwrap();
    let krate = hello_crate(dir.path(), "capabilities = [\"secrets\"]\n");
    // `capabilities` must come before the first table: rewrite it at the top.
    let text = std::fs::read_to_string(krate.join("plugin.toml")).unwrap();
    let text = format!(
        "capabilities = [\"secrets\"]\n{}",
        text.replace("capabilities = [\"secrets\"]\n", "")
    );
    std::fs::write(krate.join("plugin.toml"), text).unwrap();
    let out = switchboard()
        .args(["preflight", "--json", "--library"])
        .arg(built_hello())
        .arg(&krate)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &doc["diagnostics"][0];
    assert_eq!(d["code"], "SB1026", "{doc:#}");
    assert_eq!(d["field"], "capabilities");
}

#[test]
fn preflight_applies_a_policy_and_resolves_dependencies() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("plugin.toml");
    std::fs::write(
        &manifest,
        "name = \"weather\"\nversion = \"1.0.0\"\ncapabilities = [\"kv\", \"process.spawn\"]\n\n[requires]\ndependencies = { geo = \"^3\" }\n",
    )
    .unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "allow = [\"kv\"]\nblock = [\"process.spawn\"]\n").unwrap();
    let index = dir.path().join("index");
    std::fs::create_dir(&index).unwrap();
    std::fs::write(index.join("geo.toml"), "[[release]]\nversion = \"2.0.0\"\n").unwrap();
    let run = |extra: &[&std::ffi::OsStr]| {
        let out = switchboard()
            .args(["preflight", "--json"])
            .args(extra)
            .arg(&manifest)
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), doc)
    };
    let codes = |doc: &serde_json::Value| -> Vec<String> {
        doc["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["code"].as_str().unwrap().to_owned())
            .collect()
    };

    let (status, doc) = run(&["--policy".as_ref(), policy.as_os_str()]);
    assert_eq!(status, Some(1));
    assert_eq!(codes(&doc), ["SB1106"], "{doc:#}");
    assert_eq!(doc["diagnostics"][0]["field"], "capabilities[1]");

    let (status, doc) = run(&["--index".as_ref(), index.as_os_str()]);
    assert_eq!(status, Some(1));
    assert_eq!(codes(&doc), ["SB0501"], "{doc:#}");
    std::fs::write(
        index.join("geo.toml"),
        "[[release]]\nversion = \"2.0.0\"\n[[release]]\nversion = \"3.1.0\"\n",
    )
    .unwrap();
    let (status, doc) = run(&["--index".as_ref(), index.as_os_str()]);
    assert_eq!(status, Some(0), "{doc:#}");

    let lock = dir.path().join("switchboard.lock");
    std::fs::write(&lock, LOCKFILE).unwrap();
    let (status, doc) = run(&["--lockfile".as_ref(), lock.as_os_str()]);
    assert_eq!(status, Some(0), "geo 3.0.0 is locked: {doc:#}");
    std::fs::write(
        &lock,
        LOCKFILE.replace("version = \"3.0.0\"", "version = \"2.9.0\""),
    )
    .unwrap();
    let (status, doc) = run(&["--lockfile".as_ref(), lock.as_os_str()]);
    assert_eq!(status, Some(1));
    assert_eq!(codes(&doc), ["SB1108"], "{doc:#}");

    // Without those inputs the checks are listed as not run, not passed.
    let (status, doc) = run(&[]);
    assert_eq!(status, Some(0));
    assert_eq!(doc["complete"], false);
}

#[test]
fn pack_refuses_a_library_without_a_switchboard_section() {
    // A cdylib named hello built without `#[plugin]`: what a feature-less build leaves behind.
    let dir = tempfile::tempdir().unwrap();
    let krate = hello_crate(dir.path(), "");
    let out = switchboard()
        .args(["pack", "--json", "--out"])
        .arg(dir.path().join("out"))
        .arg(&krate)
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "SB1027", "{doc:#}");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`plugin` feature"));
    assert!(!dir.path().join("out/hello-0.1.0.sbpkg").exists());
}

#[test]
fn audit_verify_with_a_file_that_is_not_a_key_names_that_file() {
    let dir = audited_data_dir(2);
    let not_a_key = dir.path().join("not-a-key.pub");
    std::fs::write(&not_a_key, "untrusted comment: x\nnot base64 at all\n").unwrap();
    let (code, _, err) = verify_audit(dir.path(), &["--key", not_a_key.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("SB0620"), "{err}");
    assert!(err.contains("not-a-key.pub"), "{err}");
}

/// Runs the binary; fails the test instead of hanging if it has not ended within a minute.
fn output_within_a_minute(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let mut child = switchboard()
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("{args:?} hung: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[cfg(unix)]
#[test]
fn fifos_and_huge_input_files_are_coded_refusals_without_hanging_or_reading_them_whole() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = |name: &str| {
        let p = d.join(name);
        let status = Command::new("mkfifo").arg(&p).status().unwrap();
        assert!(status.success());
        p
    };
    // Sparse: 64 GiB that take no space, but would take 64 GiB of memory read whole.
    let huge = |name: &str| {
        let p = d.join(name);
        std::fs::File::create(&p)
            .unwrap()
            .set_len(64 << 30)
            .unwrap();
        p
    };
    let garbage = |name: &str| {
        let p = d.join(name);
        std::fs::write(&p, b"not a package").unwrap();
        p
    };
    let fifo_pkg = fifo("fifo-1.0.0.sbpkg");
    let huge_pkg = huge("huge-1.0.0.sbpkg");
    let fifo_key = fifo("fifo.pub");
    let huge_key = huge("huge.pub");
    let fifo_toml = fifo("plugin.toml");
    let sig_fifo = garbage("sigfifo-1.0.0.sbpkg");
    fifo("sigfifo-1.0.0.sbpkg.minisig");
    let sig_huge = garbage("sighuge-1.0.0.sbpkg");
    huge("sighuge-1.0.0.sbpkg.minisig");
    let data = d.join("data");
    let manifest =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello/plugin.toml");
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    let mut cases: Vec<Vec<&std::ffi::OsStr>> = Vec::new();
    for pkg in [&fifo_pkg, &huge_pkg] {
        cases.push(vec![
            os("sign"),
            pkg.as_os_str(),
            os("--key"),
            fifo_key.as_os_str(),
        ]);
        cases.push(vec![os("preflight"), pkg.as_os_str()]);
        cases.push(vec![
            os("verify"),
            pkg.as_os_str(),
            os("--data-dir"),
            data.as_os_str(),
        ]);
    }
    for pkg in [&sig_fifo, &sig_huge] {
        cases.push(vec![os("preflight"), pkg.as_os_str()]);
        cases.push(vec![
            os("verify"),
            pkg.as_os_str(),
            os("--data-dir"),
            data.as_os_str(),
        ]);
    }
    for key in [&fifo_key, &huge_key] {
        cases.push(vec![
            os("trust"),
            os("add"),
            key.as_os_str(),
            os("--data-dir"),
            data.as_os_str(),
        ]);
        cases.push(vec![
            os("preflight"),
            manifest.as_os_str(),
            os("--policy"),
            key.as_os_str(),
        ]);
        cases.push(vec![os("tree"), os("--lockfile"), key.as_os_str()]);
        cases.push(vec![
            os("verify"),
            huge_pkg.as_os_str(),
            os("--trust"),
            key.as_os_str(),
            os("--data-dir"),
            data.as_os_str(),
        ]);
    }
    cases.push(vec![os("preflight"), fifo_toml.as_os_str()]);
    for mut args in cases {
        args.push(os("--json"));
        let out = output_within_a_minute(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {stderr}"));
        let text = doc.to_string();
        assert!(
            text.contains("\"SB") && !text.contains("SB0001"),
            "{args:?}: {text}"
        );
    }
    assert!(!data.join("trusted-keys").exists(), "nothing trusted");
}

#[test]
fn config_without_a_database_is_sb0605_not_sb0001() {
    let dir = tempfile::tempdir().unwrap();
    let out = switchboard()
        .args(["config", "hello", "--json", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "SB0605", "{doc}");
}

#[test]
fn an_empty_database_file_is_damaged_and_read_only_commands_do_not_write_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchboard.db");
    std::fs::write(&db, b"").unwrap();
    for args in [
        vec!["audit", "verify", "--json"],
        vec!["audit", "--json"],
        vec!["inspect", "hello", "--json"],
        vec!["state", "show", "hello", "--json"],
    ] {
        let out = switchboard()
            .args(&args)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["error"]["code"], "SB0611", "{args:?}: {doc}");
        assert_eq!(
            std::fs::metadata(&db).unwrap().len(),
            0,
            "{args:?} wrote it"
        );
    }
}

#[cfg(unix)]
#[test]
fn audit_verify_refuses_a_fifo_or_huge_checkpoint_or_key_without_hanging() {
    let dir = audited_data_dir(2);
    let other = tempfile::tempdir().unwrap();
    let fifo = other.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let huge = other.path().join("huge.pub");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(64 << 30)
        .unwrap();
    let garbage = other.path().join("garbage.pub");
    std::fs::write(&garbage, "not a key\n").unwrap();
    let os = std::ffi::OsStr::new;
    for (flag, file, code) in [
        ("--checkpoint", &fifo, "SB0622"),
        ("--key", &fifo, "SB0620"),
        ("--key", &huge, "SB0620"),
        ("--key", &garbage, "SB0620"),
    ] {
        let args = [
            os("audit"),
            os("verify"),
            os("--json"),
            os("--data-dir"),
            dir.path().as_os_str(),
            os(flag),
            file.as_os_str(),
        ];
        let out = output_within_a_minute(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["error"]["code"], code, "{args:?}: {doc}");
        let message = doc["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(file.to_str().unwrap()),
            "{args:?}: names the file: {doc}"
        );
    }
}

#[test]
fn verify_reports_its_refusal_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("x-1.0.0.sbpkg");
    std::fs::write(&pkg, b"not a package").unwrap();
    let out = switchboard()
        .arg("verify")
        .arg(&pkg)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error[SB1201]"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("error["));
}

#[test]
fn demo_accepts_a_relative_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let out = switchboard()
        .args(["demo", "--debug", "--json", "--data-dir", "rel"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(dir.path().join("rel").join("switchboard.db").is_file());
}

#[test]
fn a_usage_error_with_json_is_one_json_document_and_status_2() {
    let out = switchboard()
        .args(["audit", "--json", "--since", "not-a-time"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["code"], "SB0062");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not-a-time"));
    // Help is not an error, even with --json.
    let help = switchboard()
        .args(["audit", "--json", "--help"])
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
}

#[cfg(unix)]
#[test]
fn a_fifo_or_huge_configuration_file_is_sb0720_not_a_hang_or_an_abort() {
    let dir = audited_data_dir(1);
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    let file = config.join("hello.toml");
    let manifest =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello/plugin.toml");
    let os = std::ffi::OsStr::new;
    for kind in ["fifo", "huge"] {
        let _ = std::fs::remove_file(&file);
        if kind == "fifo" {
            assert!(Command::new("mkfifo")
                .arg(&file)
                .status()
                .unwrap()
                .success());
        } else {
            std::fs::File::create(&file)
                .unwrap()
                .set_len(64 << 30)
                .unwrap();
        }
        let args = [
            os("config"),
            os("hello"),
            os("--json"),
            os("--manifest"),
            manifest.as_os_str(),
            os("--data-dir"),
            dir.path().as_os_str(),
        ];
        let out = output_within_a_minute(&args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["error"]["code"], "SB0720", "{kind}: {doc}");
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_in_the_index_is_a_coded_finding_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("plugin.toml");
    std::fs::write(
        &manifest,
        "name = \"weather\"\nversion = \"1.0.0\"\n\n[requires]\ndependencies = { geo = \"^3\" }\n",
    )
    .unwrap();
    let index = dir.path().join("index");
    std::fs::create_dir(&index).unwrap();
    assert!(Command::new("mkfifo")
        .arg(index.join("geo.toml"))
        .status()
        .unwrap()
        .success());
    let os = std::ffi::OsStr::new;
    let args = [
        os("preflight"),
        os("--json"),
        os("--index"),
        index.as_os_str(),
        manifest.as_os_str(),
    ];
    let out = output_within_a_minute(&args);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc.to_string().contains("SB0506"), "{doc:#}");
}

/// `head` followed by `tail`, for argument lists that share their ending.
fn with<'a>(head: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    [head, tail].concat()
}

#[test]
fn pack_ships_the_library_without_debug_information_unless_asked() {
    use object::{Object, ObjectSection};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let pack = |extra: &[&str], out: &str| -> Vec<u8> {
        let status = switchboard()
            .arg("pack")
            .arg(root.join("examples/hello"))
            .arg("--json")
            .args(extra)
            .arg("--out")
            .arg(dir.path().join(out))
            .env("CARGO_TARGET_DIR", root.join("target").join("examples"))
            .status()
            .unwrap();
        assert!(status.success());
        let package = std::fs::read(dir.path().join(out).join("hello-0.1.0.sbpkg")).unwrap();
        let files = switchboard_host::package::unpack(&package, &Default::default()).unwrap();
        let (_, library) = files
            .into_iter()
            .find(|(p, _)| p.starts_with("lib/"))
            .unwrap();
        library
    };
    let full = pack(&["--keep-debuginfo"], "full");
    let lean = pack(&[], "lean");
    let sections = |bytes: &[u8]| {
        let file = object::File::parse(bytes).unwrap();
        let names: Vec<String> = file
            .sections()
            .filter_map(|s| s.name().ok().map(str::to_owned))
            .collect();
        names
    };
    let (full_sections, lean_sections) = (sections(&full), sections(&lean));
    if cfg!(target_os = "linux") {
        assert!(full_sections.iter().any(|n| n == ".debug_line"));
        // Symbols stay for crash reports.
        assert!(lean_sections.iter().any(|n| n == ".symtab"));
    }
    assert!(
        !lean_sections.iter().any(|n| n.starts_with(".debug_")),
        "{lean_sections:?}"
    );
    assert!(lean.len() < full.len());
}

#[test]
fn registry_init_publish_yank_promote_from_the_command_line() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let path = |p: &str| dir.path().join(p).to_str().unwrap().to_owned();
    let run = |args: &[&str]| {
        switchboard()
            .args(args)
            .env("CARGO_TARGET_DIR", root.join("target").join("examples"))
            .output()
            .unwrap()
    };
    let json = |out: &std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    };
    let ok = |args: &[&str]| {
        let out = run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        json(&out)
    };
    let refused = |args: &[&str], code: &str| {
        let out = run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let doc = json(&out);
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["error"]["code"], code, "{args:?}: {doc}");
        assert!(!doc["error"]["next_step"].as_str().unwrap().is_empty());
    };

    ok(&[
        "keygen",
        "--out",
        &path("author"),
        "--unencrypted",
        "--json",
    ]);
    let hello = root.join("examples/hello");
    let packed = run(&["pack", hello.to_str().unwrap(), "--out", &path("out")]);
    assert!(
        packed.status.success(),
        "{}",
        String::from_utf8_lossy(&packed.stderr)
    );
    let package = path("out/hello-0.1.0.sbpkg");

    let (reg, keys) = (path("reg"), path("keys"));
    refused(
        &[
            "registry",
            "init",
            &reg,
            "--keys",
            &path("reg/keys"),
            "--json",
        ],
        "SB1330",
    );
    let init = ok(&["registry", "init", &reg, "--keys", &keys, "--json"]);
    assert_eq!(init["root_fingerprint"].as_str().unwrap().len(), 64);
    let t = [
        "--registry",
        reg.as_str(),
        "--keys",
        keys.as_str(),
        "--json",
    ];

    // Unsigned: refused; signed: published, then the same bytes again change nothing.
    refused(&with(&["publish", &package], &t), "SB1335");
    let key = path("author/switchboard.key");
    ok(&["sign", &package, "--key", &key, "--json"]);
    let first = ok(&with(&["publish", &package, "--channel", "beta"], &t));
    assert_eq!(first["added"], true);
    assert_eq!(first["release"]["channel"], "beta");
    assert_eq!(first["release"]["trust"], "self-signed");
    let again = ok(&with(&["publish", &package], &t));
    assert_eq!(again["added"], false);

    refused(&with(&["yank", "hello", "--reason", "x"], &t), "SB0040");
    refused(
        &with(&["yank", "hello@2.0.0", "--reason", "x"], &t),
        "SB1339",
    );
    let yanked = ok(&with(&["yank", "hello@0.1.0", "--reason", "broken"], &t));
    assert_eq!(yanked["releases"][0]["yanked"], "broken");
    ok(&with(&["unyank", "hello@0.1.0"], &t));
    refused(
        &with(&["promote", "hello@0.1.0", "--channel", "draft"], &t),
        "SB1340",
    );
    refused(
        &with(&["promote", "hello@0.1.0", "--channel", "stable"], &t),
        "SB0042",
    );
    let promoted = ok(&with(&["promote", "hello@0.1.0", "--channel", "ga"], &t));
    assert_eq!(promoted["releases"][0]["channel"], "ga");
    ok(&with(&["deprecate", "hello"], &t));
    refused(
        &with(&["registry", "resign", "--timestamp-expires", "soon"], &t),
        "SB0041",
    );
    let renewed = ok(&with(&["registry", "renew-root"], &t));
    assert_eq!(renewed["root_version"], 2);
    let rotated = ok(&with(
        &["registry", "rotate-key", "--role", "timestamp"],
        &t,
    ));
    assert_eq!(rotated["root_version"], 3);
    refused(
        &with(&["registry", "rotate-key", "--role", "admin"], &t),
        "SB0042",
    );
    let resigned = ok(&with(&["registry", "resign"], &t));
    assert!(resigned["snapshot_version"].as_u64() > first["snapshot_version"].as_u64());

    // Text output, and the error on stderr without --json.
    let plain = ["--registry", reg.as_str(), "--keys", keys.as_str()];
    let text = run(&with(&["yank", "hello@0.1.0", "--reason", "again"], &plain));
    assert!(String::from_utf8_lossy(&text.stdout).starts_with("yanked: hello@0.1.0"));
    let err = run(&with(&["yank", "hello@9.9.9", "--reason", "x"], &plain));
    assert!(String::from_utf8_lossy(&err.stderr).starts_with("error[SB1339]"));
}

/// The CLI as the registry tests run it: example builds under the workspace's target, and no
/// `SWITCHBOARD_HOME` or `SWITCHBOARD_KEY` taken from the environment.
struct Cli {
    target: std::path::PathBuf,
}

impl Cli {
    fn new(root: &std::path::Path) -> Cli {
        Cli {
            target: root.join("target").join("examples"),
        }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        switchboard()
            .args(args)
            .env("CARGO_TARGET_DIR", &self.target)
            .env_remove("SWITCHBOARD_HOME")
            .env_remove("SWITCHBOARD_KEY")
            .output()
            .unwrap()
    }

    /// Runs `args`, which must succeed, and returns its JSON document.
    fn ok(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("one JSON document")
    }
}

#[test]
fn registry_add_search_info_tree_remove_from_the_command_line() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let path = |p: &str| dir.path().join(p).to_str().unwrap().to_owned();
    let cli = Cli::new(&root);
    let run = |args: &[&str]| cli.run(args);
    let ok = |args: &[&str]| cli.ok(args);
    ok(&[
        "keygen",
        "--out",
        &path("author"),
        "--unencrypted",
        "--json",
    ]);
    let hello = root.join("examples/hello");
    let packed = run(&["pack", hello.to_str().unwrap(), "--out", &path("out")]);
    assert!(
        packed.status.success(),
        "{}",
        String::from_utf8_lossy(&packed.stderr)
    );
    let package = path("out/hello-0.1.0.sbpkg");
    ok(&[
        "sign",
        &package,
        "--key",
        &path("author/switchboard.key"),
        "--json",
    ]);
    let (reg, keys, data) = (path("reg"), path("keys"), path("data"));
    ok(&["registry", "init", &reg, "--keys", &keys, "--json"]);
    ok(&[
        "publish",
        &package,
        "--registry",
        &reg,
        "--keys",
        &keys,
        "--json",
    ]);

    let added = ok(&[
        "registry",
        "add",
        "main",
        &reg,
        "--priority",
        "5",
        "--data-dir",
        &data,
        "--json",
    ]);
    assert_eq!(added["root"]["source"], "trust-on-first-use");
    assert_eq!(added["plugins"], 1);
    let listed = ok(&["registry", "list", "--data-dir", &data, "--json"]);
    assert_eq!(listed["registries"][0]["name"], "main");
    let found = ok(&["search", "hello", "--data-dir", &data, "--json"]);
    assert_eq!(found["hits"][0]["name"], "hello");
    let info = ok(&[
        "info",
        "hello",
        "--data-dir",
        &data,
        "--host-api",
        "switchboard-demo@0.1.0",
        "--json",
    ]);
    assert_eq!(info["releases"][0]["compatibility"], "compatible");
    let tree = ok(&[
        "tree",
        "--resolve",
        "hello",
        "--data-dir",
        &data,
        "--host-api",
        "switchboard-demo@0.1.0",
        "--json",
    ]);
    assert_eq!(tree["plugins"][0]["registry"], "main");
    let offline = ok(&["search", "--offline", "--data-dir", &data, "--json"]);
    assert_eq!(offline["total"], 1);
    let text = run(&["info", "hello", "--data-dir", &data]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("registry:     main"));

    // Install from the registry: resolved over the index, downloaded through the verifying
    // client, recorded with the registry as its source.
    let installed = ok(&[
        "install",
        "hello",
        "--data-dir",
        &data,
        "--trust",
        &path("author/switchboard.pub"),
        "--host-api",
        "switchboard-demo@0.1.0",
        "--yes",
        "--json",
    ]);
    assert!(installed.is_object(), "{installed}");
    let list = ok(&["list", "--data-dir", &data, "--json"]);
    assert_eq!(list["plugins"][0]["name"], "hello", "{list}");
    assert_eq!(list["plugins"][0]["version"], "0.1.0", "{list}");
    assert!(
        list["plugins"][0]["source"]
            .as_str()
            .unwrap()
            .starts_with("registry:"),
        "{list}"
    );
    // Offline, a name no --from source and no cached registry offers is refused, coded.
    let out = run(&[
        "install",
        "nope",
        "--offline",
        "--data-dir",
        &data,
        "--yes",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));

    // Refusals: one JSON document with a code and a next step, status 1; on stderr without --json.
    let empty = path("empty");
    let out = run(&["search", "x", "--data-dir", &empty, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "SB0050");
    let out = run(&["info", "nope", "--data-dir", &data]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error[SB1369]"));
    let out = run(&[
        "registry",
        "add",
        "main",
        &reg,
        "--priority",
        "6",
        "--data-dir",
        &data,
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error[SB1362]"));

    ok(&["registry", "remove", "main", "--data-dir", &data, "--json"]);
    let listed = ok(&["registry", "list", "--data-dir", &data, "--json"]);
    assert_eq!(listed["registries"].as_array().unwrap().len(), 0);
}

#[test]
#[expect(
    clippy::print_stderr,
    reason = "says why the PostgreSQL part did not run"
)]
fn registry_serve_and_its_token_commands_take_a_postgres_database() {
    use std::io::BufRead;
    use switchboard_registry::testing_postgres::{binaries, TempCluster};
    let dir = tempfile::tempdir().unwrap();
    let srv = dir.path().join("srv").to_str().unwrap().to_owned();
    let run = |args: &[&str]| {
        switchboard()
            .args(args)
            .env_remove("SWITCHBOARD_REGISTRY_DATABASE")
            .output()
            .unwrap()
    };
    let refused = |args: &[&str], code: &str| -> String {
        let out = run(args);
        assert!(!out.status.success(), "{args:?}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(doc["error"]["code"], code, "{args:?}: {doc}");
        doc.to_string()
    };
    // Not a PostgreSQL URL: refused before anything is made.
    let serve = |db: &str| {
        vec![
            "registry".to_owned(),
            "serve".into(),
            "--data-dir".into(),
            srv.clone(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--database".into(),
            db.to_owned(),
            "--json".into(),
        ]
    };
    let args = serve("mysql://u@127.0.0.1/db");
    refused(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "SB1451",
    );
    assert!(!dir.path().join("srv").exists());
    // Nothing listens there: SB1452, and the password is not shown.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let args = serve(&format!("postgres://u:pw-never-shown@127.0.0.1:{port}/db"));
    let answer = refused(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "SB1452",
    );
    assert!(!answer.contains("pw-never-shown"), "{answer}");

    let Some(bin) = binaries() else {
        if std::env::var_os("SWITCHBOARD_SKIP_POSTGRES").is_some()
            && std::env::var_os("CI").is_none()
        {
            eprintln!(
                "skipped: no PostgreSQL (initdb, pg_ctl), and SWITCHBOARD_SKIP_POSTGRES is set"
            );
            return;
        }
        panic!(
            "this test needs PostgreSQL's initdb and pg_ctl: install Debian's `postgresql` \
             package (.ci/run does), or outside CI set SWITCHBOARD_SKIP_POSTGRES=1"
        );
    };
    let cluster = TempCluster::start(&bin).unwrap();
    let url = cluster.database().unwrap();
    let args = serve(&url);
    let server = switchboard()
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = Kill(server);
    let mut first = String::new();
    std::io::BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let started: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(
        started["database"],
        url.split('?').next().unwrap(),
        "{started}"
    );
    assert!(!dir.path().join("srv/server.db").exists());
    // The token made with --database (here through the variable) works on the server.
    let made = switchboard()
        .args(["registry", "token", "create", "--data-dir", &srv])
        .args(["--account", "acme", "--scope", "account", "--json"])
        .env("SWITCHBOARD_REGISTRY_DATABASE", &url)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stdout)
    );
    let made: serde_json::Value = serde_json::from_slice(&made.stdout).unwrap();
    let token = made["token"].as_str().unwrap();
    let whoami = format!("{}/api/v1/whoami", started["url"].as_str().unwrap());
    let body = ureq::get(&whoami)
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["account"], "acme", "{doc}");
    let listed = run(&[
        "registry",
        "token",
        "list",
        "--data-dir",
        &srv,
        "--database",
        &url,
        "--json",
    ]);
    assert!(listed.status.success());
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 1, "{listed}");
    // Without --database the token commands read the (absent) SQLite file: refused.
    refused(
        &["registry", "token", "list", "--data-dir", &srv, "--json"],
        "SB1376",
    );
    drop(server);
}

#[test]
fn registry_serve_token_login_publish_search_from_the_command_line() {
    use std::io::BufRead;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let path = |p: &str| dir.path().join(p).to_str().unwrap().to_owned();
    let cli = Cli::new(&root);
    let run = |args: &[&str]| cli.run(args);
    let ok = |args: &[&str]| cli.ok(args);
    let refused = |args: &[&str], code: &str| {
        let out = run(args);
        assert!(!out.status.success(), "{args:?}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(doc["error"]["code"], code, "{args:?}: {doc}");
    };
    ok(&[
        "keygen",
        "--out",
        &path("author"),
        "--unencrypted",
        "--json",
    ]);
    let hello = root.join("examples/hello");
    let packed = run(&["pack", hello.to_str().unwrap(), "--out", &path("out")]);
    assert!(
        packed.status.success(),
        "{}",
        String::from_utf8_lossy(&packed.stderr)
    );
    let package = path("out/hello-0.1.0.sbpkg");
    ok(&[
        "sign",
        &package,
        "--key",
        &path("author/switchboard.key"),
        "--json",
    ]);

    refused(
        &[
            "registry",
            "serve",
            "--data-dir",
            &path("srv"),
            "--listen",
            "0.0.0.0:0",
            "--json",
        ],
        "SB1375",
    );
    // The server runs until killed; its first line says where it listens.
    let server = switchboard()
        .args([
            "registry",
            "serve",
            "--data-dir",
            &path("srv"),
            "--listen",
            "127.0.0.1:0",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed however the test ends, so no server outlives it.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = Kill(server);
    let mut first = String::new();
    std::io::BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let started: serde_json::Value = serde_json::from_str(&first).unwrap();
    let registry_url = started["registry_url"].as_str().unwrap().to_owned();

    let made = ok(&[
        "registry",
        "token",
        "create",
        "--data-dir",
        &path("srv"),
        "--account",
        "acme",
        "--scope",
        "publish:hel*",
        "--expires",
        "30d",
        "--json",
    ]);
    let token = made["token"].as_str().unwrap().to_owned();
    let data = path("data");
    ok(&[
        "registry",
        "add",
        "main",
        &registry_url,
        "--priority",
        "5",
        "--data-dir",
        &data,
        "--json",
    ]);
    refused(
        &[
            "publish",
            &package,
            "--registry",
            "main",
            "--data-dir",
            &data,
            "--json",
        ],
        "SB1394",
    );
    // The publisher binds its signing key to its account (an `account`-scoped token), then
    // logs in with the publishing token.
    let account = ok(&[
        "registry",
        "token",
        "create",
        "--data-dir",
        &path("srv"),
        "--account",
        "acme",
        "--scope",
        "account",
        "--json",
    ]);
    ok(&[
        "login",
        "--registry",
        "main",
        "--token",
        account["token"].as_str().unwrap(),
        "--data-dir",
        &data,
        "--json",
    ]);
    ok(&[
        "key",
        "add",
        &path("author/switchboard.pub"),
        "--registry",
        "main",
        "--data-dir",
        &data,
        "--json",
    ]);
    ok(&[
        "login",
        "--registry",
        "main",
        "--token",
        &token,
        "--data-dir",
        &data,
        "--json",
    ]);
    let published = ok(&[
        "publish",
        &package,
        "--registry",
        "main",
        "--data-dir",
        &data,
        "--json",
    ]);
    assert_eq!(published["release"]["name"], "hello");
    assert_eq!(published["release"]["account"], "acme");
    let found = ok(&["search", "hello", "--data-dir", &data, "--json"]);
    assert_eq!(found["hits"][0]["name"], "hello");

    // Revoked: the next upload is refused with the server's code.
    ok(&[
        "registry",
        "token",
        "revoke",
        "--data-dir",
        &path("srv"),
        &token,
        "--json",
    ]);
    refused(
        &[
            "publish",
            &package,
            "--registry",
            "main",
            "--data-dir",
            &data,
            "--json",
        ],
        "SB1387",
    );
    let listed = ok(&[
        "registry",
        "token",
        "list",
        "--data-dir",
        &path("srv"),
        "--json",
    ]);
    // Two tokens: the publishing one, revoked, and the account one, not.
    let tokens = listed["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2, "{listed:#}");
    for t in tokens {
        let publishing = t["scope"]
            .as_str()
            .unwrap_or_default()
            .starts_with("publish");
        assert_eq!(t["revoked"].is_i64(), publishing, "{t:#}");
    }
    drop(server);
}

/// A registry server (`switchboard registry serve`) on 127.0.0.1 for the test's life, and its
/// index URL; the child is killed however the test ends.
struct Served {
    child: std::process::Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_registry(data: &str) -> Served {
    use std::io::BufRead;
    let mut child = switchboard()
        .args([
            "registry",
            "serve",
            "--data-dir",
            data,
            "--listen",
            "127.0.0.1:0",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let started: serde_json::Value = serde_json::from_str(&first).unwrap();
    let url = started["registry_url"].as_str().unwrap().to_owned();
    Served { child, url }
}

#[test]
fn publish_builds_packs_signs_and_uploads_a_crate_in_one_step() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let path = |p: &str| dir.path().join(p).to_str().unwrap().to_owned();
    let cli = Cli::new(&root);
    let run = |args: &[&str]| cli.run(args);
    let ok = |args: &[&str]| cli.ok(args);
    let refused = |args: &[&str], code: &str| {
        let out = run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(doc["error"]["code"], code, "{args:?}: {doc}");
        assert!(!doc["error"]["next_step"].as_str().unwrap().is_empty());
    };
    let hello = root.join("examples/hello");
    let hello = hello.to_str().unwrap();
    let data = path("data");
    let d = ["--data-dir", data.as_str(), "--json"];

    // Nothing configured: which registry? Then, with one, which key?
    refused(&with(&["publish", hello], &d), "SB0076");
    refused(
        &with(
            &["publish", hello, "--registry", "http://127.0.0.1:9/index"],
            &d,
        ),
        "SB0077",
    );
    refused(
        &with(&["publish", &path("nowhere"), "--registry", "x"], &d),
        "SB0078",
    );

    let srv = serve_registry(&path("srv"));
    let token = |scope: &str| {
        ok(&[
            "registry",
            "token",
            "create",
            "--data-dir",
            &path("srv"),
            "--account",
            "acme",
            "--scope",
            scope,
            "--json",
        ])["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    ok(&with(
        &["registry", "add", "main", &srv.url, "--priority", "5"],
        &d,
    ));
    ok(&with(
        &["login", "--registry", "main", "--token", &token("account")],
        &d,
    ));
    refused(&with(&["publish", hello], &d), "SB0075");
    // `keygen` without --out: the data directory's keys/, where publish looks.
    let made = ok(&with(&["keygen", "--unencrypted"], &d));
    let public = made["public_key"].as_str().unwrap().to_owned();
    assert!(public.ends_with("keys/switchboard.pub"), "{made}");
    ok(&with(&["key", "add", &public, "--registry", "main"], &d));
    ok(&with(
        &[
            "login",
            "--registry",
            "main",
            "--token",
            &token("publish:hel*"),
        ],
        &d,
    ));

    // One step: no --registry (the one logged in to), no --key (the data directory's).
    let out = run(&[
        "publish",
        hello,
        "--out",
        &path("dist"),
        "--data-dir",
        &data,
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    for step in ["[1/3] building", "[2/3] signing", "[3/3] uploading to main"] {
        assert!(stderr.contains(step), "{step}: {stderr}");
    }
    assert!(stdout.starts_with("published hello@0.1.0"), "{stdout}");
    assert!(std::path::Path::new(&path("dist/hello-0.1.0.sbpkg.minisig")).is_file());
    // By URL, as JSON: the same bytes again change nothing.
    let again = ok(&with(
        &[
            "publish",
            hello,
            "--out",
            &path("dist"),
            "--registry",
            &srv.url,
        ],
        &d,
    ));
    assert_eq!(again["release"]["name"], "hello");
    assert_eq!(again["built"]["version"], "0.1.0");
    assert_eq!(
        again["built"]["key_id"], made["key_id"],
        "signed with the data directory's key"
    );
    // A package path keeps the old behaviour.
    ok(&with(
        &[
            "publish",
            &path("dist/hello-0.1.0.sbpkg"),
            "--registry",
            "main",
        ],
        &d,
    ));

    // And installs from there.
    let installed = ok(&with(
        &[
            "install",
            "hello",
            "--yes",
            "--host-api",
            "switchboard-demo@0.1.0",
            "--trust",
            &public,
        ],
        &d,
    ));
    assert_eq!(installed["changes"][0]["to"], "0.1.0", "{installed:#}");

    // A registry directory: its keys sign the listing; --key names the package's signer.
    ok(&[
        "registry",
        "init",
        &path("reg"),
        "--keys",
        &path("reg-keys"),
        "--json",
    ]);
    let key = path("data/keys/switchboard.key");
    let listed = ok(&[
        "publish",
        hello,
        "--out",
        &path("dist"),
        "--registry",
        &path("reg"),
        "--keys",
        &path("reg-keys"),
        "--key",
        &key,
        "--json",
    ]);
    assert_eq!(listed["added"], true, "{listed:#}");
    assert_eq!(listed["release"]["trust"], "self-signed");
    drop(srv);

    // From nothing, as the guide's quick path: a key, then `publish --init` makes the
    // registry directory and adds it to the data directory, and `install` finds it there.
    let fresh = path("fresh");
    let f = ["--data-dir", fresh.as_str(), "--json"];
    let made = ok(&with(&["keygen", "--unencrypted"], &f));
    let public = made["public_key"].as_str().unwrap().to_owned();
    // --init needs a registry directory and its keys, not a server.
    let out = run(&with(
        &["publish", hello, "--registry", "main", "--init"],
        &f,
    ));
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap refuses --init without --keys"
    );
    let first = ok(&with(
        &[
            "publish",
            hello,
            "--out",
            &path("dist"),
            "--registry",
            &path("My Plugins"),
            "--keys",
            &path("my-keys"),
            "--init",
        ],
        &f,
    ));
    assert_eq!(first["added"], true, "{first:#}");
    assert_eq!(first["configured_as"], "my-plugins", "{first:#}");
    let made_root = first["registry_made"]["root_fingerprint"].as_str().unwrap();
    let configured = ok(&with(&["registry", "list"], &f));
    let listed = &configured["registries"][0];
    assert_eq!(listed["name"], "my-plugins", "{configured:#}");
    assert_eq!(
        listed["root_fingerprint"], made_root,
        "the root it made is pinned"
    );
    // Again: the registry is there and configured; neither is made twice.
    let again = ok(&with(
        &[
            "publish",
            &path("dist/hello-0.1.0.sbpkg"),
            "--registry",
            &path("My Plugins"),
            "--keys",
            &path("my-keys"),
            "--init",
        ],
        &f,
    ));
    assert_eq!(again["added"], false, "{again:#}");
    assert!(again.get("registry_made").is_none(), "{again:#}");
    assert_eq!(again["configured_as"], "my-plugins");
    let installed = ok(&with(
        &[
            "install",
            "hello",
            "--yes",
            "--host-api",
            "switchboard-demo@0.1.0",
            "--trust",
            &public,
        ],
        &f,
    ));
    assert_eq!(installed["changes"][0]["to"], "0.1.0", "{installed:#}");
}
