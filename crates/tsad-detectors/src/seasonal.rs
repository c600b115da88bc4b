//! `seasonal`: residuals of an STL/MSTL decomposition, with the period found automatically.
//!
//! **Catches** points that leave the series' own rhythm: spikes and dips relative to what the
//! trend and the season say at that time of day or week, including contextual anomalies (a
//! value normal at noon but not at midnight), which rolling detectors miss.
//!
//! **How.** Missing values are interpolated linearly for the decomposition (and score NaN).
//! When `period` is not given, the fit detects up to `max_periods` periods on the training
//! series: a Welch periodogram (`augurs-seasons`) of the linearly detrended series proposes
//! candidates, and each is refined between its neighbouring bins (the longest bin, whose longer
//! neighbour lies beyond the range, up to the range's end) and checked on the autocorrelation
//! function, which must peak there (ACF ≥ 0.3 at the period and at least 0.3 above its value at
//! half the period, so harmonics, random walks and trends are not mistaken for seasons); a
//! candidate near a
//! multiple of a period already found but less correlated than that multiple is its side lobe
//! and is dropped. A longer cycle built on a found one (a week of days) may have too little
//! periodogram power to be a candidate, so the multiples k·p of each found period are checked
//! too: the best one is kept when its autocorrelation beats the one at p and rises at least 0.3
//! above the lowest between them. The scored series is then
//! decomposed by STL (one period) or MSTL (several): `stlrs`'s method, to rounding, in a
//! faster port (`seasonal/stl.rs`), with robustness iterations by default so anomalies do not
//! leak into the seasonal curve; two choices differ from `stlrs`: one period's seasonal
//! smoother spans 11 cycles on a long series (MSTL's window for its shortest period), so the
//! curve can follow a cycle that drifts, and more on a series of fewer cycles than the
//! period's length (`stl::seasonal_window`), where a window that spans every one of at least 8
//! cycles fits each phase with a line instead of a constant, so a cycle that slips a little
//! each cycle (a period that is not a whole number of points) is followed to both ends
//! (`stl::seasonal_degree`); and a cycle-subseries window whose robustness
//! weights are all 0 is fitted as its median, not as its points' own values, so on a series
//! of a few cycles a spike stays out of its cycle's seasonal value. When no period is
//! found (or the series is shorter than two of its cycles), a centred rolling median of
//! `fallback_window` points stands in for trend + season, and the report says so; except
//! that a scored series without a period that moves like a random walk (a price, a cumulative
//! count: levels strongly autocorrelated, steps not; see `moves_like_a_random_walk`) is
//! scored on its steps, the value before each point being its expected value, since a walk's
//! anomalies are jumps and a median of its levels wanders with it.
//!
//! **Streaming** ([`Detector::online`]): keeps the last `history` points and refits on them
//! every `refit_every` points (detecting the period until one is found); each new point is
//! scored against the last fit extrapolated one cycle ahead (the fit's last cycle repeated) and
//! the fit's residual scale, so it uses the past only. The first fit happens after
//! `max(min_len, 32)` points; until then scores are NaN.
//!
//! **Score scale**: the robust z-score of the deleted residual,
//! `|r - median(r)| / (1.4826·MAD(r))` over the scored series (1.2533 × the mean absolute
//! deviation when the MAD is 0), where `r = (x - fit) / (1 - w·h)` is the point's distance
//! from what the rest of the series says about it: `h` is the decomposition's weight on a
//! point's own value (its hat matrix's diagonal: 0.27 for hourly data with daily and weekly
//! seasons, 0.02 for a daily season of 288 steps) and `w` the point's robustness weight (see
//! `delete_own_weight`); where each phase is a line, `r` is also scaled down towards the
//! series' ends, where a line's fit varies more (`stl::line_leverage`). `expected` is trend +
//! season, and the band is
//! `expected + median(r) ± band_k·scale`. Because the decomposition uses the whole series, a
//! point's batch score depends on later points too (use the streaming form for past-only
//! scores).
//!
//! **Report**: `{"period": p or null, "periods": [...used...], "periods_detected": [{period,
//! power, autocorrelation}], "method": "stl" | "mstl" | "rolling_median" | "previous_value",
//! "note": ...}`.
//!
//! **Parameters** ([`SeasonalParams`]): `period` (default: detect), `min_period` (4),
//! `max_period` (512), `max_periods` (2), `robust` (true), `band_k` (3), `fallback_window`
//! (25), and for the streaming form `history` (2000) and `refit_every` (0 = one period).
//!
//! **Minimum length**: 8 points (2·period + 1 when `period` is given).
//!
//! **Cost**: detection O(n log max_period) for the periodogram plus O(min(n, 50 000)·L) for the
//! autocorrelation checks (L lags around each candidate); STL O(n) per pass, 16 passes with
//! `robust` (2 without), plus one 2-pass decomposition of a unit impulse for the own weight,
//! on at most two seasonal windows' worth of points (8,350 for hourly data with daily and
//! weekly seasons, 171,950 for a daily season of 288 steps): an eighth more on series shorter
//! than that, nothing that shows on longer ones. From 32,768 points the decomposition runs on
//! every core (the same result; see the `stl` module). The streaming form refits on a trailing
//! `history` every `refit_every` points: O(history) per refit.
//!
//! **Reference**: Cleveland et al. (1990), "STL: A Seasonal-Trend Decomposition Procedure
//! Based on Loess", *Journal of Official Statistics* 6(1); Bandara, Hyndman & Bergmeir (2021),
//! "MSTL", <https://arxiv.org/abs/2107.13462>.

use crate::common::{
    Problems, STATE_VERSION, SortedWindow, begin_fit, check_len, deviation, interpolate,
    parse_state, report_done, robust_center_scale, tiny_scale,
};
use augurs_seasons::PeriodogramDetector;

mod stl;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::VecDeque;
use tsad_core::{Detector, Error, FitContext, Model, ModelState, OnlineModel, Scores, Series};

const KIND: &str = "seasonal";

/// Minimum autocorrelation at a detected period.
const MIN_ACF: f64 = 0.3;
/// Minimum rise of the autocorrelation from half the period to the period.
const MIN_ACF_RISE: f64 = 0.3;
/// Periodogram peaks kept as candidates: power at least this fraction of the strongest.
const PEAK_THRESHOLD: f64 = 0.1;
/// Candidates checked, strongest first.
const MAX_CANDIDATES: usize = 12;
/// Points used for the autocorrelation checks (the first ones), to bound the cost.
const ACF_POINTS: usize = 50_000;
/// Fewest points the period detection runs on.
const MIN_DETECT_LEN: usize = 16;

