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
use axum::http::{header, HeaderMap};
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{blocking, ApiError};
use super::tokens::{self, Scope, TokenInfo};
use super::AppState;
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

/// `POST /api/v1/publish` (after [`authorize_upload`]).
pub async fn publish(
    State(state): State<Arc<AppState>>,
    axum::Extension(token): axum::Extension<TokenInfo>,
    params: Result<Query<PublishParams>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
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
        let staging =
            tempfile::tempdir_in(&state.data.root).map_err(|e| ServerError::Internal {
                reason: format!("a staging directory: {e}"),
            })?;
        let package = staging.path().join(&file_name);
        let write = |p: &std::path::Path, b: &[u8]| {
            std::fs::write(p, b).map_err(|e| ServerError::Internal {
                reason: format!("{}: {e}", p.display()),
            })
        };
        write(&package, &body)?;
        write(
            &staging.path().join(format!("{file_name}.minisig")),
            &signature,
        )?;
        let options = PublishOptions {
            channel,
            ..PublishOptions::default()
        };
        let mut claimed: Option<String> = None;
        let result = publish::publish_checked(
            &state.data.registry,
            &state.data.keys,
            &package,
            &options,
            &mut |line| {
                if !token.scope.may_publish(&line.name) {
                    return Err(wrong_scope(&token, format!("publish `{}`", line.name)).into());
                }
                let owner = tokens::owner(&state.db, &line.name)?;
                if token.scope == Scope::Admin && owner.is_some() {
                    return Ok(());
                }
                if tokens::claim(&state.db, &line.name, &token.account)? {
                    claimed = Some(line.name.clone());
                }
                Ok(())
            },
        );
        let report = match result {
            Ok(r) => r,
            Err(mut e) => {
                if let Some(name) = claimed {
                    tokens::release(&state.db, &name, &token.account)?;
                }
                // Name the upload as its publisher named it, not by the server's staging path.
                let staged = package.display().to_string();
                match &mut e {
                    RegistryError::Publish(PublishError::PackageRefused {
                        package: p,
                        reason,
                        ..
                    }) => {
                        *p = file_name.clone();
                        *reason = reason.replace(&staged, &file_name);
                    }
                    RegistryError::Publish(PublishError::Unsigned { package: p }) => {
                        *p = file_name.clone();
                    }
                    _ => {}
                }
                return Err(e.into());
            }
        };
        let l = &report.line;
        Ok(json!({
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
        }))
    })
    .await
    .map(Json)
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

async fn change(
    state: Arc<AppState>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<YankBody>, JsonRejection>,
    yank: bool,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = tokens::authenticate(&state.db, authorization(&headers).as_deref())?;
        if !token.scope.may_yank() {
            return Err(wrong_scope(&token, "yank".into()).into());
        }
        let Path(name) = name.map_err(|e| ServerError::BadPath {
            path: "/api/v1/plugins/…".into(),
            reason: e.body_text(),
        })?;
        validate_name(&name).map_err(|e| ServerError::BadName {
            name: name.clone(),
            reason: e.to_string(),
        })?;
        let Json(body) = body.map_err(|e| ServerError::Malformed {
            reason: e.body_text(),
        })?;
        let version =
            semver::Version::parse(&body.version).map_err(|e| ServerError::Malformed {
                reason: format!("version `{}`: {e}", body.version),
            })?;
        let catalog = state.catalog.get(&state.data.registry)?;
        if !catalog.plugins.contains_key(&name) {
            return Err(ServerError::UnknownPlugin { name }.into());
        }
        if token.scope != Scope::Admin {
            match tokens::owner(&state.db, &name)? {
                Some(o) if o == token.account => {}
                owner => {
                    return Err(ServerError::NotOwner {
                        name,
                        account: token.account.clone(),
                        owner: owner
                            .unwrap_or_else(|| "(none: published outside the server)".into()),
                    }
                    .into())
                }
            }
        }
        let (dir, keys, exp) = (&state.data.registry, &state.data.keys, Expiries::default());
        let report = if yank {
            let reason = body.reason.unwrap_or_default();
            publish::yank(dir, keys, &name, &version, &reason, &exp)?
        } else {
            publish::unyank(dir, keys, &name, &version, &exp)?
        };
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
