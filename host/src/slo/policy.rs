//! The objectives each plugin is held to: defaults and per-plugin overrides, from code or from
//! the `[slo]` section of `policy.toml`.

use std::collections::BTreeMap;
use std::time::Duration;

use switchboard_sdk::ErrorCode;

use crate::caps::policy::plugin_key;

/// `SB1810`: an unknown key in `[slo]`.
pub const UNKNOWN_KEY: ErrorCode = ErrorCode::from_number(1810);
/// `SB1811`: a key in `[slo]` holds the wrong type of value.
pub const WRONG_TYPE: ErrorCode = ErrorCode::from_number(1811);
/// `SB1812`: a value in `[slo]` is out of range.
pub const OUT_OF_RANGE: ErrorCode = ErrorCode::from_number(1812);

/// A problem in the `[slo]` section of `policy.toml`, or an objective out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SloPolicyError {
    /// A key the section does not have (`SB1810`).
    #[error("`{key}` is not an SLO setting; the known ones here are {known}")]
    UnknownKey {
        /// The key, with its path (`slo.plugins.hello.availabilty`).
        key: String,
        /// The keys allowed there.
        known: String,
    },
    /// A value of the wrong type (`SB1811`).
    #[error("`{key}` must be {expected}")]
    WrongType {
        /// The key, with its path.
        key: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A value out of range (`SB1812`).
    #[error("`{key}` is out of range: {reason}")]
    OutOfRange {
        /// The key, with its path.
        key: String,
        /// The range.
        reason: String,
    },
}

impl SloPolicyError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            SloPolicyError::UnknownKey { .. } => UNKNOWN_KEY,
            SloPolicyError::WrongType { .. } => WRONG_TYPE,
            SloPolicyError::OutOfRange { .. } => OUT_OF_RANGE,
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            SloPolicyError::UnknownKey { .. } => {
                "fix the key's spelling; `[slo]` takes availability, latency_ms, \
                 latency_target, budget_window and `[slo.plugins.NAME]` sections"
                    .into()
            }
            SloPolicyError::WrongType { .. } | SloPolicyError::OutOfRange { .. } => {
                "write targets as fractions below 1 (`availability = 0.999`), `latency_ms` \
                 as whole milliseconds (1 to 3600000), `budget_window` as a duration from \
                 1h to 30d (`\"30d\"`)"
                    .into()
            }
        }
    }
}

/// What one plugin is held to.
///
/// - availability: the fraction of calls that must succeed (default 0.999);
/// - latency: the fraction of calls (`latency_target`, default 0.99) that must finish within
///   `latency` (default 100 ms).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Objectives {
    /// The fraction of calls that must succeed, in (0, 1).
    pub availability: f64,
    /// The latency threshold.
    pub latency: Duration,
    /// The fraction of calls that must finish within [`latency`](Objectives::latency), in
    /// (0, 1).
    pub latency_target: f64,
}

impl Default for Objectives {
    fn default() -> Self {
        Objectives {
            availability: 0.999,
            latency: Duration::from_millis(100),
            latency_target: 0.99,
        }
    }
}

impl Objectives {
    /// Objectives checked for range: targets strictly between 0 and 1, a threshold from 1 ms
    /// to an hour.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard_host::slo::Objectives;
    ///
    /// let o = Objectives::new(0.99, Duration::from_millis(250), 0.95).unwrap();
    /// assert_eq!(o.latency, Duration::from_millis(250));
    /// assert_eq!(Objectives::new(1.0, o.latency, 0.95).unwrap_err().code().to_string(), "SB1812");
    /// ```
    pub fn new(
        availability: f64,
        latency: Duration,
        latency_target: f64,
    ) -> Result<Objectives, SloPolicyError> {
        let o = Objectives {
            availability: target("availability", availability)?,
            latency,
            latency_target: target("latency_target", latency_target)?,
        };
        threshold_ms("latency_ms", latency.as_millis())?;
        Ok(o)
    }
}

fn target(key: &str, v: f64) -> Result<f64, SloPolicyError> {
    if v.is_finite() && v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(SloPolicyError::OutOfRange {
            key: key.to_owned(),
            reason: format!("{v} is not a fraction strictly between 0 and 1 (0.999 is 99.9%)"),
        })
    }
}

fn threshold_ms(key: &str, ms: u128) -> Result<Duration, SloPolicyError> {
    if (1..=3_600_000).contains(&ms) {
        Ok(Duration::from_millis(ms as u64))
    } else {
        Err(SloPolicyError::OutOfRange {
            key: key.to_owned(),
            reason: format!("{ms} ms is not between 1 ms and an hour"),
        })
    }
}

