//! The certification pipeline end to end (issue 21 item 2), on SQLite and on PostgreSQL: real
//! example packages uploaded to a real server, submitted, checked (capability overreach, a
//! vulnerable `Cargo.lock` against the RustSec snapshot in `registry/testdata/advisories`,
//! smoke calls the server cannot run without an isolated runner — `certification_smoke.rs` runs
//! them), approved and denied by a reviewer, and a real host
//! installing the approved release from the server and seeing trust level `certified`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use switchboard_cli::registries::{self as cli, AddArgs};
use switchboard_cli::server::{login, upload};
use switchboard_host::package::build;
use switchboard_host::TrustLevel;
use switchboard_registry::server::{
    accounts, open_database_with, parse_listen, tokens, DatabaseChoice, Server, ServerOptions,
};
use switchboard_tests::packages::{files, keys, manifest, public_key, sign, workspace, write};

fn add_args(location: &str) -> AddArgs {
    AddArgs {
        name: "main".into(),
        location: location.into(),
        priority: 10,
        root: None,
        token_env: None,
        certified_only: false,
        channel: "ga".into(),
        policy: None,
    }
}

/// A method, a path, a token: status and JSON.
fn send(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}{path}", server.url());
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut resp = if method == "get" {
        let mut req = agent.get(&url);
        if let Some(b) = &bearer {
            req = req.header("Authorization", b.as_str());
        }
        req.call().unwrap()
    } else {
        let mut req = agent.post(&url).header("Content-Type", "application/json");
        if let Some(b) = &bearer {
            req = req.header("Authorization", b.as_str());
        }
        req.send(body.unwrap_or(json!({})).to_string().as_bytes())
            .unwrap()
    };
    let status = resp.status().as_u16();
    let bytes = resp.body_mut().read_to_vec().unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

fn check<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {doc}"))
}

/// The example `name`'s package with `extra` files added, signed by `author`, in `dir`.
fn package(name: &str, dir: &Path, author: &Path, extra: &[(&str, &str)]) -> PathBuf {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut f = files(name);
    for (path, text) in extra {
        f.insert((*path).into(), text.as_bytes().to_vec());
    }
    let built = build(&manifest(name), &f).unwrap();
    let p = write(&dir, &built.file_name, &built.bytes);
    sign(&p, author);
    p
}

const LOCK_CLEAN: &str = "version = 4\n\n[[package]]\nname = \"smallvec\"\nversion = \"1.13.2\"\n\
    source = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
const LOCK_VULNERABLE: &str = "version = 4\n\n[[package]]\nname = \"smallvec\"\n\
    version = \"1.6.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n";

