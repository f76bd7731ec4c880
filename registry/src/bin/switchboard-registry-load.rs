//! `switchboard-registry-load`: seeds a registry server with many plugins, drives search and
//! details with concurrent clients, and prints P50/P95/P99 and throughput per endpoint (see
//! `switchboard_registry::server::load` and `docs/registry.md`).
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

use switchboard_registry::server::load::{run, LoadOptions};

fn main() -> std::process::ExitCode {
    let (options, json) = match LoadOptions::from_args(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(report) if json => {
            println!("{}", report.json());
            std::process::ExitCode::SUCCESS
        }
        Ok(report) => {
            print!("{}", report.table());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {}\n{}", e.code(), e.message(), e.next_step());
            std::process::ExitCode::FAILURE
        }
    }
}
