//! Scores a 1,000,000-point series (or `-- N` points) through `lstm_autoencoder` (2 epochs,
//! default `max_train_windows`) and prints the time; measure memory with
//! `cargo build --release -p tsad-nn --example million &&
//! /usr/bin/time -v target/release/examples/million`.

use std::time::Instant;
use tsad_core::{Detector, FitContext, Series};
use tsad_nn::{LstmAutoencoderDetector, LstmAutoencoderParams};

fn main() -> Result<(), tsad_core::Error> {
    let n = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let values: Vec<f64> = (0..n)
        .map(|i| {
            let t = i as f64;
            (std::f64::consts::TAU * t / 50.0).sin() + 0.1 * (t * 12.9898).sin().fract()
        })
        .collect();
    let series = Series::from_values(values)?;
    let epochs = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2);
    let detector = LstmAutoencoderDetector::new(LstmAutoencoderParams {
        epochs,
        ..LstmAutoencoderParams::default()
    })?;
    let started = Instant::now();
    let model = detector.fit(&series, &FitContext::new())?;
    let fitted = started.elapsed().as_secs_f64();
    let scores = model.score(&series)?;
    let total = started.elapsed().as_secs_f64();
    let finite = scores.score.iter().filter(|s| s.is_finite()).count();
    println!(
        "lstm_autoencoder on {n} points, {epochs} epochs: fit {fitted:.2} s, score {:.2} s, total {total:.2} s; \
         {finite} finite scores",
        total - fitted
    );
    Ok(())
}
