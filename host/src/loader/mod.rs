//! Loading a plugin library: read once, check without running code, then open the very bytes
//! that were checked (ARCHITECTURE D2, D3).
//!
//! The order for a development load is: read the file → parse it as a dynamic library and read
//! its manifest section → SDK ABI compatibility → name not taken → copy the checked bytes into an
//! image nobody can change → open the image (the first moment plugin code runs) → the ABI layout
//! check → compare what the code reports with the section → instantiate. For packages,
//! signature and checksum verification come first (`package::verify`), and the library's bytes
//! are the verified ones.

mod image;
pub(crate) mod options;
mod section;

use std::path::Path;
use std::sync::Arc;

use switchboard_sdk::abi::{AbiLoadError, HostServices, LoadedModule, RawPlugin};
use switchboard_sdk::manifest::{Diagnostic, Format, Manifest};
use switchboard_sdk::EmbeddedManifest;

use crate::compat;
use crate::error::LoadError;

pub(crate) use self::section::ManifestSection;

/// A library checked from its bytes alone, not yet opened.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub section: ManifestSection,
    bytes: Vec<u8>,
}

impl Checked {
    pub fn manifest(&self) -> &EmbeddedManifest {
        &self.section.manifest
    }

    /// The crate's `plugin.toml` as `#[plugin]` embedded it at build time, validated: what a
    /// package built from this library would declare (configuration, limits, requirements).
    /// `None` for a library built without one.
    pub fn embedded_plugin_toml(&self, limit: u64) -> Result<Option<Manifest>, LoadError> {
        let Some(text) = &self.section.manifest.plugin_toml else {
            return Ok(None);
        };
        let plugin = || self.section.manifest.name.clone();
        if text.len() as u64 > limit {
            return Err(LoadError::DevManifest {
                plugin: plugin(),
                summary: format!("it is {} bytes; the cap is {limit}", text.len()),
            });
        }
        Manifest::parse(text, Format::Toml)
            .map(Some)
            .map_err(|errors| LoadError::DevManifest {
                plugin: plugin(),
                summary: Diagnostic::summary(&errors),
            })
    }
}

/// Reads `path` — refused from its size past `limit`, and never more than `limit` bytes read —
/// and checks everything that needs no plugin code.
pub(crate) fn check(path: &Path, limit: u64) -> Result<Checked, LoadError> {
    let read_error = |source| LoadError::Read {
        path: path.to_owned(),
        source,
    };
    let bytes = read_bounded(path, limit)
        .map_err(read_error)?
        .ok_or_else(|| LoadError::TooLarge {
            path: path.to_owned(),
            limit,
        })?;
    check_bytes(path, bytes)
}

/// The file's bytes, or `None` if it is larger than `limit`: refused from its size first,
/// and reading stops past the limit (a file that grows meanwhile is refused too). Anything but
/// a regular file (a FIFO, a device) is refused before it is opened: opening a FIFO blocks
/// until someone writes to it.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    if size > limit {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// [`read_bounded`] for small files (keys): a file over `limit` bytes is an
/// [`InvalidData`](std::io::ErrorKind::InvalidData) error, like a non-regular one.
pub(crate) fn read_small(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    read_bounded(path, limit)?.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes"),
        )
    })
}

/// Checks library bytes already in memory (a verified package's library); `path` names them in
/// messages.
pub(crate) fn check_bytes(path: &Path, bytes: Vec<u8>) -> Result<Checked, LoadError> {
    let section = section::read(path, &bytes)?;
    compat::check_sdk_abi(&section.manifest)?;
    Ok(Checked { section, bytes })
}

/// The checked bytes as a sealed memfd for a runner to open (isolated mode): nothing of the
/// plugin runs in this process.
#[cfg(target_os = "linux")]
pub(crate) fn sealed_image(
    path: &Path,
    checked: &Checked,
    scratch: &Path,
) -> Result<std::os::fd::OwnedFd, LoadError> {
    let name = &checked.section.manifest.name;
    Ok(image::Image::new(path, name, &checked.bytes, scratch)?.into_fd())
}

/// The manifest section's bytes, which the library must report unchanged when opened.
pub(crate) fn section_bytes(checked: &Checked) -> &[u8] {
    &checked.section.bytes
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
