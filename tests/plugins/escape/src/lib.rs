//! `escape`, a test-only hostile plugin for the isolation escape suite (`tests/all/escape.rs`)
//! and the fifty-instance test. Never shipped, never an example.
//!
//! Each escape command goes straight to the operating system through `libc` — never through
//! the SDK, whose services the host checks against the plugin's grants — and reports what the
//! OS said as an [`Outcome`]: whether it allowed the operation, and the `errno` if not. Run
//! isolated, what stops them is the runner's sandbox; run in-process, nothing does (so only
//! the harmless ones are ever called in-process).
//!
//! The SDK commands (`kv_*`, `secret_*`, `sdk_read`, `sdk_write`, `publish`, `events_seen`)
//! and the event handler serve the fifty-instance test: each instance keeps its own data,
//! and must not reach another's.

use serde::{Deserialize, Serialize};
use switchboard_sdk::Message;

/// What the operating system said to one escape attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Message)]
pub struct Outcome {
    /// Whether the OS allowed the operation.
    pub allowed: bool,
    /// `errno` when it did not (0 when it did).
    pub errno: i32,
    /// A count, where the command counts (forks that succeeded, MiB touched, variables seen).
    pub count: u64,
    /// What was read, or another word on what happened.
    pub detail: String,
}

/// One open file descriptor of the plugin's process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenFd {
    /// The descriptor.
    pub fd: i32,
    /// Its type from `fstat`: `file`, `dir`, `socket`, `pipe`, `char`, `block`, `link`,
    /// `other`.
    pub kind: String,
    /// Where `/proc/self/fd/N` points, if that can be read.
    pub target: String,
}

/// The open descriptors of the plugin's process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Message)]
pub struct OpenFds {
    /// Every descriptor in 0..1024 that is open.
    pub fds: Vec<OpenFd>,
}

/// A key (or secret name, or path, or topic) and a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Message)]
pub struct Pair {
    /// The key, secret name, path or topic.
    pub key: String,
    /// The value, text or payload.
    pub value: String,
}

/// A value that may be absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Message)]
pub struct Found {
    /// The value, if there is one.
    pub value: Option<String>,
}

/// The events the plugin's handler received, as `topic=payload`, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Message)]
pub struct Seen {
    /// `topic=payload` for each event.
    pub events: Vec<String>,
}

#[cfg(feature = "plugin")]
pub use self::plugin::Escape;

#[cfg(feature = "plugin")]
mod plugin {
    use std::ffi::CString;

    use switchboard_sdk::prelude::*;

    use super::{Found, OpenFd, OpenFds, Outcome, Pair, Seen};

    /// The most forks `fork_bomb` tries: enough to show fork works, few enough to be safe.
    const MAX_FORKS: u64 = 64;

    /// The hostile plugin. Stateless; its data is in the host's KV.
    #[derive(Debug, Default)]
    pub struct Escape;

    impl Plugin for Escape {
        fn create(_ctx: &Context) -> Result<Self, PluginError> {
            Ok(Escape)
        }
    }

    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    fn allowed(count: u64, detail: impl Into<String>) -> Outcome {
        Outcome {
            allowed: true,
            errno: 0,
            count,
            detail: detail.into(),
        }
    }

    fn refused(errno: i32, detail: impl Into<String>) -> Outcome {
        Outcome {
            allowed: false,
            errno,
            count: 0,
            detail: detail.into(),
        }
    }

    fn must(outcome: Outcome) -> Result<u64, PluginError> {
        if outcome.allowed {
            Ok(outcome.count)
        } else {
            Err(PluginError::new(format!(
                "refused: {} (errno {})",
                outcome.detail, outcome.errno
            )))
        }
    }

    fn c_path(path: &str) -> Result<CString, PluginError> {
        CString::new(path).map_err(|_| PluginError::new("a path with a NUL byte"))
    }

