//! The registry server from the command line: `switchboard registry serve` and
//! `registry token create|revoke|list` on the server's machine (the server itself lives in
//! `switchboard_registry::server`), and `switchboard login` / `switchboard publish --registry
//! NAME` (the upload) on a publisher's.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::json;
use switchboard_registry::error::ServerError;
use switchboard_registry::server::tokens::{self, Scope, TokenInfo};
use switchboard_registry::server::{
    open_database_with, parse_listen, DatabaseChoice, Server, ServerOptions,
};

use crate::output::{print, CliError};

/// `switchboard registry …` subcommands for a registry server's operator.
#[derive(Debug, Subcommand)]
pub enum ServerCmd {
    /// Serve a registry over HTTP: the index under /index/ and a JSON API under /api/v1/
    /// (the data directory is made on first start: a new registry, its keys, a database).
    Serve {
        /// The server's data directory.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// PostgreSQL instead of SQLite in the data directory: a
        /// postgres://USER:PASSWORD@HOST:PORT/DB URL (the server makes and migrates its
        /// tables). Give the same one to the token commands.
        #[arg(
            long,
            value_name = "URL",
            env = "SWITCHBOARD_REGISTRY_DATABASE",
            hide_env_values = true
        )]
        database: Option<String>,
        /// The IP address and port to listen on (port 0: a free one).
        #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
        listen: String,
        /// A reverse proxy in front of the server (an IP address): requests from it are
        /// rate-limited by the last address of their X-Forwarded-For (ignored from anyone
        /// else). Off by default.
        #[arg(long, value_name = "IP")]
        trusted_proxy: Option<std::net::IpAddr>,
        /// Downloads from which a listed name is popular: new names within a small edit
        /// distance of a popular one are held for review.
        #[arg(long, value_name = "N", default_value_t = 100)]
        popular_downloads: u64,
        /// The key certification approvals countersign with (an unencrypted minisign secret
        /// key); default: keys/certification.key in the data directory, made on first start.
        /// Hosts trust its public half (GET /api/v1/certification/key) for `certified`.
        #[arg(long, value_name = "FILE")]
        certification_key: Option<PathBuf>,
        /// A RustSec advisory database checkout (a directory holding crates/) that
        /// certification checks a package's Cargo.lock against; without one, a release with a
        /// Cargo.lock cannot be certified (its check is `not-run`).
        #[arg(long, value_name = "DIR")]
        advisory_db: Option<PathBuf>,
        /// The isolated runner certification starts to make a release's smoke calls in a
        /// sandboxed child process (an executable whose `main` is
        /// `switchboard_host::isolation::runner_main()`); default: this binary, which is its
        /// own runner (or SWITCHBOARD_RUNNER).
        #[arg(long, value_name = "PATH")]
        runner: Option<PathBuf>,
        /// Sell paid plugins through the test payment provider, which moves no money: it
        /// approves the payment method `test-approve` and declines every other (for demos
        /// and tests; without it the server sells nothing).
        #[arg(long)]
        test_payments: bool,
        /// Print one JSON line when listening.
        #[arg(long)]
        json: bool,
    },
    /// Manage the API tokens of a registry server (run on the server's machine).
    Token {
        #[command(subcommand)]
        action: TokenCmd,
    },
}

impl ServerCmd {
    /// Whether the command asked for JSON output.
    pub fn json(&self) -> bool {
        match self {
            ServerCmd::Serve { json, .. } => *json,
            ServerCmd::Token {
                action:
                    TokenCmd::Create { json, .. }
                    | TokenCmd::Revoke { json, .. }
                    | TokenCmd::List { json, .. },
            } => *json,
        }
    }
}

