//! The NAB scorer: per-row weights from the scaled sigmoid, window credit, false-positive
//! penalties, the probationary period, normalisation, and the corpus-wide threshold (given, or
//! found by an exhaustive sweep).

use crate::{Corpus, CorpusFile, EvalError, Profile, Profiles, ResultsSet, Thresholds};
use rayon::prelude::*;
use serde::Serialize;

/// The threshold that gives no detection for scores in [0, 1]; NAB's first sweep candidate.
pub const NO_DETECTION_THRESHOLD: f64 = 1.1;

/// NAB's scaled sigmoid: `2 / (1 + e^(5y)) - 1` for `y <= 3`, and `-1` beyond.
pub fn scaled_sigmoid(y: f64) -> f64 {
    if y > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * y).exp()) - 1.0
    }
}

/// Where a scorable row sits relative to the windows, before profile weights apply.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    /// Inside window `index` (of its file); the weight is `A_TP * unit`.
    Window { index: usize, unit: f64 },
    /// Outside every window; the weight is `A_FP * unit` (`unit` in [-1, 0]).
    Outside { unit: f64 },
}

impl Slot {
    fn weight(self, profile: &Profile) -> f64 {
        match self {
            Slot::Window { unit, .. } => unit * profile.tp_weight,
            Slot::Outside { unit } => unit * profile.fp_weight,
        }
    }
}

/// Calls `visit(row, slot)` for every scorable row (`row >= probation`) of `file`, in order.
fn for_each_slot(file: &CorpusFile, mut visit: impl FnMut(usize, Slot)) {
    let windows = file.windows();
    let tp_norm = scaled_sigmoid(-1.0);
    // `next`: the first window that has not ended before the current row.
    let mut next = 0;
    for i in file.probation()..file.len() {
        while next < windows.len() && windows[next].end < i {
            next += 1;
        }
        let slot = match windows.get(next) {
            Some(w) if w.start <= i => {
                // The `+ 1` and the division by the full width are NAB's, kept for
                // bit-compatibility: the first row scores exactly A_TP.
                let y = -((w.end - i + 1) as f64) / w.width() as f64;
                Slot::Window {
                    index: next,
                    unit: scaled_sigmoid(y) / tp_norm,
                }
            }
            _ if next == 0 => Slot::Outside { unit: -1.0 },
            _ => {
                // Judged against the window before, with width - 1 as NAB does (a one-row
                // window gives y = inf, i.e. the full penalty).
                let prev = windows[next - 1];
                let y = (i - prev.end) as f64 / (prev.width() - 1) as f64;
                Slot::Outside {
                    unit: scaled_sigmoid(y),
                }
            }
        };
        visit(i, slot);
    }
}

/// Row counts over the scorable rows, as NAB's summary files report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct RowCounts {
    /// Detections inside a window.
    pub true_pos: usize,
    /// Rows outside windows without detection.
    pub true_neg: usize,
    /// Detections outside windows.
    pub false_pos: usize,
    /// Rows inside windows without detection.
    pub false_neg: usize,
}

impl std::ops::AddAssign for RowCounts {
    fn add_assign(&mut self, o: RowCounts) {
        self.true_pos += o.true_pos;
        self.true_neg += o.true_neg;
        self.false_pos += o.false_pos;
        self.false_neg += o.false_neg;
    }
}

/// One file's score at one threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileScore {
    /// The file (relative to `data/`).
    pub file: String,
    /// Its category.
    pub category: String,
    /// The raw (unnormalised) NAB score of this file.
    pub raw: f64,
    /// Number of windows in the file.
    pub windows: usize,
    /// Windows with at least one detection.
    pub detected_windows: usize,
    /// Row counts (informational).
    pub counts: RowCounts,
}

/// The files of one category, summed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryScore {
    /// The category (`realKnownCause`, ...).
    pub category: String,
    /// Number of files.
    pub files: usize,
    /// Number of windows.
    pub windows: usize,
    /// Windows with at least one detection.
    pub detected_windows: usize,
    /// Detections outside windows.
    pub false_positives: usize,
    /// Sum of the files' raw scores.
    pub raw: f64,
    /// The category's score on the 0-100 scale, normalised against its own null and perfect
    /// detectors; `None` when it has no window (the scale is undefined).
    pub normalized: Option<f64>,
}

/// A detector's NAB score under one profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreReport {
    /// The profile.
    pub profile: Profile,
    /// The threshold applied to every file (`a >= threshold` detects).
    pub threshold: f64,
    /// The corpus raw score: the sum of the file scores.
    pub raw: f64,
    /// The NAB score: `100 (raw - null) / (perfect - null)`; `None` when the corpus has no
    /// window.
    pub normalized: Option<f64>,
    /// The null detector's raw score, `-A_FN x windows`.
    pub null_raw: f64,
    /// The perfect detector's raw score, `A_TP x windows`.
    pub perfect_raw: f64,
    /// Per file, in corpus order.
    pub per_file: Vec<FileScore>,
    /// Per category, in order of first appearance.
    pub per_category: Vec<CategoryScore>,
}

