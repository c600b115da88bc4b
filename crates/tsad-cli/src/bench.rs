//! `tsad bench lstm`: one training epoch of the reference LSTM configurations, timed, to put
//! beside `bench/pytorch_lstm.py` (same models, same data) in one session.

use crate::Outcome;
use crate::args::{BenchArgs, BenchWhat};
use anyhow::Result;
use tsad_nn::bench::{BenchModel, run as bench_run};

pub(crate) fn run(a: BenchArgs) -> Result<Outcome> {
    let BenchWhat::Lstm {
        threads,
        points,
        repeats,
    } = a.what;
    let threads = if threads.is_empty() {
        vec![1, 2]
    } else {
        threads
    };
    println!(
        "one training epoch, {points}-point sine, windows of 64 (stride 1), batch 64, Adam 1e-3, MSE"
    );
    println!(
        "{:<12} {:>7} {:>8} {:>10} {:>10} {:>12} {:>10}",
        "model", "threads", "windows", "epoch s", "cpu s", "windows/s", "loss"
    );
    for model in [BenchModel::Autoencoder, BenchModel::Forecast] {
        for &t in &threads {
            // The median of `repeats` epochs, so one noisy neighbour does not decide the figure.
            let mut reports = (0..repeats.max(1))
                .map(|i| bench_run(model, t, points, 42 + i as u64))
                .collect::<Result<Vec<_>, _>>()?;
            reports.sort_by(|x, y| x.epoch_seconds.total_cmp(&y.epoch_seconds));
            let r = &reports[reports.len() / 2];
            println!(
                "{:<12} {:>7} {:>8} {:>10.3} {:>10} {:>12.0} {:>10.5}",
                match model {
                    BenchModel::Autoencoder => "autoencoder",
                    _ => "forecast",
                },
                t,
                r.windows,
                r.epoch_seconds,
                r.cpu_seconds
                    .map_or_else(|| "-".to_owned(), |c| format!("{c:.3}")),
                r.windows_per_second,
                r.mean_loss
            );
        }
    }
    Ok(Outcome::Clean)
}
