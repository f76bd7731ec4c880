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

use serde::Serialize;

use super::store::{Database, OwnerRemoval};
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
    db.store().owners(&canonical_name(name))
}

/// Whether `account` owns `name`.
pub fn is_owner(db: &Database, name: &str, account: &str) -> Result<bool, ServerError> {
    Ok(owners(db, name)?.iter().any(|o| o.account == account))
}

/// Claims `name` for `account` if no account owns it (the first upload of a new name).
/// Returns whether this call claimed it; refuses a name another account owns (`SB1389`).
pub fn claim_new(db: &Database, name: &str, account: &str) -> Result<bool, ServerError> {
    check_account(account)?;
    if db
        .store()
        .claim_new(&canonical_name(name), account, now())?
    {
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
    db.store().unclaim(&canonical_name(name), account)
}

/// Adds `account` as an owner of `name`, by `by`. Returns false when it owned it already.
pub fn add_owner(db: &Database, name: &str, account: &str, by: &str) -> Result<bool, ServerError> {
    check_account(account)?;
    db.store()
        .add_owner(&canonical_name(name), account, now(), by)
}

/// Removes `account` from the owners of `name`; the last owner stays (`SB1441`). Whether it
/// is the last is decided in the same atomic step as the removal, so two owners removing
/// each other at once leave one.
pub fn remove_owner(db: &Database, name: &str, account: &str) -> Result<(), ServerError> {
    match db.store().remove_owner(&canonical_name(name), account)? {
        OwnerRemoval::Removed => Ok(()),
        OwnerRemoval::NotAnOwner => Err(ServerError::NotAnOwner {
            name: name.to_owned(),
            account: account.to_owned(),
        }),
        OwnerRemoval::LastOwner => Err(ServerError::LastOwner {
            name: name.to_owned(),
            account: account.to_owned(),
        }),
    }
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
    let candidate = BoundKey {
        key_id,
        account: account.to_owned(),
        public_key: line,
        added: now(),
    };
    // Bound in one atomic step: of two accounts binding one key at once, one gets it and
    // the other is told who has it.
    let bound = db.store().bind_key(&candidate)?;
    if bound.account == account {
        return Ok(bound);
    }
    Err(ServerError::KeyTaken {
        key_id: bound.key_id,
        account: bound.account,
    })
}

/// The key of id `key_id`, whichever account it is bound to.
pub fn key(db: &Database, key_id: &str) -> Result<Option<BoundKey>, ServerError> {
    db.store().key(key_id)
}

/// The keys bound to `account`, oldest first.
pub fn keys(db: &Database, account: &str) -> Result<Vec<BoundKey>, ServerError> {
    db.store().keys(account)
}

/// Unbinds the key `key_id` from `account` (releases it already signed stay listed).
pub fn remove_key(db: &Database, account: &str, key_id: &str) -> Result<BoundKey, ServerError> {
    db.store()
        .remove_key(account, key_id)?
        .ok_or_else(|| ServerError::UnknownKey {
            key_id: key_id.to_owned(),
            account: account.to_owned(),
        })
}

/// The canonical names `account` owns.
pub fn owned_by(
    db: &Database,
    account: &str,
) -> Result<std::collections::HashSet<String>, ServerError> {
    db.store().owned_by(account)
}
