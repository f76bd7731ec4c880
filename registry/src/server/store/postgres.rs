//! The PostgreSQL store (`switchboard registry serve --database postgres://…`): the same
//! tables as SQLite's, in the database the URL names, so servers on several machines can
//! share accounts, tokens, owners, keys, uploads and download counts.
//!
//! It uses the synchronous `postgres` client: every call runs on the server's blocking pool
//! (never on an async task), where a client may block on its own small runtime. Connections
//! are pooled: one is taken per call and put back after; a broken one is dropped, and the
//! next call connects anew.
//!
//! The schema is created and migrated by the server: `switchboard_schema` holds its version
//! ([`SCHEMA_VERSION`]); a server starting against a newer one refuses (`SB1377`). Starts and
//! migrations of several servers at once are serialised by an advisory lock. Changes that must
//! not race — claiming a new name, adding or removing an owner — take a transaction-scoped
//! advisory lock on the name, so the check and the write are one step for every server
//! sharing the database.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use postgres::{Client, Config, NoTls, Row};

use super::{OwnerRemoval, Store, StoredToken};
use crate::error::ServerError;
use crate::server::accounts::{BoundKey, Owner};
use crate::server::uploads::{CheckResult, Outcome, Upload, UploadState};

/// The schema version this server writes (PostgreSQL's own numbering, from 1).
pub const SCHEMA_VERSION: i64 = 8;

/// The advisory lock key serialising schema changes ("sbschema").
const SCHEMA_LOCK: i64 = 0x7362_7363_6865_6d61;

/// Each migration brings the schema from the version before it to its own.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "
CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    account     TEXT NOT NULL,
    scope       TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created     BIGINT NOT NULL,
    expires     BIGINT,
    revoked     BIGINT
);
CREATE TABLE owners (
    plugin      TEXT NOT NULL,
    account     TEXT NOT NULL,
    since       BIGINT NOT NULL,
    added_by    TEXT NOT NULL,
    seq         BIGSERIAL NOT NULL,
    PRIMARY KEY (plugin, account)
);
CREATE INDEX owners_account ON owners (account);
CREATE TABLE keys (
    key_id      TEXT PRIMARY KEY,
    account     TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    added       BIGINT NOT NULL
);
CREATE INDEX keys_account ON keys (account);
CREATE TABLE uploads (
    id          TEXT PRIMARY KEY,
    account     TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    channel     TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT,
    created     BIGINT NOT NULL,
    decided     BIGINT,
    decided_by  TEXT,
    seq         BIGSERIAL NOT NULL
);
CREATE INDEX uploads_name ON uploads (name, created);
CREATE INDEX uploads_state ON uploads (state, created);
CREATE TABLE checks (
    upload      TEXT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    name        TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    code        TEXT,
    message     TEXT NOT NULL,
    PRIMARY KEY (upload, seq)
);
CREATE TABLE downloads (
    plugin      TEXT PRIMARY KEY,
    count       BIGINT NOT NULL
);
",
    ),
    (
        2,
        "
CREATE TABLE audit (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_subject ON audit (subject, id);
",
    ),
    (3, super::certification::POSTGRES_MIGRATION),
    (4, super::catalog_search::POSTGRES_MIGRATION),
    (5, super::reviews::POSTGRES_MIGRATION),
    (6, super::market::POSTGRES_MIGRATION),
    (7, super::catalog_search::POSTGRES_MIGRATION_VERSION),
    (8, super::renewals::POSTGRES_MIGRATION),
];

/// At most this many idle connections are kept.
const MAX_IDLE: usize = 16;

