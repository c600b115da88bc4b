//! Accuracy of 0/1 flags against a 0/1 label column: point and event precision, recall and F1,
//! and a NAB-style score with windows built around the labelled runs.

use crate::score::{normalize, score_file};
use crate::{CorpusFile, EvalError, Profile, Window, probationary_period};
use serde::Serialize;

/// Rows a flag may fall before an event's first row or after its last one and still detect
/// it (and still count as a correct alarm), in [`labeled_metrics`].
pub const DEFAULT_EVENT_TOLERANCE: usize = 5;

/// Precision, recall and F1 with the counts behind them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prf {
    /// Correct positives: flagged labelled points, or alarms that hit an event.
    pub true_pos: usize,
    /// Wrong positives: flagged unlabelled points, or alarms that hit no event.
    pub false_pos: usize,
    /// Misses: labelled points not flagged, or events without an alarm.
    pub false_neg: usize,
    /// `tp / (tp + fp)`; `None` when nothing was flagged.
    pub precision: Option<f64>,
    /// `tp / (tp + fn)`; `None` when nothing is labelled.
    pub recall: Option<f64>,
    /// Harmonic mean of precision and recall (0 when both are 0); `None` when either is.
    pub f1: Option<f64>,
}

impl Prf {
    fn new(true_pos: usize, false_pos: usize, false_neg: usize) -> Self {
        let ratio = |a: usize, b: usize| (a + b > 0).then(|| a as f64 / (a + b) as f64);
        let precision = ratio(true_pos, false_pos);
        let recall = ratio(true_pos, false_neg);
        let f1 = match (precision, recall) {
            (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
            (Some(_), Some(_)) => Some(0.0),
            _ => None,
        };
        Prf {
            true_pos,
            false_pos,
            false_neg,
            precision,
            recall,
            f1,
        }
    }
}

/// One labelled event (a run of consecutive labelled points) and whether it was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabeledEvent {
    /// First labelled row.
    pub start: usize,
    /// Last labelled row (inclusive).
    pub end: usize,
    /// Timestamp of the first row.
    pub start_time: i64,
    /// Timestamp of the last row.
    pub end_time: i64,
    /// The first flagged row within `[start - tolerance, end + tolerance]`, if any.
    pub first_flag: Option<usize>,
    /// Rows from `start` to `first_flag` (negative when the flag came early, within the
    /// tolerance).
    pub delay_rows: Option<i64>,
    /// The same delay in timestamp units (milliseconds for a time axis).
    pub delay_time: Option<i64>,
}

/// The NAB-style score of flags against labels (standard profile).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabeledNab {
    /// The windows built around the labelled runs (see [`labeled_metrics`]).
    pub windows: Vec<Window>,
    /// The raw NAB score.
    pub raw: f64,
    /// The 0-100 score (0 = never alarm, 100 = one alarm at each window's start); `None`
    /// when no window could be built.
    pub normalized: Option<f64>,
    /// Windows with at least one flag.
    pub detected_windows: usize,
    /// Flags outside every window (after the probationary period).
    pub false_positives: usize,
    /// The probationary period: rows that neither count as detections nor as misses.
    pub probation: usize,
}

/// All metrics of [`labeled_metrics`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabeledMetrics {
    /// Rows.
    pub points: usize,
    /// Per point: a flag on a labelled point is a true positive.
    pub point: Prf,
    /// Per event: recall counts labelled events with a flag within the tolerance; precision
    /// counts runs of consecutive flags (alarms) that touch an event within the tolerance.
    pub event: Prf,
    /// Alarms: runs of consecutive flags.
    pub alarms: usize,
    /// The tolerance used, in rows.
    pub tolerance: usize,
    /// Each labelled event.
    pub events: Vec<LabeledEvent>,
    /// The NAB-style score.
    pub nab: LabeledNab,
}

/// Runs of consecutive `true`, as inclusive row ranges.
fn runs(flags: &[bool]) -> Vec<Window> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &f) in flags.iter().enumerate() {
        match (f, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(Window {
                    start: s,
                    end: i - 1,
                });
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(Window {
            start: s,
            end: flags.len() - 1,
        });
    }
    out
}

