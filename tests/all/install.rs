//! Installs as generations (issue 15): real signed packages of the example plugins (and the
//! test-only `sickly`), installed, updated, removed, enabled, disabled and rolled back
//! through `Installer`, with the journal, recovery and garbage collection.

use std::path::{Path, PathBuf};

use crossbeam_channel::{unbounded, Receiver};
use switchboard_host::bus::{Envelope, Mode, SubscribeOptions};
use switchboard_host::install::{
    FileSource, GenerationId, InstallOptions, InstallRequest, InstallState, Installer,
    OperationStatus, Phase, RemoveOptions,
};
use switchboard_host::{Error, Host, Manifest};
use switchboard_sdk::manifest::Dependency as ManifestDependency;
use switchboard_tests::packages::keys;
use switchboard_tests::releases::{self, install_lock};

struct Env {
    dir: tempfile::TempDir,
    keys: PathBuf,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let keys = keys(dir.path());
        Env { dir, keys }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn host(&self) -> Host {
        releases::host(self.root(), &self.keys, |_| {})
    }

    fn example(&self, name: &str, version: &str) -> PathBuf {
        releases::example(
            name,
            version,
            &self.root().join("built"),
            &self.keys,
            |_| {},
        )
    }

    fn example_with(&self, name: &str, version: &str, edit: impl FnOnce(&mut Manifest)) -> PathBuf {
        releases::example(name, version, &self.root().join("built"), &self.keys, edit)
    }

    /// A directory source holding `packages`.
    fn source(&self, name: &str, packages: &[&Path]) -> FileSource {
        let dir = releases::directory(&self.root().join("sources").join(name), packages);
        FileSource::open(dir).unwrap()
    }
}

fn file(p: &Path) -> InstallRequest {
    InstallRequest::File(p.to_owned())
}

fn req(text: &str) -> InstallRequest {
    text.parse().unwrap()
}

fn needs(dep: &str, range: &str) -> impl FnOnce(&mut Manifest) {
    let (dep, range) = (dep.to_owned(), range.to_owned());
    move |m: &mut Manifest| {
        m.requires
            .dependencies
            .insert(dep, ManifestDependency::Range(range));
    }
}

fn events(host: &Host) -> Receiver<Envelope> {
    let (tx, rx) = unbounded();
    host.bus()
        .subscribe(
            "system.plugin.>",
            SubscribeOptions::new().mode(Mode::Inline),
            move |e| {
                let _ = tx.send(e.clone());
                Ok(())
            },
        )
        .unwrap();
    rx
}

fn topics(rx: &Receiver<Envelope>) -> Vec<String> {
    rx.try_iter().map(|e| e.topic().to_owned()).collect()
}

fn greet(host: &Host) -> String {
    host.command::<String, String>("hello", "greet")
        .unwrap()
        .call(&"Ada".to_string())
        .unwrap()
}

fn current(installer: &Installer) -> Option<GenerationId> {
    installer.current().unwrap().map(|g| g.id)
}

fn code(e: &Error) -> String {
    e.code().to_string()
}

#[test]
fn a_signed_package_file_installs_as_generation_one_runs_and_starts_again_on_the_next_host() {
    let _g = install_lock();
    let env = Env::new();
    let hello = env.example("hello", "0.1.0");
    let host = env.host();
    let rx = events(&host);
    let installer = host.installer();
    let report = installer
        .install(&[file(&hello)], &InstallOptions::new())
        .unwrap();
    assert_eq!(report.generation, Some(GenerationId(1)));
    assert_eq!(report.from_generation, None);
    // Activated in the running host, and healthy.
    assert_eq!(greet(&host), "Hello, Ada!");
    let list = installer.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "hello");
    assert_eq!(list[0].state, InstallState::Enabled);
    assert_eq!(
        list[0].trust.as_str(),
        "verified",
        "the host trusts the key"
    );
    assert!(list[0].source.starts_with("file:"), "{}", list[0].source);
    // The package is content-addressed in the data dir, with its signature.
    let stored = env.root().join("data/packages").join(&list[0].sha256);
    assert!(stored.is_file());
    assert!(env
        .root()
        .join("data/packages")
        .join(format!("{}.minisig", list[0].sha256))
        .is_file());
    // The lockfile of the generation is written.
    let lock = std::fs::read_to_string(env.root().join("data/switchboard.lock")).unwrap();
    assert!(lock.contains("name = \"hello\""), "{lock}");
    // Journaled phase by phase, audited, published.
    let op = installer.operation(&report.operation).unwrap().unwrap();
    assert_eq!(op.status, OperationStatus::Done);
    let phases: Vec<(Phase, String)> = op
        .steps
        .iter()
        .map(|s| (s.phase, s.event.clone()))
        .collect();
    for phase in Phase::ALL {
        assert!(
            phases.contains(&(phase, "begin".into())),
            "{phase}: {phases:?}"
        );
        assert!(
            phases.contains(&(phase, "end".into())),
            "{phase}: {phases:?}"
        );
    }
    assert_eq!(topics(&rx), ["system.plugin.installed"]);
    let audit = host
        .audit()
        .query(&switchboard_host::AuditFilter::new().plugin("hello".to_string()))
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.kind == "install" && r.detail.contains(report.operation.as_str())),
        "{audit:?}"
    );
    drop(installer);
    drop(host);

    // The next host starts the current generation; nothing else is needed.
    let host = env.host();
    assert!(host.plugin("hello").is_err());
    let started = host.start_installed().unwrap();
    assert_eq!(started.started, ["hello"]);
    assert!(started.failed.is_empty() && started.skipped.is_empty());
    assert_eq!(greet(&host), "Hello, Ada!");
}

