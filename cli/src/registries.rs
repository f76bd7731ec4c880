//! `switchboard registry add|list|remove`: the registries a data directory uses (SPEC S9.7),
//! and what every command that reads registries shares: opening them with the policy and their
//! tokens, then refreshing (or `--offline`, using what was verified last).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;
use switchboard_host::{Policy, RegistryRecord, Store};
use switchboard_registry::registries::{self, AddOptions, Added, OpenOptions, RootSource};
use switchboard_registry::{Location, Registries};

use crate::output::{codes, CliError, Coded};

/// The largest `--root FILE` read (a root is a few KiB).
const MAX_ROOT_BYTES: u64 = 1 << 20;

/// The largest policy file read.
const MAX_POLICY_BYTES: u64 = 1 << 20;

/// The policy file a data directory may hold; `--policy FILE` replaces it.
pub const POLICY_FILE: &str = "policy.toml";

/// The policy that applies: `--policy FILE`, else `<data dir>/policy.toml` if there is one,
/// else the default (any registry).
pub fn policy(data_dir: &Path, given: Option<&Path>) -> anyhow::Result<Policy> {
    let default = data_dir.join(POLICY_FILE);
    let path = match given {
        Some(p) => p.to_owned(),
        None if default.is_file() => default,
        None => return Ok(Policy::new()),
    };
    let bytes = crate::authoring::read_input(&path, "the policy", MAX_POLICY_BYTES)?;
    let text = String::from_utf8(bytes).coded(
        codes::READ,
        format_args!("cannot read the policy {}", path.display()),
        "a policy is UTF-8 TOML",
    )?;
    Policy::from_toml(&text).map_err(|e| {
        crate::output::policy_error(
            format!("{}: {e}", path.display()),
            &e,
            "fix the policy file (its format is in docs/packages.md, \"Policy\")",
        )
    })
}

/// The registry cache of a data directory.
pub fn cache_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(registries::CACHE_DIR)
}

fn open_store(data_dir: &Path) -> anyhow::Result<Store> {
    std::fs::create_dir_all(data_dir).coded(
        codes::WRITE,
        format_args!("cannot create the data directory {}", data_dir.display()),
        "check the path and its permissions",
    )?;
    Ok(Store::open(data_dir).map_err(switchboard_host::Error::from)?)
}

/// What `registry add` is given.
#[derive(Debug, Clone)]
pub struct AddArgs {
    /// The registry's name.
    pub name: String,
    /// Its URL or directory.
    pub location: String,
    /// Higher is asked first.
    pub priority: i64,
    /// `--root FILE`.
    pub root: Option<PathBuf>,
    /// `--token-env VAR`.
    pub token_env: Option<String>,
    /// `--certified-only`.
    pub certified_only: bool,
    /// `--channel`.
    pub channel: String,
    /// `--policy FILE`.
    pub policy: Option<PathBuf>,
}

/// `switchboard registry add`. Reads the token from the variable `--token-env` names (the CLI
/// may read the environment; the library is given the token).
pub fn add(data_dir: &Path, args: AddArgs) -> anyhow::Result<Added> {
    let policy = policy(data_dir, args.policy.as_deref())?;
    let location = Location::parse(&args.location)?;
    let root = args
        .root
        .as_deref()
        .map(|p| crate::authoring::read_input(p, "the root of trust", MAX_ROOT_BYTES))
        .transpose()?;
    let token = args
        .token_env
        .as_deref()
        .and_then(|var| std::env::var(var).ok())
        .filter(|t| !t.is_empty());
    let store = open_store(data_dir)?;
    let mut options = AddOptions::new(args.name, location, args.priority);
    options.root = root;
    options.token_env = args.token_env;
    options.token = token;
    options.certified_only = args.certified_only;
    options.channel = args.channel;
    Ok(registries::add(
        &store,
        &policy,
        &cache_dir(data_dir),
        options,
    )?)
}

/// `switchboard registry list`.
pub fn list(data_dir: &Path) -> anyhow::Result<Vec<RegistryRecord>> {
    if !data_dir.join(switchboard_host::DATABASE_FILE).is_file() {
        return Ok(Vec::new());
    }
    let store = Store::open_existing(data_dir).map_err(switchboard_host::Error::from)?;
    Ok(store
        .registries()
        .list()
        .map_err(switchboard_host::Error::from)?)
}

/// `switchboard registry remove`.
pub fn remove(data_dir: &Path, name: &str) -> anyhow::Result<RegistryRecord> {
    let store = open_store(data_dir)?;
    Ok(registries::remove(&store, &cache_dir(data_dir), name)?)
}

