//! `lstm_forecast`: a stacked LSTM reads the `window` past values and forecasts the next; the
//! score is the absolute residual (the Flask seed's method, with a correct per-sample loss),
//! smoothed over the last few points as telemanom smooths its errors.

use crate::Loss;
use crate::common::{self, CovariateScaler, Hyper, Problems, Scaler, Summary, Trained};
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
pub const KIND: &str = "lstm_forecast";
/// The saved-model format version this build writes and reads.
pub const VERSION: u32 = 1;

/// Parameters of [`LstmForecastDetector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LstmForecastParams {
    /// Past values the network reads to forecast the next one. Default 48 (measured on SMAP,
    /// fit on `train/`, score `test/`, event F1 with seeds 42 / 1 / 2: window 32 0.57 / 0.56 /
    /// 0.60, 48 0.63 / 0.57 / 0.70, 64 0.63 / 0.58 / 0.60; the cost grows with the window).
    pub window: usize,
    /// Width of each LSTM layer's hidden state. Default 32.
    pub hidden: usize,
    /// Stacked LSTM layers. Default 1.
    pub layers: usize,
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
    /// Half-width of the reported band around the forecast, in standard deviations of the
    /// training residuals. Default 3.
    pub band_sigma: f64,
    /// Span, in points, of the exponentially weighted moving average of the absolute residuals
    /// that is the score (telemanom's smoothed errors): a forecast that stays off for several
    /// points outscores one noisy point. 0 or 1 scores the raw residual (the Flask seed's
    /// score, as the `lstm-residual` preset does). Default 6 (measured on SMAP, fit on
    /// `train/`, score `test/`: event F1 0.37 raw, 0.47 at 5-6, 0.41 at 30).
    pub smooth: usize,
    /// Streaming only: points collected before the first fit (scores are NaN until then).
    /// Default 256.
    pub online_warmup: usize,
    /// Streaming only: fit again, on every point seen so far, each time their count doubles
    /// (at 2, 4, 8, ... × `online_warmup`). Default true.
    pub online_refit: bool,
    /// Read the series' covariates (extra columns such as command flags, e.g. `tsad detect
    /// --covariate-columns`) as inputs beside the value: each step of the window is then
    /// [value, covariate 1, ..., covariate k], and the network still forecasts the value
    /// alone. 0/1 columns are fed as they are, others scaled by their training mean and
    /// standard deviation. The fitted model records their names and needs the same ones to
    /// score. Streaming ignores covariates (it reads values only). Default true (used when the
    /// series has any).
    pub covariates: bool,
}

impl Default for LstmForecastParams {
    fn default() -> Self {
        LstmForecastParams {
            window: 48,
            hidden: 32,
            layers: 1,
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
            smooth: 6,
            online_warmup: 256,
            online_refit: true,
            covariates: true,
        }
    }
}

impl LstmForecastParams {
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
        self.network_with(0)
    }

    /// The network reading the value and `covariates` more features per step.
    fn network_with(&self, covariates: usize) -> Network {
        Network::forecaster_with(self.window, self.hidden, self.layers, 1 + covariates)
    }
}

/// One-step-ahead LSTM forecaster; scores each point by how far it lands from its forecast.
///
/// - **Catches** points the recent past does not predict: spikes, level shifts, broken
///   seasonality (the Flask seed's `lstm-residual` method).
/// - **Model**: `layers` stacked LSTMs over the last `window` robustly scaled values (median /
///   IQR of the training series), then a linear layer to the next value; trained with Adam on
///   mini-batches, early stopping on windows held out from every tenth of the series.
/// - **Score**: `|actual - forecast|` in the series' units, averaged over the last points with
///   weights that halve about every `smooth / 3` points (an exponentially weighted moving
///   average of span `smooth`; 0 or 1: the raw residual); NaN for the first `window` points
///   (no full past) and at missing points. The Flask seed's rule is the raw residual with the
///   `sigma` threshold (k = 3): the `lstm-residual` preset with `--threshold sigma`.
/// - **Expected / band**: the forecast, and forecast ± `band_sigma` × the standard deviation of
///   the training residuals.
/// - **Missing values**: linearly interpolated for the network's input; windows whose next
///   value is missing are not trained on; scores are NaN there.
/// - **Covariates** (`covariates`, on by default): when the series carries covariates, every
///   step of the window also reads them (telemanom's command flags), so a change the
///   covariates announce is forecast rather than flagged. The model records their names and
///   scaling, and scoring a series without them is an error.
/// - **Streaming** (`online`): collects `online_warmup` points, fits on them, then scores each
///   new point from its trailing window alone (the batch score of a model fitted on the points
///   before it); with `online_refit` it fits again on everything seen each time the count
///   doubles. Training uses `threads`, else one thread (streams usually run side by side).
/// - **Minimum length**: `window + 1`. **Cost**: O(n·window·hidden²) per epoch over at most
///   `max_train_windows` windows, and one forward pass per point to score.
/// - **Reference**: Malhotra et al., "Long Short Term Memory Networks for Anomaly Detection in
///   Time Series", ESANN 2015.
#[derive(Debug, Clone)]
pub struct LstmForecastDetector {
    params: LstmForecastParams,
}

