//! Quotas: how many bytes and keys a plugin's KV store may hold.
//!
//! The effective limit of a plugin is, for bytes and keys separately, what its manifest
//! requests (`[limits] kv_bytes`, `kv_keys`) or else the policy's default, capped at the
//! policy's maximum: `min(request.unwrap_or(default), max)`. Usage counts each entry as the
//! length of its key plus the length of its value. Limits are checked inside the write
//! transaction against usage kept in the same transaction, so concurrent writers cannot
//! overshoot together. A write that lowers usage is always allowed, even over the limit (a
//! plugin whose quota shrank can still clean up).

use crate::error::StateError;

/// A plugin's KV limits.
///
/// # Example
///
/// ```
/// use switchboard_host::state::Quota;
///
/// let q = Quota::new(1024, 10);
/// assert_eq!((q.max_bytes, q.max_keys), (1024, 10));
/// assert!(Quota::UNLIMITED.max_bytes > q.max_bytes);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The most bytes (keys plus values).
    pub max_bytes: u64,
    /// The most keys.
    pub max_keys: u64,
}

impl Quota {
    /// No limit (for host-side tools).
    pub const UNLIMITED: Quota = Quota {
        max_bytes: i64::MAX as u64,
        max_keys: i64::MAX as u64,
    };

    /// A quota of `max_bytes` and `max_keys`.
    pub const fn new(max_bytes: u64, max_keys: u64) -> Self {
        Quota {
            max_bytes,
            max_keys,
        }
    }
}

/// What policy says about quotas: the default a plugin gets without asking, and the most it
/// may ask for. Written in `policy.toml` as
///
/// ```toml
/// [quota]
/// default_kv_bytes = 10485760
/// default_kv_keys = 10000
/// max_kv_bytes = 104857600
/// max_kv_keys = 100000
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaPolicy {
    /// What a plugin gets when its manifest asks for nothing.
    pub default: Quota,
    /// The most a manifest can obtain.
    pub max: Quota,
}

impl Default for QuotaPolicy {
    fn default() -> Self {
        QuotaPolicy {
            default: Quota::new(10 << 20, 10_000),
            max: Quota::new(100 << 20, 100_000),
        }
    }
}

impl QuotaPolicy {
    /// The effective quota for a plugin whose manifest requests `bytes` and `keys`.
    ///
    /// ```
    /// use switchboard_host::state::{Quota, QuotaPolicy};
    ///
    /// let p = QuotaPolicy { default: Quota::new(100, 10), max: Quota::new(1000, 50) };
    /// assert_eq!(p.effective(None, None), Quota::new(100, 10));
    /// assert_eq!(p.effective(Some(500), Some(80)), Quota::new(500, 50));
    /// ```
    pub fn effective(&self, bytes: Option<u64>, keys: Option<u64>) -> Quota {
        Quota {
            max_bytes: bytes
                .unwrap_or(self.default.max_bytes)
                .min(self.max.max_bytes),
            max_keys: keys.unwrap_or(self.default.max_keys).min(self.max.max_keys),
        }
    }
}

/// A plugin's current usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes held (keys plus values).
    pub bytes: u64,
    /// Keys held.
    pub keys: u64,
}

/// Checks usage after a write (`after`) against `quota`, given usage before it.
pub(crate) fn check(
    plugin: &str,
    quota: Quota,
    before: Usage,
    after: Usage,
) -> Result<(), StateError> {
    let over_bytes = after.bytes > quota.max_bytes && after.bytes > before.bytes;
    let over_keys = after.keys > quota.max_keys && after.keys > before.keys;
    if over_bytes || over_keys {
        return Err(StateError::QuotaExceeded {
            plugin: plugin.to_owned(),
            bytes: after.bytes,
            max_bytes: quota.max_bytes,
            keys: after.keys,
            max_keys: quota.max_keys,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(bytes: u64, keys: u64) -> Usage {
        Usage { bytes, keys }
    }

    #[test]
    fn exactly_at_the_limit_passes_one_over_fails() {
        let q = Quota::new(10, 2);
        assert!(check("p", q, u(0, 0), u(10, 2)).is_ok());
        let e = check("p", q, u(0, 0), u(11, 2)).unwrap_err();
        assert_eq!(e.code().to_string(), "SB0702");
        assert!(e.to_string().contains("11 of 10 bytes"), "{e}");
        assert!(check("p", q, u(0, 0), u(10, 3)).is_err());
    }

    #[test]
    fn shrinking_usage_is_allowed_over_the_limit() {
        let q = Quota::new(10, 2);
        assert!(check("p", q, u(50, 5), u(40, 4)).is_ok());
        assert!(check("p", q, u(50, 5), u(51, 5)).is_err());
    }

    #[test]
    fn the_request_is_capped_by_policy() {
        let p = QuotaPolicy::default();
        assert_eq!(p.effective(Some(u64::MAX), None).max_bytes, p.max.max_bytes);
        assert_eq!(p.effective(Some(5), Some(1)), Quota::new(5, 1));
    }
}
