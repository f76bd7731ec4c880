//! Unit tests of the install pieces that need no plugin code: requests, sources, the package
//! store, generations and the flip, the journal, the capability diff, the error codes. The
//! operations themselves are tested end to end over real signed packages (`tests/all/install*`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use semver::Version;
use switchboard_sdk::manifest::{Format, Manifest};

use super::generation::{flip, write_generation};
use super::operation::diff_changes;
use super::package_store::{write_atomic, PackageStore};
use super::source::Sources;
use super::*;
use crate::package::{self, TrustLevel};
use crate::resolve::{Index, MemoryIndex, Release};
use crate::store::Store;

fn v(s: &str) -> Version {
    s.parse().unwrap()
}

/// A package of `name@version` with `deps` (name → range) and a fake library: enough for
/// the index, which reads manifests only.
fn package(dir: &Path, name: &str, version: &str, deps: &[(&str, &str)]) -> std::path::PathBuf {
    let mut text = format!("name = \"{name}\"\nversion = \"{version}\"\n");
    if !deps.is_empty() {
        text.push_str("[requires.dependencies]\n");
        for (d, r) in deps {
            text.push_str(&format!("{d} = \"{r}\"\n"));
        }
    }
    let manifest = Manifest::parse(&text, Format::Toml).unwrap();
    let mut files = BTreeMap::new();
    files.insert(
        format!("lib/{}/lib{name}.so", crate::current_target()),
        format!("not really {name} {version}").into_bytes(),
    );
    let built = package::build(&manifest, &files).unwrap();
    let p = dir.join(&built.file_name);
    std::fs::write(&p, &built.bytes).unwrap();
    p
}

#[test]
fn requests_parse_as_names_ranges_or_files() {
    let r: InstallRequest = "hello".parse().unwrap();
    assert_eq!(r, InstallRequest::name("hello", semver::VersionReq::STAR));
    assert_eq!(r.to_string(), "hello");
    let r: InstallRequest = "hello@^1.2".parse().unwrap();
    assert_eq!(r.to_string(), "hello@^1.2");
    assert!(matches!(
        "x/hello-1.0.0.sbpkg".parse::<InstallRequest>().unwrap(),
        InstallRequest::File(_)
    ));
    assert!(matches!(
        "./plugins/hello".parse::<InstallRequest>().unwrap(),
        InstallRequest::File(_)
    ));
    for bad in ["hello@not a range", "..", "héllo", "", "hello world"] {
        let e = bad.parse::<InstallRequest>().unwrap_err();
        assert_eq!(e.code().to_string(), "SB1400", "{bad}: {e}");
    }
}

#[test]
fn a_directory_source_indexes_its_packages_from_their_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let a = package(dir.path(), "geo", "1.0.0", &[]);
    package(dir.path(), "geo", "1.1.0", &[]);
    package(dir.path(), "weather", "2.0.0", &[("geo", "^1.1")]);
    std::fs::write(dir.path().join("junk.sbpkg"), b"not a package").unwrap();
    std::fs::write(dir.path().join("README"), b"ignored").unwrap();
    let source = FileSource::open(dir.path()).unwrap();
    assert_eq!(source.label(), format!("file:{}", dir.path().display()));
    assert_eq!(source.skipped().len(), 1, "{:?}", source.skipped());
    let geo = source.index().releases("geo").unwrap().unwrap();
    assert_eq!(geo.len(), 2);
    let first = geo.iter().find(|r| r.version == v("1.0.0")).unwrap();
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(
        first.checksum,
        format!("sha256:{}", package::sha256_hex(&bytes))
    );
    let weather = source.index().releases("weather").unwrap().unwrap();
    assert_eq!(weather[0].dependencies[0].name, "geo");
    assert!(source.index().releases("nope").unwrap().is_none());

    // Fetching copies the package and its signature, reporting progress.
    std::fs::write(format!("{}.minisig", a.display()), b"sig").unwrap();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("geo.sbpkg");
    let mut seen = Vec::new();
    source
        .fetch("geo", &v("1.0.0"), &dest, &mut |done, total| {
            seen.push((done, total))
        })
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    assert_eq!(
        std::fs::read(out.path().join("geo.sbpkg.minisig")).unwrap(),
        b"sig"
    );
    assert_eq!(
        seen.last(),
        Some(&(bytes.len() as u64, Some(bytes.len() as u64)))
    );
    let e = source
        .fetch("geo", &v("9.9.9"), &dest, &mut |_, _| {})
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB1430", "{e}");
}

