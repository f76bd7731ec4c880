//! The indexed search answers exactly what the full scan answers: ranking, filters, totals and
//! every page.

use std::collections::{BTreeMap, HashMap, HashSet};

use proptest::prelude::*;
use switchboard_host::TrustLevel;

use super::*;
use crate::format::{Channel, IndexLine, LineHostApi};
use crate::testing::line;

const WORDS: &[&str] = &[
    "graph", "weather", "audio", "chart", "gráfico", "Clock", "timer", "a", "ab",
];

/// A catalog of `n` plugins drawn from `seed` (SplitMix64): names, texts, categories,
/// capabilities, maintainers, channels, yanks, trust, host APIs and dates all vary.
pub(super) fn catalog(n: usize, seed: u64) -> BTreeMap<String, Vec<IndexLine>> {
    let mut x = seed;
    let mut next = move || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as usize
    };
    let mut out = BTreeMap::new();
    for i in 0..n {
        let w = |k: usize| WORDS[k % WORDS.len()];
        let name = format!(
            "{}-{}{i}",
            w(next()).to_lowercase(),
            w(next()).to_lowercase()
        )
        .replace('á', "a");
        let versions = 1 + next() % 3;
        let mut lines = Vec::new();
        for v in 0..versions {
            let mut l = line(&name, &format!("1.{v}.0"));
            l.description = format!("A {} plugin for {} and {}", w(next()), w(next()), w(next()));
            l.keywords = vec![w(next()).to_owned(), format!("{}s", w(next()))];
            l.categories = vec![w(next()).to_uppercase()];
            l.capabilities = match next() % 3 {
                0 => vec![],
                1 => vec!["kv".into()],
                _ => vec!["kv".into(), format!("fs.read:/srv/{}/**", w(next()))],
            };
            l.maintainers = vec![format!("Maintainer {}", next() % 5)];
            l.trust = match next() % 3 {
                0 => TrustLevel::SelfSigned,
                1 => TrustLevel::Verified,
                _ => TrustLevel::Certified,
            };
            l.channel = match next() % 4 {
                0 => Channel::Beta,
                1 => Channel::Draft,
                _ => Channel::Ga,
            };
            if next() % 7 == 0 {
                l.yanked = Some(crate::format::Yanked {
                    reason: "broken".into(),
                });
            }
            l.host_api = match next() % 3 {
                0 => None,
                1 => Some(LineHostApi::new("demo", "^0.1")),
                _ => Some(LineHostApi::new("demo", "^0.2")),
            };
            l.published = format!("2026-01-{:02}T00:00:00Z", 1 + next() % 5);
            lines.push(l);
        }
        out.insert(name, lines);
    }
    out
}

#[expect(clippy::too_many_arguments, reason = "mirrors Query::parse")]
fn query(
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
) -> Query {
    Query::parse(
        q, category, capability, compatible, maintainer, trust, channel, sort, page, per_page,
    )
    .unwrap()
}

fn downloads(plugins: &BTreeMap<String, Vec<IndexLine>>) -> HashMap<String, u64> {
    // Few distinct counts, so ties (broken by name) are common.
    plugins
        .keys()
        .enumerate()
        .map(|(i, n)| (n.clone(), (i * 7 % 4) as u64))
        .collect()
}

fn same(prepared: &Prepared, q: &Query, d: &HashMap<String, u64>, owned: &HashSet<String>) {
    assert_eq!(
        run(prepared, q, d, owned),
        run_scan(prepared, q, d, owned),
        "{q:?}"
    );
}

