//! Search in the database (issue 20 item 5): on PostgreSQL, `GET /api/v1/search` runs in
//! PostgreSQL over a copy of the catalog — a `pg_trgm` trigram index for the words (which
//! match anywhere inside a plugin's text, as in memory), a `tsvector` full-text index and
//! rank for ordering by relevance, GIN indexes for categories and capabilities, and the
//! owners and download counts already in the database. On SQLite search stays in memory
//! ([`super::super::search`]): [`CatalogSearch::searches_in_database`] says which.
//!
//! The signed registry directory stays the one record of what is published. The tables here
//! (`search_state`, `search_plugins`, `search_releases`, `search_host_apis`) are derived
//! from it: when a server reads a new catalog (every change re-signs `timestamp.json`), the
//! first search brings them in step ([`CatalogSearch::sync_catalog`]) under an advisory
//! lock — plugins whose releases changed (a digest per plugin) are replaced, plugins gone are
//! deleted, and `search_state` records the `timestamp.json` digest the tables hold. They
//! hold nothing the directory does not: emptying `search_state` makes the next search
//! rebuild them.

use crate::error::ServerError;

/// One plugin as the database's search reads it (made by
/// [`Prepared::search_rows`](crate::server::search::Prepared::search_rows)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SearchRow {
    /// The plugin's name.
    pub name: String,
    /// Its canonical name (what `owners` is keyed by).
    pub canonical: String,
    /// A digest of its releases and text: a row whose digest did not change is kept.
    pub digest: String,
    /// Name, lower case.
    pub name_lc: String,
    /// Name, keywords, categories and description, lower case, one string (the words are
    /// looked for in it).
    pub text_lc: String,
    /// Keywords, lower case.
    pub keywords_lc: Vec<String>,
    /// Categories, lower case.
    pub categories_lc: Vec<String>,
    /// Description, lower case.
    pub description_lc: String,
    /// Manifest authors, lower case.
    pub maintainers_lc: Vec<String>,
    /// Capability kinds and whole requests of every release.
    pub capabilities: Vec<String>,
    /// The release shown with no `compatible_with`, per channel slot (none, `ga`, `beta`):
    /// its position in `releases`.
    pub shown: [Option<u32>; 3],
    /// Its releases, newest first (no drafts, no yanked ones).
    pub releases: Vec<SearchRelease>,
}

/// One release of a [`SearchRow`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SearchRelease {
    /// 2 for `ga`, 1 for `beta`.
    pub channel: i16,
    /// 0 unsigned, 1 self-signed, 2 verified, 3 certified.
    pub trust: i16,
    /// When it was published (RFC 3339, compared as text).
    pub published: String,
    /// Its SDK ABI is one this host's SDK loads.
    pub abi: bool,
    /// The host API it needs, as a key of `search_host_apis` (`NAME\nRANGE`).
    pub host_api: Option<String>,
    /// Its hit JSON without `downloads`, `rating`, `score` and the closing brace.
    pub fragment: String,
}

/// A search as the database runs it (made from a parsed query by the server).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DbQuery {
    /// Lower-cased words, each of which must occur.
    pub words: Vec<String>,
    /// Lower-case category.
    pub category: Option<String>,
    /// A capability kind or whole request.
    pub capability: Option<String>,
    /// Lower-case part of a manifest author.
    pub maintainer: Option<String>,
    /// The account the `maintainer` names, when it is a valid account name.
    pub owner: Option<String>,
    /// The least trust rank (see [`SearchRelease::trust`]).
    pub trust: Option<i16>,
    /// 0: no channel; 1: `ga`; 2: `beta` (as [`SearchRow::shown`]).
    pub channel_slot: usize,
    /// `compatible_with`: the host API name and version.
    pub compatible_with: Option<(String, semver::Version)>,
    /// `relevance`, `name`, `downloads`, `updated` or `rating` (by the damped average of
    /// approved reviews in the `reviews` table, see `search::rating`).
    pub sort: &'static str,
    /// Hits skipped.
    pub offset: i64,
    /// Hits at most.
    pub limit: i64,
}

