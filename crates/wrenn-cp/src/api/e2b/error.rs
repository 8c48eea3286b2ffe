//! E2B's error answers: `{"code": <HTTP status>, "message": "..."}`, with
//! `Should-Retry` saying whether the e2b SDK's retry loop may try again (it
//! otherwise retries 429, 502, 503 and 504 on its own) and `Retry-After`
//! when the wait is known. Every refusal of the shared layers (`ApiError`)
//! keeps its status and message here, except that E2B answers bad input
//! with 400 where Wrenn's API says 422.
use axum::{
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use wrenn_types::ErrorCode;

use crate::{
    auth::lockout::retry_after_secs,
    error::ApiError,
    service::{
        builds::e2b::{E2bBuildError, UploadError},
        sandboxes::{EnvdTokenError, IdempotentCreateError, TimeOutNowError},
    },
};

/// What a refused E2B request answers.
#[derive(Debug)]
pub struct E2bError {
    status: StatusCode,
    message: String,
    retry: Retry,
}

/// The retry advice of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// `Should-Retry: false`: the same request fails the same way.
    Never,
    /// `Should-Retry: true`, and `Retry-After` when the wait is known.
    After(Option<u64>),
    /// `Should-Retry: false` with the `Retry-After` of a quota: waiting
    /// helps only once something else changed (a sandbox ended).
    NotSoon(u64),
}

/// Suggested wait after a refusal of the team's live-sandbox quota.
const QUOTA_RETRY_AFTER_SECS: u64 = 30;

impl E2bError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// Unknown, another team's, malformed or (for E2B) gone: one answer.
    pub fn sandbox_not_found() -> Self {
        Self::not_found("sandbox not found")
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// The host failed a step that a retry may pass.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            retry: Retry::After(Some(1)),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }

    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry: Retry::Never,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<ApiError> for E2bError {
    fn from(err: ApiError) -> Self {
        let code = err.error_code();
        let status = match code {
            ErrorCode::ValidationFailed | ErrorCode::InvalidJson => StatusCode::BAD_REQUEST,
            _ => err.status(),
        };
        let retry = match &err {
            ApiError::RateLimited { retry_after, .. }
            | ApiError::TooManyAttempts { retry_after } => {
                Retry::After(Some(retry_after_secs(*retry_after)))
            }
            ApiError::QuotaExceeded(_) | ApiError::PoolExhausted(_) => {
                Retry::NotSoon(QUOTA_RETRY_AFTER_SECS)
            }
            ApiError::AgentUnavailable(_) => Retry::After(Some(1)),
            ApiError::NoCapacity(_) => Retry::After(Some(5)),
            _ => Retry::Never,
        };
        if let ApiError::Internal(cause) = &err {
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        Self {
            status,
            message: err.to_string(),
            retry,
        }
    }
}

/// The services' refusals, through the one mapping of `api::service_errors`.
macro_rules! through_api_error {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for E2bError {
            fn from(err: $error) -> Self {
                ApiError::from(err).into()
            }
        }
    )*};
}

through_api_error!(
    sqlx::Error,
    crate::service::sandboxes::CreateSandboxError,
    crate::service::sandboxes::GetSandboxError,
    crate::service::sandboxes::DestroySandboxError,
    crate::service::sandboxes::PauseSandboxError,
    crate::service::sandboxes::ResumeSandboxError,
    crate::service::sandboxes::ConnectSandboxError,
    crate::service::sandboxes::SetTimeoutError,
    crate::service::sandboxes::OpenGuestError,
    crate::service::sandboxes::GuestCallError,
    crate::service::sandboxes::ForkSandboxError,
    crate::service::sandboxes::UpdateNetworkError,
    crate::service::sandboxes::MetricsHistoryError,
    crate::service::templates::SnapshotError,
    crate::service::templates::DeleteTemplateError,
    crate::service::builds::submit::SubmitError,
    crate::service::builds::tags::TagError,
);