/// The longest error-budget window (what hour rows keep by default).
const MAX_WINDOW: Duration = Duration::from_secs(30 * 86_400);

/// Every plugin's objectives: defaults, per-plugin overrides, and the rolling window error
/// budgets are counted over (default 30 days). Part of [`Policy`](crate::Policy)
/// ([`Policy::slo`](crate::Policy::slo), `[slo]` in `policy.toml`).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use switchboard_host::slo::{Objectives, SloPolicy};
///
/// let mut slo = SloPolicy::new();
/// slo.plugin("hello", Objectives::new(0.99, Duration::from_millis(250), 0.95).unwrap());
/// assert_eq!(slo.objectives("hello").availability, 0.99);
/// assert_eq!(slo.objectives("other").availability, 0.999);
/// ```
#[derive(Debug, Clone)]
pub struct SloPolicy {
    defaults: Objectives,
    plugins: BTreeMap<String, Objectives>,
    budget_window: Duration,
}

impl Default for SloPolicy {
    fn default() -> Self {
        SloPolicy {
            defaults: Objectives::default(),
            plugins: BTreeMap::new(),
            budget_window: MAX_WINDOW,
        }
    }
}

const SECTION_KEYS: &[&str] = &[
    "availability",
    "latency_ms",
    "latency_target",
    "budget_window",
    "plugins",
];
const PLUGIN_KEYS: &[&str] = &["availability", "latency_ms", "latency_target"];

impl SloPolicy {
    /// The defaults for every plugin, no overrides, a 30-day budget window.
    pub fn new() -> SloPolicy {
        SloPolicy::default()
    }

    /// The objectives of plugins without an override.
    pub fn defaults(&mut self, objectives: Objectives) -> &mut Self {
        self.defaults = objectives;
        self
    }

    /// The objectives of plugin `name`.
    pub fn plugin(&mut self, name: &str, objectives: Objectives) -> &mut Self {
        self.plugins.insert(plugin_key(name), objectives);
        self
    }

    /// The rolling window error budgets are counted over, from an hour to 30 days.
    pub fn budget_window(&mut self, window: Duration) -> Result<&mut Self, SloPolicyError> {
        if window < Duration::from_secs(3600) || window > MAX_WINDOW {
            return Err(SloPolicyError::OutOfRange {
                key: "budget_window".into(),
                reason: format!("{}s is not between 1h and 30d", window.as_secs()),
            });
        }
        self.budget_window = window;
        Ok(self)
    }

    /// The objectives plugin `name` is held to.
    pub fn objectives(&self, name: &str) -> Objectives {
        self.plugins
            .get(&plugin_key(name))
            .copied()
            .unwrap_or(self.defaults)
    }

    /// The error-budget window.
    pub fn window(&self) -> Duration {
        self.budget_window
    }

    /// Reads the `[slo]` section of `policy.toml` (given as its TOML value):
    ///
    /// ```toml
    /// [slo]
    /// availability = 0.999        # fraction of calls that succeed
    /// latency_ms = 100            # threshold
    /// latency_target = 0.99       # fraction of calls within the threshold
    /// budget_window = "30d"       # error budgets are counted over this rolling window
    /// [slo.plugins.hello]         # overrides; keys left out take the section's values
    /// availability = 0.99
    /// latency_ms = 250
    /// ```
    pub(crate) fn from_value(v: &toml::Value) -> Result<SloPolicy, SloPolicyError> {
        let t = table(v, "slo")?;
        unknown_keys(t, "slo", SECTION_KEYS)?;
        let mut p = SloPolicy::new();
        p.defaults = objectives(t, "slo", Objectives::default())?;
        if let Some(w) = t.get("budget_window") {
            let key = "slo.budget_window";
            let text = w.as_str().ok_or(SloPolicyError::WrongType {
                key: key.into(),
                expected: "a duration in quotes, like \"30d\"",
            })?;
            let d =
                crate::metrics::parse_duration(text).map_err(|e| SloPolicyError::OutOfRange {
                    key: key.into(),
                    reason: e.to_string(),
                })?;
            p.budget_window(d).map_err(|e| match e {
                SloPolicyError::OutOfRange { reason, .. } => SloPolicyError::OutOfRange {
                    key: key.into(),
                    reason,
                },
                other => other,
            })?;
        }
        if let Some(plugins) = t.get("plugins") {
            for (name, section) in table(plugins, "slo.plugins")? {
                let path = format!("slo.plugins.{name}");
                let section = table(section, &path)?;
                unknown_keys(section, &path, PLUGIN_KEYS)?;
                let o = objectives(section, &path, p.defaults)?;
                p.plugin(name, o);
            }
        }
        Ok(p)
    }
}