#[test]
fn every_order_filter_and_page_matches_the_full_scan() {
    let plugins = catalog(300, 7);
    let prepared = Prepared::new(&plugins);
    let d = downloads(&plugins);
    let owned: HashSet<String> = plugins.keys().take(20).cloned().collect();
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
    ];
    for q in texts {
        for sort in sorts {
            for (page, per_page) in [(1, 20), (2, 7), (3, 100), (40, 5), (1, 1)] {
                same(
                    &prepared,
                    &query(q, None, None, None, None, None, None, sort, page, per_page),
                    &d,
                    &owned,
                );
            }
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
        (Some("no-such"), None, None, None),
        (None, Some("net.http"), None, None),
        (None, None, None, Some("someone-owning")),
    ];
    for &(category, capability, compatible, maintainer) in filters {
        for trust in [None, Some("verified"), Some("certified")] {
            for channel in [None, Some("ga"), Some("beta")] {
                for q in ["", "graph", "a timer"] {
                    for sort in [None, Some("downloads"), Some("updated")] {
                        same(
                            &prepared,
                            &query(
                                q, category, capability, compatible, maintainer, trust, channel,
                                sort, 1, 10,
                            ),
                            &d,
                            &owned,
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn pages_together_are_the_whole_ordered_list() {
    let plugins = catalog(120, 3);
    let prepared = Prepared::new(&plugins);
    let d = downloads(&plugins);
    let owned = HashSet::new();
    for sort in ["relevance", "downloads", "updated", "name"] {
        let all = run(
            &prepared,
            &query("a", None, None, None, None, None, None, Some(sort), 1, 100),
            &d,
            &owned,
        );
        let total = all["total"].as_u64().unwrap() as usize;
        assert!(total > 20 && total <= 100, "{total}");
        let mut paged = Vec::new();
        for page in 1..=total.div_ceil(9) {
            let p = run(
                &prepared,
                &query("a", None, None, None, None, None, None, Some(sort), page, 9),
                &d,
                &owned,
            );
            assert_eq!(p["total"], all["total"]);
            paged.extend(p["hits"].as_array().unwrap().iter().cloned());
        }
        assert_eq!(&paged, all["hits"].as_array().unwrap(), "{sort}");
    }
}

#[test]
fn ranking_puts_exact_then_prefix_then_contained_names_first() {
    let mut plugins = BTreeMap::new();
    for (name, description) in [
        ("chart", "x"),
        ("chartist", "x"),
        ("piechart", "x"),
        ("other", "draws a chart"),
        ("unrelated", "nothing"),
    ] {
        let mut l = line(name, "1.0.0");
        l.description = description.into();
        plugins.insert(name.to_owned(), vec![l]);
    }
    let prepared = Prepared::new(&plugins);
    let found = run(
        &prepared,
        &query("chart", None, None, None, None, None, None, None, 1, 20),
        &HashMap::new(),
        &HashSet::new(),
    );
    let names: Vec<&str> = found["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["chart", "chartist", "piechart", "other"]);
    assert_eq!(found["total"], 4);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_catalogs_and_queries_match_the_full_scan(
        seed in any::<u64>(),
        n in 0usize..60,
        words in proptest::collection::vec("[a-z]{1,3}|graph|chart|a|-", 0..3),
        category in proptest::option::of("audio|chart|x"),
        sort in proptest::option::of("relevance|downloads|updated|name|rating"),
        trust in proptest::option::of("verified|certified"),
        channel in proptest::option::of("ga|beta"),
        page in 1usize..5,
        per_page in 1usize..12,
    ) {
        let plugins = catalog(n, seed);
        let prepared = Prepared::new(&plugins);
        let d = downloads(&plugins);
        let q = query(
            &words.join(" "),
            category.as_deref(),
            None,
            None,
            None,
            trust.as_deref(),
            channel.as_deref(),
            sort.as_deref(),
            page,
            per_page,
        );
        prop_assert_eq!(
            run(&prepared, &q, &d, &HashSet::new()),
            run_scan(&prepared, &q, &d, &HashSet::new())
        );
    }
}

#[test]
fn kept_pages_answer_as_the_full_scan_and_searches_by_maintainer_or_downloads_are_not_kept() {
    let plugins = catalog(150, 5);
    let prepared = Prepared::new(&plugins);
    let d = downloads(&plugins);
    let owned: HashSet<String> = plugins.keys().take(9).cloned().collect();
    let write = |q: &Query, page: &Page| -> Value {
        let mut v: Value =
            serde_json::from_slice(&page.write(&prepared, q, &d, &Default::default(), "", ""))
                .unwrap();
        v.as_object_mut().unwrap().remove("query");
        v.as_object_mut().unwrap().remove("sort");
        v
    };
    let queries = [
        query("graph", None, None, None, None, None, None, None, 1, 10),
        query(
            "",
            Some("audio"),
            None,
            Some("demo@0.1.0"),
            None,
            None,
            Some("beta"),
            Some("updated"),
            2,
            5,
        ),
        query(
            "a",
            None,
            None,
            None,
            None,
            Some("verified"),
            None,
            Some("name"),
            1,
            20,
        ),
    ];
    for q in &queries {
        let first = prepared.page(q, &d, &owned);
        let again = prepared.page(q, &d, &owned);
        assert!(std::sync::Arc::ptr_eq(&first, &again), "{q:?} was not kept");
        assert_eq!(
            write(q, &again),
            run_scan(&prepared, q, &d, &owned),
            "{q:?}"
        );
    }
    assert_eq!(prepared.cache.len(), queries.len());
    for q in [
        query(
            "graph",
            None,
            None,
            None,
            Some("maintainer 1"),
            None,
            None,
            None,
            1,
            10,
        ),
        query(
            "graph",
            None,
            None,
            None,
            None,
            None,
            None,
            Some("downloads"),
            1,
            10,
        ),
    ] {
        let page = prepared.page(&q, &d, &owned);
        assert_eq!(
            write(&q, &page),
            run_scan(&prepared, &q, &d, &owned),
            "{q:?}"
        );
    }
    assert_eq!(prepared.cache.len(), queries.len());
}
