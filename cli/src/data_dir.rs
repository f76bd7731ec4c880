//! Where the CLI finds a host's data directory: `--data-dir`, then `SWITCHBOARD_HOME` (both
//! resolved by clap in the binary), then the platform's data directory.

use std::path::PathBuf;

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

/// The data directory to use: the one given, or the platform's.
pub fn resolve(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    given.or_else(platform_default).ok_or_else(|| {
        anyhow::anyhow!("no data directory: pass `--data-dir DIR` or set SWITCHBOARD_HOME")
    })
}
