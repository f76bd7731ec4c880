//! The server's audit trail: who did what to which plugin, version, account or review, when,
//! and why. Entries are only ever added (there is no endpoint or store method that changes or
//! removes one); `GET /api/v1/audit` lists them to an admin, newest first.
//!
//! What is recorded: yanks and unyanks (with the reason), deprecations, promotions, owners
//! added and removed, signing keys bound and unbound, held uploads released and rejected (with
//! the reason), and the marketplace's decisions (moderation, abuse reports, certification,
//! disputes), each by the module that makes it. An entry is written after the action it
//! records succeeded; if the write fails the request answers with the storage error, so a
//! caller never sees a success that was not recorded.
//!
//! Subjects name what was acted on, so one prefix finds a thing's history:
//! `plugin:NAME`, `plugin:NAME@VERSION`, `account:NAME`, `upload:ID`.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::api::{blocking, ApiError};
use super::publishing::authenticated;
use super::store::Database;
use super::tokens::{self, Scope};
use super::AppState;
use crate::error::ServerError;

/// The most entries one request lists.
pub const MAX_AUDIT_LIMIT: usize = 500;

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AuditEntry {
    /// Its id: larger for every later entry.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// The account that acted.
    pub actor: String,
    /// What it did, as a dotted word (`plugin.yank`, `owner.add`, `hold.reject`).
    pub action: String,
    /// What it acted on (`plugin:hello@1.0.0`, `account:acme`, `upload:u-…`).
    pub subject: String,
    /// The rest: a reason, a note, the other party.
    pub detail: String,
}

/// Records that `actor` did `action` to `subject` now.
///
/// ```no_run
/// # fn example(db: &switchboard_registry::server::store::Database) -> Result<(), switchboard_registry::error::ServerError> {
/// use switchboard_registry::server::audit;
/// audit::record(db, "acme", "plugin.yank", "plugin:hello@1.0.0", "broken on arm64")?;
/// # Ok(()) }
/// ```
pub fn record(
    db: &Database,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<i64, ServerError> {
    db.store()
        .record_audit(tokens::now(), actor, action, subject, detail)
}

/// The newest `limit` entries, newest first, of subjects starting with `subject_prefix`.
pub fn entries(
    db: &Database,
    subject_prefix: Option<&str>,
    limit: usize,
) -> Result<Vec<AuditEntry>, ServerError> {
    db.store().audit_entries(subject_prefix, limit)
}

/// The query of `GET /api/v1/audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Only subjects starting with this (`plugin:hello`).
    pub subject: Option<String>,
    /// At most this many (1–[`MAX_AUDIT_LIMIT`], default 100).
    pub limit: Option<String>,
}

/// `GET /api/v1/audit?subject=&limit=`: the audit trail, newest first (admin).
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| ServerError::BadQuery {
        reason: e.body_text(),
    })?;
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        if token.scope != Scope::Admin {
            return Err(ServerError::WrongScope {
                id: token.id.clone(),
                scope: token.scope.to_string(),
                action: "read the audit trail".into(),
            }
            .into());
        }
        let limit = match params.limit.as_deref() {
            None => 100,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_AUDIT_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ServerError::BadQuery {
                        reason: format!("limit={text} is not a number from 1 to {MAX_AUDIT_LIMIT}"),
                    }
                    .into())
                }
            },
        };
        if params.subject.as_ref().is_some_and(|s| s.len() > 256) {
            return Err(ServerError::BadQuery {
                reason: "subject is longer than 256 bytes".into(),
            }
            .into());
        }
        let found = entries(&state.db, params.subject.as_deref(), limit)?;
        Ok(json!({ "entries": found }))
    })
    .await
    .map(Json)
}
