//! Turning a failed solve into sentences a person can act on: the chain of reasons ("Because
//! weather 2.x needs geo ≥ 3 and maps 1.4.0 needs geo < 3, …"), in Switchboard's words. The
//! next step that follows it is worked out in `advice`.

use pubgrub::{
    DefaultStringReporter, DerivationTree, Derived, External, Map, ReportFormatter, Reporter, Term,
    VersionSet,
};
use semver::{Op, Version, VersionReq};

use super::advice;
use super::index::{Dependency, Release};
use super::provider::{req_matches, Package, Pkg, Plugin, Provider, Unusable, ROOT};
use super::version_set::{Pos, VersionBits, ABSENT};

type Tree = DerivationTree<Pkg, VersionBits, Unusable>;
pub(crate) type Ext = External<Pkg, VersionBits, Unusable>;
type Terms = Map<Pkg, Term<VersionBits>>;

/// The explanation and the next step for a failed solve.
pub(crate) fn explain(tree: &Tree, provider: &Provider<'_>) -> (String, String) {
    let words = Words { provider };
    let explanation = match tree {
        DerivationTree::External(external) => sentence(&words.format_external(external)),
        DerivationTree::Derived(_) => DefaultStringReporter::report_with_formatter(tree, &words),
    };
    let mut externals = Vec::new();
    collect_externals(tree, &mut externals);
    (explanation, advice::next_step(&words, &externals))
}

fn collect_externals<'t>(tree: &'t Tree, out: &mut Vec<&'t Ext>) {
    match tree {
        DerivationTree::External(e) => out.push(e),
        DerivationTree::Derived(Derived { cause1, cause2, .. }) => {
            collect_externals(cause1, out);
            collect_externals(cause2, out);
        }
    }
}

/// Capitalised, with a full stop.
pub(crate) fn sentence(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

/// `a`, `a or b`, `a, b or c`.
pub(crate) fn join(items: &[String], word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {word} {last}", init.join(", ")),
    }
}

/// Steps: `a`, `a, or b`, `a, b, or c`.
pub(crate) fn join_steps(steps: &[String]) -> String {
    steps.join(", or ")
}

/// A requirement as people write it in sentences: `≥ 3`, `< 3`, `^1.4`, `= 1.2.0`; `None` for
/// "any version".
pub(crate) fn pretty_req(req: &VersionReq) -> Option<String> {
    if req.comparators.is_empty() {
        return None;
    }
    let parts: Vec<String> = req
        .comparators
        .iter()
        .map(|c| {
            let mut v = c.major.to_string();
            if let Some(minor) = c.minor {
                v.push_str(&format!(".{minor}"));
                if let Some(patch) = c.patch {
                    v.push_str(&format!(".{patch}"));
                }
            }
            if !c.pre.is_empty() {
                v.push_str(&format!("-{}", c.pre));
            }
            match c.op {
                Op::Exact => format!("= {v}"),
                Op::Greater => format!("> {v}"),
                Op::GreaterEq => format!("≥ {v}"),
                Op::Less => format!("< {v}"),
                Op::LessEq => format!("≤ {v}"),
                Op::Tilde => format!("~{v}"),
                Op::Caret => format!("^{v}"),
                Op::Wildcard => format!("{v}.*"),
                _ => format!("{c}"),
            }
        })
        .collect();
    Some(parts.join(", "))
}

/// Positions of one plugin, as contiguous runs.
fn runs(positions: &[Pos]) -> Vec<(Pos, Pos)> {
    let mut runs: Vec<(Pos, Pos)> = Vec::new();
    for &p in positions {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == p => *end = p,
            _ => runs.push((p, p)),
        }
    }
    runs
}

/// Why no release of a plugin fits a requirement.
pub(crate) enum Shortfall {
    /// The index has no such plugin.
    Unknown(String),
    /// Only yanked releases match.
    Yanked(String, Vec<String>),
    /// Only prereleases match, and prereleases were not asked for.
    Prerelease(String, Vec<String>),
    /// Nothing matches; what the index has instead.
    Other(String),
}

/// Words for packages, version sets and incompatibilities.
pub(crate) struct Words<'p, 'a> {
    pub(crate) provider: &'p Provider<'a>,
}

