//! The default preset on short series: a swing whose period is not a whole number of points
//! (the Python Spark test's data) raises almost no false event, and a level shift is found.
//! Both turn on how the ensemble scales its `level` member: by its few peaks among zeros, every
//! ordinary swing stood out; by its dense change with the shift's own hump in it, the shift
//! did not; by what is left of the dense change without a floor, an integer period's drift
//! stood out now and then.

use tsad_core::{EventOptions, FitContext, Series, Threshold};
use tsad_engine::{detect, parse_spec};
use tsad_testing::Rng;

const SERIES: usize = 60;
const POINTS: usize = 300;

fn default_events(values: Vec<f64>) -> Vec<tsad_core::Event> {
    let (spec, _) = parse_spec(&serde_json::json!({"preset": "robust-stats"})).unwrap();
    let series = Series::from_values(values).unwrap();
    detect(
        &series,
        &spec,
        &Threshold::default(),
        &EventOptions::default(),
        &FitContext::new(),
    )
    .unwrap()
    .events
}

#[test]
fn the_default_raises_few_false_events_on_short_swings() {
    let mut rng = Rng::new(11);
    let (mut spiked, mut found, mut false_events) = (0, 0, 0);
    for s in 0..SERIES {
        let mut values: Vec<f64> = (0..POINTS)
            .map(|t| 50.0 + 5.0 * (t as f64 / 12.0).sin() + rng.normal())
            .collect();
        let spike = (s % 3 == 0).then(|| 100 + (rng.uniform() * 200.0) as usize);
        if let Some(at) = spike {
            values[at] += 30.0;
            spiked += 1;
        }
        for e in &default_events(values) {
            match spike {
                Some(at) if e.start <= at + 2 && at <= e.end + 2 => found += 1,
                _ => false_events += 1,
            }
        }
    }
    // 18,000 points: the default threshold promises about 0.2 false alarms. With `level`
    // scaled by its few peaks, these series raised 13; scaled by its dense change, 5 (the
    // largest swing of a series stood out of 300 points now and then); with that scale
    // floored at half a standard error, none.
    assert!(found >= spiked * 9 / 10, "{found} of {spiked} spikes found");
    assert!(false_events <= 1, "{false_events} false events");
}

#[test]
fn the_default_finds_a_level_shift_in_a_short_series() {
    // 300 hourly points of a daily cycle (±10, noise 1.5) whose level rises by 8 for the last
    // quarter: the shift is about a fifth of the points `level` scores.
    for seed in 1..=6 {
        let mut rng = Rng::new(seed);
        let values: Vec<f64> = (0..300)
            .map(|i| {
                let day = std::f64::consts::TAU * i as f64 / 24.0;
                50.0 + 10.0 * day.sin() + 1.5 * rng.normal() + if i >= 225 { 8.0 } else { 0.0 }
            })
            .collect();
        let events = default_events(values);
        assert!(
            // (The change's peak carries its medians' noise: up to half a cycle.)
            events.iter().any(|e| e.start <= 237 && 213 <= e.end),
            "seed {seed}: {events:?}"
        );
    }
}
