//! The capability names `#[plugin(capabilities = [...])]` accepts (SPEC S4.1).

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
];

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
        if scope.trim().is_empty() {
            return Err(format!(
                "capability `{name}:` has an empty scope; write `{name}` or `{name}:PATTERN`"
            ));
        }
    }
    Ok(())
}
