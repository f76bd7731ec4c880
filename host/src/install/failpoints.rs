//! Failpoints at every phase boundary of an install operation, for fault-injection tests
//! (issue 15.7). Compiled in only with the `failpoints` feature of `switchboard-host`; without
//! it [`NAMES`] is still here (for tests to iterate) and the failpoints cost nothing.
//!
//! Every operation (install, update, remove, enable, disable, rollback) passes the same
//! points in this order; an operation with nothing to download passes the download points
//! all the same.
//!
//! # Triggering them
//!
//! The points are the `fail` crate's. A library never reads the environment (D12), so
//! this crate does not call `FailScenario::setup()`; the program under test does, through
//! the re-export (so it configures *this* crate's registry, whatever `fail` version it
//! would otherwise link):
//!
//! ```ignore
//! // In the binary's main, behind its own test feature:
//! let _scenario = switchboard_host::install::failpoints::fail::FailScenario::setup();
//! ```
//!
//! then `FAILPOINTS='install.before_activate=return(abort)' switchboard install …`. Actions:
//!
//! - `return` or `return(error)` — the operation fails there with `SB1412`, going through
//!   its normal error path (rolled back if it had flipped).
//! - `return(abort)` — the process aborts on the spot (`std::process::abort`: no unwinding,
//!   no destructors, no flush), as a crash or `SIGKILL` would leave it.
//! - `panic`, `sleep(MS)`, `pause`, `delay(MS)` … — the `fail` crate's own actions (`pause`
//!   blocks until the point is reconfigured, for a parent to kill the process there).
//!
//! In-process tests use `fail::cfg(NAME, "return")` under a `fail::FailScenario`.

/// Every failpoint, in the order an operation passes them.
pub const NAMES: &[&str] = &[
    BEFORE_DOWNLOAD,
    AFTER_DOWNLOAD,
    BEFORE_VERIFY,
    AFTER_VERIFY,
    BEFORE_RESOLVE,
    AFTER_RESOLVE,
    BEFORE_ACTIVATE,
    AFTER_FLIP,
    AFTER_ACTIVATE,
    BEFORE_HEALTH_CHECK,
    AFTER_HEALTH_CHECK,
];

/// Before the first package is fetched (the journal says `download` began).
pub const BEFORE_DOWNLOAD: &str = "install.before_download";
/// Every package is in the package store; `download` not yet marked ended.
pub const AFTER_DOWNLOAD: &str = "install.after_download";
/// Before the packages are verified.
pub const BEFORE_VERIFY: &str = "install.before_verify";
/// Every package verified; `verify` not yet marked ended.
pub const AFTER_VERIFY: &str = "install.after_verify";
/// Before the new generation is prepared.
pub const BEFORE_RESOLVE: &str = "install.before_resolve";
/// The new generation is written (not current); `resolve` not yet marked ended.
pub const AFTER_RESOLVE: &str = "install.after_resolve";
/// Before the data backup and the flip.
pub const BEFORE_ACTIVATE: &str = "install.before_activate";
/// Right after the flip committed, before the running host is changed: the new generation
/// is current and none of it runs yet.
pub const AFTER_FLIP: &str = "install.after_flip";
/// The running host matches the new generation; `activate` not yet marked ended.
pub const AFTER_ACTIVATE: &str = "install.after_activate";
/// Before the health checks.
pub const BEFORE_HEALTH_CHECK: &str = "install.before_health_check";
/// Health checks passed; the operation is not yet marked done.
pub const AFTER_HEALTH_CHECK: &str = "install.after_health_check";

#[cfg(feature = "failpoints")]
pub use fail;

/// Evaluates failpoint `name`.
#[cfg(feature = "failpoints")]
pub(crate) fn hit(name: &'static str) -> Result<(), super::InstallError> {
    match fail::eval(name, |arg| arg) {
        None => Ok(()),
        Some(Some(arg)) if arg == "abort" => std::process::abort(),
        Some(_) => Err(super::InstallError::Failpoint { name: name.into() }),
    }
}

/// Without the feature a failpoint is nothing.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn hit(_name: &'static str) -> Result<(), super::InstallError> {
    Ok(())
}
