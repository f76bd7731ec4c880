//! A paid plugin from the command line, against a real `switchboard registry serve
//! --test-payments`: its owner prices it, a buyer's `switchboard install` is refused with a
//! coded error naming `switchboard buy`, a declined payment changes nothing, the purchase
//! goes through, the same `install` then installs it, and the owner's payout report has
//! the sale.

use super::{switchboard, with, Cli, Served};

fn serve_selling(data: &str) -> Served {
    use std::io::BufRead;
    let mut child = switchboard()
        .args([
            "registry",
            "serve",
            "--data-dir",
            data,
            "--listen",
            "127.0.0.1:0",
            "--test-payments",
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
fn a_paid_plugin_is_refused_by_install_until_bought_then_installed() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let path = |p: &str| dir.path().join(p).to_str().unwrap().to_owned();
    let cli = Cli::new(&root);
    let run = |args: &[&str]| cli.run(args);
    let ok = |args: &[&str]| cli.ok(args);
    let refused = |args: &[&str]| -> serde_json::Value {
        let out = run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        doc["error"].clone()
    };
    let srv = serve_selling(&path("srv"));
    let token = |account: &str, scope: &str| {
        ok(&[
            "registry",
            "token",
            "create",
            "--data-dir",
            &path("srv"),
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

    // acme publishes hello (built, signed with a key bound to acme, uploaded) and prices it.
    let acme = path("acme");
    let a = ["--data-dir", acme.as_str(), "--json"];
    ok(&with(
        &["registry", "add", "main", &srv.url, "--priority", "5"],
        &a,
    ));
    ok(&with(
        &[
            "login",
            "--registry",
            "main",
            "--token",
            &token("acme", "account"),
        ],
        &a,
    ));
    let made = ok(&with(&["keygen", "--unencrypted"], &a));
    ok(&with(
        &[
            "key",
            "add",
            made["public_key"].as_str().unwrap(),
            "--registry",
            "main",
        ],
        &a,
    ));
    ok(&with(
        &[
            "login",
            "--registry",
            "main",
            "--token",
            &token("acme", "publish:hel*"),
        ],
        &a,
    ));
    let hello = root.join("examples/hello");
    ok(&with(
        &["publish", hello.to_str().unwrap(), "--out", &path("dist")],
        &a,
    ));
    ok(&with(
        &[
            "login",
            "--registry",
            "main",
            "--token",
            &token("acme", "account"),
        ],
        &a,
    ));
    let priced = ok(&with(
        &[
            "price",
            "hello",
            "--registry",
            "main",
            "--amount",
            "4900",
            "--currency",
            "EUR",
        ],
        &a,
    ));
    assert_eq!(priced["pricing"]["pricing"]["shown"], "49.00 EUR");

    // ann, logged in, installs: refused, coded, with the command to run next.
    let ann = path("ann");
    let b = ["--data-dir", ann.as_str(), "--json"];
    ok(&with(
        &["registry", "add", "main", &srv.url, "--priority", "5"],
        &b,
    ));
    ok(&with(
        &[
            "login",
            "--registry",
            "main",
            "--token",
            &token("ann", "account"),
        ],
        &b,
    ));
    let install = with(
        &[
            "install",
            "hello",
            "--yes",
            "--host-api",
            "switchboard-demo@0.1.0",
        ],
        &b,
    );
    let e = refused(&install);
    assert!(e["message"].as_str().unwrap().contains("SB1480"), "{e}");
    assert!(e["message"].as_str().unwrap().contains("49.00 EUR"), "{e}");
    assert!(
        e["next_step"]
            .as_str()
            .unwrap()
            .contains("switchboard buy hello --registry main"),
        "{e}"
    );
    let listed = ok(&with(&["list"], &b));
    assert_eq!(listed["plugins"], serde_json::json!([]), "{listed}");

    // A declined payment: coded, and nothing bought.
    let e = refused(&with(
        &[
            "buy",
            "hello",
            "--registry",
            "main",
            "--payment-method",
            "test-decline",
        ],
        &b,
    ));
    assert_eq!(e["code"], "SB1481", "{e}");
    let ent = ok(&with(&["entitlements", "--registry", "main"], &b));
    assert_eq!(ent["entitlements"]["entitlements"], serde_json::json!([]));

    // Bought: the same install now installs it.
    let bought = ok(&with(
        &[
            "buy",
            "hello",
            "--registry",
            "main",
            "--payment-method",
            "test-approve",
        ],
        &b,
    ));
    assert_eq!(bought["purchase"]["entitlement"]["kind"], "purchase");
    assert_eq!(bought["purchase"]["charged"]["amount"], 4900);
    let ent = ok(&with(&["entitlements", "--registry", "main"], &b));
    assert_eq!(ent["entitlements"]["entitlements"][0]["plugin"], "hello");
    ok(&install);
    let listed = ok(&with(&["list"], &b));
    assert_eq!(listed["plugins"][0]["name"], "hello", "{listed}");

    // acme's payout report of this month has the sale, 15 % off, as CSV too.
    let sale_day = bought["purchase"]["entitlement"]["since"].as_i64().unwrap();
    let month = jiff::Timestamp::from_second(sale_day)
        .unwrap()
        .strftime("%Y-%m")
        .to_string();
    let report = ok(&with(
        &["payouts", "--registry", "main", "--month", &month],
        &a,
    ));
    let line = &report["report"]["lines"][0];
    assert_eq!(
        (
            line["plugin"].as_str(),
            line["gross"].as_i64(),
            line["fees"].as_i64(),
            line["net"].as_i64()
        ),
        (Some("hello"), Some(4900), Some(735), Some(4165)),
        "{report}"
    );
    let out = run(&[
        "payouts",
        "--registry",
        "main",
        "--month",
        &month,
        "--csv",
        "--data-dir",
        &acme,
    ]);
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(
        csv.contains(&format!(
            "{month},acme,hello,EUR,sales,1500,1,49.00,0.00,49.00,7.35,41.65"
        )),
        "{csv}"
    );
    // The file form still works beside it.
    let out = run(&[
        "payouts",
        "--ledger",
        &root.join("docs/examples/ledger.json").to_string_lossy(),
        "--month",
        "2026-11",
        "--csv",
    ]);
    assert!(out.status.success());
}