/// How commands that read registries reach them.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// `--offline`: use what the last refresh verified; fetch nothing.
    pub offline: bool,
    /// `--policy FILE`.
    pub policy: Option<PathBuf>,
}

/// Opens the data directory's registries and refreshes them (every command that reads a
/// registry does, so a rolled-back or frozen registry is noticed at once), or with `offline`
/// uses the cache. Refused when none is configured (`SB0050`).
pub fn open(data_dir: &Path, access: &Access) -> anyhow::Result<Registries> {
    let none = || {
        CliError::raise(
            codes::NO_REGISTRY,
            format!("no registry is configured in {}", data_dir.display()),
            "add one: `switchboard registry add NAME URL|DIR --priority N`",
        )
    };
    if !data_dir.join(switchboard_host::DATABASE_FILE).is_file() {
        return Err(none());
    }
    let store = Store::open_existing(data_dir).map_err(switchboard_host::Error::from)?;
    let policy = policy(data_dir, access.policy.as_deref())?;
    let records = store
        .registries()
        .list()
        .map_err(switchboard_host::Error::from)?;
    if records.is_empty() {
        return Err(none());
    }
    let mut options = OpenOptions::new(cache_dir(data_dir));
    options.tokens = tokens(data_dir, &records);
    let regs = Registries::open(&store, &policy, &options)?;
    if access.offline {
        regs.use_cached()?;
    } else {
        regs.refresh()?;
    }
    Ok(regs)
}

/// The tokens of the registries: from the variable a registry names, else the token
/// `switchboard login` stored for a registry server reached over https or on this machine
/// (so `install` downloads the paid plugins the account bought; a token never goes over
/// plain http to another machine).
fn tokens(data_dir: &Path, records: &[RegistryRecord]) -> BTreeMap<String, String> {
    records
        .iter()
        .filter_map(|r| {
            let token = match r.token_env.as_deref() {
                Some(var) => std::env::var(var).ok(),
                None => {
                    let url = r.location.to_ascii_lowercase();
                    let safe = url.starts_with("https://")
                        || (url.starts_with("http://")
                            && switchboard_registry::transport::is_loopback_url(&r.location));
                    safe.then(|| {
                        std::fs::read_to_string(crate::server::token_path(data_dir, &r.name)).ok()
                    })
                    .flatten()
                    .map(|t| t.trim().to_owned())
                }
            }
            .filter(|t| !t.is_empty())?;
            Some((r.name.clone(), token))
        })
        .collect()
}

/// The JSON of one registry (never its token).
pub fn record_json(r: &RegistryRecord) -> serde_json::Value {
    json!({
        "name": r.name,
        "location": r.location,
        "priority": r.priority,
        "root_fingerprint": switchboard_registry::sha256_hex(&r.root),
        "token_env": r.token_env,
        "certified_only": r.certified_only,
        "channel": r.channel,
        "added_at": r.added_at.to_string(),
    })
}

/// What `registry add` prints.
pub fn added_text(a: &Added) -> String {
    let r = &a.record;
    let mut s = format!(
        "added registry `{}` ({}), priority {}, channel {}{}\n",
        r.name,
        r.location,
        r.priority,
        r.channel,
        if r.certified_only {
            ", certified releases only"
        } else {
            ""
        }
    );
    match a.root_source {
        RootSource::FirstUse => s.push_str(&format!(
            "root of trust: pinned on first use from the registry's own 1.root.json — \
             fingerprint {}\n  compare it with the fingerprint the registry's operator \
             publishes; to pin a root you obtained yourself, remove the registry and add it \
             again with --root FILE\n",
            a.fingerprint
        )),
        _ => s.push_str(&format!(
            "root of trust: pinned from the file given — fingerprint {}\n",
            a.fingerprint
        )),
    }
    s.push_str(&format!(
        "verified: timestamp v{}, snapshot v{}; {} plugin{}\n",
        a.refresh.timestamp_version,
        a.refresh.snapshot_version,
        a.plugins,
        if a.plugins == 1 { "" } else { "s" }
    ));
    s
}

/// What `registry add --json` prints.
pub fn added_json(a: &Added) -> serde_json::Value {
    json!({
        "ok": true,
        "registry": record_json(&a.record),
        "root": {
            "source": match a.root_source {
                RootSource::FirstUse => "trust-on-first-use",
                _ => "file",
            },
            "fingerprint": a.fingerprint,
        },
        "timestamp_version": a.refresh.timestamp_version,
        "snapshot_version": a.refresh.snapshot_version,
        "plugins": a.plugins,
    })
}

