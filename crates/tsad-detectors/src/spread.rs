//! `spread`: a change of spread, the noise of the `window` points from each point on against
//! the noise of the `window` points before it.
//!
//! **Catches** a series that turns noisier or calmer and stays so: a sensor that starts to
//! fail, a market whose volatility jumps, a signal that goes flat while its level stays
//! where it was. No single point need stand out, and a regime that holds for a good part of
//! the series becomes its own normal for the point detectors (`mad`, `seasonal`), so those
//! miss it; here the change itself is the anomaly. Not a member of the default: on
//! telemetry whose spread changes with its operating mode (NASA SMAP, fitted on its training
//! part) it raises about one unlabelled event per channel.
//!
//! **How.** Missing values are interpolated linearly. The fit detects the series' periods as
//! `level` does: when `window` is not given, the longest one (repeated up to at least 48
//! points) is the window, or `fallback_window` when there is none. Scoring takes the season
//! out (each point less the median of its phase over the scored series) and reads the noise
//! from the steps `x[i] - x[i-1]`, which a level shift or a slow trend barely move. The spread
//! of a window's steps is their mean absolute deviation from their median, each deviation
//! capped at 3 robust standard deviations (1.4826 × their MAD) so a spike moves it little,
//! times 1.2533 (a standard deviation for normal noise); it is at least a quarter of the
//! training series' step noise, so calmer stretches (a flat line, a quantised signal holding
//! one reading) all read alike. `s_before` is the spread of the `w - 1` steps inside
//! `x[t-w..t]` and `s_after` that of the steps inside `x[t..t+w]`. The score is
//! `(ln(s_after / s_before) / se)²` with `se = sqrt(2 · 0.5708 / (w - 1))`, the standard error
//! of such a log-ratio for normal noise: a chi-square statistic of one degree of freedom when
//! nothing changes, whose exponential tail the calibration extrapolates well (in standard
//! errors the tail would be a normal one, which an exponential fit reads far too heavy). A
//! fourfold change reads as about 80 at 48 points.
//!
//! **One point per change**, as in `level`: only a point above every score up to `w / 2`
//! before it and at least every one up to `w / 2` after it keeps its score; the others score
//! 0. The two windows' ratio is highest anywhere within a few points of the change, so the
//! point kept is then moved to where the change is: the split, within `w / 2` of it, of the
//! `2·w` points around it where the steps' variance changes most (the likelihood ratio of two
//! variances against one, deviations capped as above). A change of spread is then one point
//! at the change, as rare to the calibration as a spike.
//!
//! **Score scale**: squared standard errors of the log-ratio of the two spreads, 0 off the
//! peaks; NaN for the first `w` and the last `w - 1` points, which lack a full window on one
//! side, and at missing values. A series shorter than `2·w + 1` is compared over windows of
//! `(n - 1) / 2`. `expected` is the value itself; no band.
//!
//! **Report**: `{"window", "period" (or null), "step_noise"}`.
//!
//! **Parameters** ([`SpreadParams`]): `window` (default: detect), `fallback_window` (48).
//!
//! **Minimum length**: `2·window + 1` (97 with the fallback window of 48).
//!
//! **Cost**: the period detection of `seasonal`, then one rolling median of `w - 1` steps (a
//! sorted window) and a capped mean over it: O(n·w). Batch only: the score needs the points
//! after each point.
//!
//! **Reference**: the two-window comparison of change-point detection (Basseville &
//! Nikiforov 1993, *Detection of Abrupt Changes*, section 2.1) applied to the scale, as in
//! tests for a change of variance (Inclán & Tiao 1994, "Use of cumulative sums of squares
//! for retrospective detection of changes of variance", JASA 89(427)), here with the MAD of
//! the steps for robustness.

