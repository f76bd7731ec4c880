//! A child process for the crash tests in `tests/all/state.rs`: opens the host database in
//! the directory given, writes many keys of plugin `crash` in one transaction, and blocks —
//! before committing (`mid`) or after (`after`) — after printing `ready`, until killed.

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a test helper process: the parent reads `ready` on stdout"
)]

use std::io::Write;
use std::path::PathBuf;

fn block() -> ! {
    loop {
        std::thread::park();
    }
}

fn ready() {
    println!("ready");
    let _ = std::io::stdout().flush();
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(mode)) = (args.next(), args.next()) else {
        eprintln!("usage: state_crash_child DATA_DIR mid|after");
        std::process::exit(2);
    };
    let store = switchboard_host::Store::open(&PathBuf::from(dir)).expect("open the store");
    let kv = store.kv("crash");
    let result: Result<(), switchboard_host::StateError> = kv.transaction(|tx| {
        for i in 0..500 {
            tx.put(&format!("k{i:03}"), format!("value {i}").as_bytes())?;
        }
        if mode == "mid" {
            ready();
            block();
        }
        Ok(())
    });
    result.expect("commit");
    ready();
    block();
}
