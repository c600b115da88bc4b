#![doc = include_str!("../README.md")]

mod blob;
mod error;
mod sqlite;

pub use error::StorageError;
pub use sqlite::SqliteStorage;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt::Debug;
use std::str::FromStr;

/// The error recorded on runs that were queued or running when the server stopped.
pub const INTERRUPTED_MESSAGE: &str =
    "the server stopped while this run was in flight; start it again";

/// The error code recorded with [`INTERRUPTED_MESSAGE`].
pub const INTERRUPTED_CODE: &str = "interrupted";

/// A stored dataset, without its raw bytes (see [`Storage::dataset_bytes`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetRecord {
    /// Unique id (`ds_...`).
    pub id: String,
    /// Display name (usually the file name).
    pub name: String,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
    /// Size of the raw file in bytes.
    pub size_bytes: u64,
    /// Data rows found when it was ingested with the default columns.
    pub rows: u64,
    /// Detected columns, delimiter, preview rows, diagnostics: whatever the server wants to keep.
    pub meta: Value,
}

/// A dataset in a list, with the number of runs made on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    /// Unique id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
    /// Data rows.
    pub rows: u64,
    /// Size of the raw file in bytes.
    pub size_bytes: u64,
    /// Runs made on this dataset.
    pub run_count: u64,
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Accepted, waiting for a job slot.
    Queued,
    /// Fitting or scoring.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Finished with an error (see [`RunRecord::error`]).
    Failed,
    /// Stopped by the user.
    Cancelled,
}

impl RunStatus {
    /// Every status, in life order.
    pub const ALL: [RunStatus; 5] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];

    /// The status as stored and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// True for `succeeded`, `failed` and `cancelled`: nothing will change it any more.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = StorageError;
    fn from_str(s: &str) -> Result<Self, StorageError> {
        RunStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| StorageError::Corrupt {
                reason: format!("unknown run status `{s}`"),
            })
    }
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunError {
    /// A machine-readable code (`invalid_csv`, `not_enough_data`, `interrupted`, ...).
    pub code: String,
    /// A message for users.
    pub message: String,
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unique id (`run_...`).
    pub id: String,
    /// The dataset it runs on.
    pub dataset_id: String,
    /// The detector spec, resolved (a preset already expanded).
    pub spec: Value,
    /// The preset's name when the spec came from one.
    pub preset: Option<String>,
    /// The threshold in force.
    pub threshold: Value,
    /// How flagged points merge into events.
    pub events_options: Value,
    /// The time column as asked (name, index or null), replaced by the resolved name once run.
    pub time_column: Value,
    /// The value column as asked, replaced by the resolved name once run.
    pub value_column: Value,
    /// Where the run is.
    pub status: RunStatus,
    /// The latest progress report while running.
    pub progress: Option<Value>,
    /// Points, time span, counts and timings once finished.
    pub summary: Option<Value>,
    /// What the model is fitted and calibrated on: as asked (`{"source": "prefix",
    /// "prefix_rows": 500}`), then completed with what the run found. `None` for runs stored
    /// before training parts existed.
    pub training: Option<Value>,
    /// Why it failed.
    pub error: Option<RunError>,
    /// Seconds spent fitting.
    pub fit_seconds: Option<f64>,
    /// Seconds spent scoring.
    pub score_seconds: Option<f64>,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
    /// When a job slot picked it up.
    pub started_at: Option<i64>,
    /// When it reached a finished status.
    pub finished_at: Option<i64>,
    /// A many-series run: how the dataset holds its series, as asked (`{"series_column":
    /// "host"}`, `{"value_columns": ["cpu", "mem"]}` or `{"all_columns": true}`), completed
    /// with the fleet summary once run. Its series are runs of their own (see `parent_id`).
    /// `None` for a run on one series.
    pub fleet: Option<Value>,
    /// The many-series run this run is one series of.
    pub parent_id: Option<String>,
    /// This run's series name within its parent (a column name or an id).
    pub series: Option<String>,
    /// A name the user gave the run (`None`: the UI labels it by its detector).
    pub name: Option<String>,
}

impl RunRecord {
    /// A queued run with the default threshold (`{"method":"auto","every":100000.0}`), default
    /// event options and the columns left to detection.
    pub fn new(id: String, dataset_id: &str, spec: Value, created_at: i64) -> Self {
        RunRecord {
            id,
            dataset_id: dataset_id.to_owned(),
            spec,
            preset: None,
            threshold: serde_json::json!({"method": "auto", "every": 100_000.0}),
            events_options: serde_json::json!({
                "merge_gap": 2, "merge_gap_time": null, "min_points": 1, "prune": 0.0
            }),
            time_column: Value::Null,
            value_column: Value::Null,
            status: RunStatus::Queued,
            progress: None,
            summary: None,
            training: None,
            error: None,
            fit_seconds: None,
            score_seconds: None,
            created_at,
            started_at: None,
            finished_at: None,
            fleet: None,
            parent_id: None,
            series: None,
            name: None,
        }
    }
}

