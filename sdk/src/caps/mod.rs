//! The capability vocabulary (SPEC S4.1): what a plugin may ask of its host.
//!
//! A plugin *requests* capabilities in `#[plugin(capabilities = [...])]`; the host's policy and
//! approver *grant* some of them; every host service checks the grant before it acts. Each
//! capability has a text form, `name` or `name:pattern`, that parses into a [`Capability`]
//! and displays back to the same value:
//!
//! | capability | pattern | example |
//! |---|---|---|
//! | `fs.read`, `fs.write` | absolute path, `*` one segment, `**` any | `fs.read:/srv/data/**` |
//! | `net.connect` | `HOST[:PORT]`, `*.domain`, `[ipv6]`, port ranges | `net.connect:*.example.com:443` |
//! | `kv`, `secrets` | none | `kv` |
//! | `events.publish`, `events.subscribe` | dotted topic, `*`, `**` | `events.publish:plugin.hello.*` |
//! | `service.call`, `service.provide` | service name, trailing `*` | `service.call:billing` |
//! | `env` | variable name, trailing `*` | `env:APP_*` |
//! | `process.spawn`, `config.read` | none | `config.read` |
//! | `extend` | dotted extension point, `*`, `**` | `extend:workflow.phase.*` |
//!
//! A name alone means the widest pattern (`fs.read` is `fs.read:/**`); hosts usually grant
//! less than that. An [`Access`] is one concrete use — reading one file, publishing on one
//! topic — and [`Capability::allows`] decides whether a capability covers it.
//!
//! Capabilities bind well-behaved plugins: in-process, native code can call the operating
//! system directly, so untrusted plugins belong in isolated mode (see the host's `caps` docs).
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//! use switchboard_sdk::caps::{Access, Capability};
//!
//! let cap: Capability = "fs.read:/srv/data/**".parse().unwrap();
//! assert_eq!(cap.to_string(), "fs.read:/srv/data/**");
//! assert!(cap.allows(&Access::ReadFile(Path::new("/srv/data/report.csv"))));
//! assert!(!cap.allows(&Access::ReadFile(Path::new("/etc/passwd"))));
//! assert!(!cap.allows(&Access::WriteFile(Path::new("/srv/data/report.csv"))));
//! ```

mod error;
mod glob;
mod pattern;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

pub use self::error::CapabilityError;
pub use self::pattern::{HostPattern, NamePattern, NetPattern, PathPattern, TopicPattern};

/// The kinds of capability, without their patterns.
///
/// # Example
///
/// ```
/// use switchboard_sdk::caps::CapabilityKind;
///
/// let k: CapabilityKind = "events.publish".parse().unwrap();
/// assert_eq!(k, CapabilityKind::EventsPublish);
/// assert!(k.takes_pattern());
/// assert!(!CapabilityKind::Kv.takes_pattern());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[repr(u8)]
pub enum CapabilityKind {
    /// `fs.read`: read files.
    FsRead = 0,
    /// `fs.write`: create and write files.
    FsWrite = 1,
    /// `net.connect`: open network connections.
    NetConnect = 2,
    /// `kv`: the plugin's own key-value namespace.
    Kv = 3,
    /// `secrets`: the plugin's secrets.
    Secrets = 4,
    /// `events.publish`: publish events.
    EventsPublish = 5,
    /// `events.subscribe`: subscribe to events.
    EventsSubscribe = 6,
    /// `service.call`: call services other plugins or the host provide.
    ServiceCall = 7,
    /// `service.provide`: provide a service.
    ServiceProvide = 8,
    /// `env`: read environment variables the host passes on.
    Env = 9,
    /// `process.spawn`: start processes.
    ProcessSpawn = 10,
    /// `config.read`: read the plugin's configuration.
    ConfigRead = 11,
    /// `extend`: contribute to matching extension points of the host.
    Extend = 12,
}

impl CapabilityKind {
    /// Every kind, in wire-number order.
    pub const ALL: [CapabilityKind; 13] = [
        CapabilityKind::FsRead,
        CapabilityKind::FsWrite,
        CapabilityKind::NetConnect,
        CapabilityKind::Kv,
        CapabilityKind::Secrets,
        CapabilityKind::EventsPublish,
        CapabilityKind::EventsSubscribe,
        CapabilityKind::ServiceCall,
        CapabilityKind::ServiceProvide,
        CapabilityKind::Env,
        CapabilityKind::ProcessSpawn,
        CapabilityKind::ConfigRead,
        CapabilityKind::Extend,
    ];

