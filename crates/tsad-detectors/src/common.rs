//! Helpers the detectors share: parameter validation that lists every problem, length checks,
//! saved-state plumbing, robust scales and a sorted sliding window.

use serde::{Serialize, de::DeserializeOwned};
use tsad_core::{Error, FitContext, ModelState, Progress, Series, stats};

/// Version of every state format written by this crate.
pub(crate) const STATE_VERSION: u32 = 1;

/// Converts the mean absolute deviation of normal data into its standard deviation
/// (sqrt(pi / 2)), the fallback scale when the MAD is 0.
pub(crate) const MEAN_AD_TO_SIGMA: f64 = 1.253_314_137_315_500_3;

/// Collects parameter problems so that `new` can report all of them at once.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<(String, String)>);

impl Problems {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Records a problem with `name` unless `ok`.
    pub(crate) fn check(&mut self, ok: bool, name: &str, reason: impl FnOnce() -> String) {
        if !ok {
            self.0.push((name.to_owned(), reason()));
        }
    }

    /// `Ok` when nothing was recorded; otherwise one [`Error::InvalidParameter`] whose name
    /// lists every offending parameter and whose reason lists every problem.
    pub(crate) fn finish(self) -> Result<(), Error> {
        match self.0.len() {
            0 => Ok(()),
            1 => {
                let (name, reason) = self.0.into_iter().next().expect("one element");
                Err(Error::invalid_parameter(name, reason))
            }
            _ => {
                let names: Vec<&str> = self.0.iter().map(|(n, _)| n.as_str()).collect();
                let reasons: Vec<String> =
                    self.0.iter().map(|(n, r)| format!("`{n}`: {r}")).collect();
                Err(Error::invalid_parameter(
                    names.join(", "),
                    reasons.join("; "),
                ))
            }
        }
    }
}

/// [`Error::NotEnoughData`] when `series` has fewer than `needed` points.
pub(crate) fn check_len(series: &Series, needed: usize) -> Result<(), Error> {
    if series.len() < needed {
        Err(Error::NotEnoughData {
            needed,
            got: series.len(),
        })
    } else {
        Ok(())
    }
}

/// The start of every fit: length check, cancellation check.
pub(crate) fn begin_fit(series: &Series, needed: usize, ctx: &FitContext) -> Result<(), Error> {
    check_len(series, needed)?;
    ctx.check_cancelled()
}

/// Tells the progress listener that a one-step fit is done.
pub(crate) fn report_done(ctx: &FitContext) {
    ctx.report(&Progress {
        stage: "fit".into(),
        fraction: 1.0,
        ..Progress::default()
    });
}

/// Points scored between two cancel checks and progress reports of [`score_in_chunks`]:
/// a few milliseconds of work for the slower detectors.
const SCORE_CHUNK: usize = 1 << 16;

/// Runs `score` over `0..n` in consecutive chunks, checking the cancel flag before each and
/// reporting progress (stage `"score"`, with an ETA from the pace so far) after each, so a
/// long scoring shows where it is and stops soon after a cancel.
///
/// # Errors
///
/// [`Error::Cancelled`] once `ctx` is cancelled.
pub(crate) fn score_in_chunks(
    n: usize,
    ctx: &FitContext,
    mut score: impl FnMut(std::ops::Range<usize>),
) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let mut done = 0;
    while done < n {
        ctx.check_cancelled()?;
        let end = (done + SCORE_CHUNK).min(n);
        score(done..end);
        done = end;
        let fraction = done as f64 / n as f64;
        ctx.report(&Progress {
            stage: "score".into(),
            fraction,
            eta_seconds: Some(started.elapsed().as_secs_f64() * (1.0 - fraction) / fraction),
            ..Progress::default()
        });
    }
    Ok(())
}

/// A state holding `params` as its config (for stateless models).
pub(crate) fn params_state<P: Serialize>(kind: &str, params: &P) -> Result<ModelState, Error> {
    Ok(ModelState {
        kind: kind.to_owned(),
        version: STATE_VERSION,
        config: serde_json::to_value(params).map_err(Error::backend)?,
        bytes: Vec::new(),
    })
}

