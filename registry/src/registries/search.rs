//! Search over registries' listings (SPEC S9.2): filters (category, capability, compatibility,
//! trust, maintainer), relevance, name or update order, and pages.
//!
//! A [`Listing`] is one registry's plugins as search sees them — one entry per plugin with the
//! releases visible under the registry's settings — built from the verified index once per
//! snapshot and kept in memory (and in the cache directory between commands), so a search is a
//! scan of a few thousand prepared entries, not a read of the index.

use std::cmp::Ordering;

use semver::Version;
use serde::{Deserialize, Serialize};
use switchboard_host::{sdk_abi_compatible, HostProfile, TrustLevel};

/// The entries shown per page unless asked otherwise.
pub const DEFAULT_PER_PAGE: usize = 20;

/// One release as search and `info` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ListedRelease {
    /// The version.
    pub version: Version,
    /// `beta` or `ga` (drafts are never listed).
    pub channel: String,
    /// The trust level the registry records.
    pub trust: TrustLevel,
    /// The signer's key id.
    pub signer: String,
    /// The yank reason, if withdrawn.
    pub yanked: Option<String>,
    /// The host API it needs: name and range.
    pub host_api: Option<(String, String)>,
    /// The SDK ABI `(major, minor)`, if the line's is well-formed.
    pub sdk_abi: Option<(u32, u32)>,
    /// The capabilities it requests.
    pub capabilities: Vec<String>,
    /// Its dependencies: name, range, optional.
    pub dependencies: Vec<(String, String, bool)>,
    /// When it was published (RFC 3339).
    pub published: String,
    /// The package's sha256 and size.
    pub sha256: String,
    /// The package's size in bytes.
    pub size: u64,
}

/// One plugin of one registry, as search sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ListedPlugin {
    /// The plugin's name.
    pub name: String,
    /// From the newest visible release.
    pub description: String,
    /// Search keywords.
    pub keywords: Vec<String>,
    /// Categories.
    pub categories: Vec<String>,
    /// Maintainers.
    pub maintainers: Vec<String>,
    /// License.
    pub license: Option<String>,
    /// Repository.
    pub repository: Option<String>,
    /// `Some(successor)` when deprecated (the successor may be `None`).
    pub deprecated: Option<Option<String>>,
    /// The visible releases, newest first.
    pub releases: Vec<ListedRelease>,
}

impl ListedPlugin {
    /// The newest release that is not yanked (and, with `host`, compatible), if any.
    pub fn newest(&self, host: Option<&Compat>) -> Option<&ListedRelease> {
        self.releases
            .iter()
            .filter(|r| r.yanked.is_none())
            .find(|r| host.is_none_or(|h| h.check(r).is_compatible()))
    }
}

/// What search filters on compatibility with: this SDK's ABI always, and a host API if known.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Compat {
    /// The host's API name and version; `None` checks the SDK ABI only.
    pub host: Option<HostProfile>,
}

impl Compat {
    /// Compatibility with this SDK, and with `host`'s API if given.
    pub fn new(host: Option<HostProfile>) -> Self {
        Compat { host }
    }

    /// Whether `release` would load in such a host (the host's own rules: SDK ABI, host API
    /// range).
    pub fn check(&self, release: &ListedRelease) -> Compatibility {
        match release.sdk_abi {
            Some(abi) if sdk_abi_compatible(abi) => {}
            Some((a, b)) => {
                return Compatibility::Incompatible(format!(
                    "built for SDK ABI {a}.{b}, this host has {}",
                    switchboard_sdk::SDK_ABI_VERSION
                ))
            }
            None => return Compatibility::Incompatible("its SDK ABI does not parse".into()),
        }
        let Some((name, range)) = &release.host_api else {
            return Compatibility::Compatible;
        };
        let Some(host) = &self.host else {
            return Compatibility::Unknown(format!(
                "needs host API {name} {range}; pass --host-api NAME@VERSION to check"
            ));
        };
        if &host.host_api != name {
            return Compatibility::Incompatible(format!(
                "needs host API {name}, this host offers {}",
                host.host_api
            ));
        }
        match switchboard_host::version_matches(range, &host.host_version) {
            Ok(true) => Compatibility::Compatible,
            Ok(false) => Compatibility::Incompatible(format!(
                "needs {name} {range}, this host is {}",
                host.host_version
            )),
            Err(e) => Compatibility::Incompatible(e),
        }
    }
}

