//! What the registry server's web page costs per request, beside the JSON API answering the
//! same question in the same run (the baseline: same catalog, same search, no HTML).
//!
//! A live server on 127.0.0.1 (rate limit off) over a registry of 10,000 plugins × 2
//! versions written with `switchboard_registry::testing::write_index` (no packages: the
//! plugin page's README is "not in the registry", cached after the first request like a real
//! one). One keep-alive HTTP client; each id is one request and the whole response read.
//! The catalog and listings are built by a first request outside the measurement.
//!
//! Every id is in the criterion group `registry_page`:
//!
//! - `details_page`: `GET /plugins/NAME` (the HTML page).
//! - `details_api`: `GET /api/v1/plugins/NAME` — the baseline for `details_page`.
//! - `search_page`: `GET /search?q=graph+weather` (the HTML page, 20 hits, the filter form).
//! - `search_api`: `GET /api/v1/search?q=graph+weather` — the baseline for `search_page`.
//! - `home_page`: `GET /` (categories and the ten most recently published).

use std::hint::black_box;

use criterion::Criterion;
use switchboard_registry::server::{parse_listen, Server, ServerOptions};
use switchboard_registry::testing::{line, write_index};

const PLUGINS: usize = 10_000;
const VERSIONS: usize = 2;

const WORDS: &[&str] = &[
    "graph", "weather", "audio", "markdown", "git", "chart", "image", "pdf", "spell", "timer",
    "clock", "notes", "search", "vault", "theme", "lint", "format", "shell", "sql", "http",
];

fn word(i: usize, k: usize) -> &'static str {
    WORDS[(i * 7 + k * 13 + (i / 20) * 3) % WORDS.len()]
}

fn benches(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut options = ServerOptions::new(
        tmp.path().join("data"),
        parse_listen("127.0.0.1:0").expect("listen"),
    );
    options.rate_limit = None;
    let server = Server::start(&options).expect("server");
    let files: Vec<(String, Vec<_>)> = (0..PLUGINS)
        .map(|i| {
            let name = format!("{}-{}-{i:05}", word(i, 0), word(i, 1));
            let lines = (0..VERSIONS)
                .map(|v| {
                    let mut l = line(&name, &format!("1.{v}.0"));
                    l.description = format!("A {} plugin for {}", word(i, 2), word(i, 3));
                    l.keywords = vec![word(i, 4).to_owned()];
                    l.categories = vec![word(i, 5).to_owned()];
                    l.capabilities = vec!["kv".into(), format!("fs.read:/srv/{}/**", word(i, 6))];
                    l.published = format!("2026-01-{:02}T00:00:00Z", 1 + (i + v) % 28);
                    l
                })
                .collect();
            (name, lines)
        })
        .collect();
    let refs: Vec<(&str, Vec<_>)> = files.iter().map(|(n, l)| (n.as_str(), l.clone())).collect();
    let d = server.data_dir();
    write_index(&d.registry, &d.keys, &refs).expect("write the index");
    let name = files[PLUGINS / 2].0.clone();

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = server.url();
    let get = |path: &str| -> usize {
        let mut resp = agent.get(format!("{base}{path}")).call().expect("request");
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        resp.body_mut().read_to_vec().expect("body").len()
    };
    // Warm: the catalog and the listings are built by the first request.
    for path in ["/", "/api/v1/search?q=graph", &format!("/plugins/{name}")] {
        get(path);
    }

    let details_page = format!("/plugins/{name}");
    let details_api = format!("/api/v1/plugins/{name}");
    let mut g = c.benchmark_group("registry_page");
    g.bench_function("details_page", |b| b.iter(|| black_box(get(&details_page))));
    g.bench_function("details_api", |b| b.iter(|| black_box(get(&details_api))));
    g.bench_function("search_page", |b| {
        b.iter(|| black_box(get("/search?q=graph+weather")))
    });
    g.bench_function("search_api", |b| {
        b.iter(|| black_box(get("/api/v1/search?q=graph+weather")))
    });
    g.bench_function("home_page", |b| b.iter(|| black_box(get("/"))));
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
