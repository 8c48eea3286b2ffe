//! Forks and live network updates through E2B's calls: `POST
//! /sandboxes/{id}/fork` (201 `[{sandbox}]`, the count's bound, the team's
//! limit, a host that fails) and `PUT /sandboxes/{id}/network` (204, the
//! whole policy replaced, omitted fields cleared, unsupported ones named).
use super::*;

const PUT: Method = Method::PUT;

both_dbs!(
    fork_when_two_copies_then_201_sandbox_per_copy_with_tokens,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = id_of(
            &fx.create(json!({"templateID": "base", "metadata": {"owner": "ada"}}))
                .await,
        );

        let answer = fx
            .call(
                POST,
                &format!("/sandboxes/{id}/fork"),
                Some(json!({"count": 2, "timeout": 120})),
            )
            .await;

        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        let results = answer.body.as_array().expect("a list");
        assert_eq!(results.len(), 2, "{answer:?}");
        let mut copies = Vec::new();
        for result in results {
            assert!(result.get("error").is_none(), "{result}");
            let sandbox = &result["sandbox"];
            assert_keys(sandbox, CREATED_KEYS);
            let copy = id_of(sandbox);
            assert_ne!(copy, id);
            assert_eq!(
                sandbox["envdAccessToken"],
                common::fake_agent::envd_token(&copy)
            );
            assert_eq!(sandbox["templateID"], "base");
            copies.push(copy);
        }
        let forks = fx.agent.forks();
        assert_eq!(forks, [(id.clone(), copies.clone(), Some(120))]);
        assert_eq!(fx.detail(&id).await.body["state"], "running");
        for copy in &copies {
            let detail = fx.detail(copy).await.body;
            assert_eq!(detail["state"], "running", "{detail}");
            assert_eq!(detail["metadata"], json!({"owner": "ada"}));
        }
    }
);

both_dbs!(
    fork_when_no_body_or_unknown_field_then_one_copy_source_timeout,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = id_of(
            &fx.create(json!({"templateID": "base", "timeout": 900}))
                .await,
        );

        let answer = fx.call(POST, &format!("/sandboxes/{id}/fork"), None).await;

        let newer = fx
            .call(
                POST,
                &format!("/sandboxes/{id}/fork"),
                Some(json!({"count": 1, "someNewerField": true})),
            )
            .await;

        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        assert_eq!(answer.body.as_array().map(Vec::len), Some(1));
        assert_eq!(fx.agent.forks()[0].2, Some(900));
        assert_eq!(
            newer.status,
            StatusCode::CREATED,
            "unknown fields are ignored: {newer:?}"
        );
    }
);

both_dbs!(
    fork_when_bad_count_timeout_or_body_then_400_and_host_not_asked,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        let path = format!("/sandboxes/{id}/fork");

        for body in [
            json!({"count": 17}),
            json!({"count": 0}),
            json!({"count": -1}),
            json!({"timeout": 0}),
            json!({"count": "two"}),
            json!({"timeout": "soon"}),
        ] {
            let answer = fx.call(POST, &path, Some(body.clone())).await;
            answer.error(StatusCode::BAD_REQUEST);
        }
        let over = fx.call(POST, &path, Some(json!({"count": 17}))).await;
        assert!(
            over.error(StatusCode::BAD_REQUEST).contains("16"),
            "{over:?}"
        );
        assert_eq!(over.header("should-retry"), Some("false"));
        assert!(fx.agent.forks().is_empty());
        assert_eq!(fx.listed("").await.0, [id]);
    }
);

both_dbs!(
    fork_when_over_team_limit_then_429_and_no_copy,
    |kind| async move {
        let fx = Fixture::configured(kind, &[("CP_MAX_SANDBOXES_PER_TEAM", "2")]).await;
        let id = fx.create_id().await;

        let answer = fx
            .call(
                POST,
                &format!("/sandboxes/{id}/fork"),
                Some(json!({"count": 2})),
            )
            .await;

        answer.error(StatusCode::TOO_MANY_REQUESTS);
        assert!(fx.agent.forks().is_empty());
        assert_eq!(fx.listed("").await.0, [id]);
    }
);

