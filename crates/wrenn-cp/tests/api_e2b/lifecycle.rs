//! One sandbox through E2B's calls: detail, timeout (0 = the timeout
//! action now), pause (409 when paused), connect v1 and v2 (200 running,
//! 201 resumed, deadlines only extended), resume, metrics history and kill.
use super::*;

fn deadline_ms(detail: &Value) -> i64 {
    let text = detail["endAt"].as_str().expect("endAt");
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap()
}

both_dbs!(
    detail_when_running_then_every_key_and_token,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = id_of(
            &fx.create(json!({"templateID": "base", "metadata": {"owner": "ada"}}))
                .await,
        );

        let answer = fx.detail(&id).await;

        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        let detail = &answer.body;
        assert_keys(detail, DETAIL_KEYS);
        assert_keys(
            detail,
            &[
                "allowInternetAccess",
                "domain",
                "network",
                "lifecycle",
                "volumeMounts",
            ],
        );
        assert_eq!(detail["state"], "running");
        assert_eq!(
            detail["envdAccessToken"],
            common::fake_agent::envd_token(&id)
        );
        assert_eq!(detail["metadata"], json!({"owner": "ada"}));
        assert_eq!(
            detail["lifecycle"],
            json!({"autoResume": false, "onTimeout": "kill"})
        );
        assert_eq!(detail["volumeMounts"], json!([]));
        assert_eq!(
            (detail["cpuCount"].clone(), detail["memoryMB"].clone()),
            (json!(1), json!(512))
        );
    }
);

both_dbs!(kill_when_running_then_204_then_404, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;

    let first = fx.call(DELETE, &format!("/sandboxes/{id}"), None).await;
    let second = fx.call(DELETE, &format!("/sandboxes/{id}"), None).await;

    assert_eq!(first.status, StatusCode::NO_CONTENT, "{first:?}");
    assert!(fx.agent.destroyed(&id));
    second.error(StatusCode::NOT_FOUND);
    fx.detail(&id).await.error(StatusCode::NOT_FOUND);
});

both_dbs!(
    timeout_when_set_then_204_and_deadline_moves,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        let before = deadline_ms(&fx.detail(&id).await.body);

        let answer = fx
            .call(
                POST,
                &format!("/sandboxes/{id}/timeout"),
                Some(json!({"timeout": 3600})),
            )
            .await;

        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{answer:?}");
        let after = deadline_ms(&fx.detail(&id).await.body);
        assert!(after > before + 3_000_000, "{before} → {after}");
    }
);

both_dbs!(timeout_when_zero_then_kill_now, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;

    let answer = fx
        .call(
            POST,
            &format!("/sandboxes/{id}/timeout"),
            Some(json!({"timeout": 0})),
        )
        .await;

    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{answer:?}");
    assert!(fx.agent.destroyed(&id));
    fx.detail(&id).await.error(StatusCode::NOT_FOUND);
});

both_dbs!(
    timeout_when_zero_and_auto_pause_then_paused,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = id_of(
            &fx.create(json!({"templateID": "base", "autoPause": true}))
                .await,
        );

        fx.call(
            POST,
            &format!("/sandboxes/{id}/timeout"),
            Some(json!({"timeout": 0})),
        )
        .await;

        assert_eq!(fx.detail(&id).await.body["state"], "paused");
        assert_eq!(fx.agent.pauses(), 1);
    }
);

both_dbs!(timeout_when_bad_value_then_400, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;
    let path = format!("/sandboxes/{id}/timeout");

    for body in [
        json!({"timeout": -1}),
        json!({"timeout": 86_401}),
        json!({}),
        json!({"timeout": "x"}),
    ] {
        let answer = fx.call(POST, &path, Some(body.clone())).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}: {answer:?}");
    }
});

both_dbs!(pause_when_running_then_204_then_409, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;
    let path = format!("/sandboxes/{id}/pause");

    let first = fx.call(POST, &path, Some(json!({}))).await;
    let second = fx.call(POST, &path, Some(json!({}))).await;

    assert_eq!(first.status, StatusCode::NO_CONTENT, "{first:?}");
    second.error(StatusCode::CONFLICT);
    let detail = fx.detail(&id).await.body;
    assert_eq!(detail["state"], "paused");
    assert!(detail.get("envdAccessToken").is_none(), "{detail}");
});

both_dbs!(
    pause_when_memory_false_then_204_disk_only,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;

        let answer = fx
            .call(
                POST,
                &format!("/sandboxes/{id}/pause"),
                Some(json!({"memory": false})),
            )
            .await;
        let again = fx
            .call(
                POST,
                &format!("/sandboxes/{id}/pause"),
                Some(json!({"memory": false})),
            )
            .await;

        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{answer:?}");
        again.error(StatusCode::CONFLICT);
        assert_eq!((fx.agent.disk_only_pauses(), fx.agent.pauses()), (1, 0));
        assert_eq!(fx.detail(&id).await.body["state"], "paused");
    }
);

both_dbs!(pause_when_malformed_body_then_400, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;

    let answer = fx
        .call(
            POST,
            &format!("/sandboxes/{id}/pause"),
            Some(json!({"memory": "no"})),
        )
        .await;

    answer.error(StatusCode::BAD_REQUEST);
    assert_eq!((fx.agent.disk_only_pauses(), fx.agent.pauses()), (0, 0));
});

