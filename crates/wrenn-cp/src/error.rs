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
use wrenn_types::ErrorCode;

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
    /// A request authenticated by the session cookie without the session's
    /// `X-CSRF-Token`.
    #[error("this request needs the session's X-CSRF-Token header")]
    CsrfFailed,
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
    /// The team's pool (its plan) has no room: names the limit, the use
    /// and what was asked.
    #[error("{0}")]
    PoolExhausted(String),
    /// A team (or user) deletion refused: the team still owns hosts.
    #[error("{0}")]
    TeamHasHosts(String),
    /// A request limit (per key, team or client) is spent.
    #[error("too many requests: {scope} limit reached; retry in {} s", crate::auth::lockout::retry_after_secs(*retry_after))]
    RateLimited {
        scope: &'static str,
        retry_after: std::time::Duration,
    },
    /// Logins locked after repeated wrong passwords.
    #[error("too many failed logins; try again in {} s", crate::auth::lockout::retry_after_secs(*retry_after))]
    TooManyAttempts { retry_after: std::time::Duration },
    #[error("sandbox is {state}, not running")]
    SandboxNotRunning { state: String },
    #[error("sandbox is {state}, not paused")]
    SandboxNotPaused { state: String },
    /// A fork asked for more copies than one fork makes.
    #[error("{0}")]
    ForkLimitExceeded(String),
    #[error("template '{0}' not found")]
    TemplateNotFound(String),
    #[error("the host agent is unavailable: {0}")]
    AgentUnavailable(String),
    #[error(transparent)]
    Host(#[from] HostError),
    /// A refusal whose code an operation's own error chose (template
    /// builds: `invalid_dockerfile`, `too_many_builds`, ...).
    #[error("{1}")]
    Coded(ErrorCode, String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// Refusals specific to host registration and heartbeats (docs/hosts.md).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("the registration token is unknown or was replaced; issue a new one with POST /v1/hosts/{{id}}/token")]
    InvalidRegistrationToken,
    #[error("the registration token expired; issue a new one with POST /v1/hosts/{{id}}/token")]
    RegistrationTokenExpired,
    #[error("host {0} is already registered; its token cannot be used again")]
    AlreadyRegistered(String),
    #[error("host {0} is registered; tokens are only issued to pending hosts")]
    NotPending(String),
    #[error("{0}")]
    InvalidHostToken(&'static str),
    #[error("the host token belongs to another host than {0}")]
    HostMismatch(String),
    #[error("host {0} was deleted from the control plane; stop this agent, delete its token file and register again")]
    HostDeleted(String),
    #[error("host {id} still has {count} live sandboxes; destroy them or delete with ?force=true")]
    HasSandboxes { id: String, count: usize },
    #[error("the agent's TLS certificate (sha256 {found}) is not the one pinned for this host")]
    TlsFingerprintMismatch { found: String },
    #[error(transparent)]
    AddressRefused(crate::service::hosts::address::AddressRefusal),
}

impl HostError {
    /// The stable code of this refusal (its HTTP status comes with it).
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::InvalidRegistrationToken => ErrorCode::InvalidRegistrationToken,
            Self::RegistrationTokenExpired => ErrorCode::RegistrationTokenExpired,
            Self::AlreadyRegistered(_) => ErrorCode::HostAlreadyRegistered,
            Self::NotPending(_) => ErrorCode::HostNotPending,
            Self::InvalidHostToken(_) => ErrorCode::InvalidHostToken,
            Self::HostMismatch(_) => ErrorCode::HostMismatch,
            Self::HostDeleted(_) => ErrorCode::HostDeleted,
            Self::HasSandboxes { .. } => ErrorCode::HostHasSandboxes,
            Self::TlsFingerprintMismatch { .. } => ErrorCode::TlsFingerprintMismatch,
            Self::AddressRefused(_) => ErrorCode::HostAddressRefused,
        }
    }
}