/// Whether a release fits a host.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compatibility {
    /// It would load.
    Compatible,
    /// It would be refused, and why.
    Incompatible(String),
    /// It needs a host API and none was given to check against.
    Unknown(String),
}

impl Compatibility {
    /// Whether it is [`Compatibility::Compatible`].
    pub fn is_compatible(&self) -> bool {
        matches!(self, Compatibility::Compatible)
    }

    /// `compatible`, `incompatible` or `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Compatibility::Compatible => "compatible",
            Compatibility::Incompatible(_) => "incompatible",
            Compatibility::Unknown(_) => "unknown",
        }
    }

    /// Why, when not compatible.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Compatibility::Compatible => None,
            Compatibility::Incompatible(r) | Compatibility::Unknown(r) => Some(r),
        }
    }
}

/// How hits are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SortOrder {
    /// Best match first (name, then keywords, then description); ties by name.
    #[default]
    Relevance,
    /// By name.
    Name,
    /// Most recently published first.
    Updated,
}

/// A search: words to match and filters, all optional.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SearchQuery {
    /// Words that must each appear in the name, keywords, categories or description
    /// (case-insensitive); empty lists everything.
    pub text: String,
    /// Only plugins in this category.
    pub category: Option<String>,
    /// Only plugins requesting this capability (its kind, e.g. `fs.read`, or a full request).
    pub capability: Option<String>,
    /// Only plugins with a release compatible with this host.
    pub compatible: Option<Compat>,
    /// Only plugins whose newest release is at least this trusted.
    pub min_trust: Option<TrustLevel>,
    /// Only plugins with a maintainer containing this text (case-insensitive).
    pub maintainer: Option<String>,
    /// The order.
    pub sort: SortOrder,
    /// The page, from 1.
    pub page: usize,
    /// Hits per page.
    pub per_page: usize,
}

impl SearchQuery {
    /// A query for `text`, no filters, first page by relevance.
    pub fn new(text: impl Into<String>) -> Self {
        SearchQuery {
            text: text.into(),
            category: None,
            capability: None,
            compatible: None,
            min_trust: None,
            maintainer: None,
            sort: SortOrder::Relevance,
            page: 1,
            per_page: DEFAULT_PER_PAGE,
        }
    }
}

/// One plugin found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SearchHit {
    /// The registry it is in.
    pub registry: String,
    /// Its name.
    pub name: String,
    /// The release shown (newest not yanked, compatible when filtering on compatibility).
    pub version: Version,
    /// Description.
    pub description: String,
    /// Trust of that release.
    pub trust: TrustLevel,
    /// Its channel.
    pub channel: String,
    /// Categories.
    pub categories: Vec<String>,
    /// Capabilities requested by that release.
    pub capabilities: Vec<String>,
    /// When it was published.
    pub published: String,
    /// `Some(successor)` when deprecated.
    pub deprecated: Option<Option<String>>,
    /// A registry of higher priority has a plugin of the same name: `NAME` alone means that
    /// one; this one needs `REGISTRY:NAME`.
    pub shadowed_by: Option<String>,
    /// The relevance score (higher is better).
    pub score: u32,
}

/// A page of hits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SearchPage {
    /// The hits on this page.
    pub hits: Vec<SearchHit>,
    /// How many plugins matched in all.
    pub total: usize,
    /// This page, from 1.
    pub page: usize,
    /// How many pages there are.
    pub pages: usize,
}

/// One prepared entry: the plugin and its lower-cased text, built once.
#[derive(Debug, Clone)]
struct Entry {
    plugin: ListedPlugin,
    name_lc: String,
    description_lc: String,
    keywords_lc: Vec<String>,
    categories_lc: Vec<String>,
    maintainers_lc: Vec<String>,
    /// Capability kinds and full requests of every visible release.
    capabilities: Vec<String>,
}

