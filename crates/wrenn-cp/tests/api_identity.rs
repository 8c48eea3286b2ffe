//! Identity API behaviour, on SQLite and PostgreSQL: signup, login, `me`,
//! credentials (JWTs and API keys), teams and members, the admin flag, the
//! audit log, and the error envelope of refused requests.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[macro_use]
mod common;

use axum::{
    body::Body,
    http::{header, Method, Request, StatusCode},
};
use common::{assert_error, Kind, TestApp, JWT_SECRET, PASSWORD};
use serde_json::{json, Value};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const DELETE: Method = Method::DELETE;

fn creds(email: &str, password: &str) -> Option<Value> {
    Some(json!({"email": email, "password": password}))
}

fn forge_user_token(sub: &str, exp: u64) -> String {
    let claims = json!({"sub": sub, "typ": "user", "iat": 1, "exp": exp});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("encode")
}

both_dbs!(signup_when_valid_then_session_and_me_agree, |kind| async move {
    let app = TestApp::start(kind).await;

    let body = json!({"email": " Ada@Example.com ", "password": PASSWORD, "name": "Ada"});
    let (status, session) = app.request(POST, "/v1/auth/signup", None, Some(body)).await;
    let token = session["token"].as_str().expect("token");
    let (me_status, me) = app.request(GET, "/v1/me", Some(token), None).await;

    assert_eq!(status, StatusCode::CREATED, "{session}");
    assert_eq!(session["user"]["email"], "ada@example.com");
    assert_eq!(session["team"]["name"], "Ada's team");
    assert_eq!(session["team"]["role"], "owner");
    assert!(session["expires_at"].as_str().expect("expires_at").ends_with('Z'));
    assert!(session["user"].get("password_hash").is_none());
    assert_eq!(me_status, StatusCode::OK);
    assert_eq!(me["user"]["id"], session["user"]["id"]);
    assert_eq!(me["team"]["id"], session["team"]["id"]);
    assert_eq!(me["teams"].as_array().map(Vec::len), Some(1));
});

both_dbs!(signup_when_first_user_then_admin_and_second_not, |kind| async move {
    let app = TestApp::start(kind).await;

    let (first, _) = app.signup("first@example.com").await;
    let (second, _) = app.signup("second@example.com").await;
    let (_, first_me) = app.request(GET, "/v1/me", Some(&first), None).await;
    let (_, second_me) = app.request(GET, "/v1/me", Some(&second), None).await;

    assert_eq!(first_me["user"]["is_admin"], true);
    assert_eq!(second_me["user"]["is_admin"], false);
});

both_dbs!(signup_when_concurrent_on_fresh_db_then_one_admin, |kind| async move {
    let app = TestApp::start(kind).await;

    let signups = (0..6).map(|i| {
        let body = json!({"email": format!("u{i}@example.com"), "password": PASSWORD});
        app.request(POST, "/v1/auth/signup", None, Some(body))
    });
    let answers = futures_util::future::join_all(signups).await;

    assert!(answers.iter().all(|(s, _)| *s == StatusCode::CREATED), "{answers:?}");
    let admins = answers.iter().filter(|(_, a)| a["user"]["is_admin"] == true).count();
    assert_eq!(admins, 1);
});

both_dbs!(signup_when_email_taken_in_any_case_then_409, |kind| async move {
    let app = TestApp::start(kind).await;
    app.signup("ada@example.com").await;

    let (status, answer) = app
        .request(POST, "/v1/auth/signup", None, creds("ADA@example.com", PASSWORD))
        .await;

    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&answer, "conflict");
});

both_dbs!(signup_when_bad_email_or_password_then_422, |kind| async move {
    let app = TestApp::start(kind).await;
    let long = "x".repeat(1025);

    for (email, password) in [("not-an-email", PASSWORD), ("ada@example.com", "short"), ("ada@example.com", long.as_str())] {
        let (status, answer) = app.request(POST, "/v1/auth/signup", None, creds(email, password)).await;

        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{email} {answer}");
        assert_error(&answer, "validation_failed");
    }
});

