//! `lstm_autoencoder`: an LSTM encoder squeezes each window into a small latent vector, an LSTM
//! decoder rebuilds the window from it; points the model cannot rebuild score high (the
//! Streamlit seed's model, trained in mini-batches instead of one 24 GB batch).

use crate::Loss;
use crate::common::{self, Hyper, Problems, Scaler, Summary, Trained};
use crate::model::Network;
use crate::stream::{LstmStream, StreamOptions, Trainable};
use crate::train::{pool, predict, predict_with};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tsad_core::{
    Detector, Error, FitContext, Model, ModelState, OnlineModel, Scores, Series, stats,
};

/// The kind name in specs and saved models.
pub const KIND: &str = "lstm_autoencoder";
/// The saved-model format version this build writes and reads.
pub const VERSION: u32 = 1;

/// Parameters of [`LstmAutoencoderDetector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LstmAutoencoderParams {
    /// Length of the windows the model rebuilds. Default 32.
    pub window: usize,
    /// Width of each LSTM layer's hidden state (encoder and decoder). Default 32.
    pub hidden: usize,
    /// Stacked LSTM layers in the encoder and in the decoder. Default 1.
    pub layers: usize,
    /// Width of the latent vector a window is squeezed into. Default 8.
    pub latent: usize,
    /// Passes over the training windows (fewer with early stopping). Default 20.
    pub epochs: usize,
    /// Windows per optimiser step. Default 64.
    pub batch_size: usize,
    /// Adam's learning rate. Default 0.001.
    pub learning_rate: f64,
    /// Seed of the weight initialisation and the shuffling: the same seed and data give the
    /// same scores bit for bit, whatever the thread count. Default 42.
    pub seed: u64,
    /// Share of the training windows held out to measure validation loss for early
    /// stopping (the last share of each tenth of the series, so every part is trained on);
    /// 0 trains on all and runs every epoch. Default 0.1.
    pub validation_fraction: f64,
    /// Epochs without a better validation loss before training stops (the best epoch's weights
    /// are kept); 0 never stops early. Default 3.
    pub patience: usize,
    /// At most this many training windows: longer series are strided evenly instead of
    /// training on every window. Default 10000.
    pub max_train_windows: usize,
    /// Worker threads for training and scoring; omitted = the caller's choice, else all cores.
    /// Default none.
    pub threads: Option<usize>,
    /// Training loss, `mse` or `l1`. Default `mse`.
    pub loss: Loss,
    /// Largest gradient norm per step (clipped above); 0 turns clipping off. Default 1.
    pub grad_clip: f64,
    /// Half-width of the reported band around the reconstruction, in standard deviations of
    /// the training reconstruction residuals. Default 3.
    pub band_sigma: f64,
    /// Span, in points, of an exponentially weighted moving average over the per-point
    /// reconstruction errors, which is then the score (telemanom's smoothed errors, as
    /// `lstm_forecast` smooths its residuals): a stretch the model cannot rebuild outscores one
    /// noisy point. 0 or 1 scores each point's error alone. Default 3 (measured on SMAP, fit on
    /// `train/`, score `test/`, seeds 42 / 1 / 2: event F1 0.55 / 0.61 / 0.58 raw, 0.60 / 0.61 /
    /// 0.60 at 3, 0.59 / 0.59 at 6, 0.55 at 12).
    pub smooth: usize,
    /// Streaming only: points collected before the first fit (scores are NaN until then).
    /// Default 256.
    pub online_warmup: usize,
    /// Streaming only: fit again, on every point seen so far, each time their count doubles
    /// (at 2, 4, 8, ... × `online_warmup`). Default true.
    pub online_refit: bool,
}

impl Default for LstmAutoencoderParams {
    fn default() -> Self {
        LstmAutoencoderParams {
            window: 32,
            hidden: 32,
            layers: 1,
            latent: 8,
            epochs: 20,
            batch_size: 64,
            learning_rate: 1e-3,
            seed: 42,
            validation_fraction: 0.1,
            patience: 3,
            max_train_windows: 10_000,
            threads: None,
            loss: Loss::Mse,
            grad_clip: 1.0,
            band_sigma: 3.0,
            smooth: 3,
            online_warmup: 256,
            online_refit: true,
        }
    }
}