both_dbs!(
    fork_when_host_fails_then_error_and_no_copy_left,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        fx.agent
            .fail_next_fork(wrenn_cp::agent::AgentError::Unavailable("disk full".into()));

        let answer = fx
            .call(
                POST,
                &format!("/sandboxes/{id}/fork"),
                Some(json!({"count": 2})),
            )
            .await;

        assert!(answer.status.is_server_error(), "{answer:?}");
        assert_eq!(answer.body["code"], answer.status.as_u16());
        assert_eq!(fx.listed("").await.0, [id]);
    }
);

both_dbs!(
    fork_when_paused_then_409_and_host_not_asked,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        fx.call(POST, &format!("/sandboxes/{id}/pause"), None).await;

        let answer = fx
            .call(POST, &format!("/sandboxes/{id}/fork"), Some(json!({})))
            .await;

        answer.error(StatusCode::CONFLICT);
        assert!(fx.agent.forks().is_empty());
    }
);

both_dbs!(
    network_when_put_then_204_whole_policy_replaced,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = id_of(
            &fx.create(json!({"templateID": "base", "network": {"allowOut": ["10.0.0.0/8"]}}))
                .await,
        );
        let path = format!("/sandboxes/{id}/network");

        let first = fx
            .call(
                PUT,
                &path,
                Some(json!({"allowOut": ["1.1.1.1"], "denyOut": ["0.0.0.0/0", "8.8.8.8/32"]})),
            )
            .await;
        let detail = fx.detail(&id).await.body;
        let cleared = fx.call(PUT, &path, Some(json!({}))).await;

        assert_eq!(first.status, StatusCode::NO_CONTENT, "{first:?}");
        assert_eq!(detail["network"]["allowOut"], json!(["1.1.1.1/32"]));
        assert_eq!(
            detail["network"]["denyOut"],
            json!(["8.8.8.8/32", "0.0.0.0/0"])
        );
        assert_eq!(detail["allowInternetAccess"], false);
        assert_eq!(cleared.status, StatusCode::NO_CONTENT, "{cleared:?}");
        let updates = fx.agent.egress_updates();
        assert_eq!(updates.len(), 2);
        assert_eq!(updates[0].0, id);
        assert!(!updates[0].1.internet);
        assert_eq!(updates[0].1.allow, ["1.1.1.1/32"]);
        assert_eq!(updates[0].1.deny, ["8.8.8.8/32"]);
        assert!(updates[1].1.internet, "omitted: internet back on");
        assert!(updates[1].1.allow.is_empty() && updates[1].1.deny.is_empty());
        let detail = fx.detail(&id).await.body;
        assert_eq!(detail["network"]["allowOut"], json!([]));
        assert_eq!(detail["allowInternetAccess"], true);
    }
);

both_dbs!(
    network_when_internet_flag_false_then_internet_off,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;

        let answer = fx
            .call(
                PUT,
                &format!("/sandboxes/{id}/network"),
                Some(json!({"allow_internet_access": false})),
            )
            .await;

        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{answer:?}");
        assert!(!fx.agent.egress_updates()[0].1.internet);
    }
);

both_dbs!(
    network_when_bad_or_unsupported_body_then_400_and_host_not_asked,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        let path = format!("/sandboxes/{id}/network");

        for (body, named) in [
            (json!({"allowOut": ["example.com"]}), "allowOut"),
            (json!({"denyOut": ["not-an-ip"]}), "denyOut"),
            (json!({"dnsServers": ["1.1.1.1"]}), "dnsServers"),
            (
                json!({"egressProxy": {"address": "1.2.3.4:1080"}}),
                "egressProxy",
            ),
            (json!({"allowOut": "1.1.1.1"}), ""),
        ] {
            let answer = fx.call(PUT, &path, Some(body.clone())).await;
            let message = answer.error(StatusCode::BAD_REQUEST);
            assert!(message.contains(named), "{body}: {message}");
        }
        fx.call(PUT, &path, None)
            .await
            .error(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(fx.agent.egress_updates().is_empty());
    }
);