/// Checks a state's kind and version and parses its config.
pub(crate) fn parse_state<T: DeserializeOwned>(kind: &str, state: &ModelState) -> Result<T, Error> {
    if state.kind != kind {
        return Err(Error::Load {
            reason: format!("a `{kind}` detector cannot load a `{}` model", state.kind),
        });
    }
    if state.version != STATE_VERSION {
        return Err(Error::Load {
            reason: format!(
                "`{kind}` model format version {} is not supported (this build reads version {STATE_VERSION})",
                state.version
            ),
        });
    }
    serde_json::from_value(state.config.clone()).map_err(|e| Error::Load {
        reason: format!("`{kind}` model config: {e}"),
    })
}

/// The longest cycle (in points) that `seasonal`'s period detection finds in `values`, if any:
/// the cycle `level` and `mad` take out.
pub(crate) fn longest_period(values: &[f64]) -> Option<usize> {
    crate::seasonal::detect_periods(values, 4, 512, 2)
        .iter()
        .map(|d| d.period)
        .max()
}

/// `x` less the median of its phase of a cycle of `p` points (the finite values `p` apart),
/// and those medians, one per phase (as many as `x` has, at most `p`; 0 for a phase with no
/// finite value). What is left moves only with the level and the noise. NaN stays NaN.
pub(crate) fn without_season(x: &[f64], p: usize) -> (Vec<f64>, Vec<f64>) {
    let profile = season_profile(x, p);
    let rest = (x.iter().enumerate())
        .map(|(i, v)| v - profile[i % p])
        .collect();
    (rest, profile)
}

/// The median of each phase of a cycle of `p` points over the finite values of `x`.
fn season_profile(x: &[f64], p: usize) -> Vec<f64> {
    (0..p.min(x.len()))
        .map(|phase| {
            let mut same: Vec<f64> = x[phase..]
                .iter()
                .step_by(p)
                .copied()
                .filter(|v| v.is_finite())
                .collect();
            stats::median_in_place(&mut same).unwrap_or(0.0)
        })
        .collect()
}

/// A robust scale of the finite values of `xs`: 1.4826·MAD, or 1.2533·(mean absolute
/// deviation from the median) when the MAD is 0, or 0 when every value is equal. Returns the
/// median too. `None` when no value is finite.
pub(crate) fn robust_center_scale(xs: &[f64]) -> Option<(f64, f64)> {
    let (med, mad) = stats::median_mad(xs)?;
    if mad > 0.0 {
        return Some((med, mad * stats::MAD_TO_SIGMA));
    }
    let (sum, n) = xs
        .iter()
        .filter(|x| x.is_finite())
        .fold((0.0, 0usize), |(s, n), x| (s + (x - med).abs(), n + 1));
    Some((med, MEAN_AD_TO_SIGMA * sum / n as f64))
}

/// Where the `q`-quantile of `len` (> 0) ascending values lies as an order statistic:
/// `floor(q·(len - 1))`.
pub(crate) fn order_place(len: usize, q: f64) -> usize {
    (q * (len - 1) as f64).floor() as usize
}

/// The last-resort scale when every value seen is equal: tiny but positive, so a constant
/// series scores 0 and the first change after it scores very high instead of infinity.
pub(crate) fn tiny_scale(center: f64) -> f64 {
    f64::EPSILON * center.abs().max(1.0)
}

/// `|x - center| / scale`, 0 when `x == center` (even for a zero scale), never infinite.
pub(crate) fn deviation(x: f64, center: f64, scale: f64) -> f64 {
    let d = (x - center).abs();
    if d == 0.0 {
        0.0
    } else {
        let s = if scale > 0.0 {
            scale
        } else {
            tiny_scale(center)
        };
        (d / s).min(f64::MAX)
    }
}

/// Linear interpolation of NaN values (edges take the nearest finite value). `None` when no
/// value is finite.
pub(crate) fn interpolate(values: &[f64]) -> Option<Vec<f64>> {
    let first = values.iter().position(|v| v.is_finite())?;
    let mut out = values.to_vec();
    let mut last = first;
    for v in &mut out[..first] {
        *v = values[first];
    }
    for i in first + 1..values.len() {
        if values[i].is_finite() {
            if i > last + 1 {
                let (a, b) = (values[last], values[i]);
                let span = (i - last) as f64;
                for (k, v) in out[last + 1..i].iter_mut().enumerate() {
                    *v = a + (b - a) * (k + 1) as f64 / span;
                }
            }
            last = i;
        }
    }
    for v in &mut out[last + 1..] {
        *v = values[last];
    }
    Some(out)
}