impl Words<'_, '_> {
    pub(crate) fn name(&self, pkg: Pkg) -> String {
        match &*self.provider.package(pkg) {
            Package::Root => "your request".into(),
            Package::Plugin(p) => p.name.clone(),
            Package::HostApi(name) => format!("host API {name}"),
            Package::SdkAbi => "the SDK ABI".into(),
        }
    }

    /// The versions of `plugin` among `positions` (no `ABSENT`), in words: `1.4.0`, `2.x`,
    /// `≥ 1.2.0`, `≤ 1.9.0`, `1.2.0 – 1.4.0`, or several of those joined with "or". Empty for
    /// every usable version.
    fn versions(plugin: &Plugin<'_>, positions: &[Pos]) -> String {
        let last = plugin.last();
        if positions.len() == last as usize {
            return String::new();
        }
        let version = |p: Pos| plugin.release(p).map(|r| r.version.to_string());
        let all_runs = runs(positions);
        let single_run = all_runs.len() == 1;
        let parts: Vec<String> = all_runs
            .into_iter()
            .filter_map(|(a, b)| {
                let (va, vb) = (version(a)?, version(b)?);
                if a == b {
                    return Some(va);
                }
                if let Some(series) = Self::series(plugin, a, b) {
                    return Some(series);
                }
                Some(if single_run && b == last {
                    format!("≥ {va}")
                } else if single_run && a == 1 {
                    format!("≤ {vb}")
                } else {
                    format!("{va} – {vb}")
                })
            })
            .collect();
        join(&parts, "or")
    }

    /// `2.x` (or `0.3.x`) when positions `a..=b` are exactly the usable releases of one series.
    fn series(plugin: &Plugin<'_>, a: Pos, b: Pos) -> Option<String> {
        let first = &plugin.release(a)?.version;
        let same =
            |v: &Version| v.major == first.major && (first.major > 0 || v.minor == first.minor);
        let members: Vec<Pos> = plugin
            .usable_releases()
            .filter(|(_, r)| same(&r.version))
            .map(|(p, _)| p)
            .collect();
        if members.first() != Some(&a) || members.last() != Some(&b) {
            return None;
        }
        Some(if first.major > 0 {
            format!("{}.x", first.major)
        } else {
            format!("0.{}.x", first.minor)
        })
    }

    /// A package with a set of its versions: `weather 2.x`, `geo`, `no maps`, `maps 1.4.0 (or
    /// no maps)`.
    fn describe(&self, pkg: Pkg, set: &VersionBits) -> String {
        let package = self.provider.package(pkg);
        let Package::Plugin(plugin) = &*package else {
            return self.name(pkg);
        };
        let positions: Vec<Pos> = set
            .members(plugin.last())
            .filter(|p| *p != ABSENT)
            .collect();
        let absent = set.has(ABSENT);
        let name = &plugin.name;
        match (positions.is_empty(), absent) {
            (true, true) => format!("no {name}"),
            (true, false) => format!("{name} (no version)"),
            (false, absent) => {
                let versions = Self::versions(plugin, &positions);
                let mut s = if versions.is_empty() {
                    name.clone()
                } else {
                    format!("{name} {versions}")
                };
                if absent {
                    s.push_str(&format!(" (or no {name})"));
                }
                s
            }
        }
    }