#[test]
fn installing_by_name_brings_the_dependency_closure_in_one_generation_dependencies_first() {
    let _g = install_lock();
    let env = Env::new();
    let hello = env.example("hello", "0.1.0");
    let relay = env.example_with("relay", "0.1.0", needs("hello", "^0.1"));
    let host = env.host();
    let mut installer = host.installer();
    installer.source(env.source("local", &[&hello, &relay]));
    let report = installer
        .install(&[req("relay")], &InstallOptions::new())
        .unwrap();
    assert_eq!(report.generation, Some(GenerationId(1)));
    let g = installer.current().unwrap().unwrap();
    assert_eq!(g.graph().unwrap().load_order(), ["hello", "relay"]);
    let hello_row = g.plugin("hello").unwrap();
    assert!(!hello_row.requested, "hello came as a dependency");
    assert!(g.plugin("relay").unwrap().requested);
    assert!(host.plugin("hello").is_ok() && host.plugin("relay").is_ok());
    let lock = g.lock().unwrap();
    assert_eq!(lock.len(), 2);
    assert_eq!(lock.get("relay").unwrap().dependencies, ["hello"]);

    // A restart with hello disabled does not start relay, and says why.
    installer.disable("hello").unwrap();
    assert!(host.plugin("hello").is_err(), "disabled at once");
    drop(installer);
    drop(host);
    let host = env.host();
    let started = host.start_installed().unwrap();
    assert_eq!(started.disabled, ["hello"]);
    assert!(started.started.is_empty());
    assert_eq!(started.skipped.len(), 1);
    assert_eq!(started.skipped[0].0, "relay");
    assert!(
        started.skipped[0].1.contains("hello"),
        "{:?}",
        started.skipped
    );
}

#[test]
fn locked_refuses_drift_before_downloading_anything() {
    let _g = install_lock();
    let env = Env::new();
    let hello = env.example("hello", "0.1.0");
    let wordcount = env.example("wordcount", "0.1.0");
    let host = env.host();
    let mut installer = host.installer();
    installer.source(env.source("local", &[&hello, &wordcount]));
    installer
        .install(&[req("hello")], &InstallOptions::new())
        .unwrap();
    let digests_before = std::fs::read_dir(env.root().join("data/packages"))
        .unwrap()
        .count();

    let mut locked = InstallOptions::new();
    locked.locked(true);
    let e = installer.install(&[req("wordcount")], &locked).unwrap_err();
    assert_eq!(code(&e), "SB0510", "{e}");
    assert!(e.to_string().contains("wordcount"), "{e}");
    assert_eq!(current(&installer), Some(GenerationId(1)));
    assert_eq!(
        std::fs::read_dir(env.root().join("data/packages"))
            .unwrap()
            .count(),
        digests_before,
        "nothing was downloaded"
    );
    // Installing what the lockfile already says is no drift.
    let same = installer.install(&[req("hello")], &locked).unwrap();
    assert_eq!(same.generation, Some(GenerationId(1)));
}

#[test]
fn a_dependency_conflict_returns_the_resolvers_report_and_changes_nothing() {
    let _g = install_lock();
    let env = Env::new();
    let hello = env.example("hello", "0.1.0");
    let relay = env.example_with("relay", "0.1.0", needs("hello", "^0.2"));
    let host = env.host();
    let mut installer = host.installer();
    installer.source(env.source("local", &[&hello, &relay]));
    let e = installer
        .install(&[req("relay")], &InstallOptions::new())
        .unwrap_err();
    assert!(code(&e).starts_with("SB05"), "{e}");
    let text = e.to_string();
    assert!(text.contains("hello") && text.contains("relay"), "{text}");
    assert_eq!(current(&installer), None);
    assert!(installer.list().unwrap().is_empty());
}

