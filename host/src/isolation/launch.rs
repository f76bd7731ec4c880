//! Finding the runner and starting one.
//!
//! A runner is any executable that calls [`runner_main`](super::runner_main) when started
//! with [`RUNNER_ARG`](super::RUNNER_ARG) or as the `switchboard-runner` binary. An
//! application that embeds the host has two ways to ship it (see `docs/architecture.md`,
//! "Isolated mode: the runner"):
//! - call [`hook`](super::hook) first thing in `main`: the host then re-executes its own
//!   binary as the runner, nothing else to ship (what the `switchboard` CLI does);
//! - ship the `switchboard-runner` binary (crate `switchboard-runner`) and name it with
//!   [`HostBuilder::runner`](crate::HostBuilder::runner), the `SWITCHBOARD_RUNNER`
//!   environment variable, or by placing it beside the application's executable.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::channel::Channel;
use super::protocol::{Init, InitReply, WireError, RUNNER_MAGIC};
use super::sandbox::LayerStatus;

/// Set by [`hook`](super::hook): this executable can be its own runner.
pub(crate) static HOOKED: AtomicBool = AtomicBool::new(false);

/// The environment variable naming a runner binary.
pub const RUNNER_ENV: &str = "SWITCHBOARD_RUNNER";

/// The runner binary's file name.
const RUNNER_BINARY: &str = "switchboard-runner";

/// How the host starts a runner process for an isolated plugin.
///
/// ```no_run
/// use switchboard_host::{isolation::RunnerCommand, Host};
///
/// let mut builder = Host::builder();
/// builder.runner(RunnerCommand::binary("/opt/app/bin/switchboard-runner"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerCommand {
    program: PathBuf,
    args: Vec<OsString>,
}

impl RunnerCommand {
    /// A runner binary: an executable whose `main` is
    /// [`runner_main`](super::runner_main), such as `switchboard-runner`.
    pub fn binary(path: impl Into<PathBuf>) -> RunnerCommand {
        RunnerCommand {
            program: path.into(),
            args: Vec::new(),
        }
    }

    /// This executable, started with [`RUNNER_ARG`](super::RUNNER_ARG): its `main` must call
    /// [`hook`](super::hook) first.
    pub fn current_exe() -> io::Result<RunnerCommand> {
        Ok(RunnerCommand {
            program: std::env::current_exe()?,
            args: vec![super::RUNNER_ARG.into()],
        })
    }

    /// The runner this process would use when none is set: the `SWITCHBOARD_RUNNER`
    /// environment variable; else this executable, if its `main` called
    /// [`hook`](super::hook); else a `switchboard-runner` beside this executable (or one
    /// directory up, where Cargo puts binaries for the tests in `deps/`). `None` if none is
    /// found.
    pub fn locate() -> Option<RunnerCommand> {
        if let Some(path) = std::env::var_os(RUNNER_ENV).filter(|p| !p.is_empty()) {
            return Some(RunnerCommand::binary(path));
        }
        if HOOKED.load(std::sync::atomic::Ordering::Acquire) {
            return RunnerCommand::current_exe().ok();
        }
        let exe = std::env::current_exe().ok()?;
        let name = format!("{RUNNER_BINARY}{}", std::env::consts::EXE_SUFFIX);
        let here = exe.parent()?;
        let found = [Some(here), here.parent()]
            .into_iter()
            .flatten()
            .map(|dir| dir.join(&name))
            .find(|p| p.is_file());
        found.map(RunnerCommand::binary)
    }

    /// The executable.
    pub fn program(&self) -> &Path {
        &self.program
    }
}

/// A runner that answered its init: sandboxed, the plugin loaded and instantiated.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub child: Child,
    pub control: Channel,
    pub outbound: Channel,
    pub layers: Vec<LayerStatus>,
}

