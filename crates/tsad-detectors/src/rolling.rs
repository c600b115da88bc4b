//! The trailing-window scorer behind `zscore` and `mad`: one state machine serves both the
//! batch and the streaming form, so they agree bit for bit.

use crate::common::{Expanding, SortedWindow, deviation, score_in_chunks, tiny_scale};
use std::collections::VecDeque;
use std::fmt::Debug;
use tsad_core::{Error, FitContext, OnlineModel, Scores};

/// Fraction of the expanding standard deviation (of every earlier point) below which a
/// window's scale is not allowed to fall. It keeps near-constant windows from turning the
/// smallest wiggle into an enormous score, and it uses the past only.
pub(crate) const SCALE_FLOOR: f64 = 0.01;

/// The smallest spread a variance can be computed from: squares of smaller deviations
/// underflow (this is the square root of the smallest normal `f64`).
const UNDERFLOW_SPREAD: f64 = 1.491_668_146_240_041_3e-154;

/// Whether a spread (or a deviation) is nothing as far as floats can tell: below the
/// resolution of numbers around `center` (a relative epsilon), or so small that its square
/// underflows (values near 1e-320).
fn negligible(spread: f64, center: f64) -> bool {
    spread <= (f64::EPSILON * center.abs()).max(UNDERFLOW_SPREAD)
}

/// A trailing window that knows its centre and scale.
pub(crate) trait Window: Clone + Debug + Send {
    /// Whether the scale is kept at or above the data's quantisation noise (see
    /// [`RollingScorer`]).
    const QUANTUM_FLOOR: bool;
    fn is_full(&self) -> bool;
    fn push(&mut self, x: f64);
    /// Centre and scale of the values in the window (the scale may be 0).
    fn center_scale(&mut self) -> (f64, f64);
}

/// The standard deviation of rounding to a grid of step `q` is `q / sqrt(12)`.
const QUANTISATION_NOISE: f64 = 0.288_675_134_594_812_9;

/// Rolling mean and sample standard deviation over the last `cap` values, updated in O(1)
/// and recomputed exactly every `cap` pushes so rounding errors cannot pile up. The sums are
/// kept relative to an anchor (the mean at the last recomputation), so a large offset (values
/// around 1e9 that move by 1) costs no precision.
#[derive(Debug, Clone)]
pub(crate) struct MeanStdWindow {
    cap: usize,
    buf: VecDeque<f64>,
    anchor: f64,
    /// Mean of `x - anchor` over the window.
    mean: f64,
    m2: f64,
    since_exact: usize,
}

impl MeanStdWindow {
    pub(crate) fn new(cap: usize) -> Self {
        MeanStdWindow {
            cap,
            buf: VecDeque::with_capacity(cap + 1),
            anchor: f64::NAN,
            mean: 0.0,
            m2: 0.0,
            since_exact: 0,
        }
    }

    fn recompute(&mut self) {
        let n = self.buf.len() as f64;
        let anchor = self.anchor;
        let rel = self.buf.iter().map(|x| x - anchor).sum::<f64>() / n;
        self.anchor += rel;
        let anchor = self.anchor;
        self.mean = self.buf.iter().map(|x| x - anchor).sum::<f64>() / n;
        let mean = self.mean;
        self.m2 = self
            .buf
            .iter()
            .map(|x| (x - anchor - mean) * (x - anchor - mean))
            .sum();
        self.since_exact = 0;
    }
}

impl Window for MeanStdWindow {
    // A window's standard deviation does not collapse on quantised values as its MAD does;
    // measured with the floor, `zscore` on SMAP fell from F1 0.64 to 0.52.
    const QUANTUM_FLOOR: bool = false;
    fn is_full(&self) -> bool {
        self.buf.len() >= self.cap
    }

