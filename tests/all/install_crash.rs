//! Crash safety of installs and updates (issue 15.7): a child process
//! (`install_crash_child`) runs a real install or update and is SIGKILLed at every failpoint
//! of the operation, and at 200 seeded random moments spread over its whole run. After each
//! kill the data directory is opened again, as a host starting after a crash would, and:
//!
//! - the host opens, and the generation current before the operation is current again
//!   (or, for a random kill that landed after the operation finished, the new one — and
//!   then the journal says it finished);
//! - `list` shows exactly what it showed before (or after);
//! - no half-state is left: no journal entry still running, no staging directory, no
//!   temporary file, and after garbage collection no package no kept generation uses;
//! - the current generation loads and starts (checked in another child process, so the
//!   test process maps no plugin library).
//!
//! Where a kill lands within the operation depends on the machine's speed; what the test
//! asserts does not, so it passes wherever it lands.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use switchboard_cli::examples::Profile;
use switchboard_cli::release::{example_release, ReleaseSpec};
use switchboard_host::install::failpoints::NAMES;
use switchboard_host::install::{Installer, OperationStatus};
use switchboard_host::Host;

/// The packages, the key, and a data directory holding hello 0.1.0 (generation 1), built
/// once for every test here.
struct Kit {
    _dir: tempfile::TempDir,
    root: PathBuf,
    packages: PathBuf,
    key: PathBuf,
    template: PathBuf,
}

fn kit() -> &'static Kit {
    static KIT: OnceLock<Kit> = OnceLock::new();
    KIT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        let keys = switchboard_tests::packages::keys(&root);
        let secret = keys.join("switchboard.key");
        let packages = root.join("packages");
        let releases = [
            ("hello", "0.1.0", &[][..]),
            ("hello", "0.2.0", &["net.connect:api.example.com:443"][..]),
            ("wordcount", "0.1.0", &[][..]),
        ];
        for (name, version, extra) in releases {
            let library = stripped(&root, name);
            let spec = ReleaseSpec {
                name,
                version,
                extra_capabilities: extra,
                changelog: &format!("# Changelog\n\n## {version}\n- a release\n"),
                dependencies: &[],
                library: Some(&library),
            };
            example_release(Profile::Debug, &spec, &packages, &secret).expect("release");
        }
        let template = root.join("template");
        let kit = Kit {
            _dir: dir,
            root: root.clone(),
            packages,
            key: keys.join("switchboard.pub"),
            template,
        };
        let out = child(&kit, &kit.template, "setup", "run")
            .wait_with_output()
            .expect("setup child");
        assert!(
            out.status.success(),
            "setup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        kit
    })
}

/// The example's debug library without its debug information (a tenth of the size: the
/// hundreds of installs here hash, copy and map it), or as built where `objcopy` is missing.
fn stripped(root: &Path, name: &str) -> PathBuf {
    switchboard_cli::examples::stripped_copy(&switchboard_tests::library(name), root)
}

fn child(kit: &Kit, data: &Path, operation: &str, mode: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_install_crash_child"))
        .arg(data)
        .arg(&kit.packages)
        .arg(&kit.key)
        .args([operation, mode])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn install_crash_child")
}

/// A copy of the template data directory; the immutable package files are hard-linked.
fn fresh_copy(kit: &Kit, name: &str) -> PathBuf {
    fn copy(from: &Path, to: &Path, link: bool) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read dir") {
            let entry = entry.expect("entry");
            let (src, dst) = (entry.path(), to.join(entry.file_name()));
            if entry.file_type().expect("type").is_dir() {
                copy(&src, &dst, link || entry.file_name() == "packages");
            } else if link {
                std::fs::hard_link(&src, &dst).expect("link");
            } else {
                std::fs::copy(&src, &dst).expect("copy");
            }
        }
    }
    let to = kit.root.join("runs").join(name);
    let _ = std::fs::remove_dir_all(&to);
    copy(&kit.template, &to, false);
    to
}

/// The state a `list` shows, and the current generation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    generation: Option<u64>,
    rows: Vec<String>,
}

fn open(kit: &Kit, data: &Path) -> Host {
    let mut b = Host::builder();
    b.data_dir(data)
        .host_api("switchboard-demo", "0.1.0")
        .trust(std::fs::read_to_string(&kit.key).expect("key"));
    b.build().expect("the host opens after the crash")
}

fn listed(installer: &Installer) -> Listed {
    Listed {
        generation: installer.current().expect("current").map(|g| g.id.0),
        rows: installer
            .list()
            .expect("list")
            .iter()
            .map(|p| {
                format!(
                    "{} {} {} {} {} {}",
                    p.name, p.version, p.state, p.trust, p.source, p.sha256
                )
            })
            .collect(),
    }
}

