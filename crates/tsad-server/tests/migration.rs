//! Databases written before calibration existed: they open, their runs show and re-threshold
//! on raw scores, and the calibrated rules say to run again.

mod common;

use axum::http::StatusCode;
use common::{TestApp, fast_spec};
use serde_json::{Value, json};
use std::sync::Arc;
use tsad_server::ServerConfig;
use tsad_store::SqliteStorage;

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or("")
}

/// A run stored without rarity answers 422 for `auto` and `sensitivity` (with the fix) and
/// re-thresholds with the raw-score rules.
async fn check_old_run(app: &TestApp, id: &str) {
    let uri = format!("/api/v1/runs/{id}/threshold");
    for threshold in [
        json!({"method": "auto", "every": 100000}),
        json!({"method": "sensitivity", "s": 0.5}),
    ] {
        let (status, body) = app.post_json(&uri, &json!({"threshold": threshold})).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{threshold}: {body}"
        );
        assert_eq!(body["error"]["code"], "invalid_parameter");
        let m = message(&body);
        assert!(
            m.contains(&format!("run `{id}` was made before tsad stored them"))
                && m.contains("start the run again")
                && m.contains("`sigma`, `robust` or `quantile`"),
            "{body}"
        );
    }
    for threshold in [
        json!({"method": "sigma", "k": 1}),
        json!({"method": "quantile", "q": 0.5}),
    ] {
        let (status, body) = app.post_json(&uri, &json!({"threshold": threshold})).await;
        assert_eq!(status, StatusCode::OK, "{threshold}: {body}");
        assert_eq!(body["scale"], "raw");
        assert!(body["threshold_rule"].is_string());
    }
    let (status, pts) = app.get(&format!("/api/v1/runs/{id}/points")).await;
    assert_eq!(status, StatusCode::OK, "{pts}");
    assert_eq!(pts["rarity"], Value::Null);
    assert_eq!(pts["scale"], "raw");
}

#[tokio::test]
async fn a_schema_1_database_opens_and_its_run_rethresholds_on_raw_scores() {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("tsad.db")).unwrap();
    conn.execute_batch(include_str!(
        "../../tsad-store/tests/fixtures/schema_v1.sql"
    ))
    .unwrap();
    drop(conn);
    let store = Arc::new(SqliteStorage::open(dir.path()).unwrap());
    let app = TestApp::with_store(store, ServerConfig::default());
    let (status, run) = app.get("/api/v1/runs/run_1").await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["status"], "succeeded");
    // The fixture's threshold is `{}`, which no version reads: no rule, no scale, no 500.
    assert_eq!(run["threshold_rule"], Value::Null);
    assert_eq!(run["training"], Value::Null);
    assert_eq!(run["events"], json!([{"start": 1, "index": 0, "rank": 1}]));
    let (status, ev) = app.get("/api/v1/runs/run_1/events").await;
    assert_eq!(status, StatusCode::OK, "{ev}");
    assert_eq!(ev["event_count"], 1);
    check_old_run(&app, "run_1").await;
}

#[tokio::test]
async fn a_run_stored_before_calibration_keeps_working_after_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = Arc::new(SqliteStorage::open(dir.path()).unwrap());
        let app = TestApp::with_store(store, ServerConfig::default());
        let ds = app.demo().await;
        let run = app
            .finished_run_from(&json!({
                "dataset_id": ds, "detector": fast_spec(),
                "threshold": {"method": "sigma", "k": 3}
            }))
            .await;
        assert_eq!(run["status"], "succeeded", "{run}");
        run["id"].as_str().unwrap().to_owned()
    };
    // What migration 3 leaves of a result and run written before it.
    let conn = rusqlite::Connection::open(dir.path().join("tsad.db")).unwrap();
    conn.execute("UPDATE results SET rarity = NULL", [])
        .unwrap();
    conn.execute("UPDATE runs SET training = NULL", []).unwrap();
    drop(conn);
    let store = Arc::new(SqliteStorage::open(dir.path()).unwrap());
    let app = TestApp::with_store(store, ServerConfig::default());
    let (status, run) = app.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(run["training"], Value::Null);
    assert_eq!(run["threshold_rule"], "mean + 3 std of the scores");
    let events = run["events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["rank"].as_u64().unwrap() >= 1));
    check_old_run(&app, &id).await;
    // Explaining still works, on the raw cut.
    let (status, body) = app
        .post_json(&format!("/api/v1/runs/{id}/events/0/explain"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A new run on the same data has the rarity, and auto applies to it.
    let ds = run["dataset_id"].as_str().unwrap();
    let fresh = app
        .finished_run_from(&json!({"dataset_id": ds, "detector": fast_spec()}))
        .await;
    let fresh_id = fresh["id"].as_str().unwrap();
    let (status, body) = app
        .post_json(
            &format!("/api/v1/runs/{fresh_id}/threshold"),
            &json!({"threshold": {"method": "auto", "every": 100}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["threshold_value"], 2.0);
}
