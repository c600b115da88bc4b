//! `level`: a change of level, the median of the `window` points from each point on against
//! the median of the `window` points before it.
//!
//! **Catches** level shifts that the other detectors miss because no single point stands out:
//! a daily metric that settles 5 noise deviations higher, a sensor whose offset moves, a
//! cycle whose swing is larger than the shift. Single spikes barely move a median, so they do
//! not score here (`mad` catches those).
//!
//! **How.** Missing values are interpolated linearly. The fit detects the series' periods as
//! `seasonal` does; when `window` is not given, the longest one (repeated up to at least 12
//! points) is the window, or `fallback_window` when there is none. Scoring takes the
//! season out (each point less the median of its phase of that cycle over the scored series),
//! then compares `median(x[t..t+w])` with `median(x[t-w..t])`, in units of `s`, the noise of
//! such a difference on the training series (`1.2533·σ·sqrt(2/w)`, σ the robust scale of one
//! cycle's differences `x[i] - x[i-p]` over `sqrt 2`, `p` the period or 1), so the difference
//! reads as standard errors of the change.
//!
//! **One point per shift.** That difference stays high on about `w` points around a shift
//! (the "after" median moves once more than half of its window is past it, the "before" median
//! once more than half of its own is) and is highest at the shift itself. Only a point above
//! every difference up to `w / 2` before it and at least every one up to `w / 2` after it keeps
//! its score; the others score 0. So a shift is one point at the change, as rare to the
//! calibration as a spike, and its event marks where the level moved.
//!
//! **Score scale**: standard errors of the median difference (above), 0 off the peaks; NaN for
//! the first `w` and the last `w - 1` points, which lack a full window on one side, and at
//! missing values. A series shorter than `2·w + 1` is compared over windows of
//! `(n - 1) / 2`. `expected` is, at each shift, the value less the change (what it would have
//! been at the old level), and the value itself elsewhere; no band.
//!
//! **Report**: `{"window", "period" (or null), "scale"}`.
//!
//! **Parameters** ([`LevelParams`]): `window` (default: detect), `fallback_window` (24).
//!
//! **Minimum length**: `2·window + 1` (49 with the fallback window of 24).
//!
//! **Cost**: the period detection of `seasonal`, then one rolling
//! median of `w` points (a sorted window: O(n·w) with a small constant). Batch only: the score
//! needs the points after each point.
//!
//! **Reference**: the two-window comparison of change-point detection, e.g. Basseville &
//! Nikiforov (1993), *Detection of Abrupt Changes*, section 2.1, with medians for robustness.

use crate::change::{comparable, fit_window, peaks_of};
use crate::common::{
    MEAN_AD_TO_SIGMA, Problems, STATE_VERSION, SortedWindow, begin_fit, check_len, parse_state,
    report_done, robust_center_scale, tiny_scale,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tsad_core::{Detector, Error, FitContext, Model, ModelState, Scores, Series};

const KIND: &str = "level";

/// The shortest detected window: a period shorter than this is repeated until it reaches it.
const MIN_WINDOW: usize = 12;

/// Parameters of the [`LevelDetector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LevelParams {
    /// Points on each side of the comparison (at least 2), or null (the default) to use the
    /// longest period found on the training series (at least 12 points). The season found is
    /// taken out either way.
    pub window: Option<usize>,
    /// The window when no period is found (default 24, at least 2).
    pub fallback_window: usize,
}

impl Default for LevelParams {
    fn default() -> Self {
        LevelParams {
            window: None,
            fallback_window: 24,
        }
    }
}

impl LevelParams {
    fn validate(&self) -> Result<(), Error> {
        let mut p = Problems::new();
        if let Some(w) = self.window {
            p.check(w >= 2, "window", || {
                format!("must be at least 2 (or null to detect it), got {w}")
            });
        }
        p.check(self.fallback_window >= 2, "fallback_window", || {
            format!("must be at least 2, got {}", self.fallback_window)
        });
        p.finish()
    }

    fn fewest_points(&self) -> usize {
        2 * self.window.unwrap_or(self.fallback_window) + 1
    }
}

/// The change-of-level detector (unfitted). See the [module docs](self).
#[derive(Debug, Clone)]
pub struct LevelDetector {
    params: LevelParams,
}

impl LevelDetector {
    /// Validates `params`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] listing every invalid field.
    pub fn new(params: LevelParams) -> Result<Self, Error> {
        params.validate()?;
        Ok(LevelDetector { params })
    }

    /// The parameters.
    pub fn params(&self) -> &LevelParams {
        &self.params
    }
}

/// A fitted [`LevelDetector`]: the window, the period it came from and the noise scale of the
/// training series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelModel {
    params: LevelParams,
    window: usize,
    period: Option<usize>,
    scale: f64,
}

impl LevelModel {
    /// The window used on each side.
    pub fn window(&self) -> usize {
        self.window
    }
}

