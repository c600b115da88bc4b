//! A univariate time series: strictly increasing timestamps and `f64` values (NaN = missing),
//! optionally with covariates: named extra columns aligned with the values, which detectors
//! may read as inputs (the values stay what is judged).

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

/// A named extra column of a [`Series`], one value per point (NaN = missing): an input a
/// detector may use to explain the values, such as the command flags sent to a spacecraft
/// module. Checked when attached with [`Series::with_covariates`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Covariate {
    name: String,
    values: Vec<f64>,
}

impl Covariate {
    /// A covariate named `name` (checked by [`Series::with_covariates`]).
    pub fn new(name: impl Into<String>, values: Vec<f64>) -> Self {
        Covariate {
            name: name.into(),
            values,
        }
    }

    /// Its name (the column's).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its values, one per point of the series; NaN marks a missing value.
    pub fn values(&self) -> &[f64] {
        &self.values
    }
}

/// A validated series.
///
/// Invariants, checked by [`Series::new`]: as many timestamps as values, timestamps strictly
/// increasing, no infinite value. NaN is allowed and means a missing value. Covariates, if
/// any ([`Series::with_covariates`]), have one value per point, no infinite value and distinct,
/// non-empty names; detectors that do not use them ignore them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    timestamps: Vec<i64>,
    values: Vec<f64>,
    axis: TimeAxis,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    covariates: Vec<Covariate>,
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
            covariates: Vec::new(),
        })
    }

    /// Attaches `covariates` (replacing any the series had).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSeries`] when a covariate's length differs from the series', a value is
    /// infinite (NaN is allowed and means missing), a name is empty, or two share a name; the
    /// message names the covariate and the first offending point.
    pub fn with_covariates(mut self, covariates: Vec<Covariate>) -> Result<Self, Error> {
        for (k, c) in covariates.iter().enumerate() {
            if c.name.trim().is_empty() {
                return Err(Error::invalid_series(format!(
                    "covariate {k} has an empty name; name every covariate"
                )));
            }
            if covariates[..k].iter().any(|o| o.name == c.name) {
                return Err(Error::invalid_series(format!(
                    "covariate \"{}\" is given twice; covariate names must differ",
                    c.name
                )));
            }
            if c.values.len() != self.values.len() {
                return Err(Error::invalid_series(format!(
                    "covariate \"{}\" has {} values but the series has {} points",
                    c.name,
                    c.values.len(),
                    self.values.len()
                )));
            }
            if let Some(i) = c.values.iter().position(|v| v.is_infinite()) {
                return Err(Error::invalid_series(format!(
                    "covariate \"{}\" is infinite at point {i}; use NaN (an empty cell) for a \
                     missing value",
                    c.name
                )));
            }
        }
        self.covariates = covariates;
        Ok(self)
    }

    /// The covariates, in the order they were attached (empty by default).
    pub fn covariates(&self) -> &[Covariate] {
        &self.covariates
    }

    /// The covariates' names, in order.
    pub fn covariate_names(&self) -> Vec<&str> {
        self.covariates.iter().map(Covariate::name).collect()
    }

    /// The series without its covariates.
    pub fn without_covariates(mut self) -> Series {
        self.covariates.clear();
        self
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
            values: self.values[range.clone()].to_vec(),
            axis: self.axis,
            covariates: self
                .covariates
                .iter()
                .map(|c| Covariate::new(c.name.clone(), c.values[range.clone()].to_vec()))
                .collect(),
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

    /// Splits the series into its parts (dropping any covariates; see
    /// [`Series::covariates`]).
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
    fn with_covariates_checks_each_column() {
        let series = || Series::from_values(vec![1.0, 2.0, 3.0]).unwrap();
        type Case = (&'static str, Vec<Covariate>, &'static str);
        let cases: Vec<Case> = vec![
            (
                "too short",
                vec![Covariate::new("flag", vec![0.0, 1.0])],
                "covariate \"flag\" has 2 values but the series has 3 points",
            ),
            (
                "infinite",
                vec![Covariate::new("flag", vec![0.0, f64::NEG_INFINITY, 1.0])],
                "covariate \"flag\" is infinite at point 1",
            ),
            (
                "empty name",
                vec![Covariate::new(" ", vec![0.0; 3])],
                "covariate 0 has an empty name",
            ),
            (
                "twice",
                vec![
                    Covariate::new("a", vec![0.0; 3]),
                    Covariate::new("a", vec![1.0; 3]),
                ],
                "covariate \"a\" is given twice",
            ),
        ];
        for (name, covariates, want) in cases {
            let err = series().with_covariates(covariates).unwrap_err();
            assert!(
                matches!(err, Error::InvalidSeries { .. }),
                "{name}: {err:?}"
            );
            assert!(err.to_string().contains(want), "{name}: {err}");
        }
        let s = series()
            .with_covariates(vec![
                Covariate::new("a", vec![0.0, f64::NAN, 1.0]),
                Covariate::new("b", vec![5.0, 6.0, 7.0]),
            ])
            .unwrap();
        assert_eq!(s.covariate_names(), ["a", "b"]);
        let tail = s.slice(1..3);
        assert_eq!(tail.covariates()[1].values(), &[6.0, 7.0]);
        assert!(tail.covariates()[0].values()[0].is_nan());
        assert!(s.clone().without_covariates().covariates().is_empty());
        // A series without covariates serialises as before; one with them round-trips.
        let plain = serde_json::to_value(series()).unwrap();
        assert!(plain.get("covariates").is_none(), "{plain}");
        let back: Series =
            serde_json::from_str(&serde_json::to_string(&s.slice(0..1)).unwrap()).unwrap();
        assert_eq!(back, s.slice(0..1));
    }

    #[test]
    fn nan_is_a_missing_value() {
        let s = Series::new(vec![1, 2, 3], vec![1.0, f64::NAN, 3.0]).unwrap();
        assert_eq!(s.missing(), 1);
        assert_eq!(s.median_step(), Some(1));
    }
}
