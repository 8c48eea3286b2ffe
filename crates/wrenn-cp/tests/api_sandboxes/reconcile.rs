//! The reconciler against the fake host: records follow what the host
//! reports, with a reason, and each repair is audited as `system`.
use wrenn_cp::{agent::AgentState, reconcile::reconcile_all};

use super::*;

both_dbs!(
    reconcile_when_host_forgot_sandbox_then_stopped_with_reason,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        fx.agent.forget(&id);

        let repairs = reconcile_all(&fx.app.state).await.expect("reconcile");

        let (_, sandbox) = fx.call(GET, &format!("/v1/sandboxes/{id}"), None).await;
        assert_eq!(repairs, 1);
        assert_eq!(sandbox["state"], "stopped");
        assert!(
            !sandbox["reason"].as_str().expect("reason").is_empty(),
            "{sandbox}"
        );
    }
);

both_dbs!(
    reconcile_when_host_paused_sandbox_then_paused_and_resumable,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        fx.agent.set_state(&id, AgentState::Paused);

        reconcile_all(&fx.app.state).await.expect("reconcile");

        let (_, sandbox) = fx.call(GET, &format!("/v1/sandboxes/{id}"), None).await;
        assert_eq!(sandbox["state"], "paused");
        assert!(
            sandbox["reason"]
                .as_str()
                .expect("reason")
                .contains("inactivity"),
            "{sandbox}"
        );
        let (resumed, _) = fx
            .call(POST, &format!("/v1/sandboxes/{id}/resume"), None)
            .await;
        assert_eq!(resumed, StatusCode::OK);
    }
);

both_dbs!(
    reconcile_when_host_failed_sandbox_then_error,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        fx.agent.set_state(&id, AgentState::Error);

        reconcile_all(&fx.app.state).await.expect("reconcile");

        assert_eq!(fx.state_of(&id).await, "error");
    }
);

both_dbs!(reconcile_when_in_step_then_no_repairs, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;
    let paused = fx.create_id().await;
    fx.call(POST, &format!("/v1/sandboxes/{paused}/pause"), None)
        .await;

    let repairs = reconcile_all(&fx.app.state).await.expect("reconcile");

    assert_eq!(repairs, 0);
    assert_eq!(fx.state_of(&id).await, "running");
    assert_eq!(fx.state_of(&paused).await, "paused");
});

both_dbs!(
    reconcile_when_repaired_then_audited_as_system,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        fx.agent.forget(&id);
        reconcile_all(&fx.app.state).await.expect("reconcile");

        let (status, audit) = fx.call(GET, "/v1/audit", None).await;

        assert_eq!(status, StatusCode::OK);
        let events = audit["events"].as_array().expect("events");
        let repair = events
            .iter()
            .find(|e| e["actor_type"] == "system")
            .unwrap_or_else(|| panic!("no system event: {audit}"));
        assert_eq!(repair["action"], "sandbox.reconcile");
        assert_eq!(repair["resource_id"], id.as_str());
        assert_eq!(repair["team_id"], fx.team.as_str());
    }
);

both_dbs!(
    reconcile_when_stopped_record_then_left_alone,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        fx.call(DELETE, &format!("/v1/sandboxes/{id}"), None).await;

        let repairs = reconcile_all(&fx.app.state).await.expect("reconcile");

        assert_eq!(repairs, 0);
        assert_eq!(fx.state_of(&id).await, "stopped");
    }
);
