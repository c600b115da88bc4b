//! `/api/v1/datasets`: upload (multipart or JSON points), the demo, list, get, delete.

use crate::api::{
    Dataset, DatasetList, DatasetPoints, DatasetSeries, DatasetSeriesEntry, DatasetSeriesQuery,
    DatasetSummary, DemoRequest, Rename,
};
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody, optional_json};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tsad_io::{ColumnKind, DecimalMark, IngestOptions};
use tsad_store::DatasetRecord;

/// Rows of the stored preview.
const PREVIEW_ROWS: usize = 20;
/// Column names taken as ground-truth labels when they hold only 0 and 1 (or true and false,
/// yes and no, as pandas and people write them).
const LABEL_NAMES: [&str; 4] = ["is_anomaly", "label", "anomaly", "is_anomalous"];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/datasets", get(datasets_list).post(datasets_create))
        .route("/api/v1/datasets/demo", post(datasets_demo))
        .route(
            "/api/v1/datasets/{id}",
            get(datasets_get)
                .delete(datasets_delete)
                .patch(datasets_rename),
        )
        .route("/api/v1/datasets/{id}/series", get(datasets_series))
}

/// Upload a CSV (multipart field `file`, optional field `name`) or JSON points.
#[utoipa::path(
    post, path = "/api/v1/datasets", tag = "datasets",
    request_body(
        description = "multipart/form-data with field `file` (the CSV), optional field `name` and optional field `decimal` (`.` or `,`; default: detected), or JSON points",
        content(
            (DatasetPoints = "application/json"),
            (Object = "multipart/form-data")
        )
    ),
    responses(
        (status = 201, description = "the dataset", body = Dataset),
        (status = 400, description = "malformed body or missing `file` field", body = ErrorBody),
        (status = 413, description = "body above the upload limit", body = ErrorBody),
        (status = 415, description = "neither multipart/form-data nor application/json", body = ErrorBody),
        (status = 422, description = "the file cannot be read as a series (`invalid_csv`, `invalid_series`), or a name or column name longer than the limit (`limit_exceeded`)", body = ErrorBody),
    )
)]
pub(crate) async fn datasets_create(
    State(state): State<AppState>,
    req: Request,
) -> Result<(StatusCode, Json<Dataset>), ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (name, bytes, decimal) = if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(req, &state).await?;
        read_multipart(&mut multipart).await?
    } else if content_type.starts_with("application/json") {
        let ApiJson(points) = ApiJson::<DatasetPoints>::from_request(req, &state).await?;
        let (name, bytes) = points_to_csv(points)?;
        (name, bytes, None)
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the CSV as multipart/form-data (field `file`) or the points as \
             application/json",
        ));
    };
    let dataset = create_with(&state, name, bytes, decimal).await?;
    Ok((StatusCode::CREATED, Json(dataset)))
}

/// The uploaded file, its name, and the decimal mark asked for (`None`: detect).
type Upload = (String, Bytes, Option<DecimalMark>);

async fn read_multipart(multipart: &mut Multipart) -> Result<Upload, ApiError> {
    let mut file: Option<(Option<String>, Bytes)> = None;
    let mut name: Option<String> = None;
    let mut decimal: Option<DecimalMark> = None;
    while let Some(field) = multipart.next_field().await? {
        match field.name() {
            Some("file") => {
                let file_name = field.file_name().map(str::to_owned);
                file = Some((file_name, field.bytes().await?));
            }
            Some("name") => name = Some(field.text().await?),
            Some("decimal") => {
                let text = field.text().await?;
                // An empty field (the form's "detect" choice) means detect.
                if !text.trim().is_empty() {
                    decimal = Some(text.parse().map_err(|reason: String| {
                        ApiError::unprocessable("invalid_parameter", format!("decimal: {reason}"))
                    })?);
                }
            }
            _ => {} // unknown fields are ignored, as browsers may add their own
        }
    }
    let Some((file_name, bytes)) = file else {
        return Err(ApiError::bad_request(
            "the multipart body has no `file` field; send the CSV as field `file`",
        ));
    };
    let name = name
        .filter(|n| !n.trim().is_empty())
        .or(file_name)
        .unwrap_or_else(|| "upload.csv".into());
    Ok((name, bytes, decimal))
}

