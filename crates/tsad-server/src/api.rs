//! The request and response bodies of the REST API (docs/API.md), with their OpenAPI schemas.

use crate::error::ErrorDetail;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use tsad_store::{DatasetRecord, ModelRecord, RunRecord};
use utoipa::ToSchema;

/// Unix milliseconds as RFC 3339 (UTC, seconds precision, `Z`).
pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the server answers.
    pub status: &'static str,
    /// The server's version.
    pub version: &'static str,
}

/// A dataset: its columns, preview rows and ingest diagnostics.
#[derive(Debug, Serialize, ToSchema)]
pub struct Dataset {
    /// Unique id (`ds_...`).
    pub id: String,
    /// Display name (the uploaded file's name).
    pub name: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Size of the stored file in bytes.
    pub size_bytes: u64,
    /// Data rows read (header excluded).
    pub rows: u64,
    /// The field delimiter.
    #[schema(value_type = String)]
    pub delimiter: Value,
    /// Whether the first line is a header.
    #[schema(value_type = bool)]
    pub has_header: Value,
    /// Every column with its detected kind (`time`, `numeric`, `text`, `empty`).
    #[schema(value_type = Vec<Object>)]
    pub columns: Value,
    /// The detected time column (null: none, the row index is the time axis).
    #[schema(value_type = Option<String>)]
    pub time_column: Value,
    /// The detected value column.
    #[schema(value_type = String)]
    pub value_column: Value,
    /// A column of 0/1 (or true/false, yes/no) named `is_anomaly`, `label` or `anomaly`, if any.
    #[schema(value_type = Option<String>)]
    pub label_column: Value,
    /// Set when the file is not one series but a long file: the text column whose values name
    /// its series (run it with `series_column`); `value_column`, `time_column` and
    /// `diagnostics` then describe its first series.
    #[schema(value_type = Option<String>)]
    pub series_column: Value,
    /// `{"rows": [[cell, ...], ...]}`: the first 20 data rows as text.
    #[schema(value_type = Object)]
    pub preview: Value,
    /// What ingest learnt with the default columns (rows, missing, rejected, gaps, warnings).
    #[schema(value_type = Object)]
    pub diagnostics: Value,
}

impl From<DatasetRecord> for Dataset {
    fn from(d: DatasetRecord) -> Self {
        let get = |k: &str| d.meta.get(k).cloned().unwrap_or(Value::Null);
        Dataset {
            delimiter: get("delimiter"),
            has_header: get("has_header"),
            columns: get("columns"),
            time_column: get("time_column"),
            value_column: get("value_column"),
            label_column: get("label_column"),
            series_column: get("series_column"),
            preview: get("preview"),
            diagnostics: get("diagnostics"),
            id: d.id,
            name: d.name,
            created_at: rfc3339(d.created_at),
            size_bytes: d.size_bytes,
            rows: d.rows,
        }
    }
}

/// A dataset in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetSummary {
    /// Unique id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Data rows.
    pub rows: u64,
    /// Size of the stored file in bytes.
    pub size_bytes: u64,
    /// Runs made on it.
    pub run_count: u64,
}

impl From<tsad_store::DatasetSummary> for DatasetSummary {
    fn from(d: tsad_store::DatasetSummary) -> Self {
        DatasetSummary {
            id: d.id,
            name: d.name,
            created_at: rfc3339(d.created_at),
            rows: d.rows,
            size_bytes: d.size_bytes,
            run_count: d.run_count,
        }
    }
}

/// `GET /api/v1/datasets`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetList {
    /// Newest first.
    pub datasets: Vec<DatasetSummary>,
}

/// `POST /api/v1/datasets` as JSON: a series given inline.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetPoints {
    /// Display name (default `points`).
    #[serde(default)]
    pub name: Option<String>,
    /// Unix milliseconds, strictly increasing; omitted: the row index is the time axis.
    #[serde(default)]
    pub timestamps: Option<Vec<i64>>,
    /// The values; null marks a missing value.
    pub values: Vec<Option<f64>>,
}

/// `POST /api/v1/datasets/demo` (optional body).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DemoRequest {
    /// Number of points, 200 to the server's limit (default limit 1,000,000; default 2000).
    #[serde(default)]
    pub points: Option<usize>,
    /// Random seed (default 42).
    #[serde(default)]
    pub seed: Option<u64>,
}

