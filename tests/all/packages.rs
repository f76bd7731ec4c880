//! Hostile packages: every one refused with its own code before any plugin code runs (the
//! canary's library constructor would write a marker file), and the signed round trip works.

use std::path::{Path, PathBuf};

use switchboard_host::package::{self, TrustLevel, UnpackLimits};
use switchboard_host::{Error, Host, Policy};
use switchboard_tests::packages::{
    example_package, files, keys, manifest, public_key, raw_archive, repack, sign, write, Raw,
};
use switchboard_tests::{arm_canary, canary_lock};

fn host_with(dir: &Path, setup: impl FnOnce(&mut switchboard_host::HostBuilder)) -> Host {
    let mut b = Host::builder();
    b.data_dir(dir.join("data"))
        .host_api("switchboard-demo", "0.1.0");
    setup(&mut b);
    b.build().unwrap()
}

/// A signed canary package in a temp dir, its keys, and the marker path (armed).
struct Fixture {
    dir: tempfile::TempDir,
    package: PathBuf,
    keys: PathBuf,
    marker: PathBuf,
}

fn signed_canary() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let marker = arm_canary(dir.path());
    let package = example_package("canary", dir.path());
    let keys = keys(dir.path());
    sign(&package, &keys);
    Fixture {
        dir,
        package,
        keys,
        marker,
    }
}

/// Loads `package` and asserts it is refused with `code` and that no plugin code ran.
fn refused(host: &Host, package: &Path, marker: &Path, code: &str) -> Error {
    let e = match host.load_package(package) {
        Ok(h) => panic!("expected {code}, loaded {}", h.name()),
        Err(e) => e,
    };
    assert_eq!(e.code().to_string(), code, "{e}");
    assert!(!e.next_step().is_empty());
    assert!(
        !marker.exists(),
        "plugin code ran before the refusal ({code})"
    );
    e
}

fn flip_byte(bytes: &mut [u8], at: usize) {
    bytes[at] ^= 0x01;
}

#[test]
fn control_a_signed_package_loads_and_its_code_runs() {
    let _g = canary_lock();
    let f = signed_canary();
    let host = host_with(f.dir.path(), |_| {});
    let h = host.load_package(&f.package).unwrap();
    assert_eq!(h.trust(), TrustLevel::SelfSigned);
    assert!(h.signer().is_some());
    assert!(
        f.marker.exists(),
        "loading runs the constructor: the marker mechanism works"
    );
    h.start().unwrap();
    assert_eq!(
        h.command::<(), String>("sing").unwrap().call(&()).unwrap(),
        "tweet"
    );
}

#[test]
fn a_trusted_key_makes_it_verified() {
    let _g = canary_lock();
    let f = signed_canary();
    let pk = public_key(&f.keys);
    let host = host_with(f.dir.path(), |b| {
        let mut p = Policy::new();
        p.min_trust(TrustLevel::Verified);
        b.trust(pk).policy(p);
    });
    assert_eq!(
        host.load_package(&f.package).unwrap().trust(),
        TrustLevel::Verified
    );
}

#[test]
fn flipped_byte_in_the_library() {
    let _g = canary_lock();
    let f = signed_canary();
    repack(&f.package, |files| {
        let lib = files
            .keys()
            .find(|k| k.starts_with("lib/"))
            .cloned()
            .unwrap();
        let bytes = files.get_mut(&lib).unwrap();
        let at = bytes.len() / 2;
        flip_byte(bytes, at);
    });
    refused(
        &host_with(f.dir.path(), |_| {}),
        &f.package,
        &f.marker,
        "SB1203",
    );
}

#[test]
fn flipped_byte_in_the_manifest() {
    let _g = canary_lock();
    let f = signed_canary();
    repack(&f.package, |files| {
        let m = files.get_mut("plugin.toml").unwrap();
        let at = m.iter().position(|&b| b == b'x').unwrap_or(10);
        flip_byte(m, at);
    });
    refused(
        &host_with(f.dir.path(), |_| {}),
        &f.package,
        &f.marker,
        "SB1202",
    );
}

