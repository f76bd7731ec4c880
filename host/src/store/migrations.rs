//! The host database's schema versions and forward migrations.
//!
//! Each migration moves the schema up one version, in its own transaction; `schema_version`
//! records every version applied. Migrations are only ever appended to [`MIGRATIONS`]: a
//! released one never changes. A database newer than this build is refused, never downgraded.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::StoreError;
use crate::timestamp::Timestamp;

/// One step of the schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order. Later issues append theirs.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "audit log, grants and plugin records",
        sql: r#"
CREATE TABLE audit (
    id        INTEGER PRIMARY KEY,
    at_ms     INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    plugin    TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    detail    TEXT    NOT NULL,
    prev_hash BLOB    NOT NULL,
    hash      BLOB    NOT NULL
);
CREATE INDEX audit_plugin_at ON audit (plugin, at_ms);
CREATE INDEX audit_at ON audit (at_ms);
CREATE INDEX audit_kind_at ON audit (kind, at_ms);
-- Append-only: rows are never changed or removed through SQL. (Someone with the file can
-- still drop these triggers; the hash chain is what detects that.)
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
-- The last row's id and hash, written with every append: detects rows cut off the end.
CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    last_id   INTEGER NOT NULL,
    last_hash BLOB    NOT NULL
);
CREATE TABLE grants (
    plugin        TEXT    NOT NULL,
    capability    TEXT    NOT NULL,
    scope         TEXT    NOT NULL,
    expires_at_ms INTEGER,
    granted_at_ms INTEGER NOT NULL,
    source        TEXT    NOT NULL,
    PRIMARY KEY (plugin, capability)
);
CREATE TABLE plugins (
    name          TEXT PRIMARY KEY,
    version       TEXT    NOT NULL,
    trust         TEXT    NOT NULL,
    signer        TEXT,
    source        TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    requested     TEXT    NOT NULL,
    granted       TEXT    NOT NULL,
    denied        TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
"#,
    },
    Migration {
        version: 2,
        name: "plugin state: KV, usage, secrets, stored configuration",
        sql: r#"
-- One row per key; `plugin` is the host's name key of the plugin (its namespace). `checksum`
-- is sha256 over plugin, key and value, checked on every read.
CREATE TABLE kv (
    plugin   TEXT    NOT NULL,
    key      TEXT    NOT NULL,
    value    BLOB    NOT NULL,
    version  INTEGER NOT NULL,
    checksum BLOB    NOT NULL,
    PRIMARY KEY (plugin, key)
) WITHOUT ROWID;
-- Usage per plugin, kept in the same transaction as every write; `seq` numbers versions.
CREATE TABLE kv_usage (
    plugin TEXT PRIMARY KEY,
    bytes  INTEGER NOT NULL,
    keys   INTEGER NOT NULL,
    seq    INTEGER NOT NULL
);
CREATE TABLE secrets (
    plugin     TEXT NOT NULL,
    name       TEXT NOT NULL,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    PRIMARY KEY (plugin, name)
) WITHOUT ROWID;
-- What each plugin declared: its config schema and defaults, recorded when it loads.
CREATE TABLE config_specs (
    plugin  TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    spec    TEXT NOT NULL
);
-- Configuration written by data migrations (between the defaults and the file).
CREATE TABLE config_stored (
    plugin   TEXT PRIMARY KEY,
    value    TEXT NOT NULL,
    checksum BLOB NOT NULL
);
"#,
    },
    Migration {
        version: 3,
        name: "plugin identities: whose data a name's state is",
        sql: r#"
-- The identity that owns a plugin's state (KV, secrets, stored configuration, persistent
-- grants), by name key: `key:<signer key id>` for signed packages, `library:<path>` or
-- `package-dir:<dir>` for unsigned code. Another identity under the same name key is refused
-- until an operator transfers or wipes the state.
CREATE TABLE plugin_identities (
    plugin         TEXT PRIMARY KEY,
    name           TEXT    NOT NULL,
    identity       TEXT    NOT NULL,
    recorded_at_ms INTEGER NOT NULL
);
-- Signed plugins recorded before this version keep their signer as owner; unsigned ones are
-- claimed by the next load, as their state had no owner before.
INSERT OR IGNORE INTO plugin_identities (plugin, name, identity, recorded_at_ms)
    SELECT lower(replace(name, '-', '_')), name, 'key:' || signer, updated_at_ms
    FROM plugins WHERE signer IS NOT NULL;
