//! The server on 127.0.0.1 (a free port), over real HTTP: the index files with ETags, search
//! and details, and every refusal coded. The real client and a real package are in
//! `tests/all/registry_server.rs`.
//!
//! Every test that starts a server runs twice (`on_both_backends!`): `NAME::sqlite` on the
//! default SQLite store and `NAME::postgres` on a real PostgreSQL — a throwaway cluster
//! (`testing_postgres`) shared by the tests running at the same time, one new database per
//! test. Without PostgreSQL's binaries the `postgres` runs fail saying what to install, unless
//! `SWITCHBOARD_SKIP_POSTGRES=1` is set outside CI (then they print "skipped" and pass).

use std::cell::RefCell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::{Arc, Mutex, Weak};

use super::*;
use crate::format::{Channel, IndexLine, Yanked};
use crate::publish::{publish_unverified, Expiries};
use crate::server::{accounts, limits};
use crate::testing_postgres::{binaries, TempCluster};

/// Set (outside CI) to skip the PostgreSQL runs on a machine without PostgreSQL.
const SKIP_POSTGRES: &str = "SWITCHBOARD_SKIP_POSTGRES";

/// The store a test's servers use.
#[derive(Debug)]
enum Backend {
    Sqlite,
    Postgres {
        /// Kept running while any test holds it.
        cluster: Arc<TempCluster>,
        /// This test's own database on it.
        name: String,
        url: String,
    },
}

/// The cluster the running tests share: made by the first that needs it, stopped when the
/// last one holding it ends (a later test starts another).
static CLUSTER: Mutex<Weak<TempCluster>> = Mutex::new(Weak::new());

impl Backend {
    /// A new database on the shared cluster; `None` when PostgreSQL is missing and
    /// `SWITCHBOARD_SKIP_POSTGRES` says to skip.
    #[expect(clippy::print_stderr, reason = "says why the test did not run")]
    fn postgres() -> Option<Backend> {
        let Some(bin) = binaries() else {
            if std::env::var_os(SKIP_POSTGRES).is_some() && std::env::var_os("CI").is_none() {
                eprintln!("skipped: no PostgreSQL (initdb, pg_ctl), and {SKIP_POSTGRES} is set");
                return None;
            }
            panic!(
                "the registry server's PostgreSQL tests need PostgreSQL's initdb and pg_ctl \
                 (on PATH, in /usr/lib/postgresql/*/bin, or in SWITCHBOARD_PG_BIN): install \
                 Debian's `postgresql` package (`apt-get install postgresql`; .ci/run does), \
                 or outside CI set {SKIP_POSTGRES}=1 to skip them"
            );
        };
        let cluster = {
            let mut shared = CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
            match shared.upgrade() {
                Some(c) => c,
                None => {
                    let c = Arc::new(TempCluster::start(&bin).unwrap());
                    *shared = Arc::downgrade(&c);
                    c
                }
            }
        };
        let url = cluster.database().unwrap();
        let name = url.rsplit('/').next().unwrap().to_owned();
        Some(Backend::Postgres { cluster, name, url })
    }

    fn is_sqlite(&self) -> bool {
        matches!(self, Backend::Sqlite)
    }

    fn choice(&self) -> DatabaseChoice {
        match self {
            Backend::Sqlite => DatabaseChoice::Sqlite,
            Backend::Postgres { url, .. } => DatabaseChoice::parse(url).unwrap(),
        }
    }

    /// Runs `sql` on the server's database, outside the server (to break it on purpose).
    fn execute(&self, server: &Server, sql: &str) {
        match self {
            Backend::Sqlite => rusqlite::Connection::open(&server.data_dir().database)
                .unwrap()
                .execute_batch(sql)
                .unwrap(),
            Backend::Postgres { cluster, name, .. } => cluster.sql(name, sql).unwrap(),
        }
    }

    /// Every byte the database keeps of `table` (SQLite: the whole database file).
    fn everything_stored(&self, server: &Server, table: &str) -> Vec<u8> {
        match self {
            Backend::Sqlite => std::fs::read(&server.data_dir().database).unwrap(),
            Backend::Postgres { url, .. } => {
                let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
                let rows = c
                    .query(&format!("SELECT t::text FROM {table} t"), &[])
                    .unwrap();
                rows.iter()
                    .flat_map(|r| r.get::<_, String>(0).into_bytes())
                    .collect()
            }
        }
    }
}

thread_local! {
    /// The backend of the test running on this thread (SQLite outside `on_both_backends!`).
    static BACKEND: RefCell<Rc<Backend>> = RefCell::new(Rc::new(Backend::Sqlite));
}

fn backend() -> Rc<Backend> {
    BACKEND.with(|b| Rc::clone(&b.borrow()))
}

/// Runs `test` with `backend` as this thread's backend.
fn run_on(backend: Backend, test: fn()) {
    BACKEND.with(|b| *b.borrow_mut() = Rc::new(backend));
    test();
}

/// Makes each named test function (no `#[test]` of its own) two tests, `NAME::sqlite` and
/// `NAME::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::run_on(super::Backend::Sqlite, super::$name);
            }
            #[test]
            fn postgres() {
                if let Some(b) = super::Backend::postgres() {
                    super::run_on(b, super::$name);
                }
            }
        }
    )*};
}

/// Options for a server over `data` on a free port, on this test's backend.
fn server_options(data: std::path::PathBuf) -> ServerOptions {
    let mut options = ServerOptions::new(data, parse_listen("127.0.0.1:0").unwrap());
    options.database = backend().choice();
    // Tests write beside the server through their own handle (`db`) and read details right
    // after: exact, never "within 100 ms".
    options.shared_database_lag = std::time::Duration::ZERO;
    options
}

/// Another handle on `server`'s database (as the token commands open it).
fn db(server: &Server) -> Database {
    open_database_with(&server.data_dir().root, &backend().choice()).unwrap()
}

fn line(name: &str, version: &str, package: &[u8]) -> IndexLine {
    let mut l = crate::testing::line(name, version);
    l.sha256 = crate::sha256_hex(package);
    l.size = package.len() as u64;
    l
}

/// A server over a new data directory, with `plugins` published (one package each).
fn serve(plugins: Vec<IndexLine>) -> (tempfile::TempDir, Server) {
    let tmp = tempfile::tempdir().unwrap();
    let options = server_options(tmp.path().join("data"));
    let server = Server::start(&options).unwrap();
    assert!(server.created());
    if !plugins.is_empty() {
        let releases = plugins
            .into_iter()
            .map(|l| {
                let bytes = format!("{}@{}", l.name, l.version).into_bytes();
                let mut l = l;
                l.sha256 = crate::sha256_hex(&bytes);
                l.size = bytes.len() as u64;
                (l, bytes)
            })
            .collect();
        let d = server.data_dir();
        publish_unverified(&d.registry, &d.keys, releases, &Expiries::default()).unwrap();
    }
    (tmp, server)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// GET `path`: status, headers we look at, body.
fn get(
    server: &Server,
    path: &str,
    etag: Option<&str>,
) -> (u16, Option<String>, Option<String>, Vec<u8>) {
    let mut req = agent().get(format!("{}{path}", server.url()));
    if let Some(t) = etag {
        req = req.header("If-None-Match", t);
    }
    let mut resp = req.call().unwrap();
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (tag, cache) = (h("etag"), h("cache-control"));
    let body = resp.body_mut().read_to_vec().unwrap();
    (resp.status().as_u16(), tag, cache, body)
}

fn get_json(server: &Server, path: &str) -> (u16, serde_json::Value) {
    let (status, _, _, body) = get(server, path, None);
    (status, serde_json::from_slice(&body).unwrap())
}

/// Sends `path` as written, byte for byte (no client normalises it), and returns the status
/// and body.
fn raw(server: &Server, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn code(body: &serde_json::Value) -> &str {
    body["code"].as_str().unwrap_or("")
}

fn first_start_makes_the_data_dir_with_private_keys_and_a_second_start_reuses_it() {
    let (tmp, server) = serve(vec![]);
    let data = server.data_dir().clone();
    drop(server);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data.keys), 0o700);
        assert_eq!(mode(&data.keys.join("timestamp.key")), 0o600);
        if backend().is_sqlite() {
            assert_eq!(mode(&data.database), 0o600);
        }
    }
    // On PostgreSQL the data directory has no database file.
    assert_eq!(data.database.is_file(), backend().is_sqlite());
    let root = std::fs::read(data.registry.join("root.json")).unwrap();
    let options = server_options(data.root.clone());
    let again = Server::start(&options).unwrap();
    assert!(!again.created());
    assert_eq!(
        std::fs::read(data.registry.join("root.json")).unwrap(),
        root
    );
    drop(again);
    // Keys without a registry (or a stranger's directory) are refused, coded.
    std::fs::remove_dir_all(&data.registry).unwrap();
    let e = Server::start(&options).unwrap_err();
    assert_eq!(e.code().to_string(), "SB1376", "{e}");
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let e = Server::start(&server_options(other)).unwrap_err();
    assert_eq!(e.code().to_string(), "SB1376", "{e}");
}

