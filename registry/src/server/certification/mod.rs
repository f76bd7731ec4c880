//! The certification pipeline (issue 21 item 2, SPEC S9.5): a publisher submits a listed
//! release, automated checks run and are recorded ([`checks`]), then a reviewer (a token of
//! scope `certify`, or `admin`) approves or denies it with a reason. Approval countersigns the
//! release with the registry's **certification key**: the index line gets trust `certified`
//! and the countersignature (`certification`), clients write it beside the package as
//! `PKG.cert`, and a host that trusts the key's public half (`HostBuilder::trust_registry`)
//! loads the release as `certified` through its existing check.
//!
//! **Fail closed.** A check that errors, or cannot run (`not-run`), is never a pass: approval
//! of a request with any `failed`, `error` or `not-run` check is refused (`SB1465`). `flagged`
//! results (broad capabilities, known-vulnerable dependencies) are the reviewer's to weigh.
//! Reviewers never decide their own account's requests (`SB1468`). Submissions, approvals and
//! denials (with the reason) go to the audit trail ([`super::audit`]); the reason of a denial
//! is shown to the publisher in the API and on the plugin's page.
//!
//! The key: `--certification-key FILE` (an unencrypted minisign secret key), or else
//! `keys/certification.key` in the data directory, made on the first start that needs it
//! (`0600`, its public half beside it as `certification.pub`). `GET /api/v1/certification/key`
//! serves the public key for hosts to trust.
//!
//! Endpoints: `POST|GET /api/v1/plugins/NAME/versions/VERSION/certification` (submit, status),
//! `GET /api/v1/certification/queue`, `POST /api/v1/certification/ID/approve|deny`,
//! `GET /api/v1/certification/key`.

pub mod advisories;
pub mod checks;
pub mod recovery;
pub mod smoke;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{blocking, ApiError};
use super::audit;
use super::data::DataDir;
use super::publishing::{authenticated, require_owner};
use super::store::certification::{Certification, CertificationState, Decision};
use super::tokens::{self, TokenInfo};
use super::AppState;
use crate::error::{CertifyError, ServerError};
use crate::format::{validate_name, IndexLine};
use crate::metadata::SigningKey;
use crate::publish::{self, Expiries};
use crate::RegistryError;

/// The certification key's file name in the data directory's `keys/`.
pub const KEY_FILE: &str = "certification.key";
/// Its public half, beside it.
pub const PUBLIC_KEY_FILE: &str = "certification.pub";
/// The longest reason a reviewer may give.
pub const MAX_REASON_CHARS: usize = 2000;
/// The most requests one queue answer lists.
pub const MAX_QUEUE: usize = 200;

/// The server's certification key and advisory database.
pub struct Certifier {
    key: SigningKey,
    key_path: PathBuf,
    advisory_db: Option<PathBuf>,
    smoke: smoke::SmokeOptions,
    pub(crate) smoke_lock: smoke::SmokeLock,
}

impl std::fmt::Debug for Certifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certifier")
            .field("key_id", &self.key.id())
            .field("key_path", &self.key_path)
            .field("advisory_db", &self.advisory_db)
            .field("smoke", &self.smoke)
            .finish()
    }
}

impl Certifier {
    /// Loads the certification key (`key_file`, or `keys/certification.key` of `data`, made
    /// now if missing) and checks the advisory database's layout and that a runner given in
    /// `smoke` is an executable file.
    pub fn open(
        data: &DataDir,
        key_file: Option<&Path>,
        advisory_db: Option<&Path>,
        smoke: &smoke::SmokeOptions,
    ) -> Result<Certifier, CertifyError> {
        if let Some(runner) = &smoke.runner {
            smoke::executable(runner.program()).map_err(|reason| CertifyError::Runner {
                path: runner.program().display().to_string(),
                reason,
            })?;
        }
        if let Some(dir) = advisory_db {
            advisories::check_db(dir).map_err(|reason| CertifyError::AdvisoryDb {
                path: dir.display().to_string(),
                reason,
            })?;
        }
        let (key, key_path) = match key_file {
            Some(path) => (read_key(path)?, path.to_owned()),
            None => {
                let path = data.keys.join(KEY_FILE);
                if path.exists() {
                    (read_key(&path)?, path)
                } else {
                    (make_key(&data.keys)?, path)
                }
            }
        };
        Ok(Certifier {
            key,
            key_path,
            advisory_db: advisory_db.map(Path::to_owned),
            smoke: smoke.clone(),
            smoke_lock: smoke::SmokeLock::default(),
        })
    }

