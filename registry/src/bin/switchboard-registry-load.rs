//! `switchboard-registry-load`: seeds a registry server with many plugins, drives search and
//! details with concurrent clients, and prints P50/P95/P99 and throughput per endpoint (see
//! `switchboard_registry::server::load` and `docs/registry.md`). With `--serve DIR` it only
//! seeds and serves (for the API fuzzer, `.ci/fuzz-registry`).
//!
//! ```text
//! cargo run --release -p switchboard-registry --features server,testing \
//!     --bin switchboard-registry-load -- --plugins 10000 --clients 50 --seconds 10 [--json]
//! ```

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports on its output streams"
)]

use switchboard_registry::server::load::{run, serve_seeded, Args};

fn fail(e: &switchboard_registry::RegistryError) -> std::process::ExitCode {
    eprintln!("{}: {}\n{}", e.code(), e.message(), e.next_step());
    std::process::ExitCode::FAILURE
}

fn main() -> std::process::ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(dir) = &args.serve {
        return match serve_seeded(dir, args.options.plugins) {
            Ok((server, token)) => {
                println!(
                    "{}",
                    serde_json::json!({ "url": server.url(), "token": token })
                );
                match server.wait() {
                    Ok(()) => std::process::ExitCode::SUCCESS,
                    Err(e) => fail(&e),
                }
            }
            Err(e) => fail(&e),
        };
    }
    match run(&args.options) {
        Ok(report) if args.json => {
            println!("{}", report.json());
            std::process::ExitCode::SUCCESS
        }
        Ok(report) => {
            print!("{}", report.table());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}