/// What the template shows, and what each operation leaves when it completes.
struct Expected {
    before: Listed,
    after_install: Listed,
    after_update: Listed,
}

fn expected() -> &'static Expected {
    static EXPECTED: OnceLock<Expected> = OnceLock::new();
    EXPECTED.get_or_init(|| {
        let kit = kit();
        // Read from a copy: opening a host writes to its data directory, and other tests
        // copy the template meanwhile.
        let before = listed(&Installer::new(&open(kit, &fresh_copy(kit, "before"))));
        let after = |operation: &str| {
            let data = fresh_copy(kit, &format!("complete-{operation}"));
            let out = child(kit, &data, operation, "run")
                .wait_with_output()
                .expect("child");
            assert!(
                out.status.success(),
                "{operation} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            listed(&Installer::new(&open(kit, &data)))
        };
        let after_install = after("install");
        let after_update = after("update");
        assert_ne!(before, after_install);
        assert_ne!(before, after_update);

        Expected {
            before,
            after_install,
            after_update,
        }
    })
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Opens `data` after a kill and checks everything the module docs list; returns whether
/// the operation had completed before the kill.
fn check_after_kill(kit: &Kit, data: &Path, operation: &str, what: &str, load: bool) -> bool {
    let expected = expected();
    let after = match operation {
        "install" => &expected.after_install,
        _ => &expected.after_update,
    };
    let host = open(kit, data);
    let installer = Installer::new(&host);
    let now = listed(&installer);
    let ops = installer.operations(50).expect("journal");
    let completed = now == *after;
    assert!(
        now == expected.before || completed,
        "{what}: after the crash `list` shows {now:#?}\nexpected what it showed before: {:#?}",
        expected.before
    );
    if completed {
        assert!(
            ops.first()
                .is_some_and(|o| o.status == OperationStatus::Done),
            "{what}: the new generation is current but its operation is not done: {ops:#?}"
        );
    }
    assert!(
        ops.iter().all(|o| o.status != OperationStatus::Running),
        "{what}: an operation is still running after recovery: {ops:#?}"
    );
    let staging = files(&data.join("install-staging"));
    assert!(staging.is_empty(), "{what}: staged files left: {staging:?}");
    // The audit checkpoint's writer names its temporary file by process id; one a kill
    // interrupts is left (a few hundred bytes, never read). Not the installer's: see the
    // report of issue 15.
    let temp: Vec<PathBuf> = files(data)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("audit.checkpoint."))
        })
        .collect();
    assert!(temp.is_empty(), "{what}: temporary files left: {temp:?}");
    installer.gc().expect("gc");
    let mut referenced = Vec::new();
    for g in installer.generations().expect("generations") {
        let g = installer
            .generation(g.id)
            .expect("generation")
            .expect("kept");
        referenced.extend(g.plugins.iter().map(|p| p.sha256.clone()));
    }
    for f in files(&data.join("packages")) {
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let digest = name.split('.').next().unwrap_or_default();
        assert!(
            referenced.iter().any(|r| r == digest),
            "{what}: {name} is in the package store but no kept generation uses it"
        );
    }
    drop(installer);
    drop(host);
    if load {
        let out = child(kit, data, "check", "run")
            .wait_with_output()
            .expect("check child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{what}: the current generation does not start: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_str(stdout.trim()).expect("check JSON");
        assert_eq!(doc["failed"], serde_json::json!([]), "{what}: {doc}");
        assert_eq!(
            doc["generation"],
            serde_json::json!(now.generation),
            "{what}: {doc}"
        );
        assert_eq!(
            doc["started"].as_array().map(Vec::len),
            Some(now.rows.len()),
            "{what}: {doc}"
        );
    }
    completed
}

/// Reads the child's lines until one starts with `at ` (returned) or it ends.
fn wait_for_mark(child: &mut Child) -> Option<String> {
    let stdout = child.stdout.take()?;
    let mut lines = BufReader::new(stdout).lines();
    let mark = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.starts_with("at "));
    // Keep draining in the background so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    mark
}

