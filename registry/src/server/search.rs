//! Search over the catalog (`GET /api/v1/search`), with the filters and orders of SPEC S9.2.
//!
//! The catalog is prepared once per registry change ([`Prepared`]: every plugin's text lower
//! cased, capability kinds collected) and each search scans it in memory: the registry
//! directory is the record of what is listed, so there is no second copy in SQLite to keep in
//! step. `docs/registry.md` has the measured cost at 10,000 plugins.
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

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};
use switchboard_host::TrustLevel;

use crate::error::ServerError;
use crate::format::{canonical_name, Channel, IndexLine};

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
}

/// The catalog prepared for search.
#[derive(Debug, Default)]
pub struct Prepared {
    entries: Vec<Entry>,
}

impl Prepared {
    /// Prepares every plugin of `plugins`.
    pub fn new(plugins: &std::collections::BTreeMap<String, Vec<IndexLine>>) -> Prepared {
        let lc = |v: &[String]| v.iter().map(|s| s.to_lowercase()).collect::<Vec<_>>();
        let entries = plugins
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
                Entry {
                    name: name.clone(),
                    name_lc: name.to_lowercase(),
                    description_lc,
                    keywords_lc,
                    categories_lc,
                    haystack,
                    maintainers_lc: about.map(|l| lc(&l.maintainers)).unwrap_or_default(),
                    capabilities,
                    releases,
                }
            })
            .collect();
        Prepared { entries }
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
    fn word_score(&self, word: &str) -> u32 {
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

    /// The release shown for `query`: the newest its channel and compatibility allow.
    fn shown(&self, query: &Query) -> Option<&IndexLine> {
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
}

/// Runs `query` over `prepared`. `downloads` gives each plugin's count; `owned` the
/// canonical names the `maintainer` account owns.
pub fn run(
    prepared: &Prepared,
    query: &Query,
    downloads: &HashMap<String, u64>,
    owned: &HashSet<String>,
) -> Value {
    let mut hits: Vec<(u32, &Entry, &IndexLine)> = Vec::new();
    'entries: for e in &prepared.entries {
        let mut score = 0;
        for w in &query.words {
            let s = e.word_score(w);
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
        let Some(shown) = e.shown(query) else {
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
        .map(|(score, e, l)| {
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
                "downloads": count(e),
                "rating": Value::Null,
                "score": score,
            })
        })
        .collect();
    json!({
        "page": query.page,
        "per_page": query.per_page,
        "pages": total.div_ceil(query.per_page).max(1),
        "total": total,
        "hits": page,
    })
}
