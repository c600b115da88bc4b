//! `/api/v1/runs`: create (queued in the background), list, get, cancel, delete, progress (SSE),
//! points (downsampled), events, re-threshold and download.

use crate::api::{
    DownloadQuery, EventOrder, EventsQuery, EventsResponse, MemberPoints, Points, PointsQuery,
    Rename, Run, RunCreate, RunList, RunListQuery, SeriesList, SeriesQuery, ThresholdRequest,
    ThresholdResponse,
};
use crate::downsample::{self, Method};
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use crate::events::{DEFAULT_EVENT_LIMIT, listing, scale_name};
use crate::jobs::{self, Job, TimeChoice, finite};
use crate::settings::label_among;
use crate::state::AppState;
use crate::training::{self, TrainChoice, TrainRequest};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;
use tsad_core::{EventOptions, MemberScores, Scale, Scores, Series, Threshold, TimeAxis};
use tsad_engine::DetectorSpec;
use tsad_store::{MarkRecord, RunRecord, RunResult, RunStatus, ThresholdUpdate};

/// Default and bounds of `max_points`.
const DEFAULT_MAX_POINTS: usize = 2000;
const MAX_POINTS_RANGE: (usize, usize) = (10, 1_000_000);

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/runs", get(runs_list).post(runs_create))
        .route(
            "/api/v1/runs/{id}",
            get(runs_get).delete(runs_delete).patch(runs_rename),
        )
        .route("/api/v1/runs/{id}/cancel", post(runs_cancel))
        .route("/api/v1/runs/{id}/points", get(runs_points))
        .route("/api/v1/runs/{id}/events", get(runs_events))
        .route("/api/v1/runs/{id}/threshold", post(runs_threshold))
        .route("/api/v1/runs/{id}/download", get(runs_download))
        .route("/api/v1/runs/{id}/series", get(runs_series))
}

/// The SSE route lives apart: it must not get the request timeout.
pub(crate) fn streaming_routes() -> Router<AppState> {
    Router::new().route("/api/v1/runs/{id}/progress", get(runs_progress))
}

/// A detector spec, threshold, event options and training part checked together, every
/// problem listed.
pub(crate) struct Checked {
    pub(crate) spec: DetectorSpec,
    pub(crate) preset: Option<String>,
    pub(crate) threshold: Threshold,
    pub(crate) events: EventOptions,
    pub(crate) train: Option<TrainRequest>,
    pub(crate) model_id: Option<String>,
}

type Problems = Vec<(&'static str, String)>;

/// The parts of a run or detect request.
pub(crate) struct RequestParts<'a> {
    pub(crate) detector: Option<&'a Value>,
    pub(crate) threshold: Option<&'a Value>,
    pub(crate) events: Option<&'a Value>,
    pub(crate) train: Option<&'a Value>,
    pub(crate) model_id: Option<&'a str>,
    /// Whether `train` may hold points inline (`/api/v1/detect`).
    pub(crate) inline: bool,
}

/// Parses and validates the parts of a run or detect request; 422 lists every problem.
pub(crate) fn check_request(parts: RequestParts<'_>) -> Result<Checked, ApiError> {
    let RequestParts {
        detector,
        threshold,
        events,
        train,
        model_id,
        inline,
    } = parts;
    let mut problems: Problems = Vec::new();
    let train_given = train.is_some_and(|t| !t.is_null());
    let train = match train {
        None | Some(Value::Null) => None,
        Some(v) => match training::parse_train(v, inline) {
            Ok(t) => Some(t),
            Err(e) => {
                problems.push((e.code(), e.message().to_owned()));
                None
            }
        },
    };
    if let Some(id) = model_id {
        if id.trim().is_empty() {
            problems.push((
                "invalid_parameter",
                "model_id: empty; give a model id from GET /api/v1/models".into(),
            ));
        }
        if train_given {
            problems.push((
                "invalid_parameter",
                "train and model_id: a stored model is already fitted, so it takes no training \
                 part; give one of them"
                    .into(),
            ));
        }
        if detector.is_some() {
            problems.push((
                "invalid_parameter",
                "detector and model_id: the stored model holds its own detector; leave \
                 `detector` out"
                    .into(),
            ));
        }
    }
    let parsed = match detector {
        Some(v) => match tsad_engine::parse_spec(v) {
            Ok(parsed) => Some(parsed),
            Err(tsad_engine::EngineError::InvalidConfig(list)) => {
                problems.extend(
                    list.into_iter()
                        .map(|p| ("invalid_config", format!("detector: {p}"))),
                );
                None
            }
            Err(other) => {
                problems.push((api_code(&other), format!("detector: {other}")));
                None
            }
        },
        // The default detector is a preset: the run says which, as a run that named it would.
        None => Some((
            tsad_engine::default_spec(),
            Some(tsad_engine::DEFAULT_PRESET.to_owned()),
        )),
    };
    let rest = threshold_and_events(threshold, events, &mut problems);
    match (parsed, rest) {
        (Some((spec, preset)), Some((threshold, events))) if problems.is_empty() => Ok(Checked {
            spec,
            preset,
            threshold,
            events,
            train,
            model_id: model_id.map(str::to_owned),
        }),
        _ => Err(unprocessable(problems)),
    }
}

/// Parses a threshold and event options; 422 lists every problem.
pub(crate) fn check_threshold(
    threshold: &Value,
    events: &Value,
) -> Result<(Threshold, EventOptions), ApiError> {
    let mut problems: Problems = Vec::new();
    match threshold_and_events(Some(threshold), Some(events), &mut problems) {
        Some(parsed) if problems.is_empty() => Ok(parsed),
        _ => Err(unprocessable(problems)),
    }
}

