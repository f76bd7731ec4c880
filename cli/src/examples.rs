//! Builds the example plugins of this workspace into their own target directory.
//!
//! A separate target directory keeps these nested builds from waiting on the lock of an outer
//! `cargo test` or `cargo run`; cargo's own lock on it serialises concurrent callers, and a
//! per-process cache makes repeated requests free.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

use anyhow::Result;

use crate::output::{codes, CliError, Coded as _};

/// The example plugin crates, by package name.
pub const PLUGINS: &[&str] = &["hello", "wordcount", "canary", "relay", "counter"];

/// The example plugins that extend `host-pipeline`'s extension points. Built with the others,
/// but kept out of [`PLUGINS`]: their hooks need a host that declares the points, so they do
/// not load into just any host.
pub const PIPELINE_PLUGINS: &[&str] = &["pipeline-lint", "pipeline-stamp"];

/// The example plugin that streams and meters (SPEC S1.6), shown by the demo's streaming step.
/// Built with the others, kept out of [`PLUGINS`] (the install tours) like the pipeline
/// plugins.
pub const STREAM_PLUGINS: &[&str] = &["instrument"];

/// The four plugins that show an author's whole range (SPEC S10.2, `examples/notes*`): two
/// internal (`notes`, `notes-search`), two community (`notes-export`, `notes-reminder`),
/// depending on each other through `plugin.toml`. Built with the others, kept out of
/// [`PLUGINS`]: they need their dependencies (and `notes-export` the `notes.render` point).
pub const NOTES_PLUGINS: &[&str] = &["notes", "notes-search", "notes-export", "notes-reminder"];

/// The workspace this binary was built from.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Which cargo profile to build the plugins with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// `dev`: quick to build; what tests use.
    Debug,
    /// `release`: what the demo and benches use.
    Release,
}

/// The file name of a cdylib for a crate on this platform.
pub fn library_file_name(package: &str) -> String {
    format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        package.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    )
}

/// Builds every example plugin (once per process and profile) and returns the directory
/// holding the libraries.
pub fn build(profile: Profile) -> Result<PathBuf> {
    static BUILT: Mutex<Option<HashMap<Profile, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(dir) = built.as_ref().and_then(|m| m.get(&profile)) {
        return Ok(dir.clone());
    }
    let root = workspace_root();
    if !root.join("examples").is_dir() {
        return Err(CliError::raise(
            codes::EXAMPLES,
            format!(
                "the example plugins are not beside this binary's sources ({})",
                root.display()
            ),
            "run the demo from a clone of the Switchboard repository",
        ));
    }
    let target = root.join("target").join("examples");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .arg("build")
        .arg("--quiet")
        .arg("--target-dir")
        .arg(&target);
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    for p in PLUGINS
        .iter()
        .chain(PIPELINE_PLUGINS)
        .chain(STREAM_PLUGINS)
        .chain(NOTES_PLUGINS)
    {
        cmd.args(["-p", p]);
    }
    let status = cmd.status().coded(
        codes::EXAMPLES,
        "could not run cargo to build the example plugins",
        "install Rust with cargo (https://rustup.rs), or set CARGO to its path",
    )?;
    if !status.success() {
        return Err(CliError::raise(
            codes::EXAMPLES,
            format!("building the example plugins failed ({status})"),
            "fix the errors cargo printed above; `cargo build -p hello` shows them again",
        ));
    }
    let dir = target.join(match profile {
        Profile::Debug => "debug",
        Profile::Release => "release",
    });
    built
        .get_or_insert_with(HashMap::new)
        .insert(profile, dir.clone());
    Ok(dir)
}

/// The path of one built example plugin.
pub fn library(profile: Profile, package: &str) -> Result<PathBuf> {
    let path = build(profile)?.join(library_file_name(package));
    if !path.is_file() {
        return Err(CliError::raise(
            codes::EXAMPLES,
            format!("expected {} after the build", path.display()),
            "build the examples again (`cargo build -p {package}`)",
        ));
    }
    Ok(path)
}

/// A copy of the library at `built` without its debug information, written under
/// `dir/stripped/` (a tenth of the size: benches and crash tests that hash, copy and map it
/// hundreds of times use it), or `built` itself where `objcopy` is missing or fails.
pub fn stripped_copy(built: &Path, dir: &Path) -> PathBuf {
    let Some(file_name) = built.file_name() else {
        return built.to_path_buf();
    };
    let out = dir.join("stripped").join(file_name);
    let stripped = std::fs::create_dir_all(dir.join("stripped")).is_ok()
        && Command::new("objcopy")
            .arg("--strip-debug")
            .arg(built)
            .arg(&out)
            .status()
            .is_ok_and(|s| s.success());
    if stripped {
        out
    } else {
        built.to_path_buf()
    }
}