/// One hit the database found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DbHit {
    /// The plugin.
    pub name: String,
    /// The shown release's hit JSON without `downloads`, `rating`, `score` and the closing
    /// brace.
    pub fragment: String,
    /// Its downloads, as the database counts them.
    pub downloads: u64,
    /// Its score (as in memory: name exact 100 > prefix 50 > contains 30 > keyword 20 > 10,
    /// summed over the words; 1 without words).
    pub score: u32,
}

/// Search in the database, for a store that can (PostgreSQL); a supertrait of
/// [`super::Store`].
pub trait CatalogSearch {
    /// Whether searches run in the database. When false (SQLite), the server searches in
    /// memory and the other methods are not called.
    fn searches_in_database(&self) -> bool {
        false
    }

    /// Brings the database's copy of the catalog in step with the catalog of `timestamp.json`
    /// digest `stamp` and snapshot version `version`; `rows` makes its rows (called only when
    /// the copy is of another catalog). A copy of a newer catalog (a higher version, copied by
    /// another server sharing the database that read the registry after this one) is kept,
    /// never replaced by an older one: the search then answers from the newer copy. Errors
    /// are `SB1399`.
    fn sync_catalog(
        &self,
        stamp: &str,
        version: u64,
        rows: &dyn Fn() -> Vec<SearchRow>,
    ) -> Result<(), ServerError> {
        let _ = (stamp, version, rows);
        Ok(())
    }

    /// Runs `query` over the database's copy: the total and the page's hits.
    fn search_catalog(&self, query: &DbQuery) -> Result<(u64, Vec<DbHit>), ServerError> {
        let _ = query;
        Err(ServerError::Internal {
            reason: "this store does not search in its database".into(),
        })
    }
}

/// The advisory lock key serialising catalog copies ("sbsearch").
const SYNC_LOCK: i64 = 0x7362_7365_6172_6368;

/// Inserts plugins from one array per column.
const INSERT_PLUGINS: &str = "
INSERT INTO search_plugins (name, canonical, digest, name_lc, text_lc, keywords_lc,
    categories_lc, maintainers_lc, capabilities, document,
    pos0, trust0, published0, pos1, trust1, published1, pos2, trust2, published2)
SELECT t.name, t.canonical, t.digest, t.name_lc, t.text_lc,
    string_to_array(t.keywords, E'\\x1f'), string_to_array(t.categories, E'\\x1f'),
    string_to_array(t.maintainers, E'\\x1f'), string_to_array(t.capabilities, E'\\x1f'),
    setweight(to_tsvector('simple', t.name_lc), 'A')
        || setweight(to_tsvector('simple', replace(t.keywords, E'\\x1f', ' ')), 'B')
        || setweight(to_tsvector('simple', replace(t.categories, E'\\x1f', ' ')), 'C')
        || setweight(to_tsvector('simple', t.description), 'D'),
    t.pos0, t.trust0, t.published0, t.pos1, t.trust1, t.published1, t.pos2, t.trust2,
    t.published2
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::text[], $8::text[], $9::text[], $10::text[], $11::int[], $12::smallint[],
    $13::text[], $14::int[], $15::smallint[], $16::text[], $17::int[], $18::smallint[],
    $19::text[])
    AS t(name, canonical, digest, name_lc, text_lc, keywords, categories, maintainers,
         capabilities, description, pos0, trust0, published0, pos1, trust1, published1,
         pos2, trust2, published2)";

/// Inserts releases from one array per column.
const INSERT_RELEASES: &str = "
INSERT INTO search_releases (plugin, pos, channel, trust, published, abi, host_api, fragment)
SELECT * FROM unnest($1::text[], $2::int[], $3::smallint[], $4::smallint[], $5::text[],
    $6::bool[], $7::text[], $8::text[])";

