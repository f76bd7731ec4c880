//! The registry's web page (SPEC S9.9): server-side rendered HTML for people — the home page
//! (search, categories, recently updated), search with filters and pages, each plugin's
//! details (README rendered safely, versions and channels, capabilities in words,
//! dependencies, compatibility, trust badge, signer, install commands), and error pages.
//!
//! Templates are askama's (compiled with the crate from `registry/templates/page/`, with
//! HTML escaping of every value on by default); there is no JavaScript, and every page is
//! sent with a Content-Security-Policy that allows none (`script-src` falls back to
//! `default-src 'none'`), only this server's stylesheet, and forms only back to this server.
//!
//! The page reads what the JSON API reads: the catalog parsed from the signed index, searched
//! with the client's own search (`registries::search`), so the page, the API and `switchboard
//! search` agree.

mod certification;
mod dashboard;
mod error;
mod markdown;
mod query;
mod reviews;
mod view;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use switchboard_host::caps::CapabilityKind;
use switchboard_host::{RegistryRecord, TrustLevel};

pub use error::PageError;

use super::catalog::{read_capped, Catalog};
use super::AppState;
use crate::format::{validate_name, IndexLine, RegistryConfig, MAX_CONFIG_BYTES};
use crate::registries::listed_plugin;
use crate::registries::search::{search, Listing, SearchQuery, SortOrder};
use query::{Channel, PageQuery, Sort, MAX_PAGE, PER_PAGE};
use view::{CategoryCount, Hit, PluginView};

/// The Content-Security-Policy every page is sent with: nothing runs, nothing loads from
/// elsewhere, forms submit only here, and no other site may frame the page.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
    img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The stylesheet (served at `/static/page.css`).
const STYLESHEET: &str = include_str!("page.css");

/// How many recently updated plugins the home page lists.
const RECENT: usize = 10;

/// The largest package opened to show its README; a larger one shows a note instead.
const MAX_README_PACKAGE_BYTES: u64 = 32 << 20;

/// READMEs kept rendered (by package sha256) before the cache starts over.
const MAX_CACHED_READMES: usize = 256;

/// The name the install commands give the registry on the user's machine.
const SUGGESTED_REGISTRY_NAME: &str = "marketplace";

/// The routes of the web page.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(home))
        .route("/search", get(search_page))
        .route("/categories", get(categories))
        .route("/categories/{category}", get(category))
        .route("/plugins/{name}", get(plugin))
        .route(
            "/publishers/{account}",
            get(dashboard::dashboard).post(dashboard::dashboard_payouts),
        )
        .route("/static/{file}", get(static_file))
        .merge(certification::routes())
        .merge(reviews::routes())
}

/// Whether an unknown `path` gets the HTML 404 page (everything but the API and the index,
/// which answer their clients in their own formats).
pub(super) fn is_page_path(path: &str) -> bool {
    !(path.starts_with("/api/") || path == "/api" || path.starts_with("/index"))
}

/// What the page keeps between requests: the search listings of the current catalog, and
/// rendered READMEs by package digest (a package never changes under its digest).
#[derive(Debug, Default)]
pub(crate) struct PageCache {
    listings: Mutex<Option<(Arc<Catalog>, Arc<Listings>)>>,
    readmes: Mutex<HashMap<String, Arc<Readme>>>,
}

/// The catalog prepared for the pages: search listings of generally available releases and
/// of betas too, and what the home page shows (it changes only with the catalog).
#[derive(Debug)]
struct Listings {
    ga: Listing,
    beta: Listing,
    categories: Vec<CategoryCount>,
    recent: Vec<Hit>,
    total: usize,
}

impl Listings {
    fn build(catalog: &Catalog) -> Listings {
        let make = |channel: &str| {
            let record = RegistryRecord::new("this", "", 0, Vec::new()).with_channel(channel);
            Listing::new(
                "this",
                catalog
                    .plugins
                    .iter()
                    .map(|(name, lines)| listed_plugin(name, lines, &record))
                    .collect(),
            )
        };
        let ga = make("ga");
        let categories = view::count_categories(
            ga.plugins()
                .filter(|p| p.newest(None).is_some())
                .map(|p| p.categories.as_slice()),
        );
        let mut q = SearchQuery::new("");
        q.sort = SortOrder::Updated;
        q.per_page = RECENT;
        let recent = search(&[&ga], &q);
        Listings {
            beta: make("beta"),
            categories,
            recent: Hit::all(&recent),
            total: recent.total,
            ga,
        }
    }

