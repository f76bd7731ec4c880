//! Settings a plugin's manifest or a host's policy may carry that this version parses but does
//! not act on yet: the `[limits]` memory, CPU and call-time limits and the `sandbox` profile
//! (both wait for isolated mode) and `kind` (waits for policy profiles per kind). A setting
//! that silently did nothing would let an operator believe a plugin is confined when it is
//! not, so preflight and every load report each one as a warning (`SB1120`–`SB1122`) whose
//! message starts with `not applied:`. (`SB1123`, the policy's `allowed_registries`, is
//! retired: `switchboard-registry` refuses a registry outside the list, `SB1364`.)
//!
//! The KV quota (`[limits] kv_bytes`, `kv_keys`) *is* applied, in every mode, and draws no
//! warning. Values equal to the defaults (`kind = "extension"`, `sandbox = "standard"`) ask
//! for nothing beyond what an in-process plugin gets anyway, and draw none either.

use switchboard_sdk::manifest::{codes, Diagnostic, Manifest, SandboxProfile};

/// The kind a manifest has when it names none.
const DEFAULT_KIND: &str = "extension";

/// Every setting in `manifest` that this host parses but does not apply, as warnings.
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
    let mut out = Vec::new();
    let limits = [
        ("memory_mb", manifest.limits.memory_mb, "MiB of memory"),
        ("cpu_ms", manifest.limits.cpu_ms, "ms of CPU time"),
        (
            "call_timeout_ms",
            manifest.limits.call_timeout_ms,
            "ms per call",
        ),
    ];
    for (field, value, unit) in limits {
        if let Some(v) = value {
            out.push(Diagnostic::warning(
                codes::LIMIT_NOT_APPLIED,
                format!("limits.{field}"),
                format!(
                    "not applied: `{field} = {v}` ({v} {unit}) — limits are for isolated mode, \
                     which this host does not have yet; an in-process plugin runs unbounded"
                ),
                "load only plugins you trust to stay within it; the KV quota (`kv_bytes`, \
                 `kv_keys`) is applied",
            ));
        }
    }
    if manifest.sandbox != SandboxProfile::default() {
        let name = match manifest.sandbox {
            SandboxProfile::Strict => "strict",
            _ => "standard",
        };
        out.push(Diagnostic::warning(
            codes::SANDBOX_NOT_APPLIED,
            "sandbox",
            format!(
                "not applied: `sandbox = \"{name}\"` — no sandbox confines plugins yet (isolated \
                 mode is not built); the plugin gets exactly its granted capabilities, in the \
                 host's process"
            ),
            "grant the plugin only the capabilities it needs; load only plugins you trust",
        ));
    }
    if manifest.kind != DEFAULT_KIND {
        out.push(Diagnostic::warning(
            codes::KIND_NOT_APPLIED,
            "kind",
            format!(
                "not applied: `kind = \"{}\"` — hosts do not map kinds to policy profiles yet; \
                 the host's one policy decides",
                manifest.kind
            ),
            "nothing to change: the kind is kept as a description",
        ));
    }
    out
}
