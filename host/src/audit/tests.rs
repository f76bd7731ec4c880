use serde_json::json;

use super::*;

const ROWS: i64 = 6;

fn log_with_rows() -> (tempfile::TempDir, Store, AuditLog) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let log = store.audit();
    for i in 0..ROWS {
        let plugin = if i % 2 == 0 { "hello" } else { "wordcount" };
        let kind = if i % 3 == 0 {
            AuditKind::Grant
        } else {
            AuditKind::State
        };
        log.append(&AuditEvent::new(
            kind,
            plugin,
            format!("s{i}"),
            json!({ "i": i }),
        ))
        .unwrap();
    }
    (dir, store, log)
}

/// Runs SQL as someone with the file would: the append-only triggers dropped first.
fn tamper(store: &Store, sql: &str) {
    let c = store.lock();
    c.execute_batch(&format!(
        "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete; {sql}"
    ))
    .unwrap();
}

fn broken_at(log: &AuditLog) -> i64 {
    let report = log.verify().unwrap();
    match report.broken {
        Some(b) => b.id,
        None => panic!("tampering went undetected: {report:?}"),
    }
}

#[test]
fn an_untouched_log_verifies_and_reports_its_head() {
    let (_d, _s, log) = log_with_rows();
    let r = log.verify().unwrap();
    assert!(r.is_intact());
    assert_eq!(r.rows, ROWS as u64);
    let last = log.query(&AuditFilter::new()).unwrap().pop().unwrap();
    assert_eq!(r.head, Some(hex::encode(last.hash)));
    assert!(r.into_result().is_ok());
}

#[test]
fn rows_chain_to_their_predecessor() {
    let (_d, _s, log) = log_with_rows();
    let rows = log.query(&AuditFilter::new()).unwrap();
    assert_eq!(rows[0].prev_hash, GENESIS);
    for w in rows.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash);
        assert!(w[1].hash_is_valid());
    }
}

#[test]
fn sql_cannot_change_or_delete_rows_while_the_triggers_stand() {
    let (_d, store, _log) = log_with_rows();
    let c = store.lock();
    assert!(c
        .execute("UPDATE audit SET detail = '{}' WHERE id = 2", [])
        .is_err());
    assert!(c.execute("DELETE FROM audit WHERE id = 2", []).is_err());
}

#[test]
fn editing_any_row_is_detected_at_that_row() {
    for id in 1..=ROWS {
        for column in [
            "detail = '{\"i\":99}'",
            "plugin = 'evil'",
            "at_ms = at_ms + 1",
            "kind = 'grant'",
            "subject = 'x'",
        ] {
            let (_d, store, log) = log_with_rows();
            let before = log.query(&AuditFilter::new()).unwrap();
            tamper(
                &store,
                &format!("UPDATE audit SET {column} WHERE id = {id}"),
            );
            let after = log.query(&AuditFilter::new()).unwrap();
            if before == after {
                continue; // the edit changed nothing (e.g. kind was already `grant`)
            }
            assert_eq!(broken_at(&log), id, "edit `{column}` of row {id}");
        }
    }
}

#[test]
fn rewriting_a_row_with_a_fresh_hash_breaks_the_next_link() {
    let (_d, store, log) = log_with_rows();
    let rows = log.query(&AuditFilter::new()).unwrap();
    let r = &rows[2];
    let forged = row_hash(
        r.id,
        r.at.as_millis(),
        &r.kind,
        "evil",
        &r.subject,
        &r.detail,
        &r.prev_hash,
    );
    {
        let c = store.lock();
        c.execute_batch("DROP TRIGGER audit_no_update;").unwrap();
        c.execute(
            "UPDATE audit SET plugin = 'evil', hash = ?1 WHERE id = ?2",
            params![&forged[..], r.id],
        )
        .unwrap();
    }
    assert_eq!(broken_at(&log), r.id + 1);
}

#[test]
fn deleting_any_row_is_detected() {
    for id in 1..=ROWS {
        let (_d, store, log) = log_with_rows();
        tamper(&store, &format!("DELETE FROM audit WHERE id = {id}"));
        assert_eq!(broken_at(&log), id, "delete row {id}");
    }
}

#[test]
fn deleting_rows_and_renumbering_is_detected() {
    let (_d, store, log) = log_with_rows();
    tamper(
        &store,
        "DELETE FROM audit WHERE id = 3; UPDATE audit SET id = id - 1 WHERE id > 3;",
    );
    assert_eq!(broken_at(&log), 3);
}

#[test]
fn cutting_rows_off_the_end_is_detected_by_the_head() {
    let (_d, store, log) = log_with_rows();
    tamper(
        &store,
        &format!("DELETE FROM audit WHERE id >= {}", ROWS - 1),
    );
    assert_eq!(broken_at(&log), ROWS - 1);
}

