//! [`Layer::Landlock`](super::Layer::Landlock) and
//! [`Layer::LandlockNet`](super::Layer::LandlockNet): one Landlock ruleset, handling every
//! filesystem right of the kernel's ABI, every TCP right (ABI 4 and later) and the signal and
//! abstract-unix-socket scopes (ABI 6 and later).
//!
//! Allowed beneath: what the dynamic loader needs to load a library and its dependencies
//! (`/lib`, `/lib64`, `/usr/lib`, `/usr/lib64` read and execute, `/etc/ld.so.cache` read),
//! `/dev/null` (read, write) and `/dev/urandom` (read); with `process.spawn` also `/bin` and
//! `/usr/bin` (read, execute); then the granted paths, read-only or read-write. Nothing else
//! of `/proc`, `/etc`, `/home` or `/tmp`. Files the runner already has open stay usable, and
//! the sealed memfd of the plugin image reopens through `/proc/self/fd/N`: memfds live in an
//! internal filesystem Landlock does not restrict, and it checks the file opened, not the path
//! walked (`tests/all/sandbox.rs` proves both on the machine that runs it).
//!
//! TCP: binding is denied, connecting only to the granted ports. UDP, raw sockets and unix
//! sockets are not TCP: the network namespace (no network grant) or seccomp stop them, or
//! nothing does. The scopes keep the plugin from signalling any process outside its Landlock
//! domain (the host included) and from connecting to abstract unix sockets made outside it.

use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetError, RulesetStatus, Scope, ABI,
};

use super::{Inactive, Layer, LayerStatus, SandboxSpec};

/// What the loader needs, read and execute.
const LOADER_DIRS: [&str; 4] = ["/lib", "/lib64", "/usr/lib", "/usr/lib64"];
/// What running programs needs besides, with `process.spawn`.
const EXEC_DIRS: [&str; 2] = ["/bin", "/usr/bin"];

/// How much a rule allows beneath its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    /// Read files, list directories, execute.
    ReadExec,
    /// Read files, list directories.
    Read,
    /// Everything but execute.
    ReadWrite,
    /// Read and write (and truncate) a file: `/dev/null`.
    ReadWriteFile,
}

impl Grant {
    fn access(self, abi: ABI, is_dir: bool) -> BitFlags<AccessFs> {
        let all = AccessFs::from_all(abi);
        let wanted = match self {
            Grant::ReadExec => AccessFs::from_read(abi),
            Grant::Read => AccessFs::ReadFile | AccessFs::ReadDir,
            Grant::ReadWrite => all & !AccessFs::Execute,
            Grant::ReadWriteFile => AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate,
        };
        let legit = if is_dir {
            all
        } else {
            AccessFs::from_file(abi)
        };
        wanted & legit
    }
}

/// The rules to add: the runner's own needs and the grants present on this machine.
#[derive(Debug, Default, PartialEq, Eq)]
struct PathPlan {
    rules: Vec<(PathBuf, Grant)>,
    /// Granted paths that do not exist (skipped).
    missing: Vec<PathBuf>,
    /// Granted paths present, read-only and read-write.
    read: usize,
    write: usize,
}

fn plan(spec: &SandboxSpec, exists: impl Fn(&Path) -> bool) -> PathPlan {
    let mut plan = PathPlan::default();
    let system = LOADER_DIRS
        .iter()
        .map(|p| (*p, Grant::ReadExec))
        .chain(
            EXEC_DIRS
                .iter()
                .filter(|_| spec.allow_exec)
                .map(|p| (*p, Grant::ReadExec)),
        )
        .chain([
            ("/etc/ld.so.cache", Grant::Read),
            ("/dev/urandom", Grant::Read),
            ("/dev/null", Grant::ReadWriteFile),
        ]);
    for (path, grant) in system {
        let path = Path::new(path);
        if exists(path) {
            plan.rules.push((path.to_path_buf(), grant));
        }
    }
    let granted = spec
        .read_paths
        .iter()
        .map(|p| (p, Grant::Read))
        .chain(spec.write_paths.iter().map(|p| (p, Grant::ReadWrite)));
    for (path, grant) in granted {
        if !exists(path) {
            plan.missing.push(path.clone());
            continue;
        }
        match grant {
            Grant::ReadWrite => plan.write += 1,
            _ => plan.read += 1,
        }
        plan.rules.push((path.clone(), grant));
    }
    plan
}

