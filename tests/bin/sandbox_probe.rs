//! A child process for the sandbox tests in `tests/all/sandbox.rs`: applies the `SandboxSpec`
//! given as JSON in argv[1] to itself (`isolation::sandbox::apply`), prints the layer statuses
//! as one JSON line, then tries the operation named in argv[2] (argument in argv[3]) with raw
//! system calls — never through the host's services — and prints one JSON line saying whether
//! the OS allowed it: `{"op":…,"ok":…,"errno":…,"detail":…}`.
//!
//! Exit status: 0 allowed, 1 refused, 2 usage, 3 `apply` failed (its error printed instead
//! of the statuses). Operations that succeed by dying (`abort`, `spin`) end by a signal.

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a test helper process: the parent reads its JSON on stdout"
)]

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};

use serde_json::json;
use switchboard_host::isolation::sandbox::{self, SandboxSpec};

struct Outcome {
    ok: bool,
    errno: Option<i32>,
    detail: String,
}

fn from_io<T>(r: std::io::Result<T>, detail: impl FnOnce(T) -> String) -> Outcome {
    match r {
        Ok(v) => Outcome {
            ok: true,
            errno: None,
            detail: detail(v),
        },
        Err(e) => Outcome {
            ok: false,
            errno: e.raw_os_error(),
            detail: e.to_string(),
        },
    }
}

/// `rc == -1` is a refusal with `errno`.
fn from_rc(rc: i64) -> Outcome {
    if rc == -1 {
        from_io::<()>(Err(std::io::Error::last_os_error()), |()| String::new())
    } else {
        Outcome {
            ok: true,
            errno: None,
            detail: format!("returned {rc}"),
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: sandbox_probe SPEC_JSON OPERATION [ARGUMENT]");
    std::process::exit(2);
}

/// A memfd holding `bytes`, made before the sandbox like the runner's plugin image.
fn memfd_with(bytes: &[u8]) -> OwnedFd {
    let fd = rustix::fs::memfd_create("sandbox-probe", rustix::fs::MemfdFlags::CLOEXEC)
        .expect("memfd_create");
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes).expect("fill the memfd");
    OwnedFd::from(file)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(spec), Some(op)) = (args.get(1), args.get(2)) else {
        usage()
    };
    let arg = args.get(3).cloned().unwrap_or_default();
    let spec: SandboxSpec = serde_json::from_str(spec).expect("a SandboxSpec as JSON");
    let parent = std::os::unix::process::parent_id();

    // What the operation needs from before the sandbox.
    let memfd = match op.as_str() {
        "memfd" => Some(memfd_with(b"plugin image")),
        "dlopen-memfd" => Some(memfd_with(&std::fs::read(&arg).expect("read the library"))),
        _ => None,
    };
    if op == "threaded" {
        // A thread started before the sandbox, which would escape it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(());
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("the thread started");
    }

    match sandbox::apply(&spec) {
        Ok(statuses) => println!("{}", json!({ "statuses": statuses })),
        Err(e) => {
            println!(
                "{}",
                json!({ "error": e, "code": e.code().to_string(), "next": e.next_step() })
            );
            std::process::exit(3);
        }
    }
    let _ = std::io::stdout().flush();

    let outcome = match op.as_str() {
        "none" | "threaded" => from_rc(0),
        "read" => from_io(std::fs::read(&arg), |b| format!("{} bytes", b.len())),
        "write" => from_io(std::fs::write(&arg, b"x"), |()| "written".into()),
        "connect" => from_io(
            std::net::TcpStream::connect(("127.0.0.1", arg.parse::<u16>().expect("a port"))),
            |_| "connected".into(),
        ),
        "bind" => from_io(std::net::TcpListener::bind(("127.0.0.1", 0)), |l| {
            format!("bound {:?}", l.local_addr())
        }),
        "fork" => fork(),
        "exec" => exec(),
        "ptrace-parent" => ptrace_attach(parent),
        "kill-parent" => kill(i32::try_from(parent).expect("a pid")),
        "kill-group" => kill(0),
        "parent-environ" => from_io(std::fs::read(format!("/proc/{parent}/environ")), |b| {
            format!("{} bytes", b.len())
        }),
        "memfd" => {
            let fd = memfd.as_ref().expect("made above").as_raw_fd();
            from_io(std::fs::read(format!("/proc/self/fd/{fd}")), |b| {
                String::from_utf8_lossy(&b).into_owned()
            })
        }
        "dlopen-memfd" => dlopen(memfd.as_ref().expect("made above").as_raw_fd()),
        "thread" => match std::thread::spawn(|| 7).join() {
            Ok(n) => from_rc(n),
            Err(_) => from_rc(-1),
        },
        "abort" => std::process::abort(),
        "spin" => spin(),
        "alloc" => {
            let mut v: Vec<u8> = Vec::new();
            let bytes: usize = arg.parse().expect("a size");
            match v.try_reserve_exact(bytes) {
                Ok(()) => {
                    v.resize(bytes, 1);
                    from_rc(0)
                }
                Err(e) => Outcome {
                    ok: false,
                    errno: None,
                    detail: e.to_string(),
                },
            }
        }
        "rlimits" => rlimits(),
        "clone3" => clone3(),
        "io_uring" => {
            let mut params = [0u8; 120];
            // SAFETY: a zeroed `io_uring_params` of its full size; one entry.
            from_rc(unsafe { libc::syscall(libc::SYS_io_uring_setup, 1, params.as_mut_ptr()) })
        }
        #[cfg(target_arch = "x86_64")]
        "x32" => {
            const X32_SYSCALL_BIT: i64 = 0x4000_0000;
            // SAFETY: getpid through the x32 ABI: no arguments.
            from_rc(unsafe { libc::syscall(X32_SYSCALL_BIT | libc::SYS_getpid) })
        }
        _ => usage(),
    };
    println!(
        "{}",
        json!({ "op": op, "ok": outcome.ok, "errno": outcome.errno, "detail": outcome.detail })
    );
    let _ = std::io::stdout().flush();
    std::process::exit(if outcome.ok { 0 } else { 1 });
}

