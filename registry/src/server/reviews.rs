//! Reviews, moderation and abuse reports over HTTP (SPEC S9.4).
//!
//! - `GET /api/v1/plugins/NAME/reviews?page=&per_page=`: the approved reviews, newest first,
//!   with the plugin's rating — the damped average of approved reviews only
//!   ([`crate::market::damped_rating`]), the plain mean and the count.
//! - `POST /api/v1/plugins/NAME/reviews` `{"version", "rating", "text"}`: write a review
//!   (201, pending). Any valid token speaks for its account, whatever its scope; one review
//!   per account per version (`SB1455`); an owner of the plugin does not review it
//!   (`SB1358`).
//! - `PUT /api/v1/plugins/NAME/reviews/ID` `{"rating", "text"}`: its author replaces it; it
//!   goes back to moderation. `DELETE …/ID`: its author, or a moderator.
//! - `GET /api/v1/reviews/mine`: the token's account's reviews in every state, with the
//!   reason of a rejection.
//! - `GET /api/v1/moderation/reviews`: the pending queue, oldest first, each review with its
//!   `revision`; `POST …/reviews/ID/approve` `{"revision"}`, `…/reviews/ID/reject`
//!   `{"reason", "revision"}` (both required): the revision the moderator saw, refused with
//!   `SB1910` (409) when the review changed since (an edit) — a moderator never decides on
//!   text they have not read.
//! - `POST /api/v1/reports` `{"plugin", "review"?, "reason"}`: report a plugin or one of its
//!   reviews (any valid token); `GET /api/v1/moderation/reports` (open ones); `POST
//!   …/reports/ID/resolve` `{"outcome": "dismissed" | "actioned", "note"}`.
//!
//! Moderating needs a token of scope `moderate` or `admin` ([`Scope::may_moderate`]). Every
//! decision (approve, reject), every deletion, every report and every resolution is
//! recorded in the server's audit trail.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{blocking, ApiError, DEFAULT_PER_PAGE, MAX_PER_PAGE};
use super::publishing::{authenticated, path_name};
use super::search::rating::{HitRating, Ratings};
use super::store::reviews::{
    Inserted, NewReview, Report, ReportKind, ReportState, Review, ReviewState,
};
use super::store::Database;
use super::tokens::{now, TokenInfo};
use super::AppState;
use crate::error::ServerError;
use crate::market::{damped_rating, DampedRating};

/// The longest review text, in characters.
pub const MAX_REVIEW_CHARS: usize = 4000;
/// The longest reason (of a rejection or a report) or note (of a resolution), in characters.
pub const MAX_REASON_CHARS: usize = 1000;
/// The most entries a moderation queue or `reviews/mine` answers with (oldest first).
pub const MAX_QUEUE: usize = 200;

/// Checks a text a person wrote: trimmed, 1 to `max` characters, no control characters but
/// line breaks and tabs (`\r\n` becomes `\n`). Returns it as stored.
pub fn check_text(what: &str, text: &str, max: usize) -> Result<String, ServerError> {
    let bad = |reason: String| ServerError::BadReviewText {
        what: what.to_owned(),
        reason,
    };
    let chars = text.chars().count();
    if chars > max {
        return Err(bad(format!(
            "it is {chars} characters, over the {max} allowed"
        )));
    }
    // Control characters are refused wherever they are, before trimming (which would drop
    // some, such as U+0085, from the ends without a word).
    let text = text.replace("\r\n", "\n");
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        return Err(bad(format!(
            "it holds the control character U+{:04X}",
            u32::from(c)
        )));
    }
    let text = text.trim();
    if text.is_empty() {
        return Err(bad("it is empty".into()));
    }
    Ok(text.to_owned())
}

/// A rating as given in JSON: a whole number from 1 to 5 (a string, a fraction or
/// anything else is refused).
pub fn check_rating(value: &Value) -> Result<u8, ServerError> {
    let n = match value {
        Value::Number(n) => n.as_u64(),
        _ => None,
    };
    match n {
        Some(n @ 1..=5) => Ok(u8::try_from(n).unwrap_or(3)),
        _ => Err(ServerError::BadRating {
            rating: value.to_string().chars().take(20).collect(),
        }),
    }
}

