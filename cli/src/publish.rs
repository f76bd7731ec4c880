//! Static registries from the command line: `registry init`, `registry resign`,
//! `registry rotate-key`, `publish`, `yank`, `unyank`, `deprecate`, `promote`. Each turns its
//! arguments into one `switchboard_registry::publish` call and prints the result, as text or
//! (with `--json`) one JSON document.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::json;
use switchboard_registry::format::{Channel, IndexLine};
use switchboard_registry::metadata::Role;
use switchboard_registry::publish::{self, Expiries, InitOptions, PublishOptions};

use crate::output::{print, CliError};

/// The CLI's codes for this area (SB0040–SB0049).
pub mod codes {
    use switchboard_host::ErrorCode;

    /// `NAME@VERSION` is malformed.
    pub const RELEASE: ErrorCode = ErrorCode::from_number(40);
    /// A duration (`--timestamp-expires 1d`) does not parse or is zero.
    pub const DURATION: ErrorCode = ErrorCode::from_number(41);
    /// `--channel` or `--role` names no channel or role.
    pub const CHOICE: ErrorCode = ErrorCode::from_number(42);
    /// `publish CRATE`: no signing key: no `--key`, no `SWITCHBOARD_KEY`, and none in the
    /// data directory's `keys/` (where `switchboard keygen` without `--out` writes one).
    pub const NO_SIGNING_KEY: ErrorCode = ErrorCode::from_number(75);
    /// `publish` without `--registry`, and no single registry server to default to (none
    /// logged in to, or several).
    pub const WHICH_REGISTRY: ErrorCode = ErrorCode::from_number(76);
    /// `publish --registry URL`: no configured registry has that URL.
    pub const UNKNOWN_REGISTRY_URL: ErrorCode = ErrorCode::from_number(77);
    /// `publish PATH`: PATH is neither a package file nor a plugin crate directory.
    pub const NOT_PUBLISHABLE: ErrorCode = ErrorCode::from_number(78);
}

/// Where `switchboard keygen` without `--out` writes the key pair, and where `publish`
/// looks for the signing key: `DATA_DIR/keys/`.
pub const KEY_DIR: &str = "keys";

/// The registry directory and its keys, and the metadata lifetimes, shared by every command
/// that changes a registry.
#[derive(Debug, Args)]
pub struct Target {
    /// The registry directory (made by `switchboard registry init`).
    #[arg(long, value_name = "DIR")]
    pub registry: PathBuf,
    /// Its key directory.
    #[arg(long, value_name = "KEYDIR")]
    pub keys: PathBuf,
    #[command(flatten)]
    pub expiries: ExpiryArgs,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// How long signed metadata stays valid (humantime: `12h`, `7d`, `1y`).
#[derive(Debug, Args)]
pub struct ExpiryArgs {
    /// Lifetime of the timestamp (re-sign more often, e.g. with `registry resign` from cron).
    #[arg(long, value_name = "DURATION", default_value = "1d")]
    pub timestamp_expires: String,
    /// Lifetime of the snapshot.
    #[arg(long, value_name = "DURATION", default_value = "30d")]
    pub snapshot_expires: String,
    /// Lifetime of a new root (`registry init`, `registry rotate-key`).
    #[arg(long, value_name = "DURATION", default_value = "365d")]
    pub root_expires: String,
}

impl ExpiryArgs {
    /// The lifetimes, parsed.
    pub fn parse(&self) -> Result<Expiries> {
        let mut e = Expiries::default();
        e.timestamp = duration("--timestamp-expires", &self.timestamp_expires)?;
        e.snapshot = duration("--snapshot-expires", &self.snapshot_expires)?;
        e.root = duration("--root-expires", &self.root_expires)?;
        Ok(e)
    }
}

fn duration(flag: &str, text: &str) -> Result<Duration> {
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(CliError::raise(
            codes::DURATION,
            format!("{flag} {text}: a lifetime of zero expires at once"),
            "give a positive duration, e.g. `1d` or `12h`",
        )),
        Err(e) => Err(CliError::raise(
            codes::DURATION,
            format!("{flag} {text}: {e}"),
            "write a duration such as `12h`, `1d` or `30d`",
        )),
    }
}

