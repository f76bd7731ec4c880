//! Changing the registry over HTTP, with a token: `POST /api/v1/publish` (the package as the
//! body, its `.minisig` in base64 in the `Switchboard-Signature` header, `?channel=` optional)
//! and its file name in `Switchboard-Package-File`) and `POST /api/v1/plugins/NAME/yank` / `/unyank` (JSON `{"version", "reason"}`).
//!
//! The server runs exactly what `switchboard publish` runs on a directory
//! ([`publish::publish_checked`]): the host's own package verification and preflight, the
//! name rules, duplicate versions — and refuses with that error's code. Before anything is
//! written it checks the token's scope and claims the name for the token's account (or
//! refuses a name another account owns).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{blocking, ApiError};
use super::tokens::{self, Scope, TokenInfo};
use super::uploads::{self, CheckResult, Outcome, Upload, UploadState};
use super::AppState;
use super::{accounts, audit, checks, squat};
use crate::error::{PublishError, ServerError};
use crate::format::{validate_name, Channel};
use crate::publish::{self, Expiries, PublishOptions};
use crate::RegistryError;

/// The header carrying the package's `.minisig`, base64-encoded.
pub const SIGNATURE_HEADER: &str = "switchboard-signature";
/// The header naming the package's file (`NAME-VERSION.sbpkg`): a host checks that a file
/// named for a release holds it, so the upload is staged under its own name.
pub const FILE_HEADER: &str = "switchboard-package-file";
/// The largest `.minisig` accepted.
pub const MAX_SIGNATURE_BYTES: usize = 64 << 10;

/// `POST /api/v1/publish` parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishParams {
    /// draft, beta or ga (default ga).
    pub channel: Option<String>,
}

fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn wrong_scope(token: &TokenInfo, action: String) -> ServerError {
    ServerError::WrongScope {
        id: token.id.clone(),
        scope: token.scope.to_string(),
        action,
    }
}

/// Runs before `POST /api/v1/publish` reads its body: the token is checked (and its scope
/// may publish) first, so nobody without one can make the server read and hold an upload.
/// The token goes to the handler in the request's extensions.
pub async fn authorize_upload(
    State(state): State<Arc<AppState>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<axum::response::Response, ApiError> {
    let header = authorization(request.headers());
    let limit = state.max_upload_bytes;
    let checked = blocking(move || {
        let token = tokens::authenticate(&state.db, header.as_deref())?;
        if !matches!(token.scope, Scope::Publish(_) | Scope::Admin) {
            return Err(wrong_scope(&token, "publish".into()).into());
        }
        Ok(token)
    })
    .await;
    match checked {
        Ok(token) => {
            request.extensions_mut().insert(token);
            Ok(next.run(request).await)
        }
        Err(refusal) => {
            drain(request.into_body(), limit).await;
            Err(refusal)
        }
    }
}

/// Reads and drops what a refused upload sends, frame by frame, up to `limit` bytes: a
/// client still writing its body when the refusal came would otherwise see a broken pipe
/// instead of the refusal. Nothing is kept, so this costs bandwidth, not memory.
async fn drain(body: axum::body::Body, limit: u64) {
    use http_body_util::BodyExt as _;
    let mut body = body;
    let mut read: u64 = 0;
    while read <= limit {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    read = read.saturating_add(data.len() as u64);
                }
            }
            Some(Err(_)) | None => return,
        }
    }
}

