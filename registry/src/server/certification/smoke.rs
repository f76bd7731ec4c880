//! The `tests` check: the release's declared smoke calls (`[[test.calls]]` of its manifest),
//! made by the server — never in its own process. The verified package's library is loaded
//! into a throwaway host (a temporary data directory, no metrics) **isolated**: in a sandboxed
//! runner process ([`switchboard_host::isolation`]), under the strictest profile below, and
//! each call is made and compared exactly as `switchboard test` does
//! ([`switchboard_host::smoke`]).
//!
//! **The profile.** Files, network and `execve` closed whatever the grants say
//! (`allow_files`, `allow_network`, `allow_exec` off); [`SmokeOptions::memory_mb`] of memory
//! (`RLIMIT_DATA`, and a cgroup's `memory.max` where one is delegated); CPU time bounded by
//! the whole run's limit; [`SmokeOptions::call_timeout_ms`] per call (the manifest's
//! `[limits]` may ask for less, never more); no restart after a crash or a timeout (the first
//! one fails the plugin); the layers `rlimits`, `no_new_privs`, `seccomp`, `landlock` and
//! `net_namespace` required ([`SmokeOptions::require`]) — a machine without one of them runs
//! nothing (`not-run`, naming the missing layer and how to enable it); the others (Landlock's
//! TCP rules, a cgroup) are used where the machine has them and listed in the detail. The
//! runner starts with working directory `/` and an empty environment.
//!
//! **The grants.** `[test] grant`, else every capability the plugin requests — less every
//! capability whose service reaches the server's machine through the host's process:
//! `fs.read`, `fs.write`, `net.connect`, `env` and `process.spawn` are withheld (and named in
//! the detail). The rest stay inside the throwaway host: its own KV store and secrets, its
//! configuration defaults, its event bus and services.
//!
//! **Fail closed.** No runner found, a runner path that is not an executable, a runner that
//! does not start or answer (`SB1504`), isolation unsupported here (`SB1507`), a sandbox layer
//! the machine lacks, another release's smoke run in progress: `not-run`, with what is missing and how to enable it. A load the plugin
//! fails, a `start` hook that fails, a call that crashes the runner, is killed at its time
//! limit or breaks the protocol, a mistake in `[test]`: `failed`. Only every call passing is
//! `passed`.

use std::path::Path;
use std::time::{Duration, Instant};

use switchboard_host::caps::{Capability, Scope};
use switchboard_host::isolation::{IsolationProfile, Layer, Mode, RunnerCommand};
use switchboard_host::smoke::{self, SmokeOutcome, SmokeResult};
use switchboard_host::{Host, LoadOptions, Manifest, Policy, VerifiedPlugin};
use switchboard_sdk::caps::CapabilityKind;

use crate::server::store::certification::Verdict;

/// The most smoke calls one release may declare for certification.
pub const MAX_CALLS: usize = 64;

/// The capability kinds never granted to a plugin under test: their services reach the
/// server's own machine (its files, network, environment, processes).
pub const WITHHELD: [CapabilityKind; 5] = [
    CapabilityKind::FsRead,
    CapabilityKind::FsWrite,
    CapabilityKind::NetConnect,
    CapabilityKind::Env,
    CapabilityKind::ProcessSpawn,
];

/// The sandbox layers a machine must have for the server to run plugin code: Landlock (no
/// file outside the runner's own needs — not the server's data directory, its key, `/proc` of
/// the server) and a network namespace without interfaces (no connection out), besides
/// resource limits, `no_new_privs` and seccomp.
pub const REQUIRED_LAYERS: [Layer; 5] = [
    Layer::Rlimits,
    Layer::NoNewPrivs,
    Layer::Seccomp,
    Layer::Landlock,
    Layer::NetNamespace,
];

