//! The web UI: embedded files, Plotly.js from the `plotly` crate, and `--web-dir`.

mod common;

use axum::http::{Method, StatusCode, header};
use common::{TestApp, request};
use tsad_server::ServerConfig;

#[tokio::test]
async fn root_serves_the_embedded_index_once_it_exists() {
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/index.html");
    if !web.exists() {
        eprintln!("skipped: {} does not exist yet", web.display());
        return;
    }
    let app = TestApp::new();
    let (status, headers, body) = app.send(request(Method::GET, "/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(body.as_ref(), std::fs::read(&web).unwrap().as_slice());
    // a client-side route gets the page too; a missing file does not
    let (status, _, _) = app.send(request(Method::GET, "/runs/abc")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = app.send(request(Method::GET, "/missing.js")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    if std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("web/style.css")
        .exists()
    {
        let (status, headers, _) = app.send(request(Method::GET, "/style.css")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    }
}

#[tokio::test]
async fn plotly_comes_from_the_crate_with_a_long_cache() {
    let app = TestApp::new();
    let (status, headers, body) = app
        .send(request(Method::GET, "/assets/plotly.min.js"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert!(
        headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
    let js = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        js.starts_with("/**\n* plotly.js v"),
        "{}",
        &js[..60.min(js.len())]
    );
    assert!(
        !js.contains("<script") && !js.contains("MathJax = "),
        "only plotly.min.js"
    );
    assert!(js.len() > 1_000_000);
}

#[tokio::test]
async fn web_dir_serves_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<h1>dev</h1>").unwrap();
    std::fs::write(dir.path().join("app.js"), "export {}").unwrap();
    let app = TestApp::with_config(ServerConfig {
        web_dir: Some(dir.path().to_owned()),
        ..ServerConfig::default()
    });
    let (status, _, body) = app.send(request(Method::GET, "/")).await;
    assert_eq!(
        (status, body.as_ref()),
        (StatusCode::OK, &b"<h1>dev</h1>"[..])
    );
    let (status, headers, _) = app.send(request(Method::GET, "/app.js")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    let (status, _, body) = app.send(request(Method::GET, "/some/route")).await;
    assert_eq!(
        (status, body.as_ref()),
        (StatusCode::OK, &b"<h1>dev</h1>"[..])
    );
    // the API still answers JSON 404s for unknown API paths
    let (status, body) = app.get("/api/v1/unknown").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}
