//! The platform directory: every user and team, in pages, searchable,
//! for platform admins only.
use super::*;

fn emails(page: &Value) -> Vec<String> {
    page["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["email"].as_str().expect("email").to_owned())
        .collect()
}

both_dbs!(
    admin_users_when_listed_then_pages_search_and_non_admin_refused,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let (admin, _) = app.signup("admin@example.com").await;
        let (bob, _) = app.signup("bob@example.com").await;
        app.signup("carol@example.com").await;
        app.signup("bobby_tables@example.com").await;

        let (refused, answer) = app.request(GET, "/v1/admin/users", Some(&bob), None).await;
        let (status, first) = app
            .request(GET, "/v1/admin/users?limit=3", Some(&admin), None)
            .await;
        let cursor = first["next_cursor"].as_str().expect("next page").to_owned();
        let (_, second) = app
            .request(
                GET,
                &format!("/v1/admin/users?limit=3&cursor={cursor}"),
                Some(&admin),
                None,
            )
            .await;
        let (_, found) = app
            .request(GET, "/v1/admin/users?q=BOB", Some(&admin), None)
            .await;
        // `_` is a literal underscore, not LIKE's any-character.
        let (_, literal) = app
            .request(GET, "/v1/admin/users?q=y_t", Some(&admin), None)
            .await;
        let (_, wildcard) = app
            .request(GET, "/v1/admin/users?q=b_b", Some(&admin), None)
            .await;
        let (bad_limit, bad_answer) = app
            .request(GET, "/v1/admin/users?limit=0", Some(&admin), None)
            .await;

        assert_eq!(refused, StatusCode::FORBIDDEN);
        assert_error(&answer, "forbidden");
        assert_eq!(status, StatusCode::OK);
        let mut all = emails(&first);
        all.extend(emails(&second));
        all.sort();
        assert_eq!(
            all,
            [
                "admin@example.com",
                "bob@example.com",
                "bobby_tables@example.com",
                "carol@example.com"
            ]
        );
        assert_eq!(emails(&first).len(), 3);
        assert!(second["next_cursor"].is_null());
        let admin_row = first["users"]
            .as_array()
            .expect("users")
            .iter()
            .chain(second["users"].as_array().expect("users"))
            .find(|u| u["email"] == "admin@example.com")
            .expect("admin listed")
            .clone();
        assert_eq!(admin_row["is_admin"], true);
        assert!(admin_row["created_at"].as_str().is_some());
        assert!(admin_row.get("password_hash").is_none());
        let mut bobs = emails(&found);
        bobs.sort();
        assert_eq!(bobs, ["bob@example.com", "bobby_tables@example.com"]);
        assert_eq!(emails(&literal), ["bobby_tables@example.com"]);
        assert!(emails(&wildcard).is_empty());
        assert_eq!(bad_limit, StatusCode::UNPROCESSABLE_ENTITY);
        assert_error(&bad_answer, "validation_failed");
    }
);

both_dbs!(
    admin_teams_when_listed_then_member_counts_pages_and_non_admin_refused,
    |kind| async move {
        let app = TestApp::start(kind).await;
        let (admin, _) = app.signup("admin@example.com").await;
        let (bob, _) = app.signup("bob@example.com").await;
        let (status, team) = app
            .request(
                POST,
                "/v1/teams",
                Some(&admin),
                Some(json!({"name": "Research Lab"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{team}");
        let team_id = team["id"].as_str().expect("id").to_owned();
        let (status, _) = app
            .request(
                POST,
                &format!("/v1/teams/{team_id}/members"),
                Some(&admin),
                Some(json!({"email": "bob@example.com", "role": "member"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);

        let (refused, answer) = app.request(GET, "/v1/admin/teams", Some(&bob), None).await;
        let (status, first) = app
            .request(GET, "/v1/admin/teams?limit=2", Some(&admin), None)
            .await;
        let cursor = first["next_cursor"].as_str().expect("next page").to_owned();
        let (_, second) = app
            .request(
                GET,
                &format!("/v1/admin/teams?limit=2&cursor={cursor}"),
                Some(&admin),
                None,
            )
            .await;
        let (_, found) = app
            .request(GET, "/v1/admin/teams?q=research", Some(&admin), None)
            .await;

        assert_eq!(refused, StatusCode::FORBIDDEN);
        assert_error(&answer, "forbidden");
        assert_eq!(status, StatusCode::OK);
        let teams: Vec<&Value> = first["teams"]
            .as_array()
            .expect("teams")
            .iter()
            .chain(second["teams"].as_array().expect("teams"))
            .collect();
        assert_eq!(teams.len(), 3, "two personal teams and Research Lab");
        assert_eq!(teams.iter().filter(|t| t["personal"] == true).count(), 2);
        assert!(second["next_cursor"].is_null());
        let found = found["teams"].as_array().expect("teams");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["id"], team_id.as_str());
        assert_eq!(found[0]["name"], "Research Lab");
        assert_eq!(found[0]["personal"], false);
        assert_eq!(found[0]["member_count"], 2);
    }
);
