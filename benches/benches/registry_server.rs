//! What the registry server's search and details cost at 10,000 plugins × 3 versions.
//!
//! Every id is in the criterion group `registry_server`:
//!
//! - `search_memory_10k`: the server's search (`server::search::run`, through the prepared
//!   catalog's word index) over the prepared catalog: two words, `trust=verified`, first page
//!   by relevance.
//! - `search_page_10k`: the same query as the server computes a page it has not kept
//!   (`Prepared::compute`) and writes it as JSON text from the pre-serialised hits
//!   (`Page::write`); `search_kept_10k`: the same from the page kept for the catalog
//!   (`Prepared::page`, after its first answer) — the server's two paths.
//! - `search_scan_10k`: the baseline — the same query through `server::search::run_scan`,
//!   which reads every plugin's text and sorts every hit (the search before the word index;
//!   the two answer the same, checked here).
//! - `search_memory_filtered_10k`: no words; `category`, `capability`, `compatible_with`,
//!   `trust`, sorted by downloads — every filter on.
//! - `search_scan_filtered_10k`: its baseline through `run_scan`.
//! - `search_memory_browse_10k`: no words, no filters, sorted by name, page 3 — the web
//!   page's and `switchboard search`'s browse; `search_scan_browse_10k` its baseline.
//! - `search_fts5_10k`: the baseline the choice was made against — the same two words through
//!   an SQLite FTS5 index of name, description, keywords and categories (the bundled SQLite
//!   has FTS5): total count plus the first page by rank, in-memory database, warm.
//! - `http_timestamp`: a live server on 127.0.0.1: `GET /index/timestamp.json` — the cheapest
//!   request, the baseline for the two below.
//! - `http_search_10k`: `GET /api/v1/search?q=graph%20weather&trust=verified` (the query of
//!   `search_memory_10k`, over HTTP; repeated, so from the kept page after the first).
//! - `http_details_10k`: `GET /api/v1/plugins/NAME`.
//!
//! - `http_details_10k_postgres`: `GET /api/v1/plugins/NAME` from a second live server over
//!   the same 10,000 plugins whose store is PostgreSQL (a throwaway local cluster,
//!   `testing_postgres`); only when PostgreSQL's binaries are installed. Details is the read
//!   that goes to the store (the plugin's uploads with their checks, its owners).
//! - `http_search_10k_postgres`: `http_search_10k`'s request to that server: search runs in
//!   PostgreSQL there (trigram and full-text indexes over the search tables, every time).
//!
//! Outside criterion, the run prints P50/P95 of search and details with 50 concurrent
//! clients (50 threads × 40 requests each), the figures `docs/registry.md` quotes, for the
//! SQLite server and (when there) the PostgreSQL one.

#![expect(
    clippy::print_stderr,
    reason = "reports the concurrent load figures, which criterion does not measure"
)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use switchboard_host::TrustLevel;
use switchboard_registry::server::search::{self, Prepared, Query};
use switchboard_registry::server::{parse_listen, DatabaseChoice, Server, ServerOptions};
use switchboard_registry::testing::{line, write_index};
use switchboard_registry::testing_postgres::{binaries, TempCluster};
use switchboard_registry::IndexLine;

const PLUGINS: usize = 10_000;
const VERSIONS: usize = 3;

const WORDS: &[&str] = &[
    "graph", "weather", "audio", "markdown", "git", "chart", "image", "pdf", "spell", "timer",
    "clock", "notes", "search", "vault", "theme", "lint", "format", "shell", "sql", "http",
];

/// A fixed pseudo-random word for plugin `i`, slot `k` (SplitMix64), as `registry.rs` does.
fn word(i: usize, k: usize) -> &'static str {
    let mut x = (i as u64) << 8 | k as u64;
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    WORDS[(x % WORDS.len() as u64) as usize]
}