/// `POST /api/v1/publish` (after [`authorize_upload`]): stores the upload, runs every check
/// ([`super::checks`]), records them, then lists it, holds it for review, or refuses it
/// with the first failure's code — synchronously, in this request.
pub async fn publish(
    State(state): State<Arc<AppState>>,
    axum::Extension(token): axum::Extension<TokenInfo>,
    params: Result<Query<PublishParams>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let limit = state.max_upload_bytes;
    blocking(move || {
        let Query(params) = params.map_err(|e| ServerError::BadQuery {
            reason: e.body_text(),
        })?;
        let channel = match params.channel.as_deref() {
            None => Channel::Ga,
            Some(c) => c
                .parse::<Channel>()
                .map_err(|reason| ServerError::BadQuery { reason })?,
        };
        let body = body.map_err(|e| -> ApiError {
            if e.status().as_u16() == 413 {
                ServerError::UploadTooLarge { limit }.into()
            } else {
                ServerError::Malformed {
                    reason: e.body_text(),
                }
                .into()
            }
        })?;
        if body.len() as u64 > limit {
            return Err(ServerError::UploadTooLarge { limit }.into());
        }
        if body.is_empty() {
            return Err(ServerError::Malformed {
                reason: "the body is empty (it must be the package)".into(),
            }
            .into());
        }
        let signature = signature(&headers)?;
        let file_name = file_name(&headers)?;
        let (name, version) = release_of_file(&file_name)?;
        if !token.scope.may_publish(&name) {
            return Err(wrong_scope(&token, format!("publish `{name}`")).into());
        }
        let catalog = state.catalog.get(&state.data.registry)?;
        // Who may publish the name, decided before anything is stored.
        let owners = accounts::owners(&state.db, &name)?;
        let admin = token.scope == Scope::Admin;
        if !admin && !owners.iter().any(|o| o.account == token.account) {
            if let Some(first) = owners.first() {
                return Err(ServerError::NotOwner {
                    name,
                    account: token.account.clone(),
                    owner: first.account.clone(),
                }
                .into());
            }
            if catalog.plugins.contains_key(&name) {
                return Err(ServerError::UnclaimedName {
                    name,
                    account: token.account.clone(),
                }
                .into());
            }
        }
        let mut signers = vec![token.account.clone()];
        if admin {
            signers.extend(owners.iter().map(|o| o.account.clone()));
        }
        // Stored, and recorded as `checking` (unlisted), before any check runs.
        let id = tokens::random_hex(8)?;
        let package = state.artifacts.stage(&id, &file_name, &body, &signature)?;
        let mut upload = Upload {
            id: id.clone(),
            account: token.account.clone(),
            name: name.clone(),
            version: version.clone(),
            channel: channel.to_string(),
            sha256: crate::sha256_hex(&body),
            size: body.len() as u64,
            state: UploadState::Checking,
            reason: None,
            created: tokens::now(),
            decided: None,
            decided_by: None,
            checks: Vec::new(),
        };
        uploads::insert(&state.db, &upload)?;
        drop(body);
        let signature_text = String::from_utf8_lossy(&signature).into_owned();
        let staged = checks::Staged {
            package: &package,
            file_name: &file_name,
            name: &name,
            version: &version,
            signature: &signature_text,
            size: upload.size,
            limit,
            signers,
            registry_keys: &state.data.keys,
        };
        let findings = checks::run_all(&state.db, &catalog, &staged, &id);
        if let Some(refusal) = findings.refusal {
            state.artifacts.discard(&id);
            uploads::finish(
                &state.db,
                &id,
                &findings.results,
                UploadState::Failed,
                Some(&refusal.message()),
                None,
            )?;
            upload.state = UploadState::Failed;
            upload.checks = findings.results;
            return Ok(refusal_with_upload(refusal, &upload));
        }
        upload.checks = findings.results;
        // A new name close to a listed one waits for an admin.
        if owners.is_empty() {
            let downloads = state.downloads.snapshot();
            // The account's names in one query; should it fail, nothing counts as its own
            // (the upload is held rather than listed).
            let mine = accounts::owned_by(&state.db, &token.account).unwrap_or_default();
            let hold = squat::hold_reason(
                &name,
                catalog
                    .plugins
                    .keys()
                    .map(|n| (n.as_str(), downloads.get(n).copied().unwrap_or(0))),
                &squat::owned_set(&mine),
                state.popular_downloads,
            );
            if let Some((similar, why)) = hold {
                upload.checks.push(CheckResult::new(
                    "squatting",
                    Outcome::Passed,
                    None,
                    format!("held for review: {why}"),
                ));
                uploads::finish(
                    &state.db,
                    &id,
                    &upload.checks,
                    UploadState::Held,
                    Some(&why),
                    None,
                )?;
                upload.state = UploadState::Held;
                upload.reason = Some(why);
                let mut doc = upload_json(&upload);
                doc["similar"] = json!(similar);
                return Ok((StatusCode::ACCEPTED, Json(doc)).into_response());
            }
        }
        match list(&state, &mut upload, &package, findings.key, None) {
            Ok(listed) => Ok(Json(listed).into_response()),
            Err(ApiError(refusal)) => Ok(refusal_with_upload(refusal, &upload)),
        }
    })
    .await
}

