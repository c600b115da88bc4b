//! `zscore`: distance from a trailing rolling mean, in rolling standard deviations.
//!
//! **Catches** points far from the recent level: spikes, dips and the first points of a level
//! shift (the window soon absorbs a lasting shift).
//!
//! **How.** Each point is compared with the mean and sample standard deviation of the `window`
//! finite points *before* it (the point itself is excluded, so a spike cannot hide itself by
//! inflating the deviation it is divided by). Missing values score NaN and are skipped by the
//! window.
//!
//! **Parameters** ([`ZscoreParams`]): `window` (default 48), `band_k` (default 3).
//!
//! **Score scale**: `|x - mean| / std`, in standard deviations (a plain z-score). The scale
//! never falls below 1% of the standard deviation of all earlier points (so a flat stretch does
//! not turn the smallest change into an enormous score); on a series that has been exactly
//! constant so far, a change scores very high (about 1e15) rather than infinity. A spread
//! below float resolution (a relative epsilon of the mean, or so small that its square
//! underflows, as for values near 1e-320) counts as constant: deviations as small score 0.
//! `expected` is the rolling mean and the band is `mean ± band_k·std`.
//!
//! **Minimum length**: `window + 1` (the first `window` points are warm-up, NaN).
//!
//! **Cost**: O(n) time with sliding sums that are recomputed exactly every `window` points
//! (rounding errors cannot accumulate), O(window) memory. The streaming form
//! ([`Detector::online`]) is the same state machine, so it returns exactly the batch scores.
//!
//! **Reference**: the standard score, <https://en.wikipedia.org/wiki/Standard_score>;
//! Welford's running variance, <https://doi.org/10.1080/00401706.1962.10490022>.

use crate::common::{Problems, begin_fit, check_len, params_state, parse_state, report_done};
use crate::rolling::{MeanStdWindow, RollingOnline, RollingScorer};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tsad_core::{Detector, Error, FitContext, Model, ModelState, OnlineModel, Scores, Series};

const KIND: &str = "zscore";

/// Parameters of the [`ZscoreDetector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ZscoreParams {
    /// Number of earlier points the rolling mean and standard deviation are taken over
    /// (default 48, at least 3). Longer windows give steadier baselines but adapt more slowly
    /// and need a longer warm-up.
    pub window: usize,
    /// Half-width of the normal band drawn around the rolling mean, in standard deviations
    /// (default 3). It does not change the scores.
    pub band_k: f64,
}

impl Default for ZscoreParams {
    fn default() -> Self {
        ZscoreParams {
            window: 48,
            band_k: 3.0,
        }
    }
}

impl ZscoreParams {
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

/// The rolling z-score detector (unfitted). See the [module docs](self).
#[derive(Debug, Clone)]
pub struct ZscoreDetector {
    params: ZscoreParams,
}

impl ZscoreDetector {
    /// Validates `params`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] listing every invalid field.
    pub fn new(params: ZscoreParams) -> Result<Self, Error> {
        params.validate()?;
        Ok(ZscoreDetector { params })
    }

    /// The parameters.
    pub fn params(&self) -> &ZscoreParams {
        &self.params
    }
}

/// A fitted [`ZscoreDetector`]. The method learns nothing from training data, so the model
/// holds only the parameters; scoring a series uses that series' own past.
#[derive(Debug, Clone)]
pub struct ZscoreModel {
    params: ZscoreParams,
}

impl ZscoreModel {
    fn scorer(&self) -> RollingScorer<MeanStdWindow> {
        RollingScorer::new(MeanStdWindow::new(self.params.window))
    }
}

impl Detector for ZscoreDetector {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn min_len(&self) -> usize {
        self.params.window + 1
    }

    fn fit(&self, train: &Series, ctx: &FitContext) -> Result<Box<dyn Model>, Error> {
        begin_fit(train, self.min_len(), ctx)?;
        report_done(ctx);
        Ok(Box::new(ZscoreModel {
            params: self.params.clone(),
        }))
    }

