//! One test per row of the error table in docs/API.md: status, code and (where the message is
//! ours) the exact body.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{TestApp, error_body, fast_spec, multipart, parse, spike_csv};
use serde_json::{Value, json};
use std::sync::Arc;
use tsad_server::ServerConfig;
use tsad_store::{
    ChatMessage, DatasetRecord, DatasetSummary, MarkRecord, ModelRecord, RunRecord, RunResult,
    RunStatus, Storage, StorageError, ThresholdUpdate,
};

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn bad_request_400() {
    let app = TestApp::new();
    // malformed JSON
    let (status, body) = app
        .raw_json(Method::POST, "/api/v1/runs", "{not json".into())
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "bad_request"),
        "{body}"
    );
    assert!(message(&body).contains("Failed to parse"), "{body}");
    // wrong shape: a required field missing, an unknown field
    for bad in [
        json!({"detector": {"kind": "mad"}}),
        json!({"dataset_id": "x", "colour": 1}),
    ] {
        let (status, body) = app.post_json("/api/v1/runs", &bad).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{body}"
        );
    }
    // a multipart body without a `file` field
    let (ct, payload) = multipart(&[("name", None, b"sales")]);
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/datasets")
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from(payload))
        .unwrap();
    let (status, _, body) = app.send(req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        parse(&body),
        error_body(
            "bad_request",
            "the multipart body has no `file` field; send the CSV as field `file`"
        )
    );
    // neither multipart nor JSON: 415 since issue 12 (a text/plain POST is not preflighted)
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/datasets")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("a,b"))
        .unwrap();
    let (status, _, body) = app.send(req).await;
    assert_eq!(
        (status, code(&parse(&body))),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    // bad query
    let (status, body) = app.get("/api/v1/runs/x/points?max_points=lots").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
}

