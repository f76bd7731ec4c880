//! Plugin state end to end (issue 6): the KV store with quotas, transactions and CAS, secrets,
//! configuration and data migrations — on real SQLite databases in temporary directories,
//! through the host API and through the real `counter` cdylib, and across a child process
//! killed in the middle of a transaction.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};

use serde_json::json;
use switchboard_host::caps::Policy;
use switchboard_host::state::{
    resolve_config, CasOutcome, CommitBatch, CommitOutcome, ConfigInputs, ConfigSource, ConfigSpec,
    DataMigration, Expected, KvWrite, MasterKey, MigrationOutput, Quota, QuotaPolicy,
};
use switchboard_host::{AuditFilter, Host, HostBuilder, PluginHandle, StateError, Store};
use switchboard_sdk::manifest::{Format, Manifest};
use switchboard_tests::{host_with, library, reopen};

fn kv_policy() -> Policy {
    let mut p = kv_and_secrets_only();
    p.allow("config.read".parse().unwrap());
    p
}

fn kv_and_secrets_only() -> Policy {
    let mut p = Policy::new();
    p.allow("kv".parse().unwrap());
    p.allow("secrets".parse().unwrap());
    p
}

fn counter_manifest() -> Manifest {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/counter/plugin.toml"),
    )
    .unwrap();
    Manifest::parse(&text, Format::Toml).unwrap()
}

/// A host with `kv` and `secrets` allowed, set up further by `setup`.
fn state_host(setup: impl FnOnce(&mut HostBuilder, &Path)) -> (Host, tempfile::TempDir) {
    host_with(|b, root| {
        b.policy(kv_policy());
        setup(b, root);
    })
}

fn counter(host: &Host) -> PluginHandle {
    let h = host
        .load_unsigned_with_manifest(library("counter"), &counter_manifest())
        .unwrap();
    h.start().unwrap();
    h
}

fn call<Req: switchboard_sdk::Message, Resp: switchboard_sdk::Message>(
    h: &PluginHandle,
    command: &str,
    req: &Req,
) -> Result<Resp, switchboard_host::CallError> {
    h.command::<Req, Resp>(command).unwrap().call(req)
}

// --- KV basics, namespaces ------------------------------------------------------------------

#[test]
fn kv_get_put_delete_and_versions_grow() {
    let dir = tempfile::tempdir().unwrap();
    let kv = Store::open(dir.path()).unwrap().kv("notes");
    assert_eq!(kv.get("a").unwrap(), None);
    let v1 = kv.put("a", b"one").unwrap();
    let v2 = kv.put("a", b"two").unwrap();
    assert!(v2 > v1);
    assert_eq!(kv.entry("a").unwrap().unwrap().version, v2);
    assert!(kv.delete("a").unwrap());
    assert!(!kv.delete("a").unwrap());
    // Re-created keys never get an old version back (no ABA for compare-and-swap).
    assert!(kv.put("a", b"three").unwrap() > v2);
    assert_eq!(kv.get("a").unwrap().as_deref(), Some(&b"three"[..]));
    let e = kv.put("", b"x").unwrap_err();
    assert_eq!(e.code().to_string(), "SB0701");
}

#[test]
fn prefix_listing_pages_in_key_order_with_a_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let kv = Store::open(dir.path()).unwrap().kv("notes");
    for i in (0..25).rev() {
        kv.put(&format!("n/{i:02}"), b"x").unwrap();
    }
    kv.put("m", b"before").unwrap();
    kv.put("n0", b"after the prefix").unwrap();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = kv.list_page("n/", after.as_deref(), 10).unwrap();
        pages += 1;
        seen.extend(page.entries.into_iter().map(|(k, _)| k));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("n/{i:02}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);
    // Exactly a page's worth: no empty page after it.
    let all20 = kv.list_page("n/0", None, 10).unwrap();
    assert_eq!(all20.entries.len(), 10);
    assert!(all20.next.is_none());
}

#[test]
fn plugins_never_see_each_others_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.kv("alpha").put("shared", b"alpha's").unwrap();
    store.kv("beta").put("shared", b"beta's").unwrap();
    assert_eq!(
        store.kv("alpha").get("shared").unwrap().unwrap(),
        b"alpha's"
    );
    assert_eq!(store.kv("beta").get("shared").unwrap().unwrap(), b"beta's");
    assert_eq!(
        store
            .kv("beta")
            .list_page("", None, 100)
            .unwrap()
            .entries
            .len(),
        1
    );
    // Names equal up to case and `-`/`_` are one plugin, as everywhere in the host.
    assert_eq!(
        store.kv("Alpha").get("shared").unwrap().unwrap(),
        b"alpha's"
    );
}

#[test]
fn a_plugin_reads_only_its_own_namespace_through_the_abi() {
    let (host, _d) = state_host(|_, _| {});
    host.kv("other").put("secret-plan", b"other's").unwrap();
    host.kv("counter").put("mine", b"counter's").unwrap();
    let h = counter(&host);
    assert_eq!(
        call::<String, String>(&h, "read", &"secret-plan".into()).unwrap(),
        ""
    );
    assert_eq!(
        call::<String, String>(&h, "read", &"mine".into()).unwrap(),
        "counter's"
    );
    assert_eq!(
        call::<String, u64>(&h, "incr", &"visits".into()).unwrap(),
        1
    );
    assert_eq!(host.kv("counter").get("c/visits").unwrap().unwrap(), b"1");
    assert_eq!(host.kv("other").get("c/visits").unwrap(), None);
}

