//! `tsad detect` on many series at once (wide and long files, several files, a directory),
//! driven through the compiled binary as a user would.

use std::fmt::Write as _;

mod common;

use common::tsad;

/// Hourly ISO timestamps from 2024-01-01.
fn iso(i: usize) -> String {
    let (day, hour) = (i / 24, i % 24);
    format!(
        "2024-{:02}-{:02}T{hour:02}:00:00Z",
        1 + day / 28,
        1 + day % 28
    )
}

/// A smooth daily shape with seeded noise, as a metric has.
fn normal(i: usize, k: usize) -> f64 {
    let noise = ((i * 7919 + k * 104_729) % 1000) as f64 / 1000.0 - 0.5;
    100.0 + 10.0 * (i as f64 * std::f64::consts::TAU / 24.0).sin() + noise
}

#[test]
fn a_wide_file_ranks_the_columns_with_anomalies_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("time");
    for k in 0..50 {
        write!(csv, ",m{k}").unwrap();
    }
    csv.push_str(",host\n");
    for i in 0..600 {
        csv.push_str(&iso(i));
        for k in 0..50 {
            // Every tenth column has one spike, each taller than the one before.
            let spike = if k % 10 == 0 && i == 400 + k {
                40.0 + k as f64
            } else {
                0.0
            };
            write!(csv, ",{:.3}", normal(i, k) + spike).unwrap();
        }
        csv.push_str(",web-1\n");
    }
    std::fs::write(dir.path().join("wide.csv"), &csv).unwrap();

    let run = tsad(dir.path(), &["detect", "wide.csv", "--all-columns", "-q"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .starts_with("wide.csv: 50 series, wide format (a column per series), 30,000 points"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("0 failed"), "{}", run.stdout);
    let ranked: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("rank"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    for k in [0, 10, 20, 30, 40] {
        assert!(ranked.contains(&format!("m{k}").as_str()), "{ranked:?}");
    }
    assert!(
        run.stderr.contains("\"host\" (text)"),
        "the skipped text column is named: {}",
        run.stderr
    );

    // JSON lines: one line per series, then the fleet summary.
    let run = tsad(
        dir.path(),
        &[
            "detect",
            "wide.csv",
            "--all-columns",
            "-q",
            "--format",
            "json",
        ],
    );
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 51);
    assert_eq!(lines[0]["name"], "m0");
    assert_eq!(lines[49]["name"], "m49");
    assert!(lines[10]["event_count"].as_u64().unwrap() >= 1);
    let fleet = &lines[50]["fleet"];
    assert_eq!(fleet["series"], 50);
    assert_eq!(fleet["ranking"].as_array().unwrap().len(), 20, "--top 20");
    assert!(fleet["ranking"][0]["worst"]["peak_time"].is_string());

    // CSV: one header, then one row per point of every series.
    let run = tsad(
        dir.path(),
        &[
            "detect",
            "wide.csv",
            "--value-columns",
            "m3,m10",
            "-q",
            "--format",
            "csv",
        ],
    );
    let rows: Vec<&str> = run.stdout.lines().collect();
    assert!(
        rows[0].starts_with("series,timestamp,value,"),
        "{}",
        rows[0]
    );
    assert_eq!(rows.len(), 1 + 2 * 600);
    assert!(
        rows[1].starts_with("m3,2024-01-01T00:00:00Z,"),
        "{}",
        rows[1]
    );
    assert!(rows[601].starts_with("m10,"), "{}", rows[601]);
}

#[test]
fn a_long_file_with_ten_thousand_series_gives_a_fleet_summary() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("series,time,value\n");
    // Interleaved by time, as metric exports are. Each series is calibrated on its own 150
    // points, few enough that only a clear outlier can reach the default rarity.
    for i in 0..150 {
        for k in 0..10_000 {
            let spike = if k == 4242 && i == 130 { 500.0 } else { 0.0 };
            writeln!(csv, "s{k:05},{},{:.2}", iso(i), normal(i, k) + spike).unwrap();
        }
    }
    std::fs::write(dir.path().join("long.csv"), &csv).unwrap();
    let run = tsad(
        dir.path(),
        &[
            "detect",
            "long.csv",
            "--series-column",
            "series",
            "--detector",
            "mad",
            "--set",
            "window=10",
            "-q",
        ],
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with(
            "long.csv: 10000 series, long format (series id column series), 1,500,000 points"
        ),
        "{}",
        run.stdout
    );
    let first = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("rank"))
        .nth(1)
        .unwrap_or_default();
    assert!(
        first.trim_start().starts_with("1  s04242 "),
        "{}",
        run.stdout
    );
}

