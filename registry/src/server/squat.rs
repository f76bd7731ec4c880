//! Typosquatting holds: a new name that could pass for an existing one is held for review
//! instead of listed.
//!
//! The rule, on each name's *skeleton* (lower case; `-` and `_` dropped; `1`, `i` and `l` read
//! as `l`; `0` as `o`; `rn` as `m`; `vv` as `w`):
//!
//! - the skeletons are equal (`he11o` for `hello`, `hel-lo` for `hello`), against every listed
//!   name; or
//! - the new name is at least 5 characters and its skeleton is within edit distance 1 (names
//!   of 5–7 characters) or 2 (8 or more) of the skeleton of a *popular* listed name — one with
//!   at least [`ServerOptions::popular_downloads`](super::ServerOptions) downloads.
//!
//! Names the uploading account already owns never hold it. Shorter names compare by skeleton
//! only: at 4 characters and below one edit turns most names into other real words.

/// The form two names share when one could pass for the other.
///
/// ```
/// use switchboard_registry::server::squat::skeleton;
/// assert_eq!(skeleton("He11o_World"), skeleton("hello-world"));
/// assert_eq!(skeleton("c0rn"), skeleton("com"));
/// ```
pub fn skeleton(name: &str) -> String {
    let lower: String = name
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .map(|c| match c.to_ascii_lowercase() {
            '1' | 'i' => 'l',
            '0' => 'o',
            other => other,
        })
        .collect();
    lower.replace("rn", "m").replace("vv", "w")
}

/// Levenshtein distance, stopping early past `max` (returns `max + 1` then).
pub fn distance(a: &str, b: &str, max: usize) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > max {
        return max + 1;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        let mut best = cur[0];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            best = best.min(cur[j + 1]);
        }
        if best > max {
            return max + 1;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Why `name` is held, if it is: the existing name it is close to, and the rule.
///
/// `existing` yields each listed name with its downloads; `owned` says whether the uploader's
/// account owns a name (its own names never hold it); `popular` is the download threshold.
/// One pass over `existing`; `owned` is asked only about the names that would hold it (the
/// caller reads the account's names once, see [`owned_set`]).
pub fn hold_reason<'a>(
    name: &str,
    existing: impl Iterator<Item = (&'a str, u64)>,
    owned: &dyn Fn(&str) -> bool,
    popular: u64,
) -> Option<(String, String)> {
    let mine = skeleton(name);
    let len = name.chars().count();
    let max = if len >= 8 { 2 } else { 1 };
    for (other, downloads) in existing {
        if other == name {
            continue;
        }
        let theirs = skeleton(other);
        let reason = if theirs == mine {
            format!("`{name}` reads as `{other}` (confusable characters, `-`/`_`, case)")
        } else if len >= 5 && downloads >= popular {
            let d = distance(&mine, &theirs, max);
            if d > max {
                continue;
            }
            format!("`{name}` is {d} edit(s) from the popular `{other}` ({downloads} downloads)")
        } else {
            continue;
        };
        if owned(other) {
            continue;
        }
        return Some((other.to_owned(), reason));
    }
    None
}

/// The `owned` test of [`hold_reason`] over the canonical names an account owns (as
/// `accounts::owned_by` reads them in one query).
pub fn owned_set(names: &std::collections::HashSet<String>) -> impl Fn(&str) -> bool + '_ {
    move |n| names.contains(&crate::format::canonical_name(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn held(name: &str, existing: &[(&str, u64)]) -> Option<String> {
        hold_reason(name, existing.iter().copied(), &|_| false, 10).map(|(n, _)| n)
    }

    #[test]
    fn confusables_and_near_misses_of_popular_names_are_held() {
        let popular = [("hello", 50), ("wordcount", 50), ("quiet", 0)];
        for squat in [
            "he11o", "heIlo", "hel-lo", "hel_lo", "hell0", "hellp", "jello",
        ] {
            assert_eq!(held(squat, &popular).as_deref(), Some("hello"), "{squat}");
        }
        for squat in ["wordcoumt", "word-count", "wrodcount", "wordcunt"] {
            assert_eq!(
                held(squat, &popular).as_deref(),
                Some("wordcount"),
                "{squat}"
            );
        }
        // An unpopular name holds only its confusables; short names only confusables.
        assert_eq!(held("quite", &popular), None);
        assert_eq!(held("qu1et", &popular).as_deref(), Some("quiet"));
        assert_eq!(held("helo", &popular), None);
        assert_eq!(held("help", &[("held", 99)]), None);
        assert_eq!(held("greeter", &popular), None);
        assert_eq!(held("hello", &popular), None);
        // The uploader's own names never hold it.
        assert_eq!(
            hold_reason("hello2", popular.iter().copied(), &|n| n == "hello", 10),
            None
        );
    }

    #[test]
    fn ownership_is_asked_only_about_names_that_would_hold() {
        let asked = std::cell::RefCell::new(Vec::new());
        let existing = [
            ("hello", 500),
            ("wordcount", 500),
            ("he11o", 0),
            ("quiet", 0),
        ];
        let owned = |n: &str| {
            asked.borrow_mut().push(n.to_owned());
            n == "hello"
        };
        let held = hold_reason("hel-lo", existing.iter().copied(), &owned, 10);
        // `hello` is the uploader's own; `he11o` (not owned) reads the same and holds it.
        assert_eq!(held.map(|(n, _)| n).as_deref(), Some("he11o"));
        assert_eq!(*asked.borrow(), ["hello", "he11o"]);
        let names: std::collections::HashSet<String> = ["hello".to_owned()].into();
        assert!(owned_set(&names)("Hello"));
        assert!(!owned_set(&names)("wordcount"));
    }

    proptest! {
        #[test]
        fn distance_is_symmetric_and_bounded(a in "[a-z0-9_-]{0,12}", b in "[a-z0-9_-]{0,12}") {
            let d = distance(&a, &b, 20);
            prop_assert_eq!(d, distance(&b, &a, 20));
            prop_assert!(d <= a.len().max(b.len()));
            prop_assert_eq!(distance(&a, &a, 2), 0);
        }
    }
}
