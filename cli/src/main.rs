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
use switchboard_cli::tree;

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
    /// Show the plugins a lockfile records and what depends on what.
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
        Cmd::Tree {
            lockfile,
            dot,
            json,
        } => {
            let format = match (dot, json) {
                (true, _) => tree::Format::Dot,
                (_, true) => tree::Format::Json,
                _ => tree::Format::Text,
            };
            match tree::render(&lockfile, format) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => report_error(&anyhow::Error::from(e), json),
            }
        }
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
