//! Routine: events that come back at the same time of the hour, day or week, cycle after
//! cycle, are the series' habits (a nightly backup, a batch job on the hour), not alarms.
//!
//! The `auto` threshold promises about one false alarm per `every` points of normal data. A
//! spike that a cron job raises every night at 03:10 breaks that promise as often as it comes:
//! each one is rare against the day around it, so a decomposition or a rolling median flags it,
//! and with a few minutes of jitter from night to night no season of the values shows it (the
//! pulses do not line up at a fixed lag). NAB's two `ec2_cpu_utilization` files with such a job
//! raised 13 false events each at the defaults, one a night.
//!
//! So, once the flags of a rarity rule (`auto`, `sensitivity`; the raw rules flag exactly what
//! they say) have become events, [`set_aside`] looks at the peak times of the events and of
//! their near misses ([`NearMiss`]: the peaks of runs of points that came within two decades
//! of the cut-off without reaching it; for the hour and the day, not the week, which a series
//! covers few times) modulo an hour, a day and a week (only for a time axis, and only the
//! periods the series covers [`MIN_CYCLES`] times at 12 or more points a cycle).
//! Peaks that fall within a twenty-fourth of the period of each other (an hour of the day, 7
//! hours of the week, 2.5 minutes of the hour) in at least [`MIN_CYCLES`] different cycles, and
//! in at least half the cycles from the first to the last, are a routine, provided they are
//! three times as many as a twenty-fourth of the peaks would be at random times (when events
//! flood every hour, as a loose threshold makes them, no hour is a routine). The near misses
//! count because a job's spike is not equally strong every night: of a job that raised the
//! series by 12 noise deviations every night for 69 nights, the default cut took 25 nights,
//! scattered, too few for "half the cycles" on their own, while the other nights came within a
//! decade or two. Only events are set aside. A member that moved the series at least
//! [`EXCEPTION`] times as far as the routine's median member (near misses included; its
//! distance from the expected value, or its score when the detector has none) is the exception
//! of its routine and stays an event. What is set aside is reported ([`Routine`]), so nothing
//! disappears unexplained.

use crate::{Event, Series, TimeAxis, stats};
use serde::{Deserialize, Serialize};

/// Fewest cycles a routine recurs in.
pub const MIN_CYCLES: usize = 7;
/// How many times farther than the routine's median member an event must move the series to
/// stay an alarm.
pub const EXCEPTION: f64 = 1.5;
/// How many times its share of the events a routine's window must hold (a twenty-fourth of
/// them, were they at random times).
const CONCENTRATION: f64 = 3.0;
/// Fewest points per cycle for a period to be looked at.
const MIN_POINTS_PER_CYCLE: i64 = 12;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const WEEK_MS: i64 = 7 * DAY_MS;

/// The period a [`Routine`] recurs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Every hour.
    Hour,
    /// Every day.
    Day,
    /// Every week.
    Week,
}

impl Period {
    /// The period's length in milliseconds.
    pub fn millis(self) -> i64 {
        match self {
            Period::Hour => HOUR_MS,
            Period::Day => DAY_MS,
            Period::Week => WEEK_MS,
        }
    }
}

/// Events set aside as one routine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Routine {
    /// How often it recurs.
    pub period: Period,
    /// Events set aside.
    pub events: usize,
    /// The earliest and the latest set-aside peak, as timestamps.
    pub first_time: i64,
    /// See `first_time`.
    pub last_time: i64,
    /// Where in the period the set-aside peaks lie: milliseconds after the period's start (UTC
    /// midnight, Monday 00:00 UTC for weeks), from and to (`to` < `from` when the routine spans
    /// the period's end).
    pub phase_from: i64,
    /// See `phase_from`.
    pub phase_to: i64,
    /// In words: "13 events, every day between 03:05 and 03:45 UTC".
    pub summary: String,
    /// The set-aside events' peak times, in time order.
    pub peaks: Vec<i64>,
}

/// A near miss of the cut-off, which [`set_aside`] weighs beside the events: the peak of a run
/// of points that came close to the cut-off without any reaching it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearMiss {
    /// The peak's timestamp.
    pub peak_time: i64,
    /// How far the peak moved the series (as an event's: its distance from the expected value,
    /// or its score when the detector has none).
    pub movement: f64,
}

