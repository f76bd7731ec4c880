//! Search over the catalog (`GET /api/v1/search`), with the filters and orders of SPEC S9.2.
//!
//! The catalog is prepared once per registry change ([`Prepared`]: every plugin's text lower
//! cased, capability kinds collected, the release each channel shows, and a word index —
//! see [`index`]) and each search reads it in memory: the registry directory is the record of
//! what is listed, so there is no second copy in SQLite to keep in step. A search looks up
//! its words (and its category and capability) in the index, so it reads only the plugins
//! that can match; it sorts only as far as the page it answers. [`run_scan`] is the same
//! search reading every plugin, kept as the reference the tests and the bench compare with.
//! Preparing also writes each release's hit as JSON text once, packs the shown release and
//! its trust per channel into arrays, and ranks release dates; pages answered are kept per
//! catalog ([`PageCache`]) and written from those texts ([`Page::write`]).
//! `docs/registry.md` has the measured cost at 10,000 plugins.
//!
//! On PostgreSQL the server searches in the database instead, over tables derived from the
//! catalog ([`Prepared::search_rows`], `store::catalog_search`); the same answers but for the
//! order of equal scores under `relevance` (`search::db_tests` compares the two).
//!
//! - `q`: words that must all occur (name, keywords, categories, description), scored name
//!   exact > prefix > contains > keyword > category/keyword part > description.
//! - `category` (exact, any case), `capability` (a kind such as `fs.read`, or a whole
//!   request), `maintainer` (part of a manifest author, any case, or an owning account
//!   exactly), `trust` (at least: `self-signed` < `verified` < `certified`), `channel`
//!   (`ga`: only generally available releases; `beta`: the newest of beta and ga; absent: the
//!   newest ga release, else the newest beta), `compatible_with=HOSTAPI@VERSION` (the shown
//!   release loads in such a host: this SDK's ABI, and its host API range holds VERSION or
//!   it needs none).
//! - `sort`: `relevance` (default with `q`), `name` (default without), `downloads`, `updated`
//!   (newest release first), `rating` (highest damped average of approved reviews first, then
//!   more reviews, then name; plugins without an approved review last, by name — see
//!   [`rating`]; answered by [`Prepared::compute_by_rating`], never kept).
//! - `page` from 1, `per_page` from 1 to [`MAX_PER_PAGE`](super::MAX_PER_PAGE); `total` counts
//!   every match.

pub mod index;
pub mod rating;

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};
use switchboard_host::TrustLevel;

use crate::error::ServerError;
use crate::format::{canonical_name, Channel, IndexLine};
use index::{Bits, WordIndex};

/// One plugin prepared for search.
#[derive(Debug)]
pub struct Entry {
    /// The plugin's name.
    pub name: String,
    name_lc: String,
    description_lc: String,
    keywords_lc: Vec<String>,
    categories_lc: Vec<String>,
    maintainers_lc: Vec<String>,
    /// Name, keywords, categories and description, lower case, one string: a word absent
    /// from it scores 0 without the field-by-field checks.
    haystack: String,
    capabilities: HashSet<String>,
    /// Its releases, newest first, drafts and yanked ones left out.
    releases: Vec<IndexLine>,
    /// The release shown (position in `releases`) with no `compatible_with`: with no
    /// `channel`, `channel=ga`, `channel=beta`.
    shown: [Option<usize>; 3],
    /// For each of `releases`, what `compatible_with` asks, parsed once.
    compat: Vec<Compat>,
    /// For each of `releases`, its hit as JSON text without `downloads`, `rating`, `score`
    /// and the closing brace: a page is written from these (see [`Page::write`]).
    fragments: Vec<Box<str>>,
}

/// What a release needs of a host, parsed once (`compatible_with` reads it per release).
#[derive(Debug)]
struct Compat {
    /// Its SDK ABI is one this host's SDK loads.
    abi: bool,
    /// The host API it needs: its position in [`Prepared::host_apis`].
    host_api: Option<u32>,
}

/// The catalog prepared for search.
#[derive(Debug, Default)]
pub struct Prepared {
    /// In name order.
    entries: Vec<Entry>,
    words: WordIndex,
    /// Lower-case category → the entries listing it, increasing.
    categories: HashMap<String, Vec<u32>>,
    /// Capability kind or whole request → the entries requesting it, increasing.
    capabilities: HashMap<String, Vec<u32>>,
    /// Every distinct host API a release needs: the name and the range (`None` when the
    /// range does not parse, which no version matches). A search with `compatible_with`
    /// matches each once, not once per release.
    host_apis: Vec<(String, Option<semver::VersionReq>)>,
    /// Pages answered for this catalog (see [`PageCache`]).
    cache: PageCache,
    /// Pages the database (PostgreSQL) answered for this catalog, kept the same way.
    db_cache: PageCache<DbPage>,
    /// Per channel slot (as [`Entry::shown`]), per entry: the shown release's position and
    /// trust, packed (`NONE` when nothing is shown), so a search without `compatible_with`
    /// or `maintainer` reads two bytes per plugin, not its entry.
    shown_packed: [Vec<(u32, u8)>; 3],
    /// Per entry, per release: the rank of its `published` among every release's (equal
    /// dates, equal ranks), so `sort=updated` compares numbers.
    published_rank: Vec<Vec<u32>>,
}