fn listen_addresses_other_than_ip_literals_of_one_interface_are_refused() {
    for bad in [
        "0.0.0.0:8080",
        "[::]:8080",
        "localhost:8080",
        "8080",
        "224.0.0.1:80",
        "255.255.255.255:1",
    ] {
        let e = parse_listen(bad).unwrap_err();
        assert_eq!(e.code().to_string(), "SB1375", "{bad}");
    }
    assert!(parse_listen("[::1]:0").is_ok());
    assert!(parse_listen("192.0.2.7:8080").is_ok());
    // A port in use is refused when starting, coded.
    let (tmp, server) = serve(vec![]);
    let mut busy = server_options(tmp.path().join("data2"));
    busy.listen = server.addr();
    assert_eq!(
        Server::start(&busy).unwrap_err().code().to_string(),
        "SB1378"
    );
}

fn index_files_are_served_with_etags_304_and_cache_control() {
    let (_tmp, server) = serve(vec![line("hello", "1.0.0", b"")]);
    let (status, tag, cache, body) = get(&server, "/index/timestamp.json", None);
    assert_eq!(status, 200);
    let on_disk = std::fs::read(server.data_dir().registry.join("timestamp.json")).unwrap();
    assert_eq!(body, on_disk);
    let tag = tag.unwrap();
    assert_eq!(tag, format!("\"{}\"", crate::sha256_hex(&on_disk)));
    assert_eq!(cache.as_deref(), Some("no-cache"));
    let (status, _, _, body) = get(&server, "/index/timestamp.json", Some(&tag));
    assert_eq!((status, body.len()), (304, 0));
    let (status, ..) = get(&server, "/index/timestamp.json", Some("\"other\""));
    assert_eq!(status, 200);
    let (status, _, _, body) = get(&server, "/index/index/he/ll/hello", None);
    assert_eq!(status, 200);
    assert!(String::from_utf8(body).unwrap().contains("\"hello\""));
    let package = format!(
        "/index/packages/{}.sbpkg",
        crate::sha256_hex(b"hello@1.0.0")
    );
    let (status, _, cache, body) = get(&server, &package, None);
    assert_eq!((status, body.as_slice()), (200, b"hello@1.0.0".as_slice()));
    assert!(cache.unwrap().contains("immutable"));
    let (status, body) = get_json(&server, "/index/index/no/pe/nope");
    assert_eq!((status, code(&body)), (404, "SB1380"));
}

fn path_tricks_get_a_coded_400_and_never_a_file_outside() {
    let (_tmp, server) = serve(vec![]);
    let secret = std::fs::read_to_string(server.data_dir().keys.join("root.key")).unwrap();
    for path in [
        "/index/../keys/root.key",
        "/index/%2e%2e/keys/root.key",
        "/index/%2E%2E%2Fkeys%2Froot.key",
        "/index/..%2fkeys/root.key",
        "/index//etc/passwd",
        "/index/%2fetc%2fpasswd",
        "/index/.lock",
        "/index/index/./he",
        "/index/a%5c..%5cb",
        "/index/a%00b",
    ] {
        let (status, body) = raw(&server, path);
        assert!(!body.contains(&secret), "{path}");
        assert!(status == 400 || status == 404, "{path}: {status} {body}");
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert!(["SB1379", "SB1380"].contains(&code(&doc)), "{path}: {body}");
    }
    let (status, body) = raw(&server, "/index/%2e%2e/keys/root.key");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("SB1379"));
    // A symbolic link inside the registry to a file outside is not followed out.
    #[cfg(unix)]
    {
        let d = server.data_dir();
        std::os::unix::fs::symlink(d.keys.join("root.key"), d.registry.join("leak")).unwrap();
        let (status, body) = raw(&server, "/index/leak");
        assert_eq!(status, 400, "{body}");
        assert!(!body.contains(&secret));
    }
    // Names in the API: refused as names, coded.
    for name in ["..", "%2e%2e", "%2Fetc%2Fpasswd", "Hello", "a%20b"] {
        let (status, body) = raw(&server, &format!("/api/v1/plugins/{name}"));
        assert_eq!(status, 400, "{name}: {body}");
        assert!(body.contains("SB1384"), "{name}: {body}");
    }
}

fn search_sorts_by_relevance_then_name_and_pages_with_a_total() {
    let mut wc = line("wordcount", "1.0.0", b"");
    wc.description = "Counts words with hello".into();
    let mut kw = line("zeta", "1.0.0", b"");
    kw.keywords = vec!["hello".into()];
    let yanked_only = IndexLine {
        yanked: Some(Yanked {
            reason: "broken".into(),
        }),
        ..line("hello-yanked", "1.0.0", b"")
    };
    let (_tmp, server) = serve(vec![
        line("hello", "1.0.0", b""),
        line("hello", "1.1.0", b""),
        line("hello-world", "0.1.0", b""),
        line("ahello", "0.1.0", b""),
        wc,
        kw,
        yanked_only,
    ]);
    let (status, doc) = get_json(&server, "/api/v1/search?q=hello");
    assert_eq!(status, 200);
    let names: Vec<&str> = doc["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["hello", "hello-world", "ahello", "zeta", "wordcount"]
    );
    assert_eq!(doc["total"], 5);
    assert_eq!(doc["hits"][0]["version"], "1.1.0");
    let (_, doc) = get_json(&server, "/api/v1/search?q=hello&page=2&per_page=2");
    assert_eq!(doc["total"], 5);
    assert_eq!(doc["hits"][0]["name"], "ahello");
    assert_eq!(doc["hits"].as_array().unwrap().len(), 2);
    let (_, doc) = get_json(&server, "/api/v1/search?q=hello&page=9");
    assert_eq!(
        (doc["total"].as_u64(), doc["hits"].as_array().unwrap().len()),
        (Some(5), 0)
    );
    // No query: everything with a visible release (not `hello-yanked`), by name.
    let (_, doc) = get_json(&server, "/api/v1/search");
    assert_eq!(doc["total"], 5);
    assert_eq!(doc["hits"][0]["name"], "ahello");
    // Words must all match.
    let (_, doc) = get_json(&server, "/api/v1/search?q=hello%20counts");
    assert_eq!(doc["total"], 1);
}

fn search_parameters_out_of_range_are_refused_coded() {
    let (_tmp, server) = serve(vec![]);
    for q in [
        format!("per_page={}", MAX_PER_PAGE + 1),
        "per_page=0".into(),
        "page=0".into(),
        "page=-1".into(),
        "per_page=lots".into(),
        "sort=stars".into(),
        format!("q={}", "a".repeat(MAX_QUERY_BYTES + 1)),
    ] {
        let (status, doc) = get_json(&server, &format!("/api/v1/search?{q}"));
        assert_eq!((status, code(&doc)), (400, "SB1382"), "{q}: {doc}");
        assert!(!doc["next_step"].as_str().unwrap().is_empty());
    }
    let (_, doc) = get_json(
        &server,
        &format!("/api/v1/search?per_page={}", MAX_PER_PAGE + 1),
    );
    assert!(
        doc["message"].as_str().unwrap().contains("maximum of 100"),
        "{doc}"
    );
    let (status, doc) = get_json(&server, &format!("/api/v1/search?per_page={MAX_PER_PAGE}"));
    assert_eq!(status, 200, "{doc}");
}

