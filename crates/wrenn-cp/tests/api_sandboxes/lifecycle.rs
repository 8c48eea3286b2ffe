//! One sandbox's life: create with defaults, get, ping, timeout, pause,
//! resume, connect, destroy, the conflicts of acting in the wrong state,
//! and the recorded history of transitions.
use super::*;

both_dbs!(create_when_defaults_then_201_running, |kind| async move {
    let fx = Fixture::start(kind).await;

    let sandbox = fx.create(json!({})).await;

    assert_eq!(sandbox["state"], "running", "{sandbox}");
    assert_eq!(sandbox["template"], "base");
    assert_eq!(sandbox["team_id"], fx.team.as_str());
    assert_eq!(
        (sandbox["vcpus"].clone(), sandbox["memory_mb"].clone()),
        (json!(1), json!(512))
    );
    assert_eq!(sandbox["timeout_secs"], 300);
    assert_eq!(sandbox["on_timeout"], "kill");
    assert_eq!(sandbox["internet"], true);
    assert_eq!(sandbox["host_id"], "host_local");
    assert_eq!(sandbox["reason"], "");
    assert!(sandbox["started_at"].is_string() && sandbox["timeout_at"].is_string());
    let sent = fx.agent.last_create().expect("the host saw the create");
    assert_eq!(
        (sent.id, sent.template_image),
        (id_of(&sandbox), "base".to_owned())
    );
});

both_dbs!(
    create_when_options_given_then_host_gets_them,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let body = json!({"vcpus": 2, "memory_mb": 1024, "timeout_secs": 60, "on_timeout": "pause",
        "env_vars": {"A": "1"}, "metadata": {"owner": "ada"}, "internet": false,
        "egress_allow": ["10.0.0.0/8"]});

        let sandbox = fx.create(body).await;

        let sent = fx.agent.last_create().expect("create");
        assert_eq!(
            (
                sent.resources.vcpus(),
                sent.resources.memory_mb(),
                sent.timeout_secs
            ),
            (2, 1024, 60)
        );
        assert_eq!(sent.on_timeout, wrenn_types::TimeoutAction::Pause);
        assert!(!sent.internet);
        assert_eq!(sent.env_vars.get("A").map(String::as_str), Some("1"));
        assert_eq!(sent.egress_allow, ["10.0.0.0/8"]);
        assert_eq!(sandbox["metadata"], json!({"owner": "ada"}));
        assert_eq!(sandbox["on_timeout"], "pause");
    }
);

both_dbs!(get_ping_timeout_when_running_then_200, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;

    let (got, sandbox) = fx.call(GET, &format!("/v1/sandboxes/{id}"), None).await;
    let (pinged, _) = fx
        .call(POST, &format!("/v1/sandboxes/{id}/ping"), None)
        .await;
    let (timed, after) = fx
        .call(
            POST,
            &format!("/v1/sandboxes/{id}/timeout"),
            Some(json!({"timeout_secs": 3600})),
        )
        .await;

    assert_eq!(
        (got, pinged, timed),
        (StatusCode::OK, StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(id_of(&sandbox), id);
    assert_eq!(after["timeout_secs"], 3600, "{after}");
    assert!(
        after["timeout_at"].as_str() > sandbox["timeout_at"].as_str(),
        "{after}"
    );
});

both_dbs!(
    pause_resume_when_cycled_then_states_follow,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;

        let (paused, p) = fx
            .call(POST, &format!("/v1/sandboxes/{id}/pause"), None)
            .await;
        let (resumed, r) = fx
            .call(POST, &format!("/v1/sandboxes/{id}/resume"), None)
            .await;

        assert_eq!(
            (paused, p["state"].clone()),
            (StatusCode::OK, json!("paused"))
        );
        assert_eq!(
            (resumed, r["state"].clone()),
            (StatusCode::OK, json!("running"))
        );
        assert_eq!((fx.agent.pauses(), fx.agent.resumes()), (1, 1));
    }
);

both_dbs!(connect_when_paused_then_resumed, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;
    fx.call(POST, &format!("/v1/sandboxes/{id}/pause"), None)
        .await;

    let (status, sandbox) = fx
        .call(POST, &format!("/v1/sandboxes/{id}/connect"), None)
        .await;

    assert_eq!(
        (status, sandbox["state"].clone()),
        (StatusCode::OK, json!("running"))
    );
    assert_eq!(
        fx.agent.state(&id),
        Some(wrenn_cp::agent::AgentState::Running)
    );
});

