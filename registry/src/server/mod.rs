//! The registry server (feature `server`; `switchboard registry serve`): one process that
//! keeps a signed registry directory and serves it over HTTP, with a JSON API beside it.
//!
//! Fixed paths, so scripts and mirrors can rely on them:
//!
//! - `/index/…` — the registry directory's files exactly as the client reads them
//!   (`/index/timestamp.json`, `/index/index/he/ll/hello`, `/index/packages/SHA.sbpkg`), with
//!   strong ETags, 304 on `If-None-Match`, and `Cache-Control`. A client adds the registry as
//!   `http://HOST:PORT/index`; a static copy of that directory is a complete registry.
//! - `GET /api/v1/search` — plugins matching words and filters (`category`, `capability`,
//!   `compatible_with`, `maintainer`, `trust`, `channel`), sorted (`relevance`, `downloads`,
//!   `updated`, `name`, `rating`), one page with the total ([`search`]).
//! - `GET /api/v1/plugins/NAME` — details, every version with its recorded checks, yanks,
//!   deprecation, channels, owners, downloads, uploads not listed.
//! - `POST /api/v1/publish` — upload a signed package (body: the package; header
//!   `Switchboard-Signature`: its `.minisig` in base64; `Switchboard-Package-File`: its file
//!   name; `?channel=`) with a `publish:…` or `admin` token: stored, checked check by check
//!   (recorded), then listed, held for review (a possible typosquat, [`squat`]) or refused.
//! - `POST /api/v1/plugins/NAME/yank`, `/unyank`, `/deprecate`, `/promote` — with a token of
//!   an owning account (`yank`, or `publish:…` for deprecate and promote) or `admin`.
//! - `GET|POST /api/v1/plugins/NAME/owners`, `DELETE …/owners/ACCOUNT` — a name's owners
//!   ([`accounts`]); `GET|POST /api/v1/accounts/ACCOUNT/keys`, `DELETE …/keys/KEY_ID` — the
//!   signing keys bound to an account.
//! - `GET /api/v1/uploads/ID` — an upload's state and checks ([`uploads`]); `GET
//!   /api/v1/holds`, `POST /api/v1/holds/ID/release|reject` — the review queue (admin);
//!   `GET /api/v1/whoami`.
//! - `GET /api/openapi.json` — the OpenAPI 3.1 document of the above.
//! - `/`, `/search`, `/categories`, `/categories/NAME`, `/plugins/NAME`, `/static/page.css`
//!   — the web page for people (`page`): HTML rendered on the server, no JavaScript, a
//!   strict Content-Security-Policy; unknown paths outside `/api/` and `/index/` get its
//!   HTML 404 page.
//!
//! Every endpoint is rate-limited per client address (429 with `Retry-After`, `SB1397`).
//! Every refusal is a coded JSON body (`{"code", "message", "next_step"}`, SB1375–SB1399,
//! SB1440–SB1450).
//!
//! Modules: `listen` (which addresses), `data` (the data directory, made on first start),
//! `store` (the database behind a trait: SQLite by default, or PostgreSQL), `artifacts` (the
//! uploads' and packages' bytes behind a trait: a directory by default), `catalog` (what is
//! published, read from the registry directory), `files` (`/index/`), `api` (`/api/v1/`
//! reads), `tokens` (tokens and name ownership), `publishing` (`/api/v1/` changes), `page`
//! (the web page, SB1470–SB1479).
//!
//! # Example
//!
//! ```no_run
//! use switchboard_registry::server::{parse_listen, Server, ServerOptions};
//! let options = ServerOptions::new("/srv/switchboard".into(), parse_listen("127.0.0.1:8080")?);
//! let server = Server::start(&options)?;
//! println!("{}", server.url());
//! server.wait()?;
//! # Ok::<(), switchboard_registry::RegistryError>(())
//! ```

pub mod accounts;
mod api;
pub mod artifacts;
pub mod audit;
mod catalog;
pub mod certification;
mod checks;
mod data;
mod details;
mod downloads;
mod files;
mod limits;
mod listen;
#[cfg(any(test, feature = "testing"))]
pub mod load;
mod manage;
mod market;
mod openapi;
mod page;
pub mod payments;
mod publishing;
mod reviews;
pub mod search;
pub mod squat;
pub mod store;
pub mod tokens;
pub mod uploads;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;