/// Runs a server subcommand; `serve` returns only on an error.
pub fn run(cmd: ServerCmd) -> Result<bool> {
    match cmd {
        ServerCmd::Serve {
            data_dir,
            database,
            listen,
            trusted_proxy,
            popular_downloads,
            certification_key,
            advisory_db,
            runner,
            test_payments,
            json,
        } => {
            let mut options = ServerOptions::new(data_dir, parse_listen(&listen)?);
            options.certification_key = certification_key;
            options.advisory_db = advisory_db;
            options.smoke.runner = runner.map(switchboard_host::isolation::RunnerCommand::binary);
            if test_payments {
                options.payments = Some(std::sync::Arc::new(
                    switchboard_registry::server::payments::TestPayments,
                ));
            }
            options.trusted_proxy = trusted_proxy;
            options.popular_downloads = popular_downloads;
            options.database = choice(database.as_deref())?;
            let server = Server::start(&options)?;
            let text = if json {
                format!(
                    "{}\n",
                    json!({
                        "ok": true,
                        "url": server.url(),
                        "registry_url": server.registry_url(),
                        "page_url": format!("{}/", server.url()),
                        "data_dir": server.data_dir().root,
                    "database": server.database_location(),
                        "created": server.created(),
                    })
                )
            } else {
                format!(
                    "{}registry server listening on {}\nadd it with: switchboard registry add \
                     NAME {} --priority N\nthe web page: {}/\n",
                    if server.created() {
                        format!(
                            "made a new registry in {}\n",
                            server.data_dir().root.display()
                        )
                    } else {
                        String::new()
                    },
                    server.url(),
                    server.registry_url(),
                    server.url()
                )
            };
            print(&text);
            server.wait()?;
            Ok(true)
        }
        ServerCmd::Token { action } => run_token(action),
    }
}

/// `switchboard registry token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Make a token (printed once; only its hash is kept).
    Create {
        /// The server's data directory.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// The server's PostgreSQL database, if it uses one (as given to `serve`).
        #[arg(
            long,
            value_name = "URL",
            env = "SWITCHBOARD_REGISTRY_DATABASE",
            hide_env_values = true
        )]
        database: Option<String>,
        /// The account the token acts for (a plugin belongs to the account that first
        /// publishes it).
        #[arg(long)]
        account: String,
        /// publish:NAME, publish:PREFIX*, yank, account (owners and keys), moderate (reviews
        /// and abuse reports) or admin.
        #[arg(long)]
        scope: String,
        /// Lifetime (e.g. 30d, 12h); none: it lasts until revoked.
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token (by its id, or the token itself).
    Revoke {
        /// The server's data directory.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// The server's PostgreSQL database, if it uses one (as given to `serve`).
        #[arg(
            long,
            value_name = "URL",
            env = "SWITCHBOARD_REGISTRY_DATABASE",
            hide_env_values = true
        )]
        database: Option<String>,
        /// The token's id (`sbt_ID_…`: the ID part) or the whole token.
        id: String,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// List the tokens (never their secrets).
    List {
        /// The server's data directory.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// The server's PostgreSQL database, if it uses one (as given to `serve`).
        #[arg(
            long,
            value_name = "URL",
            env = "SWITCHBOARD_REGISTRY_DATABASE",
            hide_env_values = true
        )]
        database: Option<String>,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
}

/// `--database`'s value: PostgreSQL at that URL, or (none) SQLite in the data directory.
fn choice(database: Option<&str>) -> Result<DatabaseChoice> {
    Ok(match database {
        None => DatabaseChoice::Sqlite,
        Some(url) => DatabaseChoice::parse(url)?,
    })
}

fn token_json(t: &TokenInfo) -> serde_json::Value {
    json!({
        "id": t.id,
        "account": t.account,
        "scope": t.scope.to_string(),
        "created": t.created,
        "expires": t.expires,
        "revoked": t.revoked,
    })
}

