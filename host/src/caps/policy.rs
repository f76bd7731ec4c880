//! Policy: the host's standing rules about which plugins load and what they may be granted.

use std::collections::BTreeSet;

use switchboard_sdk::caps::{Capability, PathPattern, TopicPattern};

use super::trust::TrustLevel;
use crate::isolation::policy::IsolationPolicy;
use crate::isolation::{IsolationPolicyError, IsolationProfile, Mode};
use crate::state::{Quota, QuotaPolicy};

/// The host's standing rules (SPEC S4.3), built in code and given to
/// [`HostBuilder::policy`](crate::HostBuilder::policy).
///
/// For each capability a plugin requests, in this order:
///
/// 1. a [`block`](Policy::block) rule that overlaps it → denied;
/// 2. a stored persistent or time-limited grant covering it → granted again;
/// 3. a [`require_approval`](Policy::require_approval) rule that overlaps it → the approver
///    decides;
/// 4. [`allow`](Policy::allow) rules: one covering the request grants it; rules the request
///    covers grant just those (the request is *narrowed*: `fs.read` asked, `fs.read:/srv/**`
///    granted);
/// 5. otherwise the approver decides, and with no approver it is denied — deny by default.
///
/// Before any of that, a plugin below [`min_trust`](Policy::min_trust), on the
/// [deny list](Policy::deny_plugin) or missing from a non-empty
/// [allow list](Policy::allow_plugin) is refused outright.
///
/// A bare `events.publish` request is read as the plugin's own namespace,
/// `events.publish:plugin.<name>.**`.
///
/// Its isolation rules route plugins to isolated mode: below a trust level
/// ([`isolate_below`](Policy::isolate_below)), by name ([`isolate_plugin`](Policy::isolate_plugin)),
/// by kind ([`isolate_kind`](Policy::isolate_kind)) or all of them
/// ([`isolation_default`](Policy::isolation_default)), each under the sandbox profile of its
/// kind ([`isolation_profile`](Policy::isolation_profile)) or the defaults
/// ([`isolation_defaults`](Policy::isolation_defaults)); see
/// [`isolation`](crate::isolation) for the rules.
///
/// # Example
///
/// ```
/// use switchboard_host::caps::{Policy, TrustLevel};
///
/// # fn main() -> Result<(), switchboard_sdk::caps::CapabilityError> {
/// let mut policy = Policy::new();
/// policy
///     .min_trust(TrustLevel::Unsigned)
///     .allow("kv".parse()?)
///     .allow("fs.read:/srv/shared/**".parse()?)
///     .require_approval("fs.write".parse()?)
///     .block("process.spawn".parse()?)
///     .deny_plugin("known-bad")
///     .isolate_below(TrustLevel::Verified);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Policy {
    min_trust: TrustLevel,
    allow: Vec<Capability>,
    require_approval: Vec<Capability>,
    block: Vec<Capability>,
    allowed_plugins: BTreeSet<String>,
    denied_plugins: BTreeSet<String>,
    allowed_signers: BTreeSet<String>,
    allowed_registries: BTreeSet<String>,
    service_throttle: Option<crate::bus::Throttle>,
    quota: QuotaPolicy,
    delivery: crate::bus::DeliveryPolicy,
    isolation: IsolationPolicy,
    slo: crate::slo::SloPolicy,
}

