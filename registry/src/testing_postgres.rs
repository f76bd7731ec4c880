//! A throwaway PostgreSQL cluster for tests and benches (features `testing` and `server`):
//! `initdb` in a temporary directory, `pg_ctl start` on a free `127.0.0.1` port (its unix
//! socket inside that directory too), one new database per [`TempCluster::database`], and
//! `pg_ctl stop -m immediate` when dropped. A real server: never a mock.
//!
//! The binaries are looked for in `SWITCHBOARD_PG_BIN` (a directory), then on `PATH`, then in
//! Debian's `/usr/lib/postgresql/VERSION/bin` (the newest); Debian's `postgresql` package has
//! them. PostgreSQL refuses to run as root: run as root, the cluster is made and run as the
//! unprivileged `nobody` (with `setpriv`), its directory handed to that user.
//!
//! # Example
//!
//! ```no_run
//! use switchboard_registry::testing_postgres::{binaries, TempCluster};
//! if let Some(bin) = binaries() {
//!     let cluster = TempCluster::start(&bin)?;
//!     let url = cluster.database()?; // postgres://postgres@127.0.0.1:PORT/sb_1
//!     # let _ = url;
//! }
//! # Ok::<(), String>(())
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The environment variable naming a directory that holds `initdb` and `pg_ctl`.
pub const BIN_VAR: &str = "SWITCHBOARD_PG_BIN";

/// The directory holding `initdb` and `pg_ctl`, if PostgreSQL is installed.
pub fn binaries() -> Option<PathBuf> {
    let has = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os(BIN_VAR).map(PathBuf::from) {
        return Some(dir).filter(|d| has(d));
    }
    let on_path =
        std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).find(|d| has(d)));
    if on_path.is_some() {
        return on_path;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, d)| has(d))
        .collect();
    versions.sort();
    versions.pop().map(|(_, d)| d)
}

/// A running throwaway cluster; stopped (immediately) and deleted when dropped.
#[derive(Debug)]
pub struct TempCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// The uid and gid it runs as, when this process is root.
    run_as: Option<(u32, u32)>,
    next: AtomicU32,
}

/// `nobody`'s uid and gid, from `/etc/passwd`.
fn nobody() -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| format!("/etc/passwd: {e}"))?;
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.first() == Some(&"nobody") && f.len() > 3 {
                Some((f[2].parse().ok()?, f[3].parse().ok()?))
            } else {
                None
            }
        })
        .ok_or_else(|| "running as root, and there is no `nobody` user to run PostgreSQL as".into())
}

#[cfg(unix)]
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[cfg(not(unix))]
fn is_root() -> bool {
    false
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

impl TempCluster {
    /// Makes and starts a cluster with the binaries in `bin` (see [`binaries`]).
    pub fn start(bin: &Path) -> Result<TempCluster, String> {
        let dir = tempfile::Builder::new()
            .prefix("switchboard-pg-")
            .tempdir()
            .map_err(|e| format!("a temporary directory: {e}"))?;
        let run_as = if is_root() { Some(nobody()?) } else { None };
        #[cfg(unix)]
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(|e| format!("handing {} to nobody: {e}", dir.path().display()))?;
        }
        let mut cluster = TempCluster {
            dir,
            bin: bin.to_owned(),
            port: 0,
            run_as,
            next: AtomicU32::new(0),
        };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "--no-sync".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
            ],
        )?;
        let socket = cluster.dir.path().join("socket");
        std::fs::create_dir(&socket).map_err(|e| format!("{}: {e}", socket.display()))?;
        #[cfg(unix)]
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&socket, Some(uid), Some(gid))
                .map_err(|e| format!("handing {} to nobody: {e}", socket.display()))?;
        }
        // A port found free may be taken before the server binds it: a few tries.
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=400",
                socket.display()
            );
            let log = cluster.dir.path().join("server.log");
            let started = cluster.run(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-o".as_ref(),
                    options.as_ref(),
                    "-w".as_ref(),
                    "start".as_ref(),
                ],
            );
            match started {
                Ok(()) => {
                    cluster.port = port;
                    return Ok(cluster);
                }
                Err(e) => {
                    let log = std::fs::read_to_string(&log).unwrap_or_default();
                    last = format!("{e}\n{log}");
                }
            }
        }
        Err(format!("pg_ctl start failed: {last}"))
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Result<(), String> {
        let exe = self.bin.join(tool);
        let mut cmd = match self.run_as {
            Some((uid, gid)) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--clear-groups")
                    .arg("--")
                    .arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args).current_dir(self.dir.path());
        let out = cmd
            .output()
            .map_err(|e| format!("running {}: {e}", exe.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed ({}): {}{}",
                exe.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of the database `name` on it, as the superuser `postgres`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Makes a new, empty database (`sb_1`, `sb_2`, …) and returns its URL.
    pub fn database(&self) -> Result<String, String> {
        let name = format!("sb_{}", self.next.fetch_add(1, Ordering::Relaxed) + 1);
        self.sql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(self.url(&name))
    }

    /// Runs `sql` (one or more statements) in the database `name`.
    pub fn sql(&self, name: &str, sql: &str) -> Result<(), String> {
        let mut client = postgres::Client::connect(&self.url(name), postgres::NoTls)
            .map_err(|e| format!("connecting to {}: {e}", self.url(name)))?;
        client
            .batch_execute(sql)
            .map_err(|e| match e.as_db_error() {
                Some(db) => format!("{sql}: {}", db.message()),
                None => format!("{sql}: {e}"),
            })
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        if self.port == 0 {
            return;
        }
        let data = self.data_dir();
        let _ = self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        );
    }
}
