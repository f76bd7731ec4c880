//! The JSON API under `/api/v1/`: search and plugin details, and the coded error body every
//! refusal answers with (`{"code", "message", "next_step"}`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::catalog::{newest_visible, Catalog};
use super::AppState;
use crate::error::ServerError;
use crate::format::{validate_name, IndexLine, RegistryConfig};
use crate::RegistryError;

/// The most results one search page holds; a larger `per_page` is refused (`SB1382`).
pub const MAX_PER_PAGE: usize = 100;
/// Results per page when `per_page` is not given.
pub const DEFAULT_PER_PAGE: usize = 20;
/// The longest query accepted.
pub const MAX_QUERY_BYTES: usize = 256;

/// A refusal, answered as JSON with its HTTP status.
#[derive(Debug)]
pub struct ApiError(pub RegistryError);

impl<E: Into<RegistryError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        use crate::error::{FormatError, PublishError};
        let code = match &self.0 {
            RegistryError::Server(e) => e.status(),
            RegistryError::Publish(PublishError::VersionExists { .. }) => 409,
            RegistryError::Publish(PublishError::NotPublished { .. }) => 404,
            RegistryError::Publish(PublishError::Locked { .. }) => 503,
            RegistryError::Publish(
                PublishError::PackageRefused { .. } | PublishError::Unsigned { .. },
            )
            | RegistryError::Format(FormatError::Confusable { .. }) => 422,
            RegistryError::Publish(
                PublishError::Io { .. }
                | PublishError::NotARegistry { .. }
                | PublishError::Key { .. },
            ) => 500,
            _ => 400,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({
            "code": self.0.code().to_string(),
            "message": self.0.message(),
            "next_step": self.0.next_step(),
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

/// Runs blocking work (files, SQLite) on the runtime's small blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| -> ApiError {
            ServerError::Internal {
                reason: e.to_string(),
            }
            .into()
        })?
}

/// `GET /api/v1/search` parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Words that must all occur (name, description, keywords, categories).
    #[serde(default)]
    pub q: String,
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
        Ok(n) if n >= 1 && n <= max => Ok(n),
        Ok(n) if n > max => Err(ServerError::BadQuery {
            reason: format!("{name}={n} is over the maximum of {max}"),
        }),
        _ => Err(ServerError::BadQuery {
            reason: format!("{name}={text} is not a number from 1 to {max}"),
        }),
    }
}

/// How well `line`'s plugin matches every word of `words` (0: it does not).
fn score(name: &str, line: &IndexLine, words: &[String]) -> u32 {
    let mut total = 0;
    for w in words {
        let s = if name == w {
            100
        } else if name.starts_with(w.as_str()) {
            50
        } else if name.contains(w.as_str()) {
            30
        } else if line.keywords.iter().any(|k| k.to_lowercase() == *w) {
            20
        } else if line.description.to_lowercase().contains(w.as_str())
            || line
                .keywords
                .iter()
                .any(|k| k.to_lowercase().contains(w.as_str()))
            || line
                .categories
                .iter()
                .any(|c| c.to_lowercase().contains(w.as_str()))
        {
            10
        } else {
            return 0;
        };
        total += s;
    }
    total.max(1)
}

fn hit(line: &IndexLine) -> Value {
    json!({
        "name": line.name,
        "version": line.version.to_string(),
        "channel": line.channel,
        "description": line.description,
        "trust": line.trust.to_string(),
        "keywords": line.keywords,
        "categories": line.categories,
        "capabilities": line.capabilities,
        "deprecated": line.deprecated,
        "published": line.published,
    })
}