/// No release shown, in [`Prepared::shown_packed`].
const NONE: u32 = u32::MAX;

/// The order of trust levels, as numbers.
fn trust_rank(t: TrustLevel) -> u8 {
    let levels = [
        TrustLevel::Unsigned,
        TrustLevel::SelfSigned,
        TrustLevel::Verified,
        TrustLevel::Certified,
    ];
    u8::try_from(levels.iter().filter(|l| t >= **l).count()).unwrap_or(0)
}

impl Prepared {
    /// Prepares every plugin of `plugins`.
    pub fn new(plugins: &std::collections::BTreeMap<String, Vec<IndexLine>>) -> Prepared {
        let lc = |v: &[String]| v.iter().map(|s| s.to_lowercase()).collect::<Vec<_>>();
        let mut host_apis: Vec<(String, Option<semver::VersionReq>)> = Vec::new();
        let mut host_api_ids: HashMap<(String, String), u32> = HashMap::new();
        let entries: Vec<Entry> = plugins
            .iter()
            .map(|(name, lines)| {
                let mut releases: Vec<IndexLine> = lines
                    .iter()
                    .filter(|l| !l.is_yanked() && l.channel != Channel::Draft)
                    .cloned()
                    .collect();
                releases.sort_by(|a, b| b.version.cmp(&a.version));
                let about = super::catalog::newest_visible(lines).or(lines.last());
                let capabilities = releases
                    .iter()
                    .flat_map(|r| r.capabilities.iter())
                    .flat_map(|c| [c.split(':').next().unwrap_or(c).to_owned(), c.clone()])
                    .collect();
                let keywords_lc = about.map(|l| lc(&l.keywords)).unwrap_or_default();
                let categories_lc = about.map(|l| lc(&l.categories)).unwrap_or_default();
                let description_lc = about
                    .map(|l| l.description.to_lowercase())
                    .unwrap_or_default();
                let haystack = format!(
                    "{}\n{}\n{}\n{description_lc}",
                    name.to_lowercase(),
                    keywords_lc.join("\n"),
                    categories_lc.join("\n"),
                );
                let newest = |c: Channel| releases.iter().position(|l| l.channel == c);
                let shown = [
                    newest(Channel::Ga).or_else(|| newest(Channel::Beta)),
                    newest(Channel::Ga),
                    releases.iter().position(|l| l.channel >= Channel::Beta),
                ];
                let compat = releases
                    .iter()
                    .map(|l| Compat {
                        abi: l
                            .sdk_abi()
                            .is_some_and(switchboard_host::sdk_abi_compatible),
                        host_api: l.host_api.as_ref().map(|h| {
                            *host_api_ids
                                .entry((h.name.clone(), h.req.clone()))
                                .or_insert_with(|| {
                                    host_apis.push((
                                        h.name.clone(),
                                        semver::VersionReq::parse(&h.req).ok(),
                                    ));
                                    u32::try_from(host_apis.len() - 1).unwrap_or(u32::MAX)
                                })
                        }),
                    })
                    .collect();
                let fragments = releases.iter().map(hit_fragment).collect();
                Entry {
                    compat,
                    fragments,
                    name: name.clone(),
                    name_lc: name.to_lowercase(),
                    description_lc,
                    keywords_lc,
                    categories_lc,
                    haystack,
                    maintainers_lc: about.map(|l| lc(&l.maintainers)).unwrap_or_default(),
                    capabilities,
                    releases,
                    shown,
                }
            })
            .collect();
        let words = WordIndex::new(entries.iter().map(|e| e.haystack.as_str()));
        let mut categories: HashMap<String, Vec<u32>> = HashMap::new();
        let mut capabilities: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            for c in &e.categories_lc {
                let list = categories.entry(c.clone()).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
            for c in &e.capabilities {
                capabilities.entry(c.clone()).or_default().push(i);
            }
        }
        let mut dates: Vec<&str> = entries
            .iter()
            .flat_map(|e| e.releases.iter().map(|l| l.published.as_str()))
            .collect();
        dates.sort_unstable();
        dates.dedup();
        let published_rank = entries
            .iter()
            .map(|e| {
                e.releases
                    .iter()
                    .map(|l| {
                        let r = dates.partition_point(|d| *d < l.published.as_str());
                        u32::try_from(r).unwrap_or(u32::MAX)
                    })
                    .collect()
            })
            .collect();
        let packed = |slot: usize| {
            entries
                .iter()
                .map(|e| {
                    e.shown[slot]
                        .and_then(|i| {
                            let l = e.releases.get(i)?;
                            Some((u32::try_from(i).ok()?, trust_rank(l.trust)))
                        })
                        .unwrap_or((NONE, 0))
                })
                .collect()
        };
        let shown_packed = [packed(0), packed(1), packed(2)];
        Prepared {
            entries,
            words,
            categories,
            capabilities,
            host_apis,
            cache: PageCache::default(),
            db_cache: PageCache::default(),
            shown_packed,
            published_rank,
        }
    }