impl ApiError {
    /// The stable code of this error, one of `wrenn_types::ErrorCode`.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::InvalidJson(_) => ErrorCode::InvalidJson,
            Self::Validation(_) => ErrorCode::ValidationFailed,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::CsrfFailed => ErrorCode::CsrfFailed,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Self::NoCapacity(_) => ErrorCode::NoCapacity,
            Self::QuotaExceeded(_) => ErrorCode::QuotaExceeded,
            Self::PoolExhausted(_) => ErrorCode::PoolExhausted,
            Self::TeamHasHosts(_) => ErrorCode::TeamHasHosts,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::TooManyAttempts { .. } => ErrorCode::TooManyAttempts,
            Self::SandboxNotRunning { .. } => ErrorCode::SandboxNotRunning,
            Self::SandboxNotPaused { .. } => ErrorCode::SandboxNotPaused,
            Self::ForkLimitExceeded(_) => ErrorCode::ForkLimitExceeded,
            Self::TemplateNotFound(_) => ErrorCode::TemplateNotFound,
            Self::AgentUnavailable(_) => ErrorCode::AgentUnavailable,
            Self::Host(e) => e.error_code(),
            Self::Coded(code, _) => *code,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The code's wire form, e.g. `sandbox_not_running`.
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    /// The HTTP status: the one every answer with this code carries.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.error_code().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
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

impl From<crate::service::hosts::RegisterError> for ApiError {
    fn from(err: crate::service::hosts::RegisterError) -> Self {
        use crate::service::hosts::RegisterError as E;
        match err {
            E::InvalidToken => HostError::InvalidRegistrationToken.into(),
            E::TokenExpired => HostError::RegistrationTokenExpired.into(),
            E::AlreadyRegistered(id) => HostError::AlreadyRegistered(id).into(),
            E::TlsFingerprintMismatch { found } => {
                HostError::TlsFingerprintMismatch { found }.into()
            }
            E::AddressRefused(refusal) => HostError::AddressRefused(refusal).into(),
            E::Invalid(message) => Self::Validation(message),
            E::Database(err) => Self::internal(err),
        }
    }
}

impl From<crate::service::hosts::HeartbeatError> for ApiError {
    fn from(err: crate::service::hosts::HeartbeatError) -> Self {
        use crate::service::hosts::HeartbeatError as E;
        match err {
            E::InvalidHostToken(message) => HostError::InvalidHostToken(message).into(),
            E::HostMismatch(id) => HostError::HostMismatch(id).into(),
            E::HostDeleted(id) => HostError::HostDeleted(id).into(),
            E::Database(err) => Self::internal(err),
        }
    }
}

impl From<crate::service::keys::CreateKeyError> for ApiError {
    fn from(err: crate::service::keys::CreateKeyError) -> Self {
        use crate::service::keys::CreateKeyError as E;
        match err {
            E::InvalidLifetime => Self::Validation(err.to_string()),
            E::TeamKeyNeedsOwner => Self::Forbidden("only team owners may create team-owned keys"),
            E::Database(err) => Self::internal(err),
        }
    }
}

impl From<crate::service::keys::RevokeKeyError> for ApiError {
    fn from(err: crate::service::keys::RevokeKeyError) -> Self {
        use crate::service::keys::RevokeKeyError as E;
        match err {
            E::NotFound => Self::NotFound { what: "API key" },
            E::Database(err) => Self::internal(err),
        }
    }
}

impl From<crate::auth::principal::Refused> for ApiError {
    fn from(err: crate::auth::principal::Refused) -> Self {
        use crate::auth::principal::Refused as E;
        Self::Forbidden(match err {
            E::NeedsUser => "this needs a user login, not an API key",
            E::NeedsOwner => "only team owners may do this",
        })
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
        let retry_after = match &self {
            Self::RateLimited { retry_after, .. } | Self::TooManyAttempts { retry_after } => {
                Some(crate::auth::lockout::retry_after_secs(*retry_after))
            }
            // Room frees when the team's sandboxes end or pause: the same
            // hint the E2B API gives (`api::e2b::error`).
            Self::PoolExhausted(_) => Some(POOL_RETRY_AFTER_SECS),
            _ => None,
        };
        let mut response = error_response(self.status(), self.code(), self.to_string());
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

/// `Retry-After` of a `pool_exhausted` answer, in seconds.
pub const POOL_RETRY_AFTER_SECS: u64 = 30;

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
