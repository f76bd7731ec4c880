//! The JSON API under `/api/v1/`: search and plugin details, and the coded error body every
//! refusal answers with (`{"code", "message", "next_step"}`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
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

/// `GET /api/v1/search` parameters (see [`super::search`] for what each means).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SearchParams {
    /// Words that must all occur (name, description, keywords, categories).
    #[serde(default)]
    pub q: String,
    /// A category (exact, any case).
    pub category: Option<String>,
    /// A capability kind or request.
    pub capability: Option<String>,
    /// `HOSTAPI@VERSION`.
    pub compatible_with: Option<String>,
    /// Part of a maintainer, or an owning account.
    pub maintainer: Option<String>,
    /// The least trust level.
    pub trust: Option<String>,
    /// `ga` or `beta`.
    pub channel: Option<String>,
    /// `relevance`, `downloads`, `updated`, `name` or `rating`.
    pub sort: Option<String>,
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

/// The search `params` ask for, parsed (`SB1382` when a value is bad).
pub fn search_query(params: &SearchParams) -> Result<super::search::Query, ServerError> {
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
    super::search::Query::parse(
        &params.q,
        params.category.as_deref(),
        params.capability.as_deref(),
        params.compatible_with.as_deref(),
        params.maintainer.as_deref(),
        params.trust.as_deref(),
        params.channel.as_deref(),
        params.sort.as_deref(),
        page,
        per_page,
    )
}

/// The `sort` an answer names: as asked, else the default the query took.
fn sort_name<'a>(params: &'a SearchParams, query: &super::search::Query) -> &'a str {
    params.sort.as_deref().unwrap_or(match query.sort {
        super::search::Sort::Name => "name",
        _ => "relevance",
    })
}

/// Searches `catalog` with `params`: the page as `GET /api/v1/search` answers it, as JSON
/// text (written from the catalog's prepared hits, see [`super::search::Page::write`]).
pub fn search_catalog_bytes(
    catalog: &Catalog,
    params: &SearchParams,
    downloads: &std::collections::HashMap<String, u64>,
    owned_by: &std::collections::HashSet<String>,
    ratings: &super::search::rating::Ratings,
) -> Result<Vec<u8>, ServerError> {
    let query = search_query(params)?;
    let page = if query.sort == super::search::Sort::Rating {
        Arc::new(
            catalog
                .prepared
                .compute_by_rating(&query, owned_by, ratings),
        )
    } else {
        catalog.prepared.page(&query, downloads, owned_by)
    };
    Ok(page.write(
        &catalog.prepared,
        &query,
        downloads,
        ratings,
        &params.q,
        sort_name(params, &query),
    ))
}

/// Searches in the database (PostgreSQL) as `GET /api/v1/search` does, as JSON text: the
/// database's copy of the catalog is first brought in step with `catalog` (see
/// [`super::store::catalog_search`]).
#[cfg(test)]
pub fn search_database_bytes(
    store: &dyn super::store::Store,
    catalog: &Catalog,
    params: &SearchParams,
    downloads: &std::collections::HashMap<String, u64>,
    ratings: &super::search::rating::Ratings,
) -> Result<Vec<u8>, ServerError> {
    search_database_kept(store, catalog, params, downloads, ratings, &mut false)
}

/// [`search_database_bytes`], setting `kept` when the page was kept (no database query).
fn search_database_kept(
    store: &dyn super::store::Store,
    catalog: &Catalog,
    params: &SearchParams,
    downloads: &std::collections::HashMap<String, u64>,
    ratings: &super::search::rating::Ratings,
    kept: &mut bool,
) -> Result<Vec<u8>, ServerError> {
    let query = search_query(params)?;
    let page = match catalog.prepared.kept_db(&query) {
        Some(page) => {
            *kept = true;
            page
        }
        None => {
            let page = Arc::new(database_page(store, catalog, params, &query)?);
            catalog.prepared.keep_db(&query, Arc::clone(&page));
            page
        }
    };
    // Downloads as this server counts them, never fewer than the database said when the page
    // was asked for (a kept page outlives downloads; a search by downloads is never kept).
    Ok(super::search::write_page(
        page.hits.iter().map(|h| {
            let counted = downloads.get(&h.name).copied().unwrap_or(0);
            let rating = ratings.get(&h.name).copied();
            (
                h.fragment.as_str(),
                counted.max(h.downloads),
                rating,
                h.score,
            )
        }),
        &query,
        usize::try_from(page.total).unwrap_or(usize::MAX),
        &params.q,
        sort_name(params, &query),
    ))
}