/// Removes the events that recur as a routine, with or without the near misses that
/// `near_misses` finds recurring beside them (see the [module docs](self)), and returns what
/// was removed, one [`Routine`] per recurring group (two nightly jobs at 03:00 and 15:00 are
/// two routines). Does nothing for a row-number axis, a series without events or one shorter
/// than [`MIN_CYCLES`] hours; only then are the near misses looked for.
pub fn set_aside(
    series: &Series,
    events: &mut Vec<Event>,
    near_misses: impl FnOnce() -> Vec<NearMiss>,
) -> Vec<Routine> {
    let ts = series.timestamps();
    if series.axis() != TimeAxis::EpochMillis || events.is_empty() || ts.len() < 2 {
        return Vec::new();
    }
    let span = ts[ts.len() - 1] - ts[0];
    if span < MIN_CYCLES as i64 * Period::Hour.millis() {
        return Vec::new();
    }
    let near_misses = near_misses();
    let peaks: Vec<i64> = events
        .iter()
        .map(|e| e.peak_time)
        .chain(near_misses.iter().map(|m| m.peak_time))
        .collect();
    if peaks.len() < MIN_CYCLES {
        return Vec::new();
    }
    // Peak `k` is event `k`, or near miss `k - events.len()`.
    let movements: Vec<f64> = events
        .iter()
        .map(movement)
        .chain(near_misses.iter().map(|m| m.movement))
        .collect();
    // The median step is a pass and a selection over every timestamp (2 ms at a million
    // points): taken only once a period has a recurring group to judge.
    let mut step = None;
    let mut set_aside = vec![false; events.len()];
    let mut out: Vec<Routine> = Vec::new();
    for period in [Period::Hour, Period::Day, Period::Week] {
        let p = period.millis();
        if span < MIN_CYCLES as i64 * p {
            continue;
        }
        // Only peaks within reach of an event's phase can share a window with one: the other
        // near misses (a series' scattered noise, up to thousands at a million points) are
        // left out of the search, but counted in the concentration they dilute.
        let arc = p / 24;
        let mut event_phases: Vec<i64> = peaks[..events.len()]
            .iter()
            .map(|t| t.rem_euclid(p))
            .collect();
        event_phases.sort_unstable();
        let near_an_event = |t: i64| {
            let phase = t.rem_euclid(p);
            let i = event_phases.partition_point(|&e| e < phase);
            let last = event_phases.len() - 1;
            [
                event_phases[i.min(last)],
                event_phases[i.checked_sub(1).unwrap_or(last)],
            ]
            .iter()
            .any(|&e| {
                let d = (e - phase).abs();
                d.min(p - d) <= arc
            })
        };
        // A week is judged by its events alone: a series covers few weeks (NAB's Twitter
        // files 8 or 9), and the near misses of a bursty series' busiest hours filled a
        // week's 7-hour windows by chance (`Twitter_volume_AAPL` at `zscore`: a "Tuesday
        // afternoon routine" took a labelled anomaly).
        let with_misses = period != Period::Week;
        let searched: Vec<usize> = (0..events.len())
            .chain((events.len()..peaks.len()).filter(|&k| with_misses && near_an_event(peaks[k])))
            .collect();
        let times: Vec<i64> = searched.iter().map(|&k| peaks[k]).collect();
        let total = if with_misses {
            peaks.len()
        } else {
            events.len()
        };
        let groups: Vec<Vec<usize>> = recurring(&times, p, total)
            .into_iter()
            .map(|g| g.into_iter().map(|k| searched[k]).collect())
            .collect();
        if groups.is_empty() {
            continue;
        }
        // Two timestamps at least (checked above), so there is a median step.
        let Some(step) = *step.get_or_insert_with(|| series.median_step()) else {
            break;
        };
        if p < MIN_POINTS_PER_CYCLE * step {
            continue;
        }
        for group in groups {
            let moves: Vec<f64> = group.iter().map(|&k| movements[k]).collect();
            let typical = stats::median(&moves);
            let mut removed = Vec::new();
            // Only the group's events are set aside; its near misses were never events.
            for &k in group.iter().filter(|&&k| k < events.len()) {
                let exception = typical.is_some_and(|t| movements[k] >= EXCEPTION * t);
                if !exception && !set_aside[k] {
                    set_aside[k] = true;
                    removed.push(peaks[k]);
                }
            }
            if !removed.is_empty() {
                out.push(describe(period, &removed));
            }
        }
    }
    let mut k = 0;
    events.retain(|_| {
        k += 1;
        !set_aside[k - 1]
    });
    out
}

