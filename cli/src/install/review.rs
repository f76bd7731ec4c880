//! The capability review before an install or an update: what a plugin asks for, in words, and
//! for an update what it asks for that the installed version did not (the capability diff).

use switchboard_host::caps::Capability;

/// One capability request in words, for a person deciding whether to grant it.
///
/// A bare `events.publish` is read as the host reads it: `plugin`'s own topics. An
/// unparsable request (the host refuses those at verification anyway) is shown as written.
pub fn in_words(plugin: &str, request: &str) -> String {
    let Ok(cap) = request.parse::<Capability>() else {
        return format!("`{request}` (not a capability this CLI knows)");
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
        other => format!("`{other}`"),
    }
}

/// What an update asks for that the installed version did not: each new request not covered
/// by one of the old ones. A request the old version already had needs no second approval.
pub fn added(old: &[String], new: &[String]) -> Vec<String> {
    let old: Vec<Capability> = old.iter().filter_map(|c| c.parse().ok()).collect();
    new.iter()
        .filter(|n| match n.parse::<Capability>() {
            Ok(n) => !old.iter().any(|o| o.covers(&n)),
            // Unparsable: shown, so a person sees it; the host refuses it anyway.
            Err(_) => true,
        })
        .cloned()
        .collect()
}

/// What the installed version asked for and the new one no longer does.
pub fn dropped(old: &[String], new: &[String]) -> Vec<String> {
    added(new, old)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

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
            in_words("hello", "env:HELLO_*"),
            "read the environment variables HELLO_*"
        );
        assert!(in_words("hello", "no.such").contains("not a capability"));
        assert_eq!(
            in_words("hello", "events.publish"),
            "publish events on its own topics (plugin.hello.**)"
        );
    }

    #[test]
    fn the_diff_names_only_what_the_old_grants_do_not_cover() {
        let old = strings(&["kv", "fs.read", "events.subscribe:plugin.**"]);
        let new = strings(&[
            "kv",
            "fs.read:/srv/**",
            "events.subscribe:plugin.hello.*",
            "net.connect:api.example.com:443",
        ]);
        assert_eq!(added(&old, &new), ["net.connect:api.example.com:443"]);
        assert_eq!(
            dropped(&old, &new),
            ["fs.read", "events.subscribe:plugin.**"]
        );
        assert!(added(&new, &new).is_empty());
    }
}
