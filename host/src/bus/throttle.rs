//! Per-caller throttles on service calls: a token bucket per (caller, service).

use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// A rate limit: `rate` calls per second on average, bursts of up to `burst` calls.
///
/// # Example
///
/// ```
/// use switchboard_host::bus::Throttle;
///
/// let t = Throttle::new(100.0, 20);
/// assert_eq!(t.burst, 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    /// Calls per second, refilled continuously.
    pub rate: f64,
    /// The most calls that may be made at once after a quiet spell.
    pub burst: u32,
}

impl Throttle {
    /// A throttle of `rate` calls per second with bursts of `burst`.
    pub fn new(rate: f64, burst: u32) -> Throttle {
        Throttle {
            rate: if rate.is_finite() && rate > 0.0 {
                rate
            } else {
                f64::MIN_POSITIVE
            },
            burst: burst.max(1),
        }
    }
}

/// One caller's bucket for one service.
#[derive(Debug)]
pub(crate) struct Bucket {
    limit: Throttle,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    pub fn new(limit: Throttle) -> Bucket {
        Bucket {
            limit,
            state: Mutex::new((f64::from(limit.burst), Instant::now())),
        }
    }

    /// Takes a token, or says how long until one is free.
    pub fn take(&self) -> Result<(), Duration> {
        let now = Instant::now();
        let mut state = self.state.lock();
        let (tokens, last) = &mut *state;
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * self.limit.rate).min(f64::from(self.limit.burst));
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - *tokens) / self.limit.rate;
            Err(Duration::try_from_secs_f64(wait).unwrap_or(Duration::MAX))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_throttled_with_a_retry_after() {
        // One token per 1000 s: no refill can happen during the test.
        let b = Bucket::new(Throttle::new(0.001, 3));
        for _ in 0..3 {
            b.take().unwrap();
        }
        let wait = b.take().unwrap_err();
        assert!(wait > Duration::from_secs(900), "{wait:?}");
    }

    #[test]
    fn nonsense_rates_are_clamped() {
        let t = Throttle::new(f64::NAN, 0);
        assert!(t.rate > 0.0);
        assert_eq!(t.burst, 1);
    }
}