use crate::change::{comparable, fit_window, peaks_of, without_cycle};
use crate::common::{
    MEAN_AD_TO_SIGMA, Problems, STATE_VERSION, SortedWindow, begin_fit, check_len, parse_state,
    report_done, robust_center_scale, tiny_scale,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tsad_core::stats::MAD_TO_SIGMA;
use tsad_core::{Detector, Error, FitContext, Model, ModelState, Scores, Series};

const KIND: &str = "spread";

/// The shortest detected window: a period shorter than this is repeated until it reaches it.
const MIN_WINDOW: usize = 48;

/// Variance of the log of the mean absolute deviation of `n` normal values, times `n`
/// (asymptotically): `(1 - 2/π) / (2/π)`.
const LN_SCALE_VARIANCE: f64 = 0.5708;

/// Deviations are capped at this many robust standard deviations (1.4826 × MAD) before they
/// are averaged: a spike then moves the spread little, while the mean keeps most of the
/// efficiency the MAD lacks.
const WINSOR: f64 = 3.0;

/// The smallest spread read, as a share of the training series' step noise: stretches
/// calmer than this (a flat line, a quantised signal that holds one reading) all read alike,
/// so their own small wiggles do not read as changes of spread.
const FLOOR_SHARE: f64 = 0.25;

/// Parameters of the [`SpreadDetector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SpreadParams {
    /// Points on each side of the comparison (at least 4), or null (the default) to use the
    /// longest period found on the training series (repeated up to at least 48 points). The
    /// season found is taken out either way.
    pub window: Option<usize>,
    /// The window when no period is found (default 48, at least 4).
    pub fallback_window: usize,
}

impl Default for SpreadParams {
    fn default() -> Self {
        SpreadParams {
            window: None,
            fallback_window: MIN_WINDOW,
        }
    }
}

impl SpreadParams {
    fn validate(&self) -> Result<(), Error> {
        let mut p = Problems::new();
        if let Some(w) = self.window {
            p.check(w >= 4, "window", || {
                format!("must be at least 4 (or null to detect it), got {w}")
            });
        }
        p.check(self.fallback_window >= 4, "fallback_window", || {
            format!("must be at least 4, got {}", self.fallback_window)
        });
        p.finish()
    }

    fn fewest_points(&self) -> usize {
        2 * self.window.unwrap_or(self.fallback_window) + 1
    }
}

/// The change-of-spread detector (unfitted). See the [module docs](self).
#[derive(Debug, Clone)]
pub struct SpreadDetector {
    params: SpreadParams,
}

impl SpreadDetector {
    /// Validates `params`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] listing every invalid field.
    pub fn new(params: SpreadParams) -> Result<Self, Error> {
        params.validate()?;
        Ok(SpreadDetector { params })
    }

    /// The parameters.
    pub fn params(&self) -> &SpreadParams {
        &self.params
    }
}

/// A fitted [`SpreadDetector`]: the window, the period it came from and the step noise of the
/// training series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpreadModel {
    params: SpreadParams,
    window: usize,
    period: Option<usize>,
    step_noise: f64,
}

impl SpreadModel {
    /// The window used on each side.
    pub fn window(&self) -> usize {
        self.window
    }
}

/// The steps `x[i] - x[i-1]` (NaN at 0).
fn steps(x: &[f64]) -> Vec<f64> {
    std::iter::once(f64::NAN)
        .chain(x.windows(2).map(|w| w[1] - w[0]))
        .collect()
}

/// The spread of the `len` steps ending at each index (NaN until `len` are in): 1.2533 × their
/// mean absolute deviation from their median, each deviation capped at [`WINSOR`] × 1.4826 ×
/// their MAD (uncapped when the MAD is 0), and at least `floor`.
fn rolling_spread(steps: &[f64], len: usize, floor: f64) -> Vec<f64> {
    let mut window = SortedWindow::new(len);
    steps
        .iter()
        .map(|&d| {
            if !d.is_finite() {
                return f64::NAN;
            }
            window.push(d);
            if !window.is_full() {
                return f64::NAN;
            }
            let med = window.median();
            let mad = window.mad(med).abs();
            let cap = if mad > 0.0 {
                WINSOR * MAD_TO_SIGMA * mad
            } else {
                f64::INFINITY
            };
            (window.mean_abs_dev_capped(med, cap) * MEAN_AD_TO_SIGMA).max(floor)
        })
        .collect()
}

