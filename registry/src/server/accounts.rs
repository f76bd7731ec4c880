//! Accounts own names and signing keys.
//!
//! **Names.** A plugin name (keyed by its canonical form, so `my_plugin` and `my-plugin` are
//! one name) belongs to the accounts in its owner list. The first owner is the account whose
//! upload first listed it ([`claim_new`]); more are added only explicitly, by an owner or an
//! admin ([`add_owner`]); the last owner cannot be removed ([`remove_owner`]). A name that is
//! in the registry but has no owner (published by hand into the server's registry directory)
//! is claimed by nobody through publishing: an admin assigns it.
//!
//! **Keys.** A publisher's minisign public key is bound to one account ([`add_key`]); an upload
//! signed by a key not bound to the uploading account is refused (`SB1442`), and a release
//! signed by a bound key is listed as `verified` (ARCHITECTURE D8: a key bound to the publisher
//! by the registry).

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::db::Database;
use super::tokens::{now, valid_account};
use crate::error::ServerError;
use crate::format::canonical_name;

/// One owner of a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Owner {
    /// The account.
    pub account: String,
    /// Unix seconds since it owns the name.
    pub since: i64,
    /// The account that added it (itself for the first owner).
    pub added_by: String,
}

/// A signing key bound to an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BoundKey {
    /// The key id, as minisign shows it (16 upper-case hex digits).
    pub key_id: String,
    /// The account.
    pub account: String,
    /// The public key's base64 line.
    pub public_key: String,
    /// Unix seconds when it was bound.
    pub added: i64,
}

fn check_account(account: &str) -> Result<(), ServerError> {
    if valid_account(account) {
        Ok(())
    } else {
        Err(ServerError::BadAccount {
            account: account.chars().take(80).collect(),
        })
    }
}