#[test]
fn removal_with_dependents_is_refused_unless_they_go_too() {
    let _g = install_lock();
    let env = Env::new();
    let hello = env.example("hello", "0.1.0");
    let relay = env.example_with("relay", "0.1.0", needs("hello", "^0.1"));
    let host = env.host();
    let mut installer = host.installer();
    installer.source(env.source("local", &[&hello, &relay]));
    installer
        .install(&[req("relay")], &InstallOptions::new())
        .unwrap();

    let e = installer
        .remove("hello", &RemoveOptions::new())
        .unwrap_err();
    assert_eq!(code(&e), "SB1404", "{e}");
    assert!(e.to_string().contains("relay"), "{e}");
    assert_eq!(installer.list().unwrap().len(), 2);

    let rx = events(&host);
    assert_eq!(
        installer.state("hello").unwrap(),
        Some(InstallState::Enabled)
    );
    let mut with = RemoveOptions::new();
    with.with_dependents(true);
    let plan = installer.plan_remove("hello", &with).unwrap();
    assert_eq!(plan.dependents, ["relay"]);
    installer.apply(plan).unwrap();
    assert!(installer.list().unwrap().is_empty());
    assert!(host.plugin("hello").is_err() && host.plugin("relay").is_err());
    assert_eq!(
        installer.state("relay").unwrap(),
        Some(InstallState::Removed)
    );
    assert_eq!(installer.state("wordcount").unwrap(), None);
    let mut seen = topics(&rx);
    seen.sort();
    assert_eq!(seen, ["system.plugin.removed", "system.plugin.removed"]);
}

#[test]
fn an_older_version_than_the_installed_one_is_refused_unless_allowed() {
    let _g = install_lock();
    let env = Env::new();
    let old = env.example("hello", "0.1.0");
    let new = env.example("hello", "0.2.0");
    let host = env.host();
    let mut installer = host.installer();
    installer.source(env.source("local", &[&old, &new]));
    installer
        .install(&[req("hello")], &InstallOptions::new())
        .unwrap();
    assert_eq!(host.plugin("hello").unwrap().version(), "0.2.0");

    let e = installer
        .install(&[req("hello@=0.1.0")], &InstallOptions::new())
        .unwrap_err();
    assert_eq!(code(&e), "SB1405", "{e}");
    assert_eq!(host.plugin("hello").unwrap().version(), "0.2.0");
    // A package file of the older release is refused the same way.
    let e = installer
        .install(&[file(&old)], &InstallOptions::new())
        .unwrap_err();
    assert_eq!(code(&e), "SB1405", "{e}");

    let mut allow = InstallOptions::new();
    allow.allow_downgrade(true);
    installer.install(&[req("hello@=0.1.0")], &allow).unwrap();
    assert_eq!(host.plugin("hello").unwrap().version(), "0.1.0");
}

/// The counter example migrates its 0.0 data (`v0/NAME`, decimal text) to 0.1 (`c/NAME`).
fn counter_env() -> (Env, PathBuf, PathBuf) {
    let env = Env::new();
    let old = env.example("counter", "0.0.9");
    let new = env.example("counter", "0.1.0");
    (env, old, new)
}

fn counter_value(host: &Host, name: &str) -> u64 {
    host.command::<String, u64>("counter", "value")
        .unwrap()
        .call(&name.to_string())
        .unwrap()
}

#[test]
fn an_update_whose_data_migration_fails_is_rolled_back_with_the_old_code_and_data() {
    let _g = install_lock();
    let (env, old, new) = counter_env();
    let host = env.host();
    let mut installer = host.installer();
    installer.source(env.source("local", &[&old, &new]));
    installer
        .install(&[req("counter@=0.0.9")], &InstallOptions::new())
        .unwrap();
    host.kv("counter").put("v0/visits", b"41").unwrap();
    host.kv("counter").put("v0/broken", b"many").unwrap();
    let rx = events(&host);

    let e = installer
        .update(&["counter".to_string()], &InstallOptions::new())
        .unwrap_err();
    assert_eq!(code(&e), "SB1407", "{e}");
    // The migration's error is quoted once, code and message, and its next step is the one
    // shown.
    let text = e.to_string();
    assert_eq!(text.matches("SB0730").count(), 1, "{text}");
    assert!(text.contains("fix the plugin's migration"), "{text}");
    // The previous generation is current and runs, with its data.
    assert_eq!(current(&installer), Some(GenerationId(1)));
    assert_eq!(host.plugin("counter").unwrap().version(), "0.0.9");
    assert_eq!(
        host.kv("counter").get("v0/visits").unwrap().as_deref(),
        Some(&b"41"[..])
    );
    assert_eq!(host.kv("counter").get("c/visits").unwrap(), None);
    assert!(topics(&rx).contains(&"system.plugin.rolled_back".to_string()));
    let ops = installer.operations(1).unwrap();
    assert_eq!(ops[0].status, OperationStatus::RolledBack);
}

