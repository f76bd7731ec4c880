//! The TUF client workflow against a real registry directory: one test per attack.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::format::{Channel, IndexLine};
use crate::metadata::{sign_envelope, Role, RootMeta, SigningKey, TimestampMeta};
use crate::publish::{self, Expiries, InitOptions};
use crate::{DirTransport, MemorySeen, RegistryClient, RegistryError, SeenStore};

const T0: &str = "2026-06-01T00:00:00Z";

fn t(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    keys: PathBuf,
    cache: PathBuf,
    seen: Arc<MemorySeen>,
    now: Arc<Mutex<jiff::Timestamp>>,
}

fn expiries() -> Expiries {
    Expiries {
        now: Some(t(T0)),
        ..Expiries::default()
    }
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    let keys = tmp.path().join("keys");
    let options = InitOptions {
        expiries: expiries(),
        ..InitOptions::default()
    };
    publish::init(&dir, &keys, &options).unwrap();
    let f = Fixture {
        cache: tmp.path().join("cache"),
        _tmp: tmp,
        dir,
        keys,
        seen: Arc::new(MemorySeen::default()),
        now: Arc::new(Mutex::new(t("2026-06-01T01:00:00Z"))),
    };
    f.client()
        .pin(&std::fs::read(f.dir.join("root.json")).unwrap())
        .unwrap();
    f
}

fn line(name: &str, version: &str, package: &[u8]) -> IndexLine {
    let v = serde_json::json!({
        "format": 1, "name": name, "version": version, "sdk_abi": "1.0",
        "sha256": crate::sha256_hex(package), "size": package.len(),
        "signer": "0123456789ABCDEF", "signature": "untrusted comment: test\n",
        "trust": "self-signed", "channel": "ga", "published": T0,
    });
    serde_json::from_value(v).unwrap()
}

impl Fixture {
    fn client(&self) -> RegistryClient {
        let now = Arc::clone(&self.now);
        RegistryClient::new(
            "test",
            Box::new(DirTransport::new(&self.dir).unwrap()),
            Arc::clone(&self.seen) as Arc<dyn SeenStore>,
            &self.cache,
        )
        .with_clock(Arc::new(move || *now.lock().unwrap()))
    }

    fn add(&self, name: &str, version: &str, package: &[u8]) {
        publish::publish_unverified(
            &self.dir,
            &self.keys,
            vec![(line(name, version, package), package.to_vec())],
            &expiries(),
        )
        .unwrap();
    }

    fn read(&self, path: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(path)).unwrap()
    }

    fn write(&self, path: &str, bytes: &[u8]) {
        std::fs::write(self.dir.join(path), bytes).unwrap();
    }

    fn key(&self, role: Role) -> SigningKey {
        SigningKey::from_secret_text(
            &std::fs::read_to_string(self.keys.join(format!("{role}.key"))).unwrap(),
        )
        .unwrap()
    }

    fn root(&self) -> RootMeta {
        let env = crate::metadata::Envelope::parse(&self.read("root.json"), 1 << 20, "r").unwrap();
        env.signed_as("t", Role::Root).unwrap()
    }

    fn timestamp(&self) -> TimestampMeta {
        let env =
            crate::metadata::Envelope::parse(&self.read("timestamp.json"), 1 << 20, "t").unwrap();
        env.signed_as("t", Role::Timestamp).unwrap()
    }
}

fn code(e: &RegistryError) -> String {
    e.code().to_string()
}

