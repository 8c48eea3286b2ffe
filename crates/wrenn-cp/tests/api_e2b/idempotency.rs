//! `Idempotency-Key` on create: one sandbox per key and team, also for
//! creates that run at the same time; a different body with the same key is
//! refused; a failed create frees its key; keys are per team.
use super::*;

const BODY: fn() -> Value = || json!({"templateID": "base", "metadata": {"run": "1"}});

async fn create_with_key(fx: &Fixture, key: &str, body: Value) -> Answer {
    fx.send_as(
        Some(&fx.key),
        POST,
        "/v2/sandboxes",
        &[("idempotency-key", key)],
        Some(body),
    )
    .await
}

both_dbs!(
    create_when_key_repeated_then_same_sandbox,
    |kind| async move {
        let fx = Fixture::start(kind).await;

        let first = create_with_key(&fx, "retry-1", BODY()).await;
        let second = create_with_key(&fx, "retry-1", BODY()).await;

        assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
        assert_eq!(second.status, StatusCode::CREATED, "{second:?}");
        assert_eq!(id_of(&first.body), id_of(&second.body));
        assert_eq!(
            second.body["envdAccessToken"],
            first.body["envdAccessToken"]
        );
        assert_eq!(fx.agent.creates(), 1);
        let other = create_with_key(&fx, "retry-2", BODY()).await;
        assert_ne!(id_of(&other.body), id_of(&first.body));
    }
);

both_dbs!(
    create_when_key_concurrent_then_one_sandbox,
    |kind| async move {
        let fx = Arc::new(Fixture::start(kind).await);
        let gate = fx.agent.hold_creates();

        let (a, b) = (fx.clone(), fx.clone());
        let first = tokio::spawn(async move { create_with_key(&a, "same", BODY()).await });
        while fx.agent.creates_started() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let second = tokio::spawn(async move { create_with_key(&b, "same", BODY()).await });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let started_meanwhile = fx.agent.creates_started();
        gate.notify_one();
        let (first, second) = (first.await.unwrap(), second.await.unwrap());

        assert_eq!(started_meanwhile, 1, "the second create reached the host");
        assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
        assert_eq!(second.status, StatusCode::CREATED, "{second:?}");
        assert_eq!(id_of(&first.body), id_of(&second.body));
        assert_eq!(fx.agent.creates(), 1);
        assert_eq!(fx.listed("").await.0.len(), 1);
    }
);

both_dbs!(
    create_when_key_reused_for_other_body_then_422,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        create_with_key(&fx, "k1", BODY()).await;

        let answer = create_with_key(&fx, "k1", json!({"templateID": "base", "timeout": 60})).await;

        assert!(answer
            .error(StatusCode::UNPROCESSABLE_ENTITY)
            .contains("Idempotency-Key"));
        assert_eq!(fx.agent.creates(), 1);
    }
);

both_dbs!(
    create_when_first_failed_then_retry_creates,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        fx.agent
            .fail_next_create(wrenn_cp::agent::AgentError::Unavailable(
                "boot failed".into(),
            ));

        let failed = create_with_key(&fx, "again", BODY()).await;
        let retried = create_with_key(&fx, "again", BODY()).await;

        failed.error(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retried.status, StatusCode::CREATED, "{retried:?}");
        assert_eq!(fx.agent.creates(), 2);
    }
);

both_dbs!(
    create_when_key_of_other_team_then_own_sandbox,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let (other_token, _) = fx.app.signup("eve@example.com").await;
        let other = fx.app.api_key(&other_token).await;

        let mine = create_with_key(&fx, "shared", BODY()).await;
        let theirs = fx
            .send_as(
                Some(&other),
                POST,
                "/v2/sandboxes",
                &[("idempotency-key", "shared")],
                Some(BODY()),
            )
            .await;

        assert_eq!(theirs.status, StatusCode::CREATED, "{theirs:?}");
        assert_ne!(id_of(&mine.body), id_of(&theirs.body));
    }
);

both_dbs!(create_when_key_malformed_then_400, |kind| async move {
    let fx = Fixture::start(kind).await;

    for key in ["UPPER", "under_score", &"a".repeat(256)] {
        let answer = create_with_key(&fx, key, BODY()).await;
        assert!(
            answer
                .error(StatusCode::BAD_REQUEST)
                .contains("Idempotency-Key"),
            "{key}"
        );
    }
    assert_eq!(fx.agent.creates(), 0);
});

both_dbs!(
    create_when_key_sandbox_killed_then_409_not_another,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let first = create_with_key(&fx, "gone", BODY()).await;
        let id = id_of(&first.body);
        fx.call(DELETE, &format!("/sandboxes/{id}"), None).await;

        let again = create_with_key(&fx, "gone", BODY()).await;

        assert!(
            again.error(StatusCode::CONFLICT).contains("stopped"),
            "{again:?}"
        );
        assert_eq!(again.header("should-retry"), Some("false"));
        assert_eq!(fx.agent.creates(), 1);
    }
);
