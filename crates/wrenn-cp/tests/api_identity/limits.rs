//! Rate limits and the login lockout (issue #11, found-item 6): request
//! limits per API key and team with `RateLimit-*` headers, signup and login
//! limits per client address, and a lockout after repeated wrong passwords
//! that refuses even the right one until it expires, kept in the database
//! so that another replica enforces it too.
use std::{net::SocketAddr, sync::Arc};

use axum::{extract::ConnectInfo, http::HeaderMap, Router};
use http_body_util::BodyExt;
use tower::ServiceExt;
use wrenn_cp::agent::RpcConnector;

use super::*;

/// A control plane with the request limits on (the harness turns them
/// off unless asked) and `env` set.
async fn app_with(kind: Kind, env: &[(&str, &str)]) -> TestApp {
    let mut env = env.to_vec();
    if !env.iter().any(|(name, _)| *name == "CP_RATE_LIMIT") {
        env.push(("CP_RATE_LIMIT", "on"));
    }
    TestApp::start_with_connector(kind, Arc::new(RpcConnector::default()), &env).await
}

/// A router over the app's state: another "replica", with buckets of its own.
fn replica(app: &TestApp) -> Router {
    wrenn_cp::api::router(app.state.clone())
}

/// Sends a request from `client`, answering status, headers and JSON body.
async fn send(
    router: &Router,
    client: &str,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = auth {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let mut request = match body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("request");
    let addr: SocketAddr = format!("{client}:40000").parse().expect("address");
    request.extensions_mut().insert(ConnectInfo(addr));
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, value)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.parse().ok()
}

/// A lockout long enough never to expire during the test's own requests,
/// however slow the machine; the test then makes it expire (below).
const LOCKOUT_60S: &[(&str, &str)] = &[
    ("CP_LOGIN_LOCKOUT_SECS", "60"),
    ("CP_LOGIN_LOCKOUT_MAX_SECS", "60"),
];

/// The instant a lock expires, as the clock reaches `locked_until`: every
/// lock moves to the past (what waiting `Retry-After` seconds would do).
async fn expire_locks(app: &TestApp) {
    sqlx::query("UPDATE login_failures SET locked_until = $1 WHERE locked_until > 0")
        .bind(wrenn_cp::db::now_ms() - 1)
        .execute(&app.state.db.pool)
        .await
        .expect("expire the locks");
}

both_dbs!(
    login_when_60_wrong_passwords_then_right_one_429_until_lock_expires,
    |kind| async move {
        let app = app_with(kind, LOCKOUT_60S).await;
        app.signup("ada@example.com").await;
        let router = replica(&app);
        let login = |password: &'static str| {
            let router = router.clone();
            async move {
                send(
                    &router,
                    "10.0.0.1",
                    POST,
                    "/v1/auth/login",
                    None,
                    creds("ada@example.com", password),
                )
                .await
            }
        };

        let mut statuses = Vec::new();
        for _ in 0..60 {
            statuses.push(login("wrong password").await.0);
        }
        let (right, headers, answer) = login(PASSWORD).await;
        let wait = header_u64(&headers, "retry-after").expect("Retry-After");
        expire_locks(&app).await;
        let (after, _, session) = login(PASSWORD).await;

        let unauthorized = statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count();
        let locked = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!((unauthorized, locked), (5, 55), "{statuses:?}");
        assert_eq!(right, StatusCode::TOO_MANY_REQUESTS);
        assert_error(&answer, "too_many_attempts");
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(after, StatusCode::OK);
        assert!(session["token"].is_string(), "{session}");
    }
);

both_dbs!(
    login_when_locked_on_one_replica_then_other_replica_refuses,
    |kind| async move {
        let app = app_with(kind, &[]).await;
        app.signup("ada@example.com").await;
        let (first, second) = (replica(&app), replica(&app));

        for _ in 0..5 {
            let wrong = creds("ada@example.com", "wrong password");
            send(&first, "10.0.0.1", POST, "/v1/auth/login", None, wrong).await;
        }
        let right = creds("ada@example.com", PASSWORD);
        let (status, headers, answer) =
            send(&second, "10.0.0.1", POST, "/v1/auth/login", None, right).await;

        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_error(&answer, "too_many_attempts");
        let wait = header_u64(&headers, "retry-after").expect("Retry-After");
        assert!((1..=30).contains(&wait), "{wait}");
    }
);

both_dbs!(
    login_when_pair_locked_then_other_client_logs_in_until_account_locks,
    |kind| async move {
        let app = app_with(kind, &[("CP_LOGIN_ACCOUNT_LOCKOUT_AFTER", "8")]).await;
        app.signup("ada@example.com").await;
        let router = replica(&app);
        let attempt = |client: &'static str, password: &'static str| {
            let router = router.clone();
            async move {
                let body = creds("ada@example.com", password);
                send(&router, client, POST, "/v1/auth/login", None, body)
                    .await
                    .0
            }
        };

        for _ in 0..5 {
            attempt("10.0.0.1", "wrong password").await;
        }
        let other_client = attempt("10.0.0.2", PASSWORD).await;
        for client in ["10.0.0.3", "10.0.0.4"] {
            for _ in 0..4 {
                attempt(client, "wrong password").await;
            }
        }
        let fresh_client = attempt("10.0.0.5", PASSWORD).await;

        assert_eq!(other_client, StatusCode::OK);
        assert_eq!(fresh_client, StatusCode::TOO_MANY_REQUESTS);
    }
);

