//! The streaming form of both LSTM detectors ([`tsad_core::Detector::online`]): collect the
//! first `online_warmup` points, fit on them, then score each new point from its trailing
//! window alone; with `online_refit`, fit again on every point seen so far each time their
//! count doubles.

use crate::common::{self, Scaler, Trained};
use crate::model::{Arch, Network, Workspace};
use std::fmt;
use tsad_core::{Error, FitContext, OnlineModel};

/// What a stream needs from its detector: the network and how to train it.
pub(crate) trait Trainable: Send + fmt::Debug {
    fn network(&self) -> Network;
    /// Trains on `values` exactly as the detector's batch `fit` does.
    fn train(&self, values: &[f64], ctx: &FitContext) -> Result<Trained, Error>;
    /// What streaming scores are divided by, as the batch scores are.
    fn stream_scale(&self, _net: &Network, _trained: &Trained, _values: &[f64]) -> f64 {
        1.0
    }
}

/// Streaming settings, from the detector's parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamOptions {
    /// Points collected before the first fit.
    pub(crate) warmup: usize,
    /// Fit again whenever the points seen double.
    pub(crate) refit: bool,
    /// Training threads.
    pub(crate) threads: usize,
    /// The score smoothing (an EWMA span; 0 or 1: none), as in batch scores.
    pub(crate) smooth: usize,
}

/// An LSTM detector scoring one point at a time from the past.
///
/// - Point `i`'s score uses points `0..=i` only: the model was fitted on points before `i`,
///   and the score reads the trailing window that ends at `i`.
/// - **Forecaster**: `|x[i] - forecast|`, the forecast made from the `window` points before
///   `i`, smoothed as the batch score is (an EWMA of span `smooth` over the scored points).
/// - **Autoencoder**: the squared reconstruction error of `x[i]` as the last position of the
///   window ending at `i` (the only window containing `i` that the past allows), divided by
///   the mean squared training error at that position, as in batch scores, smoothed as they
///   are. The batch score averages over every window containing a point, so the two agree at
///   the last point of a series (without smoothing).
/// - NaN before the first fit, for the first `window` points, at missing points, and while no
///   fit has succeeded (a warm-up with no finite value cannot be fitted; a failed fit is tried
///   again when the points seen double, with or without `refit`).
/// - Cost per point: one forward pass over one window. Fits at `warmup`, `2·warmup`,
///   `4·warmup`, ... (each on at most `max_train_windows` windows), so O(log n) fits in all.
/// - Memory: every point seen (8 bytes each), which the refits train on.
pub(crate) struct LstmStream<D> {
    detector: D,
    net: Network,
    options: StreamOptions,
    values: Vec<f64>,
    next_fit: usize,
    /// Weights, scaler and score divisor of the last successful fit.
    fitted: Option<(Vec<f32>, Scaler, f64)>,
    fits: usize,
    ws: Workspace,
    ewma: common::Ewma,
}

impl<D: Trainable> LstmStream<D> {
    pub(crate) fn new(detector: D, options: StreamOptions) -> Self {
        let net = detector.network();
        let ws = net.workspace(1);
        let ewma = common::Ewma::new(options.smooth);
        LstmStream {
            ewma,
            detector,
            net,
            options,
            values: Vec::new(),
            next_fit: options.warmup,
            fitted: None,
            fits: 0,
            ws,
        }
    }

    fn fit(&mut self) {
        let ctx = FitContext::new().with_threads(Some(self.options.threads));
        // A failed fit keeps the previous model, if any, and is tried again later.
        let fitted = match self.detector.train(&self.values, &ctx) {
            Ok(t) => {
                let scale = self.detector.stream_scale(&self.net, &t, &self.values);
                self.fitted = Some((t.weights, t.scaler, scale));
                self.fits += 1;
                true
            }
            Err(_) => false,
        };
        self.next_fit = if self.options.refit || !fitted {
            self.next_fit.saturating_mul(2)
        } else {
            usize::MAX
        };
    }

    /// The score of the point just pushed, `value`.
    fn score_last(&mut self, value: f64) -> Option<f64> {
        let (weights, scaler, scale) = self.fitted.as_ref()?;
        let (n, w) = (self.values.len(), self.net.window);
        match self.net.arch {
            Arch::Forecast => {
                // The window before the point, plus the point as the (unused) target.
                let input =
                    common::model_input(&self.values[n.checked_sub(w + 1)?..], scaler).ok()?;
                self.net.forward(weights, &input, &[0], &mut self.ws);
                let residual = (value - scaler.unscale(f64::from(self.ws.y[0]))).abs();
                Some(self.ewma.push(residual))
            }
            Arch::Autoencoder => {
                let input = common::model_input(&self.values[n.checked_sub(w)?..], scaler).ok()?;
                self.net.forward(weights, &input, &[0], &mut self.ws);
                let e = self.ws.y[w - 1] - input[w - 1];
                Some(self.ewma.push(f64::from(e * e) / scale))
            }
        }
    }
}

impl<D> fmt::Debug for LstmStream<D>
where
    D: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LstmStream")
            .field("detector", &self.detector)
            .field("options", &self.options)
            .field("seen", &self.values.len())
            .field("fits", &self.fits)
            .field("next_fit", &self.next_fit)
            .finish_non_exhaustive()
    }
}

impl<D: Trainable> OnlineModel for LstmStream<D> {
    fn update(&mut self, _timestamp: i64, value: f64) -> f64 {
        if self.values.len() == self.next_fit {
            self.fit();
        }
        self.values.push(value);
        if !value.is_finite() {
            return f64::NAN;
        }
        self.score_last(value).unwrap_or(f64::NAN)
    }
}
