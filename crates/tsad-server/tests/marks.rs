//! Triage over HTTP: marks on a run's events and on missed stretches, kept with the dataset so a
//! later run shows them, the report against them, the download, and every bad request.

mod common;

use axum::http::{Method, StatusCode};
use common::{TestApp, fast_spec};
use serde_json::{Value, json};

async fn marks(app: &TestApp, run_id: &str) -> Value {
    let (status, body) = app.get(&format!("/api/v1/runs/{run_id}/marks")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn marks_judge_events_survive_new_runs_and_score_them() {
    let app = TestApp::new();
    let ds = app.demo().await;
    // A low cut-off, so the short demo has several events to judge.
    let run = app
        .finished_run_from(&json!({
            "dataset_id": ds, "detector": fast_spec(),
            "threshold": {"method": "quantile", "q": 0.97},
        }))
        .await;
    let run_id = run["id"].as_str().unwrap();
    let events = run["events"].as_array().unwrap();
    assert!(events.len() >= 2, "the demo gives events: {run}");
    let span = |e: &Value| {
        (
            e["start_time"].as_i64().unwrap(),
            e["end_time"].as_i64().unwrap(),
        )
    };
    let (a, b) = (span(&events[0]), span(&events[1]));

    let empty = marks(&app, run_id).await;
    assert_eq!(empty["report"]["judged"], 0);
    assert!(empty["report"]["precision"].is_null());

    let post = |body: Value| {
        let app = &app;
        let uri = format!("/api/v1/runs/{run_id}/marks");
        async move { app.post_json(&uri, &body).await }
    };
    let (status, confirmed) =
        post(json!({"start_time": a.0, "end_time": a.1, "verdict": "confirmed", "comment": " the pump "})).await;
    assert_eq!(status, StatusCode::CREATED, "{confirmed}");
    assert_eq!(confirmed["comment"], "the pump");
    assert_eq!(confirmed["run_id"], run_id);
    let (_, false_alarm) =
        post(json!({"start_time": b.0, "end_time": b.1, "verdict": "false_alarm"})).await;
    // A stretch no event covers: the first point of the series, marked as missed.
    let first = run["summary"]["start"].as_i64().unwrap();
    let (status, missed) =
        post(json!({"start_time": first, "end_time": first, "verdict": "missed"})).await;
    assert_eq!(status, StatusCode::CREATED, "{missed}");

    let got = marks(&app, run_id).await;
    assert_eq!(got["marks"].as_array().unwrap().len(), 3);
    let r = &got["report"];
    assert_eq!(
        (r["true_positives"].as_u64(), r["false_positives"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(r["precision"], 0.5);
    assert_eq!(
        (r["marked_anomalies"].as_u64(), r["found"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(r["recall"], 0.5);

    // Changing a verdict changes the report.
    let id = false_alarm["id"].as_str().unwrap();
    let (status, changed) = app
        .raw_json(
            Method::PATCH,
            &format!("/api/v1/marks/{id}"),
            json!({"verdict": "confirmed", "comment": "also real"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(marks(&app, run_id).await["report"]["precision"], 1.0);

    // A new run on the same dataset shows the marks made on the first.
    let second = app.finished_run(&ds, json!({"kind": "zscore"})).await;
    let again = marks(&app, second["id"].as_str().unwrap()).await;
    assert_eq!(again["marks"].as_array().unwrap().len(), 3);

    // The JSON download carries them.
    let (status, _, body) = app
        .send(common::request(
            Method::GET,
            &format!("/api/v1/runs/{run_id}/download?format=json"),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(common::parse(&body)["marks"].as_array().unwrap().len(), 3);
    // So does the CSV: each point's mark and note (empty where none covers it).
    let (status, _, body) = app
        .send(common::request(
            Method::GET,
            &format!("/api/v1/runs/{run_id}/download?format=csv"),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body.to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].ends_with(",mark,mark_note"), "{}", lines[0]);
    let row = |e: &Value| lines[1 + e["start"].as_u64().unwrap() as usize];
    assert!(
        row(&events[0]).ends_with(",confirmed,the pump"),
        "{}",
        row(&events[0])
    );
    assert!(
        row(&events[1]).ends_with(",confirmed,also real"),
        "{}",
        row(&events[1])
    );
    assert!(lines[1].ends_with(",missed,"), "{}", lines[1]);
    assert!(lines[2].ends_with(",,"), "{}", lines[2]);

    // Deleting the run keeps the marks with the dataset; deleting a mark removes it.
    let (status, _) = app.delete(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let kept = marks(&app, second["id"].as_str().unwrap()).await;
    assert!(
        kept["marks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["run_id"].is_null())
    );
    let (status, _) = app
        .delete(&format!("/api/v1/marks/{}", missed["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        marks(&app, second["id"].as_str().unwrap()).await["marks"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn bad_marks_are_refused_with_the_reason() {
    let app = TestApp::new();
    let ds = app.demo().await;
    let run = app.finished_run(&ds, fast_spec()).await;
    let run_id = run["id"].as_str().unwrap();
    let uri = format!("/api/v1/runs/{run_id}/marks");
    let cases = [
        (
            json!({"start_time": 5, "end_time": 9, "verdict": "great"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "verdict: `great`",
        ),
        (
            json!({"start_time": 9, "end_time": 5, "verdict": "missed"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "before start_time",
        ),
        (
            json!({"start_time": 5, "end_time": 9, "verdict": "missed", "comment": "x".repeat(2001)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "2000",
        ),
        (
            json!({"start_time": 5, "verdict": "missed"}),
            StatusCode::BAD_REQUEST,
            "end_time",
        ),
        (
            json!({"start_time": 5, "end_time": 9, "verdict": "missed", "severity": 3}),
            StatusCode::BAD_REQUEST,
            "severity",
        ),
    ];
    for (body, want, says) in cases {
        let (status, err) = app.post_json(&uri, &body).await;
        assert_eq!(status, want, "{body}: {err}");
        let message = err["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{body}: {message}");
    }
    let (status, _) = app
        .post_json(
            "/api/v1/runs/run_nope/marks",
            &json!({"start_time": 1, "end_time": 2, "verdict": "missed"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, err) = app
        .raw_json(
            Method::PATCH,
            "/api/v1/marks/mark_nope",
            json!({"verdict": "unsure"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    let (status, err) = app
        .raw_json(
            Method::PATCH,
            "/api/v1/marks/mark_nope",
            json!({"verdict": "odd"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        marks(&app, run_id).await["marks"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was stored"
    );
}