fn table<'a>(v: &'a toml::Value, key: &str) -> Result<&'a toml::Table, SloPolicyError> {
    v.as_table().ok_or_else(|| SloPolicyError::WrongType {
        key: key.to_owned(),
        expected: "a table",
    })
}

fn unknown_keys(t: &toml::Table, path: &str, known: &[&str]) -> Result<(), SloPolicyError> {
    match t.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(SloPolicyError::UnknownKey {
            key: format!("{path}.{k}"),
            known: known.join(", "),
        }),
        None => Ok(()),
    }
}

/// The objectives in `t`, each key left out taken from `base`.
fn objectives(t: &toml::Table, path: &str, base: Objectives) -> Result<Objectives, SloPolicyError> {
    let fraction = |key: &str, default: f64| -> Result<f64, SloPolicyError> {
        let full = format!("{path}.{key}");
        match t.get(key) {
            None => Ok(default),
            Some(toml::Value::Float(f)) => target(&full, *f),
            Some(toml::Value::Integer(i)) => target(&full, *i as f64),
            Some(_) => Err(SloPolicyError::WrongType {
                key: full,
                expected: "a number (a fraction such as 0.999)",
            }),
        }
    };
    let availability = fraction("availability", base.availability)?;
    let latency_target = fraction("latency_target", base.latency_target)?;
    let latency = match t.get("latency_ms") {
        None => base.latency,
        Some(toml::Value::Integer(ms)) => threshold_ms(
            &format!("{path}.latency_ms"),
            u128::try_from(*ms).unwrap_or(0),
        )?,
        Some(_) => {
            return Err(SloPolicyError::WrongType {
                key: format!("{path}.latency_ms"),
                expected: "a whole number of milliseconds",
            })
        }
    };
    Ok(Objectives {
        availability,
        latency,
        latency_target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<SloPolicy, SloPolicyError> {
        let v: toml::Value = toml::from_str(src).unwrap();
        SloPolicy::from_value(&v["slo"])
    }

    #[test]
    fn defaults_and_overrides_are_read() {
        let p = parse(
            "[slo]\navailability = 0.995\nbudget_window = \"7d\"\n\
             [slo.plugins.Hello-World]\nlatency_ms = 250\n",
        )
        .unwrap();
        assert_eq!(p.objectives("other").availability, 0.995);
        assert_eq!(p.objectives("other").latency, Duration::from_millis(100));
        let o = p.objectives("hello_world");
        assert_eq!(o.latency, Duration::from_millis(250));
        assert_eq!(o.availability, 0.995, "left out: the section's value");
        assert_eq!(p.window(), Duration::from_secs(7 * 86_400));
    }

    #[test]
    fn each_kind_of_mistake_has_its_code() {
        for (src, code, names) in [
            ("[slo]\navailabilty = 0.99", "SB1810", "slo.availabilty"),
            (
                "[slo.plugins.hello]\nbudget_window = \"1d\"",
                "SB1810",
                "slo.plugins.hello.budget_window",
            ),
            (
                "[slo]\navailability = \"high\"",
                "SB1811",
                "slo.availability",
            ),
            ("[slo]\nlatency_ms = 1.5", "SB1811", "slo.latency_ms"),
            ("[slo]\nbudget_window = 30", "SB1811", "slo.budget_window"),
            ("[slo]\nplugins = 3", "SB1811", "slo.plugins"),
            ("[slo.plugins]\nhello = 3", "SB1811", "slo.plugins.hello"),
            ("[slo]\navailability = 1.0", "SB1812", "slo.availability"),
            ("[slo]\navailability = 0", "SB1812", "slo.availability"),
            (
                "[slo]\nlatency_target = nan",
                "SB1812",
                "slo.latency_target",
            ),
            ("[slo]\nlatency_ms = 0", "SB1812", "slo.latency_ms"),
            ("[slo]\nlatency_ms = -5", "SB1812", "slo.latency_ms"),
            (
                "[slo]\nbudget_window = \"31d\"",
                "SB1812",
                "slo.budget_window",
            ),
            (
                "[slo]\nbudget_window = \"10m\"",
                "SB1812",
                "slo.budget_window",
            ),
            (
                "[slo]\nbudget_window = \"-1d\"",
                "SB1812",
                "slo.budget_window",
            ),
        ] {
            let e = parse(src).unwrap_err();
            assert_eq!(e.code().to_string(), code, "{src}: {e}");
            assert!(e.to_string().contains(names), "{src}: {e}");
        }
    }
}