/// `x`'s place in IEEE 754's total order (the order of [`f64::total_cmp`]) as an integer:
/// integers compare in one instruction, and the mapping is its own inverse ([`from_key`]).
fn to_key(x: f64) -> i64 {
    let bits = x.to_bits() as i64;
    // Negative numbers: flip every bit but the sign, so larger magnitudes come first.
    bits ^ (((bits >> 63) as u64) >> 1) as i64
}

/// The `f64` whose [`to_key`] is `key`.
fn from_key(key: i64) -> f64 {
    f64::from_bits((key ^ (((key >> 63) as u64) >> 1) as i64) as u64)
}

/// The last `cap` values pushed, kept both in arrival order and sorted, for rolling medians
/// and MADs. The values are kept as their places in the total order ([`to_key`]), so every
/// search compares integers. Push is two binary searches (O(log cap)) and one memmove of at
/// most `cap` values (O(cap), but a few nanoseconds at `cap` = 1000); median O(1); MAD O(1)
/// when it moved little since the last call (a short walk from where the last one ended),
/// else O(log cap) by order-statistic search.
#[derive(Debug, Clone)]
pub(crate) struct SortedWindow {
    cap: usize,
    /// Arrival order: a ring once full, whose oldest value is at `oldest`.
    order: Vec<i64>,
    oldest: usize,
    sorted: Vec<i64>,
    /// Where the last [`SortedWindow::mad`] found the median's place (the count of values
    /// below it) and how many of the deviations it took from below the median: the starting
    /// points of the next call's walks. Hints only: any value gives the same result.
    split_hint: usize,
    below_hint: usize,
}

/// Steps a [`boundary`] walk takes before it falls back to a binary search.
const WALK_STEPS: usize = 4;

/// The least `i` in `lo..=hi` where `before(i)` is false, or `hi`, for a `before` that holds
/// on a prefix of `lo..hi` (it is never called at `hi`). Walks from `start` (clamped to the
/// range) for a few steps and finishes by binary search, so it is O(1) when the boundary moved
/// little since `start` was found and O(log(hi - lo)) at worst.
fn boundary(lo: usize, hi: usize, start: usize, before: impl Fn(usize) -> bool) -> usize {
    let mut i = start.clamp(lo, hi);
    for _ in 0..WALK_STEPS {
        if i < hi && before(i) {
            i += 1;
        } else if i > lo && !before(i - 1) {
            i -= 1;
        } else {
            return i;
        }
    }
    let (mut lo, mut hi) = (lo, hi);
    while lo < hi {
        let m = lo + (hi - lo) / 2;
        if before(m) {
            lo = m + 1;
        } else {
            hi = m;
        }
    }
    lo
}

/// How many places around its hint [`crossing`] tests at once.
const NEAR: usize = 4;

/// [`boundary`] for a boundary that moves back and forth by a place or two between calls:
/// tests the `NEAR` places around `start` all at once (no branch to mispredict on which way
/// it moved) and counts, falling back to [`boundary`] when the boundary is outside them.
fn crossing(lo: usize, hi: usize, start: usize, before: impl Fn(usize) -> bool) -> usize {
    if hi - lo >= NEAR {
        let c = start.saturating_sub(NEAR / 2).clamp(lo, hi - NEAR);
        let count: usize = (0..NEAR).map(|d| usize::from(before(c + d))).sum();
        // `before` holds on a prefix, so a count strictly inside 0..NEAR puts the boundary
        // right after the last place that passed; at a range end, 0 or NEAR does too.
        if (count > 0 || c == lo) && (count < NEAR || c + NEAR == hi) {
            return c + count;
        }
    }
    boundary(lo, hi, start, before)
}

