//! Where the server keeps what is not in the signed registry directory: tokens, the owners of
//! each name, the signing keys bound to each account, uploads with their checks, and download
//! counts — behind one trait, [`Store`], with two backends:
//!
//! - [`sqlite`] (the default): `server.db` in the data directory, nothing to set up;
//! - [`postgres`]: a PostgreSQL database named by a `postgres://` URL (`switchboard registry
//!   serve --database postgres://…`), so several machines can share accounts and tokens.
//!
//! The rules (who may do what, what a token is, what a check means) stay in
//! [`super::accounts`], [`super::tokens`], [`super::uploads`] and `downloads`; a
//! backend only stores and finds rows, and makes each change that must not race (claiming a
//! new name, removing an owner, binding a key) one atomic step. Both backends pass the same
//! API suite (`server::tests`, once per backend).
//!
//! What is published is not in either: the signed registry directory stays the one record
//! of it (so a static mirror loses nothing). Search runs on the catalog read from it — in
//! memory on SQLite, and on PostgreSQL in the database over search tables derived from it
//! ([`catalog_search`], a supertrait of [`Store`]).

pub mod audit;
pub mod catalog_search;
pub mod certification;
pub mod changes;
pub mod market;
pub mod postgres;
pub mod renewals;
pub mod reviews;
pub mod sqlite;

pub use audit::AuditStore;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::accounts::{BoundKey, Owner};
use super::uploads::{CheckResult, Upload, UploadState};
use crate::error::ServerError;

/// A token as stored: never its secret, only the secret's sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredToken {
    /// Its public id.
    pub id: String,
    /// The account it acts for.
    pub account: String,
    /// Its scope, as written (`publish:acme-*`, `yank`, `account`, `admin`).
    pub scope: String,
    /// The sha256 (hex) of its secret.
    pub secret_hash: String,
    /// Unix seconds when it was made.
    pub created: i64,
    /// Unix seconds after which it is refused, if it expires.
    pub expires: Option<i64>,
    /// Unix seconds when it was revoked, if it was.
    pub revoked: Option<i64>,
}

impl StoredToken {
    /// A token row.
    pub fn new(
        id: String,
        account: String,
        scope: String,
        secret_hash: String,
        created: i64,
        expires: Option<i64>,
    ) -> Self {
        StoredToken {
            id,
            account,
            scope,
            secret_hash,
            created,
            expires,
            revoked: None,
        }
    }
}

/// What [`Store::remove_owner`] did, decided in the same atomic step as the removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OwnerRemoval {
    /// The account no longer owns the name.
    Removed,
    /// The account did not own the name; nothing changed.
    NotAnOwner,
    /// The account is the name's only owner; nothing changed.
    LastOwner,
}

