//! Plugin state through the host: a namespaced key-value store ([`Kv`]), encrypted secrets
//! ([`Secrets`]) and the effective configuration ([`Context::config`]).
//!
//! The host keeps every plugin's keys apart: a plugin names only its own keys, and the host
//! takes the namespace from the instance, never from the plugin. Each call needs the `kv` or
//! `secrets` capability.
//!
//! # Transactions
//!
//! [`Kv::transaction`] is optimistic: the closure's reads go to the host and remember each
//! key's version, its writes are buffered, and the commit sends one batch the host applies in
//! one database transaction after checking that no key read has changed. On a conflict the
//! closure runs again (at most [`MAX_TX_ATTEMPTS`] times, then `SB0703`), so it must have no
//! side effects other than through the transaction.
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # {
//! use switchboard_sdk::testing::MockHost;
//!
//! let host = MockHost::new("counter");
//! host.grant("kv").unwrap();
//! let ctx = host.context();
//! ctx.kv().put("greeting", b"hello").unwrap();
//! assert_eq!(ctx.kv().get("greeting").unwrap().as_deref(), Some(&b"hello"[..]));
//!
//! let n: u64 = ctx
//!     .kv()
//!     .transaction(|tx| {
//!         let n = tx.get_as::<u64>("count")?.unwrap_or(0) + 1;
//!         tx.put_as("count", &n)?;
//!         Ok(n)
//!     })
//!     .unwrap();
//! assert_eq!(n, 1);
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::context::Context;
use crate::error::{codes, PluginError};
use crate::message::{decode, encode, Message};

/// The longest key or secret name, in bytes.
pub const MAX_KEY_LEN: usize = 1024;
/// The most entries one [`Kv::list_page`] call returns.
pub const MAX_PAGE: u32 = 1000;
/// How many times [`Kv::transaction`] runs its closure before giving up with `SB0703`.
pub const MAX_TX_ATTEMPTS: u32 = 16;

/// Whether `key` may name a KV entry or a secret: 1 to [`MAX_KEY_LEN`] bytes, no NUL.
///
/// ```
/// use switchboard_sdk::state::valid_key;
///
/// assert!(valid_key("users/42"));
/// assert!(!valid_key(""));
/// assert!(!valid_key("a\0b"));
/// ```
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && !key.contains('\0')
}

/// A stored value and its version. Versions grow with every write to the plugin's store, so
/// a key deleted and written again never gets an old version back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    /// The value's bytes.
    pub value: Vec<u8>,
    /// The version written with it.
    pub version: u64,
}

/// One page of a prefix listing, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvPage {
    /// `(key, entry)` pairs.
    pub entries: Vec<(String, KvEntry)>,
    /// If more keys follow: pass this as `after` to get the next page.
    pub next: Option<String>,
}

/// What a compare-and-swap expects to find.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Expected {
    /// No value under the key.
    Absent,
    /// The value written with this version.
    Version(u64),
    /// This exact value.
    Value(Vec<u8>),
}

/// A compare-and-swap request: if `key` holds what `expected` says, write `new` (`None`
/// deletes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CasRequest {
    /// The key.
    pub key: String,
    /// What must be there.
    pub expected: Expected,
    /// The value to write, or `None` to delete.
    pub new: Option<Vec<u8>>,
}

/// The result of a compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CasOutcome {
    /// The expectation held and the write happened; the new version (`None` after a delete).
    Swapped(Option<u64>),
    /// The expectation did not hold; nothing was written. What is there now.
    Mismatch(Option<KvEntry>),
}

impl CasOutcome {
    /// Whether the write happened.
    pub fn swapped(&self) -> bool {
        matches!(self, CasOutcome::Swapped(_))
    }
}

/// One buffered write of a transaction: a value, or `None` to delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvWrite {
    /// The key.
    pub key: String,
    /// The new value, or `None` to delete.
    pub value: Option<Vec<u8>>,
}

/// What an optimistic transaction sends to commit: the version of every key it read (`None`:
/// read as absent) and its writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitBatch {
    /// Keys read and the versions seen.
    pub reads: Vec<(String, Option<u64>)>,
    /// Writes, applied in order.
    pub writes: Vec<KvWrite>,
}

