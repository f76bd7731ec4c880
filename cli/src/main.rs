//! The `switchboard` binary.

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the binary is the one place that prints"
)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchboard_cli::demo;
use switchboard_cli::examples::Profile;

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
    /// Run every check that needs no plugin code on a plugin crate, plugin.toml or library.
    ///
    /// Exits 0 only when no check finds an error, so it can gate a plugin's CI.
    Preflight {
        /// A plugin crate directory, a plugin.toml/plugin.json, or a built library.
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
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
        Cmd::Preflight {
            path,
            library,
            host_api,
            target,
            json,
        } => preflight(
            &path,
            library.as_deref(),
            host_api.as_deref(),
            target.as_deref(),
            json,
        ),
    }
}

fn preflight(
    path: &std::path::Path,
    library: Option<&std::path::Path>,
    host_api: Option<&str>,
    target: Option<&str>,
    json: bool,
) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match switchboard_cli::preflight::run(path, library, host_api, target, json, &mut out) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => report_error(&e, json),
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