/// `word` for `LIKE`: `\`, `%` and `_` escaped.
fn like_pattern(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    out.push('%');
    for c in word.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl CatalogSearch for super::postgres::PostgresStore {
    fn searches_in_database(&self) -> bool {
        true
    }

    fn sync_catalog(
        &self,
        stamp: &str,
        version: u64,
        rows: &dyn Fn() -> Vec<SearchRow>,
    ) -> Result<(), ServerError> {
        let version = i64::try_from(version).unwrap_or(i64::MAX);
        let fail = |e: postgres::Error| ServerError::SearchSync {
            reason: self.describe(&e),
        };
        let mut client = self.pooled()?;
        // Read without the lock first: in step (the usual case) costs one small query, and
        // a copy emptied or replaced by another server is noticed.
        if self.synced_stamp().as_deref() == Some(stamp) {
            let held: Option<String> = client
                .query_opt("SELECT stamp FROM search_state", &[])
                .map_err(fail)?
                .map(|r| r.get(0));
            if held.as_deref() == Some(stamp) {
                return Ok(());
            }
        }
        let mut tx = client.transaction().map_err(fail)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SYNC_LOCK])
            .map_err(fail)?;
        let held: Option<(String, i64, bool)> = tx
            .query_opt(
                "SELECT stamp, version, synced_at > now() - make_interval(secs => $1) \
                 FROM search_state",
                &[&OLDER_CATALOG_GRACE.as_secs_f64()],
            )
            .map_err(fail)?
            .map(|r| (r.get(0), r.get(1), r.get(2)));
        let newer_held = held
            .as_ref()
            .is_some_and(|(_, v, recent)| *v > version && *recent);
        if newer_held {
            // Another server copied a newer catalog lately: keep it (this server reads the
            // registry again at its next change, or is behind a stale copy of the
            // directory). Past the grace period an older catalog is copied after all: the
            // directory went back (restored from a backup, made again), and searching a
            // catalog no server reads any more would list plugins that are gone.
            tx.commit().map_err(fail)?;
            return Ok(());
        }
        if held.as_ref().map(|(s, _, _)| s.as_str()) != Some(stamp) {
            let rows = rows();
            let kept: std::collections::HashMap<String, String> = tx
                .query("SELECT name, digest FROM search_plugins", &[])
                .map_err(fail)?
                .into_iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let wanted: std::collections::HashMap<&str, &str> = rows
                .iter()
                .map(|r| (r.name.as_str(), r.digest.as_str()))
                .collect();
            let gone: Vec<&String> = kept
                .iter()
                .filter(|(n, d)| wanted.get(n.as_str()) != Some(&d.as_str()))
                .map(|(n, _)| n)
                .collect();
            tx.execute("DELETE FROM search_plugins WHERE name = ANY($1)", &[&gone])
                .map_err(fail)?;
            let new: Vec<&SearchRow> = rows
                .iter()
                .filter(|r| kept.get(&r.name) != Some(&r.digest))
                .collect();
            for chunk in new.chunks(2000) {
                insert(&mut tx, chunk).map_err(fail)?;
            }
            tx.execute("DELETE FROM search_host_apis", &[])
                .map_err(fail)?;
            tx.execute(
                "INSERT INTO search_host_apis (key) \
                 SELECT DISTINCT host_api FROM search_releases WHERE host_api IS NOT NULL",
                &[],
            )
            .map_err(fail)?;
            // Fresh statistics, so the planner knows how many plugins a word or filter
            // leaves (without them it guessed one row and chose index scans for words that
            // match a third of the catalog).
            tx.batch_execute("ANALYZE search_plugins; ANALYZE search_releases")
                .map_err(fail)?;
            tx.execute("DELETE FROM search_state", &[]).map_err(fail)?;
            tx.execute(
                "INSERT INTO search_state (stamp, version) VALUES ($1, $2)",
                &[&stamp, &version],
            )
            .map_err(fail)?;
        }
        tx.commit().map_err(fail)?;
        self.set_synced_stamp(stamp);
        Ok(())
    }

    fn search_catalog(&self, query: &DbQuery) -> Result<(u64, Vec<DbHit>), ServerError> {
        let fail = |e: postgres::Error| self.database_error(&e);
        let mut client = self.pooled()?;
        let mut params: Vec<Box<dyn postgres::types::ToSql + Sync>> = Vec::new();
        let mut arg = |v: Box<dyn postgres::types::ToSql + Sync>| {
            params.push(v);
            format!("${}", params.len())
        };
        let mut conditions: Vec<String> = Vec::new();
        let mut scores: Vec<String> = Vec::new();
        for w in &query.words {
            let word = arg(Box::new(w.clone()));
            let pattern = arg(Box::new(like_pattern(w)));
            // Plain words may also be found by the full-text index (a lexeme starting with
            // the word); the text holds it then, so the hits are those of `LIKE` alone.
            let fts = if !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric()) {
                let prefix = arg(Box::new(format!("{w}:*")));
                format!("p.document @@ to_tsquery('simple', {prefix}) OR ")
            } else {
                String::new()
            };
            conditions.push(format!("({fts}p.text_lc LIKE {pattern})"));
            scores.push(format!(
                "CASE WHEN p.name_lc = {word} THEN 100 WHEN starts_with(p.name_lc, {word}) \
                 THEN 50 WHEN strpos(p.name_lc, {word}) > 0 THEN 30 \
                 WHEN {word} = ANY(p.keywords_lc) THEN 20 ELSE 10 END"
            ));
        }
        // Ranked only for `relevance`, the only order that reads it.
        let rank = if query.words.is_empty() || query.sort != "relevance" {
            "0::real".to_owned()
        } else {
            let text = arg(Box::new(query.words.join(" ")));
            format!("ts_rank_cd(p.document, plainto_tsquery('simple', {text}))")
        };
        if let Some(c) = &query.category {
            let c = arg(Box::new(vec![c.clone()]));
            conditions.push(format!("p.categories_lc @> {c}::text[]"));
        }
        if let Some(c) = &query.capability {
            let c = arg(Box::new(vec![c.clone()]));
            conditions.push(format!("p.capabilities @> {c}::text[]"));
        }
        if let Some(m) = &query.maintainer {
            let m = arg(Box::new(m.clone()));
            let owner = match &query.owner {
                Some(a) => {
                    let a = arg(Box::new(a.clone()));
                    format!(
                        " OR EXISTS (SELECT 1 FROM owners o WHERE o.plugin = p.canonical \
                         AND o.account = {a})"
                    )
                }
                None => String::new(),
            };
            conditions.push(format!(
                "(EXISTS (SELECT 1 FROM unnest(p.maintainers_lc) m WHERE strpos(m, {m}) > 0){owner})"
            ));
        }
        let slot = query.channel_slot.min(2);
        let shown = match &query.compatible_with {
            None => {
                conditions.push(format!("p.pos{slot} IS NOT NULL"));
                format!(
                    "CROSS JOIN LATERAL (SELECT p.pos{slot} AS pos, p.trust{slot} AS trust, \
                     p.published{slot} AS published) s"
                )
            }
            Some((api, version)) => {
                let keys: Vec<String> = client
                    .query("SELECT key FROM search_host_apis", &[])
                    .map_err(fail)?
                    .into_iter()
                    .map(|r| r.get(0))
                    .collect();
                let fits: Vec<String> = keys
                    .into_iter()
                    .filter(|k| {
                        k.split_once('\n').is_some_and(|(name, req)| {
                            name == api
                                && semver::VersionReq::parse(req).is_ok_and(|r| r.matches(version))
                        })
                    })
                    .collect();
                let fits = arg(Box::new(fits));
                let (channel, order) = match slot {
                    1 => ("r.channel = 2", "r.pos"),
                    2 => ("r.channel >= 1", "r.pos"),
                    _ => ("r.channel >= 1", "r.channel DESC, r.pos"),
                };
                format!(
                    "JOIN LATERAL (SELECT r.pos, r.trust, r.published FROM search_releases r \
                     WHERE r.plugin = p.name AND {channel} AND r.abi \
                     AND (r.host_api IS NULL OR r.host_api = ANY({fits}::text[])) \
                     ORDER BY {order} LIMIT 1) s ON true"
                )
            }
        };
        if let Some(t) = query.trust {
            let t = arg(Box::new(t));
            conditions.push(format!("s.trust >= {t}"));
        }
        let score = if scores.is_empty() {
            "1".to_owned()
        } else {
            scores.join(" + ")
        };
        let order = |t: &str| match query.sort {
            "relevance" => format!("{t}.score DESC, {t}.rank DESC, {t}.name COLLATE \"C\""),
            "downloads" => format!("{t}.downloads DESC, {t}.name COLLATE \"C\""),
            "updated" => format!("{t}.published COLLATE \"C\" DESC, {t}.name COLLATE \"C\""),
            // As in memory (`search::rating`): rated first, highest damped average in
            // hundredths, more reviews, name.
            "rating" => {
                format!("{t}.rated DESC NULLS LAST, {t}.reviews DESC, {t}.name COLLATE \"C\"")
            }
            _ => format!("{t}.name COLLATE \"C\""),
        };
        // The damped average in hundredths (`market::damped_hundredths`, in integers) of
        // approved reviews, for `sort=rating` only.
        let (rated, rated_join) = if query.sort == "rating" {
            let weight = u64::from(crate::market::PRIOR_WEIGHT);
            let prior = weight * 3;
            (
                format!(
                    "(200 * ({prior} + rv.total) + ({weight} + rv.n)) / (2 * ({weight} + rv.n)) \
                     AS rated, coalesce(rv.n, 0) AS reviews"
                ),
                "LEFT JOIN (SELECT plugin, count(*) AS n, sum(rating)::bigint AS total \
                 FROM reviews WHERE state = 'approved' GROUP BY plugin) rv ON rv.plugin = p.name",
            )
        } else {
            ("NULL::bigint AS rated, 0::bigint AS reviews".to_owned(), "")
        };
        let limit = arg(Box::new(query.limit));
        let offset = arg(Box::new(query.offset));
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        // One row even for a page past the last (its hit columns null), so the total comes
        // with the page in one statement.
        // Downloads are joined for every match only to order by them; otherwise for the
        // page's hits alone.
        let (downloads, page_downloads) = if query.sort == "downloads" {
            (
                "(SELECT d.count FROM downloads d WHERE d.plugin = p.name)",
                "h.downloads",
            )
        } else {
            (
                "NULL::bigint",
                "(SELECT d.count FROM downloads d WHERE d.plugin = h.name)",
            )
        };
        let sql = format!(
            "WITH h AS (
                SELECT p.name, s.pos, s.published, ({score})::int AS score, {rank} AS rank,
                    coalesce({downloads}, 0) AS downloads, {rated}
                FROM search_plugins p {shown} {rated_join}
                {filter}
            )
            SELECT t.total, x.name, r.fragment, x.page_downloads, x.score
            FROM (SELECT count(*) AS total FROM h) t
            LEFT JOIN LATERAL (
                SELECT h.*, coalesce({page_downloads}, 0) AS page_downloads
                FROM h ORDER BY {inner} LIMIT {limit} OFFSET {offset}
            ) x ON true
            LEFT JOIN search_releases r ON r.plugin = x.name AND r.pos = x.pos
            ORDER BY {outer}",
            inner = order("h"),
            outer = order("x"),
        );
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            params.iter().map(|p| p.as_ref()).collect();
        let rows = client.query(&sql, &refs).map_err(fail)?;
        let mut total = 0;
        let mut hits = Vec::with_capacity(rows.len());
        for r in rows {
            let count: i64 = r.get(0);
            total = u64::try_from(count).unwrap_or(0);
            let Some(name) = r.get::<_, Option<String>>(1) else {
                continue;
            };
            let downloads: i64 = r.get(3);
            let score: i32 = r.get(4);
            hits.push(DbHit {
                name,
                fragment: r.get(2),
                downloads: u64::try_from(downloads).unwrap_or(0),
                score: u32::try_from(score).unwrap_or(0),
            });
        }
        Ok((total, hits))
    }
}

