//! The `switchboard` binary. It prints through `switchboard_cli::output`, where a closed
//! stdout ends the command quietly.

// Input from users, files and plugins becomes a typed error, never a panic: library code
// outside tests has no unwrap() or expect() (tests keep them, as assertions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use switchboard_cli::audit::{self, Format};
use switchboard_cli::examples::Profile;
use switchboard_cli::output::{self, codes, CliError, Progress};
use switchboard_cli::payouts;
use switchboard_cli::publish;
use switchboard_cli::tree;
use switchboard_cli::{config, data_dir as data_home, demo, inspect, install, metrics};
use switchboard_host::{AuditFilter, AuditKind, Timestamp};

/// Switchboard: native plugins for Rust applications.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Build the example plugins, load them into a host and show what happens, step by step.
    Demo {
        /// Keep the host's state in DIR (default: a temporary directory, removed afterwards).
        #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
        data_dir: Option<PathBuf>,
        /// Print one JSON document instead of readable steps.
        #[arg(long)]
        json: bool,
        /// Build the example plugins in debug mode (faster to build, slower to run).
        #[arg(long)]
        debug: bool,
    },
    /// Create a plugin crate from a template: Cargo.toml, plugin.toml, src/lib.rs with unit
    /// tests, README and CHANGELOG. It builds, tests, packs and preflights with no edits.
    New(switchboard_cli::scaffold::NewCli),
    /// Test a plugin crate: its unit tests (cargo test), then its library loaded into a real
    /// host and the smoke calls of plugin.toml's [test] section made.
    Test(switchboard_cli::smoke::TestCli),
    /// Generate a minisign key pair for signing packages.
    Keygen {
        /// Write DIR/switchboard.key and DIR/switchboard.pub (never overwrites). Default: the
        /// data directory's keys/, where `switchboard publish` looks for its signing key.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The data directory (without --out; default: SWITCHBOARD_HOME, then the platform's).
        #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
        data_dir: Option<PathBuf>,
        /// No password on the secret key (for CI; keep the file secret).
        #[arg(long)]
        unencrypted: bool,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Build a plugin crate and write its package, NAME-VERSION.sbpkg.
    Pack {
        /// The plugin crate (with plugin.toml beside Cargo.toml).
        #[arg(default_value = ".")]
        crate_dir: PathBuf,
        /// Where to write the package.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Ship the library with its debug information (file and line numbers in crash
        /// reports, several times the size); by default it is linked without, symbols kept.
        #[arg(long)]
        keep_debuginfo: bool,
        /// Print one JSON document (and no progress).
        #[arg(long)]
        json: bool,
    },
    /// Sign a package: writes PACKAGE.minisig.
    Sign {
        /// The package.
        package: PathBuf,
        /// The secret key (password from the terminal or SWITCHBOARD_KEY_PASSWORD).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Verify a package as a host would before running its code: sizes, signature, every
    /// file's hash, the library's embedded manifest and SDK ABI, and with --host-api the host
    /// API it requires; exits 0 only if all check out.
    Verify {
        /// The package.
        package: PathBuf,
        /// Also trust this public key (repeatable); the data dir's trust store is always used.
        #[arg(long, value_name = "PUBKEY_FILE")]
        trust: Vec<PathBuf>,
        /// Check the host API the package requires against this host's, as NAME@VERSION
        /// (without it, that check does not run and the report says so).
        #[arg(long, value_name = "NAME@VERSION")]
        host_api: Option<String>,
        /// The CLI's data directory (default: SWITCHBOARD_HOME, then the platform's).
        #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
        data_dir: Option<PathBuf>,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Manage the public keys this CLI trusts.
    Trust {
        #[command(subcommand)]
        action: TrustCmd,
        /// The CLI's data directory (default: SWITCHBOARD_HOME, then the platform's).
        #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME", global = true)]
        data_dir: Option<PathBuf>,
        /// Print one JSON document.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Show the plugins a lockfile records and what depends on what (with --resolve, what
    /// resolving against the configured registries chooses).
    Tree {
        /// The lockfile to read.
        #[arg(long, value_name = "PATH", default_value = switchboard_host::LOCKFILE_NAME)]
        lockfile: PathBuf,
        /// Print Graphviz DOT instead of a tree.
        #[arg(long, conflicts_with = "json")]
        dot: bool,
        /// Print one JSON document: plugins, dependencies, dependents and the load order.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        registries: switchboard_cli::discover::TreeFromRegistries,
    },
    /// List or export the audit log (grants, denials, revocations, loads, state changes).
    Audit(AuditArgs),
    /// Show what a host knows of a plugin: capabilities requested and granted, trust, state,
    /// history.
    Inspect {
        /// The plugin's name.
        plugin: String,
        /// The host's data directory.
        #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
        data_dir: Option<PathBuf>,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Show, hand over or wipe the data a plugin's identity owns (KV, secrets, stored
    /// configuration, persistent grants).
    State {
        #[command(subcommand)]
        action: StateCmd,
        /// The host's data directory.
        #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME", global = true)]
        data_dir: Option<PathBuf>,
        /// Print one JSON document.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Show a plugin's effective configuration and where each value came from (default,
    /// stored, file, profile, variable).
    Config {
        /// The plugin's name.
        plugin: String,
        /// The host's data directory.
        #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
        data_dir: Option<PathBuf>,
        /// The profile to apply, as the host would (`[profile.ENV]` of the file).
        #[arg(long, value_name = "ENV")]
        environment: Option<String>,
        /// Read the schema and defaults from this plugin.toml instead of the database.
        #[arg(long, value_name = "PATH")]
        manifest: Option<PathBuf>,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Search the registries' plugins (refreshes them first unless --offline).
    Search(switchboard_cli::discover::SearchCli),
    /// Show a plugin from the registries: versions, channels, yanks, capabilities,
    /// dependencies, trust, compatibility (refreshes them first unless --offline).
    Info(switchboard_cli::discover::InfoCli),
    /// Check a plugin crate, plugin.toml, package or library without running its code.
    ///
    /// Checks the manifest; a package's signature, hashes and name; compatibility with a host
    /// API; the library's embedded manifest; a host policy; and dependency resolution — each
    /// when its input is given (checks without their input are listed as not run). Exits 0 only
    /// when no check finds an error, so it can gate a plugin's CI.
    Preflight {
        /// A plugin crate directory, a plugin.toml/plugin.json, a .sbpkg package, or a built
        /// library.
        path: PathBuf,
        /// The built library to check (default: found under `target/` beside the crate).
        #[arg(long, value_name = "FILE")]
        library: Option<PathBuf>,
        /// Check compatibility with this host API, as NAME@VERSION.
        #[arg(long, value_name = "NAME@VERSION")]
        host_api: Option<String>,
        /// Check the platform against this target triple (default: this machine's).
        #[arg(long, value_name = "TRIPLE")]
        target: Option<String>,
        /// Apply this host policy (TOML: min_trust, allow, require_approval, block,
        /// allow_plugins, deny_plugins, allowed_signers, …).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Trust this public key when verifying a package (repeatable).
        #[arg(long, value_name = "PUBKEY_FILE")]
        trust: Vec<PathBuf>,
        /// Resolve the dependencies against this directory index (DIR/NAME.toml).
        #[arg(long, value_name = "DIR")]
        index: Option<PathBuf>,
        /// Check the dependencies against this lockfile (with --index: prefer its versions).
        #[arg(long, value_name = "FILE")]
        lockfile: Option<PathBuf>,
        /// Check the plugin's `#[hook]`s against these extension points (TOML: `[[point]]`
        /// tables with `name`, `kind`, `input` and `output` contract ids, e.g. `name =
        /// "pipeline.build"`, `kind = "operation"`, `input = "string@1"`).
        #[arg(long, value_name = "FILE")]
        points: Option<PathBuf>,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Registries: operate one (`init`, `resign`, `renew-root`, `rotate-key`) and choose the
    /// ones plugins come from (`add`, `list`, `remove`).
    Registry {
        #[command(subcommand)]
        action: RegistryCmd,
    },
    /// Publish a signed package, or a plugin crate (built, packed and signed with your key in
    /// one step), to a registry directory (--registry DIR --keys KEYDIR) or a registry server
    /// (--registry NAME or URL, after `switchboard login`; default: the one logged in to).
    Publish(publish::PublishArgs),
    /// Store a registry server's token for `switchboard publish --registry NAME`.
    Login(switchboard_cli::server::LoginArgs),
    /// Withdraw a published release, with a reason.
    Yank(publish::YankArgs),
    /// Undo a yank.
    Unyank(publish::UnyankArgs),
    /// Mark a plugin deprecated, optionally naming its successor.
    Deprecate(publish::DeprecateArgs),
    /// Move a release to the beta or ga channel.
    Promote(publish::PromoteArgs),
    /// A registry server's owners of a plugin name: list, add, remove.
    Owner {
        #[command(subcommand)]
        action: switchboard_cli::accounts::OwnerCmd,
    },
    /// The signing keys bound to your account on a registry server: add, list, remove.
    Key {
        #[command(subcommand)]
        action: switchboard_cli::accounts::KeyCmd,
    },
    /// Uploads a registry server holds for review (possible typosquats): list, release,
    /// reject (admin).
    Hold {
        #[command(subcommand)]
        action: switchboard_cli::accounts::HoldCmd,
    },
    /// Certification on a registry server: submit, status; reviewers' queue, approve, deny;
    /// trust a registry's certification key.
    Certify {
        #[command(subcommand)]
        action: switchboard_cli::certify::CertifyCmd,
    },
    /// Review a plugin release on a registry server (1–5 stars and text; shown once a
    /// moderator approves it); --edit, --delete, or --mine to list yours.
    Review(switchboard_cli::reviews::ReviewArgs),
    /// Report a plugin, or one of its reviews (--review ID), to a registry server's
    /// moderators.
    Report(switchboard_cli::reviews::ReportArgs),
    /// A registry server's moderation queues (scope moderate or admin): list, approve,
    /// reject pending reviews; reports, resolve abuse reports.
    Moderate {
        #[command(subcommand)]
        action: switchboard_cli::reviews::ModerateCmd,
    },
    /// Install plugins (and what they depend on) into a new generation: NAME, NAME@RANGE or a
    /// .sbpkg file. Shows what each asks for and asks before granting.
    Install(install::args::InstallArgs),
    /// Update a plugin (or --all) to the newest fitting release: shows the changelog,
    /// compatibility warnings and the capabilities the new version adds.
    Update(install::args::UpdateArgs),
    /// Make an earlier generation current again (default: the one before the current one).
    Rollback(install::args::RollbackArgs),
    /// Remove a plugin (into a new generation); plugins that depend on it are listed.
    Remove(install::args::RemoveArgs),
    /// Enable a disabled plugin.
    Enable(install::args::NameArgs),
    /// Disable a plugin: it is not loaded until enabled again.
    Disable(install::args::NameArgs),
    /// List the installed plugins: name, version, state, trust, source, generation.
    List(install::args::ListArgs),
    /// List the kept generations, the current one marked `*`.
    Generations(install::args::ListArgs),
    /// Load the plugins in plugin directories (development libraries with --dev, and .sbpkg
    /// packages) into a host on the data directory, under its policy, and report what loaded
    /// and what was skipped with which code.
    Discover(install::scan::DiscoverArgs),
    /// Start the installed plugins (and those in plugin directories given) in a host on the
    /// data directory, check each one's health once, and show the state with its reasons;
    /// exits 3 if a plugin is unhealthy.
    Health(install::health::HealthArgs),
    /// Print the metrics a host stored (calls, errors by code, latency, events, restarts,
    /// reloads, panics per plugin) in the Prometheus text format, summed over a period.
    Metrics {
        /// The host's data directory.
        #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
        data_dir: Option<PathBuf>,
        /// The period, ending now: `90m`, `24h`, `7d`, `1d12h` (default 1h).
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
        /// Print one JSON document (latencies as p50/p95/p99 in milliseconds) instead.
        #[arg(long)]
        json: bool,
    },
    /// Print the usage plugins reported for metering (units such as tokens, per plugin,
    /// command and unit) that a host stored, summed over a period: what billing reads.
    Usage {
        /// The host's data directory.
        #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
        data_dir: Option<PathBuf>,
        /// The period, ending now: `24h`, `7d`, `30d` (default 30d).
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
        /// Print one JSON document instead.
        #[arg(long)]
        json: bool,
    },
    /// Buy a paid plugin from a registry server for your account (or start its trial):
    /// then `switchboard install NAME` downloads it.
    Buy(switchboard_cli::buy::BuyArgs),
    /// Set the price of a plugin your account owns on a registry server: `--amount 4900
    /// --currency EUR` (paid once), `--period month` (a subscription), `--trial-days N`,
    /// or `--free`.
    Price(switchboard_cli::buy::PriceArgs),
    /// The plugins your account on a registry server may download (bought, subscribed,
    /// on trial), active or ended.
    Entitlements(switchboard_cli::buy::EntitlementsArgs),
    /// A month's creator payout report (per publisher and plugin: sales, refunds, gross,
    /// fees, net; totals, carry-overs, open disputes) from a marketplace ledger file, or
    /// from a registry server's own ledger (your lines; an admin's token: everyone's).
    Payouts {
        /// The ledger: sales, refunds, disputes, revenue-share terms, thresholds (JSON; see
        /// docs/marketplace.md).
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "registry",
            conflicts_with = "registry"
        )]
        ledger: Option<PathBuf>,
        /// The configured registry server whose ledger to report (`switchboard login
        /// --registry NAME` first).
        #[arg(long)]
        registry: Option<String>,
        /// The data directory holding the configured registries and logins (with
        /// `--registry`).
        #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
        data_dir: Option<PathBuf>,
        /// The month, `YYYY-MM`.
        #[arg(long, value_name = "YYYY-MM")]
        month: String,
        /// Print CSV (a header, the lines, a total per publisher) instead of a table.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// Print one JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Service level objectives: the report of how each plugin did.
    Slo {
        #[command(subcommand)]
        action: SloCmd,
    },
}

#[derive(Debug, Subcommand)]
enum SloCmd {
    /// Per plugin: objectives, compliance, error budget left, alerts, and a chart of latency
    /// and error rate over time.
    Report {
        /// The host's data directory.
        #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
        data_dir: Option<PathBuf>,
        /// The period, ending now: `24h`, `7d`, `2w` (default 7d).
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
        /// How to print the report.
        #[arg(long, value_enum, default_value = "markdown")]
        format: ReportFormatArg,
        /// The same as `--format json`.
        #[arg(long)]
        json: bool,
        /// Also write the chart (SVG) to this file.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
        /// Write slo-report.json, slo-report.md and slo-report.svg into this directory
        /// instead of printing.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The objectives (a host policy with an `[slo]` section; default:
        /// DATA_DIR/policy.toml if present, else the defaults).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReportFormatArg {
    Json,
    Markdown,
}

#[derive(Debug, Args)]
struct AuditArgs {
    #[command(subcommand)]
    action: Option<AuditAction>,
    /// The host's data directory.
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME", global = true)]
    data_dir: Option<PathBuf>,
    /// Print one JSON document.
    #[arg(long, global = true)]
    json: bool,
    /// Only rows about this plugin.
    #[arg(long)]
    plugin: Option<String>,
    /// Only rows of this kind: grant, deny, revoke, load, state, install, identity, isolation,
    /// reload, health, slo.
    #[arg(long, value_parser = parse_kind)]
    kind: Option<AuditKind>,
    /// Only rows at or after this time (RFC 3339, a date, Unix seconds, or an age: 30m, 12h, 7d, "1h 30m").
    #[arg(long, value_parser = audit::parse_time)]
    since: Option<Timestamp>,
    /// Only rows before this time (same forms as --since).
    #[arg(long, value_parser = audit::parse_time)]
    until: Option<Timestamp>,
    /// At most this many rows.
    #[arg(long)]
    limit: Option<usize>,
    /// Output format (ignored with --json).
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
}

/// `switchboard registry …`: each area's subcommands, flattened into one group.
#[derive(Debug, Subcommand)]
enum RegistryCmd {
    #[command(flatten)]
    Static(publish::StaticRegistryCmd),
    #[command(flatten)]
    Config(switchboard_cli::registries::RegistryConfigCmd),
    #[command(flatten)]
    Server(switchboard_cli::server::ServerCmd),
}

#[derive(Debug, Subcommand)]
enum AuditAction {
    /// Verify the hash chain and, by default, the data directory's signed checkpoint; report
    /// the first row where it breaks (exit 1 if it does).
    Verify {
        /// Check against this checkpoint file (e.g. a copy kept elsewhere) instead of
        /// `<data dir>/audit.checkpoint`.
        #[arg(long, value_name = "FILE", conflicts_with = "no_checkpoint")]
        checkpoint: Option<PathBuf>,
        /// The audit public key that must have signed the checkpoint (default:
        /// `<data dir>/audit.pub`; pass a copy kept elsewhere to rule out a replaced key).
        #[arg(long, value_name = "FILE", conflicts_with = "no_checkpoint")]
        key: Option<PathBuf>,
        /// A head hash (64 hex digits, from an earlier `audit verify`) some row must have.
        #[arg(long, value_name = "HASH", value_parser = audit::parse_head)]
        expect_head: Option<[u8; 32]>,
        /// Check the hash chain alone, without the data directory's checkpoint.
        #[arg(long)]
        no_checkpoint: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Table,
    Jsonl,
    Csv,
}

fn parse_kind(s: &str) -> Result<AuditKind, String> {
    s.parse()
        .map_err(|e: switchboard_host::AuditKindError| e.to_string())
}

#[derive(Debug, Subcommand)]
enum StateCmd {
    /// Show which identity owns a plugin's data.
    Show {
        /// The plugin's name.
        plugin: String,
    },
    /// Hand a plugin's data to another identity (as a refused load printed it: `key:KEYID`,
    /// `library:/path`, `package-dir:/dir`). Run it while no host has the plugin loaded.
    Transfer {
        /// The plugin's name.
        plugin: String,
        /// The identity that gets the data.
        #[arg(long, value_name = "IDENTITY")]
        to: String,
    },
    /// Delete a plugin's data and its recorded owner. Run it while no host has the plugin
    /// loaded.
    Wipe {
        /// The plugin's name.
        plugin: String,
        /// Do not ask (required when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TrustCmd {
    /// Trust a public key file.
    Add {
        /// A minisign .pub file.
        key: PathBuf,
    },
    /// List trusted key ids.
    List,
}

fn authoring(cmd: Cmd) -> anyhow::Result<ExitCode> {
    use switchboard_cli::authoring as a;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cmd {
        Cmd::Keygen {
            out: dir,
            data_dir,
            unencrypted,
            json,
        } => {
            let dir = match dir {
                Some(d) => d,
                None => data_home::resolve(data_dir)?.join(publish::KEY_DIR),
            };
            let id = a::keygen(&dir, unencrypted)?;
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({ "ok": true, "key_id": id, "secret_key": dir.join(a::SECRET_KEY_FILE), "public_key": dir.join(a::PUBLIC_KEY_FILE) })
                )?;
            } else {
                writeln!(
                    out,
                    "key {id}
secret key: {} (keep it secret)
public key: {}",
                    dir.join(a::SECRET_KEY_FILE).display(),
                    dir.join(a::PUBLIC_KEY_FILE).display()
                )?;
            }
        }
        Cmd::Pack {
            crate_dir,
            out: dir,
            keep_debuginfo,
            json,
        } => {
            let progress = if json {
                Progress::quiet()
            } else {
                Progress::for_terminal()
            };
            let options = a::PackOptions {
                debuginfo: if keep_debuginfo {
                    a::DebugInfo::Keep
                } else {
                    a::DebugInfo::Strip
                },
                target_dir: None,
            };
            let report = a::pack(&crate_dir, &dir, &options, &progress);
            progress.finish();
            let report = report?;
            if json {
                let mut doc = serde_json::to_value(&report)?;
                doc["ok"] = true.into();
                writeln!(out, "{doc}")?;
            } else {
                writeln!(out, "{}", report.package.display())?;
            }
        }
        Cmd::Sign { package, key, json } => {
            let (sig, key_id) = a::sign_with_key_id(&package, &key)?;
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({ "ok": true, "package": package, "signature": sig, "key_id": key_id })
                )?;
            } else {
                writeln!(out, "{}", sig.display())?;
            }
        }
        Cmd::Verify {
            package,
            trust,
            host_api,
            data_dir: dir,
            json,
        } => {
            let (store, _) = a::trust_store(Some(&data_home::resolve(dir)?), &trust)?;
            let profile = match host_api.as_deref() {
                Some(spec) => {
                    let (name, version) = switchboard_cli::preflight::parse_host_api(spec)?;
                    Some(switchboard_host::HostProfile::new(name, version))
                }
                None => None,
            };
            let report = a::verify(&package, &store, profile.as_ref())?;
            if json {
                writeln!(out, "{}", serde_json::to_value(&report)?)?;
            } else {
                writeln!(out, "package {}", report.package.display())?;
                if let Some(s) = &report.signer {
                    writeln!(out, "signer  {s}")?;
                }
                if let Some(t) = &report.trust {
                    writeln!(out, "trust   {t}")?;
                }
                match &report.host_api {
                    Some(h) => writeln!(out, "host    {h}")?,
                    None => writeln!(
                        out,
                        "host    not checked (pass --host-api NAME@VERSION to check the host API)"
                    )?,
                }
                for f in &report.files {
                    writeln!(
                        out,
                        "  {} {}  sha256 {}",
                        if f.ok { "✓" } else { "✗" },
                        f.path,
                        f.actual
                    )?;
                }
                for d in report.diagnostics.iter().filter(|d| !d.is_error()) {
                    writeln!(out, "{d}\n  next: {}", d.next_step)?;
                }
                writeln!(out, "{}", if report.ok { "ok" } else { "failed" })?;
                // The refusal goes where every command's does (ARCHITECTURE, CLI conventions).
                if let Some(e) = &report.error {
                    output::eprint(&format!(
                        "error[{}]: {}\n  next: {}\n",
                        e["code"].as_str().unwrap_or(""),
                        e["message"].as_str().unwrap_or(""),
                        e["next_step"].as_str().unwrap_or("")
                    ));
                }
            }
            return Ok(exit_for(report.ok));
        }
        Cmd::Trust {
            action,
            data_dir: dir,
            json,
        } => {
            let dir = data_home::resolve(dir)?;
            match action {
                TrustCmd::Add { key } => {
                    let id = a::trust_add(&dir, &key)?;
                    if json {
                        writeln!(out, "{}", serde_json::json!({ "ok": true, "key_id": id }))?;
                    } else {
                        writeln!(out, "trusting key {id}")?;
                    }
                }
                TrustCmd::List => {
                    let (_, ids) = a::trust_store(Some(&dir), &[])?;
                    if json {
                        writeln!(out, "{}", serde_json::json!({ "ok": true, "keys": ids }))?;
                    } else {
                        for id in ids {
                            writeln!(out, "{id}")?;
                        }
                    }
                }
            }
        }
        _ => {
            return Err(CliError::raise(
                codes::INTERNAL,
                "internal: command routed to the wrong handler",
                "report this as a bug with the command you ran",
            ))
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    // First: started by a host as an isolated plugin's runner, this executable is the runner
    // (and never returns here); otherwise the host may start it as one
    // (`RunnerCommand::locate`).
    switchboard_host::isolation::hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match cli.command {
        Cmd::Demo {
            data_dir,
            json,
            debug,
        } => {
            let options = demo::Options {
                data_dir,
                runner: None,
                profile: if debug {
                    Profile::Debug
                } else {
                    Profile::Release
                },
            };
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            match demo::run(&options, &mut out, json) {
                Ok(steps) => {
                    let verdict = demo::verdict(&steps);
                    if json {
                        // One document; a failed verdict is its `error`.
                        let _ = writeln!(out, "{}", demo::to_json(&steps));
                    } else {
                        let _ = writeln!(
                            out,
                            "\n{}",
                            if verdict.is_ok() {
                                "Demo finished: every step behaved as expected."
                            } else {
                                "Demo finished with unexpected results (✗ above)."
                            }
                        );
                    }
                    match verdict {
                        Ok(()) => ExitCode::SUCCESS,
                        Err(e) => {
                            if !json {
                                output::eprint(&format!(
                                    "error[{}]: {e}\n  next: {}\n",
                                    e.code(),
                                    e.next_step()
                                ));
                            }
                            ExitCode::from(1)
                        }
                    }
                }
                Err(e) => report_error(&e, json),
            }
        }
        cmd @ (Cmd::Keygen { .. }
        | Cmd::Pack { .. }
        | Cmd::Sign { .. }
        | Cmd::Verify { .. }
        | Cmd::Trust { .. }) => {
            let json = matches!(
                cmd,
                Cmd::Keygen { json: true, .. }
                    | Cmd::Verify { json: true, .. }
                    | Cmd::Pack { json: true, .. }
                    | Cmd::Sign { json: true, .. }
                    | Cmd::Trust { json: true, .. }
            );
            match authoring(cmd) {
                Ok(code) => code,
                Err(e) => report_error(&e, json),
            }
        }
        Cmd::Audit(args) => run_audit(args),
        Cmd::Registry {
            action: RegistryCmd::Config(cmd),
        } => cmd.run(),
        Cmd::Registry {
            action: RegistryCmd::Server(cmd),
        } => {
            let json = cmd.json();
            exit_status(switchboard_cli::server::run(cmd), json)
        }
        Cmd::Search(args) => args.run(),
        Cmd::New(args) => args.run(),
        Cmd::Test(args) => args.run(),
        Cmd::Info(args) => args.run(),
        Cmd::Registry {
            action: RegistryCmd::Static(cmd),
        } => {
            let json = match &cmd {
                publish::StaticRegistryCmd::Init { json, .. } => *json,
                publish::StaticRegistryCmd::Resign { target }
                | publish::StaticRegistryCmd::RenewRoot { target }
                | publish::StaticRegistryCmd::RotateKey { target, .. } => target.json,
            };
            exit_status(publish::run_registry(cmd), json)
        }
        Cmd::Login(args) => {
            let json = args.json;
            exit_status(switchboard_cli::server::run_login(args), json)
        }
        Cmd::Publish(args) => {
            let json = args.target.json;
            exit_status(publish::run_publish(args), json)
        }
        Cmd::Yank(args) => {
            let json = args.target.json;
            exit_status(publish::run_yank(args), json)
        }
        Cmd::Unyank(args) => {
            let json = args.target.json;
            exit_status(publish::run_unyank(args), json)
        }
        Cmd::Deprecate(args) => {
            let json = args.target.json;
            exit_status(publish::run_deprecate(args), json)
        }
        Cmd::Promote(args) => {
            let json = args.target.json;
            exit_status(publish::run_promote(args), json)
        }
        Cmd::Owner { action } => {
            let json = switchboard_cli::accounts::wants_json(Some(&action), None, None);
            exit_status(switchboard_cli::accounts::run_owner(action), json)
        }
        Cmd::Key { action } => {
            let json = switchboard_cli::accounts::wants_json(None, Some(&action), None);
            exit_status(switchboard_cli::accounts::run_key(action), json)
        }
        Cmd::Certify { action } => {
            let json = action.json();
            exit_status(switchboard_cli::certify::run(action), json)
        }
        Cmd::Hold { action } => {
            let json = switchboard_cli::accounts::wants_json(None, None, Some(&action));
            exit_status(switchboard_cli::accounts::run_hold(action), json)
        }
        Cmd::Review(args) => {
            let json = args.target.json;
            exit_status(switchboard_cli::reviews::run_review(args), json)
        }
        Cmd::Report(args) => {
            let json = args.target.json;
            exit_status(switchboard_cli::reviews::run_report(args), json)
        }
        Cmd::Moderate { action } => {
            let json = action.target().json;
            exit_status(switchboard_cli::reviews::run_moderate(action), json)
        }
        Cmd::Inspect {
            plugin,
            data_dir,
            json,
        } => run_inspect(&plugin, data_dir, json),
        Cmd::State {
            action,
            data_dir,
            json,
        } => run_state(action, data_dir, json),
        Cmd::Config {
            plugin,
            data_dir,
            environment,
            manifest,
            json,
        } => run_config(&plugin, data_dir, environment, manifest, json),
        Cmd::Preflight {
            path,
            library,
            host_api,
            target,
            policy,
            trust,
            index,
            lockfile,
            points,
            json,
        } => {
            let inputs = switchboard_cli::preflight::Inputs {
                library: library.as_deref(),
                host_api: host_api.as_deref(),
                target: target.as_deref(),
                policy: policy.as_deref(),
                trust: &trust,
                index: index.as_deref(),
                lockfile: lockfile.as_deref(),
                points: points.as_deref(),
            };
            preflight(&path, &inputs, json)
        }
        Cmd::Install(a) => install::exit_code(install::install(&a), a.common.json),
        Cmd::Discover(a) => install::exit_code(install::scan::discover(&a), a.json),
        Cmd::Health(a) => match install::health::health(&a) {
            Ok(code) => code,
            Err(e) => output::report_error(&e, a.json),
        },
        Cmd::Metrics {
            data_dir,
            since,
            json,
        } => run_metrics(data_dir, since.as_deref(), json),
        Cmd::Usage {
            data_dir,
            since,
            json,
        } => run_usage(data_dir, since.as_deref(), json),
        Cmd::Buy(args) => {
            let json = args.json;
            exit_status(switchboard_cli::buy::run_buy(args), json)
        }
        Cmd::Price(args) => {
            let json = args.json;
            exit_status(switchboard_cli::buy::run_price(args), json)
        }
        Cmd::Entitlements(args) => {
            let json = args.json;
            exit_status(switchboard_cli::buy::run_entitlements(args), json)
        }
        Cmd::Payouts {
            ledger,
            registry,
            data_dir,
            month,
            csv,
            json,
        } => {
            let format = match (csv, json) {
                (true, _) => payouts::Format::Csv,
                (_, true) => payouts::Format::Json,
                _ => payouts::Format::Table,
            };
            let result = match (ledger, registry) {
                (Some(ledger), _) => payouts::report(&ledger, &month, format),
                (None, Some(registry)) => switchboard_cli::data_dir::resolve(data_dir)
                    .and_then(|d| payouts::from_server(&d, &registry, &month, format)),
                (None, None) => Err(anyhow::anyhow!("give --ledger FILE or --registry NAME")),
            };
            match result {
                Ok(text) => {
                    output::print(&text);
                    ExitCode::SUCCESS
                }
                Err(e) => report_error(&e, json),
            }
        }
        Cmd::Slo {
            action:
                SloCmd::Report {
                    data_dir,
                    since,
                    format,
                    json,
                    svg,
                    out,
                    policy,
                },
        } => {
            let json = json || matches!(format, ReportFormatArg::Json);
            let data_dir = match data_home::resolve(data_dir) {
                Ok(d) => d,
                Err(e) => return report_error(&e, json),
            };
            let options = metrics::ReportOptions {
                data_dir,
                since,
                format: if json {
                    metrics::ReportFormat::Json
                } else {
                    metrics::ReportFormat::Markdown
                },
                svg,
                out,
                policy,
            };
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            match metrics::run_report(&options, &mut out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => report_error(&e, json),
            }
        }
        Cmd::Update(a) => install::exit_code(install::update(&a), a.common.json),
        Cmd::Rollback(a) => install::exit_code(install::rollback(&a), a.common.json),
        Cmd::Remove(a) => install::exit_code(install::remove(&a), a.common.json),
        Cmd::Enable(a) => install::exit_code(install::enable(&a), a.common.json),
        Cmd::Disable(a) => install::exit_code(install::disable(&a), a.common.json),
        Cmd::List(a) => install::exit_code(install::list(&a), a.json),
        Cmd::Generations(a) => install::exit_code(install::generations(&a), a.json),
        Cmd::Tree {
            lockfile,
            dot,
            json,
            registries,
        } => {
            let format = match (dot, json) {
                (true, _) => tree::Format::Dot,
                (_, true) => tree::Format::Json,
                _ => tree::Format::Text,
            };
            if !registries.resolve.is_empty() {
                return match switchboard_cli::discover::tree_from_registries(&registries, format) {
                    Ok(text) => {
                        output::print(&text);
                        ExitCode::SUCCESS
                    }
                    Err(e) => report_error(&e, json),
                };
            }
            match tree::render(&lockfile, format) {
                Ok(text) => {
                    output::print(&text);
                    ExitCode::SUCCESS
                }
                Err(e) => report_error(&anyhow::Error::from(e), json),
            }
        }
    }
}

fn preflight(
    path: &std::path::Path,
    inputs: &switchboard_cli::preflight::Inputs<'_>,
    json: bool,
) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match switchboard_cli::preflight::run(path, inputs, json, &mut out) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => report_error(&e, json),
    }
}

fn run_metrics(dir: Option<PathBuf>, since: Option<&str>, json: bool) -> ExitCode {
    let result = data_home::resolve(dir).and_then(|dir| {
        let period = metrics::since(since, "1h")?;
        if json {
            Ok(format!("{}\n", metrics::json(&dir, period)?))
        } else {
            metrics::prometheus(&dir, period)
        }
    });
    match result {
        Ok(text) => {
            output::print(&text);
            ExitCode::SUCCESS
        }
        Err(e) => report_error(&e, json),
    }
}

fn run_usage(dir: Option<PathBuf>, since: Option<&str>, json: bool) -> ExitCode {
    let result = data_home::resolve(dir).and_then(|dir| {
        let period = metrics::since(since, "30d")?;
        if json {
            Ok(format!("{}\n", metrics::usage_json(&dir, period)?))
        } else {
            metrics::usage_text(&dir, period)
        }
    });
    match result {
        Ok(text) => {
            output::print(&text);
            ExitCode::SUCCESS
        }
        Err(e) => report_error(&e, json),
    }
}

fn run_audit(args: AuditArgs) -> ExitCode {
    let json = args.json;
    let dir = match data_home::resolve(args.data_dir) {
        Ok(d) => d,
        Err(e) => return report_error(&e, json),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Some(AuditAction::Verify {
        checkpoint,
        key,
        expect_head,
        no_checkpoint,
    }) = args.action
    {
        let options = audit::VerifyOptions {
            checkpoint,
            key,
            expect_head,
            no_checkpoint,
        };
        return match audit::verify(&dir, &options) {
            Ok(report) if json => {
                let _ = writeln!(out, "{}", audit::verify_json(&report));
                exit_for(report.is_intact())
            }
            Ok(report) => match report.clone().into_result() {
                Ok(_) => {
                    let _ = writeln!(
                        out,
                        "audit log intact: {} rows, head {}\n{}",
                        report.rows,
                        report.head.as_deref().unwrap_or("(empty)"),
                        audit::anchor_summary(&report)
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => report_error(&switchboard_host::Error::from(e).into(), false),
            },
            Err(e) => report_error(&e.into(), json),
        };
    }
    let mut filter = AuditFilter::new();
    filter.plugin = args.plugin;
    filter.kind = args.kind;
    filter.since = args.since;
    filter.until = args.until;
    filter.limit = args.limit;
    let format = match args.format {
        FormatArg::Table => Format::Table,
        FormatArg::Jsonl => Format::Jsonl,
        FormatArg::Csv => Format::Csv,
    };
    match audit::list(&dir, &filter, format, json, &mut out) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => report_error(&e.into(), json),
    }
}

fn run_inspect(plugin: &str, dir: Option<PathBuf>, json: bool) -> ExitCode {
    let dir = match data_home::resolve(dir) {
        Ok(d) => d,
        Err(e) => return report_error(&e, json),
    };
    match inspect::inspect(&dir, plugin) {
        Ok(i) => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            if json {
                let _ = writeln!(out, "{}", inspect::to_json(&i));
            } else {
                let _ = inspect::write_text(&i, &mut out);
            }
            ExitCode::SUCCESS
        }
        Err(e) => report_error(&e.into(), json),
    }
}

fn run_config(
    plugin: &str,
    dir: Option<PathBuf>,
    environment: Option<String>,
    manifest: Option<PathBuf>,
    json: bool,
) -> ExitCode {
    let dir = match data_home::resolve(dir) {
        Ok(d) => d,
        Err(e) => return report_error(&e, json),
    };
    // The binary, unlike the libraries, may read the process environment: it passes the
    // `SWITCHBOARD_<PLUGIN>_*` variables on, as a host started from this shell would.
    let vars: std::collections::BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("SWITCHBOARD_"))
        .collect();
    match config::effective(
        &dir,
        plugin,
        manifest.as_deref(),
        environment.as_deref(),
        &vars,
    ) {
        Ok(c) => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            if json {
                let _ = writeln!(out, "{}", config::to_json(plugin, &c));
            } else {
                let _ = config::write_text(plugin, &c, &mut out);
            }
            ExitCode::SUCCESS
        }
        Err(e) => report_error(&e, json),
    }
}

fn run_state(action: StateCmd, dir: Option<PathBuf>, json: bool) -> ExitCode {
    use switchboard_cli::state;
    let dir = match data_home::resolve(dir) {
        Ok(d) => d,
        Err(e) => return report_error(&e, json),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = match action {
        StateCmd::Show { plugin } => state::show(&dir, &plugin),
        StateCmd::Transfer { plugin, to } => state::transfer(&dir, &plugin, &to),
        StateCmd::Wipe { plugin, yes } => {
            if !yes && !confirm(&format!("wipe every piece of data `{plugin}` has? [y/N] ")) {
                return report_error(
                    &CliError::raise(
                        codes::NOT_CONFIRMED,
                        format!("not confirmed: `{plugin}`'s data was not wiped"),
                        "answer `y` on a terminal, or pass --yes to wipe without asking",
                    ),
                    json,
                );
            }
            state::wipe(&dir, &plugin)
        }
    };
    match result {
        Ok(doc) => {
            let _ = if json {
                writeln!(out, "{doc}")
            } else {
                writeln!(out, "{}", state::text(&doc))
            };
            ExitCode::SUCCESS
        }
        Err(e) => report_error(&e.into(), json),
    }
}

/// Asks on the terminal; never guesses when stdin is not one.
fn confirm(question: &str) -> bool {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return false;
    }
    output::eprint(question);
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && answer.trim().eq_ignore_ascii_case("y")
}

fn exit_for(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Status 0 for success, 1 (with the coded error reported) for a refusal.
fn exit_status(result: anyhow::Result<bool>, json: bool) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => report_error(&e, json),
    }
}

/// A usage error: clap's own report and status 2, except that with `--json` anywhere in the
/// arguments it is one JSON document on stdout (SB0062), as every other refusal is.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let wants_json = std::env::args_os().any(|a| a == "--json");
    let help = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !wants_json || help {
        e.exit();
    }
    let message = e.render().to_string();
    // The error's lines up to clap's usage and tip paragraphs.
    let message = message
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let message = message.trim_start_matches("error: ");
    output::print(&format!(
        "{}\n",
        serde_json::json!({ "ok": false, "error": {
            "code": codes::USAGE.to_string(),
            "message": message,
            "next_step": "see `switchboard help` for the command's arguments",
        } })
    ));
    ExitCode::from(2)
}

fn report_error(e: &anyhow::Error, json: bool) -> ExitCode {
    output::report_error(e, json)
}

/// The documentation's shell lines are commands this binary accepts: every `switchboard …` line
/// of a `sh`/`bash` block in the README and the docs parses with the CLI's own definition.
#[cfg(test)]
mod documented_commands {
    use clap::error::ErrorKind;
    use clap::Parser;

    use super::Cli;

    /// Words of a shell line, honouring single and double quotes (enough for the docs).
    fn words(line: &str) -> Vec<String> {
        let (mut out, mut word, mut quote, mut started) = (Vec::new(), String::new(), None, false);
        for c in line.chars() {
            match (quote, c) {
                (None, '\'' | '"') => (quote, started) = (Some(c), true),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => {
                    if started {
                        out.push(std::mem::take(&mut word));
                        started = false;
                    }
                }
                (_, c) => {
                    word.push(c);
                    started = true;
                }
            }
        }
        if started {
            out.push(word);
        }
        out
    }

    /// The `switchboard …` commands of the shell blocks of `markdown`, with their line numbers.
    fn commands(markdown: &str) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        let mut in_shell = None;
        // A line ending in `\` goes on on the next; its number is the first line's.
        let mut pending: Option<(usize, String)> = None;
        for (i, line) in markdown.lines().enumerate() {
            if let Some(info) = line.trim_start().strip_prefix("```") {
                in_shell = match in_shell {
                    None => Some(matches!(info.trim(), "sh" | "bash" | "shell" | "console")),
                    Some(_) => None,
                };
                continue;
            }
            if in_shell != Some(true) || line.trim_start().starts_with('#') {
                continue;
            }
            // A comment ends the command.
            let code = line.split(" #").next().unwrap_or("");
            let (first, mut joined) = pending.take().unwrap_or((i + 1, String::new()));
            if let Some(head) = code.trim_end().strip_suffix('\\') {
                joined.push_str(head);
                pending = Some((first, joined));
                continue;
            }
            joined.push_str(code);
            // `&&` and `|` join several commands; a redirection is the shell's, not ours.
            for part in joined.split("&&").flat_map(|p| p.split(" | ")) {
                let part = part.split(" > ").next().unwrap_or("");
                let part = part.split(" 2>").next().unwrap_or("");
                let part = part.trim().trim_start_matches("$ ");
                if part.starts_with("switchboard ") {
                    out.push((first, part.to_owned()));
                }
            }
        }
        out
    }

    #[test]
    fn every_documented_switchboard_command_parses() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = vec![root.join("README.md")];
        for entry in std::fs::read_dir(root.join("docs")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
        files.sort();
        let mut checked = 0;
        let mut wrong = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            for (line, command) in commands(&text) {
                match Cli::try_parse_from(words(&command)) {
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
                        ) => {}
                    Err(e) => wrong.push(format!(
                        "{}:{line}: {command}\n  {}",
                        file.display(),
                        e.to_string().lines().next().unwrap_or("")
                    )),
                }
                checked += 1;
            }
        }
        assert!(
            wrong.is_empty(),
            "{} of {checked}:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
        assert!(checked >= 60, "only {checked} commands found");
    }

    #[test]
    fn the_line_reader_splits_quotes_comments_and_chains() {
        assert_eq!(
            words(r#"switchboard yank a@1.0.0 --reason "leaks memory" --scope 'publish:acme-*'"#),
            [
                "switchboard",
                "yank",
                "a@1.0.0",
                "--reason",
                "leaks memory",
                "--scope",
                "publish:acme-*"
            ]
        );
        let found = commands("```sh\nswitchboard search x && switchboard install x   # c\n# switchboard no\n```\n```text\nswitchboard no\n```\n");
        assert_eq!(
            found,
            [
                (2, "switchboard search x".to_owned()),
                (2, "switchboard install x".to_owned())
            ]
        );
    }
}
