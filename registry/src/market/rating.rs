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
    let prior = f64::from(PRIOR_WEIGHT);
    let damped = (prior * PRIOR_MEAN + sum as f64) / (prior + f64::from(count));
    DampedRating {
        damped: (damped * 100.0).round() / 100.0,
        mean: (count > 0).then(|| sum as f64 / f64::from(count)),
        count,
    }
}