/// Deserializes a field that may be absent (outer `None`), null (`Some(None)`) or a value.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A column by name or 0-based index.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ColumnSelector {
    /// The header's name (case-insensitive).
    Name(String),
    /// The 0-based position.
    Index(usize),
}

impl From<ColumnSelector> for tsad_io::ColumnRef {
    fn from(c: ColumnSelector) -> Self {
        match c {
            ColumnSelector::Name(n) => tsad_io::ColumnRef::Name(n),
            ColumnSelector::Index(i) => tsad_io::ColumnRef::Index(i),
        }
    }
}

/// `POST /api/v1/runs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunCreate {
    /// The dataset to run on.
    pub dataset_id: String,
    /// The time column (name or index). Absent: detected; `null`: none, the row index is the
    /// time axis.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<ColumnSelector>)]
    pub time_column: Option<Option<ColumnSelector>>,
    /// The value column (name or index). Absent or `null`: detected.
    #[serde(default)]
    pub value_column: Option<ColumnSelector>,
    /// A detector spec (`{"kind": "mad", ...}`) or `{"preset": name, "overrides": {...}}`;
    /// absent: the default spec of `GET /api/v1/detectors`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub detector: Option<Value>,
    /// `{"method": "sigma", "k": 3}` and the like; absent: the default threshold.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub threshold: Option<Value>,
    /// `{"merge_gap": 2, "merge_gap_time": 3600000, "min_points": 1, "prune": 0.1, "standout":
    /// false, "routine": false}` (any subset); absent: defaults.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub events: Option<Value>,
    /// What the detector learns normal from: `{"rows": N}` (the first N rows), `{"until":
    /// "2014-02-07T00:00:00Z"}` (the rows at or before that time; a row number when the data
    /// has no time column) or `{"dataset_id": ID, "value_column": name}` (another dataset with
    /// the same columns). Absent: the whole series.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub train: Option<Value>,
    /// Score with this stored model (`GET /api/v1/models`) instead of fitting; not with `train`
    /// or `detector`.
    #[serde(default)]
    pub model_id: Option<String>,
    /// Also store the fitted model once the run succeeded (it fits the detector once more, on
    /// the training part); the run's `training.saved_model_id` names it.
    #[serde(default)]
    pub save_model: bool,
    /// Many series, long layout: one series per distinct value of this column (a host, a
    /// store, a sensor id), rows in any order; `value_column` is each series' values. Each
    /// series becomes a run of its own (`GET /api/v1/runs/{id}/series`). Not with `train`,
    /// `model_id` or `save_model`.
    #[serde(default)]
    pub series_column: Option<ColumnSelector>,
    /// Many series, wide layout: one series per listed column, all on the time column; `[]`
    /// takes every numeric column but the time column (0/1 label columns and row counters are
    /// passed over). Not with `value_column`, `series_column`, `train`, `model_id` or
    /// `save_model`.
    #[serde(default)]
    pub value_columns: Option<Vec<ColumnSelector>>,
}

