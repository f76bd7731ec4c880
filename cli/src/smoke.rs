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
use switchboard_host::{Host, Policy};
use switchboard_sdk::manifest::{Format, Manifest, SmokeCall, MANIFEST_FILE};
use switchboard_sdk::{decode, encode, CommandDecl, Message};

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

/// One smoke call's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct SmokeOutcome {
    /// How the call reads, e.g. `greet("Ada")`.
    pub call: String,
    /// Whether it did what `[test]` says.
    pub passed: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

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

/// The load error for a hook on a point the host did not declare (`SB1701`).
const UNDECLARED_POINT: switchboard_sdk::ErrorCode = switchboard_sdk::ErrorCode::from_number(1701);

/// The host API the smoke host offers: the one `plugin.toml` requires, at the lowest version
/// its range names and accepts (a smoke test checks the plugin, not its host's version).
/// `None` when the plugin requires none, or a range names no version it accepts.
fn offered_host_api(manifest: &Manifest) -> Option<(String, String)> {
    let api = manifest.requires.host_api.as_ref()?;
    let range = semver::VersionReq::parse(&api.version).ok()?;
    range
        .comparators
        .iter()
        .map(|c| semver::Version::new(c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0)))
        .filter(|v| range.matches(v))
        .min()
        .map(|v| (api.name.clone(), v.to_string()))
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

/// A TOML value as a request of the built-in type `contract`, or why not.
fn encode_input(contract: &str, value: Option<&serde_json::Value>) -> Result<Vec<u8>, String> {
    use serde_json::Value as V;
    let want = |what: &str| format!("`{contract}` takes {what}");
    macro_rules! int {
        ($t:ty) => {{
            let v = value.ok_or_else(|| want("an integer `input`"))?;
            let n = v
                .as_i64()
                .map(i128::from)
                .or_else(|| v.as_u64().map(i128::from))
                .ok_or_else(|| want("an integer `input`"))?;
            let n = <$t>::try_from(n).map_err(|_| format!("{n} does not fit `{contract}`"))?;
            Ok(encode(&n))
        }};
    }
    match contract {
        c if c == <() as Message>::CONTRACT.id => match value {
            None => Ok(encode(&())),
            Some(_) => Err(want("no `input`")),
        },
        c if c == String::CONTRACT.id => match value {
            Some(V::String(s)) => Ok(encode(s)),
            _ => Err(want("a string `input`")),
        },
        c if c == bool::CONTRACT.id => match value {
            Some(V::Bool(b)) => Ok(encode(b)),
            _ => Err(want("a boolean `input`")),
        },
        c if c == f64::CONTRACT.id => match value.and_then(V::as_f64) {
            Some(f) => Ok(encode(&f)),
            None => Err(want("a number `input`")),
        },
        c if c == f32::CONTRACT.id => match value.and_then(V::as_f64) {
            #[expect(clippy::cast_possible_truncation, reason = "an f32 command takes an f32")]
            Some(f) => Ok(encode(&(f as f32))),
            None => Err(want("a number `input`")),
        },
        c if c == switchboard_sdk::RAW_BYTES_CONTRACT => match value {
            Some(V::String(s)) => Ok(s.as_bytes().to_vec()),
            None => Ok(Vec::new()),
            _ => Err(want("a string `input` (its UTF-8 bytes)")),
        },
        c if c == u8::CONTRACT.id => int!(u8),
        c if c == u16::CONTRACT.id => int!(u16),
        c if c == u32::CONTRACT.id => int!(u32),
        c if c == u64::CONTRACT.id => int!(u64),
        c if c == i8::CONTRACT.id => int!(i8),
        c if c == i16::CONTRACT.id => int!(i16),
        c if c == i32::CONTRACT.id => int!(i32),
        c if c == i64::CONTRACT.id => int!(i64),
        _ => Err(format!(
            "`{contract}` is not a built-in type: write the request as `input_hex`, its encoded bytes"
        )),
    }
}

/// A response of the built-in type `contract` as JSON, or `None` for other types.
fn decode_output(contract: &str, bytes: &[u8]) -> Option<Result<serde_json::Value, String>> {
    use serde_json::Value as V;
    fn d<T: Message + Into<V>>(bytes: &[u8]) -> Result<V, String> {
        decode::<T>(bytes)
            .map(Into::into)
            .map_err(|e| e.to_string())
    }
    Some(match contract {
        c if c == <() as Message>::CONTRACT.id => decode::<()>(bytes)
            .map(|()| V::Null)
            .map_err(|e| e.to_string()),
        c if c == String::CONTRACT.id => d::<String>(bytes),
        c if c == bool::CONTRACT.id => d::<bool>(bytes),
        c if c == f64::CONTRACT.id => d::<f64>(bytes),
        c if c == f32::CONTRACT.id => d::<f32>(bytes),
        c if c == u8::CONTRACT.id => d::<u8>(bytes),
        c if c == u16::CONTRACT.id => d::<u16>(bytes),
        c if c == u32::CONTRACT.id => d::<u32>(bytes),
        c if c == u64::CONTRACT.id => d::<u64>(bytes),
        c if c == i8::CONTRACT.id => d::<i8>(bytes),
        c if c == i16::CONTRACT.id => d::<i16>(bytes),
        c if c == i32::CONTRACT.id => d::<i32>(bytes),
        c if c == i64::CONTRACT.id => d::<i64>(bytes),
        c if c == switchboard_sdk::RAW_BYTES_CONTRACT => {
            Ok(V::String(String::from_utf8_lossy(bytes).into_owned()))
        }
        _ => return None,
    })
}

