//! [`Layer::Cgroup`](super::Layer::Cgroup): where the runner's cgroup is a delegated,
//! writable cgroup v2 with the memory and pids controllers enabled for its children, the runner
//! makes a child cgroup, sets `memory.max` and `pids.max` there and moves itself in. Elsewhere
//! (cgroup v1, a cgroup the runner may not write, controllers not delegated) the layer is
//! inactive and the rlimits are the only memory bound. The host removes the empty child cgroup
//! when it reaps the runner (its name holds the runner's pid).

use std::path::{Path, PathBuf};

use super::{Inactive, Layer, LayerStatus};

const ROOT: &str = "/sys/fs/cgroup";

/// Tasks (processes and threads) one runner may have.
pub const PIDS_MAX: u32 = 512;

/// The runner's cgroup v2 path, from `/proc/self/cgroup` (`0::/path`); `None` on cgroup v1.
fn own_path(proc_self_cgroup: &str) -> Option<&str> {
    let mut lines = proc_self_cgroup.lines();
    let path = lines.next()?.strip_prefix("0::")?;
    // A hybrid layout lists v1 hierarchies too; their controllers are not ours to use.
    if lines.any(|l| !l.trim().is_empty()) {
        return None;
    }
    Some(path)
}

/// The delegated cgroup directory of this process, or why there is none.
fn delegated() -> Result<PathBuf, String> {
    if !Path::new(ROOT).join("cgroup.controllers").exists() {
        return Err("no delegated cgroup v2 (cgroup v1 here)".into());
    }
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("reading /proc/self/cgroup: {e}"))?;
    let path = own_path(&own).ok_or("no delegated cgroup v2 (hybrid cgroup v1 layout here)")?;
    let dir = Path::new(ROOT).join(path.trim_start_matches('/'));
    let control = std::fs::read_to_string(dir.join("cgroup.subtree_control"))
        .map_err(|e| format!("no delegated cgroup v2 ({}: {e})", dir.display()))?;
    let enabled: Vec<&str> = control.split_whitespace().collect();
    if !(enabled.contains(&"memory") && enabled.contains(&"pids")) {
        return Err(format!(
            "no delegated cgroup v2: {} does not give its children the memory and pids controllers",
            dir.display()
        ));
    }
    if rustix::fs::access(&dir, rustix::fs::Access::WRITE_OK).is_err() {
        return Err(format!(
            "no delegated cgroup v2: {} is not writable",
            dir.display()
        ));
    }
    Ok(dir)
}

/// Removes the (empty) cgroup runner `pid` made for itself, once the host has reaped it. The
/// runner started in this process's cgroup, so its child cgroup is beneath ours.
pub(super) fn remove(pid: u32) {
    if let Ok(parent) = delegated() {
        let child = parent.join(format!("switchboard-runner-{pid}"));
        if child.is_dir() {
            if let Err(e) = std::fs::remove_dir(&child) {
                tracing::warn!(target: "switchboard::isolation", "cannot remove {}: {e}", child.display());
            }
        }
    }
}

pub(super) fn apply(memory: Option<u64>) -> Result<String, Inactive> {
    let parent = delegated().map_err(Inactive::Unavailable)?;
    let pid = std::process::id();
    let child = parent.join(format!("switchboard-runner-{pid}"));
    let write = |file: &str, value: String| {
        std::fs::write(child.join(file), value).map_err(|e| format!("{file}: {e}"))
    };
    let made = std::fs::create_dir(&child)
        .map_err(|e| format!("creating {}: {e}", child.display()))
        .and_then(|()| {
            if let Some(bytes) = memory {
                write("memory.max", bytes.to_string())?;
            }
            write("pids.max", PIDS_MAX.to_string())?;
            write("cgroup.procs", pid.to_string())
        });
    match made {
        Ok(()) => Ok(format!(
            "cgroup v2 {}: memory.max {}, pids.max {PIDS_MAX}",
            child.display(),
            memory.map_or_else(|| "unchanged".into(), |b| b.to_string())
        )),
        Err(why) => {
            let _ = std::fs::remove_dir(&child);
            Err(Inactive::Failed(why))
        }
    }
}

pub(super) fn probe() -> LayerStatus {
    match delegated() {
        Ok(dir) => LayerStatus::new(
            Layer::Cgroup,
            true,
            format!("available: delegated cgroup v2 {}", dir.display()),
        ),
        Err(why) => LayerStatus::new(Layer::Cgroup, false, why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_pure_v2_layout_names_a_cgroup() {
        assert_eq!(own_path("0::/user.slice/app\n"), Some("/user.slice/app"));
        assert_eq!(own_path("12:memory:/x\n0::/y\n"), None);
        assert_eq!(own_path("0::/y\n1:name=systemd:/y\n"), None);
        assert_eq!(own_path(""), None);
    }
}