/// The groups of peaks (indices into `peaks`, timestamps) that lie within a twenty-fourth of
/// `period` of each other in at least [`MIN_CYCLES`] cycles, covering at least half the cycles
/// they span, and at least [`CONCENTRATION`] times as many peaks as a twenty-fourth of `total`
/// (`peaks` and the others not searched) would hold if they fell at random times (a flood of
/// events at every hour is no routine). Overlapping windows that qualify form one group.
/// O(n log n) in the peaks.
fn recurring(peaks: &[i64], period: i64, total: usize) -> Vec<Vec<usize>> {
    let arc = period / 24;
    let n = peaks.len();
    let mut by_phase: Vec<(i64, usize)> = peaks
        .iter()
        .enumerate()
        .map(|(k, t)| (t.rem_euclid(period), k))
        .collect();
    by_phase.sort_unstable();
    // Around the circle: the phases again, one period later.
    let ring: Vec<(i64, usize)> = by_phase
        .iter()
        .copied()
        .chain(by_phase.iter().map(|&(p, k)| (p + period, k)))
        .collect();
    let cycle = |i: usize| peaks[ring[i].1].div_euclid(period);
    let dense = CONCENTRATION * total as f64 / 24.0;
    // The window is ring[a..b]: its cycles counted, their least and greatest by monotonic
    // queues of ring positions.
    let mut counts: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    let (mut low, mut high) = (
        std::collections::VecDeque::new(),
        std::collections::VecDeque::new(),
    );
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut b = 0;
    for a in 0..n {
        while b < a + n && ring[b].0 - ring[a].0 <= arc {
            let c = cycle(b);
            *counts.entry(c).or_insert(0) += 1;
            while low.back().is_some_and(|&i| cycle(i) >= c) {
                low.pop_back();
            }
            low.push_back(b);
            while high.back().is_some_and(|&i| cycle(i) <= c) {
                high.pop_back();
            }
            high.push_back(b);
            b += 1;
        }
        let distinct = counts.len();
        if let (Some(&lo), Some(&hi)) = (low.front(), high.front()) {
            let spanned = cycle(hi) - cycle(lo) + 1;
            if distinct >= MIN_CYCLES && 2 * distinct as i64 >= spanned && (b - a) as f64 >= dense {
                match spans.last_mut() {
                    Some(last) if a < last.1 => last.1 = last.1.max(b),
                    _ => spans.push((a, b)),
                }
            }
        }
        // ring[a] leaves the window.
        let c = cycle(a);
        if let Some(count) = counts.get_mut(&c) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&c);
            }
        }
        if low.front() == Some(&a) {
            low.pop_front();
        }
        if high.front() == Some(&a) {
            high.pop_front();
        }
    }
    let mut seen = vec![false; n];
    spans
        .into_iter()
        .map(|(a, b)| {
            ring[a..b]
                .iter()
                .map(|&(_, k)| k)
                .filter(|&k| !std::mem::replace(&mut seen[k], true))
                .collect::<Vec<usize>>()
        })
        .filter(|g| !g.is_empty())
        .collect()
}

/// How far an event moved the series: its peak's distance from the expected value, or its
/// score when there is no expected value.
fn movement(e: &Event) -> f64 {
    match e.expected {
        Some(x) if e.actual.is_finite() => (e.actual - x).abs(),
        _ => e.peak_score,
    }
}