/// Runs the whole flow against a server whose store is `database`.
fn flow(database: DatabaseChoice) {
    let _g = switchboard_tests::releases::install_lock();
    use switchboard_host::install::{InstallOptions, InstallRequest};
    use switchboard_registry::registries::OpenOptions;
    use switchboard_registry::{Registries, RegistrySource};

    let tmp = tempfile::tempdir().unwrap();
    let mut options = ServerOptions::new(
        tmp.path().join("server"),
        parse_listen("127.0.0.1:0").unwrap(),
    );
    options.database = database.clone();
    options.advisory_db = Some(workspace().join("registry/testdata/advisories"));
    // A runner given explicitly and then removed, so that no runner is usable whatever the
    // environment says (`SWITCHBOARD_RUNNER` would otherwise be found).
    let runner = tmp.path().join("runner");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_isolated_runner"), &runner).unwrap();
    options.smoke.runner = Some(switchboard_host::isolation::RunnerCommand::binary(&runner));
    let server = Server::start(&options).unwrap();
    std::fs::remove_file(&runner).unwrap();
    let db = open_database_with(&server.data_dir().root, &database).unwrap();
    let token = |account: &str, scope: &str| {
        tokens::create(&db, account, scope.parse().unwrap(), None)
            .unwrap()
            .token
    };
    let acme = token("acme", "publish:*");
    let reviewer = token("rita", "certify");
    let outsider = token("mallory", "publish:*");
    let acme_reviewer = token("acme", "certify");

    // acme publishes three releases over HTTP, signed by its bound key.
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let author = keys(&work);
    accounts::add_key(&db, "acme", &public_key(&author)).unwrap();
    let publisher = tmp.path().join("acme");
    cli::add(&publisher, add_args(&server.registry_url())).unwrap();
    login(&publisher, "main", &acme).unwrap();
    let counter = package("counter", &work, &author, &[("Cargo.lock", LOCK_CLEAN)]);
    let hello = package("hello", &work, &author, &[("Cargo.lock", LOCK_VULNERABLE)]);
    let notes = package("notes", &work, &author, &[]);
    for p in [&counter, &hello, &notes] {
        let doc = upload(&publisher, "main", p, "ga").unwrap();
        assert_eq!(doc["trust"], "verified", "{doc}");
    }

    // Nobody but an owner's publishing token submits; only listed releases.
    let submit = |name: &str, version: &str, t: Option<&str>| {
        send(
            &server,
            "post",
            &format!("/api/v1/plugins/{name}/versions/{version}/certification"),
            t,
            None,
        )
    };
    let (status, doc) = submit("counter", "0.1.0", None);
    assert_eq!(
        (status, doc["code"].as_str()),
        (401, Some("SB1385")),
        "{doc}"
    );
    let (status, doc) = submit("counter", "0.1.0", Some(&outsider));
    assert_eq!(
        (status, doc["code"].as_str()),
        (403, Some("SB1389")),
        "{doc}"
    );
    let (status, doc) = submit("counter", "9.9.9", Some(&acme));
    assert_eq!(
        (status, doc["code"].as_str()),
        (404, Some("SB1463")),
        "{doc}"
    );
    let (status, doc) = send(
        &server,
        "get",
        "/api/v1/plugins/counter/versions/0.1.0/certification",
        None,
        None,
    );
    assert_eq!(
        (status, doc["code"].as_str()),
        (404, Some("SB1475")),
        "{doc}"
    );

    // counter: every check passes (or does not apply); a second submission is refused.
    let (status, counter_req) = submit("counter", "0.1.0", Some(&acme));
    assert_eq!(status, 201, "{counter_req}");
    assert_eq!(counter_req["state"], "pending");
    for (name, result) in [
        ("manifest", "passed"),
        ("capabilities", "passed"),
        ("provenance", "passed"),
        ("tests", "skipped"),
        ("advisories", "passed"),
    ] {
        assert_eq!(check(&counter_req, name)["result"], result, "{counter_req}");
    }
    assert_eq!(counter_req["approvable"], true);
    let (status, doc) = submit("counter", "0.1.0", Some(&acme));
    assert_eq!(
        (status, doc["code"].as_str()),
        (409, Some("SB1464")),
        "{doc}"
    );

    // hello: broad capabilities and a known-vulnerable dependency are flagged.
    let (status, hello_req) = submit("hello", "0.1.0", Some(&acme));
    assert_eq!(status, 201, "{hello_req}");
    let caps = check(&hello_req, "capabilities");
    assert_eq!(caps["result"], "flagged", "{hello_req}");
    assert!(
        caps["detail"].as_str().unwrap().contains("fs.read"),
        "{caps}"
    );
    let adv = check(&hello_req, "advisories");
    assert_eq!(adv["result"], "flagged", "{hello_req}");
    assert!(
        adv["detail"]
            .as_str()
            .unwrap()
            .contains("RUSTSEC-2021-0003 smallvec@1.6.0"),
        "{adv}"
    );

    // notes: smoke calls, and no usable isolated runner (the one given is gone) — `not-run`
    // saying so, which blocks approval (fail closed).
    let (status, notes_req) = submit("notes", "0.2.0", Some(&acme));
    assert_eq!(status, 201, "{notes_req}");
    assert_eq!(
        check(&notes_req, "tests")["result"],
        "not-run",
        "{notes_req}"
    );
    let detail = check(&notes_req, "tests")["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "the isolated runner {} cannot be used",
            runner.display()
        )) && detail.contains("--runner"),
        "{detail}"
    );
    assert_eq!(notes_req["approvable"], false);
    assert_eq!(notes_req["blocking"], json!(["tests"]));

    // The queue: reviewers only, oldest first.
    let (status, doc) = send(
        &server,
        "get",
        "/api/v1/certification/queue",
        Some(&acme),
        None,
    );
    assert_eq!(
        (status, doc["code"].as_str()),
        (403, Some("SB1388")),
        "{doc}"
    );
    let (status, queue) = send(
        &server,
        "get",
        "/api/v1/certification/queue",
        Some(&reviewer),
        None,
    );
    assert_eq!(status, 200, "{queue}");
    let names: Vec<&str> = queue["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["counter", "hello", "notes"]);

    let decide = |id: &Value, action: &str, t: &str, body: Value| {
        send(
            &server,
            "post",
            &format!("/api/v1/certification/{}/{action}", id.as_str().unwrap()),
            Some(t),
            Some(body),
        )
    };
    // Refusals: a publisher is no reviewer; a reviewer of the submitting account may not
    // decide; a blocked request is not approved; a denial needs a reason.
    let (status, doc) = decide(&counter_req["id"], "approve", &acme, json!({}));
    assert_eq!(
        (status, doc["code"].as_str()),
        (403, Some("SB1388")),
        "{doc}"
    );
    let (status, doc) = decide(&counter_req["id"], "approve", &acme_reviewer, json!({}));
    assert_eq!(
        (status, doc["code"].as_str()),
        (403, Some("SB1468")),
        "{doc}"
    );
    let (status, doc) = decide(&notes_req["id"], "approve", &reviewer, json!({}));
    assert_eq!(
        (status, doc["code"].as_str()),
        (409, Some("SB1465")),
        "{doc}"
    );
    assert!(
        doc["message"].as_str().unwrap().contains("tests not-run"),
        "{doc}"
    );
    let (status, doc) = decide(
        &hello_req["id"],
        "deny",
        &reviewer,
        json!({ "reason": "  " }),
    );
    assert_eq!(
        (status, doc["code"].as_str()),
        (400, Some("SB1467")),
        "{doc}"
    );
    let (status, doc) = send(
        &server,
        "post",
        "/api/v1/certification/c-nope/approve",
        Some(&reviewer),
        Some(json!({})),
    );
    assert_eq!(
        (status, doc["code"].as_str()),
        (404, Some("SB1475")),
        "{doc}"
    );

    // Deny hello with a reason: the publisher reads it.
    let reason = "smallvec 1.6.0 has RUSTSEC-2021-0003; fs.read and fs.write are unscoped";
    let (status, doc) = decide(
        &hello_req["id"],
        "deny",
        &reviewer,
        json!({ "reason": reason }),
    );
    assert_eq!(status, 200, "{doc}");
    let (_, doc) = send(
        &server,
        "get",
        "/api/v1/plugins/hello/versions/0.1.0/certification",
        None,
        None,
    );
    assert_eq!(
        (doc["state"].as_str(), doc["reason"].as_str()),
        (Some("denied"), Some(reason))
    );
    assert_eq!(doc["decided_by"], "rita");
    let (status, doc) = decide(&hello_req["id"], "approve", &reviewer, json!({}));
    assert_eq!(
        (status, doc["code"].as_str()),
        (409, Some("SB1466")),
        "{doc}"
    );

    // Approve counter: the registry countersigns it.
    let (status, doc) = decide(
        &counter_req["id"],
        "approve",
        &reviewer,
        json!({ "reason": "clean" }),
    );
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["state"], "approved");
    let (_, details) = send(&server, "get", "/api/v1/plugins/counter", None, None);
    assert_eq!(details["versions"][0]["trust"], "certified", "{details}");
    assert!(
        details["versions"][0]["certification"].is_string(),
        "{details}"
    );

    // Every decision is in the audit trail.
    let admin = token("ops", "admin");
    let (_, audit) = send(
        &server,
        "get",
        "/api/v1/audit?subject=plugin:",
        Some(&admin),
        None,
    );
    let actions: Vec<(String, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for want in [
        ("certification.submit", "plugin:counter@0.1.0"),
        ("certification.deny", "plugin:hello@0.1.0"),
        ("certification.approve", "plugin:counter@0.1.0"),
    ] {
        assert!(
            actions.iter().any(|(a, s)| a == want.0 && s == want.1),
            "{want:?} not in {actions:?}"
        );
    }
    let denial = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "certification.deny")
        .unwrap();
    assert!(
        denial["detail"].as_str().unwrap().contains(reason),
        "{denial}"
    );
    assert_eq!(denial["actor"], "rita");

    // A real host that trusts the registry's certification key installs counter from the
    // server and sees it certified; hello stays verified.
    let (_, key) = send(&server, "get", "/api/v1/certification/key", None, None);
    let data = tmp.path().join("host");
    cli::add(&data, add_args(&server.registry_url())).unwrap();
    let mut b = switchboard_host::Host::builder();
    b.data_dir(&data)
        .host_api("switchboard-demo", "0.1.0")
        .trust(public_key(&author))
        .trust_registry(key["public_key"].as_str().unwrap());
    let host = b.build().unwrap();
    let regs = Registries::open(
        host.store(),
        &switchboard_host::Policy::new(),
        &OpenOptions::new(cli::cache_dir(&data)),
    )
    .unwrap();
    regs.refresh().unwrap();
    let mut installer = host.installer();
    installer.source(RegistrySource::new(regs, false));
    installer
        .install(
            &[
                InstallRequest::name("counter", semver::VersionReq::STAR),
                InstallRequest::name("hello", semver::VersionReq::STAR),
            ],
            &InstallOptions::new(),
        )
        .unwrap();
    let installed = installer.list().unwrap();
    let trust_of = |name: &str| installed.iter().find(|p| p.name == name).unwrap().trust;
    assert_eq!(trust_of("counter"), TrustLevel::Certified);
    assert_eq!(trust_of("hello"), TrustLevel::Verified);
}

