//! The capability names `#[plugin(capabilities = [...])]` accepts (SPEC S4.1).
//!
//! Kept in sync with `switchboard_sdk::caps::CapabilityKind` (the macro crate cannot depend on
//! the SDK); an end-to-end test compares the two lists. Patterns are checked in full by the
//! SDK's parser when a host reads the manifest, before any plugin code runs.

/// Every capability name; a request is `name` or `name:scope`.
pub const NAMES: &[&str] = &[
    "fs.read",
    "fs.write",
    "net.connect",
    "kv",
    "secrets",
    "events.publish",
    "events.subscribe",
    "service.call",
    "service.provide",
    "env",
    "process.spawn",
    "config.read",
    "extend",
];

/// The capabilities that take no pattern.
pub const UNSCOPED: &[&str] = &["kv", "secrets", "process.spawn", "config.read"];

/// Checks one capability request; the error says what to write instead.
pub fn check(request: &str) -> Result<(), String> {
    let (name, scope) = match request.split_once(':') {
        Some((n, s)) => (n, Some(s)),
        None => (request, None),
    };
    if !NAMES.contains(&name) {
        let hint = match crate::suggest::closest(name, NAMES) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!("expected one of: {}", NAMES.join(", ")),
        };
        return Err(format!("unknown capability `{name}`; {hint}"));
    }
    if let Some(scope) = scope {
        if UNSCOPED.contains(&name) {
            return Err(format!(
                "capability `{name}` takes no pattern; write `{name}` alone"
            ));
        }
        if scope.trim().is_empty() {
            return Err(format!(
                "capability `{name}:` has an empty scope; write `{name}` or `{name}:PATTERN`"
            ));
        }
    }
    Ok(())
}
