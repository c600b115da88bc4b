//! Server time of one `GET /api/v1/runs/{id}/points` on a stored 1M-point run: routing,
//! downsampling to 2,000 points and the JSON answer, through `app()` without a socket (the
//! result is cached after the first request, as on a running server). And the downsampling
//! alone, side by side: the point-by-point walk against the min/max pyramid.
//!
//! The request benchmarks measure CPU time (of every thread of the process, from
//! `/proc/self/task/*/schedstat`; wall time where that is missing), so a busy machine does
//! not inflate them: that is the server CPU per request, plus the small in-process client.
//!
//! Run: `cargo bench -p tsad-server --bench points`; add `-- --quick` for a shorter run.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;
use tsad_server::downsample::{Extremes, minmax};
use tsad_server::{AppState, ServerConfig, app};
use tsad_store::{DatasetRecord, RunRecord, RunResult, RunStatus, SqliteStorage, Storage};

const POINTS: usize = 1_000_000;
/// Timestamps one minute apart from 2020-09-13T12:26:40Z (Unix milliseconds).
const START: i64 = 1_600_000_000_000;
const STEP: i64 = 60_000;

/// A finished run of `POINTS` points: a daily cycle with noise and a spike every 10,000
/// points, which are the flagged points.
fn stored_run(store: &dyn Storage) -> String {
    let dataset = DatasetRecord {
        id: "ds_bench".into(),
        name: "bench.csv".into(),
        created_at: START,
        size_bytes: 8,
        rows: 1,
        meta: serde_json::json!({}),
    };
    store
        .create_dataset(&dataset, b"t,v\n0,1\n")
        .expect("dataset");
    let mut run = RunRecord::new(
        "run_bench".into(),
        &dataset.id,
        serde_json::json!({"kind": "mad"}),
        START,
    );
    run.status = RunStatus::Succeeded;
    store.create_run(&run).expect("run");
    let mut noise = 0x2545_f491_4f6c_dd1d_u64;
    let values: Vec<f64> = (0..POINTS)
        .map(|i| {
            noise ^= noise << 13;
            noise ^= noise >> 7;
            noise ^= noise << 17;
            let jitter = (noise >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            let spike = if i % 10_000 == 5_000 { 20.0 } else { 0.0 };
            10.0 + 5.0 * (i as f64 * std::f64::consts::TAU / 1440.0).sin() + jitter + spike
        })
        .collect();
    let expected: Vec<f64> = (0..POINTS)
        .map(|i| 10.0 + 5.0 * (i as f64 * std::f64::consts::TAU / 1440.0).sin())
        .collect();
    let score: Vec<f64> = values
        .iter()
        .zip(&expected)
        .map(|(v, e)| (v - e).abs())
        .collect();
    let result = RunResult {
        time_axis: "epoch_millis".into(),
        timestamps: (0..POINTS as i64).map(|i| START + i * STEP).collect(),
        rarity: Some(score.clone()),
        lower: Some(expected.iter().map(|e| e - 1.0).collect()),
        upper: Some(expected.iter().map(|e| e + 1.0).collect()),
        flags: score.iter().map(|s| *s > 10.0).collect(),
        expected: Some(expected),
        values,
        score,
        labels: None,
        members: Vec::new(),
        threshold_value: 10.0,
        events: serde_json::json!([]),
        report: serde_json::json!({}),
    };
    store.put_result(&run.id, &result).expect("result");
    run.id
}

fn points(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store: Arc<dyn Storage> = Arc::new(SqliteStorage::open_in_memory().expect("store"));
    let id = stored_run(store.as_ref());
    let router = app(AppState::new(store, ServerConfig::default()));
    let get = |uri: String| {
        let router = router.clone();
        rt.block_on(async move {
            let request = Request::get(uri).body(Body::empty()).expect("request");
            let response = router.oneshot(request).await.expect("response");
            assert_eq!(response.status(), StatusCode::OK);
            response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes()
        })
    };
    let at = |i: usize| START + i as i64 * STEP;
    let cases = [
        ("full", String::new()),
        (
            "zoom_10pct",
            format!("&from={}&to={}", at(450_000), at(550_000)),
        ),
        (
            "zoom_0.5pct",
            format!("&from={}&to={}", at(500_000), at(505_000)),
        ),
    ];
    let mut g = c.benchmark_group("points_1m_2000");
    g.sample_size(20);
    for (name, range) in cases {
        let uri = format!("/api/v1/runs/{id}/points?max_points=2000{range}");
        get(uri.clone()); // loads and caches the result
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (wall, cpu) = (Instant::now(), cpu_time());
                for _ in 0..iters {
                    get(uri.clone());
                }
                match (cpu, cpu_time()) {
                    (Some(start), Some(end)) => end.saturating_sub(start),
                    _ => wall.elapsed(),
                }
            })
        });
    }
    g.finish();
}

/// CPU time of every thread of this process so far (Linux), in nanoseconds.
fn cpu_time() -> Option<Duration> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

fn downsampling(c: &mut Criterion) {
    let store = SqliteStorage::open_in_memory().expect("store");
    let id = stored_run(&store);
    let r = store.result(&id).expect("result");
    let (values, scores) = (&r.values, &r.score);
    let pyramid = Extremes::new(values, scores);
    let mut g = c.benchmark_group("minmax_1m_2000");
    g.sample_size(20);
    for (name, range) in [("full", 0..POINTS), ("zoom_10pct", 450_000..550_000)] {
        g.bench_function(format!("{name}/walk"), |b| {
            b.iter(|| minmax(&values[range.clone()], &scores[range.clone()], 2000))
        });
        g.bench_function(format!("{name}/pyramid"), |b| {
            b.iter(|| pyramid.minmax(values, scores, range.clone(), 2000))
        });
    }
    g.bench_function("build_pyramid", |b| {
        b.iter(|| Extremes::new(values, scores))
    });
    g.finish();
}

criterion_group!(benches, points, downsampling);
criterion_main!(benches);