/// Records one entry in the server's audit trail.
fn audit(
    state: &AppState,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<(), ServerError> {
    super::audit::record(&state.db, actor, action, subject, detail).map(|_| ())
}

/// The audit subject of a review: `plugin:NAME@VERSION/review:ID` (so the prefix
/// `plugin:NAME` finds a plugin's whole history).
pub fn review_subject(r: &Review) -> String {
    format!("plugin:{}@{}/review:{}", r.plugin, r.version, r.id)
}

/// The audit subject of a report: its review's, or `plugin:NAME`.
fn report_subject(r: &Report, review: Option<&Review>) -> String {
    match review {
        Some(rv) => review_subject(rv),
        None => match r.review {
            Some(id) => format!("plugin:{}/review:{id}", r.plugin),
            None => format!("plugin:{}", r.plugin),
        },
    }
}

/// The rating of `plugin`: the damped average of its approved reviews.
pub(crate) fn rating_of(db: &Database, plugin: &str) -> Result<DampedRating, ServerError> {
    Ok(damped_rating(&db.store().approved_ratings(plugin)?))
}

/// The ratings search hits show (see `search::rating`), kept in memory: read from the store
/// when the server first searches and again when the reading is older than
/// [`RatingList::FRESH_FOR`] (another server sharing the PostgreSQL database may have
/// moderated), and changed at once for a plugin when this server approves, rejects, edits
/// or deletes one of its reviews — so a moderation decision shows in the next search.
#[derive(Debug, Default)]
pub(crate) struct RatingList {
    inner: std::sync::RwLock<RatingSnapshot>,
}

#[derive(Debug, Default)]
struct RatingSnapshot {
    ratings: Arc<Ratings>,
    /// When the store was last read; `None`: never.
    read_at: Option<std::time::Instant>,
    /// Counts [`RatingList::changed`]s, so a reading of the store that began before one does
    /// not undo it.
    changes: u64,
}

impl RatingList {
    /// How long a reading of the store is used before the next search reads it again.
    pub(crate) const FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(5);

    /// Whether the last reading of the store is younger than [`Self::FRESH_FOR`] (a kept
    /// search page is then written with [`Self::current`] without reading the store).
    pub(crate) fn is_fresh(&self) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .read_at
            .is_some_and(|t| t.elapsed() < Self::FRESH_FOR)
    }

    /// The ratings as they are now.
    pub(crate) fn current(&self) -> Arc<Ratings> {
        Arc::clone(&self.inner.read().unwrap_or_else(|p| p.into_inner()).ratings)
    }

    /// Reads every plugin's rating if the last reading is older than [`Self::FRESH_FOR`].
    pub(crate) fn refresh_if_stale(&self, db: &Database) -> Result<(), ServerError> {
        let (stale, changes_before) = {
            let g = self.inner.read().unwrap_or_else(|p| p.into_inner());
            (
                g.read_at.is_none_or(|t| t.elapsed() >= Self::FRESH_FOR),
                g.changes,
            )
        };
        if !stale {
            return Ok(());
        }
        let ratings = Ratings::from_totals(db.store().approved_totals()?);
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if g.changes == changes_before {
            g.ratings = Arc::new(ratings);
            g.read_at = Some(std::time::Instant::now());
        }
        Ok(())
    }

    /// Reads `plugin`'s rating again after this server changed one of its reviews.
    pub(crate) fn changed(&self, db: &Database, plugin: &str) -> Result<(), ServerError> {
        let stars = db.store().approved_ratings(plugin)?;
        let count = u32::try_from(stars.len()).unwrap_or(u32::MAX);
        let sum = stars.iter().map(|s| u64::from(*s)).sum();
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        g.changes += 1;
        Arc::make_mut(&mut g.ratings).set(plugin, Some(HitRating::of_totals(count, sum)));
        Ok(())
    }
}

/// The rating as the API answers it.
pub(crate) fn rating_json(r: &DampedRating) -> Value {
    json!({ "average": r.damped, "mean": r.mean, "count": r.count })
}

/// A review as the public listing shows it (no moderation details).
pub(crate) fn public_json(r: &Review) -> Value {
    json!({
        "id": r.id, "plugin": r.plugin, "version": r.version, "account": r.account,
        "rating": r.rating, "text": r.text, "created": r.created, "updated": r.updated,
    })
}

/// A review with its state (for its author and moderators).
pub(crate) fn review_json(r: &Review) -> Value {
    json!({
        "id": r.id, "plugin": r.plugin, "version": r.version, "account": r.account,
        "rating": r.rating, "text": r.text, "state": r.state, "reason": r.reason,
        "created": r.created, "updated": r.updated, "decided": r.decided,
        "decided_by": r.decided_by, "revision": r.revision(),
    })
}

