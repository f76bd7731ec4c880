//! The certification on the web page: the state and checks of the shown release on its
//! plugin page (with the reviewer's reason), and the reviewers' page `/admin/certification` —
//! the queue with approve and deny forms. No JavaScript: each form posts the reviewer's token
//! (a password field, never stored by the page) with the decision; the answer is a page.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::{blocking, render, respond, ErrorPage, PageError};
use crate::error::{CertifyError, ServerError};
use crate::server::certification;
use crate::server::store::certification::{Certification, CertificationState, Verdict};
use crate::server::AppState;
use crate::RegistryError;

/// The largest reviewer form accepted.
const MAX_FORM_BYTES: usize = 16 << 10;

/// One check as shown.
#[derive(Debug, Clone)]
pub(crate) struct CheckLine {
    pub(crate) name: String,
    pub(crate) result: &'static str,
    pub(crate) class: &'static str,
    /// The detail's first line.
    pub(crate) detail: String,
    /// Its further lines: one per smoke call of the `tests` check.
    pub(crate) lines: Vec<String>,
}

/// A certification request as shown.
#[derive(Debug, Clone)]
pub(crate) struct CertificationView {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) account: String,
    pub(crate) state: &'static str,
    pub(crate) state_words: &'static str,
    pub(crate) submitted: String,
    pub(crate) decided: Option<String>,
    pub(crate) decided_by: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) approvable: bool,
    pub(crate) blocking: String,
    pub(crate) checks: Vec<CheckLine>,
}

fn day(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

impl CertificationView {
    pub(crate) fn of(c: &Certification) -> Self {
        let blocking = c.blocking();
        CertificationView {
            id: c.id.clone(),
            name: c.name.clone(),
            version: c.version.clone(),
            account: c.account.clone(),
            state: c.state.as_str(),
            state_words: match c.state {
                CertificationState::Checking => "being checked",
                CertificationState::Pending => "waiting for a reviewer",
                CertificationState::Approved => "certified",
                CertificationState::Denied => "denied",
            },
            submitted: day(c.submitted),
            decided: c.decided.map(day),
            decided_by: c.decided_by.clone(),
            reason: c.reason.clone(),
            approvable: c.state == CertificationState::Pending
                && blocking.is_empty()
                && !c.checks.is_empty(),
            blocking: if c.checks.is_empty() {
                "no check result is recorded".into()
            } else {
                blocking
                    .iter()
                    .map(|k| format!("{} {}", k.name, k.verdict.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            checks: c
                .checks
                .iter()
                .map(|k| CheckLine {
                    name: k.name.clone(),
                    result: k.verdict.as_str(),
                    class: match k.verdict {
                        Verdict::Passed => "passed",
                        Verdict::Flagged => "flagged",
                        Verdict::Skipped => "skipped",
                        Verdict::Failed => "failed",
                        Verdict::NotRun => "not-run",
                        _ => "error",
                    },
                    detail: k.detail.lines().next().unwrap_or_default().to_owned(),
                    lines: k.detail.lines().skip(1).map(str::to_owned).collect(),
                })
                .collect(),
        }
    }
}

/// The newest request of `name@version`, for its plugin page (`None`: never submitted, or
/// the store could not say — the page shows the rest either way).
pub(crate) fn for_release(
    state: &AppState,
    name: &str,
    version: &str,
) -> Option<CertificationView> {
    certification::of_plugin(state, name)
        .ok()?
        .iter()
        .find(|c| c.version == version)
        .map(CertificationView::of)
}

/// The routes: `GET /admin/certification` and `POST /admin/certification/ID`.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/certification", get(queue_page))
        .route(
            "/admin/certification/{id}",
            axum::routing::post(decide_form),
        )
}

#[derive(Template)]
#[template(path = "page/admin_certification.html")]
struct QueuePage {
    requests: Vec<CertificationView>,
    key_id: String,
    done: Option<String>,
}

fn queue(state: &AppState, done: Option<String>) -> Result<QueuePage, PageError> {
    let requests = certification::pending(state)
        .map_err(|e| PageError::Internal {
            reason: e.to_string(),
        })?
        .iter()
        .map(CertificationView::of)
        .collect();
    Ok(QueuePage {
        requests,
        key_id: state.certifier.key_id().to_owned(),
        done,
    })
}

async fn queue_page(State(state): State<Arc<AppState>>) -> Result<Response, PageError> {
    let page = blocking(move || queue(&state, None)).await?;
    Ok(respond(StatusCode::OK, render(&page)?))
}

/// `application/x-www-form-urlencoded` fields (`+` is a space, `%XX` a byte).
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let escaped = (bytes[i] == b'%')
                .then(|| bytes.get(i + 1..i + 3))
                .flatten()
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], escaped) {
                (_, Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (b'+', None) => {
                    out.push(b' ');
                    i += 1;
                }
                (b, None) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn error_page(e: &RegistryError) -> Response {
    let status = match e {
        RegistryError::Server(s) => s.status(),
        _ => 400,
    };
    let page = ErrorPage {
        heading: "The decision was not recorded",
        message: e.message(),
        next_step: e.next_step(),
        code: e.code().to_string(),
        status,
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    match page.render() {
        Ok(html) => respond(status, html),
        Err(_) => (status, e.code().to_string()).into_response(),
    }
}

async fn decide_form(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    let result = blocking(move || {
        let outcome = (|| -> Result<String, RegistryError> {
            let Path(id) = id.map_err(|e| ServerError::BadPath {
                path: "/admin/certification/…".into(),
                reason: e.body_text(),
            })?;
            if body.len() > MAX_FORM_BYTES {
                return Err(ServerError::from(CertifyError::BadForm {
                    reason: "the form is larger than 16 KiB".into(),
                })
                .into());
            }
            let fields = form_fields(&body);
            let field = |k: &str| {
                fields
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
            };
            let bad = |reason: &str| -> RegistryError {
                ServerError::from(CertifyError::BadForm {
                    reason: reason.into(),
                })
                .into()
            };
            let token = field("token")
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| bad("no token"))?;
            let approve = match field("action").as_deref() {
                Some("approve") => true,
                Some("deny") => false,
                _ => return Err(bad("no action (approve or deny)")),
            };
            let header = format!("Bearer {}", token.trim());
            let token = crate::server::tokens::authenticate(&state.db, Some(&header))?;
            let reason = field("reason");
            let c = certification::decide(&state, &token, &id, approve, reason.as_deref())?;
            Ok(format!(
                "{}@{} is {} (request {}).",
                c.name,
                c.version,
                if approve { "certified" } else { "denied" },
                c.id
            ))
        })();
        match outcome {
            Ok(done) => {
                let page = queue(&state, Some(done))?;
                Ok(respond(StatusCode::OK, render(&page)?))
            }
            Err(e) => Ok(error_page(&e)),
        }
    })
    .await;
    match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::form_fields;

    #[test]
    fn form_fields_decode_plus_and_percent_and_keep_bad_escapes() {
        assert_eq!(
            form_fields(b"token=sbt_a_b&reason=too+broad%3A+fs.read%2F**&action=deny&x=%zz%4"),
            vec![
                ("token".to_owned(), "sbt_a_b".to_owned()),
                ("reason".to_owned(), "too broad: fs.read/**".to_owned()),
                ("action".to_owned(), "deny".to_owned()),
                ("x".to_owned(), "%zz%4".to_owned()),
            ]
        );
    }
}
