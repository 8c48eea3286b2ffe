//! The endpoints the dashboard's pages added: a sandbox's events and a
//! host's sandboxes (the delete preview), each scoped to who may see them.
use axum::http::{Method, StatusCode};
use serde_json::json;
use wrenn_cp::server::LOCAL_HOST_ID;

use crate::{
    app,
    common::{assert_error, Kind},
};

both_dbs!(
    sandbox_events_when_paused_then_transitions_oldest_first,
    |kind: Kind| async move {
        let app = app(kind, &[]).await;
        let (token, _) = app.signup("ada@example.com").await;
        let (status, sandbox) = app
            .request(Method::POST, "/v1/sandboxes", Some(&token), Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{sandbox}");
        let id = sandbox["id"].as_str().unwrap();
        let (status, _) = app
            .request(
                Method::POST,
                &format!("/v1/sandboxes/{id}/pause"),
                Some(&token),
                None,
            )
            .await;
        assert!(status.is_success(), "pause: {status}");
        let (status, answer) = app
            .request(
                Method::GET,
                &format!("/v1/sandboxes/{id}/events"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let events = answer["events"].as_array().unwrap();
        let to: Vec<&str> = events
            .iter()
            .map(|e| e["to_state"].as_str().unwrap())
            .collect();
        assert_eq!(to.last(), Some(&"paused"), "{answer}");
        assert!(to.contains(&"running"), "{answer}");
        assert!(events
            .iter()
            .all(|e| e["kind"] == "state_change" && e["at"].is_string()));
        // Compared as instants: RFC 3339 text drops trailing zeros of the
        // fraction (`.96Z` is later than `.5Z`), so it does not sort as text.
        let ats: Vec<time::OffsetDateTime> = events
            .iter()
            .map(|e| {
                time::OffsetDateTime::parse(
                    e["at"].as_str().unwrap(),
                    &time::format_description::well_known::Rfc3339,
                )
                .expect("RFC 3339")
            })
            .collect();
        let mut sorted = ats.clone();
        sorted.sort_unstable();
        assert_eq!(ats, sorted, "oldest first: {answer}");

        let (other, _) = app.signup("eve@example.com").await;
        let (status, answer) = app
            .request(
                Method::GET,
                &format!("/v1/sandboxes/{id}/events"),
                Some(&other),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another team's sandbox");
        assert_error(&answer, "not_found");
    }
);

both_dbs!(
    host_sandboxes_when_admin_then_listed_and_others_not_found,
    |kind: Kind| async move {
        let app = app(kind, &[]).await;
        let (admin, _) = app.signup("admin@example.com").await;
        let (user, team) = app.signup("ada@example.com").await;
        let (status, sandbox) = app
            .request(Method::POST, "/v1/sandboxes", Some(&user), Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{sandbox}");
        let path = format!("/v1/hosts/{LOCAL_HOST_ID}/sandboxes");
        let (status, answer) = app.request(Method::GET, &path, Some(&admin), None).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let listed = answer["sandboxes"].as_array().unwrap();
        assert_eq!(listed.len(), 1, "{answer}");
        assert_eq!(listed[0]["id"], sandbox["id"]);
        assert_eq!(listed[0]["team_id"], team.as_str());
        assert_eq!(listed[0]["state"], "running");
        assert!(listed[0]["template"].is_string());

        let (status, answer) = app.request(Method::GET, &path, Some(&user), None).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "a shared host is not a team's: {answer}"
        );
        assert_error(&answer, "not_found");
    }
);

both_dbs!(
    host_sandboxes_when_byoc_owner_then_own_host_visible,
    |kind: Kind| async move {
        let app = app(kind, &[]).await;
        app.signup("admin@example.com").await;
        let (owner, _) = app.signup("ada@example.com").await;
        let (status, created) = app
            .request(
                Method::POST,
                "/v1/hosts",
                Some(&owner),
                Some(json!({"name": "ada-box", "byoc": true})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let host = created["host"]["id"].as_str().unwrap();
        let path = format!("/v1/hosts/{host}/sandboxes");
        let (status, answer) = app.request(Method::GET, &path, Some(&owner), None).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["sandboxes"], json!([]));
        let (other, _) = app.signup("eve@example.com").await;
        let (status, _) = app.request(Method::GET, &path, Some(&other), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
);
