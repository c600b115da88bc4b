//! `ensemble`: combines any detectors (including neural ones) into one score per point, and
//! keeps each member's contribution.
//!
//! **One mechanism.** Each member's scores are put on a common scale, the robust z-score over
//! the scored series, `(s - median) / (1.4826·MAD)` (when the MAD is 0, as for a member like
//! `novelty` that scores 0 almost everywhere, the scale is read from the member's upper tail:
//! its first percentile among the 90th, 99th, 99.9th and 99.99th above the median, over the
//! normal quantile at that level; when every score is equal the normalised scores are 0), and
//! then combined point by point by the [`Policy`]:
//!
//! | policy | combined score | reads as |
//! | --- | --- | --- |
//! | `all` | minimum over members | fuzzy AND: a point passes a cut-off only if every member does |
//! | `any` | maximum over members | fuzzy OR: one member passing is enough |
//! | `k_of_n` | the k-th largest | at least `k` members pass |
//! | `weighted` | weighted mean (weights scaled to sum 1) | evidence added up |
//!
//! Because `all` is the pointwise minimum and `any` the maximum of the same normalised scores,
//! at any fixed cut-off the points `all` flags are a subset of those `any` flags.
//!
//! A member that keeps only the peak of each episode and gives the dense score they are peaks
//! of (`level`, see [`Scores::dense`]) takes its center and scale from that dense score, its
//! largest hump (the candidate anomaly) left out: its median, and a scale read from its upper
//! tail as for a sparse member.
//!
//! **Abstaining members**: a member whose scores are NaN at every point (Benford's test on
//! data it does not apply to) has no opinion and leaves the vote: the others combine as if it
//! were absent (`k` is capped at the number of members left), and the report lists it under
//! `abstained`.
//!
//! **Missing member scores** (a member's warm-up, a missing value): with `all` a NaN member
//! makes the point NaN (undefined: not every member has spoken); the other policies ignore NaN
//! members (`k_of_n` is NaN while fewer than `k` members are defined; `weighted` re-scales the
//! weights of the defined members).
//!
//! **Streaming** ([`Detector::online`], when a member streams): each member's score is
//! normalised against its last [`ONLINE_NORMALIZER_WINDOW`] finite scores (robust z, once
//! [`ONLINE_NORMALIZER_WARMUP`] are in). The abstention rule reads the past: a member that
//! has not scored any point yet leaves the vote, so the streaming `hybrid-benford` is the
//! autoencoder alone while Benford's test abstains.
//!
//! **Output**: `Scores.members` holds each member's normalised and raw scores (events use
//! them for member shares); `expected` and `band` come from the first member that has them,
//! except on points a member scores above robust z 3, where they come from the member scoring
//! the point highest (none when it has none: Benford, say), so an event's expected value is
//! the one of the member that raised it;
//! the report is `{"policy", "k", "weights", "members": [{"name", "kind", "center", "scale",
//! "report"}]}`.
//!
//! **Streaming** ([`Detector::online`]): available when at least one member has a streaming
//! form; a batch-only member (`level`, which needs the points after each one) abstains in the
//! stream, as above.
//! Whole-series normalisation would use the future, so each member's score is normalised by
//! the median and MAD (or, when that is 0, the upper tail) of that member's previous 500
//! finite scores (at least 10 of them; NaN before that), then combined as above.
//!
//! **Parameters** ([`EnsembleParams`]): `policy` (default `all`), `k` (only for `k_of_n`,
//! required there). Members and weights are given to [`EnsembleDetector::new`].
//!
//! **Minimum length**: the largest of the members'. **Cost**: the members' costs plus
//! O(n log n) per member for the normalisation.
//!
//! **Reference**: Aggarwal & Sathe (2017), *Outlier Ensembles: An Introduction*, Springer,
//! chapter 5 (score normalisation and combination).

use crate::common::{
    MEAN_AD_TO_SIGMA, Problems, STATE_VERSION, SortedWindow, order_place, robust_center_scale,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tsad_core::calibration::ties;
use tsad_core::{
    Detector, Error, FitContext, MemberScores, Model, ModelState, OnlineModel, Progress, Scores,
    Series,
};

const KIND: &str = "ensemble";

/// Past member scores the streaming normaliser keeps.
pub const ONLINE_NORMALIZER_WINDOW: usize = 500;
/// Past finite member scores the streaming normaliser needs before it normalises.
pub const ONLINE_NORMALIZER_WARMUP: usize = 10;

/// How member scores combine. Serialised as `"all"`, `"any"`, `"k_of_n"`, `"weighted"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Minimum of the normalised scores: anomalous only where every member agrees.
    #[default]
    All,
    /// Maximum of the normalised scores: anomalous where any member says so.
    Any,
    /// The k-th largest normalised score: anomalous where at least `k` members agree.
    KOfN,
    /// Weighted mean of the normalised scores (weights scaled to sum 1).
    Weighted,
}

impl Policy {
    /// The policy's name as in specs.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::All => "all",
            Policy::Any => "any",
            Policy::KOfN => "k_of_n",
            Policy::Weighted => "weighted",
        }
    }
}

/// Parameters of the [`EnsembleDetector`] besides its members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct EnsembleParams {
    /// How member scores combine (default `all`): `all` (minimum: every member must agree),
    /// `any` (maximum), `k_of_n` (the k-th largest: at least `k` members agree) or `weighted`
    /// (weighted mean of the normalised scores).
    pub policy: Policy,
    /// For `k_of_n` only, and required there: how many members must agree (1..=members).
    pub k: Option<usize>,
}

/// One member of an ensemble.
#[derive(Debug)]
pub struct EnsembleMember {
    /// Unique name within the ensemble (shown in member shares and progress).
    pub name: String,
    /// The member detector.
    pub detector: Box<dyn Detector>,
    /// Weight for the `weighted` policy (finite, >= 0; scaled to sum 1). Ignored otherwise.
    pub weight: f64,
}

impl EnsembleMember {
    /// A member with weight 1.
    pub fn new(name: impl Into<String>, detector: Box<dyn Detector>) -> Self {
        EnsembleMember {
            name: name.into(),
            detector,
            weight: 1.0,
        }
    }
}

