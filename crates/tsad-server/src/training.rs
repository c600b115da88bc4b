//! The training part of a run or a synchronous detection: where the detector learns what
//! normal looks like (`train`), or a stored model that already learnt it (`model_id`).
//! Parsing and checking against the data, every problem a 4xx that names the field and says
//! how to fix it; loading the training data and models; saving fitted models.

use crate::error::ApiError;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use tsad_core::{FitContext, Series, TimeAxis};
use tsad_engine::{DetectorSpec, FittedModel, TrainingInfo};
use tsad_io::{ColumnRef, IngestOptions, Ingested};
use tsad_store::{ModelRecord, Storage, StorageError};

/// The most inline training points `POST /api/v1/detect` accepts.
pub(crate) const MAX_TRAIN_POINTS: usize = 100_000;

const SHAPES: &str = "{\"rows\": N} (the first N rows), {\"until\": \"2014-02-07T00:00:00Z\"} \
    (the rows at or before that time) or {\"dataset_id\": \"ds_...\"} (another dataset with the \
    same columns)";

/// A `train` object as the request gave it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TrainRequest {
    /// The first `n` rows.
    Rows(usize),
    /// The rows at or before a time (a string as users write times, or a number in the data's
    /// time unit: Unix ms, or a row number).
    Until(Value),
    /// Another stored dataset, read with the scored data's columns.
    Dataset {
        dataset_id: String,
        value_column: Option<ColumnRef>,
    },
    /// Points given inline (`/api/v1/detect` only).
    Values {
        values: Vec<Option<f64>>,
        timestamps: Option<Vec<i64>>,
    },
}

/// What a run fits on, resolved against its data (kept with the queued job).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TrainChoice {
    /// The scored series itself.
    Same,
    /// Its first `rows` rows; `until` is the time the request gave, if it gave one.
    Prefix { rows: usize, until: Option<Value> },
    /// Another dataset.
    Dataset {
        dataset_id: String,
        value_column: Option<ColumnRef>,
    },
    /// A stored model: no fitting.
    Model { model_id: String },
}

fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::unprocessable("invalid_parameter", format!("{field}: {message}"))
}

