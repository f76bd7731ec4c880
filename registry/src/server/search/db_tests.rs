//! Search in PostgreSQL (`store::catalog_search`) answers what the in-memory search answers
//! on the same catalog: the same totals, pages and filters; hit for hit with `sort=name`,
//! `downloads`, `updated` and `rating`; and with `relevance` the same scores in the same
//! order and the same plugins overall (ties of equal score may order differently: PostgreSQL
//! breaks them by full-text rank, then name; memory by name). A real PostgreSQL
//! (`testing_postgres`), never a mock.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use super::tests::catalog;
use crate::format::IndexLine;
use crate::server::api::{search_catalog_bytes, search_database_bytes, SearchParams};
use crate::server::catalog::Catalog;
use crate::server::store::catalog_search::CatalogSearch;
use crate::server::store::postgres::PostgresStore;
use crate::server::store::Store;
use crate::testing_postgres::{binaries, TempCluster};

/// A cluster, or `None` when PostgreSQL is missing and `SWITCHBOARD_SKIP_POSTGRES` says to
/// skip (as the server's API suite does).
#[expect(clippy::print_stderr, reason = "says why the test did not run")]
fn cluster() -> Option<TempCluster> {
    let Some(bin) = binaries() else {
        if std::env::var_os("SWITCHBOARD_SKIP_POSTGRES").is_some()
            && std::env::var_os("CI").is_none()
        {
            eprintln!("skipped: no PostgreSQL, and SWITCHBOARD_SKIP_POSTGRES is set");
            return None;
        }
        panic!("these tests need PostgreSQL's initdb and pg_ctl: install Debian's `postgresql`");
    };
    Some(TempCluster::start(&bin).unwrap())
}

fn catalog_of(plugins: BTreeMap<String, Vec<IndexLine>>, stamp: &str) -> Catalog {
    Catalog {
        prepared: super::Prepared::new(&plugins),
        plugins,
        by_sha256: HashMap::new(),
        stamp: stamp.into(),
        version: 0,
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per query parameter"
)]
fn params(
    q: &str,
    category: Option<&str>,
    capability: Option<&str>,
    compatible: Option<&str>,
    maintainer: Option<&str>,
    trust: Option<&str>,
    channel: Option<&str>,
    sort: Option<&str>,
    page: usize,
    per_page: usize,
) -> SearchParams {
    let s = |v: Option<&str>| v.map(str::to_owned);
    SearchParams {
        q: q.into(),
        category: s(category),
        capability: s(capability),
        compatible_with: s(compatible),
        maintainer: s(maintainer),
        trust: s(trust),
        channel: s(channel),
        sort: s(sort),
        page: Some(page.to_string()),
        per_page: Some(per_page.to_string()),
    }
}

struct Both<'a> {
    store: &'a PostgresStore,
    catalog: &'a Catalog,
    downloads: &'a HashMap<String, u64>,
    owned: &'a HashSet<String>,
}

