//! What calibration, thresholding and events cost beside detection, on 1,000,000 points.
//!
//! Run: `cargo bench -p tsad-engine --bench stages` (add `-- --quick` for a shorter run). The
//! `detect_*` rows are whole default runs (fit, score, calibrate, threshold, events); the
//! `stages_*` rows are the stages after scoring alone, on the same detector's scores, and the
//! `calibrate_*`, `rarity_*` and `rethreshold_*` rows each of them (`rethreshold_noroutine_*`
//! without the routine step, to see its cost). The issue asks the stages to stay under 10% of
//! detection.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use tsad_core::{Calibration, EventOptions, FitContext, Threshold};
use tsad_engine::{detect, parse_spec, rethreshold};
use tsad_io::demo::{DemoParams, generate};

fn benches(c: &mut Criterion) {
    let demo = generate(&DemoParams {
        points: 1_000_000,
        ..DemoParams::default()
    })
    .expect("valid demo");
    let series = demo.series;
    let (threshold, options) = (Threshold::default(), EventOptions::default());
    let mut g = c.benchmark_group("pipeline_1m");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(series.len() as u64));
    for kind in ["mad", "seasonal"] {
        let spec = parse_spec(&serde_json::json!({ "kind": kind }))
            .expect("valid")
            .0;
        g.bench_function(format!("detect_{kind}"), |b| {
            b.iter(|| {
                detect(
                    black_box(&series),
                    &spec,
                    &threshold,
                    &options,
                    &FitContext::new(),
                )
                .expect("detection")
                .events
                .len()
            })
        });
        let scores = detect(&series, &spec, &threshold, &options, &FitContext::new())
            .expect("detection")
            .scores;
        // Each stage alone, to see where the time goes.
        g.bench_function(format!("calibrate_{kind}"), |b| {
            b.iter(|| Calibration::fit_contaminated(black_box(&scores.score)).map(|c| c.count))
        });
        let cal = Calibration::fit_contaminated(&scores.score).expect("finite");
        g.bench_function(format!("rarity_{kind}"), |b| {
            b.iter(|| cal.apply(black_box(&scores.score)).len())
        });
        let mut s = scores.clone();
        s.rarity = Some(cal.apply(&scores.score));
        let no_routine = EventOptions {
            routine: false,
            ..EventOptions::default()
        };
        for (row, opts) in [
            ("rethreshold", &options),
            ("rethreshold_noroutine", &no_routine),
        ] {
            g.bench_function(format!("{row}_{kind}"), |b| {
                b.iter(|| {
                    rethreshold(&series, black_box(&s), &threshold, opts)
                        .expect("valid threshold")
                        .1
                        .len()
                })
            });
        }
        // As the pipeline runs them: calibrate on the scores, map them to rarity, cut, events.
        g.bench_function(format!("stages_{kind}"), |b| {
            b.iter(|| {
                let cal = Calibration::fit_contaminated(black_box(&scores.score)).expect("finite");
                s.rarity = Some(cal.apply(&scores.score));
                rethreshold(&series, &s, &threshold, &options)
                    .expect("valid threshold")
                    .1
                    .len()
            })
        });
    }
    g.finish();
}

criterion_group!(stages, benches);
criterion_main!(stages);
