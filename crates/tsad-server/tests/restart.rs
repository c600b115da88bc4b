//! Everything survives a restart on the same data directory; a run in flight when the server
//! stopped is marked failed with its reason.

mod common;

use common::{TestApp, fast_spec};
use serde_json::json;
use std::sync::Arc;
use tsad_server::ServerConfig;
use tsad_store::{RunStatus, SqliteStorage};

#[tokio::test]
async fn datasets_and_runs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // First life: a dataset and a finished run.
    let (ds, done) = {
        let store = Arc::new(SqliteStorage::open(dir.path()).unwrap());
        let app = TestApp::with_store(store, ServerConfig::default());
        let ds = app.demo().await;
        let run = app.finished_run(&ds, fast_spec()).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        (ds, run)
    };
    // Second life, with no job slot: a run is still queued when it "stops".
    let in_flight = {
        let store = Arc::new(SqliteStorage::open(dir.path()).unwrap());
        let config = ServerConfig {
            max_jobs: 0,
            ..ServerConfig::default()
        };
        let app = TestApp::with_store(store, config);
        let (_, run) = app
            .post_json(
                "/api/v1/runs",
                &json!({"dataset_id": ds, "detector": fast_spec()}),
            )
            .await;
        assert_eq!(run["status"], "queued");
        run["id"].as_str().unwrap().to_owned()
    };
    // Restart: rebuild the app on the same directory.
    let store = Arc::new(SqliteStorage::open(dir.path()).unwrap());
    let app = TestApp::with_store(store, ServerConfig::default());
    let (_, list) = app.get("/api/v1/datasets").await;
    assert_eq!(list["datasets"][0]["id"], ds);
    assert_eq!(list["datasets"][0]["run_count"], 2);
    let id = done["id"].as_str().unwrap();
    let (_, again) = app.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(again, done, "the finished run is unchanged");
    let (status, pts) = app
        .get(&format!("/api/v1/runs/{id}/points?max_points=50"))
        .await;
    assert_eq!(status, axum::http::StatusCode::OK);
    assert_eq!(pts["total"], 400);
    let (_, failed) = app.get(&format!("/api/v1/runs/{in_flight}")).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["error"],
        json!({"code": "interrupted", "message": tsad_store::INTERRUPTED_MESSAGE})
    );
    assert_eq!(
        app.state.store().run(&in_flight).unwrap().status,
        RunStatus::Failed
    );
}