fn plugin_details_list_versions_channels_yanks_and_deprecation() {
    let beta = IndexLine {
        channel: Channel::Beta,
        ..line("hello", "2.0.0-beta.1", b"")
    };
    let yanked = IndexLine {
        yanked: Some(Yanked {
            reason: "data loss".into(),
        }),
        ..line("hello", "1.1.0", b"")
    };
    let draft = IndexLine {
        channel: Channel::Draft,
        ..line("hello", "3.0.0", b"")
    };
    let (_tmp, server) = serve(vec![line("hello", "1.0.0", b""), yanked, beta, draft]);
    let (status, doc) = get_json(&server, "/api/v1/plugins/hello");
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["latest"], "1.0.0");
    assert_eq!(doc["channels"]["ga"], "1.0.0");
    assert_eq!(doc["channels"]["beta"], "2.0.0-beta.1");
    assert_eq!(doc["channels"]["draft"], "3.0.0");
    let versions: Vec<&str> = doc["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["3.0.0", "2.0.0-beta.1", "1.1.0", "1.0.0"]);
    assert_eq!(doc["versions"][2]["yanked"]["reason"], "data loss");
    assert_eq!(doc["deprecated"], serde_json::Value::Null);
    // The download link is the file the index names, and it is served.
    let link = doc["versions"][3]["download"].as_str().unwrap().to_owned();
    let (status, _, _, body) = get(&server, &link, None);
    assert_eq!((status, body.as_slice()), (200, b"hello@1.0.0".as_slice()));

    let d = server.data_dir();
    crate::publish::deprecate(&d.registry, &d.keys, "hello", None, &Expiries::default()).unwrap();
    let (_, doc) = get_json(&server, "/api/v1/plugins/hello");
    assert_eq!(doc["deprecated"], serde_json::json!({ "successor": null }));

    let (status, doc) = get_json(&server, "/api/v1/plugins/nope");
    assert_eq!((status, code(&doc)), (404, "SB1381"));
    let (status, doc) = get_json(&server, "/api/v2/anything");
    assert_eq!((status, code(&doc)), (404, "SB1380"));
}

// ---- Publishing and yanking with tokens ----

fn serve_with(max_upload: u64) -> (tempfile::TempDir, Server) {
    let tmp = tempfile::tempdir().unwrap();
    let mut options = server_options(tmp.path().join("data"));
    options.max_upload_bytes = max_upload;
    (tmp, Server::start(&options).unwrap())
}

fn token(server: &Server, account: &str, scope: &str, expires: Option<i64>) -> String {
    let db = db(server);
    tokens::create(&db, account, scope.parse().unwrap(), expires)
        .unwrap()
        .token
}

