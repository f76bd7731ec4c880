//! The demo's isolation tour (issue 16): hello run isolated — its code in a sandboxed runner
//! process — beside wordcount in-process, in a host of their own; a call to each; hello
//! reading files with the standard library, where the kernel (Landlock), not the host, allows
//! its granted directory and refuses the rest; hello segfaulting, which kills only its runner:
//! the caller gets `SB1501`, wordcount and the host carry on, the runner is restarted and the
//! audit log records it. Each step checks what it claims.
//!
//! The runner is the `switchboard` executable itself (its `main` calls
//! `switchboard_host::isolation::hook` first), found by `RunnerCommand::locate`, unless the
//! caller names one ([`super::Options::runner`]), as tests do.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use switchboard_host::caps::{Capability, Policy};
use switchboard_host::isolation::{Mode, RunnerCommand};
use switchboard_host::{AuditFilter, AuditKind, Host, LoadOptions, PluginHandle};

use super::{describe, Report};

/// The files the tour reads, and the libraries it loads.
pub(super) struct Setup<'a> {
    /// The host's data directory for the tour.
    pub data_dir: &'a Path,
    /// hello's library.
    pub hello: &'a Path,
    /// wordcount's library.
    pub wordcount: &'a Path,
    /// A directory hello may read (`fs.read` granted beneath it).
    pub shared: &'a Path,
    /// A file outside it.
    pub secret: &'a Path,
    /// The runner to use; `None`: [`RunnerCommand::locate`].
    pub runner: Option<RunnerCommand>,
}