/// A report as the API answers it.
pub(crate) fn report_json(r: &Report) -> Value {
    json!({
        "id": r.id, "kind": r.kind, "plugin": r.plugin, "review": r.review,
        "account": r.account, "reason": r.reason, "state": r.state, "note": r.note,
        "created": r.created, "resolved": r.resolved, "resolved_by": r.resolved_by,
    })
}

fn known_plugin(state: &AppState, name: &str) -> Result<Arc<super::catalog::Catalog>, ServerError> {
    let catalog = state.catalog.get(&state.data.registry)?;
    if !catalog.plugins.contains_key(name) {
        return Err(ServerError::UnknownPlugin {
            name: name.to_owned(),
        });
    }
    Ok(catalog)
}

fn moderator(
    state: &AppState,
    headers: &HeaderMap,
    action: &str,
) -> Result<TokenInfo, ServerError> {
    let token = authenticated(state, headers)?;
    if !token.scope.may_moderate() {
        return Err(ServerError::WrongScope {
            id: token.id.clone(),
            scope: token.scope.to_string(),
            action: action.to_owned(),
        });
    }
    Ok(token)
}

/// Writes `account`'s review of `name@version` (pending). The rules: the version is
/// published, the account does not own the plugin, and has not reviewed that version.
pub(crate) fn write(
    state: &AppState,
    token: &TokenInfo,
    name: &str,
    version: &str,
    rating: &Value,
    text: &str,
) -> Result<Review, ServerError> {
    let catalog = known_plugin(state, name)?;
    let rating = check_rating(rating)?;
    let text = check_text("review text", text, MAX_REVIEW_CHARS)?;
    let published = catalog
        .plugins
        .get(name)
        .and_then(|lines| lines.iter().find(|l| l.version.to_string() == version));
    if published.is_none() {
        return Err(ServerError::UnknownVersion {
            plugin: name.to_owned(),
            version: version.chars().take(64).collect(),
        });
    }
    if super::accounts::owners(&state.db, name)?
        .iter()
        .any(|o| o.account == token.account)
    {
        return Err(ServerError::OwnReview {
            plugin: name.to_owned(),
            account: token.account.clone(),
        });
    }
    let new = NewReview::new(name, version, &token.account, rating, &text, now());
    match state.db.store().insert_review(&new)? {
        Inserted::Review(r) => Ok(r),
        Inserted::Duplicate(id) => Err(ServerError::DuplicateReview {
            plugin: name.to_owned(),
            version: version.to_owned(),
            account: token.account.clone(),
            id,
        }),
    }
}

fn parse_id(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().filter(|id| *id > 0)
}

/// The review `id` of plugin `name`.
fn review_of(state: &AppState, name: &str, id: &str) -> Result<Review, ServerError> {
    let unknown = || ServerError::UnknownReview {
        plugin: name.to_owned(),
        id: id.chars().take(24).collect(),
    };
    let n = parse_id(id).ok_or_else(unknown)?;
    state
        .db
        .store()
        .review(n)?
        .filter(|r| r.plugin == name)
        .ok_or_else(unknown)
}

/// The review `id` (any plugin), for moderation.
fn review_by_id(state: &AppState, id: &str) -> Result<Review, ServerError> {
    let unknown = || ServerError::UnknownReview {
        plugin: "any plugin".into(),
        id: id.chars().take(24).collect(),
    };
    let n = parse_id(id).ok_or_else(unknown)?;
    state.db.store().review(n)?.ok_or_else(unknown)
}

