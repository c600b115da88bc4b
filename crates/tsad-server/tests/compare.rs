//! Runs side by side over HTTP: labels that say what sets a dataset's runs apart, the comparison
//! of two runs' settings and events, and every request a comparison refuses.

mod common;

use axum::http::StatusCode;
use common::{TestApp, cycle_csv};
use serde_json::{Value, json};

fn spans(events: &Value) -> Vec<(i64, i64)> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["start_time"].as_i64().unwrap(),
                e["end_time"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn two_runs_compare_by_settings_and_events() {
    let app = TestApp::new();
    let ds = app.demo().await;
    // Same detector, another window and threshold: the labels and differences name exactly those.
    let low = app
        .finished_run_from(&json!({
            "dataset_id": ds, "detector": {"kind": "mad", "window": 48},
            "threshold": {"method": "quantile", "q": 0.97},
        }))
        .await;
    let high = app
        .finished_run_from(&json!({
            "dataset_id": ds, "detector": {"kind": "mad", "window": 96}, "train": {"rows": 200},
            "threshold": {"method": "quantile", "q": 0.995},
        }))
        .await;
    let (low_id, high_id) = (low["id"].as_str().unwrap(), high["id"].as_str().unwrap());

    let (status, list) = app.get(&format!("/api/v1/runs?dataset_id={ds}")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let label = |id: &str| {
        list["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["label"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(
        label(low_id),
        "mad · window 48 · quantile q = 0.97 · trained on itself"
    );
    assert_eq!(
        label(high_id),
        "mad · window 96 · quantile q = 0.995 · trained on the first 200 rows"
    );
    let (_, one) = app.get(&format!("/api/v1/runs/{low_id}")).await;
    assert_eq!(one["label"], label(low_id).as_str());

    let (status, cmp) = app
        .get(&format!("/api/v1/runs/{low_id}/compare?with={high_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{cmp}");
    let fields: Vec<&str> = cmp["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["detector.window", "threshold", "training"]);
    assert_eq!(cmp["differences"][0]["text"], "window 48 → window 96");
    assert_eq!(cmp["differences"][0]["run"], 48);
    assert_eq!(cmp["run"]["label"], label(low_id).as_str());

    // The overlap flags agree with the events themselves, from both sides.
    let (a, b) = (spans(&low["events"]), spans(&high["events"]));
    assert!(a.len() > b.len() && !b.is_empty(), "{a:?} {b:?}");
    let overlaps =
        |x: (i64, i64), list: &[(i64, i64)]| list.iter().any(|y| x.0 <= y.1 && y.0 <= x.1);
    let shared: Vec<bool> = a.iter().map(|&x| overlaps(x, &b)).collect();
    assert_eq!(cmp["run_events_shared"], json!(shared));
    assert_eq!(cmp["run"]["event_count"], a.len());
    assert_eq!(cmp["run"]["shared"], shared.iter().filter(|&&s| s).count());
    let other = cmp["other_events"].as_array().unwrap();
    assert_eq!(spans(&cmp["other_events"]), b);
    for (e, span) in other.iter().zip(&b) {
        assert_eq!(e["shared"], overlaps(*span, &a), "{e}");
        assert!(
            e["rank"].as_u64().is_some() && e["index"].as_u64().is_some(),
            "{e}"
        );
    }
    assert_eq!(cmp["other"]["event_count"], b.len());

    // From the other side, the same differences reversed.
    let (_, back) = app
        .get(&format!("/api/v1/runs/{high_id}/compare?with={low_id}"))
        .await;
    assert_eq!(back["differences"][0]["text"], "window 96 → window 48");
    assert_eq!(back["run"]["shared"], cmp["other"]["shared"]);
}

#[tokio::test]
async fn a_comparison_refuses_what_it_cannot_compare() {
    let app = TestApp::new();
    let ds = app.demo().await;
    let run = app.finished_run(&ds, json!({"kind": "mad"})).await;
    let id = run["id"].as_str().unwrap();
    let (_, other_ds) = app.upload("cycle.csv", &cycle_csv(200, 0, &[150])).await;
    let elsewhere = app
        .finished_run(other_ds["id"].as_str().unwrap(), json!({"kind": "mad"}))
        .await;
    let elsewhere_id = elsewhere["id"].as_str().unwrap();

    let cases = [
        (
            format!("/api/v1/runs/{id}/compare?with={id}"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "the run itself",
        ),
        (
            format!("/api/v1/runs/{id}/compare?with={elsewhere_id}"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "compare runs on the same data",
        ),
        (
            format!("/api/v1/runs/{id}/compare?with=run_nope"),
            StatusCode::NOT_FOUND,
            "run_nope",
        ),
        (
            format!("/api/v1/runs/run_nope/compare?with={id}"),
            StatusCode::NOT_FOUND,
            "run_nope",
        ),
        (
            format!("/api/v1/runs/{id}/compare"),
            StatusCode::BAD_REQUEST,
            "with",
        ),
        (
            format!("/api/v1/runs/{id}/compare?with={id}&x=1"),
            StatusCode::BAD_REQUEST,
            "x",
        ),
    ];
    for (uri, code, words) in cases {
        let (status, body) = app.get(&uri).await;
        assert_eq!(status, code, "{uri}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{uri}: {message}");
    }

    // A many-series run has no events of its own: 409 naming its series.
    let fleet = app
        .finished_run_from(
            &json!({"dataset_id": ds, "detector": {"kind": "mad"}, "value_columns": []}),
        )
        .await;
    let fleet_id = fleet["id"].as_str().unwrap();
    let (status, body) = app
        .get(&format!("/api/v1/runs/{id}/compare?with={fleet_id}"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("series"),
        "{body}"
    );
}