    fn push(&mut self, x: f64) {
        if self.anchor.is_nan() {
            self.anchor = x;
        }
        let xr = x - self.anchor;
        if self.buf.len() == self.cap
            && let Some(old) = self.buf.pop_front()
        {
            // Replace `old` by `x` in one step (Welford's update for a sliding window).
            let or = old - self.anchor;
            let old_mean = self.mean;
            self.mean += (xr - or) / self.cap as f64;
            self.m2 += (xr - or) * (xr - self.mean + or - old_mean);
        } else {
            let n = self.buf.len() as f64 + 1.0;
            let d = xr - self.mean;
            self.mean += d / n;
            self.m2 += d * (xr - self.mean);
        }
        self.buf.push_back(x);
        self.since_exact += 1;
        if self.since_exact >= self.cap {
            self.recompute();
        }
    }

    fn center_scale(&mut self) -> (f64, f64) {
        let n = self.buf.len();
        let var = if n > 1 {
            self.m2.max(0.0) / (n - 1) as f64
        } else {
            0.0
        };
        (self.anchor + self.mean, var.sqrt())
    }
}

/// Rolling median and 1.4826·MAD (1.2533·mean absolute deviation when the MAD is 0).
#[derive(Debug, Clone)]
pub(crate) struct MedianMadWindow(pub(crate) SortedWindow);

impl Window for MedianMadWindow {
    const QUANTUM_FLOOR: bool = true;
    fn is_full(&self) -> bool {
        self.0.is_full()
    }
    fn push(&mut self, x: f64) {
        self.0.push(x);
    }
    fn center_scale(&mut self) -> (f64, f64) {
        let (c, s, _) = self.0.center_scale();
        (c, s)
    }
}

/// The median of the last values of one window and the scale of a longer one's.
#[derive(Debug, Clone)]
pub(crate) struct SplitWindow {
    pub(crate) center: SortedWindow,
    pub(crate) spread: SortedWindow,
}

impl Window for SplitWindow {
    const QUANTUM_FLOOR: bool = true;
    fn is_full(&self) -> bool {
        self.center.is_full() && self.spread.is_full()
    }
    fn push(&mut self, x: f64) {
        self.center.push(x);
        self.spread.push(x);
    }
    fn center_scale(&mut self) -> (f64, f64) {
        let (_, s, _) = self.spread.center_scale();
        (self.center.median(), s)
    }
}

/// One point's output.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    pub(crate) score: f64,
    pub(crate) expected: f64,
    pub(crate) scale: f64,
}

/// Scores each point against the window of the finite points before it.
///
/// The window's scale never falls below [`SCALE_FLOOR`] of the standard deviation of every
/// earlier point, and, for a median/MAD window, below the quantisation noise of the data:
/// `q / sqrt(12)`, where `q` is the smallest change between consecutive finite values so far
/// (the resolution of a quantised sensor or count; on continuous data it soon becomes
/// negligible). Without it, a window holding one value more than half the time has a MAD of
/// 0 and its mean absolute deviation is a fraction of one step, so the smallest possible
/// change, one step, scored like a spike: on a walk of unit steps taken 6% of the time, one
/// step scored 64.9 with `mad`, the series' highest score, and a jump of 6 steps 10.1, so
/// `robust-stats` flagged the step, not the jump. One step now scores at most `sqrt(12)`,
/// about 3.5, and the jump is `mad`'s highest score. Past-only, as the rest.
#[derive(Debug, Clone)]
pub(crate) struct RollingScorer<W> {
    window: W,
    past: Expanding,
    floored: usize,
    /// A scale below which no window's may fall (0: none beyond the others).
    least_scale: f64,
    /// The smallest non-negligible change between consecutive finite values so far.
    quantum: f64,
    /// The last finite value.
    last: f64,
}

impl<W: Window> RollingScorer<W> {
    pub(crate) fn new(window: W) -> Self {
        RollingScorer {
            window,
            past: Expanding::default(),
            floored: 0,
            least_scale: 0.0,
            quantum: f64::INFINITY,
            last: f64::NAN,
        }
    }

    /// No window's scale below `scale`.
    pub(crate) fn with_least_scale(mut self, scale: f64) -> Self {
        self.least_scale = scale;
        self
    }

