//! Background runs: at most `max_jobs` execute at once on the blocking pool (a semaphore), up to
//! `max_queue` more wait, and each live run has a cancel flag and a progress channel for SSE.

use crate::error::{ApiError, core_code};
use crate::state::AppState;
use crate::training::{self, TrainChoice, TrainingData};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore, watch};
use tsad_core::{CancelFlag, EventOptions, FitContext, Progress, Series, Threshold};
use tsad_engine::{Detection, DetectorSpec, EngineError, Training};
use tsad_io::{ColumnRef, IngestOptions, Ingested, SeriesLayout};
use tsad_store::{
    INTERRUPTED_CODE, INTERRUPTED_MESSAGE, MemberColumn, RunError, RunRecord, RunResult, RunStatus,
    Storage, StorageError,
};

/// Progress is written to the store at most this often (the SSE channel gets every update).
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Which time column a run asked for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TimeChoice {
    /// Let ingest detect it.
    Detect,
    /// No time column: the row index is the time axis.
    RowIndex,
    /// This column.
    Column(ColumnRef),
}

/// Everything a queued run needs to execute.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) run_id: String,
    pub(crate) dataset_id: String,
    pub(crate) spec: DetectorSpec,
    pub(crate) threshold: Threshold,
    pub(crate) events: EventOptions,
    pub(crate) time_column: TimeChoice,
    pub(crate) value_column: Option<ColumnRef>,
    /// What to fit on (or the stored model to score with).
    pub(crate) training: TrainChoice,
    /// Store the fitted model once the detection succeeded.
    pub(crate) save_model: bool,
    /// One series, or many (each stored as a series run, see [`crate::fleet`]).
    pub(crate) series: SeriesLayout,
}

/// A run that is queued or running.
#[derive(Clone)]
pub(crate) struct Live {
    dataset_id: String,
    pub(crate) cancel: CancelFlag,
    wake: Arc<Notify>,
    progress: Arc<watch::Sender<Option<Progress>>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    queued: usize,
    running: usize,
}

/// The job manager.
pub(crate) struct Jobs {
    semaphore: Arc<Semaphore>,
    capacity: usize,
    /// Synchronous `/api/v1/detect` requests computing at once (`max_jobs` of them)...
    detect: Arc<Semaphore>,
    /// ...and those computing or waiting; beyond `max_jobs + max_queue` they get 429.
    detect_in_flight: Arc<AtomicUsize>,
    counts: Mutex<Counts>,
    live: Mutex<HashMap<String, Live>>,
    shutting_down: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is a few field updates that cannot panic half way.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Jobs {
    pub(crate) fn new(max_jobs: usize, max_queue: usize) -> Self {
        Jobs {
            semaphore: Arc::new(Semaphore::new(max_jobs)),
            capacity: max_jobs + max_queue,
            // At least one, so a server that queues runs without starting them (tests) still
            // answers detect requests.
            detect: Arc::new(Semaphore::new(max_jobs.max(1))),
            detect_in_flight: Arc::new(AtomicUsize::new(0)),
            counts: Mutex::new(Counts::default()),
            live: Mutex::new(HashMap::new()),
            shutting_down: AtomicBool::new(false),
        }
    }

    /// (running, queued).
    pub(crate) fn counts(&self) -> (usize, usize) {
        let c = *lock(&self.counts);
        (c.running, c.queued)
    }

    /// Takes a queue slot, or fails with 429 when every slot is taken.
    pub(crate) fn reserve(&self) -> Result<(), ApiError> {
        if self.shutting_down.load(Ordering::Relaxed) {
            return Err(ApiError::too_many_jobs(
                "the server is shutting down; start the run again once it is back",
            ));
        }
        let mut c = lock(&self.counts);
        if c.queued + c.running >= self.capacity {
            return Err(ApiError::too_many_jobs(format!(
                "the run queue is full ({} running, {} queued); wait for a run to finish or \
                 cancel one",
                c.running, c.queued
            )));
        }
        c.queued += 1;
        Ok(())
    }

    /// Waits for a slot to compute a synchronous detection, or fails with 429 at once when
    /// `max_jobs` detections compute and `max_queue` more wait. The slot is held until the
    /// returned value is dropped (by the blocking task, so a cancelled request keeps it until
    /// its computation has really stopped).
    pub(crate) async fn detect_slot(&self) -> Result<DetectSlot, ApiError> {
        let capacity = self.capacity.max(1);
        let taken = self
            .detect_in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < capacity).then_some(n + 1)
            });
        if let Err(n) = taken {
            return Err(ApiError::too_many_jobs(format!(
                "{n} detections are computing or waiting, the server's limit; retry shortly, \
                 or start a run (POST /api/v1/runs) for long work"
            )));
        }
        let mut slot = DetectSlot {
            permit: None,
            in_flight: self.detect_in_flight.clone(),
        };
        // The semaphore is never closed; `ok()` only guards that invariant.
        slot.permit = self.detect.clone().acquire_owned().await.ok();
        Ok(slot)
    }

    /// Detections computing or waiting for a slot.
    pub(crate) fn detect_in_flight(&self) -> usize {
        self.detect_in_flight.load(Ordering::Acquire)
    }

    /// Gives back a slot taken by [`Jobs::reserve`] when the run could not be created.
    pub(crate) fn unreserve(&self) {
        let mut c = lock(&self.counts);
        c.queued = c.queued.saturating_sub(1);
    }

    /// The progress channel of a live run; `None` once it finished (or was never live here).
    pub(crate) fn subscribe(&self, run_id: &str) -> Option<watch::Receiver<Option<Progress>>> {
        lock(&self.live).get(run_id).map(|l| l.progress.subscribe())
    }

    /// Asks a live run to stop. Returns false when it is not live.
    pub(crate) fn cancel(&self, run_id: &str) -> bool {
        match lock(&self.live).get(run_id) {
            Some(l) => {
                l.cancel.cancel();
                l.wake.notify_one();
                true
            }
            None => false,
        }
    }

    /// Asks every live run of a dataset to stop (the dataset is being deleted).
    pub(crate) fn cancel_dataset(&self, dataset_id: &str) {
        for l in lock(&self.live)
            .values()
            .filter(|l| l.dataset_id == dataset_id)
        {
            l.cancel.cancel();
            l.wake.notify_one();
        }
    }

    pub(crate) fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
        for l in lock(&self.live).values() {
            l.cancel.cancel();
            l.wake.notify_one();
        }
    }

    fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }
}