    fn of(&self, channel: Channel) -> &Listing {
        match channel {
            Channel::Ga => &self.ga,
            Channel::Beta => &self.beta,
        }
    }

    /// Categories of the plugins with a release on the `ga` channel.
    fn categories(&self) -> Vec<CategoryCount> {
        self.categories.clone()
    }
}

/// A package's README, as the plugin page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readme {
    /// Rendered, safe HTML.
    Html(String),
    /// The package has none.
    Missing,
    /// It could not be read, and why (in words for the reader).
    Unreadable(String),
}

impl PageCache {
    fn listings(&self, catalog: &Arc<Catalog>) -> Arc<Listings> {
        let mut current = self.listings.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, listings)) = current.as_ref() {
            if Arc::ptr_eq(seen, catalog) {
                return Arc::clone(listings);
            }
        }
        let listings = Arc::new(Listings::build(catalog));
        *current = Some((Arc::clone(catalog), Arc::clone(&listings)));
        listings
    }

    fn readme(
        &self,
        registry: &std::path::Path,
        config: &RegistryConfig,
        line: &IndexLine,
    ) -> Arc<Readme> {
        if let Some(r) = self
            .readmes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&line.sha256)
        {
            return Arc::clone(r);
        }
        let readme = Arc::new(read_readme(registry, config, line));
        let mut cache = self.readmes.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED_READMES {
            cache.clear();
        }
        cache.insert(line.sha256.clone(), Arc::clone(&readme));
        readme
    }
}

/// Opens `line`'s package from the registry directory and renders its `README.md`.
fn read_readme(registry: &std::path::Path, config: &RegistryConfig, line: &IndexLine) -> Readme {
    let Ok(path) = config.download_path(line) else {
        return Readme::Unreadable("the registry gives the package no address".into());
    };
    let meta = match std::fs::metadata(registry.join(&path)) {
        Ok(m) => m,
        Err(_) => return Readme::Unreadable("the package is not in the registry".into()),
    };
    if meta.len() > MAX_README_PACKAGE_BYTES {
        return Readme::Unreadable(format!(
            "the package is larger than {} MiB; download it to read its README",
            MAX_README_PACKAGE_BYTES >> 20
        ));
    }
    let Ok(bytes) = read_capped(&registry.join(&path), MAX_README_PACKAGE_BYTES) else {
        return Readme::Unreadable("the package could not be read".into());
    };
    let files = match switchboard_host::package::unpack(&bytes, &Default::default()) {
        Ok(files) => files,
        Err(_) => return Readme::Unreadable("the package could not be opened".into()),
    };
    match files.get("README.md") {
        Some(text) => Readme::Html(markdown::render(&String::from_utf8_lossy(text))),
        None => Readme::Missing,
    }
}

/// `html` with the page's headers: its type, the CSP, no sniffing, no referrer, no framing,
/// and no caching (the catalog changes with every publish).
fn respond(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn render(template: &impl Template) -> Result<String, PageError> {
    template.render().map_err(|e| PageError::Internal {
        reason: format!("rendering the page: {e}"),
    })
}

#[derive(Template)]
#[template(path = "page/error.html")]
struct ErrorPage {
    heading: &'static str,
    message: String,
    next_step: String,
    code: String,
    status: u16,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let heading = match &self {
            PageError::NotFound { .. } => "Page not found",
            PageError::UnknownPlugin { .. } => "Plugin not found",
            PageError::BadParameter { .. } | PageError::BadName { .. } => {
                "That search cannot be done"
            }
            _ => "Something went wrong",
        };
        let page = ErrorPage {
            heading,
            message: self.to_string(),
            next_step: self.next_step(),
            code: self.code().to_string(),
            status: status.as_u16(),
        };
        // The error page has no user data of its own but the message; should even it fail
        // to render, the status and the code still go out, as plain escaped-free text.
        let html = page.render().unwrap_or_else(|_| {
            format!("<!doctype html><title>Error</title><p>{}</p>", self.code())
        });
        respond(status, html)
    }
}