/// Runs the tour.
pub(super) fn run(r: &mut Report<'_>, setup: Setup<'_>) -> Result<()> {
    let Some(runner) = setup.runner.clone().or_else(RunnerCommand::locate) else {
        r.say(
            "Ran hello isolated",
            false,
            "no runner found: this executable did not call `switchboard_host::isolation::hook`, \
             and no `switchboard-runner` is set (SWITCHBOARD_RUNNER) or beside it"
                .to_owned(),
        )?;
        return Ok(());
    };
    let mut policy = Policy::new();
    policy.allow(format!("fs.read:{}/**", setup.shared.display()).parse::<Capability>()?);
    let mut builder = Host::builder();
    builder
        .data_dir(setup.data_dir)
        .host_api("switchboard-demo", env!("CARGO_PKG_VERSION"))
        .policy(policy)
        .runner(runner.clone());
    builder.dangerous().load_unsigned_libraries();
    let host = builder.build()?;
    let mut isolated = LoadOptions::new();
    isolated.isolation(Mode::Isolated);
    let hello = host.load_unsigned_with(setup.hello, &isolated)?;
    hello.start()?;
    let wordcount = host.load_unsigned(setup.wordcount)?;
    wordcount.start()?;

    let isolation = hello.isolation();
    let first_pid = isolation.runner_pid;
    let landlock = isolation
        .layers
        .iter()
        .any(|l| l.layer == switchboard_host::isolation::Layer::Landlock && l.active);
    let layers: Vec<String> = isolation
        .layers
        .iter()
        .map(|l| {
            format!(
                "{:?}: {} — {}",
                l.layer,
                if l.active { "on" } else { "off" },
                l.detail
            )
        })
        .collect();
    r.say(
        "Ran hello isolated — its code in a sandboxed runner process — beside wordcount in-process",
        isolation.mode == Mode::Isolated
            && first_pid.is_some_and(|pid| pid != std::process::id())
            && wordcount.isolation().mode == Mode::InProcess,
        format!(
            "hello: runner process {} ({}), policy: {}\nwordcount: in the host's process {}\n{}",
            first_pid.map_or("none".to_owned(), |p| p.to_string()),
            runner.program().display(),
            isolation.decision.reasons.join("; "),
            std::process::id(),
            layers.join("\n")
        ),
    )?;

    let greeting = call::<String, String>(&hello, "greet", &"Ada".to_owned());
    let longest =
        call::<String, String>(&wordcount, "longest_word", &"an isolated plugin".to_owned());
    r.say(
        "Called both through the same handles: hello across the process boundary, wordcount in-process",
        greeting.as_deref() == Ok("Hello, Ada!") && longest.as_deref() == Ok("isolated"),
        format!(
            "hello.greet(\"Ada\") → {}\nwordcount.longest_word(\"an isolated plugin\") → {}",
            shown(&greeting),
            shown(&longest)
        ),
    )?;

    let welcome = setup.shared.join("welcome.txt");
    let granted = call::<String, String>(&hello, "read_file_direct", &path_text(&welcome));
    let refused = call::<String, String>(&hello, "read_file_direct", &path_text(setup.secret));
    let by_kernel = refused
        .as_ref()
        .is_err_and(|e| e.contains("Permission denied") || e.contains("os error 13"));
    r.say(
        "hello read files with std::fs, not through the host: the kernel (Landlock) let it read its granted directory and refused the rest",
        landlock && granted.as_deref() == Ok("Welcome to Switchboard!") && by_kernel,
        format!(
            "{} → {}\n{} → {}\n(in-process, no capability check sees a std::fs read: only the sandbox stops it)",
            welcome.display(),
            shown(&granted),
            setup.secret.display(),
            shown(&refused)
        ),
    )?;

    let crashed = call::<(), ()>(&hello, "segfault", &());
    let died = crashed
        .as_ref()
        .is_err_and(|e| e.starts_with("SB1501") && e.contains("SIGSEGV"));
    let carried_on = call::<String, String>(&wordcount, "longest_word", &"still here".to_owned());
    let restarted = wait_for_restart(&host);
    let again = call::<String, String>(&hello, "greet", &"Grace".to_owned());
    let second_pid = hello.isolation().runner_pid;
    r.say(
        "hello segfaulted: only its runner died — the call got SB1501, wordcount and the host carried on, the runner was restarted and the audit log says so",
        died && carried_on.as_deref() == Ok("still") && restarted.is_some()
            && again.as_deref() == Ok("Hello, Grace!")
            && second_pid.is_some() && second_pid != first_pid,
        format!(
            "hello.segfault() → {}\nwordcount.longest_word(\"still here\") → {}\naudit: {}\nhello.greet(\"Grace\") → {} (runner {})\nsee `switchboard inspect hello --data-dir {dir}` and `switchboard audit --kind isolation --data-dir {dir}`",
            shown(&crashed),
            shown(&carried_on),
            restarted.unwrap_or_else(|| "no runner-restarted row within 30 s".to_owned()),
            shown(&again),
            second_pid.map_or("none".to_owned(), |p| p.to_string()),
            dir = path_text(setup.data_dir),
        ),
    )?;
    Ok(())
}

/// A typed call; an error as the CLI shows it.
fn call<Req: switchboard_sdk::Message, Resp: switchboard_sdk::Message>(
    plugin: &PluginHandle,
    command: &str,
    request: &Req,
) -> std::result::Result<Resp, String> {
    plugin
        .command::<Req, Resp>(command)
        .and_then(|c| c.call(request))
        .map_err(|e| describe(&e.into()))
}

fn shown<T: std::fmt::Debug>(outcome: &std::result::Result<T, String>) -> String {
    match outcome {
        Ok(v) => format!("{v:?}"),
        Err(e) => e.lines().next().unwrap_or_default().to_owned(),
    }
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

/// Waits (at most 30 s) for hello's `runner-restarted` audit row; returns the `isolation`
/// rows, as words.
fn wait_for_restart(host: &Host) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = host
            .audit()
            .query(
                &AuditFilter::new()
                    .plugin("hello")
                    .kind(AuditKind::Isolation),
            )
            .ok()?;
        if rows.iter().any(|r| r.subject == "runner-restarted") {
            return Some(
                rows.iter()
                    .map(|r| format!("{} {}", r.subject, r.detail))
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