/// Parses `train`. `inline` allows `{"values": ...}` (the synchronous detect endpoint).
pub(crate) fn parse_train(v: &Value, inline: bool) -> Result<TrainRequest, ApiError> {
    let shapes = if inline {
        format!("{SHAPES} or {{\"values\": [...], \"timestamps\": [...]}} (points given inline)")
    } else {
        SHAPES.to_owned()
    };
    let Some(obj) = v.as_object() else {
        return Err(invalid("train", format!("expected an object: {shapes}")));
    };
    let known = [
        "rows",
        "until",
        "dataset_id",
        "value_column",
        "values",
        "timestamps",
    ];
    if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(invalid(
            "train",
            format!("unknown field `{k}`; expected {shapes}"),
        ));
    }
    let kinds: Vec<&str> = ["rows", "until", "dataset_id", "values"]
        .into_iter()
        .filter(|k| obj.contains_key(*k))
        .collect();
    if kinds.len() != 1 {
        let what = if kinds.is_empty() {
            "names no training part".to_owned()
        } else {
            format!("gives {}", kinds.join(" and "))
        };
        return Err(invalid(
            "train",
            format!("{what}; give exactly one of {shapes}"),
        ));
    }
    let only_with = |field: &str, owner: &str| -> Result<(), ApiError> {
        if obj.contains_key(field) && !obj.contains_key(owner) {
            return Err(invalid(
                &format!("train.{field}"),
                format!("goes with train.{owner} only"),
            ));
        }
        Ok(())
    };
    only_with("value_column", "dataset_id")?;
    only_with("timestamps", "values")?;
    match kinds[0] {
        "rows" => match obj["rows"].as_u64() {
            Some(n) if n >= 1 => Ok(TrainRequest::Rows(usize::try_from(n).unwrap_or(usize::MAX))),
            _ => Err(invalid(
                "train.rows",
                format!("must be a whole number of rows >= 1, got {}", obj["rows"]),
            )),
        },
        "until" => match &obj["until"] {
            u @ (Value::String(_) | Value::Number(_)) => Ok(TrainRequest::Until(u.clone())),
            other => Err(invalid(
                "train.until",
                format!(
                    "must be a time like \"2014-02-07\" or \"2014-02-07T14:30:00Z\" (or a \
                     number: Unix ms, or a row number when the data has no time column), got \
                     {other}"
                ),
            )),
        },
        "dataset_id" => {
            let Some(id) = obj["dataset_id"].as_str() else {
                return Err(invalid(
                    "train.dataset_id",
                    format!("must be a dataset id string, got {}", obj["dataset_id"]),
                ));
            };
            let value_column = match obj.get("value_column") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(ColumnRef::Name(s.clone())),
                Some(Value::Number(n)) if n.as_u64().is_some() => Some(ColumnRef::Index(
                    usize::try_from(n.as_u64().unwrap_or(0)).unwrap_or(usize::MAX),
                )),
                Some(other) => {
                    return Err(invalid(
                        "train.value_column",
                        format!("must be a column name or 0-based index, got {other}"),
                    ));
                }
            };
            Ok(TrainRequest::Dataset {
                dataset_id: id.to_owned(),
                value_column,
            })
        }
        _ => {
            if !inline {
                return Err(invalid(
                    "train.values",
                    "points given inline are for /api/v1/detect; upload them as a dataset \
                     and give {\"dataset_id\": ...}",
                ));
            }
            let values: Vec<Option<f64>> =
                serde_json::from_value(obj["values"].clone()).map_err(|_| {
                    invalid(
                        "train.values",
                        "must be an array of numbers (null for a missing value)",
                    )
                })?;
            if values.len() > MAX_TRAIN_POINTS {
                return Err(invalid(
                    "train.values",
                    format!(
                        "{} points is more than the {MAX_TRAIN_POINTS} accepted inline; upload \
                         them as a dataset and give {{\"dataset_id\": ...}}",
                        values.len()
                    ),
                ));
            }
            let timestamps = match obj.get("timestamps") {
                None | Some(Value::Null) => None,
                Some(t) => Some(serde_json::from_value(t.clone()).map_err(|_| {
                    invalid(
                        "train.timestamps",
                        "must be an array of Unix milliseconds (integers)",
                    )
                })?),
            };
            Ok(TrainRequest::Values { values, timestamps })
        }
    }
}

/// The number of rows of `series` a `rows` or `until` request takes, checked.
pub(crate) fn prefix_rows(series: &Series, req: &TrainRequest) -> Result<usize, ApiError> {
    let n = series.len();
    match req {
        TrainRequest::Rows(rows) => {
            if *rows > n {
                return Err(invalid(
                    "train.rows",
                    format!("{rows} is more than the {n} rows of the data; give at most {n}"),
                ));
            }
            Ok(*rows)
        }
        TrainRequest::Until(until) => {
            let t = match (series.axis(), until) {
                (TimeAxis::Index, Value::Number(x)) => x.as_i64(),
                (TimeAxis::Index, Value::String(s)) => s.trim().parse::<i64>().ok(),
                (_, Value::Number(x)) => x.as_i64(),
                (_, Value::String(s)) => tsad_io::parse_time(s),
                _ => None,
            };
            let Some(t) = t else {
                let how = if series.axis() == TimeAxis::Index {
                    "the data has no time column (rows are numbered from 0), so give a row number"
                } else {
                    "not a time; write it like 2014-02-07 or 2014-02-07T14:30:00Z"
                };
                return Err(invalid("train.until", format!("{until}: {how}")));
            };
            tsad_engine::rows_until(series, t, "train.until").map_err(|e| match e {
                tsad_core::Error::InvalidParameter { reason, .. } => invalid("train.until", reason),
                other => other.into(),
            })
        }
        _ => Err(ApiError::internal(
            "prefix_rows of a non-prefix training part",
        )),
    }
}

/// Checks that `rows` training points are enough for `spec`.
pub(crate) fn check_length(spec: &DetectorSpec, rows: usize, field: &str) -> Result<(), ApiError> {
    let needed = spec.build()?.min_len();
    if rows < needed {
        return Err(invalid(
            field,
            format!(
                "detector `{}` needs at least {needed} training points, the training part has \
                 {rows}; give a longer training part",
                spec.kind()
            ),
        ));
    }
    Ok(())
}