/// A run: status, progress, summary and, for a single run, its events and report.
#[derive(Debug, Serialize, ToSchema)]
pub struct Run {
    /// Unique id (`run_...`).
    pub id: String,
    /// Its dataset.
    pub dataset_id: String,
    /// Its dataset's name (null if the dataset is gone).
    pub dataset_name: Option<String>,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    /// The detector spec (a preset already expanded).
    #[schema(value_type = Object)]
    pub detector: Value,
    /// The preset it came from, if any.
    pub preset: Option<String>,
    /// The threshold in force.
    #[schema(value_type = Object)]
    pub threshold: Value,
    /// The threshold in words (`about 1 false alarm per 100,000 points of normal data`).
    pub threshold_rule: Option<String>,
    /// What the threshold cuts: `rarity` (calibrated, for `auto` and `sensitivity`) or `raw`
    /// (the detector's own scores).
    pub scale: Option<String>,
    /// How flagged points merge into events.
    #[schema(value_type = Object)]
    pub events_options: Value,
    /// What the model was fitted and calibrated on: `source` (`self`, `prefix`, `dataset` or
    /// `model`), `rows`, `prefix_rows`, `until`, `start`/`end` of the training part,
    /// `dataset_id`, `model_id`, `calibration_points`, `junction_rows`, `saved_model_id`. Null for runs made
    /// before training parts existed.
    #[schema(value_type = Option<Object>)]
    pub training: Option<Value>,
    /// The time column (as asked, then as resolved; null: row index or detected).
    #[schema(value_type = Option<String>)]
    pub time_column: Value,
    /// The value column.
    #[schema(value_type = Option<String>)]
    pub value_column: Value,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, once started.
    pub started_at: Option<String>,
    /// RFC 3339, once finished.
    pub finished_at: Option<String>,
    /// The latest training progress while running.
    #[schema(value_type = Option<Object>)]
    pub progress: Option<Value>,
    /// Why it failed.
    pub error: Option<ErrorDetail>,
    /// Points, span, counts, threshold value and timings, once succeeded.
    #[schema(value_type = Option<Object>)]
    pub summary: Option<Value>,
    /// Every event in time order, each with its `index` (the `n` of `/events/{n}/explain`),
    /// `rank` (1 = most severe) and `rarity` (single-run responses only; empty until it
    /// succeeded).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub events: Option<Value>,
    /// The detector's report (single-run responses only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub report: Option<Value>,
    /// A many-series run: the layout asked (`series_column` or `value_columns`), then the
    /// fleet's counts (`series`, `with_events`, `failed`, `events`, `points`) and the file's
    /// `warnings`. Its series are listed by `GET /api/v1/runs/{id}/series`; null otherwise.
    #[schema(value_type = Option<Object>)]
    pub fleet: Option<Value>,
    /// For one series of a many-series run: that run's id.
    pub parent_id: Option<String>,
    /// For one series of a many-series run: the series' name (its column or id).
    pub series: Option<String>,
    /// The name the user gave the run (`PATCH /api/v1/runs/{id}`); null: none.
    pub name: Option<String>,
    /// Its detector and the settings that set it apart from the other runs on its dataset
    /// (`mad · window 96 · σ k = 3`): what the UI lists it by when it has no name.
    pub label: String,
}

impl Run {
    /// A run without events and report (list entries).
    pub(crate) fn summary(r: RunRecord, dataset_name: Option<String>, label: String) -> Self {
        Run {
            label,
            id: r.id,
            dataset_id: r.dataset_id,
            dataset_name,
            status: r.status.as_str().into(),
            detector: r.spec,
            preset: r.preset,
            threshold_rule: crate::events::rule(&r.threshold),
            scale: crate::events::scale(&r.threshold).map(str::to_owned),
            threshold: r.threshold,
            events_options: r.events_options,
            training: r.training,
            time_column: r.time_column,
            value_column: r.value_column,
            created_at: rfc3339(r.created_at),
            started_at: r.started_at.map(rfc3339),
            finished_at: r.finished_at.map(rfc3339),
            progress: r.progress,
            error: r.error.map(|e| ErrorDetail {
                code: e.code,
                message: e.message,
            }),
            summary: r.summary,
            events: None,
            report: None,
            fleet: r.fleet,
            parent_id: r.parent_id,
            series: r.series,
            name: r.name,
        }
    }
}

/// `PATCH /api/v1/datasets/{id}` and `PATCH /api/v1/runs/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    /// The new name; for a run, `null` or `""` removes its name.
    pub name: Option<String>,
}

/// `GET /api/v1/runs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    /// Newest first, without events and report.
    pub runs: Vec<Run>,
}

/// `GET /api/v1/runs?dataset_id=...`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunListQuery {
    /// Only the runs of this dataset.
    pub dataset_id: Option<String>,
}

/// `GET /api/v1/runs/{id}/series` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SeriesQuery {
    /// `severity` (default: the worst event's calibrated rarity, then its severity, most
    /// abnormal first), `events` (most first), `name` or `input` (the file's order).
    pub sort: Option<String>,
    /// `desc` (default for `severity` and `events`) or `asc` (default for `name` and `input`).
    pub order: Option<String>,
    /// Only series whose name contains this text (case-insensitive).
    pub q: Option<String>,
    /// `with_events`, `without_events` or `failed`; default every series.
    pub only: Option<String>,
    /// Skip this many (after sorting and filtering). Default 0.
    pub offset: Option<usize>,
    /// At most this many (1 to 1000, default 100).
    pub limit: Option<usize>,
}

