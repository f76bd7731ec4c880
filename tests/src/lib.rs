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
pub const TEST_PLUGINS: &[&str] = &[
    "lingerer", "probe", "sickly", "escape", "phoenix", "hooka", "hookb", "hookc", "hookd",
    "tally", "wrapa", "wrapb", "streamer",
];

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
        // The escape plugin's `plugin` feature is off by default (see its Cargo.toml).
        cmd.args(["--features", "escape/plugin,streamer/plugin"]);
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

/// The `sdk_abi` field as `#[plugin]` writes it into a manifest today (`"sdk_abi":"1.6"`):
/// what tests patch to make a library of another ABI.
pub fn current_sdk_abi_field() -> Vec<u8> {
    format!("\"sdk_abi\":\"{}\"", switchboard_sdk::SDK_ABI_VERSION).into_bytes()
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

/// Where the manifest section (`switchboard_manifest`) of the library `bytes` lies, found
/// with an object-file parser as the host finds it: a patch of the embedded manifest scans
/// these few KiB, not the whole (unoptimised, many-MiB) library.
pub fn manifest_section(bytes: &[u8]) -> std::ops::Range<usize> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(bytes).expect("a library");
    let section = [
        switchboard_sdk::SECTION_ELF,
        switchboard_sdk::SECTION_MACHO,
        switchboard_sdk::SECTION_PE,
    ]
    .iter()
    .find_map(|name| file.section_by_name(name))
    .expect("a manifest section");
    let (start, len) = section.file_range().expect("the section is in the file");
    let start = usize::try_from(start).expect("an offset");
    start..start + usize::try_from(len).expect("a length")
}

// The guide's text, as written there: not reformatted (tests/all/guide.rs compares them).
#[rustfmt::skip]
pub mod guide;

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

/// Signed releases of the example and test plugins at chosen versions, and hosts to install
/// them into — for the install tests, benches and fault-injection children.
pub mod releases {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::sync::{Mutex, MutexGuard, PoisonError};

    use switchboard_host::caps::{Approval, Scope};
    use switchboard_host::package::build;
    use switchboard_host::{current_target, Host, HostBuilder, Manifest};
    use switchboard_sdk::manifest::Format;

    /// Serialises the tests that install: failpoints are process-wide, so a test that arms
    /// one must not meet another test's install.
    pub fn install_lock() -> MutexGuard<'static, ()> {
        static LOCK: Mutex<()> = Mutex::new(());
        LOCK.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A signed package of the plugin whose library is `lib` and whose crate manifest is
    /// `plugin_toml`, at `version` — which must have the length of the built version: the
    /// library's embedded version is patched to match — with `edit` applied to the package
    /// manifest (dependencies, configuration defaults) and `changelog` as `CHANGELOG.md`.
    /// Written to `dir/VERSION/NAME-VERSION.sbpkg` and signed with the key in `keys`.
    pub fn release(
        lib: &Path,
        plugin_toml: &Path,
        version: &str,
        dir: &Path,
        keys: &Path,
        changelog: Option<&str>,
        edit: impl FnOnce(&mut Manifest),
    ) -> PathBuf {
        let text = std::fs::read_to_string(plugin_toml).expect("plugin.toml");
        let mut written = Manifest::parse(&text, Format::Toml).expect("valid plugin.toml");
        let built = written.version.clone();
        assert_eq!(
            version.len(),
            built.len(),
            "a patched version keeps the length"
        );
        let mut bytes = std::fs::read(lib).expect("library");
        if version != built {
            let from = format!("\"name\":\"{}\",\"version\":\"{built}\"", written.name);
            let to = format!("\"name\":\"{}\",\"version\":\"{version}\"", written.name);
            let mut hits = 0;
            let section = super::manifest_section(&bytes);
            let mut i = section.start;
            while i + from.len() <= section.end {
                if &bytes[i..i + from.len()] == from.as_bytes() {
                    bytes[i..i + from.len()].copy_from_slice(to.as_bytes());
                    hits += 1;
                }
                i += 1;
            }
            assert!(
                hits > 0,
                "no embedded version to patch in {}",
                lib.display()
            );
        }
        let sub = dir.join(version);
        std::fs::create_dir_all(&sub).expect("release dir");
        let file = lib.file_name().expect("file name").to_owned();
        let patched = sub.join(&file);
        std::fs::write(&patched, &bytes).expect("write library");
        written.version = version.to_owned();
        let mut manifest =
            switchboard_host::package_manifest(&written, &patched).expect("manifest agrees");
        edit(&mut manifest);
        let mut files = BTreeMap::new();
        files.insert(
            format!("lib/{}/{}", current_target(), file.to_string_lossy()),
            bytes,
        );
        files.insert(
            "README.md".into(),
            format!("# {}\n", manifest.name).into_bytes(),
        );
        if let Some(log) = changelog {
            files.insert("CHANGELOG.md".into(), log.as_bytes().to_vec());
        }
        std::fs::remove_file(&patched).expect("remove the loose library");
        let built = build(&manifest, &files).expect("build");
        let path = super::packages::write(&sub, &built.file_name, &built.bytes);
        super::packages::sign(&path, keys);
        path
    }

