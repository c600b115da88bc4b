//! Runs a toy streaming detector (a running z-score over the last 200 values, defined here)
//! over the whole NAB corpus, scores it with optimised thresholds and prints the report:
//! `cargo run --release -p tsad-eval --example nab_run -- NAB_DIR [OUT_DIR] [JOBS]`.
//! It times the runner and scorer; it is not a detector worth using.

use std::collections::VecDeque;
use std::time::Instant;
use tsad_core::{Detector, Error, FitContext, Model, OnlineModel, Series};
use tsad_eval::{Corpus, Profiles, ThresholdMode, evaluate, report_table, run_nab, write_results};

#[derive(Debug)]
struct RunningZ;

#[derive(Debug, Default)]
struct RunningZOnline(VecDeque<f64>);

impl OnlineModel for RunningZOnline {
    fn update(&mut self, _timestamp: i64, value: f64) -> f64 {
        let past = &mut self.0;
        let z = if past.len() < 2 || value.is_nan() {
            f64::NAN
        } else {
            let n = past.len() as f64;
            let mean = past.iter().sum::<f64>() / n;
            let var = past.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            (value - mean).abs() / var.sqrt().max(1e-9)
        };
        if value.is_finite() {
            past.push_back(value);
            if past.len() > 200 {
                past.pop_front();
            }
        }
        z
    }
}

impl Detector for RunningZ {
    fn kind(&self) -> &'static str {
        "running_z"
    }
    fn min_len(&self) -> usize {
        2
    }
    fn fit(&self, _train: &Series, _ctx: &FitContext) -> Result<Box<dyn Model>, Error> {
        Err(Error::invalid_parameter("fit", "this example only streams"))
    }
    fn online(&self) -> Option<Box<dyn OnlineModel>> {
        Some(Box::new(RunningZOnline::default()))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args
        .first()
        .ok_or("usage: nab_run NAB_DIR [OUT_DIR] [JOBS]")?;
    let jobs = args.get(2).map_or(Ok(0), |j| j.parse())?;
    let t = Instant::now();
    let corpus = Corpus::load(dir)?;
    let profiles = Profiles::load(dir)?;
    let loaded = t.elapsed();
    let results = run_nab(&corpus, &|| Box::new(RunningZ) as Box<dyn Detector>, jobs)?;
    let ran = t.elapsed();
    let reports = evaluate(&corpus, &results, &profiles, &ThresholdMode::Optimize)?;
    let scored = t.elapsed();
    if let Some(out) = args.get(1) {
        write_results(out, "running_z", &corpus, &results)?;
    }
    print!("{}", report_table("running_z", &reports, t.elapsed()));
    println!(
        "load {:.3} s, run {:.3} s, optimise + score 3 profiles {:.3} s, write {:.3} s",
        loaded.as_secs_f64(),
        (ran - loaded).as_secs_f64(),
        (scored - ran).as_secs_f64(),
        (t.elapsed() - scored).as_secs_f64()
    );
    Ok(())
}
