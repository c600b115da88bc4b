//! The detector life cycle: an unfitted [`Detector`] fits into an immutable [`Model`], which
//! scores series; [`OnlineModel`] scores one point at a time using only the past.

use crate::{Error, Scores, Series};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Parameters of one detector, validated, not yet fitted.
///
/// Object-safe so registries, ensembles and the server hold `Box<dyn Detector>`.
pub trait Detector: Send + Sync + Debug {
    /// The kind as written in specs (`"mad"`, `"lstm_forecast"`, ...).
    fn kind(&self) -> &'static str;

    /// The fewest points [`Detector::fit`] and [`Model::score`] accept.
    fn min_len(&self) -> usize;

    /// Points from a series' start before its scores carry full weight: a rolling window's
    /// length ([`Detector::min_len`], the default), or a longer discount of early points
    /// (`novelty` weighs a new extreme among few points as weak evidence for its first
    /// `warmup` points). The pipeline scores this many first points of a row-numbered series
    /// again on their own when it follows a separate training part, since nothing says the
    /// two are consecutive.
    fn warm_up(&self) -> usize {
        self.min_len()
    }

    /// Fits a model on `train`.
    ///
    /// # Errors
    ///
    /// [`Error::NotEnoughData`] when `train` is shorter than [`Detector::min_len`];
    /// [`Error::Cancelled`] when `ctx` was cancelled; other variants as the detector documents.
    fn fit(&self, train: &Series, ctx: &FitContext) -> Result<Box<dyn Model>, Error>;

    /// A fresh streaming scorer, for detectors that can score one point at a time from the
    /// past alone. `None` when the detector has no streaming form.
    fn online(&self) -> Option<Box<dyn OnlineModel>> {
        None
    }

    /// Restores a model saved by [`Model::save`].
    ///
    /// # Errors
    ///
    /// [`Error::Load`] when the state is of another kind, version or shape.
    fn load(&self, state: &ModelState) -> Result<Box<dyn Model>, Error> {
        Err(Error::Load {
            reason: format!(
                "detector `{}` cannot load saved `{}` models",
                self.kind(),
                state.kind
            ),
        })
    }
}

/// A fitted detector. Immutable, so it can be shared through `Arc` without locks.
pub trait Model: Send + Sync + Debug {
    /// Scores every point of `series`.
    ///
    /// # Errors
    ///
    /// [`Error::NotEnoughData`] when `series` is too short; others as the detector documents.
    fn score(&self, series: &Series) -> Result<Scores, Error>;

    /// [`Model::score`] that stops early once `ctx` is cancelled (a run cancelled while
    /// scoring frees its worker). Slow scorers override it to check inside their loops; the
    /// default checks once, before scoring.
    ///
    /// # Errors
    ///
    /// [`Error::Cancelled`] when `ctx` was cancelled; otherwise as [`Model::score`].
    fn score_with(&self, series: &Series, ctx: &FitContext) -> Result<Scores, Error> {
        ctx.check_cancelled()?;
        self.score(series)
    }

    /// Serialises the fitted state.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] when serialisation fails.
    fn save(&self) -> Result<ModelState, Error>;
}

/// A streaming scorer: one new point in, its score out, using only the points before it.
pub trait OnlineModel: Send + Debug {
    /// Consumes the next point and returns its score (NaN during warm-up or for a missing value).
    fn update(&mut self, timestamp: i64, value: f64) -> f64;

    /// Consumes the points `(timestamps[i], values[i])` in order and returns their scores, one
    /// [`OnlineModel::update`] each (the shorter slice sets the count).
    fn update_all(&mut self, timestamps: &[i64], values: &[f64]) -> Vec<f64> {
        timestamps
            .iter()
            .zip(values)
            .map(|(&t, &v)| self.update(t, v))
            .collect()
    }
}

/// A saved model: kind, format version, configuration and opaque bytes (safetensors for
/// neural models, empty for stateless ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelState {
    /// The detector kind that wrote it.
    pub kind: String,
    /// The kind's format version; loaders reject versions they do not know.
    pub version: u32,
    /// The parameters and any small fitted values, as JSON.
    pub config: serde_json::Value,
    /// Large fitted state (weights), if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bytes: Vec<u8>,
}

