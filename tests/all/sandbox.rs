//! The sandbox an isolated plugin's runner applies to itself (ARCHITECTURE D13), proved in real
//! child processes: `sandbox_probe` applies a `SandboxSpec` to itself, then tries one operation
//! with raw system calls; each forbidden operation must fail (or kill the probe) and each
//! allowed one succeed. The tests require the layers they rely on, so a machine without one
//! fails loudly (`SB1520`) instead of passing vacuously.

use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus};

use serde_json::Value;
use switchboard_host::isolation::sandbox::{self, Layer, LayerStatus, RlimitSpec, SandboxSpec};

const EPERM: i64 = 1;
const EACCES: i64 = 13;
const ENOSYS: i64 = 38;
const ENETUNREACH: i64 = 101;

/// What one probe run printed and how it ended.
struct Run {
    statuses: Vec<LayerStatus>,
    /// `{"op","ok","errno","detail"}`, or the error of `apply`.
    outcome: Value,
    status: ExitStatus,
}

impl Run {
    fn ok(&self) -> bool {
        self.outcome["ok"] == Value::Bool(true)
    }

    fn errno(&self) -> Option<i64> {
        self.outcome["errno"].as_i64()
    }

    fn status_of(&self, layer: Layer) -> &LayerStatus {
        self.statuses
            .iter()
            .find(|s| s.layer == layer)
            .unwrap_or_else(|| panic!("{layer:?} not reported: {:?}", self.statuses))
    }

    #[track_caller]
    fn assert_refused(&self, errno: i64) {
        assert!(
            !self.ok() && self.errno() == Some(errno),
            "expected errno {errno}, got {} ({:?})",
            self.outcome,
            self.status
        );
        assert_eq!(self.status.code(), Some(1));
    }

    #[track_caller]
    fn assert_allowed(&self) {
        assert!(self.ok(), "expected success, got {}", self.outcome);
        assert_eq!(self.status.code(), Some(0));
    }
}

/// Every layer this machine is expected to have (issue 16's machine facts), required.
fn strict() -> SandboxSpec {
    SandboxSpec {
        required: vec![
            Layer::Landlock,
            Layer::LandlockNet,
            Layer::Seccomp,
            Layer::Rlimits,
            Layer::NoNewPrivs,
        ],
        ..SandboxSpec::default()
    }
}

fn run(spec: &SandboxSpec, op: &str, arg: &str) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_sandbox_probe"))
        .arg(serde_json::to_string(spec).unwrap())
        .args([op, arg])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = stdout.lines();
    let first: Value = lines
        .next()
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap_or(Value::Null);
    let (statuses, outcome) = match first.get("statuses") {
        Some(s) => (
            serde_json::from_value(s.clone()).unwrap(),
            lines
                .next()
                .map(|l| serde_json::from_str(l).unwrap())
                .unwrap_or(Value::Null),
        ),
        None => (Vec::new(), first),
    };
    Run {
        statuses,
        outcome,
        status: out.status,
    }
}

fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

#[test]
fn probe_reports_what_this_machine_has_without_applying_anything() {
    let probe = sandbox::probe();
    let of = |layer| probe.iter().find(|s| s.layer == layer).unwrap();
    assert_eq!(probe.len(), Layer::ALL.len());
    assert!(of(Layer::Landlock).active, "{probe:?}");
    assert!(of(Layer::Landlock).detail.contains("ABI"));
    assert!(of(Layer::Seccomp).active);
    if !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let cgroup = of(Layer::Cgroup);
        assert!(!cgroup.active);
        assert_eq!(cgroup.detail, "no delegated cgroup v2 (cgroup v1 here)");
    }
    // Nothing was applied to this (the test) process.
    assert!(std::fs::read("/etc/hostname").is_ok());
}

#[test]
fn every_layer_is_reported_and_the_required_ones_are_in_force() {
    let mut spec = strict();
    spec.required.push(Layer::NetNamespace);
    let r = run(&spec, "none", "");
    r.assert_allowed();
    let mut layers: Vec<Layer> = r.statuses.iter().map(|s| s.layer).collect();
    layers.sort();
    let mut all = Layer::ALL.to_vec();
    all.sort();
    assert_eq!(layers, all);
    for layer in &spec.required {
        assert!(r.status_of(*layer).active, "{:?}", r.status_of(*layer));
    }
    let landlock = &r.status_of(Layer::Landlock).detail;
    assert!(landlock.contains("fully enforced"), "{landlock}");
}

#[test]
fn a_required_layer_this_machine_lacks_refuses_the_start_with_sb1520() {
    let spec = SandboxSpec {
        required: vec![Layer::Cgroup],
        ..SandboxSpec::default()
    };
    let r = run(&spec, "none", "");
    let cgroup_here = sandbox::probe()
        .iter()
        .any(|s| s.layer == Layer::Cgroup && s.active);
    if cgroup_here {
        r.assert_allowed();
    } else {
        assert_eq!(r.status.code(), Some(3), "{}", r.outcome);
        assert_eq!(r.outcome["code"], "SB1520");
        assert_eq!(r.outcome["error"]["layer"], "cgroup");
    }
}

