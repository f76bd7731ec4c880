//! # switchboard-host
//!
//! Embed a plugin system in a Rust application. The host reads what a plugin library is from
//! the library's own manifest section before running any of its code, opens the very bytes it
//! checked, drives each plugin through a lifecycle, and routes typed calls to it — with every
//! entry into plugin code guarded, so a panicking plugin fails alone.
//!
//! # Example
//!
//! ```no_run
//! use switchboard_host::Host;
//!
//! # fn main() -> Result<(), switchboard_host::Error> {
//! let mut builder = Host::builder();
//! // The API `hello`'s plugin.toml requires; a plugin written for another is refused.
//! builder.data_dir("/tmp/my-app").host_api("switchboard-demo", "0.1.0");
//! builder.dangerous().load_unsigned_libraries(); // development only
//! let host = builder.build()?;
//!
//! let hello = host.load_unsigned("target/debug/libhello.so")?;
//! hello.start()?;
//! let greet = host.command::<String, String>("hello", "greet")?;
//! assert_eq!(greet.call(&"Ada".to_string())?, "Hello, Ada!");
//! # Ok(()) }
//! ```
//!
//! # Contents
//!
//! - [`Host`], [`HostBuilder`], [`DangerousHostBuilder`] — the runtime and its setup;
//!   [`LoadOptions`] — options for one load (a deliberate downgrade).
//! - [`verify_package_file`], [`VerifiedPlugin`] — every check a load makes before plugin code.
//! - [`PluginIdentity`], [`WipeReport`] — who owns a plugin's data; [`IdentityError`].
//! - [`PluginHandle`], [`Command`], [`RawCommand`] — handles callers keep; names resolved once.
//! - [`StreamCommand`], [`Stream`], [`Streamed`] — streaming commands read chunk by chunk, with
//!   backpressure and cancellation; [`Usage`] — what a call reported for metering
//!   ([`Command::call_metered`], [`Host::usage`]).
//! - [`State`], [`Transition`] — the lifecycle (SPEC S8.1).
//! - Hot reload (SPEC S8.3): [`PluginHandle::reload`], [`Host::reload`] swap a running
//!   plugin's code; [`ReloadReport`], [`Reloads`], [`ReloadError`], [`ReloadStep`].
//! - Discovery and watching (SPEC S8.2): [`HostBuilder::plugin_dir`], [`Host::discover`],
//!   [`DiscoverOptions`], [`DiscoverReport`], [`Discovered`], [`Skipped`] (codes in
//!   [`discovery_codes`]); [`Host::watch`], [`PluginWatcher`], [`DiscoveryError`].
//! - Health (SPEC S8.4): [`Host::check_health`], [`HostBuilder::health_interval`],
//!   [`HostBuilder::health_rules`], [`PluginHandle::health_status`] — periodic checks of the
//!   plugin's hook and the host's own view (panics, failed calls, runner restarts, the
//!   lifecycle); [`HealthState`], [`HealthStatus`], [`HealthReason`] (codes in
//!   [`health_codes`]), [`HealthReport`], [`PluginHealth`], [`HealthRules`]; changes are
//!   published on [`HEALTH_TOPIC`].
//! - [`preflight`], [`preflight_with`], [`PreflightOptions`], [`PreflightReport`] — every check
//!   that needs no plugin code (SPEC S2.4); [`package_manifest`] — what `pack` writes.
//! - [`not_applied`], [`not_applied_for`] — the manifest settings a load does not act on in
//!   the mode it runs in (limits and `sandbox` in-process), as the warnings preflight and
//!   every load report.
//! - [`isolation`] — isolated mode: policy routing ([`isolation::Mode`],
//!   [`isolation::IsolationDecision`], [`isolation::IsolationProfile`]) and the sandbox
//!   layers.
//! - [`check_manifest`], [`check_embedded`], [`version_matches`], [`describe_range`],
//!   [`sdk_abi_compatible`], [`HostProfile`] — compatibility rules.
//! - [`metrics`] — per plugin and per command calls, errors, latency percentiles, events,
//!   restarts ([`Host::metrics`], [`metrics::MetricsSnapshot`], the Prometheus text format,
//!   the `metrics` facade) (SPEC S8.4); stored in the host database at a coarse resolution
//!   ([`metrics::stored`], [`Host::stored_metrics`]).
//! - [`slo`] — SLOs: per-plugin objectives, burn-rate alerts on `system.slo.alert`, the report
//!   ([`Host::flush_metrics`], [`Host::slo_report`], [`slo::SloPolicy`]) (SPEC S8.4).
//! - [`bus`] — the event bus and shared services: topics, subscriptions with bounded queues
//!   and overflow policies, at-least-once delivery, dead letters, breakers, traced envelopes,
//!   throttled service calls (SPEC S5); [`BusError`].
//! - [`extend`] — extension points (SPEC S5.4): [`Host::extension_point`] declares a typed
//!   point plugins contribute to with `#[hook]`; [`ExtendError`].
//! - [`caps`] — capabilities: [`Policy`], the approver, scopes, tokens and the
//!   lock-free [`GrantTable`](caps::GrantTable) (SPEC S4, ARCHITECTURE D6).
//! - [`state`] — plugin state: KV with quotas and transactions, secrets, configuration,
//!   data migrations (SPEC S6).
//! - [`Store`] — the host database (SQLite, versioned schema); [`PluginRecord`] — what it
//!   knows of each plugin; [`RegistryTable`], [`RegistryRecord`], [`SeenRecord`] — the
//!   registries configured and what was seen of each (read by `switchboard-registry`).
//! - [`AuditLog`], [`AuditEvent`], [`AuditRecord`], [`AuditFilter`], [`VerifyReport`] — the
//!   hash-chained audit log (SPEC S4.4); [`Timestamp`] — its times.
//! - [`LogRecord`] — what plugins log, routed by the host.
//! - [`package`] — packages, signatures, trust levels.
//! - [`install`] — installs, updates, removals, rollbacks as generations with a journal
//!   (ARCHITECTURE D10): [`Installer`](install::Installer) (from [`Host::installer`]),
//!   [`PackageSource`](install::PackageSource), [`FileSource`](install::FileSource);
//!   [`Host::start_installed`] starts the current generation.
//! - Dependencies (SPEC S3): [`Index`], [`MemoryIndex`], [`DirectoryIndex`], [`Release`], [`Dependency`],
//!   [`HostApiReq`] — what the resolver reads; [`Resolver`], [`Resolution`], [`ResolvedPlugin`]
//!   — version solving; [`InstalledGraph`], [`GraphNode`] — load order, cycles, dependents,
//!   `switchboard tree`; [`Lockfile`], [`LockedPlugin`], [`Provenance`], [`LockChange`],
//!   [`LOCKFILE_NAME`] — `switchboard.lock`.
//! - [`TrustLevel`] — how far a package is trusted.
//! - [`Error`] and its areas [`ConfigError`], [`LoadError`], [`CallError`], [`ReloadError`],
//!   [`LifecycleError`], [`CapsError`], [`StoreError`], [`ResolveError`] (with
//!   [`IndexError`]) — every one with a stable code and a next step.
//!
//! # What in-process plugins can do
//!
//! A plugin loaded in-process is native code running with the full rights of the host process.
//! The checks this crate makes (manifest, ABI, capabilities, and with packages signatures)
//! bind well-behaved plugins and catch mistakes and tampering before load; they do not confine
//! malicious native code — see [`caps`]. Untrusted plugins belong in isolated mode.