/// The ensemble detector (unfitted). See the [module docs](self).
#[derive(Debug)]
pub struct EnsembleDetector {
    members: Vec<EnsembleMember>,
    params: EnsembleParams,
    weights: Vec<f64>,
}

impl EnsembleDetector {
    /// Validates the members and parameters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] listing every problem: no members, empty or duplicate
    /// names, negative or non-finite weights, weights summing to 0 under `weighted`, `k`
    /// missing or out of 1..=members under `k_of_n`, or `k` given with another policy.
    pub fn new(members: Vec<EnsembleMember>, params: EnsembleParams) -> Result<Self, Error> {
        let n = members.len();
        let mut p = Problems::new();
        p.check(n > 0, "members", || {
            "must hold at least one detector".into()
        });
        for (i, m) in members.iter().enumerate() {
            p.check(!m.name.trim().is_empty(), "members", || {
                format!("member {i} has an empty name")
            });
            p.check(
                members[..i].iter().all(|o| o.name != m.name),
                "members",
                || format!("the name `{}` is used twice", m.name),
            );
            p.check(m.weight.is_finite() && m.weight >= 0.0, "weight", || {
                format!(
                    "member `{}` has weight {}; weights must be finite numbers >= 0",
                    m.name, m.weight
                )
            });
        }
        let total: f64 = members.iter().map(|m| m.weight).sum();
        if params.policy == Policy::Weighted && n > 0 {
            p.check(total > 0.0 && total.is_finite(), "weight", || {
                "the members' weights must not all be 0 under policy `weighted`".into()
            });
        }
        match (params.policy, params.k) {
            (Policy::KOfN, None) => {
                p.check(false, "k", || "is required with policy `k_of_n`".into())
            }
            (Policy::KOfN, Some(k)) => p.check(k >= 1 && k <= n, "k", || {
                format!("must be between 1 and the number of members ({n}), got {k}")
            }),
            (policy, Some(k)) => p.check(false, "k", || {
                format!(
                    "is only used with policy `k_of_n`, not `{}` (got {k})",
                    policy.as_str()
                )
            }),
            (_, None) => {}
        }
        p.finish()?;
        // Only `weighted` uses the weights; elsewhere all-zero weights are allowed, and equal
        // shares keep the saved state finite.
        let weights = members
            .iter()
            .map(|m| {
                if total > 0.0 {
                    m.weight / total
                } else {
                    1.0 / n as f64
                }
            })
            .collect();
        Ok(EnsembleDetector {
            members,
            params,
            weights,
        })
    }

    /// The members.
    pub fn members(&self) -> &[EnsembleMember] {
        &self.members
    }

    /// The parameters.
    pub fn params(&self) -> &EnsembleParams {
        &self.params
    }
}

/// A voter's normalised score above which the point's expected value and band come from the
/// member that scores it highest: the one that makes the point anomalous. Elsewhere they come
/// from the first member that has them, so the chart's expected line does not hop between
/// members on ordinary points.
const LEAD_Z: f64 = 3.0;

/// The voter that scores point `i` highest, when it scores it above [`LEAD_Z`].
fn leader(voters: &[usize], normalized: &[(Vec<f64>, f64, f64)], i: usize) -> Option<usize> {
    voters
        .iter()
        .copied()
        .filter(|&j| normalized[j].0[i] > LEAD_Z)
        .max_by(|&a, &b| normalized[a].0[i].total_cmp(&normalized[b].0[i]))
}

/// Upper quantiles a sparse member's scale is read from, each with the standard normal's
/// quantile at that level: see [`member_center_scale`].
const SPARSE_LADDER: [(f64, f64); 4] = [
    (0.9, 1.281_551_565_545),
    (0.99, 2.326_347_874_041),
    (0.999, 3.090_232_306_168),
    (0.9999, 3.719_016_485_456),
];

/// A member's center and scale: the median and 1.4826·MAD of its finite scores; `None` when
/// none is finite.
///
/// A *sparse* member, one that scores most points exactly alike (`novelty` scores 0 almost
/// everywhere), has a MAD of 0, and 1.2533 × the mean absolute deviation (the robust
/// threshold's fallback) would spread its few alarms over every point: a scale so small that
/// each weak alarm lands far above every other member's scores and an `any` ensemble floods
/// (on NAB, `any(mad, novelty)` raised 442 false events against `mad`'s 180 alone). Its
/// scale is read from its upper tail instead, by [`sparse_scale`]. Only when that finds
/// nothing does the mean absolute deviation remain.
fn member_center_scale(scores: &[f64]) -> Option<(f64, f64)> {
    let (center, mad) = tsad_core::stats::median_mad(scores)?;
    if mad > 0.0 {
        return Some((center, mad * tsad_core::stats::MAD_TO_SIGMA));
    }
    let mut sorted = tsad_core::stats::finite(scores);
    sorted.sort_by(f64::total_cmp);
    match sparse_scale(center, |q| sorted[order_place(sorted.len(), q)]) {
        Some(scale) => Some((center, scale)),
        // The robust threshold's own fallback: 1.2533 × the mean absolute deviation.
        None => robust_center_scale(scores),
    }
}

/// The scale of a member whose MAD is 0: the first of its 90th, 99th, 99.9th and 99.99th
/// percentiles (`quantile(q)`, an order statistic) that lies above the median, divided by the
/// standard normal's quantile at that level, so that percentile scores as it would for a
/// normal member; `None` when even the 99.99th percentile equals the median.
fn sparse_scale(center: f64, quantile: impl Fn(f64) -> f64) -> Option<f64> {
    SPARSE_LADDER.iter().find_map(|&(q, z)| {
        let v = quantile(q);
        (v > center).then(|| (v - center) / z)
    })
}

/// Puts `scores` on the robust z scale: `(s - median) / scale` over the finite scores, where
/// scale is 1.4826·MAD, for a sparse member one read from its upper tail (see
/// `member_center_scale`); NaN stays NaN, and when every finite score is equal they all
/// become 0. Returns the normalised scores, the median and the scale.
pub fn robust_normalize(scores: &[f64]) -> (Vec<f64>, f64, f64) {
    normalize_against(scores, None)
}

