//! The integrity check the host database gets when it opens: `PRAGMA quick_check`, which
//! reads every page and checks the b-trees (but not, unlike `integrity_check`, that indexes
//! match their tables — linear instead of `N log N`). Damage is reported with the newest
//! backup to restore from. Damage inside a value that leaves the pages well formed is caught
//! later, on read, by the per-row checksums.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

/// The first problems `quick_check` reports, or `None` when the database is sound.
pub(crate) fn quick_check(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let mut stmt = conn.prepare("PRAGMA quick_check(10)")?;
    let lines = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    if lines.len() == 1 && lines[0] == "ok" {
        Ok(None)
    } else {
        Ok(Some(lines.join("; ")))
    }
}

/// The newest `*.db` file in `<data dir>/backups`.
pub(crate) fn newest_backup_in(data_dir: &Path) -> Option<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir.join(super::BACKUP_DIR))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "db"))
        .collect();
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    files.pop()
}
