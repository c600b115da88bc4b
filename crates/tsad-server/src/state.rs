//! [`AppState`]: what every handler shares (storage, the job manager, config, metrics, a small
//! cache of decoded results) and the helper that runs storage calls on the blocking pool.

use crate::ServerConfig;
use crate::downsample::Extremes;
use crate::error::ApiError;
use crate::jobs::Jobs;
use crate::metrics::Metrics;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::watch;
use tsad_explain::LlmClient;
use tsad_store::{RunResult, Storage};

/// Decoded results kept in memory so panning a chart does not decode the BLOBs each time.
const CACHE_ENTRIES: usize = 4;
/// ...and at most this many points across them (about 80 bytes a point).
const CACHE_POINTS: usize = 4_000_000;

/// A decoded result and what the points endpoint derives from it, each built on first use.
#[derive(Clone)]
struct Cached {
    run_id: String,
    result: Arc<RunResult>,
    index: PointsIndex,
}

/// What `GET /runs/{id}/points` derives from a result once, so that a request costs
/// O(`max_points` · log n) instead of walking every point: the min/max pyramid of the values
/// and scores (kept across re-thresholds, which change neither) and the flagged indices.
#[derive(Clone, Default)]
pub(crate) struct PointsIndex {
    extremes: Arc<OnceLock<Extremes>>,
    flagged: Arc<OnceLock<Vec<usize>>>,
}

impl PointsIndex {
    /// The pyramid over `result`'s values and scores (built on the first call).
    pub(crate) fn extremes(&self, result: &RunResult) -> &Extremes {
        self.extremes
            .get_or_init(|| Extremes::new(&result.values, &result.score))
    }

    /// The sorted indices of `result`'s flagged points (found on the first call).
    pub(crate) fn flagged(&self, result: &RunResult) -> &[usize] {
        self.flagged.get_or_init(|| {
            (result.flags.iter().enumerate())
                .filter_map(|(i, &f)| f.then_some(i))
                .collect()
        })
    }
}

/// The state shared by every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Storage>,
    jobs: Jobs,
    config: ServerConfig,
    metrics: Metrics,
    cache: Mutex<VecDeque<Cached>>,
    shutdown: watch::Sender<bool>,
    /// The chat's LLM; `None` answers offline from the evidence.
    llm: std::sync::RwLock<Option<Arc<LlmClient>>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.inner.store)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `store` with the limits of `config` (`max_jobs`, `max_queue`,
    /// `max_upload_bytes`, `request_timeout`, `web_dir`). `max_jobs = 0` queues runs without
    /// ever starting them, which tests use to fill the queue deterministically.
    pub fn new(store: Arc<dyn Storage>, config: ServerConfig) -> Self {
        let (shutdown, _) = watch::channel(false);
        AppState {
            inner: Arc::new(Inner {
                jobs: Jobs::new(config.max_jobs, config.max_queue),
                store,
                config,
                metrics: Metrics::default(),
                cache: Mutex::new(VecDeque::new()),
                shutdown,
                llm: std::sync::RwLock::new(None),
            }),
        }
    }

    /// Sets the LLM the chat asks (`None`: offline answers from the evidence, the default).
    pub fn with_llm(self, client: Option<LlmClient>) -> Self {
        // Only ever replaced whole; a panic elsewhere cannot leave it half-written.
        *self.inner.llm.write().unwrap_or_else(|e| e.into_inner()) = client.map(Arc::new);
        self
    }

    /// The chat's LLM, if one is configured.
    pub fn llm(&self) -> Option<Arc<LlmClient>> {
        self.inner
            .llm
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The storage.
    pub fn store(&self) -> &Arc<dyn Storage> {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Runs executing now and runs waiting for a slot.
    pub fn job_counts(&self) -> (usize, usize) {
        self.inner.jobs.counts()
    }

    /// Synchronous detections (`POST /api/v1/detect`) computing or waiting for a slot.
    pub fn detects_in_flight(&self) -> usize {
        self.inner.jobs.detect_in_flight()
    }

    /// Stops everything in flight for a shutdown: running and queued runs are cancelled and
    /// recorded as failed with [`tsad_store::INTERRUPTED_MESSAGE`], and progress streams end.
    pub fn shutdown(&self) {
        self.inner.jobs.shutdown();
        self.inner.shutdown.send_replace(true);
    }

    pub(crate) fn jobs(&self) -> &Jobs {
        &self.inner.jobs
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Runs `f` with the storage on the blocking pool.
    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Storage) -> Result<T, ApiError> + Send + 'static,
    {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref())).await?
    }

    /// A run's result, from the cache or the store.
    pub(crate) async fn result(&self, run_id: &str) -> Result<Arc<RunResult>, ApiError> {
        Ok(self.cached_entry(run_id).await?.result)
    }

    /// A run's result with its [`PointsIndex`], from the cache or the store.
    pub(crate) async fn result_with_index(
        &self,
        run_id: &str,
    ) -> Result<(Arc<RunResult>, PointsIndex), ApiError> {
        let entry = self.cached_entry(run_id).await?;
        Ok((entry.result, entry.index))
    }

    async fn cached_entry(&self, run_id: &str) -> Result<Cached, ApiError> {
        if let Some(hit) = self.cached(run_id) {
            return Ok(hit);
        }
        let id = run_id.to_owned();
        let result = Arc::new(self.blocking(move |s| Ok(s.result(&id)?)).await?);
        let entry = Cached {
            run_id: run_id.to_owned(),
            result,
            index: PointsIndex::default(),
        };
        let mut cache = self.cache_lock();
        cache.retain(|c| c.run_id != run_id);
        cache.push_front(entry.clone());
        let mut points = 0;
        let mut keep = 0;
        for c in cache.iter() {
            if keep >= CACHE_ENTRIES || (keep > 0 && points + c.result.len() > CACHE_POINTS) {
                break;
            }
            points += c.result.len();
            keep += 1;
        }
        cache.truncate(keep);
        Ok(entry)
    }

    /// Replaces a cached result after a re-threshold, so the next request needs no reload.
    /// Values and scores are unchanged, so the min/max pyramid is kept; the flags are new.
    pub(crate) fn update_result(&self, run_id: &str, result: Arc<RunResult>) {
        let mut cache = self.cache_lock();
        if let Some(entry) = cache.iter_mut().find(|c| c.run_id == run_id) {
            entry.result = result;
            entry.index.flagged = Arc::default();
        }
    }

    /// Forgets a cached result (after a delete).
    pub(crate) fn forget_result(&self, run_id: &str) {
        self.cache_lock().retain(|c| c.run_id != run_id);
    }

    fn cached(&self, run_id: &str) -> Option<Cached> {
        self.cache_lock()
            .iter()
            .find(|c| c.run_id == run_id)
            .cloned()
    }

    fn cache_lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Cached>> {
        // The cache holds immutable Arcs; a panic elsewhere cannot leave it inconsistent.
        self.inner.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}
