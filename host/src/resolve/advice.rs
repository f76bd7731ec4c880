//! The next step after a failed solve: from the facts behind the failure (the leaves of
//! pubgrub's derivation tree), which plugin to upgrade, pin or drop — or whether the host
//! itself must move.

use std::collections::BTreeSet;

use pubgrub::{External, VersionSet};
use semver::Version;

use super::index::Release;
use super::provider::{Package, Pkg, Unusable, ROOT};
use super::report::{join, join_steps, pretty_req, sentence, Ext, Shortfall, Words};
use super::version_set::{Pos, VersionBits, ABSENT};

/// One "p needs d" fact from the failure.
#[derive(Clone, Copy)]
struct Need<'t> {
    from: Pkg,
    from_set: &'t VersionBits,
    to: Pkg,
    to_set: &'t VersionBits,
}

/// A way out for one plugin: another release, newer or older than the failing ones.
struct Alternative {
    upgrade: bool,
    version: Version,
    release: Release,
}

/// Works out the next step from the facts behind a failure.
struct Advice<'w, 'p, 'a, 't> {
    words: &'w Words<'p, 'a>,
    externals: &'t [&'t Ext],
    needs: Vec<Need<'t>>,
}

/// One sentence: what to upgrade, pin or drop, from the facts behind a failure.
pub(crate) fn next_step(words: &Words<'_, '_>, externals: &[&Ext]) -> String {
    let needs = externals
        .iter()
        .filter_map(|e| match e {
            External::FromDependencyOf(from, from_set, to, to_set) => Some(Need {
                from: *from,
                from_set,
                to: *to,
                to_set,
            }),
            _ => None,
        })
        .collect();
    let advice = Advice {
        words,
        externals,
        needs,
    };
    let step = advice
        .unknown_plugin()
        .or_else(|| advice.shared_dependency())
        .or_else(|| advice.host_mismatch())
        .or_else(|| advice.nothing_matches())
        .or_else(|| advice.needs_itself())
        .unwrap_or_else(|| advice.fallback());
    sentence(&step)
}

impl Words<'_, '_> {
    fn plugin_of(&self, pkg: Pkg) -> Option<String> {
        match &*self.provider.package(pkg) {
            Package::Plugin(p) => Some(p.name.clone()),
            _ => None,
        }
    }

    /// Whether `release` can run on this host.
    fn fits_host(&self, release: &Release) -> bool {
        self.provider.settings.sdk_abi_ok(release.sdk_abi)
            && self.provider.settings.host_api_ok(release)
    }

    /// Whether `release`'s requirement on `target` (if any) leaves a version in `wanted`.
    fn accepts(&self, release: &Release, target: Pkg, wanted: &VersionBits) -> bool {
        let package = self.provider.package(target);
        let Package::Plugin(plugin) = &*package else {
            return false;
        };
        let mut allowed = VersionBits::full();
        for d in release
            .dependencies
            .iter()
            .filter(|d| d.name == plugin.name)
        {
            allowed = allowed.intersection(&self.provider.positions(plugin, d));
        }
        let overlap = allowed.intersection(wanted);
        let any = overlap.members(plugin.last()).next().is_some();
        any
    }

    fn host_wanted(release: &Release) -> String {
        release
            .host_api
            .as_ref()
            .map(|h| match pretty_req(&h.req) {
                Some(req) => format!("{} {req}", h.name),
                None => h.name.clone(),
            })
            .unwrap_or_default()
    }

    fn move_phrase(name: &str, alternative: &Alternative, why: &str) -> String {
        let verb = if alternative.upgrade {
            "upgrade"
        } else {
            "pin"
        };
        format!("{verb} {name} to {} ({why})", alternative.version)
    }
}

impl Advice<'_, '_, '_, '_> {
    /// The newest usable release of `pkg` outside `failing` that runs on this host (unless
    /// `any_host`), that no other plugin in the failure rules out (the request may change, so
    /// it does not count), and that passes `accept`.
    fn alternative(
        &self,
        pkg: Pkg,
        failing: &VersionBits,
        any_host: bool,
        accept: impl Fn(&Release) -> bool,
    ) -> Option<Alternative> {
        let package = self.words.provider.package(pkg);
        let Package::Plugin(plugin) = &*package else {
            return None;
        };
        let newest_failing = failing
            .members(plugin.last())
            .filter(|p| *p != ABSENT)
            .max();
        let forbidden = self.forbidden(pkg, any_host);
        let allowed = |p: Pos| {
            !forbidden.has(p)
                && self
                    .needs
                    .iter()
                    .filter(|n| n.to == pkg && n.from != ROOT)
                    .all(|n| n.to_set.has(p))
        };
        let found = plugin
            .usable_releases()
            .rev()
            .find(|(p, r)| {
                !failing.has(*p)
                    && allowed(*p)
                    && (r.version.pre.is_empty()
                        || self
                            .words
                            .provider
                            .settings
                            .prerelease_allowed(&plugin.name, &r.version))
                    && (any_host || self.words.fits_host(r))
                    && accept(r)
            })
            .map(|(p, r)| Alternative {
                upgrade: newest_failing.is_some_and(|n| p > n),
                version: r.version.clone(),
                release: r.clone(),
            });
        found
    }

