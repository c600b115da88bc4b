//! The streaming runner: a detector over every corpus file as NAB requires (row i scored from
//! rows 0..=i only, from scratch on every file), with raw scores mapped into [0, 1].

use crate::{Corpus, CorpusFile, EvalError, FileResult, ResultsSet};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tsad_core::{Detector, FitContext, Series, TimeAxis};

/// How the upper-tail probability `q` of a raw score becomes NAB's `anomaly_score`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TailScale {
    /// `1 - q`: the Gaussian CDF of the score. Saturates at 1.0 beyond about 8 sigma, so very
    /// large scores tie.
    Linear,
    /// `ln(q + 1e-10) / ln(1e-10)`, clamped to [0, 1]: NAB's numenta log-likelihood scale. It
    /// spreads the extreme tail (q from 1e-3 to 1e-10 maps to 0.3..1.0), which is where a
    /// corpus-wide threshold has to discriminate. 1.0 only beyond about 6.4 sigma. The default.
    #[default]
    Log,
}

/// The streaming map from a detector's raw score to an anomaly score in [0, 1].
///
/// Each raw score is compared with a running Gaussian estimate (mean, standard deviation) of the
/// **earlier** finite raw scores of the same file, over the last `window` of them (0 = all):
/// its upper-tail probability `q = P(X >= raw)` goes through `scale`. Only the past is used,
/// so the map keeps the streaming rule. NaN raw scores map to 0 and are not added to the
/// history. Until `min_history` finite scores have been seen the output is 0. When the past
/// scores are constant, a larger score maps to 1 and any other to 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoreMapping {
    /// How many earlier finite raw scores the estimate uses; 0 = all of them. Default 0.
    pub window: usize,
    /// Finite raw scores needed before the output leaves 0. Default 10.
    pub min_history: usize,
    /// Linear or log tail scale. Default `log`.
    pub scale: TailScale,
}

impl Default for ScoreMapping {
    fn default() -> Self {
        ScoreMapping {
            window: 0,
            min_history: 10,
            scale: TailScale::Log,
        }
    }
}

impl ScoreMapping {
    /// A fresh streaming mapper with this configuration.
    pub fn mapper(&self) -> TailMapper {
        TailMapper {
            config: *self,
            history: VecDeque::new(),
            count_all: 0,
            shift: None,
            sum: 0.0,
            sum_sq: 0.0,
            since_refresh: 0,
        }
    }

    /// Maps a whole file's raw scores, in order (the same as feeding a fresh [`TailMapper`]).
    pub fn map(&self, raw: &[f64]) -> Vec<f64> {
        let mut m = self.mapper();
        raw.iter().map(|&x| m.map(x)).collect()
    }
}

/// The state of a [`ScoreMapping`] over one file: feed raw scores in row order.
#[derive(Debug, Clone)]
pub struct TailMapper {
    config: ScoreMapping,
    // Only kept when `window > 0`; otherwise sums alone suffice.
    history: VecDeque<f64>,
    count_all: usize,
    // Sums are taken about the first score seen, so a large offset does not cancel precision.
    shift: Option<f64>,
    sum: f64,
    sum_sq: f64,
    since_refresh: usize,
}

impl TailMapper {
    /// Maps the next raw score, then adds it to the history.
    pub fn map(&mut self, raw: f64) -> f64 {
        if !raw.is_finite() {
            return 0.0;
        }
        let out = self.tail_score(raw);
        self.push(raw);
        out
    }

    fn count(&self) -> usize {
        if self.config.window == 0 {
            self.count_all
        } else {
            self.history.len()
        }
    }

    fn tail_score(&self, raw: f64) -> f64 {
        let n = self.count();
        if n == 0 || n < self.config.min_history {
            return 0.0;
        }
        let shift = self.shift.unwrap_or(0.0);
        let mean = self.sum / n as f64;
        let var = (self.sum_sq / n as f64 - mean * mean).max(0.0);
        let (mean, std) = (mean + shift, var.sqrt());
        // A spread below rounding noise of the mean counts as constant.
        if std <= 1e-12 * mean.abs().max(1e-300) {
            return if raw > mean { 1.0 } else { 0.0 };
        }
        let q = 0.5 * erfc((raw - mean) / (std * std::f64::consts::SQRT_2));
        match self.config.scale {
            TailScale::Linear => (1.0 - q).clamp(0.0, 1.0),
            TailScale::Log => ((q + 1e-10).ln() / 1e-10_f64.ln()).clamp(0.0, 1.0),
        }
    }

