//! `mad`: distance from a trailing rolling median, in robust standard deviations (MAD).
//!
//! **Catches** spikes, dips and the start of level shifts, like `zscore`, but the median and
//! the MAD ignore the outliers already in the window, so one anomaly does not mask the next
//! and the baseline stays put around it.
//!
//! **How.** Each point is compared with the median and the median absolute deviation (MAD) of
//! the `window` finite points *before* it (the point itself is excluded). Missing values score
//! NaN and are skipped by the window.
//!
//! **Parameters** ([`MadParams`]): `window` (default 48), `band_k` (default 3).
//!
//! **Score scale**: the robust z-score `|x - median| / (1.4826·MAD)`, comparable to standard
//! deviations for normal data. When the MAD is 0 (more than half the window holds one value,
//! common in quantised sensor data) the scale falls back to 1.2533 × the window's mean absolute
//! deviation from the median, and it never falls below 1% of the standard deviation of all
//! earlier points, nor below the data's quantisation noise `q / sqrt(12)`, `q` being the
//! smallest change between consecutive values so far (so one step of a count or of a sensor's
//! resolution scores at most about 3.5); on a series that has been exactly constant so far, a
//! change scores very high (about 1e15) rather than infinity. `expected` is the rolling median and the band is
//! `median ± band_k·scale`.
//!
//! **Minimum length**: `window + 1` (the first `window` points are warm-up, NaN).
//!
//! **Cost**: O(n·window) time with a small constant: a sorted window updated by binary search
//! and one memmove per point (of the values between the leaving and the arriving value's
//! places), and the median's place and the MAD (an order statistic of the two sides of the
//! median) found by a short walk from where the last point's were, O(1) as they move by a place
//! or two, O(log window) at worst. A million points take about 55 ms at the default window and
//! 80 ms at a window of 1000 (`cargo bench -p tsad-detectors --bench detectors -- mad_1m`). O(window)
//! memory. The streaming form ([`Detector::online`]) is the same state machine, so it returns
//! exactly the batch scores.
//!
//! **Reference**: Leys et al. (2013), "Detecting outliers: Do not use standard deviation around
//! the mean, use absolute deviation around the median", <https://doi.org/10.1016/j.jesp.2013.03.013>.

use crate::common::{
    Problems, SortedWindow, begin_fit, check_len, params_state, parse_state, report_done,
};
use crate::rolling::{MedianMadWindow, RollingOnline, RollingScorer};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tsad_core::{Detector, Error, FitContext, Model, ModelState, OnlineModel, Scores, Series};

const KIND: &str = "mad";

/// Parameters of the [`MadDetector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MadParams {
    /// Number of earlier points the rolling median and MAD are taken over (default 48, at
    /// least 3). Longer windows give steadier baselines but adapt more slowly and need a
    /// longer warm-up.
    pub window: usize,
    /// Half-width of the normal band drawn around the rolling median, in robust standard
    /// deviations (default 3). It does not change the scores.
    pub band_k: f64,
}

impl Default for MadParams {
    fn default() -> Self {
        MadParams {
            window: 48,
            band_k: 3.0,
        }
    }
}

impl MadParams {
    fn validate(&self) -> Result<(), Error> {
        let mut p = Problems::new();
        p.check(self.window >= 3, "window", || {
            format!("must be at least 3, got {}", self.window)
        });
        p.check(
            self.band_k.is_finite() && self.band_k > 0.0,
            "band_k",
            || format!("must be a finite number > 0, got {}", self.band_k),
        );
        p.finish()
    }
}

/// The rolling median/MAD detector (unfitted). See the [module docs](self).
#[derive(Debug, Clone)]
pub struct MadDetector {
    params: MadParams,
}

impl MadDetector {
    /// Validates `params`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] listing every invalid field.
    pub fn new(params: MadParams) -> Result<Self, Error> {
        params.validate()?;
        Ok(MadDetector { params })
    }

