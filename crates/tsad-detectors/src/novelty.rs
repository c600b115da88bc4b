//! `novelty`: a streaming detector of things never seen before in the series: values, levels
//! and shapes outside everything the past has shown, reported once per episode.
//!
//! **Catches** the first moment a series goes somewhere new: a spike or dip beyond every
//! earlier value, a level shift that takes the trailing mean outside its past range, and a
//! stretch whose shape (a short run of block means) is farther from every earlier stretch
//! than any stretch has been before (a broken or missing daily pattern, a flat line in a
//! periodic signal). Built for the Numenta Anomaly Benchmark, where it is the `nab-best`
//! preset (see the workspace README, "Accuracy on NAB"); it suits any stream where "new" means
//! "anomalous" (machine metrics, counts, sensors).
//!
//! **How.** Each feature keeps the range `[lo, hi]` of its own past values; its *novelty* at a
//! point is how far the new value lies outside that range, in units of the range
//! (`max(v - hi, lo - v, 0) / (hi - lo)`), so every feature is on the same, scale-free footing.
//! (After a constant past, any change has novelty 1.) The features, each with a weight:
//!
//! | feature | value tracked | weight (default) |
//! | --- | --- | --- |
//! | value | the point itself, range over all the past | `value_weight` (1.4) |
//! | mean | trailing mean of `mean_window` (30) points | `mean_weight` (0.4) |
//! | shape | distance from the last `shape_length` (8) means of `shape_block` (3) points to the nearest earlier such run (left nearest neighbour), range taken after `shape_warmup` (300) points | `shape_weight` (0.1) |
//! | recent | the point, range over the last `recent_window` (2000) points only | `recent_weight` (0.05) |
//!
//! The point's score is `g · max_k u(w_k · novelty_k)` with `u(z) = z / (1 + z)`, where
//! `g = min(1, t / warmup)^warmup_power` discounts the early points (a new extreme among few
//! is weak evidence: among n exchangeable points the last is a record with probability 1/n).
//! Then alarms are thinned: after a point scores above 0, the next `quiet` points score 0
//! unless they beat that alarm's score by the factor `rearm` (which starts a new alarm). An
//! anomaly is thus reported once, at its onset, which is what NAB rewards (the earliest
//! detection in a window counts, and every later false alarm costs).
//!
//! **Streaming** ([`Detector::online`]): the method is a past-only state machine; the batch
//! form runs the same machine over the series, so batch and streaming scores are identical.
//! Missing values score NaN and leave the state unchanged (they still count as time for
//! `warmup` and `quiet`).
//!
//! **Score scale**: in `[0, 1)`; 0 means nothing new (or a silenced repeat). Roughly,
//! `u = 0.5` is a value one full past range beyond the old extreme at weight 1. Most points
//! score exactly 0.
//!
//! **Parameters** ([`NoveltyParams`]): the weights and windows above, `warmup` (1200),
//! `warmup_power` (2), `quiet` (100), `rearm` (1.2) and `shape_history` (10 000 runs kept
//! for the nearest-neighbour search). A weight of 0 turns its feature off. The defaults were
//! tuned on NAB as a whole (one set for all 58 files; `cargo run --release -p tsad-eval
//! --example tune`).
//!
//! **Minimum length**: 1 point (early points score 0).
//!
//! **Cost**: O(1) per point for the value, mean and recent features (amortised; monotone
//! deques), and O(`shape_history` · `shape_length`) every `shape_block` points for the shape
//! search: about 27 000 multiply-adds per point at the defaults, so a million points take
//! seconds. Memory O(`shape_history` · `shape_length` + `recent_window` + `mean_window`).
//!
//! **Reference**: the "spatial anomaly" rule of Numenta's NAB detector (a value beyond the
//! range seen so far) and the left matrix profile (Yeh et al. 2016, "Matrix Profile I",
//! <https://doi.org/10.1109/ICDM.2016.0179>; a discord is a subsequence far from its nearest
//! neighbour); the thinning follows the rest period of CAD OSE (Smirnov, NAB 2016). Ahmad et
//! al. (2017), "Unsupervised real-time anomaly detection for streaming data",
//! <https://doi.org/10.1016/j.neucom.2017.04.070>, describe the benchmark.