/// Why `policy.toml` was refused ([`Policy::from_toml`]): every problem names its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// An unknown key, trust level or capability, or a value out of range, outside
    /// `[isolation]`. It has no code of its own: the caller reports it under its own (the
    /// CLI's is `SB0015`).
    #[error("{0}")]
    Invalid(String),
    /// A problem in the `[isolation]` section (`SB1540`–`SB1542`).
    #[error("{0}")]
    Isolation(#[from] IsolationPolicyError),
    /// A problem in the `[slo]` section (`SB1810`–`SB1812`).
    #[error("{0}")]
    Slo(#[from] crate::slo::SloPolicyError),
}

impl PolicyError {
    /// The stable code of an `[isolation]` problem; `None` for the others, which the caller
    /// reports under its own code for an invalid policy.
    pub fn code(&self) -> Option<switchboard_sdk::ErrorCode> {
        match self {
            PolicyError::Invalid(_) => None,
            PolicyError::Isolation(e) => Some(e.code()),
            PolicyError::Slo(e) => Some(e.code()),
        }
    }

    /// What to do about an `[isolation]` problem; `None` for the others.
    pub fn next_step(&self) -> Option<String> {
        match self {
            PolicyError::Invalid(_) => None,
            PolicyError::Isolation(e) => Some(e.next_step()),
            PolicyError::Slo(e) => Some(e.next_step()),
        }
    }
}

impl From<String> for PolicyError {
    fn from(message: String) -> Self {
        PolicyError::Invalid(message)
    }
}

impl From<&str> for PolicyError {
    fn from(message: &str) -> Self {
        PolicyError::Invalid(message.to_owned())
    }
}

/// What policy says about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Denied by this block rule.
    Blocked(Capability),
    /// The approver must decide.
    Ask,
    /// Granted, as these capabilities (the request itself, or narrower rules).
    Allow(Vec<Capability>),
    /// No rule says anything.
    Unmatched,
}

/// Why policy refuses a plugin outright.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    Trust { required: TrustLevel },
    DenyListed,
    NotAllowListed,
    Signer { signer: Option<String> },
}

/// `policy.toml`, as written by operators.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    min_trust: Option<String>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    require_approval: Vec<String>,
    #[serde(default)]
    block: Vec<String>,
    #[serde(default)]
    allow_plugins: Vec<String>,
    #[serde(default)]
    deny_plugins: Vec<String>,
    #[serde(default)]
    allowed_signers: Vec<String>,
    #[serde(default)]
    allowed_registries: Vec<String>,
    #[serde(default)]
    services: Option<ServicesSection>,
    quota: Option<QuotaFile>,
    delivery: Option<DeliveryFile>,
    /// Read key by key (`IsolationPolicy::from_value`), so its errors carry their own codes.
    isolation: Option<toml::Value>,
    /// Read key by key (`SloPolicy::from_value`), errors coded `SB1810`–`SB1812`.
    slo: Option<toml::Value>,
}

/// `[delivery]` in `policy.toml`: what plugins' `#[subscribe]` handlers may ask for.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryFile {
    max_queue: Option<u64>,
    max_block_ms: Option<u64>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServicesSection {
    rate: f64,
    burst: u32,
}

/// `[quota]` in `policy.toml`: KV defaults and maxima (see [`QuotaPolicy`]).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaFile {
    default_kv_bytes: Option<u64>,
    default_kv_keys: Option<u64>,
    max_kv_bytes: Option<u64>,
    max_kv_keys: Option<u64>,
}

pub(crate) fn plugin_key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

impl Policy {
    /// A policy with no rules: any trust level, every request to the approver.
    pub fn new() -> Self {
        Policy::default()
    }