/// A refused upload's answer: the coded error, plus the upload's id, state and checks (it
/// stays recorded, unlisted, at `/api/v1/uploads/ID`).
fn refusal_with_upload(refusal: RegistryError, upload: &Upload) -> Response {
    let e = ApiError(refusal);
    let mut body = e.body();
    body["upload"] = json!(upload.id);
    body["state"] = json!(upload.state);
    body["checks"] = json!(upload.checks);
    (e.status(), Json(body)).into_response()
}

/// The name and version a package's file name gives (`NAME-VERSION.sbpkg`; the version may
/// hold `-` itself).
fn release_of_file(file_name: &str) -> Result<(String, String), ServerError> {
    let stem = file_name.strip_suffix(".sbpkg").unwrap_or(file_name);
    for (i, _) in stem.match_indices('-') {
        let (name, version) = (&stem[..i], &stem[i + 1..]);
        if validate_name(name).is_ok() && semver::Version::parse(version).is_ok() {
            return Ok((name.to_owned(), version.to_owned()));
        }
    }
    Err(ServerError::Malformed {
        reason: format!("`{file_name}` is not NAME-VERSION.sbpkg with a plugin name and a version"),
    })
}

/// Lists a checked upload: the registry's own publish (which verifies the package again as a
/// host would, claims a new name for the uploader under the registry's lock, and refuses
/// duplicates), then records the outcome. A failure here is recorded as the `listing` check.
fn list(
    state: &AppState,
    upload: &mut Upload,
    package: &std::path::Path,
    key: Option<accounts::BoundKey>,
    decided_by: Option<&str>,
) -> Result<Value, ApiError> {
    let channel = upload
        .channel
        .parse::<Channel>()
        .map_err(|reason| ServerError::Internal { reason })?;
    let options = PublishOptions {
        channel,
        publisher_keys: key.iter().map(|k| k.public_key.clone()).collect(),
        ..PublishOptions::default()
    };
    let account = upload.account.clone();
    let mut claimed: Option<String> = None;
    let writing = state
        .registry_writes
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let result = publish::publish_checked(
        &state.data.registry,
        &state.data.keys,
        package,
        &options,
        &mut |line| {
            if accounts::claim_new(&state.db, &line.name, &account)? {
                claimed = Some(line.name.clone());
            }
            Ok(())
        },
    );
    drop(writing);
    state.artifacts.discard(&upload.id);
    let report = match result {
        Ok(r) => r,
        Err(mut e) => {
            if let Some(name) = claimed {
                accounts::unclaim(&state.db, &name, &account)?;
            }
            // Name the upload as its publisher named it, not by the server's staging path.
            let staged = package.display().to_string();
            let file = package
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            match &mut e {
                RegistryError::Publish(PublishError::PackageRefused {
                    package: p, reason, ..
                }) => {
                    *p = file.clone();
                    *reason = reason.replace(&staged, &file);
                }
                RegistryError::Publish(PublishError::Unsigned { package: p }) => {
                    *p = file.clone();
                }
                _ => {}
            }
            upload.checks.push(CheckResult::new(
                "listing",
                Outcome::Failed,
                Some(e.code().to_string()),
                e.message(),
            ));
            uploads::finish(
                &state.db,
                &upload.id,
                &upload.checks,
                UploadState::Failed,
                Some(&e.message()),
                decided_by,
            )?;
            upload.state = UploadState::Failed;
            return Err(e.into());
        }
    };
    let l = &report.line;
    upload.checks.push(CheckResult::new(
        "listing",
        Outcome::Passed,
        None,
        if report.added {
            format!("listed in {} as {}", l.channel, report.package_path)
        } else {
            "already listed with these bytes; nothing changed".into()
        },
    ));
    uploads::finish(
        &state.db,
        &upload.id,
        &upload.checks,
        UploadState::Listed,
        None,
        decided_by,
    )?;
    upload.state = UploadState::Listed;
    upload.decided = Some(tokens::now());
    upload.decided_by = decided_by.map(str::to_owned);
    let mut doc = upload_json(upload);
    let extra = json!({
        "name": l.name,
        "version": l.version.to_string(),
        "channel": l.channel,
        "sha256": l.sha256,
        "size": l.size,
        "trust": l.trust.to_string(),
        "signer": l.signer,
        "added": report.added,
        "account": tokens::owner(&state.db, &l.name)?,
        "download": format!("/index/{}", report.package_path),
        "snapshot_version": report.snapshot_version,
    });
    if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    Ok(doc)
}