pub use api::{ApiError, DEFAULT_PER_PAGE, MAX_PER_PAGE, MAX_QUERY_BYTES};
pub use data::DataDir;
pub use details::CacheCounts;
pub use files::MAX_SERVED_BYTES;
pub use limits::RateLimit;
pub use listen::parse_listen;
pub use market::DEFAULT_FEE_BASIS_POINTS;
pub use openapi::{openapi, ROUTES};
pub use page::{PageError, CONTENT_SECURITY_POLICY};
pub use publishing::{FILE_HEADER, MAX_SIGNATURE_BYTES, SIGNATURE_HEADER};
pub use store::sqlite::SCHEMA_VERSION;
pub use store::{Database, DatabaseChoice, Store};

use crate::error::ServerError;
use crate::RegistryError;

/// What the server needs to start.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// The data directory (made on first start).
    pub data_dir: PathBuf,
    /// Where to listen (see [`parse_listen`]); port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where accounts, tokens, owners, keys, uploads and download counts are kept: SQLite
    /// (`server.db` in the data directory, the default) or a PostgreSQL database.
    pub database: DatabaseChoice,
    /// Threads for blocking work (files, the database, signing); default 4.
    pub blocking_threads: usize,
    /// The largest upload accepted (default: the host's package cap); larger is refused
    /// with 413 (`SB1390`) before it is stored.
    pub max_upload_bytes: u64,
    /// The rate limit per client address (`None`: unlimited).
    pub rate_limit: Option<RateLimit>,
    /// A reverse proxy in front of the server (off by default): requests from exactly this
    /// address are rate-limited by the last address of their `X-Forwarded-For` header
    /// instead; from any other address the header is ignored.
    pub trusted_proxy: Option<std::net::IpAddr>,
    /// Downloads from which a listed name counts as popular for the squatting rule (names
    /// within a small edit distance of a popular one are held for review; see
    /// [`squat`]). Default 100.
    pub popular_downloads: u64,
    /// The certification key (an unencrypted minisign secret key file) approvals
    /// countersign with; `None`: `keys/certification.key` in the data directory, made on the
    /// first start that needs it (see [`certification`]).
    pub certification_key: Option<PathBuf>,
    /// A RustSec advisory database snapshot (a directory holding `crates/`) the
    /// certification's `advisories` check reads; `None`: a package with a `Cargo.lock` gets
    /// `not-run`, which blocks its approval.
    pub advisory_db: Option<PathBuf>,
    /// How certification's `tests` check runs a release's smoke calls: in an isolated runner
    /// process (`--runner`; default: the one this process would use), with these limits
    /// (see [`certification::smoke`]).
    pub smoke: certification::smoke::SmokeOptions,
    /// Who takes payments for paid plugins (`None`, the default: the server sells nothing,
    /// `SB1484`; [`payments::TestPayments`] moves no money and approves `test-approve`).
    pub payments: Option<Arc<dyn payments::PaymentProvider>>,
    /// On PostgreSQL, how long plugin details may go on showing what a write by another
    /// server or process sharing the database changed (the details cache reads the
    /// database's change stamp at most this often; this server's own writes show at once).
    /// Default 100 ms ([`store::changes::POSTGRES_STAMP_FRESH_FOR`]); zero reads it for
    /// every request. SQLite reads its stamp on every request whatever this says.
    pub shared_database_lag: std::time::Duration,
}

impl ServerOptions {
    /// Options with the defaults.
    pub fn new(data_dir: PathBuf, listen: SocketAddr) -> Self {
        ServerOptions {
            data_dir,
            listen,
            database: DatabaseChoice::Sqlite,
            blocking_threads: 4,
            max_upload_bytes: switchboard_host::package::UnpackLimits::default().max_package_bytes,
            rate_limit: Some(RateLimit::default()),
            trusted_proxy: None,
            popular_downloads: 100,
            certification_key: None,
            advisory_db: None,
            smoke: certification::smoke::SmokeOptions::default(),
            payments: None,
            shared_database_lag: store::changes::POSTGRES_STAMP_FRESH_FOR,
        }
    }
}