#[test]
fn without_a_kv_grant_the_plugin_is_denied_and_the_denial_audited() {
    let (host, _d) = host_with(|_, _| {});
    let h = counter(&host);
    let e = call::<String, String>(&h, "read", &"a".into()).unwrap_err();
    // Declared in the manifest, not granted by policy.
    assert_eq!(e.code().to_string(), "SB0411", "{e}");
    assert!(e.to_string().contains("kv"), "{e}");
    let denials = host
        .audit()
        .query(&AuditFilter::new().plugin("counter"))
        .unwrap();
    assert!(
        denials
            .iter()
            .any(|r| r.subject == "kv" && r.kind == "deny"),
        "{denials:?}"
    );
    assert_eq!(host.kv("counter").usage().unwrap().keys, 0);
}

// --- transactions -----------------------------------------------------------------------------

#[test]
fn a_failed_transaction_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let kv = Store::open(dir.path()).unwrap().kv("bank");
    kv.put("alice", b"100").unwrap();
    let r: Result<(), StateError> = kv.transaction(|tx| {
        tx.put("alice", b"0")?;
        tx.put("bob", b"100")?;
        tx.put("", b"invalid key fails the transaction")?;
        Ok(())
    });
    assert_eq!(r.unwrap_err().code().to_string(), "SB0701");
    assert_eq!(kv.get("alice").unwrap().unwrap(), b"100");
    assert_eq!(kv.get("bob").unwrap(), None);
    assert_eq!(kv.usage().unwrap().keys, 1);
}

#[test]
fn transactions_see_their_own_writes_and_commit_together() {
    let dir = tempfile::tempdir().unwrap();
    let kv = Store::open(dir.path()).unwrap().kv("bank");
    kv.put("alice", b"100").unwrap();
    kv.transaction(|tx| {
        tx.put("alice", b"60")?;
        assert_eq!(tx.get("alice")?.unwrap(), b"60");
        tx.put("bob", b"40")?;
        assert_eq!(tx.list_page("", None, 10)?.entries.len(), 2);
        Ok::<_, StateError>(())
    })
    .unwrap();
    assert_eq!(kv.get("alice").unwrap().unwrap(), b"60");
    assert_eq!(kv.get("bob").unwrap().unwrap(), b"40");
}

#[test]
fn a_commit_with_a_stale_read_conflicts_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let kv = Store::open(dir.path()).unwrap().kv("p");
    let v = kv.put("x", b"1").unwrap();
    kv.put("x", b"2").unwrap();
    let batch = CommitBatch {
        reads: vec![("x".into(), Some(v))],
        writes: vec![KvWrite {
            key: "y".into(),
            value: Some(b"from a stale read".to_vec()),
        }],
    };
    assert_eq!(
        kv.commit(&batch).unwrap(),
        CommitOutcome::Conflict("x".into())
    );
    assert_eq!(kv.get("y").unwrap(), None);
    // Read as absent, but it exists: a conflict too.
    let absent = CommitBatch {
        reads: vec![("x".into(), None)],
        writes: vec![],
    };
    assert!(matches!(
        kv.commit(&absent).unwrap(),
        CommitOutcome::Conflict(_)
    ));
}

fn spawn_child(dir: &Path, mode: &str) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_state_crash_child"))
        .arg(dir)
        .arg(mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim(),
        "ready",
        "the child failed before its transaction"
    );
    child
}

#[test]
fn a_child_killed_mid_transaction_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path())
        .unwrap()
        .kv("crash")
        .put("before", b"kept")
        .unwrap();
    let mut child = spawn_child(dir.path(), "mid");
    // `Child::kill` sends SIGKILL on Unix: no destructor, no rollback, no clean close.
    child.kill().unwrap();
    child.wait().unwrap();
    let kv = Store::open(dir.path()).unwrap().kv("crash");
    let page = kv.list_page("", None, 1000).unwrap();
    let keys: Vec<&str> = page.entries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["before"],
        "none of the 500 uncommitted writes survive"
    );
    assert_eq!(kv.usage().unwrap().keys, 1);
    kv.put("after", b"the database is writable again").unwrap();
}

#[test]
fn a_child_killed_after_commit_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path()).unwrap();
    let mut child = spawn_child(dir.path(), "after");
    child.kill().unwrap();
    child.wait().unwrap();
    let kv = Store::open(dir.path()).unwrap().kv("crash");
    let page = kv.list_page("k", None, 1000).unwrap();
    assert_eq!(page.entries.len(), 500, "all 500 committed writes survive");
    assert_eq!(kv.get("k499").unwrap().unwrap(), b"value 499");
    assert_eq!(kv.usage().unwrap().keys, 500);
}

// --- compare-and-swap and concurrency ----------------------------------------------------------