/// One 422 for all problems: their common code, or `invalid_config` when they differ.
fn unprocessable(problems: Problems) -> ApiError {
    let first = problems.first().map_or("invalid_config", |p| p.0);
    let code = if problems.iter().all(|(c, _)| *c == first) {
        first
    } else {
        "invalid_config"
    };
    let message = problems
        .into_iter()
        .map(|p| p.1)
        .collect::<Vec<_>>()
        .join("; ");
    ApiError::unprocessable(code, message)
}

fn threshold_and_events(
    threshold: Option<&Value>,
    events: Option<&Value>,
    problems: &mut Problems,
) -> Option<(Threshold, EventOptions)> {
    let threshold = match threshold {
        None => Some(Threshold::default()),
        Some(v) => match tsad_core::from_json::<Threshold>(v) {
            Ok(t) => match t.validate() {
                Ok(()) => Some(t),
                Err(e) => {
                    problems.push(("invalid_parameter", format!("threshold: {e}")));
                    None
                }
            },
            Err(e) => {
                problems.push((
                    "invalid_parameter",
                    format!(
                        "threshold: {e}; expected {{\"method\": \"auto\", \"every\": points \
                         per false alarm > 1}}, {{\"method\": \"sensitivity\", \"s\": 0..1}}, \
                         {{\"method\": \"sigma\" or \"robust\", \"k\": number}} or \
                         {{\"method\": \"quantile\", \"q\": 0..1}}"
                    ),
                ));
                None
            }
        },
    };
    let events = match events {
        None => Some(EventOptions::default()),
        Some(v) => match tsad_core::from_json::<EventOptions>(v) {
            Ok(o) => match o.validate() {
                Ok(()) => Some(o),
                Err(e) => {
                    problems.push(("invalid_parameter", format!("events: {e}")));
                    None
                }
            },
            Err(e) => {
                problems.push((
                    "invalid_parameter",
                    format!(
                        "events: {e}; expected {{\"merge_gap\": points, \"merge_gap_time\": \
                         milliseconds, \"min_points\": points >= 1, \"prune\": 0..1, \"standout\": \
                         true or false}} (any of them)"
                    ),
                ));
                None
            }
        },
    };
    Some((threshold?, events?))
}

fn api_code(e: &tsad_engine::EngineError) -> &'static str {
    match e.code() {
        "internal" | "cancelled" | "conflict" => "invalid_config",
        code => code,
    }
}

/// Start a run in the background.
#[utoipa::path(
    post, path = "/api/v1/runs", tag = "runs",
    request_body = RunCreate,
    responses(
        (status = 202, description = "queued", body = Run),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 404, description = "unknown dataset", body = ErrorBody),
        (status = 415, description = "a body that is not `application/json`", body = ErrorBody),
        (status = 422, description = "invalid detector, threshold or event options (every problem listed); a column the dataset lacks, a value column of timestamps or also given as time_column; a detector needing more rows than the dataset has; `limit_exceeded` for a spec beyond the server's limits", body = ErrorBody),
        (status = 429, description = "the run queue is full", body = ErrorBody),
    )
)]
pub(crate) async fn runs_create(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RunCreate>,
) -> Result<(StatusCode, Json<Run>), ApiError> {
    if req.save_model && req.model_id.is_some() {
        return Err(ApiError::unprocessable(
            "invalid_parameter",
            "save_model: the run scores with a stored model, which is saved already; leave \
             save_model out",
        ));
    }
    let layout = series_layout(&req)?;
    let checked = check_request(RequestParts {
        detector: req.detector.as_ref(),
        threshold: req.threshold.as_ref(),
        events: req.events.as_ref(),
        train: req.train.as_ref(),
        model_id: req.model_id.as_deref(),
        inline: false,
    })?;
    state.config().limits.check_spec(&checked.spec)?;
    let time_choice = match req.time_column {
        None => TimeChoice::Detect,
        Some(None) => TimeChoice::RowIndex,
        Some(Some(c)) => TimeChoice::Column(c.into()),
    };
    let value_column: Option<tsad_io::ColumnRef> = req.value_column.map(Into::into);
    let Checked {
        spec,
        preset,
        threshold,
        events,
        train,
        model_id,
    } = checked;
    // A training part or a model is checked against the data now, so that every problem is a
    // 4xx here rather than a failed run later.
    let (choice, spec, preset) = if train.is_some() || model_id.is_some() {
        let (ds, time, value) = (
            req.dataset_id.clone(),
            time_choice.clone(),
            value_column.clone(),
        );
        state
            .blocking(move |s| {
                let (choice, spec) =
                    prepare_training(s, &ds, &time, value.as_ref(), train, model_id, spec)?;
                Ok((choice, spec))
            })
            .await
            .map(|(choice, spec)| {
                let preset = match choice {
                    TrainChoice::Model { .. } => None,
                    _ => preset,
                };
                (choice, spec, preset)
            })?
    } else {
        (TrainChoice::Same, spec, preset)
    };
    let mut run = RunRecord::new(
        tsad_store::new_id("run"),
        &req.dataset_id,
        serde_json::to_value(&spec).map_err(ApiError::internal)?,
        chrono::Utc::now().timestamp_millis(),
    );
    run.preset = preset;
    run.threshold = serde_json::to_value(threshold).map_err(ApiError::internal)?;
    run.events_options = serde_json::to_value(events).map_err(ApiError::internal)?;
    run.time_column = match &time_choice {
        TimeChoice::Detect | TimeChoice::RowIndex => Value::Null,
        TimeChoice::Column(c) => json!(c),
    };
    run.value_column = value_column.as_ref().map_or(Value::Null, |c| json!(c));
    run.training = Some(training::planned(&choice, req.save_model));
    run.fleet = crate::fleet::layout_json(&layout);

    state.jobs().reserve()?;
    let stored = {
        let run = run.clone();
        let spec = spec.clone();
        let value_column = value_column.clone();
        let time_choice = time_choice.clone();
        let limits = state.config().limits.clone();
        let layout = layout.clone();
        state
            .blocking(move |s| {
                let dataset = s.dataset(&run.dataset_id)?;
                check_against_dataset(&dataset, &spec, &time_choice, value_column.as_ref())?;
                for column in crate::fleet::named_columns(&layout) {
                    check_against_dataset(&dataset, &spec, &time_choice, Some(column))?;
                }
                // A wide file holds its rows once per series.
                let points = match &layout {
                    tsad_io::SeriesLayout::Wide(cols) if !cols.is_empty() => {
                        dataset.rows as usize * cols.len()
                    }
                    tsad_io::SeriesLayout::Wide(_) => {
                        dataset.rows as usize * numeric_columns(&dataset.meta).max(1)
                    }
                    _ => dataset.rows as usize,
                };
                limits.check_work(&spec, points)?;
                s.create_run(&run)?;
                let label = label_among(&run, s.list_runs(Some(&run.dataset_id))?);
                Ok((dataset.name, label))
            })
            .await
    };
    let (dataset_name, label) = match stored {
        Ok(named) => named,
        Err(e) => {
            state.jobs().unreserve();
            return Err(e);
        }
    };
    tracing::info!(run_id = %run.id, dataset_id = %run.dataset_id, kind = spec.kind(), "Run queued");
    jobs::start(
        &state,
        Job {
            run_id: run.id.clone(),
            dataset_id: run.dataset_id.clone(),
            spec,
            threshold,
            events,
            time_column: time_choice,
            value_column,
            training: choice,
            save_model: req.save_model,
            series: layout,
        },
    );
    let mut body = Run::summary(run, Some(dataset_name), label);
    body.events = Some(json!([]));
    body.report = Some(Value::Null);
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// How the request holds its series (one, wide or long); 422 for combinations that cannot
/// apply to many series.
fn series_layout(req: &RunCreate) -> Result<tsad_io::SeriesLayout, ApiError> {
    let layout = match (&req.series_column, &req.value_columns) {
        (None, None) => return Ok(tsad_io::SeriesLayout::Single),
        (Some(_), Some(_)) => {
            return Err(ApiError::unprocessable(
                "invalid_parameter",
                "series_column and value_columns: a file is either long (one id column) or \
                 wide (one column per series); give one of them",
            ));
        }
        (Some(c), None) => tsad_io::SeriesLayout::Long(c.clone().into()),
        (None, Some(cols)) => {
            if req.value_column.is_some() {
                return Err(ApiError::unprocessable(
                    "invalid_parameter",
                    "value_column and value_columns: list every value column in \
                     value_columns, or give value_column alone for one series",
                ));
            }
            tsad_io::SeriesLayout::Wide(cols.iter().cloned().map(Into::into).collect())
        }
    };
    let mut problems = Vec::new();
    if req.train.as_ref().is_some_and(|t| !t.is_null()) {
        problems.push("train");
    }
    if req.model_id.is_some() {
        problems.push("model_id");
    }
    if req.save_model {
        problems.push("save_model");
    }
    if !problems.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_parameter",
            format!(
                "{}: a many-series run fits each series on itself; training parts and models \
                 apply to one series (run one series with value_column instead)",
                problems.join(", ")
            ),
        ));
    }
    Ok(layout)
}