use crate::common::{Problems, begin_fit, check_len, params_state, parse_state, report_done};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::VecDeque;
use tsad_core::{Detector, Error, FitContext, Model, ModelState, OnlineModel, Scores, Series};

const KIND: &str = "novelty";

/// Parameters of the [`NoveltyDetector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NoveltyParams {
    /// Weight of the value feature: how far the point lies outside the range of every earlier
    /// value (default 1.4, 0 = off, at most 1000).
    pub value_weight: f64,
    /// Points in the trailing mean whose range the mean feature tracks (default 30, at least 2).
    pub mean_window: usize,
    /// Weight of the mean feature: level shifts and sustained excursions (default 0.4).
    pub mean_weight: f64,
    /// Points averaged into one block of the shape feature (default 3, at least 1).
    pub shape_block: usize,
    /// Blocks in one run compared by the shape feature (default 8, at least 2).
    pub shape_length: usize,
    /// Weight of the shape feature: runs of block means far from every earlier run (default 0.1).
    pub shape_weight: f64,
    /// Points before the shape feature starts tracking the range of its distances (default
    /// 300): early distances are large only because few runs exist to compare with.
    pub shape_warmup: usize,
    /// Earlier runs kept for the nearest-neighbour search (default 10 000, at least
    /// `shape_length + 1`); bounds the cost per point on long series.
    pub shape_history: usize,
    /// Points in the trailing range of the recent feature (default 2000, at least 2).
    pub recent_window: usize,
    /// Weight of the recent feature: values outside the recent range, which re-arms after
    /// old extremes age out (default 0.05).
    pub recent_weight: f64,
    /// Points over which the early-point discount `min(1, t / warmup)^warmup_power` rises to 1
    /// (default 1200, 0 = no discount).
    pub warmup: usize,
    /// Exponent of the early-point discount (default 2, between 0 and 10).
    pub warmup_power: f64,
    /// Points after an alarm during which weaker alarms score 0 (default 100, 0 = never thin).
    pub quiet: usize,
    /// Factor by which a point inside the quiet period must beat the alarm's score to be
    /// reported, starting a new alarm (default 1.2, at least 1).
    pub rearm: f64,
}

impl Default for NoveltyParams {
    fn default() -> Self {
        NoveltyParams {
            value_weight: 1.4,
            mean_window: 30,
            mean_weight: 0.4,
            shape_block: 3,
            shape_length: 8,
            shape_weight: 0.1,
            shape_warmup: 300,
            shape_history: 10_000,
            recent_window: 2000,
            recent_weight: 0.05,
            warmup: 1200,
            warmup_power: 2.0,
            quiet: 100,
            rearm: 1.2,
        }
    }
}

impl NoveltyParams {
    fn validate(&self) -> Result<(), Error> {
        let mut p = Problems::new();
        for (name, w) in [
            ("value_weight", self.value_weight),
            ("mean_weight", self.mean_weight),
            ("shape_weight", self.shape_weight),
            ("recent_weight", self.recent_weight),
        ] {
            p.check((0.0..=1000.0).contains(&w), name, || {
                format!("must be a number from 0 to 1000, got {w}")
            });
        }
        let all_off = self.value_weight == 0.0
            && self.mean_weight == 0.0
            && self.shape_weight == 0.0
            && self.recent_weight == 0.0;
        p.check(!all_off, "value_weight", || {
            "every feature weight is 0; give at least one a positive weight".into()
        });
        p.check(self.mean_window >= 2, "mean_window", || {
            format!("must be at least 2, got {}", self.mean_window)
        });
        p.check(self.shape_block >= 1, "shape_block", || {
            format!("must be at least 1, got {}", self.shape_block)
        });
        p.check(self.shape_length >= 2, "shape_length", || {
            format!("must be at least 2, got {}", self.shape_length)
        });
        p.check(
            self.shape_history > self.shape_length,
            "shape_history",
            || {
                format!(
                    "must be more than shape_length ({}), got {}",
                    self.shape_length, self.shape_history
                )
            },
        );
        p.check(self.recent_window >= 2, "recent_window", || {
            format!("must be at least 2, got {}", self.recent_window)
        });
        p.check(
            (0.0..=10.0).contains(&self.warmup_power),
            "warmup_power",
            || format!("must be a number from 0 to 10, got {}", self.warmup_power),
        );
        p.check(self.rearm.is_finite() && self.rearm >= 1.0, "rearm", || {
            format!("must be a finite number of at least 1, got {}", self.rearm)
        });
        p.finish()
    }
}

