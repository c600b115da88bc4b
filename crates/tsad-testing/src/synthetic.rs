//! Seeded synthetic series with known anomalies, for detector tests.

use crate::Rng;
use tsad_core::Series;

/// Height of the spike [`sine_with_spike`] injects, in units of the sine's amplitude.
pub const SPIKE_HEIGHT: f64 = 8.0;

/// Start of the synthetic time axis: 2020-09-13T12:26:40Z, in Unix milliseconds.
const T0: i64 = 1_600_000_000_000;

/// `n` timestamps one minute apart (Unix milliseconds).
pub fn minute_timestamps(n: usize) -> Vec<i64> {
    (0..n as i64).map(|i| T0 + i * 60_000).collect()
}

fn series(values: Vec<f64>) -> Series {
    // Minute steps strictly increase and every value built here is finite or NaN.
    Series::new(minute_timestamps(values.len()), values).expect("synthetic series are valid")
}

/// A sine (period 50, amplitude 1, offset 10) with Gaussian noise (sd 0.05) and one upward
/// spike of [`SPIKE_HEIGHT`] at 70% of the series. Returns the series and the spike's index.
///
/// # Panics
///
/// When `n` is 0.
pub fn sine_with_spike(n: usize, seed: u64) -> (Series, usize) {
    assert!(n > 0, "sine_with_spike needs at least one point");
    let mut rng = Rng::new(seed);
    let mut v: Vec<f64> = (0..n)
        .map(|i| 10.0 + (std::f64::consts::TAU * i as f64 / 50.0).sin() + 0.05 * rng.normal())
        .collect();
    let spike = n * 7 / 10;
    v[spike] += SPIKE_HEIGHT;
    (series(v), spike)
}

/// A Gaussian random walk starting at 100 with unit steps.
pub fn random_walk(n: usize, seed: u64) -> Series {
    let mut rng = Rng::new(seed);
    let mut x = 100.0;
    let v = (0..n)
        .map(|_| {
            x += rng.normal();
            x
        })
        .collect();
    series(v)
}

/// A slow linear trend plus a season of `period` (a sine and its second harmonic, amplitude
/// about 5) plus Gaussian noise (sd 0.3), with `spikes` injected spikes of 12 to 20 noise
/// standard deviations, up or down at random. Spikes start after two periods and are at least
/// `period / 2` apart. Returns the series and the sorted spike indices (fewer than asked when
/// the series is too short to hold them).
pub fn seasonal_with_anomalies(
    n: usize,
    period: usize,
    spikes: usize,
    seed: u64,
) -> (Series, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let p = period.max(2) as f64;
    let mut v: Vec<f64> = (0..n)
        .map(|i| {
            let phase = std::f64::consts::TAU * i as f64 / p;
            50.0 + 0.002 * i as f64
                + 4.0 * phase.sin()
                + 1.5 * (2.0 * phase).cos()
                + 0.3 * rng.normal()
        })
        .collect();
    let start = 2 * period;
    let gap = (period / 2).max(3);
    let mut at: Vec<usize> = Vec::new();
    let mut tries = 0;
    while at.len() < spikes && n > start + 1 && tries < spikes * 100 {
        tries += 1;
        let i = start + rng.below(n - start);
        if at.iter().all(|&j| i.abs_diff(j) >= gap) {
            at.push(i);
        }
    }
    at.sort_unstable();
    for &i in &at {
        let sign = if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
        v[i] += sign * rng.range(12.0, 20.0) * 0.3;
    }
    (series(v), at)
}

/// `n` copies of `value`.
pub fn constant(n: usize, value: f64) -> Series {
    series(vec![value; n])
}

/// A copy of `series` with missing values: about 2% isolated NaN plus one gap of 10 points
/// in the middle (when the series is long enough).
pub fn with_nan_gaps(series: &Series, seed: u64) -> Series {
    let mut rng = Rng::new(seed);
    let mut v = series.values().to_vec();
    let n = v.len();
    for x in v.iter_mut() {
        if rng.uniform() < 0.02 {
            *x = f64::NAN;
        }
    }
    if n >= 40 {
        for x in &mut v[n / 2..n / 2 + 10] {
            *x = f64::NAN;
        }
    }
    Series::with_axis(series.timestamps().to_vec(), v, series.axis())
        .expect("same timestamps, values finite or NaN")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_are_seeded_and_sized() {
        let (a, spike) = sine_with_spike(300, 1);
        let (b, _) = sine_with_spike(300, 1);
        assert_eq!(a, b);
        assert_eq!(spike, 210);
        assert_eq!(random_walk(10, 2).len(), 10);
        let (s, at) = seasonal_with_anomalies(2000, 24, 10, 3);
        assert_eq!((s.len(), at.len()), (2000, 10));
        assert!(at.windows(2).all(|w| w[1] - w[0] >= 12));
        assert_eq!(constant(5, 2.0).values(), &[2.0; 5]);
        let gaps = with_nan_gaps(&s, 4);
        assert!(gaps.missing() >= 10);
    }
}
