//! `switchboard test [PATH]`: a plugin crate's unit tests, then its built library in a real
//! host.
//!
//! 1. `cargo test` in the crate (the unit tests, usually against the SDK's mock host);
//! 2. `cargo build --lib`, and the library loaded into a real host on a throwaway data
//!    directory — the same checks as any load: embedded manifest, SDK ABI, `plugin.toml`,
//!    configuration schema and defaults — with the capabilities `[test] grant` lists (default:
//!    every one the plugin requests) allowed by policy, and started;
//! 3. each `[[test.calls]]` of `plugin.toml` made through the host, its answer or error code
//!    compared with `expect` / `expect_error`.
//!
//! A smoke call's `input` and `expect` are written as TOML values for the built-in message
//! types (strings, integers, floats, booleans; nothing for `()`; a string for raw bytes);
//! a command whose request is a `#[derive(Message)]` type takes `input_hex`, its encoded
//! bytes, and its answer is checked only for success. A plugin that contributes to extension
//! points needs the host that declares them: its library is built and goes through every
//! check of a load up to its hooks, but is not started here (the report says so).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Result;
use serde::Serialize;
use switchboard_host::caps::{Capability, Scope};
use switchboard_host::smoke::{offered_host_api, UNDECLARED_POINT};
use switchboard_host::{Host, Policy};
use switchboard_sdk::manifest::{Format, Manifest, SmokeCall, MANIFEST_FILE};

use crate::output::{codes, CliError, Coded as _};

/// What `switchboard test` is asked to do.
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// The plugin crate (with `plugin.toml` beside `Cargo.toml`).
    pub crate_dir: PathBuf,
    /// Run `cargo test` first.
    pub unit_tests: bool,
    /// cargo's target directory (`None`: the crate's own).
    pub target_dir: Option<PathBuf>,
}

/// One smoke call's outcome (shared with the registry's certification).
pub use switchboard_host::smoke::SmokeOutcome;

/// What `switchboard test` did.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    /// The plugin.
    pub name: String,
    /// Whether the unit tests ran (and passed: a failure ends the run with `SB0072`).
    pub unit_tests: bool,
    /// The library built.
    pub library: PathBuf,
    /// Why the library was not started in the test host, if it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_started: Option<String>,
    /// The smoke calls, in order.
    pub calls: Vec<SmokeOutcome>,
}

impl TestReport {
    /// How many smoke calls failed.
    pub fn failed(&self) -> usize {
        self.calls.iter().filter(|c| !c.passed).count()
    }
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn read_manifest(crate_dir: &Path) -> Result<Manifest> {
    let path = crate_dir.join(MANIFEST_FILE);
    if !path.is_file() {
        return Err(CliError::raise(
            codes::MANIFEST,
            format!("{} is missing", path.display()),
            "run `switchboard test` in a plugin crate (one `switchboard new` made, or one with a plugin.toml)",
        ));
    }
    let text = crate::authoring::read_input(&path, "plugin.toml", 1 << 20)?;
    let text = String::from_utf8(text).coded(
        codes::MANIFEST,
        format_args!("{} is not UTF-8", path.display()),
        "save plugin.toml as UTF-8",
    )?;
    Manifest::parse(&text, Format::Toml).map_err(|findings| {
        CliError::raise(
            codes::MANIFEST,
            format!(
                "{} is not valid: {}",
                path.display(),
                findings
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            "fix plugin.toml (`switchboard preflight .` explains each finding)",
        )
    })
}

fn run_unit_tests(crate_dir: &Path, target_dir: Option<&Path>, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "running the unit tests (cargo test)")?;
    out.flush()?;
    let mut cmd = cargo();
    cmd.arg("test")
        .arg("--manifest-path")
        .arg(crate_dir.join("Cargo.toml"));
    if let Some(t) = target_dir {
        cmd.arg("--target-dir").arg(t);
    }
    // cargo's report (stdout) comes through `out`, line by line as it runs; its build
    // progress (stderr) goes to the terminal as `cargo test` prints it.
    let mut child = cmd.stdout(Stdio::piped()).spawn().coded(
        codes::BUILD,
        "cannot run cargo",
        "install Rust with cargo (https://rustup.rs), or set CARGO to its path",
    )?;
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let line = line.coded(
                codes::BUILD,
                "cannot read cargo's output",
                "run `cargo test` in the crate",
            )?;
            writeln!(out, "{line}")?;
        }
    }
    let status = child.wait().coded(
        codes::BUILD,
        "cannot wait for cargo",
        "run `cargo test` in the crate",
    )?;
    if !status.success() {
        return Err(CliError::raise(
            codes::UNIT_TESTS,
            format!("the unit tests failed ({status})"),
            "fix the failures cargo printed above, then run `switchboard test` again",
        ));
    }
    Ok(())
}

