//! A load generator for the registry server (features `server` and `testing`; the binary
//! `switchboard-registry-load` runs it): seeds a fresh server with many plugins written
//! straight into its signed registry directory (no uploads), starts it on `127.0.0.1` on a
//! free port, then drives `GET /api/v1/search` (varied words, filters, orders and pages) and
//! `GET /api/v1/plugins/NAME` with concurrent clients, one endpoint after the other, each for
//! a set time, and reports latency percentiles and throughput per endpoint.
//!
//! Each client is a thread with its own keep-alive HTTP connection, sending its next request
//! when the last is answered (a closed loop): at 50 clients, 50 requests are in flight.
//! The clients run on the same machine as the server, as in the issue's acceptance test.
//! The server runs without a rate limit (every client shares one address).
//!
//! ```no_run
//! use switchboard_registry::server::load::{run, LoadOptions};
//! let report = run(&LoadOptions::default())?;
//! println!("{}", report.table());
//! # Ok::<(), switchboard_registry::RegistryError>(())
//! ```

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard_host::TrustLevel;

use super::{parse_listen, Server, ServerOptions};
use crate::error::ServerError;
use crate::format::{IndexLine, LineHostApi};
use crate::RegistryError;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LoadOptions {
    /// Plugins seeded (each with 3 versions). Default 10,000.
    pub plugins: usize,
    /// Concurrent clients. Default 50.
    pub clients: usize,
    /// How long each endpoint is driven. Default 10 s.
    pub duration: Duration,
    /// Requests before the measured time, spread over the clients (the first search reads
    /// and prepares the catalog). Default 100.
    pub warmup_requests: usize,
    /// `--postgres`: the server keeps its database on a throwaway PostgreSQL cluster
    /// (`testing_postgres`), so search runs in PostgreSQL; default SQLite.
    pub postgres: bool,
    /// `--warm-details`: ask every plugin's details once before the measured time, so the
    /// details measured are those of a server that has served each plugin since its last
    /// change (its details cache full); default off: the measured time includes filling it.
    pub warm_details: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            plugins: 10_000,
            clients: 50,
            duration: Duration::from_secs(10),
            warmup_requests: 100,
            postgres: false,
            warm_details: false,
        }
    }
}

/// The usage line of the binary.
pub const USAGE: &str = "switchboard-registry-load [--plugins N] [--clients N] [--seconds S] \
    [--warmup N] [--warm-details] [--postgres] [--json] | --serve DIR [--plugins N]";

/// The binary's arguments.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Args {
    /// What to run.
    pub options: LoadOptions,
    /// `--json`: print one JSON document instead of a table.
    pub json: bool,
    /// `--serve DIR`: no load; seed a server in `DIR` (made new), print its address and an
    /// admin token as one JSON line, and serve until the process is stopped (for the API
    /// fuzzer, `.ci/fuzz-registry`).
    pub serve: Option<std::path::PathBuf>,
}

impl Args {
    /// Parses the binary's arguments (without the program name). A bad argument is an error
    /// saying which.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut options = LoadOptions::default();
        let mut json = false;
        let mut serve = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| format!("{name} needs a value; usage: {USAGE}"))
            };
            let count = |name: &str, v: String| {
                v.parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| format!("{name} {v}: write a whole number from 1"))
            };
            match arg.as_str() {
                "--plugins" => options.plugins = count("--plugins", value("--plugins")?)?,
                "--clients" => options.clients = count("--clients", value("--clients")?)?,
                "--warmup" => {
                    let v = value("--warmup")?;
                    options.warmup_requests = v
                        .parse()
                        .map_err(|_| format!("--warmup {v}: write a whole number"))?;
                }
                "--seconds" => {
                    let v = value("--seconds")?;
                    let s = v
                        .parse::<f64>()
                        .ok()
                        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
                        .ok_or_else(|| format!("--seconds {v}: write a number above 0"))?;
                    options.duration = Duration::from_secs_f64(s);
                }
                "--json" => json = true,
                "--postgres" => options.postgres = true,
                "--warm-details" => options.warm_details = true,
                "--serve" => serve = Some(value("--serve")?.into()),
                other => return Err(format!("unknown argument {other}; usage: {USAGE}")),
            }
        }
        Ok(Args {
            options,
            json,
            serve,
        })
    }
}

