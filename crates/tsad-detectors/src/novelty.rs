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
//! **How.** Each feature tracks one value per point (the point itself, a trailing mean, a
//! change over a few points, a trailing spread, or a shape distance) and keeps the range
//! `[lo, hi]` of that value over its past (all of it, or the last `range` points). Its
//! *novelty* at a point is how far the new value lies outside that range, in units of the
//! range, `max(v - hi, lo - v, 0) / (hi - lo)`, so every feature is on the same scale-free
//! footing (after a constant past, any change has novelty `flat_novelty`). The inputs:
//!
//! | input | value tracked | catches |
//! | --- | --- | --- |
//! | `value` | the point | spikes and dips beyond every earlier value |
//! | `mean` | mean of the last `window` points | level shifts, sustained excursions |
//! | `diff` | `x[t] - x[t - window]` | jumps larger than any before |
//! | `spread` | standard deviation of the last `window` points (rises only) | bursts of volatility |
//! | `shape` | distance from the last `shape_length` means of `window`-point blocks to the nearest earlier such run (left nearest neighbour); its range is taken after `shape_warmup` points | broken or missing rhythms, flat lines in a periodic signal |
//!
//! The point's score is `g · max_k u(weight_k · novelty_k)` with `u(z) = z / (1 + z)`, where
//! `g = min(1, t / warmup)^warmup_power` discounts the early points (a new extreme among few
//! is weak evidence: among n exchangeable points the last is a record with probability 1/n).
//! Then alarms are thinned: after a point scores above 0, the next `quiet` points score 0
//! unless they beat that alarm's score by the factor `rearm`, which starts a new alarm. An
//! anomaly is thus reported once, at its onset,
//! which is what NAB rewards (the earliest detection in a window counts; every later false
//! alarm costs).
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
//! **Parameters** ([`NoveltyParams`]): `features` (default: eight features tuned on NAB,
//! listed at [`NoveltyParams::features`]), `shape_length` (8), `shape_warmup` (300),
//! `shape_history` (10 000 runs kept for the nearest-neighbour search), `flat_novelty`
//! (0.1), `warmup` (1200),
//! `warmup_power` (2), `quiet` (75), `rearm` (4). The defaults
//! were tuned on NAB as a whole (one set for all 58 files; see
//! `crates/tsad-eval/examples/tune.rs`).
//!
//! **Minimum length**: 1 point (early points score 0).
//!
//! **Cost**: O(1) per point for `value`, `mean` and `diff` features (amortised; monotone
//! deques for trailing ranges), O(`window`) for `spread`, and for `shape`, at each block end,
//! a nearest-neighbour search among the last `shape_history` runs through k-d trees that
//! returns the exact distance only when it can change the score (see the `shapes` module):
//! O(log² `shape_history`) amortised upkeep plus the few runs visited, with a full (pruned)
//! search only for a new record distance. Linear in the series' length: a million points at
//! the defaults take 0.4-0.75 s (seasonal series, random walks) to 1.1-1.5 s (white noise, the
//! worst case for the search) on one core of the busy development machine, where a
//! brute-force scan took about 20 s (27 000 multiply-adds a point). Memory O(`shape_history` + the windows and ranges).
//! Scoring checks the cancel flag and reports progress every 65,536 points.
//!
//! **Reference**: the "spatial anomaly" rule of Numenta's NAB detector (a value beyond the
//! range seen so far) and the left matrix profile (Yeh et al. 2016, "Matrix Profile I",
//! <https://doi.org/10.1109/ICDM.2016.0179>; a discord is a subsequence far from its nearest
//! neighbour); the thinning follows the rest period of CAD OSE (Smirnov, NAB 2016). Ahmad et
//! al. (2017), "Unsupervised real-time anomaly detection for streaming data",
//! <https://doi.org/10.1016/j.neucom.2017.04.070>, describe the benchmark.

mod shapes;

