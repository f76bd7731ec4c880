//! Reviews on the web page: the plugin page's rating (the damped average of approved
//! reviews), its approved reviews and the forms to write one and to report the plugin or a
//! review; and the moderators' page, `/admin/moderation`, with the pending reviews and the
//! open reports.
//!
//! The page runs no script and keeps no session: a browser user signs a form by pasting an
//! API token of their account into it (a password field, not remembered; any scope writes a
//! review or a report, `moderate` or `admin` moderates). The token goes in the form's body
//! to this server only (`form-action 'self'`), so no other site can make a browser post one
//! (it has no cookie to ride on). The moderation page carries the token in its own forms so
//! one sign-in works through the queue; it is sent `Cache-Control: no-store`.

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use super::{blocking, render, respond, PageError};
use crate::error::ServerError;
use crate::format::IndexLine;
use crate::server::reviews::{self as api, MAX_REASON_CHARS, MAX_REVIEW_CHARS};
use crate::server::store::reviews::{Report, ReportState, Review, ReviewState};
use crate::server::store::Database;
use crate::server::tokens::{self, TokenInfo};
use crate::server::AppState;

/// How many approved reviews the plugin page shows (the newest; the API pages the rest).
const SHOWN: usize = 20;

/// A review as the page shows it.
#[derive(Debug, Clone)]
pub(super) struct ReviewView {
    pub(super) id: i64,
    pub(super) version: String,
    pub(super) account: String,
    pub(super) rating: u8,
    pub(super) stars: String,
    pub(super) text: String,
    pub(super) date: String,
}

fn stars(n: u8) -> String {
    let n = usize::from(n.min(5));
    format!("{}{}", "★".repeat(n), "☆".repeat(5 - n))
}