/// One series of a many-series run.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesEntry {
    /// The column name (wide) or id (long).
    pub name: String,
    /// The series' own run: its points, events, explanations and chat.
    pub run_id: String,
    /// `succeeded` or `failed`.
    pub status: String,
    /// Points read.
    pub points: u64,
    /// Events found.
    pub events: u64,
    /// The worst event's calibrated rarity (-log10 of how often normal data scores as
    /// high), null without events or calibration.
    pub worst_rarity: Option<f64>,
    /// The worst event's peak severity (raw score units).
    pub worst_severity: Option<f64>,
    /// When the worst event peaked (ms, or row index on an index axis).
    pub worst_time: Option<i64>,
    /// About 64 values of the series (min and max of equal slices, in time order) for a
    /// sparkline; null where a slice is all missing.
    pub sparkline: Vec<Option<f64>>,
    /// Why the series failed (too short, all missing, ...).
    pub error: Option<ErrorDetail>,
}

/// `GET /api/v1/runs/{id}/series`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesList {
    /// Series in the run.
    pub total: usize,
    /// Series that pass the filter (`q`, `only`).
    pub matched: usize,
    /// The requested page of the matching series.
    pub series: Vec<SeriesEntry>,
}

/// `GET /api/v1/datasets/{id}/series` query: how the file holds its series.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DatasetSeriesQuery {
    /// Long layout: the series id column.
    pub series_column: Option<String>,
    /// Wide layout: comma-separated value columns, or `*` for every numeric column. Default
    /// (neither given): every numeric column.
    pub value_columns: Option<String>,
    /// The value column of a long layout (default: detected).
    pub value_column: Option<String>,
}

/// One series of a dataset, as ingest reads it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetSeriesEntry {
    /// The column name (wide) or id (long).
    pub name: String,
    /// Its diagnostics (rows, missing, gaps, duplicates, warnings), null when it failed.
    #[schema(value_type = Option<Object>)]
    pub diagnostics: Option<Value>,
    /// Why it cannot be read.
    pub error: Option<String>,
}

/// `GET /api/v1/datasets/{id}/series`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetSeries {
    /// The time column used (null: the row index).
    pub time_column: Option<String>,
    /// The series id column of a long layout.
    pub series_column: Option<String>,
    /// Data rows read.
    pub rows: usize,
    /// Rows that fed no series (no id).
    pub rejected: usize,
    /// What applies to the whole file (columns passed over, ...).
    pub warnings: Vec<String>,
    /// The series, in file order.
    pub series: Vec<DatasetSeriesEntry>,
}

/// `GET /api/v1/runs/{id}/points` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PointsQuery {
    /// First timestamp (inclusive; ms, or row index on an index axis). Default: the start.
    pub from: Option<i64>,
    /// Last timestamp (inclusive). Default: the end.
    pub to: Option<i64>,
    /// Downsample when the range holds more points (default 2000, 10 to 1,000,000).
    pub max_points: Option<usize>,
    /// `minmax` (default) or `lttb`.
    pub method: Option<crate::downsample::Method>,
}

/// One ensemble member's normalised scores in [`Points`].
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberPoints {
    /// The member's name.
    pub name: String,
    /// Its detector kind.
    pub kind: String,
    /// Its normalised score per returned point.
    pub score: Vec<Option<f64>>,
}

/// Columnar points of a range (undefined values are null).
#[derive(Debug, Serialize, ToSchema)]
pub struct Points {
    /// The range's first timestamp.
    pub from: Option<i64>,
    /// The range's last timestamp.
    pub to: Option<i64>,
    /// Points in the whole series.
    pub total: usize,
    /// Points in the range.
    pub in_range: usize,
    /// Points returned.
    pub returned: usize,
    /// Whether the range was downsampled.
    pub downsampled: bool,
    /// `epoch_millis` or `index`.
    pub time_axis: String,
    /// Timestamps.
    pub t: Vec<i64>,
    /// Each point's index in the series.
    pub index: Vec<usize>,
    /// Values.
    pub value: Vec<Option<f64>>,
    /// Expected values, if the detector has them.
    pub expected: Option<Vec<Option<f64>>>,
    /// Lower band, if any.
    pub lower: Option<Vec<Option<f64>>>,
    /// Upper band, if any.
    pub upper: Option<Vec<Option<f64>>>,
    /// Anomaly scores (the detector's raw scores).
    pub score: Vec<Option<f64>>,
    /// Calibrated rarity of each score (`-log10` of its tail probability under normal data);
    /// null for runs made before calibration existed.
    pub rarity: Option<Vec<Option<f64>>>,
    /// Whether each point is above the threshold.
    pub flag: Vec<bool>,
    /// Ground-truth labels (1 = anomaly) when the dataset had a label column.
    pub label: Option<Vec<Option<f64>>>,
    /// Ensemble members' normalised scores.
    pub members: Vec<MemberPoints>,
    /// The threshold's cut-off (null when no score was finite), on `scale`.
    pub threshold_value: Option<f64>,
    /// What the cut-off applies to: `rarity` or `raw` (`score`).
    pub scale: String,
}

