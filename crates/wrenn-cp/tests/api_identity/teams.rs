//! Teams, members and the platform-admin flag.
use super::*;

both_dbs!(
    members_when_owner_adds_then_member_acts_on_team,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let (ada, _) = app.signup("ada@example.com").await;
        let (bob, _) = app.signup("bob@example.com").await;
        let (created, team) = app
            .request(POST, "/v1/teams", Some(&ada), Some(json!({"name": "Lab"})))
            .await;
        let team_id = team["id"].as_str().expect("id").to_owned();
        let members = format!("/v1/teams/{team_id}/members");

        let (added, member) = app
            .request(
                POST,
                &members,
                Some(&ada),
                Some(json!({"email": "BOB@example.com", "role": "member"})),
            )
            .await;
        let (_, list) = app.request(GET, &members, Some(&bob), None).await;
        let (_, bob_me) = app
            .request_with(GET, "/v1/me", Some(&bob), &[("x-team-id", &team_id)], None)
            .await;
        let (_, bob_teams) = app.request(GET, "/v1/teams", Some(&bob), None).await;

        assert_eq!(
            (created, added),
            (StatusCode::CREATED, StatusCode::CREATED),
            "{team} {member}"
        );
        assert_eq!(team["role"], "owner");
        assert_eq!(member["email"], "bob@example.com");
        assert_eq!(list["members"].as_array().map(Vec::len), Some(2));
        assert_eq!(bob_me["team"]["id"], team_id.as_str());
        assert_eq!(bob_me["team"]["role"], "member");
        assert_eq!(bob_teams["teams"].as_array().map(Vec::len), Some(2));
    }
);

both_dbs!(
    members_when_not_owner_or_last_owner_then_refused,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let (ada, ada_team) = app.signup("ada@example.com").await;
        let (bob, _) = app.signup("bob@example.com").await;
        app.signup("carol@example.com").await;
        let members = format!("/v1/teams/{ada_team}/members");
        app.request(
            POST,
            &members,
            Some(&ada),
            Some(json!({"email": "bob@example.com", "role": "member"})),
        )
        .await;
        let (_, me) = app.request(GET, "/v1/me", Some(&ada), None).await;
        let ada_id = me["user"]["id"].as_str().expect("id");

        let (by_member, member_answer) = app
            .request(
                POST,
                &members,
                Some(&bob),
                Some(json!({"email": "carol@example.com", "role": "member"})),
            )
            .await;
        let (last_owner, owner_answer) = app
            .request(DELETE, &format!("{members}/{ada_id}"), Some(&ada), None)
            .await;
        let (unknown, _) = app
            .request(
                POST,
                &members,
                Some(&ada),
                Some(json!({"email": "nobody@example.com", "role": "member"})),
            )
            .await;
        let (twice, _) = app
            .request(
                POST,
                &members,
                Some(&ada),
                Some(json!({"email": "bob@example.com", "role": "owner"})),
            )
            .await;

        assert_eq!(by_member, StatusCode::FORBIDDEN);
        assert_error(&member_answer, "forbidden");
        assert_eq!(last_owner, StatusCode::CONFLICT);
        assert_error(&owner_answer, "conflict");
        assert_eq!(
            (unknown, twice),
            (StatusCode::NOT_FOUND, StatusCode::CONFLICT)
        );
    }
);

both_dbs!(
    members_when_owner_removes_member_then_gone,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let (ada, ada_team) = app.signup("ada@example.com").await;
        let (bob, _) = app.signup("bob@example.com").await;
        let members = format!("/v1/teams/{ada_team}/members");
        let (_, member) = app
            .request(
                POST,
                &members,
                Some(&ada),
                Some(json!({"email": "bob@example.com", "role": "member"})),
            )
            .await;
        let bob_id = member["user_id"].as_str().expect("id");

        let (removed, _) = app
            .request(DELETE, &format!("{members}/{bob_id}"), Some(&ada), None)
            .await;
        let (again, _) = app
            .request(DELETE, &format!("{members}/{bob_id}"), Some(&ada), None)
            .await;
        let (bob_view, _) = app.request(GET, &members, Some(&bob), None).await;

        assert_eq!(removed, StatusCode::NO_CONTENT);
        assert_eq!(again, StatusCode::NOT_FOUND);
        assert_eq!(bob_view, StatusCode::NOT_FOUND);
    }
);

both_dbs!(
    admin_when_not_platform_admin_then_403_else_flag_set,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let (admin, _) = app.signup("admin@example.com").await;
        let (bob, _) = app.signup("bob@example.com").await;
        let (_, me) = app.request(GET, "/v1/me", Some(&bob), None).await;
        let path = format!(
            "/v1/admin/users/{}/admin",
            me["user"]["id"].as_str().expect("id")
        );

        let (refused, answer) = app
            .request(
                Method::PUT,
                &path,
                Some(&bob),
                Some(json!({"is_admin": true})),
            )
            .await;
        let (granted, user) = app
            .request(
                Method::PUT,
                &path,
                Some(&admin),
                Some(json!({"is_admin": true})),
            )
            .await;
        let (missing, _) = app
            .request(
                Method::PUT,
                "/v1/admin/users/usr_nobody/admin",
                Some(&admin),
                Some(json!({"is_admin": true})),
            )
            .await;

        assert_eq!(refused, StatusCode::FORBIDDEN);
        assert_error(&answer, "forbidden");
        assert_eq!(
            (granted, user["is_admin"].clone()),
            (StatusCode::OK, Value::Bool(true))
        );
        assert_eq!(missing, StatusCode::NOT_FOUND);
    }
);
