//! Loading a plugin library: read once, check without running code, then open the very bytes
//! that were checked (ARCHITECTURE D2, D3).
//!
//! The order for a development load is: read the file → parse it as a dynamic library and read
//! its manifest section → SDK ABI compatibility → name not taken → copy the checked bytes into an
//! image nobody can change → open the image (the first moment plugin code runs) → the ABI layout
//! check → compare what the code reports with the section → instantiate. Signature and checksum
//! verification join the front of this order with packages.

mod image;
mod section;

use std::path::Path;
use std::sync::Arc;

use switchboard_sdk::abi::{AbiLoadError, HostServices, LoadedModule, RawPlugin};
use switchboard_sdk::EmbeddedManifest;

use crate::compat;
use crate::error::LoadError;

pub(crate) use self::section::ManifestSection;

/// A library checked from its bytes alone, not yet opened.
#[derive(Debug)]
pub(crate) struct Checked {
    pub section: ManifestSection,
    bytes: Vec<u8>,
}

impl Checked {
    pub fn manifest(&self) -> &EmbeddedManifest {
        &self.section.manifest
    }
}

/// Reads `path` and checks everything that needs no plugin code.
pub(crate) fn check(path: &Path) -> Result<Checked, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    check_bytes(path, bytes)
}

/// Checks library bytes already in memory (a verified package's library); `path` names them in
/// messages.
pub(crate) fn check_bytes(path: &Path, bytes: Vec<u8>) -> Result<Checked, LoadError> {
    let section = section::read(path, &bytes)?;
    compat::check_sdk_abi(&section.manifest)?;
    Ok(Checked { section, bytes })
}

/// Opens the checked bytes and creates the plugin object. From here on plugin code runs.
pub(crate) fn open(
    path: &Path,
    checked: &Checked,
    scratch: &Path,
    services: Arc<dyn HostServices>,
) -> Result<RawPlugin, LoadError> {
    let name = &checked.section.manifest.name;
    let image = image::Image::new(path, name, &checked.bytes, scratch)?;
    #[expect(
        unsafe_code,
        reason = "opening a verified library is the one unsafe step of loading"
    )]
    // SAFETY: the bytes were read once and checked above; the image is sealed (or a private
    // read-only copy), so what the loader maps is what was checked. Running the library's code
    // is the point of loading it; in-process plugins are trusted code (ARCHITECTURE D6).
    let opened = unsafe { LoadedModule::open(image.path()) };
    image.keep_forever();
    let module = opened.map_err(|e| LoadError::Open {
        plugin: name.clone(),
        reason: match e {
            AbiLoadError::Open(m)
            | AbiLoadError::NotAPlugin(m)
            | AbiLoadError::Incompatible(m)
            | AbiLoadError::RootModule(m) => m,
            other => other.to_string(),
        },
    })?;
    if module.manifest_bytes() != checked.section.bytes.as_slice() {
        return Err(LoadError::Mismatch {
            plugin: name.clone(),
            field: "manifest",
        });
    }
    let manifest_abi = checked.section.manifest.sdk_abi_version();
    if manifest_abi != Some(module.sdk_abi()) {
        return Err(LoadError::Mismatch {
            plugin: name.clone(),
            field: "sdk_abi",
        });
    }
    module
        .instantiate(services)
        .map_err(|error| LoadError::Instantiate {
            plugin: name.clone(),
            error,
        })
}