impl LstmForecastDetector {
    /// Validates `params`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming every field out of range.
    pub fn new(params: LstmForecastParams) -> Result<Self, Error> {
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
            params.layers,
            params.batch_size,
        );
        p.check(
            params.band_sigma.is_finite() && params.band_sigma >= 0.0,
            "band_sigma",
            format!("must be a finite number >= 0, got {}", params.band_sigma),
        );
        common::check_warmup(&mut p, params.online_warmup, params.window);
        p.finish()?;
        Ok(LstmForecastDetector { params })
    }

    /// The validated parameters.
    pub fn params(&self) -> &LstmForecastParams {
        &self.params
    }
}

impl Detector for LstmForecastDetector {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn min_len(&self) -> usize {
        self.params.window + 1
    }

    fn fit(&self, train: &Series, ctx: &FitContext) -> Result<Box<dyn Model>, Error> {
        let values = common::values_of(train, self.min_len())?;
        let used = if self.params.covariates {
            train.covariates()
        } else {
            &[]
        };
        let covariates: Vec<CovariateScaler> = used.iter().map(CovariateScaler::fit).collect();
        let net = self.params.network_with(covariates.len());
        let trained = {
            let scaler = Scaler::fit(values)?;
            let input = common::model_input(values, &scaler)?;
            let columns: Vec<&[f64]> = used.iter().map(|c| c.values()).collect();
            let input = common::interleave(&input, &columns, &covariates);
            let w = self.params.window;
            common::train_prepared(&self.params.hyper(), &net, scaler, input, ctx, |s| {
                values[s + w].is_finite()
            })?
        };
        let residual_std = residual_std(&net, &trained, values);
        Ok(Box::new(LstmForecastModel {
            params: self.params.clone(),
            net,
            weights: trained.weights,
            scaler: trained.scaler,
            covariates,
            residual_std,
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
        let params = LstmForecastDetector::new(saved)
            .map_err(|e| Error::Load {
                reason: format!("saved parameters are invalid: {e}"),
            })?
            .params;
        let net = params.network_with(config.covariates.len());
        let weights = common::load_weights(&net, &state.bytes)?;
        Ok(Box::new(LstmForecastModel {
            params,
            net,
            weights,
            scaler: config.scaler,
            covariates: config.covariates,
            residual_std: config.residual_std,
            summary: config.summary,
        }))
    }
}

impl Trainable for LstmForecastDetector {
    fn network(&self) -> Network {
        self.params.network()
    }

    /// Trains on every window whose next value is known.
    fn train(&self, values: &[f64], ctx: &FitContext) -> Result<Trained, Error> {
        let w = self.params.window;
        common::train_network(&self.params.hyper(), &self.network(), values, ctx, |s| {
            values[s + w].is_finite()
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedConfig {
    params: LstmForecastParams,
    scaler: Scaler,
    /// The covariates the network reads, in input order (absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    covariates: Vec<CovariateScaler>,
    residual_std: f64,
    summary: Summary,
}

/// A fitted [`LstmForecastDetector`].
#[derive(Debug)]
struct LstmForecastModel {
    params: LstmForecastParams,
    net: Network,
    weights: Vec<f32>,
    scaler: Scaler,
    /// The covariates the network reads after the value, in order.
    covariates: Vec<CovariateScaler>,
    residual_std: f64,
    summary: Summary,
}

impl LstmForecastModel {
    /// The network's input for `series`: its scaled values and, when the model was fitted
    /// with covariates, the series' covariates of the same names.
    fn input(&self, series: &Series, values: &[f64]) -> Result<Vec<f32>, Error> {
        let input = common::model_input(values, &self.scaler)?;
        if self.covariates.is_empty() {
            return Ok(input);
        }
        let names = || {
            self.covariates
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        let has = series.covariate_names();
        let missing: Vec<&str> = self
            .covariates
            .iter()
            .map(|c| c.name.as_str())
            .filter(|n| !has.contains(n))
            .collect();
        if !missing.is_empty() {
            let reason = if has.is_empty() {
                format!(
                    "the model was fitted with covariates {}; this series has none (read it \
                     with the same covariate columns)",
                    names()
                )
            } else {
                format!(
                    "the model was fitted with covariates {}; this series lacks {} (it has {})",
                    names(),
                    missing.join(","),
                    has.join(",")
                )
            };
            return Err(Error::invalid_series(reason));
        }
        let columns: Vec<&[f64]> = self
            .covariates
            .iter()
            .filter_map(|c| series.covariates().iter().find(|s| s.name() == c.name))
            .map(|c| c.values())
            .collect();
        Ok(common::interleave(&input, &columns, &self.covariates))
    }
}

/// Forecasts (in the series' units) for every point from index `window` on; NaN before.
fn forecasts(
    net: &Network,
    weights: &[f32],
    input: &[f32],
    scaler: &Scaler,
    threads: usize,
    ctx: &FitContext,
) -> Result<Vec<f64>, Error> {
    let points = input.len() / net.channels;
    let mut out = vec![f64::NAN; points];
    let pool = pool(threads)?;
    let w = net.window;
    predict_with(
        net,
        weights,
        input,
        0..net.windows_in(points),
        threads,
        &pool,
        |starts, y| {
            for (&s, &v) in starts.iter().zip(y) {
                out[s + w] = scaler.unscale(f64::from(v));
            }
        },
        ctx,
    )?;
    Ok(out)
}

/// Standard deviation of `actual - forecast` over the training and validation windows.
fn residual_std(net: &Network, t: &Trained, values: &[f64]) -> f64 {
    let Ok(pool) = pool(t.threads) else {
        return 0.0;
    };
    let w = net.window;
    let mut res = Vec::with_capacity(t.plan.train.len() + t.plan.val.len());
    let starts = t.plan.train.iter().chain(&t.plan.val).copied();
    predict(
        net,
        &t.weights,
        &t.input,
        starts,
        t.threads,
        &pool,
        |starts, y| {
            for (&s, &v) in starts.iter().zip(y) {
                res.push(values[s + w] - t.scaler.unscale(f64::from(v)));
            }
        },
    );
    // 0 rather than NaN when nothing could be measured, so the band stays drawable and the
    // state stays valid JSON.
    stats::mean_std(&res).map_or(0.0, |(_, sd)| sd)
}

impl Model for LstmForecastModel {
    fn score(&self, series: &Series) -> Result<Scores, Error> {
        self.score_with(series, &FitContext::new())
    }

    fn score_with(&self, series: &Series, ctx: &FitContext) -> Result<Scores, Error> {
        let values = common::values_of(series, self.params.window + 1)?;
        let input = self.input(series, values)?;
        let threads = common::threads(self.params.threads, None);
        let expected = forecasts(&self.net, &self.weights, &input, &self.scaler, threads, ctx)?;
        let mut ewma = common::Ewma::new(self.params.smooth);
        let score: Vec<f64> = values
            .iter()
            .zip(&expected)
            .map(|(v, f)| ewma.push((v - f).abs()))
            .collect();
        let half = self.params.band_sigma * self.residual_std;
        let lower = expected.iter().map(|f| f - half).collect();
        let upper = expected.iter().map(|f| f + half).collect();
        let mut report = json!({
            "kind": KIND,
            "score": "absolute forecast residual, in the series' units",
            "residual_std": self.residual_std,
            "scaler": self.scaler,
            "training": self.summary,
        });
        if !self.covariates.is_empty() {
            report["covariates"] = json!(self.covariates);
        }
        Ok(Scores::new(score)
            .with_expected(expected)
            .with_band(lower, upper)
            .with_report(report))
    }

    fn save(&self) -> Result<ModelState, Error> {
        let config = serde_json::to_value(SavedConfig {
            params: self.params.clone(),
            scaler: self.scaler,
            covariates: self.covariates.clone(),
            residual_std: self.residual_std,
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