/// The streaming novelty detector (unfitted). See the [module docs](self).
#[derive(Debug, Clone)]
pub struct NoveltyDetector {
    params: NoveltyParams,
}

impl NoveltyDetector {
    /// Validates `params`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] listing every invalid field.
    pub fn new(params: NoveltyParams) -> Result<Self, Error> {
        params.validate()?;
        Ok(NoveltyDetector { params })
    }

    /// The parameters.
    pub fn params(&self) -> &NoveltyParams {
        &self.params
    }
}

/// A fitted [`NoveltyDetector`]. The method learns from each scored series' own past, so the
/// model holds only the parameters.
#[derive(Debug, Clone)]
pub struct NoveltyModel {
    params: NoveltyParams,
}

impl Detector for NoveltyDetector {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn min_len(&self) -> usize {
        1
    }

    fn fit(&self, train: &Series, ctx: &FitContext) -> Result<Box<dyn Model>, Error> {
        begin_fit(train, self.min_len(), ctx)?;
        report_done(ctx);
        Ok(Box::new(NoveltyModel {
            params: self.params.clone(),
        }))
    }

    fn online(&self) -> Option<Box<dyn OnlineModel>> {
        Some(Box::new(NoveltyOnline::new(&self.params)))
    }

    fn load(&self, state: &ModelState) -> Result<Box<dyn Model>, Error> {
        let params: NoveltyParams = parse_state(KIND, state)?;
        params.validate().map_err(|e| Error::Load {
            reason: e.to_string(),
        })?;
        Ok(Box::new(NoveltyModel { params }))
    }
}

impl Model for NoveltyModel {
    fn score(&self, series: &Series) -> Result<Scores, Error> {
        check_len(series, 1)?;
        let mut online = NoveltyOnline::new(&self.params);
        let score: Vec<f64> = series
            .timestamps()
            .iter()
            .zip(series.values())
            .map(|(&t, &v)| online.update(t, v))
            .collect();
        let alarms = score.iter().filter(|s| **s > 0.0).count();
        Ok(Scores::new(score).with_report(json!({
            "alarms": alarms,
            "note": "scores are 0 except at the onset of something new (value, level or shape)",
        })))
    }

    fn save(&self) -> Result<ModelState, Error> {
        params_state(KIND, &self.params)
    }
}

/// Largest novelty, so that `z / (1 + z)` stays finite (and just under 1).
const MAX_NOVELTY: f64 = 1e12;
/// Novelty of any change after a constant past (a range of no width has no unit to measure
/// the change in): one range width. Larger values cost about 2 NAB points: a long flat start
/// then the first wiggle is common in machine metrics and rarely what the labels mark.
const DEGENERATE_NOVELTY: f64 = 1.0;

/// `max(v - hi, lo - v, 0) / (hi - lo)`; 0 while the range is empty or `v` inside it. A range
/// narrower than 1e-9 of its magnitude (a constant past, or rounding noise) gives
/// [`DEGENERATE_NOVELTY`] to anything outside it.
fn outside(v: f64, lo: f64, hi: f64) -> f64 {
    if lo > hi || !v.is_finite() {
        return 0.0;
    }
    let beyond = (v - hi).max(lo - v);
    if beyond <= 0.0 {
        return 0.0;
    }
    let width = hi - lo;
    if width <= 1e-9 * hi.abs().max(lo.abs()) {
        return DEGENERATE_NOVELTY;
    }
    (beyond / width).min(MAX_NOVELTY)
}

