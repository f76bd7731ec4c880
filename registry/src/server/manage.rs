//! Accounts over HTTP: who a token is (`/api/v1/whoami`), a name's owners, an account's
//! signing keys, uploads and their checks, and the review queue of held uploads.
//!
//! Reading is open to anyone (owners, public keys, an upload's checks: what a page shows);
//! changing needs a token: `account` scope (of an owner, or of the key's account) or `admin`;
//! the review queue is an admin's.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{blocking, ApiError};
use super::publishing::{authenticated, path_name, require_owner, upload_json};
use super::tokens::{Scope, TokenInfo};
use super::uploads::{self, UploadState};
use super::{accounts, audit, publishing, AppState};
use crate::error::ServerError;

fn wrong_scope(token: &TokenInfo, action: &str) -> ServerError {
    ServerError::WrongScope {
        id: token.id.clone(),
        scope: token.scope.to_string(),
        action: action.to_owned(),
    }
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ServerError> {
    body.map(|Json(b)| b).map_err(|e| ServerError::Malformed {
        reason: e.body_text(),
    })
}

fn segment(
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, String), ServerError> {
    p.map(|Path(v)| v).map_err(|e| ServerError::BadPath {
        path: "/api/v1/…".into(),
        reason: e.body_text(),
    })
}

fn account_of_path(p: Result<Path<String>, PathRejection>) -> Result<String, ServerError> {
    let Path(account) = p.map_err(|e| ServerError::BadPath {
        path: "/api/v1/accounts/…".into(),
        reason: e.body_text(),
    })?;
    if !super::tokens::valid_account(&account) {
        return Err(ServerError::BadAccount {
            account: account.chars().take(80).collect(),
        });
    }
    Ok(account)
}

/// `GET /api/v1/whoami`: the token's account, scope and expiry.
pub async fn whoami(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let t = authenticated(&state, &headers)?;
        Ok(json!({
            "id": t.id,
            "account": t.account,
            "scope": t.scope.to_string(),
            "expires": t.expires,
        }))
    })
    .await
    .map(Json)
}

fn owners_json(state: &AppState, name: &str) -> Result<Value, ApiError> {
    Ok(json!({
        "name": name,
        "owners": accounts::owners(&state.db, name)?,
    }))
}

/// `GET /api/v1/plugins/NAME/owners`.
pub async fn owners(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let name = path_name(name)?;
        let catalog = state.catalog.get(&state.data.registry)?;
        if !catalog.plugins.contains_key(&name) {
            return Err(ServerError::UnknownPlugin { name }.into());
        }
        owners_json(&state, &name)
    })
    .await
    .map(Json)
}

/// The body of an owner addition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerBody {
    /// The account to add.
    pub account: String,
}

/// `POST /api/v1/plugins/NAME/owners` with `{"account"}`: an owner's `account`-scoped token,
/// or admin (which also assigns a name no account owns).
pub async fn add_owner(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<OwnerBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        if !token.scope.may_manage() {
            return Err(wrong_scope(&token, "manage owners").into());
        }
        let name = path_name(name)?;
        let body = json_body(body)?;
        require_owner(&state, &name, &token)?;
        let added = accounts::add_owner(&state.db, &name, &body.account, &token.account)?;
        if added {
            let subject = format!("plugin:{name}");
            audit::record(
                &state.db,
                &token.account,
                "owner.add",
                &subject,
                &body.account,
            )?;
        }
        let mut doc = owners_json(&state, &name)?;
        doc["changed"] = json!(added);
        Ok(doc)
    })
    .await
    .map(Json)
}

/// `DELETE /api/v1/plugins/NAME/owners/ACCOUNT`: the last owner stays (`SB1441`).
pub async fn remove_owner(
    State(state): State<Arc<AppState>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        if !token.scope.may_manage() {
            return Err(wrong_scope(&token, "manage owners").into());
        }
        let (name, account) = segment(path)?;
        let name = path_name(Ok(Path(name)))?;
        require_owner(&state, &name, &token)?;
        accounts::remove_owner(&state.db, &name, &account)?;
        let subject = format!("plugin:{name}");
        audit::record(
            &state.db,
            &token.account,
            "owner.remove",
            &subject,
            &account,
        )?;
        let mut doc = owners_json(&state, &name)?;
        doc["changed"] = json!(true);
        Ok(doc)
    })
    .await
    .map(Json)
}

