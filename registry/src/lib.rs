//! Switchboard registries (ARCHITECTURE D9, SPEC S9): where plugins are found, listed and
//! fetched from.
//!
//! A registry is first a directory that any static web host can serve: a cargo-style sparse
//! index (one JSON line per release), content-addressed packages, and TUF-style signed metadata
//! over them — a root of trust pinned when the registry is added, a snapshot listing every index
//! file's hash and version, and a short-lived timestamp over the snapshot. The client refuses
//! expired or older metadata (rollback and freeze attacks), an index file the snapshot does not
//! list (mix-and-match), and a package whose sha256 the index does not list. `docs/registry.md`
//! specifies the files precisely.
//!
//! `switchboard-host` reads registries only through traits this crate implements (the
//! resolver's [`Index`](switchboard_host::Index) and the installer's package source);
//! it never speaks HTTP itself.
//!
//! - `error` — [`RegistryError`] and its areas, with stable codes (SB13xx).
//! - `transport` — [`Transport`]: fetching a registry's files from a directory or over HTTP.
//! - `format` — the index format: [`RegistryConfig`], [`IndexLine`], names and index paths,
//!   bounded JSON and the canonical JSON signatures cover.
//! - `metadata` — the signed roles (root, snapshot, timestamp), signing and verifying.
//! - `client` — [`RegistryClient`]: the TUF client workflow, the cache, downloads.
//! - `publish` — creating and changing a static registry (`init`, `publish`, `yank`, …).
//! - `testing` (feature `testing`) — a real HTTP server on `127.0.0.1` serving a directory,
//!   with ETags and hostile modes, for tests.
//! - `registries` — several registries (SPEC S9.7) from the host database: [`Registries`]
//!   (priority lookups without silent mixing, the policy's `allowed_registries`, tokens,
//!   certified-only, channels), search and info over cached listings, the resolver's
//!   [`RegistryIndex`], [`HostSeenStore`].
//! - `server` (feature `server`) — the registry server: the registry directory over HTTP and a
//!   JSON API (`switchboard registry serve`).
//! - `market` — the marketplace's commercial rules: money, pricing, revenue-share terms,
//!   monthly creator payouts (CSV, JSON) and the damped rating average.
//! - `seen` — [`SeenStore`]: what the client has already seen of each registry (rollback
//!   protection survives restarts).
//!
//! # Example
//!
//! Create a registry, list a release in it, and read it back through the client, which checks
//! every signature, hash, version and expiry on the way:
//!
//! ```
//! use std::sync::Arc;
//! use switchboard_registry::publish::{self, Expiries, InitOptions};
//! use switchboard_registry::{DirTransport, IndexLine, MemorySeen, RegistryClient};
//!
//! # fn main() -> Result<(), switchboard_registry::RegistryError> {
//! # let tmp = tempfile::tempdir().unwrap();
//! let (dir, keys) = (tmp.path().join("registry"), tmp.path().join("keys"));
//! publish::init(&dir, &keys, &InitOptions::default())?;
//! // `publish::publish` takes a signed package and verifies it as a host would; this lists a
//! // line as given, as tools and tests do.
//! let package = b"package bytes".to_vec();
//! let line: IndexLine = serde_json::from_value(serde_json::json!({
//!     "format": 1, "name": "hello", "version": "1.0.0", "sdk_abi": "1.1",
//!     "sha256": switchboard_registry::sha256_hex(&package), "size": package.len(),
//!     "signer": "0123456789ABCDEF", "signature": "…", "trust": "self-signed",
//!     "channel": "ga", "published": "2026-01-01T00:00:00Z",
//! })).unwrap();
//! publish::publish_unverified(&dir, &keys, vec![(line, package)], &Expiries::default())?;
//!
//! let client = RegistryClient::new(
//!     "local",
//!     Box::new(DirTransport::new(&dir)?),
//!     Arc::new(MemorySeen::default()),
//!     tmp.path().join("cache"),
//! );
//! client.pin(&std::fs::read(dir.join("root.json")).unwrap())?; // when the registry is added
//! client.refresh()?;
//! assert_eq!(client.names()?, ["hello"]);
//! let hello = client.releases("hello")?.unwrap();
//! assert_eq!(hello.releases[0].version.to_string(), "1.0.0");
//! # Ok(()) }
//! ```

// Input from users, files and registries becomes a typed error, never a panic.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![deny(missing_docs)]

mod client;
pub mod error;
pub mod format;
pub mod market;
pub mod metadata;
pub mod publish;
pub mod registries;
pub mod seen;
#[cfg(feature = "server")]
pub mod server;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod transport;

pub use client::{ClientLimits, Clock, Downloaded, RefreshReport, RegistryClient, MAX_ROTATIONS};
pub use error::RegistryError;
pub use format::{Channel, IndexFile, IndexLine, RegistryConfig};
pub use metadata::TrustedRoot;
pub use registries::search::{SearchHit, SearchPage, SearchQuery, SortOrder};
pub use registries::{
    HostSeenStore, Location, PluginInfo, PluginRef, Registries, RegistriesError, RegistryIndex,
    RegistrySource,
};
pub use seen::{MemorySeen, Seen, SeenStore};
pub use transport::{CacheTag, DirTransport, Fetched, Transport};

/// sha256 of `bytes`, lower-case hex (how every registry file names hashes).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
