//! Plugin state: the KV store through the host API, each figure beside a baseline measured in
//! the same run — raw rusqlite on the same schema, the same database file and the same
//! connection settings (WAL, `synchronous = NORMAL`), without the host's checks: key
//! validation, per-row checksums, the usage row and quota check, and the store's lock.
//!
//! - `state/kv_get` vs `state/baseline_raw_get`: a point read of a 100-byte value.
//! - `state/kv_put` vs `state/baseline_raw_put`: one write in its own transaction.
//! - `state/tx_100_writes` vs `state/baseline_raw_tx_100`: 100 writes in one transaction.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rusqlite::{params, Connection};
use switchboard_host::state::Quota;
use switchboard_host::{StateError, Store};

const VALUE: [u8; 100] = [42; 100];

fn raw_connection(dir: &std::path::Path) -> Connection {
    let conn = Connection::open(dir.join(switchboard_host::DATABASE_FILE)).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
        .unwrap();
    conn
}

fn state(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let kv = store.kv_with_quota("bench", Quota::new(1 << 40, 1 << 30));
    for i in 0..1000 {
        kv.put(&format!("key{i:04}"), &VALUE).unwrap();
    }
    let raw = raw_connection(dir.path());
    raw.execute_batch(
        "CREATE TABLE raw_kv (plugin TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
         version INTEGER NOT NULL, checksum BLOB NOT NULL, PRIMARY KEY (plugin, key)) WITHOUT ROWID;",
    )
    .unwrap();
    for i in 0..1000 {
        raw.execute(
            "INSERT INTO raw_kv VALUES ('bench', ?1, ?2, ?3, x'00')",
            params![format!("key{i:04}"), &VALUE[..], i],
        )
        .unwrap();
    }

    let mut g = c.benchmark_group("state");
    g.bench_function("kv_get", |b| {
        b.iter(|| kv.get(black_box("key0500")).unwrap())
    });
    g.bench_function("baseline_raw_get", |b| {
        let mut stmt = raw
            .prepare_cached("SELECT value, version FROM raw_kv WHERE plugin = ?1 AND key = ?2")
            .unwrap();
        b.iter(|| {
            stmt.query_row(params!["bench", black_box("key0500")], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
            })
            .unwrap()
        })
    });

    let mut n = 0u64;
    g.bench_function("kv_put", |b| {
        b.iter(|| {
            n += 1;
            kv.put(black_box("hot"), &n.to_le_bytes()).unwrap()
        })
    });
    g.bench_function("baseline_raw_put", |b| {
        let mut stmt = raw
            .prepare_cached(
                "INSERT INTO raw_kv VALUES ('bench', ?1, ?2, ?3, x'00')
                 ON CONFLICT (plugin, key) DO UPDATE SET value = ?2, version = ?3",
            )
            .unwrap();
        b.iter(|| {
            n += 1;
            stmt.execute(params![black_box("hot"), &n.to_le_bytes()[..], n as i64])
                .unwrap()
        })
    });

    let keys: Vec<String> = (0..100).map(|i| format!("tx/{i:03}")).collect();
    g.bench_function("tx_100_writes", |b| {
        b.iter(|| {
            kv.transaction(|tx| {
                for k in &keys {
                    tx.put(k, &VALUE)?;
                }
                Ok::<_, StateError>(())
            })
            .unwrap()
        })
    });
    g.bench_function("baseline_raw_tx_100", |b| {
        b.iter(|| {
            let tx = raw.unchecked_transaction().unwrap();
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO raw_kv VALUES ('bench', ?1, ?2, 1, x'00')
                         ON CONFLICT (plugin, key) DO UPDATE SET value = ?2",
                    )
                    .unwrap();
                for k in &keys {
                    stmt.execute(params![k, &VALUE[..]]).unwrap();
                }
            }
            tx.commit().unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, state);
criterion_main!(benches);