/// The page's answer for an unknown path (the router's fallback sends page paths here).
pub(super) fn not_found(path: &str) -> Response {
    PageError::NotFound {
        path: error::shorten(path, 200),
    }
    .into_response()
}

/// Runs blocking work (files, SQLite) on the runtime's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PageError> + Send + 'static,
) -> Result<T, PageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PageError::Internal {
            reason: e.to_string(),
        })?
}

fn catalog(state: &AppState) -> Result<(Arc<Catalog>, Arc<Listings>), PageError> {
    let catalog = state
        .catalog
        .get(&state.data.registry)
        .map_err(|e| PageError::Internal {
            reason: e.to_string(),
        })?;
    let listings = state.page.listings(&catalog);
    Ok((catalog, listings))
}

#[derive(Template)]
#[template(path = "page/home.html")]
struct HomePage {
    total: usize,
    categories: Vec<CategoryCount>,
    recent: Vec<Hit>,
}

async fn home(State(state): State<Arc<AppState>>) -> Result<Response, PageError> {
    let page = blocking(move || {
        let (_, listings) = catalog(&state)?;
        Ok(HomePage {
            total: listings.total,
            categories: listings.categories(),
            recent: listings.recent.clone(),
        })
    })
    .await?;
    Ok(respond(StatusCode::OK, render(&page)?))
}

#[derive(Template)]
#[template(path = "page/categories.html")]
struct CategoriesPage {
    categories: Vec<CategoryCount>,
}

async fn categories(State(state): State<Arc<AppState>>) -> Result<Response, PageError> {
    let page = blocking(move || {
        let (_, listings) = catalog(&state)?;
        Ok(CategoriesPage {
            categories: listings.categories(),
        })
    })
    .await?;
    Ok(respond(StatusCode::OK, render(&page)?))
}

/// One choice of a `<select>`.
#[derive(Debug, Clone)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

fn choices<'a>(
    any: &str,
    current: &str,
    options: impl Iterator<Item = (&'a str, &'a str)>,
) -> Vec<Choice> {
    let mut out = vec![Choice {
        value: String::new(),
        label: any.to_owned(),
        selected: current.is_empty(),
    }];
    let mut found = current.is_empty();
    for (value, label) in options {
        let selected = value.eq_ignore_ascii_case(current);
        found |= selected;
        out.push(Choice {
            value: value.to_owned(),
            label: label.to_owned(),
            selected,
        });
    }
    // A value typed into the address (a full capability, a category nothing lists yet)
    // stays selected, so the form resubmits the same search.
    if !found {
        out.push(Choice {
            value: current.to_owned(),
            label: current.to_owned(),
            selected: true,
        });
    }
    out
}

#[derive(Template)]
#[template(path = "page/search.html")]
struct SearchPageView {
    heading: String,
    /// Whether any filter or order is chosen (the filters then show open).
    filtered: bool,
    query: PageQuery,
    category_choices: Vec<Choice>,
    capability_choices: Vec<Choice>,
    trust_choices: Vec<Choice>,
    channel_choices: Vec<Choice>,
    sort_choices: Vec<Choice>,
    total: usize,
    page: usize,
    pages: usize,
    hits: Vec<Hit>,
    previous: Option<String>,
    next: Option<String>,
}

/// The page of `query` ordered by rating ([`Sort::Rating`]): every match in name order,
/// reordered by `ratings` (a stable sort, so ties stay in name order, as the API's are),
/// then cut to the page asked for.
fn by_rating(
    listing: &Listing,
    query: &PageQuery,
    ratings: &crate::server::search::rating::Ratings,
) -> crate::registries::search::SearchPage {
    let mut every = query.to_search();
    every.page = 1;
    every.per_page = usize::MAX;
    let mut hits = search(&[listing], &every).hits;
    hits.sort_by_key(|h| match ratings.get(&h.name) {
        Some(r) => (
            false,
            std::cmp::Reverse(r.hundredths),
            std::cmp::Reverse(r.count),
        ),
        None => (true, std::cmp::Reverse(0), std::cmp::Reverse(0)),
    });
    let per_page = PER_PAGE.max(1);
    let total = hits.len();
    let pages = total.div_ceil(per_page).max(1);
    let page = query.page.max(1);
    crate::registries::search::SearchPage {
        hits: hits
            .into_iter()
            .skip((page - 1).saturating_mul(per_page))
            .take(per_page)
            .collect(),
        total,
        page,
        pages,
    }
}

