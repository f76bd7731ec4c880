//! `GET /api/v1/plugins/NAME` served from a cache of finished answers: the JSON bytes of
//! each plugin's details with their ETag, kept while nothing they were made from changed.
//!
//! An entry is used only while all of these equal what they were read as *before* the
//! entry was made (a change during its making leaves it stale at once, never wrong later):
//!
//! - the catalog's stamp (the digest of `timestamp.json`, which every change of the registry
//!   directory re-signs, by this server or any other process);
//! - this server's write generation, bumped before and after every request that is not a
//!   `GET` or `HEAD` ([`count_writes`], a middleware around every route: no handler can
//!   forget it), and by work this server does outside a request through
//!   [`DetailsCache::changed`];
//! - the database's change stamp ([`ChangeStamp`](super::store::changes::ChangeStamp)):
//!   exact on SQLite (read on every use; any write by any connection changes it); on
//!   PostgreSQL read at most every [`super::ServerOptions::shared_database_lag`] (default
//!   100 ms): a write by another server or process sharing the database shows in details
//!   at most that late, this server's own at once;
//! - the plugin's download count as this server counts it (a download changes no SQLite
//!   stamp; on PostgreSQL its commit moves the snapshot like any write).
//!
//! A hit is answered on the async task with no hand-off to the blocking pool and no
//! database round trip (SQLite: one `PRAGMA` on the idle connection; when it is busy, or
//! on PostgreSQL when the stamp is older than its bound, the blocking pool checks). An
//! `If-None-Match` naming the current ETag is answered `304 Not Modified`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api::{blocking, ApiError};
use super::store::changes::ChangeStampValue;
use super::AppState;
use crate::error::ServerError;

/// At most this many plugins' answers are kept; past it the cache starts again empty.
pub const MAX_KEPT: usize = 50_000;
/// At most this many bytes of answers are kept; past it the cache starts again empty.
pub const MAX_KEPT_BYTES: usize = 64 << 20;

/// The kept answers and their size.
#[derive(Debug, Default)]
struct Kept {
    map: HashMap<String, Arc<Entry>>,
    bytes: usize,
}

/// What an answer made now would be made from (see the module's documentation).
#[derive(Debug, Clone)]
struct Inputs {
    catalog: Arc<super::catalog::Catalog>,
    generation: u64,
    database: ChangeStampValue,
    downloads: u64,
}

/// What a kept entry was made from: [`Inputs`] with the catalog's stamp in place of the
/// catalog, so a kept answer never holds a whole old catalog (with its word index and
/// kept pages) alive.
#[derive(Debug)]
struct MadeFrom {
    catalog_stamp: String,
    generation: u64,
    database: ChangeStampValue,
    downloads: u64,
}

impl MadeFrom {
    fn matches(&self, now: &Inputs) -> bool {
        self.catalog_stamp == now.catalog.stamp
            && self.generation == now.generation
            && self.database == now.database
            && self.downloads == now.downloads
    }
}

#[derive(Debug)]
struct Entry {
    made_from: MadeFrom,
    body: Bytes,
    etag: HeaderValue,
}

impl Entry {
    /// The bytes this entry accounts for in [`MAX_KEPT_BYTES`]: its answer, its ETag, its
    /// key and stamp, and a fixed allowance for the map's own bookkeeping.
    fn size(&self, name: &str) -> usize {
        self.body.len() + self.etag.len() + name.len() + self.made_from.catalog_stamp.len() + 128
    }
}

/// The cache (one per server, in its state).
#[derive(Debug, Default)]
pub(crate) struct DetailsCache {
    /// How long a PostgreSQL change stamp is used ([`super::ServerOptions::shared_database_lag`]).
    lag: std::time::Duration,
    generation: AtomicU64,
    entries: Mutex<Kept>,
    /// PostgreSQL: the last change stamp read and when.
    remote: Mutex<Option<(ChangeStampValue, Instant)>>,
    hits: AtomicU64,
    misses: AtomicU64,
    search_kept: AtomicU64,
    search_made: AtomicU64,
}

/// How often the server's caches answered (since it started): see [`super::Server::cache_counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheCounts {
    /// Details answered from the details cache.
    pub details_kept: u64,
    /// Details made (not kept, or kept but stale), and refusals.
    pub details_made: u64,
    /// Searches answered from a kept page (in memory: on the async task; PostgreSQL: on
    /// the blocking pool, with no database query).
    pub search_kept: u64,
    /// Searches computed (not kept, or not keepable: by downloads or maintainer).
    pub search_made: u64,
}

impl DetailsCache {
    /// A cache using a PostgreSQL change stamp for `lag` before reading it again.
    pub(crate) fn new(lag: std::time::Duration) -> DetailsCache {
        DetailsCache {
            lag,
            ..DetailsCache::default()
        }
    }

    /// Records that something details show may have changed (bumps the write generation).
    /// Every non-`GET` request does this through [`count_writes`]; work the server does
    /// outside a request (none today) must call it after it writes.
    pub(crate) fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// How often the caches answered, since the server started.
    pub(crate) fn counts(&self) -> CacheCounts {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheCounts {
            details_kept: n(&self.hits),
            details_made: n(&self.misses),
            search_kept: n(&self.search_kept),
            search_made: n(&self.search_made),
        }
    }

