//! The streaming runner on a few NAB files with test-only detectors: output layout, the
//! streaming rule, the batch fallback, and a sane score.

use std::collections::VecDeque;
use std::path::PathBuf;
use tsad_core::{Detector, Error, FitContext, Model, ModelState, OnlineModel, Scores, Series};
use tsad_eval::{
    Corpus, CorpusFile, Profiles, ResultsSet, RunOptions, ThresholdMode, evaluate, run_file,
    run_nab, run_nab_with, write_results,
};
use tsad_testing::nab_dir;

const FILES: [&str; 4] = [
    "artificialNoAnomaly/art_daily_no_noise.csv",
    "artificialWithAnomaly/art_daily_jumpsup.csv",
    "realAdExchange/exchange-2_cpc_results.csv",
    "realKnownCause/ambient_temperature_system_failure.csv",
];

fn small_corpus() -> Option<(PathBuf, Corpus)> {
    let dir = nab_dir()?;
    let corpus = Corpus::load(&dir)
        .unwrap()
        .filter(|f| FILES.contains(&f.name()));
    assert_eq!(corpus.len(), FILES.len());
    Some((dir, corpus))
}

/// |x - mean| / std of the previous `window` values: a running z-score.
fn zscore(past: &VecDeque<f64>, x: f64) -> f64 {
    let n = past.len() as f64;
    if past.len() < 2 || x.is_nan() {
        return f64::NAN;
    }
    let mean = past.iter().sum::<f64>() / n;
    let var = past.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (x - mean).abs() / var.sqrt().max(1e-9)
}

#[derive(Debug)]
struct ZScoreDetector {
    window: usize,
    online: bool,
}

#[derive(Debug)]
struct ZScoreOnline {
    window: usize,
    past: VecDeque<f64>,
}

impl OnlineModel for ZScoreOnline {
    fn update(&mut self, _timestamp: i64, value: f64) -> f64 {
        let z = zscore(&self.past, value);
        if value.is_finite() {
            self.past.push_back(value);
            if self.past.len() > self.window {
                self.past.pop_front();
            }
        }
        z
    }
}

#[derive(Debug)]
struct ZScoreModel {
    window: usize,
}

impl Model for ZScoreModel {
    fn score(&self, series: &Series) -> Result<Scores, Error> {
        let mut online = ZScoreOnline {
            window: self.window,
            past: VecDeque::new(),
        };
        let score = series
            .values()
            .iter()
            .map(|&v| online.update(0, v))
            .collect();
        Ok(Scores::new(score))
    }
    fn save(&self) -> Result<ModelState, Error> {
        Ok(ModelState {
            kind: "test_zscore".into(),
            version: 1,
            config: serde_json::json!({ "window": self.window }),
            bytes: Vec::new(),
        })
    }
}

impl Detector for ZScoreDetector {
    fn kind(&self) -> &'static str {
        "test_zscore"
    }
    fn min_len(&self) -> usize {
        3
    }
    fn fit(&self, train: &Series, _ctx: &FitContext) -> Result<Box<dyn Model>, Error> {
        if train.len() < self.min_len() {
            return Err(Error::NotEnoughData {
                needed: self.min_len(),
                got: train.len(),
            });
        }
        Ok(Box::new(ZScoreModel {
            window: self.window,
        }))
    }
    fn online(&self) -> Option<Box<dyn OnlineModel>> {
        self.online.then(|| {
            Box::new(ZScoreOnline {
                window: self.window,
                past: VecDeque::new(),
            }) as Box<dyn OnlineModel>
        })
    }
}

fn online_zscore() -> Box<dyn Detector> {
    Box::new(ZScoreDetector {
        window: 100,
        online: true,
    })
}

#[test]
fn runner_writes_nab_layout_and_scores_sanely() {
    let Some((_, corpus)) = small_corpus() else {
        return;
    };
    let results = run_nab(&corpus, &online_zscore, 2).unwrap();
    assert_eq!(results.len(), FILES.len());
    for (name, r) in results.iter() {
        let f = corpus.file(name).unwrap();
        assert_eq!(r.len(), f.len(), "{name}");
        assert!(
            r.anomaly_score.iter().all(|a| (0.0..=1.0).contains(a)),
            "{name}: scores outside [0, 1]"
        );
        assert!(r.raw_score.as_ref().is_some_and(|raw| raw.len() == f.len()));
    }

    let out = tempfile::tempdir().unwrap();
    write_results(out.path(), "zscore", &corpus, &results).unwrap();
    let path = out
        .path()
        .join("zscore/realKnownCause/zscore_ambient_temperature_system_failure.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("timestamp,value,anomaly_score,raw_score,label")
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("2013-07-04 00:00:00,69.88083514,0,")
    );
    assert_eq!(text.lines().count(), 7268);
    let labelled = text.lines().filter(|l| l.ends_with(",1")).count();
    let f = corpus
        .file("realKnownCause/ambient_temperature_system_failure.csv")
        .unwrap();
    assert_eq!(labelled, f.labels().iter().filter(|&&l| l).count());
    // What was written reads back identically.
    let back = ResultsSet::read(out.path(), "zscore", &corpus).unwrap();
    for (name, r) in results.iter() {
        let b = back.get(name).unwrap();
        assert_eq!(b.anomaly_score, r.anomaly_score, "{name}");
        assert_eq!(b.timestamps, r.timestamps, "{name}");
    }

    let reports = evaluate(
        &corpus,
        &results,
        &Profiles::nab(),
        &ThresholdMode::Optimize,
    )
    .unwrap();
    for r in &reports {
        let score = r.normalized.unwrap();
        eprintln!("{}: {score:.3} at {}", r.profile.name, r.threshold);
        // The optimiser never does worse than "never alarm" (0).
        assert!(
            (0.0..=100.0).contains(&score),
            "{}: {score}",
            r.profile.name
        );
    }
    // A running z-score finds some of these windows (32.3 when written).
    let standard = reports[0].normalized.unwrap();
    assert!(standard > 10.0 && standard < 90.0, "standard: {standard}");
}

