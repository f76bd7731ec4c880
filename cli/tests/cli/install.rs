//! `switchboard install`, `update`, `rollback`, `remove`, `enable`, `disable`, `list` and
//! `generations`, run as the binary over real signed packages of `hello`.

use std::path::PathBuf;
use std::process::{Output, Stdio};

use serde_json::Value;
use switchboard_cli::examples::Profile;
use switchboard_cli::release::{example_release, ReleaseSpec};

use super::switchboard;

/// A data directory trusting a fresh key, and a package directory holding hello 0.1.0 and
/// hello 0.2.0 (which asks for one more capability), both signed with it.
pub(crate) struct Fixture {
    _dir: tempfile::TempDir,
    pub(crate) data: PathBuf,
    pub(crate) packages: PathBuf,
}

const NEW_CAPABILITY: &str = "net.connect:api.example.com:443";

pub(crate) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    switchboard_cli::authoring::keygen(&keys, true).unwrap();
    let secret = keys.join(switchboard_cli::authoring::SECRET_KEY_FILE);
    let packages = dir.path().join("packages");
    for (version, extra, log) in [
        (
            "0.1.0",
            &[][..],
            "# Changelog\n\n## 0.1.0\n- first release\n",
        ),
        (
            "0.2.0",
            &[NEW_CAPABILITY][..],
            "# Changelog\n\n## 0.2.0\n- greets over the network\n\n## 0.1.0\n- first release\n",
        ),
    ] {
        let spec = ReleaseSpec {
            name: "hello",
            version,
            extra_capabilities: extra,
            changelog: log,
            dependencies: &[],
            library: None,
        };
        example_release(Profile::Debug, &spec, &packages, &secret).unwrap();
    }
    let data = dir.path().join("data");
    let out = switchboard()
        .args(["trust", "add", "--data-dir"])
        .arg(&data)
        .arg(keys.join(switchboard_cli::authoring::PUBLIC_KEY_FILE))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Fixture {
        _dir: dir,
        data,
        packages,
    }
}

