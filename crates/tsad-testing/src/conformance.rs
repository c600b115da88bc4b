//! The conformance suite every detector runs (STYLE.md section 5): lengths, NaN and constant
//! input, empty input, determinism, a spike, save/load and the streaming form.

use crate::{assert_bits_eq, constant, sine_with_spike, with_nan_gaps};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use tsad_core::{Detector, Error, FitContext, Model, ModelState, Scores, Series};

/// Settings for [`conformance_with`].
#[derive(Debug, Clone)]
pub struct ConformanceOptions {
    /// Length of the synthetic series. Default 1000; slow (neural) detectors may pass less,
    /// but more than their `min_len` and enough for a warm-up before the spike at 70%.
    pub len: usize,
    /// Seed of the synthetic series. Default 42.
    pub seed: u64,
    /// Skips the "a spike outranks the baseline" checks, with the reason. For detectors that
    /// do not look for point anomalies (Benford's law tests digit distributions).
    pub skip_spike: Option<&'static str>,
    /// Index from which streaming scores must be finite. Default: the detector's `min_len`.
    pub warmup: Option<usize>,
}

impl Default for ConformanceOptions {
    fn default() -> Self {
        ConformanceOptions {
            len: 1000,
            seed: 42,
            skip_spike: None,
            warmup: None,
        }
    }
}

/// Runs the conformance suite with default options on the detector that `make` builds.
///
/// `make` is called several times and must build the same detector each time (same
/// parameters, same seed).
///
/// # Panics
///
/// When the detector breaks a rule; the message names the detector and the check.
pub fn conformance(name: &str, make: &dyn Fn() -> Box<dyn Detector>) {
    conformance_with(name, make, &ConformanceOptions::default());
}

/// Runs the conformance suite with `options`.
///
/// Checks, in order:
/// 1. empty input: `fit` and `score` fail with `NotEnoughData`; a series one point shorter
///    than `min_len` fails fitting with `NotEnoughData`; one of exactly `min_len` fits and
///    scores;
/// 2. output lengths (score, expected, band, members) equal the input's;
/// 3. determinism: two detectors from `make` give the same scores bit for bit;
/// 4. the spike of [`sine_with_spike`] has the highest finite score, or one above the 99th
///    percentile of the other finite scores (unless `skip_spike`);
/// 5. NaN input does not panic (an error is allowed) and, if scored, keeps the length;
/// 6. a constant series fits and scores without error, with no infinite score;
/// 7. save, a JSON round trip of the state, a fresh detector's `load`, and score give the
///    same scores and expected values bit for bit;
/// 8. when `online()` is `Some`: streaming the series gives finite scores from the warm-up on,
///    flags the spike like the batch form, and survives NaN input without infinite scores.
///
/// # Panics
///
/// When the detector breaks a rule.
pub fn conformance_with(
    name: &str,
    make: &dyn Fn() -> Box<dyn Detector>,
    options: &ConformanceOptions,
) {
    let (series, spike) = sine_with_spike(options.len, options.seed);
    let ctx = FitContext::new();
    let steps: [(&str, &dyn Fn()); 8] = [
        ("empty and short input", &|| check_short(make, &ctx)),
        ("output lengths", &|| {
            let scores = fit_score(make, &series, &ctx);
            check_lengths(&scores, series.len());
        }),
        ("determinism", &|| {
            let a = fit_score(make, &series, &ctx);
            let b = fit_score(make, &series, &ctx);
            assert_bits_eq(&a.score, &b.score, "scores of two identical fits");
        }),
        ("spike outranks the baseline", &|| {
            if options.skip_spike.is_none() {
                let scores = fit_score(make, &series, &ctx);
                check_spike(&scores.score, spike, 0, "batch");
            }
        }),
        ("NaN input", &|| {
            let gappy = with_nan_gaps(&series, options.seed);
            if let Ok(model) = make().fit(&gappy, &ctx)
                && let Ok(scores) = model.score(&gappy)
            {
                check_lengths(&scores, gappy.len());
                assert!(
                    scores.score.iter().all(|s| !s.is_infinite()),
                    "infinite score on NaN input"
                );
            }
        }),
        ("constant series", &|| {
            let flat = constant(options.len, 5.0);
            let model = make()
                .fit(&flat, &ctx)
                .unwrap_or_else(|e| panic!("fit on a constant series failed: {e}"));
            let scores = model
                .score(&flat)
                .unwrap_or_else(|e| panic!("score on a constant series failed: {e}"));
            check_lengths(&scores, flat.len());
            assert!(
                scores.score.iter().all(|s| !s.is_infinite()),
                "infinite score on a constant series"
            );
        }),
        ("save and load", &|| check_save_load(make, &series, &ctx)),
        ("streaming", &|| {
            check_online(make, &series, spike, options);
        }),
    ];
    for (step, check) in steps {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(check)) {
            eprintln!("conformance of `{name}` failed at step `{step}`");
            resume_unwind(panic);
        }
    }
}

/// Checks that a fitted model's scoring honours the cancel flag: it scores a 500-point series
/// with a fresh flag, then fails with [`Error::Cancelled`] once the flag is set.
///
/// # Panics
///
/// When the first scoring fails or the second does not stop with `Error::Cancelled`.
pub fn assert_scoring_stops_when_cancelled(detector: &dyn Detector) {
    let (series, _) = sine_with_spike(500, 1);
    let model = detector.fit(&series, &FitContext::new()).unwrap();
    let cancel = tsad_core::CancelFlag::new();
    let ctx = FitContext::new().with_cancel(cancel.clone());
    assert!(model.score_with(&series, &ctx).is_ok());
    cancel.cancel();
    let err = model.score_with(&series, &ctx).unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
}

