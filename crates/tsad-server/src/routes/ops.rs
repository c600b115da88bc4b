//! Operations: `/healthz`, `/metrics`, `/api/v1/openapi.json` and the readable `/api/docs`.

use crate::api::Health;
use crate::openapi;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health_get))
        .route("/metrics", get(metrics_get))
        .route("/api/v1/openapi.json", get(openapi_get))
        .route("/api/docs", get(docs_get))
}

/// Liveness: the server answers.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "the server is up", body = Health))
)]
pub(crate) async fn health_get() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Prometheus metrics: requests, run durations, jobs running and queued.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String))
)]
pub(crate) async fn metrics_get(State(state): State<AppState>) -> impl IntoResponse {
    let (running, queued) = state.job_counts();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics().render(running, queued),
    )
}

/// This API's OpenAPI document.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1", body = Object))
)]
pub(crate) async fn openapi_get() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi::document())
}

/// A readable page of the OpenAPI document.
pub(crate) async fn docs_get() -> Html<String> {
    Html(openapi::docs_page(&openapi::document()))
}
