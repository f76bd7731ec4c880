//! Generations (ARCHITECTURE D10): the installed set as numbered, immutable snapshots in the
//! host database, and the one row that says which is current.
//!
//! A generation lists, for each plugin, the package it runs (by sha256, in the package
//! store), whether it is enabled, whether the operator asked for it or it came as a
//! dependency, the grants it held when the generation was made, and the lockfile. Making
//! another generation current is one `UPDATE` of `install_current` inside one SQLite
//! transaction: either the whole new set is current or the old one still is.

use std::fmt;
use std::str::FromStr;

use rusqlite::{params, OptionalExtension, Transaction};
use semver::Version;
use serde::{Deserialize, Serialize};

use super::error::InstallError;
use super::journal::OperationId;
use crate::error::StoreError;
use crate::package::TrustLevel;
use crate::resolve::{GraphNode, InstalledGraph, Lockfile};
use crate::store::{GrantRecord, Store};
use crate::timestamp::Timestamp;

/// A generation's number: 1 for the first, one more for each generation made after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GenerationId(pub u64);

impl fmt::Display for GenerationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for GenerationId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(GenerationId)
    }
}

/// One plugin of a generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GenerationPlugin {
    /// The plugin's name.
    pub name: String,
    /// Its version.
    pub version: Version,
    /// The sha256 (hex) of its package in the package store.
    pub sha256: String,
    /// Where it came from: the source's label (`file:…`, `registry:…`).
    pub source: String,
    /// How far it was trusted when installed.
    pub trust: TrustLevel,
    /// The key id that signed it, if signed.
    pub signer: Option<String>,
    /// Whether the host loads it at start.
    pub enabled: bool,
    /// Asked for by the operator (not only a dependency of something else).
    pub requested: bool,
    /// The plugins it depends on (optional ones included), by name.
    pub dependencies: Vec<String>,
    /// Which of `dependencies` are optional.
    pub optional_dependencies: Vec<String>,
    /// The capabilities its manifest requests.
    pub capabilities: Vec<String>,
    /// The grants it held when this generation was activated.
    pub grants: Vec<GrantRecord>,
}

/// A generation: a numbered installed set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Generation {
    /// Its number.
    pub id: GenerationId,
    /// The generation it was made from, if any.
    pub parent: Option<GenerationId>,
    /// The operation that made it.
    pub operation: OperationId,
    /// What the operation did, in words (`install hello 0.1.0`).
    pub summary: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// Its plugins, by name.
    pub plugins: Vec<GenerationPlugin>,
    /// Its lockfile, as TOML (`switchboard.lock`).
    pub lockfile: String,
}

impl Generation {
    /// The plugin `name`, if this generation has it.
    pub fn plugin(&self, name: &str) -> Option<&GenerationPlugin> {
        let key = switchboard_sdk::manifest::name_key(name);
        self.plugins
            .iter()
            .find(|p| switchboard_sdk::manifest::name_key(&p.name) == key)
    }

    /// Its plugins as a graph: load order (dependencies first), dependents.
    pub fn graph(&self) -> Result<InstalledGraph, crate::Error> {
        let nodes = self.plugins.iter().map(|p| {
            let mut n = GraphNode::new(p.name.clone(), p.version.clone());
            for d in &p.dependencies {
                if p.optional_dependencies.contains(d) {
                    n = n.with_optional_dependency(d.clone());
                } else {
                    n = n.with_dependency(d.clone());
                }
            }
            n
        });
        Ok(InstalledGraph::new(nodes)?)
    }

    /// Its lockfile, parsed.
    pub fn lock(&self) -> Result<Lockfile, crate::Error> {
        Ok(Lockfile::parse(&self.lockfile)?)
    }
}

/// A generation in a listing: what `switchboard generations` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GenerationInfo {
    /// Its number.
    pub id: GenerationId,
    /// The generation it was made from.
    pub parent: Option<GenerationId>,
    /// What made it, in words.
    pub summary: String,
    /// The operation's correlation id.
    pub operation: OperationId,
    /// When it was made.
    pub created_at: Timestamp,
    /// Whether it is the current one.
    pub current: bool,
    /// `name version` of each plugin, sorted.
    pub plugins: Vec<String>,
}

