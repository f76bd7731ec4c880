//! Search over the catalog (`GET /api/v1/search`), with the filters and orders of SPEC S9.2.
//!
//! The catalog is prepared once per registry change ([`Prepared`]: every plugin's text lower
//! cased, capability kinds collected, the release each channel shows, and a word index —
//! see [`index`]) and each search reads it in memory: the registry directory is the record of
//! what is listed, so there is no second copy in SQLite to keep in step. A search looks up
//! its words (and its category and capability) in the index, so it reads only the plugins
//! that can match; it sorts only as far as the page it answers. [`run_scan`] is the same
//! search reading every plugin, kept as the reference the tests and the bench compare with.
//! `docs/registry.md` has the measured cost at 10,000 plugins.
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
//!   (newest release first), `rating` (highest first; plugins without a rating — every plugin
//!   until reviews exist — last, by name).
//! - `page` from 1, `per_page` from 1 to [`MAX_PER_PAGE`](super::MAX_PER_PAGE); `total` counts
//!   every match.

pub mod index;

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
}

/// What a release needs of a host, parsed once (`compatible_with` reads it per release).
#[derive(Debug)]
struct Compat {
    /// Its SDK ABI is one this host's SDK loads.
    abi: bool,
    /// The host API it needs: the name and the range (`None` when the range does not parse,
    /// which no version matches).
    host_api: Option<(String, Option<semver::VersionReq>)>,
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
}

impl Prepared {
    /// Prepares every plugin of `plugins`.
    pub fn new(plugins: &std::collections::BTreeMap<String, Vec<IndexLine>>) -> Prepared {
        let lc = |v: &[String]| v.iter().map(|s| s.to_lowercase()).collect::<Vec<_>>();
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
                        host_api: l
                            .host_api
                            .as_ref()
                            .map(|h| (h.name.clone(), semver::VersionReq::parse(&h.req).ok())),
                    })
                    .collect();
                Entry {
                    compat,
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
        Prepared {
            entries,
            words,
            categories,
            capabilities,
        }
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

    /// The release shown for `query`: the newest its channel and compatibility allow.
    fn shown(&self, query: &Query) -> Option<&IndexLine> {
        if let Some((api, version)) = &query.compatible_with {
            // The query's version parsed (Query::parse checked it does).
            let version = semver::Version::parse(version).ok();
            let fits = |i: &usize| {
                self.compat.get(*i).is_some_and(|c| {
                    c.abi
                        && match &c.host_api {
                            None => true,
                            Some((name, req)) => {
                                name == api
                                    && match (req, &version) {
                                        (Some(req), Some(v)) => req.matches(v),
                                        _ => false,
                                    }
                            }
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
                    .find(fits)
            };
            let i = match query.channel {
                Some(Channel::Ga) => of(Some(Channel::Ga)),
                Some(_) => of(None),
                None => of(Some(Channel::Ga)).or_else(|| of(Some(Channel::Beta))),
            };
            return i.and_then(|i| self.releases.get(i));
        }
        let slot = match query.channel {
            None => 0,
            Some(Channel::Ga) => 1,
            Some(_) => 2,
        };
        self.shown[slot].and_then(|i| self.releases.get(i))
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

    /// The filters other than the words: the release `query` shows, if the plugin passes.
    fn filtered<'e>(&'e self, query: &Query, owned: &HashSet<String>) -> Option<&'e IndexLine> {
        if let Some(c) = &query.category {
            if !self.categories_lc.iter().any(|x| x == c) {
                return None;
            }
        }
        if let Some(cap) = &query.capability {
            if !self.capabilities.contains(cap) {
                return None;
            }
        }
        if let Some(m) = &query.maintainer {
            let by_author = self.maintainers_lc.iter().any(|x| x.contains(m.as_str()));
            if !by_author && !owned.contains(&canonical_name(&self.name)) {
                return None;
            }
        }
        let shown = self.shown(query)?;
        if query.trust.is_some_and(|t| shown.trust < t) {
            return None;
        }
        Some(shown)
    }
}

/// One match: its score, its entry's position (name order) and the release shown.
type Hit<'p> = (u32, usize, &'p IndexLine);

/// Runs `query` over `prepared`. `downloads` gives each plugin's count; `owned` the
/// canonical names the `maintainer` account owns.
///
/// Reads only the plugins the word index (and the category and capability lists) say can
/// match, and orders only the hits up to the page asked for: the same answer as
/// [`run_scan`], for less.
pub fn run(
    prepared: &Prepared,
    query: &Query,
    downloads: &HashMap<String, u64>,
    owned: &HashSet<String>,
) -> Value {
    let n = prepared.entries.len();
    let mut candidates: Option<Bits> = None;
    let mut narrow = |set: Bits| match &mut candidates {
        Some(c) => c.intersect(&set),
        None => candidates = Some(set),
    };
    for w in &query.words {
        narrow(prepared.words.containing(w));
    }
    let listed = |map: &HashMap<String, Vec<u32>>, key: &str| match map.get(key) {
        Some(ids) => Bits::of(n, ids),
        None => Bits::empty(n),
    };
    if let Some(c) = &query.category {
        narrow(listed(&prepared.categories, c));
    }
    if let Some(c) = &query.capability {
        narrow(listed(&prepared.capabilities, c));
    }
    let ids: Box<dyn Iterator<Item = usize>> = match &candidates {
        Some(c) => Box::new(c.iter()),
        None => Box::new(0..n),
    };
    let mut hits: Vec<Hit<'_>> = Vec::new();
    'entries: for i in ids {
        let Some(e) = prepared.entries.get(i) else {
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
        if let Some(shown) = e.filtered(query, owned) {
            hits.push((score.max(1), i, shown));
        }
    }
    let total = hits.len();
    let start = (query.page - 1).saturating_mul(query.per_page);
    let end = start.saturating_add(query.per_page).min(total);
    let count = |i: usize| {
        prepared
            .entries
            .get(i)
            .and_then(|e| downloads.get(&e.name))
            .copied()
            .unwrap_or(0)
    };
    // Hits are in name order already; every other order ranks by a key, then by name.
    match query.sort {
        Sort::Name | Sort::Rating => {}
        Sort::Relevance => top(&mut hits, end, |h| (std::cmp::Reverse(h.0), h.1)),
        Sort::Downloads => {
            let mut keyed: Vec<(u64, Hit<'_>)> = hits.iter().map(|h| (count(h.1), *h)).collect();
            top(&mut keyed, end, |(c, h)| (std::cmp::Reverse(*c), h.1));
            hits = keyed.into_iter().map(|(_, h)| h).collect();
        }
        Sort::Updated => top(&mut hits, end, |h| {
            (std::cmp::Reverse(h.2.published.as_str()), h.1)
        }),
    }
    let page: Vec<Value> = hits
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|&(score, i, l)| hit_json(score, l, count(i)))
        .collect();
    page_json(query, total, page)
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
