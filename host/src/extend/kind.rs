//! What a host declares about a point: its kind, what a failing contribution does, and how
//! long a contribution may take.

use std::time::Duration;

use switchboard_sdk::extend::HookKind;

/// The kind of an extension point: how its contributions run and which `#[hook]` kinds it
/// takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PointKind {
    /// Every contribution runs with the same input; the results are gathered in order
    /// ([`ExtensionPoint::collect`](super::ExtensionPoint::collect)). Takes `collect` hooks.
    Collect,
    /// Contributions run in order until one answers; one that declines returns
    /// `switchboard_sdk::extend::pass()` ([`ExtensionPoint::first`](super::ExtensionPoint::first)).
    /// Takes `first` hooks.
    First,
    /// A value is threaded through every contribution in order; input and output are one
    /// type ([`ExtensionPoint::filter`](super::ExtensionPoint::filter)). Takes `filter` hooks.
    Filter,
    /// A host operation plugins may hook: `before` hooks may change its input, `wrap` hooks
    /// wrap it (an onion: each gets the input and a `next` running the rest), one `replace`
    /// runs in place of the host's default, `after` hooks may change its result
    /// ([`ExtensionPoint::run`](super::ExtensionPoint::run),
    /// [`try_run`](super::ExtensionPoint::try_run)). The order: `before` hooks, then the
    /// wrappers outermost first, around the replacement or the default, then `after` hooks.
    /// Two replacements are refused when the second plugin starts.
    Operation,
    /// A host-defined list plugins add named items to (the item's name is its command's);
    /// read with [`ExtensionPoint::collect`](super::ExtensionPoint::collect). Two items of one
    /// name are refused when the second plugin starts. Takes `register` hooks.
    Registry,
}

impl PointKind {
    /// The point's name for its kind, as errors and docs write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            PointKind::Collect => "collect",
            PointKind::First => "first",
            PointKind::Filter => "filter",
            PointKind::Operation => "operation",
            PointKind::Registry => "registry",
        }
    }

    /// The hook kinds a point of this kind takes.
    pub const fn accepts(self) -> &'static [HookKind] {
        match self {
            PointKind::Collect => &[HookKind::Collect],
            PointKind::First => &[HookKind::First],
            PointKind::Filter => &[HookKind::Filter],
            PointKind::Operation => &[
                HookKind::Before,
                HookKind::Wrap,
                HookKind::Replace,
                HookKind::After,
            ],
            PointKind::Registry => &[HookKind::Register],
        }
    }
}

impl std::str::FromStr for PointKind {
    type Err = ();

    /// A kind by the name [`as_str`](PointKind::as_str) gives it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            PointKind::Collect,
            PointKind::First,
            PointKind::Filter,
            PointKind::Operation,
            PointKind::Registry,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or(())
    }
}

impl std::fmt::Display for PointKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a contribution's error, panic or overrun does to the invocation.
///
/// A panic in plugin code is always contained: it comes back as an error (`SB0101`) and the
/// plugin is failed, which takes all its contributions out of every point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ErrorPolicy {
    /// The invocation stops and returns the error (`SB1710`, `SB1711`). The default.
    #[default]
    Propagate,
    /// The contribution is skipped (a filter keeps the value it was given), the failure is
    /// recorded ([`ExtensionPoint::failures`](super::ExtensionPoint::failures)) and logged,
    /// and the invocation goes on.
    Skip,
    /// As `Skip`; after this many failures in a row the contribution is disabled (a breaker)
    /// until its plugin starts or is reloaded again. A success resets the count.
    DisableAfter(u32),
}

/// Options of a point beyond its kind.
///
/// ```
/// use std::time::Duration;
/// use switchboard_host::extend::{ErrorPolicy, PointOptions};
///
/// let mut options = PointOptions::new();
/// options.policy(ErrorPolicy::DisableAfter(3)).timeout(Duration::from_millis(50));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PointOptions {
    pub(crate) policy: ErrorPolicy,
    pub(crate) timeout: Option<Duration>,
}

impl PointOptions {
    /// The defaults: [`ErrorPolicy::Propagate`], no timeout.
    pub fn new() -> Self {
        PointOptions::default()
    }

    /// What a failing contribution does.
    pub fn policy(&mut self, policy: ErrorPolicy) -> &mut Self {
        self.policy = policy;
        self
    }

    /// The longest one contribution may take of its own time: a wrapper's time inside its
    /// `next` (the wrappers inside it, the replacement, the host's operation) is not its.
    ///
    /// **In-process** code cannot be interrupted: a contribution that runs longer finishes,
    /// then the overrun is found, its result discarded, and it counts as a failure under the
    /// point's policy (`SB1712`) — the timeout bounds what a slow contribution can change,
    /// not how long it blocks; one that never returns blocks the invoking thread for good.
    ///
    /// **Isolated** contributions are interrupted: the call is given the shorter of this
    /// timeout and the plugin's own call timeout, past which its runner is killed (and
    /// restarted; the kill does not count towards the plugin's `max_restarts`) and the call
    /// fails with `SB1502`, a failure under the point's policy.
    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = Some(timeout);
        self
    }
}
