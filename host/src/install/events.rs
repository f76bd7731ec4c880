//! The bus topics an installer publishes on (as the bus's system publisher), one per
//! lifecycle change. The payload is JSON: `plugin`, `from`, `to` (versions), `source`,
//! `new_capabilities`, `operation` (the correlation id) and `generation`; a roll-back
//! carries `from_generation`, `generation` and `reason`.

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