#[test]
fn flipped_byte_in_the_signature() {
    let _g = canary_lock();
    let f = signed_canary();
    let sig_path = PathBuf::from(format!("{}.minisig", f.package.display()));
    let text = std::fs::read_to_string(&sig_path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Line 2 is the signature; change one base64 character.
    let mut sig: Vec<char> = lines[1].chars().collect();
    sig[20] = if sig[20] == 'A' { 'B' } else { 'A' };
    lines[1] = sig.into_iter().collect();
    std::fs::write(&sig_path, lines.join("\n") + "\n").unwrap();
    refused(
        &host_with(f.dir.path(), |_| {}),
        &f.package,
        &f.marker,
        "SB1202",
    );
}

#[test]
fn tampered_trusted_comment() {
    let _g = canary_lock();
    let f = signed_canary();
    let sig_path = PathBuf::from(format!("{}.minisig", f.package.display()));
    let text = std::fs::read_to_string(&sig_path)
        .unwrap()
        .replace("name=canary", "name=canarz");
    std::fs::write(&sig_path, text).unwrap();
    refused(
        &host_with(f.dir.path(), |_| {}),
        &f.package,
        &f.marker,
        "SB1202",
    );
}

#[test]
fn untrusted_key_under_a_policy_requiring_verified() {
    let _g = canary_lock();
    let f = signed_canary();
    let host = host_with(f.dir.path(), |b| {
        let mut p = Policy::new();
        p.min_trust(TrustLevel::Verified);
        b.policy(p);
    });
    let e = refused(&host, &f.package, &f.marker, "SB0420");
    assert!(e.to_string().contains("self-signed"), "{e}");
    // Signed already: the step is to trust the signer's key, not to sign again.
    let next = e.next_step();
    assert!(next.contains("HostBuilder::trust"), "{next}");
    assert!(!next.contains("switchboard sign"), "{next}");
    // Or run code below the bar isolated: a real alternative now that isolated mode exists.
    assert!(next.contains("isolate_below"), "{next}");
}

#[test]
fn signature_from_another_release_replayed() {
    // A valid signature of hello 0.1.0 attached to the canary package.
    let _g = canary_lock();
    let f = signed_canary();
    let other = example_package("hello", &f.dir.path().join("other").tap_mkdir());
    let other_sig = sign(&other, &f.keys);
    std::fs::copy(other_sig, format!("{}.minisig", f.package.display())).unwrap();
    refused(
        &host_with(f.dir.path(), |_| {}),
        &f.package,
        &f.marker,
        "SB1202",
    );
}

#[test]
fn release_renamed_to_a_newer_version_is_a_downgrade() {
    // A valid, signed 0.1.0 offered as 0.1.1.
    let _g = canary_lock();
    let f = signed_canary();
    let newer = f.dir.path().join("canary-0.1.1.sbpkg");
    std::fs::copy(&f.package, &newer).unwrap();
    std::fs::copy(
        format!("{}.minisig", f.package.display()),
        format!("{}.minisig", newer.display()),
    )
    .unwrap();
    refused(
        &host_with(f.dir.path(), |_| {}),
        &newer,
        &f.marker,
        "SB1205",
    );
}

#[test]
fn signature_whose_trusted_comment_names_no_release() {
    // Signed by the right key over the right bytes, but not bound to this release.
    let _g = canary_lock();
    let f = signed_canary();
    let bytes = std::fs::read(&f.package).unwrap();
    let (manifest_bytes, _) = package::read_manifest(&bytes, &UnpackLimits::default()).unwrap();
    let sk_text = std::fs::read_to_string(f.keys.join("switchboard.key")).unwrap();
    let sk = minisign::SecretKeyBox::from_string(&sk_text)
        .unwrap()
        .into_unencrypted_secret_key()
        .unwrap();
    let pk = minisign::PublicKey::from_secret_key(&sk).unwrap();
    let untrusted = format!("x {}{}", package::PUBLIC_KEY_MARK, pk.to_base64());
    let sig = minisign::sign(
        Some(&pk),
        &sk,
        manifest_bytes.as_slice(),
        Some("timestamp:1"),
        Some(&untrusted),
    )
    .unwrap();
    std::fs::write(format!("{}.minisig", f.package.display()), sig.to_string()).unwrap();
    refused(
        &host_with(f.dir.path(), |_| {}),
        &f.package,
        &f.marker,
        "SB1205",
    );
}

#[test]
fn stripped_signature() {
    let _g = canary_lock();
    let f = signed_canary();
    std::fs::remove_file(format!("{}.minisig", f.package.display())).unwrap();
    refused(
        &host_with(f.dir.path(), |_| {}),
        &f.package,
        &f.marker,
        "SB1206",
    );
}

#[test]
fn manifest_omits_a_file_the_package_contains() {
    let _g = canary_lock();
    let f = signed_canary();
    repack(&f.package, |files| {
        files.insert("CHANGELOG.md".into(), b"surprise".to_vec());
    });
    refused(
        &host_with(f.dir.path(), |_| {}),
        &f.package,
        &f.marker,
        "SB1207",
    );
}

#[test]
fn pinned_file_missing() {
    let _g = canary_lock();
    let f = signed_canary();
    repack(&f.package, |files| {
        files.remove("README.md");
    });
    refused(
        &host_with(f.dir.path(), |_| {}),
        &f.package,
        &f.marker,
        "SB1215",
    );
}

#[test]
fn unexpected_file() {
    let _g = canary_lock();
    let f = signed_canary();
    repack(&f.package, |files| {
        files.insert("install.sh".into(), b"rm -rf /".to_vec());
    });
    refused(
        &host_with(f.dir.path(), |_| {}),
        &f.package,
        &f.marker,
        "SB1214",
    );
}

fn raw<'a>(path: &'a str, kind: tar::EntryType, data: &'a [u8]) -> Raw<'a> {
    Raw {
        path,
        kind,
        data,
        link: "",
    }
}

fn hostile(entries: &[Raw<'_>], code: &str) {
    let _g = canary_lock();
    let dir = tempfile::tempdir().unwrap();
    let marker = arm_canary(dir.path());
    let p = write(dir.path(), "canary-0.1.0.sbpkg", &raw_archive(entries));
    refused(&host_with(dir.path(), |_| {}), &p, &marker, code);
}

#[test]
fn path_traversal_entry() {
    hostile(
        &[raw("../../etc/evil", tar::EntryType::Regular, b"x")],
        "SB1208",
    );
}

#[test]
fn dot_segment_entry() {
    hostile(&[raw("lib/./x", tar::EntryType::Regular, b"x")], "SB1208");
}

#[test]
fn absolute_path_entry() {
    hostile(
        &[raw("/etc/passwd", tar::EntryType::Regular, b"x")],
        "SB1209",
    );
}

#[test]
fn symlink_entry() {
    let mut e = raw("README.md", tar::EntryType::Symlink, b"");
    e.link = "/etc/passwd";
    hostile(&[e], "SB1210");
}

#[test]
fn hardlink_entry() {
    let mut e = raw("README.md", tar::EntryType::Link, b"");
    e.link = "plugin.toml";
    hostile(&[e], "SB1210");
}

#[test]
fn device_entry() {
    hostile(&[raw("README.md", tar::EntryType::Char, b"")], "SB1217");
}

#[test]
fn fifo_entry() {
    hostile(&[raw("README.md", tar::EntryType::Fifo, b"")], "SB1217");
}

#[test]
fn directory_entry() {
    hostile(&[raw("lib", tar::EntryType::Directory, b"")], "SB1217");
}

#[test]
fn duplicate_entry() {
    hostile(
        &[
            raw("README.md", tar::EntryType::Regular, b"a"),
            raw("README.md", tar::EntryType::Regular, b"b"),
        ],
        "SB1211",
    );
}

#[test]
fn no_manifest() {
    hostile(&[raw("README.md", tar::EntryType::Regular, b"a")], "SB1218");
}

#[test]
fn not_a_package_at_all() {
    let _g = canary_lock();
    let dir = tempfile::tempdir().unwrap();
    let marker = arm_canary(dir.path());
    let p = write(
        dir.path(),
        "canary-0.1.0.sbpkg",
        b"PK\x03\x04 this is a zip, not ours",
    );
    refused(&host_with(dir.path(), |_| {}), &p, &marker, "SB1201");
}

#[test]
fn truncated_package() {
    let _g = canary_lock();
    let f = signed_canary();
    let bytes = std::fs::read(&f.package).unwrap();
    std::fs::write(&f.package, &bytes[..bytes.len() / 2]).unwrap();
    refused(
        &host_with(f.dir.path(), |_| {}),
        &f.package,
        &f.marker,
        "SB1201",
    );
}

#[test]
fn decompression_bomb_is_refused_without_inflating_it() {
    // A 1 GiB entry of zeros compresses to a few KiB; the header alone is enough to refuse it.
    let _g = canary_lock();
    let dir = tempfile::tempdir().unwrap();
    let marker = arm_canary(dir.path());
    let mut tar_bytes = Vec::new();
    {
        let mut h = tar::Header::new_gnu();
        h.set_path("README.md").unwrap();
        h.set_size(1 << 30);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        tar_bytes.extend_from_slice(h.as_bytes());
    }
    let mut enc = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    std::io::Write::write_all(&mut enc, &tar_bytes).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        std::io::Write::write_all(&mut enc, &zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(
        bomb.len() < 1 << 20,
        "the bomb is small: {} bytes",
        bomb.len()
    );
    let p = write(dir.path(), "canary-0.1.0.sbpkg", &bomb);
    refused(&host_with(dir.path(), |_| {}), &p, &marker, "SB1213");
}

#[test]
fn many_small_entries_past_the_total_cap() {
    let _g = canary_lock();
    let dir = tempfile::tempdir().unwrap();
    let marker = arm_canary(dir.path());
    let big = vec![0u8; 64 << 10];
    let entries: Vec<Raw<'_>> = ["README.md", "LICENSE", "CHANGELOG.md"]
        .iter()
        .map(|p| Raw {
            path: p,
            kind: tar::EntryType::Regular,
            data: &big,
            link: "",
        })
        .collect();
    let p = write(dir.path(), "canary-0.1.0.sbpkg", &raw_archive(&entries));
    let mut b = Host::builder();
    b.data_dir(dir.path().join("d"))
        .unpack_limits(UnpackLimits {
            max_entries: 64,
            max_entry_bytes: 1 << 20,
            max_total_bytes: 100 << 10,
            ..UnpackLimits::default()
        });
    refused(&b.build().unwrap(), &p, &marker, "SB1213");
}

#[test]
fn too_many_entries() {
    let names: Vec<String> = (0..100).map(|i| format!("lib/t/{i}")).collect();
    let entries: Vec<Raw<'_>> = names
        .iter()
        .map(|n| Raw {
            path: n,
            kind: tar::EntryType::Regular,
            data: b"x",
            link: "",
        })
        .collect();
    hostile(&entries, "SB1212");
}

#[test]
fn no_library_for_this_target() {
    let _g = canary_lock();
    let dir = tempfile::tempdir().unwrap();
    let marker = arm_canary(dir.path());
    let mut fs = files("canary");
    let lib = fs.keys().find(|k| k.starts_with("lib/")).cloned().unwrap();
    let bytes = fs.remove(&lib).unwrap();
    fs.insert("lib/riscv64gc-unknown-linux-gnu/libcanary.so".into(), bytes);
    let built = package::build(&manifest("canary"), &fs).unwrap();
    let p = write(dir.path(), &built.file_name, &built.bytes);
    let k = keys(dir.path());
    sign(&p, &k);
    refused(&host_with(dir.path(), |_| {}), &p, &marker, "SB1216");
}

#[test]
fn signer_not_in_allowed_signers() {
    let _g = canary_lock();
    let f = signed_canary();
    let host = host_with(f.dir.path(), |b| {
        let mut p = Policy::new();
        p.allow_signer("0000000000000000");
        b.policy(p);
    });
    let e = refused(&host, &f.package, &f.marker, "SB0421");
    assert!(
        e.to_string().contains("not among the allowed signers"),
        "the rule is named: {e}"
    );
}

#[test]
fn denied_plugin_name() {
    let _g = canary_lock();
    let f = signed_canary();
    let host = host_with(f.dir.path(), |b| {
        let mut p = Policy::new();
        p.deny_plugin("canary");
        b.policy(p);
    });
    let e = refused(&host, &f.package, &f.marker, "SB0421");
    assert!(e.to_string().contains("deny list"), "{e}");
}

#[test]
fn blocked_capability_is_not_granted() {
    let dir = tempfile::tempdir().unwrap();
    let built = package::build(&manifest("hello"), &files("hello")).unwrap();
    let p = write(dir.path(), &built.file_name, &built.bytes);
    sign(&p, &keys(dir.path()));
    let host = host_with(dir.path(), |b| {
        let mut p = Policy::new();
        p.allow("kv".parse().unwrap()).block("kv".parse().unwrap());
        b.policy(p);
    });
    // A blocked capability is refused as a grant, not as a load: the plugin runs without it.
    let h = host.load_package(&p).unwrap();
    assert!(h.grants().is_empty());
    assert!(
        h.denied().iter().any(|(c, _)| c.to_string() == "kv"),
        "{:?}",
        h.denied()
    );
}

#[test]
fn incompatible_host_api() {
    let _g = canary_lock();
    let dir = tempfile::tempdir().unwrap();
    let marker = arm_canary(dir.path());
    let built = package::build(&manifest("hello"), &files("hello")).unwrap();
    let p = write(dir.path(), &built.file_name, &built.bytes);
    sign(&p, &keys(dir.path()));
    let mut b = Host::builder();
    b.data_dir(dir.path().join("d"))
        .host_api("switchboard-demo", "2.0.0");
    let e = refused(&b.build().unwrap(), &p, &marker, "SB1102");
    assert!(e.to_string().contains(">=0.1.0, <1.0.0"), "{e}");
}

#[test]
fn package_manifest_and_library_disagree() {
    // The package says canary has a command the library does not.
    let _g = canary_lock();
    let dir = tempfile::tempdir().unwrap();
    let marker = arm_canary(dir.path());
    let mut m = manifest("canary");
    m.provides.commands[0].name = "chirp".into();
    let built = package::build(&m, &files("canary")).unwrap();
    let p = write(dir.path(), &built.file_name, &built.bytes);
    sign(&p, &keys(dir.path()));
    refused(&host_with(dir.path(), |_| {}), &p, &marker, "SB1104");
}

#[test]
fn invalid_manifest_inside_a_package() {
    let _g = canary_lock();
    let f = signed_canary();
    repack(&f.package, |files| {
        files.insert(
            "plugin.toml".into(),
            b"name = \"canary\"\nversion = \"zero\"\n".to_vec(),
        );
    });
    std::fs::remove_file(format!("{}.minisig", f.package.display())).unwrap();
    let mut b = Host::builder();
    b.data_dir(f.dir.path().join("d"));
    b.dangerous().load_unsigned_libraries();
    refused(&b.build().unwrap(), &f.package, &f.marker, "SB1223");
}

#[test]
fn bad_countersignature() {
    let _g = canary_lock();
    let f = signed_canary();
    let registry = keys(&f.dir.path().join("registry").tap_mkdir());
    // A "certification" by an untrusted key over the wrong bytes.
    std::fs::copy(
        format!("{}.minisig", f.package.display()),
        format!("{}.cert", f.package.display()),
    )
    .unwrap();
    let host = host_with(f.dir.path(), |b| {
        b.trust_registry(public_key(&registry));
    });
    refused(&host, &f.package, &f.marker, "SB1220");
}

#[test]
fn a_registry_countersignature_makes_it_certified() {
    let _g = canary_lock();
    let f = signed_canary();
    let registry = keys(&f.dir.path().join("registry").tap_mkdir());
    let sig_file = std::fs::read(format!("{}.minisig", f.package.display())).unwrap();
    let sk_text = std::fs::read_to_string(registry.join("switchboard.key")).unwrap();
    let sk = minisign::SecretKeyBox::from_string(&sk_text)
        .unwrap()
        .into_unencrypted_secret_key()
        .unwrap();
    let pk = minisign::PublicKey::from_secret_key(&sk).unwrap();
    let comment = package::certification_comment("canary", "0.1.0", &sig_file);
    let cert = minisign::sign(Some(&pk), &sk, sig_file.as_slice(), Some(&comment), None).unwrap();
    std::fs::write(format!("{}.cert", f.package.display()), cert.to_string()).unwrap();
    let host = host_with(f.dir.path(), |b| {
        let mut p = Policy::new();
        p.min_trust(TrustLevel::Certified);
        b.trust_registry(public_key(&registry)).policy(p);
    });
    assert_eq!(
        host.load_package(&f.package).unwrap().trust(),
        TrustLevel::Certified
    );
}

#[test]
fn library_swapped_on_disk_between_verify_and_load_the_verified_bytes_run() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(dir.path());
    let hello = example_package("hello", dir.path());
    sign(&hello, &k);
    let host = host_with(dir.path(), |_| {});
    let verified = host.verify_package(&hello).unwrap();
    // Swap the file for the wordcount package (renamed, re-signed) after verification.
    let wc_dir = dir.path().join("wc").tap_mkdir();
    let wc = example_package("wordcount", &wc_dir);
    std::fs::copy(&wc, &hello).unwrap();
    let h = host.load_verified(verified).unwrap();
    h.start().unwrap();
    assert_eq!(h.name(), "hello");
    let greet = h.command::<String, String>("greet").unwrap();
    assert_eq!(
        greet.call(&"Ada".into()).unwrap(),
        "Hello, Ada!",
        "the verified bytes ran"
    );
}

#[test]
fn packing_the_same_inputs_twice_gives_identical_bytes() {
    let a = package::build(&manifest("hello"), &files("hello")).unwrap();
    let b = package::build(&manifest("hello"), &files("hello")).unwrap();
    assert_eq!(a.bytes, b.bytes);
    assert_eq!(a.file_name, "hello-0.1.0.sbpkg");
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}
