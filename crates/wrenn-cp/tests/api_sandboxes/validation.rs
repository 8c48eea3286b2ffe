//! Refused create requests and ids: each gets its documented code, no
//! sandbox is recorded, and the host is never asked.
use axum::{
    body::Body,
    http::{header, Request},
};

use super::*;

async fn refused_create(fx: &Fixture, body: Value) -> (StatusCode, Value) {
    let answer = fx.call(POST, "/v1/sandboxes", Some(body)).await;
    assert_eq!(fx.agent.creates(), 0, "the host was asked");
    answer
}

both_dbs!(
    create_when_invalid_fields_then_422_validation_failed,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let cases = [
            json!({"cpus": 2}),
            json!({"vcpus": 0}),
            json!({"vcpus": 33}),
            json!({"vcpus": -1}),
            json!({"vcpus": "two"}),
            json!({"memory_mb": 64}),
            json!({"memory_mb": 70000}),
            json!({"disk_mb": 1}),
            json!({"timeout_secs": 0}),
            json!({"timeout_secs": 86401}),
            json!({"on_timeout": "explode"}),
            json!({"egress_allow": ["10.0.0.0/33"]}),
            json!({"egress_deny": ["not-a-cidr"]}),
            json!({"egress_allow": ["::1/128"]}),
            json!({"env_vars": {"1BAD": "x"}}),
            json!({"env_vars": {"A-B": "x"}}),
            json!({"env_vars": {"A": "nul\u{0}"}}),
            json!({"metadata": {"": "x"}}),
            json!({"template": "../etc"}),
            json!({"template": ""}),
        ];

        for body in cases {
            let (status, answer) = refused_create(&fx, body.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
            assert_error(&answer, "validation_failed");
        }
        assert!(fx.listed("").await.is_empty());
    }
);

both_dbs!(
    create_when_unknown_template_then_404_template_not_found,
    |kind| async move {
        let fx = Fixture::start(kind).await;

        let (status, answer) = refused_create(&fx, json!({"template": "python"})).await;

        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_error(&answer, "template_not_found");
        assert!(fx.listed("").await.is_empty());
    }
);

both_dbs!(
    create_when_malformed_json_then_400_invalid_json,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let request = Request::post("/v1/sandboxes")
            .header(header::AUTHORIZATION, format!("Bearer {}", fx.token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{\"template\": "))
            .expect("request");

        let (status, answer) = fx.app.send(request).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_error(&answer, "invalid_json");
        assert_eq!(fx.agent.creates(), 0);
    }
);

both_dbs!(create_when_not_json_then_415, |kind| async move {
    let fx = Fixture::start(kind).await;
    let request = Request::post("/v1/sandboxes")
        .header(header::AUTHORIZATION, format!("Bearer {}", fx.token))
        .body(Body::from("{}"))
        .expect("request");

    let (status, answer) = fx.app.send(request).await;

    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_error(&answer, "unsupported_media_type");
});

both_dbs!(create_when_unauthenticated_then_401, |kind| async move {
    let fx = Fixture::start(kind).await;

    let (status, answer) = fx
        .app
        .request(POST, "/v1/sandboxes", None, Some(json!({})))
        .await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&answer, "unauthenticated");
    assert_eq!(fx.agent.creates(), 0);
});

both_dbs!(
    routes_when_invalid_or_unknown_id_then_404,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let long = "a".repeat(65);
        let ids = [
            "BAD..ID",
            "..",
            "a%20b",
            "%00",
            "UPPER",
            long.as_str(),
            "doesnotexist",
        ];

        for id in ids {
            for (method, suffix) in [(GET, ""), (DELETE, ""), (POST, "/pause"), (POST, "/ping")] {
                let path = format!("/v1/sandboxes/{id}{suffix}");
                let (status, answer) = fx.call(method.clone(), &path, None).await;
                assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
                assert_error(&answer, "not_found");
            }
        }
    }
);

both_dbs!(timeout_when_out_of_range_then_422, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;

    for body in [
        json!({"timeout_secs": 0}),
        json!({"timeout_secs": 86401}),
        json!({}),
        json!({"timeout_secs": 5, "x": 1}),
    ] {
        let (status, answer) = fx
            .call(
                POST,
                &format!("/v1/sandboxes/{id}/timeout"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_error(&answer, "validation_failed");
    }
});