#[test]
fn publish_refresh_list_and_download_round_trip() {
    let f = fixture();
    f.add("hello", "1.0.0", b"package one");
    f.add("hello", "1.1.0", b"package two");
    f.add("geo", "0.1.0", b"geo package");
    let client = f.client();
    let report = client.refresh().unwrap();
    assert!(report.snapshot_fetched);
    assert_eq!(client.names().unwrap(), ["geo", "hello"]);
    let releases = client.releases("hello").unwrap().unwrap();
    assert_eq!(releases.releases.len(), 2);
    assert_eq!(releases.releases[1].channel, Channel::Ga);
    assert!(client.releases("nope").unwrap().is_none());
    let dest = f._tmp.path().join("dl/hello-1.1.0.sbpkg");
    let mut seen_progress = 0;
    let got = client
        .download("hello", &"1.1.0".parse().unwrap(), &dest, &mut |n, _| {
            seen_progress = n
        })
        .unwrap();
    assert_eq!(std::fs::read(&got.path).unwrap(), b"package two");
    assert_eq!(seen_progress, 11);
    assert!(got.signature.exists());
    // Nothing changed: only the timestamp is read.
    let again = client.refresh().unwrap();
    assert!(!again.snapshot_fetched);
    // A new client in the same cache reuses the verified snapshot and index files.
    let fresh = f.client();
    assert!(!fresh.refresh().unwrap().snapshot_fetched);
    assert_eq!(f.seen.load("test").unwrap().unwrap().snapshot_version, 4);
}

#[test]
fn an_unpinned_registry_is_refused() {
    let f = fixture();
    let seen = Arc::new(MemorySeen::default());
    let client = RegistryClient::new(
        "other",
        Box::new(DirTransport::new(&f.dir).unwrap()),
        seen,
        &f.cache,
    );
    assert_eq!(code(&client.refresh().unwrap_err()), "SB1315");
}

#[test]
fn rollback_of_the_timestamp_is_refused() {
    let f = fixture();
    let old_ts = f.read("timestamp.json");
    let old_snap = f.read("snapshot.json");
    f.add("hello", "1.0.0", b"p");
    f.client().refresh().unwrap();
    f.write("timestamp.json", &old_ts);
    f.write("snapshot.json", &old_snap);
    let e = f.client().refresh().unwrap_err();
    assert_eq!(code(&e), "SB1312", "{e}");
}

#[test]
fn rollback_of_the_snapshot_is_refused() {
    let f = fixture();
    let old_snap = f.read("snapshot.json");
    f.add("hello", "1.0.0", b"p");
    f.client().refresh().unwrap();
    // A newer timestamp, validly signed, naming the old snapshot.
    let mut ts = f.timestamp();
    ts.version += 1;
    ts.snapshot = crate::metadata::MetaFile::of(&old_snap, 1);
    let env = sign_envelope(&ts, &[&f.key(Role::Timestamp)]).unwrap();
    f.write("timestamp.json", &env.to_bytes());
    f.write("snapshot.json", &old_snap);
    let e = f.client().refresh().unwrap_err();
    assert_eq!(code(&e), "SB1312", "{e}");
    assert!(e.to_string().contains("snapshot"), "{e}");
}

#[test]
fn expired_metadata_is_refused_as_a_freeze() {
    let f = fixture();
    f.client().refresh().unwrap();
    // The timestamp lives a day: two days later the same files are a frozen registry.
    *f.now.lock().unwrap() = t("2026-06-03T00:00:00Z");
    let e = f.client().refresh().unwrap_err();
    assert_eq!(code(&e), "SB1311", "{e}");
    assert!(e.to_string().contains("timestamp"), "{e}");
    // Re-signing makes it fresh again.
    let mut later = expiries();
    later.now = Some(t("2026-06-02T23:00:00Z"));
    publish::resign(&f.dir, &f.keys, &later).unwrap();
    f.client().refresh().unwrap();
}

#[test]
fn an_index_file_the_snapshot_does_not_pin_is_refused() {
    let f = fixture();
    f.add("hello", "1.0.0", b"p");
    let old_index = f.read("index/he/ll/hello");
    f.add("hello", "2.0.0", b"q");
    // Mix and match: the current snapshot with the index file of an older one.
    f.write("index/he/ll/hello", &old_index);
    let client = f.client();
    client.refresh().unwrap();
    let e = client.releases("hello").unwrap_err();
    assert_eq!(code(&e), "SB1313", "{e}");
}

#[test]
fn a_tampered_cache_is_not_believed() {
    let f = fixture();
    f.add("hello", "1.0.0", b"p");
    let client = f.client();
    client.refresh().unwrap();
    client.releases("hello").unwrap();
    std::fs::write(f.cache.join("index/he/ll/hello"), b"garbage").unwrap();
    let fresh = f.client();
    fresh.refresh().unwrap();
    assert_eq!(fresh.releases("hello").unwrap().unwrap().releases.len(), 1);
}

