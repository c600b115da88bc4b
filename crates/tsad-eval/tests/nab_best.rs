//! Regression floor for the `nab-best` preset (the `novelty` detector at its defaults) on a
//! handful of NAB files, through the streaming runner: scores must stay above what was
//! measured minus a margin. Skipped without the corpus, except when CI=true.

use tsad_core::Detector;
use tsad_detectors::{NoveltyDetector, NoveltyParams};
use tsad_eval::{Corpus, Profiles, RunOptions, ThresholdMode, evaluate, run_nab_with};
use tsad_testing::nab_dir;

/// Eight files from six categories, one without anomalies; 16 windows.
const FILES: [&str; 8] = [
    "artificialNoAnomaly/art_noisy.csv",
    "artificialWithAnomaly/art_daily_jumpsup.csv",
    "realAWSCloudwatch/rds_cpu_utilization_e47b3b.csv",
    "realAdExchange/exchange-3_cpc_results.csv",
    "realKnownCause/ec2_request_latency_system_failure.csv",
    "realTraffic/occupancy_t4013.csv",
    "realTraffic/speed_t4013.csv",
    "realTweets/Twitter_volume_FB.csv",
];

#[test]
fn nab_best_stays_above_its_floor_on_a_handful_of_files() {
    let Some(dir) = nab_dir() else { return };
    let corpus = Corpus::load(&dir)
        .unwrap()
        .filter(|f| FILES.contains(&f.name()));
    assert_eq!(corpus.len(), FILES.len());
    let profiles = Profiles::load(&dir).unwrap();
    // `nab-best` is `{"kind": "novelty"}`: the detector's defaults are the NAB-tuned values.
    let make =
        || Box::new(NoveltyDetector::new(NoveltyParams::default()).unwrap()) as Box<dyn Detector>;
    let results = run_nab_with(&corpus, &make, &RunOptions::default()).unwrap();
    for r in results.iter() {
        assert!(r.1.anomaly_score.iter().all(|a| (0.0..=1.0).contains(a)));
    }
    let reports = evaluate(&corpus, &results, &profiles, &ThresholdMode::Optimize).unwrap();
    let got: Vec<f64> = reports.iter().map(|r| r.normalized.unwrap()).collect();
    eprintln!("nab-best on {} files: {got:?}", FILES.len());
    // Measured 88.3 / 85.0 / 92.2 (standard / low FP / low FN); floors are about 5 lower.
    let floors = [83.0, 80.0, 87.0];
    for ((r, g), f) in reports.iter().zip(&got).zip(floors) {
        assert!(*g >= f, "{}: {g:.2} < floor {f}", r.profile.name);
    }
}