#[test]
fn rollback_restores_the_previous_versions_code_and_data() {
    let _g = install_lock();
    let (env, old, new) = counter_env();
    let host = env.host();
    let mut installer = host.installer();
    installer.source(env.source("local", &[&old, &new]));
    installer
        .install(&[req("counter@=0.0.9")], &InstallOptions::new())
        .unwrap();
    host.kv("counter").put("v0/visits", b"41").unwrap();
    let update = installer
        .update(&["counter".to_string()], &InstallOptions::new())
        .unwrap();
    assert_eq!(update.generation, Some(GenerationId(2)));
    assert_eq!(host.plugin("counter").unwrap().version(), "0.1.0");
    assert_eq!(counter_value(&host, "visits"), 41, "migrated");
    assert_eq!(host.kv("counter").get("v0/visits").unwrap(), None);

    let back = installer.rollback(None).unwrap();
    assert_eq!(back.generation, Some(GenerationId(1)));
    assert_eq!(current(&installer), Some(GenerationId(1)));
    assert_eq!(host.plugin("counter").unwrap().version(), "0.0.9");
    assert_eq!(
        host.kv("counter").get("v0/visits").unwrap().as_deref(),
        Some(&b"41"[..]),
        "the data as it was when generation 1 was left"
    );
    assert_eq!(host.kv("counter").get("c/visits").unwrap(), None);
    // And forward again by number.
    installer.rollback(Some(GenerationId(2))).unwrap();
    assert_eq!(host.plugin("counter").unwrap().version(), "0.1.0");
}

/// A rollback loads the package the install verified without verifying it again when the
/// store file is still the one verified (same inode, size, modification and status-change
/// times). A file changed in place after install — even to the same length with its
/// modification time put back — is noticed, hashed again and refused (`SB1402`), and the
/// running version stays.
#[test]
fn a_package_changed_in_the_store_after_install_is_refused_at_rollback() {
    use std::io::{Seek, Write};
    let _g = install_lock();
    let (env, old, new) = counter_env();
    let host = env.host();
    let mut installer = host.installer();
    installer.source(env.source("local", &[&old, &new]));
    installer
        .install(&[req("counter@=0.0.9")], &InstallOptions::new())
        .unwrap();
    let first = installer.current().unwrap().unwrap();
    let sha = first.plugin("counter").unwrap().sha256.clone();
    installer
        .update(&["counter".to_string()], &InstallOptions::new())
        .unwrap();
    // A clean round trip first: back and forward again from the verified copies.
    installer.rollback(Some(GenerationId(1))).unwrap();
    assert_eq!(host.plugin("counter").unwrap().version(), "0.0.9");
    installer.rollback(Some(GenerationId(2))).unwrap();
    assert_eq!(host.plugin("counter").unwrap().version(), "0.1.0");

    // Same length, one byte flipped in place, the modification time put back.
    let stored = host.data_dir().join("packages").join(&sha);
    let mtime = std::fs::metadata(&stored).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&stored).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&stored)
        .unwrap();
    f.rewind().unwrap();
    f.write_all(&bytes).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);

    let e = installer.rollback(Some(GenerationId(1))).unwrap_err();
    assert!(e.to_string().contains("SB1402"), "{e}");
    assert_eq!(current(&installer), Some(GenerationId(2)));
    assert_eq!(host.plugin("counter").unwrap().version(), "0.1.0");
}

#[test]
fn an_update_whose_health_check_fails_is_rolled_back_automatically() {
    let _g = install_lock();
    let env = Env::new();
    let built = env.root().join("built");
    let good = releases::test_plugin("sickly", "0.1.0", &built, &env.keys, |_| {});
    let bad = releases::test_plugin("sickly", "0.2.0", &built, &env.keys, |m| {
        if let Some(config) = m.config.as_mut() {
            config
                .defaults
                .insert("healthy".into(), serde_json::json!(false));
        }
    });
    let host = env.host();
    let mut installer = host.installer();
    installer.source(env.source("local", &[&good, &bad]));
    installer
        .install(&[req("sickly@=0.1.0")], &InstallOptions::new())
        .unwrap();
    let rx = events(&host);
    let e = installer
        .update(&["sickly".to_string()], &InstallOptions::new())
        .unwrap_err();
    assert_eq!(code(&e), "SB1406", "{e}");
    assert_eq!(current(&installer), Some(GenerationId(1)));
    let h = host.plugin("sickly").unwrap();
    assert_eq!(h.version(), "0.1.0");
    assert_eq!(h.health(), switchboard_host::Health::Healthy);
    assert!(topics(&rx).contains(&"system.plugin.rolled_back".to_string()));
    // The generation that failed is not left behind, and its number is not reused.
    let kept: Vec<GenerationId> = installer
        .generations()
        .unwrap()
        .iter()
        .map(|g| g.id)
        .collect();
    assert_eq!(kept, [GenerationId(1)]);
    installer.disable("sickly").unwrap();
    assert_eq!(current(&installer), Some(GenerationId(3)));
}