    /// Every plugin as the database's search stores it (PostgreSQL, see
    /// [`super::store::catalog_search`]).
    pub fn search_rows(&self) -> Vec<super::store::catalog_search::SearchRow> {
        use super::store::catalog_search::{SearchRelease, SearchRow};
        use sha2::Digest as _;
        let levels = [
            TrustLevel::Unsigned,
            TrustLevel::SelfSigned,
            TrustLevel::Verified,
            TrustLevel::Certified,
        ];
        let rank = |t: TrustLevel| {
            i16::try_from(levels.iter().filter(|l| t >= **l).count()).unwrap_or(0) - 1
        };
        self.entries
            .iter()
            .map(|e| {
                let releases: Vec<SearchRelease> = e
                    .releases
                    .iter()
                    .zip(&e.compat)
                    .zip(&e.fragments)
                    .map(|((l, c), f)| SearchRelease {
                        channel: if l.channel == Channel::Ga { 2 } else { 1 },
                        trust: rank(l.trust),
                        published: l.published.clone(),
                        abi: c.abi,
                        host_api: l
                            .host_api
                            .as_ref()
                            .map(|h| format!("{}\n{}", h.name, h.req)),
                        fragment: f.to_string(),
                    })
                    .collect();
                let mut capabilities: Vec<String> = e.capabilities.iter().cloned().collect();
                capabilities.sort();
                let mut digest = sha2::Sha256::new();
                for part in [
                    &e.haystack,
                    &e.maintainers_lc.join("\n"),
                    &capabilities.join("\n"),
                ] {
                    digest.update(part.as_bytes());
                    digest.update([0]);
                }
                for r in &releases {
                    digest.update(r.fragment.as_bytes());
                    digest.update([0]);
                }
                digest.update(format!("{:?}", e.shown).as_bytes());
                let shown = e.shown.map(|s| s.and_then(|i| u32::try_from(i).ok()));
                SearchRow {
                    name: e.name.clone(),
                    canonical: canonical_name(&e.name),
                    digest: hex::encode(digest.finalize()),
                    name_lc: e.name_lc.clone(),
                    text_lc: e.haystack.clone(),
                    keywords_lc: e.keywords_lc.clone(),
                    categories_lc: e.categories_lc.clone(),
                    description_lc: e.description_lc.clone(),
                    maintainers_lc: e.maintainers_lc.clone(),
                    capabilities,
                    shown,
                    releases,
                }
            })
            .collect()
    }

    /// How many plugins are prepared.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no plugin is.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// How hits are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sort {
    /// Best match first, ties by name.
    Relevance,
    /// By name.
    Name,
    /// Most downloaded first.
    Downloads,
    /// Newest release first.
    Updated,
    /// Highest rated first, unrated last.
    Rating,
}

/// A parsed search.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Query {
    /// Lower-cased words.
    pub words: Vec<String>,
    /// `category`, lower case.
    pub category: Option<String>,
    /// `capability`.
    pub capability: Option<String>,
    /// `compatible_with`: host API name and version.
    pub compatible_with: Option<(String, String)>,
    /// `maintainer`, lower case.
    pub maintainer: Option<String>,
    /// `trust`: the minimum.
    pub trust: Option<TrustLevel>,
    /// `channel`.
    pub channel: Option<Channel>,
    /// `sort`.
    pub sort: Sort,
    /// From 1.
    pub page: usize,
    /// Hits per page.
    pub per_page: usize,
}

fn bad(reason: String) -> ServerError {
    ServerError::BadQuery { reason }
}