/// An upload as the API answers it: `upload` (its id), `state`, `reason`, `checks`.
pub fn upload_json(u: &Upload) -> Value {
    json!({
        "upload": u.id,
        "account": u.account,
        "name": u.name,
        "version": u.version,
        "channel": u.channel,
        "sha256": u.sha256,
        "size": u.size,
        "state": u.state,
        "reason": u.reason,
        "created": u.created,
        "decided": u.decided,
        "decided_by": u.decided_by,
        "checks": u.checks,
    })
}

/// Releases the held upload `id` (an admin's decision): its checks run again on the stored
/// package, and it is listed for its uploader's account.
pub fn release_hold(state: &AppState, id: &str, admin: &str) -> Result<Value, ApiError> {
    let mut upload = held(state, id)?;
    let file_name = format!("{}-{}.sbpkg", upload.name, upload.version);
    let (package, signature) = state.artifacts.staged(id, &file_name)?;
    let catalog = state.catalog.get(&state.data.registry)?;
    let staged = checks::Staged {
        package: &package,
        file_name: &file_name,
        name: &upload.name,
        version: &upload.version,
        signature: &signature,
        size: upload.size,
        limit: state.max_upload_bytes,
        signers: vec![upload.account.clone()],
        registry_keys: &state.data.keys,
    };
    let findings = checks::run_all(&state.db, &catalog, &staged, id);
    let mut results = findings.results;
    results.push(CheckResult::new(
        "squatting",
        Outcome::Passed,
        None,
        format!("released by admin `{admin}`"),
    ));
    if let Some(refusal) = findings.refusal {
        state.artifacts.discard(id);
        uploads::finish(
            &state.db,
            id,
            &results,
            UploadState::Failed,
            Some(&refusal.message()),
            Some(admin),
        )?;
        return Err(refusal.into());
    }
    upload.checks = results;
    list(state, &mut upload, &package, findings.key, Some(admin))
}

/// Rejects the held upload `id`, with `reason`; its package is deleted.
pub fn reject_hold(
    state: &AppState,
    id: &str,
    admin: &str,
    reason: &str,
) -> Result<Value, ApiError> {
    let mut upload = held(state, id)?;
    state.artifacts.discard(id);
    let reason = if reason.trim().is_empty() {
        "rejected on review"
    } else {
        reason.trim()
    };
    uploads::finish(
        &state.db,
        id,
        &upload.checks,
        UploadState::Rejected,
        Some(reason),
        Some(admin),
    )?;
    upload.state = UploadState::Rejected;
    upload.reason = Some(reason.to_owned());
    upload.decided_by = Some(admin.to_owned());
    Ok(upload_json(&upload))
}

fn held(state: &AppState, id: &str) -> Result<Upload, ServerError> {
    let upload = uploads::get(&state.db, id)?.ok_or_else(|| ServerError::UnknownUpload {
        id: id.chars().take(40).collect(),
    })?;
    if upload.state != UploadState::Held {
        return Err(ServerError::NotHeld {
            id: id.to_owned(),
            state: upload.state.as_str().to_owned(),
        });
    }
    Ok(upload)
}

fn file_name(headers: &HeaderMap) -> Result<String, ServerError> {
    let malformed = |reason: &str| ServerError::Malformed {
        reason: reason.to_owned(),
    };
    let name = headers
        .get(FILE_HEADER)
        .ok_or_else(|| malformed("no Switchboard-Package-File header (NAME-VERSION.sbpkg)"))?
        .to_str()
        .map_err(|_| malformed("the Switchboard-Package-File header is not text"))?;
    let plain = name.len() <= 200
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'));
    if !plain || !name.ends_with(".sbpkg") {
        return Err(malformed(
            "Switchboard-Package-File must be a plain file name ending in .sbpkg",
        ));
    }
    Ok(name.to_owned())
}