#[test]
fn bad_series_are_reported_one_by_one_and_the_rest_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("id,time,value\n");
    for i in 0..300 {
        let spike = if i == 200 { 80.0 } else { 0.0 };
        writeln!(csv, "good,{},{:.3}", iso(i), normal(i, 1) + spike).unwrap();
        // A row without its id every 50 rows.
        let id = if i % 50 == 0 { "" } else { "gappy" };
        writeln!(csv, "{id},{},{:.3}", iso(i), normal(i, 2)).unwrap();
        // The same id twice at the same time, with different values.
        writeln!(csv, "twice,{},{:.3}", iso(i), normal(i, 3)).unwrap();
        writeln!(csv, "twice,{},{:.3}", iso(i), normal(i, 3) + 1.0).unwrap();
    }
    // A series far shorter than the rest, and one that is all text.
    for i in 0..3 {
        writeln!(csv, "short,{},1", iso(i)).unwrap();
        writeln!(csv, "words,{},n/a-ish", iso(i)).unwrap();
    }
    std::fs::write(dir.path().join("mixed.csv"), &csv).unwrap();
    let run = tsad(
        dir.path(),
        &["detect", "mixed.csv", "--series-column", "id", "-q"],
    );
    let all = format!("{}{}", run.stdout, run.stderr);
    assert_eq!(run.code, 1, "{all}");
    assert!(run.stdout.contains("5 series"), "{all}");
    assert!(run.stdout.contains("2 failed"), "{all}");
    assert!(
        run.stderr
            .contains("6 of 1206 rows have no series id and were skipped"),
        "{all}"
    );
    assert!(
        run.stderr
            .contains("series \"twice\": 300 rows repeated an earlier timestamp"),
        "{all}"
    );
    let failed = run.stdout.split("failed (2):").nth(1).unwrap_or_default();
    assert!(
        failed.contains("short: detector `")
            && failed.contains("not enough data: need 49 points, got 3"),
        "{all}"
    );
    assert!(
        failed.contains("words: mixed.csv, series \"words\": line ")
            && failed.contains("\"n/a-ish\" is not a number"),
        "{all}"
    );
    assert!(run.stdout.contains("good"), "{all}");

    // CSV output has no row for a failed series; stderr names it.
    let run = tsad(
        dir.path(),
        &[
            "detect",
            "mixed.csv",
            "--series-column",
            "id",
            "-q",
            "--format",
            "csv",
        ],
    );
    assert!(
        run.stderr.contains("error: series \"short\": detector `"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("\nshort,"), "{}", run.stdout);
    assert!(run.stdout.contains("\ngood,"));
}

