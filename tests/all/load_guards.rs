//! What a load refuses before any plugin code runs, beyond a damaged file: names that are not
//! identifiers, downgrades, and package files or manifests past their size caps.

use std::io::Write;
use std::path::{Path, PathBuf};

use switchboard_host::package::build;
use switchboard_host::{Error, Host, LoadOptions, PluginHandle};
use switchboard_tests::packages::{files, keys, manifest, sign, write};
use switchboard_tests::{arm_canary, canary_lock, dev_host, library, patched_copy};

fn refusal(r: Result<PluginHandle, Error>) -> Error {
    match r {
        Ok(h) => panic!("expected a refusal, loaded {}", h.name()),
        Err(e) => e,
    }
}

fn package_host(dir: &Path) -> Host {
    let mut b = Host::builder();
    b.data_dir(dir.join("data"))
        .host_api("switchboard-demo", "0.1.0");
    b.build().unwrap()
}

#[test]
fn a_development_library_whose_name_is_a_path_is_refused_before_its_code_runs() {
    let _g = canary_lock();
    let (host, dir) = dev_host();
    let marker = arm_canary(dir.path());
    let lib = patched_copy(
        &library("canary"),
        dir.path(),
        b"\"name\":\"canary\"",
        b"\"name\":\"../../\"",
    );
    let e = refusal(host.load_unsigned(&lib));
    assert_eq!(e.code().to_string(), "SB0215", "{e}");
    assert!(
        !marker.exists(),
        "no plugin code may run before the refusal"
    );
}

#[test]
fn a_name_with_a_cyrillic_look_alike_does_not_load_beside_the_ascii_one() {
    let (host, dir) = dev_host();
    host.load_unsigned(library("hello")).unwrap();
    // "hеllo" with U+0435 is one byte longer than "hello": the description gives it back.
    let lib = patched_copy(
        &library("hello"),
        dir.path(),
        "\"name\":\"hello\",\"version\":\"0.1.0\",\"description\":\"The S".as_bytes(),
        "\"name\":\"h\u{435}llo\",\"version\":\"0.1.0\",\"description\":\"The ".as_bytes(),
    );
    let e = refusal(host.load_unsigned(&lib));
    assert_eq!(e.code().to_string(), "SB0215", "{e}");
    assert_eq!(host.plugin_names(), ["hello"]);
}

#[test]
fn the_host_builds_no_configuration_path_from_a_name_that_is_not_one() {
    let (host, dir) = dev_host();
    // `<data>/config/../x.toml` is `<data>/x.toml`: outside the configuration directory.
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("x.toml"), "secret = \"outside\"\n").unwrap();
    match host.config("../x") {
        Ok(c) => panic!("a path is not a plugin name; read {:?}", c.value()),
        Err(e) => assert!(!e.to_string().contains("outside"), "{e}"),
    }
}

/// A signed canary package of `version` in `dir`: the library's embedded version patched to
/// match (same length), signed with the key in `keys`.
fn canary_release(dir: &Path, keys: &Path, version: &str) -> PathBuf {
    assert_eq!(version.len(), "0.1.0".len());
    let mut m = manifest("canary");
    m.version = version.into();
    let mut files = files("canary");
    for bytes in files.values_mut() {
        let from = b"\"name\":\"canary\",\"version\":\"0.1.0\"";
        let to = format!("\"name\":\"canary\",\"version\":\"{version}\"");
        if let Some(at) = bytes.windows(from.len()).position(|w| w == from) {
            bytes[at..at + from.len()].copy_from_slice(to.as_bytes());
        }
    }
    let built = build(&m, &files).unwrap();
    let sub = dir.join(version);
    std::fs::create_dir_all(&sub).unwrap();
    let path = write(&sub, &built.file_name, &built.bytes);
    sign(&path, keys);
    path
}

#[test]
fn an_older_signed_release_does_not_load_over_a_newer_recorded_one() {
    let _g = canary_lock();
    let dir = tempfile::tempdir().unwrap();
    let marker = arm_canary(dir.path());
    let keys = keys(dir.path());
    let newer = canary_release(dir.path(), &keys, "0.2.0");
    let older = canary_release(dir.path(), &keys, "0.1.0");
    let host = package_host(dir.path());
    host.load_package(&newer).unwrap();
    host.remove("canary").unwrap();
    std::fs::remove_file(&marker).unwrap();

    let e = refusal(host.load_package(&older));
    assert_eq!(e.code().to_string(), "SB0214", "{e}");
    let text = e.to_string();
    assert!(text.contains("0.1.0") && text.contains("0.2.0"), "{text}");
    assert!(
        !marker.exists(),
        "no plugin code may run before the refusal"
    );
    let audited = host
        .audit()
        .query(&switchboard_host::AuditFilter::default())
        .unwrap();
    assert!(
        audited
            .iter()
            .any(|r| r.plugin == "canary" && r.detail.contains("SB0214")),
        "the refused downgrade is audited"
    );

    // Asked for explicitly (a rollback), it loads, and the audit row says what it replaced.
    let mut options = LoadOptions::new();
    options.allow_downgrade(true);
    let h = host.load_package_with(&older, &options).unwrap();
    assert_eq!(h.version(), "0.1.0");
    let loads = host
        .audit()
        .query(&switchboard_host::AuditFilter::new().plugin("canary".to_string()))
        .unwrap();
    assert!(
        loads
            .iter()
            .any(|r| r.kind == "load" && r.detail.contains("\"downgrade_from\":\"0.2.0\"")),
        "the allowed downgrade is audited with the version it replaces"
    );
}