/// Inline points become a CSV so every dataset is stored and read the same way.
fn points_to_csv(p: DatasetPoints) -> Result<(String, Bytes), ApiError> {
    if p.values.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_series",
            "`values` is empty; send at least one value",
        ));
    }
    let values: Vec<f64> = p.values.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
    let mut csv = String::with_capacity(values.len() * 24);
    match p.timestamps {
        Some(ts) => {
            // Series::new checks lengths, order and infinities with precise messages.
            let series = tsad_core::Series::new(ts, values)?;
            csv.push_str("timestamp,value\n");
            for (t, v) in series.timestamps().iter().zip(series.values()) {
                csv.push_str(&tsad_io::format_timestamp(*t));
                csv.push(',');
                if !v.is_nan() {
                    csv.push_str(&v.to_string());
                }
                csv.push('\n');
            }
        }
        None => {
            let series = tsad_core::Series::from_values(values)?;
            csv.push_str("value\n");
            for v in series.values() {
                if !v.is_nan() {
                    csv.push_str(&v.to_string());
                }
                csv.push('\n');
            }
        }
    }
    let name = p.name.unwrap_or_else(|| "points".into());
    Ok((name, Bytes::from(csv)))
}

/// Reads, checks and stores a dataset (on the blocking pool: ingest reads the whole file).
pub(crate) async fn create(
    state: &AppState,
    name: String,
    bytes: Bytes,
) -> Result<Dataset, ApiError> {
    create_with(state, name, bytes, None).await
}

/// [`create`] with the decimal mark the upload asked for (`None`: detect); the mark is kept
/// with the dataset, so every run reads the file the same way.
async fn create_with(
    state: &AppState,
    name: String,
    bytes: Bytes,
    decimal: Option<DecimalMark>,
) -> Result<Dataset, ApiError> {
    let limits = state.config().limits.clone();
    limits.check_name("the dataset name", &name)?;
    state
        .blocking(move |store| {
            let record = analyse(&name, &bytes, decimal)?;
            if let Some(cols) = record.meta["columns"].as_array() {
                for c in cols.iter().filter_map(|c| c["name"].as_str()) {
                    limits.check_name("a column name", c)?;
                }
            }
            store.create_dataset(&record, &bytes)?;
            tracing::info!(dataset_id = %record.id, rows = record.rows, "Dataset created");
            Ok(Dataset::from(record))
        })
        .await
}

/// The decimal mark an upload asked for, as kept in the dataset's meta (`None`: detect).
pub(crate) fn dataset_decimal(meta: &Value) -> Option<DecimalMark> {
    meta.get("decimal")?.as_str()?.parse().ok()
}

/// Preview, detected columns, label column and diagnostics of a file.
fn analyse(
    name: &str,
    bytes: &[u8],
    decimal: Option<DecimalMark>,
) -> Result<DatasetRecord, ApiError> {
    let preview = tsad_io::preview_bytes(bytes, PREVIEW_ROWS, Some(name))?;
    let opts = IngestOptions {
        source_name: Some(name.to_owned()),
        decimal,
        ..IngestOptions::default()
    };
    // A file that is not one series may be a long file: one series per id in a text column.
    let (ingested, series_column, rows) = match tsad_io::read_bytes(bytes, &opts) {
        Ok(ingested) => {
            let rows = ingested.diagnostics.rows_read;
            (ingested, None, rows)
        }
        Err(single) => match long_layout(bytes, &opts, &preview) {
            Some(found) => found,
            None => return Err(single.into()),
        },
    };
    let label_column = preview
        .columns
        .iter()
        .find(|c| {
            LABEL_NAMES.contains(&c.name.trim().to_ascii_lowercase().as_str())
                && matches!(c.kind, ColumnKind::Numeric | ColumnKind::Text)
                && c.name != ingested.value_column
                && !preview.rows.is_empty()
                && preview.rows.iter().all(|r| {
                    r.get(c.index).is_some_and(|v| {
                        let v = v.trim().to_ascii_lowercase();
                        matches!(
                            v.as_str(),
                            "0" | "1" | "0.0" | "1.0" | "" | "true" | "false" | "yes" | "no"
                        )
                    })
                })
        })
        .map(|c| c.name.clone());
    let diagnostics = serde_json::to_value(&ingested.diagnostics).unwrap_or(Value::Null);
    let meta = json!({
        "delimiter": preview.delimiter.to_string(),
        "has_header": preview.has_header,
        "columns": preview.columns,
        "time_column": ingested.time_column,
        "value_column": ingested.value_column,
        "label_column": label_column,
        "time_axis": crate::jobs::axis_name(ingested.series.axis()),
        "preview": {"rows": preview.rows},
        "diagnostics": diagnostics,
        "decimal": decimal.map(|d| d.to_string()),
        "series_column": series_column,
    });
    Ok(DatasetRecord {
        id: tsad_store::new_id("ds"),
        name: name.to_owned(),
        created_at: chrono::Utc::now().timestamp_millis(),
        size_bytes: bytes.len() as u64,
        rows: rows as u64,
        meta,
    })
}