/// `switchboard registry …` subcommands for a static registry's operator.
#[derive(Debug, Subcommand)]
pub enum StaticRegistryCmd {
    /// Create a registry in DIR (empty or new) with new signing keys in KEYDIR (outside DIR).
    Init {
        /// The registry directory, what a web server serves.
        dir: PathBuf,
        /// Where the signing keys go (root, snapshot, timestamp; kept secret, never served).
        #[arg(long, value_name = "KEYDIR")]
        keys: PathBuf,
        /// A publisher's public key (.pub) the registry vouches for: packages it signs are
        /// listed as `verified` (repeatable).
        #[arg(long, value_name = "FILE")]
        publisher_key: Vec<PathBuf>,
        #[command(flatten)]
        expiries: ExpiryArgs,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Re-sign the snapshot and timestamp with fresh lifetimes (run it regularly).
    Resign {
        #[command(flatten)]
        target: Target,
    },
    /// Sign a new root version with the same keys and a fresh lifetime (before it expires).
    RenewRoot {
        #[command(flatten)]
        target: Target,
    },
    /// Replace the signing key of one role (root, snapshot or timestamp) with a new one.
    RotateKey {
        /// root, snapshot or timestamp.
        #[arg(long)]
        role: String,
        #[command(flatten)]
        target: Target,
    },
}

/// `switchboard publish [PATH]`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// A signed package (`NAME-VERSION.sbpkg`, with `.minisig` beside it), or a plugin crate
    /// directory: built (release), packed, signed and published in one step.
    #[arg(default_value = ".")]
    pub package: PathBuf,
    /// The channel the release starts in: draft, beta or ga.
    #[arg(long, default_value = "ga")]
    pub channel: String,
    /// For a crate: the secret key to sign with (default: `DATA_DIR/keys/switchboard.key`,
    /// where `switchboard keygen` without `--out` puts it). Its password comes from the
    /// terminal or SWITCHBOARD_KEY_PASSWORD.
    #[arg(long, value_name = "FILE", env = "SWITCHBOARD_KEY")]
    pub key: Option<PathBuf>,
    /// For a crate: where the package is written (default: CRATE/dist).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// For a registry directory (with --keys): make it and its keys first if it does not
    /// exist yet, and add it to the data directory's registries (named after the directory,
    /// its new root pinned) so `switchboard install` finds what was published — trying a
    /// plugin locally in one step.
    #[arg(long, requires = "keys")]
    pub init: bool,
    #[command(flatten)]
    pub target: PublishTarget,
}