/// Scores `flags` against `labels` with the [`DEFAULT_EVENT_TOLERANCE`].
///
/// See [`labeled_metrics_with`].
///
/// # Errors
///
/// As [`labeled_metrics_with`].
pub fn labeled_metrics(
    flags: &[bool],
    labels: &[bool],
    timestamps: &[i64],
) -> Result<LabeledMetrics, EvalError> {
    labeled_metrics_with(flags, labels, timestamps, DEFAULT_EVENT_TOLERANCE)
}

/// Scores `flags` against `labels`, both one per row; `timestamps` (one per row, or empty for
/// row numbers) only date the events and their detection delays.
///
/// - **Point** metrics compare row by row.
/// - **Event** metrics: an event is a run of consecutive labelled rows. It is detected when a
///   flag falls in `[start - tolerance, end + tolerance]`; an alarm (a run of consecutive
///   flags) is correct when it overlaps that widened range of some event. Detecting a long
///   event with one flag counts fully, as an operator would see it.
/// - **NAB-style**: with `k` events in `n` rows, each event's run is widened by
///   `floor(L/2)` rows on both sides, `L = floor(0.10 n / k)`, clipped to the series, and
///   overlapping windows are merged: NAB's own construction (FORMAT.md, "How the windows were
///   made") with runs in place of single points. The flags are then scored as detections with
///   NAB's standard profile and probationary period `min(floor(0.15 n), 750)`. One departure:
///   NAB deletes a window that starts inside the probationary period; here its start is moved
///   to the period's end instead (and a window entirely inside it is dropped), so an early
///   labelled anomaly still counts.
///
/// # Errors
///
/// [`EvalError::InvalidArgument`] when the lengths differ.
pub fn labeled_metrics_with(
    flags: &[bool],
    labels: &[bool],
    timestamps: &[i64],
    tolerance: usize,
) -> Result<LabeledMetrics, EvalError> {
    let n = labels.len();
    if flags.len() != n || !(timestamps.is_empty() || timestamps.len() == n) {
        return Err(EvalError::InvalidArgument {
            name: "flags",
            reason: format!(
                "{} flags, {} labels and {} timestamps: need one of each per row",
                flags.len(),
                n,
                timestamps.len()
            ),
        });
    }
    let time = |i: usize| timestamps.get(i).copied().unwrap_or(i as i64);

    let count = |f: bool, l: bool| {
        flags
            .iter()
            .zip(labels)
            .filter(|&(&a, &b)| a == f && b == l)
            .count()
    };
    let point = Prf::new(count(true, true), count(true, false), count(false, true));

    let label_runs = runs(labels);
    let alarms = runs(flags);
    let widen = |w: &Window| (w.start.saturating_sub(tolerance), w.end + tolerance);
    let events: Vec<LabeledEvent> = label_runs
        .iter()
        .map(|w| {
            let (lo, hi) = widen(w);
            let first_flag = (lo..=hi.min(n - 1)).find(|&i| flags[i]);
            LabeledEvent {
                start: w.start,
                end: w.end,
                start_time: time(w.start),
                end_time: time(w.end),
                first_flag,
                delay_rows: first_flag.map(|i| i as i64 - w.start as i64),
                delay_time: first_flag.map(|i| time(i) - time(w.start)),
            }
        })
        .collect();
    let detected = events.iter().filter(|e| e.first_flag.is_some()).count();
    let correct_alarms = alarms
        .iter()
        .filter(|a| {
            label_runs.iter().any(|w| {
                let (lo, hi) = widen(w);
                a.start <= hi && a.end >= lo
            })
        })
        .count();
    let event = Prf::new(
        detected,
        alarms.len() - correct_alarms,
        events.len() - detected,
    );

    Ok(LabeledMetrics {
        points: n,
        point,
        event,
        alarms: alarms.len(),
        tolerance,
        nab: nab_style(flags, &label_runs)?,
        events,
    })
}