    /// Counts a search answered from a kept page.
    pub(crate) fn search_kept(&self) {
        self.search_kept.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a search answered on the blocking pool.
    pub(crate) fn search_made(&self) {
        self.search_made.fetch_add(1, Ordering::Relaxed);
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The database's change stamp now; `wait == false`: `None` rather than block (SQLite's
/// connection busy; PostgreSQL's stamp older than its bound).
fn database_stamp(state: &AppState, wait: bool) -> Result<Option<ChangeStampValue>, ServerError> {
    let store = state.db.store();
    if !store.change_stamp_is_remote() {
        return store.change_stamp(wait);
    }
    let cache = &state.details;
    let kept = *cache.remote.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((stamp, at)) = kept {
        if at.elapsed() < cache.lag {
            return Ok(Some(stamp));
        }
    }
    if !wait {
        return Ok(None);
    }
    let asked = Instant::now();
    let Some(stamp) = store.change_stamp(true)? else {
        return Ok(None);
    };
    *cache.remote.lock().unwrap_or_else(|p| p.into_inner()) = Some((stamp, asked));
    Ok(Some(stamp))
}

/// What an answer made now would be made from; `wait == false`: `None` rather than block.
fn inputs(state: &AppState, name: &str, wait: bool) -> Result<Option<Inputs>, ApiError> {
    // The generation first: a write that ends after this is read bumps it again.
    let generation = state.details.generation.load(Ordering::SeqCst);
    let catalog = if wait {
        Some(state.catalog.get(&state.data.registry)?)
    } else {
        state.catalog.current(&state.data.registry)
    };
    let Some(catalog) = catalog else {
        return Ok(None);
    };
    let Some(database) = database_stamp(state, wait)? else {
        return Ok(None);
    };
    Ok(Some(Inputs {
        catalog,
        generation,
        database,
        downloads: state.downloads.of(name),
    }))
}

/// The kept answer for `name` if it is current.
fn kept(state: &AppState, name: &str, now: &Inputs) -> Option<Arc<Entry>> {
    let entry = state.details.entries().map.get(name).cloned()?;
    entry.made_from.matches(now).then_some(entry)
}

fn answer(entry: &Entry, headers: &HeaderMap) -> Response {
    let unchanged = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/").as_bytes() == entry.etag.as_bytes()
        });
    let status = if unchanged {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let mut response = if unchanged {
        status.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            entry.body.clone(),
        )
            .into_response()
    };
    response
        .headers_mut()
        .insert(header::ETAG, entry.etag.clone());
    response
}

/// Makes the answer for `name` (blocking), keeps it, and returns it.
fn make(state: &AppState, name: &str, before: Inputs) -> Result<Arc<Entry>, ApiError> {
    let doc = super::api::plugin_json(state, name)?;
    let body = serde_json::to_vec(&doc).map_err(|e| ServerError::Internal {
        reason: e.to_string(),
    })?;
    let etag = {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(&body);
        HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..16]))).map_err(|e| {
            ServerError::Internal {
                reason: e.to_string(),
            }
        })?
    };
    let entry = Arc::new(Entry {
        made_from: MadeFrom {
            catalog_stamp: before.catalog.stamp.clone(),
            generation: before.generation,
            database: before.database,
            downloads: before.downloads,
        },
        body: Bytes::from(body),
        etag,
    });
    drop(before);
    let mut kept = state.details.entries();
    let size = entry.size(name);
    if kept.map.len() >= MAX_KEPT || kept.bytes + size > MAX_KEPT_BYTES {
        kept.map.clear();
        kept.bytes = 0;
    }
    if let Some(old) = kept.map.insert(name.to_owned(), Arc::clone(&entry)) {
        kept.bytes = kept.bytes.saturating_sub(old.size(name));
    }
    kept.bytes += size;
    drop(kept);
    Ok(entry)
}

/// `GET /api/v1/plugins/NAME`: the details ([`super::api::plugin_json`]) as JSON, with an
/// ETag; `304` on a matching `If-None-Match`.
pub async fn plugin(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path(name) = name.map_err(|e| ServerError::BadPath {
        path: "/api/v1/plugins/…".into(),
        reason: e.body_text(),
    })?;
    if let Ok(Some(now)) = inputs(&state, &name, false) {
        if let Some(entry) = kept(&state, &name, &now) {
            state.details.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(answer(&entry, &headers));
        }
    }
    blocking(move || {
        let now = inputs(&state, &name, true)?.ok_or_else(|| ServerError::Internal {
            reason: "the database's change stamp could not be read".into(),
        })?;
        let entry = match kept(&state, &name, &now) {
            Some(entry) => {
                state.details.hits.fetch_add(1, Ordering::Relaxed);
                entry
            }
            None => {
                state.details.misses.fetch_add(1, Ordering::Relaxed);
                make(&state, &name, now)?
            }
        };
        Ok(answer(&entry, &headers))
    })
    .await
}

/// Middleware around every route: a request that is not `GET` or `HEAD` bumps the details
/// cache's write generation before it runs and after it ends (or is dropped), so no
/// answer made before its change is served after it.
pub async fn count_writes(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    struct Bump(Arc<AppState>);
    impl Drop for Bump {
        fn drop(&mut self) {
            self.0.details.changed();
        }
    }
    state.details.changed();
    let _after = Bump(Arc::clone(&state));
    next.run(request).await
}