/// Where `switchboard publish` publishes: a registry directory with its keys, or (without
/// `--keys`) a configured registry server, with the token `switchboard login` stored.
#[derive(Debug, Args)]
pub struct PublishTarget {
    /// The registry directory (with --keys), or the name or URL of a configured registry
    /// server. Default: the one registry server you are logged in to.
    #[arg(long, value_name = "DIR|NAME|URL")]
    pub registry: Option<String>,
    /// The registry directory's key directory; without it, PACKAGE is uploaded to the
    /// registry server named by --registry.
    #[arg(long, value_name = "KEYDIR")]
    pub keys: Option<PathBuf>,
    #[command(flatten)]
    pub expiries: ExpiryArgs,
    /// The data directory holding the configured registries and logins (uploads only).
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
    pub data_dir: Option<PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// Where `yank`, `unyank`, `deprecate` and `promote` change a release: a registry directory
/// with its keys, or (without `--keys`) a configured registry server, with the token
/// `switchboard login` stored.
#[derive(Debug, Args)]
pub struct ChangeTarget {
    /// The registry directory (with --keys), or the name of a configured registry server.
    #[arg(long, value_name = "DIR|NAME")]
    pub registry: String,
    /// The registry directory's key directory; without it, the change goes to the registry
    /// server named by --registry.
    #[arg(long, value_name = "KEYDIR")]
    pub keys: Option<PathBuf>,
    #[command(flatten)]
    pub expiries: ExpiryArgs,
    /// The data directory holding the configured registries and logins (servers only).
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
    pub data_dir: Option<PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// `switchboard yank NAME@VERSION --reason R`.
#[derive(Debug, Args)]
pub struct YankArgs {
    /// The release.
    pub release: String,
    /// Why it is withdrawn (shown to users).
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub target: ChangeTarget,
}

/// `switchboard unyank NAME@VERSION`.
#[derive(Debug, Args)]
pub struct UnyankArgs {
    /// The release.
    pub release: String,
    #[command(flatten)]
    pub target: ChangeTarget,
}

/// `switchboard deprecate NAME [--successor OTHER]`.
#[derive(Debug, Args)]
pub struct DeprecateArgs {
    /// The plugin.
    pub name: String,
    /// The plugin to use instead.
    #[arg(long)]
    pub successor: Option<String>,
    /// A word to users (one line), shown beside the deprecation.
    #[arg(long)]
    pub message: Option<String>,
    #[command(flatten)]
    pub target: ChangeTarget,
}

/// `switchboard promote NAME@VERSION --channel beta|ga`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The release.
    pub release: String,
    /// The channel to move it to: beta or ga.
    #[arg(long)]
    pub channel: String,
    #[command(flatten)]
    pub target: ChangeTarget,
}

/// Parses `NAME@VERSION`.
pub fn parse_release(s: &str) -> Result<(String, semver::Version)> {
    match s.rsplit_once('@') {
        Some((name, version)) if !name.is_empty() => match semver::Version::parse(version) {
            Ok(v) => Ok((name.to_owned(), v)),
            Err(e) => Err(CliError::raise(
                codes::RELEASE,
                format!("`{s}`: {e}"),
                "write the release as NAME@VERSION with a full version, e.g. hello@1.2.0",
            )),
        },
        _ => Err(CliError::raise(
            codes::RELEASE,
            format!("`{s}` is not NAME@VERSION"),
            "write the release as NAME@VERSION, e.g. hello@1.2.0",
        )),
    }
}

fn channel(s: &str) -> Result<Channel> {
    s.parse::<Channel>()
        .map_err(|e| CliError::raise(codes::CHOICE, e, "write draft, beta or ga"))
}

fn line_json(l: &IndexLine) -> serde_json::Value {
    json!({
        "name": l.name,
        "version": l.version.to_string(),
        "channel": l.channel,
        "sha256": l.sha256,
        "size": l.size,
        "signer": l.signer,
        "trust": l.trust,
        "yanked": l.yanked.as_ref().map(|y| &y.reason),
        "deprecated": l.deprecated.is_some(),
        "successor": l.deprecated.as_ref().and_then(|d| d.successor.as_ref()),
    })
}

/// Runs a `registry` subcommand of this module.
pub fn run_registry(cmd: StaticRegistryCmd) -> Result<bool> {
    let (json_out, text) = match cmd {
        StaticRegistryCmd::Init {
            dir,
            keys,
            publisher_key,
            expiries,
            json,
        } => {
            let mut options = InitOptions::default();
            options.expiries = expiries.parse()?;
            options.publisher_keys = publisher_key;
            let r = publish::init(&dir, &keys, &options)?;
            let doc = json!({
                "ok": true,
                "registry": r.registry,
                "keys": r.keys,
                "root_fingerprint": r.root_fingerprint,
                "root_key": r.key_ids[0],
                "snapshot_key": r.key_ids[1],
                "timestamp_key": r.key_ids[2],
            });
            let text = format!(
                "registry created in {}\nkeys in {} (keep them secret; never serve them)\nroot \
                 fingerprint {}\n(give it to users to check when they add the registry)\n",
                r.registry.display(),
                r.keys.display(),
                r.root_fingerprint
            );
            (json.then_some(doc), text)
        }
        StaticRegistryCmd::Resign { target } => {
            let v = publish::resign(&target.registry, &target.keys, &target.expiries.parse()?)?;
            (
                target
                    .json
                    .then(|| json!({ "ok": true, "snapshot_version": v })),
                format!("re-signed: snapshot version {v}\n"),
            )
        }
        StaticRegistryCmd::RenewRoot { target } => {
            let v = publish::renew_root(&target.registry, &target.keys, &target.expiries.parse()?)?;
            (
                target
                    .json
                    .then(|| json!({ "ok": true, "root_version": v })),
                format!("root renewed: version {v}\n"),
            )
        }
        StaticRegistryCmd::RotateKey { role, target } => {
            let role = match role.as_str() {
                "root" => Role::Root,
                "snapshot" => Role::Snapshot,
                "timestamp" => Role::Timestamp,
                _ => {
                    return Err(CliError::raise(
                        codes::CHOICE,
                        format!("`{role}` is not a role"),
                        "write root, snapshot or timestamp",
                    ))
                }
            };
            let v = publish::rotate_key(
                &target.registry,
                &target.keys,
                role,
                &target.expiries.parse()?,
            )?;
            (
                target
                    .json
                    .then(|| json!({ "ok": true, "role": role.as_str(), "root_version": v })),
                format!("new {role} key; root version {v}\n"),
            )
        }
    };
    emit(json_out, &text);
    Ok(true)
}

fn emit(doc: Option<serde_json::Value>, text: &str) {
    match doc {
        Some(doc) => print(&format!("{doc}\n")),
        None => print(text),
    }
}

/// `switchboard publish`: a package as it is, or a crate built, packed and signed first.
pub fn run_publish(mut args: PublishArgs) -> Result<bool> {
    let mut options = PublishOptions::default();
    options.channel = channel(&args.channel)?;
    options.expiries = args.target.expiries.parse()?;
    let registry = registry_target(&args.target)?;
    if !args.package.is_dir() && !args.package.is_file() {
        return Err(not_publishable(&args.package, "not found"));
    }
    let made = match (&args.target.keys, args.init) {
        (Some(keys), true) => init_if_missing(std::path::Path::new(&registry), keys)?,
        _ => None,
    };
    if let (Some(made), false) = (&made, args.target.json) {
        crate::output::eprint(&format!(
            "made the registry directory {} (its keys in {}; root {})\n",
            made.registry.display(),
            made.keys.display(),
            made.root_fingerprint
        ));
    }
    let from_crate = if args.package.is_dir() {
        if !args.package.join("Cargo.toml").is_file() {
            return Err(not_publishable(
                &args.package,
                "a directory without a Cargo.toml",
            ));
        }
        let (package, steps) = pack_and_sign(&args)?;
        args.package = package;
        Some(steps)
    } else if args.package.is_file() {
        None
    } else {
        return Err(not_publishable(&args.package, "not found"));
    };
    let step = |n: usize, text: &str| {
        if from_crate.is_some() && !args.target.json {
            crate::output::eprint(&format!("[{n}/3] {text}\n"));
        }
    };
    let Some(keys) = &args.target.keys else {
        step(3, &format!("uploading to {registry}"));
        return upload(&args, &registry, from_crate.as_ref());
    };
    step(
        3,
        &format!("adding it to the registry directory {registry}"),
    );
    let r = publish::publish(
        std::path::Path::new(&registry),
        keys,
        &args.package,
        &options,
    )?;
    let text = if r.added {
        format!(
            "published {}@{} ({}, {}, signer {}) as {}\n",
            r.line.name,
            r.line.version,
            r.line.channel,
            r.line.trust,
            r.line.signer,
            r.package_path
        )
    } else {
        format!(
            "{}@{} is already published with these bytes; nothing changed\n",
            r.line.name, r.line.version
        )
    };
    let configured = if args.init {
        Some(add_to_registries(
            &args.target,
            std::path::Path::new(&registry),
        )?)
    } else {
        None
    };
    let mut text = text;
    if let Some(c) = &configured {
        text.push_str(&c.text);
    }
    let mut doc = json!({
        "ok": true,
        "added": r.added,
        "release": line_json(&r.line),
        "package_path": r.package_path,
        "snapshot_version": r.snapshot_version,
    });
    if let Some(steps) = &from_crate {
        doc["built"] = steps.clone();
    }
    if let Some(m) = &made {
        doc["registry_made"] = json!({
            "registry": m.registry,
            "keys": m.keys,
            "root_fingerprint": m.root_fingerprint,
        });
    }
    if let Some(c) = configured {
        doc["configured_as"] = json!(c.name);
    }
    emit(args.target.json.then_some(doc), &text);
    Ok(true)
}

/// `publish --init`: makes the registry directory and its keys when the directory does not
/// exist or is empty; a registry already there is used as it is.
fn init_if_missing(
    dir: &std::path::Path,
    keys: &std::path::Path,
) -> Result<Option<publish::InitReport>> {
    let empty = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        // Not a directory, unreadable: publishing says what is wrong with it.
        Err(_) => false,
    };
    if !empty {
        return Ok(None);
    }
    Ok(Some(publish::init(dir, keys, &InitOptions::default())?))
}