/// The server's storage: every method is one blocking call (the server runs them on its
/// blocking pool), and every change is atomic on its own.
pub trait Store:
    AuditStore
    + certification::CertificationStore
    + catalog_search::CatalogSearch
    + changes::ChangeStamp
    + reviews::ReviewStore
    + market::MarketStore
    + renewals::RenewalStore
    + Send
    + Sync
    + std::fmt::Debug
{
    /// Where it stores, for messages (`/srv/data/server.db`, or
    /// `postgres://USER@HOST:PORT/DB` without any password).
    fn location(&self) -> &str;

    /// Stores a new token.
    fn insert_token(&self, token: &StoredToken) -> Result<(), ServerError>;
    /// The token of id `id`.
    fn token(&self, id: &str) -> Result<Option<StoredToken>, ServerError>;
    /// Every token, oldest first.
    fn tokens(&self) -> Result<Vec<StoredToken>, ServerError>;
    /// Marks the token `id` revoked at `at` unless it was already; returns it as it is now
    /// (`None`: no such token).
    fn revoke_token(&self, id: &str, at: i64) -> Result<Option<StoredToken>, ServerError>;

    /// The owners of the canonical name `plugin`, first owner first.
    fn owners(&self, plugin: &str) -> Result<Vec<Owner>, ServerError>;
    /// Makes `account` the owner of `plugin` if no account owns it, atomically (two
    /// accounts claiming one new name at once: one wins). Returns whether it did.
    fn claim_new(&self, plugin: &str, account: &str, at: i64) -> Result<bool, ServerError>;
    /// Undoes a claim of `plugin` by `account` (the owner it added itself).
    fn unclaim(&self, plugin: &str, account: &str) -> Result<(), ServerError>;
    /// Adds `account` as an owner of `plugin`, by `by`; false when it owned it already.
    fn add_owner(
        &self,
        plugin: &str,
        account: &str,
        at: i64,
        by: &str,
    ) -> Result<bool, ServerError>;
    /// Removes `account` from the owners of `plugin` unless it is the last one: the check
    /// and the removal are one atomic step (two owners removing each other at once leave
    /// one).
    fn remove_owner(&self, plugin: &str, account: &str) -> Result<OwnerRemoval, ServerError>;
    /// The canonical names `account` owns.
    fn owned_by(&self, account: &str) -> Result<HashSet<String>, ServerError>;

    /// Binds `key` to its account unless its key id is bound already, atomically; returns
    /// the binding that holds afterwards (`key`, or the earlier one, whichever account has it).
    fn bind_key(&self, key: &BoundKey) -> Result<BoundKey, ServerError>;
    /// The key of id `key_id`, whichever account it is bound to.
    fn key(&self, key_id: &str) -> Result<Option<BoundKey>, ServerError>;
    /// The keys bound to `account`, oldest first.
    fn keys(&self, account: &str) -> Result<Vec<BoundKey>, ServerError>;
    /// Unbinds the key `key_id` if it is bound to `account`; returns it (`None`: it is not).
    fn remove_key(&self, account: &str, key_id: &str) -> Result<Option<BoundKey>, ServerError>;

    /// Records a new upload (its checks are not stored here).
    fn insert_upload(&self, upload: &Upload) -> Result<(), ServerError>;
    /// Replaces the checks of upload `id` and sets its state, reason, decision time and
    /// decider, in one transaction.
    fn finish_upload(
        &self,
        id: &str,
        checks: &[CheckResult],
        state: UploadState,
        reason: Option<&str>,
        by: Option<&str>,
        at: i64,
    ) -> Result<(), ServerError>;
    /// The upload `id`, with its checks.
    fn upload(&self, id: &str) -> Result<Option<Upload>, ServerError>;
    /// At most `limit` uploads of `name`, newest first, with their checks.
    fn uploads_of(&self, name: &str, limit: usize) -> Result<Vec<Upload>, ServerError>;
    /// At most `limit` uploads in `state`, oldest first, with their checks.
    fn uploads_in(&self, state: UploadState, limit: usize) -> Result<Vec<Upload>, ServerError>;

    /// Every plugin's download count.
    fn download_counts(&self) -> Result<HashMap<String, u64>, ServerError>;
    /// Adds one download of `plugin`.
    fn count_download(&self, plugin: &str) -> Result<(), ServerError>;
}

/// Which database the server uses: SQLite in its data directory (the default) or
/// PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DatabaseChoice {
    /// `server.db` in the data directory.
    #[default]
    Sqlite,
    /// The PostgreSQL database at this `postgres://` (or `postgresql://`) URL.
    Postgres(String),
}

impl DatabaseChoice {
    /// `--database`'s value: a `postgres://` or `postgresql://` URL; anything else is
    /// refused (`SB1451`).
    pub fn parse(text: &str) -> Result<DatabaseChoice, ServerError> {
        postgres::check_url(text)?;
        Ok(DatabaseChoice::Postgres(text.to_owned()))
    }
}

/// The server's database: a [`Store`] shared by every request (cheap to clone).
///
/// # Example
///
/// ```no_run
/// use switchboard_registry::server::{tokens, Database};
/// let db = Database::open(std::path::Path::new("/srv/switchboard/server.db"))?;
/// let all = tokens::list(&db)?;
/// # Ok::<(), switchboard_registry::error::ServerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Database {
    store: Arc<dyn Store>,
}

impl Database {
    /// Opens (making on first use, `0600`) the SQLite database at `path` and brings its
    /// schema up ([`sqlite::SCHEMA_VERSION`]).
    pub fn open(path: &std::path::Path) -> Result<Database, ServerError> {
        Ok(Database::from_store(Arc::new(sqlite::SqliteStore::open(
            path,
        )?)))
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://USER:PASSWORD@HOST:PORT/DB`)
    /// and brings its schema up ([`postgres::SCHEMA_VERSION`]).
    pub fn connect(url: &str) -> Result<Database, ServerError> {
        Ok(Database::from_store(Arc::new(
            postgres::PostgresStore::connect(url)?,
        )))
    }

    /// The database `choice` names; SQLite at `sqlite_path` by default.
    pub fn open_choice(
        choice: &DatabaseChoice,
        sqlite_path: &std::path::Path,
    ) -> Result<Database, ServerError> {
        match choice {
            DatabaseChoice::Sqlite => Database::open(sqlite_path),
            DatabaseChoice::Postgres(url) => Database::connect(url),
        }
    }

    /// A database over any [`Store`].
    pub fn from_store(store: Arc<dyn Store>) -> Database {
        Database { store }
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }
}
