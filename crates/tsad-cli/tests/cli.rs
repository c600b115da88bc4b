//! Drives the compiled `tsad` binary in a temporary directory, as a user would.

use std::path::{Path, PathBuf};

mod common;

use common::{Run, tsad};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Compares with `tests/golden/NAME`, printing a line diff; `TSAD_UPDATE_GOLDEN=1` rewrites it.
fn assert_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("TSAD_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {}; run with TSAD_UPDATE_GOLDEN=1",
            path.display()
        )
    });
    if expected != actual {
        let mut diff = String::new();
        let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
        for i in 0..e.len().max(a.len()) {
            match (e.get(i), a.get(i)) {
                (Some(x), Some(y)) if x == y => diff += &format!("  {x}\n"),
                (x, y) => {
                    if let Some(x) = x {
                        diff += &format!("- {x}\n");
                    }
                    if let Some(y) = y {
                        diff += &format!("+ {y}\n");
                    }
                }
            }
        }
        panic!(
            "output differs from {} (- golden, + actual):\n{diff}",
            path.display()
        );
    }
}

/// Timings change from run to run; everything else is deterministic.
fn without_timings(s: &str) -> String {
    s.lines()
        .map(|l| match l.find(" (fit ") {
            Some(i) => format!("{} (fit _, score _)", &l[..i]),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn demo_then_detect_finds_the_injected_anomalies() {
    let dir = tempfile::tempdir().unwrap();
    let demo = tsad(dir.path(), &["demo", "--output", "demo.csv"]);
    assert_eq!(demo.code, 0, "{}", demo.stderr);
    assert!(demo.stderr.contains("--train-rows 200"), "{}", demo.stderr);
    // Fitted on the normal part `tsad demo` points to.
    let run = tsad(dir.path(), &["detect", "demo.csv", "--train-rows", "200"]);
    assert_eq!(
        run.code, 1,
        "anomalies found -> exit 1; stderr: {}",
        run.stderr
    );
    assert_golden("detect_demo.txt", &without_timings(&run.stdout));
    // Calibrated on itself, the short demo (2.5% anomalous) raises no false alarm.
    let own = tsad(dir.path(), &["detect", "demo.csv", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&own.stdout).unwrap();
    assert!(
        v["event_count"].as_u64().unwrap() <= 9,
        "{}",
        v["event_count"]
    );
    // It flags nothing, and the table says where the rarest point is and what reaches it
    // rather than ending at "0 events".
    assert_eq!(v["event_count"], 0, "the hint below needs an empty result");
    // The JSON says the same as the API's `quiet`: the rarest point, its time as events give
    // theirs, and the rate that reaches it.
    let quiet = &v["quiet"];
    assert_eq!(quiet["reason"], "below_cut", "{quiet}");
    assert_eq!(quiet["every"], 1000.0, "{quiet}");
    assert!(
        quiet["time"]
            .as_str()
            .is_some_and(|t| t.starts_with("2024-")),
        "{quiet}"
    );
    let own = tsad(dir.path(), &["detect", "demo.csv"]);
    assert_eq!(own.code, 0, "{}", own.stderr);
    let hint = own
        .stdout
        .lines()
        .find(|l| l.starts_with("nothing passed the cut-off"))
        .unwrap_or_else(|| panic!("{}", own.stdout));
    assert!(hint.contains("the rarest point, at 2024-"), "{hint}");
    assert!(hint.contains("--every 1000 flags"), "{hint}");
    assert!(hint.contains("--train-rows N"), "{hint}");
    // Points that pass but form no event long enough are not "nothing passed".
    let dropped = tsad(
        dir.path(),
        &[
            "detect",
            "demo.csv",
            "--train-rows",
            "200",
            "--min-points",
            "1000",
        ],
    );
    assert_eq!(dropped.code, 0, "{}", dropped.stderr);
    assert!(
        dropped
            .stdout
            .contains("no event kept: points passed the cut-off")
            && !dropped.stdout.contains("nothing passed"),
        "{}",
        dropped.stdout
    );
}

#[test]
fn a_flat_series_is_said_to_have_nothing_standing_out() {
    let dir = tempfile::tempdir().unwrap();
    let rows: String = (0..500).map(|i| format!("{i},5\n")).collect();
    write(
        dir.path(),
        "flat.csv",
        format!("row,value\n{rows}").as_bytes(),
    );
    let run = tsad(dir.path(), &["detect", "flat.csv", "--no-time-column"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("nothing passed the cut-off, and no point stands out"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("--every"), "{}", run.stdout);
}

#[test]
fn json_output_has_the_documented_fields_and_points() {
    let dir = tempfile::tempdir().unwrap();
    tsad(
        dir.path(),
        &["demo", "--points", "500", "--output", "demo.csv"],
    );
    let run = tsad(
        dir.path(),
        &[
            "detect",
            "demo.csv",
            "--detector",
            "mad",
            "--format",
            "json",
            "--points",
        ],
    );
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    for field in [
        "series",
        "detector",
        "threshold",
        "anomaly_count",
        "events",
        "diagnostics",
        "points",
    ] {
        assert!(
            v.get(field).is_some(),
            "missing `{field}` in {}",
            &run.stdout[..200]
        );
    }
    assert_eq!(v["series"]["points"], 500);
    assert_eq!(v["series"]["step_ms"], 3_600_000);
    assert_eq!(v["detector"]["kind"], "mad");
    assert_eq!(v["points"].as_array().unwrap().len(), 500);
    let flagged = v["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["anomaly"] == true)
        .count();
    assert_eq!(v["anomaly_count"], flagged);
    assert_eq!(run.code, i32::from(flagged > 0));
}

#[test]
fn csv_output_has_one_row_per_point() {
    let dir = tempfile::tempdir().unwrap();
    tsad(
        dir.path(),
        &["demo", "--points", "300", "--output", "demo.csv"],
    );
    let run = tsad(
        dir.path(),
        &[
            "detect", "demo.csv", "--format", "csv", "--output", "out.csv",
        ],
    );
    assert_eq!(run.stdout, "");
    let out = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some(
            "timestamp,value,expected,lower,upper,score,rarity,anomaly,event,score_seasonal,\
             score_mad,score_level"
        )
    );
    assert_eq!(lines.count(), 300);
}

/// A long series' rows are formatted in blocks on several threads: they still come out once
/// each, in the input's order, with their events numbered in time order.
#[test]
fn csv_output_of_a_long_series_keeps_the_input_order() {
    let dir = tempfile::tempdir().unwrap();
    tsad(
        dir.path(),
        &["demo", "--points", "40000", "--output", "demo.csv"],
    );
    tsad(
        dir.path(),
        &[
            "detect",
            "demo.csv",
            "--detector",
            "zscore",
            "--format",
            "csv",
            "--output",
            "out.csv",
        ],
    );
    let input = std::fs::read_to_string(dir.path().join("demo.csv")).unwrap();
    let out = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    let (mut rows, mut last_event, mut events) = (0, 0, 0);
    for (a, b) in input.lines().skip(1).zip(out.lines().skip(1)) {
        let a: Vec<&str> = a.split(',').collect();
        let b: Vec<&str> = b.split(',').collect();
        // The same timestamp, and the same value as a number.
        assert_eq!(a[0], b[0], "row {rows}");
        assert_eq!(
            a[1].parse::<f64>().unwrap(),
            b[1].parse::<f64>().unwrap(),
            "row {rows}"
        );
        if let Ok(e) = b[8].parse::<usize>() {
            assert!(
                e == last_event || e == last_event + 1,
                "row {rows}: event {e}"
            );
            events += usize::from(e != last_event);
            last_event = e;
        }
        rows += 1;
    }
    assert_eq!(rows, 40_000);
    assert_eq!(out.lines().count(), 40_001);
    assert!(events > 0, "the demo's anomalies make events");
}

#[test]
fn no_anomaly_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let rows: String = (0..200).map(|i| format!("{i},5\n")).collect();
    write(dir.path(), "flat.csv", format!("t,v\n{rows}").as_bytes());
    let run = tsad(dir.path(), &["detect", "flat.csv", "--detector", "zscore"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("0 anomalous points in 0 events"),
        "{}",
        run.stdout
    );
}

#[test]
fn presets_and_settings_reach_the_detector() {
    let dir = tempfile::tempdir().unwrap();
    tsad(
        dir.path(),
        &["demo", "--points", "400", "--output", "demo.csv"],
    );
    let run = tsad(
        dir.path(),
        &[
            "detect",
            "demo.csv",
            "--preset",
            "robust-stats",
            "--set",
            "window=24",
            "--format",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["preset"], "robust-stats");
    assert_eq!(v["detector"]["policy"], "any");
    assert!(
        v["detector"]["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["window"] == 24)
    );
    let spec = write(
        dir.path(),
        "spec.json",
        br#"{"kind": "zscore", "window": 10}"#,
    );
    let run = tsad(
        dir.path(),
        &[
            "detect",
            "demo.csv",
            "--config",
            spec.to_str().unwrap(),
            "--format",
            "json",
            "--sensitivity",
            "0.8",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["detector"]["window"], 10);
    assert_eq!(v["threshold"]["spec"]["method"], "sensitivity");
}

#[test]
fn detectors_lists_kinds_presets_and_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let run = tsad(dir.path(), &["detectors"]);
    assert_eq!(run.code, 0);
    for want in [
        "zscore",
        "mad",
        "seasonal",
        "benford",
        "ensemble",
        "robust-stats",
        "--set window=48",
        "sensitivity",
    ] {
        assert!(run.stdout.contains(want), "missing {want}");
    }
    let json = tsad(dir.path(), &["detectors", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(v["detectors"].as_array().unwrap().len() >= 5);
}

/// Every bad input exits 2 with a message saying what, where and how to fix it.
#[test]
fn bad_input_exits_two_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let long: String = (0..50)
        .map(|i| format!("2024-01-01T{:02}:{:02}:00Z,{}\n", i / 60, i % 60, i))
        .collect();
    write(d, "empty.csv", b"");
    write(d, "header.csv", b"timestamp,value\n");
    write(
        d,
        "text.csv",
        b"timestamp,name\n2024-01-01,a\n2024-01-02,b\n",
    );
    write(
        d,
        "missing.csv",
        b"timestamp,value\n2024-01-01,\n2024-01-02,NaN\n2024-01-03,null\n",
    );
    write(
        d,
        "latin1.csv",
        b"timestamp,value\n2024-01-01,1\n2024-01-02,\xe9\xe9\n",
    );
    write(
        d,
        "inf.csv",
        b"timestamp,value\n2024-01-01,1\n2024-01-02,inf\n",
    );
    write(
        d,
        "short.csv",
        b"timestamp,value\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n",
    );
    write(
        d,
        "badtime.csv",
        b"timestamp,value\n2024-01-01,1\nyesterday,2\nlast week,3\n",
    );
    write(d, "ok.csv", format!("timestamp,value\n{long}").as_bytes());
    write(
        d,
        "prices.csv",
        format!("timestamp,price\n{long}").as_bytes(),
    );
    write(d, "notamodel.json", b"{\"kind\": \"mad\"}");
    type Case = (
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
    );
    let cases: &[Case] = &[
        (
            "missing file",
            &["detect", "nope.csv"],
            &["nope.csv", "No such file"],
        ),
        (
            "empty file",
            &["detect", "empty.csv"],
            &["empty.csv", "empty"],
        ),
        (
            "header only",
            &["detect", "header.csv"],
            &["header.csv", "no data rows"],
        ),
        (
            "no numeric column",
            &["detect", "text.csv"],
            &["no numeric column", "\"name\""],
        ),
        (
            "unknown column",
            &["detect", "ok.csv", "--value-column", "price"],
            &["no column named \"price\"", "timestamp", "value"],
        ),
        (
            "every value missing",
            &["detect", "missing.csv"],
            &["missing.csv", "every value", "missing"],
        ),
        (
            "non-UTF-8 bytes",
            &["detect", "latin1.csv"],
            &["line 3", "UTF-8"],
        ),
        (
            "infinite value",
            &["detect", "inf.csv"],
            &["line 3", "infinite"],
        ),
        (
            "series too short",
            &["detect", "short.csv", "--detector", "zscore"],
            &[
                "detector `zscore` failed on short.csv",
                "not enough data",
                "got 3",
            ],
        ),
        (
            "series too short for the default preset, named as the user chose it",
            &["detect", "short.csv"],
            &[
                "preset `robust-stats` failed on short.csv",
                "not enough data",
            ],
        ),
        (
            "invalid parameters, all listed",
            &[
                "detect",
                "ok.csv",
                "--detector",
                "zscore",
                "--set",
                "window=0",
                "--set",
                "band_k=-1",
            ],
            &["window", "band_k"],
        ),
        (
            "unknown detector",
            &["detect", "ok.csv", "--detector", "lstm"],
            &["unknown detector kind `lstm`", "known kinds"],
        ),
        (
            "unparsable timestamps",
            &["detect", "badtime.csv", "--time-column", "timestamp"],
            &["line 3", "yesterday", "accepted formats"],
        ),
        (
            "invalid sensitivity",
            &["detect", "ok.csv", "--sensitivity", "2"],
            &["sensitivity", "between 0 and 1"],
        ),
        (
            "training file with other columns",
            &["detect", "ok.csv", "--train", "prices.csv"],
            &["prices.csv", "training file", "no column named \"value\""],
        ),
        (
            "training part shorter than the detector needs",
            &["detect", "ok.csv", "--detector", "mad", "--train-rows", "5"],
            &["`train`", "needs at least 49 training points", "has 5"],
        ),
        (
            "training time outside the file",
            &["detect", "ok.csv", "--train-until", "1999-01-01"],
            &[
                "--train-until 1999-01-01",
                "outside the data",
                "2024-01-01T00:00:00Z",
            ],
        ),
        (
            "training time that is no time",
            &["detect", "ok.csv", "--train-until", "lunchtime"],
            &["--train-until lunchtime", "not a time"],
        ),
        (
            "two training options",
            &[
                "detect",
                "ok.csv",
                "--train-rows",
                "10",
                "--train-until",
                "2024-01-01",
            ],
            &["cannot be used with"],
        ),
        (
            "missing model file",
            &["detect", "ok.csv", "--model", "nope.model"],
            &["cannot read model file nope.model"],
        ),
        (
            "a JSON file that is not a model",
            &["detect", "ok.csv", "--model", "notamodel.json"],
            &["notamodel.json", "not a tsad model file", "tsad fit"],
        ),
        (
            "a false-alarm rate below one point",
            &["detect", "ok.csv", "--every", "0.5"],
            &["every", "> 1"],
        ),
        (
            "a false-alarm period that is no duration",
            &["detect", "ok.csv", "--every", "fortnightly"],
            &["--every fortnightly", "not a duration", "7d"],
        ),
        (
            "a time gap without a time column",
            &[
                "detect",
                "ok.csv",
                "--no-time-column",
                "--merge-gap-time",
                "1h",
            ],
            &["--merge-gap-time 1h", "no time column"],
        ),
        (
            "pruning out of range",
            &["detect", "ok.csv", "--prune", "1.5"],
            &["prune", "[0, 1)"],
        ),
    ];
    for (name, args, wants) in cases {
        let run = tsad(d, args);
        assert_eq!(
            run.code, 2,
            "{name}: exit code; stdout {} stderr {}",
            run.stdout, run.stderr
        );
        assert!(run.stderr.starts_with("error: "), "{name}: {}", run.stderr);
        for want in *wants {
            assert!(
                run.stderr.contains(want),
                "{name}: wanted {want:?} in {}",
                run.stderr
            );
        }
        assert!(!run.stderr.contains("panicked"), "{name}: {}", run.stderr);
    }
}

/// Fit on normal data three ways (another file, a prefix, a saved model) and score: each run
/// says what it was fitted on, and the saved model gives the same events as fitting in place.
#[test]
fn fit_on_normal_data_then_score() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tsad(d, &["demo", "--points", "3000", "--output", "demo.csv"]);
    // The demo injects nothing in its first tenth: that is the normal part.
    let text = std::fs::read_to_string(d.join("demo.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    write(d, "normal.csv", (lines[..301].join("\n") + "\n").as_bytes());
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--format", "json", "--detector", "seasonal"]);
        let run = tsad(d, &all);
        assert!(run.code == 0 || run.code == 1, "{args:?}: {}", run.stderr);
        serde_json::from_str(&run.stdout).unwrap()
    };
    let prefix = json(&["detect", "demo.csv", "--train-rows", "300"]);
    assert_eq!(prefix["training"]["source"], "prefix");
    assert_eq!(prefix["training"]["rows"], 300);
    let until = json(&[
        "detect",
        "demo.csv",
        "--train-until",
        "2024-01-13T11:00:00Z",
    ]);
    assert_eq!(until["training"]["rows"], 300);
    assert_eq!(until["events"], prefix["events"]);
    let file = json(&["detect", "demo.csv", "--train", "normal.csv"]);
    assert_eq!(file["training"]["source"], "series");
    // With timestamps, the training file visibly ends before the scored one starts.
    assert!(file["training"].get("junction_rows").is_none());
    assert!(
        file["event_count"].as_u64().unwrap() >= 9,
        "{}",
        file["event_count"]
    );

    let fit = tsad(
        d,
        &[
            "fit",
            "normal.csv",
            "--detector",
            "seasonal",
            "--save",
            "m.json",
        ],
    );
    assert_eq!(fit.code, 0, "{}", fit.stderr);
    assert!(
        fit.stderr.contains("model saved to m.json"),
        "{}",
        fit.stderr
    );
    let run = tsad(
        d,
        &[
            "detect", "demo.csv", "--model", "m.json", "--format", "json",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let model: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(model["training"]["source"], "model");
    assert!(
        model["event_count"].as_u64().unwrap() >= 9,
        "{}",
        model["event_count"]
    );
    let both = tsad(
        d,
        &[
            "detect",
            "demo.csv",
            "--model",
            "m.json",
            "--detector",
            "mad",
        ],
    );
    assert_eq!(both.code, 2);
    assert!(
        both.stderr.contains("already holds its detector"),
        "{}",
        both.stderr
    );
}

#[test]
fn readme_test_command_is_what_ci_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let test_command = readme
        .lines()
        .find(|l| l.trim_start().starts_with("cargo test"))
        .expect("README.md shows the test command");
    assert!(
        ci.lines().any(|l| l.trim() == test_command.trim()
            || l.trim() == format!("{} --locked", test_command.trim())),
        ".ci/run must run the README's test command `{test_command}`"
    );
    assert!(
        readme.contains("cargo run --release -p tsad-cli -- serve"),
        "README shows the run command"
    );
}

// Issue 12 ("ingest that never analyses the wrong thing"), items 9 to 14 and 17, through the
// binary: each case was a file read silently wrong or an error that misled.

/// Runs `tsad detect` with `args` after FILE and returns the run.
fn detect(dir: &Path, file: &str, args: &[&str]) -> Run {
    let mut all = vec!["detect", file];
    all.extend_from_slice(args);
    tsad(dir, &all)
}

fn json_of(run: &Run) -> serde_json::Value {
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

/// Issue 12, item 9: negative epoch seconds in `timestamp` are not analysed as the values.
#[test]
fn issue_12_time_column_that_is_not_time_is_not_the_values() {
    let dir = tempfile::tempdir().unwrap();
    let rows: String = (0..100)
        .map(|i| format!("{},{}\n", -86_400 * 400 + i * 3600, 10 + i % 7))
        .collect();
    write(
        dir.path(),
        "neg.csv",
        format!("timestamp,value\n{rows}").as_bytes(),
    );
    let run = detect(dir.path(), "neg.csv", &["--format", "json"]);
    let v = json_of(&run);
    assert_eq!(v["series"]["value_column"], "value");
    assert_eq!(v["series"]["time_column"], serde_json::Value::Null);
    assert!(
        run.stderr.starts_with(
            "warning: neg.csv: column \"timestamp\" is named like a time column but was not \
             read as time: line 2 holds \"-34560000\", a negative number"
        ),
        "{}",
        run.stderr
    );
    // Named as the time column, the same integers are epoch seconds before 1970.
    let run = detect(
        dir.path(),
        "neg.csv",
        &["--time-column", "timestamp", "--format", "json"],
    );
    let v = json_of(&run);
    assert_eq!(v["series"]["start"], "1968-11-27T00:00:00Z");
    assert_eq!(run.stderr, "");
}

/// Issue 12, item 10: an unterminated quote fails at the line where it opens.
#[test]
fn issue_12_unterminated_quote_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("timestamp,value\n");
    for i in 0..300 {
        let q = if i == 250 { "\"" } else { "" };
        csv += &format!("2024-01-01T{:02}:{:02}:00Z,{q}{i}\n", i / 60, i % 60);
    }
    write(dir.path(), "quote.csv", csv.as_bytes());
    let run = detect(dir.path(), "quote.csv", &[]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr.starts_with(
            "error: quote.csv: line 252, column \"value\": a quote opens a cell here and is \
             never closed"
        ),
        "{}",
        run.stderr
    );
}

/// Issue 12, item 11: mixed timestamp formats warn with the column and the first unreadable
/// value; a time column of one repeated timestamp says why instead of "not enough data".
#[test]
fn issue_12_time_formats_and_duplicates_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mixed: String = (0..100)
        .map(|i| {
            if i % 2 == 0 {
                format!("2024-01-{:02} {:02}:00,{}\n", 1 + i / 24, i % 24, i % 7)
            } else {
                format!("{:02}/01/2024 {:02}:00,{}\n", 1 + i / 24, i % 24, i % 7)
            }
        })
        .collect();
    write(d, "mixed.csv", format!("time,value\n{mixed}").as_bytes());
    let run = detect(d, "mixed.csv", &["--detector", "zscore"]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "warning: mixed.csv: column \"time\" is named like a time column but was not read \
             as time: line 3 holds \"01/01/2024 01:00\", in a different format"
        ),
        "{}",
        run.stderr
    );
    let dups: String = (0..200)
        .map(|i| {
            let t = if i == 199 { "2024-01-02" } else { "2024-01-01" };
            format!("{t},{i}\n")
        })
        .collect();
    write(d, "dups.csv", format!("timestamp,value\n{dups}").as_bytes());
    let run = detect(d, "dups.csv", &["--detector", "mad"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.starts_with(
            "error: dups.csv: 198 of 200 rows repeat an earlier timestamp of column \
             \"timestamp\" (2024-01-01T00:00:00Z is on lines 2 and 3), which would leave 2 \
             points"
        ),
        "{}",
        run.stderr
    );
    // Fewer repeats still merge; a detector short of data then says where the rows went.
    let some: String = (0..80)
        .map(|i| format!("2024-01-01T00:{:02}:00Z,{i}\n", i / 2))
        .collect();
    write(d, "some.csv", format!("timestamp,value\n{some}").as_bytes());
    let run = detect(d, "some.csv", &["--detector", "mad"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(
            "(80 rows read, 40 repeated an earlier timestamp and were merged: 40 points left)"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("not enough data"), "{}", run.stderr);
}

/// Issue 12, item 12: UTF-16 is read; binary input is named as such and not echoed back.
#[test]
fn issue_12_utf16_and_binary_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text: String = std::iter::once("timestamp,value\n".to_owned())
        .chain((0..100).map(|i| format!("2024-01-01T{:02}:{:02}:00Z,{}\n", i / 60, i % 60, i % 9)))
        .collect();
    let utf16: Vec<u8> = std::iter::once(0xFEFF_u16)
        .chain(text.encode_utf16())
        .flat_map(u16::to_le_bytes)
        .collect();
    write(d, "utf16.csv", &utf16);
    let v = json_of(&detect(d, "utf16.csv", &["--format", "json"]));
    assert_eq!(v["series"]["points"], 100);
    assert_eq!(v["series"]["time_column"], "timestamp");

    write(d, "nul.csv", &[0u8; 5000]);
    let mut line = "a".repeat(1 << 20);
    line.push('\n');
    write(d, "line.csv", line.as_bytes());
    type Case = (&'static str, &'static str);
    let cases: &[Case] = &[
        (
            "nul.csv",
            "error: nul.csv: this looks like a binary file, not CSV text",
        ),
        ("line.csv", "error: line.csv: the file has a header (\"aaa"),
    ];
    for (file, want) in cases {
        let run = detect(d, file, &[]);
        assert_eq!(run.code, 2, "{file}");
        assert!(run.stderr.starts_with(want), "{file}: {:.300}", run.stderr);
        assert!(
            run.stderr.len() < 1000,
            "{file}: {} bytes",
            run.stderr.len()
        );
    }
}

/// Issue 12, item 13: `;`-separated files with decimal commas are read, detected or with
/// `--decimal ,`.
#[test]
fn issue_12_decimal_comma() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows: String = (0..100)
        .map(|i| {
            format!(
                "02/12/2013 {:02}:{:02};{},{:03}\n",
                i / 4,
                15 * (i % 4),
                70 + i % 5,
                i
            )
        })
        .collect();
    write(d, "eu.csv", format!("Date;Power\n{rows}").as_bytes());
    let v = json_of(&detect(d, "eu.csv", &["--format", "json", "--points"]));
    assert_eq!(v["diagnostics"]["decimal"], ",");
    assert_eq!(v["points"][1]["value"], 71.001);
    // Tab-separated with a comma the sample cannot show: asked for.
    let rows: String = (0..100)
        .map(|i| {
            let v = if i == 99 {
                "7,5".to_owned()
            } else {
                (i % 5).to_string()
            };
            format!("2024-01-01T{:02}:{:02}:00Z\t{v}\n", i / 60, i % 60)
        })
        .collect();
    write(d, "tab.csv", format!("t\tv\n{rows}").as_bytes());
    let v = json_of(&detect(
        d,
        "tab.csv",
        &["--decimal", ",", "--format", "json", "--points"],
    ));
    assert_eq!(v["points"][99]["value"], 7.5);
    let run = detect(d, "tab.csv", &["--decimal", ";"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("\";\" is not a decimal mark; use '.' (12.5) or ',' (12,5)"),
        "{}",
        run.stderr
    );
}

/// Issue 12, item 14: negative numbers reach the range checks instead of clap's tip about
/// `-- -1`, and a time column that takes the only numeric column names the clash.
#[test]
fn issue_12_negative_numbers_and_column_clashes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows: String = (0..60)
        .map(|i| format!("2024-01-01T{:02}:{:02}:00Z,{}\n", i / 60, i % 60, i % 9))
        .collect();
    write(d, "ok.csv", format!("timestamp,value\n{rows}").as_bytes());
    type Case = (&'static [&'static str], &'static str);
    let cases: &[Case] = &[
        (
            &["--sigma", "-1"],
            "error: --sigma -1: must be a number 0 or more",
        ),
        (
            &["--merge-gap", "-1"],
            "error: invalid value '-1' for '--merge-gap <N>': must be 0 or more, got -1",
        ),
        (
            &["--min-points", "-3"],
            "error: invalid value '-3' for '--min-points <N>': must be 0 or more, got -3",
        ),
        (
            &["--value-column", "-1"],
            "error: ok.csv: value column index -1 is negative; indices start at 0",
        ),
        (
            &["--sensitivity", "-0.5"],
            "error: invalid parameter `sensitivity`: must be strictly between 0 and 1",
        ),
        (
            &["--time-column", "value"],
            "error: ok.csv: column \"value\" was given as the time column, but it is the only \
             numeric column, so no column is left for the values; the timestamps seem to be in \
             \"timestamp\"",
        ),
    ];
    for (args, want) in cases {
        let run = detect(d, "ok.csv", args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.starts_with(want), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("tip:"), "{args:?}: {}", run.stderr);
    }
}

/// Issue 12, item 17: values near 1e-320 are a constant series to zscore, not 61 anomalies.
#[test]
fn issue_12_subnormal_values_are_constant() {
    let dir = tempfile::tempdir().unwrap();
    let rows: String = (0..200)
        .map(|i| format!("{}e-321\n", 10 + (i * 7919) % 13))
        .collect();
    write(dir.path(), "tiny.csv", format!("v\n{rows}").as_bytes());
    for (detector, threshold) in [("zscore", "sigma"), ("zscore", "auto"), ("mad", "sigma")] {
        let run = detect(
            dir.path(),
            "tiny.csv",
            &["--detector", detector, "--threshold", threshold],
        );
        assert_eq!(
            run.code, 0,
            "{detector} {threshold}: {}{}",
            run.stdout, run.stderr
        );
        assert!(
            run.stdout.contains("0 anomalous points in 0 events"),
            "{detector}: {}",
            run.stdout
        );
    }
}

#[test]
fn the_table_says_when_a_detector_abstains_or_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    let demo = tsad(
        dir.path(),
        &["demo", "--points", "600", "--output", "demo.csv"],
    );
    assert_eq!(demo.code, 0, "{}", demo.stderr);
    // The demo spans less than one order of magnitude: Benford's test abstains, says why, and
    // no threshold reads `inf`.
    for threshold in ["auto", "sigma"] {
        let run = tsad(
            dir.path(),
            &[
                "detect",
                "demo.csv",
                "--detector",
                "benford",
                "--threshold",
                threshold,
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stdout
                .contains("note: benford abstained (flags nothing): values span"),
            "{}",
            run.stdout
        );
        assert!(!run.stdout.contains("inf"), "{}", run.stdout);
    }
    // White noise has no season: seasonal says it fell back to a rolling median.
    let mut csv = String::from("value\n");
    let mut x: u64 = 7;
    for _ in 0..400 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        csv += &format!("{}\n", (x >> 40) as f64 / (1u64 << 24) as f64);
    }
    write(dir.path(), "noise.csv", csv.as_bytes());
    let run = tsad(
        dir.path(),
        &["detect", "noise.csv", "--detector", "seasonal"],
    );
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("note: seasonal: no seasonal period found; residuals are taken from a centred rolling median"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_ensemble_names_the_member_that_abstained() {
    let dir = tempfile::tempdir().unwrap();
    let demo = tsad(
        dir.path(),
        &["demo", "--points", "600", "--output", "demo.csv"],
    );
    assert_eq!(demo.code, 0, "{}", demo.stderr);
    let run = tsad(
        dir.path(),
        &[
            "detect",
            "demo.csv",
            "--preset",
            "hybrid-benford",
            "--set",
            "epochs=1",
        ],
    );
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("note: benford abstained (left the vote): values span"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_table_header_says_what_happened_to_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("time,value\n2024-01-01T02:00:00Z,5\n2024-01-01T01:00:00Z,4\n");
    csv.push_str("2024-01-01T01:00:00Z,4.5\nbad,3\n");
    for i in 3..300 {
        csv.push_str(&format!(
            "2024-01-{:02}T{:02}:00:00Z,{}\n",
            1 + i / 24,
            i % 24,
            i % 7
        ));
    }
    write(dir.path(), "rows.csv", csv.as_bytes());
    let run = tsad(dir.path(), &["detect", "rows.csv", "--detector", "mad"]);
    let rows = run
        .stdout
        .lines()
        .find(|l| l.starts_with("rows: "))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert_eq!(
        rows,
        "rows: 301 read; 1 rejected (the first: line 5, column \"time\": \"bad\", not a \
         timestamp in the file's YYYY-MM-DD format); 1 repeated an earlier timestamp (the last \
         row of each was kept); not in time order (sorted)"
    );
    // A clean file has no such line.
    let run = tsad(dir.path(), &["demo", "--output", "demo.csv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = tsad(dir.path(), &["detect", "demo.csv"]);
    assert!(!run.stdout.contains("\nrows: "), "{}", run.stdout);
}

/// `value,flag` rows (no time column) where the value jumps one row after each flag.
fn flagged_csv(rows: std::ops::Range<usize>) -> String {
    let mut out = String::from("value,flag\n");
    for i in rows {
        let flag = u8::from(i % 37 == 5);
        let high = (1..7).contains(&((i + 37 - 5) % 37));
        let value = if high { 3.0 } else { 0.0 } + 0.1 * (i as f64 * 0.7).sin();
        out += &format!("{value:.4},{flag}\n");
    }
    out
}

/// `--covariate-columns` reaches the forecaster through detect, --train and fit/--model, and
/// every bad input names the file, and the line and column where there is one.
#[test]
fn covariate_columns_feed_the_forecaster_and_bad_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "train.csv", flagged_csv(0..400).as_bytes());
    write(d, "test.csv", flagged_csv(400..600).as_bytes());
    write(
        d,
        "plain.csv",
        flagged_csv(0..400).replace(",flag", "").as_bytes(),
    );
    let mut text = flagged_csv(0..400);
    text = text
        .replacen("\n0.", "\n0.x", 1)
        .replacen(",1\n", ",on\n", 1);
    write(d, "text.csv", text.as_bytes());
    let small = [
        "--detector",
        "lstm_forecast",
        "--set",
        "epochs=2",
        "--set",
        "window=8",
        "--set",
        "hidden=6",
        "--threads",
        "1",
        "-q",
    ];
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(small);
        tsad(d, &all)
    };
    let ok = run(&[
        "detect",
        "test.csv",
        "--train",
        "train.csv",
        "--covariate-columns",
        "flag",
        "--format",
        "json",
    ]);
    assert!(ok.code == 0 || ok.code == 1, "{}", ok.stderr);
    let json: serde_json::Value = serde_json::from_str(&ok.stdout).unwrap();
    assert_eq!(json["training"]["source"], "series");
    // Both files count rows: their junction is scored both ways, and the summary says so.
    let junction = json["training"]["junction_rows"].as_u64().unwrap();
    assert!(junction > 0, "{}", json["training"]);
    let text = run(&[
        "detect",
        "test.csv",
        "--train",
        "train.csv",
        "--covariate-columns",
        "flag",
    ]);
    assert!(
        text.stdout.contains(&format!(
            "its first {junction} rows were also scored on their own"
        )),
        "{}",
        text.stdout
    );

    let train_lacks = run(&[
        "detect",
        "test.csv",
        "--train",
        "plain.csv",
        "--covariate-columns",
        "flag",
    ]);
    assert_eq!(train_lacks.code, 2);
    assert!(
        train_lacks
            .stderr
            .contains("cannot use plain.csv as the training file")
            && train_lacks
                .stderr
                .contains("plain.csv: there is no column named \"flag\" for the covariate column"),
        "{}",
        train_lacks.stderr
    );
    let missing = run(&["detect", "plain.csv", "--covariate-columns", "flag,cmd"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .contains("plain.csv: there is no column named \"flag\" for the covariate column"),
        "{}",
        missing.stderr
    );
    let bad = run(&["detect", "text.csv", "--covariate-columns", "flag"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr
            .contains("text.csv: line 7, covariate column \"flag\": \"on\" is not a number"),
        "{}",
        bad.stderr
    );

    let fit = run(&[
        "fit",
        "train.csv",
        "--covariate-columns",
        "flag",
        "--save",
        "m.json",
    ]);
    assert_eq!(fit.code, 0, "{}", fit.stderr);
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("m.json")).unwrap()).unwrap();
    assert_eq!(model["meta"]["covariate_columns"][0], "flag", "{model}");
    let scored = tsad(
        d,
        &[
            "detect",
            "test.csv",
            "--model",
            "m.json",
            "--covariate-columns",
            "flag",
        ],
    );
    assert!(scored.code == 0 || scored.code == 1, "{}", scored.stderr);
    let without = tsad(d, &["detect", "test.csv", "--model", "m.json"]);
    assert_eq!(without.code, 2);
    assert!(
        without.stderr.contains("failed on test.csv")
            && without
                .stderr
                .contains("the model was fitted with covariates flag; this series has none"),
        "{}",
        without.stderr
    );
    let fleet = run(&[
        "detect",
        "train.csv",
        "test.csv",
        "--covariate-columns",
        "flag",
    ]);
    assert_eq!(fleet.code, 2);
    assert!(
        fleet
            .stderr
            .contains("--covariate-columns reads one series"),
        "{}",
        fleet.stderr
    );
}

/// `tsad eval smap --covariates` reads the other columns of a telemanom-layout set as
/// covariates of both parts and says so.
#[test]
fn eval_smap_reads_the_command_columns_as_covariates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("train")).unwrap();
    std::fs::create_dir_all(d.join("test")).unwrap();
    write(
        d,
        "labels.csv",
        b"channel,anomaly_sequences\nA-1,\"[[150, 160]]\"\n",
    );
    let commands = |rows| flagged_csv(rows).replace(",flag", ",command_1");
    write(d, "train/A-1.csv", commands(0..300).as_bytes());
    write(d, "test/A-1.csv", commands(300..500).as_bytes());
    let args = [
        "eval",
        "smap",
        "--smap-dir",
        ".",
        "--detector",
        "lstm_forecast",
        "--set",
        "epochs=2",
        "--set",
        "window=8",
        "--covariates",
    ];
    let run = tsad(d, &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("command columns as covariates"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.lines().any(|l| l.starts_with("lstm_forecast")),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("A-1:"),
        "no channel failed: {}",
        run.stdout
    );
}

/// Issue 11's floor on NASA SMAP: fitted on `train/`, scoring `test/`, one configuration for
/// every channel, each fast detector and the default preset at its defaults reach event-level
/// F1 0.6 (measured 2026-12-04: zscore 0.667, mad 0.656, seasonal 0.606, novelty 0.652,
/// robust-stats 0.627; the LSTMs take minutes and are measured by `tsad eval smap --all`).
/// Skipped without the data set, except when CI=true.
#[test]
fn eval_smap_keeps_every_fast_detector_above_f1_0_6() {
    let Some(smap) = tsad_testing::smap_dir() else {
        return;
    };
    let smap = smap.to_str().expect("a UTF-8 path");
    for (how, name) in [
        ("--detector", "zscore"),
        ("--detector", "mad"),
        ("--detector", "seasonal"),
        ("--detector", "novelty"),
        ("--preset", "robust-stats"),
    ] {
        let run = tsad(
            Path::new("."),
            &["eval", "smap", "--smap-dir", smap, how, name],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        // `NAME  P  R  F1  TP  FP  FN  length  seconds`
        let row = run
            .stdout
            .lines()
            .find(|l| l.split_whitespace().any(|w| w == name))
            .unwrap_or_else(|| panic!("no row for {name}: {}", run.stdout));
        let fields: Vec<&str> = row.split_whitespace().collect();
        let f1: f64 = fields[fields.len() - 6].parse().expect("an F1");
        assert!(f1 >= 0.6, "{name}: F1 {f1} < 0.6\n{}", run.stdout);
    }
}

#[test]
fn eval_labeled_takes_the_users_marks_as_labels() {
    let dir = tempfile::tempdir().unwrap();
    // 600 points of a sine with two spikes, at rows 300 and 450; row numbers are the time axis.
    let rows: String = (0..600)
        .map(|i| {
            let v = match i {
                300 | 450 => 40.0,
                _ => (i as f64 / 10.0).sin(),
            };
            format!("{v}\n")
        })
        .collect();
    write(dir.path(), "s.csv", format!("value\n{rows}").as_bytes());
    // The user confirmed the first spike and marked a stretch as missed; the false alarm and
    // the unsure mark are not anomalies.
    let marks = r#"{"run": {}, "marks": [
        {"start_time": 300, "end_time": 300, "verdict": "confirmed"},
        {"start_time": 100, "end_time": 110, "verdict": "missed"},
        {"start_time": 450, "end_time": 450, "verdict": "false_alarm"},
        {"start_time": 500, "end_time": 505, "verdict": "unsure"}]}"#;
    write(dir.path(), "run.json", marks.as_bytes());
    let run = tsad(
        dir.path(),
        &[
            "eval",
            "labeled",
            "s.csv",
            "--marks",
            "run.json",
            "--detector",
            "mad",
        ],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("12 labelled anomalous"),
        "{}",
        run.stdout
    );
    // Both spikes are events: the confirmed one is found, the false alarm costs precision,
    // and the missed stretch is missed: event precision and recall are both 50%.
    let events = run
        .stdout
        .lines()
        .find(|l| l.starts_with("events"))
        .unwrap();
    assert_eq!(
        events.split_whitespace().collect::<Vec<_>>()[1..3],
        ["50.0%", "50.0%"],
        "{}",
        run.stdout
    );

    // A label column of words, as pandas writes a boolean column, is read as labels.
    let labelled: String = (0..600)
        .map(|i| {
            let spike = i == 300 || i == 450;
            let v = if spike { 40.0 } else { (i as f64 / 10.0).sin() };
            format!("{v},{}\n", if spike { "True" } else { "False" })
        })
        .collect();
    write(
        dir.path(),
        "l.csv",
        format!("value,is_anomaly\n{labelled}").as_bytes(),
    );
    let run = tsad(
        dir.path(),
        &[
            "eval",
            "labeled",
            "l.csv",
            "--label-column",
            "is_anomaly",
            "--detector",
            "mad",
        ],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("2 labelled anomalous"),
        "{}",
        run.stdout
    );

    // Bad marks files say what is wrong.
    write(
        dir.path(),
        "none.json",
        br#"{"marks": [{"start_time": 1, "end_time": 2, "verdict": "unsure"}]}"#,
    );
    write(dir.path(), "nolist.json", br#"{"run": {}}"#);
    write(dir.path(), "broken.json", b"{\"marks\": [");
    write(
        dir.path(),
        "notime.json",
        br#"[{"end_time": 2, "verdict": "confirmed"}]"#,
    );
    for (file, says) in [
        (
            "none.json",
            "none of its 1 marks is `confirmed` or `missed`",
        ),
        ("nolist.json", "no `marks` list"),
        ("broken.json", "not JSON"),
        ("notime.json", "mark 1 has no whole-number `start_time`"),
        ("missing.json", "cannot read the marks file"),
    ] {
        let run = tsad(
            dir.path(),
            &[
                "eval",
                "labeled",
                "s.csv",
                "--marks",
                file,
                "--detector",
                "mad",
            ],
        );
        assert_eq!(run.code, 2, "{file}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(says), "{file}: {}", run.stderr);
    }
}