    /// Releases of `pkg` the failure shows unusable on their own: a requirement nothing
    /// meets (the host's own ones too, unless `any_host`), or a release that needs itself at
    /// another version.
    fn forbidden(&self, pkg: Pkg, any_host: bool) -> VersionBits {
        let mut out = VersionBits::empty();
        for e in self.externals {
            match e {
                External::FromDependencyOf(from, from_set, to, to_set) if *from == pkg => {
                    let last = match &*self.words.provider.package(*to) {
                        Package::Plugin(target) => target.last(),
                        _ if any_host => continue,
                        _ => 0,
                    };
                    if to_set.members(last).next().is_none() {
                        out = out.union(from_set);
                    }
                }
                External::Custom(p, set, _) if *p == pkg => out = out.union(set),
                _ => {}
            }
        }
        out
    }

    /// The plugins the request asked for that the failure involves, sorted.
    fn requested(&self) -> Vec<String> {
        let names: BTreeSet<String> = self
            .needs
            .iter()
            .filter(|n| n.from == ROOT && !n.to_set.has(ABSENT))
            .filter_map(|n| self.words.plugin_of(n.to))
            .collect();
        names.into_iter().collect()
    }

    fn drop_requested(&self) -> Option<String> {
        let requested = self.requested();
        (!requested.is_empty()).then(|| format!("drop {}", join(&requested, "or")))
    }

    fn unknown_plugin(&self) -> Option<String> {
        self.needs.iter().find_map(|n| {
            let package = self.words.provider.package(n.to);
            let Package::Plugin(target) = &*package else {
                return None;
            };
            if target.known {
                return None;
            }
            let from = self.words.plugin_of(n.from)?;
            let without = self.alternative(n.from, n.from_set, false, |r| {
                !r.dependencies
                    .iter()
                    .any(|d| d.name == target.name && !d.optional)
            });
            let mut steps = Vec::new();
            if let Some(alt) = without {
                let why = format!("it does not need {}", target.name);
                steps.push(Words::move_phrase(&from, &alt, &why));
            }
            steps.push(format!("add a registry that publishes `{}`", target.name));
            steps.extend(self.drop_requested());
            Some(join_steps(&steps))
        })
    }

    fn shared_dependency(&self) -> Option<String> {
        let words = self.words;
        let mut pairs = Vec::new();
        for (i, a) in self.needs.iter().enumerate() {
            for b in &self.needs[i + 1..] {
                if a.to != b.to || a.from == b.from {
                    continue;
                }
                let package = words.provider.package(a.to);
                let Package::Plugin(target) = &*package else {
                    continue;
                };
                let both = a.to_set.intersection(b.to_set);
                if both.members(target.last()).next().is_none() {
                    pairs.push((*a, *b));
                }
            }
        }
        // Two plugins disagreeing is the usual story; the request against a plugin next.
        pairs.sort_by_key(|(a, b)| u8::from(a.from == ROOT) + u8::from(b.from == ROOT));
        let (a, b) = *pairs.first()?;
        let target = words.plugin_of(a.to)?;
        let mut sides = [(a, b), (b, a)];
        sides.sort_by_key(|(mover, _)| words.name(mover.from));
        let (mut upgrades, mut pins, mut host_first) = (Vec::new(), Vec::new(), Vec::new());
        for (mover, other) in sides {
            let wanted = words.wanted(other.from, other.from_set, other.to, other.to_set);
            if mover.from == ROOT {
                let wanted = if wanted == target {
                    format!("any version of {target}")
                } else {
                    wanted
                };
                pins.push(format!("ask for {wanted} instead"));
                continue;
            }
            let Some(name) = words.plugin_of(mover.from) else {
                continue;
            };
            let accept = |r: &Release| words.accepts(r, other.to, other.to_set);
            if let Some(alt) = self.alternative(mover.from, mover.from_set, false, accept) {
                let phrase = Words::move_phrase(&name, &alt, &format!("it accepts {wanted}"));
                if alt.upgrade {
                    upgrades.push(phrase);
                } else {
                    pins.push(phrase);
                }
            } else if let Some(alt) = self.alternative(mover.from, mover.from_set, true, accept) {
                // A release that would agree exists, but not for this host.
                let r = &alt.release;
                let host = if words.provider.settings.sdk_abi_ok(r.sdk_abi) {
                    format!("provides {}", Words::host_wanted(r))
                } else {
                    format!("supports SDK ABI {}.{}", r.sdk_abi.0, r.sdk_abi.1)
                };
                host_first.push(format!(
                    "upgrade the host to one that {host}, then {name} to {} (it accepts \
                     {wanted})",
                    alt.version
                ));
            }
        }
        let mut steps: Vec<String> = upgrades;
        steps.extend(pins);
        steps.extend(host_first);
        steps.extend(self.drop_requested());
        if steps.is_empty() {
            let names: Vec<String> = [a.from, b.from].iter().map(|p| words.name(*p)).collect();
            return Some(format!(
                "no releases of {} agree on {target}: ask their authors for releases that do",
                join(&names, "and")
            ));
        }
        Some(join_steps(&steps))
    }

