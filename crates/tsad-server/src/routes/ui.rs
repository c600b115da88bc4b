//! The web UI: files under `web/` embedded at compile time (or served from `--web-dir`), and
//! Plotly.js from the `plotly` crate's bundled asset.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::OnceLock;
use tower::ServiceExt;

/// Everything under `crates/tsad-server/web/`, in the binary.
#[derive(rust_embed::RustEmbed)]
#[folder = "web/"]
#[allow_missing = true]
struct WebAssets;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/assets/plotly.min.js", get(plotly_get))
}

/// Plotly.js as the `plotly` crate ships it. `Plot::offline_js_sources` wraps it (and MathJax)
/// in `<script>` tags; neither file contains `</script>`, so the first script's body is
/// exactly plotly.min.js.
fn plotly_js() -> &'static str {
    static JS: OnceLock<String> = OnceLock::new();
    JS.get_or_init(|| {
        let html = plotly::Plot::offline_js_sources();
        let body = html
            .split_once('>')
            .map_or("", |(_, rest)| rest)
            .split("</script>")
            .next()
            .unwrap_or("");
        body.to_owned()
    })
}

async fn plotly_get() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        plotly_js(),
    )
        .into_response()
}

/// Serves the UI for every path no route matched; unknown `/api/` paths get a JSON 404.
pub(crate) async fn ui_fallback(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/api/") {
        return ApiError::not_found(format!("no API route `{} {path}`", req.method()))
            .into_response();
    }
    if let Some(dir) = &state.config().web_dir {
        let index = dir.join("index.html");
        let service = tower_http::services::ServeDir::new(dir)
            .fallback(tower_http::services::ServeFile::new(index));
        return match service.oneshot(req).await {
            Ok(resp) => resp.map(Body::new).into_response(),
            Err(e) => ApiError::internal(e).into_response(),
        };
    }
    embedded(req.uri())
}

fn embedded(uri: &Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let file = WebAssets::get(path).or_else(|| {
        // Paths without an extension are client-side routes: answer with the page.
        (!path.rsplit('/').next().unwrap_or("").contains('.'))
            .then(|| WebAssets::get("index.html"))
            .flatten()
    });
    match file {
        Some(file) => {
            let mime = file.metadata.mimetype();
            let mime = if mime.starts_with("text/") || mime.ends_with("javascript") {
                format!("{mime}; charset=utf-8")
            } else {
                mime.to_owned()
            };
            let mut resp = Response::new(Body::from(file.data.into_owned()));
            if let Ok(v) = HeaderValue::from_str(&mime) {
                resp.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            // The UI changes with each build; make browsers revalidate.
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            resp
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