/// POSTs `body` to `path` with `headers`: status and JSON answer.
fn post(
    server: &Server,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, serde_json::Value) {
    let mut req = agent().post(format!("{}{path}", server.url()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.send(body).unwrap();
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_vec().unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

fn sig_header() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode("untrusted comment: x\nRWQ\n")
}

fn publishing_needs_a_valid_token_with_the_publish_scope() {
    let (_tmp, server) = serve_with(1 << 20);
    let sig = sig_header();
    let upload = |auth: Option<&str>| {
        let bearer = auth.map(|t| format!("Bearer {t}"));
        let mut h = vec![
            ("Switchboard-Signature", sig.as_str()),
            ("Switchboard-Package-File", "hello-1.0.0.sbpkg"),
        ];
        if let Some(b) = &bearer {
            h.push(("Authorization", b.as_str()));
        }
        post(&server, "/api/v1/publish", &h, b"not a package")
    };
    let (status, doc) = upload(None);
    assert_eq!((status, code(&doc)), (401, "SB1385"), "{doc}");
    // A large upload without a token is refused before its body is kept, and the client,
    // still sending, reads the refusal rather than a broken pipe (the body is drained).
    let large = vec![7u8; 1 << 20]; // the cap this server was started with
    let h = [("Switchboard-Package-File", "hello-1.0.0.sbpkg")];
    let (status, doc) = post(&server, "/api/v1/publish", &h, &large);
    assert_eq!((status, code(&doc)), (401, "SB1385"), "{doc}");
    let (status, doc) = upload(Some("sbt_0000_1111"));
    assert_eq!((status, code(&doc)), (401, "SB1385"), "{doc}");
    let (status, doc) = upload(Some("garbage"));
    assert_eq!((status, code(&doc)), (401, "SB1385"), "{doc}");
    // A right id with a wrong secret is no token either.
    let good = token(&server, "acme", "publish:*", None);
    let forged = format!("{}0", &good[..good.len() - 1]);
    let forged = if forged == good {
        format!("{}1", &good[..good.len() - 1])
    } else {
        forged
    };
    let (status, doc) = upload(Some(&forged));
    assert_eq!((status, code(&doc)), (401, "SB1385"), "{doc}");

    let yank_only = token(&server, "acme", "yank", None);
    let (status, doc) = upload(Some(&yank_only));
    assert_eq!((status, code(&doc)), (403, "SB1388"), "{doc}");
    let expired = token(&server, "acme", "publish:*", Some(tokens::now() - 1));
    let (status, doc) = upload(Some(&expired));
    assert_eq!((status, code(&doc)), (401, "SB1386"), "{doc}");
    let revoked = token(&server, "acme", "publish:*", None);
    let db = db(&server);
    tokens::revoke(&db, &revoked).unwrap();
    let (status, doc) = upload(Some(&revoked));
    assert_eq!((status, code(&doc)), (401, "SB1387"), "{doc}");

    // A valid token, and bytes that are not a package: the host's own check refuses them.
    let (status, doc) = upload(Some(&good));
    assert_eq!((status, code(&doc)), (422, "SB1334"), "{doc}");
    assert!(!doc["next_step"].as_str().unwrap().is_empty());
    // The refusal names the upload as sent, not the server's staging path.
    let message = doc["message"].as_str().unwrap();
    assert!(message.contains("hello-1.0.0.sbpkg"), "{message}");
    let root = server.data_dir().root.display().to_string();
    assert!(!message.contains(&root), "{message}");
    // Nothing was listed, nothing claimed.
    assert_eq!(get_json(&server, "/api/v1/search").1["total"], 0);
}

fn malformed_and_oversize_uploads_are_refused_coded() {
    let (_tmp, server) = serve_with(1024);
    let good = format!("Bearer {}", token(&server, "acme", "publish:*", None));
    let sig = sig_header();
    let with_sig = [
        ("Authorization", good.as_str()),
        ("Switchboard-Signature", sig.as_str()),
    ];
    let (status, doc) = post(&server, "/api/v1/publish", &with_sig, &[7u8; 4096]);
    assert_eq!((status, code(&doc)), (413, "SB1390"), "{doc}");
    let (status, doc) = post(&server, "/api/v1/publish", &with_sig, b"");
    assert_eq!((status, code(&doc)), (400, "SB1391"), "{doc}");
    let (status, doc) = post(
        &server,
        "/api/v1/publish",
        &[("Authorization", good.as_str())],
        b"x",
    );
    assert_eq!((status, code(&doc)), (400, "SB1391"), "{doc}");
    let bad_sig = [
        ("Authorization", good.as_str()),
        ("Switchboard-Signature", "%%%"),
    ];
    let (status, doc) = post(&server, "/api/v1/publish", &bad_sig, b"x");
    assert_eq!((status, code(&doc)), (400, "SB1391"), "{doc}");
    let (status, doc) = post(&server, "/api/v1/publish?channel=nightly", &with_sig, b"x");
    assert_eq!((status, code(&doc)), (400, "SB1382"), "{doc}");
    // The file name: missing, or not a plain `.sbpkg` name (no path tricks in it either).
    let (status, doc) = post(&server, "/api/v1/publish", &with_sig, b"x");
    assert_eq!((status, code(&doc)), (400, "SB1391"), "{doc}");
    for name in ["../x-1.0.0.sbpkg", "x-1.0.0.tar", ".x.sbpkg", "a/b.sbpkg"] {
        let mut h = with_sig.to_vec();
        h.push(("Switchboard-Package-File", name));
        let (status, doc) = post(&server, "/api/v1/publish", &h, b"x");
        assert_eq!((status, code(&doc)), (400, "SB1391"), "{name}: {doc}");
    }
}

fn yank_and_unyank_need_the_yank_scope_and_the_owning_account() {
    let (_tmp, server) = serve(vec![line("hello", "1.0.0", b"")]);
    let db = db(&server);
    accounts::claim_new(&db, "hello", "acme").unwrap();
    let auth = |t: &str| format!("Bearer {t}");
    let acme_yank = auth(&token(&server, "acme", "yank", None));
    let acme_publish = auth(&token(&server, "acme", "publish:*", None));
    let other_yank = auth(&token(&server, "other", "yank", None));
    let admin = auth(&token(&server, "ops", "admin", None));
    let json_h = ("Content-Type", "application/json");
    let body = br#"{"version":"1.0.0","reason":"data loss"}"#;
    let yank = |a: &str, body: &[u8]| {
        post(
            &server,
            "/api/v1/plugins/hello/yank",
            &[("Authorization", a), json_h],
            body,
        )
    };

    let (status, doc) = post(&server, "/api/v1/plugins/hello/yank", &[json_h], body);
    assert_eq!((status, code(&doc)), (401, "SB1385"));
    let (status, doc) = yank(&acme_publish, body);
    assert_eq!((status, code(&doc)), (403, "SB1388"), "{doc}");
    let (status, doc) = yank(&other_yank, body);
    assert_eq!((status, code(&doc)), (403, "SB1389"), "{doc}");
    let (status, doc) = yank(&acme_yank, br#"{"version":"1.0.0"}"#);
    assert_eq!((status, code(&doc)), (400, "SB1340"), "{doc}");
    let (status, doc) = yank(&acme_yank, b"{not json");
    assert_eq!((status, code(&doc)), (400, "SB1391"), "{doc}");
    let (status, doc) = yank(&acme_yank, br#"{"version":"one","reason":"x"}"#);
    assert_eq!((status, code(&doc)), (400, "SB1391"), "{doc}");
    let (status, doc) = post(
        &server,
        "/api/v1/plugins/nope/yank",
        &[("Authorization", &acme_yank), json_h],
        body,
    );
    assert_eq!((status, code(&doc)), (404, "SB1381"), "{doc}");

    let (status, doc) = yank(&acme_yank, body);
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["yanked"], "data loss");
    let (_, details) = get_json(&server, "/api/v1/plugins/hello");
    assert_eq!(details["versions"][0]["yanked"]["reason"], "data loss");
    // The signed index says so too: what clients verify.
    let index =
        std::fs::read_to_string(server.data_dir().registry.join("index/he/ll/hello")).unwrap();
    assert!(index.contains("data loss"));

    let (status, doc) = post(
        &server,
        "/api/v1/plugins/hello/unyank",
        &[("Authorization", &admin), json_h],
        br#"{"version":"1.0.0"}"#,
    );
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["yanked"], serde_json::Value::Null);
    assert_eq!(doc["changed"], true);

    // Both are in the audit trail, newest first, with who and why; only an admin reads it.
    let bare = |a: &str| a.trim_start_matches("Bearer ").to_owned();
    let (acme_yank, admin) = (bare(&acme_yank), bare(&admin));
    let (status, doc) = send(&server, "get", "/api/v1/audit", Some(&acme_yank), None);
    assert_eq!((status, code(&doc)), (403, "SB1388"), "{doc}");
    let (status, doc) = send(&server, "get", "/api/v1/audit", None, None);
    assert_eq!((status, code(&doc)), (401, "SB1385"), "{doc}");
    let (status, doc) = send(&server, "get", "/api/v1/audit?limit=0", Some(&admin), None);
    assert_eq!((status, code(&doc)), (400, "SB1382"), "{doc}");
    let (status, doc) = send(
        &server,
        "get",
        "/api/v1/audit?subject=plugin:hello@",
        Some(&admin),
        None,
    );
    assert_eq!(status, 200, "{doc}");
    let entries = doc["entries"].as_array().unwrap();
    let seen: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["subject"].as_str().unwrap(),
                e["detail"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("ops", "plugin.unyank", "plugin:hello@1.0.0", ""),
            ("acme", "plugin.yank", "plugin:hello@1.0.0", "data loss"),
        ]
    );
    assert!(entries[0]["id"].as_i64() > entries[1]["id"].as_i64());
    // A prefix is a prefix, not a pattern.
    let (_, doc) = send(
        &server,
        "get",
        "/api/v1/audit?subject=plugin:h_llo",
        Some(&admin),
        None,
    );
    assert_eq!(doc["entries"].as_array().unwrap().len(), 0, "{doc}");
}

fn tokens_are_stored_hashed_and_scopes_parse_strictly() {
    let (_tmp, server) = serve(vec![]);
    let db = db(&server);
    let t = tokens::create(&db, "acme", "publish:acme-*".parse().unwrap(), None).unwrap();
    let secret = t.token.rsplit('_').next().unwrap().to_owned();
    assert_eq!(secret.len(), 64);
    let stored = db.store().tokens().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].secret_hash, crate::sha256_hex(secret.as_bytes()));
    // The secret is nowhere in what the database stores.
    assert!(!backend()
        .everything_stored(&server, "tokens")
        .windows(secret.len())
        .any(|w| w == secret.as_bytes()));
    assert!(t.info.scope.may_publish("acme-tools"));
    assert!(!t.info.scope.may_publish("other"));
    for bad in [
        "publish:",
        "publish:Acme",
        "publish:a/b",
        "owner",
        "publish:*x",
    ] {
        assert_eq!(
            bad.parse::<tokens::Scope>().unwrap_err().code().to_string(),
            "SB1392",
            "{bad}"
        );
    }
    assert_eq!(
        tokens::create(&db, "Bad Account", tokens::Scope::Yank, None)
            .unwrap_err()
            .code()
            .to_string(),
        "SB1392"
    );
    assert_eq!(
        tokens::revoke(&db, "feedface")
            .unwrap_err()
            .code()
            .to_string(),
        "SB1393"
    );
    assert_eq!(tokens::list(&db).unwrap().len(), 1);
}

// ---- Rate limits and the OpenAPI document ----

fn a_client_over_its_rate_limit_gets_429_with_retry_after() {
    let tmp = tempfile::tempdir().unwrap();
    let mut options = server_options(tmp.path().join("data"));
    options.rate_limit = Some(RateLimit::new(3, 0.0));
    let server = Server::start(&options).unwrap();
    for _ in 0..3 {
        assert_eq!(get(&server, "/index/timestamp.json", None).0, 200);
    }
    // Every endpoint shares the bucket, refusals and unknown paths included.
    let mut resp = agent()
        .get(format!("{}/api/v1/search", server.url()))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let retry = resp
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(retry, "60");
    let doc: serde_json::Value =
        serde_json::from_slice(&resp.body_mut().read_to_vec().unwrap()).unwrap();
    assert_eq!(code(&doc), "SB1397");
    let (status, _) = raw(&server, "/nowhere");
    assert_eq!(status, 429);
}

#[test]
fn buckets_refill_at_their_rate_per_client() {
    use std::net::IpAddr;
    use std::time::{Duration, Instant};
    let limiter = limits::Limiter::new(RateLimit::new(2, 1.0));
    let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "::1".parse().unwrap());
    let t0 = Instant::now();
    assert_eq!(limiter.take(a, t0), Ok(()));
    assert_eq!(limiter.take(a, t0), Ok(()));
    assert_eq!(limiter.take(a, t0), Err(1));
    // Another client has its own bucket.
    assert_eq!(limiter.take(b, t0), Ok(()));
    // One second later, one more request; never more than the burst after a long pause.
    assert_eq!(limiter.take(a, t0 + Duration::from_secs(1)), Ok(()));
    assert_eq!(limiter.take(a, t0 + Duration::from_secs(1)), Err(1));
    let later = t0 + Duration::from_secs(3600);
    assert_eq!(limiter.take(a, later), Ok(()));
    assert_eq!(limiter.take(a, later), Ok(()));
    assert!(limiter.take(a, later).is_err());
}