/// What one endpoint did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EndpointReport {
    /// `search` or `details`.
    pub endpoint: &'static str,
    /// Requests answered 200 in the measured time.
    pub requests: usize,
    /// Requests that failed (not 200, or no answer).
    pub errors: usize,
    /// The measured time.
    pub elapsed: Duration,
    /// Latency percentiles of the answered requests: P50, P95, P99, and the slowest.
    pub p50: Duration,
    /// P95.
    pub p95: Duration,
    /// P99.
    pub p99: Duration,
    /// The slowest.
    pub max: Duration,
    /// Of the requests the server answered in the measured time, how many came from its
    /// caches (kept search pages; the details cache) and how many it made.
    pub kept: u64,
    /// See [`EndpointReport::kept`].
    pub made: u64,
    /// CPU time the server's threads spent in the measured time, per answered request
    /// (Linux: from `/proc`; `None` elsewhere). Unlike latency, it does not grow with what
    /// else the machine runs.
    pub server_cpu: Option<Duration>,
    /// CPU time the rest of the process (the clients) spent, per answered request.
    pub client_cpu: Option<Duration>,
}

impl EndpointReport {
    /// Answered requests a second.
    pub fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn json(&self) -> Value {
        let ms = |d: Duration| (d.as_secs_f64() * 1e5).round() / 1e2;
        json!({
            "endpoint": self.endpoint,
            "requests": self.requests,
            "errors": self.errors,
            "seconds": self.elapsed.as_secs_f64(),
            "throughput_per_second": (self.throughput() * 10.0).round() / 10.0,
            "p50_ms": ms(self.p50),
            "p95_ms": ms(self.p95),
            "p99_ms": ms(self.p99),
            "max_ms": ms(self.max),
            "answered_from_cache": self.kept,
            "answered_made": self.made,
            "server_cpu_us_per_request": self.server_cpu.map(|d| (d.as_secs_f64() * 1e7).round() / 10.0),
            "client_cpu_us_per_request": self.client_cpu.map(|d| (d.as_secs_f64() * 1e7).round() / 10.0),
        })
    }
}

/// The whole run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LoadReport {
    /// What was run.
    pub options: LoadOptions,
    /// How long seeding the registry directory took.
    pub seed: Duration,
    /// How long the first search took (the catalog read and prepared).
    pub first_search: Duration,
    /// Search, then details.
    pub endpoints: Vec<EndpointReport>,
}

impl LoadReport {
    /// The report as one JSON document.
    pub fn json(&self) -> Value {
        json!({
            "database": if self.options.postgres { "postgres" } else { "sqlite" },
            "plugins": self.options.plugins,
            "clients": self.options.clients,
            "seconds_per_endpoint": self.options.duration.as_secs_f64(),
            "warm_details": self.options.warm_details,
            "seed_seconds": self.seed.as_secs_f64(),
            "first_search_ms": self.first_search.as_secs_f64() * 1e3,
            "endpoints": self.endpoints.iter().map(EndpointReport::json).collect::<Vec<_>>(),
        })
    }

    /// The report as a table for people.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{} plugins on {}, {} clients, {:.1} s per endpoint{} (seeded in {:.2} s; first search {:.0} ms)\n",
            self.options.plugins,
            if self.options.postgres { "PostgreSQL" } else { "SQLite" },
            self.options.clients,
            self.options.duration.as_secs_f64(),
            if self.options.warm_details {
                ", details cache warmed"
            } else {
                ""
            },
            self.seed.as_secs_f64(),
            self.first_search.as_secs_f64() * 1e3,
        );
        out.push_str(&format!(
            "{:<8} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>14} {:>14}\n",
            "endpoint",
            "requests",
            "errors",
            "req/s",
            "P50 ms",
            "P95 ms",
            "P99 ms",
            "max ms",
            "cached",
            "server µs/req",
            "client µs/req"
        ));
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let us = |d: Option<Duration>| match d {
            Some(d) => format!("{:.0}", d.as_secs_f64() * 1e6),
            None => "-".to_owned(),
        };
        for e in &self.endpoints {
            out.push_str(&format!(
                "{:<8} {:>9} {:>7} {:>9.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>6.1}% {:>14} {:>14}\n",
                e.endpoint,
                e.requests,
                e.errors,
                e.throughput(),
                ms(e.p50),
                ms(e.p95),
                ms(e.p99),
                ms(e.max),
                e.kept as f64 * 100.0 / (e.kept + e.made).max(1) as f64,
                us(e.server_cpu),
                us(e.client_cpu)
            ));
        }
        out
    }
}

