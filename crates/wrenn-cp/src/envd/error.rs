//! Why a call to envd failed, typed once where the answer is read: envd's
//! own refusals (Connect codes or HTTP statuses), the agent proxy's
//! refusals (its `x-wrenn-proxy-error` header), and silence.

/// The header the agent's proxy sets on its own refusals (sandbox unknown or
/// not running), as opposed to envd's answers.
pub(super) const PROXY_ERROR_HEADER: &str = "x-wrenn-proxy-error";

#[derive(Debug, thiserror::Error)]
pub enum EnvdError {
    /// envd refused the request.
    #[error("{message}")]
    Refused { kind: Refusal, message: String },
    #[error("cannot reach the sandbox: {0}")]
    Unreachable(String),
    /// The sandbox's host refused to forward.
    #[error("{message}")]
    Host {
        refusal: HostRefusal,
        message: String,
    },
}

/// What envd said no to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    InvalidArgument,
    PermissionDenied,
    AlreadyExists,
    /// The guest's disk is full.
    DiskFull,
    /// Anything else: envd failed the call.
    Failed,
}

/// Why the agent's proxy did not forward a call to envd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostRefusal {
    /// The host no longer runs the sandbox (`not_found`, `sandbox_not_running`).
    SandboxGone,
    /// The proxy failed otherwise (`envd_unreachable`, ...).
    Failed,
}

impl HostRefusal {
    /// Reads the proxy's wire code.
    fn from_wire(code: &str) -> Self {
        match code {
            "not_found" | "sandbox_not_running" => Self::SandboxGone,
            _ => Self::Failed,
        }
    }
}

pub(super) fn proxy_refusal(headers: &axum::http::HeaderMap) -> Option<(HostRefusal, String)> {
    let code = headers.get(PROXY_ERROR_HEADER)?.to_str().ok()?;
    Some((HostRefusal::from_wire(code), code.to_owned()))
}

impl From<connectrpc::ConnectError> for EnvdError {
    fn from(err: connectrpc::ConnectError) -> Self {
        use connectrpc::ErrorCode;
        let message = err.message.clone().unwrap_or_default();
        // The proxy answers in its JSON envelope, which a Connect client
        // cannot parse: without this its 404 would read as `Unimplemented`.
        if let Some((refusal, code)) = proxy_refusal(err.response_headers()) {
            return Self::Host {
                refusal,
                message: format!("the sandbox's host refused: {code}"),
            };
        }
        let kind = match err.code {
            ErrorCode::Unavailable | ErrorCode::Unknown | ErrorCode::Internal
                if message.is_empty() =>
            {
                return Self::Unreachable(format!("{:?}", err.code));
            }
            ErrorCode::NotFound => Refusal::NotFound,
            ErrorCode::InvalidArgument => Refusal::InvalidArgument,
            ErrorCode::PermissionDenied => Refusal::PermissionDenied,
            ErrorCode::AlreadyExists => Refusal::AlreadyExists,
            ErrorCode::ResourceExhausted => Refusal::DiskFull,
            _ => Refusal::Failed,
        };
        let message = if message.is_empty() {
            format!("envd failed ({:?})", err.code)
        } else {
            message
        };
        Self::Refused { kind, message }
    }
}

impl From<reqwest::Error> for EnvdError {
    fn from(err: reqwest::Error) -> Self {
        Self::Unreachable(err.without_url().to_string())
    }
}

/// envd's refusal of a plain HTTP call, by status.
pub(super) fn http_refusal(status: u16, message: String) -> EnvdError {
    let kind = match status {
        404 => Refusal::NotFound,
        400 => Refusal::InvalidArgument,
        403 => Refusal::PermissionDenied,
        409 => Refusal::AlreadyExists,
        507 => Refusal::DiskFull,
        _ => Refusal::Failed,
    };
    let message = if message.is_empty() {
        format!("envd failed ({status})")
    } else {
        message
    };
    EnvdError::Refused { kind, message }
}

/// Passes 2xx through; turns envd's (or the agent proxy's) error body into
/// an [`EnvdError`].
pub(super) async fn checked(response: reqwest::Response) -> Result<reqwest::Response, EnvdError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let proxy = proxy_refusal(response.headers());
    let body = response.text().await.unwrap_or_default();
    let json = serde_json::from_str::<serde_json::Value>(&body).ok();
    let text = |pointer: &str| {
        json.as_ref()
            .and_then(|v| v.pointer(pointer))
            .and_then(|m| m.as_str())
            .map(str::to_owned)
    };
    // The agent's proxy answers with the `{"error":{"code","message"}}`
    // envelope (the sandbox is gone or stopped); envd with `{"message"}`.
    let proxy = proxy.or_else(|| text("/error/code").map(|c| (HostRefusal::from_wire(&c), c)));
    if let Some((refusal, _)) = proxy {
        return Err(EnvdError::Host {
            refusal,
            message: text("/error/message").unwrap_or_default(),
        });
    }
    let message = text("/message").unwrap_or(body);
    Err(http_refusal(
        status.as_u16(),
        message.chars().take(500).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_error_when_proxy_refused_then_host_error() {
        // The agent's 404 for an unknown sandbox reaches a Connect client as
        // `Unimplemented` without a message; the header says what it was.
        let mut err = connectrpc::ConnectError::new(connectrpc::ErrorCode::Unimplemented, "");
        err.response_headers_mut()
            .insert(PROXY_ERROR_HEADER, "not_found".parse().expect("header"));
        match EnvdError::from(err) {
            EnvdError::Host { refusal, .. } => assert_eq!(refusal, HostRefusal::SandboxGone),
            other => panic!("expected a host refusal, got {other:?}"),
        }
    }

    #[test]
    fn connect_error_when_envd_refused_then_refused_with_kind() {
        let err = connectrpc::ConnectError::new(connectrpc::ErrorCode::NotFound, "no such file");
        match EnvdError::from(err) {
            EnvdError::Refused { kind, message } => {
                assert_eq!(
                    (kind, message.as_str()),
                    (Refusal::NotFound, "no such file")
                );
            }
            other => panic!("expected envd's refusal, got {other:?}"),
        }
    }

    #[test]
    fn http_refusal_when_507_then_disk_full() {
        let err = http_refusal(507, String::new());
        assert!(matches!(
            err,
            EnvdError::Refused {
                kind: Refusal::DiskFull,
                ..
            }
        ));
    }
}