    /// The public key's `.pub` text: what hosts trust for `certified`.
    pub fn public_key(&self) -> String {
        self.key.public_text()
    }

    /// The key's id.
    pub fn key_id(&self) -> &str {
        self.key.id()
    }

    /// The countersignature of `line`'s signature: a `.cert` file's text.
    pub fn countersign(&self, line: &IndexLine) -> Result<String, CertifyError> {
        let comment = switchboard_host::package::certification_comment(
            &line.name,
            &line.version.to_string(),
            line.signature.as_bytes(),
        );
        self.key
            .sign_with_comment(line.signature.as_bytes(), &comment)
            .map_err(|reason| CertifyError::Countersign {
                name: line.name.clone(),
                version: line.version.to_string(),
                reason,
            })
    }
}

fn key_error(path: &Path, reason: impl Into<String>) -> CertifyError {
    CertifyError::Key {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

fn read_key(path: &Path) -> Result<SigningKey, CertifyError> {
    let bytes =
        super::catalog::read_capped(path, 4096).map_err(|e| key_error(path, e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| key_error(path, "not text"))?;
    SigningKey::from_secret_text(&text).map_err(|e| key_error(path, e))
}

fn make_key(dir: &Path) -> Result<SigningKey, CertifyError> {
    let path = dir.join(KEY_FILE);
    let key = SigningKey::generate().map_err(|e| key_error(&path, e))?;
    let secret = key.secret_text().map_err(|e| key_error(&path, e))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let write = |p: &Path, bytes: &[u8], options: &std::fs::OpenOptions| {
        use std::io::Write as _;
        let mut f = options.open(p).map_err(|e| key_error(p, e.to_string()))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| key_error(p, e.to_string()))
    };
    write(&path, secret.as_bytes(), &options)?;
    let public = dir.join(PUBLIC_KEY_FILE);
    let mut plain = std::fs::OpenOptions::new();
    plain.write(true).create(true).truncate(true);
    write(&public, key.public_text().as_bytes(), &plain)?;
    Ok(key)
}

/// The request as the API answers it.
pub fn certification_json(c: &Certification) -> Value {
    let blocking = c.blocking();
    json!({
        "id": c.id,
        "name": c.name,
        "version": c.version,
        "account": c.account,
        "state": c.state.as_str(),
        "submitted": c.submitted,
        "decided": c.decided,
        "decided_by": c.decided_by,
        "reason": c.reason,
        "approvable": c.state == CertificationState::Pending && blocking.is_empty() && !c.checks.is_empty(),
        "blocking": blocking.iter().map(|b| b.name.clone()).collect::<Vec<_>>(),
        "checks": c.checks.iter().map(|k| json!({
            "name": k.name,
            "result": k.verdict.as_str(),
            "detail": k.detail,
        })).collect::<Vec<_>>(),
    })
}

/// The listed (not yanked) release `name@version`.
fn listed_release(state: &AppState, name: &str, version: &str) -> Result<IndexLine, ServerError> {
    let catalog = state.catalog.get(&state.data.registry)?;
    let unknown = |why: &str| CertifyError::UnknownRelease {
        name: name.to_owned(),
        version: version.to_owned(),
        why: why.to_owned(),
    };
    let Some(lines) = catalog.plugins.get(name) else {
        return Err(ServerError::UnknownPlugin {
            name: name.to_owned(),
        });
    };
    let line = lines
        .iter()
        .find(|l| l.version.to_string() == version)
        .ok_or_else(|| unknown(""))?;
    if line.is_yanked() {
        return Err(unknown(", it is yanked").into());
    }
    Ok(line.clone())
}

fn new_id() -> Result<String, ServerError> {
    Ok(format!("c-{}", tokens::random_hex(8)?))
}

/// Submits `name@version` for certification as `token`'s account and runs the checks (in
/// this call; blocking). The token must be one that may publish the name, of an owner, or
/// admin.
pub(crate) fn submit(
    state: &AppState,
    token: &TokenInfo,
    name: &str,
    version: &str,
) -> Result<Certification, ServerError> {
    if !token.scope.may_publish(name) {
        return Err(ServerError::WrongScope {
            id: token.id.clone(),
            scope: token.scope.to_string(),
            action: format!("submit {name} for certification"),
        });
    }
    require_owner(state, name, token)?;
    let line = listed_release(state, name, version)?;
    let version = line.version.to_string();
    let request = Certification::new(
        new_id()?,
        name.to_owned(),
        version.clone(),
        token.account.clone(),
        tokens::now(),
    );
    // A request of any release left `checking` long ago by a stopped server no longer holds.
    let now = tokens::now();
    recovery::recover(
        &state.db,
        now.saturating_sub(recovery::STUCK_AFTER_SECONDS),
        now,
    )?;
    let store = state.db.store();
    let holding = store.insert_certification(&request)?;
    if holding.id != request.id {
        return Err(CertifyError::AlreadySubmitted {
            name: name.to_owned(),
            version,
            id: holding.id,
            state: holding.state.as_str().to_owned(),
        }
        .into());
    }
    let results = match state.artifacts.package(&line.sha256) {
        Ok(bytes) => checks::run_all(
            &state.db,
            &checks::Subject {
                line: &line,
                package: &bytes,
                registry_keys: &state.data.keys,
                advisory_db: state.certifier.advisory_db.as_deref(),
                smoke: &state.certifier.smoke,
                smoke_lock: &state.certifier.smoke_lock,
            },
        ),
        Err(e) => vec![super::store::certification::CertificationCheck::new(
            "manifest",
            super::store::certification::Verdict::Error,
            format!("the package cannot be read: {e}"),
        )],
    };
    store.finish_certification_checks(&request.id, &results, CertificationState::Pending)?;
    let done = store
        .certification(&request.id)?
        .ok_or_else(|| CertifyError::NoRequest {
            what: request.id.clone(),
        })?;
    let summary: Vec<String> = done
        .checks
        .iter()
        .map(|c| format!("{} {}", c.name, c.verdict.as_str()))
        .collect();
    audit::record(
        &state.db,
        &token.account,
        "certification.submit",
        &format!("plugin:{name}@{version}"),
        &format!("request {}: {}", done.id, summary.join(", ")),
    )?;
    Ok(done)
}

/// The newest request of `name@version`.
pub(crate) fn status(
    state: &AppState,
    name: &str,
    version: &str,
) -> Result<Certification, ServerError> {
    let found = state
        .db
        .store()
        .certifications_of(name, 1000)?
        .into_iter()
        .find(|c| c.version == version);
    found.ok_or_else(|| {
        CertifyError::NoRequest {
            what: format!("{name}@{version}"),
        }
        .into()
    })
}

/// Every request of `name`, newest first (for its page).
pub(crate) fn of_plugin(state: &AppState, name: &str) -> Result<Vec<Certification>, ServerError> {
    state.db.store().certifications_of(name, 100)
}

/// The reviewer queue: pending requests, oldest first. Needs a `certify` or `admin` token.
pub(crate) fn queue(
    state: &AppState,
    token: &TokenInfo,
) -> Result<Vec<Certification>, ServerError> {
    require_reviewer(token, "list the certification queue")?;
    state
        .db
        .store()
        .certifications_in(CertificationState::Pending, MAX_QUEUE)
}

/// The pending requests, oldest first, for the admin page (which shows what the plugin pages
/// show already; deciding needs a token).
pub(crate) fn pending(state: &AppState) -> Result<Vec<Certification>, ServerError> {
    state
        .db
        .store()
        .certifications_in(CertificationState::Pending, MAX_QUEUE)
}

fn require_reviewer(token: &TokenInfo, action: &str) -> Result<(), ServerError> {
    if token.scope.may_certify() {
        Ok(())
    } else {
        Err(ServerError::WrongScope {
            id: token.id.clone(),
            scope: token.scope.to_string(),
            action: action.to_owned(),
        })
    }
}

fn checked_reason(reason: Option<&str>, required: bool) -> Result<Option<String>, CertifyError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    match reason {
        None if required => Err(CertifyError::BadReason {
            reason: "a denial needs a reason the publisher will read".into(),
        }),
        None => Ok(None),
        Some(r) if r.chars().count() > MAX_REASON_CHARS => Err(CertifyError::BadReason {
            reason: format!("it is longer than {MAX_REASON_CHARS} characters"),
        }),
        Some(r) if r.chars().any(|c| c.is_control() && c != '\n') => Err(CertifyError::BadReason {
            reason: "it holds control characters".into(),
        }),
        Some(r) => Ok(Some(r.to_owned())),
    }
}

/// A reviewer's decision on request `id`: approve (countersign) or deny, with a reason
/// (required to deny). Refused unless `token` may certify, the request is pending and not the
/// reviewer's own account's, and — to approve — no check failed, errored or did not run.
pub(crate) fn decide(
    state: &AppState,
    token: &TokenInfo,
    id: &str,
    approve: bool,
    reason: Option<&str>,
) -> Result<Certification, RegistryError> {
    require_reviewer(
        token,
        if approve {
            "approve a certification"
        } else {
            "deny a certification"
        },
    )?;
    let reason = checked_reason(reason, !approve).map_err(ServerError::from)?;
    let store = state.db.store();
    let request = store.certification(id)?.ok_or_else(|| {
        ServerError::from(CertifyError::NoRequest {
            what: id.to_owned(),
        })
    })?;
    if request.state != CertificationState::Pending {
        return Err(ServerError::from(CertifyError::NotPending {
            id: id.to_owned(),
            state: request.state.as_str().to_owned(),
        })
        .into());
    }
    // Reviewers never certify their own releases: not the submitting account's, nor another
    // owner's of the same plugin.
    if request.account == token.account
        || crate::server::accounts::is_owner(&state.db, &request.name, &token.account)?
    {
        return Err(ServerError::from(CertifyError::OwnRequest {
            id: id.to_owned(),
            account: token.account.clone(),
        })
        .into());
    }
    let subject = format!("plugin:{}@{}", request.name, request.version);
    let now = tokens::now();
    if !approve {
        let decided = store.decide_certification(
            id,
            &Decision::new(
                CertificationState::Denied,
                &token.account,
                now,
                reason.as_deref(),
                None,
            ),
        )?;
        if !decided {
            return Err(not_pending(state, id)?.into());
        }
        audit::record(
            &state.db,
            &token.account,
            "certification.deny",
            &subject,
            &format!("request {id}: {}", reason.as_deref().unwrap_or("")),
        )?;
        return Ok(store.certification(id)?.unwrap_or(request));
    }
    let blocking = request.blocking();
    if request.checks.is_empty() || !blocking.is_empty() {
        let checks = if request.checks.is_empty() {
            "no check result is recorded".to_owned()
        } else {
            blocking
                .iter()
                .map(|c| format!("{} {} ({})", c.name, c.verdict.as_str(), c.detail))
                .collect::<Vec<_>>()
                .join("; ")
        };
        return Err(ServerError::from(CertifyError::ChecksBlock {
            id: id.to_owned(),
            checks,
        })
        .into());
    }
    let line = listed_release(state, &request.name, &request.version)?;
    let certificate = state
        .certifier
        .countersign(&line)
        .map_err(ServerError::from)?;
    // The decision first (one reviewer wins), then the registry; undone if the registry
    // refuses, so a request is approved exactly when its release is countersigned.
    let decided = store.decide_certification(
        id,
        &Decision::new(
            CertificationState::Approved,
            &token.account,
            now,
            reason.as_deref(),
            Some(&certificate),
        ),
    )?;
    if !decided {
        return Err(not_pending(state, id)?.into());
    }
    let written = {
        let _writing = state
            .registry_writes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        publish::certify(
            &state.data.registry,
            &state.data.keys,
            &request.name,
            &line.version,
            &certificate,
            &Expiries::default(),
        )
    };
    if let Err(e) = written {
        store.finish_certification_checks(id, &request.checks, CertificationState::Pending)?;
        return Err(e);
    }
    audit::record(
        &state.db,
        &token.account,
        "certification.approve",
        &subject,
        &format!(
            "request {id}: countersigned with key {}{}",
            state.certifier.key_id(),
            reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
    )?;
    Ok(store.certification(id)?.unwrap_or(request))
}

fn not_pending(state: &AppState, id: &str) -> Result<ServerError, ServerError> {
    let now = state.db.store().certification(id)?;
    Ok(CertifyError::NotPending {
        id: id.to_owned(),
        state: now.map_or("gone", |c| c.state.as_str()).to_owned(),
    }
    .into())
}

// ---- HTTP ----

fn release_path(
    path: Result<UrlPath<(String, String)>, PathRejection>,
) -> Result<(String, String), ServerError> {
    let UrlPath((name, version)) = path.map_err(|e| ServerError::BadPath {
        path: "/api/v1/plugins/…/versions/…/certification".into(),
        reason: e.body_text(),
    })?;
    validate_name(&name).map_err(|e| ServerError::BadName {
        name: name.clone(),
        reason: e.to_string(),
    })?;
    semver::Version::parse(&version).map_err(|e| ServerError::Malformed {
        reason: format!("version `{version}`: {e}"),
    })?;
    Ok((name, version))
}

/// `POST /api/v1/plugins/NAME/versions/VERSION/certification`: submit; the checks run in
/// the request. `201` with the request.
pub(crate) async fn submit_handler(
    State(state): State<Arc<AppState>>,
    path: Result<UrlPath<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // On a thread of its own, not the shared blocking pool: the smoke calls may take a
    // minute, and the pool serves nearly every other request.
    own_thread(move || {
        let token = authenticated(&state, &headers)?;
        let (name, version) = release_path(path)?;
        let c = submit(&state, &token, &name, &version)?;
        Ok((StatusCode::CREATED, Json(certification_json(&c))))
    })
    .await
}

/// Runs `f` on a new thread and awaits its answer without holding a runtime or pool thread.
async fn own_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let internal = |reason: String| -> ApiError { ServerError::Internal { reason }.into() };
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("certification-submit".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| internal(format!("no thread for the submission: {e}")))?;
    rx.await
        .map_err(|_| internal("the submission's thread ended without an answer".into()))?
}

/// `GET /api/v1/plugins/NAME/versions/VERSION/certification`: the newest request of the
/// release, with its checks, the decision and its reason (anyone).
pub(crate) async fn status_handler(
    State(state): State<Arc<AppState>>,
    path: Result<UrlPath<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let (name, version) = release_path(path)?;
        let c = status(&state, &name, &version)?;
        Ok(Json(certification_json(&c)))
    })
    .await
}

