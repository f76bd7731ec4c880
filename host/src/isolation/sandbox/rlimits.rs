//! [`Layer::Rlimits`](super::Layer::Rlimits): address space, CPU seconds, open files, file
//! size, and no core dumps. Limits are only ever lowered: a runner inherits the host's, and
//! a spec asking for more than that keeps the inherited one.
//!
//! CPU: the soft limit is the granted seconds and the hard limit one more. At the soft limit
//! the kernel sends `SIGXCPU`, whose default action kills the runner (nothing in it catches
//! the signal); should plugin code catch or ignore it, `SIGKILL` follows at the hard limit.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

use super::{Inactive, LayerStatus, RlimitSpec};

/// One limit to set: resource, soft, hard (`None`: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Wanted {
    resource: Resource,
    name: &'static str,
    soft: u64,
    hard: u64,
}

fn wanted(spec: &RlimitSpec) -> Vec<Wanted> {
    let mut out = Vec::new();
    let mut push = |resource, name, soft, hard| {
        out.push(Wanted {
            resource,
            name,
            soft,
            hard,
        })
    };
    if let Some(bytes) = spec.memory_bytes {
        // RLIMIT_DATA, not RLIMIT_AS: since Linux 4.7 it counts the heap and every private
        // writable mapping — what a plugin allocates — but not address space merely reserved
        // (malloc arenas, guard pages), which under RLIMIT_AS fails thread creation long
        // before the plugin uses its memory.
        push(Resource::Data, "memory (data)", bytes, bytes);
    }
    if let Some(secs) = spec.cpu_seconds {
        push(Resource::Cpu, "CPU seconds", secs, secs.saturating_add(1));
    }
    if let Some(n) = spec.open_files {
        push(Resource::Nofile, "open files", n, n);
    }
    if let Some(bytes) = spec.file_size_bytes {
        push(Resource::Fsize, "file size", bytes, bytes);
    }
    push(Resource::Core, "core size", 0, 0);
    out
}

/// The limit to set, given the current one: never above it (`None` is unlimited).
fn lowered(current: &Rlimit, soft: u64, hard: u64) -> Rlimit {
    let min = |limit: Option<u64>, want: u64| Some(limit.map_or(want, |l| l.min(want)));
    let maximum = min(current.maximum, hard);
    let current = min(current.current, soft).min(maximum);
    Rlimit { current, maximum }
}

fn show(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".into(), |n| n.to_string())
}

pub(super) fn apply(spec: &RlimitSpec) -> Result<String, Inactive> {
    let mut set = Vec::new();
    for w in wanted(spec) {
        let new = lowered(&getrlimit(w.resource), w.soft, w.hard);
        setrlimit(w.resource, new)
            .map_err(|e| Inactive::Failed(format!("setrlimit({}): {e}", w.name)))?;
        set.push(format!(
            "{} {}/{}",
            w.name,
            show(new.current),
            show(new.maximum)
        ));
    }
    Ok(format!("soft/hard: {}", set.join(", ")))
}

pub(super) fn probe() -> LayerStatus {
    LayerStatus::new(super::Layer::Rlimits, true, "available (setrlimit)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_only_lowered() {
        let unlimited = Rlimit {
            current: None,
            maximum: None,
        };
        assert_eq!(
            lowered(&unlimited, 10, 11),
            Rlimit {
                current: Some(10),
                maximum: Some(11)
            }
        );
        let tight = Rlimit {
            current: Some(5),
            maximum: Some(8),
        };
        assert_eq!(lowered(&tight, 10, 11), tight);
        let soft_only = Rlimit {
            current: Some(4),
            maximum: None,
        };
        assert_eq!(
            lowered(&soft_only, 10, 11),
            Rlimit {
                current: Some(4),
                maximum: Some(11)
            }
        );
        let hard_below_soft = Rlimit {
            current: None,
            maximum: Some(7),
        };
        assert_eq!(
            lowered(&hard_below_soft, 10, 11),
            Rlimit {
                current: Some(7),
                maximum: Some(7)
            }
        );
    }

    #[test]
    fn cpu_kills_one_second_after_the_warning_and_cores_are_always_off() {
        let spec = RlimitSpec {
            cpu_seconds: Some(3),
            ..RlimitSpec::default()
        };
        let w = wanted(&spec);
        assert_eq!((w[0].resource, w[0].soft, w[0].hard), (Resource::Cpu, 3, 4));
        assert_eq!(
            w.last().map(|w| (w.resource, w.soft, w.hard)),
            Some((Resource::Core, 0, 0))
        );
        assert_eq!(wanted(&RlimitSpec::default()).len(), 1);
    }
}