/// `|ln(s_after / s_before)|` at every `t` with a full window on both sides, NaN elsewhere:
/// the spreads of the `w - 1` steps inside `x[t..t+w]` and inside `x[t-w..t]`, from the
/// `steps` of a finite `x` (see [`steps`]).
fn spread_changes(steps: &[f64], w: usize, floor: f64) -> Vec<f64> {
    let n = steps.len();
    let mut out = vec![f64::NAN; n];
    if w < 2 || n < 2 * w {
        return out;
    }
    // spread[i]: the w - 1 steps d[i-w+2..=i], inside x[i-w+1..=i].
    let spread = rolling_spread(steps, w - 1, floor);
    for t in w..=n - w {
        let (before, after) = (spread[t - 1], spread[t + w - 1]);
        out[t] = (after / before).ln().abs();
    }
    out
}

/// Each peak moved to the split of the `2·w` points around it where the variance of the
/// steps changes most (the likelihood ratio of two variances against one, steps capped at
/// [`WINSOR`] robust deviations), within `w / 2` of the peak; `d` are the series' steps.
fn at_changes(d: &[f64], score: Vec<f64>, w: usize) -> Vec<f64> {
    let n = d.len();
    let mut out = score.clone();
    for (t, &s) in score.iter().enumerate() {
        if s.is_nan() || s <= 0.0 {
            continue;
        }
        let (a, b) = ((t + 1).saturating_sub(w).max(1), (t + w).min(n));
        let seg = &d[a..b];
        let Some((med, sigma)) = robust_center_scale(seg) else {
            continue;
        };
        let cap = WINSOR * sigma;
        let sq: Vec<f64> = seg
            .iter()
            .map(|v| (v - med).abs().min(cap).powi(2))
            .collect();
        let mut prefix = vec![0.0; sq.len() + 1];
        for (i, v) in sq.iter().enumerate() {
            prefix[i + 1] = prefix[i] + v;
        }
        let total = prefix[sq.len()];
        let (lo, hi) = (t.saturating_sub(w / 2).max(w), (t + w / 2).min(n - w));
        let mut best = (f64::NEG_INFINITY, t);
        for c in lo..=hi {
            // Steps before the split: d[a..c] (inside x[a-1..c]); after: d[c+1..b].
            let (k1, k2) = (c.saturating_sub(a), b.saturating_sub(c + 1));
            if k1 < 2 || k2 < 2 {
                continue;
            }
            let v1 = prefix[c - a] / k1 as f64;
            let v2 = (total - prefix[c + 1 - a]) / k2 as f64;
            let v = (prefix[c - a] + total - prefix[c + 1 - a]) / (k1 + k2) as f64;
            if v1 <= 0.0 || v2 <= 0.0 {
                continue;
            }
            let lr = (k1 + k2) as f64 * v.ln() - k1 as f64 * v1.ln() - k2 as f64 * v2.ln();
            if lr > best.0 {
                best = (lr, c);
            }
        }
        let c = best.1;
        if c != t && out[c] == 0.0 {
            out[c] = s;
            out[t] = 0.0;
        }
    }
    out
}

/// The robust scale of the steps of `x`: their noise once the level is taken out. Never 0.
fn step_noise(x: &[f64]) -> f64 {
    let d = steps(x);
    let scale = robust_center_scale(&d).map_or(0.0, |(_, s)| s);
    if scale > 0.0 {
        scale
    } else {
        tiny_scale(x.first().copied().unwrap_or(0.0))
    }
}

impl Detector for SpreadDetector {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn min_len(&self) -> usize {
        self.params.fewest_points()
    }

    fn fit(&self, train: &Series, ctx: &FitContext) -> Result<Box<dyn Model>, Error> {
        begin_fit(train, self.min_len(), ctx)?;
        let (x, period, window) = fit_window(
            train,
            self.min_len(),
            self.params.window,
            self.params.fallback_window,
            MIN_WINDOW,
        )?;
        let step_noise = step_noise(&without_cycle(x, period));
        report_done(ctx);
        Ok(Box::new(SpreadModel {
            params: self.params.clone(),
            window,
            period,
            step_noise,
        }))
    }

    fn load(&self, state: &ModelState) -> Result<Box<dyn Model>, Error> {
        let model: SpreadModel = parse_state(KIND, state)?;
        model.params.validate().map_err(|e| Error::Load {
            reason: e.to_string(),
        })?;
        if model.window < 4
            || model.period.is_some_and(|p| p < 2)
            || !(model.step_noise.is_finite() && model.step_noise > 0.0)
        {
            return Err(Error::Load {
                reason: format!(
                    "`{KIND}` model: window {}, period {:?} and step noise {} are not a fitted \
                     model's (window at least 4, period at least 2, step noise above 0)",
                    model.window, model.period, model.step_noise
                ),
            });
        }
        Ok(Box::new(model))
    }
}

