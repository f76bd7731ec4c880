//! [`RegistrySource`]: the installer's [`PackageSource`] over several registries, so
//! `switchboard-host`'s installer resolves against and downloads from real registries.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use switchboard_host::install::{PackageSource, SourceError};
use switchboard_host::{Index, IndexError, Release};

use super::index::releases_of;
use super::{Registries, RegistriesError};
use crate::client::ClientError;
use crate::RegistryError;

/// The configured registries as a package source: its index is [`RegistryIndex`]'s (names by
/// priority, never mixed; yanked flagged, drafts never, betas when asked), and `fetch`
/// downloads from the registry that answers for the name, through its client — size and
/// sha256 checked against the signed index before the file appears, the signature written
/// beside it (`DEST.minisig`). The installer then verifies the package as a host does.
///
/// [`RegistryIndex`]: super::RegistryIndex
///
/// # Example
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let registries: switchboard_registry::Registries = unimplemented!();
/// use switchboard_host::install::PackageSource;
/// use switchboard_registry::RegistrySource;
///
/// let source = RegistrySource::new(registries, false);
/// assert!(source.label().starts_with("registry:"));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RegistrySource {
    registries: Registries,
    betas: bool,
    pinned: BTreeMap<String, String>,
}

impl RegistrySource {
    /// A source over `registries` (refreshed, or opened offline); `betas` lets beta releases
    /// be chosen on every registry.
    pub fn new(registries: Registries, betas: bool) -> Self {
        RegistrySource {
            registries,
            betas,
            pinned: BTreeMap::new(),
        }
    }

    /// Takes `name` from `registry` only (what `REGISTRY:NAME` asks for).
    pub fn pin(&mut self, name: impl Into<String>, registry: impl Into<String>) -> &mut Self {
        self.pinned.insert(name.into(), registry.into());
        self
    }

    /// The registries.
    pub fn registries(&self) -> &Registries {
        &self.registries
    }

    fn error(&self, name: &str, version: &semver::Version, e: RegistryError) -> SourceError {
        let source_label = self.label();
        let coded = format!("[{}] {}", e.code(), e.message());
        match e {
            RegistryError::Client(
                ClientError::UnknownPlugin { .. } | ClientError::UnknownRelease { .. },
            )
            | RegistryError::Registries(RegistriesError::PluginNotFound { .. }) => {
                SourceError::NotFound {
                    source_label,
                    name: name.to_owned(),
                    version: version.to_string(),
                }
            }
            RegistryError::Trust(_)
            | RegistryError::Format(_)
            | RegistryError::Client(ClientError::PackageMismatch { .. }) => {
                SourceError::Integrity {
                    source_label,
                    reason: coded,
                }
            }
            e => SourceError::Other {
                source_label,
                message: coded,
                next_step: e.next_step(),
            },
        }
    }
}

impl Index for RegistrySource {
    fn releases(&self, name: &str) -> Result<Option<Cow<'_, [Release]>>, IndexError> {
        Ok(releases_of(&self.registries, name, self.betas, &self.pinned)?.map(Cow::Owned))
    }
}

impl PackageSource for RegistrySource {
    fn label(&self) -> String {
        let names: Vec<String> = self.registries.records().map(|r| r.name.clone()).collect();
        format!("registry:{}", names.join(","))
    }

    fn index(&self) -> &dyn Index {
        self
    }

    fn fetch(
        &self,
        name: &str,
        version: &semver::Version,
        dest: &Path,
        progress: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<(), SourceError> {
        let found = self
            .registries
            .members_for(name, self.pinned.get(name).map(String::as_str))
            .map_err(|e| self.error(name, version, e))?;
        let Some((record, _)) = found else {
            return Err(SourceError::NotFound {
                source_label: self.label(),
                name: name.to_owned(),
                version: version.to_string(),
            });
        };
        let client = self
            .registries
            .client(&record.name)
            .map_err(|e| self.error(name, version, e))?;
        client
            .download(name, version, dest, progress)
            .map_err(|e| match e {
                // A paid plugin: the next step names this registry, so it can be run as is.
                RegistryError::Fetch(crate::error::FetchError::PaymentRequired { .. }) => {
                    SourceError::Other {
                        source_label: self.label(),
                        message: format!("[{}] {}", e.code(), e.message()),
                        next_step: format!(
                            "buy it: `switchboard buy {name} --registry {}`, then install again",
                            record.name
                        ),
                    }
                }
                e => self.error(name, version, e),
            })?;
        Ok(())
    }
}
