//! Events, the post-processing stage after a threshold: flagged points merge into periods
//! (by a gap in points, or in time), periods shorter than a minimum are dropped, weak events
//! that do not stand clearly above the next weaker one are pruned (telemanom's rule), and the
//! survivors are ranked by severity. Events that recur at one time of the hour, day or week
//! are set aside as the series' routine ([`crate::routine`]). Before that, on the rarity
//! scale, [`standout`] adds the few events just below the cut-off that stand a decade (more in
//! a short series) above everything else in the series.

use crate::routine::{self, Routine};
use crate::{Cut, Scale, Scores, Series};
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
    /// The calibrated rarity at the peak (`-log10` of its tail probability under normal data),
    /// when the scores were calibrated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rarity: Option<f64>,
    /// The thresholded value at the peak divided by the cut-off, when the cut-off is positive:
    /// how far past the line it went (on the rarity scale for `auto` and `sensitivity`).
    pub severity: f64,
    /// 1 for the most severe event of the run, 2 for the next, ...
    #[serde(default)]
    pub rank: usize,
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
    /// Kept by [`standout`]: its peak is below the cut-off (severity < 1), but it stands a
    /// decade of rarity above the rest of its series.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub standout: bool,
}

/// How flagged points become events.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventOptions {
    /// Two flagged points with at most this many unflagged points between them belong to one
    /// event. Default 2, so one anomaly whose score dips for a point is not split in two. On a
    /// rarity cut, flags inside one of the [`crate::calibration::held_runs`] also belong to
    /// one event, however far apart.
    pub merge_gap: usize,
    /// Two flagged points at most this far apart in time (in the series' time unit:
    /// milliseconds for timestamps, rows for a row-number axis) also belong to one event.
    /// Default none (points only).
    pub merge_gap_time: Option<i64>,
    /// Events with fewer flagged points are dropped. Default 1 (keep all).
    pub min_points: usize,
    /// Pruning (telemanom's rule): with the events' peak values (on the threshold's scale)
    /// sorted from the highest, followed by the highest unflagged value, an event survives only
    /// if some drop at or below it is at least this fraction of the higher peak (`(a - b) / a`);
    /// the events under the last such drop are dropped as indistinct from normal. 0 disables
    /// it. Default 0.
    pub prune: f64,
    /// For the rarity rules (`auto`, `sensitivity`): also keep up to [`STANDOUT_TOP`] events
    /// whose peaks lie below the cut-off but within [`STANDOUT_DEPTH`] decades of it, when they
    /// stand clearly above the rest of the series (see [`standout`]). Default true.
    pub standout: bool,
    /// For the rarity rules (`auto`, `sensitivity`): set aside events that recur at one time
    /// of the hour, day or week in most cycles (a nightly job's spike): they are the series'
    /// routine, not alarms, and are reported in [`Cut::routine`] instead (see
    /// [`crate::routine`]). Only on a time axis. The raw rules (`sigma`, `robust`, `quantile`)
    /// flag what they say. Default true.
    pub routine: bool,
}

/// How far below a rarity cut-off (decades of rarity: 100 times more frequent under normal
/// data) a point may lie and still belong to a [`standout`] event.
pub const STANDOUT_DEPTH: f64 = 2.0;
/// How far (decades of rarity) a [`standout`] event's peak must rise above the next weaker
/// one's, or above the highest point left out.
pub const STANDOUT_MARGIN: f64 = 1.0;
/// Most events [`standout`] looks at per series, counting those above the cut-off.
pub const STANDOUT_TOP: usize = 3;
/// Candidate points with at most this many points between them form one group in [`standout`]
/// (the default `merge_gap`).
const STANDOUT_GAP: usize = 2;

impl Default for EventOptions {
    fn default() -> Self {
        EventOptions {
            merge_gap: 2,
            merge_gap_time: None,
            min_points: 1,
            prune: 0.0,
            standout: true,
            routine: true,
        }
    }
}