both_dbs!(signup_when_body_malformed_then_typed_errors, |kind| async move {
    let app = TestApp::start(kind).await;
    let raw = |content_type: &str, body: String| {
        Request::post("/v1/auth/signup")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .expect("request")
    };
    let oversize = format!(r#"{{"email":"a@b.io","password":"{}"}}"#, "x".repeat(1 << 20));
    let unknown = json!({"email": "a@b.io", "password": PASSWORD, "admin": true}).to_string();
    let cases = [
        (raw("application/json", "{\"email\":".into()), StatusCode::BAD_REQUEST, "invalid_json"),
        (raw("application/json", unknown), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (raw("text/plain", "{}".into()), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (raw("application/json", oversize), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
    ];

    for (request, want_status, want_code) in cases {
        let (status, answer) = app.send(request).await;

        assert_eq!(status, want_status, "{answer}");
        assert_error(&answer, want_code);
    }
});

both_dbs!(login_when_password_right_then_session_else_same_401, |kind| async move {
    let app = TestApp::start(kind).await;
    app.signup("ada@example.com").await;

    let (ok, session) = app.request(POST, "/v1/auth/login", None, creds("Ada@example.com", PASSWORD)).await;
    let (wrong, wrong_answer) = app.request(POST, "/v1/auth/login", None, creds("ada@example.com", "wrong password")).await;
    let (unknown, unknown_answer) = app.request(POST, "/v1/auth/login", None, creds("nobody@example.com", PASSWORD)).await;

    assert_eq!(ok, StatusCode::OK, "{session}");
    assert_eq!(session["team"]["personal"], true);
    let (_, me) = app.request(GET, "/v1/me", session["token"].as_str(), None).await;
    assert_eq!(me["user"]["email"], "ada@example.com");
    assert_eq!((wrong, unknown), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
    assert_eq!(
        assert_error(&wrong_answer, "unauthenticated"),
        assert_error(&unknown_answer, "unauthenticated")
    );
});

both_dbs!(request_when_credential_missing_expired_or_host_then_401, |kind| async move {
    let app = TestApp::start(kind).await;
    let (token, _) = app.signup("ada@example.com").await;
    let (_, me) = app.request(GET, "/v1/me", Some(&token), None).await;
    let user_id = me["user"]["id"].as_str().expect("id");
    let expired = forge_user_token(user_id, 2);
    let (host, _) = app.state.jwt.issue(user_id, wrenn_cp::auth::jwt::TokenType::Host, std::time::Duration::from_secs(60));

    for credential in [None, Some(expired.as_str()), Some(host.as_str()), Some("garbage"), Some("wrn_short")] {
        let (status, answer) = app.request(GET, "/v1/me", credential, None).await;

        assert_eq!(status, StatusCode::UNAUTHORIZED, "{credential:?}: {answer}");
        assert_error(&answer, "unauthenticated");
    }
});

both_dbs!(keys_when_created_listed_revoked_then_revoked_key_refused, |kind| async move {
    let app = TestApp::start(kind).await;
    let (token, _) = app.signup("ada@example.com").await;

    let (created, key) = app.request(POST, "/v1/keys", Some(&token), Some(json!({"name": "ci"}))).await;
    let secret = key["key"].as_str().expect("key").to_owned();
    let key_id = key["id"].as_str().expect("id").to_owned();
    let (via_key, me) = app.request_with(GET, "/v1/me", None, &[("x-api-key", &secret)], None).await;
    let (_, list) = app.request(GET, "/v1/keys", Some(&token), None).await;
    let (revoked, _) = app.request(DELETE, &format!("/v1/keys/{key_id}"), Some(&token), None).await;
    let (after, answer) = app.request(GET, "/v1/keys", Some(&secret), None).await;

    assert_eq!(created, StatusCode::CREATED);
    assert!(secret.starts_with("wrn_") && secret.len() == 36);
    assert_eq!((via_key, me["user"].clone()), (StatusCode::OK, Value::Null));
    assert_eq!(list["keys"][0]["id"], key_id.as_str());
    assert!(list["keys"][0].get("key").is_none(), "plaintext listed: {list}");
    assert!(!list.to_string().contains(&secret));
    assert_eq!(revoked, StatusCode::NO_CONTENT);
    assert_eq!(after, StatusCode::UNAUTHORIZED);
    assert_error(&answer, "unauthenticated");
    let (_, list) = app.request(GET, "/v1/keys", Some(&token), None).await;
    assert!(list["keys"][0]["revoked_at"].is_string(), "{list}");
});

both_dbs!(key_when_expired_then_401, |kind| async move {
    let app = TestApp::start(kind).await;
    let (token, _) = app.signup("ada@example.com").await;
    let secret = app.api_key(&token).await;
    sqlx::query("UPDATE api_keys SET expires_at = $1").bind(1_i64).execute(&app.state.db.pool).await.expect("expire");

    let (status, answer) = app.request(GET, "/v1/keys", Some(&secret), None).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&answer, "unauthenticated");
});

both_dbs!(keys_when_other_team_then_404_and_lists_only_own, |kind| async move {
    let app = TestApp::start(kind).await;
    let (ada, _) = app.signup("ada@example.com").await;
    let (bob, _) = app.signup("bob@example.com").await;
    let (_, ada_key) = app.request(POST, "/v1/keys", Some(&ada), Some(json!({"name": "a"}))).await;
    app.api_key(&bob).await;
    let ada_key_id = ada_key["id"].as_str().expect("id");

    let (revoke, answer) = app.request(DELETE, &format!("/v1/keys/{ada_key_id}"), Some(&bob), None).await;
    let (_, bob_list) = app.request(GET, "/v1/keys", Some(&bob), None).await;

    assert_eq!(revoke, StatusCode::NOT_FOUND);
    assert_error(&answer, "not_found");
    let ids: Vec<&Value> = bob_list["keys"].as_array().expect("keys").iter().map(|k| &k["id"]).collect();
    assert_eq!(ids.len(), 1);
    assert_ne!(ids[0], &ada_key["id"]);
});

both_dbs!(team_header_when_not_member_then_404, |kind| async move {
    let app = TestApp::start(kind).await;
    let (ada, _) = app.signup("ada@example.com").await;
    let (_, bob_team) = app.signup("bob@example.com").await;

    let (status, answer) = app.request_with(GET, "/v1/keys", Some(&ada), &[("x-team-id", &bob_team)], None).await;
    let (members, _) = app.request(GET, &format!("/v1/teams/{bob_team}/members"), Some(&ada), None).await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&answer, "not_found");
    assert_eq!(members, StatusCode::NOT_FOUND);
});

both_dbs!(members_when_owner_adds_then_member_acts_on_team, |kind| async move {
    let app = TestApp::start(kind).await;
    let (ada, _) = app.signup("ada@example.com").await;
    let (bob, _) = app.signup("bob@example.com").await;
    let (created, team) = app.request(POST, "/v1/teams", Some(&ada), Some(json!({"name": "Lab"}))).await;
    let team_id = team["id"].as_str().expect("id").to_owned();
    let members = format!("/v1/teams/{team_id}/members");

    let (added, member) = app.request(POST, &members, Some(&ada), Some(json!({"email": "BOB@example.com", "role": "member"}))).await;
    let (_, list) = app.request(GET, &members, Some(&bob), None).await;
    let (_, bob_me) = app.request_with(GET, "/v1/me", Some(&bob), &[("x-team-id", &team_id)], None).await;
    let (_, bob_teams) = app.request(GET, "/v1/teams", Some(&bob), None).await;

    assert_eq!((created, added), (StatusCode::CREATED, StatusCode::CREATED), "{team} {member}");
    assert_eq!(team["role"], "owner");
    assert_eq!(member["email"], "bob@example.com");
    assert_eq!(list["members"].as_array().map(Vec::len), Some(2));
    assert_eq!(bob_me["team"]["id"], team_id.as_str());
    assert_eq!(bob_me["team"]["role"], "member");
    assert_eq!(bob_teams["teams"].as_array().map(Vec::len), Some(2));
});

both_dbs!(members_when_not_owner_or_last_owner_then_refused, |kind| async move {
    let app = TestApp::start(kind).await;
    let (ada, ada_team) = app.signup("ada@example.com").await;
    let (bob, _) = app.signup("bob@example.com").await;
    app.signup("carol@example.com").await;
    let members = format!("/v1/teams/{ada_team}/members");
    app.request(POST, &members, Some(&ada), Some(json!({"email": "bob@example.com", "role": "member"}))).await;
    let (_, me) = app.request(GET, "/v1/me", Some(&ada), None).await;
    let ada_id = me["user"]["id"].as_str().expect("id");

    let (by_member, member_answer) = app.request(POST, &members, Some(&bob), Some(json!({"email": "carol@example.com", "role": "member"}))).await;
    let (last_owner, owner_answer) = app.request(DELETE, &format!("{members}/{ada_id}"), Some(&ada), None).await;
    let (unknown, _) = app.request(POST, &members, Some(&ada), Some(json!({"email": "nobody@example.com", "role": "member"}))).await;
    let (twice, _) = app.request(POST, &members, Some(&ada), Some(json!({"email": "bob@example.com", "role": "owner"}))).await;

    assert_eq!(by_member, StatusCode::FORBIDDEN);
    assert_error(&member_answer, "forbidden");
    assert_eq!(last_owner, StatusCode::CONFLICT);
    assert_error(&owner_answer, "conflict");
    assert_eq!((unknown, twice), (StatusCode::NOT_FOUND, StatusCode::CONFLICT));
});

both_dbs!(members_when_owner_removes_member_then_gone, |kind| async move {
    let app = TestApp::start(kind).await;
    let (ada, ada_team) = app.signup("ada@example.com").await;
    let (bob, _) = app.signup("bob@example.com").await;
    let members = format!("/v1/teams/{ada_team}/members");
    let (_, member) = app.request(POST, &members, Some(&ada), Some(json!({"email": "bob@example.com", "role": "member"}))).await;
    let bob_id = member["user_id"].as_str().expect("id");

    let (removed, _) = app.request(DELETE, &format!("{members}/{bob_id}"), Some(&ada), None).await;
    let (again, _) = app.request(DELETE, &format!("{members}/{bob_id}"), Some(&ada), None).await;
    let (bob_view, _) = app.request(GET, &members, Some(&bob), None).await;

    assert_eq!(removed, StatusCode::NO_CONTENT);
    assert_eq!(again, StatusCode::NOT_FOUND);
    assert_eq!(bob_view, StatusCode::NOT_FOUND);
});

both_dbs!(admin_when_not_platform_admin_then_403_else_flag_set, |kind| async move {
    let app = TestApp::start(kind).await;
    let (admin, _) = app.signup("admin@example.com").await;
    let (bob, _) = app.signup("bob@example.com").await;
    let (_, me) = app.request(GET, "/v1/me", Some(&bob), None).await;
    let path = format!("/v1/admin/users/{}/admin", me["user"]["id"].as_str().expect("id"));

    let (refused, answer) = app.request(Method::PUT, &path, Some(&bob), Some(json!({"is_admin": true}))).await;
    let (granted, user) = app.request(Method::PUT, &path, Some(&admin), Some(json!({"is_admin": true}))).await;
    let (missing, _) = app.request(Method::PUT, "/v1/admin/users/usr_nobody/admin", Some(&admin), Some(json!({"is_admin": true}))).await;

    assert_eq!(refused, StatusCode::FORBIDDEN);
    assert_error(&answer, "forbidden");
    assert_eq!((granted, user["is_admin"].clone()), (StatusCode::OK, Value::Bool(true)));
    assert_eq!(missing, StatusCode::NOT_FOUND);
});

both_dbs!(audit_when_listed_then_team_events_only_in_pages, |kind| async move {
    let app = TestApp::start(kind).await;
    let (ada, ada_team) = app.signup("ada@example.com").await;
    let (bob, _) = app.signup("bob@example.com").await;
    // Events of one millisecond would order by their random ids.
    let tick = || tokio::time::sleep(std::time::Duration::from_millis(3));
    tick().await;
    app.api_key(&ada).await;
    tick().await;
    app.request(POST, "/v1/auth/login", None, creds("ada@example.com", "wrong password")).await;
    app.api_key(&bob).await;

    let (status, first) = app.request(GET, "/v1/audit?limit=2", Some(&ada), None).await;
    let cursor = first["next_cursor"].as_str().expect("next page").to_owned();
    let (_, second) = app.request(GET, &format!("/v1/audit?limit=2&cursor={cursor}"), Some(&ada), None).await;
    let (bad, bad_answer) = app.request(GET, "/v1/audit?cursor=%25%25", Some(&ada), None).await;

    assert_eq!(status, StatusCode::OK);
    let events: Vec<&Value> = first["events"].as_array().expect("events").iter().chain(second["events"].as_array().expect("events")).collect();
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().expect("action")).collect();
    assert_eq!(actions, ["user.login", "api_key.create", "user.signup"]);
    assert!(events.iter().all(|e| e["team_id"] == ada_team.as_str()));
    assert_eq!(events[0]["outcome"], "denied");
    assert!(second["next_cursor"].is_null());
    assert_eq!(bad, StatusCode::BAD_REQUEST);
    assert_error(&bad_answer, "bad_request");
});

both_dbs!(route_when_unknown_then_404_envelope, |kind| async move {
    let app = TestApp::start(kind).await;

    let (status, answer) = app.request(GET, "/v1/nope", None, None).await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&answer, "not_found");
});

/// Every request of the identity API, good and bad, answered without a 5xx
/// and every refusal with the error envelope.
#[tokio::test]
async fn identity_api_when_exercised_on_sqlite_then_never_5xx() {
    common::run_bounded(async {
        let app = TestApp::start(Kind::Sqlite).await;
        let (ada, ada_team) = app.signup("ada@example.com").await;
        let (bob, bob_team) = app.signup("bob@example.com").await;
        let key = app.api_key(&ada).await;
        let member = json!({"email": "bob@example.com", "role": "member"});
        let calls: Vec<(Method, String, Option<&str>, Option<Value>)> = vec![
            (POST, "/v1/auth/signup".into(), None, creds("ada@example.com", PASSWORD)),
            (POST, "/v1/auth/signup".into(), None, Some(json!({"email": 5}))),
            (POST, "/v1/auth/login".into(), None, creds("ada@example.com", "x")),
            (POST, "/v1/auth/login".into(), None, Some(json!({}))),
            (GET, "/v1/me".into(), Some(&key), None),
            (GET, "/v1/teams".into(), Some(&key), None),
            (POST, "/v1/teams".into(), Some(&ada), Some(json!({"name": ""}))),
            (POST, "/v1/teams".into(), Some(&ada), Some(json!({"name": "T"}))),
            (GET, format!("/v1/teams/{bob_team}/members"), Some(&ada), None),
            (POST, format!("/v1/teams/{ada_team}/members"), Some(&ada), Some(member.clone())),
            (POST, format!("/v1/teams/{ada_team}/members"), Some(&ada), Some(member)),
            (POST, format!("/v1/teams/{ada_team}/members"), Some(&ada), Some(json!({"email": "x@y.io", "role": "boss"}))),
            (DELETE, format!("/v1/teams/{ada_team}/members/usr_nobody"), Some(&ada), None),
            (DELETE, format!("/v1/teams/{ada_team}/members/usr_nobody"), Some(&bob), None),
            (Method::PUT, "/v1/admin/users/usr_nobody/admin".into(), Some(&ada), Some(json!({"is_admin": false}))),
            (Method::PUT, "/v1/admin/users/usr_nobody/admin".into(), Some(&key), Some(json!({"is_admin": true}))),
            (POST, "/v1/keys".into(), Some(&key), Some(json!({"name": "k"}))),
            (POST, "/v1/keys".into(), Some(&ada), Some(json!({"name": "k", "expires_in_secs": 0}))),
            (POST, "/v1/keys".into(), Some(&ada), Some(json!({"name": "k", "expires_in_secs": u64::MAX}))),
            (DELETE, "/v1/keys/key_nobody".into(), Some(&ada), None),
            (GET, "/v1/audit?limit=0".into(), Some(&ada), None),
            (GET, "/v1/audit?limit=abc".into(), Some(&ada), None),
            (GET, "/v1/audit".into(), Some(&key), None),
            (Method::PATCH, "/v1/keys".into(), Some(&ada), None),
        ];

        for (method, path, token, body) in calls {
            let (status, answer) = app.request(method.clone(), &path, token, body).await;

            assert!(!status.is_server_error(), "{method} {path}: {status} {answer}");
            if !status.is_success() {
                assert_error(&answer, answer["error"]["code"].as_str().unwrap_or("<none>"));
            }
        }
    })
    .await;
}