/// One ensemble member's normalised scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberColumn {
    /// The member's name in the ensemble.
    pub name: String,
    /// Its detector kind.
    pub kind: String,
    /// Normalised scores, one per point (NaN = undefined).
    pub normalized: Vec<f64>,
}

/// Everything a finished run produced, index-aligned per point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// `"epoch_millis"` or `"index"`: what the timestamps mean.
    pub time_axis: String,
    /// One timestamp per point.
    pub timestamps: Vec<i64>,
    /// The series' values (NaN = missing).
    pub values: Vec<f64>,
    /// One score per point (NaN = undefined).
    pub score: Vec<f64>,
    /// The calibrated rarity of each score (`-log10` of its tail probability under normal
    /// data; NaN = undefined). `None` for results stored before calibration existed: those
    /// can only be re-thresholded on the raw scores.
    pub rarity: Option<Vec<f64>>,
    /// What the model expected, if it has that notion.
    pub expected: Option<Vec<f64>>,
    /// Lower edge of the normal band.
    pub lower: Option<Vec<f64>>,
    /// Upper edge of the normal band.
    pub upper: Option<Vec<f64>>,
    /// Points above the threshold.
    pub flags: Vec<bool>,
    /// Ground-truth labels from the dataset (1 = anomaly, NaN = unknown), if it had a label column.
    pub labels: Option<Vec<f64>>,
    /// Ensemble members' normalised scores.
    pub members: Vec<MemberColumn>,
    /// The cut-off score of the threshold in force (`+inf` when no score was finite).
    pub threshold_value: f64,
    /// The events, as JSON.
    pub events: Value,
    /// The detector's report, as JSON.
    pub report: Value,
}

impl RunResult {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// True when the result holds no point.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// Checks that every per-point array has one entry per point.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidRecord`] naming the first array whose length differs.
    pub fn validate(&self) -> Result<(), StorageError> {
        let n = self.timestamps.len();
        let mut lens: Vec<(&str, usize)> = vec![
            ("values", self.values.len()),
            ("score", self.score.len()),
            ("flags", self.flags.len()),
        ];
        for (name, col) in [
            ("rarity", &self.rarity),
            ("expected", &self.expected),
            ("lower", &self.lower),
            ("upper", &self.upper),
            ("labels", &self.labels),
        ] {
            if let Some(c) = col {
                lens.push((name, c.len()));
            }
        }
        for m in &self.members {
            lens.push((m.name.as_str(), m.normalized.len()));
        }
        match lens.into_iter().find(|(_, len)| *len != n) {
            Some((name, len)) => Err(StorageError::InvalidRecord {
                reason: format!("result array `{name}` has {len} entries for {n} points"),
            }),
            None => Ok(()),
        }
    }
}

/// A new threshold applied to a stored result (no model re-run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdUpdate {
    /// The threshold now in force.
    pub threshold: Value,
    /// The event options now in force.
    pub events_options: Value,
    /// Its cut-off value.
    pub threshold_value: f64,
    /// The new flags, one per point.
    pub flags: Vec<bool>,
    /// The new events.
    pub events: Value,
    /// The run's new summary.
    pub summary: Option<Value>,
}

/// A stored fitted model (the detector's state and its calibration), without its bytes (see
/// [`Storage::model_bytes`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// Unique id (`model_...`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The dataset it was fitted on; `None` when that dataset was deleted, or the model was
    /// fitted on points given inline.
    pub dataset_id: Option<String>,
    /// The run it was saved from; `None` when that run was deleted.
    pub run_id: Option<String>,
    /// The detector spec it was built from.
    pub spec: Value,
    /// Training rows, columns, time range: whatever the server wants to show.
    pub meta: Value,
    /// Size of the model file in bytes.
    pub size_bytes: u64,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
}

/// A user's judgement of a stretch of a dataset: an event confirmed, a false alarm, unsure, or
/// an anomaly the detector missed. Kept with the dataset (by time, not by event number), so
/// every run on it, now or later, shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkRecord {
    /// Unique id (`mark_...`).
    pub id: String,
    /// The dataset it judges.
    pub dataset_id: String,
    /// The series of a many-series dataset it judges; `None` for a run on one series.
    pub series: Option<String>,
    /// First and last timestamp it covers (Unix ms, or row numbers), inclusive.
    pub start_time: i64,
    /// See `start_time`.
    pub end_time: i64,
    /// `confirmed`, `false_alarm`, `unsure` or `missed`.
    pub verdict: String,
    /// The user's note (may be empty).
    pub comment: String,
    /// The run it was made on; `None` once that run is deleted.
    pub run_id: Option<String>,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
    /// Last change, Unix milliseconds.
    pub updated_at: i64,
}

