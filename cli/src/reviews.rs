//! Reviews and moderation on a registry server from the command line (SPEC S9.4), over its
//! HTTP API with the token `switchboard login` stored:
//!
//! - `switchboard review NAME@VERSION --rating N --text …` writes your review (pending until
//!   a moderator approves it); `--edit` replaces yours (back to moderation), `--delete`
//!   deletes it; `switchboard review --mine` lists yours with their state and, if rejected,
//!   why.
//! - `switchboard report NAME [--review ID] --reason …` reports a plugin or one of its
//!   reviews for abuse.
//! - `switchboard moderate list|approve ID|reject ID --reason …|reports|resolve ID --outcome
//!   dismissed|actioned --note …` works the moderation queues (a token of scope `moderate`
//!   or `admin`).
//!
//! Without `--registry`, the one registry server you are logged in to.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::output::{print, CliError};
use crate::publish::{codes, parse_release};
use crate::server::{call, escape, Method};

/// Which registry server, and where the logins are.
#[derive(Debug, Args)]
pub struct Target {
    /// The configured registry server (default: the one you are logged in to).
    #[arg(long)]
    pub registry: Option<String>,
    /// The data directory holding the configured registries and logins.
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
    pub data_dir: Option<PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// `switchboard review …`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The release reviewed, `NAME@VERSION` (not with `--mine`).
    #[arg(required_unless_present = "mine")]
    pub release: Option<String>,
    /// Stars, 1 to 5.
    #[arg(long, required_unless_present_any = ["delete", "mine"])]
    pub rating: Option<i64>,
    /// What you have to say (at most 4,000 characters).
    #[arg(long, required_unless_present_any = ["delete", "mine"])]
    pub text: Option<String>,
    /// Replace your review of this release (it goes back to moderation).
    #[arg(long, conflicts_with_all = ["delete", "mine"])]
    pub edit: bool,
    /// Delete your review of this release.
    #[arg(long, conflicts_with_all = ["rating", "text", "mine"])]
    pub delete: bool,
    /// List your reviews, with their moderation state.
    #[arg(long, conflicts_with_all = ["release", "rating", "text"])]
    pub mine: bool,
    #[command(flatten)]
    pub target: Target,
}

/// `switchboard report …`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The plugin reported (or whose review is).
    pub name: String,
    /// Report this review of it (its id) instead of the plugin.
    #[arg(long, value_name = "ID")]
    pub review: Option<i64>,
    /// What is wrong.
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub target: Target,
}

/// `switchboard moderate …` (a token of scope `moderate` or `admin`).
#[derive(Debug, Subcommand)]
pub enum ModerateCmd {
    /// Reviews pending moderation, oldest first.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Approve a pending review: it is shown and counted in the rating.
    Approve {
        /// The review's id.
        id: i64,
        /// The revision `switchboard moderate list` showed for it: a review edited since is
        /// refused (SB1910), so you never approve text you have not read.
        #[arg(long)]
        revision: String,
        #[command(flatten)]
        target: Target,
    },
    /// Reject a pending review, with a reason its author sees.
    Reject {
        /// The review's id.
        id: i64,
        /// Why.
        #[arg(long)]
        reason: String,
        /// The revision `switchboard moderate list` showed for it (as for approve).
        #[arg(long)]
        revision: String,
        #[command(flatten)]
        target: Target,
    },
    /// Open abuse reports, oldest first.
    Reports {
        #[command(flatten)]
        target: Target,
    },
    /// Resolve an open abuse report.
    Resolve {
        /// The report's id.
        id: i64,
        /// `dismissed` (nothing to do) or `actioned` (something was done).
        #[arg(long)]
        outcome: String,
        /// What was done, or why nothing.
        #[arg(long)]
        note: String,
        #[command(flatten)]
        target: Target,
    },
}

impl ModerateCmd {
    /// Its target.
    pub fn target(&self) -> &Target {
        match self {
            ModerateCmd::List { target }
            | ModerateCmd::Approve { target, .. }
            | ModerateCmd::Reject { target, .. }
            | ModerateCmd::Reports { target }
            | ModerateCmd::Resolve { target, .. } => target,
        }
    }
}

/// The data directory and registry of `target`: `--registry` as given, else the one
/// configured registry server with a stored login.
fn resolve(target: &Target) -> Result<(PathBuf, String)> {
    let data = crate::data_dir::resolve(target.data_dir.clone())?;
    if let Some(r) = &target.registry {
        return Ok((data, r.clone()));
    }
    let logged_in: Vec<String> = crate::registries::list(&data)?
        .into_iter()
        .filter(|r| r.location.starts_with("http://") || r.location.starts_with("https://"))
        .filter(|r| crate::server::token_path(&data, &r.name).is_file())
        .map(|r| r.name)
        .collect();
    match &logged_in[..] {
        [one] => Ok((data, one.clone())),
        [] => Err(CliError::raise(
            codes::WHICH_REGISTRY,
            "no --registry given, and no registry server is logged in to",
            "`switchboard login --registry NAME --token …` first, or give --registry NAME",
        )),
        many => Err(CliError::raise(
            codes::WHICH_REGISTRY,
            format!(
                "no --registry given, and several registry servers are logged in to: {}",
                many.join(", ")
            ),
            "choose one with --registry NAME",
        )),
    }
}

