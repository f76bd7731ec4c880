//! The bus topics an installer publishes on (as the bus's system publisher), one per
//! lifecycle change. The payload is JSON: `plugin`, `from`, `to` (versions), `source`,
//! `new_capabilities`, `operation` (the correlation id) and `generation`; a roll-back
//! carries `from_generation`, `generation` and `reason`.

use serde_json::json;

use super::journal::OperationKind;
use super::plan::PlannedChange;
use crate::host::Host;

/// A plugin was installed (it was not in the previous generation).
pub const INSTALLED: &str = "system.plugin.installed";
/// A plugin moved to another version.
pub const UPDATED: &str = "system.plugin.updated";
/// A plugin was enabled.
pub const ENABLED: &str = "system.plugin.enabled";
/// A plugin was disabled.
pub const DISABLED: &str = "system.plugin.disabled";
/// A plugin was removed.
pub const REMOVED: &str = "system.plugin.removed";
/// An operation was rolled back (a failed activation or health check, an interrupted
/// operation recovered), or a generation was made current again by `rollback`.
pub const ROLLED_BACK: &str = "system.plugin.rolled_back";

/// The bus topic and audit detail of one change.
pub(crate) fn lifecycle_event(
    kind: OperationKind,
    c: &PlannedChange,
) -> (&'static str, serde_json::Value) {
    let topic = match (kind, &c.from, &c.to) {
        (_, _, None) => super::events::REMOVED,
        (OperationKind::Enable, _, _) => super::events::ENABLED,
        (OperationKind::Disable, _, _) => super::events::DISABLED,
        (OperationKind::Rollback, _, _) => super::events::ROLLED_BACK,
        (_, None, Some(_)) => super::events::INSTALLED,
        (_, Some(_), Some(_)) => super::events::UPDATED,
    };
    let what = json!({
        "event": topic.rsplit('.').next().unwrap_or(topic),
        "from": c.from.as_ref().map(ToString::to_string),
        "to": c.to.as_ref().map(ToString::to_string),
        "source": c.source,
        "new_capabilities": c.new_capabilities,
    });
    (topic, what)
}

/// Publishes a `system.plugin.*` event with a JSON payload.
pub(crate) fn publish(host: &Host, topic: &str, plugin: &str, what: &serde_json::Value) {
    let mut payload = what.clone();
    payload["plugin"] = json!(plugin);
    let event = crate::bus::Outgoing::new(topic, payload.to_string().into_bytes());
    host.bus().inner().publish_system(event);
}
