//! JSON errors for every route.

use axum::Json;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::NodeError;
use crate::scheduler::ScheduleError;
use crate::store::StoreError;

/// An error answered as `{"error": reason, "field"?: name}`.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for a person.
    pub reason: String,
    /// The request field at fault, when there is one.
    pub field: Option<String>,
}

impl ApiError {
    /// A 400 naming `field`.
    pub fn bad_request(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            reason: reason.into(),
            field: Some(field.into()),
        }
    }

    /// A 404.
    /// A failure of the node itself (500).
    pub fn internal(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            reason: reason.into(),
            field: None,
        }
    }

    pub fn not_found(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            reason: reason.into(),
            field: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, reason = %self.reason, "request failed");
        }
        let body = match &self.field {
            Some(field) => json!({ "error": self.reason, "field": field }),
            None => json!({ "error": self.reason }),
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            reason: e.to_string(),
            field: None,
        }
    }
}

impl From<ScheduleError> for ApiError {
    fn from(e: ScheduleError) -> Self {
        match e {
            ScheduleError::Rejected { field, .. } => ApiError::bad_request(field, e.to_string()),
            ScheduleError::UnknownProcess(_) | ScheduleError::UnknownMessage(_) => {
                ApiError::not_found(e.to_string())
            }
            ScheduleError::Store(e) => e.into(),
            ScheduleError::Sign(_) => ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                reason: e.to_string(),
                field: None,
            },
        }
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::Invalid(item) => ApiError::bad_request(item.field(), item.to_string()),
            NodeError::Schedule(e) => e.into(),
            NodeError::Store(e) => e.into(),
            other => ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                reason: other.to_string(),
                field: None,
            },
        }
    }
}

pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}
