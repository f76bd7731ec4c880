//! The `switchboard` command line, as a library so tests can drive it in-process.
//!
//! - [`accounts`] — a registry server's accounts over HTTP: `owner`, `key`, `hold`.
//! - [`certify`] — certification on a registry server: `certify submit|status|queue|approve|deny|trust`.
//! - [`authoring`] — `keygen`, `pack`, `sign`, `verify`, `trust`.
//! - [`scaffold`] — `switchboard new`: a ready plugin crate from a template.
//! - [`smoke`] — `switchboard test`: unit tests, then the built library in a real host.
//! - [`examples`] — builds the workspace's example plugins (the demo and tests use them).
//! - [`demo`] — the guided tour behind `switchboard demo`.
//! - [`preflight`] — `switchboard preflight`.
//! - [`publish`] — static registries: `registry init|resign|renew-root|rotate-key`, `publish`, `yank`,
//!   `unyank`, `deprecate`, `promote`.
//! - [`tree`] — `switchboard tree`: a lockfile's dependency graph as text, DOT or JSON.
//! - [`audit`] — `switchboard audit` and `switchboard audit verify`.
//! - [`inspect`] — `switchboard inspect PLUGIN`.
//! - [`metrics`] — `switchboard metrics` (stored metrics as Prometheus text) and
//!   `switchboard slo report`.
//! - [`config`] — `switchboard config PLUGIN`: effective configuration and its sources.
//! - [`state`] — `switchboard state show|transfer|wipe PLUGIN`: who owns a plugin's data.
//! - [`registries`] — `switchboard registry add|list|remove`, and opening the registries
//!   (policy, tokens, refresh or `--offline`) for every command that reads them.
//! - [`discover`] — `switchboard search` and `switchboard info`.
//! - [`payouts`] — `switchboard payouts`: a month's creator payout report from a ledger.
//! - [`data_dir`] — where the data directory is when `--data-dir` is not given.
//! - [`output`] — what every command shares: coded errors, stdout that a closed pipe ends
//!   quietly, progress.

// Input from users, files and plugins becomes a typed error, never a panic: library code
// outside tests has no unwrap() or expect() (tests keep them, as assertions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
pub mod accounts;
pub mod audit;
pub mod authoring;
pub mod buy;
pub mod certify;
pub mod config;
pub mod data_dir;
pub mod demo;
pub mod discover;
pub mod examples;
pub mod inspect;
pub mod install;
pub mod metrics;
pub mod output;
pub mod payouts;
pub mod preflight;
pub mod publish;
pub mod registries;
pub mod release;
pub mod reviews;
pub mod scaffold;
pub mod server;
pub mod smoke;
pub mod state;
pub mod tree;