    /// `open(2)` + `read(2)` of up to 4 KiB.
    fn raw_read(path: &str) -> Result<Outcome, PluginError> {
        let c = c_path(path)?;
        // SAFETY: `c` is a NUL-terminated string that outlives the call.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Ok(refused(errno(), "open"));
        }
        let mut buf = vec![0u8; 4096];
        // SAFETY: `buf` is writable for `buf.len()` bytes; `fd` is the descriptor just opened.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        let read_errno = errno();
        // SAFETY: `fd` is ours and closed once.
        unsafe { libc::close(fd) };
        let Ok(n) = usize::try_from(n) else {
            return Ok(refused(read_errno, "read"));
        };
        buf.truncate(n);
        Ok(allowed(
            n as u64,
            String::from_utf8_lossy(&buf).into_owned(),
        ))
    }

    #[plugin(
        capabilities = [
            "kv",
            "secrets",
            "fs.read:/tmp/switchboard-escape/**",
            "fs.write:/tmp/switchboard-escape/**",
            "events.subscribe:escape.**",
            "events.publish:escape.**",
        ]
    )]
    impl Escape {
        /// Reads a file with `open(2)` and `read(2)`.
        #[command]
        fn read_raw(&self, path: String) -> Result<Outcome, PluginError> {
            raw_read(&path)
        }

        /// Creates (or truncates) a file with `open(2)` and writes `escaped` into it.
        #[command]
        fn write_raw(&self, path: String) -> Result<Outcome, PluginError> {
            let c = c_path(&path)?;
            let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC;
            // SAFETY: `c` is a NUL-terminated string that outlives the call.
            let fd = unsafe { libc::open(c.as_ptr(), flags, 0o644 as libc::c_uint) };
            if fd < 0 {
                return Ok(refused(errno(), "open"));
            }
            let text = b"escaped\n";
            // SAFETY: `text` is readable for its length; `fd` is the descriptor just opened.
            let n = unsafe { libc::write(fd, text.as_ptr().cast(), text.len()) };
            let write_errno = errno();
            // SAFETY: `fd` is ours and closed once.
            unsafe { libc::close(fd) };
            Ok(match usize::try_from(n) {
                Ok(n) => allowed(n as u64, "written"),
                Err(_) => refused(write_errno, "write"),
            })
        }

        /// Opens a TCP connection to `127.0.0.1:port` with `socket(2)` and `connect(2)`.
        #[command]
        fn connect(&self, port: u16) -> Outcome {
            // SAFETY: plain system call with constant arguments.
            let fd =
                unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
            if fd < 0 {
                return refused(errno(), "socket");
            }
            let addr = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: port.to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: `addr` is a valid `sockaddr_in` and its size is passed with it.
            let rc = unsafe {
                libc::connect(
                    fd,
                    std::ptr::from_ref(&addr).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            };
            let connect_errno = errno();
            // SAFETY: `fd` is ours and closed once.
            unsafe { libc::close(fd) };
            if rc == 0 {
                allowed(1, "connected")
            } else {
                refused(connect_errno, "connect")
            }
        }

        /// Forks up to 64 times; each child exits at once, and every child is reaped. Reports
        /// how many forks succeeded, and the `errno` of the first that failed.
        #[command]
        fn fork_bomb(&self) -> Outcome {
            let mut children = Vec::new();
            let mut failed = 0;
            for _ in 0..MAX_FORKS {
                // SAFETY: the child only calls `_exit`, which is async-signal-safe, so forking
                // a multi-threaded process is sound here.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    // SAFETY: ends the child without running anything of the parent's.
                    unsafe { libc::_exit(0) };
                }
                if pid < 0 {
                    failed = errno();
                    break;
                }
                children.push(pid);
            }
            for pid in &children {
                let mut status = 0;
                // SAFETY: `pid` is a child of this process; `status` is writable.
                unsafe { libc::waitpid(*pid, &mut status, 0) };
            }
            let forked = children.len() as u64;
            Outcome {
                allowed: forked > 0,
                errno: failed,
                count: forked,
                detail: format!("{forked} forks"),
            }
        }

        /// Replaces this process with `/bin/sh -c 'exit 42'` (`execve(2)`, no fork). If the OS
        /// allows it, the process ends with status 42 — so this is never called in-process.
        #[command]
        fn exec_shell(&self) -> Result<Outcome, PluginError> {
            let sh = c_path("/bin/sh")?;
            let args = [c_path("sh")?, c_path("-c")?, c_path("exit 42")?];
            let argv = [
                args[0].as_ptr(),
                args[1].as_ptr(),
                args[2].as_ptr(),
                std::ptr::null(),
            ];
            let envp = [std::ptr::null()];
            // SAFETY: `sh`, `argv` and `envp` are NUL-terminated and outlive the call; on
            // success it does not return.
            unsafe { libc::execve(sh.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
            Ok(refused(errno(), "execve"))
        }

        /// Attaches to the parent process (the host) with `ptrace(PTRACE_SEIZE)` — which,
        /// unlike `PTRACE_ATTACH`, does not stop it — and detaches at once if it worked.
        #[command]
        fn ptrace_parent(&self) -> Outcome {
            // SAFETY: plain system call.
            let parent = unsafe { libc::getppid() };
            // SAFETY: `PTRACE_SEIZE` with null address and data; it does not stop the tracee.
            let rc = unsafe {
                libc::ptrace(
                    libc::PTRACE_SEIZE,
                    parent,
                    std::ptr::null_mut::<libc::c_void>(),
                    std::ptr::null_mut::<libc::c_void>(),
                )
            };
            if rc != 0 {
                return refused(errno(), format!("ptrace(PTRACE_SEIZE, {parent})"));
            }
            // SAFETY: `PTRACE_INTERRUPT` was never sent, so the tracee is not stopped; detach
            // lets it go. (A detach of a running tracee may fail with ESRCH; it is detached
            // when this process exits anyway.)
            unsafe {
                libc::ptrace(
                    libc::PTRACE_DETACH,
                    parent,
                    std::ptr::null_mut::<libc::c_void>(),
                    std::ptr::null_mut::<libc::c_void>(),
                )
            };
            allowed(1, format!("attached to {parent}"))
        }

        /// Signals the parent process (the host): signal 0 (the permission probe) and then
        /// `SIGCONT`, which does nothing to a running process — so even a sandbox that let it
        /// through cannot kill the host.
        #[command]
        fn signal_parent(&self) -> Outcome {
            // SAFETY: plain system call.
            let parent = unsafe { libc::getppid() };
            // SAFETY: signal 0 delivers nothing; it checks existence and permission.
            if unsafe { libc::kill(parent, 0) } != 0 {
                return refused(errno(), format!("kill({parent}, 0)"));
            }
            // SAFETY: SIGCONT continues a stopped process and is otherwise ignored by default.
            if unsafe { libc::kill(parent, libc::SIGCONT) } != 0 {
                return refused(errno(), format!("kill({parent}, SIGCONT)"));
            }
            allowed(1, format!("signalled {parent}"))
        }

        /// Reads the parent's (the host's) environment, `/proc/<ppid>/environ`.
        #[command]
        fn read_parent_environ(&self) -> Result<Outcome, PluginError> {
            // SAFETY: plain system call.
            let parent = unsafe { libc::getppid() };
            let mut outcome = raw_read(&format!("/proc/{parent}/environ"))?;
            if outcome.allowed {
                // How many variables, not their values: they would end up in test logs.
                let vars = outcome.detail.split('\0').filter(|v| !v.is_empty()).count();
                outcome.detail = format!("{vars} variables read");
            }
            Ok(outcome)
        }

        /// Reads a file of the parent's (the host's) `/proc` entry, `/proc/<ppid>/NAME`.
        #[command]
        fn read_parent_proc(&self, name: String) -> Result<Outcome, PluginError> {
            // SAFETY: plain system call.
            let parent = unsafe { libc::getppid() };
            raw_read(&format!("/proc/{parent}/{name}"))
        }

        /// `read_raw` as a call that fails when the OS refuses: the bytes read, else an
        /// error (for certification's smoke calls, which can only tell success from failure).
        #[command]
        fn take_file(&self, path: String) -> Result<u64, PluginError> {
            must(raw_read(&path)?)
        }

        /// `read_parent_proc` as a call that fails when the OS refuses.
        #[command]
        fn take_parent_proc(&self, name: String) -> Result<u64, PluginError> {
            must(self.read_parent_proc(name)?)
        }

        /// `connect` as a call that fails when the OS refuses.
        #[command]
        fn dial(&self, port: u16) -> Result<u64, PluginError> {
            must(self.connect(port))
        }

        /// How many environment variables this process has.
        #[command]
        fn own_environ(&self) -> Outcome {
            let vars: Vec<String> = std::env::vars_os()
                .map(|(k, _)| k.to_string_lossy().into_owned())
                .collect();
            allowed(vars.len() as u64, vars.join(","))
        }

        /// The open descriptors of this process (`fcntl(F_GETFD)` over 0..1024, `fstat` for
        /// the type).
        #[command]
        fn list_fds(&self) -> OpenFds {
            let mut fds = Vec::new();
            for fd in 0..1024 {
                // SAFETY: F_GETFD only queries the descriptor's flags.
                if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
                    continue;
                }
                // SAFETY: `libc::stat` is plain data; all-zero is a valid value.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                // SAFETY: `st` is writable; `fd` is open.
                let kind = if unsafe { libc::fstat(fd, &mut st) } == 0 {
                    match st.st_mode & libc::S_IFMT {
                        libc::S_IFREG => "file",
                        libc::S_IFDIR => "dir",
                        libc::S_IFSOCK => "socket",
                        libc::S_IFIFO => "pipe",
                        libc::S_IFCHR => "char",
                        libc::S_IFBLK => "block",
                        libc::S_IFLNK => "link",
                        _ => "other",
                    }
                } else {
                    "unknown"
                };
                let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                fds.push(OpenFd {
                    fd,
                    kind: kind.to_owned(),
                    target,
                });
            }
            OpenFds { fds }
        }

        /// Forges protocol frames: writes `bytes` to every socket this process holds (its
        /// channels to the host among them), then returns normally — the host must treat what
        /// arrives as the hostile input it is. A raw command: the request is the bytes, the
        /// response how many sockets took them (`u64`, little-endian).
        #[command]
        fn forge(&self, bytes: &[u8]) -> Vec<u8> {
            let mut written = 0;
            for fd in 3..1024 {
                // SAFETY: `libc::stat` is plain data; all-zero is a valid value.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                // SAFETY: `st` is writable; a closed `fd` only makes fstat fail.
                if unsafe { libc::fstat(fd, &mut st) } != 0
                    || st.st_mode & libc::S_IFMT != libc::S_IFSOCK
                {
                    continue;
                }
                // SAFETY: `bytes` is readable for its length; MSG_DONTWAIT never blocks.
                let n = unsafe {
                    libc::send(
                        fd,
                        bytes.as_ptr().cast(),
                        bytes.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                };
                if n > 0 {
                    written += 1u64;
                }
            }
            written.to_le_bytes().to_vec()
        }

        /// Takes a copy of the parent's (the host's) descriptor `fd`: `pidfd_open(2)` on the
        /// parent, then `pidfd_getfd(2)`.
        #[command]
        fn steal_fd(&self, fd: i32) -> Outcome {
            // SAFETY: plain system call.
            let parent = unsafe { libc::getppid() };
            // SAFETY: pidfd_open with no flags returns a new descriptor or -1.
            let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, parent, 0) };
            if pidfd < 0 {
                return refused(errno(), "pidfd_open");
            }
            // SAFETY: pidfd_getfd with no flags returns a new descriptor or -1.
            let stolen = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) };
            let getfd_errno = errno();
            // SAFETY: `pidfd` is ours and closed once (its value fits: it is a descriptor).
            unsafe { libc::close(pidfd as i32) };
            if stolen < 0 {
                return refused(getfd_errno, "pidfd_getfd");
            }
            // SAFETY: `stolen` is ours and closed once.
            unsafe { libc::close(stolen as i32) };
            allowed(1, format!("took descriptor {fd} of {parent}"))
        }

        /// Writes through a null pointer: `SIGSEGV`.
        #[command]
        fn segfault(&self) {
            // SAFETY: not safe at all, on purpose: this is the crash the isolation contains.
            // A volatile write is not optimised away.
            unsafe { std::ptr::null_mut::<u8>().write_volatile(1) };
        }

        /// `abort()`: `SIGABRT`.
        #[command]
        fn abort(&self) {
            std::process::abort();
        }

        /// Never returns: burns CPU until the call timeout or the CPU limit ends it.
        #[command]
        fn spin(&self) {
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }

        /// Starts a thread that burns CPU forever and answers at once: no call is running when
        /// the CPU limit ends the process.
        #[command]
        fn spin_thread(&self) -> Result<(), PluginError> {
            std::thread::Builder::new()
                .name("escape-spin".into())
                .spawn(|| {
                    let mut x: u64 = 0;
                    loop {
                        x = std::hint::black_box(x.wrapping_add(1));
                    }
                })
                .map(|_| ())
                .map_err(|e| PluginError::new(format!("no thread: {e}")))
        }

        /// Sleeps `ms` milliseconds, then answers.
        #[command]
        fn sleep_ms(&self, ms: u64) -> u64 {
            std::thread::sleep(std::time::Duration::from_millis(ms));
            ms
        }

        /// Allocates `mb` MiB and touches every page. A refused allocation is reported (it
        /// does not abort); an OOM kill ends the process.
        #[command]
        fn alloc_mb(&self, mb: u64) -> Outcome {
            let Ok(bytes) = usize::try_from(mb.saturating_mul(1 << 20)) else {
                return refused(libc::ENOMEM, "too large for this machine");
            };
            let mut block: Vec<u8> = Vec::new();
            if block.try_reserve_exact(bytes).is_err() {
                return refused(libc::ENOMEM, format!("{mb} MiB refused"));
            }
            block.resize(bytes, 0);
            for i in (0..bytes).step_by(4096) {
                block[i] = 1;
            }
            let touched = block.iter().step_by(4096).filter(|b| **b == 1).count();
            allowed(mb, format!("{touched} pages touched"))
        }

        /// Puts `key` = `value` in the plugin's KV (through the SDK).
        #[command]
        fn kv_put(&self, ctx: &Context, pair: Pair) -> Result<(), PluginError> {
            ctx.kv().put(&pair.key, pair.value.as_bytes()).map(|_| ())
        }

        /// Reads `key` from the plugin's KV (through the SDK).
        #[command]
        fn kv_get(&self, ctx: &Context, key: String) -> Result<Found, PluginError> {
            let value = ctx.kv().get(&key)?;
            Ok(Found {
                value: value.map(|v| String::from_utf8_lossy(&v).into_owned()),
            })
        }

        /// Stores the secret `key` = `value` (through the SDK).
        #[command]
        fn secret_put(&self, ctx: &Context, pair: Pair) -> Result<(), PluginError> {
            ctx.secrets().put(&pair.key, pair.value.as_bytes())
        }

        /// Reads the secret `key` (through the SDK).
        #[command]
        fn secret_get(&self, ctx: &Context, key: String) -> Result<Found, PluginError> {
            let value = ctx.secrets().get(&key)?;
            Ok(Found {
                value: value.and_then(|s| s.expose_str().map(str::to_owned)),
            })
        }

        /// Reads a file through the host (needs `fs.read` covering it).
        #[command]
        fn sdk_read(&self, ctx: &Context, path: String) -> Result<String, PluginError> {
            ctx.fs().read_to_string(&path)
        }

        /// Writes `value` to the file `key` through the host (needs `fs.write` covering it).
        #[command]
        fn sdk_write(&self, ctx: &Context, pair: Pair) -> Result<(), PluginError> {
            ctx.fs().write(&pair.key, pair.value.as_bytes())
        }

        /// Publishes `value` on the topic `key` (needs `events.publish` covering it).
        #[command]
        fn publish(&self, ctx: &Context, pair: Pair) -> Result<u32, PluginError> {
            ctx.publish(&pair.key, &pair.value)
        }

        /// The events the handler stored, in the order received.
        #[command]
        fn events_seen(&self, ctx: &Context) -> Result<Seen, PluginError> {
            let mut entries = ctx.kv().list("seen/")?;
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(Seen {
                events: entries
                    .into_iter()
                    .map(|(_, v)| String::from_utf8_lossy(&v).into_owned())
                    .collect(),
            })
        }

        /// Stores every event it receives in KV, as `seen/<event id>` = `topic=payload`.
        #[subscribe("escape.>")]
        fn on_escape(&self, ctx: &Context, event: &Event<'_>) -> Result<(), PluginError> {
            let text: String = event.decode()?;
            ctx.kv().put(
                &format!("seen/{:020}", event.id()),
                format!("{}={text}", event.topic()).as_bytes(),
            )?;
            Ok(())
        }
    }
}
