//! The security headers of every dashboard and API docs answer: a
//! Content-Security-Policy that allows only this origin (styles inline and
//! workers from `blob:` for Redoc), no MIME sniffing, same-origin referrers.
use axum::{
    http::{header, HeaderValue},
    response::Response,
};

/// The Content-Security-Policy of the dashboard and `/docs`.
pub const CSP: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; \
     connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";

/// `response` with the security headers.
pub fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}