fn describe(call: &SmokeCall) -> String {
    let input = match (&call.input, &call.input_hex) {
        (Some(v), _) => v.to_string(),
        (None, Some(h)) => format!("0x{h}"),
        (None, None) => String::new(),
    };
    let mut text = format!("{}({input})", call.command);
    if let Some(code) = &call.expect_error {
        text.push_str(&format!(" fails with {code}"));
    } else if let Some(v) = &call.expect {
        text.push_str(&format!(" = {v}"));
    }
    text
}

/// Makes one smoke call; `Err` is a mistake in `[test]` itself (`SB0074`), `Ok` the outcome.
fn smoke_call(
    plugin: &switchboard_host::PluginHandle,
    commands: &[CommandDecl],
    call: &SmokeCall,
) -> Result<SmokeOutcome> {
    let label = describe(call);
    let spec_error = |why: String| {
        CliError::raise(
            codes::SMOKE_SPEC,
            format!("[[test.calls]] {label}: {why}"),
            "fix the call in plugin.toml's [test] section",
        )
    };
    let Some(decl) = commands.iter().find(|c| c.name == call.command) else {
        let names: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();
        return Err(spec_error(format!(
            "the plugin has no command `{}` (it has: {})",
            call.command,
            names.join(", ")
        )));
    };
    let request = match (&call.input, &call.input_hex) {
        (Some(_), Some(_)) => {
            return Err(spec_error("give `input` or `input_hex`, not both".into()))
        }
        (_, Some(h)) => {
            hex::decode(h.trim()).map_err(|e| spec_error(format!("`input_hex`: {e}")))?
        }
        (v, None) => encode_input(&decl.request, v.as_ref()).map_err(spec_error)?,
    };
    if call.expect.is_some() && call.expect_error.is_some() {
        return Err(spec_error(
            "give `expect` or `expect_error`, not both".into(),
        ));
    }
    if decl.stream.is_some() {
        return Err(spec_error(format!(
            "`{}` is a streaming command; smoke calls make plain calls only (test it with the mock host's `MockPlugin::stream`)",
            call.command
        )));
    }
    let command = plugin
        .raw_command(&call.command)
        .map_err(|e| spec_error(format!("cannot bind it: {e}")))?;
    let fail = |why: String| SmokeOutcome {
        call: label.clone(),
        passed: false,
        failure: Some(why),
    };
    let outcome = match command.call(&request) {
        Err(e) => match &call.expect_error {
            Some(code) if e.code().to_string().eq_ignore_ascii_case(code.trim()) => SmokeOutcome {
                call: label.clone(),
                passed: true,
                failure: None,
            },
            Some(code) => fail(format!("expected {code}, got {}: {e}", e.code())),
            None => fail(format!("failed: {e}")),
        },
        Ok(bytes) => match (&call.expect_error, &call.expect) {
            (Some(code), _) => fail(format!("expected {code}, but the call succeeded")),
            (None, None) => SmokeOutcome {
                call: label.clone(),
                passed: true,
                failure: None,
            },
            (None, Some(expected)) => match decode_output(&decl.response, &bytes) {
                None => {
                    return Err(spec_error(format!(
                        "`{}` is not a built-in type, so `expect` cannot compare it; leave `expect` out to check only that the call succeeds",
                        decl.response
                    )))
                }
                Some(Err(e)) => fail(format!("the answer does not decode: {e}")),
                Some(Ok(got)) if json_eq(&got, expected) => SmokeOutcome {
                    call: label.clone(),
                    passed: true,
                    failure: None,
                },
                Some(Ok(got)) => fail(format!("expected {expected}, got {got}")),
            },
        },
    };
    Ok(outcome)
}

/// Equality that lets an integer `expect` match a float answer of the same value.
fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inputs_encode_by_the_commands_request_type() {
        assert_eq!(
            encode_input("string@1", Some(&json!("hi"))).unwrap(),
            encode(&"hi".to_string())
        );
        assert_eq!(encode_input("u8@1", Some(&json!(7))).unwrap(), encode(&7u8));
        assert_eq!(
            encode_input("i64@1", Some(&json!(-3))).unwrap(),
            encode(&-3i64)
        );
        assert_eq!(encode_input("unit@1", None).unwrap(), encode(&()));
        assert_eq!(encode_input("bytes", Some(&json!("ab"))).unwrap(), b"ab");
        assert!(encode_input("u8@1", Some(&json!(300)))
            .unwrap_err()
            .contains("does not fit"));
        assert!(encode_input("string@1", Some(&json!(1)))
            .unwrap_err()
            .contains("a string"));
        assert!(encode_input("unit@1", Some(&json!(1)))
            .unwrap_err()
            .contains("no `input`"));
        assert!(encode_input("my::Req@1#00", Some(&json!({})))
            .unwrap_err()
            .contains("input_hex"));
    }

    #[test]
    fn outputs_decode_for_built_in_types_only() {
        let got = decode_output("u64@1", &encode(&42u64)).unwrap().unwrap();
        assert_eq!(got, json!(42));
        assert!(json_eq(&json!(2.0), &json!(2)));
        assert!(decode_output("my::Resp@1#00", b"").is_none());
        assert!(decode_output("u64@1", b"").unwrap().is_err());
    }
}
