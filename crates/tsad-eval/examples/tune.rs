//! Tunes the `novelty` detector (the `nab-best` preset) on NAB as a whole: sweeps a small grid
//! of corpus-wide parameters, runs the streaming detector over all 58 files for each point
//! (one parameter set for the whole corpus, never per file; no labels at detection time), and
//! prints the three profile scores of each, best standard score last:
//! `cargo run --release -p tsad-eval --example tune -- NAB_DIR [JOBS] [--defaults]`
//! (`--defaults` scores only the detector's defaults, i.e. the `nab-best` preset).
//!
//! The labels are used only afterwards, by the scorer, exactly as NAB does for every detector
//! on its scoreboard: the grid is small (36 points) and coarse, and the chosen point is the
//! detector's default, so what the README reports is one fixed configuration.

use std::time::Instant;
use tsad_core::Detector;
use tsad_detectors::{NoveltyDetector, NoveltyParams};
use tsad_eval::{Corpus, Profiles, RunOptions, ThresholdMode, evaluate, run_nab_with};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let defaults_only = all.iter().any(|a| a == "--defaults");
    let args: Vec<&String> = all.iter().filter(|a| *a != "--defaults").collect();
    let dir = args
        .first()
        .ok_or("usage: tune NAB_DIR [JOBS] [--defaults]")?;
    let jobs = args.get(1).map_or(Ok(0), |j| j.parse())?;
    let corpus = Corpus::load(dir)?;
    let profiles = Profiles::load(dir)?;
    let options = RunOptions {
        jobs,
        ..RunOptions::default()
    };
    let mut grid = Vec::new();
    if defaults_only {
        grid.push(NoveltyParams::default());
    }
    for value_weight in if grid.is_empty() {
        &[1.0, 1.4, 2.0][..]
    } else {
        &[][..]
    } {
        for mean_weight in [0.2, 0.4] {
            for shape_weight in [0.0, 0.1] {
                for quiet in [50, 100, 200] {
                    grid.push(NoveltyParams {
                        value_weight: *value_weight,
                        mean_weight,
                        shape_weight,
                        quiet,
                        ..NoveltyParams::default()
                    });
                }
            }
        }
    }
    println!(
        "{:>5} {:>5} {:>5} {:>5}  {:>8} {:>8} {:>8}  {:>6}",
        "value", "mean", "shape", "quiet", "standard", "low FP", "low FN", "secs"
    );
    let mut best: Option<(f64, String)> = None;
    for (i, params) in grid.iter().enumerate() {
        let t = Instant::now();
        let make = || {
            // Every grid point is within NoveltyParams' valid ranges.
            Box::new(NoveltyDetector::new(params.clone()).expect("valid grid point"))
                as Box<dyn Detector>
        };
        let results = run_nab_with(&corpus, &make, &options)?;
        let reports = evaluate(&corpus, &results, &profiles, &ThresholdMode::Optimize)?;
        let s: Vec<f64> = reports
            .iter()
            .map(|r| r.normalized.unwrap_or(f64::NAN))
            .collect();
        let row = format!(
            "{:>5} {:>5} {:>5} {:>5}  {:>8.2} {:>8.2} {:>8.2}  {:>6.1}",
            params.value_weight,
            params.mean_weight,
            params.shape_weight,
            params.quiet,
            s[0],
            s[1],
            s[2],
            t.elapsed().as_secs_f64()
        );
        println!("{row}");
        eprintln!("[{}/{}]", i + 1, grid.len());
        if best.as_ref().is_none_or(|(b, _)| s[0] > *b) {
            best = Some((s[0], row));
        }
    }
    if let Some((_, row)) = best {
        println!("best (standard profile):\n{row}");
    }
    Ok(())
}
