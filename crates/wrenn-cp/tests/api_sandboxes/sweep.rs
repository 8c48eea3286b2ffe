//! A sweep of malformed requests over every sandbox route: bad ids, bad
//! query strings, bad bodies and wrong content types, on running, paused
//! and unknown sandboxes. Nothing may answer 5xx except `503
//! agent_unavailable` (the fake's envd is unreachable), and every error
//! uses the envelope.
use axum::{
    body::Body,
    http::{header, Request},
};

use super::*;

const ROUTES: &[(&str, &str)] = &[
    ("POST", ""),
    ("GET", ""),
    ("GET", "/{id}"),
    ("DELETE", "/{id}"),
    ("POST", "/{id}/timeout"),
    ("POST", "/{id}/ping"),
    ("POST", "/{id}/pause"),
    ("POST", "/{id}/resume"),
    ("POST", "/{id}/connect"),
    ("POST", "/{id}/exec"),
    ("GET", "/{id}/exec/ws"),
    ("GET", "/{id}/pty"),
    ("GET", "/{id}/files"),
    ("PUT", "/{id}/files"),
    ("DELETE", "/{id}/files"),
    ("GET", "/{id}/files/list"),
    ("POST", "/{id}/files/mkdir"),
    ("POST", "/{id}/files/rename"),
    ("GET", "/{id}/metrics"),
    ("POST", "/{id}/snapshot"),
];

const QUERIES: &[&str] = &[
    "",
    "?path=",
    "?path=%00",
    "?path=/x&depth=abc",
    "?path=/x&depth=0",
    "?bogus=1&limit=-5",
    "?path=%FF%FE",
];

/// `(content type, body)`; `None`: no body at all.
const BODIES: &[Option<(&str, &str)>] = &[
    None,
    Some(("application/json", "{")),
    Some(("application/json", "[]")),
    Some(("application/json", "null")),
    Some((
        "application/json",
        r#"{"command": 1, "path": [], "name": {}, "timeout_secs": -1}"#,
    )),
    Some(("text/plain", "hello")),
];

async fn send(
    fx: &Fixture,
    method: &str,
    path: &str,
    body: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", fx.token));
    let body = match body {
        Some((content_type, text)) => {
            request = request.header(header::CONTENT_TYPE, content_type);
            Body::from(text.to_owned())
        }
        None => Body::empty(),
    };
    fx.app.send(request.body(body).expect("request")).await
}

fn assert_sane(what: &str, status: StatusCode, answer: &Value) {
    assert!(
        status.as_u16() < 500
            || (status == StatusCode::SERVICE_UNAVAILABLE
                && answer["error"]["code"] == "agent_unavailable"),
        "{what}: {status} {answer}"
    );
    if !status.is_success() {
        assert!(
            answer["error"]["code"].is_string(),
            "{what}: {status} without the envelope: {answer}"
        );
    }
}

both_dbs!(
    sweep_when_malformed_requests_then_no_5xx,
    |kind| async move {
        let fx = Fixture::start(kind).await;

        for (method, route) in ROUTES {
            // Fresh sandboxes per route: earlier routes pause and destroy.
            let running = fx.create_id().await;
            let paused = fx.create_id().await;
            fx.call(POST, &format!("/v1/sandboxes/{paused}/pause"), None)
                .await;
            for id in [
                running.as_str(),
                paused.as_str(),
                "BAD..ID",
                "nosuchsandbox",
                "%FF",
            ] {
                for query in QUERIES {
                    for body in BODIES {
                        let path = format!("/v1/sandboxes{}{query}", route.replace("{id}", id));
                        let (status, answer) = send(&fx, method, &path, *body).await;
                        assert_sane(&format!("{method} {path} {body:?}"), status, &answer);
                    }
                }
            }
        }
    }
);

both_dbs!(
    sweep_when_wrong_method_then_405_envelope,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;

        for (_, route) in ROUTES {
            let path = format!("/v1/sandboxes{}", route.replace("{id}", &id));
            let (status, answer) = send(&fx, "PATCH", &path, None).await;
            assert_eq!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "PATCH {path}: {answer}"
            );
            assert_error(&answer, "method_not_allowed");
        }
    }
);

both_dbs!(
    sweep_when_unauthenticated_then_401_everywhere,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;

        for (method, route) in ROUTES {
            let path = format!("/v1/sandboxes{}", route.replace("{id}", &id));
            let request = Request::builder()
                .method(*method)
                .uri(&path)
                .body(Body::empty())
                .expect("request");
            let (status, answer) = fx.app.send(request).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}: {answer}"
            );
            assert_error(&answer, "unauthenticated");
        }
        assert_eq!(fx.state_of(&id).await, "running");
    }
);
