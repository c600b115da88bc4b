//! What both detectors share: robust scaling, the missing-value rule, the window plan
//! (stride, validation split), parameter checks, thread counts, and safetensors I/O.

use crate::Loss;
use crate::model::Network;
use crate::train::{TrainLog, TrainOptions, Trainer, pool};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tsad_core::{Covariate, Error, FitContext, Series, stats};

/// The hyper-parameters both detectors share, taken from their `Params`.
#[derive(Debug, Clone)]
pub(crate) struct Hyper {
    pub(crate) epochs: usize,
    pub(crate) batch_size: usize,
    pub(crate) learning_rate: f64,
    pub(crate) seed: u64,
    pub(crate) validation_fraction: f64,
    pub(crate) patience: usize,
    pub(crate) max_train_windows: usize,
    pub(crate) threads: Option<usize>,
    pub(crate) loss: Loss,
    pub(crate) grad_clip: f64,
}

/// Training facts kept with a fitted model and shown in its report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Summary {
    pub(crate) log: TrainLog,
    pub(crate) train_windows: usize,
    pub(crate) val_windows: usize,
    pub(crate) stride: usize,
    pub(crate) threads: usize,
}

/// A trained network with what scoring needs.
#[derive(Debug, Clone)]
pub(crate) struct Trained {
    pub(crate) weights: Vec<f32>,
    pub(crate) scaler: Scaler,
    /// The scaled, gap-filled training series.
    pub(crate) input: Vec<f32>,
    pub(crate) plan: WindowPlan,
    pub(crate) log: TrainLog,
    pub(crate) threads: usize,
}

/// Scales `values`, plans the windows (`keep` filters starts), and trains `net` on them.
pub(crate) fn train_network(
    h: &Hyper,
    net: &Network,
    values: &[f64],
    ctx: &FitContext,
    keep: impl Fn(usize) -> bool,
) -> Result<Trained, Error> {
    ctx.check_cancelled()?;
    let scaler = Scaler::fit(values)?;
    let input = model_input(values, &scaler)?;
    train_prepared(h, net, scaler, input, ctx, keep)
}

/// Trains `net` on `input`, the prepared series of `net.channels` features per point whose
/// value feature `scaler` scaled.
pub(crate) fn train_prepared(
    h: &Hyper,
    net: &Network,
    scaler: Scaler,
    input: Vec<f32>,
    ctx: &FitContext,
    keep: impl Fn(usize) -> bool,
) -> Result<Trained, Error> {
    ctx.check_cancelled()?;
    let plan = plan_windows(
        net.windows_in(input.len() / net.channels),
        h.max_train_windows,
        h.validation_fraction,
        keep,
    );
    if plan.train.is_empty() {
        return Err(Error::invalid_series(
            "no window has a known value to learn from",
        ));
    }
    let threads = threads(h.threads, ctx.threads());
    let pool = pool(threads)?;
    let mut weights = net.init(h.seed);
    let opts = TrainOptions {
        epochs: h.epochs,
        batch_size: h.batch_size,
        learning_rate: h.learning_rate as f32,
        seed: h.seed,
        patience: h.patience,
        loss: h.loss,
        grad_clip: (h.grad_clip > 0.0).then_some(h.grad_clip as f32),
        stage: "train",
    };
    let log =
        Trainer::new(net, opts).fit(&pool, &mut weights, &input, &plan.train, &plan.val, ctx)?;
    Ok(Trained {
        weights,
        scaler,
        input,
        plan,
        log,
        threads,
    })
}

/// An exponentially weighted moving average of span `span` (weight `2 / (span + 1)` on the
/// newest value) over the finite values pushed; a missing value passes through as NaN and
/// leaves the average as it was. Span 0 or 1 returns each value unchanged.
#[derive(Debug, Clone)]
pub(crate) struct Ewma {
    alpha: f64,
    average: Option<f64>,
}

impl Ewma {
    pub(crate) fn new(span: usize) -> Self {
        Ewma {
            alpha: 2.0 / (span.max(1) as f64 + 1.0),
            average: None,
        }
    }