fn the_openapi_document_names_every_route_and_every_route_is_served() {
    let (_tmp, server) = serve(vec![line("hello", "1.0.0", b"")]);
    let (status, doc) = get_json(&server, "/api/openapi.json");
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc, openapi());
    for (method, path) in ROUTES {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
        // The router answers it (not the fallback's SB1380).
        let concrete = path
            .replace("{path}", "timestamp.json")
            .replace("{name}", "hello");
        let url = format!("{}{concrete}", server.url());
        let concrete_url = url
            .replace("{account}", "acme")
            .replace("{key_id}", "0000")
            .replace("{id}", "0000");
        let url = concrete_url;
        let mut resp = match *method {
            "get" => agent().get(&url).call().unwrap(),
            "delete" => agent().delete(&url).call().unwrap(),
            "put" => agent().put(&url).send(&b""[..]).unwrap(),
            _ => agent().post(&url).send(&b""[..]).unwrap(),
        };
        let body = resp.body_mut().read_to_vec().unwrap();
        let status = resp.status().as_u16();
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_ne!(
            code(&answer),
            "SB1380",
            "{method} {path}: {status} {answer}"
        );
        let documented = &doc["paths"][path][method]["responses"][status.to_string()];
        assert!(
            documented.is_object(),
            "{method} {path}: {status} undocumented"
        );
    }
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(operations, ROUTES.len());
}

// ---- Owners, keys, deprecation, promotion, uploads and holds over HTTP ----

fn send(
    server: &Server,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let url = format!("{}{path}", server.url());
    let bearer = auth.map(|t| format!("Bearer {t}"));
    let mut resp = match method {
        "get" | "delete" => {
            let mut req = if method == "get" {
                agent().get(&url)
            } else {
                agent().delete(&url)
            };
            if let Some(b) = &bearer {
                req = req.header("Authorization", b.as_str());
            }
            req.call().unwrap()
        }
        _ => {
            let req = if method == "put" {
                agent().put(&url)
            } else {
                agent().post(&url)
            };
            let mut req = req.header("Content-Type", "application/json");
            if let Some(b) = &bearer {
                req = req.header("Authorization", b.as_str());
            }
            let bytes = body.map(|b| b.to_string()).unwrap_or_default();
            req.send(bytes.as_bytes()).unwrap()
        }
    };
    let status = resp.status().as_u16();
    let bytes = resp.body_mut().read_to_vec().unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

fn public_key() -> String {
    minisign::KeyPair::generate_unencrypted_keypair()
        .unwrap()
        .pk
        .to_box()
        .unwrap()
        .to_string()
}

fn owners_are_listed_added_only_explicitly_and_the_last_one_stays() {
    let (_tmp, server) = serve(vec![line("hello", "1.0.0", b"")]);
    let db = db(&server);
    assert!(accounts::claim_new(&db, "hello", "acme").unwrap());
    // A second claim by another account is refused; by the owner it is no change.
    assert_eq!(
        accounts::claim_new(&db, "hello", "bob")
            .unwrap_err()
            .code()
            .to_string(),
        "SB1389"
    );
    assert!(!accounts::claim_new(&db, "hello", "acme").unwrap());
    let acme = token(&server, "acme", "account", None);
    let acme_publish = token(&server, "acme", "publish:*", None);
    let other = token(&server, "other", "account", None);
    let expired = token(&server, "acme", "account", Some(tokens::now() - 1));
    let revoked = token(&server, "acme", "account", None);
    tokens::revoke(&db, &revoked).unwrap();

    let (status, doc) = send(&server, "get", "/api/v1/plugins/hello/owners", None, None);
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["owners"][0]["account"], "acme");
    let bob = Some(serde_json::json!({ "account": "bob" }));
    let path = "/api/v1/plugins/hello/owners";
    for (auth, want) in [
        (None, (401, "SB1385")),
        (Some(expired.as_str()), (401, "SB1386")),
        (Some(revoked.as_str()), (401, "SB1387")),
        (Some(acme_publish.as_str()), (403, "SB1388")),
        (Some(other.as_str()), (403, "SB1389")),
    ] {
        let (status, doc) = send(&server, "post", path, auth, bob.clone());
        assert_eq!((status, code(&doc)), want, "{doc}");
    }
    let (status, doc) = send(
        &server,
        "post",
        path,
        Some(&acme),
        Some(serde_json::json!({ "account": "Not An Account" })),
    );
    assert_eq!((status, code(&doc)), (400, "SB1450"), "{doc}");
    let (status, doc) = send(&server, "post", path, Some(&acme), bob.clone());
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["owners"][1]["account"], "bob");
    assert_eq!(doc["owners"][1]["added_by"], "acme");
    // bob now owns it: his tokens may yank it.
    let bob_yank = token(&server, "bob", "yank", None);
    let (status, doc) = send(
        &server,
        "post",
        "/api/v1/plugins/hello/yank",
        Some(&bob_yank),
        Some(serde_json::json!({ "version": "1.0.0", "reason": "broken" })),
    );
    assert_eq!(status, 200, "{doc}");
    let (status, doc) = send(
        &server,
        "delete",
        "/api/v1/plugins/hello/owners/acme",
        Some(&acme),
        None,
    );
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["owners"].as_array().unwrap().len(), 1);
    // acme is no owner now; bob is the last one.
    let (status, doc) = send(
        &server,
        "delete",
        "/api/v1/plugins/hello/owners/bob",
        Some(&acme),
        None,
    );
    assert_eq!((status, code(&doc)), (403, "SB1389"), "{doc}");
    let bob_account = token(&server, "bob", "account", None);
    let (status, doc) = send(
        &server,
        "delete",
        "/api/v1/plugins/hello/owners/bob",
        Some(&bob_account),
        None,
    );
    assert_eq!((status, code(&doc)), (409, "SB1441"), "{doc}");
    let (status, doc) = send(
        &server,
        "delete",
        "/api/v1/plugins/hello/owners/zed",
        Some(&bob_account),
        None,
    );
    assert_eq!((status, code(&doc)), (404, "SB1449"), "{doc}");
    let (status, doc) = send(&server, "get", "/api/v1/plugins/nope/owners", None, None);
    assert_eq!((status, code(&doc)), (404, "SB1381"), "{doc}");
}

