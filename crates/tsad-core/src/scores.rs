//! The output of scoring: one score per point plus what charts and explanations need.

use serde::{Deserialize, Serialize};

/// One ensemble member's contribution, per point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberScores {
    /// The member's name in the ensemble (its kind, or the name given in the spec).
    pub name: String,
    /// The member's detector kind.
    pub kind: String,
    /// The member's scores normalised to the ensemble's common scale (robust z, see the
    /// ensemble's docs); NaN where the member is undefined.
    pub normalized: Vec<f64>,
    /// The member's own raw scores.
    pub raw: Vec<f64>,
}

/// Scores for a series, index-aligned with it.
///
/// `score[i]` is higher when point `i` is more anomalous and NaN when undefined (warm-up,
/// missing input). Each detector documents its scale. Window detectors give each point the
/// score of the window it belongs to, and say how in their docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Scores {
    /// One score per point.
    pub score: Vec<f64>,
    /// What the model expected at each point (forecast, rolling centre, reconstruction), if it
    /// has such a notion.
    pub expected: Option<Vec<f64>>,
    /// Calibrated rarity of each score (`-log10` of its tail probability under normal data, see
    /// [`crate::Calibration`]), once the pipeline has calibrated them; `None` before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rarity: Option<Vec<f64>>,
    /// A lower and upper band around `expected` that the model considers normal, if any.
    pub band: Option<(Vec<f64>, Vec<f64>)>,
    /// Each member's contribution, for ensembles; empty otherwise.
    pub members: Vec<MemberScores>,
    /// Detector-specific facts for the UI and explanations (detected period, Benford digit
    /// distribution, training losses, ...). `null` when there are none.
    pub report: serde_json::Value,
    /// For a detector that keeps only the peak of each episode (`level`: one point per change,
    /// 0 elsewhere), the dense score those are the peaks of, index-aligned, in standard errors
    /// of the detector's own noise model (1 = a change noise alone makes one time in three);
    /// `None` for every other detector. An ensemble reads such a member's center and scale
    /// from it: among a few peaks and many zeros, the highest ordinary swing would read as far
    /// out as a real change (see the ensemble's docs). The calibration reads `score` itself,
    /// whose peaks are what gets flagged. Not serialised.
    #[serde(skip)]
    pub dense: Option<Vec<f64>>,
}

impl Scores {
    /// Scores with nothing but the per-point score.
    pub fn new(score: Vec<f64>) -> Self {
        Scores {
            score,
            ..Scores::default()
        }
    }

    /// Adds the expected values.
    pub fn with_expected(mut self, expected: Vec<f64>) -> Self {
        self.expected = Some(expected);
        self
    }

    /// Adds the band.
    pub fn with_band(mut self, lower: Vec<f64>, upper: Vec<f64>) -> Self {
        self.band = Some((lower, upper));
        self
    }

    /// Adds the detector's report.
    pub fn with_report(mut self, report: serde_json::Value) -> Self {
        self.report = report;
        self
    }

    /// Adds the dense score of a detector that keeps only peaks (see [`Scores::dense`]).
    pub fn with_dense(mut self, dense: Vec<f64>) -> Self {
        self.dense = Some(dense);
        self
    }

    /// Number of points scored.
    pub fn len(&self) -> usize {
        self.score.len()
    }

    /// True when nothing was scored.
    pub fn is_empty(&self) -> bool {
        self.score.is_empty()
    }
}
