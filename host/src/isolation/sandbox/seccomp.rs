//! [`Layer::Seccomp`](super::Layer::Seccomp): seccomp-bpf filters (compiled by `seccompiler`)
//! that let everything through but what a plugin never needs, which fails with `EPERM`:
//!
//! - debugging and reaching other processes: `ptrace`, `process_vm_readv`/`writev`,
//!   `pidfd_getfd`, `kcmp`, `process_madvise`, `migrate_pages`, `move_pages`;
//! - signals to any process but the runner itself: `kill`, `tkill`, `tgkill`,
//!   `rt_sigqueueinfo`, `rt_tgsigqueueinfo`, `pidfd_open` are refused unless their target pid
//!   is the runner's (so `abort()` — `tgkill(getpid(), gettid(), SIGABRT)` — still crashes
//!   cleanly); `pidfd_send_signal` always, its target cannot be checked. With `process.spawn`
//!   and Landlock's signal scope, the kill family is left to the scope, so a plugin can signal
//!   the children it spawned;
//! - other processes' limits and scheduling: `prlimit64` on another pid, `setpriority`,
//!   `sched_setscheduler`, `sched_setparam`, `sched_setattr`, `ioprio_set`;
//! - the machine: mounts (`mount`, `umount2`, `pivot_root`, `chroot`, and the new mount API),
//!   `kexec_*`, modules, `reboot`, `swapon`/`swapoff`, `acct`, `quotactl*`, clocks
//!   (`settimeofday`, `clock_settime`, `clock_adjtime`, `adjtimex`), `sethostname`,
//!   `setdomainname`, `syslog`, `vhangup`, and on x86-64 `iopl`, `ioperm`, `uselib`;
//! - kernel attack surface: `bpf`, `io_uring_*`, `perf_event_open`, `userfaultfd`,
//!   `keyctl`/`add_key`/`request_key`, `personality`, `open_by_handle_at`,
//!   `name_to_handle_at`, and namespaces (`setns`, `unshare`);
//! - without `process.spawn`: `execve`, `execveat`, `fork`, `vfork`, and `clone` without
//!   `CLONE_THREAD` (threads keep working); `clone3`, whose flags sit in memory a filter cannot
//!   read, fails with `ENOSYS` so the C library falls back to `clone`.
//!
//! A syscall of another architecture's ABI (i386 `int 0x80`) kills the process
//! (`seccompiler`'s architecture check), and so does one of the x32 ABI (a filter of our own).
//! The filters are installed last, on the single thread of the runner, so every thread the
//! plugin starts inherits them.

use std::collections::BTreeMap;

use seccompiler::{
    sock_filter, BackendError, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp,
    SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

use super::{Inactive, Layer, LayerStatus};

#[cfg(target_arch = "x86_64")]
const ARCH: Option<TargetArch> = Some(TargetArch::x86_64);
#[cfg(target_arch = "aarch64")]
const ARCH: Option<TargetArch> = Some(TargetArch::aarch64);
#[cfg(target_arch = "riscv64")]
const ARCH: Option<TargetArch> = Some(TargetArch::riscv64);
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
)))]
const ARCH: Option<TargetArch> = None;

/// Denied whatever their arguments.
const ALWAYS: &[i64] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_getfd,
    libc::SYS_pidfd_send_signal,
    libc::SYS_kcmp,
    libc::SYS_process_madvise,
    libc::SYS_migrate_pages,
    libc::SYS_move_pages,
    libc::SYS_setpriority,
    libc::SYS_sched_setscheduler,
    libc::SYS_sched_setparam,
    libc::SYS_sched_setattr,
    libc::SYS_ioprio_set,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_quotactl_fd,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_syslog,
    libc::SYS_vhangup,
    libc::SYS_bpf,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_personality,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_setns,
    libc::SYS_unshare,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_uselib,
];