/// How to give this machine `layer`, for a `not-run` detail.
pub fn how_to_enable(layer: Layer) -> &'static str {
    match layer {
        Layer::Landlock | Layer::LandlockNet => {
            "a Linux kernel with Landlock (5.13 or later; `landlock` in the boot parameter \
             `lsm=`, see /sys/kernel/security/lsm; TCP rules need 6.7 or later)"
        }
        Layer::NetNamespace => {
            "unprivileged user namespaces (`sysctl kernel.unprivileged_userns_clone=1`; on \
             Ubuntu 24.04 and later `sysctl kernel.apparmor_restrict_unprivileged_userns=0`; \
             in a container, one allowed to create user namespaces)"
        }
        Layer::Seccomp => "a Linux kernel with seccomp-bpf (CONFIG_SECCOMP_FILTER)",
        Layer::Cgroup => "a delegated cgroup v2 (e.g. a systemd unit with `Delegate=yes`)",
        _ => "Linux",
    }
}

/// The layers of `require` this machine lacks, each with how to enable it; empty when it has
/// them all.
fn missing_layers(require: &[Layer]) -> Vec<String> {
    let here = switchboard_host::isolation::sandbox::probe();
    require
        .iter()
        .filter(|l| !here.iter().any(|s| s.layer == **l && s.active))
        .map(|l| format!("`{}` (needs {})", l.as_str(), how_to_enable(*l)))
        .collect()
}

/// At most one smoke run at a time in a server: a submission that finds one running does not
/// wait (a slow release could otherwise hold every submission, and the threads they run on).
#[derive(Debug, Default)]
pub struct SmokeLock(std::sync::Mutex<()>);

impl SmokeLock {
    /// The lock, unless a run holds it.
    pub fn try_hold(&self) -> Option<std::sync::MutexGuard<'_, ()>> {
        match self.0.try_lock() {
            Ok(guard) => Some(guard),
            // A run that panicked: the lock guards no data, so it is free again.
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

/// The `tests` detail when another release's smoke calls are running.
pub const BUSY: &str = "the server is running another release's smoke calls; submit again \
                        shortly";

/// How the server runs a release's smoke calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmokeOptions {
    /// The isolated runner (`--runner`); `None`: the one this process would use
    /// ([`RunnerCommand::locate`]: `SWITCHBOARD_RUNNER`, else this executable when its `main`
    /// called `isolation::hook()` — as the `switchboard` CLI does — else a
    /// `switchboard-runner` beside it).
    pub runner: Option<RunnerCommand>,
    /// The longest time one call may take, milliseconds (default 10 000).
    pub call_timeout_ms: u64,
    /// The longest the whole run may take, milliseconds (default 60 000), counted from
    /// before the load: neither the plugin's `start` nor any call begins after it, so a run
    /// ends within it plus one call's limit plus the plugin's `stop`; it is also the runner's
    /// CPU-time limit.
    pub run_timeout_ms: u64,
    /// The runner's memory limit, MiB (default 512).
    pub memory_mb: u64,
    /// The sandbox layers the machine must have, else nothing runs (`not-run`); default
    /// [`REQUIRED_LAYERS`]. An embedder may require more (`landlock_net`, `cgroup`), never fewer
    /// than it trusts the runner without.
    pub require: Vec<Layer>,
}

impl Default for SmokeOptions {
    fn default() -> Self {
        SmokeOptions {
            runner: None,
            call_timeout_ms: 10_000,
            run_timeout_ms: 60_000,
            memory_mb: 512,
            require: REQUIRED_LAYERS.to_vec(),
        }
    }
}

impl SmokeOptions {
    /// The runner to use, or why there is none (and how to get one).
    fn runner(&self) -> Result<RunnerCommand, String> {
        let runner = match &self.runner {
            Some(r) => r.clone(),
            None => RunnerCommand::locate().ok_or_else(|| {
                "no isolated runner was found for this server process (none given with \
                 --runner, no SWITCHBOARD_RUNNER, the executable is not its own runner and no \
                 switchboard-runner is beside it); start the server as `switchboard registry \
                 serve` (the CLI is its own runner) or give --runner PATH"
                    .to_owned()
            })?,
        };
        executable(runner.program()).map_err(|why| {
            format!(
                "the isolated runner {} cannot be used: {why}; give --runner the path of a runner binary (one \
                 whose `main` calls `switchboard_host::isolation::runner_main()`), or leave it \
                 out under `switchboard registry serve`",
                runner.program().display()
            )
        })?;
        Ok(runner)
    }
}

/// Whether `path` is an executable file; `Err` says why not, as a phrase that follows
/// "cannot be used: " (`it is not a file`, the operating system's error).
pub fn executable(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("it is not a file".into());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o111 == 0 {
            return Err("it is not executable".into());
        }
    }
    Ok(())
}