#[test]
fn cas_by_version_by_value_and_absent() {
    let dir = tempfile::tempdir().unwrap();
    let kv = Store::open(dir.path()).unwrap().kv("p");
    let CasOutcome::Swapped(Some(v1)) = kv.cas("k", &Expected::Absent, Some(b"1")).unwrap() else {
        panic!("creating an absent key swaps")
    };
    assert!(!kv
        .cas("k", &Expected::Absent, Some(b"x"))
        .unwrap()
        .swapped());
    assert!(kv
        .cas("k", &Expected::Version(v1), Some(b"2"))
        .unwrap()
        .swapped());
    match kv.cas("k", &Expected::Version(v1), Some(b"3")).unwrap() {
        CasOutcome::Mismatch(Some(now)) => assert_eq!(now.value, b"2"),
        other => panic!("a stale version must not swap: {other:?}"),
    }
    assert!(kv
        .cas("k", &Expected::Value(b"2".to_vec()), None)
        .unwrap()
        .swapped());
    assert_eq!(kv.get("k").unwrap(), None);
}

#[test]
fn cas_races_have_exactly_one_winner_per_round() {
    const THREADS: usize = 8;
    const ROUNDS: u64 = 40;
    let dir = tempfile::tempdir().unwrap();
    let kv = Store::open(dir.path()).unwrap().kv("race");
    kv.put("n", b"0").unwrap();
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (kv, barrier) = (kv.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut wins = Vec::new();
                for round in 0..ROUNDS {
                    let seen = kv.entry("n").unwrap().unwrap();
                    // Everyone has read the same version before anyone writes.
                    barrier.wait();
                    let next = (round + 1).to_string();
                    if kv
                        .cas("n", &Expected::Version(seen.version), Some(next.as_bytes()))
                        .unwrap()
                        .swapped()
                    {
                        wins.push(round);
                    }
                    barrier.wait();
                }
                wins
            })
        })
        .collect();
    let mut per_round = vec![0; ROUNDS as usize];
    for h in handles {
        for r in h.join().unwrap() {
            per_round[r as usize] += 1;
        }
    }
    assert!(per_round.iter().all(|&w| w == 1), "{per_round:?}");
    assert_eq!(kv.get("n").unwrap().unwrap(), ROUNDS.to_string().as_bytes());
}

#[test]
fn an_optimistic_transaction_reruns_after_a_conflicting_write() {
    let host = switchboard_sdk::testing::MockHost::new("p");
    host.grant("kv").unwrap();
    let ctx = host.context();
    ctx.kv().put_as("n", &1u64).unwrap();
    let mut attempts = 0;
    let out = ctx
        .kv()
        .transaction(|tx| {
            attempts += 1;
            let n: u64 = tx.get_as("n")?.unwrap_or(0);
            if attempts == 1 {
                // Another writer gets in between this read and the commit.
                ctx.kv().put_as("n", &10u64)?;
            }
            tx.put_as("n", &(n + 1))?;
            Ok(n + 1)
        })
        .unwrap();
    assert_eq!((attempts, out), (2, 11));
    assert_eq!(ctx.kv().get_as::<u64>("n").unwrap(), Some(11));
}

#[test]
fn a_transaction_that_always_conflicts_gives_up_with_a_coded_error() {
    let host = switchboard_sdk::testing::MockHost::new("p");
    host.grant("kv").unwrap();
    let ctx = host.context();
    let mut attempts = 0;
    let e = ctx
        .kv()
        .transaction(|tx| {
            attempts += 1;
            tx.get("hot")?;
            ctx.kv().put("hot", attempts.to_string())?;
            tx.put("written-only-on-commit", b"x")?;
            Ok(())
        })
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0703", "{e}");
    assert_eq!(attempts, switchboard_sdk::state::MAX_TX_ATTEMPTS);
    assert_eq!(ctx.kv().get("written-only-on-commit").unwrap(), None);
}

