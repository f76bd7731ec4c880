//! The `switchboard` binary.

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the binary is the one place that prints"
)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use switchboard_cli::audit::{self, Format};
use switchboard_cli::examples::Profile;
use switchboard_cli::{data_dir, demo, inspect};
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
    /// Only rows of this kind: grant, deny, revoke, load, state, install.
    #[arg(long, value_parser = parse_kind)]
    kind: Option<AuditKind>,
    /// Only rows at or after this time (RFC 3339, a date, Unix seconds, or an age: 30m, 12h, 7d).
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

#[derive(Debug, Subcommand)]
enum AuditAction {
    /// Verify the hash chain; report the first row where it breaks (exit 1 if it does).
    Verify,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Audit(args) => run_audit(args),
        Cmd::Inspect {
            plugin,
            data_dir,
            json,
        } => run_inspect(&plugin, data_dir, json),
        Cmd::Demo {
            data_dir,
            json,
            debug,
        } => {
            let options = demo::Options {
                data_dir,
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
                    let ok = steps.iter().all(|s| s.ok);
                    if json {
                        let _ = writeln!(out, "{}", demo::to_json(&steps));
                    } else {
                        let _ = writeln!(
                            out,
                            "\n{}",
                            if ok {
                                "Demo finished: every step behaved as expected."
                            } else {
                                "Demo finished with unexpected results (✗ above)."
                            }
                        );
                    }
                    if ok {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => report_error(&e, json),
            }
        }
    }
}

fn run_audit(args: AuditArgs) -> ExitCode {
    let json = args.json;
    let dir = match data_dir::resolve(args.data_dir) {
        Ok(d) => d,
        Err(e) => return report_error(&e, json),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Some(AuditAction::Verify) = args.action {
        return match audit::verify(&dir) {
            Ok(report) if json => {
                let _ = writeln!(out, "{}", audit::verify_json(&report));
                exit_for(report.is_intact())
            }
            Ok(report) => match report.clone().into_result() {
                Ok(_) => {
                    let _ = writeln!(
                        out,
                        "audit log intact: {} rows, head {}",
                        report.rows,
                        report.head.as_deref().unwrap_or("(empty)")
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
    let dir = match data_dir::resolve(dir) {
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

fn exit_for(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn report_error(e: &anyhow::Error, json: bool) -> ExitCode {
    let (code, next) = match e.downcast_ref::<switchboard_host::Error>() {
        Some(h) => (h.code().to_string(), h.next_step()),
        None => ("SB0001".to_string(), "see the message above".to_string()),
    };
    if json {
        println!(
            "{}",
            serde_json::json!({ "ok": false, "error": { "code": code, "message": format!("{e:#}"), "next_step": next } })
        );
    } else {
        eprintln!("error[{code}]: {e:#}\n  next: {next}");
    }
    ExitCode::from(1)
}