/// Makes one smoke call; `Err` is a mistake in `[test]` itself (`SB0074`), `Ok` the outcome.
fn smoke_call(
    plugin: &switchboard_host::PluginHandle,
    commands: &[switchboard_sdk::CommandDecl],
    call: &SmokeCall,
) -> Result<SmokeOutcome> {
    switchboard_host::smoke::call(plugin, commands, call).map_err(|e| {
        CliError::raise(
            codes::SMOKE_SPEC,
            e.to_string(),
            "fix the call in plugin.toml's [test] section",
        )
    })
}

/// Runs the unit tests, builds the library, loads it into a real host and makes the smoke
/// calls, writing progress like `cargo test` to `out`. A failing unit test or smoke call is
/// an error (`SB0072`, `SB0073`) after the report is written.
pub fn run(options: &TestOptions, out: &mut dyn Write) -> Result<TestReport> {
    let crate_dir = &std::path::absolute(&options.crate_dir).coded(
        codes::READ,
        format_args!("cannot resolve {}", options.crate_dir.display()),
        "give the plugin crate's directory",
    )?;
    let manifest = read_manifest(crate_dir)?;
    if !crate_dir.join("Cargo.toml").is_file() {
        return Err(CliError::raise(
            codes::BUILD,
            format!(
                "{} has a plugin.toml but no Cargo.toml",
                crate_dir.display()
            ),
            "run `switchboard test` in the plugin's crate (plugin.toml beside Cargo.toml)",
        ));
    }
    if options.unit_tests {
        run_unit_tests(crate_dir, options.target_dir.as_deref(), out)?;
    }
    writeln!(out, "building {} (cargo build --lib)", manifest.name)?;
    out.flush()?;
    let library = crate::authoring::build_dev_library(
        crate_dir,
        &manifest.name,
        options.target_dir.as_deref(),
    )?;
    let data = tempfile::tempdir().coded(
        codes::WRITE,
        "cannot create a temporary data directory",
        "check the free space in the temporary directory",
    )?;
    let test = manifest.test.clone().unwrap_or_default();
    let mut policy = Policy::new();
    policy.allow_plugin(&manifest.name);
    let mut builder = Host::builder();
    builder.data_dir(data.path()).metrics(false).policy(policy);
    if let Some((name, version)) = offered_host_api(&manifest) {
        builder.host_api(name, version);
    }
    builder.dangerous().load_unsigned_libraries();
    let host = builder.build().coded(
        codes::INTERNAL,
        "cannot start a test host",
        "check the temporary directory",
    )?;
    writeln!(out, "loading {} into a host", library.display())?;
    let mut report = TestReport {
        name: manifest.name.clone(),
        unit_tests: options.unit_tests,
        library: library.clone(),
        not_started: None,
        calls: Vec::new(),
    };
    let plugin = match host.load_unsigned(&library) {
        Ok(plugin) => plugin,
        // Every other check of the load passed; the points are its host's to declare.
        Err(e) if e.code() == UNDECLARED_POINT => {
            let first = e.to_string();
            let first = first.lines().next().unwrap_or_default().to_owned();
            let why = format!(
                "not started: it contributes to extension points only its host declares ({first})"
            );
            writeln!(out, "{why}")?;
            report.not_started = Some(why);
            return Ok(report);
        }
        Err(e) => {
            return Err(CliError::raise(
                e.code(),
                format!("the host refused the library: {e}"),
                "fix what the message names; `switchboard preflight .` checks the crate without loading it",
            ))
        }
    };
    // The grants: `[test] grant`, else every capability the plugin requests.
    let grants: Vec<Capability> = match &test.grant {
        Some(list) => list
            .iter()
            .map(|c| {
                c.parse::<Capability>().coded(
                    codes::SMOKE_SPEC,
                    format_args!("[test] grant: `{c}` is not a capability"),
                    "write capabilities as in #[plugin(capabilities = [...])]",
                )
            })
            .collect::<Result<_>>()?,
        None => plugin.requested(),
    };
    for cap in grants {
        host.grant(&manifest.name, cap.clone(), Scope::Session)
            .map_err(|e| {
                CliError::raise(
                    codes::SMOKE_SPEC,
                    format!("[test] grant: cannot grant `{cap}`: {e}"),
                    "grant only capabilities the plugin requests in #[plugin(capabilities = [...])]",
                )
            })?;
    }
    let embedded = plugin.manifest();
    plugin.start().map_err(|e| {
        CliError::raise(
            e.code(),
            format!("the plugin did not start: {e}"),
            "fix its `start` hook or configuration",
        )
    })?;
    let calls = &test.calls;
    writeln!(
        out,
        "\nrunning {} smoke call{}",
        calls.len(),
        plural(calls.len())
    )?;
    for call in calls {
        let outcome = smoke_call(&plugin, &embedded.commands, call)?;
        match &outcome.failure {
            None => writeln!(out, "call {} ... ok", outcome.call)?,
            Some(why) => writeln!(out, "call {} ... FAILED: {why}", outcome.call)?,
        }
        report.calls.push(outcome);
    }
    let failed = report.failed();
    writeln!(
        out,
        "\nsmoke result: {}. {} passed; {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" },
        report.calls.len() - failed,
    )?;
    let _ = plugin.stop();
    Ok(report)
}