/// [`robust_normalize`], reading the center and scale from `dense` when the member keeps only
/// its peaks and gives the dense score they are peaks of ([`Scores::dense`]): the center is
/// its median and the scale is read from its upper tail, as for a sparse member
/// ([`sparse_scale`]), once its largest hump is left out ([`ordinary_part`]). Such a score is
/// a magnitude (`level`'s change, in standard errors), one-sided and skewed, and its MAD would
/// read its ordinary tail as far out: a half-normal score's peak of 1 in 10,000 gets z 5.4
/// from the MAD and 4.2 from the 90th percentile (3.7 is a normal score's). Without this, the
/// few peaks among many zeros set the scale instead. Measured on 2,000 series of 1,000 points
/// and 200 of 300 (`bench/fleet_data.py N P F 75.398`: a swing of 75.4 points, which `level`
/// reads as a period of 75 or 64 and partly leaks into its change), the default preset raised
/// 1,250 and 59 false events with the sparse scale, 96 and 14 with this one (45 and 1 with the
/// hump left in, 50 at 300 points with the dense MAD).
///
/// The scale never falls below [`DENSE_SCALE_FLOOR`] standard errors.
fn normalize_against(scores: &[f64], dense: Option<&[f64]>) -> (Vec<f64>, f64, f64) {
    let center_scale = match dense {
        None => member_center_scale(scores),
        Some(dense) => {
            let mut sorted = ordinary_part(dense);
            let center = tsad_core::stats::median_in_place(&mut sorted);
            sorted.sort_by(f64::total_cmp);
            center
                .and_then(|center| {
                    sparse_scale(center, |q| sorted[order_place(sorted.len(), q)])
                        .map(|scale| (center, scale))
                })
                // Tied up to its 99.99th percentile: as for any member.
                .or_else(|| member_center_scale(dense))
                .map(|(center, scale)| (center, scale.max(DENSE_SCALE_FLOOR)))
        }
    };
    let Some((center, scale)) = center_scale else {
        return (vec![f64::NAN; scores.len()], f64::NAN, f64::NAN);
    };
    let z = scores
        .iter()
        .map(|&s| normalize_one(s, center, scale))
        .collect();
    (z, center, scale)
}

/// The least scale a dense score ([`Scores::dense`], in standard errors of its member's noise
/// model) is read with: half a standard error. Noise alone gives a change whose scale, read
/// from the same upper tail, is 0.76 (a half-normal's); the ordinary part of a dense score
/// varies much less than that only where the series holds too few windows to show its
/// variation. On 300 points of a swing of 75.4 (`bench/fleet_data.py 200 300 F 75.398`),
/// `level` reads a period of 75, compares two windows of 75 points, and the integer period's
/// drift between the first and last cycles makes one hump of most of its change: what was
/// left of it read as a scale of a fraction of a standard error, and that hump as a change of
/// rarity 5 to 21 in 13 of 200 series. Measured with the default preset, floor 0 / 0.3 / 0.5 /
/// 0.76: that fleet 14 / 10 / 2 / 0 false events, 2,000 series of 1,000 points of the same
/// swing 96 / 89 / 47 / 30 (every spike found throughout); at 0.5 NAB's 58 files in batch
/// 134 -> 132 false events for the same 53 windows, SMAP 0.633 -> 0.627 (one sequence of
/// E-11 lost with a false event), `bench/families.py`, the demo at 10,000 to 1,000,000 points
/// and 10,000 daily series (229 false events) unchanged; at 0.76 a stuck sawtooth of
/// `bench/families.py` was lost.
const DENSE_SCALE_FLOOR: f64 = 0.5;

/// The finite values of a dense score less its largest hump: the run of values above the
/// 75th percentile around the highest one. That hump is the candidate anomaly (a level shift
/// raises `level`'s change on a window of points each side of it), and on a short series it is
/// a large share of the points: left in, it set the scale it was measured by. On 300 points
/// of a daily cycle (noise 1.5) whose level rises by 8 for the last quarter, the default preset
/// found the shift in 1 of 6 seeds with the hump left in, 6 of 6 without it (as with the
/// sparse scale before). Above the 75th percentile, so that the hump of an ordinary swing is
/// not most of the series.
fn ordinary_part(dense: &[f64]) -> Vec<f64> {
    let finite = tsad_core::stats::finite(dense);
    let (Some(floor), Some(top)) = (
        tsad_core::stats::quantile(&finite, 0.75),
        (0..dense.len())
            .filter(|&i| dense[i].is_finite())
            .max_by(|&a, &b| dense[a].total_cmp(&dense[b])),
    ) else {
        return finite;
    };
    let above = |i: usize| dense[i] > floor;
    let mut start = top;
    while start > 0 && above(start - 1) {
        start -= 1;
    }
    let mut end = top + 1;
    while end < dense.len() && above(end) {
        end += 1;
    }
    dense[..start]
        .iter()
        .chain(&dense[end..])
        .copied()
        .filter(|v| v.is_finite())
        .collect()
}

/// `(s - center) / scale`, and 0 for a score tied with the center, or within rounding of it
/// ([`ties`]): where a member's scores sit on a plateau, a last-bit difference
/// divided by a small scale would otherwise come out as a score of its own (on SMAP's A-1,
/// `hybrid-benford` flagged the autoencoder's last points at 2e-6 above a plateau at 0).
fn normalize_one(s: f64, center: f64, scale: f64) -> f64 {
    if !s.is_finite() {
        f64::NAN
    } else if ties(s, center) {
        0.0
    } else if scale > 0.0 {
        ((s - center) / scale).clamp(-f64::MAX, f64::MAX)
    } else {
        // Every earlier score equal: the first different one is far out, but not infinite.
        ((s - center) / crate::common::tiny_scale(center)).clamp(-f64::MAX, f64::MAX)
    }
}

/// Combines one point's normalised member scores.
fn combine(policy: Policy, k: Option<usize>, weights: &[f64], z: &[f64]) -> f64 {
    match policy {
        Policy::All => {
            if z.iter().any(|v| v.is_nan()) {
                f64::NAN
            } else {
                z.iter().copied().fold(f64::INFINITY, f64::min)
            }
        }
        Policy::Any => z
            .iter()
            .copied()
            .filter(|v| !v.is_nan())
            .reduce(f64::max)
            .unwrap_or(f64::NAN),
        Policy::KOfN => {
            let k = k.unwrap_or(1);
            let mut defined: Vec<f64> = z.iter().copied().filter(|v| !v.is_nan()).collect();
            if defined.len() < k {
                return f64::NAN;
            }
            defined.sort_by(|a, b| b.total_cmp(a));
            defined[k - 1]
        }
        Policy::Weighted => {
            let (mut sum, mut wsum) = (0.0, 0.0);
            for (v, w) in z.iter().zip(weights) {
                if !v.is_nan() && *w > 0.0 {
                    sum += w * v;
                    wsum += w;
                }
            }
            if wsum > 0.0 { sum / wsum } else { f64::NAN }
        }
    }
}

