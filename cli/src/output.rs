//! What every command shares for output: coded errors ([`CliError`] and [`codes`]), the one
//! function that reports an error ([`report_error`]), writing to stdout so that a closed pipe
//! ends the command quietly ([`print()`], [`exit_on_broken_pipe`]), and pack's progress
//! ([`Progress`]).

use std::fmt;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use switchboard_host::ErrorCode;

/// The codes of the CLI's own refusals (`SB0001`–`SB0089`); the libraries' errors keep theirs.
pub mod codes {
    use switchboard_host::ErrorCode;

    /// An error nothing more specific describes (a bug in the CLI if you see it).
    pub const OTHER: ErrorCode = ErrorCode::from_number(1);
    /// A secret key's password is needed and cannot be read, or the two entries differ.
    pub const PASSWORD: ErrorCode = ErrorCode::from_number(2);
    /// `keygen` refuses to overwrite a key file.
    pub const KEY_EXISTS: ErrorCode = ErrorCode::from_number(3);
    /// A file or directory cannot be written.
    pub const WRITE: ErrorCode = ErrorCode::from_number(4);
    /// An input file (crate, package, key, policy, lockfile) cannot be read.
    pub const READ: ErrorCode = ErrorCode::from_number(5);
    /// cargo could not be run, or the build failed.
    pub const BUILD: ErrorCode = ErrorCode::from_number(6);
    /// The crate builds no cdylib of the plugin's name.
    pub const NO_CDYLIB: ErrorCode = ErrorCode::from_number(7);
    /// A file is not a minisign key, or the secret key does not open.
    pub const BAD_KEY: ErrorCode = ErrorCode::from_number(8);
    /// No data directory is known, or the one given is not a usable directory.
    pub const DATA_DIR: ErrorCode = ErrorCode::from_number(9);
    /// `--host-api` is not `NAME@VERSION`.
    pub const HOST_API: ErrorCode = ErrorCode::from_number(10);
    /// Reading or writing a file or the output failed (a closed pipe instead ends the command
    /// quietly).
    pub const IO: ErrorCode = ErrorCode::from_number(11);
    /// The crate's `plugin.toml` is invalid, or contradicts the library built from the crate.
    pub const MANIFEST: ErrorCode = ErrorCode::from_number(12);
    /// A command was routed to the wrong handler (a bug in the CLI).
    pub const INTERNAL: ErrorCode = ErrorCode::from_number(13);
    /// A policy file (`--policy`) does not parse.
    pub const POLICY: ErrorCode = ErrorCode::from_number(15);
    /// Signing failed.
    pub const SIGN: ErrorCode = ErrorCode::from_number(16);
    /// The example plugins could not be built or found (demo).
    pub const EXAMPLES: ErrorCode = ErrorCode::from_number(17);
    /// A destructive command was not confirmed: no `--yes`, and no terminal to ask on (or
    /// the answer was not `y`).
    pub const NOT_CONFIRMED: ErrorCode = ErrorCode::from_number(18);
    /// A command that reads registries found none configured in the data directory.
    pub const NO_REGISTRY: ErrorCode = ErrorCode::from_number(50);
    /// An input file (package, key, policy) is not a regular file, or is larger than the
    /// command reads.
    pub const INPUT: ErrorCode = ErrorCode::from_number(60);
    /// A usage error (bad or missing arguments), reported as JSON with `--json`; status 2.
    pub const USAGE: ErrorCode = ErrorCode::from_number(62);
    /// `switchboard new` cannot make the crate as asked (a bad or reserved name, a bad
    /// `--sdk-path`, a multi-line description).
    pub const SCAFFOLD: ErrorCode = ErrorCode::from_number(70);
    /// `switchboard new`'s directory exists and is not empty; nothing was written.
    pub const SCAFFOLD_EXISTS: ErrorCode = ErrorCode::from_number(71);
    /// `switchboard test`: the crate's unit tests failed.
    pub const UNIT_TESTS: ErrorCode = ErrorCode::from_number(72);
    /// `switchboard test`: a smoke call failed, or answered other than `expect`.
    pub const SMOKE_FAILED: ErrorCode = ErrorCode::from_number(73);
    /// `switchboard test`: a smoke call in `[test]` cannot be made as written (no such
    /// command, an input the command's request type cannot take, bad hex).
    pub const SMOKE_SPEC: ErrorCode = ErrorCode::from_number(74);
}

