//! Ratings in search (SPEC S9.4, issue 21): each hit carries its plugin's rating — the damped
//! average of its approved reviews and their count (`{"average": 3.33, "count": 1}`, `null`
//! for a plugin without an approved review) — and `sort=rating` orders by it.
//!
//! Ratings change with moderation, not with the catalog, so they are not part of
//! [`Prepared`]: the server keeps a [`Ratings`] snapshot (`server::reviews::RatingList`), hits
//! are written with it when a page is served ([`super::Page::write`]), and pages sorted by
//! rating are never kept ([`super::PageCache`] holds only other orders). A moderation
//! decision therefore shows in the next search.
//!
//! The order of `sort=rating`: plugins with approved reviews first, by damped average in
//! hundredths of a star ([`crate::market::damped_hundredths`]) highest first, then by more
//! approved reviews, then by name (byte order); then plugins without one, by name. PostgreSQL
//! orders the same way in its database (`store::catalog_search`).

use std::collections::{HashMap, HashSet};

use super::{Hit, Page, Prepared, Query, Sort};

/// One plugin's rating as a hit shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HitRating {
    /// The damped average in hundredths of a star (`333` is 3.33).
    pub hundredths: u32,
    /// How many approved reviews.
    pub count: u32,
}

impl HitRating {
    /// The rating of `count` approved reviews whose stars add up to `sum`.
    pub fn of_totals(count: u32, sum: u64) -> HitRating {
        HitRating {
            hundredths: crate::market::damped_hundredths(count, sum),
            count,
        }
    }

    /// As JSON: `{"average":3.33,"count":1}`.
    pub fn json(&self) -> String {
        format!(
            "{{\"average\":{}.{:02},\"count\":{}}}",
            self.hundredths / 100,
            self.hundredths % 100,
            self.count
        )
    }

    /// In words for the page: `★ 3.33 (1 review)`.
    pub fn words(&self) -> String {
        let reviews = if self.count == 1 { "review" } else { "reviews" };
        format!(
            "★ {}.{:02} ({} {reviews})",
            self.hundredths / 100,
            self.hundredths % 100,
            self.count
        )
    }
}

/// Every rated plugin's rating (plugins without an approved review are absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ratings {
    by_plugin: HashMap<String, HitRating>,
}

impl Ratings {
    /// Ratings from per-plugin totals: the plugin, how many approved reviews, their stars'
    /// sum (as `ReviewStore::approved_totals` answers).
    pub fn from_totals(totals: impl IntoIterator<Item = (String, u32, u64)>) -> Ratings {
        Ratings {
            by_plugin: totals
                .into_iter()
                .filter(|(_, count, _)| *count > 0)
                .map(|(name, count, sum)| (name, HitRating::of_totals(count, sum)))
                .collect(),
        }
    }

    /// The rating of `plugin`, if it has an approved review.
    pub fn get(&self, plugin: &str) -> Option<&HitRating> {
        self.by_plugin.get(plugin)
    }

    /// Sets (or, with `None`, removes) the rating of `plugin`.
    pub fn set(&mut self, plugin: &str, rating: Option<HitRating>) {
        match rating {
            Some(r) if r.count > 0 => {
                self.by_plugin.insert(plugin.to_owned(), r);
            }
            _ => {
                self.by_plugin.remove(plugin);
            }
        }
    }

    /// How many plugins are rated.
    pub fn len(&self) -> usize {
        self.by_plugin.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_plugin.is_empty()
    }
}

impl Prepared {
    /// The page of `query` ordered by rating (see the module's description), computed afresh:
    /// every match in name order, then ordered by `ratings` as far as the page asked for.
    pub fn compute_by_rating(
        &self,
        query: &Query,
        owned: &HashSet<String>,
        ratings: &Ratings,
    ) -> Page {
        let mut every = query.clone();
        every.sort = Sort::Name;
        every.page = 1;
        every.per_page = usize::MAX;
        let Page { total, mut hits } = self.compute(&every, &HashMap::new(), owned);
        let key = |h: &Hit| {
            let rating = self
                .entries
                .get(h.1 as usize)
                .and_then(|e| ratings.get(&e.name));
            match rating {
                Some(r) => (
                    false,
                    std::cmp::Reverse(r.hundredths),
                    std::cmp::Reverse(r.count),
                    h.1,
                ),
                None => (true, std::cmp::Reverse(0), std::cmp::Reverse(0), h.1),
            }
        };
        let start = (query.page - 1).saturating_mul(query.per_page);
        let end = start.saturating_add(query.per_page).min(hits.len());
        super::top(&mut hits, end, key);
        hits.truncate(end);
        hits.drain(..start.min(end));
        Page { total, hits }
    }
}
