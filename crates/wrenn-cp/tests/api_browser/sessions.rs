//! Browser sessions: the cookie, CSRF, WebSocket `Origin`, logout, expiry,
//! lockout and revocation with the user.
use axum::http::{header, Method, StatusCode};
use serde_json::json;

use crate::{
    app, browser,
    common::{assert_error, Kind, PASSWORD},
    cookie_request, open_session,
};

both_dbs!(
    login_when_right_password_then_httponly_lax_cookie_without_secure,
    |kind: Kind| async move {
        let app = app(kind, &[]).await;
        app.signup("ada@example.com").await;
        let (status, headers, body) = open_session(&app, "ada@example.com", PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let cookie = headers[header::SET_COOKIE].to_str().unwrap();
        assert!(cookie.starts_with("wrenn_session="), "{cookie}");
        for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(flag), "{flag} missing: {cookie}");
        }
        assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
        assert_eq!(body["user"]["email"], "ada@example.com");
        assert!(body["csrf_token"].as_str().unwrap().len() >= 32);
        assert_eq!(body["teams"].as_array().unwrap().len(), 1);
        assert!(body["expires_at"].is_string());
        assert!(
            body.get("token").is_none(),
            "no bearer token for browsers: {body}"
        );
    }
);

both_dbs!(
    login_when_over_tls_then_cookie_is_secure,
    |kind: Kind| async move {
        let app = app(kind, &[]).await;
        app.signup("ada@example.com").await;
        let mut request = axum::http::Request::builder()
            .method(Method::POST)
            .uri("/v1/auth/session")
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(
                json!({"email": "ada@example.com", "password": PASSWORD}).to_string(),
            ))
            .unwrap();
        request.extensions_mut().insert(wrenn_cp::listener::OverTls);
        let (status, headers, _) = app.send_full(request).await;
        assert_eq!(status, StatusCode::OK);
        let cookie = headers[header::SET_COOKIE].to_str().unwrap();
        assert!(cookie.ends_with("; Secure"), "{cookie}");
    }
);

both_dbs!(
    login_when_wrong_password_then_401_and_no_cookie,
    |kind: Kind| async move {
        let app = app(kind, &[]).await;
        app.signup("ada@example.com").await;
        let (status, headers, body) =
            open_session(&app, "ada@example.com", "wrong password!").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error(&body, "unauthenticated");
        assert!(headers.get(header::SET_COOKIE).is_none());
    }
);

both_dbs!(
    login_when_repeated_wrong_passwords_then_locked_like_login,
    |kind: Kind| async move {
        let app = app(kind, &[("CP_LOGIN_LOCKOUT_AFTER", "3")]).await;
        app.signup("ada@example.com").await;
        for _ in 0..3 {
            let (status, _, _) = open_session(&app, "ada@example.com", "wrong password!").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let (status, headers, body) = open_session(&app, "ada@example.com", PASSWORD).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_error(&body, "too_many_attempts");
        assert!(headers.get(header::SET_COOKIE).is_none());
    }
);

both_dbs!(
    cookie_when_sent_then_same_principal_as_user_token,
    |kind: Kind| async move {
        let app = app(kind, &[]).await;
        let browser = browser(&app, "ada@example.com").await;
        let (status, me) = app
            .send(cookie_request(
                Method::GET,
                "/v1/me",
                &browser.cookie,
                &[],
                None,
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["user"]["id"], browser.user_id.as_str());
        assert_eq!(me["team"]["id"], browser.team_id.as_str());
        assert_eq!(me["user"]["is_admin"], true, "the first user is the admin");
        let (status, session) = app
            .send(cookie_request(
                Method::GET,
                "/v1/auth/session",
                &browser.cookie,
                &[],
                None,
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{session}");
        assert_eq!(session["csrf_token"], browser.csrf.as_str());
    }
);

both_dbs!(cookie_when_unknown_then_401, |kind: Kind| async move {
    let app = app(kind, &[]).await;
    let (status, body) = app
        .send(cookie_request(
            Method::GET,
            "/v1/me",
            "wrenn_session=forged",
            &[],
            None,
        ))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "unauthenticated");
    let (status, _) = app
        .send(cookie_request(
            Method::GET,
            "/v1/auth/session",
            "other=1",
            &[],
            None,
        ))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
});

both_dbs!(
    cookie_post_when_csrf_missing_or_wrong_then_403_csrf_failed,
    |kind: Kind| async move {
        let app = app(kind, &[]).await;
        let browser = browser(&app, "ada@example.com").await;
        let body = || Some(json!({"name": "from the browser"}));
        let (status, answer) = app
            .send(cookie_request(
                Method::POST,
                "/v1/keys",
                &browser.cookie,
                &[],
                body(),
            ))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
        assert_error(&answer, "csrf_failed");
        let wrong = [("x-csrf-token", "not-the-token")];
        let (status, answer) = app
            .send(cookie_request(
                Method::POST,
                "/v1/keys",
                &browser.cookie,
                &wrong,
                body(),
            ))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_error(&answer, "csrf_failed");
        let right = [("x-csrf-token", browser.csrf.as_str())];
        let (status, answer) = app
            .send(cookie_request(
                Method::POST,
                "/v1/keys",
                &browser.cookie,
                &right,
                body(),
            ))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
);

both_dbs!(
    bearer_post_when_cookie_also_sent_then_no_csrf_needed,
    |kind: Kind| async move {
        let app = app(kind, &[]).await;
        let browser = browser(&app, "ada@example.com").await;
        let (_, login) = app
            .request(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"email": "ada@example.com", "password": PASSWORD})),
            )
            .await;
        let token = login["token"].as_str().unwrap();
        let bearer = format!("Bearer {token}");
        let headers = [("authorization", bearer.as_str())];
        let (status, answer) = app
            .send(cookie_request(
                Method::POST,
                "/v1/keys",
                &browser.cookie,
                &headers,
                Some(json!({"name": "cli"})),
            ))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
);

both_dbs!(
    websocket_when_cookie_and_foreign_origin_then_403,
    |kind: Kind| async move {
        let app = app(kind, &[]).await;
        let browser = browser(&app, "ada@example.com").await;
        let upgrade = |origin: &'static str| {
            cookie_request(
                Method::GET,
                "/v1/me",
                &browser.cookie,
                &[
                    ("host", "cp.test:8000"),
                    ("upgrade", "websocket"),
                    ("connection", "upgrade"),
                    ("origin", origin),
                ],
                None,
            )
        };
        let (status, answer) = app.send(upgrade("http://evil.test")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
        assert_error(&answer, "forbidden");
        let (status, answer) = app.send(upgrade("https://cp.test:8000")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "scheme differs: {answer}");
        let (status, answer) = app.send(upgrade("http://cp.test:8000")).await;
        assert_eq!(status, StatusCode::OK, "own origin: {answer}");
    }
);

both_dbs!(
    websocket_pty_when_cookie_and_foreign_origin_then_refused_before_upgrade,
    |kind: Kind| async move {
        let app = app(kind, &[]).await;
        let browser = browser(&app, "ada@example.com").await;
        let addr = app.serve().await;
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /v1/sandboxes/sbx_0000000000000000/pty HTTP/1.1\r\nHost: {addr}\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://evil.test\r\n\
         Cookie: {}\r\n\r\n",
            browser.cookie
        );
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 1024];
        let read = stream.read(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer[..read]);
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    }
);