/// Parameters of the [`SeasonalDetector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SeasonalParams {
    /// The season's length in points (at least 2), or null (the default) to detect it on the
    /// training series.
    pub period: Option<usize>,
    /// Shortest period the detection considers (default 4, at least 2).
    pub min_period: usize,
    /// Longest period the detection considers (default 512); the detection also needs three
    /// cycles in the training series, so it never looks past a third of its length.
    pub max_period: usize,
    /// Most periods the detection keeps, strongest first (default 2, at least 1; two or more
    /// make the decomposition an MSTL).
    pub max_periods: usize,
    /// Robust decomposition (default true): STL's robustness iterations down-weight outliers so
    /// they stay in the residual instead of bending the trend and season. About 8x slower.
    pub robust: bool,
    /// Half-width of the band around the expected value, in robust standard deviations of the
    /// residual (default 3). It does not change the scores.
    pub band_k: f64,
    /// Points in the centred rolling median used when no period is found (default 25, odd
    /// values centre best, at least 3).
    pub fallback_window: usize,
    /// Streaming form only: the trailing points each refit decomposes (default 2000, at least
    /// 16; it should hold a few cycles).
    pub history: usize,
    /// Streaming form only: points between refits (default 0 = once per period, or every 50
    /// points while no period is known).
    pub refit_every: usize,
}

impl Default for SeasonalParams {
    fn default() -> Self {
        SeasonalParams {
            period: None,
            min_period: 4,
            max_period: 512,
            max_periods: 2,
            robust: true,
            band_k: 3.0,
            fallback_window: 25,
            history: 2000,
            refit_every: 0,
        }
    }
}

impl SeasonalParams {
    fn validate(&self) -> Result<(), Error> {
        let mut p = Problems::new();
        if let Some(period) = self.period {
            p.check(period >= 2, "period", || {
                format!("must be at least 2 (or null to detect it), got {period}")
            });
        }
        p.check(self.min_period >= 2, "min_period", || {
            format!("must be at least 2, got {}", self.min_period)
        });
        p.check(self.max_period >= self.min_period, "max_period", || {
            format!(
                "must be at least min_period ({}), got {}",
                self.min_period, self.max_period
            )
        });
        p.check(self.max_periods >= 1, "max_periods", || {
            format!("must be at least 1, got {}", self.max_periods)
        });
        p.check(
            self.band_k.is_finite() && self.band_k > 0.0,
            "band_k",
            || format!("must be a finite number > 0, got {}", self.band_k),
        );
        p.check(self.fallback_window >= 3, "fallback_window", || {
            format!("must be at least 3, got {}", self.fallback_window)
        });
        p.check(self.history >= MIN_DETECT_LEN, "history", || {
            format!("must be at least {MIN_DETECT_LEN}, got {}", self.history)
        });
        p.finish()
    }
}

/// A period found by the detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectedPeriod {
    /// Length in points.
    pub period: usize,
    /// Periodogram power of the candidate it came from; 0 for a period found at a multiple of
    /// a shorter one (from the autocorrelation alone).
    pub power: f64,
    /// Autocorrelation of the detrended series at `period`.
    pub autocorrelation: f64,
}

/// Detects up to `max_periods` seasonal periods in `values` (NaN allowed), strongest first.
/// See the [module docs](self) for the method. Returns nothing for series shorter than 16
/// points or without a clear season.
pub fn detect_periods(
    values: &[f64],
    min_period: usize,
    max_period: usize,
    max_periods: usize,
) -> Vec<DetectedPeriod> {
    let n = values.len();
    let Some(x) = interpolate(values) else {
        return Vec::new();
    };
    let max_p = max_period.min(n / 3);
    if n < MIN_DETECT_LEN || max_p < min_period.max(2) {
        return Vec::new();
    }
    let x = detrend(&x);
    if x.iter().all(|v| *v == 0.0) {
        return Vec::new();
    }
    let periodogram = PeriodogramDetector::builder()
        .min_period(min_period as u32)
        .max_period(max_p as u32)
        .build()
        .periodogram(&x);
    let mut peaks: Vec<_> = periodogram.peaks(PEAK_THRESHOLD).collect();
    peaks.reverse(); // `peaks` come weakest first
    let acf_x = &x[..n.min(ACF_POINTS)];
    let denom: f64 = acf_x.iter().map(|v| v * v).sum();
    let acf = |lag: usize| -> f64 {
        if lag >= acf_x.len() || denom <= 0.0 {
            return f64::NAN;
        }
        acf_x[..acf_x.len() - lag]
            .iter()
            .zip(&acf_x[lag..])
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / denom
    };
    let mut found: Vec<DetectedPeriod> = Vec::new();
    for peak in peaks.into_iter().take(MAX_CANDIDATES) {
        let p = peak.period as usize;
        // The neighbouring periodogram bins bound where the true period can be. The longest
        // bin kept has no longer neighbour (0): there the bound is the range's end, since the
        // bins are coarse at long periods (128 points a segment on a 300-point series: bins at
        // 64 and 128, so a 75-point swing peaks at 64, and 128 is beyond the range).
        let neighbours = [peak.prev_period as usize, peak.next_period as usize];
        let lo = neighbours
            .iter()
            .copied()
            .filter(|&q| q > 0 && q < p)
            .max()
            .map_or(p.saturating_sub(1), |q| q + 1)
            .max(min_period);
        let hi = neighbours
            .iter()
            .copied()
            .filter(|&q| q > p)
            .min()
            .map_or(max_p, |q| q - 1)
            .min(max_p);
        let Some((best, r)) = (lo..=hi)
            .map(|lag| (lag, acf(lag)))
            .filter(|(_, r)| r.is_finite())
            .max_by(|a, b| a.1.total_cmp(&b.1))
        else {
            continue;
        };
        // At the range's end the autocorrelation must peak there, not still rise: a cycle
        // longer than the range (48 points seen in 128) is not one of its length.
        if best == max_p && acf(best + 1) > r {
            continue;
        }
        let dip = acf((best / 2).max(1));
        let near_known = found
            .iter()
            .any(|f| best.abs_diff(f.period) as f64 <= (0.1 * f.period as f64).max(2.0));
        // A side lobe of a known period: near one of its multiples but less correlated than
        // that multiple (e.g. 255 beside a daily 288), so the known cycle explains it.
        let side_lobe = found.iter().any(|f| {
            let m = ((best as f64 / f.period as f64).round() as usize).max(1);
            let multiple = m * f.period;
            best != multiple
                && best.abs_diff(multiple) as f64 <= (0.25 * f.period as f64).max(2.0)
                && r < acf(multiple)
        });
        if r >= MIN_ACF && r - dip >= MIN_ACF_RISE && !near_known && !side_lobe {
            found.push(DetectedPeriod {
                period: best,
                power: peak.power,
                autocorrelation: r,
            });
            if found.len() >= max_periods {
                break;
            }
        }
    }
    // A longer cycle built on a found one (a week of days) can carry too little periodogram
    // power to be a candidate next to the strong short cycle, yet show in the autocorrelation
    // at the multiples of the short period: peaking at k·p above the correlation at p itself,
    // after a dip in between (half-hourly taxi demand: 0.80 at one day, 0.54 at four, 0.89 at
    // seven).
    let mut i = 0;
    while i < found.len() && found.len() < max_periods {
        let p = found[i].period;
        let at_p = acf(p);
        let ladder: Vec<(usize, f64)> = (2..)
            .map(|k| k * p)
            .take_while(|&q| q <= max_p)
            .map(|q| (q, acf(q)))
            .filter(|(_, r)| r.is_finite())
            .collect();
        if let Some(&(q, r)) = ladder.iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
            let dip = ladder
                .iter()
                .take_while(|(m, _)| *m < q)
                .map(|(_, r)| *r)
                .fold(at_p, f64::min);
            let known = found
                .iter()
                .any(|f| q.abs_diff(f.period) as f64 <= (0.1 * f.period as f64).max(2.0));
            if r >= MIN_ACF && r > at_p && r - dip >= MIN_ACF_RISE && !known {
                found.push(DetectedPeriod {
                    period: q,
                    power: 0.0,
                    autocorrelation: r,
                });
            }
        }
        i += 1;
    }
    found
}