impl LstmAutoencoderParams {
    fn hyper(&self) -> Hyper {
        Hyper {
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            seed: self.seed,
            validation_fraction: self.validation_fraction,
            patience: self.patience,
            max_train_windows: self.max_train_windows,
            threads: self.threads,
            loss: self.loss,
            grad_clip: self.grad_clip,
        }
    }

    fn stream_options(&self) -> StreamOptions {
        StreamOptions {
            smooth: self.smooth,
            warmup: self.online_warmup,
            refit: self.online_refit,
            threads: self.threads.unwrap_or(1),
        }
    }

    fn network(&self) -> Network {
        Network::autoencoder(self.window, self.hidden, self.layers, self.latent)
    }
}

/// LSTM autoencoder over sliding windows; scores each point by how badly the windows that
/// contain it are rebuilt there.
///
/// - **Catches** shapes the training data did not contain: spikes, dips, changed cycles (the
///   Streamlit seed's model; its `hybrid-benford` preset pairs it with `benford`).
/// - **Model**: encoder `layers`×LSTM(->hidden) over a window of robustly scaled values
///   (median / IQR of the training series), Linear(hidden->latent), the latent repeated at
///   every step into a decoder `layers`×LSTM, Linear(hidden->1) per step. Adam, mini-batches,
///   early stopping on windows held out from every tenth of the series.
/// - **Score** (the mapping from windows to points): every window of the series (stride 1) is
///   rebuilt; point `i`'s score is the mean, over the `window` windows that contain it (fewer
///   at the ends), of the squared error at `i`'s position divided by the mean squared training
///   error at that position (1 = a typical error). The first and last positions of a window
///   are rebuilt worst, and without the division the series' first and last points, which
///   only those positions cover, scored ten times the median on the demo. Where the series
///   has moved far from the training part, that division no longer evens the positions out,
///   so the points fewer than `window` windows cover are scored against the positions'
///   profile near their end of the series instead (see `EdgeProfile`). Accumulated in one
///   streaming pass, O(n·window) time and O(n) memory; windows are never stored (but the
///   errors of the 256 at each end). NaN at missing points. Then smoothed: an exponentially
///   weighted moving average of span `smooth` (3) over the points.
/// - **Expected / band**: the mean reconstruction of each point, and ± `band_sigma` × the
///   standard deviation of the training reconstruction residuals.
/// - **Missing values**: linearly interpolated for the network's input (so a gap is rebuilt
///   but never scored).
/// - **Streaming** (`online`): collects `online_warmup` points, fits on them, then scores each
///   new point by its (relative) squared error as the last position of the window ending there
///   (the batch score averages over every window containing a point); with `online_refit` it
///   fits again on everything seen each time the count doubles. Training uses `threads`, else
///   one thread (streams usually run side by side).
/// - **Minimum length**: `window`. **Cost**: O(n·window·hidden²) per epoch over at most
///   `max_train_windows` windows, and one forward pass per window to score.
/// - **Reference**: Malhotra et al., "LSTM-based Encoder-Decoder for Multi-sensor Anomaly
///   Detection", ICML 2016 anomaly detection workshop.
#[derive(Debug, Clone)]
pub struct LstmAutoencoderDetector {
    params: LstmAutoencoderParams,
}

impl LstmAutoencoderDetector {
    /// Validates `params`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming every field out of range.
    pub fn new(params: LstmAutoencoderParams) -> Result<Self, Error> {
        let mut p = Problems::default();
        common::check_common(
            &mut p,
            params.window,
            params.hidden,
            params.layers,
            params.epochs,
            params.batch_size,
            params.learning_rate,
            params.validation_fraction,
            params.max_train_windows,
            params.threads,
            params.grad_clip,
        );
        common::check_memory(
            &mut p,
            params.window,
            params.hidden,
            2 * params.layers,
            params.batch_size,
        );
        p.check(
            (1..=1024).contains(&params.latent),
            "latent",
            format!("must be in 1..=1024, got {}", params.latent),
        );
        p.check(
            params.band_sigma.is_finite() && params.band_sigma >= 0.0,
            "band_sigma",
            format!("must be a finite number >= 0, got {}", params.band_sigma),
        );
        common::check_warmup(&mut p, params.online_warmup, params.window);
        p.finish()?;
        Ok(LstmAutoencoderDetector { params })
    }