/// Approves (`reason` `None`) or rejects review `id` as moderator `by`, and audits it —
/// only if the review is still at `revision`, the revision the moderator saw (`SB1910`
/// otherwise).
pub(crate) fn decide(
    state: &AppState,
    by: &str,
    id: &str,
    revision: &str,
    reject_reason: Option<&str>,
) -> Result<Review, ServerError> {
    let review = review_by_id(state, id)?;
    if revision.is_empty() {
        return Err(ServerError::RevisionMissing {
            id: review.id.to_string(),
            reason: "the revision is empty".into(),
        });
    }
    let (to, reason) = match reject_reason {
        Some(r) => (
            ReviewState::Rejected,
            Some(check_text("reason", r, MAX_REASON_CHARS)?),
        ),
        None => (ReviewState::Approved, None),
    };
    let not_pending = |r: &Review| ServerError::NotPending {
        id: r.id,
        state: r.state.as_str().to_owned(),
    };
    if review.state != ReviewState::Pending {
        return Err(not_pending(&review));
    }
    let changed = |now: &Review| ServerError::ReviewChanged {
        id: now.id,
        seen: revision.chars().take(32).collect(),
        now: now.revision(),
    };
    if review.revision() != revision {
        return Err(changed(&review));
    }
    let decided = state
        .db
        .store()
        .decide_seen(&review, to, reason.as_deref(), by, now())?;
    let Some(decided) = decided else {
        // Changed, decided or deleted between the reading and the decision.
        return Err(match state.db.store().review(review.id)? {
            None => ServerError::NotPending {
                id: review.id,
                state: "deleted".into(),
            },
            Some(r) if r.state != ReviewState::Pending => not_pending(&r),
            Some(r) => changed(&r),
        });
    };
    let action = match to {
        ReviewState::Rejected => "review.reject",
        _ => "review.approve",
    };
    let detail = match &reason {
        Some(r) => format!(
            "{}@{} by {} ({} stars): {r}",
            decided.plugin, decided.version, decided.account, decided.rating
        ),
        None => format!(
            "{}@{} by {} ({} stars)",
            decided.plugin, decided.version, decided.account, decided.rating
        ),
    };
    audit(state, by, action, &review_subject(&decided), &detail)?;
    state.ratings.changed(&state.db, &decided.plugin)?;
    Ok(decided)
}

/// Reports `plugin` (or its review `review`) for `reason`, and audits it.
pub(crate) fn report(
    state: &AppState,
    token: &TokenInfo,
    plugin: &str,
    review: Option<i64>,
    reason: &str,
) -> Result<Report, ServerError> {
    crate::format::validate_name(plugin).map_err(|e| ServerError::BadReport {
        reason: format!(
            "`{}` is not a plugin name: {e}",
            plugin.chars().take(64).collect::<String>()
        ),
    })?;
    known_plugin(state, plugin)?;
    let reason = check_text("reason", reason, MAX_REASON_CHARS)?;
    let reported = match review {
        Some(id) => {
            let r = state.db.store().review(id)?.filter(|r| r.plugin == plugin);
            if r.is_none() {
                return Err(ServerError::BadReport {
                    reason: format!("`{plugin}` has no review {id}"),
                });
            }
            r
        }
        None => None,
    };
    let kind = match reported {
        Some(_) => ReportKind::Review,
        None => ReportKind::Plugin,
    };
    let r = state
        .db
        .store()
        .insert_report(kind, plugin, review, &token.account, &reason, now())?;
    let subject = report_subject(&r, reported.as_ref());
    audit(
        state,
        &token.account,
        "report.open",
        &subject,
        &format!("report {}: {reason}", r.id),
    )?;
    Ok(r)
}

/// Resolves report `id` as `outcome` (`dismissed` or `actioned`) with `note`, by `by`,
/// and audits it.
pub(crate) fn resolve(
    state: &AppState,
    by: &str,
    id: &str,
    outcome: &str,
    note: &str,
) -> Result<Report, ServerError> {
    let to = match outcome {
        "dismissed" => ReportState::Dismissed,
        "actioned" => ReportState::Actioned,
        other => {
            return Err(ServerError::BadChoice {
                value: other.chars().take(40).collect(),
                expected: "`dismissed`, `actioned`".into(),
            })
        }
    };
    let unknown = || ServerError::UnknownReport {
        id: id.chars().take(24).collect(),
    };
    let n = parse_id(id).ok_or_else(unknown)?;
    let existing = state.db.store().report(n)?.ok_or_else(unknown)?;
    let note = check_text("note", note, MAX_REASON_CHARS)?;
    let Some(resolved) = state.db.store().resolve_report(n, to, &note, by, now())? else {
        let now_state = state
            .db
            .store()
            .report(n)?
            .map_or(existing.state, |r| r.state);
        return Err(ServerError::ReportResolved {
            id: n,
            state: now_state.as_str().to_owned(),
        });
    };
    let review = match resolved.review {
        Some(id) => state.db.store().review(id)?,
        None => None,
    };
    audit(
        state,
        by,
        "report.resolve",
        &report_subject(&resolved, review.as_ref()),
        &format!("report {n} {}: {note}", to.as_str()),
    )?;
    Ok(resolved)
}

// ---- Handlers ----

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ServerError> {
    body.map(|Json(b)| b).map_err(|e| ServerError::Malformed {
        reason: e.body_text(),
    })
}

fn name_and_id(
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, String), ServerError> {
    let Path((name, id)) = p.map_err(|e| ServerError::BadPath {
        path: "/api/v1/plugins/…/reviews/…".into(),
        reason: e.body_text(),
    })?;
    let name = path_name(Ok(Path(name)))?;
    Ok((name, id))
}

