//! API tokens: made on the server's machine (`switchboard registry token create`), shown
//! once, stored as the sha256 of their secret, scoped, expiring and revocable; sent as
//! `Authorization: Bearer sbt_ID_SECRET`.
//!
//! A token belongs to an account. A plugin name belongs to the accounts that own it
//! ([`super::accounts`]): the first publisher's, and those its owners add; only their tokens
//! publish, yank, deprecate or promote it, except an `admin` token.

use std::fmt;
use std::str::FromStr;

use super::store::{Database, StoredToken};
use crate::error::ServerError;

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scope {
    /// Publish plugins whose name matches the pattern: a name, or a prefix ending in `*`
    /// (`acme-*`; `*` alone matches every name).
    Publish(String),
    /// Yank and unyank the account's plugins.
    Yank,
    /// Manage the account: its plugins' owners and its signing keys.
    Account,
    /// Moderate: approve, reject and delete reviews, resolve abuse reports.
    Moderate,
    /// Everything, for every account's plugins.
    Admin,
    /// Review certification requests: approve (the registry countersigns) or deny them.
    Certify,
}

impl Scope {
    /// Whether this scope lets its token publish `name`.
    pub fn may_publish(&self, name: &str) -> bool {
        match self {
            Scope::Admin => true,
            Scope::Yank | Scope::Account | Scope::Certify | Scope::Moderate => false,
            Scope::Publish(p) => match p.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => p == name,
            },
        }
    }

    /// Whether this scope lets its token yank and unyank.
    pub fn may_yank(&self) -> bool {
        matches!(self, Scope::Admin | Scope::Yank)
    }

    /// Whether this scope lets its token approve and deny certification requests.
    pub fn may_certify(&self) -> bool {
        matches!(self, Scope::Admin | Scope::Certify)
    }

    /// Whether this scope lets its token moderate: decide on pending reviews, delete any
    /// review, see and resolve abuse reports (`moderate` or `admin`). Writing a review needs
    /// no particular scope: any valid token speaks for its account.
    pub fn may_moderate(&self) -> bool {
        matches!(self, Scope::Admin | Scope::Moderate)
    }

    /// Whether this scope lets its token manage owners and signing keys.
    pub fn may_manage(&self) -> bool {
        matches!(self, Scope::Admin | Scope::Account)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Publish(p) => write!(f, "publish:{p}"),
            Scope::Yank => f.write_str("yank"),
            Scope::Account => f.write_str("account"),
            Scope::Moderate => f.write_str("moderate"),
            Scope::Admin => f.write_str("admin"),
            Scope::Certify => f.write_str("certify"),
        }
    }
}

impl FromStr for Scope {
    type Err = ServerError;
    /// `publish:NAME`, `publish:PREFIX*`, `yank`, `account`, `certify`, `moderate` or `admin`.
    fn from_str(s: &str) -> Result<Scope, ServerError> {
        let bad = |reason: &str| ServerError::BadToken {
            reason: format!("`{s}` is not a scope: {reason}"),
        };
        match s {
            "yank" => Ok(Scope::Yank),
            "account" => Ok(Scope::Account),
            "moderate" => Ok(Scope::Moderate),
            "admin" => Ok(Scope::Admin),
            "certify" => Ok(Scope::Certify),
            _ => {
                let Some(p) = s.strip_prefix("publish:") else {
                    return Err(bad(
                        "write publish:NAME-PATTERN, yank, account, certify, moderate or admin",
                    ));
                };
                let stem = p.strip_suffix('*').unwrap_or(p);
                let ok = !p.is_empty()
                    && stem.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                    });
                if !ok {
                    return Err(bad("the pattern is a name, or a prefix ending in `*`"));
                }
                Ok(Scope::Publish(p.to_owned()))
            }
        }
    }
}

/// A token as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenInfo {
    /// Its public id (the part before the secret).
    pub id: String,
    /// The account it acts for.
    pub account: String,
    /// What it may do.
    pub scope: Scope,
    /// Unix seconds when it was made.
    pub created: i64,
    /// Unix seconds after which it is refused, if it expires.
    pub expires: Option<i64>,
    /// Unix seconds when it was revoked, if it was.
    pub revoked: Option<i64>,
}

/// A new token: its text, shown once, and what is stored.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewToken {
    /// `sbt_ID_SECRET`: give it to the publisher; it is not stored and cannot be shown again.
    pub token: String,
    /// What is stored.
    pub info: TokenInfo,
}