/// Searches `catalog`: plugins with a visible release matching every word, by relevance
/// then name, one page of them.
pub fn search_catalog(catalog: &Catalog, params: &SearchParams) -> Result<Value, ServerError> {
    if params.q.len() > MAX_QUERY_BYTES {
        return Err(ServerError::BadQuery {
            reason: format!("q is longer than {MAX_QUERY_BYTES} bytes"),
        });
    }
    let page = number("page", params.page.as_deref(), 1, 1_000_000)?;
    let per_page = number(
        "per_page",
        params.per_page.as_deref(),
        DEFAULT_PER_PAGE,
        MAX_PER_PAGE,
    )?;
    let words: Vec<String> = params
        .q
        .to_lowercase()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let mut hits: Vec<(u32, &str, &IndexLine)> = catalog
        .plugins
        .iter()
        .filter_map(|(name, releases)| {
            let line = newest_visible(releases)?;
            let s = score(name, line, &words);
            (s > 0).then_some((s, name.as_str(), line))
        })
        .collect();
    hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let total = hits.len();
    let page_hits: Vec<Value> = hits
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|(_, _, l)| hit(l))
        .collect();
    Ok(json!({
        "query": params.q,
        "page": page,
        "per_page": per_page,
        "total": total,
        "hits": page_hits,
    }))
}

/// `GET /api/v1/search?q=&page=&per_page=`.
pub async fn search(
    State(state): State<Arc<AppState>>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| ServerError::BadQuery {
        reason: e.body_text(),
    })?;
    blocking(move || {
        let catalog = state.catalog.get(&state.data.registry)?;
        Ok(search_catalog(&catalog, &params)?)
    })
    .await
    .map(Json)
}

/// The details of `name`: every release (newest first) with its channel, yank and download,
/// the newest release of each channel, and the plugin's description and deprecation.
pub fn details(catalog: &Catalog, config: &RegistryConfig, name: &str) -> Result<Value, ApiError> {
    validate_name(name).map_err(|e| ServerError::BadName {
        name: name.to_owned(),
        reason: e.to_string(),
    })?;
    let releases = catalog
        .plugins
        .get(name)
        .ok_or_else(|| ServerError::UnknownPlugin {
            name: name.to_owned(),
        })?;
    let mut sorted: Vec<&IndexLine> = releases.iter().collect();
    sorted.sort_by(|a, b| b.version.cmp(&a.version));
    let mut channels = BTreeMap::new();
    for l in sorted.iter().filter(|l| !l.is_yanked()) {
        channels
            .entry(l.channel.as_str())
            .or_insert_with(|| l.version.to_string());
    }
    let about = newest_visible(releases).or(sorted.first().copied());
    let mut versions = Vec::new();
    for l in &sorted {
        let mut v = serde_json::to_value(l).map_err(|e| ServerError::Internal {
            reason: e.to_string(),
        })?;
        v["download"] = json!(format!("/index/{}", config.download_path(l)?));
        versions.push(v);
    }
    Ok(json!({
        "name": name,
        "latest": newest_visible(releases).map(|l| l.version.to_string()),
        "description": about.map(|l| l.description.clone()),
        "keywords": about.map(|l| l.keywords.clone()),
        "categories": about.map(|l| l.categories.clone()),
        "license": about.and_then(|l| l.license.clone()),
        "repository": about.and_then(|l| l.repository.clone()),
        "maintainers": about.map(|l| l.maintainers.clone()),
        "deprecated": sorted.first().and_then(|l| l.deprecated.clone()),
        "channels": channels,
        "versions": versions,
    }))
}

/// `GET /api/v1/plugins/NAME`.
pub async fn plugin(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(name) = name.map_err(|e| ServerError::BadPath {
        path: "/api/v1/plugins/…".into(),
        reason: e.body_text(),
    })?;
    blocking(move || {
        let catalog = state.catalog.get(&state.data.registry)?;
        let bytes = super::catalog::read_capped(
            &state.data.registry.join("config.json"),
            crate::format::MAX_CONFIG_BYTES,
        )?;
        let config = RegistryConfig::parse(&bytes)?;
        details(&catalog, &config, &name)
    })
    .await
    .map(Json)
}
