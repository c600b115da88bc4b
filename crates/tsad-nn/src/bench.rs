//! The reference training benchmark of DESIGN.md section 6: one epoch of the autoencoder or
//! forecaster on a 20,000-point noisy sine, timed. `bench/pytorch_lstm.py` trains the same
//! models on the same data in PyTorch.

use crate::Loss;
use crate::model::Network;
use crate::train::{TrainOptions, Trainer, pool};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::time::Instant;
use tsad_core::Error;

/// Which reference model to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BenchModel {
    /// LSTM(1->64) -> Linear(64->16) latent repeated 64 times -> LSTM(16->64) -> Linear(64->1).
    Autoencoder,
    /// LSTM(1->64) -> Linear(64->1) on the last step.
    Forecast,
}

impl std::str::FromStr for BenchModel {
    type Err = Error;

    /// Parses `autoencoder` (or `ae`) and `forecast` (or `forecaster`).
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "autoencoder" | "ae" => Ok(BenchModel::Autoencoder),
            "forecast" | "forecaster" => Ok(BenchModel::Forecast),
            other => Err(Error::invalid_parameter(
                "model",
                format!("must be `autoencoder` or `forecast`, got `{other}`"),
            )),
        }
    }
}

/// Window length of the reference configuration.
pub const WINDOW: usize = 64;
/// Hidden width of the reference configuration.
pub const HIDDEN: usize = 64;
/// Latent width of the reference autoencoder.
pub const LATENT: usize = 16;
/// Batch size of the reference configuration.
pub const BATCH: usize = 64;
/// Adam learning rate of the reference configuration.
pub const LEARNING_RATE: f32 = 1e-3;
/// Batches trained, untimed, before the timed epoch (page faults, pool start-up).
pub const WARMUP_BATCHES: usize = 5;

/// What one benchmark run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    /// The model trained.
    pub model: BenchModel,
    /// Worker threads used.
    pub threads: usize,
    /// Points in the series.
    pub points: usize,
    /// Training windows (stride 1).
    pub windows: usize,
    /// Optimiser steps in the epoch.
    pub batches: usize,
    /// Wall-clock seconds of the timed epoch.
    pub epoch_seconds: f64,
    /// Windows trained per second.
    pub windows_per_second: f64,
    /// CPU seconds all threads of this process spent during the epoch (Linux only): on a
    /// busy machine this moves less than the wall-clock time; it includes time spent
    /// spinning while waiting for work.
    pub cpu_seconds: Option<f64>,
    /// Mean MSE over the epoch (a sanity check that it trained).
    pub mean_loss: f64,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tsad-nn {:?} threads={} windows={} batches={} epoch_seconds={:.3} \
             windows_per_second={:.0} cpu_seconds={} mean_loss={:.5}",
            self.model,
            self.threads,
            self.windows,
            self.batches,
            self.epoch_seconds,
            self.windows_per_second,
            self.cpu_seconds
                .map_or("n/a".to_owned(), |c| format!("{c:.3}")),
            self.mean_loss
        )
    }
}

/// The benchmark series: `x[t] = sin(2πt/50) + 0.2·(u - 0.5)`, `u` uniform from `seed`.
pub fn series(points: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..points)
        .map(|t| {
            let u: f32 = rng.random_range(0.0..1.0);
            (std::f32::consts::TAU * t as f32 / 50.0).sin() + 0.2 * (u - 0.5)
        })
        .collect()
}

/// Trains one epoch of the reference `model` on a `points`-point series with `threads`
/// workers (windows of 64, stride 1, batch 64, Adam 1e-3, MSE, shuffled, no clipping), after
/// [`WARMUP_BATCHES`] untimed batches, and reports the epoch's wall-clock time.
///
/// # Errors
///
/// [`Error::InvalidParameter`] when `threads` is 0 or the series is too short for the
/// warm-up batches (fewer than 384 points);
/// [`Error::Backend`] when the thread pool cannot be built.
pub fn run(
    model: BenchModel,
    threads: usize,
    points: usize,
    seed: u64,
) -> Result<BenchReport, Error> {
    if threads == 0 {
        return Err(Error::invalid_parameter("threads", "must be at least 1"));
    }
    let net = match model {
        BenchModel::Autoencoder => Network::autoencoder(WINDOW, HIDDEN, 1, LATENT),
        BenchModel::Forecast => Network::forecaster(WINDOW, HIDDEN, 1),
    };
    let windows = net.windows_in(points);
    let need = WARMUP_BATCHES * BATCH;
    if windows < need {
        return Err(Error::invalid_parameter(
            "points",
            format!(
                "need at least {} points (the warm-up batches), got {points}",
                points - windows + need
            ),
        ));
    }
    let x = series(points, seed);
    let starts: Vec<usize> = (0..windows).collect();
    let pool = pool(threads)?;
    let mut p = net.init(seed);
    let opts = TrainOptions {
        epochs: 1,
        batch_size: BATCH,
        learning_rate: LEARNING_RATE,
        seed,
        patience: 0,
        loss: Loss::Mse,
        grad_clip: None,
        stage: "bench",
    };
    let mut trainer = Trainer::new(&net, opts);
    for b in 0..WARMUP_BATCHES {
        trainer.step(&pool, &mut p, &x, &starts[b * BATCH..(b + 1) * BATCH]);
    }
    let cpu_before = process_cpu_seconds();
    let started = Instant::now();
    let log = trainer.fit(
        &pool,
        &mut p,
        &x,
        &starts,
        &[],
        &tsad_core::FitContext::new(),
    )?;
    let epoch_seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = process_cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
    Ok(BenchReport {
        model,
        threads,
        points,
        windows,
        batches: windows.div_ceil(BATCH),
        epoch_seconds,
        windows_per_second: windows as f64 / epoch_seconds,
        cpu_seconds,
        mean_loss: log.train_loss.first().copied().unwrap_or(f64::NAN),
    })
}

/// CPU time of every live thread of this process, from `/proc/self/task/*/schedstat`
/// (nanoseconds on CPU); `None` where that does not exist.
fn process_cpu_seconds() -> Option<f64> {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(ns as f64 * 1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_parse_and_tiny_runs_report() {
        assert_eq!("AE".parse::<BenchModel>().unwrap(), BenchModel::Autoencoder);
        assert_eq!(
            "forecast".parse::<BenchModel>().unwrap(),
            BenchModel::Forecast
        );
        assert!("gru".parse::<BenchModel>().is_err());
        assert!(run(BenchModel::Forecast, 0, 1000, 1).is_err());
        assert!(run(BenchModel::Forecast, 1, 100, 1).is_err());
        // Smallest series that makes the warm-up batches plus an epoch: fast, not timed.
        let r = run(BenchModel::Forecast, 2, 64 + 6 * 64, 1).unwrap();
        assert_eq!((r.windows, r.batches, r.threads), (384, 6, 2));
        assert!(r.mean_loss.is_finite() && r.epoch_seconds > 0.0);
    }
}