/// The range of every value pushed so far.
#[derive(Debug, Clone)]
struct Range {
    lo: f64,
    hi: f64,
}

impl Range {
    fn new() -> Self {
        Range {
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
        }
    }
    fn novelty(&self, v: f64) -> f64 {
        outside(v, self.lo, self.hi)
    }
    fn push(&mut self, v: f64) {
        self.lo = self.lo.min(v);
        self.hi = self.hi.max(v);
    }
}

/// The range of the values pushed in the last `window` steps (monotone deques: amortised O(1)).
#[derive(Debug, Clone)]
struct TrailingRange {
    window: usize,
    max: VecDeque<(usize, f64)>,
    min: VecDeque<(usize, f64)>,
}

impl TrailingRange {
    fn new(window: usize) -> Self {
        TrailingRange {
            window,
            max: VecDeque::new(),
            min: VecDeque::new(),
        }
    }
    /// Novelty of `v` at step `t` against the values of steps `t - window .. t`.
    fn novelty(&mut self, t: usize, v: f64) -> f64 {
        while self.max.front().is_some_and(|f| t - f.0 > self.window) {
            self.max.pop_front();
        }
        while self.min.front().is_some_and(|f| t - f.0 > self.window) {
            self.min.pop_front();
        }
        match (self.max.front(), self.min.front()) {
            (Some(hi), Some(lo)) => outside(v, lo.1, hi.1),
            _ => 0.0,
        }
    }
    fn push(&mut self, t: usize, v: f64) {
        while self.max.back().is_some_and(|b| b.1 <= v) {
            self.max.pop_back();
        }
        self.max.push_back((t, v));
        while self.min.back().is_some_and(|b| b.1 >= v) {
            self.min.pop_back();
        }
        self.min.push_back((t, v));
    }
}

/// The mean of the last `window` values; sums are recomputed every `window` pushes so rounding
/// errors cannot accumulate.
#[derive(Debug, Clone)]
struct TrailingMean {
    window: usize,
    buf: VecDeque<f64>,
    sum: f64,
    since_exact: usize,
}

impl TrailingMean {
    fn new(window: usize) -> Self {
        TrailingMean {
            window,
            buf: VecDeque::with_capacity(window + 1),
            sum: 0.0,
            since_exact: 0,
        }
    }
    /// Pushes `v`; the mean once `window` values are in.
    fn push(&mut self, v: f64) -> Option<f64> {
        self.buf.push_back(v);
        self.sum += v;
        if self.buf.len() > self.window {
            // Just checked: the buffer holds window + 1 values.
            self.sum -= self.buf.pop_front().unwrap_or(0.0);
        }
        self.since_exact += 1;
        if self.since_exact >= self.window {
            self.since_exact = 0;
            self.sum = self.buf.iter().sum();
        }
        (self.buf.len() == self.window).then(|| self.sum / self.window as f64)
    }
}

/// Runs of block means and the distance of each new run to its nearest earlier run.
#[derive(Debug, Clone)]
struct Shapes {
    block: usize,
    length: usize,
    history: usize,
    acc: f64,
    filled: usize,
    means: VecDeque<f64>,
    /// Earlier runs, oldest first, `length` values each, flattened.
    runs: VecDeque<f64>,
}

impl Shapes {
    fn new(p: &NoveltyParams) -> Self {
        Shapes {
            block: p.shape_block,
            length: p.shape_length,
            history: p.shape_history,
            acc: 0.0,
            filled: 0,
            means: VecDeque::with_capacity(p.shape_length + 1),
            runs: VecDeque::new(),
        }
    }