/// `median(x[t..t+w]) - median(x[t-w..t])` at every `t` with a full window on both sides, NaN
/// elsewhere. `x` must be finite.
pub fn median_differences(x: &[f64], w: usize) -> Vec<f64> {
    let n = x.len();
    let mut out = vec![f64::NAN; n];
    if w == 0 || n < 2 * w {
        return out;
    }
    // medians[i] = median of x[i..i + w].
    let mut sorted = SortedWindow::new(w);
    let mut medians = Vec::with_capacity(n + 1 - w);
    for &v in x {
        sorted.push(v);
        if sorted.is_full() {
            medians.push(sorted.median());
        }
    }
    for t in w..=n - w {
        out[t] = medians[t] - medians[t - w];
    }
    out
}

/// The robust scale of one cycle's differences `x[i] - x[i - lag]`, over `sqrt 2`: the noise of
/// one point once the cycle is taken out. Never 0 (see [`tiny_scale`]).
fn noise_scale(x: &[f64], lag: usize) -> f64 {
    let diffs: Vec<f64> = x
        .iter()
        .zip(&x[lag.min(x.len())..])
        .map(|(a, b)| b - a)
        .collect();
    let scale = robust_center_scale(&diffs).map_or(0.0, |(_, s)| s) / std::f64::consts::SQRT_2;
    if scale > 0.0 {
        scale
    } else {
        tiny_scale(x.first().copied().unwrap_or(0.0))
    }
}

impl Detector for LevelDetector {
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
        let scale = noise_scale(&x, period.unwrap_or(1));
        report_done(ctx);
        Ok(Box::new(LevelModel {
            params: self.params.clone(),
            window,
            period,
            scale,
        }))
    }

    fn load(&self, state: &ModelState) -> Result<Box<dyn Model>, Error> {
        let model: LevelModel = parse_state(KIND, state)?;
        model.params.validate().map_err(|e| Error::Load {
            reason: e.to_string(),
        })?;
        if model.window < 2
            || model.period.is_some_and(|p| p < 2)
            || !(model.scale.is_finite() && model.scale > 0.0)
        {
            return Err(Error::Load {
                reason: format!(
                    "`{KIND}` model: window {}, period {:?} and scale {} are not a fitted \
                     model's (window and period at least 2, scale above 0)",
                    model.window, model.period, model.scale
                ),
            });
        }
        Ok(Box::new(model))
    }
}

impl Model for LevelModel {
    fn score(&self, series: &Series) -> Result<Scores, Error> {
        self.score_with(series, &FitContext::new())
    }

