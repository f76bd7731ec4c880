//! `switchboard certify …`: a registry server's certification pipeline from the command line,
//! over its HTTP API with the token `switchboard login` stored.
//!
//! - Publishers: `certify submit NAME@VERSION` (the server runs its checks in the request and
//!   answers with each result) and `certify status NAME@VERSION` (state, checks, the
//!   reviewer's decision and reason).
//! - Reviewers (a `certify` or `admin` token): `certify queue`, `certify approve ID [--reason
//!   …]` (the registry countersigns the release) and `certify deny ID --reason …`.
//! - Users: `certify trust --registry NAME [--key-id KEYID]` (the id required over plain
//!   http, checked when given) fetches the registry's certification public key
//!   into the data directory (`trusted-registries/KEYID.pub`), so `switchboard install` sees
//!   the releases it certified as `certified`. Check the key id with the registry's operator:
//!   trusting it is trusting every certification that registry makes.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;
use serde_json::{json, Value};

use crate::accounts::ServerTarget;
use crate::output::{codes, print, CliError};
use crate::server::{call, escape, Method};

/// `certify trust`'s own codes (SB1914–SB1915).
pub mod trust_codes {
    use switchboard_sdk::ErrorCode;
    /// The registry is at plain `http://` and no `--key-id` was given.
    pub const PLAIN_HTTP: ErrorCode = ErrorCode::from_number(1914);
    /// The key the registry served is not the one `--key-id` names.
    pub const OTHER_KEY: ErrorCode = ErrorCode::from_number(1915);
}

/// Where `certify trust` keeps registries' certification keys, under the data directory.
pub const TRUSTED_REGISTRIES_DIR: &str = "trusted-registries";

/// `switchboard certify …`.
#[derive(Debug, Subcommand)]
pub enum CertifyCmd {
    /// Submit a published release for certification; the registry runs its checks now.
    Submit {
        /// `NAME@VERSION`.
        release: String,
        #[command(flatten)]
        target: ServerTarget,
    },
    /// A release's certification: state, every check's result, the decision and its reason.
    Status {
        /// `NAME@VERSION`.
        release: String,
        #[command(flatten)]
        target: ServerTarget,
    },
    /// Requests waiting for a reviewer (a `certify` or `admin` token).
    Queue {
        #[command(flatten)]
        target: ServerTarget,
    },
    /// Approve a request: the registry countersigns the release.
    Approve {
        /// The request's id (`certify queue` lists them).
        id: String,
        /// A note for the record.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        target: ServerTarget,
    },
    /// Deny a request, with a reason the publisher reads.
    Deny {
        /// The request's id.
        id: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        target: ServerTarget,
    },
    /// Trust the registry's certification key: its certified releases install as `certified`.
    /// Over plain `http://` the fetched key is unauthenticated, so its id must be given
    /// (`--key-id`, from the registry's operator); over `https://` it is checked if given.
    Trust {
        /// The key id the registry's operator publishes (the `key_id` of the server's
        /// `GET /api/v1/certification/key`, passed on over a channel you trust): the fetched
        /// key must be it.
        #[arg(long, value_name = "KEYID")]
        key_id: Option<String>,
        #[command(flatten)]
        target: ServerTarget,
    },
}

impl CertifyCmd {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        match self {
            CertifyCmd::Submit { target, .. }
            | CertifyCmd::Status { target, .. }
            | CertifyCmd::Queue { target }
            | CertifyCmd::Approve { target, .. }
            | CertifyCmd::Deny { target, .. }
            | CertifyCmd::Trust { target, .. } => target.json,
        }
    }
}

fn release(text: &str) -> Result<(String, String)> {
    text.split_once('@')
        .filter(|(n, v)| !n.is_empty() && semver::Version::parse(v).is_ok())
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .ok_or_else(|| {
            CliError::raise(
                codes::USAGE,
                format!("`{text}` is not NAME@VERSION"),
                "name one release, e.g. `hello@0.1.0`",
            )
        })
}