#[derive(Debug)]
struct FittedMember {
    name: String,
    kind: String,
    model: Box<dyn Model>,
}

/// A fitted [`EnsembleDetector`]: each member's fitted model and the combination rule.
#[derive(Debug)]
pub struct EnsembleModel {
    params: EnsembleParams,
    weights: Vec<f64>,
    members: Vec<FittedMember>,
}

/// A saved member, inside the ensemble's state config.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedMember {
    name: String,
    kind: String,
    version: u32,
    config: serde_json::Value,
    /// Length of this member's bytes within the ensemble state's bytes, in member order.
    bytes_len: usize,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedEnsemble {
    params: EnsembleParams,
    weights: Vec<f64>,
    members: Vec<SavedMember>,
}

impl EnsembleDetector {
    /// The largest of `f` over the members (1 without members).
    fn largest(&self, f: impl Fn(&dyn Detector) -> usize) -> usize {
        self.members
            .iter()
            .map(|m| f(m.detector.as_ref()))
            .max()
            .unwrap_or(1)
    }
}

impl Detector for EnsembleDetector {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn min_len(&self) -> usize {
        self.largest(|d| d.min_len())
    }

    fn warm_up(&self) -> usize {
        self.largest(|d| d.warm_up())
    }

    fn fit(&self, train: &Series, ctx: &FitContext) -> Result<Box<dyn Model>, Error> {
        crate::common::begin_fit(train, self.min_len(), ctx)?;
        let n = self.members.len() as f64;
        let mut members = Vec::with_capacity(self.members.len());
        for (i, m) in self.members.iter().enumerate() {
            ctx.check_cancelled()?;
            let child = ctx.scoped(&m.name, i as f64 / n, 1.0 / n);
            let model = m.detector.fit(train, &child)?;
            ctx.report(&Progress {
                stage: KIND.into(),
                fraction: (i + 1) as f64 / n,
                ..Progress::default()
            });
            members.push(FittedMember {
                name: m.name.clone(),
                kind: m.detector.kind().to_owned(),
                model,
            });
        }
        Ok(Box::new(EnsembleModel {
            params: self.params.clone(),
            weights: self.weights.clone(),
            members,
        }))
    }

    fn online(&self) -> Option<Box<dyn OnlineModel>> {
        let streams: Vec<Option<Box<dyn OnlineModel>>> =
            self.members.iter().map(|m| m.detector.online()).collect();
        if streams.iter().all(Option::is_none) {
            return None;
        }
        // A batch-only member (it needs the points after each one) abstains in the stream.
        let members: Vec<_> = streams
            .into_iter()
            .map(|o| {
                (
                    o.unwrap_or_else(|| Box::new(Abstains)),
                    SortedWindow::new(ONLINE_NORMALIZER_WINDOW),
                )
            })
            .collect();
        Some(Box::new(EnsembleOnline {
            policy: self.params.policy,
            k: self.params.k,
            weights: self.weights.clone(),
            z: vec![f64::NAN; members.len()],
            row: Vec::with_capacity(members.len()),
            row_weights: Vec::with_capacity(members.len()),
            members,
        }))
    }

    fn load(&self, state: &ModelState) -> Result<Box<dyn Model>, Error> {
        let saved: SavedEnsemble = crate::common::parse_state(KIND, state)?;
        let load_err = |reason: String| Error::Load { reason };
        if saved.members.len() != self.members.len() {
            return Err(load_err(format!(
                "the saved ensemble has {} members, this one {}",
                saved.members.len(),
                self.members.len()
            )));
        }
        let total = saved
            .members
            .iter()
            .try_fold(0usize, |acc, m| acc.checked_add(m.bytes_len));
        if total != Some(state.bytes.len()) {
            return Err(load_err(format!(
                "member byte lengths add up to {total:?}, the state holds {}",
                state.bytes.len()
            )));
        }
        let mut offset = 0;
        let mut members = Vec::with_capacity(saved.members.len());
        for s in saved.members {
            let bytes = state.bytes[offset..offset + s.bytes_len].to_vec();
            offset += s.bytes_len;
            let member = self
                .members
                .iter()
                .find(|m| m.name == s.name)
                .ok_or_else(|| {
                    load_err(format!("no member named `{}` in this ensemble", s.name))
                })?;
            let model = member.detector.load(&ModelState {
                kind: s.kind.clone(),
                version: s.version,
                config: s.config,
                bytes,
            })?;
            members.push(FittedMember {
                name: s.name,
                kind: s.kind,
                model,
            });
        }
        if saved.weights.len() != members.len() {
            return Err(load_err("one weight per member expected".into()));
        }
        Ok(Box::new(EnsembleModel {
            params: saved.params,
            weights: saved.weights,
            members,
        }))
    }
}

impl Model for EnsembleModel {
    fn score(&self, series: &Series) -> Result<Scores, Error> {
        self.score_with(series, &FitContext::new())
    }