#![deny(missing_docs)]
#![deny(unsafe_code)]
// Input from users, files and plugins becomes a typed error, never a panic: library code
// outside tests has no unwrap() or expect() (tests keep them, as assertions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod audit;
pub mod bus;
pub mod caps;
mod compat;
mod discovery;
mod error;
pub mod extend;
mod health;
mod host;
mod identity;
pub mod install;
mod instance;
pub mod isolation;
pub mod kinds;
mod lifecycle;
mod loader;
pub mod metrics;
mod not_applied;
pub mod package;
mod preflight;
mod private_file;
mod reload;
mod resolve;
mod services;
pub mod slo;
pub mod smoke;
pub mod state;
mod store;
mod timestamp;
mod verify;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub use audit::{
    AuditAnchors, AuditEvent, AuditFilter, AuditKey, AuditKind, AuditKindError, AuditLog,
    AuditRecord, ChainBreak, Checkpoint, VerifiedCheckpoint, VerifyReport, AUDIT_KEY_FILE,
    AUDIT_PUBLIC_KEY_FILE, CHECKPOINT_FILE,
};
pub use bus::{Bus, BusError};
pub use caps::{Policy, PolicyError};
pub use compat::{
    check_embedded, check_manifest, current_target, describe_range, sdk_abi_compatible,
    version_matches, HostProfile,
};
pub use discovery::{
    codes as discovery_codes, DiscoverOptions, DiscoverReport, Discovered, DiscoveryError,
    PluginWatcher, Skipped, DEFAULT_SETTLE,
};
pub use error::{
    CallError, CapsError, ConfigError, Error, IndexError, LifecycleError, LoadError, ResolveError,
    StateError, StoreError,
};
pub use extend::ExtendError;
pub use health::{
    codes as health_codes, HealthReason, HealthReport, HealthRules, HealthState, HealthStatus,
    PluginHealth, DEFAULT_HEALTH_INTERVAL, HEALTH_TOPIC,
};
pub use host::{
    DangerousHostBuilder, Host, HostBuilder, DEFAULT_MAX_RELOADS, DEFAULT_METRICS_EXPORT_INTERVAL,
    DEFAULT_STOP_DEADLINE,
};
pub use identity::{IdentityError, PluginIdentity, WipeReport};
pub use instance::{
    CallOutcome, Command, PluginHandle, RawCommand, Stream, StreamCommand, Streamed, Usage,
    DEFAULT_STREAM_CAPACITY,
};
pub use lifecycle::{State, Transition};
pub use loader::options::LoadOptions;
pub use not_applied::{not_applied, not_applied_for};
pub use package::TrustLevel;
pub use preflight::{
    codes_preflight, no_section, package_manifest, preflight, preflight_with,
    preflight_with_library, Check, CheckStatus, PreflightOptions, PreflightReport,
};
pub use reload::{ReloadError, ReloadReport, ReloadStep, Reloads};
pub use resolve::{
    Dependency, DirectoryIndex, GraphNode, HostApiReq, Index, InstalledGraph, LockChange,
    LockedPlugin, Lockfile, MemoryIndex, Provenance, Release, Resolution, ResolvedPlugin, Resolver,
    LOCKFILE_NAME,
};
pub use services::LogRecord;
pub use store::{
    DeniedRecord, GrantRecord, PluginRecord, RegistryRecord, RegistryTable, SeenRecord, Store,
    DATABASE_FILE,
};
pub use switchboard_sdk::abi::ResponseBuffer;
pub use switchboard_sdk::manifest::{Diagnostic, Manifest, Severity};
pub use switchboard_sdk::{ErrorCode, Health, Level};
pub use timestamp::{Timestamp, TimestampError};
pub use verify::{verify_package_file, VerifiedPlugin};
