//! An instance's contributions: checked and planned before it starts, joined once it is
//! active, replaced from the new manifest when it is reloaded, gone when it stops, fails, is
//! disabled or removed.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::Arc;

use super::check::check_hook;
use super::registry::{Entry, Planned, Reservation};
use super::ExtendError;
use crate::instance::{Code, Instance};
use crate::RawCommand;

/// `code`'s contributions as entries calling through `instance` (`code` is the version
/// serving, or the one a reload is about to put in place).
fn entries(instance: &Instance, code: &Code) -> Result<Planned, ExtendError> {
    let points = &code.caps().extend;
    let manifest = code.manifest();
    let gate = &code.caps().gate;
    let plugin: Arc<str> = manifest.name.as_str().into();
    let mut out = Vec::with_capacity(manifest.hooks.len());
    for hook in &manifest.hooks {
        let (point, kind) = check_hook(points, manifest, hook, Some(gate))?;
        let call = RawCommand::in_code(instance, code, &hook.command).map_err(|_| {
            ExtendError::NoSuchCommand {
                plugin: plugin.to_string(),
                point: hook.point.clone(),
                command: hook.command.clone(),
            }
        })?;
        out.push((
            point,
            Arc::new(Entry {
                plugin: plugin.clone(),
                command: hook.command.as_str().into(),
                kind,
                priority: hook.priority,
                before: hook.before.clone(),
                after: hook.after.clone(),
                call,
                isolated: code.is_isolated(),
                in_a_row: AtomicU32::new(0),
                failures: AtomicU64::new(0),
                disabled: AtomicBool::new(false),
            }),
        ));
    }
    Ok(out)
}

impl Instance {
    /// Checks that `code`'s contributions can join their points (declared, granted, no
    /// conflicting replacement or item, no order cycle — against the contributions in place
    /// and those other plugins starting meanwhile reserved) and reserves them until
    /// [`join_points`](Self::join_points), in one step; `None` for a plugin without hooks.
    /// Changes no point. Dropping the reservation gives it up.
    pub(crate) fn check_points(&self, code: &Code) -> Result<Option<Reservation>, ExtendError> {
        if code.manifest().hooks.is_empty() {
            return Ok(None);
        }
        let planned = entries(self, code)?;
        code.caps().extend.reserve(self.name(), planned).map(Some)
    }

    /// Puts `code`'s contributions in place of the plugin's (none, or an older version's).
    pub(crate) fn join_points(&self, code: &Code) -> Result<(), ExtendError> {
        let planned = entries(self, code)?;
        code.caps().extend.replace_plugin(self.name(), planned)
    }

    /// Takes the plugin's contributions out of every point.
    pub(crate) fn leave_points(&self) {
        let code = self.code();
        // Removing never conflicts and never makes a cycle.
        let _ = code.caps().extend.replace_plugin(self.name(), Vec::new());
    }
}