#[tokio::test]
async fn not_found_404() {
    let app = TestApp::new();
    let cases = [
        ("/api/v1/datasets/ds_nope", "dataset `ds_nope` not found"),
        ("/api/v1/runs/run_nope", "run `run_nope` not found"),
        ("/api/v1/runs/run_nope/points", "run `run_nope` not found"),
        ("/api/v1/runs/run_nope/events", "run `run_nope` not found"),
        ("/api/v1/runs/run_nope/progress", "run `run_nope` not found"),
        ("/api/v1/runs/run_nope/download", "run `run_nope` not found"),
    ];
    for (uri, msg) in cases {
        let (status, body) = app.get(uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(body, error_body("not_found", msg), "{uri}");
    }
    let (status, body) = app
        .post_json(
            "/api/v1/runs",
            &json!({"dataset_id": "ds_nope", "detector": fast_spec()}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, error_body("not_found", "dataset `ds_nope` not found"));
    // the failed create gave its queue slot back
    assert_eq!(app.state.job_counts(), (0, 0));
    let (status, body) = app.delete("/api/v1/datasets/ds_nope").await;
    assert_eq!(
        (status, code(&parse(&body))),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, body) = app.get("/api/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        error_body("not_found", "no API route `GET /api/v1/nothing-here`")
    );
}

#[tokio::test]
async fn conflict_409() {
    // No job slot: runs stay queued, so their points do not exist yet.
    let app = TestApp::with_config(ServerConfig {
        max_jobs: 0,
        ..ServerConfig::default()
    });
    let ds = app.demo().await;
    let id = app.start_run(&ds, fast_spec()).await;
    let msg = format!("run `{id}` is queued; its points and events exist once it succeeded");
    for uri in ["points", "events", "download"] {
        let (status, body) = app.get(&format!("/api/v1/runs/{id}/{uri}")).await;
        assert_eq!(status, StatusCode::CONFLICT, "{uri}");
        assert_eq!(body, error_body("conflict", &msg), "{uri}");
    }
    let (status, body) = app
        .post_json(
            &format!("/api/v1/runs/{id}/threshold"),
            &json!({"threshold": {"method": "sigma", "k": 2}}),
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"));
    // cancelling twice: the second finds it finished
    let (status, _) = app
        .post_json(&format!("/api/v1/runs/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post_json(&format!("/api/v1/runs/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body,
        error_body(
            "conflict",
            &format!("run `{id}` already cancelled; only queued or running runs can be cancelled")
        )
    );
}

#[tokio::test]
async fn payload_too_large_413() {
    let app = TestApp::with_config(ServerConfig {
        max_upload_bytes: 2_000,
        ..ServerConfig::default()
    });
    let big = spike_csv().repeat(3);
    assert!(big.len() > 2_000);
    let (status, body) = app.upload("big.csv", &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(code(&body), "payload_too_large");
    assert!(message(&body).contains("--max-upload-mb"), "{body}");
    let values: Vec<f64> = (0..1000).map(f64::from).collect();
    let (status, body) = app
        .post_json("/api/v1/datasets", &json!({"values": values}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
}

#[tokio::test]
async fn unprocessable_422() {
    let app = TestApp::new();
    // not a CSV / no usable column: the ingest message
    for (name, bytes) in [
        ("empty.csv", &b""[..]),
        ("words.csv", &b"name,colour\nann,red\nbob,blue\n"[..]),
    ] {
        let (status, body) = app.upload(name, bytes).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_csv"),
            "{body}"
        );
        assert!(message(&body).starts_with(name), "{body}");
    }
    // invalid series in JSON points
    let (status, body) = app
        .post_json(
            "/api/v1/datasets",
            &json!({"timestamps": [1, 3, 2], "values": [1.0, 2.0, 3.0]}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_series")
    );
    assert!(message(&body).contains("must strictly increase"), "{body}");

    // an invalid spec lists every problem
    let ds = app.demo().await;
    let (status, body) = app
        .post_json(
            "/api/v1/runs",
            &json!({"dataset_id": ds, "detector": {"kind": "mad", "window": 1, "bogus": 3}}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_config"),
        "{body}"
    );
    assert!(
        message(&body).contains("window") && message(&body).contains("bogus"),
        "{body}"
    );
    let (status, body) = app
        .post_json(
            "/api/v1/runs",
            &json!({"dataset_id": ds, "detector": {"kind": "nope"}}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_config"),
        "{body}"
    );
    // an invalid threshold
    let (status, body) = app
        .post_json(
            "/api/v1/runs",
            &json!({"dataset_id": ds, "detector": fast_spec(), "threshold": {"method": "quantile", "q": 2}}),
        )
        .await;
    assert_eq!(
        body,
        error_body(
            "invalid_parameter",
            "threshold: invalid parameter `q`: must be strictly between 0 and 1, got 2"
        )
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // spec and threshold both wrong: every problem, as invalid_config
    let (_, body) = app
        .post_json(
            "/api/v1/runs",
            &json!({"dataset_id": ds, "detector": {"kind": "mad", "window": 1}, "threshold": {"method": "sigma", "k": -1}}),
        )
        .await;
    assert_eq!(code(&body), "invalid_config");
    assert!(
        message(&body).contains("window") && message(&body).contains("`k`"),
        "{body}"
    );
    // nothing was queued by any of these
    assert!(app.state.store().list_runs(None).unwrap().is_empty());

    // not enough data, synchronously
    let (status, body) = app
        .post_json(
            "/api/v1/detect",
            &json!({"values": [1.0, 2.0, 3.0], "detector": fast_spec()}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "not_enough_data"),
        "{body}"
    );
    // too many points for the synchronous endpoint
    let many = vec![0.0; 100_001];
    let (status, body) = app
        .post_json("/api/v1/detect", &json!({"values": many}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_series")
    );
}

#[tokio::test]
async fn too_many_jobs_429() {
    let app = TestApp::with_config(ServerConfig {
        max_jobs: 0,
        max_queue: 2,
        ..ServerConfig::default()
    });
    let ds = app.demo().await;
    let req = json!({"dataset_id": ds, "detector": fast_spec()});
    for _ in 0..2 {
        let (status, _) = app.post_json("/api/v1/runs", &req).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let (status, body) = app.post_json("/api/v1/runs", &req).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        body,
        error_body(
            "too_many_jobs",
            "the run queue is full (0 running, 2 queued); wait for a run to finish or cancel one"
        )
    );
    assert_eq!(app.state.store().list_runs(None).unwrap().len(), 2);
}

/// A store whose every call fails: our fault, so 500 with a generic message; or, with
/// `full`, the disk is full (507).
#[derive(Debug)]
struct BrokenStorage {
    full: bool,
}

const BROKEN: BrokenStorage = BrokenStorage { full: false };

impl BrokenStorage {
    fn broken<T>(&self) -> Result<T, StorageError> {
        if self.full {
            return Err(std::io::Error::from(std::io::ErrorKind::StorageFull).into());
        }
        Err(StorageError::Corrupt {
            reason: "disk on fire".into(),
        })
    }
}

impl Storage for BrokenStorage {
    fn create_dataset(&self, _: &DatasetRecord, _: &[u8]) -> Result<(), StorageError> {
        self.broken()
    }
    fn dataset(&self, _: &str) -> Result<DatasetRecord, StorageError> {
        self.broken()
    }
    fn dataset_bytes(&self, _: &str) -> Result<Vec<u8>, StorageError> {
        self.broken()
    }
    fn list_datasets(&self) -> Result<Vec<DatasetSummary>, StorageError> {
        self.broken()
    }
    fn rename_dataset(&self, _: &str, _: &str) -> Result<(), StorageError> {
        self.broken()
    }
    fn delete_dataset(&self, _: &str) -> Result<(), StorageError> {
        self.broken()
    }
    fn create_run(&self, _: &RunRecord) -> Result<(), StorageError> {
        self.broken()
    }
    fn run(&self, _: &str) -> Result<RunRecord, StorageError> {
        self.broken()
    }
    fn list_runs(&self, _: Option<&str>) -> Result<Vec<RunRecord>, StorageError> {
        self.broken()
    }
    fn series_runs(&self, _: &str) -> Result<Vec<RunRecord>, StorageError> {
        self.broken()
    }
    fn add_series_runs(
        &self,
        _: &str,
        _: &[(RunRecord, Option<RunResult>)],
    ) -> Result<(), StorageError> {
        self.broken()
    }
    fn update_run(&self, _: &RunRecord) -> Result<(), StorageError> {
        self.broken()
    }
    fn transition_run(
        &self,
        _: &RunRecord,
        _: &[RunStatus],
        _: Option<&RunResult>,
    ) -> Result<bool, StorageError> {
        self.broken()
    }
    fn set_run_progress(&self, _: &str, _: &Value) -> Result<(), StorageError> {
        self.broken()
    }
    fn delete_run(&self, _: &str) -> Result<(), StorageError> {
        self.broken()
    }
    fn put_result(&self, _: &str, _: &RunResult) -> Result<(), StorageError> {
        self.broken()
    }
    fn result(&self, _: &str) -> Result<RunResult, StorageError> {
        self.broken()
    }
    fn update_threshold(&self, _: &str, _: &ThresholdUpdate) -> Result<(), StorageError> {
        self.broken()
    }
    fn add_chat_message(&self, _: &ChatMessage) -> Result<(), StorageError> {
        self.broken()
    }
    fn chat_messages(&self, _: &str) -> Result<Vec<ChatMessage>, StorageError> {
        self.broken()
    }
    fn create_mark(&self, _: &MarkRecord) -> Result<(), StorageError> {
        self.broken()
    }
    fn mark(&self, _: &str) -> Result<MarkRecord, StorageError> {
        self.broken()
    }
    fn marks(&self, _: &str) -> Result<Vec<MarkRecord>, StorageError> {
        self.broken()
    }
    fn update_mark(&self, _: &MarkRecord) -> Result<(), StorageError> {
        self.broken()
    }
    fn delete_mark(&self, _: &str) -> Result<(), StorageError> {
        self.broken()
    }
    fn create_model(&self, _: &ModelRecord, _: &[u8]) -> Result<(), StorageError> {
        self.broken()
    }
    fn model(&self, _: &str) -> Result<ModelRecord, StorageError> {
        self.broken()
    }
    fn model_bytes(&self, _: &str) -> Result<Vec<u8>, StorageError> {
        self.broken()
    }
    fn list_models(&self) -> Result<Vec<ModelRecord>, StorageError> {
        self.broken()
    }
    fn delete_model(&self, _: &str) -> Result<(), StorageError> {
        self.broken()
    }
}

#[tokio::test]
async fn internal_500_hides_the_cause() {
    let app = TestApp::with_store(Arc::new(BROKEN), ServerConfig::default());
    for uri in [
        "/api/v1/datasets",
        "/api/v1/runs",
        "/api/v1/datasets/ds_x",
        "/api/v1/models",
        "/api/v1/models/model_x",
    ] {
        let (status, body) = app.get(uri).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{uri}");
        assert_eq!(
            body,
            error_body("internal", "internal error; the cause is in the server log"),
            "{uri}"
        );
    }
    let (_, _, metrics) = app.send(common::request(Method::GET, "/metrics")).await;
    let text = String::from_utf8(metrics.to_vec()).unwrap();
    assert!(
        text.contains(
            "tsad_http_requests_total{method=\"GET\",path=\"/api/v1/datasets\",status=\"500\"} 1"
        ),
        "{text}"
    );
}

/// A full disk is 507 `storage_full` naming the data directory (issue 12, item 8), not a
/// generic 500. The error is injected as the OS reports it (ENOSPC, `StorageFull`).
#[tokio::test]
async fn storage_full_507_names_the_data_directory() {
    let config = ServerConfig {
        data_dir: "/srv/tsad-data".into(),
        ..ServerConfig::default()
    };
    let app = TestApp::with_store(Arc::new(BrokenStorage { full: true }), config);
    let (status, body) = app
        .post_json("/api/v1/detect", &serde_json::json!({"values": [1, 2, 3]}))
        .await;
    // Detect needs no storage; a dataset upload does.
    assert_ne!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    let (status, body) = app.upload("a.csv", b"value\n1\n2\n3\n").await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert_eq!(
        body,
        error_body(
            "storage_full",
            "the disk holding the data directory `/srv/tsad-data` is full; free space there, \
             or start tsad with another --data-dir"
        )
    );
}

/// 405 and 414 answer in the JSON error shape (issue 12, item 8); 405 keeps its Allow header.
#[tokio::test]
async fn method_not_allowed_405_and_uri_too_long_414_are_json() {
    let app = TestApp::new();
    let (status, headers, body) = app
        .send(common::request(Method::GET, "/api/v1/detect"))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "POST");
    let body = common::parse(&body);
    assert_eq!(code(&body), "method_not_allowed", "{body}");
    assert!(message(&body).contains("GET"), "{body}");

    let long = format!("/api/v1/runs?dataset_id={}", "x".repeat(10_000));
    let (status, _, body) = app.send(common::request(Method::GET, &long)).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG);
    let body = common::parse(&body);
    assert_eq!(code(&body), "uri_too_long", "{body}");
}
