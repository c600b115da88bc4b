//! `/api/v1/detectors` (the catalog) and `/api/v1/detect` (synchronous detection of a small
//! inline series).

use crate::api::{DetectRequest, DetectResponse, SeriesInfo};
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::jobs::build_result;
use crate::routes::runs::{check_request, columnar};
use crate::state::AppState;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use tsad_core::{FitContext, Series};

/// The most points `POST /api/v1/detect` accepts.
pub(crate) const MAX_DETECT_POINTS: usize = 100_000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/detectors", get(detectors_list))
        .route("/api/v1/detect", post(detect_create))
}

/// Detector kinds with their parameters, defaults and docs; presets; thresholds.
#[utoipa::path(
    get, path = "/api/v1/detectors", tag = "detectors",
    responses((status = 200, description = "the catalog: detectors, presets, thresholds, default_spec, default_threshold", body = Object))
)]
pub(crate) async fn detectors_list() -> Result<Json<Value>, ApiError> {
    let catalog = tokio::task::spawn_blocking(|| serde_json::to_value(tsad_engine::catalog()))
        .await?
        .map_err(ApiError::internal)?;
    Ok(Json(catalog))
}

/// Detect anomalies in a small inline series and answer at once (at most 100,000 points).
#[utoipa::path(
    post, path = "/api/v1/detect", tag = "detectors",
    request_body = DetectRequest,
    responses(
        (status = 200, description = "scores, events and every point", body = DetectResponse),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 422, description = "invalid series, detector or threshold", body = ErrorBody),
    )
)]
pub(crate) async fn detect_create(
    State(_state): State<AppState>,
    ApiJson(req): ApiJson<DetectRequest>,
) -> Result<Json<DetectResponse>, ApiError> {
    if req.values.len() > MAX_DETECT_POINTS {
        return Err(ApiError::unprocessable(
            "invalid_series",
            format!(
                "{} points is more than the {MAX_DETECT_POINTS} that /api/v1/detect accepts; \
                 upload the series as a dataset and start a run instead",
                req.values.len()
            ),
        ));
    }
    let checked = check_request(
        req.detector.as_ref(),
        req.threshold.as_ref(),
        req.events.as_ref(),
    )?;
    let values: Vec<f64> = req.values.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
    let series = match req.timestamps {
        Some(ts) => Series::new(ts, values)?,
        None => Series::from_values(values)?,
    };
    let response = tokio::task::spawn_blocking(move || -> Result<DetectResponse, ApiError> {
        let span = tracing::info_span!("detect", kind = checked.spec.kind(), points = series.len());
        let _enter = span.enter();
        let detection = tsad_engine::detect(
            &series,
            &checked.spec,
            &checked.threshold,
            &checked.events,
            &FitContext::new(),
        )?;
        let result = build_result(&series, &detection, None);
        let all: Vec<usize> = (0..result.len()).collect();
        let ts = series.timestamps();
        Ok(DetectResponse {
            series: SeriesInfo {
                points: series.len(),
                start: ts.first().copied(),
                end: ts.last().copied(),
                step_ms: series.median_step(),
            },
            detector: serde_json::to_value(&checked.spec).map_err(ApiError::internal)?,
            preset: checked.preset,
            threshold: serde_json::to_value(checked.threshold).map_err(ApiError::internal)?,
            threshold_value: detection
                .cut
                .value
                .is_finite()
                .then_some(detection.cut.value),
            anomaly_count: detection.cut.count(),
            events: result.events.clone(),
            points: columnar(&result, &all, result.len()),
            report: result.report.clone(),
            fit_seconds: detection.fit_seconds,
            score_seconds: detection.score_seconds,
        })
    })
    .await??;
    Ok(Json(response))
}