#[test]
fn several_files_and_a_directory_are_one_fleet_named_by_file() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("metrics");
    std::fs::create_dir(&sub).unwrap();
    for (name, spike_at) in [("cpu", Some(250)), ("mem", None), ("disk", None)] {
        let mut csv = String::from("time,value\n");
        for i in 0..400 {
            let spike = if Some(i) == spike_at { 60.0 } else { 0.0 };
            writeln!(csv, "{},{:.3}", iso(i), normal(i, name.len()) + spike).unwrap();
        }
        std::fs::write(sub.join(format!("{name}.csv")), csv).unwrap();
    }
    std::fs::write(sub.join("notes.txt"), "not a csv").unwrap();
    let run = tsad(dir.path(), &["detect", "metrics", "-q", "--format", "json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let names: Vec<String> = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, ["cpu", "disk", "mem"]);
    let fleet: serde_json::Value =
        serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(fleet["fleet"]["ranking"][0]["name"], "cpu");

    let run = tsad(
        dir.path(),
        &["detect", "metrics/cpu.csv", "metrics/mem.csv", "-q"],
    );
    assert!(
        run.stdout.starts_with("2 files: 2 series"),
        "{}",
        run.stdout
    );
}

#[test]
fn fleet_options_that_cannot_apply_are_errors_that_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("time,a,b\n");
    for i in 0..100 {
        writeln!(csv, "{},{:.3},{:.3}", iso(i), normal(i, 1), normal(i, 2)).unwrap();
    }
    std::fs::write(dir.path().join("w.csv"), &csv).unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["detect", "w.csv", "--all-columns", "--model", "m.json"],
            "holds the model of one series",
        ),
        (
            &["detect", "w.csv", "--all-columns", "--train", "w.csv"],
            "use --train-rows or --train-until",
        ),
        (
            &["detect", "w.csv", "--all-columns", "--explain"],
            "--explain explains the events of one series",
        ),
        (&["detect", "empty"], "holds no .csv file"),
        (
            &["detect", "w.csv", "--series-column", "zz"],
            "no column named \"zz\" for the series id column",
        ),
        (
            &[
                "detect",
                "w.csv",
                "--all-columns",
                "--detector",
                "mad",
                "--set",
                "window=500",
            ],
            "every one of the 2 series failed; the first: detector `mad` failed on series",
        ),
    ];
    for (args, want) in cases {
        let run = tsad(dir.path(), args);
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(want), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn a_joint_score_names_the_columns_that_moved_together() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("time,cpu,mem,disk,net\n");
    for i in 0..1500 {
        // cpu jumps up and disk drops at the same hour; mem and net stay normal.
        let (up, down) = if i == 1200 { (30.0, -25.0) } else { (0.0, 0.0) };
        writeln!(
            csv,
            "{},{:.3},{:.3},{:.3},{:.3}",
            iso(i),
            normal(i, 1) + up,
            normal(i, 2),
            normal(i, 3) + down,
            normal(i, 4)
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("host.csv"), &csv).unwrap();
    let run = tsad(
        dir.path(),
        &["detect", "host.csv", "--all-columns", "--joint", "-q"],
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let joint = run
        .stdout
        .split("joint score over 4 series: ")
        .nth(1)
        .unwrap_or_else(|| panic!("{}", run.stdout));
    let first = joint
        .lines()
        .find(|l| l.trim_start().starts_with("1  "))
        .unwrap_or_else(|| panic!("{joint}"));
    assert!(first.contains(&iso(1200)), "{first}");
    assert!(first.contains("cpu ") && first.contains("disk "), "{first}");
    assert!(
        !first.contains("mem ") && !first.contains("net "),
        "{first}"
    );

    let run = tsad(
        dir.path(),
        &[
            "detect",
            "host.csv",
            "--all-columns",
            "--joint",
            "-q",
            "--format",
            "json",
        ],
    );
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let joint = &lines[lines.len() - 2]["joint"];
    assert_eq!(joint["series"], 4);
    let top = joint["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"]["rank"] == 1)
        .unwrap();
    assert_eq!(top["event"]["peak_time"], iso(1200));
    // The two movers lead, each far beyond the cut-off (rarity 11-30); their order turns on
    // how each column's own tail reads this file's patterned noise (`normal`'s steps repeat
    // every 18 cycles at one hour of the day), not on the 30 against 25.
    let mut movers: Vec<&str> = top["movers"].as_array().unwrap()[..2]
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    movers.sort_unstable();
    assert_eq!(movers, ["cpu", "disk"]);

    // One series is not a joint score.
    let run = tsad(
        dir.path(),
        &[
            "detect",
            "host.csv",
            "--value-columns",
            "cpu",
            "--joint",
            "-q",
        ],
    );
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("needs at least two series"),
        "{}",
        run.stderr
    );
    // Nor is a file of one series: --joint is never silently ignored.
    let run = tsad(dir.path(), &["detect", "host.csv", "--joint", "-q"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("needs at least two series"),
        "{}",
        run.stderr
    );
}