fn nab_style(flags: &[bool], label_runs: &[Window]) -> Result<LabeledNab, EvalError> {
    let n = flags.len();
    let probation = probationary_period(n);
    let mut windows: Vec<Window> = Vec::new();
    if !label_runs.is_empty() {
        let half = (n / 10 / label_runs.len()) / 2;
        for w in label_runs {
            let start = w.start.saturating_sub(half).max(probation);
            let end = (w.end + half).min(n - 1);
            if end < start {
                continue; // entirely inside the probationary period
            }
            match windows.last_mut() {
                Some(last) if last.end >= start => last.end = last.end.max(end),
                _ => windows.push(Window { start, end }),
            }
        }
    }
    let scores: Vec<f64> = flags.iter().map(|&f| f64::from(u8::from(f))).collect();
    let file = CorpusFile::new("labeled", (0..n as i64).collect(), vec![0.0; n], windows)?;
    let profile = Profile::standard();
    let s = score_file(&file, &scores, &profile, 0.5)?;
    Ok(LabeledNab {
        raw: s.raw,
        normalized: normalize(s.raw, &profile, s.windows),
        detected_windows: s.detected_windows,
        false_positives: s.counts.false_pos,
        probation,
        windows: file.windows().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bools(s: &str) -> Vec<bool> {
        s.bytes().map(|b| b == b'1').collect()
    }

    #[test]
    fn runs_cases() {
        let w = |start, end| Window { start, end };
        let cases = [
            ("empty", "", vec![]),
            ("none", "000", vec![]),
            ("edges", "1001", vec![w(0, 0), w(3, 3)]),
            ("long", "0111010", vec![w(1, 3), w(5, 5)]),
        ];
        for (name, s, want) in cases {
            assert_eq!(runs(&bools(s)), want, "{name}");
        }
    }

    #[test]
    fn point_and_event_metrics() {
        // Two events (rows 20..=22 and 60..=61); one alarm inside the first, one two rows
        // after the second (within tolerance 5), one far from both.
        let n = 100;
        let mut labels = vec![false; n];
        labels[20..=22].fill(true);
        labels[60..=61].fill(true);
        let mut flags = vec![false; n];
        for i in [21, 63, 90] {
            flags[i] = true;
        }
        let ts: Vec<i64> = (0..n as i64).map(|i| i * 60_000).collect();
        let m = labeled_metrics(&flags, &labels, &ts).unwrap();
        assert_eq!(
            (m.point.true_pos, m.point.false_pos, m.point.false_neg),
            (1, 2, 4)
        );
        assert_eq!(m.point.precision, Some(1.0 / 3.0));
        assert_eq!(m.point.recall, Some(0.2));
        assert_eq!(
            (m.event.true_pos, m.event.false_pos, m.event.false_neg),
            (2, 1, 0)
        );
        assert_eq!(m.event.recall, Some(1.0));
        assert_eq!(m.events[1].delay_rows, Some(3));
        assert_eq!(m.events[1].delay_time, Some(180_000));
        // With no tolerance the late alarm misses.
        let strict = labeled_metrics_with(&flags, &labels, &ts, 0).unwrap();
        assert_eq!(strict.event.recall, Some(0.5));
        assert_eq!(strict.event.precision, Some(1.0 / 3.0));
    }

    #[test]
    fn undefined_ratios_are_none_and_lengths_are_checked() {
        let m = labeled_metrics(&[false; 10], &[false; 10], &[]).unwrap();
        assert_eq!(
            (m.point.precision, m.point.recall, m.point.f1),
            (None, None, None)
        );
        assert_eq!(m.nab.normalized, None);
        assert!(labeled_metrics(&[false; 3], &[false; 4], &[]).is_err());
        assert!(labeled_metrics(&[false; 4], &[false; 4], &[1, 2]).is_err());
    }

    #[test]
    fn nab_style_windows_and_score() {
        // n = 1000: P = 150; one event at rows 500..=504, L = 100, so the window is 450..=554.
        let n = 1000;
        let mut labels = vec![false; n];
        labels[500..=504].fill(true);
        let mut flags = vec![false; n];
        flags[450] = true;
        let m = labeled_metrics(&flags, &labels, &[]).unwrap();
        assert_eq!(
            m.nab.windows,
            vec![Window {
                start: 450,
                end: 554
            }]
        );
        assert_eq!(m.nab.normalized, Some(100.0));
        // A flag in the probationary period counts for nothing; the event is then missed.
        let mut early = vec![false; n];
        early[10] = true;
        assert_eq!(
            labeled_metrics(&early, &labels, &[])
                .unwrap()
                .nab
                .normalized,
            Some(0.0)
        );
        // An early event's window is clipped to the probationary period, not deleted.
        let mut labels = vec![false; n];
        labels[160] = true;
        let m = labeled_metrics(&flags, &labels, &[]).unwrap();
        assert_eq!(
            m.nab.windows,
            vec![Window {
                start: 150,
                end: 210
            }]
        );
    }
}
