//! Evidence about one event, computed from the series, the scores and the ingest diagnostics:
//! the facts every explanation and chat answer rests on.

use crate::ExplainError;
use serde::{Deserialize, Serialize};
use tsad_core::stats::{MAD_TO_SIGMA, mean_std, median, median_mad};
use tsad_core::{Direction, Event, Scores, Series, TimeAxis};
use tsad_io::Diagnostics;

/// Earlier windows compared with the event's shape, times the window length, at most: keeps
/// the similarity search O(n·w) and bounded on long series (candidates are strided beyond it).
const SIMILARITY_BUDGET: usize = 4_000_000;
/// Longest window whose shape is compared.
const MAX_SHAPE_WINDOW: usize = 256;
/// Shortest window whose shape is compared: shorter ones match noise too easily (the best of
/// n random windows of 9 points correlates at about 0.9 with anything).
const MIN_SHAPE_WINDOW: usize = 32;
/// Points before and after the event the noise is compared over, at least (the level's window
/// when longer): a spread from fewer steps varies too much to compare.
pub const NOISE_WINDOW: usize = 96;
/// Longest window before and after the event used for the level comparison.
const MAX_CONTEXT_WINDOW: usize = 1000;
/// Earlier seasons whose same-phase values make the "typical at this phase" median.
const SEASONS_BACK: usize = 8;
const DAY_MS: i64 = 86_400_000;

/// Everything the explanation of one event rests on. Serialisable; times are in the series'
/// time unit ([`TimeAxis`]: Unix milliseconds or row numbers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// What the times mean.
    pub time_axis: TimeAxis,
    /// Time of the first flagged point.
    pub start_time: i64,
    /// Time of the last flagged point.
    pub end_time: i64,
    /// Time of the highest score.
    pub peak_time: i64,
    /// Index of the first flagged point.
    pub start_index: usize,
    /// Index of the last flagged point.
    pub end_index: usize,
    /// Index of the highest score.
    pub peak_index: usize,
    /// Points from start to end, inclusive.
    pub points: usize,
    /// Flagged points among them.
    pub flagged: usize,
    /// From the start to one median step past the end, on a time axis.
    pub duration_ms: Option<i64>,
    /// Up or down at the peak: the event's direction, or (when the detector has no expected
    /// value) the sign of the deviation from the baseline.
    pub direction: Direction,
    /// The peak: actual, expected, deviation in robust standard deviations, score.
    pub peak: Peak,
    /// How the peak's score ranks among all scores.
    pub rank: Option<Rank>,
    /// Which detectors flagged it, with each one's share.
    pub detectors: Vec<DetectorShare>,
    /// The same phase in earlier seasons.
    pub seasons: Seasons,
    /// The level before versus after: a level shift or a transient.
    pub level: Level,
    /// The noise before versus after: a change of spread.
    #[serde(default)]
    pub noise: Noise,
    /// The most similar earlier stretches of the series (shape only, z-normalised).
    pub similar: Vec<SimilarEpisode>,
    /// Missing values, gaps and duplicates near the event.
    pub data_quality: DataQuality,
}

/// The event's peak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peak {
    /// The value at the peak (`None` when missing).
    pub actual: Option<f64>,
    /// The model's expected value at the peak, if the detector has one.
    pub expected: Option<f64>,
    /// The lower edge of the model's normal band at the peak.
    pub lower: Option<f64>,
    /// The upper edge of the model's normal band at the peak.
    pub upper: Option<f64>,
    /// What the deviation is measured from: `expected` when there is one, else the median of
    /// the values just before the event (or of the whole series).
    pub baseline: Option<f64>,
    /// `actual - baseline`.
    pub deviation: Option<f64>,
    /// The deviation in standard deviations (`sigma_unit`) of the basis below.
    pub deviation_sigma: Option<f64>,
    /// That standard deviation.
    pub sigma: Option<f64>,
    /// What σ is, in words: `robust standard deviations` (1.4826 × MAD), or `standard
    /// deviations` for `zscore`, whose own rolling σ is the yardstick.
    #[serde(default = "robust_unit")]
    pub sigma_unit: String,
    /// What the baseline and sigma come from, in words.
    pub basis: String,
    /// The anomaly score at the peak.
    pub score: Option<f64>,
    /// The threshold's cut-off score, when known.
    pub threshold: Option<f64>,
    /// `score / threshold`.
    pub severity: Option<f64>,
    /// The event is below the threshold but kept because it stands out of its series (see
    /// `tsad_core::standout`).
    #[serde(default)]
    pub standout: bool,
}

fn robust_unit() -> String {
    "robust standard deviations".to_owned()
}

