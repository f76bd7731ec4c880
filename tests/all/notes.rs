//! The four author examples (SPEC S10.2) in one real host: `notes` and `notes-search`
//! (internal: signed by the product's key and certified by its registry), `notes-export`
//! (community, verified: the host trusts its author's key) and `notes-reminder` (community,
//! self-signed), installed from a directory source with their dependencies resolved, `notes`
//! updated from 0.1 to 0.2 with its data migration run on 0.1's data, then events, services,
//! configuration and the extension point working across them.
//!
//! The two `notes` releases are one build at two versions (`releases::release` patches the
//! embedded version): 0.1's code is not kept, as in a real project's history, so the test
//! writes what 0.1 stored — the note text under `note/TITLE` — into the host's KV store for
//! `notes`, as 0.1 left it, before the update.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver};
use switchboard_host::bus::{Envelope, Mode, SubscribeOptions};
use switchboard_host::caps::{Approval, Scope};
use switchboard_host::extend::PointKind;
use switchboard_host::install::{FileSource, InstallOptions, InstallRequest};
use switchboard_host::package::{self, TrustLevel};
use switchboard_host::Host;
use switchboard_tests::packages::{keys, public_key};
use switchboard_tests::releases::{self, install_lock};

/// Countersigns `pkg`'s signature with the registry key in `registry`: writes `PKG.cert`.
fn certify(pkg: &Path, registry: &Path, name: &str, version: &str) {
    let sig_file = std::fs::read(format!("{}.minisig", pkg.display())).unwrap();
    let sk_text = std::fs::read_to_string(registry.join("switchboard.key")).unwrap();
    let sk = minisign::SecretKeyBox::from_string(&sk_text)
        .unwrap()
        .into_unencrypted_secret_key()
        .unwrap();
    let pk = minisign::PublicKey::from_secret_key(&sk).unwrap();
    let comment = package::certification_comment(name, version, &sig_file);
    let cert = minisign::sign(Some(&pk), &sk, sig_file.as_slice(), Some(&comment), None).unwrap();
    std::fs::write(format!("{}.cert", pkg.display()), cert.to_string()).unwrap();
}

fn events(host: &Host, pattern: &str) -> Receiver<Envelope> {
    let (tx, rx) = unbounded();
    host.bus()
        .subscribe(
            pattern,
            SubscribeOptions::new().mode(Mode::Inline),
            move |e| {
                let _ = tx.send(e.clone());
                Ok(())
            },
        )
        .unwrap();
    rx
}

/// The next event's payload as a string (waits for the event; the bound only stops a broken
/// test from hanging).
fn next_title(rx: &Receiver<Envelope>) -> String {
    let e = rx.recv_timeout(Duration::from_secs(60)).expect("an event");
    switchboard_sdk::decode::<String>(e.payload()).unwrap()
}

fn call<Req: switchboard_sdk::Message, Resp: switchboard_sdk::Message>(
    host: &Host,
    plugin: &str,
    command: &str,
    req: &Req,
) -> Resp {
    host.command::<Req, Resp>(plugin, command)
        .unwrap()
        .call(req)
        .unwrap_or_else(|e| panic!("{plugin}.{command}: {e}"))
}

