//! The dashboard's server side, on SQLite and PostgreSQL: browser sessions
//! (the `wrenn_session` cookie, CSRF and WebSocket `Origin` rules, logout,
//! expiry, lockout, revocation with the user), the static files of
//! `CP_DASHBOARD_DIR` (SPA fallback, cache headers, path traversal, the
//! page shown when it is not installed, the security headers, `/docs` with
//! a local Redoc) and the two endpoints the pages added (sandbox events,
//! a host's sandboxes).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]

#[macro_use]
mod common;

#[path = "api_browser/dashboard.rs"]
mod dashboard;
#[path = "api_browser/pages.rs"]
mod pages;
#[path = "api_browser/sessions.rs"]
mod sessions;

use axum::{
    body::Body,
    http::{header, HeaderMap, Method, Request, StatusCode},
};
use common::{fake_agent::FakeAgent, Kind, TestApp, PASSWORD};
use serde_json::{json, Value};

/// A control plane (on a fake host) configured with `env`.
async fn app(kind: Kind, env: &[(&str, &str)]) -> TestApp {
    TestApp::start_configured(kind, FakeAgent::new(), env).await
}

/// A logged-in browser: its cookie pair (`wrenn_session=...`) and CSRF token.
#[derive(Debug, Clone)]
struct Browser {
    cookie: String,
    csrf: String,
    user_id: String,
    team_id: String,
}

/// `POST /v1/auth/session`: status, headers and body.
async fn open_session(
    app: &TestApp,
    email: &str,
    password: &str,
) -> (StatusCode, HeaderMap, Value) {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/auth/session")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"email": email, "password": password}).to_string(),
        ))
        .unwrap();
    app.send_full(request).await
}

/// Signs `email` up and logs in a browser.
async fn browser(app: &TestApp, email: &str) -> Browser {
    app.signup(email).await;
    let (status, headers, body) = open_session(app, email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "session: {body}");
    let set_cookie = headers[header::SET_COOKIE].to_str().unwrap();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    Browser {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        user_id: body["user"]["id"].as_str().unwrap().to_owned(),
        team_id: body["team"]["id"].as_str().unwrap().to_owned(),
    }
}

/// A request carrying `cookie` and `headers`, with a JSON `body`.
fn cookie_request(
    method: Method,
    path: &str,
    cookie: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::COOKIE, cookie);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    match body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .unwrap()
}

/// Raw GET of `path`: status, headers and body text.
async fn get_raw(app: &TestApp, path: &str) -> (StatusCode, HeaderMap, String) {
    let request = Request::builder().uri(path).body(Body::empty()).unwrap();
    let (status, headers, body) = app.send_full(request).await;
    let text = match body {
        Value::String(text) => text,
        other => other.to_string(),
    };
    (status, headers, text)
}