const WORDS: &[&str] = &[
    "graph", "weather", "audio", "markdown", "git", "chart", "image", "pdf", "spell", "timer",
    "clock", "notes", "search", "vault", "theme", "lint", "format", "shell", "sql", "http",
];

/// A fixed pseudo-random number for `i`, `k` (SplitMix64).
fn mix(i: usize, k: usize) -> usize {
    let mut x = (i as u64) << 8 | k as u64;
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (x ^ (x >> 31)) as usize
}

fn word(i: usize, k: usize) -> &'static str {
    WORDS[mix(i, k) % WORDS.len()]
}

/// The name of seeded plugin `i`.
pub fn plugin_name(i: usize) -> String {
    format!("{}-{}-{i:05}", word(i, 0), word(i, 1))
}

/// The seeded catalog: `n` plugins × 3 versions with varied text, categories, capabilities,
/// maintainers, trust, host APIs and dates (as the `registry_server` bench seeds).
pub fn catalog(n: usize) -> Vec<(String, Vec<IndexLine>)> {
    (0..n)
        .map(|i| {
            let name = plugin_name(i);
            let lines = (0..3)
                .map(|v| {
                    let mut l = crate::testing::line(&name, &format!("1.{v}.0"));
                    l.description = format!(
                        "A {} plugin for {} and {}",
                        word(i, 2),
                        word(i, 3),
                        word(i, 4)
                    );
                    l.keywords = vec![word(i, 5).to_owned(), word(i, 6).to_owned()];
                    l.categories = vec![word(i, 7).to_owned()];
                    l.capabilities = vec!["kv".into(), format!("fs.read:/srv/{}/**", word(i, 8))];
                    l.maintainers = vec![format!("Maintainer {}", i % 97)];
                    l.trust = if i % 3 == 0 {
                        TrustLevel::Certified
                    } else {
                        TrustLevel::SelfSigned
                    };
                    l.host_api = Some(LineHostApi::new(
                        "switchboard-demo",
                        if i % 2 == 0 { "^0.1" } else { "^0.2" },
                    ));
                    l.published = format!("2026-01-{:02}T00:00:00Z", 1 + (i + v) % 28);
                    l
                })
                .collect();
            (name, lines)
        })
        .collect()
}

/// The `k`-th search a client sends: one or two words or none, and now and then a filter,
/// an order or a later page.
pub fn search_path(k: usize) -> String {
    let r = |slot: usize| mix(k, 100 + slot);
    let mut params = Vec::new();
    match r(0) % 5 {
        0 => {}
        1 | 2 => params.push(format!("q={}", WORDS[r(1) % WORDS.len()])),
        _ => params.push(format!(
            "q={}%20{}",
            WORDS[r(1) % WORDS.len()],
            WORDS[r(2) % WORDS.len()]
        )),
    }
    if r(3) % 3 == 0 {
        params.push(format!(
            "trust={}",
            ["verified", "certified", "self-signed"][r(4) % 3]
        ));
    }
    if r(5) % 4 == 0 {
        params.push(format!("category={}", WORDS[r(6) % WORDS.len()]));
    }
    if r(7) % 5 == 0 {
        params.push("capability=fs.read".into());
    }
    if r(8) % 5 == 0 {
        params.push(format!(
            "compatible_with=switchboard-demo@0.{}.3",
            1 + r(9) % 2
        ));
    }
    if r(10) % 3 == 0 {
        params.push(format!(
            "sort={}",
            ["downloads", "updated", "name", "relevance"][r(11) % 4]
        ));
    }
    if r(12) % 4 == 0 {
        params.push(format!("page={}", 2 + r(13) % 3));
    }
    format!("/api/v1/search?{}", params.join("&"))
}

