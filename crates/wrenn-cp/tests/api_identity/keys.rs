//! API keys: create, list, revoke, expiry, and team isolation.
use super::*;

both_dbs!(
    keys_when_created_listed_revoked_then_revoked_key_refused,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let (token, _) = app.signup("ada@example.com").await;

        let (created, key) = app
            .request(POST, "/v1/keys", Some(&token), Some(json!({"name": "ci"})))
            .await;
        let secret = key["key"].as_str().expect("key").to_owned();
        let key_id = key["id"].as_str().expect("id").to_owned();
        let (via_key, me) = app
            .request_with(GET, "/v1/me", None, &[("x-api-key", &secret)], None)
            .await;
        let (_, list) = app.request(GET, "/v1/keys", Some(&token), None).await;
        let (revoked, _) = app
            .request(DELETE, &format!("/v1/keys/{key_id}"), Some(&token), None)
            .await;
        let (after, answer) = app.request(GET, "/v1/keys", Some(&secret), None).await;

        assert_eq!(created, StatusCode::CREATED);
        assert!(secret.starts_with("wrn_") && secret.len() == 36);
        assert_eq!((via_key, me["user"].clone()), (StatusCode::OK, Value::Null));
        assert_eq!(list["keys"][0]["id"], key_id.as_str());
        assert!(
            list["keys"][0].get("key").is_none(),
            "plaintext listed: {list}"
        );
        assert!(!list.to_string().contains(&secret));
        assert_eq!(revoked, StatusCode::NO_CONTENT);
        assert_eq!(after, StatusCode::UNAUTHORIZED);
        assert_error(&answer, "unauthenticated");
        let (_, list) = app.request(GET, "/v1/keys", Some(&token), None).await;
        assert!(list["keys"][0]["revoked_at"].is_string(), "{list}");
    }
);

both_dbs!(key_when_expired_then_401, |kind| async move {
    let app = TestApp::start(kind).await;
    let (token, _) = app.signup("ada@example.com").await;
    let secret = app.api_key(&token).await;
    sqlx::query("UPDATE api_keys SET expires_at = $1")
        .bind(1_i64)
        .execute(&app.state.db.pool)
        .await
        .expect("expire");

    let (status, answer) = app.request(GET, "/v1/keys", Some(&secret), None).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&answer, "unauthenticated");
});

both_dbs!(
    key_when_revoked_by_another_replica_then_refused_after_cache_ttl,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let (token, _) = app.signup("ada@example.com").await;
        let secret = app.api_key(&token).await;
        let (before, _) = app.request(GET, "/v1/keys", Some(&secret), None).await;
        // Another replica's revocation: the row changes, this replica's
        // cache is not told.
        sqlx::query("UPDATE api_keys SET revoked_at = $1")
            .bind(1_i64)
            .execute(&app.state.db.pool)
            .await
            .expect("revoke");
        tokio::time::sleep(wrenn_cp::auth::key_cache::TTL + std::time::Duration::from_millis(50))
            .await;

        let (after, answer) = app.request(GET, "/v1/keys", Some(&secret), None).await;

        assert_eq!(before, StatusCode::OK);
        assert_eq!(after, StatusCode::UNAUTHORIZED);
        assert_error(&answer, "unauthenticated");
    }
);

both_dbs!(
    keys_when_other_team_then_404_and_lists_only_own,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let (ada, _) = app.signup("ada@example.com").await;
        let (bob, _) = app.signup("bob@example.com").await;
        let (_, ada_key) = app
            .request(POST, "/v1/keys", Some(&ada), Some(json!({"name": "a"})))
            .await;
        app.api_key(&bob).await;
        let ada_key_id = ada_key["id"].as_str().expect("id");

        let (revoke, answer) = app
            .request(DELETE, &format!("/v1/keys/{ada_key_id}"), Some(&bob), None)
            .await;
        let (_, bob_list) = app.request(GET, "/v1/keys", Some(&bob), None).await;

        assert_eq!(revoke, StatusCode::NOT_FOUND);
        assert_error(&answer, "not_found");
        let ids: Vec<&Value> = bob_list["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| &k["id"])
            .collect();
        assert_eq!(ids.len(), 1);
        assert_ne!(ids[0], &ada_key["id"]);
    }
);