#[test]
fn a_single_file_that_is_no_package_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.sbpkg");
    std::fs::write(&p, b"nope").unwrap();
    let e = FileSource::open(&p).unwrap_err();
    assert_eq!(e.code().to_string(), "SB1433", "{e}");
    let e = FileSource::open(dir.path().join("missing")).unwrap_err();
    assert_eq!(e.code().to_string(), "SB1431", "{e}");
}

#[test]
fn sources_merge_in_priority_order_and_installed_releases_come_last() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    package(one.path(), "geo", "1.0.0", &[]);
    package(two.path(), "geo", "1.0.0", &[("other", "*")]);
    package(two.path(), "geo", "2.0.0", &[]);
    let (a, b) = (
        FileSource::open(one.path()).unwrap(),
        FileSource::open(two.path()).unwrap(),
    );
    let mut installed = MemoryIndex::new();
    installed.add("geo", Release::new(v("0.9.0"), "sha256:00"));
    let mut sources = Sources {
        sources: vec![&a, &b],
        installed: &installed,
        keep_installed: BTreeSet::new(),
    };
    let all = sources.releases("geo").unwrap().unwrap();
    let versions: BTreeSet<String> = all.iter().map(|r| r.version.to_string()).collect();
    assert_eq!(
        versions,
        ["0.9.0", "1.0.0", "2.0.0"].map(String::from).into()
    );
    // 1.0.0 is the first source's (no dependency).
    let one_oh = all.iter().find(|r| r.version == v("1.0.0")).unwrap();
    assert!(one_oh.dependencies.is_empty());
    assert_eq!(sources.provider("geo", &v("2.0.0")).unwrap().unwrap().0, 1);
    assert!(
        sources.provider("geo", &v("0.9.0")).unwrap().is_none(),
        "installed only"
    );
    // A plugin the operation is not about keeps its installed release for that version.
    let mut mine = MemoryIndex::new();
    mine.add("geo", Release::new(v("1.0.0"), "sha256:11"));
    sources.installed = &mine;
    sources.keep_installed.insert("geo".into());
    let all = sources.releases("geo").unwrap().unwrap();
    let one_oh = all.iter().find(|r| r.version == v("1.0.0")).unwrap();
    assert_eq!(one_oh.checksum, "sha256:11");
}

#[test]
fn the_package_store_is_content_addressed_idempotent_and_collects_what_nothing_needs() {
    let dir = tempfile::tempdir().unwrap();
    let store = PackageStore::new(dir.path());
    let op: OperationId = "op-1-2-3".parse().unwrap();
    let staging = store.staging_dir(&op).unwrap();
    let p = package(&staging, "geo", "1.0.0", &[]);
    std::fs::write(format!("{}.minisig", p.display()), b"sig").unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let hex = store.put(&p).unwrap();
    assert_eq!(hex, package::sha256_hex(&bytes));
    assert!(store.contains(&hex));
    assert!(dir
        .path()
        .join("packages")
        .join(format!("{hex}.minisig"))
        .is_file());
    // The same bytes again: kept, not duplicated.
    let again = package(&staging, "geo", "1.0.0", &[]);
    assert_eq!(store.put(&again).unwrap(), hex);
    assert_eq!(store.digests().unwrap(), std::slice::from_ref(&hex));
    assert_eq!(store.check("geo", "1.0.0", &hex).unwrap(), store.path(&hex));
    // A stored package whose bytes changed is refused.
    std::fs::write(store.path(&hex), b"tampered").unwrap();
    let e = store.check("geo", "1.0.0", &hex).unwrap_err();
    assert_eq!(e.code().to_string(), "SB1402", "{e}");
    // Collection keeps what is referenced and what a running operation staged.
    let other = package(&staging, "geo", "2.0.0", &[]);
    let other_hex = store.put(&other).unwrap();
    let keep: BTreeSet<String> = [other_hex.clone()].into();
    let removed = store.collect(&keep, std::slice::from_ref(&op)).unwrap();
    assert_eq!(removed, std::slice::from_ref(&hex));
    assert!(!dir
        .path()
        .join("packages")
        .join(format!("{hex}.minisig"))
        .exists());
    assert!(staging.exists(), "a running operation's staging stays");
    store.collect(&keep, &[]).unwrap();
    assert!(!staging.exists());
    assert_eq!(store.digests().unwrap(), [other_hex]);
}