/// The `k`-th details request a client sends, over `plugins` plugins.
pub fn details_path(k: usize, plugins: usize) -> String {
    format!(
        "/api/v1/plugins/{}",
        plugin_name(mix(k, 7) % plugins.max(1))
    )
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Whether one GET answers 200 with a whole body.
fn get(agent: &ureq::Agent, url: &str) -> bool {
    match agent.get(url).call() {
        Ok(mut r) => {
            r.status().as_u16() == 200
                && r.body_mut()
                    .with_config()
                    .limit(16 << 20)
                    .read_to_vec()
                    .is_ok()
        }
        Err(_) => false,
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// A lean keep-alive HTTP/1.1 client for the measured requests: writes `GET PATH
/// HTTP/1.1` with a `Host` header, reads the status line and headers, then exactly
/// `Content-Length` bytes of body (a chunked or length-less answer is an error); reconnects
/// after an error or a `Connection: close`. It costs the shared cores a fraction of a
/// general client's CPU, so more of them go to the server being measured.
struct Lean {
    addr: std::net::SocketAddr,
    stream: Option<std::net::TcpStream>,
    request: Vec<u8>,
    buf: Vec<u8>,
}

impl Lean {
    fn new(addr: std::net::SocketAddr) -> Lean {
        Lean {
            addr,
            stream: None,
            request: Vec::with_capacity(256),
            buf: Vec::with_capacity(64 << 10),
        }
    }

    /// GETs `path`: the status and the body (in `self.buf[start..]`, returned as a range).
    fn get(&mut self, path: &str) -> std::io::Result<(u16, std::ops::Range<usize>)> {
        let result = self.try_get(path);
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn try_get(&mut self, path: &str) -> std::io::Result<(u16, std::ops::Range<usize>)> {
        use std::io::{Error, ErrorKind, Read, Write};
        let bad = |what: &str| Error::new(ErrorKind::InvalidData, what.to_owned());
        if self.stream.is_none() {
            let s = std::net::TcpStream::connect(self.addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            self.stream = Some(s);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(bad("no connection"));
        };
        self.request.clear();
        write!(
            self.request,
            "GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n",
            self.addr
        )?;
        stream.write_all(&self.request)?;
        self.buf.clear();
        // Status line and headers.
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > 64 << 10 {
                return Err(bad("headers over 64 KiB"));
            }
            let len = self.buf.len();
            self.buf.resize(len + (16 << 10), 0);
            let n = stream.read(&mut self.buf[len..])?;
            self.buf.truncate(len + n);
            if n == 0 {
                return Err(Error::new(ErrorKind::UnexpectedEof, "closed"));
            }
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(|_| bad("headers"))?;
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.strip_prefix("HTTP/1.1 "))
            .and_then(|l| l.get(..3))
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| bad("status line"))?;
        let mut length = None;
        let mut close = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().map_err(|_| bad("content-length"))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(bad("a chunked answer"));
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                close = true;
            }
        }
        let length = match (length, status) {
            (Some(n), _) => n,
            (None, 304) => 0,
            (None, _) => return Err(bad("no content-length")),
        };
        let end = head_end + length;
        if self.buf.len() < end {
            let have = self.buf.len();
            self.buf.resize(end, 0);
            stream.read_exact(&mut self.buf[have..end])?;
        }
        if close || self.buf.len() > end {
            self.stream = None;
        }
        Ok((status, head_end..end))
    }
}

/// Whether a body is JSON of the shape `endpoint` answers (checked on a sample).
fn well_formed(endpoint: &str, body: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    match endpoint {
        "search" => v["hits"].is_array() && v["total"].is_u64(),
        _ => v["name"].is_string() && v["versions"].is_array(),
    }
}

/// Drives `path(k)` with `clients` clients for `duration`; request numbers `k` never repeat
/// across clients. Every answer must be 200 with a whole body; one in 16 is parsed and
/// checked for its shape.
fn drive(
    addr: std::net::SocketAddr,
    clients: usize,
    duration: Duration,
    endpoint: &'static str,
    path: &(dyn Fn(usize) -> String + Sync),
) -> EndpointReport {
    let started = Instant::now();
    let deadline = started + duration;
    let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                s.spawn(move || {
                    let mut client = Lean::new(addr);
                    let mut times = Vec::with_capacity(1 << 16);
                    let mut errors = 0;
                    let mut k = c;
                    let mut n = 0usize;
                    while Instant::now() < deadline {
                        let path = path(k);
                        let sent = Instant::now();
                        match client.get(&path) {
                            Ok((200, body)) => {
                                let took = sent.elapsed();
                                if n.is_multiple_of(16) && !well_formed(endpoint, &client.buf[body])
                                {
                                    errors += 1;
                                } else {
                                    times.push(took);
                                }
                            }
                            _ => errors += 1,
                        }
                        n += 1;
                        k += clients;
                    }
                    (times, errors)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| (Vec::new(), 1)))
            .collect()
    });
    let elapsed = started.elapsed();
    let errors = results.iter().map(|r| r.1).sum();
    let mut all: Vec<Duration> = results.into_iter().flat_map(|r| r.0).collect();
    all.sort_unstable();
    EndpointReport {
        endpoint,
        requests: all.len(),
        errors,
        elapsed,
        p50: percentile(&all, 0.50),
        p95: percentile(&all, 0.95),
        p99: percentile(&all, 0.99),
        max: all.last().copied().unwrap_or_default(),
        kept: 0,
        made: 0,
        server_cpu: None,
        client_cpu: None,
    }
}

