//! E2B's error body and headers for what no handler answers: missing or
//! wrong credentials, unknown routes and methods, spent rate limits.
use super::*;

both_dbs!(
    request_when_no_or_bad_key_then_401_e2b_body,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let wrong = format!("e2b_{}", "0".repeat(40));

        for key in [
            None,
            Some("e2b_short"),
            Some(wrong.as_str()),
            Some("wrn_nope"),
        ] {
            let answer = fx.send_as(key, GET, "/v2/sandboxes", &[], None).await;
            answer.error(StatusCode::UNAUTHORIZED);
            assert_eq!(answer.header("should-retry"), Some("false"));
        }
    }
);

both_dbs!(
    request_when_unknown_route_then_404_e2b_body,
    |kind| async move {
        let fx = Fixture::start(kind).await;

        fx.call(GET, "/nowhere", None)
            .await
            .error(StatusCode::NOT_FOUND);
        fx.call(Method::PATCH, "/v2/sandboxes", None)
            .await
            .error(StatusCode::METHOD_NOT_ALLOWED);
    }
);

both_dbs!(
    request_when_rate_limit_spent_then_429_retry_after,
    |kind| async move {
        let fx = Fixture::configured(
            kind,
            &[
                ("CP_RATE_LIMIT", "on"),
                ("CP_RATE_LIMIT_KEY_PER_SEC", "1"),
                ("CP_RATE_LIMIT_KEY_BURST", "2"),
            ],
        )
        .await;

        let mut last = None;
        for _ in 0..3 {
            last = Some(fx.call(GET, "/v2/sandboxes", None).await);
        }

        let answer = last.expect("answered");
        answer.error(StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(answer.header("should-retry"), Some("true"));
        let wait: u64 = answer
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .unwrap();
        assert!(wait >= 1, "{answer:?}");
    }
);

both_dbs!(
    router_when_standalone_then_served_at_root,
    |kind| async move {
        use tower::ServiceExt;
        let fx = Fixture::start(kind).await;
        let (_, e2b) = wrenn_cp::api::routers(fx.app.state.clone());
        let request = |path: &str| {
            Request::builder()
                .uri(path)
                .header("x-api-key", &fx.key)
                .body(Body::empty())
                .unwrap()
        };

        let listed = e2b.clone().oneshot(request("/v2/sandboxes")).await.unwrap();
        let wrenn = e2b.oneshot(request("/v1/sandboxes")).await.unwrap();

        assert_eq!(listed.status(), StatusCode::OK);
        assert_eq!(wrenn.status(), StatusCode::NOT_FOUND);
    }
);
