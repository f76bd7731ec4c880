//! Rate limits: a token bucket per client address over every endpoint. A client may make
//! `burst` requests at once and `per_second` more each second after; past that it is
//! answered 429 with `Retry-After` (`SB1397`) and its request is not run.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api::ApiError;
use super::AppState;
use crate::error::ServerError;

/// How many clients' buckets are kept; past it, buckets that are full again are dropped.
const MAX_CLIENTS: usize = 10_000;

/// A rate limit per client address.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RateLimit {
    /// Requests a client may make at once.
    pub burst: u32,
    /// Requests a client regains each second (0: none, for tests).
    pub per_second: f64,
}

impl RateLimit {
    /// A limit of `burst` at once and `per_second` after.
    pub fn new(burst: u32, per_second: f64) -> Self {
        RateLimit { burst, per_second }
    }
}

impl Default for RateLimit {
    /// 120 at once, 20 a second after: far above a client's refresh (one request when nothing
    /// changed) and an install, far below what hurts the server.
    fn default() -> Self {
        RateLimit::new(120, 20.0)
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The buckets.
#[derive(Debug)]
pub struct Limiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl Limiter {
    /// A limiter for `limit`.
    pub fn new(limit: RateLimit) -> Self {
        Limiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `client`'s bucket at `now`; `Err(seconds)` to wait if empty.
    pub fn take(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        let burst = f64::from(self.limit.burst);
        let rate = self.limit.per_second;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&client) {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < burst
            });
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = if rate > 0.0 {
            ((1.0 - bucket.tokens) / rate).ceil()
        } else {
            60.0
        };
        Err((wait as u64).max(1))
    }
}

/// The middleware: every request takes from its client's bucket first.
pub async fn limit(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let Some(limiter) = &state.limiter else {
        return next.run(request).await;
    };
    match limiter.take(peer.ip(), Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(seconds) => {
            let mut response = ApiError::from(ServerError::RateLimited {
                retry_after: seconds,
            })
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        }
    }
}