/// The [`Routine`] of the set-aside `peaks` (not empty) of one period.
fn describe(period: Period, peaks: &[i64]) -> Routine {
    let p = period.millis();
    // Weeks are counted from Monday: the Unix epoch was a Thursday.
    let offset = if period == Period::Week {
        3 * DAY_MS
    } else {
        0
    };
    let mut phases: Vec<i64> = peaks.iter().map(|t| (t + offset).rem_euclid(p)).collect();
    phases.sort_unstable();
    // The arc that holds them all is the circle minus its widest empty gap.
    let n = phases.len();
    let (mut from, mut to) = (phases[0], phases[n - 1]);
    let mut widest = phases[0] + p - phases[n - 1];
    for w in phases.windows(2) {
        if w[1] - w[0] > widest {
            widest = w[1] - w[0];
            (from, to) = (w[1], w[0]);
        }
    }
    // One moment of the period, as the summary says it: "03:05", "Monday 03:05", "minute 10:00".
    let at = |ms: i64| match period {
        Period::Hour => clock(ms, false),
        Period::Day => clock(ms, true),
        Period::Week => format!("{} {}", weekday(ms), clock(ms % DAY_MS, true)),
    };
    let (first, last) = (at(from), at(to));
    let every = match period {
        Period::Hour => "every hour",
        Period::Day => "every day",
        Period::Week => "every week",
    };
    let minute = if period == Period::Hour {
        "minute "
    } else {
        ""
    };
    let zone = if period == Period::Hour { "" } else { " UTC" };
    let when = if first == last {
        format!("{every} at {minute}{first}{zone}")
    } else {
        format!("{every} between {minute}{first} and {last}{zone}")
    };
    let count = peaks.len();
    let mut in_time = peaks.to_vec();
    in_time.sort_unstable();
    Routine {
        period,
        events: count,
        first_time: in_time[0],
        last_time: in_time[in_time.len() - 1],
        phase_from: from,
        phase_to: to,
        summary: format!("{count} event{}, {when}", if count == 1 { "" } else { "s" }),
        peaks: in_time,
    }
}

