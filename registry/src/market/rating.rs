//! The rating a plugin shows (SPEC S9.4): the average of its approved reviews, damped towards a
//! prior so that a single five-star review does not outrank a hundred four-star ones.
//!
//! The damped (Bayesian) average adds [`PRIOR_WEIGHT`] imaginary reviews of [`PRIOR_MEAN`]
//! stars to the real ones: `(PRIOR_WEIGHT × PRIOR_MEAN + Σ stars) / (PRIOR_WEIGHT + n)`. With
//! no reviews it is the prior; as reviews accumulate it tends to their plain mean.

use serde::Serialize;

/// The stars the imaginary reviews give: the middle of the 1–5 scale.
pub const PRIOR_MEAN: f64 = 3.0;

/// How many imaginary reviews the prior counts for.
pub const PRIOR_WEIGHT: u32 = 5;

/// A plugin's rating as shown: the damped average, the plain mean and the count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DampedRating {
    /// The damped average, rounded to hundredths (what pages sort and show).
    pub damped: f64,
    /// The plain mean of the reviews (`None` without reviews).
    pub mean: Option<f64>,
    /// How many reviews.
    pub count: u32,
}

/// The rating of `stars` (each 1–5; others are ignored, as a moderated store never holds
/// them).
///
/// ```
/// use switchboard_registry::market::damped_rating;
/// let one_five = damped_rating(&[5]);
/// let many_fours = damped_rating(&[4; 100]);
/// assert_eq!(one_five.damped, 3.33);
/// assert!(many_fours.damped > one_five.damped);
/// assert_eq!(damped_rating(&[]).damped, 3.0);
/// ```
pub fn damped_rating(stars: &[u8]) -> DampedRating {
    let valid = stars.iter().filter(|s| (1..=5).contains(*s));
    let (count, sum) = valid.fold((0u32, 0u64), |(n, sum), s| {
        (n.saturating_add(1), sum + u64::from(*s))
    });
    damped_from_totals(count, sum)
}

/// The rating of `count` reviews whose stars add up to `sum` (what a store sums in one
/// query): the same as [`damped_rating`] of those reviews.
///
/// ```
/// use switchboard_registry::market::{damped_from_totals, damped_rating};
/// assert_eq!(damped_from_totals(3, 12), damped_rating(&[5, 4, 3]));
/// ```
pub fn damped_from_totals(count: u32, sum: u64) -> DampedRating {
    DampedRating {
        damped: f64::from(damped_hundredths(count, sum)) / 100.0,
        mean: (count > 0).then(|| sum as f64 / f64::from(count)),
        count,
    }
}

/// The damped average in hundredths of a star, rounded half up, in integers:
/// `round(100 × (PRIOR_WEIGHT × PRIOR_MEAN + sum) / (PRIOR_WEIGHT + count))`. Search orders
/// by this number (the same arithmetic in SQL on PostgreSQL, so both backends order alike).
///
/// ```
/// use switchboard_registry::market::damped_hundredths;
/// assert_eq!(damped_hundredths(0, 0), 300);
/// assert_eq!(damped_hundredths(1, 5), 333);
/// assert_eq!(damped_hundredths(3, 15), 375);
/// ```
pub fn damped_hundredths(count: u32, sum: u64) -> u32 {
    let prior_sum = u64::from(PRIOR_WEIGHT) * PRIOR_MEAN_STARS;
    let n = u64::from(PRIOR_WEIGHT) + u64::from(count);
    let hundredths = (200 * (prior_sum + sum) + n) / (2 * n);
    u32::try_from(hundredths).unwrap_or(500)
}

/// [`PRIOR_MEAN`] as whole stars (for integer arithmetic).
const PRIOR_MEAN_STARS: u64 = 3;
