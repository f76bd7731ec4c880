//! The arguments of the install commands, as clap parses them (the binary's command table
//! names these structs).

use std::path::PathBuf;

use clap::Args;

/// What every install command takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// The host's data directory (default: SWITCHBOARD_HOME, then the platform's).
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
    pub data_dir: Option<PathBuf>,
    /// Print one JSON document (and no progress).
    #[arg(long)]
    pub json: bool,
    /// Answer yes to the question the command would ask (capabilities to grant, dependents to
    /// remove, the generation to switch to); needed when stdin is not a terminal.
    #[arg(long)]
    pub yes: bool,
    /// The host policy to apply (TOML, as `switchboard preflight --policy`; default:
    /// `<data dir>/policy.toml` if there is one, else no rules: deny by default, and the
    /// review asks).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Also trust this public key (repeatable); the data dir's trust store
    /// (`switchboard trust add`) is always used.
    #[arg(long, value_name = "PUBKEY_FILE")]
    pub trust: Vec<PathBuf>,
    /// The host API the plugins must be compatible with, as NAME@VERSION; remembered in the
    /// data directory for later commands (default: the one remembered).
    #[arg(long, value_name = "NAME@VERSION")]
    pub host_api: Option<String>,
}

/// Where packages come from and what the operation may do, for `install` and `update`.
#[derive(Debug, Clone, Args)]
pub struct Sources {
    /// A package file or a directory of packages to install from (repeatable; the first
    /// listed wins when two offer the same release).
    #[arg(long = "from", value_name = "DIR|FILE")]
    pub from: Vec<PathBuf>,
    /// Use the configured registries as last verified: fetch no registry metadata (packages
    /// not yet downloaded still are). Without it, every registry is refreshed first.
    #[arg(long)]
    pub offline: bool,
    /// Let beta releases from the registries be chosen (drafts never are).
    #[arg(long)]
    pub beta: bool,
    /// Refuse any change to the versions the data directory's switchboard.lock records.
    #[arg(long)]
    pub locked: bool,
    /// Allow a version older than the installed one.
    #[arg(long)]
    pub allow_downgrade: bool,
}

/// `switchboard install`.
#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    /// What to install: NAME, NAME@RANGE (e.g. hello@^0.2), or the path of a .sbpkg file.
    #[arg(required = true, value_name = "NAME[@RANGE]|FILE.sbpkg")]
    pub requests: Vec<String>,
    #[command(flatten)]
    pub sources: Sources,
    #[command(flatten)]
    pub common: Common,
}

/// `switchboard update`.
#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    /// The plugin to update (its dependencies follow as needed).
    #[arg(value_name = "NAME", required_unless_present = "all")]
    pub name: Option<String>,
    /// Update every installed plugin.
    #[arg(long, conflicts_with = "name")]
    pub all: bool,
    #[command(flatten)]
    pub sources: Sources,
    #[command(flatten)]
    pub common: Common,
}

/// `switchboard rollback`.
#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    /// The generation to make current (default: the one before the current one).
    #[arg(long, value_name = "GENERATION")]
    pub to: Option<u64>,
    #[command(flatten)]
    pub common: Common,
}

/// `switchboard remove`.
#[derive(Debug, Clone, Args)]
pub struct RemoveArgs {
    /// The plugin to remove.
    pub name: String,
    /// Remove the plugins that depend on it too.
    #[arg(long)]
    pub with_dependents: bool,
    #[command(flatten)]
    pub common: Common,
}

/// `switchboard enable` and `switchboard disable`.
#[derive(Debug, Clone, Args)]
pub struct NameArgs {
    /// The plugin.
    pub name: String,
    #[command(flatten)]
    pub common: Common,
}

/// `switchboard list` and `switchboard generations`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// The host's data directory (default: SWITCHBOARD_HOME, then the platform's).
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
    pub data_dir: Option<PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}
