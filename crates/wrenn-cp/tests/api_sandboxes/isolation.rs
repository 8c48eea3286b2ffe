//! Team isolation: another team's sandboxes and templates answer 404 on
//! every route of docs/api.md (existence is not leaked), never appear in
//! its lists, and are left exactly as they were.
use wrenn_cp::agent::AgentState;

use super::*;
use crate::common::websocket::{self, Upgrade};

/// Every HTTP route on one sandbox, with a body that would be accepted.
fn sandbox_routes(id: &str) -> Vec<(Method, String, Option<Value>)> {
    let at = |suffix: &str| format!("/v1/sandboxes/{id}{suffix}");
    vec![
        (GET, at(""), None),
        (DELETE, at(""), None),
        (POST, at("/timeout"), Some(json!({"timeout_secs": 10}))),
        (POST, at("/ping"), None),
        (POST, at("/pause"), None),
        (POST, at("/resume"), None),
        (POST, at("/connect"), None),
        (
            POST,
            at("/exec"),
            Some(json!({"command": "cat /etc/shadow"})),
        ),
        (GET, at("/files?path=/etc/passwd"), None),
        (PUT, at("/files?path=/tmp/x"), Some(json!("payload"))),
        (DELETE, at("/files?path=/tmp/x"), None),
        (GET, at("/files/list?path=/"), None),
        (POST, at("/files/mkdir"), Some(json!({"path": "/tmp/d"}))),
        (
            POST,
            at("/files/rename"),
            Some(json!({"from": "/a", "to": "/b"})),
        ),
        (GET, at("/metrics"), None),
        (POST, at("/snapshot"), Some(json!({"name": "stolen"}))),
    ]
}

/// Team A (the fixture) with a running sandbox and a template made from
/// it; team B with its own API key.
async fn two_teams(kind: Kind) -> (Fixture, String, String) {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;
    let (status, template) = fx
        .call(
            POST,
            &format!("/v1/sandboxes/{id}/snapshot"),
            Some(json!({"name": "mine"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{template}");
    let (bob, _) = fx.app.signup("bob@example.com").await;
    let key = fx.app.api_key(&bob).await;
    (fx, id, key)
}

/// A's sandbox is as it was: running, never paused, destroyed or snapshotted again.
async fn assert_untouched(fx: &Fixture, id: &str) {
    assert_eq!(fx.state_of(id).await, "running");
    assert_eq!(fx.agent.state(id), Some(AgentState::Running));
    assert_eq!(
        (fx.agent.pauses(), fx.agent.resumes(), fx.agent.destroys()),
        (0, 0, 0)
    );
    assert_eq!(fx.agent.images().len(), 1, "only A's snapshot");
    assert!(fx.agent.deleted_images().is_empty());
}

both_dbs!(
    sandbox_routes_when_other_team_then_404_and_untouched,
    |kind| async move {
        let (fx, id, key) = two_teams(kind).await;

        for (method, path, body) in sandbox_routes(&id) {
            let (status, answer) = fx
                .app
                .request(method.clone(), &path, Some(&key), body)
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
            assert_error(&answer, "not_found");
        }

        assert_untouched(&fx, &id).await;
    }
);

both_dbs!(
    websocket_routes_when_other_team_then_404_before_upgrade,
    |kind| async move {
        let (fx, id, key) = two_teams(kind).await;
        let addr = fx.app.serve().await;

        for route in ["exec/ws", "pty"] {
            let path = format!("/v1/sandboxes/{id}/{route}");
            match websocket::connect(addr, &path, &key).await {
                Upgrade::Refused(status, answer) => {
                    assert_eq!(status, 404, "{path}: {answer}");
                    assert_error(&answer, "not_found");
                }
                Upgrade::Open(_) => panic!("{path}: another team's sandbox upgraded"),
            }
        }

        assert_untouched(&fx, &id).await;
    }
);

both_dbs!(list_when_other_team_then_not_listed, |kind| async move {
    let (fx, _, key) = two_teams(kind).await;

    for query in ["", "?state=running", "?metadata%5Bx%5D=y"] {
        let (status, page) = fx
            .app
            .request(GET, &format!("/v1/sandboxes{query}"), Some(&key), None)
            .await;
        assert_eq!(
            (status, page["sandboxes"].clone()),
            (StatusCode::OK, json!([])),
            "{query}"
        );
    }
});

both_dbs!(
    templates_when_other_team_then_invisible_and_undeletable,
    |kind| async move {
        let (fx, _, key) = two_teams(kind).await;

        let (got, answer) = fx
            .app
            .request(GET, "/v1/templates/mine", Some(&key), None)
            .await;
        let (missing, missing_answer) = fx
            .app
            .request(GET, "/v1/templates/never", Some(&key), None)
            .await;
        let (deleted, delete_answer) = fx
            .app
            .request(DELETE, "/v1/templates/mine", Some(&key), None)
            .await;
        let (_, list) = fx.app.request(GET, "/v1/templates", Some(&key), None).await;

        assert_eq!(
            (got, deleted),
            (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
        );
        assert_eq!(
            got, missing,
            "indistinguishable from a template that never existed"
        );
        assert_eq!(
            assert_error(&answer, "template_not_found"),
            assert_error(&missing_answer, "template_not_found").replace("never", "mine")
        );
        assert_error(&delete_answer, "template_not_found");
        let names: Vec<&str> = list["templates"]
            .as_array()
            .expect("templates")
            .iter()
            .map(|t| t["name"].as_str().expect("name"))
            .collect();
        assert_eq!(names, ["base", "code-interpreter-v1"], "the built-ins only");
        let (still, _) = fx.call(GET, "/v1/templates/mine", None).await;
        assert_eq!(still, StatusCode::OK);
        assert!(fx.agent.deleted_images().is_empty());
    }
);

both_dbs!(
    create_when_other_teams_template_then_404,
    |kind| async move {
        let (fx, _, key) = two_teams(kind).await;

        let (status, answer) = fx
            .app
            .request(
                POST,
                "/v1/sandboxes",
                Some(&key),
                Some(json!({"template": "mine"})),
            )
            .await;

        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_error(&answer, "template_not_found");
        assert_eq!(fx.agent.creates(), 1, "only A's sandbox");
    }
);
