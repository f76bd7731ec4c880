//! Rate limits: a token bucket per client address over every endpoint. A client may make
//! `burst` requests at once and `per_second` more each second after; past that it is
//! answered 429 with `Retry-After` (`SB1397`) and its request is not run.
//!
//! The buckets are bounded: at most [`MAX_CLIENTS`] addresses are tracked; past that, buckets
//! that have refilled are dropped first (forgetting them loses nothing), then the
//! least recently seen ones — so a flood of new addresses costs memory up to the bound and
//! can at worst reset the buckets of the quietest clients.
//!
//! The client is the connection's peer address — for IPv6, its /64 network (one host is
//! usually handed a whole /64, so keying by the full address would give it 2^64 buckets; an
//! IPv4 address mapped into IPv6 counts as that IPv4 address). Behind a reverse proxy every request comes
//! from the proxy: with `--trusted-proxy ADDR` (off by default), requests from exactly that
//! address are limited by the last address of their `X-Forwarded-For` (the one the proxy
//! itself appended); the header is ignored from anyone else, so a client cannot pick its
//! own bucket.

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

/// How many clients' buckets are kept; past it, buckets that are full again are dropped,
/// then the least recently seen.
pub const MAX_CLIENTS: usize = 10_000;

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
    max_clients: usize,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl Limiter {
    /// A limiter for `limit`.
    pub fn new(limit: RateLimit) -> Self {
        Limiter::bounded(limit, MAX_CLIENTS)
    }

    /// A limiter tracking at most `max_clients` addresses (at least 1).
    pub fn bounded(limit: RateLimit, max_clients: usize) -> Self {
        Limiter {
            limit,
            max_clients: max_clients.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// How many addresses are tracked now.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Takes one request from `client`'s bucket (its [`bucket_of`]) at `now`;
    /// `Err(seconds)` to wait if empty.
    pub fn take(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        let client = bucket_of(client);
        let burst = f64::from(self.limit.burst);
        let rate = self.limit.per_second;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= self.max_clients && !buckets.contains_key(&client) {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < burst
            });
            // Still full: the least recently seen eighth goes (one pass, not one per insert).
            if buckets.len() >= self.max_clients {
                let mut seen: Vec<(Instant, IpAddr)> =
                    buckets.iter().map(|(ip, b)| (b.last, *ip)).collect();
                seen.sort_unstable();
                let evict = (seen.len() / 8).max(1);
                for (_, ip) in seen.into_iter().take(evict) {
                    buckets.remove(&ip);
                }
            }
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

/// The bucket an address counts against: an IPv4 address itself (also when mapped into
/// IPv6, `::ffff:a.b.c.d`); an IPv6 address's /64 network (the rest of it zeroed).
pub fn bucket_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
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
    let client = client_of(peer.ip(), state.trusted_proxy, request.headers());
    match limiter.take(client, Instant::now()) {
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

/// The address a request is limited as: the peer, or — from the trusted proxy only — the
/// last address of `X-Forwarded-For` (the proxy's own view of its client).
pub fn client_of(
    peer: IpAddr,
    trusted_proxy: Option<IpAddr>,
    headers: &axum::http::HeaderMap,
) -> IpAddr {
    if trusted_proxy != Some(peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .last()
        .and_then(|a| a.trim().parse::<IpAddr>().ok())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_share_the_bucket_of_their_64() {
        let limiter = Limiter::new(RateLimit::new(2, 0.0));
        let now = Instant::now();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Two addresses of one /64: one bucket of 2, so the third request waits.
        assert!(limiter.take(ip("2001:db8:1:2::1"), now).is_ok());
        assert!(limiter
            .take(ip("2001:db8:1:2:ffff:ffff:ffff:fffe"), now)
            .is_ok());
        assert!(limiter.take(ip("2001:db8:1:2:abcd::9"), now).is_err());
        // The next /64 has a bucket of its own.
        assert!(limiter.take(ip("2001:db8:1:3::1"), now).is_ok());
        assert_eq!(limiter.tracked(), 2);
        assert_eq!(bucket_of(ip("2001:db8:1:2:abcd::9")), ip("2001:db8:1:2::"));
        // IPv4, plain or mapped into IPv6, is one address per bucket.
        assert_eq!(bucket_of(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert!(limiter.take(ip("192.0.2.7"), now).is_ok());
        assert!(limiter.take(ip("::ffff:192.0.2.7"), now).is_ok());
        assert!(limiter.take(ip("192.0.2.7"), now).is_err());
        assert!(limiter.take(ip("192.0.2.8"), now).is_ok());
    }
}