/// `x` minus its least-squares line.
fn detrend(x: &[f64]) -> Vec<f64> {
    let n = x.len() as f64;
    let tm = (n - 1.0) / 2.0;
    let xm = x.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, v) in x.iter().enumerate() {
        let dt = t as f64 - tm;
        sxy += dt * (v - xm);
        sxx += dt * dt;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    x.iter()
        .enumerate()
        .map(|(t, v)| v - xm - slope * (t as f64 - tm))
        .collect()
}

/// `values - fit`, with residuals within 1e-12 of the series' largest magnitude (`largest`)
/// set to exactly 0. A series that repeats exactly (SMAP's pulse trains) is fitted to
/// rounding, and its residuals are rounding noise: taken as they are, their scale is about
/// 1e-14, every real deviation scores like 1e14, and which of them pass the cut-off depends
/// on the order the fit added its sums in.
fn residuals(values: &[f64], fit: &[f64], largest: f64) -> Vec<f64> {
    let noise = 1e-12 * largest;
    values
        .iter()
        .zip(fit)
        .map(|(v, f)| {
            let r = v - f;
            if r.abs() <= noise { 0.0 } else { r }
        })
        .collect()
}

/// The periods of `periods` that `n` points can be decomposed with: two cycles or more.
fn usable_periods(periods: &[usize], n: usize) -> Vec<usize> {
    periods.iter().copied().filter(|&q| 2 * q <= n).collect()
}

/// Largest own weight [`delete_own_weight`] takes out, so that it keeps the residuals' order.
const MAX_SELF_WEIGHT: f64 = 0.5;

/// Turns a decomposition's residuals into deleted residuals, each point's distance from what
/// the rest of the series says about it: `r / (1 - w·h)`, `h` the decomposition's weight on a
/// point's own value ([`stl::self_weight`]) and `w` the point's robustness weight (netlib's
/// bisquare of the residual over six times the median absolute residual, as STL's last pass
/// gives it; 1 without `robust`).
///
/// A smoother takes part of each point's noise into its fit, so a residual understates the
/// point's deviation by the factor `1 - w·h`; with robustness weights the factor differs from
/// point to point: a point 2σ out keeps weight 0.57, one 4σ out weight 0, so the ordinary
/// points' residuals shrink and the larger ones do not. Their distribution is then
/// heavier-tailed than the noise: on Gaussian noise around the demo's daily and weekly
/// seasons (10,000 points) the scores' 99.9th percentile was 5.0 robust σ, 3.3 for Gaussian
/// scores, and the calibration, fitted on that tail, read the demo's weakest spikes (7-8σ) as
/// one in 30,000 (rarity 4.5-4.6, under the cut of 5). The deleted residuals' percentile is 3.7
/// (3.2 for the decomposition without robustness weights, whose residuals all shrink alike)
/// and those spikes read 5.0-5.2: found, if narrowly. Residuals keep their order (`h` at most
/// 0.5; the proptest `deleted_residuals_keep_their_order`), so rankings do not change, only
/// how rare the calibration finds them.
///
/// Where each phase is fitted with a line (`stl::seasonal_degree`), the line leans more on
/// the values at its ends: a point in the first or last cycles has `extra(i)` more own weight
/// ([`stl::line_leverage`]). One that robustness sets aside (the ones that become alarms) is
/// then judged against the line extrapolated to it, whose error is larger there: its
/// deviation varies about `1 + h + extra` times the noise's variance, against `1 + h` in the
/// middle. Every deviation is scaled by `sqrt((1 + h) / (1 + h + extra))` (1 where `extra` is
/// 0), so those share the middle's spread. On 2,000 series of 1,000 points of a 75.4-point
/// swing (`bench/fleet_data.py 2000 1000 F 75.398`; a line per phase over 13 cycles) the
/// default preset raised 28 false events without it, 12 of them in the last 150 points and 11
/// in the first, and 21 with it; `seasonal` alone 27 and 20 (20 promised), every spike found
/// either way. Taking `h + extra` as the own weight in `1 - w·h` as well (for the points that
/// keep their weight) raised 32 and 25.
fn delete_own_weight(resid: &mut [f64], h: f64, extra: impl Fn(usize) -> f64, robust: bool) {
    // How much more a point's deviation varies than one in the middle.
    let level = |i: usize| ((1.0 + h) / (1.0 + h + extra(i))).sqrt();
    if !robust {
        for (i, r) in resid.iter_mut().enumerate() {
            *r *= level(i) / (1.0 - h);
        }
        return;
    }
    let mut absolute: Vec<f64> = resid
        .iter()
        .filter(|r| r.is_finite())
        .map(|r| r.abs())
        .collect();
    if absolute.is_empty() {
        return;
    }
    let middle = absolute.len() / 2;
    let (_, &mut median, _) = absolute.select_nth_unstable_by(middle, f64::total_cmp);
    let cmad = 6.0 * median;
    for (i, r) in resid.iter_mut().enumerate() {
        // NaN (a missing point, or 0 / 0 when most residuals are 0) gets weight 0.
        let u = r.abs() / cmad;
        let w = if u < 1.0 { (1.0 - u * u).powi(2) } else { 0.0 };
        *r *= level(i) / (1.0 - h * w);
    }
}

/// Trend + season of an interpolated series, and the method used. Without a usable period:
/// the value before each point when `steps` (a series that moves like a random walk, see
/// [`moves_like_a_random_walk`]), else a centred rolling median.
fn decompose(
    x: &[f64],
    periods: &[usize],
    p: &SeasonalParams,
    steps: bool,
) -> (Vec<f64>, &'static str) {
    let usable = usable_periods(periods, x.len());
    let constant = x.iter().all(|v| *v == x[0]);
    if !usable.is_empty() && !constant {
        let method = if usable.len() == 1 { "stl" } else { "mstl" };
        let fitted = stl::fit(x, &usable, p.robust).map(|fit| (fit, method));
        // STL only fails for periods < 2 or series shorter than two cycles, both excluded
        // above; fall through to the rolling median if it ever does.
        if let Some(found) = fitted
            && found.0.iter().all(|v: &f64| v.is_finite())
        {
            return found;
        }
    }
    if steps && !x.is_empty() {
        let mut before = Vec::with_capacity(x.len());
        before.push(x[0]);
        before.extend_from_slice(&x[..x.len() - 1]);
        return (before, "previous_value");
    }
    (centred_median(x, p.fallback_window), "rolling_median")
}

