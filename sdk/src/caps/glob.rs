//! Segment globs: the matching engine shared by path and topic patterns.
//!
//! A pattern is a list of segments, each a literal, `*` (exactly one segment) or `**` (any
//! number of segments, none included). Wildcards stand for whole segments only, which keeps
//! matching linear in practice and makes inclusion ([`covers`]) and intersection
//! ([`overlaps`]) decidable by simple symbolic matching.

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Seg {
    /// A literal segment, compared exactly.
    Lit(String),
    /// `*`: exactly one segment.
    One,
    /// `**`: zero or more segments.
    Any,
}

impl Seg {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Seg::Lit(s) => s,
            Seg::One => "*",
            Seg::Any => "**",
        }
    }
}

/// Puts runs of wildcards in a canonical order (`*` before `**`, at most one `**`), which
/// denote the same set of strings, so that equal languages compare equal more often and
/// [`covers`] is exact on them.
pub(crate) fn normalize(segs: Vec<Seg>) -> Vec<Seg> {
    let mut out = Vec::with_capacity(segs.len());
    let mut ones = 0usize;
    let mut any = false;
    let flush = |out: &mut Vec<Seg>, ones: &mut usize, any: &mut bool| {
        out.extend(std::iter::repeat_n(Seg::One, *ones));
        if *any {
            out.push(Seg::Any);
        }
        *ones = 0;
        *any = false;
    };
    for s in segs {
        match s {
            Seg::One => ones += 1,
            Seg::Any => any = true,
            lit @ Seg::Lit(_) => {
                flush(&mut out, &mut ones, &mut any);
                out.push(lit);
            }
        }
    }
    flush(&mut out, &mut ones, &mut any);
    out
}

/// Whether the pattern matches the concrete segments `s`.
///
/// The classic wildcard algorithm over segments: `**` is the star, `*` the single-symbol
/// wildcard; on a mismatch, backtrack to the last `**` and let it take one more segment.
pub(crate) fn matches<S: AsRef<str>>(p: &[Seg], s: &[S]) -> bool {
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(Seg::Any) => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(Seg::One) => {
                pi += 1;
                si += 1;
            }
            Some(Seg::Lit(l)) if l == s[si].as_ref() => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|x| *x == Seg::Any)
}

/// Whether every concrete string `b` matches is also matched by `a` (`a ⊇ b`).
///
/// Symbolic matching: `a` must match `b` read as a string of symbols, where `a`'s `*` takes
/// one literal or `*` of `b` and `a`'s `**` takes anything. Sound (never claims inclusion that
/// does not hold); exact on normalized patterns.
pub(crate) fn covers(a: &[Seg], b: &[Seg]) -> bool {
    let mut memo = vec![None; (a.len() + 1) * (b.len() + 1)];
    covers_at(a, b, 0, 0, &mut memo)
}

fn covers_at(a: &[Seg], b: &[Seg], i: usize, j: usize, memo: &mut [Option<bool>]) -> bool {
    let key = i * (b.len() + 1) + j;
    if let Some(v) = memo[key] {
        return v;
    }
    let v = match (a.get(i), b.get(j)) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(Seg::Any), _) => {
            covers_at(a, b, i + 1, j, memo) || (j < b.len() && covers_at(a, b, i, j + 1, memo))
        }
        (Some(_), None) => false,
        (Some(Seg::One), Some(Seg::Lit(_) | Seg::One)) => covers_at(a, b, i + 1, j + 1, memo),
        (Some(Seg::Lit(x)), Some(Seg::Lit(y))) if x == y => covers_at(a, b, i + 1, j + 1, memo),
        _ => false,
    };
    memo[key] = Some(v);
    v
}

/// Whether some concrete string matches both `a` and `b`.
pub(crate) fn overlaps(a: &[Seg], b: &[Seg]) -> bool {
    let mut memo = vec![None; (a.len() + 1) * (b.len() + 1)];
    overlaps_at(a, b, 0, 0, &mut memo)
}

