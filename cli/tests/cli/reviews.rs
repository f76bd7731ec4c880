//! `switchboard review`, `report` and `moderate` against a real registry server
//! (`switchboard registry serve`), as a reviewer and a moderator would run them.

use super::{serve_registry, with, Cli};

#[test]
fn a_review_is_written_moderated_edited_rejected_reported_and_deleted_from_the_command_line() {
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

    // A server with hello@1.0.0 listed (its package is never fetched here).
    let srv_dir = path("srv");
    let srv = serve_registry(&srv_dir);
    let bytes = b"hello@1.0.0".to_vec();
    let mut line = switchboard_registry::testing::line("hello", "1.0.0");
    line.sha256 = switchboard_registry::sha256_hex(&bytes);
    line.size = bytes.len() as u64;
    let data = std::path::Path::new(&srv_dir);
    switchboard_registry::publish::publish_unverified(
        &data.join("registry"),
        &data.join("keys"),
        vec![(line, bytes)],
        &Default::default(),
    )
    .unwrap();
    let token = |account: &str, scope: &str| {
        ok(&[
            "registry",
            "token",
            "create",
            "--data-dir",
            &srv_dir,
            "--account",
            account,
            "--scope",
            scope,
            "--json",
        ])["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // A reviewer and a moderator, each with their own data directory and login.
    let login = |who: &str, scope: &str| {
        let d = path(who);
        ok(&[
            "registry",
            "add",
            "main",
            &srv.url,
            "--priority",
            "5",
            "--data-dir",
            &d,
            "--json",
        ]);
        ok(&[
            "login",
            "--registry",
            "main",
            "--token",
            &token(who, scope),
            "--data-dir",
            &d,
            "--json",
        ]);
        d
    };
    let bob = login("bob", "yank");
    let mia = login("mia", "moderate");
    let b = ["--data-dir", bob.as_str(), "--json"];
    let m = ["--data-dir", mia.as_str(), "--json"];

    // Written (no --registry: the one logged in to), pending.
    let written = ok(&with(
        &[
            "review",
            "hello@1.0.0",
            "--rating",
            "5",
            "--text",
            "Does what it says.",
        ],
        &b,
    ));
    assert_eq!(written["state"], "pending", "{written}");
    let id = written["id"].as_i64().unwrap().to_string();
    refused(
        &with(
            &["review", "hello@1.0.0", "--rating", "5", "--text", "again"],
            &b,
        ),
        "SB1455",
    );
    refused(
        &with(
            &["review", "hello@1.0.0", "--rating", "6", "--text", "x"],
            &b,
        ),
        // Checked by the CLI before it calls the server (which would say SB1453).
        "SB1912",
    );
    refused(
        &with(&["review", "hello", "--rating", "5", "--text", "x"], &b),
        "SB0040",
    );
    refused(&with(&["moderate", "list"], &b), "SB1388");

    // The moderator sees it and approves it (text output).
    let queue = ok(&with(&["moderate", "list"], &m));
    assert_eq!(queue["reviews"][0]["id"].to_string(), id, "{queue}");
    let revision = queue["reviews"][0]["revision"].as_str().unwrap().to_owned();
    let out = run(&["moderate", "list", "--data-dir", &mia]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("revision {revision}")), "{text}");
    let out = run(&[
        "moderate",
        "approve",
        &id,
        "--revision",
        &revision,
        "--data-dir",
        &mia,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.starts_with(&format!("approved: {id}  hello@1.0.0  5★  by bob")),
        "{text}"
    );

    // Edited: pending again; rejected with a reason bob sees.
    let edited = ok(&with(
        &[
            "review",
            "hello@1.0.0",
            "--edit",
            "--rating",
            "4",
            "--text",
            "Good, one bug.",
        ],
        &b,
    ));
    assert_eq!(
        (edited["state"].as_str(), edited["rating"].as_u64()),
        (Some("pending"), Some(4))
    );
    // The revision read before the edit no longer decides anything.
    refused(
        &with(
            &[
                "moderate",
                "reject",
                &id,
                "--reason",
                "Say which bug.",
                "--revision",
                &revision,
            ],
            &m,
        ),
        "SB1910",
    );
    let queue = ok(&with(&["moderate", "list"], &m));
    let revision = queue["reviews"][0]["revision"].as_str().unwrap().to_owned();
    ok(&with(
        &[
            "moderate",
            "reject",
            &id,
            "--reason",
            "Say which bug.",
            "--revision",
            &revision,
        ],
        &m,
    ));
    let mine = ok(&with(&["review", "--mine"], &b));
    assert_eq!(mine["reviews"][0]["state"], "rejected", "{mine}");
    assert_eq!(mine["reviews"][0]["reason"], "Say which bug.");
    let out = run(&["review", "--mine", "--data-dir", &bob]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("(rejected: Say which bug.)"));

    // Reported, listed, resolved.
    let report = ok(&with(
        &["report", "hello", "--reason", "It phones home."],
        &b,
    ));
    let report_id = report["id"].as_i64().unwrap().to_string();
    let reports = ok(&with(&["moderate", "reports"], &m));
    assert_eq!(reports["reports"][0]["reason"], "It phones home.");
    refused(
        &with(
            &[
                "moderate",
                "resolve",
                &report_id,
                "--outcome",
                "later",
                "--note",
                "x",
            ],
            &m,
        ),
        "SB1359",
    );
    let resolved = ok(&with(
        &[
            "moderate",
            "resolve",
            &report_id,
            "--outcome",
            "dismissed",
            "--note",
            "Update check, documented.",
        ],
        &m,
    ));
    assert_eq!(resolved["state"], "dismissed");
    assert_eq!(
        ok(&with(&["moderate", "reports"], &m))["reports"],
        serde_json::json!([])
    );

    // Deleted by its author; then there is none to edit.
    ok(&with(&["review", "hello@1.0.0", "--delete"], &b));
    refused(
        &with(
            &[
                "review",
                "hello@1.0.0",
                "--edit",
                "--rating",
                "3",
                "--text",
                "x",
            ],
            &b,
        ),
        "SB1456",
    );
    drop(srv);
}

/// Bad arguments are named before the login is looked for: with no registry logged in,
/// `review NAME@BADVERSION` says the version is bad (SB0040), not that nobody is logged in
/// (SB0076); a rating out of range is SB1912, an empty text SB1913.
#[test]
fn review_arguments_are_checked_before_the_login() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("empty").to_str().unwrap().to_owned();
    let cli = Cli::new(&root);
    let code = |args: &[&str]| -> String {
        let mut all = args.to_vec();
        all.extend(["--data-dir", &data, "--json"]);
        let out = cli.run(&all);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert!(!doc["error"]["next_step"].as_str().unwrap().is_empty());
        doc["error"]["code"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        code(&["review", "hello@1.x", "--rating", "5", "--text", "ok"]),
        "SB0040"
    );
    assert_eq!(code(&["review", "hello@1.x", "--delete"]), "SB0040");
    assert_eq!(
        code(&["review", "hello@1.0.0", "--rating", "9", "--text", "ok"]),
        "SB1912"
    );
    assert_eq!(
        code(&["review", "hello@1.0.0", "--rating", "5", "--text", "   "]),
        "SB1913"
    );
    // Well-formed: now the missing login is what is wrong.
    assert_eq!(
        code(&["review", "hello@1.0.0", "--rating", "5", "--text", "ok"]),
        "SB0076"
    );
}

/// `certify trust` against a registry at plain http: refused without `--key-id` (SB1914)
/// and with another key's id (SB1915), nothing written; accepted with the operator's id,
/// the key written under `trusted-registries/`.
#[test]
fn certify_trust_over_plain_http_needs_the_key_id_and_checks_it() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let path = |p: &str| dir.path().join(p).to_str().unwrap().to_owned();
    let cli = Cli::new(&root);
    let srv_dir = path("srv");
    let srv = serve_registry(&srv_dir);
    let user = path("user");
    cli.ok(&[
        "registry",
        "add",
        "main",
        &srv.url,
        "--priority",
        "5",
        "--data-dir",
        &user,
        "--json",
    ]);
    let trust = |extra: &[&str]| {
        let mut args = vec!["certify", "trust", "--registry", "main"];
        args.extend(extra);
        args.extend(["--data-dir", user.as_str(), "--json"]);
        cli.run(&args)
    };
    let refused = |out: std::process::Output, code: &str| {
        assert_eq!(out.status.code(), Some(1));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(doc["error"]["code"], code, "{doc}");
        assert!(!doc["error"]["next_step"].as_str().unwrap().is_empty());
    };
    let trusted = std::path::Path::new(&user).join("trusted-registries");
    refused(trust(&[]), "SB1914");
    refused(trust(&["--key-id", "0123456789ABCDEF"]), "SB1915");
    assert!(!trusted.exists() || std::fs::read_dir(&trusted).unwrap().next().is_none());

    // The operator's key id, as they would pass it on (read from the server's key file).
    let public =
        std::fs::read_to_string(std::path::Path::new(&srv_dir).join("keys/certification.pub"))
            .unwrap();
    let id = switchboard_host::package::key_id_of_public_key(&public).unwrap();
    let out = trust(&["--key-id", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["key_id"], id.as_str(), "{doc}");
    assert!(trusted.join(format!("{id}.pub")).is_file());
}