#[test]
fn certification_on_sqlite_submit_check_approve_deny_and_a_host_sees_certified() {
    flow(DatabaseChoice::Sqlite);
}

#[test]
fn certification_on_postgres_submit_check_approve_deny_and_a_host_sees_certified() {
    use switchboard_registry::testing_postgres::{binaries, TempCluster};
    let Some(bin) = binaries() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "PostgreSQL's initdb and pg_ctl are needed in CI"
        );
        return;
    };
    let cluster = TempCluster::start(&bin).unwrap();
    let url = cluster.database().unwrap();
    flow(DatabaseChoice::parse(&url).unwrap());
}

/// The plugin page and `/admin/certification` in headless Chromium: the certified badge and
/// the checks on counter's page; hello waiting in the queue with its flagged checks; a
/// reviewer denying it through the page's form (keyboard-reachable fields); the reason then
/// on hello's page.
async fn browse(
    c: &fantoccini::Client,
    base: &str,
    reviewer: &str,
    shots: &Path,
) -> anyhow::Result<()> {
    use crate::registry_page::{no_horizontal_overflow, save, WAIT};
    use anyhow::ensure;
    use fantoccini::Locator;
    c.set_window_size(1280, 900).await?;

    c.goto(&format!("{base}/plugins/counter")).await?;
    let badge = c
        .find(Locator::Css(".plugin-head .badge"))
        .await?
        .text()
        .await?;
    ensure!(badge == "Certified", "counter's badge: {badge}");
    let section = c
        .find(Locator::Css("section[aria-labelledby='certification']"))
        .await?
        .text()
        .await?;
    ensure!(
        section.contains("certified by rita"),
        "certification section: {section}"
    );
    for check in [
        "manifest",
        "capabilities",
        "provenance",
        "tests",
        "advisories",
    ] {
        ensure!(section.contains(check), "no {check} in {section}");
    }
    save(c, shots, "certification-certified.png").await?;

    c.goto(&format!("{base}/admin/certification")).await?;
    let queue = c.find(Locator::Css("main")).await?.text().await?;
    ensure!(queue.contains("hello 0.1.0"), "queue: {queue}");
    ensure!(queue.contains("flagged: capabilities"), "queue: {queue}");
    save(c, shots, "certification-queue.png").await?;
    c.find(Locator::Css("input[name='token']"))
        .await?
        .send_keys(reviewer)
        .await?;
    c.find(Locator::Css("textarea[name='reason']"))
        .await?
        .send_keys("fs.read and fs.write are unscoped")
        .await?;
    c.find(Locator::Css("button[value='deny']"))
        .await?
        .click()
        .await?;
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("div.notice"))
        .await?;
    let notice = c.find(Locator::Css("div.notice")).await?.text().await?;
    ensure!(notice.contains("hello@0.1.0 is denied"), "notice: {notice}");

    c.goto(&format!("{base}/plugins/hello")).await?;
    let reason = c
        .find(Locator::Css(".certification-reason"))
        .await?
        .text()
        .await?;
    ensure!(
        reason.contains("Why it was denied: fs.read and fs.write are unscoped"),
        "reason: {reason}"
    );
    save(c, shots, "certification-denied.png").await?;
    c.set_window_size(360, 800).await?;
    for path in ["/plugins/counter", "/admin/certification"] {
        c.goto(&format!("{base}{path}")).await?;
        no_horizontal_overflow(c, path).await?;
    }
    Ok(())
}