/// The dataset's numeric columns, as detected when it was stored.
fn numeric_columns(meta: &Value) -> usize {
    meta["columns"].as_array().map_or(0, |cols| {
        cols.iter().filter(|c| c["kind"] == "numeric").count()
    })
}

/// Refuses, before anything is queued, a value column that cannot hold the values: the column
/// also chosen as time, or one of timestamps that are not numbers (the preview's kind and
/// first rows say so). Anything less certain is left to the run, which names the line.
fn check_value_column(
    dataset: &tsad_store::DatasetRecord,
    j: usize,
    time: &TimeChoice,
    position: impl Fn(&tsad_io::ColumnRef) -> Option<usize>,
) -> Result<(), ApiError> {
    let column = &dataset.meta["columns"][j];
    let name = column["name"].as_str().unwrap_or("?");
    if let TimeChoice::Column(t) = time
        && position(t) == Some(j)
    {
        return Err(ApiError::unprocessable(
            "invalid_parameter",
            format!(
                "value_column: column `{name}` is also the time_column; choose two different \
                 columns"
            ),
        ));
    }
    let cells: Vec<&str> = dataset.meta["preview"]["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| r[j].as_str())
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let timestamps = column["kind"] == "time"
        && !cells.is_empty()
        && cells.iter().all(|c| c.parse::<f64>().is_err());
    if timestamps {
        let numeric: Vec<&str> = dataset.meta["columns"]
            .as_array()
            .map(|cols| {
                cols.iter()
                    .filter(|c| c["kind"] == "numeric")
                    .filter_map(|c| c["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        let choose = if numeric.is_empty() {
            "the dataset has no numeric column".to_owned()
        } else {
            format!("choose a numeric column: {}", numeric.join(", "))
        };
        return Err(ApiError::unprocessable(
            "invalid_parameter",
            format!(
                "value_column: column `{name}` holds timestamps (\"{}\"), not values; {choose}",
                cells[0]
            ),
        ));
    }
    Ok(())
}

/// The checks a run's dataset allows without reading its data (docs/API.md promises them
/// before queueing): the chosen columns exist (and the value column can hold values), and the
/// series is long enough for the detector.
fn check_against_dataset(
    dataset: &tsad_store::DatasetRecord,
    spec: &DetectorSpec,
    time: &TimeChoice,
    value: Option<&tsad_io::ColumnRef>,
) -> Result<(), ApiError> {
    let names: Vec<String> = dataset.meta["columns"]
        .as_array()
        .map(|cols| {
            cols.iter()
                .filter_map(|c| c["name"].as_str())
                .map(|n| n.trim().to_lowercase())
                .collect()
        })
        .unwrap_or_default();
    // A column's place among `names`, as ingest resolves a name or a 0-based index.
    let position = |c: &tsad_io::ColumnRef| match c {
        tsad_io::ColumnRef::Index(i) => Some(*i).filter(|i| *i < names.len()),
        tsad_io::ColumnRef::Name(n) => {
            let want = n.trim().to_lowercase();
            names.iter().position(|x| *x == want).or_else(|| {
                want.parse::<usize>()
                    .ok()
                    .filter(|i| want.bytes().all(|b| b.is_ascii_digit()) && *i < names.len())
            })
        }
    };
    let exists = |c: &tsad_io::ColumnRef| position(c).is_some();
    let listed = || {
        let cols: Vec<&str> = dataset.meta["columns"]
            .as_array()
            .map(|cols| cols.iter().filter_map(|c| c["name"].as_str()).collect())
            .unwrap_or_default();
        cols.join(", ")
    };
    // Datasets stored before columns were recorded have none: leave those checks to the run.
    if !names.is_empty() {
        for (field, column) in [
            ("value_column", value),
            (
                "time_column",
                match time {
                    TimeChoice::Column(c) => Some(c),
                    _ => None,
                },
            ),
        ] {
            if let Some(c) = column
                && !exists(c)
            {
                return Err(ApiError::unprocessable(
                    "invalid_parameter",
                    format!(
                        "{field}: the dataset has no column `{c}`; its columns are {}",
                        listed()
                    ),
                ));
            }
        }
        if let Some(j) = value.and_then(position) {
            check_value_column(dataset, j, time, position)?;
        }
    }
    let needed = spec.build()?.min_len();
    if (dataset.rows as usize) < needed {
        return Err(ApiError::unprocessable(
            "not_enough_data",
            format!(
                "detector `{}` needs at least {needed} points, the dataset has {} rows; lower \
                 the window or use a longer series",
                spec.kind(),
                dataset.rows
            ),
        ));
    }
    Ok(())
}

/// Reads the run's data and checks its training part (or stored model) against it.
fn prepare_training(
    store: &dyn tsad_store::Storage,
    dataset_id: &str,
    time: &TimeChoice,
    value: Option<&tsad_io::ColumnRef>,
    train: Option<TrainRequest>,
    model_id: Option<String>,
    spec: DetectorSpec,
) -> Result<(TrainChoice, DetectorSpec), ApiError> {
    let data = jobs::read_run_data(store, dataset_id, time, value)?;
    let series = &data.ingested.series;
    if let Some(model_id) = model_id {
        let (_, fitted) = training::load_model(store, &model_id)?;
        return Ok((TrainChoice::Model { model_id }, fitted.spec().clone()));
    }
    match train {
        None => Ok((TrainChoice::Same, spec)),
        Some(req @ (TrainRequest::Rows(_) | TrainRequest::Until(_))) => {
            let rows = training::prefix_rows(series, &req)?;
            let (field, until) = match req {
                TrainRequest::Until(u) => ("train.until", Some(u)),
                _ => ("train.rows", None),
            };
            training::check_length(&spec, rows, field)?;
            Ok((TrainChoice::Prefix { rows, until }, spec))
        }
        Some(TrainRequest::Dataset {
            dataset_id,
            value_column,
        }) => {
            let (train, _) =
                jobs::read_training_for(store, &data.ingested, &dataset_id, value_column.as_ref())?;
            training::check_length(&spec, train.series.len(), "train.dataset_id")?;
            Ok((
                TrainChoice::Dataset {
                    dataset_id,
                    value_column,
                },
                spec,
            ))
        }
        Some(TrainRequest::Values { .. }) => Err(ApiError::internal(
            "inline training values reached a run (parse_train should refuse them)",
        )),
    }
}

/// List runs, newest first (without events and report).
#[utoipa::path(
    get, path = "/api/v1/runs", tag = "runs",
    params(RunListQuery),
    responses((status = 200, description = "the runs", body = RunList))
)]
pub(crate) async fn runs_list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<RunListQuery>,
) -> Result<Json<RunList>, ApiError> {
    let (runs, names) = state
        .blocking(move |s| {
            let names: HashMap<String, String> = s
                .list_datasets()?
                .into_iter()
                .map(|d| (d.id, d.name))
                .collect();
            Ok((s.list_runs(q.dataset_id.as_deref())?, names))
        })
        .await?;
    let labels = crate::settings::labels(&runs);
    Ok(Json(RunList {
        runs: runs
            .into_iter()
            .zip(labels)
            .map(|(r, label)| {
                let name = names.get(&r.dataset_id).cloned();
                Run::summary(r, name, label)
            })
            .collect(),
    }))
}

/// One run with its events and the detector's report.
async fn full_run(state: &AppState, id: String) -> Result<Run, ApiError> {
    let (run, name, label) = state
        .blocking(move |s| {
            let run = s.run(&id)?;
            let name = s.dataset(&run.dataset_id).ok().map(|d| d.name);
            let label = label_among(&run, s.list_runs(Some(&run.dataset_id))?);
            Ok((run, name, label))
        })
        .await?;
    let succeeded = run.status == RunStatus::Succeeded && run.fleet.is_none();
    let id = run.id.clone();
    let mut body = Run::summary(run, name, label);
    if succeeded {
        let result = state.result(&id).await?;
        body.events = Some(listing(&result.events, EventOrder::Time, 0).0);
        body.report = Some(result.report.clone());
    } else {
        body.events = Some(json!([]));
        body.report = Some(Value::Null);
    }
    Ok(body)
}

/// One run: status, progress, summary, events and report.
#[utoipa::path(
    get, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "run id")),
    responses(
        (status = 200, description = "the run", body = Run),
        (status = 404, description = "unknown run", body = ErrorBody),
    )
)]
pub(crate) async fn runs_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(full_run(&state, id).await?))
}

