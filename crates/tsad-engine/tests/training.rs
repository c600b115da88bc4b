//! Fitting on a training part, saved models, and what goes wrong with them.

use serde_json::json;
use tsad_core::{EventOptions, FitContext, Series, Threshold, TimeAxis};
use tsad_engine::{
    FittedModel, MODEL_VERSION, Training, detect_fitted, detect_with, fit, parse_spec,
};
use tsad_io::demo::{DemoParams, generate};

fn spec(v: serde_json::Value) -> tsad_engine::DetectorSpec {
    parse_spec(&v).unwrap().0
}

fn demo(points: usize) -> tsad_io::demo::Demo {
    generate(&DemoParams {
        points,
        ..DemoParams::default()
    })
    .unwrap()
}

fn run(series: &Series, training: Training<'_>, v: serde_json::Value) -> String {
    detect_with(
        series,
        training,
        &spec(v),
        &Threshold::default(),
        &EventOptions::default(),
        &FitContext::new(),
    )
    .unwrap_err()
    .to_string()
}

#[test]
fn a_separate_training_series_is_the_history_of_the_scored_one() {
    let d = demo(3000);
    let train = d.series.slice(0..300);
    let test = d.series.slice(300..3000);
    let seasonal = spec(json!({"kind": "seasonal"}));
    let opts = (Threshold::default(), EventOptions::default());
    let split = detect_with(
        &test,
        Training::Separate(&train),
        &seasonal,
        &opts.0,
        &opts.1,
        &FitContext::new(),
    )
    .unwrap();
    assert_eq!(split.training.source, "series");
    assert_eq!(split.training.rows, 300);
    assert_eq!(split.scores.len(), test.len());
    // The rolling detector starts warm: its first scored point already has a score, because the
    // training part was scored as its history.
    let mad = detect_with(
        &test,
        Training::Separate(&train),
        &spec(json!({"kind": "mad"})),
        &opts.0,
        &opts.1,
        &FitContext::new(),
    )
    .unwrap();
    assert!(mad.scores.score[0].is_finite());
    // Every labelled anomaly lies in the scored part; most are found.
    let found = d
        .anomalies
        .iter()
        .filter(|a| {
            split
                .events
                .iter()
                .any(|e| e.start + 300 <= a.end && a.start <= e.end + 300)
        })
        .count();
    assert!(found >= 9, "found {found} of {}", d.anomalies.len());
}

#[test]
fn a_saved_model_scores_new_data_as_the_fit_did() {
    let d = demo(2000);
    let train = d.series.slice(0..400);
    let seasonal = spec(json!({"kind": "seasonal"}));
    let fitted = fit(&train, &seasonal, &FitContext::new()).unwrap();
    let bytes = fitted.to_bytes().unwrap();
    let loaded = FittedModel::from_bytes(&bytes).unwrap();
    assert_eq!(loaded.calibration(), fitted.calibration());
    assert_eq!(loaded.spec().to_json(), seasonal.to_json());
    let (t, o) = (Threshold::default(), EventOptions::default());
    let a = detect_fitted(&d.series, &fitted, &t, &o).unwrap();
    let b = detect_fitted(&d.series, &loaded, &t, &o).unwrap();
    assert_eq!(a.cut.flags, b.cut.flags);
    assert_eq!(a.scores.rarity, b.scores.rarity);
    assert_eq!(b.training.source, "model");
    // The rarest point is an injected anomaly.
    let rarity = b.scores.rarity.unwrap();
    let top = (0..rarity.len())
        .max_by(|&i, &j| rarity[i].total_cmp(&rarity[j]))
        .unwrap();
    assert!(d.labels[top], "point {top} is the rarest but not labelled");
}