/// `GET /api/v1/accounts/ACCOUNT/keys`: the public keys bound to an account.
pub async fn keys(
    State(state): State<Arc<AppState>>,
    account: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let account = account_of_path(account)?;
        Ok(json!({
            "account": account,
            "keys": accounts::keys(&state.db, &account)?,
        }))
    })
    .await
    .map(Json)
}

/// The body of a key binding.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    /// The minisign public key: a `.pub` file's text or its base64 line.
    pub public_key: String,
}

fn may_manage_account(token: &TokenInfo, account: &str) -> Result<(), ServerError> {
    if token.scope == Scope::Admin || (token.scope.may_manage() && token.account == account) {
        Ok(())
    } else {
        Err(wrong_scope(
            token,
            &format!("manage the keys of account `{account}`"),
        ))
    }
}

/// `POST /api/v1/accounts/ACCOUNT/keys` with `{"public_key"}`: the account's own
/// `account`-scoped token, or admin.
pub async fn add_key(
    State(state): State<Arc<AppState>>,
    account: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<KeyBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        let account = account_of_path(account)?;
        may_manage_account(&token, &account)?;
        let body = json_body(body)?;
        let key = accounts::add_key(&state.db, &account, &body.public_key)?;
        let subject = format!("account:{account}");
        audit::record(&state.db, &token.account, "key.bind", &subject, &key.key_id)?;
        Ok(json!({ "key": key }))
    })
    .await
    .map(Json)
}

/// `DELETE /api/v1/accounts/ACCOUNT/keys/KEY_ID`.
pub async fn remove_key(
    State(state): State<Arc<AppState>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        let (account, key_id) = segment(path)?;
        let account = account_of_path(Ok(Path(account)))?;
        may_manage_account(&token, &account)?;
        let key = accounts::remove_key(&state.db, &account, &key_id)?;
        let subject = format!("account:{account}");
        audit::record(&state.db, &token.account, "key.unbind", &subject, &key_id)?;
        Ok(json!({ "key": key, "removed": true }))
    })
    .await
    .map(Json)
}

/// `GET /api/v1/uploads/ID`: an upload's state and every check's result.
pub async fn upload(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let Path(id) = id.map_err(|e| ServerError::BadPath {
            path: "/api/v1/uploads/…".into(),
            reason: e.body_text(),
        })?;
        let u = uploads::get(&state.db, &id)?.ok_or_else(|| ServerError::UnknownUpload {
            id: id.chars().take(40).collect(),
        })?;
        Ok(upload_json(&u))
    })
    .await
    .map(Json)
}

fn admin(state: &AppState, headers: &HeaderMap, action: &str) -> Result<TokenInfo, ServerError> {
    let token = authenticated(state, headers)?;
    if token.scope != Scope::Admin {
        return Err(wrong_scope(&token, action));
    }
    Ok(token)
}

/// `GET /api/v1/holds`: uploads held for review, oldest first (admin).
pub async fn holds(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        admin(&state, &headers, "review held uploads")?;
        let held = uploads::in_state(&state.db, UploadState::Held)?;
        Ok(json!({ "holds": held.iter().map(upload_json).collect::<Vec<_>>() }))
    })
    .await
    .map(Json)
}

fn hold_id(id: Result<Path<String>, PathRejection>) -> Result<String, ServerError> {
    id.map(|Path(id)| id).map_err(|e| ServerError::BadPath {
        path: "/api/v1/holds/…".into(),
        reason: e.body_text(),
    })
}

/// `POST /api/v1/holds/ID/release`: checks run again, then the upload is listed (admin).
pub async fn release(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = admin(&state, &headers, "release a held upload")?;
        let id = hold_id(id)?;
        let out = publishing::release_hold(&state, &id, &token.account)?;
        let subject = format!("upload:{id}");
        audit::record(&state.db, &token.account, "hold.release", &subject, "")?;
        Ok(out)
    })
    .await
    .map(Json)
}

/// The body of a rejection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    /// Why (shown to the uploader).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/v1/holds/ID/reject` with `{"reason"}` (admin).
pub async fn reject(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<RejectBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = admin(&state, &headers, "reject a held upload")?;
        let id = hold_id(id)?;
        let body = json_body(body)?;
        let reason = body.reason.as_deref().unwrap_or("");
        let out = publishing::reject_hold(&state, &id, &token.account, reason)?;
        let subject = format!("upload:{id}");
        audit::record(&state.db, &token.account, "hold.reject", &subject, reason)?;
        Ok(out)
    })
    .await
    .map(Json)
}