/// Asks the database for the page `query` names, its copy of the catalog first brought in
/// step with `catalog`.
fn database_page(
    store: &dyn super::store::Store,
    catalog: &Catalog,
    params: &SearchParams,
    query: &super::search::Query,
) -> Result<super::search::DbPage, ServerError> {
    use super::search::Sort;
    store.sync_catalog(&catalog.stamp, catalog.version, &|| {
        catalog.prepared.search_rows()
    })?;
    let levels = [
        switchboard_host::TrustLevel::Unsigned,
        switchboard_host::TrustLevel::SelfSigned,
        switchboard_host::TrustLevel::Verified,
        switchboard_host::TrustLevel::Certified,
    ];
    let mut db = super::store::catalog_search::DbQuery {
        words: query.words.clone(),
        category: query.category.clone(),
        capability: query.capability.clone(),
        maintainer: query.maintainer.clone(),
        owner: params
            .maintainer
            .clone()
            .filter(|m| super::tokens::valid_account(m)),
        trust: query
            .trust
            .map(|t| i16::try_from(levels.iter().filter(|l| t >= **l).count()).unwrap_or(0) - 1),
        channel_slot: match query.channel {
            None => 0,
            Some(crate::format::Channel::Ga) => 1,
            Some(_) => 2,
        },
        compatible_with: query
            .compatible_with
            .as_ref()
            .and_then(|(api, v)| Some((api.clone(), semver::Version::parse(v).ok()?))),
        sort: match query.sort {
            Sort::Relevance => "relevance",
            Sort::Downloads => "downloads",
            Sort::Updated => "updated",
            Sort::Rating => "rating",
            _ => "name",
        },
        offset: i64::try_from((query.page - 1).saturating_mul(query.per_page)).unwrap_or(i64::MAX),
        limit: i64::try_from(query.per_page).unwrap_or(100),
    };
    if query.maintainer.is_none() {
        db.owner = None;
    }
    let (total, hits) = store.search_catalog(&db)?;
    Ok(super::search::DbPage::new(total, hits))
}

/// Searches as `GET /api/v1/search` does (blocking: reads the catalog and the database), as
/// JSON text.
pub fn search_bytes(state: &AppState, params: &SearchParams) -> Result<Vec<u8>, ApiError> {
    let catalog = state.catalog.get(&state.data.registry)?;
    let store = state.db.store();
    state.ratings.refresh_if_stale(&state.db)?;
    let ratings = state.ratings.current();
    if store.searches_in_database() {
        let downloads = state.downloads.read();
        let mut kept = false;
        let body = search_database_kept(store, &catalog, params, &downloads, &ratings, &mut kept);
        if kept {
            state.details.search_kept();
        } else {
            state.details.search_made();
        }
        return Ok(body?);
    }
    state.details.search_made();
    let owned = match &params.maintainer {
        Some(m) if super::tokens::valid_account(m) => super::accounts::owned_by(&state.db, m)?,
        _ => Default::default(),
    };
    let downloads = state.downloads.read();
    Ok(search_catalog_bytes(
        &catalog, params, &downloads, &owned, &ratings,
    )?)
}

/// The search `params` ask for if its page is kept for the current catalog (searching in
/// memory): answered on the async task, with no hand-off to the blocking pool. `None`: not
/// kept, or not that simple (the blocking path answers, errors included).
fn search_kept(state: &AppState, params: &SearchParams) -> Option<Vec<u8>> {
    if state.db.store().searches_in_database() {
        return None;
    }
    if !state.ratings.is_fresh() {
        return None;
    }
    let catalog = state.catalog.current(&state.data.registry)?;
    let query = search_query(params).ok()?;
    let page = catalog.prepared.kept(&query)?;
    let downloads = state.downloads.read();
    Some(page.write(
        &catalog.prepared,
        &query,
        &downloads,
        &state.ratings.current(),
        &params.q,
        sort_name(params, &query),
    ))
}

/// `GET /api/v1/search?q=&category=&capability=&compatible_with=&maintainer=&trust=&channel=&sort=&page=&per_page=`.
pub async fn search(
    State(state): State<Arc<AppState>>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ServerError::BadQuery {
        reason: e.body_text(),
    })?;
    let body = match search_kept(&state, &params) {
        Some(body) => {
            state.details.search_kept();
            state.prices.add_to_hits(body)
        }
        None => {
            blocking(move || {
                state.prices.refresh_if_stale(&state.db)?;
                let body = search_bytes(&state, &params)?;
                Ok::<_, ApiError>(state.prices.add_to_hits(body))
            })
            .await?
        }
    };
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
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

/// The details of `name` as `GET /api/v1/plugins/NAME` answers them (blocking): [`details`]
/// plus its owners, downloads, the checks each listed version passed (`versions[].checks`),
/// and uploads of it that are not listed (`unlisted`: held for review, failed, checking).
/// The web page calls this too.
pub fn plugin_json(state: &AppState, name: &str) -> Result<Value, ApiError> {
    let catalog = state.catalog.get(&state.data.registry)?;
    let bytes = super::catalog::read_capped(
        &state.data.registry.join("config.json"),
        crate::format::MAX_CONFIG_BYTES,
    )?;
    let config = RegistryConfig::parse(&bytes)?;
    let mut doc = details(&catalog, &config, name)?;
    let uploads = super::uploads::of_plugin(&state.db, name)?;
    if let Some(versions) = doc["versions"].as_array_mut() {
        for v in versions {
            let version = v["version"].as_str().unwrap_or_default().to_owned();
            let listed = uploads
                .iter()
                .find(|u| u.version == version && u.state == super::uploads::UploadState::Listed);
            v["checks"] = match listed {
                Some(u) => json!(u.checks),
                None => Value::Null,
            };
            v["upload"] = json!(listed.map(|u| u.id.clone()));
        }
    }
    doc["unlisted"] = json!(uploads
        .iter()
        .filter(|u| u.state != super::uploads::UploadState::Listed)
        .map(super::publishing::upload_json)
        .collect::<Vec<_>>());
    doc["owners"] = json!(super::accounts::owners(&state.db, name)?);
    doc["downloads"] = json!(state.downloads.of(name));
    doc["rating"] = super::reviews::rating_json(&super::reviews::rating_of(&state.db, name)?);
    doc["pricing"] = super::market::pricing_json(&super::market::pricing_of(state, name)?);
    Ok(doc)
}