fn run_token(cmd: TokenCmd) -> Result<bool> {
    let (doc, text) = match cmd {
        TokenCmd::Create {
            data_dir,
            database,
            account,
            scope,
            expires,
            json,
        } => {
            let db = open_database_with(&data_dir, &choice(database.as_deref())?)?;
            let scope: Scope = scope.parse()?;
            let expires = match expires {
                None => None,
                Some(text) => {
                    let d =
                        humantime::parse_duration(&text).map_err(|e| ServerError::BadToken {
                            reason: format!("--expires {text}: {e}"),
                        })?;
                    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                    Some(tokens::now().saturating_add(secs))
                }
            };
            let t = tokens::create(&db, &account, scope, expires)?;
            let mut doc = token_json(&t.info);
            doc["token"] = json!(t.token);
            let text = format!(
                "{}\n(token {} for account {}, scope {}; shown once: store it now)\n",
                t.token, t.info.id, t.info.account, t.info.scope
            );
            (json.then_some(doc), text)
        }
        TokenCmd::Revoke {
            data_dir,
            database,
            id,
            json,
        } => {
            let db = open_database_with(&data_dir, &choice(database.as_deref())?)?;
            let t = tokens::revoke(&db, &id)?;
            (
                json.then(|| token_json(&t)),
                format!("token {} revoked\n", t.id),
            )
        }
        TokenCmd::List {
            data_dir,
            database,
            json,
        } => {
            let db = open_database_with(&data_dir, &choice(database.as_deref())?)?;
            let all = tokens::list(&db)?;
            let now = tokens::now();
            let mut text = String::new();
            for t in &all {
                let state = if t.revoked.is_some() {
                    "revoked"
                } else if t.expires.is_some_and(|e| e <= now) {
                    "expired"
                } else {
                    "active"
                };
                text.push_str(&format!("{}  {}  {}  {state}\n", t.id, t.account, t.scope));
            }
            if all.is_empty() {
                text.push_str("no tokens\n");
            }
            (
                json.then(|| json!({ "tokens": all.iter().map(token_json).collect::<Vec<_>>() })),
                text,
            )
        }
    };
    match doc {
        Some(d) => print(&format!("{d}\n")),
        None => print(&text),
    }
    Ok(true)
}

/// The CLI's codes for talking to a registry server.
pub mod codes {
    use switchboard_host::ErrorCode;

    /// `publish --registry NAME` (no `--keys`): no token stored for NAME, or NAME is not a
    /// registry server's URL.
    pub const NOT_LOGGED_IN: ErrorCode = ErrorCode::from_number(1394);
    /// The package has no `.minisig` beside it.
    pub const UNSIGNED: ErrorCode = ErrorCode::from_number(1395);
    /// The server could not be reached, or answered something that is not the API's JSON.
    pub const SERVER: ErrorCode = ErrorCode::from_number(1396);
}

/// `switchboard login --registry NAME --token TOKEN`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The configured registry (`switchboard registry add NAME http://HOST:PORT/index`).
    #[arg(long)]
    pub registry: String,
    /// The token the registry's operator made (`switchboard registry token create`).
    #[arg(long, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The data directory (default: SWITCHBOARD_HOME, then the platform's).
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
    pub data_dir: Option<PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// Where the token for `registry` is kept: `DATA/credentials/NAME.token` (`0600`).
pub fn token_path(data_dir: &Path, registry: &str) -> PathBuf {
    data_dir
        .join("credentials")
        .join(format!("{registry}.token"))
}

fn registry_record(data_dir: &Path, registry: &str) -> Result<switchboard_host::RegistryRecord> {
    crate::registries::list(data_dir)?
        .into_iter()
        .find(|r| r.name == registry)
        .ok_or_else(|| {
            CliError::raise(
                codes::NOT_LOGGED_IN,
                format!("no registry named `{registry}` is configured"),
                "add the server first: `switchboard registry add NAME http://HOST:PORT/index`",
            )
        })
}

