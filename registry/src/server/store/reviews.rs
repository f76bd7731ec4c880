//! Reviews, their moderation and abuse reports (SPEC S9.4): the rows behind
//! [`ReviewStore`], implemented for both backends. The rules (who may write, edit, delete or
//! decide; what a rating and a text may be; auditing) are in `server::reviews`; a backend only
//! stores rows and makes each change that must not race one atomic step: one review per
//! account per version (a unique key), a decision only on a pending review and a resolution
//! only of an open report (a conditional update).
//!
//! Tables (SQLite schema 4, PostgreSQL schema 3):
//!
//! - `reviews`: `id`, `plugin`, `version`, `account`, `rating` (1–5), `text`, `state`
//!   (`pending`, `approved`, `rejected`), `reason` (of a rejection), `created`, `updated`,
//!   `decided`, `decided_by`; unique on `(plugin, version, account)`.
//! - `reports`: `id`, `kind` (`plugin` or `review`), `plugin`, `review` (its id, for a report
//!   on a review), `account` (who reported), `reason`, `state` (`open`, `dismissed`,
//!   `actioned`), `note` (of the resolution), `created`, `resolved`, `resolved_by`.

use serde::Serialize;

use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use super::Store;
use crate::error::ServerError;

/// Where a review is in moderation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ReviewState {
    /// Written or edited, waiting for a moderator; not shown, not counted.
    Pending,
    /// Shown on the page and counted in the rating.
    Approved,
    /// Refused by a moderator, with a reason its author sees.
    Rejected,
}

impl ReviewState {
    /// `pending`, `approved` or `rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Pending => "pending",
            ReviewState::Approved => "approved",
            ReviewState::Rejected => "rejected",
        }
    }

    /// The state stored as `text` (anything unknown reads as pending: never shown).
    pub fn parse(text: &str) -> ReviewState {
        match text {
            "approved" => ReviewState::Approved,
            "rejected" => ReviewState::Rejected,
            _ => ReviewState::Pending,
        }
    }
}

/// A review of one version of a plugin by one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Review {
    /// Its id.
    pub id: i64,
    /// The plugin (canonical name).
    pub plugin: String,
    /// The version reviewed.
    pub version: String,
    /// The account that wrote it.
    pub account: String,
    /// Stars, 1–5.
    pub rating: u8,
    /// What its author wrote.
    pub text: String,
    /// Where it is in moderation.
    pub state: ReviewState,
    /// Why a moderator rejected it.
    pub reason: Option<String>,
    /// Unix seconds when it was written.
    pub created: i64,
    /// Unix seconds when it was last written or edited.
    pub updated: i64,
    /// Unix seconds of the last moderation decision.
    pub decided: Option<i64>,
    /// The moderator's account that decided.
    pub decided_by: Option<String>,
}

impl Review {
    /// The revision of what it says, as a moderator sees it: 16 hex digits of a SHA-256 over
    /// its id, stars, text and last-written stamp. Any edit that changes the stars or the
    /// text (or is written in another second) changes it; a decision must name it
    /// ([`ReviewStore::decide_seen`]), so a moderator never decides on an edit they have not
    /// seen. Computed, not stored: no schema change, and nothing to keep in step.
    pub fn revision(&self) -> String {
        use sha2::Digest as _;
        let mut d = sha2::Sha256::new();
        d.update(self.id.to_le_bytes());
        d.update([self.rating]);
        d.update(self.updated.to_le_bytes());
        d.update(self.text.as_bytes());
        hex::encode(&d.finalize()[..8])
    }
}

/// A review to store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewReview {
    /// The plugin.
    pub plugin: String,
    /// The version.
    pub version: String,
    /// The author's account.
    pub account: String,
    /// Stars, 1–5.
    pub rating: u8,
    /// The text.
    pub text: String,
    /// Unix seconds now.
    pub at: i64,
}

