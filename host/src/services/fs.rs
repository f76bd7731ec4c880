//! File helpers for plugins: `fs.read` and `fs.write`, confined by the kernel.
//!
//! The plugin's path is normalised lexically and checked against its grants — a first filter,
//! never the guarantee. The file is then opened *beneath the granted directory*: the literal
//! prefix of the grant that allows the path is opened once per instance as a directory
//! handle, and the rest of the path is resolved from it with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS)`, so neither `..` nor a symlink — even one swapped in while the call
//! runs — can lead outside it. When the grant has wildcards below its prefix (`/srv/*/logs/**`)
//! or names a single file, symlinks are refused outright (`RESOLVE_NO_SYMLINKS`), so the path
//! opened is the path checked. Only regular files are read or written: the file is opened
//! non-blocking (a FIFO cannot stall the host) and its type checked on the descriptor. A file
//! with more than one hard link is never opened for writing (it may be a name for a file
//! outside the grant); reads trust the directory's contents (see the design record). A path
//! that does not exist is checked first, so a denied plugin cannot probe which files exist.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use switchboard_sdk::caps::Access;
#[cfg(target_os = "linux")]
use switchboard_sdk::caps::{Capability, PathPattern};
use switchboard_sdk::{codes, PluginError};

use super::PluginServices;
#[cfg(target_os = "linux")]
use crate::caps::DenyReason;
#[cfg(target_os = "linux")]
use crate::timestamp::Timestamp;

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

/// The path to check: `requested` with symlinks resolved as they are now (its directory's,
/// for a file that does not exist yet), so a symlink pointing out of a grant is denied by the
/// check already, and grants — whose prefixes were resolved the same way — compare alike.
/// Only a first filter: the open beneath the grant's directory is the guarantee.
fn resolved(requested: &Path) -> PathBuf {
    std::fs::canonicalize(requested)
        .ok()
        .or_else(|| {
            let dir = std::fs::canonicalize(requested.parent()?).ok()?;
            Some(dir.join(requested.file_name()?))
        })
        .unwrap_or_else(|| requested.to_owned())
}

/// The directory handles an instance's file helpers resolve paths from, each opened once.
#[derive(Debug, Default)]
pub(crate) struct GrantDirs {
    open: Mutex<HashMap<PathBuf, Arc<File>>>,
}

#[cfg(target_os = "linux")]
/// Where to open a checked path from: a granted directory, the rest of the path, and whether
/// symlinks may be followed beneath the directory.
struct Beneath {
    dir: PathBuf,
    rest: PathBuf,
    symlinks: bool,
}

#[cfg(target_os = "linux")]
/// Picks, among the unexpired grants of `kind` that allow `path`, the one to open it beneath:
/// preferably one that allows everything below its literal prefix (`/srv/data/**`), where a
/// symlink that stays beneath the prefix stays within the grant.
fn beneath(
    svc: &PluginServices,
    path: &Path,
    pattern: impl Fn(&Capability) -> Option<&PathPattern>,
) -> Option<Beneath> {
    let now = Timestamp::now();
    let grants = svc.gate.table.grants(svc.gate.token);
    let mut best: Option<Beneath> = None;
    for g in grants.iter().filter(|g| !g.is_expired_at(now)) {
        let Some(p) = pattern(g.capability()) else {
            continue;
        };
        if !p.matches(path) {
            continue;
        }
        let mut dir = p.literal_prefix();
        // The directory must be a proper ancestor of the file (a grant may name the file).
        while !(path.starts_with(&dir) && path != dir) {
            if !dir.pop() {
                return None;
            }
        }
        let below = PathPattern::parse(&format!("{}/**", dir.display()).replace("//", "/"))
            .is_ok_and(|all| p.covers(&all));
        let rest = path.strip_prefix(&dir).ok()?.to_owned();
        let candidate = Beneath {
            dir,
            rest,
            symlinks: below,
        };
        match &best {
            Some(b) if b.symlinks || !candidate.symlinks => {}
            _ => best = Some(candidate),
        }
    }
    best
}

