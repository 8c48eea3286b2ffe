//! What an SDK needs from `/v1` to reach a sandbox's data plane and to
//! retry a create safely: envd's access token in the answers of create,
//! connect, resume and fork (never in get or list), and `Idempotency-Key`
//! on create.
use super::*;

async fn create_with_key(fx: &Fixture, key: &str, body: Value) -> (StatusCode, Value) {
    fx.app
        .request_with(
            POST,
            "/v1/sandboxes",
            Some(&fx.token),
            &[("idempotency-key", key)],
            Some(body),
        )
        .await
}

fn token_of(sandbox: &Value) -> &str {
    sandbox["envd_access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no envd_access_token in {sandbox}"))
}

both_dbs!(
    create_connect_resume_when_running_then_answer_envd_token,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let created = fx.create(json!({})).await;
        let id = id_of(&created);
        let token = token_of(&created).to_owned();
        assert!(!token.is_empty());

        let (status, connected) = fx
            .call(POST, &format!("/v1/sandboxes/{id}/connect"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{connected}");
        assert_eq!(token_of(&connected), token);

        let (status, paused) = fx
            .call(POST, &format!("/v1/sandboxes/{id}/pause"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{paused}");
        assert!(paused.get("envd_access_token").is_none(), "{paused}");
        let (status, resumed) = fx
            .call(POST, &format!("/v1/sandboxes/{id}/resume"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{resumed}");
        assert_eq!(token_of(&resumed), token);

        let (_, got) = fx.call(GET, &format!("/v1/sandboxes/{id}"), None).await;
        assert!(
            got.get("envd_access_token").is_none(),
            "get leaks the token: {got}"
        );
        let (_, page) = fx.call(GET, "/v1/sandboxes", None).await;
        assert!(
            !page.to_string().contains(&token),
            "list leaks the token: {page}"
        );
    }
);

both_dbs!(
    fork_when_copies_then_each_has_own_token,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;

        let (status, forked) = fx
            .call(
                POST,
                &format!("/v1/sandboxes/{id}/fork"),
                Some(json!({"count": 2})),
            )
            .await;

        assert_eq!(status, StatusCode::CREATED, "{forked}");
        let copies = forked["sandboxes"].as_array().expect("sandboxes");
        assert_eq!(copies.len(), 2);
        assert_ne!(token_of(&copies[0]), token_of(&copies[1]));
    }
);

both_dbs!(
    create_when_key_repeated_then_one_sandbox,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let body = json!({"metadata": {"run": "1"}});

        let (s1, first) = create_with_key(&fx, "sdk-retry-1", body.clone()).await;
        let (s2, second) = create_with_key(&fx, "sdk-retry-1", body.clone()).await;

        assert_eq!(
            (s1, s2),
            (StatusCode::CREATED, StatusCode::CREATED),
            "{first} {second}"
        );
        assert_eq!(id_of(&first), id_of(&second));
        assert_eq!(token_of(&first), token_of(&second));
        assert_eq!(fx.agent.creates(), 1);
        let (_, other) = create_with_key(&fx, "sdk-retry-2", body).await;
        assert_ne!(id_of(&other), id_of(&first));
    }
);

both_dbs!(
    create_when_key_reused_for_other_body_or_malformed_then_422,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        create_with_key(&fx, "k1", json!({})).await;

        let (status, reused) = create_with_key(&fx, "k1", json!({"timeout_secs": 60})).await;
        let (bad_status, bad) = create_with_key(&fx, "Not Valid!", json!({})).await;

        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(assert_error(&reused, "validation_failed").contains("Idempotency-Key"));
        assert_eq!(bad_status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(assert_error(&bad, "validation_failed").contains("Idempotency-Key"));
        assert_eq!(fx.agent.creates(), 1);
    }
);

both_dbs!(create_when_key_sandbox_ended_then_409, |kind| async move {
    let fx = Fixture::start(kind).await;
    let (_, first) = create_with_key(&fx, "k-ended", json!({})).await;
    let id = id_of(&first);
    fx.call(DELETE, &format!("/v1/sandboxes/{id}"), None).await;

    let (status, answer) = create_with_key(&fx, "k-ended", json!({})).await;

    assert_eq!(status, StatusCode::CONFLICT);
    assert!(assert_error(&answer, "conflict").contains(&id));
    assert_eq!(fx.agent.creates(), 1);
});

both_dbs!(
    every_answer_when_sent_then_carries_request_id,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let get = |id: Option<&'static str>| {
            let mut builder = axum::http::Request::builder()
                .uri("/v1/sandboxes/sbx_missing")
                .header("authorization", format!("Bearer {}", fx.token));
            if let Some(id) = id {
                builder = builder.header("x-request-id", id);
            }
            builder.body(axum::body::Body::empty()).expect("request")
        };

        let (status, fresh, _) = fx.app.send_full(get(None)).await;
        let (_, kept, _) = fx.app.send_full(get(Some("client-retry-7"))).await;
        let (_, replaced, _) = fx.app.send_full(get(Some("bad id\twith tab"))).await;

        assert_eq!(status, StatusCode::NOT_FOUND);
        let id = |h: &axum::http::HeaderMap| h["x-request-id"].to_str().expect("ascii").to_owned();
        assert!(id(&fresh).starts_with("req_"), "{fresh:?}");
        assert_eq!(id(&kept), "client-retry-7");
        assert!(id(&replaced).starts_with("req_"));
    }
);