fn id_of(p: Result<Path<String>, PathRejection>) -> Result<String, ServerError> {
    p.map(|Path(id)| id).map_err(|e| ServerError::BadPath {
        path: "/api/v1/moderation/…".into(),
        reason: e.body_text(),
    })
}

/// `GET /api/v1/plugins/NAME/reviews` parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// From 1.
    pub page: Option<String>,
    /// From 1 to [`MAX_PER_PAGE`].
    pub per_page: Option<String>,
}

fn number(
    name: &str,
    text: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, ServerError> {
    let Some(text) = text else {
        return Ok(default);
    };
    match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ServerError::BadQuery {
            reason: format!(
                "{name}={} is not a number from 1 to {max}",
                text.chars().take(20).collect::<String>()
            ),
        }),
    }
}

/// The approved reviews of `name`, one page, with its rating (the API's answer; the web
/// page shows the same).
pub(crate) fn listing(
    state: &AppState,
    name: &str,
    page: usize,
    per_page: usize,
) -> Result<Value, ServerError> {
    known_plugin(state, name)?;
    let rating = rating_of(&state.db, name)?;
    let offset = (page - 1).saturating_mul(per_page);
    let reviews = state
        .db
        .store()
        .reviews_of(name, ReviewState::Approved, offset, per_page)?;
    let total = rating.count as usize;
    Ok(json!({
        "name": name,
        "rating": rating_json(&rating),
        "page": page,
        "per_page": per_page,
        "pages": total.div_ceil(per_page).max(1),
        "total": total,
        "reviews": reviews.iter().map(public_json).collect::<Vec<_>>(),
    }))
}

/// `GET /api/v1/plugins/NAME/reviews?page=&per_page=`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let name = path_name(name)?;
        let Query(params) = params.map_err(|e| ServerError::BadQuery {
            reason: e.body_text(),
        })?;
        let page = number("page", params.page.as_deref(), 1, 1_000_000)?;
        let per_page = number(
            "per_page",
            params.per_page.as_deref(),
            DEFAULT_PER_PAGE,
            MAX_PER_PAGE,
        )?;
        Ok(listing(&state, &name, page, per_page)?)
    })
    .await
    .map(Json)
}

/// The body of a new review.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteBody {
    /// The version reviewed.
    pub version: String,
    /// 1–5.
    pub rating: Value,
    /// At most [`MAX_REVIEW_CHARS`] characters.
    pub text: String,
}

/// `POST /api/v1/plugins/NAME/reviews`: 201 with the review, pending.
pub async fn create(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<WriteBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        let name = path_name(name)?;
        let body = json_body(body)?;
        let r = write(
            &state,
            &token,
            &name,
            &body.version,
            &body.rating,
            &body.text,
        )?;
        Ok((StatusCode::CREATED, Json(review_json(&r))))
    })
    .await
}

/// The body of an edit.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    /// 1–5.
    pub rating: Value,
    /// At most [`MAX_REVIEW_CHARS`] characters.
    pub text: String,
}

/// `PUT /api/v1/plugins/NAME/reviews/ID`: its author replaces it; pending again.
pub async fn edit(
    State(state): State<Arc<AppState>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<EditBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        let (name, id) = name_and_id(path)?;
        let body = json_body(body)?;
        let review = review_of(&state, &name, &id)?;
        if review.account != token.account {
            return Err(ServerError::NotReviewAuthor {
                id: review.id,
                author: review.account,
                account: token.account,
            }
            .into());
        }
        let rating = check_rating(&body.rating)?;
        let text = check_text("review text", &body.text, MAX_REVIEW_CHARS)?;
        let edited = state
            .db
            .store()
            .edit_review(review.id, rating, &text, now())?
            .ok_or_else(|| ServerError::UnknownReview {
                plugin: name.clone(),
                id: id.clone(),
            })?;
        if review.state == ReviewState::Approved {
            state.ratings.changed(&state.db, &edited.plugin)?;
        }
        Ok(review_json(&edited))
    })
    .await
    .map(Json)
}

