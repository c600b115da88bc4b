//! Points per second of every detector (fit + score) on long synthetic series.
//!
//! Run: `cargo bench -p tsad-detectors --bench detectors`; add `-- --quick` or a filter such
//! as `-- mad` for a shorter run.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use tsad_core::{Detector, FitContext, Series};
use tsad_detectors::mad::rolling_median_mad;
use tsad_detectors::{
    BenfordDetector, BenfordParams, EnsembleDetector, EnsembleMember, EnsembleParams, MadDetector,
    MadParams, NoveltyDetector, NoveltyParams, Policy, SeasonalDetector, SeasonalParams,
    ZscoreDetector, ZscoreParams,
};
use tsad_testing::{Rng, random_walk, seasonal_with_anomalies};

fn fit_score(detector: &dyn Detector, series: &Series) -> usize {
    let model = detector.fit(series, &FitContext::new()).expect("fit");
    model.score(series).expect("score").score.len()
}

fn stream(detector: &dyn Detector, series: &Series) -> f64 {
    let mut online = detector.online().expect("streaming form");
    let mut last = 0.0;
    for (&t, &v) in series.timestamps().iter().zip(series.values()) {
        last = online.update(t, v);
    }
    last
}

fn benches(c: &mut Criterion) {
    let million = seasonal_with_anomalies(1_000_000, 288, 200, 1).0;
    let hundred_k = million.slice(0..100_000);
    let zscore = ZscoreDetector::new(ZscoreParams::default()).expect("defaults are valid");
    let mad = MadDetector::new(MadParams::default()).expect("defaults are valid");
    let benford = BenfordDetector::new(BenfordParams::default()).expect("defaults are valid");
    let seasonal = || SeasonalDetector::new(SeasonalParams::default()).expect("defaults");
    let ensemble = EnsembleDetector::new(
        vec![
            EnsembleMember::new("mad", Box::new(mad.clone())),
            EnsembleMember::new("zscore", Box::new(zscore.clone())),
            EnsembleMember::new("benford", Box::new(benford.clone())),
        ],
        EnsembleParams {
            policy: Policy::Weighted,
            k: None,
        },
    )
    .expect("valid ensemble");

    let mut g = c.benchmark_group("batch_1m");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(million.len() as u64));
    let detectors: [(&str, &dyn Detector); 5] = [
        ("zscore", &zscore),
        ("mad", &mad),
        ("benford", &benford),
        ("seasonal", &seasonal()),
        ("ensemble_mad_zscore_benford", &ensemble),
    ];
    for (name, d) in detectors {
        g.bench_function(name, |b| b.iter(|| fit_score(d, black_box(&million))));
    }
    g.finish();

    let mut g = c.benchmark_group("batch_100k");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(hundred_k.len() as u64));
    let fast = SeasonalDetector::new(SeasonalParams {
        robust: false,
        ..SeasonalParams::default()
    })
    .expect("valid");
    g.bench_function("seasonal", |b| {
        b.iter(|| fit_score(&seasonal(), black_box(&hundred_k)))
    });
    g.bench_function("seasonal_not_robust", |b| {
        b.iter(|| fit_score(&fast, black_box(&hundred_k)))
    });
    g.finish();

    let mut g = c.benchmark_group("stream_100k");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(hundred_k.len() as u64));
    let streaming: [(&str, &dyn Detector); 4] = [
        ("zscore", &zscore),
        ("mad", &mad),
        ("benford", &benford),
        ("seasonal", &seasonal()),
    ];
    for (name, d) in streaming {
        g.bench_function(name, |b| b.iter(|| stream(d, black_box(&hundred_k))));
    }
    g.finish();
}

/// `novelty` (the `nab-best` preset) at 100k and 1M points on three kinds of series: seasonal,
/// a random walk and white noise (the hardest for its nearest-shape search, which prunes by
/// run means).
fn novelty(c: &mut Criterion) {
    let novelty = NoveltyDetector::new(NoveltyParams::default()).expect("defaults are valid");
    let mut rng = Rng::new(7);
    let noise = Series::from_values((0..1_000_000).map(|_| rng.normal()).collect()).expect("noise");
    let series = [
        (
            "seasonal",
            seasonal_with_anomalies(1_000_000, 288, 200, 1).0,
        ),
        ("random_walk", random_walk(1_000_000, 3)),
        ("noise", noise),
    ];
    for n in [100_000, 1_000_000] {
        let mut g = c.benchmark_group(format!("novelty_{}k", n / 1000));
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements(n as u64));
        for (name, s) in &series {
            let s = s.slice(0..n);
            g.bench_function(*name, |b| b.iter(|| fit_score(&novelty, black_box(&s))));
        }
        g.finish();
    }
}

/// `mad` (rolling median and exact MAD, the raw values: no cycle taken out) at the default
/// window and a long one, 1M points: the whole detector and its kernel alone.
fn mad_windows(c: &mut Criterion) {
    let million = seasonal_with_anomalies(1_000_000, 288, 200, 1).0;
    let mut g = c.benchmark_group("mad_1m");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(million.len() as u64));
    for window in [48, 1000] {
        let mad = MadDetector::new(MadParams {
            window: Some(window),
            season: false,
            ..MadParams::default()
        })
        .expect("valid");
        g.bench_function(format!("window_{window}"), |b| {
            b.iter(|| fit_score(&mad, black_box(&million)))
        });
        // The kernel alone, the work bottleneck's two `move_median` calls do
        // (`bench/bottleneck_mad.py`): each window's median and MAD, no scores or band.
        g.bench_function(format!("kernel_{window}"), |b| {
            b.iter(|| {
                rolling_median_mad(black_box(million.values()), window)
                    .1
                    .len()
            })
        });
    }
    g.finish();
}

criterion_group!(detectors, benches, novelty, mad_windows);
criterion_main!(detectors);
