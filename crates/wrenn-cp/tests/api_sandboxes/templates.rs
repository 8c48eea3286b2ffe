//! Templates: snapshots of a sandbox become team templates; built-ins are
//! listed for every team and cannot be deleted; names are unique per team.
use super::*;

async fn snapshot(fx: &Fixture, id: &str, body: Value) -> (StatusCode, Value) {
    fx.call(POST, &format!("/v1/sandboxes/{id}/snapshot"), Some(body))
        .await
}

both_dbs!(snapshot_when_running_then_201_template, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;

    let (status, template) = snapshot(&fx, &id, json!({"name": "py", "memory": true})).await;
    let (_, plain) = snapshot(&fx, &id, json!({"name": "py-disk"})).await;

    assert_eq!(status, StatusCode::CREATED, "{template}");
    assert_eq!(template["name"], "py");
    assert_eq!(template["builtin"], false);
    assert_eq!(template["team_id"], fx.team.as_str());
    assert_eq!(template["source_sandbox_id"], id.as_str());
    assert_eq!(
        (
            template["has_memory_snapshot"].clone(),
            plain["has_memory_snapshot"].clone()
        ),
        (json!(true), json!(false))
    );
    assert_eq!(template["disk_mb"], 2048, "as the host reported");
    assert_eq!(fx.agent.images().len(), 2);
    assert_eq!(
        fx.state_of(&id).await,
        "running",
        "the sandbox keeps running"
    );
});

both_dbs!(
    templates_when_listed_then_builtin_and_own,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        snapshot(&fx, &id, json!({"name": "py"})).await;

        let (status, list) = fx.call(GET, "/v1/templates", None).await;
        let (got, one) = fx.call(GET, "/v1/templates/py", None).await;

        assert_eq!((status, got), (StatusCode::OK, StatusCode::OK));
        let templates = list["templates"].as_array().expect("templates");
        let names: Vec<(&str, bool)> = templates
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().expect("name"),
                    t["builtin"].as_bool().expect("builtin"),
                )
            })
            .collect();
        assert!(
            names.contains(&("base", true))
                && names.contains(&("code-interpreter-v1", true))
                && names.contains(&("py", false)),
            "{list}"
        );
        assert_eq!(names.len(), 3);
        assert_eq!(one["name"], "py");
    }
);

both_dbs!(
    create_when_from_own_template_then_host_gets_its_image,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        snapshot(&fx, &id, json!({"name": "py", "memory": true})).await;
        let image = fx.agent.images().pop().expect("image");

        let sandbox = fx.create(json!({"template": "py"})).await;

        assert_eq!(sandbox["template"], "py");
        assert_eq!(sandbox["from_snapshot"], true, "{sandbox}");
        assert_eq!(
            fx.agent.last_create().expect("create").template_image,
            image
        );
    }
);

both_dbs!(snapshot_when_name_taken_then_409, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;
    snapshot(&fx, &id, json!({"name": "py"})).await;

    let (dup, dup_answer) = snapshot(&fx, &id, json!({"name": "py"})).await;
    let (builtin, builtin_answer) = snapshot(&fx, &id, json!({"name": "base"})).await;

    assert_eq!((dup, builtin), (StatusCode::CONFLICT, StatusCode::CONFLICT));
    assert_error(&dup_answer, "conflict");
    assert_error(&builtin_answer, "conflict");
    assert_eq!(fx.agent.images().len(), 1, "no orphan image on the host");
});

both_dbs!(
    snapshot_when_invalid_or_stopped_then_refused,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;

        let (bad_name, bad_answer) = snapshot(&fx, &id, json!({"name": "Not Valid"})).await;
        let (unknown, _) = snapshot(&fx, &id, json!({"name": "x", "disk": true})).await;
        fx.call(DELETE, &format!("/v1/sandboxes/{id}"), None).await;
        let (stopped, stopped_answer) = snapshot(&fx, &id, json!({"name": "late"})).await;

        assert_eq!(
            (bad_name, unknown),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                StatusCode::UNPROCESSABLE_ENTITY
            )
        );
        assert_error(&bad_answer, "validation_failed");
        assert_eq!(stopped, StatusCode::CONFLICT);
        assert_error(&stopped_answer, "sandbox_not_running");
        assert!(fx.agent.images().is_empty());
    }
);

both_dbs!(delete_when_builtin_then_403, |kind| async move {
    let fx = Fixture::start(kind).await;

    let (status, answer) = fx.call(DELETE, "/v1/templates/base", None).await;

    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&answer, "forbidden");
});

both_dbs!(
    delete_when_team_template_then_204_and_gone_from_host,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        snapshot(&fx, &id, json!({"name": "py"})).await;

        let (status, _) = fx.call(DELETE, "/v1/templates/py", None).await;
        let (after, answer) = fx.call(GET, "/v1/templates/py", None).await;
        let (again, _) = fx.call(DELETE, "/v1/templates/py", None).await;

        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(after, StatusCode::NOT_FOUND);
        assert_error(&answer, "template_not_found");
        assert_eq!(again, StatusCode::NOT_FOUND);
        assert!(fx.agent.images().is_empty());
    }
);

both_dbs!(
    template_routes_when_invalid_name_then_404,
    |kind| async move {
        let fx = Fixture::start(kind).await;

        for name in ["..", "UPPER", "a%20b", "%00"] {
            for method in [GET, DELETE] {
                let (status, answer) = fx
                    .call(method.clone(), &format!("/v1/templates/{name}"), None)
                    .await;
                assert_eq!(status, StatusCode::NOT_FOUND, "{method} {name}: {answer}");
            }
        }
    }
);
