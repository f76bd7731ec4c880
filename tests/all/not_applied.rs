//! Settings a load does not apply in the mode it runs in (`[limits]` memory, CPU and call
//! time, `sandbox`: enforced only in isolated mode) are reported as warnings by preflight and by
//! every in-process load, never silently ignored; the KV quota, `kind` (it selects isolation
//! profiles) and the policy's `allowed_registries`, which are applied, are not.

use std::path::Path;

use switchboard_host::{
    preflight, preflight_with, AuditFilter, AuditKind, Diagnostic, Host, Manifest, Policy,
    PreflightOptions, Severity,
};
use switchboard_sdk::manifest::Format;
use switchboard_tests::packages::{example_package, keys, public_key, sign};
use switchboard_tests::{host_with, library};

fn findings(diagnostics: &[&Diagnostic]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = diagnostics
        .iter()
        .filter(|d| d.code.starts_with("SB112"))
        .map(|d| (d.code.clone(), d.field.clone()))
        .collect();
    v.sort();
    v
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = expected
        .iter()
        .map(|(c, f)| ((*c).to_owned(), (*f).to_owned()))
        .collect();
    v.sort();
    v
}

fn hello_manifest() -> Manifest {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello/plugin.toml");
    Manifest::parse(&std::fs::read_to_string(path).unwrap(), Format::Toml).unwrap()
}

const WEATHER: &str = r#"name = "weather"
version = "1.0.0"
kind = "tool"

[limits]
memory_mb = 64
cpu_ms = 1000
call_timeout_ms = 500
kv_bytes = 4096
kv_keys = 10
"#;

#[test]
fn preflight_warns_about_each_limit_an_in_process_load_does_not_apply() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugin.toml");
    std::fs::write(&path, WEATHER).unwrap();
    let report = preflight(&path, None);
    assert!(report.ok(), "warnings do not fail preflight");
    let diagnostics = report.diagnostics();
    // `kind` is applied (it selects isolation profiles): no SB1122 any more.
    assert_eq!(
        findings(&diagnostics),
        pairs(&[
            ("SB1120", "limits.memory_mb"),
            ("SB1120", "limits.cpu_ms"),
            ("SB1120", "limits.call_timeout_ms"),
        ]),
        "{diagnostics:#?}"
    );
    for d in diagnostics.iter().filter(|d| d.code.starts_with("SB112")) {
        assert_eq!(d.severity, Severity::Warning);
        assert!(
            d.message.starts_with("not applied in-process: "),
            "{}",
            d.message
        );
        // Without a policy, preflight cannot know the mode, and says so.
        assert!(
            d.message.contains("unless the host's policy isolates it"),
            "{}",
            d.message
        );
        assert!(!d.next_step.is_empty());
    }
}

#[test]
fn a_strict_sandbox_always_runs_isolated_so_its_limits_draw_no_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugin.toml");
    std::fs::write(
        &path,
        WEATHER.replace("kind = \"tool\"", "sandbox = \"strict\""),
    )
    .unwrap();
    let report = preflight(&path, None);
    assert!(report.ok());
    assert_eq!(findings(&report.diagnostics()), pairs(&[]));
}

#[test]
fn preflight_with_a_policy_warns_only_when_the_policy_leaves_the_plugin_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugin.toml");
    std::fs::write(&path, WEATHER).unwrap();
    // The policy isolates kind `tool`: the limits apply, nothing to warn about.
    let isolating = Policy::from_toml("[isolation]\nisolate_kinds = [\"tool\"]").unwrap();
    let mut options = PreflightOptions::new();
    options.policy(&isolating);
    let report = preflight_with(&path, &options);
    assert_eq!(findings(&report.diagnostics()), pairs(&[]));
    // Another kind is isolated: this one runs in-process, and the warning says why.
    let other = Policy::from_toml("[isolation]\nisolate_kinds = [\"agent\"]").unwrap();
    let mut options = PreflightOptions::new();
    options.policy(&other);
    let report = preflight_with(&path, &options);
    let diagnostics = report.diagnostics();
    assert_eq!(findings(&diagnostics).len(), 3, "{diagnostics:#?}");
    assert!(diagnostics.iter().filter(|d| d.code == "SB1120").all(|d| d
        .message
        .contains("it runs in-process: no rule isolates it")));
    // A crate preflights as unsigned: a policy isolating below `verified` isolates it.
    let below = Policy::from_toml("[isolation]\nisolate_below = \"verified\"").unwrap();
    let mut options = PreflightOptions::new();
    options.policy(&below);
    assert_eq!(
        findings(&preflight_with(&path, &options).diagnostics()),
        pairs(&[])
    );
}

#[test]
fn defaults_and_the_kv_quota_draw_no_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugin.toml");
    std::fs::write(
        &path,
        "name = \"weather\"\nversion = \"1.0.0\"\n\n[limits]\nkv_bytes = 4096\nkv_keys = 10\n",
    )
    .unwrap();
    let report = preflight(&path, None);
    assert!(report.ok());
    assert_eq!(findings(&report.diagnostics()), pairs(&[]));
}

#[test]
fn a_load_reports_what_it_does_not_apply_on_the_handle_and_in_the_audit_log() {
    let (host, _d) = host_with(|b, _| {
        let mut p = Policy::new();
        p.allow_registry("https://plugins.example.com");
        b.policy(p);
    });
    let hello = host
        .load_unsigned_with_manifest(library("hello"), &hello_manifest())
        .unwrap();
    let warnings = hello.warnings();
    let warnings: Vec<&Diagnostic> = warnings.iter().collect();
    assert_eq!(
        findings(&warnings),
        pairs(&[
            ("SB1120", "limits.memory_mb"),
            ("SB1120", "limits.call_timeout_ms"),
        ]),
        "{warnings:#?}"
    );
    let rows = host
        .audit()
        .query(&AuditFilter::new().plugin("hello").kind(AuditKind::Load))
        .unwrap();
    let detail = &rows.last().unwrap().detail;
    assert!(
        detail.contains("SB1120") && detail.contains("limits.memory_mb"),
        "{detail}"
    );
    // The registry list is applied (by the registry client): no "not applied" warning.
    assert!(!detail.contains("SB1123"), "{detail}");
    // The handle a host looks up later carries them too.
    assert_eq!(host.plugin("hello").unwrap().warnings().len(), 2);
}

#[test]
fn a_development_load_without_plugin_toml_or_registry_rules_has_no_warnings() {
    let (host, _d) = host_with(|_, _| {});
    // `probe` is built without a plugin.toml: nothing asks for a setting this host ignores.
    let probe = host
        .load_unsigned(switchboard_tests::test_plugin("probe"))
        .unwrap();
    assert!(probe.warnings().is_empty(), "{:#?}", probe.warnings());
}

#[test]
fn a_verified_package_shows_its_warnings_before_it_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let package = example_package("hello", dir.path());
    let keys = keys(dir.path());
    sign(&package, &keys);
    let mut b = Host::builder();
    b.data_dir(dir.path().join("data"))
        .host_api("switchboard-demo", "0.1.0")
        .trust(public_key(&keys));
    let host = b.build().unwrap();
    let verified = host.verify_package(&package).unwrap();
    let before: Vec<&Diagnostic> = verified.warnings().iter().collect();
    assert_eq!(
        findings(&before),
        pairs(&[
            ("SB1120", "limits.memory_mb"),
            ("SB1120", "limits.call_timeout_ms"),
        ]),
        "{before:#?}"
    );
    let hello = host.load_verified(verified).unwrap();
    assert_eq!(hello.warnings().len(), 2);
}
