//! [`Layer::NetNamespace`](super::Layer::NetNamespace): without a network grant, the runner
//! moves into a new network namespace, which has only a loopback interface, and that down —
//! no TCP, UDP or raw packet reaches anything. Abstract unix sockets are per namespace too.
//! The socket to the host, already connected, keeps working.

use rustix::thread::UnshareFlags;

use super::Inactive;

/// Unshares the network namespace when `network` is not granted: directly (root, or
/// `CAP_SYS_ADMIN`), else inside a new user namespace (unprivileged user namespaces).
pub(super) fn apply(network: bool) -> Result<String, Inactive> {
    if network {
        return Err(Inactive::Unavailable("network granted".into()));
    }
    let direct = match unshare(UnshareFlags::NEWNET) {
        Ok(()) => return Ok("no network: a new network namespace without interfaces".into()),
        Err(e) => e,
    };
    match unshare(UnshareFlags::NEWUSER | UnshareFlags::NEWNET) {
        Ok(()) => Ok(
            "no network: a new network namespace without interfaces, in a new user namespace"
                .into(),
        ),
        Err(in_userns) => Err(Inactive::Unavailable(format!(
            "no network namespace: unshare(CLONE_NEWNET) failed ({direct}), and with a new user \
             namespace too ({in_userns}); unprivileged user namespaces are off here"
        ))),
    }
}

#[expect(
    unsafe_code,
    reason = "unshare is unsafe in rustix: it changes what other threads share"
)]
fn unshare(flags: UnshareFlags) -> rustix::io::Result<()> {
    // SAFETY: the runner is single-threaded when it applies its sandbox (`apply`'s contract),
    // and neither flag unshares state (files, fs) that Rust code in this process relies on.
    unsafe { rustix::thread::unshare_unsafe(flags) }
}

/// Whether this machine lets the runner make a network namespace, judged without trying.
pub(super) fn probe() -> super::LayerStatus {
    let layer = super::Layer::NetNamespace;
    let admin = rustix::thread::capabilities(None).is_ok_and(|c| {
        c.effective
            .contains(rustix::thread::CapabilitySet::SYS_ADMIN)
    });
    if admin {
        return super::LayerStatus::new(layer, true, "available (CAP_SYS_ADMIN held)");
    }
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let max = read("/proc/sys/user/max_user_namespaces");
    if max.as_deref() == Some("0") {
        return super::LayerStatus::new(layer, false, "user namespaces disabled (max 0)");
    }
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return super::LayerStatus::new(layer, false, "unprivileged user namespaces disabled");
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return super::LayerStatus::new(
            layer,
            false,
            "unprivileged user namespaces restricted by AppArmor",
        );
    }
    match max {
        Some(_) => super::LayerStatus::new(layer, true, "available (unprivileged user namespaces)"),
        None => super::LayerStatus::new(layer, false, "no user namespaces in this kernel"),
    }
}