    /// A copy of library `lib`, written to `dir`, whose embedded manifest does not request
    /// `capability`: its entry in the `capabilities` array is blanked out with spaces, so the
    /// section keeps its length and stays valid JSON. Packed with [`release`], it is an
    /// older release that asked for one capability less than the library as built.
    pub fn without_capability(lib: &Path, capability: &str, dir: &Path) -> PathBuf {
        let mut bytes = std::fs::read(lib).expect("library");
        let start_mark = b"\"capabilities\":[";
        let start = bytes
            .windows(start_mark.len())
            .position(|w| w == start_mark)
            .expect("an embedded capabilities array")
            + start_mark.len();
        let end = start
            + bytes[start..]
                .iter()
                .position(|b| *b == b']')
                .expect("the array ends");
        let entry = format!("\"{capability}\",");
        let at = bytes[start..end]
            .windows(entry.len())
            .position(|w| w == entry.as_bytes())
            .map(|i| start + i)
            .unwrap_or_else(|| {
                panic!("`{capability}` is not a requested capability followed by another")
            });
        bytes[at..at + entry.len()].fill(b' ');
        std::fs::create_dir_all(dir).expect("dir");
        let out = dir.join(lib.file_name().expect("file name"));
        std::fs::write(&out, bytes).expect("write library");
        out
    }

    /// [`release`] of the example plugin `examples/NAME`.
    pub fn example(
        name: &str,
        version: &str,
        dir: &Path,
        keys: &Path,
        edit: impl FnOnce(&mut Manifest),
    ) -> PathBuf {
        let toml = super::packages::workspace()
            .join("examples")
            .join(name)
            .join("plugin.toml");
        release(&super::library(name), &toml, version, dir, keys, None, edit)
    }

    /// [`release`] of the test-only plugin `tests/plugins/NAME`.
    pub fn test_plugin(
        name: &str,
        version: &str,
        dir: &Path,
        keys: &Path,
        edit: impl FnOnce(&mut Manifest),
    ) -> PathBuf {
        let toml = super::packages::workspace()
            .join("tests/plugins")
            .join(name)
            .join("plugin.toml");
        release(
            &super::test_plugin(name),
            &toml,
            version,
            dir,
            keys,
            None,
            edit,
        )
    }

    /// Copies packages (with their signatures) into one directory, as a package source.
    pub fn directory(dir: &Path, packages: &[&Path]) -> PathBuf {
        std::fs::create_dir_all(dir).expect("source dir");
        for p in packages {
            let name = p.file_name().expect("file name");
            std::fs::copy(p, dir.join(name)).expect("copy package");
            let mut sig = p.as_os_str().to_owned();
            sig.push(".minisig");
            let mut to = dir.join(name).into_os_string();
            to.push(".minisig");
            std::fs::copy(sig, to).expect("copy signature");
        }
        dir.to_owned()
    }

