//! `GET /v2/sandboxes` (state, metadata, order, startedAfter, template,
//! limit, `X-Next-Token`) and `GET /sandboxes`.
use super::*;

both_dbs!(
    list_when_default_then_running_and_paused_only,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let running = fx.create_id().await;
        let paused = fx.create_id().await;
        let killed = fx.create_id().await;
        fx.call(POST, &format!("/sandboxes/{paused}/pause"), None)
            .await;
        fx.call(DELETE, &format!("/sandboxes/{killed}"), None).await;

        let (all, next) = fx.listed("").await;
        let (only_paused, _) = fx.listed("?state=paused").await;
        let (both, _) = fx.listed("?state=running,paused").await;

        let mut all_sorted = all.clone();
        all_sorted.sort();
        let mut expected = vec![running.clone(), paused.clone()];
        expected.sort();
        assert_eq!(all_sorted, expected);
        assert_eq!(next, None);
        assert_eq!(only_paused, [paused]);
        assert_eq!(both.len(), 2);
    }
);

both_dbs!(list_when_listed_then_sdk_keys, |kind| async move {
    let fx = Fixture::start(kind).await;
    fx.create_id().await;

    let answer = fx.call(GET, "/v2/sandboxes", None).await;

    let listed = &answer.body[0];
    assert_keys(listed, DETAIL_KEYS);
    assert_eq!(listed["state"], "running");
});

both_dbs!(
    list_when_metadata_double_encoded_then_and_filter,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let both = id_of(
            &fx.create(json!({"templateID": "base", "metadata": {"a b": "c&d", "k": "v"}}))
                .await,
        );
        fx.create(json!({"templateID": "base", "metadata": {"a b": "c&d"}}))
            .await;
        fx.create(json!({"templateID": "base", "metadata": {"k": "v"}}))
            .await;

        // What e2b 2.63 sends for SandboxQuery(metadata={"a b": "c&d", "k": "v"}).
        let (ids, _) = fx.listed("?metadata=a%252520b%3Dc%252526d%26k%3Dv").await;

        assert_eq!(ids, [both]);
    }
);

both_dbs!(list_when_paged_then_every_sandbox_once, |kind| async move {
    let fx = Fixture::start(kind).await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(fx.create_id().await);
    }

    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let (ids, next) = fx.listed(&query).await;
        assert!(ids.len() <= 2, "{ids:?}");
        seen.extend(ids);
        pages += 1;
        match next {
            Some(token) => query = format!("?limit=2&nextToken={token}"),
            None => break,
        }
    }

    assert_eq!(pages, 3);
    let (mut seen_sorted, mut created_sorted) = (seen.clone(), created.clone());
    seen_sorted.sort();
    created_sorted.sort();
    assert_eq!(seen_sorted, created_sorted);
});

both_dbs!(
    list_when_order_asc_then_reverse_of_desc,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        for _ in 0..3 {
            fx.create_id().await;
        }

        let (desc, _) = fx.listed("?order=desc").await;
        let (mut asc, _) = fx.listed("?order=asc").await;
        let (asc_paged, next) = fx.listed("?order=asc&limit=1").await;
        let (second, _) = fx
            .listed(&format!(
                "?order=asc&limit=1&nextToken={}",
                next.expect("more")
            ))
            .await;

        assert_eq!(asc_paged[0], asc[0]);
        assert_eq!(second[0], asc[1]);
        asc.reverse();
        assert_eq!(asc, desc);
    }
);

both_dbs!(
    list_when_started_after_or_template_then_filtered,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;

        let (past, _) = fx.listed("?startedAfter=2000-01-01T00%3A00%3A00Z").await;
        let (future, _) = fx
            .listed("?startedAfter=2999-01-01T00%3A00%3A00%2B00%3A00")
            .await;
        let (base, _) = fx.listed("?template=base").await;
        let (other, _) = fx.listed("?template=code-interpreter-v1").await;

        assert_eq!(past, std::slice::from_ref(&id));
        assert!(future.is_empty());
        assert_eq!(base, [id]);
        assert!(other.is_empty());
    }
);

both_dbs!(list_when_bad_query_then_400, |kind| async move {
    let fx = Fixture::start(kind).await;

    for query in [
        "?limit=101",
        "?limit=0",
        "?state=stopped",
        "?order=sideways",
        "?metadata=k",
        "?metadata=k%3D%2525zz",
        "?nextToken=garbage!",
        "?startedAfter=soon",
        "?cursor=x",
    ] {
        let answer = fx.call(GET, &format!("/v2/sandboxes{query}"), None).await;
        answer.error(StatusCode::BAD_REQUEST);
    }
});

both_dbs!(list_v1_when_called_then_running_only, |kind| async move {
    let fx = Fixture::start(kind).await;
    let running = id_of(
        &fx.create(json!({"templateID": "base", "metadata": {"k": "v"}}))
            .await,
    );
    let paused = fx.create_id().await;
    fx.call(POST, &format!("/sandboxes/{paused}/pause"), None)
        .await;

    let all = fx.call(GET, "/sandboxes", None).await;
    let filtered = fx.call(GET, "/sandboxes?metadata=k%3Dv", None).await;
    let none = fx.call(GET, "/sandboxes?metadata=k%3Dw", None).await;

    assert_eq!(all.status, StatusCode::OK, "{all:?}");
    let ids: Vec<String> = all.body.as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(ids, [running]);
    assert_eq!(filtered.body.as_array().unwrap().len(), 1);
    assert_eq!(none.body, json!([]));
});
