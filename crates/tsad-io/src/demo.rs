//! The built-in demo series: a server-metric shape (trend, daily and weekly seasons, noise)
//! with labelled spikes, dips, a level shift and a contextual anomaly.

use crate::time::format_timestamp;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::f64::consts::TAU;
use std::io::{BufWriter, Write};
use tsad_core::{Error, Series};

/// Steps per day and per week: the seasons are counted in steps, whatever `step_ms` is.
const DAY: usize = 24;
const WEEK: usize = 168;
/// The series' level, the daily and weekly amplitudes, the trend over the whole series and
/// the noise's standard deviation.
const LEVEL: f64 = 100.0;
const DAILY: f64 = 25.0;
const WEEKLY: f64 = 8.0;
const TREND: f64 = 15.0;
const NOISE: f64 = 3.0;
/// Spikes and dips move a point by 7 to 10 noise standard deviations; the level shift adds
/// this much for good.
const POINT_SIGMAS: (f64, f64) = (7.0, 10.0);
const SHIFT: f64 = 35.0;
/// Points labelled after the level shift starts.
const SHIFT_LABELS: usize = 24;
const SPIKES: usize = 5;
const DIPS: usize = 4;
const MIN_POINTS: usize = 200;
const MAX_POINTS: usize = 100_000_000;
/// chrono's RFC 3339 years 0001 to 9999, so every timestamp can be written and read back.
const FIRST_MS: i64 = -62_135_596_800_000;
const LAST_MS: i64 = 253_402_300_799_999;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DemoParams {
    /// Number of points, at least 200 (default 2000: about 12 weeks hourly).
    pub points: usize,
    /// Seed of the random generator (default 42); the same seed gives the same series, bit
    /// for bit.
    pub seed: u64,
    /// The first timestamp in Unix milliseconds (default 1704067200000,
    /// 2024-01-01T00:00:00Z).
    pub start_ms: i64,
    /// Milliseconds between points (default 3600000, hourly). The daily season is 24 steps
    /// and the weekly one 168 steps whatever the step.
    pub step_ms: i64,
}

impl Default for DemoParams {
    fn default() -> Self {
        DemoParams {
            points: 2000,
            seed: 42,
            start_ms: 1_704_067_200_000,
            step_ms: 3_600_000,
        }
    }
}

impl DemoParams {
    /// Checks every field and reports all problems at once.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming each bad field: `points` outside 200 to
    /// 100,000,000, `step_ms` not positive, or timestamps outside the years 1 to 9999.
    pub fn validate(&self) -> Result<(), Error> {
        let mut problems: Vec<(&str, String)> = Vec::new();
        if !(MIN_POINTS..=MAX_POINTS).contains(&self.points) {
            problems.push((
                "points",
                format!(
                    "must be between {MIN_POINTS} and {MAX_POINTS}, got {}",
                    self.points
                ),
            ));
        }
        if self.step_ms <= 0 {
            problems.push((
                "step_ms",
                format!(
                    "must be a positive number of milliseconds, got {}",
                    self.step_ms
                ),
            ));
        }
        let last = i64::try_from(self.points.saturating_sub(1))
            .ok()
            .and_then(|n| n.checked_mul(self.step_ms.max(1)))
            .and_then(|span| span.checked_add(self.start_ms));
        let in_range = |ms: i64| (FIRST_MS..=LAST_MS).contains(&ms);
        if !in_range(self.start_ms) || !last.is_some_and(in_range) {
            problems.push((
                "start_ms",
                "the timestamps must fall between the years 1 and 9999; use a later start, \
                 fewer points or a shorter step"
                    .to_owned(),
            ));
        }
        if problems.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = problems.iter().map(|p| p.0).collect();
        let reasons: Vec<String> = problems.iter().map(|(n, r)| format!("{n}: {r}")).collect();
        Err(Error::invalid_parameter(
            names.join(", "),
            reasons.join("; "),
        ))
    }
}

/// The kind of an injected anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// One point far above its neighbours.
    Spike,
    /// One point far below its neighbours.
    Dip,
    /// The level jumps and stays there; the first 24 points after the jump are labelled.
    LevelShift,
    /// A day that stays at its night value through the daytime peak: every value is in the
    /// normal range, but wrong for its time of day.
    Contextual,
}

/// One injected anomaly, as point indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InjectedAnomaly {
    /// What was injected.
    pub kind: AnomalyKind,
    /// The first labelled point.
    pub start: usize,
    /// The last labelled point (inclusive).
    pub end: usize,
}

/// A generated series with its ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Demo {
    /// The series, values rounded to 3 decimals (so it survives CSV unchanged).
    pub series: Series,
    /// `true` where a point belongs to an injected anomaly.
    pub labels: Vec<bool>,
    /// The anomalies in time order.
    pub anomalies: Vec<InjectedAnomaly>,
}