    /// Reads `policy.toml`:
    ///
    /// ```toml
    /// min_trust = "verified"                 # unsigned | self-signed | verified | certified
    /// allow = ["kv", "fs.read:/srv/shared/**"]
    /// require_approval = ["fs.write"]
    /// block = ["process.spawn"]
    /// allow_plugins = []                      # empty: any plugin
    /// deny_plugins = ["known-bad"]
    /// allowed_signers = ["72C4E2A32E20195D"]  # empty: any signer
    /// allowed_registries = ["https://plugins.example.com"]
    ///
    /// [services]                              # per-caller throttle on every shared service
    /// rate = 100.0                            # calls per second
    /// burst = 20
    /// [quota]                                 # KV quotas (see `state::QuotaPolicy`)
    /// default_kv_bytes = 10485760             # without a manifest request
    /// default_kv_keys = 10000
    /// max_kv_bytes = 104857600                # the most a manifest can obtain
    /// max_kv_keys = 100000
    /// [delivery]                              # plugins' #[subscribe] options (`bus::DeliveryPolicy`)
    /// max_queue = 8192                        # requested queues are clamped to this
    /// max_block_ms = 0                        # 0: plugins may not make publishers wait
    /// [isolation]                             # which plugins run isolated (`isolation`)
    /// default = "in-process"                  # in-process | isolated
    /// isolate_below = "verified"              # a trust level, as in min_trust
    /// isolate_plugins = ["scraper"]
    /// isolate_kinds = ["agent"]
    /// [isolation.defaults]                    # every isolated plugin's limits and allowances
    /// memory_mb = 512
    /// require = ["landlock", "seccomp"]       # sandbox layers the machine must have
    /// [isolation.profiles.agent]              # plugins of kind `agent`
    /// memory_mb = 2048
    /// allow_network = true
    /// [slo]                                   # objectives (`slo::SloPolicy`)
    /// availability = 0.999                    # fraction of calls that succeed
    /// latency_ms = 100                        # and the fraction within this threshold:
    /// latency_target = 0.99
    /// budget_window = "30d"                   # error budgets' rolling window
    /// [slo.plugins.hello]                     # per-plugin overrides
    /// availability = 0.99
    /// ```
    ///
    /// Every problem is an error naming the key: unknown keys, unknown trust levels, capabilities
    /// that do not parse ([`PolicyError::Invalid`]); in `[isolation]`, coded errors
    /// ([`PolicyError::Isolation`], `SB1540`–`SB1542`); in `[slo]`, coded errors
    /// ([`PolicyError::Slo`], `SB1810`–`SB1812`).
    ///
    /// # Example
    ///
    /// ```
    /// use switchboard_host::Policy;
    ///
    /// let p = Policy::from_toml("min_trust = \"verified\"\nblock = [\"process.spawn\"]").unwrap();
    /// assert_eq!(p.required_trust().as_str(), "verified");
    /// let e = Policy::from_toml("min_trst = \"verified\"").unwrap_err();
    /// assert!(e.to_string().contains("min_trst"));
    /// let e = Policy::from_toml("block = [\"proces.spawn\"]").unwrap_err();
    /// assert!(e.to_string().contains("block[0]"));
    /// let e = Policy::from_toml("[isolation]\nisolate_bellow = \"verified\"").unwrap_err();
    /// assert_eq!(e.code().unwrap().to_string(), "SB1540");
    /// ```
    pub fn from_toml(source: &str) -> Result<Policy, PolicyError> {
        let file: PolicyFile = toml::from_str(source)
            .map_err(|e| format!("invalid policy: {}", e.message().trim()))?;
        let mut p = Policy::new();
        if let Some(t) = &file.min_trust {
            p.min_trust(t.parse().map_err(|e| format!("min_trust: {e}"))?);
        }
        let caps = |key: &str, list: &[String]| -> Result<Vec<Capability>, String> {
            list.iter()
                .enumerate()
                .map(|(i, c)| {
                    c.parse::<Capability>()
                        .map_err(|e| format!("{key}[{i}]: {e}"))
                })
                .collect()
        };
        for c in caps("allow", &file.allow)? {
            p.allow(c);
        }
        for c in caps("require_approval", &file.require_approval)? {
            p.require_approval(c);
        }
        for c in caps("block", &file.block)? {
            p.block(c);
        }
        for n in &file.allow_plugins {
            p.allow_plugin(n);
        }
        for n in &file.deny_plugins {
            p.deny_plugin(n);
        }
        for k in &file.allowed_signers {
            p.allow_signer(k);
        }
        for r in &file.allowed_registries {
            p.allow_registry(r);
        }
        if let Some(s) = &file.services {
            if !(s.rate.is_finite() && s.rate > 0.0) || s.burst == 0 {
                return Err(
                    "services: `rate` must be a positive number and `burst` at least 1".into(),
                );
            }
            p.service_throttle(crate::bus::Throttle::new(s.rate, s.burst));
        }
        if let Some(q) = &file.quota {
            let d = QuotaPolicy::default();
            let default = Quota::new(
                q.default_kv_bytes.unwrap_or(d.default.max_bytes),
                q.default_kv_keys.unwrap_or(d.default.max_keys),
            );
            let max = Quota::new(
                q.max_kv_bytes
                    .unwrap_or(d.max.max_bytes.max(default.max_bytes)),
                q.max_kv_keys
                    .unwrap_or(d.max.max_keys.max(default.max_keys)),
            );
            if default.max_bytes > max.max_bytes || default.max_keys > max.max_keys {
                return Err("quota: a default is larger than its maximum".into());
            }
            p.quota(QuotaPolicy { default, max });
        }
        if let Some(d) = &file.delivery {
            let default = crate::bus::DeliveryPolicy::default();
            p.delivery(crate::bus::DeliveryPolicy::new(
                d.max_queue.map_or(default.max_queue, |q| {
                    usize::try_from(q).unwrap_or(usize::MAX)
                }),
                d.max_block_ms
                    .map_or(default.max_block, std::time::Duration::from_millis),
            ));
        }
        if let Some(v) = &file.isolation {
            p.isolation = IsolationPolicy::from_value(v)?;
        }
        if let Some(v) = &file.slo {
            p.slo = crate::slo::SloPolicy::from_value(v)?;
        }
        Ok(p)
    }