/// Cancel a queued or running run.
#[utoipa::path(
    post, path = "/api/v1/runs/{id}/cancel", tag = "runs",
    params(("id" = String, Path, description = "run id")),
    responses(
        (status = 200, description = "the cancelled run", body = Run),
        (status = 404, description = "unknown run", body = ErrorBody),
        (status = 409, description = "the run already finished", body = ErrorBody),
    )
)]
pub(crate) async fn runs_cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    // Record the cancellation first, then stop the job: the job's end (and the progress
    // stream's final `done`) must find the run already cancelled.
    let run_id = id.clone();
    state
        .blocking(move |s| {
            let mut run = s.run(&run_id)?;
            run.status = RunStatus::Cancelled;
            run.progress = None;
            run.finished_at = Some(chrono::Utc::now().timestamp_millis());
            if s.transition_run(&run, &[RunStatus::Queued, RunStatus::Running], None)? {
                tracing::info!(run_id = %run_id, "Run cancelled");
                Ok(())
            } else {
                let now = s.run(&run_id)?;
                Err(ApiError::conflict(format!(
                    "run `{run_id}` already {}; only queued or running runs can be cancelled",
                    now.status
                )))
            }
        })
        .await?;
    state.jobs().cancel(&id);
    Ok(Json(full_run(&state, id).await?))
}

