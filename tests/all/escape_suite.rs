//! The escape suite (issue 16, SPEC S7.2, ARCHITECTURE D13): the hostile test plugin
//! `tests/plugins/escape` run isolated tries every way out through raw system calls — never
//! the SDK — and each attempt is contained: the operation fails, or the runner dies and the
//! call gets a coded error (`SB1501` died, `SB1502` timed out); the host stays up and an
//! in-process plugin (`hello`) keeps answering after each case; a runner's death is audited
//! (kind `isolation`). The harmless attempts also run in-process, where they succeed: what
//! stops them isolated is the sandbox, not the plugin.
//!
//! Cases about the manifest's `[limits]` (call timeout, memory, CPU) check first that the
//! limits are in force, so a policy that dropped them fails the test at once rather than hang.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use escape::{OpenFds, Outcome};
use switchboard_host::caps::{Approval, ApprovalRequest, Policy, Scope};
use switchboard_host::isolation::{IsolationProfile, Mode, RunnerCommand};
use switchboard_host::{AuditFilter, AuditKind, CallError, Host, LoadOptions, PluginHandle, State};
use switchboard_tests::{host_with, library, test_plugin};

/// The directory the escape plugin's `fs.read`/`fs.write` grants cover.
const GRANTED: &str = "/tmp/switchboard-escape";

/// The runner binary the tests start (`tests/bin/isolated_runner.rs`).
fn runner() -> RunnerCommand {
    RunnerCommand::binary(env!("CARGO_BIN_EXE_isolated_runner"))
}

/// A host whose approver grants every request, with `escape` loaded in `mode` and `hello`
/// in-process, both started.
struct Scene {
    host: Host,
    escape: PluginHandle,
    /// A fresh directory beneath the granted one, removed at the end.
    granted: tempfile::TempDir,
    _dir: tempfile::TempDir,
}

fn scene(mode: Mode) -> Scene {
    scene_with(mode, None)
}

