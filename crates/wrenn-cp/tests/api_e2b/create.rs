//! `POST /v2/sandboxes` and `POST /sandboxes`: 201 with the SDK's keys,
//! E2B's fields mapped onto the host's create, and refusals by name.
use super::*;

both_dbs!(
    create_v2_when_sdk_body_then_201_with_keys,
    |kind| async move {
        let fx = Fixture::start(kind).await;

        let created = fx
            .create(json!({"templateID": "base", "metadata": {}, "envVars": {}}))
            .await;

        assert_keys(&created, CREATED_KEYS);
        assert_keys(&created, &["envdAccessToken", "domain"]);
        let id = id_of(&created);
        assert_eq!(created["templateID"], "base");
        assert_eq!(created["envdVersion"], "0.6.13");
        assert_eq!(
            created["envdAccessToken"],
            common::fake_agent::envd_token(&id)
        );
        let sent = fx.agent.last_create().expect("the host saw the create");
        assert_eq!(sent.id, id);
        assert_eq!(sent.timeout_secs, 300);
        assert_eq!(sent.on_timeout, wrenn_types::TimeoutAction::Kill);
        assert!(sent.internet);
    }
);

both_dbs!(create_v1_when_2_4x_body_then_201, |kind| async move {
    let fx = Fixture::start(kind).await;
    let body = json!({"templateID": "base", "timeout": 60, "secure": true,
        "allow_internet_access": true, "metadata": {"owner": "ada"}, "envVars": {"A": "1"}});

    let answer = fx.call(POST, "/sandboxes", Some(body)).await;

    assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
    assert_keys(&answer.body, CREATED_KEYS);
    let sent = fx.agent.last_create().expect("create");
    assert_eq!(sent.timeout_secs, 60);
    assert_eq!(sent.env_vars.get("A").map(String::as_str), Some("1"));
    assert_eq!(sent.metadata.get("owner").map(String::as_str), Some("ada"));
});

both_dbs!(
    create_when_lifecycle_and_network_then_host_gets_them,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let body = json!({"templateID": "base", "autoPause": true, "autoResume": {"enabled": false},
            "network": {"allowOut": ["1.1.1.1", "10.0.0.0/8"], "denyOut": ["0.0.0.0/0"]}});

        fx.create(body).await;

        let sent = fx.agent.last_create().expect("create");
        assert_eq!(sent.on_timeout, wrenn_types::TimeoutAction::Pause);
        assert!(!sent.internet);
        assert_eq!(sent.egress_allow, ["1.1.1.1/32", "10.0.0.0/8"]);
        assert!(sent.egress_deny.is_empty());
    }
);

both_dbs!(
    create_when_no_internet_then_detail_says_so,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = id_of(
            &fx.create(json!({"templateID": "base", "allow_internet_access": false}))
                .await,
        );

        let detail = fx.detail(&id).await.body;

        assert_eq!(detail["allowInternetAccess"], false);
        assert_eq!(detail["network"]["denyOut"], json!(["0.0.0.0/0"]));
    }
);

both_dbs!(create_when_bad_input_then_400_named, |kind| async move {
    let fx = Fixture::start(kind).await;
    let cases = [
        (json!({}), "templateID"),
        (json!({"templateID": "base", "timeout": 0}), "timeout"),
        (json!({"templateID": "base", "timeout": -5}), "timeout"),
        (json!({"templateID": "base", "timeout": 86_401}), "timeout"),
        (json!({"templateID": "../etc"}), "template"),
        (
            json!({"templateID": "base", "envVars": {"1BAD": "x"}}),
            "1BAD",
        ),
        (
            json!({"templateID": "base", "metadata": {"k": 5}}),
            "string",
        ),
        (
            json!({"templateID": "base", "autoResume": {"enabled": true}}),
            "autoResume",
        ),
        (
            json!({"templateID": "base", "network": {"allowOut": ["example.com"]}}),
            "allowOut",
        ),
        (
            json!({"templateID": "base", "volumeMounts": [{"name": "v", "path": "/v"}]}),
            "volumeMounts",
        ),
    ];
    for (body, named) in cases {
        let answer = fx.call(POST, "/v2/sandboxes", Some(body.clone())).await;
        let message = answer.error(StatusCode::BAD_REQUEST);
        assert!(message.contains(named), "{body}: {message}");
        assert_eq!(answer.header("should-retry"), Some("false"), "{body}");
    }
    assert_eq!(fx.agent.creates(), 0);
});

both_dbs!(create_when_unknown_template_then_404, |kind| async move {
    let fx = Fixture::start(kind).await;

    let answer = fx
        .call(POST, "/v2/sandboxes", Some(json!({"templateID": "nope"})))
        .await;

    assert!(answer.error(StatusCode::NOT_FOUND).contains("nope"));
});

both_dbs!(create_when_not_json_then_400_e2b_body, |kind| async move {
    let fx = Fixture::start(kind).await;
    let request = Request::builder()
        .method(POST)
        .uri("/e2b/v2/sandboxes")
        .header("x-api-key", &fx.key)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();

    let (status, _, body) = fx.app.send_full(request).await;

    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(400))
    );
});

both_dbs!(
    create_when_quota_spent_then_429_not_retried,
    |kind| async move {
        let fx = Fixture::configured(kind, &[("CP_MAX_SANDBOXES_PER_TEAM", "1")]).await;
        fx.create_id().await;

        let answer = fx
            .call(POST, "/v2/sandboxes", Some(json!({"templateID": "base"})))
            .await;

        answer.error(StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(answer.header("should-retry"), Some("false"));
        assert!(answer.header("retry-after").is_some(), "{answer:?}");
    }
);

both_dbs!(
    create_when_host_unavailable_then_503_retried,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        fx.agent
            .fail_next_create(wrenn_cp::agent::AgentError::Unavailable("down".into()));

        let answer = fx
            .call(POST, "/v2/sandboxes", Some(json!({"templateID": "base"})))
            .await;

        answer.error(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.header("should-retry"), Some("true"));
    }
);

both_dbs!(
    create_when_auto_resume_and_private_traffic_then_recorded,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let body = json!({"templateID": "base", "autoPause": true, "autoResume": {"enabled": true},
            "network": {"allowPublicTraffic": false}});

        let created = fx.create(body).await;

        let token = created["trafficAccessToken"]
            .as_str()
            .expect("trafficAccessToken");
        assert!(!token.is_empty());
        let detail = fx.detail(&id_of(&created)).await.body;
        assert_eq!(
            detail["lifecycle"],
            json!({"autoResume": true, "onTimeout": "pause"})
        );
        assert_eq!(detail["network"]["allowPublicTraffic"], false);
        assert!(detail.get("trafficAccessToken").is_none(), "{detail}");
    }
);

both_dbs!(
    create_when_public_traffic_then_no_traffic_token,
    |kind| async move {
        let fx = Fixture::start(kind).await;

        let created = fx.create(json!({"templateID": "base"})).await;

        assert!(created.get("trafficAccessToken").is_none(), "{created}");
        let detail = fx.detail(&id_of(&created)).await.body;
        assert_eq!(detail["network"]["allowPublicTraffic"], true);
    }
);