/// The owners of `name`, first owner first.
pub fn owners(db: &Database, name: &str) -> Result<Vec<Owner>, ServerError> {
    let conn = db.conn();
    let mut stmt = conn
        .prepare_cached(
            "SELECT account, since, added_by FROM owners WHERE plugin = ?1 \
             ORDER BY since, rowid",
        )
        .map_err(|e| db.error(&e))?;
    let rows = stmt
        .query_map(params![canonical_name(name)], |r| {
            Ok(Owner {
                account: r.get(0)?,
                since: r.get(1)?,
                added_by: r.get(2)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(|e| db.error(&e));
    rows
}

/// Whether `account` owns `name`.
pub fn is_owner(db: &Database, name: &str, account: &str) -> Result<bool, ServerError> {
    Ok(owners(db, name)?.iter().any(|o| o.account == account))
}

/// Claims `name` for `account` if no account owns it (the first upload of a new name).
/// Returns whether this call claimed it; refuses a name another account owns (`SB1389`).
pub fn claim_new(db: &Database, name: &str, account: &str) -> Result<bool, ServerError> {
    check_account(account)?;
    let conn = db.conn();
    let inserted = conn
        .execute(
            "INSERT INTO owners (plugin, account, since, added_by) \
             SELECT ?1, ?2, ?3, ?2 WHERE NOT EXISTS (SELECT 1 FROM owners WHERE plugin = ?1)",
            params![canonical_name(name), account, now()],
        )
        .map_err(|e| db.error(&e))?;
    drop(conn);
    if inserted == 1 {
        return Ok(true);
    }
    let all = owners(db, name)?;
    if all.iter().any(|o| o.account == account) {
        return Ok(false);
    }
    Err(ServerError::NotOwner {
        name: name.to_owned(),
        account: account.to_owned(),
        owner: all.first().map(|o| o.account.clone()).unwrap_or_default(),
    })
}

/// Undoes a [`claim_new`] this request made (its upload then failed).
pub fn unclaim(db: &Database, name: &str, account: &str) -> Result<(), ServerError> {
    db.conn()
        .execute(
            "DELETE FROM owners WHERE plugin = ?1 AND account = ?2 AND added_by = ?2",
            params![canonical_name(name), account],
        )
        .map(|_| ())
        .map_err(|e| db.error(&e))
}

/// Adds `account` as an owner of `name`, by `by`. Returns false when it owned it already.
pub fn add_owner(db: &Database, name: &str, account: &str, by: &str) -> Result<bool, ServerError> {
    check_account(account)?;
    let n = db
        .conn()
        .execute(
            "INSERT OR IGNORE INTO owners (plugin, account, since, added_by) \
             VALUES (?1, ?2, ?3, ?4)",
            params![canonical_name(name), account, now(), by],
        )
        .map_err(|e| db.error(&e))?;
    Ok(n == 1)
}

/// Removes `account` from the owners of `name`; the last owner stays (`SB1441`).
pub fn remove_owner(db: &Database, name: &str, account: &str) -> Result<(), ServerError> {
    let all = owners(db, name)?;
    if !all.iter().any(|o| o.account == account) {
        return Err(ServerError::NotAnOwner {
            name: name.to_owned(),
            account: account.to_owned(),
        });
    }
    if all.len() == 1 {
        return Err(ServerError::LastOwner {
            name: name.to_owned(),
            account: account.to_owned(),
        });
    }
    db.conn()
        .execute(
            "DELETE FROM owners WHERE plugin = ?1 AND account = ?2",
            params![canonical_name(name), account],
        )
        .map(|_| ())
        .map_err(|e| db.error(&e))
}

/// The key id a `.minisig` text was made with (minisign's display form), if it parses.
pub fn key_id_of_signature(text: &str) -> Option<String> {
    use base64::Engine as _;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(line)
        .ok()?;
    if raw.len() != 74 {
        return None;
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&raw[2..10]);
    Some(format!("{:016X}", u64::from_le_bytes(id)))
}

/// Binds the minisign public key `public_key` (a `.pub` file's text or its base64 line) to
/// `account`. Binding it again to the same account changes nothing; a key bound to another
/// account is refused (`SB1444`).
pub fn add_key(db: &Database, account: &str, public_key: &str) -> Result<BoundKey, ServerError> {
    check_account(account)?;
    let bad = |reason: String| ServerError::BadKey { reason };
    if public_key.len() > 4096 {
        return Err(bad("longer than 4 KiB".into()));
    }
    let key_id = switchboard_host::package::key_id_of_public_key(public_key).map_err(bad)?;
    let line = public_key
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .unwrap_or_default()
        .to_owned();
    if let Some(existing) = key(db, &key_id)? {
        if existing.account == account {
            return Ok(existing);
        }
        return Err(ServerError::KeyTaken {
            key_id,
            account: existing.account,
        });
    }
    let bound = BoundKey {
        key_id,
        account: account.to_owned(),
        public_key: line,
        added: now(),
    };
    db.conn()
        .execute(
            "INSERT INTO keys (key_id, account, public_key, added) VALUES (?1, ?2, ?3, ?4)",
            params![bound.key_id, bound.account, bound.public_key, bound.added],
        )
        .map_err(|e| db.error(&e))?;
    Ok(bound)
}

/// The key of id `key_id`, whichever account it is bound to.
pub fn key(db: &Database, key_id: &str) -> Result<Option<BoundKey>, ServerError> {
    db.conn()
        .query_row(
            "SELECT key_id, account, public_key, added FROM keys WHERE key_id = ?1",
            params![key_id],
            |r| {
                Ok(BoundKey {
                    key_id: r.get(0)?,
                    account: r.get(1)?,
                    public_key: r.get(2)?,
                    added: r.get(3)?,
                })
            },
        )
        .optional()
        .map_err(|e| db.error(&e))
}

/// The keys bound to `account`, oldest first.
pub fn keys(db: &Database, account: &str) -> Result<Vec<BoundKey>, ServerError> {
    let conn = db.conn();
    let mut stmt = conn
        .prepare_cached(
            "SELECT key_id, account, public_key, added FROM keys WHERE account = ?1 \
             ORDER BY added, key_id",
        )
        .map_err(|e| db.error(&e))?;
    let rows = stmt
        .query_map(params![account], |r| {
            Ok(BoundKey {
                key_id: r.get(0)?,
                account: r.get(1)?,
                public_key: r.get(2)?,
                added: r.get(3)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(|e| db.error(&e));
    rows
}

/// Unbinds the key `key_id` from `account` (releases it already signed stay listed).
pub fn remove_key(db: &Database, account: &str, key_id: &str) -> Result<BoundKey, ServerError> {
    let found = key(db, key_id)?
        .filter(|k| k.account == account)
        .ok_or_else(|| ServerError::UnknownKey {
            key_id: key_id.to_owned(),
            account: account.to_owned(),
        })?;
    db.conn()
        .execute("DELETE FROM keys WHERE key_id = ?1", params![key_id])
        .map_err(|e| db.error(&e))?;
    Ok(found)
}

/// The canonical names `account` owns.
pub fn owned_by(
    db: &Database,
    account: &str,
) -> Result<std::collections::HashSet<String>, ServerError> {
    let conn = db.conn();
    let mut stmt = conn
        .prepare_cached("SELECT plugin FROM owners WHERE account = ?1")
        .map_err(|e| db.error(&e))?;
    let rows = stmt
        .query_map(params![account], |r| r.get(0))
        .and_then(Iterator::collect)
        .map_err(|e| db.error(&e));
    rows
}