impl Both<'_> {
    fn memory(&self, p: &SearchParams) -> Value {
        let owned = match &p.maintainer {
            Some(m) if m == "acct" => self.owned.clone(),
            _ => HashSet::new(),
        };
        let bytes =
            search_catalog_bytes(self.catalog, p, self.downloads, &owned, &Default::default())
                .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn database(&self, p: &SearchParams) -> Value {
        let bytes = search_database_bytes(
            self.store,
            self.catalog,
            p,
            &Default::default(),
            &Default::default(),
        )
        .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// Both answer `p` alike (see the module's comment for relevance).
    fn same(&self, p: &SearchParams) {
        let (m, d) = (self.memory(p), self.database(p));
        for key in ["total", "pages", "page", "per_page", "query", "sort"] {
            assert_eq!(m[key], d[key], "{key} of {p:?}");
        }
        if m["sort"] == "relevance" && !p.q.trim().is_empty() {
            let scores = |v: &Value| -> Vec<Value> {
                v["hits"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| h["score"].clone())
                    .collect()
            };
            assert_eq!(scores(&m), scores(&d), "scores of {p:?}");
        } else {
            assert_eq!(m["hits"], d["hits"], "hits of {p:?}");
        }
    }

    /// Every page of `p` together: the same plugins (in the same order but for relevance).
    fn same_everywhere(&self, p: &SearchParams) {
        let all = |f: &dyn Fn(&SearchParams) -> Value| {
            let mut names = Vec::new();
            let mut page = 1;
            loop {
                let mut q = params(&p.q, None, None, None, None, None, None, None, page, 7);
                q.sort.clone_from(&p.sort);
                let v = f(&q);
                let hits = v["hits"].as_array().unwrap().clone();
                if hits.is_empty() {
                    return names;
                }
                names.extend(hits.iter().map(|h| h["name"].as_str().unwrap().to_owned()));
                page += 1;
            }
        };
        let (mut m, mut d) = (all(&|q| self.memory(q)), all(&|q| self.database(q)));
        if p.sort.as_deref() == Some("relevance") {
            m.sort();
            d.sort();
        }
        assert_eq!(m, d, "every page of {p:?}");
    }
}

#[test]
fn postgres_search_matches_the_in_memory_search_on_a_seeded_catalog() {
    let Some(cluster) = cluster() else {
        return;
    };
    let url = cluster.database().unwrap();
    let store = PostgresStore::connect(&url).unwrap();
    assert!(store.searches_in_database());
    let plugins = catalog(300, 11);
    // Downloads (few distinct counts: ties broken by name) and owners, in the database and
    // as memory sees them.
    let downloads: HashMap<String, u64> = plugins
        .keys()
        .enumerate()
        .map(|(i, n)| (n.clone(), (i * 7 % 4) as u64))
        .collect();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    for (name, count) in &downloads {
        let count = i64::try_from(*count).unwrap();
        client
            .execute(
                "INSERT INTO downloads (plugin, count) VALUES ($1, $2)",
                &[name, &count],
            )
            .unwrap();
    }
    let mut owned = HashSet::new();
    for name in plugins.keys().skip(5).step_by(9) {
        let canonical = crate::format::canonical_name(name);
        assert!(store.claim_new(&canonical, "acct", 1).unwrap());
        owned.insert(canonical);
    }
    let catalog = catalog_of(plugins.clone(), "stamp-1");
    let both = Both {
        store: &store,
        catalog: &catalog,
        downloads: &downloads,
        owned: &owned,
    };
    let sorts = [
        None,
        Some("relevance"),
        Some("name"),
        Some("downloads"),
        Some("updated"),
        Some("rating"),
    ];
    let texts = [
        "",
        "graph",
        "GRAPH weather",
        "raph",
        "a",
        "gráfico",
        "clocks",
        "nothing-here",
        "-",
        "100%",
        "a_b",
    ];
    for q in texts {
        for sort in sorts {
            for (page, per_page) in [(1, 20), (2, 7), (40, 5)] {
                both.same(&params(
                    q, None, None, None, None, None, None, sort, page, per_page,
                ));
            }
        }
    }
    for q in ["graph", "a", "timer clock"] {
        for sort in ["relevance", "name", "downloads", "updated"] {
            both.same_everywhere(&params(
                q,
                None,
                None,
                None,
                None,
                None,
                None,
                Some(sort),
                1,
                7,
            ));
        }
    }
    // (category, capability, compatible_with, maintainer)
    type Filters<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
    );
    let filters: &[Filters<'_>] = &[
        (Some("audio"), None, None, None),
        (Some("AUDIO"), Some("kv"), None, None),
        (None, Some("fs.read"), Some("demo@0.1.3"), None),
        (
            None,
            Some("fs.read:/srv/timer/**"),
            None,
            Some("maintainer 3"),
        ),
        (None, None, Some("demo@0.2.0"), Some("maintainer")),
        (None, None, Some("other@1.0.0"), None),
        (Some("no-such"), None, None, None),
        (None, None, None, Some("acct")),
        (None, None, None, Some("someone-else")),
    ];
    for &(category, capability, compatible, maintainer) in filters {
        for trust in [None, Some("verified"), Some("certified")] {
            for channel in [None, Some("ga"), Some("beta")] {
                for q in ["", "graph", "a timer"] {
                    for sort in [None, Some("downloads"), Some("updated"), Some("relevance")] {
                        both.same(&params(
                            q, category, capability, compatible, maintainer, trust, channel, sort,
                            1, 10,
                        ));
                    }
                }
            }
        }
    }

    // A changed catalog (one plugin gone, one changed, one new) is brought in step: only
    // what changed is rewritten, and the answers still match.
    let mut changed = plugins;
    let gone = changed.keys().nth(3).unwrap().clone();
    changed.remove(&gone);
    let edited = changed.keys().nth(10).unwrap().clone();
    if let Some(lines) = changed.get_mut(&edited) {
        for l in lines.iter_mut() {
            l.description = "now about zebras".into();
        }
    }
    let mut fresh = crate::testing::line("zebra-new", "1.0.0");
    fresh.description = "zebras".into();
    changed.insert("zebra-new".into(), vec![fresh]);
    let catalog = catalog_of(changed, "stamp-2");
    let both = Both {
        catalog: &catalog,
        ..both
    };
    for q in ["", "zebras", "graph"] {
        for sort in ["relevance", "name", "updated"] {
            both.same(&params(
                q,
                None,
                None,
                None,
                None,
                None,
                None,
                Some(sort),
                1,
                50,
            ));
        }
    }
    let zebras = both.database(&params(
        "zebras", None, None, None, None, None, None, None, 1, 50,
    ));
    assert_eq!(zebras["total"], 2, "{zebras}");
    let stamp: String = client
        .query_one("SELECT stamp FROM search_state", &[])
        .unwrap()
        .get(0);
    assert_eq!(stamp, "stamp-2");
    let rows: i64 = client
        .query_one("SELECT count(*) FROM search_plugins", &[])
        .unwrap()
        .get(0);
    assert_eq!(usize::try_from(rows).unwrap(), catalog.plugins.len());

    // Emptied behind the server's back, the copy is rebuilt by the next search.
    client
        .batch_execute("DELETE FROM search_state; DELETE FROM search_plugins")
        .unwrap();
    both.same(&params(
        "zebras", None, None, None, None, None, None, None, 1, 50,
    ));
    both.same(&params(
        "",
        None,
        None,
        None,
        None,
        None,
        None,
        Some("updated"),
        2,
        20,
    ));
    let rows: i64 = client
        .query_one("SELECT count(*) FROM search_plugins", &[])
        .unwrap()
        .get(0);
    assert_eq!(usize::try_from(rows).unwrap(), catalog.plugins.len());
}