#[test]
fn the_four_notes_plugins_install_together_resolve_and_migrate_notes_from_0_1() {
    let _g = install_lock();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mkdir = |p: &str| {
        let d = root.join(p);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let product = keys(&mkdir("product"));
    let registry = keys(&mkdir("registry"));
    let author_a = keys(&mkdir("author-a"));
    let author_b = keys(&mkdir("author-b"));
    let built = root.join("built");
    let release = |name: &str, version: &str, key: &Path| -> PathBuf {
        releases::example(name, version, &built, key, |_| {})
    };
    // Internal: the product's signature, certified by its registry.
    let notes_01 = release("notes", "0.1.0", &product);
    let notes_02 = release("notes", "0.2.0", &product);
    let search = release("notes-search", "0.1.0", &product);
    for (p, n, v) in [
        (&notes_01, "notes", "0.1.0"),
        (&notes_02, "notes", "0.2.0"),
        (&search, "notes-search", "0.1.0"),
    ] {
        certify(p, &registry, n, v);
    }
    // Community: one author the host trusts, one it does not know.
    let export = release("notes-export", "0.1.0", &author_a);
    let reminder = release("notes-reminder", "0.1.0", &author_b);
    let all = [&notes_01, &notes_02, &search, &export, &reminder];
    let source = releases::directory(&root.join("source"), &all.map(PathBuf::as_path));
    for p in [&notes_01, &notes_02, &search] {
        let cert = format!("{}.cert", p.display());
        let name = Path::new(&cert).file_name().unwrap().to_owned();
        std::fs::copy(&cert, source.join(name)).unwrap();
    }

    let mut b = Host::builder();
    b.data_dir(root.join("data"))
        .host_api("switchboard-demo", "0.1.0")
        .trust(public_key(&product))
        .trust(public_key(&author_a))
        .trust_registry(public_key(&registry))
        // A reminder is due at once here; the unit tests move a fake clock instead.
        .config_vars([("SWITCHBOARD_NOTES_REMINDER_DELAY_SECS", "0")])
        .approver(|_: &switchboard_host::caps::ApprovalRequest<'_>| {
            Approval::Allow(Scope::Session)
        });
    let host = b.build().unwrap();
    // The point notes-export contributes to: declared before anything loads.
    let render = host
        .extension_point::<String, String>("notes.render", PointKind::Filter)
        .unwrap();
    let mut installer = host.installer();
    installer.source(FileSource::open(&source).unwrap());
    let req = |t: &str| -> InstallRequest { t.parse().unwrap() };

    // 1. notes 0.1, and the data 0.1 kept: text under `note/TITLE`.
    installer
        .install(&[req("notes@=0.1.0")], &InstallOptions::new())
        .unwrap();
    assert_eq!(host.plugin("notes").unwrap().version(), "0.1.0");
    host.kv("notes")
        .put("note/Pantry", b"Pantry\nrice, milk powder")
        .unwrap();

    // 2. Update to 0.2: the declared migration runs before 0.2 starts.
    let updated = installer
        .update(&["notes".to_string()], &InstallOptions::new())
        .unwrap();
    assert_eq!(updated.changes.len(), 1, "{:?}", updated.changes);
    assert_eq!(host.plugin("notes").unwrap().version(), "0.2.0");
    assert_eq!(host.kv("notes").get("note/Pantry").unwrap(), None);
    let text: String = call(&host, "notes", "get", &"Pantry".to_string());
    assert_eq!(text, "Pantry\nrice, milk powder");
    let tags: String = call(&host, "notes", "tags", &"Pantry".to_string());
    assert_eq!(tags, "migrated");

    // 3. The two community plugins by name: notes-export brings notes-search (its second
    //    dependency), and the order is dependencies first.
    let report = installer
        .install(
            &[req("notes-export"), req("notes-reminder")],
            &InstallOptions::new(),
        )
        .unwrap();
    let g = installer.current().unwrap().unwrap();
    let graph = g.graph().unwrap();
    let order: Vec<String> = graph.load_order().iter().map(|o| o.to_string()).collect();
    let at = |n: &str| order.iter().position(|o| o == n).unwrap();
    assert!(at("notes") < at("notes-search"), "{order:?}");
    assert!(at("notes-search") < at("notes-export"), "{order:?}");
    assert!(at("notes") < at("notes-reminder"), "{order:?}");
    assert!(
        !g.plugin("notes-search").unwrap().requested,
        "came as a dependency: {:?}",
        report.changes
    );
    let mut search_deps = g
        .lock()
        .unwrap()
        .get("notes-export")
        .unwrap()
        .dependencies
        .clone();
    search_deps.sort();
    assert_eq!(search_deps, ["notes", "notes-search"]);

    // Trust, as each was signed.
    let trust = |n: &str| host.plugin(n).unwrap().trust();
    assert_eq!(trust("notes"), TrustLevel::Certified);
    assert_eq!(trust("notes-search"), TrustLevel::Certified);
    assert_eq!(trust("notes-export"), TrustLevel::Verified);
    assert_eq!(trust("notes-reminder"), TrustLevel::SelfSigned);

    // 4. Events and services across plugins: a saved note is announced, notes-search hears
    //    it, reads it through the `notes` service and announces it indexed.
    let indexed = events(&host, "plugin.notes-search.indexed");
    let _: String = call(
        &host,
        "notes",
        "save",
        &"Groceries\nmilk, bread".to_string(),
    );
    assert_eq!(next_title(&indexed), "Groceries");
    let found: String = call(&host, "notes-search", "search", &"milk".to_string());
    assert_eq!(found, "Groceries", "the migrated note is not indexed yet");
    // The migrated note joins through `reindex` (the `titles` method of `notes`).
    let n: u64 = call(&host, "notes-search", "reindex", &());
    assert_eq!(n, 2);
    let found: String = call(&host, "notes-search", "search", &"milk".to_string());
    assert_eq!(found, "Groceries\nPantry");

    // notes-export through both services, with its configured heading level.
    let doc: String = call(&host, "notes-export", "export", &"milk".to_string());
    assert_eq!(
        doc,
        "## Groceries\n\nmilk, bread\n\n## Pantry\n\nrice, milk powder\n"
    );
    // ... and on the host's extension point.
    assert_eq!(
        render.filter("Title\nbody".to_string()).unwrap(),
        "# Title\n\nbody\n"
    );

    // notes-reminder: a reminder about an existing note, due at once (delay 0 by variable).
    let due = events(&host, "plugin.notes-reminder.due");
    let _: u64 = call(&host, "notes-reminder", "remind", &"Pantry".to_string());
    let n: u64 = call(&host, "notes-reminder", "due", &());
    assert_eq!(n, 1);
    assert_eq!(next_title(&due), "Pantry");
    let missing = host
        .command::<String, u64>("notes-reminder", "remind")
        .unwrap()
        .call(&"Nothing".to_string())
        .unwrap_err();
    assert!(missing.to_string().contains("Nothing"), "{missing}");

    // The secret notes keeps signs a link and never leaves it.
    let _: () = call(&host, "notes", "set_share_key", &"s3cret".to_string());
    let link: String = call(&host, "notes", "share", &"Pantry".to_string());
    assert!(link.starts_with("notes://Pantry#") && !link.contains("s3cret"));
}