"#,
    },
    Migration {
        version: 4,
        name: "registries and what was seen of each",
        sql: r#"
-- The registries plugins are found in (SPEC S9.7). `location` is an http(s) URL or an
-- absolute directory; a higher `priority` is asked first, and no two share one; `root` is the
-- root of trust pinned when the registry was added; `token_env` names the environment
-- variable holding a bearer token (the token itself is never stored).
CREATE TABLE registries (
    name           TEXT PRIMARY KEY,
    location       TEXT    NOT NULL,
    priority       INTEGER NOT NULL UNIQUE,
    root           BLOB    NOT NULL,
    token_env      TEXT,
    certified_only INTEGER NOT NULL DEFAULT 0,
    channel        TEXT    NOT NULL DEFAULT 'ga',
    added_at_ms    INTEGER NOT NULL
);
-- The newest verified metadata of each registry, so that a rollback or a frozen registry is
-- noticed across restarts: the trusted root (it rotates only by a root the old one signed) and
-- the newest timestamp and snapshot versions.
CREATE TABLE registry_seen (
    registry          TEXT PRIMARY KEY,
    root              BLOB    NOT NULL,
    timestamp_version INTEGER NOT NULL,
    snapshot_version  INTEGER NOT NULL,
    updated_at_ms     INTEGER NOT NULL
);
"#,
    },
    Migration {
        version: 5,
        name: "installs: generations, the current pointer, the install journal",
        sql: crate::install::SCHEMA,
    },
    Migration {
        version: 6,
        name: "isolation: where each plugin runs, and why",
        sql: r#"
-- What policy routing decided at the plugin's last load (JSON: mode, profile, reasons, limits,
-- the sandbox layers of an isolated plugin's runner); NULL for a record written before, or by
-- a load that recorded none. `switchboard inspect` shows it.
ALTER TABLE plugins ADD COLUMN isolation TEXT;
"#,
    },
    Migration {
        version: 7,
        name: "metrics rollups and SLO alerts",
        sql: crate::metrics::SCHEMA,
    },
    Migration {
        version: 8,
        name: "usage rollups for metering",
        sql: crate::metrics::USAGE_SCHEMA,
    },
];

/// The newest schema version this build knows.
pub(crate) fn latest(migrations: &[Migration]) -> u32 {
    migrations.last().map_or(0, |m| m.version)
}

/// The schema version of the database (0 for a new one).
pub(crate) fn current(conn: &Connection) -> Result<u32, StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version    INTEGER PRIMARY KEY,
             name       TEXT    NOT NULL,
             applied_ms INTEGER NOT NULL
         );",
    )?;
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_version",
        [],
        |r| r.get(0),
    )?)
}

