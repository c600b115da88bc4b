//! Calibration: one common scale for every detector's raw score.
//!
//! A [`Calibration`] is fitted on *reference* scores (the scores a fitted model gives the
//! training part, which is meant to be normal) and maps any raw score `s` to its **rarity**,
//! `-log10 P(score >= s)` under that reference: rarity 3 means "about one normal point in a
//! thousand scores this high", rarity 5 "one in a hundred thousand". The scale is the same for
//! a robust z, a squared reconstruction error or a Benford MAD, so one threshold (the `auto`
//! rule: "about one false alarm per N points" is a rarity cut at `log10 N`) and one ensemble
//! vote fit every detector.
//!
//! **The bulk** (scores up to the reference's 98th percentile) is the empirical distribution,
//! kept as [`QUANTILES`] evenly spaced quantiles. **The tail** (above it, where data is scarce
//! and a long series will go further than the reference ever did) is a generalised Pareto
//! distribution fitted to the excesses, the peaks-over-threshold model of SPOT (Siffer et al.,
//! "Anomaly Detection in Streams with Extreme Value Theory", KDD 2017). Its shape is fitted by
//! probability-weighted moments (Hosking & Wallis, Technometrics 1987) and clamped to
//! `[0, MAX_SHAPE]` (moments do not exist beyond shape 1): a light (negative-shape) tail would put a hard end on the scores, beyond
//! which every score is equally impossible, so we use the exponential tail there instead,
//! which errs on the side of fewer alarms and keeps the scale strictly increasing.
//!
//! **Degenerate references** (all scores equal above the 98th percentile, as for a detector
//! that scores 0 for "nothing new"): any score above that value is rarer than everything the
//! reference showed; the tail then decays on the scale of the reference's whole spread (or,
//! when every reference score is equal, on a scale of 1e-9 of the value), so "beyond anything
//! seen" reads as very rare.
//!
//! **Ties within rounding**: a score above the tail's start by no more than [`TIE_TOLERANCE`]
//! of it counts as the start itself, so scores on a plateau that differ only in their last
//! bits are not read as rarer than the plateau.
//!
//! Rarity is capped at [`MAX_RARITY`] (p = 1e-300 is not a probability anyone means); NaN
//! stays NaN.

use crate::stats;
use serde::{Deserialize, Serialize};

/// Quantiles kept of the reference's bulk (a saved calibration is about 8 kB).
pub const QUANTILES: usize = 513;
/// The share of reference scores modelled by the tail instead of the empirical bulk.
pub const TAIL_SHARE: f64 = 0.02;
/// Fewest excesses a tail is fitted on; with fewer, the tail is the degenerate one.
pub const MIN_TAIL_POINTS: usize = 8;
/// Where the tail starts in [`Calibration::fit_contaminated`]: the top 5%.
pub const ROBUST_TAIL: f64 = 0.05;
/// The share of its top scores (rounded up) a series calibrated on itself leaves out as presumed anomalies
/// (see [`Calibration::fit_contaminated`]).
pub const SELF_TRIM: f64 = 0.005;
/// Largest tail shape used (heavier tails are clamped to it).
pub const MAX_SHAPE: f64 = 0.9;
/// Pseudo-excesses of shape 0 the fitted shape is shrunk with (see `pwm_gpd`).
const SHAPE_PRIOR: f64 = 40.0;
/// The highest rarity reported.
pub const MAX_RARITY: f64 = 30.0;
/// How much rarer than among its own series' scores [`Calibration::apply_to_new`] rates a score.
pub const WITHIN_MARGIN: f64 = 1.0;
/// Fewest finite scores for [`Calibration::apply_to_new`] to weigh the series' own scores.
pub const MIN_WITHIN_POINTS: usize = 5000;
/// Scores above the tail's start at most this many points apart are one cluster (as flagged
/// points this close form one event at the default merge gap); see
/// [`Calibration::fit_contaminated`].
pub const CLUSTER_GAP: usize = 2;
/// Relative distance within which a score above the tail's start counts as tied with it
/// (rounding: a sum of tens of terms in another order differs in its last few bits, 1e-15).
pub const TIE_TOLERANCE: f64 = 1e-12;

/// Whether `s` equals `reference` up to rounding ([`TIE_TOLERANCE`] of `reference`'s size);
/// around 0, only 0 itself.
pub fn ties(s: f64, reference: f64) -> bool {
    (s - reference).abs() <= reference.abs() * TIE_TOLERANCE
}
/// Reference scores beyond which the bulk's quantiles come from an evenly strided sample.
pub const BULK_SAMPLE: usize = 1 << 16;

/// A fitted map from raw scores to rarity. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Finite reference scores it was fitted on.
    pub count: usize,
    /// Evenly spaced quantiles of the reference (`quantiles[j]` at probability `j / (len-1)`).
    pub quantiles: Vec<f64>,
    /// The tail model above `tail.threshold`.
    pub tail: Tail,
}

/// The generalised Pareto tail: `P(S > s) = share · (1 + shape·(s - threshold)/scale)^(-1/shape)`
/// for `s > threshold` (the exponential `share · exp(-(s - threshold)/scale)` at shape 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tail {
    /// Where the tail starts (the reference's `1 - share` quantile).
    pub threshold: f64,
    /// The share of reference scores above `threshold`.
    pub share: f64,
    /// Shape (xi), in `[0, MAX_SHAPE]`.
    pub shape: f64,
    /// Scale (sigma), > 0.
    pub scale: f64,
}

impl Calibration {
    /// Fits a calibration on `reference` (NaN and infinite scores are ignored). `None` when no
    /// reference score is finite.
    pub fn fit(reference: &[f64]) -> Option<Calibration> {
        let mut v = stats::finite(reference);
        if v.is_empty() {
            return None;
        }
        let quantiles = bulk_quantiles(&v);
        let tail = fit_tail(&mut v);
        Some(Calibration {
            count: v.len(),
            quantiles,
            tail,
        })
    }

    /// Fits on `scores` that may hold the anomalies themselves (a series calibrated on its own
    /// scores). The top [`SELF_TRIM`] of the scores are left out as presumed anomalies, with the
    /// scores clustered around them (runs above the tail's start, gaps of at most
    /// [`CLUSTER_GAP`]: a spike's shoulders, a decomposition's leak around a level shift), and
    /// the tail is fitted from the 95th percentile of the rest (a wider base than
    /// [`Calibration::fit`]'s, so the few anomalies left weigh less in it); the bulk stays the
    /// empirical distribution of all scores. A tail that starts on tied scores (a detector
    /// that scores 0 unless something is new) keeps all its few higher scores.
    ///
    /// Leaving the clusters out (measured at the defaults, fitted on itself): the 10,000-point
    /// demo, 3 seeds, `seasonal` found 28 of 33 anomalies instead of 18 and `robust-stats` 29
    /// instead of 12, with at most 14 events each; NAB's 58 files in batch, `robust-stats` 54
    /// windows instead of 47 for 161 false events instead of 126 (F1 0.326 against 0.325); on
    /// 20 series of 10,000 points of Gaussian noise `mad` raised 13 events instead of 12, and
    /// of Student-t(5) noise 95 instead of 93. [`Calibration::apply_to_new`]'s own-series fit
    /// keeps the neighbours: left out there too, SMAP's `mad` fell from F1 0.58 to 0.55.
    ///
    /// How much to leave out is a trade-off between a heavy tail and contamination, which one
    /// series cannot tell apart. Measured at the default threshold with `robust-stats`: on the
    /// 58 NAB files (batch, event level) leaving out 0.5% gives 123 false events where 2% gives
    /// 694 and an exponential tail from the bulk 730; on the demo, whose short forms are 0.5%
    /// (10,000 points) to 2.5% (2,000 points) anomalous, the smaller anomalies then stay below
    /// the cut unless the detector is fitted on a normal part (`Training::Prefix`), which finds
    /// 10-11 of 11.
    pub fn fit_contaminated(scores: &[f64]) -> Option<Calibration> {
        Calibration::fit_self(scores, Own::Calibration)
    }

    /// [`Calibration::fit_contaminated`] or the reference of [`Calibration::apply_to_new`]'s
    /// cap (see [`Own`]).
    fn fit_self(scores: &[f64], own: Own) -> Option<Calibration> {
        let long = scores.len() >= PARALLEL_FIT;
        Calibration::fit_self_on(scores, own, long)
    }