/// Stores `token` for the configured registry `registry` (`0600`, replacing an older one).
pub fn login(data_dir: &Path, registry: &str, token: &str) -> Result<PathBuf> {
    registry_record(data_dir, registry)?;
    let token = token.trim();
    if !token.starts_with("sbt_") || token.contains(char::is_whitespace) {
        return Err(CliError::raise(
            codes::NOT_LOGGED_IN,
            "that is not a registry token (they start with `sbt_`)",
            "copy the whole token `switchboard registry token create` printed",
        ));
    }
    let path = token_path(data_dir, registry);
    let dir = path.parent().unwrap_or(data_dir);
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{registry}.token.tmp"));
    let _ = std::fs::remove_file(&tmp);
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            options.mode(0o600);
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let mut f = options.open(&tmp)?;
        f.write_all(token.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Runs `switchboard login`.
pub fn run_login(args: LoginArgs) -> Result<bool> {
    let data = crate::data_dir::resolve(args.data_dir)?;
    let path = login(&data, &args.registry, &args.token)?;
    if args.json {
        print(&format!(
            "{}\n",
            json!({ "ok": true, "registry": args.registry, "stored": path })
        ));
    } else {
        print(&format!(
            "token for {} stored in {}\n",
            args.registry,
            path.display()
        ));
    }
    Ok(true)
}

/// How long an upload may take in all (a package is at most a few hundred MiB).
const UPLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
/// How long any other API request may take.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The API base (`http://HOST:PORT`) of the configured registry server `registry`: its
/// location minus `/index`. A directory registry, or a URL that is not a server's, is
/// refused (`SB1394`).
pub fn api_base(data_dir: &Path, registry: &str) -> Result<String> {
    let record = registry_record(data_dir, registry)?;
    record
        .location
        .trim_end_matches('/')
        .strip_suffix("/index")
        .filter(|b| b.starts_with("http://") || b.starts_with("https://"))
        .map(str::to_owned)
        .ok_or_else(|| {
            CliError::raise(
                codes::NOT_LOGGED_IN,
                format!(
                    "registry `{registry}` ({}) is not a registry server (its URL does not end \
                     in /index)",
                    record.location
                ),
                "for a directory registry give --registry DIR --keys KEYDIR",
            )
        })
}

/// The token `switchboard login` stored for `registry`, refused over plain http to another
/// machine (`SB1357`).
fn stored_token(data_dir: &Path, registry: &str, api: &str) -> Result<String> {
    let loopback = switchboard_registry::transport::is_loopback_url(api);
    if !api.to_ascii_lowercase().starts_with("https://") && !loopback {
        return Err(switchboard_registry::error::FetchError::InsecureToken {
            registry: api.to_owned(),
        }
        .into());
    }
    let token = std::fs::read_to_string(token_path(data_dir, registry)).map_err(|_| {
        CliError::raise(
            codes::NOT_LOGGED_IN,
            format!("no token is stored for registry `{registry}`"),
            format!("`switchboard login --registry {registry} --token TOKEN` first"),
        )
    })?;
    Ok(token.trim().to_owned())
}

fn agent(timeout: std::time::Duration) -> ureq::Agent {
    // Timeouts as for every registry request, and no token forwarded on a redirect.
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .timeout_connect(Some(
            switchboard_registry::transport::DEFAULT_CONNECT_TIMEOUT,
        ))
        .max_redirects(0)
        .build()
        .new_agent()
}

/// The server's answer: its JSON on 2xx, its coded refusal (code, message, next step) as
/// the CLI's error otherwise.
fn answer(
    registry: &str,
    api: &str,
    what: &str,
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<serde_json::Value> {
    let unreachable = |reason: String| {
        CliError::raise(
            codes::SERVER,
            format!("{what} at {api} failed: {reason}"),
            "check the registry's URL and that its server runs, then retry",
        )
    };
    let mut resp = result.map_err(|e| unreachable(e.to_string()))?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(4 << 20)
        .read_to_vec()
        .map_err(|e| unreachable(e.to_string()))?;
    let doc: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| unreachable(format!("HTTP {status} without the API's JSON")))?;
    if (200..300).contains(&status) {
        return Ok(doc);
    }
    let code = doc["code"]
        .as_str()
        .and_then(|c| c.strip_prefix("SB"))
        .and_then(|n| n.parse::<u16>().ok())
        .map(switchboard_host::ErrorCode::from_number)
        .ok_or_else(|| unreachable(format!("HTTP {status}: {doc}")))?;
    let upload = doc["upload"]
        .as_str()
        .map(|id| format!(" (upload {id}: its checks are at {api}/api/v1/uploads/{id})"))
        .unwrap_or_default();
    Err(CliError::raise(
        code,
        format!(
            "{registry} refused {what} (HTTP {status}): {}{upload}",
            doc["message"].as_str().unwrap_or("")
        ),
        doc["next_step"].as_str().unwrap_or(""),
    ))
}

/// An HTTP method of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// GET.
    Get,
    /// POST with a JSON body.
    Post,
    /// DELETE.
    Delete,
    /// PUT with a JSON body.
    Put,
}

/// Calls the API of the configured registry server `registry`: `path` (under
/// `/api/v1/`), with the stored token when `authenticated`, and a JSON body for POST and PUT.
/// Returns the server's JSON; a refusal keeps the server's code, message and next step.
pub fn call(
    data_dir: &Path,
    registry: &str,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
    authenticated: bool,
) -> Result<serde_json::Value> {
    let api = api_base(data_dir, registry)?;
    let url = format!("{api}/api/v1/{path}");
    let token = if authenticated {
        Some(stored_token(data_dir, registry, &api)?)
    } else {
        None
    };
    let agent = agent(REQUEST_TIMEOUT);
    let bearer = token.map(|t| format!("Bearer {t}"));
    let result = match method {
        Method::Get | Method::Delete => {
            let mut req = if method == Method::Get {
                agent.get(&url)
            } else {
                agent.delete(&url)
            };
            if let Some(b) = &bearer {
                req = req.header("Authorization", b);
            }
            req.call()
        }
        Method::Post | Method::Put => {
            let req = if method == Method::Put {
                agent.put(&url)
            } else {
                agent.post(&url)
            };
            let mut req = req.header("Content-Type", "application/json");
            if let Some(b) = &bearer {
                req = req.header("Authorization", b);
            }
            let text = body.map(|b| b.to_string()).unwrap_or_else(|| "{}".into());
            req.send(text.as_bytes())
        }
    };
    answer(registry, &api, &format!("/api/v1/{path}"), result)
}

/// Percent-encodes `s` for a URL path segment or query value.
pub fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Uploads the signed `package` to the configured registry server `registry` with the
/// token `switchboard login` stored, and returns the server's answer: listed (`state`
/// `listed`) or held for review (`held`). A refusal keeps the server's code, message and
/// next step, and names the upload whose checks the server recorded.
pub fn upload(
    data_dir: &Path,
    registry: &str,
    package: &Path,
    channel: &str,
) -> Result<serde_json::Value> {
    use base64::Engine as _;
    let api = api_base(data_dir, registry)?;
    let token = stored_token(data_dir, registry, &api)?;
    let bytes = std::fs::read(package)?;
    let mut sig_path = package.as_os_str().to_owned();
    sig_path.push(".minisig");
    let signature = std::fs::read(&sig_path).map_err(|_| {
        CliError::raise(
            codes::UNSIGNED,
            format!("{} has no .minisig beside it", package.display()),
            "sign it first: `switchboard sign PACKAGE`",
        )
    })?;
    let agent = agent(UPLOAD_TIMEOUT);
    let channel = escape(channel);
    let url = format!("{api}/api/v1/publish?channel={channel}");
    let result = agent
        .post(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .header(
            "Switchboard-Signature",
            &base64::engine::general_purpose::STANDARD.encode(&signature),
        )
        .header(
            "Switchboard-Package-File",
            &package
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )
        .header("Content-Type", "application/octet-stream")
        .send(&bytes[..]);
    answer(registry, &api, "the upload", result)
}