/// `GET /api/v1/certification/queue`: pending requests, oldest first (`certify` or `admin`).
pub(crate) async fn queue_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        let q = queue(&state, &token)?;
        Ok(Json(json!({
            "requests": q.iter().map(certification_json).collect::<Vec<_>>(),
        })))
    })
    .await
}

/// The body of an approval or denial.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideBody {
    /// Why (required to deny; a note to approve).
    #[serde(default)]
    pub reason: Option<String>,
}

fn request_id(id: Result<UrlPath<String>, PathRejection>) -> Result<String, ServerError> {
    let UrlPath(id) = id.map_err(|e| ServerError::BadPath {
        path: "/api/v1/certification/…".into(),
        reason: e.body_text(),
    })?;
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(CertifyError::NoRequest {
            what: "that id".into(),
        }
        .into());
    }
    Ok(id)
}

async fn decide_handler(
    state: Arc<AppState>,
    id: Result<UrlPath<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<DecideBody>, JsonRejection>,
    approve: bool,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        let id = request_id(id)?;
        let Json(body) = body.map_err(|e| ServerError::Malformed {
            reason: e.body_text(),
        })?;
        let c = decide(&state, &token, &id, approve, body.reason.as_deref())?;
        Ok(Json(certification_json(&c)))
    })
    .await
}

