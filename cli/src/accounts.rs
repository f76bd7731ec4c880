//! A registry server's accounts from the command line, over its HTTP API with the token
//! `switchboard login` stored: `switchboard owner list|add|remove` (who owns a name),
//! `switchboard key add|list|remove` (the signing keys bound to an account; uploads signed by
//! another key are refused) and `switchboard hold list|release|reject` (the review queue of
//! names held as possible typosquats; an admin's).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::output::print;
use crate::server::{call, escape, Method};

/// Which registry server, and where the logins are.
#[derive(Debug, Args)]
pub struct ServerTarget {
    /// The configured registry server (`switchboard registry add NAME http://HOST:PORT/index`).
    #[arg(long)]
    pub registry: String,
    /// The data directory holding the configured registries and logins.
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
    pub data_dir: Option<PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// `switchboard owner …`.
#[derive(Debug, Subcommand)]
pub enum OwnerCmd {
    /// The accounts owning a plugin name (first owner first).
    List {
        /// The plugin.
        name: String,
        #[command(flatten)]
        target: ServerTarget,
    },
    /// Add an owner (your token: scope `account`, of an owner; or `admin`).
    Add {
        /// The plugin.
        name: String,
        /// The account to add.
        account: String,
        #[command(flatten)]
        target: ServerTarget,
    },
    /// Remove an owner (the last owner stays).
    Remove {
        /// The plugin.
        name: String,
        /// The account to remove.
        account: String,
        #[command(flatten)]
        target: ServerTarget,
    },
}

/// `switchboard key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Bind a minisign public key (`.pub`) to your account (or `--account`, with an admin
    /// token): releases it signs are listed as `verified`.
    Add {
        /// The public key file.
        file: PathBuf,
        /// The account (default: your token's).
        #[arg(long)]
        account: Option<String>,
        #[command(flatten)]
        target: ServerTarget,
    },
    /// The keys bound to an account.
    List {
        /// The account (default: your token's).
        #[arg(long)]
        account: Option<String>,
        #[command(flatten)]
        target: ServerTarget,
    },
    /// Unbind a key (by its id).
    Remove {
        /// The key id (16 hex digits, as `key list` shows it).
        key_id: String,
        /// The account (default: your token's).
        #[arg(long)]
        account: Option<String>,
        #[command(flatten)]
        target: ServerTarget,
    },
}

/// `switchboard hold …` (admin).
#[derive(Debug, Subcommand)]
pub enum HoldCmd {
    /// Uploads held for review.
    List {
        #[command(flatten)]
        target: ServerTarget,
    },
    /// Release a held upload: its checks run again and it is listed.
    Release {
        /// The upload's id.
        id: String,
        #[command(flatten)]
        target: ServerTarget,
    },
    /// Reject a held upload.
    Reject {
        /// The upload's id.
        id: String,
        /// Why (shown to the uploader).
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        target: ServerTarget,
    },
}

fn emit(target: &ServerTarget, doc: &Value, text: String) {
    if target.json {
        print(&format!("{doc}\n"));
    } else {
        print(&text);
    }
}

fn data(target: &ServerTarget) -> Result<PathBuf> {
    crate::data_dir::resolve(target.data_dir.clone())
}

fn owners_text(doc: &Value) -> String {
    let mut text = String::new();
    for o in doc["owners"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "{}  (added by {})\n",
            o["account"].as_str().unwrap_or(""),
            o["added_by"].as_str().unwrap_or("")
        ));
    }
    text
}

/// Runs `switchboard owner …`.
pub fn run_owner(cmd: OwnerCmd) -> Result<bool> {
    match cmd {
        OwnerCmd::List { name, target } => {
            let doc = call(
                &data(&target)?,
                &target.registry,
                Method::Get,
                &format!("plugins/{}/owners", escape(&name)),
                None,
                false,
            )?;
            emit(&target, &doc, owners_text(&doc));
        }
        OwnerCmd::Add {
            name,
            account,
            target,
        } => {
            let doc = call(
                &data(&target)?,
                &target.registry,
                Method::Post,
                &format!("plugins/{}/owners", escape(&name)),
                Some(&json!({ "account": account })),
                true,
            )?;
            emit(
                &target,
                &doc,
                format!("owners of {name}:\n{}", owners_text(&doc)),
            );
        }
        OwnerCmd::Remove {
            name,
            account,
            target,
        } => {
            let doc = call(
                &data(&target)?,
                &target.registry,
                Method::Delete,
                &format!("plugins/{}/owners/{}", escape(&name), escape(&account)),
                None,
                true,
            )?;
            emit(
                &target,
                &doc,
                format!("owners of {name}:\n{}", owners_text(&doc)),
            );
        }
    }
    Ok(true)
}