    fn push(&mut self, raw: f64) {
        let shift = *self.shift.get_or_insert(raw);
        let d = raw - shift;
        self.sum += d;
        self.sum_sq += d * d;
        if self.config.window == 0 {
            self.count_all += 1;
            return;
        }
        self.history.push_back(raw);
        if self.history.len() > self.config.window {
            // The check above guarantees an element to pop.
            let old = self.history.pop_front().unwrap_or(shift) - shift;
            self.sum -= old;
            self.sum_sq -= old * old;
        }
        // Subtracting drifts; recompute exactly once per window length.
        self.since_refresh += 1;
        if self.since_refresh >= self.config.window {
            self.since_refresh = 0;
            self.sum = self.history.iter().map(|x| x - shift).sum();
            self.sum_sq = self.history.iter().map(|x| (x - shift) * (x - shift)).sum();
        }
    }
}

/// The complementary error function, to a relative error below 1.2e-7 everywhere
/// (Numerical Recipes' Chebyshev fit `erfcc`), which keeps precision deep in the tail where
/// `1 - erf` would cancel.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// A finished file, for progress bars.
#[derive(Debug, Clone, PartialEq)]
pub struct RunProgress {
    /// The file just finished (relative to `data/`).
    pub file: String,
    /// Files finished so far, this one included.
    pub done: usize,
    /// Files in the run.
    pub total: usize,
}

/// The callback type that receives [`RunProgress`].
pub type RunProgressFn = Arc<dyn Fn(&RunProgress) + Send + Sync>;

/// Detector kinds whose raw scores are already NAB anomaly scores in [0, 1], calibrated across
/// files by the detector itself (`novelty`): [`run_file`] passes them through (clamped to
/// [0, 1], NaN as 0) instead of mapping them with [`ScoreMapping`], whose per-file tail
/// estimate would undo that calibration.
pub const UNIT_SCORE_KINDS: &[&str] = &["novelty"];

/// How [`run_nab_with`] runs.
#[derive(Clone)]
pub struct RunOptions {
    /// Worker threads (one file per task); 0 = all available cores. Default 0.
    pub jobs: usize,
    /// The raw-score map into [0, 1].
    pub mapping: ScoreMapping,
    /// Rows in the trailing window that the batch fallback scores for each new row; 0 = the
    /// file's probationary period (at least the detector's `min_len`). Default 0.
    pub fallback_window: usize,
    /// Called after each file.
    pub progress: Option<RunProgressFn>,
    /// Pass the scores of [`UNIT_SCORE_KINDS`] through unmapped. Default true.
    pub pass_unit_scores: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: 0,
            mapping: ScoreMapping::default(),
            fallback_window: 0,
            progress: None,
            pass_unit_scores: true,
        }
    }
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("jobs", &self.jobs)
            .field("mapping", &self.mapping)
            .field("fallback_window", &self.fallback_window)
            .field("progress", &self.progress.is_some())
            .field("pass_unit_scores", &self.pass_unit_scores)
            .finish()
    }
}

/// Runs a detector over every corpus file in streaming mode, in parallel on `jobs` threads
/// (0 = all cores), with the default [`ScoreMapping`]. See [`run_nab_with`].
///
/// # Errors
///
/// As [`run_nab_with`].
pub fn run_nab(
    corpus: &Corpus,
    make: &(dyn Fn() -> Box<dyn Detector> + Sync),
    jobs: usize,
) -> Result<ResultsSet, EvalError> {
    let options = RunOptions {
        jobs,
        ..RunOptions::default()
    };
    run_nab_with(corpus, make, &options)
}