/// Fewest points [`moves_like_a_random_walk`] judges.
const MIN_WALK_LEN: usize = 50;

/// Lag-1 autocorrelation of `x` (0 when `x` is constant).
fn lag1_autocorrelation(x: &[f64]) -> f64 {
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let var: f64 = x.iter().map(|v| (v - mean) * (v - mean)).sum();
    if var <= 0.0 {
        return 0.0;
    }
    x.windows(2)
        .map(|w| (w[0] - mean) * (w[1] - mean))
        .sum::<f64>()
        / var
}

/// Whether a series without a season moves like a random walk (prices, cumulative counts, a
/// slowly drifting sensor): its levels are strongly autocorrelated (lag-1 above 0.9 after
/// removing a straight line) while its steps are not (lag-1 between -0.4 and 0.5). A walk's
/// steps are uncorrelated, and measurement noise on top pulls their autocorrelation towards
/// -0.5 (at -0.4 the noise's variance is twice the steps'); a smooth signal's steps are
/// strongly correlated, and noise around a steady level has no correlated levels. Such a
/// series' anomalies are in its steps: a centred median of its levels wanders with it, so a
/// jump of 15 daily standard deviations in a price stays within the residuals' spread, while
/// its step stands out. Measured when no period is found, with the value before each point as
/// the expected value instead of the rolling median: SMAP (`tsad eval smap`) `seasonal` F1
/// 0.420 -> 0.545, NAB in batch 0.335 -> 0.349.
fn moves_like_a_random_walk(x: &[f64]) -> bool {
    if x.len() < MIN_WALK_LEN {
        return false;
    }
    let steps: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
    let step = lag1_autocorrelation(&steps);
    lag1_autocorrelation(&detrend(x)) > 0.9 && step > -0.4 && step < 0.5
}

/// Series at least this long are decomposed on a thread of their own (see [`decompose_watching`]).
const WATCHED_FROM: usize = 50_000;

/// [`decompose`] while watching `ctx`'s cancel flag; gives `x` back with the fit.
///
/// The STL port cannot be interrupted, so a long series is decomposed on a thread of its own and the
/// caller waits for it, checking the flag every 50 ms: a cancelled scoring returns at once
/// (and frees its job slot) while the decomposition under way runs to its end in the
/// background and its result is dropped (at 1,000,000 points, about 1 CPU s for STL and 3 for
/// a two-period MSTL).
fn decompose_watching(
    x: Vec<f64>,
    periods: &[usize],
    params: &SeasonalParams,
    steps: bool,
    ctx: &FitContext,
) -> Result<(Vec<f64>, &'static str, Vec<f64>), Error> {
    if x.len() < WATCHED_FROM {
        let (fit, method) = decompose(&x, periods, params, steps);
        return Ok((fit, method, x));
    }
    let (periods, params) = (periods.to_vec(), params.clone());
    let (done, result) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("tsad-seasonal".into())
        .spawn(move || {
            let (fit, method) = decompose(&x, &periods, &params, steps);
            // Nobody listens any more when the caller was cancelled: the result is dropped.
            let _ = done.send((fit, method, x));
        })
        .map_err(Error::backend)?;
    loop {
        match result.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(decomposed) => return Ok(decomposed),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => ctx.check_cancelled()?,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::backend(std::io::Error::other(
                    "the seasonal decomposition stopped without a result",
                )));
            }
        }
    }
}

/// Centred rolling median of `window` points (windows shrink to what exists at the start and
/// stop sliding at the end).
fn centred_median(x: &[f64], window: usize) -> Vec<f64> {
    let half = window / 2;
    let mut w = SortedWindow::new(2 * half + 1);
    let mut next = 0;
    (0..x.len())
        .map(|i| {
            while next < x.len() && next <= i + half {
                w.push(x[next]);
                next += 1;
            }
            w.median()
        })
        .collect()
}

/// The seasonal-decomposition detector (unfitted). See the [module docs](self).
#[derive(Debug, Clone)]
pub struct SeasonalDetector {
    params: SeasonalParams,
}

impl SeasonalDetector {
    /// Validates `params`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] listing every invalid field.
    pub fn new(params: SeasonalParams) -> Result<Self, Error> {
        params.validate()?;
        Ok(SeasonalDetector { params })
    }

    /// The parameters.
    pub fn params(&self) -> &SeasonalParams {
        &self.params
    }

    fn periods_for(&self, values: &[f64]) -> (Vec<usize>, Vec<DetectedPeriod>) {
        match self.params.period {
            Some(p) => (vec![p], Vec::new()),
            None => {
                let found = detect_periods(
                    values,
                    self.params.min_period,
                    self.params.max_period,
                    self.params.max_periods,
                );
                let mut periods: Vec<usize> = found.iter().map(|d| d.period).collect();
                periods.sort_unstable();
                (periods, found)
            }
        }
    }
}

/// What a saved seasonal model holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedSeasonal {
    params: SeasonalParams,
    periods: Vec<usize>,
    detected: Vec<DetectedPeriod>,
}

/// A fitted [`SeasonalDetector`]: the parameters and the periods fixed at fit time.
#[derive(Debug, Clone)]
pub struct SeasonalModel {
    params: SeasonalParams,
    periods: Vec<usize>,
    detected: Vec<DetectedPeriod>,
}

impl SeasonalModel {
    /// The periods used for decomposition, shortest first (empty: the fallback).
    pub fn periods(&self) -> &[usize] {
        &self.periods
    }
}

impl Detector for SeasonalDetector {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn min_len(&self) -> usize {
        match self.params.period {
            Some(p) => 2 * p + 1,
            None => 8,
        }
    }

    fn fit(&self, train: &Series, ctx: &FitContext) -> Result<Box<dyn Model>, Error> {
        begin_fit(train, self.min_len(), ctx)?;
        let (periods, detected) = self.periods_for(train.values());
        report_done(ctx);
        Ok(Box::new(SeasonalModel {
            params: self.params.clone(),
            periods,
            detected,
        }))
    }

    fn online(&self) -> Option<Box<dyn OnlineModel>> {
        Some(Box::new(SeasonalOnline::new(self.clone())))
    }

    fn load(&self, state: &ModelState) -> Result<Box<dyn Model>, Error> {
        let saved: SavedSeasonal = parse_state(KIND, state)?;
        saved.params.validate().map_err(|e| Error::Load {
            reason: e.to_string(),
        })?;
        if saved.periods.iter().any(|&p| p < 2) {
            return Err(Error::Load {
                reason: "`seasonal` model holds a period below 2".into(),
            });
        }
        Ok(Box::new(SeasonalModel {
            params: saved.params,
            periods: saved.periods,
            detected: saved.detected,
        }))
    }
}