impl Query {
    /// Parses the parameters (already split); bad values are `SB1382`.
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per query parameter"
    )]
    pub fn parse(
        q: &str,
        category: Option<&str>,
        capability: Option<&str>,
        compatible_with: Option<&str>,
        maintainer: Option<&str>,
        trust: Option<&str>,
        channel: Option<&str>,
        sort: Option<&str>,
        page: usize,
        per_page: usize,
    ) -> Result<Query, ServerError> {
        let words: Vec<String> = q
            .to_lowercase()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let sort = match sort {
            None if words.is_empty() => Sort::Name,
            None | Some("relevance") => Sort::Relevance,
            Some("name") => Sort::Name,
            Some("downloads") => Sort::Downloads,
            Some("updated") => Sort::Updated,
            Some("rating") => Sort::Rating,
            Some(other) => {
                return Err(bad(format!(
                    "sort={other}: write relevance, downloads, updated, name or rating"
                )))
            }
        };
        let trust = trust
            .map(|t| {
                t.parse::<TrustLevel>().map_err(|_| {
                    bad(format!(
                        "trust={t}: write self-signed, verified or certified"
                    ))
                })
            })
            .transpose()?;
        let channel = match channel {
            None => None,
            Some("ga") => Some(Channel::Ga),
            Some("beta") => Some(Channel::Beta),
            Some(other) => return Err(bad(format!("channel={other}: write ga or beta"))),
        };
        let compatible_with = compatible_with
            .map(|c| {
                let (api, version) = c
                    .rsplit_once('@')
                    .ok_or_else(|| bad(format!("compatible_with={c}: write HOSTAPI@VERSION")))?;
                if api.is_empty() || semver::Version::parse(version).is_err() {
                    return Err(bad(format!(
                        "compatible_with={c}: write HOSTAPI@VERSION with a full version"
                    )));
                }
                Ok((api.to_owned(), version.to_owned()))
            })
            .transpose()?;
        let nonempty = |name: &str, v: Option<&str>| -> Result<Option<String>, ServerError> {
            match v {
                Some(t) if t.trim().is_empty() => Err(bad(format!("{name} is empty"))),
                Some(t) if t.len() > super::MAX_QUERY_BYTES => {
                    Err(bad(format!("{name} is too long")))
                }
                other => Ok(other.map(str::to_owned)),
            }
        };
        Ok(Query {
            words,
            category: nonempty("category", category)?.map(|c| c.to_lowercase()),
            capability: nonempty("capability", capability)?,
            compatible_with,
            maintainer: nonempty("maintainer", maintainer)?.map(|m| m.to_lowercase()),
            trust,
            channel,
            sort,
            page,
            per_page,
        })
    }
}

impl Entry {
    /// How well `word` matches, 0 when it does not occur: read field by field, as
    /// before the word index.
    fn word_score_scan(&self, word: &str) -> u32 {
        if !self.haystack.contains(word) {
            0
        } else if self.name_lc == word {
            100
        } else if self.name_lc.starts_with(word) {
            50
        } else if self.name_lc.contains(word) {
            30
        } else if self.keywords_lc.iter().any(|k| k == word) {
            20
        } else if self.keywords_lc.iter().any(|k| k.contains(word))
            || self.categories_lc.iter().any(|c| c.contains(word))
            || self.description_lc.contains(word)
        {
            10
        } else {
            0
        }
    }

    /// How well `word`, known to occur in the text, matches. The text is the name, keywords,
    /// categories and description joined by line breaks and `word` holds none, so a word not
    /// in the name lies inside a keyword, a category or the description: no need to look.
    fn field_score(&self, word: &str) -> u32 {
        if self.name_lc == word {
            100
        } else if self.name_lc.starts_with(word) {
            50
        } else if self.name_lc.contains(word) {
            30
        } else if self.keywords_lc.iter().any(|k| k == word) {
            20
        } else {
            10
        }
    }

    /// The release shown for `query` (its position in `releases`): the newest its channel
    /// and compatibility allow. `fits` is [`Prepared::fitting`] of the query.
    fn shown(&self, query: &Query, fits: Option<&[bool]>) -> Option<usize> {
        if let Some(fits) = fits {
            let fit = |i: &usize| {
                self.compat.get(*i).is_some_and(|c| {
                    c.abi
                        && match c.host_api {
                            None => true,
                            Some(h) => fits.get(h as usize).copied().unwrap_or(false),
                        }
                })
            };
            let of = |c: Option<Channel>| {
                (0..self.releases.len())
                    .filter(|&i| match c {
                        Some(Channel::Ga) => self.releases[i].channel == Channel::Ga,
                        Some(_) => self.releases[i].channel == Channel::Beta,
                        None => self.releases[i].channel >= Channel::Beta,
                    })
                    .find(fit)
            };
            return match query.channel {
                Some(Channel::Ga) => of(Some(Channel::Ga)),
                Some(_) => of(None),
                None => of(Some(Channel::Ga)).or_else(|| of(Some(Channel::Beta))),
            };
        }
        let slot = match query.channel {
            None => 0,
            Some(Channel::Ga) => 1,
            Some(_) => 2,
        };
        self.shown[slot]
    }