/// Checks that the scored series is long enough for `spec` (a series too short to score is
/// `not_enough_data`, whatever the training part).
pub(crate) fn check_series_length(spec: &DetectorSpec, series: &Series) -> Result<(), ApiError> {
    let needed = spec.build()?.min_len();
    if series.len() < needed {
        return Err(tsad_core::Error::NotEnoughData {
            needed,
            got: series.len(),
        }
        .into());
    }
    Ok(())
}

/// Checks that the training series and the scored series use the same kind of time axis.
pub(crate) fn check_axes(train: &Series, scored: &Series, field: &str) -> Result<(), ApiError> {
    if train.axis() == scored.axis() {
        return Ok(());
    }
    let has = |s: &Series| match s.axis() {
        TimeAxis::Index => "row numbers as time (no time column)",
        _ => "timestamps",
    };
    Err(invalid(
        field,
        format!(
            "the training part has {} but the scored data has {}; give both the same kind of \
             time axis",
            has(train),
            has(scored)
        ),
    ))
}

/// Reads a stored dataset as the training part of data whose time column is `time_column`
/// (`None`: row numbers) and whose value column is `value_column` (when the data's columns
/// have names; `None` for inline points, then the dataset's detected column is used).
pub(crate) fn read_training_dataset(
    store: &dyn Storage,
    dataset_id: &str,
    requested_value: Option<&ColumnRef>,
    time_column: Option<&str>,
    no_time_column: bool,
    value_column: Option<&str>,
) -> Result<(Ingested, String), ApiError> {
    let field = "train.dataset_id";
    let dataset = store.dataset(dataset_id).map_err(|e| match e {
        StorageError::NotFound { .. } => ApiError::not_found(format!(
            "{field}: dataset `{dataset_id}` not found; GET /api/v1/datasets lists them"
        )),
        other => other.into(),
    })?;
    let bytes = store.dataset_bytes(dataset_id)?;
    let value = requested_value
        .cloned()
        .or_else(|| value_column.map(|v| ColumnRef::Name(v.to_owned())));
    let opts = IngestOptions {
        time_column: time_column.map(|t| ColumnRef::Name(t.to_owned())),
        no_time_column,
        value_column: value.clone(),
        source_name: Some(dataset.name.clone()),
        decimal: crate::routes::datasets::dataset_decimal(&dataset.meta),
        ..IngestOptions::default()
    };
    let ingested = tsad_io::read_bytes(&bytes, &opts).map_err(|e| {
        let field = if requested_value.is_some() {
            "train.value_column"
        } else {
            field
        };
        let columns = match (time_column, &value) {
            (Some(t), Some(v)) => format!(" (time column `{t}`, value column `{}`)", col(v)),
            (None, Some(v)) => format!(" (value column `{}`)", col(v)),
            _ => String::new(),
        };
        invalid(
            field,
            format!(
                "dataset `{}` cannot be the training part: it needs the same columns as the \
                 scored data{columns}; {e}",
                dataset.name
            ),
        )
    })?;
    Ok((ingested, dataset.name))
}

fn col(c: &ColumnRef) -> String {
    match c {
        ColumnRef::Name(n) => n.clone(),
        ColumnRef::Index(i) => format!("#{i}"),
    }
}

/// Loads a stored model: 404 for an unknown id, 409 (`conflict`) for a file of another kind or
/// version, 422 for a file whose spec this version rejects.
pub(crate) fn load_model(
    store: &dyn Storage,
    model_id: &str,
) -> Result<(ModelRecord, FittedModel), ApiError> {
    let record = store.model(model_id).map_err(|e| match e {
        StorageError::NotFound { .. } => ApiError::not_found(format!(
            "model_id: model `{model_id}` not found; GET /api/v1/models lists the saved ones"
        )),
        other => other.into(),
    })?;
    let bytes = store.model_bytes(model_id)?;
    let fitted = FittedModel::from_bytes(&bytes).map_err(|e| {
        let err = ApiError::from(e);
        if err.status() == StatusCode::INTERNAL_SERVER_ERROR {
            return err;
        }
        ApiError::new(
            err.status(),
            err.code(),
            format!(
                "model_id: model `{model_id}` cannot be used: {}; fit and save it again with \
                 this version",
                err.message()
            ),
        )
    })?;
    Ok((record, fitted))
}