/// One message of a run's chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The run it belongs to.
    pub run_id: String,
    /// `user`, `assistant` or `system`.
    pub role: String,
    /// The text.
    pub content: String,
    /// When it was written, Unix milliseconds.
    pub created_at: i64,
}

/// Where datasets, runs, results, chat messages and fitted models live.
///
/// Object-safe and synchronous: the server holds an `Arc<dyn Storage>` and calls it from the
/// blocking pool. Lists are newest first (by `created_at`, then by insertion order).
pub trait Storage: Send + Sync + Debug {
    /// Stores a dataset and its raw bytes.
    ///
    /// # Errors
    ///
    /// [`StorageError::Conflict`] when the id is taken.
    fn create_dataset(&self, dataset: &DatasetRecord, raw: &[u8]) -> Result<(), StorageError>;

    /// One dataset, without its bytes.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] for an unknown id.
    fn dataset(&self, id: &str) -> Result<DatasetRecord, StorageError>;

    /// The raw bytes of a dataset, as uploaded.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] for an unknown id.
    fn dataset_bytes(&self, id: &str) -> Result<Vec<u8>, StorageError>;

    /// Every dataset, newest first.
    ///
    /// # Errors
    ///
    /// [`StorageError::Sqlite`] and the like when the store fails.
    fn list_datasets(&self) -> Result<Vec<DatasetSummary>, StorageError>;

    /// Renames a dataset.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] for an unknown id.
    fn rename_dataset(&self, id: &str, name: &str) -> Result<(), StorageError>;

    /// Deletes a dataset with its runs, results and chat messages.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] for an unknown id.
    fn delete_dataset(&self, id: &str) -> Result<(), StorageError>;

    /// Stores a new run.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] when its dataset does not exist; [`StorageError::Conflict`]
    /// when the id is taken.
    fn create_run(&self, run: &RunRecord) -> Result<(), StorageError>;

    /// One run.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] for an unknown id.
    fn run(&self, id: &str) -> Result<RunRecord, StorageError>;

    /// Runs, newest first, optionally of one dataset only; the series of a many-series run
    /// are not listed (see [`Storage::series_runs`]).
    ///
    /// # Errors
    ///
    /// [`StorageError::Sqlite`] and the like when the store fails.
    fn list_runs(&self, dataset_id: Option<&str>) -> Result<Vec<RunRecord>, StorageError>;

    /// The series runs of a many-series run, in the order they were added.
    ///
    /// # Errors
    ///
    /// [`StorageError::Sqlite`] and the like when the store fails.
    fn series_runs(&self, parent_id: &str) -> Result<Vec<RunRecord>, StorageError>;

    /// Adds finished series runs (each with its result when it succeeded) to a many-series
    /// run, in one transaction. Each run's `parent_id` must name `parent_id`.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] when the parent run does not exist (it was deleted);
    /// [`StorageError::InvalidRecord`] when a result fails [`RunResult::validate`] or a run
    /// names another parent.
    fn add_series_runs(
        &self,
        parent_id: &str,
        runs: &[(RunRecord, Option<RunResult>)],
    ) -> Result<(), StorageError>;