fn kill(mut child: Child) {
    // SIGKILL: no destructor, no flush, no unwinding runs in the child.
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_sigkill_at_each_failpoint_of_an_install_and_an_update_leaves_the_previous_generation() {
    let _g = serialised();
    let kit = kit();
    for operation in ["install", "update"] {
        let trace = child(kit, &fresh_copy(kit, "trace"), operation, "run")
            .wait_with_output()
            .expect("trace");
        let hits: Vec<String> = String::from_utf8_lossy(&trace.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("hit ").map(str::to_owned))
            .collect();
        assert_eq!(hits, NAMES, "{operation} passes every failpoint, in order");
        for name in NAMES {
            let what = format!("{operation} killed at {name}");
            let data = fresh_copy(kit, &format!("{operation}-{name}"));
            let mut c = child(kit, &data, operation, &format!("stop:{name}"));
            let mark = wait_for_mark(&mut c);
            assert_eq!(
                mark.as_deref(),
                Some(format!("at {name}").as_str()),
                "{what}"
            );
            kill(c);
            let completed = check_after_kill(kit, &data, operation, &what, true);
            assert!(!completed, "{what}: the operation cannot have finished");
        }
    }
}

/// Holds the install tests' lock while these tests fork hundreds of children: a child forked
/// while another test's installer holds its data directory's lock file shares that lock
/// (`flock` belongs to the open file, which `fork` shares) until it `exec`s, so that test's
/// next operation could find the directory busy.
fn serialised() -> std::sync::MutexGuard<'static, ()> {
    switchboard_tests::releases::install_lock()
}

/// splitmix64: a seeded sequence, the same on every machine.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// When each failpoint passes, and when the operation ends, from its start, in one
/// undisturbed run.
fn timeline(kit: &Kit, operation: &str) -> Vec<Duration> {
    let mut c = child(kit, &fresh_copy(kit, "timeline"), operation, "run");
    let Some(stdout) = c.stdout.take() else {
        panic!("no stdout")
    };
    let mut started = None;
    let mut times = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line == "begin" {
            started = Some(Instant::now());
        } else if line.starts_with("hit ") || line.starts_with("done") {
            times.push(started.map(|s| s.elapsed()).unwrap_or_default());
        }
    }
    let _ = c.wait();
    times
}

#[test]
#[expect(
    clippy::print_stderr,
    reason = "says how many kills landed mid-operation, which varies with the machine"
)]
fn a_sigkill_at_200_seeded_random_moments_of_an_install_and_an_update_leaves_no_half_state() {
    let _g = serialised();
    let kit = kit();
    let mut landed_mid_operation = 0;
    let mut total = 0;
    for (operation, seed) in [("install", 1571_u64), ("update", 1572_u64)] {
        // A kill point is a failpoint to wait for, then a delay: anchoring on failpoints keeps
        // the points spread over the whole operation however fast the machine is.
        let times = timeline(kit, operation);
        let span = times.last().copied().unwrap_or_default();
        let mut state = seed;
        for i in 0..100 {
            let span_us = u64::try_from(span.as_micros()).unwrap_or(u64::MAX).max(1);
            let at = Duration::from_micros(next(&mut state) % span_us);
            // Failpoint #k (1-based) passed at times[k - 1]; #0 is the operation's start.
            let anchor = times.iter().take(NAMES.len()).filter(|t| **t <= at).count();
            let since = anchor.checked_sub(1).map_or(Duration::ZERO, |k| times[k]);
            let delay = at.saturating_sub(since);
            let what = format!(
                "{operation} #{i}: killed {delay:?} after failpoint #{anchor} (seed {seed})"
            );
            let data = fresh_copy(kit, &format!("{operation}-random-{i}"));
            let mut c = child(kit, &data, operation, &format!("mark:{anchor}"));
            let mark = wait_for_mark(&mut c);
            assert_eq!(mark, Some(format!("at {anchor}")), "{what}");
            std::thread::sleep(delay);
            kill(c);
            // Loading in a child costs a process; every tenth point checks it.
            let completed = check_after_kill(kit, &data, operation, &what, i % 10 == 0);
            total += 1;
            if !completed {
                landed_mid_operation += 1;
            }
            let _ = std::fs::remove_dir_all(&data);
        }
    }
    assert_eq!(total, 200);
    eprintln!(
        "{landed_mid_operation} of {total} random kills landed before the operation finished"
    );
}

/// The state a kill between storing a package's signature and storing the package leaves
/// (`PackageStore::put` moves the sidecar first): the next garbage collection must remove
/// the signature, which no kept generation's package owns. The random kills above reach this
/// window often but not always; this test reaches it every time.
#[test]
fn a_signature_left_without_its_package_by_a_kill_is_collected() {
    let kit = kit();
    let data = fresh_copy(kit, "orphan-signature");
    let packages = data.join("packages");
    let signature = files(&packages)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "minisig"))
        .expect("the template's package has its signature");
    let orphan = packages.join(format!("{}.minisig", "ab".repeat(32)));
    std::fs::copy(&signature, &orphan).expect("copy");
    let host = open(kit, &data);
    let installer = Installer::new(&host);
    installer.gc().expect("gc");
    assert!(
        !orphan.exists(),
        "{} has no package and no kept generation uses it, yet it is kept",
        orphan.display()
    );
    assert!(
        signature.exists(),
        "the stored package's own signature stays"
    );
}