/// How long connecting may take when the URL does not say (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks that `url` is a PostgreSQL URL the client understands (`SB1451` if not).
pub fn check_url(url: &str) -> Result<Config, ServerError> {
    let bad = |reason: String| ServerError::BadDatabaseUrl {
        reason,
        url: redact(url),
    };
    let lower = url.get(..13).unwrap_or(url).to_ascii_lowercase();
    if !lower.starts_with("postgres://") && !lower.starts_with("postgresql://") {
        return Err(bad(
            "it is not a postgres:// or postgresql:// URL (SQLite in the data directory needs \
             no --database)"
                .into(),
        ));
    }
    let config: Config = url
        .parse()
        .map_err(|e: postgres::Error| bad(e.to_string()))?;
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        return Err(bad("it names no host".into()));
    }
    Ok(config)
}

/// `url` without any password (nor its query, which may hold one), for messages.
fn redact(url: &str) -> String {
    let url = url.split('?').next().unwrap_or("");
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".into();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = match authority.rsplit_once('@') {
        Some((userinfo, host)) => format!("{}@{host}", userinfo.split(':').next().unwrap_or("")),
        None => authority.to_owned(),
    };
    format!("{scheme}://{host}{path}")
}

/// A PostgreSQL database, with a pool of connections.
pub struct PostgresStore {
    config: Config,
    location: String,
    idle: Mutex<Vec<Client>>,
    /// The `timestamp.json` digest of the catalog the search tables were last brought in
    /// step with by this server.
    synced: Mutex<Option<String>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // A client owns a small runtime of its own, which must not be dropped on an async
        // task (the server's state may be dropped on one): close them on a plain thread.
        let clients = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        if clients.is_empty() {
            return;
        }
        if let Ok(t) = std::thread::Builder::new()
            .name("registry-pg-close".into())
            .spawn(move || drop(clients))
        {
            let _ = t.join();
        }
    }
}

/// A connection taken from the pool; put back when dropped unless it broke.
pub(super) struct Pooled<'a> {
    store: &'a PostgresStore,
    client: Option<Client>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        // Set from creation until drop.
        self.client.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if client.is_closed() {
                return;
            }
            let mut idle = self.store.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(client);
            }
        }
    }
}