#[test]
fn concurrent_plugin_transactions_lose_no_increment() {
    let (host, _d) = state_host(|_, _| {});
    let h = counter(&host);
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let h = h.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    // Under heavy contention a transaction may give up (SB0703) after its
                    // reruns, applying nothing; the caller tries again. What must never happen
                    // is an increment reported done and lost.
                    loop {
                        match call::<String, u64>(&h, "incr", &"hits".into()) {
                            Ok(_) => break,
                            Err(e) if e.code().to_string() == "SB0703" => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        call::<String, u64>(&h, "value", &"hits".into()).unwrap(),
        150
    );
}

// --- quotas -------------------------------------------------------------------------------------

#[test]
fn the_byte_quota_admits_exactly_the_limit_and_refuses_one_more() {
    let dir = tempfile::tempdir().unwrap();
    let kv = Store::open(dir.path())
        .unwrap()
        .kv_with_quota("q", Quota::new(10, 100));
    kv.put("k", b"123456789").unwrap(); // 1 + 9 = 10 bytes: exactly the limit
    let e = kv.put("k", b"1234567890").unwrap_err(); // 11 bytes
    match &e {
        StateError::QuotaExceeded {
            plugin,
            bytes,
            max_bytes,
            keys,
            max_keys,
        } => {
            assert_eq!(plugin, "q");
            assert_eq!((*bytes, *max_bytes, *keys, *max_keys), (11, 10, 1, 100));
        }
        other => panic!("expected QuotaExceeded, got {other}"),
    }
    assert_eq!(e.code().to_string(), "SB0702");
    assert!(e.to_string().contains("11 of 10 bytes"), "{e}");
    assert_eq!(
        kv.get("k").unwrap().unwrap(),
        b"123456789",
        "the old value stays"
    );
    assert_eq!(kv.usage().unwrap().bytes, 10);
}

#[test]
fn the_key_quota_admits_exactly_the_limit_and_refuses_one_more() {
    let dir = tempfile::tempdir().unwrap();
    let kv = Store::open(dir.path())
        .unwrap()
        .kv_with_quota("q", Quota::new(1 << 20, 3));
    for k in ["a", "b", "c"] {
        kv.put(k, b"v").unwrap();
    }
    let e = kv.put("d", b"v").unwrap_err();
    assert!(e.to_string().contains("4 of 3 keys"), "{e}");
    kv.put("a", b"overwriting is not a new key").unwrap();
    kv.delete("c").unwrap();
    kv.put("d", b"room again").unwrap();
    assert_eq!(kv.usage().unwrap().keys, 3);
}

#[test]
fn a_transaction_over_quota_applies_none_of_its_writes() {
    let dir = tempfile::tempdir().unwrap();
    let kv = Store::open(dir.path())
        .unwrap()
        .kv_with_quota("q", Quota::new(1 << 20, 5));
    let r = kv.transaction(|tx| {
        for i in 0..6 {
            tx.put(&format!("k{i}"), b"v")?;
        }
        Ok::<_, StateError>(())
    });
    assert_eq!(r.unwrap_err().code().to_string(), "SB0702");
    assert_eq!(kv.usage().unwrap().keys, 0);
    assert!(kv.list_page("", None, 10).unwrap().entries.is_empty());
}

#[test]
fn the_manifest_request_is_capped_by_the_policy_maximum() {
    let (host, _d) = state_host(|b, _| {
        let mut p = kv_policy();
        p.quota(QuotaPolicy {
            default: Quota::new(1 << 20, 2),
            max: Quota::new(1 << 20, 4),
        });
        b.policy(p);
    });
    // counter's plugin.toml requests 1000 keys; the policy allows at most 4.
    let h = counter(&host);
    assert_eq!(host.kv("counter").quota(), Quota::new(1 << 20, 4));
    for name in ["a", "b", "c", "d"] {
        call::<String, u64>(&h, "incr", &name.into()).unwrap();
    }
    let e = call::<String, u64>(&h, "incr", &"e".into()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0702", "{e}");
    assert!(e.to_string().contains("5 of 4 keys"), "{e}");
    // Without a manifest request, the policy default applies.
    assert_eq!(host.kv("never-loaded").quota(), Quota::new(1 << 20, 2));
}

#[test]
fn policy_toml_sets_quota_defaults_and_maxima() {
    let p = Policy::from_toml(
        "[quota]\ndefault_kv_bytes = 100\ndefault_kv_keys = 5\nmax_kv_bytes = 1000\nmax_kv_keys = 50\n",
    )
    .unwrap();
    assert_eq!(p.quotas().effective(None, None), Quota::new(100, 5));
    assert_eq!(
        p.quotas().effective(Some(5000), Some(10)),
        Quota::new(1000, 10)
    );
    let e = Policy::from_toml("[quota]\ndefault_kv_keys = 10\nmax_kv_keys = 5\n").unwrap_err();
    assert!(e.to_string().contains("quota"), "{e}");
    assert!(Policy::from_toml("[quota]\nmax_keys = 5\n").is_err());
}

// --- durability -----------------------------------------------------------------------------------

#[test]
fn a_value_corrupted_on_disk_is_reported_with_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let kv = store.kv("ledger");
    kv.put("balance", b"100").unwrap();
    kv.put("other", b"fine").unwrap();
    drop(store);
    let raw = rusqlite::Connection::open(dir.path().join("switchboard.db")).unwrap();
    raw.execute(
        "UPDATE kv SET value = X'393939' WHERE plugin = 'ledger' AND key = 'balance'",
        [],
    )
    .unwrap();
    drop(raw);
    let kv = Store::open(dir.path()).unwrap().kv("ledger");
    let e = kv.get("balance").unwrap_err();
    assert_eq!(e.code().to_string(), "SB0704");
    assert!(
        e.to_string().contains("ledger") && e.to_string().contains("balance"),
        "{e}"
    );
    assert!(e.next_step().contains("restore"), "{}", e.next_step());
    assert_eq!(kv.get("other").unwrap().unwrap(), b"fine");
    assert_eq!(
        kv.list_page("", None, 10).unwrap_err().code().to_string(),
        "SB0704"
    );
}

#[test]
fn a_damaged_database_file_is_refused_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let kv = store.kv("bulk");
        kv.transaction(|tx| {
            for i in 0..400 {
                tx.put(&format!("key{i:04}"), &[7u8; 200])?;
            }
            Ok::<_, StateError>(())
        })
        .unwrap();
        // Fold the WAL into the main file so the damage below hits real pages.
        store
            .backup_to(&dir.path().join("backups/first.db"))
            .unwrap();
    }
    let raw = rusqlite::Connection::open(dir.path().join("switchboard.db")).unwrap();
    raw.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    drop(raw);
    let path = dir.path().join("switchboard.db");
    let mut bytes = std::fs::read(&path).unwrap();
    let page = 4096;
    assert!(bytes.len() > page * 12, "the database has pages to damage");
    for b in &mut bytes[page * 6..page * 10] {
        *b = 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    let e = Store::open(dir.path()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0611", "{e}");
    assert!(
        e.next_step().contains("first.db"),
        "names the backup: {}",
        e.next_step()
    );
}

// --- secrets --------------------------------------------------------------------------------------

#[test]
fn secrets_round_trip_and_survive_a_restart_with_the_key_file() {
    let (host, dir) = state_host(|_, _| {});
    host.secrets("mailer").put("smtp", b"pa55word").unwrap();
    let key_file = dir.path().join("data/master.key");
    assert_eq!(std::fs::read(&key_file).unwrap().len(), 32);
    drop(host);
    let again = reopen(dir.path(), |_| {});
    assert_eq!(
        again
            .secrets("mailer")
            .get("smtp")
            .unwrap()
            .unwrap()
            .expose(),
        b"pa55word"
    );
    assert_eq!(again.secrets("mailer").names().unwrap(), ["smtp"]);
    assert!(again.secrets("mailer").delete("smtp").unwrap());
    assert!(again.secrets("mailer").get("smtp").unwrap().is_none());
    // Stored encrypted: the plaintext is nowhere in the row.
    let raw = rusqlite::Connection::open(dir.path().join("data/switchboard.db")).unwrap();
    again.secrets("mailer").put("smtp", b"pa55word").unwrap();
    let ct: Vec<u8> = raw
        .query_row("SELECT ciphertext FROM secrets", [], |r| r.get(0))
        .unwrap();
    assert!(!ct.windows(8).any(|w| w == b"pa55word"));
}

#[test]
fn a_wrong_master_key_is_a_coded_error_not_garbage() {
    let (host, dir) = state_host(|b, _| {
        b.master_key(MasterKey::from_bytes([1; 32]));
    });
    host.secrets("mailer").put("smtp", b"pa55word").unwrap();
    drop(host);
    let other = reopen(dir.path(), |b| {
        b.master_key(MasterKey::from_bytes([2; 32]));
    });
    let e = other.secrets("mailer").get("smtp").unwrap_err();
    assert_eq!(e.code().to_string(), "SB0711");
    assert!(
        e.to_string().contains("mailer") && e.to_string().contains("smtp"),
        "{e}"
    );
}

#[test]
fn secret_values_reach_no_error_message_and_no_audit_row() {
    const VALUE: &str = "tr0ub4dor-and-3";
    let (host, dir) = state_host(|b, _| {
        b.master_key(MasterKey::from_bytes([3; 32]));
    });
    let h = counter(&host);
    call::<String, ()>(&h, "set_token", &VALUE.into()).unwrap();
    assert!(call::<String, bool>(&h, "check_token", &VALUE.into()).unwrap());
    let s = host.secrets("counter").get("token").unwrap().unwrap();
    assert_eq!(format!("{s} {s:?}"), "*** ***");
    let mut messages = Vec::new();
    // Wrong key, through the host API and through the plugin.
    drop(h);
    drop(host);
    let other = reopen(dir.path(), |b| {
        b.policy(kv_policy())
            .master_key(MasterKey::from_bytes([4; 32]));
    });
    let e = other.secrets("counter").get("token").unwrap_err();
    messages.push(format!("{e} {e:?} {}", e.next_step()));
    let h = counter(&other);
    let e = call::<String, bool>(&h, "check_token", &VALUE.into()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0711");
    messages.push(format!("{e} {e:?} {}", e.next_step()));
    for m in &messages {
        assert!(!m.contains(VALUE), "a secret leaked into: {m}");
    }
    let rows = other.audit().query(&AuditFilter::new()).unwrap();
    assert!(!rows.is_empty());
    for r in rows {
        let text = format!("{} {} {}", r.subject, r.detail, r.plugin);
        assert!(
            !text.contains(VALUE),
            "a secret leaked into the audit log: {text}"
        );
    }
}

#[test]
fn secrets_need_the_secrets_capability() {
    let (host, _d) = host_with(|b, _| {
        let mut p = Policy::new();
        p.allow("kv".parse().unwrap());
        b.policy(p);
    });
    let h = counter(&host);
    let e = call::<String, ()>(&h, "set_token", &"x".into()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0411", "{e}");
    assert!(host.secrets("counter").get("token").unwrap().is_none());
}

// --- configuration --------------------------------------------------------------------------------

fn spec() -> ConfigSpec {
    ConfigSpec {
        schema: Some(json!({
            "type": "object",
            "properties": {
                "units": { "enum": ["metric", "imperial"] },
                "retries": { "type": "integer", "minimum": 0 },
                "name": { "type": "string" },
                "server": {
                    "type": "object",
                    "properties": { "port": { "type": "integer", "maximum": 65535 } }
                }
            }
        })),
        defaults: json!({
            "units": "metric", "retries": 1, "name": "w",
            "server": { "port": 80, "host": "localhost" }
        })
        .as_object()
        .unwrap()
        .clone(),
    }
}

fn write_config(dir: &Path, plugin: &str, text: &str) {
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::write(dir.join(format!("config/{plugin}.toml")), text).unwrap();
}

fn resolve(
    dir: &Path,
    env: Option<&str>,
    vars: &[(&str, &str)],
) -> Result<switchboard_host::state::EffectiveConfig, StateError> {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    resolve_config(
        "weather",
        &spec(),
        None,
        &ConfigInputs {
            data_dir: dir,
            environment: env,
            vars: &vars,
        },
    )
}

#[test]
fn config_defaults_alone() {
    let dir = tempfile::tempdir().unwrap();
    let c = resolve(dir.path(), Some("production"), &[]).unwrap();
    assert_eq!(c.value()["units"], "metric");
    assert!(c.sources().values().all(|s| *s == ConfigSource::Default));
    assert_eq!(c.sources()["server.port"], ConfigSource::Default);
}

#[test]
fn config_file_overrides_defaults_key_by_key() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "weather",
        "units = \"imperial\"\n[server]\nport = 8080\n",
    );
    let c = resolve(dir.path(), None, &[]).unwrap();
    assert_eq!(c.value()["units"], "imperial");
    assert_eq!(
        c.value()["server"],
        json!({ "port": 8080, "host": "localhost" })
    );
    assert_eq!(c.sources()["units"], ConfigSource::File);
    assert_eq!(c.sources()["server.port"], ConfigSource::File);
    assert_eq!(c.sources()["server.host"], ConfigSource::Default);
}

#[test]
fn config_profile_overrides_the_file_only_in_its_environment() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "weather",
        "retries = 2\n[profile.production]\nretries = 9\n[profile.staging]\nretries = 5\n",
    );
    let prod = resolve(dir.path(), Some("production"), &[]).unwrap();
    assert_eq!(prod.value()["retries"], 9);
    assert_eq!(
        prod.sources()["retries"],
        ConfigSource::Profile("production".into())
    );
    let none = resolve(dir.path(), None, &[]).unwrap();
    assert_eq!(none.value()["retries"], 2);
    assert_eq!(none.sources()["retries"], ConfigSource::File);
    assert!(
        none.value().get("profile").is_none(),
        "`profile` is not a setting"
    );
}