fn overlaps_at(a: &[Seg], b: &[Seg], i: usize, j: usize, memo: &mut [Option<bool>]) -> bool {
    let key = i * (b.len() + 1) + j;
    if let Some(v) = memo[key] {
        return v;
    }
    let v = match (a.get(i), b.get(j)) {
        (None, None) => true,
        (Some(Seg::Any), _) => {
            overlaps_at(a, b, i + 1, j, memo) || (j < b.len() && overlaps_at(a, b, i, j + 1, memo))
        }
        (_, Some(Seg::Any)) => {
            overlaps_at(a, b, i, j + 1, memo) || (i < a.len() && overlaps_at(a, b, i + 1, j, memo))
        }
        (None, Some(_)) | (Some(_), None) => false,
        (Some(Seg::Lit(x)), Some(Seg::Lit(y))) => x == y && overlaps_at(a, b, i + 1, j + 1, memo),
        (Some(_), Some(_)) => overlaps_at(a, b, i + 1, j + 1, memo),
    };
    memo[key] = Some(v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Vec<Seg> {
        normalize(
            s.split('/')
                .filter(|x| !x.is_empty())
                .map(|x| match x {
                    "*" => Seg::One,
                    "**" => Seg::Any,
                    l => Seg::Lit(l.to_owned()),
                })
                .collect(),
        )
    }

    fn segs(s: &str) -> Vec<&str> {
        s.split('/').filter(|x| !x.is_empty()).collect()
    }

    /// The oracle: plain recursion, exponential but obviously right.
    fn naive(p: &[Seg], s: &[&str]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((Seg::Any, rest)) => (0..=s.len()).any(|k| naive(rest, &s[k..])),
            Some((Seg::One, rest)) => !s.is_empty() && naive(rest, &s[1..]),
            Some((Seg::Lit(l), rest)) => s.first() == Some(&l.as_str()) && naive(rest, &s[1..]),
        }
    }

    #[test]
    fn matching_examples() {
        assert!(matches(&p("a/**"), &segs("a")));
        assert!(matches(&p("a/**"), &segs("a/b/c")));
        assert!(!matches(&p("a/*"), &segs("a/b/c")));
        assert!(matches(&p("**/c"), &segs("a/b/c")));
        assert!(!matches(&p("a/b"), &segs("a/c")));
        assert!(matches(&p("a/**/c/**/e"), &segs("a/x/c/y/c/e")));
    }

    #[test]
    fn normalization_orders_wildcard_runs() {
        assert_eq!(p("**/*"), p("*/**"));
        assert_eq!(p("**/**"), p("**"));
        assert!(covers(&p("**/*"), &p("*/**")));
    }

    #[test]
    fn covers_and_overlaps_examples() {
        assert!(covers(&p("a/**"), &p("a/b/*")));
        assert!(!covers(&p("a/*"), &p("a/**")));
        assert!(!covers(&p("a/b/*"), &p("a/**")));
        assert!(overlaps(&p("a/*/c"), &p("a/b/*")));
        assert!(!overlaps(&p("a/b"), &p("a/c/**")));
    }

    fn seg() -> impl Strategy<Value = Seg> {
        prop_oneof![
            Just(Seg::Lit("a".into())),
            Just(Seg::Lit("b".into())),
            Just(Seg::One),
            Just(Seg::Any),
        ]
    }

    fn word() -> impl Strategy<Value = Vec<&'static str>> {
        proptest::collection::vec(prop_oneof![Just("a"), Just("b"), Just("c")], 0..6)
    }

    proptest! {
        #[test]
        fn matches_agrees_with_the_naive_oracle(
            pat in proptest::collection::vec(seg(), 0..6), s in word()
        ) {
            let pat = normalize(pat);
            prop_assert_eq!(matches(&pat, &s), naive(&pat, &s));
        }

        #[test]
        fn covers_is_sound(
            a in proptest::collection::vec(seg(), 0..5),
            b in proptest::collection::vec(seg(), 0..5),
            s in word(),
        ) {
            let (a, b) = (normalize(a), normalize(b));
            if covers(&a, &b) && naive(&b, &s) {
                prop_assert!(naive(&a, &s));
            }
        }

        #[test]
        fn overlaps_is_exact_on_witnesses(
            a in proptest::collection::vec(seg(), 0..5),
            b in proptest::collection::vec(seg(), 0..5),
            s in word(),
        ) {
            let (a, b) = (normalize(a), normalize(b));
            if naive(&a, &s) && naive(&b, &s) {
                prop_assert!(overlaps(&a, &b));
            }
        }
    }
}