/// The host's answer to a [`CommitBatch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CommitOutcome {
    /// Every read was still current and every write is applied.
    Committed,
    /// This key changed since it was read; nothing was written.
    Conflict(String),
}

/// A secret value. Its `Debug` and `Display` print `***`, so it cannot reach a log line or an
/// error message by accident; read it with [`Secret::expose`].
///
/// ```
/// use switchboard_sdk::state::Secret;
///
/// let s = Secret::new(b"hunter2".to_vec());
/// assert_eq!(format!("{s} {s:?}"), "*** ***");
/// assert_eq!(s.expose(), b"hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps a value.
    pub fn new(value: Vec<u8>) -> Self {
        Secret(value)
    }

    /// The value's bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The value as UTF-8 text, if it is.
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The value's bytes, unwrapped.
    pub fn into_bytes(mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // `zeroize` writes volatile zeros over the whole allocation (spare capacity too),
        // which the optimiser may not remove as dead stores.
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for Secret {}

fn bad_value(key: &str, what: &str, e: impl fmt::Display) -> PluginError {
    PluginError::with_code(
        codes::STATE_BAD_VALUE,
        format!("the value under `{key}` does not decode as {what}: {e}"),
    )
    .next_step("read it with the type it was written with, or overwrite it")
}

fn json_bytes<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<Vec<u8>, PluginError> {
    serde_json::to_vec(value).map_err(|e| {
        PluginError::with_code(
            codes::ENCODE_FAILED,
            format!("the value for `{key}` does not encode as JSON: {e}"),
        )
        .next_step("use a type serde_json can encode (map keys must be strings)")
    })
}

fn from_json<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, PluginError> {
    serde_json::from_slice(bytes).map_err(|e| bad_value(key, std::any::type_name::<T>(), e))
}

/// The plugin's key-value store, reached with [`Context::kv`]. Needs the `kv` capability.
#[derive(Debug, Clone, Copy)]
pub struct Kv<'a> {
    ctx: &'a Context,
}