#[test]
fn config_variables_override_everything() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "weather",
        "retries = 2\n[profile.production]\nretries = 9\n",
    );
    let c = resolve(
        dir.path(),
        Some("production"),
        &[
            ("SWITCHBOARD_WEATHER_RETRIES", "11"),
            ("SWITCHBOARD_WEATHER_NAME", "42"),
            ("SWITCHBOARD_WEATHER_SERVER__PORT", "9000"),
            ("SWITCHBOARD_OTHER_RETRIES", "99"),
            ("UNRELATED", "x"),
        ],
    )
    .unwrap();
    assert_eq!(c.value()["retries"], 11);
    assert_eq!(
        c.value()["name"],
        "42",
        "the schema wants a string: kept as text"
    );
    assert_eq!(c.value()["server"]["port"], 9000);
    assert_eq!(
        c.sources()["retries"],
        ConfigSource::Variable("SWITCHBOARD_WEATHER_RETRIES".into())
    );
    assert_eq!(
        c.sources()["server.port"].to_string(),
        "variable SWITCHBOARD_WEATHER_SERVER__PORT"
    );
}

#[test]
fn config_schema_violations_name_every_field_path() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "weather",
        "units = \"kelvin\"\n[server]\nport = 70000\n",
    );
    let e = resolve(dir.path(), None, &[("SWITCHBOARD_WEATHER_RETRIES", "-1")]).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0722");
    let StateError::ConfigInvalid { problems, .. } = &e else {
        panic!("{e}")
    };
    let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        ["config.retries", "config.server.port", "config.units"]
    );
    assert!(e.to_string().contains("config.server.port"), "{e}");
    let bad_toml = tempfile::tempdir().unwrap();
    write_config(bad_toml.path(), "weather", "units = \n");
    assert_eq!(
        resolve(bad_toml.path(), None, &[])
            .unwrap_err()
            .code()
            .to_string(),
        "SB0720"
    );
}

