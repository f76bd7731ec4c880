//! Settings a plugin's manifest may carry that a load does not act on in the mode it runs in:
//! the `[limits]` memory, CPU and call-time limits and the `sandbox` profile are enforced only
//! in isolated mode (ARCHITECTURE D13), by the runner's sandbox. A plugin that declares them
//! and runs in the host's process gets none of it, and a setting that silently did nothing
//! would let an operator believe a plugin is confined when it is not — so preflight and every
//! in-process load report each one as a warning (`SB1120` limits, `SB1121` sandbox) whose
//! message starts with `not applied in-process:`.
//!
//! Whether a plugin runs isolated is the policy's decision
//! ([`isolation`](crate::isolation)): [`not_applied_for`] reports against a load's decision
//! (nothing when it runs isolated); [`not_applied`] has no policy and reports what an
//! in-process load would not apply, unless the manifest's own `sandbox = "strict"` isolates
//! it everywhere. `kind` is applied — it selects the policy's `[isolation.profiles.<kind>]`
//! and `isolate_kinds` rules — so `SB1122` is retired, as is `SB1123` (the policy's
//! `allowed_registries`, applied by `switchboard-registry`, `SB1364`).
//!
//! The KV quota (`[limits] kv_bytes`, `kv_keys`) is applied in every mode and draws no
//! warning; neither does `sandbox = "standard"`, the default.

use switchboard_sdk::manifest::{codes, Diagnostic, Manifest, SandboxProfile};

use crate::isolation::{IsolationDecision, Mode};

/// What an in-process load of `manifest` would not apply, as warnings, for a host whose
/// policy isolates nothing: its `[limits]` memory, CPU and call time (`SB1120`). A manifest
/// that says `sandbox = "strict"` runs isolated on every host, so it draws none. With a host
/// and its policy, use [`not_applied_for`] and the load's decision.
///
/// # Example
///
/// ```
/// use switchboard_host::{not_applied, Manifest};
/// use switchboard_sdk::manifest::Format;
///
/// let m = Manifest::parse(
///     "name = \"w\"\nversion = \"1.0.0\"\n[limits]\nmemory_mb = 64\nkv_keys = 10\n",
///     Format::Toml,
/// )
/// .unwrap();
/// let warnings = not_applied(&m);
/// assert_eq!(warnings.len(), 1);
/// assert_eq!(warnings[0].code, "SB1120");
/// assert_eq!(warnings[0].field, "limits.memory_mb");
/// ```
pub fn not_applied(manifest: &Manifest) -> Vec<Diagnostic> {
    if manifest.sandbox == SandboxProfile::Strict {
        return Vec::new();
    }
    warnings(
        manifest,
        "unless the host's policy isolates it (its `[isolation]` rules)",
    )
}

/// What a load of `manifest` under `decision` does not apply, as warnings: nothing when the
/// plugin runs isolated; in-process, its `[limits]` memory, CPU and call time (`SB1120`) and
/// a `sandbox = "strict"` (`SB1121`, which policy routing never leaves in-process), each
/// quoting why the plugin runs in-process.
///
/// # Example
///
/// ```
/// use switchboard_host::isolation::{IsolationDecision, Mode};
/// use switchboard_host::{not_applied_for, Manifest};
/// use switchboard_sdk::manifest::Format;
///
/// let m = Manifest::parse(
///     "name = \"w\"\nversion = \"1.0.0\"\n[limits]\ncall_timeout_ms = 500\n",
///     Format::Toml,
/// )
/// .unwrap();
/// # let decision: IsolationDecision = serde_json::from_value(serde_json::json!({
/// #     "mode": "in_process", "reasons": ["no rule isolates it"], "profile": "default",
/// #     "strict": false, "allow_exec": false, "allow_network": true, "allow_files": true,
/// #     "required_layers": [], "limits": { "memory_mb": 1024, "cpu_ms": null,
/// #     "call_timeout_ms": 500, "open_files": 256, "file_size_mb": 64, "max_restarts": 3,
/// #     "restart_backoff_ms": 100 } })).unwrap();
/// // `decision`: what policy decided for this load (`PluginHandle::isolation`).
/// assert_eq!(decision.mode, Mode::InProcess);
/// let warnings = not_applied_for(&m, &decision);
/// assert_eq!(warnings[0].code, "SB1120");
/// assert!(warnings[0].message.contains("no rule isolates it"));
/// ```
pub fn not_applied_for(manifest: &Manifest, decision: &IsolationDecision) -> Vec<Diagnostic> {
    if decision.mode == Mode::Isolated {
        return Vec::new();
    }
    let why = format!("it runs in-process: {}", decision.reasons.join("; "));
    let mut out = warnings(manifest, &why);
    if manifest.sandbox == SandboxProfile::Strict {
        out.push(Diagnostic::warning(
            codes::SANDBOX_NOT_APPLIED,
            "sandbox",
            format!(
                "not applied in-process: `sandbox = \"strict\"` confines only an isolated plugin; \
                 {why}, with exactly its granted capabilities"
            ),
            "load it without forcing a mode: policy runs a strict plugin isolated",
        ));
    }
    out
}

/// The `[limits]` warnings, `why` saying when or why the plugin runs in-process.
fn warnings(manifest: &Manifest, why: &str) -> Vec<Diagnostic> {
    let limits = [
        ("memory_mb", manifest.limits.memory_mb, "MiB of memory"),
        ("cpu_ms", manifest.limits.cpu_ms, "ms of CPU time"),
        (
            "call_timeout_ms",
            manifest.limits.call_timeout_ms,
            "ms per call",
        ),
    ];
    limits
        .into_iter()
        .filter_map(|(field, value, unit)| {
            let v = value?;
            Some(Diagnostic::warning(
                codes::LIMIT_NOT_APPLIED,
                format!("limits.{field}"),
                format!(
                    "not applied in-process: `{field} = {v}` ({v} {unit}) is enforced only in \
                     isolated mode; in the host's process the plugin runs unbounded — {why}"
                ),
                "to enforce it, run the plugin isolated: list it (or its kind) in the host \
                 policy's `[isolation]`, or load it with `LoadOptions::isolation`; the KV \
                 quota (`kv_bytes`, `kv_keys`) is applied in either mode",
            ))
        })
        .collect()
}
