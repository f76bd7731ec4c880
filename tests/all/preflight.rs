//! Preflight: the examples pass; every broken manifest under `tests/manifests/` fails with the
//! code and field its first line names.

use std::path::{Path, PathBuf};

use switchboard_host::{preflight, preflight_with_library, HostProfile};
use switchboard_tests::{current_sdk_abi_field, library, patched_copy};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn demo_host() -> HostProfile {
    HostProfile::new("switchboard-demo", "0.1.0")
}

#[test]
fn every_example_plugin_passes_preflight_against_its_built_library() {
    for name in ["hello", "wordcount", "canary"] {
        let dir = workspace().join("examples").join(name);
        let report = preflight_with_library(&dir, Some(&library(name)), Some(&demo_host()));
        assert!(report.ok(), "{name}: {:#?}", report.diagnostics());
        assert!(
            report
                .checks
                .iter()
                .any(|c| c.name == "manifest matches library"
                    && c.status == switchboard_host::CheckStatus::Passed),
            "{name}: embedded manifest compared"
        );
    }
}

#[test]
fn every_broken_manifest_fails_with_its_expected_code_and_field() {
    let dir = workspace().join("tests").join("manifests");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap();
        let (code, field) = expect.split_once(' ').unwrap_or((expect, ""));
        let report = preflight(&path, Some(&demo_host()));
        assert!(!report.ok(), "{} should fail", path.display());
        let found = report
            .diagnostics()
            .iter()
            .any(|d| d.code == code && d.field == field.trim());
        assert!(
            found,
            "{}: expected {code} at `{field}`, got {:#?}",
            path.display(),
            report.diagnostics()
        );
        seen += 1;
    }
    assert!(seen >= 15, "only {seen} broken manifests");
}

#[test]
fn a_library_with_another_abi_fails_preflight_without_running_it() {
    let dir = tempfile::tempdir().unwrap();
    let lib = patched_copy(
        &library("canary"),
        dir.path(),
        &current_sdk_abi_field(),
        b"\"sdk_abi\":\"3.0\"",
    );
    let report = preflight(&lib, None);
    assert!(!report.ok());
    assert_eq!(report.diagnostics()[0].code, "SB0204");
}

#[test]
fn a_text_file_is_not_a_library() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.so");
    std::fs::write(&f, "text").unwrap();
    assert_eq!(preflight(&f, None).diagnostics()[0].code, "SB0201");
}

#[test]
fn the_host_runs_the_same_checks_against_its_own_api() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = switchboard_host::Host::builder();
    b.data_dir(dir.path()).host_api("tests", "1.0.0");
    let host = b.build().unwrap();
    let report = host.preflight(workspace().join("examples/hello/plugin.toml"));
    assert!(!report.ok(), "hello is written for switchboard-demo");
    assert_eq!(report.diagnostics()[0].code, "SB1101");
}

#[test]
fn json_report_has_the_documented_shape() {
    let report = preflight(&workspace().join("tests/manifests/bad_name.toml"), None);
    let json = report.to_json();
    assert_eq!(json["ok"], false);
    let d = &json["diagnostics"][0];
    for key in ["code", "severity", "field", "message", "next_step"] {
        assert!(d.get(key).is_some(), "missing {key}: {d}");
    }
    assert_eq!(d["severity"], "error");
}