    /// The average including `x` (NaN when `x` is not finite).
    pub(crate) fn push(&mut self, x: f64) -> f64 {
        if !x.is_finite() {
            return f64::NAN;
        }
        // Span 0 or 1: the value itself, bit for bit (`a + 1·(x - a)` may round).
        if self.alpha >= 1.0 {
            return x;
        }
        let next = match self.average {
            Some(a) => a + self.alpha * (x - a),
            None => x,
        };
        self.average = Some(next);
        next
    }
}

/// Robust scaling `z = (x - center) / scale`, fit on the training series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Scaler {
    /// Median of the finite training values.
    pub(crate) center: f64,
    /// Interquartile range of the finite training values (falling back to 1.4826·MAD, then
    /// the standard deviation, then 1 when the data are constant).
    pub(crate) scale: f64,
}

impl Scaler {
    pub(crate) fn fit(values: &[f64]) -> Result<Self, Error> {
        let center = stats::median(values)
            .ok_or_else(|| Error::invalid_series("the series has no finite value"))?;
        let iqr = match (stats::quantile(values, 0.25), stats::quantile(values, 0.75)) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        };
        let tiny = 1e-12 * center.abs().max(1.0);
        let mut scale = iqr;
        if scale <= tiny {
            scale = stats::median_mad(values).map_or(0.0, |(_, mad)| mad * stats::MAD_TO_SIGMA);
        }
        if scale <= tiny {
            scale = stats::mean_std(values).map_or(0.0, |(_, sd)| sd);
        }
        if scale <= tiny || !scale.is_finite() {
            scale = 1.0;
        }
        Ok(Scaler { center, scale })
    }

    pub(crate) fn unscale(&self, z: f64) -> f64 {
        z * self.scale + self.center
    }
}

/// The model's input: the series scaled, with missing values filled by linear interpolation
/// between the nearest finite neighbours (the first/last finite value at the ends), as `f32`.
pub(crate) fn model_input(values: &[f64], scaler: &Scaler) -> Result<Vec<f32>, Error> {
    let first = values
        .iter()
        .position(|v| v.is_finite())
        .ok_or_else(|| Error::invalid_series("the series has no finite value"))?;
    let mut out = vec![0.0f32; values.len()];
    let z = |v: f64| ((v - scaler.center) / scaler.scale) as f32;
    let mut prev: Option<usize> = None;
    for i in 0..values.len() {
        if values[i].is_finite() {
            if let Some(p) = prev {
                // Fill the gap p+1..i linearly.
                let (a, b) = (values[p], values[i]);
                for (k, slot) in out.iter_mut().enumerate().take(i).skip(p + 1) {
                    let w = (k - p) as f64 / (i - p) as f64;
                    *slot = z(a + (b - a) * w);
                }
            }
            out[i] = z(values[i]);
            prev = Some(i);
        }
    }
    let first_z = z(values[first]);
    out[..first].fill(first_z);
    if let Some(p) = prev {
        let last_z = out[p];
        out[p + 1..].fill(last_z);
    }
    Ok(out)
}

/// How one covariate is fed to the network: `(x - mean) / scale`, fitted on the training
/// series. A 0/1 column (flags) is fed as it is (mean 0, scale 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CovariateScaler {
    /// The covariate's name; scoring looks it up by this name.
    pub(crate) name: String,
    /// Mean of its finite training values (0 for flags).
    pub(crate) mean: f64,
    /// Their standard deviation (1 for flags, and when it is 0).
    pub(crate) scale: f64,
}

impl CovariateScaler {
    pub(crate) fn fit(covariate: &Covariate) -> Self {
        let v = covariate.values();
        let flags = v.iter().all(|x| x.is_nan() || *x == 0.0 || *x == 1.0);
        let (mean, scale) = match stats::mean_std(v) {
            Some((mean, sd)) if !flags => {
                let tiny = 1e-12 * mean.abs().max(1.0);
                (mean, if sd > tiny && sd.is_finite() { sd } else { 1.0 })
            }
            _ => (0.0, 1.0),
        };
        CovariateScaler {
            name: covariate.name().to_owned(),
            mean,
            scale,
        }
    }
}