/// What `publish --init` did about the data directory's registries.
struct Configured {
    /// The configured registry that is this directory.
    name: String,
    /// What to print after the publish line.
    text: String,
}

/// `publish --init`: adds the registry directory to the data directory's registries unless
/// one of them already is it, named after the directory (made a registry name), its current
/// root pinned (the one this machine made, or the one already there).
fn add_to_registries(t: &PublishTarget, dir: &std::path::Path) -> Result<Configured> {
    let data = crate::data_dir::resolve(t.data_dir.clone())?;
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let location = absolute.display().to_string();
    let existing = crate::registries::list(&data)?;
    if let Some(r) = existing.iter().find(|r| r.location == location) {
        return Ok(Configured {
            name: r.name.clone(),
            text: String::new(),
        });
    }
    let name = registry_name_for(&absolute);
    if existing.iter().any(|r| r.name == name) {
        return Err(CliError::raise(
            codes::WHICH_REGISTRY,
            format!(
                "published, but a registry named `{name}` is already configured for another \
                 location, so {location} was not added"
            ),
            format!(
                "add it under another name: `switchboard registry add NAME {location} \
                 --priority 10`"
            ),
        ));
    }
    let added = crate::registries::add(
        &data,
        crate::registries::AddArgs {
            name: name.clone(),
            location: location.clone(),
            priority: 10,
            root: Some(absolute.join("root.json")),
            token_env: None,
            certified_only: false,
            channel: "ga".into(),
            policy: None,
        },
    )?;
    Ok(Configured {
        name: added.record.name.clone(),
        text: format!(
            "added {location} to the registries of {} as `{name}` (priority 10): \
             `switchboard install NAME` finds it\n",
            data.display()
        ),
    })
}