    /// [`Entry::shown`] found by reading the releases.
    fn shown_scan(&self, query: &Query) -> Option<&IndexLine> {
        let fits = |l: &&IndexLine| match &query.compatible_with {
            None => true,
            Some((api, version)) => {
                l.sdk_abi()
                    .is_some_and(switchboard_host::sdk_abi_compatible)
                    && match &l.host_api {
                        None => true,
                        Some(h) => {
                            &h.name == api
                                && switchboard_host::version_matches(&h.req, version)
                                    .unwrap_or(false)
                        }
                    }
            }
        };
        let newest = |c: Channel| self.releases.iter().filter(|l| l.channel == c).find(fits);
        match query.channel {
            Some(Channel::Ga) => newest(Channel::Ga),
            Some(_) => self
                .releases
                .iter()
                .filter(|l| l.channel >= Channel::Beta)
                .find(fits),
            None => newest(Channel::Ga).or_else(|| newest(Channel::Beta)),
        }
    }

    /// The filters other than the words, `category` and `capability`: the release `query`
    /// shows (its position in `releases`), if the plugin passes.
    fn filtered(
        &self,
        query: &Query,
        fits: Option<&[bool]>,
        owned: &HashSet<String>,
    ) -> Option<usize> {
        // `category` and `capability` narrowed the candidates already (their entry lists).
        if let Some(m) = &query.maintainer {
            let by_author = self.maintainers_lc.iter().any(|x| x.contains(m.as_str()));
            if !by_author && !owned.contains(&canonical_name(&self.name)) {
                return None;
            }
        }
        let shown = self.shown(query, fits)?;
        if query
            .trust
            .is_some_and(|t| self.releases.get(shown).is_none_or(|l| l.trust < t))
        {
            return None;
        }
        Some(shown)
    }
}

/// One match: its score, its entry's position (name order) and the release shown (its
/// position in the entry's releases).
type Hit = (u32, u32, u32);

/// One page of a search's answer, before it is written: the total and the page's hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    total: usize,
    hits: Vec<Hit>,
}

impl Page {
    /// How many plugins match.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The page as `GET /api/v1/search` answers it, written straight from the releases'
    /// prepared JSON (no [`Value`] built): the same document as [`run`]'s plus `query` and
    /// `sort`, each hit with its rating as `ratings` has it.
    pub fn write(
        &self,
        prepared: &Prepared,
        query: &Query,
        downloads: &HashMap<String, u64>,
        ratings: &rating::Ratings,
        q: &str,
        sort: &str,
    ) -> Vec<u8> {
        let hits = self.hits.iter().filter_map(|&(score, i, r)| {
            let e = prepared.entries.get(i as usize)?;
            let fragment = e.fragments.get(r as usize)?;
            let count = downloads.get(&e.name).copied().unwrap_or(0);
            Some((&**fragment, count, ratings.get(&e.name).copied(), score))
        });
        write_page(hits, query, self.total, q, sort)
    }
}

/// Writes a search page: `hits` are each hit's JSON without `downloads`, `rating`, `score`
/// and the closing brace (as the catalog prepares it), its downloads, its rating (`None`:
/// no approved review, written `null`) and its score.
pub fn write_page<'a>(
    hits: impl Iterator<Item = (&'a str, u64, Option<rating::HitRating>, u32)>,
    query: &Query,
    total: usize,
    q: &str,
    sort: &str,
) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(256 + query.per_page * 512);
    out.push_str("{\"hits\":[");
    for (k, (fragment, count, rated, score)) in hits.enumerate() {
        if k > 0 {
            out.push(',');
        }
        out.push_str(fragment);
        let rating = rated.map_or_else(|| "null".to_owned(), |r| r.json());
        let _ = write!(
            out,
            ",\"downloads\":{count},\"rating\":{rating},\"score\":{score}}}"
        );
    }
    let _ = write!(
        out,
        "],\"page\":{},\"pages\":{},\"per_page\":{},\"query\":{},\"sort\":{},\"total\":{}}}",
        query.page,
        total.div_ceil(query.per_page).max(1),
        query.per_page,
        Value::from(q),
        Value::from(sort),
        total,
    );
    out.into_bytes()
}

impl Prepared {
    /// For a query with `compatible_with`, whether each of [`Prepared::host_apis`] admits
    /// its host API and version (matched once per search, not once per release).
    fn fitting(&self, query: &Query) -> Option<Vec<bool>> {
        let (api, version) = query.compatible_with.as_ref()?;
        // The query's version parsed (Query::parse checked it does).
        let version = semver::Version::parse(version).ok();
        Some(
            self.host_apis
                .iter()
                .map(|(name, req)| {
                    name == api
                        && match (req, &version) {
                            (Some(req), Some(v)) => req.matches(v),
                            _ => false,
                        }
                })
                .collect(),
        )
    }