impl NewReview {
    /// A new review row (pending).
    pub fn new(
        plugin: &str,
        version: &str,
        account: &str,
        rating: u8,
        text: &str,
        at: i64,
    ) -> Self {
        NewReview {
            plugin: plugin.to_owned(),
            version: version.to_owned(),
            account: account.to_owned(),
            rating,
            text: text.to_owned(),
            at,
        }
    }
}

/// What [`ReviewStore::insert_review`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Inserted {
    /// Stored, pending.
    Review(Review),
    /// The account had reviewed that version already: the id of that review.
    Duplicate(i64),
}

/// What an abuse report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ReportKind {
    /// A plugin (its listing, its behaviour).
    Plugin,
    /// One review.
    Review,
}

impl ReportKind {
    /// `plugin` or `review`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Plugin => "plugin",
            ReportKind::Review => "review",
        }
    }

    fn parse(text: &str) -> ReportKind {
        if text == "review" {
            ReportKind::Review
        } else {
            ReportKind::Plugin
        }
    }
}

/// Where a report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ReportState {
    /// Waiting for a moderator.
    Open,
    /// Looked at; nothing to do.
    Dismissed,
    /// Looked at and acted on (a review rejected or deleted, a plugin yanked…).
    Actioned,
}

impl ReportState {
    /// `open`, `dismissed` or `actioned`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::Open => "open",
            ReportState::Dismissed => "dismissed",
            ReportState::Actioned => "actioned",
        }
    }

    /// The state stored as `text` (anything unknown reads as open: it stays in the queue).
    pub fn parse(text: &str) -> ReportState {
        match text {
            "dismissed" => ReportState::Dismissed,
            "actioned" => ReportState::Actioned,
            _ => ReportState::Open,
        }
    }
}

/// An abuse report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Its id.
    pub id: i64,
    /// What it is about.
    pub kind: ReportKind,
    /// The plugin (of the review, for a report on a review).
    pub plugin: String,
    /// The review's id, for a report on a review.
    pub review: Option<i64>,
    /// The account that reported.
    pub account: String,
    /// What the reporter says is wrong.
    pub reason: String,
    /// Where it is.
    pub state: ReportState,
    /// The moderator's note on resolving it.
    pub note: Option<String>,
    /// Unix seconds when it was made.
    pub created: i64,
    /// Unix seconds when it was resolved.
    pub resolved: Option<i64>,
    /// The moderator's account that resolved it.
    pub resolved_by: Option<String>,
}