impl PostgresStore {
    /// Connects to the database at `url` and brings its schema up.
    pub fn connect(url: &str) -> Result<PostgresStore, ServerError> {
        let mut config = check_url(url)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("switchboard-registry");
        }
        let store = PostgresStore {
            location: redact(url),
            config,
            idle: Mutex::new(Vec::new()),
            synced: Mutex::new(None),
        };
        let mut client = store.client().map_err(|e| match e {
            ServerError::Database { reason, .. } => ServerError::DatabaseUnreachable {
                url: store.location.clone(),
                reason,
            },
            other => other,
        })?;
        store.migrate(&mut client)?;
        drop(client);
        Ok(store)
    }

    /// Makes sure the `pg_trgm` extension exists (search's trigram index), creating it if
    /// not; `SB1398` when it cannot be. Runs under the schema lock (servers starting
    /// together would otherwise race to create it).
    fn ensure_trigram(&self, tx: &mut postgres::Transaction<'_>) -> Result<(), ServerError> {
        let present = tx
            .query_opt("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'", &[])
            .map_err(|e| self.error(&e))?
            .is_some();
        if present {
            return Ok(());
        }
        tx.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            .map_err(|e| ServerError::SearchExtension {
                url: self.location.clone(),
                reason: self.describe(&e),
            })
    }

    /// What went wrong, for messages.
    pub(super) fn describe(&self, e: &postgres::Error) -> String {
        match e.as_db_error() {
            Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
            None => e.to_string(),
        }
    }

    /// A failed statement as `SB1377`.
    pub(super) fn database_error(&self, e: &postgres::Error) -> ServerError {
        self.error(e)
    }

    /// A connection from the pool.
    pub(super) fn pooled(&self) -> Result<Pooled<'_>, ServerError> {
        self.client()
    }

    /// See [`PostgresStore::synced`].
    pub(super) fn synced_stamp(&self) -> Option<String> {
        self.synced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records that the search tables hold the catalog of `stamp`.
    pub(super) fn set_synced_stamp(&self, stamp: &str) {
        *self.synced.lock().unwrap_or_else(|p| p.into_inner()) = Some(stamp.to_owned());
    }

    pub(super) fn error(&self, e: &postgres::Error) -> ServerError {
        let reason = match e.as_db_error() {
            Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
            None => e.to_string(),
        };
        ServerError::Database {
            path: self.location.clone(),
            reason,
        }
    }

    pub(super) fn client(&self) -> Result<Pooled<'_>, ServerError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let client = match idle {
            Some(c) => c,
            None => self.config.connect(NoTls).map_err(|e| self.error(&e))?,
        };
        Ok(Pooled {
            store: self,
            client: Some(client),
        })
    }

    fn migrate(&self, client: &mut Client) -> Result<(), ServerError> {
        let fail = |e: postgres::Error| self.error(&e);
        let mut tx = client.transaction().map_err(fail)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .map_err(fail)?;
        self.ensure_trigram(&mut tx)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS switchboard_schema (version BIGINT NOT NULL)")
            .map_err(fail)?;
        let version: i64 = tx
            .query_opt("SELECT max(version) FROM switchboard_schema", &[])
            .map_err(fail)?
            .and_then(|r| r.get::<_, Option<i64>>(0))
            .unwrap_or(0);
        if version > SCHEMA_VERSION {
            return Err(ServerError::Database {
                path: self.location.clone(),
                reason: format!(
                    "schema version {version} is newer than this server's ({SCHEMA_VERSION})"
                ),
            });
        }
        for (to, sql) in MIGRATIONS.iter().filter(|(to, _)| *to > version) {
            tx.batch_execute(sql).map_err(fail)?;
            tx.execute("DELETE FROM switchboard_schema", &[])
                .map_err(fail)?;
            tx.execute(
                "INSERT INTO switchboard_schema (version) VALUES ($1)",
                &[to],
            )
            .map_err(fail)?;
        }
        tx.commit().map_err(fail)
    }

    /// Runs `f` in a transaction holding the advisory lock of the name `plugin` (every
    /// change of a name's owners takes it).
    fn with_name_lock<T>(
        &self,
        plugin: &str,
        f: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, postgres::Error>,
    ) -> Result<T, ServerError> {
        let mut client = self.client()?;
        let run = |client: &mut Client| -> Result<T, postgres::Error> {
            let mut tx = client.transaction()?;
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                &[&format!("switchboard-owners:{plugin}")],
            )?;
            let out = f(&mut tx)?;
            tx.commit()?;
            Ok(out)
        };
        run(&mut client).map_err(|e| self.error(&e))
    }

    fn checks_of(
        &self,
        client: &mut Client,
        mut uploads: Vec<Upload>,
    ) -> Result<Vec<Upload>, ServerError> {
        if uploads.is_empty() {
            return Ok(uploads);
        }
        let ids: Vec<String> = uploads.iter().map(|u| u.id.clone()).collect();
        let rows = client
            .query(
                "SELECT upload, name, outcome, code, message FROM checks \
                 WHERE upload = ANY($1) ORDER BY upload, seq",
                &[&ids],
            )
            .map_err(|e| self.error(&e))?;
        let mut by_upload: HashMap<String, Vec<CheckResult>> = HashMap::new();
        for r in rows {
            by_upload.entry(r.get(0)).or_default().push(CheckResult {
                name: r.get(1),
                outcome: Outcome::parse(r.get(2)),
                code: r.get(3),
                message: r.get(4),
            });
        }
        for u in &mut uploads {
            u.checks = by_upload.remove(&u.id).unwrap_or_default();
        }
        Ok(uploads)
    }

    fn uploads_where(
        &self,
        sql_where: &str,
        args: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Upload>, ServerError> {
        let mut client = self.client()?;
        let rows = client
            .query(
                &format!("SELECT {UPLOAD_COLUMNS} FROM uploads {sql_where}"),
                args,
            )
            .map_err(|e| self.error(&e))?;
        let found = rows.iter().map(upload_row).collect();
        self.checks_of(&mut client, found)
    }
}

