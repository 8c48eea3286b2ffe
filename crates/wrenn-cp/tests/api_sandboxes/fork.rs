//! Forks and filesystem-only pauses: the copies' records, the bound on the
//! count, the team's limit, other teams, a source that is not running, a
//! host that fails (no copy or record left), and `{"memory": false}`.
use super::*;

both_dbs!(
    fork_when_two_copies_then_201_running_records_like_the_source,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let source = fx
            .create(json!({"metadata": {"owner": "ada"}, "timeout_secs": 600}))
            .await;
        let id = id_of(&source);

        let (status, answer) = fx
            .call(
                POST,
                &format!("/v1/sandboxes/{id}/fork"),
                Some(json!({"count": 2, "timeout_secs": 120})),
            )
            .await;

        assert_eq!(status, StatusCode::CREATED, "{answer}");
        let copies = answer["sandboxes"].as_array().expect("sandboxes");
        assert_eq!(copies.len(), 2, "{answer}");
        for copy in copies {
            assert_eq!(copy["state"], "running", "{copy}");
            assert_ne!(id_of(copy), id);
            assert_eq!(copy["metadata"], json!({"owner": "ada"}));
            assert_eq!(copy["timeout_secs"], 120);
            assert_eq!(copy["host_id"], source["host_id"]);
        }
        let forks = fx.agent.forks();
        assert_eq!(forks.len(), 1);
        assert_eq!(forks[0].0, id);
        assert_eq!(forks[0].1, copies.iter().map(id_of).collect::<Vec<_>>());
        assert_eq!(forks[0].2, Some(120));
        assert_eq!(fx.state_of(&id).await, "running", "the source runs on");
        assert_eq!(fx.listed("").await.len(), 3);
    }
);

both_dbs!(
    fork_when_no_body_fields_then_one_copy_with_the_source_timeout,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = id_of(&fx.create(json!({"timeout_secs": 900})).await);

        let (status, answer) = fx
            .call(POST, &format!("/v1/sandboxes/{id}/fork"), Some(json!({})))
            .await;

        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["sandboxes"].as_array().map(Vec::len), Some(1));
        assert_eq!(answer["sandboxes"][0]["timeout_secs"], 900);
    }
);

both_dbs!(
    fork_when_count_over_limit_then_400_fork_limit_exceeded_and_host_not_asked,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;

        let (over, answer) = fx
            .call(
                POST,
                &format!("/v1/sandboxes/{id}/fork"),
                Some(json!({"count": 17})),
            )
            .await;
        let (zero, zero_answer) = fx
            .call(
                POST,
                &format!("/v1/sandboxes/{id}/fork"),
                Some(json!({"count": 0})),
            )
            .await;
        let (unknown, unknown_answer) = fx
            .call(
                POST,
                &format!("/v1/sandboxes/{id}/fork"),
                Some(json!({"copies": 2})),
            )
            .await;

        assert_eq!(over, StatusCode::BAD_REQUEST, "{answer}");
        assert_error(&answer, "fork_limit_exceeded");
        assert_eq!(zero, StatusCode::UNPROCESSABLE_ENTITY, "{zero_answer}");
        assert!(unknown.is_client_error(), "{unknown}: {unknown_answer}");
        assert!(fx.agent.forks().is_empty());
        assert_eq!(fx.listed("").await, [id]);
    }
);

both_dbs!(
    fork_when_other_team_or_unknown_then_404,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        let (bob, _) = fx.app.signup("bob@example.com").await;

        let (theirs, answer) = fx
            .app
            .request(
                POST,
                &format!("/v1/sandboxes/{id}/fork"),
                Some(&bob),
                Some(json!({})),
            )
            .await;
        let (unknown, _) = fx
            .call(POST, "/v1/sandboxes/nosuchsandbox1/fork", Some(json!({})))
            .await;

        assert_eq!(theirs, StatusCode::NOT_FOUND, "{answer}");
        assert_error(&answer, "not_found");
        assert_eq!(unknown, StatusCode::NOT_FOUND);
        assert!(fx.agent.forks().is_empty());
    }
);

both_dbs!(fork_when_source_paused_then_409, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;
    fx.call(POST, &format!("/v1/sandboxes/{id}/pause"), None)
        .await;

    let (status, answer) = fx
        .call(POST, &format!("/v1/sandboxes/{id}/fork"), Some(json!({})))
        .await;

    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_error(&answer, "sandbox_not_running");
    assert!(fx.agent.forks().is_empty());
});