/// Row i's anomaly score must not change when rows after i are removed. The cut keeps the
/// file over 5,000 rows so that the probationary period (NAB hands its length to detectors,
/// like the value range) is 750 rows in both runs.
fn assert_streaming(file: &CorpusFile, detector: &dyn Detector, options: &RunOptions) {
    let full = run_file(file, detector, options).unwrap();
    let cut = 5_500;
    assert!(file.len() > cut);
    let prefix = CorpusFile::new(
        file.name(),
        file.timestamps()[..cut].to_vec(),
        file.values()[..cut].to_vec(),
        Vec::new(),
    )
    .unwrap();
    let part = run_file(&prefix, detector, options).unwrap();
    assert_eq!(prefix.probation(), file.probation());
    if let Some(i) = (0..cut).find(|&i| part.anomaly_score[i] != full.anomaly_score[i]) {
        panic!(
            "{}: row {i} scores {} on the prefix but {} on the whole file",
            detector.kind(),
            part.anomaly_score[i],
            full.anomaly_score[i]
        );
    }
}

#[test]
fn online_and_fallback_paths_respect_the_streaming_rule() {
    let Some((_, corpus)) = small_corpus() else {
        return;
    };
    let file = corpus
        .file("realKnownCause/ambient_temperature_system_failure.csv")
        .unwrap();
    let options = RunOptions {
        fallback_window: 150,
        ..RunOptions::default()
    };
    let online = online_zscore();
    assert_streaming(file, online.as_ref(), &options);
    let batch = ZScoreDetector {
        window: 100,
        online: false,
    };
    assert_streaming(file, &batch, &options);

    // The fallback leaves the probationary rows at 0, and past it agrees with the online
    // form, since a 150-row trailing window holds the 100 values the z-score looks at.
    let fallback = run_file(file, &batch, &options).unwrap();
    let p = file.probation();
    let raw = fallback.raw_score.unwrap();
    assert!(raw[..p].iter().all(|x| x.is_nan()));
    assert!(fallback.anomaly_score[..p].iter().all(|&a| a == 0.0));
    let streamed = run_file(file, online.as_ref(), &options)
        .unwrap()
        .raw_score
        .unwrap();
    for i in p..file.len() {
        assert!(
            (raw[i] - streamed[i]).abs() < 1e-9,
            "row {i}: {} vs {}",
            raw[i],
            streamed[i]
        );
    }
}

#[test]
fn detector_errors_name_the_file() {
    let Some((_, corpus)) = small_corpus() else {
        return;
    };
    let make = || -> Box<dyn Detector> {
        Box::new(ZScoreDetector {
            window: 10,
            online: false,
        })
    };
    let options = RunOptions {
        jobs: 1,
        ..RunOptions::default()
    };
    // min_len 3 is satisfied, so the batch fallback runs: check that progress is reported.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let options = RunOptions {
        progress: Some(std::sync::Arc::new(move |p: &tsad_eval::RunProgress| {
            sink.lock().unwrap().push(p.done);
        })),
        ..options
    };
    let tiny = corpus.filter(|f| f.len() < 2000);
    let results = run_nab_with(&tiny, &make, &options).unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(*seen.lock().unwrap(), vec![1]);

    #[derive(Debug)]
    struct Failing;
    impl Detector for Failing {
        fn kind(&self) -> &'static str {
            "failing"
        }
        fn min_len(&self) -> usize {
            1
        }
        fn fit(&self, _: &Series, _: &FitContext) -> Result<Box<dyn Model>, Error> {
            Err(Error::invalid_parameter("x", "always fails"))
        }
    }
    let err = run_nab(&tiny, &|| Box::new(Failing) as Box<dyn Detector>, 1)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("exchange-2_cpc_results.csv") && err.contains("always fails"),
        "{err}"
    );
}