/// Name a run (or remove its name): the run list shows the name instead of the detector.
#[utoipa::path(
    patch, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "run id")),
    request_body = Rename,
    responses(
        (status = 200, description = "the renamed run", body = Run),
        (status = 404, description = "unknown run", body = ErrorBody),
        (status = 422, description = "a name longer than the limit", body = ErrorBody),
    )
)]
pub(crate) async fn runs_rename(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Rename>,
) -> Result<Json<Run>, ApiError> {
    let name = req
        .name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if let Some(n) = &name {
        state.config().limits.check_name("the run name", n)?;
    }
    let run_id = id.clone();
    state
        .blocking(move |s| {
            let mut run = s.run(&run_id)?;
            run.name = name;
            s.update_run(&run)?;
            Ok(())
        })
        .await?;
    Ok(Json(full_run(&state, id).await?))
}

/// Delete a run and its result (a running one is cancelled first).
#[utoipa::path(
    delete, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "run id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, description = "unknown run", body = ErrorBody),
    )
)]
pub(crate) async fn runs_delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.jobs().cancel(&id);
    let run_id = id.clone();
    // A many-series run takes its series runs with it: their cached results go too.
    let children = state
        .blocking(move |s| {
            let children = s.series_runs(&run_id)?;
            s.delete_run(&run_id)?;
            Ok(children)
        })
        .await?;
    for child in children {
        state.forget_result(&child.id);
    }
    state.forget_result(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// The series of a many-series run: each with its own run id, event count, worst event and a
/// sparkline; sorted, filtered and paged.
#[utoipa::path(
    get, path = "/api/v1/runs/{id}/series", tag = "runs",
    params(("id" = String, Path, description = "run id"), SeriesQuery),
    responses(
        (status = 200, description = "the series", body = SeriesList),
        (status = 404, description = "unknown run", body = ErrorBody),
        (status = 409, description = "a run on one series", body = ErrorBody),
        (status = 422, description = "a bad query parameter", body = ErrorBody),
    )
)]
pub(crate) async fn runs_series(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<SeriesQuery>,
) -> Result<Json<SeriesList>, ApiError> {
    let run_id = id.clone();
    let (run, series) = state
        .blocking(move |s| {
            let run = s.run(&run_id)?;
            let series = if run.fleet.is_some() {
                s.series_runs(&run_id)?
            } else {
                Vec::new()
            };
            Ok((run, series))
        })
        .await?;
    if run.fleet.is_none() {
        return Err(ApiError::conflict(format!(
            "run `{id}` is a run on one series; start a run with series_column or \
             value_columns to get many"
        )));
    }
    Ok(Json(crate::fleet::list(&series, &q)?))
}