    fn score_with(&self, series: &Series, ctx: &FitContext) -> Result<Scores, Error> {
        let n = series.len();
        let mut outputs = Vec::with_capacity(self.members.len());
        for m in &self.members {
            ctx.check_cancelled()?;
            let s = m.model.score_with(series, ctx)?;
            if s.score.len() != n {
                return Err(Error::invalid_series(format!(
                    "member `{}` returned {} scores for {n} points",
                    m.name,
                    s.score.len()
                )));
            }
            outputs.push(s);
        }
        // A member that keeps only its peaks is normalised against its dense score.
        let normalized: Vec<(Vec<f64>, f64, f64)> = outputs
            .iter()
            .map(|s| normalize_against(&s.score, s.dense.as_deref()))
            .collect();
        // A member with no defined score anywhere has abstained (e.g. Benford on data spanning
        // too few orders of magnitude): it leaves the vote instead of vetoing every point.
        let voters: Vec<usize> = (0..outputs.len())
            .filter(|&j| outputs[j].score.iter().any(|v| !v.is_nan()))
            .collect();
        let abstained: Vec<&str> = (0..outputs.len())
            .filter(|j| !voters.contains(j))
            .map(|j| self.members[j].name.as_str())
            .collect();
        let weights: Vec<f64> = voters.iter().map(|&j| self.weights[j]).collect();
        let k = self.params.k.map(|k| k.min(voters.len().max(1)));
        let mut row = vec![0.0; voters.len()];
        let score = (0..n)
            .map(|i| {
                if voters.is_empty() {
                    return f64::NAN;
                }
                for (r, &j) in row.iter_mut().zip(&voters) {
                    *r = normalized[j].0[i];
                }
                combine(self.params.policy, k, &weights, &row)
            })
            .collect();
        let lead = |i: usize| leader(&voters, &normalized, i);
        let expected = outputs
            .iter()
            .position(|s| s.expected.is_some())
            .map(|first| {
                (0..n)
                    .map(|i| {
                        let from = lead(i).unwrap_or(first);
                        outputs[from].expected.as_ref().map_or(f64::NAN, |e| e[i])
                    })
                    .collect()
            });
        let band = outputs.iter().position(|s| s.band.is_some()).map(|first| {
            (0..n)
                .map(|i| {
                    let from = lead(i).unwrap_or(first);
                    outputs[from]
                        .band
                        .as_ref()
                        .map_or((f64::NAN, f64::NAN), |(l, u)| (l[i], u[i]))
                })
                .unzip()
        });
        let report = json!({
            "policy": self.params.policy,
            "k": self.params.k,
            "abstained": abstained,
            "weights": self.weights,
            "members": self.members.iter().zip(&outputs).zip(&normalized).map(|((m, s), (_, c, sc))| json!({
                "name": m.name,
                "kind": m.kind,
                "center": c,
                "scale": sc,
                "report": s.report,
            })).collect::<Vec<_>>(),
        });
        let members = self
            .members
            .iter()
            .zip(outputs)
            .zip(normalized)
            .map(|((m, s), (z, _, _))| MemberScores {
                name: m.name.clone(),
                kind: m.kind.clone(),
                normalized: z,
                raw: s.score,
            })
            .collect();
        Ok(Scores {
            score,
            rarity: None,
            dense: None,
            expected,
            band,
            members,
            report,
        })
    }

    fn save(&self) -> Result<ModelState, Error> {
        let mut bytes = Vec::new();
        let mut members = Vec::with_capacity(self.members.len());
        for m in &self.members {
            let state = m.model.save()?;
            members.push(SavedMember {
                name: m.name.clone(),
                kind: state.kind,
                version: state.version,
                config: state.config,
                bytes_len: state.bytes.len(),
            });
            bytes.extend_from_slice(&state.bytes);
        }
        let saved = SavedEnsemble {
            params: self.params.clone(),
            weights: self.weights.clone(),
            members,
        };
        Ok(ModelState {
            kind: KIND.into(),
            version: STATE_VERSION,
            config: serde_json::to_value(saved).map_err(Error::backend)?,
            bytes,
        })
    }
}

/// The streaming stand-in for a member without a streaming form: no opinion on any point.
#[derive(Debug)]
struct Abstains;

impl OnlineModel for Abstains {
    fn update(&mut self, _timestamp: i64, _value: f64) -> f64 {
        f64::NAN
    }
}

#[derive(Debug)]
struct EnsembleOnline {
    policy: Policy,
    k: Option<usize>,
    weights: Vec<f64>,
    members: Vec<(Box<dyn OnlineModel>, SortedWindow)>,
    z: Vec<f64>,
    /// The voters' normalised scores and weights at the current point (reused buffers).
    row: Vec<f64>,
    row_weights: Vec<f64>,
}

impl OnlineModel for EnsembleOnline {
    fn update(&mut self, timestamp: i64, value: f64) -> f64 {
        for ((model, past), z) in self.members.iter_mut().zip(self.z.iter_mut()) {
            let s = model.update(timestamp, value);
            *z = if past.len() >= ONLINE_NORMALIZER_WARMUP {
                let med = past.median();
                let mad = past.mad(med);
                let scale = if mad > 0.0 {
                    mad * tsad_core::stats::MAD_TO_SIGMA
                } else {
                    sparse_scale(med, |q| past.order_statistic(q))
                        .unwrap_or_else(|| past.mean_abs_dev(med) * MEAN_AD_TO_SIGMA)
                };
                normalize_one(s, med, scale)
            } else {
                f64::NAN
            };
            if s.is_finite() {
                past.push(s);
            }
        }
        // The batch rule for abstaining members, applied to the past: a member that has not
        // scored any point yet (Benford's test while the values seen span too little, a
        // model still collecting its warm-up) leaves the vote.
        self.row.clear();
        self.row_weights.clear();
        for (((_, past), &z), &w) in self.members.iter().zip(&self.z).zip(&self.weights) {
            if past.len() > 0 {
                self.row.push(z);
                self.row_weights.push(w);
            }
        }
        if self.row.is_empty() {
            return f64::NAN;
        }
        let k = self.k.map(|k| k.min(self.row.len()));
        combine(self.policy, k, &self.row_weights, &self.row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        MadDetector, MadParams, SeasonalDetector, SeasonalParams, ZscoreDetector, ZscoreParams,
    };
    use std::sync::{Arc, Mutex};
    use tsad_core::{CancelFlag, EventOptions, Threshold, events};
    use tsad_testing::{
        ConformanceOptions, assert_close, conformance_with, seasonal_with_anomalies,
    };

    fn zscore() -> Box<dyn Detector> {
        Box::new(ZscoreDetector::new(ZscoreParams::default()).unwrap())
    }
    fn mad() -> Box<dyn Detector> {
        Box::new(MadDetector::new(MadParams::default()).unwrap())
    }
    fn seasonal() -> Box<dyn Detector> {
        Box::new(SeasonalDetector::new(SeasonalParams::default()).unwrap())
    }

    fn ensemble(policy: Policy, k: Option<usize>) -> EnsembleDetector {
        EnsembleDetector::new(
            vec![
                EnsembleMember::new("z", zscore()),
                EnsembleMember {
                    weight: 3.0,
                    ..EnsembleMember::new("m", mad())
                },
            ],
            EnsembleParams { policy, k },
        )
        .unwrap()
    }

    /// A detector without a streaming form, to check that the ensemble then has none either.
    #[derive(Debug)]
    struct BatchOnly(ZscoreDetector);

    impl Detector for BatchOnly {
        fn kind(&self) -> &'static str {
            "batch_only"
        }
        fn min_len(&self) -> usize {
            self.0.min_len()
        }
        fn fit(&self, train: &Series, ctx: &FitContext) -> Result<Box<dyn Model>, Error> {
            self.0.fit(train, ctx)
        }
    }

