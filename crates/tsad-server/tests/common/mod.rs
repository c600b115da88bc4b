//! Helpers for router tests: build the app on in-memory storage and call it with `oneshot`.
#![allow(dead_code, unreachable_pub)]

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;
use tsad_server::{AppState, ServerConfig, app};
use tsad_store::{RunStatus, SqliteStorage, Storage};

/// A fast detector every engine version accepts.
pub fn fast_spec() -> Value {
    serde_json::json!({"kind": "mad"})
}

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
}

impl TestApp {
    pub fn new() -> Self {
        Self::with_config(ServerConfig::default())
    }

    pub fn with_config(config: ServerConfig) -> Self {
        let store: Arc<dyn Storage> = Arc::new(SqliteStorage::open_in_memory().unwrap());
        Self::with_store(store, config)
    }

    pub fn with_store(store: Arc<dyn Storage>, config: ServerConfig) -> Self {
        let state = AppState::new(store, config);
        TestApp {
            router: app(state.clone()),
            state,
        }
    }

    pub async fn send(&self, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, body)
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        let (status, _, body) = self.send(request(Method::GET, uri)).await;
        (status, parse(&body))
    }

    pub async fn post_json(&self, uri: &str, body: &Value) -> (StatusCode, Value) {
        self.raw_json(Method::POST, uri, body.to_string()).await
    }

    pub async fn raw_json(&self, method: Method, uri: &str, body: String) -> (StatusCode, Value) {
        let (status, _, body) = self.send(json_request(method, uri, body)).await;
        (status, parse(&body))
    }

    pub async fn delete(&self, uri: &str) -> (StatusCode, Bytes) {
        let (status, _, body) = self.send(request(Method::DELETE, uri)).await;
        (status, body)
    }

    pub async fn upload(&self, file_name: &str, csv: &[u8]) -> (StatusCode, Value) {
        self.upload_parts(&[("file", Some(file_name), csv)]).await
    }

    /// `POST /api/v1/datasets` with these multipart parts (name, file name, bytes).
    pub async fn upload_parts(&self, parts: &[(&str, Option<&str>, &[u8])]) -> (StatusCode, Value) {
        let (ct, body) = multipart(parts);
        let req = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/datasets")
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(body))
            .unwrap();
        let (status, _, body) = self.send(req).await;
        (status, parse(&body))
    }

    pub async fn demo(&self) -> String {
        let (status, body) = self
            .post_json("/api/v1/datasets/demo", &serde_json::json!({"points": 400}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Starts a run (202 expected) and returns its id.
    pub async fn start_run(&self, dataset_id: &str, detector: Value) -> String {
        let (status, run) = self
            .post_json(
                "/api/v1/runs",
                &serde_json::json!({"dataset_id": dataset_id, "detector": detector}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{run}");
        run["id"].as_str().unwrap().to_owned()
    }

    /// Starts a run and waits until it finished.
    pub async fn finished_run(&self, dataset_id: &str, detector: Value) -> Value {
        let id = self.start_run(dataset_id, detector).await;
        self.wait(&id).await;
        let (status, run) = self.get(&format!("/api/v1/runs/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        run
    }

    /// Posts a run request (202 expected), waits until it finished and returns the run.
    pub async fn finished_run_from(&self, request: &Value) -> Value {
        let (status, run) = self.post_json("/api/v1/runs", request).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{run}");
        let id = run["id"].as_str().unwrap().to_owned();
        self.wait(&id).await;
        let (status, run) = self.get(&format!("/api/v1/runs/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        run
    }

    /// Polls the store until the run finished (30 s at most).
    pub async fn wait(&self, run_id: &str) -> RunStatus {
        let start = Instant::now();
        loop {
            let status = self.state.store().run(run_id).unwrap().status;
            if status.is_finished() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "run {run_id} still {status} after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A request with a JSON body, for tests that read the raw response (headers, SSE).
pub fn json_request(method: Method, uri: &str, body: String) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap()
}

pub fn request(method: Method, uri: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap()
}

pub fn parse(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// A multipart body of `(field, file name, content)` parts.
pub fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "tsadTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, file, content) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                     Content-Type: text/csv\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A small CSV with a spike at row 90 (past a 48-point warm-up) and a label column.
pub fn spike_csv() -> Vec<u8> {
    let mut csv = String::from("timestamp,value,is_anomaly\n");
    for i in 0..120 {
        let v = if i == 90 {
            50.0
        } else {
            (i % 7) as f64 * 0.5 + 10.0
        };
        let label = u8::from(i == 90);
        csv.push_str(&format!(
            "2024-01-01T{:02}:{:02}:00Z,{v},{label}\n",
            i / 60,
            i % 60
        ));
    }
    csv.into_bytes()
}

/// `{"error": {"code": code, "message": message}}`.
pub fn error_body(code: &str, message: &str) -> Value {
    serde_json::json!({"error": {"code": code, "message": message}})
}

/// Hourly points from `start_ms`: a daily cycle plus small deterministic noise, with a jump to
/// 60 at each of `spikes`. The first column is `timestamp`, the second `value`.
pub fn cycle_csv(n: usize, start_ms: i64, spikes: &[usize]) -> Vec<u8> {
    let mut csv = String::from("timestamp,value\n");
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    for i in 0..n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = (state % 1000) as f64 / 1000.0 - 0.5;
        let phase = 2.0 * std::f64::consts::PI * (i % 24) as f64 / 24.0;
        let v = if spikes.contains(&i) {
            60.0
        } else {
            10.0 + 2.0 * phase.sin() + noise
        };
        let t = start_ms + i as i64 * 3_600_000;
        csv.push_str(&format!("{},{v:.3}\n", tsad_io::format_timestamp(t)));
    }
    csv.into_bytes()
}
