//! Publishing real signed packages to a static registry, and reading them back through the
//! client: every refusal of `publish` and the release changes (yank, deprecate, promote).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use switchboard_host::package::{TrustStore, UnpackLimits};
use switchboard_host::TrustLevel;
use switchboard_registry::format::Channel;
use switchboard_registry::publish::{self, Expiries, InitOptions, PublishOptions};
use switchboard_registry::{DirTransport, MemorySeen, RegistryClient, RegistryError};
use switchboard_tests::packages::{example_package, files, keys, manifest, repack, sign, write};

struct Fixture {
    tmp: tempfile::TempDir,
    registry: PathBuf,
    registry_keys: PathBuf,
    author_keys: PathBuf,
}

fn fixture_with(init: InitOptions) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let registry = tmp.path().join("registry");
    let registry_keys = tmp.path().join("registry-keys");
    let author_keys = keys(tmp.path());
    let mut init = init;
    init.publisher_keys = init
        .publisher_keys
        .iter()
        .map(|_| author_keys.join("switchboard.pub"))
        .collect();
    publish::init(&registry, &registry_keys, &init).unwrap();
    Fixture {
        tmp,
        registry,
        registry_keys,
        author_keys,
    }
}

fn fixture() -> Fixture {
    fixture_with(InitOptions::default())
}

impl Fixture {
    /// A signed hello package in a directory of its own.
    fn signed_hello(&self, sub: &str) -> PathBuf {
        let dir = self.tmp.path().join(sub);
        std::fs::create_dir_all(&dir).unwrap();
        let package = example_package("hello", &dir);
        sign(&package, &self.author_keys);
        package
    }

    fn publish(&self, package: &Path) -> Result<publish::PublishReport, RegistryError> {
        publish::publish(
            &self.registry,
            &self.registry_keys,
            package,
            &PublishOptions::default(),
        )
    }

    fn client(&self) -> RegistryClient {
        let client = RegistryClient::new(
            "local",
            Box::new(DirTransport::new(&self.registry).unwrap()),
            Arc::new(MemorySeen::default()),
            self.tmp.path().join("cache"),
        );
        client
            .pin(&std::fs::read(self.registry.join("root.json")).unwrap())
            .unwrap();
        client.refresh().unwrap();
        client
    }
}

fn code(e: &RegistryError) -> String {
    e.code().to_string()
}

#[test]
fn a_published_example_downloads_and_verifies_as_a_host_would() {
    let f = fixture();
    let package = f.signed_hello("a");
    let report = f.publish(&package).unwrap();
    assert!(report.added);
    let line = &report.line;
    assert_eq!((line.name.as_str(), line.channel), ("hello", Channel::Ga));
    assert_eq!(line.trust, TrustLevel::SelfSigned);
    assert_eq!(line.size, std::fs::metadata(&package).unwrap().len());
    assert!(f.registry.join(&report.package_path).is_file());

    // The same bytes again: nothing changes.
    let again = f.publish(&package).unwrap();
    assert!(!again.added);
    assert_eq!(again.snapshot_version, report.snapshot_version);

    let client = f.client();
    assert_eq!(client.names().unwrap(), ["hello"]);
    let dest = f.tmp.path().join("downloads/hello-0.1.0.sbpkg");
    let got = client
        .download("hello", &line.version, &dest, &mut |_, _| {})
        .unwrap();
    let verified = switchboard_host::verify_package_file(
        &got.path,
        &TrustStore::new(),
        &UnpackLimits::default(),
        None,
    )
    .unwrap();
    assert_eq!(verified.package().trust, TrustLevel::SelfSigned);
    assert_eq!(
        verified.package().signer.as_deref(),
        Some(line.signer.as_str())
    );
}

#[test]
fn a_publisher_key_the_registry_vouches_for_makes_releases_verified() {
    let mut init = InitOptions::default();
    init.publisher_keys = vec![PathBuf::from("the author's key")];
    let f = fixture_with(init);
    let report = f.publish(&f.signed_hello("a")).unwrap();
    assert_eq!(report.line.trust, TrustLevel::Verified);
}

#[test]
fn an_unsigned_package_is_refused() {
    let f = fixture();
    let dir = f.tmp.path().join("u");
    std::fs::create_dir_all(&dir).unwrap();
    let package = example_package("hello", &dir);
    let e = f.publish(&package).unwrap_err();
    assert_eq!(code(&e), "SB1335", "{e}");
    assert!(f.client().names().unwrap().is_empty());
}

#[test]
fn a_tampered_package_is_refused_with_the_hosts_reason() {
    let f = fixture();
    let package = f.signed_hello("t");
    repack(&package, |files| {
        files.insert("README.md".into(), b"# not what was signed\n".to_vec());
    });
    let e = f.publish(&package).unwrap_err();
    assert_eq!(code(&e), "SB1334", "{e}");
    let message = e.to_string();
    assert!(
        message.contains("by a host: [SB12"),
        "the host's code is named: {e}"
    );
    assert_eq!(message.matches("[SB12").count(), 1, "{e}");
    assert!(
        message.contains(&package.display().to_string()),
        "the caller's path, not the copy's: {e}"
    );
    assert!(std::fs::read_dir(f.registry.join("packages")).is_err());
}

