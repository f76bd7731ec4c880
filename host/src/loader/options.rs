//! Options for one load.

/// Options for one load ([`Host::load_package_with`](crate::Host::load_package_with),
/// [`Host::load_verified_with`](crate::Host::load_verified_with),
/// [`Host::load_unsigned_with`](crate::Host::load_unsigned_with)). The default is the safe
/// choice for each.
///
/// ```
/// let mut options = switchboard_host::LoadOptions::new();
/// options.allow_downgrade(true); // a rollback, on purpose
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadOptions {
    pub(crate) allow_downgrade: bool,
    pub(crate) mode: Option<crate::isolation::Mode>,
}

impl LoadOptions {
    /// The defaults: no downgrade.
    pub fn new() -> Self {
        LoadOptions::default()
    }

    /// Allows loading a version older than the one this host last recorded for the plugin
    /// (a rollback). Without it such a load is refused with `SB0214`, naming both versions.
    /// An allowed downgrade is audited with the version it replaces, and runs no data
    /// migration (migrations lead forward only).
    pub fn allow_downgrade(&mut self, allow: bool) -> &mut Self {
        self.allow_downgrade = allow;
        self
    }

    /// Asks for a mode for this load: [`Mode::Isolated`](crate::isolation::Mode::Isolated)
    /// runs the plugin in a sandboxed runner process. Policy still decides: a plugin policy
    /// isolates is isolated even when asked in-process (the decision's reasons say so, see
    /// [`PluginHandle::isolation`](crate::PluginHandle::isolation)).
    ///
    /// ```
    /// use switchboard_host::{isolation::Mode, LoadOptions};
    ///
    /// let mut options = LoadOptions::new();
    /// options.isolation(Mode::Isolated);
    /// ```
    pub fn isolation(&mut self, mode: crate::isolation::Mode) -> &mut Self {
        self.mode = Some(mode);
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