#[test]
fn verify_runs_the_library_checks_a_load_runs() {
    // The package says canary has a command the library does not: a load refuses it
    // (SB1104), so `switchboard verify` must not call it verified.
    let dir = tempfile::tempdir().unwrap();
    let mut m = manifest("canary");
    m.provides.commands[0].name = "chirp".into();
    let built = build(&m, &files("canary")).unwrap();
    let p = write(dir.path(), &built.file_name, &built.bytes);
    sign(&p, &keys(dir.path()));
    let store = switchboard_host::package::TrustStore::new();
    let report = switchboard_cli::authoring::verify(&p, &store, None).unwrap();
    assert!(!report.ok, "{report:?}");
    let code = report.error.as_ref().map(|e| e["code"].clone());
    assert_eq!(code, Some("SB1104".into()), "{report:?}");
    // And the host's own verify says the same as its load.
    let e = package_host(dir.path())
        .verify_package(&p)
        .expect_err("not loadable, so not verified");
    assert_eq!(e.code().to_string(), "SB1104");
}

#[test]
fn verify_checks_the_host_api_when_given_one() {
    let dir = tempfile::tempdir().unwrap();
    let built = build(&manifest("hello"), &files("hello")).unwrap();
    let p = write(dir.path(), &built.file_name, &built.bytes);
    sign(&p, &keys(dir.path()));
    let store = switchboard_host::package::TrustStore::new();
    let other = switchboard_host::HostProfile::new("another-app", "1.0.0");
    let report = switchboard_cli::authoring::verify(&p, &store, Some(&other)).unwrap();
    assert_eq!(
        report.error.as_ref().map(|e| e["code"].clone()),
        Some("SB1101".into()),
        "{report:?}"
    );
    let demo = switchboard_host::HostProfile::new("switchboard-demo", "0.1.0");
    let report = switchboard_cli::authoring::verify(&p, &store, Some(&demo)).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.host_api.as_deref(), Some("switchboard-demo@0.1.0"));
}

#[test]
fn a_package_file_past_the_cap_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canary-0.1.0.sbpkg");
    // Sparse: 2 GiB on paper, nothing on disk.
    std::fs::File::create(&path)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let host = package_host(dir.path());
    let started = std::time::Instant::now();
    let e = refusal(host.load_package(&path));
    assert_eq!(e.code().to_string(), "SB1226", "{e}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "refused from its size, not after reading it"
    );
}

#[test]
fn a_signed_package_with_trailing_data_is_refused() {
    let _g = canary_lock();
    let dir = tempfile::tempdir().unwrap();
    let marker = arm_canary(dir.path());
    let keys = keys(dir.path());
    let package = canary_release(dir.path(), &keys, "0.1.0");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&package)
        .unwrap();
    f.write_all(&vec![0u8; 1 << 20]).unwrap();
    drop(f);
    let e = refusal(package_host(dir.path()).load_package(&package));
    assert_eq!(e.code().to_string(), "SB1224", "{e}");
    assert!(!marker.exists());
}

#[test]
fn a_manifest_past_the_cap_is_refused_before_it_is_parsed() {
    // Unsigned, into a host that accepts unsigned packages: nothing but the cap stands
    // between the manifest and the parser. (`switchboard sign` refuses to sign it at all.)
    let _g = canary_lock();
    let dir = tempfile::tempdir().unwrap();
    let marker = arm_canary(dir.path());
    let mut m = manifest("canary");
    // 2 MiB of text in a field nothing bounds.
    m.description = "x".repeat(2 << 20);
    let built = build(&m, &files("canary")).unwrap();
    let path = write(dir.path(), &built.file_name, &built.bytes);
    let mut b = Host::builder();
    b.data_dir(dir.path().join("data"))
        .host_api("switchboard-demo", "0.1.0");
    b.dangerous().load_unsigned_libraries();
    let e = refusal(b.build().unwrap().load_package(&path));
    assert_eq!(e.code().to_string(), "SB1225", "{e}");
    assert!(!marker.exists());
}

#[test]
fn a_data_migration_backup_stays_in_the_backup_directory_whatever_the_name() {
    use switchboard_host::state::{DataMigration, MigrationOutput};
    let (host, dir) = dev_host();
    let step = DataMigration::new("0.1", "0.2", |_| Ok(MigrationOutput::default()));
    let report = host
        .migrate_plugin_data("../../escape", "0.1.0", "0.2.0", &[step])
        .unwrap();
    let backup = report.backup.expect("a backup is taken");
    assert_eq!(
        backup.parent(),
        Some(dir.path().join("backups").as_path()),
        "{}",
        backup.display()
    );
}

#[test]
fn a_development_library_past_the_cap_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("libhuge.so");
    std::fs::File::create(&lib)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let mut b = Host::builder();
    b.data_dir(dir.path().join("data"));
    b.dangerous().load_unsigned_libraries();
    let host = b.build().unwrap();
    let started = std::time::Instant::now();
    let e = refusal(host.load_unsigned(&lib));
    assert_eq!(e.code().to_string(), "SB0216", "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
