//! What a user sees at the defaults, measured: event recall and event counts on the demo at
//! several lengths, and the events on one NAB file, for any detector kind or preset.
//!
//! ```sh
//! cargo run --release -p tsad-engine --example quality -- demo seasonal 2000 10000 100000
//! cargo run --release -p tsad-engine --example quality -- nab mad realKnownCause/machine_temperature_system_failure.csv
//! cargo run --release -p tsad-engine --example quality -- demo '{"kind": "mad", "window": 12}' 10000
//! ```

use tsad_core::{EventOptions, FitContext, Threshold};
use tsad_engine::{Training, detect, detect_with, parse_spec};
use tsad_io::demo::{DemoParams, generate};

fn spec_of(name: &str) -> tsad_engine::DetectorSpec {
    let value = if name.starts_with('{') {
        serde_json::from_str(name).expect("a JSON detector spec")
    } else if tsad_engine::preset(name).is_some() {
        serde_json::json!({ "preset": name })
    } else {
        serde_json::json!({ "kind": name })
    };
    parse_spec(&value)
        .expect("a detector kind or preset name")
        .0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (what, name) = (args[0].as_str(), args[1].as_str());
    let spec = spec_of(name);
    // `EVERY=10000` tries another false-alarm rate than the default.
    let threshold = match std::env::var("EVERY").ok().and_then(|e| e.parse().ok()) {
        Some(every) => Threshold::Auto { every },
        None => Threshold::default(),
    };
    // `PRUNE=0.1` tries another pruning fraction than the default.
    let options = EventOptions {
        prune: std::env::var("PRUNE")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(EventOptions::default().prune),
        ..EventOptions::default()
    };
    match what {
        "demo" => {
            for n in &args[2..] {
                for seed in [42, 7, 2024] {
                    let demo = generate(&DemoParams {
                        points: n.parse().expect("a length"),
                        seed,
                        ..DemoParams::default()
                    })
                    .expect("valid demo");
                    // `TRAIN=0.1` fits on the first tenth (the demo injects nothing there).
                    let training = match std::env::var("TRAIN")
                        .ok()
                        .and_then(|f| f.parse::<f64>().ok())
                    {
                        Some(f) => Training::Prefix((f * demo.series.len() as f64) as usize),
                        None => Training::Same,
                    };
                    let d = detect_with(
                        &demo.series,
                        training,
                        &spec,
                        &threshold,
                        &options,
                        &FitContext::new(),
                    )
                    .expect("detection");
                    let overlaps = |e: &tsad_core::Event, a: &tsad_io::demo::InjectedAnomaly| {
                        e.start <= a.end && a.start <= e.end
                    };
                    let hit = demo
                        .anomalies
                        .iter()
                        .filter(|a| d.events.iter().any(|e| overlaps(e, a)))
                        .count();
                    let false_events = d
                        .events
                        .iter()
                        .filter(|e| !demo.anomalies.iter().any(|a| overlaps(e, a)))
                        .count();
                    println!(
                        "{name} n={n} seed={seed}: recall {hit}/{} events {} false {false_events} ({:.2}s)",
                        demo.anomalies.len(),
                        d.events.len(),
                        d.fit_seconds + d.score_seconds
                    );
                    // `VERBOSE=1` shows why each anomaly was found or missed: its peak
                    // score and rarity beside the cut-off and the highest elsewhere, and
                    // where the false events are.
                    if std::env::var_os("VERBOSE").is_some() {
                        let rarity = d.scores.rarity.as_deref().unwrap_or(&[]);
                        let peak = |r: std::ops::RangeInclusive<usize>, v: &[f64]| {
                            v.get(r).map_or(f64::NAN, |v| {
                                v.iter()
                                    .copied()
                                    .filter(|x| x.is_finite())
                                    .fold(f64::NAN, f64::max)
                            })
                        };
                        for a in &demo.anomalies {
                            println!(
                                "  {:?} at {}: score {:.2} rarity {:.2}",
                                a.kind,
                                a.start,
                                peak(a.start..=a.end, &d.scores.score),
                                peak(a.start..=a.end, rarity)
                            );
                        }
                        let mut elsewhere: Vec<(usize, f64)> = rarity
                            .iter()
                            .zip(&demo.labels)
                            .enumerate()
                            .filter(|(_, (r, l))| !**l && r.is_finite())
                            .map(|(i, (r, _))| (i, *r))
                            .collect();
                        elsewhere.sort_by(|a, b| b.1.total_cmp(&a.1));
                        elsewhere.truncate(5);
                        println!(
                            "  cut {:.2} ({:?}); highest rarities elsewhere (at, rarity) {elsewhere:.2?}",
                            d.cut.value, d.cut.scale
                        );
                        let false_at: Vec<(usize, usize)> = d
                            .events
                            .iter()
                            .filter(|e| !demo.anomalies.iter().any(|a| overlaps(e, a)))
                            .map(|e| (e.start, e.end))
                            .collect();
                        println!("  false events (start, end) {false_at:?}");
                        if let Some(c) = &d.calibration {
                            println!("  tail {:?}", c.tail);
                        }
                    }
                }
            }
        }
        "nab" => {
            let dir =
                std::env::var("TSAD_NAB_DIR").unwrap_or_else(|_| "../shared/datasets/nab".into());
            for file in &args[2..] {
                let path = format!("{dir}/data/{file}");
                let ingested = tsad_io::read_path(std::path::Path::new(&path), &Default::default())
                    .expect("readable");
                let d = detect(
                    &ingested.series,
                    &spec,
                    &threshold,
                    &options,
                    &FitContext::new(),
                )
                .expect("detection");
                println!("{name} {file}: {} events", d.events.len());
                for e in &d.events {
                    println!(
                        "  rank {:>3} {} .. {} rarity {:.2}",
                        e.rank,
                        tsad_io::format_timestamp(e.start_time),
                        tsad_io::format_timestamp(e.end_time),
                        e.rarity.unwrap_or(f64::NAN)
                    );
                }
            }
        }
        other => panic!("unknown measurement {other}: demo or nab"),
    }
}