/// A registry name from a directory's name: lower case, other characters as `-`, starting
/// with a letter (`My Plugins` → `my-plugins`, `2026` → `local-2026`).
fn registry_name_for(dir: &std::path::Path) -> String {
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut name: String = base
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => c,
            _ => '-',
        })
        .collect();
    name = name.trim_matches('-').to_owned();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name = format!("local-{name}").trim_end_matches('-').to_owned();
    }
    name.truncate(64);
    name
}

fn not_publishable(path: &std::path::Path, why: &str) -> anyhow::Error {
    CliError::raise(
        codes::NOT_PUBLISHABLE,
        format!(
            "{}: {why}; publish takes a package or a plugin crate",
            path.display()
        ),
        "pass a signed NAME-VERSION.sbpkg, or the directory holding the plugin's Cargo.toml \
         and plugin.toml (default: the current directory)",
    )
}

/// Where to publish: `--registry` as given (a directory with `--keys`, a configured server's
/// name), a configured server's URL turned into its name, or — given none — the one
/// configured registry server with a stored login.
fn registry_target(t: &PublishTarget) -> Result<String> {
    if t.keys.is_some() {
        return t.registry.clone().ok_or_else(|| {
            CliError::raise(
                codes::WHICH_REGISTRY,
                "--keys without --registry DIR",
                "name the registry directory the keys sign: --registry DIR --keys KEYDIR",
            )
        });
    }
    let data = crate::data_dir::resolve(t.data_dir.clone())?;
    let servers = || -> Result<Vec<switchboard_host::RegistryRecord>> {
        Ok(crate::registries::list(&data)?
            .into_iter()
            .filter(|r| r.location.starts_with("http://") || r.location.starts_with("https://"))
            .collect())
    };
    match &t.registry {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            let want = url.trim_end_matches('/');
            let want_index = format!("{}/index", want.trim_end_matches("/index"));
            servers()?
                .into_iter()
                .find(|r| r.location.trim_end_matches('/') == want_index)
                .map(|r| r.name)
                .ok_or_else(|| {
                    CliError::raise(
                        codes::UNKNOWN_REGISTRY_URL,
                        format!("no configured registry has the URL {url}"),
                        format!(
                            "add it and log in first: `switchboard registry add NAME \
                             {want_index}`, then `switchboard login --registry NAME --token …`"
                        ),
                    )
                })
        }
        Some(name) => Ok(name.clone()),
        None => {
            let logged_in: Vec<String> = servers()?
                .into_iter()
                .filter(|r| crate::server::token_path(&data, &r.name).is_file())
                .map(|r| r.name)
                .collect();
            match &logged_in[..] {
                [one] => Ok(one.clone()),
                [] => Err(CliError::raise(
                    codes::WHICH_REGISTRY,
                    "no --registry given, and no registry server is logged in to",
                    "give --registry NAME (after `switchboard login --registry NAME`), or \
                     --registry DIR --keys KEYDIR for a registry directory",
                )),
                many => Err(CliError::raise(
                    codes::WHICH_REGISTRY,
                    format!(
                        "no --registry given, and several registry servers are logged in to: {}",
                        many.join(", ")
                    ),
                    "choose one with --registry NAME",
                )),
            }
        }
    }
}

