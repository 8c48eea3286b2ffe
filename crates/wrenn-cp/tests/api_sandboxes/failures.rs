//! Creates that fail leave nothing wrong behind: a refused create leaves no
//! record, an unavailable host leaves an `error` record with a reason and
//! a cleanup call, no host is `no_capacity`, and the team quota is 429.
use wrenn_cp::agent::AgentError;

use super::*;

both_dbs!(
    create_when_host_refuses_argument_then_422_and_no_record,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        fx.agent.fail_next_create(AgentError::InvalidArgument(
            "disk too small for template".into(),
        ));

        let (status, answer) = fx.call(POST, "/v1/sandboxes", Some(json!({}))).await;

        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(assert_error(&answer, "validation_failed").contains("disk too small"));
        assert!(
            fx.listed("").await.is_empty(),
            "no sandbox that never existed"
        );
        let created = fx.agent.last_create().expect("the host was asked");
        assert!(fx.agent.destroyed(&created.id), "cleanup was asked for");
    }
);

both_dbs!(
    create_when_host_exhausted_then_503_no_capacity_and_no_record,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        fx.agent
            .fail_next_create(AgentError::Exhausted("out of memory".into()));

        let (status, answer) = fx.call(POST, "/v1/sandboxes", Some(json!({}))).await;

        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_error(&answer, "no_capacity");
        assert!(fx.listed("").await.is_empty());
    }
);

both_dbs!(
    create_when_host_unavailable_then_503_and_error_record,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        fx.agent
            .fail_next_create(AgentError::Unavailable("firecracker crashed".into()));

        let (status, answer) = fx.call(POST, "/v1/sandboxes", Some(json!({}))).await;

        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_error(&answer, "agent_unavailable");
        let (_, page) = fx.call(GET, "/v1/sandboxes", None).await;
        let sandboxes = page["sandboxes"].as_array().expect("sandboxes");
        assert_eq!(sandboxes.len(), 1, "{page}");
        assert_eq!(sandboxes[0]["state"], "error");
        assert!(sandboxes[0]["reason"]
            .as_str()
            .expect("reason")
            .contains("firecracker crashed"));
        assert!(
            fx.agent.destroyed(&id_of(&sandboxes[0])),
            "the host was asked to clean up"
        );
    }
);

both_dbs!(
    create_when_failed_then_audited_as_failed,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        fx.agent
            .fail_next_create(AgentError::Unavailable("boom".into()));
        fx.call(POST, "/v1/sandboxes", Some(json!({}))).await;

        let (_, audit) = fx.call(GET, "/v1/audit", None).await;

        let events = audit["events"].as_array().expect("events");
        let create = events
            .iter()
            .find(|e| e["action"] == "sandbox.create")
            .unwrap_or_else(|| panic!("no create event: {audit}"));
        assert_eq!(create["outcome"], "failed");
    }
);

both_dbs!(
    create_when_no_host_then_503_no_capacity,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let (token, _) = app.signup("ada@example.com").await;

        let (status, answer) = app
            .request(POST, "/v1/sandboxes", Some(&token), Some(json!({})))
            .await;
        let (_, page) = app.request(GET, "/v1/sandboxes", Some(&token), None).await;

        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_error(&answer, "no_capacity");
        assert_eq!(page["sandboxes"], json!([]));
    }
);

both_dbs!(
    create_when_quota_reached_then_429_until_one_destroyed,
    |kind| async move {
        let fx = Fixture::configured(kind, &[("CP_MAX_SANDBOXES_PER_TEAM", "2")]).await;
        let first = fx.create_id().await;
        let second = fx.create_id().await;
        fx.call(POST, &format!("/v1/sandboxes/{second}/pause"), None)
            .await;

        let (over, answer) = fx.call(POST, "/v1/sandboxes", Some(json!({}))).await;
        fx.call(DELETE, &format!("/v1/sandboxes/{first}"), None)
            .await;
        let (again, _) = fx.call(POST, "/v1/sandboxes", Some(json!({}))).await;

        assert_eq!(over, StatusCode::TOO_MANY_REQUESTS);
        assert_error(&answer, "quota_exceeded");
        assert_eq!(
            again,
            StatusCode::CREATED,
            "a stopped sandbox frees its slot"
        );
        assert_eq!(
            fx.agent.creates(),
            3,
            "the refused create never reached the host"
        );
    }
);

both_dbs!(
    quota_when_other_team_full_then_own_unaffected,
    |kind| async move {
        let fx = Fixture::configured(kind, &[("CP_MAX_SANDBOXES_PER_TEAM", "1")]).await;
        fx.create_id().await;
        let (bob, _) = fx.app.signup("bob@example.com").await;

        let (status, answer) = fx
            .app
            .request(POST, "/v1/sandboxes", Some(&bob), Some(json!({})))
            .await;

        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
);
