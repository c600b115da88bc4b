//! The demo's injected anomalies are recovered at default settings.

use tsad_core::{EventOptions, FitContext, Sensitivity, Series, Threshold};
use tsad_engine::{Detection, detect, parse_spec};
use tsad_io::demo::{AnomalyKind, DemoParams, generate};

struct Outcome {
    recall: f64,
    events: usize,
    false_events: usize,
}

impl Outcome {
    /// Asserts a recall of at least `recall` with at most `false_events` false events.
    fn assert_within(&self, recall: f64, false_events: usize, what: &str) {
        assert!(
            self.recall >= recall,
            "{what}: spike recall {}",
            self.recall
        );
        assert!(
            self.false_events <= false_events,
            "{what}: {} of {} events are false",
            self.false_events,
            self.events
        );
    }
}

/// `spec` run on `series` at `threshold` with default events and fitting.
fn detect_spec(series: &Series, spec: serde_json::Value, threshold: &Threshold) -> Detection {
    let (spec, _) = parse_spec(&spec).unwrap();
    detect(
        series,
        &spec,
        threshold,
        &EventOptions::default(),
        &FitContext::new(),
    )
    .unwrap()
}

/// Share of injected anomalies of `kind` that some event overlaps, and the events that overlap
/// no injected anomaly.
fn run(spec: serde_json::Value, threshold: Threshold, kind: AnomalyKind, seed: u64) -> Outcome {
    let demo = generate(&DemoParams {
        seed,
        ..DemoParams::default()
    })
    .unwrap();
    let found = detect_spec(&demo.series, spec, &threshold);
    let overlaps = |e: &tsad_core::Event, a: &tsad_io::demo::InjectedAnomaly| {
        e.start <= a.end && a.start <= e.end
    };
    let injected: Vec<_> = demo.anomalies.iter().filter(|a| a.kind == kind).collect();
    assert!(!injected.is_empty(), "the demo injects {kind:?} anomalies");
    let hit = injected
        .iter()
        .filter(|a| found.events.iter().any(|e| overlaps(e, a)))
        .count();
    Outcome {
        recall: hit as f64 / injected.len() as f64,
        events: found.events.len(),
        false_events: found
            .events
            .iter()
            .filter(|e| !demo.anomalies.iter().any(|a| overlaps(e, a)))
            .count(),
    }
}

#[test]
fn seasonal_recovers_the_demo_spikes_at_both_defaults() {
    let thresholds = [
        Threshold::default(),
        Threshold::Sensitivity {
            s: Sensitivity::new(0.5).unwrap(),
        },
    ];
    for seed in [42, 7, 2024] {
        for threshold in thresholds {
            let o = run(
                serde_json::json!({"kind": "seasonal"}),
                threshold,
                AnomalyKind::Spike,
                seed,
            );
            o.assert_within(0.9, 3, &format!("seed {seed} {threshold:?}"));
        }
    }
}

#[test]
fn seasonal_catches_dips_and_the_contextual_anomaly() {
    for kind in [AnomalyKind::Dip, AnomalyKind::Contextual] {
        let o = run(
            serde_json::json!({"kind": "seasonal"}),
            Threshold::default(),
            kind,
            42,
        );
        assert_eq!(o.recall, 1.0, "{kind:?}");
    }
}

/// The demo spans less than one order of magnitude, so Benford's test abstains and the
/// `all` ensemble flags exactly what its autoencoder flags alone (robust z is affine, and the
/// sigma cut-off moves with it).
#[test]
fn benford_abstains_on_the_demo_instead_of_vetoing() {
    let demo = generate(&DemoParams {
        points: 600,
        ..DemoParams::default()
    })
    .unwrap();
    let run = |spec| detect_spec(&demo.series, spec, &Threshold::default());
    let hybrid = run(serde_json::json!({"preset": "hybrid-benford", "overrides": {"epochs": 2}}));
    let alone = run(serde_json::json!({"kind": "lstm_autoencoder", "epochs": 2}));
    assert_eq!(
        hybrid.scores.report["abstained"],
        serde_json::json!(["benford"])
    );
    assert_eq!(hybrid.cut.flags, alone.cut.flags);
    assert!(hybrid.cut.count() > 0);
}

/// The seeds' presets, at default settings (20 epochs, sigma k = 3), find the demo's spikes:
/// `lstm-residual` (the Flask seed's forecaster) and `hybrid-benford` (the Streamlit seed's
/// autoencoder with Benford's test, which abstains here).
#[test]
fn the_seeds_presets_recover_the_demo_spikes() {
    for preset in ["lstm-residual", "hybrid-benford"] {
        for seed in [42, 7] {
            let o = run(
                serde_json::json!({ "preset": preset }),
                Threshold::default(),
                AnomalyKind::Spike,
                seed,
            );
            o.assert_within(0.8, 5, &format!("{preset} seed {seed}"));
        }
    }
}
