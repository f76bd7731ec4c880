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

/// The test-only plugins under `tests/plugins/` (hostile or probing; never shipped).
pub const TEST_PLUGINS: &[&str] = &["lingerer", "probe"];

/// The path of a test-only plugin library (`tests/plugins/NAME`), built (debug) on first use
/// into the same target directory as the examples.
pub fn test_plugin(package: &str) -> PathBuf {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    let target = examples::workspace_root().join("target").join("examples");
    if !*built {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.current_dir(examples::workspace_root())
            .args(["build", "--quiet", "--target-dir"])
            .arg(&target);
        for p in TEST_PLUGINS {
            cmd.args(["-p", p]);
        }
        let status = cmd.status().expect("run cargo for the test plugins");
        assert!(
            status.success(),
            "building the test plugins failed ({status})"
        );
        *built = true;
    }
    let path = target
        .join("debug")
        .join(examples::library_file_name(package));
    assert!(
        path.is_file(),
        "expected {} after the build",
        path.display()
    );
    path
}

/// A host in a fresh temporary data directory, unsigned development loading allowed. Its
/// host API is the one the example plugins' `plugin.toml` require (`switchboard-demo` 0.1).
pub fn dev_host() -> (Host, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut b = Host::builder();
    b.data_dir(dir.path()).host_api("switchboard-demo", "0.1.0");
    b.dangerous().load_unsigned_libraries();
    (b.build().expect("host builds"), dir)
}

/// A host in a fresh temporary data directory, unsigned development loading allowed, set up
/// further by `setup` (policy, approver, environment).
pub fn host_with(setup: impl FnOnce(&mut HostBuilder, &Path)) -> (Host, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut b = Host::builder();
    b.data_dir(&data).host_api("switchboard-demo", "0.1.0");
    b.dangerous().load_unsigned_libraries();
    setup(&mut b, dir.path());
    (b.build().expect("host builds"), dir)
}

/// Another host on the same data directory, as after a restart.
pub fn reopen(dir: &Path, setup: impl FnOnce(&mut HostBuilder)) -> Host {
    let mut b = Host::builder();
    b.data_dir(dir.join("data"))
        .host_api("switchboard-demo", "0.1.0");
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

/// Packages built from the example plugins, keys, signatures, and hand-made hostile archives.
pub mod packages {
    use std::collections::BTreeMap;
    use std::io::Write;
    use std::path::{Path, PathBuf};

    use switchboard_host::package::{self, build, write_archive};
    use switchboard_host::{current_target, Manifest};
    use switchboard_sdk::manifest::Format;

    /// The workspace root.
    pub fn workspace() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// An example plugin's package manifest: `examples/NAME/plugin.toml` completed with what
    /// its library embeds, as `switchboard pack` writes it.
    pub fn manifest(name: &str) -> Manifest {
        let text =
            std::fs::read_to_string(workspace().join("examples").join(name).join("plugin.toml"))
                .expect("example manifest");
        let written = Manifest::parse(&text, Format::Toml).expect("valid example manifest");
        switchboard_host::package_manifest(&written, &super::library(name))
            .expect("plugin.toml agrees with the library")
    }

    /// The files of an example plugin's package: its library for this target and a README.
    pub fn files(name: &str) -> BTreeMap<String, Vec<u8>> {
        let lib = super::library(name);
        let file = lib
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        let mut files = BTreeMap::new();
        files.insert(
            format!("lib/{}/{file}", current_target()),
            std::fs::read(&lib).expect("library"),
        );
        files.insert("README.md".into(), format!("# {name}\n").into_bytes());
        files
    }

    /// Writes `bytes` as `dir/NAME-VERSION.sbpkg` and returns the path.
    pub fn write(dir: &Path, file_name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(file_name);
        std::fs::write(&p, bytes).expect("write package");
        p
    }

    /// Builds the example's package into `dir`; returns its path.
    pub fn example_package(name: &str, dir: &Path) -> PathBuf {
        let built = build(&manifest(name), &files(name)).expect("build");
        write(dir, &built.file_name, &built.bytes)
    }

    /// A fresh unencrypted key pair in `dir` (through the CLI's keygen); returns the key dir.
    pub fn keys(dir: &Path) -> PathBuf {
        let k = dir.join(format!("keys-{}", std::process::id()));
        switchboard_cli::authoring::keygen(&k, true).expect("keygen");
        k
    }

    /// Signs `package` with the key in `keys` (through the CLI's sign).
    pub fn sign(package: &Path, keys: &Path) -> PathBuf {
        switchboard_cli::authoring::sign(package, &keys.join("switchboard.key")).expect("sign")
    }

    /// The public key text in `keys`.
    pub fn public_key(keys: &Path) -> String {
        std::fs::read_to_string(keys.join("switchboard.pub")).expect("pub")
    }

    /// Rewrites a package's archive with `edit` applied to its files (no re-pinning).
    pub fn repack(path: &Path, edit: impl FnOnce(&mut BTreeMap<String, Vec<u8>>)) {
        let bytes = std::fs::read(path).expect("read");
        let mut files = package::unpack(&bytes, &Default::default()).expect("unpack");
        edit(&mut files);
        std::fs::write(path, write_archive(&files).expect("archive")).expect("write");
    }

    /// One raw tar entry for hostile archives.
    #[derive(Debug)]
    pub struct Raw<'a> {
        /// The path bytes, written as is.
        pub path: &'a str,
        /// The entry type.
        pub kind: tar::EntryType,
        /// The contents.
        pub data: &'a [u8],
        /// The link target, for links.
        pub link: &'a str,
    }

    /// A zstd-compressed tar of raw entries, bypassing every check a builder would make.
    pub fn raw_archive(entries: &[Raw<'_>]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            {
                let name = &mut h.as_old_mut().name;
                name.fill(0);
                name[..e.path.len()].copy_from_slice(e.path.as_bytes());
                let link = &mut h.as_old_mut().linkname;
                link.fill(0);
                link[..e.link.len()].copy_from_slice(e.link.as_bytes());
            }
            h.set_entry_type(e.kind);
            h.set_size(e.data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append(&h, e.data).expect("append");
        }
        let t = tar.into_inner().expect("tar");
        let mut enc = zstd::stream::Encoder::new(Vec::new(), 1).expect("zstd");
        enc.write_all(&t).expect("zstd write");
        enc.finish().expect("zstd finish")
    }
}