impl Model for SeasonalModel {
    fn score(&self, series: &Series) -> Result<Scores, Error> {
        self.score_with(series, &FitContext::new())
    }

    /// The decomposition is one call into the STL port, which cannot be interrupted; on long series
    /// it runs on a thread of its own while the flag is watched, so a cancelled scoring returns
    /// within about 50 ms (see `decompose_watching`).
    fn score_with(&self, series: &Series, ctx: &FitContext) -> Result<Scores, Error> {
        ctx.check_cancelled()?;
        let needed = match self.params.period {
            Some(p) => 2 * p + 1,
            None => 8,
        };
        check_len(series, needed.min(8))?;
        let values = series.values();
        let Some(x) = interpolate(values) else {
            // Every value is missing: nothing to score.
            let nan = vec![f64::NAN; values.len()];
            return Ok(Scores::new(nan).with_report(json!({
                "period": null, "periods": [], "periods_detected": self.detected,
                "method": "none", "note": "every value is missing",
            })));
        };
        // Like the decomposition itself, the fallback's form is read off the scored series.
        let steps = self.periods.is_empty() && moves_like_a_random_walk(&x);
        let (fit, method, x) = decompose_watching(x, &self.periods, &self.params, steps, ctx)?;
        // The periods the decomposition used: none for the fallbacks (a rolling median is not
        // a linear smoother, and the previous value leaves the point out already).
        let used = if matches!(method, "rolling_median" | "previous_value") {
            Vec::new()
        } else {
            usable_periods(&self.periods, x.len())
        };
        let largest = x.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        let mut resid = residuals(values, &fit, largest);
        if let Some(h) = stl::self_weight(&used, x.len()) {
            // One period fitted with a line per phase leans on the ends' own values more.
            let leverage = match used[..] {
                [p] => stl::line_leverage(p, x.len()),
                _ => None,
            };
            delete_own_weight(
                &mut resid,
                h.clamp(0.0, MAX_SELF_WEIGHT),
                |i| leverage.as_ref().map_or(0.0, |extra| extra(i)),
                self.params.robust,
            );
        }
        let (center, scale) = robust_center_scale(&resid).unwrap_or((0.0, 0.0));
        let scale = if scale > 0.0 {
            scale
        } else {
            tiny_scale(largest)
        };
        let score = resid
            .iter()
            .map(|&r| {
                if r.is_finite() {
                    deviation(r, center, scale)
                } else {
                    f64::NAN
                }
            })
            .collect();
        let k = self.params.band_k;
        let lower = fit.iter().map(|f| f + center - k * scale).collect();
        let upper = fit.iter().map(|f| f + center + k * scale).collect();
        let note = match (method, self.periods.is_empty()) {
            ("rolling_median", true) => format!(
                "no seasonal period found; residuals are taken from a centred rolling median of {} points",
                self.params.fallback_window
            ),
            ("rolling_median", false) => format!(
                "the series is too short for period {:?} (it needs two cycles); residuals are taken from a centred rolling median of {} points",
                self.periods, self.params.fallback_window
            ),
            ("previous_value", _) => "no seasonal period found, and the series moves like a random \
                 walk (its levels are strongly autocorrelated, its steps are not): residuals are its \
                 steps, each value minus the one before"
                .to_owned(),
            _ => format!("decomposed with period(s) {used:?}"),
        };
        Ok(Scores::new(score)
            .with_expected(fit)
            .with_band(lower, upper)
            .with_report(json!({
                "period": used.iter().min(),
                "periods": used,
                "periods_detected": self.detected,
                "method": method,
                "residual_median": center,
                "residual_scale": scale,
                "note": note,
            })))
    }

    fn save(&self) -> Result<ModelState, Error> {
        let saved = SavedSeasonal {
            params: self.params.clone(),
            periods: self.periods.clone(),
            detected: self.detected.clone(),
        };
        Ok(ModelState {
            kind: KIND.into(),
            version: STATE_VERSION,
            config: serde_json::to_value(saved).map_err(Error::backend)?,
            bytes: Vec::new(),
        })
    }
}

/// The streaming form: keeps the last `history` points, refits (detects periods while none is
/// known, then decomposes) every `refit_every` points, and scores each new point against the
/// last fit's extrapolation: the last trend value plus the season one cycle back, and the
/// fit's residual scale. Uses the past only.
#[derive(Debug)]
struct SeasonalOnline {
    detector: SeasonalDetector,
    history: VecDeque<f64>,
    since_fit: usize,
    fit: Option<OnlineFit>,
    periods: Vec<usize>,
    /// The last finite value seen: the expected value when the steps are scored.
    last: f64,
}

#[derive(Debug)]
struct OnlineFit {
    /// Expected values for the next points, one per step after the fit, one cycle long;
    /// empty when the expected value is the last one seen (a random walk's steps).
    ahead: Vec<f64>,
    /// Points consumed since the fit.
    used: usize,
    center: f64,
    scale: f64,
}

impl SeasonalOnline {
    fn new(detector: SeasonalDetector) -> Self {
        let periods = detector.params.period.map(|p| vec![p]).unwrap_or_default();
        SeasonalOnline {
            history: VecDeque::with_capacity(detector.params.history + 1),
            detector,
            since_fit: 0,
            fit: None,
            periods,
            last: f64::NAN,
        }
    }

    fn refit_every(&self) -> usize {
        match self.detector.params.refit_every {
            0 => self.periods.first().copied().unwrap_or(50).max(1),
            k => k,
        }
    }

    fn refit(&mut self) {
        let values: Vec<f64> = self.history.iter().copied().collect();
        let Some(x) = interpolate(&values) else {
            return;
        };
        if self.periods.is_empty() {
            let (periods, _) = self.detector.periods_for(&values);
            self.periods = periods;
        }
        let p = &self.detector.params;
        let steps = self.periods.is_empty() && moves_like_a_random_walk(&x);
        let (fit, method) = decompose(&x, &self.periods, p, steps);
        let largest = x.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        let resid = residuals(&values, &fit, largest);
        let Some((center, scale)) = robust_center_scale(&resid) else {
            return;
        };
        let n = x.len();
        // Extrapolate seasonally naively on the smooth fit: the next cycle repeats the last
        // one (trend drift within one cycle is ignored).
        let ahead = if method == "previous_value" {
            Vec::new()
        } else if method == "rolling_median" {
            vec![fit[n - 1]; 1]
        } else {
            let cycle = self
                .periods
                .iter()
                .copied()
                .filter(|&q| 2 * q <= n)
                .max()
                .unwrap_or(1);
            (0..cycle).map(|j| fit[n - cycle + j]).collect()
        };
        self.fit = Some(OnlineFit {
            ahead,
            used: 0,
            center,
            scale: if scale > 0.0 {
                scale
            } else {
                tiny_scale(fit[n - 1])
            },
        });
    }
}