impl Model for SpreadModel {
    fn score(&self, series: &Series) -> Result<Scores, Error> {
        self.score_with(series, &FitContext::new())
    }

    fn score_with(&self, series: &Series, ctx: &FitContext) -> Result<Scores, Error> {
        check_len(series, self.params.fewest_points().min(2 * self.window + 1))?;
        ctx.check_cancelled()?;
        let values = series.values();
        // A series shorter than two of the fitted windows is compared over shorter ones.
        let window = self.window.min((values.len() - 1) / 2);
        let report =
            json!({"window": window, "period": self.period, "step_noise": self.step_noise});
        let Some(rest) = comparable(values, self.period) else {
            return Ok(Scores::new(vec![f64::NAN; values.len()]).with_report(report));
        };
        let d = steps(&rest);
        let standard_error = (2.0 * LN_SCALE_VARIANCE / (window - 1) as f64).sqrt();
        let mut changes: Vec<f64> = spread_changes(&d, window, FLOOR_SHARE * self.step_noise)
            .iter()
            .map(|c| (c / standard_error).powi(2))
            .collect();
        // Missing values score NaN before the peaks move, so none moves onto one.
        let score = peaks_of(&mut changes, window / 2, values);
        let score = at_changes(&d, score, window);
        Ok(Scores::new(score)
            .with_expected(values.to_vec())
            .with_report(report)
            .with_dense(changes))
    }