    /// The capability's name, as written in manifests.
    pub const fn as_str(self) -> &'static str {
        match self {
            CapabilityKind::FsRead => "fs.read",
            CapabilityKind::FsWrite => "fs.write",
            CapabilityKind::NetConnect => "net.connect",
            CapabilityKind::Kv => "kv",
            CapabilityKind::Secrets => "secrets",
            CapabilityKind::EventsPublish => "events.publish",
            CapabilityKind::EventsSubscribe => "events.subscribe",
            CapabilityKind::ServiceCall => "service.call",
            CapabilityKind::ServiceProvide => "service.provide",
            CapabilityKind::Env => "env",
            CapabilityKind::ProcessSpawn => "process.spawn",
            CapabilityKind::ConfigRead => "config.read",
            CapabilityKind::Extend => "extend",
        }
    }

    /// The kind's wire number (`0..12`), stable across releases.
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// Whether the capability is scoped by a pattern.
    pub const fn takes_pattern(self) -> bool {
        !matches!(
            self,
            CapabilityKind::Kv
                | CapabilityKind::Secrets
                | CapabilityKind::ProcessSpawn
                | CapabilityKind::ConfigRead
        )
    }
}

impl fmt::Display for CapabilityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CapabilityKind {
    type Err = CapabilityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CapabilityKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| CapabilityError::UnknownName {
                name: s.to_owned(),
                suggestion: suggest(s),
            })
    }
}

fn suggest(name: &str) -> Option<&'static str> {
    let names: Vec<&'static str> = CapabilityKind::ALL.iter().map(|k| k.as_str()).collect();
    crate::suggest::closest(name, &names)
}

/// A capability with its pattern: what a plugin requests and a host grants.
///
/// Parses from and displays as `name` or `name:pattern`; the two round-trip.
///
/// # Example
///
/// ```
/// use switchboard_sdk::caps::{Capability, CapabilityKind};
///
/// let wide: Capability = "events.publish:plugin.hello.**".parse().unwrap();
/// let narrow: Capability = "events.publish:plugin.hello.greeted".parse().unwrap();
/// assert!(wide.covers(&narrow));
/// assert!(!narrow.covers(&wide));
/// assert_eq!(wide.kind(), CapabilityKind::EventsPublish);
/// assert_eq!("kv".parse::<Capability>().unwrap(), Capability::Kv);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Capability {
    /// Read files whose canonical path matches.
    FsRead(PathPattern),
    /// Create and write files whose canonical path matches.
    FsWrite(PathPattern),
    /// Connect to matching hosts and ports.
    NetConnect(NetPattern),
    /// Use the plugin's key-value namespace.
    Kv,
    /// Use the plugin's secrets.
    Secrets,
    /// Publish on matching topics.
    EventsPublish(TopicPattern),
    /// Subscribe with patterns the granted one covers.
    EventsSubscribe(TopicPattern),
    /// Call matching services.
    ServiceCall(NamePattern),
    /// Provide matching services.
    ServiceProvide(NamePattern),
    /// Read matching environment variables (those the host passes on).
    Env(NamePattern),
    /// Start processes.
    ProcessSpawn,
    /// Read the plugin's configuration.
    ConfigRead,
    /// Contribute to matching extension points of the host (`#[hook]` methods).
    Extend(TopicPattern),
}

impl Capability {
    /// The kind, without the pattern.
    pub fn kind(&self) -> CapabilityKind {
        match self {
            Capability::FsRead(_) => CapabilityKind::FsRead,
            Capability::FsWrite(_) => CapabilityKind::FsWrite,
            Capability::NetConnect(_) => CapabilityKind::NetConnect,
            Capability::Kv => CapabilityKind::Kv,
            Capability::Secrets => CapabilityKind::Secrets,
            Capability::EventsPublish(_) => CapabilityKind::EventsPublish,
            Capability::EventsSubscribe(_) => CapabilityKind::EventsSubscribe,
            Capability::ServiceCall(_) => CapabilityKind::ServiceCall,
            Capability::ServiceProvide(_) => CapabilityKind::ServiceProvide,
            Capability::Env(_) => CapabilityKind::Env,
            Capability::ProcessSpawn => CapabilityKind::ProcessSpawn,
            Capability::ConfigRead => CapabilityKind::ConfigRead,
            Capability::Extend(_) => CapabilityKind::Extend,
        }
    }

