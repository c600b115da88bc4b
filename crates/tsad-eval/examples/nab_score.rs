//! Scores NAB results already on disk and times each step:
//! `cargo run --release -p tsad-eval --example nab_score -- NAB_DIR [DETECTOR...]`.

use std::time::Instant;
use tsad_eval::{Corpus, Profiles, ResultsSet, ThresholdMode, Thresholds, evaluate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: nab_score NAB_DIR [DETECTOR...]")?;
    let mut detectors: Vec<String> = args.collect();
    if detectors.is_empty() {
        detectors = ["numenta", "twitterADVec", "null"]
            .map(String::from)
            .to_vec();
    }
    let t = Instant::now();
    let corpus = Corpus::load(&dir)?;
    let profiles = Profiles::load(&dir)?;
    let thresholds = Thresholds::load(&dir)?;
    println!("load corpus: {:.3} s", t.elapsed().as_secs_f64());
    for detector in detectors {
        let t = Instant::now();
        let results = ResultsSet::read(format!("{dir}/results"), &detector, &corpus)?;
        let read = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let given = ThresholdMode::FromConfig {
            thresholds: thresholds.clone(),
            detector: detector.clone(),
        };
        let fixed = evaluate(&corpus, &results, &profiles, &given)?;
        let score = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let best = evaluate(&corpus, &results, &profiles, &ThresholdMode::Optimize)?;
        let sweep = t.elapsed().as_secs_f64();
        println!(
            "{detector}: read {read:.3} s, score 3 profiles {score:.4} s, sweep+score 3 profiles {sweep:.4} s"
        );
        for (f, b) in fixed.iter().zip(&best) {
            println!(
                "  {:<18} given t={:<20} raw={:<22} nab={:<20} | optimised t={:<16} nab={}",
                f.profile.name,
                f.threshold,
                f.raw,
                f.normalized.unwrap_or(f64::NAN),
                b.threshold,
                b.normalized.unwrap_or(f64::NAN)
            );
        }
    }
    Ok(())
}