/// Where the peak's score stands among all finite scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rank {
    /// 1 = the highest score of the series.
    pub position: usize,
    /// Finite scores in the series.
    pub of: usize,
    /// In words: `the highest of 10320 scores`, `#12 of 10320 (top 0.12%)`.
    pub label: String,
}

/// One detector's part in an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorShare {
    /// The member's name (its kind for single detectors).
    pub name: String,
    /// Its detector kind, when known.
    pub kind: Option<String>,
    /// Its share of the event's evidence in [0, 1] (1 for a single detector).
    pub share: f64,
    /// Its (normalised, for ensemble members) score at the peak.
    pub score_at_peak: Option<f64>,
}

/// The same phase in earlier seasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seasons {
    /// The period in points, from the detector's report (`period`), if one was found.
    pub period: Option<usize>,
    /// One comparison per look-back: a period, a day and a week earlier, where they exist.
    pub comparisons: Vec<SeasonComparison>,
    /// Median of the values at the same phase in up to 8 earlier periods.
    pub same_phase_median: Option<f64>,
    /// How many earlier periods that median used.
    pub same_phase_count: usize,
}

/// The value at the same phase some time earlier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeasonComparison {
    /// `1 period earlier (24 points)`, `1 day earlier`, `1 week earlier`.
    pub label: String,
    /// Points back from the peak.
    pub lag_points: usize,
    /// The earlier point's time.
    pub time: i64,
    /// Its value.
    pub value: Option<f64>,
    /// The peak's value minus it.
    pub difference: Option<f64>,
    /// Whether that point was flagged too.
    pub flagged: Option<bool>,
}

/// What the level did across the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LevelKind {
    /// The level after the event differs from before by at least 3 robust σ and by at least
    /// half the peak's excursion: the series moved to a new level.
    LevelShift,
    /// The series went back to its earlier level (within 2 σ, or a quarter of the excursion).
    Transient,
    /// The level moved, but by less than half the peak's excursion.
    Partial,
    /// Too few points before or after the event to tell.
    Undetermined,
}

/// The level before versus after the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// Points compared on each side (at most; fewer near the ends).
    pub window: usize,
    /// Points actually used before the event.
    pub before_points: usize,
    /// Points actually used after the event.
    pub after_points: usize,
    /// Median of the values before the event.
    pub before_median: Option<f64>,
    /// Median of the values after the event.
    pub after_median: Option<f64>,
    /// `after_median - before_median`.
    pub change: Option<f64>,
    /// That change in robust standard deviations: of the residuals (actual - expected) when the
    /// series has a season, the window is whole cycles and the detector expected values, else
    /// of the values before.
    pub change_sigma: Option<f64>,
    /// Level shift, transient, partial, or undetermined.
    pub kind: LevelKind,
}

/// The noise before versus after the event: the robust standard deviation of the steps from
/// point to point (`x[i] - x[i-1]`, between finite neighbours) over up to [`NOISE_WINDOW`]
/// points on each side (the level's window when longer).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Noise {
    /// Steps measured before the event.
    pub before_steps: usize,
    /// Steps measured after the event.
    pub after_steps: usize,
    /// The noise before; None with fewer than 3 steps or none that moves.
    pub before: Option<f64>,
    /// The noise after; None likewise.
    pub after: Option<f64>,
}

/// An earlier stretch whose shape resembles the event's window: of the residuals (actual -
/// expected) when the detector has expected values, else of the values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarEpisode {
    /// Time of its first point.
    pub start_time: i64,
    /// Time of its last point.
    pub end_time: i64,
    /// Index of its first point.
    pub start_index: usize,
    /// Pearson correlation with the event's window (1 = the same shape).
    pub correlation: f64,
    /// Euclidean distance of the z-normalised windows, per point (`sqrt(2(1 - r))`: 0 = the
    /// same shape, about 1.4 = unrelated).
    pub distance: f64,
    /// Its value at the position of the event's peak.
    pub value_at_peak: Option<f64>,
    /// Its largest deviation from the expected values, in robust σ of all residuals (how big
    /// that earlier episode was); `None` when the detector has no expected values.
    pub peak_sigma: Option<f64>,
    /// Whether any of its points was flagged.
    pub flagged: Option<bool>,
}

/// Missing values, gaps and duplicates near the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataQuality {
    /// Missing (NaN) values inside the event.
    pub missing_in_event: usize,
    /// Missing values in the event and the windows around it.
    pub missing_nearby: usize,
    /// Gaps in time (steps over 1.5 median steps) near the event, the first 5.
    pub gaps_nearby: Vec<GapNote>,
    /// Rows of the file that repeated a timestamp near the event (the later row won), from the
    /// ingest diagnostics.
    pub duplicates_nearby: usize,
    /// One sentence per thing to check; empty when nothing was found.
    pub notes: Vec<String>,
}