    /// The validated parameters.
    pub fn params(&self) -> &LstmAutoencoderParams {
        &self.params
    }
}

impl Detector for LstmAutoencoderDetector {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn min_len(&self) -> usize {
        self.params.window
    }

    /// The first `window - 1` points are covered by fewer windows than the rest, and are
    /// scored against the profile of the first windows' positions (`EdgeProfile`), which
    /// takes 128 windows: so a series' first points are judged as the rest
    /// only when that many follow them. After a separate training part, the pipeline scores
    /// this many first points again on their own; with only `window` of them (64 points, too
    /// few for the profile), the ends of constant test series at a level the training never
    /// had stood out by a few parts in ten thousand and made 5 of SMAP's false events with
    /// seed 1.
    fn warm_up(&self) -> usize {
        self.params.window + MIN_EDGE_WINDOWS
    }

    fn fit(&self, train: &Series, ctx: &FitContext) -> Result<Box<dyn Model>, Error> {
        let values = common::values_of(train, self.min_len())?;
        let net = self.params.network();
        let trained = self.train(values, ctx)?;
        let ResidualStats {
            std: residual_std,
            position_mse,
        } = residual_stats(&net, &trained, values);
        Ok(Box::new(LstmAutoencoderModel {
            params: self.params.clone(),
            net,
            weights: trained.weights,
            scaler: trained.scaler,
            residual_std,
            position_mse,
            summary: Summary {
                log: trained.log,
                train_windows: trained.plan.train.len(),
                val_windows: trained.plan.val.len(),
                stride: trained.plan.stride,
                threads: trained.threads,
            },
        }))
    }

    fn online(&self) -> Option<Box<dyn OnlineModel>> {
        let options = self.params.stream_options();
        Some(Box::new(LstmStream::new(self.clone(), options)))
    }

    fn load(&self, state: &ModelState) -> Result<Box<dyn Model>, Error> {
        common::check_state(state, KIND, VERSION)?;
        let config: SavedConfig =
            serde_json::from_value(state.config.clone()).map_err(|e| Error::Load {
                reason: format!("`{KIND}` config is malformed: {e}"),
            })?;
        let mut saved = config.params;
        saved.smooth = common::saved_smooth(state, saved.smooth);
        let params = LstmAutoencoderDetector::new(saved)
            .map_err(|e| Error::Load {
                reason: format!("saved parameters are invalid: {e}"),
            })?
            .params;
        let net = params.network();
        let weights = common::load_weights(&net, &state.bytes)?;
        Ok(Box::new(LstmAutoencoderModel {
            params,
            net,
            weights,
            scaler: config.scaler,
            residual_std: config.residual_std,
            position_mse: config.position_mse,
            summary: config.summary,
        }))
    }
}

impl Trainable for LstmAutoencoderDetector {
    fn network(&self) -> Network {
        self.params.network()
    }

    fn train(&self, values: &[f64], ctx: &FitContext) -> Result<Trained, Error> {
        common::train_network(&self.params.hyper(), &self.network(), values, ctx, |_| true)
    }