#[test]
fn reordering_any_two_rows_is_detected() {
    for a in 1..=ROWS {
        for b in (a + 1)..=ROWS {
            let (_d, store, log) = log_with_rows();
            tamper(
                &store,
                &format!(
                    "UPDATE audit SET id = -1 WHERE id = {a};
                     UPDATE audit SET id = {a} WHERE id = {b};
                     UPDATE audit SET id = {b} WHERE id = -1;"
                ),
            );
            assert_eq!(broken_at(&log), a, "swap rows {a} and {b}");
        }
    }
}

#[test]
fn a_broken_chain_is_a_coded_error() {
    let (_d, store, log) = log_with_rows();
    tamper(&store, "DELETE FROM audit WHERE id = 2");
    let e = log.verify().unwrap().into_result().unwrap_err();
    assert_eq!(e.code().to_string(), "SB0610");
    assert!(e.to_string().contains("row 2"), "{e}");
}

#[test]
fn appends_continue_the_chain_across_reopening() {
    let (dir, _s, log) = log_with_rows();
    drop(log);
    let store = Store::open(dir.path()).unwrap();
    let log = store.audit();
    let r = log
        .append(&AuditEvent::new(
            AuditKind::Load,
            "hello",
            "0.1.0",
            json!({}),
        ))
        .unwrap();
    assert_eq!(r.id, ROWS + 1);
    assert!(log.verify().unwrap().is_intact());
}

#[test]
fn filters_select_by_plugin_kind_time_and_limit() {
    let (_d, _s, log) = log_with_rows();
    let hello = log.query(&AuditFilter::new().plugin("hello")).unwrap();
    assert_eq!(hello.len(), 3);
    assert!(hello.iter().all(|r| r.plugin == "hello"));
    let grants = log
        .query(&AuditFilter::new().kind(AuditKind::Grant))
        .unwrap();
    assert_eq!(grants.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 4]);
    let both = log
        .query(
            &AuditFilter::new()
                .plugin("wordcount")
                .kind(AuditKind::Grant),
        )
        .unwrap();
    assert_eq!(both.iter().map(|r| r.id).collect::<Vec<_>>(), [4]);
    assert_eq!(log.query(&AuditFilter::new().limit(2)).unwrap().len(), 2);
    let at = hello[0].at;
    assert!(log.query(&AuditFilter::new().until(at)).unwrap().is_empty());
    assert_eq!(
        log.query(&AuditFilter::new().since(at)).unwrap().len(),
        ROWS as usize
    );
    assert!(log
        .query(&AuditFilter::new().since(at.plus(std::time::Duration::from_secs(3600))))
        .unwrap()
        .is_empty());
}

#[test]
fn exports_jsonl_and_csv() {
    let (_d, _s, log) = log_with_rows();
    log.append(&AuditEvent::new(
        AuditKind::Deny,
        "hello",
        "fs.read:/etc/passwd",
        json!({ "reason": "outside, \"quoted\"\nnext line" }),
    ))
    .unwrap();
    let mut jsonl = Vec::new();
    let n = log.export_jsonl(&AuditFilter::new(), &mut jsonl).unwrap();
    assert_eq!(n, ROWS as usize + 1);
    let text = String::from_utf8(jsonl).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), n);
    assert_eq!(lines[0]["id"], 1);
    assert_eq!(lines[0]["hash"].as_str().unwrap().len(), 64);

    let mut csv = Vec::new();
    log.export_csv(&AuditFilter::new().kind(AuditKind::Deny), &mut csv)
        .unwrap();
    let text = String::from_utf8(csv).unwrap();
    assert!(text.starts_with("id,at,kind,plugin,subject,detail,prev_hash,hash\n"));
    assert!(
        text.contains("\"{\"\"reason\"\":\"\"outside, \\\"\"quoted\\\"\"\\nnext line\"\"}\""),
        "{text}"
    );
}

#[test]
fn kinds_parse_from_their_names() {
    for k in AuditKind::ALL {
        assert_eq!(k.as_str().parse::<AuditKind>(), Ok(k));
    }
    assert!("nope".parse::<AuditKind>().is_err());
}

#[test]
fn the_refusal_of_an_unknown_kind_names_every_kind() {
    let message = "nope".parse::<AuditKind>().unwrap_err().to_string();
    for k in AuditKind::ALL {
        assert!(message.contains(k.as_str()), "{k} missing from: {message}");
    }
}

// Anchoring the head outside the database (ARCHITECTURE D15).

fn anchored(log: &AuditLog, cp: &Checkpoint, key: &AuditKey) -> VerifyReport {
    let verified = cp.verify(key.public_key()).unwrap();
    log.verify_anchored(&AuditAnchors::new().checkpoint(verified))
        .unwrap()
}

