//! Deleting teams and users, and the retention purge of old sandbox
//! records (issue #11, found-item 7), on a fake host.
use std::{sync::Arc, time::Duration};

use common::fake_agent::FakeAgent;

use super::*;

struct World {
    app: TestApp,
    agent: Arc<FakeAgent>,
}

impl World {
    async fn start(kind: Kind) -> Self {
        let agent = FakeAgent::new();
        let app = TestApp::start_with_agent(kind, agent.clone()).await;
        Self { app, agent }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        team: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let headers: Vec<(&str, &str)> = team.map(|t| ("x-team-id", t)).into_iter().collect();
        self.app
            .request_with(method, path, Some(token), &headers, body)
            .await
    }

    async fn sandbox(&self, token: &str, team: Option<&str>) -> String {
        let (status, sandbox) = self
            .call(POST, "/v1/sandboxes", token, team, Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{sandbox}");
        sandbox["id"].as_str().expect("id").to_owned()
    }

    async fn shared_team(&self, token: &str, name: &str) -> String {
        let (_, team) = self
            .call(POST, "/v1/teams", token, None, Some(json!({"name": name})))
            .await;
        team["id"].as_str().expect("team id").to_owned()
    }

    async fn user_id(&self, token: &str) -> String {
        let (_, me) = self.call(GET, "/v1/me", token, None, None).await;
        me["user"]["id"].as_str().expect("user id").to_owned()
    }

    async fn audit_actions(&self, team_id: &str) -> Vec<String> {
        sqlx::query_scalar("SELECT action FROM audit_events WHERE team_id = $1 ORDER BY at, id")
            .bind(team_id)
            .fetch_all(&self.app.state.db.pool)
            .await
            .expect("audit events")
    }

    async fn count(&self, sql: &str, team_id: &str) -> i64 {
        sqlx::query_scalar(sql)
            .bind(team_id)
            .fetch_one(&self.app.state.db.pool)
            .await
            .expect("count")
    }
}

both_dbs!(
    delete_team_when_owner_then_vms_destroyed_keys_dead_records_gone_audit_kept,
    |kind| async move {
        let w = World::start(kind).await;
        let (ada, _) = w.app.signup("ada@example.com").await;
        let team = w.shared_team(&ada, "lab").await;
        let running = w.sandbox(&ada, Some(&team)).await;
        let stopped = w.sandbox(&ada, Some(&team)).await;
        w.call(
            DELETE,
            &format!("/v1/sandboxes/{stopped}"),
            &ada,
            Some(&team),
            None,
        )
        .await;
        let (_, template) = w
            .call(
                POST,
                &format!("/v1/sandboxes/{running}/snapshot"),
                &ada,
                Some(&team),
                Some(json!({"name": "py"})),
            )
            .await;
        let (_, key) = w
            .call(
                POST,
                "/v1/keys",
                &ada,
                Some(&team),
                Some(json!({"name": "ci", "owner": "team"})),
            )
            .await;
        let secret = key["key"].as_str().expect("key").to_owned();

        let (deleted, _) = w
            .call(DELETE, &format!("/v1/teams/{team}"), &ada, None, None)
            .await;
        let (again, _) = w
            .call(DELETE, &format!("/v1/teams/{team}"), &ada, None, None)
            .await;
        let (key_after, _) = w
            .app
            .request(GET, "/v1/sandboxes", Some(&secret), None)
            .await;
        let (_, teams) = w.call(GET, "/v1/teams", &ada, None, None).await;

        assert_eq!(deleted, StatusCode::NO_CONTENT);
        assert_eq!(again, StatusCode::NOT_FOUND);
        assert!(w.agent.destroyed(&running), "the VM was not destroyed");
        assert_eq!(template["name"], "py", "{template}");
        assert_eq!(
            w.agent.deleted_images().len(),
            1,
            "the team template's image"
        );
        assert_eq!(key_after, StatusCode::UNAUTHORIZED);
        assert_eq!(teams["teams"].as_array().map(Vec::len), Some(1), "{teams}");
        for table in ["sandboxes", "templates", "api_keys", "team_members"] {
            let sql = format!("SELECT COUNT(*) FROM {table} WHERE team_id = $1");
            assert_eq!(w.count(&sql, &team).await, 0, "{table}");
        }
        let events = "SELECT COUNT(*) FROM sandbox_events WHERE sandbox_id = $1";
        assert_eq!(w.count(events, &running).await, 0);
        let actions = w.audit_actions(&team).await;
        assert!(actions.iter().any(|a| a == "team.delete"), "{actions:?}");
        assert!(
            actions.iter().any(|a| a == "sandbox.destroy"),
            "{actions:?}"
        );
        assert!(actions.iter().any(|a| a == "api_key.revoke"), "{actions:?}");
        assert!(actions.iter().any(|a| a == "sandbox.create"), "{actions:?}");
    }
);

both_dbs!(
    delete_team_when_member_personal_or_owns_hosts_then_refused,
    |kind| async move {
        let w = World::start(kind).await;
        let (ada, personal) = w.app.signup("ada@example.com").await;
        let (bob, _) = w.app.signup("bob@example.com").await;
        let team = w.shared_team(&ada, "lab").await;
        w.call(
            POST,
            &format!("/v1/teams/{team}/members"),
            &ada,
            None,
            Some(json!({"email": "bob@example.com", "role": "member"})),
        )
        .await;
        sqlx::query(
            "INSERT INTO hosts (id, name, team_id, address, status, created_at, updated_at) \
             VALUES ('host_byoc1', 'byoc', $1, '203.0.113.7:8443', 'online', 1, 1)",
        )
        .bind(&team)
        .execute(&w.app.state.db.pool)
        .await
        .expect("host");
        let secret = w.app.api_key(&ada).await;

        let (by_member, _) = w
            .call(DELETE, &format!("/v1/teams/{team}"), &bob, None, None)
            .await;
        let (with_host, host_answer) = w
            .call(DELETE, &format!("/v1/teams/{team}"), &ada, None, None)
            .await;
        let (own_personal, personal_answer) = w
            .call(DELETE, &format!("/v1/teams/{personal}"), &ada, None, None)
            .await;
        let (by_key, _) = w
            .app
            .request(DELETE, &format!("/v1/teams/{team}"), Some(&secret), None)
            .await;

        assert_eq!(by_member, StatusCode::FORBIDDEN);
        assert_eq!(with_host, StatusCode::CONFLICT);
        assert_error(&host_answer, "team_has_hosts");
        assert_eq!(own_personal, StatusCode::CONFLICT);
        assert_error(&personal_answer, "conflict");
        assert!(by_key == StatusCode::FORBIDDEN || by_key == StatusCode::NOT_FOUND);
        let members = "SELECT COUNT(*) FROM team_members WHERE team_id = $1";
        assert_eq!(w.count(members, &team).await, 2, "nothing was deleted");
    }
);

both_dbs!(
    delete_user_when_self_then_personal_team_gone_and_keys_elsewhere_revoked,
    |kind| async move {
        let w = World::start(kind).await;
        let (ada, _) = w.app.signup("ada@example.com").await;
        let (bob, bob_team) = w.app.signup("bob@example.com").await;
        let lab = w.shared_team(&ada, "lab").await;
        w.call(
            POST,
            &format!("/v1/teams/{lab}/members"),
            &ada,
            None,
            Some(json!({"email": "bob@example.com", "role": "member"})),
        )
        .await;
        let sandbox = w.sandbox(&bob, None).await;
        let personal_key = w.app.api_key(&bob).await;
        let (_, lab_key) = w
            .call(
                POST,
                "/v1/keys",
                &bob,
                Some(&lab),
                Some(json!({"name": "bob"})),
            )
            .await;
        let lab_key = lab_key["key"].as_str().expect("key").to_owned();
        let bob_id = w.user_id(&bob).await;

        let (deleted, _) = w
            .call(DELETE, &format!("/v1/users/{bob_id}"), &bob, None, None)
            .await;
        let (token_after, _) = w.app.request(GET, "/v1/me", Some(&bob), None).await;
        let (personal_after, _) = w
            .app
            .request(GET, "/v1/me", Some(&personal_key), None)
            .await;
        let (lab_after, _) = w.app.request(GET, "/v1/me", Some(&lab_key), None).await;
        let (login, _) = w
            .app
            .request(
                POST,
                "/v1/auth/login",
                None,
                creds("bob@example.com", PASSWORD),
            )
            .await;
        let (_, members) = w
            .call(GET, &format!("/v1/teams/{lab}/members"), &ada, None, None)
            .await;

        assert_eq!(deleted, StatusCode::NO_CONTENT);
        assert!(w.agent.destroyed(&sandbox));
        assert_eq!(token_after, StatusCode::UNAUTHORIZED);
        assert_eq!(personal_after, StatusCode::UNAUTHORIZED);
        assert_eq!(lab_after, StatusCode::UNAUTHORIZED);
        assert_eq!(login, StatusCode::UNAUTHORIZED);
        assert_eq!(
            members["members"].as_array().map(Vec::len),
            Some(1),
            "{members}"
        );
        let teams = "SELECT COUNT(*) FROM teams WHERE id = $1";
        assert_eq!(w.count(teams, &bob_team).await, 0);
        let lab_actions = w.audit_actions(&lab).await;
        assert!(
            lab_actions.iter().any(|a| a == "api_key.revoke"),
            "{lab_actions:?}"
        );
        assert!(w
            .audit_actions(&bob_team)
            .await
            .iter()
            .any(|a| a == "user.delete"));
    }
);

both_dbs!(
    delete_user_when_other_or_last_owner_then_refused_admin_may,
    |kind| async move {
        let w = World::start(kind).await;
        let (admin, _) = w.app.signup("root@example.com").await;
        let (ada, _) = w.app.signup("ada@example.com").await;
        let (bob, _) = w.app.signup("bob@example.com").await;
        let lab = w.shared_team(&ada, "lab").await;
        w.call(
            POST,
            &format!("/v1/teams/{lab}/members"),
            &ada,
            None,
            Some(json!({"email": "bob@example.com", "role": "member"})),
        )
        .await;
        let (ada_id, bob_id) = (w.user_id(&ada).await, w.user_id(&bob).await);

        let (by_other, _) = w
            .call(DELETE, &format!("/v1/users/{ada_id}"), &bob, None, None)
            .await;
        let (last_owner, answer) = w
            .call(DELETE, &format!("/v1/users/{ada_id}"), &ada, None, None)
            .await;
        let (by_admin, _) = w
            .call(DELETE, &format!("/v1/users/{bob_id}"), &admin, None, None)
            .await;
        let (again, _) = w
            .call(DELETE, &format!("/v1/users/{bob_id}"), &admin, None, None)
            .await;

        assert_eq!(by_other, StatusCode::NOT_FOUND);
        assert_eq!(last_owner, StatusCode::CONFLICT);
        assert!(assert_error(&answer, "conflict").contains(&lab), "{answer}");
        assert_eq!(by_admin, StatusCode::NO_CONTENT);
        assert_eq!(again, StatusCode::NOT_FOUND);
    }
);

both_dbs!(
    retention_when_stopped_record_older_than_period_then_purged_audit_kept,
    |kind| async move {
        let w = World::start(kind).await;
        let (ada, team) = w.app.signup("ada@example.com").await;
        let old = w.sandbox(&ada, None).await;
        let recent = w.sandbox(&ada, None).await;
        let live = w.sandbox(&ada, None).await;
        for id in [&old, &recent] {
            w.call(DELETE, &format!("/v1/sandboxes/{id}"), &ada, None, None)
                .await;
        }
        let eight_days_ago = wrenn_cp::db::now_ms() - 8 * 24 * 3600 * 1000;
        sqlx::query("UPDATE sandboxes SET updated_at = $1 WHERE id = $2 OR id = $3")
            .bind(eight_days_ago)
            .bind(&old)
            .bind(&live)
            .execute(&w.app.state.db.pool)
            .await
            .expect("age the records");

        let week = Duration::from_secs(7 * 24 * 3600);
        let purged = wrenn_cp::retention::purge(&w.app.state, week)
            .await
            .expect("purge");
        let again = wrenn_cp::retention::purge(&w.app.state, week)
            .await
            .expect("purge");
        let (_, page) = w
            .call(GET, "/v1/sandboxes?limit=200", &ada, None, None)
            .await;
        let listed: Vec<&str> = page["sandboxes"]
            .as_array()
            .expect("sandboxes")
            .iter()
            .filter_map(|s| s["id"].as_str())
            .collect();

        assert_eq!((purged, again), (1, 0));
        assert!(!listed.contains(&old.as_str()), "{listed:?}");
        assert!(listed.contains(&recent.as_str()) && listed.contains(&live.as_str()));
        let events = "SELECT COUNT(*) FROM sandbox_events WHERE sandbox_id = $1";
        assert_eq!(w.count(events, &old).await, 0);
        let audited: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_events WHERE team_id = $1 AND resource_id = $2",
        )
        .bind(&team)
        .bind(&old)
        .fetch_one(&w.app.state.db.pool)
        .await
        .expect("audit");
        assert!(
            audited >= 3,
            "create, destroy and purge stay audited: {audited}"
        );
    }
);
