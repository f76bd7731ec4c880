//! Certification's `tests` check runs a release's declared smoke calls in an isolated,
//! sandboxed runner process (issue 21 item 2), on SQLite and on PostgreSQL: real packages
//! (the notes example, whose `plugin.toml` declares four calls, and the hostile test plugin
//! `escape`) uploaded to a real server whose runner is the tests' `isolated_runner` binary.
//! Calls that pass make the release approvable and it is certified; a wrong expectation fails
//! with the mismatch; a call that crashes the runner or spins past its limit is an error and
//! the server serves on; a runner that is gone is `not-run`; `certify status` shows each call.

use std::path::Path;

use serde_json::{json, Value};
use switchboard_cli::registries::{self as cli, AddArgs};
use switchboard_cli::server::{login, upload};
use switchboard_host::isolation::RunnerCommand;
use switchboard_registry::server::{
    accounts, open_database_with, parse_listen, tokens, DatabaseChoice, Server, ServerOptions,
};
use switchboard_sdk::manifest::{SmokeCall, TestSpec};
use switchboard_tests::packages::{keys, public_key};
use switchboard_tests::releases;

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

fn send(server: &Server, post: bool, path: &str, token: &str, body: Value) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}{path}", server.url());
    let bearer = format!("Bearer {token}");
    let mut resp = if post {
        agent
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Authorization", bearer.as_str())
            .send(body.to_string().as_bytes())
            .unwrap()
    } else {
        agent
            .get(&url)
            .header("Authorization", bearer.as_str())
            .call()
            .unwrap()
    };
    let status = resp.status().as_u16();
    let bytes = resp.body_mut().read_to_vec().unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

fn tests_check(doc: &Value) -> (String, String) {
    let c = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "tests")
        .unwrap_or_else(|| panic!("no tests check: {doc}"));
    (
        c["result"].as_str().unwrap().to_owned(),
        c["detail"].as_str().unwrap().to_owned(),
    )
}

fn smoke_call(command: &str, input: Option<Value>, expect: Option<Value>) -> SmokeCall {
    SmokeCall {
        command: command.into(),
        input,
        input_hex: None,
        expect,
        expect_error: None,
    }
}

fn with_calls(calls: Vec<SmokeCall>) -> impl FnOnce(&mut switchboard_host::Manifest) {
    move |m| {
        m.test = Some(TestSpec {
            calls,
            ..TestSpec::default()
        });
    }
}