    /// [`Calibration::fit_self`], with the bulk on a thread of its own when `parallel` (the
    /// same result either way).
    fn fit_self_on(scores: &[f64], own: Own, parallel: bool) -> Option<Calibration> {
        // The finite scores in time order, read again by each step instead of copied: at a
        // million points a copy and a selection over all of it were a third of the fit.
        let finite = || scores.iter().copied().filter(|x| x.is_finite());
        let n = finite().count();
        if n == 0 {
            return None;
        }
        // Detectors leave their warm-up unscored: when every score after it is finite, the
        // sample skips to its scores instead of testing each one in between.
        let warm_up = scores.iter().take_while(|x| !x.is_finite()).count();
        let mut sample = if n == scores.len() - warm_up {
            strided_sample(scores[warm_up..].iter().copied(), n)
        } else {
            strided_sample(finite(), n)
        };
        // The bulk (sorting the sample) and the tail (passes over every score) need nothing
        // from each other but the tail's pivot, one selection in the sample: on a long series
        // the bulk is worked out on another core meanwhile.
        let pivot = tail_pivot(&mut sample, n);
        let mut bulk = || {
            stats::sort_total(&mut sample);
            quantiles_of_sorted(&sample)
        };
        let tail = || {
            let (start, top) = contaminated_tail_start(finite(), n, pivot, own == Own::Cap);
            let excesses = match own {
                Own::Calibration => excesses_outside_clusters(finite(), start, top),
                Own::Cap => {
                    let mut is_top = top.marker();
                    finite()
                        .filter(|&x| x > start && !is_top(x))
                        .map(|x| x - start)
                        .collect()
                }
            };
            (start, top, excesses)
        };
        let (quantiles, (start, top, excesses)) = if parallel {
            std::thread::scope(|scope| {
                let bulk = scope.spawn(bulk);
                let tail = tail();
                (bulk.join().expect("sorting does not panic"), tail)
            })
        } else {
            (bulk(), tail())
        };
        let tail = if excesses.len() >= MIN_TAIL_POINTS {
            let (shape, scale) = pwm_gpd(&excesses);
            Tail {
                threshold: start,
                share: excesses.len() as f64 / n as f64,
                shape,
                scale,
            }
        } else {
            // Too few distinct high scores for a tail of their own: the plain fit's, on the
            // scores that are not left out (all of them when none is).
            let mut is_top = top.marker();
            fit_tail(&mut finite().filter(|&x| !is_top(x)).collect::<Vec<_>>())
        };
        Some(Calibration {
            count: n,
            quantiles,
            tail,
        })
    }

    /// The probability that a reference score is at least `s` (NaN for NaN).
    pub fn tail_probability(&self, s: f64) -> f64 {
        self.probability_with(s, |q, s| q.partition_point(|&x| x < s))
    }

    /// [`Calibration::tail_probability`], finding the first grid point `>= s` with
    /// `first_at_least(grid, s)`.
    fn probability_with(&self, s: f64, first_at_least: impl Fn(&[f64], f64) -> usize) -> f64 {
        if s.is_nan() {
            return f64::NAN;
        }
        let t = &self.tail;
        let s = t.snap(s);
        if s > t.threshold {
            let y = (s - t.threshold) / t.scale;
            let p = if t.shape > 1e-9 {
                t.share * (1.0 + t.shape * y).powf(-1.0 / t.shape)
            } else {
                t.share * (-y).exp()
            };
            return p.max(10f64.powf(-MAX_RARITY));
        }
        // The bulk: 1 - F(s) from the quantile grid, linear between grid points.
        let q = &self.quantiles;
        if s < q[0] {
            return 1.0;
        }
        let m = (q.len() - 1) as f64;
        // The first grid point >= s. P(S >= s), not P(S > s): a score tied with grid points
        // is as rare as the first of them (not rare at all when many reference scores tie).
        let lo = first_at_least(q, s);
        let f = if lo >= q.len() {
            1.0
        } else if q[lo] == s {
            lo as f64 / m
        } else {
            let (a, b) = (q[lo - 1], q[lo]);
            ((lo - 1) as f64 + (s - a) / (b - a)) / m
        };
        // Never rarer than the tail's start: the bulk ends where the tail begins.
        (1.0 - f).max(t.share)
    }

    /// The rarity of `s`: `-log10` of [`Calibration::tail_probability`], in `[0, MAX_RARITY]`
    /// (NaN for NaN). In the bulk it is interpolated between the grid points' rarities rather
    /// than taken of the interpolated probability, so no score needs a logarithm: the two
    /// differ most on the bulk's last grid step, by at most 5e-4 where the tail holds 2% of the
    /// reference or more (every fitted tail), and by up to 0.03 (at rarity 2.7) where a
    /// degenerate tail leaves the grid to its end.
    pub fn rarity(&self, s: f64) -> f64 {
        let m = (self.quantiles.len() - 1) as f64;
        let q = &self.quantiles;
        self.rarity_with(
            s,
            self.tail.start_rarity(),
            |q, s| q.partition_point(|&x| x < s),
            |j| grid_rarity(j, m),
            |j| grid_slope(q, j, m),
        )
    }

    /// [`Calibration::rarity`], given the tail's [`Tail::start_rarity`] `at_start`, finding
    /// the first grid point `>= s` with `first_at_least(grid, s)`, the rarity of grid point
    /// `j` with `at_grid(j)` and the slope between grid points `j - 1` and `j` with
    /// `slope(j)` (see [`grid_slope`]).
    #[inline(always)]
    fn rarity_with(
        &self,
        s: f64,
        at_start: f64,
        first_at_least: impl Fn(&[f64], f64) -> usize,
        at_grid: impl Fn(usize) -> f64,
        slope: impl Fn(usize) -> f64,
    ) -> f64 {
        if s.is_nan() {
            return f64::NAN;
        }
        let t = &self.tail;
        let s = t.snap(s);
        if s > t.threshold {
            // -log10 of the tail's P(S >= s), without the power and exponential.
            let y = (s - t.threshold) / t.scale;
            let beyond = if t.shape > 1e-9 {
                (t.shape * y).ln_1p() / (t.shape * std::f64::consts::LN_10)
            } else {
                y * std::f64::consts::LOG10_E
            };
            return (at_start + beyond).clamp(0.0, MAX_RARITY);
        }
        let q = &self.quantiles;
        if s < q[0] {
            return 0.0;
        }
        // The first grid point >= s. P(S >= s), not P(S > s): a score tied with grid points
        // is as rare as the first of them (not rare at all when many reference scores tie).
        let lo = first_at_least(q, s);
        let r = if lo >= q.len() {
            at_start
        } else if q[lo] == s {
            at_grid(lo)
        } else {
            at_grid(lo - 1) + slope(lo) * (s - q[lo - 1])
        };
        r.min(at_start).clamp(0.0, MAX_RARITY)
    }

    /// [`Calibration::rarity`] of every score; long series are split across the available
    /// cores. From [`TABLE_MIN_SCORES`] scores on, the bulk's rarity (below the tail, where
    /// no default flag is taken) is read off a table, within [`TABLE_TOLERANCE`] of
    /// [`Calibration::rarity`]: half the time (1,000,000 scores of the demo: 5.1-5.3 ms
    /// against 9.9-12.0 ms, two alternating rounds), and the tail's rarity stays exact.
    pub fn apply(&self, scores: &[f64]) -> Vec<f64> {
        self.apply_tabled(scores, scores.len() >= TABLE_MIN_SCORES)
    }

    /// [`Calibration::apply`], with the bulk read off a [`BulkTable`] when `tabled`.
    fn apply_tabled(&self, scores: &[f64], tabled: bool) -> Vec<f64> {
        let q = &self.quantiles;
        // Only scores up to the tail's start are looked up in the grid.
        let grid = GridIndex::new(q, self.tail.threshold);
        let m = (q.len() - 1) as f64;
        let rarities: Vec<f64> = (0..q.len()).map(|j| grid_rarity(j, m)).collect();
        // Between tied grid points (never used) the slope is not a number.
        let slopes: Vec<f64> = (0..q.len())
            .map(|j| if j == 0 { 0.0 } else { grid_slope(q, j, m) })
            .collect();
        let at_start = self.tail.start_rarity();
        let exact = |s: f64| {
            self.rarity_with(
                s,
                at_start,
                |_, s| grid.first_at_least(s),
                |j| rarities[j],
                |j| slopes[j],
            )
        };
        let table = if tabled {
            BulkTable::new(q[0], self.tail.threshold, exact)
        } else {
            BulkTable::EMPTY
        };
        let fill = |from: &[f64], to: &mut [f64]| {
            for (r, &s) in to.iter_mut().zip(from) {
                *r = table.rarity(s).unwrap_or_else(|| exact(s));
            }
        };
        let mut out = vec![0.0; scores.len()];
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = scores.len().div_ceil(threads).max(PARALLEL_CHUNK);
        if chunk >= scores.len() {
            fill(scores, &mut out);
        } else {
            std::thread::scope(|scope| {
                for (from, to) in scores.chunks(chunk).zip(out.chunks_mut(chunk)) {
                    scope.spawn(|| fill(from, to));
                }
            });
        }
        out
    }