/// What the request handlers share.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) data: DataDir,
    pub(crate) db: Database,
    pub(crate) artifacts: Arc<dyn artifacts::Artifacts>,
    pub(crate) max_upload_bytes: u64,
    pub(crate) limiter: Option<limits::Limiter>,
    pub(crate) trusted_proxy: Option<std::net::IpAddr>,
    pub(crate) catalog: catalog::CatalogCache,
    pub(crate) downloads: downloads::Downloads,
    pub(crate) popular_downloads: u64,
    pub(crate) page: page::PageCache,
    /// The prices search hits show (see [`market::PriceList`]).
    pub(crate) prices: market::PriceList,
    pub(crate) ratings: reviews::RatingList,
    /// Held while a purchase, trial or refund checks, charges and records (see
    /// `market::purchase`).
    pub(crate) market_writes: std::sync::Mutex<()>,
    pub(crate) payments: Option<Arc<dyn payments::PaymentProvider>>,
    /// Held while this server changes its registry directory (list, yank, unyank, deprecate,
    /// promote), so its own requests queue rather than find the directory's lock taken
    /// (`SB1337`, 503, is then only another process's doing, such as a CLI command).
    pub(crate) registry_writes: std::sync::Mutex<()>,
    /// The certification key and advisory database.
    pub(crate) certifier: certification::Certifier,
    /// Finished details answers (see [`details`]).
    pub(crate) details: details::DetailsCache,
}

/// A running server: listening from [`Server::start`] until dropped (or forever, with
/// [`Server::wait`]).
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    data: DataDir,
    created: bool,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
    /// Held here too, so that the state (and the database's connections, which may not be
    /// closed on an async task) is dropped last, on the thread that drops the server.
    state: Arc<AppState>,
}

