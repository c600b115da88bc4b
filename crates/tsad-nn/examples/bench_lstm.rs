//! Times one training epoch of the reference LSTM autoencoder and forecaster (DESIGN.md
//! section 6) with 1 and 2 threads. Run with
//! `cargo run --release -p tsad-nn --example bench_lstm [-- THREADS...]`; compare with
//! `python3 bench/pytorch_lstm.py`.

use tsad_nn::bench::{self, BenchModel};

fn main() -> Result<(), tsad_core::Error> {
    let threads: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let threads = if threads.is_empty() {
        vec![1, 2]
    } else {
        threads
    };
    for model in [BenchModel::Autoencoder, BenchModel::Forecast] {
        for &t in &threads {
            println!("{}", bench::run(model, t, 20_000, 42)?);
        }
    }
    Ok(())
}