const UPLOAD_COLUMNS: &str =
    "id, account, name, version, channel, sha256, size, state, reason, created, decided, \
     decided_by";
const TOKEN_COLUMNS: &str = "id, account, scope, secret_hash, created, expires, revoked";
const KEY_COLUMNS: &str = "key_id, account, public_key, added";

fn upload_row(r: &Row) -> Upload {
    Upload {
        id: r.get(0),
        account: r.get(1),
        name: r.get(2),
        version: r.get(3),
        channel: r.get(4),
        sha256: r.get(5),
        size: u64::try_from(r.get::<_, i64>(6)).unwrap_or(0),
        state: UploadState::parse(r.get(7)),
        reason: r.get(8),
        created: r.get(9),
        decided: r.get(10),
        decided_by: r.get(11),
        checks: Vec::new(),
    }
}

fn token_row(r: &Row) -> StoredToken {
    StoredToken {
        id: r.get(0),
        account: r.get(1),
        scope: r.get(2),
        secret_hash: r.get(3),
        created: r.get(4),
        expires: r.get(5),
        revoked: r.get(6),
    }
}

fn key_row(r: &Row) -> BoundKey {
    BoundKey {
        key_id: r.get(0),
        account: r.get(1),
        public_key: r.get(2),
        added: r.get(3),
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store for PostgresStore {
    fn location(&self) -> &str {
        &self.location
    }

    fn insert_token(&self, t: &StoredToken) -> Result<(), ServerError> {
        self.client()?
            .execute(
                "INSERT INTO tokens (id, account, scope, secret_hash, created, expires, revoked) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &t.id,
                    &t.account,
                    &t.scope,
                    &t.secret_hash,
                    &t.created,
                    &t.expires,
                    &t.revoked,
                ],
            )
            .map(|_| ())
            .map_err(|e| self.error(&e))
    }

    fn token(&self, id: &str) -> Result<Option<StoredToken>, ServerError> {
        self.client()?
            .query_opt(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1"),
                &[&id],
            )
            .map(|r| r.as_ref().map(token_row))
            .map_err(|e| self.error(&e))
    }

    fn tokens(&self) -> Result<Vec<StoredToken>, ServerError> {
        self.client()?
            .query(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created, id"),
                &[],
            )
            .map(|rows| rows.iter().map(token_row).collect())
            .map_err(|e| self.error(&e))
    }

    fn revoke_token(&self, id: &str, at: i64) -> Result<Option<StoredToken>, ServerError> {
        let mut client = self.client()?;
        client
            .execute(
                "UPDATE tokens SET revoked = $1 WHERE id = $2 AND revoked IS NULL",
                &[&at, &id],
            )
            .map_err(|e| self.error(&e))?;
        client
            .query_opt(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1"),
                &[&id],
            )
            .map(|r| r.as_ref().map(token_row))
            .map_err(|e| self.error(&e))
    }

    fn owners(&self, plugin: &str) -> Result<Vec<Owner>, ServerError> {
        self.client()?
            .query(
                "SELECT account, since, added_by FROM owners WHERE plugin = $1 \
                 ORDER BY since, seq",
                &[&plugin],
            )
            .map(|rows| {
                rows.iter()
                    .map(|r| Owner {
                        account: r.get(0),
                        since: r.get(1),
                        added_by: r.get(2),
                    })
                    .collect()
            })
            .map_err(|e| self.error(&e))
    }

    fn claim_new(&self, plugin: &str, account: &str, at: i64) -> Result<bool, ServerError> {
        self.with_name_lock(plugin, |tx| {
            let n = tx.execute(
                "INSERT INTO owners (plugin, account, since, added_by) \
                 SELECT $1, $2, $3, $2 WHERE NOT EXISTS (SELECT 1 FROM owners WHERE plugin = $1)",
                &[&plugin, &account, &at],
            )?;
            Ok(n == 1)
        })
    }

    fn unclaim(&self, plugin: &str, account: &str) -> Result<(), ServerError> {
        self.with_name_lock(plugin, |tx| {
            tx.execute(
                "DELETE FROM owners WHERE plugin = $1 AND account = $2 AND added_by = $2",
                &[&plugin, &account],
            )?;
            Ok(())
        })
    }

    fn add_owner(
        &self,
        plugin: &str,
        account: &str,
        at: i64,
        by: &str,
    ) -> Result<bool, ServerError> {
        self.with_name_lock(plugin, |tx| {
            let n = tx.execute(
                "INSERT INTO owners (plugin, account, since, added_by) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (plugin, account) DO NOTHING",
                &[&plugin, &account, &at, &by],
            )?;
            Ok(n == 1)
        })
    }

    fn remove_owner(&self, plugin: &str, account: &str) -> Result<OwnerRemoval, ServerError> {
        self.with_name_lock(plugin, |tx| {
            // Under the name's lock, this statement's snapshot sees every earlier change of
            // the name's owners, committed: the count is the count now.
            let removed = tx.execute(
                "DELETE FROM owners WHERE plugin = $1 AND account = $2 \
                 AND (SELECT count(*) FROM owners WHERE plugin = $1) > 1",
                &[&plugin, &account],
            )?;
            if removed == 1 {
                return Ok(OwnerRemoval::Removed);
            }
            let owns: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM owners WHERE plugin = $1 AND account = $2)",
                    &[&plugin, &account],
                )?
                .get(0);
            Ok(if owns {
                OwnerRemoval::LastOwner
            } else {
                OwnerRemoval::NotAnOwner
            })
        })
    }

    fn owned_by(&self, account: &str) -> Result<HashSet<String>, ServerError> {
        self.client()?
            .query("SELECT plugin FROM owners WHERE account = $1", &[&account])
            .map(|rows| rows.iter().map(|r| r.get(0)).collect())
            .map_err(|e| self.error(&e))
    }

    fn bind_key(&self, key: &BoundKey) -> Result<BoundKey, ServerError> {
        let mut client = self.client()?;
        // The insert and the read are separate statements; a key unbound between them (by
        // its own account) is bound again on the next round.
        for _ in 0..8 {
            let inserted = client
                .query_opt(
                    &format!(
                        "INSERT INTO keys (key_id, account, public_key, added) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (key_id) DO NOTHING \
                         RETURNING {KEY_COLUMNS}"
                    ),
                    &[&key.key_id, &key.account, &key.public_key, &key.added],
                )
                .map_err(|e| self.error(&e))?;
            if let Some(r) = inserted {
                return Ok(key_row(&r));
            }
            let existing = client
                .query_opt(
                    &format!("SELECT {KEY_COLUMNS} FROM keys WHERE key_id = $1"),
                    &[&key.key_id],
                )
                .map_err(|e| self.error(&e))?;
            if let Some(r) = existing {
                return Ok(key_row(&r));
            }
        }
        Err(ServerError::Database {
            path: self.location.clone(),
            reason: format!(
                "key {} was bound and unbound too often while binding it",
                key.key_id
            ),
        })
    }

    fn key(&self, key_id: &str) -> Result<Option<BoundKey>, ServerError> {
        self.client()?
            .query_opt(
                &format!("SELECT {KEY_COLUMNS} FROM keys WHERE key_id = $1"),
                &[&key_id],
            )
            .map(|r| r.as_ref().map(key_row))
            .map_err(|e| self.error(&e))
    }

    fn keys(&self, account: &str) -> Result<Vec<BoundKey>, ServerError> {
        self.client()?
            .query(
                &format!(
                    "SELECT {KEY_COLUMNS} FROM keys WHERE account = $1 ORDER BY added, key_id"
                ),
                &[&account],
            )
            .map(|rows| rows.iter().map(key_row).collect())
            .map_err(|e| self.error(&e))
    }

    fn remove_key(&self, account: &str, key_id: &str) -> Result<Option<BoundKey>, ServerError> {
        self.client()?
            .query_opt(
                &format!(
                    "DELETE FROM keys WHERE key_id = $1 AND account = $2 RETURNING {KEY_COLUMNS}"
                ),
                &[&key_id, &account],
            )
            .map(|r| r.as_ref().map(key_row))
            .map_err(|e| self.error(&e))
    }

    fn insert_upload(&self, u: &Upload) -> Result<(), ServerError> {
        self.client()?
            .execute(
                "INSERT INTO uploads (id, account, name, version, channel, sha256, size, state, \
                 reason, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &u.id,
                    &u.account,
                    &u.name,
                    &u.version,
                    &u.channel,
                    &u.sha256,
                    &i64::try_from(u.size).unwrap_or(i64::MAX),
                    &u.state.as_str(),
                    &u.reason,
                    &u.created,
                ],
            )
            .map(|_| ())
            .map_err(|e| self.error(&e))
    }

    fn finish_upload(
        &self,
        id: &str,
        checks: &[CheckResult],
        state: UploadState,
        reason: Option<&str>,
        by: Option<&str>,
        at: i64,
    ) -> Result<(), ServerError> {
        let mut client = self.client()?;
        let run = |client: &mut Client| -> Result<(), postgres::Error> {
            let mut tx = client.transaction()?;
            tx.execute("DELETE FROM checks WHERE upload = $1", &[&id])?;
            for (seq, c) in checks.iter().enumerate() {
                tx.execute(
                    "INSERT INTO checks (upload, seq, name, outcome, code, message) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &id,
                        &limit(seq),
                        &c.name,
                        &c.outcome.as_str(),
                        &c.code,
                        &c.message,
                    ],
                )?;
            }
            tx.execute(
                "UPDATE uploads SET state = $2, reason = $3, decided = $4, decided_by = $5 \
                 WHERE id = $1",
                &[&id, &state.as_str(), &reason, &at, &by],
            )?;
            tx.commit()
        };
        run(&mut client).map_err(|e| self.error(&e))
    }

    fn upload(&self, id: &str) -> Result<Option<Upload>, ServerError> {
        let mut found = self.uploads_where("WHERE id = $1", &[&id])?;
        Ok(found.pop())
    }

    fn uploads_of(&self, name: &str, n: usize) -> Result<Vec<Upload>, ServerError> {
        self.uploads_where(
            "WHERE name = $1 ORDER BY created DESC, seq DESC LIMIT $2",
            &[&name, &limit(n)],
        )
    }

    fn uploads_in(&self, state: UploadState, n: usize) -> Result<Vec<Upload>, ServerError> {
        self.uploads_where(
            "WHERE state = $1 ORDER BY created, seq LIMIT $2",
            &[&state.as_str(), &limit(n)],
        )
    }

    fn download_counts(&self) -> Result<HashMap<String, u64>, ServerError> {
        self.client()?
            .query("SELECT plugin, count FROM downloads", &[])
            .map(|rows| {
                rows.iter()
                    .map(|r| (r.get(0), u64::try_from(r.get::<_, i64>(1)).unwrap_or(0)))
                    .collect()
            })
            .map_err(|e| self.error(&e))
    }

    fn count_download(&self, plugin: &str) -> Result<(), ServerError> {
        self.client()?
            .execute(
                "INSERT INTO downloads (plugin, count) VALUES ($1, 1) \
                 ON CONFLICT (plugin) DO UPDATE SET count = downloads.count + 1",
                &[&plugin],
            )
            .map(|_| ())
            .map_err(|e| self.error(&e))
    }
}