impl SortedWindow {
    pub(crate) fn new(cap: usize) -> Self {
        SortedWindow {
            cap,
            order: Vec::with_capacity(cap),
            oldest: 0,
            sorted: Vec::with_capacity(cap),
            split_hint: 0,
            below_hint: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.sorted.len()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.sorted.len() >= self.cap
    }

    /// Adds a finite value, dropping the oldest when full. When full, the values between the
    /// oldest's place and the new one's shift by one place, in one move (a remove and an
    /// insert would move about twice as many).
    pub(crate) fn push(&mut self, x: f64) {
        debug_assert!(x.is_finite());
        let x = to_key(x);
        let place = |s: &[i64], y: i64| s.partition_point(|&v| v < y);
        if self.order.len() < self.cap {
            self.order.push(x);
            let j = place(&self.sorted, x);
            self.sorted.insert(j, x);
            return;
        }
        let old = std::mem::replace(&mut self.order[self.oldest], x);
        self.oldest += 1;
        if self.oldest == self.cap {
            self.oldest = 0;
        }
        let s = &mut self.sorted;
        // `old` is in `sorted` because every pushed value is inserted there.
        let (i, j) = (place(s, old), place(s, x));
        if j > i {
            s.copy_within(i + 1..j, i);
            s[j - 1] = x;
        } else {
            s.copy_within(j..i, j + 1);
            s[j] = x;
        }
    }

    /// The median; NaN when empty.
    pub(crate) fn median(&self) -> f64 {
        let n = self.sorted.len();
        let at = |i: usize| from_key(self.sorted[i]);
        if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            at(n / 2)
        } else {
            (at(n / 2 - 1) + at(n / 2)) / 2.0
        }
    }

    /// The (unscaled) median absolute deviation from `med`.
    ///
    /// The deviations of the values below `med` grow leftwards and those of the others grow
    /// rightwards, so they form two ascending runs read straight off the sorted window, and
    /// the median deviation is an order statistic of their union: the `r + 1` smallest
    /// deviations are the first `i` of one run and the first `r + 1 - i` of the other, for the
    /// `i` where the runs cross. That `i` (like the median's place) moves by a step or two
    /// from one point to the next, so it is found by a short walk from the last one, falling
    /// back to binary search, and an even window's second order statistic is the smaller of
    /// the two runs' next deviations. No allocation. (Equal deviations are equal numbers, so
    /// which run a tie is taken from cannot change the value: the result is exactly a merge's.
    /// A zero MAD may come out as -0 where a merge gives +0; callers only ask whether it is
    /// above 0.)
    pub(crate) fn mad(&mut self, med: f64) -> f64 {
        let s = &self.sorted;
        let n = s.len();
        if n == 0 {
            return f64::NAN;
        }
        let med_key = to_key(med);
        let split = boundary(0, n, self.split_hint, |i| s[i] < med_key);
        let (a_len, b_len) = (split, n - split);
        let a = |i: usize| med - from_key(s[split - 1 - i]);
        let b = |j: usize| from_key(s[split + j]) - med;
        // The rank wanted (from 0): the middle one, or the lower of the middle two.
        let r = (n - 1) / 2;
        let (lo, hi) = ((r + 1).saturating_sub(b_len), (r + 1).min(a_len));
        let i = crossing(lo, hi, self.below_hint, |i| a(i) < b(r - i));
        self.split_hint = split;
        self.below_hint = i;
        let j = r + 1 - i;
        // `max` and `min` compile without branches (which run the k-th deviation comes from
        // is a coin toss, so a branch would be mispredicted half the time).
        let kth = match (i > 0, j > 0) {
            (true, true) => a(i - 1).max(b(j - 1)),
            (true, false) => a(i - 1),
            _ => b(j - 1),
        };
        if n % 2 == 1 {
            return kth;
        }
        // The next smallest deviation is the smaller of the two runs' next ones.
        let next = match (i < a_len, j < b_len) {
            (true, true) => a(i).min(b(j)),
            (true, false) => a(i),
            _ => b(j),
        };
        (kth + next) / 2.0
    }

    /// The `q`-quantile as an order statistic, the value at place `floor(q·(n - 1))`; NaN
    /// when empty.
    pub(crate) fn order_statistic(&self, q: f64) -> f64 {
        match self.sorted.len() {
            0 => f64::NAN,
            n => from_key(self.sorted[order_place(n, q)]),
        }
    }

    /// Mean absolute deviation from `med`; O(n).
    pub(crate) fn mean_abs_dev(&self, med: f64) -> f64 {
        let n = self.sorted.len();
        if n == 0 {
            return f64::NAN;
        }
        self.sorted
            .iter()
            .map(|&k| (from_key(k) - med).abs())
            .sum::<f64>()
            / n as f64
    }