/// The network's input with covariates: per point, the value feature of `values` (as
/// [`model_input`] gives it) followed by each covariate scaled by its scaler; a missing
/// covariate value is fed as 0 (its training mean; "off" for a flag).
pub(crate) fn interleave(
    values: &[f32],
    covariates: &[&[f64]],
    scalers: &[CovariateScaler],
) -> Vec<f32> {
    let c = 1 + covariates.len();
    let mut out = Vec::with_capacity(values.len() * c);
    for (i, &v) in values.iter().enumerate() {
        out.push(v);
        for (x, s) in covariates.iter().zip(scalers) {
            let x = x[i];
            out.push(if x.is_nan() {
                0.0
            } else {
                ((x - s.mean) / s.scale) as f32
            });
        }
    }
    out
}

/// Which windows to train and validate on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WindowPlan {
    pub(crate) train: Vec<usize>,
    pub(crate) val: Vec<usize>,
    /// Distance between consecutive window starts.
    pub(crate) stride: usize,
}

/// Contiguous stretches of the series that each give up their last `validation_fraction` of
/// windows to validation.
const VALIDATION_BLOCKS: usize = 10;

/// Spreads at most `max_windows` window starts evenly (stride `ceil(n / max)`) over the
/// `count` usable starts, drops those `keep` rejects, and holds out the last
/// `validation_fraction` of each of [`VALIDATION_BLOCKS`] consecutive stretches of them for
/// validation. Validation so samples the whole series and training sees every part of it:
/// holding out only the end would leave the most recent data unlearned, and a model fit on a
/// whole series would then score its end as anomalous. Validation is skipped when it would
/// leave fewer than 2 windows on either side.
pub(crate) fn plan_windows(
    count: usize,
    max_windows: usize,
    validation_fraction: f64,
    keep: impl Fn(usize) -> bool,
) -> WindowPlan {
    let stride = count.div_ceil(max_windows.max(1)).max(1);
    let starts: Vec<usize> = (0..count).step_by(stride).filter(|&s| keep(s)).collect();
    let len = starts.len();
    let (mut train, mut val) = (Vec::with_capacity(len), Vec::new());
    for b in 0..VALIDATION_BLOCKS {
        let block = &starts[b * len / VALIDATION_BLOCKS..(b + 1) * len / VALIDATION_BLOCKS];
        let split = block.len() - (block.len() as f64 * validation_fraction).round() as usize;
        train.extend_from_slice(&block[..split]);
        val.extend_from_slice(&block[split..]);
    }
    if val.len() < 2 || train.len() < 2 {
        return WindowPlan {
            train: starts,
            val: Vec::new(),
            stride,
        };
    }
    WindowPlan { train, val, stride }
}

/// Collects every invalid parameter before failing (STYLE.md: report all problems).
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<(String, String)>);

impl Problems {
    pub(crate) fn check(&mut self, ok: bool, name: &str, reason: impl Into<String>) {
        if !ok {
            self.0.push((name.to_owned(), reason.into()));
        }
    }

    /// `Ok` when nothing was wrong; otherwise one [`Error::InvalidParameter`] naming every
    /// bad field (comma-separated) with every reason (semicolon-separated).
    pub(crate) fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = self.0.iter().map(|(n, _)| n.as_str()).collect();
        let reasons: Vec<String> = self.0.iter().map(|(n, r)| format!("`{n}` {r}")).collect();
        Err(Error::invalid_parameter(
            names.join(", "),
            reasons.join("; "),
        ))
    }
}

/// Checks the fields both detectors have.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_common(
    p: &mut Problems,
    window: usize,
    hidden: usize,
    layers: usize,
    epochs: usize,
    batch_size: usize,
    learning_rate: f64,
    validation_fraction: f64,
    max_train_windows: usize,
    threads: Option<usize>,
    grad_clip: f64,
) {
    p.check(
        (2..=4096).contains(&window),
        "window",
        format!("must be in 2..=4096, got {window}"),
    );
    p.check(
        (1..=1024).contains(&hidden),
        "hidden",
        format!("must be in 1..=1024, got {hidden}"),
    );
    p.check(
        (1..=8).contains(&layers),
        "layers",
        format!("must be in 1..=8, got {layers}"),
    );
    p.check(epochs >= 1, "epochs", "must be at least 1");
    p.check(
        (1..=65_536).contains(&batch_size),
        "batch_size",
        format!("must be in 1..=65536, got {batch_size}"),
    );
    p.check(
        learning_rate.is_finite() && learning_rate > 0.0 && learning_rate <= 1.0,
        "learning_rate",
        format!("must be in (0, 1], got {learning_rate}"),
    );
    p.check(
        (0.0..0.9).contains(&validation_fraction),
        "validation_fraction",
        format!("must be in [0, 0.9), got {validation_fraction}"),
    );
    p.check(
        max_train_windows >= 1,
        "max_train_windows",
        "must be at least 1",
    );
    p.check(
        threads.is_none_or(|t| (1..=256).contains(&t)),
        "threads",
        "must be in 1..=256 when given (omit it for all cores)",
    );
    p.check(
        grad_clip.is_finite() && grad_clip >= 0.0,
        "grad_clip",
        format!("must be a finite number >= 0 (0 turns clipping off), got {grad_clip}"),
    );
}

