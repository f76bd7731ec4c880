//! Dependency resolution (SPEC S3, ARCHITECTURE D11): an [`Index`] of releases, the
//! [`Resolver`] (pubgrub, with the host API and SDK ABI as virtual packages and reports that end
//! in a next step), the [`InstalledGraph`] (load order, cycles, dependents) and the
//! [`Lockfile`].
//!
//! - `index` — the [`Index`] trait, [`MemoryIndex`], and the plain types a release is made of.
//! - `directory` — [`DirectoryIndex`], an index read from a directory of TOML files.
//! - `version_set` — the solver's version sets: positions in a plugin's release list, as bits.
//! - `provider` — pubgrub's view of the index: packages, matching, version preference.
//! - `solve` — [`Resolver`] and its [`Resolution`].
//! - `report` — a failed solve in sentences.
//! - `advice` — the next step after a failed solve: what to upgrade, pin or drop.
//! - `graph` — [`InstalledGraph`].
//! - `lockfile` — [`Lockfile`], `switchboard.lock`.

mod advice;
mod directory;
mod graph;
mod index;
mod lockfile;
mod provider;
mod report;
mod solve;
mod version_set;

#[cfg(test)]
mod tests;

pub use directory::DirectoryIndex;
pub use graph::{GraphNode, InstalledGraph};
pub use index::{Dependency, HostApiReq, Index, MemoryIndex, Release};
pub use lockfile::{LockChange, LockedPlugin, Lockfile, Provenance, LOCKFILE_NAME};
pub use solve::{Resolution, ResolvedPlugin, Resolver};
