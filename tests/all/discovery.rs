//! Discovery and watching (SPEC S8.2) with real libraries and packages: each kind of file
//! a plugin directory may hold is loaded or skipped with its code, and a watched directory's
//! changes become loads, hot reloads and removals.

use std::path::Path;
use std::time::{Duration, Instant};

use switchboard_host::{
    discovery_codes as codes, AuditFilter, AuditKind, DiscoverOptions, Host, HostBuilder, Policy,
    Skipped, State,
};
use switchboard_tests::{edited_manifest, host_with, library, packages, test_plugin};

/// A host whose plugin directory is `ROOT/plugins` (created), phoenix granted what it asks.
fn host(setup: impl FnOnce(&mut HostBuilder, &Path)) -> (Host, tempfile::TempDir) {
    host_with(|b, root| {
        let plugins = root.join("plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        let mut policy = Policy::new();
        policy.allow("kv".parse().unwrap());
        policy.allow("events.subscribe:test.phoenix.**".parse().unwrap());
        b.policy(policy).plugin_dir(&plugins);
        setup(b, root);
    })
}

fn plugins(root: &tempfile::TempDir) -> std::path::PathBuf {
    root.path().join("plugins").canonicalize().unwrap()
}

/// The skip for the file called `name`, which must be there exactly once.
fn skip<'a>(skipped: &'a [Skipped], name: &str) -> &'a Skipped {
    let found: Vec<_> = skipped
        .iter()
        .filter(|s| s.path.file_name().is_some_and(|n| n == name))
        .collect();
    assert_eq!(found.len(), 1, "one skip for {name} in {skipped:#?}");
    found[0]
}

/// phoenix as `version`, written to `path` the way a build tool replaces a file: a temporary
/// name (which discovery ignores), then a rename.
fn write_phoenix(path: &Path, version: &str) {
    let bytes = std::fs::read(test_plugin("phoenix")).unwrap();
    let bytes = edited_manifest(&bytes, "phoenix", |m| m["version"] = version.into());
    let tmp = path.with_file_name(".libphoenix.so.tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn discovery_loads_what_is_valid_and_skips_each_kind_of_invalid_file_with_its_code() {
    let (host, root) = host(|_, _| {});
    let dir = plugins(&root);
    std::fs::copy(library("hello"), dir.join("libhello.so")).unwrap();
    // The same plugin again under another file name.
    std::fs::copy(library("hello"), dir.join("libhello2.so")).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a plugin").unwrap();
    std::fs::create_dir(dir.join("old.so")).unwrap();
    std::fs::write(dir.join("libfake.so"), "#!/bin/sh\necho not a library\n").unwrap();
    // A package whose signature is damaged.
    let pkg = packages::example_package("counter", &dir);
    std::fs::write(
        format!("{}.minisig", pkg.display()),
        "untrusted comment: x\nnot a signature\n",
    )
    .unwrap();
    // A plugin whose start hook refuses (phoenix's one-shot flag).
    write_phoenix(&dir.join("libphoenix.so"), "0.1.0");
    host.kv("phoenix").put("fail/start", b"1").unwrap();
    // A file gone by the time it is read: a link to nothing.
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("nowhere.so"), dir.join("libgone.so")).unwrap();
    // Ignored without a word: hidden, editors' and partial copies.
    for ignored in [
        ".libhidden.so",
        "libhello.so~",
        ".libhello.so.swp",
        "libwc.so.part",
    ] {
        std::fs::copy(library("wordcount"), dir.join(ignored)).unwrap();
    }

    let report = host.discover();

    let loaded: Vec<_> = report.loaded.iter().map(|d| d.plugin.as_str()).collect();
    assert_eq!(loaded, ["hello"], "{report:#?}");
    assert_eq!(report.loaded[0].path, dir.join("libhello.so"));
    assert!(report.loaded[0].started);
    assert_eq!(host.plugin("hello").unwrap().state(), State::Active);
    let greet = host.command::<String, String>("hello", "greet").unwrap();
    assert_eq!(greet.call(&"Ada".to_string()).unwrap(), "Hello, Ada!");

    let s = &report.skipped;
    assert_eq!(skip(s, "libhello2.so").code, codes::NAME_TAKEN);
    assert_eq!(skip(s, "libhello2.so").cause.unwrap().to_string(), "SB0206");
    assert_eq!(skip(s, "notes.txt").code, codes::NOT_A_PLUGIN_FILE);
    assert_eq!(skip(s, "old.so").code, codes::NOT_A_PLUGIN_FILE);
    assert_eq!(skip(s, "libfake.so").code, codes::NOT_A_SWITCHBOARD_PLUGIN);
    assert_eq!(skip(s, "libfake.so").cause.unwrap().to_string(), "SB0201");
    let bad_sig = skip(s, "counter-0.1.0.sbpkg");
    assert_eq!(bad_sig.code, codes::REFUSED, "{bad_sig:?}");
    assert!(bad_sig.cause.is_some());
    let phoenix = skip(s, "libphoenix.so");
    assert_eq!(phoenix.code, codes::START_FAILED, "{phoenix:?}");
    assert!(host.plugin("phoenix").is_err(), "removed again");
    #[cfg(unix)]
    assert_eq!(skip(s, "libgone.so").code, codes::VANISHED);
    // Nothing else: the ignored files are in no list.
    let expected = if cfg!(unix) { 7 } else { 6 };
    assert_eq!(s.len(), expected, "{s:#?}");
    // Sorted by path.
    let paths: Vec<_> = s.iter().map(|s| s.path.clone()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);

    // Every skip is audited with its code.
    let audited = host
        .audit()
        .query(&AuditFilter::new().kind(AuditKind::Load))
        .unwrap();
    for skip in s {
        assert!(
            audited
                .iter()
                .map(detail)
                .zip(&audited)
                .any(|(d, r)| d["via"] == "discovery"
                    && d["code"] == skip.code.to_string()
                    && r.subject == skip.path.display().to_string()),
            "{skip:?} audited"
        );
    }

    // A second scan leaves what it loaded alone; phoenix (its flag taken) now starts.
    let again = host.discover();
    assert_eq!(again.known, [dir.join("libhello.so")]);
    let loaded: Vec<_> = again.loaded.iter().map(|d| d.plugin.as_str()).collect();
    assert_eq!(loaded, ["phoenix"], "{again:#?}");
}