    /// The page `query` asks for if it is kept (see [`Prepared::page`]).
    pub fn kept(&self, query: &Query) -> Option<std::sync::Arc<Page>> {
        if !keepable(query) {
            return None;
        }
        self.cache.get(&page_key(query))
    }

    /// The page of `query` the database answered for this catalog before, if it is kept.
    pub fn kept_db(&self, query: &Query) -> Option<std::sync::Arc<DbPage>> {
        if !keepable(query) {
            return None;
        }
        self.db_cache.get(&page_key(query))
    }

    /// Keeps the page of `query` the database answered (if such a search's pages are kept):
    /// the same search on the same catalog is then answered without asking the database.
    pub fn keep_db(&self, query: &Query, page: std::sync::Arc<DbPage>) {
        if keepable(query) {
            self.db_cache.put(page_key(query), page);
        }
    }

    /// The page `query` asks for. Pages of searches without `maintainer` (which reads the
    /// database) and not by downloads (which change with every download) are kept per
    /// catalog (see [`PageCache`]): a repeated search costs a lookup.
    pub fn page(
        &self,
        query: &Query,
        downloads: &HashMap<String, u64>,
        owned: &HashSet<String>,
    ) -> std::sync::Arc<Page> {
        let key = keepable(query).then(|| page_key(query));
        if let Some(key) = &key {
            if let Some(page) = self.cache.get(key) {
                return page;
            }
        }
        let page = std::sync::Arc::new(self.compute(query, downloads, owned));
        if let Some(key) = key {
            self.cache.put(key, std::sync::Arc::clone(&page));
        }
        page
    }

    /// The page `query` asks for, computed afresh (not kept): reads only the plugins the
    /// word index (and the category and capability lists) say can match, and orders only
    /// the hits up to the page asked for.
    pub fn compute(
        &self,
        query: &Query,
        downloads: &HashMap<String, u64>,
        owned: &HashSet<String>,
    ) -> Page {
        let n = self.entries.len();
        let mut candidates: Option<Bits> = None;
        let mut narrow = |set: Bits| match &mut candidates {
            Some(c) => c.intersect(&set),
            None => candidates = Some(set),
        };
        for w in &query.words {
            narrow(self.words.containing(w));
        }
        let listed = |map: &HashMap<String, Vec<u32>>, key: &str| match map.get(key) {
            Some(ids) => Bits::of(n, ids),
            None => Bits::empty(n),
        };
        if let Some(c) = &query.category {
            narrow(listed(&self.categories, c));
        }
        if let Some(c) = &query.capability {
            narrow(listed(&self.capabilities, c));
        }
        let ids: Box<dyn Iterator<Item = usize>> = match &candidates {
            Some(c) => Box::new(c.iter()),
            None => Box::new(0..n),
        };
        let fits = self.fitting(query);
        let start = (query.page - 1).saturating_mul(query.per_page);
        let end = start.saturating_add(query.per_page);
        // Hits come in name order: ordered by name, only the page's need keeping.
        let by_name = matches!(query.sort, Sort::Name | Sort::Rating);
        let mut total = 0usize;
        let mut hits: Vec<Hit> = Vec::new();
        // Without `compatible_with`, `maintainer` and words, the packed arrays answer.
        let slot = match query.channel {
            None => 0,
            Some(Channel::Ga) => 1,
            Some(_) => 2,
        };
        let packed = (fits.is_none() && query.maintainer.is_none() && query.words.is_empty())
            .then(|| self.shown_packed.get(slot))
            .flatten();
        let least = query.trust.map_or(0, trust_rank);
        'entries: for i in ids {
            if let Some(packed) = packed {
                let Some(&(shown, trust)) = packed.get(i) else {
                    continue;
                };
                if shown == NONE || trust < least {
                    continue;
                }
                if !by_name || (start..end).contains(&total) {
                    let id = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
                    hits.push((1, id(i), shown));
                }
                total += 1;
                continue;
            }
            let Some(e) = self.entries.get(i) else {
                continue;
            };
            let mut score = 0;
            for w in &query.words {
                let s = e.field_score(w);
                if s == 0 {
                    continue 'entries;
                }
                score += s;
            }
            if let Some(shown) = e.filtered(query, fits.as_deref(), owned) {
                if !by_name || (start..end).contains(&total) {
                    let id = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
                    hits.push((score.max(1), id(i), id(shown)));
                }
                total += 1;
            }
        }
        if by_name {
            return Page { total, hits };
        }
        let end = end.min(hits.len());
        let count = |i: u32| {
            self.entries
                .get(i as usize)
                .and_then(|e| downloads.get(&e.name))
                .copied()
                .unwrap_or(0)
        };
        let published = |h: &Hit| {
            self.published_rank
                .get(h.1 as usize)
                .and_then(|r| r.get(h.2 as usize))
                .copied()
                .unwrap_or(0)
        };
        // Every other order ranks by a key, then by name (entry order).
        match query.sort {
            Sort::Name | Sort::Rating => {}
            Sort::Relevance => top(&mut hits, end, |h| (std::cmp::Reverse(h.0), h.1)),
            Sort::Downloads => {
                let mut keyed: Vec<(u64, Hit)> = hits.iter().map(|h| (count(h.1), *h)).collect();
                top(&mut keyed, end, |(c, h)| (std::cmp::Reverse(*c), h.1));
                hits = keyed.into_iter().map(|(_, h)| h).collect();
            }
            Sort::Updated => top(&mut hits, end, |h| (std::cmp::Reverse(published(h)), h.1)),
        }
        hits.truncate(end);
        hits.drain(..start.min(end));
        Page { total, hits }
    }
}