impl Entry {
    fn new(plugin: ListedPlugin) -> Entry {
        let lc = |v: &[String]| v.iter().map(|s| s.to_lowercase()).collect::<Vec<_>>();
        let mut capabilities: Vec<String> = plugin
            .releases
            .iter()
            .flat_map(|r| r.capabilities.iter())
            .flat_map(|c| {
                let kind = c.split(':').next().unwrap_or(c).to_owned();
                [kind, c.clone()]
            })
            .collect();
        capabilities.sort();
        capabilities.dedup();
        Entry {
            name_lc: plugin.name.to_lowercase(),
            description_lc: plugin.description.to_lowercase(),
            keywords_lc: lc(&plugin.keywords),
            categories_lc: lc(&plugin.categories),
            maintainers_lc: lc(&plugin.maintainers),
            capabilities,
            plugin,
        }
    }

    /// The score of one query word, 0 when it matches nothing.
    fn word_score(&self, word: &str) -> u32 {
        if self.name_lc == word {
            100
        } else if self.name_lc.starts_with(word) {
            60
        } else if self.name_lc.contains(word) {
            40
        } else if self.keywords_lc.iter().any(|k| k == word) {
            30
        } else if self.keywords_lc.iter().any(|k| k.contains(word))
            || self.categories_lc.iter().any(|c| c.contains(word))
        {
            15
        } else if self.description_lc.contains(word) {
            5
        } else {
            0
        }
    }
}

/// One registry's plugins, prepared for search.
#[derive(Debug, Clone)]
pub struct Listing {
    registry: String,
    entries: Vec<Entry>,
}

impl Listing {
    /// Prepares `plugins` of `registry` (any order).
    pub fn new(registry: impl Into<String>, plugins: Vec<ListedPlugin>) -> Listing {
        // Plugins with no visible release stay: they still answer for their name.
        let mut entries: Vec<Entry> = plugins.into_iter().map(Entry::new).collect();
        entries.sort_by(|a, b| a.plugin.name.cmp(&b.plugin.name));
        Listing {
            registry: registry.into(),
            entries,
        }
    }

    /// The registry's name.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// How many plugins it lists.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it lists none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The plugin named `name`, if listed.
    pub fn get(&self, name: &str) -> Option<&ListedPlugin> {
        self.entries
            .binary_search_by(|e| e.plugin.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.entries[i].plugin)
    }

    /// The plugins, by name.
    pub fn plugins(&self) -> impl Iterator<Item = &ListedPlugin> {
        self.entries.iter().map(|e| &e.plugin)
    }
}