/// `DELETE /api/v1/plugins/NAME/reviews/ID`: its author, or a moderator.
pub async fn remove(
    State(state): State<Arc<AppState>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        let (name, id) = name_and_id(path)?;
        let review = review_of(&state, &name, &id)?;
        if review.account != token.account && !token.scope.may_moderate() {
            return Err(ServerError::NotReviewAuthor {
                id: review.id,
                author: review.account,
                account: token.account,
            }
            .into());
        }
        let deleted = state.db.store().delete_review(review.id)?.ok_or_else(|| {
            ServerError::UnknownReview {
                plugin: name.clone(),
                id: id.clone(),
            }
        })?;
        audit(
            &state,
            &token.account,
            "review.delete",
            &review_subject(&deleted),
            &format!(
                "{}@{} by {} ({} stars, was {})",
                deleted.plugin,
                deleted.version,
                deleted.account,
                deleted.rating,
                deleted.state.as_str()
            ),
        )?;
        if deleted.state == ReviewState::Approved {
            state.ratings.changed(&state.db, &deleted.plugin)?;
        }
        Ok(json!({ "deleted": true, "review": review_json(&deleted) }))
    })
    .await
    .map(Json)
}

/// `GET /api/v1/reviews/mine`: the token's account's reviews, every state.
pub async fn mine(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        let reviews = state.db.store().reviews_by(&token.account, MAX_QUEUE)?;
        Ok(json!({
            "account": token.account,
            "reviews": reviews.iter().map(review_json).collect::<Vec<_>>(),
        }))
    })
    .await
    .map(Json)
}

/// `GET /api/v1/moderation/reviews`: pending reviews, oldest first (moderators).
pub async fn queue(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        moderator(&state, &headers, "moderate reviews")?;
        let pending = state
            .db
            .store()
            .reviews_in(ReviewState::Pending, MAX_QUEUE)?;
        Ok(json!({ "reviews": pending.iter().map(review_json).collect::<Vec<_>>() }))
    })
    .await
    .map(Json)
}

/// The body of an approval.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The revision of the review the moderator saw (`revision` in the queue); required
    /// (`SB1911` without it).
    pub revision: Option<String>,
}

/// `SB1911`: a decision on review `id` without a revision.
fn no_revision(id: &str, reason: &str) -> ServerError {
    ServerError::RevisionMissing {
        id: id.chars().take(24).collect(),
        reason: reason.chars().take(200).collect(),
    }
}

/// `POST /api/v1/moderation/reviews/ID/approve` `{"revision"}`.
pub async fn approve(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<ApproveBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = moderator(&state, &headers, "moderate reviews")?;
        let id = id_of(id)?;
        let revision = match body {
            Ok(Json(b)) => b.revision,
            Err(e) => return Err(no_revision(&id, &e.body_text()).into()),
        }
        .ok_or_else(|| no_revision(&id, "the body has no `revision`"))?;
        let r = decide(&state, &token.account, &id, &revision, None)?;
        Ok(review_json(&r))
    })
    .await
    .map(Json)
}

/// The body of a rejection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    /// Why (its author sees it); required.
    pub reason: String,
    /// The revision of the review the moderator saw (`revision` in the queue); required
    /// (`SB1911` without it).
    pub revision: Option<String>,
}

/// `POST /api/v1/moderation/reviews/ID/reject` `{"reason"}`.
pub async fn reject(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<RejectBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = moderator(&state, &headers, "moderate reviews")?;
        let id = id_of(id)?;
        let body = json_body(body)?;
        let revision = body
            .revision
            .as_deref()
            .ok_or_else(|| no_revision(&id, "the body has no `revision`"))?;
        let r = decide(&state, &token.account, &id, revision, Some(&body.reason))?;
        Ok(review_json(&r))
    })
    .await
    .map(Json)
}

/// The body of an abuse report.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    /// The plugin reported (or whose review is).
    pub plugin: String,
    /// The review reported, if it is one.
    #[serde(default)]
    pub review: Option<i64>,
    /// What is wrong.
    pub reason: String,
}

/// `POST /api/v1/reports`: 201 with the report (open).
pub async fn create_report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<ReportBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        let body = json_body(body)?;
        let r = report(&state, &token, &body.plugin, body.review, &body.reason)?;
        Ok((StatusCode::CREATED, Json(report_json(&r))))
    })
    .await
}

/// `GET /api/v1/moderation/reports`: open reports, oldest first (moderators).
pub async fn reports(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        moderator(&state, &headers, "see abuse reports")?;
        let open = state.db.store().reports_in(ReportState::Open, MAX_QUEUE)?;
        Ok(json!({ "reports": open.iter().map(report_json).collect::<Vec<_>>() }))
    })
    .await
    .map(Json)
}

/// The body of a resolution.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// `dismissed` or `actioned`.
    pub outcome: String,
    /// What was done, or why nothing.
    pub note: String,
}