/// Inserts `rows` and their releases.
fn insert(tx: &mut postgres::Transaction<'_>, rows: &[&SearchRow]) -> Result<(), postgres::Error> {
    let sep = "\u{1f}";
    let col = |f: &dyn Fn(&SearchRow) -> String| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    let names = col(&|r| r.name.clone());
    let canonical = col(&|r| r.canonical.clone());
    let digest = col(&|r| r.digest.clone());
    let name_lc = col(&|r| r.name_lc.clone());
    let text_lc = col(&|r| r.text_lc.clone());
    let keywords = col(&|r| r.keywords_lc.join(sep));
    let categories = col(&|r| r.categories_lc.join(sep));
    let maintainers = col(&|r| r.maintainers_lc.join(sep));
    let capabilities = col(&|r| r.capabilities.join(sep));
    let description = col(&|r| r.description_lc.clone());
    let mut pos: [Vec<Option<i32>>; 3] = Default::default();
    let mut trust: [Vec<Option<i16>>; 3] = Default::default();
    let mut published: [Vec<Option<String>>; 3] = Default::default();
    for r in rows {
        for slot in 0..3 {
            let release = r.shown[slot].and_then(|i| r.releases.get(i as usize));
            pos[slot].push(r.shown[slot].and_then(|i| i32::try_from(i).ok()));
            trust[slot].push(release.map(|l| l.trust));
            published[slot].push(release.map(|l| l.published.clone()));
        }
    }
    tx.execute(
        INSERT_PLUGINS,
        &[
            &names,
            &canonical,
            &digest,
            &name_lc,
            &text_lc,
            &keywords,
            &categories,
            &maintainers,
            &capabilities,
            &description,
            &pos[0],
            &trust[0],
            &published[0],
            &pos[1],
            &trust[1],
            &published[1],
            &pos[2],
            &trust[2],
            &published[2],
        ],
    )?;
    let mut plugin = Vec::new();
    let mut at = Vec::new();
    let mut channel = Vec::new();
    let mut rtrust = Vec::new();
    let mut rpublished = Vec::new();
    let mut abi = Vec::new();
    let mut host_api = Vec::new();
    let mut fragment = Vec::new();
    for r in rows {
        for (i, l) in r.releases.iter().enumerate() {
            plugin.push(r.name.clone());
            at.push(i32::try_from(i).unwrap_or(i32::MAX));
            channel.push(l.channel);
            rtrust.push(l.trust);
            rpublished.push(l.published.clone());
            abi.push(l.abi);
            host_api.push(l.host_api.clone());
            fragment.push(l.fragment.clone());
        }
    }
    tx.execute(
        INSERT_RELEASES,
        &[
            &plugin,
            &at,
            &channel,
            &rtrust,
            &rpublished,
            &abi,
            &host_api,
            &fragment,
        ],
    )?;
    Ok(())
}

