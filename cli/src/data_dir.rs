//! Where the CLI finds a host's data directory: `--data-dir`, then `SWITCHBOARD_HOME` (both
//! resolved by clap in the binary), then the platform's data directory.

use std::path::{Path, PathBuf};

use crate::output::{codes, CliError};

/// The platform's data directory for Switchboard: `$XDG_DATA_HOME/switchboard` or
/// `~/.local/share/switchboard` on Linux, `~/Library/Application Support/switchboard` on macOS,
/// `%APPDATA%\switchboard` on Windows. Reads the environment: the CLI may, libraries never do.
pub fn platform_default() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if cfg!(windows) {
        return var("APPDATA").map(|d| d.join("switchboard"));
    }
    if cfg!(target_os = "macos") {
        return var("HOME").map(|h| h.join("Library/Application Support/switchboard"));
    }
    var("XDG_DATA_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".local/share")))
        .map(|d| d.join("switchboard"))
}

/// The data directory to use: the one given, or the platform's; refused if it is not a
/// directory or cannot be read ([`check`]). One that does not exist yet is fine.
pub fn resolve(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = given.or_else(platform_default).ok_or_else(|| {
        CliError::raise(
            codes::DATA_DIR,
            "no data directory is known",
            "pass `--data-dir DIR` or set SWITCHBOARD_HOME",
        )
    })?;
    check(&dir)?;
    Ok(dir)
}

/// Refuses a path that exists but is not a readable directory: a data directory pointed at a
/// file, or one without read permission, is a mistake to report, not an empty directory.
pub fn check(dir: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CliError::raise(
            codes::DATA_DIR,
            format!("cannot use the data directory {}: {e}", dir.display()),
            "check the path and its permissions",
        )),
        Ok(m) if !m.is_dir() => Err(CliError::raise(
            codes::DATA_DIR,
            format!("the data directory {} is not a directory", dir.display()),
            "pass a directory with --data-dir (or SWITCHBOARD_HOME), not a file",
        )),
        Ok(_) => std::fs::read_dir(dir).map(drop).map_err(|e| {
            CliError::raise(
                codes::DATA_DIR,
                format!("cannot read the data directory {}: {e}", dir.display()),
                "check its permissions (the user running switchboard must be able to read it)",
            )
        }),
    }
}