    /// The dependencies of `pkg` (the request, or a plugin's releases in `set`).
    fn dependency_lists(&self, pkg: Pkg, set: &VersionBits) -> Vec<Vec<Dependency>> {
        match &*self.provider.package(pkg) {
            Package::Root => vec![self.provider.requests().to_vec()],
            Package::Plugin(plugin) => set
                .members(plugin.last())
                .filter_map(|p| plugin.release(p))
                .map(|r| r.dependencies.clone())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The requirement `from` (in `from_set`) puts on `to` that became `to_set`, as written.
    fn requirement(
        &self,
        from: Pkg,
        from_set: &VersionBits,
        to: Pkg,
        to_set: &VersionBits,
    ) -> Option<Dependency> {
        let package = self.provider.package(to);
        let Package::Plugin(target) = &*package else {
            return None;
        };
        self.dependency_lists(from, from_set)
            .into_iter()
            .flatten()
            .find(|d| d.name == target.name && &self.provider.positions(target, d) == to_set)
    }

    /// `geo ≥ 3` — the requirement as written when it can be found, else the set in words.
    pub(crate) fn wanted(
        &self,
        from: Pkg,
        from_set: &VersionBits,
        to: Pkg,
        to_set: &VersionBits,
    ) -> String {
        match self.requirement(from, from_set, to, to_set) {
            Some(d) => match pretty_req(&d.req) {
                Some(req) => format!("{} {req}", d.name),
                None => d.name,
            },
            None => self.describe(
                to,
                &to_set.intersection(&VersionBits::singleton(ABSENT).complement()),
            ),
        }
    }

    /// Why nothing of `to` fits `to_set`.
    pub(crate) fn shortfall(
        &self,
        from: Pkg,
        from_set: &VersionBits,
        to: Pkg,
        to_set: &VersionBits,
    ) -> Shortfall {
        let package = self.provider.package(to);
        let Package::Plugin(target) = &*package else {
            return Shortfall::Other(String::new());
        };
        if !target.known {
            return Shortfall::Unknown(target.name.clone());
        }
        if let Some(d) = self.requirement(from, from_set, to, to_set) {
            let matching = |yanked: bool| -> Vec<String> {
                target
                    .releases
                    .iter()
                    .filter(|r| r.yanked == yanked && req_matches(&d.req, &r.version, true))
                    .map(|r| r.version.to_string())
                    .collect()
            };
            let prereleases = matching(false);
            if !prereleases.is_empty() {
                return Shortfall::Prerelease(target.name.clone(), prereleases);
            }
            let yanked = matching(true);
            if !yanked.is_empty() {
                return Shortfall::Yanked(target.name.clone(), yanked);
            }
        }
        Shortfall::Other(match (target.release(1), target.release(target.last())) {
            (Some(first), Some(newest)) if target.last() > 1 => format!(
                "the index has {} {} – {} only",
                target.name, first.version, newest.version
            ),
            (Some(only), _) => format!("the index has {} {} only", target.name, only.version),
            _ => format!("every release of {} is yanked", target.name),
        })
    }

    /// [`shortfall`](Self::shortfall), in words.
    fn why_nothing(
        &self,
        from: Pkg,
        from_set: &VersionBits,
        to: Pkg,
        to_set: &VersionBits,
    ) -> String {
        let verb = |list: &[String]| if list.len() == 1 { "is" } else { "are" };
        match self.shortfall(from, from_set, to, to_set) {
            Shortfall::Unknown(name) => format!("no plugin named `{name}` is in the index"),
            Shortfall::Yanked(name, versions) => {
                format!(
                    "{name} {} {} yanked",
                    join(&versions, "and"),
                    verb(&versions)
                )
            }
            Shortfall::Prerelease(name, versions) => format!(
                "{name} {} {} only prereleases, used when asked for",
                join(&versions, "and"),
                verb(&versions)
            ),
            Shortfall::Other(text) => text,
        }
    }

    fn host_phrase(&self) -> String {
        match &self.provider.settings.host_api {
            Some((name, version)) => format!("this host provides {name} {version}"),
            None => "this host declares no host API".into(),
        }
    }

    fn abi_phrase(&self) -> String {
        let (major, minor) = self.provider.settings.sdk_abi;
        format!("this host supports SDK ABI {major}.0 to {major}.{minor}")
    }

    /// A release of `pkg` in `set`, to quote its host API or SDK ABI.
    pub(crate) fn some_release(&self, pkg: Pkg, set: &VersionBits) -> Option<Release> {
        match &*self.provider.package(pkg) {
            Package::Plugin(plugin) => set
                .members(plugin.last())
                .find_map(|p| plugin.release(p).cloned()),
            _ => None,
        }
    }

    fn dependency_sentence(
        &self,
        from: Pkg,
        from_set: &VersionBits,
        to: Pkg,
        to_set: &VersionBits,
    ) -> String {
        let who = if from == ROOT {
            "you asked for".to_owned()
        } else {
            format!("{} needs", self.describe(from, from_set))
        };
        match &*self.provider.package(to) {
            Package::HostApi(_) => {
                let wanted = self
                    .some_release(from, from_set)
                    .and_then(|r| r.host_api)
                    .map(|h| match pretty_req(&h.req) {
                        Some(req) => format!("{} {req}", h.name),
                        None => h.name,
                    })
                    .unwrap_or_default();
                format!("{who} host API {wanted} ({})", self.host_phrase())
            }
            Package::SdkAbi => {
                let built = self
                    .some_release(from, from_set)
                    .map(|r| format!("{}.{}", r.sdk_abi.0, r.sdk_abi.1))
                    .unwrap_or_default();
                format!(
                    "{} is built for SDK ABI {built} ({})",
                    self.describe(from, from_set),
                    self.abi_phrase()
                )
            }
            Package::Root => who,
            Package::Plugin(target) => {
                let wanted = self.wanted(from, from_set, to, to_set);
                let has_real = to_set.members(target.last()).any(|p| p != ABSENT);
                if to_set.has(ABSENT) {
                    if from == ROOT {
                        format!("you allowed only {wanted}")
                    } else {
                        format!(
                            "{} works only with {wanted} (an optional dependency)",
                            self.describe(from, from_set)
                        )
                    }
                } else if !has_real {
                    format!(
                        "{who} {wanted} ({})",
                        self.why_nothing(from, from_set, to, to_set)
                    )
                } else {
                    format!("{who} {wanted}")
                }
            }
        }
    }
}

impl Words<'_, '_> {
    fn is_root(pkg: &Pkg) -> bool {
        *pkg == ROOT
    }

    /// Two facts joined by "and"; two things asked for read as one request.
    fn both(&self, e1: &Ext, e2: &Ext) -> String {
        if let (
            External::FromDependencyOf(ROOT, _, t1, s1),
            External::FromDependencyOf(ROOT, _, t2, s2),
        ) = (e1, e2)
        {
            let full = VersionBits::full();
            let (mut w1, mut w2) = (
                self.wanted(ROOT, &full, *t1, s1),
                self.wanted(ROOT, &full, *t2, s2),
            );
            if w2 < w1 {
                std::mem::swap(&mut w1, &mut w2);
            }
            return format!("you asked for {w1} and {w2}");
        }
        format!(
            "{} and {}",
            self.format_external(e1),
            self.format_external(e2)
        )
    }
}

impl ReportFormatter<Pkg, VersionBits, Unusable> for Words<'_, '_> {
    type Output = String;

    fn format_external(&self, external: &Ext) -> String {
        match external {
            External::NotRoot(..) => "your request is being resolved".into(),
            External::NoVersions(pkg, set) => match &*self.provider.package(*pkg) {
                Package::Plugin(plugin) if !plugin.known => {
                    format!("no plugin named `{}` is in the index", plugin.name)
                }
                Package::Plugin(plugin) if plugin.last() == 0 => {
                    format!("every release of {} is yanked", plugin.name)
                }
                _ => format!("no usable version of {} is left", self.describe(*pkg, set)),
            },
            External::FromDependencyOf(from, from_set, to, to_set) => {
                self.dependency_sentence(*from, from_set, *to, to_set)
            }
            External::Custom(pkg, set, Unusable::NeedsItself(req)) => {
                let req = pretty_req(req).unwrap_or_else(|| "any version".into());
                let is = self
                    .some_release(*pkg, set)
                    .map(|r| format!(" (it is {})", r.version))
                    .unwrap_or_default();
                format!("{} needs itself at {req}{is}", self.describe(*pkg, set))
            }
        }
    }

    fn format_terms(&self, terms: &Terms) -> String {
        let mut root = false;
        let mut positives = Vec::new();
        let mut negatives = Vec::new();
        for (pkg, term) in terms.iter() {
            match term {
                Term::Positive(_) if Self::is_root(pkg) => root = true,
                Term::Positive(set) => positives.push((*pkg, set)),
                Term::Negative(set) => negatives.push((*pkg, set)),
            }
        }
        positives.sort_by_key(|(p, _)| self.name(*p));
        negatives.sort_by_key(|(p, _)| self.name(*p));
        let described = |list: &[(Pkg, &VersionBits)]| -> Vec<String> {
            list.iter().map(|(p, s)| self.describe(*p, s)).collect()
        };
        match (positives.as_slice(), negatives.as_slice()) {
            ([], []) => "your request cannot be satisfied".into(),
            ([(pkg, set)], []) => {
                let package = self.provider.package(*pkg);
                match &*package {
                    Package::Plugin(plugin) => {
                        let real: Vec<Pos> = set
                            .members(plugin.last())
                            .filter(|p| *p != ABSENT)
                            .collect();
                        match (real.len() == plugin.last() as usize, set.has(ABSENT)) {
                            (true, true) => format!("no choice for {} works", plugin.name),
                            (true, false) if root => {
                                format!("your request cannot use any version of {}", plugin.name)
                            }
                            (true, false) => format!("no version of {} can be used", plugin.name),
                            (false, true) if real.is_empty() => {
                                format!("{} must be installed", plugin.name)
                            }
                            _ => format!("{} cannot be used", self.describe(*pkg, set)),
                        }
                    }
                    _ => format!("{} cannot be used", self.describe(*pkg, set)),
                }
            }
            ([], [(pkg, set)]) => {
                let what = match &*self.provider.package(*pkg) {
                    Package::Plugin(plugin)
                        if set.members(plugin.last()).eq(std::iter::once(ABSENT)) =>
                    {
                        return format!("{} cannot be installed", plugin.name);
                    }
                    _ => self.describe(*pkg, set),
                };
                if root {
                    format!("your request needs {what}")
                } else {
                    format!("{what} is required")
                }
            }
            ([(from, from_set)], [(to, to_set)]) => format!(
                "{} needs {}",
                self.describe(*from, from_set),
                self.describe(*to, to_set)
            ),
            (positives, []) => format!(
                "{} cannot be used together",
                join(&described(positives), "and")
            ),
            ([], negatives) => {
                let who = if root { "your request" } else { "every choice" };
                format!("{who} needs {}", join(&described(negatives), "or"))
            }
            (positives, negatives) => format!(
                "{} together need {}",
                join(&described(positives), "and"),
                join(&described(negatives), "or")
            ),
        }
    }

    fn explain_both_external(&self, e1: &Ext, e2: &Ext, terms: &Terms) -> String {
        format!(
            "Because {}, {}.",
            self.both(e1, e2),
            self.format_terms(terms)
        )
    }

    fn explain_both_ref(
        &self,
        ref1: usize,
        d1: &Derived<Pkg, VersionBits, Unusable>,
        ref2: usize,
        d2: &Derived<Pkg, VersionBits, Unusable>,
        terms: &Terms,
    ) -> String {
        format!(
            "Because {} ({ref1}) and {} ({ref2}), {}.",
            self.format_terms(&d1.terms),
            self.format_terms(&d2.terms),
            self.format_terms(terms)
        )
    }

    fn explain_ref_and_external(
        &self,
        ref_id: usize,
        derived: &Derived<Pkg, VersionBits, Unusable>,
        external: &Ext,
        terms: &Terms,
    ) -> String {
        format!(
            "Because {} ({ref_id}) and {}, {}.",
            self.format_terms(&derived.terms),
            self.format_external(external),
            self.format_terms(terms)
        )
    }

    fn and_explain_external(&self, external: &Ext, terms: &Terms) -> String {
        format!(
            "And because {}, {}.",
            self.format_external(external),
            self.format_terms(terms)
        )
    }

    fn and_explain_ref(
        &self,
        ref_id: usize,
        derived: &Derived<Pkg, VersionBits, Unusable>,
        terms: &Terms,
    ) -> String {
        format!(
            "And because {} ({ref_id}), {}.",
            self.format_terms(&derived.terms),
            self.format_terms(terms)
        )
    }

    fn and_explain_prior_and_external(&self, prior: &Ext, external: &Ext, terms: &Terms) -> String {
        format!(
            "And because {}, {}.",
            self.both(prior, external),
            self.format_terms(terms)
        )
    }
}