fn fork() -> Outcome {
    // SAFETY: the child calls only async-signal-safe `_exit`.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: ends the child at once, running nothing of the parent's.
        unsafe { libc::_exit(0) }
    }
    if pid > 0 {
        let mut status = 0;
        // SAFETY: waits for the child just made, with a valid status pointer.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    }
    from_rc(i64::from(pid))
}

fn exec() -> Outcome {
    let reply = r#"echo '{"op":"exec","ok":true,"errno":null,"detail":"sh ran"}'"#;
    let argv: Vec<CString> = ["sh", "-c", reply]
        .iter()
        .map(|s| CString::new(*s).expect("no NUL"))
        .collect();
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let path = CString::new("/bin/sh").expect("no NUL");
    // SAFETY: NUL-terminated strings and a null-terminated argument vector, alive for the call.
    let rc = unsafe { libc::execv(path.as_ptr(), ptrs.as_ptr()) };
    from_rc(i64::from(rc))
}

/// `clone3` as `fork` would: the child exits at once.
fn clone3() -> Outcome {
    // `struct clone_args` of Linux 5.5: flags, pidfd, child_tid, parent_tid, exit_signal,
    // stack, stack_size, tls.
    let mut args = [0u64; 8];
    args[4] = libc::SIGCHLD.unsigned_abs().into();
    // SAFETY: a valid `clone_args` of its size; the child only calls `_exit`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            args.as_mut_ptr(),
            std::mem::size_of_val(&args),
        )
    };
    if rc == 0 {
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(0) }
    }
    if rc > 0 {
        let mut status = 0;
        // SAFETY: waits for the child just made, with a valid status pointer.
        unsafe { libc::waitpid(i32::try_from(rc).unwrap_or(-1), &mut status, 0) };
    }
    from_rc(rc)
}

fn ptrace_attach(pid: u32) -> Outcome {
    let pid = libc::pid_t::try_from(pid).expect("a pid");
    let null = std::ptr::null_mut::<libc::c_void>();
    // SAFETY: PTRACE_ATTACH takes no pointers; the parent is a live process.
    let rc = unsafe { libc::ptrace(libc::PTRACE_ATTACH, pid, null, null) };
    if rc == 0 {
        // Never leave the test process stopped under a tracer.
        // SAFETY: detaches the process just attached; no pointers.
        unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, null, null) };
    }
    from_rc(rc)
}

fn kill(pid: i32) -> Outcome {
    // SAFETY: signal 0 only checks permission; no pointers.
    from_rc(i64::from(unsafe { libc::kill(pid, 0) }))
}

fn dlopen(fd: i32) -> Outcome {
    let path = CString::new(format!("/proc/self/fd/{fd}")).expect("no NUL");
    // SAFETY: a NUL-terminated path; the library is a system library whose constructors are
    // safe to run.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        // SAFETY: dlerror returns a NUL-terminated message owned by the loader, or null.
        let msg = unsafe { libc::dlerror() };
        let detail = if msg.is_null() {
            "dlopen failed".to_string()
        } else {
            // SAFETY: non-null, NUL-terminated, valid until the next dl* call.
            unsafe { std::ffi::CStr::from_ptr(msg) }
                .to_string_lossy()
                .into_owned()
        };
        Outcome {
            ok: false,
            errno: None,
            detail,
        }
    } else {
        from_rc(0)
    }
}

fn spin() -> Outcome {
    let mut x: u64 = 0;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    }
}

fn rlimits() -> Outcome {
    use rustix::process::{getrlimit, Resource};
    let get = |r| {
        let l = getrlimit(r);
        json!([l.current, l.maximum])
    };
    Outcome {
        ok: true,
        errno: None,
        detail: json!({
            "data": get(Resource::Data),
            "cpu": get(Resource::Cpu),
            "nofile": get(Resource::Nofile),
            "fsize": get(Resource::Fsize),
            "core": get(Resource::Core),
        })
        .to_string(),
    }
}
