//! Policy: which packages a host accepts, decided before any plugin code runs (SPEC S4.3).
//!
//! Written as `policy.toml` or built in code. Every decision names the rule that made it.
//!
//! ```toml
//! minimum_trust = "verified"            # unsigned | self-signed | verified | certified
//! allowed_signers = ["A1B2C3D4E5F60718"] # key ids; empty: any signer the trust level allows
//! allow = ["acme-*"]                    # plugin name patterns; empty: all
//! deny = ["acme-legacy"]
//! blocked_capabilities = ["process.spawn"]
//! approval_required = ["fs.write", "net.connect"]
//! allowed_registries = ["https://plugins.example.com"]
//! ```

use serde::{Deserialize, Serialize};

use crate::package::TrustLevel;

/// The rules a host applies to every plugin before loading it.
///
/// # Example
///
/// ```
/// use switchboard_host::{package::TrustLevel, Policy};
///
/// let policy = Policy::from_toml("minimum_trust = \"verified\"\ndeny = [\"bad-*\"]").unwrap();
/// let d = policy.decide("good", TrustLevel::SelfSigned, None, &[]);
/// assert!(!d.allowed);
/// assert_eq!(d.rule, "minimum_trust = \"verified\" (package is self-signed)");
/// assert_eq!(policy.decide("bad-one", TrustLevel::Verified, None, &[]).rule, "deny = \"bad-*\"");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The lowest trust level accepted. Default: `self-signed` (unsigned code is refused).
    #[serde(default = "default_minimum")]
    pub minimum_trust: TrustLevel,
    /// Signer key ids accepted; empty means any.
    #[serde(default)]
    pub allowed_signers: Vec<String>,
    /// Plugin name patterns (`*` matches any run of characters) accepted; empty means all.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Plugin name patterns refused; checked before `allow`.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Capabilities no plugin may have: a plugin requesting one is refused.
    #[serde(default)]
    pub blocked_capabilities: Vec<String>,
    /// Capabilities granted only after an approver says yes.
    #[serde(default)]
    pub approval_required: Vec<String>,
    /// Registries plugins may be installed from; empty means any.
    #[serde(default)]
    pub allowed_registries: Vec<String>,
}

fn default_minimum() -> TrustLevel {
    TrustLevel::SelfSigned
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            minimum_trust: default_minimum(),
            allowed_signers: Vec::new(),
            allow: Vec::new(),
            deny: Vec::new(),
            blocked_capabilities: Vec::new(),
            approval_required: Vec::new(),
            allowed_registries: Vec::new(),
        }
    }
}

/// A policy decision and the rule that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether the plugin may load.
    pub allowed: bool,
    /// The rule that decided, as written in `policy.toml`.
    pub rule: String,
}

impl Decision {
    fn deny(rule: String) -> Self {
        Decision {
            allowed: false,
            rule,
        }
    }
}

/// `*` matches any run of characters; everything else literally.
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

impl Policy {
    /// Parses `policy.toml`.
    pub fn from_toml(source: &str) -> Result<Policy, String> {
        toml::from_str(source).map_err(|e| format!("invalid policy: {}", e.message()))
    }

    /// Decides whether plugin `name`, with this trust level, signer and requested capabilities,
    /// may load.
    pub fn decide(
        &self,
        name: &str,
        trust: TrustLevel,
        signer: Option<&str>,
        capabilities: &[String],
    ) -> Decision {
        if let Some(p) = self.deny.iter().find(|p| glob_match(p, name)) {
            return Decision::deny(format!("deny = \"{p}\""));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|p| glob_match(p, name)) {
            return Decision::deny(format!(
                "allow = {:?} (no pattern matches `{name}`)",
                self.allow
            ));
        }
        if trust < self.minimum_trust {
            return Decision::deny(format!(
                "minimum_trust = \"{}\" (package is {trust})",
                self.minimum_trust
            ));
        }
        if !self.allowed_signers.is_empty() {
            match signer {
                Some(s)
                    if self
                        .allowed_signers
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(s)) => {}
                Some(s) => {
                    return Decision::deny(format!(
                        "allowed_signers = {:?} (signed by {s})",
                        self.allowed_signers
                    ))
                }
                None => {
                    return Decision::deny(format!(
                        "allowed_signers = {:?} (unsigned)",
                        self.allowed_signers
                    ))
                }
            }
        }
        for cap in capabilities {
            let cap_name = cap.split(':').next().unwrap_or(cap);
            if let Some(b) = self
                .blocked_capabilities
                .iter()
                .find(|b| b.as_str() == cap_name || b.as_str() == cap.as_str())
            {
                return Decision::deny(format!(
                    "blocked_capabilities = \"{b}\" (requested `{cap}`)"
                ));
            }
        }
        Decision {
            allowed: true,
            rule: format!(
                "minimum_trust = \"{}\" (package is {trust})",
                self.minimum_trust
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("acme-*", "acme-tools"));
        assert!(glob_match("*", "x"));
        assert!(glob_match("a*c*e", "abcde"));
        assert!(!glob_match("acme-*", "acm"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("*-x", "a-y"));
    }

    #[test]
    fn default_refuses_unsigned() {
        let d = Policy::default().decide("p", TrustLevel::Unsigned, None, &[]);
        assert!(!d.allowed);
        assert!(d.rule.contains("self-signed"));
        assert!(
            Policy::default()
                .decide("p", TrustLevel::SelfSigned, Some("AB"), &[])
                .allowed
        );
    }

    #[test]
    fn signers_and_capabilities() {
        let p = Policy {
            allowed_signers: vec!["AAAA".into()],
            blocked_capabilities: vec!["process.spawn".into()],
            ..Policy::default()
        };
        assert!(
            !p.decide("x", TrustLevel::Verified, Some("BBBB"), &[])
                .allowed
        );
        assert!(
            p.decide("x", TrustLevel::Verified, Some("aaaa"), &[])
                .allowed
        );
        let d = p.decide(
            "x",
            TrustLevel::Verified,
            Some("AAAA"),
            &["process.spawn:/bin/ls".into()],
        );
        assert_eq!(
            d.rule,
            "blocked_capabilities = \"process.spawn\" (requested `process.spawn:/bin/ls`)"
        );
    }

    #[test]
    fn unknown_policy_fields_are_refused() {
        assert!(Policy::from_toml("minimum_trst = \"verified\"").is_err());
        assert!(Policy::from_toml("minimum_trust = \"great\"").is_err());
    }
}
