//! Hostile input to the registry and install commands: each refusal is one coded error with a
//! next step, and nothing the data directory held is lost.

use std::process::Stdio;

use super::install::{fixture, from, hello, listed, ok, refused, run};
use super::switchboard;

/// `registry add` of a location that is a file, or does not exist, is the library's coded
/// refusal (SB1366), not the CLI's "report a bug" (SB0001).
#[test]
fn registry_add_of_a_file_or_a_missing_directory_is_a_coded_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a registry").unwrap();
    for location in [file, dir.path().join("missing")] {
        let out = switchboard()
            .args([
                "registry",
                "add",
                "x",
                "--priority",
                "1",
                "--json",
                "--data-dir",
            ])
            .arg(dir.path().join("data"))
            .arg(&location)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let doc = refused(&out, "SB1366");
        assert!(
            !doc["error"]["next_step"]
                .as_str()
                .unwrap_or_default()
                .contains("bug"),
            "{doc:#}"
        );
    }
}

/// A `switchboard.lock` the CLI cannot write (here a directory in its place) fails the
/// operation before the flip: the generation that was current stays current, with its code
/// and its data, instead of a half-done rollback (flipped, its data not restored, recorded as
/// failed).
#[test]
fn an_unwritable_lockfile_fails_rollback_and_update_before_anything_changes() {
    let f = fixture();
    let from = from(&f);
    let mut install = vec!["install", "hello@0.1.0", "--yes", "--json"];
    install.extend_from_slice(&from);
    ok(&run(&f, &install));
    let mut update = vec!["update", "hello", "--yes", "--json"];
    update.extend_from_slice(&from);
    ok(&run(&f, &update));
    assert_eq!(listed(&f), hello("0.2.0", "enabled"));

    let lock = f.data.join("switchboard.lock");
    std::fs::remove_file(&lock).unwrap();
    std::fs::create_dir(&lock).unwrap();
    refused(&run(&f, &["rollback", "--yes", "--json"]), "SB1411");
    assert_eq!(listed(&f), hello("0.2.0", "enabled"), "nothing changed");
    let gens = ok(&run(&f, &["generations", "--json"]));
    let current: Vec<_> = gens["generations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["current"] == true)
        .map(|g| g["id"].clone())
        .collect();
    assert_eq!(current, [2], "{gens:#}");

    // Once the lockfile can be written again, the same rollback works.
    std::fs::remove_dir(&lock).unwrap();
    ok(&run(&f, &["rollback", "--yes", "--json"]));
    assert_eq!(listed(&f), hello("0.1.0", "enabled"));
    assert!(std::fs::read_to_string(&lock).unwrap().contains("0.1.0"));

    // An update meets the same refusal, and leaves 0.1.0 current too.
    std::fs::remove_file(&lock).unwrap();
    std::fs::create_dir(&lock).unwrap();
    refused(&run(&f, &update), "SB1411");
    assert_eq!(listed(&f), hello("0.1.0", "enabled"), "nothing changed");
}

/// A file the data directory keeps that is there but no regular file (a directory, a FIFO in
/// place of `switchboard.db` or `policy.toml`) is refused with SB0030, not read as absent:
/// `list` said "nothing installed", and `install` ignored the policy.
#[test]
fn a_data_directory_file_that_is_not_a_regular_file_is_refused_not_taken_as_absent() {
    let f = fixture();
    let mut install = vec!["install", "hello@0.1.0", "--yes", "--json"];
    install.extend_from_slice(&from(&f));
    ok(&run(&f, &install));

    let db = f.data.join("switchboard.db");
    let saved = f.data.join("saved.db");
    std::fs::rename(&db, &saved).unwrap();
    std::fs::create_dir(&db).unwrap();
    for args in [&["list", "--json"][..], &["generations", "--json"][..]] {
        refused(&run(&f, args), "SB0030");
    }
    std::fs::remove_dir(&db).unwrap();
    std::fs::rename(&saved, &db).unwrap();
    assert_eq!(listed(&f), hello("0.1.0", "enabled"), "nothing lost");

    std::fs::create_dir(f.data.join("policy.toml")).unwrap();
    let mut update = vec!["update", "hello", "--yes", "--json"];
    update.extend_from_slice(&from(&f));
    refused(&run(&f, &update), "SB0030");
    std::fs::remove_dir(f.data.join("policy.toml")).unwrap();
    assert_eq!(listed(&f), hello("0.1.0", "enabled"), "nothing changed");
}

/// An `install.lock` that is a FIFO is refused (SB1411) instead of hanging every operation
/// in `open` (waiting for a reader that never comes). The deadline only guards the test run
/// against the old hang; the command answers at once.
#[test]
fn an_install_lock_that_is_a_fifo_is_refused_not_waited_on() {
    let f = fixture();
    let mut install = vec!["install", "hello@0.1.0", "--yes", "--json"];
    install.extend_from_slice(&from(&f));
    ok(&run(&f, &install));
    let lock = f.data.join("install.lock");
    let _ = std::fs::remove_file(&lock);
    let status = std::process::Command::new("mkfifo")
        .arg(&lock)
        .status()
        .unwrap();
    assert!(status.success());
    let mut child = switchboard()
        .args(["disable", "hello", "--yes", "--json", "--data-dir"])
        .arg(&f.data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("`disable` still waits on the FIFO after 120 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    refused(&out, "SB1411");
    std::fs::remove_file(&lock).unwrap();
    assert_eq!(listed(&f), hello("0.1.0", "enabled"), "nothing changed");
}

/// A leftover `switchboard.lock.tmp` that is a FIFO (or anything else) does not hang the
/// lockfile's atomic write: the temporary name is removed and created afresh.
#[test]
fn a_fifo_left_at_the_lockfiles_temporary_name_does_not_hang_an_update() {
    let f = fixture();
    let from = from(&f);
    let mut install = vec!["install", "hello@0.1.0", "--yes", "--json"];
    install.extend_from_slice(&from);
    ok(&run(&f, &install));
    let tmp = f.data.join("switchboard.lock.tmp");
    let status = std::process::Command::new("mkfifo")
        .arg(&tmp)
        .status()
        .unwrap();
    assert!(status.success());
    let mut update = vec!["update", "hello", "--yes", "--json"];
    update.extend_from_slice(&from);
    let mut child = switchboard()
        .args(&update)
        .arg("--data-dir")
        .arg(&f.data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("`update` still waits on the FIFO after 120 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    ok(&child.wait_with_output().unwrap());
    assert_eq!(listed(&f), hello("0.2.0", "enabled"));
    assert!(!tmp.exists(), "no temporary file is left behind");
}

/// A mistake in a policy's `[isolation]` section keeps its own code (SB1540–SB1542) and next
/// step through the CLI; other policy mistakes stay SB0015.
#[test]
fn a_bad_isolation_section_in_a_policy_is_refused_with_its_own_code() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("plugin.toml");
    std::fs::write(&manifest, "name = \"w\"\nversion = \"1.0.0\"\n").unwrap();
    for (text, code) in [
        ("[isolation.profiles.agent]\nmemry_mb = 5\n", "SB1540"),
        ("[isolation.defaults]\nrequire = [\"apparmor\"]\n", "SB1541"),
        ("[isolation]\nisolate_below = \"trusted\"\n", "SB1542"),
        ("isolate_below = \"verified\"\n", "SB0015"),
    ] {
        let policy = dir.path().join("policy.toml");
        std::fs::write(&policy, text).unwrap();
        let out = switchboard()
            .args(["preflight", "--json", "--policy"])
            .arg(&policy)
            .arg(&manifest)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let doc = refused(&out, code);
        assert!(
            doc["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("isolat"),
            "{doc:#}"
        );
    }
}