/// How a list of events is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventOrder {
    /// Most severe first (`rank` 1, 2, ...).
    #[default]
    Rank,
    /// In time order (`index` 0, 1, ...).
    Time,
}

/// `GET /api/v1/runs/{id}/events` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// At most this many events (default 100; 0 = all of them).
    pub limit: Option<usize>,
    /// `rank` (default: most severe first) or `time`.
    pub order: Option<EventOrder>,
}

/// `GET /api/v1/runs/{id}/events`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventsResponse {
    /// The threshold in force.
    #[schema(value_type = Object)]
    pub threshold: Value,
    /// The threshold in words.
    pub threshold_rule: Option<String>,
    /// What the cut-off applies to: `rarity` or `raw`.
    pub scale: Option<String>,
    /// Its cut-off value, on `scale`.
    pub threshold_value: Option<f64>,
    /// All events of the run (the list may hold fewer: see `limit`).
    pub event_count: usize,
    /// The events, most severe first unless `order=time`, each with its `index` (time order,
    /// the `n` of `/events/{n}/explain`) and `rank`.
    #[schema(value_type = Vec<Object>)]
    pub events: Value,
}

/// `POST /api/v1/runs/{id}/threshold`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdRequest {
    /// The new threshold; absent: keep the run's (to change only the event options).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub threshold: Option<Value>,
    /// New event options (`merge_gap`, `merge_gap_time` in ms, `min_points`, `prune`,
    /// `standout`, `routine`); absent:
    /// keep the run's. Options left out of the object take their defaults.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub events: Option<Value>,
    /// At most this many events in the answer (default 100; 0 = all).
    #[serde(default)]
    pub limit: Option<usize>,
    /// `rank` (default) or `time`.
    #[serde(default)]
    pub order: Option<EventOrder>,
    /// Only say what the threshold would give (counts, cut-off, events) and store nothing: the
    /// run keeps its threshold. The UI previews the event count this way while the slider moves.
    #[serde(default)]
    pub preview: bool,
}

/// The answer to a re-threshold.
#[derive(Debug, Serialize, ToSchema)]
pub struct ThresholdResponse {
    /// The threshold now in force.
    #[schema(value_type = Object)]
    pub threshold: Value,
    /// The threshold in words.
    pub threshold_rule: Option<String>,
    /// What the cut-off applies to: `rarity` or `raw`.
    pub scale: Option<String>,
    /// Its cut-off value, on `scale`.
    pub threshold_value: Option<f64>,
    /// All events at this threshold.
    pub event_count: usize,
    /// The new events (see `limit` and `order`).
    #[schema(value_type = Vec<Object>)]
    pub events: Value,
    /// Points flagged (inside the surviving events).
    pub anomaly_count: usize,
    /// The event options now in force.
    #[schema(value_type = Object)]
    pub events_options: Value,
    /// Events set aside as the series' routine (they recur at one time of the hour, day or
    /// week): `[{"period": "day", "events": 14, "summary": "14 events, every day between 03:05
    /// and 03:40 UTC", ...}]`; empty when none (or with `"routine": false` in the options).
    #[schema(value_type = Vec<Object>)]
    pub routine: Value,
    /// When no event was kept: why, and the nearest setting that would show one: `{"reason":
    /// "below_cut", "index", "time", "rarity", "score", "every"}` (the rarest point and the
    /// loosest round `auto` rate, one false alarm per `every` points, that flags it),
    /// `{"reason": "nothing_stands_out", "index", "time", "rarity"}` or `{"reason":
    /// "events_dropped", "routine"}` (points passed the cut-off but the event options dropped
    /// every event). Null when there are events.
    #[schema(value_type = Object)]
    pub quiet: Value,
}

/// `GET /api/v1/runs/{id}/download` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DownloadQuery {
    /// `csv` (default) or `json`.
    pub format: Option<String>,
}