#[test]
fn a_host_opening_after_a_crash_past_the_flip_rolls_the_operation_back() {
    let _g = install_lock();
    let (env, old, new) = counter_env();
    let host = env.host();
    let mut installer = host.installer();
    installer.source(env.source("local", &[&old, &new]));
    installer
        .install(&[req("counter@=0.0.9")], &InstallOptions::new())
        .unwrap();
    host.kv("counter").put("v0/visits", b"41").unwrap();
    let update = installer
        .update(&["counter".to_string()], &InstallOptions::new())
        .unwrap();
    drop(installer);
    drop(host);
    // As if the process died in the health check: the journal entry never ended.
    let db = rusqlite::Connection::open(env.root().join("data/switchboard.db")).unwrap();
    db.execute(
        "UPDATE install_operations SET status = 'running', phase = 'health-check' WHERE id = ?1",
        [update.operation.as_str()],
    )
    .unwrap();
    drop(db);

    let host = env.host();
    let recovered = host.recovered_operations();
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert_eq!(recovered[0].operation, update.operation);
    assert!(recovered[0].flipped_back);
    assert_eq!(recovered[0].phase, Phase::HealthCheck);
    let installer = host.installer();
    assert_eq!(current(&installer), Some(GenerationId(1)));
    let started = host.start_installed().unwrap();
    assert_eq!(started.started, ["counter"]);
    assert_eq!(host.plugin("counter").unwrap().version(), "0.0.9");
    assert_eq!(
        host.kv("counter").get("v0/visits").unwrap().as_deref(),
        Some(&b"41"[..])
    );
    let op = installer.operation(&update.operation).unwrap().unwrap();
    assert_eq!(op.status, OperationStatus::RolledBack);
    let audit = host
        .audit()
        .query(&switchboard_host::AuditFilter::new().plugin("counter".to_string()))
        .unwrap();
    assert!(audit
        .iter()
        .any(|r| r.kind == "install" && r.subject == "rolled_back"));
    // Recovery is done once.
    drop(installer);
    drop(host);
    assert!(env.host().recovered_operations().is_empty());
}

#[test]
fn an_operation_interrupted_before_the_flip_leaves_the_current_generation() {
    let _g = install_lock();
    let env = Env::new();
    let hello = env.example("hello", "0.1.0");
    let host = env.host();
    let installer = host.installer();
    // Planned (downloaded, verified), never applied: as if the process died there.
    let plan = installer
        .plan_install(&[file(&hello)], &InstallOptions::new())
        .unwrap();
    let op = plan.operation.clone();
    std::mem::forget(plan);
    drop(installer);
    drop(host);
    let host = env.host();
    let recovered = host.recovered_operations();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].operation, op);
    assert!(!recovered[0].flipped_back);
    assert_eq!(recovered[0].phase, Phase::Verify);
    assert!(host.installer().list().unwrap().is_empty());
}

#[test]
fn enable_and_disable_take_effect_in_the_running_host() {
    let _g = install_lock();
    let env = Env::new();
    let hello = env.example("hello", "0.1.0");
    let host = env.host();
    let installer = host.installer();
    installer
        .install(&[file(&hello)], &InstallOptions::new())
        .unwrap();
    let rx = events(&host);
    installer.disable("hello").unwrap();
    assert!(host.plugin("hello").is_err());
    assert_eq!(installer.list().unwrap()[0].state, InstallState::Disabled);
    assert_eq!(host.store().plugin("hello").unwrap().state, "disabled");
    // Disabling again changes nothing and makes no generation.
    let again = installer.disable("hello").unwrap();
    assert_eq!(again.generation, Some(GenerationId(2)));
    installer.enable("hello").unwrap();
    assert_eq!(greet(&host), "Hello, Ada!");
    assert_eq!(current(&installer), Some(GenerationId(3)));
    assert_eq!(
        topics(&rx),
        ["system.plugin.disabled", "system.plugin.enabled"]
    );
}

#[test]
fn garbage_collection_keeps_exactly_the_packages_kept_generations_reference() {
    let _g = install_lock();
    let env = Env::new();
    let v1 = env.example("hello", "0.1.0");
    let v2 = env.example("hello", "0.2.0");
    let v3 = env.example("hello", "0.3.0");
    let host = env.host();
    let mut installer = host.installer();
    installer.keep_generations(2);
    let stored = || {
        let mut names: Vec<String> = std::fs::read_dir(env.root().join("data/packages"))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| !n.contains('.'))
            .collect();
        names.sort();
        names
    };
    let digest = |installer: &Installer| installer.list().unwrap()[0].sha256.clone();
    installer
        .install(&[file(&v1)], &InstallOptions::new())
        .unwrap();
    let d1 = digest(&installer);
    installer
        .install(&[file(&v2)], &InstallOptions::new())
        .unwrap();
    let d2 = digest(&installer);
    assert_eq!(stored().len(), 2);
    installer
        .install(&[file(&v3)], &InstallOptions::new())
        .unwrap();
    let d3 = digest(&installer);
    // Generations 2 and 3 are kept; generation 1 and its package are gone.
    let kept: Vec<GenerationId> = installer
        .generations()
        .unwrap()
        .iter()
        .map(|g| g.id)
        .collect();
    assert_eq!(kept, [GenerationId(2), GenerationId(3)]);
    let mut want = vec![d2.clone(), d3.clone()];
    want.sort();
    assert_eq!(stored(), want);
    assert!(!stored().contains(&d1));
    // Rolled back to 2, generation 2 and 3 still kept; their packages too.
    installer.rollback(None).unwrap();
    assert_eq!(host.plugin("hello").unwrap().version(), "0.2.0");
    assert_eq!(stored(), want);
}

