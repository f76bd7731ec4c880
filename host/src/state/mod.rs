//! Plugin state (SPEC S6): each plugin's KV store with quotas and transactions, its encrypted
//! secrets, its configuration, and data migrations between its versions — all in the host
//! database (ARCHITECTURE D7).
//!
//! Plugins reach these through their `Context` (`ctx.kv()`, `ctx.secrets()`,
//! `ctx.config::<T>()`), each behind a capability (`kv`, `secrets`) checked by the host, which
//! takes the plugin's namespace from the instance. Host code uses the same stores directly:
//! [`Host::kv`](crate::Host::kv), [`Host::secrets`](crate::Host::secrets),
//! [`Host::config`](crate::Host::config), or [`Store::kv`](crate::Store::kv) and friends.
//!
//! # Contents
//!
//! - [`Kv`], [`KvTransaction`] — get, put, delete, prefix pages, compare-and-swap, batches
//!   and transactions, every value checksummed (module `kv`, `checksum`).
//! - [`Quota`], [`QuotaPolicy`], [`Usage`] — limits and the rule that combines policy and
//!   manifest (module `quota`).
//! - [`Secrets`], [`MasterKey`], [`Secret`] — XChaCha20-Poly1305 at rest (module `secrets`).
//! - [`resolve_config`], [`ConfigInputs`], [`EffectiveConfig`], [`ConfigSource`] — defaults,
//!   stored, file, profile and variables, validated (module `config`).
//! - [`DataMigration`], [`Snapshot`], [`MigrationOutput`], [`MigrationReport`] — data
//!   migrations with backup and restore (module `migrate`).
//! - The integrity check run when the database opens (module `integrity`).

mod checksum;
mod config;
pub(crate) mod integrity;
mod kv;
pub(crate) mod migrate;
mod quota;
mod secrets;

pub use self::config::{
    config_file, resolve_config, ConfigInputs, ConfigSource, EffectiveConfig, CONFIG_DIR,
};
pub use self::kv::{Kv, KvTransaction};
pub use self::migrate::{
    DataMigration, MigrationFn, MigrationOutput, MigrationReport, Snapshot, BACKUP_DIR,
};
pub use self::quota::{Quota, QuotaPolicy, Usage};
pub use self::secrets::{MasterKey, Secrets, MASTER_KEY_FILE};
pub use switchboard_sdk::manifest::ConfigSpec;
pub use switchboard_sdk::state::{
    CasOutcome, CommitBatch, CommitOutcome, Expected, KvEntry, KvPage, KvWrite, Secret,
};
