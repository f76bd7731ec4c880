//! Plugin kinds (issue 19, part 6): the manifest's `kind` says what a plugin is expected to
//! provide, and the host checks its library against that before any plugin code runs (at
//! load, and in `switchboard preflight`).
//!
//! | kind | expects | refused with |
//! |---|---|---|
//! | `instrument` | at least one streaming command (`out: &mut Sink<'_, Chunk>`), which may report usage (`ctx.usage`) | `SB1721` |
//! | `operator` | at least one command, each taking a typed message (a contract the host checks), none raw bytes | `SB1722` |
//! | `addon` | contributions only: at least one hook, subscription or service, and no other command | `SB1723`, `SB1724` |
//! | anything else (`extension`, the default; `test-fixture`; …) | nothing | — |
//!
//! A kind also selects isolation: a policy's `isolate_kinds` and
//! `[isolation.profiles.<kind>]` apply by kind (see [`crate::isolation`]).
//!
//! ```
//! use switchboard_host::kinds;
//!
//! assert!(kinds::expectation("addon").is_some());
//! assert_eq!(kinds::expectation("extension"), None);
//! ```

use std::collections::BTreeSet;

use switchboard_sdk::{EmbeddedManifest, RAW_BYTES_CONTRACT};

use crate::extend::ExtendError;

/// The kind of a plugin whose manifest names none.
pub const DEFAULT_KIND: &str = "extension";

/// The kinds with expectations, as manifests write them.
pub const CHECKED_KINDS: [&str; 3] = ["instrument", "operator", "addon"];

/// What a plugin of `kind` is expected to provide, in words; `None` for a kind without
/// expectations.
pub fn expectation(kind: &str) -> Option<&'static str> {
    match kind {
        "instrument" => Some(
            "an instrument: provides at least one streaming command (chunks out, usage reported)",
        ),
        "operator" => Some("an operator: typed commands, each input a message the host checks"),
        "addon" => Some("an addon: contributions only (hooks, subscriptions, services)"),
        _ => None,
    }
}

/// Checks that the library whose embedded manifest is `embedded` provides what a plugin of
/// `kind` is expected to.
pub fn check_kind(kind: &str, embedded: &EmbeddedManifest) -> Result<(), ExtendError> {
    match kind {
        "instrument" => check_instrument(embedded),
        "operator" => check_operator(embedded),
        "addon" => check_addon(embedded),
        _ => Ok(()),
    }
}

/// The commands that serve no hook: what callers call.
fn plain_commands(embedded: &EmbeddedManifest) -> Vec<&switchboard_sdk::CommandDecl> {
    let hooks: BTreeSet<&str> = embedded.hooks.iter().map(|h| h.command.as_str()).collect();
    embedded
        .commands
        .iter()
        .filter(|c| !hooks.contains(c.name.as_str()))
        .collect()
}

/// An instrument's check: at least one streaming command (`out: &mut Sink<'_, Chunk>`,
/// recorded with its chunk contract in the embedded manifest), what an instrument is for —
/// output in chunks, with usage reported for metering (S1.6).
pub fn check_instrument(embedded: &EmbeddedManifest) -> Result<(), ExtendError> {
    if !plain_commands(embedded).iter().any(|c| c.stream.is_some()) {
        return Err(ExtendError::InstrumentWithoutCommand {
            plugin: embedded.name.clone(),
        });
    }
    Ok(())
}

/// An operator's check: at least one plain command, and none taking raw bytes.
fn check_operator(embedded: &EmbeddedManifest) -> Result<(), ExtendError> {
    let commands = plain_commands(embedded);
    if commands.is_empty() {
        return Err(ExtendError::OperatorUntyped {
            plugin: embedded.name.clone(),
            reason: "it provides no command".to_owned(),
        });
    }
    if let Some(raw) = commands.iter().find(|c| c.request == RAW_BYTES_CONTRACT) {
        return Err(ExtendError::OperatorUntyped {
            plugin: embedded.name.clone(),
            reason: format!(
                "its command `{}` takes raw bytes, which no contract describes",
                raw.name
            ),
        });
    }
    Ok(())
}

/// An addon's check: no plain command (unless it provides a service, whose methods they
/// are), and at least one contribution.
fn check_addon(embedded: &EmbeddedManifest) -> Result<(), ExtendError> {
    let commands = plain_commands(embedded);
    if !commands.is_empty() && embedded.services.is_empty() {
        let names: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();
        return Err(ExtendError::AddonWithCommands {
            plugin: embedded.name.clone(),
            commands: names.join(", "),
        });
    }
    if embedded.hooks.is_empty()
        && embedded.subscriptions.is_empty()
        && embedded.services.is_empty()
    {
        return Err(ExtendError::AddonWithoutContributions {
            plugin: embedded.name.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(json: &str) -> EmbeddedManifest {
        serde_json::from_str(json).unwrap()
    }

    const HEAD: &str = r#""format":1,"name":"p","version":"0.1.0","description":"","sdk_abi":"1.2","capabilities":[]"#;

    #[test]
    fn an_addon_must_contribute_and_an_addon_providing_a_service_may_have_commands() {
        let nothing = manifest(&format!(r#"{{{HEAD},"commands":[]}}"#));
        let err = check_kind("addon", &nothing).unwrap_err();
        assert_eq!(err.code().to_string(), "SB1724");
        let service = manifest(&format!(
            r#"{{{HEAD},"commands":[{{"name":"upper","request":"alloc::string::String@1#0","response":"bytes"}}],"services":["text.tools"]}}"#
        ));
        check_kind("addon", &service).unwrap();
        let subscriber = manifest(&format!(
            r#"{{{HEAD},"commands":[],"subscriptions":["host.>"]}}"#
        ));
        check_kind("addon", &subscriber).unwrap();
        // Kinds without expectations take anything.
        check_kind("extension", &nothing).unwrap();
        check_kind("theme", &nothing).unwrap();
        assert_eq!(
            check_kind("instrument", &nothing)
                .unwrap_err()
                .code()
                .to_string(),
            "SB1721"
        );
        assert_eq!(
            check_kind("operator", &nothing)
                .unwrap_err()
                .code()
                .to_string(),
            "SB1722"
        );
    }

    #[test]
    fn the_instrument_expectation_says_what_the_check_requires() {
        // The preflight note and `inspect` show this text: it must name the streaming command
        // `check_instrument` asks for.
        let text = expectation("instrument").unwrap();
        assert!(text.contains("streaming command"), "{text}");
        assert!(!text.contains("to come"), "{text}");
    }
}