    /// Scores `x` against the past, then adds it to the past. NaN in, NaN out (and the window
    /// is left as it is, so a gap does not shorten the memory).
    pub(crate) fn step(&mut self, x: f64) -> Step {
        let (expected, scale, flat) = if self.window.is_full() {
            let (c, s) = self.window.center_scale();
            let mut floor = (SCALE_FLOOR * self.past.std()).max(self.least_scale);
            if W::QUANTUM_FLOOR && self.quantum.is_finite() {
                floor = floor.max(QUANTISATION_NOISE * self.quantum);
            }
            let scale = if s >= floor {
                s
            } else {
                self.floored += 1;
                floor
            };
            // A spread below a relative epsilon is no spread: the window is constant, as far
            // as floats can tell, and deviations as small are noise (scored 0, as on an
            // exactly constant series).
            if negligible(scale, c) {
                (c, tiny_scale(c), true)
            } else {
                (c, scale, false)
            }
        } else {
            (f64::NAN, f64::NAN, false)
        };
        if !x.is_finite() {
            return Step {
                score: f64::NAN,
                expected,
                scale,
            };
        }
        let score = if expected.is_nan() {
            f64::NAN
        } else if flat && negligible((x - expected).abs(), expected) {
            0.0
        } else {
            deviation(x, expected, scale)
        };
        self.window.push(x);
        self.past.push(x);
        if W::QUANTUM_FLOOR {
            let change = (x - self.last).abs();
            // NaN (no last value yet) compares false.
            if change < self.quantum && !negligible(change, x) {
                self.quantum = change;
            }
            self.last = x;
        }
        Step {
            score,
            expected,
            scale,
        }
    }

    /// Scores a whole series: the batch form.
    /// Scores every point, checking the cancel flag and reporting progress every 65,536.
    pub(crate) fn run(
        mut self,
        values: &[f64],
        band_k: f64,
        window: usize,
        ctx: &FitContext,
    ) -> Result<Scores, Error> {
        let n = values.len();
        let (mut score, mut expected, mut lower, mut upper) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        score_in_chunks(n, ctx, |range| {
            for &x in &values[range] {
                let s = self.step(x);
                score.push(s.score);
                expected.push(s.expected);
                lower.push(s.expected - band_k * s.scale);
                upper.push(s.expected + band_k * s.scale);
            }
        })?;
        Ok(Scores::new(score)
            .with_expected(expected)
            .with_band(lower, upper)
            .with_report(serde_json::json!({
                "window": window,
                "warmup_points": window,
                "floored_points": self.floored,
            })))
    }
}

/// The streaming form: the same state machine, one point at a time.
#[derive(Debug, Clone)]
pub(crate) struct RollingOnline<W>(pub(crate) RollingScorer<W>);