    /// The SLOs plugins are held to (`[slo]`; see [`slo`](crate::slo)).
    pub fn slo(&mut self, slo: crate::slo::SloPolicy) -> &mut Self {
        self.slo = slo;
        self
    }

    /// The SLOs plugins are held to.
    pub fn slo_policy(&self) -> &crate::slo::SloPolicy {
        &self.slo
    }

    /// Runs plugins below trust `level` isolated (`[isolation] isolate_below`).
    pub fn isolate_below(&mut self, level: TrustLevel) -> &mut Self {
        self.isolation.isolate_below = Some(level);
        self
    }

    /// Runs plugin `name` isolated (`[isolation] isolate_plugins`).
    pub fn isolate_plugin(&mut self, name: &str) -> &mut Self {
        self.isolation.isolate_plugins.insert(plugin_key(name));
        self
    }

    /// Runs plugins whose manifest says `kind = "<kind>"` isolated
    /// (`[isolation] isolate_kinds`).
    pub fn isolate_kind(&mut self, kind: &str) -> &mut Self {
        self.isolation.isolate_kinds.insert(kind.to_owned());
        self
    }

    /// The mode of plugins no rule isolates (`[isolation] default`; default: in-process).
    /// `Mode::Isolated` isolates every plugin.
    pub fn isolation_default(&mut self, mode: Mode) -> &mut Self {
        self.isolation.default = Some(mode);
        self
    }

    /// Limits and allowances for every isolated plugin whose kind has no profile of its own,
    /// and for the settings a kind's profile leaves unset (`[isolation.defaults]`).
    pub fn isolation_defaults(&mut self, profile: IsolationProfile) -> &mut Self {
        self.isolation.defaults = profile;
        self
    }

    /// Limits and allowances for isolated plugins of `kind`
    /// (`[isolation.profiles.<kind>]`). Giving a kind a profile does not isolate it: list it
    /// with [`isolate_kind`](Policy::isolate_kind) for that.
    pub fn isolation_profile(&mut self, kind: &str, profile: IsolationProfile) -> &mut Self {
        self.isolation.profiles.insert(kind.to_owned(), profile);
        self
    }

    /// The isolation rules and profiles.
    pub(crate) fn isolation(&self) -> &IsolationPolicy {
        &self.isolation
    }

    /// Throttles every caller of every shared service: a token bucket per (caller, service).
    pub fn service_throttle(&mut self, throttle: crate::bus::Throttle) -> &mut Self {
        self.service_throttle = Some(throttle);
        self
    }

    /// What plugins' `#[subscribe]` handlers may ask for (default:
    /// [`DeliveryPolicy::default`](crate::bus::DeliveryPolicy::default): queues up to 8,192,
    /// no blocking).
    pub fn delivery(&mut self, delivery: crate::bus::DeliveryPolicy) -> &mut Self {
        self.delivery = delivery;
        self
    }

    /// The delivery limits for plugin subscriptions.
    pub fn delivery_value(&self) -> crate::bus::DeliveryPolicy {
        self.delivery
    }

    /// The throttle on service calls, if any.
    pub fn service_throttle_value(&self) -> Option<crate::bus::Throttle> {
        self.service_throttle
    }

    /// The KV quotas: what plugins get by default and the most a manifest can request
    /// (default: [`QuotaPolicy::default`]).
    pub fn quota(&mut self, quota: QuotaPolicy) -> &mut Self {
        self.quota = quota;
        self
    }

    /// The KV quota rules.
    pub fn quotas(&self) -> QuotaPolicy {
        self.quota
    }