/// Brings the database up to the newest version in `migrations`. Returns the version reached.
pub(crate) fn migrate(conn: &mut Connection, migrations: &[Migration]) -> Result<u32, StoreError> {
    let mut version = current(conn)?;
    let supported = latest(migrations);
    if version > supported {
        return Err(StoreError::SchemaTooNew {
            found: version,
            supported,
        });
    }
    let start = version;
    for m in migrations.iter().filter(|m| m.version > start) {
        let fail = |e: rusqlite::Error| StoreError::Migration {
            version: m.version,
            reason: e.to_string(),
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        // Another process may have migrated while we waited for the lock.
        let now_at: u32 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                [],
                |r| r.get(0),
            )
            .map_err(fail)?;
        if now_at >= m.version {
            version = now_at;
            continue;
        }
        tx.execute_batch(m.sql).map_err(fail)?;
        tx.execute(
            "INSERT INTO schema_version (version, name, applied_ms) VALUES (?1, ?2, ?3)",
            rusqlite::params![m.version, m.name, Timestamp::now().as_millis()],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        version = m.version;
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem() -> Connection {
        Connection::open_in_memory().unwrap()
    }

    #[test]
    fn a_new_database_gets_every_migration_once() {
        let mut c = mem();
        assert_eq!(migrate(&mut c, MIGRATIONS).unwrap(), latest(MIGRATIONS));
        assert_eq!(migrate(&mut c, MIGRATIONS).unwrap(), latest(MIGRATIONS));
        let n: u32 = c
            .query_row("SELECT COUNT(*) FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n as usize, MIGRATIONS.len());
    }

    #[test]
    fn migrations_apply_forward_only_from_where_the_database_is() {
        const TWO: &[Migration] = &[
            Migration {
                version: 1,
                name: "one",
                sql: "CREATE TABLE a (x INTEGER);",
            },
            Migration {
                version: 2,
                name: "two",
                sql: "ALTER TABLE a ADD COLUMN y INTEGER;",
            },
        ];
        let mut c = mem();
        assert_eq!(migrate(&mut c, &TWO[..1]).unwrap(), 1);
        assert_eq!(migrate(&mut c, TWO).unwrap(), 2);
        c.execute("INSERT INTO a (x, y) VALUES (1, 2)", []).unwrap();
    }

    #[test]
    fn a_failing_migration_leaves_the_previous_version() {
        const BAD: &[Migration] = &[
            Migration {
                version: 1,
                name: "one",
                sql: "CREATE TABLE a (x INTEGER);",
            },
            Migration {
                version: 2,
                name: "broken",
                sql: "CREATE TABLE b (x INTEGER); THIS IS NOT SQL;",
            },
        ];
        let mut c = mem();
        let e = migrate(&mut c, BAD).unwrap_err();
        assert!(matches!(e, StoreError::Migration { version: 2, .. }), "{e}");
        assert_eq!(e.code().to_string(), "SB0604");
        assert_eq!(current(&c).unwrap(), 1);
        let b_exists: bool = c
            .query_row(
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE name = 'b'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!b_exists, "the failed migration was rolled back");
    }

    #[test]
    fn v6_adds_the_isolation_column_to_plugins_recorded_under_v5() {
        let mut c = mem();
        let v5 = &MIGRATIONS[..5];
        assert_eq!(migrate(&mut c, v5).unwrap(), 5);
        c.execute(
            "INSERT INTO plugins (name, version, trust, signer, source, state, requested,
                                  granted, denied, updated_at_ms)
             VALUES ('hello', '0.1.0', 'unsigned', NULL, '/x', 'active', '[]', '[]', '[]', 1)",
            [],
        )
        .unwrap();
        assert_eq!(migrate(&mut c, &MIGRATIONS[..6]).unwrap(), 6);
        let isolation: Option<String> = c
            .query_row(
                "SELECT isolation FROM plugins WHERE name = 'hello'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(isolation, None, "a record from before v6 has no decision");
        c.execute(
            "UPDATE plugins SET isolation = '{\"mode\":\"isolated\"}' WHERE name = 'hello'",
            [],
        )
        .unwrap();
    }

    #[test]
    fn v7_adds_the_metrics_tables_and_keeps_what_v6_held() {
        let mut c = mem();
        assert_eq!(migrate(&mut c, &MIGRATIONS[..6]).unwrap(), 6);
        c.execute(
            "INSERT INTO plugins (name, version, trust, signer, source, state, requested,
                                  granted, denied, updated_at_ms, isolation)
             VALUES ('hello', '0.1.0', 'unsigned', NULL, '/x', 'active', '[]', '[]', '[]', 1,
                     '{\"mode\":\"in-process\"}')",
            [],
        )
        .unwrap();
        c.execute(
            "INSERT INTO kv (plugin, key, value, version, checksum) VALUES ('hello', 'k', x'01', 1, x'00')",
            [],
        )
        .unwrap();
        assert_eq!(migrate(&mut c, MIGRATIONS).unwrap(), 8);
        let (isolation, kv): (String, i64) = c
            .query_row(
                "SELECT isolation, (SELECT COUNT(*) FROM kv) FROM plugins WHERE name = 'hello'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(isolation, "{\"mode\":\"in-process\"}");
        assert_eq!(kv, 1);
        for table in ["metrics_commands", "metrics_plugins", "slo_alerts"] {
            let n: i64 = c
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 0, "{table} exists and starts empty");
        }
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut c = mem();
        migrate(&mut c, MIGRATIONS).unwrap();
        c.execute(
            "INSERT INTO schema_version (version, name, applied_ms) VALUES (999, 'future', 0)",
            [],
        )
        .unwrap();
        let e = migrate(&mut c, MIGRATIONS).unwrap_err();
        assert!(matches!(e, StoreError::SchemaTooNew { found: 999, .. }));
        assert_eq!(e.code().to_string(), "SB0603");
    }
}