/// What `registry list` prints.
pub fn list_text(records: &[RegistryRecord]) -> String {
    if records.is_empty() {
        return "no registry is configured; add one with `switchboard registry add NAME URL|DIR \
                --priority N`\n"
            .to_owned();
    }
    let mut s = String::new();
    for r in records {
        let mut flags = vec![format!("channel {}", r.channel)];
        if r.certified_only {
            flags.push("certified only".into());
        }
        if let Some(v) = &r.token_env {
            flags.push(format!("token from ${v}"));
        }
        s.push_str(&format!(
            "{:>5}  {}  {}  ({})\n",
            r.priority,
            r.name,
            r.location,
            flags.join(", ")
        ));
    }
    s
}

/// The data directory and output options of `registry add|list|remove`.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// The data directory (default: SWITCHBOARD_HOME, then the platform's).
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
    data_dir: Option<PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

/// `switchboard registry add|list|remove` (the clap table, flattened into `registry`;
/// `main.rs` only dispatches).
#[derive(Debug, clap::Subcommand)]
pub enum RegistryConfigCmd {
    /// Add a registry plugins are found in: a directory or an http(s):// URL. Its root of
    /// trust is pinned now — from --root FILE, else trusted on first use (the registry's own
    /// 1.root.json) — and a first refresh verifies it before it is stored.
    Add {
        /// A short name for it (lower-case letters, digits, - and _).
        name: String,
        /// Its URL (https://host/path) or directory.
        location: String,
        /// Higher is asked first; a plugin in two registries comes from the higher one unless
        /// named as REGISTRY:NAME. No two registries share a priority.
        #[arg(long, allow_negative_numbers = true)]
        priority: i64,
        /// Pin this root.json (obtained from the registry's operator) instead of trusting the
        /// registry's on first use.
        #[arg(long, value_name = "FILE")]
        root: Option<PathBuf>,
        /// The environment variable holding a bearer token for it (read at each command; the
        /// token is never stored).
        #[arg(long, value_name = "VAR")]
        token_env: Option<String>,
        /// Show and use only releases the registry certified.
        #[arg(long)]
        certified_only: bool,
        /// `ga` (default) or `beta`: also show and use betas. Drafts never.
        #[arg(long, default_value = "ga", value_parser = ["ga", "beta"])]
        channel: String,
        /// The host policy (default: `DATA_DIR/policy.toml` if present); its
        /// `allowed_registries` must list the registry.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// List the registries plugins are found in, highest priority first.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Remove a registry, with what was seen of it and its cache.
    Remove {
        /// Its name.
        name: String,
        #[command(flatten)]
        common: Common,
    },
}

impl RegistryConfigCmd {
    /// Runs the command; prints its output; returns the exit status.
    pub fn run(self) -> std::process::ExitCode {
        let json = match &self {
            RegistryConfigCmd::Add { common, .. }
            | RegistryConfigCmd::List { common }
            | RegistryConfigCmd::Remove { common, .. } => common.json,
        };
        let result = (|| -> anyhow::Result<String> {
            Ok(match self {
                RegistryConfigCmd::Add {
                    name,
                    location,
                    priority,
                    root,
                    token_env,
                    certified_only,
                    channel,
                    policy,
                    common,
                } => {
                    let dir = crate::data_dir::resolve(common.data_dir)?;
                    let added = add(
                        &dir,
                        AddArgs {
                            name,
                            location,
                            priority,
                            root,
                            token_env,
                            certified_only,
                            channel,
                            policy,
                        },
                    )?;
                    if json {
                        format!("{}\n", added_json(&added))
                    } else {
                        added_text(&added)
                    }
                }
                RegistryConfigCmd::List { common } => {
                    let dir = crate::data_dir::resolve(common.data_dir)?;
                    let records = list(&dir)?;
                    if json {
                        let all: Vec<_> = records.iter().map(record_json).collect();
                        format!("{}\n", json!({ "ok": true, "registries": all }))
                    } else {
                        list_text(&records)
                    }
                }
                RegistryConfigCmd::Remove { name, common } => {
                    let dir = crate::data_dir::resolve(common.data_dir)?;
                    let r = remove(&dir, &name)?;
                    if json {
                        format!("{}\n", json!({ "ok": true, "removed": record_json(&r) }))
                    } else {
                        format!("removed registry `{}` ({})\n", r.name, r.location)
                    }
                }
            })
        })();
        match result {
            Ok(text) => {
                crate::output::print(&text);
                std::process::ExitCode::SUCCESS
            }
            Err(e) => crate::output::report_error(&e, json),
        }
    }
}