    /// [`Calibration::apply`] for the scores of data scored against this calibration's
    /// reference (new data, or a series fitted on a part of itself): each rarity is at most
    /// [`WITHIN_MARGIN`] above the score's rarity among `scores` themselves (calibrated as
    /// [`Calibration::fit_contaminated`] calibrates a series on itself).
    ///
    /// A point is then an alarm when it is rare against the normal data *and* stands out of
    /// the data being scored. When the new data has moved away from the training part (a
    /// regime the training never saw, a sensor re-scaled), its ordinary points stop being
    /// alarms and what stands out of the new level remains. Measured on NASA SMAP (fit on
    /// `train/`, score `test/`, every detector at its defaults, event-level F1): `robust-stats`
    /// 0.36 -> 0.59, `seasonal` 0.13 -> 0.36, `lstm_autoencoder` 0.19 -> 0.45, `lstm_forecast`
    /// 0.32 -> 0.37, `nab-best` 0.58 -> 0.58, `mad` 0.59 -> 0.56, `zscore` 0.60 -> 0.55.
    ///
    /// The series' own calibration leaves out only its top 0.5%, so where anomalies are a
    /// larger share of a short series they hide each other: on the 2,000-point demo (2.5%
    /// anomalous) fitted on its first tenth the cap hid every anomaly, while from 10,000 points
    /// (0.5%) it changed nothing. Below [`MIN_WITHIN_POINTS`] finite scores this is therefore
    /// [`Calibration::apply`].
    ///
    /// A level held for a stretch of the new data (up to a quarter of it) is left out of the
    /// series' own scores, so that it neither makes their tail nor is judged by itself (see
    /// [`held_runs`]). Measured on SMAP as above, this step alone: `lstm_forecast` 0.636 ->
    /// 0.707, `lstm_autoencoder` 0.633 -> 0.647, `seasonal` 0.602 -> 0.610, `robust-stats`
    /// 0.607 -> 0.613, the others unchanged (with each held run one event, `lstm_forecast`
    /// 0.726; docs/QUALITY.md, "sixth session").
    pub fn apply_to_new(&self, scores: &[f64]) -> Vec<f64> {
        let mut rarity = self.apply(scores);
        if scores.iter().filter(|s| s.is_finite()).count() < MIN_WITHIN_POINTS {
            return rarity;
        }
        let outside_held = outside_held_runs(scores, &rarity);
        let reference = outside_held.as_deref().unwrap_or(scores);
        if let Some(own) = Calibration::fit_self(reference, Own::Cap) {
            for (r, o) in rarity.iter_mut().zip(own.apply(scores)) {
                *r = r.min(o + WITHIN_MARGIN);
            }
        }
        rarity
    }
}

/// Rarity from which a point counts towards a held run (see [`held_runs`]): about one normal
/// point in a hundred.
pub const HELD_RARITY: f64 = 2.0;
/// Fewest points a held run spans, as a share of the series.
pub const HELD_SHARE: f64 = 0.01;
/// Most points in a row below [`HELD_RARITY`] inside a held run.
pub const HELD_GAP: usize = 12;
/// Most of the series held runs may cover; beyond it the series itself has moved.
pub const MAX_HELD_SHARE: f64 = 0.25;

/// The held runs of a series' rarities, in time order (first and last point, inclusive): the
/// stretches of at least [`HELD_SHARE`] of the series, at least half of whose points have a
/// rarity of at least [`HELD_RARITY`], with at most [`HELD_GAP`] points in a row below it. A
/// level the normal data never showed, held for a while: [`Calibration::apply_to_new`] keeps
/// such runs out of a series' own reference, and [`crate::events`] makes the flags inside
/// one run one event rather than a fragment per dip of its scores.
pub fn held_runs(rarity: &[f64]) -> Vec<(usize, usize)> {
    let shortest = ((rarity.len() as f64 * HELD_SHARE).ceil() as usize).max(1);
    let mut runs = Vec::new();
    // The open run: its first point, its last point at or above the level, how many are.
    let mut run: Option<(usize, usize, usize)> = None;
    let mut close = |run: Option<(usize, usize, usize)>| {
        if let Some((first, last, hits)) = run {
            let span = last + 1 - first;
            if span >= shortest && 2 * hits >= span {
                runs.push((first, last));
            }
        }
    };
    // Most points are below the level: a block without one (tested at once, an OR the
    // compiler vectorises) only ends the open run once the gap is too long.
    const BLOCK: usize = 16;
    let mut start = 0;
    while start < rarity.len() {
        let block = &rarity[start..(start + BLOCK).min(rarity.len())];
        if !block.iter().fold(false, |any, &r| any | (r >= HELD_RARITY)) {
            let end = start + block.len();
            if run.is_some_and(|(_, last, _)| end - 1 - last > HELD_GAP) {
                close(run.take());
            }
            start = end;
            continue;
        }
        for (i, &r) in (start..).zip(block) {
            if r >= HELD_RARITY {
                run = match run {
                    Some((first, last, hits)) if i - last <= HELD_GAP + 1 => {
                        Some((first, i, hits + 1))
                    }
                    other => {
                        close(other);
                        Some((i, i, 1))
                    }
                };
            }
        }
        start += block.len();
    }
    close(run);
    runs
}

/// `scores` with the points of [`held_runs`] (of their `rarity` against the reference) set to
/// NaN, for [`Calibration::apply_to_new`]'s own reference; `None` when there is no held run,
/// or when they cover more than [`MAX_HELD_SHARE`] of the series.
///
/// Left in the series' own scores, a held run made their tail: on the 10,000-point demo fitted
/// on its first tenth, the level shift of its last tenth (forecast errors of 24 to 46 where the
/// training part's reached 7) held every spike's rarity to 2 and the shift's own to 2.5 under
/// the cap, and the LSTM forecaster reported nothing. Judged against the rest of the series
/// instead, the spikes stand out again, and so does the held run. When held runs cover much of
/// the series, the series has moved as a whole, which is what the cap is for.
fn outside_held_runs(scores: &[f64], rarity: &[f64]) -> Option<Vec<f64>> {
    let runs = held_runs(rarity);
    let covered: usize = runs.iter().map(|&(a, b)| b + 1 - a).sum();
    if covered == 0 || covered as f64 > MAX_HELD_SHARE * scores.len() as f64 {
        return None;
    }
    let mut outside = scores.to_vec();
    for (a, b) in runs {
        outside[a..=b].fill(f64::NAN);
    }
    Some(outside)
}

/// What a series' calibration on its own scores ([`Calibration::fit_self`]) is for, which
/// decides what it leaves out of the tail as presumed anomalies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Own {
    /// The series' calibration ([`Calibration::fit_contaminated`]): the top scores go with the
    /// clusters around them. A tail that starts on tied scores (a detector that scores 0 unless
    /// something is new) keeps all its few higher scores: left out, they would leave nothing
    /// above the ties to judge them by, and every one of them would read as impossible.
    Calibration,
    /// The reference of [`Calibration::apply_to_new`]'s cap, which asks whether a score stands
    /// out of its own series: only the top scores themselves go, and they go above tied scores
    /// too. There the training part has already judged the few scores above the ties; kept,
    /// they would judge themselves: on SMAP's P-4 (fit on `train/`), 15 of 7,783 points at a
    /// level the training part never reached, all else 0, were held to rarity 4.15 (the 15
    /// alike: one in 14,000) while the cut is 5. More than the top [`SELF_TRIM`] at a new
    /// level is a shift of the series, which the cap still holds back unless it is held in
    /// one stretch (see `outside_held_runs`).
    Cap,
}

/// Fewest scores per thread in [`Calibration::apply`].
const PARALLEL_CHUNK: usize = 1 << 17;

/// Fewest scores for [`Calibration::fit_contaminated`] to work out the bulk on a thread of
/// its own while this one works out the tail.
const PARALLEL_FIT: usize = 1 << 18;