/// Pages answered, per catalog (a new catalog starts empty, so a change of the registry
/// drops them all): at most [`PageCache::CAPACITY`] searches, the least recently used
/// forgotten first (two generations: a page found in the older one moves to the newer; when
/// the newer is full, the older is dropped). A page holds positions, not JSON: downloads
/// are written as they are when it is served.
#[derive(Debug)]
pub struct PageCache<V = Page> {
    generations: std::sync::Mutex<[HashMap<String, std::sync::Arc<V>>; 2]>,
}

impl<V> Default for PageCache<V> {
    fn default() -> Self {
        PageCache {
            generations: std::sync::Mutex::new([HashMap::new(), HashMap::new()]),
        }
    }
}

/// The key a search's page is kept under: everything of the query but `maintainer` (searches
/// naming one are not kept).
fn page_key(query: &Query) -> String {
    format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{}",
        query.words,
        query.category,
        query.capability,
        query.compatible_with,
        query.trust,
        query.channel,
        query.sort,
        query.page,
        query.per_page
    )
}

/// Whether a search's page may be kept: not one naming a `maintainer` (which reads the
/// database's owners) nor one sorted by downloads (which change with every download) or by
/// rating (which changes with moderation, see [`rating`]).
fn keepable(query: &Query) -> bool {
    query.maintainer.is_none() && query.sort != Sort::Downloads && query.sort != Sort::Rating
}

impl<V> PageCache<V> {
    /// How many pages one generation holds.
    pub const CAPACITY: usize = 8192;

    fn get(&self, key: &str) -> Option<std::sync::Arc<V>> {
        let mut g = self.generations.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(page) = g[0].get(key) {
            return Some(std::sync::Arc::clone(page));
        }
        let page = g[1].remove(key)?;
        Self::insert(&mut g, key.to_owned(), std::sync::Arc::clone(&page));
        Some(page)
    }

    fn put(&self, key: String, page: std::sync::Arc<V>) {
        let mut g = self.generations.lock().unwrap_or_else(|p| p.into_inner());
        Self::insert(&mut g, key, page);
    }

    fn insert(
        g: &mut [HashMap<String, std::sync::Arc<V>>; 2],
        key: String,
        page: std::sync::Arc<V>,
    ) {
        if g[0].len() >= Self::CAPACITY {
            g[1] = std::mem::take(&mut g[0]);
        }
        g[0].insert(key, page);
    }