/// Pinned files are cached without an fsync: what a crash can leave of one — an empty file,
/// half of it, or nothing — is found not to match the snapshot and fetched again (and the
/// cached copy repaired).
#[test]
fn a_cached_pinned_file_a_crash_left_empty_torn_or_missing_is_fetched_again() {
    let f = fixture();
    f.add("hello", "1.0.0", b"p");
    let client = f.client();
    client.refresh().unwrap();
    client.releases("hello").unwrap();
    let cached = f.cache.join("index/he/ll/hello");
    let whole = std::fs::read(&cached).unwrap();
    for damage in [
        Some(Vec::new()),
        Some(whole[..whole.len() / 2].to_vec()),
        None,
    ] {
        match damage {
            Some(bytes) => std::fs::write(&cached, bytes).unwrap(),
            None => std::fs::remove_file(&cached).unwrap(),
        }
        let fresh = f.client();
        fresh.refresh().unwrap();
        assert_eq!(fresh.releases("hello").unwrap().unwrap().releases.len(), 1);
        assert_eq!(
            std::fs::read(&cached).unwrap(),
            whole,
            "the copy is repaired"
        );
    }
}

/// A damaged cached timestamp (a crash, a full disk, a user's editor) whose revalidation tag
/// still matches is fetched again, not reported as the registry's fault (SB1302) at every
/// command until someone deletes the cache.
#[test]
fn a_damaged_cached_timestamp_is_fetched_again() {
    let f = fixture();
    f.add("hello", "1.0.0", b"p");
    f.client().refresh().unwrap();
    let cached = f.cache.join("timestamp.json");
    let bytes = std::fs::read(&cached).unwrap();
    for damaged in [&bytes[..10], &b"\x00\xff garbage"[..], &b""[..]] {
        std::fs::write(&cached, damaged).unwrap();
        let fresh = f.client();
        fresh.refresh().unwrap();
        assert_eq!(fresh.releases("hello").unwrap().unwrap().releases.len(), 1);
        assert_eq!(
            std::fs::read(&cached).unwrap(),
            bytes,
            "the cache is repaired"
        );
    }
}

#[test]
fn a_package_that_is_not_the_one_listed_is_refused_and_not_written() {
    let f = fixture();
    f.add("hello", "1.0.0", b"the real bytes");
    let path = format!("packages/{}.sbpkg", crate::sha256_hex(b"the real bytes"));
    f.write(&path, b"the evil bytes");
    let client = f.client();
    client.refresh().unwrap();
    let dest = f._tmp.path().join("hello.sbpkg");
    let e = client
        .download("hello", &"1.0.0".parse().unwrap(), &dest, &mut |_, _| {})
        .unwrap_err();
    assert_eq!(code(&e), "SB1327", "{e}");
    assert!(!dest.exists());
    // Longer than listed: refused at the cap, not read to the end.
    f.write(&path, &vec![b'x'; 1 << 20]);
    let e = client
        .download("hello", &"1.0.0".parse().unwrap(), &dest, &mut |_, _| {})
        .unwrap_err();
    assert_eq!(code(&e), "SB1350", "{e}");
    assert!(!dest.exists());
}

#[test]
fn endless_data_is_cut_at_each_files_cap() {
    let f = fixture();
    f.client().refresh().unwrap();
    let mut huge = f.read("timestamp.json");
    huge.resize(50 << 20, b' ');
    f.write("timestamp.json", &huge);
    let e = f.client().refresh().unwrap_err();
    assert_eq!(code(&e), "SB1350", "{e}");

    // A snapshot longer than the timestamp says is not read past that length.
    let g = fixture();
    let mut snap = g.read("snapshot.json");
    snap.resize(snap.len() + 10, b' ');
    g.write("snapshot.json", &snap);
    let e = g.client().refresh().unwrap_err();
    assert_eq!(code(&e), "SB1350", "{e}");

    let h = fixture();
    let mut root2 = vec![b' '; 10 << 20];
    root2[0] = b'{';
    h.write("2.root.json", &root2);
    let e = h.client().refresh().unwrap_err();
    assert_eq!(code(&e), "SB1350", "{e}");
}