impl Server {
    /// Opens (or on first start makes) the data directory, binds the address and starts
    /// serving on a thread of its own (a current-thread runtime with a small blocking pool).
    /// Binding happens before this returns, so a port in use is an error here (`SB1378`).
    pub fn start(options: &ServerOptions) -> Result<Server, RegistryError> {
        let (data, created) = DataDir::open_or_init(&options.data_dir)?;
        let db = Database::open_choice(&options.database, &data.database)?;
        let bind_error = |e: std::io::Error| ServerError::Bind {
            listen: options.listen.to_string(),
            reason: e.to_string(),
        };
        let listener = std::net::TcpListener::bind(options.listen).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .max_blocking_threads(options.blocking_threads.max(1))
            .thread_name("registry-server")
            .build()
            .map_err(bind_error)?;
        let downloads = downloads::Downloads::load(&db)?;
        let certifier = certification::Certifier::open(
            &data,
            options.certification_key.as_deref(),
            options.advisory_db.as_deref(),
            &options.smoke,
        )
        .map_err(ServerError::from)?;
        // Certification requests a stopped server left `checking` end denied, audited.
        certification::recovery::recover_at_start(&db, &options.database, tokens::now())?;
        let state = Arc::new(AppState {
            data: data.clone(),
            db,
            artifacts: Arc::new(artifacts::ArtifactDir::new(&data.uploads, &data.registry)),
            max_upload_bytes: options.max_upload_bytes,
            limiter: options.rate_limit.map(limits::Limiter::new),
            trusted_proxy: options.trusted_proxy,
            catalog: catalog::CatalogCache::default(),
            downloads,
            popular_downloads: options.popular_downloads,
            page: page::PageCache::default(),
            prices: market::PriceList::default(),
            ratings: reviews::RatingList::default(),
            market_writes: std::sync::Mutex::new(()),
            payments: options.payments.clone(),
            registry_writes: std::sync::Mutex::new(()),
            certifier,
            details: details::DetailsCache::new(options.shared_database_lag),
        });
        let app = router(Arc::clone(&state));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("registry-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
                    axum::serve(
                        listener,
                        app.into_make_service_with_connect_info::<SocketAddr>(),
                    )
                    .with_graceful_shutdown(async move {
                        let _ = rx.await;
                    })
                    .await
                    .map_err(|e| e.to_string())
                })
            })
            .map_err(bind_error)?;
        Ok(Server {
            addr,
            data,
            created,
            shutdown: Some(tx),
            thread: Some(thread),
            state,
        })
    }

    /// The address it listens on (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL a client adds the registry as: `http://ADDR/index`.
    pub fn registry_url(&self) -> String {
        format!("{}/index", self.url())
    }

    /// Holds the server's smoke-run lock, as a running release's smoke calls do, until the
    /// guard is dropped (tests: a submission meanwhile finds the server busy); `None` if a run
    /// holds it.
    #[cfg(any(test, feature = "testing"))]
    pub fn hold_smoke_lock(&self) -> Option<std::sync::MutexGuard<'_, ()>> {
        self.state.certifier.smoke_lock.try_hold()
    }

    /// The data directory's parts.
    pub fn data_dir(&self) -> &DataDir {
        &self.data
    }

    /// Where its database is: the SQLite file, or the PostgreSQL URL without its password.
    pub fn database_location(&self) -> String {
        self.state.db.store().location().to_owned()
    }

    /// How many downloads it served whose count the database did not take (each is logged
    /// when it happens; the count in memory has them).
    pub fn uncounted_downloads(&self) -> u64 {
        self.state.downloads.failed_writes()
    }

    /// How often its caches answered since it started: details from the details cache,
    /// searches from kept pages (the load generator reports these).
    pub fn cache_counts(&self) -> CacheCounts {
        self.state.details.counts()
    }

    /// Whether this start made the data directory (a new registry).
    pub fn created(&self) -> bool {
        self.created
    }

    /// Serves until the server stops (it does not, short of an error or the process ending).
    pub fn wait(mut self) -> Result<(), RegistryError> {
        let result = match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err("the server thread panicked".into())),
            None => Ok(()),
        };
        result.map_err(|reason| {
            ServerError::Bind {
                listen: self.addr.to_string(),
                reason,
            }
            .into()
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The largest body of any request but an upload (yank and unyank take a small JSON object).
const MAX_REQUEST_BYTES: usize = 64 * 1024;

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/index/{*path}", get(index_file))
        .route("/api/v1/search", get(api::search))
        .route("/api/v1/plugins/{name}", get(details::plugin))
        .route(
            "/api/v1/publish",
            post(publishing::publish)
                // Only uploads may be large, and only once their token checked out.
                .layer(DefaultBodyLimit::max(
                    usize::try_from(state.max_upload_bytes).unwrap_or(usize::MAX),
                ))
                .route_layer(axum::middleware::from_fn_with_state(
                    Arc::clone(&state),
                    publishing::authorize_upload,
                )),
        )
        .route("/api/v1/plugins/{name}/yank", post(publishing::yank))
        .route("/api/v1/plugins/{name}/unyank", post(publishing::unyank))
        .route(
            "/api/v1/plugins/{name}/deprecate",
            post(publishing::deprecate),
        )
        .route("/api/v1/plugins/{name}/promote", post(publishing::promote))
        .route(
            "/api/v1/plugins/{name}/owners",
            get(manage::owners).post(manage::add_owner),
        )
        .route(
            "/api/v1/plugins/{name}/owners/{account}",
            delete(manage::remove_owner),
        )
        .route(
            "/api/v1/accounts/{account}/keys",
            get(manage::keys).post(manage::add_key),
        )
        .route(
            "/api/v1/accounts/{account}/keys/{key_id}",
            delete(manage::remove_key),
        )
        .route("/api/v1/whoami", get(manage::whoami))
        .route("/api/v1/uploads/{id}", get(manage::upload))
        .route("/api/v1/holds", get(manage::holds))
        .route("/api/v1/holds/{id}/release", post(manage::release))
        .route("/api/v1/holds/{id}/reject", post(manage::reject))
        .route("/api/v1/audit", get(audit::list))
        .route(
            "/api/v1/plugins/{name}/versions/{version}/certification",
            get(certification::status_handler).post(certification::submit_handler),
        )
        .route(
            "/api/v1/certification/queue",
            get(certification::queue_handler),
        )
        .route("/api/v1/certification/key", get(certification::key_handler))
        .route(
            "/api/v1/certification/{id}/approve",
            post(certification::approve_handler),
        )
        .route(
            "/api/v1/certification/{id}/deny",
            post(certification::deny_handler),
        )
        .route("/api/v1/plugins/{name}/pricing", post(market::set_pricing))
        .route("/api/v1/plugins/{name}/purchase", post(market::purchase))
        .route("/api/v1/entitlements", get(market::entitlements))
        .route("/api/v1/purchases/{id}/refund", post(market::refund))
        .route("/api/v1/market/rates", post(market::set_rate))
        .route("/api/v1/market/thresholds", post(market::set_threshold))
        .route(
            "/api/v1/disputes",
            get(market::disputes).post(market::open_dispute),
        )
        .route(
            "/api/v1/disputes/{id}/resolve",
            post(market::resolve_dispute),
        )
        .route("/api/v1/payouts", get(market::payouts))
        .route("/api/openapi.json", get(openapi::serve))
        .merge(reviews::routes())
        .merge(page::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            details::count_writes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            limits::limit,
        ))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state)
}

