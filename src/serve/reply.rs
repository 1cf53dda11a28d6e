//! The reply envelope every answer of `vmlab serve` comes in: `{"data": ...}` with its
//! status, or `{"error": "..."}` (an [`ApiError`], also what an engine error becomes).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::engine::api::EngineError;

/// An HTTP error in the envelope: `{"error": "..."}` with its status.
#[derive(Debug)]
pub(crate) struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let code = match &e {
            EngineError::Invalid(_) | EngineError::Usage { .. } | EngineError::NoChecks { .. } => {
                StatusCode::BAD_REQUEST
            }
            EngineError::LabNotFound(_) | EngineError::NoSuchNode { .. } => StatusCode::NOT_FOUND,
            EngineError::LabBusy { .. } => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(code, e.to_string())
    }
}

/// A success in the envelope: `{"data": ...}`.
pub(crate) fn data(status: StatusCode, v: impl Serialize) -> Response {
    (status, axum::Json(json!({ "data": v }))).into_response()
}

pub(crate) type ApiResult = Result<Response, ApiError>;