#[test]
fn atomic_writes_leave_the_whole_file_and_no_temp() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sub/switchboard.lock");
    write_atomic(&p, b"one").unwrap();
    write_atomic(&p, b"two").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"two");
    assert_eq!(
        std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
        1
    );
}

fn generation(id: u64, plugins: &[(&str, &str)]) -> Generation {
    Generation {
        id: GenerationId(id),
        parent: (id > 1).then(|| GenerationId(id - 1)),
        operation: "op-a-b-1".parse().unwrap(),
        summary: format!("generation {id}"),
        created_at: crate::Timestamp::from_millis(1),
        plugins: plugins
            .iter()
            .map(|(n, ver)| GenerationPlugin {
                name: (*n).into(),
                version: v(ver),
                sha256: format!("{n}{ver}"),
                source: "file:/x".into(),
                trust: TrustLevel::Verified,
                signer: Some("KEY".into()),
                enabled: true,
                requested: true,
                dependencies: Vec::new(),
                optional_dependencies: Vec::new(),
                capabilities: vec!["kv".into()],
                grants: Vec::new(),
            })
            .collect(),
        lockfile: "version = 1\n".into(),
    }
}

#[test]
fn generations_round_trip_and_the_flip_is_a_compare_and_swap() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.current_generation_id().unwrap(), None);
    let one = generation(1, &[("hello", "0.1.0")]);
    let two = generation(2, &[("geo", "1.0.0"), ("hello", "0.2.0")]);
    let flip_to = |from: Option<u64>, to: Option<u64>| {
        store
            .with(|c| {
                let tx = c.transaction()?;
                let ok = flip(&tx, from.map(GenerationId), to.map(GenerationId))?;
                tx.commit()?;
                Ok(ok)
            })
            .unwrap()
    };
    store
        .with(|c| {
            let tx = c.transaction()?;
            write_generation(&tx, &one)?;
            write_generation(&tx, &two)?;
            // Written twice: replaced, not duplicated.
            write_generation(&tx, &two)?;
            tx.commit()?;
            Ok(())
        })
        .unwrap();
    assert_eq!(store.generation(GenerationId(2)).unwrap().unwrap(), two);
    assert_eq!(store.next_generation_id().unwrap(), GenerationId(3));
    assert!(flip_to(None, Some(1)));
    assert!(!flip_to(None, Some(2)), "1 is current, not none");
    assert!(!flip_to(Some(2), Some(1)));
    assert!(flip_to(Some(1), Some(2)));
    assert_eq!(
        store.current_generation_id().unwrap(),
        Some(GenerationId(2))
    );
    assert!(flip_to(Some(2), None));
    assert_eq!(store.current_generation_id().unwrap(), None);
    store.delete_generations(&[GenerationId(1)]).unwrap();
    assert_eq!(store.generation_ids().unwrap(), [GenerationId(2)]);
    assert!(store.generation(GenerationId(1)).unwrap().is_none());
}

#[test]
fn the_journal_records_each_phase_boundary_and_finds_unfinished_operations() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let op: OperationId = "op-1-1-1".parse().unwrap();
    store
        .journal_begin_operation(&op, OperationKind::Install, "hello", None)
        .unwrap();
    // Beginning again is harmless (a retried step).
    store
        .journal_begin_operation(&op, OperationKind::Install, "hello", None)
        .unwrap();
    for phase in [Phase::Download, Phase::Verify] {
        store
            .journal_step(&op, phase, "begin", &serde_json::json!({}))
            .unwrap();
        store
            .journal_step(&op, phase, "end", &serde_json::json!({}))
            .unwrap();
    }
    store
        .journal_set_target(&op, GenerationId(1), Some("/b"))
        .unwrap();
    assert_eq!(store.journal_running().unwrap(), std::slice::from_ref(&op));
    let r = store.journal_operation(&op).unwrap().unwrap();
    assert_eq!(r.phase, Phase::Verify);
    assert_eq!(r.status, OperationStatus::Running);
    assert_eq!(r.to_generation, Some(GenerationId(1)));
    assert_eq!(r.steps.len(), 4);
    assert_eq!(
        store.journal_data_backup(&op).unwrap().as_deref(),
        Some("/b")
    );
    store
        .journal_finish(&op, OperationStatus::Done, None)
        .unwrap();
    assert!(store.journal_running().unwrap().is_empty());
    assert_eq!(store.journal_recent(5).unwrap(), std::slice::from_ref(&op));
    assert_eq!(
        store.backup_leaving(GenerationId(1)).unwrap(),
        None,
        "it left none"
    );
    let outside = store.journal_backups_outside(&BTreeSet::new()).unwrap();
    assert_eq!(outside, ["/b"]);
}