use crate::common::{
    Problems, begin_fit, check_len, params_state, parse_state, report_done, score_in_chunks,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shapes::Shapes;
use std::collections::VecDeque;
use tsad_core::{Detector, Error, FitContext, Model, ModelState, OnlineModel, Scores, Series};

const KIND: &str = "novelty";

/// What a [`Feature`] tracks. Serialised as `"value"`, `"mean"`, `"diff"`, `"spread"`, `"shape"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// The point itself (`window` is ignored).
    Value,
    /// The mean of the last `window` points: level shifts and sustained excursions.
    Mean,
    /// The change over `window` points, `x[t] - x[t - window]`: sudden jumps.
    Diff,
    /// The standard deviation of the last `window` points, rises only: bursts of volatility.
    Spread,
    /// The distance from the last `shape_length` means of `window`-point blocks to the nearest
    /// earlier such run (left nearest neighbour), scored at block ends: shapes never seen.
    Shape,
}

/// One novelty feature: an input, the past it is compared with, and its weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    /// What is tracked.
    pub input: Input,
    /// Points the input is computed over: the mean or spread window, the diff lag, the shape
    /// block (at least 1; at least 2 for `spread`; ignored for `value`). Default 1.
    #[serde(default = "one")]
    pub window: usize,
    /// How many past points the range is taken over; 0 (the default) = all of them. A finite
    /// range forgets old extremes, so the feature re-arms after them.
    #[serde(default)]
    pub range: usize,
    /// Weight: the feature scores `u(weight · novelty)` (0 = off, at most 1000).
    pub weight: f64,
}

fn one() -> usize {
    1
}

impl Feature {
    /// A feature of `input` over `window` points, range `range` (0 = all), weight `weight`.
    pub fn new(input: Input, window: usize, range: usize, weight: f64) -> Self {
        Feature {
            input,
            window,
            range,
            weight,
        }
    }
}

/// The features of `nab-best`, tuned on NAB as a whole.
fn default_features() -> Vec<Feature> {
    vec![
        Feature::new(Input::Value, 1, 0, 1.4),
        Feature::new(Input::Mean, 10, 0, 0.14),
        Feature::new(Input::Mean, 30, 0, 0.4),
        Feature::new(Input::Diff, 3, 0, 0.4),
        Feature::new(Input::Diff, 10, 0, 0.2),
        Feature::new(Input::Shape, 3, 0, 0.1),
        Feature::new(Input::Mean, 30, 3000, 0.168),
        Feature::new(Input::Mean, 10, 500, 0.01),
    ]
}

/// Parameters of the [`NoveltyDetector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NoveltyParams {
    /// The features, each `{"input": "value" | "mean" | "diff" | "spread" | "shape",
    /// "window": n, "range": n (0 = all the past), "weight": w}`. Default: eight features
    /// tuned on NAB, against all the past: value (weight 1.4), means of 10 and 30 points (0.14,
    /// 0.4), changes over 3 and 10 points (0.4, 0.2), shapes of 3-point blocks (0.1); and
    /// against a trailing range: 30-point mean over the last 3000 points (0.168), 10-point
    /// mean over the last 500 (0.01).
    pub features: Vec<Feature>,
    /// Blocks in one run compared by `shape` features (default 8, at least 2).
    pub shape_length: usize,
    /// Points before `shape` features start tracking the range of their distances (default
    /// 300): early distances are large only because few runs exist to compare with.
    pub shape_warmup: usize,
    /// Earlier runs kept for the nearest-neighbour search of `shape` features (default
    /// 10 000, more than `shape_length`); bounds the cost per point on long series.
    pub shape_history: usize,
    /// Novelty of any change after a constant past (a range with no width gives no unit to
    /// measure the change in), default 0.1, from 0 to 1000. Small, because a long flat start
    /// followed by the first wiggle is common in machine metrics and rarely what matters; 0
    /// ignores such changes until the range has a width.
    pub flat_novelty: f64,
    /// Points over which the early-point discount `min(1, t / warmup)^warmup_power` rises to 1
    /// (default 1200, 0 = no discount). Also the detector's warm-up
    /// ([`Detector::warm_up`]): after a separate row-numbered training part, the scored
    /// series' first `warmup` points are also scored on their own and keep the lower score.
    pub warmup: usize,
    /// Exponent of the early-point discount (default 2, from 0 to 10).
    pub warmup_power: f64,
    /// Points after an alarm during which weaker alarms score 0 (default 75, 0 = never thin).
    pub quiet: usize,
    /// Factor by which a point in the quiet period must beat the alarm's score to be
    /// reported, starting a new alarm (default 4, at least 1).
    pub rearm: f64,
}