/// NAB's 0-100 scale for `raw` over `windows` windows: 0 = the null detector (never alarm),
/// 100 = the perfect one. `None` when there is no window.
pub fn normalize(raw: f64, profile: &Profile, windows: usize) -> Option<f64> {
    let perfect = profile.tp_weight * windows as f64;
    let null = -profile.fn_weight * windows as f64;
    (perfect > null).then(|| 100.0 * (raw - null) / (perfect - null))
}

/// Scores one file's anomaly scores at `threshold` (NaN never detects).
///
/// # Errors
///
/// [`EvalError::Mismatch`] when `scores` is not as long as the file.
pub fn score_file(
    file: &CorpusFile,
    scores: &[f64],
    profile: &Profile,
    threshold: f64,
) -> Result<FileScore, EvalError> {
    if scores.len() != file.len() {
        return Err(EvalError::mismatch(format!(
            "{} has {} rows but {} scores",
            file.name(),
            file.len(),
            scores.len()
        )));
    }
    let mut best: Vec<Option<f64>> = vec![None; file.windows().len()];
    let mut counts = RowCounts::default();
    let mut false_alarms = 0.0;
    for_each_slot(file, |i, slot| {
        let detected = scores[i] >= threshold;
        match (slot, detected) {
            (Slot::Window { index, .. }, true) => {
                counts.true_pos += 1;
                let v = slot.weight(profile);
                best[index] = Some(best[index].map_or(v, |b: f64| b.max(v)));
            }
            (Slot::Window { .. }, false) => counts.false_neg += 1,
            (Slot::Outside { .. }, true) => {
                counts.false_pos += 1;
                false_alarms += slot.weight(profile);
            }
            (Slot::Outside { .. }, false) => counts.true_neg += 1,
        }
    });
    let window_sum: f64 = best.iter().map(|b| b.unwrap_or(-profile.fn_weight)).sum();
    Ok(FileScore {
        file: file.name().to_owned(),
        category: file.category().to_owned(),
        raw: window_sum + false_alarms,
        windows: best.len(),
        detected_windows: best.iter().filter(|b| b.is_some()).count(),
        counts,
    })
}

/// Scores a detector's results over the corpus under one profile at one threshold.
///
/// # Errors
///
/// [`EvalError::Mismatch`] when a corpus file has no result or a different row count.
pub fn score_results(
    corpus: &Corpus,
    results: &ResultsSet,
    profile: &Profile,
    threshold: f64,
) -> Result<ScoreReport, EvalError> {
    let aligned = results.aligned(corpus)?;
    let per_file = corpus
        .files()
        .par_iter()
        .zip(aligned.par_iter())
        .map(|(f, scores)| score_file(f, scores, profile, threshold))
        .collect::<Result<Vec<_>, _>>()?;
    let windows = corpus.window_count();
    let raw = per_file.iter().map(|f| f.raw).sum();
    let per_category = corpus
        .categories()
        .into_iter()
        .map(|cat| {
            let members: Vec<&FileScore> = per_file.iter().filter(|f| f.category == cat).collect();
            let windows = members.iter().map(|f| f.windows).sum();
            let raw = members.iter().map(|f| f.raw).sum();
            CategoryScore {
                category: cat.to_owned(),
                files: members.len(),
                windows,
                detected_windows: members.iter().map(|f| f.detected_windows).sum(),
                false_positives: members.iter().map(|f| f.counts.false_pos).sum(),
                raw,
                normalized: normalize(raw, profile, windows),
            }
        })
        .collect();
    Ok(ScoreReport {
        profile: profile.clone(),
        threshold,
        raw,
        normalized: normalize(raw, profile, windows),
        null_raw: -profile.fn_weight * windows as f64,
        perfect_raw: profile.tp_weight * windows as f64,
        per_file,
        per_category,
    })
}

/// The threshold an exhaustive sweep chose for one profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdChoice {
    /// The profile's name.
    pub profile: String,
    /// The best threshold (the larger one on a tie).
    pub threshold: f64,
    /// The corpus raw score there (summed incrementally; rescoring at `threshold` agrees to
    /// rounding).
    pub raw: f64,
    /// Its NAB score; `None` when the corpus has no window.
    pub normalized: Option<f64>,
}

