//! Capabilities: grants, tokens and policy (SPEC S4, ARCHITECTURE D6).
//!
//! Deny by default. A plugin's manifest *requests* capabilities (the SDK's
//! [`Capability`] vocabulary); at load, before any of its
//! code runs, the host's [`Policy`] and [`Approver`] decide each request, with a [`Scope`]:
//! once, session, persistent (stored in the host database) or until a time. The instance gets a
//! [`Token`] — an index and a generation into the host's [`GrantTable`] — and every host service
//! the SDK's `Context` exposes checks it: files (opened beneath the granted directory with
//! `openat2`, so neither symlinks nor `..` lead out), environment variables, events, services,
//! KV, secrets, configuration. A stopped or failed instance's token is suspended and a removed
//! one's is stale, so a plugin thread that outlives `stop` is refused everything. A check is a
//! lock-free read; revocation ([`Host::revoke`](crate::Host::revoke)) and expiry take effect on
//! the next check. A denial is an error naming the capability, the plugin and a next step
//! ([`DenyReason`]), recorded in the audit log — never a panic.
//!
//! # The honest boundary
//!
//! **In-process capabilities bind well-behaved code, not malicious native code.** A plugin
//! loaded into the host's process is native code with the process's full rights: it can call
//! the operating system directly, read the host's memory, and ignore its `Context` altogether.
//! What the checks here give is least privilege for plugins that use the SDK's services —
//! mistakes are caught, intent is declared and audited, and an operator can see and revoke what
//! each plugin holds. They are not a sandbox: a plugin's own threads cannot be killed, limits
//! counted per thread (call depth, event hops) restart on a thread it spawns, and a plugin
//! declares its own contract ids. Plugins you do not trust belong in isolated mode
//! ([`crate::isolation`]), where the same plugin runs in a sandboxed child process under
//! operating-system limits and the token is checked on the host's side of the process
//! boundary; policy routes code below a [`TrustLevel`] there (`[isolation] isolate_below`), or
//! its minimum trust keeps it out altogether.
//!
//! # Example
//!
//! ```no_run
//! use switchboard_host::caps::{Approval, ApprovalRequest, Policy, Scope};
//! use switchboard_host::Host;
//! use switchboard_sdk::caps::Access;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut policy = Policy::new();
//! policy.allow("kv".parse()?).allow("fs.read:/srv/shared/**".parse()?);
//!
//! let mut builder = Host::builder();
//! builder
//!     .data_dir("/var/lib/my-app")
//!     .policy(policy)
//!     .approver(|_req: &ApprovalRequest<'_>| Approval::Allow(Scope::Once));
//! builder.dangerous().load_unsigned_libraries();
//! let host = builder.build()?;
//!
//! let hello = host.load_unsigned("target/debug/libhello.so")?;
//! assert!(host.grant_table().check(hello.token(), &Access::Kv));
//! host.revoke("hello", &"kv".parse()?)?;
//! assert!(!host.grant_table().check(hello.token(), &Access::Kv));
//! # Ok(()) }
//! ```

mod approver;
pub(crate) mod decide;
mod grant;
pub(crate) mod policy;
mod review;
mod scope;
mod table;
mod token;
mod trust;
mod words;

pub use self::approver::{Approval, ApprovalRequest, Approver};
pub use self::grant::{DenyReason, Grant, GrantSource};
pub use self::policy::{Policy, PolicyError};
pub use self::review::PolicyVerdict;
pub use self::scope::Scope;
pub use self::table::{GrantTable, MAX_INSTANCES};
pub use self::token::Token;
pub use self::trust::{TrustLevel, TrustLevelError};
pub use self::words::in_words;
pub use switchboard_sdk::caps::{Access, Capability, CapabilityError, CapabilityKind};

pub(crate) use self::grant::GrantSet;