fn a_hand_published_name_is_not_claimed_by_the_first_upload_and_failed_checks_keep_it_unlisted() {
    // `hello` is in the registry, published into its directory by hand: no account owns it.
    let (_tmp, server) = serve(vec![line("hello", "1.0.0", b"")]);
    let acme = token(&server, "acme", "publish:*", None);
    let admin = token(&server, "ops", "admin", None);
    let sig = sig_header();
    let auth = format!("Bearer {acme}");
    let h = [
        ("Authorization", auth.as_str()),
        ("Switchboard-Signature", sig.as_str()),
        ("Switchboard-Package-File", "hello-1.1.0.sbpkg"),
    ];
    let (status, doc) = post(&server, "/api/v1/publish", &h, b"not a package");
    assert_eq!((status, code(&doc)), (403, "SB1440"), "{doc}");
    assert!(doc["next_step"].as_str().unwrap().contains("owner add"));
    let db = db(&server);
    assert_eq!(tokens::owner(&db, "hello").unwrap(), None);
    // An admin assigns it explicitly; then acme's upload is stored and checked.
    let (status, doc) = send(
        &server,
        "post",
        "/api/v1/plugins/hello/owners",
        Some(&admin),
        Some(serde_json::json!({ "account": "acme" })),
    );
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["owners"][0]["added_by"], "ops");
    let (status, doc) = post(&server, "/api/v1/publish", &h, b"not a package");
    assert_eq!((status, code(&doc)), (422, "SB1334"), "{doc}");
    assert_eq!(doc["state"], "failed");
    let id = doc["upload"].as_str().unwrap().to_owned();
    // Every check ran and is recorded; none passed that could not.
    let (status, up) = send(&server, "get", &format!("/api/v1/uploads/{id}"), None, None);
    assert_eq!(status, 200, "{up}");
    assert_eq!(up["state"], "failed");
    let outcomes: Vec<(String, String)> = up["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let get = |n: &str| {
        outcomes
            .iter()
            .find(|(c, _)| c == n)
            .map(|(_, o)| o.as_str())
    };
    assert_eq!(get("size"), Some("passed"));
    assert_eq!(get("package"), Some("failed"));
    assert_eq!(get("preflight"), Some("failed"));
    assert_eq!(get("signed"), Some("errored"), "{up}");
    assert_eq!(get("signer"), Some("failed"));
    assert_eq!(get("name"), Some("passed"));
    assert_eq!(get("listing"), None);
    // Unlisted: the index still has 1.0.0 only, the stored bytes are gone, and the plugin's
    // details show the failed upload.
    let (_, details) = get_json(&server, "/api/v1/plugins/hello");
    assert_eq!(details["versions"].as_array().unwrap().len(), 1);
    assert_eq!(details["unlisted"][0]["upload"], id.as_str());
    assert_eq!(details["unlisted"][0]["state"], "failed");
    assert_eq!(details["owners"][0]["account"], "acme");
    assert!(!server.data_dir().uploads.join(&id).exists());
    // A failed upload is not a hold to release.
    let (status, doc) = send(
        &server,
        "post",
        &format!("/api/v1/holds/{id}/release"),
        Some(&admin),
        None,
    );
    assert_eq!((status, code(&doc)), (409, "SB1448"), "{doc}");
    let (status, doc) = send(
        &server,
        "post",
        "/api/v1/holds/feed/release",
        Some(&admin),
        None,
    );
    assert_eq!((status, code(&doc)), (404, "SB1447"), "{doc}");
    let (status, doc) = send(
        &server,
        "post",
        &format!("/api/v1/holds/{id}/reject"),
        Some(&acme),
        Some(serde_json::json!({})),
    );
    assert_eq!((status, code(&doc)), (403, "SB1388"), "{doc}");
    let (status, doc) = send(&server, "get", "/api/v1/holds", Some(&admin), None);
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["holds"].as_array().unwrap().len(), 0);
    let (status, doc) = send(&server, "get", "/api/v1/uploads/nope", None, None);
    assert_eq!((status, code(&doc)), (404, "SB1447"), "{doc}");
    // A file name that names no release is refused before anything is stored.
    let bad = [
        ("Authorization", auth.as_str()),
        ("Switchboard-Signature", sig.as_str()),
        ("Switchboard-Package-File", "hello.sbpkg"),
    ];
    let (status, doc) = post(&server, "/api/v1/publish", &bad, b"x");
    assert_eq!((status, code(&doc)), (400, "SB1391"), "{doc}");
}

fn signing_keys_are_bound_to_one_account_listed_and_removed() {
    let (_tmp, server) = serve(vec![]);
    let acme = token(&server, "acme", "account", None);
    let acme_publish = token(&server, "acme", "publish:*", None);
    let other = token(&server, "other", "account", None);
    let admin = token(&server, "ops", "admin", None);
    let key = public_key();
    let path = "/api/v1/accounts/acme/keys";
    let body = Some(serde_json::json!({ "public_key": key }));
    let (status, doc) = send(&server, "post", path, None, body.clone());
    assert_eq!((status, code(&doc)), (401, "SB1385"), "{doc}");
    let (status, doc) = send(&server, "post", path, Some(&acme_publish), body.clone());
    assert_eq!((status, code(&doc)), (403, "SB1388"), "{doc}");
    let (status, doc) = send(&server, "post", path, Some(&other), body.clone());
    assert_eq!((status, code(&doc)), (403, "SB1388"), "{doc}");
    let (status, doc) = send(
        &server,
        "post",
        path,
        Some(&acme),
        Some(serde_json::json!({ "public_key": "RWQ not a key" })),
    );
    assert_eq!((status, code(&doc)), (400, "SB1443"), "{doc}");
    let (status, doc) = send(&server, "post", path, Some(&acme), body.clone());
    assert_eq!(status, 200, "{doc}");
    let key_id = doc["key"]["key_id"].as_str().unwrap().to_owned();
    assert_eq!(key_id.len(), 16);
    // Again: no change; to another account (even by an admin): refused.
    let (status, _) = send(&server, "post", path, Some(&acme), body.clone());
    assert_eq!(status, 200);
    let (status, doc) = send(
        &server,
        "post",
        "/api/v1/accounts/other/keys",
        Some(&admin),
        body.clone(),
    );
    assert_eq!((status, code(&doc)), (409, "SB1444"), "{doc}");
    let (status, doc) = send(&server, "get", path, None, None);
    assert_eq!(status, 200);
    assert_eq!(doc["keys"][0]["key_id"], key_id.as_str());
    let (status, doc) = send(
        &server,
        "get",
        "/api/v1/accounts/Bad%20Name/keys",
        None,
        None,
    );
    assert_eq!((status, code(&doc)), (400, "SB1450"), "{doc}");
    let (status, doc) = send(
        &server,
        "delete",
        &format!("{path}/{key_id}"),
        Some(&other),
        None,
    );
    assert_eq!((status, code(&doc)), (403, "SB1388"), "{doc}");
    let (status, doc) = send(
        &server,
        "delete",
        &format!("{path}/{key_id}"),
        Some(&acme),
        None,
    );
    assert_eq!(status, 200, "{doc}");
    let (status, doc) = send(
        &server,
        "delete",
        &format!("{path}/{key_id}"),
        Some(&acme),
        None,
    );
    assert_eq!((status, code(&doc)), (404, "SB1445"), "{doc}");
    let (_, doc) = send(&server, "get", path, None, None);
    assert_eq!(doc["keys"].as_array().unwrap().len(), 0);
    let (status, doc) = send(&server, "get", "/api/v1/whoami", Some(&acme), None);
    assert_eq!((status, doc["account"].as_str()), (200, Some("acme")));
    assert_eq!(doc["scope"], "account");
}

fn deprecate_and_promote_over_http_need_a_publishing_owner() {
    let beta = IndexLine {
        channel: Channel::Beta,
        ..line("hello", "2.0.0-beta.1", b"")
    };
    let (_tmp, server) = serve(vec![
        line("hello", "1.0.0", b""),
        beta,
        line("hello2", "1.0.0", b""),
    ]);
    let db = db(&server);
    accounts::claim_new(&db, "hello", "acme").unwrap();
    let acme = token(&server, "acme", "publish:hel*", None);
    let acme_yank = token(&server, "acme", "yank", None);
    let mallory = token(&server, "mallory", "publish:*", None);
    let promote = Some(serde_json::json!({ "version": "2.0.0-beta.1", "channel": "ga" }));
    let path = "/api/v1/plugins/hello/promote";
    let (status, doc) = send(&server, "post", path, None, promote.clone());
    assert_eq!((status, code(&doc)), (401, "SB1385"), "{doc}");
    let (status, doc) = send(&server, "post", path, Some(&acme_yank), promote.clone());
    assert_eq!((status, code(&doc)), (403, "SB1388"), "{doc}");
    let (status, doc) = send(&server, "post", path, Some(&mallory), promote.clone());
    assert_eq!((status, code(&doc)), (403, "SB1389"), "{doc}");
    let (status, doc) = send(
        &server,
        "post",
        path,
        Some(&acme),
        Some(serde_json::json!({ "version": "2.0.0-beta.1", "channel": "nightly" })),
    );
    assert_eq!((status, code(&doc)), (400, "SB1391"), "{doc}");
    let (status, doc) = send(&server, "post", path, Some(&acme), promote.clone());
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["changed"], true);
    let (_, details) = get_json(&server, "/api/v1/plugins/hello");
    assert_eq!(details["channels"]["ga"], "2.0.0-beta.1");
    assert_eq!(details["latest"], "2.0.0-beta.1");
    // Backwards is refused, coded.
    let (status, doc) = send(
        &server,
        "post",
        path,
        Some(&acme),
        Some(serde_json::json!({ "version": "2.0.0-beta.1", "channel": "beta" })),
    );
    assert_eq!((status, code(&doc)), (400, "SB1340"), "{doc}");

    let path = "/api/v1/plugins/hello/deprecate";
    let body =
        Some(serde_json::json!({ "successor": "hello2", "message": "use hello2: it streams" }));
    let (status, doc) = send(&server, "post", path, Some(&mallory), body.clone());
    assert_eq!((status, code(&doc)), (403, "SB1389"), "{doc}");
    let (status, doc) = send(
        &server,
        "post",
        path,
        Some(&acme),
        Some(serde_json::json!({ "message": "x".repeat(2000) })),
    );
    assert_eq!((status, code(&doc)), (400, "SB1340"), "{doc}");
    let (status, doc) = send(&server, "post", path, Some(&acme), body);
    assert_eq!(status, 200, "{doc}");
    let (_, details) = get_json(&server, "/api/v1/plugins/hello");
    assert_eq!(details["deprecated"]["successor"], "hello2");
    assert_eq!(details["deprecated"]["message"], "use hello2: it streams");
    // In the signed index, what clients read.
    let index =
        std::fs::read_to_string(server.data_dir().registry.join("index/he/ll/hello")).unwrap();
    assert!(index.contains("it streams"));
}