/// Finds the corpus-wide threshold with the highest raw score under `profile`.
///
/// See [`optimize_thresholds`], which shares one sort between several profiles.
///
/// # Errors
///
/// As [`optimize_thresholds`].
pub fn optimize_threshold(
    corpus: &Corpus,
    results: &ResultsSet,
    profile: &Profile,
) -> Result<ThresholdChoice, EvalError> {
    let mut out = optimize_thresholds(corpus, results, std::slice::from_ref(profile))?;
    // One profile in, one choice out.
    Ok(out.remove(0))
}

/// NAB's exhaustive threshold optimiser, for each profile.
///
/// Candidates are 1.1 (no detection) and every distinct finite anomaly score among the
/// scorable rows of all files; the best raw score wins, the larger threshold on a tie. All
/// scorable rows are pooled and sorted once, descending; each profile is then one O(rows)
/// sweep that keeps a running maximum per window and a running sum of false-positive weights,
/// and records the total after all rows sharing a score are consumed. O(N log N) overall
/// instead of O(N) per candidate.
///
/// # Errors
///
/// [`EvalError::Mismatch`] when a corpus file has no result or a different row count.
pub fn optimize_thresholds(
    corpus: &Corpus,
    results: &ResultsSet,
    profiles: &[Profile],
) -> Result<Vec<ThresholdChoice>, EvalError> {
    let aligned = results.aligned(corpus)?;
    // Pool (score, global window index or NONE, unit weight) over every scorable row.
    const NONE: u32 = u32::MAX;
    let mut rows: Vec<(f64, u32, f64)> = Vec::new();
    let mut window_base = 0usize;
    for (f, scores) in corpus.files().iter().zip(&aligned) {
        for_each_slot(f, |i, slot| {
            let a = scores[i];
            if a.is_nan() {
                return; // NaN never detects, at any threshold.
            }
            rows.push(match slot {
                Slot::Window { index, unit } => (a, (window_base + index) as u32, unit),
                Slot::Outside { unit } => (a, NONE, unit),
            });
        });
        window_base += f.windows().len();
    }
    rows.par_sort_unstable_by(|x, y| y.0.total_cmp(&x.0));
    let mut candidates: Vec<f64> = rows.iter().map(|r| r.0).collect();
    candidates.push(NO_DETECTION_THRESHOLD);
    candidates.sort_unstable_by(|x, y| y.total_cmp(x));
    candidates.dedup();

    let windows = corpus.window_count();
    Ok(profiles
        .par_iter()
        .map(|profile| {
            let mut best_in_window = vec![f64::NEG_INFINITY; windows];
            // Every window starts as a miss.
            let mut total = -profile.fn_weight * windows as f64;
            let mut k = 0;
            let mut best = (f64::NEG_INFINITY, NO_DETECTION_THRESHOLD);
            for &theta in &candidates {
                while k < rows.len() && rows[k].0 >= theta {
                    let (_, window, unit) = rows[k];
                    if window == NONE {
                        total += unit * profile.fp_weight;
                    } else {
                        let w = window as usize;
                        let v = unit * profile.tp_weight;
                        let old = best_in_window[w];
                        if v > old {
                            let old = if old.is_finite() {
                                old
                            } else {
                                -profile.fn_weight
                            };
                            total += v - old;
                            best_in_window[w] = v;
                        }
                    }
                    k += 1;
                }
                // Strictly greater: candidates go down, so ties keep the larger threshold.
                if total > best.0 {
                    best = (total, theta);
                }
            }
            ThresholdChoice {
                profile: profile.name.clone(),
                threshold: best.1,
                raw: best.0,
                normalized: normalize(best.0, profile, windows),
            }
        })
        .collect())
}

/// How the corpus-wide threshold of each profile is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum ThresholdMode {
    /// The best threshold per profile ([`optimize_thresholds`]): what current NAB code does
    /// for a new detector.
    Optimize,
    /// One threshold for every profile.
    Fixed(f64),
    /// The thresholds of `config/thresholds.json` for `detector`: how the official numbers
    /// were computed.
    FromConfig {
        /// The file's content.
        thresholds: Thresholds,
        /// The detector's name in it (`numenta`, ...).
        detector: String,
    },
}