fn run_search(
    state: &AppState,
    query: PageQuery,
    heading: String,
) -> Result<SearchPageView, PageError> {
    let (_, listings) = catalog(state)?;
    let ratings = reviews::search_ratings(state)?;
    let result = if query.sort == Sort::Rating {
        by_rating(listings.of(query.channel), &query, &ratings)
    } else {
        search(&[listings.of(query.channel)], &query.to_search())
    };
    let categories = listings.categories();
    let trust = query.trust.map(TrustLevel::as_str).unwrap_or("");
    let pages = result.pages;
    Ok(SearchPageView {
        heading,
        filtered: query.is_filtered(),
        category_choices: choices(
            "Any category",
            &query.category,
            categories
                .iter()
                .map(|c| (c.name.as_str(), c.name.as_str())),
        ),
        capability_choices: choices(
            "Any or none",
            &query.capability,
            CapabilityKind::ALL.iter().map(|k| (k.as_str(), k.as_str())),
        ),
        trust_choices: choices(
            "Any trust level",
            trust,
            [
                ("self-signed", "Self-signed or better"),
                ("verified", "Verified publisher or better"),
                ("certified", "Certified"),
            ]
            .into_iter(),
        ),
        channel_choices: choices(
            "Generally available",
            if query.channel == Channel::Ga {
                ""
            } else {
                query.channel.as_str()
            },
            [("beta", "Betas too")].into_iter(),
        ),
        sort_choices: choices(
            "Best match",
            if query.sort == Sort::Relevance {
                ""
            } else {
                query.sort.as_str()
            },
            [
                ("name", "Name"),
                ("updated", "Recently updated"),
                ("rating", "Best rated"),
            ]
            .into_iter(),
        ),
        total: result.total,
        page: result.page,
        pages,
        hits: reviews::rated(Hit::all(&result), &ratings),
        previous: (result.page > 1).then(|| query.href(result.page - 1)),
        next: (result.page < pages && result.page < MAX_PAGE).then(|| query.href(result.page + 1)),
        query,
    })
}