#[test]
fn bad_training_parts_say_what_is_wrong() {
    let d = demo(600);
    let short = d.series.slice(0..20);
    let cases = [
        (
            "too short to fit",
            run(&d.series, Training::Prefix(20), json!({"kind": "mad"})),
            "needs at least 49 training points, the training part has 20",
        ),
        (
            "prefix past the end",
            run(&d.series, Training::Prefix(601), json!({"kind": "mad"})),
            "the training part is 601 rows but the series has only 600",
        ),
        (
            "separate and too short",
            run(
                &d.series,
                Training::Separate(&short),
                json!({"kind": "mad"}),
            ),
            "the training part has 20",
        ),
    ];
    for (name, got, want) in cases {
        assert!(got.contains(want), "{name}: {got}");
        assert!(got.contains("`train`"), "{name}: {got}");
    }
    let rows = Series::with_axis(
        (0..600).collect(),
        d.series.values().to_vec(),
        TimeAxis::Index,
    )
    .unwrap();
    let mixed = run(&d.series, Training::Separate(&rows), json!({"kind": "mad"}));
    assert!(mixed.contains("row numbers as time"), "{mixed}");
}

#[test]
fn model_files_of_another_kind_or_version_are_refused_clearly() {
    let d = demo(600);
    let fitted = fit(&d.series, &spec(json!({"kind": "mad"})), &FitContext::new()).unwrap();
    let good: serde_json::Value = serde_json::from_slice(&fitted.to_bytes().unwrap()).unwrap();
    let mutate = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good.clone();
        f(&mut v);
        FittedModel::from_bytes(&serde_json::to_vec(&v).unwrap())
            .unwrap_err()
            .to_string()
    };
    let newer = mutate(&|v| v["version"] = json!(MODEL_VERSION + 1));
    assert!(newer.contains("version 2 is not supported"), "{newer}");
    let other_kind = mutate(&|v| v["state"]["kind"] = json!("zscore"));
    assert!(
        other_kind.contains("kind `zscore` but its spec is `mad`"),
        "{other_kind}"
    );
    let not_ours = mutate(&|v| v["format"] = json!("onnx"));
    assert!(not_ours.contains("not a tsad model file"), "{not_ours}");
    let garbage = FittedModel::from_bytes(b"\x00\x01 not json")
        .unwrap_err()
        .to_string();
    assert!(garbage.contains("not a tsad model file"), "{garbage}");
    let bad_state = mutate(&|v| v["state"]["version"] = json!(99));
    assert!(bad_state.contains("cannot load model"), "{bad_state}");
}

/// Seeded noise, uniform in [-1, 1].
fn noise(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = tsad_testing::Rng::new(seed);
    (0..n).map(|_| rng.range(-1.0, 1.0)).collect()
}

#[test]
fn new_data_noisier_than_the_training_alarms_only_where_it_stands_out() {
    // Trained on calm data; the scored data jumps by 4 every 37th point throughout (a regime
    // the training never saw), and once, at point 6,000, by 40.
    let train = Series::from_values(noise(3000, 1)).unwrap();
    let mut values = noise(10_000, 2);
    for v in values.iter_mut().step_by(37) {
        *v += 4.0;
    }
    values[6000] = 40.0;
    let test = Series::from_values(values).unwrap();
    let d = detect_with(
        &test,
        Training::Separate(&train),
        &spec(json!({"kind": "zscore"})),
        &Threshold::default(),
        &EventOptions::default(),
        &FitContext::new(),
    )
    .unwrap();
    // Against the training part alone, the noise would flood ...
    let calibration = d.calibration.as_ref().unwrap();
    let flood = calibration
        .apply(&d.scores.score)
        .iter()
        .filter(|&&r| r >= 5.0)
        .count();
    assert!(flood > 100, "{flood}");
    // ... weighed against its own scores too, the excursion is what is left.
    assert!(d.events.len() <= 3, "{} events", d.events.len());
    assert!(d.events.iter().any(|e| e.start <= 6000 && 6000 <= e.end));
}

