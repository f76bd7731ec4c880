//! Compatibility between a plugin and this host: the SDK ABI now; the host API range, targets
//! and platforms join with the manifest work.

use switchboard_sdk::{EmbeddedManifest, SDK_ABI_MAJOR, SDK_ABI_MINOR, SDK_ABI_VERSION};

use crate::error::LoadError;

/// The SDK ABI rule: same major; the plugin's minor at most the host's.
///
/// # Example
///
/// ```
/// assert!(switchboard_host::sdk_abi_compatible((1, 0)));
/// assert!(!switchboard_host::sdk_abi_compatible((2, 0)));
/// ```
pub fn sdk_abi_compatible(plugin: (u32, u32)) -> bool {
    // Compared as a range so the rule reads the same when the host's minor grows past 0.
    plugin.0 == SDK_ABI_MAJOR && (0..=SDK_ABI_MINOR).contains(&plugin.1)
}

pub(crate) fn check_sdk_abi(manifest: &EmbeddedManifest) -> Result<(), LoadError> {
    let found = manifest.sdk_abi.clone();
    let Some((major, minor)) = manifest.sdk_abi_version() else {
        return Err(LoadError::AbiMajor {
            plugin: manifest.name.clone(),
            found,
            supported: SDK_ABI_VERSION.into(),
        });
    };
    if major != SDK_ABI_MAJOR {
        return Err(LoadError::AbiMajor {
            plugin: manifest.name.clone(),
            found,
            supported: SDK_ABI_VERSION.into(),
        });
    }
    if !sdk_abi_compatible((major, minor)) {
        return Err(LoadError::AbiMinor {
            plugin: manifest.name.clone(),
            found,
            supported: SDK_ABI_VERSION.into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_rule() {
        assert!(sdk_abi_compatible((SDK_ABI_MAJOR, 0)));
        assert!(sdk_abi_compatible((SDK_ABI_MAJOR, SDK_ABI_MINOR)));
        assert!(!sdk_abi_compatible((SDK_ABI_MAJOR, SDK_ABI_MINOR + 1)));
        assert!(!sdk_abi_compatible((SDK_ABI_MAJOR + 1, 0)));
        assert!(!sdk_abi_compatible((0, 0)));
    }
}