/// The outcome of the one ruleset, per reported layer.
pub(super) struct Confined {
    pub(super) fs: Result<String, Inactive>,
    pub(super) net: Result<String, Inactive>,
    /// Whether signals to processes outside the domain are refused by Landlock.
    pub(super) signals_scoped: bool,
}

pub(super) fn apply(spec: &SandboxSpec) -> Confined {
    let kernel = kernel_abi();
    if kernel < 1 {
        let why = || "Landlock is not enabled in this kernel".to_string();
        return Confined {
            fs: Err(Inactive::Unavailable(why())),
            net: Err(Inactive::Unavailable(why())),
            signals_scoped: false,
        };
    }
    // The kernel's ABI, capped at the newest this crate knows: every right the kernel offers.
    let abi = ABI::from(kernel);
    let plan = plan(spec, |p| p.exists());
    match restrict(spec, abi, &plan) {
        Ok(status) => describe(spec, abi, &plan, status),
        Err(e) => {
            let why = || format!("Landlock ruleset: {e}");
            Confined {
                fs: Err(Inactive::Failed(why())),
                net: Err(Inactive::Failed(why())),
                signals_scoped: false,
            }
        }
    }
}

fn restrict(spec: &SandboxSpec, abi: ABI, plan: &PathPlan) -> Result<RulesetStatus, RulesetError> {
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))?;
    if abi >= ABI::V4 {
        // A grant spanning too many ports to list leaves connect unhandled (bind still is).
        ruleset = ruleset.handle_access(if spec.tcp_connect_any {
            AccessNet::BindTcp.into()
        } else {
            AccessNet::from_all(abi)
        })?;
    }
    if abi >= ABI::V6 {
        ruleset = ruleset.scope(Scope::from_all(abi))?;
    }
    let mut created = ruleset.create()?;
    for (path, grant) in &plan.rules {
        // A path that vanished since the plan is skipped like a missing one.
        let Ok(fd) = PathFd::new(path) else { continue };
        let is_dir = path.is_dir();
        created = created.add_rule(PathBeneath::new(fd, grant.access(abi, is_dir)))?;
    }
    if abi >= ABI::V4 && !spec.tcp_connect_any {
        for port in &spec.tcp_connect {
            created = created.add_rule(NetPort::new(*port, AccessNet::ConnectTcp))?;
        }
    }
    Ok(created.restrict_self()?.ruleset)
}

fn describe(spec: &SandboxSpec, abi: ABI, plan: &PathPlan, status: RulesetStatus) -> Confined {
    let enforced = match status {
        RulesetStatus::FullyEnforced => "fully enforced",
        RulesetStatus::PartiallyEnforced => "partially enforced",
        RulesetStatus::NotEnforced => {
            let why = || format!("Landlock ABI {abi}: the ruleset was not enforced");
            return Confined {
                fs: Err(Inactive::Unavailable(why())),
                net: Err(Inactive::Unavailable(why())),
                signals_scoped: false,
            };
        }
    };
    let mut fs = format!(
        "filesystem: {} read, {} read-write paths; ABI {abi}, {enforced}",
        plan.read, plan.write
    );
    if !plan.missing.is_empty() {
        let missing: Vec<String> = plan
            .missing
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        fs.push_str(&format!("; skipped (missing): {}", missing.join(", ")));
    }
    let signals_scoped = abi >= ABI::V6;
    if signals_scoped {
        fs.push_str("; signals and abstract unix sockets scoped to the sandbox");
    }
    let net = if abi >= ABI::V4 {
        Ok(if spec.tcp_connect_any {
            "TCP: no bind; connect not limited by port (a grant spans more ports than are \
             listed one by one)"
                .to_string()
        } else if spec.tcp_connect.is_empty() {
            "TCP: no bind, no connect".to_string()
        } else {
            let ports: Vec<String> = spec.tcp_connect.iter().map(u16::to_string).collect();
            format!("TCP: no bind; connect to port {} only", ports.join(", "))
        })
    } else {
        Err(Inactive::Unavailable(format!(
            "Landlock ABI {abi} has no TCP rules (ABI 4 has)"
        )))
    };
    Confined {
        fs: Ok(fs),
        net,
        signals_scoped,
    }
}