/// The daily season at step `i`: lowest at step 2 of each day, highest at step 14.
fn daily(i: usize) -> f64 {
    DAILY * (TAU * ((i % DAY) as f64 - 8.0) / DAY as f64).sin()
}

fn weekly(i: usize) -> f64 {
    WEEKLY * (TAU * (i % WEEK) as f64 / WEEK as f64).sin()
}

/// A standard normal draw (Box-Muller).
fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    // `random::<f64>()` is in [0, 1); 1 - u is in (0, 1], so the log is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (TAU * u2).cos()
}

/// Generates the demo series.
///
/// Anomalies are spread over the series after its first 10% (a warm-up for detectors): 5
/// spikes and 4 dips (7 to 10 noise σ), one contextual day near the middle, and a level shift
/// at 90% that lasts to the end.
///
/// # Errors
///
/// [`Error::InvalidParameter`] as [`DemoParams::validate`].
///
/// ```
/// use tsad_io::demo::{generate, DemoParams};
/// let demo = generate(&DemoParams::default())?;
/// assert_eq!(demo.series.len(), 2000);
/// assert_eq!(demo.anomalies.len(), 11);
/// # Ok::<(), tsad_core::Error>(())
/// ```
pub fn generate(params: &DemoParams) -> Result<Demo, Error> {
    params.validate()?;
    let n = params.points;
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let mut values: Vec<f64> = (0..n)
        .map(|i| {
            LEVEL + TREND * i as f64 / n as f64 + daily(i) + weekly(i) + NOISE * gaussian(&mut rng)
        })
        .collect();
    let mut anomalies = Vec::with_capacity(SPIKES + DIPS + 2);

    // The contextual day: a whole day (24 steps, starting at step 0 of a day) near the middle
    // held at the night value. The labels cover the hours it differs by more than 3σ.
    let ctx = (n / 2 / DAY) * DAY;
    let labelled = |h: &usize| daily(*h) + DAILY > 3.0 * NOISE;
    let first_h = (0..DAY).find(labelled).unwrap_or(0);
    let last_h = (0..DAY).rev().find(labelled).unwrap_or(first_h);
    for (h, v) in values[ctx..ctx + DAY].iter_mut().enumerate() {
        *v += -DAILY - daily(ctx + h);
    }
    anomalies.push(InjectedAnomaly {
        kind: AnomalyKind::Contextual,
        start: ctx + first_h,
        end: ctx + last_h,
    });

    // The level shift, from 90% to the end.
    let shift = n * 9 / 10;
    for v in &mut values[shift..] {
        *v += SHIFT;
    }
    anomalies.push(InjectedAnomaly {
        kind: AnomalyKind::LevelShift,
        start: shift,
        end: (shift + SHIFT_LABELS - 1).min(n - 1),
    });

    // Spikes and dips, alternating, one per equal slot of the points after the warm-up and
    // before the shift, skipping the contextual day (and 3 points either side of it).
    let warm = n.div_ceil(10);
    let before = (warm, ctx.saturating_sub(3).max(warm));
    let after = (ctx + DAY + 3, shift.saturating_sub(4).max(ctx + DAY + 3));
    let len_before = before.1 - before.0;
    let room = len_before + (after.1 - after.0);
    let count = SPIKES + DIPS;
    for k in 0..count {
        let lo = k * room / count;
        let hi = ((k + 1) * room / count).max(lo + 1);
        // Jitter within the middle half of the slot, so the spacing looks less regular.
        let quarter = (hi - lo) / 4;
        let offset = lo + quarter + rng.random_range(0..=(hi - lo - 2 * quarter - 1));
        let i = if offset < len_before {
            before.0 + offset
        } else {
            after.0 + offset - len_before
        };
        let size = NOISE * rng.random_range(POINT_SIGMAS.0..POINT_SIGMAS.1);
        let kind = if k % 2 == 0 {
            values[i] += size;
            AnomalyKind::Spike
        } else {
            values[i] -= size;
            AnomalyKind::Dip
        };
        anomalies.push(InjectedAnomaly {
            kind,
            start: i,
            end: i,
        });
    }
    anomalies.sort_by_key(|a| a.start);

    let mut labels = vec![false; n];
    for a in &anomalies {
        labels[a.start..=a.end].iter_mut().for_each(|l| *l = true);
    }
    for v in &mut values {
        *v = (*v * 1000.0).round() / 1000.0;
    }
    let timestamps = (0..n as i64)
        .map(|i| params.start_ms + i * params.step_ms)
        .collect();
    let series = Series::new(timestamps, values)?;
    Ok(Demo {
        series,
        labels,
        anomalies,
    })
}