fn signature(headers: &HeaderMap) -> Result<Vec<u8>, ServerError> {
    let malformed = |reason: &str| ServerError::Malformed {
        reason: reason.to_owned(),
    };
    let value = headers
        .get(SIGNATURE_HEADER)
        .ok_or_else(|| malformed("no Switchboard-Signature header (the package's .minisig)"))?;
    if value.len() > MAX_SIGNATURE_BYTES {
        return Err(malformed("the signature header is too long"));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.as_bytes())
        .map_err(|_| malformed("the Switchboard-Signature header is not base64"))?;
    if std::str::from_utf8(&bytes).is_err() || bytes.is_empty() {
        return Err(malformed("the signature is not a .minisig file's text"));
    }
    Ok(bytes)
}

/// The body of a yank or unyank.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YankBody {
    /// The release's version.
    pub version: String,
    /// Why (required to yank; ignored by unyank).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Checks that `token` may change `name`: an admin, or one of its owners. A name in the
/// registry that no account owns is changed by an admin only (`SB1440`).
pub fn require_owner(state: &AppState, name: &str, token: &TokenInfo) -> Result<(), ServerError> {
    let catalog = state.catalog.get(&state.data.registry)?;
    if !catalog.plugins.contains_key(name) {
        return Err(ServerError::UnknownPlugin {
            name: name.to_owned(),
        });
    }
    if token.scope == Scope::Admin {
        return Ok(());
    }
    let owners = accounts::owners(&state.db, name)?;
    if owners.iter().any(|o| o.account == token.account) {
        return Ok(());
    }
    match owners.first() {
        Some(o) => Err(ServerError::NotOwner {
            name: name.to_owned(),
            account: token.account.clone(),
            owner: o.account.clone(),
        }),
        None => Err(ServerError::UnclaimedName {
            name: name.to_owned(),
            account: token.account.clone(),
        }),
    }
}

/// The token of a request, checked.
pub fn authenticated(state: &AppState, headers: &HeaderMap) -> Result<TokenInfo, ServerError> {
    tokens::authenticate(&state.db, authorization(headers).as_deref())
}

/// A plugin name from the path, checked.
pub fn path_name(name: Result<Path<String>, PathRejection>) -> Result<String, ServerError> {
    let Path(name) = name.map_err(|e| ServerError::BadPath {
        path: "/api/v1/plugins/…".into(),
        reason: e.body_text(),
    })?;
    validate_name(&name).map_err(|e| ServerError::BadName {
        name: name.clone(),
        reason: e.to_string(),
    })?;
    Ok(name)
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ServerError> {
    body.map(|Json(b)| b).map_err(|e| ServerError::Malformed {
        reason: e.body_text(),
    })
}

fn version_of(text: &str) -> Result<semver::Version, ServerError> {
    semver::Version::parse(text).map_err(|e| ServerError::Malformed {
        reason: format!("version `{text}`: {e}"),
    })
}

async fn change(
    state: Arc<AppState>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<YankBody>, JsonRejection>,
    yank: bool,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        if !token.scope.may_yank() {
            return Err(wrong_scope(&token, "yank".into()).into());
        }
        let name = path_name(name)?;
        let body = json_body(body)?;
        let version = version_of(&body.version)?;
        require_owner(&state, &name, &token)?;
        let (dir, keys, exp) = (&state.data.registry, &state.data.keys, Expiries::default());
        let _writing = state
            .registry_writes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let reason = body.reason.unwrap_or_default();
        let report = if yank {
            publish::yank(dir, keys, &name, &version, &reason, &exp)?
        } else {
            publish::unyank(dir, keys, &name, &version, &exp)?
        };
        if report.changed {
            let action = if yank { "plugin.yank" } else { "plugin.unyank" };
            let subject = format!("plugin:{name}@{version}");
            audit::record(&state.db, &token.account, action, &subject, &reason)?;
        }
        let line = report.lines.iter().find(|l| l.version == version);
        Ok(json!({
            "name": name,
            "version": version.to_string(),
            "yanked": line.and_then(|l| l.yanked.as_ref()).map(|y| y.reason.clone()),
            "changed": report.changed,
        }))
    })
    .await
    .map(Json)
}

/// `POST /api/v1/plugins/NAME/yank` with `{"version", "reason"}`.
pub async fn yank(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<YankBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    change(state, name, headers, body, true).await
}

/// `POST /api/v1/plugins/NAME/unyank` with `{"version"}`.
pub async fn unyank(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<YankBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    change(state, name, headers, body, false).await
}

/// The body of a deprecation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeprecateBody {
    /// The plugin to use instead (in this registry).
    #[serde(default)]
    pub successor: Option<String>,
    /// A word to users (one line, at most 1024 bytes).
    #[serde(default)]
    pub message: Option<String>,
}