fn signed(log: &AuditLog) -> (AuditKey, Checkpoint) {
    let key = AuditKey::generate().unwrap();
    let cp = log.sign_checkpoint(&key).unwrap().unwrap();
    (key, cp)
}

/// Cuts the log to `keep` rows and rewrites the head record to match, as someone with the file
/// would.
fn truncate_and_rewrite_head(store: &Store, keep: i64) {
    tamper(
        store,
        &format!(
            "DELETE FROM audit WHERE id > {keep};
             UPDATE audit_head SET last_id = {keep},
                 last_hash = (SELECT hash FROM audit WHERE id = {keep});"
        ),
    );
}

#[test]
fn truncating_the_tail_and_rewriting_the_head_is_detected_by_a_checkpoint() {
    let (_d, store, log) = log_with_rows();
    let (key, cp) = signed(&log);
    assert_eq!(cp.rows, ROWS as u64);
    truncate_and_rewrite_head(&store, 4);
    // The chain alone cannot see it: this is what the checkpoint is for.
    assert!(log.verify().unwrap().is_intact());
    let report = anchored(&log, &cp, &key);
    let b = report.broken.expect("the cut went undetected");
    assert_eq!(b.id, 5);
    assert!(b.reason.contains("covers 6 rows"), "{}", b.reason);
}

#[test]
fn deleting_everything_is_detected_by_a_checkpoint() {
    let (_d, store, log) = log_with_rows();
    let (key, cp) = signed(&log);
    tamper(&store, "DELETE FROM audit; DELETE FROM audit_head;");
    assert!(log.verify().unwrap().is_intact());
    let b = anchored(&log, &cp, &key).broken.expect("undetected");
    assert_eq!(b.id, 1);
    assert!(b.reason.contains("the log is empty"), "{}", b.reason);
}

#[test]
fn deleting_everything_is_detected_by_an_expected_head() {
    let (_d, store, log) = log_with_rows();
    let head = log.query(&AuditFilter::new()).unwrap()[3].hash;
    tamper(&store, "DELETE FROM audit; DELETE FROM audit_head;");
    let anchors = AuditAnchors::new().expect_head(head);
    let b = log
        .verify_anchored(&anchors)
        .unwrap()
        .broken
        .expect("undetected");
    assert!(b.reason.contains(&hex::encode(head)), "{}", b.reason);
}

#[test]
fn an_expected_head_is_found_in_a_log_that_grew_since() {
    let (_d, _s, log) = log_with_rows();
    let head = log.query(&AuditFilter::new()).unwrap()[5].hash;
    log.append(&AuditEvent::new(AuditKind::Load, "hello", "x", json!({})))
        .unwrap();
    let r = log
        .verify_anchored(&AuditAnchors::new().expect_head(head))
        .unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!(r.expected_head, Some(hex::encode(head)));
}

#[test]
fn a_log_rewritten_with_every_hash_recomputed_is_detected_by_a_checkpoint() {
    let (_d, store, log) = log_with_rows();
    let (key, cp) = signed(&log);
    // Edit row 2 and re-chain every row after it: the chain verifies, the checkpoint does not.
    let rows = log.query(&AuditFilter::new()).unwrap();
    {
        let c = store.lock();
        c.execute_batch("DROP TRIGGER audit_no_update;").unwrap();
        let mut prev = rows[0].hash;
        for r in &rows[1..] {
            let plugin = if r.id == 2 { "evil" } else { r.plugin.as_str() };
            let hash = row_hash(
                r.id,
                r.at.as_millis(),
                &r.kind,
                plugin,
                &r.subject,
                &r.detail,
                &prev,
            );
            c.execute(
                "UPDATE audit SET plugin = ?1, prev_hash = ?2, hash = ?3 WHERE id = ?4",
                params![plugin, &prev[..], &hash[..], r.id],
            )
            .unwrap();
            prev = hash;
        }
        c.execute("UPDATE audit_head SET last_hash = ?1", params![&prev[..]])
            .unwrap();
    }
    assert!(log.verify().unwrap().is_intact());
    let b = anchored(&log, &cp, &key).broken.expect("undetected");
    assert_eq!(b.id, ROWS);
    assert!(b.reason.contains("rewritten"), "{}", b.reason);
}

#[test]
fn rows_appended_after_a_checkpoint_verify_against_it() {
    let (_d, _s, log) = log_with_rows();
    let (key, cp) = signed(&log);
    log.append(&AuditEvent::new(AuditKind::Load, "hello", "x", json!({})))
        .unwrap();
    let r = anchored(&log, &cp, &key);
    assert!(r.is_intact(), "{r:?}");
    assert_eq!(r.checkpoint.as_ref(), Some(&cp));
}

