//! Preflight: the examples pass; every broken manifest under `tests/manifests/` fails with the
//! code and field its first line names.

use std::path::{Path, PathBuf};

use switchboard_host::{preflight, preflight_with_library, HostProfile};
use switchboard_tests::{library, patched_copy};

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
        b"\"sdk_abi\":\"1.1\"",
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