#[test]
fn phases_kinds_and_ids_read_back_from_their_names() {
    for (i, p) in Phase::ALL.into_iter().enumerate() {
        assert_eq!(p.number() as usize, i + 1);
        assert_eq!(p.as_str().parse::<Phase>().unwrap(), p);
    }
    assert!("op-; DROP TABLE".parse::<OperationId>().is_err());
    let id = OperationId::new();
    assert_eq!(id.to_string().parse::<OperationId>().unwrap(), id);
    assert_ne!(OperationId::new(), OperationId::new());
}

#[test]
fn the_capability_diff_names_what_an_update_asks_for_anew() {
    let old = generation(1, &[("hello", "0.1.0"), ("geo", "1.0.0")]);
    let mut new = generation(2, &[("hello", "0.2.0")]).plugins;
    new[0].capabilities = vec!["kv".into(), "net.connect:example.com:443".into()];
    let changes = diff_changes(Some(&old), &new);
    let hello = changes.iter().find(|c| c.name == "hello").unwrap();
    assert_eq!(hello.new_capabilities, ["net.connect:example.com:443"]);
    assert!(hello.dropped_capabilities.is_empty());
    let geo = changes.iter().find(|c| c.name == "geo").unwrap();
    assert_eq!(geo.to, None, "removed");
}

#[test]
fn install_codes_stay_in_their_range_and_are_distinct() {
    let op = OperationId::new();
    let errors = [
        InstallError::BadRequest {
            text: String::new(),
            reason: String::new(),
        },
        InstallError::NotInSources {
            name: String::new(),
            sources: String::new(),
        },
        InstallError::ChecksumMismatch {
            name: String::new(),
            version: String::new(),
            expected: String::new(),
            found: String::new(),
        },
        InstallError::NotInstalled {
            name: String::new(),
        },
        InstallError::HasDependents {
            name: String::new(),
            dependents: Vec::new(),
        },
        InstallError::Downgrade {
            name: String::new(),
            installed: String::new(),
            requested: String::new(),
        },
        InstallError::HealthCheckFailed {
            operation: op.clone(),
            plugin: String::new(),
            health: String::new(),
            restored: GenerationId(1),
        },
        InstallError::RolledBack {
            operation: op,
            plugin: String::new(),
            restored: GenerationId(1),
            cause: Box::new(InstallError::NothingToRollBack.into()),
        },
        InstallError::NoSuchGeneration {
            id: GenerationId(1),
        },
        InstallError::NothingToRollBack,
        InstallError::Busy { operation: None },
        InstallError::Io {
            what: "read",
            path: "x".into(),
            reason: String::new(),
        },
        InstallError::Failpoint {
            name: String::new(),
        },
        InstallError::Corrupt {
            what: "x",
            value: String::new(),
        },
        InstallError::PlanEnded {
            operation: OperationId::new(),
        },
    ];
    let mut seen = BTreeSet::new();
    for e in &errors {
        let n = e.code().to_string();
        assert!(("SB1400".."SB1430").contains(&n.as_str()), "{n}");
        assert!(seen.insert(n.clone()), "{n} twice");
        assert!(!e.next_step().is_empty());
        let umbrella = crate::Error::from(InstallError::NothingToRollBack);
        assert!(umbrella.to_string().starts_with("[SB1409]"));
    }
    let sources = [
        SourceError::NotFound {
            source_label: String::new(),
            name: String::new(),
            version: String::new(),
        },
        SourceError::Io {
            source_label: String::new(),
            what: "read",
            path: "x".into(),
            reason: String::new(),
        },
        SourceError::Integrity {
            source_label: String::new(),
            reason: String::new(),
        },
        SourceError::Other {
            source_label: String::new(),
            message: String::new(),
            next_step: "n".into(),
        },
    ];
    for e in &sources {
        let n = e.code().to_string();
        assert!(("SB1430".."SB1440").contains(&n.as_str()), "{n}");
        assert!(seen.insert(n.clone()), "{n} twice");
    }
}