/// Where a plugin is in its install lifecycle: available → installed → enabled ⇄ disabled →
/// removed (SPEC S8.1's `installed`, `disabled`, `removed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum InstallState {
    /// A source offers it; not installed.
    Available,
    /// In the current generation, whose operation has flipped to it but not finished
    /// activating it (loads, migrations, health check).
    Installed,
    /// In the current generation, loaded at start.
    Enabled,
    /// In the current generation, not loaded.
    Disabled,
    /// Was installed; no longer in the current generation.
    Removed,
}

impl InstallState {
    /// The state's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            InstallState::Available => "available",
            InstallState::Installed => "installed",
            InstallState::Enabled => "enabled",
            InstallState::Disabled => "disabled",
            InstallState::Removed => "removed",
        }
    }
}

impl fmt::Display for InstallState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of `switchboard list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InstalledPlugin {
    /// The plugin's name.
    pub name: String,
    /// Its version.
    pub version: Version,
    /// Its install state.
    pub state: InstallState,
    /// How far it is trusted.
    pub trust: TrustLevel,
    /// Where it came from.
    pub source: String,
    /// The current generation (which holds it).
    pub generation: GenerationId,
    /// Asked for by the operator, or only a dependency.
    pub requested: bool,
    /// Its package's sha256 (hex).
    pub sha256: String,
}

fn corrupt(what: &'static str, value: impl Into<String>) -> InstallError {
    InstallError::Corrupt {
        what,
        value: value.into(),
    }
}

/// The database side of generations.
impl Store {
    /// The current generation's number, if one was ever made current.
    pub(crate) fn current_generation_id(&self) -> Result<Option<GenerationId>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT generation FROM install_current WHERE id = 1",
                [],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|g| GenerationId(g as u64)))
        })
    }

    /// The generation `id`, if kept.
    pub(crate) fn generation(&self, id: GenerationId) -> Result<Option<Generation>, crate::Error> {
        let row = self.with(|c| {
            Ok(c.query_row(
                "SELECT parent, operation, summary, created_at_ms, lockfile
                 FROM install_generations WHERE id = ?1",
                [id.0 as i64],
                |r| {
                    Ok((
                        r.get::<_, Option<i64>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()?)
        })?;
        let Some((parent, operation, summary, at, lockfile)) = row else {
            return Ok(None);
        };
        let rows = self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT name, version, sha256, source, trust, signer, enabled, requested,
                        dependencies, optional_dependencies, capabilities, grants
                 FROM install_generation_plugins WHERE generation = ?1 ORDER BY name",
            )?;
            let rows = stmt
                .query_map([id.0 as i64], |r| {
                    Ok((
                        (
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, Option<String>>(5)?,
                        ),
                        (
                            r.get::<_, bool>(6)?,
                            r.get::<_, bool>(7)?,
                            r.get::<_, String>(8)?,
                            r.get::<_, String>(9)?,
                            r.get::<_, String>(10)?,
                            r.get::<_, String>(11)?,
                        ),
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })?;
        let mut plugins = Vec::with_capacity(rows.len());
        for (
            (name, version, sha256, source, trust, signer),
            (enabled, requested, deps, opt, caps, grants),
        ) in rows
        {
            let json = |what: &'static str, text: String| -> Result<Vec<String>, InstallError> {
                serde_json::from_str(&text).map_err(|_| corrupt(what, text))
            };
            plugins.push(GenerationPlugin {
                version: Version::parse(&version)
                    .map_err(|_| corrupt("plugin version", version.clone()))?,
                trust: trust
                    .parse()
                    .map_err(|_| corrupt("trust level", trust.clone()))?,
                dependencies: json("dependency list", deps)?,
                optional_dependencies: json("dependency list", opt)?,
                capabilities: json("capability list", caps)?,
                grants: serde_json::from_str(&grants)
                    .map_err(|_| corrupt("grant list", grants.clone()))?,
                name,
                sha256,
                source,
                signer,
                enabled,
                requested,
            });
        }
        Ok(Some(Generation {
            id,
            parent: parent.map(|p| GenerationId(p as u64)),
            operation: operation
                .parse()
                .map_err(|_| corrupt("operation id", operation.clone()))?,
            summary,
            created_at: Timestamp::from_millis(at),
            plugins,
            lockfile,
        }))
    }

    /// Every generation kept, oldest first.
    pub(crate) fn generation_ids(&self) -> Result<Vec<GenerationId>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT id FROM install_generations ORDER BY id")?;
            let ids = stmt
                .query_map([], |r| r.get::<_, i64>(0))?
                .map(|r| r.map(|i| GenerationId(i as u64)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ids)
        })
    }

    /// The next free generation number.
    pub(crate) fn next_generation_id(&self) -> Result<GenerationId, StoreError> {
        self.with(|c| {
            // Numbers are never reused, not even those of generations an operation prepared
            // and discarded: the journal still names them.
            let max: i64 = c.query_row(
                "SELECT MAX(COALESCE((SELECT MAX(id) FROM install_generations), 0),
                            COALESCE((SELECT MAX(to_generation) FROM install_operations), 0))",
                [],
                |r| r.get(0),
            )?;
            Ok(GenerationId(max as u64 + 1))
        })
    }
}

/// Writes `generation` (not current yet) inside `tx`. Writing the same generation twice
/// replaces it, so a retried step is harmless.
pub(crate) fn write_generation(tx: &Transaction<'_>, g: &Generation) -> Result<(), StoreError> {
    let id = g.id.0 as i64;
    tx.execute(
        "DELETE FROM install_generation_plugins WHERE generation = ?1",
        [id],
    )?;
    tx.execute(
        "INSERT OR REPLACE INTO install_generations
             (id, parent, operation, summary, created_at_ms, lockfile)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            g.parent.map(|p| p.0 as i64),
            g.operation.to_string(),
            g.summary,
            g.created_at.as_millis(),
            g.lockfile,
        ],
    )?;
    let json = |v: &dyn erased::Json| v.text();
    for p in &g.plugins {
        tx.execute(
            "INSERT INTO install_generation_plugins
                 (generation, name, version, sha256, source, trust, signer, enabled, requested,
                  dependencies, optional_dependencies, capabilities, grants)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                id,
                p.name,
                p.version.to_string(),
                p.sha256,
                p.source,
                p.trust.as_str(),
                p.signer,
                p.enabled,
                p.requested,
                json(&p.dependencies),
                json(&p.optional_dependencies),
                json(&p.capabilities),
                json(&p.grants),
            ],
        )?;
    }
    Ok(())
}

/// Makes `to` current inside `tx` — the flip — or, for `None`, leaves no generation
/// current. `from` is what must be current now (a compare and swap, so two operations cannot
/// both flip from the same generation). Returns whether it flipped.
pub(crate) fn flip(
    tx: &Transaction<'_>,
    from: Option<GenerationId>,
    to: Option<GenerationId>,
) -> Result<bool, StoreError> {
    let now = Timestamp::now().as_millis();
    let current: Option<i64> = tx
        .query_row(
            "SELECT generation FROM install_current WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if current.map(|g| g as u64) != from.map(|g| g.0) {
        return Ok(false);
    }
    match to {
        Some(to) => tx.execute(
            "INSERT OR REPLACE INTO install_current (id, generation, flipped_at_ms) VALUES (1, ?1, ?2)",
            params![to.0 as i64, now],
        )?,
        None => tx.execute("DELETE FROM install_current WHERE id = 1", [])?,
    };
    Ok(true)
}

impl Store {
    /// Records the grants `plugin` holds in generation `id` (decided when it loaded).
    pub(crate) fn set_generation_grants(
        &self,
        id: GenerationId,
        plugin: &str,
        grants: &[GrantRecord],
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(grants).unwrap_or_else(|_| "[]".into());
        self.with(|c| {
            c.execute(
                "UPDATE install_generation_plugins SET grants = ?3 WHERE generation = ?1 AND name = ?2",
                params![id.0 as i64, plugin, text],
            )?;
            Ok(())
        })
    }

    /// Deletes generation `id` if operation `op` made it and it is not current: what a
    /// failed, rolled-back or interrupted operation prepared is not left behind.
    pub(crate) fn discard_prepared(
        &self,
        op: &OperationId,
        id: GenerationId,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let made_by: Option<String> = tx
                .query_row(
                    "SELECT operation FROM install_generations WHERE id = ?1",
                    [id.0 as i64],
                    |r| r.get(0),
                )
                .optional()?;
            let current: Option<i64> = tx
                .query_row(
                    "SELECT generation FROM install_current WHERE id = 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            if made_by.as_deref() == Some(op.as_str()) && current != Some(id.0 as i64) {
                tx.execute(
                    "DELETE FROM install_generation_plugins WHERE generation = ?1",
                    [id.0 as i64],
                )?;
                tx.execute(
                    "DELETE FROM install_generations WHERE id = ?1",
                    [id.0 as i64],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Deletes generations (never called with the current one).
    pub(crate) fn delete_generations(&self, ids: &[GenerationId]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.with(|c| {
            let tx = c.transaction()?;
            for id in ids {
                tx.execute(
                    "DELETE FROM install_generation_plugins WHERE generation = ?1",
                    [id.0 as i64],
                )?;
                tx.execute(
                    "DELETE FROM install_generations WHERE id = ?1",
                    [id.0 as i64],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }
}

/// Serialising helpers for the JSON columns.
mod erased {
    pub trait Json {
        fn text(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn text(&self) -> String {
            serde_json::to_string(self).unwrap_or_else(|_| "[]".into())
        }
    }
}

/// The schema of generations and the journal: migration version 5.
pub(crate) const SCHEMA: &str = r#"
-- A generation: an immutable installed set (ARCHITECTURE D10).
CREATE TABLE install_generations (
    id            INTEGER PRIMARY KEY,
    parent        INTEGER,
    operation     TEXT    NOT NULL,
    summary       TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    lockfile      TEXT    NOT NULL
);
CREATE TABLE install_generation_plugins (
    generation            INTEGER NOT NULL REFERENCES install_generations (id) ON DELETE CASCADE,
    name                  TEXT    NOT NULL,
    version               TEXT    NOT NULL,
    sha256                TEXT    NOT NULL,
    source                TEXT    NOT NULL,
    trust                 TEXT    NOT NULL,
    signer                TEXT,
    enabled               INTEGER NOT NULL,
    requested             INTEGER NOT NULL,
    dependencies          TEXT    NOT NULL,
    optional_dependencies TEXT    NOT NULL,
    capabilities          TEXT    NOT NULL,
    grants                TEXT    NOT NULL,
    PRIMARY KEY (generation, name)
);
-- The one pointer: which generation is current. Changing it is the flip.
CREATE TABLE install_current (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    generation    INTEGER NOT NULL,
    flipped_at_ms INTEGER NOT NULL
);
-- The journal: one row per operation, its phase, and one row per phase boundary.
CREATE TABLE install_operations (
    id              TEXT    PRIMARY KEY,
    kind            TEXT    NOT NULL,
    request         TEXT    NOT NULL,
    from_generation INTEGER,
    to_generation   INTEGER,
    phase           TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    error           TEXT,
    data_backup     TEXT,
    started_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL
);
CREATE INDEX install_operations_status ON install_operations (status);
CREATE TABLE install_journal (
    seq       INTEGER PRIMARY KEY,
    operation TEXT    NOT NULL,
    phase     TEXT    NOT NULL,
    event     TEXT    NOT NULL,
    at_ms     INTEGER NOT NULL,
    detail    TEXT    NOT NULL
);
CREATE INDEX install_journal_operation ON install_journal (operation, seq);
"#;