/// A synchronous detection's slot (see [`Jobs::detect_slot`]); dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct DetectSlot {
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    in_flight: Arc<AtomicUsize>,
}

impl Drop for DetectSlot {
    fn drop(&mut self) {
        self.permit.take();
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// At shutdown: records every run still live as failed with the interruption message.
/// Returns how many were recorded.
pub(crate) async fn record_interrupted(state: &AppState) -> usize {
    let ids: Vec<String> = lock(&state.jobs().live).keys().cloned().collect();
    let store = state.store().clone();
    tokio::task::spawn_blocking(move || {
        ids.iter()
            .filter(|id| finish_failed(store.as_ref(), id, &Failure::interrupted(), true).is_some())
            .count()
    })
    .await
    .unwrap_or(0)
}

/// Starts a run whose slot was reserved and whose record is stored as `queued`.
pub(crate) fn start(state: &AppState, job: Job) {
    let (tx, _) = watch::channel(None);
    let live = Live {
        dataset_id: job.dataset_id.clone(),
        cancel: CancelFlag::new(),
        wake: Arc::new(Notify::new()),
        progress: Arc::new(tx),
    };
    lock(&state.jobs().live).insert(job.run_id.clone(), live.clone());
    tokio::spawn(run_job(state.clone(), job, live));
}

async fn run_job(state: AppState, job: Job, live: Live) {
    let jobs = state.jobs();
    let permit = tokio::select! {
        permit = jobs.semaphore.clone().acquire_owned() => permit.ok(),
        () = live.wake.notified() => None,
    };
    {
        let mut c = lock(&jobs.counts);
        c.queued = c.queued.saturating_sub(1);
        if permit.is_some() {
            c.running += 1;
        }
    }
    let started = Instant::now();
    let status = if permit.is_some() && !live.cancel.is_cancelled() {
        let st = state.clone();
        let (j, l) = (job.clone(), live.clone());
        match tokio::task::spawn_blocking(move || execute(&st, &j, &l)).await {
            Ok(status) => status,
            Err(e) => {
                tracing::error!(run_id = %job.run_id, error = %e, "Run task panicked");
                let failure = Failure::internal(format!("run task failed: {e}"));
                let down = jobs.is_shutting_down();
                finish_failed(state.store().as_ref(), &job.run_id, &failure, down)
            }
        }
    } else {
        // Cancelled (or shutting down) while queued. The cancel handler already recorded
        // `cancelled`; a shutdown records the interruption here.
        if jobs.is_shutting_down() {
            let store = state.store().clone();
            let id = job.run_id.clone();
            let _ = tokio::task::spawn_blocking(move || {
                finish_failed(store.as_ref(), &id, &Failure::interrupted(), true)
            })
            .await;
        }
        None
    };
    let ran = permit.is_some();
    if ran {
        let mut c = lock(&jobs.counts);
        c.running = c.running.saturating_sub(1);
    }
    drop(permit);
    // A run stopped by a cancel request was recorded by the handler, not here.
    let status = status.or_else(|| {
        (ran && live.cancel.is_cancelled() && !jobs.is_shutting_down())
            .then_some(RunStatus::Cancelled)
    });
    if let Some(status) = status {
        state
            .metrics()
            .record_run(status.as_str(), started.elapsed().as_secs_f64());
    }
    // Dropping the last sender ends the SSE streams, which then read the final run.
    lock(&jobs.live).remove(&job.run_id);
}

/// Why a run failed, as stored on the run.
#[derive(Debug)]
pub(crate) struct Failure {
    code: &'static str,
    message: String,
}

impl Failure {
    fn internal(cause: String) -> Self {
        tracing::error!(cause = %cause, "Run failed on an internal error");
        Failure {
            code: "internal",
            message: "internal error; the cause is in the server log".into(),
        }
    }

    fn interrupted() -> Self {
        Failure {
            code: INTERRUPTED_CODE,
            message: INTERRUPTED_MESSAGE.into(),
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.code == "cancelled"
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn into_run_error(self) -> RunError {
        RunError {
            code: self.code.into(),
            message: self.message,
        }
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        match e.code() {
            "internal" => Failure::internal(e.to_string()),
            code => Failure {
                code,
                message: e.to_string(),
            },
        }
    }
}

impl From<tsad_io::IngestError> for Failure {
    fn from(e: tsad_io::IngestError) -> Self {
        Failure {
            code: "invalid_csv",
            message: e.to_string(),
        }
    }
}

impl From<tsad_core::Error> for Failure {
    fn from(e: tsad_core::Error) -> Self {
        match core_code(&e) {
            "internal" => Failure::internal(e.to_string()),
            code => Failure {
                code,
                message: e.to_string(),
            },
        }
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        match e.code() {
            "internal" => Failure::internal(e.to_string()),
            code => Failure {
                code,
                message: e.message().to_owned(),
            },
        }
    }
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        match e {
            // The dataset or run was deleted while the run was in flight: not our fault.
            StorageError::NotFound { .. } => Failure {
                code: "not_found",
                message: e.to_string(),
            },
            other => Failure::internal(other.to_string()),
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Records a failure (or the interruption) on a run that is still queued or running.
fn finish_failed(
    store: &dyn Storage,
    run_id: &str,
    failure: &Failure,
    shutting_down: bool,
) -> Option<RunStatus> {
    let mut run = store.run(run_id).ok()?;
    let (status, error) = if failure.is_cancelled() && shutting_down {
        let f = Failure::interrupted();
        (RunStatus::Failed, Some((f.code, f.message)))
    } else if failure.is_cancelled() {
        (RunStatus::Cancelled, None)
    } else {
        (
            RunStatus::Failed,
            Some((failure.code, failure.message.clone())),
        )
    };
    run.status = status;
    run.error = error.map(|(code, message)| RunError {
        code: code.into(),
        message,
    });
    run.progress = None;
    run.finished_at = Some(now_ms());
    match store.transition_run(&run, &[RunStatus::Queued, RunStatus::Running], None) {
        Ok(true) => Some(status),
        // Someone else (a cancel) finished it first, or it was deleted.
        Ok(false) | Err(StorageError::NotFound { .. }) => None,
        Err(e) => {
            tracing::error!(run_id, error = %e, "Cannot record a failed run");
            None
        }
    }
}

/// Executes one run on the blocking pool; returns the final status it recorded, if any.
fn execute(state: &AppState, job: &Job, live: &Live) -> Option<RunStatus> {
    let store = state.store().as_ref();
    let jobs = state.jobs();
    let span = tracing::info_span!("run", run_id = %job.run_id, kind = job.spec.kind());
    let _enter = span.enter();
    let mut run = match store.run(&job.run_id) {
        Ok(run) => run,
        Err(e) => {
            tracing::warn!(error = %e, "Queued run vanished before it started");
            return None;
        }
    };
    run.status = RunStatus::Running;
    run.started_at = Some(now_ms());
    match store.transition_run(&run, &[RunStatus::Queued], None) {
        Ok(true) => {}
        Ok(false) => return None, // cancelled while it waited
        Err(e) => {
            tracing::warn!(error = %e, "Cannot start the run");
            return None;
        }
    }
    tracing::info!("Run started");
    let down = jobs.is_shutting_down();
    if job.series.is_many() {
        return match crate::fleet::detect_fleet(state, job, live, &mut run) {
            Ok(()) => {
                run.status = RunStatus::Succeeded;
                run.progress = None;
                run.finished_at = Some(now_ms());
                match store.transition_run(&run, &[RunStatus::Running], None) {
                    Ok(true) => {
                        tracing::info!("Many-series run succeeded");
                        Some(RunStatus::Succeeded)
                    }
                    Ok(false) | Err(StorageError::NotFound { .. }) => None,
                    Err(e) => finish_failed(store, &job.run_id, &Failure::from(e), down),
                }
            }
            Err(failure) => finish_failed(store, &job.run_id, &failure, jobs.is_shutting_down()),
        };
    }
    match detect_for_run(state, job, live, &mut run) {
        Ok(result) => {
            run.status = RunStatus::Succeeded;
            run.progress = None;
            run.finished_at = Some(now_ms());
            match store.transition_run(&run, &[RunStatus::Running], Some(&result)) {
                Ok(true) => {
                    tracing::info!(points = result.len(), "Run succeeded");
                    Some(RunStatus::Succeeded)
                }
                Ok(false) | Err(StorageError::NotFound { .. }) => None,
                Err(e) => finish_failed(store, &job.run_id, &Failure::from(e), down),
            }
        }
        Err(failure) => {
            if !failure.is_cancelled() {
                tracing::info!(code = failure.code, message = %failure.message, "Run failed");
            }
            finish_failed(store, &job.run_id, &failure, jobs.is_shutting_down())
        }
    }
}

/// A dataset read with a run's columns.
pub(crate) struct RunData {
    pub(crate) dataset: tsad_store::DatasetRecord,
    pub(crate) bytes: Vec<u8>,
    pub(crate) opts: IngestOptions,
    pub(crate) ingested: Ingested,
}

/// How a run reads its dataset: the run's columns and layout, the dataset's name and decimal
/// mark.
pub(crate) fn run_ingest_options(
    dataset: &tsad_store::DatasetRecord,
    time_column: &TimeChoice,
    value_column: Option<&ColumnRef>,
    series: SeriesLayout,
) -> IngestOptions {
    let mut opts = IngestOptions {
        value_column: value_column.cloned(),
        source_name: Some(dataset.name.clone()),
        decimal: crate::routes::datasets::dataset_decimal(&dataset.meta),
        series,
        ..IngestOptions::default()
    };
    match time_column {
        TimeChoice::Detect => {}
        TimeChoice::RowIndex => opts.no_time_column = true,
        TimeChoice::Column(c) => opts.time_column = Some(c.clone()),
    }
    opts
}

/// Reads a dataset with the run's columns.
pub(crate) fn read_run_data(
    store: &dyn Storage,
    dataset_id: &str,
    time_column: &TimeChoice,
    value_column: Option<&ColumnRef>,
) -> Result<RunData, ApiError> {
    let dataset = store.dataset(dataset_id)?;
    let bytes = store.dataset_bytes(dataset_id)?;
    let opts = run_ingest_options(&dataset, time_column, value_column, SeriesLayout::Single);
    let ingested = tsad_io::read_bytes(&bytes, &opts)?;
    Ok(RunData {
        dataset,
        bytes,
        opts,
        ingested,
    })
}

/// Reads another dataset as the training part of `data`, with the same columns.
pub(crate) fn read_training_for(
    store: &dyn Storage,
    data: &Ingested,
    dataset_id: &str,
    value_column: Option<&ColumnRef>,
) -> Result<(Ingested, String), ApiError> {
    let train = training::read_training_dataset(
        store,
        dataset_id,
        value_column,
        data.time_column.as_deref(),
        data.time_column.is_none(),
        Some(&data.value_column),
    )?;
    training::check_axes(&train.0.series, &data.series, "train.dataset_id")?;
    Ok(train)
}

/// Ingests the dataset with the run's columns, detects, and builds the result. Updates `run`
/// with the resolved columns, timings, training part and summary.
fn detect_for_run(
    state: &AppState,
    job: &Job,
    live: &Live,
    run: &mut RunRecord,
) -> Result<RunResult, Failure> {
    let store = state.store().as_ref();
    let RunData {
        dataset,
        bytes,
        opts,
        ingested,
    } = read_run_data(
        store,
        &job.dataset_id,
        &job.time_column,
        job.value_column.as_ref(),
    )?;
    run.time_column = ingested
        .time_column
        .clone()
        .map_or(Value::Null, Value::from);
    run.value_column = Value::from(ingested.value_column.clone());
    let label_column = dataset.meta.get("label_column").and_then(Value::as_str);
    let labels = match label_column {
        Some(label) if label != ingested.value_column => {
            read_labels(&bytes, &opts, &ingested, label)
        }
        _ => None,
    };
    let series = &ingested.series;

    let progress = progress_callback(state.store().clone(), &job.run_id, live, PROGRESS_EVERY);
    let ctx = FitContext::new()
        .with_progress(progress)
        .with_cancel(live.cancel.clone());
    ctx.check_cancelled()?;
    if !matches!(job.training, TrainChoice::Model { .. }) {
        training::check_series_length(&job.spec, series)?;
    }
    let mut train_data: Option<(Ingested, String)> = None;
    let detection = match &job.training {
        TrainChoice::Same => {
            tsad_engine::detect(series, &job.spec, &job.threshold, &job.events, &ctx)?
        }
        TrainChoice::Prefix { rows, .. } => tsad_engine::detect_with(
            series,
            Training::Prefix(*rows),
            &job.spec,
            &job.threshold,
            &job.events,
            &ctx,
        )?,
        TrainChoice::Dataset {
            dataset_id,
            value_column,
        } => {
            let train = read_training_for(store, &ingested, dataset_id, value_column.as_ref())?;
            let detection = tsad_engine::detect_with(
                series,
                Training::Separate(&train.0.series),
                &job.spec,
                &job.threshold,
                &job.events,
                &ctx,
            )?;
            train_data = Some(train);
            detection
        }
        TrainChoice::Model { model_id } => {
            let (_, fitted) = training::load_model(store, model_id)?;
            tsad_engine::detect_fitted(series, &fitted, &job.threshold, &job.events)?
        }
    };
    run.fit_seconds = Some(detection.fit_seconds);
    run.score_seconds = Some(detection.score_seconds);
    let result = build_result(series, &detection, labels);
    run.summary = Some(summary(series, &result, &detection, &job.threshold));
    let planned = run
        .training
        .clone()
        .unwrap_or_else(|| training::planned(&job.training, job.save_model));
    let span = match &job.training {
        TrainChoice::Prefix { rows, .. } if *rows > 0 => {
            Some((series.timestamps()[0], series.timestamps()[rows - 1]))
        }
        TrainChoice::Same => series
            .timestamps()
            .first()
            .zip(series.timestamps().last())
            .map(|(a, b)| (*a, *b)),
        _ => None,
    };
    let mut info = training::completed(&planned, &detection.training, span);
    if job.save_model {
        let prefix;
        let data = match (&job.training, &train_data) {
            (TrainChoice::Prefix { rows, .. }, _) => {
                prefix = series.slice(0..*rows);
                Some(TrainingData {
                    series: &prefix,
                    dataset_id: Some(dataset.id.clone()),
                    dataset_name: dataset.name.clone(),
                    source: "prefix",
                    time_column: ingested.time_column.clone(),
                    value_column: ingested.value_column.clone(),
                })
            }
            (TrainChoice::Dataset { dataset_id, .. }, Some((train, name))) => Some(TrainingData {
                series: &train.series,
                dataset_id: Some(dataset_id.clone()),
                dataset_name: name.clone(),
                source: "dataset",
                time_column: train.time_column.clone(),
                value_column: train.value_column.clone(),
            }),
            (TrainChoice::Same, _) => Some(TrainingData {
                series,
                dataset_id: Some(dataset.id.clone()),
                dataset_name: dataset.name.clone(),
                source: "self",
                time_column: ingested.time_column.clone(),
                value_column: ingested.value_column.clone(),
            }),
            // A run on a stored model has nothing new to save.
            _ => None,
        };
        if let Some(data) = data {
            let saved =
                training::fit_and_store(store, &job.spec, &data, None, Some(&job.run_id), &ctx);
            if let Some(obj) = info.as_object_mut() {
                match saved {
                    Ok(model) => {
                        obj.insert("saved_model_id".into(), json!(model.id));
                    }
                    Err(e) if e.code() == "cancelled" => return Err(Failure::from(e)),
                    Err(e) => {
                        tracing::warn!(error = %e, "The run's model could not be saved");
                        obj.insert(
                            "model_error".into(),
                            json!(format!("the model could not be saved: {}", e.message())),
                        );
                    }
                }
            }
        }
    }
    run.training = Some(info);
    Ok(result)
}

/// A progress callback that feeds the SSE channel on every call and the store at most once
/// per `every` (and always for the final update).
pub(crate) fn progress_callback(
    store: Arc<dyn Storage>,
    run_id: &str,
    live: &Live,
    every: Duration,
) -> tsad_core::ProgressFn {
    let tx = live.progress.clone();
    let id = run_id.to_owned();
    let last: Mutex<Option<Instant>> = Mutex::new(None);
    Arc::new(move |p: &Progress| {
        tx.send_replace(Some(p.clone()));
        let due = {
            let mut last = lock(&last);
            let due = last.is_none_or(|t| t.elapsed() >= every) || p.fraction >= 1.0;
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            let value = serde_json::to_value(p).unwrap_or(Value::Null);
            if let Err(e) = store.set_run_progress(&id, &value) {
                tracing::warn!(run_id = %id, error = %e, "Cannot store run progress");
            }
        }
    })
}

/// The dataset's label column read with the run's time axis and aligned to the series by
/// timestamp (NaN where a point has no label). `None` when it cannot be read.
fn read_labels(
    bytes: &[u8],
    opts: &IngestOptions,
    ingested: &tsad_io::Ingested,
    label: &str,
) -> Option<Vec<f64>> {
    let label_opts = IngestOptions {
        time_column: ingested.time_column.clone().map(ColumnRef::Name),
        no_time_column: ingested.time_column.is_none(),
        value_column: Some(ColumnRef::Name(label.to_owned())),
        labels: true,
        ..opts.clone()
    };
    let labels = tsad_io::read_bytes(bytes, &label_opts).ok()?.series;
    Some(align(
        ingested.series.timestamps(),
        labels.timestamps(),
        labels.values(),
    ))
}

/// For each of `ts` (increasing), the value at the same timestamp in `(other_ts, other)`
/// (increasing), or NaN.
pub(crate) fn align(ts: &[i64], other_ts: &[i64], other: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(ts.len());
    let mut j = 0;
    for &t in ts {
        while j < other_ts.len() && other_ts[j] < t {
            j += 1;
        }
        out.push(if j < other_ts.len() && other_ts[j] == t {
            other[j]
        } else {
            f64::NAN
        });
    }
    out
}

/// The stored result of a detection.
pub(crate) fn build_result(
    series: &Series,
    detection: &Detection,
    labels: Option<Vec<f64>>,
) -> RunResult {
    let scores = &detection.scores;
    let (lower, upper) = match &scores.band {
        Some((l, u)) => (Some(l.clone()), Some(u.clone())),
        None => (None, None),
    };
    RunResult {
        time_axis: axis_name(series.axis()).into(),
        timestamps: series.timestamps().to_vec(),
        values: series.values().to_vec(),
        score: scores.score.clone(),
        rarity: scores.rarity.clone(),
        expected: scores.expected.clone(),
        lower,
        upper,
        flags: detection.cut.flags.clone(),
        labels,
        members: scores
            .members
            .iter()
            .map(|m| MemberColumn {
                name: m.name.clone(),
                kind: m.kind.clone(),
                normalized: m.normalized.clone(),
            })
            .collect(),
        threshold_value: detection.cut.value,
        events: serde_json::to_value(&detection.events).unwrap_or(Value::Array(vec![])),
        report: scores.report.clone(),
    }
}

/// `epoch_millis` or `index`.
pub(crate) fn axis_name(axis: tsad_core::TimeAxis) -> &'static str {
    match axis {
        tsad_core::TimeAxis::Index => "index",
        _ => "epoch_millis",
    }
}

/// A finite number, or JSON null.
pub(crate) fn finite(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

/// Why no event was kept and what would show one ([`tsad_engine::quiet`]); null when there are
/// events.
pub(crate) fn quiet(
    series: &Series,
    scores: &tsad_core::Scores,
    cut: &tsad_core::Cut,
    events: &[tsad_core::Event],
) -> Value {
    serde_json::to_value(tsad_engine::quiet(series, scores, cut, events)).unwrap_or(Value::Null)
}

/// The run summary shown in lists.
pub(crate) fn summary(
    series: &Series,
    result: &RunResult,
    detection: &Detection,
    threshold: &Threshold,
) -> Value {
    let ts = series.timestamps();
    json!({
        "points": series.len(),
        "missing": series.missing(),
        "start": ts.first(),
        "end": ts.last(),
        "step_ms": series.median_step(),
        "time_axis": result.time_axis,
        "anomaly_count": detection.cut.count(),
        "event_count": detection.events.len(),
        "threshold_value": finite(detection.cut.value),
        "threshold_rule": threshold.describe(),
        "scale": crate::events::scale_name(detection.cut.scale),
        "routine": detection.cut.routine,
        "quiet": quiet(series, &detection.scores, &detection.cut, &detection.events),
        "fit_seconds": detection.fit_seconds,
        "score_seconds": detection.score_seconds,
        "has_labels": result.labels.is_some(),
        "members": result.members.iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_matches_timestamps() {
        let got = align(&[1, 2, 3, 5], &[0, 2, 3, 4, 6], &[9.0, 1.0, 0.0, 7.0, 8.0]);
        assert!(got[0].is_nan() && got[3].is_nan());
        assert_eq!(&got[1..3], &[1.0, 0.0]);
        assert!(align(&[1], &[], &[]).iter().all(|x| x.is_nan()));
    }

    #[test]
    fn progress_goes_to_the_channel_always_and_to_the_store_throttled() {
        let store: Arc<dyn Storage> =
            Arc::new(tsad_store::SqliteStorage::open_in_memory().unwrap());
        let ds = tsad_store::DatasetRecord {
            id: "ds".into(),
            name: "d".into(),
            created_at: 0,
            size_bytes: 0,
            rows: 0,
            meta: Value::Null,
        };
        store.create_dataset(&ds, b"").unwrap();
        let mut run = RunRecord::new("run".into(), "ds", Value::Null, 0);
        store.create_run(&run).unwrap();
        run.status = RunStatus::Running;
        store.update_run(&run).unwrap();
        let (tx, mut rx) = watch::channel(None);
        let live = Live {
            dataset_id: "ds".into(),
            cancel: CancelFlag::new(),
            wake: Arc::new(Notify::new()),
            progress: Arc::new(tx),
        };
        // An hour between store writes: only the first and the final update are stored.
        let report = progress_callback(store.clone(), "run", &live, Duration::from_secs(3600));
        let stored = || {
            store
                .run("run")
                .unwrap()
                .progress
                .map(|p| p["fraction"].clone())
        };
        let cases = [(0.1, json!(0.1)), (0.5, json!(0.1)), (1.0, json!(1.0))];
        for (fraction, want_stored) in cases {
            report(&Progress {
                stage: "train".into(),
                fraction,
                ..Progress::default()
            });
            assert_eq!(
                rx.borrow_and_update().as_ref().map(|p| p.fraction),
                Some(fraction)
            );
            assert_eq!(stored(), Some(want_stored), "after {fraction}");
        }
    }

    #[test]
    fn reserve_counts_running_and_queued() {
        let jobs = Jobs::new(1, 1);
        jobs.reserve().unwrap();
        jobs.reserve().unwrap();
        let err = jobs.reserve().unwrap_err();
        assert_eq!(err.code(), "too_many_jobs");
        jobs.unreserve();
        jobs.reserve().unwrap();
        assert_eq!(jobs.counts(), (0, 2));
    }
}