    /// Refuses plugins below `level`.
    pub fn min_trust(&mut self, level: TrustLevel) -> &mut Self {
        self.min_trust = level;
        self
    }

    /// Grants requests this rule covers (session scope), and narrows wider requests to it.
    pub fn allow(&mut self, capability: Capability) -> &mut Self {
        self.allow.push(capability);
        self
    }

    /// Sends requests that overlap this rule to the approver, even if an allow rule covers
    /// them.
    pub fn require_approval(&mut self, capability: Capability) -> &mut Self {
        self.require_approval.push(capability);
        self
    }

    /// Denies requests that overlap this rule, whatever else says.
    pub fn block(&mut self, capability: Capability) -> &mut Self {
        self.block.push(capability);
        self
    }

    /// Adds a plugin to the allow list; once the list is non-empty, only plugins on it load.
    pub fn allow_plugin(&mut self, name: &str) -> &mut Self {
        self.allowed_plugins.insert(plugin_key(name));
        self
    }

    /// Refuses a plugin by name.
    pub fn deny_plugin(&mut self, name: &str) -> &mut Self {
        self.denied_plugins.insert(plugin_key(name));
        self
    }

    /// Accepts packages signed by this key id (upper-case hex, as `switchboard verify` shows
    /// it); once any is named, packages by other signers are refused.
    pub fn allow_signer(&mut self, key_id: &str) -> &mut Self {
        self.allowed_signers.insert(key_id.to_ascii_uppercase());
        self
    }

    /// Names a registry (its URL, or its directory for a directory registry) plugins may be
    /// found in and installed from; once any is named, others are refused
    /// ([`registry_allowed`](Policy::registry_allowed)): `switchboard-registry` refuses to add
    /// or read one outside the list (`SB1364`). A package loaded from a file names no registry
    /// and is admitted by the other rules.
    pub fn allow_registry(&mut self, url: &str) -> &mut Self {
        self.allowed_registries
            .insert(url.trim_end_matches('/').to_owned());
        self
    }

    /// The settings of this policy that the host parses but does not apply yet, as warnings.
    /// Today there are none: `allowed_registries` (once `SB1123`) is applied by the registry
    /// client, and `[isolation]` by every load. Kept so preflight and loads report any later
    /// setting the same way.
    pub fn not_applied(&self) -> Vec<switchboard_sdk::manifest::Diagnostic> {
        Vec::new()
    }

    /// The registries plugins may come from (empty: any).
    pub fn allowed_registries(&self) -> impl Iterator<Item = &str> {
        self.allowed_registries.iter().map(String::as_str)
    }

    /// Whether plugins may be installed from the registry at `url`.
    pub fn registry_allowed(&self, url: &str) -> bool {
        self.allowed_registries.is_empty()
            || self.allowed_registries.contains(url.trim_end_matches('/'))
    }

    /// The minimum trust level.
    pub fn required_trust(&self) -> TrustLevel {
        self.min_trust
    }

    /// [`admit`](Policy::admit), and the signer rule for packages.
    pub(crate) fn admit_package(
        &self,
        plugin: &str,
        trust: TrustLevel,
        signer: Option<&str>,
    ) -> Result<(), Refusal> {
        self.admit(plugin, trust)?;
        if !self.allowed_signers.is_empty()
            && !signer.is_some_and(|s| self.allowed_signers.contains(&s.to_ascii_uppercase()))
        {
            return Err(Refusal::Signer {
                signer: signer.map(str::to_owned),
            });
        }
        Ok(())
    }

    pub(crate) fn admit(&self, plugin: &str, trust: TrustLevel) -> Result<(), Refusal> {
        let key = plugin_key(plugin);
        if self.denied_plugins.contains(&key) {
            return Err(Refusal::DenyListed);
        }
        if !self.allowed_plugins.is_empty() && !self.allowed_plugins.contains(&key) {
            return Err(Refusal::NotAllowListed);
        }
        if trust < self.min_trust {
            return Err(Refusal::Trust {
                required: self.min_trust,
            });
        }
        Ok(())
    }

    /// Whether a block rule overlaps `request`, and which.
    pub(crate) fn blocked(&self, request: &Capability) -> Option<Capability> {
        resolved(&self.block).find(|b| b.overlaps(request))
    }

