//! The audit log and plugin records end to end: real loads, real SQLite files.

use switchboard_host::caps::{Policy, Scope};
use switchboard_host::{AuditFilter, AuditKind, Store};
use switchboard_tests::{host_with, library};

#[test]
fn a_load_and_its_lifecycle_are_audited_in_order_and_the_chain_verifies() {
    let (host, _d) = host_with(|b, _| {
        let mut p = Policy::new();
        p.allow("kv".parse().unwrap());
        b.policy(p);
    });
    let h = host.load_unsigned(library("hello")).unwrap();
    h.start().unwrap();
    h.stop().unwrap();
    host.remove("hello").unwrap();
    let rows = host
        .audit()
        .query(&AuditFilter::new().plugin("hello"))
        .unwrap();
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    let first_state = kinds.iter().position(|k| *k == "state").unwrap();
    assert!(kinds[..first_state].contains(&"grant"));
    assert!(kinds[..first_state].contains(&"deny"));
    assert!(kinds[..first_state].contains(&"load"));
    let states: Vec<&str> = rows
        .iter()
        .filter(|r| r.kind == "state")
        .map(|r| r.subject.as_str())
        .collect();
    assert_eq!(
        states,
        ["loaded", "starting", "active", "stopping", "stopped", "removed"]
    );
    assert!(host.audit().verify().unwrap().is_intact());
}

#[test]
fn the_plugin_record_shows_requested_granted_and_denied() {
    let (host, d) = host_with(|b, _| {
        let mut p = Policy::new();
        p.allow("kv".parse().unwrap());
        b.policy(p);
    });
    let h = host.load_unsigned(library("hello")).unwrap();
    h.start().unwrap();
    host.grant("hello", "secrets".parse().unwrap(), Scope::Once)
        .unwrap_err(); // not requested
    host.grant(
        "hello",
        "env:HELLO_MODE".parse().unwrap(),
        Scope::Until(switchboard_host::Timestamp::now().plus(std::time::Duration::from_secs(60))),
    )
    .unwrap();
    drop(h);
    // Another process's view: the CLI opens the database on its own.
    let store = Store::open_existing(&d.path().join("data")).unwrap();
    let r = store.plugin("hello").unwrap();
    assert_eq!(r.state, "active");
    assert_eq!(r.trust, "unsigned");
    assert!(r.requested.contains(&"fs.read".to_string()));
    assert!(r
        .granted
        .iter()
        .any(|g| g.capability == "kv" && g.scope == "session"));
    let env = r
        .granted
        .iter()
        .find(|g| g.capability == "env:HELLO_MODE")
        .unwrap();
    assert_eq!(env.scope, "until");
    assert!(env.expires_at.is_some());
    assert!(r.denied.iter().any(|x| x.capability == "fs.read"));
    assert_eq!(store.plugin_names().unwrap(), ["hello"]);
    let e = store.plugin("nope").unwrap_err();
    assert_eq!(e.code().to_string(), "SB0608");
}

#[test]
fn tampering_with_the_database_file_is_detected() {
    let (host, d) = host_with(|_, _| {});
    host.load_unsigned(library("hello"))
        .unwrap()
        .start()
        .unwrap();
    let total = host.audit().len().unwrap();
    assert!(total > 5);
    drop(host);
    let db = d.path().join("data").join(switchboard_host::DATABASE_FILE);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "DROP TRIGGER audit_no_update;
         UPDATE audit SET subject = 'tampered' WHERE id = 3;",
    )
    .unwrap();
    drop(conn);
    let store = Store::open_existing(&d.path().join("data")).unwrap();
    let report = store.audit().verify().unwrap();
    assert_eq!(report.broken.as_ref().map(|b| b.id), Some(3), "{report:?}");
}

#[test]
fn a_directory_without_a_database_is_refused_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let e = Store::open_existing(dir.path()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0605");
    assert!(!dir.path().join(switchboard_host::DATABASE_FILE).exists());
}

#[test]
fn queries_filter_by_kind_across_plugins() {
    let (host, _d) = host_with(|_, _| {});
    host.load_unsigned(library("hello")).unwrap();
    host.load_unsigned(library("wordcount")).unwrap();
    let loads = host
        .audit()
        .query(&AuditFilter::new().kind(AuditKind::Load))
        .unwrap();
    let plugins: Vec<&str> = loads.iter().map(|r| r.plugin.as_str()).collect();
    assert_eq!(plugins, ["hello", "wordcount"]);
}

/// Builds a host on `data` on another thread; `None` if it has not finished within a minute
/// (the failure this guards against is a build that waits on a FIFO forever).
fn build_within_a_minute(data: &std::path::Path) -> Option<Result<(), String>> {
    let data = data.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let built = switchboard_host::Host::builder()
            .data_dir(&data)
            .build()
            .map(drop)
            .map_err(|e| e.code().to_string());
        let _ = tx.send(built);
    });
    rx.recv_timeout(std::time::Duration::from_secs(60)).ok()
}

#[cfg(unix)]
#[test]
fn a_fifo_or_huge_key_file_in_the_data_dir_is_a_coded_refusal_not_a_hang() {
    for (file, code) in [("audit.key", "SB0620"), ("master.key", "SB0710")] {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join(file);
        let status = std::process::Command::new("mkfifo")
            .arg(&key)
            .status()
            .unwrap();
        assert!(status.success());
        let built = build_within_a_minute(dir.path()).expect("the build hung on a FIFO key");
        assert_eq!(built, Err(code.to_owned()), "{file} as a FIFO");

        std::fs::remove_file(&key).unwrap();
        std::fs::File::create(&key)
            .unwrap()
            .set_len(4 << 30)
            .unwrap();
        let built = build_within_a_minute(dir.path()).expect("the build hung");
        assert_eq!(built, Err(code.to_owned()), "{file} of 4 GiB");
    }
}