impl Tail {
    /// The rarity where the tail starts (`-log10 share`): the bulk is never rarer.
    fn start_rarity(&self) -> f64 {
        -self.share.log10()
    }

    /// `s`, or the tail's start when `s` lies above it by no more than rounding
    /// ([`TIE_TOLERANCE`] of its size). Where many scores tie at the start (a plateau of
    /// equal errors), the bulk rates the tie as common and anything above it as at least the
    /// tail's start rarity: without this, scores that differ from the plateau only in their
    /// last bits (summed in another order) read as that much rarer, and on SMAP's B-1
    /// (`lstm_autoencoder`, a new level held for 2,967 points) 27 of them made an event.
    fn snap(&self, s: f64) -> f64 {
        if s > self.threshold && ties(s, self.threshold) {
            self.threshold
        } else {
            s
        }
    }
}

/// The rarity of the bulk's grid point `j` of `m + 1`: `-log10(1 - j/m)` (infinite at `m`).
fn grid_rarity(j: usize, m: f64) -> f64 {
    -(1.0 - j as f64 / m).log10()
}

/// The bulk's rarity per unit of score between grid points `j - 1` and `j` of the grid `q`
/// (`0 < j`; not a number where they tie, which no score falls between). Precomputed by
/// [`Calibration::apply`], so interpolating takes no division.
fn grid_slope(q: &[f64], j: usize, m: f64) -> f64 {
    (grid_rarity(j, m) - grid_rarity(j - 1, m)) / (q[j] - q[j - 1])
}

/// Buckets of [`BulkTable`].
const TABLE_BUCKETS: usize = 4096;

/// How far [`Calibration::apply`]'s rarity may be from [`Calibration::rarity`] in the bulk.
pub const TABLE_TOLERANCE: f64 = 1e-3;

/// Scores from which [`Calibration::apply`] reads the bulk off a table (building it costs
/// about as much as 4,000 scores' exact rarity).
pub const TABLE_MIN_SCORES: usize = 1 << 15;

/// The bulk's rarity read off a table: its range (the lowest grid point to the tail's start)
/// cut into equal-width buckets, the exact rarity at every bucket edge, and linear
/// interpolation in between. The rarity never decreases, so within a bucket the interpolation
/// is off by at most the rise across it: where that rise exceeds [`TABLE_TOLERANCE`] (a jump
/// at tied reference scores, the steep end of the bulk) the bucket is not used and the score
/// gets its exact rarity. Flags are taken well above the bulk, which ends where the tail
/// starts (at the 98th percentile or lower: rarity 1.7 or less): the default cut is 5
/// decades and the standouts reach 2 below it, so the table moves no default flag (the
/// highest quiet point a standout is measured against may move by the tolerance). SMAP, NAB
/// and the demo gave the same events with and without it.
struct BulkTable {
    origin: f64,
    end: f64,
    per_width: f64,
    /// `buckets[b]`: the exact rarity at bucket `b`'s start and end; NaN for a bucket not
    /// used.
    buckets: Vec<[f64; 2]>,
}

impl BulkTable {
    /// A table every lookup misses.
    const EMPTY: BulkTable = BulkTable {
        origin: f64::INFINITY,
        end: f64::NEG_INFINITY,
        per_width: 0.0,
        buckets: Vec::new(),
    };

    /// The table of `exact` (a non-decreasing rarity) from `origin` to `end`; empty (every
    /// lookup misses) when the range is empty.
    fn new(origin: f64, end: f64, exact: impl Fn(f64) -> f64) -> Self {
        let width = (end - origin) / TABLE_BUCKETS as f64;
        let per_width = 1.0 / width;
        if !(width > 0.0 && per_width.is_finite()) {
            return BulkTable::EMPTY;
        }
        let edges: Vec<f64> = (0..=TABLE_BUCKETS)
            .map(|b| {
                let x = if b == TABLE_BUCKETS {
                    end
                } else {
                    origin + b as f64 * width
                };
                exact(x)
            })
            .collect();
        let buckets = edges
            .windows(2)
            .map(|e| {
                let rise = e[1] - e[0];
                if rise.is_nan() || rise > TABLE_TOLERANCE {
                    [f64::NAN; 2]
                } else {
                    [e[0], e[1]]
                }
            })
            .collect();
        BulkTable {
            origin,
            end,
            per_width,
            buckets,
        }
    }

    /// The tabled rarity of `s`, or `None` when `s` is outside the table or in a bucket not
    /// used.
    #[inline(always)]
    fn rarity(&self, s: f64) -> Option<f64> {
        if !(s >= self.origin && s <= self.end) {
            return None;
        }
        let y = (s - self.origin) * self.per_width;
        let b = (y as usize).min(TABLE_BUCKETS - 1);
        let [lo, hi] = self.buckets[b];
        let r = lo + (hi - lo) * (y - b as f64);
        (!r.is_nan()).then_some(r)
    }
}

/// Buckets of [`GridIndex`].
const GRID_BUCKETS: usize = 2048;

/// Grid points a [`GridIndex`] search steps over within a bucket before it bisects.
const GRID_STEPS: usize = 2;

/// A shortcut into the bulk's quantile grid: its range up to where the searches go (the
/// tail's start: above it no score is looked up) cut into equal-width buckets, each knowing
/// its first grid point. A search steps over the few grid points of its bucket below the
/// score without a branch (a bisection's branches, mispredicted, were most of
/// [`Calibration::apply`]'s time) and bisects when the bucket held more than [`GRID_STEPS`]
/// of them, or the score lies outside the range.
///
/// A value's bucket is `floor((x - origin) · per_width)`, for grid points and scores alike:
/// rounded the same way, it never decreases as the value grows, so the grid points of lower
/// buckets are below the score and those of higher buckets above it, and the search has only
/// its bucket's to look at.
struct GridIndex<'a> {
    grid: &'a [f64],
    /// The grid followed by an infinity, so a step can look one past its end.
    padded: Vec<f64>,
    origin: f64,
    per_width: f64,
    /// `starts[b]`: the first grid point in bucket `b` or above; empty for a grid with no
    /// usable range (then every search bisects the whole grid).
    starts: Vec<u32>,
}

impl<'a> GridIndex<'a> {
    /// The index of `grid` for searches of scores up to `upto`.
    fn new(grid: &'a [f64], upto: f64) -> Self {
        let origin = grid[0];
        let width = (upto.min(grid[grid.len() - 1]) - origin) / GRID_BUCKETS as f64;
        let per_width = 1.0 / width;
        let starts = if width > 0.0 && per_width.is_finite() && u32::try_from(grid.len()).is_ok() {
            // A grid point is below bucket `b` when its bucket is, `floor(y) < b`: `y < b`.
            (0..GRID_BUCKETS)
                .map(|b| grid.partition_point(|&x| (x - origin) * per_width < b as f64) as u32)
                .collect()
        } else {
            Vec::new()
        };
        let mut padded = grid.to_vec();
        padded.push(f64::INFINITY);
        GridIndex {
            grid,
            padded,
            origin,
            per_width,
            starts,
        }
    }

    /// The first grid point `>= s` (the grid's length when there is none), as
    /// `grid.partition_point(|&x| x < s)` finds it.
    #[inline(always)]
    fn first_at_least(&self, s: f64) -> usize {
        let q = self.grid;
        let b = (s - self.origin) * self.per_width;
        if self.starts.is_empty() || !(0.0..GRID_BUCKETS as f64).contains(&b) {
            return q.partition_point(|&x| x < s);
        }
        let p = &self.padded;
        let mut at = self.starts[b as usize] as usize;
        for _ in 0..GRID_STEPS {
            at += usize::from(p[at] < s);
        }
        // Every grid point before `at` is below `s` (see the type's docs): right unless the
        // bucket held more grid points below `s`.
        if p[at] >= s {
            at
        } else {
            q.partition_point(|&x| x < s)
        }
    }
}

/// The bulk's [`QUANTILES`] quantiles of finite `v` (not empty). Up to [`BULK_SAMPLE`] scores
/// they are exact; a longer reference is read through an evenly strided sample of about that
/// many, so fitting stays linear in the reference's length. The sample moves a quantile by a
/// few thousandths of probability (three standard errors are 0.006 at the median, 0.0016 at
/// the bulk's end), a rarity error of a few hundredths at most in the bulk (rarity below 1.7),
/// where no threshold sits; the tail is always fitted on every score.
fn bulk_quantiles(v: &[f64]) -> Vec<f64> {
    let mut sample = strided_sample(v.iter().copied(), v.len());
    stats::sort_total(&mut sample);
    quantiles_of_sorted(&sample)
}

