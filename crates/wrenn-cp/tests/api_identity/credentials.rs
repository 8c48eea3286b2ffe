//! Credentials: refused JWTs and keys, teams the caller is not in, unknown
//! routes, and no 5xx anywhere.
use super::*;

both_dbs!(
    request_when_credential_missing_expired_or_host_then_401,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let (token, _) = app.signup("ada@example.com").await;
        let (_, me) = app.request(GET, "/v1/me", Some(&token), None).await;
        let user_id = me["user"]["id"].as_str().expect("id");
        let expired = forge_user_token(user_id, 2);
        let (host, _) = app.state.jwt.issue(
            user_id,
            wrenn_cp::auth::jwt::TokenType::Host,
            std::time::Duration::from_secs(60),
        );

        for credential in [
            None,
            Some(expired.as_str()),
            Some(host.as_str()),
            Some("garbage"),
            Some("wrn_short"),
        ] {
            let (status, answer) = app.request(GET, "/v1/me", credential, None).await;

            assert_eq!(status, StatusCode::UNAUTHORIZED, "{credential:?}: {answer}");
            assert_error(&answer, "unauthenticated");
        }
    }
);

both_dbs!(team_header_when_not_member_then_404, |kind| async move {
    let app = TestApp::start(kind).await;
    let (ada, _) = app.signup("ada@example.com").await;
    let (_, bob_team) = app.signup("bob@example.com").await;

    let (status, answer) = app
        .request_with(
            GET,
            "/v1/keys",
            Some(&ada),
            &[("x-team-id", &bob_team)],
            None,
        )
        .await;
    let (members, _) = app
        .request(
            GET,
            &format!("/v1/teams/{bob_team}/members"),
            Some(&ada),
            None,
        )
        .await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&answer, "not_found");
    assert_eq!(members, StatusCode::NOT_FOUND);
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
            (
                POST,
                "/v1/auth/signup".into(),
                None,
                creds("ada@example.com", PASSWORD),
            ),
            (
                POST,
                "/v1/auth/signup".into(),
                None,
                Some(json!({"email": 5})),
            ),
            (
                POST,
                "/v1/auth/login".into(),
                None,
                creds("ada@example.com", "x"),
            ),
            (POST, "/v1/auth/login".into(), None, Some(json!({}))),
            (GET, "/v1/me".into(), Some(&key), None),
            (GET, "/v1/teams".into(), Some(&key), None),
            (
                POST,
                "/v1/teams".into(),
                Some(&ada),
                Some(json!({"name": ""})),
            ),
            (
                POST,
                "/v1/teams".into(),
                Some(&ada),
                Some(json!({"name": "T"})),
            ),
            (
                GET,
                format!("/v1/teams/{bob_team}/members"),
                Some(&ada),
                None,
            ),
            (
                POST,
                format!("/v1/teams/{ada_team}/members"),
                Some(&ada),
                Some(member.clone()),
            ),
            (
                POST,
                format!("/v1/teams/{ada_team}/members"),
                Some(&ada),
                Some(member),
            ),
            (
                POST,
                format!("/v1/teams/{ada_team}/members"),
                Some(&ada),
                Some(json!({"email": "x@y.io", "role": "boss"})),
            ),
            (
                DELETE,
                format!("/v1/teams/{ada_team}/members/usr_nobody"),
                Some(&ada),
                None,
            ),
            (
                DELETE,
                format!("/v1/teams/{ada_team}/members/usr_nobody"),
                Some(&bob),
                None,
            ),
            (
                Method::PUT,
                "/v1/admin/users/usr_nobody/admin".into(),
                Some(&ada),
                Some(json!({"is_admin": false})),
            ),
            (
                Method::PUT,
                "/v1/admin/users/usr_nobody/admin".into(),
                Some(&key),
                Some(json!({"is_admin": true})),
            ),
            (
                POST,
                "/v1/keys".into(),
                Some(&key),
                Some(json!({"name": "k"})),
            ),
            (
                POST,
                "/v1/keys".into(),
                Some(&ada),
                Some(json!({"name": "k", "expires_in_secs": 0})),
            ),
            (
                POST,
                "/v1/keys".into(),
                Some(&ada),
                Some(json!({"name": "k", "expires_in_secs": u64::MAX})),
            ),
            (DELETE, "/v1/keys/key_nobody".into(), Some(&ada), None),
            (GET, "/v1/audit?limit=0".into(), Some(&ada), None),
            (GET, "/v1/audit?limit=abc".into(), Some(&ada), None),
            (GET, "/v1/audit".into(), Some(&key), None),
            (Method::PATCH, "/v1/keys".into(), Some(&ada), None),
        ];

        for (method, path, token, body) in calls {
            let (status, answer) = app.request(method.clone(), &path, token, body).await;

            assert!(
                !status.is_server_error(),
                "{method} {path}: {status} {answer}"
            );
            if !status.is_success() {
                assert_error(
                    &answer,
                    answer["error"]["code"].as_str().unwrap_or("<none>"),
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn openapi_when_served_then_lists_every_identity_operation() {
    common::run_bounded(async {
        let app = TestApp::start(Kind::Sqlite).await;

        let (status, document) = app.request(GET, "/openapi.json", None, None).await;

        assert_eq!(status, StatusCode::OK);
        let paths = &document["paths"];
        for (path, method) in [
            ("/v1/auth/signup", "post"),
            ("/v1/auth/login", "post"),
            ("/v1/me", "get"),
            ("/v1/teams", "get"),
            ("/v1/teams", "post"),
            ("/v1/teams/{team_id}/members", "get"),
            ("/v1/teams/{team_id}/members", "post"),
            ("/v1/teams/{team_id}/members/{user_id}", "delete"),
            ("/v1/admin/users/{user_id}/admin", "put"),
            ("/v1/keys", "get"),
            ("/v1/keys", "post"),
            ("/v1/keys/{key_id}", "delete"),
            ("/v1/audit", "get"),
        ] {
            assert!(paths[path][method].is_object(), "{method} {path} missing");
        }
    })
    .await;
}