/// Starts a runner, sends it `init` with `image` (the verified library) and waits at most
/// `deadline` for its answer. A runner that fails is killed and reaped before this returns.
pub(crate) fn spawn(
    command: &RunnerCommand,
    init: &Init,
    image: BorrowedFd<'_>,
    max_frame: usize,
    deadline: Duration,
) -> Result<Spawned, WireError> {
    let failed = |code: u16, message: String, next: &str| WireError {
        code,
        message,
        next_step: Some(next.to_owned()),
    };
    let io_failed = |what: &str, e: io::Error| {
        failed(
            1504,
            format!(
                "cannot start the runner {}: {what}: {e}",
                command.program.display()
            ),
            "check that the runner exists and is executable (`RunnerCommand`)",
        )
    };
    let (mut control, runner_control) =
        Channel::pair(max_frame).map_err(|e| io_failed("no socket pair", e))?;
    let (outbound, runner_outbound) =
        Channel::pair(max_frame).map_err(|e| io_failed("no socket pair", e))?;
    let runner_control: OwnedFd = runner_control.into_fd();
    // The runner starts in `/`, not in the host's working directory (which may be a server's
    // data directory): a relative program path is resolved against the host's first.
    let program = if command.program.is_relative() && command.program.components().count() > 1 {
        std::env::current_dir()
            .map(|d| d.join(&command.program))
            .unwrap_or_else(|_| command.program.clone())
    } else {
        command.program.clone()
    };
    let mut cmd = Command::new(&program);
    cmd.args(&command.args)
        .current_dir("/")
        // The plugin sees none of the host's environment; what it may read comes through
        // the `env` service, checked against its grants.
        .env_clear()
        .stdin(Stdio::from(runner_control))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: a terminal's Ctrl-C goes to the host, which stops it.
        cmd.process_group(0);
    }
    let mut child = spawn_from_launcher(cmd).map_err(|e| io_failed("spawn", e))?;
    let answer = handshake(&mut control, init, image, runner_outbound, deadline);
    match answer {
        Ok(InitReply::Ready { layers }) => Ok(Spawned {
            child,
            control,
            outbound,
            layers,
        }),
        Ok(InitReply::Failed { error }) => {
            reap(&mut child);
            Err(error)
        }
        Err(e) => {
            reap(&mut child);
            let status = child
                .try_wait()
                .ok()
                .flatten()
                .map(|s| format!(" ({})", describe_exit(s)))
                .unwrap_or_default();
            Err(failed(
                1504,
                format!(
                    "the runner {} did not start the plugin: {e}{status}",
                    command.program.display()
                ),
                "check that the runner is a `switchboard-runner` of this version (or an \
                 executable calling `switchboard_host::isolation::hook()` first in `main`)",
            ))
        }
    }
}

/// Starts `command` from the one long-lived launcher thread of this process. The runner ties its
/// life to its parent with `PR_SET_PDEATHSIG`, and Linux counts the *thread* that forked it as
/// the parent: a runner started from a short-lived thread (a request handler, the supervisor
/// that restarts it) would be killed when that thread ends.
fn spawn_from_launcher(command: Command) -> io::Result<Child> {
    use std::sync::mpsc::{channel, sync_channel, Sender, SyncSender};
    use std::sync::{Mutex, OnceLock};

    type Job = (Command, SyncSender<io::Result<Child>>);
    static LAUNCHER: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    let launcher = LAUNCHER.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let started = std::thread::Builder::new()
            .name("switchboard-launcher".into())
            .spawn(move || {
                for (mut command, answer) in rx {
                    let _ = answer.send(command.spawn());
                }
            });
        if let Err(e) = started {
            tracing::error!(target: "switchboard::isolation", "cannot start the launcher thread: {e}");
        }
        Mutex::new(tx)
    });
    let (answer, answered) = sync_channel(1);
    launcher
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send((command, answer))
        .map_err(|_| io::Error::other("the launcher thread is gone"))?;
    answered
        .recv()
        .map_err(|_| io::Error::other("the launcher thread did not answer"))?
}

fn handshake(
    control: &mut Channel,
    init: &Init,
    image: BorrowedFd<'_>,
    runner_outbound: Channel,
    deadline: Duration,
) -> io::Result<InitReply> {
    control.send_with_fds(init, &[image, runner_outbound.as_fd()])?;
    drop(runner_outbound);
    control.set_deadline(Some(Instant::now() + deadline))?;
    let mut buf = Vec::new();
    let bytes = control.recv(&mut buf)?;
    let not_a_runner = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "it answered, but not as a Switchboard runner of this version",
        )
    };
    let (magic, reply): ([u8; 8], InitReply) =
        postcard::from_bytes(bytes).map_err(|_| not_a_runner())?;
    if magic != RUNNER_MAGIC {
        return Err(not_a_runner());
    }
    control.set_deadline(None)?;
    Ok(reply)
}

fn reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// How a runner ended, in words: `killed by SIGSEGV (signal 11)`, `exited with status 3`.
pub(crate) fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(signal) = status.signal() {
        let name = match signal {
            4 => "SIGILL",
            6 => "SIGABRT",
            7 => "SIGBUS",
            8 => "SIGFPE",
            9 => "SIGKILL",
            11 => "SIGSEGV",
            15 => "SIGTERM",
            24 => "SIGXCPU",
            25 => "SIGXFSZ",
            31 => "SIGSYS",
            _ => "a signal",
        };
        let core = if status.core_dumped() {
            ", core dumped"
        } else {
            ""
        };
        format!("killed by {name} (signal {signal}{core})")
    } else {
        match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "ended".into(),
        }
    }
}