fn emit(target: &Target, doc: &Value, text: String) {
    if target.json {
        print(&format!("{doc}\n"));
    } else {
        print(&text);
    }
}

/// `text` with each line indented by four spaces, control characters but line breaks shown
/// as spaces.
fn indent(text: &str) -> String {
    text.lines()
        .map(|l| {
            let l: String = l
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            format!("    {l}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn one_line(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > 72 {
        format!("{}…", flat.chars().take(71).collect::<String>())
    } else {
        flat
    }
}

fn review_line(r: &Value) -> String {
    let mut line = format!(
        "{}  {}@{}  {}★  by {}  [{}]  {}",
        r["id"],
        r["plugin"].as_str().unwrap_or(""),
        r["version"].as_str().unwrap_or(""),
        r["rating"],
        r["account"].as_str().unwrap_or(""),
        r["state"].as_str().unwrap_or(""),
        one_line(r["text"].as_str().unwrap_or(""))
    );
    if let Some(reason) = r["reason"].as_str() {
        line.push_str(&format!("  (rejected: {})", one_line(reason)));
    }
    line.push('\n');
    line
}

/// Your review of `name@version` (from `GET /api/v1/reviews/mine`).
fn my_review(data: &std::path::Path, registry: &str, name: &str, version: &str) -> Result<i64> {
    let mine = call(data, registry, Method::Get, "reviews/mine", None, true)?;
    mine["reviews"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["plugin"] == name && r["version"] == version)
        .and_then(|r| r["id"].as_i64())
        .ok_or_else(|| {
            CliError::raise(
                switchboard_host::ErrorCode::from_number(1456),
                format!("you have no review of {name}@{version} on {registry}"),
                format!(
                    "write one: `switchboard review {name}@{version} --rating N --text …`; \
                     `switchboard review --mine` lists yours"
                ),
            )
        })
}

/// Runs `switchboard review …`.
pub fn run_review(args: ReviewArgs) -> Result<bool> {
    // The arguments are checked before anything else (the login, the registry): a typo is
    // named as such, not as a missing login.
    let release = if args.mine {
        None
    } else {
        let (name, version) = parse_release(args.release.as_deref().unwrap_or_default())?;
        if !args.delete {
            check_review_args(args.rating, args.text.as_deref())?;
        }
        Some((name, version))
    };
    let (data, registry) = resolve(&args.target)?;
    if args.mine {
        let doc = call(&data, &registry, Method::Get, "reviews/mine", None, true)?;
        let mut text: String = doc["reviews"]
            .as_array()
            .into_iter()
            .flatten()
            .map(review_line)
            .collect();
        if text.is_empty() {
            text = "you have written no reviews here\n".into();
        }
        emit(&args.target, &doc, text);
        return Ok(true);
    }
    let Some((name, version)) = release else {
        return Ok(false);
    };
    let version = version.to_string();
    let path = |id: i64| format!("plugins/{}/reviews/{id}", escape(&name));
    if args.delete {
        let id = my_review(&data, &registry, &name, &version)?;
        let doc = call(&data, &registry, Method::Delete, &path(id), None, true)?;
        emit(
            &args.target,
            &doc,
            format!("deleted your review {id} of {name}@{version}\n"),
        );
        return Ok(true);
    }
    let body = json!({ "rating": args.rating, "text": args.text.unwrap_or_default() });
    let doc = if args.edit {
        let id = my_review(&data, &registry, &name, &version)?;
        call(&data, &registry, Method::Put, &path(id), Some(&body), true)?
    } else {
        let mut body = body;
        body["version"] = json!(version);
        call(
            &data,
            &registry,
            Method::Post,
            &format!("plugins/{}/reviews", escape(&name)),
            Some(&body),
            true,
        )?
    };
    emit(
        &args.target,
        &doc,
        format!(
            "review {} of {name}@{version} {}: {}★, pending moderation (`switchboard review \
             --mine` shows when it is decided)\n",
            doc["id"],
            if args.edit { "replaced" } else { "written" },
            doc["rating"]
        ),
    );
    Ok(true)
}

/// Runs `switchboard report …`.
pub fn run_report(args: ReportArgs) -> Result<bool> {
    let (data, registry) = resolve(&args.target)?;
    let mut body = json!({ "plugin": args.name, "reason": args.reason });
    if let Some(id) = args.review {
        body["review"] = json!(id);
    }
    let doc = call(&data, &registry, Method::Post, "reports", Some(&body), true)?;
    let what = match args.review {
        Some(id) => format!("review {id} of {}", args.name),
        None => args.name.clone(),
    };
    emit(
        &args.target,
        &doc,
        format!(
            "report {} on {what} sent; a moderator will look at it\n",
            doc["id"]
        ),
    );
    Ok(true)
}

/// The CLI's own codes for reviews (SB1912–SB1913).
pub mod review_codes {
    use switchboard_sdk::ErrorCode;
    /// `--rating` is not a whole number from 1 to 5.
    pub const RATING: ErrorCode = ErrorCode::from_number(1912);
    /// `--text` is empty (or only spaces) or over 4,000 characters.
    pub const TEXT: ErrorCode = ErrorCode::from_number(1913);
}

/// Checks a review's stars and text as the server will, before logging in: `SB1912`,
/// `SB1913`.
fn check_review_args(rating: Option<i64>, text: Option<&str>) -> Result<()> {
    if let Some(r) = rating {
        if !(1..=5).contains(&r) {
            return Err(CliError::raise(
                review_codes::RATING,
                format!("--rating {r}: stars are a whole number from 1 to 5"),
                "give --rating 1, 2, 3, 4 or 5",
            ));
        }
    }
    if let Some(t) = text {
        let chars = t.chars().count();
        if t.trim().is_empty() || chars > MAX_TEXT_CHARS {
            return Err(CliError::raise(
                review_codes::TEXT,
                format!("--text is {chars} characters: a review says something, in at most {MAX_TEXT_CHARS}"),
                "write what you found, in at most 4,000 characters",
            ));
        }
    }
    Ok(())
}

/// The longest review text the server takes, in characters.
const MAX_TEXT_CHARS: usize = 4000;

/// Runs `switchboard moderate …`.
pub fn run_moderate(cmd: ModerateCmd) -> Result<bool> {
    let (data, registry) = resolve(cmd.target())?;
    let call = |method: Method, path: &str, body: Option<Value>| {
        call(&data, &registry, method, path, body.as_ref(), true)
    };
    match &cmd {
        ModerateCmd::List { target } => {
            let doc = call(Method::Get, "moderation/reviews", None)?;
            // The whole text and the revision to decide on: what the moderator reads is what
            // `approve`/`reject --revision` decide.
            let mut text: String = doc["reviews"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    format!(
                        "{}  revision {}\n{}\n",
                        review_line(r).trim_end(),
                        r["revision"].as_str().unwrap_or(""),
                        indent(r["text"].as_str().unwrap_or(""))
                    )
                })
                .collect();
            if text.is_empty() {
                text = "no review is pending moderation\n".into();
            }
            emit(target, &doc, text);
        }
        ModerateCmd::Approve {
            id,
            revision,
            target,
        } => {
            let doc = call(
                Method::Post,
                &format!("moderation/reviews/{id}/approve"),
                Some(json!({ "revision": revision })),
            )?;
            emit(target, &doc, format!("approved: {}", review_line(&doc)));
        }
        ModerateCmd::Reject {
            id,
            reason,
            revision,
            target,
        } => {
            let doc = call(
                Method::Post,
                &format!("moderation/reviews/{id}/reject"),
                Some(json!({ "reason": reason, "revision": revision })),
            )?;
            emit(target, &doc, format!("rejected: {}", review_line(&doc)));
        }
        ModerateCmd::Reports { target } => {
            let doc = call(Method::Get, "moderation/reports", None)?;
            let mut text = String::new();
            for r in doc["reports"].as_array().into_iter().flatten() {
                let what = match r["review"].as_i64() {
                    Some(id) => format!("review {id} of {}", r["plugin"].as_str().unwrap_or("")),
                    None => format!("plugin {}", r["plugin"].as_str().unwrap_or("")),
                };
                text.push_str(&format!(
                    "{}  {what}  by {}: {}\n",
                    r["id"],
                    r["account"].as_str().unwrap_or(""),
                    one_line(r["reason"].as_str().unwrap_or(""))
                ));
            }
            if text.is_empty() {
                text = "no abuse report is open\n".into();
            }
            emit(target, &doc, text);
        }
        ModerateCmd::Resolve {
            id,
            outcome,
            note,
            target,
        } => {
            let doc = call(
                Method::Post,
                &format!("moderation/reports/{id}/resolve"),
                Some(json!({ "outcome": outcome, "note": note })),
            )?;
            emit(
                target,
                &doc,
                format!(
                    "report {id} {}: {}\n",
                    doc["state"].as_str().unwrap_or(""),
                    one_line(note)
                ),
            );
        }
    }
    Ok(true)
}
