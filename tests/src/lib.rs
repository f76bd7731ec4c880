//! Support for the end-to-end tests: real example plugins, built once per test process, and
//! helpers to make damaged copies of them.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use switchboard_cli::examples::{self, Profile};
use switchboard_host::{Host, HostBuilder};

/// The path of an example plugin library, built (debug) on first use.
pub fn library(package: &str) -> PathBuf {
    match examples::library(Profile::Debug, package) {
        Ok(p) => p,
        Err(e) => panic!("cannot build example plugin `{package}`: {e:#}"),
    }
}

/// A host in a fresh temporary data directory, unsigned development loading allowed.
pub fn dev_host() -> (Host, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut b = Host::builder();
    b.data_dir(dir.path()).host_api("tests", "1.0.0");
    b.dangerous().load_unsigned_libraries();
    (b.build().expect("host builds"), dir)
}

/// A host in a fresh temporary data directory, unsigned development loading allowed, set up
/// further by `setup` (policy, approver, environment).
pub fn host_with(setup: impl FnOnce(&mut HostBuilder, &Path)) -> (Host, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut b = Host::builder();
    b.data_dir(&data).host_api("tests", "1.0.0");
    b.dangerous().load_unsigned_libraries();
    setup(&mut b, dir.path());
    (b.build().expect("host builds"), dir)
}

/// Another host on the same data directory, as after a restart.
pub fn reopen(dir: &Path, setup: impl FnOnce(&mut HostBuilder)) -> Host {
    let mut b = Host::builder();
    b.data_dir(dir.join("data")).host_api("tests", "1.0.0");
    b.dangerous().load_unsigned_libraries();
    setup(&mut b);
    b.build().expect("host builds")
}

/// Serialises tests that use the process environment to steer the `canary` plugin.
pub fn canary_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Arms the canary's library constructor to write a marker file in `dir`, and returns its path.
/// Hold [`canary_lock`] while it is armed.
pub fn arm_canary(dir: &Path) -> PathBuf {
    let marker = dir.join("canary-ran");
    std::env::set_var("SWITCHBOARD_CANARY_MARKER", &marker);
    marker
}

/// Writes a copy of `library` into `dir` with every occurrence of `from` replaced by `to` (of
/// the same length). Panics if `from` does not occur, so a patch can never silently do nothing.
pub fn patched_copy(library: &Path, dir: &Path, from: &[u8], to: &[u8]) -> PathBuf {
    assert_eq!(from.len(), to.len(), "a patch keeps the length");
    let mut bytes = std::fs::read(library).expect("read library");
    let mut hits = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            hits += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(
        hits > 0,
        "{:?} not found in {}",
        String::from_utf8_lossy(from),
        library.display()
    );
    let name = library.file_name().expect("file name");
    let out = dir.join(format!("patched-{}", name.to_string_lossy()));
    std::fs::write(&out, bytes).expect("write patched copy");
    out
}