/// The evenly strided sample of [`bulk_quantiles`] (not sorted) from the `n` finite scores `v`.
fn strided_sample(v: impl Iterator<Item = f64>, n: usize) -> Vec<f64> {
    v.step_by(n.div_ceil(BULK_SAMPLE)).collect()
}

/// The bulk's [`QUANTILES`] quantiles of a sorted sample (not empty).
fn quantiles_of_sorted(sample: &[f64]) -> Vec<f64> {
    (0..QUANTILES)
        .map(|j| stats::sorted_quantile(sample, j as f64 / (QUANTILES - 1) as f64))
        .collect()
}

/// A score that most likely lies below every order statistic [`contaminated_tail_start`]
/// needs of `n` scores, selected from their [`strided_sample`] (which this reorders): its
/// quantile a hundredth of probability and four of the sample's standard errors lower. Scores
/// below it are only counted, so the selections run over about a twelfth of the scores (8%).
fn tail_pivot(sample: &mut [f64], n: usize) -> f64 {
    if n <= sample.len() {
        // The sample is every score: no guess needed, the selection is as cheap as the pass.
        return f64::NEG_INFINITY;
    }
    let m = sample.len() as f64;
    let p = (1.0 - ROBUST_TAIL) * (1.0 - SELF_TRIM) - 0.01 - 4.0 / m.sqrt();
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    *sample
        .select_nth_unstable_by((p * m) as usize, f64::total_cmp)
        .1
}

/// Where [`Calibration::fit_contaminated`]'s tail starts and the top scores it leaves out,
/// from the `n` finite scores `v` (not empty), given a `pivot` that is probably below every
/// order statistic involved (any value is correct; a good guess is fast, see [`tail_pivot`]).
///
/// As written: the base is the `1 - ROBUST_TAIL` quantile of `v`; unless a tail that starts on
/// tied scores (a detector that scores 0 unless something is new) leaves fewer than 90% of the
/// expected scores above it, which are then all kept (but with `trim_above_ties`, see
/// [`Own::Cap`]), the top `SELF_TRIM` of `v` are left out;
/// the start is the `1 - ROBUST_TAIL` quantile of the rest. Every order statistic involved lies
/// at or above the rest's quantile position, so one selection over all of `v` puts them in its
/// upper part and the others select within that part (a twentieth of `v`) only. That part is
/// gathered from the scores at or above `pivot`; the `below` others are only counted, and if
/// the pivot was too high for the lowest rank needed, from all of them.
fn contaminated_tail_start(
    v: impl Iterator<Item = f64> + Clone,
    n: usize,
    pivot: f64,
    trim_above_ties: bool,
) -> (f64, TopScores) {
    let q = 1.0 - ROBUST_TAIL;
    if n == 1 {
        // Nothing above the one score, nothing left out.
        let only = v.clone().next().expect("one score");
        return (only, TopScores::NONE);
    }
    let trim_if_any = (n as f64 * SELF_TRIM).ceil() as usize;
    // The lowest position any of them needs: the trimmed rest's quantile's lower rank.
    let low = (q * (n - trim_if_any - 1) as f64).floor() as usize;
    let mut part = at_or_above(v.clone(), pivot, n / 8);
    if n - part.len() > low {
        part = v.collect();
    }
    // Every score left out of `part` is below every score in it: overall rank `r` is rank
    // `r - below` in `part`.
    let below = n - part.len();
    part.select_nth_unstable_by(low - below, f64::total_cmp);
    let (head, upper) = part.split_at_mut(low - below + 1);
    let at_low = head[low - below];
    // The value at overall rank `r` (r > low) is rank `r - low - 1` within `upper`.
    let value_at = |upper: &mut [f64], r: usize| -> f64 {
        if r == low {
            at_low
        } else {
            *upper.select_nth_unstable_by(r - low - 1, f64::total_cmp).1
        }
    };
    // The q-quantile of the `m` smallest scores (ranks 0..m), as `stats::select_quantile` computes it.
    let quantile_of_smallest = |upper: &mut [f64], m: usize| -> f64 {
        let pos = q * (m - 1) as f64;
        let lo = pos.floor() as usize;
        let a = value_at(upper, lo);
        let frac = pos - lo as f64;
        if frac == 0.0 || lo + 1 >= m {
            return a;
        }
        let b = value_at(upper, lo + 1);
        a + (b - a) * frac
    };
    let base = quantile_of_smallest(upper, n);
    // Scores at or below rank `low` are at most `at_low` <= base: none is above it.
    let above = upper.iter().filter(|&&x| x > base).count();
    let trim = if (above as f64) < 0.9 * ROBUST_TAIL * n as f64 && !trim_above_ties {
        0
    } else {
        trim_if_any
    };
    let start = if trim == 0 {
        base
    } else {
        quantile_of_smallest(upper, n - trim)
    };
    let top = if trim == 0 {
        TopScores::NONE
    } else {
        // The lowest of the top `trim`: overall rank `n - trim`, at or above `at_low`, so
        // every score above it is in `upper`.
        let lowest = value_at(upper, n - trim);
        TopScores {
            lowest,
            count: trim,
            above: upper.iter().filter(|&&x| x > lowest).count(),
        }
    };
    (start, top)
}

/// The values of `v` at or above `pivot`, in order, from room for `room` of them; gathered
/// without a branch per value. With a filter's branch (mispredicted now and then: it keeps a
/// twelfth of the scores) this gathering was a fifth of [`Calibration::fit_contaminated`] on
/// a million scores; without it, 1.4 ms instead of 1.8 ms (measured alone).
fn at_or_above(v: impl Iterator<Item = f64>, pivot: f64, room: usize) -> Vec<f64> {
    let mut out = vec![0.0; room.max(1)];
    let mut len = 0;
    for x in v {
        if len == out.len() {
            out.resize(2 * len, 0.0);
        }
        out[len] = x;
        len += usize::from(x >= pivot);
    }
    out.truncate(len);
    out
}

/// The top scores a self-calibration leaves out as presumed anomalies: `count` of them, the
/// lowest equal to `lowest`, `above` of all the scores strictly above it (the others of the
/// `count` tie with it).
#[derive(Debug, Clone, Copy, PartialEq)]
struct TopScores {
    lowest: f64,
    count: usize,
    above: usize,
}

impl TopScores {
    const NONE: TopScores = TopScores {
        lowest: f64::INFINITY,
        count: 0,
        above: 0,
    };

    /// Tells, of the scores taken one by one in any order, which are among the top ones:
    /// every score above `lowest`, and of those equal to it the first ones, until `count`.
    fn marker(self) -> impl FnMut(f64) -> bool {
        let mut ties = self.count.saturating_sub(self.above);
        move |x| {
            if x > self.lowest {
                return true;
            }
            let tie = x == self.lowest && ties > 0;
            ties -= usize::from(tie);
            tie
        }
    }
}

/// The excesses over `start` of `in_time`'s scores above it, leaving out the clusters of
/// scores above `start` that hold one of the `top` scores (a presumed anomaly): runs of
/// scores above `start` with at most [`CLUSTER_GAP`] scores at or below it inside. An
/// anomaly's neighbours (the shoulders of a spike, a decomposition's leak around a level
/// shift) go with it instead of standing in the tail as if they were normal.
fn excesses_outside_clusters(
    in_time: impl Iterator<Item = f64>,
    start: f64,
    top: TopScores,
) -> Vec<f64> {
    let mut is_top = top.marker();
    let mut excesses = Vec::new();
    // The open cluster's first excess and whether it holds a left-out score, and the scores
    // at or below `start` since its last one above.
    let mut open: Option<(usize, bool)> = None;
    let mut quiet = 0;
    for x in in_time {
        if x > start {
            let (_, tainted) = open.get_or_insert((excesses.len(), false));
            *tainted |= is_top(x);
            excesses.push(x - start);
            quiet = 0;
        } else if let Some((first, tainted)) = open {
            quiet += 1;
            if quiet > CLUSTER_GAP {
                if tainted {
                    excesses.truncate(first);
                }
                open = None;
            }
        }
    }
    if let Some((first, true)) = open {
        excesses.truncate(first);
    }
    excesses
}