/// A training update for progress bars and server-sent events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Progress {
    /// What is running (`"train"`, `"score"`, or an ensemble member's name).
    pub stage: String,
    /// 1-based epoch, 0 before the first.
    pub epoch: usize,
    /// Total epochs planned.
    pub epochs: usize,
    /// 1-based batch within the epoch.
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// Mean training loss so far in this epoch.
    pub train_loss: Option<f64>,
    /// Validation loss of the last finished epoch.
    pub val_loss: Option<f64>,
    /// Estimated seconds left.
    pub eta_seconds: Option<f64>,
    /// Overall completion in [0, 1].
    pub fraction: f64,
}

/// The callback type that receives [`Progress`].
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// A shared flag a caller sets to stop a long fit.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A new, unset flag.
    pub fn new() -> Self {
        Self::default()
    }
    /// Asks the fit to stop at its next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    /// True once [`CancelFlag::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// What a fit may use besides the data: a progress callback, a cancel flag, a thread count.
#[derive(Clone, Default)]
pub struct FitContext {
    progress: Option<ProgressFn>,
    cancel: CancelFlag,
    threads: Option<usize>,
}

impl Debug for FitContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FitContext")
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel)
            .field("threads", &self.threads)
            .finish()
    }
}

impl FitContext {
    /// A context with no callback, never cancelled, default threads.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the progress callback.
    pub fn with_progress(mut self, progress: ProgressFn) -> Self {
        self.progress = Some(progress);
        self
    }
    /// Sets the cancel flag.
    pub fn with_cancel(mut self, cancel: CancelFlag) -> Self {
        self.cancel = cancel;
        self
    }
    /// Sets the thread count for data-parallel fits (`None` = all available cores).
    pub fn with_threads(mut self, threads: Option<usize>) -> Self {
        self.threads = threads;
        self
    }
    /// The thread count asked for, if any.
    pub fn threads(&self) -> Option<usize> {
        self.threads
    }
    /// Sends a progress update, if someone listens.
    pub fn report(&self, progress: &Progress) {
        if let Some(f) = &self.progress {
            f(progress);
        }
    }
    /// The same context whose progress is reported under `stage`, scaled into
    /// `[start, start + width]` of the overall fraction (for ensembles).
    pub fn scoped(&self, stage: &str, start: f64, width: f64) -> FitContext {
        let mut child = self.clone();
        if let Some(parent) = self.progress.clone() {
            let stage = stage.to_owned();
            child.progress = Some(Arc::new(move |p: &Progress| {
                let mut p = p.clone();
                p.stage = format!("{stage}/{}", p.stage);
                p.fraction = start + width * p.fraction;
                parent(&p);
            }));
        }
        child
    }
    /// Returns [`Error::Cancelled`] once the caller cancelled.
    ///
    /// # Errors
    ///
    /// [`Error::Cancelled`] when the flag is set.
    pub fn check_cancelled(&self) -> Result<(), Error> {
        if self.cancel.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Remembers the points it was given; scores each by its position.
    #[derive(Debug, Default)]
    struct Recorder(Vec<(i64, f64)>);

    impl OnlineModel for Recorder {
        fn update(&mut self, timestamp: i64, value: f64) -> f64 {
            self.0.push((timestamp, value));
            self.0.len() as f64
        }
    }

    #[test]
    fn update_all_feeds_every_point_in_order() {
        let mut r = Recorder::default();
        let scores = r.update_all(&[10, 20, 30], &[1.0, f64::NAN, 3.0]);
        assert_eq!(scores, vec![1.0, 2.0, 3.0]);
        assert_eq!(r.0[0], (10, 1.0));
        assert!(r.0[1].0 == 20 && r.0[1].1.is_nan());
        assert_eq!(r.0[2], (30, 3.0));
        // The shorter slice sets the count.
        assert_eq!(Recorder::default().update_all(&[1, 2], &[5.0]), vec![1.0]);
    }
}
