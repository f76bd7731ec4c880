//! The registry server from the command line: `switchboard registry serve` (the server
//! itself lives in `switchboard_registry::server`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use serde_json::json;
use switchboard_registry::server::{parse_listen, Server, ServerOptions};

use crate::output::print;

/// `switchboard registry …` subcommands for a registry server's operator.
#[derive(Debug, Subcommand)]
pub enum ServerCmd {
    /// Serve a registry over HTTP: the index under /index/ and a JSON API under /api/v1/
    /// (the data directory is made on first start: a new registry, its keys, a database).
    Serve {
        /// The server's data directory.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// The IP address and port to listen on (port 0: a free one).
        #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Print one JSON line when listening.
        #[arg(long)]
        json: bool,
    },
}

impl ServerCmd {
    /// Whether the command asked for JSON output.
    pub fn json(&self) -> bool {
        match self {
            ServerCmd::Serve { json, .. } => *json,
        }
    }
}

/// Runs a server subcommand; `serve` returns only on an error.
pub fn run(cmd: ServerCmd) -> Result<bool> {
    match cmd {
        ServerCmd::Serve {
            data_dir,
            listen,
            json,
        } => {
            let options = ServerOptions::new(data_dir, parse_listen(&listen)?);
            let server = Server::start(&options)?;
            let text = if json {
                format!(
                    "{}\n",
                    json!({
                        "ok": true,
                        "url": server.url(),
                        "registry_url": server.registry_url(),
                        "data_dir": server.data_dir().root,
                        "created": server.created(),
                    })
                )
            } else {
                format!(
                    "{}registry server listening on {}\nadd it with: switchboard registry add \
                     NAME {}\n",
                    if server.created() {
                        format!(
                            "made a new registry in {}\n",
                            server.data_dir().root.display()
                        )
                    } else {
                        String::new()
                    },
                    server.url(),
                    server.registry_url()
                )
            };
            print(&text);
            server.wait()?;
            Ok(true)
        }
    }
}