    fn score_with(&self, series: &Series, ctx: &FitContext) -> Result<Scores, Error> {
        check_len(series, self.params.fewest_points().min(2 * self.window + 1))?;
        ctx.check_cancelled()?;
        let values = series.values();
        // A series shorter than two of the fitted windows is compared over shorter ones.
        let window = self.window.min((values.len() - 1) / 2);
        let report = json!({"window": window, "period": self.period, "scale": self.scale});
        let Some(x) = comparable(values, self.period) else {
            return Ok(Scores::new(vec![f64::NAN; values.len()]).with_report(report));
        };
        let standard_error = MEAN_AD_TO_SIGMA * self.scale * (2.0 / window as f64).sqrt();
        let differences = median_differences(&x, window);
        let mut changes: Vec<f64> = differences
            .iter()
            .map(|d| d.abs() / standard_error)
            .collect();
        let score = peaks_of(&mut changes, window / 2, values);
        // At a shift, the value it would have had at the old level; elsewhere the value itself.
        let expected = values
            .iter()
            .zip(&score)
            .zip(&differences)
            .map(|((&v, &s), &d)| if s > 0.0 { v - d } else { v })
            .collect();
        // An ensemble reads this member's scale from every point's change.
        Ok(Scores::new(score)
            .with_expected(expected)
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

    /// A daily cycle of ±10 (hourly), noise of deviation 1.5, seeded.
    fn daily(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = tsad_testing::Rng::new(seed);
        (0..n)
            .map(|i| {
                50.0 + 10.0 * (std::f64::consts::TAU * i as f64 / 24.0).sin() + 1.5 * rng.normal()
            })
            .collect()
    }

    fn fit_score(values: &[f64], params: LevelParams) -> Scores {
        tsad_testing::fit_and_score(&LevelDetector::new(params).unwrap(), values)
    }

    #[test]
    fn params_table() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("defaults", "{}", None),
            ("explicit", r#"{"window": 48, "fallback_window": 12}"#, None),
            ("window too small", r#"{"window": 1}"#, Some("`window`")),
            (
                "both wrong",
                r#"{"window": 0, "fallback_window": 1}"#,
                Some("`window, fallback_window`"),
            ),
        ];
        tsad_testing::check_params(LevelDetector::new, cases);
        let unknown: Result<LevelParams, _> = serde_json::from_str(r#"{"windw": 3}"#);
        assert!(unknown.is_err(), "unknown fields are rejected");
    }

    #[test]
    fn a_shift_smaller_than_the_cycle_peaks_at_the_shift_and_nowhere_else() {
        for seed in 1..=3 {
            let mut values = daily(5000, seed);
            for v in &mut values[3750..] {
                *v += 8.0;
            }
            let scores = fit_score(&values, LevelParams::default());
            assert_eq!(scores.report["period"], 24, "{}", scores.report);
            // A window set by hand (not whole cycles) finds it too: the season is taken out.
            let by_hand = fit_score(
                &values,
                LevelParams {
                    window: Some(30),
                    ..LevelParams::default()
                },
            );
            assert_eq!(by_hand.report["window"], 30);
            // (The peak's place carries the medians' noise: a few points.)
            let (at_by_hand, _, _) = highest_two(&by_hand.score);
            assert!(at_by_hand.abs_diff(3750) <= 8, "seed {seed}: {at_by_hand}");
            let (at, peak, runner_up) = highest_two(&scores.score);
            assert!(at.abs_diff(3750) <= 2, "seed {seed}: peak at {at}");
            assert!(
                peak > 3.0 * runner_up,
                "seed {seed}: the shift scores {peak}, the next point {runner_up}"
            );
            // One point at the change, not a window of them.
            let high = scores.score.iter().filter(|s| **s > runner_up).count();
            assert_eq!(high, 1, "seed {seed}");
            // The peaks are the dense change's own values, which an ensemble scales by.
            let dense = scores.dense.as_ref().unwrap();
            for (s, d) in scores.score.iter().zip(dense) {
                assert_eq!(s.is_nan(), d.is_nan());
                assert!(
                    *s == 0.0 || s == d || s.is_nan(),
                    "{s} is not the change {d}"
                );
            }
            assert!(dense.iter().filter(|d| **d > 0.0).count() > 10 * high);
            // Its expected value is the value at the old level; elsewhere the value itself.
            let expected = scores.expected.as_ref().unwrap();
            let drop = values[at] - expected[at];
            assert!((drop - 8.0).abs() < 2.0, "seed {seed}: {drop}");
            let calm = scores.score.iter().position(|s| *s == 0.0).unwrap();
            assert_eq!(expected[calm], values[calm]);
        }
    }

    #[test]
    fn a_spike_barely_moves_a_median() {
        let mut values = daily(2000, 7);
        values[1000] += 40.0;
        let scores = fit_score(&values, LevelParams::default());
        let (_, peak, _) = highest_two(&scores.score);
        let near: f64 = scores.score[976..1024].iter().copied().fold(0.0, f64::max);
        assert!(
            near < peak,
            "the spike's neighbourhood {near} tops the series ({peak})"
        );
    }

    #[test]
    fn a_series_shorter_than_two_fitted_windows_is_compared_over_shorter_ones() {
        let values = daily(2000, 3);
        let series = Series::from_values(values.clone()).unwrap();
        let params = LevelParams {
            window: None,
            fallback_window: 12,
        };
        let model = LevelDetector::new(params)
            .unwrap()
            .fit(&series, &FitContext::new())
            .unwrap();
        let short = Series::from_values(values[..40].to_vec()).unwrap();
        let scores = model.score(&short).unwrap();
        assert_eq!(scores.report["window"], 19, "{}", scores.report);
        assert!(scores.score.iter().any(|s| s.is_finite()));
        let err = model
            .score(&Series::from_values(values[..20].to_vec()).unwrap())
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotEnoughData {
                    needed: 25,
                    got: 20
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn missing_values_score_nan_and_the_rest_is_interpolated() {
        let mut values = daily(600, 5);
        values[300] = f64::NAN;
        let scores = fit_score(&values, LevelParams::default());
        assert!(scores.score[300].is_nan());
        assert!(scores.score[299].is_finite() && scores.score[301].is_finite());
        let w = scores.report["window"].as_u64().unwrap() as usize;
        assert!(scores.score[..w].iter().all(|s| s.is_nan()));
        assert!(scores.score[600 - w + 1..].iter().all(|s| s.is_nan()));
        assert!(scores.score[w].is_finite() && scores.score[600 - w].is_finite());
    }

    #[test]
    fn a_saved_model_of_another_shape_does_not_load() {
        let series = Series::from_values(daily(500, 2)).unwrap();
        let detector = LevelDetector::new(LevelParams::default()).unwrap();
        let mut state = detector
            .fit(&series, &FitContext::new())
            .unwrap()
            .save()
            .unwrap();
        let mut no_period = state.clone();
        no_period.config["period"] = serde_json::json!(0);
        let err = detector.load(&no_period).unwrap_err();
        assert!(err.to_string().contains("period Some(0)"), "{err}");
        state.config["scale"] = serde_json::json!(-1.0);
        let err = detector.load(&state).unwrap_err();
        assert!(err.to_string().contains("scale -1"), "{err}");
        state.version = 99;
        let err = detector.load(&state).unwrap_err();
        assert!(err.to_string().contains("version 99"), "{err}");
    }

    #[test]
    fn conforms() {
        conformance_with(
            "level",
            &|| Box::new(LevelDetector::new(LevelParams::default()).unwrap()),
            &ConformanceOptions {
                skip_spike: Some("a change of level is not a point anomaly"),
                ..ConformanceOptions::default()
            },
        );
    }
}