both_dbs!(
    connect_v2_when_running_then_200_deadline_kept,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        fx.call(
            POST,
            &format!("/sandboxes/{id}/timeout"),
            Some(json!({"timeout": 3600})),
        )
        .await;
        let before = deadline_ms(&fx.detail(&id).await.body);

        let answer = fx
            .call(
                POST,
                &format!("/v2/sandboxes/{id}/connect"),
                Some(json!({"timeout": 10})),
            )
            .await;

        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        assert_keys(&answer.body, CREATED_KEYS);
        assert_eq!(
            answer.body["envdAccessToken"],
            common::fake_agent::envd_token(&id)
        );
        assert_eq!(deadline_ms(&fx.detail(&id).await.body), before);
    }
);

both_dbs!(
    connect_v2_when_running_and_longer_then_extended,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        let before = deadline_ms(&fx.detail(&id).await.body);

        fx.call(
            POST,
            &format!("/v2/sandboxes/{id}/connect"),
            Some(json!({"timeout": 7200})),
        )
        .await;

        assert!(deadline_ms(&fx.detail(&id).await.body) > before + 6_000_000);
    }
);

both_dbs!(
    connect_v2_when_paused_then_201_same_token,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let created = fx.create(json!({"templateID": "base"})).await;
        let id = id_of(&created);
        fx.call(POST, &format!("/sandboxes/{id}/pause"), Some(json!({})))
            .await;

        let answer = fx
            .call(
                POST,
                &format!("/v2/sandboxes/{id}/connect"),
                Some(json!({})),
            )
            .await;

        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        assert_eq!(answer.body["envdAccessToken"], created["envdAccessToken"]);
        assert_eq!(fx.detail(&id).await.body["state"], "running");
        assert_eq!(fx.agent.resumes(), 1);
    }
);

both_dbs!(connect_v1_when_no_timeout_then_400, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;
    let path = format!("/sandboxes/{id}/connect");

    fx.call(POST, &path, Some(json!({})))
        .await
        .error(StatusCode::BAD_REQUEST);
    let answer = fx.call(POST, &path, Some(json!({"timeout": 60}))).await;

    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
});

both_dbs!(
    resume_when_paused_then_201_and_when_running_409,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        let path = format!("/sandboxes/{id}/resume");

        fx.call(POST, &path, Some(json!({})))
            .await
            .error(StatusCode::CONFLICT);
        fx.call(POST, &format!("/sandboxes/{id}/pause"), None).await;
        let answer = fx.call(POST, &path, None).await;

        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
    }
);

both_dbs!(
    metrics_when_host_history_then_series_in_window,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        for (at_s, used) in [(1_000, 1), (1_005, 2), (1_010, 3)] {
            fx.agent.add_metrics(
                &id,
                at_s * 1000 + 250,
                json!({"cpu_count": 1, "cpu_used_pct": 12.5, "mem_total": 1_073_741_824u64,
                    "mem_used": used, "mem_cache": 0, "disk_used": 7, "disk_total": 9}),
            );
        }

        let all = fx
            .call(GET, &format!("/sandboxes/{id}/metrics"), None)
            .await;
        let window = fx
            .call(
                GET,
                &format!("/sandboxes/{id}/metrics?start=1005&end=1005"),
                None,
            )
            .await;
        let before = fx
            .call(
                GET,
                &format!("/sandboxes/{id}/metrics?start=0&end=999"),
                None,
            )
            .await;

        assert_eq!(all.status, StatusCode::OK, "{all:?}");
        let samples = all.body.as_array().expect("a list");
        assert_eq!(samples.len(), 3, "{all:?}");
        for sample in samples {
            assert_keys(
                sample,
                &[
                    "timestamp",
                    "timestampUnix",
                    "cpuCount",
                    "cpuUsedPct",
                    "memUsed",
                    "memTotal",
                    "memCache",
                    "diskUsed",
                    "diskTotal",
                ],
            );
        }
        let used: Vec<&Value> = samples.iter().map(|s| &s["memUsed"]).collect();
        assert_eq!(used, [&json!(1), &json!(2), &json!(3)], "oldest first");
        assert_eq!(samples[0]["timestampUnix"], 1_000);
        assert_eq!(samples[0]["timestamp"], "1970-01-01T00:16:40Z");
        assert_eq!(samples[0]["memTotal"], 1_073_741_824u64);
        let in_window = window.body.as_array().expect("a list");
        assert_eq!(in_window.len(), 1, "{window:?}");
        assert_eq!(in_window[0]["memUsed"], 2);
        assert_eq!(before.body, json!([]));
    }
);

both_dbs!(
    metrics_when_paused_or_bad_window_then_empty_or_400,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        let path = format!("/sandboxes/{id}/metrics");

        fx.call(GET, &format!("{path}?start=10&end=5"), None)
            .await
            .error(StatusCode::BAD_REQUEST);
        fx.call(GET, &format!("{path}?start=yesterday"), None)
            .await
            .error(StatusCode::BAD_REQUEST);
        fx.call(POST, &format!("/sandboxes/{id}/pause"), None).await;
        let paused = fx.call(GET, &path, None).await;

        assert_eq!((paused.status, paused.body), (StatusCode::OK, json!([])));
    }
);