/// Progress as server-sent events: `progress` while training, then one `done` with the run.
#[utoipa::path(
    get, path = "/api/v1/runs/{id}/progress", tag = "runs",
    params(("id" = String, Path, description = "run id")),
    responses(
        (status = 200, description = "`event: progress` (Progress JSON) while it runs, then `event: done` (Run JSON)", content_type = "text/event-stream", body = String),
        (status = 404, description = "unknown run", body = ErrorBody),
    )
)]
pub(crate) async fn runs_progress(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    // 404 for unknown runs before the stream starts.
    let run_id = id.clone();
    state.blocking(move |s| Ok(s.run(&run_id)?)).await?;
    let rx = state.jobs().subscribe(&id);
    let shutdown = state.shutdown_signal();

    enum Phase {
        Watching(
            tokio::sync::watch::Receiver<Option<tsad_core::Progress>>,
            bool,
        ),
        Done,
        End,
    }
    let start = match rx {
        Some(rx) => Phase::Watching(rx, true),
        None => Phase::Done,
    };
    let stream = futures::stream::unfold(
        (start, state, id, shutdown),
        |(phase, state, id, mut shutdown)| async move {
            match phase {
                Phase::Watching(mut rx, first) => {
                    // Ok(true): a new update; Ok(false): the run ended; Err: shutting down.
                    let changed = if first {
                        Ok(true)
                    } else {
                        tokio::select! {
                            r = rx.changed() => Ok(r.is_ok()),
                            _ = shutdown.changed() => Err(()),
                        }
                    };
                    match changed {
                        Ok(true) => {
                            let progress = rx.borrow_and_update().clone();
                            let event = match progress {
                                Some(p) => SseEvent::default()
                                    .event("progress")
                                    .json_data(&p)
                                    .unwrap_or_else(|_| SseEvent::default().comment("progress")),
                                None => SseEvent::default().comment("queued"),
                            };
                            Some((Ok(event), (Phase::Watching(rx, false), state, id, shutdown)))
                        }
                        Ok(false) => done_event(state, id, shutdown).await,
                        // The server is stopping: end the stream without a `done`, since the
                        // run's final state is not recorded yet.
                        Err(()) => None,
                    }
                }
                Phase::Done => done_event(state, id, shutdown).await,
                Phase::End => None,
            }
        },
    );

    async fn done_event(
        state: AppState,
        id: String,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Option<(
        Result<SseEvent, Infallible>,
        (Phase, AppState, String, tokio::sync::watch::Receiver<bool>),
    )> {
        let event = match full_run(&state, id.clone()).await {
            Ok(run) => SseEvent::default()
                .event("done")
                .json_data(&run)
                .unwrap_or_else(|_| SseEvent::default().event("done")),
            Err(e) => SseEvent::default()
                .event("error")
                .json_data(e.body())
                .unwrap_or_else(|_| SseEvent::default().event("error")),
        };
        Some((Ok(event), (Phase::End, state, id, shutdown)))
    }

    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The run, which must have succeeded (409 otherwise), and its result.
async fn succeeded(state: &AppState, id: &str) -> Result<(RunRecord, Arc<RunResult>), ApiError> {
    let run = succeeded_run(state, id).await?;
    let result = state.result(id).await?;
    Ok((run, result))
}

/// The run, which must have succeeded on one series (409 otherwise).
pub(crate) async fn succeeded_run(state: &AppState, id: &str) -> Result<RunRecord, ApiError> {
    let run_id = id.to_owned();
    let run = state.blocking(move |s| Ok(s.run(&run_id)?)).await?;
    if run.status != RunStatus::Succeeded {
        return Err(ApiError::conflict(format!(
            "run `{id}` is {}; its points and events exist once it succeeded",
            run.status
        )));
    }
    crate::fleet::refuse_fleet(&run)?;
    Ok(run)
}

fn opt(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Columnar points at `idx` of a result whose threshold cuts `scale`.
pub(crate) fn columnar(r: &RunResult, idx: &[usize], in_range: usize, scale: Scale) -> Points {
    let pick = |col: &[f64]| idx.iter().map(|&i| opt(col[i])).collect::<Vec<_>>();
    Points {
        from: idx.first().map(|&i| r.timestamps[i]),
        to: idx.last().map(|&i| r.timestamps[i]),
        total: r.len(),
        in_range,
        returned: idx.len(),
        downsampled: idx.len() < in_range,
        time_axis: r.time_axis.clone(),
        t: idx.iter().map(|&i| r.timestamps[i]).collect(),
        index: idx.to_vec(),
        value: pick(&r.values),
        expected: r.expected.as_deref().map(pick),
        lower: r.lower.as_deref().map(pick),
        upper: r.upper.as_deref().map(pick),
        score: pick(&r.score),
        rarity: r.rarity.as_deref().map(pick),
        flag: idx.iter().map(|&i| r.flags[i]).collect(),
        label: r.labels.as_deref().map(pick),
        members: r
            .members
            .iter()
            .map(|m| MemberPoints {
                name: m.name.clone(),
                kind: m.kind.clone(),
                score: pick(&m.normalized),
            })
            .collect(),
        threshold_value: opt(r.threshold_value),
        scale: scale_name(scale).into(),
    }
}

/// The scale of a stored threshold (raw for one this version cannot read).
fn run_scale(run: &RunRecord) -> Scale {
    crate::events::parse(&run.threshold).map_or(Scale::Raw, |t| t.scale())
}

/// Points of a time range, downsampled to about `max_points` (flagged points always kept).
#[utoipa::path(
    get, path = "/api/v1/runs/{id}/points", tag = "runs",
    params(("id" = String, Path, description = "run id"), PointsQuery),
    responses(
        (status = 200, description = "columnar points", body = Points),
        (status = 400, description = "bad query", body = ErrorBody),
        (status = 404, description = "unknown run", body = ErrorBody),
        (status = 409, description = "the run has not succeeded", body = ErrorBody),
    )
)]
pub(crate) async fn runs_points(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PointsQuery>,
) -> Result<Json<Points>, ApiError> {
    let max_points = q.max_points.unwrap_or(DEFAULT_MAX_POINTS);
    if !(MAX_POINTS_RANGE.0..=MAX_POINTS_RANGE.1).contains(&max_points) {
        return Err(ApiError::bad_request(format!(
            "max_points must be between {} and {}, got {max_points}",
            MAX_POINTS_RANGE.0, MAX_POINTS_RANGE.1
        )));
    }
    if let (Some(from), Some(to)) = (q.from, q.to)
        && from > to
    {
        return Err(ApiError::bad_request(format!(
            "from ({from}) is after to ({to})"
        )));
    }
    let run = succeeded_run(&state, &id).await?;
    let (result, index) = state.result_with_index(&id).await?;
    let scale = run_scale(&run);
    let method = q.method.unwrap_or(Method::Minmax);
    let points = tokio::task::spawn_blocking(move || {
        let ts = &result.timestamps;
        let lo = q.from.map_or(0, |f| ts.partition_point(|&t| t < f));
        let hi = q.to.map_or(ts.len(), |t| ts.partition_point(|&x| x <= t));
        let hi = hi.max(lo);
        let n = hi - lo;
        // Min-max (the default) reads the run's pyramid: O(max_points · log n), whatever the
        // run's length or the zoom. LTTB walks the range.
        let idx: Vec<usize> = if n <= max_points {
            (lo..hi).collect()
        } else {
            let picked = match method {
                Method::Minmax => index.extremes(&result).minmax(
                    &result.values,
                    &result.score,
                    lo..hi,
                    max_points,
                ),
                Method::Lttb => {
                    let x: Vec<f64> = ts[lo..hi].iter().map(|&t| t as f64).collect();
                    let local = downsample::lttb(&x, &result.values[lo..hi], max_points);
                    local.into_iter().map(|i| lo + i).collect()
                }
            };
            let flagged = index.flagged(&result);
            let (from, to) = (
                flagged.partition_point(|&i| i < lo),
                flagged.partition_point(|&i| i < hi),
            );
            downsample::with_extras(picked, &flagged[from..to], max_points)
        };
        let mut points = columnar(&result, &idx, n, scale);
        // An empty range still echoes what was asked.
        if idx.is_empty() {
            points.from = q.from;
            points.to = q.to;
        }
        points
    })
    .await?;
    Ok(Json(points))
}

/// The events of a succeeded run.
#[utoipa::path(
    get, path = "/api/v1/runs/{id}/events", tag = "runs",
    params(("id" = String, Path, description = "run id"), EventsQuery),
    responses(
        (status = 200, description = "the events", body = EventsResponse),
        (status = 404, description = "unknown run", body = ErrorBody),
        (status = 409, description = "the run has not succeeded", body = ErrorBody),
    )
)]
pub(crate) async fn runs_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<EventsResponse>, ApiError> {
    let (run, result) = succeeded(&state, &id).await?;
    let (events, event_count) = listing(
        &result.events,
        q.order.unwrap_or_default(),
        q.limit.unwrap_or(DEFAULT_EVENT_LIMIT),
    );
    Ok(Json(EventsResponse {
        threshold_rule: crate::events::rule(&run.threshold),
        scale: crate::events::scale(&run.threshold).map(str::to_owned),
        threshold: run.threshold,
        threshold_value: opt(result.threshold_value),
        event_count,
        events,
    }))
}