    /// The parameters.
    pub fn params(&self) -> &MadParams {
        &self.params
    }
}

/// A fitted [`MadDetector`]. The method learns nothing from training data, so the model holds
/// only the parameters; scoring a series uses that series' own past.
#[derive(Debug, Clone)]
pub struct MadModel {
    params: MadParams,
}

fn scorer(params: &MadParams) -> RollingScorer<MedianMadWindow> {
    RollingScorer::new(MedianMadWindow(SortedWindow::new(params.window)))
}

/// The rolling median and exact (unscaled) median absolute deviation behind `mad`, as two
/// columns: at each finite point, those of the last `window` finite values up to and including
/// it (the detector scores a point against the window *before* it). NaN until `window` finite
/// values have been seen, and at missing points (which the window skips). The kernel alone,
/// for comparison with other rolling-median libraries (bottleneck's `move_median`, pandas'
/// `rolling().median()`).
///
/// # Panics
/// When `window` is 0.
pub fn rolling_median_mad(values: &[f64], window: usize) -> (Vec<f64>, Vec<f64>) {
    assert!(window > 0, "a rolling window needs at least one value");
    let mut sorted = SortedWindow::new(window);
    let (mut median, mut mad) = (
        Vec::with_capacity(values.len()),
        Vec::with_capacity(values.len()),
    );
    for &x in values {
        let (m, d) = if x.is_finite() {
            sorted.push(x);
            if sorted.is_full() {
                let m = sorted.median();
                (m, sorted.mad(m).abs())
            } else {
                (f64::NAN, f64::NAN)
            }
        } else {
            (f64::NAN, f64::NAN)
        };
        median.push(m);
        mad.push(d);
    }
    (median, mad)
}

impl Detector for MadDetector {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn min_len(&self) -> usize {
        self.params.window + 1
    }

    fn fit(&self, train: &Series, ctx: &FitContext) -> Result<Box<dyn Model>, Error> {
        begin_fit(train, self.min_len(), ctx)?;
        report_done(ctx);
        Ok(Box::new(MadModel {
            params: self.params.clone(),
        }))
    }

    fn online(&self) -> Option<Box<dyn OnlineModel>> {
        Some(Box::new(RollingOnline(scorer(&self.params))))
    }

    fn load(&self, state: &ModelState) -> Result<Box<dyn Model>, Error> {
        let params: MadParams = parse_state(KIND, state)?;
        params.validate().map_err(|e| Error::Load {
            reason: e.to_string(),
        })?;
        Ok(Box::new(MadModel { params }))
    }
}

impl Model for MadModel {
    fn score(&self, series: &Series) -> Result<Scores, Error> {
        self.score_with(series, &FitContext::new())
    }

    /// Checks the cancel flag and reports progress every 65,536 points.
    fn score_with(&self, series: &Series, ctx: &FitContext) -> Result<Scores, Error> {
        check_len(series, self.params.window + 1)?;
        let p = &self.params;
        scorer(p).run(series.values(), p.band_k, p.window, ctx)
    }

