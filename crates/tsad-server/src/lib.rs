#![doc = include_str!("../README.md")]

mod api;
pub mod downsample;
mod error;
mod events;
mod fleet;
mod jobs;
mod limits;
mod metrics;
pub mod openapi;
mod routes;
mod security;
mod settings;
mod state;
mod training;

pub use api::{
    ColumnSelector, Dataset, DatasetList, DatasetPoints, DatasetSeries, DatasetSeriesEntry,
    DatasetSeriesQuery, DatasetSummary, DemoRequest, DetectRequest, DetectResponse, DownloadQuery,
    EventOrder, EventsQuery, EventsResponse, Health, MemberPoints, Model, ModelCreate, ModelList,
    Points, PointsQuery, Rename, Run, RunCreate, RunList, RunListQuery, SeriesEntry, SeriesInfo,
    SeriesList, SeriesQuery, ThresholdRequest, ThresholdResponse,
};
pub use error::{ApiError, ApiJson, ApiQuery, ErrorBody, ErrorDetail};
pub use limits::Limits;
pub use metrics::Metrics;
pub use security::{AccessToken, CONTENT_SECURITY_POLICY, is_loopback};
pub use state::AppState;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// How the server runs. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Address to listen on (default `127.0.0.1:5001`: loopback only).
    pub bind: SocketAddr,
    /// Where `tsad.db` lives (default `./tsad-data`).
    pub data_dir: PathBuf,
    /// Largest request body, uploads included (default 200 MB).
    pub max_upload_bytes: usize,
    /// Runs executing at once (default 2).
    pub max_jobs: usize,
    /// Runs waiting beyond those; more get 429 (default 16).
    pub max_queue: usize,
    /// Serve the web UI from this directory instead of the embedded copy (UI development).
    pub web_dir: Option<PathBuf>,
    /// Time limit of non-streaming requests (default 300 s); progress streams have none.
    pub request_timeout: Duration,
    /// The token every request but `/healthz` and `/metrics` must carry (default none: open,
    /// which is meant for loopback only).
    pub token: Option<AccessToken>,
    /// Host names accepted in the `Host` header besides loopback names and the bound address
    /// (`*` accepts any); guards against DNS rebinding (default none).
    pub allowed_hosts: Vec<String>,
    /// How much work one request may ask for.
    pub limits: Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 5001)),
            data_dir: PathBuf::from("./tsad-data"),
            max_upload_bytes: 200 * 1024 * 1024,
            max_jobs: 2,
            max_queue: 16,
            web_dir: None,
            request_timeout: Duration::from_secs(300),
            token: None,
            allowed_hosts: Vec::new(),
            limits: Limits::default(),
        }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is unusable.
    #[error("invalid server configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The data directory or its database could not be opened. The message names the file,
    /// the cause (once) and what to do.
    #[error("cannot open the database `{}`: {reason}; {advice}", path.display())]
    Storage {
        /// The database file.
        path: PathBuf,
        /// SQLite's or the system's reason.
        reason: String,
        /// What the operator can do.
        advice: String,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}; is another server using the port?")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The server failed while serving.
    #[error("server error: {0}")]
    Serve(#[source] std::io::Error),
}

/// The whole application: REST API, progress streams, operations endpoints and the web UI.
pub fn app(state: AppState) -> Router {
    let timeout = state.config().request_timeout;
    let body_limit = state.config().max_upload_bytes;
    let timed = Router::new()
        .merge(routes::datasets::routes())
        .merge(routes::detect::routes())
        .merge(routes::runs::routes())
        .merge(routes::marks::routes())
        .merge(routes::compare::routes())
        .merge(routes::explain::routes())
        .merge(routes::models::routes())
        .merge(routes::ops::routes())
        .merge(routes::ui::routes())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ));
    Router::new()
        .merge(timed)
        .merge(routes::runs::streaming_routes())
        .fallback(routes::ui::ui_fallback)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(middleware::from_fn(security::headers))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let path = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            tracing::info_span!("request", method = %req.method(), path)
        }))
        .with_state(state)
}

/// Counts each request, logs the cause of 5xx answers inside the request span, and gives
/// error responses made outside our handlers (timeouts) the API's JSON shape.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let mut response = next.run(req).await;
    if let Some(cause) = response.extensions().get::<error::InternalCause>() {
        tracing::error!(cause = %cause.0, "Request failed");
    }
    let status = response.status();
    if status == StatusCode::INSUFFICIENT_STORAGE {
        // The handler does not know where the data lives; the operator needs the path.
        let dir = state.config().data_dir.display().to_string();
        response = ApiError::new(
            status,
            "storage_full",
            format!(
                "the disk holding the data directory `{dir}` is full; free space there, or \
                 start tsad with another --data-dir"
            ),
        )
        .into_response();
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        let replacement = match status {
            StatusCode::REQUEST_TIMEOUT => Some(ApiError::new(
                status,
                "timeout",
                "the request took longer than the server's time limit",
            )),
            StatusCode::METHOD_NOT_ALLOWED => Some(ApiError::new(
                status,
                "method_not_allowed",
                format!(
                    "{method} is not allowed on {path}; the Allow header lists the methods that \
                     are"
                ),
            )),
            StatusCode::PAYLOAD_TOO_LARGE => Some(ApiError::payload_too_large(
                "the request body is larger than the server's limit; raise it with \
                 --max-upload-mb",
            )),
            _ => None,
        };
        if let Some(e) = replacement {
            let allow = response.headers().get(header::ALLOW).cloned();
            response = e.into_response();
            if let Some(allow) = allow {
                response.headers_mut().insert(header::ALLOW, allow);
            }
        }
    }
    state
        .metrics()
        .record_request(&method, &path, response.status().as_u16());
    response
}

