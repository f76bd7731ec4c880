//! Faults injected at every phase boundary of an install operation (issue 15.7, in
//! process): an error there fails or rolls back the operation; a panic there (a crash, as
//! far as the operation can tell) is rolled back by the next host that opens the data
//! directory. Either way the previous generation is current and runs, and `list` is what it
//! was. (Killing a child process at each phase is the CLI's test.)

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use switchboard_host::install::failpoints::{self, fail};
use switchboard_host::install::{GenerationId, InstallOptions, InstallRequest, OperationStatus};
use switchboard_host::Host;
use switchboard_tests::packages::keys;
use switchboard_tests::releases::{self, install_lock};

struct Env {
    dir: tempfile::TempDir,
    keys: PathBuf,
    v1: PathBuf,
    v2: PathBuf,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let built = dir.path().join("built");
    let v1 = releases::example("hello", "0.1.0", &built, &keys, |_| {});
    let v2 = releases::example("hello", "0.2.0", &built, &keys, |_| {});
    Env { dir, keys, v1, v2 }
}

fn host(env: &Env) -> Host {
    releases::host(env.dir.path(), &env.keys, |_| {})
}

fn install(host: &Host, p: &Path) -> Result<(), switchboard_host::Error> {
    host.installer()
        .install(
            &[InstallRequest::File(p.to_owned())],
            &InstallOptions::new(),
        )
        .map(|_| ())
}

fn listed(host: &Host) -> Vec<(String, String, String)> {
    host.installer()
        .list()
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.version.to_string(), p.sha256))
        .collect()
}

/// The package store's files (packages and their signatures), sorted.
fn stored(env: &Env) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(env.dir.path().join("data/packages"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| !n.ends_with(".minisig"))
        .collect();
    names.sort();
    names
}

fn staging_is_empty(env: &Env) -> bool {
    std::fs::read_dir(env.dir.path().join("data/install-staging"))
        .map(|d| d.count() == 0)
        .unwrap_or(true)
}

#[test]
fn an_error_at_any_phase_boundary_of_an_update_leaves_the_previous_generation_running() {
    let _g = install_lock();
    for name in failpoints::NAMES {
        let env = env();
        let host = host(&env);
        install(&host, &env.v1).unwrap();
        let before = listed(&host);
        let scenario = fail::FailScenario::setup();
        fail::cfg(*name, "return").unwrap();
        let e = install(&host, &env.v2).unwrap_err();
        scenario.teardown();
        let text = e.to_string();
        assert!(
            text.contains("SB1412") || text.contains(name),
            "{name}: {text}"
        );
        let installer = host.installer();
        assert_eq!(
            installer.current().unwrap().map(|g| g.id),
            Some(GenerationId(1)),
            "{name}"
        );
        assert_eq!(listed(&host), before, "{name}");
        assert_eq!(host.plugin("hello").unwrap().version(), "0.1.0", "{name}");
        assert_eq!(
            host.plugin("hello").unwrap().state(),
            switchboard_host::State::Active,
            "{name}"
        );
        let op = &installer.operations(1).unwrap()[0];
        assert!(
            matches!(
                op.status,
                OperationStatus::Failed | OperationStatus::RolledBack
            ),
            "{name}: {:?}",
            op.status
        );
        assert!(staging_is_empty(&env), "{name}: no orphaned downloads");
        let kept: Vec<GenerationId> = installer
            .generations()
            .unwrap()
            .iter()
            .map(|g| g.id)
            .collect();
        assert_eq!(kept, [GenerationId(1)], "{name}: no orphaned generation");
        assert_eq!(
            stored(&env),
            [before[0].2.clone()],
            "{name}: no orphaned package"
        );
        // A disable (nothing to download) meets every failpoint too.
        let scenario = fail::FailScenario::setup();
        fail::cfg(*name, "return").unwrap();
        let e = host.installer().disable("hello").unwrap_err();
        scenario.teardown();
        assert!(
            e.to_string().contains("SB1412") || e.to_string().contains(name),
            "{name}: {e}"
        );
        assert_eq!(listed(&host), before, "{name}");
        assert_eq!(
            host.plugin("hello").unwrap().state(),
            switchboard_host::State::Active,
            "{name}"
        );
        // The same update goes through once the fault is gone.
        install(&host, &env.v2).unwrap();
        assert_eq!(host.plugin("hello").unwrap().version(), "0.2.0", "{name}");
    }
}

#[test]
fn a_crash_at_any_phase_boundary_is_rolled_back_by_the_next_host() {
    let _g = install_lock();
    for name in failpoints::NAMES {
        let env = env();
        let host = host(&env);
        install(&host, &env.v1).unwrap();
        let before = listed(&host);
        let scenario = fail::FailScenario::setup();
        fail::cfg(*name, "panic(crash)").unwrap();
        let crashed = catch_unwind(AssertUnwindSafe(|| install(&host, &env.v2)));
        scenario.teardown();
        assert!(crashed.is_err(), "{name}: the failpoint panics");
        drop(host);

        let host = self::host(&env);
        let recovered = host.recovered_operations();
        assert_eq!(recovered.len(), 1, "{name}: {recovered:?}");
        let installer = host.installer();
        assert_eq!(
            installer.current().unwrap().map(|g| g.id),
            Some(GenerationId(1)),
            "{name}"
        );
        assert_eq!(listed(&host), before, "{name}");
        let started = host.start_installed().unwrap();
        assert_eq!(started.started, ["hello"], "{name}");
        assert_eq!(host.plugin("hello").unwrap().version(), "0.1.0", "{name}");
        assert!(staging_is_empty(&env), "{name}: no orphaned downloads");
        let kept: Vec<GenerationId> = installer
            .generations()
            .unwrap()
            .iter()
            .map(|g| g.id)
            .collect();
        assert_eq!(kept, [GenerationId(1)], "{name}: no orphaned generation");
        assert_eq!(
            stored(&env),
            [before[0].2.clone()],
            "{name}: no orphaned package"
        );
        let op = installer
            .operation(&recovered[0].operation)
            .unwrap()
            .unwrap();
        assert_eq!(op.status, OperationStatus::RolledBack, "{name}");
    }
}