/// Runs a detector over every corpus file as NAB requires, and maps its scores into [0, 1].
///
/// For each file, `make()` builds a fresh detector (so nothing carries over between files) and
/// [`run_file`] scores it. Files run in parallel on a pool of `options.jobs` threads, longest
/// first so the last task is short. The results keep the detector's raw scores too
/// (`FileResult::raw_score`), so another [`ScoreMapping`] can be tried with [`remap`] without
/// re-running.
///
/// # Errors
///
/// [`EvalError::Detector`] naming the first file whose detector failed;
/// [`EvalError::InvalidArgument`] when the thread pool cannot be built.
pub fn run_nab_with(
    corpus: &Corpus,
    make: &(dyn Fn() -> Box<dyn Detector> + Sync),
    options: &RunOptions,
) -> Result<ResultsSet, EvalError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs)
        .build()
        .map_err(|e| EvalError::InvalidArgument {
            name: "jobs",
            reason: e.to_string(),
        })?;
    let mut order: Vec<&CorpusFile> = corpus.files().iter().collect();
    order.sort_by_key(|f| std::cmp::Reverse(f.len()));
    let done = AtomicUsize::new(0);
    pool.install(|| {
        order
            .par_iter()
            .with_max_len(1)
            .map(|file| {
                let detector = make();
                let result = run_file(file, detector.as_ref(), options).map_err(|source| {
                    EvalError::Detector {
                        file: file.name().to_owned(),
                        source,
                    }
                })?;
                if let Some(progress) = &options.progress {
                    progress(&RunProgress {
                        file: file.name().to_owned(),
                        done: done.fetch_add(1, Ordering::Relaxed) + 1,
                        total: corpus.len(),
                    });
                }
                Ok((file.name().to_owned(), result))
            })
            .collect::<Result<Vec<_>, EvalError>>()
    })
    .map(|files| files.into_iter().collect())
}

/// Scores one file in streaming mode and maps the scores into [0, 1].
///
/// - **Online detectors** (`detector.online()` is `Some`): every row goes through
///   `update(timestamp, value)` in order, so row i's score depends on rows 0..=i only. Cost:
///   one update per row. Timestamps are passed as read (Unix milliseconds); in a few NAB
///   files they repeat or step back once (FORMAT.md), so online models must not assume they
///   strictly increase.
/// - **Batch-only detectors (fallback)**: the model is fitted once on the first
///   `F = max(P, min_len)` rows (P = the probationary period); rows before F score 0 (a model
///   fitted on them would have seen their future). Each later row i is scored by running the
///   model over the trailing window of `W` rows ending at i (`W = options.fallback_window`,
///   or P when 0; at least `min_len`) and keeping the last score, so it too uses rows up to i
///   only. Cost: `n - F` batch scorings of `W` rows, i.e. O(n W) per file for a detector that
///   is linear in its input: W times the online cost. The fit and windows use the row index as
///   the time axis, since NAB files may repeat timestamps.
///
/// Raw scores are then mapped with `options.mapping` (NaN becomes 0), except those of the
/// [`UNIT_SCORE_KINDS`], which pass through clamped to [0, 1] (when
/// `options.pass_unit_scores`).
///
/// # Errors
///
/// The detector's error, from `fit` or `score`.
pub fn run_file(
    file: &CorpusFile,
    detector: &dyn Detector,
    options: &RunOptions,
) -> Result<FileResult, tsad_core::Error> {
    let raw = match detector.online() {
        Some(mut online) => online.update_all(file.timestamps(), file.values()),
        None => fallback_scores(file, detector, options.fallback_window)?,
    };
    let anomaly_score = if options.pass_unit_scores && UNIT_SCORE_KINDS.contains(&detector.kind()) {
        raw.iter()
            .map(|s| {
                if s.is_finite() {
                    s.clamp(0.0, 1.0)
                } else {
                    0.0
                }
            })
            .collect()
    } else {
        options.mapping.map(&raw)
    };
    Ok(FileResult {
        timestamps: file.timestamps().to_vec(),
        anomaly_score,
        raw_score: Some(raw),
    })
}

