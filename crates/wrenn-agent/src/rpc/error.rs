//! The one mapping from the agent's errors to Connect errors. Client errors
//! (4xx-like codes) carry their message; server-side failures are logged here
//! with their whole chain and answered with a short message that names no
//! path, command or console output.
use connectrpc::{ConnectError, ErrorCode};

use crate::sandbox::{template_fetch::FetchTemplateError, SandboxError};

/// Everything an RPC handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// A request field failed validation at the edge.
    #[error("{field}: {message}")]
    InvalidArgument {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// Copying a template from another agent (FetchTemplate).
    #[error(transparent)]
    Fetch(#[from] FetchTemplateError),
}

impl RpcError {
    pub fn invalid(field: &'static str, message: impl std::fmt::Display) -> Self {
        Self::InvalidArgument {
            field,
            message: message.to_string(),
        }
    }
}

impl From<RpcError> for ConnectError {
    fn from(err: RpcError) -> Self {
        to_connect(&err)
    }
}

/// Maps an error to the Connect code and the message the caller sees.
pub fn to_connect(err: &RpcError) -> ConnectError {
    let (code, public) = classify(err);
    match public {
        Some(message) => ConnectError::new(code, message),
        None => {
            tracing::error!(error = %error_chain(err), code = code.as_str(), "request failed");
            ConnectError::new(code, server_message(code))
        }
    }
}

/// The code, and the message when it may be shown (`None`: internal detail).
fn classify(err: &RpcError) -> (ErrorCode, Option<String>) {
    match err {
        RpcError::InvalidArgument { .. } => (ErrorCode::InvalidArgument, Some(err.to_string())),
        RpcError::Fetch(e) => {
            let code = connect_code(e.code());
            // What went wrong with the copy names no local path; storage
            // failures stay in the log.
            let public = (code != ErrorCode::Internal).then(|| e.to_string());
            (code, public)
        }
        RpcError::Sandbox(e) => {
            let code = connect_code(e.code());
            let public = match code {
                ErrorCode::Unavailable | ErrorCode::Internal => None,
                _ => Some(e.to_string()),
            };
            (code, public)
        }
    }
}

/// The Connect code of a stable error code.
fn connect_code(code: &str) -> ErrorCode {
    match code {
        "invalid_argument" => ErrorCode::InvalidArgument,
        "not_found" => ErrorCode::NotFound,
        "failed_precondition" => ErrorCode::FailedPrecondition,
        "already_exists" => ErrorCode::AlreadyExists,
        "resource_exhausted" => ErrorCode::ResourceExhausted,
        "aborted" => ErrorCode::Aborted,
        "unavailable" => ErrorCode::Unavailable,
        _ => ErrorCode::Internal,
    }
}

fn server_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Unavailable => {
            "the sandbox or its guest agent is unavailable; see the agent log"
        }
        _ => "internal error; see the agent log",
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::SandboxId;

    #[test]
    fn to_connect_when_not_found_then_code_and_message_kept() {
        let id: SandboxId = "abc".parse().expect("id");
        let err = to_connect(&SandboxError::NotFound(id).into());
        assert_eq!(err.code, ErrorCode::NotFound);
        assert_eq!(err.message.as_deref(), Some("sandbox abc not found"));
    }

    #[test]
    fn to_connect_when_start_failed_then_reason_not_leaked() {
        let id: SandboxId = "abc".parse().expect("id");
        let err = to_connect(
            &SandboxError::StartFailed {
                id,
                reason: "/var/lib/wrenn/secret console tail".into(),
            }
            .into(),
        );
        assert_eq!(err.code, ErrorCode::Unavailable);
        assert!(!err.message.unwrap_or_default().contains("/var/lib"));
    }

    #[test]
    fn to_connect_when_storage_error_then_internal_without_path() {
        let err = to_connect(
            &SandboxError::Storage {
                path: "/var/lib/wrenn/sandboxes/x".into(),
                source: std::io::Error::other("disk on fire"),
            }
            .into(),
        );
        assert_eq!(err.code, ErrorCode::Internal);
        let message = err.message.unwrap_or_default();
        assert!(!message.contains("/var/lib") && !message.contains("fire"));
    }

    #[test]
    fn to_connect_when_template_exists_then_already_exists() {
        let err = to_connect(&SandboxError::TemplateExists("snap".into()).into());
        assert_eq!(err.code, ErrorCode::AlreadyExists);
        assert_eq!(
            err.message.as_deref(),
            Some("template 'snap' already exists")
        );
    }

    #[test]
    fn to_connect_when_invalid_argument_then_field_named() {
        let err = to_connect(&RpcError::invalid("id", "must not be empty"));
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert_eq!(err.message.as_deref(), Some("id: must not be empty"));
    }
}