/// `POST /api/v1/moderation/reports/ID/resolve` `{"outcome", "note"}`.
pub async fn resolve_report(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<ResolveBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = moderator(&state, &headers, "resolve abuse reports")?;
        let id = id_of(id)?;
        let body = json_body(body)?;
        let r = resolve(&state, &token.account, &id, &body.outcome, &body.note)?;
        Ok(report_json(&r))
    })
    .await
    .map(Json)
}

/// The routes of reviews, moderation and reports.
pub(super) fn routes() -> axum::Router<Arc<AppState>> {
    use axum::routing::{get, post, put};
    axum::Router::new()
        .route("/api/v1/plugins/{name}/reviews", get(list).post(create))
        .route(
            "/api/v1/plugins/{name}/reviews/{id}",
            put(edit).delete(remove),
        )
        .route("/api/v1/reviews/mine", get(mine))
        .route("/api/v1/moderation/reviews", get(queue))
        .route("/api/v1/moderation/reviews/{id}/approve", post(approve))
        .route("/api/v1/moderation/reviews/{id}/reject", post(reject))
        .route("/api/v1/reports", post(create_report))
        .route("/api/v1/moderation/reports", get(reports))
        .route(
            "/api/v1/moderation/reports/{id}/resolve",
            post(resolve_report),
        )
}