#[test]
fn metadata_signed_by_the_wrong_key_is_refused() {
    let f = fixture();
    let ts = f.timestamp();
    let stranger = SigningKey::generate().unwrap();
    let env = sign_envelope(&ts, &[&stranger]).unwrap();
    f.write("timestamp.json", &env.to_bytes());
    let e = f.client().refresh().unwrap_err();
    assert_eq!(code(&e), "SB1310", "{e}");
    // The right key id with another key's signature is no better.
    let mut env = sign_envelope(&ts, &[&stranger]).unwrap();
    env.signatures[0].keyid = f.key(Role::Timestamp).id().to_owned();
    f.write("timestamp.json", &env.to_bytes());
    assert_eq!(code(&f.client().refresh().unwrap_err()), "SB1310");
    // A signature by the snapshot key over the timestamp: a key of another role.
    let env = sign_envelope(&ts, &[&f.key(Role::Snapshot)]).unwrap();
    f.write("timestamp.json", &env.to_bytes());
    assert_eq!(code(&f.client().refresh().unwrap_err()), "SB1310");
    // Changing one byte of the signed object breaks the signature.
    let mut env = sign_envelope(&ts, &[&f.key(Role::Timestamp)]).unwrap();
    env.signed["version"] = serde_json::json!(ts.version + 100);
    f.write("timestamp.json", &env.to_bytes());
    assert_eq!(code(&f.client().refresh().unwrap_err()), "SB1310");
}

/// Rotates the root to a version whose timestamp role needs two keys; returns the new
/// timestamp keys.
fn rotate_to_two_timestamp_keys(f: &Fixture) -> (SigningKey, SigningKey) {
    let (a, b) = (f.key(Role::Timestamp), SigningKey::generate().unwrap());
    let mut root = f.root();
    root.version = 2;
    root.keys.insert(b.id().to_owned(), b.public_base64());
    root.roles.timestamp.keyids.push(b.id().to_owned());
    root.roles.timestamp.threshold = 2;
    let env = sign_envelope(&root, &[&f.key(Role::Root)]).unwrap();
    f.write("2.root.json", &env.to_bytes());
    (a, b)
}

#[test]
fn metadata_below_the_threshold_is_refused() {
    let f = fixture();
    let (a, b) = rotate_to_two_timestamp_keys(&f);
    let ts = f.timestamp();
    let one = sign_envelope(&ts, &[&a]).unwrap();
    f.write("timestamp.json", &one.to_bytes());
    let e = f.client().refresh().unwrap_err();
    assert_eq!(code(&e), "SB1310", "{e}");
    assert!(e.to_string().contains("1 valid signature"), "{e}");
    // The same key twice counts once.
    let mut twice = one.clone();
    twice.signatures.push(twice.signatures[0].clone());
    f.write("timestamp.json", &twice.to_bytes());
    assert_eq!(code(&f.client().refresh().unwrap_err()), "SB1310");
    // Both keys: accepted.
    f.write(
        "timestamp.json",
        &sign_envelope(&ts, &[&a, &b]).unwrap().to_bytes(),
    );
    assert_eq!(f.client().refresh().unwrap().root_version, 2);
}

#[test]
fn a_root_rotation_signed_by_old_and_new_root_keys_is_followed() {
    let f = fixture();
    f.add("hello", "1.0.0", b"p");
    f.client().refresh().unwrap();
    let v = publish::rotate_key(&f.dir, &f.keys, Role::Root, &expiries()).unwrap();
    assert_eq!(v, 2);
    let v = publish::rotate_key(&f.dir, &f.keys, Role::Timestamp, &expiries()).unwrap();
    assert_eq!(v, 3);
    let report = f.client().refresh().unwrap();
    assert_eq!((report.root_version, report.rotations), (3, 2));
    let seen = f.seen.load("test").unwrap().unwrap();
    assert_eq!(seen.root, f.read("root.json"));
    // Publishing goes on with the new keys.
    f.add("hello", "1.1.0", b"q");
    let client = f.client();
    client.refresh().unwrap();
    assert_eq!(client.releases("hello").unwrap().unwrap().releases.len(), 2);
}