impl<'a> Kv<'a> {
    /// The value under `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PluginError> {
        Ok(self.entry(key)?.map(|e| e.value))
    }

    /// The value under `key` with its version, if any.
    pub fn entry(&self, key: &str) -> Result<Option<KvEntry>, PluginError> {
        self.ctx.backend().kv_get(key)
    }

    /// Writes `value` under `key`; returns the new version. Fails with `SB0702` if the
    /// plugin's quota would be exceeded.
    pub fn put(&self, key: &str, value: impl AsRef<[u8]>) -> Result<u64, PluginError> {
        self.ctx.backend().kv_put(key, value.as_ref())
    }

    /// Deletes `key`; returns whether it existed.
    pub fn delete(&self, key: &str) -> Result<bool, PluginError> {
        self.ctx.backend().kv_delete(key)
    }

    /// One page of the keys starting with `prefix`, in key order: at most `limit` (capped
    /// at [`MAX_PAGE`]) entries after key `after`.
    ///
    /// # Example
    ///
    /// ```
    /// # #[cfg(feature = "testing")]
    /// # {
    /// let host = switchboard_sdk::testing::MockHost::new("notes");
    /// host.grant("kv").unwrap();
    /// let kv = host.context();
    /// for k in ["n/1", "n/2", "n/3", "other"] {
    ///     kv.kv().put(k, b"x").unwrap();
    /// }
    /// let first = kv.kv().list_page("n/", None, 2).unwrap();
    /// assert_eq!(first.entries.len(), 2);
    /// let rest = kv.kv().list_page("n/", first.next.as_deref(), 2).unwrap();
    /// assert_eq!(rest.entries[0].0, "n/3");
    /// assert!(rest.next.is_none());
    /// # }
    /// ```
    pub fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<KvPage, PluginError> {
        self.ctx
            .backend()
            .kv_list(prefix, after, limit.clamp(1, MAX_PAGE))
    }

    /// Every key starting with `prefix` with its value, in key order (pages through
    /// [`list_page`](Kv::list_page)).
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, PluginError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.list_page(prefix, after.as_deref(), MAX_PAGE)?;
            out.extend(page.entries.into_iter().map(|(k, e)| (k, e.value)));
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// Compare-and-swap: writes `new` (or deletes, with `None`) only if `key` holds what
    /// `expected` says.
    pub fn cas(
        &self,
        key: &str,
        expected: Expected,
        new: Option<&[u8]>,
    ) -> Result<CasOutcome, PluginError> {
        self.ctx.backend().kv_cas(&CasRequest {
            key: key.to_owned(),
            expected,
            new: new.map(<[u8]>::to_vec),
        })
    }

    /// The value under `key` decoded from JSON.
    pub fn get_as<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, PluginError> {
        self.get(key)?.map(|b| from_json(key, &b)).transpose()
    }

    /// Writes `value` as JSON.
    pub fn put_as<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<u64, PluginError> {
        self.put(key, json_bytes(key, value)?)
    }

    /// The value under `key` decoded as a [`Message`] (postcard).
    pub fn get_message<M: Message>(&self, key: &str) -> Result<Option<M>, PluginError> {
        self.get(key)?
            .map(|b| decode(&b).map_err(|e| bad_value(key, M::CONTRACT.id, e.message())))
            .transpose()
    }

    /// Writes a [`Message`] (postcard).
    pub fn put_message<M: Message>(&self, key: &str, message: &M) -> Result<u64, PluginError> {
        self.put(key, encode(message))
    }

    /// Runs `f` as an optimistic transaction: all its writes apply together or not at all,
    /// and only if no key it read changed meanwhile; on such a conflict `f` runs again (see
    /// the [module docs](self)). An error from `f` discards its writes.
    pub fn transaction<T>(
        &self,
        mut f: impl FnMut(&mut KvTx<'a>) -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        let mut last = String::new();
        for _ in 0..MAX_TX_ATTEMPTS {
            let mut tx = KvTx {
                ctx: self.ctx,
                reads: BTreeMap::new(),
                writes: BTreeMap::new(),
            };
            let out = f(&mut tx)?;
            let batch = CommitBatch {
                reads: tx.reads.into_iter().collect(),
                writes: tx
                    .writes
                    .into_iter()
                    .map(|(key, value)| KvWrite { key, value })
                    .collect(),
            };
            match self.ctx.backend().kv_commit(&batch)? {
                CommitOutcome::Committed => return Ok(out),
                CommitOutcome::Conflict(key) => last = key,
            }
        }
        Err(PluginError::with_code(
            codes::STATE_CONFLICT,
            format!(
                "the transaction met a concurrent write {MAX_TX_ATTEMPTS} times (last on `{last}`)"
            ),
        )
        .next_step("retry later, or split the transaction so fewer writers touch the same keys"))
    }
}

/// The view of the store inside [`Kv::transaction`]: reads see the transaction's own writes.
#[derive(Debug)]
pub struct KvTx<'a> {
    ctx: &'a Context,
    reads: BTreeMap<String, Option<u64>>,
    writes: BTreeMap<String, Option<Vec<u8>>>,
}

impl KvTx<'_> {
    /// The value under `key` as this transaction sees it.
    pub fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, PluginError> {
        if let Some(buffered) = self.writes.get(key) {
            return Ok(buffered.clone());
        }
        let entry = self.ctx.backend().kv_get(key)?;
        self.reads
            .entry(key.to_owned())
            .or_insert(entry.as_ref().map(|e| e.version));
        Ok(entry.map(|e| e.value))
    }

    /// Buffers a write.
    pub fn put(&mut self, key: &str, value: impl AsRef<[u8]>) -> Result<(), PluginError> {
        check_key(key)?;
        self.writes
            .insert(key.to_owned(), Some(value.as_ref().to_vec()));
        Ok(())
    }

    /// Buffers a delete.
    pub fn delete(&mut self, key: &str) -> Result<(), PluginError> {
        check_key(key)?;
        self.writes.insert(key.to_owned(), None);
        Ok(())
    }

    /// The value under `key` decoded from JSON.
    pub fn get_as<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>, PluginError> {
        self.get(key)?.map(|b| from_json(key, &b)).transpose()
    }

    /// Buffers `value` as JSON.
    pub fn put_as<T: Serialize + ?Sized>(
        &mut self,
        key: &str,
        value: &T,
    ) -> Result<(), PluginError> {
        let bytes = json_bytes(key, value)?;
        self.put(key, bytes)
    }
}