/// CPU time so far, in clock ticks of 10 ms (Linux's `USER_HZ`): the server's threads
/// (named `registry-server`) and the whole process. `None` off Linux or when `/proc` cannot
/// be read.
fn cpu_ticks() -> Option<(u64, u64)> {
    // Fields after the `(comm)`: state is the 3rd of the line, utime the 14th, stime 15th.
    fn times(stat: &str) -> Option<(String, u64)> {
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let comm = stat.get(open + 1..close)?.to_owned();
        let rest: Vec<&str> = stat.get(close + 2..)?.split(' ').collect();
        let utime: u64 = rest.get(11)?.parse().ok()?;
        let stime: u64 = rest.get(12)?.parse().ok()?;
        Some((comm, utime + stime))
    }
    let (_, total) = times(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
    let mut server = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let Ok(task) = task else { continue };
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        if let Some((comm, t)) = times(&stat) {
            if comm.starts_with("registry-server") {
                server += t;
            }
        }
    }
    Some((server, total))
}

/// Sets `report`'s CPU per request from two [`cpu_ticks`] readings.
fn set_cpu(report: &mut EndpointReport, before: Option<(u64, u64)>, after: Option<(u64, u64)>) {
    let (Some((s0, t0)), Some((s1, t1))) = (before, after) else {
        return;
    };
    let per = |ticks: u64| {
        Duration::from_millis(ticks.saturating_mul(10))
            / u32::try_from(report.requests.max(1)).unwrap_or(u32::MAX)
    };
    let server = s1.saturating_sub(s0);
    report.server_cpu = Some(per(server));
    report.client_cpu = Some(per(t1.saturating_sub(t0).saturating_sub(server)));
}

/// Starts a server without a rate limit on a free port of 127.0.0.1 over the new data
/// directory `dir`, and writes `plugins` seeded plugins into its registry directory.
fn seeded_server(
    dir: &std::path::Path,
    plugins: usize,
    database: Option<&str>,
) -> Result<Server, RegistryError> {
    let mut server_options = ServerOptions::new(dir.to_owned(), parse_listen("127.0.0.1:0")?);
    server_options.rate_limit = None;
    if let Some(url) = database {
        server_options.database = super::DatabaseChoice::parse(url)?;
    }
    let server = Server::start(&server_options)?;
    let plugins = catalog(plugins);
    let refs: Vec<(&str, Vec<IndexLine>)> = plugins
        .iter()
        .map(|(n, l)| (n.as_str(), l.clone()))
        .collect();
    let data = server.data_dir();
    crate::testing::write_index(&data.registry, &data.keys, &refs)?;
    Ok(server)
}

/// A seeded server for the API fuzzer: `plugins` plugins in `dir` (which must not hold a
/// registry yet), the first half owned by the account `acme` (the rest by nobody, as if
/// written by hand), and an `admin` token of `acme`, valid for a day. Returns the running
/// server and the token.
pub fn serve_seeded(
    dir: &std::path::Path,
    plugins: usize,
) -> Result<(Server, String), RegistryError> {
    if dir.join("registry").exists() {
        return Err(ServerError::DataDir {
            path: dir.display().to_string(),
            reason: "it holds a registry already; give a new directory".into(),
        }
        .into());
    }
    let server = seeded_server(dir, plugins, None)?;
    let db = super::open_database(dir)?;
    for i in 0..plugins.div_ceil(2) {
        super::accounts::claim_new(&db, &plugin_name(i), "acme")?;
    }
    let token = super::tokens::create(
        &db,
        "acme",
        super::tokens::Scope::Admin,
        Some(super::tokens::now() + 86_400),
    )?;
    Ok((server, token.token))
}

