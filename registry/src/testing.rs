//! A small HTTP/1.1 server for tests: serves a directory on `127.0.0.1` on a free port, with
//! strong ETags (the sha256 of the file) and `If-None-Match`, an optional bearer token, a log of
//! what was asked, and hostile modes that break the rules a well-behaved web host keeps.
//!
//! Only for tests (feature `testing`): one thread per connection, `Connection: close`, `GET`
//! only. It is a real server on a real socket, so the client under test is the one users run.
//!
//! ```
//! use switchboard_registry::testing::TestServer;
//! use switchboard_registry::transport::HttpTransport;
//! use switchboard_registry::{Fetched, Transport};
//!
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("timestamp.json"), b"{}").unwrap();
//! let server = TestServer::serve(dir.path()).unwrap();
//! let t = HttpTransport::new(&server.url()).unwrap();
//! let Fetched::Body { bytes, tag } = t.fetch("timestamp.json", 1024, None).unwrap() else {
//!     panic!("expected a body");
//! };
//! assert_eq!(bytes, b"{}");
//! assert_eq!(t.fetch("timestamp.json", 1024, tag.as_ref()).unwrap(), Fetched::NotModified);
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

/// How the server misbehaves (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// A well-behaved static web host.
    #[default]
    Normal,
    /// Every `200` body is endless: no `Content-Length`, bytes until the client hangs up.
    Endless,
    /// Every `200` announces a `Content-Length` of 1 byte but sends the file and then endless
    /// bytes, as a broken or hostile proxy might.
    LyingLength,
    /// Every `200` announces a huge `Content-Length` (1 TiB) and sends the file only.
    HugeLength,
    /// Accepts connections, reads the request, and never answers.
    Silent,
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// The path asked for, without the leading `/`.
    pub path: String,
    /// The `If-None-Match` header, if any.
    pub if_none_match: Option<String>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The status answered.
    pub status: u16,
}

#[derive(Debug)]
struct Shared {
    root: PathBuf,
    mode: Mutex<Mode>,
    token: Mutex<Option<String>>,
    redirect: Mutex<Option<String>>,
    log: Mutex<Vec<Request>>,
    stop: AtomicBool,
}

/// A directory served over HTTP on `127.0.0.1`; stops when dropped.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serves `root` on a free port of `127.0.0.1`.
    pub fn serve(root: &Path) -> std::io::Result<TestServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            root: root.to_owned(),
            mode: Mutex::new(Mode::Normal),
            token: Mutex::new(None),
            redirect: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("test-http-server".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if s.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let s = Arc::clone(&s);
                    let _ = std::thread::Builder::new()
                        .name("test-http-conn".into())
                        .spawn(move || {
                            let _ = handle(&s, conn);
                        });
                }
            })?;
        Ok(TestServer {
            addr,
            shared,
            thread: Some(thread),
        })
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The directory served.
    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    /// Changes how the server behaves from the next request on.
    pub fn set_mode(&self, mode: Mode) {
        *lock(&self.shared.mode) = mode;
    }

    /// Requires `Authorization: Bearer TOKEN` (else `401`); `None` requires nothing.
    pub fn require_token(&self, token: Option<&str>) {
        *lock(&self.shared.token) = token.map(str::to_owned);
    }

    /// Answers every request with `302 Found` to `base` + the path asked (`None`: serve).
    pub fn redirect_to(&self, base: Option<&str>) {
        *lock(&self.shared.redirect) = base.map(str::to_owned);
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.log).clone()
    }

    /// Forgets the requests logged so far.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The ETag of a file's bytes: its sha256, quoted (a strong tag).
pub fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Sha256::digest(bytes)))
}

fn handle(s: &Shared, conn: TcpStream) -> std::io::Result<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?.take(64 * 1024));
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("/").to_owned();
    let mut if_none_match = None;
    let mut authorization = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let v = v.trim().to_owned();
            match k.trim().to_ascii_lowercase().as_str() {
                "if-none-match" => if_none_match = Some(v),
                "authorization" => authorization = Some(v),
                _ => {}
            }
        }
    }
    let mode = *lock(&s.mode);
    let path = target.trim_start_matches('/').to_owned();
    let mut out = conn;
    if mode == Mode::Silent {
        // Holds the connection open without a word until the client gives up.
        let mut sink = [0u8; 1];
        let _ = out.read(&mut sink);
        return Ok(());
    }
    let required = lock(&s.token).clone();
    if let Some(base) = lock(&s.redirect).clone() {
        lock(&s.log).push(Request {
            path: path.clone(),
            if_none_match,
            authorization,
            status: 302,
        });
        write!(
            out,
            "HTTP/1.1 302 Found\r\nLocation: {base}/{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return out.flush();
    }
    let (status, body) = if method != "GET" {
        (405, None)
    } else if required.is_some_and(|t| authorization.as_deref() != Some(&format!("Bearer {t}"))) {
        (401, None)
    } else {
        match read_file(&s.root, &path) {
            Some(bytes) => {
                let tag = etag(&bytes);
                if if_none_match.as_deref() == Some(tag.as_str()) {
                    (304, None)
                } else {
                    (200, Some((bytes, tag)))
                }
            }
            None => (404, None),
        }
    };
    lock(&s.log).push(Request {
        path,
        if_none_match,
        authorization,
        status,
    });
    let reason = match status {
        200 => "OK",
        304 => "Not Modified",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let Some((bytes, tag)) = body else {
        write!(
            out,
            "HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return out.flush();
    };
    match mode {
        Mode::Normal | Mode::Silent => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: {tag}\r\nConnection: close\r\n\r\n",
                bytes.len()
            )?;
            out.write_all(&bytes)?;
        }
        Mode::HugeLength => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: {tag}\r\nConnection: close\r\n\r\n",
                1u64 << 40
            )?;
            out.write_all(&bytes)?;
        }
        Mode::Endless | Mode::LyingLength => {
            if mode == Mode::Endless {
                write!(out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
            } else {
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n"
                )?;
            }
            out.write_all(&bytes)?;
            let chunk = [b'x'; 16 * 1024];
            // Ends when the client hangs up (the write fails).
            loop {
                out.write_all(&chunk)?;
            }
        }
    }
    out.flush()
}