fn search_filters_sorts_and_refuses_bad_parameters() {
    let mut a = line("alpha", "1.0.0", b"");
    a.categories = vec!["Text".into()];
    a.capabilities = vec!["fs.read:/srv/**".into()];
    a.maintainers = vec!["Ada Lovelace <ada@example.com>".into()];
    a.host_api = Some(crate::format::LineHostApi::new("switchboard-demo", "^0.1"));
    a.published = "2026-01-03T00:00:00Z".into();
    a.trust = switchboard_host::TrustLevel::SelfSigned;
    let mut b = line("beta-only", "0.9.0", b"");
    b.channel = Channel::Beta;
    b.published = "2026-01-05T00:00:00Z".into();
    b.trust = switchboard_host::TrustLevel::SelfSigned;
    let mut c = line("gamma", "1.0.0", b"");
    c.trust = switchboard_host::TrustLevel::Verified;
    c.host_api = Some(crate::format::LineHostApi::new("switchboard-demo", "^0.2"));
    c.published = "2026-01-04T00:00:00Z".into();
    let (_tmp, server) = serve(vec![a, b, c]);
    let names = |q: &str| -> Vec<String> {
        let (status, doc) = get_json(&server, &format!("/api/v1/search?{q}"));
        assert_eq!(status, 200, "{q}: {doc}");
        doc["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(""), ["alpha", "beta-only", "gamma"]);
    assert_eq!(names("category=text"), ["alpha"]);
    assert_eq!(names("capability=fs.read"), ["alpha"]);
    assert_eq!(names("capability=fs.read:/srv/**"), ["alpha"]);
    assert_eq!(names("maintainer=lovelace"), ["alpha"]);
    assert_eq!(names("trust=verified"), ["gamma"]);
    assert_eq!(names("channel=ga"), ["alpha", "gamma"]);
    assert_eq!(names("channel=beta"), ["alpha", "beta-only", "gamma"]);
    assert_eq!(
        names("compatible_with=switchboard-demo@0.1.5"),
        ["alpha", "beta-only"]
    );
    assert_eq!(names("compatible_with=other@1.0.0"), ["beta-only"]);
    assert_eq!(names("sort=updated"), ["beta-only", "gamma", "alpha"]);
    // No ratings yet: every plugin's is null, so by name (nulls last, documented).
    // No approved review anywhere: rating order is name order.
    assert_eq!(names("sort=rating"), ["alpha", "beta-only", "gamma"]);
    let (_, doc) = get_json(&server, "/api/v1/search?sort=rating");
    assert_eq!(doc["hits"][0]["rating"], serde_json::Value::Null);
    // Downloads count per plugin, and order by them.
    let (_, details) = get_json(&server, "/api/v1/plugins/gamma");
    let link = details["versions"][0]["download"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        assert_eq!(get(&server, &link, None).0, 200);
    }
    assert_eq!(names("sort=downloads"), ["gamma", "alpha", "beta-only"]);
    let (_, details) = get_json(&server, "/api/v1/plugins/gamma");
    assert_eq!(details["downloads"], 2);
    // Owners count as maintainers.
    let db = db(&server);
    accounts::claim_new(&db, "gamma", "acme").unwrap();
    assert_eq!(names("maintainer=acme"), ["gamma"]);
    // Pages and totals.
    let (_, doc) = get_json(&server, "/api/v1/search?per_page=2&page=2");
    assert_eq!(
        (doc["total"].as_u64(), doc["pages"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(doc["hits"].as_array().unwrap().len(), 1);
    for bad in [
        "sort=stars",
        "trust=gold",
        "channel=draft",
        "compatible_with=switchboard-demo",
        "compatible_with=switchboard-demo@1",
        "category=",
        "colour=red",
    ] {
        let (status, doc) = get_json(&server, &format!("/api/v1/search?{bad}"));
        assert_eq!((status, code(&doc)), (400, "SB1382"), "{bad}: {doc}");
    }
}

#[test]
fn the_rate_limiter_tracks_a_bounded_number_of_clients_and_trusts_only_its_proxy() {
    use std::net::IpAddr;
    use std::time::{Duration, Instant};
    let limiter = limits::Limiter::bounded(RateLimit::new(1, 0.0), 16);
    let t0 = Instant::now();
    let ip = |i: u32| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
    for i in 0..1000 {
        assert_eq!(
            limiter.take(ip(i), t0 + Duration::from_millis(u64::from(i))),
            Ok(())
        );
        assert!(limiter.tracked() <= 16, "{}", limiter.tracked());
    }
    // The most recent clients are still limited; the oldest were forgotten.
    assert!(limiter.take(ip(999), t0 + Duration::from_secs(2)).is_err());
    assert_eq!(limiter.take(ip(0), t0 + Duration::from_secs(2)), Ok(()));

    let proxy: IpAddr = "10.0.0.1".parse().unwrap();
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        "x-forwarded-for",
        "203.0.113.9, 198.51.100.7".parse().unwrap(),
    );
    let client = "192.0.2.1".parse().unwrap();
    assert_eq!(limits::client_of(client, Some(proxy), &headers), client);
    assert_eq!(limits::client_of(proxy, None, &headers), proxy);
    assert_eq!(
        limits::client_of(proxy, Some(proxy), &headers),
        "198.51.100.7".parse::<IpAddr>().unwrap()
    );
    headers.insert("x-forwarded-for", "garbage".parse().unwrap());
    assert_eq!(limits::client_of(proxy, Some(proxy), &headers), proxy);
}

#[test]
fn a_schema_1_database_keeps_its_publishers_as_first_owners() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("server.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE tokens (id TEXT PRIMARY KEY, account TEXT NOT NULL, scope TEXT NOT NULL, \
             secret_hash TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER, revoked INTEGER);
             CREATE TABLE publishers (plugin TEXT PRIMARY KEY, account TEXT NOT NULL, since INTEGER NOT NULL);
             INSERT INTO publishers VALUES ('hello', 'acme', 5);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let db = Database::open(&path).unwrap();
    let owners = accounts::owners(&db, "hello").unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!((owners[0].account.as_str(), owners[0].since), ("acme", 5));
    drop(db);
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

fn a_check_that_cannot_run_is_errored_and_keeps_the_upload_unlisted() {
    let (_tmp, server) = serve(vec![]);
    // The registry's vouched-for publisher keys cannot be read: the package check cannot
    // build its trust store, so it cannot run.
    let publishers = server.data_dir().keys.join(crate::publish::PUBLISHERS_DIR);
    std::fs::create_dir_all(&publishers).unwrap();
    std::fs::write(publishers.join("broken.pub"), "not a key").unwrap();
    let acme = format!("Bearer {}", token(&server, "acme", "publish:*", None));
    let sig = sig_header();
    let h = [
        ("Authorization", acme.as_str()),
        ("Switchboard-Signature", sig.as_str()),
        ("Switchboard-Package-File", "hello-1.0.0.sbpkg"),
    ];
    let (status, doc) = post(&server, "/api/v1/publish", &h, b"bytes");
    assert_eq!((status, code(&doc)), (503, "SB1446"), "{doc}");
    assert_eq!(doc["state"], "failed");
    let checks = doc["checks"].as_array().unwrap();
    let package = checks.iter().find(|c| c["name"] == "package").unwrap();
    assert_eq!(package["outcome"], "errored", "{doc}");
    assert!(checks.iter().all(|c| c["name"] != "listing"));
    assert_eq!(get_json(&server, "/api/v1/search").1["total"], 0);
}

// ---- Changes that must not race, and downloads whose count cannot be written ----

/// Runs `f(handle, i)` for each of `handles` on its own thread, all released at once.
fn at_once<T: Send>(handles: Vec<Database>, f: impl Fn(&Database, usize) -> T + Sync) -> Vec<T> {
    let barrier = std::sync::Barrier::new(handles.len());
    std::thread::scope(|s| {
        let running: Vec<_> = handles
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let (barrier, f) = (&barrier, &f);
                s.spawn(move || {
                    barrier.wait();
                    f(h, i)
                })
            })
            .collect();
        running.into_iter().map(|t| t.join().unwrap()).collect()
    })
}

fn removing_owners_at_once_always_leaves_one() {
    let (_tmp, server) = serve(vec![]);
    let main = db(&server);
    let names: Vec<String> = (0..4).map(|i| format!("acct-{i}")).collect();
    for round in 0..10 {
        let plugin = format!("race-{round}");
        assert!(accounts::claim_new(&main, &plugin, &names[0]).unwrap());
        for a in &names[1..] {
            assert!(accounts::add_owner(&main, &plugin, a, &names[0]).unwrap());
        }
        // Each owner removes itself at the same moment, over a connection of its own.
        let handles = names.iter().map(|_| db(&server)).collect();
        let results = at_once(handles, |h, i| {
            accounts::remove_owner(h, &plugin, &names[i])
        });
        let left = accounts::owners(&main, &plugin).unwrap();
        assert_eq!(left.len(), 1, "round {round}: {left:?}");
        let refused: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(|e| e.code().to_string())
            .collect();
        assert_eq!(refused, ["SB1441"], "round {round}");
    }
}

fn binding_one_key_to_several_accounts_at_once_gives_it_to_one() {
    let (_tmp, server) = serve(vec![]);
    let main = db(&server);
    let names: Vec<String> = (0..4).map(|i| format!("acct-{i}")).collect();
    for round in 0..10 {
        let key = public_key();
        let handles = names.iter().map(|_| db(&server)).collect();
        let results = at_once(handles, |h, i| accounts::add_key(h, &names[i], &key));
        let bound: Vec<&accounts::BoundKey> =
            results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(bound.len(), 1, "round {round}: {results:?}");
        let holder = bound[0].account.clone();
        for e in results.iter().filter_map(|r| r.as_ref().err()) {
            // Refused as taken, naming the account that has it — never a database error.
            assert_eq!(e.code().to_string(), "SB1444", "round {round}: {e}");
            assert!(e.to_string().contains(&holder), "{e}");
        }
        let stored = accounts::key(&main, &bound[0].key_id).unwrap().unwrap();
        assert_eq!(stored.account, holder);
    }
}

fn a_download_whose_count_cannot_be_written_is_served_all_the_same() {
    let (_tmp, server) = serve(vec![line("hello", "1.0.0", b"")]);
    let package = format!(
        "/index/packages/{}.sbpkg",
        crate::sha256_hex(b"hello@1.0.0")
    );
    assert_eq!(get(&server, &package, None).0, 200);
    assert_eq!(get_json(&server, "/api/v1/plugins/hello").1["downloads"], 1);
    assert_eq!(server.uncounted_downloads(), 0);
    // The counts' table is gone: every count write fails from now on.
    backend().execute(&server, "DROP TABLE downloads");
    let (status, _, _, body) = get(&server, &package, None);
    assert_eq!((status, body.as_slice()), (200, b"hello@1.0.0".as_slice()));
    assert_eq!(server.uncounted_downloads(), 1);
    // Counted in memory (search and squatting still see it); the database missed it.
    assert_eq!(get_json(&server, "/api/v1/plugins/hello").1["downloads"], 2);
}

// ---- PostgreSQL's own: the database URL, connecting, the schema ----

#[test]
fn database_urls_that_are_not_postgres_are_refused_coded_and_passwords_never_shown() {
    for bad in [
        "mysql://u@h/db",
        "sqlite:///srv/server.db",
        "/srv/server.db",
        "postgres://",
        "postgres://u@h:notaport/db",
    ] {
        let e = DatabaseChoice::parse(bad).unwrap_err();
        assert_eq!(e.code().to_string(), "SB1451", "{bad}: {e}");
    }
    assert!(DatabaseChoice::parse("postgresql://u@127.0.0.1:5432/db").is_ok());
    // Nothing listens on this port: refused at start, coded, without the password.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://u:hunter2secret@127.0.0.1:{port}/db?password=hunter2secret");
    let tmp = tempfile::tempdir().unwrap();
    let mut options = ServerOptions::new(
        tmp.path().join("data"),
        parse_listen("127.0.0.1:0").unwrap(),
    );
    options.database = DatabaseChoice::parse(&url).unwrap();
    let e = Server::start(&options).unwrap_err();
    assert_eq!(e.code().to_string(), "SB1452", "{e}");
    assert!(!e.to_string().contains("hunter2secret"), "{e}");
    assert!(
        e.to_string().contains(&format!("u@127.0.0.1:{port}/db")),
        "{e}"
    );
}

#[test]
fn a_postgres_schema_is_made_once_by_servers_starting_together_and_a_newer_one_is_refused() {
    let Some(b) = Backend::postgres() else {
        return;
    };
    let Backend::Postgres { cluster, name, url } = &b else {
        unreachable!()
    };
    // Four servers' stores meet an empty database at once: one makes the schema.
    let barrier = std::sync::Barrier::new(4);
    let started = std::thread::scope(|s| {
        let running: Vec<_> = (0..4)
            .map(|_| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    Database::connect(url)
                })
            })
            .collect();
        running
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    });
    let handles: Vec<Database> = started.into_iter().map(Result::unwrap).collect();
    tokens::create(&handles[0], "acme", tokens::Scope::Yank, None).unwrap();
    assert_eq!(tokens::list(&handles[3]).unwrap().len(), 1);
    let again = Database::connect(url).unwrap();
    assert_eq!(tokens::list(&again).unwrap().len(), 1);
    cluster
        .sql(name, "UPDATE switchboard_schema SET version = 99")
        .unwrap();
    let e = Database::connect(url).unwrap_err();
    assert_eq!(e.code().to_string(), "SB1377", "{e}");
    assert!(e.to_string().contains("newer"), "{e}");
}

