//! What `level` and `spread` share: each compares a window after every point with the window
//! before it, on the series with its cycle taken out, and keeps one point per change.

use crate::common::{interpolate, longest_period, without_season};
use tsad_core::{Error, Series};

/// What a change detector learns from its training series: the longest cycle (taken out
/// before comparing) and the window, `window` when given, else that cycle repeated up to at
/// least `min_window` points, else `fallback`.
pub(crate) fn fit_window(
    train: &Series,
    needed: usize,
    window: Option<usize>,
    fallback: usize,
    min_window: usize,
) -> Result<(Vec<f64>, Option<usize>, usize), Error> {
    let x = interpolate(train.values()).ok_or(Error::NotEnoughData { needed, got: 0 })?;
    // The season is taken out whatever the window, so the period is always looked for.
    let period = longest_period(&x);
    let window = match (window, period) {
        (Some(w), _) => w,
        (None, Some(p)) => p * min_window.div_ceil(p),
        (None, None) => fallback,
    };
    Ok((x, period, window))
}

/// The values to compare: missing ones interpolated linearly, then each less the median of its
/// phase of `period` over the series (without the cycle the median of any window follows the
/// level, and a change stands out just where it happens). None when no value is finite.
pub(crate) fn comparable(values: &[f64], period: Option<usize>) -> Option<Vec<f64>> {
    Some(without_cycle(interpolate(values)?, period))
}

/// `x` less the median of each phase of `period` over it; `x` itself without a period.
pub(crate) fn without_cycle(x: Vec<f64>, period: Option<usize>) -> Vec<f64> {
    match period {
        Some(p) => without_season(&x, p).0,
        None => x,
    }
}

/// The peaks of `changes` (see [`peaks_only`]) over `reach` places; at missing `values` both
/// the peaks and the dense `changes` become NaN.
pub(crate) fn peaks_of(changes: &mut [f64], reach: usize, values: &[f64]) -> Vec<f64> {
    let mut score = peaks_only(changes, reach);
    for ((s, c), v) in score.iter_mut().zip(changes.iter_mut()).zip(values) {
        if !v.is_finite() {
            (*s, *c) = (f64::NAN, f64::NAN);
        }
    }
    score
}

/// `values` where each is the peak of its neighbourhood (above every value up to `reach`
/// places before it, at least every value up to `reach` places after it), 0 elsewhere; NaN
/// stays NaN and does not compete. A shift raises the median difference on about a window of
/// points around it; keeping only its peak leaves one point at the change, so a shift is as
/// rare as a spike to the calibration that follows.
fn peaks_only(values: &[f64], reach: usize) -> Vec<f64> {
    let key = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else { v };
    let before = trailing_max(values.iter().map(|&v| key(v)), reach);
    let mut after = trailing_max(values.iter().rev().map(|&v| key(v)), reach);
    after.reverse();
    values
        .iter()
        .zip(before.iter().zip(&after))
        .map(|(&v, (&b, &a))| {
            if v.is_nan() || (v > b && v >= a) {
                v
            } else {
                0.0
            }
        })
        .collect()
}

/// For each item, the largest of the `reach` items before it (-inf when none): a monotone
/// queue of candidates, O(n).
fn trailing_max(items: impl Iterator<Item = f64>, reach: usize) -> Vec<f64> {
    let mut queue: std::collections::VecDeque<(usize, f64)> = std::collections::VecDeque::new();
    let mut out = Vec::new();
    for (i, v) in items.enumerate() {
        while queue.front().is_some_and(|&(j, _)| j + reach < i) {
            queue.pop_front();
        }
        out.push(queue.front().map_or(f64::NEG_INFINITY, |&(_, m)| m));
        while queue.back().is_some_and(|&(_, m)| m <= v) {
            queue.pop_back();
        }
        queue.push_back((i, v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Each point against every neighbour: the definition `peaks_only` computes in O(n).
    fn peaks_plain(values: &[f64], reach: usize) -> Vec<f64> {
        let key = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else { v };
        (0..values.len())
            .map(|i| {
                let v = values[i];
                let before = values[i.saturating_sub(reach)..i]
                    .iter()
                    .all(|&b| v > key(b));
                let after = values[i + 1..(i + 1 + reach).min(values.len())]
                    .iter()
                    .all(|&a| v >= key(a));
                if v.is_nan() || (before && after) {
                    v
                } else {
                    0.0
                }
            })
            .collect()
    }

    proptest! {
        #[test]
        fn peaks_only_is_the_plain_definition(
            values in prop::collection::vec(
                prop_oneof![4 => (0u8..6).prop_map(f64::from), 1 => Just(f64::NAN)], 0..80),
            reach in 0usize..7,
        ) {
            tsad_testing::assert_bits_eq(
                &peaks_only(&values, reach), &peaks_plain(&values, reach), "peaks");
        }
    }
}