/// [`scene`] under a policy with `profile` as its isolation defaults.
fn scene_with(mode: Mode, profile: Option<IsolationProfile>) -> Scene {
    std::fs::create_dir_all(GRANTED).unwrap();
    let (host, dir) = host_with(|b, _| {
        b.runner(runner())
            .approver(|_: &ApprovalRequest<'_>| Approval::Allow(Scope::Session));
        if let Some(profile) = profile {
            let mut policy = Policy::new();
            policy.isolation_defaults(profile);
            b.policy(policy);
        }
    });
    let mut options = LoadOptions::new();
    options.isolation(mode);
    let escape = host
        .load_unsigned_with(test_plugin("escape"), &options)
        .unwrap();
    escape.start().unwrap();
    assert_eq!(escape.isolation().mode, mode);
    let hello = host.load_unsigned(library("hello")).unwrap();
    hello.start().unwrap();
    assert_eq!(hello.isolation().mode, Mode::InProcess);
    let granted = tempfile::Builder::new()
        .prefix("case-")
        .tempdir_in(GRANTED)
        .unwrap();
    Scene {
        host,
        escape,
        granted,
        _dir: dir,
    }
}

impl Scene {
    fn call<Req: switchboard_sdk::Message, Resp: switchboard_sdk::Message>(
        &self,
        command: &str,
        request: &Req,
    ) -> Result<Resp, CallError> {
        self.escape.command::<Req, Resp>(command)?.call(request)
    }

    /// An escape command that reports an [`Outcome`].
    fn attempt<Req: switchboard_sdk::Message>(
        &self,
        command: &str,
        request: &Req,
    ) -> Result<Outcome, CallError> {
        let outcome = self.call::<Req, Outcome>(command, request);
        report(command, &outcome);
        outcome
    }

    /// The host is up and the in-process `hello` answers.
    fn host_serves(&self) {
        let greet = self
            .host
            .command::<String, String>("hello", "greet")
            .unwrap();
        assert_eq!(greet.call(&"Ada".into()).unwrap(), "Hello, Ada!");
        assert_eq!(self.host.plugin("hello").unwrap().state(), State::Active);
    }

    /// How many `isolation` audit rows of `action` the escape plugin has.
    fn audited(&self, action: &str) -> usize {
        self.host
            .audit()
            .query(
                &AuditFilter::new()
                    .plugin("escape")
                    .kind(AuditKind::Isolation),
            )
            .unwrap()
            .iter()
            .filter(|r| r.subject == action)
            .count()
    }

    /// Waits until the escape plugin's runner has been restarted `n` times in all (audited),
    /// then checks it answers again. Waits on the audit log, not on a clock: the deadline
    /// only turns a hang into a failure.
    fn restarted(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.audited("runner-restarted") < n {
            assert!(
                Instant::now() < deadline,
                "the escape plugin's runner was not restarted (audit: {} exited, {} restarted)",
                self.audited("runner-exited"),
                self.audited("runner-restarted")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(self.audited("runner-exited") >= n);
        assert_eq!(self.call::<u64, u64>("sleep_ms", &0).unwrap(), 0);
        assert_eq!(self.escape.state(), State::Active);
    }

    fn runner_pid(&self) -> u32 {
        self.escape.isolation().runner_pid.unwrap()
    }
}

#[expect(clippy::print_stderr, reason = "the escape table in the test's output")]
fn report<T: std::fmt::Debug>(case: &str, outcome: &Result<T, CallError>) {
    match outcome {
        Ok(o) => eprintln!("escape case {case}: {}", brief(o, 400)),
        Err(e) => eprintln!("escape case {case}: {} {e}", e.code()),
    }
}

/// `value` in debug form, cut at `max` characters.
fn brief(value: &impl std::fmt::Debug, max: usize) -> String {
    let text = format!("{value:?}");
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// The operation failed: the OS refused it, or the runner died for it (`SB1501`, and then it
/// must not have been an `execve` that worked) or was killed at the timeout (`SB1502`).
#[track_caller]
fn contained(outcome: &Result<Outcome, CallError>) {
    match outcome {
        Ok(o) => assert!(!o.allowed, "the OS allowed it: {}", brief(o, 400)),
        Err(e) => {
            let code = e.code().to_string();
            assert!(
                code == "SB1501" || code == "SB1502",
                "an unexpected error: {code} {e}"
            );
        }
    }
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn text(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

#[test]
fn raw_file_reads_and_writes_outside_the_grants_fail_isolated_and_work_in_process() {
    let outside = tempfile::tempdir().unwrap();
    let secret = write_file(outside.path(), "secret.txt", "not for plugins");
    let target = outside.path().join("planted.txt");

    let inproc = scene(Mode::InProcess);
    let read = inproc.attempt("read_raw", &text(&secret)).unwrap();
    assert!(read.allowed, "{read:?}");
    assert_eq!(read.detail, "not for plugins");
    assert!(
        inproc
            .attempt("read_raw", &"/etc/hostname".to_owned())
            .unwrap()
            .allowed
    );
    assert!(inproc.attempt("write_raw", &text(&target)).unwrap().allowed);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "escaped\n");
    std::fs::remove_file(&target).unwrap();

    let iso = scene(Mode::Isolated);
    for path in [text(&secret), "/etc/hostname".into(), "/etc/passwd".into()] {
        contained(&iso.attempt("read_raw", &path));
        iso.host_serves();
    }
    contained(&iso.attempt("write_raw", &text(&target)));
    assert!(!target.exists(), "the isolated plugin planted a file");
    iso.host_serves();
    // Within its grants the sandbox lets it through: it is the sandbox that refuses.
    let inside = write_file(iso.granted.path(), "inside.txt", "granted");
    let read = iso.attempt("read_raw", &text(&inside)).unwrap();
    assert!(read.allowed, "{read:?}");
    assert_eq!(read.detail, "granted");
    let written = iso.granted.path().join("written.txt");
    assert!(iso.attempt("write_raw", &text(&written)).unwrap().allowed);
    assert_eq!(std::fs::read_to_string(&written).unwrap(), "escaped\n");
    assert_eq!(iso.escape.state(), State::Active);
}

#[test]
fn a_tcp_connection_fails_isolated_and_works_in_process() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();

    let inproc = scene(Mode::InProcess);
    let connected = inproc.attempt("connect", &port).unwrap();
    assert!(connected.allowed, "{connected:?}");

    let iso = scene(Mode::Isolated);
    contained(&iso.attempt("connect", &port));
    iso.host_serves();
    assert_eq!(iso.escape.state(), State::Active);
}

#[test]
fn the_host_process_its_environment_and_its_descriptors_are_out_of_reach() {
    // A descriptor the host holds open: the plugin must not take a copy, nor open it again.
    let outside = tempfile::tempdir().unwrap();
    let secret = write_file(outside.path(), "held-open.txt", "host secret");
    let held = std::fs::File::open(&secret).unwrap();
    let fd = held.as_raw_fd();
    let host_pid = std::process::id();

    let inproc = scene(Mode::InProcess);
    let env = inproc.attempt("own_environ", &()).unwrap();
    assert!(env.count > 0, "the test process has an environment");
    let parent = inproc.attempt("read_parent_environ", &()).unwrap();
    assert!(parent.allowed, "{parent:?}");

    let iso = scene(Mode::Isolated);
    assert_ne!(iso.runner_pid(), host_pid);
    let env = iso.attempt("own_environ", &()).unwrap();
    assert_eq!(
        env.count, 0,
        "the runner inherited variables: {}",
        env.detail
    );
    contained(&iso.attempt("read_parent_environ", &()));
    iso.host_serves();
    for name in ["status", "cmdline", "maps"] {
        contained(&iso.attempt("read_parent_proc", &name.to_owned()));
        iso.host_serves();
    }
    contained(&iso.attempt("read_raw", &format!("/proc/{host_pid}/fd/{fd}")));
    iso.host_serves();
    contained(&iso.attempt("steal_fd", &fd));
    iso.host_serves();
    contained(&iso.attempt("ptrace_parent", &()));
    iso.host_serves();
    contained(&iso.attempt("signal_parent", &()));
    iso.host_serves();
    // What it holds itself: sockets to the host, the image, the standard streams; nothing
    // of the host's files.
    let fds = iso.call::<(), OpenFds>("list_fds", &()).unwrap().fds;
    let listed: Vec<String> = fds
        .iter()
        .map(|f| format!("{}:{}:{}", f.fd, f.kind, f.target))
        .collect();
    report::<String>("list_fds", &Ok(listed.join(" ")));
    let secret_path = text(&secret);
    assert!(
        fds.iter()
            .all(|f| f.target != secret_path && f.kind != "dir"),
        "{fds:?}"
    );
    drop(held);
    // None of it disturbed the runner for good (a case that killed it was restarted).
    let restarts = iso.audited("runner-restarted");
    if restarts > 0 {
        iso.restarted(restarts);
    }
    assert_eq!(iso.escape.state(), State::Active);
    iso.host_serves();
}

#[test]
fn fork_and_exec_are_denied_isolated() {
    let iso = scene(Mode::Isolated);
    let mut deaths = 0;
    let forked = iso.attempt("fork_bomb", &());
    match &forked {
        Ok(o) => assert_eq!(o.count, 0, "{o:?}"),
        Err(_) => deaths += 1,
    }
    contained(&forked);
    if deaths > 0 {
        iso.restarted(deaths);
    }
    iso.host_serves();
    let exec = iso.attempt("exec_shell", &());
    contained(&exec);
    if let Err(e) = &exec {
        // If `execve` had worked, the runner would have become `sh -c 'exit 42'`.
        assert!(!e.to_string().contains("status 42"), "{e}");
        deaths += 1;
        iso.restarted(deaths);
    }
    iso.host_serves();
    assert_eq!(iso.escape.state(), State::Active);
}

#[test]
fn a_segfault_and_an_abort_kill_only_the_runner_which_is_audited_and_restarted() {
    let iso = scene(Mode::Isolated);
    let first = iso.runner_pid();
    let died = iso.call::<(), ()>("segfault", &());
    report("segfault", &died);
    let e = died.unwrap_err();
    assert_eq!(e.code().to_string(), "SB1501");
    assert!(e.to_string().contains("SIGSEGV"), "{e}");
    iso.host_serves();
    iso.restarted(1);
    assert_ne!(iso.runner_pid(), first);

    let died = iso.call::<(), ()>("abort", &());
    report("abort", &died);
    let e = died.unwrap_err();
    assert_eq!(e.code().to_string(), "SB1501");
    assert!(e.to_string().contains("SIGABRT"), "{e}");
    iso.host_serves();
    iso.restarted(2);

    let rows = iso
        .host
        .audit()
        .query(
            &AuditFilter::new()
                .plugin("escape")
                .kind(AuditKind::Isolation),
        )
        .unwrap();
    let exits: Vec<&str> = rows
        .iter()
        .filter(|r| r.subject == "runner-exited")
        .map(|r| r.detail.as_str())
        .collect();
    assert!(exits[0].contains("SIGSEGV"), "{exits:?}");
    assert!(exits[1].contains("SIGABRT"), "{exits:?}");
}

/// The manifest's `call_timeout_ms = 2000` applies.
#[test]
fn a_call_past_its_timeout_is_killed_and_the_runner_restarted() {
    let iso = scene(Mode::Isolated);
    let limits = iso.escape.isolation().decision.limits;
    assert_eq!(limits.call_timeout_ms, Some(2000), "{limits:?}");
    for (n, case) in ["spin", "sleep"].into_iter().enumerate() {
        let killed = match case {
            "spin" => iso.call::<(), ()>("spin", &()),
            _ => iso.call::<u64, u64>("sleep_ms", &60_000).map(|_| ()),
        };
        report(case, &killed);
        let e = killed.unwrap_err();
        assert_eq!(e.code().to_string(), "SB1502", "{e}");
        iso.host_serves();
        iso.restarted(n + 1);
    }
}

/// The manifest's `memory_mb = 256` applies.
#[test]
fn memory_past_the_limit_is_refused_or_ends_the_runner() {
    let iso = scene(Mode::Isolated);
    let limits = iso.escape.isolation().decision.limits;
    assert_eq!(limits.memory_mb, Some(256), "{limits:?}");
    let within = iso.attempt("alloc_mb", &16u64).unwrap();
    assert!(within.allowed, "{within:?}");
    let past = iso.attempt("alloc_mb", &1024u64);
    contained(&past);
    if past.is_err() {
        iso.restarted(1);
    }
    iso.host_serves();
    assert_eq!(iso.escape.state(), State::Active);
}

/// A thread of the plugin burns CPU outside any call; the CPU limit ends the runner (SIGXCPU
/// or SIGKILL), which the supervisor audits and restarts. The manifest asks for 5 s of CPU;
/// the policy caps it at 1 s, to keep the test short.
#[test]
fn cpu_past_the_limit_ends_the_runner() {
    let mut profile = IsolationProfile::default();
    profile.cpu_ms = Some(1000);
    let iso = scene_with(Mode::Isolated, Some(profile));
    let limits = iso.escape.isolation().decision.limits;
    assert_eq!(limits.cpu_ms, Some(1000), "{limits:?}");
    iso.call::<(), ()>("spin_thread", &()).unwrap();
    iso.restarted(1);
    let rows = iso
        .host
        .audit()
        .query(
            &AuditFilter::new()
                .plugin("escape")
                .kind(AuditKind::Isolation),
        )
        .unwrap();
    let exit = rows.iter().find(|r| r.subject == "runner-exited").unwrap();
    report::<String>("spin_thread", &Ok(exit.detail.clone()));
    assert!(
        exit.detail.contains("SIGXCPU") || exit.detail.contains("SIGKILL"),
        "{}",
        exit.detail
    );
    iso.host_serves();
}