/// The first text column that reads the file as a long file (one series per id, at least one
/// series readable): that series, the column's name and the file's rows.
fn long_layout(
    bytes: &[u8],
    opts: &IngestOptions,
    preview: &tsad_io::Preview,
) -> Option<(tsad_io::Ingested, Option<String>, usize)> {
    preview
        .columns
        .iter()
        .filter(|c| matches!(c.kind, ColumnKind::Text))
        .find_map(|c| {
            let long = IngestOptions {
                series: tsad_io::SeriesLayout::Long(tsad_io::ColumnRef::Name(c.name.clone())),
                ..opts.clone()
            };
            let fleet = tsad_io::read_fleet_bytes(bytes, &long).ok()?;
            let rows = fleet.rows_read;
            let first = fleet.series.into_iter().find_map(|s| s.result.ok())?;
            Some((first, Some(c.name.clone()), rows))
        })
}

/// Create the synthetic demo dataset (with its `is_anomaly` labels).
#[utoipa::path(
    post, path = "/api/v1/datasets/demo", tag = "datasets",
    request_body(content = Option<DemoRequest>, content_type = "application/json"),
    responses(
        (status = 201, description = "the demo dataset", body = Dataset),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 415, description = "a body that is not `application/json`", body = ErrorBody),
        (status = 422, description = "points or seed out of range (`limit_exceeded` above the server's limit, default 1,000,000)", body = ErrorBody),
    )
)]
pub(crate) async fn datasets_demo(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Dataset>), ApiError> {
    let req: DemoRequest = optional_json(&body)?;
    let max = state.config().limits.max_demo_points;
    if let Some(points) = req.points.filter(|p| *p > max) {
        return Err(crate::limits::exceeded(format!(
            "points: {points} is more than the server's limit of {max} for the demo; ask for \
             fewer"
        )));
    }
    let defaults = tsad_io::demo::DemoParams::default();
    let params = tsad_io::demo::DemoParams {
        points: req.points.unwrap_or(defaults.points),
        seed: req.seed.unwrap_or(defaults.seed),
        ..defaults
    };
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
        let demo = tsad_io::demo::generate(&params)?;
        let mut out = Vec::new();
        tsad_io::demo::write_csv(&demo, &mut out).map_err(ApiError::internal)?;
        Ok(out)
    })
    .await??;
    let dataset = create(&state, "demo.csv".into(), Bytes::from(bytes)).await?;
    Ok((StatusCode::CREATED, Json(dataset)))
}

/// List datasets, newest first.
#[utoipa::path(
    get, path = "/api/v1/datasets", tag = "datasets",
    responses((status = 200, description = "every dataset", body = DatasetList))
)]
pub(crate) async fn datasets_list(
    State(state): State<AppState>,
) -> Result<Json<DatasetList>, ApiError> {
    let list = state.blocking(|s| Ok(s.list_datasets()?)).await?;
    Ok(Json(DatasetList {
        datasets: list.into_iter().map(DatasetSummary::from).collect(),
    }))
}

/// One dataset with its columns, preview and diagnostics.
#[utoipa::path(
    get, path = "/api/v1/datasets/{id}", tag = "datasets",
    params(("id" = String, Path, description = "dataset id")),
    responses(
        (status = 200, description = "the dataset", body = Dataset),
        (status = 404, description = "unknown dataset", body = ErrorBody),
    )
)]
pub(crate) async fn datasets_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Dataset>, ApiError> {
    let d = state.blocking(move |s| Ok(s.dataset(&id)?)).await?;
    Ok(Json(Dataset::from(d)))
}