/// The signing key for a crate's package: `--key` (or SWITCHBOARD_KEY), else the data
/// directory's `keys/switchboard.key`.
fn signing_key(args: &PublishArgs) -> Result<PathBuf> {
    if let Some(k) = &args.key {
        return Ok(k.clone());
    }
    let data = crate::data_dir::resolve(args.target.data_dir.clone())?;
    let default = data.join(KEY_DIR).join(crate::authoring::SECRET_KEY_FILE);
    if default.is_file() {
        return Ok(default);
    }
    Err(CliError::raise(
        codes::NO_SIGNING_KEY,
        format!(
            "no key to sign the package with: no --key, no SWITCHBOARD_KEY, and no {}",
            default.display()
        ),
        "make one with `switchboard keygen` (it goes to the data directory's keys/), or pass \
         --key FILE",
    ))
}

/// Steps 1 and 2 of publishing a crate: build and pack it into `--out` (default
/// `CRATE/dist`), then sign the package. Returns the package and what was done, for `--json`.
fn pack_and_sign(args: &PublishArgs) -> Result<(PathBuf, serde_json::Value)> {
    let key = signing_key(args)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.package.join("dist"));
    let say = |text: String| {
        if !args.target.json {
            crate::output::eprint(&format!("{text}\n"));
        }
    };
    say(format!(
        "[1/3] building {} (cargo, release) and packing it into {}",
        args.package.display(),
        out.display()
    ));
    let progress = if args.target.json {
        crate::output::Progress::quiet()
    } else {
        crate::output::Progress::for_terminal()
    };
    let packed = crate::authoring::pack(
        &args.package,
        &out,
        &crate::authoring::PackOptions::default(),
        &progress,
    );
    progress.finish();
    let packed = packed?;
    say(format!(
        "[2/3] signing {} with {}",
        packed.package.display(),
        key.display()
    ));
    let (signature, key_id) = crate::authoring::sign_with_key_id(&packed.package, &key)?;
    Ok((
        packed.package.clone(),
        json!({
            "name": packed.name,
            "version": packed.version,
            "package": packed.package,
            "signature": signature,
            "key_id": key_id,
        }),
    ))
}

fn report_change(verb: &str, r: &publish::ChangeReport, json_out: bool) {
    let names: Vec<String> = r
        .lines
        .iter()
        .map(|l| format!("{}@{}", l.name, l.version))
        .collect();
    let text = if r.changed {
        format!("{verb}: {}\n", names.join(", "))
    } else {
        format!("nothing to do: {} already so\n", names.join(", "))
    };
    let doc = json!({
        "ok": true,
        "changed": r.changed,
        "releases": r.lines.iter().map(line_json).collect::<Vec<_>>(),
        "snapshot_version": r.snapshot_version,
    });
    emit(json_out.then_some(doc), &text);
}

/// Sends a change to a registry server: `POST /api/v1/plugins/NAME/ACTION` with `body`.
fn remote(
    t: &ChangeTarget,
    verb: &str,
    name: &str,
    action: &str,
    body: serde_json::Value,
) -> Result<bool> {
    let data = crate::data_dir::resolve(t.data_dir.clone())?;
    let doc = crate::server::call(
        &data,
        &t.registry,
        crate::server::Method::Post,
        &format!("plugins/{}/{action}", crate::server::escape(name)),
        Some(&body),
        true,
    )?;
    let text = if doc["changed"] == false {
        format!("nothing to do: {name} already so\n")
    } else {
        format!("{verb}: {name} on {}\n", t.registry)
    };
    emit(t.json.then(|| json!({ "ok": true, "server": doc })), &text);
    Ok(true)
}

