//! Merging flagged points into events: periods with a peak, a direction and member shares.

use crate::{Cut, Scores, Series};
use serde::{Deserialize, Serialize};

/// Which way the series moved at an event's peak, relative to what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Above the expected value.
    Up,
    /// Below the expected value.
    Down,
    /// The detector has no expected value (or the value was missing).
    Unknown,
}

/// One member's share of an event, for ensembles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberShare {
    /// The member's name.
    pub name: String,
    /// Its share in [0, 1]; the shares of an event sum to 1 (or are all 0).
    pub share: f64,
}

/// A period of flagged points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Index of the first flagged point.
    pub start: usize,
    /// Index of the last flagged point (inclusive).
    pub end: usize,
    /// Timestamp of `start`.
    pub start_time: i64,
    /// Timestamp of `end`.
    pub end_time: i64,
    /// Index of the highest score in the event.
    pub peak: usize,
    /// Timestamp of `peak`.
    pub peak_time: i64,
    /// The score at the peak.
    pub peak_score: f64,
    /// `peak_score / threshold` when the threshold is positive: how far past the line it went.
    pub severity: f64,
    /// Flagged points inside the event.
    pub flagged: usize,
    /// Up or down relative to the expected value at the peak.
    pub direction: Direction,
    /// The value at the peak (NaN when missing).
    pub actual: f64,
    /// The model's expected value at the peak, if it has one.
    pub expected: Option<f64>,
    /// Each ensemble member's share of the event's evidence (empty for single detectors).
    pub members: Vec<MemberShare>,
}

/// How flagged points merge into events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventOptions {
    /// Flagged points separated by at most this many unflagged points belong to one event.
    /// Default 2, so one anomaly whose score dips for a point is not split in two.
    pub merge_gap: usize,
}

impl Default for EventOptions {
    fn default() -> Self {
        EventOptions { merge_gap: 2 }
    }
}

/// Merges the flags of `cut` into events.
///
/// `scores` must be index-aligned with `series` (as every detector returns them).
pub fn events(series: &Series, scores: &Scores, cut: &Cut, options: &EventOptions) -> Vec<Event> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = cut.flags.len().min(series.len());
    while i < n {
        if !cut.flags[i] {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i;
        let mut j = i + 1;
        while j < n && j - end <= options.merge_gap + 1 {
            if cut.flags[j] {
                end = j;
            }
            j += 1;
        }
        out.push(build(series, scores, cut, start, end));
        i = end + 1;
    }
    out
}

fn build(series: &Series, scores: &Scores, cut: &Cut, start: usize, end: usize) -> Event {
    let ts = series.timestamps();
    let peak = (start..=end)
        .filter(|&k| cut.flags[k])
        .max_by(|&a, &b| scores.score[a].total_cmp(&scores.score[b]))
        .unwrap_or(start); // the range holds at least `start`, which is flagged
    let actual = series.values()[peak];
    let expected = scores
        .expected
        .as_ref()
        .map(|e| e[peak])
        .filter(|e| e.is_finite());
    let direction = match expected {
        Some(e) if actual > e => Direction::Up,
        Some(e) if actual < e => Direction::Down,
        _ => Direction::Unknown,
    };
    let peak_score = scores.score[peak];
    let weights: Vec<f64> = scores
        .members
        .iter()
        .map(|m| {
            (start..=end)
                .map(|k| m.normalized[k])
                .filter(|x| x.is_finite() && *x > 0.0)
                // Not `sum()`: an empty f64 sum is -0.0, shown as "-0%".
                .fold(0.0, |acc, x| acc + x)
        })
        .collect();
    let total: f64 = weights.iter().sum();
    let members = scores
        .members
        .iter()
        .zip(&weights)
        .map(|(m, w)| MemberShare {
            name: m.name.clone(),
            share: if total > 0.0 { w / total } else { 0.0 },
        })
        .collect();
    Event {
        start,
        end,
        start_time: ts[start],
        end_time: ts[end],
        peak,
        peak_time: ts[peak],
        peak_score,
        severity: if cut.value > 0.0 && cut.value.is_finite() {
            peak_score / cut.value
        } else {
            f64::NAN
        },
        flagged: (start..=end).filter(|&k| cut.flags[k]).count(),
        direction,
        actual,
        expected,
        members,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemberScores;

    fn cut(flags: &[u8]) -> Cut {
        Cut {
            value: 1.0,
            flags: flags.iter().map(|f| *f == 1).collect(),
        }
    }

    #[test]
    fn merging_follows_the_gap_rule() {
        let series = Series::from_values(vec![0.0; 12]).unwrap();
        let scores = Scores::new((0..12).map(|i| i as f64).collect());
        type Case = (&'static str, &'static [u8], usize, Vec<(usize, usize)>);
        let cases: &[Case] = &[
            ("none", &[0; 12], 2, vec![]),
            (
                "adjacent",
                &[0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                0,
                vec![(1, 2)],
            ),
            (
                "gap of two merges",
                &[1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1],
                2,
                vec![(0, 3), (11, 11)],
            ),
            (
                "gap of three splits",
                &[1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
                2,
                vec![(0, 0), (4, 4)],
            ),
        ];
        for (name, flags, gap, want) in cases {
            let got: Vec<(usize, usize)> = events(
                &series,
                &scores,
                &cut(flags),
                &EventOptions { merge_gap: *gap },
            )
            .iter()
            .map(|e| (e.start, e.end))
            .collect();
            assert_eq!(&got, want, "{name}");
        }
    }

    #[test]
    fn peak_direction_and_shares() {
        let series = Series::from_values(vec![0.0, 5.0, -9.0, 0.0]).unwrap();
        let scores = Scores {
            members: vec![
                MemberScores {
                    name: "a".into(),
                    kind: "mad".into(),
                    normalized: vec![0.0, 3.0, 1.0, 0.0],
                    raw: vec![0.0; 4],
                },
                MemberScores {
                    name: "b".into(),
                    kind: "zscore".into(),
                    normalized: vec![0.0, 1.0, -2.0, 0.0],
                    raw: vec![0.0; 4],
                },
            ],
            ..Scores::new(vec![0.0, 2.0, 4.0, 0.0]).with_expected(vec![0.0; 4])
        };
        let e = &events(
            &series,
            &scores,
            &cut(&[0, 1, 1, 0]),
            &EventOptions::default(),
        )[0];
        assert_eq!(
            (e.peak, e.direction, e.actual, e.severity),
            (2, Direction::Down, -9.0, 4.0)
        );
        assert_eq!(e.members[0].share, 0.8);
        assert_eq!(e.members[1].share, 0.2);
    }

    /// A member with nothing positive in an event (one that abstained: all NaN) gets a share
    /// of +0, which prints as "0%", not "-0%".
    #[test]
    fn a_silent_member_has_a_positive_zero_share() {
        let series = Series::from_values(vec![0.0, 5.0, 0.0]).unwrap();
        let member = |name: &str, normalized: Vec<f64>| MemberScores {
            name: name.into(),
            kind: "mad".into(),
            normalized,
            raw: vec![0.0; 3],
        };
        let scores = Scores {
            members: vec![
                member("a", vec![0.0, 3.0, 0.0]),
                member("silent", vec![f64::NAN; 3]),
            ],
            ..Scores::new(vec![0.0, 3.0, 0.0])
        };
        let e = &events(&series, &scores, &cut(&[0, 1, 0]), &EventOptions::default())[0];
        assert!(e.members[1].share.is_sign_positive());
        assert_eq!(format!("{:.0}%", e.members[1].share * 100.0), "0%");
    }
}