    pub(crate) fn evaluate(&self, request: &Capability) -> Verdict {
        if let Some(b) = self.blocked(request) {
            return Verdict::Blocked(b);
        }
        if resolved(&self.require_approval).any(|r| r.overlaps(request)) {
            return Verdict::Ask;
        }
        if resolved(&self.allow).any(|a| a.covers(request)) {
            return Verdict::Allow(vec![request.clone()]);
        }
        let narrowed: Vec<Capability> = resolved(&self.allow)
            .filter(|a| request.covers(a))
            .collect();
        if narrowed.is_empty() {
            Verdict::Unmatched
        } else {
            Verdict::Allow(narrowed)
        }
    }
}

/// Rules with their path prefixes resolved, as requests are.
fn resolved(rules: &[Capability]) -> impl Iterator<Item = Capability> + '_ {
    rules.iter().map(|r| resolve_paths(r.clone()))
}

/// Resolves symlinks in the literal prefix of a path pattern (`/tmp/x/**` is
/// `/private/tmp/x/**` where `/tmp` links there), since checks compare canonical paths. The
/// longest existing ancestor is resolved; the rest is kept as written.
pub(crate) fn resolve_paths(capability: Capability) -> Capability {
    let resolve = |p: PathPattern| -> PathPattern {
        let prefix = p.literal_prefix();
        let mut existing = prefix.as_path();
        let mut rest = Vec::new();
        loop {
            if let Ok(real) = std::fs::canonicalize(existing) {
                let mut full = real;
                full.extend(rest.iter().rev());
                return p.with_prefix(&full).unwrap_or(p);
            }
            match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_owned());
                    existing = parent;
                }
                _ => return p,
            }
        }
    };
    match capability {
        Capability::FsRead(p) if !p.is_any() => Capability::FsRead(resolve(p)),
        Capability::FsWrite(p) if !p.is_any() => Capability::FsWrite(resolve(p)),
        other => other,
    }
}