    fn host_mismatch(&self) -> Option<String> {
        let words = self.words;
        self.needs.iter().find_map(|n| {
            let host = match &*words.provider.package(n.to) {
                Package::HostApi(_) => true,
                Package::SdkAbi => false,
                _ => return None,
            };
            let name = words.plugin_of(n.from)?;
            let release = words.some_release(n.from, n.from_set)?;
            let (upgrade_host, here) = if host {
                let here = match &words.provider.settings.host_api {
                    Some((name, version)) => format!("{name} {version}"),
                    None => "this host".into(),
                };
                let wanted = Words::host_wanted(&release);
                (
                    format!("upgrade the host to one that provides {wanted}"),
                    here,
                )
            } else {
                let (major, minor) = words.provider.settings.sdk_abi;
                let (want_major, want_minor) = release.sdk_abi;
                (
                    format!(
                        "upgrade the host to one that supports SDK ABI {want_major}.{want_minor}"
                    ),
                    format!("SDK ABI {major}.{minor}"),
                )
            };
            Some(
                match self.alternative(n.from, n.from_set, false, |_| true) {
                    Some(alt) => {
                        let why = format!("its newest release for {here}");
                        format!(
                            "{}, or {upgrade_host}",
                            Words::move_phrase(&name, &alt, &why)
                        )
                    }
                    None => {
                        let mut steps = vec![format!(
                            "no release of {name} runs on {here}: {upgrade_host}"
                        )];
                        steps.extend(self.drop_requested());
                        join_steps(&steps)
                    }
                },
            )
        })
    }

    fn nothing_matches(&self) -> Option<String> {
        let words = self.words;
        self.needs.iter().find_map(|n| {
            let package = words.provider.package(n.to);
            let Package::Plugin(target) = &*package else {
                return None;
            };
            if n.to_set.members(target.last()).next().is_some() {
                return None;
            }
            let newest = target.release(target.last()).map(|r| r.version.clone());
            if n.from == ROOT {
                if let Shortfall::Prerelease(name, versions) =
                    words.shortfall(n.from, n.from_set, n.to, n.to_set)
                {
                    return Some(format!(
                        "allow prereleases of {name} to use {}",
                        join(&versions, "or")
                    ));
                }
                return Some(match newest {
                    Some(v) => format!(
                        "ask for a version of {} the index has, such as {v}",
                        target.name
                    ),
                    None => format!("drop {}: it has no usable release", target.name),
                });
            }
            let from = words.plugin_of(n.from)?;
            let wanted = VersionBits::from_positions(1..=target.last());
            let accept = |r: &Release| words.accepts(r, n.to, &wanted);
            let mut steps = Vec::new();
            if let Some(alt) = self.alternative(n.from, n.from_set, false, accept) {
                let why = format!("it accepts a release of {} the index has", target.name);
                steps.push(Words::move_phrase(&from, &alt, &why));
            }
            let missing = words.wanted(n.from, n.from_set, n.to, n.to_set);
            match words.shortfall(n.from, n.from_set, n.to, n.to_set) {
                Shortfall::Yanked(name, versions) => steps.push(format!(
                    "wait for a release of {from} that does without {name} {}",
                    join(&versions, "and")
                )),
                Shortfall::Prerelease(name, _) => {
                    steps.push(format!("allow prereleases of {name}"));
                }
                _ => steps.push(format!("add a registry that publishes {missing}")),
            }
            steps.extend(self.drop_requested());
            Some(join_steps(&steps))
        })
    }

    fn needs_itself(&self) -> Option<String> {
        self.externals.iter().find_map(|e| match e {
            External::Custom(pkg, set, Unusable::NeedsItself(_)) => {
                let name = self.words.plugin_of(*pkg)?;
                Some(match self.alternative(*pkg, set, false, |_| true) {
                    Some(alt) => Words::move_phrase(&name, &alt, "its dependencies are consistent"),
                    None => format!("drop {name}: its releases depend on themselves"),
                })
            }
            _ => None,
        })
    }

    fn fallback(&self) -> String {
        let requested = self.requested();
        if requested.is_empty() {
            return "widen the version ranges you asked for".into();
        }
        format!(
            "drop {}, or widen the version ranges you asked for",
            join(&requested, "or")
        )
    }
}
