//! `GET /v1/sandboxes`: newest first, filters, cursor pages, and refused
//! query parameters.
use super::*;

/// Creates `n` sandboxes, a few milliseconds apart; answers ids, oldest first.
async fn create_many(fx: &Fixture, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let sandbox = fx.create(json!({"metadata": {"n": i.to_string()}})).await;
        ids.push(id_of(&sandbox));
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    ids
}

both_dbs!(list_when_several_then_newest_first, |kind| async move {
    let fx = Fixture::start(kind).await;
    let mut ids = create_many(&fx, 3).await;

    let listed = fx.listed("").await;

    ids.reverse();
    assert_eq!(listed, ids);
});

both_dbs!(
    list_when_state_filter_then_only_that_state,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let ids = create_many(&fx, 3).await;
        fx.call(POST, &format!("/v1/sandboxes/{}/pause", ids[1]), None)
            .await;

        let paused = fx.listed("?state=paused").await;
        let running = fx.listed("?state=running").await;

        assert_eq!(paused, [ids[1].clone()]);
        assert_eq!(running, [ids[2].clone(), ids[0].clone()]);
    }
);

both_dbs!(
    list_when_metadata_filter_then_only_matching,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let ids = create_many(&fx, 3).await;
        let tagged = fx
            .create(json!({"metadata": {"n": "1", "team": "red"}}))
            .await;

        let by_n = fx.listed("?metadata%5Bn%5D=1").await;
        let by_both = fx.listed("?metadata%5Bn%5D=1&metadata%5Bteam%5D=red").await;
        let none = fx.listed("?metadata%5Bn%5D=9").await;

        assert_eq!(by_n, [id_of(&tagged), ids[1].clone()]);
        assert_eq!(by_both, [id_of(&tagged)]);
        assert!(none.is_empty());
    }
);

both_dbs!(
    list_when_paged_by_two_then_each_once_and_cursor_ends,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let mut ids = create_many(&fx, 5).await;

        let mut seen = Vec::new();
        let mut cursors = Vec::new();
        let mut path = "/v1/sandboxes?limit=2".to_owned();
        for _ in 0..5 {
            let (status, page) = fx.call(GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let sandboxes = page["sandboxes"].as_array().expect("sandboxes");
            assert!(sandboxes.len() <= 2);
            seen.extend(sandboxes.iter().map(id_of));
            match page["next_cursor"].as_str() {
                Some(cursor) => {
                    cursors.push(cursor.to_owned());
                    path = format!("/v1/sandboxes?limit=2&cursor={cursor}");
                }
                None => break,
            }
        }

        ids.reverse();
        assert_eq!(seen, ids, "every sandbox exactly once, newest first");
        assert_eq!(cursors.len(), 2, "three pages: 2 + 2 + 1");
    }
);

both_dbs!(
    list_when_same_millisecond_then_pages_still_complete,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let mut ids = create_many(&fx, 4).await;
        sqlx::query("UPDATE sandboxes SET created_at = 1000")
            .execute(&fx.app.state.db.pool)
            .await
            .expect("same instant");

        let first = fx.call(GET, "/v1/sandboxes?limit=3", None).await.1;
        let cursor = first["next_cursor"]
            .as_str()
            .expect("a second page")
            .to_owned();
        let second = fx.listed(&format!("?limit=3&cursor={cursor}")).await;

        let mut seen: Vec<String> = first["sandboxes"]
            .as_array()
            .expect("page")
            .iter()
            .map(id_of)
            .collect();
        seen.extend(second);
        seen.sort();
        ids.sort();
        assert_eq!(seen, ids);
    }
);

both_dbs!(list_when_bad_query_then_400, |kind| async move {
    let fx = Fixture::start(kind).await;
    let cases = [
        "?stat=running",
        "?state=zombie",
        "?limit=abc",
        "?limit=-1",
        "?cursor=%25%25",
        "?cursor=bm90LWEtY3Vyc29y",
    ];

    for query in cases {
        let (status, answer) = fx.call(GET, &format!("/v1/sandboxes{query}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {answer}");
        assert_error(&answer, "bad_request");
    }
});

both_dbs!(list_when_limit_out_of_range_then_422, |kind| async move {
    let fx = Fixture::start(kind).await;

    for query in ["?limit=0", "?limit=201"] {
        let (status, answer) = fx.call(GET, &format!("/v1/sandboxes{query}"), None).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {answer}"
        );
        assert_error(&answer, "validation_failed");
    }
});

both_dbs!(list_when_odd_metadata_keys_then_no_5xx, |kind| async move {
    let fx = Fixture::start(kind).await;
    fx.create(json!({"metadata": {"a\"b": "1", "a.b": "2", "$": "3", "a'b": "4"}}))
        .await;

    for (key, value) in [("a%22b", "1"), ("a.b", "2"), ("%24", "3"), ("a'b", "4")] {
        let listed = fx.listed(&format!("?metadata%5B{key}%5D={value}")).await;
        assert_eq!(listed.len(), 1, "metadata[{key}]");
    }
});