/// The run's `training` before it ran: what was asked.
pub(crate) fn planned(choice: &TrainChoice, save_model: bool) -> Value {
    let mut m = Map::new();
    match choice {
        TrainChoice::Same => {
            m.insert("source".into(), json!("self"));
        }
        TrainChoice::Prefix { rows, until } => {
            m.insert("source".into(), json!("prefix"));
            m.insert("prefix_rows".into(), json!(rows));
            if let Some(u) = until {
                m.insert("until".into(), u.clone());
            }
        }
        TrainChoice::Dataset {
            dataset_id,
            value_column,
        } => {
            m.insert("source".into(), json!("dataset"));
            m.insert("dataset_id".into(), json!(dataset_id));
            if let Some(v) = value_column {
                m.insert("value_column".into(), json!(v));
            }
        }
        TrainChoice::Model { model_id } => {
            m.insert("source".into(), json!("model"));
            m.insert("model_id".into(), json!(model_id));
        }
    }
    if save_model {
        m.insert("save_model".into(), json!(true));
    }
    Value::Object(m)
}

/// The run's `training` once it ran: what was asked plus what the engine reports, and the
/// time span of the training part (`start`, `end`, in the scored data's time unit).
pub(crate) fn completed(planned: &Value, info: &TrainingInfo, span: Option<(i64, i64)>) -> Value {
    let mut m = planned.as_object().cloned().unwrap_or_default();
    m.insert("rows".into(), json!(info.rows));
    m.insert("calibration_points".into(), json!(info.calibration_points));
    if let Some(p) = info.prefix_rows {
        m.insert("prefix_rows".into(), json!(p));
    }
    if let Some(j) = info.junction_rows {
        m.insert("junction_rows".into(), json!(j));
    }
    if let Some((start, end)) = span {
        m.insert("start".into(), json!(start));
        m.insert("end".into(), json!(end));
    }
    Value::Object(m)
}

/// The part of a run's data a model fits on, for saving.
pub(crate) struct TrainingData<'a> {
    /// The points.
    pub(crate) series: &'a Series,
    /// The dataset they come from (`None`: inline points).
    pub(crate) dataset_id: Option<String>,
    /// Its display name.
    pub(crate) dataset_name: String,
    /// `self`, `prefix` or `dataset`.
    pub(crate) source: &'static str,
    /// The columns read.
    pub(crate) time_column: Option<String>,
    /// The value column read.
    pub(crate) value_column: String,
}

/// Fits `spec` on the training data (as `tsad fit` does: the model and the calibration of its
/// scores on that data) and stores the model file. Returns the stored record.
pub(crate) fn fit_and_store(
    store: &dyn Storage,
    spec: &DetectorSpec,
    data: &TrainingData<'_>,
    name: Option<String>,
    run_id: Option<&str>,
    ctx: &FitContext,
) -> Result<ModelRecord, ApiError> {
    let mut fitted = tsad_engine::fit(data.series, spec, ctx)?;
    let ts = data.series.timestamps();
    let meta = json!({
        "source": data.source,
        "dataset": data.dataset_name,
        "rows": data.series.len(),
        "time_axis": crate::jobs::axis_name(data.series.axis()),
        "time_column": data.time_column,
        "value_column": data.value_column,
        "start": ts.first(),
        "end": ts.last(),
        "calibration_points": fitted.calibration().count,
    });
    fitted.meta = meta.clone();
    let bytes = fitted.to_bytes()?;
    let record = ModelRecord {
        id: tsad_store::new_id("model"),
        name: name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| default_name(spec, data)),
        dataset_id: data.dataset_id.clone(),
        run_id: run_id.map(str::to_owned),
        spec: spec.to_json(),
        meta,
        size_bytes: bytes.len() as u64,
        created_at: chrono::Utc::now().timestamp_millis(),
    };
    store.create_model(&record, &bytes)?;
    tracing::info!(model_id = %record.id, kind = spec.kind(), rows = data.series.len(), "Model saved");
    Ok(record)
}

