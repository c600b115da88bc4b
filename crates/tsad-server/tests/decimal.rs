//! Issue 12, item 13: an upload may say its decimal mark (multipart field `decimal`), and
//! every run reads the stored file with it.

mod common;

use axum::http::StatusCode;
use common::{TestApp, error_body, fast_spec};

/// Tab-separated hourly rows, integers except one decimal-comma value past the sampled rows,
/// so only the asked-for mark reads it.
fn tab_csv() -> Vec<u8> {
    let mut csv = String::from("timestamp\tvalue\n");
    for i in 0..300 {
        let v = if i == 250 {
            "7,5".to_owned()
        } else {
            (10 + i % 3).to_string()
        };
        csv += &format!("{}\t{v}\n", 1_704_067_200 + i * 3600);
    }
    csv.into_bytes()
}

async fn upload(app: &TestApp, decimal: Option<&str>) -> (StatusCode, serde_json::Value) {
    let csv = tab_csv();
    let mut parts: Vec<(&str, Option<&str>, &[u8])> = vec![("file", Some("tab.csv"), &csv)];
    if let Some(d) = decimal {
        parts.push(("decimal", None, d.as_bytes()));
    }
    app.upload_parts(&parts).await
}

#[tokio::test]
async fn issue_12_upload_decimal_mark_reaches_every_run() {
    let app = TestApp::new();
    // Detected: the sample shows no comma, so row 252 is rejected.
    let (status, ds) = upload(&app, Some("")).await;
    assert_eq!(status, StatusCode::CREATED, "{ds}");
    assert_eq!(ds["diagnostics"]["decimal"], ".");
    assert_eq!(ds["diagnostics"]["rejected"], 1);

    let (status, ds) = upload(&app, Some(",")).await;
    assert_eq!(status, StatusCode::CREATED, "{ds}");
    assert_eq!(ds["diagnostics"]["decimal"], ",");
    assert_eq!(ds["diagnostics"]["rejected"], 0);
    let id = ds["id"].as_str().unwrap().to_owned();
    let run = app.finished_run(&id, fast_spec()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let run_id = run["id"].as_str().unwrap();
    let (status, points) = app.get(&format!("/api/v1/runs/{run_id}/points")).await;
    assert_eq!(status, StatusCode::OK, "{points}");
    assert_eq!(points["value"][250], 7.5);

    let (status, body) = upload(&app, Some(";")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body,
        error_body(
            "invalid_parameter",
            "decimal: \";\" is not a decimal mark; use '.' (12.5) or ',' (12,5)"
        )
    );
}
