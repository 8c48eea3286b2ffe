//! Shared-secret authentication of the control plane:
//! `Authorization: Bearer <secret>`, compared in constant time. Everything
//! but `/health` goes through [`require_bearer`].
use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::header::AUTHORIZATION,
    middleware::Next,
    response::{IntoResponse, Response},
};
use connectrpc::ConnectError;
use subtle::ConstantTimeEq;

/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

/// The agent's shared secret. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the secret is shorter than {MIN_SECRET_LEN} bytes")]
    TooShort,
    #[error("the secret contains whitespace or control characters")]
    BadCharacters,
}

impl Secret {
    /// Validates a secret; surrounding whitespace (a file's newline) is dropped.
    pub fn new(raw: &str) -> Result<Self, SecretError> {
        let secret = raw.trim();
        if secret.len() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort);
        }
        if secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(SecretError::BadCharacters);
        }
        Ok(Self(secret.into()))
    }

    /// The secret itself, for clients (tests, the control plane).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time check of an `Authorization` header value.
    pub fn matches_header(&self, header: Option<&[u8]>) -> bool {
        let Some(token) = header.and_then(|h| h.strip_prefix(b"Bearer ")) else {
            return false;
        };
        self.matches_raw(Some(token))
    }

    /// Constant-time check of a header that carries the bare secret
    /// (`X-Agent-Secret` of the envd proxy).
    pub fn matches_raw(&self, value: Option<&[u8]>) -> bool {
        value.is_some_and(|v| bool::from(v.ct_eq(self.0.as_bytes())))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// axum middleware: answers `unauthenticated` unless the bearer matches.
pub async fn require_bearer(
    State(secret): State<Secret>,
    request: Request,
    next: Next,
) -> Response {
    let header = request.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    if secret.matches_header(header) {
        return next.run(request).await;
    }
    tracing::warn!(path = %request.uri().path(), "rejected a request without a valid bearer token");
    ConnectError::unauthenticated("missing or invalid bearer token").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = "0123456789abcdef0123";

    #[test]
    fn matches_header_when_right_bearer_then_true() {
        let secret = Secret::new(RAW).expect("valid");
        assert!(secret.matches_header(Some(format!("Bearer {RAW}").as_bytes())));
    }

    #[test]
    fn matches_header_when_wrong_or_missing_then_false() {
        let secret = Secret::new(RAW).expect("valid");
        assert!(!secret.matches_header(None));
        assert!(!secret.matches_header(Some(RAW.as_bytes())));
        assert!(!secret.matches_header(Some(b"Bearer 0123456789abcdef012")));
        assert!(!secret.matches_header(Some(format!("Basic {RAW}").as_bytes())));
    }

    #[test]
    fn matches_raw_when_bare_secret_then_true_else_false() {
        let secret = Secret::new(RAW).expect("valid");
        assert!(secret.matches_raw(Some(RAW.as_bytes())));
        assert!(!secret.matches_raw(Some(format!("Bearer {RAW}").as_bytes())));
        assert!(!secret.matches_raw(None));
    }

    #[test]
    fn new_when_file_newline_then_trimmed() {
        let secret = Secret::new(&format!("{RAW}\n")).expect("valid");
        assert_eq!(secret.expose(), RAW);
    }

    #[test]
    fn new_when_short_then_error() {
        assert_eq!(Secret::new("short"), Err(SecretError::TooShort));
    }

    #[test]
    fn debug_when_printed_then_redacted() {
        let secret = Secret::new(RAW).expect("valid");
        assert!(!format!("{secret:?}").contains(RAW));
    }
}