/// A gap in time near the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GapNote {
    /// The last time before the gap.
    pub from_time: i64,
    /// The first time after it.
    pub to_time: i64,
    /// Median steps missing in between.
    pub missing_steps: u64,
}

/// The series-wide facts evidence is computed against, built once per run and reused for
/// every event.
#[derive(Debug, Clone)]
pub struct EvidenceContext<'a> {
    series: &'a Series,
    scores: &'a Scores,
    flags: Option<&'a [bool]>,
    threshold: Option<f64>,
    detector: Option<String>,
    diagnostics: Option<&'a Diagnostics>,
    sorted_scores: Vec<f64>,
    residual: Option<(f64, f64)>,
    step: Option<i64>,
    period: Option<usize>,
}

/// Median and robust sigma (1.4826 × MAD, or the standard deviation when the MAD is zero) of
/// the finite values; sigma is `None` when the values are constant.
fn center_scale(xs: &[f64]) -> Option<(f64, Option<f64>)> {
    let (med, mad) = median_mad(xs)?;
    let sigma = mad * MAD_TO_SIGMA;
    if sigma > 0.0 {
        return Some((med, Some(sigma)));
    }
    let std = mean_std(xs).map(|(_, s)| s).filter(|s| *s > 0.0);
    Some((med, std))
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// The first numeric `period` in a detector report: at the top, or in the members' reports.
pub(crate) fn report_period(report: &serde_json::Value) -> Option<usize> {
    fn find(v: &serde_json::Value, depth: usize) -> Option<usize> {
        if let Some(p) = v.get("period").and_then(serde_json::Value::as_u64)
            && p >= 2
        {
            return usize::try_from(p).ok();
        }
        if depth == 0 {
            return None;
        }
        if let Some(r) = v.get("report")
            && let Some(p) = find(r, depth - 1)
        {
            return Some(p);
        }
        v.get("members")
            .and_then(serde_json::Value::as_array)
            .and_then(|ms| ms.iter().find_map(|m| find(m, depth - 1)))
    }
    find(report, 3)
}

impl<'a> EvidenceContext<'a> {
    /// The context of `series` scored as `scores` (index-aligned, as every detector returns
    /// them). Sorts the scores once for ranking and takes the residuals' median and MAD when
    /// the scores carry expected values. The period comes from the report's `period`.
    ///
    /// # Errors
    ///
    /// [`ExplainError::InvalidInput`] when the scores, expected values or member scores do not
    /// have one entry per point.
    pub fn new(series: &'a Series, scores: &'a Scores) -> Result<Self, ExplainError> {
        let n = series.len();
        let mut problems = Vec::new();
        if scores.score.len() != n {
            problems.push(format!("{} scores for {n} points", scores.score.len()));
        }
        if let Some(e) = &scores.expected
            && e.len() != n
        {
            problems.push(format!("{} expected values for {n} points", e.len()));
        }
        if let Some((lo, hi)) = &scores.band
            && (lo.len() != n || hi.len() != n)
        {
            problems.push(format!("band of {}/{} for {n} points", lo.len(), hi.len()));
        }
        for m in &scores.members {
            if m.normalized.len() != n {
                problems.push(format!(
                    "member `{}` has {} scores for {n} points",
                    m.name,
                    m.normalized.len()
                ));
            }
        }
        if !problems.is_empty() {
            return Err(ExplainError::InvalidInput {
                reason: problems.join("; "),
            });
        }
        let mut sorted_scores: Vec<f64> = tsad_core::stats::finite(&scores.score);
        sorted_scores.sort_by(f64::total_cmp);
        let residual = scores.expected.as_ref().and_then(|e| {
            let r: Vec<f64> = series.values().iter().zip(e).map(|(v, e)| v - e).collect();
            match center_scale(&r)? {
                (m, Some(s)) => Some((m, s)),
                _ => None,
            }
        });
        Ok(EvidenceContext {
            series,
            scores,
            flags: None,
            threshold: None,
            detector: None,
            diagnostics: None,
            sorted_scores,
            residual,
            step: series.median_step().filter(|s| *s > 0),
            period: report_period(&scores.report).filter(|p| *p < series.len()),
        })
    }

    /// Adds the threshold's per-point flags (ignored unless one per point).
    pub fn with_flags(mut self, flags: &'a [bool]) -> Self {
        if flags.len() == self.series.len() {
            self.flags = Some(flags);
        }
        self
    }

    /// Adds the threshold's cut-off score.
    pub fn with_threshold(mut self, value: f64) -> Self {
        self.threshold = finite(value);
        self
    }

    /// Names the detector kind (used for single detectors; ensembles name their members).
    pub fn with_detector(mut self, kind: impl Into<String>) -> Self {
        self.detector = Some(kind.into());
        self
    }

    /// Adds the ingest diagnostics (duplicates, sorting, rejected rows).
    pub fn with_diagnostics(mut self, diagnostics: &'a Diagnostics) -> Self {
        self.diagnostics = Some(diagnostics);
        self
    }

    /// Overrides the period (in points) taken from the detector's report.
    pub fn with_period(mut self, period: Option<usize>) -> Self {
        self.period = period.filter(|p| *p >= 2 && *p < self.series.len());
        self
    }

    /// The series.
    pub fn series(&self) -> &Series {
        self.series
    }

    /// The scores.
    pub fn scores(&self) -> &Scores {
        self.scores
    }

    /// The detector kind, if named.
    pub fn detector(&self) -> Option<&str> {
        self.detector.as_deref()
    }

    /// The threshold's cut-off score, if known.
    pub fn threshold(&self) -> Option<f64> {
        self.threshold
    }

    /// The period in points (from the report or [`EvidenceContext::with_period`]).
    pub fn period(&self) -> Option<usize> {
        self.period
    }

    /// The median step between timestamps.
    pub fn step(&self) -> Option<i64> {
        self.step
    }

    /// Whether point `i` was flagged, when flags were given.
    pub(crate) fn flag(&self, i: usize) -> Option<bool> {
        self.flags.map(|f| f[i])
    }

    /// Points compared on each side of an event of `len` points: at least 20 and twice the
    /// event, rounded up to whole periods, at most 1000.
    pub(crate) fn context_window(&self, len: usize) -> usize {
        let base = (2 * len).max(20);
        let w = match self.period {
            Some(p) if p <= MAX_CONTEXT_WINDOW => base.div_ceil(p) * p,
            _ => base,
        };
        w.min(MAX_CONTEXT_WINDOW)
    }

    /// The evidence about `event`.
    ///
    /// # Errors
    ///
    /// [`ExplainError::InvalidInput`] when the event's indices are outside the series or out
    /// of order.
    pub fn evidence(&self, event: &Event) -> Result<Evidence, ExplainError> {
        let n = self.series.len();
        if !(event.start <= event.peak && event.peak <= event.end && event.end < n) {
            return Err(ExplainError::InvalidInput {
                reason: format!(
                    "event points {}..={} (peak {}) do not fit a series of {n} points",
                    event.start, event.end, event.peak
                ),
            });
        }
        let ts = self.series.timestamps();
        let len = event.end - event.start + 1;
        let window = self.context_window(len);
        let peak = self.peak(event, window);
        let direction = match event.direction {
            Direction::Unknown => match peak.deviation {
                Some(d) if d > 0.0 => Direction::Up,
                Some(d) if d < 0.0 => Direction::Down,
                _ => Direction::Unknown,
            },
            d => d,
        };
        let duration_ms = match (self.series.axis(), self.step) {
            (TimeAxis::EpochMillis, Some(step)) => Some(ts[event.end] - ts[event.start] + step),
            _ => None,
        };
        Ok(Evidence {
            time_axis: self.series.axis(),
            start_time: ts[event.start],
            end_time: ts[event.end],
            peak_time: ts[event.peak],
            start_index: event.start,
            end_index: event.end,
            peak_index: event.peak,
            points: len,
            flagged: event.flagged,
            duration_ms,
            direction,
            rank: self.rank(peak.score),
            detectors: self.detectors(event),
            seasons: self.seasons(event.peak, peak.actual),
            level: self.level(event, window, peak.actual),
            noise: self.noise(event, window),
            similar: self.similar(event),
            data_quality: self.data_quality(event, window),
            peak,
        })
    }

    fn peak(&self, event: &Event, window: usize) -> Peak {
        let i = event.peak;
        let values = self.series.values();
        let actual = finite(values[i]);
        let expected = self
            .scores
            .expected
            .as_ref()
            .and_then(|e| finite(e[i]))
            .or(event.expected.filter(|e| e.is_finite()));
        let (lower, upper) = match &self.scores.band {
            Some((lo, hi)) => (finite(lo[i]), finite(hi[i])),
            None => (None, None),
        };
        let (baseline, sigma, offset, basis) = match (expected, self.residual) {
            (Some(e), Some((m, s))) => (
                Some(e),
                Some(s),
                m,
                format!(
                    "the model's expected value; σ is the robust spread of all residuals \
                     (actual - expected, median {})",
                    crate::format::num(m)
                ),
            ),
            (Some(e), None) => (
                Some(e),
                None,
                0.0,
                "the model's expected value (its residuals have no spread)".to_owned(),
            ),
            (None, _) => {
                let lo = event.start.saturating_sub(window);
                let before = &values[lo..event.start];
                let enough = before.iter().filter(|v| v.is_finite()).count() >= 8;
                let (set, basis) = if enough {
                    (
                        before,
                        format!(
                            "the median of the {} points before the event (the detector has \
                             no expected value)",
                            event.start - lo
                        ),
                    )
                } else {
                    (
                        values,
                        "the median of the whole series (the detector has no expected value)"
                            .to_owned(),
                    )
                };
                match center_scale(set) {
                    Some((m, s)) => (Some(m), s, 0.0, basis),
                    None => (None, None, 0.0, basis),
                }
            }
        };
        let deviation = match (actual, baseline) {
            (Some(a), Some(b)) => Some(a - b),
            _ => None,
        };
        let mut deviation_sigma = match (deviation, sigma) {
            (Some(d), Some(s)) if s > 0.0 => Some((d - offset) / s),
            _ => None,
        };
        let score = finite(event.peak_score);
        let (mut sigma, mut basis, mut sigma_unit) = (sigma, basis, robust_unit());
        // `mad` and `zscore` score a point in standard deviations of its own rolling window:
        // that is the yardstick, so the deviation in σ is the score (a spread of all residuals
        // would give another number for the same point).
        let own_yardstick =
            event.members.is_empty() && matches!(self.detector.as_deref(), Some("mad" | "zscore"));
        if let (true, Some(d), Some(z), Some(_)) = (own_yardstick, deviation, score, expected)
            && z > 0.0
            && d != 0.0
        {
            deviation_sigma = Some(z.copysign(d));
            sigma = Some(d.abs() / z);
            if self.detector.as_deref() == Some("zscore") {
                sigma_unit = "standard deviations".to_owned();
            }
            basis = format!(
                "the model's expected value; σ is the spread of the rolling window the {}                  detector scores with, so the deviation in σ is its score",
                self.detector.as_deref().unwrap_or_default()
            );
        }
        Peak {
            actual,
            expected,
            lower,
            upper,
            baseline,
            deviation,
            deviation_sigma,
            sigma,
            sigma_unit,
            basis,
            score,
            threshold: self.threshold,
            severity: finite(event.severity).or_else(|| match (score, self.threshold) {
                (Some(s), Some(t)) if t > 0.0 => Some(s / t),
                _ => None,
            }),
            standout: event.standout,
        }
    }

    fn rank(&self, score: Option<f64>) -> Option<Rank> {
        let score = score?;
        let of = self.sorted_scores.len();
        if of == 0 {
            return None;
        }
        let above = of - self.sorted_scores.partition_point(|s| *s <= score);
        let position = above + 1;
        let label = if position == 1 {
            format!("the highest of {of} scores")
        } else {
            format!(
                "#{position} of {of} scores (top {})",
                crate::format::percent(position as f64 / of as f64)
            )
        };
        Some(Rank {
            position,
            of,
            label,
        })
    }

    fn detectors(&self, event: &Event) -> Vec<DetectorShare> {
        if event.members.is_empty() {
            let name = self
                .detector
                .clone()
                .unwrap_or_else(|| "detector".to_owned());
            return vec![DetectorShare {
                kind: self.detector.clone(),
                name,
                share: 1.0,
                score_at_peak: finite(event.peak_score),
            }];
        }
        let mut out: Vec<DetectorShare> = event
            .members
            .iter()
            .map(|m| {
                let member = self.scores.members.iter().find(|s| s.name == m.name);
                DetectorShare {
                    name: m.name.clone(),
                    kind: member.map(|s| s.kind.clone()),
                    share: if m.share.is_finite() { m.share } else { 0.0 },
                    score_at_peak: member.and_then(|s| finite(s.normalized[event.peak])),
                }
            })
            .collect();
        out.sort_by(|a, b| b.share.total_cmp(&a.share));
        out
    }

    /// The index of the point at `t`, or the nearest one within half a step.
    fn index_at(&self, t: i64) -> Option<usize> {
        let ts = self.series.timestamps();
        let half = self.step.unwrap_or(1) / 2;
        let i = ts.partition_point(|&x| x < t);
        [i.checked_sub(1), Some(i)]
            .into_iter()
            .flatten()
            .filter(|&j| j < ts.len() && (ts[j] - t).abs() <= half)
            .min_by_key(|&j| (ts[j] - t).abs())
    }

    fn comparison(
        &self,
        label: String,
        peak: usize,
        j: usize,
        actual: Option<f64>,
    ) -> SeasonComparison {
        let value = finite(self.series.values()[j]);
        SeasonComparison {
            label,
            lag_points: peak - j,
            time: self.series.timestamps()[j],
            value,
            difference: match (actual, value) {
                (Some(a), Some(v)) => Some(a - v),
                _ => None,
            },
            flagged: self.flag(j),
        }
    }

    fn seasons(&self, peak: usize, actual: Option<f64>) -> Seasons {
        let values = self.series.values();
        let ts = self.series.timestamps();
        let mut comparisons = Vec::new();
        let mut used: Vec<usize> = Vec::new();
        if let Some(p) = self.period
            && peak >= p
        {
            let j = peak - p;
            comparisons.push(self.comparison(
                format!("1 period earlier ({p} points)"),
                peak,
                j,
                actual,
            ));
            used.push(j);
        }
        if self.series.axis() == TimeAxis::EpochMillis
            && let Some(step) = self.step
        {
            for (label, back, useful) in [
                ("1 day earlier", DAY_MS, step < DAY_MS),
                ("1 week earlier", 7 * DAY_MS, step < 7 * DAY_MS),
            ] {
                if !useful {
                    continue;
                }
                let Some(j) = self.index_at(ts[peak] - back) else {
                    continue;
                };
                if j >= peak {
                    continue;
                }
                if let Some(k) = used.iter().position(|&u| u == j) {
                    comparisons[k].label = format!("{} = {label}", comparisons[k].label);
                    continue;
                }
                comparisons.push(self.comparison(label.to_owned(), peak, j, actual));
                used.push(j);
            }
        }
        let same_phase: Vec<f64> = match self.period {
            Some(p) => (1..=SEASONS_BACK)
                .filter_map(|k| peak.checked_sub(k * p))
                .map(|j| values[j])
                .filter(|v| v.is_finite())
                .collect(),
            None => Vec::new(),
        };
        Seasons {
            period: self.period,
            comparisons,
            same_phase_median: median(&same_phase),
            same_phase_count: same_phase.len(),
        }
    }

    fn level(&self, event: &Event, window: usize, actual: Option<f64>) -> Level {
        let values = self.series.values();
        let n = values.len();
        let lo = event.start.saturating_sub(window);
        let hi = (event.end + 1 + window).min(n);
        let before = &values[lo..event.start];
        let after = &values[(event.end + 1).min(n)..hi];
        let count = |xs: &[f64]| xs.iter().filter(|v| v.is_finite()).count();
        let needed = (window / 4).clamp(3, 10);
        let before_stats = center_scale(before);
        let before_median = before_stats.map(|s| s.0);
        let after_median = median(after);
        let enough = count(before) >= needed && count(after) >= needed;
        let change = match (before_median, after_median) {
            (Some(b), Some(a)) => Some(a - b),
            _ => None,
        };
        // With a season, the values' own spread is mostly the cycle: over windows of whole
        // cycles (the cycle does not move their medians) the noise around the expected values
        // is the yardstick.
        let spread = before_stats.and_then(|s| s.1);
        let noise = self.residual.map(|r| r.1);
        let sigma = if self.period.is_some_and(|p| window.is_multiple_of(p)) {
            noise.or(spread)
        } else {
            spread.or(noise)
        };
        let change_sigma = match (change, sigma) {
            (Some(c), Some(s)) => Some(c / s),
            _ => None,
        };
        let kind = match (enough, change, before_median, actual) {
            (true, Some(c), Some(b), Some(a)) => {
                let excursion = (a - b).abs();
                let big = change_sigma.map_or(c != 0.0, |z| z.abs() >= 3.0);
                let small = change_sigma.map_or(c == 0.0, |z| z.abs() < 2.0);
                if big && c.abs() >= 0.5 * excursion {
                    LevelKind::LevelShift
                } else if small || c.abs() < 0.25 * excursion {
                    LevelKind::Transient
                } else {
                    LevelKind::Partial
                }
            }
            _ => LevelKind::Undetermined,
        };
        Level {
            window,
            before_points: before.len(),
            after_points: after.len(),
            before_median,
            after_median,
            change,
            change_sigma,
            kind,
        }
    }

    fn noise(&self, event: &Event, window: usize) -> Noise {
        let values = self.series.values();
        let n = values.len();
        let window = window.max(NOISE_WINDOW);
        let steps = |xs: &[f64]| -> Vec<f64> {
            xs.windows(2)
                .filter(|w| w[0].is_finite() && w[1].is_finite())
                .map(|w| w[1] - w[0])
                .collect()
        };
        let before = steps(&values[event.start.saturating_sub(window)..event.start]);
        let after = steps(&values[(event.end + 1).min(n)..(event.end + 1 + window).min(n)]);
        let scale = |xs: &[f64]| {
            if xs.len() < 3 {
                None
            } else {
                center_scale(xs).and_then(|(_, s)| s)
            }
        };
        Noise {
            before_steps: before.len(),
            after_steps: after.len(),
            before: scale(&before),
            after: scale(&after),
        }
    }

    fn similar(&self, event: &Event) -> Vec<SimilarEpisode> {
        // Compare the residuals when the model has expected values: a seasonal series'
        // ordinary cycles would otherwise match any window.
        let residuals: Option<Vec<f64>> = self.scores.expected.as_ref().map(|e| {
            self.series
                .values()
                .iter()
                .zip(e)
                .map(|(v, e)| v - e)
                .collect()
        });
        let values: &[f64] = residuals.as_deref().unwrap_or(self.series.values());
        let shown = self.series.values();
        let ts = self.series.timestamps();
        let n = values.len();
        let len = event.end - event.start + 1;
        let pad = (len / 2).max(4);
        let w = (len + 2 * pad)
            .clamp(MIN_SHAPE_WINDOW, MAX_SHAPE_WINDOW)
            .min(n);
        // Centre the window on the event, or on the peak when the event is longer than it.
        let centre = if len + 2 * pad <= MAX_SHAPE_WINDOW {
            event.start + len / 2
        } else {
            event.peak
        };
        let q_start = centre.saturating_sub(w / 2).min(n - w);
        if q_start < w {
            return Vec::new();
        }
        let query = &values[q_start..q_start + w];
        let Some((q_mean, q_std)) = mean_std(query) else {
            return Vec::new();
        };
        let missing = query.iter().filter(|v| !v.is_finite()).count();
        if q_std <= 0.0 || missing * 10 > w {
            return Vec::new();
        }
        // z-normalised query, missing values at the mean.
        let qz: Vec<f64> = query
            .iter()
            .map(|v| {
                if v.is_finite() {
                    (v - q_mean) / q_std
                } else {
                    0.0
                }
            })
            .collect();
        // Prefix sums (offset by the query's mean for precision) and missing counts.
        let mut s1 = vec![0.0; n + 1];
        let mut s2 = vec![0.0; n + 1];
        let mut nan = vec![0usize; n + 1];
        for (i, v) in values.iter().enumerate() {
            let (x, m) = if v.is_finite() {
                (v - q_mean, 0)
            } else {
                (0.0, 1)
            };
            s1[i + 1] = s1[i] + x;
            s2[i + 1] = s2[i] + x * x;
            nan[i + 1] = nan[i] + m;
        }
        let candidates = q_start - w + 1; // windows [c, c + w) with c + w <= q_start
        let stride = (candidates * w).div_ceil(SIMILARITY_BUDGET).max(1);
        let wf = w as f64;
        let mut found: Vec<(f64, usize)> = Vec::new();
        for c in (0..candidates).step_by(stride) {
            if nan[c + w] - nan[c] > 0 {
                continue;
            }
            let mean = (s1[c + w] - s1[c]) / wf;
            let var = (s2[c + w] - s2[c]) / wf - mean * mean;
            if var <= 1e-12 * (q_std * q_std) {
                continue;
            }
            let dot: f64 = qz.iter().zip(&values[c..c + w]).map(|(q, v)| q * v).sum();
            let corr = (dot / (var.sqrt() * wf)).clamp(-1.0, 1.0);
            found.push((corr, c));
        }
        found.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut picked: Vec<(f64, usize)> = Vec::new();
        for (corr, c) in found {
            if picked.iter().all(|&(_, p)| c.abs_diff(p) >= w / 2) {
                picked.push((corr, c));
                if picked.len() == 3 {
                    break;
                }
            }
        }
        let size = |c: usize| -> Option<f64> {
            let (m, s) = self.residual.filter(|_| residuals.is_some())?;
            values[c..c + w]
                .iter()
                .filter(|v| v.is_finite())
                .map(|r| ((r - m) / s).abs())
                .reduce(f64::max)
        };
        picked
            .into_iter()
            .map(|(corr, c)| SimilarEpisode {
                start_time: ts[c],
                end_time: ts[c + w - 1],
                start_index: c,
                correlation: corr,
                distance: (2.0 * (1.0 - corr)).max(0.0).sqrt(),
                value_at_peak: finite(shown[c + event.peak.saturating_sub(q_start).min(w - 1)]),
                peak_sigma: size(c),
                flagged: self.flags.map(|f| f[c..c + w].iter().any(|x| *x)),
            })
            .collect()
    }

    fn data_quality(&self, event: &Event, window: usize) -> DataQuality {
        let values = self.series.values();
        let ts = self.series.timestamps();
        let n = values.len();
        let lo = event.start.saturating_sub(window);
        let hi = (event.end + window).min(n - 1);
        let missing = |a: usize, b: usize| values[a..=b].iter().filter(|v| v.is_nan()).count();
        let missing_in_event = missing(event.start, event.end);
        let missing_nearby = missing(lo, hi);
        let mut notes = Vec::new();
        let axis = self.series.axis();
        let t = |x: i64| crate::format::time(x, axis);
        if !values[event.peak].is_finite() {
            notes.push("The value at the peak is missing.".to_owned());
        }
        if missing_in_event > 0 {
            notes.push(format!(
                "{} of the event's {} points are missing.",
                missing_in_event,
                event.end - event.start + 1
            ));
        } else if missing_nearby > 0 {
            notes.push(format!(
                "{} near the event ({} .. {}).",
                crate::format::count(missing_nearby, "value is missing", "values are missing"),
                t(ts[lo]),
                t(ts[hi])
            ));
        }
        let mut gaps_nearby = Vec::new();
        if axis == TimeAxis::EpochMillis
            && let Some(step) = self.step
        {
            for i in lo..hi {
                let d = ts[i + 1] - ts[i];
                if d * 2 > step * 3 {
                    gaps_nearby.push(GapNote {
                        from_time: ts[i],
                        to_time: ts[i + 1],
                        missing_steps: u64::try_from((d + step / 2) / step - 1).unwrap_or(0),
                    });
                }
            }
            let touching: Vec<&GapNote> = gaps_nearby
                .iter()
                .filter(|g| {
                    g.to_time >= ts[event.start.saturating_sub(1)]
                        && g.from_time <= ts[(event.end + 1).min(n - 1)]
                })
                .collect();
            if let Some(g) = touching.first() {
                notes.push(format!(
                    "The series skips {} right at the event (between {} and {}): the \
                     detector may be reacting to the jump across the gap.",
                    crate::format::count(g.missing_steps as usize, "step", "steps"),
                    t(g.from_time),
                    t(g.to_time)
                ));
            } else if !gaps_nearby.is_empty() {
                notes.push(format!(
                    "{} near the event (the first between {} and {}).",
                    crate::format::count(gaps_nearby.len(), "gap in time", "gaps in time"),
                    t(gaps_nearby[0].from_time),
                    t(gaps_nearby[0].to_time)
                ));
            }
            gaps_nearby.truncate(5);
        }
        let mut duplicates_nearby = 0;
        if let Some(d) = self.diagnostics {
            if axis == TimeAxis::EpochMillis {
                duplicates_nearby = d
                    .duplicate_rows
                    .iter()
                    .filter_map(|r| chrono::DateTime::parse_from_rfc3339(&r.timestamp).ok())
                    .map(|t| t.timestamp_millis())
                    .filter(|x| (ts[lo]..=ts[hi]).contains(x))
                    .count();
            }
            if duplicates_nearby > 0 {
                notes.push(format!(
                    "{} near the event appeared twice in the file; the later row was kept.",
                    crate::format::count(duplicates_nearby, "timestamp", "timestamps")
                ));
            } else if d.duplicates > d.duplicate_rows.len() {
                notes.push(format!(
                    "The file repeated {} timestamps (only the first {} are known by time); \
                     check whether any is near the event.",
                    d.duplicates,
                    d.duplicate_rows.len()
                ));
            }
            if d.sorted {
                notes.push(
                    "The file's rows were out of time order and were sorted before detection."
                        .to_owned(),
                );
            }
            if d.rejected > 0 {
                let first = d.rejected_rows.first().map_or(String::new(), |r| {
                    format!(" (the first at line {})", r.line)
                });
                notes.push(format!(
                    "{} of the file could not be read and {} left out{first}.",
                    crate::format::count(d.rejected, "row", "rows"),
                    if d.rejected == 1 { "was" } else { "were" }
                ));
            }
        }
        DataQuality {
            missing_in_event,
            missing_nearby,
            gaps_nearby,
            duplicates_nearby,
            notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn report_period_is_found_at_the_top_or_in_members() {
        let cases = [
            ("top", json!({"period": 24}), Some(24)),
            ("null", json!({"period": null}), None),
            (
                "member",
                json!({"members": [{"report": {"x": 1}}, {"report": {"period": 48}}]}),
                Some(48),
            ),
            ("none", json!(null), None),
            ("too small", json!({"period": 1}), None),
        ];
        for (name, report, want) in cases {
            assert_eq!(report_period(&report), want, "{name}");
        }
    }
}