impl From<E2bBuildError> for E2bError {
    fn from(err: E2bBuildError) -> Self {
        match err {
            E2bBuildError::Invalid(_) | E2bBuildError::Steps(_) => {
                Self::bad_request(err.to_string())
            }
            E2bBuildError::TemplateNotFound(_) | E2bBuildError::BuildNotFound(_) => {
                Self::not_found(err.to_string())
            }
            E2bBuildError::AlreadyStarted(_) => Self::conflict(err.to_string()),
            E2bBuildError::TooManyPending(_) => Self {
                retry: Retry::NotSoon(60),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, err.to_string())
            },
            E2bBuildError::Submit(e) => e.into(),
            E2bBuildError::Io(e) => ApiError::internal(e).into(),
            E2bBuildError::Db(e) => e.into(),
        }
    }
}

impl From<UploadError> for E2bError {
    fn from(err: UploadError) -> Self {
        match err {
            UploadError::BadToken => Self::new(StatusCode::FORBIDDEN, err.to_string()),
            UploadError::NotAnArchive(_) => Self::bad_request(err.to_string()),
            UploadError::Io(e) => ApiError::internal(e).into(),
        }
    }
}

impl From<IdempotentCreateError> for E2bError {
    fn from(err: IdempotentCreateError) -> Self {
        match err {
            IdempotentCreateError::Create(e) => e.into(),
            err @ IdempotentCreateError::KeyReused => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, err.to_string())
            }
            err @ IdempotentCreateError::StillCreating => Self {
                retry: Retry::After(Some(5)),
                ..Self::conflict(err.to_string())
            },
            IdempotentCreateError::Db(e) => e.into(),
            IdempotentCreateError::Task(e) => ApiError::internal(e).into(),
        }
    }
}

impl From<TimeOutNowError> for E2bError {
    fn from(err: TimeOutNowError) -> Self {
        match err {
            TimeOutNowError::Destroy(e) => e.into(),
            TimeOutNowError::Pause(e) => e.into(),
            TimeOutNowError::NotFound => Self::sandbox_not_found(),
            err @ TimeOutNowError::NotRunning(_) => Self::conflict(err.to_string()),
            TimeOutNowError::Db(e) => e.into(),
        }
    }
}

impl From<EnvdTokenError> for E2bError {
    fn from(err: EnvdTokenError) -> Self {
        Self::unavailable(format!(
            "cannot read the sandbox's envd access token: {err}"
        ))
    }
}

impl IntoResponse for E2bError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "code": self.status.as_u16(),
            "message": self.message,
        });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        let (should, after) = match self.retry {
            Retry::Never => (false, None),
            Retry::After(after) => (true, after),
            Retry::NotSoon(after) => (false, Some(after)),
        };
        headers.insert(
            "should-retry",
            HeaderValue::from_static(if should { "true" } else { "false" }),
        );
        if let Some(secs) = after {
            headers.insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

pub type E2bResult<T> = Result<T, E2bError>;

/// Unknown routes under the E2B API.
pub async fn no_route() -> E2bError {
    E2bError::not_found("no such route")
}

pub async fn method_not_allowed() -> E2bError {
    E2bError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this route does not accept that method",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_api_error_when_validation_then_400_and_no_retry() {
        let err = E2bError::from(ApiError::validation("timeout must be positive"));
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.retry, Retry::Never);
        assert_eq!(err.message, "timeout must be positive");
    }

    #[test]
    fn from_api_error_when_rate_limited_then_429_retry_after() {
        let err = E2bError::from(ApiError::RateLimited {
            scope: "key",
            retry_after: std::time::Duration::from_millis(1500),
        });
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(err.retry, Retry::After(Some(2)));
    }

    #[test]
    fn from_api_error_when_quota_then_429_not_retried() {
        let err = E2bError::from(ApiError::QuotaExceeded("limit".into()));
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
        let response = err.into_response();
        assert_eq!(response.headers()["should-retry"], "false");
        assert_eq!(response.headers()["retry-after"], "30");
    }

    #[test]
    fn from_api_error_when_internal_then_details_hidden() {
        let err = E2bError::from(ApiError::internal(anyhow::anyhow!("secret sql")));
        assert_eq!(err.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(err.message, "internal error");
    }
}
