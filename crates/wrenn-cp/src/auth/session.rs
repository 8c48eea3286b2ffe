//! The browser session cookie's mechanics, free of I/O: minting its opaque
//! token (only the SHA-256 is stored), reading and writing the
//! `wrenn_session` cookie, the CSRF token comparison and the WebSocket
//! `Origin` rule (docs/security.md, "Browser sessions").
use axum::http::{header, HeaderMap};
use subtle::ConstantTimeEq;

use super::api_key;

/// The cookie's name.
pub const COOKIE: &str = "wrenn_session";
/// The header a cookie-authenticated state-changing request carries.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A fresh session token and CSRF token (256 bits of randomness and more).
pub fn mint() -> (String, String) {
    (super::random_token(43), super::random_token(43))
}

/// How a session token is stored: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    api_key::hex(&api_key::digest(token))
}

/// The `wrenn_session` cookie's value, if the request carries one.
pub fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// The `Set-Cookie` value that installs `token` for `max_age_secs`.
pub fn set_cookie(token: &str, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age_secs}{secure}")
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", 0, secure)
}

/// Whether the request's `X-CSRF-Token` is the session's (constant time).
pub fn csrf_matches(headers: &HeaderMap, expected: &str) -> bool {
    let Some(given) = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    !expected.is_empty() && bool::from(given.trim().as_bytes().ct_eq(expected.as_bytes()))
}

/// Whether `Origin` names the request's own origin (`scheme://Host`).
pub fn same_origin(headers: &HeaderMap, over_tls: bool) -> bool {
    let value = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(origin), Some(host)) = (value(header::ORIGIN), value(header::HOST)) else {
        return false;
    };
    let scheme = if over_tls { "https" } else { "http" };
    origin.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn cookie_token_when_among_others_then_found() {
        let map = headers(&[("cookie", "a=1; wrenn_session=abc; b=2")]);
        assert_eq!(cookie_token(&map), Some("abc"));
        assert_eq!(
            cookie_token(&headers(&[("cookie", "wrenn_sessionx=1")])),
            None
        );
        assert_eq!(
            cookie_token(&headers(&[("cookie", "wrenn_session=")])),
            None
        );
    }

    #[test]
    fn set_cookie_when_tls_then_secure_flag() {
        let cookie = set_cookie("t", 60, true);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        assert!(cookie.ends_with("; Secure"));
        assert!(!set_cookie("t", 60, false).contains("Secure"));
    }

    #[test]
    fn csrf_matches_when_wrong_or_missing_then_false() {
        assert!(csrf_matches(&headers(&[("x-csrf-token", "tok")]), "tok"));
        assert!(!csrf_matches(&headers(&[("x-csrf-token", "tok2")]), "tok"));
        assert!(!csrf_matches(&headers(&[]), "tok"));
        assert!(!csrf_matches(&headers(&[("x-csrf-token", "")]), ""));
    }

    #[test]
    fn same_origin_when_other_scheme_or_host_then_false() {
        let own = headers(&[("host", "cp.test:8000"), ("origin", "http://cp.test:8000")]);
        assert!(same_origin(&own, false));
        assert!(!same_origin(&own, true));
        let other = headers(&[("host", "cp.test:8000"), ("origin", "http://evil.test")]);
        assert!(!same_origin(&other, false));
        assert!(!same_origin(&headers(&[("host", "cp.test")]), false));
    }

    #[test]
    fn token_hash_when_same_token_then_same_hex() {
        let (token, csrf) = mint();
        assert_ne!(token, csrf);
        assert_eq!(token_hash(&token), token_hash(&token));
        assert_eq!(token_hash(&token).len(), 64);
    }
}