#[test]
fn a_process_that_already_has_threads_is_refused_with_sb1521() {
    let r = run(&SandboxSpec::default(), "threaded", "");
    assert_eq!(r.status.code(), Some(3), "{}", r.outcome);
    assert_eq!(r.outcome["code"], "SB1521");
    assert!(r.outcome["error"]["reason"]
        .as_str()
        .unwrap()
        .contains("2 threads"));
}

#[test]
fn files_outside_the_allowlist_can_be_neither_read_nor_written() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "s").unwrap();
    run(&strict(), "read", "/etc/hostname").assert_refused(EACCES);
    run(&strict(), "read", "/proc/self/status").assert_refused(EACCES);
    let secret = outside.path().join("secret");
    run(&strict(), "read", secret.to_str().unwrap()).assert_refused(EACCES);
    let new = outside.path().join("new");
    run(&strict(), "write", new.to_str().unwrap()).assert_refused(EACCES);
    assert!(!new.exists());
}

#[test]
fn granted_directories_are_readable_and_writable_as_granted() {
    let read = tempfile::tempdir().unwrap();
    let write = tempfile::tempdir().unwrap();
    std::fs::write(read.path().join("in"), "data").unwrap();
    let spec = SandboxSpec {
        read_paths: vec![read.path().into()],
        write_paths: vec![write.path().into()],
        ..strict()
    };
    let path = |dir: &tempfile::TempDir, f: &str| dir.path().join(f).display().to_string();
    let r = run(&spec, "read", &path(&read, "in"));
    r.assert_allowed();
    assert!(r
        .status_of(Layer::Landlock)
        .detail
        .starts_with("filesystem: 1 read, 1 read-write paths"));
    run(&spec, "write", &path(&read, "new")).assert_refused(EACCES);
    run(&spec, "write", &path(&write, "out")).assert_allowed();
    assert_eq!(std::fs::read(write.path().join("out")).unwrap(), b"x");
    run(&spec, "read", &path(&write, "out")).assert_allowed();
}

#[test]
fn a_missing_granted_path_is_skipped_and_noted() {
    let spec = SandboxSpec {
        read_paths: vec!["/no/such/switchboard/grant".into()],
        ..strict()
    };
    let r = run(&spec, "none", "");
    r.assert_allowed();
    let detail = &r.status_of(Layer::Landlock).detail;
    assert!(
        detail.contains("skipped (missing): /no/such/switchboard/grant"),
        "{detail}"
    );
    assert!(detail.starts_with("filesystem: 0 read"), "{detail}");
}

#[test]
fn tcp_connects_reach_granted_ports_only_and_nothing_binds() {
    let (_l, port) = listener();
    let granted = SandboxSpec {
        network: true,
        tcp_connect: vec![port],
        ..strict()
    };
    let r = run(&granted, "connect", &port.to_string());
    r.assert_allowed();
    assert_eq!(
        r.status_of(Layer::LandlockNet).detail,
        format!("TCP: no bind; connect to port {port} only")
    );
    assert!(!r.status_of(Layer::NetNamespace).active);
    let other = SandboxSpec {
        network: true,
        tcp_connect: vec![port.wrapping_add(1)],
        ..strict()
    };
    run(&other, "connect", &port.to_string()).assert_refused(EACCES);
    run(&granted, "bind", "").assert_refused(EACCES);
}

#[test]
fn without_a_network_grant_the_namespace_has_no_route_even_to_an_allowed_port() {
    let (_l, port) = listener();
    let spec = SandboxSpec {
        network: false,
        tcp_connect: vec![port],
        required: vec![Layer::NetNamespace],
        ..strict()
    };
    let r = run(&spec, "connect", &port.to_string());
    r.assert_refused(ENETUNREACH);
    assert!(r.status_of(Layer::NetNamespace).active);
}

#[test]
fn fork_and_exec_are_denied_without_process_spawn() {
    run(&strict(), "fork", "").assert_refused(EPERM);
    run(&strict(), "exec", "").assert_refused(EPERM);
}

#[test]
fn with_process_spawn_a_shell_runs_but_the_parent_still_cannot_be_signalled() {
    let spec = SandboxSpec {
        allow_exec: true,
        ..strict()
    };
    run(&spec, "fork", "").assert_allowed();
    let r = run(&spec, "exec", "");
    r.assert_allowed();
    assert_eq!(r.outcome["detail"], "sh ran");
    // The seccomp kill rules give way to Landlock's signal scope here; the scope holds.
    run(&spec, "kill-parent", "").assert_refused(EPERM);
}

