//! HS256 JWTs. Every token carries `typ`: `"user"` tokens come from login and
//! act for a user; `"host"` tokens are given to registered host agents. The
//! decoder is told which `typ` it expects and refuses the other.
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    User,
    Host,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id (user tokens) or host id (host tokens).
    pub sub: String,
    pub typ: TokenType,
    pub iat: u64,
    pub exp: u64,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired; log in again")]
    Expired,
    #[error("this is a {found:?} token, not a {expected:?} token")]
    WrongType {
        expected: TokenType,
        found: TokenType,
    },
    #[error("the token is malformed or its signature is wrong")]
    Invalid,
}

/// Signing and verification keys derived from `CP_JWT_SECRET`.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(<redacted>)")
    }
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// Signs a token for `sub` valid for `ttl`; returns it and its expiry
    /// (Unix seconds).
    pub fn issue(&self, sub: &str, typ: TokenType, ttl: Duration) -> (String, u64) {
        let iat = now_secs();
        let claims = Claims {
            sub: sub.to_owned(),
            typ,
            iat,
            exp: iat + ttl.as_secs(),
        };
        // Encoding fixed claims with an HMAC key cannot fail.
        #[expect(clippy::expect_used, reason = "HS256 over plain claims cannot fail")]
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding of plain claims");
        (token, claims.exp)
    }

    pub fn verify(&self, token: &str, expected: TokenType) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(|err| {
                match err.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                    _ => TokenError::Invalid,
                }
            })?;
        if data.claims.typ != expected {
            return Err(TokenError::WrongType {
                expected,
                found: data.claims.typ,
            });
        }
        Ok(data.claims)
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn verify_when_issued_then_claims_back() {
        let (token, _) = keys().issue("usr_1", TokenType::User, Duration::from_secs(60));
        let claims = keys().verify(&token, TokenType::User).expect("valid");
        assert_eq!(claims.sub, "usr_1");
    }

    #[test]
    fn verify_when_host_token_used_as_user_then_wrong_type() {
        let (token, _) = keys().issue("host_1", TokenType::Host, Duration::from_secs(60));
        let err = keys().verify(&token, TokenType::User).expect_err("refused");
        assert!(matches!(err, TokenError::WrongType { .. }));
    }

    #[test]
    fn verify_when_other_secret_then_invalid() {
        let (token, _) = keys().issue("usr_1", TokenType::User, Duration::from_secs(60));
        let other = JwtKeys::new(b"another-secret-another-secret-xx");
        assert_eq!(
            other.verify(&token, TokenType::User),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn verify_when_expired_then_expired() {
        let claims = Claims {
            sub: "usr_1".into(),
            typ: TokenType::User,
            iat: 1,
            exp: 2,
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .expect("encode");
        assert_eq!(
            keys().verify(&token, TokenType::User),
            Err(TokenError::Expired)
        );
    }
}