/// `ms` into a day as `HH:MM`, or into an hour as `MM:SS`.
fn clock(ms: i64, day: bool) -> String {
    let s = ms / 1000;
    if day {
        format!("{:02}:{:02}", s / 3600, s / 60 % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

fn weekday(ms_into_week: i64) -> &'static str {
    const DAYS: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    DAYS[(ms_into_week / DAY_MS).clamp(0, 6) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Direction;

    const MIN5: i64 = 300_000;

    fn event(peak_time: i64, actual: f64) -> Event {
        Event {
            start: 0,
            end: 0,
            start_time: peak_time,
            end_time: peak_time,
            peak: 0,
            peak_time,
            peak_score: 10.0,
            rarity: None,
            severity: 1.0,
            rank: 0,
            flagged: 1,
            direction: Direction::Up,
            actual,
            expected: Some(0.0),
            members: Vec::new(),
            standout: false,
        }
    }

    /// Five-minute steps over `days` days from Monday 2024-01-01.
    fn series(days: i64) -> Series {
        let start = 1_704_067_200_000;
        let n = days * DAY_MS / MIN5;
        Series::new(
            (0..n).map(|i| start + i * MIN5).collect(),
            vec![0.0; n as usize],
        )
        .unwrap()
    }

    #[test]
    fn a_nightly_job_with_jitter_is_set_aside_and_described() {
        let s = series(14);
        let t0 = s.timestamps()[0];
        // Every night between 03:05 and 03:45, plus one spike in the afternoon.
        let mut events: Vec<Event> = (0..14)
            .map(|d| {
                event(
                    t0 + d * DAY_MS + 3 * HOUR_MS + (5 + (d * 17) % 40) * 60_000,
                    1.4,
                )
            })
            .collect();
        events.push(event(t0 + 9 * DAY_MS + 15 * HOUR_MS, 2.0));
        let routine = set_aside(&s, &mut events, Vec::new);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].peak_time, t0 + 9 * DAY_MS + 15 * HOUR_MS);
        assert_eq!(routine.len(), 1);
        let r = &routine[0];
        assert_eq!((r.period, r.events), (Period::Day, 14));
        assert_eq!(
            r.summary,
            "14 events, every day between 03:05 and 03:44 UTC"
        );
        let night = |d: i64, m: i64| t0 + d * DAY_MS + 3 * HOUR_MS + m * 60_000;
        assert_eq!((r.first_time, r.last_time), (night(0, 5), night(13, 26)));
        assert_eq!(r.peaks.len(), 14);
        assert!(r.peaks.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn two_jobs_a_night_are_two_routines() {
        let s = series(10);
        let t0 = s.timestamps()[0];
        let mut events: Vec<Event> = (0..10)
            .flat_map(|d| {
                let night = t0 + d * DAY_MS + 3 * HOUR_MS;
                [
                    event(night, 1.0),
                    event(night + 12 * HOUR_MS + 5 * 60_000, 1.0),
                ]
            })
            .collect();
        let routine = set_aside(&s, &mut events, Vec::new);
        assert!(events.is_empty(), "{events:?}");
        let mut said: Vec<&str> = routine.iter().map(|r| r.summary.as_str()).collect();
        said.sort_unstable();
        assert_eq!(
            said,
            [
                "10 events, every day at 03:00 UTC",
                "10 events, every day at 15:05 UTC"
            ]
        );
    }

    #[test]
    fn a_job_on_the_hour_is_an_hourly_routine() {
        let s = series(2);
        let t0 = s.timestamps()[0];
        let mut events: Vec<Event> = (0..10)
            .map(|h| event(t0 + h * HOUR_MS + 5 * 60_000 + (h % 3) * 30_000, 1.0))
            .collect();
        let routine = set_aside(&s, &mut events, Vec::new);
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(routine[0].period, Period::Hour);
        assert_eq!(
            routine[0].summary,
            "10 events, every hour between minute 05:00 and 06:00"
        );
    }

    #[test]
    fn the_exception_of_a_routine_stays_an_alarm() {
        let s = series(10);
        let t0 = s.timestamps()[0];
        let mut events: Vec<Event> = (0..10)
            .map(|d| {
                event(
                    t0 + d * DAY_MS + 9 * HOUR_MS,
                    if d == 6 { 3.0 } else { 1.0 },
                )
            })
            .collect();
        let routine = set_aside(&s, &mut events, Vec::new);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].actual, 3.0);
        assert_eq!(routine[0].events, 9);
    }

    #[test]
    fn events_at_scattered_times_or_in_few_cycles_stay() {
        let s = series(30);
        let t0 = s.timestamps()[0];
        // Six nights in a row: one short of a routine.
        let mut six: Vec<Event> = (0..6)
            .map(|d| event(t0 + d * DAY_MS + 3 * HOUR_MS, 1.0))
            .chain([event(t0 + 20 * DAY_MS, 1.0)])
            .collect();
        assert!(set_aside(&s, &mut six, Vec::new).is_empty());
        assert_eq!(six.len(), 7);
        // Seven nights, but spread over thirty days: less than half the cycles they span.
        let mut sparse: Vec<Event> = (0..7)
            .map(|d| event(t0 + d * 4 * DAY_MS + 3 * HOUR_MS, 1.0))
            .collect();
        assert!(set_aside(&s, &mut sparse, Vec::new).is_empty());
        // Twelve events at hours spread over the day.
        let mut scattered: Vec<Event> = (0..12)
            .map(|d| event(t0 + d * DAY_MS + (d * 7 % 24) * HOUR_MS, 1.0))
            .collect();
        assert!(set_aside(&s, &mut scattered, Vec::new).is_empty());
        assert_eq!(scattered.len(), 12);
        // A flood: an event every 23 minutes, day and night, for thirty days (a loose
        // threshold). Every time of the hour and the day recurs, so none is a routine.
        let count = 30 * 24 * 60 / 23;
        let mut flood: Vec<Event> = (0..count)
            .map(|i| event(t0 + i * 23 * 60_000, 1.0))
            .collect();
        assert!(set_aside(&s, &mut flood, Vec::new).is_empty());
        assert_eq!(flood.len() as i64, count);
        // But a nightly job among them still is.
        let mut nightly: Vec<Event> = (0..30)
            .map(|d| event(t0 + d * DAY_MS + 3 * HOUR_MS + 7 * 60_000, 1.0))
            .chain((0..40).map(|i| event(t0 + i * 17 * HOUR_MS + 11 * 60_000, 1.0)))
            .collect();
        let routine = set_aside(&s, &mut nightly, Vec::new);
        assert_eq!(routine.len(), 1, "{routine:?}");
        assert!(routine[0].events >= 30, "{routine:?}");
    }

    #[test]
    fn a_weekly_routine_across_midnight_and_row_numbers() {
        let s = series(70);
        let t0 = s.timestamps()[0];
        // Sunday 23:30 or Monday 00:30, every week.
        let mut events: Vec<Event> = (0..10)
            .map(|w| {
                event(
                    t0 + w * WEEK_MS - HOUR_MS / 2 + (w % 2) * HOUR_MS + WEEK_MS,
                    1.0,
                )
            })
            .collect();
        let routine = set_aside(&s, &mut events, Vec::new);
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(routine.len(), 1);
        assert_eq!(routine[0].period, Period::Week);
        assert_eq!(
            routine[0].summary,
            "10 events, every week between Sunday 23:30 and Monday 00:30 UTC"
        );
        assert_eq!(
            (routine[0].phase_from, routine[0].phase_to),
            (WEEK_MS - HOUR_MS / 2, HOUR_MS / 2)
        );
        // Without a time axis nothing is a routine, and no near miss is looked for.
        let rows = Series::from_values(vec![0.0; 20_000]).unwrap();
        let mut events: Vec<Event> = (0..10).map(|d| event(d * 1000, 1.0)).collect();
        let not_asked = || -> Vec<NearMiss> { panic!("near misses looked for on a row axis") };
        assert!(set_aside(&rows, &mut events, not_asked).is_empty());
        assert_eq!(events.len(), 10);
    }

    #[test]
    fn a_job_the_cut_takes_on_scattered_nights_is_a_routine_with_its_near_misses() {
        let s = series(40);
        let t0 = s.timestamps()[0];
        let night = |d: i64| t0 + d * DAY_MS + 2 * HOUR_MS + 30 * 60_000;
        // The cut took the job on 12 of 40 nights, 0, 3, 6, ...: too few of the 34 nights
        // they span for a routine on their own.
        let taken: Vec<i64> = (0..12).map(|k| 3 * k).collect();
        let nights = || taken.iter().map(|&d| event(night(d), 1.2));
        let mut alone: Vec<Event> = nights().collect();
        assert!(set_aside(&s, &mut alone, Vec::new).is_empty());
        assert_eq!(alone.len(), 12);
        // Every other night came close: a routine, the 12 events set aside, and an afternoon
        // spike (a time the job never runs) kept.
        let misses: Vec<NearMiss> = (0..40)
            .filter(|d| !taken.contains(d))
            .map(|d| NearMiss {
                peak_time: night(d),
                movement: 1.0,
            })
            .collect();
        let afternoon = t0 + 20 * DAY_MS + 15 * HOUR_MS;
        let mut events: Vec<Event> = nights().collect();
        events.push(event(afternoon, 1.2));
        let routine = set_aside(&s, &mut events, || misses.clone());
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].peak_time, afternoon);
        assert_eq!(routine.len(), 1);
        assert_eq!(routine[0].summary, "12 events, every day at 02:30 UTC");
        // The routine's typical member counts its near misses: a night that moved the series
        // 1.6 times as far as they did stays an event (not 1.5 times as far as the events).
        let mut events: Vec<Event> = nights().collect();
        events[5].actual = 1.6;
        set_aside(&s, &mut events, || misses.clone());
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].peak_time, night(15));
        // Near misses alone set nothing aside, and near misses at random times make no
        // routine of scattered events.
        assert!(set_aside(&s, &mut Vec::new(), || misses.clone()).is_empty());
        let scattered: Vec<NearMiss> = (0..40)
            .map(|d| NearMiss {
                peak_time: t0 + d * DAY_MS + (d * 7 % 24) * HOUR_MS,
                movement: 1.0,
            })
            .collect();
        let mut events: Vec<Event> = nights().collect();
        assert!(set_aside(&s, &mut events, || scattered.clone()).is_empty());
        assert_eq!(events.len(), 12);
        // A week is judged by its events alone: three Tuesday evenings of ten, the others near
        // misses, are no weekly routine.
        let s = series(70);
        let tuesday = |w: i64| t0 + w * WEEK_MS + DAY_MS + 19 * HOUR_MS;
        let mut events: Vec<Event> = [0, 4, 8].iter().map(|&w| event(tuesday(w), 1.0)).collect();
        let misses: Vec<NearMiss> = [1, 2, 3, 5, 6, 7, 9]
            .iter()
            .map(|&w| NearMiss {
                peak_time: tuesday(w),
                movement: 1.0,
            })
            .collect();
        assert!(set_aside(&s, &mut events, || misses.clone()).is_empty());
        assert_eq!(events.len(), 3);
        // ... and its concentration is the events' alone: ten Tuesday evenings are a weekly
        // routine however many near misses the series has elsewhere.
        let mut events: Vec<Event> = (0..10).map(|w| event(tuesday(w), 1.0)).collect();
        let noise: Vec<NearMiss> = (0..400)
            .map(|k| NearMiss {
                peak_time: t0 + k * (4 * HOUR_MS + 7 * 60_000),
                movement: 1.0,
            })
            .collect();
        let routine = set_aside(&s, &mut events, || noise.clone());
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(routine[0].period, Period::Week);
    }
}