#[test]
fn the_certification_badge_checks_and_queue_work_in_headless_chromium() {
    use crate::registry_page::{browser, screenshot_dir, Driver, SKIP_VAR};
    let _g = switchboard_tests::releases::install_lock();
    let Some((driver, chromium)) = browser() else {
        assert!(
            std::env::var_os(SKIP_VAR).is_some() && std::env::var_os("CI").is_none(),
            "the browser tests need Chromium and chromedriver (see registry_page.rs)"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let options = ServerOptions::new(
        tmp.path().join("server"),
        parse_listen("127.0.0.1:0").unwrap(),
    );
    let server = Server::start(&options).unwrap();
    let db = open_database_with(&server.data_dir().root, &DatabaseChoice::Sqlite).unwrap();
    let token = |account: &str, scope: &str| {
        tokens::create(&db, account, scope.parse().unwrap(), None)
            .unwrap()
            .token
    };
    let (acme, reviewer) = (token("acme", "publish:*"), token("rita", "certify"));
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let author = keys(&work);
    accounts::add_key(&db, "acme", &public_key(&author)).unwrap();
    let publisher = tmp.path().join("acme");
    cli::add(&publisher, add_args(&server.registry_url())).unwrap();
    login(&publisher, "main", &acme).unwrap();
    for name in ["counter", "hello"] {
        upload(
            &publisher,
            "main",
            &package(name, &work, &author, &[]),
            "ga",
        )
        .unwrap();
        let (status, doc) = send(
            &server,
            "post",
            &format!("/api/v1/plugins/{name}/versions/0.1.0/certification"),
            Some(&acme),
            None,
        );
        assert_eq!(status, 201, "{doc}");
        if name == "counter" {
            let (status, doc) = send(
                &server,
                "post",
                &format!(
                    "/api/v1/certification/{}/approve",
                    doc["id"].as_str().unwrap()
                ),
                Some(&reviewer),
                Some(json!({})),
            );
            assert_eq!(status, 200, "{doc}");
        }
    }

    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let driver = Driver::start(&driver).unwrap();
    let profile = tmp.path().join("chromium-profile");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result: anyhow::Result<()> = runtime.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-extensions", "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let client = fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .capabilities(caps)
        .connect(&driver.url)
        .await?;
        let outcome = browse(&client, &server.url(), &reviewer, &shots).await;
        let _ = client.close().await;
        outcome
    });
    if let Err(e) = result {
        panic!("{e:#}");
    }
}