impl Default for NoveltyParams {
    fn default() -> Self {
        NoveltyParams {
            features: default_features(),
            shape_length: 8,
            shape_warmup: 300,
            shape_history: 10_000,
            flat_novelty: 0.1,
            warmup: 1200,
            warmup_power: 2.0,
            quiet: 75,
            rearm: 4.0,
        }
    }
}

impl NoveltyParams {
    fn validate(&self) -> Result<(), Error> {
        let mut p = Problems::new();
        let mut bad = Vec::new();
        for (i, f) in self.features.iter().enumerate() {
            if !(0.0..=1000.0).contains(&f.weight) {
                bad.push(format!(
                    "[{i}].weight must be from 0 to 1000, got {}",
                    f.weight
                ));
            }
            let least = match f.input {
                Input::Value => 0,
                Input::Spread => 2,
                Input::Mean | Input::Diff | Input::Shape => 1,
            };
            if f.window < least {
                bad.push(format!(
                    "[{i}].window must be at least {least} for `{}`, got {}",
                    serde_json::to_value(f.input)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    f.window
                ));
            }
        }
        if !self.features.iter().any(|f| f.weight > 0.0) {
            bad.push("need at least one feature with a positive weight".into());
        }
        p.check(bad.is_empty(), "features", || bad.join("; "));
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
        p.check(
            (0.0..=1000.0).contains(&self.flat_novelty),
            "flat_novelty",
            || format!("must be a number from 0 to 1000, got {}", self.flat_novelty),
        );
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

    fn warm_up(&self) -> usize {
        self.params.warmup.max(1)
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
        self.score_with(series, &FitContext::new())
    }

    /// Checks the cancel flag and reports progress every 65,536 points.
    fn score_with(&self, series: &Series, ctx: &FitContext) -> Result<Scores, Error> {
        check_len(series, 1)?;
        let mut online = NoveltyOnline::new(&self.params);
        let (t, v) = (series.timestamps(), series.values());
        let mut score = Vec::with_capacity(series.len());
        score_in_chunks(series.len(), ctx, |r| {
            score.extend(online.update_all(&t[r.clone()], &v[r]));
        })?;
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
/// `max(v - hi, lo - v, 0) / (hi - lo)`; 0 while the range is empty or `v` inside it. A range
/// narrower than 1e-9 of its magnitude (a constant past, or rounding noise) has no unit to
/// measure a change in: anything outside it gets `flat`.
fn outside(v: f64, lo: f64, hi: f64, flat: f64) -> f64 {
    if lo > hi || !v.is_finite() {
        return 0.0;
    }
    let beyond = (v - hi).max(lo - v);
    if beyond <= 0.0 {
        return 0.0;
    }
    let width = hi - lo;
    if width <= 1e-9 * hi.abs().max(lo.abs()) {
        return flat;
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
    fn novelty(&self, v: f64, flat: f64) -> f64 {
        outside(v, self.lo, self.hi, flat)
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
    fn novelty(&mut self, t: usize, v: f64, flat: f64) -> f64 {
        while self.max.front().is_some_and(|f| t - f.0 > self.window) {
            self.max.pop_front();
        }
        while self.min.front().is_some_and(|f| t - f.0 > self.window) {
            self.min.pop_front();
        }
        match (self.max.front(), self.min.front()) {
            (Some(hi), Some(lo)) => outside(v, lo.1, hi.1, flat),
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

/// The past a feature is compared with: all of it, or a trailing window.
#[derive(Debug, Clone)]
enum Past {
    All(Range),
    Trailing(TrailingRange),
}

impl Past {
    fn new(range: usize) -> Self {
        if range == 0 {
            Past::All(Range::new())
        } else {
            Past::Trailing(TrailingRange::new(range))
        }
    }
    fn novelty(&mut self, t: usize, v: f64, flat: f64) -> f64 {
        match self {
            Past::All(r) => r.novelty(v, flat),
            Past::Trailing(r) => r.novelty(t, v, flat),
        }
    }
    /// The largest value in the range (after `novelty` dropped expired ones).
    fn hi(&self) -> f64 {
        match self {
            Past::All(r) => r.hi,
            Past::Trailing(r) => r.max.front().map_or(f64::NEG_INFINITY, |h| h.1),
        }
    }
    fn push(&mut self, t: usize, v: f64) {
        match self {
            Past::All(r) => r.push(v),
            Past::Trailing(r) => r.push(t, v),
        }
    }
}

/// The last `window` values pushed.
#[derive(Debug, Clone)]
struct Last {
    window: usize,
    buf: VecDeque<f64>,
}

impl Last {
    fn new(window: usize) -> Self {
        Last {
            window,
            buf: VecDeque::with_capacity(window + 1),
        }
    }
    /// Pushes `v`; true once `window` values are in.
    fn push(&mut self, v: f64) -> bool {
        self.buf.push_back(v);
        if self.buf.len() > self.window {
            self.buf.pop_front();
        }
        self.buf.len() == self.window
    }
}

/// The mean of the last `window` values; the sum is recomputed every `window` pushes so
/// rounding errors cannot accumulate.
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

/// How a feature turns the stream into the values it tracks.
#[derive(Debug, Clone)]
enum Transform {
    Value,
    Mean(TrailingMean),
    Diff(Last),
    Spread(Last),
    Shape(Box<Shapes>),
}

impl Transform {
    /// Pushes `v` and returns the tracked value once it is defined. A `shape` distance may be
    /// inexact where it lies inside `[lo, hi]` (see [`Shapes::push`]).
    fn push(&mut self, v: f64, lo: f64, hi: f64) -> Option<f64> {
        match self {
            Transform::Value => Some(v),
            Transform::Mean(m) => m.push(v),
            Transform::Diff(last) => last.push(v).then(|| v - last.buf[0]),
            Transform::Spread(last) => last.push(v).then(|| {
                let n = last.buf.len() as f64;
                let mean = last.buf.iter().sum::<f64>() / n;
                (last
                    .buf
                    .iter()
                    .map(|x| (x - mean) * (x - mean))
                    .sum::<f64>()
                    / n)
                    .sqrt()
            }),
            Transform::Shape(s) => s.push(v, lo, hi),
        }
    }
}

/// One feature's state.
#[derive(Debug, Clone)]
struct FeatureState {
    transform: Transform,
    past: Past,
    weight: f64,
    /// Only rises count (spread).
    rises_only: bool,
    /// Steps before the values start entering the range (shape).
    warmup: usize,
}

impl FeatureState {
    /// The range `[lo, hi]` inside which the value tracked at step `t` need not be exact, as
    /// it changes neither the score nor the past: before the warm-up any value (none enters
    /// the past, and an empty past gives novelty 0); then the range of all the past (a value
    /// inside it is no novelty and leaves the range as it is); none for a trailing range (a
    /// value inside it may become its extreme later).
    fn exact_outside(&self, t: usize) -> (f64, f64) {
        if t < self.warmup {
            return (f64::NEG_INFINITY, f64::INFINITY);
        }
        match &self.past {
            Past::All(r) => (r.lo, r.hi),
            Past::Trailing(_) => (f64::INFINITY, f64::NEG_INFINITY),
        }
    }
}

/// The streaming state machine behind both forms.
#[derive(Debug, Clone)]
struct NoveltyOnline {
    p: NoveltyParams,
    t: usize,
    features: Vec<FeatureState>,
    /// Step and score of the last alarm.
    alarm: Option<(usize, f64)>,
    /// Tests compare the shortcut of `FeatureState::exact_outside` with exact distances.
    #[cfg(test)]
    always_exact: bool,
}

impl NoveltyOnline {
    fn new(p: &NoveltyParams) -> Self {
        let features = p
            .features
            .iter()
            .filter(|f| f.weight > 0.0)
            .map(|f| FeatureState {
                transform: match f.input {
                    Input::Value => Transform::Value,
                    Input::Mean => Transform::Mean(TrailingMean::new(f.window)),
                    // x[t] - x[t - lag] needs the last lag + 1 values.
                    Input::Diff => Transform::Diff(Last::new(f.window + 1)),
                    Input::Spread => Transform::Spread(Last::new(f.window)),
                    Input::Shape => Transform::Shape(Box::new(Shapes::new(
                        f.window,
                        p.shape_length,
                        p.shape_history,
                    ))),
                },
                past: Past::new(f.range),
                weight: f.weight,
                rises_only: f.input == Input::Spread,
                warmup: if f.input == Input::Shape {
                    p.shape_warmup
                } else {
                    0
                },
            })
            .collect();
        NoveltyOnline {
            p: p.clone(),
            t: 0,
            features,
            alarm: None,
            #[cfg(test)]
            always_exact: false,
        }
    }

    /// The unthinned score of a finite value, updating every feature's state.
    fn raw(&mut self, v: f64) -> f64 {
        let t = self.t;
        let mut s = 0.0_f64;
        for f in &mut self.features {
            let (lo, hi) = f.exact_outside(t);
            #[cfg(test)]
            let (lo, hi) = if self.always_exact {
                (f64::INFINITY, f64::NEG_INFINITY)
            } else {
                (lo, hi)
            };
            let Some(x) = f.transform.push(v, lo, hi) else {
                continue;
            };
            let novelty = f.past.novelty(t, x, self.p.flat_novelty);
            let novelty = if f.rises_only && x <= f.past.hi() {
                0.0
            } else {
                novelty
            };
            let z = f.weight * novelty;
            s = s.max(z / (1.0 + z));
            if t >= f.warmup {
                f.past.push(t, x);
            }
        }
        let p = &self.p;
        let g = if p.warmup == 0 {
            1.0
        } else {
            (t as f64 / p.warmup as f64).min(1.0).powf(p.warmup_power)
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

    /// One feature, no discount, no thinning: the score is u(weight · novelty).
    fn only(input: Input, window: usize) -> NoveltyParams {
        NoveltyParams {
            features: vec![Feature::new(input, window, 0, 1.0)],
            warmup: 0,
            quiet: 0,
            ..NoveltyParams::default()
        }
    }

    fn value_only() -> NoveltyParams {
        only(Input::Value, 1)
    }

    #[test]
    fn params_table() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("defaults", "{}", None),
            (
                "value only, window omitted",
                r#"{"features": [{"input": "value", "weight": 1}]}"#,
                None,
            ),
            (
                "trailing range",
                r#"{"features": [{"input": "mean", "window": 5, "range": 100, "weight": 0.5}]}"#,
                None,
            ),
            (
                "all off",
                r#"{"features": [{"input": "value", "weight": 0}]}"#,
                Some("at least one feature with a positive weight"),
            ),
            ("no features", r#"{"features": []}"#, Some("`features`")),
            (
                "negative weight",
                r#"{"features": [{"input": "value", "weight": 1}, {"input": "diff", "weight": -1}]}"#,
                Some("[1].weight must be from 0 to 1000"),
            ),
            (
                "spread of one point",
                r#"{"features": [{"input": "spread", "window": 1, "weight": 1}]}"#,
                Some("[0].window must be at least 2 for `spread`"),
            ),
            (
                "empty block",
                r#"{"features": [{"input": "shape", "window": 0, "weight": 1}]}"#,
                Some("[0].window must be at least 1 for `shape`"),
            ),
            (
                "history not above length",
                r#"{"shape_length": 8, "shape_history": 8}"#,
                Some("`shape_history`"),
            ),
            ("rearm below 1", r#"{"rearm": 0.5}"#, Some("`rearm`")),
            (
                "several",
                r#"{"rearm": 0, "warmup_power": 11, "shape_length": 1}"#,
                Some("`shape_length, warmup_power, rearm`"),
            ),
        ];
        tsad_testing::check_params(NoveltyDetector::new, cases);
        assert!(serde_json::from_str::<NoveltyParams>(r#"{"weight": 1}"#).is_err());
    }

    #[test]
    fn known_answer_hand_computed() {
        // Value feature alone over [0, 10, 5, 25, -5], by hand:
        // point 0: no past -> 0;
        // point 1: the past is the single value 0, so 10 has novelty flat_novelty = 0.1 -> 1/11;
        // point 2: inside [0, 10] -> 0;
        // point 3: 25 is 15 beyond [0, 10], range 10 -> novelty 1.5 -> 1.5 / 2.5 = 0.6;
        // point 4: -5 is 5 below [0, 25], range 25 -> 0.2 -> 0.2 / 1.2 = 1/6.
        let got = scores(value_only(), &[0.0, 10.0, 5.0, 25.0, -5.0]);
        let want = [0.0, 1.0 / 11.0, 0.0, 0.6, 1.0 / 6.0];
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
                only(Input::Mean, 30),
                with(&|v| v[450..].iter_mut().for_each(|x| *x = 2.5)),
                |s| peak(&s[450..500]) > 0.1 && peak(&s[100..450]) < 0.01,
            ),
            (
                "a broken rhythm is a new shape",
                only(Input::Shape, 1),
                with(&|v| v[450..480].iter_mut().for_each(|x| *x = 0.0)),
                |s| peak(&s[450..490]) >= 0.5 && peak(&s[320..450]) == 0.0,
            ),
            (
                "a jump inside the range is a new change",
                only(Input::Diff, 1),
                with(&|v| v[451] = 3.0),
                // 0 -> 3 is a change of 3; past changes span [-1, 1]: novelty 1 -> 1/2.
                |s| (s[451] - 0.5).abs() < 1e-12 && peak(&s[20..451]) == 0.0,
            ),
            (
                "a burst of volatility raises the spread, a calm stretch does not",
                only(Input::Spread, 6),
                with(&|v| {
                    v[300..306].iter_mut().for_each(|x| *x = 0.0);
                    v[450..456].copy_from_slice(&[3.0, -3.0, 3.0, -3.0, 3.0, -3.0]);
                }),
                |s| peak(&s[300..320]) == 0.0 && peak(&s[450..460]) > 0.1,
            ),
            (
                "a trailing range forgets old extremes",
                NoveltyParams {
                    features: vec![Feature::new(Input::Value, 1, 100, 1.0)],
                    ..value_only()
                },
                // 6 at 400 is 3 beyond [-3, 3] (the 9 at 200 has aged out): novelty 1/2 -> 1/3.
                with(&|v| {
                    v[200] = 9.0;
                    v[400] = 6.0;
                }),
                |s| s[200] > 0.0 && (s[400] - 1.0 / 3.0).abs() < 1e-12,
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
        let streamed = online.update_all(gappy.timestamps(), gappy.values());
        assert_bits_eq(&streamed, &batch.score, "streaming vs batch");
        for (v, s) in gappy.values().iter().zip(&streamed) {
            assert_eq!(v.is_nan(), s.is_nan());
            assert!(s.is_nan() || (0.0..1.0).contains(s));
        }
    }

    /// The shape search may return an inexact distance where it cannot change the outcome:
    /// the scores are bit-identical to those with exact distances everywhere.
    #[test]
    fn shortcut_shape_distances_give_identical_scores() {
        let mut rng = tsad_testing::Rng::new(5);
        let noise: Vec<f64> = (0..20_000).map(|_| rng.normal()).collect();
        let steps: Vec<f64> = (0..20_000).map(|_| rng.below(3) as f64).collect();
        let cases = [
            ("sine", tsad_testing::sine_with_spike(20_000, 1).0),
            (
                "seasonal",
                tsad_testing::seasonal_with_anomalies(20_000, 288, 20, 2).0,
            ),
            ("walk", tsad_testing::random_walk(20_000, 3)),
            ("noise", Series::from_values(noise).unwrap()),
            ("steps", Series::from_values(steps).unwrap()),
        ];
        let params = NoveltyParams {
            shape_history: 2000,
            ..NoveltyParams::default()
        };
        for (name, series) in cases {
            let mut fast = NoveltyOnline::new(&params);
            let mut exact = NoveltyOnline::new(&params);
            exact.always_exact = true;
            let (t, v) = (series.timestamps(), series.values());
            assert_bits_eq(&fast.update_all(t, v), &exact.update_all(t, v), name);
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
    fn scoring_stops_when_cancelled() {
        tsad_testing::assert_scoring_stops_when_cancelled(&detector(NoveltyParams::default()));
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