/// Rename a dataset.
#[utoipa::path(
    patch, path = "/api/v1/datasets/{id}", tag = "datasets",
    params(("id" = String, Path, description = "dataset id")),
    request_body = Rename,
    responses(
        (status = 200, description = "the renamed dataset", body = Dataset),
        (status = 404, description = "unknown dataset", body = ErrorBody),
        (status = 422, description = "an empty name, or one longer than the limit", body = ErrorBody),
    )
)]
pub(crate) async fn datasets_rename(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Rename>,
) -> Result<Json<Dataset>, ApiError> {
    let name = req.name.map(|n| n.trim().to_owned()).unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_parameter",
            "name: empty; a dataset needs a name",
        ));
    }
    state
        .config()
        .limits
        .check_name("the dataset name", &name)?;
    let d = state
        .blocking(move |s| {
            s.rename_dataset(&id, &name)?;
            Ok(s.dataset(&id)?)
        })
        .await?;
    Ok(Json(Dataset::from(d)))
}

/// Delete a dataset and its runs (running ones are cancelled).
#[utoipa::path(
    delete, path = "/api/v1/datasets/{id}", tag = "datasets",
    params(("id" = String, Path, description = "dataset id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, description = "unknown dataset", body = ErrorBody),
    )
)]
pub(crate) async fn datasets_delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.jobs().cancel_dataset(&id);
    let runs = {
        let id = id.clone();
        state
            .blocking(move |s| {
                let mut runs = s.list_runs(Some(&id))?;
                for parent in runs.clone().iter().filter(|r| r.fleet.is_some()) {
                    runs.extend(s.series_runs(&parent.id)?);
                }
                s.delete_dataset(&id)?;
                Ok(runs)
            })
            .await?
    };
    for r in runs {
        state.forget_result(&r.id);
    }
    tracing::info!(dataset_id = %id, "Dataset deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The series a dataset holds when read wide (one per numeric column, the default) or long
/// (`series_column`), each with its diagnostics or why it cannot be read: what a many-series
/// run would run on.
#[utoipa::path(
    get, path = "/api/v1/datasets/{id}/series", tag = "datasets",
    params(("id" = String, Path, description = "dataset id"), DatasetSeriesQuery),
    responses(
        (status = 200, description = "the series", body = DatasetSeries),
        (status = 404, description = "unknown dataset", body = ErrorBody),
        (status = 422, description = "the file cannot be read this way (an unknown column, no id on most rows)", body = ErrorBody),
    )
)]
pub(crate) async fn datasets_series(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DatasetSeriesQuery>,
) -> Result<Json<DatasetSeries>, ApiError> {
    let series = match (&q.series_column, q.value_columns.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(ApiError::unprocessable(
                "invalid_parameter",
                "series_column and value_columns: give one of them",
            ));
        }
        (Some(c), None) => tsad_io::SeriesLayout::Long(column(c)),
        (None, None | Some("*")) => tsad_io::SeriesLayout::Wide(vec![]),
        (None, Some(list)) => tsad_io::SeriesLayout::Wide(
            list.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(column)
                .collect(),
        ),
    };
    let value_column = q.value_column.as_deref().map(column);
    let fleet = state
        .blocking(move |s| {
            let dataset = s.dataset(&id)?;
            let bytes = s.dataset_bytes(&id)?;
            let opts = IngestOptions {
                value_column,
                source_name: Some(dataset.name.clone()),
                decimal: dataset_decimal(&dataset.meta),
                series,
                ..IngestOptions::default()
            };
            Ok(tsad_io::read_fleet_bytes(&bytes, &opts)?)
        })
        .await?;
    Ok(Json(DatasetSeries {
        time_column: fleet.time_column,
        series_column: fleet.series_column,
        rows: fleet.rows_read,
        rejected: fleet.rejected,
        warnings: fleet.warnings,
        series: fleet
            .series
            .into_iter()
            .map(|s| match s.result {
                Ok(ingested) => DatasetSeriesEntry {
                    name: s.name,
                    diagnostics: serde_json::to_value(&ingested.diagnostics).ok(),
                    error: None,
                },
                Err(e) => DatasetSeriesEntry {
                    name: s.name,
                    diagnostics: None,
                    error: Some(e.to_string()),
                },
            })
            .collect(),
    }))
}

/// A column named in a query string: digits are an index, anything else a name.
fn column(c: &str) -> tsad_io::ColumnRef {
    c.parse()
        .unwrap_or_else(|never: std::convert::Infallible| match never {})
}