#[test]
fn a_forged_checkpoint_is_refused() {
    let (_d, _s, log) = log_with_rows();
    let (key, cp) = signed(&log);
    // Signed by another key (someone who made their own key pair).
    let (_, other) = signed(&log);
    let e = other.verify(key.public_key()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0621");
    // Another key, with the key line edited to name ours.
    let text = other.to_text().replace(other.key_id.as_str(), &cp.key_id);
    let e = Checkpoint::parse(&text)
        .unwrap()
        .verify(key.public_key())
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0621");
    // Our signature over a smaller row count (to hide a cut).
    let text = cp.to_text().replacen(&format!("rows {ROWS}"), "rows 4", 1);
    let e = Checkpoint::parse(&text)
        .unwrap()
        .verify(key.public_key())
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0621", "{e}");
    // Not a checkpoint at all.
    let e = Checkpoint::parse("hello").unwrap_err();
    assert_eq!(e.code().to_string(), "SB0622");
    // The genuine one, through its file form.
    let back = Checkpoint::parse(&cp.to_text()).unwrap();
    assert_eq!(back, cp);
    assert!(back.verify(key.public_key()).is_ok());
}

#[test]
fn the_checkpointer_writes_every_n_appends_and_never_signs_over_a_cut_log() {
    let (dir, store, log) = log_with_rows();
    let key = AuditKey::generate().unwrap();
    let path = dir.path().join(CHECKPOINT_FILE);
    store.set_checkpointer(Checkpointer::new(key.clone(), path.clone(), 3));
    let event = AuditEvent::new(AuditKind::Load, "hello", "x", json!({}));
    log.append_all(&[event.clone(), event.clone()]).unwrap();
    assert!(!path.exists(), "2 appends, fewer than 3");
    log.append(&event).unwrap();
    let cp = Checkpoint::read(&path).unwrap();
    assert_eq!(cp.rows, ROWS as u64 + 3);
    cp.verify(key.public_key()).unwrap();

    truncate_and_rewrite_head(&store, 4);
    let checkpointer = store.checkpointer().unwrap();
    let e = checkpointer.write_now(&log).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0610", "{e}");
    // More appends do not overwrite the evidence either.
    for _ in 0..4 {
        log.append(&event).unwrap();
    }
    assert_eq!(Checkpoint::read(&path).unwrap(), cp);
    let e = checkpointer.write_now(&log).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0623");
}

#[test]
fn hosts_starting_at_once_in_a_new_directory_share_one_audit_key() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| AuditKey::load_or_create(dir.path()).map(|k| k.key_id().to_owned()))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(AUDIT_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_host_started_over_a_cut_log_keeps_the_checkpoint_as_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let event = AuditEvent::new(AuditKind::Load, "hello", "x", json!({}));
    let host = crate::Host::builder().data_dir(dir.path()).build().unwrap();
    host.audit().append_all(&vec![event.clone(); 5]).unwrap();
    drop(host);
    let path = dir.path().join(CHECKPOINT_FILE);
    let before = Checkpoint::read(&path).unwrap();
    assert_eq!(before.rows, 5, "written when the host was dropped");

    let store = Store::open(dir.path()).unwrap();
    truncate_and_rewrite_head(&store, 2);
    let host = crate::Host::builder().data_dir(dir.path()).build().unwrap();
    host.audit().append(&event).unwrap();
    let e = host.audit_checkpoint().unwrap_err();
    assert_eq!(e.code().to_string(), "SB0623", "{e}");
    drop(host);
    assert_eq!(Checkpoint::read(&path).unwrap(), before);
}

#[test]
#[expect(clippy::print_stderr, reason = "a measurement prints what it measured")]
#[ignore = "a measurement, not a check: cargo test -p switchboard-host --release -- --ignored checkpoint_cost --nocapture"]
fn checkpoint_cost() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let log = store.audit();
    let key = AuditKey::generate().unwrap();
    let event = AuditEvent::new(AuditKind::Load, "hello", "0.1.0", json!({ "n": 1 }));
    log.append_all(&vec![event.clone(); 1000]).unwrap();
    let first = log.sign_checkpoint(&key).unwrap().unwrap();
    log.append_all(&vec![event; 1000]).unwrap();
    let started = std::time::Instant::now();
    let cp = log
        .sign_checkpoint_after(&key, Some(&first))
        .unwrap()
        .unwrap();
    let signed = started.elapsed();
    cp.write(&dir.path().join(CHECKPOINT_FILE)).unwrap();
    let written = started.elapsed();
    eprintln!("checkpoint after 1000 appends: walk + sign {signed:?}, + write {written:?}");
}