both_dbs!(
    fork_when_copies_exceed_team_limit_then_429_and_nothing_recorded,
    |kind| async move {
        let fx = Fixture::configured(kind, &[("CP_MAX_SANDBOXES_PER_TEAM", "3")]).await;
        let id = fx.create_id().await;

        let (status, answer) = fx
            .call(
                POST,
                &format!("/v1/sandboxes/{id}/fork"),
                Some(json!({"count": 3})),
            )
            .await;

        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
        assert_error(&answer, "quota_exceeded");
        assert!(fx.agent.forks().is_empty());
        assert_eq!(fx.listed("").await, [id]);
    }
);

both_dbs!(
    fork_when_host_fails_then_error_and_no_copy_or_record_left,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        fx.agent
            .fail_next_fork(wrenn_cp::agent::AgentError::Unavailable(
                "restore failed".into(),
            ));

        let (status, answer) = fx
            .call(
                POST,
                &format!("/v1/sandboxes/{id}/fork"),
                Some(json!({"count": 2})),
            )
            .await;

        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
        assert_error(&answer, "agent_unavailable");
        let asked = fx.agent.forks();
        assert_eq!(asked.len(), 1);
        for copy in &asked[0].1 {
            assert!(fx.agent.destroyed(copy), "the host was told to drop {copy}");
            assert_eq!(fx.agent.state(copy), None);
        }
        assert_eq!(
            fx.listed("").await,
            std::slice::from_ref(&id),
            "no copy's record stays"
        );
        assert_eq!(fx.state_of(&id).await, "running");
    }
);

both_dbs!(
    pause_when_memory_false_then_disk_only_and_resume_works,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;

        let (status, paused) = fx
            .call(
                POST,
                &format!("/v1/sandboxes/{id}/pause"),
                Some(json!({"memory": false})),
            )
            .await;
        let (resumed, _) = fx
            .call(POST, &format!("/v1/sandboxes/{id}/resume"), None)
            .await;
        let (bad, bad_answer) = fx
            .call(
                POST,
                &format!("/v1/sandboxes/{id}/pause"),
                Some(json!({"memory": "no"})),
            )
            .await;

        assert_eq!(status, StatusCode::OK, "{paused}");
        assert_eq!(paused["state"], "paused");
        assert_eq!(fx.agent.disk_only_pauses(), 1);
        assert_eq!(fx.agent.pauses(), 0, "not a memory pause");
        assert_eq!(resumed, StatusCode::OK);
        assert_eq!(bad, StatusCode::BAD_REQUEST, "{bad_answer}");
        assert_error(&bad_answer, "invalid_json");
        assert_eq!(fx.state_of(&id).await, "running");
    }
);

both_dbs!(
    network_when_put_then_host_applies_whole_policy_and_record_follows,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = id_of(&fx.create(json!({"egress_allow": ["10.0.0.0/8"]})).await);

        let (status, sandbox) = fx
            .call(
                PUT,
                &format!("/v1/sandboxes/{id}/network"),
                Some(json!({"internet": false, "deny_out": ["8.8.8.8/32"]})),
            )
            .await;

        assert_eq!(status, StatusCode::OK, "{sandbox}");
        assert_eq!(sandbox["internet"], false);
        assert_eq!(sandbox["egress_deny"], json!(["8.8.8.8/32"]));
        assert_eq!(
            sandbox["egress_allow"],
            json!([]),
            "omitted lists are cleared"
        );
        let updates = fx.agent.egress_updates();
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].0, id);
        assert!(!updates[0].1.internet);
        assert_eq!(updates[0].1.deny, ["8.8.8.8/32"]);
        assert!(updates[0].1.allow.is_empty());
    }
);

both_dbs!(
    network_when_bad_cidr_other_team_or_stopped_then_refused_and_host_not_asked,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        let (bob, _) = fx.app.signup("bob@example.com").await;
        let path = format!("/v1/sandboxes/{id}/network");

        let (bad, bad_answer) = fx
            .call(PUT, &path, Some(json!({"deny_out": ["not-a-cidr"]})))
            .await;
        let (theirs, _) = fx
            .app
            .request(PUT, &path, Some(&bob), Some(json!({})))
            .await;
        fx.call(DELETE, &format!("/v1/sandboxes/{id}"), None).await;
        let (stopped, stopped_answer) = fx.call(PUT, &path, Some(json!({}))).await;

        assert_eq!(bad, StatusCode::UNPROCESSABLE_ENTITY, "{bad_answer}");
        assert_eq!(theirs, StatusCode::NOT_FOUND);
        assert_eq!(stopped, StatusCode::CONFLICT, "{stopped_answer}");
        assert_error(&stopped_answer, "sandbox_not_running");
        assert!(fx.agent.egress_updates().is_empty());
    }
);