/// Checks the streaming warm-up leaves at least two windows to train on.
pub(crate) fn check_warmup(p: &mut Problems, warmup: usize, window: usize) {
    p.check(
        warmup >= window + 2,
        "online_warmup",
        format!(
            "must be at least window + 2 = {} (two windows to train on), got {warmup}",
            window + 2
        ),
    );
}

/// Largest training scratch space a configuration may need, in bytes.
pub(crate) const MAX_TRAIN_BYTES: f64 = 4.0 * (1u64 << 30) as f64;

/// Checks that the per-chunk workspaces of a batch fit in [`MAX_TRAIN_BYTES`]: every LSTM
/// layer keeps about `11·hidden` floats per step and window (gates, cell, tanh(cell), hidden
/// state, gate gradients), so a large window × hidden × batch would otherwise abort on
/// allocation instead of failing cleanly.
pub(crate) fn check_memory(
    p: &mut Problems,
    window: usize,
    hidden: usize,
    lstm_layers: usize,
    batch_size: usize,
) {
    let rows = batch_size.min(crate::train::CHUNK) as f64;
    let chunks = batch_size.div_ceil(crate::train::CHUNK) as f64;
    let per_chunk =
        (window as f64) * rows * (hidden as f64) * (11.0 * lstm_layers as f64 + 2.0) * 4.0;
    let total = per_chunk * chunks;
    p.check(
        total <= MAX_TRAIN_BYTES,
        "batch_size, window, hidden",
        format!(
            "together need about {:.1} GiB of training memory (at most {:.0} GiB); lower one of them",
            total / f64::from(1u32 << 30),
            MAX_TRAIN_BYTES / f64::from(1u32 << 30)
        ),
    );
}

/// Threads for a fit: the parameter, else the context's, else all cores.
pub(crate) fn threads(param: Option<usize>, ctx: Option<usize>) -> usize {
    param
        .or(ctx)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// The weights as safetensors, one `F32` tensor per entry of the network's layout.
pub(crate) fn save_weights(net: &Network, p: &[f32]) -> Result<Vec<u8>, Error> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = net
        .layout
        .tensors
        .iter()
        .map(|t| {
            let data = p[t.range.clone()]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            (t.name.clone(), t.shape.clone(), data)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, data)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                .map(|v| (name.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::backend)?;
    let meta: HashMap<String, String> =
        HashMap::from([("format".to_owned(), "tsad-nn".to_owned())]);
    safetensors::serialize(views, Some(meta)).map_err(Error::backend)
}

/// Reads weights saved by [`save_weights`], checking every tensor's presence, type and shape
/// against the network the saved parameters describe.
pub(crate) fn load_weights(net: &Network, bytes: &[u8]) -> Result<Vec<f32>, Error> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| Error::Load {
        reason: format!("the weights are not a valid safetensors file: {e}"),
    })?;
    let mut p = vec![0.0f32; net.layout.len];
    for t in &net.layout.tensors {
        let view = st.tensor(&t.name).map_err(|_| Error::Load {
            reason: format!("tensor `{}` is missing from the weights", t.name),
        })?;
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(Error::Load {
                reason: format!("tensor `{}` is {:?}, expected F32", t.name, view.dtype()),
            });
        }
        if view.shape() != t.shape.as_slice() {
            return Err(Error::Load {
                reason: format!(
                    "tensor `{}` has shape {:?} but the saved parameters need {:?}",
                    t.name,
                    view.shape(),
                    t.shape
                ),
            });
        }
        for (dst, b) in p[t.range.clone()]
            .iter_mut()
            .zip(view.data().chunks_exact(4))
        {
            *dst = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }
    let expected = net.layout.tensors.len();
    if st.len() != expected {
        return Err(Error::Load {
            reason: format!("the weights hold {} tensors, expected {expected}", st.len()),
        });
    }
    Ok(p)
}