/// Rebuilds the series and scores a result was made of.
fn series_and_scores(r: &RunResult) -> Result<(Series, Scores), ApiError> {
    let axis = if r.time_axis == "index" {
        TimeAxis::Index
    } else {
        TimeAxis::EpochMillis
    };
    let series = Series::with_axis(r.timestamps.clone(), r.values.clone(), axis)
        .map_err(|e| ApiError::internal(format!("stored series is invalid: {e}")))?;
    let mut scores = Scores::new(r.score.clone());
    scores.rarity = r.rarity.clone();
    scores.expected = r.expected.clone();
    if let (Some(l), Some(u)) = (&r.lower, &r.upper) {
        scores.band = Some((l.clone(), u.clone()));
    }
    scores.members = r
        .members
        .iter()
        .map(|m| MemberScores {
            name: m.name.clone(),
            kind: m.kind.clone(),
            normalized: m.normalized.clone(),
            // Raw member scores are not stored; events use the normalised ones only.
            raw: m.normalized.clone(),
        })
        .collect();
    scores.report = r.report.clone();
    Ok((series, scores))
}

/// Apply a new threshold to the stored scores (no model runs); it becomes the run's.
#[utoipa::path(
    post, path = "/api/v1/runs/{id}/threshold", tag = "runs",
    params(("id" = String, Path, description = "run id")),
    request_body = ThresholdRequest,
    responses(
        (status = 200, description = "the new events", body = ThresholdResponse),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 404, description = "unknown run", body = ErrorBody),
        (status = 409, description = "the run has not succeeded", body = ErrorBody),
        (status = 422, description = "invalid threshold", body = ErrorBody),
    )
)]
pub(crate) async fn runs_threshold(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ThresholdRequest>,
) -> Result<Json<ThresholdResponse>, ApiError> {
    let (run, result) = succeeded(&state, &id).await?;
    let events_value = req.events.clone().unwrap_or(run.events_options.clone());
    let threshold_value = req.threshold.clone().unwrap_or(run.threshold.clone());
    let (threshold, events) = check_threshold(&threshold_value, &events_value)?;
    if threshold.scale() == Scale::Rarity && result.rarity.is_none() {
        return Err(ApiError::unprocessable(
            "invalid_parameter",
            format!(
                "threshold: `{}` cuts calibrated scores, and run `{id}` was made before tsad \
                 stored them; start the run again (same dataset and detector) to use it, or \
                 re-threshold this run with `sigma`, `robust` or `quantile`",
                threshold.method()
            ),
        ));
    }
    let order = req.order.unwrap_or_default();
    let limit = req.limit.unwrap_or(DEFAULT_EVENT_LIMIT);
    let preview = req.preview;
    let store = state.store().clone();
    let run_id = id.clone();
    let (response, updated) = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let (series, scores) = series_and_scores(&result)?;
        let events_opts = events;
        let (cut, found) = tsad_engine::rethreshold(&series, &scores, &threshold, &events_opts)?;
        let quiet = crate::jobs::quiet(&series, &scores, &cut, &found);
        let rule_source = threshold;
        let threshold = serde_json::to_value(threshold).map_err(ApiError::internal)?;
        let events_options = serde_json::to_value(events_opts).map_err(ApiError::internal)?;
        let events_json = serde_json::to_value(&found).map_err(ApiError::internal)?;
        let rule = rule_source.describe();
        let mut summary = run.summary.clone().unwrap_or_else(|| json!({}));
        if let Some(obj) = summary.as_object_mut() {
            obj.insert("anomaly_count".into(), json!(cut.count()));
            obj.insert("event_count".into(), json!(found.len()));
            obj.insert("threshold_value".into(), finite(cut.value));
            obj.insert("threshold_rule".into(), json!(rule));
            obj.insert("scale".into(), json!(scale_name(cut.scale)));
            obj.insert("routine".into(), json!(cut.routine));
            obj.insert("quiet".into(), quiet.clone());
            // A series of a many-series run: the series list ranks by its worst event.
            if obj.contains_key("worst") {
                obj.insert("worst".into(), json!(tsad_engine::WorstEvent::of(&found)));
            }
        }
        if !preview {
            store.update_threshold(
                &run_id,
                &ThresholdUpdate {
                    threshold: threshold.clone(),
                    events_options: events_options.clone(),
                    threshold_value: cut.value,
                    flags: cut.flags.clone(),
                    events: events_json.clone(),
                    summary: Some(summary),
                },
            )?;
            // One series of a many-series run: its parent's counts follow.
            if let Some(parent) = &run.parent_id {
                crate::fleet::recount(store.as_ref(), parent)?;
            }
        }
        let (events, event_count) = listing(&events_json, order, limit);
        let response = ThresholdResponse {
            threshold,
            threshold_rule: Some(rule),
            scale: Some(scale_name(cut.scale).into()),
            threshold_value: opt(cut.value),
            event_count,
            events,
            anomaly_count: cut.count(),
            events_options,
            routine: json!(cut.routine),
            quiet,
        };
        let mut updated = RunResult::clone(&result);
        updated.flags = cut.flags;
        updated.threshold_value = cut.value;
        updated.events = events_json;
        Ok((response, Arc::new(updated)))
    })
    .await??;
    if !preview {
        state.update_result(&id, updated);
    }
    Ok(Json(response))
}