    /// Mean absolute deviation from `med`, each deviation capped at `cap`; O(n).
    pub(crate) fn mean_abs_dev_capped(&self, med: f64, cap: f64) -> f64 {
        let n = self.sorted.len();
        if n == 0 {
            return f64::NAN;
        }
        self.sorted
            .iter()
            .map(|&k| (from_key(k) - med).abs().min(cap))
            .sum::<f64>()
            / n as f64
    }

    /// Median and robust scale (1.4826·MAD, else 1.2533·mean absolute deviation, else 0).
    pub(crate) fn center_scale(&mut self) -> (f64, f64, bool) {
        let med = self.median();
        let mad = self.mad(med);
        if mad > 0.0 {
            (med, mad * stats::MAD_TO_SIGMA, false)
        } else {
            (med, self.mean_abs_dev(med) * MEAN_AD_TO_SIGMA, true)
        }
    }

    /// The window's values in ascending (total) order.
    #[cfg(test)]
    fn sorted_values(&self) -> Vec<f64> {
        self.sorted.iter().map(|&k| from_key(k)).collect()
    }
}

/// Expanding mean and standard deviation (Welford) of every finite value seen so far; the
/// zscore and mad detectors scale their floors by it so the floors use the past only.
#[derive(Debug, Clone, Default)]
pub(crate) struct Expanding {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Expanding {
    pub(crate) fn push(&mut self, x: f64) {
        self.n += 1.0;
        let d = x - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (x - self.mean);
    }