both_dbs!(
    connect_when_running_then_200_without_resume,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;

        let (status, sandbox) = fx
            .call(POST, &format!("/v1/sandboxes/{id}/connect"), None)
            .await;

        assert_eq!(
            (status, sandbox["state"].clone()),
            (StatusCode::OK, json!("running"))
        );
        assert_eq!(fx.agent.resumes(), 0);
    }
);

both_dbs!(destroy_when_twice_then_204_and_stopped, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;

    let (first, _) = fx.call(DELETE, &format!("/v1/sandboxes/{id}"), None).await;
    let state = fx.state_of(&id).await;
    let (second, _) = fx.call(DELETE, &format!("/v1/sandboxes/{id}"), None).await;

    assert_eq!(
        (first, second),
        (StatusCode::NO_CONTENT, StatusCode::NO_CONTENT)
    );
    assert_eq!(state, "stopped");
    assert_eq!(
        fx.agent.destroys(),
        1,
        "a stopped sandbox is not destroyed again"
    );
    assert_eq!(fx.agent.state(&id), None);
});

both_dbs!(pause_when_paused_then_409_not_running, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;
    fx.call(POST, &format!("/v1/sandboxes/{id}/pause"), None)
        .await;

    let (status, answer) = fx
        .call(POST, &format!("/v1/sandboxes/{id}/pause"), None)
        .await;

    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&answer, "sandbox_not_running");
    assert_eq!(fx.agent.pauses(), 1, "the host was not asked again");
});

both_dbs!(resume_when_running_then_409_not_paused, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;

    let (status, answer) = fx
        .call(POST, &format!("/v1/sandboxes/{id}/resume"), None)
        .await;

    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&answer, "sandbox_not_paused");
});

both_dbs!(actions_when_stopped_then_409, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;
    fx.call(DELETE, &format!("/v1/sandboxes/{id}"), None).await;

    for action in ["ping", "pause", "connect"] {
        let (status, answer) = fx
            .call(POST, &format!("/v1/sandboxes/{id}/{action}"), None)
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{action}: {answer}");
        assert_error(&answer, "sandbox_not_running");
    }
    let (status, answer) = fx
        .call(POST, &format!("/v1/sandboxes/{id}/resume"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&answer, "sandbox_not_paused");
});

both_dbs!(
    history_when_full_life_then_transitions_in_order,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        fx.call(POST, &format!("/v1/sandboxes/{id}/pause"), None)
            .await;
        fx.call(POST, &format!("/v1/sandboxes/{id}/resume"), None)
            .await;
        fx.call(DELETE, &format!("/v1/sandboxes/{id}"), None).await;

        let events = wrenn_cp::db::sandboxes::events(&fx.app.state.db, &id)
            .await
            .expect("events");

        let path: Vec<(&str, &str)> = events
            .iter()
            .map(|(_, from, to, _)| (from.as_str(), to.as_str()))
            .collect();
        assert_eq!(
            path,
            [
                ("", "pending"),
                ("pending", "starting"),
                ("starting", "running"),
                ("running", "paused"),
                ("paused", "running"),
                ("running", "stopped"),
            ]
        );
        assert!(events.windows(2).all(|w| w[0].0 <= w[1].0), "times ascend");
    }
);

both_dbs!(
    history_when_same_millisecond_then_order_kept,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        fx.call(POST, &format!("/v1/sandboxes/{id}/pause"), None)
            .await;
        fx.call(POST, &format!("/v1/sandboxes/{id}/resume"), None)
            .await;
        sqlx::query("UPDATE sandbox_events SET at = 1000")
            .execute(&fx.app.state.db.pool)
            .await
            .expect("one instant");

        let events = wrenn_cp::db::sandboxes::events(&fx.app.state.db, &id)
            .await
            .expect("events");

        let states: Vec<&str> = events.iter().map(|(_, _, to, _)| to.as_str()).collect();
        assert_eq!(
            states,
            ["pending", "starting", "running", "paused", "running"]
        );
    }
);