#[test]
fn the_plan_shows_the_changelog_and_the_capabilities_a_new_plugin_asks_for() {
    let _g = install_lock();
    let env = Env::new();
    let built = env.root().join("built");
    let toml = switchboard_tests::packages::workspace().join("examples/counter/plugin.toml");
    let log = "# Changelog\n\n## 0.1.0\n- JSON counters\n\n## 0.0.9\n- decimal counters\n";
    let lib = switchboard_tests::library("counter");
    let v1 = releases::release(&lib, &toml, "0.0.9", &built, &env.keys, Some(log), |_| {});
    let v2 = releases::release(&lib, &toml, "0.1.0", &built, &env.keys, Some(log), |_| {});
    let host = env.host();
    let mut installer = host.installer();
    installer.source(env.source("local", &[&v1, &v2]));
    let plan = installer
        .plan_install(&[req("counter@=0.0.9")], &InstallOptions::new())
        .unwrap();
    let c = &plan.changes[0];
    assert_eq!(c.new_capabilities.len(), 3, "{c:?}");
    assert!(c.changelog.as_deref().unwrap().contains("decimal counters"));
    installer.apply(plan).unwrap();
    let plan = installer
        .plan_update(&["counter".to_string()], &InstallOptions::new())
        .unwrap();
    let c = &plan.changes[0];
    assert_eq!(
        c.from.as_ref().map(ToString::to_string).as_deref(),
        Some("0.0.9")
    );
    assert!(
        c.new_capabilities.is_empty(),
        "the same capabilities: {c:?}"
    );
    let log = c.changelog.as_deref().unwrap();
    assert!(
        log.contains("JSON counters") && !log.contains("decimal"),
        "{log}"
    );
    assert!(
        c.warnings.iter().any(|w| w.contains("breaking")),
        "{:?}",
        c.warnings
    );
    installer.cancel(plan).unwrap();
    assert_eq!(current(&installer), Some(GenerationId(1)));
}

#[test]
fn capabilities_approved_with_the_plan_are_granted_without_an_approver() {
    let _g = install_lock();
    let env = Env::new();
    let hello = env.example("hello", "0.1.0");
    let host = releases::host(env.root(), &env.keys, |b| {
        // No approver: policy leaves every request open, so deny by default...
        *b = {
            let mut fresh = Host::builder();
            fresh
                .data_dir(env.root().join("data"))
                .host_api("switchboard-demo", "0.1.0")
                .trust(switchboard_tests::packages::public_key(&env.keys));
            fresh
        };
    });
    let installer = host.installer();
    let plan = installer
        .plan_install(&[file(&hello)], &InstallOptions::new())
        .unwrap();
    assert!(plan
        .new_capabilities()
        .iter()
        .any(|(p, c)| p == "hello" && c == "kv"));
    installer.apply(plan).unwrap();
    let kv = |host: &Host| {
        host.plugin("hello")
            .unwrap()
            .grants()
            .iter()
            .any(|g| g.capability().to_string() == "kv")
    };
    assert!(!kv(&host), "denied by default");
    installer.remove("hello", &RemoveOptions::new()).unwrap();
    // ...unless the operator approved what the plan lists.
    let mut options = InstallOptions::new();
    options.approval(switchboard_host::install::CapabilityApproval::All);
    installer.install(&[file(&hello)], &options).unwrap();
    assert!(kv(&host));
    let granted: Vec<String> = host
        .plugin("hello")
        .unwrap()
        .grants()
        .iter()
        .map(|g| g.capability().to_string())
        .collect();
    assert!(granted.iter().any(|c| c == "kv"), "{granted:?}");
    let g = installer.current().unwrap().unwrap();
    assert!(
        g.plugin("hello")
            .unwrap()
            .grants
            .iter()
            .any(|r| r.capability == "kv"),
        "the generation records the grants decided at install"
    );
}