#[cfg(target_os = "linux")]
mod confined {
    use std::fs::File;
    use std::os::fd::OwnedFd;
    use std::path::Path;

    use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
    use rustix::io::Errno;

    /// Opens a granted directory as a handle for resolving beneath it.
    pub(super) fn open_dir(dir: &Path) -> std::io::Result<File> {
        let fd: OwnedFd = rustix::fs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(File::from(fd))
    }

    /// Why an open beneath a directory failed.
    pub(super) enum OpenError {
        /// The path leads outside the directory, or through a symlink where none may be.
        Escapes,
        /// This kernel has no `openat2` (Linux 5.6+).
        Unsupported,
        Io(std::io::Error),
    }

    /// `openat2` beneath `dir`, non-blocking; retried when a concurrent rename made the kernel
    /// give up (`EAGAIN`), as its manual asks.
    pub(super) fn open_beneath(
        dir: &File,
        rest: &Path,
        write: bool,
        symlinks: bool,
    ) -> Result<File, OpenError> {
        let mut flags = OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
        flags |= if write {
            OFlags::WRONLY | OFlags::CREATE
        } else {
            OFlags::RDONLY
        };
        let mut resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        if !symlinks {
            resolve |= ResolveFlags::NO_SYMLINKS;
        }
        // openat2 refuses a mode without O_CREAT (EINVAL).
        let mode = if write {
            Mode::from_bits_truncate(0o666)
        } else {
            Mode::empty()
        };
        let mut attempts = 0;
        loop {
            match rustix::fs::openat2(dir, rest, flags, mode, resolve) {
                Ok(fd) => return Ok(File::from(fd)),
                Err(Errno::AGAIN) if attempts < 16 => attempts += 1,
                Err(Errno::XDEV) => return Err(OpenError::Escapes),
                Err(Errno::LOOP) if !symlinks => return Err(OpenError::Escapes),
                Err(Errno::NOSYS) => return Err(OpenError::Unsupported),
                Err(e) => return Err(OpenError::Io(e.into())),
            }
        }
    }

    /// Whether the file is a regular file, and whether it has other hard links, from the
    /// descriptor.
    pub(super) fn kind(file: &File) -> std::io::Result<(bool, bool)> {
        let st = rustix::fs::fstat(file)?;
        let regular = FileType::from_raw_mode(st.st_mode) == FileType::RegularFile;
        Ok((regular, st.st_nlink > 1))
    }
}

#[cfg(target_os = "linux")]
impl GrantDirs {
    fn get(&self, dir: &Path) -> std::io::Result<Arc<File>> {
        let mut open = self.open.lock();
        if let Some(f) = open.get(dir) {
            return Ok(f.clone());
        }
        let f = Arc::new(confined::open_dir(dir)?);
        open.insert(dir.to_owned(), f.clone());
        Ok(f)
    }
}

/// Opens the checked path `path` beneath its grant's directory.
#[cfg(target_os = "linux")]
fn open(
    svc: &PluginServices,
    path: &Path,
    access: &Access<'_>,
    write: bool,
) -> Result<File, PluginError> {
    use confined::OpenError;
    let pattern: fn(&Capability) -> Option<&PathPattern> = if write {
        |c| match c {
            Capability::FsWrite(p) => Some(p),
            _ => None,
        }
    } else {
        |c| match c {
            Capability::FsRead(p) => Some(p),
            _ => None,
        }
    };
    let Some(b) = beneath(svc, path, pattern) else {
        // Allowed by the check but by no grant we can open beneath (it expired meanwhile).
        return Err(svc.gate.authorize(access).err().map_or_else(
            || {
                failed(
                    format!("{}: no granted directory holds it", path.display()),
                    "have the plugin granted the directory that holds the file",
                )
            },
            |e| e.to_plugin_error(),
        ));
    };
    let dir = svc.dirs.get(&b.dir).map_err(|e| io_failed(&b.dir, &e))?;
    match confined::open_beneath(&dir, &b.rest, write, b.symlinks) {
        Ok(f) => Ok(f),
        Err(OpenError::Escapes) => {
            let granted = svc
                .gate
                .table
                .grants(svc.gate.token)
                .into_iter()
                .map(|g| g.capability().clone())
                .filter(|c| c.kind() == access.kind())
                .collect();
            Err(svc
                .gate
                .refuse(access, DenyReason::OutOfScope { granted })
                .to_plugin_error())
        }
        Err(OpenError::Unsupported) => Err(failed(
            format!(
                "{}: this kernel has no openat2 (Linux 5.6 or later), so the file cannot be \
                 opened confined to its grant",
                path.display()
            ),
            "run the host on Linux 5.6 or later",
        )),
        Err(OpenError::Io(e)) => Err(io_failed(path, &e)),
    }
}

