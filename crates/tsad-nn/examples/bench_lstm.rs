//! Times one training epoch of the reference LSTM autoencoder and forecaster (DESIGN.md
//! section 6). Run with
//! `cargo run --release -p tsad-nn --example bench_lstm [-- [autoencoder|forecast] THREADS...]`
//! (default: both models, 1 and 2 threads); compare with `python3 bench/pytorch_lstm.py`.

use tsad_nn::bench::{self, BenchModel};

fn main() -> Result<(), tsad_core::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threads: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let threads = if threads.is_empty() {
        vec![1, 2]
    } else {
        threads
    };
    let mut models = Vec::new();
    if args.iter().any(|a| a == "autoencoder") {
        models.push(BenchModel::Autoencoder);
    }
    if args.iter().any(|a| a == "forecast") {
        models.push(BenchModel::Forecast);
    }
    if models.is_empty() {
        models = vec![BenchModel::Autoencoder, BenchModel::Forecast];
    }
    for model in models {
        for &t in &threads {
            println!("{}", bench::run(model, t, 20_000, 42)?);
        }
    }
    Ok(())
}