/// The file at `path` under `root`, if it is a plain relative path to a regular file.
fn read_file(root: &Path, path: &str) -> Option<Vec<u8>> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    if path.is_empty()
        || path
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == ".." || seg.contains('\\'))
    {
        return None;
    }
    let full = root.join(path);
    if !std::fs::symlink_metadata(&full).ok()?.is_file() {
        return None;
    }
    std::fs::read(full).ok()
}

/// An index line for tests and benches: a signed-looking `ga` release of `name@version` by
/// signer `TEST0001`, trust `verified`, this SDK's ABI, no host API. The package it names does
/// not exist; use [`crate::publish::publish`] for a release that can be downloaded.
pub fn line(name: &str, version: &str) -> crate::format::IndexLine {
    use sha2::Digest;
    let sha = hex::encode(Sha256::digest(format!("{name}@{version}").as_bytes()));
    crate::format::IndexLine {
        format: crate::format::FORMAT_VERSION,
        name: name.to_owned(),
        version: version
            .parse()
            .unwrap_or_else(|_| semver::Version::new(0, 0, 0)),
        dependencies: Vec::new(),
        host_api: None,
        sdk_abi: format!("{}.0", switchboard_sdk::SDK_ABI_MAJOR),
        capabilities: Vec::new(),
        sha256: sha,
        size: 1,
        signer: "TEST0001".to_owned(),
        signature: String::new(),
        trust: switchboard_host::TrustLevel::Verified,
        certification: None,
        channel: crate::format::Channel::Ga,
        yanked: None,
        deprecated: None,
        published: "2026-01-01T00:00:00Z".to_owned(),
        description: format!("The {name} plugin"),
        keywords: Vec::new(),
        categories: Vec::new(),
        license: Some("MIT".to_owned()),
        repository: None,
        maintainers: Vec::new(),
    }
}

/// Writes index files straight into a registry made by [`crate::publish::init`] — each
/// `(name, lines)` replaces that plugin's index file — and signs a new snapshot and timestamp
/// with the keys in `keys`, as `publish` would, but without packages. For tests and benches
/// that need many plugins or lines `publish` refuses (the client must refuse them too).
pub fn write_index(
    dir: &Path,
    keys: &Path,
    files: &[(&str, Vec<crate::format::IndexLine>)],
) -> Result<u64, crate::RegistryError> {
    use crate::format::{index_path, IndexFile, FORMAT_VERSION};
    use crate::metadata::{
        sign_envelope, Envelope, MetaFile, Role, SnapshotMeta, TimestampMeta, TrustedRoot,
    };
    let read = |p: &str| {
        std::fs::read(dir.join(p)).map_err(|e| crate::publish::io_error(&dir.join(p), &e))
    };
    let root = TrustedRoot::pin("test", &read("root.json")?)?;
    let keys = crate::publish::RegistryKeys::load(keys, &root.meta)?;
    let snapshot: SnapshotMeta =
        Envelope::parse(&read("snapshot.json")?, u64::MAX, "snapshot.json")?
            .signed_as("test", Role::Snapshot)?;
    let timestamp: TimestampMeta =
        Envelope::parse(&read("timestamp.json")?, u64::MAX, "timestamp.json")?
            .signed_as("test", Role::Timestamp)?;
    let mut meta = snapshot.meta.clone();
    for (name, lines) in files {
        let path = index_path(name)?;
        let file = IndexFile {
            releases: lines.clone(),
            skipped_newer: 0,
        };
        let bytes = file.to_bytes();
        let full = dir.join(&path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| crate::publish::io_error(parent, &e))?;
        }
        std::fs::write(&full, &bytes).map_err(|e| crate::publish::io_error(&full, &e))?;
        let version = meta.get(&path).map_or(1, |m| m.version + 1);
        meta.insert(path, MetaFile::of(&bytes, version));
    }
    let expires = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() + 30 * 86_400)
        .map_err(|e| crate::publish::io_error(dir, &std::io::Error::other(e.to_string())))?
        .to_string();
    let new_snapshot = SnapshotMeta {
        kind: Role::Snapshot,
        format: FORMAT_VERSION,
        version: snapshot.version + 1,
        expires: expires.clone(),
        meta,
    };
    let sign_err = |e: String| crate::publish::io_error(dir, &std::io::Error::other(e));
    let snap_bytes = sign_envelope(&new_snapshot, &[&keys.snapshot])
        .map_err(sign_err)?
        .to_bytes();
    let new_timestamp = TimestampMeta {
        kind: Role::Timestamp,
        format: FORMAT_VERSION,
        version: timestamp.version + 1,
        expires,
        snapshot: MetaFile::of(&snap_bytes, new_snapshot.version),
    };
    let ts_bytes = sign_envelope(&new_timestamp, &[&keys.timestamp])
        .map_err(sign_err)?
        .to_bytes();
    std::fs::write(dir.join("snapshot.json"), &snap_bytes)
        .map_err(|e| crate::publish::io_error(&dir.join("snapshot.json"), &e))?;
    std::fs::write(dir.join("timestamp.json"), &ts_bytes)
        .map_err(|e| crate::publish::io_error(&dir.join("timestamp.json"), &e))?;
    Ok(new_snapshot.version)
}
