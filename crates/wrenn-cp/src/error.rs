//! The one error type of the REST API and its one mapping to HTTP: every
//! non-2xx answer is `{"error":{"code","message"}}` with a stable `code`.
//! Internal failures are logged once here and answered with a generic 500;
//! their details never reach the client.
use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

/// A failed API request. `message` texts are written for the person reading
/// them; `code`s are stable and documented in `docs/api.md`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    InvalidJson(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("no host has room for this sandbox: {0}")]
    NoCapacity(String),
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("sandbox is {state}, not running")]
    SandboxNotRunning { state: String },
    #[error("sandbox is {state}, not paused")]
    SandboxNotPaused { state: String },
    #[error("template '{0}' not found")]
    TemplateNotFound(String),
    #[error("the host agent is unavailable: {0}")]
    AgentUnavailable(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::InvalidJson(_) => "invalid_json",
            Self::Validation(_) => "validation_failed",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound { .. } => "not_found",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::NoCapacity(_) => "no_capacity",
            Self::QuotaExceeded(_) => "quota_exceeded",
            Self::SandboxNotRunning { .. } => "sandbox_not_running",
            Self::SandboxNotPaused { .. } => "sandbox_not_paused",
            Self::TemplateNotFound(_) => "template_not_found",
            Self::AgentUnavailable(_) => "agent_unavailable",
            Self::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::InvalidJson(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound { .. } | Self::TemplateNotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::SandboxNotRunning { .. } | Self::SandboxNotPaused { .. } => {
                StatusCode::CONFLICT
            }
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::QuotaExceeded(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NoCapacity(_) | Self::AgentUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::Validation(message.into())
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        Self::Internal(err.into())
    }
}

/// The JSON envelope of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

pub fn error_response(status: StatusCode, code: &str, message: String) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message,
        },
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(err) = &self {
            tracing::error!(error = format!("{err:#}"), "internal error");
        }
        error_response(self.status(), self.code(), self.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_when_rendered_then_details_hidden() {
        let err = ApiError::internal(anyhow::anyhow!("password=hunter2 in sql"));
        assert_eq!(err.to_string(), "internal error");
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn not_found_when_rendered_then_code_and_404() {
        let err = ApiError::NotFound { what: "sandbox" };
        assert_eq!(
            (err.code(), err.status()),
            ("not_found", StatusCode::NOT_FOUND)
        );
    }
}
