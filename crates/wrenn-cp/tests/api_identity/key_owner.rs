//! Membership enforced on API keys: a member's own keys (`owner: user`)
//! stop working when they leave or are removed from the team (issue #11,
//! found-item 5); team-owned keys (`owner: team`) survive their creator.
use super::*;

/// Ada owns a shared team; Bob is a member of it. Answers
/// `(ada token, bob token, team id, bob's user id)`.
async fn shared_team(app: &TestApp, bob_role: &str) -> (String, String, String, String) {
    let (ada, _) = app.signup("ada@example.com").await;
    let (bob, _) = app.signup("bob@example.com").await;
    let (_, team) = app
        .request(POST, "/v1/teams", Some(&ada), Some(json!({"name": "lab"})))
        .await;
    let team_id = team["id"].as_str().expect("team id").to_owned();
    let (status, member) = app
        .request(
            POST,
            &format!("/v1/teams/{team_id}/members"),
            Some(&ada),
            Some(json!({"email": "bob@example.com", "role": bob_role})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{member}");
    let bob_id = member["user_id"].as_str().expect("id").to_owned();
    (ada, bob, team_id, bob_id)
}

/// Creates a key in `team_id` as `token`; answers `(status, body)`.
async fn team_key(app: &TestApp, token: &str, team_id: &str, body: Value) -> (StatusCode, Value) {
    let headers = [("x-team-id", team_id)];
    app.request_with(POST, "/v1/keys", Some(token), &headers, Some(body))
        .await
}

async fn key_status(app: &TestApp, secret: &str) -> StatusCode {
    app.request(GET, "/v1/sandboxes", Some(secret), None)
        .await
        .0
}

both_dbs!(
    user_key_when_creator_removed_then_401_and_audited,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let (ada, bob, team_id, bob_id) = shared_team(&app, "member").await;
        let (_, key) = team_key(&app, &bob, &team_id, json!({"name": "bob-ci"})).await;
        let secret = key["key"].as_str().expect("key").to_owned();
        let before = key_status(&app, &secret).await;

        let (removed, _) = app
            .request(
                DELETE,
                &format!("/v1/teams/{team_id}/members/{bob_id}"),
                Some(&ada),
                None,
            )
            .await;
        let (after, answer) = app.request(GET, "/v1/sandboxes", Some(&secret), None).await;
        let headers = [("x-team-id", team_id.as_str())];
        let (_, keys) = app
            .request_with(GET, "/v1/keys", Some(&ada), &headers, None)
            .await;
        let (_, log) = app
            .request_with(GET, "/v1/audit?limit=200", Some(&ada), &headers, None)
            .await;

        assert_eq!(key["owner"], "user", "{key}");
        assert_eq!(before, StatusCode::OK);
        assert_eq!(removed, StatusCode::NO_CONTENT);
        assert_eq!(after, StatusCode::UNAUTHORIZED);
        assert_error(&answer, "unauthenticated");
        assert!(keys["keys"][0]["revoked_at"].is_string(), "{keys}");
        let revoke = log["events"]
            .as_array()
            .expect("events")
            .iter()
            .find(|e| e["action"] == "api_key.revoke")
            .unwrap_or_else(|| panic!("no api_key.revoke event: {log}"));
        assert_eq!(revoke["resource_id"], key["id"], "{revoke}");
    }
);

both_dbs!(user_key_when_creator_leaves_then_401, |kind| async move {
    let app = TestApp::start(kind).await;
    let (_, bob, team_id, bob_id) = shared_team(&app, "member").await;
    let (_, key) = team_key(&app, &bob, &team_id, json!({"name": "bob-ci"})).await;
    let secret = key["key"].as_str().expect("key").to_owned();

    let (left, _) = app
        .request(
            DELETE,
            &format!("/v1/teams/{team_id}/members/{bob_id}"),
            Some(&bob),
            None,
        )
        .await;

    assert_eq!(left, StatusCode::NO_CONTENT);
    assert_eq!(key_status(&app, &secret).await, StatusCode::UNAUTHORIZED);
});

both_dbs!(
    user_key_when_membership_row_gone_without_revocation_then_401,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let (_, bob, team_id, bob_id) = shared_team(&app, "member").await;
        let (_, key) = team_key(&app, &bob, &team_id, json!({"name": "bob-ci"})).await;
        let secret = key["key"].as_str().expect("key").to_owned();
        // A membership that vanished by another road than the service.
        sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
            .bind(&team_id)
            .bind(&bob_id)
            .execute(&app.state.db.pool)
            .await
            .expect("delete membership");

        assert_eq!(key_status(&app, &secret).await, StatusCode::UNAUTHORIZED);
    }
);

both_dbs!(
    team_key_when_creator_leaves_then_keeps_working,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let (ada, bob, team_id, bob_id) = shared_team(&app, "owner").await;
        let (created, key) = team_key(
            &app,
            &bob,
            &team_id,
            json!({"name": "deploy", "owner": "team"}),
        )
        .await;
        let secret = key["key"].as_str().expect("key").to_owned();

        let (removed, _) = app
            .request(
                DELETE,
                &format!("/v1/teams/{team_id}/members/{bob_id}"),
                Some(&ada),
                None,
            )
            .await;

        assert_eq!(created, StatusCode::CREATED);
        assert_eq!(key["owner"], "team", "{key}");
        assert_eq!(removed, StatusCode::NO_CONTENT);
        assert_eq!(key_status(&app, &secret).await, StatusCode::OK);
    }
);

both_dbs!(
    team_key_when_creator_not_owner_then_403,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let (_, bob, team_id, _) = shared_team(&app, "member").await;

        let (status, answer) = team_key(
            &app,
            &bob,
            &team_id,
            json!({"name": "deploy", "owner": "team"}),
        )
        .await;

        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_error(&answer, "forbidden");
    }
);

both_dbs!(
    member_when_not_owner_removes_other_then_403_but_may_leave,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let (ada, bob, team_id, bob_id) = shared_team(&app, "member").await;
        let (_, me) = app.request(GET, "/v1/me", Some(&ada), None).await;
        let ada_id = me["user"]["id"].as_str().expect("id").to_owned();
        let members = format!("/v1/teams/{team_id}/members");

        let (other, _) = app
            .request(DELETE, &format!("{members}/{ada_id}"), Some(&bob), None)
            .await;
        let (leave, _) = app
            .request(DELETE, &format!("{members}/{bob_id}"), Some(&bob), None)
            .await;

        assert_eq!(other, StatusCode::FORBIDDEN);
        assert_eq!(leave, StatusCode::NO_CONTENT);
    }
);