both_dbs!(
    logout_when_csrf_sent_then_revoked_and_cookie_cleared,
    |kind: Kind| async move {
        let app = app(kind, &[]).await;
        let browser = browser(&app, "ada@example.com").await;
        let (status, answer) = app
            .send(cookie_request(
                Method::DELETE,
                "/v1/auth/session",
                &browser.cookie,
                &[],
                None,
            ))
            .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "logout needs the CSRF token too"
        );
        assert_error(&answer, "csrf_failed");
        let csrf = [("x-csrf-token", browser.csrf.as_str())];
        let request = cookie_request(
            Method::DELETE,
            "/v1/auth/session",
            &browser.cookie,
            &csrf,
            None,
        );
        let (status, headers, _) = app.send_full(request).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let cleared = headers[header::SET_COOKIE].to_str().unwrap();
        assert!(
            cleared.starts_with("wrenn_session=;") && cleared.contains("Max-Age=0"),
            "{cleared}"
        );
        let (status, _) = app
            .send(cookie_request(
                Method::GET,
                "/v1/me",
                &browser.cookie,
                &[],
                None,
            ))
            .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "a revoked session is refused"
        );
        let actions: Vec<String> = sqlx::query_scalar(
            "SELECT action FROM audit_events WHERE action LIKE 'session.%' ORDER BY at, id",
        )
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
        assert_eq!(actions, ["session.create", "session.revoke"]);
    }
);

both_dbs!(
    session_when_idle_too_long_then_401,
    |kind: Kind| async move {
        let app = app(kind, &[("CP_SESSION_IDLE_SECS", "60")]).await;
        let browser = browser(&app, "ada@example.com").await;
        sqlx::query("UPDATE browser_sessions SET last_seen_at = last_seen_at - 61000")
            .execute(&app.state.db.pool)
            .await
            .unwrap();
        let (status, _) = app
            .send(cookie_request(
                Method::GET,
                "/v1/me",
                &browser.cookie,
                &[],
                None,
            ))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
);

both_dbs!(
    session_when_used_then_slides_but_not_past_absolute_end,
    |kind: Kind| async move {
        let app = app(kind, &[("CP_SESSION_IDLE_SECS", "600")]).await;
        let browser = browser(&app, "ada@example.com").await;
        // Used 5 minutes ago: still live, and this use slides it forward.
        sqlx::query("UPDATE browser_sessions SET last_seen_at = last_seen_at - 300000")
            .execute(&app.state.db.pool)
            .await
            .unwrap();
        let me = || cookie_request(Method::GET, "/v1/me", &browser.cookie, &[], None);
        assert_eq!(app.send(me()).await.0, StatusCode::OK);
        let (created, seen): (i64, i64) = {
            use sqlx::Row;
            let row = sqlx::query("SELECT created_at, last_seen_at FROM browser_sessions")
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap();
            (row.get("created_at"), row.get("last_seen_at"))
        };
        assert!(seen >= created, "last_seen_at slid forward");
        // Past the absolute end, however recently used.
        sqlx::query("UPDATE browser_sessions SET expires_at = created_at - 1")
            .execute(&app.state.db.pool)
            .await
            .unwrap();
        assert_eq!(app.send(me()).await.0, StatusCode::UNAUTHORIZED);
    }
);

both_dbs!(
    session_when_user_deleted_then_refused,
    |kind: Kind| async move {
        let app = app(kind, &[]).await;
        app.signup("admin@example.com").await;
        let browser = browser(&app, "ada@example.com").await;
        let csrf = [("x-csrf-token", browser.csrf.as_str())];
        let path = format!("/v1/users/{}", browser.user_id);
        let (status, answer) = app
            .send(cookie_request(
                Method::DELETE,
                &path,
                &browser.cookie,
                &csrf,
                None,
            ))
            .await;
        assert!(status.is_success(), "{status} {answer}");
        let (status, _) = app
            .send(cookie_request(
                Method::GET,
                "/v1/me",
                &browser.cookie,
                &[],
                None,
            ))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
);