    pub(crate) fn std(&self) -> f64 {
        if self.n > 0.0 {
            (self.m2 / self.n).max(0.0).sqrt()
        } else {
            0.0
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::{Arc, Mutex};
    use tsad_core::CancelFlag;

    #[test]
    fn score_in_chunks_covers_everything_reports_and_stops_when_cancelled() {
        let seen = Arc::new(Mutex::new(Vec::<Progress>::new()));
        let sink = seen.clone();
        let ctx = FitContext::new().with_progress(Arc::new(move |p: &Progress| {
            sink.lock().unwrap().push(p.clone());
        }));
        let n = 2 * SCORE_CHUNK + 5;
        let mut covered = Vec::new();
        score_in_chunks(n, &ctx, |r| covered.extend(r)).unwrap();
        assert_eq!(covered, (0..n).collect::<Vec<_>>());
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        assert!(
            seen.iter()
                .all(|p| p.stage == "score" && p.eta_seconds.is_some())
        );
        assert!(seen.windows(2).all(|w| w[0].fraction < w[1].fraction));
        assert_eq!(seen[2].fraction, 1.0);
        assert_eq!(seen[2].eta_seconds, Some(0.0));

        let cancel = CancelFlag::new();
        let ctx = FitContext::new().with_cancel(cancel.clone());
        let mut chunks = 0;
        let err = score_in_chunks(n, &ctx, |_| {
            chunks += 1;
            cancel.cancel();
        })
        .unwrap_err();
        assert!(matches!(err, Error::Cancelled));
        assert_eq!(chunks, 1, "stops before the next chunk");
    }

    #[test]
    fn sorted_window_median_and_mad_match_a_full_sort() {
        let xs = [5.0, 1.0, 9.0, 2.0, 2.0, 7.0, 3.0, 8.0, 4.0, 6.0, 0.5];
        for cap in 1..=6 {
            let mut w = SortedWindow::new(cap);
            for (i, &x) in xs.iter().enumerate() {
                w.push(x);
                let start = (i + 1).saturating_sub(cap);
                let (med, mad) = stats::median_mad(&xs[start..=i]).unwrap();
                assert_eq!(w.median(), med, "cap {cap} at {i}");
                assert_eq!(w.mad(med), mad, "cap {cap} at {i}");
            }
        }
    }

    /// The MAD by the merge walk the order-statistic search replaced.
    fn mad_by_merge(sorted: &[f64], med: f64) -> f64 {
        let split = sorted.partition_point(|v| *v < med);
        let mut deviations: Vec<f64> = sorted[..split].iter().rev().map(|v| med - v).collect();
        let right: Vec<f64> = sorted[split..].iter().map(|v| v - med).collect();
        // Both runs ascend: a stable merge.
        deviations.extend(right);
        deviations.sort_by(f64::total_cmp);
        let k = sorted.len() / 2;
        if sorted.len() % 2 == 1 {
            deviations[k]
        } else {
            (deviations[k - 1] + deviations[k]) / 2.0
        }
    }

    /// The window stays sorted, and the search agrees with a merge bit for bit: many ties,
    /// values equal to the median, odd and even windows, short and long.
    #[test]
    fn mad_by_search_equals_mad_by_merge() {
        let mut rng = tsad_testing::Rng::new(3);
        for cap in [1, 2, 3, 4, 7, 48, 49, 1000] {
            let mut w = SortedWindow::new(cap);
            let mut pushed = Vec::new();
            for i in 0..3000 {
                let x = if i % 3 == 0 {
                    rng.below(5) as f64
                } else {
                    rng.normal() * 1e3
                };
                w.push(x);
                pushed.push(x);
                let mut last = pushed[pushed.len().saturating_sub(cap)..].to_vec();
                last.sort_by(f64::total_cmp);
                assert_eq!(
                    w.sorted_values(),
                    last,
                    "cap {cap} at {i}: the window, sorted"
                );
                let med = w.median();
                let want = mad_by_merge(&last, med);
                assert_eq!(w.mad(med).to_bits(), want.to_bits(), "cap {cap} at {i}");
            }
        }
    }

    /// Median, robust scale and whether the scale fell back to the mean absolute deviation,
    /// by sorting the window afresh: the definition [`SortedWindow::center_scale`] must meet.
    pub(crate) fn center_scale_by_sort(window: &[f64]) -> (f64, f64, bool) {
        let mut v = window.to_vec();
        v.sort_by(f64::total_cmp);
        let mid = |v: &[f64]| {
            let n = v.len();
            if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            }
        };
        let med = mid(&v);
        let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
        dev.sort_by(f64::total_cmp);
        let mad = mid(&dev);
        if mad > 0.0 {
            (med, mad * stats::MAD_TO_SIGMA, false)
        } else {
            let mean_ad = v.iter().map(|x| (x - med).abs()).sum::<f64>() / v.len() as f64;
            (med, mean_ad * MEAN_AD_TO_SIGMA, true)
        }
    }

    /// A value for the window property: ties (small integers), signed zeros, NaN (skipped,
    /// as the scorers skip it), spread-out values and large ones.
    fn window_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            4 => (-6i32..6).prop_map(f64::from),
            1 => Just(-0.0),
            1 => Just(0.0),
            1 => Just(f64::NAN),
            4 => -1e3f64..1e3,
            1 => -1e300f64..1e300,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// After every push, the window's median, scale and fallback flag equal a fresh sort's
        /// bit for bit (the walks start from hints left by earlier windows, so long random
        /// sequences exercise them), on windows short and long, odd and even, filling up and
        /// sliding, with NaNs skipped.
        #[test]
        fn center_scale_equals_a_sort(
            cap in prop_oneof![1usize..12, 40usize..60, 200usize..260],
            values in prop::collection::vec(window_value(), 0..1200),
        ) {
            let mut w = SortedWindow::new(cap);
            let mut kept = Vec::new();
            for (i, &x) in values.iter().enumerate() {
                if x.is_nan() {
                    continue;
                }
                w.push(x);
                kept.push(x);
                let last = &kept[kept.len().saturating_sub(cap)..];
                let (med, scale, fell_back) = w.center_scale();
                let (want_med, want_scale, want_fell_back) = center_scale_by_sort(last);
                prop_assert_eq!(med.to_bits(), want_med.to_bits(), "median at {}", i);
                prop_assert_eq!(scale.to_bits(), want_scale.to_bits(), "scale at {}", i);
                prop_assert_eq!(fell_back, want_fell_back, "fallback at {}", i);
            }
        }
    }

    #[test]
    fn interpolation_fills_inside_and_edges() {
        let v = interpolate(&[f64::NAN, 1.0, f64::NAN, f64::NAN, 4.0, f64::NAN]).unwrap();
        assert_eq!(v, vec![1.0, 1.0, 2.0, 3.0, 4.0, 4.0]);
        assert!(interpolate(&[f64::NAN]).is_none());
    }

    #[test]
    fn problems_are_all_listed() {
        let mut p = Problems::new();
        p.check(false, "window", || "must be >= 3, got 1".into());
        p.check(true, "k", || unreachable!());
        p.check(false, "step", || "must be >= 1, got 0".into());
        let e = p.finish().unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid parameter `window, step`: `window`: must be >= 3, got 1; `step`: must be >= 1, got 0"
        );
    }
}