/// The kernel's Landlock ABI version; 0 where Landlock is missing or disabled.
#[expect(
    unsafe_code,
    reason = "the landlock crate keeps its ABI query private; a raw syscall"
)]
fn kernel_abi() -> i32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute, size 0 and the VERSION flag the kernel reads no memory and
    // creates nothing; it returns the ABI version or -1 (ENOSYS, EOPNOTSUPP).
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    i32::try_from(v).unwrap_or(0).max(0)
}

pub(super) fn probe() -> (LayerStatus, LayerStatus) {
    let kernel = kernel_abi();
    if kernel < 1 {
        let why = "Landlock is not enabled in this kernel";
        return (
            LayerStatus::new(Layer::Landlock, false, why),
            LayerStatus::new(Layer::LandlockNet, false, why),
        );
    }
    let fs = LayerStatus::new(
        Layer::Landlock,
        true,
        format!(
            "available: Landlock ABI {kernel}{}",
            if kernel >= 6 {
                " (with signal and abstract-socket scopes)"
            } else {
                ""
            }
        ),
    );
    let net = if kernel >= 4 {
        LayerStatus::new(
            Layer::LandlockNet,
            true,
            format!("available: Landlock ABI {kernel}"),
        )
    } else {
        LayerStatus::new(
            Layer::LandlockNet,
            false,
            format!("Landlock ABI {kernel} has no TCP rules (ABI 4 has)"),
        )
    };
    (fs, net)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SandboxSpec {
        SandboxSpec {
            read_paths: vec!["/data/in".into(), "/gone".into()],
            write_paths: vec!["/data/out".into()],
            ..SandboxSpec::default()
        }
    }

    #[test]
    fn missing_grants_are_skipped_and_noted_and_the_rest_counted() {
        let p = plan(&spec(), |p| p != Path::new("/gone"));
        assert_eq!(p.missing, vec![PathBuf::from("/gone")]);
        assert_eq!((p.read, p.write), (1, 1));
        assert!(p
            .rules
            .contains(&(PathBuf::from("/data/out"), Grant::ReadWrite)));
        assert!(p.rules.contains(&(PathBuf::from("/data/in"), Grant::Read)));
    }

    #[test]
    fn the_runner_gets_the_loader_paths_and_no_more() {
        let p = plan(&SandboxSpec::default(), |_| true);
        let paths: Vec<&Path> = p.rules.iter().map(|(p, _)| p.as_path()).collect();
        assert_eq!(
            paths,
            [
                "/lib",
                "/lib64",
                "/usr/lib",
                "/usr/lib64",
                "/etc/ld.so.cache",
                "/dev/urandom",
                "/dev/null"
            ]
            .map(Path::new)
        );
        assert!(!paths
            .iter()
            .any(|p| p.starts_with("/proc") || p.starts_with("/tmp")));
        let with_exec = plan(
            &SandboxSpec {
                allow_exec: true,
                ..SandboxSpec::default()
            },
            |_| true,
        );
        assert!(with_exec
            .rules
            .contains(&(PathBuf::from("/usr/bin"), Grant::ReadExec)));
    }

    #[test]
    fn system_paths_missing_here_are_not_reported_as_missing_grants() {
        let p = plan(&SandboxSpec::default(), |p| p != Path::new("/lib64"));
        assert!(p.missing.is_empty());
        assert!(!p.rules.iter().any(|(p, _)| p == Path::new("/lib64")));
    }

    #[test]
    fn rights_fit_files_and_never_execute_granted_paths() {
        let abi = ABI::V7;
        assert!(!Grant::ReadWrite
            .access(abi, true)
            .contains(AccessFs::Execute));
        assert!(!Grant::Read.access(abi, true).contains(AccessFs::WriteFile));
        let file = Grant::ReadWrite.access(abi, false);
        assert!(!file.contains(AccessFs::ReadDir) && !file.contains(AccessFs::MakeReg));
        assert!(file.contains(AccessFs::WriteFile));
        // ABI 1 has no truncate right: asking for it on /dev/null must not be an error.
        assert!(!Grant::ReadWriteFile
            .access(ABI::V1, false)
            .contains(AccessFs::Truncate));
    }
}