#[test]
fn a_second_operation_on_the_same_data_directory_is_refused_while_one_runs() {
    let _g = install_lock();
    let env = Env::new();
    let hello = env.example("hello", "0.1.0");
    let host = env.host();
    // Another process's operation holds the lock.
    let held = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(env.root().join("data/install.lock"))
        .unwrap();
    held.lock().unwrap();
    let e = host
        .installer()
        .install(&[file(&hello)], &InstallOptions::new())
        .unwrap_err();
    assert_eq!(code(&e), "SB1410", "{e}");
    // A host opening meanwhile does not take that operation for a dead one.
    assert!(env.host().recovered_operations().is_empty());
    drop(held);
    host.installer()
        .install(&[file(&hello)], &InstallOptions::new())
        .unwrap();
}

#[test]
fn progress_names_each_phase_and_counts_download_bytes_and_a_name_no_source_has_is_refused() {
    let _g = install_lock();
    let env = Env::new();
    let hello = env.example("hello", "0.1.0");
    let host = env.host();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut installer = host.installer();
    let log = seen.clone();
    installer.on_progress(move |p| log.lock().unwrap().push(p.clone()));
    let e = installer
        .install(&[req("hello")], &InstallOptions::new())
        .unwrap_err();
    assert_eq!(code(&e), "SB1401", "{e}");
    seen.lock().unwrap().clear();
    let mut disabled = InstallOptions::new();
    disabled.disabled(true);
    installer.install(&[file(&hello)], &disabled).unwrap();
    let seen = seen.lock().unwrap();
    let phases: Vec<Phase> = seen.iter().map(|p| p.phase).collect();
    for phase in Phase::ALL {
        assert!(phases.contains(&phase), "{phase}: {phases:?}");
    }
    let size = std::fs::metadata(&hello).unwrap().len();
    assert!(
        seen.iter()
            .any(|p| p.bytes == Some((size, Some(size))) && p.plugin.as_deref() == Some("hello")),
        "{seen:?}"
    );
    // While an operation activates a plugin it is `installed`, then `enabled`.
    drop(seen);
    installer.remove("hello", &RemoveOptions::new()).unwrap();
    let observer = host.installer();
    let states = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = states.clone();
    installer.on_progress(move |p| {
        if p.phase == Phase::HealthCheck {
            log.lock().unwrap().push(observer.state("hello").unwrap());
        }
    });
    installer
        .install(&[file(&hello)], &InstallOptions::new())
        .unwrap();
    assert_eq!(*states.lock().unwrap(), [Some(InstallState::Installed)]);
    assert_eq!(
        installer.state("hello").unwrap(),
        Some(InstallState::Enabled)
    );
    installer.disable("hello").unwrap();
    // Installed disabled: in the generation, not running.
    assert_eq!(installer.list().unwrap()[0].state, InstallState::Disabled);
    assert!(host.plugin("hello").is_err());
}