/// Denied unless the first argument (a pid) is the runner's own.
const SIGNALS: &[i64] = &[
    libc::SYS_kill,
    libc::SYS_tkill,
    libc::SYS_tgkill,
    libc::SYS_rt_sigqueueinfo,
    libc::SYS_rt_tgsigqueueinfo,
    libc::SYS_pidfd_open,
];

/// Denied without `process.spawn` (`clone` only without `CLONE_THREAD`).
const SPAWN: &[i64] = &[
    libc::SYS_execve,
    libc::SYS_execveat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_fork,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_vfork,
];

/// The rule maps of the two filters: syscalls failing with `EPERM`, and with `ENOSYS`.
#[derive(Debug, Default)]
struct Rules {
    eperm: BTreeMap<i64, Vec<SeccompRule>>,
    enosys: BTreeMap<i64, Vec<SeccompRule>>,
}

fn cond(
    index: u8,
    len: SeccompCmpArgLen,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompCondition, BackendError> {
    SeccompCondition::new(index, len, op, value)
}

fn rules(pid: u32, allow_exec: bool, signals_scoped: bool) -> Result<Rules, BackendError> {
    let mut r = Rules::default();
    for nr in ALWAYS {
        r.eperm.insert(*nr, Vec::new());
    }
    let not_me = || cond(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, u64::from(pid));
    if !(allow_exec && signals_scoped) {
        for nr in SIGNALS {
            r.eperm
                .insert(*nr, vec![SeccompRule::new(vec![not_me()?])?]);
        }
    }
    // prlimit64(0, …) and prlimit64(getpid(), …) are the runner's own limits.
    r.eperm.insert(
        libc::SYS_prlimit64,
        vec![SeccompRule::new(vec![
            not_me()?,
            cond(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, 0)?,
        ])?],
    );
    if !allow_exec {
        for nr in SPAWN {
            r.eperm.insert(*nr, Vec::new());
        }
        let thread = u64::from(libc::CLONE_THREAD.unsigned_abs());
        r.eperm.insert(
            libc::SYS_clone,
            vec![SeccompRule::new(vec![cond(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(thread),
                0,
            )?])?],
        );
        r.enosys.insert(libc::SYS_clone3, Vec::new());
    }
    Ok(r)
}

fn compile(
    map: BTreeMap<i64, Vec<SeccompRule>>,
    errno: i32,
    arch: TargetArch,
) -> Result<BpfProgram, BackendError> {
    let filter = SeccompFilter::new(
        map,
        SeccompAction::Allow,
        SeccompAction::Errno(errno.unsigned_abs()),
        arch,
    )?;
    BpfProgram::try_from(filter)
}

/// Kills a process making an x32-ABI syscall (`__X32_SYSCALL_BIT` set): the other filters
/// match syscall numbers of the x86-64 ABI only, and x32 numbers would slip past them.
#[cfg(target_arch = "x86_64")]
fn x32_guard() -> BpfProgram {
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const JGE_K: u16 = 0x35;
    const RET_K: u16 = 0x06;
    const ARCH_OFFSET: u32 = 4;
    const NR_OFFSET: u32 = 0;
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    let op = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    vec![
        op(LD_W_ABS, 0, 0, ARCH_OFFSET),
        op(JEQ_K, 0, 3, AUDIT_ARCH_X86_64),
        op(LD_W_ABS, 0, 0, NR_OFFSET),
        op(JGE_K, 0, 1, X32_SYSCALL_BIT),
        op(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

#[cfg(not(target_arch = "x86_64"))]
fn x32_guard() -> BpfProgram {
    Vec::new()
}

pub(super) fn apply(allow_exec: bool, signals_scoped: bool) -> Result<String, Inactive> {
    let Some(arch) = ARCH else {
        return Err(Inactive::Unavailable(format!(
            "no seccomp filter compiler for {}",
            std::env::consts::ARCH
        )));
    };
    let pid = rustix::process::getpid()
        .as_raw_nonzero()
        .get()
        .unsigned_abs();
    let compiled = rules(pid, allow_exec, signals_scoped).and_then(|r| {
        let denied = r.eperm.len();
        let eperm = compile(r.eperm, libc::EPERM, arch)?;
        let enosys = if r.enosys.is_empty() {
            None
        } else {
            Some(compile(r.enosys, libc::ENOSYS, arch)?)
        };
        Ok((denied, eperm, enosys))
    });
    let (denied, eperm, enosys) =
        compiled.map_err(|e| Inactive::Failed(format!("compiling the filter: {e}")))?;
    let guard = x32_guard();
    let programs = [Some(guard), enosys, Some(eperm)];
    for program in programs.iter().flatten().filter(|p| !p.is_empty()) {
        seccompiler::apply_filter(program).map_err(|e| match e {
            seccompiler::Error::Seccomp(io) if io.raw_os_error() == Some(libc::EINVAL) => {
                Inactive::Unavailable(format!("seccomp filters unsupported here: {io}"))
            }
            other => Inactive::Failed(format!("installing the filter: {other}")),
        })?;
    }
    let spawn = if allow_exec {
        "exec and fork allowed (process.spawn)"
    } else {
        "no exec, no fork (threads only), clone3 → ENOSYS"
    };
    let signals = if allow_exec && signals_scoped {
        "signals left to Landlock's scope"
    } else {
        "signals to itself only"
    };
    Ok(format!(
        "seccomp-bpf: {denied} syscalls refused with EPERM (some by argument); {spawn}; {signals}"
    ))
}

pub(super) fn probe() -> LayerStatus {
    if ARCH.is_none() {
        return LayerStatus::new(
            Layer::Seccomp,
            false,
            format!("no seccomp filter compiler for {}", std::env::consts::ARCH),
        );
    }
    match rustix::thread::secure_computing_mode() {
        Ok(_) => LayerStatus::new(Layer::Seccomp, true, "available (seccomp-bpf)"),
        Err(e) => LayerStatus::new(
            Layer::Seccomp,
            false,
            format!("seccomp is not in this kernel: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_spawn_exec_and_process_clones_are_denied_and_clone3_falls_back() {
        let r = rules(42, false, true).unwrap();
        assert!(r.eperm.contains_key(&libc::SYS_execve));
        assert!(r.eperm.contains_key(&libc::SYS_execveat));
        assert_eq!(r.eperm[&libc::SYS_clone].len(), 1, "clone is conditional");
        assert!(r.enosys.contains_key(&libc::SYS_clone3));
        assert_eq!(r.enosys.len(), 1);
    }

    #[test]
    fn with_spawn_exec_clone_and_clone3_pass() {
        let r = rules(42, true, false).unwrap();
        for nr in [libc::SYS_execve, libc::SYS_clone] {
            assert!(!r.eperm.contains_key(&nr));
        }
        assert!(r.enosys.is_empty());
        // Without Landlock's scope, signals stay confined to the runner by the filter.
        assert!(r.eperm.contains_key(&libc::SYS_kill));
        assert!(!rules(42, true, true)
            .unwrap()
            .eperm
            .contains_key(&libc::SYS_kill));
    }

    #[test]
    fn the_brief_list_is_denied_unconditionally() {
        let r = rules(42, true, true).unwrap();
        for nr in [
            libc::SYS_ptrace,
            libc::SYS_process_vm_readv,
            libc::SYS_process_vm_writev,
            libc::SYS_mount,
            libc::SYS_bpf,
            libc::SYS_io_uring_setup,
            libc::SYS_perf_event_open,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_userfaultfd,
            libc::SYS_pidfd_send_signal,
        ] {
            assert!(r.eperm.get(&nr).is_some_and(Vec::is_empty), "{nr}");
        }
    }

    #[test]
    fn the_filters_compile_for_this_architecture() {
        let arch = ARCH.unwrap();
        let r = rules(42, false, false).unwrap();
        assert!(!compile(r.eperm, libc::EPERM, arch).unwrap().is_empty());
        assert!(!compile(r.enosys, libc::ENOSYS, arch).unwrap().is_empty());
    }
}