/// Seeds a server in a temporary directory, starts it, drives it, stops it.
pub fn run(options: &LoadOptions) -> Result<LoadReport, RegistryError> {
    let internal = |reason: String| ServerError::Internal { reason };
    let tmp = tempfile::tempdir().map_err(|e| internal(format!("a temporary directory: {e}")))?;
    let cluster = if options.postgres {
        let bin = crate::testing_postgres::binaries().ok_or_else(|| {
            internal(
                "--postgres needs PostgreSQL's initdb and pg_ctl (Debian's `postgresql`)".into(),
            )
        })?;
        Some(crate::testing_postgres::TempCluster::start(&bin).map_err(internal)?)
    } else {
        None
    };
    let url = match &cluster {
        Some(c) => Some(c.database().map_err(internal)?),
        None => None,
    };
    let started = Instant::now();
    let server = seeded_server(&tmp.path().join("data"), options.plugins, url.as_deref())?;
    let seed = started.elapsed();
    let base = server.url();
    let agent = agent();
    let started = Instant::now();
    if !get(&agent, &format!("{base}/api/v1/search?q=graph")) {
        return Err(internal("the first search failed".into()).into());
    }
    let first_search = started.elapsed();
    for k in 0..options.warmup_requests {
        let _ = get(&agent, &format!("{base}{}", search_path(k)));
        let _ = get(
            &agent,
            &format!("{base}{}", details_path(k, options.plugins)),
        );
    }
    let n = options.plugins;
    let addr = server.addr();
    if options.warm_details {
        std::thread::scope(|s| {
            for t in 0..4 {
                s.spawn(move || {
                    let mut client = Lean::new(addr);
                    for i in (t..n).step_by(4) {
                        let _ = client.get(&format!("/api/v1/plugins/{}", plugin_name(i)));
                    }
                });
            }
        });
    }
    let before = server.cache_counts();
    let cpu0 = cpu_ticks();
    let mut search = drive(
        addr,
        options.clients,
        options.duration,
        "search",
        &search_path,
    );
    let middle = server.cache_counts();
    let cpu1 = cpu_ticks();
    let mut details = drive(addr, options.clients, options.duration, "details", &|k| {
        details_path(k, n)
    });
    let after = server.cache_counts();
    let cpu2 = cpu_ticks();
    set_cpu(&mut search, cpu0, cpu1);
    set_cpu(&mut details, cpu1, cpu2);
    search.kept = middle.search_kept - before.search_kept;
    search.made = middle.search_made - before.search_made;
    details.kept = after.details_kept - middle.details_kept;
    details.made = after.details_made - middle.details_made;
    let endpoints = vec![search, details];
    drop(server);
    drop(cluster);
    Ok(LoadReport {
        options: options.clone(),
        seed,
        first_search,
        endpoints,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_run_answers_every_request_and_reports_sane_figures() {
        let options = LoadOptions {
            plugins: 200,
            clients: 4,
            duration: Duration::from_millis(1000),
            warmup_requests: 4,
            postgres: false,
            warm_details: true,
        };
        let report = run(&options).unwrap();
        assert_eq!(report.endpoints.len(), 2);
        for e in &report.endpoints {
            assert_eq!(e.errors, 0, "{}", e.endpoint);
            assert!(e.requests > 0, "{}", e.endpoint);
            assert!(e.p50 <= e.p95 && e.p95 <= e.p99 && e.p99 <= e.max, "{e:?}");
            assert!(e.max > Duration::ZERO && e.throughput() > 0.0, "{e:?}");
            assert!(e.kept + e.made >= e.requests as u64, "{e:?}");
            if e.endpoint == "details" {
                // Every plugin's details asked once before: nothing changed since.
                assert_eq!(e.made, 0, "{e:?}");
            }
            if cfg!(target_os = "linux") {
                assert!(e.server_cpu.is_some() && e.client_cpu.is_some(), "{e:?}");
            }
        }
        let doc = report.json();
        assert_eq!(doc["plugins"], 200);
        assert_eq!(doc["endpoints"][0]["endpoint"], "search");
        assert_eq!(doc["endpoints"][1]["errors"], 0);
        let table = report.table();
        assert!(table.contains("search") && table.contains("details") && table.contains("P95"));
    }

    #[test]
    fn the_lean_client_reads_statuses_and_whole_bodies_over_one_connection() {
        let tmp = tempfile::tempdir().unwrap();
        let server = seeded_server(&tmp.path().join("data"), 5, None).unwrap();
        let mut client = Lean::new(server.addr());
        let name = plugin_name(2);
        for _ in 0..3 {
            let (status, body) = client.get(&format!("/api/v1/plugins/{name}")).unwrap();
            assert_eq!(status, 200);
            let doc: Value = serde_json::from_slice(&client.buf[body.clone()]).unwrap();
            assert_eq!(doc["name"], name.as_str());
            assert!(well_formed("details", &client.buf[body]));
            let (status, body) = client.get("/api/v1/search?q=a").unwrap();
            assert_eq!(status, 200);
            assert!(well_formed("search", &client.buf[body.clone()]));
            assert!(!well_formed("details", &client.buf[body]));
            let (status, body) = client.get("/api/v1/plugins/no-such-plugin").unwrap();
            assert_eq!(status, 404);
            let doc: Value = serde_json::from_slice(&client.buf[body]).unwrap();
            assert!(doc["code"].as_str().unwrap().starts_with("SB"), "{doc}");
        }
        drop(server);
        // A server gone is an error, not a hang.
        assert!(client.get("/api/v1/search").is_err());
    }

    #[test]
    fn seeded_requests_are_well_formed_and_varied() {
        let paths: std::collections::HashSet<String> = (0..200).map(search_path).collect();
        assert!(paths.len() > 100, "{}", paths.len());
        assert!(paths.iter().any(|p| p.contains("trust=")));
        assert!(paths.iter().any(|p| p.contains("compatible_with=")));
        assert!(paths.iter().any(|p| p.contains("page=")));
        assert!(details_path(3, 10).starts_with("/api/v1/plugins/"));
        assert_eq!(catalog(5).len(), 5);
    }

    #[test]
    fn arguments_parse_and_bad_ones_say_why() {
        let args = |a: &[&str]| Args::parse(a.iter().map(|s| (*s).to_owned()));
        let a = args(&[
            "--plugins",
            "200",
            "--clients",
            "4",
            "--seconds",
            "1.5",
            "--json",
        ])
        .unwrap();
        assert!(a.json && a.serve.is_none());
        assert_eq!((a.options.plugins, a.options.clients), (200, 4));
        assert_eq!(a.options.duration, Duration::from_millis(1500));
        assert_eq!(args(&[]).unwrap().options, LoadOptions::default());
        assert!(args(&["--postgres"]).unwrap().options.postgres);
        assert!(args(&["--warm-details"]).unwrap().options.warm_details);
        assert_eq!(
            args(&["--serve", "/tmp/x"]).unwrap().serve,
            Some("/tmp/x".into())
        );
        for bad in [
            &["--plugins", "0"][..],
            &["--clients"],
            &["--seconds", "-1"],
            &["--serve"],
            &["--what"],
        ] {
            assert!(args(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_seeded_server_for_the_fuzzer_answers_with_its_token() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let (server, token) = serve_seeded(&dir, 6).unwrap();
        let agent = agent();
        let mut r = agent
            .get(format!("{}/api/v1/whoami", server.url()))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let who: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(who["account"], "acme");
        let mut r = agent
            .get(format!(
                "{}/api/v1/plugins/{}/owners",
                server.url(),
                plugin_name(0)
            ))
            .call()
            .unwrap();
        assert!(r.body_mut().read_to_string().unwrap().contains("acme"));
        assert!(get(&agent, &format!("{}/api/v1/search?q=a", server.url())));
        drop(server);
        // A directory holding a registry already is refused.
        assert!(serve_seeded(&dir, 1).is_err());
    }
}
