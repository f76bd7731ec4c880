//! The install journal (ARCHITECTURE D10): every operation gets a correlation id and a row
//! in the host database, and every phase — download → verify → resolve → activate →
//! health-check — is recorded when it begins and when it ends. An operation whose row is
//! still `running` when a host or installer opens the data directory was interrupted (its
//! process died); recovery rolls it back to the generation it started from.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::generation::GenerationId;
use crate::error::StoreError;
use crate::store::Store;
use crate::timestamp::Timestamp;

/// An operation's correlation id, e.g. `op-0193e0c2a1f4-3f2a-1`: unique on one machine
/// (time, process, counter). It names the operation in the journal, the audit log, the
/// generation it made and the bus events it published.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OperationId(String);

impl OperationId {
    /// A new id.
    pub(crate) fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        OperationId(format!(
            "op-{:x}-{:x}-{n}",
            Timestamp::now().as_millis(),
            std::process::id()
        ))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for OperationId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.starts_with("op-")
            && s.len() <= 64
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if ok {
            Ok(OperationId(s.to_owned()))
        } else {
            Err(format!("`{s}` is not an operation id"))
        }
    }
}

/// The phases of an operation, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Phase {
    /// Fetching the chosen releases' packages into the package store (nothing to fetch for
    /// remove, enable, disable and rollback: their packages are stored).
    Download,
    /// Checking each package: its sha256 against the index, then signature, manifest pins,
    /// policy and compatibility as a load would — before any plugin code runs.
    Verify,
    /// Preparing the new generation beside the current one: the closure of dependencies from
    /// the verified manifests, the lockfile, the rows of the generation (not yet current).
    Resolve,
    /// The flip (one transaction), then the running host is made to match the new
    /// generation: plugins stopped, loaded (data migrations run here) and started in
    /// dependency order.
    Activate,
    /// The plugins the operation changed report their health; a failure rolls back.
    HealthCheck,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 5] = [
        Phase::Download,
        Phase::Verify,
        Phase::Resolve,
        Phase::Activate,
        Phase::HealthCheck,
    ];

    /// The phase's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Download => "download",
            Phase::Verify => "verify",
            Phase::Resolve => "resolve",
            Phase::Activate => "activate",
            Phase::HealthCheck => "health-check",
        }
    }

    /// Its position, 1 to 5 (for "phase 3/5").
    pub const fn number(self) -> u8 {
        match self {
            Phase::Download => 1,
            Phase::Verify => 2,
            Phase::Resolve => 3,
            Phase::Activate => 4,
            Phase::HealthCheck => 5,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Phase {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a phase"))
    }
}

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum OperationKind {
    /// Install plugins (and their dependencies).
    Install,
    /// Move plugins to newer releases.
    Update,
    /// Remove plugins.
    Remove,
    /// Enable a disabled plugin.
    Enable,
    /// Disable a plugin.
    Disable,
    /// Make an earlier generation current again.
    Rollback,
}

impl OperationKind {
    /// The kind's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            OperationKind::Install => "install",
            OperationKind::Update => "update",
            OperationKind::Remove => "remove",
            OperationKind::Enable => "enable",
            OperationKind::Disable => "disable",
            OperationKind::Rollback => "rollback",
        }
    }
}

impl fmt::Display for OperationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OperationKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            OperationKind::Install,
            OperationKind::Update,
            OperationKind::Remove,
            OperationKind::Enable,
            OperationKind::Disable,
            OperationKind::Rollback,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| format!("`{s}` is not an operation kind"))
    }
}

/// Where an operation ended, or that it has not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum OperationStatus {
    /// Running — or interrupted, if no process is running it.
    Running,
    /// Finished: its generation is current.
    Done,
    /// Refused or failed before the flip: the current generation never changed.
    Failed,
    /// Failed after the flip, or interrupted and recovered: the previous generation is
    /// current again.
    RolledBack,
}

impl OperationStatus {
    /// The status's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            OperationStatus::Running => "running",
            OperationStatus::Done => "done",
            OperationStatus::Failed => "failed",
            OperationStatus::RolledBack => "rolled-back",
        }
    }
}

impl FromStr for OperationStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            OperationStatus::Running,
            OperationStatus::Done,
            OperationStatus::Failed,
            OperationStatus::RolledBack,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| format!("`{s}` is not an operation status"))
    }
}

/// An operation as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OperationRecord {
    /// Its correlation id.
    pub id: OperationId,
    /// What it does.
    pub kind: OperationKind,
    /// What was asked, in words.
    pub request: String,
    /// The generation current when it began.
    pub from_generation: Option<GenerationId>,
    /// The generation it prepares, once known.
    pub to_generation: Option<GenerationId>,
    /// The last phase it entered.
    pub phase: Phase,
    /// How it ended.
    pub status: OperationStatus,
    /// Why it failed, if it did (`[SB####] message`).
    pub error: Option<String>,
    /// When it began.
    pub started_at: Timestamp,
    /// When its record last changed.
    pub updated_at: Timestamp,
    /// Each phase boundary, in order.
    pub steps: Vec<JournalStep>,
}

/// One line of the journal: a phase began or ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JournalStep {
    /// The phase.
    pub phase: Phase,
    /// `begin`, `end`, `failed` or `rolled-back`.
    pub event: String,
    /// When.
    pub at: Timestamp,
    /// Details (JSON).
    pub detail: String,
}

