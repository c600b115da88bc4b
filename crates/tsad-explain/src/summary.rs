//! Compact facts about a whole run and an event's neighbourhood: what a prompt may carry
//! instead of the raw series.

use crate::evidence::EvidenceContext;
use serde::{Deserialize, Serialize};
use tsad_core::stats::quantile;
use tsad_core::{Direction, Event, TimeAxis};

/// Events listed in a summary, at most (the highest peak scores, shown in time order).
const MAX_EVENTS_LISTED: usize = 20;

/// The run in a few numbers: size, time span, value distribution, detector and events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesSummary {
    /// Points in the series.
    pub points: usize,
    /// What the times mean.
    pub time_axis: TimeAxis,
    /// First time.
    pub start_time: Option<i64>,
    /// Last time.
    pub end_time: Option<i64>,
    /// Median step between times.
    pub step: Option<i64>,
    /// Missing values.
    pub missing: usize,
    /// Smallest value.
    pub min: Option<f64>,
    /// 5th percentile.
    pub p05: Option<f64>,
    /// Median.
    pub median: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// The period in points found by the detector, if any.
    pub period: Option<usize>,
    /// The detector kind, if named.
    pub detector: Option<String>,
    /// The threshold's cut-off score.
    pub threshold: Option<f64>,
    /// Events in the run.
    pub event_count: usize,
    /// The events with the highest peak scores (at most 20), in time order.
    pub events: Vec<EventBrief>,
}

/// One event in a summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBrief {
    /// 0-based index of the event in the run (the API's `n`).
    pub index: usize,
    /// Time of its first point.
    pub start_time: i64,
    /// Time of its last point.
    pub end_time: i64,
    /// Points from start to end.
    pub points: usize,
    /// Up, down or unknown.
    pub direction: Direction,
    /// Value at the peak.
    pub actual: Option<f64>,
    /// Expected value at the peak.
    pub expected: Option<f64>,
    /// Score at the peak.
    pub peak_score: Option<f64>,
}

/// One point near an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeighbourPoint {
    /// Its time.
    pub time: i64,
    /// Its value.
    pub value: Option<f64>,
    /// The model's expected value.
    pub expected: Option<f64>,
    /// Whether it was flagged.
    pub flagged: Option<bool>,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// The index of the event with the highest peak score, if any.
pub fn largest_event(events: &[Event]) -> Option<usize> {
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.peak_score.is_finite())
        .max_by(|a, b| a.1.peak_score.total_cmp(&b.1.peak_score))
        .map(|(i, _)| i)
        .or(if events.is_empty() { None } else { Some(0) })
}

impl EvidenceContext<'_> {
    /// The run in a few numbers, listing the (at most 20) events with the highest scores.
    pub fn summary(&self, events: &[Event]) -> SeriesSummary {
        let series = self.series();
        let values = series.values();
        let ts = series.timestamps();
        let mut top: Vec<usize> = (0..events.len()).collect();
        top.sort_by(|&a, &b| events[b].peak_score.total_cmp(&events[a].peak_score));
        top.truncate(MAX_EVENTS_LISTED);
        top.sort_unstable();
        SeriesSummary {
            points: series.len(),
            time_axis: series.axis(),
            start_time: ts.first().copied(),
            end_time: ts.last().copied(),
            step: self.step(),
            missing: series.missing(),
            min: quantile(values, 0.0),
            p05: quantile(values, 0.05),
            median: quantile(values, 0.5),
            p95: quantile(values, 0.95),
            max: quantile(values, 1.0),
            period: self.period(),
            detector: self.detector().map(str::to_owned),
            threshold: self.threshold(),
            event_count: events.len(),
            events: top
                .into_iter()
                .map(|i| {
                    let e = &events[i];
                    EventBrief {
                        index: i,
                        start_time: e.start_time,
                        end_time: e.end_time,
                        points: e.end.saturating_sub(e.start) + 1,
                        direction: e.direction,
                        actual: finite(e.actual),
                        expected: e.expected.and_then(finite),
                        peak_score: finite(e.peak_score),
                    }
                })
                .collect(),
        }
    }

    /// At most `max_points` points around `event` (the event and as many points on each side),
    /// evenly thinned when there are more, the peak always kept.
    pub fn neighbourhood(&self, event: &Event, max_points: usize) -> Vec<NeighbourPoint> {
        let series = self.series();
        let n = series.len();
        if n == 0 || max_points == 0 || event.end >= n {
            return Vec::new();
        }
        let len = event.end - event.start + 1;
        let lo = event.start.saturating_sub(len.max(10));
        let hi = (event.end + len.max(10)).min(n - 1);
        let total = hi - lo + 1;
        let stride = total.div_ceil(max_points).max(1);
        let mut idx: Vec<usize> = (lo..=hi).step_by(stride).collect();
        if !idx.contains(&event.peak) {
            idx.push(event.peak);
            idx.sort_unstable();
        }
        let expected = self.scores().expected.as_ref();
        idx.into_iter()
            .map(|i| NeighbourPoint {
                time: series.timestamps()[i],
                value: finite(series.values()[i]),
                expected: expected.and_then(|e| finite(e[i])),
                flagged: self.flag(i),
            })
            .collect()
    }
}