    fn save(&self) -> Result<ModelState, Error> {
        Ok(ModelState {
            kind: KIND.to_owned(),
            version: STATE_VERSION,
            config: serde_json::to_value(self).map_err(Error::backend)?,
            bytes: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsad_testing::highest_two;
    use tsad_testing::{ConformanceOptions, conformance_with};

    /// White noise of deviation 1 around 5, its deviation `factor` times larger from `at` on.
    fn noisier(n: usize, at: usize, factor: f64, seed: u64) -> Vec<f64> {
        let mut rng = tsad_testing::Rng::new(seed);
        (0..n)
            .map(|i| 5.0 + rng.normal() * if i < at { 1.0 } else { factor })
            .collect()
    }

    fn fit_score(values: &[f64], params: SpreadParams) -> Scores {
        tsad_testing::fit_and_score(&SpreadDetector::new(params).unwrap(), values)
    }

    #[test]
    fn params_table() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("defaults", "{}", None),
            ("explicit", r#"{"window": 96, "fallback_window": 24}"#, None),
            ("window too small", r#"{"window": 3}"#, Some("`window`")),
            (
                "both wrong",
                r#"{"window": 0, "fallback_window": 1}"#,
                Some("`window, fallback_window`"),
            ),
        ];
        tsad_testing::check_params(SpreadDetector::new, cases);
        let unknown: Result<SpreadParams, _> = serde_json::from_str(r#"{"windw": 3}"#);
        assert!(unknown.is_err(), "unknown fields are rejected");
    }

    #[test]
    fn a_noisier_quarter_peaks_at_its_start_and_nowhere_else() {
        for seed in 1..=3 {
            for (factor, what) in [(4.0, "noisier"), (0.25, "calmer")] {
                let values = noisier(5000, 3750, factor, seed);
                let scores = fit_score(&values, SpreadParams::default());
                assert_eq!(scores.report["window"], 48, "{}", scores.report);
                let (at, peak, runner_up) = highest_two(&scores.score);
                // (The split carries the noise of the spreads around it: a few points.)
                assert!(at.abs_diff(3750) <= 8, "seed {seed}, {what}: peak at {at}");
                assert!(
                    peak > 3.0 * runner_up,
                    "seed {seed}, {what}: the change scores {peak}, the next point {runner_up}"
                );
                // Everything but the peaks is 0, and the peaks are few.
                let peaks = scores.score.iter().filter(|s| **s > 0.0).count();
                assert!(peaks < 5000 / 24, "seed {seed}, {what}: {peaks} peaks");
            }
        }
    }

    #[test]
    fn a_spike_or_a_shift_of_level_is_no_change_of_spread() {
        let mut values = noisier(3000, 3000, 1.0, 4);
        values[1000] += 40.0;
        for v in &mut values[2000..] {
            *v += 10.0;
        }
        let scores = fit_score(&values, SpreadParams::default());
        let near = |i: usize| {
            scores.score[i - 30..i + 30]
                .iter()
                .cloned()
                .fold(0.0, f64::max)
        };
        let (_, peak, _) = highest_two(&scores.score);
        // A fourfold change of spread scores about 80; these stay among the noise's own peaks.
        assert!(
            near(1000) < 20.0 && near(2000) < 20.0,
            "{} {}",
            near(1000),
            near(2000)
        );
        assert!(peak < 20.0, "{peak}");
    }

    #[test]
    fn a_line_that_goes_flat_is_a_change_of_spread() {
        let mut values = noisier(3000, 3000, 1.0, 5);
        for v in &mut values[1500..1800] {
            *v = 5.0;
        }
        let scores = fit_score(&values, SpreadParams::default());
        // Both ends are changes of spread, and they are the two highest scores by far.
        let mut order: Vec<usize> = (0..3000).filter(|&i| scores.score[i] > 0.0).collect();
        order.sort_by(|&a, &b| scores.score[b].total_cmp(&scores.score[a]));
        let mut ends = [order[0], order[1]];
        ends.sort_unstable();
        assert!(
            ends[0].abs_diff(1500) <= 8 && ends[1].abs_diff(1800) <= 8,
            "{ends:?}"
        );
        let third = scores.score[order[2]];
        assert!(scores.score[ends[0]].min(scores.score[ends[1]]) > 3.0 * third);
    }

    #[test]
    fn missing_values_score_nan_and_a_short_series_is_refused() {
        let mut values = noisier(400, 250, 4.0, 6);
        values[100] = f64::NAN;
        let scores = fit_score(&values, SpreadParams::default());
        assert!(scores.score[100].is_nan());
        assert!(scores.score[..48].iter().all(|s| s.is_nan()));
        assert!(scores.score[48..100].iter().all(|s| s.is_finite()));
        // A missing value just where the change was found: the change is still found, beside it.
        let mut values = noisier(5000, 3750, 4.0, 1);
        let (found, _, _) = highest_two(&fit_score(&values, SpreadParams::default()).score);
        values[found] = f64::NAN;
        let scores = fit_score(&values, SpreadParams::default());
        let (at, peak, runner_up) = highest_two(&scores.score);
        assert!(at != found && at.abs_diff(3750) <= 24, "{found} -> {at}");
        assert!(peak > 3.0 * runner_up, "{peak} {runner_up}");
        let short = Series::from_values(values[..96].to_vec()).unwrap();
        let err = SpreadDetector::new(SpreadParams::default())
            .unwrap()
            .fit(&short, &FitContext::new())
            .unwrap_err();
        assert!(err.to_string().contains("need 97 points, got 96"), "{err}");
    }

    #[test]
    fn a_saved_model_of_another_shape_does_not_load() {
        let detector = SpreadDetector::new(SpreadParams::default()).unwrap();
        let series = Series::from_values(noisier(300, 300, 1.0, 7)).unwrap();
        let state = detector
            .fit(&series, &FitContext::new())
            .unwrap()
            .save()
            .unwrap();
        assert!(detector.load(&state).is_ok());
        let mut bad = state.clone();
        bad.config["step_noise"] = serde_json::json!(0.0);
        let err = detector.load(&bad).unwrap_err();
        assert!(err.to_string().contains("step noise 0"), "{err}");
        let mut other = state;
        other.version = 99;
        let err = detector.load(&other).unwrap_err();
        assert!(err.to_string().contains("version 99"), "{err}");
    }

    #[test]
    fn conforms() {
        conformance_with(
            "spread",
            &|| Box::new(SpreadDetector::new(SpreadParams::default()).unwrap()),
            &ConformanceOptions {
                skip_spike: Some("a spike is not a change of spread"),
                ..ConformanceOptions::default()
            },
        );
    }
}
