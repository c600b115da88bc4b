//! [`ApiError`]: every failure as one JSON shape with a fixed status, plus our own extractors so
//! that malformed requests answer in that shape too.

use axum::Json;
use axum::extract::FromRequest;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;
use tsad_engine::EngineError;
use tsad_store::StorageError;
use utoipa::ToSchema;

/// The body of every error response: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code (`bad_request`, `not_found`, `invalid_config`, ...).
    pub code: String,
    /// For people: what is wrong and, for 4xx, how to fix it. Generic for 5xx.
    pub message: String,
}

/// The full cause of a 5xx, carried on the response so the request span's middleware logs it.
#[derive(Debug, Clone)]
pub(crate) struct InternalCause(pub(crate) Arc<str>);

/// An error turned into an HTTP response with the API's status mapping (docs/API.md):
/// 400 `bad_request`, 404 `not_found`, 409 `conflict`, 413 `payload_too_large`, 422 with the
/// engine's code, 429 `too_many_jobs`, 500 `internal` (generic message, cause logged).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    cause: Option<String>,
}

impl ApiError {
    /// An error with an explicit status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            cause: None,
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 422 with a specific code (`invalid_csv`, `invalid_series`, ...).
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 507 `storage_full`: the disk holding the data directory is full. The message names the
    /// directory once the response passes the server's middleware.
    pub fn storage_full() -> Self {
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "storage_full",
            "the disk holding the data directory is full; free space there, or start tsad with \
             another --data-dir",
        )
    }

    /// 429 `too_many_jobs`.
    pub fn too_many_jobs(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_jobs", message)
    }

    /// 500 `internal`: the client sees a generic message, the cause is logged.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error; the cause is in the server log".into(),
            cause: Some(cause.to_string()),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message sent to the client.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The body as JSON.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.into(),
                message: self.message.clone(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )?;
        if let Some(cause) = &self.cause {
            write!(f, " ({cause})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(cause) = self.cause {
            response
                .extensions_mut()
                .insert(InternalCause(Arc::from(cause)));
        }
        response
    }
}

/// The status and code for an engine error code (`EngineError::code`, `tsad_core` mapping).
fn engine_status(code: &'static str) -> StatusCode {
    match code {
        "invalid_config" | "invalid_parameter" | "invalid_series" | "not_enough_data"
        | "invalid_csv" => StatusCode::UNPROCESSABLE_ENTITY,
        "conflict" | "cancelled" => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The API code for a detector error.
pub(crate) fn core_code(e: &tsad_core::Error) -> &'static str {
    use tsad_core::Error as E;
    match e {
        E::InvalidParameter { .. } => "invalid_parameter",
        E::InvalidSeries { .. } => "invalid_series",
        E::NotEnoughData { .. } => "not_enough_data",
        E::Cancelled => "cancelled",
        E::Load { .. } => "conflict",
        _ => "internal",
    }
}

fn coded(code: &'static str, e: &dyn std::fmt::Display) -> ApiError {
    let status = engine_status(code);
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        ApiError::internal(e)
    } else {
        ApiError::new(status, code, e.to_string())
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        coded(e.code(), &e)
    }
}

impl From<tsad_core::Error> for ApiError {
    fn from(e: tsad_core::Error) -> Self {
        coded(core_code(&e), &e)
    }
}

impl From<tsad_io::IngestError> for ApiError {
    fn from(e: tsad_io::IngestError) -> Self {
        ApiError::unprocessable("invalid_csv", e.to_string())
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound { .. } => ApiError::not_found(e.to_string()),
            StorageError::Conflict { .. } => ApiError::conflict(e.to_string()),
            ref full if full.is_storage_full() => {
                let mut err = ApiError::storage_full();
                err.cause = Some(e.to_string());
                err
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("blocking task failed: {e}"))
    }
}

/// 413 when the body limit was hit, 415 for a body that is not JSON, 422 when JSON nests
/// deeper than the parser's limit, else 400 with the rejection's text.
fn rejection(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::payload_too_large(format!(
            "the request body is larger than the server's limit ({text}); raise it with \
             --max-upload-mb"
        ))
    } else if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        ApiError::new(
            status,
            "unsupported_media_type",
            format!("{text}; send the body with `Content-Type: application/json`"),
        )
    } else if text.contains("recursion limit exceeded") {
        // serde_json stops at 128 levels; say which limit that is, not "not valid JSON".
        ApiError::unprocessable(
            "limit_exceeded",
            format!(
                "the JSON body nests more than {JSON_DEPTH} levels deep, more than the server \
                 reads; detector specs may nest ensembles at most {} levels deep",
                crate::Limits::default().max_depth
            ),
        )
    } else {
        ApiError::bad_request(text)
    }
}

/// serde_json's nesting limit.
const JSON_DEPTH: usize = 128;

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}

impl From<MultipartRejection> for ApiError {
    fn from(r: MultipartRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}

impl From<MultipartError> for ApiError {
    fn from(e: MultipartError) -> Self {
        rejection(e.status(), e.body_text())
    }
}

/// `Json` whose rejections are [`ApiError`]s (400 `bad_request`, or 413).
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// `Query` whose rejections are 400 `bad_request` [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// Parses an optional JSON body: empty means `T::default()`.
pub(crate) fn optional_json<T: serde::de::DeserializeOwned + Default>(
    bytes: &[u8],
) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("failed to parse the JSON body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_table() {
        let cases: Vec<(&str, ApiError, u16, &str)> = vec![
            (
                "not found",
                StorageError::NotFound {
                    kind: "run",
                    id: "x".into(),
                }
                .into(),
                404,
                "not_found",
            ),
            (
                "conflict",
                StorageError::Conflict { reason: "r".into() }.into(),
                409,
                "conflict",
            ),
            (
                "corrupt",
                StorageError::Corrupt { reason: "r".into() }.into(),
                500,
                "internal",
            ),
            (
                "invalid parameter",
                tsad_core::Error::invalid_parameter("k", "bad").into(),
                422,
                "invalid_parameter",
            ),
            (
                "not enough data",
                tsad_core::Error::NotEnoughData { needed: 3, got: 1 }.into(),
                422,
                "not_enough_data",
            ),
            (
                "backend",
                tsad_core::Error::backend(std::io::Error::other("boom")).into(),
                500,
                "internal",
            ),
            (
                "invalid config",
                EngineError::InvalidConfig(vec!["a".into(), "b".into()]).into(),
                422,
                "invalid_config",
            ),
        ];
        for (name, err, status, code) in cases {
            assert_eq!(
                (err.status().as_u16(), err.code()),
                (status, code),
                "{name}"
            );
        }
        let internal = ApiError::internal("secret path /x");
        assert!(!internal.message().contains("secret"));
    }
}