fn fit_score(make: &dyn Fn() -> Box<dyn Detector>, series: &Series, ctx: &FitContext) -> Scores {
    let model = make()
        .fit(series, ctx)
        .unwrap_or_else(|e| panic!("fit failed: {e}"));
    model
        .score(series)
        .unwrap_or_else(|e| panic!("score failed: {e}"))
}

fn check_short(make: &dyn Fn() -> Box<dyn Detector>, ctx: &FitContext) {
    let detector = make();
    let min_len = detector.min_len();
    assert!(min_len >= 1, "min_len must be at least 1");
    let empty = Series::from_values(Vec::new()).expect("an empty series is valid");
    match detector.fit(&empty, ctx) {
        Err(Error::NotEnoughData { needed, got: 0 }) => assert!(needed >= 1),
        other => panic!("fit on empty input: want NotEnoughData, got {other:?}"),
    }
    let (long, _) = sine_with_spike(min_len.max(16) + 4, 1);
    let at_min = long.slice(0..min_len);
    let model = detector
        .fit(&at_min, ctx)
        .unwrap_or_else(|e| panic!("fit on exactly min_len = {min_len} points failed: {e}"));
    let scores = model
        .score(&at_min)
        .unwrap_or_else(|e| panic!("score on exactly min_len = {min_len} points failed: {e}"));
    check_lengths(&scores, min_len);
    match model.score(&empty) {
        Err(Error::NotEnoughData { .. }) => {}
        other => panic!("score on empty input: want NotEnoughData, got {other:?}"),
    }
    if min_len > 1 {
        match detector.fit(&long.slice(0..min_len - 1), ctx) {
            Err(Error::NotEnoughData { needed, got }) => {
                assert_eq!(
                    (needed, got),
                    (min_len, min_len - 1),
                    "NotEnoughData fields"
                )
            }
            other => panic!("fit on min_len - 1 points: want NotEnoughData, got {other:?}"),
        }
    }
}

fn check_lengths(scores: &Scores, n: usize) {
    assert_eq!(scores.score.len(), n, "score length");
    if let Some(e) = &scores.expected {
        assert_eq!(e.len(), n, "expected length");
    }
    if let Some((lo, hi)) = &scores.band {
        assert_eq!((lo.len(), hi.len()), (n, n), "band lengths");
    }
    for m in &scores.members {
        assert_eq!(
            (m.normalized.len(), m.raw.len()),
            (n, n),
            "member `{}` lengths",
            m.name
        );
    }
}

fn check_spike(score: &[f64], spike: usize, from: usize, what: &str) {
    let s = score[spike];
    assert!(s.is_finite(), "{what}: the spike's score is {s}");
    let mut rest: Vec<f64> = score
        .iter()
        .enumerate()
        .filter(|&(i, x)| i >= from && i != spike && x.is_finite())
        .map(|(_, x)| *x)
        .collect();
    if rest.is_empty() {
        return;
    }
    rest.sort_by(f64::total_cmp);
    let max = rest[rest.len() - 1];
    let p99 = rest[((rest.len() - 1) as f64 * 0.99).floor() as usize];
    assert!(
        s >= max || s > p99,
        "{what}: the spike at {spike} scores {s}, not above the rest's max {max} or 99th percentile {p99}"
    );
}

fn check_save_load(make: &dyn Fn() -> Box<dyn Detector>, series: &Series, ctx: &FitContext) {
    let detector = make();
    let model: Box<dyn Model> = detector.fit(series, ctx).expect("fit");
    let before = model.score(series).expect("score");
    let state = model.save().unwrap_or_else(|e| panic!("save failed: {e}"));
    assert_eq!(state.kind, detector.kind(), "saved kind");
    assert!(state.version >= 1, "saved version");
    let json = serde_json::to_string(&state).expect("a model state serialises to JSON");
    let state: ModelState = serde_json::from_str(&json).expect("and parses back");
    let loaded = make()
        .load(&state)
        .unwrap_or_else(|e| panic!("load failed: {e}"));
    let after = loaded.score(series).expect("score after load");
    assert_bits_eq(&after.score, &before.score, "scores after save/load");
    match (&after.expected, &before.expected) {
        (Some(a), Some(b)) => assert_bits_eq(a, b, "expected after save/load"),
        (None, None) => {}
        _ => panic!("expected values appear or vanish after save/load"),
    }
    let mut wrong = state.clone();
    wrong.kind = "no_such_kind".into();
    assert!(
        matches!(make().load(&wrong), Err(Error::Load { .. })),
        "loading a state of another kind must fail with Error::Load"
    );
}

fn check_online(
    make: &dyn Fn() -> Box<dyn Detector>,
    series: &Series,
    spike: usize,
    options: &ConformanceOptions,
) {
    let detector = make();
    let Some(mut online) = detector.online() else {
        return;
    };
    let warmup = options.warmup.unwrap_or(detector.min_len());
    let streamed = online.update_all(series.timestamps(), series.values());
    if let Some(i) = (warmup..streamed.len()).find(|&i| !streamed[i].is_finite()) {
        panic!(
            "streaming score at {i} (after the warm-up of {warmup}) is {}",
            streamed[i]
        );
    }
    if options.skip_spike.is_none() {
        check_spike(&streamed, spike, warmup, "streaming");
    }
    let gappy = with_nan_gaps(series, options.seed);
    let mut online = make().online().expect("online() is Some once, so always");
    for (&t, &v) in gappy.timestamps().iter().zip(gappy.values()) {
        let s = online.update(t, v);
        assert!(!s.is_infinite(), "infinite streaming score on NaN input");
    }
}
