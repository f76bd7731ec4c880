//! Options for one load.

/// Options for one load ([`Host::load_package_with`](crate::Host::load_package_with),
/// [`Host::load_verified_with`](crate::Host::load_verified_with),
/// [`Host::load_unsigned_with`](crate::Host::load_unsigned_with)). The default is the safe
/// choice for each.
///
/// ```
/// use switchboard_host::isolation::Mode;
///
/// let mut options = switchboard_host::LoadOptions::new();
/// options.allow_downgrade(true); // a rollback, on purpose
/// options.isolation(Mode::Isolated); // this load runs sandboxed, whatever policy says
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadOptions {
    pub(crate) allow_downgrade: bool,
    /// The mode this load asks for; `None`: policy decides.
    pub(crate) mode: Option<crate::isolation::Mode>,
}

impl LoadOptions {
    /// The defaults: no downgrade; policy decides the mode.
    pub fn new() -> Self {
        LoadOptions::default()
    }

    /// Asks for a mode for this load. [`Mode::Isolated`](crate::isolation::Mode::Isolated)
    /// always runs the plugin isolated. [`Mode::InProcess`](crate::isolation::Mode::InProcess)
    /// is a wish policy can refuse: a plugin that a policy rule isolates (trust below
    /// `isolate_below`, listed in `isolate_plugins` or `isolate_kinds`, `default =
    /// "isolated"`) or whose manifest says `sandbox = "strict"` runs isolated anyway, and the
    /// decision's reasons (`switchboard inspect`) say so. A load may ask for more isolation,
    /// never less. Without this call, policy decides alone.
    pub fn isolation(&mut self, mode: crate::isolation::Mode) -> &mut Self {
        self.mode = Some(mode);
        self
    }

    /// Allows loading a version older than the one this host last recorded for the plugin
    /// (a rollback). Without it such a load is refused with `SB0214`, naming both versions.
    /// An allowed downgrade is audited with the version it replaces, and runs no data
    /// migration (migrations lead forward only).
    pub fn allow_downgrade(&mut self, allow: bool) -> &mut Self {
        self.allow_downgrade = allow;
        self
    }
}

/// Whether `found` is older than `recorded` by semver; versions that do not parse are never
/// a downgrade (the loader refuses an embedded version that does not parse).
pub(crate) fn is_downgrade(recorded: &str, found: &str) -> bool {
    match (
        semver::Version::parse(recorded),
        semver::Version::parse(found),
    ) {
        (Ok(r), Ok(f)) => f < r,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_downgrade;

    #[test]
    fn older_by_semver_is_a_downgrade_and_equal_or_newer_is_not() {
        assert!(is_downgrade("0.2.0", "0.1.9"));
        assert!(is_downgrade("1.0.0", "1.0.0-rc.1"));
        assert!(!is_downgrade("1.0.0", "1.0.0"));
        assert!(!is_downgrade("1.0.0-rc.1", "1.0.0"));
        assert!(!is_downgrade("0.9.0", "0.10.0"));
        assert!(!is_downgrade("garbage", "0.1.0"));
    }
}