/// The database side of the journal.
impl Store {
    pub(crate) fn journal_begin_operation(
        &self,
        id: &OperationId,
        kind: OperationKind,
        request: &str,
        from: Option<GenerationId>,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO install_operations
                     (id, kind, request, from_generation, to_generation, phase, status, error,
                      data_backup, started_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, NULL, 'download', 'running', NULL, NULL, ?5, ?5)",
                params![
                    id.as_str(),
                    kind.as_str(),
                    request,
                    from.map(|g| g.0 as i64),
                    now
                ],
            )?;
            Ok(())
        })
    }

    /// Records a phase boundary (`begin`/`end`/…) and moves the operation's phase.
    pub(crate) fn journal_step(
        &self,
        id: &OperationId,
        phase: Phase,
        event: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO install_journal (operation, phase, event, at_ms, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id.as_str(), phase.as_str(), event, now, detail.to_string()],
            )?;
            tx.execute(
                "UPDATE install_operations SET phase = ?2, updated_at_ms = ?3 WHERE id = ?1",
                params![id.as_str(), phase.as_str(), now],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    pub(crate) fn journal_set_target(
        &self,
        id: &OperationId,
        to: GenerationId,
        data_backup: Option<&str>,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE install_operations SET to_generation = ?2, data_backup = ?3,
                        updated_at_ms = ?4 WHERE id = ?1",
                params![
                    id.as_str(),
                    to.0 as i64,
                    data_backup,
                    Timestamp::now().as_millis()
                ],
            )?;
            Ok(())
        })
    }

    pub(crate) fn journal_finish(
        &self,
        id: &OperationId,
        status: OperationStatus,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE install_operations SET status = ?2, error = ?3, updated_at_ms = ?4
                 WHERE id = ?1",
                params![
                    id.as_str(),
                    status.as_str(),
                    error,
                    Timestamp::now().as_millis()
                ],
            )?;
            Ok(())
        })
    }

    /// The data backup an operation took before activating, if any.
    pub(crate) fn journal_data_backup(
        &self,
        id: &OperationId,
    ) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT data_backup FROM install_operations WHERE id = ?1",
                [id.as_str()],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
        })
    }

    /// The data backup taken by the last finished operation that left generation `from`
    /// (what its plugins' data was when it stopped being current), if one was taken.
    pub(crate) fn backup_leaving(&self, from: GenerationId) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT data_backup FROM install_operations
                 WHERE from_generation = ?1 AND status = 'done' AND data_backup IS NOT NULL
                 ORDER BY updated_at_ms DESC, rowid DESC LIMIT 1",
                [from.0 as i64],
                |r| r.get::<_, String>(0),
            )
            .optional()?)
        })
    }

    /// The data backups of finished operations that left a generation not in `keep`.
    pub(crate) fn journal_backups_outside(
        &self,
        keep: &std::collections::BTreeSet<GenerationId>,
    ) -> Result<Vec<String>, StoreError> {
        let rows = self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT from_generation, data_backup FROM install_operations
                 WHERE data_backup IS NOT NULL AND status != 'running'",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })?;
        Ok(rows
            .into_iter()
            .filter(|(from, _)| !from.is_some_and(|g| keep.contains(&GenerationId(g as u64))))
            .map(|(_, path)| path)
            .collect())
    }

    /// Forgets a data backup that was removed.
    pub(crate) fn journal_forget_backup(&self, path: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE install_operations SET data_backup = NULL WHERE data_backup = ?1",
                [path],
            )?;
            Ok(())
        })
    }

    /// Operations still marked `running`, oldest first.
    pub(crate) fn journal_running(&self) -> Result<Vec<OperationId>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id FROM install_operations WHERE status = 'running' ORDER BY started_at_ms",
            )?;
            let ids = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ids.into_iter().map(OperationId).collect())
        })
    }

    /// The operation `id` with its steps.
    pub(crate) fn journal_operation(
        &self,
        id: &OperationId,
    ) -> Result<Option<OperationRecord>, crate::Error> {
        let corrupt =
            |what: &'static str, value: String| super::error::InstallError::Corrupt { what, value };
        let row = self.with(|c| {
            Ok(c.query_row(
                "SELECT kind, request, from_generation, to_generation, phase, status, error,
                        started_at_ms, updated_at_ms
                 FROM install_operations WHERE id = ?1",
                [id.as_str()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, i64>(7)?,
                        r.get::<_, i64>(8)?,
                    ))
                },
            )
            .optional()?)
        })?;
        let Some((kind, request, from, to, phase, status, error, started, updated)) = row else {
            return Ok(None);
        };
        let steps = self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT phase, event, at_ms, detail FROM install_journal
                 WHERE operation = ?1 ORDER BY seq",
            )?;
            let rows = stmt
                .query_map([id.as_str()], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })?;
        let mut out = Vec::with_capacity(steps.len());
        for (phase, event, at, detail) in steps {
            out.push(JournalStep {
                phase: phase.parse().map_err(|_| corrupt("phase", phase.clone()))?,
                event,
                at: Timestamp::from_millis(at),
                detail,
            });
        }
        Ok(Some(OperationRecord {
            id: id.clone(),
            kind: kind
                .parse()
                .map_err(|_| corrupt("operation kind", kind.clone()))?,
            request,
            from_generation: from.map(|g| GenerationId(g as u64)),
            to_generation: to.map(|g| GenerationId(g as u64)),
            phase: phase.parse().map_err(|_| corrupt("phase", phase.clone()))?,
            status: status
                .parse()
                .map_err(|_| corrupt("operation status", status.clone()))?,
            error,
            started_at: Timestamp::from_millis(started),
            updated_at: Timestamp::from_millis(updated),
            steps: out,
        }))
    }

    /// The ids of the last `limit` operations, newest first.
    pub(crate) fn journal_recent(&self, limit: usize) -> Result<Vec<OperationId>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id FROM install_operations ORDER BY started_at_ms DESC, rowid DESC LIMIT ?1",
            )?;
            let ids = stmt
                .query_map([limit as i64], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ids.into_iter().map(OperationId).collect())
        })
    }
}