#[test]
fn a_forged_root_rotation_is_refused() {
    let f = fixture();
    f.client().refresh().unwrap();
    // An attacker's root: their own keys, signed only by themselves.
    let evil = SigningKey::generate().unwrap();
    let mut root = f.root();
    root.version = 2;
    root.keys.clear();
    root.keys.insert(evil.id().to_owned(), evil.public_base64());
    for keys in [
        &mut root.roles.root,
        &mut root.roles.snapshot,
        &mut root.roles.timestamp,
    ] {
        keys.keyids = vec![evil.id().to_owned()];
    }
    f.write(
        "2.root.json",
        &sign_envelope(&root, &[&evil]).unwrap().to_bytes(),
    );
    let e = f.client().refresh().unwrap_err();
    assert_eq!(code(&e), "SB1314", "{e}");
    // Signed by the old root key but not by the new root's own key: refused too.
    f.write(
        "2.root.json",
        &sign_envelope(&root, &[&f.key(Role::Root)])
            .unwrap()
            .to_bytes(),
    );
    assert_eq!(code(&f.client().refresh().unwrap_err()), "SB1314");
    // A file named 2.root.json holding version 3.
    let mut skip = f.root();
    skip.version = 3;
    f.write(
        "2.root.json",
        &sign_envelope(&skip, &[&f.key(Role::Root)])
            .unwrap()
            .to_bytes(),
    );
    assert_eq!(code(&f.client().refresh().unwrap_err()), "SB1314");
    // The seen root did not move.
    let seen = f.seen.load("test").unwrap().unwrap();
    assert_eq!(seen.root, f.read("1.root.json"));
}

#[test]
fn dir_transport_stays_inside_the_registry() {
    use crate::Transport;
    let f = fixture();
    let t = DirTransport::new(&f.dir).unwrap();
    for path in [
        "../keys/root.key",
        "/etc/passwd",
        "index/../../keys/root.key",
        "",
        "a//b",
    ] {
        let e = t.fetch(path, 1 << 20, None).unwrap_err();
        assert_eq!(code(&e), "SB1321", "{path}: {e}");
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(f.keys.join("root.key"), f.dir.join("leak")).unwrap();
        assert_eq!(code(&t.fetch("leak", 1 << 20, None).unwrap_err()), "SB1321");
        std::fs::create_dir(f.dir.join("sub")).unwrap();
        assert_eq!(code(&t.fetch("sub", 1 << 20, None).unwrap_err()), "SB1322");
        let fifo = f.dir.join("fifo");
        let ok = std::process::Command::new("mkfifo").arg(&fifo).status();
        if ok.is_ok_and(|s| s.success()) {
            assert_eq!(code(&t.fetch("fifo", 1 << 20, None).unwrap_err()), "SB1322");
        }
    }
    assert_eq!(
        code(&t.fetch("missing.json", 10, None).unwrap_err()),
        "SB1320"
    );
    assert_eq!(code(&t.fetch("root.json", 10, None).unwrap_err()), "SB1350");
    // Revalidation: the same tag is `NotModified`.
    let crate::Fetched::Body { tag, .. } = t.fetch("root.json", 1 << 20, None).unwrap() else {
        panic!()
    };
    assert_eq!(
        t.fetch("root.json", 1 << 20, tag.as_ref()).unwrap(),
        crate::Fetched::NotModified
    );
}

#[test]
fn offline_uses_the_verified_cache_only() {
    let f = fixture();
    f.add("hello", "1.0.0", b"p");
    f.add("geo", "1.0.0", b"g");
    let client = f.client();
    client.refresh().unwrap();
    client.releases("hello").unwrap();
    // The registry is gone (an empty directory where it was): nothing is fetched.
    std::fs::remove_dir_all(&f.dir).unwrap();
    std::fs::create_dir(&f.dir).unwrap();
    assert!(f.client().refresh().is_err());
    let offline = f.client();
    offline.open_offline().unwrap();
    assert_eq!(offline.names().unwrap(), ["geo", "hello"]);
    assert_eq!(
        offline.releases("hello").unwrap().unwrap().releases.len(),
        1
    );
}

