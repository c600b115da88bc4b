//! A univariate time series: strictly increasing timestamps and `f64` values (NaN = missing).

use crate::Error;
use serde::{Deserialize, Serialize};

/// What the numbers in [`Series::timestamps`] mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TimeAxis {
    /// Milliseconds since the Unix epoch, UTC.
    #[default]
    EpochMillis,
    /// Row numbers 0, 1, 2, ... (the input had no time column).
    Index,
}

/// A validated series.
///
/// Invariants, checked by [`Series::new`]: as many timestamps as values, timestamps strictly
/// increasing, no infinite value. NaN is allowed and means a missing value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    timestamps: Vec<i64>,
    values: Vec<f64>,
    axis: TimeAxis,
}

impl Series {
    /// Builds a series of Unix-millisecond timestamps.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSeries`] when the lengths differ, a timestamp does not increase, or a
    /// value is infinite; the message names the first offending position.
    pub fn new(timestamps: Vec<i64>, values: Vec<f64>) -> Result<Self, Error> {
        Self::with_axis(timestamps, values, TimeAxis::EpochMillis)
    }

    /// Builds a series whose time axis is the row index.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSeries`] when a value is infinite.
    pub fn from_values(values: Vec<f64>) -> Result<Self, Error> {
        let timestamps = (0..values.len() as i64).collect();
        Self::with_axis(timestamps, values, TimeAxis::Index)
    }

    /// Builds a series with an explicit time axis.
    ///
    /// # Errors
    ///
    /// As [`Series::new`].
    pub fn with_axis(
        timestamps: Vec<i64>,
        values: Vec<f64>,
        axis: TimeAxis,
    ) -> Result<Self, Error> {
        if timestamps.len() != values.len() {
            return Err(Error::invalid_series(format!(
                "{} timestamps but {} values",
                timestamps.len(),
                values.len()
            )));
        }
        if let Some(i) = timestamps.windows(2).position(|w| w[1] <= w[0]) {
            return Err(Error::invalid_series(format!(
                "timestamps must strictly increase: point {} ({}) is not after point {} ({})",
                i + 1,
                timestamps[i + 1],
                i,
                timestamps[i]
            )));
        }
        if let Some(i) = values.iter().position(|v| v.is_infinite()) {
            return Err(Error::invalid_series(format!(
                "value at point {i} is infinite; use NaN (an empty cell) for a missing value"
            )));
        }
        Ok(Series {
            timestamps,
            values,
            axis,
        })
    }

    /// The timestamps (see [`Series::axis`] for their unit).
    pub fn timestamps(&self) -> &[i64] {
        &self.timestamps
    }

    /// The values; NaN marks a missing value.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// What the timestamps mean.
    pub fn axis(&self) -> TimeAxis {
        self.axis
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the series has no point.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Number of missing (NaN) values.
    pub fn missing(&self) -> usize {
        self.values.iter().filter(|v| v.is_nan()).count()
    }

    /// The sub-series of points `range`.
    ///
    /// # Panics
    ///
    /// When `range` is out of bounds, like slice indexing.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Series {
        Series {
            timestamps: self.timestamps[range.clone()].to_vec(),
            values: self.values[range].to_vec(),
            axis: self.axis,
        }
    }

    /// Median difference between consecutive timestamps, if there are at least two points.
    pub fn median_step(&self) -> Option<i64> {
        if self.timestamps.len() < 2 {
            return None;
        }
        let mut steps: Vec<i64> = self.timestamps.windows(2).map(|w| w[1] - w[0]).collect();
        let mid = steps.len() / 2;
        let (_, m, _) = steps.select_nth_unstable(mid);
        Some(*m)
    }

    /// Splits the series into its parts.
    pub fn into_parts(self) -> (Vec<i64>, Vec<f64>, TimeAxis) {
        (self.timestamps, self.values, self.axis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_rejects_bad_series() {
        type Case = (&'static str, Vec<i64>, Vec<f64>, &'static str);
        let cases: &[Case] = &[
            (
                "length mismatch",
                vec![1, 2],
                vec![1.0],
                "2 timestamps but 1 values",
            ),
            (
                "not increasing",
                vec![1, 3, 3],
                vec![1.0; 3],
                "point 2 (3) is not after point 1",
            ),
            (
                "infinite",
                vec![1, 2],
                vec![1.0, f64::INFINITY],
                "point 1 is infinite",
            ),
        ];
        for (name, t, v, want) in cases {
            let err = Series::new(t.clone(), v.clone()).unwrap_err().to_string();
            assert!(err.contains(want), "{name}: {err}");
        }
    }

    #[test]
    fn nan_is_a_missing_value() {
        let s = Series::new(vec![1, 2, 3], vec![1.0, f64::NAN, 3.0]).unwrap();
        assert_eq!(s.missing(), 1);
        assert_eq!(s.median_step(), Some(1));
    }
}