#[test]
fn the_same_version_with_other_bytes_is_refused() {
    let f = fixture();
    f.publish(&f.signed_hello("a")).unwrap();
    // hello 0.1.0 again, validly pinned and signed, with another README.
    let dir = f.tmp.path().join("b");
    std::fs::create_dir_all(&dir).unwrap();
    let mut other = files("hello");
    other.insert("README.md".into(), b"# hello, changed\n".to_vec());
    let built = switchboard_host::package::build(&manifest("hello"), &other).unwrap();
    let package = write(&dir, &built.file_name, &built.bytes);
    sign(&package, &f.author_keys);
    let e = f.publish(&package).unwrap_err();
    assert_eq!(code(&e), "SB1336", "{e}");
}

#[test]
fn yank_deprecate_and_promote_reach_the_client() {
    let f = fixture();
    let mut options = PublishOptions::default();
    options.channel = Channel::Draft;
    publish::publish(
        &f.registry,
        &f.registry_keys,
        &f.signed_hello("a"),
        &options,
    )
    .unwrap();
    let v = semver::Version::new(0, 1, 0);
    let (dir, keys, exp) = (&f.registry, &f.registry_keys, &Expiries::default());

    let e = publish::yank(dir, keys, "hello", &v, " ", exp).unwrap_err();
    assert_eq!(code(&e), "SB1340", "a yank needs a reason: {e}");
    let e =
        publish::yank(dir, keys, "hello", &semver::Version::new(9, 0, 0), "x", exp).unwrap_err();
    assert_eq!(code(&e), "SB1339", "{e}");
    assert!(
        publish::yank(dir, keys, "hello", &v, "leaks memory", exp)
            .unwrap()
            .changed
    );
    let line = f.client().release("hello", &v).unwrap();
    assert_eq!(line.yanked.unwrap().reason, "leaks memory");
    assert!(
        publish::unyank(dir, keys, "hello", &v, exp)
            .unwrap()
            .changed
    );
    assert!(
        !publish::unyank(dir, keys, "hello", &v, exp)
            .unwrap()
            .changed
    );

    assert!(
        publish::promote(dir, keys, "hello", &v, Channel::Beta, exp)
            .unwrap()
            .changed
    );
    assert!(
        publish::promote(dir, keys, "hello", &v, Channel::Ga, exp)
            .unwrap()
            .changed
    );
    let e = publish::promote(dir, keys, "hello", &v, Channel::Beta, exp).unwrap_err();
    assert_eq!(code(&e), "SB1340", "channels only move forward: {e}");

    let e = publish::deprecate(dir, keys, "hello", Some("nothing-here"), exp).unwrap_err();
    assert_eq!(code(&e), "SB1340", "{e}");
    assert!(
        publish::deprecate(dir, keys, "hello", None, exp)
            .unwrap()
            .changed
    );
    let line = f.client().release("hello", &v).unwrap();
    assert_eq!(line.channel, Channel::Ga);
    assert!(line.yanked.is_none());
    assert_eq!(line.deprecated.unwrap().successor, None);
}

#[test]
fn registry_init_and_publish_refusals() {
    let f = fixture();
    let fresh = f.tmp.path().join("fresh");
    // Keys inside the registry, also when reached through a symbolic link.
    let e = publish::init(&fresh, &fresh.join("keys"), &InitOptions::default()).unwrap_err();
    assert_eq!(code(&e), "SB1330", "{e}");
    #[cfg(unix)]
    {
        std::fs::create_dir_all(&fresh).unwrap();
        let link = f.tmp.path().join("link");
        std::os::unix::fs::symlink(&fresh, &link).unwrap();
        let e = publish::init(&fresh, &link.join("keys"), &InitOptions::default()).unwrap_err();
        assert_eq!(code(&e), "SB1330", "{e}");
    }
    // Over an existing registry.
    let e = publish::init(
        &f.registry,
        &f.tmp.path().join("k2"),
        &InitOptions::default(),
    )
    .unwrap_err();
    assert_eq!(code(&e), "SB1331", "{e}");
    // Another registry's keys.
    let other = f.tmp.path().join("other");
    publish::init(
        &other,
        &f.tmp.path().join("other-keys"),
        &InitOptions::default(),
    )
    .unwrap();
    let package = f.signed_hello("a");
    let e = publish::publish(
        &f.registry,
        &f.tmp.path().join("other-keys"),
        &package,
        &PublishOptions::default(),
    )
    .unwrap_err();
    assert_eq!(code(&e), "SB1333", "{e}");
    // A lock held by another command.
    std::fs::write(f.registry.join(publish::LOCK_FILE), b"").unwrap();
    let e = f.publish(&package).unwrap_err();
    assert_eq!(code(&e), "SB1337", "{e}");
    std::fs::remove_file(f.registry.join(publish::LOCK_FILE)).unwrap();
    f.publish(&package).unwrap();
    assert!(
        !f.registry.join(publish::LOCK_FILE).exists(),
        "the lock is released"
    );
}