/// `POST /api/v1/detect`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectRequest {
    /// Unix milliseconds, strictly increasing; omitted: the row index.
    #[serde(default)]
    pub timestamps: Option<Vec<i64>>,
    /// The values (null = missing), at most 100,000.
    pub values: Vec<Option<f64>>,
    /// A spec or `{"preset": ...}`; absent: the default spec.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub detector: Option<Value>,
    /// The threshold; absent: the default.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub threshold: Option<Value>,
    /// Event options; absent: defaults.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub events: Option<Value>,
    /// What the detector learns normal from: `{"rows": N}`, `{"until": time}`,
    /// `{"values": [...], "timestamps": [...]}` (points given inline, at most 100,000) or
    /// `{"dataset_id": ID, "value_column": name}`. Absent: the series itself.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub train: Option<Value>,
    /// Score with this stored model instead of fitting; not with `train` or `detector`.
    #[serde(default)]
    pub model_id: Option<String>,
}

/// The series of a synchronous detection.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesInfo {
    /// Number of points.
    pub points: usize,
    /// First timestamp.
    pub start: Option<i64>,
    /// Last timestamp.
    pub end: Option<i64>,
    /// Median step.
    pub step_ms: Option<i64>,
}

/// The answer of `POST /api/v1/detect`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DetectResponse {
    /// The series.
    pub series: SeriesInfo,
    /// The detector spec used.
    #[schema(value_type = Object)]
    pub detector: Value,
    /// The preset it came from, if any.
    pub preset: Option<String>,
    /// The threshold used.
    #[schema(value_type = Object)]
    pub threshold: Value,
    /// The threshold in words.
    pub threshold_rule: String,
    /// What the cut-off applies to: `rarity` or `raw`.
    pub scale: String,
    /// Its cut-off value, on `scale`.
    pub threshold_value: Option<f64>,
    /// Points flagged (inside events).
    pub anomaly_count: usize,
    /// Number of events.
    pub event_count: usize,
    /// Every event in time order, each with `index`, `rank` (1 = most severe) and `rarity`.
    #[schema(value_type = Vec<Object>)]
    pub events: Value,
    /// Events set aside as the series' routine (as in a re-threshold's answer).
    #[schema(value_type = Vec<Object>)]
    pub routine: Value,
    /// As in a re-threshold's answer. When no event was kept: why, and the nearest setting that would show one: `{"reason":
    /// "below_cut", "index", "time", "rarity", "score", "every"}` (the rarest point and the
    /// loosest round `auto` rate, one false alarm per `every` points, that flags it),
    /// `{"reason": "nothing_stands_out", "index", "time", "rarity"}` or `{"reason":
    /// "events_dropped", "routine"}` (points passed the cut-off but the event options dropped
    /// every event). Null when there are events.
    #[schema(value_type = Object)]
    pub quiet: Value,
    /// What the model was fitted and calibrated on (as a run's `training`).
    #[schema(value_type = Object)]
    pub training: Value,
    /// Every point, not downsampled.
    pub points: Points,
    /// The detector's report.
    #[schema(value_type = Object)]
    pub report: Value,
    /// Seconds spent fitting.
    pub fit_seconds: f64,
    /// Seconds spent scoring.
    pub score_seconds: f64,
}

/// A stored fitted model.
#[derive(Debug, Serialize, ToSchema)]
pub struct Model {
    /// Unique id (`model_...`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The detector kind.
    pub kind: Option<String>,
    /// The detector spec it was built from.
    #[schema(value_type = Object)]
    pub detector: Value,
    /// The dataset it was fitted on (null once that dataset is deleted, or for inline points).
    pub dataset_id: Option<String>,
    /// The run it was saved from (null once that run is deleted).
    pub run_id: Option<String>,
    /// What it was fitted on: `rows`, `source`, `time_column`, `value_column`, `start`, `end`,
    /// `calibration_points`.
    #[schema(value_type = Object)]
    pub training: Value,
    /// Size of the model file in bytes.
    pub size_bytes: u64,
    /// RFC 3339.
    pub created_at: String,
}

impl From<ModelRecord> for Model {
    fn from(m: ModelRecord) -> Self {
        Model {
            id: m.id,
            name: m.name,
            kind: m
                .spec
                .get("kind")
                .and_then(Value::as_str)
                .map(str::to_owned),
            detector: m.spec,
            dataset_id: m.dataset_id,
            run_id: m.run_id,
            training: m.meta,
            size_bytes: m.size_bytes,
            created_at: rfc3339(m.created_at),
        }
    }
}

/// `GET /api/v1/models`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    /// Newest first.
    pub models: Vec<Model>,
}

/// `POST /api/v1/runs/{id}/model` (optional body).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelCreate {
    /// Display name (default: the detector and what it was fitted on).
    #[serde(default)]
    pub name: Option<String>,
}