fn fallback_scores(
    file: &CorpusFile,
    detector: &dyn Detector,
    window: usize,
) -> Result<Vec<f64>, tsad_core::Error> {
    let n = file.len();
    let min_len = detector.min_len().max(1);
    let fit_len = file.probation().max(min_len);
    let mut raw = vec![f64::NAN; n];
    if fit_len >= n {
        return Ok(raw);
    }
    let window = if window == 0 {
        file.probation()
    } else {
        window
    }
    .max(min_len);
    let values = file.values();
    let rows = |r: std::ops::Range<usize>| {
        let index = (r.start as i64..r.end as i64).collect();
        Series::with_axis(index, values[r].to_vec(), TimeAxis::Index)
    };
    let ctx = FitContext::new().with_threads(Some(1));
    let model = detector.fit(&rows(0..fit_len)?, &ctx)?;
    for (i, slot) in raw.iter_mut().enumerate().skip(fit_len) {
        let start = (i + 1).saturating_sub(window);
        let scores = model.score(&rows(start..i + 1)?)?;
        *slot = scores.score.last().copied().unwrap_or(f64::NAN);
    }
    Ok(raw)
}

/// Re-maps the raw scores kept in `results` with another mapping (files without raw scores
/// are copied unchanged): a cheap way to compare mappings without re-running the detector.
pub fn remap(results: &ResultsSet, mapping: &ScoreMapping) -> ResultsSet {
    results
        .iter()
        .map(|(name, r)| {
            let mut r = r.clone();
            if let Some(raw) = &r.raw_score {
                r.anomaly_score = mapping.map(raw);
            }
            (name.to_owned(), r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_reference_values() {
        // scipy.special.erfc
        let cases = [
            (0.0, 1.0),
            (0.5, 0.4795001221869535),
            (1.0, 0.15729920705028513),
            (-1.0, 1.8427007929497148),
            (3.0, 2.209049699858544e-05),
            (5.0, 1.537_459_794_428_035e-12),
        ];
        for (x, want) in cases {
            let got = erfc(x);
            assert!((got - want).abs() <= 1.2e-7 * want, "erfc({x}) = {got}");
        }
    }

    #[test]
    fn mapping_cases() {
        let mut steady: Vec<f64> = (0..50).map(|i| f64::from(i % 5)).collect();
        steady.push(40.0);
        type Case = (&'static str, ScoreMapping, Vec<f64>, Vec<f64>);
        let cases: Vec<Case> = vec![
            (
                "warm-up and NaN are 0",
                ScoreMapping::default(),
                vec![f64::NAN, 1.0, 2.0],
                vec![0.0, 0.0, 0.0],
            ),
            (
                "constant past: above is 1, equal is 0",
                ScoreMapping {
                    min_history: 2,
                    ..ScoreMapping::default()
                },
                vec![3.0, 3.0, 3.0, 4.0],
                vec![0.0, 0.0, 0.0, 1.0],
            ),
        ];
        for (name, mapping, raw, want) in cases {
            assert_eq!(mapping.map(&raw), want, "{name}");
        }
        for scale in [TailScale::Linear, TailScale::Log] {
            let mapping = ScoreMapping {
                scale,
                ..ScoreMapping::default()
            };
            let out = mapping.map(&steady);
            assert!(out.iter().all(|a| (0.0..=1.0).contains(a)), "{scale:?}");
            let spike = out[50];
            assert!(spike > 0.99, "{scale:?}: {spike}");
            assert!(out[11..50].iter().all(|&a| a < spike), "{scale:?}");
        }
    }

    #[test]
    fn windowed_estimate_forgets() {
        // A level shift: with a short window the new level is normal again after a while.
        let raw: Vec<f64> = (0..400)
            .map(|i| if i < 200 { 0.0 } else { 100.0 } + f64::from(i % 3))
            .collect();
        let linear = ScoreMapping {
            scale: TailScale::Linear,
            ..ScoreMapping::default()
        };
        let all = linear.map(&raw);
        let short = ScoreMapping {
            window: 50,
            ..linear
        }
        .map(&raw);
        assert!(all[399] > 0.5, "all past: {}", all[399]);
        assert!(short[399] < 0.5, "window 50: {}", short[399]);
        assert_eq!(all[..=50], short[..=50]);
    }
}