impl OnlineModel for SeasonalOnline {
    fn update(&mut self, _timestamp: i64, value: f64) -> f64 {
        let score = match &mut self.fit {
            Some(f) if value.is_finite() => {
                let expected = if f.ahead.is_empty() {
                    self.last
                } else {
                    f.ahead[f.used % f.ahead.len()]
                };
                deviation(value - expected, f.center, f.scale)
            }
            _ => f64::NAN,
        };
        if let Some(f) = &mut self.fit {
            f.used += 1;
        }
        if value.is_finite() {
            self.last = value;
        }
        if self.history.len() == self.detector.params.history {
            self.history.pop_front();
        }
        self.history.push_back(value);
        self.since_fit += 1;
        let warm = self.history.len() >= self.detector.min_len().max(MIN_DETECT_LEN * 2);
        if warm && (self.fit.is_none() || self.since_fit >= self.refit_every()) {
            self.since_fit = 0;
            self.refit();
        }
        score
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsad_core::Threshold;
    use tsad_testing::{
        ConformanceOptions, Rng, assert_close, conformance_with, random_walk,
        seasonal_with_anomalies, with_nan_gaps,
    };

    fn sines(n: usize, periods: &[(usize, f64)], noise: f64, seed: u64) -> Vec<f64> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|i| {
                periods
                    .iter()
                    .map(|&(p, a)| a * (std::f64::consts::TAU * i as f64 / p as f64).sin())
                    .sum::<f64>()
                    + noise * rng.normal()
                    + 0.001 * i as f64
            })
            .collect()
    }

    /// A daily rhythm of 48 points whose peak comes a quarter day later and lower on two
    /// days in seven (weekends), plus noise.
    fn weekdays(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|i| {
                let weekend = (i / 48) % 7 >= 5;
                let (amplitude, lag) = if weekend { (0.8, 12.0) } else { (1.0, 0.0) };
                let phase = std::f64::consts::TAU * (i as f64 - lag) / 48.0;
                10.0 + amplitude * phase.sin() + 0.1 * rng.normal()
            })
            .collect()
    }

    fn series(v: Vec<f64>) -> Series {
        Series::from_values(v).unwrap()
    }

    fn run(params: SeasonalParams, s: &Series) -> Scores {
        SeasonalDetector::new(params)
            .unwrap()
            .fit(s, &FitContext::new())
            .unwrap()
            .score(s)
            .unwrap()
    }

    /// The 99.9th percentile of `seasonal`'s scores on Gaussian noise around a daily and a
    /// weekly season (the demo's shape, no anomaly), in robust σ: about 3.3 for Gaussian
    /// scores. On 10,000 such points the robust decomposition's own residuals gave 5.0 (its
    /// robustness weights let the ordinary points' residuals shrink into the fit and the
    /// larger ones not) and the deleted residuals 3.7; this test fails with the former.
    #[test]
    fn scores_of_gaussian_noise_around_seasons_keep_a_gaussian_tail() {
        let mut rng = Rng::new(11);
        let v: Vec<f64> = (0..20_000)
            .map(|i| {
                let day = std::f64::consts::TAU * (i % 24) as f64 / 24.0;
                let week = std::f64::consts::TAU * (i % 168) as f64 / 168.0;
                100.0 + 25.0 * day.sin() + 8.0 * week.sin() + 3.0 * rng.normal()
            })
            .collect();
        let scores = run(SeasonalParams::default(), &series(v));
        let mut s: Vec<f64> = scores.score.into_iter().filter(|x| x.is_finite()).collect();
        s.sort_by(f64::total_cmp);
        let p999 = s[s.len() * 999 / 1000];
        assert!((3.0..4.2).contains(&p999), "99.9th percentile {p999}");
    }

    proptest::proptest! {
        /// Deleting each point's own weight keeps the residuals' order (for own weights up to
        /// the cap), so it changes how rare a score reads, not which points rank highest.
        #[test]
        fn deleted_residuals_keep_their_order(
            mut resid in proptest::collection::vec(-1e3f64..1e3, 1..200),
            h in 0.0..=MAX_SELF_WEIGHT,
            robust: bool,
        ) {
            let before = resid.clone();
            delete_own_weight(&mut resid, h, |_| 0.0, robust);
            for i in 0..before.len() {
                proptest::prop_assert_eq!(resid[i].signum(), before[i].signum());
                for j in 0..before.len() {
                    if before[i].abs() < before[j].abs() {
                        proptest::prop_assert!(resid[i].abs() <= resid[j].abs(),
                            "{} -> {}, {} -> {}", before[i], resid[i], before[j], resid[j]);
                    }
                }
            }
        }
    }

    #[test]
    fn a_long_decomposition_stops_soon_after_a_cancel() {
        // 600,000 points with a daily period: seconds of STL, far more than the 50 ms watch.
        let values: Vec<f64> = (0..600_000)
            .map(|i| (i as f64 * std::f64::consts::TAU / 24.0).sin() + (i % 7) as f64 * 0.01)
            .collect();
        let series = Series::from_values(values).unwrap();
        let detector = SeasonalDetector::new(SeasonalParams {
            period: Some(24),
            ..SeasonalParams::default()
        })
        .unwrap();
        let model = detector.fit(&series, &FitContext::new()).unwrap();
        let flag = tsad_core::CancelFlag::new();
        let ctx = FitContext::new().with_cancel(flag.clone());
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            flag.cancel();
            std::time::Instant::now()
        });
        let got = model.score_with(&series, &ctx);
        let returned = std::time::Instant::now();
        let cancelled_at = canceller.join().unwrap();
        assert!(
            matches!(got, Err(Error::Cancelled)),
            "scored before the cancel"
        );
        let late = returned.saturating_duration_since(cancelled_at);
        assert!(
            late.as_secs_f64() < 1.0,
            "returned {late:?} after the cancel"
        );
    }

    #[test]
    fn detection_table() {
        type Case = (&'static str, Vec<f64>, &'static [usize]);
        let cases: Vec<Case> = vec![
            ("period 24", sines(2000, &[(24, 1.0)], 0.3, 1), &[24]),
            ("period 7", sines(700, &[(7, 1.0)], 0.3, 2), &[7]),
            ("period 96", sines(4000, &[(96, 3.0)], 0.3, 3), &[96]),
            // Four cycles: the periodogram's longest bin in range (64) is the peak, and the
            // autocorrelation must look past it, up to the range's end (100).
            (
                "period 75 in 300 points",
                sines(300, &[(75, 3.0)], 0.3, 7),
                &[75],
            ),
            // 288 falls between periodogram bins; the autocorrelation refines it (within 1%).
            ("period 288", sines(4000, &[(288, 3.0)], 0.5, 4), &[288]),
            (
                "daily and weekly",
                sines(5000, &[(24, 2.0), (168, 2.0)], 0.3, 5),
                &[168, 24],
            ),
            // Half-hourly demand whose weekends run differently (as NAB's nyc_taxi): the weekly
            // cycle can have little periodogram power next to the daily one, but is real.
            ("daily with quiet weekends", weekdays(10_320, 7), &[48, 336]),
            ("white noise", sines(2000, &[], 1.0, 6), &[]),
            ("random walk", random_walk(4000, 3).values().to_vec(), &[]),
            (
                "short random walk",
                random_walk(1000, 4).values().to_vec(),
                &[],
            ),
            ("too short", vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0], &[]),
            ("all missing", vec![f64::NAN; 100], &[]),
            ("constant", vec![3.0; 100], &[]),
        ];
        for (name, v, want) in cases {
            let got: Vec<usize> = detect_periods(&v, 4, 512, 2)
                .iter()
                .map(|d| d.period)
                .collect();
            assert_eq!(got.len(), want.len(), "{name}: {got:?}");
            for (g, w) in got.iter().zip(want) {
                assert!(g.abs_diff(*w) * 100 <= *w, "{name}: {got:?} vs {want:?}");
            }
        }
    }

    /// The values of a NAB data file; `None` when the corpus is absent (see
    /// [`tsad_testing::nab_dir`]).
    fn nab_values(file: &str) -> Option<Vec<f64>> {
        let path = tsad_testing::nab_dir()?.join("data").join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        Some(
            text.lines()
                .skip(1)
                .filter_map(|l| l.split(',').nth(1)?.trim().parse().ok())
                .collect(),
        )
    }

    /// Issue 6: on NAB's nyc_taxi (half-hourly) only the daily period 48 was found, not the
    /// weekly 336, so weekends looked anomalous; and a daily file got a spurious side-lobe
    /// period (255 beside 288).
    #[test]
    fn issue_6_nab_periods() {
        let cases: [(&str, &[usize]); 3] = [
            ("realKnownCause/nyc_taxi.csv", &[48, 336]),
            ("artificialWithAnomaly/art_daily_jumpsup.csv", &[288]),
            ("realTweets/Twitter_volume_AAPL.csv", &[]),
        ];
        for (file, want) in cases {
            let Some(values) = nab_values(file) else {
                return;
            };
            let got: Vec<usize> = detect_periods(&values, 4, 512, 2)
                .iter()
                .map(|d| d.period)
                .collect();
            assert_eq!(got, want, "{file}");
        }
    }

    #[test]
    fn params_table() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("defaults", "{}", None),
            (
                "explicit period",
                r#"{"period": 24, "robust": false}"#,
                None,
            ),
            ("period too small", r#"{"period": 1}"#, Some("`period`")),
            (
                "period range inverted",
                r#"{"min_period": 10, "max_period": 5}"#,
                Some("`max_period`"),
            ),
            ("no periods", r#"{"max_periods": 0}"#, Some("`max_periods`")),
            (
                "several",
                r#"{"band_k": -1, "fallback_window": 1, "history": 3}"#,
                Some("`band_k, fallback_window, history`"),
            ),
        ];
        tsad_testing::check_params(SeasonalDetector::new, cases);
        assert!(serde_json::from_str::<SeasonalParams>(r#"{"periods": [3]}"#).is_err());
    }

    #[test]
    fn recovers_injected_spikes_at_the_default_threshold() {
        let (mut found, mut total) = (0, 0);
        for seed in 0..5 {
            let (s, spikes) = seasonal_with_anomalies(4000, 96, 12, seed);
            let scores = run(SeasonalParams::default(), &s);
            assert_eq!(scores.report["period"], 96, "seed {seed}");
            let cut = Threshold::Sigma { k: 3.0 }.apply(&scores.score).unwrap();
            total += spikes.len();
            found += spikes.iter().filter(|&&i| cut.flags[i]).count();
        }
        let recall = found as f64 / total as f64;
        assert!(recall >= 0.9, "recall {recall} ({found} of {total})");
    }

    #[test]
    fn an_exactly_repeating_series_scores_only_its_deviation() {
        // A pulse train (SMAP's E channels are like it), fitted to rounding: what is left of
        // a repeating point is noise, and it must score 0, not noise over a noise scale.
        let pattern = [
            -1.0, -1.0, 1.0, -1.0, 1.0, 1.0, -1.0, -1.0, -1.0, 1.0, -1.0, -1.0,
        ];
        let mut values: Vec<f64> = (0..2400).map(|i| pattern[i % pattern.len()]).collect();
        values[1500] = -values[1500];
        let scores = run(
            SeasonalParams {
                period: Some(12),
                ..SeasonalParams::default()
            },
            &Series::from_values(values).unwrap(),
        );
        // Far from the deviation the fit is exact to rounding, and those points score 0.
        for (i, score) in scores.score.iter().enumerate() {
            assert!(
                i.abs_diff(1500) < 700 || *score == 0.0,
                "point {i}: {score}"
            );
        }
        // Near it, the robust fit itself is thrown off (netlib's robustness weights give 0
        // to every point not fitted exactly, the deviation's neighbours too), but the
        // stretch stands out.
        let near = scores.score[1488..=1512]
            .iter()
            .fold(0.0_f64, |m, &s| m.max(s));
        assert!(near > 100.0, "{near}");
    }

    /// A swing whose period is not a whole number of points, over many cycles, with two spikes
    /// of 8 noise σ: they score highest, well clear of the rest, since the seasonal curve
    /// follows the phase's slip from the whole period read (with one curve for the whole
    /// series, `stlrs`'s default window, they scored 4.2-5.1 beside 3.5-4.0 elsewhere).
    #[test]
    fn spikes_on_a_swing_of_fractional_period_score_highest() {
        for (n, divisor, seed) in [(5000, 10.0, 2), (10_000, 20.0, 1)] {
            let spike = 8.0;
            let mut rng = Rng::new(seed);
            let mut v: Vec<f64> = (0..n)
                .map(|t| 10.0 * (t as f64 / divisor).sin() + rng.normal())
                .collect();
            let spikes = [n / 3, n * 2 / 3];
            v[spikes[0]] += spike;
            v[spikes[1]] -= spike;
            let scores = run(SeasonalParams::default(), &series(v)).score;
            let rest = (0..n)
                .filter(|i| !spikes.contains(i))
                .map(|i| scores[i])
                .fold(0.0, f64::max);
            for at in spikes {
                assert!(
                    scores[at] > 1.5 * rest,
                    "{n} points of sin(t / {divisor}): {} at {at}, up to {rest} elsewhere",
                    scores[at]
                );
            }
        }
    }

    /// Noise around a swing of 75.4 points over 1,000 (13 cycles, a line per phase): a point
    /// in the first or last 100 scores above 3.5 less than twice as often as one in the middle
    /// 400, since deviations at the lines' ends are scaled by their larger spread (measured:
    /// 1.5 times as often; 2.8 without the scaling).
    #[test]
    fn a_line_per_phase_scores_its_ends_like_its_middle() {
        let (n, mut rng) = (1000, Rng::new(11));
        let (mut ends, mut middle) = (0usize, 0usize);
        for k in 0..200 {
            let phase = k as f64 * 0.37;
            let v: Vec<f64> = (0..n)
                .map(|t| 10.0 * (std::f64::consts::TAU * t as f64 / 75.398 + phase).sin())
                .map(|y| y + rng.normal())
                .collect();
            let scores = run(SeasonalParams::default(), &series(v)).score;
            let high = |range: std::ops::Range<usize>| range.filter(|&i| scores[i] > 3.5).count();
            ends += high(0..100) + high(n - 100..n);
            middle += high(300..700);
        }
        // Per point: the ends hold 200 points, the middle 400.
        let ratio = (ends as f64 / 200.0) / (middle as f64 / 400.0);
        assert!(
            ratio < 2.0,
            "ends {ends}, middle {middle}: {ratio} times as often"
        );
    }

    #[test]
    fn missing_values_score_nan_and_keep_the_fit() {
        let (s, _) = seasonal_with_anomalies(2000, 48, 5, 7);
        let gappy = with_nan_gaps(&s, 7);
        let scores = run(SeasonalParams::default(), &gappy);
        for (i, v) in gappy.values().iter().enumerate() {
            assert_eq!(v.is_nan(), scores.score[i].is_nan(), "point {i}");
        }
        assert!(scores.expected.unwrap().iter().all(|e| e.is_finite()));
        assert_eq!(scores.report["period"], 48);
    }

    #[test]
    fn a_random_walk_is_scored_on_its_steps_and_its_jump_stands_out() {
        // A walk of unit steps with a jump of 12 at point 300: the steps are the residuals, so
        // the jump is the highest score by far, in batch and streaming.
        let mut v = random_walk(1000, 1).values().to_vec();
        v[300..].iter_mut().for_each(|x| *x += 12.0);
        let s = series(v.clone());
        let scores = run(SeasonalParams::default(), &s);
        assert_eq!(scores.report["method"], "previous_value");
        let note = scores.report["note"].as_str().unwrap();
        assert!(note.contains("moves like a random walk"), "{note}");
        let top = |score: &[f64]| {
            let mut ranked: Vec<(usize, f64)> = score
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, x)| x.is_finite())
                .collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            (ranked[0], ranked[1].1)
        };
        let ((at, peak), next) = top(&scores.score);
        assert_eq!(at, 300);
        assert!(peak > 2.5 * next, "jump {peak}, next {next}");
        assert_close(&scores.expected.as_ref().unwrap()[300], &v[299], 1e-12);
        // The same walk against a centred rolling median: the jump's residual is no larger
        // than the walk's own wandering.
        let rolling = centred_median(&v, 25);
        let resid: Vec<f64> = v.iter().zip(&rolling).map(|(x, m)| (x - m).abs()).collect();
        let ((_, peak_rolling), next_rolling) = top(&resid);
        assert!(
            peak_rolling < 2.0 * next_rolling,
            "{peak_rolling} vs {next_rolling}"
        );
        let mut online = SeasonalDetector::new(SeasonalParams::default())
            .unwrap()
            .online()
            .unwrap();
        let streamed: Vec<f64> = v.iter().map(|&x| online.update(0, x)).collect();
        // Streaming reads its scale off a short past at first, so its margin is smaller.
        let ((at, peak), next) = top(&streamed);
        assert_eq!(at, 300);
        assert!(peak > 1.5 * next, "streaming: jump {peak}, next {next}");
    }

    #[test]
    fn no_period_falls_back_to_a_rolling_median() {
        // Noise around a steady level: its levels are not autocorrelated, so no walk.
        let mut rng = Rng::new(1);
        let s = series((0..500).map(|_| 100.0 + rng.normal()).collect());
        let scores = run(SeasonalParams::default(), &s);
        assert_eq!(scores.report["method"], "rolling_median");
        assert!(scores.report["period"].is_null());
        let note = scores.report["note"].as_str().unwrap();
        assert!(note.starts_with("no seasonal period found"), "{note}");
        // A known period too long for the scored series also falls back, and says why.
        let short = series(sines(30, &[(24, 1.0)], 0.1, 1));
        let model = SeasonalDetector::new(SeasonalParams {
            period: Some(24),
            ..SeasonalParams::default()
        })
        .unwrap()
        .fit(
            &series(sines(100, &[(24, 1.0)], 0.1, 1)),
            &FitContext::new(),
        )
        .unwrap();
        let r = model.score(&short).unwrap().report;
        assert!(r["note"].as_str().unwrap().contains("too short"), "{r}");
    }

    #[test]
    fn a_repeating_pattern_is_recovered() {
        // A repeating pattern plus small noise (sd 0.05): expected stays within 0.2 of the
        // pattern, and the spike has the top score by far. (A noiseless pattern would make
        // STL's robustness weights degenerate: every residual is 0 but the spike's.)
        let pattern = [1.0, 3.0, 2.0, 5.0, 4.0, 0.0];
        let mut rng = Rng::new(8);
        let mut v: Vec<f64> = (0..120)
            .map(|i| pattern[i % 6] + 0.05 * rng.normal())
            .collect();
        v[60] += 10.0;
        let scores = run(
            SeasonalParams {
                period: Some(6),
                ..SeasonalParams::default()
            },
            &series(v),
        );
        let e = scores.expected.unwrap();
        let off = (0..120)
            .map(|i| (e[i] - pattern[i % 6]).abs())
            .fold(0.0, f64::max);
        assert!(off < 0.2, "{off}");
        let mut sorted = scores.score.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        assert_eq!(sorted[0], scores.score[60]);
        assert!(sorted[0] > 5.0 * sorted[1], "{sorted:?}");
    }

    #[test]
    fn streaming_flags_spikes_from_the_past() {
        let (s, spikes) = seasonal_with_anomalies(3000, 48, 8, 2);
        let mut online = SeasonalDetector::new(SeasonalParams {
            history: 600,
            ..SeasonalParams::default()
        })
        .unwrap()
        .online()
        .unwrap();
        let streamed: Vec<f64> = s
            .values()
            .iter()
            .enumerate()
            .map(|(i, &v)| online.update(i as i64, v))
            .collect();
        let cut = Threshold::Sigma { k: 3.0 }.apply(&streamed[600..]).unwrap();
        let late: Vec<usize> = spikes.iter().copied().filter(|&i| i >= 600).collect();
        let found = late.iter().filter(|&&i| cut.flags[i - 600]).count();
        assert!(
            found as f64 >= 0.8 * late.len() as f64,
            "{found} of {}",
            late.len()
        );
    }

    #[test]
    fn conforms() {
        conformance_with(
            "seasonal",
            &|| Box::new(SeasonalDetector::new(SeasonalParams::default()).unwrap()),
            &ConformanceOptions {
                // The streaming form needs 32 points before its first fit.
                warmup: Some(32),
                ..ConformanceOptions::default()
            },
        );
        conformance_with(
            "seasonal with period",
            &|| {
                Box::new(
                    SeasonalDetector::new(SeasonalParams {
                        period: Some(50),
                        robust: false,
                        ..SeasonalParams::default()
                    })
                    .unwrap(),
                )
            },
            &ConformanceOptions {
                warmup: Some(200),
                ..ConformanceOptions::default()
            },
        );
    }
}