impl EventOptions {
    /// Checks the options' ranges.
    ///
    /// # Errors
    ///
    /// [`crate::Error::InvalidParameter`] naming the option.
    pub fn validate(&self) -> Result<(), crate::Error> {
        if !(0.0..1.0).contains(&self.prune) {
            return Err(crate::Error::invalid_parameter(
                "prune",
                format!(
                    "must be in [0, 1) (0 turns pruning off), got {}",
                    self.prune
                ),
            ));
        }
        if self.merge_gap_time.is_some_and(|g| g < 0) {
            return Err(crate::Error::invalid_parameter(
                "merge_gap_time",
                "must be a duration >= 0",
            ));
        }
        if self.min_points == 0 {
            return Err(crate::Error::invalid_parameter(
                "min_points",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// The values `cut` was computed on: the rarity for rarity cuts (raw scores when the scores
/// were never calibrated), the raw scores otherwise.
pub fn cut_values<'a>(scores: &'a Scores, cut: &Cut) -> &'a [f64] {
    match (cut.scale, &scores.rarity) {
        (Scale::Rarity, Some(r)) => r,
        _ => &scores.score,
    }
}

/// Adds standout events to a rarity cut (telemanom's dynamic threshold and pruning, on the
/// calibrated scale): the series' points rarer than [`STANDOUT_DEPTH`] decades below the
/// cut-off form candidate groups; with the groups' peaks sorted from the highest and followed
/// by the highest point outside every group's extent (the group with its shoulders: see
/// `candidates`), the groups down to the last drop of at least [`STANDOUT_MARGIN`] (more in a
/// short series: [`standout_margin`]), among the first [`STANDOUT_TOP`], are flagged when
/// their peaks lie below the cut-off (their points above the lower level); groups above it
/// keep their flags as they were, and so does everything else.
///
/// A long series' rare points are judged against normal data (the cut-off), but an anomaly
/// that is the clear exception of its own series can fall just short of it when the training
/// part was noisier, or the calibration's tail heavier, than the series scored. Measured on
/// SMAP (fit on `train/`, score `test/`, every detector at its defaults) this raised F1 by
/// 0.02-0.13 for eight of nine detectors and presets and lowered it by 0.01 for `robust-stats`;
/// judging the peaks against what lies outside the groups' shoulders rather than outside the
/// groups raised the LSTMs' rows by another 0.01-0.03 and left the others as they were; see the
/// README's "Alarms you can trust". Does nothing for cuts on raw scores.
pub fn standout(values: &[f64], cut: &mut Cut) {
    if cut.scale != Scale::Rarity || !cut.value.is_finite() {
        return;
    }
    let floor = cut.value - STANDOUT_DEPTH;
    let n = values.len().min(cut.flags.len());
    let (groups, rest) = candidates(&values[..n], floor, floor - STANDOUT_MARGIN);
    if groups.iter().all(|g| g.2 > cut.value) {
        return;
    }
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| groups[b].2.total_cmp(&groups[a].2).then(a.cmp(&b)));
    let mut peaks: Vec<f64> = order.iter().map(|&k| groups[k].2).collect();
    peaks.push(if rest.is_finite() { rest } else { floor });
    let margin = standout_margin(cut.value, n);
    let keep = (0..order.len().min(STANDOUT_TOP))
        .rev()
        .find(|&i| peaks[i] - peaks[i + 1] >= margin)
        .map_or(0, |i| i + 1);
    // Groups above the cut-off keep their flags as they are (not widened to the lower level).
    for &k in order[..keep].iter().filter(|&&k| groups[k].2 <= cut.value) {
        let (start, end, _) = groups[k];
        for (f, v) in cut.flags[start..=end].iter_mut().zip(&values[start..=end]) {
            *f |= *v > floor;
        }
    }
}

/// How many false alarms per cut-off's worth of points (`10^cut`) [`standout`] may add by chance
/// (see [`standout_margin`]).
pub const STANDOUT_BUDGET: f64 = 2.0;

/// The drop (decades of rarity) a [`standout`] needs above the next weaker peak in a series of
/// `n` points with a cut-off at `cut` decades: [`STANDOUT_MARGIN`], or more in a short series.
///
/// Among exchangeable normal scores the top one's tail probability over the second's is
/// uniform on (0, 1), so a drop of `g` decades happens by chance in about one series in `10^g`,
/// whatever the series' length: a rate per series, where the cut-off promises a rate per point
/// (one false alarm in `10^cut` points, `n / 10^cut` in the series). A margin of `cut -
/// log10(B·n)` decades, `B` being [`STANDOUT_BUDGET`], keeps the standouts' false alarms under
/// `B` per `10^cut` points: at the default cut-off (5) the margin is a decade from 5,000 points
/// on and 1.7 decades at 1,000 points, where a decade let one series of pure noise in ten raise a
/// standout (a fleet of 1,000 such series: 100 false standouts where the cut-off promises 10).
pub fn standout_margin(cut: f64, n: usize) -> f64 {
    STANDOUT_MARGIN.max(cut - (STANDOUT_BUDGET * n.max(1) as f64).log10())
}

/// [`standout`]'s candidate groups (start, end inclusive, peak), in time order: the runs of
/// points above `floor` with gaps of at most [`STANDOUT_GAP`]; and the highest finite value
/// outside every group's extent, the run of points above `low` (same gaps) around it.
///
/// A group's own shoulders (an anomaly's rise and fall, the rest of a long anomaly) belong to
/// it: counted as the rest of the series, the shoulders of SMAP's long labelled sequences, a few
/// tenths below their peaks, kept those peaks from standing out. Runs above `low` that never
/// reach above `floor` count as the rest. The value is `NEG_INFINITY` when there is none.
fn candidates(values: &[f64], floor: f64, low: f64) -> (Vec<(usize, usize, f64)>, f64) {
    let mut groups: Vec<(usize, usize, f64)> = Vec::new();
    let mut rest = f64::NEG_INFINITY;
    // The current run above `low`: its last index and its highest value.
    let mut run: Option<(usize, f64)> = None;
    let close = |run: Option<(usize, f64)>, rest: f64| match run {
        Some((_, top)) if top <= floor => rest.max(top),
        _ => rest,
    };
    let near = |i: usize, last: usize| i - last <= STANDOUT_GAP + 1;
    // A block whose values are all at or below both `low` and the rest so far (or not numbers)
    // changes nothing: once the rest is high, that is almost every block, and testing one at
    // once (an OR of comparisons, which the compiler vectorises) spares the loop below.
    const BLOCK: usize = 16;
    let mut start = 0;
    while start < values.len() {
        let block = &values[start..(start + BLOCK).min(values.len())];
        let bar = rest.min(low);
        if !block.iter().fold(false, |any, &v| any | (v > bar)) {
            start += block.len();
            continue;
        }
        for (i, &v) in (start..).zip(block) {
            if !v.is_finite() {
                continue;
            }
            if v <= low {
                // A branch rather than `max`: rarely taken once the rest is high, it leaves no
                // chain from one point to the next (the loop ran at the max's latency).
                if v > rest {
                    rest = v;
                }
                continue;
            }
            run = match run {
                Some((last, top)) if near(i, last) => Some((i, top.max(v))),
                other => {
                    rest = close(other, rest);
                    Some((i, v))
                }
            };
            if v > floor {
                match groups.last_mut() {
                    Some(g) if near(i, g.1) => {
                        g.1 = i;
                        g.2 = g.2.max(v);
                    }
                    _ => groups.push((i, i, v)),
                }
            }
        }
        start += block.len();
    }
    (groups, close(run, rest))
}

/// Turns the flags of `cut` into events, in time order, each ranked by severity.
///
/// `scores` must be index-aligned with `series` (as every detector returns them).
pub fn events(series: &Series, scores: &Scores, cut: &Cut, options: &EventOptions) -> Vec<Event> {
    events_and_routine(series, scores, cut, options).0
}

/// [`events`], and the events set aside as a routine (see [`EventOptions::routine`]).
pub fn events_and_routine(
    series: &Series,
    scores: &Scores,
    cut: &Cut,
    options: &EventOptions,
) -> (Vec<Event>, Vec<Routine>) {
    let ts = series.timestamps();
    let mut out = Vec::new();
    let mut i = 0;
    let n = cut.flags.len().min(series.len());
    let values = cut_values(scores, cut);
    // A level held for a stretch of the series (see `held_runs`) is one event, however often its
    // scores dip below the cut-off inside it.
    let held = match (cut.scale, &scores.rarity) {
        (Scale::Rarity, Some(rarity)) => {
            crate::calibration::held_runs(&rarity[..n.min(rarity.len())])
        }
        _ => Vec::new(),
    };
    let same_run = |a: usize, b: usize| {
        let k = held.partition_point(|&(_, last)| last < a);
        held.get(k)
            .is_some_and(|&(first, last)| first <= a && b <= last)
    };
    let close = |a: usize, b: usize| {
        b - a <= options.merge_gap + 1
            || options
                .merge_gap_time
                .is_some_and(|g| ts[b].saturating_sub(ts[a]) <= g)
            || same_run(a, b)
    };
    while let Some(start) = next_flag(&cut.flags[..n], i) {
        let mut end = start;
        let mut j = start + 1;
        while j < n && close(end, j) {
            if cut.flags[j] {
                end = j;
            }
            j += 1;
        }
        let event = build(series, scores, cut, start, end);
        if event.flagged >= options.min_points {
            out.push(event);
        }
        i = end + 1;
    }
    let routine = if options.routine && cut.scale == Scale::Rarity && !out.is_empty() {
        routine::set_aside(series, &mut out, || {
            near_misses(series, scores, values, cut)
        })
    } else {
        Vec::new()
    };
    if options.prune > 0.0 {
        prune(&mut out, values, &cut.flags, options.prune);
    }
    rank(&mut out, values);
    (out, routine)
}

/// telemanom's pruning (Hundman et al. 2018, section 3.3): see [`EventOptions::prune`].
fn prune(events: &mut Vec<Event>, values: &[f64], flags: &[bool], min_drop: f64) {
    if events.is_empty() {
        return;
    }
    let normal_max = values
        .iter()
        .zip(flags)
        .filter(|(v, f)| !**f && v.is_finite())
        .map(|(v, _)| *v)
        .fold(f64::NEG_INFINITY, f64::max);
    let mut order: Vec<usize> = (0..events.len()).collect();
    let peak = |e: &Event| values[e.peak];
    order.sort_by(|&a, &b| peak(&events[b]).total_cmp(&peak(&events[a])));
    let mut peaks: Vec<f64> = order.iter().map(|&k| peak(&events[k])).collect();
    peaks.push(if normal_max.is_finite() {
        normal_max
    } else {
        0.0
    });
    // Keep everything down to the last clear drop.
    let keep = (0..order.len())
        .rev()
        .find(|&i| peaks[i] > 0.0 && (peaks[i] - peaks[i + 1]) / peaks[i] >= min_drop)
        .map_or(0, |i| i + 1);
    let mut survives = vec![false; events.len()];
    for &k in &order[..keep] {
        survives[k] = true;
    }
    let mut k = 0;
    events.retain(|_| {
        k += 1;
        survives[k - 1]
    });
}

/// The first flagged place at or after `from`. Flags are few: blocks without one are skipped,
/// each tested at once (an OR without a branch, which the compiler vectorises; a byte-by-byte
/// scan was half of turning a million points' flags into events).
fn next_flag(flags: &[bool], from: usize) -> Option<usize> {
    const BLOCK: usize = 64;
    let mut i = from;
    while i < flags.len() {
        let end = (i + BLOCK).min(flags.len());
        let block = &flags[i..end];
        if block.iter().fold(false, |hit, &f| hit | f) {
            return block.iter().position(|&f| f).map(|k| i + k);
        }
        i = end;
    }
    None
}

/// The near misses of a rarity cut for [`routine::set_aside`]: [`standout`]'s candidate
/// groups (runs of points within [`STANDOUT_DEPTH`] decades below the cut-off) that hold no
/// flagged point, each by its highest point. A group that holds one is an event's (or the
/// event's shoulder).
fn near_misses(
    series: &Series,
    scores: &Scores,
    values: &[f64],
    cut: &Cut,
) -> Vec<routine::NearMiss> {
    let floor = cut.value - STANDOUT_DEPTH;
    let n = cut.flags.len().min(values.len()).min(series.len());
    // Only the groups are needed, not the rest below them: `low` at the floor.
    let (groups, _) = candidates(&values[..n], floor, floor);
    groups
        .into_iter()
        .filter(|&(start, end, _)| !cut.flags[start..=end].contains(&true))
        .map(|(start, end, top)| {
            // The group's top is one of its values.
            let peak = (start..=end).find(|&k| values[k] == top).unwrap_or(start);
            let actual = series.values()[peak];
            let movement = match scores.expected.as_ref().map(|e| e[peak]) {
                Some(e) if e.is_finite() && actual.is_finite() => (actual - e).abs(),
                _ => scores.score[peak],
            };
            routine::NearMiss {
                peak_time: series.timestamps()[peak],
                movement,
            }
        })
        .collect()
}

fn rank(events: &mut [Event], values: &[f64]) {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by(|&a, &b| {
        values[events[b].peak]
            .total_cmp(&values[events[a].peak])
            .then(events[b].peak_score.total_cmp(&events[a].peak_score))
            .then(a.cmp(&b))
    });
    for (r, &k) in order.iter().enumerate() {
        events[k].rank = r + 1;
    }
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
    let rarity = scores
        .rarity
        .as_ref()
        .map(|r| r[peak])
        .filter(|r| r.is_finite());
    let peak_value = cut_values(scores, cut)[peak];
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
        rarity,
        severity: if cut.value > 0.0 && cut.value.is_finite() {
            peak_value / cut.value
        } else {
            f64::NAN
        },
        rank: 0,
        flagged: (start..=end).filter(|&k| cut.flags[k]).count(),
        direction,
        actual,
        expected,
        members,
        standout: cut.scale == Scale::Rarity && peak_value <= cut.value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemberScores;

    fn cut(flags: &[u8]) -> Cut {
        Cut {
            value: 1.0,
            scale: Scale::Raw,
            flags: flags.iter().map(|f| *f == 1).collect(),
            routine: Vec::new(),
        }
    }

    fn rarity_cut(values: &[f64], at: f64) -> Cut {
        Cut {
            value: at,
            scale: Scale::Rarity,
            flags: values.iter().map(|v| *v > at).collect(),
            routine: Vec::new(),
        }
    }

    fn flagged(cut: &Cut) -> Vec<usize> {
        (0..cut.flags.len()).filter(|&i| cut.flags[i]).collect()
    }

    /// Long enough for the standouts' margin to be one decade at a cut-off of 5 (see
    /// [`standout_margin`]).
    const LONG: usize = 5_000;

    #[test]
    fn a_short_series_needs_a_wider_margin_to_stand_out() {
        assert_eq!(standout_margin(5.0, 5_000), STANDOUT_MARGIN);
        assert_eq!(standout_margin(5.0, 1_000_000), STANDOUT_MARGIN);
        assert!((standout_margin(5.0, 1_000) - (5.0 - 2_000_f64.log10())).abs() < 1e-12);
        assert!(standout_margin(5.0, 0).is_finite());
        // A peak 1.5 decades above the rest of 1,000 points: within the 1.7 needed there, not
        // kept; the same peak in 5,000 points (a decade needed) is.
        for (n, want) in [(1_000, vec![]), (5_000, vec![500])] {
            let mut r = vec![1.0; n];
            r[100] = 2.5;
            r[500] = 4.0;
            let mut cut = rarity_cut(&r, 5.0);
            standout(&r, &mut cut);
            assert_eq!(flagged(&cut), want, "{n} points");
        }
    }

    #[test]
    fn standout_keeps_a_clear_exception_just_below_the_cut() {
        // Background rarity about 1, one event peaking at 4.2 (cut 5): 3.2 decades above the
        // rest, so it stands out; its points above the floor (3) are flagged, not its shoulder.
        let mut r = vec![1.0; LONG];
        r[99] = 2.9;
        r[100..104].copy_from_slice(&[3.5, 4.2, 3.9, 3.1]);
        let mut cut = rarity_cut(&r, 5.0);
        standout(&r, &mut cut);
        assert_eq!(flagged(&cut), vec![100, 101, 102, 103]);
        let series = Series::from_values(vec![0.0; LONG]).unwrap();
        let mut scores = Scores::new(r.clone());
        scores.rarity = Some(r.clone());
        let found = events(&series, &scores, &cut, &EventOptions::default());
        assert_eq!(found.len(), 1);
        assert!(
            found[0].standout && found[0].severity < 1.0,
            "{:?}",
            found[0]
        );
    }

    #[test]
    fn standout_leaves_candidates_that_do_not_stand_apart() {
        // Two groups at 4.2 and 3.9: the drop between them is under a decade, and the second
        // stands 0.9 above the rest, so neither is kept.
        let mut r = vec![1.0; LONG];
        r[50] = 4.2;
        r[200] = 3.9;
        r[120] = 3.0;
        let mut cut = rarity_cut(&r, 5.0);
        standout(&r, &mut cut);
        assert_eq!(flagged(&cut), Vec::<usize>::new());
        // Once the rest is low enough both stand out together.
        r[120] = 2.5;
        let mut cut = rarity_cut(&r, 5.0);
        standout(&r, &mut cut);
        assert_eq!(flagged(&cut), vec![50, 200]);
    }

    #[test]
    fn standout_judges_a_long_event_against_what_lies_outside_its_shoulders() {
        // A long anomaly: a peak of 3.6 (cut 5) on a plateau at 2.9, a hundred points wide,
        // in a background at 1.5. The plateau is the event's own shoulder, not the rest of the
        // series: the peak stands 2.1 decades above the background and is kept.
        let mut r = vec![1.5; LONG];
        r[200..300].fill(2.9);
        r[250] = 3.6;
        let mut cut = rarity_cut(&r, 5.0);
        standout(&r, &mut cut);
        assert_eq!(flagged(&cut), vec![250]);
        // A separate run as high as the shoulder, away from the event, is the rest: 0.7 below
        // the peak, so nothing stands out.
        r[450] = 2.9;
        let mut cut = rarity_cut(&r, 5.0);
        standout(&r, &mut cut);
        assert_eq!(flagged(&cut), Vec::<usize>::new());
        // So is what follows a shoulder that falls below the lower level (2) for longer than
        // the merge gap (2 points): the plateau's second half is cut off from the peak.
        r[450] = 1.5;
        r[270..272].fill(1.9);
        let mut cut = rarity_cut(&r, 5.0);
        standout(&r, &mut cut);
        assert_eq!(flagged(&cut), vec![250]);
        r[270..273].fill(1.9);
        let mut cut = rarity_cut(&r, 5.0);
        standout(&r, &mut cut);
        assert_eq!(flagged(&cut), Vec::<usize>::new());
    }

    #[test]
    fn standout_counts_the_events_above_the_cut_among_its_top() {
        // Three events above the cut and a fourth just below it: it is not among the top 3.
        let mut r = vec![0.5; LONG];
        // The first has a shoulder below the cut: events above it are not widened.
        for (i, v) in [(10, 9.0), (11, 4.0), (110, 8.0), (210, 7.0), (310, 4.5)] {
            r[i] = v;
        }
        let mut cut = rarity_cut(&r, 5.0);
        standout(&r, &mut cut);
        assert_eq!(flagged(&cut), vec![10, 110, 210]);
        // With two above the cut it is third, a decade above the rest: kept.
        r[210] = 0.5;
        let mut cut = rarity_cut(&r, 5.0);
        standout(&r, &mut cut);
        assert_eq!(flagged(&cut), vec![10, 110, 310]);
    }

    #[test]
    fn standout_changes_nothing_on_raw_cuts_or_without_candidates() {
        let mut r = vec![1.0; LONG];
        r[20] = 4.5;
        let mut raw = rarity_cut(&r, 5.0);
        raw.scale = Scale::Raw;
        standout(&r, &mut raw);
        assert_eq!(flagged(&raw), Vec::<usize>::new());
        let calm = vec![1.0; LONG];
        let mut cut = rarity_cut(&calm, 5.0);
        standout(&calm, &mut cut);
        assert_eq!(flagged(&cut), Vec::<usize>::new());
        // NaN scores are neither candidates nor the rest.
        let mut r = vec![f64::NAN; LONG];
        r[10] = 4.0;
        let mut cut = rarity_cut(&r, 5.0);
        standout(&r, &mut cut);
        assert_eq!(flagged(&cut), vec![10]);
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
                &EventOptions {
                    merge_gap: *gap,
                    ..EventOptions::default()
                },
            )
            .iter()
            .map(|e| (e.start, e.end))
            .collect();
            assert_eq!(&got, want, "{name}");
        }
    }