    /// Adds a value; at the end of a block, the nearest-neighbour distance of the newest run
    /// (once there is an earlier run that does not overlap it).
    fn push(&mut self, v: f64) -> Option<f64> {
        self.acc += v;
        self.filled += 1;
        if self.filled < self.block {
            return None;
        }
        self.means.push_back(self.acc / self.block as f64);
        (self.acc, self.filled) = (0.0, 0);
        if self.means.len() > self.length {
            self.means.pop_front();
        }
        if self.means.len() < self.length {
            return None;
        }
        let stored = self.runs.len() / self.length;
        // The last `length` stored runs overlap the newest one: they are excluded.
        let comparable = stored.saturating_sub(self.length);
        let nearest = (comparable > 0).then(|| {
            let mut best = f64::INFINITY;
            let (a, b) = self.runs.as_slices();
            let mut check = |run: &[f64]| {
                let d: f64 = run
                    .iter()
                    .zip(&self.means)
                    .map(|(x, y)| (x - y) * (x - y))
                    .sum();
                best = best.min(d);
            };
            // A run may straddle the two slices of the ring buffer; copy only that one.
            let mut k = 0;
            while k < comparable {
                let start = k * self.length;
                let end = start + self.length;
                if end <= a.len() {
                    check(&a[start..end]);
                } else if start >= a.len() {
                    check(&b[start - a.len()..end - a.len()]);
                } else {
                    let run: Vec<f64> = a[start..]
                        .iter()
                        .chain(&b[..end - a.len()])
                        .copied()
                        .collect();
                    check(&run);
                }
                k += 1;
            }
            best.sqrt()
        });
        self.runs.extend(self.means.iter().copied());
        if self.runs.len() / self.length > self.history {
            self.runs.drain(..self.length);
        }
        nearest
    }
}

/// The streaming state machine behind both forms.
#[derive(Debug, Clone)]
struct NoveltyOnline {
    p: NoveltyParams,
    t: usize,
    value: Range,
    mean: TrailingMean,
    mean_range: Range,
    shapes: Shapes,
    shape_range: Range,
    recent: TrailingRange,
    /// Step and score of the last alarm.
    alarm: Option<(usize, f64)>,
}

impl NoveltyOnline {
    fn new(p: &NoveltyParams) -> Self {
        NoveltyOnline {
            p: p.clone(),
            t: 0,
            value: Range::new(),
            mean: TrailingMean::new(p.mean_window),
            mean_range: Range::new(),
            shapes: Shapes::new(p),
            shape_range: Range::new(),
            recent: TrailingRange::new(p.recent_window),
            alarm: None,
        }
    }

    /// The unthinned score of a finite value, updating every feature's state.
    fn raw(&mut self, v: f64) -> f64 {
        let p = &self.p;
        let u = |w: f64, novelty: f64| {
            let z = w * novelty;
            z / (1.0 + z)
        };
        let mut s = 0.0_f64;
        if p.value_weight > 0.0 {
            s = s.max(u(p.value_weight, self.value.novelty(v)));
        }
        self.value.push(v);
        if let Some(m) = self.mean.push(v) {
            if p.mean_weight > 0.0 {
                s = s.max(u(p.mean_weight, self.mean_range.novelty(m)));
            }
            self.mean_range.push(m);
        }
        if p.shape_weight > 0.0
            && let Some(d) = self.shapes.push(v)
        {
            s = s.max(u(p.shape_weight, self.shape_range.novelty(d)));
            if self.t >= p.shape_warmup {
                self.shape_range.push(d);
            }
        }
        if p.recent_weight > 0.0 {
            s = s.max(u(p.recent_weight, self.recent.novelty(self.t, v)));
            self.recent.push(self.t, v);
        }
        let g = if p.warmup == 0 {
            1.0
        } else {
            (self.t as f64 / p.warmup as f64)
                .min(1.0)
                .powf(p.warmup_power)
        };
        g * s
    }
}

