//! Plugin names in a registry and where their index files live.

use super::FormatError;

/// The longest plugin name a registry accepts (the manifest's own limit).
pub const MAX_NAME_LEN: usize = 64;

/// Checks that `name` is a registry name: 1–64 characters of `a-z`, `0-9`, `-`, `_`, starting
/// with a letter. Upper case is refused rather than folded, so a name has one spelling and
/// one index path; `/`, `.` and so `..` can never appear.
///
/// ```
/// use switchboard_registry::format::validate_name;
/// assert!(validate_name("hello-world").is_ok());
/// assert!(validate_name("Hello").is_err());
/// assert!(validate_name("../etc").is_err());
/// ```
pub fn validate_name(name: &str) -> Result<(), FormatError> {
    let bad = |reason: &str| {
        Err(FormatError::BadName {
            name: name.chars().take(80).collect(),
            reason: reason.to_owned(),
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("it is longer than 64 characters");
    }
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return bad("it has upper-case letters (registry names are lower case)");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
    {
        return bad(&format!(
            "it contains {c:?}; only a-z, 0-9, `-` and `_` are allowed"
        ));
    }
    if !name.as_bytes()[0].is_ascii_lowercase() {
        return bad("it does not start with a letter");
    }
    Ok(())
}

/// The form two names share when one could pass for the other: lower case, `_` as `-`.
/// A registry refuses a new name whose canonical form equals an existing name's (cargo's rule).
///
/// ```
/// use switchboard_registry::format::canonical_name;
/// assert_eq!(canonical_name("My_Plugin"), canonical_name("my-plugin"));
/// ```
pub fn canonical_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '_' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// The path of `name`'s index file inside the registry, cargo's layout: `index/1/a`,
/// `index/2/ab`, `index/3/a/abc`, `index/ab/cd/abcd`. The name must be valid.
///
/// ```
/// use switchboard_registry::format::index_path;
/// assert_eq!(index_path("a").unwrap(), "index/1/a");
/// assert_eq!(index_path("abc").unwrap(), "index/3/a/abc");
/// assert_eq!(index_path("hello").unwrap(), "index/he/ll/hello");
/// ```
pub fn index_path(name: &str) -> Result<String, FormatError> {
    validate_name(name)?;
    Ok(match name.len() {
        1 => format!("index/1/{name}"),
        2 => format!("index/2/{name}"),
        3 => format!("index/3/{}/{name}", &name[..1]),
        _ => format!("index/{}/{}/{name}", &name[..2], &name[2..4]),
    })
}

/// The plugin name an index path belongs to, if `path` is exactly where that name's index
/// file lives (the snapshot lists paths; this is how a client lists names).
///
/// ```
/// use switchboard_registry::format::name_of_index_path;
/// assert_eq!(name_of_index_path("index/he/ll/hello"), Some("hello"));
/// assert_eq!(name_of_index_path("index/he/ll/../hello"), None);
/// assert_eq!(name_of_index_path("config.json"), None);
/// ```
pub fn name_of_index_path(path: &str) -> Option<&str> {
    let name = path.strip_prefix("index/")?.rsplit('/').next()?;
    match index_path(name) {
        Ok(expected) if expected == path => Some(name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hostile_names_are_refused() {
        for name in [
            "", "..", "../x", "a/b", "/abs", "A", "heLLo", "a.b", "-x", "_x", "1x", "a b", "é",
            "a\0", "a\\b",
        ] {
            assert!(validate_name(name).is_err(), "{name:?} accepted");
        }
        assert!(validate_name(&"a".repeat(65)).is_err());
        assert!(validate_name(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn confusable_names_share_a_canonical_form() {
        assert_eq!(canonical_name("foo_bar"), canonical_name("foo-bar"));
        assert_eq!(canonical_name("FOO-bar"), canonical_name("foo_BAR"));
        assert_ne!(canonical_name("foo"), canonical_name("fo-o"));
    }

    proptest! {
        #[test]
        fn valid_names_round_trip_through_their_path(name in "[a-z][a-z0-9_-]{0,63}") {
            let path = index_path(&name).unwrap();
            prop_assert_eq!(name_of_index_path(&path), Some(name.as_str()));
            prop_assert!(!path.contains(".."));
        }

        #[test]
        fn any_string_is_validated_without_panic(name in ".{0,100}") {
            if validate_name(&name).is_ok() {
                prop_assert!(!name.contains('/') && !name.contains('.'));
                prop_assert_eq!(name.to_ascii_lowercase(), name.clone());
            }
            let _ = name_of_index_path(&name);
        }
    }
}
