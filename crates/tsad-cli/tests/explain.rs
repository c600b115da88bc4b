//! `tsad detect --explain`: an explanation per event in the table, evidence per event in JSON.

use std::process::Command;

fn tsad(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tsad"))
        .args(args)
        .current_dir(dir)
        .env_remove("GEMINI_API_KEY")
        .env_remove("TSAD_LLM_BASE_URL")
        .output()
        .expect("the tsad binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Hourly values around 10 with a spike at row 150.
fn spike_csv() -> String {
    let mut csv = String::from("timestamp,value\n");
    for i in 0..240 {
        let v = if i == 150 {
            60.0
        } else {
            10.0 + (i % 5) as f64 * 0.3
        };
        csv.push_str(&format!(
            "2024-01-{:02}T{:02}:00:00Z,{v}\n",
            1 + i / 24,
            i % 24
        ));
    }
    csv
}

#[test]
fn detect_explain_prints_and_serialises_the_evidence() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spike.csv"), spike_csv()).unwrap();

    let (code, out, err) = tsad(
        dir.path(),
        &["detect", "spike.csv", "--detector", "mad", "--explain"],
    );
    assert_eq!(code, 1, "{err}");
    for fact in [
        "Event rank 1",
        "At 2024-01-07 06:00 UTC (a single point), the series was unusually high.",
        "robust standard deviations above",
        "The mad detector flagged it.",
        "a transient spike",
    ] {
        assert!(out.contains(fact), "missing {fact:?} in:\n{out}");
    }

    let (code, out, err) = tsad(
        dir.path(),
        &[
            "detect",
            "spike.csv",
            "--detector",
            "mad",
            "--explain",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let event = &v["events"][0];
    assert_eq!(event["evidence"]["peak_index"], 150, "{event}");
    assert_eq!(event["evidence"]["direction"], "up");
    assert_eq!(event["evidence"]["level"]["kind"], "transient");
    assert!(
        event["explanation"]
            .as_str()
            .unwrap()
            .contains("a transient spike")
    );

    // Without --explain the output stays as it was.
    let (_, out, _) = tsad(
        dir.path(),
        &[
            "detect",
            "spike.csv",
            "--detector",
            "mad",
            "--format",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["events"][0].get("evidence").is_none());
}
