//! What an operation is asked to do: [`InstallRequest`], [`InstallOptions`],
//! [`RemoveOptions`], [`CapabilityApproval`].

use std::fmt;
use std::path::PathBuf;

use semver::VersionReq;

use super::error::InstallError;
use crate::loader::options::LoadOptions;

/// What to install: a plugin by name and version range, or a package file.
///
/// ```
/// use switchboard_host::install::InstallRequest;
///
/// let r: InstallRequest = "hello@^0.2".parse().unwrap();
/// assert_eq!(r, InstallRequest::Name { name: "hello".into(), range: "^0.2".parse().unwrap() });
/// let f: InstallRequest = "./hello-0.2.0.sbpkg".parse().unwrap();
/// assert!(matches!(f, InstallRequest::File(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstallRequest {
    /// `NAME` or `NAME@RANGE`, resolved over the installer's sources.
    Name {
        /// The plugin.
        name: String,
        /// The versions acceptable (`*` for any).
        range: VersionReq,
    },
    /// A `.sbpkg` file: installs the release it holds (its dependencies come from the
    /// sources). Installing from a file works with no source configured.
    File(PathBuf),
}

impl InstallRequest {
    /// `NAME` (any version) or `NAME@RANGE`.
    pub fn name(name: impl Into<String>, range: VersionReq) -> Self {
        InstallRequest::Name {
            name: name.into(),
            range,
        }
    }
}

impl fmt::Display for InstallRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallRequest::Name { name, range } if *range == VersionReq::STAR => f.write_str(name),
            InstallRequest::Name { name, range } => write!(f, "{name}@{range}"),
            InstallRequest::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl std::str::FromStr for InstallRequest {
    type Err = InstallError;

    /// Text ending in `.sbpkg` or holding a path separator is a package file (a plugin name
    /// never holds one); anything else is `NAME[@RANGE]`. Nothing is read from disk.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| InstallError::BadRequest {
            text: s.to_owned(),
            reason,
        };
        let is_path = s.ends_with(&format!(".{}", crate::package::EXTENSION))
            || s.contains('/')
            || s.contains(std::path::MAIN_SEPARATOR);
        if is_path {
            return Ok(InstallRequest::File(PathBuf::from(s)));
        }
        let (name, range) = match s.split_once('@') {
            Some((n, r)) => (
                n,
                VersionReq::parse(r).map_err(|e| bad(format!("range `{r}`: {e}")))?,
            ),
            None => (s, VersionReq::STAR),
        };
        if !switchboard_sdk::manifest::valid_name(name) {
            return Err(bad(format!("`{name}` is not a plugin name")));
        }
        Ok(InstallRequest::name(name, range))
    }
}

/// How to approve the capabilities a plan asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CapabilityApproval {
    /// Leave every request to the host's policy and approver at load (the default).
    #[default]
    Policy,
    /// The operator approved every capability the plan lists (e.g. answered `y`, or
    /// `--yes`): they are stored as persistent grants before the plugins load. Policy still
    /// blocks what it blocks.
    All,
}

/// Options of an install or update.
///
/// ```
/// use switchboard_host::install::InstallOptions;
/// let mut options = InstallOptions::new();
/// options.locked(true).allow_downgrade(false);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct InstallOptions {
    pub(crate) locked: bool,
    pub(crate) load: LoadOptions,
    pub(crate) approval: CapabilityApproval,
    pub(crate) disabled: bool,
    pub(crate) lockfile: Option<crate::resolve::Lockfile>,
}

impl InstallOptions {
    /// The defaults: not locked, no downgrade, approval left to policy.
    pub fn new() -> Self {
        InstallOptions::default()
    }

    /// Refuses any change to the lockfile (`--locked`): the operation fails with the
    /// resolver's `SB0510` listing the changes, before anything is downloaded.
    pub fn locked(&mut self, locked: bool) -> &mut Self {
        self.locked = locked;
        self
    }

    /// Allows a version older than the installed (or last recorded) one
    /// (`--allow-downgrade`, [`LoadOptions::allow_downgrade`]).
    pub fn allow_downgrade(&mut self, allow: bool) -> &mut Self {
        self.load.allow_downgrade(allow);
        self
    }

    /// How the capabilities the plan lists are approved.
    pub fn approval(&mut self, approval: CapabilityApproval) -> &mut Self {
        self.approval = approval;
        self
    }

    /// The lockfile to follow (and, with [`locked`](Self::locked), to refuse drift from)
    /// instead of the current generation's — e.g. a `switchboard.lock` from another machine,
    /// to install the same releases there. Its choices are preferred; a package whose
    /// checksum differs from the one it names is drift.
    pub fn lockfile(&mut self, lockfile: crate::resolve::Lockfile) -> &mut Self {
        self.lockfile = Some(lockfile);
        self
    }

    /// Installs the requested plugins disabled (they are not loaded until enabled).
    pub fn disabled(&mut self, disabled: bool) -> &mut Self {
        self.disabled = disabled;
        self
    }
}

/// Options of a removal.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RemoveOptions {
    pub(crate) with_dependents: bool,
}

impl RemoveOptions {
    /// The defaults: refuse when other plugins depend on the one removed.
    pub fn new() -> Self {
        RemoveOptions::default()
    }

    /// Removes the plugins that depend on it too (`--with-dependents`, or the operator
    /// confirmed the list the plan showed).
    pub fn with_dependents(&mut self, yes: bool) -> &mut Self {
        self.with_dependents = yes;
        self
    }
}
