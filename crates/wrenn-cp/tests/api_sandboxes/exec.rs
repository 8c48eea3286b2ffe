//! `POST /v1/sandboxes/{id}/exec` through the fake host's envd proxy (a
//! [`crate::common::fake_envd::FakeEnvd`]): collected output, exit codes,
//! the output encoding, the stdin request, and refusals.
use wrenn_cp::envd::ProcessOutput;

use super::*;
use crate::common::fake_envd::FakeEnvd;

/// A fixture whose host serves a fake envd, and one running sandbox.
async fn with_envd(kind: Kind) -> (Fixture, Arc<FakeEnvd>, String) {
    let fx = Fixture::start(kind).await;
    let envd = fx.agent.serve_envd().await;
    let id = fx.create_id().await;
    (fx, envd, id)
}

async fn exec(fx: &Fixture, id: &str, body: Value) -> (StatusCode, Value) {
    fx.call(POST, &format!("/v1/sandboxes/{id}/exec"), Some(body))
        .await
}

both_dbs!(exec_when_echo_then_stdout_and_exit_0, |kind| async move {
    let (fx, envd, id) = with_envd(kind).await;

    let (status, result) = exec(&fx, &id, json!({"command": "echo héllo"})).await;

    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["stdout"], "echo héllo");
    assert_eq!(result["stderr"], "");
    assert_eq!(result["encoding"], "utf8");
    assert_eq!(result["exit_code"], 0);
    assert_eq!(result["status"], "exit status 0");
    assert!(result["duration_ms"].is_u64());
    // A collected command asks nothing of stdin (envd's default), as the
    // host's Exec RPC did before.
    assert_eq!(envd.stdin_requests(), [None]);
});

both_dbs!(
    exec_when_binary_output_then_base64_both,
    |kind| async move {
        let (fx, envd, id) = with_envd(kind).await;
        envd.script_next(vec![
            ProcessOutput::Started { pid: 7 },
            ProcessOutput::Stdout(vec![0xff, 0x00]),
            ProcessOutput::Stderr(b"ok".to_vec()),
            ProcessOutput::Ended {
                exit_code: 3,
                status: "exit status 3".into(),
            },
        ]);

        let (status, result) = exec(&fx, &id, json!({"command": "cat /bin/true"})).await;

        assert_eq!(status, StatusCode::OK, "{result}");
        assert_eq!(result["encoding"], "base64");
        assert_eq!(
            (result["stdout"].clone(), result["stderr"].clone()),
            (json!("/wA="), json!("b2s="))
        );
        assert_eq!(result["exit_code"], 3);
    }
);

both_dbs!(
    exec_when_stream_ends_without_exit_then_503,
    |kind| async move {
        let (fx, envd, id) = with_envd(kind).await;
        envd.script_next(vec![ProcessOutput::Started { pid: 7 }]);

        let (status, answer) = exec(&fx, &id, json!({"command": "true"})).await;

        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_error(&answer, "agent_unavailable");
    }
);

both_dbs!(exec_when_paused_then_409, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;
    fx.call(POST, &format!("/v1/sandboxes/{id}/pause"), None)
        .await;

    let (status, answer) = exec(&fx, &id, json!({"command": "true"})).await;

    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&answer, "sandbox_not_running");
});

both_dbs!(exec_when_invalid_request_then_422, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx.create_id().await;
    let cases = [
        json!({"command": "  "}),
        json!({"command": "ls", "user": "a b"}),
        json!({"command": "ls", "user": "Root"}),
        json!({"command": "ls", "timeout_secs": 0}),
        json!({"command": "ls", "env": {"A=B": "x"}}),
        json!({"command": "ls", "shell": "zsh"}),
        json!({}),
    ];

    for body in cases {
        let (status, answer) = exec(&fx, &id, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_error(&answer, "validation_failed");
    }
});
