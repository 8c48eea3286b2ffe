//! No orphaned work, against the fake host: records a create left behind
//! (its control plane killed between two steps) are finished or rolled back
//! once past `CP_SANDBOX_START_TIMEOUT_SECS`, and what the host keeps that
//! no live record accounts for is destroyed there.
use wrenn_cp::{
    agent::{AgentSandbox, AgentState},
    db::{self, sandboxes::SandboxRow},
    lifecycle::SandboxState,
    reconcile::reconcile_all,
    server::LOCAL_HOST_ID,
};

use super::*;

/// Records a sandbox of the fixture's team in `state`, last changed at
/// `updated_at`, as a create interrupted after that step leaves it.
async fn interrupted_create(fx: &Fixture, state: SandboxState, updated_at: i64) -> String {
    let id = String::from(wrenn_types::SandboxId::generate());
    let row = SandboxRow {
        id: id.clone(),
        team_id: fx.team.clone(),
        host_id: Some(LOCAL_HOST_ID.to_owned()),
        template: "base".into(),
        template_image: "base".into(),
        state,
        reason: String::new(),
        vcpus: 1,
        memory_mb: 512,
        disk_mb: None,
        timeout_secs: 300,
        on_timeout: wrenn_types::TimeoutAction::Kill,
        metadata: Default::default(),
        internet: true,
        egress_allow: vec![],
        egress_deny: vec![],
        from_snapshot: false,
        created_by: "usr_test".into(),
        created_at: updated_at,
        started_at: None,
        timeout_at: None,
        updated_at,
        auto_resume: false,
        public_traffic: true,
        traffic_token_hash: None,
        traffic_access_token: None,
    };
    db::sandboxes::insert(&fx.app.state.db, &row)
        .await
        .expect("record");
    id
}

fn running_on_host(id: &str, timeout_at_ms: i64) -> AgentSandbox {
    AgentSandbox {
        id: id.to_owned(),
        state: AgentState::Running,
        reason: String::new(),
        timeout_at_ms,
        from_snapshot: false,
        cpu_ms: None,
    }
}

both_dbs!(
    reconcile_when_interrupted_create_runs_on_host_then_running_with_its_timeout,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = interrupted_create(&fx, SandboxState::Starting, 0).await;
        fx.agent.keep(running_on_host(&id, 4_102_444_800_000));

        reconcile_all(&fx.app.state).await.expect("reconcile");

        let (_, sandbox) = fx.call(GET, &format!("/v1/sandboxes/{id}"), None).await;
        assert_eq!(sandbox["state"], "running", "{sandbox}");
        let timeout_at = sandbox["timeout_at"].as_str().expect("timeout armed");
        assert!(timeout_at.starts_with("2100-01-01T00:00:00"), "{sandbox}");
        assert_eq!(fx.agent.state(&id), Some(AgentState::Running));
    }
);

both_dbs!(
    reconcile_when_interrupted_create_left_nothing_then_error_and_off_the_quota,
    |kind| async move {
        let fx = Fixture::configured(kind, &[("CP_MAX_SANDBOXES_PER_TEAM", "1")]).await;
        let id = interrupted_create(&fx, SandboxState::Starting, 0).await;
        let (refused, _) = fx.call(POST, "/v1/sandboxes", Some(json!({}))).await;
        assert_eq!(refused, StatusCode::TOO_MANY_REQUESTS);

        reconcile_all(&fx.app.state).await.expect("reconcile");

        assert_eq!(fx.state_of(&id).await, "error");
        let (created, body) = fx.call(POST, "/v1/sandboxes", Some(json!({}))).await;
        assert_eq!(created, StatusCode::CREATED, "{body}");
    }
);

both_dbs!(
    reconcile_when_pending_record_past_bound_then_error,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = interrupted_create(&fx, SandboxState::Pending, 0).await;

        reconcile_all(&fx.app.state).await.expect("reconcile");

        assert_eq!(fx.state_of(&id).await, "error");
    }
);

both_dbs!(
    reconcile_when_create_younger_than_bound_then_left_to_it,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = interrupted_create(&fx, SandboxState::Starting, db::now_ms()).await;
        fx.agent.keep(running_on_host(&id, 4_102_444_800_000));

        let repairs = reconcile_all(&fx.app.state).await.expect("reconcile");

        assert_eq!(repairs, 0);
        assert_eq!(fx.state_of(&id).await, "starting");
        assert!(!fx.agent.destroyed(&id));
    }
);

both_dbs!(
    reconcile_when_host_runs_unrecorded_sandbox_then_destroyed_there,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let kept = fx.create_id().await;
        let orphan = String::from(wrenn_types::SandboxId::generate());
        fx.agent.keep(running_on_host(&orphan, 0));

        reconcile_all(&fx.app.state).await.expect("reconcile");

        assert!(fx.agent.destroyed(&orphan));
        assert_eq!(fx.agent.state(&orphan), None);
        assert_eq!(fx.agent.state(&kept), Some(AgentState::Running));
        assert_eq!(fx.state_of(&kept).await, "running");
    }
);

both_dbs!(
    reconcile_when_host_failed_sandbox_then_error_and_released_there,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        fx.agent.set_state(&id, AgentState::Error);

        reconcile_all(&fx.app.state).await.expect("reconcile");

        assert_eq!(fx.state_of(&id).await, "error");
        assert_eq!(fx.agent.state(&id), None, "the host's copy goes");
    }
);

both_dbs!(
    reconcile_when_host_holds_unrecorded_team_image_then_deleted_there,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        let (status, _) = fx
            .call(
                POST,
                &format!("/v1/sandboxes/{id}/snapshot"),
                Some(json!({"name": "kept"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let recorded = fx.agent.images();
        fx.agent.keep_image("tm-orphaned");

        reconcile_all(&fx.app.state).await.expect("reconcile");

        assert_eq!(fx.agent.deleted_images(), vec!["tm-orphaned".to_owned()]);
        assert_eq!(fx.agent.images(), recorded);
    }
);

both_dbs!(
    create_when_client_disconnects_mid_boot_then_completes_running,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let gate = fx.agent.hold_creates();
        let request = fx.call(POST, "/v1/sandboxes", Some(json!({})));

        // The client goes away once the host is booting the sandbox.
        tokio::select! {
            answer = request => panic!("answered while the host was held: {answer:?}"),
            () = async {
                while fx.agent.creates_started() == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            } => {}
        }
        gate.notify_one();

        let running = async {
            loop {
                if let Some(id) = fx.listed("?state=running").await.first() {
                    return id.clone();
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        let id = tokio::time::timeout(std::time::Duration::from_secs(30), running)
            .await
            .expect("the abandoned create finished");
        assert_eq!(fx.agent.state(&id), Some(AgentState::Running));
        assert_eq!(fx.listed("").await, vec![id]);
    }
);
