//! [`Layer::NoNewPrivs`](super::Layer::NoNewPrivs): `PR_SET_NO_NEW_PRIVS`, so no `execve` can
//! gain privileges (set-user-ID files, file capabilities), which also lets an unprivileged
//! process install Landlock and seccomp. And every capability the runner holds — all of them
//! when the host runs as root — is dropped (effective, permitted, inheritable, ambient); with
//! `no_new_privs` not even a root runner's `execve` gets them back. The uid stays what it was:
//! a root runner still owns root's files as far as permission bits go (Landlock decides which
//! it may reach).

use rustix::thread::{
    capabilities, clear_ambient_capability_set, set_capabilities, set_no_new_privs, CapabilitySet,
    CapabilitySets,
};

use super::{Inactive, LayerStatus};

pub(super) fn apply() -> Result<String, Inactive> {
    set_no_new_privs(true).map_err(|e| Inactive::Failed(format!("PR_SET_NO_NEW_PRIVS: {e}")))?;
    let held = capabilities(None)
        .map_err(|e| Inactive::Failed(format!("reading the capabilities: {e}")))?;
    // Ambient capabilities may be unsupported (kernels before 4.3); they are then empty.
    let _ = clear_ambient_capability_set();
    let none = CapabilitySets {
        effective: CapabilitySet::empty(),
        permitted: CapabilitySet::empty(),
        inheritable: CapabilitySet::empty(),
    };
    if held == none {
        return Ok("no_new_privs set; no capabilities held".into());
    }
    set_capabilities(None, none)
        .map_err(|e| Inactive::Failed(format!("dropping the capabilities: {e}")))?;
    Ok(format!(
        "no_new_privs set; all {} capabilities dropped",
        held.permitted.bits().count_ones()
    ))
}

pub(super) fn probe() -> LayerStatus {
    LayerStatus::new(
        super::Layer::NoNewPrivs,
        true,
        "available (PR_SET_NO_NEW_PRIVS, capset)",
    )
}
