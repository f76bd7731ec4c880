//! [`RegistryIndex`]: the resolver's [`Index`] over several registries, so resolution and
//! `switchboard tree` read real registries.

use std::borrow::Cow;
use std::collections::BTreeMap;

use switchboard_host::{Dependency, Index, IndexError, Release};

use super::{listing::visible, Registries};
use crate::format::Channel;

/// The releases the resolver may see: for each name, those of the registry that answers for it
/// (the one pinned for it, else the highest priority having it — never a mix), yanked ones
/// included (the resolver uses them only when a lockfile names them), drafts never, betas only
/// when asked for or on a registry whose channel is `beta`, certified only where the registry
/// says so.
///
/// # Example
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let registries: switchboard_registry::Registries = unimplemented!();
/// use switchboard_host::{Dependency, Resolver};
///
/// let index = registries.index(false);
/// let resolution = Resolver::new(&index).resolve(&[Dependency::new("hello", "^1".parse()?)])?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RegistryIndex<'a> {
    registries: &'a Registries,
    betas: bool,
    pinned: BTreeMap<String, String>,
}

impl<'a> RegistryIndex<'a> {
    pub(crate) fn new(registries: &'a Registries, betas: bool) -> Self {
        RegistryIndex {
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

    /// The registry that answers for `name`, if any has it.
    pub fn source_of(&self, name: &str) -> Result<Option<String>, IndexError> {
        let found = self
            .registries
            .members_for(name, self.pinned.get(name).map(String::as_str))
            .map_err(|e| IndexError::new(name, e.to_string()))?;
        Ok(found.map(|(record, _)| record.name.clone()))
    }
}

impl Index for RegistryIndex<'_> {
    fn releases(&self, name: &str) -> Result<Option<Cow<'_, [Release]>>, IndexError> {
        Ok(releases_of(self.registries, name, self.betas, &self.pinned)?.map(Cow::Owned))
    }
}

/// The releases the resolver may see of `name` (see [`RegistryIndex`]).
pub(crate) fn releases_of(
    registries: &Registries,
    name: &str,
    betas: bool,
    pinned: &BTreeMap<String, String>,
) -> Result<Option<Vec<Release>>, IndexError> {
    let found = registries
        .members_for(name, pinned.get(name).map(String::as_str))
        .map_err(|e| IndexError::new(name, e.to_string()))?;
    let Some((record, file)) = found else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for line in &file.releases {
        let shown = visible(line, record)
            || (betas
                && line.channel == Channel::Beta
                && (!record.certified_only
                    || line.trust >= switchboard_host::TrustLevel::Certified));
        if !shown {
            continue;
        }
        let mut release = Release::new(line.version.clone(), format!("sha256:{}", line.sha256));
        if let Some((major, minor)) = line.sdk_abi() {
            release = release.with_sdk_abi(major, minor);
        }
        if let Some(h) = &line.host_api {
            let req = h
                .req
                .parse()
                .map_err(|e| IndexError::new(name, format!("host API range `{}`: {e}", h.req)))?;
            release = release.with_host_api(h.name.clone(), req);
        }
        for d in &line.dependencies {
            let req = d.req.parse().map_err(|e| {
                IndexError::new(name, format!("range `{}` of {}: {e}", d.req, d.name))
            })?;
            release = release.with_dependency(if d.optional {
                Dependency::optional(d.name.clone(), req)
            } else {
                Dependency::new(d.name.clone(), req)
            });
        }
        if line.is_yanked() {
            release = release.yanked();
        }
        out.push(release);
    }
    Ok(Some(out))
}