/// Checks a saved state's kind and version.
pub(crate) fn check_state(
    state: &tsad_core::ModelState,
    kind: &str,
    version: u32,
) -> Result<(), Error> {
    if state.kind != kind {
        return Err(Error::Load {
            reason: format!("saved model is of kind `{}`, expected `{kind}`", state.kind),
        });
    }
    if state.version != version {
        return Err(Error::Load {
            reason: format!(
                "`{kind}` format version {} is not supported (this build reads version {version})",
                state.version
            ),
        });
    }
    Ok(())
}

/// The score smoothing a saved model was calibrated with: its saved `smooth`, or 0 (each
/// point's score alone) for a model saved before `smooth` existed, whose calibration was fitted
/// on raw scores; the default of today would silently change what its thresholds mean.
pub(crate) fn saved_smooth(state: &tsad_core::ModelState, parsed: usize) -> usize {
    if state.config["params"].get("smooth").is_some() {
        parsed
    } else {
        0
    }
}

/// Takes the values of `series` after checking it is long enough.
pub(crate) fn values_of(series: &Series, min_len: usize) -> Result<&[f64], Error> {
    if series.len() < min_len {
        return Err(Error::NotEnoughData {
            needed: min_len,
            got: series.len(),
        });
    }
    Ok(series.values())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ewma_weights_recent_values_and_skips_missing_ones() {
        let mut raw = Ewma::new(1);
        assert_eq!(raw.push(0.1), 0.1);
        // 0.1 + (0.3 - 0.1) rounds to 0.30000000000000004: the raw path must not.
        assert_eq!(raw.push(0.3), 0.3);
        assert_eq!(Ewma::new(0).push(0.7), 0.7);
        // Span 3: weight 0.5 on the newest value.
        let mut e = Ewma::new(3);
        assert!(e.push(f64::NAN).is_nan());
        assert_eq!(e.push(4.0), 4.0);
        assert_eq!(e.push(8.0), 6.0);
        assert!(e.push(f64::NAN).is_nan());
        assert_eq!(e.push(2.0), 4.0);
    }

    #[test]
    fn interpolation_fills_gaps_and_ends() {
        let s = Scaler {
            center: 0.0,
            scale: 1.0,
        };
        let v = [f64::NAN, 1.0, f64::NAN, f64::NAN, 4.0, f64::NAN];
        assert_eq!(
            model_input(&v, &s).unwrap(),
            vec![1.0, 1.0, 2.0, 3.0, 4.0, 4.0]
        );
        assert!(model_input(&[f64::NAN], &s).is_err());
    }

    #[test]
    fn scaler_is_robust_and_never_zero() {
        let cases: &[(&str, Vec<f64>, f64, f64)] = &[
            ("iqr", vec![1.0, 2.0, 3.0, 4.0, 5.0, 1000.0], 3.5, 2.5),
            ("constant", vec![5.0; 10], 5.0, 1.0),
        ];
        for (name, v, center, scale) in cases {
            let s = Scaler::fit(v).unwrap();
            assert_eq!((s.center, s.scale), (*center, *scale), "{name}");
        }
    }

    #[test]
    fn window_plan_strides_and_splits() {
        let p = plan_windows(100, 10, 0.2, |_| true);
        assert_eq!(p.stride, 10);
        assert_eq!(p.train, (0..100).step_by(10).collect::<Vec<_>>());
        assert!(
            p.val.is_empty(),
            "blocks of one window keep it for training"
        );
        let p = plan_windows(1000, 100, 0.2, |_| true);
        assert_eq!(p.val.len(), 20);
        assert_eq!(p.train.len() + p.val.len(), 100);
        // The last 2 of every 10 starts, from the first stretch to the last.
        assert_eq!(&p.val[..4], &[80, 90, 180, 190]);
        assert_eq!(p.val.last(), Some(&990));
        let small = plan_windows(3, 100, 0.2, |s| s != 1);
        assert_eq!((small.train, small.val), (vec![0, 2], vec![]));
    }
}