/// The verdict of the `tests` check, and its detail: a summary line, then one line per
/// call (`passed: …`, `failed: … — why`, `error: … — why`).
/// Nothing runs while another run holds `lock`: `not-run` ([`BUSY`]).
pub fn run(
    verified: VerifiedPlugin,
    manifest: &Manifest,
    options: &SmokeOptions,
    lock: &SmokeLock,
) -> Result<(Verdict, String), String> {
    let calls = manifest.test.as_ref().map_or(&[][..], |t| &t.calls[..]);
    if calls.is_empty() {
        return Ok((
            Verdict::Skipped,
            "the release declares no smoke calls ([test]): nothing to run".into(),
        ));
    }
    if calls.len() > MAX_CALLS {
        return Ok((
            Verdict::Failed,
            format!(
                "the release declares {} smoke calls; certification runs at most {MAX_CALLS}",
                calls.len()
            ),
        ));
    }
    let runner = match options.runner() {
        Ok(r) => r,
        Err(why) => {
            return Ok((
                Verdict::NotRun,
                format!("{} smoke call(s) declared, none run: {why}", calls.len()),
            ))
        }
    };
    // The run's time counts from here: loading, starting and every call (not the `stop`).
    let deadline = Instant::now() + Duration::from_millis(options.run_timeout_ms);
    let Some(_running) = lock.try_hold() else {
        return Ok((
            Verdict::NotRun,
            format!("{} smoke call(s) declared, none run: {BUSY}", calls.len()),
        ));
    };
    let missing = missing_layers(&options.require);
    if !missing.is_empty() {
        return Ok((
            Verdict::NotRun,
            format!(
                "{} smoke call(s) declared, none run: isolation is not available here — the \
                 server requires the sandbox layers {}, and this machine lacks {}",
                calls.len(),
                layer_names(&options.require),
                missing.join(", ")
            ),
        ));
    }
    let data = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
    let mut profile = IsolationProfile::default();
    profile.memory_mb = Some(options.memory_mb);
    profile.cpu_ms = Some(options.run_timeout_ms);
    profile.call_timeout_ms = Some(options.call_timeout_ms);
    profile.max_restarts = Some(0);
    profile.allow_exec = Some(false);
    profile.allow_network = Some(false);
    profile.allow_files = Some(false);
    profile.file_size_mb = Some(0);
    profile.require = options.require.clone();
    let mut policy = Policy::new();
    policy
        .allow_plugin(&manifest.name)
        .isolation_default(Mode::Isolated)
        .isolation_defaults(profile);
    let mut builder = Host::builder();
    builder
        .data_dir(data.path())
        .metrics(false)
        .policy(policy)
        .runner(runner.clone());
    if let Some((name, version)) = smoke::offered_host_api(manifest) {
        builder.host_api(name, version);
    }
    let host = builder
        .build()
        .map_err(|e| format!("cannot start a throwaway host: {e}"))?;
    let mut load = LoadOptions::new();
    load.isolation(Mode::Isolated);
    let plugin = match host.load_verified_with(verified, &load) {
        Ok(p) => p,
        Err(e) => return Ok(refused_load(&e, calls.len(), &runner, &options.require)),
    };
    let isolation = plugin.isolation();
    if isolation.mode != Mode::Isolated {
        // Never reached: the policy isolates every plugin. Checked so that a change there
        // cannot make the server run plugin code in its own process unnoticed.
        return Err("the plugin was not loaded isolated; nothing was called".into());
    }
    let layers: Vec<String> = isolation
        .layers
        .iter()
        .filter(|l| l.active)
        .map(|l| l.layer.as_str().to_owned())
        .collect();
    let setup = format!(
        "isolated in a sandboxed runner (layers in force: {}; {} ms per call, {} ms in all, \
         {} MiB)",
        layers.join(", "),
        options.call_timeout_ms,
        options.run_timeout_ms,
        options.memory_mb
    );

    // The grants: `[test] grant`, else every capability requested, less the withheld kinds.
    let test = manifest.test.clone().unwrap_or_default();
    let wanted: Vec<Capability> = match &test.grant {
        Some(list) => {
            let mut parsed = Vec::new();
            for c in list {
                match c.parse::<Capability>() {
                    Ok(cap) => parsed.push(cap),
                    Err(e) => {
                        return Ok((
                            Verdict::Failed,
                            format!("[test] grant: `{c}` is not a capability ({e}); {setup}"),
                        ))
                    }
                }
            }
            parsed
        }
        None => plugin.requested(),
    };
    let (withheld, granted): (Vec<Capability>, Vec<Capability>) = wanted
        .into_iter()
        .partition(|c| WITHHELD.contains(&c.kind()));
    for cap in &granted {
        if let Err(e) = host.grant(&manifest.name, cap.clone(), Scope::Session) {
            return Ok((
                Verdict::Failed,
                format!("[test] grant: cannot grant `{cap}`: {e}; {setup}"),
            ));
        }
    }
    let names = |caps: &[Capability]| {
        if caps.is_empty() {
            "none".to_owned()
        } else {
            caps.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let grants = format!(
        "granted: {}; withheld (they reach the server's machine): {}",
        names(&granted),
        names(&withheld)
    );
    if Instant::now() >= deadline {
        return Ok((
            Verdict::Failed,
            format!(
                "the plugin took the run's whole time limit ({} ms) to load; no call was made; \
                 {setup}; {grants}",
                options.run_timeout_ms
            ),
        ));
    }
    if let Err(e) = plugin.start() {
        return Ok((
            Verdict::Failed,
            format!(
                "the plugin did not start: [{}] {e}; {setup}; {grants}",
                e.code()
            ),
        ));
    }
    let embedded = plugin.manifest();
    let mut outcomes: Vec<SmokeOutcome> = Vec::new();
    for call in calls {
        if Instant::now() >= deadline {
            outcomes.push(SmokeOutcome::not_made(
                call,
                format!(
                    "not made: the run's time limit ({} ms) had passed",
                    options.run_timeout_ms
                ),
            ));
            continue;
        }
        let outcome = match smoke::call(&plugin, &embedded.commands, call) {
            Ok(o) => o,
            Err(mistake) => {
                SmokeOutcome::not_made(call, format!("[test] is wrong: {}", mistake.reason))
            }
        };
        outcomes.push(outcome);
    }
    let _ = plugin.stop();
    drop(plugin);
    drop(host);
    Ok(verdict(&outcomes, &setup, &grants))
}

fn layer_names(layers: &[Layer]) -> String {
    layers
        .iter()
        .map(|l| l.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The check's verdict and detail over the calls' outcomes.
fn verdict(outcomes: &[SmokeOutcome], setup: &str, grants: &str) -> (Verdict, String) {
    let count = |r: SmokeResult| outcomes.iter().filter(|o| o.result == r).count();
    let (passed, failed, errors) = (
        count(SmokeResult::Passed),
        count(SmokeResult::Failed),
        count(SmokeResult::Error),
    );
    let mut detail = format!(
        "{passed} of {} smoke call(s) passed, {failed} failed, {errors} error(s) — {setup}; \
         {grants}",
        outcomes.len()
    );
    for o in outcomes {
        let word = match o.result {
            SmokeResult::Passed => "passed",
            SmokeResult::Failed => "failed",
            SmokeResult::Error => "error",
        };
        detail.push_str(&format!("\n{word}: {}", o.call));
        if let Some(why) = &o.failure {
            detail.push_str(&format!(" — {why}"));
        }
    }
    let all = passed == outcomes.len() && !outcomes.is_empty();
    (
        if all {
            Verdict::Passed
        } else {
            Verdict::Failed
        },
        detail,
    )
}

/// A load the throwaway host refused: isolation missing on this machine is `not-run`; what
/// the plugin did (a library that will not open, a constructor that crashes the runner) is
/// `failed`.
fn refused_load(
    e: &switchboard_host::Error,
    calls: usize,
    runner: &RunnerCommand,
    require: &[Layer],
) -> (Verdict, String) {
    let code = e.code();
    match code.number() {
        // No runner; a sandbox layer missing or failing on this machine.
        1500 | 1520 | 1521 => (
            Verdict::NotRun,
            format!(
                "{calls} smoke call(s) declared, none run: isolation is not available here \
                 ([{code}] {e}); the server requires the sandbox layers {} (runner {}) — run \
                 it on a Linux machine that has them{}",
                layer_names(require),
                runner.program().display(),
                match missing_layers(require) {
                    m if m.is_empty() => String::new(),
                    m => format!(" (missing: {})", m.join(", ")),
                }
            ),
        ),
        // The runner did not start or did not answer its handshake (a `--runner` that is not
        // a runner of this version), or isolation is not supported on this OS: the server's
        // setup, not the plugin's failure.
        1504 | 1507 => (
            Verdict::NotRun,
            format!(
                "{calls} smoke call(s) declared, none run: the isolated runner {} could not \
                 start the plugin ([{code}] {e}); check that it is a runner of this \
                 Switchboard version on Linux (leave --runner out under `switchboard registry \
                 serve`)",
                runner.program().display()
            ),
        ),
        n if n == smoke::UNDECLARED_POINT.number() => (
            Verdict::NotRun,
            format!(
                "{calls} smoke call(s) declared, none run: the plugin contributes to extension \
                 points only its host declares, so it cannot start in a test host ([{code}] {e})"
            ),
        ),
        _ => (
            Verdict::Failed,
            format!("the plugin did not load isolated: [{code}] {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runner_that_is_not_an_executable_file_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = executable(&tmp.path().join("missing")).unwrap_err();
        assert!(missing.contains("No such file"), "{missing}");
        assert!(!missing.contains("cannot be used"), "{missing}");
        assert_eq!(executable(tmp.path()).unwrap_err(), "it is not a file");
        let plain = tmp.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        assert_eq!(executable(&plain).unwrap_err(), "it is not executable");
        let options = SmokeOptions {
            runner: Some(RunnerCommand::binary(tmp.path().join("missing"))),
            ..SmokeOptions::default()
        };
        let why = options.runner().unwrap_err();
        assert!(why.contains("missing") && why.contains("--runner"), "{why}");
    }

    #[test]
    fn only_every_call_passing_is_a_pass() {
        let o = |result: SmokeResult| SmokeOutcome {
            call: "c()".into(),
            passed: result == SmokeResult::Passed,
            result,
            failure: (result != SmokeResult::Passed).then(|| "why".into()),
        };
        assert_eq!(verdict(&[], "s", "g").0, Verdict::Failed);
        assert_eq!(
            verdict(&[o(SmokeResult::Passed)], "s", "g").0,
            Verdict::Passed
        );
        for bad in [SmokeResult::Failed, SmokeResult::Error] {
            let (v, d) = verdict(&[o(SmokeResult::Passed), o(bad)], "s", "g");
            assert_eq!(v, Verdict::Failed);
            assert!(d.contains("\npassed: c()") && d.contains(" — why"), "{d}");
        }
    }
}