/// A refusal of the CLI's own, with a code and a next step (ARCHITECTURE D12).
#[derive(Debug, Clone)]
pub struct CliError {
    /// The stable code.
    pub code: ErrorCode,
    /// What went wrong, in one line.
    pub message: String,
    /// What to do about it.
    pub next_step: String,
}

impl CliError {
    /// A coded error, as an [`anyhow::Error`] the commands can return.
    pub fn raise(
        code: ErrorCode,
        message: impl Into<String>,
        next_step: impl Into<String>,
    ) -> anyhow::Error {
        anyhow::Error::new(CliError {
            code,
            message: message.into(),
            next_step: next_step.into(),
        })
    }
}

/// A policy file that does not parse: a problem in its `[isolation]` section keeps its own
/// code and next step (`SB1540`–`SB1542`); any other is `SB0015` with `next`.
pub fn policy_error(
    message: impl Into<String>,
    e: &switchboard_host::PolicyError,
    next: &str,
) -> anyhow::Error {
    CliError::raise(
        e.code().unwrap_or(codes::POLICY),
        message,
        e.next_step().unwrap_or_else(|| next.to_owned()),
    )
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// Attaches a code and a next step to any error, keeping its message.
pub trait Coded<T> {
    /// `Err(e)` becomes a [`CliError`] whose message is `what: e`.
    fn coded(self, code: ErrorCode, what: impl fmt::Display, next: &str) -> anyhow::Result<T>;
}

impl<T, E: fmt::Display> Coded<T> for Result<T, E> {
    fn coded(self, code: ErrorCode, what: impl fmt::Display, next: &str) -> anyhow::Result<T> {
        self.map_err(|e| CliError::raise(code, format!("{what}: {e}"), next))
    }
}

/// The code and next step of an error: the first coded error in its chain.
pub fn code_of(e: &anyhow::Error) -> (String, String) {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<CliError>() {
            return (c.code.to_string(), c.next_step.clone());
        }
        if let Some(h) = cause.downcast_ref::<switchboard_host::Error>() {
            return (h.code().to_string(), h.next_step());
        }
        if let Some(p) = cause.downcast_ref::<switchboard_host::package::PackageError>() {
            return (p.code().to_string(), p.next_step());
        }
        if let Some(l) = cause.downcast_ref::<switchboard_host::LoadError>() {
            return (l.code().to_string(), l.next_step());
        }
        if let Some(m) = cause.downcast_ref::<switchboard_host::metrics::MetricsError>() {
            return (m.code().to_string(), m.next_step());
        }
        if let Some(s) = cause.downcast_ref::<switchboard_host::StoreError>() {
            return (s.code().to_string(), s.next_step());
        }
        if let Some(r) = cause.downcast_ref::<switchboard_host::ResolveError>() {
            return (r.code().to_string(), r.next_step());
        }
        if let Some(r) = cause.downcast_ref::<switchboard_registry::RegistryError>() {
            return (r.code().to_string(), r.next_step());
        }
        // The registry crate's parts are public, and some of its functions (e.g.
        // `Location::parse`) return their part's error unwrapped: each is coded too.
        if let Some(r) = registry_part_code(cause) {
            return r;
        }
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return (
                codes::IO.to_string(),
                "check the path named in the message (or where the output goes), its permissions \
                 and the free space"
                    .to_owned(),
            );
        }
    }
    (
        codes::OTHER.to_string(),
        "report this as a bug with the command you ran".to_owned(),
    )
}