#[test]
fn a_database_where_pg_trgm_cannot_be_created_is_refused_coded_at_start() {
    let Some(cluster) = cluster() else {
        return;
    };
    let url = cluster.database().unwrap();
    let name = url.rsplit('/').next().unwrap().to_owned();
    // A user that may connect but not create extensions (nor anything) in the database.
    cluster.sql(&name, "CREATE ROLE plain LOGIN").unwrap();
    let plain = url.replacen("postgres@", "plain@", 1);
    let err = PostgresStore::connect(&plain).unwrap_err();
    assert_eq!(err.code().to_string(), "SB1398", "{err}");
    assert!(err.to_string().contains("pg_trgm"), "{err}");
    assert!(!err.next_step().is_empty());
    // As the database's owner (a superuser here) it is created.
    PostgresStore::connect(&url).unwrap();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let present = client
        .query_opt("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'", &[])
        .unwrap();
    assert!(present.is_some());
}

#[test]
fn an_older_catalog_is_never_copied_over_a_newer_one() {
    let Some(cluster) = cluster() else {
        return;
    };
    let url = cluster.database().unwrap();
    // Two servers sharing the database: each its own store (its own memory of what it
    // synced).
    let (first, second) = (
        PostgresStore::connect(&url).unwrap(),
        PostgresStore::connect(&url).unwrap(),
    );
    let old = catalog(20, 3);
    let mut new = old.clone();
    let mut fresh = crate::testing::line("zebra-new", "1.0.0");
    fresh.description = "zebras".into();
    new.insert("zebra-new".into(), vec![fresh]);
    let mut old_catalog = catalog_of(old, "stamp-old");
    old_catalog.version = 4;
    let mut new_catalog = catalog_of(new.clone(), "stamp-new");
    new_catalog.version = 5;
    let zebras = params("zebras", None, None, None, None, None, None, None, 1, 10);
    let total = |store: &PostgresStore, catalog: &Catalog| -> Value {
        let bytes = search_database_bytes(
            store,
            catalog,
            &zebras,
            &Default::default(),
            &Default::default(),
        )
        .unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap()["total"].clone()
    };
    let held = || -> (String, i64) {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let row = client
            .query_one("SELECT stamp, version FROM search_state", &[])
            .unwrap();
        (row.get(0), row.get(1))
    };
    // The second server copies the newer catalog; the first, still on the older one, then
    // syncs: refused, the newer copy stays and answers.
    assert_eq!(total(&second, &new_catalog), 1);
    assert_eq!(held(), ("stamp-new".to_owned(), 5));
    assert_eq!(total(&first, &old_catalog), 1);
    assert_eq!(held(), ("stamp-new".to_owned(), 5));
    first
        .sync_catalog("stamp-old", 4, &|| old_catalog.prepared.search_rows())
        .unwrap();
    assert_eq!(held(), ("stamp-new".to_owned(), 5));
    // A newer catalog still replaces it.
    let mut newest_catalog = catalog_of(catalog(20, 3), "stamp-newest");
    newest_catalog.version = 6;
    assert_eq!(total(&first, &newest_catalog), 0);
    assert_eq!(held(), ("stamp-newest".to_owned(), 6));
    // The directory went back for good (a restore): once the newer copy is older than the
    // grace period, the older catalog is copied, so search no longer lists what is gone.
    postgres::Client::connect(&url, postgres::NoTls)
        .unwrap()
        .execute(
            "UPDATE search_state SET synced_at = now() - make_interval(secs => $1)",
            &[&(2.0 * crate::server::store::catalog_search::OLDER_CATALOG_GRACE.as_secs_f64())],
        )
        .unwrap();
    // (A catalog read afresh: the one above keeps its answered pages.)
    let mut new_again = catalog_of(new, "stamp-new");
    new_again.version = 5;
    assert_eq!(total(&second, &new_again), 1);
    assert_eq!(held(), ("stamp-new".to_owned(), 5));
}