fn parse_query(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<PageQuery, PageError> {
    let Query(pairs) = query.map_err(|e| PageError::BadParameter {
        parameter: "the address".into(),
        reason: e.body_text(),
    })?;
    PageQuery::parse(&pairs)
}

async fn search_page(
    State(state): State<Arc<AppState>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, PageError> {
    let query = parse_query(query)?;
    let heading = if query.q.is_empty() {
        "Search plugins".to_owned()
    } else {
        format!("Plugins matching “{}”", error::shorten(&query.q, 60))
    };
    let page = blocking(move || run_search(&state, query, heading)).await?;
    Ok(respond(StatusCode::OK, render(&page)?))
}

/// The longest category name in an address.
const MAX_CATEGORY_BYTES: usize = 64;

async fn category(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, PageError> {
    let Path(name) = name.map_err(|e| PageError::BadName {
        what: "category",
        name: String::new(),
        reason: e.body_text(),
    })?;
    if name.is_empty() || name.len() > MAX_CATEGORY_BYTES || name.chars().any(char::is_control) {
        return Err(PageError::BadName {
            what: "category",
            name: error::shorten(&name, 40),
            reason: format!("a category is 1 to {MAX_CATEGORY_BYTES} bytes of printable text"),
        });
    }
    let mut query = parse_query(query)?;
    if !query.category.is_empty() {
        return Err(PageError::BadParameter {
            parameter: "category".into(),
            reason: "the address already names the category".into(),
        });
    }
    let heading = format!("Plugins in {name}");
    query.category = name;
    let page = blocking(move || run_search(&state, query, heading)).await?;
    Ok(respond(StatusCode::OK, render(&page)?))
}

#[derive(Template)]
#[template(path = "page/plugin.html")]
struct PluginPage {
    p: PluginView,
    certification: Option<certification::CertificationView>,
    install: Vec<String>,
    readme: Readme,
    reviews: reviews::ReviewsSection,
    /// The price as shown (`49.00 EUR`, `9.00 EUR a month, 14-day trial`); `None`: free.
    price: Option<String>,
}

/// The registry's URL as this request reached it, when the `Host` header is a plain host
/// name or address (it is only ever shown back to the same client).
fn registry_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
    match host {
        Some(host) => {
            let https = headers
                .get("x-forwarded-proto")
                .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
            format!("{}://{host}/index", if https { "https" } else { "http" })
        }
        None => "https://REGISTRY-HOST/index".into(),
    }
}

async fn plugin(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Path(name) = name.map_err(|e| PageError::BadName {
        what: "plugin",
        name: String::new(),
        reason: e.body_text(),
    })?;
    validate_name(&name).map_err(|e| PageError::BadName {
        what: "plugin",
        name: error::shorten(&name, 40),
        reason: e.to_string(),
    })?;
    let url = registry_url(&headers);
    let page = blocking(move || {
        let (catalog, _) = catalog(&state)?;
        let releases = catalog
            .plugins
            .get(&name)
            .ok_or_else(|| PageError::UnknownPlugin { name: name.clone() })?;
        let config = read_capped(&state.data.registry.join("config.json"), MAX_CONFIG_BYTES)
            .ok()
            .and_then(|b| RegistryConfig::parse(&b).ok());
        let published = |n: &str| catalog.plugins.contains_key(n);
        let mut p = view::plugin_view(&name, releases, config.as_ref(), &published)
            .ok_or_else(|| PageError::UnknownPlugin { name: name.clone() })?;
        if let Ok(owners) = super::accounts::owners(&state.db, &name) {
            p.owners = owners.into_iter().map(|o| o.account).collect();
        }
        // The checks recorded when the shown release was uploaded (the listed upload).
        if let Ok(uploads) = super::uploads::of_plugin(&state.db, &name) {
            p.checks = uploads
                .iter()
                .find(|u| u.version == p.shown && u.state == super::uploads::UploadState::Listed)
                .map(|u| u.checks.iter().map(view::CheckView::of).collect());
        }
        let shown = releases.iter().find(|l| l.version.to_string() == p.shown);
        let readme = match (shown, config.as_ref()) {
            (Some(line), Some(config)) => {
                (*state.page.readme(&state.data.registry, config, line)).clone()
            }
            _ => Readme::Unreadable("the registry's configuration could not be read".into()),
        };
        let pricing =
            super::market::pricing_of(&state, &name).map_err(|e| PageError::Internal {
                reason: e.to_string(),
            })?;
        let mut install = vec![format!(
            "switchboard registry add {SUGGESTED_REGISTRY_NAME} {url}"
        )];
        // A paid plugin's package goes to an entitled account only: buy it first.
        if pricing.is_paid() {
            install.push(format!(
                "switchboard login --registry {SUGGESTED_REGISTRY_NAME} --token YOUR_TOKEN"
            ));
            install.push(format!(
                "switchboard buy {name} --registry {SUGGESTED_REGISTRY_NAME}"
            ));
        }
        install.push(format!("switchboard install {name}"));
        let price = pricing.is_paid().then(|| pricing.to_string());
        let certification = certification::for_release(&state, &name, &p.shown);
        let reviews = reviews::section(&state.db, &name, releases);
        Ok(PluginPage {
            p,
            certification,
            install,
            readme,
            reviews,
            price,
        })
    })
    .await?;
    Ok(respond(StatusCode::OK, render(&page)?))
}

async fn static_file(file: Result<Path<String>, PathRejection>, headers: HeaderMap) -> Response {
    let name = file.map(|Path(f)| f).unwrap_or_default();
    if name != "page.css" {
        return not_found(&format!("/static/{name}"));
    }
    let etag = format!("\"{}\"", &crate::sha256_hex(STYLESHEET.as_bytes())[..32]);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, STYLESHEET).into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