/// The request as text: its state, each check, the decision.
pub fn request_text(doc: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let mut text = format!(
        "{}@{}: {} (request {}, submitted by {})\n",
        s(&doc["name"]),
        s(&doc["version"]),
        s(&doc["state"]),
        s(&doc["id"]),
        s(&doc["account"])
    );
    for c in doc["checks"].as_array().into_iter().flatten() {
        // A detail of several lines (the smoke calls of `tests`, one a line) stays indented
        // under its check.
        text.push_str(&format!(
            "  {:<13} {:<8} {}\n",
            s(&c["name"]),
            s(&c["result"]),
            s(&c["detail"]).replace('\n', &format!("\n{:25}", ""))
        ));
    }
    if let Some(by) = doc["decided_by"].as_str() {
        text.push_str(&format!("  decided by {by}"));
        if let Some(r) = doc["reason"].as_str() {
            text.push_str(&format!(": {r}"));
        }
        text.push('\n');
    } else if doc["state"] == "pending" {
        if doc["approvable"] == true {
            text.push_str("  waiting for a reviewer\n");
        } else {
            let blocking: Vec<String> = doc["blocking"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| b.as_str().map(str::to_owned))
                .collect();
            text.push_str(&format!(
                "  cannot be approved: {} did not pass (a check that cannot run is never a pass)\n",
                blocking.join(", ")
            ));
        }
    }
    text
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

/// Runs a `certify` command; prints text or JSON.
pub fn run(cmd: CertifyCmd) -> Result<bool> {
    match cmd {
        CertifyCmd::Submit { release: r, target } => {
            let (name, version) = release(&r)?;
            let doc = call(
                &data(&target)?,
                &target.registry,
                Method::Post,
                &format!(
                    "plugins/{}/versions/{}/certification",
                    escape(&name),
                    escape(&version)
                ),
                None,
                true,
            )?;
            emit(&target, &doc, request_text(&doc));
        }
        CertifyCmd::Status { release: r, target } => {
            let (name, version) = release(&r)?;
            let doc = call(
                &data(&target)?,
                &target.registry,
                Method::Get,
                &format!(
                    "plugins/{}/versions/{}/certification",
                    escape(&name),
                    escape(&version)
                ),
                None,
                false,
            )?;
            emit(&target, &doc, request_text(&doc));
        }
        CertifyCmd::Queue { target } => {
            let doc = call(
                &data(&target)?,
                &target.registry,
                Method::Get,
                "certification/queue",
                None,
                true,
            )?;
            let mut text = String::new();
            for r in doc["requests"].as_array().into_iter().flatten() {
                text.push_str(&request_text(r));
            }
            if text.is_empty() {
                text = "no certification request is waiting\n".into();
            }
            emit(&target, &doc, text);
        }
        CertifyCmd::Approve { id, reason, target } => {
            let body = match reason {
                Some(r) => json!({ "reason": r }),
                None => json!({}),
            };
            let doc = call(
                &data(&target)?,
                &target.registry,
                Method::Post,
                &format!("certification/{}/approve", escape(&id)),
                Some(&body),
                true,
            )?;
            emit(&target, &doc, request_text(&doc));
        }
        CertifyCmd::Deny { id, reason, target } => {
            let doc = call(
                &data(&target)?,
                &target.registry,
                Method::Post,
                &format!("certification/{}/deny", escape(&id)),
                Some(&json!({ "reason": reason })),
                true,
            )?;
            emit(&target, &doc, request_text(&doc));
        }
        CertifyCmd::Trust { key_id, target } => {
            let dir = data(&target)?;
            let api = crate::server::api_base(&dir, &target.registry)?;
            // Over plain http anyone on the path could hand over a key of their own: trust
            // follows only from the id the operator gave, checked against the key itself.
            if key_id.is_none() && !api.starts_with("https://") {
                return Err(CliError::raise(
                    trust_codes::PLAIN_HTTP,
                    format!(
                        "`{}` is at {api}, plain http: its certification key would be trusted \
                         unauthenticated",
                        target.registry
                    ),
                    "ask the registry's operator for the key id and give it: `switchboard \
                     certify trust --registry NAME --key-id KEYID` (or serve the registry over \
                     https); nothing was trusted",
                ));
            }
            let doc = call(
                &dir,
                &target.registry,
                Method::Get,
                "certification/key",
                None,
                false,
            )?;
            let path = trust_registry_key(&dir, &doc, key_id.as_deref())?;
            let out = json!({
                "registry": target.registry,
                "key_id": doc["key_id"],
                "path": path.display().to_string(),
            });
            emit(
                &target,
                &out,
                format!(
                    "trusting {}'s certification key {} ({}): its certified releases install as \
                     certified\n",
                    target.registry,
                    doc["key_id"].as_str().unwrap_or(""),
                    path.display()
                ),
            );
        }
    }
    Ok(true)
}

/// Writes the key of `doc` (`{"key_id", "public_key"}`) into the data directory's trusted
/// registry keys, named by its id (checked against the key itself).
fn trust_registry_key(dir: &Path, doc: &Value, expected: Option<&str>) -> Result<PathBuf> {
    let public = doc["public_key"].as_str().unwrap_or("");
    let bad = |why: String| {
        CliError::raise(
            codes::BAD_KEY,
            format!("the registry's certification key is not usable: {why}"),
            "ask the registry's operator; nothing was trusted",
        )
    };
    let id = switchboard_host::package::key_id_of_public_key(public).map_err(bad)?;
    if doc["key_id"].as_str() != Some(id.as_str()) {
        return Err(bad(format!(
            "it says key {} but is key {id}",
            doc["key_id"]
        )));
    }
    if let Some(want) = expected {
        if !want.eq_ignore_ascii_case(&id) {
            return Err(CliError::raise(
                trust_codes::OTHER_KEY,
                format!("the registry served key {id}, not the key {want} you gave"),
                "check the key id with the registry's operator (another key may be standing \
                 in for theirs); nothing was trusted",
            ));
        }
    }
    let keys = dir.join(TRUSTED_REGISTRIES_DIR);
    std::fs::create_dir_all(&keys)?;
    let path = keys.join(format!("{id}.pub"));
    std::fs::write(&path, public)?;
    Ok(path)
}

/// The certification keys `certify trust` stored in the data directory `dir` (what the host
/// trusts for `certified`).
pub fn trusted_registry_keys(dir: &Path) -> Result<Vec<String>> {
    let keys = dir.join(TRUSTED_REGISTRIES_DIR);
    let Ok(entries) = std::fs::read_dir(&keys) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pub"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let bytes = crate::authoring::read_input(p, "the public key", 64 << 10)?;
            String::from_utf8(bytes).map_err(|_| {
                CliError::raise(
                    codes::BAD_KEY,
                    format!("{} is not a minisign public key", p.display()),
                    "remove it and run `switchboard certify trust --registry NAME` again",
                )
            })
        })
        .collect()
}