    /// How many pages are kept.
    pub fn len(&self) -> usize {
        let g = self.generations.lock().unwrap_or_else(|p| p.into_inner());
        g[0].len() + g[1].len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Runs `query` over `prepared`. `downloads` gives each plugin's count; `owned` the
/// canonical names the `maintainer` account owns.
///
/// Reads only the plugins the word index (and the category and capability lists) say can
/// match, and orders only the hits up to the page asked for: the same answer as
/// [`run_scan`], for less. (The server answers with [`Prepared::page`], which keeps pages,
/// and writes them with [`Page::write`] instead of building a [`Value`]; this computes the
/// page afresh and parses what [`Page::write`] writes, without `query` and `sort`.)
pub fn run(
    prepared: &Prepared,
    query: &Query,
    downloads: &HashMap<String, u64>,
    owned: &HashSet<String>,
) -> Value {
    let page = prepared.compute(query, downloads, owned);
    let bytes = page.write(
        prepared,
        query,
        downloads,
        &rating::Ratings::default(),
        "",
        "",
    );
    let mut doc: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if let Some(map) = doc.as_object_mut() {
        map.remove("query");
        map.remove("sort");
    }
    doc
}

/// Puts the `k` smallest of `items` by `key` (a total order) first, in order; the rest stay
/// after them in no order.
fn top<T, K: Ord>(items: &mut [T], k: usize, key: impl Fn(&T) -> K) {
    let cmp = |a: &T, b: &T| key(a).cmp(&key(b));
    if k == 0 {
        return;
    }
    if k < items.len() {
        items.select_nth_unstable_by(k - 1, cmp);
    }
    if let Some(first) = items.get_mut(..k) {
        first.sort_unstable_by(cmp);
    }
}

/// The hit JSON of `l` without `downloads`, `rating`, `score` and the closing brace.
fn hit_fragment(l: &IndexLine) -> Box<str> {
    let mut doc = hit_json(0, l, 0);
    if let Some(map) = doc.as_object_mut() {
        map.remove("downloads");
        map.remove("rating");
        map.remove("score");
    }
    let mut text = doc.to_string();
    text.pop();
    text.into()
}

fn hit_json(score: u32, l: &IndexLine, downloads: u64) -> Value {
    json!({
        "name": l.name,
        "version": l.version.to_string(),
        "channel": l.channel,
        "description": l.description,
        "trust": l.trust.to_string(),
        "keywords": l.keywords,
        "categories": l.categories,
        "capabilities": l.capabilities,
        "host_api": l.host_api,
        "maintainers": l.maintainers,
        "deprecated": l.deprecated,
        "published": l.published,
        "downloads": downloads,
        "rating": Value::Null,
        "score": score,
    })
}

fn page_json(query: &Query, total: usize, hits: Vec<Value>) -> Value {
    json!({
        "page": query.page,
        "per_page": query.per_page,
        "pages": total.div_ceil(query.per_page).max(1),
        "total": total,
        "hits": hits,
    })
}

/// [`run`] by reading every plugin and sorting every hit: the search as it was before the
/// word index, kept as the reference [`run`] is tested and benchmarked against.
pub fn run_scan(
    prepared: &Prepared,
    query: &Query,
    downloads: &HashMap<String, u64>,
    owned: &HashSet<String>,
) -> Value {
    let mut hits: Vec<(u32, &Entry, &IndexLine)> = Vec::new();
    'entries: for e in &prepared.entries {
        let mut score = 0;
        for w in &query.words {
            let s = e.word_score_scan(w);
            if s == 0 {
                continue 'entries;
            }
            score += s;
        }
        if let Some(c) = &query.category {
            if !e.categories_lc.iter().any(|x| x == c) {
                continue;
            }
        }
        if let Some(cap) = &query.capability {
            if !e.capabilities.contains(cap) {
                continue;
            }
        }
        if let Some(m) = &query.maintainer {
            let by_author = e.maintainers_lc.iter().any(|x| x.contains(m.as_str()));
            if !by_author && !owned.contains(&canonical_name(&e.name)) {
                continue;
            }
        }
        let Some(shown) = e.shown_scan(query) else {
            continue;
        };
        if query.trust.is_some_and(|t| shown.trust < t) {
            continue;
        }
        hits.push((score.max(1), e, shown));
    }
    let count = |e: &Entry| downloads.get(&e.name).copied().unwrap_or(0);
    match query.sort {
        Sort::Relevance => hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name))),
        Sort::Name | Sort::Rating => hits.sort_by(|a, b| a.1.name.cmp(&b.1.name)),
        Sort::Downloads => hits.sort_by(|a, b| {
            count(b.1)
                .cmp(&count(a.1))
                .then_with(|| a.1.name.cmp(&b.1.name))
        }),
        Sort::Updated => hits.sort_by(|a, b| {
            b.2.published
                .cmp(&a.2.published)
                .then_with(|| a.1.name.cmp(&b.1.name))
        }),
    }
    let total = hits.len();
    let page: Vec<Value> = hits
        .into_iter()
        .skip((query.page - 1).saturating_mul(query.per_page))
        .take(query.per_page)
        .map(|(score, e, l)| hit_json(score, l, count(e)))
        .collect();
    page_json(query, total, page)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod db_tests;

/// A page of hits the database answered: the total and the page's hits, kept per catalog
/// ([`Prepared::keep_db`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DbPage {
    /// Every match, not only this page's.
    pub total: u64,
    /// This page's hits, in order.
    pub hits: Vec<crate::server::store::catalog_search::DbHit>,
}

impl DbPage {
    /// A page.
    pub fn new(total: u64, hits: Vec<crate::server::store::catalog_search::DbHit>) -> Self {
        DbPage { total, hits }
    }
}
