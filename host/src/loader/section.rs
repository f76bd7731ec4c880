//! Reads the manifest a library carries in its own section, with an object-file parser: no
//! plugin code runs (ARCHITECTURE D3).

use std::path::Path;

use object::{Object, ObjectKind, ObjectSection};
use switchboard_sdk::manifest::valid_name;
use switchboard_sdk::{EmbeddedManifest, SECTION_ELF, SECTION_MACHO, SECTION_PE};

use crate::error::LoadError;

/// The manifest section's raw bytes, and the manifest they hold.
#[derive(Debug, Clone)]
pub(crate) struct ManifestSection {
    pub bytes: Vec<u8>,
    pub manifest: EmbeddedManifest,
}

/// Parses `bytes` as a dynamic library and reads its manifest section.
pub(crate) fn read(path: &Path, bytes: &[u8]) -> Result<ManifestSection, LoadError> {
    let file = object::File::parse(bytes).map_err(|e| LoadError::NotALibrary {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if file.kind() != ObjectKind::Dynamic {
        return Err(LoadError::NotALibrary {
            path: path.to_owned(),
            reason: format!(
                "it is an object of kind {:?}, not a shared library",
                file.kind()
            ),
        });
    }
    let section = [SECTION_ELF, SECTION_MACHO, SECTION_PE]
        .iter()
        .find_map(|name| file.section_by_name(name))
        .ok_or_else(|| LoadError::NoManifest {
            path: path.to_owned(),
        })?;
    let data = section.data().map_err(|e| LoadError::BadManifest {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    // Some formats pad sections to their alignment; the manifest is the JSON before the padding.
    let end = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let data = &data[..end];
    let manifest: EmbeddedManifest =
        serde_json::from_slice(data).map_err(|e| LoadError::BadManifest {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    // The name becomes a key in the database and part of file names under the data
    // directory (its configuration file): only a name that follows the manifest's rules goes
    // further. That also keeps look-alike letters from other scripts out, since a name is ASCII.
    if !valid_name(&manifest.name) {
        return Err(LoadError::InvalidName {
            path: path.to_owned(),
            name: manifest.name.chars().take(80).collect(),
        });
    }
    if semver::Version::parse(&manifest.version).is_err() {
        return Err(LoadError::BadManifest {
            path: path.to_owned(),
            reason: format!("the version `{}` is not a semver version", manifest.version),
        });
    }
    Ok(ManifestSection {
        bytes: data.to_vec(),
        manifest,
    })
}