#[test]
fn a_series_that_never_goes_below_zero_is_never_expected_to() {
    // Small counts: the z-score band (mean ± 3 std) reaches below zero.
    let counts: Vec<f64> = (0..400).map(|i| f64::from((i * 37 % 11) as u8)).collect();
    let opts = (
        Threshold::default(),
        EventOptions::default(),
        FitContext::new(),
    );
    let zscore = spec(json!({"kind": "zscore", "window": 20}));
    let series = Series::from_values(counts.clone()).unwrap();
    let d = tsad_engine::detect(&series, &zscore, &opts.0, &opts.1, &opts.2).unwrap();
    let (lo, _) = d.scores.band.as_ref().unwrap();
    assert!(
        lo[..20].iter().all(|x| x.is_nan()),
        "the warm-up stays missing"
    );
    assert!(lo[20..].iter().all(|x| *x >= 0.0));
    assert!(
        lo[20..].contains(&0.0),
        "some lower bounds were clipped at zero"
    );
    // Shifted below zero, the same series keeps its negative band.
    let shifted = Series::from_values(counts.iter().map(|c| c - 1.0).collect()).unwrap();
    let d = tsad_engine::detect(&shifted, &zscore, &opts.0, &opts.1, &opts.2).unwrap();
    let (lo, _) = d.scores.band.as_ref().unwrap();
    assert!(lo[20..].iter().any(|x| *x < -1.0));
}

/// Standouts: a spike in a quiet series fitted on noisier data can fall short of the cut-off
/// yet be the series' clear exception. Over a range of heights, the standout rule adds the
/// spike where the cut-off alone misses it, and never anything else.
#[test]
fn a_spike_just_short_of_the_cut_stands_out_and_nothing_else_does() {
    use tsad_testing::Rng;
    let noise = |n: usize, sd: f64, seed: u64| -> Vec<f64> {
        let mut rng = Rng::new(seed);
        (0..n).map(|_| 10.0 + sd * rng.normal()).collect()
    };
    let train = Series::from_values(noise(3000, 1.0, 1)).unwrap();
    let zscore = spec(json!({"kind": "zscore"}));
    let events_of = |test: &Series, standout: bool| {
        detect_with(
            test,
            Training::Separate(&train),
            &zscore,
            &Threshold::default(),
            &EventOptions {
                standout,
                ..EventOptions::default()
            },
            &FitContext::new(),
        )
        .unwrap()
        .events
    };
    let mut added = 0;
    for step in 0..=20 {
        let height = 3.0 + 0.25 * f64::from(step);
        let mut values = noise(3000, 1.0, 2);
        values[1500] += height;
        values[1501] += 0.8 * height;
        let test = Series::from_values(values).unwrap();
        let (with, without) = (events_of(&test, true), events_of(&test, false));
        let at_spike = |e: &tsad_core::Event| e.start <= 1501 && e.end >= 1500;
        assert!(
            with.iter().all(at_spike),
            "height {height}: a standout away from the spike: {with:?}"
        );
        assert!(
            without
                .iter()
                .all(|e| with.iter().any(|w| w.start <= e.start && w.end >= e.end)),
            "height {height}: the standout rule dropped an event"
        );
        if !with.is_empty() && without.is_empty() {
            added += 1;
            assert!(
                with[0].standout && with[0].severity < 1.0,
                "below the cut-off: {:?}",
                with[0]
            );
            assert!(without.iter().all(|e| !e.standout));
        }
    }
    assert!(added > 0, "no height where the spike only stands out");
}

