//! Recovery: operations a crash interrupted, found in the journal and rolled back when a
//! host opens its data directory.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::json;

use super::activate::restore_data;
use super::events::publish;
use super::generation::{flip, Generation};
use super::installer::Installer;
use super::journal::{OperationId, OperationStatus};
use super::operation::{collect_unreferenced, discard, empty_generation};
use super::package_store::PackageStore;
use super::report::Recovery;
use crate::audit::{AuditEvent, AuditKind};
use crate::error::Error;
use crate::host::Host;

/// Audits and publishes a roll-back of operation `op` from `new` to `old`.
pub(crate) fn rolled_back_notice(
    host: &Host,
    op: &OperationId,
    new: &Generation,
    old: Option<&Generation>,
    why: &str,
) -> Result<(), Error> {
    let what = json!({
        "event": "rolled_back",
        "operation": op.as_str(),
        "from_generation": new.id,
        "generation": old.map(|g| g.id),
        "reason": why,
    });
    let mut events = Vec::new();
    let names: BTreeSet<&str> = new
        .plugins
        .iter()
        .map(|p| p.name.as_str())
        .chain(
            old.into_iter()
                .flat_map(|g| g.plugins.iter().map(|p| p.name.as_str())),
        )
        .filter(|n| {
            let a = new.plugin(n).map(|p| (&p.sha256, p.enabled));
            let b = old
                .and_then(|g| g.plugin(n))
                .map(|p| (&p.sha256, p.enabled));
            a != b
        })
        .collect();
    for n in &names {
        events.push(AuditEvent::new(
            AuditKind::Install,
            *n,
            "rolled_back",
            what.clone(),
        ));
    }
    if events.is_empty() {
        events.push(AuditEvent::new(
            AuditKind::Install,
            "",
            "rolled_back",
            what.clone(),
        ));
    }
    host.store().audit().append_all(&events)?;
    for n in names {
        publish(host, super::events::ROLLED_BACK, n, &what);
    }
    if new.plugins.is_empty() && old.is_none() {
        publish(host, super::events::ROLLED_BACK, "", &what);
    }
    Ok(())
}

/// Rolls back every operation a crash interrupted (none if another process holds the
/// operation lock). Called when a host opens its data directory.
pub(crate) fn recover(host: &Host) -> Result<Vec<Recovery>, Error> {
    let store = host.store();
    let running = store.journal_running()?;
    if running.is_empty() {
        return Ok(Vec::new());
    }
    let installer = Installer::new(host);
    let Ok(_lock) = installer.lock() else {
        // Another process is running an operation: it is not interrupted.
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for op in running {
        let Some(record) = store.journal_operation(&op)? else {
            continue;
        };
        let current = store.current_generation_id()?;
        let flipped = record.to_generation.is_some()
            && current == record.to_generation
            && record.to_generation != record.from_generation;
        let new = record
            .to_generation
            .map(|id| store.generation(id))
            .transpose()?
            .flatten();
        let old = record
            .from_generation
            .map(|id| store.generation(id))
            .transpose()?
            .flatten();
        if flipped {
            store.with(|c| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                flip(&tx, record.to_generation, record.from_generation)?;
                tx.commit()?;
                Ok(())
            })?;
        }
        // Whether or not the flip happened (or was already undone before the crash), the
        // changed plugins get the data they had before the operation: the backup was taken
        // just before the flip, and only the new generation's code could have changed it.
        if let Some(new) = &new {
            let backup = store.journal_data_backup(&op)?.map(PathBuf::from);
            restore_data(host, old.as_ref(), new, backup.as_deref())?;
        }
        // Always, and after the data: a crash may come between the lockfile written for the
        // new generation and the flip (`flip_to` writes the lockfile first).
        installer.write_lockfile(store.current_generation_id()?)?;
        let why = format!("interrupted in phase {} (its process ended)", record.phase);
        store.journal_step(
            &op,
            record.phase,
            "rolled-back",
            &json!({ "cause": why, "recovered": true }),
        )?;
        store.journal_finish(&op, OperationStatus::RolledBack, Some(&why))?;
        let new_g = record
            .to_generation
            .map(|id| store.generation(id))
            .transpose()?
            .flatten()
            .unwrap_or_else(empty_generation);
        let old_g = record
            .from_generation
            .map(|id| store.generation(id))
            .transpose()?
            .flatten();
        if flipped {
            rolled_back_notice(host, &op, &new_g, old_g.as_ref(), &why)?;
        } else {
            store.audit().append(&AuditEvent::new(
                AuditKind::Install,
                "",
                "rolled_back",
                json!({ "event": "rolled_back", "operation": op.as_str(), "reason": why, "flipped": false }),
            ))?;
        }
        discard(host, &op);
        PackageStore::new(host.data_dir()).clear_staging(&op);
        let _ = std::fs::remove_file(
            host.data_dir()
                .join("backups")
                .join(format!("install-{op}.db.tmp")),
        );
        out.push(Recovery {
            operation: op,
            kind: record.kind,
            phase: record.phase,
            flipped_back: flipped,
            generation: store.current_generation_id()?,
        });
    }
    // Packages the interrupted operations stored that no generation references: nothing
    // half-installed stays behind.
    collect_unreferenced(host);
    Ok(out)
}