fn flow(database: DatabaseChoice) {
    let tmp = tempfile::tempdir().unwrap();
    // The runner, through a link the test removes later: a runner that is gone.
    let runner = tmp.path().join("runner");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_isolated_runner"), &runner).unwrap();
    let mut options = ServerOptions::new(
        tmp.path().join("server"),
        parse_listen("127.0.0.1:0").unwrap(),
    );
    options.database = database.clone();
    options.rate_limit = None;
    options.smoke.runner = Some(RunnerCommand::binary(&runner));
    let server = Server::start(&options).unwrap();
    let db = open_database_with(&server.data_dir().root, &database).unwrap();
    let token = |account: &str, scope: &str| {
        tokens::create(&db, account, scope.parse().unwrap(), None)
            .unwrap()
            .token
    };
    let acme = token("acme", "publish:*");
    let reviewer = token("rita", "certify");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let author = keys(&work);
    accounts::add_key(&db, "acme", &public_key(&author)).unwrap();
    let publisher = tmp.path().join("acme");
    cli::add(&publisher, add_args(&server.registry_url())).unwrap();
    login(&publisher, "main", &acme).unwrap();

    let out = work.join("releases");
    // notes 0.2.0 as its plugin.toml declares it; 0.2.1 with one expectation wrong.
    let notes = releases::example("notes", "0.2.0", &out, &author, |_| {});
    let wrong = releases::example("notes", "0.2.1", &out, &author, |m| {
        let calls = &mut m.test.as_mut().unwrap().calls;
        let count = calls.iter_mut().find(|c| c.command == "count").unwrap();
        count.expect = Some(json!(2));
    });
    // escape 0.1.0 crashes its runner in the second call; 0.1.1 spins past its time limit.
    let crash = releases::test_plugin(
        "escape",
        "0.1.0",
        &out,
        &author,
        with_calls(vec![
            smoke_call("sleep_ms", Some(json!(0)), Some(json!(0))),
            smoke_call("segfault", None, None),
            smoke_call("sleep_ms", Some(json!(1)), Some(json!(1))),
        ]),
    );
    let hang = releases::test_plugin(
        "escape",
        "0.1.1",
        &out,
        &author,
        with_calls(vec![smoke_call("spin", None, None)]),
    );
    for p in [&notes, &wrong, &crash, &hang] {
        let doc = upload(&publisher, "main", p, "ga").unwrap();
        assert_eq!(doc["trust"], "verified", "{doc}");
    }
    let submit = |name: &str, version: &str| {
        let (status, doc) = send(
            &server,
            true,
            &format!("/api/v1/plugins/{name}/versions/{version}/certification"),
            &acme,
            json!({}),
        );
        assert_eq!(status, 201, "{doc}");
        doc
    };
    let serving = || {
        let (status, doc) = send(
            &server,
            false,
            "/api/v1/certification/key",
            &acme,
            json!({}),
        );
        assert_eq!(status, 200, "the server still serves: {doc}");
    };

    // Every declared call passes in the runner: `tests` passed, the release approvable, and
    // approved. The detail names each call and the isolation.
    let passed = submit("notes", "0.2.0");
    let (result, detail) = tests_check(&passed);
    assert_eq!(result, "passed", "{passed}");
    assert!(
        detail.starts_with("4 of 4 smoke call(s) passed"),
        "{detail}"
    );
    assert!(
        detail.contains("isolated in a sandboxed runner"),
        "{detail}"
    );
    assert!(
        detail.contains("\npassed: count() = 1")
            && detail.contains("\npassed: get(\"Nothing\") fails with SB0100"),
        "{detail}"
    );
    assert!(detail.contains("granted: "), "{detail}");
    assert_eq!(passed["approvable"], true, "{passed}");
    let (status, approved) = send(
        &server,
        true,
        &format!(
            "/api/v1/certification/{}/approve",
            passed["id"].as_str().unwrap()
        ),
        &reviewer,
        json!({}),
    );
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["state"], "approved");
    // `certify status` prints each call on a line of its own.
    let text = switchboard_cli::certify::request_text(&approved);
    assert!(
        text.contains(&format!("\n{:25}passed: save(", "")),
        "{text}"
    );

    // A wrong expectation: failed, with the mismatch; not approvable.
    let failed = submit("notes", "0.2.1");
    let (result, detail) = tests_check(&failed);
    assert_eq!(result, "failed", "{failed}");
    assert!(
        detail.contains("\nfailed: count() = 2 — expected 2, got 1"),
        "{detail}"
    );
    assert!(detail.contains("\npassed: save("), "{detail}");
    assert_eq!(failed["approvable"], false);
    assert_eq!(failed["blocking"], json!(["tests"]));
    // The reviewers' queue page lists each call under the check.
    let page = ureq::get(&format!("{}/admin/certification", server.url()))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        page.contains("<ul class=\"smoke-calls\"><li>passed: save(")
            && page.contains("<li>failed: count() = 2 — expected 2, got 1</li>"),
        "{page}"
    );

    // A call that crashes the runner: an error (never a pass), the calls after it are not
    // answered either, and the server serves on.
    let crashed = submit("escape", "0.1.0");
    let (result, detail) = tests_check(&crashed);
    assert_eq!(result, "failed", "{crashed}");
    assert!(detail.contains("\npassed: sleep_ms(0) = 0"), "{detail}");
    assert!(
        detail.contains("\nerror: segfault() — no answer from the plugin: [SB1501]"),
        "{detail}"
    );
    assert!(detail.contains("\nerror: sleep_ms(1) = 1"), "{detail}");
    serving();

    // A call that never returns is killed at its time limit: an error.
    let hung = submit("escape", "0.1.1");
    let (result, detail) = tests_check(&hung);
    assert_eq!(result, "failed", "{hung}");
    assert!(
        detail.contains("\nerror: spin() — no answer from the plugin: [SB1502]"),
        "{detail}"
    );
    serving();

    // The runner gone: nothing runs, `not-run` saying what is missing — never a pass.
    let (status, doc) = send(
        &server,
        true,
        &format!(
            "/api/v1/certification/{}/deny",
            failed["id"].as_str().unwrap()
        ),
        &reviewer,
        json!({ "reason": "count() answers 1" }),
    );
    assert_eq!(status, 200, "{doc}");
    std::fs::remove_file(&runner).unwrap();
    let again = submit("notes", "0.2.1");
    let (result, detail) = tests_check(&again);
    assert_eq!(result, "not-run", "{again}");
    assert!(
        detail.contains(&format!("the isolated runner {}", runner.display()))
            && detail.contains("--runner"),
        "{detail}"
    );
    assert_eq!(again["approvable"], false);
    serving();
}

#[test]
fn certification_runs_smoke_calls_isolated_on_sqlite() {
    flow(DatabaseChoice::Sqlite);
}

