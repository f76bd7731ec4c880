//! A child process for the crash tests in `tests/all/install_crash.rs`: runs one install
//! operation on a data directory and reports the failpoints it passes on stdout, so the
//! parent can SIGKILL it at a chosen one.
//!
//! `install_crash_child DATA_DIR PACKAGES_DIR PUBLIC_KEY OPERATION MODE`
//!
//! - OPERATION: `setup` (install hello 0.1.0: the state every crash starts from), `install`
//!   (add wordcount), `update` (hello 0.1.0 → 0.2.0, which asks for one more capability,
//!   approved), or `check` (open the data directory as a host, start the current
//!   generation, print `{"generation", "started", "failed", "skipped", "disabled"}` as JSON).
//! - MODE: `run` (print `begin`, then `hit NAME` at each failpoint, `done` at the end), `stop:NAME` (print
//!   `at NAME` at that failpoint, then block until killed), `mark:N` (print `at N` at the
//!   Nth failpoint passed, or right before the operation for 0, and go on: the parent kills
//!   it at a moment of its choosing after that).

#![expect(
    clippy::print_stderr,
    reason = "a test helper process: its stderr explains a failure to the parent"
)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use switchboard_host::install::failpoints::{self, fail};
use switchboard_host::install::{
    CapabilityApproval, FileSource, InstallOptions, InstallRequest, Installer,
};
use switchboard_host::Host;

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn block() -> ! {
    loop {
        std::thread::park();
    }
}

fn fail_with(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {e}");
    std::process::exit(3);
}

static HITS: AtomicUsize = AtomicUsize::new(0);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, packages, key, operation, mode] = &args[..] else {
        eprintln!("usage: install_crash_child DATA_DIR PACKAGES_DIR PUBLIC_KEY OPERATION MODE");
        std::process::exit(2);
    };
    let key = std::fs::read_to_string(key).unwrap_or_else(|e| fail_with("read the key", e));
    let mut builder = Host::builder();
    builder
        .data_dir(PathBuf::from(dir))
        .host_api("switchboard-demo", "0.1.0")
        .trust(key);
    let host = builder
        .build()
        .unwrap_or_else(|e| fail_with("open the host", e));
    let mut installer = Installer::new(&host);
    installer.source(FileSource::open(packages).unwrap_or_else(|e| fail_with("source", e)));

    if operation == "check" {
        let report = installer
            .start()
            .unwrap_or_else(|e| fail_with("start the generation", e));
        let doc = serde_json::json!({
            "generation": report.generation,
            "started": report.started,
            "failed": report.failed.iter().map(|(n, e)| format!("{n}: {e}")).collect::<Vec<_>>(),
            "skipped": report.skipped,
            "disabled": report.disabled,
        });
        say(&doc.to_string());
        return;
    }

    let mark: Option<usize> = mode.strip_prefix("mark:").and_then(|n| n.parse().ok());
    let stop = mode.strip_prefix("stop:").map(str::to_owned);
    for name in failpoints::NAMES {
        let stop = stop.clone();
        let result = fail::cfg_callback(*name, move || {
            let n = HITS.fetch_add(1, Ordering::SeqCst) + 1;
            if stop.as_deref() == Some(*name) {
                say(&format!("at {name}"));
                block();
            }
            if mark == Some(n) {
                say(&format!("at {n}"));
            }
            if stop.is_none() && mark.is_none() {
                say(&format!("hit {name}"));
            }
        });
        if let Err(e) = result {
            fail_with("configure the failpoints", e);
        }
    }
    if mark == Some(0) {
        say("at 0");
    }
    if mode == "run" {
        say("begin");
    }

    let mut options = InstallOptions::new();
    options.approval(CapabilityApproval::All);
    let outcome = match operation.as_str() {
        "setup" => installer.install(&[request("hello@=0.1.0")], &options),
        "install" => installer.install(&[request("wordcount@=0.1.0")], &options),
        "update" => installer.update(&["hello".to_owned()], &options),
        other => fail_with("unknown operation", other),
    };
    match outcome {
        Ok(report) => say(&format!(
            "done {}",
            report.generation.map(|g| g.to_string()).unwrap_or_default()
        )),
        Err(e) => fail_with("the operation failed", e),
    }
}

fn request(text: &str) -> InstallRequest {
    text.parse()
        .unwrap_or_else(|e| fail_with("parse the request", e))
}