/// Runs the binary with stdin closed (not a terminal), on the fixture's data directory.
pub(crate) fn run(f: &Fixture, args: &[&str]) -> Output {
    switchboard()
        .args(args)
        .arg("--data-dir")
        .arg(&f.data)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub(crate) fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON document ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

pub(crate) fn ok(out: &Output) -> Value {
    let doc = json(out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["ok"], true, "{doc:#}");
    doc
}

pub(crate) fn refused(out: &Output, code: &str) -> Value {
    let doc = json(out);
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    assert_eq!(doc["error"]["code"], code, "{doc:#}");
    doc
}

/// `list --json`'s plugins as (name, version, state).
pub(crate) fn listed(f: &Fixture) -> Vec<(String, String, String)> {
    let doc = ok(&run(f, &["list", "--json"]));
    doc["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
                p["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub(crate) fn hello(version: &str, state: &str) -> Vec<(String, String, String)> {
    vec![("hello".into(), version.into(), state.into())]
}

pub(crate) fn from(f: &Fixture) -> [&str; 4] {
    [
        "--from",
        f.packages.to_str().unwrap(),
        "--host-api",
        "switchboard-demo@0.1.0",
    ]
}

#[test]
fn install_update_rollback_disable_enable_remove_through_the_binary() {
    let f = fixture();
    assert_eq!(listed(&f), []);

    // Without a terminal or --yes, capabilities nobody approved refuse the install.
    let out = run(
        &f,
        &[&["install", "hello@=0.1.0", "--json"][..], &from(&f)].concat(),
    );
    let doc = refused(&out, "SB0019");
    assert!(
        doc["error"]["message"].as_str().unwrap().contains("kv"),
        "{doc:#}"
    );
    assert_eq!(listed(&f), []);

    let doc = ok(&run(
        &f,
        &[
            &["install", "hello@=0.1.0", "--json", "--yes"][..],
            &from(&f),
        ]
        .concat(),
    ));
    assert_eq!(doc["kind"], "install");
    let change = &doc["changes"][0];
    assert_eq!(change["to"], "0.1.0");
    assert!(change["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["capability"] == "kv" && c["words"] == "keep data in its own key-value store"));
    let first = doc["generation"].clone();
    assert_eq!(listed(&f), hello("0.1.0", "enabled"));
    let text = String::from_utf8(run(&f, &["list"]).stdout).unwrap();
    assert!(text.starts_with("NAME"), "{text}");
    assert!(
        text.contains("hello") && text.contains("verified"),
        "{text}"
    );

    // The update asks again only for what 0.2.0 adds, and shows its changelog.
    let out = run(
        &f,
        &[&["update", "hello", "--json"][..], &from(&f)].concat(),
    );
    let doc = refused(&out, "SB0019");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(NEW_CAPABILITY) && !message.contains("kv"),
        "{message}"
    );
    assert_eq!(listed(&f), hello("0.1.0", "enabled"));
    let out = run(&f, &[&["update", "hello"][..], &from(&f)].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("hello 0.1.0 → 0.2.0")
            && stderr.contains("greets over the network")
            && stderr.contains("connect over the network to api.example.com:443"),
        "{stderr}"
    );
    let doc = ok(&run(
        &f,
        &[&["update", "hello", "--json", "--yes"][..], &from(&f)].concat(),
    ));
    assert_eq!(doc["changes"][0]["new_capabilities"][0], NEW_CAPABILITY);
    assert!(doc["changes"][0]["changelog"]
        .as_str()
        .unwrap()
        .contains("greets over the network"));
    assert_eq!(listed(&f), hello("0.2.0", "enabled"));

    // Rollback asks first; --yes answers.
    refused(&run(&f, &["rollback", "--json"]), "SB0018");
    assert_eq!(listed(&f), hello("0.2.0", "enabled"));
    let doc = ok(&run(&f, &["rollback", "--json", "--yes"]));
    assert_eq!(doc["generation"], first);
    assert_eq!(listed(&f), hello("0.1.0", "enabled"));

    ok(&run(&f, &["disable", "hello", "--json"]));
    assert_eq!(listed(&f), hello("0.1.0", "disabled"));
    ok(&run(&f, &["enable", "hello", "--json"]));
    assert_eq!(listed(&f), hello("0.1.0", "enabled"));

    // A downgrade by install is refused; a rollback is how to go back.
    let doc = ok(&run(&f, &["generations", "--json"]));
    let generations = doc["generations"].as_array().unwrap();
    assert!(generations.len() >= 4, "{doc:#}");
    assert_eq!(
        generations.iter().filter(|g| g["current"] == true).count(),
        1,
        "{doc:#}"
    );

    ok(&run(&f, &["remove", "hello", "--json"]));
    assert_eq!(listed(&f), []);
    refused(&run(&f, &["remove", "hello", "--json"]), "SB1403");
}

#[test]
fn a_policy_that_decides_every_capability_needs_no_question() {
    let f = fixture();
    let policy = f.data.join("policy.toml");
    std::fs::write(
        &policy,
        "allow = [\"kv\", \"fs.read\", \"fs.write\", \"env:HELLO_*\", \"events.publish\", \
         \"events.subscribe:plugin.**\", \"service.call:greetings.*\"]\n",
    )
    .unwrap();
    let doc = ok(&run(
        &f,
        &[&["install", "hello@=0.1.0", "--json"][..], &from(&f)].concat(),
    ));
    assert!(
        doc["changes"][0]["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["policy"] == "allowed by policy"),
        "{doc:#}"
    );
    // 0.2.0's new capability is not in the policy: that one needs a person.
    refused(
        &run(
            &f,
            &[&["update", "--all", "--json"][..], &from(&f)].concat(),
        ),
        "SB0019",
    );
}

#[test]
fn a_downgrade_is_refused_unless_asked_for() {
    let f = fixture();
    ok(&run(
        &f,
        &[&["install", "hello", "--json", "--yes"][..], &from(&f)].concat(),
    ));
    assert_eq!(listed(&f), hello("0.2.0", "enabled"));
    let older = f.packages.join("hello-0.1.0.sbpkg");
    let older = older.to_str().unwrap();
    refused(
        &run(
            &f,
            &[&["install", older, "--json", "--yes"][..], &from(&f)].concat(),
        ),
        "SB1405",
    );
    assert_eq!(listed(&f), hello("0.2.0", "enabled"));
    ok(&run(
        &f,
        &[
            &["install", older, "--json", "--yes", "--allow-downgrade"][..],
            &from(&f),
        ]
        .concat(),
    ));
    assert_eq!(listed(&f), hello("0.1.0", "enabled"));
}

#[test]
fn list_of_an_empty_data_directory_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = switchboard()
        .args(["list", "--json", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["plugins"], serde_json::json!([]));
    assert!(!data.exists());
}

#[test]
fn remove_lists_the_dependents_and_takes_them_only_when_asked() {
    let f = fixture();
    let dir = f.packages.parent().unwrap().to_path_buf();
    let secret = dir
        .join("keys")
        .join(switchboard_cli::authoring::SECRET_KEY_FILE);
    let spec = ReleaseSpec {
        name: "relay",
        version: "0.1.0",
        extra_capabilities: &[],
        changelog: "# Changelog\n\n## 0.1.0\n- relays, with hello\n",
        dependencies: &[("hello", "^0.1")],
        library: None,
    };
    example_release(Profile::Debug, &spec, &f.packages, &secret).unwrap();
    // relay brings hello (0.1.x, the newest its range allows) in the same generation.
    let doc = ok(&run(
        &f,
        &[&["install", "relay", "--json", "--yes"][..], &from(&f)].concat(),
    ));
    let mut names: Vec<&str> = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["hello", "relay"], "{doc:#}");
    let before = listed(&f);
    assert_eq!(before.len(), 2);

    // No terminal, no flag: refused, naming the dependent; nothing removed.
    let doc = refused(&run(&f, &["remove", "hello", "--json"]), "SB1404");
    assert!(
        doc["error"]["message"].as_str().unwrap().contains("relay"),
        "{doc:#}"
    );
    assert_eq!(listed(&f), before);
    // `disable` of a plugin another needs asks first too.
    refused(&run(&f, &["disable", "hello", "--json"]), "SB0018");
    assert_eq!(listed(&f), before);

    let doc = ok(&run(
        &f,
        &["remove", "hello", "--with-dependents", "--json"],
    ));
    assert_eq!(doc["changes"].as_array().unwrap().len(), 2, "{doc:#}");
    assert_eq!(listed(&f), []);
}

#[test]
fn locked_refuses_drift() {
    let f = fixture();
    ok(&run(
        &f,
        &[
            &["install", "hello@=0.1.0", "--json", "--yes"][..],
            &from(&f),
        ]
        .concat(),
    ));
    let doc = refused(
        &run(
            &f,
            &[
                &["update", "hello", "--locked", "--json", "--yes"][..],
                &from(&f),
            ]
            .concat(),
        ),
        "SB0510",
    );
    assert!(
        doc["error"]["message"].as_str().unwrap().contains("0.2.0"),
        "{doc:#}"
    );
    assert_eq!(listed(&f), hello("0.1.0", "enabled"));
}

#[test]
fn a_conflict_with_an_installed_plugins_range_prints_the_resolvers_report() {
    let f = fixture();
    // relay needs hello ^0.1: asking for hello 0.2.0 beside it has no solution, and the
    // resolver's report says why, naming both.
    let secret = f
        .packages
        .parent()
        .unwrap()
        .join("keys")
        .join(switchboard_cli::authoring::SECRET_KEY_FILE);
    let spec = ReleaseSpec {
        name: "relay",
        version: "0.1.0",
        extra_capabilities: &[],
        changelog: "",
        dependencies: &[("hello", "^0.1")],
        library: None,
    };
    example_release(Profile::Debug, &spec, &f.packages, &secret).unwrap();
    ok(&run(
        &f,
        &[&["install", "relay", "--json", "--yes"][..], &from(&f)].concat(),
    ));
    let before = listed(&f);
    let doc = refused(
        &run(
            &f,
            &[
                &["install", "hello@=0.2.0", "--json", "--yes"][..],
                &from(&f),
            ]
            .concat(),
        ),
        "SB0501",
    );
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("relay") && message.contains("hello"),
        "{message}"
    );
    assert_eq!(listed(&f), before);
}

#[test]
fn a_capability_the_policy_blocks_is_shown_blocked_and_not_granted_without_a_question() {
    let f = fixture();
    std::fs::write(
        f.data.join("policy.toml"),
        "allow = [\"kv\", \"fs.read\", \"env:HELLO_*\", \"events.publish\", \
         \"events.subscribe:plugin.**\", \"service.call:greetings.*\"]\n\
         block = [\"fs.write\"]\n",
    )
    .unwrap();
    let doc = ok(&run(
        &f,
        &[&["install", "hello@=0.1.0", "--json"][..], &from(&f)].concat(),
    ));
    let caps = doc["changes"][0]["capabilities"].as_array().unwrap();
    let write = caps.iter().find(|c| c["capability"] == "fs.write").unwrap();
    assert_eq!(
        write["policy"], "blocked by the policy rule `fs.write`",
        "{doc:#}"
    );
    let inspect = switchboard()
        .args(["inspect", "hello", "--json", "--data-dir"])
        .arg(&f.data)
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let granted: Vec<&str> = doc["plugin"]["granted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["capability"].as_str().unwrap())
        .collect();
    assert!(granted.contains(&"kv"), "{doc:#}");
    assert!(
        !granted.iter().any(|g| g.starts_with("fs.write")),
        "{doc:#}"
    );
}

#[test]
fn discover_reports_what_loads_from_a_plugin_directory_and_each_skip_with_its_code() {
    let f = fixture();
    std::fs::write(f.packages.join("notes.txt"), "not a plugin").unwrap();
    std::fs::write(f.packages.join("libfake.so"), "not a library").unwrap();
    let dir = f.packages.to_str().unwrap();
    let out = run(
        &f,
        &[
            "discover",
            dir,
            "--host-api",
            "switchboard-demo@0.1.0",
            "--json",
        ],
    );
    let doc = ok(&out);
    let loaded = doc["loaded"].as_array().unwrap();
    assert_eq!(loaded.len(), 1, "{doc:#}");
    assert_eq!(loaded[0]["plugin"], "hello");
    assert_eq!(loaded[0]["version"], "0.1.0");
    assert_eq!(loaded[0]["started"], true);
    let code_of = |file: &str| {
        doc["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["path"].as_str().unwrap().ends_with(file))
            .unwrap_or_else(|| panic!("no skip of {file}: {doc:#}"))["code"]
            .clone()
    };
    // The same plugin again, in another version.
    assert_eq!(code_of("hello-0.2.0.sbpkg"), "SB0384");
    assert_eq!(code_of("notes.txt"), "SB0380");
    // Without --dev a development library is not even opened.
    assert_eq!(code_of("libfake.so"), "SB0381");
    assert_eq!(doc["skipped"].as_array().unwrap().len(), 3, "{doc:#}");

    // The readable report says the same.
    let out = run(&f, &["discover", dir, "--dev"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("hello"), "{text}");
    assert!(text.contains("skipped [SB0382]"), "{text}");
    assert!(text.contains("skipped [SB0380]"), "{text}");
}

#[test]
fn health_starts_the_plugins_checks_them_once_and_reports_each_state() {
    let f = fixture();
    let dir = f.packages.to_str().unwrap();
    let out = run(
        &f,
        &[
            "health",
            dir,
            "--host-api",
            "switchboard-demo@0.1.0",
            "--json",
        ],
    );
    let doc = ok(&out);
    let plugins = doc["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 1, "{doc:#}");
    assert_eq!(plugins[0]["plugin"], "hello");
    assert_eq!(plugins[0]["state"], "healthy");
    assert_eq!(plugins[0]["reasons"], serde_json::json!([]));
    assert_eq!(doc["worst"], "healthy");
    // The other version in the directory is named, with its code.
    let not_started = doc["not_started"].as_array().unwrap();
    assert!(
        not_started
            .iter()
            .any(|n| n["reason"].as_str().unwrap().contains("SB0384")),
        "{doc:#}"
    );

    let out = run(&f, &["health", dir]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("hello") && text.contains("healthy"), "{text}");

    // `inspect` shows the last recorded change: none, as hello was healthy at its check.
    let out = run(&f, &["inspect", "hello", "--json"]);
    let doc = ok(&out);
    assert_eq!(doc["health"], serde_json::Value::Null, "{doc:#}");
}
