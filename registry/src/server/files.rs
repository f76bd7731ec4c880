//! `/index/…`: the registry directory's files exactly as a client reads them, with strong
//! ETags (the sha256 of the bytes), `If-None-Match` answered with 304, and `Cache-Control`
//! (content-addressed packages are immutable; everything else is revalidated each time).

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use crate::error::ServerError;

/// The largest file served (a package is capped lower by publishing; this bounds memory).
pub const MAX_SERVED_BYTES: u64 = 256 << 20;

/// Checks that `path` (already percent-decoded) is a plain relative path inside the
/// registry: segments of `[A-Za-z0-9._-]`, none empty, none starting with `.` (so no `..`,
/// and no `.lock` or temporary file), at most 8 of them.
pub fn check_path(path: &str) -> Result<(), ServerError> {
    let refuse = |reason: &str| ServerError::BadPath {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if path.is_empty() {
        return Err(refuse("it is empty"));
    }
    if path.len() > 512 {
        return Err(refuse("it is longer than 512 bytes"));
    }
    let segments: Vec<&str> = path.split('/').collect();
    if segments.len() > 8 {
        return Err(refuse("it has more than 8 segments"));
    }
    for s in segments {
        if s.is_empty() {
            return Err(refuse("it has an empty segment (or is absolute)"));
        }
        if s.starts_with('.') {
            return Err(refuse("a segment starts with `.`"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        {
            return Err(refuse(
                "a segment holds a character other than A-Z a-z 0-9 . - _",
            ));
        }
    }
    Ok(())
}

/// Reads `path` under `root` after [`check_path`]; a file reached through a symbolic link out
/// of `root`, or anything but a regular file, is refused.
pub fn read(root: &Path, path: &str) -> Result<Vec<u8>, ServerError> {
    check_path(path)?;
    let full: PathBuf = root.join(path);
    let not_found = || ServerError::NotFound {
        path: format!("/index/{path}"),
    };
    let Ok(real) = full.canonicalize() else {
        return Err(not_found());
    };
    let real_root = root.canonicalize().map_err(|e| ServerError::Internal {
        reason: format!("{}: {e}", root.display()),
    })?;
    if !real.starts_with(&real_root) {
        return Err(ServerError::BadPath {
            path: path.to_owned(),
            reason: "it leads out of the registry".into(),
        });
    }
    match std::fs::metadata(&real) {
        Ok(m) if m.is_file() => {}
        _ => return Err(not_found()),
    }
    super::catalog::read_capped(&real, MAX_SERVED_BYTES)
}

/// The strong ETag of `bytes`.
pub fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", crate::sha256_hex(bytes))
}

/// Whether an `If-None-Match` header matches `tag` (a list, `*`, or weak forms).
fn matches(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == tag)
}

/// The response for the file `path` with `bytes`, given the request's headers.
pub fn respond(path: &str, bytes: Vec<u8>, headers: &HeaderMap) -> Response {
    let tag = etag(&bytes);
    let cache = if path.starts_with("packages/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let not_modified = matches(headers, &tag);
    let mut builder = Response::builder()
        .header(header::ETAG, &tag)
        .header(header::CACHE_CONTROL, cache);
    if not_modified {
        builder = builder.status(StatusCode::NOT_MODIFIED);
        return builder
            .body(Body::empty())
            .unwrap_or_else(|_| Response::new(Body::empty()));
    }
    let kind = if path.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    };
    let mut response = builder
        .status(StatusCode::OK)
        .body(Body::from(bytes))
        .unwrap_or_else(|_| Response::new(Body::empty()));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    response
}