both_dbs!(
    snapshots_when_made_then_templates_listed_by_sandbox_and_name,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let a = fx.create_id().await;
        let b = fx.create_id().await;

        let (named, snap) = fx
            .call(
                POST,
                &format!("/v1/sandboxes/{a}/snapshots"),
                Some(json!({"name": "my-snap"})),
            )
            .await;
        let (unnamed, other) = fx
            .call(
                POST,
                &format!("/v1/sandboxes/{b}/snapshots"),
                Some(json!({})),
            )
            .await;
        let (_, of_a) = fx
            .call(GET, &format!("/v1/snapshots?sandbox_id={a}"), None)
            .await;
        let (_, by_name) = fx.call(GET, "/v1/snapshots?name=my-snap", None).await;
        let (_, all) = fx.call(GET, "/v1/snapshots", None).await;

        assert_eq!(named, StatusCode::CREATED, "{snap}");
        assert_eq!(snap["name"], "my-snap");
        assert_eq!(snap["source_sandbox_id"], a.as_str());
        assert_eq!(unnamed, StatusCode::CREATED, "{other}");
        assert!(
            other["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("snap-")),
            "{other}"
        );
        assert_eq!(
            of_a["snapshots"].as_array().map(Vec::len),
            Some(1),
            "{of_a}"
        );
        assert_eq!(of_a["snapshots"][0]["name"], "my-snap");
        assert_eq!(by_name["snapshots"].as_array().map(Vec::len), Some(1));
        assert_eq!(all["snapshots"].as_array().map(Vec::len), Some(2), "{all}");
        let (created, sandbox) = fx
            .call(POST, "/v1/sandboxes", Some(json!({"template": "my-snap"})))
            .await;
        assert_eq!(
            created,
            StatusCode::CREATED,
            "a snapshot is a template: {sandbox}"
        );
    }
);

both_dbs!(
    snapshots_when_other_team_or_taken_name_then_404_or_409_and_not_listed,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        let (bob, _) = fx.app.signup("bob@example.com").await;
        fx.call(
            POST,
            &format!("/v1/sandboxes/{id}/snapshots"),
            Some(json!({"name": "taken"})),
        )
        .await;

        let (theirs, _) = fx
            .app
            .request(
                POST,
                &format!("/v1/sandboxes/{id}/snapshots"),
                Some(&bob),
                Some(json!({})),
            )
            .await;
        let (_, bobs) = fx.app.request(GET, "/v1/snapshots", Some(&bob), None).await;
        let (again, answer) = fx
            .call(
                POST,
                &format!("/v1/sandboxes/{id}/snapshots"),
                Some(json!({"name": "taken"})),
            )
            .await;
        let (bad, _) = fx
            .call(
                POST,
                &format!("/v1/sandboxes/{id}/snapshots"),
                Some(json!({"name": "Not A Name"})),
            )
            .await;

        assert_eq!(theirs, StatusCode::NOT_FOUND);
        assert_eq!(bobs["snapshots"], json!([]), "{bobs}");
        assert_eq!(again, StatusCode::CONFLICT, "{answer}");
        assert_eq!(bad, StatusCode::UNPROCESSABLE_ENTITY);
    }
);

both_dbs!(
    metrics_history_when_window_given_then_samples_inside_it_in_mb,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        for at_secs in [1_000_i64, 1_005, 1_010] {
            let sample = json!({"cpu_count": 2, "cpu_used_pct": 12.5,
                "mem_total": 512_u64 << 20, "mem_used": 100_u64 << 20,
                "disk_total": 2048_u64 << 20, "disk_used": 300_u64 << 20});
            fx.agent.add_metrics(&id, at_secs * 1000, sample);
        }
        let path = format!("/v1/sandboxes/{id}/metrics/history");

        let (status, all) = fx.call(GET, &path, None).await;
        let (_, window) = fx
            .call(GET, &format!("{path}?start=1005&end=1010"), None)
            .await;
        let (reversed, _) = fx
            .call(GET, &format!("{path}?start=1010&end=1000"), None)
            .await;
        let (bob, _) = fx.app.signup("bob@example.com").await;
        let (theirs, _) = fx.app.request(GET, &path, Some(&bob), None).await;

        assert_eq!(status, StatusCode::OK, "{all}");
        assert_eq!(all["samples"].as_array().map(Vec::len), Some(3), "{all}");
        let first = &all["samples"][0];
        assert_eq!(first["timestamp_unix"], 1000);
        assert_eq!(first["cpu_count"], 2);
        assert_eq!(first["mem_used_mb"], 100);
        assert_eq!(first["disk_total_mb"], 2048);
        assert!(first["timestamp"].is_string());
        let stamps: Vec<_> = window["samples"]
            .as_array()
            .expect("samples")
            .iter()
            .map(|s| s["timestamp_unix"].clone())
            .collect();
        assert_eq!(stamps, [json!(1005), json!(1010)]);
        assert_eq!(reversed, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(theirs, StatusCode::NOT_FOUND);
    }
);
