//! [`SqliteStorage`]: the store in one SQLite file (`tsad.db`), WAL, with numbered migrations.

use crate::blob::{decode_f64, decode_flags, decode_i64, encode_f64, encode_flags, encode_i64};
use crate::{
    ChatMessage, DatasetRecord, DatasetSummary, INTERRUPTED_CODE, INTERRUPTED_MESSAGE, MarkRecord,
    MemberColumn, ModelRecord, RunError, RunRecord, RunResult, RunStatus, Storage, StorageError,
    ThresholdUpdate,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The database file's name inside the data directory.
pub(crate) const DB_FILE: &str = "tsad.db";

/// Schema migrations; `user_version` counts those applied. Append, never edit.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE datasets (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        size_bytes INTEGER NOT NULL,
        rows INTEGER NOT NULL,
        meta TEXT NOT NULL,
        raw BLOB NOT NULL
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        spec TEXT NOT NULL,
        preset TEXT,
        threshold TEXT NOT NULL,
        events_options TEXT NOT NULL,
        time_column TEXT NOT NULL,
        value_column TEXT NOT NULL,
        status TEXT NOT NULL,
        progress TEXT,
        summary TEXT,
        error TEXT,
        fit_seconds REAL,
        score_seconds REAL,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER
    );
    CREATE INDEX runs_by_dataset ON runs(dataset_id);
    CREATE INDEX runs_by_status ON runs(status);
    CREATE TABLE results (
        run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        points INTEGER NOT NULL,
        time_axis TEXT NOT NULL,
        timestamps BLOB NOT NULL,
        vals BLOB NOT NULL,
        score BLOB NOT NULL,
        expected BLOB,
        lower BLOB,
        upper BLOB,
        flags BLOB NOT NULL,
        labels BLOB,
        members TEXT NOT NULL,
        member_scores BLOB NOT NULL,
        threshold_value REAL,
        events TEXT NOT NULL,
        report TEXT NOT NULL
    );
    CREATE TABLE chat_messages (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX chat_by_run ON chat_messages(run_id, id);",
    // 2: the threshold's outputs move to their own small row, so a re-threshold does not
    // rewrite the per-point BLOBs (SQLite rewrites a whole row, overflow pages included).
    "CREATE TABLE result_cuts (
        run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        flags BLOB NOT NULL,
        threshold_value REAL,
        events TEXT NOT NULL
    );
    INSERT INTO result_cuts (run_id, flags, threshold_value, events)
        SELECT run_id, flags, threshold_value, events FROM results;
    ALTER TABLE results DROP COLUMN flags;
    ALTER TABLE results DROP COLUMN threshold_value;
    ALTER TABLE results DROP COLUMN events;",
    // 3: calibrated rarity beside the raw scores (NULL for older results, which can only be
    // re-thresholded on raw scores), what each run was fitted on, and saved fitted models.
    "ALTER TABLE results ADD COLUMN rarity BLOB;
    ALTER TABLE runs ADD COLUMN training TEXT;
    CREATE TABLE models (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        dataset_id TEXT REFERENCES datasets(id) ON DELETE SET NULL,
        run_id TEXT REFERENCES runs(id) ON DELETE SET NULL,
        spec TEXT NOT NULL,
        meta TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        bytes BLOB NOT NULL
    );
    CREATE INDEX models_by_dataset ON models(dataset_id);
    CREATE INDEX models_by_run ON models(run_id);",
    // 4: many-series runs: a parent run holds the layout and fleet summary, each series is a
    // run of its own that points at it (deleted with it); a name the user gives a run; the
    // user's marks (triage) on a dataset's stretches.
    "ALTER TABLE runs ADD COLUMN fleet TEXT;
    ALTER TABLE runs ADD COLUMN parent_id TEXT REFERENCES runs(id) ON DELETE CASCADE;
    ALTER TABLE runs ADD COLUMN series TEXT;
    ALTER TABLE runs ADD COLUMN name TEXT;
    CREATE INDEX runs_by_parent ON runs(parent_id);
    CREATE TABLE marks (
        id TEXT PRIMARY KEY,
        dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        series TEXT,
        start_time INTEGER NOT NULL,
        end_time INTEGER NOT NULL,
        verdict TEXT NOT NULL,
        comment TEXT NOT NULL,
        run_id TEXT REFERENCES runs(id) ON DELETE SET NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX marks_by_dataset ON marks(dataset_id, start_time);",
];

