//! Publishing refusals that need no real package (those with one are in `tests/all`).

use super::*;

fn line(name: &str, version: &str, package: &[u8]) -> IndexLine {
    serde_json::from_value(serde_json::json!({
        "format": 1, "name": name, "version": version, "sdk_abi": "1.0",
        "sha256": crate::sha256_hex(package), "size": package.len(),
        "signer": "0123456789ABCDEF", "signature": "x", "trust": "self-signed",
        "channel": "ga", "published": "2026-06-01T00:00:00Z",
    }))
    .unwrap()
}

fn registry() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, keys) = (tmp.path().join("r"), tmp.path().join("k"));
    init(&dir, &keys, &InitOptions::default()).unwrap();
    (tmp, dir, keys)
}

#[test]
fn names_confusable_with_a_published_one_are_refused() {
    let (_tmp, dir, keys) = registry();
    let exp = Expiries::default();
    publish_unverified(
        &dir,
        &keys,
        vec![(line("my-plugin", "1.0.0", b"a"), b"a".to_vec())],
        &exp,
    )
    .unwrap();
    for name in ["my_plugin", "my-plugin_"] {
        let r = publish_unverified(
            &dir,
            &keys,
            vec![(line(name, "1.0.0", b"b"), b"b".to_vec())],
            &exp,
        );
        if name == "my_plugin" {
            assert_eq!(r.unwrap_err().code().to_string(), "SB1304");
        } else {
            r.unwrap();
        }
    }
    // Two confusable names in one batch.
    let batch = vec![
        (line("other_one", "1.0.0", b"c"), b"c".to_vec()),
        (line("other-one", "1.0.0", b"c"), b"c".to_vec()),
    ];
    let e = publish_unverified(&dir, &keys, batch, &exp).unwrap_err();
    assert_eq!(e.code().to_string(), "SB1304");
}

#[test]
fn a_line_that_does_not_describe_its_package_is_refused() {
    let (_tmp, dir, keys) = registry();
    let e = publish_unverified(
        &dir,
        &keys,
        vec![(line("x", "1.0.0", b"a"), b"not a".to_vec())],
        &Expiries::default(),
    )
    .unwrap_err();
    assert_eq!(e.code().to_string(), "SB1340");
}

#[test]
fn init_over_a_file_is_refused_before_keys_are_made() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let e = init(&file, &tmp.path().join("k"), &InitOptions::default()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB1331");
    assert!(!tmp.path().join("k").exists());
}

#[test]
fn a_key_directory_serves_one_registry() {
    let (tmp, _dir, keys) = registry();
    let e = init(&tmp.path().join("second"), &keys, &InitOptions::default()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB1331");
    assert!(!tmp.path().join("second").join("root.json").exists());
}

#[test]
fn rotating_a_key_keeps_the_old_one_and_signs_with_the_new() {
    let (_tmp, dir, keys) = registry();
    let old = std::fs::read(keys.join("snapshot.key")).unwrap();
    assert_eq!(
        rotate_key(&dir, &keys, Role::Snapshot, &Expiries::default()).unwrap(),
        2
    );
    assert_eq!(std::fs::read(keys.join("snapshot.key.1")).unwrap(), old);
    assert!(dir.join("2.root.json").is_file());
    // The registry opens with the new keys, and publishing goes on.
    publish_unverified(
        &dir,
        &keys,
        vec![(line("x", "1.0.0", b"a"), b"a".to_vec())],
        &Expiries::default(),
    )
    .unwrap();
    // The old snapshot key no longer opens it.
    std::fs::write(keys.join("snapshot.key"), &old).unwrap();
    let e = resign(&dir, &keys, &Expiries::default()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB1333");
}

#[test]
fn an_interrupted_rotation_is_finished_at_the_next_command() {
    let (_tmp, dir, keys) = registry();
    rotate_key(&dir, &keys, Role::Timestamp, &Expiries::default()).unwrap();
    // As if the command had stopped after writing the new root, before swapping the keys.
    std::fs::rename(keys.join("timestamp.key"), keys.join("timestamp.key.next")).unwrap();
    std::fs::rename(keys.join("timestamp.key.1"), keys.join("timestamp.key")).unwrap();
    resign(&dir, &keys, &Expiries::default()).unwrap();
    assert!(!keys.join("timestamp.key.next").exists());
    assert!(keys.join("timestamp.key.1").exists());
}

#[test]
fn renewing_the_root_keeps_its_keys() {
    let (_tmp, dir, keys) = registry();
    let before = std::fs::read(dir.join("root.json")).unwrap();
    let later = Expiries {
        now: Some("2030-01-01T00:00:00Z".parse().unwrap()),
        ..Expiries::default()
    };
    assert_eq!(renew_root(&dir, &keys, &later).unwrap(), 2);
    let old = TrustedRoot::pin("r", &before).unwrap();
    let new = old
        .rotate("r", &std::fs::read(dir.join("2.root.json")).unwrap())
        .unwrap();
    assert_eq!(new.meta.keys, old.meta.keys);
    assert!(new.meta.expires.starts_with("2030-12-31") || new.meta.expires.starts_with("2031"));
}

/// A change whose index line clients would refuse (here a yank reason past the 64 KiB line
/// cap) is refused before anything is written: it used to be written, and from then on every
/// client and every later registry command refused the plugin's index file (SB1300).
#[test]
fn a_change_that_would_write_an_index_file_clients_refuse_is_refused_unwritten() {
    let (_tmp, dir, keys) = registry();
    let exp = Expiries::default();
    publish_unverified(
        &dir,
        &keys,
        vec![(line("hello", "1.0.0", b"a"), b"a".to_vec())],
        &exp,
    )
    .unwrap();
    let index = dir.join(index_path("hello").unwrap());
    let before = std::fs::read(&index).unwrap();
    let snapshot = std::fs::read(dir.join("snapshot.json")).unwrap();
    let v = semver::Version::new(1, 0, 0);
    let long = "a".repeat(crate::format::MAX_LINE_BYTES as usize);
    let e = yank(&dir, &keys, "hello", &v, &long, &exp).unwrap_err();
    assert_eq!(e.code().to_string(), "SB1490", "{e}");
    assert_eq!(std::fs::read(&index).unwrap(), before, "nothing written");
    assert_eq!(std::fs::read(dir.join("snapshot.json")).unwrap(), snapshot);
    // The registry is as usable as before.
    yank(&dir, &keys, "hello", &v, "leaks memory", &exp).unwrap();
    let file = IndexFile::parse("hello", &std::fs::read(&index).unwrap()).unwrap();
    assert_eq!(file.releases.len(), 1);
}