    /// The mean squared training error at the window's last position, as in batch scores.
    fn stream_scale(&self, net: &Network, trained: &Trained, values: &[f64]) -> f64 {
        let mse = residual_stats(net, trained, values).position_mse;
        mse.last().copied().unwrap_or(1.0)
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedConfig {
    params: LstmAutoencoderParams,
    scaler: Scaler,
    residual_std: f64,
    /// Mean squared training error at each window position; empty in models saved before it
    /// existed (scores then are not divided by it).
    #[serde(default)]
    position_mse: Vec<f64>,
    summary: Summary,
}

/// A fitted [`LstmAutoencoderDetector`].
#[derive(Debug)]
struct LstmAutoencoderModel {
    params: LstmAutoencoderParams,
    net: Network,
    weights: Vec<f32>,
    scaler: Scaler,
    residual_std: f64,
    position_mse: Vec<f64>,
    summary: Summary,
}

/// What the training windows say about the reconstruction error.
struct ResidualStats {
    /// Standard deviation of `actual - reconstruction` (series' units) over every position of
    /// the training and validation windows.
    std: f64,
    /// Mean squared error (scaled units) at each window position over the same windows: the
    /// first and last positions are rebuilt worst, and dividing by this keeps the series' ends,
    /// which only edge positions cover, from scoring high.
    position_mse: Vec<f64>,
}

fn residual_stats(net: &Network, t: &Trained, values: &[f64]) -> ResidualStats {
    let w = net.window;
    let mut stats = ResidualStats {
        std: 0.0,
        position_mse: vec![1.0; w],
    };
    let Ok(pool) = pool(t.threads) else {
        return stats;
    };
    // Welford over the stream: the residuals of all windows are never stored.
    let (mut n, mut mean, mut m2) = (0.0f64, 0.0f64, 0.0f64);
    let mut sq = vec![0.0f64; w];
    let mut count = vec![0.0f64; w];
    let starts = t.plan.train.iter().chain(&t.plan.val).copied();
    predict(
        net,
        &t.weights,
        &t.input,
        starts,
        t.threads,
        &pool,
        |starts, y| {
            let m = starts.len();
            for (r, &s) in starts.iter().enumerate() {
                for k in 0..w {
                    let actual = values[s + k];
                    if actual.is_finite() {
                        let yv = y[k * m + r];
                        let e = actual - t.scaler.unscale(f64::from(yv));
                        n += 1.0;
                        let d = e - mean;
                        mean += d / n;
                        m2 += d * (e - mean);
                        let z = f64::from(yv - t.input[s + k]);
                        sq[k] += z * z;
                        count[k] += 1.0;
                    }
                }
            }
        },
    );
    if n > 0.0 {
        stats.std = (m2 / n).sqrt();
    }
    for ((p, s), c) in stats.position_mse.iter_mut().zip(&sq).zip(&count) {
        // A floor keeps a perfectly rebuilt position from dividing by zero.
        if *c > 0.0 {
            *p = (s / c).max(1e-6);
        }
    }
    stats
}

/// Windows at each end of a scored series whose errors make that end's [`EdgeProfile`].
const EDGE_WINDOWS: usize = 256;
/// Fewest windows a series needs for [`EdgeProfile`]s: in fewer, a point's own windows would
/// be much of the profile it is judged by (in one window, every point would score the
/// window's mean error).
const MIN_EDGE_WINDOWS: usize = EDGE_WINDOWS / 2;

/// How the relative error of each window position compares with the others' near one end of
/// the scored series: per position, the median over the nearest [`EDGE_WINDOWS`] windows,
/// over the mean of those medians.
///
/// A point near an end is covered only by the first (or last) positions of the windows there,
/// so its mean error is that of those positions. Dividing by the training error at each
/// position evens them out on data like the training part, but where the series has moved far
/// from it (a level the model never saw, whose every error is millions of times the training
/// one) the edge positions are rebuilt worse or better than the middle ones by a few percent,
/// and a few percent is all it takes above a flat plateau of errors: on SMAP the ends of such
/// series (B-1, D-5, D-13, ...) made 6 of the autoencoder's 20 false events. Such a
/// point's score is therefore its summed error over what those positions sum to in the
/// profile: the mean error a point there would have if it were like its neighbours. Medians,
/// so that a spike near the end, which sits at a few positions of a few windows, does not
/// raise the profile it is judged by; and only from [`MIN_EDGE_WINDOWS`] windows on.
#[derive(Debug)]
struct EdgeProfile {
    /// `prefix[k]`: the profile summed over positions `0..k`.
    prefix: Vec<f64>,
}

impl EdgeProfile {
    /// The profile of `errors` (`[window * w + position]`, NaN where not scored); `None` when
    /// the medians give no positive mean (a series rebuilt perfectly).
    fn of(errors: &[f64], w: usize) -> Option<EdgeProfile> {
        let windows = errors.len() / w;
        let medians: Vec<f64> = (0..w)
            .map(|k| {
                let at: Vec<f64> = (0..windows).map(|s| errors[s * w + k]).collect();
                stats::median(&stats::finite(&at)).unwrap_or(f64::NAN)
            })
            .collect();
        let mean = medians.iter().sum::<f64>() / w as f64;
        if !(mean > 0.0 && mean.is_finite()) {
            return None;
        }
        let mut prefix = Vec::with_capacity(w + 1);
        prefix.push(0.0);
        let mut acc = 0.0;
        for m in &medians {
            acc += m / mean;
            prefix.push(acc);
        }
        Some(EdgeProfile { prefix })
    }

    /// The profile summed over positions `lo..=hi`; `None` when not positive.
    fn weight(&self, lo: usize, hi: usize) -> Option<f64> {
        let sum = self.prefix[hi + 1] - self.prefix[lo];
        (sum > 0.0).then_some(sum)
    }
}

impl Model for LstmAutoencoderModel {
    fn score(&self, series: &Series) -> Result<Scores, Error> {
        self.score_with(series, &FitContext::new())
    }

    fn score_with(&self, series: &Series, ctx: &FitContext) -> Result<Scores, Error> {
        let values = common::values_of(series, self.params.window)?;
        let input = common::model_input(values, &self.scaler)?;
        let threads = common::threads(self.params.threads, None);
        let pool = pool(threads)?;
        let n = values.len();
        let w = self.net.window;
        let position_mse = &self.position_mse;
        let mut err = vec![0.0f64; n];
        let mut recon = vec![0.0f64; n];
        let mut count = vec![0u32; n];
        let windows = self.net.windows_in(n);
        // The relative errors of the first and last `near` windows, by position, for the
        // profiles the series' ends are scored against (see `EdgeProfile`).
        let near = windows.min(EDGE_WINDOWS);
        let mut first = vec![f64::NAN; near * w];
        let mut last = vec![f64::NAN; near * w];
        let starts = 0..windows;
        predict_with(
            &self.net,
            &self.weights,
            &input,
            starts,
            threads,
            &pool,
            |starts, y| {
                let m = starts.len();
                for (r, &s) in starts.iter().enumerate() {
                    for k in 0..w {
                        let yv = y[k * m + r];
                        let e = yv - input[s + k];
                        let relative = f64::from(e * e) / position_mse.get(k).unwrap_or(&1.0);
                        err[s + k] += relative;
                        recon[s + k] += f64::from(yv);
                        count[s + k] += 1;
                        if s < near {
                            first[s * w + k] = relative;
                        }
                        if s + near >= windows {
                            last[(s + near - windows) * w + k] = relative;
                        }
                    }
                }
            },
            ctx,
        )?;
        let mut score = Vec::with_capacity(n);
        let mut expected = Vec::with_capacity(n);
        let mut ewma = common::Ewma::new(self.params.smooth);
        let (head, tail) = if near >= MIN_EDGE_WINDOWS {
            (EdgeProfile::of(&first, w), EdgeProfile::of(&last, w))
        } else {
            (None, None)
        };
        for i in 0..n {
            let c = f64::from(count[i].max(1));
            expected.push(self.scaler.unscale(recon[i] / c));
            // The window positions that cover point i: all of them but near the ends.
            let (lo, hi) = (i - i.min(windows.saturating_sub(1)), i.min(w - 1));
            let edge = if hi + 1 < w { &head } else { &tail };
            let weight = match edge {
                Some(profile) if lo > 0 || hi + 1 < w => profile.weight(lo, hi),
                _ => None,
            };
            score.push(ewma.push(if values[i].is_finite() {
                err[i] / weight.unwrap_or(c)
            } else {
                f64::NAN
            }));
        }
        let half = self.params.band_sigma * self.residual_std;
        let lower = expected.iter().map(|e| e - half).collect();
        let upper = expected.iter().map(|e| e + half).collect();
        let mean_score = stats::mean_std(&score).map(|(m, _)| m);
        Ok(Scores::new(score)
            .with_expected(expected)
            .with_band(lower, upper)
            .with_report(json!({
                "kind": KIND,
                "score": "mean over the windows containing each point of its squared reconstruction error, relative to the training error at its window position",
                "mean_score": mean_score,
                "residual_std": self.residual_std,
                "scaler": self.scaler,
                "training": self.summary,
            })))
    }

    fn save(&self) -> Result<ModelState, Error> {
        let config = serde_json::to_value(SavedConfig {
            params: self.params.clone(),
            scaler: self.scaler,
            residual_std: self.residual_std,
            position_mse: self.position_mse.clone(),
            summary: self.summary.clone(),
        })
        .map_err(Error::backend)?;
        Ok(ModelState {
            kind: KIND.to_owned(),
            version: VERSION,
            config,
            bytes: common::save_weights(&self.net, &self.weights)?,
        })
    }
}