/// Reads a bare `events.publish` request as the plugin's own namespace.
pub(crate) fn in_namespace(plugin: &str, request: Capability) -> Capability {
    match request {
        Capability::EventsPublish(p) if p.is_any() => {
            let ns = format!("plugin.{}.**", plugin_key(plugin).replace('_', "-"));
            TopicPattern::parse(&ns)
                .map(Capability::EventsPublish)
                .unwrap_or(Capability::EventsPublish(p))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(s: &str) -> Capability {
        s.parse().unwrap()
    }

    #[test]
    fn block_wins_over_allow() {
        let mut p = Policy::new();
        p.allow(cap("fs.read")).block(cap("fs.read:/etc/**"));
        assert_eq!(
            p.evaluate(&cap("fs.read:/etc/passwd")),
            Verdict::Blocked(cap("fs.read:/etc/**"))
        );
        // A wide request overlapping a blocked area is blocked as a whole.
        assert!(matches!(p.evaluate(&cap("fs.read")), Verdict::Blocked(_)));
        assert_eq!(
            p.evaluate(&cap("fs.read:/srv/x")),
            Verdict::Allow(vec![cap("fs.read:/srv/x")])
        );
    }

    #[test]
    fn wide_requests_are_narrowed_to_allow_rules() {
        let mut p = Policy::new();
        p.allow(cap("fs.read:/srv/a/**"))
            .allow(cap("fs.read:/srv/b/**"));
        assert_eq!(
            p.evaluate(&cap("fs.read")),
            Verdict::Allow(vec![cap("fs.read:/srv/a/**"), cap("fs.read:/srv/b/**")])
        );
        assert_eq!(p.evaluate(&cap("fs.read:/srv/c/**")), Verdict::Unmatched);
    }

    #[test]
    fn approval_rules_override_allow() {
        let mut p = Policy::new();
        p.allow(cap("secrets")).require_approval(cap("secrets"));
        assert_eq!(p.evaluate(&cap("secrets")), Verdict::Ask);
        assert_eq!(p.evaluate(&cap("kv")), Verdict::Unmatched);
    }

    #[test]
    fn admission_by_trust_and_lists() {
        let mut p = Policy::new();
        p.min_trust(TrustLevel::Verified);
        assert_eq!(
            p.admit("hello", TrustLevel::Unsigned),
            Err(Refusal::Trust {
                required: TrustLevel::Verified
            })
        );
        assert_eq!(p.admit("hello", TrustLevel::Certified), Ok(()));
        let mut p = Policy::new();
        p.deny_plugin("Evil-Plugin");
        assert_eq!(
            p.admit("evil_plugin", TrustLevel::Unsigned),
            Err(Refusal::DenyListed)
        );
        p.allow_plugin("hello");
        assert_eq!(
            p.admit("other", TrustLevel::Unsigned),
            Err(Refusal::NotAllowListed)
        );
        assert_eq!(p.admit("hello", TrustLevel::Unsigned), Ok(()));
    }

    #[test]
    fn path_prefixes_are_resolved_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = dir.path().join("link");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&real, &link).unwrap();
        #[cfg(unix)]
        {
            let c: Capability = format!("fs.read:{}/missing/**", link.display())
                .parse()
                .unwrap();
            let want = format!(
                "fs.read:{}/missing/**",
                std::fs::canonicalize(&real).unwrap().display()
            );
            assert_eq!(resolve_paths(c).to_string(), want);
        }
        assert_eq!(resolve_paths(cap("fs.read")), cap("fs.read"));
        assert_eq!(resolve_paths(cap("kv")), cap("kv"));
    }

    #[test]
    fn the_isolation_section_reads_into_the_same_rules_as_the_builder() {
        let p = Policy::from_toml(
            r#"
min_trust = "self-signed"
[isolation]
isolate_below = "verified"
isolate_plugins = ["Scraper"]
isolate_kinds = ["agent"]
default = "in-process"
[isolation.defaults]
memory_mb = 512
require = ["seccomp"]
[isolation.profiles.agent]
allow_network = false
"#,
        )
        .unwrap();
        let defaults = IsolationProfile {
            memory_mb: Some(512),
            require: vec![crate::isolation::Layer::Seccomp],
            ..IsolationProfile::default()
        };
        let agent = IsolationProfile {
            allow_network: Some(false),
            ..IsolationProfile::default()
        };
        let mut built = Policy::new();
        built
            .min_trust(TrustLevel::SelfSigned)
            .isolate_below(TrustLevel::Verified)
            .isolate_plugin("scraper")
            .isolate_kind("agent")
            .isolation_default(Mode::InProcess)
            .isolation_defaults(defaults)
            .isolation_profile("agent", agent);
        assert_eq!(p.isolation(), built.isolation());
        // Routing is applied by every load: nothing to report as not applied.
        assert!(p.not_applied().is_empty());
    }

    #[test]
    fn isolation_errors_carry_their_codes_and_others_none() {
        for (text, code, key) in [
            (
                "[isolation]\nisolate_kind = [\"agent\"]",
                "SB1540",
                "isolation.isolate_kind",
            ),
            (
                "[isolation.profiles.agent]\nrequire = [\"selinux\"]",
                "SB1541",
                "isolation.profiles.agent.require[0]",
            ),
            (
                "[isolation]\nisolate_below = \"signed\"",
                "SB1542",
                "isolation.isolate_below",
            ),
            ("isolation = 5", "SB1542", "isolation"),
        ] {
            let e = Policy::from_toml(text).unwrap_err();
            assert_eq!(
                e.code().map(|c| c.to_string()).as_deref(),
                Some(code),
                "{e}"
            );
            assert!(e.to_string().contains(key), "{e}");
            assert!(e.next_step().is_some());
        }
        let e = Policy::from_toml("isolate_below = \"verified\"").unwrap_err();
        assert!(matches!(e, PolicyError::Invalid(_)), "{e:?}");
        assert_eq!(e.code(), None);
        assert!(e.to_string().contains("isolate_below"), "{e}");
    }

    #[test]
    fn bare_publish_means_the_own_namespace() {
        assert_eq!(
            in_namespace("hello", cap("events.publish")),
            cap("events.publish:plugin.hello.**")
        );
        assert_eq!(
            in_namespace("hello", cap("events.publish:host.x")),
            cap("events.publish:host.x")
        );
    }
}