/// Refuses anything but a regular file, and (for writing) one with other hard links.
#[cfg(target_os = "linux")]
fn check_file(file: &File, path: &Path, write: bool) -> Result<(), PluginError> {
    let (regular, linked) = confined::kind(file).map_err(|e| io_failed(path, &e))?;
    if !regular {
        return Err(PluginError::with_code(
            codes::NOT_A_REGULAR_FILE,
            format!(
                "{} is not a regular file (a directory, FIFO, socket or device)",
                path.display()
            ),
        )
        .next_step("read and write regular files only"));
    }
    if write && linked {
        return Err(PluginError::with_code(
            codes::HARD_LINKED_FILE,
            format!(
                "{} has other hard links; one of them may name a file outside the grant, so it \
                 is not opened for writing",
                path.display()
            ),
        )
        .next_step("write to a file with a single link (remove the other links, or copy it)"));
    }
    Ok(())
}

#[cfg(target_os = "linux")]
pub(super) fn read(svc: &PluginServices, path: &str) -> Result<Vec<u8>, PluginError> {
    let requested = resolved(&absolute(path)?);
    let access = Access::ReadFile(&requested);
    svc.authorize(&access)?;
    let mut file = open(svc, &requested, &access, false)?;
    check_file(&file, &requested, false)?;
    let mut out = Vec::new();
    file.read_to_end(&mut out)
        .map_err(|e| io_failed(&requested, &e))?;
    Ok(out)
}

#[cfg(target_os = "linux")]
pub(super) fn write(svc: &PluginServices, path: &str, data: &[u8]) -> Result<(), PluginError> {
    let requested = absolute(path)?;
    if requested.file_name().is_none() {
        return Err(failed(
            format!("`{path}` names no file"),
            "pass the path of a file, not a directory",
        ));
    }
    let requested = resolved(&requested);
    let access = Access::WriteFile(&requested);
    svc.authorize(&access)?;
    let mut file = open(svc, &requested, &access, true)?;
    // Truncated only once the file is known to be a regular file with a single link.
    check_file(&file, &requested, true)?;
    file.set_len(0)
        .and_then(|()| file.write_all(data))
        .and_then(|()| file.flush())
        .map_err(|e| io_failed(&requested, &e))
}

#[cfg(not(target_os = "linux"))]
pub(super) fn read(_: &PluginServices, path: &str) -> Result<Vec<u8>, PluginError> {
    Err(unsupported(path))
}

#[cfg(not(target_os = "linux"))]
pub(super) fn write(_: &PluginServices, path: &str, _: &[u8]) -> Result<(), PluginError> {
    Err(unsupported(path))
}

/// Without `openat2` the host cannot confine a path to its grant, and refuses rather than
/// fall back to string checks.
#[cfg(not(target_os = "linux"))]
fn unsupported(path: &str) -> PluginError {
    failed(
        format!("{path}: file access for plugins needs Linux (openat2) on this version"),
        "run the host on Linux 5.6 or later",
    )
}