#[test]
fn a_lockfile_from_another_machine_reproduces_its_releases_and_locked_refuses_others() {
    let _g = install_lock();
    let env = Env::new();
    let hello1 = env.example("hello", "0.1.0");
    let hello2 = env.example("hello", "0.2.0");
    let relay = env.example_with("relay", "0.1.0", needs("hello", ">=0.1"));
    // Machine A had only hello 0.1.0 when it installed relay.
    let a = Env::new();
    let a_host = releases::host(a.root(), &env.keys, |_| {});
    let mut a_installer = a_host.installer();
    a_installer.source(env.source("a", &[&hello1, &relay]));
    a_installer
        .install(&[req("relay")], &InstallOptions::new())
        .unwrap();
    let lock = a_installer.current().unwrap().unwrap().lock().unwrap();
    assert_eq!(lock.get("hello").unwrap().version.to_string(), "0.1.0");

    // Machine B's source has hello 0.2.0 too: with A's lockfile, B installs 0.1.0.
    let host = env.host();
    let mut installer = host.installer();
    installer.source(env.source("b", &[&hello1, &hello2, &relay]));
    let mut options = InstallOptions::new();
    options.locked(true).lockfile(lock.clone());
    installer.install(&[req("relay")], &options).unwrap();
    assert_eq!(host.plugin("hello").unwrap().version(), "0.1.0");
    let here = installer.current().unwrap().unwrap().lock().unwrap();
    let same = |l: &switchboard_host::Lockfile| {
        l.plugins()
            .map(|p| (p.name.clone(), p.version.to_string(), p.checksum.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(same(&here), same(&lock), "the same releases, byte for byte");

    // A lockfile naming other releases is drift under `locked`.
    let other = Env::new();
    let other_host = releases::host(other.root(), &env.keys, |_| {});
    let mut other_installer = other_host.installer();
    other_installer.source(env.source("c", &[&hello2]));
    other_installer
        .install(&[req("hello")], &InstallOptions::new())
        .unwrap();
    let newer = other_installer.current().unwrap().unwrap().lock().unwrap();
    let mut options = InstallOptions::new();
    options.locked(true).lockfile(newer);
    let e = installer.update(&[], &options).unwrap_err();
    assert_eq!(code(&e), "SB0510", "{e}");
}

#[test]
fn a_health_check_that_never_answers_fails_the_update_at_the_deadline() {
    let _g = install_lock();
    let env = Env::new();
    let built = env.root().join("built");
    let good = releases::test_plugin("sickly", "0.1.0", &built, &env.keys, |_| {});
    let hangs = releases::test_plugin("sickly", "0.2.0", &built, &env.keys, |m| {
        if let Some(config) = m.config.as_mut() {
            config
                .defaults
                .insert("hang_health".into(), serde_json::json!(true));
        }
    });
    let host = env.host();
    let mut installer = host.installer();
    installer
        .source(env.source("local", &[&good, &hangs]))
        .health_deadline(std::time::Duration::from_millis(300));
    installer
        .install(&[req("sickly@=0.1.0")], &InstallOptions::new())
        .unwrap();
    let e = installer
        .update(&["sickly".to_string()], &InstallOptions::new())
        .unwrap_err();
    assert_eq!(code(&e), "SB1406", "{e}");
    assert!(e.to_string().contains("did not answer"), "{e}");
    assert_eq!(host.plugin("sickly").unwrap().version(), "0.1.0");
}

#[test]
fn a_plan_whose_operation_ended_cannot_be_applied() {
    let _g = install_lock();
    let env = Env::new();
    let hello = env.example("hello", "0.1.0");
    let host = env.host();
    let installer = host.installer();
    let plan = installer
        .plan_install(&[file(&hello)], &InstallOptions::new())
        .unwrap();
    let copy = plan.clone();
    installer.cancel(plan).unwrap();
    let e = installer.apply(copy).unwrap_err();
    assert_eq!(code(&e), "SB1414", "{e}");
    assert!(installer.list().unwrap().is_empty());
    // A plan made before another operation changed the installed set is stale.
    let wordcount = env.example("wordcount", "0.1.0");
    let stale = installer
        .plan_install(&[file(&hello)], &InstallOptions::new())
        .unwrap();
    installer
        .install(&[file(&wordcount)], &InstallOptions::new())
        .unwrap();
    let e = installer.apply(stale).unwrap_err();
    assert_eq!(code(&e), "SB1414", "{e}");
    let names: Vec<String> = installer
        .list()
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["wordcount"]);
}

#[test]
fn an_update_that_asks_for_one_more_capability_shows_it_and_it_is_decided_again() {
    let _g = install_lock();
    let env = Env::new();
    let toml = switchboard_tests::packages::workspace().join("examples/hello/plugin.toml");
    let fewer = releases::without_capability(
        &switchboard_tests::library("hello"),
        "kv",
        &env.root().join("fewer"),
    );
    let built = env.root().join("built");
    let old = releases::release(&fewer, &toml, "0.1.0", &built, &env.keys, None, |_| {});
    let new = env.example("hello", "0.2.0");
    // No approver: what policy does not allow is denied unless approved with the plan.
    let host = releases::host(env.root(), &env.keys, |b| {
        *b = {
            let mut fresh = Host::builder();
            fresh
                .data_dir(env.root().join("data"))
                .host_api("switchboard-demo", "0.1.0")
                .trust(switchboard_tests::packages::public_key(&env.keys));
            fresh
        };
    });
    let mut installer = host.installer();
    installer.source(env.source("local", &[&old, &new]));
    let mut approve = InstallOptions::new();
    approve.approval(switchboard_host::install::CapabilityApproval::All);
    installer.install(&[req("hello@=0.1.0")], &approve).unwrap();
    let caps = |host: &Host| -> Vec<String> {
        host.plugin("hello")
            .unwrap()
            .grants()
            .iter()
            .map(|g| g.capability().to_string())
            .collect()
    };
    assert!(!caps(&host).contains(&"kv".to_string()));
    assert!(caps(&host).contains(&"fs.read".to_string()));

    let plan = installer
        .plan_update(&["hello".to_string()], &InstallOptions::new())
        .unwrap();
    assert_eq!(
        plan.new_capabilities(),
        [("hello".to_string(), "kv".to_string())]
    );
    assert!(plan.changes[0].dropped_capabilities.is_empty());
    // Not approved: the update runs without it (denied by default); what was approved before
    // is still granted.
    installer.apply(plan).unwrap();
    assert_eq!(host.plugin("hello").unwrap().version(), "0.2.0");
    assert!(
        !caps(&host).contains(&"kv".to_string()),
        "{:?}",
        caps(&host)
    );
    assert!(caps(&host).contains(&"fs.read".to_string()));
    // Approved with the plan (a rollback and the update again): granted.
    installer.rollback(None).unwrap();
    installer.update(&["hello".to_string()], &approve).unwrap();
    assert!(caps(&host).contains(&"kv".to_string()), "{:?}", caps(&host));
}