fn default_name(spec: &DetectorSpec, data: &TrainingData<'_>) -> String {
    match data.source {
        "prefix" => format!(
            "{} on the first {} rows of {}",
            spec.kind(),
            data.series.len(),
            data.dataset_name
        ),
        _ => format!("{} on {}", spec.kind(), data.dataset_name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_shapes_parse_and_bad_ones_name_the_field() {
        let ok: Vec<(Value, TrainRequest)> = vec![
            (json!({"rows": 10}), TrainRequest::Rows(10)),
            (
                json!({"until": "2014-02-07"}),
                TrainRequest::Until(json!("2014-02-07")),
            ),
            (
                json!({"dataset_id": "ds_1", "value_column": "v"}),
                TrainRequest::Dataset {
                    dataset_id: "ds_1".into(),
                    value_column: Some(ColumnRef::Name("v".into())),
                },
            ),
        ];
        for (v, want) in ok {
            assert_eq!(parse_train(&v, false).unwrap(), want, "{v}");
        }
        let bad = [
            (json!(5), false, "train: expected an object"),
            (json!({}), false, "train: names no training part"),
            (
                json!({"rows": 5, "until": "x"}),
                false,
                "train: gives rows and until",
            ),
            (
                json!({"rows": 0}),
                false,
                "train.rows: must be a whole number",
            ),
            (
                json!({"rows": -3}),
                false,
                "train.rows: must be a whole number",
            ),
            (json!({"until": true}), false, "train.until: must be a time"),
            (json!({"frm": 1}), false, "train: unknown field `frm`"),
            (
                json!({"rows": 5, "value_column": "v"}),
                false,
                "train.value_column: goes with train.dataset_id only",
            ),
            (
                json!({"values": [1.0]}),
                false,
                "train.values: points given inline are for /api/v1/detect",
            ),
            (
                json!({"values": ["a"]}),
                true,
                "train.values: must be an array of numbers",
            ),
        ];
        for (v, inline, want) in bad {
            let err = parse_train(&v, inline).unwrap_err();
            assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY, "{v}");
            assert!(err.message().starts_with(want), "{v}: {}", err.message());
        }
    }

    #[test]
    fn prefixes_count_rows_and_reject_times_outside_the_data() {
        // Hourly from 2014-02-07T00:00:00Z.
        let start = 1_391_731_200_000;
        let series = Series::new(
            (0..10).map(|i| start + i * 3_600_000).collect(),
            vec![1.0; 10],
        )
        .unwrap();
        let rows = |v: Value| prefix_rows(&series, &parse_train(&v, false).unwrap());
        assert_eq!(rows(json!({"rows": 4})).unwrap(), 4);
        assert_eq!(rows(json!({"until": "2014-02-07T02:00:00Z"})).unwrap(), 3);
        assert_eq!(rows(json!({"until": start + 3_600_000})).unwrap(), 2);
        let cases = [
            (
                json!({"rows": 11}),
                "train.rows: 11 is more than the 10 rows",
            ),
            (
                json!({"until": "2014-02-06"}),
                "train.until: 2014-02-06T00:00:00Z is outside the data, which runs from \
                 2014-02-07T00:00:00Z to 2014-02-07T09:00:00Z",
            ),
            (
                json!({"until": "2014-02-07T09:00:00Z"}),
                "is outside the data",
            ),
            (
                json!({"until": "soon"}),
                "train.until: \"soon\": not a time",
            ),
        ];
        for (v, want) in cases {
            let err = rows(v.clone()).unwrap_err();
            assert!(err.message().contains(want), "{v}: {}", err.message());
        }
        let numbered = Series::from_values(vec![1.0; 10]).unwrap();
        let until = |u: Value| prefix_rows(&numbered, &TrainRequest::Until(u));
        assert_eq!(until(json!(4)).unwrap(), 5);
        assert_eq!(until(json!("4")).unwrap(), 5);
        let err = until(json!("2014-02-07")).unwrap_err();
        assert!(
            err.message().contains("give a row number"),
            "{}",
            err.message()
        );
    }
}