/// `POST /api/v1/certification/ID/approve` with `{"reason"?}`: countersigns the release.
pub(crate) async fn approve_handler(
    State(state): State<Arc<AppState>>,
    id: Result<UrlPath<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<DecideBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    decide_handler(state, id, headers, body, true).await
}

/// `POST /api/v1/certification/ID/deny` with `{"reason"}`.
pub(crate) async fn deny_handler(
    State(state): State<Arc<AppState>>,
    id: Result<UrlPath<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<DecideBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    decide_handler(state, id, headers, body, false).await
}

/// `GET /api/v1/certification/key`: the public key hosts trust for `certified`.
pub(crate) async fn key_handler(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({
        "key_id": state.certifier.key_id(),
        "public_key": state.certifier.public_key(),
    }))
}

/// Adds the certification endpoints and their schemas to the OpenAPI document.
pub(crate) fn describe(doc: &mut Value) {
    use super::openapi::{body, error_responses, param, with_ok, SEMVER};
    let bearer = json!([{ "token": [] }]);
    let name = param("name", Some("^[a-z][a-z0-9_-]{0,63}$"));
    let version = param("version", Some(SEMVER));
    let id = param("id", Some("^[A-Za-z0-9-]{1,64}$"));
    let reason = json!({ "type": "string", "maxLength": MAX_REASON_CHARS });
    let mut submitted = error_responses(&["400", "401", "403", "404", "409"]);
    submitted["201"] = json!({
        "description": "submitted; the checks ran",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Certification" } } }
    });
    let paths = json!({
        "/api/v1/plugins/{name}/versions/{version}/certification": {
            "get": {
                "summary": "The release's newest certification request: state, every check's result, the reviewer's decision and reason",
                "parameters": [name, version],
                "responses": with_ok(error_responses(&["400", "404"]), "Certification")
            },
            "post": {
                "summary": "Submit a listed release for certification (a token that may publish it, of an owner, or admin); the automated checks run in the request",
                "security": bearer,
                "parameters": [name, version],
                "responses": submitted
            }
        },
        "/api/v1/certification/queue": { "get": {
            "summary": "Requests waiting for a reviewer, oldest first (certify or admin)",
            "security": bearer,
            "responses": with_ok(error_responses(&["401", "403"]), "CertificationQueue")
        } },
        "/api/v1/certification/key": { "get": {
            "summary": "The registry's certification public key: what hosts trust for `certified`",
            "responses": with_ok(error_responses(&[]), "CertificationKey")
        } },
        "/api/v1/certification/{id}/approve": { "post": {
            "summary": "Approve: the registry countersigns the release (certify or admin; not the submitter's account; refused while a check failed, errored or did not run)",
            "security": bearer,
            "parameters": [id],
            "requestBody": body(&[], json!({ "reason": reason })),
            "responses": with_ok(error_responses(&["400", "401", "403", "404", "409", "503"]), "Certification")
        } },
        "/api/v1/certification/{id}/deny": { "post": {
            "summary": "Deny, with a reason the publisher reads (certify or admin; not the submitter's account)",
            "security": bearer,
            "parameters": [id],
            "requestBody": body(&["reason"], json!({ "reason": reason })),
            "responses": with_ok(error_responses(&["400", "401", "403", "404", "409"]), "Certification")
        } }
    });
    let schemas = json!({
        "Certification": { "type": "object",
            "required": ["id", "name", "version", "account", "state", "submitted", "approvable", "blocking", "checks"],
            "properties": {
                "id": { "type": "string" }, "name": { "type": "string" }, "version": { "type": "string" },
                "account": { "type": "string" },
                "state": { "type": "string", "enum": ["checking", "pending", "approved", "denied"] },
                "submitted": { "type": "integer" }, "decided": { "type": ["integer", "null"] },
                "decided_by": { "type": ["string", "null"] }, "reason": { "type": ["string", "null"] },
                "approvable": { "type": "boolean" },
                "blocking": { "type": "array", "items": { "type": "string" } },
                "checks": { "type": "array", "items": { "type": "object", "required": ["name", "result", "detail"], "properties": {
                    "name": { "type": "string" },
                    "result": { "type": "string", "enum": ["passed", "flagged", "failed", "error", "not-run", "skipped"] },
                    "detail": { "type": "string" } } } } } },
        "CertificationQueue": { "type": "object", "required": ["requests"], "properties": {
            "requests": { "type": "array", "items": { "$ref": "#/components/schemas/Certification" } } } },
        "CertificationKey": { "type": "object", "required": ["key_id", "public_key"], "properties": {
            "key_id": { "type": "string" }, "public_key": { "type": "string" } } }
    });
    if let (Some(p), Some(from)) = (
        doc.get_mut("paths").and_then(Value::as_object_mut),
        paths.as_object(),
    ) {
        p.extend(from.clone());
    }
    if let (Some(s), Some(from)) = (
        doc.pointer_mut("/components/schemas")
            .and_then(Value::as_object_mut),
        schemas.as_object(),
    ) {
        s.extend(from.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{parse_listen, Server, ServerOptions};

    fn options(root: &Path) -> ServerOptions {
        let mut o = ServerOptions::new(root.join("data"), parse_listen("127.0.0.1:0").unwrap());
        o.rate_limit = None;
        o
    }

    #[test]
    fn the_key_is_made_private_on_first_start_kept_after_and_a_given_one_is_used() {
        let tmp = tempfile::tempdir().unwrap();
        let first = Server::start(&options(tmp.path())).unwrap();
        let key = first.data_dir().keys.join(KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let id = first.state.certifier.key_id().to_owned();
        let public = std::fs::read_to_string(first.data_dir().keys.join(PUBLIC_KEY_FILE)).unwrap();
        assert_eq!(public, first.state.certifier.public_key());
        drop(first);
        let again = Server::start(&options(tmp.path())).unwrap();
        assert_eq!(
            again.state.certifier.key_id(),
            id,
            "the same key after a restart"
        );
        drop(again);

        // --certification-key: that key, not the data directory's.
        let given = SigningKey::generate().unwrap();
        let file = tmp.path().join("given.key");
        std::fs::write(&file, given.secret_text().unwrap()).unwrap();
        let mut o = options(tmp.path());
        o.certification_key = Some(file);
        let server = Server::start(&o).unwrap();
        assert_eq!(server.state.certifier.key_id(), given.id());
    }

    #[test]
    fn a_bad_key_or_advisory_database_stops_the_start_coded() {
        let tmp = tempfile::tempdir().unwrap();
        let bad = tmp.path().join("bad.key");
        std::fs::write(&bad, "not a key").unwrap();
        let mut o = options(tmp.path());
        o.certification_key = Some(bad);
        let e = Server::start(&o).unwrap_err();
        assert_eq!(e.code().to_string(), "SB1469", "{e}");
        let mut o = options(tmp.path());
        o.certification_key = Some(tmp.path().join("missing.key"));
        assert_eq!(Server::start(&o).unwrap_err().code().to_string(), "SB1469");
        let mut o = options(tmp.path());
        o.advisory_db = Some(tmp.path().to_owned());
        let e = Server::start(&o).unwrap_err();
        assert_eq!(e.code().to_string(), "SB1476", "{e}");
    }

    #[test]
    fn reasons_are_checked_and_verdicts_fail_closed() {
        use crate::server::store::certification::Verdict;
        assert!(checked_reason(None, true).is_err());
        assert!(checked_reason(Some("   "), true).is_err());
        assert_eq!(checked_reason(None, false).unwrap(), None);
        assert!(checked_reason(Some(&"x".repeat(MAX_REASON_CHARS + 1)), false).is_err());
        assert!(checked_reason(Some("a\u{7}b"), true).is_err());
        assert_eq!(
            checked_reason(Some(" two\nlines "), true)
                .unwrap()
                .as_deref(),
            Some("two\nlines")
        );
        for v in [Verdict::Failed, Verdict::Error, Verdict::NotRun] {
            assert!(!v.allows_approval(), "{v:?}");
        }
        assert_eq!(Verdict::parse("something new"), Verdict::Error);
    }
}

/// The store's atomic steps, on SQLite and on PostgreSQL: several submissions of one release
/// at once leave one open request; two reviewers deciding at once, one decision.
#[cfg(test)]
mod store_tests {
    use std::sync::{Arc, Barrier};

    use crate::server::store::certification::{
        Certification, CertificationCheck, CertificationState, Decision, Verdict,
    };
    use crate::server::store::Database;

    fn race(db: &Database) {
        let n = 8;
        let barrier = Arc::new(Barrier::new(n));
        let held: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    let (db, barrier) = (db.clone(), Arc::clone(&barrier));
                    s.spawn(move || {
                        let c = Certification::new(
                            format!("c-{i}"),
                            "hello".into(),
                            "1.0.0".into(),
                            "acme".into(),
                            100,
                        );
                        barrier.wait();
                        db.store().insert_certification(&c).unwrap().id
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winner = &held[0];
        assert!(held.iter().all(|h| h == winner), "{held:?}");
        db.store()
            .finish_certification_checks(
                winner,
                &[CertificationCheck::new("manifest", Verdict::Passed, "ok")],
                CertificationState::Pending,
            )
            .unwrap();
        let queue = db
            .store()
            .certifications_in(CertificationState::Pending, 10)
            .unwrap();
        assert_eq!(queue.len(), 1);
        assert_eq!(queue[0].checks[0].verdict, Verdict::Passed);

        let decided: Vec<bool> = std::thread::scope(|s| {
            let barrier = Arc::new(Barrier::new(2));
            let handles: Vec<_> = [CertificationState::Approved, CertificationState::Denied]
                .into_iter()
                .map(|state| {
                    let (db, barrier, id) = (db.clone(), Arc::clone(&barrier), winner.clone());
                    s.spawn(move || {
                        barrier.wait();
                        db.store()
                            .decide_certification(
                                &id,
                                &Decision::new(state, "rita", 200, Some("r"), None),
                            )
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(decided.iter().filter(|d| **d).count(), 1, "{decided:?}");
        let now = db.store().certification(winner).unwrap().unwrap();
        assert_ne!(now.state, CertificationState::Pending);
        assert_eq!(now.decided_by.as_deref(), Some("rita"));
        // A denied release may be submitted again; an approved one may not.
        let again = Certification::new(
            "c-again".into(),
            "hello".into(),
            "1.0.0".into(),
            "acme".into(),
            300,
        );
        let held = db.store().insert_certification(&again).unwrap();
        if now.state == CertificationState::Denied {
            assert_eq!(held.id, "c-again");
        } else {
            assert_eq!(held.id, *winner);
        }
        assert_eq!(
            db.store().certifications_of("hello", 10).unwrap()[0].id,
            held.id
        );
    }

    #[test]
    fn one_open_request_per_release_and_one_decision_on_sqlite() {
        let tmp = tempfile::tempdir().unwrap();
        race(&Database::open(&tmp.path().join("server.db")).unwrap());
    }

    #[test]
    fn one_open_request_per_release_and_one_decision_on_postgres() {
        use crate::testing_postgres::{binaries, TempCluster};
        let Some(bin) = binaries() else {
            assert!(
                std::env::var_os("SWITCHBOARD_SKIP_POSTGRES").is_some()
                    && std::env::var_os("CI").is_none(),
                "PostgreSQL's initdb and pg_ctl are needed (or SWITCHBOARD_SKIP_POSTGRES=1 outside CI)"
            );
            return;
        };
        let cluster = TempCluster::start(&bin).unwrap();
        let db = Database::connect(&cluster.database().unwrap()).unwrap();
        race(&db);
        drop(db);
    }
}