/// `POST /api/v1/plugins/NAME/deprecate` with `{"successor"?, "message"?}`: every release
/// is marked deprecated in the signed index. A token that may publish the name (of an
/// owner), or admin.
pub async fn deprecate(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<DeprecateBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        let name = path_name(name)?;
        if !token.scope.may_publish(&name) {
            return Err(wrong_scope(&token, format!("deprecate `{name}`")).into());
        }
        let body = json_body(body)?;
        require_owner(&state, &name, &token)?;
        let _writing = state
            .registry_writes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let report = publish::deprecate_with(
            &state.data.registry,
            &state.data.keys,
            &name,
            body.successor.as_deref(),
            body.message.as_deref(),
            &Expiries::default(),
        )?;
        if report.changed {
            let detail = format!(
                "successor: {}; message: {}",
                body.successor.as_deref().unwrap_or("-"),
                body.message.as_deref().unwrap_or("-")
            );
            let subject = format!("plugin:{name}");
            audit::record(
                &state.db,
                &token.account,
                "plugin.deprecate",
                &subject,
                &detail,
            )?;
        }
        let d = report.lines.first().and_then(|l| l.deprecated.clone());
        Ok(json!({
            "name": name,
            "deprecated": d,
            "changed": report.changed,
        }))
    })
    .await
    .map(Json)
}

/// The body of a promotion.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromoteBody {
    /// The release's version.
    pub version: String,
    /// `beta` or `ga` (forwards only: draft → beta → ga).
    pub channel: String,
}

/// `POST /api/v1/plugins/NAME/promote` with `{"version", "channel"}`.
pub async fn promote(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<PromoteBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        let name = path_name(name)?;
        if !token.scope.may_publish(&name) {
            return Err(wrong_scope(&token, format!("promote `{name}`")).into());
        }
        let body = json_body(body)?;
        let version = version_of(&body.version)?;
        let channel = body
            .channel
            .parse::<Channel>()
            .map_err(|reason| ServerError::Malformed { reason })?;
        require_owner(&state, &name, &token)?;
        let _writing = state
            .registry_writes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let report = publish::promote(
            &state.data.registry,
            &state.data.keys,
            &name,
            &version,
            channel,
            &Expiries::default(),
        )?;
        if report.changed {
            let subject = format!("plugin:{name}@{version}");
            let detail = format!("to {channel}");
            audit::record(
                &state.db,
                &token.account,
                "plugin.promote",
                &subject,
                &detail,
            )?;
        }
        Ok(json!({
            "name": name,
            "version": version.to_string(),
            "channel": channel,
            "changed": report.changed,
        }))
    })
    .await
    .map(Json)
}

#[cfg(test)]
mod tests {
    use crate::server::load::{plugin_name, serve_seeded};

    /// Registry changes sent at once by many clients queue inside the server: none finds
    /// the directory's lock taken by a sibling request (the fuzzer found 503 `SB1337` here).
    #[test]
    fn concurrent_changes_to_the_registry_all_succeed() {
        let tmp = tempfile::tempdir().unwrap();
        let (server, token) = serve_seeded(&tmp.path().join("data"), 8).unwrap();
        let url = server.url();
        let statuses: Vec<(String, u16, String)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (url, token) = (&url, &token);
                    s.spawn(move || {
                        let agent: ureq::Agent = ureq::Agent::config_builder()
                            .http_status_as_error(false)
                            .build()
                            .into();
                        let name = plugin_name(i % 4);
                        let (path, body) = match i % 4 {
                            0 | 1 => ("yank", r#"{"version": "1.1.0", "reason": "r"}"#),
                            2 => ("deprecate", r#"{"message": "old"}"#),
                            _ => ("unyank", r#"{"version": "1.0.0"}"#),
                        };
                        let mut r = agent
                            .post(format!("{url}/api/v1/plugins/{name}/{path}"))
                            .header("Authorization", format!("Bearer {token}"))
                            .header("Content-Type", "application/json")
                            .send(body)
                            .unwrap();
                        let text = r.body_mut().read_to_string().unwrap();
                        (format!("{path} {name}"), r.status().as_u16(), text)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (what, status, body) in statuses {
            assert_eq!(status, 200, "{what}: {body}");
        }
    }
}
