//! Many series through one spec: a pool of threads takes the series one at a time, each
//! result is handed back in the input's order as soon as the ones before it are done, and a
//! [`FleetSummary`] ranks the series by their worst event.
//!
//! Memory is bounded by the series in flight (one per thread, plus finished results waiting
//! for a slower one before them), not by their number, as long as each result is small: the
//! caller's `work` turns a series' detection into what it will print and a
//! [`SeriesSummary`], and drops the scores.

use crate::Detection;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use tsad_core::{Series, TimeAxis};

/// Runs `work` on every job with `threads` threads (at least one) and hands the results to
/// `sink` in the jobs' order. `sink` runs on the calling thread; when it fails, no new job is
/// started, the running ones finish, and its error is returned.
///
/// # Errors
///
/// The first error of `sink`.
pub fn for_each_ordered<J, R, E>(
    jobs: Vec<J>,
    threads: usize,
    work: impl Fn(J) -> R + Sync,
    mut sink: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E>
where
    J: Send,
    R: Send,
{
    let threads = threads.clamp(1, jobs.len().max(1));
    let queue = Mutex::new(jobs.into_iter().enumerate());
    let stop = AtomicBool::new(false);
    // A short channel: workers wait rather than pile up results the sink has not taken.
    let (tx, rx) = mpsc::sync_channel::<(usize, R)>(threads * 2);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (tx, queue, stop, work) = (tx.clone(), &queue, &stop, &work);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    // A worker that panicked while holding the lock left the queue usable.
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                    let Some((i, job)) = next else { break };
                    if tx.send((i, work(job))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut waiting = BTreeMap::new();
        let mut next = 0;
        for (i, result) in rx {
            waiting.insert(i, result);
            while let Some(result) = waiting.remove(&next) {
                next += 1;
                if let Err(e) = sink(result) {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(())
    })
}

/// The worst event of a series, as the fleet ranking compares them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorstEvent {
    /// The calibrated rarity at its peak (`-log10` of the tail probability under the series'
    /// normal data), comparable across series; `None` for uncalibrated scores.
    pub rarity: Option<f64>,
    /// How far past the series' own cut-off the peak went.
    pub severity: f64,
    /// The event's first, peak and last timestamps (Unix ms, or row numbers).
    pub start_time: i64,
    /// See `start_time`.
    pub peak_time: i64,
    /// See `start_time`.
    pub end_time: i64,
}

impl WorstEvent {
    /// The most severe of `events`: the highest calibrated rarity, then the highest severity.
    pub fn of(events: &[tsad_core::Event]) -> Option<WorstEvent> {
        events
            .iter()
            .max_by(|a, b| {
                let key =
                    |e: &tsad_core::Event| (e.rarity.unwrap_or(f64::NEG_INFINITY), e.severity);
                key(a)
                    .partial_cmp(&key(b))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .map(|e| WorstEvent {
                rarity: e.rarity,
                severity: e.severity,
                start_time: e.start_time,
                peak_time: e.peak_time,
                end_time: e.end_time,
            })
    }
}

/// One series of a fleet, as its row in the ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesSummary {
    /// The series' name (its column, its id, or its file).
    pub name: String,
    /// Points scored (0 when the series failed).
    pub points: usize,
    /// What the event times count: Unix milliseconds, or row numbers.
    pub time_axis: TimeAxis,
    /// Events found.
    pub events: usize,
    /// Its most severe event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst: Option<WorstEvent>,
    /// Why the series could not be read or scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl SeriesSummary {
    /// The summary of the detection on `series`.
    pub fn of(name: &str, series: &Series, detection: &Detection) -> Self {
        let worst = WorstEvent::of(&detection.events);
        SeriesSummary {
            name: name.to_owned(),
            points: series.len(),
            time_axis: series.axis(),
            events: detection.events.len(),
            worst,
            error: None,
        }
    }

    /// The summary of a series that failed.
    pub fn failed(name: &str, error: String) -> Self {
        SeriesSummary {
            name: name.to_owned(),
            points: 0,
            time_axis: TimeAxis::Index,
            events: 0,
            worst: None,
            error: Some(error),
        }
    }

    /// The ranking key: rarity first (comparable across series), then severity.
    fn key(&self) -> (f64, f64) {
        match &self.worst {
            Some(w) => (w.rarity.unwrap_or(f64::NEG_INFINITY), w.severity),
            None => (f64::NEG_INFINITY, f64::NEG_INFINITY),
        }
    }
}

/// The fleet at a glance: counts, and the series ranked by their worst event.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FleetSummary {
    /// Series read (including those that failed).
    pub series: usize,
    /// Series with at least one event.
    pub with_events: usize,
    /// Series that could not be read or scored.
    pub failed: usize,
    /// Events in all series.
    pub events: usize,
    /// Points scored in all series.
    pub points: usize,
    /// Every series, most severe first: series with events by their worst event's rarity
    /// (then severity), then the quiet ones, then the failed ones, by name within each.
    pub ranking: Vec<SeriesSummary>,
}

impl FleetSummary {
    /// Counts one series in.
    pub fn add(&mut self, s: SeriesSummary) {
        self.series += 1;
        self.with_events += usize::from(s.events > 0);
        self.failed += usize::from(s.error.is_some());
        self.events += s.events;
        self.points += s.points;
        self.ranking.push(s);
    }

    /// Sorts the ranking, most severe first.
    pub fn rank(&mut self) {
        self.ranking.sort_by(|a, b| {
            let group = |s: &SeriesSummary| match (&s.error, s.events) {
                (Some(_), _) => 2,
                (None, 0) => 1,
                _ => 0,
            };
            group(a)
                .cmp(&group(b))
                .then_with(|| {
                    b.key()
                        .partial_cmp(&a.key())
                        .unwrap_or(std::cmp::Ordering::Equal)
                })
                .then_with(|| a.name.cmp(&b.name))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_order_whatever_finishes_first() {
        let jobs: Vec<u64> = (0..200).collect();
        let mut got = Vec::new();
        let r: Result<(), ()> = for_each_ordered(
            jobs,
            4,
            |j| {
                // Early jobs take longest, so later ones finish first.
                std::thread::sleep(std::time::Duration::from_micros((200 - j) * 20));
                j * 2
            },
            |r| {
                got.push(r);
                Ok(())
            },
        );
        assert_eq!(r, Ok(()));
        assert_eq!(got, (0..200).map(|j| j * 2).collect::<Vec<_>>());
    }

    #[test]
    fn a_failing_sink_stops_new_jobs_and_returns_its_error() {
        let started = std::sync::atomic::AtomicUsize::new(0);
        let r = for_each_ordered(
            (0..10_000).collect::<Vec<u32>>(),
            2,
            |j| {
                started.fetch_add(1, Ordering::Relaxed);
                j
            },
            |j| {
                if j == 3 {
                    Err(format!("stopped at {j}"))
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(r, Err("stopped at 3".to_owned()));
        assert!(started.load(Ordering::Relaxed) < 10_000);
    }

    #[test]
    fn a_joint_event_names_the_series_that_moved_together() {
        use tsad_core::{EventOptions, FitContext, Threshold};
        let n = 3000;
        let make = |k: usize, spike: f64| {
            let mut rng = tsad_testing::Rng::new(k as u64 + 1);
            let values: Vec<f64> = (0..n)
                .map(|i| 10.0 + rng.normal() + if i == 2000 { spike } else { 0.0 })
                .collect();
            Series::new((0..n as i64).map(|i| i * 60_000).collect(), values).unwrap()
        };
        let series = [make(0, 12.0), make(1, 0.0), make(2, -9.0), make(3, 0.0)];
        let spec = crate::parse_spec(&serde_json::json!({"kind": "mad"}))
            .unwrap()
            .0;
        let (t, o) = (Threshold::default(), EventOptions::default());
        let detections: Vec<Detection> = series
            .iter()
            .map(|s| crate::detect(s, &spec, &t, &o, &FitContext::new()).unwrap())
            .collect();
        let names = ["cpu", "mem", "disk", "net"];
        let inputs: Vec<JointInput<'_>> = (0..4)
            .map(|k| (names[k], &series[k], &detections[k]))
            .collect();
        let j = joint(&inputs, &t, &o).unwrap();
        assert_eq!((j.series, j.points), (4, n));
        // The most severe joint event is the shared one. Self-calibrated, 3,000-point series of
        // light-tailed noise add weak events of their own (three here, each one series at a
        // joint rarity of 5.1 to 5.6, against 13.8 for the shared one).
        let e = j.events.iter().find(|e| e.event.rank == 1).unwrap();
        assert_eq!(e.event.peak_time, 2000 * 60_000);
        assert!(j.events.len() <= 4, "{:?}", j.events);
        for weak in j.events.iter().filter(|w| w.event.rank > 1) {
            assert_eq!(weak.movers.len(), 1, "{weak:?}");
            assert!(weak.event.peak_score < 6.0, "{weak:?}");
        }
        let moved: Vec<&str> = e.movers.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(moved, ["cpu", "disk"]);
        assert!(e.movers[0].actual > e.movers[0].expected.unwrap() + 8.0);
        assert!(e.movers[1].actual < e.movers[1].expected.unwrap() - 6.0);
        // One series alone is not a joint score.
        assert!(joint(&inputs[..1], &t, &o).is_err());
    }

    #[test]
    fn no_jobs_is_fine() {
        let r: Result<(), ()> = for_each_ordered(Vec::<u8>::new(), 4, |j| j, |_| Err(()));
        assert_eq!(r, Ok(()));
    }

    fn summary(name: &str, events: usize, rarity: Option<f64>, error: bool) -> SeriesSummary {
        SeriesSummary {
            name: name.to_owned(),
            points: 10,
            time_axis: TimeAxis::Index,
            events,
            worst: (events > 0).then_some(WorstEvent {
                rarity,
                severity: 1.5,
                start_time: 0,
                peak_time: 0,
                end_time: 0,
            }),
            error: error.then(|| "too short".to_owned()),
        }
    }

    #[test]
    fn the_ranking_puts_the_rarest_worst_event_first_then_quiet_then_failed_series() {
        let mut f = FleetSummary::default();
        f.add(summary("quiet", 0, None, false));
        f.add(summary("broken", 0, None, true));
        f.add(summary("mild", 2, Some(5.0), false));
        f.add(summary("wild", 1, Some(9.0), false));
        f.add(summary("also-quiet", 0, None, false));
        f.rank();
        let order: Vec<&str> = f.ranking.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(order, ["wild", "mild", "also-quiet", "quiet", "broken"]);
        assert_eq!((f.series, f.with_events, f.failed, f.events), (5, 2, 1, 3));
    }
}

/// One series of a joint detection: its name, the series and its detection.
pub type JointInput<'a> = (&'a str, &'a Series, &'a Detection);

/// A series that moved in a joint event, at its own rarest point inside the event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mover {
    /// The series' name.
    pub name: String,
    /// Its calibrated rarity there.
    pub rarity: f64,
    /// When (Unix ms, or the row number).
    pub time: i64,
    /// Its value there (NaN when missing).
    pub actual: f64,
    /// What its detector expected there, if it has an expected value.
    pub expected: Option<f64>,
}

/// An event of the joint score, with the series that moved, rarest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JointEvent {
    /// The event on the joint score (its `peak_score` and `rarity` are the joint rarity).
    pub event: tsad_core::Event,
    /// The series whose own rarity inside the event passed the cut-off (or, when none did,
    /// the three rarest), rarest first.
    pub movers: Vec<Mover>,
}

/// Several series scored as one: at each time, the rarest series' calibrated rarity, less
/// `log10` of the number of series scored there (a Bonferroni correction: among 50 normal
/// series, one of them reaches rarity 3 fifty times as often as a given one does).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Joint {
    /// Series combined.
    pub series: usize,
    /// Distinct times (the union of the series' timestamps).
    pub points: usize,
    /// What the times count: Unix milliseconds, or row numbers.
    pub axis: TimeAxis,
    /// The cut-off on the joint rarity.
    pub cut: f64,
    /// The joint events in time order, ranked by severity.
    pub events: Vec<JointEvent>,
}

/// Combines the calibrated scores of several series (of one fleet, on one time axis) into a
/// joint score, thresholds it with `threshold` and forms events that name the series that
/// moved.
///
/// # Errors
///
/// [`crate::EngineError`] when `threshold` or `options` are invalid, fewer than two series
/// are given, or the series do not share a time axis.
pub fn joint(
    inputs: &[JointInput<'_>],
    threshold: &tsad_core::Threshold,
    options: &tsad_core::EventOptions,
) -> Result<Joint, crate::EngineError> {
    let invalid = |reason: &str| -> crate::EngineError {
        tsad_core::Error::invalid_parameter("joint", reason.to_owned()).into()
    };
    if inputs.len() < 2 {
        return Err(invalid(
            "a joint score needs at least two series that could be scored",
        ));
    }
    let axis = inputs[0].1.axis();
    if inputs.iter().any(|(_, s, _)| s.axis() != axis) {
        return Err(invalid(
            "some series have timestamps and others row numbers; a joint score needs one time \
             axis",
        ));
    }
    let mut times: Vec<i64> = inputs
        .iter()
        .flat_map(|(_, s, _)| s.timestamps().iter().copied())
        .collect();
    times.sort_unstable();
    times.dedup();
    // Each series' rarity at every joint time (NaN where it has no point).
    let n = times.len();
    let mut best = vec![f64::NAN; n];
    let mut scored = vec![0u32; n];
    for (_, s, d) in inputs {
        let Some(rarity) = &d.scores.rarity else {
            continue;
        };
        for (t, r) in s.timestamps().iter().zip(rarity) {
            if !r.is_finite() {
                continue;
            }
            let i = times.partition_point(|x| x < t);
            scored[i] += 1;
            if best[i].is_nan() || *r > best[i] {
                best[i] = *r;
            }
        }
    }
    let combined: Vec<f64> = best
        .iter()
        .zip(&scored)
        .map(|(r, &c)| match c {
            0 => f64::NAN,
            c => (r - f64::from(c).log10()).max(0.0),
        })
        .collect();
    let series = Series::with_axis(times, combined.clone(), axis)?;
    let mut scores = tsad_core::Scores::new(combined.clone());
    scores.rarity = Some(combined);
    let (cut, events) = crate::rethreshold(&series, &scores, threshold, options)?;
    let events = events
        .into_iter()
        .map(|event| {
            let movers = movers(inputs, &event, cut.value);
            JointEvent { event, movers }
        })
        .collect();
    Ok(Joint {
        series: inputs.len(),
        points: series.len(),
        axis,
        cut: cut.value,
        events,
    })
}

/// The series that moved inside `event`: those whose own rarity passed `cut` there, else the
/// three rarest.
fn movers(inputs: &[JointInput<'_>], event: &tsad_core::Event, cut: f64) -> Vec<Mover> {
    let mut all: Vec<Mover> = inputs
        .iter()
        .filter_map(|(name, s, d)| {
            let rarity = d.scores.rarity.as_ref()?;
            let ts = s.timestamps();
            let (a, b) = (
                ts.partition_point(|t| *t < event.start_time),
                ts.partition_point(|t| *t <= event.end_time),
            );
            let i = (a..b)
                .filter(|&i| rarity[i].is_finite())
                .max_by(|&i, &j| rarity[i].total_cmp(&rarity[j]))?;
            Some(Mover {
                name: (*name).to_owned(),
                rarity: rarity[i],
                time: ts[i],
                actual: s.values()[i],
                expected: d
                    .scores
                    .expected
                    .as_ref()
                    .map(|e| e[i])
                    .filter(|e| e.is_finite()),
            })
        })
        .collect();
    all.sort_by(|a, b| {
        b.rarity
            .total_cmp(&a.rarity)
            .then_with(|| a.name.cmp(&b.name))
    });
    let passed = all.iter().filter(|m| m.rarity > cut).count();
    all.truncate(if passed > 0 { passed } else { 3 });
    all
}