/// Opens the store in `config.data_dir`, binds `config.bind` and serves until Ctrl-C or
/// SIGTERM, then stops gracefully: in-flight requests finish, runs still in flight are
/// cancelled and recorded as interrupted, progress streams end.
///
/// Runs compute on the runtime's blocking pool. A detector that never checks its cancel flag
/// keeps its thread busy after this returns, and dropping a Tokio runtime waits for such
/// threads; a binary should therefore end its runtime with
/// [`tokio::runtime::Runtime::shutdown_timeout`] (or exit) once `serve` returns.
///
/// # Errors
///
/// [`ServerError::Config`] for zero jobs, a zero upload limit or an unusable LLM
/// configuration in the environment (`TSAD_LLM_*`, `GEMINI_API_KEY`), [`ServerError::Storage`] when
/// the data directory cannot be opened, [`ServerError::Bind`] when the address is taken, and
/// [`ServerError::Serve`] when serving fails.
pub async fn serve(config: ServerConfig) -> Result<(), ServerError> {
    if config.max_jobs == 0 || config.max_upload_bytes == 0 {
        return Err(ServerError::Config {
            reason: "max_jobs and max_upload_bytes must be at least 1".into(),
        });
    }
    let dir = config.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || tsad_store::SqliteStorage::open(dir))
        .await
        .map_err(|e| ServerError::Serve(std::io::Error::other(e)))?
        .map_err(|e| open_failed(&config.data_dir, &e))?;
    tracing::info!(data_dir = %config.data_dir.display(), "Opened the store");
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.bind,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(config.bind);
    let state = AppState::new(Arc::new(store), config).with_llm(routes::explain::llm_from_env()?);
    tracing::info!("Listening on http://{addr}");
    let signal_state = state.clone();
    axum::serve(listener, app(state.clone()))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("Shutting down");
            signal_state.shutdown();
        })
        .await
        .map_err(ServerError::Serve)?;
    // Give cancelled runs a moment to stop and record their interruption.
    for _ in 0..100 {
        if state.job_counts() == (0, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A detector that does not check its cancel flag may still be running: record its
    // interruption now, so the store is right even if the process exits before it ends.
    let interrupted = jobs::record_interrupted(&state).await;
    if interrupted > 0 {
        tracing::warn!(
            runs = interrupted,
            "Runs still computing at shutdown were recorded as interrupted"
        );
    }
    Ok(())
}

/// Why the store did not open, said once, with the file and what to do about it.
fn open_failed(data_dir: &std::path::Path, e: &tsad_store::StorageError) -> ServerError {
    let path = data_dir.join("tsad.db");
    let advice = if e.is_damaged() {
        let aside = data_dir.join("tsad.db.damaged");
        format!(
            "the file is damaged or not a tsad database. Restore it from a backup, or move it \
             aside to start with an empty store (mv {} {}; move tsad.db-wal and tsad.db-shm \
             with it if they exist)",
            path.display(),
            aside.display()
        )
    } else if e.is_storage_full() {
        "the disk is full; free space there or use another --data-dir".to_owned()
    } else {
        format!(
            "check that {} exists and is writable by this user, or use another --data-dir",
            data_dir.display()
        )
    };
    ServerError::Storage {
        path,
        reason: e.root_cause(),
        advice,
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "Cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "Cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    /// Responses made outside our handlers (a timeout layer, a body limit) get our shape.
    #[tokio::test]
    async fn foreign_error_responses_get_the_api_shape() {
        let store = Arc::new(tsad_store::SqliteStorage::open_in_memory().unwrap());
        let state = AppState::new(store, ServerConfig::default());
        let router = Router::new()
            .route("/timeout", get(|| async { StatusCode::REQUEST_TIMEOUT }))
            .route(
                "/too-large",
                get(|| async { StatusCode::PAYLOAD_TOO_LARGE }),
            )
            .route("/teapot", get(|| async { StatusCode::IM_A_TEAPOT }))
            .layer(middleware::from_fn_with_state(state.clone(), observe))
            .with_state(state);
        let cases = [
            ("/timeout", 408, Some("timeout")),
            ("/too-large", 413, Some("payload_too_large")),
            ("/teapot", 418, None),
        ];
        for (uri, status, code) in cases {
            let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
            let resp = router.clone().oneshot(req).await.unwrap();
            assert_eq!(resp.status().as_u16(), status, "{uri}");
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .unwrap();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            assert_eq!(json["error"]["code"].as_str(), code, "{uri}");
        }
    }

    /// Issue 12, item 16: a damaged database is reported once, with its path and what to do.
    #[test]
    fn a_damaged_database_is_reported_once_with_its_path_and_advice() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tsad.db"), vec![b'x'; 8192]).unwrap();
        let e = tsad_store::SqliteStorage::open(dir.path()).unwrap_err();
        let text = open_failed(dir.path(), &e).to_string();
        let db = dir.path().join("tsad.db").display().to_string();
        assert!(
            text.starts_with(&format!("cannot open the database `{db}`: ")),
            "{text}"
        );
        assert_eq!(text.matches("not a database").count(), 1, "{text}");
        assert!(text.contains("Restore it from a backup"), "{text}");
        assert!(text.contains(&format!("mv {db} {db}.damaged")), "{text}");
        let source = std::error::Error::source(&open_failed(dir.path(), &e)).is_none();
        assert!(source, "no source chain that would print the cause again");
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = ServerConfig::default();
        assert_eq!(c.bind.to_string(), "127.0.0.1:5001");
        assert_eq!(c.data_dir, PathBuf::from("./tsad-data"));
        assert_eq!(c.max_upload_bytes, 200 * 1024 * 1024);
        assert_eq!((c.max_jobs, c.max_queue), (2, 16));
        assert_eq!(c.web_dir, None);
    }
}