#[test]
fn a_plugin_reads_its_merged_configuration_typed() {
    let (host, dir) = state_host(|b, root| {
        write_config(
            &root.join("data"),
            "counter",
            "step = 5\n[profile.production]\nprefix = \"p/\"\n",
        );
        b.environment("production")
            .config_vars([("SWITCHBOARD_COUNTER_STEP", "7")]);
    });
    let h = counter(&host);
    let settings: String = call(&h, "settings", &()).unwrap();
    let settings: serde_json::Value = serde_json::from_str(&settings).unwrap();
    assert_eq!(settings, json!({ "step": 7, "prefix": "p/" }));
    assert_eq!(call::<String, u64>(&h, "incr", &"x".into()).unwrap(), 7);
    assert_eq!(host.kv("counter").get("p/x").unwrap().unwrap(), b"7");
    let effective = host.config("counter").unwrap();
    assert_eq!(
        effective.sources()["step"].to_string(),
        "variable SWITCHBOARD_COUNTER_STEP"
    );
    assert_eq!(
        effective.sources()["prefix"].to_string(),
        "profile production"
    );
    drop(dir);
}

/// Regression (issue 12.1): the configuration was served without any `config.read` check, so
/// a plugin holding only `kv` and `secrets` read it.
#[test]
fn configuration_needs_the_config_read_grant() {
    let (host, _d) = host_with(|b, _| {
        b.policy(kv_and_secrets_only());
    });
    let h = counter(&host);
    let e = call::<(), String>(&h, "settings", &()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0411", "{e}");
    assert!(e.to_string().contains("config.read"), "{e}");
    assert_eq!(h.state(), switchboard_host::State::Active);
    let rows = host
        .audit()
        .query(&AuditFilter::new().plugin("counter"))
        .unwrap();
    assert!(
        rows.iter()
            .any(|r| r.kind == "deny" && r.subject == "config.read" && r.detail.contains("SB0411")),
        "the run-time denial is audited"
    );
    // Only configuration is refused: KV still works.
    assert_eq!(
        call::<String, String>(&h, "read", &"nothing".into()).unwrap(),
        ""
    );
}

#[test]
fn an_invalid_configuration_refuses_the_load() {
    let (host, _d) = state_host(|b, _| {
        b.config_vars([("SWITCHBOARD_COUNTER_STEP", "0")]);
    });
    let e = host
        .load_unsigned_with_manifest(library("counter"), &counter_manifest())
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0722", "{e}");
    assert!(e.to_string().contains("config.step"), "{e}");
    assert!(host.plugin("counter").is_err());
}

// --- data migrations -------------------------------------------------------------------------------

fn seeded() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let kv = store.kv("shop");
    kv.put("price:apple", b"3").unwrap();
    kv.put("price:pear", b"4").unwrap();
    (dir, store)
}