#[test]
fn development_libraries_need_the_unsigned_opt_in_and_a_missing_dir_is_reported() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(library("hello"), dir.join("libhello.so")).unwrap();
    let mut b = Host::builder();
    b.data_dir(root.path().join("data"))
        .host_api("switchboard-demo", "0.1.0")
        .plugin_dir(&dir)
        .plugin_dir(root.path().join("missing"));
    let host = b.build().unwrap();
    assert_eq!(host.plugin_dirs().len(), 2);

    let report = host.discover_with(&DiscoverOptions::new().start(false));
    assert!(report.loaded.is_empty(), "{report:#?}");
    assert_eq!(
        skip(&report.skipped, "libhello.so").code,
        codes::UNSIGNED_NOT_ALLOWED
    );
    assert_eq!(skip(&report.skipped, "missing").code, codes::UNREADABLE_DIR);
    assert!(host.plugin_names().is_empty());
}

#[test]
fn discovery_without_start_leaves_plugins_loaded() {
    let (host, root) = host(|_, _| {});
    std::fs::copy(library("hello"), plugins(&root).join("libhello.so")).unwrap();
    let report = host.discover_with(&DiscoverOptions::new().start(false));
    assert!(!report.loaded[0].started);
    assert_eq!(host.plugin("hello").unwrap().state(), State::Loaded);
}

fn detail(r: &switchboard_host::AuditRecord) -> serde_json::Value {
    serde_json::from_str(&r.detail).unwrap()
}

/// Waits until `done` holds, for at most a minute (an outcome, not a fixed time).
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_watched_directory_loads_new_files_reloads_changed_ones_and_removes_deleted_ones() {
    let (host, root) = host(|_, _| {});
    let dir = plugins(&root);
    assert!(host.discover().loaded.is_empty());
    let watcher = host.watch_with(Duration::from_millis(100)).unwrap();
    assert_eq!(watcher.dirs(), std::slice::from_ref(&dir));

    let lib = dir.join("libphoenix.so");
    write_phoenix(&lib, "0.1.0");
    wait_for("phoenix 0.1.0 to serve", || {
        host.plugin("phoenix")
            .is_ok_and(|p| p.state() == State::Active && p.version() == "0.1.0")
    });
    let phoenix = host.plugin("phoenix").unwrap();
    let bump = phoenix.command::<(), u64>("bump").unwrap();
    for _ in 0..3 {
        bump.call(&()).unwrap();
    }

    write_phoenix(&lib, "0.2.0");
    wait_for("phoenix 0.2.0 to serve", || {
        phoenix.version() == "0.2.0" && phoenix.state() == State::Active
    });
    // The handle kept working, and the state came along through snapshot/restore.
    let count = phoenix.command::<(), u64>("count").unwrap();
    assert_eq!(count.call(&()).unwrap(), 3);
    assert_eq!(phoenix.reloads().done, 1);

    // A broken build over it: the reload fails (audited as SB0389 with the reload's code),
    // the old version serves on, and the watcher goes on.
    let tmp = dir.join("libphoenix.so.part");
    std::fs::write(&tmp, "not a library").unwrap();
    std::fs::rename(&tmp, &lib).unwrap();
    wait_for("the failed reload to be audited", || {
        host.audit()
            .query(&AuditFilter::new().kind(AuditKind::Load))
            .unwrap()
            .iter()
            .any(|r| detail(r)["code"] == codes::ACTION_FAILED.to_string())
    });
    assert_eq!(phoenix.version(), "0.2.0");
    assert_eq!(phoenix.state(), State::Active);
    assert_eq!(count.call(&()).unwrap(), 3);

    // A file that is no plugin is skipped (and audited) while the watcher goes on.
    std::fs::write(dir.join("notes.txt"), "hi").unwrap();
    wait_for("the skip of notes.txt to be audited", || {
        host.audit()
            .query(&AuditFilter::new().kind(AuditKind::Load))
            .unwrap()
            .iter()
            .any(|r| detail(r)["code"] == codes::NOT_A_PLUGIN_FILE.to_string())
    });

    std::fs::remove_file(&lib).unwrap();
    wait_for("phoenix to be removed", || host.plugin("phoenix").is_err());
    assert_eq!(phoenix.state(), State::Removed);
    drop(watcher);
}

#[test]
fn dropping_the_host_stops_its_watcher() {
    let (host, _root) = host(|_, _| {});
    let watcher = host.watch().unwrap();
    assert!(watcher.is_running());
    drop(host);
    wait_for("the watcher to stop", || !watcher.is_running());
}