    /// The widest capability of a kind (`fs.read` is `fs.read:/**`).
    pub fn widest(kind: CapabilityKind) -> Capability {
        match kind {
            CapabilityKind::FsRead => Capability::FsRead(PathPattern::any()),
            CapabilityKind::FsWrite => Capability::FsWrite(PathPattern::any()),
            CapabilityKind::NetConnect => Capability::NetConnect(NetPattern::any()),
            CapabilityKind::Kv => Capability::Kv,
            CapabilityKind::Secrets => Capability::Secrets,
            CapabilityKind::EventsPublish => Capability::EventsPublish(TopicPattern::any()),
            CapabilityKind::EventsSubscribe => Capability::EventsSubscribe(TopicPattern::any()),
            CapabilityKind::ServiceCall => Capability::ServiceCall(NamePattern::any()),
            CapabilityKind::ServiceProvide => Capability::ServiceProvide(NamePattern::any()),
            CapabilityKind::Env => Capability::Env(NamePattern::any()),
            CapabilityKind::ProcessSpawn => Capability::ProcessSpawn,
            CapabilityKind::ConfigRead => Capability::ConfigRead,
            CapabilityKind::Extend => Capability::Extend(TopicPattern::any()),
        }
    }

    /// Whether this is the widest capability of its kind (every kind without a pattern is).
    pub fn is_widest(&self) -> bool {
        match self {
            Capability::FsRead(p) | Capability::FsWrite(p) => p.is_any(),
            Capability::NetConnect(p) => p.is_any(),
            Capability::EventsPublish(p)
            | Capability::EventsSubscribe(p)
            | Capability::Extend(p) => p.is_any(),
            Capability::ServiceCall(p) | Capability::ServiceProvide(p) | Capability::Env(p) => {
                p.is_any()
            }
            Capability::Kv
            | Capability::Secrets
            | Capability::ProcessSpawn
            | Capability::ConfigRead => true,
        }
    }

    /// Whether this capability permits `access`.
    pub fn allows(&self, access: &Access<'_>) -> bool {
        match (self, access) {
            (Capability::FsRead(p), Access::ReadFile(path))
            | (Capability::FsWrite(p), Access::WriteFile(path)) => p.matches(path),
            (Capability::NetConnect(p), Access::Connect { host, port }) => p.matches(host, *port),
            (Capability::Kv, Access::Kv)
            | (Capability::Secrets, Access::Secrets)
            | (Capability::ProcessSpawn, Access::Spawn)
            | (Capability::ConfigRead, Access::ReadConfig) => true,
            (Capability::EventsPublish(p), Access::Publish(topic))
            | (Capability::Extend(p), Access::Extend(topic)) => p.matches(topic),
            (Capability::EventsSubscribe(p), Access::Subscribe(pattern)) => {
                TopicPattern::parse_for("events.subscribe", pattern).is_ok_and(|q| p.covers(&q))
            }
            (Capability::ServiceCall(p), Access::CallService(name))
            | (Capability::ServiceProvide(p), Access::ProvideService(name))
            | (Capability::Env(p), Access::Env(name)) => p.matches(name),
            _ => false,
        }
    }

    /// Whether everything `other` permits, `self` permits too. Different kinds never cover
    /// each other.
    pub fn covers(&self, other: &Capability) -> bool {
        match (self, other) {
            (Capability::FsRead(a), Capability::FsRead(b))
            | (Capability::FsWrite(a), Capability::FsWrite(b)) => a.covers(b),
            (Capability::NetConnect(a), Capability::NetConnect(b)) => a.covers(b),
            (Capability::EventsPublish(a), Capability::EventsPublish(b))
            | (Capability::EventsSubscribe(a), Capability::EventsSubscribe(b))
            | (Capability::Extend(a), Capability::Extend(b)) => a.covers(b),
            (Capability::ServiceCall(a), Capability::ServiceCall(b))
            | (Capability::ServiceProvide(a), Capability::ServiceProvide(b))
            | (Capability::Env(a), Capability::Env(b)) => a.covers(b),
            (a, b) => a.kind() == b.kind() && !a.kind().takes_pattern(),
        }
    }