impl<W: Window> OnlineModel for RollingOnline<W> {
    fn update(&mut self, _timestamp: i64, value: f64) -> f64 {
        self.0.step(value).score
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sliding_moments_stay_exact_with_a_large_offset() {
        let xs: Vec<f64> = (0..5000).map(|i| 1e9 + ((i * 7919) % 101) as f64).collect();
        let mut w = MeanStdWindow::new(37);
        for (i, &x) in xs.iter().enumerate() {
            w.push(x);
            if i >= 36 {
                let (m, s) = w.center_scale();
                let win = &xs[i - 36..=i];
                let mean = win.iter().sum::<f64>() / 37.0;
                let sd = (win.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 36.0).sqrt();
                assert!(
                    (m - mean).abs() <= 1e-15 * mean && (s - sd).abs() <= 1e-9 * sd,
                    "{i}: {m} vs {mean}, {s} vs {sd}"
                );
            }
        }
    }

    /// Median and MAD scale by sorting the last `cap` values afresh at every point
    /// (`center_scale_by_sort`): the reference the fast window must match bit for bit.
    #[derive(Debug, Clone)]
    struct MedianMadBySort {
        cap: usize,
        values: Vec<f64>,
    }

    impl Window for MedianMadBySort {
        const QUANTUM_FLOOR: bool = true;
        fn is_full(&self) -> bool {
            self.values.len() >= self.cap
        }
        fn push(&mut self, x: f64) {
            self.values.push(x);
        }
        fn center_scale(&mut self) -> (f64, f64) {
            let last = &self.values[self.values.len().saturating_sub(self.cap)..];
            let (med, scale, _) = crate::common::tests::center_scale_by_sort(last);
            (med, scale)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The `mad` scorer (score, expected value and scale at every point) equals one whose
        /// window is sorted afresh at every point, bit for bit: on quantised values with many
        /// ties, signed zeros and NaN gaps, or on spread-out ones.
        #[test]
        fn median_mad_scorer_equals_sorting_every_window(
            cap in prop_oneof![3usize..10, 47usize..50],
            quantised in any::<bool>(),
            picks in prop::collection::vec((0u8..20, -1e3f64..1e3), 0..600),
        ) {
            let values: Vec<f64> = picks
                .iter()
                .map(|&(kind, x)| match kind {
                    0 => f64::NAN,
                    1 => -0.0,
                    _ if quantised => x.round() / 100.0,
                    _ => x,
                })
                .collect();
            let mut fast = RollingScorer::new(MedianMadWindow(SortedWindow::new(cap)));
            let mut slow = RollingScorer::new(MedianMadBySort { cap, values: Vec::new() });
            for (i, &x) in values.iter().enumerate() {
                let (a, b) = (fast.step(x), slow.step(x));
                prop_assert_eq!(a.score.to_bits(), b.score.to_bits(), "score at {}", i);
                prop_assert_eq!(a.expected.to_bits(), b.expected.to_bits(), "expected at {}", i);
                prop_assert_eq!(a.scale.to_bits(), b.scale.to_bits(), "scale at {}", i);
            }
            prop_assert_eq!(fast.floored, slow.floored);
        }
    }

    fn top_score<W: Window>(window: W, xs: &[f64]) -> f64 {
        let mut scorer = RollingScorer::new(window);
        let scores: Vec<f64> = xs.iter().map(|&x| scorer.step(x).score).collect();
        scores[48..].iter().fold(0.0_f64, |m, s| m.max(*s))
    }

    /// Issue 12, item 17: values near 1e-320 have spreads whose squares underflow; zscore
    /// flagged 61 of 200 such points. Like a constant series, they now score 0, and values
    /// around 1e9 that differ only in their last bit do too. Small values with a real spread
    /// still score as z-scores.
    #[test]
    fn issue_12_spreads_below_float_resolution_score_zero() {
        let wobble = |i: usize| ((i * 7919) % 13) as f64;
        type Case = (&'static str, Vec<f64>, bool);
        let cases: Vec<Case> = vec![
            (
                "subnormal",
                (0..200).map(|i| (1.0 + wobble(i)) * 1e-321).collect(),
                true,
            ),
            (
                "1e9 in its last bit",
                (0..200).map(|i| 1e9 + (i % 2) as f64 * 1.2e-7).collect(),
                true,
            ),
            ("constant", vec![5.0; 200], true),
            (
                "small but real spread",
                (0..200).map(|i| (1.0 + wobble(i)) * 1e-20).collect(),
                false,
            ),
        ];
        for (name, xs, zero) in cases {
            let tops = [
                top_score(MeanStdWindow::new(48), &xs),
                top_score(MedianMadWindow(SortedWindow::new(48)), &xs),
            ];
            for top in tops {
                if zero {
                    assert_eq!(top, 0.0, "{name}");
                } else {
                    assert!(top > 0.5 && top < 10.0, "{name}: {top}");
                }
            }
        }
        // A real change after a flat stretch still scores very high.
        let mut scorer = RollingScorer::new(MeanStdWindow::new(10));
        for _ in 0..10 {
            scorer.step(1e-321);
        }
        assert!(scorer.step(1.0).score > 1e10);
    }
}