/// The time now, in Unix seconds.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

pub(crate) fn random_hex(bytes: usize) -> Result<String, ServerError> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).map_err(|e| ServerError::Internal {
        reason: format!("no randomness for a token: {e}"),
    })?;
    Ok(hex::encode(buf))
}

/// Whether `account` is an account name: 1–64 of `a-z`, `0-9`, `-`, `_`.
pub fn valid_account(account: &str) -> bool {
    !account.is_empty()
        && account.len() <= 64
        && account
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Makes a token for `account` with `scope`, expiring at `expires` (Unix seconds) if given.
/// The secret is 32 random bytes; only its sha256 is stored.
pub fn create(
    db: &Database,
    account: &str,
    scope: Scope,
    expires: Option<i64>,
) -> Result<NewToken, ServerError> {
    if !valid_account(account) {
        return Err(ServerError::BadToken {
            reason: format!(
                "`{account}` is not an account name (lower-case letters, digits, `-`, `_`, at \
                 most 64)"
            ),
        });
    }
    let id = random_hex(8)?;
    let secret = random_hex(32)?;
    let info = TokenInfo {
        id: id.clone(),
        account: account.to_owned(),
        scope,
        created: now(),
        expires,
        revoked: None,
    };
    db.store().insert_token(&StoredToken::new(
        info.id.clone(),
        info.account.clone(),
        info.scope.to_string(),
        crate::sha256_hex(secret.as_bytes()),
        info.created,
        info.expires,
    ))?;
    Ok(NewToken {
        token: format!("sbt_{id}_{secret}"),
        info,
    })
}

/// Revokes the token `id` (its id, or the whole token text). Revoking twice is no error.
pub fn revoke(db: &Database, id: &str) -> Result<TokenInfo, ServerError> {
    let id = id
        .strip_prefix("sbt_")
        .map_or(id, |rest| rest.split('_').next().unwrap_or(rest));
    let stored = db
        .store()
        .revoke_token(id, now())?
        .ok_or_else(|| ServerError::UnknownToken { id: id.to_owned() })?;
    info_of(stored)
}

/// Every token, oldest first.
pub fn list(db: &Database) -> Result<Vec<TokenInfo>, ServerError> {
    db.store().tokens()?.into_iter().map(info_of).collect()
}

fn info_of(t: StoredToken) -> Result<TokenInfo, ServerError> {
    Ok(TokenInfo {
        scope: t.scope.parse()?,
        id: t.id,
        account: t.account,
        created: t.created,
        expires: t.expires,
        revoked: t.revoked,
    })
}

/// Checks an `Authorization` header's value: a known, unexpired, unrevoked token whose
/// secret hashes to what is stored.
pub fn authenticate(db: &Database, header: Option<&str>) -> Result<TokenInfo, ServerError> {
    let unauthenticated = |reason: &str| ServerError::Unauthenticated {
        reason: reason.to_owned(),
    };
    let Some(header) = header else {
        return Err(unauthenticated("no `Authorization: Bearer TOKEN` header"));
    };
    let token = header
        .strip_prefix("Bearer ")
        .ok_or_else(|| unauthenticated("the Authorization header is not `Bearer TOKEN`"))?
        .trim();
    let (id, secret) = token
        .strip_prefix("sbt_")
        .and_then(|rest| rest.split_once('_'))
        .ok_or_else(|| unauthenticated("the token is not of the form sbt_ID_SECRET"))?;
    let stored = db.store().token(id)?;
    let hash = crate::sha256_hex(secret.as_bytes());
    let stored = stored
        .filter(|s| constant_time_eq(s.secret_hash.as_bytes(), hash.as_bytes()))
        .ok_or_else(|| unauthenticated("no such token"))?;
    let info = info_of(stored)?;
    if info.revoked.is_some() {
        return Err(ServerError::TokenRevoked {
            id: info.id.clone(),
        });
    }
    if info.expires.is_some_and(|e| e <= now()) {
        return Err(ServerError::TokenExpired {
            id: info.id.clone(),
        });
    }
    Ok(info)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The first owner of `name` (the account that first published it), if any account owns
/// it. Every owner is in [`super::accounts::owners`].
pub fn owner(db: &Database, name: &str) -> Result<Option<String>, ServerError> {
    Ok(super::accounts::owners(db, name)?
        .into_iter()
        .next()
        .map(|o| o.account))
}