    #[test]
    fn an_anomalous_points_expected_value_is_the_member_that_raised_it() {
        // Noise around 10, then a 15-point plateau at 30: seasonal (no period in noise) takes
        // a centred rolling median, which sits on the plateau (expected = actual); mad's
        // trailing median stays at the old level and is the member that flags the plateau.
        let mut rng = tsad_testing::Rng::new(7);
        let values: Vec<f64> = (0..600)
            .map(|i| {
                if (400..415).contains(&i) {
                    30.0
                } else {
                    10.0 + rng.normal()
                }
            })
            .collect();
        let series = Series::from_values(values).unwrap();
        let ctx = FitContext::new();
        let alone = |d: Box<dyn Detector>| d.fit(&series, &ctx).unwrap().score(&series).unwrap();
        let (seasonal_alone, mad_alone) = (alone(seasonal()), alone(mad()));
        let both = EnsembleDetector::new(
            vec![
                EnsembleMember::new("seasonal", seasonal()),
                EnsembleMember::new("mad", mad()),
            ],
            EnsembleParams {
                policy: Policy::Any,
                k: None,
            },
        )
        .unwrap();
        let scores = both.fit(&series, &ctx).unwrap().score(&series).unwrap();
        let expected = scores.expected.as_ref().unwrap();
        let at = |s: &Scores, i: usize| s.expected.as_ref().unwrap()[i];
        // The plateau's first point: mad leads, so its expected value (the old level) is used.
        assert!(scores.members[1].normalized[400] > LEAD_Z);
        assert_eq!(expected[400], at(&mad_alone, 400));
        assert!((expected[400] - 10.0).abs() < 2.0, "{}", expected[400]);
        assert!(
            (at(&seasonal_alone, 407) - 30.0).abs() < 1e-9,
            "seasonal sits on the plateau"
        );
        // An ordinary point keeps the first member's expected value and band.
        assert_eq!(expected[200], at(&seasonal_alone, 200));
        let (lo, hi) = scores.band.as_ref().unwrap();
        let (slo, shi) = seasonal_alone.band.as_ref().unwrap();
        assert_eq!((lo[200], hi[200]), (slo[200], shi[200]));
    }