/// The SQLite store. One connection behind a mutex: every call is short, and the server
/// makes them from the blocking pool.
#[derive(Debug)]
pub struct SqliteStorage {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
}

impl SqliteStorage {
    /// Opens (or creates) `dir/tsad.db`, creating `dir` if needed, applies pending migrations,
    /// and marks runs left `queued`/`running` as failed (see [`crate::INTERRUPTED_MESSAGE`]).
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`] when the directory cannot be created; [`StorageError::Sqlite`] when
    /// the file cannot be opened; [`StorageError::Corrupt`] when it was written by a newer tsad.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StorageError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)?;
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path)?;
        // WAL lets readers proceed while a job writes; NORMAL sync is safe with WAL.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::init(conn, Some(path))
    }

    /// A store that lives in memory only (tests, `tsad detect`).
    ///
    /// # Errors
    ///
    /// [`StorageError::Sqlite`] when SQLite cannot start.
    pub fn open_in_memory() -> Result<Self, StorageError> {
        Self::init(Connection::open_in_memory()?, None)
    }

    /// The database file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn init(mut conn: Connection, path: Option<PathBuf>) -> Result<Self, StorageError> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        mark_interrupted(&conn)?;
        Ok(SqliteStorage {
            conn: Mutex::new(conn),
            path,
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (each call is one
        // statement or one transaction), so a poisoned lock is still safe to use.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StorageError::corrupt(format!(
            "the database has schema version {version} but this tsad knows only up to {known}; \
             use a newer tsad or another data directory"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

fn mark_interrupted(conn: &Connection) -> Result<(), StorageError> {
    let error = serde_json::to_string(&RunError {
        code: INTERRUPTED_CODE.into(),
        message: INTERRUPTED_MESSAGE.into(),
    })
    .map_err(|e| StorageError::corrupt(e.to_string()))?;
    conn.execute(
        "UPDATE runs SET status = 'failed', error = ?1, progress = NULL, finished_at = ?2
         WHERE status IN ('queued', 'running')",
        params![error, now_ms()],
    )?;
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn to_json(v: &impl serde::Serialize) -> Result<String, StorageError> {
    serde_json::to_string(v).map_err(|e| StorageError::InvalidRecord {
        reason: e.to_string(),
    })
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T, StorageError> {
    serde_json::from_str(s).map_err(|e| StorageError::corrupt(format!("{what}: {e}")))
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

const DATASET_COLS: &str = "id, name, created_at, size_bytes, rows, meta";

fn dataset_from_row(row: &Row<'_>) -> rusqlite::Result<(DatasetRecord, String)> {
    Ok((
        DatasetRecord {
            id: row.get(0)?,
            name: row.get(1)?,
            created_at: row.get(2)?,
            size_bytes: row.get::<_, i64>(3)? as u64,
            rows: row.get::<_, i64>(4)? as u64,
            meta: Value::Null,
        },
        row.get(5)?,
    ))
}

const RUN_COLS: &str = "id, dataset_id, spec, preset, threshold, events_options, time_column, \
    value_column, status, progress, summary, error, fit_seconds, score_seconds, created_at, \
    started_at, finished_at, training, fleet, parent_id, series, name";

/// The raw columns of a run row; decoded outside rusqlite's closure so JSON errors surface as
/// [`StorageError::Corrupt`].
struct RawRun {
    id: String,
    dataset_id: String,
    spec: String,
    preset: Option<String>,
    threshold: String,
    events_options: String,
    time_column: String,
    value_column: String,
    status: String,
    progress: Option<String>,
    summary: Option<String>,
    error: Option<String>,
    fit_seconds: Option<f64>,
    score_seconds: Option<f64>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    training: Option<String>,
    fleet: Option<String>,
    parent_id: Option<String>,
    series: Option<String>,
    name: Option<String>,
}

fn raw_run(row: &Row<'_>) -> rusqlite::Result<RawRun> {
    Ok(RawRun {
        id: row.get(0)?,
        dataset_id: row.get(1)?,
        spec: row.get(2)?,
        preset: row.get(3)?,
        threshold: row.get(4)?,
        events_options: row.get(5)?,
        time_column: row.get(6)?,
        value_column: row.get(7)?,
        status: row.get(8)?,
        progress: row.get(9)?,
        summary: row.get(10)?,
        error: row.get(11)?,
        fit_seconds: row.get(12)?,
        score_seconds: row.get(13)?,
        created_at: row.get(14)?,
        started_at: row.get(15)?,
        finished_at: row.get(16)?,
        training: row.get(17)?,
        fleet: row.get(18)?,
        parent_id: row.get(19)?,
        series: row.get(20)?,
        name: row.get(21)?,
    })
}

impl RawRun {
    fn decode(self) -> Result<RunRecord, StorageError> {
        let opt = |s: Option<String>, what: &str| -> Result<Option<Value>, StorageError> {
            s.map(|s| from_json(&s, what)).transpose()
        };
        Ok(RunRecord {
            spec: from_json(&self.spec, "run spec")?,
            preset: self.preset,
            threshold: from_json(&self.threshold, "run threshold")?,
            events_options: from_json(&self.events_options, "run event options")?,
            time_column: from_json(&self.time_column, "run time column")?,
            value_column: from_json(&self.value_column, "run value column")?,
            status: self.status.parse()?,
            progress: opt(self.progress, "run progress")?,
            summary: opt(self.summary, "run summary")?,
            training: opt(self.training, "run training")?,
            fleet: opt(self.fleet, "run fleet")?,
            parent_id: self.parent_id,
            series: self.series,
            name: self.name,
            error: self.error.map(|s| from_json(&s, "run error")).transpose()?,
            fit_seconds: self.fit_seconds,
            score_seconds: self.score_seconds,
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            id: self.id,
            dataset_id: self.dataset_id,
        })
    }
}

fn write_run(conn: &Connection, run: &RunRecord) -> Result<usize, StorageError> {
    let opt = |v: &Option<Value>| v.as_ref().map(to_json).transpose();
    Ok(conn.execute(
        "UPDATE runs SET spec = ?2, preset = ?3, threshold = ?4, events_options = ?5,
            time_column = ?6, value_column = ?7, status = ?8, progress = ?9, summary = ?10,
            error = ?11, fit_seconds = ?12, score_seconds = ?13, started_at = ?14,
            finished_at = ?15, training = ?16, fleet = ?17, name = ?18
         WHERE id = ?1",
        params![
            run.id,
            to_json(&run.spec)?,
            run.preset,
            to_json(&run.threshold)?,
            to_json(&run.events_options)?,
            to_json(&run.time_column)?,
            to_json(&run.value_column)?,
            run.status.as_str(),
            opt(&run.progress)?,
            opt(&run.summary)?,
            run.error.as_ref().map(to_json).transpose()?,
            run.fit_seconds,
            run.score_seconds,
            run.started_at,
            run.finished_at,
            opt(&run.training)?,
            opt(&run.fleet)?,
            run.name,
        ],
    )?)
}

/// Inserts a new run row (its dataset checked by the caller).
fn insert_run(conn: &Connection, run: &RunRecord) -> Result<(), StorageError> {
    conn.execute(
        "INSERT INTO runs (id, dataset_id, spec, threshold, events_options, time_column,
            value_column, status, created_at, parent_id, series)
         VALUES (?1, ?2, 'null', 'null', 'null', 'null', 'null', 'queued', ?3, ?4, ?5)",
        params![
            run.id,
            run.dataset_id,
            run.created_at,
            run.parent_id,
            run.series
        ],
    )
    .map_err(|e| {
        if is_constraint(&e) {
            StorageError::Conflict {
                reason: format!("run id `{}` is taken", run.id),
            }
        } else {
            e.into()
        }
    })?;
    write_run(conn, run)?;
    Ok(())
}

fn run_status(conn: &Connection, id: &str) -> Result<RunStatus, StorageError> {
    let status: Option<String> = conn
        .query_row("SELECT status FROM runs WHERE id = ?1", [id], |r| r.get(0))
        .optional()?;
    status
        .ok_or_else(|| StorageError::not_found("run", id))?
        .parse()
}

const MARK_COLS: &str = "id, dataset_id, series, start_time, end_time, verdict, comment, run_id, created_at, updated_at";

fn mark_from_row(row: &Row<'_>) -> rusqlite::Result<MarkRecord> {
    Ok(MarkRecord {
        id: row.get(0)?,
        dataset_id: row.get(1)?,
        series: row.get(2)?,
        start_time: row.get(3)?,
        end_time: row.get(4)?,
        verdict: row.get(5)?,
        comment: row.get(6)?,
        run_id: row.get(7)?,
        created_at: row.get(8)?,
        updated_at: row.get(9)?,
    })
}

const MODEL_COLS: &str = "id, name, dataset_id, run_id, spec, meta, size_bytes, created_at";

fn raw_model(row: &Row<'_>) -> rusqlite::Result<(ModelRecord, String, String)> {
    Ok((
        ModelRecord {
            id: row.get(0)?,
            name: row.get(1)?,
            dataset_id: row.get(2)?,
            run_id: row.get(3)?,
            spec: Value::Null,
            meta: Value::Null,
            size_bytes: row.get::<_, i64>(6)? as u64,
            created_at: row.get(7)?,
        },
        row.get(4)?,
        row.get(5)?,
    ))
}

fn decode_model(raw: (ModelRecord, String, String)) -> Result<ModelRecord, StorageError> {
    let (mut m, spec, meta) = raw;
    m.spec = from_json(&spec, "model spec")?;
    m.meta = from_json(&meta, "model meta")?;
    Ok(m)
}

fn exists(conn: &Connection, table: &str, id: &str) -> Result<bool, StorageError> {
    Ok(conn
        .query_row(
            &format!("SELECT 1 FROM {table} WHERE id = ?1"),
            [id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn nan_to_null(x: f64) -> Option<f64> {
    (!x.is_nan()).then_some(x)
}

fn write_result(conn: &Connection, run_id: &str, r: &RunResult) -> Result<(), StorageError> {
    r.validate()?;
    let names: Vec<(&str, &str)> = r
        .members
        .iter()
        .map(|m| (m.name.as_str(), m.kind.as_str()))
        .collect();
    let member_scores: Vec<f64> = r
        .members
        .iter()
        .flat_map(|m| m.normalized.iter().copied())
        .collect();
    conn.execute(
        "INSERT OR REPLACE INTO results (run_id, points, time_axis, timestamps, vals, score,
            expected, lower, upper, labels, members, member_scores, report, rarity)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            run_id,
            r.len() as i64,
            r.time_axis,
            encode_i64(&r.timestamps),
            encode_f64(&r.values),
            encode_f64(&r.score),
            r.expected.as_deref().map(encode_f64),
            r.lower.as_deref().map(encode_f64),
            r.upper.as_deref().map(encode_f64),
            r.labels.as_deref().map(encode_f64),
            to_json(&names)?,
            encode_f64(&member_scores),
            to_json(&r.report)?,
            r.rarity.as_deref().map(encode_f64),
        ],
    )?;
    conn.execute(
        "INSERT OR REPLACE INTO result_cuts (run_id, flags, threshold_value, events)
         VALUES (?1, ?2, ?3, ?4)",
        params![
            run_id,
            encode_flags(&r.flags),
            nan_to_null(r.threshold_value),
            to_json(&r.events)?,
        ],
    )?;
    Ok(())
}

impl Storage for SqliteStorage {
    fn create_dataset(&self, d: &DatasetRecord, raw: &[u8]) -> Result<(), StorageError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO datasets (id, name, created_at, size_bytes, rows, meta, raw)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                d.id,
                d.name,
                d.created_at,
                d.size_bytes as i64,
                d.rows as i64,
                to_json(&d.meta)?,
                raw
            ],
        )
        .map_err(|e| {
            if is_constraint(&e) {
                StorageError::Conflict {
                    reason: format!("dataset id `{}` is taken", d.id),
                }
            } else {
                e.into()
            }
        })?;
        Ok(())
    }

    fn dataset(&self, id: &str) -> Result<DatasetRecord, StorageError> {
        let conn = self.conn();
        let found = conn
            .query_row(
                &format!("SELECT {DATASET_COLS} FROM datasets WHERE id = ?1"),
                [id],
                dataset_from_row,
            )
            .optional()?;
        let (mut d, meta) = found.ok_or_else(|| StorageError::not_found("dataset", id))?;
        d.meta = from_json(&meta, "dataset meta")?;
        Ok(d)
    }

    fn dataset_bytes(&self, id: &str) -> Result<Vec<u8>, StorageError> {
        let conn = self.conn();
        conn.query_row("SELECT raw FROM datasets WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StorageError::not_found("dataset", id))
    }

    fn list_datasets(&self) -> Result<Vec<DatasetSummary>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT d.id, d.name, d.created_at, d.rows, d.size_bytes,
                    (SELECT COUNT(*) FROM runs r WHERE r.dataset_id = d.id AND r.parent_id IS NULL)
             FROM datasets d ORDER BY d.created_at DESC, d.rowid DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(DatasetSummary {
                id: r.get(0)?,
                name: r.get(1)?,
                created_at: r.get(2)?,
                rows: r.get::<_, i64>(3)? as u64,
                size_bytes: r.get::<_, i64>(4)? as u64,
                run_count: r.get::<_, i64>(5)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn rename_dataset(&self, id: &str, name: &str) -> Result<(), StorageError> {
        let conn = self.conn();
        match conn.execute(
            "UPDATE datasets SET name = ?2 WHERE id = ?1",
            params![id, name],
        )? {
            0 => Err(StorageError::not_found("dataset", id)),
            _ => Ok(()),
        }
    }

    fn delete_dataset(&self, id: &str) -> Result<(), StorageError> {
        let conn = self.conn();
        match conn.execute("DELETE FROM datasets WHERE id = ?1", [id])? {
            0 => Err(StorageError::not_found("dataset", id)),
            _ => Ok(()),
        }
    }

    fn create_run(&self, run: &RunRecord) -> Result<(), StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let dataset_exists: bool = tx
            .query_row(
                "SELECT 1 FROM datasets WHERE id = ?1",
                [&run.dataset_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !dataset_exists {
            return Err(StorageError::not_found("dataset", &run.dataset_id));
        }
        insert_run(&tx, run)?;
        tx.commit()?;
        Ok(())
    }

    fn run(&self, id: &str) -> Result<RunRecord, StorageError> {
        let conn = self.conn();
        conn.query_row(
            &format!("SELECT {RUN_COLS} FROM runs WHERE id = ?1"),
            [id],
            raw_run,
        )
        .optional()?
        .ok_or_else(|| StorageError::not_found("run", id))?
        .decode()
    }

    fn list_runs(&self, dataset_id: Option<&str>) -> Result<Vec<RunRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {RUN_COLS} FROM runs WHERE parent_id IS NULL AND (?1 IS NULL OR dataset_id = ?1)
             ORDER BY created_at DESC, rowid DESC"
        ))?;
        let raws = stmt
            .query_map([dataset_id], raw_run)?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter().map(RawRun::decode).collect()
    }

    fn series_runs(&self, parent_id: &str) -> Result<Vec<RunRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {RUN_COLS} FROM runs WHERE parent_id = ?1 ORDER BY rowid"
        ))?;
        let raws = stmt
            .query_map([parent_id], raw_run)?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter().map(RawRun::decode).collect()
    }

    fn add_series_runs(
        &self,
        parent_id: &str,
        runs: &[(RunRecord, Option<RunResult>)],
    ) -> Result<(), StorageError> {
        for (run, result) in runs {
            if run.parent_id.as_deref() != Some(parent_id) {
                return Err(StorageError::InvalidRecord {
                    reason: format!("run `{}` is not a series of run `{parent_id}`", run.id),
                });
            }
            if let Some(r) = result {
                r.validate()?;
            }
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        run_status(&tx, parent_id)?;
        for (run, result) in runs {
            insert_run(&tx, run)?;
            if let Some(r) = result {
                write_result(&tx, &run.id, r)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn update_run(&self, run: &RunRecord) -> Result<(), StorageError> {
        let conn = self.conn();
        match write_run(&conn, run)? {
            0 => Err(StorageError::not_found("run", &run.id)),
            _ => Ok(()),
        }
    }

    fn transition_run(
        &self,
        run: &RunRecord,
        from: &[RunStatus],
        result: Option<&RunResult>,
    ) -> Result<bool, StorageError> {
        if let Some(r) = result {
            r.validate()?;
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if !from.contains(&run_status(&tx, &run.id)?) {
            return Ok(false);
        }
        write_run(&tx, run)?;
        if let Some(r) = result {
            write_result(&tx, &run.id, r)?;
        }
        tx.commit()?;
        Ok(true)
    }

    fn set_run_progress(&self, id: &str, progress: &Value) -> Result<(), StorageError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE runs SET progress = ?2 WHERE id = ?1 AND status = 'running'",
            params![id, to_json(progress)?],
        )?;
        Ok(())
    }

    fn delete_run(&self, id: &str) -> Result<(), StorageError> {
        let conn = self.conn();
        match conn.execute("DELETE FROM runs WHERE id = ?1", [id])? {
            0 => Err(StorageError::not_found("run", id)),
            _ => Ok(()),
        }
    }

    fn put_result(&self, run_id: &str, result: &RunResult) -> Result<(), StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        run_status(&tx, run_id)?;
        write_result(&tx, run_id, result)?;
        tx.commit()?;
        Ok(())
    }

    fn result(&self, run_id: &str) -> Result<RunResult, StorageError> {
        type Raw = (
            String,
            Vec<u8>,
            Vec<u8>,
            Vec<u8>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            Vec<u8>,
            Option<Vec<u8>>,
            String,
            Vec<u8>,
            Option<f64>,
            String,
            String,
            Option<Vec<u8>>,
        );
        let conn = self.conn();
        let raw: Option<Raw> = conn
            .query_row(
                "SELECT r.time_axis, r.timestamps, r.vals, r.score, r.expected, r.lower, r.upper,
                    c.flags, r.labels, r.members, r.member_scores, c.threshold_value, c.events,
                    r.report, r.rarity
                 FROM results r JOIN result_cuts c ON c.run_id = r.run_id
                 WHERE r.run_id = ?1",
                [run_id],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                        r.get(9)?,
                        r.get(10)?,
                        r.get(11)?,
                        r.get(12)?,
                        r.get(13)?,
                        r.get(14)?,
                    ))
                },
            )
            .optional()?;
        drop(conn);
        let (
            axis,
            ts,
            vals,
            score,
            exp,
            lo,
            up,
            flags,
            labels,
            names,
            ms,
            thr,
            events,
            report,
            rarity,
        ) = raw.ok_or_else(|| StorageError::not_found("result", run_id))?;
        let opt = |b: Option<Vec<u8>>, what: &str| b.map(|b| decode_f64(&b, what)).transpose();
        let timestamps = decode_i64(&ts, "timestamps")?;
        let n = timestamps.len();
        let names: Vec<(String, String)> = from_json(&names, "result members")?;
        let member_scores = decode_f64(&ms, "member_scores")?;
        if member_scores.len() != names.len() * n {
            return Err(StorageError::corrupt(format!(
                "{} member scores for {} members of {n} points",
                member_scores.len(),
                names.len()
            )));
        }
        let members = names
            .into_iter()
            .enumerate()
            .map(|(i, (name, kind))| MemberColumn {
                name,
                kind,
                normalized: member_scores[i * n..(i + 1) * n].to_vec(),
            })
            .collect();
        let result = RunResult {
            time_axis: axis,
            timestamps,
            values: decode_f64(&vals, "values")?,
            score: decode_f64(&score, "score")?,
            rarity: opt(rarity, "rarity")?,
            expected: opt(exp, "expected")?,
            lower: opt(lo, "lower")?,
            upper: opt(up, "upper")?,
            flags: decode_flags(&flags, "flags")?,
            labels: opt(labels, "labels")?,
            members,
            threshold_value: thr.unwrap_or(f64::NAN),
            events: from_json(&events, "result events")?,
            report: from_json(&report, "result report")?,
        };
        result
            .validate()
            .map_err(|e| StorageError::corrupt(e.to_string()))?;
        Ok(result)
    }

    fn update_threshold(&self, run_id: &str, u: &ThresholdUpdate) -> Result<(), StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let points: Option<i64> = tx
            .query_row(
                "SELECT points FROM results WHERE run_id = ?1",
                [run_id],
                |r| r.get(0),
            )
            .optional()?;
        let points = points.ok_or_else(|| StorageError::not_found("result", run_id))?;
        if u.flags.len() as i64 != points {
            return Err(StorageError::InvalidRecord {
                reason: format!("{} flags for {points} points", u.flags.len()),
            });
        }
        tx.execute(
            "UPDATE result_cuts SET flags = ?2, events = ?3, threshold_value = ?4
             WHERE run_id = ?1",
            params![
                run_id,
                encode_flags(&u.flags),
                to_json(&u.events)?,
                nan_to_null(u.threshold_value)
            ],
        )?;
        tx.execute(
            "UPDATE runs SET threshold = ?2, events_options = ?3, summary = ?4 WHERE id = ?1",
            params![
                run_id,
                to_json(&u.threshold)?,
                to_json(&u.events_options)?,
                u.summary.as_ref().map(to_json).transpose()?
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn add_chat_message(&self, m: &ChatMessage) -> Result<(), StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        run_status(&tx, &m.run_id)?;
        tx.execute(
            "INSERT INTO chat_messages (run_id, role, content, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![m.run_id, m.role, m.content, m.created_at],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn chat_messages(&self, run_id: &str) -> Result<Vec<ChatMessage>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT run_id, role, content, created_at FROM chat_messages
             WHERE run_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([run_id], |r| {
            Ok(ChatMessage {
                run_id: r.get(0)?,
                role: r.get(1)?,
                content: r.get(2)?,
                created_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn create_mark(&self, m: &MarkRecord) -> Result<(), StorageError> {
        let conn = self.conn();
        if !exists(&conn, "datasets", &m.dataset_id)? {
            return Err(StorageError::not_found("dataset", &m.dataset_id));
        }
        let run_id = match &m.run_id {
            Some(id) if exists(&conn, "runs", id)? => Some(id.clone()),
            _ => None,
        };
        conn.execute(
            &format!(
                "INSERT INTO marks ({MARK_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ),
            params![
                m.id,
                m.dataset_id,
                m.series,
                m.start_time,
                m.end_time,
                m.verdict,
                m.comment,
                run_id,
                m.created_at,
                m.updated_at
            ],
        )
        .map_err(|e| {
            if is_constraint(&e) {
                StorageError::Conflict {
                    reason: format!("mark id `{}` is taken", m.id),
                }
            } else {
                e.into()
            }
        })?;
        Ok(())
    }

    fn mark(&self, id: &str) -> Result<MarkRecord, StorageError> {
        let conn = self.conn();
        conn.query_row(
            &format!("SELECT {MARK_COLS} FROM marks WHERE id = ?1"),
            [id],
            mark_from_row,
        )
        .optional()?
        .ok_or_else(|| StorageError::not_found("mark", id))
    }

    fn marks(&self, dataset_id: &str) -> Result<Vec<MarkRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {MARK_COLS} FROM marks WHERE dataset_id = ?1 ORDER BY start_time, rowid"
        ))?;
        let marks = stmt
            .query_map([dataset_id], mark_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(marks)
    }

    fn update_mark(&self, m: &MarkRecord) -> Result<(), StorageError> {
        let conn = self.conn();
        match conn.execute(
            "UPDATE marks SET verdict = ?2, comment = ?3, updated_at = ?4 WHERE id = ?1",
            params![m.id, m.verdict, m.comment, m.updated_at],
        )? {
            0 => Err(StorageError::not_found("mark", &m.id)),
            _ => Ok(()),
        }
    }

    fn delete_mark(&self, id: &str) -> Result<(), StorageError> {
        let conn = self.conn();
        match conn.execute("DELETE FROM marks WHERE id = ?1", [id])? {
            0 => Err(StorageError::not_found("mark", id)),
            _ => Ok(()),
        }
    }

    fn create_model(&self, m: &ModelRecord, bytes: &[u8]) -> Result<(), StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        // A dataset or run deleted meanwhile leaves the model on its own, as a later delete
        // would.
        let mut dataset_id = m.dataset_id.clone();
        if let Some(id) = &dataset_id
            && !exists(&tx, "datasets", id)?
        {
            dataset_id = None;
        }
        let mut run_id = m.run_id.clone();
        if let Some(id) = &run_id
            && !exists(&tx, "runs", id)?
        {
            run_id = None;
        }
        tx.execute(
            "INSERT INTO models (id, name, dataset_id, run_id, spec, meta, size_bytes,
                created_at, bytes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                m.id,
                m.name,
                dataset_id,
                run_id,
                to_json(&m.spec)?,
                to_json(&m.meta)?,
                bytes.len() as i64,
                m.created_at,
                bytes
            ],
        )
        .map_err(|e| {
            if is_constraint(&e) {
                StorageError::Conflict {
                    reason: format!("model id `{}` is taken", m.id),
                }
            } else {
                e.into()
            }
        })?;
        tx.commit()?;
        Ok(())
    }

    fn model(&self, id: &str) -> Result<ModelRecord, StorageError> {
        let conn = self.conn();
        let raw = conn
            .query_row(
                &format!("SELECT {MODEL_COLS} FROM models WHERE id = ?1"),
                [id],
                raw_model,
            )
            .optional()?
            .ok_or_else(|| StorageError::not_found("model", id))?;
        decode_model(raw)
    }

    fn model_bytes(&self, id: &str) -> Result<Vec<u8>, StorageError> {
        let conn = self.conn();
        conn.query_row("SELECT bytes FROM models WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StorageError::not_found("model", id))
    }

    fn list_models(&self) -> Result<Vec<ModelRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {MODEL_COLS} FROM models ORDER BY created_at DESC, rowid DESC"
        ))?;
        let raws = stmt
            .query_map([], raw_model)?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter().map(decode_model).collect()
    }

    fn delete_model(&self, id: &str) -> Result<(), StorageError> {
        let conn = self.conn();
        match conn.execute("DELETE FROM models WHERE id = ?1", [id])? {
            0 => Err(StorageError::not_found("model", id)),
            _ => Ok(()),
        }
    }
}