/// How long a newer catalog in PostgreSQL's search tables is kept against a server whose
/// registry directory reads an older one: long enough for a server behind by one change to
/// read the directory again; past it the directory went back for good (restored from a
/// backup) and the older catalog is copied.
pub const OLDER_CATALOG_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// The SQL of PostgreSQL schema 7: the snapshot version of the catalog the search tables
/// hold (`search_state.version`), so an older catalog is never copied over a newer one.
///
/// `synced_at` dates the copy: an older catalog is refused over a newer one copied within
/// [`OLDER_CATALOG_GRACE`], and copied over one older than that.
pub const POSTGRES_MIGRATION_VERSION: &str = "
ALTER TABLE search_state ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE search_state ADD COLUMN synced_at TIMESTAMPTZ NOT NULL DEFAULT now();
";

/// The SQL of PostgreSQL schema 4 (the search tables), for [`super::postgres`]'s migrations.
pub const POSTGRES_MIGRATION: &str = "
CREATE TABLE search_state (
    stamp       TEXT NOT NULL
);
CREATE TABLE search_plugins (
    name        TEXT PRIMARY KEY,
    canonical   TEXT NOT NULL,
    digest      TEXT NOT NULL,
    name_lc     TEXT NOT NULL,
    text_lc     TEXT NOT NULL,
    keywords_lc TEXT[] NOT NULL,
    categories_lc TEXT[] NOT NULL,
    maintainers_lc TEXT[] NOT NULL,
    capabilities TEXT[] NOT NULL,
    document    TSVECTOR NOT NULL,
    pos0        INT,
    trust0      SMALLINT,
    published0  TEXT,
    pos1        INT,
    trust1      SMALLINT,
    published1  TEXT,
    pos2        INT,
    trust2      SMALLINT,
    published2  TEXT
);
CREATE INDEX search_plugins_text ON search_plugins USING gin (text_lc gin_trgm_ops);
CREATE INDEX search_plugins_document ON search_plugins USING gin (document);
CREATE INDEX search_plugins_categories ON search_plugins USING gin (categories_lc);
CREATE INDEX search_plugins_capabilities ON search_plugins USING gin (capabilities);
CREATE TABLE search_releases (
    plugin      TEXT NOT NULL REFERENCES search_plugins (name) ON DELETE CASCADE,
    pos         INT NOT NULL,
    channel     SMALLINT NOT NULL,
    trust       SMALLINT NOT NULL,
    published   TEXT NOT NULL,
    abi         BOOLEAN NOT NULL,
    host_api    TEXT,
    fragment    TEXT NOT NULL,
    PRIMARY KEY (plugin, pos)
);
CREATE TABLE search_host_apis (
    key         TEXT PRIMARY KEY
);
";
