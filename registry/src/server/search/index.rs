//! The word index of the prepared catalog: which plugins a query word can occur in, found
//! without reading every plugin's text.
//!
//! Search matches a word anywhere inside a plugin's text (`raph` finds `graph`), not only
//! whole words, so the index is over *substrings*: each plugin's text (name, keywords,
//! categories, description, lower case) is cut at whitespace into terms — a query word holds
//! no whitespace, so it occurs in the text exactly when it occurs inside one of its terms —
//! and every suffix of every distinct term is kept in one sorted list. The terms holding a
//! word are those whose suffixes start with it: one contiguous run of the list, found by two
//! binary searches. Each term lists the plugins it occurs in; their union is the word's
//! plugins, as a bit set.
//!
//! Terms longer than [`MAX_SUFFIXED_TERM_BYTES`] are not cut into suffixes (a long term would
//! cost its length squared to sort); they are few and scanned for each word instead, so the
//! answer stays exact.

use std::collections::HashMap;

/// Terms up to this long have their suffixes in the sorted list; longer ones are scanned.
pub const MAX_SUFFIXED_TERM_BYTES: usize = 64;

/// A set of plugins (entry positions), one bit each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bits {
    words: Vec<u64>,
}

impl Bits {
    /// The empty set over `n` entries.
    pub fn empty(n: usize) -> Bits {
        Bits {
            words: vec![0; n.div_ceil(64)],
        }
    }

    /// The set of `ids`.
    pub fn of(n: usize, ids: &[u32]) -> Bits {
        let mut b = Bits::empty(n);
        for &i in ids {
            b.insert(i as usize);
        }
        b
    }

    /// Adds entry `i`.
    pub fn insert(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    /// Keeps only the entries also in `other`.
    pub fn intersect(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= *b;
        }
    }

    /// The entries, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(k, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(k * 64 + bit)
            })
        })
    }
}

/// The index: terms, the plugins each occurs in, and the sorted suffixes of the terms.
#[derive(Debug, Default)]
pub struct WordIndex {
    entries: usize,
    terms: Vec<Box<str>>,
    /// For each term, the entries it occurs in, increasing.
    postings: Vec<Vec<u32>>,
    /// (term, byte offset of a char boundary): every suffix of every short term, sorted by
    /// the suffix's text.
    suffixes: Vec<(u32, u32)>,
    /// Terms longer than [`MAX_SUFFIXED_TERM_BYTES`].
    long_terms: Vec<u32>,
}

impl WordIndex {
    /// Indexes `texts`, one per entry, in entry order.
    pub fn new<'a>(texts: impl Iterator<Item = &'a str>) -> WordIndex {
        let mut ids: HashMap<&'a str, u32> = HashMap::new();
        let mut terms: Vec<Box<str>> = Vec::new();
        let mut postings: Vec<Vec<u32>> = Vec::new();
        let mut entries = 0usize;
        for (entry, text) in texts.enumerate() {
            entries = entry + 1;
            let entry = u32::try_from(entry).unwrap_or(u32::MAX);
            for term in text.split(char::is_whitespace).filter(|t| !t.is_empty()) {
                let id = *ids.entry(term).or_insert_with(|| {
                    terms.push(term.into());
                    postings.push(Vec::new());
                    u32::try_from(terms.len() - 1).unwrap_or(u32::MAX)
                });
                let list = &mut postings[id as usize];
                // Entries come in increasing order: a repeat within one text is the last one.
                if list.last() != Some(&entry) {
                    list.push(entry);
                }
            }
        }
        let mut suffixes = Vec::new();
        let mut long_terms = Vec::new();
        for (id, term) in terms.iter().enumerate() {
            let id = u32::try_from(id).unwrap_or(u32::MAX);
            if term.len() > MAX_SUFFIXED_TERM_BYTES {
                long_terms.push(id);
                continue;
            }
            for (offset, _) in term.char_indices() {
                suffixes.push((id, u32::try_from(offset).unwrap_or(u32::MAX)));
            }
        }
        let text = |&(t, o): &(u32, u32)| &terms[t as usize][o as usize..];
        suffixes.sort_unstable_by(|a, b| text(a).cmp(text(b)));
        WordIndex {
            entries,
            terms,
            postings,
            suffixes,
            long_terms,
        }
    }

    fn suffix(&self, (t, o): (u32, u32)) -> &str {
        &self.terms[t as usize][o as usize..]
    }

    /// The entries whose text holds `word` (which holds no whitespace).
    pub fn containing(&self, word: &str) -> Bits {
        let mut out = Bits::empty(self.entries);
        let mut seen = vec![false; self.terms.len()];
        let start = self.suffixes.partition_point(|&s| self.suffix(s) < word);
        let len = self.suffixes[start..].partition_point(|&s| self.suffix(s).starts_with(word));
        let short = self.suffixes[start..start + len].iter().map(|&(t, _)| t);
        let long = self
            .long_terms
            .iter()
            .copied()
            .filter(|&t| self.terms[t as usize].contains(word));
        for t in short.chain(long) {
            if std::mem::replace(&mut seen[t as usize], true) {
                continue;
            }
            for &e in &self.postings[t as usize] {
                out.insert(e as usize);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(texts: &[&str], word: &str) -> Vec<usize> {
        (0..texts.len())
            .filter(|&i| texts[i].contains(word))
            .collect()
    }

    #[test]
    fn a_word_is_found_in_exactly_the_texts_holding_it() {
        let long = "x".repeat(MAX_SUFFIXED_TERM_BYTES + 5) + "needle";
        let texts = [
            "graph-weather-00001\nchart\nthe graph plugin",
            "weather\nclock timer\né clé\nnotes",
            "",
            long.as_str(),
            "graphgraph graph",
        ];
        let index = WordIndex::new(texts.iter().copied());
        for word in [
            "graph",
            "raph",
            "g",
            "weather-0",
            "00001",
            "clé",
            "é",
            "needle",
            "xx",
            "nope",
            "timer",
            "graphgraph",
            "-",
        ] {
            let got: Vec<usize> = index.containing(word).iter().collect();
            assert_eq!(got, naive(&texts, word), "{word}");
        }
    }

    #[test]
    fn bits_intersect_and_iterate_in_order() {
        let mut a = Bits::of(200, &[1, 64, 65, 130, 199]);
        a.intersect(&Bits::of(200, &[0, 64, 130, 199]));
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![64, 130, 199]);
        assert_eq!(Bits::empty(0).iter().count(), 0);
    }

    proptest::proptest! {
        #[test]
        fn the_index_agrees_with_contains(
            texts in proptest::collection::vec("[ab\\- \né]{0,12}", 0..12),
            word in "[ab\\-é]{1,3}",
        ) {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let index = WordIndex::new(refs.iter().copied());
            let got: Vec<usize> = index.containing(&word).iter().collect();
            proptest::prop_assert_eq!(got, naive(&refs, &word));
        }
    }
}