/// The tail above the `1 - TAIL_SHARE` quantile of finite `v` (not empty; reorders it).
fn fit_tail(v: &mut [f64]) -> Tail {
    let n = v.len();
    let threshold = stats::select_quantile(v, 1.0 - TAIL_SHARE);
    let excesses: Vec<f64> = v
        .iter()
        .filter(|&&s| s > threshold)
        .map(|&s| s - threshold)
        .collect();
    if excesses.len() >= MIN_TAIL_POINTS {
        let share = excesses.len() as f64 / n as f64;
        let (shape, scale) = pwm_gpd(&excesses);
        return Tail {
            threshold,
            share,
            shape,
            scale,
        };
    }
    // Degenerate: too few distinct scores above the threshold to fit a tail.
    let spread = stats::mean_std(v).map_or(0.0, |(_, s)| s);
    let scale = if spread > 0.0 {
        spread
    } else {
        (threshold.abs() * 1e-9).max(1e-12)
    };
    Tail {
        threshold,
        share: 1.0 / (n as f64 + 1.0),
        shape: 0.0,
        scale,
    }
}

/// Shape and scale of a generalised Pareto distribution from its excesses, by probability-
/// weighted moments, with the shape clamped to `[0, MAX_SHAPE]` (at 0, the scale is the mean
/// excess: the exponential's estimate).
fn pwm_gpd(excesses: &[f64]) -> (f64, f64) {
    let mut y = excesses.to_vec();
    stats::sort_total(&mut y);
    let n = y.len() as f64;
    let a0 = y.iter().sum::<f64>() / n;
    let a1 = y
        .iter()
        .enumerate()
        .map(|(i, &x)| (1.0 - (i as f64 + 0.65) / n) * x)
        .sum::<f64>()
        / n;
    let denom = a0 - 2.0 * a1;
    // Hosking's k is -shape. A non-positive denominator means a tail too heavy for the
    // moments (shape >= 1): the largest shape allowed stands in.
    let shape = if denom > 0.0 {
        2.0 - a0 / denom
    } else {
        MAX_SHAPE
    };
    if shape <= 0.0 || !shape.is_finite() {
        return (0.0, a0.max(f64::MIN_POSITIVE));
    }
    // Few excesses say little about the shape (8 of them gave 0.43 for a light-tailed series):
    // shrink it towards the exponential as if SHAPE_PRIOR more excesses had shape 0.
    let shape = shape.min(MAX_SHAPE) * n / (n + SHAPE_PRIOR);
    // The PWM scale for that shape: a0 = scale / (1 - shape).
    (shape, (a0 * (1.0 - shape)).max(f64::MIN_POSITIVE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Deterministic uniform(0,1) draws (a 64-bit LCG, high bits), for the known-answer tests.
    fn uniforms(n: usize, seed: u64) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
            })
            .collect()
    }

    #[test]
    fn exponential_scores_get_their_true_rarity() {
        // Exp(1): P(S >= s) = e^-s, so rarity(s) = s / ln 10, far beyond the reference too.
        let v: Vec<f64> = uniforms(50_000, 7).iter().map(|u| -u.ln()).collect();
        let cal = Calibration::fit(&v).unwrap();
        assert!(cal.tail.shape < 0.05, "shape {}", cal.tail.shape);
        for s in [1.0, 3.0, 6.0, 12.0, 20.0] {
            let want = s / std::f64::consts::LN_10;
            let got = cal.rarity(s);
            assert!(
                (got - want).abs() < 0.05 * want + 0.02,
                "s={s}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn pareto_tail_shape_is_recovered() {
        // GPD with shape 0.25, scale 1: S = ((1-u)^-0.25 - 1) / 0.25.
        let v: Vec<f64> = uniforms(40_000, 3)
            .iter()
            .map(|u| ((1.0 - u).powf(-0.25) - 1.0) / 0.25)
            .collect();
        let cal = Calibration::fit(&v).unwrap();
        assert!((cal.tail.shape - 0.25).abs() < 0.08, "{:?}", cal.tail);
        // P(S >= 40) = (1 + 10)^-4 = 6.8e-5.
        let got = cal.tail_probability(40.0);
        assert!(got > 3e-5 && got < 1.5e-4, "{got}");
    }

    #[test]
    fn bulk_follows_the_empirical_distribution() {
        let v: Vec<f64> = (0..1000).map(f64::from).collect();
        let cal = Calibration::fit(&v).unwrap();
        assert!((cal.tail_probability(499.5) - 0.5).abs() < 0.01);
        assert_eq!(cal.tail_probability(-5.0), 1.0);
        assert_eq!(cal.rarity(-5.0), 0.0);
        assert!(cal.rarity(f64::NAN).is_nan());
    }

    #[test]
    fn a_constant_reference_makes_anything_higher_rare() {
        let cal = Calibration::fit(&[0.0; 2000]).unwrap();
        assert_eq!(cal.rarity(0.0), 0.0);
        assert!(cal.rarity(0.01) >= MAX_RARITY - 1e-9);
        assert!(Calibration::fit(&[f64::NAN]).is_none());
    }

    #[test]
    fn scores_above_a_plateau_only_by_rounding_tie_with_it() {
        // 60% small scores, 40% tied at a plateau of a million (a model far off, every error
        // alike): the plateau is common, anything clearly above it rare.
        let plateau = 1e6;
        let mut reference = uniforms(3_000, 5);
        reference.extend([plateau; 2_000]);
        let cal = Calibration::fit(&reference).unwrap();
        let at = cal.rarity(plateau);
        assert!(at < 1.0, "{at}");
        let mut last_bits = plateau;
        for _ in 0..4 {
            last_bits = last_bits.next_up();
        }
        assert_eq!(cal.rarity(last_bits), at);
        assert_eq!(
            cal.tail_probability(last_bits),
            cal.tail_probability(plateau)
        );
        // The same through `apply`, whose bulk comes from a table on long inputs.
        let long = vec![last_bits; TABLE_MIN_SCORES];
        assert!(cal.apply(&long).iter().all(|&r| r == at));
        // Above by more than rounding: rarer than anything the reference showed.
        assert!(cal.rarity(plateau * (1.0 + 1e-9)) > 3.0);
    }

    #[test]
    fn anomalies_in_the_reference_do_not_hide_themselves() {
        // 10,000 Exp(1) scores with 0.3% of them 40: fitted as they are, 40 looks ordinary
        // (a fat tail); left out, it is as rare as it is.
        let mut v: Vec<f64> = uniforms(10_000, 5).iter().map(|u| -u.ln()).collect();
        for x in v.iter_mut().step_by(333) {
            *x = 40.0;
        }
        let plain = Calibration::fit(&v).unwrap().rarity(40.0);
        let robust = Calibration::fit_contaminated(&v).unwrap();
        let r40 = robust.rarity(40.0);
        assert!(plain < 5.0 && r40 > 10.0, "plain {plain}, robust {r40}");
        // The tail is about the true one: P(S >= 8) = e^-8, rarity 3.47.
        assert!(
            (robust.rarity(8.0) - 3.47).abs() < 0.3,
            "{}",
            robust.rarity(8.0)
        );
        // A detector that scores 0 almost everywhere keeps its few positive scores as its tail.
        let mut sparse = vec![0.0; 10_000];
        for (i, x) in sparse[..60].iter_mut().enumerate() {
            *x = 1.0 + i as f64 / 10.0;
        }
        let cal = Calibration::fit_contaminated(&sparse).unwrap();
        assert!(cal.rarity(1.5) < 3.0, "{}", cal.rarity(1.5));
        assert!(cal.rarity(20.0) > cal.rarity(3.0));
    }

    #[test]
    fn an_anomalys_neighbours_leave_the_tail_with_it() {
        // 10,000 Exp(1) scores holding 20 anomalies, each a peak of 40 on shoulders of 9 to
        // 11 (a spike as a smoothing detector scores it). Only 50 scores (0.5%) are left out
        // as the top ones, so most shoulders stay behind; kept, they fatten the tail.
        let mut v: Vec<f64> = uniforms(10_000, 9).iter().map(|u| -u.ln()).collect();
        for k in 0..20 {
            let at = 250 + k * 480;
            v[at - 3..=at + 3].copy_from_slice(&[9.0, 10.0, 11.0, 40.0, 11.0, 10.0, 9.0]);
        }
        // The true tail: P(S >= 8) = e^-8, rarity 3.47.
        let without = Calibration::fit_contaminated(&v).unwrap().rarity(8.0);
        let with = Calibration::fit_self(&v, Own::Cap).unwrap().rarity(8.0);
        assert!((without - 3.47).abs() < 0.3, "{without}");
        assert!(with < 2.8, "{with}");
    }

    #[test]
    fn a_few_scores_at_a_new_level_are_not_held_back_by_their_own_series() {
        // A detector that scores 0 unless something is new: the training part all 0, the
        // scored series all 0 but for 15 points of 7,783 at 552 (SMAP P-4's `seasonal`).
        let reference = vec![0.0; 2609];
        let mut scores = vec![0.0; 7783];
        for k in 0..15 {
            scores[1000 + 150 * k] = 552.0;
        }
        let cal = Calibration::fit(&reference).unwrap();
        let rarity = cal.apply_to_new(&scores);
        assert!(rarity[1000] > 5.0, "{}", rarity[1000]);
        assert_eq!(rarity[1001], 0.0);
        // Calibrated on itself instead, the series keeps the 15 in its tail (left out, they
        // would leave nothing above the ties to judge them by).
        let own = Calibration::fit_contaminated(&scores)
            .unwrap()
            .rarity(552.0);
        assert!((3.0..4.0).contains(&own), "{own}");
        // 10% of the series held at the new level is a shift that stands out of the rest of
        // the series (see `outside_held_runs`): it keeps its rarity.
        for x in scores.iter_mut().skip(6000).take(800) {
            *x = 552.0;
        }
        let shifted = cal.apply_to_new(&scores);
        assert!(shifted[6000] > 5.0, "{}", shifted[6000]);
        // A third of the series at the new level is the series' new normal: the cap holds it
        // below one in 100,000.
        for x in scores.iter_mut().skip(5000) {
            *x = 552.0;
        }
        let moved = cal.apply_to_new(&scores);
        assert!(moved[6000] < 3.0, "{}", moved[6000]);
    }

    #[test]
    fn clusters_holding_a_left_out_score_go_whole() {
        // Above 1: {5, 9, 5} is one cluster (gaps of at most 2 inside) and holds the left-out
        // 9; the last 5 is a cluster of its own, three quiet scores later.
        let v = [0.0, 5.0, 0.0, 0.0, 9.0, 0.0, 5.0, 0.0, 0.0, 0.0, 5.0];
        let top = |lowest, count, above| TopScores {
            lowest,
            count,
            above,
        };
        let excesses = |v: &[f64], top| excesses_outside_clusters(v.iter().copied(), 1.0, top);
        assert_eq!(excesses(&v, top(9.0, 1, 0)), vec![4.0]);
        assert_eq!(excesses(&v, TopScores::NONE), vec![4.0, 8.0, 4.0, 4.0]);
        // Of three tied 5s, the first two in time are the top ones: the last stays.
        assert_eq!(excesses(&v, top(5.0, 3, 1)), vec![4.0]);
        // A cluster still open at the end goes too when it holds one.
        assert!(excesses(&[0.0, 5.0, 9.0], top(9.0, 1, 0)).is_empty());
    }

    #[test]
    fn new_data_that_drifted_alarms_only_where_it_stands_out() {
        // Normal: Exp(1). New data: 5,000 scores four times as large, and one of 60.
        let reference: Vec<f64> = uniforms(5_000, 21).iter().map(|u| -u.ln()).collect();
        let cal = Calibration::fit(&reference).unwrap();
        let mut drifted: Vec<f64> = uniforms(5_000, 22).iter().map(|u| -4.0 * u.ln()).collect();
        drifted[2_500] = 60.0;
        let alarms = |r: &[f64]| r.iter().filter(|&&x| x >= 5.0).count();
        // Against the reference alone the drift floods; capped by the series' own scores, the
        // outlier is left with at most a couple of the drift's highest scores (its own tail is
        // fitted with its top 0.5% left out, so it is a little light).
        let flood = alarms(&cal.apply(&drifted));
        assert!(flood > 100, "{flood}");
        let capped = cal.apply_to_new(&drifted);
        assert!(alarms(&capped) <= 3, "{}", alarms(&capped));
        assert!(capped[2_500] >= 5.0);
        // New data like the reference keeps its rarity; a short batch is not capped at all.
        let alike: Vec<f64> = uniforms(5_000, 23).iter().map(|u| -u.ln()).collect();
        let (plain, within) = (cal.apply(&alike), cal.apply_to_new(&alike));
        let moved = plain.iter().zip(&within).filter(|(a, b)| a != b).count();
        assert!(moved < 50, "{moved} of 5000 moved");
        let short = &drifted[..2_000];
        assert_eq!(cal.apply_to_new(short), cal.apply(short));
    }

    #[test]
    fn a_level_held_for_a_tenth_of_new_data_hides_nothing_else() {
        // Normal: Exp(1). New data: 9,000 such scores with five spikes of 15, then 1,000 at a
        // level the reference never reached (30 and more): a shift held to the end.
        let reference: Vec<f64> = uniforms(5_000, 31).iter().map(|u| -u.ln()).collect();
        let cal = Calibration::fit(&reference).unwrap();
        let mut new: Vec<f64> = uniforms(10_000, 32).iter().map(|u| -u.ln()).collect();
        for k in 0..5 {
            new[1_000 + 1_500 * k] = 15.0;
        }
        for x in &mut new[9_000..] {
            *x += 30.0;
        }
        // The shift's thousand scores would make the series' own tail, under which a spike of
        // 15 is ordinary; judged against the rest of the series, the spikes and the shift
        // stand out.
        let rarity = cal.apply_to_new(&new);
        for k in 0..5 {
            assert!(
                rarity[1_000 + 1_500 * k] >= 5.0,
                "{}",
                rarity[1_000 + 1_500 * k]
            );
        }
        assert!(rarity[9_000..].iter().all(|&r| r >= 5.0));
        // Held for most of the series, the shift is the series' new normal: held back.
        let mut moved = new.clone();
        for x in &mut moved[4_000..9_000] {
            *x += 30.0;
        }
        let rarity = cal.apply_to_new(&moved);
        let alarms = rarity[4_000..].iter().filter(|&&r| r >= 5.0).count();
        assert!(alarms < 100, "{alarms} of 6000");
        // Scattered over the series (a fifth of the points, none held for long), the high
        // scores are drift, held back too.
        let mut scattered: Vec<f64> = uniforms(10_000, 33).iter().map(|u| -u.ln()).collect();
        for (x, u) in scattered.iter_mut().zip(uniforms(10_000, 34)) {
            if u < 0.2 {
                *x += 10.0;
            }
        }
        let alarms = cal
            .apply_to_new(&scattered)
            .iter()
            .filter(|&&r| r >= 5.0)
            .count();
        assert!(alarms < 50, "{alarms} of about 2000");
    }

    #[test]
    fn survives_a_serde_round_trip() {
        let v: Vec<f64> = uniforms(3000, 1).iter().map(|u| u * u * 10.0).collect();
        let cal = Calibration::fit(&v).unwrap();
        let back: Calibration =
            serde_json::from_str(&serde_json::to_string(&cal).unwrap()).unwrap();
        assert_eq!(back, cal);
    }

    #[test]
    fn a_long_reference_reads_its_bulk_from_a_sample_and_its_tail_from_all() {
        // 1,000,000 Exp(1) scores: the sampled bulk is within a grid step of the exact
        // quantiles and the tail (fitted on every score) still gives the true rarity.
        let v: Vec<f64> = uniforms(1_000_000, 11).iter().map(|u| -u.ln()).collect();
        let cal = Calibration::fit(&v).unwrap();
        assert_eq!(cal.count, v.len());
        let mut sorted = v.clone();
        sorted.sort_unstable_by(f64::total_cmp);
        for j in [64, 256, 448] {
            let p = j as f64 / (QUANTILES - 1) as f64;
            // In probability, within three standard errors of a 2^16 sample (at most 0.006).
            let got = cal.quantiles[j];
            let at = sorted.partition_point(|&x| x < got) as f64 / sorted.len() as f64;
            let tol = 3.0 * (p * (1.0 - p) / BULK_SAMPLE as f64).sqrt();
            assert!((at - p).abs() < tol, "q{j}: {got} is the {at} quantile");
        }
        assert_eq!(
            cal.tail.threshold,
            stats::sorted_quantile(&sorted, 1.0 - TAIL_SHARE)
        );
        let want = 10.0 / std::f64::consts::LN_10;
        assert!(
            (cal.rarity(10.0) - want).abs() < 0.1,
            "{}",
            cal.rarity(10.0)
        );
    }

    /// [`contaminated_tail_start`] step by step, over all of `v` each time, as
    /// `fit_contaminated` used to compute it: the reference the selection's test compares with.
    fn contaminated_tail_start_plain(v: &mut [f64], trim_above_ties: bool) -> (f64, TopScores) {
        let n = v.len();
        if n == 1 {
            // Nothing above the one score, nothing left out (the top 0.5% of one score would
            // be all of it, even above ties).
            return (v[0], TopScores::NONE);
        }
        let base = stats::select_quantile(v, 1.0 - ROBUST_TAIL);
        let above = v.iter().filter(|&&x| x > base).count();
        let trim = if (above as f64) < 0.9 * ROBUST_TAIL * n as f64 && !trim_above_ties {
            0
        } else {
            (n as f64 * SELF_TRIM).ceil() as usize
        };
        if trim > 0 {
            // The n - trim smallest scores to the front.
            v.select_nth_unstable_by(n - trim, f64::total_cmp);
        }
        let top = if trim == 0 {
            TopScores::NONE
        } else {
            let lowest = v[n - trim];
            TopScores {
                lowest,
                count: trim,
                above: v.iter().filter(|&&x| x > lowest).count(),
            }
        };
        let kept = &mut v[..n - trim];
        let start = stats::select_quantile(kept, 1.0 - ROBUST_TAIL);
        (start, top)
    }

    /// The bulk worked out on another thread while this one works out the tail: the same
    /// calibration, for both kinds of self-calibration, with and without a warm-up.
    #[test]
    fn a_parallel_self_fit_is_the_serial_one() {
        let mut v: Vec<f64> = uniforms(300_000, 17)
            .into_iter()
            .map(|u| -(1.0 - u).ln())
            .collect();
        v[..48].fill(f64::NAN);
        for own in [Own::Calibration, Own::Cap] {
            let serial = Calibration::fit_self_on(&v, own, false).unwrap();
            assert_eq!(Calibration::fit_self_on(&v, own, true).unwrap(), serial);
        }
        v[1000] = f64::NAN;
        let serial = Calibration::fit_self_on(&v, Own::Calibration, false).unwrap();
        assert_eq!(
            Calibration::fit_self_on(&v, Own::Calibration, true).unwrap(),
            serial
        );
    }

    #[test]
    fn one_score_is_its_own_tail_start_and_nothing_is_left_out() {
        // The case the proptest below found rarely (one score, trimming above ties), which the
        // step-by-step reference once read as "trim everything" and panicked on.
        for trim_above_ties in [false, true] {
            let (start, top) =
                contaminated_tail_start([2.5].into_iter(), 1, f64::NEG_INFINITY, trim_above_ties);
            assert_eq!((start, top), (2.5, TopScores::NONE));
            assert_eq!(
                contaminated_tail_start_plain(&mut [2.5], trim_above_ties),
                (2.5, TopScores::NONE)
            );
        }
        let cal = Calibration::fit_contaminated(&[2.5]).unwrap();
        assert_eq!(cal.tail.threshold, 2.5);
    }

    proptest! {
        #[test]
        fn the_tail_start_by_one_selection_is_the_step_by_step_one(
            // Few distinct values make ties (a tail on tied scores); wide ones make no ties.
            v in prop::collection::vec(prop_oneof![(0u8..6).prop_map(f64::from), -1e3f64..1e3], 1..3000),
            // Any pivot gives the same answer: one below every rank needed only saves work,
            // one above them (or on a tie) makes the selection read every score.
            pivot in prop_oneof![Just(f64::NEG_INFINITY), (0u8..6).prop_map(f64::from), -1e3f64..1e3],
            trim_above_ties: bool,
        ) {
            let mut b = v.clone();
            let (start_a, top_a) =
                contaminated_tail_start(v.iter().copied(), v.len(), pivot, trim_above_ties);
            let (start_b, top_b) = contaminated_tail_start_plain(&mut b, trim_above_ties);
            prop_assert_eq!(start_a.to_bits(), start_b.to_bits());
            prop_assert_eq!(top_a.lowest.to_bits(), top_b.lowest.to_bits());
            prop_assert_eq!(top_a.count, top_b.count);
            prop_assert_eq!(top_a.above, top_b.above);
        }

        #[test]
        fn apply_is_rarity_of_each_score(
            reference in prop::collection::vec(-50.0f64..50.0, 1..400),
            ties in 0usize..200,
            scores in prop::collection::vec(-100.0f64..200.0, 0..300),
        ) {
            // Ties in the reference (a grid with flat stretches) and scores on grid points.
            let mut reference = reference;
            let tied = reference[0];
            reference.extend(std::iter::repeat_n(tied, ties));
            let cal = Calibration::fit(&reference).unwrap();
            let mut scores = scores;
            scores.extend(cal.quantiles.iter().step_by(7));
            scores.push(f64::NAN);
            let got = cal.apply(&scores);
            let tabled = cal.apply_tabled(&scores, true);
            // The bulk's interpolated rarity is within the documented distance of the
            // probability's (0.03 on a degenerate tail's last grid step, 5e-4 otherwise).
            let tol = if cal.tail.share >= TAIL_SHARE { 5e-4 } else { 0.03 };
            for ((&s, &r), &t) in scores.iter().zip(&got).zip(&tabled) {
                let want = cal.rarity(s);
                prop_assert!(r == want || (r.is_nan() && want.is_nan()), "{s}: {r} vs {want}");
                let of_p = (-cal.tail_probability(s).log10()).clamp(0.0, MAX_RARITY);
                prop_assert!((r - of_p).abs() <= tol || r.is_nan(), "{s}: {r} vs {of_p}, {:?}", cal.tail);
                // Read off the table: within its tolerance in the bulk, exact elsewhere.
                if s.is_nan() || s > cal.tail.threshold || s < cal.quantiles[0] {
                    prop_assert!(t == want || (t.is_nan() && want.is_nan()), "{s}: {t} vs {want}");
                } else {
                    prop_assert!((t - want).abs() <= TABLE_TOLERANCE, "{s}: {t} vs {want}");
                }
            }
        }

        #[test]
        fn held_runs_skip_nothing_by_blocks(
            levels in proptest::collection::vec(0u8..4, 0..3000),
        ) {
            // Rarities of 0, 1.5, 2 and 9 (the level is 2) in runs of 1, 6, 11 and 16 points.
            let rarity: Vec<f64> = levels
                .iter()
                .flat_map(|&l| std::iter::repeat_n([0.0, 1.5, 2.0, 9.0][l as usize], 1 + l as usize * 5))
                .collect();
            let shortest = ((rarity.len() as f64 * HELD_SHARE).ceil() as usize).max(1);
            let mut want = Vec::new();
            let mut run: Option<(usize, usize, usize)> = None;
            for (i, _) in rarity.iter().enumerate().filter(|(_, r)| **r >= HELD_RARITY) {
                run = match run {
                    Some((a, last, h)) if i - last <= HELD_GAP + 1 => Some((a, i, h + 1)),
                    other => {
                        if let Some((a, b, h)) = other
                            && b + 1 - a >= shortest
                            && 2 * h >= b + 1 - a
                        {
                            want.push((a, b));
                        }
                        Some((i, i, 1))
                    }
                };
            }
            if let Some((a, b, h)) = run
                && b + 1 - a >= shortest
                && 2 * h >= b + 1 - a
            {
                want.push((a, b));
            }
            prop_assert_eq!(held_runs(&rarity), want);
        }

        #[test]
        fn the_grid_index_finds_what_bisection_finds(
            // Few distinct values make tied grid points and crowded buckets.
            grid in prop::collection::vec(prop_oneof![0.0f64..4.0, (0u8..6).prop_map(f64::from)], 2..600),
            upto in -1.0f64..6.0,
            scores in prop::collection::vec(-1.0f64..6.0, 0..200),
        ) {
            let mut grid = grid;
            grid.sort_by(f64::total_cmp);
            let index = GridIndex::new(&grid, upto);
            // Every grid point, and values a rounding away from it, as well as the scores.
            let near = grid.iter().flat_map(|&x| [x, x.next_down(), x.next_up()]);
            for s in scores.into_iter().chain(near) {
                prop_assert_eq!(index.first_at_least(s), grid.partition_point(|&x| x < s), "{}", s);
            }
        }

        #[test]
        fn rarity_never_decreases(
            reference in prop::collection::vec(-50.0f64..50.0, 1..400),
            a in -100.0f64..200.0, b in -100.0f64..200.0,
        ) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            for cal in [
                Calibration::fit(&reference).unwrap(),
                Calibration::fit_contaminated(&reference).unwrap(),
            ] {
                prop_assert!(cal.rarity(lo) <= cal.rarity(hi) + 1e-12);
                prop_assert!(cal.rarity(hi) >= 0.0 && cal.rarity(hi) <= MAX_RARITY);
            }
        }
    }
}