/// 0.1 -> 0.2: keys `price:X` become `prices/X`, and the configuration records a currency.
fn rename_prices() -> DataMigration {
    DataMigration::new("0.1", "0.2", |snap| {
        let mut writes = Vec::new();
        for (k, v) in &snap.kv {
            if let Some(item) = k.strip_prefix("price:") {
                writes.push(KvWrite {
                    key: k.clone(),
                    value: None,
                });
                writes.push(KvWrite {
                    key: format!("prices/{item}"),
                    value: Some(v.clone()),
                });
            }
        }
        Ok(MigrationOutput {
            config: Some(json!({ "currency": "EUR" })),
            writes,
        })
    })
}

#[test]
fn a_migration_rewrites_data_and_config_in_one_step() {
    let (dir, store) = seeded();
    store.kv("bystander").put("k", b"untouched").unwrap();
    let report = store
        .migrate_plugin(
            "shop",
            "0.1.3",
            "0.2.0",
            &[rename_prices()],
            Quota::UNLIMITED,
        )
        .unwrap();
    assert_eq!(report.steps, [("0.1".to_string(), "0.2".to_string())]);
    assert!(report.backup.as_ref().unwrap().is_file());
    assert!(report
        .backup
        .as_ref()
        .unwrap()
        .starts_with(dir.path().join("backups")));
    let kv = store.kv("shop");
    let keys: Vec<String> = kv
        .list_page("", None, 10)
        .unwrap()
        .entries
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["prices/apple", "prices/pear"]);
    assert_eq!(kv.get("prices/pear").unwrap().unwrap(), b"4");
    assert_eq!(
        store.stored_config("shop").unwrap(),
        Some(json!({ "currency": "EUR" }))
    );
    assert_eq!(
        store.kv("bystander").get("k").unwrap().unwrap(),
        b"untouched"
    );
    // Versions that need no migration: nothing runs, no backup.
    let none = store
        .migrate_plugin(
            "shop",
            "0.2.0",
            "0.2.1",
            &[rename_prices()],
            Quota::UNLIMITED,
        )
        .unwrap();
    assert!(none.steps.is_empty() && none.backup.is_none());
}

#[test]
fn a_failing_migration_restores_the_backup_and_reports_it() {
    let (_dir, store) = seeded();
    let failing = DataMigration::new("0.2", "0.3", |_| Err("prices must be integers".into()));
    let e = store
        .migrate_plugin(
            "shop",
            "0.1.0",
            "0.3.0",
            &[rename_prices(), failing],
            Quota::UNLIMITED,
        )
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0730");
    let StateError::MigrationFailed {
        backup,
        reason,
        from,
        ..
    } = &e
    else {
        panic!("{e}")
    };
    assert_eq!(from, "0.2");
    assert!(reason.contains("integers"));
    assert!(backup.is_file(), "the backup is kept");
    assert!(e.to_string().contains("restored"), "{e}");
    // The first step had applied; the restore undid it.
    let kv = store.kv("shop");
    let keys: Vec<String> = kv
        .list_page("", None, 10)
        .unwrap()
        .entries
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["price:apple", "price:pear"]);
    assert_eq!(store.stored_config("shop").unwrap(), None);
    assert_eq!(kv.usage().unwrap().keys, 2);
}