/// Searches `listings` (highest priority first) and returns the page asked for.
pub fn search(listings: &[&Listing], query: &SearchQuery) -> SearchPage {
    let words: Vec<String> = query
        .text
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let category = query.category.as_deref().map(str::to_lowercase);
    let maintainer = query.maintainer.as_deref().map(str::to_lowercase);
    let mut hits: Vec<(u32, &Entry, &ListedRelease, &str, Option<&str>)> = Vec::new();
    for (rank, listing) in listings.iter().enumerate() {
        for e in &listing.entries {
            let mut score = 0;
            let mut all = true;
            for w in &words {
                let s = e.word_score(w);
                if s == 0 {
                    all = false;
                    break;
                }
                score += s;
            }
            if !all {
                continue;
            }
            if let Some(c) = &category {
                if !e.categories_lc.iter().any(|x| x == c) {
                    continue;
                }
            }
            if let Some(cap) = &query.capability {
                if e.capabilities.binary_search(cap).is_err() {
                    continue;
                }
            }
            if let Some(m) = &maintainer {
                if !e.maintainers_lc.iter().any(|x| x.contains(m.as_str())) {
                    continue;
                }
            }
            let Some(release) = e.plugin.newest(query.compatible.as_ref()) else {
                continue;
            };
            if query.min_trust.is_some_and(|t| release.trust < t) {
                continue;
            }
            // A plugin of the same name in a registry asked earlier is the one `NAME` means.
            let shadowed_by = listings[..rank]
                .iter()
                .find(|l| l.get(&e.plugin.name).is_some())
                .map(|l| l.registry.as_str());
            hits.push((score, e, release, &listing.registry, shadowed_by));
        }
    }
    let by_name = |a: &Entry, b: &Entry| a.plugin.name.cmp(&b.plugin.name);
    match query.sort {
        SortOrder::Relevance => hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| by_name(a.1, b.1))),
        SortOrder::Name => hits.sort_by(|a, b| by_name(a.1, b.1)),
        SortOrder::Updated => hits.sort_by(|a, b| {
            b.2.published
                .cmp(&a.2.published)
                .then_with(|| by_name(a.1, b.1))
                .then(Ordering::Equal)
        }),
    }
    let per_page = query.per_page.max(1);
    let total = hits.len();
    let pages = total.div_ceil(per_page).max(1);
    let page = query.page.max(1);
    let hits = hits
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|(score, e, r, registry, shadowed_by)| SearchHit {
            registry: registry.to_owned(),
            name: e.plugin.name.clone(),
            version: r.version.clone(),
            description: e.plugin.description.clone(),
            trust: r.trust,
            channel: r.channel.clone(),
            categories: e.plugin.categories.clone(),
            capabilities: r.capabilities.clone(),
            published: r.published.clone(),
            deprecated: e.plugin.deprecated.clone(),
            shadowed_by: shadowed_by.map(str::to_owned),
            score,
        })
        .collect();
    SearchPage {
        hits,
        total,
        page,
        pages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn release(version: &str, trust: TrustLevel) -> ListedRelease {
        ListedRelease {
            version: version.parse().unwrap(),
            channel: "ga".into(),
            trust,
            signer: "ABCD".into(),
            yanked: None,
            host_api: None,
            sdk_abi: Some((switchboard_sdk::SDK_ABI_MAJOR, 0)),
            capabilities: vec!["kv".into(), "fs.read:/srv/**".into()],
            dependencies: vec![],
            published: format!("2026-01-0{}T00:00:00Z", version.as_bytes()[0] - b'0'),
            sha256: "00".repeat(32),
            size: 1,
        }
    }

    fn plugin(name: &str, description: &str, releases: Vec<ListedRelease>) -> ListedPlugin {
        ListedPlugin {
            name: name.into(),
            description: description.into(),
            keywords: vec!["greeting".into()],
            categories: vec!["Text".into()],
            maintainers: vec!["Ada Lovelace <ada@example.com>".into()],
            license: None,
            repository: None,
            deprecated: None,
            releases,
        }
    }

    fn names(page: &SearchPage) -> Vec<&str> {
        page.hits.iter().map(|h| h.name.as_str()).collect()
    }

    fn listing() -> Listing {
        Listing::new(
            "main",
            vec![
                plugin(
                    "hello",
                    "Says hello",
                    vec![release("2.0.0", TrustLevel::Verified)],
                ),
                plugin(
                    "hello-extra",
                    "More greetings",
                    vec![release("1.0.0", TrustLevel::SelfSigned)],
                ),
                plugin(
                    "wordcount",
                    "Counts words, says hello",
                    vec![release("3.0.0", TrustLevel::Certified)],
                ),
            ],
        )
    }

    #[test]
    fn every_word_must_match_and_the_name_ranks_first() {
        let l = listing();
        let page = search(&[&l], &SearchQuery::new("hello"));
        assert_eq!(names(&page), ["hello", "hello-extra", "wordcount"]);
        let page = search(&[&l], &SearchQuery::new("hello counts"));
        assert_eq!(names(&page), ["wordcount"]);
        assert_eq!(search(&[&l], &SearchQuery::new("nothing")).total, 0);
    }

    #[test]
    fn filters_narrow_and_pages_split() {
        let l = listing();
        let mut q = SearchQuery::new("");
        q.min_trust = Some(TrustLevel::Verified);
        assert_eq!(names(&search(&[&l], &q)), ["hello", "wordcount"]);
        let mut q = SearchQuery::new("");
        q.capability = Some("fs.read".into());
        assert_eq!(search(&[&l], &q).total, 3);
        q.capability = Some("net.connect".into());
        assert_eq!(search(&[&l], &q).total, 0);
        let mut q = SearchQuery::new("");
        q.category = Some("text".into());
        q.maintainer = Some("lovelace".into());
        q.sort = SortOrder::Updated;
        q.per_page = 2;
        q.page = 2;
        let page = search(&[&l], &q);
        assert_eq!(
            (page.total, page.pages, names(&page)),
            (3, 2, vec!["hello-extra"])
        );
    }

    #[test]
    fn a_name_in_a_registry_asked_earlier_shadows_the_same_name_later() {
        let team = Listing::new(
            "team",
            vec![plugin(
                "hello",
                "Team hello",
                vec![release("1.0.0", TrustLevel::Verified)],
            )],
        );
        let public = listing();
        let page = search(&[&team, &public], &SearchQuery::new("hello"));
        let hello: Vec<_> = page.hits.iter().filter(|h| h.name == "hello").collect();
        assert_eq!(hello.len(), 2);
        assert_eq!(hello[0].registry, "team");
        assert_eq!(hello[0].shadowed_by, None);
        assert_eq!(hello[1].registry, "main");
        assert_eq!(hello[1].shadowed_by.as_deref(), Some("team"));
    }

    #[test]
    fn compatibility_uses_the_hosts_rules() {
        let mut r = release("1.0.0", TrustLevel::Verified);
        r.host_api = Some(("switchboard-demo".into(), "^0.1".into()));
        let none = Compat::new(None);
        assert!(matches!(none.check(&r), Compatibility::Unknown(_)));
        let ok = Compat::new(Some(HostProfile::new("switchboard-demo", "0.1.4")));
        assert!(ok.check(&r).is_compatible());
        let old = Compat::new(Some(HostProfile::new("switchboard-demo", "0.2.0")));
        assert!(matches!(old.check(&r), Compatibility::Incompatible(_)));
        r.sdk_abi = Some((switchboard_sdk::SDK_ABI_MAJOR + 1, 0));
        assert!(matches!(ok.check(&r), Compatibility::Incompatible(m) if m.contains("SDK ABI")));
    }

    #[test]
    fn yanked_releases_are_not_what_search_shows() {
        let mut y = release("2.0.0", TrustLevel::Verified);
        y.yanked = Some("broken".into());
        let l = Listing::new(
            "main",
            vec![plugin(
                "hello",
                "x",
                vec![y, release("1.0.0", TrustLevel::Verified)],
            )],
        );
        let page = search(&[&l], &SearchQuery::new("hello"));
        assert_eq!(page.hits[0].version.to_string(), "1.0.0");
    }

    mod oracle {
        use super::*;
        use proptest::prelude::*;

        const WORDS: &[&str] = &["graph", "Weather", "git", "chart", "pdf", "gra"];

        fn plugin_from(i: usize, picks: &[usize]) -> ListedPlugin {
            let w = |k: usize| WORDS[picks[k % picks.len()] % WORDS.len()].to_owned();
            let mut p = plugin(
                &format!("{}-{i}", w(0)),
                &format!("about {} and {}", w(1), w(2)),
                vec![release("1.0.0", TrustLevel::Verified)],
            );
            p.keywords = vec![w(3)];
            p.categories = vec![w(4)];
            p
        }

        proptest! {
            /// Search finds exactly the plugins whose name, keywords, categories or
            /// description contain every query word (case-insensitive), best score first.
            #[test]
            fn search_matches_the_simple_definition(
                picks in proptest::collection::vec(proptest::collection::vec(0usize..6, 5), 0..40),
                query in proptest::collection::vec(0usize..6, 0..3),
            ) {
                let plugins: Vec<ListedPlugin> =
                    picks.iter().enumerate().map(|(i, p)| plugin_from(i, p)).collect();
                let words: Vec<String> = query.iter().map(|q| WORDS[*q].to_lowercase()).collect();
                let expected = plugins
                    .iter()
                    .filter(|p| {
                        let hay = format!(
                            "{} {} {} {}",
                            p.name, p.keywords.join(" "), p.categories.join(" "), p.description
                        )
                        .to_lowercase();
                        words.iter().all(|w| hay.contains(w.as_str()))
                    })
                    .count();
                let l = Listing::new("main", plugins);
                let mut q = SearchQuery::new(words.join(" "));
                q.per_page = 1000;
                let page = search(&[&l], &q);
                prop_assert_eq!(page.total, expected);
                prop_assert!(page.hits.windows(2).all(|w| w[0].score >= w[1].score));
            }
        }
    }
}