/// Writes `timestamp,value,is_anomaly` rows: RFC 3339 UTC timestamps, the values, and 0/1
/// labels. `w` is buffered here.
///
/// # Errors
///
/// Any error of `w`.
pub fn write_csv<W: Write>(demo: &Demo, w: W) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(64 << 10, w);
    writeln!(w, "timestamp,value,is_anomaly")?;
    let s = &demo.series;
    for ((t, v), l) in s.timestamps().iter().zip(s.values()).zip(&demo.labels) {
        writeln!(w, "{},{},{}", format_timestamp(*t), v, u8::from(*l))?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_series_bit_for_bit() {
        let p = DemoParams::default();
        let (a, b) = (generate(&p).unwrap(), generate(&p).unwrap());
        let bits = |d: &Demo| {
            d.series
                .values()
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&a), bits(&b));
        assert_eq!(a.labels, b.labels);
        let c = generate(&DemoParams { seed: 7, ..p }).unwrap();
        assert_ne!(bits(&a), bits(&c));
    }

    #[test]
    fn shape_and_anomalies() {
        for points in [200, 2000, 10_000] {
            let d = generate(&DemoParams {
                points,
                ..DemoParams::default()
            })
            .unwrap();
            let v = d.series.values();
            assert_eq!(v.len(), points);
            assert!(v.iter().all(|x| x.is_finite() && *x > 0.0), "positive");
            let count = |k| d.anomalies.iter().filter(|a| a.kind == k).count();
            assert_eq!(count(AnomalyKind::Spike), SPIKES, "{points}");
            assert_eq!(count(AnomalyKind::Dip), DIPS);
            assert_eq!(count(AnomalyKind::LevelShift), 1);
            assert_eq!(count(AnomalyKind::Contextual), 1);
            // Nothing in the warm-up, no overlaps, labels match the list.
            assert!(d.anomalies[0].start >= points / 10, "{:?}", d.anomalies[0]);
            for w in d.anomalies.windows(2) {
                assert!(w[0].end < w[1].start, "{points}: {w:?}");
            }
            let labelled: usize = d.anomalies.iter().map(|a| a.end - a.start + 1).sum();
            assert_eq!(d.labels.iter().filter(|l| **l).count(), labelled);
            // Spikes and dips (7 to 10 sigmas by construction) stand out from their
            // neighbours even after the neighbours' own noise.
            for a in &d.anomalies {
                let i = a.start;
                let neighbours = (v[i - 1] + v[i + 1]) / 2.0;
                match a.kind {
                    AnomalyKind::Spike => assert!(v[i] - neighbours > 3.0 * NOISE),
                    AnomalyKind::Dip => assert!(neighbours - v[i] > 3.0 * NOISE),
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn contextual_day_is_in_range_but_flat() {
        let d = generate(&DemoParams::default()).unwrap();
        let ctx = d
            .anomalies
            .iter()
            .find(|a| a.kind == AnomalyKind::Contextual)
            .unwrap();
        let v = d.series.values();
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |a, x| (a.0.min(*x), a.1.max(*x)));
        let day = &v[ctx.start..=ctx.end];
        assert!(day.iter().all(|x| (lo..=hi).contains(x)));
        // At the daily peak (step 14) the value sits far below the same hour a week earlier.
        let peak = ctx.start - ctx.start % DAY + 14;
        assert!(
            v[peak - WEEK] - v[peak] > 30.0,
            "{} vs {}",
            v[peak - WEEK],
            v[peak]
        );
    }

    #[test]
    fn invalid_params_list_every_problem() {
        let bad = DemoParams {
            points: 10,
            step_ms: 0,
            ..DemoParams::default()
        };
        let err = generate(&bad).unwrap_err().to_string();
        assert!(err.contains("points: must be between 200"), "{err}");
        assert!(err.contains("step_ms: must be a positive"), "{err}");
        let late = DemoParams {
            start_ms: LAST_MS,
            ..DemoParams::default()
        };
        assert!(
            generate(&late)
                .unwrap_err()
                .to_string()
                .contains("years 1 and 9999")
        );
        let json: DemoParams = serde_json::from_str(r#"{"points": 500}"#).unwrap();
        assert_eq!(json.seed, 42);
        assert!(serde_json::from_str::<DemoParams>(r#"{"pionts": 5}"#).is_err());
    }

    #[test]
    fn csv_has_header_and_labels() {
        let d = generate(&DemoParams::default()).unwrap();
        let mut out = Vec::new();
        write_csv(&d, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("timestamp,value,is_anomaly"));
        assert!(lines.next().unwrap().starts_with("2024-01-01T00:00:00Z,"));
        assert_eq!(text.lines().count(), 2001);
    }
}