#[test]
fn certification_runs_smoke_calls_isolated_on_postgres() {
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

/// A SQLite server started with `options` (from [`options`], then adjusted), the account
/// `acme` with a publish token and its signing key bound, and a publisher logged in as it.
struct Setup {
    /// Holds the server's data directory and the publisher's files until the test ends.
    _tmp: tempfile::TempDir,
    server: Server,
    db: switchboard_registry::server::Database,
    acme: String,
    work: std::path::PathBuf,
    author: std::path::PathBuf,
    publisher: std::path::PathBuf,
}

/// Server options over `tmp` with no rate limit and the tests' isolated runner.
fn options(tmp: &Path) -> ServerOptions {
    let mut options = ServerOptions::new(tmp.join("server"), parse_listen("127.0.0.1:0").unwrap());
    options.rate_limit = None;
    options.smoke.runner = Some(RunnerCommand::binary(env!("CARGO_BIN_EXE_isolated_runner")));
    options
}

impl Setup {
    fn start(tmp: tempfile::TempDir, options: &ServerOptions) -> Setup {
        let server = Server::start(options).unwrap();
        let db = open_database_with(&server.data_dir().root, &DatabaseChoice::Sqlite).unwrap();
        let acme = tokens::create(&db, "acme", "publish:*".parse().unwrap(), None)
            .unwrap()
            .token;
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let author = keys(&work);
        accounts::add_key(&db, "acme", &public_key(&author)).unwrap();
        let publisher = tmp.path().join("acme");
        cli::add(&publisher, add_args(&server.registry_url())).unwrap();
        login(&publisher, "main", &acme).unwrap();
        Setup {
            _tmp: tmp,
            server,
            db,
            acme,
            work,
            author,
            publisher,
        }
    }

    /// Uploads the notes example 0.2.0 (its four declared smoke calls) to the `ga` channel.
    fn upload_notes(&self) {
        let notes = releases::example(
            "notes",
            "0.2.0",
            &self.work.join("releases"),
            &self.author,
            |_| {},
        );
        upload(&self.publisher, "main", &notes, "ga").unwrap();
    }

    /// Submits `NAME@0.2.0` for certification as `acme`: the request made (`201`).
    fn submit(&self, name: &str) -> Value {
        let (status, doc) = send(
            &self.server,
            true,
            &format!("/api/v1/plugins/{name}/versions/0.2.0/certification"),
            &self.acme,
            json!({}),
        );
        assert_eq!(status, 201, "{doc}");
        doc
    }
}

/// A sandbox layer the server requires and this machine lacks: nothing runs, `not-run`
/// naming the layer. (On a machine with every layer there is none to require: nothing to
/// check.)
#[test]
fn a_required_sandbox_layer_this_machine_lacks_is_not_run() {
    let Some(missing) = switchboard_host::isolation::sandbox::probe()
        .into_iter()
        .find(|l| !l.active)
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut options = options(tmp.path());
    options.smoke.require.push(missing.layer);
    let setup = Setup::start(tmp, &options);
    setup.upload_notes();
    let doc = setup.submit("notes");
    let (result, detail) = tests_check(&doc);
    assert_eq!(result, "not-run", "{doc}");
    assert!(
        detail.contains("isolation is not available here")
            && detail.contains(missing.layer.as_str()),
        "{detail}"
    );
    assert_eq!(doc["approvable"], false);
}

/// A `--runner` that is not an executable file stops the server's start, coded.
#[test]
fn a_runner_option_that_names_no_executable_stops_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    let mut options = ServerOptions::new(
        tmp.path().join("server"),
        parse_listen("127.0.0.1:0").unwrap(),
    );
    options.smoke.runner = Some(RunnerCommand::binary(Path::new("/nonexistent/runner")));
    let e = Server::start(&options).unwrap_err();
    assert_eq!(e.code().to_string(), "SB1930", "{e}");
}

