//! The demo's injected anomalies are recovered at default settings, with few false events.

use tsad_core::{EventOptions, FitContext, Sensitivity, Series, Threshold};
use tsad_engine::{Detection, Training, detect, detect_with, parse_spec};
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

/// Share of injected anomalies of `kind` (all kinds for `None`) that some event overlaps, and
/// the events that overlap no injected anomaly.
fn run(spec: serde_json::Value, threshold: Threshold, kind: AnomalyKind, seed: u64) -> Outcome {
    run_on(spec, threshold, Some(kind), seed, 2000, None)
}

/// [`run`] on a demo of `points`, fitted on its first `train` points when given.
fn run_on(
    spec: serde_json::Value,
    threshold: Threshold,
    kind: Option<AnomalyKind>,
    seed: u64,
    points: usize,
    train: Option<usize>,
) -> Outcome {
    let demo = generate(&DemoParams {
        seed,
        points,
        ..DemoParams::default()
    })
    .unwrap();
    let found = match train {
        None => detect_spec(&demo.series, spec, &threshold),
        Some(n) => detect_with(
            &demo.series,
            Training::Prefix(n),
            &parse_spec(&spec).unwrap().0,
            &threshold,
            &EventOptions::default(),
            &FitContext::new(),
        )
        .unwrap(),
    };
    let overlaps = |e: &tsad_core::Event, a: &tsad_io::demo::InjectedAnomaly| {
        e.start <= a.end && a.start <= e.end
    };
    let injected: Vec<_> = demo
        .anomalies
        .iter()
        .filter(|a| kind.is_none_or(|k| a.kind == k))
        .collect();
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

/// The default detector and threshold on the demo calibrated on itself: never a flood. At
/// 2,000 points, where 2.5% of the points are anomalous, the anomalies hide each other and the
/// run stays quiet (no false event); at 50,000 points it finds at least 10 of 11 with at most
/// twice as many events as anomalies (measured: 10 and 11 found, 11 and 15 events).
#[test]
fn the_default_run_never_floods_and_finds_the_anomalies_in_longer_demos() {
    for seed in [42, 7, 2024] {
        let o = run_on(
            tsad_engine::default_spec().to_json(),
            Threshold::default(),
            None,
            seed,
            2000,
            None,
        );
        assert!(
            o.false_events <= 1,
            "seed {seed}: {} false events",
            o.false_events
        );
    }
    for seed in [42, 7] {
        assert_meets_the_demo_goal(tsad_engine::default_spec().to_json(), seed, 50_000, 4);
    }
}

/// `spec` calibrated on itself at the default threshold, on the demo of `points` with `seed`:
/// at least 10 of the 11 anomalies found, at most `false_events` false events and at most
/// twice as many events as anomalies.
fn assert_meets_the_demo_goal(
    spec: serde_json::Value,
    seed: u64,
    points: usize,
    false_events: usize,
) {
    let o = run_on(spec, Threshold::default(), None, seed, points, None);
    o.assert_within(
        10.0 / 11.0,
        false_events,
        &format!("{points} points, seed {seed}"),
    );
    assert!(
        o.events <= 22,
        "{points} points, seed {seed}: {} events",
        o.events
    );
}

/// `seasonal` calibrated on itself finds at least 10 of the 11 anomalies of the 10,000-point
/// demo in at most twice as many events (measured: 11 of 11 in 15-16 events for the three
/// seeds). Its decomposition's own residuals found 8-11, the spikes it missed read as one in
/// 30,000 (see `delete_own_weight` in the detector).
#[test]
fn seasonal_finds_the_spikes_of_a_ten_thousand_point_demo() {
    for seed in [42, 7, 2024] {
        assert_meets_the_demo_goal(serde_json::json!({"kind": "seasonal"}), seed, 10_000, 11);
    }
}

/// Fitted on normal data (the demo's first tenth holds no anomaly), the defaults find at least
/// 10 of 11 anomalies at 2,000 and 10,000 points with at most two false events (measured: 10-11
/// found, 0-2 false, for `seasonal` and the default `robust-stats`).
#[test]
fn fitting_on_the_normal_prefix_finds_nearly_all_with_few_false_events() {
    for spec in [
        serde_json::json!({"kind": "seasonal"}),
        tsad_engine::default_spec().to_json(),
    ] {
        for (points, seed) in [(2000, 42), (2000, 2024), (10_000, 7)] {
            let o = run_on(
                spec.clone(),
                Threshold::default(),
                None,
                seed,
                points,
                Some(points / 10),
            );
            o.assert_within(10.0 / 11.0, 2, &format!("{spec} n={points} seed {seed}"));
        }
    }
}

/// The sensitivity knob moves the event count gradually and in the right direction, and its
/// middle is the default.
#[test]
fn sensitivity_moves_the_event_count_gradually() {
    let counts: Vec<usize> = [0.5, 0.7, 0.8, 0.9]
        .iter()
        .map(|&s| {
            run_on(
                serde_json::json!({"kind": "seasonal"}),
                Threshold::Sensitivity {
                    s: Sensitivity::new(s).unwrap(),
                },
                None,
                42,
                2000,
                None,
            )
            .events
        })
        .collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert!(counts[3] > counts[0] && counts[3] < 200, "{counts:?}");
    let default = run_on(
        serde_json::json!({"kind": "seasonal"}),
        Threshold::default(),
        None,
        42,
        2000,
        None,
    );
    assert_eq!(default.events, counts[0]);
}

#[test]
fn seasonal_catches_dips_and_the_contextual_anomaly() {
    for kind in [AnomalyKind::Dip, AnomalyKind::Contextual] {
        let o = run_on(
            serde_json::json!({"kind": "seasonal"}),
            Threshold::default(),
            Some(kind),
            42,
            2000,
            Some(200),
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
    let sigma = Threshold::Sigma { k: 3.0 };
    let run = |spec| detect_spec(&demo.series, spec, &sigma);
    let hybrid = run(serde_json::json!({"preset": "hybrid-benford", "overrides": {"epochs": 2}}));
    let alone = run(serde_json::json!({"kind": "lstm_autoencoder", "epochs": 2}));
    assert_eq!(
        hybrid.scores.report["abstained"],
        serde_json::json!(["benford"])
    );
    assert_eq!(hybrid.cut.flags, alone.cut.flags);
    assert!(hybrid.cut.count() > 0);
}

/// The seeds' presets, with the seeds' own rule (mean + 3 std, one setting away from the
/// default), find the demo's spikes: `lstm-residual` (the Flask seed's forecaster) and
/// `hybrid-benford` (the Streamlit seed's autoencoder with Benford's test, which abstains here).
#[test]
fn the_seeds_presets_recover_the_demo_spikes() {
    for preset in ["lstm-residual", "hybrid-benford"] {
        for seed in [42, 7] {
            let o = run(
                serde_json::json!({ "preset": preset }),
                Threshold::Sigma { k: 3.0 },
                AnomalyKind::Spike,
                seed,
            );
            o.assert_within(0.8, 5, &format!("{preset} seed {seed}"));
        }
    }
}
