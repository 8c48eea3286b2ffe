//! `X-Request-Id` on every answer of both APIs: the caller's own id when it
//! sent a sane one (so that a client can correlate its retries), else a new
//! `req_<24 random>`. The id is in the trace span of the request, so an
//! operator finds the log lines of what an SDK error names.
use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
    Router,
};
use tower_http::trace::TraceLayer;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps `router` with the id assignment and the request trace span.
pub fn layer<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request
                .headers()
                .get(X_REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("request", method = %request.method(), uri = %request.uri().path(), request_id = id)
        }))
        .layer(axum::middleware::from_fn(assign))
}

async fn assign(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(X_REQUEST_ID)
        .filter(|v| is_sane(v.as_bytes()))
        .cloned()
        .unwrap_or_else(new_id);
    request.headers_mut().insert(X_REQUEST_ID, id.clone());
    let mut response = next.run(request).await;
    response.headers_mut().insert(X_REQUEST_ID, id);
    response
}

/// 1-128 characters that are safe in a log line.
fn is_sane(id: &[u8]) -> bool {
    (1..=128).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn new_id() -> HeaderValue {
    let id = format!("req_{}", crate::secret::random_token(24));
    #[expect(clippy::expect_used, reason = "the alphabet is ASCII alphanumerics")]
    HeaderValue::from_str(&id).expect("an ASCII header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_sane_when_plain_then_kept_else_replaced() {
        assert!(is_sane(b"req_abc-1.2"));
        assert!(!is_sane(b""));
        assert!(!is_sane(b"has space"));
        assert!(!is_sane(b"line\nbreak"));
        assert!(!is_sane(&[b'a'; 129]));
        assert!(new_id().to_str().unwrap_or("").starts_with("req_"));
    }
}