/// The account a key command is for: as given, else the token's (`/api/v1/whoami`).
fn account_of(target: &ServerTarget, account: Option<String>) -> Result<String> {
    if let Some(a) = account {
        return Ok(a);
    }
    let me = call(
        &data(target)?,
        &target.registry,
        Method::Get,
        "whoami",
        None,
        true,
    )?;
    Ok(me["account"].as_str().unwrap_or_default().to_owned())
}

/// Runs `switchboard key …`.
pub fn run_key(cmd: KeyCmd) -> Result<bool> {
    match cmd {
        KeyCmd::Add {
            file,
            account,
            target,
        } => {
            let text = std::fs::read_to_string(&file)?;
            let account = account_of(&target, account)?;
            let doc = call(
                &data(&target)?,
                &target.registry,
                Method::Post,
                &format!("accounts/{}/keys", escape(&account)),
                Some(&json!({ "public_key": text })),
                true,
            )?;
            emit(
                &target,
                &doc,
                format!(
                    "key {} bound to account {account}\n",
                    doc["key"]["key_id"].as_str().unwrap_or("")
                ),
            );
        }
        KeyCmd::List { account, target } => {
            let account = account_of(&target, account)?;
            let doc = call(
                &data(&target)?,
                &target.registry,
                Method::Get,
                &format!("accounts/{}/keys", escape(&account)),
                None,
                false,
            )?;
            let mut text = String::new();
            for k in doc["keys"].as_array().into_iter().flatten() {
                text.push_str(&format!("{}\n", k["key_id"].as_str().unwrap_or("")));
            }
            if text.is_empty() {
                text = format!("no keys are bound to account {account}\n");
            }
            emit(&target, &doc, text);
        }
        KeyCmd::Remove {
            key_id,
            account,
            target,
        } => {
            let account = account_of(&target, account)?;
            let doc = call(
                &data(&target)?,
                &target.registry,
                Method::Delete,
                &format!("accounts/{}/keys/{}", escape(&account), escape(&key_id)),
                None,
                true,
            )?;
            emit(
                &target,
                &doc,
                format!("key {key_id} unbound from account {account}\n"),
            );
        }
    }
    Ok(true)
}

/// Runs `switchboard hold …`.
pub fn run_hold(cmd: HoldCmd) -> Result<bool> {
    match cmd {
        HoldCmd::List { target } => {
            let doc = call(
                &data(&target)?,
                &target.registry,
                Method::Get,
                "holds",
                None,
                true,
            )?;
            let mut text = String::new();
            for h in doc["holds"].as_array().into_iter().flatten() {
                text.push_str(&format!(
                    "{}  {}@{}  by {}: {}\n",
                    h["upload"].as_str().unwrap_or(""),
                    h["name"].as_str().unwrap_or(""),
                    h["version"].as_str().unwrap_or(""),
                    h["account"].as_str().unwrap_or(""),
                    h["reason"].as_str().unwrap_or("")
                ));
            }
            if text.is_empty() {
                text = "nothing is held for review\n".into();
            }
            emit(&target, &doc, text);
        }
        HoldCmd::Release { id, target } => {
            let doc = call(
                &data(&target)?,
                &target.registry,
                Method::Post,
                &format!("holds/{}/release", escape(&id)),
                None,
                true,
            )?;
            emit(
                &target,
                &doc,
                format!(
                    "released: {}@{} is listed\n",
                    doc["name"].as_str().unwrap_or(""),
                    doc["version"].as_str().unwrap_or("")
                ),
            );
        }
        HoldCmd::Reject { id, reason, target } => {
            let doc = call(
                &data(&target)?,
                &target.registry,
                Method::Post,
                &format!("holds/{}/reject", escape(&id)),
                Some(&json!({ "reason": reason })),
                true,
            )?;
            emit(
                &target,
                &doc,
                format!(
                    "rejected upload {id} ({}@{})\n",
                    doc["name"].as_str().unwrap_or(""),
                    doc["version"].as_str().unwrap_or("")
                ),
            );
        }
    }
    Ok(true)
}

/// Whether an `owner`, `key` or `hold` command asked for JSON.
pub fn wants_json(owner: Option<&OwnerCmd>, key: Option<&KeyCmd>, hold: Option<&HoldCmd>) -> bool {
    let t = match (owner, key, hold) {
        (
            Some(
                OwnerCmd::List { target, .. }
                | OwnerCmd::Add { target, .. }
                | OwnerCmd::Remove { target, .. },
            ),
            _,
            _,
        ) => target,
        (
            _,
            Some(
                KeyCmd::Add { target, .. }
                | KeyCmd::List { target, .. }
                | KeyCmd::Remove { target, .. },
            ),
            _,
        ) => target,
        (
            _,
            _,
            Some(
                HoldCmd::List { target }
                | HoldCmd::Release { target, .. }
                | HoldCmd::Reject { target, .. },
            ),
        ) => target,
        _ => return false,
    };
    t.json
}
