//! The stable `code` of every error the REST API answers
//! (`{"error":{"code","message"}}`), documented in `docs/api.md`. Servers map
//! their typed errors onto these; clients (CLI, SDKs) branch on them instead
//! of on message text. The HTTP status belongs to the code, so every server
//! answers a code with the same status.
use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($($variant:ident = $code:literal => $status:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The wire form, e.g. `sandbox_not_running`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)*
                }
            }

            /// The HTTP status every answer with this code carries.
            pub fn http_status(self) -> u16 {
                match self {
                    $(Self::$variant => $status,)*
                }
            }
        }
    };
}

error_codes! {
    BadRequest = "bad_request" => 400,
    InvalidJson = "invalid_json" => 400,
    ValidationFailed = "validation_failed" => 422,
    Unauthenticated = "unauthenticated" => 401,
    Forbidden = "forbidden" => 403,
    CsrfFailed = "csrf_failed" => 403,
    NotFound = "not_found" => 404,
    MethodNotAllowed = "method_not_allowed" => 405,
    Conflict = "conflict" => 409,
    PayloadTooLarge = "payload_too_large" => 413,
    UnsupportedMediaType = "unsupported_media_type" => 415,
    QuotaExceeded = "quota_exceeded" => 429,
    PoolExhausted = "pool_exhausted" => 429,
    RateLimited = "rate_limited" => 429,
    TooManyAttempts = "too_many_attempts" => 429,
    SandboxNotRunning = "sandbox_not_running" => 409,
    SandboxNotPaused = "sandbox_not_paused" => 409,
    ForkLimitExceeded = "fork_limit_exceeded" => 400,
    TemplateNotFound = "template_not_found" => 404,
    BuildNotFound = "build_not_found" => 404,
    InvalidDockerfile = "invalid_dockerfile" => 400,
    UnsupportedInstruction = "unsupported_instruction" => 400,
    UnsupportedBase = "unsupported_base" => 400,
    MissingContextFile = "missing_context_file" => 400,
    TooManyBuilds = "too_many_builds" => 409,
    NameTaken = "name_taken" => 409,
    NoCapacity = "no_capacity" => 503,
    AgentUnavailable = "agent_unavailable" => 503,
    InvalidRegistrationToken = "invalid_registration_token" => 401,
    RegistrationTokenExpired = "registration_token_expired" => 401,
    InvalidHostToken = "invalid_host_token" => 401,
    HostMismatch = "host_mismatch" => 403,
    HostDeleted = "host_deleted" => 410,
    HostAlreadyRegistered = "host_already_registered" => 409,
    HostNotPending = "host_not_pending" => 409,
    HostHasSandboxes = "host_has_sandboxes" => 409,
    TeamHasHosts = "team_has_hosts" => 409,
    TlsFingerprintMismatch = "tls_fingerprint_mismatch" => 409,
    HostAddressRefused = "host_address_refused" => 422,
    Internal = "internal" => 500,
}

impl ErrorCode {
    /// The code with this wire form, if any (clients meeting a newer
    /// server's code keep its text).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn error_code_when_serialized_then_matches_as_str() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(code).ok();
            assert_eq!(json, Some(format!("\"{}\"", code.as_str())));
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
        }
    }

    #[test]
    fn error_code_when_server_error_then_only_internal_and_unavailable_are_5xx() {
        let five: Vec<_> = ErrorCode::ALL
            .iter()
            .filter(|c| c.http_status() >= 500)
            .collect();
        assert_eq!(
            five,
            [
                &ErrorCode::NoCapacity,
                &ErrorCode::AgentUnavailable,
                &ErrorCode::Internal
            ]
        );
    }
}