/// Every point as CSV
/// (`timestamp,value,expected,lower,upper,score[,rarity],flag[,label][,<member>...]`)
/// or the whole result as JSON.
#[utoipa::path(
    get, path = "/api/v1/runs/{id}/download", tag = "runs",
    params(("id" = String, Path, description = "run id"), DownloadQuery),
    responses(
        (status = 200, description = "the file", content_type = "text/csv", body = String),
        (status = 400, description = "unknown format", body = ErrorBody),
        (status = 404, description = "unknown run", body = ErrorBody),
        (status = 409, description = "the run has not succeeded", body = ErrorBody),
    )
)]
pub(crate) async fn runs_download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DownloadQuery>,
) -> Result<Response, ApiError> {
    let format = q.format.unwrap_or_else(|| "csv".into());
    if format != "csv" && format != "json" {
        return Err(ApiError::bad_request(format!(
            "format must be csv or json, got `{format}`"
        )));
    }
    let (record, result) = succeeded(&state, &id).await?;
    let scale = run_scale(&record);
    let run = full_run(&state, id.clone()).await?;
    let marks = {
        let ds = record.dataset_id.clone();
        let all = state.blocking(move |s| Ok(s.marks(&ds)?)).await?;
        crate::routes::marks::of_run(&record, all)
    };
    let (body, content_type) = tokio::task::spawn_blocking(move || {
        if format == "csv" {
            (to_csv(&result, &marks), "text/csv; charset=utf-8")
        } else {
            let all: Vec<usize> = (0..result.len()).collect();
            let marks: Vec<crate::routes::marks::Mark> =
                marks.into_iter().map(Into::into).collect();
            let doc = json!({
                "run": run,
                "points": columnar(&result, &all, result.len(), scale),
                "marks": marks,
            });
            (doc.to_string(), "application/json")
        }
    })
    .await?;
    let ext = if content_type.starts_with("text/csv") {
        "csv"
    } else {
        "json"
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.{ext}\""),
            ),
        ],
        body,
    )
        .into_response())
}

fn csv_cell(out: &mut String, x: f64) {
    out.push(',');
    if x.is_finite() {
        // Writing to a String cannot fail.
        let _ = write!(out, "{x}");
    }
}

fn csv_name(name: &str) -> String {
    if name.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", name.replace('"', "\"\""))
    } else {
        name.to_owned()
    }
}

/// For each point, the first of `marks` (in time order) covering its timestamp.
fn mark_per_point<'a>(timestamps: &[i64], marks: &'a [MarkRecord]) -> Vec<Option<&'a MarkRecord>> {
    let mut per_point = vec![None; timestamps.len()];
    for m in marks {
        let from = timestamps.partition_point(|&t| t < m.start_time);
        let to = timestamps.partition_point(|&t| t <= m.end_time);
        for slot in per_point.get_mut(from..to).into_iter().flatten() {
            slot.get_or_insert(m);
        }
    }
    per_point
}

/// Every point as CSV; with marks, `mark` (the verdict covering the point) and `mark_note`.
fn to_csv(r: &RunResult, marks: &[MarkRecord]) -> String {
    let mut out = String::with_capacity(r.len() * 80);
    out.push_str("timestamp,value,expected,lower,upper,score");
    if r.rarity.is_some() {
        out.push_str(",rarity");
    }
    out.push_str(",flag");
    if r.labels.is_some() {
        out.push_str(",label");
    }
    for m in &r.members {
        out.push(',');
        out.push_str(&csv_name(&format!("member_{}", m.name)));
    }
    let marked = (!marks.is_empty()).then(|| mark_per_point(&r.timestamps, marks));
    if marked.is_some() {
        out.push_str(",mark,mark_note");
    }
    out.push('\n');
    let index_axis = r.time_axis == "index";
    let col = |c: &Option<Vec<f64>>, i: usize| c.as_ref().map_or(f64::NAN, |v| v[i]);
    for i in 0..r.len() {
        if index_axis {
            let _ = write!(out, "{}", r.timestamps[i]);
        } else {
            out.push_str(&tsad_io::format_timestamp(r.timestamps[i]));
        }
        csv_cell(&mut out, r.values[i]);
        csv_cell(&mut out, col(&r.expected, i));
        csv_cell(&mut out, col(&r.lower, i));
        csv_cell(&mut out, col(&r.upper, i));
        csv_cell(&mut out, r.score[i]);
        if let Some(rarity) = &r.rarity {
            csv_cell(&mut out, rarity[i]);
        }
        out.push_str(if r.flags[i] { ",1" } else { ",0" });
        if r.labels.is_some() {
            csv_cell(&mut out, col(&r.labels, i));
        }
        for m in &r.members {
            csv_cell(&mut out, m.normalized[i]);
        }
        if let Some(marked) = &marked {
            if let Some(m) = marked[i] {
                let _ = write!(out, ",{},{}", m.verdict, csv_name(&m.comment));
            } else {
                out.push_str(",,");
            }
        }
        out.push('\n');
    }
    out
}
