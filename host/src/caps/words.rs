//! Capability requests in plain words, for the people who decide whether to grant them: the
//! CLI's review before an install and the registry's web page say the same thing.

use super::Capability;

/// One capability request in words, e.g. `fs.read:/data/**` is "read files matching
/// /data/**".
///
/// A bare `events.publish` is read as the host reads it: `plugin`'s own topics. A request
/// that does not parse (hosts refuse those at verification) is shown as written.
///
/// # Example
///
/// ```
/// use switchboard_host::caps::in_words;
///
/// assert_eq!(in_words("hello", "fs.read:/data/**"), "read files matching /data/**");
/// assert_eq!(in_words("hello", "net.connect"), "connect to any host on the network");
/// ```
pub fn in_words(plugin: &str, request: &str) -> String {
    let Ok(cap) = request.parse::<Capability>() else {
        return format!("`{request}` (not a capability this version knows)");
    };
    let pattern = |p: &dyn std::fmt::Display, any: bool, all: &str, some: &str| {
        if any {
            all.to_owned()
        } else {
            format!("{some} {p}")
        }
    };
    match &cap {
        Capability::FsRead(p) => pattern(p, p.is_any(), "read any file", "read files matching"),
        Capability::FsWrite(p) => pattern(
            p,
            p.is_any(),
            "create and overwrite any file",
            "create and write files matching",
        ),
        Capability::NetConnect(p) => pattern(
            p,
            p.is_any(),
            "connect to any host on the network",
            "connect over the network to",
        ),
        Capability::Kv => "keep data in its own key-value store".to_owned(),
        Capability::Secrets => "keep secrets (stored encrypted, its own only)".to_owned(),
        Capability::EventsPublish(p) if p.is_any() => {
            format!("publish events on its own topics (plugin.{plugin}.**)")
        }
        Capability::EventsPublish(p) => format!("publish events on topics {p}"),
        Capability::EventsSubscribe(p) => pattern(
            p,
            p.is_any(),
            "receive events on any topic",
            "receive events on topics",
        ),
        Capability::ServiceCall(p) => {
            pattern(p, p.is_any(), "call any service", "call the services")
        }
        Capability::ServiceProvide(p) => {
            pattern(p, p.is_any(), "provide any service", "provide the services")
        }
        Capability::Env(p) => pattern(
            p,
            p.is_any(),
            "read every environment variable the host passes on",
            "read the environment variables",
        ),
        Capability::ProcessSpawn => "start other programs".to_owned(),
        Capability::ConfigRead => "read its configuration".to_owned(),
        Capability::Extend(p) => pattern(
            p,
            p.is_any(),
            "contribute to every extension point of the host",
            "contribute to the host's extension points",
        ),
        other => format!("`{other}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_reads_as_words_with_its_scope() {
        assert_eq!(
            in_words("hello", "kv"),
            "keep data in its own key-value store"
        );
        assert_eq!(
            in_words("hello", "net.connect:api.example.com:443"),
            "connect over the network to api.example.com:443"
        );
        assert_eq!(in_words("hello", "fs.read"), "read any file");
        assert_eq!(
            in_words("hello", "fs.read:/data/**"),
            "read files matching /data/**"
        );
        assert_eq!(
            in_words("hello", "env:HELLO_*"),
            "read the environment variables HELLO_*"
        );
        assert!(in_words("hello", "no.such").contains("not a capability"));
        assert_eq!(
            in_words("hello", "events.publish"),
            "publish events on its own topics (plugin.hello.**)"
        );
        assert_eq!(
            in_words("hello", "extend:workflow.phase.*"),
            "contribute to the host's extension points workflow.phase.*"
        );
    }
}