/// Reviews, moderation and abuse reports, stored (see the module's description).
pub trait ReviewStore {
    /// Stores a pending review unless `review.account` reviewed that version already.
    fn insert_review(&self, review: &NewReview) -> Result<Inserted, ServerError>;
    /// The review `id`.
    fn review(&self, id: i64) -> Result<Option<Review>, ServerError>;
    /// Replaces the rating and text of review `id` and sends it back to moderation
    /// (pending, no reason, no decision); returns it as it is now.
    fn edit_review(
        &self,
        id: i64,
        rating: u8,
        text: &str,
        at: i64,
    ) -> Result<Option<Review>, ServerError>;
    /// Deletes review `id`; returns it as it was.
    fn delete_review(&self, id: i64) -> Result<Option<Review>, ServerError>;
    /// Sets review `id` to `to` if it is pending, in one step; returns it as it is now, or
    /// `None` when it is not (absent, or decided already: [`ReviewStore::review`] tells).
    fn decide_review(
        &self,
        id: i64,
        to: ReviewState,
        reason: Option<&str>,
        by: &str,
        at: i64,
    ) -> Result<Option<Review>, ServerError>;
    /// [`ReviewStore::decide_review`] only if the review still says what `seen` says (its
    /// stars, text and last-written stamp): one conditional update, so an edit between the
    /// moderator's reading and the decision makes it `None` ([`ReviewStore::review`] tells
    /// which).
    fn decide_seen(
        &self,
        seen: &Review,
        to: ReviewState,
        reason: Option<&str>,
        by: &str,
        at: i64,
    ) -> Result<Option<Review>, ServerError>;
    /// At most `limit` reviews of `plugin` in `state` after skipping `offset`, newest first.
    fn reviews_of(
        &self,
        plugin: &str,
        state: ReviewState,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Review>, ServerError>;
    /// The ratings of every approved review of `plugin`.
    fn approved_ratings(&self, plugin: &str) -> Result<Vec<u8>, ServerError>;
    /// Per plugin with approved reviews: how many and the sum of their stars (what search
    /// hits show and `sort=rating` orders by), in one query.
    fn approved_totals(&self) -> Result<Vec<(String, u32, u64)>, ServerError>;
    /// At most `limit` reviews in `state`, oldest change first (the moderation queue).
    fn reviews_in(&self, state: ReviewState, limit: usize) -> Result<Vec<Review>, ServerError>;
    /// At most `limit` reviews by `account`, newest first, in any state.
    fn reviews_by(&self, account: &str, limit: usize) -> Result<Vec<Review>, ServerError>;

    /// Stores an open report.
    fn insert_report(
        &self,
        kind: ReportKind,
        plugin: &str,
        review: Option<i64>,
        account: &str,
        reason: &str,
        at: i64,
    ) -> Result<Report, ServerError>;
    /// The report `id`.
    fn report(&self, id: i64) -> Result<Option<Report>, ServerError>;
    /// Resolves report `id` as `to` with `note` if it is open, in one step; returns it as
    /// it is now, or `None` when it is not (absent or resolved already).
    fn resolve_report(
        &self,
        id: i64,
        to: ReportState,
        note: &str,
        by: &str,
        at: i64,
    ) -> Result<Option<Report>, ServerError>;
    /// At most `limit` reports in `state`, oldest first.
    fn reports_in(&self, state: ReportState, limit: usize) -> Result<Vec<Report>, ServerError>;
}

const REVIEW_COLUMNS: &str = "id, plugin, version, account, rating, text, state, reason, \
    created, updated, decided, decided_by";
const REPORT_COLUMNS: &str = "id, kind, plugin, review, account, reason, state, note, created, \
    resolved, resolved_by";

fn stars(n: i64) -> u8 {
    u8::try_from(n).unwrap_or(0)
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// ---- SQLite ----

fn sqlite_review(r: &rusqlite::Row<'_>) -> rusqlite::Result<Review> {
    Ok(Review {
        id: r.get(0)?,
        plugin: r.get(1)?,
        version: r.get(2)?,
        account: r.get(3)?,
        rating: stars(r.get(4)?),
        text: r.get(5)?,
        state: ReviewState::parse(&r.get::<_, String>(6)?),
        reason: r.get(7)?,
        created: r.get(8)?,
        updated: r.get(9)?,
        decided: r.get(10)?,
        decided_by: r.get(11)?,
    })
}

fn sqlite_report(r: &rusqlite::Row<'_>) -> rusqlite::Result<Report> {
    Ok(Report {
        id: r.get(0)?,
        kind: ReportKind::parse(&r.get::<_, String>(1)?),
        plugin: r.get(2)?,
        review: r.get(3)?,
        account: r.get(4)?,
        reason: r.get(5)?,
        state: ReportState::parse(&r.get::<_, String>(6)?),
        note: r.get(7)?,
        created: r.get(8)?,
        resolved: r.get(9)?,
        resolved_by: r.get(10)?,
    })
}

impl SqliteStore {
    fn review_error(&self, e: &rusqlite::Error) -> ServerError {
        ServerError::Database {
            path: self.location().to_owned(),
            reason: e.to_string(),
        }
    }

    fn sqlite_reviews(
        &self,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Review>, ServerError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(sql)
            .map_err(|e| self.review_error(&e))?;
        let rows = stmt
            .query_map(args, sqlite_review)
            .and_then(Iterator::collect)
            .map_err(|e| self.review_error(&e));
        rows
    }
}

impl ReviewStore for SqliteStore {
    fn insert_review(&self, n: &NewReview) -> Result<Inserted, ServerError> {
        use rusqlite::OptionalExtension;
        let conn = self.conn();
        let inserted = conn
            .query_row(
                &format!(
                    "INSERT INTO reviews (plugin, version, account, rating, text, state, \
                     created, updated) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6) \
                     ON CONFLICT (plugin, version, account) DO NOTHING RETURNING {REVIEW_COLUMNS}"
                ),
                rusqlite::params![
                    n.plugin,
                    n.version,
                    n.account,
                    i64::from(n.rating),
                    n.text,
                    n.at
                ],
                sqlite_review,
            )
            .optional()
            .map_err(|e| self.review_error(&e))?;
        if let Some(r) = inserted {
            return Ok(Inserted::Review(r));
        }
        let id: i64 = conn
            .query_row(
                "SELECT id FROM reviews WHERE plugin = ?1 AND version = ?2 AND account = ?3",
                rusqlite::params![n.plugin, n.version, n.account],
                |r| r.get(0),
            )
            .map_err(|e| self.review_error(&e))?;
        Ok(Inserted::Duplicate(id))
    }

    fn review(&self, id: i64) -> Result<Option<Review>, ServerError> {
        Ok(self
            .sqlite_reviews(
                &format!("SELECT {REVIEW_COLUMNS} FROM reviews WHERE id = ?1"),
                &[&id],
            )?
            .pop())
    }

    fn edit_review(
        &self,
        id: i64,
        rating: u8,
        text: &str,
        at: i64,
    ) -> Result<Option<Review>, ServerError> {
        Ok(self
            .sqlite_reviews(
                &format!(
                    "UPDATE reviews SET rating = ?2, text = ?3, updated = ?4, state = 'pending', \
                     reason = NULL, decided = NULL, decided_by = NULL WHERE id = ?1 \
                     RETURNING {REVIEW_COLUMNS}"
                ),
                &[&id, &i64::from(rating), &text, &at],
            )?
            .pop())
    }

    fn delete_review(&self, id: i64) -> Result<Option<Review>, ServerError> {
        Ok(self
            .sqlite_reviews(
                &format!("DELETE FROM reviews WHERE id = ?1 RETURNING {REVIEW_COLUMNS}"),
                &[&id],
            )?
            .pop())
    }

    fn decide_review(
        &self,
        id: i64,
        to: ReviewState,
        reason: Option<&str>,
        by: &str,
        at: i64,
    ) -> Result<Option<Review>, ServerError> {
        Ok(self
            .sqlite_reviews(
                &format!(
                    "UPDATE reviews SET state = ?2, reason = ?3, decided = ?4, decided_by = ?5 \
                     WHERE id = ?1 AND state = 'pending' RETURNING {REVIEW_COLUMNS}"
                ),
                &[&id, &to.as_str(), &reason, &at, &by],
            )?
            .pop())
    }

    fn decide_seen(
        &self,
        seen: &Review,
        to: ReviewState,
        reason: Option<&str>,
        by: &str,
        at: i64,
    ) -> Result<Option<Review>, ServerError> {
        Ok(self
            .sqlite_reviews(
                &format!(
                    "UPDATE reviews SET state = ?2, reason = ?3, decided = ?4, decided_by = ?5 \
                     WHERE id = ?1 AND state = 'pending' AND rating = ?6 AND text = ?7 \
                     AND updated = ?8 RETURNING {REVIEW_COLUMNS}"
                ),
                &[
                    &seen.id,
                    &to.as_str(),
                    &reason,
                    &at,
                    &by,
                    &i64::from(seen.rating),
                    &seen.text,
                    &seen.updated,
                ],
            )?
            .pop())
    }

    fn reviews_of(
        &self,
        plugin: &str,
        state: ReviewState,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Review>, ServerError> {
        self.sqlite_reviews(
            &format!(
                "SELECT {REVIEW_COLUMNS} FROM reviews WHERE plugin = ?1 AND state = ?2 \
                 ORDER BY updated DESC, id DESC LIMIT ?3 OFFSET ?4"
            ),
            &[&plugin, &state.as_str(), &count(limit), &count(offset)],
        )
    }

    fn approved_ratings(&self, plugin: &str) -> Result<Vec<u8>, ServerError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT rating FROM reviews WHERE plugin = ?1 AND state = 'approved'")
            .map_err(|e| self.review_error(&e))?;
        let rows = stmt
            .query_map([plugin], |r| r.get::<_, i64>(0).map(stars))
            .and_then(Iterator::collect)
            .map_err(|e| self.review_error(&e));
        rows
    }

    fn approved_totals(&self) -> Result<Vec<(String, u32, u64)>, ServerError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT plugin, count(*), sum(rating) FROM reviews WHERE state = 'approved' \
                 GROUP BY plugin",
            )
            .map_err(|e| self.review_error(&e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    u32::try_from(r.get::<_, i64>(1)?).unwrap_or(u32::MAX),
                    u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                ))
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.review_error(&e));
        rows
    }

    fn reviews_in(&self, state: ReviewState, limit: usize) -> Result<Vec<Review>, ServerError> {
        self.sqlite_reviews(
            &format!(
                "SELECT {REVIEW_COLUMNS} FROM reviews WHERE state = ?1 \
                 ORDER BY updated, id LIMIT ?2"
            ),
            &[&state.as_str(), &count(limit)],
        )
    }

    fn reviews_by(&self, account: &str, limit: usize) -> Result<Vec<Review>, ServerError> {
        self.sqlite_reviews(
            &format!(
                "SELECT {REVIEW_COLUMNS} FROM reviews WHERE account = ?1 \
                 ORDER BY updated DESC, id DESC LIMIT ?2"
            ),
            &[&account, &count(limit)],
        )
    }

    fn insert_report(
        &self,
        kind: ReportKind,
        plugin: &str,
        review: Option<i64>,
        account: &str,
        reason: &str,
        at: i64,
    ) -> Result<Report, ServerError> {
        self.conn()
            .query_row(
                &format!(
                    "INSERT INTO reports (kind, plugin, review, account, reason, state, created) \
                     VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6) RETURNING {REPORT_COLUMNS}"
                ),
                rusqlite::params![kind.as_str(), plugin, review, account, reason, at],
                sqlite_report,
            )
            .map_err(|e| self.review_error(&e))
    }

    fn report(&self, id: i64) -> Result<Option<Report>, ServerError> {
        use rusqlite::OptionalExtension;
        self.conn()
            .query_row(
                &format!("SELECT {REPORT_COLUMNS} FROM reports WHERE id = ?1"),
                [id],
                sqlite_report,
            )
            .optional()
            .map_err(|e| self.review_error(&e))
    }

    fn resolve_report(
        &self,
        id: i64,
        to: ReportState,
        note: &str,
        by: &str,
        at: i64,
    ) -> Result<Option<Report>, ServerError> {
        use rusqlite::OptionalExtension;
        self.conn()
            .query_row(
                &format!(
                    "UPDATE reports SET state = ?2, note = ?3, resolved = ?4, resolved_by = ?5 \
                     WHERE id = ?1 AND state = 'open' RETURNING {REPORT_COLUMNS}"
                ),
                rusqlite::params![id, to.as_str(), note, at, by],
                sqlite_report,
            )
            .optional()
            .map_err(|e| self.review_error(&e))
    }

    fn reports_in(&self, state: ReportState, limit: usize) -> Result<Vec<Report>, ServerError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {REPORT_COLUMNS} FROM reports WHERE state = ?1 \
                 ORDER BY created, id LIMIT ?2"
            ))
            .map_err(|e| self.review_error(&e))?;
        let rows = stmt
            .query_map(
                rusqlite::params![state.as_str(), count(limit)],
                sqlite_report,
            )
            .and_then(Iterator::collect)
            .map_err(|e| self.review_error(&e));
        rows
    }
}

