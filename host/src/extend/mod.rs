//! Extension points (SPEC S5.4): named, typed places where plugins change what the host does.
//!
//! The host declares a point with [`Host::extension_point`](crate::Host::extension_point)
//! (`In` and `Out` are [`Message`](switchboard_sdk::Message) types; the [`PointKind`] says how
//! contributions run). A plugin contributes with `#[hook("point", kind)]` methods; the macro
//! records each in the library's embedded manifest, and the host checks them at load, before
//! any plugin code runs: the point is declared (`SB1701`), takes that kind (`SB1702`), with
//! those contracts (`SB1703`), and the plugin holds `extend:POINT` (`SB1705`). Conflicting
//! replacements (`SB1706`), duplicate registry items (`SB1707`) and order cycles (`SB1708`)
//! refuse the plugin's start, before its `start` hook runs — checked and reserved in one
//! step, so of two conflicting plugins started at once exactly one starts; a reload whose new
//! version conflicts is refused the same way, before its `start`, and the old version's
//! contributions stay.
//!
//! **Membership.** A plugin's contributions join its points when it becomes active and leave
//! when it stops, fails, is disabled or removed; a hot reload replaces them with the new
//! version's. A plugin that loads later sees the points as they are; a point cannot be
//! declared after the plugins contributing to it loaded (their load refuses the hook).
//! Contributions hold their plugin's instance; leaving breaks that link, and a host that is
//! dropped stops its active plugins first.
//!
//! **Order.** Higher `priority` first, then plugin name, then command name;
//! `before = ["p"]`/`after = ["p"]` put a contribution before or after plugin `p`'s
//! contributions to the same point, overriding priority; constraints that cannot all hold are
//! a cycle, reported as its path (`a → b → a`).
//!
//! **Errors.** A contribution that fails — an error, a panic (contained: the plugin is failed
//! and its contributions leave), an answer that does not decode, or a run past the point's
//! timeout ([`PointOptions::timeout`]: a wrapper's own time, without its `next`; an isolated
//! contribution is killed at it) — follows the point's [`ErrorPolicy`]: propagate (the
//! default), skip and record, or disable the contribution after N failures in a row.
//!
//! **Cost.** A point with no contribution costs one atomic load; each contribution is one
//! command call through the plugin's instance, with the input encoded once per invocation
//! (filters and hooks thread the bytes one returns into the next).
//!
//! # Example
//!
//! ```no_run
//! use switchboard_host::extend::{ErrorPolicy, PointKind, PointOptions};
//! # fn demo(host: &switchboard_host::Host) -> Result<(), switchboard_host::Error> {
//! let mut options = PointOptions::new();
//! options.policy(ErrorPolicy::Skip);
//! let title = host.extension_point_with::<String, String>("doc.title", PointKind::Filter, &options)?;
//! // … load and start plugins with `#[hook("doc.title", filter)]` methods …
//! let shown = title.filter("Notes".to_string())?;
//! # Ok(()) }
//! ```

mod check;
mod error;
mod kind;
mod membership;
mod order;
mod point;
mod registry;
mod spec;
mod wrap;

pub(crate) use self::check::check_manifest;
pub use self::error::ExtendError;
pub use self::kind::{ErrorPolicy, PointKind, PointOptions};
pub use self::point::{Contributed, ContributionInfo, ExtensionPoint};
pub use self::registry::Failure;
pub(crate) use self::registry::Points;
pub(crate) use self::spec::declare_all;
pub use self::spec::PointSpec;
pub(crate) use self::wrap::serve_next;
pub use switchboard_sdk::extend::HookKind;
