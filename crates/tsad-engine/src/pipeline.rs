//! The detection pipeline: build, fit, score, threshold, merge into events.

use crate::{DetectorSpec, EngineError};
use serde::Serialize;
use std::time::Instant;
use tsad_core::{Cut, Event, EventOptions, FitContext, Scores, Series, Threshold, events};

/// Everything one detection produced.
#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    /// Per-point scores, expected values, band, members and the detector's report.
    pub scores: Scores,
    /// The threshold's cut-off and per-point flags.
    pub cut: Cut,
    /// Flagged points merged into events.
    pub events: Vec<Event>,
    /// Seconds spent fitting.
    pub fit_seconds: f64,
    /// Seconds spent scoring.
    pub score_seconds: f64,
}

/// Builds the detector of `spec`, fits it on `series`, scores `series`, applies `threshold`
/// and merges flags into events.
///
/// # Errors
///
/// [`EngineError::InvalidConfig`] for an invalid spec; [`EngineError::Detector`] when the
/// series is too short, the threshold invalid, or the fit was cancelled.
pub fn detect(
    series: &Series,
    spec: &DetectorSpec,
    threshold: &Threshold,
    options: &EventOptions,
    ctx: &FitContext,
) -> Result<Detection, EngineError> {
    threshold.validate()?;
    let detector = spec.build()?;
    let needed = detector.min_len();
    if series.len() < needed {
        return Err(tsad_core::Error::NotEnoughData {
            needed,
            got: series.len(),
        }
        .into());
    }
    let start = Instant::now();
    let model = detector.fit(series, ctx)?;
    let fit_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let scores = model.score(series)?;
    let score_seconds = start.elapsed().as_secs_f64();
    if scores.len() != series.len() {
        return Err(tsad_core::Error::Backend {
            source: format!(
                "detector `{}` returned {} scores for {} points",
                spec.kind(),
                scores.len(),
                series.len()
            )
            .into(),
        }
        .into());
    }
    let (cut, events) = rethreshold(series, &scores, threshold, options)?;
    Ok(Detection {
        scores,
        cut,
        events,
        fit_seconds,
        score_seconds,
    })
}

/// Applies a new threshold to stored scores: no model runs.
///
/// # Errors
///
/// [`EngineError::Detector`] when the threshold's parameter is out of range.
pub fn rethreshold(
    series: &Series,
    scores: &Scores,
    threshold: &Threshold,
    options: &EventOptions,
) -> Result<(Cut, Vec<Event>), EngineError> {
    let cut = threshold.apply(&scores.score)?;
    let found = events(series, scores, &cut, options);
    Ok((cut, found))
}