#[test]
fn row_numbered_parts_that_jump_where_they_meet_raise_no_alarm_there() {
    // Two files scaled apart: the scored one sits 5 higher than the training one, with one
    // spike of 30 at row 1,500.
    let train_values = noise(2000, 3);
    let mut test_values: Vec<f64> = noise(3000, 4).iter().map(|v| v + 5.0).collect();
    test_values[1500] += 30.0;
    let opts = (Threshold::default(), EventOptions::default());
    // `novelty` discounts its first 1,200 points (its warm-up), and its ranges span the whole
    // past: the junction reaches that far.
    for kind in ["zscore", "mad", "novelty"] {
        let d = |train: &Series, test: &Series| {
            detect_with(
                test,
                Training::Separate(train),
                &spec(json!({ "kind": kind })),
                &opts.0,
                &opts.1,
                &FitContext::new(),
            )
            .unwrap()
        };
        // Row numbers: nothing says the parts are consecutive.
        let train = Series::from_values(train_values.clone()).unwrap();
        let test = Series::from_values(test_values.clone()).unwrap();
        let rows = d(&train, &test);
        let k = rows.training.junction_rows.expect("scored both ways");
        if kind == "novelty" {
            assert_eq!(k, 1200);
        } else {
            assert!(k > 0 && k < 200, "{kind}: {k}");
        }
        let at_junction = |det: &tsad_engine::Detection| det.events.iter().any(|e| e.start < k);
        assert!(!at_junction(&rows), "{kind}: {:?}", rows.events);
        assert!(
            rows.events.iter().any(|e| e.start <= 1500 && 1500 <= e.end),
            "{kind}: {:?}",
            rows.events
        );
        // Timestamps that make them consecutive: the jump is the data's, and an alarm.
        let minutes = |from: i64, n: usize| (from..from + n as i64).map(|i| i * 60_000).collect();
        let train = Series::new(minutes(0, 2000), train_values.clone()).unwrap();
        let test = Series::new(minutes(2000, 3000), test_values.clone()).unwrap();
        let timed = d(&train, &test);
        assert_eq!(timed.training.junction_rows, None);
        assert!(at_junction(&timed), "{kind}: {:?}", timed.events);
    }
}

#[test]
fn novelty_weighs_the_first_points_after_a_row_numbered_training_part_on_their_own() {
    // The scored file drifts 5 above the training one over its first 500 rows (as SMAP's test
    // parts often sit elsewhere than their training parts), then holds; a spike of 30 at row
    // 1,500. Joined to the training part, the drift is a new level; on its own, its first
    // rows are `novelty`'s warm-up, where a new extreme among few points is weak evidence.
    let train = Series::from_values(noise(2000, 3)).unwrap();
    let mut values: Vec<f64> = noise(3000, 4)
        .iter()
        .enumerate()
        .map(|(i, v)| v + 0.01 * i.min(500) as f64)
        .collect();
    values[1500] += 30.0;
    let test = Series::from_values(values).unwrap();
    let d = detect_with(
        &test,
        Training::Separate(&train),
        &spec(json!({"preset": "nab-best"})),
        &Threshold::default(),
        &EventOptions::default(),
        &FitContext::new(),
    )
    .unwrap();
    let starts: Vec<usize> = d.events.iter().map(|e| e.start).collect();
    assert!(starts.iter().all(|&s| s >= 1200), "{starts:?}");
    assert!(starts.contains(&1500), "{starts:?}");
    assert_eq!(d.training.junction_rows, Some(1200));
}

#[test]
fn a_training_part_until_a_time_takes_the_points_at_or_before_it() {
    let hour = 3_600_000;
    let s = Series::new((0..10).map(|i| i * hour).collect(), vec![1.0; 10]).unwrap();
    assert_eq!(tsad_engine::rows_until(&s, 0, "until").unwrap(), 1);
    assert_eq!(tsad_engine::rows_until(&s, 4 * hour, "until").unwrap(), 5);
    assert_eq!(
        tsad_engine::rows_until(&s, 4 * hour + 1, "until").unwrap(),
        5
    );
    for outside in [-1, 9 * hour, 20 * hour] {
        let e = tsad_engine::rows_until(&s, outside, "until").unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("invalid parameter `until`"), "{text}");
        assert!(
            text.contains(
                "outside the data, which runs from 1970-01-01T00:00:00Z to 1970-01-01T09:00:00Z"
            ),
            "{text}"
        );
    }
    let rows = Series::from_values(vec![1.0; 10]).unwrap();
    let e = tsad_engine::rows_until(&rows, 12, "until")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("row 12 is outside the data, which runs from row 0 to row 9"),
        "{e}"
    );
}
