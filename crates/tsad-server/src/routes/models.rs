//! `/api/v1/models`: stored fitted models (list, get, delete, download the model file that
//! `tsad detect FILE --model MODEL` loads) and `POST /api/v1/runs/{id}/model`, which saves a
//! run's fitted model.

use crate::api::{Model, ModelCreate, ModelList};
use crate::error::{ApiError, ErrorBody, optional_json};
use crate::jobs::{self, TimeChoice};
use crate::state::AppState;
use crate::training::{self, TrainingData};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tsad_core::FitContext;
use tsad_io::ColumnRef;
use tsad_store::{RunStatus, Storage};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/models", get(models_list))
        .route("/api/v1/models/{id}", get(models_get).delete(models_delete))
        .route("/api/v1/models/{id}/download", get(models_download))
        .route("/api/v1/runs/{id}/model", post(runs_model_create))
}

/// List stored models, newest first.
#[utoipa::path(
    get, path = "/api/v1/models", tag = "models",
    responses((status = 200, description = "the models", body = ModelList))
)]
pub(crate) async fn models_list(
    State(state): State<AppState>,
) -> Result<Json<ModelList>, ApiError> {
    let models = state.blocking(|s| Ok(s.list_models()?)).await?;
    Ok(Json(ModelList {
        models: models.into_iter().map(Model::from).collect(),
    }))
}

/// One stored model.
#[utoipa::path(
    get, path = "/api/v1/models/{id}", tag = "models",
    params(("id" = String, Path, description = "model id")),
    responses(
        (status = 200, description = "the model", body = Model),
        (status = 404, description = "unknown model", body = ErrorBody),
    )
)]
pub(crate) async fn models_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Model>, ApiError> {
    let model = state.blocking(move |s| Ok(s.model(&id)?)).await?;
    Ok(Json(model.into()))
}

/// Delete a stored model (runs that used it keep their results).
#[utoipa::path(
    delete, path = "/api/v1/models/{id}", tag = "models",
    params(("id" = String, Path, description = "model id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, description = "unknown model", body = ErrorBody),
    )
)]
pub(crate) async fn models_delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.blocking(move |s| Ok(s.delete_model(&id)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The model file (versioned JSON: detector state and calibration), as `tsad fit --save`
/// writes it; `tsad detect FILE --model MODEL` scores with it.
#[utoipa::path(
    get, path = "/api/v1/models/{id}/download", tag = "models",
    params(("id" = String, Path, description = "model id")),
    responses(
        (status = 200, description = "the model file", content_type = "application/json", body = Object),
        (status = 404, description = "unknown model", body = ErrorBody),
    )
)]
pub(crate) async fn models_download(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let model_id = id.clone();
    let bytes = state
        .blocking(move |s| Ok(s.model_bytes(&model_id)?))
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.json\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Save a succeeded run's fitted model: the detector is fitted again on the run's training
/// part (as `tsad fit` does), with the calibration of its scores there. 200 with the model
/// already saved for this run, if it is still stored.
#[utoipa::path(
    post, path = "/api/v1/runs/{id}/model", tag = "models",
    params(("id" = String, Path, description = "run id")),
    request_body(content = Option<ModelCreate>, description = "optional `{\"name\": ...}`"),
    responses(
        (status = 201, description = "the stored model", body = Model),
        (status = 200, description = "the model already saved for this run", body = Model),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 404, description = "unknown run, or its dataset is gone", body = ErrorBody),
        (status = 409, description = "the run has not succeeded, or it scored with a stored model", body = ErrorBody),
        (status = 422, description = "the training part cannot be fitted any more", body = ErrorBody),
    )
)]
pub(crate) async fn runs_model_create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Model>), ApiError> {
    let req: ModelCreate = optional_json(&body)?;
    let (created, model) = state
        .blocking(move |s| save_run_model(s, &id, req.name))
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(model.into())))
}

fn save_run_model(
    s: &dyn Storage,
    id: &str,
    name: Option<String>,
) -> Result<(bool, tsad_store::ModelRecord), ApiError> {
    let run = s.run(id)?;
    if run.status != RunStatus::Succeeded {
        return Err(ApiError::conflict(format!(
            "run `{id}` is {}; its model can be saved once it succeeded",
            run.status
        )));
    }
    let training = run
        .training
        .clone()
        .unwrap_or_else(|| json!({"source": "self"}));
    let text = |k: &str| training.get(k).and_then(Value::as_str).map(str::to_owned);
    if let Some(saved) = text("saved_model_id")
        && let Ok(model) = s.model(&saved)
    {
        return Ok((false, model));
    }
    if let Some(model_id) = text("model_id") {
        return Err(ApiError::conflict(format!(
            "run `{id}` scored with the stored model `{model_id}`, which is saved already \
             (GET /api/v1/models/{model_id})"
        )));
    }
    let (spec, _) = tsad_engine::parse_spec(&run.spec)?;
    // After a run, its columns are the resolved names (a null time column: row numbers).
    let time = match run.time_column.as_str() {
        Some(t) => TimeChoice::Column(ColumnRef::Name(t.to_owned())),
        None => TimeChoice::RowIndex,
    };
    let value = run
        .value_column
        .as_str()
        .map(|v| ColumnRef::Name(v.to_owned()));
    let data = jobs::read_run_data(s, &run.dataset_id, &time, value.as_ref())?;
    let ingested = &data.ingested;
    let ctx = FitContext::new();
    let record = match text("source").as_deref() {
        Some("prefix") => {
            let rows = training
                .get("prefix_rows")
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n <= ingested.series.len())
                .ok_or_else(|| {
                    ApiError::internal(format!("run `{id}` has no usable prefix_rows"))
                })?;
            let prefix = ingested.series.slice(0..rows);
            let part = TrainingData {
                series: &prefix,
                dataset_id: Some(data.dataset.id.clone()),
                dataset_name: data.dataset.name.clone(),
                source: "prefix",
                time_column: ingested.time_column.clone(),
                value_column: ingested.value_column.clone(),
            };
            training::fit_and_store(s, &spec, &part, name, Some(id), &ctx)?
        }
        Some("dataset") => {
            let train_id = text("dataset_id").unwrap_or_default();
            let value_column = training
                .get("value_column")
                .and_then(|v| serde_json::from_value::<ColumnRef>(v.clone()).ok());
            let (train, train_name) =
                jobs::read_training_for(s, ingested, &train_id, value_column.as_ref())?;
            let part = TrainingData {
                series: &train.series,
                dataset_id: Some(train_id),
                dataset_name: train_name,
                source: "dataset",
                time_column: train.time_column.clone(),
                value_column: train.value_column.clone(),
            };
            training::fit_and_store(s, &spec, &part, name, Some(id), &ctx)?
        }
        _ => {
            let part = TrainingData {
                series: &ingested.series,
                dataset_id: Some(data.dataset.id.clone()),
                dataset_name: data.dataset.name.clone(),
                source: "self",
                time_column: ingested.time_column.clone(),
                value_column: ingested.value_column.clone(),
            };
            training::fit_and_store(s, &spec, &part, name, Some(id), &ctx)?
        }
    };
    // Point the run at its model (re-read: a re-threshold may have changed it meanwhile).
    let mut run = s.run(id)?;
    let mut info = run
        .training
        .clone()
        .unwrap_or_else(|| json!({"source": "self"}));
    if let Some(obj) = info.as_object_mut() {
        obj.insert("saved_model_id".into(), json!(record.id));
    }
    run.training = Some(info);
    s.update_run(&run)?;
    Ok((true, record))
}