/// `switchboard yank`.
pub fn run_yank(args: YankArgs) -> Result<bool> {
    let (name, version) = parse_release(&args.release)?;
    let t = &args.target;
    let Some(keys) = &t.keys else {
        return remote(
            t,
            "yanked",
            &name,
            "yank",
            json!({ "version": version.to_string(), "reason": args.reason }),
        );
    };
    let r = publish::yank(
        std::path::Path::new(&t.registry),
        keys,
        &name,
        &version,
        &args.reason,
        &t.expiries.parse()?,
    )?;
    report_change("yanked", &r, t.json);
    Ok(true)
}

/// `switchboard unyank`.
pub fn run_unyank(args: UnyankArgs) -> Result<bool> {
    let (name, version) = parse_release(&args.release)?;
    let t = &args.target;
    let Some(keys) = &t.keys else {
        return remote(
            t,
            "unyanked",
            &name,
            "unyank",
            json!({ "version": version.to_string() }),
        );
    };
    let r = publish::unyank(
        std::path::Path::new(&t.registry),
        keys,
        &name,
        &version,
        &t.expiries.parse()?,
    )?;
    report_change("unyanked", &r, t.json);
    Ok(true)
}

/// `switchboard deprecate`.
pub fn run_deprecate(args: DeprecateArgs) -> Result<bool> {
    let t = &args.target;
    let Some(keys) = &t.keys else {
        return remote(
            t,
            "deprecated",
            &args.name,
            "deprecate",
            json!({ "successor": args.successor, "message": args.message }),
        );
    };
    let r = publish::deprecate_with(
        std::path::Path::new(&t.registry),
        keys,
        &args.name,
        args.successor.as_deref(),
        args.message.as_deref(),
        &t.expiries.parse()?,
    )?;
    report_change("deprecated", &r, t.json);
    Ok(true)
}

/// `switchboard promote`.
pub fn run_promote(args: PromoteArgs) -> Result<bool> {
    let (name, version) = parse_release(&args.release)?;
    let to = channel(&args.channel)?;
    let t = &args.target;
    let Some(keys) = &t.keys else {
        return remote(
            t,
            &format!("promoted {name}@{version} to {to}"),
            &name,
            "promote",
            json!({ "version": version.to_string(), "channel": to }),
        );
    };
    let r = publish::promote(
        std::path::Path::new(&t.registry),
        keys,
        &name,
        &version,
        to,
        &t.expiries.parse()?,
    )?;
    report_change(&format!("promoted to {to}"), &r, t.json);
    Ok(true)
}

/// `switchboard publish PACKAGE --registry NAME` (no `--keys`): an upload to a registry
/// server.
fn upload(args: &PublishArgs, registry: &str, built: Option<&serde_json::Value>) -> Result<bool> {
    let data = crate::data_dir::resolve(args.target.data_dir.clone())?;
    let doc = crate::server::upload(&data, registry, &args.package, &args.channel)?;
    if args.target.json {
        let mut out = json!({ "ok": true, "release": doc });
        if let Some(b) = built {
            out["built"] = b.clone();
        }
        print(&format!("{out}\n"));
    } else if doc["state"] == "held" {
        print(&format!(
            "{}@{} is held for review (upload {}): {}\nan admin of {} releases or rejects it \
             (`switchboard hold list --registry {}`)\n",
            doc["name"].as_str().unwrap_or(""),
            doc["version"].as_str().unwrap_or(""),
            doc["upload"].as_str().unwrap_or(""),
            doc["reason"].as_str().unwrap_or(""),
            registry,
            registry,
        ));
    } else if doc["added"] == true {
        print(&format!(
            "published {}@{} ({}, {}) to {} for account {}\n",
            doc["name"].as_str().unwrap_or(""),
            doc["version"].as_str().unwrap_or(""),
            doc["channel"].as_str().unwrap_or(""),
            doc["trust"].as_str().unwrap_or(""),
            registry,
            doc["account"].as_str().unwrap_or("?"),
        ));
    } else {
        print(&format!(
            "{}@{} is already published with these bytes; nothing changed\n",
            doc["name"].as_str().unwrap_or(""),
            doc["version"].as_str().unwrap_or("")
        ));
    }
    Ok(true)
}