    /// Overwrites a run's mutable fields (everything but `id`, `dataset_id` and `created_at`).
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] for an unknown id.
    fn update_run(&self, run: &RunRecord) -> Result<(), StorageError>;

    /// Atomically: when the stored run's status is one of `from`, overwrites it with `run`
    /// (and stores `result`, if given) and returns true; otherwise changes nothing and
    /// returns false. This is how a job and a cancel request agree on who finishes a run.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] for an unknown id; [`StorageError::InvalidRecord`] when
    /// `result` fails [`RunResult::validate`].
    fn transition_run(
        &self,
        run: &RunRecord,
        from: &[RunStatus],
        result: Option<&RunResult>,
    ) -> Result<bool, StorageError>;

    /// Records the latest progress of a run that is `running` (ignored otherwise).
    ///
    /// # Errors
    ///
    /// [`StorageError::Sqlite`] and the like when the store fails.
    fn set_run_progress(&self, id: &str, progress: &Value) -> Result<(), StorageError>;

    /// Deletes a run with its result and chat messages.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] for an unknown id.
    fn delete_run(&self, id: &str) -> Result<(), StorageError>;

    /// Stores (or replaces) a run's result.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] when the run does not exist; [`StorageError::InvalidRecord`]
    /// when the arrays' lengths differ.
    fn put_result(&self, run_id: &str, result: &RunResult) -> Result<(), StorageError>;

    /// A run's result.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] (kind `result`) when the run has none;
    /// [`StorageError::Corrupt`] when a stored array cannot be decoded.
    fn result(&self, run_id: &str) -> Result<RunResult, StorageError>;

    /// Applies a new threshold: the run's threshold, event options and summary, and the
    /// result's flags, events and cut-off, in one transaction.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] (kind `result`) when the run has no result;
    /// [`StorageError::InvalidRecord`] when the flags do not match the result's length.
    fn update_threshold(&self, run_id: &str, update: &ThresholdUpdate) -> Result<(), StorageError>;

    /// Appends a chat message to a run.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] when the run does not exist.
    fn add_chat_message(&self, message: &ChatMessage) -> Result<(), StorageError>;

    /// A run's chat messages, oldest first.
    ///
    /// # Errors
    ///
    /// [`StorageError::Sqlite`] and the like when the store fails.
    fn chat_messages(&self, run_id: &str) -> Result<Vec<ChatMessage>, StorageError>;

    /// Stores a mark (its dataset must exist; a `run_id` that does not is stored as `None`).
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] when the dataset does not exist; [`StorageError::Conflict`]
    /// when the id is taken.
    fn create_mark(&self, mark: &MarkRecord) -> Result<(), StorageError>;

    /// One mark.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] (kind `mark`) for an unknown id.
    fn mark(&self, id: &str) -> Result<MarkRecord, StorageError>;

    /// A dataset's marks, in time order.
    ///
    /// # Errors
    ///
    /// [`StorageError::Sqlite`] and the like when the store fails.
    fn marks(&self, dataset_id: &str) -> Result<Vec<MarkRecord>, StorageError>;

    /// Overwrites a mark's verdict, comment and `updated_at`.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] (kind `mark`) for an unknown id.
    fn update_mark(&self, mark: &MarkRecord) -> Result<(), StorageError>;

    /// Deletes a mark.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] (kind `mark`) for an unknown id.
    fn delete_mark(&self, id: &str) -> Result<(), StorageError>;

    /// Stores a fitted model and its file (`size_bytes` is taken from `bytes`). A `dataset_id`
    /// or `run_id` that does not exist is stored as `None`.
    ///
    /// # Errors
    ///
    /// [`StorageError::Conflict`] when the id is taken.
    fn create_model(&self, model: &ModelRecord, bytes: &[u8]) -> Result<(), StorageError>;

    /// One model, without its bytes.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] (kind `model`) for an unknown id.
    fn model(&self, id: &str) -> Result<ModelRecord, StorageError>;

    /// The model file, as [`Storage::create_model`] stored it.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] (kind `model`) for an unknown id.
    fn model_bytes(&self, id: &str) -> Result<Vec<u8>, StorageError>;

    /// Every model, newest first.
    ///
    /// # Errors
    ///
    /// [`StorageError::Sqlite`] and the like when the store fails.
    fn list_models(&self) -> Result<Vec<ModelRecord>, StorageError>;

    /// Deletes a model. Runs that used or saved it keep their results.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] (kind `model`) for an unknown id.
    fn delete_model(&self, id: &str) -> Result<(), StorageError>;
}

/// A new unique id `<prefix>_<26 Crockford base32 characters>`, sortable by creation time
/// (48 bits of Unix milliseconds, then 80 random bits, as a ULID).
pub fn new_id(prefix: &str) -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    // RandomState is seeded from the OS per instance; the counter keeps ids of one process
    // distinct even if two hashers ever collided.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let random = (u128::from(hasher.finish()) << 16) ^ u128::from(COUNTER.load(Ordering::Relaxed));
    let value = (u128::from(ms & 0xFFFF_FFFF_FFFF) << 80) | (random & ((1u128 << 80) - 1));
    let mut out = String::with_capacity(prefix.len() + 27);
    out.push_str(prefix);
    out.push('_');
    for i in (0..26).rev() {
        out.push(ALPHABET[((value >> (i * 5)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_prefixed() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_id("ds")).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| id.starts_with("ds_") && id.len() == 29));
    }

    #[test]
    fn status_round_trips() {
        for st in RunStatus::ALL {
            assert_eq!(st.as_str().parse::<RunStatus>().unwrap(), st);
        }
        assert!("bogus".parse::<RunStatus>().is_err());
    }

    #[test]
    fn validate_names_the_bad_array() {
        let mut r = RunResult {
            time_axis: "index".into(),
            timestamps: vec![0, 1],
            values: vec![1.0, 2.0],
            score: vec![0.0, 0.0],
            rarity: Some(vec![0.0, 0.0]),
            expected: Some(vec![1.0]),
            lower: None,
            upper: None,
            flags: vec![false, false],
            labels: None,
            members: vec![],
            threshold_value: 1.0,
            events: Value::Null,
            report: Value::Null,
        };
        let err = r.validate().unwrap_err().to_string();
        assert!(
            err.contains("`expected` has 1 entries for 2 points"),
            "{err}"
        );
        r.expected = None;
        assert!(r.validate().is_ok());
    }
}
