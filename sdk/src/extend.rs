//! Extension points (SPEC S5.4), as plugins see them: the kinds of contribution a `#[hook]`
//! method makes, and how a contribution to a `first` point declines to answer.
//!
//! A host declares named, typed extension points; a plugin contributes to them with
//! `#[hook("point", kind)]` methods, which the macro records in the embedded manifest, so the
//! host checks every contribution (the point exists, takes this kind, with these contracts,
//! and the plugin holds `extend:POINT`) before any plugin code runs.
//!
//! # Example
//!
//! ```
//! use switchboard_sdk::extend::HookKind;
//!
//! let kind: HookKind = "filter".parse().unwrap();
//! assert_eq!(kind, HookKind::Filter);
//! assert_eq!(kind.to_string(), "filter");
//! assert!("wrapp".parse::<HookKind>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use crate::{ErrorCode, PluginError};

/// How a contribution takes part in an extension point. The point's kind decides which hook
/// kinds it accepts (a `collect` point takes `collect` hooks; an operation point takes
/// `before` and `after` hooks and one `replace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HookKind {
    /// Runs with every other contribution; the host gathers all results (`In -> Out`).
    Collect,
    /// Runs in order until one answers (`In -> Out`); decline with [`pass`].
    First,
    /// Takes the value the contribution before it returned and returns it changed (`T -> T`).
    Filter,
    /// Runs in place of the host's default operation (`In -> Out`); one per point.
    Replace,
    /// Runs before the host's operation and may change its input (`In -> In`).
    Before,
    /// Runs after the host's operation and may change its result (`Out -> Out`).
    After,
    /// Contributes one named item (named after its command) to a host-defined list
    /// (`In -> Out`); names are unique per point.
    Register,
}

impl HookKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [HookKind; 7] = [
        HookKind::Collect,
        HookKind::First,
        HookKind::Filter,
        HookKind::Replace,
        HookKind::Before,
        HookKind::After,
        HookKind::Register,
    ];

    /// The name written in `#[hook("point", NAME)]` and in the manifest.
    pub const fn as_str(self) -> &'static str {
        match self {
            HookKind::Collect => "collect",
            HookKind::First => "first",
            HookKind::Filter => "filter",
            HookKind::Replace => "replace",
            HookKind::Before => "before",
            HookKind::After => "after",
            HookKind::Register => "register",
        }
    }
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HookKind {
    type Err = String;

    /// Parses a kind's name; the error lists the kinds.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HookKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = HookKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown hook kind `{s}`; the kinds are {}",
                    names.join(", ")
                )
            })
    }
}

/// The code of [`pass`]: a contribution to a `first` point that declines to answer. The host
/// moves on to the next contribution and counts it as no failure.
pub const PASSED: ErrorCode = ErrorCode::from_number(1700);

/// The error a contribution to a `first` point returns to decline: the host asks the next
/// contribution, and records no failure.
///
/// ```
/// use switchboard_sdk::extend::{pass, PASSED};
///
/// let declined = pass();
/// assert_eq!(declined.code(), PASSED);
/// ```
pub fn pass() -> PluginError {
    PluginError::with_code(
        PASSED,
        "the contribution passed: it does not answer this input",
    )
}