    /// Whether some access is permitted by both.
    pub fn overlaps(&self, other: &Capability) -> bool {
        match (self, other) {
            (Capability::FsRead(a), Capability::FsRead(b))
            | (Capability::FsWrite(a), Capability::FsWrite(b)) => a.overlaps(b),
            (Capability::NetConnect(a), Capability::NetConnect(b)) => a.overlaps(b),
            (Capability::EventsPublish(a), Capability::EventsPublish(b))
            | (Capability::EventsSubscribe(a), Capability::EventsSubscribe(b))
            | (Capability::Extend(a), Capability::Extend(b)) => a.overlaps(b),
            (Capability::ServiceCall(a), Capability::ServiceCall(b))
            | (Capability::ServiceProvide(a), Capability::ServiceProvide(b))
            | (Capability::Env(a), Capability::Env(b)) => a.overlaps(b),
            (a, b) => a.kind() == b.kind() && !a.kind().takes_pattern(),
        }
    }
}

impl FromStr for Capability {
    type Err = CapabilityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, pattern) = match s.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (s, None),
        };
        let kind: CapabilityKind = name.parse()?;
        let Some(pattern) = pattern else {
            return Ok(Capability::widest(kind));
        };
        let cap = kind.as_str();
        Ok(match kind {
            CapabilityKind::FsRead => Capability::FsRead(PathPattern::parse_for(cap, pattern)?),
            CapabilityKind::FsWrite => Capability::FsWrite(PathPattern::parse_for(cap, pattern)?),
            CapabilityKind::NetConnect => Capability::NetConnect(NetPattern::parse(pattern)?),
            CapabilityKind::EventsPublish => {
                Capability::EventsPublish(TopicPattern::parse_for(cap, pattern)?)
            }
            CapabilityKind::EventsSubscribe => {
                Capability::EventsSubscribe(TopicPattern::parse_for(cap, pattern)?)
            }
            CapabilityKind::ServiceCall => {
                Capability::ServiceCall(NamePattern::parse_for(cap, pattern)?)
            }
            CapabilityKind::ServiceProvide => {
                Capability::ServiceProvide(NamePattern::parse_for(cap, pattern)?)
            }
            CapabilityKind::Env => Capability::Env(NamePattern::parse_for(cap, pattern)?),
            CapabilityKind::Extend => Capability::Extend(TopicPattern::parse_for(cap, pattern)?),
            CapabilityKind::Kv
            | CapabilityKind::Secrets
            | CapabilityKind::ProcessSpawn
            | CapabilityKind::ConfigRead => {
                return Err(CapabilityError::UnexpectedScope {
                    capability: cap,
                    pattern: pattern.to_owned(),
                })
            }
        })
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind().as_str())?;
        if self.is_widest() {
            return Ok(());
        }
        match self {
            Capability::FsRead(p) | Capability::FsWrite(p) => write!(f, ":{p}"),
            Capability::NetConnect(p) => write!(f, ":{p}"),
            Capability::EventsPublish(p)
            | Capability::EventsSubscribe(p)
            | Capability::Extend(p) => write!(f, ":{p}"),
            Capability::ServiceCall(p) | Capability::ServiceProvide(p) | Capability::Env(p) => {
                write!(f, ":{p}")
            }
            _ => Ok(()),
        }
    }
}