    #[test]
    fn a_held_level_is_one_event_however_its_scores_dip() {
        // 5,000 points at rarity 1; from 4,000, a level held to the end (rarity 8) whose
        // scores dip to 3 for 5 points in every 20 (below the cut of 5, above the held level
        // of 2): one event, not fifty. A spike and two flags 8 points apart outside it keep
        // the gap rule.
        let mut r = vec![1.0; LONG];
        for (i, x) in r.iter_mut().enumerate().skip(4_000) {
            *x = if i % 20 < 5 { 3.0 } else { 8.0 };
        }
        r[1_000] = 9.0;
        r[2_000] = 6.0;
        r[2_008] = 6.0;
        let series = Series::from_values(vec![0.0; LONG]).unwrap();
        let spans = |r: &[f64]| -> Vec<(usize, usize)> {
            let mut scores = Scores::new(r.to_vec());
            scores.rarity = Some(r.to_vec());
            let mut found: Vec<(usize, usize)> = events(
                &series,
                &scores,
                &rarity_cut(r, 5.0),
                &EventOptions {
                    standout: false,
                    ..EventOptions::default()
                },
            )
            .iter()
            .map(|e| (e.start, e.end))
            .collect();
            found.sort_unstable();
            found
        };
        assert_eq!(
            spans(&r),
            vec![
                (1_000, 1_000),
                (2_000, 2_000),
                (2_008, 2_008),
                (4_005, 4_999)
            ]
        );
        // Held for less than 1% of the series (40 points), the dips split it as the gap says.
        let mut short = vec![1.0; LONG];
        short[4_000..4_040].copy_from_slice(&r[4_000..4_040]);
        assert_eq!(spans(&short).len(), 2);
        // On raw scores (a sigma cut), nothing is held.
        let raw = Cut {
            value: 5.0,
            scale: Scale::Raw,
            flags: r.iter().map(|&v| v > 5.0).collect(),
            routine: Vec::new(),
        };
        let found = events(
            &series,
            &Scores::new(r.clone()),
            &raw,
            &EventOptions::default(),
        );
        assert_eq!(found.len(), 3 + 50);
    }