both_dbs!(
    login_when_unknown_email_then_locked_like_known_one,
    |kind| async move {
        let app = app_with(kind, &[]).await;
        let router = replica(&app);

        let mut last = StatusCode::OK;
        for _ in 0..6 {
            let body = creds("nobody@example.com", "whatever password");
            last = send(&router, "10.0.0.1", POST, "/v1/auth/login", None, body)
                .await
                .0;
        }

        assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    }
);

both_dbs!(
    api_when_key_burst_spent_then_429_with_headers,
    |kind| async move {
        let app = app_with(
            kind,
            &[
                ("CP_RATE_LIMIT_KEY_PER_SEC", "1"),
                ("CP_RATE_LIMIT_KEY_BURST", "3"),
            ],
        )
        .await;
        let (token, _) = app.signup("ada@example.com").await;
        let secret = app.api_key(&token).await;
        let router = replica(&app);

        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(
                send(
                    &router,
                    "10.0.0.1",
                    GET,
                    "/v1/sandboxes",
                    Some(&secret),
                    None,
                )
                .await,
            );
        }
        let (user_status, _, _) = send(
            &router,
            "10.0.0.1",
            GET,
            "/v1/sandboxes",
            Some(&token),
            None,
        )
        .await;

        let (first, first_headers, _) = &answers[0];
        assert_eq!(*first, StatusCode::OK);
        assert_eq!(header_u64(first_headers, "ratelimit-limit"), Some(3));
        assert_eq!(header_u64(first_headers, "ratelimit-remaining"), Some(2));
        assert!(header_u64(first_headers, "ratelimit-reset").is_some());
        let (fourth, fourth_headers, answer) = &answers[3];
        assert_eq!(*fourth, StatusCode::TOO_MANY_REQUESTS);
        assert_error(answer, "rate_limited");
        assert_eq!(header_u64(fourth_headers, "ratelimit-remaining"), Some(0));
        assert_eq!(header_u64(fourth_headers, "retry-after"), Some(1));
        assert_eq!(
            user_status,
            StatusCode::OK,
            "another credential has its own bucket"
        );
    }
);

both_dbs!(
    api_when_team_burst_spent_then_every_key_of_team_429,
    |kind| async move {
        let app = app_with(
            kind,
            &[
                ("CP_RATE_LIMIT_TEAM_PER_SEC", "1"),
                ("CP_RATE_LIMIT_TEAM_BURST", "2"),
            ],
        )
        .await;
        let (token, _) = app.signup("ada@example.com").await;
        let (one, two) = (app.api_key(&token).await, app.api_key(&token).await);
        let router = replica(&app);

        let a = send(&router, "10.0.0.1", GET, "/v1/sandboxes", Some(&one), None)
            .await
            .0;
        let b = send(&router, "10.0.0.1", GET, "/v1/sandboxes", Some(&two), None)
            .await
            .0;
        let (c, _, answer) =
            send(&router, "10.0.0.1", GET, "/v1/sandboxes", Some(&one), None).await;

        assert_eq!(
            (a, b, c),
            (
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::TOO_MANY_REQUESTS
            )
        );
        assert!(assert_error(&answer, "rate_limited").contains("team"));
    }
);

both_dbs!(
    api_when_rate_limit_off_then_no_headers_no_429,
    |kind| async move {
        let app = app_with(
            kind,
            &[("CP_RATE_LIMIT", "off"), ("CP_RATE_LIMIT_KEY_BURST", "1")],
        )
        .await;
        let (token, _) = app.signup("ada@example.com").await;
        let router = replica(&app);

        let mut statuses = Vec::new();
        let mut headers = HeaderMap::new();
        for _ in 0..3 {
            let answer = send(
                &router,
                "10.0.0.1",
                GET,
                "/v1/sandboxes",
                Some(&token),
                None,
            )
            .await;
            statuses.push(answer.0);
            headers = answer.1;
        }

        assert_eq!(statuses, [StatusCode::OK; 3]);
        assert!(headers.get("ratelimit-limit").is_none(), "{headers:?}");
    }
);

both_dbs!(
    signup_when_client_burst_spent_then_429_other_client_not,
    |kind| async move {
        let app = app_with(
            kind,
            &[("CP_AUTH_RATE_BURST", "2"), ("CP_AUTH_RATE_PER_MIN", "1")],
        )
        .await;
        let router = replica(&app);
        let signup = |client: &'static str, email: &'static str| {
            let router = router.clone();
            async move {
                let body = json!({"email": email, "password": PASSWORD});
                send(&router, client, POST, "/v1/auth/signup", None, Some(body)).await
            }
        };

        signup("10.0.0.1", "a@example.com").await;
        signup("10.0.0.1", "b@example.com").await;
        let (third, headers, answer) = signup("10.0.0.1", "c@example.com").await;
        let (elsewhere, _, _) = signup("10.0.0.2", "d@example.com").await;

        assert_eq!(third, StatusCode::TOO_MANY_REQUESTS);
        assert_error(&answer, "rate_limited");
        assert!(header_u64(&headers, "retry-after").is_some());
        assert_eq!(elsewhere, StatusCode::CREATED);
    }
);