fn check_key(key: &str) -> Result<(), PluginError> {
    if valid_key(key) {
        Ok(())
    } else {
        Err(
            PluginError::with_code(codes::STATE_BAD_KEY, format!("`{key}` is not a valid key"))
                .next_step(format!(
                    "use a key of 1 to {MAX_KEY_LEN} bytes without NUL characters"
                )),
        )
    }
}

/// The plugin's secrets, reached with [`Context::secrets`]. Needs the `secrets` capability.
/// The host stores them encrypted and never logs them.
///
/// # Example
///
/// ```
/// # #[cfg(feature = "testing")]
/// # {
/// let host = switchboard_sdk::testing::MockHost::new("mailer");
/// host.grant("secrets").unwrap();
/// let ctx = host.context();
/// ctx.secrets().put("smtp-password", b"hunter2").unwrap();
/// let s = ctx.secrets().get("smtp-password").unwrap().unwrap();
/// assert_eq!(s.expose_str(), Some("hunter2"));
/// assert_eq!(format!("{s:?}"), "***");
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Secrets<'a> {
    ctx: &'a Context,
}

impl Secrets<'_> {
    /// The secret `name`, if set.
    pub fn get(&self, name: &str) -> Result<Option<Secret>, PluginError> {
        self.ctx.backend().secret_get(name)
    }

    /// Sets the secret `name`.
    pub fn put(&self, name: &str, value: impl AsRef<[u8]>) -> Result<(), PluginError> {
        self.ctx.backend().secret_put(name, value.as_ref())
    }

    /// Deletes the secret `name`; returns whether it existed.
    pub fn delete(&self, name: &str) -> Result<bool, PluginError> {
        self.ctx.backend().secret_delete(name)
    }
}

impl Context {
    /// The plugin's key-value store (capability `kv`). See [`Kv`].
    pub fn kv(&self) -> Kv<'_> {
        Kv { ctx: self }
    }

    /// The plugin's secrets (capability `secrets`). See [`Secrets`].
    pub fn secrets(&self) -> Secrets<'_> {
        Secrets { ctx: self }
    }

    /// The plugin's effective configuration as JSON: the manifest's defaults, overridden by
    /// the host's configuration file, profile and variables, validated against the schema.
    /// Needs `config.read` (`SB0410`/`SB0411` otherwise, like every host service).
    pub fn config_value(&self) -> Result<serde_json::Value, PluginError> {
        let text = self.backend().config_json()?;
        serde_json::from_str(&text).map_err(|e| {
            PluginError::with_code(
                codes::CONFIG_TYPE,
                format!("the host's configuration is not JSON: {e}"),
            )
            .next_step("report this to the host's developers")
        })
    }

    /// The plugin's effective configuration, deserialized into `T`.
    ///
    /// # Example
    ///
    /// ```
    /// # #[cfg(feature = "testing")]
    /// # {
    /// #[derive(serde::Deserialize)]
    /// struct Settings {
    ///     units: String,
    /// }
    /// let host = switchboard_sdk::testing::MockHost::new("weather");
    /// host.grant("config.read").unwrap();
    /// host.set_config(serde_json::json!({ "units": "metric" }));
    /// let s: Settings = host.context().config().unwrap();
    /// assert_eq!(s.units, "metric");
    /// # }
    /// ```
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        let value = self.config_value()?;
        serde_json::from_value(value).map_err(|e| {
            PluginError::with_code(
                codes::CONFIG_TYPE,
                format!(
                    "the configuration does not fit `{}`: {e}",
                    std::any::type_name::<T>()
                ),
            )
            .next_step("align the type with the manifest's `[config] schema`")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_zeroized_on_drop_by_the_zeroize_crate() {
        fn zeroizes_on_drop<T: ZeroizeOnDrop>() {}
        zeroizes_on_drop::<Secret>();
        let mut s = Secret::new(b"hunter2".to_vec());
        s.0.zeroize();
        assert!(s.expose().is_empty(), "zeroize clears the value");
    }
}