    /// A host on `root/data` for the example plugins' host API, trusting the key in `keys`,
    /// with an approver that grants every request for the session. `setup` adjusts it.
    pub fn host(root: &Path, keys: &Path, setup: impl FnOnce(&mut HostBuilder)) -> Host {
        let mut b = Host::builder();
        b.data_dir(root.join("data"))
            .host_api("switchboard-demo", "0.1.0")
            .trust(super::packages::public_key(keys))
            .approver(|_: &switchboard_host::caps::ApprovalRequest<'_>| {
                Approval::Allow(Scope::Session)
            });
        setup(&mut b);
        b.build().expect("host builds")
    }
}

/// `library` (the bytes of a plugin built with a `plugin.toml`) with its embedded manifest
/// renamed from `from` to `to`, and each of its capabilities and subscription patterns passed
/// through `edit` — so one build loads many times under many names, each with its own grants
/// (the host names a plugin by its manifest). The JSON keeps the section's length (padded with
/// spaces); the embedded `plugin.toml` loses its comment lines to make room. Panics if the
/// manifest is not found exactly once or the result does not fit.
pub fn renamed_library(
    library: &[u8],
    from: &str,
    to: &str,
    edit: impl Fn(&str) -> String,
) -> Vec<u8> {
    let start_mark = format!("{{\"format\":1,\"name\":\"{from}\",");
    let starts: Vec<usize> = library
        .windows(start_mark.len())
        .enumerate()
        .filter(|(_, w)| *w == start_mark.as_bytes())
        .map(|(i, _)| i)
        .collect();
    let [start] = starts[..] else {
        panic!(
            "the manifest of `{from}` appears {} times, not once",
            starts.len()
        );
    };
    let mut stream =
        serde_json::Deserializer::from_slice(&library[start..]).into_iter::<serde_json::Value>();
    let mut value = stream.next().expect("a manifest").expect("a JSON manifest");
    let end = start + stream.byte_offset();
    value["name"] = to.into();
    for list in ["capabilities", "subscriptions"] {
        if let Some(items) = value[list].as_array_mut() {
            for item in items {
                let edited = edit(item.as_str().expect("a string"));
                *item = edited.into();
            }
        }
    }
    let toml = value["plugin_toml"]
        .as_str()
        .expect("an embedded plugin.toml");
    let toml: String = toml
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            if l.starts_with("name") {
                format!("name = \"{to}\"\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    value["plugin_toml"] = toml.into();
    let mut json = serde_json::to_vec(&value).expect("encode");
    let room = end - start;
    assert!(
        json.len() <= room,
        "the renamed manifest ({} bytes) does not fit the section ({room} bytes)",
        json.len()
    );
    json.resize(room, b' ');
    let mut out = library.to_vec();
    out[start..end].copy_from_slice(&json);
    out
}

/// `library` with the JSON manifest of plugin `name` in its section changed by `edit` (a new
/// version, a command renamed, a contract changed), at the same length (padded with spaces).
/// The library's code reads its manifest from the section, so it reports the edited one.
/// Panics if the manifest is not found exactly once or the edit makes it longer.
pub fn edited_manifest(
    library: &[u8],
    name: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Vec<u8> {
    let start_mark = format!("{{\"format\":1,\"name\":\"{name}\",");
    let starts: Vec<usize> = library
        .windows(start_mark.len())
        .enumerate()
        .filter(|(_, w)| *w == start_mark.as_bytes())
        .map(|(i, _)| i)
        .collect();
    let [start] = starts[..] else {
        panic!(
            "the manifest of `{name}` appears {} times, not once",
            starts.len()
        );
    };
    let mut stream =
        serde_json::Deserializer::from_slice(&library[start..]).into_iter::<serde_json::Value>();
    let mut value = stream.next().expect("a manifest").expect("a JSON manifest");
    let end = start + stream.byte_offset();
    edit(&mut value);
    let mut json = serde_json::to_vec(&value).expect("encode");
    let room = end - start;
    assert!(
        json.len() <= room,
        "the edited manifest ({} bytes) does not fit the section ({room} bytes)",
        json.len()
    );
    json.resize(room, b' ');
    let mut out = library.to_vec();
    out[start..end].copy_from_slice(&json);
    out
}