fn day(at: i64) -> String {
    jiff::Timestamp::from_second(at)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

impl ReviewView {
    fn of(r: &Review) -> ReviewView {
        ReviewView {
            id: r.id,
            version: r.version.clone(),
            account: r.account.clone(),
            rating: r.rating,
            stars: stars(r.rating),
            text: r.text.clone(),
            date: day(r.updated),
        }
    }
}

/// The plugin page's reviews section.
#[derive(Debug, Clone)]
pub(super) struct ReviewsSection {
    pub(super) name: String,
    /// The damped average, to hundredths (`3.33`).
    pub(super) average: String,
    /// The average's stars, rounded to whole ones.
    pub(super) average_stars: String,
    /// The plain mean, when there are reviews.
    pub(super) mean: Option<String>,
    pub(super) count: u32,
    pub(super) reviews: Vec<ReviewView>,
    /// Whether there are more than are shown.
    pub(super) more: bool,
    /// The versions a review may be of, newest first.
    pub(super) versions: Vec<String>,
    /// The longest text accepted.
    pub(super) max_text: usize,
    /// The longest reason accepted.
    pub(super) max_reason: usize,
    /// Set when the store could not be read (the rest of the page still shows).
    pub(super) unavailable: bool,
}

/// The reviews section of `name`'s page.
pub(super) fn section(db: &Database, name: &str, releases: &[IndexLine]) -> ReviewsSection {
    let mut versions: Vec<&IndexLine> = releases.iter().collect();
    versions.sort_by(|a, b| b.version.cmp(&a.version));
    let rating = api::rating_of(db, name);
    let shown = db.store().reviews_of(name, ReviewState::Approved, 0, SHOWN);
    let unavailable = rating.is_err() || shown.is_err();
    let rating = rating.unwrap_or_else(|_| crate::market::damped_rating(&[]));
    let reviews: Vec<ReviewView> = shown
        .unwrap_or_default()
        .iter()
        .map(ReviewView::of)
        .collect();
    ReviewsSection {
        name: name.to_owned(),
        average: format!("{:.2}", rating.damped),
        average_stars: stars(
            (1u8..=5)
                .rev()
                .find(|s| f64::from(*s) - 0.5 <= rating.damped)
                .unwrap_or(1),
        ),
        mean: rating.mean.map(|m| format!("{m:.2}")),
        count: rating.count,
        more: (rating.count as usize) > reviews.len(),
        reviews,
        versions: versions.iter().map(|l| l.version.to_string()).collect(),
        max_text: MAX_REVIEW_CHARS,
        max_reason: MAX_REASON_CHARS,
        unavailable,
    }
}

/// The routes of the reviews' forms and the moderation page.
pub(super) fn routes() -> Router<Arc<AppState>> {
    use axum::routing::post;
    Router::new()
        .route("/plugins/{name}/reviews", post(write_review))
        .route("/plugins/{name}/report", post(report))
        .route(
            "/admin/moderation",
            get(moderation_sign_in).post(moderation),
        )
}

#[derive(Template)]
#[template(path = "page/review_done.html")]
struct Done {
    heading: String,
    message: String,
    code: Option<String>,
    next_step: Option<String>,
    back: String,
    back_label: String,
}

fn done(status: StatusCode, page: &Done) -> Result<Response, PageError> {
    Ok(no_store(respond(status, render(page)?)))
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The page for a refusal of a form: the code, the message and the next step, with its
/// status.
fn refused(
    e: &ServerError,
    heading: &str,
    back: &str,
    back_label: &str,
) -> Result<Response, PageError> {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    done(
        status,
        &Done {
            heading: heading.to_owned(),
            message: e.to_string(),
            code: Some(e.code().to_string()),
            next_step: Some(e.next_step()),
            back: back.to_owned(),
            back_label: back_label.to_owned(),
        },
    )
}

/// The fields of a form, by name (the last of a repeated one).
struct Fields(Vec<(String, String)>);

impl Fields {
    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

fn fields(form: Result<Form<Vec<(String, String)>>, FormRejection>) -> Result<Fields, ServerError> {
    form.map(|Form(f)| Fields(f))
        .map_err(|e| ServerError::Malformed {
            reason: e.body_text(),
        })
}

fn signed_in(db: &Database, token: &str) -> Result<TokenInfo, ServerError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(ServerError::Unauthenticated {
            reason: "no API token was pasted into the form".into(),
        });
    }
    tokens::authenticate(db, Some(&format!("Bearer {token}")))
}

fn plugin_name(name: Result<Path<String>, PathRejection>) -> Result<String, PageError> {
    let Path(name) = name.map_err(|e| PageError::BadName {
        what: "plugin",
        name: String::new(),
        reason: e.body_text(),
    })?;
    crate::format::validate_name(&name).map_err(|e| PageError::BadName {
        what: "plugin",
        name: super::error::shorten(&name, 40),
        reason: e.to_string(),
    })?;
    Ok(name)
}

/// A rating from a form: its digits as a JSON number (anything else stays text, refused).
fn form_rating(text: &str) -> Value {
    text.trim()
        .parse::<u64>()
        .map_or_else(|_| Value::String(text.to_owned()), Value::from)
}

async fn write_review(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, PageError> {
    let name = plugin_name(name)?;
    let back = format!("/plugins/{name}#reviews");
    let outcome = blocking(move || {
        Ok(fields(form).and_then(|f| {
            let token = signed_in(&state.db, f.get("token"))?;
            api::write(
                &state,
                &token,
                &name,
                f.get("version"),
                &form_rating(f.get("rating")),
                f.get("text"),
            )
        }))
    })
    .await?;
    match outcome {
        Ok(r) => done(
            StatusCode::OK,
            &Done {
                heading: "Thank you: your review waits for moderation".into(),
                message: format!(
                    "Your review of {}@{} ({} stars) is number {}. A moderator reads it before \
                     it is shown and counted in the rating.",
                    r.plugin, r.version, r.rating, r.id
                ),
                code: None,
                next_step: None,
                back,
                back_label: format!("Back to {}", r.plugin),
            },
        ),
        Err(e) => refused(
            &e,
            "Your review was not accepted",
            &back,
            "Back to the plugin",
        ),
    }
}

async fn report(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, PageError> {
    let name = plugin_name(name)?;
    let back = format!("/plugins/{name}#reviews");
    let outcome = blocking(move || {
        Ok(fields(form).and_then(|f| {
            let token = signed_in(&state.db, f.get("token"))?;
            let review = match f.get("review").trim() {
                "" => None,
                id => Some(id.trim_start_matches('#').parse::<i64>().map_err(|_| {
                    ServerError::BadReport {
                        reason: format!(
                            "`{}` is not a review number",
                            super::error::shorten(id, 20)
                        ),
                    }
                })?),
            };
            api::report(&state, &token, &name, review, f.get("reason"))
        }))
    })
    .await?;
    match outcome {
        Ok(r) => done(
            StatusCode::OK,
            &Done {
                heading: "Thank you: your report was received".into(),
                message: format!(
                    "Report {} on {} is in the moderators' queue.",
                    r.id,
                    match r.review {
                        Some(id) => format!("review {id} of {}", r.plugin),
                        None => r.plugin.clone(),
                    }
                ),
                code: None,
                next_step: None,
                back,
                back_label: format!("Back to {}", r.plugin),
            },
        ),
        Err(e) => refused(
            &e,
            "Your report was not accepted",
            &back,
            "Back to the plugin",
        ),
    }
}

/// A report as the moderation page shows it.
#[derive(Debug, Clone)]
struct ReportView {
    id: i64,
    plugin: String,
    review: Option<i64>,
    account: String,
    reason: String,
    date: String,
}

impl ReportView {
    fn of(r: &Report) -> ReportView {
        ReportView {
            id: r.id,
            plugin: r.plugin.clone(),
            review: r.review,
            account: r.account.clone(),
            reason: r.reason.clone(),
            date: day(r.created),
        }
    }
}

/// A pending review with its plugin, for the moderation page.
#[derive(Debug, Clone)]
struct PendingView {
    plugin: String,
    /// The review's revision as this page shows it: its forms send it back, so a decision
    /// on a review edited since is refused (`SB1910`).
    revision: String,
    r: ReviewView,
}

#[derive(Template)]
#[template(path = "page/moderation.html")]
struct ModerationPage {
    /// The moderator's token, carried in the page's forms (empty: the sign-in form).
    token: String,
    account: String,
    notice: Option<String>,
    pending: Vec<PendingView>,
    reports: Vec<ReportView>,
}

async fn moderation_sign_in() -> Result<Response, PageError> {
    let page = ModerationPage {
        token: String::new(),
        account: String::new(),
        notice: None,
        pending: Vec::new(),
        reports: Vec::new(),
    };
    Ok(no_store(respond(StatusCode::OK, render(&page)?)))
}

/// Does what the form asks (if anything) as the signed-in moderator; returns a notice.
fn act(state: &AppState, by: &str, f: &Fields) -> Result<Option<String>, ServerError> {
    let id = f.get("id");
    Ok(match f.get("action") {
        "" => None,
        "approve" => {
            let r = api::decide(state, by, id, f.get("revision"), None)?;
            Some(format!(
                "Approved review {} of {}@{}.",
                r.id, r.plugin, r.version
            ))
        }
        "reject" => {
            let r = api::decide(state, by, id, f.get("revision"), Some(f.get("reason")))?;
            Some(format!(
                "Rejected review {} of {}@{}.",
                r.id, r.plugin, r.version
            ))
        }
        "resolve" => {
            let r = api::resolve(state, by, id, f.get("outcome"), f.get("note"))?;
            Some(format!("Report {} {}.", r.id, r.state.as_str()))
        }
        other => {
            return Err(ServerError::BadChoice {
                value: super::error::shorten(other, 20),
                expected: "`approve`, `reject`, `resolve`".into(),
            })
        }
    })
}

async fn moderation(
    State(state): State<Arc<AppState>>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, PageError> {
    let back = "/admin/moderation";
    let outcome = blocking(move || {
        Ok(fields(form).and_then(|f| {
            let token = signed_in(&state.db, f.get("token"))?;
            if !token.scope.may_moderate() {
                return Err(ServerError::WrongScope {
                    id: token.id.clone(),
                    scope: token.scope.to_string(),
                    action: "moderate reviews and reports".into(),
                });
            }
            let notice = act(&state, &token.account, &f)?;
            let store = state.db.store();
            let pending = store
                .reviews_in(ReviewState::Pending, api::MAX_QUEUE)?
                .iter()
                .map(|r| PendingView {
                    plugin: r.plugin.clone(),
                    revision: r.revision(),
                    r: ReviewView::of(r),
                })
                .collect();
            let reports = store
                .reports_in(ReportState::Open, api::MAX_QUEUE)?
                .iter()
                .map(ReportView::of)
                .collect();
            Ok(ModerationPage {
                token: f.get("token").trim().to_owned(),
                account: token.account,
                notice,
                pending,
                reports,
            })
        }))
    })
    .await?;
    match outcome {
        Ok(page) => Ok(no_store(respond(StatusCode::OK, render(&page)?))),
        Err(e) => refused(&e, "That cannot be done", back, "Back to moderation"),
    }
}

/// The ratings search hits show, read again if the last reading is stale (see
/// `server::reviews::RatingList`).
pub(super) fn search_ratings(
    state: &AppState,
) -> Result<Arc<crate::server::search::rating::Ratings>, PageError> {
    state
        .ratings
        .refresh_if_stale(&state.db)
        .map_err(|e| PageError::Internal {
            reason: e.to_string(),
        })?;
    Ok(state.ratings.current())
}

/// `hits` with each one's rating in words, for those with an approved review.
pub(super) fn rated(
    mut hits: Vec<super::view::Hit>,
    ratings: &crate::server::search::rating::Ratings,
) -> Vec<super::view::Hit> {
    for h in &mut hits {
        h.rating = ratings.get(&h.name).map(|r| r.words());
    }
    hits
}
