//! The checks a plugin's hooks pass before any of its code runs: the point is declared, takes
//! this kind of hook, with these contracts, and the plugin holds `extend:POINT`.

use std::sync::Arc;

use switchboard_sdk::caps::Access;
use switchboard_sdk::extend::HookKind;
use switchboard_sdk::{EmbeddedManifest, HookDecl};

use super::registry::{PointCore, Points};
use super::ExtendError;
use crate::services::Gate;

/// Checks every hook of `manifest` against the declared `points` and the plugin's grants
/// (through `gate`; `None` skips the grant check, as preflight without a host does).
pub(crate) fn check_manifest(
    points: &Points,
    manifest: &EmbeddedManifest,
    gate: Option<&Gate>,
) -> Result<(), ExtendError> {
    for hook in &manifest.hooks {
        check_hook(points, manifest, hook, gate)?;
    }
    Ok(())
}

/// One hook's checks; the point it goes to.
pub(crate) fn check_hook(
    points: &Points,
    manifest: &EmbeddedManifest,
    hook: &HookDecl,
    gate: Option<&Gate>,
) -> Result<(Arc<PointCore>, HookKind), ExtendError> {
    let plugin = &manifest.name;
    let kind: HookKind = hook.kind.parse().map_err(|reason| ExtendError::BadHook {
        plugin: plugin.clone(),
        point: hook.point.clone(),
        reason,
    })?;
    let Some(point) = points.get(&hook.point) else {
        let declared = points.names();
        return Err(ExtendError::UndeclaredPoint {
            plugin: plugin.clone(),
            command: hook.command.clone(),
            point: hook.point.clone(),
            declared: if declared.is_empty() {
                "none".to_owned()
            } else {
                declared.join(", ")
            },
        });
    };
    if !point.kind.accepts().contains(&kind) {
        let accepts: Vec<String> = point
            .kind
            .accepts()
            .iter()
            .map(|k| format!("`{k}`"))
            .collect();
        return Err(ExtendError::WrongKind {
            plugin: plugin.clone(),
            command: hook.command.clone(),
            point: hook.point.clone(),
            hook: kind,
            kind: point.kind.as_str(),
            accepts: accepts.join(", "),
        });
    }
    let Some(command) = manifest.commands.iter().find(|c| c.name == hook.command) else {
        return Err(ExtendError::NoSuchCommand {
            plugin: plugin.clone(),
            point: hook.point.clone(),
            command: hook.command.clone(),
        });
    };
    let (want_request, want_response) = match kind {
        HookKind::Before => (point.input, point.input),
        HookKind::After => (point.output, point.output),
        _ => (point.input, point.output),
    };
    if command.request != want_request || command.response != want_response {
        return Err(ExtendError::WrongContract {
            plugin: plugin.clone(),
            command: hook.command.clone(),
            point: hook.point.clone(),
            hook: kind,
            found: Box::new((command.request.clone(), command.response.clone())),
            want_request,
            want_response,
        });
    }
    if let Some(gate) = gate {
        gate.authorize_declared(&Access::Extend(&hook.point))
            .map_err(|e| ExtendError::NotGranted {
                plugin: plugin.clone(),
                point: hook.point.clone(),
                source: Box::new(e),
            })?;
    }
    Ok((point, kind))
}
