//! "Did you mean …": the closest known name to a likely typo. (The macros crate, which the SDK
//! depends on, keeps its own copy: it cannot depend back on the SDK.)

/// The candidate closest to `input`, if it is close enough to be a likely typo.
pub fn closest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        // A distance within the threshold needs lengths within it too; skipping the rest keeps
        // a hostile, very long key from costing its length times every candidate's.
        .filter(|c| input.len() <= 2 * c.len() + 4)
        .map(|c| (edit_distance(input, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn near_misses_only() {
        assert_eq!(
            super::closest("verison", &["version", "name"]),
            Some("version")
        );
        assert_eq!(super::closest("zzzz", &["version", "name"]), None);
    }
}