    #[test]
    fn policy_names() {
        for (p, name) in [
            (Policy::All, "all"),
            (Policy::Any, "any"),
            (Policy::KOfN, "k_of_n"),
            (Policy::Weighted, "weighted"),
        ] {
            assert_eq!(serde_json::to_value(p).unwrap(), name);
            assert_eq!(p.as_str(), name);
            let back: Policy = serde_json::from_value(json!(name)).unwrap();
            assert_eq!(back, p);
        }
        let params: EnsembleParams =
            serde_json::from_str(r#"{"policy": "k_of_n", "k": 2}"#).unwrap();
        assert_eq!(params.k, Some(2));
        assert!(serde_json::from_str::<EnsembleParams>(r#"{"policy": "and"}"#).is_err());
        assert!(serde_json::from_str::<EnsembleParams>(r#"{"members": []}"#).is_err());
    }

    #[test]
    fn validation_table() {
        type Case = (
            &'static str,
            Vec<(&'static str, f64)>,
            Policy,
            Option<usize>,
            Option<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "two members",
                vec![("a", 1.0), ("b", 1.0)],
                Policy::All,
                None,
                None,
            ),
            (
                "k of n",
                vec![("a", 1.0), ("b", 1.0)],
                Policy::KOfN,
                Some(2),
                None,
            ),
            (
                "zero weight is fine",
                vec![("a", 0.0), ("b", 1.0)],
                Policy::Weighted,
                None,
                None,
            ),
            ("no members", vec![], Policy::Any, None, Some("`members`")),
            (
                "duplicate names",
                vec![("a", 1.0), ("a", 1.0)],
                Policy::Any,
                None,
                Some("used twice"),
            ),
            (
                "empty name",
                vec![(" ", 1.0)],
                Policy::Any,
                None,
                Some("empty name"),
            ),
            (
                "negative weight",
                vec![("a", -1.0)],
                Policy::Any,
                None,
                Some("`weight`"),
            ),
            (
                "all weights zero",
                vec![("a", 0.0)],
                Policy::Weighted,
                None,
                Some("not all be 0"),
            ),
            (
                "k missing",
                vec![("a", 1.0)],
                Policy::KOfN,
                None,
                Some("is required with policy `k_of_n`"),
            ),
            (
                "k too large",
                vec![("a", 1.0)],
                Policy::KOfN,
                Some(2),
                Some("between 1 and"),
            ),
            (
                "k zero",
                vec![("a", 1.0)],
                Policy::KOfN,
                Some(0),
                Some("between 1 and"),
            ),
            (
                "k without k_of_n",
                vec![("a", 1.0)],
                Policy::All,
                Some(1),
                Some("only used with"),
            ),
            (
                "several problems",
                vec![("a", f64::NAN), ("a", 1.0)],
                Policy::KOfN,
                None,
                Some("`weight, members, k`"),
            ),
        ];
        for (name, members, policy, k, want) in cases {
            let members = members
                .into_iter()
                .map(|(n, w)| EnsembleMember {
                    weight: w,
                    ..EnsembleMember::new(n, zscore())
                })
                .collect();
            match (
                EnsembleDetector::new(members, EnsembleParams { policy, k }),
                want,
            ) {
                (Ok(_), None) => {}
                (Err(e), Some(w)) => assert!(e.to_string().contains(w), "{name}: {e}"),
                (Ok(_), Some(w)) => panic!("{name}: accepted, want an error with {w}"),
                (Err(e), None) => panic!("{name}: {e}"),
            }
        }
    }

    #[test]
    fn combination_table() {
        let nan = f64::NAN;
        let w = [0.25, 0.75, 0.0];
        type Case = (&'static str, Policy, Option<usize>, [f64; 3], f64);
        let cases: &[Case] = &[
            (
                "all is the minimum",
                Policy::All,
                None,
                [1.0, 5.0, 3.0],
                1.0,
            ),
            (
                "all with a NaN member is NaN",
                Policy::All,
                None,
                [1.0, nan, 3.0],
                nan,
            ),
            (
                "any is the maximum",
                Policy::Any,
                None,
                [1.0, 5.0, 3.0],
                5.0,
            ),
            ("any ignores NaN", Policy::Any, None, [1.0, nan, 3.0], 3.0),
            (
                "any of nothing is NaN",
                Policy::Any,
                None,
                [nan, nan, nan],
                nan,
            ),
            ("2 of 3", Policy::KOfN, Some(2), [1.0, 5.0, 3.0], 3.0),
            (
                "2 of 3 with one NaN",
                Policy::KOfN,
                Some(2),
                [1.0, nan, 3.0],
                1.0,
            ),
            (
                "2 of 3 with two NaN",
                Policy::KOfN,
                Some(2),
                [nan, nan, 3.0],
                nan,
            ),
            (
                "weighted mean",
                Policy::Weighted,
                None,
                [1.0, 5.0, 100.0],
                4.0,
            ),
            (
                "weighted re-scales over defined members",
                Policy::Weighted,
                None,
                [2.0, nan, 1.0],
                2.0,
            ),
        ];
        for (name, policy, k, z, want) in cases {
            assert_close(&combine(*policy, *k, &w, z), want, 1e-12);
            let _ = name;
        }
    }

    #[test]
    fn known_answer_normalisation() {
        // median 3, MAD 1, scale 1.4826022185056018.
        let (z, c, s) = robust_normalize(&[1.0, 2.0, 3.0, 4.0, 100.0, f64::NAN]);
        assert_eq!((c, s), (3.0, 1.482_602_218_505_602));
        assert_close(
            &z,
            &[
                -1.348_979_500_392,
                -0.674_489_750_196,
                0.0,
                0.674_489_750_196,
                65.425_505_769_02,
                f64::NAN,
            ],
            1e-9,
        );
        // All equal: zeros. Zero MAD: mean absolute deviation 0.4 * 1.2533.
        assert_eq!(robust_normalize(&[2.0; 4]).0, vec![0.0; 4]);
        let (_, _, s) = robust_normalize(&[0.0, 0.0, 0.0, 0.0, 2.0]);
        assert_close(&s, &(0.4 * MEAN_AD_TO_SIGMA), 1e-12);
    }

    #[test]
    fn scores_within_rounding_of_the_center_normalise_to_zero() {
        // A plateau of 1.06: 4,000 equal scores, 4 a few last bits above (summed in another
        // order), and 1 clearly above; the scale is tiny, as on a plateau.
        let plateau: f64 = 1.062_826_15;
        let mut scores = vec![plateau; 4_000];
        let mut last_bits = plateau;
        for _ in 0..4 {
            last_bits = last_bits.next_up();
            scores.push(last_bits);
        }
        scores.push(plateau * (1.0 + 1e-9));
        let (z, c, s) = robust_normalize(&scores);
        assert_eq!(c, plateau);
        assert!(s > 0.0 && s < 1e-6, "{s}");
        assert!(z[..4_004].iter().all(|&v| v == 0.0));
        assert!(z[4_004] > 0.0);
    }

    #[test]
    fn a_sparse_members_scale_comes_from_its_upper_tail() {
        // 980 zeros and alarms 1..=20: the MAD and the 90th percentile are 0, the 99th
        // percentile (place floor(0.99 * 999) = 989) is the alarm 10.
        let mut scores = vec![0.0; 980];
        scores.extend((1..=20).map(f64::from));
        let (z, c, s) = robust_normalize(&scores);
        assert_eq!(c, 0.0);
        assert_close(&s, &(10.0 / 2.326_347_874_041), 1e-12);
        // The 99th percentile scores as it would for a normal member, the strongest alarm
        // twice that, instead of the mean absolute deviation's 20 / (210 / 1000 * 1.2533).
        assert_close(&z[989], &2.326_347_874_041, 1e-9);
        assert_close(&z[999], &4.652_695_748_082, 1e-9);
        // Streaming reads the same tail from its past (a window of 500 here).
        let mut past = SortedWindow::new(ONLINE_NORMALIZER_WINDOW);
        scores[500..].iter().for_each(|&x| past.push(x));
        let scale = sparse_scale(0.0, |q| past.order_statistic(q)).unwrap();
        // 480 zeros and 1..=20: the 99th percentile is at place floor(0.99 * 499) = 494.
        assert_close(&scale, &(15.0 / 2.326_347_874_041), 1e-12);
    }

    #[test]
    fn all_flags_a_subset_of_any_and_shares_sum_to_one() {
        let (series, _) = seasonal_with_anomalies(3000, 48, 10, 4);
        let build = |policy| {
            EnsembleDetector::new(
                vec![
                    EnsembleMember::new("mad", mad()),
                    EnsembleMember::new("seasonal", seasonal()),
                ],
                EnsembleParams { policy, k: None },
            )
            .unwrap()
            .fit(&series, &FitContext::new())
            .unwrap()
            .score(&series)
            .unwrap()
        };
        let all = build(Policy::All);
        let any = build(Policy::Any);
        // At one cut-off, every point `all` flags is flagged by `any` (min <= max).
        let cut = Threshold::Sigma { k: 3.0 }.cutoff(&any.score).unwrap();
        for i in 0..series.len() {
            if all.score[i] > cut {
                assert!(any.score[i] > cut, "point {i}");
            }
        }
        // (A cut-off computed separately from each policy's own scores does not guarantee
        // this: on this very series the sigma rule flags point 175 under `all` but not under
        // `any`.)
        let cut_all = Threshold::Sigma { k: 3.0 }.apply(&all.score).unwrap();
        let cut_any = Threshold::Sigma { k: 3.0 }.apply(&any.score).unwrap();
        assert!(cut_all.count() > 0 && cut_any.count() > 0);
        for (scores, cut) in [(&all, &cut_all), (&any, &cut_any)] {
            let found = events(&series, scores, cut, &EventOptions::default());
            assert!(!found.is_empty());
            for e in found {
                assert_eq!(e.members.len(), 2);
                let total: f64 = e.members.iter().map(|m| m.share).sum();
                assert!((total - 1.0).abs() < 1e-9, "{:?}", e.members);
            }
        }
        assert_eq!(any.members[1].raw.len(), series.len());
        assert_eq!(any.report["policy"], "any");
        assert_eq!(any.report["members"][1]["report"]["period"], 48);
    }

    #[test]
    fn progress_is_monotone_and_cancel_stops() {
        let seen = Arc::new(Mutex::new(Vec::<(String, f64)>::new()));
        let sink = seen.clone();
        let ctx = FitContext::new().with_progress(Arc::new(move |p: &Progress| {
            sink.lock().unwrap().push((p.stage.clone(), p.fraction));
        }));
        let (series, _) = tsad_testing::sine_with_spike(500, 1);
        ensemble(Policy::Any, None).fit(&series, &ctx).unwrap();
        let seen = seen.lock().unwrap();
        let fractions: Vec<f64> = seen.iter().map(|s| s.1).collect();
        assert!(fractions.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
        assert_eq!(fractions.last(), Some(&1.0));
        assert!(seen.iter().any(|(stage, _)| stage == "z/fit"), "{seen:?}");

        let cancel = CancelFlag::new();
        cancel.cancel();
        let err = ensemble(Policy::Any, None)
            .fit(&series, &FitContext::new().with_cancel(cancel))
            .unwrap_err();
        assert!(matches!(err, Error::Cancelled));
    }

    /// Issue 12, item 3: a cancelled run stops between members while scoring, and the
    /// members' own cancel-aware scoring (seasonal, LSTM) gets the same context.
    #[test]
    fn scoring_stops_when_cancelled() {
        tsad_testing::assert_scoring_stops_when_cancelled(&ensemble(Policy::Any, None));
        tsad_testing::assert_scoring_stops_when_cancelled(seasonal().as_ref());
    }

    #[test]
    fn load_checks_the_members() {
        let (series, _) = tsad_testing::sine_with_spike(500, 1);
        let state = ensemble(Policy::All, None)
            .fit(&series, &FitContext::new())
            .unwrap()
            .save()
            .unwrap();
        let other = EnsembleDetector::new(
            vec![EnsembleMember::new("z", zscore())],
            EnsembleParams::default(),
        )
        .unwrap();
        assert!(matches!(other.load(&state), Err(Error::Load { .. })));
        let renamed = EnsembleDetector::new(
            vec![
                EnsembleMember::new("z", zscore()),
                EnsembleMember::new("x", mad()),
            ],
            EnsembleParams::default(),
        )
        .unwrap();
        let err = renamed.load(&state).unwrap_err().to_string();
        assert!(err.contains("no member named `m`"), "{err}");
    }

    /// Streaming, a member that has not scored yet leaves the vote, as an abstaining member
    /// does in batch: `all` of zscore and a Benford test that never applies (the series spans
    /// less than an order of magnitude) streams exactly as zscore alone.
    #[test]
    fn streaming_all_ignores_a_member_that_has_not_scored() {
        let (series, _) = seasonal_with_anomalies(800, 24, 5, 11);
        let stream = |members: Vec<EnsembleMember>| -> Vec<f64> {
            let params = EnsembleParams {
                policy: Policy::All,
                k: None,
            };
            let mut online = EnsembleDetector::new(members, params)
                .unwrap()
                .online()
                .unwrap();
            online.update_all(series.timestamps(), series.values())
        };
        let benford = || -> Box<dyn Detector> {
            Box::new(crate::BenfordDetector::new(crate::BenfordParams::default()).unwrap())
        };
        let pair = stream(vec![
            EnsembleMember::new("z", zscore()),
            EnsembleMember::new("benford", benford()),
        ]);
        let alone = stream(vec![EnsembleMember::new("z", zscore())]);
        assert!(alone.iter().filter(|s| s.is_finite()).count() > 700);
        tsad_testing::assert_bits_eq(&pair, &alone, "all(zscore, silent benford) vs zscore");
    }

    #[test]
    fn a_batch_only_member_abstains_in_the_stream() {
        let (series, _) = seasonal_with_anomalies(800, 24, 5, 11);
        let batch_only = || -> Box<dyn Detector> {
            Box::new(BatchOnly(
                ZscoreDetector::new(ZscoreParams::default()).unwrap(),
            ))
        };
        let stream = |members: Vec<EnsembleMember>| {
            EnsembleDetector::new(members, EnsembleParams::default())
                .unwrap()
                .online()
                .map(|mut o| o.update_all(series.timestamps(), series.values()))
        };
        let partial = stream(vec![
            EnsembleMember::new("z", zscore()),
            EnsembleMember::new("b", batch_only()),
        ])
        .expect("one streaming member is enough to stream");
        let alone = stream(vec![EnsembleMember::new("z", zscore())]).unwrap();
        assert!(alone.iter().filter(|s| s.is_finite()).count() > 700);
        tsad_testing::assert_bits_eq(&partial, &alone, "all(zscore, batch-only) vs zscore");
        assert!(
            stream(vec![EnsembleMember::new("b", batch_only())]).is_none(),
            "no member streams, so neither does the ensemble"
        );
    }

    #[test]
    fn conforms() {
        let options = ConformanceOptions {
            // Members warm up for 48 points, then the streaming normaliser for 10 scores.
            warmup: Some(49 + ONLINE_NORMALIZER_WARMUP),
            ..ConformanceOptions::default()
        };
        for (name, policy, k) in [
            ("ensemble all", Policy::All, None),
            ("ensemble any", Policy::Any, None),
            ("ensemble 2 of 2", Policy::KOfN, Some(2)),
            ("ensemble weighted", Policy::Weighted, None),
        ] {
            conformance_with(name, &|| Box::new(ensemble(policy, k)), &options);
        }
    }
}