fn plugins() -> BTreeMap<String, Vec<IndexLine>> {
    (0..PLUGINS)
        .map(|i| {
            let name = format!("{}-{}-{i:05}", word(i, 0), word(i, 1));
            let lines = (0..VERSIONS)
                .map(|v| {
                    let mut l = line(&name, &format!("1.{v}.0"));
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
                    l.host_api = Some(switchboard_registry::format::LineHostApi::new(
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

#[expect(clippy::too_many_arguments, reason = "mirrors Query::parse")]
fn query(
    q: &str,
    category: Option<&str>,
    capability: Option<&str>,
    compatible: Option<&str>,
    trust: Option<&str>,
    sort: Option<&str>,
    page: usize,
    per_page: usize,
) -> Query {
    Query::parse(
        q, category, capability, compatible, None, trust, None, sort, page, per_page,
    )
    .expect("query")
}

fn fts5(plugins: &BTreeMap<String, Vec<IndexLine>>) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_in_memory().expect("sqlite");
    conn.execute_batch(
        "CREATE VIRTUAL TABLE p USING fts5(name, description, keywords, categories);",
    )
    .expect("fts5 (the bundled SQLite has it)");
    let tx = conn.unchecked_transaction().expect("tx");
    {
        let mut insert = tx
            .prepare("INSERT INTO p VALUES (?1, ?2, ?3, ?4)")
            .expect("insert");
        for (name, lines) in plugins {
            let l = &lines[lines.len() - 1];
            insert
                .execute(rusqlite::params![
                    name,
                    l.description,
                    l.keywords.join(" "),
                    l.categories.join(" ")
                ])
                .expect("row");
        }
    }
    tx.commit().expect("commit");
    conn
}

fn get(agent: &ureq::Agent, url: &str) -> usize {
    let mut resp = agent.get(url).call().expect("request");
    assert_eq!(resp.status().as_u16(), 200, "{url}");
    resp.body_mut()
        .with_config()
        .limit(16 << 20)
        .read_to_vec()
        .expect("body")
        .len()
}

/// P50 and P95 of `per_client` GETs of `path(i)` by each of `clients` threads at once.
fn load(
    base: &str,
    clients: usize,
    per_client: usize,
    path: fn(usize) -> String,
) -> (Duration, Duration) {
    let mut all: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                s.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
                    (0..per_client)
                        .map(|k| {
                            let url = format!("{base}{}", path(c * per_client + k));
                            let started = Instant::now();
                            get(&agent, &url);
                            started.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("client"))
            .collect()
    });
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    (at(0.50), at(0.95))
}

fn search_path(i: usize) -> String {
    format!(
        "/api/v1/search?q={}%20{}&trust=verified",
        WORDS[i % WORDS.len()],
        WORDS[(i / 7) % WORDS.len()]
    )
}

fn details_path(i: usize) -> String {
    let i = (i * 7919) % PLUGINS;
    format!("/api/v1/plugins/{}-{}-{i:05}", word(i, 0), word(i, 1))
}

fn benches(c: &mut Criterion) {
    let plugins = plugins();
    let prepared = Prepared::new(&plugins);
    let downloads: HashMap<String, u64> = plugins
        .keys()
        .enumerate()
        .map(|(i, n)| (n.clone(), (i * 31 % 1000) as u64))
        .collect();
    let owned = HashSet::new();
    let text = query(
        "graph weather",
        None,
        None,
        None,
        Some("verified"),
        None,
        1,
        20,
    );
    let filtered = query(
        "",
        Some("audio"),
        Some("fs.read"),
        Some("switchboard-demo@0.1.4"),
        Some("self-signed"),
        Some("downloads"),
        1,
        20,
    );
    let total = |v: &serde_json::Value| v["total"].as_u64().unwrap_or(0);
    let found = search::run(&prepared, &text, &downloads, &owned);
    assert!(
        total(&found) > 0 && total(&found) < PLUGINS as u64,
        "{}",
        total(&found)
    );
    assert!(total(&search::run(&prepared, &filtered, &downloads, &owned)) > 0);
    let browse = query("", None, None, None, None, Some("name"), 3, 20);
    for q in [&text, &filtered, &browse] {
        assert_eq!(
            search::run(&prepared, q, &downloads, &owned),
            search::run_scan(&prepared, q, &downloads, &owned),
            "the indexed search answers as the scan does"
        );
    }
    let db = fts5(&plugins);
    let fts_total: i64 = db
        .query_row(
            "SELECT count(*) FROM p WHERE p MATCH 'graph weather'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert!(fts_total > 0);

    // A live server over the same 10,000 plugins, written into its registry directory.
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut options = ServerOptions::new(
        tmp.path().join("data"),
        parse_listen("127.0.0.1:0").expect("listen"),
    );
    options.rate_limit = None;
    let server = Server::start(&options).expect("server");
    let d = server.data_dir();
    let refs: Vec<(&str, Vec<IndexLine>)> = plugins
        .iter()
        .map(|(n, l)| (n.as_str(), l.clone()))
        .collect();
    write_index(&d.registry, &d.keys, &refs).expect("write the index");
    let base = server.url();
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let started = Instant::now();
    get(&agent, &format!("{base}/api/v1/search?q=graph"));
    eprintln!(
        "registry_server: first search (catalog read and prepared from 10,000 index files): {:?}",
        started.elapsed()
    );

    let (p50, p95) = load(&base, 50, 40, search_path);
    eprintln!("registry_server: search, 50 concurrent clients × 40: P50 {p50:?}, P95 {p95:?}");
    let (p50, p95) = load(&base, 50, 40, details_path);
    eprintln!("registry_server: details, 50 concurrent clients × 40: P50 {p50:?}, P95 {p95:?}");

    let mut group = c.benchmark_group("registry_server");
    group.bench_function("search_memory_10k", |b| {
        b.iter(|| {
            total(&search::run(
                &prepared,
                black_box(&text),
                &downloads,
                &owned,
            ))
        })
    });
    // The server's two paths for that query: a page computed and written as JSON text (a
    // search not seen since the catalog changed), and a kept page written.
    group.bench_function("search_page_10k", |b| {
        b.iter(|| {
            let page = prepared.compute(black_box(&text), &downloads, &owned);
            page.write(
                &prepared,
                &text,
                &downloads,
                &Default::default(),
                "graph weather",
                "relevance",
            )
            .len()
        })
    });
    prepared.page(&text, &downloads, &owned);
    group.bench_function("search_kept_10k", |b| {
        b.iter(|| {
            let page = prepared.page(black_box(&text), &downloads, &owned);
            page.write(
                &prepared,
                &text,
                &downloads,
                &Default::default(),
                "graph weather",
                "relevance",
            )
            .len()
        })
    });
    group.bench_function("search_memory_filtered_10k", |b| {
        b.iter(|| {
            total(&search::run(
                &prepared,
                black_box(&filtered),
                &downloads,
                &owned,
            ))
        })
    });
    for (id, q) in [
        ("search_scan_10k", &text),
        ("search_scan_filtered_10k", &filtered),
        ("search_scan_browse_10k", &browse),
    ] {
        group.bench_function(id, |b| {
            b.iter(|| {
                total(&search::run_scan(
                    &prepared,
                    black_box(q),
                    &downloads,
                    &owned,
                ))
            })
        });
    }
    group.bench_function("search_memory_browse_10k", |b| {
        b.iter(|| {
            total(&search::run(
                &prepared,
                black_box(&browse),
                &downloads,
                &owned,
            ))
        })
    });
    let started = Instant::now();
    let rebuilt = Prepared::new(&plugins);
    eprintln!(
        "registry_server: preparing 10,000 plugins (with the word index): {:?} ({} plugins)",
        started.elapsed(),
        rebuilt.len()
    );
    let mut count = db
        .prepare("SELECT count(*) FROM p WHERE p MATCH ?1")
        .expect("count");
    let mut first_page = db
        .prepare("SELECT name FROM p WHERE p MATCH ?1 ORDER BY rank LIMIT 20")
        .expect("page");
    group.bench_function("search_fts5_10k", |b| {
        b.iter(|| {
            let n: i64 = count
                .query_row([black_box("graph weather")], |r| r.get(0))
                .expect("count");
            let names: Vec<String> = first_page
                .query_map([black_box("graph weather")], |r| r.get(0))
                .and_then(Iterator::collect)
                .expect("page");
            (n, names.len())
        })
    });
    let stamp = format!("{base}/index/timestamp.json");
    group.bench_function("http_timestamp", |b| {
        b.iter(|| get(&agent, black_box(&stamp)))
    });
    let search_url = format!("{base}/api/v1/search?q=graph%20weather&trust=verified");
    group.bench_function("http_search_10k", |b| {
        b.iter(|| get(&agent, black_box(&search_url)))
    });
    let details_url = format!("{base}{}", details_path(1));
    group.bench_function("http_details_10k", |b| {
        b.iter(|| get(&agent, black_box(&details_url)))
    });
    // The same registry behind a server whose store is PostgreSQL, when it is installed —
    // started only now, so that it and its cluster do not share the machine with the ids
    // above.
    let cluster = binaries().map(|bin| TempCluster::start(&bin).expect("a PostgreSQL cluster"));
    let pg_server = cluster.as_ref().map(|c| {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut options = ServerOptions::new(
            tmp.path().join("data"),
            parse_listen("127.0.0.1:0").expect("listen"),
        );
        options.rate_limit = None;
        options.database =
            DatabaseChoice::parse(&c.database().expect("a database")).expect("its URL");
        let server = Server::start(&options).expect("a server on PostgreSQL");
        let d = server.data_dir();
        write_index(&d.registry, &d.keys, &refs).expect("write the index");
        get(&agent, &format!("{}/api/v1/search?q=graph", server.url()));
        let (p50, p95) = load(&server.url(), 50, 40, search_path);
        eprintln!(
            "registry_server (PostgreSQL): search, 50 concurrent clients × 40: P50 {p50:?}, P95 {p95:?}"
        );
        let (p50, p95) = load(&server.url(), 50, 40, details_path);
        eprintln!(
            "registry_server (PostgreSQL): details, 50 concurrent clients × 40: P50 {p50:?}, P95 {p95:?}"
        );
        (tmp, server)
    });
    if pg_server.is_none() {
        eprintln!("registry_server: no PostgreSQL installed; http_details_10k_postgres not run");
    }

    if let Some((_, pg)) = &pg_server {
        let pg_details = format!("{}{}", pg.url(), details_path(1));
        group.bench_function("http_details_10k_postgres", |b| {
            b.iter(|| get(&agent, black_box(&pg_details)))
        });
        let pg_search = format!(
            "{}/api/v1/search?q=graph%20weather&trust=verified",
            pg.url()
        );
        group.bench_function("http_search_10k_postgres", |b| {
            b.iter(|| get(&agent, black_box(&pg_search)))
        });
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