/// `switchboard test examples/NAME` passes for each of the four: the library loads into a
/// real host offering the host API its `plugin.toml` requires and its `[test]` calls answer
/// as written — `notes-export`, whose hook needs the `notes.render` point, is checked up to
/// it and reported not started. (Their unit tests run with the workspace's: `unit_tests`
/// off here.)
#[test]
fn switchboard_test_passes_for_each_notes_example() {
    let root = switchboard_cli::examples::workspace_root();
    for name in switchboard_cli::examples::NOTES_PLUGINS {
        let mut out = Vec::new();
        let report = switchboard_cli::smoke::run(
            &switchboard_cli::smoke::TestOptions {
                crate_dir: root.join("examples").join(name),
                unit_tests: false,
                target_dir: Some(root.join("target").join("examples")),
            },
            &mut out,
        )
        .unwrap_or_else(|e| panic!("{name}: {e:#}\n{}", String::from_utf8_lossy(&out)));
        let text = String::from_utf8_lossy(&out);
        assert_eq!(report.failed(), 0, "{name}: {text}");
        if *name == "notes-export" {
            let why = report.not_started.as_deref().unwrap_or_default();
            assert!(why.contains("notes.render"), "{text}");
        } else {
            assert!(report.not_started.is_none(), "{name}: {text}");
            assert!(!report.calls.is_empty(), "{name}: {text}");
        }
    }
}