// ---- PostgreSQL ----

fn pg_review(r: &postgres::Row) -> Review {
    Review {
        id: r.get(0),
        plugin: r.get(1),
        version: r.get(2),
        account: r.get(3),
        rating: stars(r.get(4)),
        text: r.get(5),
        state: ReviewState::parse(r.get(6)),
        reason: r.get(7),
        created: r.get(8),
        updated: r.get(9),
        decided: r.get(10),
        decided_by: r.get(11),
    }
}

fn pg_report(r: &postgres::Row) -> Report {
    Report {
        id: r.get(0),
        kind: ReportKind::parse(r.get(1)),
        plugin: r.get(2),
        review: r.get(3),
        account: r.get(4),
        reason: r.get(5),
        state: ReportState::parse(r.get(6)),
        note: r.get(7),
        created: r.get(8),
        resolved: r.get(9),
        resolved_by: r.get(10),
    }
}

impl PostgresStore {
    fn pg_reviews(
        &self,
        sql: &str,
        args: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Review>, ServerError> {
        self.client()?
            .query(sql, args)
            .map(|rows| rows.iter().map(pg_review).collect())
            .map_err(|e| self.error(&e))
    }

    fn pg_reports(
        &self,
        sql: &str,
        args: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Report>, ServerError> {
        self.client()?
            .query(sql, args)
            .map(|rows| rows.iter().map(pg_report).collect())
            .map_err(|e| self.error(&e))
    }
}

impl ReviewStore for PostgresStore {
    fn insert_review(&self, n: &NewReview) -> Result<Inserted, ServerError> {
        let rating = i64::from(n.rating);
        let inserted = self.pg_reviews(
            &format!(
                "INSERT INTO reviews (plugin, version, account, rating, text, state, created, \
                 updated) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) \
                 ON CONFLICT (plugin, version, account) DO NOTHING RETURNING {REVIEW_COLUMNS}"
            ),
            &[&n.plugin, &n.version, &n.account, &rating, &n.text, &n.at],
        )?;
        if let Some(r) = inserted.into_iter().next() {
            return Ok(Inserted::Review(r));
        }
        let row = self
            .client()?
            .query_opt(
                "SELECT id FROM reviews WHERE plugin = $1 AND version = $2 AND account = $3",
                &[&n.plugin, &n.version, &n.account],
            )
            .map_err(|e| self.error(&e))?;
        match row {
            Some(r) => Ok(Inserted::Duplicate(r.get(0))),
            // Deleted between the two statements: the slot is free again.
            None => self.insert_review(n),
        }
    }

    fn review(&self, id: i64) -> Result<Option<Review>, ServerError> {
        Ok(self
            .pg_reviews(
                &format!("SELECT {REVIEW_COLUMNS} FROM reviews WHERE id = $1"),
                &[&id],
            )?
            .pop())
    }

    fn edit_review(
        &self,
        id: i64,
        rating: u8,
        text: &str,
        at: i64,
    ) -> Result<Option<Review>, ServerError> {
        Ok(self
            .pg_reviews(
                &format!(
                    "UPDATE reviews SET rating = $2, text = $3, updated = $4, state = 'pending', \
                     reason = NULL, decided = NULL, decided_by = NULL WHERE id = $1 \
                     RETURNING {REVIEW_COLUMNS}"
                ),
                &[&id, &i64::from(rating), &text, &at],
            )?
            .pop())
    }

    fn delete_review(&self, id: i64) -> Result<Option<Review>, ServerError> {
        Ok(self
            .pg_reviews(
                &format!("DELETE FROM reviews WHERE id = $1 RETURNING {REVIEW_COLUMNS}"),
                &[&id],
            )?
            .pop())
    }

    fn decide_review(
        &self,
        id: i64,
        to: ReviewState,
        reason: Option<&str>,
        by: &str,
        at: i64,
    ) -> Result<Option<Review>, ServerError> {
        Ok(self
            .pg_reviews(
                &format!(
                    "UPDATE reviews SET state = $2, reason = $3, decided = $4, decided_by = $5 \
                     WHERE id = $1 AND state = 'pending' RETURNING {REVIEW_COLUMNS}"
                ),
                &[&id, &to.as_str(), &reason, &at, &by],
            )?
            .pop())
    }

    fn decide_seen(
        &self,
        seen: &Review,
        to: ReviewState,
        reason: Option<&str>,
        by: &str,
        at: i64,
    ) -> Result<Option<Review>, ServerError> {
        Ok(self
            .pg_reviews(
                &format!(
                    "UPDATE reviews SET state = $2, reason = $3, decided = $4, decided_by = $5 \
                     WHERE id = $1 AND state = 'pending' AND rating = $6 AND text = $7 \
                     AND updated = $8 RETURNING {REVIEW_COLUMNS}"
                ),
                &[
                    &seen.id,
                    &to.as_str(),
                    &reason,
                    &at,
                    &by,
                    &i64::from(seen.rating),
                    &seen.text,
                    &seen.updated,
                ],
            )?
            .pop())
    }

    fn reviews_of(
        &self,
        plugin: &str,
        state: ReviewState,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Review>, ServerError> {
        self.pg_reviews(
            &format!(
                "SELECT {REVIEW_COLUMNS} FROM reviews WHERE plugin = $1 AND state = $2 \
                 ORDER BY updated DESC, id DESC LIMIT $3 OFFSET $4"
            ),
            &[&plugin, &state.as_str(), &count(limit), &count(offset)],
        )
    }

    fn approved_ratings(&self, plugin: &str) -> Result<Vec<u8>, ServerError> {
        self.client()?
            .query(
                "SELECT rating FROM reviews WHERE plugin = $1 AND state = 'approved'",
                &[&plugin],
            )
            .map(|rows| rows.iter().map(|r| stars(r.get(0))).collect())
            .map_err(|e| self.error(&e))
    }

    fn approved_totals(&self) -> Result<Vec<(String, u32, u64)>, ServerError> {
        self.client()?
            .query(
                "SELECT plugin, count(*), sum(rating)::bigint FROM reviews \
                 WHERE state = 'approved' GROUP BY plugin",
                &[],
            )
            .map(|rows| {
                rows.iter()
                    .map(|r| {
                        (
                            r.get::<_, String>(0),
                            u32::try_from(r.get::<_, i64>(1)).unwrap_or(u32::MAX),
                            u64::try_from(r.get::<_, i64>(2)).unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .map_err(|e| self.error(&e))
    }

    fn reviews_in(&self, state: ReviewState, limit: usize) -> Result<Vec<Review>, ServerError> {
        self.pg_reviews(
            &format!(
                "SELECT {REVIEW_COLUMNS} FROM reviews WHERE state = $1 \
                 ORDER BY updated, id LIMIT $2"
            ),
            &[&state.as_str(), &count(limit)],
        )
    }

    fn reviews_by(&self, account: &str, limit: usize) -> Result<Vec<Review>, ServerError> {
        self.pg_reviews(
            &format!(
                "SELECT {REVIEW_COLUMNS} FROM reviews WHERE account = $1 \
                 ORDER BY updated DESC, id DESC LIMIT $2"
            ),
            &[&account, &count(limit)],
        )
    }

    fn insert_report(
        &self,
        kind: ReportKind,
        plugin: &str,
        review: Option<i64>,
        account: &str,
        reason: &str,
        at: i64,
    ) -> Result<Report, ServerError> {
        self.pg_reports(
            &format!(
                "INSERT INTO reports (kind, plugin, review, account, reason, state, created) \
                 VALUES ($1, $2, $3, $4, $5, 'open', $6) RETURNING {REPORT_COLUMNS}"
            ),
            &[&kind.as_str(), &plugin, &review, &account, &reason, &at],
        )?
        .pop()
        .ok_or_else(|| ServerError::Database {
            path: self.location().to_owned(),
            reason: "INSERT … RETURNING returned no row".into(),
        })
    }

    fn report(&self, id: i64) -> Result<Option<Report>, ServerError> {
        Ok(self
            .pg_reports(
                &format!("SELECT {REPORT_COLUMNS} FROM reports WHERE id = $1"),
                &[&id],
            )?
            .pop())
    }

    fn resolve_report(
        &self,
        id: i64,
        to: ReportState,
        note: &str,
        by: &str,
        at: i64,
    ) -> Result<Option<Report>, ServerError> {
        Ok(self
            .pg_reports(
                &format!(
                    "UPDATE reports SET state = $2, note = $3, resolved = $4, resolved_by = $5 \
                     WHERE id = $1 AND state = 'open' RETURNING {REPORT_COLUMNS}"
                ),
                &[&id, &to.as_str(), &note, &at, &by],
            )?
            .pop())
    }

    fn reports_in(&self, state: ReportState, limit: usize) -> Result<Vec<Report>, ServerError> {
        self.pg_reports(
            &format!(
                "SELECT {REPORT_COLUMNS} FROM reports WHERE state = $1 \
                 ORDER BY created, id LIMIT $2"
            ),
            &[&state.as_str(), &count(limit)],
        )
    }
}

/// The SQLite tables (in `sqlite::SCHEMA`, each start: `CREATE … IF NOT EXISTS`).
pub(super) const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS reviews (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    plugin      TEXT NOT NULL,
    version     TEXT NOT NULL,
    account     TEXT NOT NULL,
    rating      INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    text        TEXT NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT,
    created     INTEGER NOT NULL,
    updated     INTEGER NOT NULL,
    decided     INTEGER,
    decided_by  TEXT,
    UNIQUE (plugin, version, account)
);
CREATE INDEX IF NOT EXISTS reviews_plugin ON reviews (plugin, state, updated);
CREATE INDEX IF NOT EXISTS reviews_state ON reviews (state, updated);
CREATE INDEX IF NOT EXISTS reviews_account ON reviews (account, updated);
CREATE TABLE IF NOT EXISTS reports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    plugin      TEXT NOT NULL,
    review      INTEGER,
    account     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    state       TEXT NOT NULL,
    note        TEXT,
    created     INTEGER NOT NULL,
    resolved    INTEGER,
    resolved_by TEXT
);
CREATE INDEX IF NOT EXISTS reports_state ON reports (state, created);
";

/// The PostgreSQL migration that adds them.
pub(super) const POSTGRES_MIGRATION: &str = "
CREATE TABLE reviews (
    id          BIGSERIAL PRIMARY KEY,
    plugin      TEXT NOT NULL,
    version     TEXT NOT NULL,
    account     TEXT NOT NULL,
    rating      BIGINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    text        TEXT NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT,
    created     BIGINT NOT NULL,
    updated     BIGINT NOT NULL,
    decided     BIGINT,
    decided_by  TEXT,
    UNIQUE (plugin, version, account)
);
CREATE INDEX reviews_plugin ON reviews (plugin, state, updated);
CREATE INDEX reviews_state ON reviews (state, updated);
CREATE INDEX reviews_account ON reviews (account, updated);
CREATE TABLE reports (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL,
    plugin      TEXT NOT NULL,
    review      BIGINT,
    account     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    state       TEXT NOT NULL,
    note        TEXT,
    created     BIGINT NOT NULL,
    resolved    BIGINT,
    resolved_by TEXT
);
CREATE INDEX reports_state ON reports (state, created);
";