impl serde::Serialize for Capability {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Capability {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One concrete use of a capability: the thing a host service is about to do for a plugin.
///
/// # Example
///
/// ```
/// use switchboard_sdk::caps::{Access, CapabilityKind};
///
/// let a = Access::from_parts("net.connect", "api.example.com:443").unwrap();
/// assert_eq!(a.kind(), CapabilityKind::NetConnect);
/// assert_eq!(a.to_string(), "net.connect:api.example.com:443");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access<'a> {
    /// Reading this file (a canonical, absolute path when the host checks it).
    ReadFile(&'a Path),
    /// Creating or writing this file.
    WriteFile(&'a Path),
    /// Connecting to `host:port`.
    Connect {
        /// The host name or address.
        host: &'a str,
        /// The port.
        port: u16,
    },
    /// Using the plugin's key-value namespace.
    Kv,
    /// Using the plugin's secrets.
    Secrets,
    /// Publishing on this topic.
    Publish(&'a str),
    /// Subscribing with this topic pattern.
    Subscribe(&'a str),
    /// Calling this service.
    CallService(&'a str),
    /// Providing this service.
    ProvideService(&'a str),
    /// Reading this environment variable.
    Env(&'a str),
    /// Starting a process.
    Spawn,
    /// Reading the plugin's configuration.
    ReadConfig,
    /// Contributing to this extension point.
    Extend(&'a str),
}

impl<'a> Access<'a> {
    /// The capability kind this access needs.
    pub fn kind(&self) -> CapabilityKind {
        match self {
            Access::ReadFile(_) => CapabilityKind::FsRead,
            Access::WriteFile(_) => CapabilityKind::FsWrite,
            Access::Connect { .. } => CapabilityKind::NetConnect,
            Access::Kv => CapabilityKind::Kv,
            Access::Secrets => CapabilityKind::Secrets,
            Access::Publish(_) => CapabilityKind::EventsPublish,
            Access::Subscribe(_) => CapabilityKind::EventsSubscribe,
            Access::CallService(_) => CapabilityKind::ServiceCall,
            Access::ProvideService(_) => CapabilityKind::ServiceProvide,
            Access::Env(_) => CapabilityKind::Env,
            Access::Spawn => CapabilityKind::ProcessSpawn,
            Access::ReadConfig => CapabilityKind::ConfigRead,
            Access::Extend(_) => CapabilityKind::Extend,
        }
    }

    /// The access for a capability name and a target (a path, topic, name or `host:port`;
    /// empty for kinds without a pattern) — the form accesses cross the plugin boundary in.
    pub fn from_parts(kind: &str, target: &'a str) -> Result<Access<'a>, CapabilityError> {
        let kind: CapabilityKind = kind.parse()?;
        let cap = kind.as_str();
        let need_target = |t: &'a str| {
            if t.is_empty() {
                Err(CapabilityError::BadPattern {
                    capability: cap,
                    pattern: String::new(),
                    reason: "the target is empty".into(),
                })
            } else {
                Ok(t)
            }
        };
        Ok(match kind {
            CapabilityKind::FsRead => Access::ReadFile(Path::new(need_target(target)?)),
            CapabilityKind::FsWrite => Access::WriteFile(Path::new(need_target(target)?)),
            CapabilityKind::NetConnect => {
                let bad = || CapabilityError::BadPattern {
                    capability: cap,
                    pattern: target.to_owned(),
                    reason: "expected `HOST:PORT`".into(),
                };
                let (host, port) = target.rsplit_once(':').ok_or_else(bad)?;
                let port = port.parse().map_err(|_| bad())?;
                Access::Connect {
                    host: need_target(host)?,
                    port,
                }
            }
            CapabilityKind::EventsPublish => Access::Publish(need_target(target)?),
            CapabilityKind::EventsSubscribe => Access::Subscribe(need_target(target)?),
            CapabilityKind::ServiceCall => Access::CallService(need_target(target)?),
            CapabilityKind::ServiceProvide => Access::ProvideService(need_target(target)?),
            CapabilityKind::Env => Access::Env(need_target(target)?),
            CapabilityKind::Extend => Access::Extend(need_target(target)?),
            CapabilityKind::Kv
            | CapabilityKind::Secrets
            | CapabilityKind::ProcessSpawn
            | CapabilityKind::ConfigRead => {
                if !target.is_empty() {
                    return Err(CapabilityError::UnexpectedScope {
                        capability: cap,
                        pattern: target.to_owned(),
                    });
                }
                match kind {
                    CapabilityKind::Kv => Access::Kv,
                    CapabilityKind::Secrets => Access::Secrets,
                    CapabilityKind::ProcessSpawn => Access::Spawn,
                    _ => Access::ReadConfig,
                }
            }
        })
    }

    /// The target as text: a path, topic, name or `host:port`; empty for kinds without one.
    pub fn target(&self) -> String {
        match self {
            Access::ReadFile(p) | Access::WriteFile(p) => p.display().to_string(),
            Access::Connect { host, port } if host.contains(':') => format!("[{host}]:{port}"),
            Access::Connect { host, port } => format!("{host}:{port}"),
            Access::Publish(t)
            | Access::Subscribe(t)
            | Access::CallService(t)
            | Access::ProvideService(t)
            | Access::Env(t)
            | Access::Extend(t) => (*t).to_owned(),
            Access::Kv | Access::Secrets | Access::Spawn | Access::ReadConfig => String::new(),
        }
    }
}

impl fmt::Display for Access<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind().as_str())?;
        let target = self.target();
        if !target.is_empty() {
            write!(f, ":{target}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