/// `switchboard test [PATH] [--no-unit-tests] [--target-dir DIR] [--json]`.
#[derive(Debug, clap::Args)]
pub struct TestCli {
    /// The plugin crate.
    #[arg(default_value = ".")]
    pub crate_dir: PathBuf,
    /// Skip `cargo test`; only build, load and make the smoke calls.
    #[arg(long)]
    pub no_unit_tests: bool,
    /// cargo's target directory.
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
    /// Print one JSON document at the end (progress and cargo's output go to stderr).
    #[arg(long)]
    pub json: bool,
}

impl TestCli {
    /// Runs the command; the exit status (1 when a test or smoke call failed).
    pub fn run(self) -> std::process::ExitCode {
        let options = TestOptions {
            crate_dir: self.crate_dir,
            unit_tests: !self.no_unit_tests,
            target_dir: self.target_dir,
        };
        let json = self.json;
        let result = if json {
            run(&options, &mut std::io::stderr())
        } else {
            run(&options, &mut StdoutQuietOnClose)
        };
        let outcome = result.and_then(|report| {
            if json {
                let mut doc = serde_json::to_value(&report)?;
                doc["ok"] = (report.failed() == 0).into();
                crate::output::print(&format!("{doc}\n"));
            }
            if report.failed() > 0 {
                return Err(CliError::raise(
                    codes::SMOKE_FAILED,
                    format!(
                        "{} of {} smoke calls failed",
                        report.failed(),
                        report.calls.len()
                    ),
                    "see each FAILED call above; fix the plugin or its [test] section",
                ));
            }
            Ok(())
        });
        match outcome {
            Ok(()) => std::process::ExitCode::SUCCESS,
            // With --json the report was printed; the error goes to stderr only.
            Err(e) if json && crate::output::code_of(&e).0 == codes::SMOKE_FAILED.to_string() => {
                crate::output::report_error(&e, false)
            }
            Err(e) => crate::output::report_error(&e, json),
        }
    }
}

/// Stdout that ends the process quietly when its reader has gone (`switchboard test | head`).
struct StdoutQuietOnClose;

impl Write for StdoutQuietOnClose {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = std::io::stdout().write(buf);
        if let Err(e) = &r {
            crate::output::exit_on_broken_pipe(e);
        }
        r
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = std::io::stdout().flush();
        if let Err(e) = &r {
            crate::output::exit_on_broken_pipe(e);
        }
        r
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