#[test]
fn a_migration_over_quota_is_rolled_back_too() {
    let (_dir, store) = seeded();
    let grow = DataMigration::new("0.1", "0.2", |_| {
        Ok(MigrationOutput {
            config: None,
            writes: (0..10)
                .map(|i| KvWrite {
                    key: format!("new{i}"),
                    value: Some(vec![1]),
                })
                .collect(),
        })
    });
    let e = store
        .migrate_plugin("shop", "0.1.0", "0.2.0", &[grow], Quota::new(1 << 20, 5))
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0730");
    assert!(e.to_string().contains("quota"), "{e}");
    assert_eq!(store.kv("shop").usage().unwrap().keys, 2);
}

#[test]
fn migrated_configuration_sits_between_defaults_and_the_file() {
    let (host, dir) = state_host(|_, _| {});
    let h = counter(&host);
    h.stop().unwrap();
    host.remove("counter").unwrap();
    let set_step = DataMigration::new("0.1", "0.2", |_| {
        Ok(MigrationOutput {
            config: Some(json!({ "step": 3 })),
            writes: vec![],
        })
    });
    host.migrate_plugin_data("counter", "0.1.0", "0.2.0", &[set_step])
        .unwrap();
    let c = host.config("counter").unwrap();
    assert_eq!(c.value()["step"], 3);
    assert_eq!(c.sources()["step"], ConfigSource::Stored);
    write_config(&dir.path().join("data"), "counter", "step = 4\n");
    assert_eq!(host.config("counter").unwrap().value()["step"], 4);
}

// --- Plugin-declared migrations (`#[migration]`) on update ----------------------------------

/// Makes the host believe `counter` 0.0.9 was installed last: loads it once (recording it),
/// removes it, and rewrites the recorded version, as an older install would have left it.
fn pretend_counter_was(host: &Host, dir: &Path, version: &str) {
    let h = counter(host);
    host.remove("counter").unwrap();
    drop(h);
    let db = rusqlite::Connection::open(dir.join("data").join("switchboard.db")).unwrap();
    let n = db
        .execute(
            "UPDATE plugins SET version = ?1 WHERE name = ?2",
            rusqlite::params![version, "counter"],
        )
        .unwrap();
    assert_eq!(n, 1, "the plugin's record is keyed by its name");
}

#[test]
fn updating_a_plugin_runs_its_declared_migration_before_it_starts() {
    let (host, dir) = state_host(|_, _| {});
    pretend_counter_was(&host, dir.path(), "0.0.9");
    let kv = host.kv("counter");
    kv.put("v0/visits", b"41").unwrap();
    kv.put("untouched", b"x").unwrap();
    // Loading 0.1.0 over 0.0.9 is an update: the plugin's `#[migration(from = "0.0", to =
    // "0.1")]` runs before `start`, over the old data.
    let h = counter(&host);
    assert_eq!(
        call::<String, u64>(&h, "value", &"visits".into()).unwrap(),
        41
    );
    assert_eq!(
        call::<String, u64>(&h, "incr", &"visits".into()).unwrap(),
        42
    );
    assert_eq!(host.kv("counter").get("v0/visits").unwrap(), None);
    assert_eq!(
        host.kv("counter").get("untouched").unwrap().as_deref(),
        Some(&b"x"[..])
    );
    // The configuration it stored is part of the effective configuration.
    let settings: String = call(&h, "settings", &()).unwrap();
    assert!(settings.contains("\"migrated_from\":\"0.0\""), "{settings}");
    // A backup was taken first.
    let backups = std::fs::read_dir(dir.path().join("data").join("backups")).unwrap();
    assert_eq!(backups.count(), 1);
}

#[test]
fn a_failing_declared_migration_aborts_the_update_and_keeps_the_old_data() {
    let (host, dir) = state_host(|_, _| {});
    pretend_counter_was(&host, dir.path(), "0.0.9");
    let kv = host.kv("counter");
    kv.put("v0/visits", b"41").unwrap();
    kv.put("v0/broken", b"many").unwrap();
    let e = host
        .load_unsigned_with_manifest(library("counter"), &counter_manifest())
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0730", "{e}");
    let text = e.to_string();
    assert!(
        text.contains("v0/broken") && text.contains("backups"),
        "{text}"
    );
    // Nothing of the failed step survived, and the new version is not loaded.
    assert_eq!(kv.get("v0/visits").unwrap().as_deref(), Some(&b"41"[..]));
    assert_eq!(kv.get("c/visits").unwrap(), None);
    assert!(host.plugin("counter").is_err());
    // Once the bad value is fixed, the update goes through.
    kv.put("v0/broken", b"7").unwrap();
    let h = counter(&host);
    assert_eq!(
        call::<String, u64>(&h, "value", &"broken".into()).unwrap(),
        7
    );
}

#[test]
fn loading_the_same_version_again_runs_no_migration() {
    let (host, _dir) = state_host(|_, _| {});
    let h = counter(&host);
    host.remove("counter").unwrap();
    drop(h);
    host.kv("counter").put("v0/visits", b"41").unwrap();
    let h = counter(&host);
    // Not an update: the old-format key stays as it is.
    assert_eq!(
        call::<String, u64>(&h, "value", &"visits".into()).unwrap(),
        0
    );
    assert_eq!(
        host.kv("counter").get("v0/visits").unwrap().as_deref(),
        Some(&b"41"[..])
    );
}
