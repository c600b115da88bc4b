//! `/api/v1/detectors` (the catalog) and `/api/v1/detect` (synchronous detection of a small
//! inline series).

use crate::api::{DetectRequest, DetectResponse, EventOrder, SeriesInfo};
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::events::{listing, scale_name};
use crate::jobs::build_result;
use crate::routes::runs::{Checked, RequestParts, check_request, columnar};
use crate::state::AppState;
use crate::training::{self, TrainRequest};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tsad_core::{CancelFlag, FitContext, Series};
use tsad_engine::{FittedModel, Training};

/// The most points `POST /api/v1/detect` accepts.
pub(crate) const MAX_DETECT_POINTS: usize = 100_000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/detectors", get(detectors_list))
        .route("/api/v1/detect", post(detect_create))
}

/// Cancels its flag when dropped: with the request's future, when the client goes away.
struct CancelOnDrop(CancelFlag);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
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
        (status = 404, description = "unknown model or training dataset", body = ErrorBody),
        (status = 409, description = "the stored model file is of another kind or version", body = ErrorBody),
        (status = 415, description = "a body that is not `application/json`", body = ErrorBody),
        (status = 422, description = "invalid series (or every value null), detector, threshold, event options or training part; `limit_exceeded` for a spec beyond the server's limits", body = ErrorBody),
        (status = 429, description = "as many detections compute and wait as the server allows", body = ErrorBody),
    )
)]
pub(crate) async fn detect_create(
    State(state): State<AppState>,
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
    let Checked {
        spec,
        preset,
        threshold,
        events,
        train,
        model_id,
    } = check_request(RequestParts {
        detector: req.detector.as_ref(),
        threshold: req.threshold.as_ref(),
        events: req.events.as_ref(),
        train: req.train.as_ref(),
        model_id: req.model_id.as_deref(),
        inline: true,
    })?;
    let limits = state.config().limits.clone();
    let train_points = match &train {
        Some(TrainRequest::Values { values, .. }) => values.len(),
        _ => 0,
    };
    limits.check_work(&spec, req.values.len() + train_points)?;
    if !req.values.is_empty() && req.values.iter().all(Option::is_none) {
        // The same series as a CSV is rejected at ingest; inline it must not pass either.
        return Err(ApiError::unprocessable(
            "invalid_series",
            format!(
                "every one of the {} values is null; send at least one number",
                req.values.len()
            ),
        ));
    }
    let values: Vec<f64> = req.values.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
    let series = match req.timestamps {
        Some(ts) => Series::new(ts, values)?,
        None => Series::from_values(values)?,
    };
    let store = state.store().clone();
    // Counted against the server's bound on concurrent work (429 when full); the slot moves
    // into the blocking task, so it is freed only once the computation has stopped.
    let slot = state.jobs().detect_slot().await?;
    // A client that disconnects (or the request timeout) drops this future: the flag tells the
    // detector to stop at its next check.
    let cancel = CancelFlag::new();
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    let response = tokio::task::spawn_blocking(move || -> Result<DetectResponse, ApiError> {
        let _slot = slot;
        let span = tracing::info_span!("detect", kind = spec.kind(), points = series.len());
        let _enter = span.enter();
        let ctx = FitContext::new().with_cancel(cancel);
        let (detection, spec, preset, source) = if let Some(id) = &model_id {
            let (_, fitted): (_, FittedModel) = training::load_model(store.as_ref(), id)?;
            limits.check_work(fitted.spec(), series.len())?;
            let detection = tsad_engine::detect_fitted(&series, &fitted, &threshold, &events)?;
            (
                detection,
                fitted.spec().clone(),
                None,
                json!({"source": "model", "model_id": id}),
            )
        } else {
            training::check_series_length(&spec, &series)?;
            let mut planned = json!({"source": "self"});
            let other: Option<Series> = match &train {
                Some(TrainRequest::Values { values, timestamps }) => {
                    let values: Vec<f64> = values.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
                    let train = match timestamps {
                        Some(ts) => Series::new(ts.clone(), values),
                        None => Series::from_values(values),
                    }
                    .map_err(|e| {
                        ApiError::unprocessable("invalid_parameter", format!("train.values: {e}"))
                    })?;
                    training::check_axes(&train, &series, "train.values")?;
                    planned = json!({"source": "values"});
                    Some(train)
                }
                Some(TrainRequest::Dataset {
                    dataset_id,
                    value_column,
                }) => {
                    let indexed = series.axis() == tsad_core::TimeAxis::Index;
                    let (ingested, _) = training::read_training_dataset(
                        store.as_ref(),
                        dataset_id,
                        value_column.as_ref(),
                        None,
                        indexed,
                        None,
                    )?;
                    training::check_axes(&ingested.series, &series, "train.dataset_id")?;
                    limits.check_work(&spec, series.len() + ingested.series.len())?;
                    planned = json!({
                        "source": "dataset", "dataset_id": dataset_id,
                        "value_column": ingested.value_column,
                    });
                    Some(ingested.series)
                }
                _ => None,
            };
            let training = match (&train, &other) {
                (_, Some(t)) => Training::Separate(t),
                (Some(req @ (TrainRequest::Rows(_) | TrainRequest::Until(_))), _) => {
                    let rows = training::prefix_rows(&series, req)?;
                    planned = json!({"source": "prefix", "prefix_rows": rows});
                    if let TrainRequest::Until(u) = req {
                        planned["until"] = u.clone();
                    }
                    Training::Prefix(rows)
                }
                _ => Training::Same,
            };
            let detection =
                tsad_engine::detect_with(&series, training, &spec, &threshold, &events, &ctx)?;
            (detection, spec, preset, planned)
        };
        let ts = series.timestamps();
        let span = match detection.training.prefix_rows {
            Some(n) if n > 0 => Some((ts[0], ts[n - 1])),
            _ if detection.training.source == "self" => ts.first().copied().zip(ts.last().copied()),
            _ => None,
        };
        let training = training::completed(&source, &detection.training, span);
        let result = build_result(&series, &detection, None);
        let all: Vec<usize> = (0..result.len()).collect();
        let (events_json, event_count) = listing(&result.events, EventOrder::Time, 0);
        Ok(DetectResponse {
            series: SeriesInfo {
                points: series.len(),
                start: ts.first().copied(),
                end: ts.last().copied(),
                step_ms: series.median_step(),
            },
            detector: serde_json::to_value(&spec).map_err(ApiError::internal)?,
            preset,
            threshold: serde_json::to_value(threshold).map_err(ApiError::internal)?,
            threshold_rule: threshold.describe(),
            scale: scale_name(detection.cut.scale).into(),
            threshold_value: detection
                .cut
                .value
                .is_finite()
                .then_some(detection.cut.value),
            anomaly_count: detection.cut.count(),
            event_count,
            events: events_json,
            routine: serde_json::to_value(&detection.cut.routine).map_err(ApiError::internal)?,
            quiet: crate::jobs::quiet(
                &series,
                &detection.scores,
                &detection.cut,
                &detection.events,
            ),
            training,
            points: columnar(&result, &all, result.len(), detection.cut.scale),
            report: result.report.clone(),
            fit_seconds: detection.fit_seconds,
            score_seconds: detection.score_seconds,
        })
    })
    .await??;
    Ok(Json(response))
}