/// The code and next step of an error of one of the registry crate's parts.
fn registry_part_code(cause: &(dyn std::error::Error + 'static)) -> Option<(String, String)> {
    use switchboard_registry::error::{
        ClientError, FetchError, FormatError, PublishError, RegistriesError, ServerError,
        TrustError,
    };
    macro_rules! part {
        ($($t:ty),*) => {
            $(if let Some(e) = cause.downcast_ref::<$t>() {
                return Some((e.code().to_string(), e.next_step()));
            })*
        };
    }
    part!(
        switchboard_registry::market::MarketError,
        RegistriesError,
        FetchError,
        FormatError,
        TrustError,
        PublishError,
        ClientError,
        ServerError
    );
    None
}

/// Whether the error is a write to a closed pipe (`switchboard … | head`).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Ends the process quietly when whoever read stdout has gone (as `ripgrep` does): nothing
/// printed, status 0. The Rust runtime ignores SIGPIPE, so without this a closed pipe is a
/// write error — or a panic, from `println!`.
pub fn exit_on_broken_pipe(e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
}

/// Writes `text` to stdout; a closed pipe ends the process quietly.
pub fn print(text: &str) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        exit_on_broken_pipe(&e);
    }
}

/// Writes `text` to stderr as it stands (prompts, reports); nothing useful is left to do if
/// stderr is gone.
pub fn eprint(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// The `"error"` object of every `--json` document: `{ "code", "message", "next_step" }`.
pub fn error_json(
    code: impl fmt::Display,
    message: impl fmt::Display,
    next: impl fmt::Display,
) -> serde_json::Value {
    serde_json::json!({
        "code": code.to_string(),
        "message": message.to_string(),
        "next_step": next.to_string(),
    })
}

/// Reports `e`: `error[CODE]: message` and `next: …` on stderr, or with `json` one document
/// `{ "ok": false, "error": { code, message, next_step } }` on stdout. Returns exit status 1
/// (a closed stdout ends the process quietly instead).
pub fn report_error(e: &anyhow::Error, json: bool) -> ExitCode {
    if is_broken_pipe(e) {
        std::process::exit(0);
    }
    let (code, next) = code_of(e);
    if json {
        print(&format!(
            "{}\n",
            serde_json::json!({ "ok": false, "error": error_json(code, message_chain(e), next) })
        ));
    } else {
        // Nothing useful is left to do if stderr is gone too.
        let _ = writeln!(
            std::io::stderr().lock(),
            "error[{code}]: {}\n  next: {next}",
            message_chain(e)
        );
    }
    ExitCode::from(1)
}

/// The error and its causes, `: `-separated like anyhow's `{:#}`, but with each host error's
/// plain message: its own `Display` carries the code and next step, printed once here.
fn message_chain(e: &anyhow::Error) -> String {
    e.chain()
        .map(|cause| {
            if let Some(h) = cause.downcast_ref::<switchboard_host::Error>() {
                h.message()
            } else if let Some(r) = cause.downcast_ref::<switchboard_registry::RegistryError>() {
                r.message()
            } else {
                cause.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(": ")
}

/// Progress for long work: a spinner on stderr when stdout is a terminal, nothing otherwise
/// (ARCHITECTURE, CLI conventions).
#[derive(Debug)]
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// A spinner if stdout is a terminal, else a silent progress.
    pub fn for_terminal() -> Progress {
        if std::io::stdout().is_terminal() {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            Progress { bar: Some(bar) }
        } else {
            Progress::quiet()
        }
    }

    /// Progress that shows nothing.
    pub fn quiet() -> Progress {
        Progress { bar: None }
    }

    /// Whether anything is shown.
    pub fn is_visible(&self) -> bool {
        self.bar.is_some()
    }

    /// Shows what is happening now.
    pub fn step(&self, message: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.into());
        }
    }

    /// Prints a note above the spinner (on a terminal only).
    pub fn note(&self, message: impl AsRef<str>) {
        if let Some(bar) = &self.bar {
            bar.println(message.as_ref());
        }
    }

    /// Removes the spinner.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