/// Adds the reviews' paths and schemas to the OpenAPI document.
pub(super) fn describe(doc: &mut Value) {
    use super::openapi::{body, error_responses, with_ok};
    let bearer = json!([{ "token": [] }]);
    let name = json!({ "name": "name", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[a-z][a-z0-9_-]{0,63}$" } });
    let id = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "integer", "minimum": 1 } });
    let text = json!({ "type": "string", "minLength": 1, "maxLength": MAX_REVIEW_CHARS, "pattern": "\\S" });
    let reason = json!({ "type": "string", "minLength": 1, "maxLength": MAX_REASON_CHARS, "pattern": "\\S" });
    let rating = json!({ "type": "integer", "minimum": 1, "maximum": 5 });
    let revision = json!({ "type": "string", "description": "the review's `revision` as the moderation queue showed it" });
    let created = |schema: &str, codes: &[&str]| {
        let mut r = error_responses(codes);
        r["201"] = json!({ "description": "created", "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } });
        r
    };
    let paths = json!({
        "/api/v1/plugins/{name}/reviews": {
            "get": {
                "summary": "The approved reviews of a plugin, newest first, one page, with its rating: the damped average of approved reviews (docs/marketplace.md), the plain mean and the count",
                "parameters": [name,
                    { "name": "page", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 1 } },
                    { "name": "per_page", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": DEFAULT_PER_PAGE } }],
                "responses": with_ok(error_responses(&["400", "404"]), "ReviewPage")
            },
            "post": {
                "summary": "Review a published version (any valid token; not an owner of the plugin; one per account per version, SB1455): pending until a moderator approves it",
                "security": bearer,
                "parameters": [name],
                "requestBody": body(&["version", "rating", "text"], json!({ "version": { "type": "string", "pattern": super::openapi::SEMVER }, "rating": rating, "text": text })),
                "responses": created("Review", &["400", "401", "403", "404", "409"])
            }
        },
        "/api/v1/plugins/{name}/reviews/{id}": {
            "put": {
                "summary": "Replace your review's rating and text; it goes back to moderation (its author only)",
                "security": bearer,
                "parameters": [name, id],
                "requestBody": body(&["rating", "text"], json!({ "rating": rating, "text": text })),
                "responses": with_ok(error_responses(&["400", "401", "403", "404"]), "Review")
            },
            "delete": {
                "summary": "Delete a review (its author, or a moderator: scope moderate or admin); audited",
                "security": bearer,
                "parameters": [name, id],
                "responses": with_ok(error_responses(&["400", "401", "403", "404"]), "Object")
            }
        },
        "/api/v1/reviews/mine": { "get": {
            "summary": "The token's account's reviews in every state (pending, approved, rejected with the reason)",
            "security": bearer,
            "responses": with_ok(error_responses(&["401"]), "Object")
        } },
        "/api/v1/moderation/reviews": { "get": {
            "summary": "Reviews pending moderation, oldest first (scope moderate or admin)",
            "security": bearer,
            "responses": with_ok(error_responses(&["401", "403"]), "Object")
        } },
        "/api/v1/moderation/reviews/{id}/approve": { "post": {
            "summary": "Approve a pending review: it is shown and counted in the rating (moderate or admin); audited. `revision` is the review's revision the moderator saw (from the queue): a review changed since is refused, 409 SB1910",
            "security": bearer,
            "parameters": [id],
            "requestBody": body(&["revision"], json!({ "revision": revision })),
            "responses": with_ok(error_responses(&["400", "401", "403", "404", "409"]), "Review")
        } },
        "/api/v1/moderation/reviews/{id}/reject": { "post": {
            "summary": "Reject a pending review with a reason its author sees (moderate or admin); audited. `revision` as for approve (409 SB1910 when the review changed since)",
            "security": bearer,
            "parameters": [id],
            "requestBody": body(&["reason", "revision"], json!({ "reason": reason, "revision": revision })),
            "responses": with_ok(error_responses(&["400", "401", "403", "404", "409"]), "Review")
        } },
        "/api/v1/reports": { "post": {
            "summary": "Report a plugin, or one of its reviews, for abuse (any valid token); audited",
            "security": bearer,
            "requestBody": body(&["plugin", "reason"], json!({ "plugin": { "type": "string" }, "review": { "type": "integer", "minimum": 1 }, "reason": reason })),
            "responses": created("Report", &["400", "401", "404"])
        } },
        "/api/v1/moderation/reports": { "get": {
            "summary": "Open abuse reports, oldest first (moderate or admin)",
            "security": bearer,
            "responses": with_ok(error_responses(&["401", "403"]), "Object")
        } },
        "/api/v1/moderation/reports/{id}/resolve": { "post": {
            "summary": "Resolve an open report as dismissed or actioned, with a note (moderate or admin); audited",
            "security": bearer,
            "parameters": [id],
            "requestBody": body(&["outcome", "note"], json!({ "outcome": { "type": "string", "enum": ["dismissed", "actioned"] }, "note": reason })),
            "responses": with_ok(error_responses(&["400", "401", "403", "404", "409"]), "Report")
        } }
    });
    let schemas = json!({
        "Rating": { "type": "object", "required": ["average", "mean", "count"], "properties": {
            "average": { "type": "number", "minimum": 1, "maximum": 5, "description": "the damped average of approved reviews: (5 × 3 + Σ stars) / (5 + count), to hundredths" },
            "mean": { "type": ["number", "null"] }, "count": { "type": "integer", "minimum": 0 } } },
        "Review": { "type": "object", "required": ["id", "plugin", "version", "account", "rating", "text", "state"], "properties": {
            "id": { "type": "integer" }, "plugin": { "type": "string" }, "version": { "type": "string" },
            "account": { "type": "string" }, "rating": { "type": "integer", "minimum": 1, "maximum": 5 },
            "text": { "type": "string" }, "state": { "type": "string", "enum": ["pending", "approved", "rejected"] },
            "reason": { "type": ["string", "null"] }, "created": { "type": "integer" }, "updated": { "type": "integer" },
            "decided": { "type": ["integer", "null"] }, "decided_by": { "type": ["string", "null"] },
            "revision": { "type": "string", "pattern": "^[0-9a-f]{16}$", "description": "what a moderator saw: approve and reject name it (SB1910 when the review changed since)" } } },
        "ReviewPage": { "type": "object", "required": ["name", "rating", "page", "per_page", "pages", "total", "reviews"], "properties": {
            "name": { "type": "string" }, "rating": { "$ref": "#/components/schemas/Rating" },
            "page": { "type": "integer" }, "per_page": { "type": "integer" }, "pages": { "type": "integer", "minimum": 1 },
            "total": { "type": "integer", "minimum": 0 },
            "reviews": { "type": "array", "items": { "type": "object", "required": ["id", "version", "account", "rating", "text"] } } } },
        "Report": { "type": "object", "required": ["id", "kind", "plugin", "account", "reason", "state"], "properties": {
            "id": { "type": "integer" }, "kind": { "type": "string", "enum": ["plugin", "review"] },
            "plugin": { "type": "string" }, "review": { "type": ["integer", "null"] }, "account": { "type": "string" },
            "reason": { "type": "string" }, "state": { "type": "string", "enum": ["open", "dismissed", "actioned"] },
            "note": { "type": ["string", "null"] }, "created": { "type": "integer" },
            "resolved": { "type": ["integer", "null"] }, "resolved_by": { "type": ["string", "null"] } } }
    });
    if let (Some(to), Some(from)) = (doc["paths"].as_object_mut(), paths.as_object()) {
        to.extend(from.clone());
    }
    if let (Some(to), Some(from)) = (
        doc["components"]["schemas"].as_object_mut(),
        schemas.as_object(),
    ) {
        to.extend(from.clone());
    }
}
