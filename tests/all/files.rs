//! Files confined by the kernel (issues 12.22 and 13.6): plugin paths are opened beneath the
//! granted directory with `openat2`, so a symlink swapped in mid-call, a FIFO or a hard link
//! to a file outside cannot take a plugin outside its grant — driven through the real `hello`
//! cdylib.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use hello::WriteFile;
use switchboard_host::caps::Policy;
use switchboard_host::{CallError, Host, PluginHandle};
use switchboard_tests::{host_with, library};

fn host(rules: impl Fn(&Path) -> Vec<String>) -> (Host, tempfile::TempDir, PluginHandle) {
    let (host, dir) = host_with(|b, root| {
        std::fs::create_dir_all(root.join("grant/sub")).unwrap();
        std::fs::create_dir_all(root.join("outside")).unwrap();
        let mut p = Policy::new();
        for r in rules(root) {
            p.allow(r.parse().unwrap());
        }
        b.policy(p);
    });
    let h = host.load_unsigned(library("hello")).unwrap();
    h.start().unwrap();
    (host, dir, h)
}

fn read(h: &PluginHandle, path: &Path) -> Result<String, CallError> {
    h.command::<String, String>("read_file")
        .unwrap()
        .call(&path.display().to_string())
}

fn write(h: &PluginHandle, path: &Path, text: &str) -> Result<(), CallError> {
    h.command::<WriteFile, ()>("write_file")
        .unwrap()
        .call(&WriteFile {
            path: path.display().to_string(),
            text: text.into(),
        })
}

/// Runs `f` on another thread and waits at most `limit`: a hang fails the test instead of
/// hanging it.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("the call did not return in time: it hangs")
}

/// Regression (issue 12.22): with `fs.write` on a directory, swapping a directory inside it
/// for a symlink to the outside while the plugin writes created files outside the grant
/// (about 1 in 50 racing writes). Thousands of racing writes must leave the outside empty.
#[cfg(target_os = "linux")]
#[test]
fn a_symlink_swapped_in_mid_write_never_leads_outside_the_grant() {
    let (_host, d, h) = host(|root| vec![format!("fs.write:{}/grant/**", root.display())]);
    let sub = d.path().join("grant/sub");
    let swap = d.path().join("grant/swap");
    let outside = d.path().join("outside");
    std::os::unix::fs::symlink(&outside, &swap).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // `grant/sub` flips between a directory and a symlink to `outside`, atomically
    // (`renameat2(RENAME_EXCHANGE)`), as fast as the kernel allows.
    let swapper = {
        let (sub, swap, stop) = (sub.clone(), swap.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    &sub,
                    rustix::fs::CWD,
                    &swap,
                    rustix::fs::RenameFlags::EXCHANGE,
                )
                .unwrap();
                swaps += 1;
            }
            swaps
        })
    };
    let mut written = 0;
    for i in 0..5000 {
        if write(&h, &sub.join(format!("f{i}.txt")), "x").is_ok() {
            written += 1;
        }
        if std::fs::read_dir(&outside).unwrap().next().is_some() {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    let leaked: Vec<_> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        leaked.is_empty(),
        "files created outside the grant: {leaked:?} ({written} writes succeeded, {swaps} swaps)"
    );
}

/// Regression (issue 12.22): reading a FIFO inside a grant blocked the host thread until
/// someone wrote to it.
#[cfg(target_os = "linux")]
#[test]
fn a_fifo_inside_the_grant_is_refused_without_blocking() {
    let (_host, d, h) = host(|root| {
        vec![
            format!("fs.read:{}/grant/**", root.display()),
            format!("fs.write:{}/grant/**", root.display()),
        ]
    });
    let fifo = d.path().join("grant/pipe");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_bits_truncate(0o600),
        0,
    )
    .unwrap();
    let reader = h.clone();
    let path = fifo.clone();
    let e = within(Duration::from_secs(30), move || read(&reader, &path)).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0432", "{e}");
    let writer = h.clone();
    let e = within(Duration::from_secs(30), move || write(&writer, &fifo, "x")).unwrap_err();
    assert!(
        ["SB0432", "SB0430"].contains(&e.code().to_string().as_str()),
        "{e}"
    );
    // A directory is not a file either.
    let e = read(&h, &d.path().join("grant/sub")).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0432", "{e}");
}

/// Regression (issue 13.6): a hard link inside a granted directory to a file outside it let a
/// plugin overwrite that file. Writing through it is refused; reading trusts the directory's
/// contents (documented in the design record).
#[cfg(unix)]
#[test]
fn a_hard_link_into_the_grant_is_not_written_through() {
    let (_host, d, h) = host(|root| {
        vec![
            format!("fs.read:{}/grant/**", root.display()),
            format!("fs.write:{}/grant/**", root.display()),
        ]
    });
    let victim = d.path().join("outside/victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let link = d.path().join("grant/link.txt");
    std::fs::hard_link(&victim, &link).unwrap();
    let e = write(&h, &link, "overwritten").unwrap_err();
    assert_eq!(e.code().to_string(), "SB0433", "{e}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(read(&h, &link).unwrap(), "precious");
    // A file with one link is written as before.
    let own = d.path().join("grant/own.txt");
    write(&h, &own, "one").unwrap();
    write(&h, &own, "two").unwrap();
    assert_eq!(std::fs::read_to_string(&own).unwrap(), "two");
}

/// A grant with a wildcard below its directory allows no symlink at all: the path opened is
/// the path checked.
#[cfg(target_os = "linux")]
#[test]
fn a_symlink_under_a_wildcard_grant_is_refused() {
    let (_host, d, h) = host(|root| vec![format!("fs.read:{}/grant/*/notes.txt", root.display())]);
    std::fs::write(d.path().join("grant/sub/notes.txt"), "mine").unwrap();
    assert_eq!(
        read(&h, &d.path().join("grant/sub/notes.txt")).unwrap(),
        "mine"
    );
    std::fs::create_dir_all(d.path().join("outside/x")).unwrap();
    std::fs::write(d.path().join("outside/x/notes.txt"), "theirs").unwrap();
    std::os::unix::fs::symlink(d.path().join("outside/x"), d.path().join("grant/door")).unwrap();
    let e = read(&h, &d.path().join("grant/door/notes.txt")).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0412", "{e}");
}
