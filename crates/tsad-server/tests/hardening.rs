//! Issue 12 (hardening), server half: bounded work per request, the access token, Origin and
//! Host checks, the JSON content type, security headers and compression, and the checks a run
//! gets before it is queued. One test (or more) per item, named after it.

mod common;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use common::{TestApp, fast_spec, parse};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tower::ServiceExt;
use tsad_server::{AccessToken, Limits, ServerConfig};

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no code>")
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or("")
}

/// Request headers of a table case.
type Headers<'a> = Vec<(header::HeaderName, &'a str)>;

fn ensemble(members: Vec<Value>) -> Value {
    json!({"kind": "ensemble", "policy": "any", "members": members})
}

fn values(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| (i % 24) as f64 + 0.1 * (i % 7) as f64)
        .collect()
}

/// Item 1: ensemble members, nesting and estimated cost are bounded before any work, on both
/// /detect and /runs, with 422 `limit_exceeded` naming the limit.
#[tokio::test]
async fn item_1_specs_beyond_the_limits_are_422_naming_the_limit() {
    let app = TestApp::new();
    let dataset = app.demo().await;
    let wide = ensemble(vec![json!({"kind": "mad"}); 10_000]);
    let nested =
        |levels: usize| (0..levels).fold(json!({"kind": "mad"}), |inner, _| ensemble(vec![inner]));
    let huge_lstm = json!({"kind": "lstm_forecast", "hidden": 1024, "epochs": 1000,
                           "batch_size": 8});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("10,000 members", wide, "limit of 32"),
        ("5 levels of ensembles", nested(5), "limit of 3"),
        // 64 levels is past serde_json's own depth limit: still 422 naming a limit.
        ("64 levels of ensembles", nested(64), "at most 3 levels"),
        ("an LSTM too big to train", huge_lstm, "GFLOP"),
    ];
    for (name, detector, needle) in cases {
        let (status, body) = app
            .post_json(
                "/api/v1/detect",
                &json!({"values": values(2000), "detector": detector}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "detect, {name}: {body}"
        );
        assert_eq!(code(&body), "limit_exceeded", "detect, {name}: {body}");
        assert!(message(&body).contains(needle), "detect, {name}: {body}");
        let (status, body) = app
            .post_json(
                "/api/v1/runs",
                &json!({"dataset_id": dataset, "detector": detector}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "runs, {name}: {body}"
        );
        assert_eq!(code(&body), "limit_exceeded", "runs, {name}: {body}");
        assert!(message(&body).contains(needle), "runs, {name}: {body}");
    }
    assert!(app.state.store().list_runs(None).unwrap().is_empty());

    // Points x detectors counts the dataset's rows for a run.
    let small = TestApp::with_config(ServerConfig {
        limits: Limits {
            max_point_detectors: 1000,
            ..Limits::default()
        },
        ..ServerConfig::default()
    });
    let dataset = small.demo().await; // 400 points
    let (status, body) = small
        .post_json(
            "/api/v1/runs",
            &json!({"dataset_id": dataset,
                    "detector": ensemble(vec![json!({"kind": "mad"}); 3])}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        message(&body).contains("400 points x 3 detectors"),
        "{body}"
    );
}

/// A detection slow enough to still be computing when the test looks (an LSTM that checks its
/// cancel flag every batch).
fn slow_detect() -> Value {
    json!({
        "values": values(20_000),
        "detector": {"kind": "lstm_forecast", "epochs": 500, "patience": 0,
                      "validation_fraction": 0.0, "hidden": 64, "window": 64},
    })
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Item 2: /detect counts against a bound (429 when full) and stops computing when the
/// client goes away (the request future is dropped).
#[tokio::test]
async fn item_2_detect_is_bounded_and_stops_when_the_client_disconnects() {
    let app = TestApp::with_config(ServerConfig {
        max_jobs: 1,
        max_queue: 0,
        ..ServerConfig::default()
    });
    let router = app.router.clone();
    let first = tokio::spawn(async move {
        let req = common::json_request(Method::POST, "/api/v1/detect", slow_detect().to_string());
        router.oneshot(req).await
    });
    let state = app.state.clone();
    wait_for(
        "the first detection to take the slot",
        Duration::from_secs(10),
        || state.detects_in_flight() == 1,
    )
    .await;
    let (status, body) = app
        .post_json("/api/v1/detect", &json!({"values": values(100)}))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(code(&body), "too_many_jobs", "{body}");

    assert!(!first.is_finished(), "the first detection still computes");
    // The client disconnects: hyper drops the request future, as aborting the task does.
    first.abort();
    let started = Instant::now();
    wait_for(
        "the computation to stop and free its slot",
        Duration::from_secs(10),
        || state.detects_in_flight() == 0,
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    let (status, body) = app
        .post_json("/api/v1/detect", &json!({"values": values(100)}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Item 4: the demo's size and the names of datasets and columns are capped (422).
#[tokio::test]
async fn item_4_demo_points_and_name_lengths_are_capped() {
    let app = TestApp::new();
    let (status, body) = app
        .post_json("/api/v1/datasets/demo", &json!({"points": 100_000_000}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "limit_exceeded");
    assert!(message(&body).contains("limit of 1000000"), "{body}");

    let long = "n".repeat(1_000_000);
    let (status, body) = app
        .post_json(
            "/api/v1/datasets",
            &json!({"name": long, "values": [1.0, 2.0, 3.0]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&body), "limit_exceeded");
    assert!(
        message(&body).len() < 300,
        "the name is not echoed back whole"
    );

    let csv = format!(
        "timestamp,{}\n2024-01-01,1\n2024-01-02,2\n",
        "c".repeat(300)
    );
    let (status, body) = app.upload("wide.csv", csv.as_bytes()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(message(&body).contains("column name"), "{body}");
    assert!(app.state.store().list_datasets().unwrap().is_empty());
}

fn with_token() -> TestApp {
    TestApp::with_config(ServerConfig {
        token: Some(AccessToken::new("test-token-123").unwrap()),
        ..ServerConfig::default()
    })
}

fn get_with(uri: &str, headers: &[(header::HeaderName, &str)]) -> Request<Body> {
    let mut req = Request::builder().method(Method::GET).uri(uri);
    for (k, v) in headers {
        req = req.header(k, *v);
    }
    req.body(Body::empty()).unwrap()
}

/// Item 5: with a token, every request but /healthz and /metrics needs it (header, cookie, or
/// once in the URL, which becomes a cookie).
#[tokio::test]
async fn item_5_the_access_token_guards_everything_but_health_and_metrics() {
    let app = with_token();
    for open in ["/healthz", "/metrics"] {
        let (status, _) = app.get(open).await;
        assert_eq!(status, StatusCode::OK, "{open}");
    }
    let (status, headers, body) = app.send(get_with("/api/v1/datasets", &[])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.contains_key(header::WWW_AUTHENTICATE));
    let body = parse(&body);
    assert_eq!(code(&body), "unauthorized", "{body}");
    assert!(message(&body).contains("?token="), "{body}");
    // The page itself says what to do, in HTML.
    let (status, headers, _) = app.send(get_with("/", &[])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    let cases: Vec<(&str, Headers<'_>, StatusCode)> = vec![
        (
            "bearer",
            vec![(header::AUTHORIZATION, "Bearer test-token-123")],
            StatusCode::OK,
        ),
        (
            "wrong bearer",
            vec![(header::AUTHORIZATION, "Bearer test-token-124")],
            StatusCode::UNAUTHORIZED,
        ),
        (
            "cookie",
            vec![(header::COOKIE, "a=b; tsad_token_5001=test-token-123")],
            StatusCode::OK,
        ),
        (
            "cookie of another port",
            vec![(header::COOKIE, "tsad_token_5002=test-token-123")],
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (name, headers, want) in cases {
        let (status, _, _) = app.send(get_with("/api/v1/datasets", &headers)).await;
        assert_eq!(status, want, "{name}");
    }
    let (status, _, _) = app
        .send(get_with("/api/v1/datasets?token=test-token-123", &[]))
        .await;
    assert_eq!(status, StatusCode::OK, "the token in an API URL");

    // The URL printed at startup: the token moves into a cookie and out of the address bar.
    let (status, headers, _) = app
        .send(get_with("/?token=test-token-123&run=r1", &[]))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/?run=r1");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.starts_with("tsad_token_5001=test-token-123;"),
        "{cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let (status, _, page) = app
        .send(get_with(
            "/",
            &[(header::COOKIE, "tsad_token_5001=test-token-123")],
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&page).contains("<html"));
}

fn post(uri: &str, headers: &[(header::HeaderName, &str)], body: &str) -> Request<Body> {
    let mut req = Request::builder().method(Method::POST).uri(uri);
    for (k, v) in headers {
        req = req.header(k, *v);
    }
    req.body(Body::from(body.to_owned())).unwrap()
}

/// Item 6: another site's page cannot change data (Origin), a rebinding DNS name cannot read
/// it (Host), and JSON endpoints take only JSON (so no unpreflighted text/plain or forms).
#[tokio::test]
async fn item_6_origin_host_and_content_type_are_checked() {
    let app = TestApp::new();
    let json_ct = (header::CONTENT_TYPE, "application/json");
    let host = (header::HOST, "127.0.0.1:5001");
    let cases: Vec<(&str, Headers<'_>, StatusCode, &str)> = vec![
        (
            "same origin",
            vec![
                json_ct.clone(),
                host.clone(),
                (header::ORIGIN, "http://127.0.0.1:5001"),
            ],
            StatusCode::CREATED,
            "",
        ),
        (
            "no origin (curl)",
            vec![json_ct.clone(), host.clone()],
            StatusCode::CREATED,
            "",
        ),
        (
            "another site",
            vec![
                json_ct.clone(),
                host.clone(),
                (header::ORIGIN, "http://evil.example"),
            ],
            StatusCode::FORBIDDEN,
            "cross_origin",
        ),
        (
            "another port",
            vec![
                json_ct.clone(),
                host.clone(),
                (header::ORIGIN, "http://127.0.0.1:8080"),
            ],
            StatusCode::FORBIDDEN,
            "cross_origin",
        ),
        (
            "null origin",
            vec![json_ct.clone(), host.clone(), (header::ORIGIN, "null")],
            StatusCode::FORBIDDEN,
            "cross_origin",
        ),
        (
            "fetch metadata",
            vec![
                json_ct.clone(),
                host.clone(),
                (
                    header::HeaderName::from_static("sec-fetch-site"),
                    "cross-site",
                ),
            ],
            StatusCode::FORBIDDEN,
            "cross_origin",
        ),
        (
            "text/plain",
            vec![(header::CONTENT_TYPE, "text/plain"), host.clone()],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "a form",
            vec![
                (header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
                host.clone(),
            ],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "rebinding name",
            vec![json_ct.clone(), (header::HOST, "attacker.example:5001")],
            StatusCode::FORBIDDEN,
            "host_not_allowed",
        ),
        (
            "localhost",
            vec![json_ct.clone(), (header::HOST, "localhost:5001")],
            StatusCode::CREATED,
            "",
        ),
        (
            "ipv6 loopback",
            vec![json_ct.clone(), (header::HOST, "[::1]:5001")],
            StatusCode::CREATED,
            "",
        ),
    ];
    for (name, headers, want, want_code) in cases {
        let (status, _, body) = app
            .send(post(
                "/api/v1/datasets/demo",
                &headers,
                r#"{"points": 300}"#,
            ))
            .await;
        assert_eq!(status, want, "{name}: {}", String::from_utf8_lossy(&body));
        if !want_code.is_empty() {
            assert_eq!(code(&parse(&body)), want_code, "{name}");
        }
    }
    // Reads through a rebinding name are refused too.
    let (status, _, _) = app
        .send(get_with(
            "/api/v1/datasets",
            &[(header::HOST, "attacker.example")],
        ))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A JSON endpoint without a content type: 415 in the JSON shape.
    let (status, _, body) = app
        .send(post("/api/v1/detect", &[], r#"{"values": [1, 2, 3]}"#))
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(code(&parse(&body)), "unsupported_media_type");
    // Multipart stays allowed where the API takes files.
    let (status, body) = app.upload("a.csv", &common::spike_csv()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A configured name is accepted; bound to every interface, IP literals are too.
    let named = TestApp::with_config(ServerConfig {
        allowed_hosts: vec!["tsad.example.org".into()],
        bind: "0.0.0.0:5001".parse().unwrap(),
        ..ServerConfig::default()
    });
    for (host, want) in [
        ("tsad.example.org", StatusCode::OK),
        ("TSAD.example.org:5001", StatusCode::OK),
        ("192.168.1.20:5001", StatusCode::OK),
        ("other.example.org", StatusCode::FORBIDDEN),
    ] {
        let (status, _, _) = named
            .send(get_with("/api/v1/datasets", &[(header::HOST, host)]))
            .await;
        assert_eq!(status, want, "{host}");
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Item 7: security headers on pages, API answers and errors; compressed responses.
#[tokio::test]
async fn item_7_security_headers_and_compression() {
    let app = TestApp::new();
    for uri in ["/", "/api/v1/datasets", "/api/v1/nope", "/js/main.js"] {
        let (_, headers, _) = app.send(get_with(uri, &[])).await;
        let csp = header_str(&headers, "content-security-policy");
        assert!(csp.contains("script-src 'self'"), "{uri}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{uri}: {csp}");
        assert!(!csp.contains("unsafe-eval"), "{uri}: {csp}");
        assert_eq!(
            header_str(&headers, "x-content-type-options"),
            "nosniff",
            "{uri}"
        );
        assert_eq!(header_str(&headers, "x-frame-options"), "DENY", "{uri}");
        assert_eq!(
            header_str(&headers, "referrer-policy"),
            "no-referrer",
            "{uri}"
        );
    }
    for encoding in ["gzip", "br"] {
        let (status, headers, body) = app
            .send(get_with(
                "/assets/plotly.min.js",
                &[(header::ACCEPT_ENCODING, encoding)],
            ))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header_str(&headers, "content-encoding"), encoding);
        assert!(body.len() < 2_000_000, "{encoding}: {} bytes", body.len());
    }
    let (_, headers, _) = app
        .send(get_with(
            "/api/v1/detectors",
            &[(header::ACCEPT_ENCODING, "gzip")],
        ))
        .await;
    assert_eq!(header_str(&headers, "content-encoding"), "gzip");
}

/// Item 15: a run whose column does not exist or whose detector needs more rows than the
/// dataset has is 422 before it is queued; an inline series of nulls is 422 like its CSV.
#[tokio::test]
async fn item_15_runs_are_checked_against_the_dataset_before_queueing() {
    let app = TestApp::new();
    let dataset = app.demo().await; // 400 points: timestamp, value, is_anomaly
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "missing value column",
            json!({"dataset_id": dataset, "value_column": "nope", "detector": fast_spec()}),
            "invalid_parameter",
            "no column `nope`",
        ),
        (
            "column index out of range",
            json!({"dataset_id": dataset, "value_column": 7, "detector": fast_spec()}),
            "invalid_parameter",
            "no column `7`",
        ),
        (
            "missing time column",
            json!({"dataset_id": dataset, "time_column": "when", "detector": fast_spec()}),
            "invalid_parameter",
            "time_column",
        ),
        (
            "window beyond the rows",
            json!({"dataset_id": dataset, "detector": {"kind": "mad", "window": 5000}}),
            "not_enough_data",
            "400 rows",
        ),
    ];
    for (name, req, want_code, needle) in cases {
        let (status, body) = app.post_json("/api/v1/runs", &req).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        assert_eq!(code(&body), want_code, "{name}: {body}");
        assert!(message(&body).contains(needle), "{name}: {body}");
    }
    assert!(app.state.store().list_runs(None).unwrap().is_empty());
    assert_eq!(app.state.job_counts(), (0, 0), "no slot stays reserved");
    // Columns by any case still work.
    let run = app
        .finished_run_from(&json!({"dataset_id": dataset, "value_column": "Value",
                                   "detector": fast_spec()}))
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");

    let (status, body) = app
        .post_json(
            "/api/v1/detect",
            &json!({"values": [null, null, null, null]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "invalid_series");
    assert!(message(&body).contains("null"), "{body}");
}
