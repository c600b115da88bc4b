//! Why a detection kept no event, and the nearest setting that would show one: the answer a
//! user gets instead of an empty table (CLI, API and UI phrase it each in their own terms).

use serde::Serialize;
use tsad_core::{Cut, Event, Scale, Scores, Series};

/// Below this rarity the rarest point is as common as one point in three of normal data:
/// every point scores about alike.
const ALIKE: f64 = 0.5;
/// Below this rarity (one point in ten) no `auto` threshold reaches it: nothing stands out.
const COMMON: f64 = 1.0;

/// What [`quiet`] found: why nothing was kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Quiet {
    /// Points passed the cut-off, but the event stage (minimum length, pruning, the routine
    /// rule) dropped every event they formed.
    EventsDropped {
        /// Whether the routine rule set some of them aside.
        routine: bool,
    },
    /// No point stands out: the rarest is as common as one point in ten of normal data (or
    /// the scores are all alike), so no threshold worth having would flag it.
    NothingStandsOut {
        /// The rarest point.
        index: usize,
        /// Its time, on the series' time axis (the row number for a series without time).
        time: i64,
        /// Its rarity.
        rarity: f64,
    },
    /// The rarest point lies below the cut-off.
    BelowCut {
        /// The rarest point (the highest score on the threshold's scale).
        index: usize,
        /// Its time, on the series' time axis (the row number for a series without time).
        time: i64,
        /// Its rarity, when the scores were calibrated and the cut is on that scale.
        #[serde(skip_serializing_if = "Option::is_none")]
        rarity: Option<f64>,
        /// Its raw score.
        score: f64,
        /// The loosest round `auto` rate that flags points about that rare: one false alarm
        /// per this many points of normal data (a power of ten); with a rarity only.
        #[serde(skip_serializing_if = "Option::is_none")]
        every: Option<f64>,
    },
}

/// Why `events` is empty, from `series`' scores and the cut that produced it; `None` when there
/// are events, or no finite score at all (the detector abstained everywhere, which its report
/// says).
pub fn quiet(series: &Series, scores: &Scores, cut: &Cut, events: &[Event]) -> Option<Quiet> {
    if !events.is_empty() {
        return None;
    }
    let rarity = scores
        .rarity
        .as_deref()
        .filter(|_| cut.scale == Scale::Rarity);
    let values = rarity.unwrap_or(&scores.score);
    let (index, &top) = values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    if top > cut.value {
        return Some(Quiet::EventsDropped {
            routine: !cut.routine.is_empty(),
        });
    }
    let time = series.timestamps()[index];
    Some(match rarity {
        Some(_) if top < COMMON => Quiet::NothingStandsOut {
            index,
            time,
            rarity: top,
        },
        Some(_) => Quiet::BelowCut {
            index,
            time,
            rarity: Some(top),
            score: scores.score[index],
            every: Some(10f64.powf(top.floor().max(1.0))),
        },
        None => Quiet::BelowCut {
            index,
            time,
            rarity: None,
            score: top,
            every: None,
        },
    })
}

impl Quiet {
    /// Whether every point scores about alike (the rarest is as common as one in three).
    pub fn all_alike(&self) -> bool {
        matches!(self, Quiet::NothingStandsOut { rarity, .. } if *rarity < ALIKE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(raw: &[f64], rarity: &[f64]) -> Scores {
        let mut s = Scores::new(raw.to_vec());
        s.rarity = Some(rarity.to_vec());
        s
    }

    /// Row-numbered, so each point's time is its index.
    fn rows(n: usize) -> Series {
        Series::from_values(vec![0.0; n]).unwrap()
    }

    fn cut(value: f64, scale: Scale) -> Cut {
        Cut {
            value,
            scale,
            flags: Vec::new(),
            routine: Vec::new(),
        }
    }

    #[test]
    fn the_rarest_point_below_the_cut_is_named_with_the_rate_that_reaches_it() {
        let s = scores(&[0.1, 9.0, f64::NAN, 2.0], &[0.2, 3.6, f64::NAN, 1.1]);
        assert_eq!(
            quiet(&rows(s.len()), &s, &cut(5.0, Scale::Rarity), &[]),
            Some(Quiet::BelowCut {
                index: 1,
                time: 1,
                rarity: Some(3.6),
                score: 9.0,
                every: Some(1000.0)
            })
        );
        // On the raw scale the highest raw score is named, without a rate.
        assert_eq!(
            quiet(&rows(s.len()), &s, &cut(10.0, Scale::Raw), &[]),
            Some(Quiet::BelowCut {
                index: 1,
                time: 1,
                rarity: None,
                score: 9.0,
                every: None
            })
        );
    }

    #[test]
    fn common_or_alike_scores_stand_out_nowhere() {
        let s = scores(&[1.0, 1.1], &[0.3, 0.8]);
        let q = quiet(&rows(s.len()), &s, &cut(5.0, Scale::Rarity), &[]).unwrap();
        assert_eq!(
            q,
            Quiet::NothingStandsOut {
                index: 1,
                time: 1,
                rarity: 0.8
            }
        );
        assert!(!q.all_alike());
        let s = scores(&[1.0, 1.0], &[0.3, 0.3]);
        assert!(
            quiet(&rows(s.len()), &s, &cut(5.0, Scale::Rarity), &[])
                .unwrap()
                .all_alike()
        );
    }

    #[test]
    fn points_past_the_cut_mean_the_event_stage_dropped_them() {
        let s = scores(&[0.1, 9.0], &[0.2, 6.0]);
        assert_eq!(
            quiet(&rows(s.len()), &s, &cut(5.0, Scale::Rarity), &[]),
            Some(Quiet::EventsDropped { routine: false })
        );
    }

    #[test]
    fn nothing_to_say_with_events_or_without_any_score() {
        let s = scores(&[f64::NAN], &[f64::NAN]);
        assert_eq!(
            quiet(&rows(s.len()), &s, &cut(5.0, Scale::Rarity), &[]),
            None
        );
    }
}