impl OnlineModel for NoveltyOnline {
    fn update(&mut self, _timestamp: i64, value: f64) -> f64 {
        let score = if value.is_finite() {
            let s = self.raw(value);
            match self.alarm {
                Some((at, a)) if self.t - at <= self.p.quiet => {
                    if s > a * self.p.rearm {
                        self.alarm = Some((self.t, s));
                        s
                    } else {
                        0.0
                    }
                }
                _ => {
                    if s > 0.0 {
                        self.alarm = Some((self.t, s));
                    }
                    s
                }
            }
        } else {
            f64::NAN
        };
        self.t += 1;
        score
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsad_testing::{ConformanceOptions, assert_bits_eq, conformance_with};

    fn detector(params: NoveltyParams) -> NoveltyDetector {
        NoveltyDetector::new(params).unwrap()
    }

    fn scores(params: NoveltyParams, values: &[f64]) -> Vec<f64> {
        let series = Series::from_values(values.to_vec()).unwrap();
        detector(params)
            .fit(&series, &FitContext::new())
            .unwrap()
            .score(&series)
            .unwrap()
            .score
    }

    /// Only the value feature, no discount, no thinning: the score is u(w · novelty).
    fn value_only() -> NoveltyParams {
        NoveltyParams {
            value_weight: 1.0,
            mean_weight: 0.0,
            shape_weight: 0.0,
            recent_weight: 0.0,
            warmup: 0,
            quiet: 0,
            ..NoveltyParams::default()
        }
    }

    #[test]
    fn params_table() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("defaults", "{}", None),
            (
                "value only",
                r#"{"mean_weight": 0, "shape_weight": 0, "recent_weight": 0}"#,
                None,
            ),
            (
                "all off",
                r#"{"value_weight": 0, "mean_weight": 0, "shape_weight": 0, "recent_weight": 0}"#,
                Some("every feature weight is 0"),
            ),
            (
                "negative weight",
                r#"{"mean_weight": -1}"#,
                Some("`mean_weight`"),
            ),
            ("short mean", r#"{"mean_window": 1}"#, Some("`mean_window`")),
            (
                "empty block",
                r#"{"shape_block": 0}"#,
                Some("`shape_block`"),
            ),
            (
                "history not above length",
                r#"{"shape_length": 8, "shape_history": 8}"#,
                Some("`shape_history`"),
            ),
            ("rearm below 1", r#"{"rearm": 0.5}"#, Some("`rearm`")),
            (
                "several",
                r#"{"recent_window": 1, "warmup_power": 11, "shape_length": 1}"#,
                Some("`shape_length, recent_window, warmup_power`"),
            ),
        ];
        for (name, json, want) in cases {
            let params: NoveltyParams = serde_json::from_str(json).unwrap();
            match (NoveltyDetector::new(params), want) {
                (Ok(_), None) => {}
                (Err(e), Some(w)) => assert!(e.to_string().contains(w), "{name}: {e}"),
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
        assert!(serde_json::from_str::<NoveltyParams>(r#"{"weight": 1}"#).is_err());
    }

    #[test]
    fn known_answer_hand_computed() {
        // Value feature alone over [0, 10, 5, 25, -5], by hand:
        // point 0: no past -> 0;
        // point 1: the past is the single value 0, so 10 has novelty 1 -> 1/2;
        // point 2: inside [0, 10] -> 0;
        // point 3: 25 is 15 beyond [0, 10], range 10 -> novelty 1.5 -> 1.5 / 2.5 = 0.6;
        // point 4: -5 is 5 below [0, 25], range 25 -> 0.2 -> 0.2 / 1.2 = 1/6.
        let got = scores(value_only(), &[0.0, 10.0, 5.0, 25.0, -5.0]);
        let want = [0.0, 0.5, 0.0, 0.6, 1.0 / 6.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
    }

    fn peak(s: &[f64]) -> f64 {
        s.iter().copied().fold(0.0, f64::max)
    }

    #[test]
    fn behaviour_table() {
        // An exactly repeating rhythm of period 12 in [-3, 3].
        let pattern = [
            0.0, 1.0, 2.0, 3.0, 2.0, 1.0, 0.0, -1.0, -2.0, -3.0, -2.0, -1.0,
        ];
        let base: Vec<f64> = (0..600).map(|i| pattern[i % 12]).collect();
        let with = |f: &dyn Fn(&mut Vec<f64>)| {
            let mut v = base.clone();
            f(&mut v);
            v
        };
        type Case = (&'static str, NoveltyParams, Vec<f64>, fn(&[f64]) -> bool);
        let cases: Vec<Case> = vec![
            (
                "a spike is an alarm",
                value_only(),
                with(&|v| v[400] = 9.0),
                |s| s[400] == 0.5 && s[401..].iter().all(|x| *x == 0.0),
            ),
            (
                "nothing new, nothing scored",
                value_only(),
                base.clone(),
                |s| s[100..].iter().all(|x| *x == 0.0),
            ),
            (
                "the quiet period silences a second, weaker excursion",
                NoveltyParams {
                    quiet: 50,
                    ..value_only()
                },
                with(&|v| {
                    v[400] = 9.0;
                    v[420] = 10.0;
                }),
                |s| s[400] > 0.0 && s[420] == 0.0,
            ),
            (
                "a much stronger one re-arms",
                NoveltyParams {
                    quiet: 50,
                    ..value_only()
                },
                with(&|v| {
                    v[400] = 4.0;
                    v[420] = 50.0;
                }),
                |s| s[400] > 0.0 && s[420] > s[400],
            ),
            (
                "the warm-up discounts early points",
                NoveltyParams {
                    warmup: 400,
                    ..value_only()
                },
                with(&|v| {
                    v[100] = 9.0;
                    v[500] = 40.0;
                }),
                // at 100: 9 is 6 beyond [-3, 3] -> novelty 1 -> 1/2, discounted by (1/4)^2.
                |s| (s[100] - 0.5 / 16.0).abs() < 1e-12 && s[500] > 0.7,
            ),
            (
                "a level shift inside the range moves the mean",
                NoveltyParams {
                    value_weight: 0.0,
                    recent_weight: 0.0,
                    shape_weight: 0.0,
                    mean_weight: 1.0,
                    warmup: 0,
                    ..NoveltyParams::default()
                },
                with(&|v| v[450..].iter_mut().for_each(|x| *x = 2.5)),
                |s| peak(&s[450..500]) > 0.1 && peak(&s[100..450]) < 0.01,
            ),
            (
                "a broken rhythm is a new shape",
                NoveltyParams {
                    value_weight: 0.0,
                    recent_weight: 0.0,
                    mean_weight: 0.0,
                    shape_weight: 1.0,
                    shape_block: 1,
                    warmup: 0,
                    ..NoveltyParams::default()
                },
                with(&|v| v[450..480].iter_mut().for_each(|x| *x = 0.0)),
                |s| peak(&s[450..490]) >= 0.5 && peak(&s[320..450]) == 0.0,
            ),
        ];
        for (name, params, values, ok) in cases {
            let s = scores(params, &values);
            assert!(ok(&s), "{name}: {:?}", &s[380..]);
        }
    }

    #[test]
    fn streaming_equals_batch_and_missing_values_are_nan() {
        let (series, _) = tsad_testing::sine_with_spike(3000, 5);
        let gappy = tsad_testing::with_nan_gaps(&series, 5);
        let d = detector(NoveltyParams::default());
        let batch = d
            .fit(&gappy, &FitContext::new())
            .unwrap()
            .score(&gappy)
            .unwrap();
        let mut online = d.online().unwrap();
        let streamed: Vec<f64> = gappy
            .timestamps()
            .iter()
            .zip(gappy.values())
            .map(|(&t, &v)| online.update(t, v))
            .collect();
        assert_bits_eq(&streamed, &batch.score, "streaming vs batch");
        for (v, s) in gappy.values().iter().zip(&streamed) {
            assert_eq!(v.is_nan(), s.is_nan());
            assert!(s.is_nan() || (0.0..1.0).contains(s));
        }
    }

    #[test]
    fn shape_history_bounds_memory_without_changing_short_series() {
        let (series, _) = tsad_testing::sine_with_spike(2000, 3);
        let full = scores(NoveltyParams::default(), series.values());
        let capped = scores(
            NoveltyParams {
                shape_history: 200,
                ..NoveltyParams::default()
            },
            series.values(),
        );
        // 2000 points make 664 runs of 3: the cap changes later distances, not the first 600.
        assert_bits_eq(&full[..600], &capped[..600], "before the cap bites");
    }

    #[test]
    fn conforms() {
        conformance_with(
            "novelty",
            &|| Box::new(NoveltyDetector::new(NoveltyParams::default()).unwrap()),
            &ConformanceOptions::default(),
        );
    }
}
