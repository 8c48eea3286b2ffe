//! Another team's sandbox, and ids that cannot exist: 404 on every route,
//! never a sign of its existence, and nothing done to it.
use super::*;

both_dbs!(
    other_team_sandbox_when_any_route_then_404,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        let (other_token, _) = fx.app.signup("eve@example.com").await;
        let other = fx.app.api_key(&other_token).await;

        let routes = [
            (GET, format!("/sandboxes/{id}"), None),
            (DELETE, format!("/sandboxes/{id}"), None),
            (
                POST,
                format!("/sandboxes/{id}/timeout"),
                Some(json!({"timeout": 0})),
            ),
            (POST, format!("/sandboxes/{id}/pause"), Some(json!({}))),
            (POST, format!("/sandboxes/{id}/resume"), Some(json!({}))),
            (
                POST,
                format!("/sandboxes/{id}/connect"),
                Some(json!({"timeout": 10})),
            ),
            (POST, format!("/v2/sandboxes/{id}/connect"), Some(json!({}))),
            (GET, format!("/sandboxes/{id}/metrics"), None),
            (POST, format!("/sandboxes/{id}/fork"), Some(json!({}))),
            (POST, format!("/sandboxes/{id}/snapshots"), Some(json!({}))),
            (
                Method::PUT,
                format!("/sandboxes/{id}/network"),
                Some(json!({})),
            ),
            (
                POST,
                format!("/sandboxes/{id}/pause"),
                Some(json!({"memory": false})),
            ),
        ];
        for (method, path, body) in routes {
            let answer = fx
                .send_as(Some(&other), method.clone(), &path, &[], body)
                .await;
            let message = answer.error(StatusCode::NOT_FOUND);
            assert_eq!(message, "sandbox not found", "{method} {path}");
        }
        let (ids, _) = fx.listed("").await;
        assert_eq!(ids, std::slice::from_ref(&id));
        let theirs = fx
            .send_as(Some(&other), GET, "/v2/sandboxes", &[], None)
            .await;
        assert_eq!(theirs.body, json!([]));
        assert!(!fx.agent.destroyed(&id));
        assert_eq!(fx.agent.pauses(), 0);
        assert_eq!(fx.agent.disk_only_pauses(), 0);
        assert!(fx.agent.forks().is_empty());
        assert!(fx.agent.egress_updates().is_empty());
    }
);

both_dbs!(malformed_id_when_any_route_then_404, |kind| async move {
    let fx = Fixture::start(kind).await;

    for id in ["UPPER", "has_underscore", "a%20b", &"x".repeat(65)] {
        let answer = fx.call(GET, &format!("/sandboxes/{id}"), None).await;
        assert_eq!(
            answer.error(StatusCode::NOT_FOUND),
            "sandbox not found",
            "{id}"
        );
        let answer = fx.call(DELETE, &format!("/sandboxes/{id}"), None).await;
        answer.error(StatusCode::NOT_FOUND);
    }
});
