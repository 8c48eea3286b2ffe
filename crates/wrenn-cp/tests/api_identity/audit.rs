//! The audit log: the team's events only, in pages.
use super::*;

both_dbs!(
    audit_when_listed_then_team_events_only_in_pages,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let (ada, ada_team) = app.signup("ada@example.com").await;
        let (bob, _) = app.signup("bob@example.com").await;
        // Events of one millisecond would order by their random ids.
        let tick = || tokio::time::sleep(std::time::Duration::from_millis(3));
        tick().await;
        app.api_key(&ada).await;
        tick().await;
        app.request(
            POST,
            "/v1/auth/login",
            None,
            creds("ada@example.com", "wrong password"),
        )
        .await;
        app.api_key(&bob).await;

        let (status, first) = app
            .request(GET, "/v1/audit?limit=2", Some(&ada), None)
            .await;
        let cursor = first["next_cursor"].as_str().expect("next page").to_owned();
        let (_, second) = app
            .request(
                GET,
                &format!("/v1/audit?limit=2&cursor={cursor}"),
                Some(&ada),
                None,
            )
            .await;
        let (bad, bad_answer) = app
            .request(GET, "/v1/audit?cursor=%25%25", Some(&ada), None)
            .await;

        assert_eq!(status, StatusCode::OK);
        let events: Vec<&Value> = first["events"]
            .as_array()
            .expect("events")
            .iter()
            .chain(second["events"].as_array().expect("events"))
            .collect();
        let actions: Vec<&str> = events
            .iter()
            .map(|e| e["action"].as_str().expect("action"))
            .collect();
        assert_eq!(actions, ["user.login", "api_key.create", "user.signup"]);
        assert!(events.iter().all(|e| e["team_id"] == ada_team.as_str()));
        assert_eq!(events[0]["outcome"], "denied");
        assert!(second["next_cursor"].is_null());
        assert_eq!(bad, StatusCode::BAD_REQUEST);
        assert_error(&bad_answer, "bad_request");
    }
);

fn actions(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["action"].as_str().expect("action").to_owned())
        .collect()
}

both_dbs!(
    audit_when_filtered_then_server_matches_every_filter_in_pages,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let (ada, ada_team) = app.signup("ada@example.com").await;
        let (bob, _) = app.signup("bob@example.com").await;
        let tick = || tokio::time::sleep(std::time::Duration::from_millis(3));
        tick().await;
        app.api_key(&ada).await;
        tick().await;
        app.api_key(&ada).await;
        tick().await;
        app.request(
            POST,
            "/v1/auth/login",
            None,
            creds("ada@example.com", "wrong password"),
        )
        .await;
        app.api_key(&bob).await;
        let (_, me) = app.request(GET, "/v1/me", Some(&ada), None).await;
        let ada_id = me["user"]["id"].as_str().expect("id").to_owned();
        let get = |query: String| {
            let app = &app;
            let ada = &ada;
            async move {
                app.request(GET, &format!("/v1/audit?{query}"), Some(ada), None)
                    .await
            }
        };

        let (status, keys) = get("action=api_key.create".into()).await;
        let (_, users) = get("action=user.*".into()).await;
        let (_, denied) = get("outcome=denied".into()).await;
        let (_, first) = get("action=api_key.*&limit=1".into()).await;
        let cursor = first["next_cursor"].as_str().expect("next page").to_owned();
        let (_, second) = get(format!("action=api_key.*&limit=1&cursor={cursor}")).await;
        let (_, by_actor) = get(format!("actor={ada_id}&action=api_key.create")).await;
        let (_, none_yet) = get("until=1970-01-02T00:00:00Z".into()).await;
        let (_, all_time) = get(format!(
            "since=1970-01-01T00:00:00Z&until=2999-01-01T00:00:00%2B00:00&target={ada_id}"
        ))
        .await;
        let bad: Vec<(StatusCode, Value)> = futures_bad(&get).await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(actions(&keys), ["api_key.create", "api_key.create"]);
        assert_eq!(actions(&users), ["user.login", "user.signup"]);
        assert_eq!(actions(&denied), ["user.login"]);
        assert_eq!(actions(&first), ["api_key.create"]);
        assert_eq!(actions(&second), ["api_key.create"]);
        assert_ne!(first["events"][0]["id"], second["events"][0]["id"]);
        assert!(second["next_cursor"].is_null());
        assert_eq!(actions(&by_actor).len(), 2);
        assert!(actions(&none_yet).is_empty());
        assert!(all_time["events"]
            .as_array()
            .expect("events")
            .iter()
            .all(|e| e["resource_id"] == ada_id.as_str() && e["team_id"] == ada_team.as_str()));
        assert!(!actions(&all_time).is_empty());
        for (status, answer) in bad {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
            assert_error(&answer, "validation_failed");
        }
    }
);

/// Values no event could have: each is refused with a typed 422.
async fn futures_bad<F, Fut>(get: &F) -> Vec<(StatusCode, Value)>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = (StatusCode, Value)>,
{
    let mut answers = Vec::new();
    for query in [
        "outcome=maybe",
        "since=yesterday",
        "until=2026-13-01T00:00:00Z",
        "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
        "action=sand*",
        "action=*.create",
    ] {
        answers.push(get(query.to_owned()).await);
    }
    answers
}