/// Opens the database of the server data directory `root` (made by a first
/// [`Server::start`]), for token commands run beside a running server: its SQLite
/// `server.db`.
pub fn open_database(root: &std::path::Path) -> Result<Database, RegistryError> {
    open_database_with(root, &DatabaseChoice::Sqlite)
}

/// Opens the database a server of the data directory `root` uses: `choice` (as given to
/// that server with `--database`), or its SQLite `server.db`.
pub fn open_database_with(
    root: &std::path::Path,
    choice: &DatabaseChoice,
) -> Result<Database, RegistryError> {
    let data = DataDir::at(root);
    let sqlite = *choice == DatabaseChoice::Sqlite;
    if (sqlite && !data.database.is_file()) || !data.registry.join("timestamp.json").is_file() {
        return Err(ServerError::DataDir {
            path: root.display().to_string(),
            reason: "it is not a registry server's data directory (no server.db or registry)"
                .into(),
        }
        .into());
    }
    Ok(Database::open_choice(choice, &data.database)?)
}

/// Writes one line to the server's log (its standard error): something went wrong that
/// the request it happened in did not fail for.
#[expect(
    clippy::print_stderr,
    reason = "the server's log is its standard error; nothing else reports these"
)]
pub(crate) fn log_error(what: &str, e: &dyn std::fmt::Display) {
    eprintln!("switchboard registry server: {what}: {e}");
}

async fn index_file(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path(path) = path.map_err(|e| ServerError::BadPath {
        path: "/index/…".into(),
        reason: e.body_text(),
    })?;
    api::blocking(move || {
        let sha = path
            .strip_prefix("packages/")
            .and_then(|f| f.strip_suffix(".sbpkg"))
            .filter(|sha| {
                // Lower-case only, as packages are named: an upper-case name would miss the
                // price lookup and still open the file on a case-insensitive filesystem.
                sha.len() == 64 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            });
        // A paid plugin's package goes only to an entitled account (`SB1480`, 402).
        let paid = match sha {
            Some(sha) => market::check_package(&state, sha, &headers)?,
            None => false,
        };
        let bytes = match sha {
            Some(sha) => state.artifacts.package(sha)?,
            None => files::read(&state.data.registry, &path)?,
        };
        let mut response = files::respond(&path, bytes, &headers);
        if paid {
            // Never kept by a shared cache: the next request may not be entitled.
            response.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("private, no-cache"),
            );
        }
        if response.status() == axum::http::StatusCode::OK {
            if let Some(sha) = sha {
                count_download(&state, sha);
            }
        }
        Ok(response)
    })
    .await
}

/// Counts a download of the package `sha` for its plugin. Counting is best effort: a
/// failure (the database, or the catalog it needs) is logged and the file served anyway.
fn count_download(state: &AppState, sha: &str) {
    let catalog = match state.catalog.get(&state.data.registry) {
        Ok(c) => c,
        Err(e) => {
            log_error(&format!("not counting a download of {sha}"), &e);
            return;
        }
    };
    if let Some(plugin) = catalog.by_sha256.get(sha) {
        if let Err(e) = market::count_daily(state, plugin) {
            log_error(
                &format!("a download of {plugin} was not counted for today"),
                &e,
            );
        }
        if let Err(e) = state.downloads.record(&state.db, plugin) {
            let e = crate::RegistryError::from(e);
            log_error(
                &format!("a download of {plugin} was served but not counted"),
                &format_args!("{} {e}", e.code()),
            );
        }
    }
}

async fn not_found(uri: Uri) -> Response {
    use axum::response::IntoResponse;
    if page::is_page_path(uri.path()) {
        return page::not_found(uri.path());
    }
    ApiError::from(ServerError::NotFound {
        path: uri.path().to_owned(),
    })
    .into_response()
}

#[cfg(test)]
mod tests;