    fn save(&self) -> Result<ModelState, Error> {
        params_state(KIND, &self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tsad_core::Threshold;
    use tsad_testing::{
        assert_bits_eq, assert_close, conformance, seasonal_with_anomalies, with_nan_gaps,
    };

    fn detector(window: usize) -> MadDetector {
        MadDetector::new(MadParams {
            window,
            ..MadParams::default()
        })
        .unwrap()
    }

    fn scores(window: usize, values: &[f64]) -> Scores {
        let series = Series::from_values(values.to_vec()).unwrap();
        let model = detector(window).fit(&series, &FitContext::new()).unwrap();
        model.score(&series).unwrap()
    }

    #[test]
    fn params_table() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("defaults", "{}", None),
            ("explicit", r#"{"window": 7, "band_k": 1}"#, None),
            ("window too small", r#"{"window": 1}"#, Some("`window`")),
            ("nan band", r#"{"band_k": 0}"#, Some("`band_k`")),
            (
                "both wrong",
                r#"{"window": 2, "band_k": -3}"#,
                Some("`window, band_k`"),
            ),
        ];
        tsad_testing::check_params(MadDetector::new, cases);
        assert!(serde_json::from_str::<MadParams>(r#"{"k": 3}"#).is_err());
    }

    #[test]
    fn known_answer_against_pandas() {
        // python3 (numpy 2, pandas 2):
        //   x = pd.Series([3,1,4,1,5,9,2,6,5,3,5,30,8,9,7,9], dtype=float); w = 5
        //   med = x.rolling(w).median().shift(1)
        //   mad = x.rolling(w).apply(lambda a: np.median(np.abs(a - np.median(a))), raw=True).shift(1)
        //   score = (x - med).abs() / (1.4826022185056018 * mad)
        let x = [
            3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 30.0, 8.0, 9.0, 7.0, 9.0,
        ];
        let nan = f64::NAN;
        let s = scores(5, &x);
        assert_close(
            &s.score,
            &[
                nan,
                nan,
                nan,
                nan,
                nan,
                2.023469250588,
                0.449659833464,
                0.674489750196,
                0.0,
                1.348979500392,
                0.0,
                16.862243754902,
                2.023469250588,
                1.348979500392,
                0.224829916732,
                0.674489750196,
            ],
            1e-9,
        );
        assert_close(
            &s.expected.unwrap()[5..],
            &[3.0, 4.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 8.0, 8.0],
            0.0,
        );
    }

    #[test]
    fn zero_mad_falls_back_to_mean_absolute_deviation_above_the_quantisation_noise() {
        // Window [1, 1, 1, 1.5, 5]: median 1, MAD 0, mean absolute deviation 0.9, so the
        // scale is 1.2533 * 0.9 and the next point 3 scores 2 / (1.2533 * 0.9).
        let s = scores(5, &[1.0, 1.0, 1.0, 1.5, 5.0, 3.0]);
        assert_close(&s.score[5], &(2.0 / (1.253_314_137_315_500_3 * 0.9)), 1e-12);
        assert_eq!(s.report["floored_points"], 0);
        // Window [1, 1, 1, 1, 5]: the smallest change so far is 4, the data's resolution as
        // far as the past shows, so the scale is its rounding noise 4 / sqrt(12), above
        // 1.2533 * 0.8, and 3 scores 2 / (4 / sqrt(12)).
        let s = scores(5, &[1.0, 1.0, 1.0, 1.0, 5.0, 3.0]);
        assert_close(&s.score[5], &(2.0 * 12f64.sqrt() / 4.0), 1e-12);
        assert_eq!(s.report["floored_points"], 1);
    }

    #[test]
    fn one_step_of_a_quantised_series_is_not_a_spike() {
        // Counts that moved by one once, then hold still for the whole window, then move by
        // one again: the MAD and the mean absolute deviation are 0 or nearly, but one step
        // scores at most sqrt(12). (Before any change, a series is exactly constant, and its
        // first change scores very high, as documented.)
        let mut v = vec![20.0, 21.0];
        v.extend(vec![20.0; 58]);
        v.extend([21.0, 21.0, 20.0]);
        v.extend(vec![20.0; 60]);
        v[70] = 19.0;
        let s = scores(48, &v);
        let top = s
            .score
            .iter()
            .copied()
            .filter(|x| x.is_finite())
            .fold(0.0, f64::max);
        assert!(top <= 12f64.sqrt() + 1e-9, "{top}");
        // A jump of six steps stands out.
        v[100] = 26.0;
        let s = scores(48, &v);
        assert_close(&s.score[100], &(6.0 * 12f64.sqrt()), 1e-9);
    }

    #[test]
    fn streaming_equals_batch() {
        let (series, _) = seasonal_with_anomalies(3000, 24, 10, 9);
        let gappy = with_nan_gaps(&series, 9);
        let d = detector(30);
        let batch = d
            .fit(&gappy, &FitContext::new())
            .unwrap()
            .score(&gappy)
            .unwrap();
        let mut online = d.online().unwrap();
        let streamed: Vec<f64> = gappy
            .values()
            .iter()
            .enumerate()
            .map(|(i, &v)| online.update(i as i64, v))
            .collect();
        assert_bits_eq(&streamed, &batch.score, "streaming vs batch");
    }

    #[test]
    fn recovers_injected_spikes_at_the_default_threshold() {
        // A season much longer than the window: a trailing median cannot follow a short
        // season (that is the `seasonal` detector's job, tested there).
        let (mut found, mut total) = (0, 0);
        for seed in 0..5 {
            let (series, spikes) = seasonal_with_anomalies(4000, 1000, 12, seed);
            let model = MadDetector::new(MadParams::default())
                .unwrap()
                .fit(&series, &FitContext::new())
                .unwrap();
            let cut = Threshold::Sigma { k: 3.0 }
                .apply(&model.score(&series).unwrap().score)
                .unwrap();
            total += spikes.len();
            found += spikes.iter().filter(|&&i| cut.flags[i]).count();
        }
        let recall = found as f64 / total as f64;
        assert!(recall >= 0.9, "recall {recall} ({found} of {total})");
    }

    #[test]
    fn scoring_stops_when_cancelled() {
        tsad_testing::assert_scoring_stops_when_cancelled(
            &MadDetector::new(MadParams::default()).unwrap(),
        );
    }

    #[test]
    fn conforms() {
        conformance("mad", &|| {
            Box::new(MadDetector::new(MadParams::default()).unwrap())
        });
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn invariant_under_shift_and_scale(
            values in prop::collection::vec(-100.0f64..100.0, 12..200),
            shift in -1e4f64..1e4,
            scale in 0.01f64..100.0,
        ) {
            let a = scores(5, &values);
            let moved: Vec<f64> = values.iter().map(|v| v * scale + shift).collect();
            let b = scores(5, &moved);
            assert_close(&b.score, &a.score, 1e-6);
        }

        /// The public kernel gives each window's median and MAD as a full sort does (missing
        /// points skipped), and its median is the detector's expected value one point later.
        #[test]
        fn rolling_median_mad_matches_sorting_each_window(
            values in prop::collection::vec(
                prop_oneof![8 => (-50i32..50).prop_map(f64::from), 1 => Just(f64::NAN)],
                1..120,
            ),
            window in 1usize..9,
        ) {
            let (median, mad) = rolling_median_mad(&values, window);
            let middle = |mut v: Vec<f64>| {
                v.sort_by(f64::total_cmp);
                let n = v.len();
                (v[(n - 1) / 2] + v[n / 2]) / 2.0
            };
            let mut seen = Vec::new();
            for (i, &x) in values.iter().enumerate() {
                if x.is_nan() {
                    prop_assert!(median[i].is_nan() && mad[i].is_nan(), "point {i}");
                    continue;
                }
                seen.push(x);
                if seen.len() < window {
                    prop_assert!(median[i].is_nan() && mad[i].is_nan(), "point {i}");
                    continue;
                }
                let last = seen[seen.len() - window..].to_vec();
                let m = middle(last.clone());
                let d = middle(last.iter().map(|v| (v - m).abs()).collect());
                prop_assert_eq!(median[i], m, "median at {}", i);
                prop_assert_eq!(mad[i], d, "MAD at {}", i);
            }
            if window >= 3 && values.len() > window {
                let expected = scores(window, &values).expected.unwrap();
                let mut last_median = f64::NAN;
                for (i, &x) in values.iter().enumerate() {
                    if !expected[i].is_nan() {
                        prop_assert_eq!(expected[i], last_median, "expected at {}", i);
                    }
                    if x.is_finite() {
                        last_median = median[i];
                    }
                }
            }
        }
    }
}