#[test]
fn clone3_falls_back_with_enosys_and_io_uring_is_refused() {
    run(&strict(), "clone3", "").assert_refused(ENOSYS);
    run(&strict(), "io_uring", "").assert_refused(EPERM);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn an_x32_syscall_kills_the_runner() {
    let r = run(&strict(), "x32", "");
    assert_eq!(r.status.signal(), Some(libc::SIGSYS), "{:?}", r.status);
}

#[test]
fn threads_still_start() {
    run(&strict(), "thread", "").assert_allowed();
}

#[test]
fn abort_is_a_clean_sigabrt() {
    let r = run(&strict(), "abort", "");
    assert_eq!(r.status.signal(), Some(libc::SIGABRT), "{:?}", r.status);
}

#[test]
fn the_parent_can_be_neither_traced_nor_signalled_nor_read() {
    run(&strict(), "ptrace-parent", "").assert_refused(EPERM);
    run(&strict(), "kill-parent", "").assert_refused(EPERM);
    run(&strict(), "kill-group", "").assert_refused(EPERM);
    run(&strict(), "parent-environ", "").assert_refused(EACCES);
}

#[test]
fn the_plugin_image_memfd_reopens_through_proc_self_fd() {
    let r = run(&strict(), "memfd", "");
    r.assert_allowed();
    assert_eq!(r.outcome["detail"], "plugin image");
}

#[test]
fn a_library_in_a_memfd_loads_with_its_dependencies() {
    // libstdc++ pulls in libm and libgcc_s through /etc/ld.so.cache and /usr/lib.
    let lib = ["libstdc++.so.6", "libz.so.1"]
        .iter()
        .flat_map(|name| {
            [
                "/usr/lib/x86_64-linux-gnu",
                "/usr/lib/aarch64-linux-gnu",
                "/usr/lib64",
                "/usr/lib",
            ]
            .map(|dir| Path::new(dir).join(name))
        })
        .find(|p| p.exists())
        .expect("a system library to load");
    let r = run(&strict(), "dlopen-memfd", lib.to_str().unwrap());
    r.assert_allowed();
}

#[test]
fn rlimits_are_set_and_only_ever_lowered() {
    let current_nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let spec = SandboxSpec {
        rlimits: RlimitSpec {
            memory_bytes: Some(1 << 30),
            cpu_seconds: Some(5),
            open_files: Some(1 << 40),
            file_size_bytes: Some(1 << 20),
        },
        ..strict()
    };
    let r = run(&spec, "rlimits", "");
    r.assert_allowed();
    let limits: Value = serde_json::from_str(r.outcome["detail"].as_str().unwrap()).unwrap();
    assert_eq!(limits["data"], serde_json::json!([1u64 << 30, 1u64 << 30]));
    assert_eq!(limits["cpu"], serde_json::json!([5, 6]));
    assert_eq!(limits["fsize"], serde_json::json!([1 << 20, 1 << 20]));
    assert_eq!(limits["core"], serde_json::json!([0, 0]));
    // Asking for more open files than inherited keeps the inherited hard limit.
    assert_eq!(
        limits["nofile"][1],
        serde_json::json!(current_nofile.maximum)
    );
}

#[test]
fn memory_past_the_data_limit_is_refused() {
    let spec = SandboxSpec {
        rlimits: RlimitSpec {
            memory_bytes: Some(512 << 20),
            ..RlimitSpec::default()
        },
        ..strict()
    };
    let r = run(&spec, "alloc", &(1u64 << 30).to_string());
    assert!(!r.ok(), "{}", r.outcome);
    run(&spec, "alloc", &(1u64 << 20).to_string()).assert_allowed();
}

#[test]
fn cpu_past_the_limit_kills_the_runner() {
    let spec = SandboxSpec {
        rlimits: RlimitSpec {
            cpu_seconds: Some(1),
            ..RlimitSpec::default()
        },
        ..strict()
    };
    let r = run(&spec, "spin", "");
    let signal = r.status.signal();
    assert!(
        signal == Some(libc::SIGXCPU) || signal == Some(libc::SIGKILL),
        "{:?}",
        r.status
    );
}

#[test]
fn a_runner_whose_parent_is_gone_exits_at_once() {
    // The probe's parent is this test process, not pid 1: as if the host had died.
    let spec = SandboxSpec {
        parent_pid: Some(1),
        ..strict()
    };
    let r = run(&spec, "none", "");
    assert_eq!(r.status.code(), Some(sandbox::EXIT_PARENT_GONE));
    assert!(r.statuses.is_empty() && r.outcome.is_null());
    // Naming the real parent, it goes on.
    let spec = SandboxSpec {
        parent_pid: Some(std::process::id()),
        ..strict()
    };
    run(&spec, "none", "").assert_allowed();
}