/// Scores `results` under every profile, choosing each threshold as `mode` says.
///
/// # Errors
///
/// [`EvalError::Mismatch`] when results and corpus differ; [`EvalError::Unknown`] when
/// `mode` names a detector/profile pair the thresholds lack.
pub fn evaluate(
    corpus: &Corpus,
    results: &ResultsSet,
    profiles: &Profiles,
    mode: &ThresholdMode,
) -> Result<Vec<ScoreReport>, EvalError> {
    let thresholds: Vec<f64> = match mode {
        ThresholdMode::Optimize => optimize_thresholds(corpus, results, profiles.as_slice())?
            .into_iter()
            .map(|c| c.threshold)
            .collect(),
        ThresholdMode::Fixed(t) => vec![*t; profiles.as_slice().len()],
        ThresholdMode::FromConfig {
            thresholds,
            detector,
        } => profiles
            .iter()
            .map(|p| thresholds.get(detector, &p.name))
            .collect::<Result<_, _>>()?,
    };
    profiles
        .iter()
        .zip(thresholds)
        .map(|(p, t)| score_results(corpus, results, p, t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileResult, Window};

    #[test]
    fn sigmoid_reference_values() {
        // FORMAT.md section 3.
        let cases = [
            (-1.0, 0.986614298151431),
            (-0.5, 0.848283639957513),
            (0.0, 0.0),
            (1.0 / 3.0, -0.682261790238170),
            (1.0, -0.986614298151430),
            (3.5, -1.0),
        ];
        for (y, want) in cases {
            assert!((scaled_sigmoid(y) - want).abs() < 1e-14, "y = {y}");
        }
    }

    /// FORMAT.md's tiny synthetic case: n = 100, one window 40..=49, detections at rows 10,
    /// 30, 45, 47, 52 and 90 (score 1.0), threshold 1.0.
    fn tiny() -> (Corpus, ResultsSet) {
        let n = 100;
        let file = CorpusFile::new(
            "synthetic/tiny.csv",
            (0..n as i64).collect(),
            vec![0.0; n],
            vec![Window { start: 40, end: 49 }],
        )
        .unwrap();
        let mut scores = vec![0.0; n];
        for i in [10, 30, 45, 47, 52, 90] {
            scores[i] = 1.0;
        }
        let results = [(
            "synthetic/tiny.csv".to_owned(),
            FileResult::new((0..n as i64).collect(), scores),
        )]
        .into_iter()
        .collect();
        (Corpus::from_files(vec![file]), results)
    }

    #[test]
    fn tiny_synthetic_case_matches_format_md() {
        let (corpus, results) = tiny();
        let cases = [
            (Profile::standard(), 0.564743769984, -1.0),
            (Profile::reward_low_fp_rate(), 0.269694973057, -1.0),
            (Profile::reward_low_fn_rate(), 0.564743769984, -2.0),
        ];
        for (profile, want, want_none) in cases {
            let r = score_results(&corpus, &results, &profile, 1.0).unwrap();
            assert!((r.raw - want).abs() < 1e-11, "{}: {}", profile.name, r.raw);
            let counts = r.per_file[0].counts;
            assert_eq!(
                (counts.true_pos, counts.false_pos),
                (2, 3),
                "{}",
                profile.name
            );
            let none = score_results(&corpus, &results, &profile, 1.1).unwrap();
            assert_eq!(none.raw, want_none, "{}", profile.name);
            assert_eq!(none.normalized, Some(0.0));
        }
    }

    #[test]
    fn sweep_finds_the_best_and_prefers_larger_thresholds() {
        let (corpus, mut results) = tiny();
        // Only the 1.0s and zeros: detecting at 1.0 beats never alarming.
        let c = optimize_threshold(&corpus, &results, &Profile::standard()).unwrap();
        assert_eq!(c.threshold, 1.0);
        assert!((c.raw - 0.564743769984).abs() < 1e-11);
        // A perfect detector: 0.9 at the window's first row only.
        let mut scores = vec![0.0; 100];
        scores[40] = 0.9;
        results.insert(
            "synthetic/tiny.csv",
            FileResult::new((0..100).collect(), scores),
        );
        for profile in Profiles::nab().iter() {
            let c = optimize_threshold(&corpus, &results, profile).unwrap();
            assert_eq!(c.threshold, 0.9, "{}", profile.name);
            assert_eq!(c.normalized, Some(100.0), "{}", profile.name);
        }
        // All zeros: detecting everything is worse than nothing, so 1.1 wins the tie-free case.
        results.insert(
            "synthetic/tiny.csv",
            FileResult::new((0..100).collect(), vec![0.0; 100]),
        );
        let c = optimize_threshold(&corpus, &results, &Profile::standard()).unwrap();
        assert_eq!((c.threshold, c.raw), (NO_DETECTION_THRESHOLD, -1.0));
    }

    #[test]
    fn results_must_match_the_corpus() {
        let (corpus, _) = tiny();
        let short: ResultsSet = [(
            "synthetic/tiny.csv".to_owned(),
            FileResult::new(vec![0], vec![0.0]),
        )]
        .into_iter()
        .collect();
        let cases = [("missing file", ResultsSet::new()), ("short file", short)];
        for (name, results) in cases {
            let err = score_results(&corpus, &results, &Profile::standard(), 0.5);
            assert!(matches!(err, Err(EvalError::Mismatch { .. })), "{name}");
        }
    }
}
