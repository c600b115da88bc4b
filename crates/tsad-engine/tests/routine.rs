//! A nightly job's spike is the series' routine, not an alarm: the default run sets it aside and
//! says so (`Cut::routine`), and `routine: false` flags it again.

use tsad_core::routine::Period;
use tsad_core::{EventOptions, FitContext, Series, Threshold};
use tsad_engine::{Detection, detect, parse_spec};
use tsad_testing::{Rng, nab_dir};

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

fn run(series: &Series, options: &EventOptions) -> Detection {
    run_at(series, &Threshold::default(), options)
}

fn run_at(series: &Series, threshold: &Threshold, options: &EventOptions) -> Detection {
    let (spec, _) = parse_spec(&serde_json::json!({"preset": "robust-stats"})).unwrap();
    detect(series, &spec, threshold, options, &FitContext::new()).unwrap()
}

/// Two weeks of a quiet metric every 5 minutes (from Friday 2014-02-14), with a job that lifts
/// it every night at a few minutes past 03:00, and one spike on the afternoon of day 9.
fn nightly_job() -> (Series, i64) {
    let start = 1_392_336_000_000;
    let n = 14 * DAY / (5 * MINUTE);
    let mut rng = Rng::new(7);
    let timestamps: Vec<i64> = (0..n).map(|i| start + i * 5 * MINUTE).collect();
    let mut values: Vec<f64> = (0..n).map(|_| 0.13 + 0.004 * rng.normal()).collect();
    for day in 0..14 {
        let jitter = (rng.uniform() * 8.0) as i64; // 03:05 to 03:40
        values[((day * DAY + 185 * MINUTE) / (5 * MINUTE) + jitter) as usize] += 1.4;
    }
    let afternoon = 9 * DAY + 15 * 60 * MINUTE;
    values[(afternoon / (5 * MINUTE)) as usize] += 2.2;
    (Series::new(timestamps, values).unwrap(), start + afternoon)
}

#[test]
fn a_nightly_job_is_set_aside_and_the_one_real_spike_stays() {
    let (series, afternoon) = nightly_job();
    let d = run(&series, &EventOptions::default());
    let peaks: Vec<i64> = d.events.iter().map(|e| e.peak_time).collect();
    assert_eq!(peaks, [afternoon], "{:?}", d.events);
    assert_eq!(d.cut.routine.len(), 1, "{:?}", d.cut.routine);
    let r = &d.cut.routine[0];
    assert_eq!((r.period, r.events), (Period::Day, 14));
    assert!(
        r.summary.starts_with("14 events, every day between 03:"),
        "{}",
        r.summary
    );
    // Their points are unflagged: the flags are the one event's.
    assert_eq!(d.cut.count(), d.events[0].flagged);

    let kept = run(
        &series,
        &EventOptions {
            routine: false,
            ..EventOptions::default()
        },
    );
    assert_eq!(kept.events.len(), 15);
    assert!(kept.cut.routine.is_empty());

    // A raw rule flags exactly what it says: no routine is set aside.
    let robust: Threshold =
        serde_json::from_value(serde_json::json!({"method": "robust", "k": 30})).unwrap();
    let raw = run_at(&series, &robust, &EventOptions::default());
    assert_eq!(raw.events.len(), 15, "{:?}", raw.events);
    assert!(raw.cut.routine.is_empty());
}

#[test]
fn the_same_spikes_on_a_row_number_axis_stay_events() {
    let (series, _) = nightly_job();
    let rows = Series::from_values(series.values().to_vec()).unwrap();
    let d = run(&rows, &EventOptions::default());
    assert_eq!(d.events.len(), 15);
    assert!(d.cut.routine.is_empty());
}

/// NAB's `ec2_cpu_utilization_24ae8d.csv`: a job lifts the CPU every night between 03:05 and
/// 03:40; before routines, the default run raised one event a night.
#[test]
fn nabs_nightly_cpu_job_is_routine() {
    let Some(dir) = nab_dir() else { return };
    let path = dir.join("data/realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv");
    let series = tsad_io::read_path(&path, &tsad_io::IngestOptions::default())
        .unwrap()
        .series;
    let d = run(&series, &EventOptions::default());
    assert_eq!(d.cut.routine.len(), 1, "{:?}", d.cut.routine);
    assert_eq!(d.cut.routine[0].period, Period::Day);
    assert!(d.cut.routine[0].events >= 12, "{:?}", d.cut.routine);
    // What is left is not at the job's time of night.
    for e in &d.events {
        let minute = e.peak_time.rem_euclid(DAY) / MINUTE;
        assert!(!(185..=220).contains(&minute), "{e:?}");
    }
    assert!(d.events.len() <= 2, "{:?}", d.events);
}

/// A CPU metric every 5 minutes for 69 days with a daily cycle, and a job that lifts it by 12
/// noise deviations every night at 02:30, and one spike on an afternoon. The cut takes the job
/// only on the nights its noise helped it: scattered nights, fewer than half, so the events
/// alone are no routine; the nights that came close make it one.
#[test]
fn a_job_the_cut_takes_only_on_some_nights_is_routine_through_its_near_misses() {
    let start = 1_704_067_200_000; // Monday 2024-01-01
    let n = 20_000;
    let mut rng = Rng::new(2);
    let timestamps: Vec<i64> = (0..n).map(|i| start + i * 5 * MINUTE).collect();
    let mut values: Vec<f64> = (0..n)
        .map(|i| {
            let day = (i % 288) as f64 / 288.0;
            40.0 + 15.0 * (2.0 * std::f64::consts::PI * day).sin() + 2.0 * rng.normal()
        })
        .collect();
    for i in (30..n as usize).step_by(288) {
        values[i] += 25.0;
    }
    let afternoon = 40 * 288 + 180;
    values[afternoon] += 60.0;
    let series = Series::new(timestamps, values).unwrap();

    let d = run(&series, &EventOptions::default());
    let peaks: Vec<i64> = d.events.iter().map(|e| e.peak_time).collect();
    assert_eq!(peaks, [series.timestamps()[afternoon]], "{:?}", d.events);
    assert_eq!(d.cut.routine.len(), 1, "{:?}", d.cut.routine);
    let r = &d.cut.routine[0];
    assert_eq!(r.period, Period::Day);
    assert!(
        r.summary.ends_with("every day at 02:30 UTC"),
        "{}",
        r.summary
    );
    // The cut took the job on fewer than half of its 69 nights: the events alone were no
    // routine.
    assert!((7..35).contains(&r.events), "{}", r.summary);
}
