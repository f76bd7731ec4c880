//! File helpers for plugins: `fs.read` and `fs.write`, checked on canonical paths.
//!
//! A path is resolved with `canonicalize` (every symlink and `..` followed) and the *result*
//! is checked, so a symlink inside a granted directory that points outside it, or a `../`
//! climb, is denied. The file is then opened without following a final symlink, and on Linux
//! the path of the descriptor actually opened is read back from `/proc/self/fd` and checked
//! again, which closes the window between the check and the open. A path that does not exist
//! is checked lexically first, so a denied plugin cannot probe which files exist.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use switchboard_sdk::caps::Access;
use switchboard_sdk::{codes, PluginError};

use super::PluginServices;

fn failed(message: String, next: &str) -> PluginError {
    PluginError::with_code(codes::SERVICE_FAILED, message).next_step(next)
}

fn io_failed(path: &Path, e: &std::io::Error) -> PluginError {
    failed(
        format!("{}: {e}", path.display()),
        "check that the file exists and the host may access it",
    )
}

/// `.` and `..` resolved without the file system; `None` for a relative path.
fn lexical(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

fn absolute(path: &str) -> Result<PathBuf, PluginError> {
    lexical(Path::new(path)).ok_or_else(|| {
        failed(
            format!("`{path}` is not an absolute path"),
            "pass an absolute path",
        )
    })
}

#[cfg(target_os = "linux")]
fn nofollow(o: &mut OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt;
    let flag = rustix::fs::OFlags::NOFOLLOW.bits();
    o.custom_flags(i32::try_from(flag).unwrap_or(0));
}

#[cfg(not(target_os = "linux"))]
fn nofollow(_: &mut OpenOptions) {}

/// Where the open descriptor really points, when the platform can say.
#[cfg(target_os = "linux")]
fn opened_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

#[cfg(not(target_os = "linux"))]
fn opened_path(_: &File) -> Option<PathBuf> {
    None
}

/// Rechecks the file actually opened: it must be the path checked, or one the grant allows.
fn recheck(
    svc: &PluginServices,
    file: &File,
    checked: &Path,
    access: impl for<'p> Fn(&'p Path) -> Access<'p>,
) -> Result<(), PluginError> {
    match opened_path(file) {
        Some(real) if real != checked => svc.authorize(&access(&real)),
        _ => Ok(()),
    }
}

pub(super) fn read(svc: &PluginServices, path: &str) -> Result<Vec<u8>, PluginError> {
    let requested = absolute(path)?;
    let real = match std::fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) => {
            svc.authorize(&Access::ReadFile(&requested))?;
            return Err(io_failed(&requested, &e));
        }
    };
    svc.authorize(&Access::ReadFile(&real))?;
    let mut options = OpenOptions::new();
    options.read(true);
    nofollow(&mut options);
    let mut file = options.open(&real).map_err(|e| io_failed(&real, &e))?;
    recheck(svc, &file, &real, |p| Access::ReadFile(p))?;
    let mut out = Vec::new();
    file.read_to_end(&mut out)
        .map_err(|e| io_failed(&real, &e))?;
    Ok(out)
}

pub(super) fn write(svc: &PluginServices, path: &str, data: &[u8]) -> Result<(), PluginError> {
    let requested = absolute(path)?;
    let (Some(parent), Some(name)) = (requested.parent(), requested.file_name()) else {
        return Err(failed(
            format!("`{path}` names no file"),
            "pass the path of a file, not a directory",
        ));
    };
    let real_parent = match std::fs::canonicalize(parent) {
        Ok(p) => p,
        Err(e) => {
            svc.authorize(&Access::WriteFile(&requested))?;
            return Err(io_failed(parent, &e));
        }
    };
    let mut target = real_parent.join(name);
    if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
        // Writing through a symlink writes its target: that is what must be granted.
        target = std::fs::canonicalize(&target).unwrap_or(target);
    }
    svc.authorize(&Access::WriteFile(&target))?;
    let mut options = OpenOptions::new();
    // Truncated only after the recheck, so a file swapped in meanwhile is left as it was.
    options.write(true).create(true).truncate(false);
    nofollow(&mut options);
    let mut file = options.open(&target).map_err(|e| io_failed(&target, &e))?;
    recheck(svc, &file, &target, |p| Access::WriteFile(p))?;
    file.set_len(0)
        .and_then(|()| file.write_all(data))
        .and_then(|()| file.flush())
        .map_err(|e| io_failed(&target, &e))
}