on_both_backends!(
    first_start_makes_the_data_dir_with_private_keys_and_a_second_start_reuses_it,
    listen_addresses_other_than_ip_literals_of_one_interface_are_refused,
    index_files_are_served_with_etags_304_and_cache_control,
    path_tricks_get_a_coded_400_and_never_a_file_outside,
    search_sorts_by_relevance_then_name_and_pages_with_a_total,
    search_parameters_out_of_range_are_refused_coded,
    plugin_details_list_versions_channels_yanks_and_deprecation,
    publishing_needs_a_valid_token_with_the_publish_scope,
    malformed_and_oversize_uploads_are_refused_coded,
    yank_and_unyank_need_the_yank_scope_and_the_owning_account,
    tokens_are_stored_hashed_and_scopes_parse_strictly,
    a_client_over_its_rate_limit_gets_429_with_retry_after,
    the_openapi_document_names_every_route_and_every_route_is_served,
    owners_are_listed_added_only_explicitly_and_the_last_one_stays,
    a_hand_published_name_is_not_claimed_by_the_first_upload_and_failed_checks_keep_it_unlisted,
    signing_keys_are_bound_to_one_account_listed_and_removed,
    deprecate_and_promote_over_http_need_a_publishing_owner,
    search_filters_sorts_and_refuses_bad_parameters,
    a_check_that_cannot_run_is_errored_and_keeps_the_upload_unlisted,
    removing_owners_at_once_always_leaves_one,
    binding_one_key_to_several_accounts_at_once_gives_it_to_one,
    a_download_whose_count_cannot_be_written_is_served_all_the_same,
);

mod details;
mod market;
mod market_gaps;
mod reviews;