#[test]
fn a_snapshot_that_drops_or_rolls_back_an_index_file_is_refused() {
    let f = fixture();
    f.add("hello", "1.0.0", b"p");
    f.add("hello", "1.1.0", b"q");
    f.client().refresh().unwrap();
    let key = f.key(Role::Snapshot);
    let env = crate::metadata::Envelope::parse(&f.read("snapshot.json"), 1 << 20, "s").unwrap();
    let current: crate::metadata::SnapshotMeta = env.signed_as("t", Role::Snapshot).unwrap();
    for edit in [
        // hello's index file back at version 1 (its first release only).
        Box::new(|s: &mut crate::metadata::SnapshotMeta| {
            s.meta.get_mut("index/he/ll/hello").unwrap().version = 1;
        }) as Box<dyn Fn(&mut crate::metadata::SnapshotMeta)>,
        // hello gone.
        Box::new(|s: &mut crate::metadata::SnapshotMeta| {
            s.meta.remove("index/he/ll/hello");
        }),
    ] {
        let mut snap = current.clone();
        snap.version += 1;
        edit(&mut snap);
        let bytes = sign_envelope(&snap, &[&key]).unwrap().to_bytes();
        let mut ts = f.timestamp();
        ts.version += 1;
        ts.snapshot = crate::metadata::MetaFile::of(&bytes, snap.version);
        f.write("snapshot.json", &bytes);
        f.write(
            "timestamp.json",
            &sign_envelope(&ts, &[&f.key(Role::Timestamp)])
                .unwrap()
                .to_bytes(),
        );
        let e = f.client().refresh().unwrap_err();
        assert_eq!(code(&e), "SB1312", "{e}");
        assert!(e.to_string().contains("index/he/ll/hello"), "{e}");
    }
}

#[test]
fn a_snapshot_listing_a_path_outside_the_index_is_refused() {
    let f = fixture();
    let env = crate::metadata::Envelope::parse(&f.read("snapshot.json"), 1 << 20, "s").unwrap();
    let mut snap: crate::metadata::SnapshotMeta = env.signed_as("t", Role::Snapshot).unwrap();
    for path in [
        "index/../../keys/root.key",
        "index/he/ll/Hello",
        "packages/x",
        "../x",
    ] {
        snap.version += 1;
        snap.meta
            .insert(path.into(), crate::metadata::MetaFile::of(b"x", 1));
        let bytes = sign_envelope(&snap, &[&f.key(Role::Snapshot)])
            .unwrap()
            .to_bytes();
        snap.meta.remove(path);
        let mut ts = f.timestamp();
        ts.version += snap.version;
        ts.snapshot = crate::metadata::MetaFile::of(&bytes, snap.version);
        f.write("snapshot.json", &bytes);
        f.write(
            "timestamp.json",
            &sign_envelope(&ts, &[&f.key(Role::Timestamp)])
                .unwrap()
                .to_bytes(),
        );
        let e = f.client().refresh().unwrap_err();
        assert_eq!(code(&e), "SB1316", "{path}: {e}");
    }
}

mod hostile_metadata {
    use proptest::prelude::*;

    use crate::metadata::{Envelope, TrustedRoot};

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            let _ = Envelope::parse(&bytes, 1 << 20, "x");
            let _ = TrustedRoot::pin("x", &bytes);
        }

        #[test]
        fn arbitrary_envelopes_never_verify_or_panic(
            signed in prop_oneof![
                Just(serde_json::json!({"type": "root"})),
                Just(serde_json::json!({"type": "root", "format": 1, "version": 1,
                    "expires": "2030-01-01T00:00:00Z", "keys": {}, "roles": {
                        "root": {"keyids": [], "threshold": 0},
                        "snapshot": {"keyids": [], "threshold": 0},
                        "timestamp": {"keyids": [], "threshold": 0}}})),
                any::<i64>().prop_map(serde_json::Value::from),
                ".{0,20}".prop_map(serde_json::Value::String),
            ],
            keyid in "[0-9A-F]{0,20}",
            sig in ".{0,300}",
        ) {
            let env = serde_json::json!({"signed": signed, "signatures": [{"keyid": keyid, "sig": sig}]});
            let bytes = serde_json::to_vec(&env).unwrap();
            prop_assert!(TrustedRoot::pin("x", &bytes).is_err());
        }
    }
}
