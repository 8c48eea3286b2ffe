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