/// Smoke calls are plugin code the server runs: the hostile `escape` plugin's calls that
/// read the server's certification key, the server's command line and environment, and
/// connect to a port on the server's machine are each refused by the sandbox — none
/// succeeds, and the check is not passed. (Landlock and a network namespace are required
/// layers: on a machine without them the check is `not-run` and nothing is called.)
#[test]
fn smoke_calls_cannot_read_the_servers_files_or_reach_its_network() {
    let tmp = tempfile::tempdir().unwrap();
    let options = options(tmp.path());
    let setup = Setup::start(tmp, &options);
    let Setup {
        server,
        work,
        author,
        publisher,
        ..
    } = &setup;
    let key = server.data_dir().keys.join("certification.key");
    assert!(key.exists(), "{}", key.display());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Each call succeeds only if the escape does (`take_*`, `dial`: the escape suite's
    // attempts as calls that fail when the OS refuses).
    let attempts = vec![
        smoke_call("take_file", Some(json!(key.display().to_string())), None),
        smoke_call("take_file", Some(json!("certification.key")), None),
        smoke_call("take_parent_proc", Some(json!("cmdline")), None),
        smoke_call("take_parent_proc", Some(json!("environ")), None),
        smoke_call("dial", Some(json!(port)), None),
    ];
    let hostile = releases::test_plugin(
        "escape",
        "0.2.0",
        &work.join("releases"),
        author,
        with_calls(attempts),
    );
    upload(publisher, "main", &hostile, "ga").unwrap();
    let doc = setup.submit("escape");
    let (result, detail) = tests_check(&doc);
    assert_ne!(result, "passed", "{detail}");
    let lines: Vec<&str> = detail.lines().skip(1).collect();
    if result == "not-run" {
        // A machine without Landlock or user namespaces: nothing was called.
        assert!(detail.contains("none run"), "{detail}");
        assert!(lines.is_empty(), "{detail}");
        return;
    }
    assert_eq!(result, "failed", "{detail}");
    assert!(
        detail.starts_with("0 of 5 smoke call(s) passed"),
        "{detail}"
    );
    assert!(
        detail.contains("landlock") && detail.contains("net_namespace"),
        "{detail}"
    );
    assert_eq!(lines.len(), 5, "{detail}");
    for line in lines {
        assert!(
            line.starts_with("failed: ") || line.starts_with("error: "),
            "{line}"
        );
        assert!(line.contains("refused"), "escaped: {line}");
    }
    assert_eq!(doc["approvable"], false);
    drop(listener);
}

/// One smoke run at a time per server: while one holds the server's smoke lock, a submission
/// runs its other checks but no smoke call — `tests` is `not-run` saying the server is busy
/// (fail closed), other requests are served meanwhile, and once the run is over the release
/// resubmitted runs its calls and passes.
#[test]
fn a_submission_while_another_smoke_run_holds_the_lock_is_not_run_and_resubmission_works() {
    let tmp = tempfile::tempdir().unwrap();
    let options = options(tmp.path());
    let setup = Setup::start(tmp, &options);
    let Setup {
        server, db, acme, ..
    } = &setup;
    let reviewer = tokens::create(db, "rita", "certify".parse().unwrap(), None)
        .unwrap()
        .token;
    setup.upload_notes();
    let path = "/api/v1/plugins/notes/versions/0.2.0/certification";

    let running = server.hold_smoke_lock().expect("no run holds the lock");
    let (status, busy) = send(server, true, path, acme, json!({}));
    assert_eq!(status, 201, "{busy}");
    let (result, detail) = tests_check(&busy);
    assert_eq!(result, "not-run", "{busy}");
    assert!(
        detail.contains(
            "none run: the server is running another release's smoke calls; submit again shortly"
        ),
        "{detail}"
    );
    assert_eq!(busy["approvable"], false, "{busy}");
    let (status, doc) = send(server, false, "/api/v1/certification/key", acme, json!({}));
    assert_eq!(status, 200, "served while the smoke lock is held: {doc}");
    let (status, doc) = send(
        server,
        true,
        &format!(
            "/api/v1/certification/{}/deny",
            busy["id"].as_str().unwrap()
        ),
        &reviewer,
        json!({ "reason": "smoke calls not run" }),
    );
    assert_eq!(status, 200, "{doc}");
    drop(running);

    let (status, again) = send(server, true, path, acme, json!({}));
    assert_eq!(status, 201, "{again}");
    let (result, detail) = tests_check(&again);
    assert_eq!(result, "passed", "{detail}");
    assert!(
        server.hold_smoke_lock().is_some(),
        "the run let go of the lock"
    );
}

/// A `--runner` that is an executable but not a runner (`/bin/true` answers no handshake) is
/// the server's setup, not the plugin's failure: `tests` is `not-run`, never `failed`.
#[test]
fn a_runner_that_is_not_a_runner_is_not_run_not_the_plugins_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let mut options = options(tmp.path());
    options.smoke.runner = Some(RunnerCommand::binary("/bin/true"));
    let setup = Setup::start(tmp, &options);
    setup.upload_notes();
    let doc = setup.submit("notes");
    let (result, detail) = tests_check(&doc);
    assert_eq!(result, "not-run", "{detail}");
    assert!(
        detail.contains("/bin/true could not start the plugin") && detail.contains("SB1504"),
        "{detail}"
    );
    assert_eq!(doc["approvable"], false);
}

/// The run's time limit counts from before the load, and is checked before the plugin's
/// `start`: with a limit of 1 ms (shorter than starting any process), no call is made.
#[test]
fn the_run_time_limit_counts_from_before_the_load() {
    let tmp = tempfile::tempdir().unwrap();
    let mut options = options(tmp.path());
    options.smoke.run_timeout_ms = 1;
    let setup = Setup::start(tmp, &options);
    setup.upload_notes();
    let doc = setup.submit("notes");
    let (result, detail) = tests_check(&doc);
    assert_eq!(result, "failed", "{detail}");
    assert!(
        detail.contains("the run's whole time limit (1 ms)") && detail.contains("no call was made"),
        "{detail}"
    );
}
