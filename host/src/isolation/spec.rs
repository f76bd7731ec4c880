//! From a plugin's grants and policy's decision to the sandbox its runner applies.
//!
//! The SDK's services need no sandbox opening: files, network and everything else a plugin
//! reaches through its `Context` are done by the host, checked against the token. The sandbox
//! opens, beneath the granted directories and to the granted ports, only what plugin code
//! doing the same through the standard library needs — and a `strict` profile opens nothing.

use switchboard_sdk::caps::Capability;

use super::decide::IsolationDecision;
use super::sandbox::SandboxSpec;
use crate::caps::Grant;

/// The most ports a grant may span and still be listed one by one in Landlock rules.
const MAX_LISTED_PORTS: u32 = 64;

/// The sandbox for a plugin holding `grants`, under `decision`.
pub(crate) fn sandbox_spec(grants: &[Grant], decision: &IsolationDecision) -> SandboxSpec {
    let mut spec = SandboxSpec::default();
    for grant in grants {
        match grant.capability() {
            Capability::FsRead(p) if decision.allow_files => {
                spec.read_paths.push(p.literal_prefix());
            }
            Capability::FsWrite(p) if decision.allow_files => {
                spec.write_paths.push(p.literal_prefix());
            }
            Capability::NetConnect(p) if decision.allow_network => {
                spec.network = true;
                let span = u32::from(p.port_high) - u32::from(p.port_low) + 1;
                if span > MAX_LISTED_PORTS {
                    spec.tcp_connect_any = true;
                } else {
                    spec.tcp_connect.extend(p.port_low..=p.port_high);
                }
            }
            Capability::ProcessSpawn if decision.allow_exec => spec.allow_exec = true,
            _ => {}
        }
    }
    for list in [&mut spec.read_paths, &mut spec.write_paths] {
        list.sort();
        list.dedup();
    }
    spec.tcp_connect.sort_unstable();
    spec.tcp_connect.dedup();
    spec.rlimits = decision.limits.rlimits();
    spec.cgroup_memory_bytes = spec.rlimits.memory_bytes;
    spec.required = decision.required_layers.clone();
    // Built in the host's process: the runner exits at once if its parent is not this one.
    spec.parent_pid = Some(std::process::id());
    spec
}