    #[test]
    fn merging_by_time_minimum_length_and_ranks() {
        // Timestamps 0, 10, 20, ...; flags at 1 and 5 are 4 points but 40 time units apart.
        let series = Series::new((0..12).map(|i| i * 10).collect(), vec![0.0; 12]).unwrap();
        let scores = Scores::new(vec![0., 3., 0., 0., 0., 2., 0., 0., 0., 0., 9., 0.]);
        let flags = cut(&[0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]);
        let spans = |o: EventOptions| -> Vec<(usize, usize, usize)> {
            events(&series, &scores, &flags, &o)
                .iter()
                .map(|e| (e.start, e.end, e.rank))
                .collect()
        };
        let base = EventOptions::default();
        assert_eq!(spans(base), vec![(1, 1, 2), (5, 5, 3), (10, 10, 1)]);
        let by_time = EventOptions {
            merge_gap_time: Some(40),
            ..base
        };
        assert_eq!(spans(by_time), vec![(1, 5, 2), (10, 10, 1)]);
        let two_points = EventOptions {
            min_points: 2,
            ..by_time
        };
        assert_eq!(spans(two_points), vec![(1, 5, 1)]);
    }

    #[test]
    fn pruning_keeps_events_down_to_the_last_clear_drop() {
        // Peaks 10, 9.5, 5, 4.8 and an unflagged maximum of 4.5: the clear drop is 9.5 -> 5,
        // so the two weak events go; without pruning all four stay.
        let series = Series::from_values(vec![0.0; 10]).unwrap();
        let scores = Scores::new(vec![10., 0., 9.5, 0., 5., 0., 4.8, 0., 4.5, 0.]);
        let flags = cut(&[1, 0, 1, 0, 1, 0, 1, 0, 0, 0]);
        let opts = EventOptions {
            merge_gap: 0,
            prune: 0.13,
            ..EventOptions::default()
        };
        let peaks = |o: &EventOptions| -> Vec<usize> {
            events(&series, &scores, &flags, o)
                .iter()
                .map(|e| e.peak)
                .collect()
        };
        assert_eq!(peaks(&opts), vec![0, 2]);
        assert_eq!(
            peaks(&EventOptions { prune: 0.0, ..opts }),
            vec![0, 2, 4, 6]
        );
        // Nothing stands out from the normal maximum: everything is pruned.
        let flat = Scores::new(vec![5.0, 0., 4.9, 0., 4.8, 0., 4.7, 0., 4.6, 0.]);
        assert!(events(&series, &flat, &flags, &opts).is_empty());
        assert!(EventOptions { prune: 1.0, ..opts }.validate().is_err());
        assert!(
            EventOptions {
                min_points: 0,
                ..opts
            }
            .validate()
            .is_err()
        );
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

    /// [`candidates`] point by point, without skipping blocks.
    fn candidates_plain(values: &[f64], floor: f64, low: f64) -> (Vec<(usize, usize, f64)>, f64) {
        let mut groups: Vec<(usize, usize, f64)> = Vec::new();
        let mut rest = f64::NEG_INFINITY;
        let mut run: Option<(usize, f64)> = None;
        let close = |run: Option<(usize, f64)>, rest: f64| match run {
            Some((_, top)) if top <= floor => rest.max(top),
            _ => rest,
        };
        let near = |i: usize, last: usize| i - last <= STANDOUT_GAP + 1;
        for (i, &v) in values.iter().enumerate() {
            if !v.is_finite() {
                continue;
            }
            if v <= low {
                rest = rest.max(v);
                continue;
            }
            run = match run {
                Some((last, top)) if near(i, last) => Some((i, top.max(v))),
                other => {
                    rest = close(other, rest);
                    Some((i, v))
                }
            };
            if v > floor {
                match groups.last_mut() {
                    Some(g) if near(i, g.1) => {
                        g.1 = i;
                        g.2 = g.2.max(v);
                    }
                    _ => groups.push((i, i, v)),
                }
            }
        }
        (groups, close(run, rest))
    }

    proptest::proptest! {
        /// Skipping blocks finds what a scan of every point finds: the candidates and the rest,
        /// and the next flag.
        #[test]
        fn skipping_blocks_changes_nothing(
            values in proptest::collection::vec(
                proptest::prop_oneof![
                    20 => 0.0..3.0f64,
                    2 => 3.0..6.0f64,
                    1 => proptest::strategy::Just(f64::NAN),
                    1 => proptest::strategy::Just(f64::INFINITY),
                    1 => proptest::strategy::Just(f64::NEG_INFINITY),
                ],
                0..400,
            ),
            from in 0usize..450,
        ) {
            let (floor, low) = (4.0, 3.0);
            let (groups, rest) = candidates(&values, floor, low);
            let (plain_groups, plain_rest) = candidates_plain(&values, floor, low);
            proptest::prop_assert_eq!(groups, plain_groups);
            proptest::prop_assert_eq!(rest.to_bits(), plain_rest.to_bits());
            let flags: Vec<bool> = values.iter().map(|&v| v > floor).collect();
            let plain = (from..flags.len()).find(|&i| flags[i]);
            proptest::prop_assert_eq!(next_flag(&flags, from), plain);
        }
    }
}