#[test]
fn the_host_applies_its_own_policy_and_takes_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let (host, _d) = switchboard_tests::host_with(|b, _| {
        b.policy(switchboard_host::Policy::from_toml("block = [\"process.spawn\"]").unwrap());
    });
    let manifest = dir.path().join("plugin.toml");
    std::fs::write(
        &manifest,
        "name = \"weather\"\nversion = \"1.0.0\"\ncapabilities = [\"process.spawn\"]\n\n[requires]\nhost_api = { name = \"switchboard-demo\", version = \"^0.1\" }\ndependencies = { geo = \"^3\" }\n",
    )
    .unwrap();
    let index_dir = dir.path().join("index");
    std::fs::create_dir(&index_dir).unwrap();
    std::fs::write(
        index_dir.join("geo.toml"),
        "[[release]]\nversion = \"3.2.0\"\n",
    )
    .unwrap();
    let index = switchboard_host::DirectoryIndex::new(&index_dir);
    let mut options = switchboard_host::PreflightOptions::new();
    options.index(&index);
    let report = host.preflight_with(&manifest, &options);
    let codes: Vec<&str> = report
        .diagnostics()
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(codes, ["SB1106"], "{:#?}", report.diagnostics());
    let deps = report
        .checks
        .iter()
        .find(|c| c.name == "dependencies")
        .unwrap();
    assert_eq!(deps.status, switchboard_host::CheckStatus::Passed);
}

#[test]
fn a_directory_index_never_reads_outside_its_directory() {
    use switchboard_host::Index as _;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("index")).unwrap();
    std::fs::write(
        dir.path().join("secret.toml"),
        "[[release]]\nversion = \"1.0.0\"\n",
    )
    .unwrap();
    let index = switchboard_host::DirectoryIndex::new(dir.path().join("index"));
    assert!(index.releases("../secret").unwrap().is_none());
    std::fs::write(
        dir.path().join("index/geo.toml"),
        "[[release]]\nversoin = \"1.0.0\"\n",
    )
    .unwrap();
    let e = index.releases("geo").unwrap_err();
    assert!(e.reason().contains("versoin"), "{e}");
}

#[test]
fn a_crate_without_its_built_library_fails_instead_of_passing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        workspace().join("examples/hello/plugin.toml"),
        dir.path().join("plugin.toml"),
    )
    .unwrap();
    let empty_target = dir.path().join("target");
    let mut options = switchboard_host::PreflightOptions::new();
    options.target_dir(&empty_target);
    let report = switchboard_host::preflight_with(dir.path(), &options);
    assert!(!report.ok());
    assert_eq!(report.diagnostics()[0].code, "SB1105");
}

#[test]
#[cfg(target_os = "linux")]
fn a_library_without_a_section_is_named_as_probably_overwritten() {
    // A shared library that is not a plugin: what a feature-less build leaves behind.
    let libc = [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/libc.so.6",
    ]
    .iter()
    .map(Path::new)
    .find(|p| p.is_file())
    .expect("libc, a shared library that is no plugin");
    let written = switchboard_host::Manifest::parse(
        "name = \"hello\"\nversion = \"0.1.0\"\n",
        switchboard_sdk::manifest::Format::Toml,
    )
    .unwrap();
    let d = switchboard_host::package_manifest(&written, libc).unwrap_err();
    assert_eq!(d[0].code, "SB1027");
    assert!(d[0].message.contains("plugin` feature"), "{}", d[0].message);
}

#[test]
fn what_pack_writes_comes_from_the_library_and_contradictions_are_refused() {
    let text = std::fs::read_to_string(workspace().join("examples/hello/plugin.toml")).unwrap();
    let written =
        switchboard_host::Manifest::parse(&text, switchboard_sdk::manifest::Format::Toml).unwrap();
    assert!(written.provides.commands.is_empty() && written.capabilities.is_empty());
    let packed = switchboard_host::package_manifest(&written, &library("hello")).unwrap();
    assert_eq!(packed.provides.commands[0].name, "greet");
    assert!(packed.capabilities.iter().any(|c| c == "kv"));
    assert_eq!(
        packed.requires.sdk_abi.as_deref(),
        Some(switchboard_sdk::SDK_ABI_VERSION)
    );

    let mut wrong = written.clone();
    wrong.capabilities = vec!["kv".into()];
    wrong.provides.commands = packed.provides.commands.clone();
    wrong.provides.commands[1].request = "bytes".into();
    let d = switchboard_host::package_manifest(&wrong, &library("hello")).unwrap_err();
    let fields: Vec<&str> = d.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(fields, ["provides.commands[1]", "capabilities"], "{d:#?}");
    assert!(d.iter().all(|d| d.code == "SB1026"));
}