    fn online(&self) -> Option<Box<dyn OnlineModel>> {
        let model = ZscoreModel {
            params: self.params.clone(),
        };
        Some(Box::new(RollingOnline(model.scorer())))
    }

    fn load(&self, state: &ModelState) -> Result<Box<dyn Model>, Error> {
        let params: ZscoreParams = parse_state(KIND, state)?;
        params.validate().map_err(|e| Error::Load {
            reason: e.to_string(),
        })?;
        Ok(Box::new(ZscoreModel { params }))
    }
}

impl Model for ZscoreModel {
    fn score(&self, series: &Series) -> Result<Scores, Error> {
        self.score_with(series, &FitContext::new())
    }

    /// Checks the cancel flag and reports progress every 65,536 points.
    fn score_with(&self, series: &Series, ctx: &FitContext) -> Result<Scores, Error> {
        check_len(series, self.params.window + 1)?;
        let p = &self.params;
        self.scorer().run(series.values(), p.band_k, p.window, ctx)
    }

    fn save(&self) -> Result<ModelState, Error> {
        params_state(KIND, &self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tsad_testing::{ConformanceOptions, assert_bits_eq, assert_close, conformance_with};

    fn detector(window: usize) -> ZscoreDetector {
        ZscoreDetector::new(ZscoreParams {
            window,
            ..ZscoreParams::default()
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
            ("explicit", r#"{"window": 10, "band_k": 2.5}"#, None),
            ("window too small", r#"{"window": 2}"#, Some("`window`")),
            ("negative band", r#"{"band_k": -1}"#, Some("`band_k`")),
            (
                "both wrong",
                r#"{"window": 0, "band_k": 0}"#,
                Some("`window, band_k`"),
            ),
        ];
        tsad_testing::check_params(ZscoreDetector::new, cases);
        let unknown: Result<ZscoreParams, _> = serde_json::from_str(r#"{"windw": 3}"#);
        assert!(unknown.is_err(), "unknown fields are rejected");
    }

    #[test]
    fn known_answer_hand_computed() {
        // Window 3 over [1, 2, 3, 10, 4]:
        // point 3: prev [1, 2, 3], mean 2, sample sd 1 -> |10 - 2| / 1 = 8;
        // point 4: prev [2, 3, 10], mean 5, sample sd sqrt(19) -> |4 - 5| / sqrt(19).
        let s = scores(3, &[1.0, 2.0, 3.0, 10.0, 4.0]);
        assert_close(
            &s.score,
            &[f64::NAN, f64::NAN, f64::NAN, 8.0, 1.0 / 19f64.sqrt()],
            1e-12,
        );
        let expected = s.expected.unwrap();
        assert_close(&expected[3..], &[2.0, 5.0], 1e-12);
        let (lo, hi) = s.band.unwrap();
        assert_close(&[lo[3], hi[3]], &[-1.0, 5.0], 1e-12);
    }

    #[test]
    fn missing_values_score_nan_and_are_skipped() {
        // The NaN does not enter the window: point 4 sees [1, 2, 3] like point 3 would have.
        let s = scores(3, &[1.0, 2.0, 3.0, f64::NAN, 10.0]);
        assert!(s.score[3].is_nan());
        assert_close(&s.score[4], &8.0, 1e-12);
    }

    #[test]
    fn streaming_equals_batch() {
        let (series, _) = tsad_testing::sine_with_spike(3000, 5);
        let gappy = tsad_testing::with_nan_gaps(&series, 5);
        let d = detector(20);
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
    fn scoring_stops_when_cancelled() {
        tsad_testing::assert_scoring_stops_when_cancelled(
            &ZscoreDetector::new(ZscoreParams::default()).unwrap(),
        );
    }

    #[test]
    fn conforms() {
        conformance_with(
            "zscore",
            &|| Box::new(ZscoreDetector::new(ZscoreParams::default()).unwrap()),
            &ConformanceOptions::default(),
        );
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
    }
}