/// The `switchboard certify` commands (in-process, as the binary runs them): a publisher
/// submits and reads the status, a non-reviewer's queue is refused with the server's code,
/// a reviewer approves and denies, `certify trust` stores the registry's key, and `info`
/// shows the release certified.
#[test]
fn the_certify_commands_submit_review_and_trust_a_registry_key() {
    use switchboard_cli::accounts::ServerTarget;
    use switchboard_cli::certify::{run, trusted_registry_keys, CertifyCmd};
    use switchboard_cli::registries::Access;
    let _g = switchboard_tests::releases::install_lock();
    let tmp = tempfile::tempdir().unwrap();
    let options = ServerOptions::new(
        tmp.path().join("server"),
        parse_listen("127.0.0.1:0").unwrap(),
    );
    let server = Server::start(&options).unwrap();
    let db = open_database_with(&server.data_dir().root, &DatabaseChoice::Sqlite).unwrap();
    let token = |account: &str, scope: &str| {
        tokens::create(&db, account, scope.parse().unwrap(), None)
            .unwrap()
            .token
    };
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let author = keys(&work);
    accounts::add_key(&db, "acme", &public_key(&author)).unwrap();
    let publisher = tmp.path().join("acme");
    let reviewer = tmp.path().join("rita");
    for (dir, t) in [
        (&publisher, token("acme", "publish:*")),
        (&reviewer, token("rita", "certify")),
    ] {
        cli::add(dir, add_args(&server.registry_url())).unwrap();
        login(dir, "main", &t).unwrap();
    }
    for name in ["counter", "hello"] {
        upload(
            &publisher,
            "main",
            &package(name, &work, &author, &[]),
            "ga",
        )
        .unwrap();
    }
    let target = |dir: &Path| ServerTarget {
        registry: "main".into(),
        data_dir: Some(dir.to_owned()),
        json: true,
    };
    let coded = |e: anyhow::Error| switchboard_cli::output::code_of(&e).0;

    // Submit and read the status; a bad release reference and a second submission are refused.
    for release in ["counter@0.1.0", "hello@0.1.0"] {
        run(CertifyCmd::Submit {
            release: release.into(),
            target: target(&publisher),
        })
        .unwrap();
    }
    let e = run(CertifyCmd::Submit {
        release: "counter".into(),
        target: target(&publisher),
    })
    .unwrap_err();
    assert_eq!(coded(e), "SB0062");
    let e = run(CertifyCmd::Submit {
        release: "counter@0.1.0".into(),
        target: target(&publisher),
    })
    .unwrap_err();
    assert_eq!(coded(e), "SB1464");
    run(CertifyCmd::Status {
        release: "counter@0.1.0".into(),
        target: target(&publisher),
    })
    .unwrap();

    // The queue is the reviewers'.
    let e = run(CertifyCmd::Queue {
        target: target(&publisher),
    })
    .unwrap_err();
    assert_eq!(coded(e), "SB1388");
    run(CertifyCmd::Queue {
        target: target(&reviewer),
    })
    .unwrap();
    let id = |name: &str| {
        send(
            &server,
            "get",
            &format!("/api/v1/plugins/{name}/versions/0.1.0/certification"),
            None,
            None,
        )
        .1["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    run(CertifyCmd::Approve {
        id: id("counter"),
        reason: None,
        target: target(&reviewer),
    })
    .unwrap();
    run(CertifyCmd::Deny {
        id: id("hello"),
        reason: "unscoped file access".into(),
        target: target(&reviewer),
    })
    .unwrap();
    let e = run(CertifyCmd::Deny {
        id: id("hello"),
        reason: "again".into(),
        target: target(&reviewer),
    })
    .unwrap_err();
    assert_eq!(coded(e), "SB1466");

    // A user trusts the registry's key; `info` shows counter certified.
    let user = tmp.path().join("user");
    cli::add(&user, add_args(&server.registry_url())).unwrap();
    // Plain http: the key id (the operator's, passed on out of band) is required.
    let e = run(CertifyCmd::Trust {
        key_id: None,
        target: target(&user),
    })
    .unwrap_err();
    assert_eq!(coded(e), "SB1914");
    let (_, key) = send(&server, "get", "/api/v1/certification/key", None, None);
    run(CertifyCmd::Trust {
        key_id: key["key_id"].as_str().map(str::to_owned),
        target: target(&user),
    })
    .unwrap();
    let stored = trusted_registry_keys(&user).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].trim(), key["public_key"].as_str().unwrap().trim());
    let info = switchboard_cli::discover::info(&user, &Access::default(), "counter", None).unwrap();
    assert_eq!(info.selected.unwrap().trust, TrustLevel::Certified);
    let info = switchboard_cli::discover::info(&user, &Access::default(), "hello", None).unwrap();
    assert_eq!(info.selected.unwrap().trust, TrustLevel::Verified);
}
