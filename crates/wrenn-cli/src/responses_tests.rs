use serde_json::json;
use wrenn_types::{SandboxState, TimeoutAction};

use super::*;

fn sandbox_json() -> serde_json::Value {
    json!({
        "id": "abc123", "team_id": "team_t1", "template": "base", "state": "running",
        "reason": "", "vcpus": 1, "memory_mb": 512, "disk_mb": null, "timeout_secs": 300,
        "on_timeout": "pause", "metadata": {"k": "v"}, "internet": true,
        "egress_allow": [], "egress_deny": [], "host_id": "local", "from_snapshot": false,
        "created_at": "2026-01-01T00:00:00Z", "started_at": null, "timeout_at": null,
        "updated_at": "2026-01-01T00:00:00Z"
    })
}

#[test]
fn sandbox_when_contract_answer_then_typed_values() -> serde_json::Result<()> {
    let sandbox: Sandbox = serde_json::from_value(sandbox_json())?;
    assert_eq!(sandbox.id, "abc123");
    assert_eq!(sandbox.state, SandboxState::Running);
    assert_eq!(sandbox.on_timeout, TimeoutAction::Pause);
    assert_eq!(sandbox.metadata.get("k").map(String::as_str), Some("v"));
    Ok(())
}

#[test]
fn sandbox_when_server_adds_fields_then_ignored() {
    let mut value = sandbox_json();
    value["a_newer_field"] = json!({"nested": [1, 2]});
    assert!(serde_json::from_value::<Sandbox>(value).is_ok());
}

#[test]
fn sandbox_when_state_or_id_malformed_then_decode_error() {
    let mut bad_state = sandbox_json();
    bad_state["state"] = json!("exploded");
    let mut bad_id = sandbox_json();
    bad_id["id"] = json!("../etc");
    let mut missing = sandbox_json();
    missing.as_object_mut().map(|o| o.remove("state"));
    for value in [bad_state, bad_id, missing] {
        assert!(
            serde_json::from_value::<Sandbox>(value.clone()).is_err(),
            "{value}"
        );
    }
}

#[test]
fn me_when_api_key_then_no_user() -> serde_json::Result<()> {
    let me: Me = serde_json::from_value(json!({
        "user": null,
        "team": {"id": "team_a1", "name": "a", "personal": true, "role": "owner"},
        "teams": []
    }))?;
    assert!(me.user.is_none());
    assert_eq!(me.team.id, "team_a1");
    Ok(())
}

#[test]
fn created_host_when_answer_then_host_and_token() -> serde_json::Result<()> {
    let created: CreatedHost = serde_json::from_value(json!({
        "host": {"id": "host_h1", "name": "edge-1", "team_id": null, "byoc": false,
                 "status": "pending", "status_reason": "", "draining": false, "address": "",
                 "tags": ["gpu"], "last_heartbeat_at": null},
        "registration_token": "wrh_x", "token_expires_at": "2026-01-01T01:00:00Z"
    }))?;
    assert_eq!(created.host.id, "host_h1");
    assert_eq!(created.host.tags, ["gpu"]);
    assert_eq!(created.token.registration_token, "wrh_x");
    Ok(())
}

#[test]
fn key_list_when_key_id_malformed_then_decode_error() {
    let key = json!({"id": "sb_1", "name": "ci", "prefix": "wrn_abcdef",
        "created_at": "t", "expires_at": null, "last_used_at": null, "revoked_at": null});
    assert!(serde_json::from_value::<KeyList>(json!({"keys": [key.clone()]})).is_err());
    let mut good = key;
    good["id"] = json!("key_k1");
    assert!(serde_json::from_value::<KeyList>(json!({"keys": [good]})).is_ok());
}

fn build_json() -> serde_json::Value {
    json!({
        "id": "bld_1", "name": "myapp", "tag": "v1", "status": "failed",
        "steps_total": 7, "steps_done": 3, "steps_cached": 2, "current_step": 4,
        "current_step_text": "RUN false",
        "error": {"code": "step_failed", "message": "RUN exited with 1", "line": 5, "exit_code": 1},
        "template_id": null, "created_at": "2026-01-01T00:00:00Z",
        "started_at": "2026-01-01T00:00:01Z", "finished_at": "2026-01-01T00:00:09Z"
    })
}

#[test]
fn build_when_contract_answer_then_typed_failure() -> serde_json::Result<()> {
    let build: Build = serde_json::from_value(build_json())?;
    assert_eq!(build.status, BuildStatus::Failed);
    let error = build.error.expect("failure");
    assert_eq!((error.line, error.exit_code), (Some(5), Some(1)));
    Ok(())
}

#[test]
fn build_when_status_unknown_then_decode_error() {
    let mut value = build_json();
    value["status"] = json!("exploded");
    assert!(serde_json::from_value::<Build>(value).is_err());
}

#[test]
fn build_list_when_wrapped_or_bare_then_same_builds() -> serde_json::Result<()> {
    let wrapped: BuildList = serde_json::from_value(json!({"builds": [build_json()]}))?;
    let bare: BuildList = serde_json::from_value(json!([build_json()]))?;
    assert_eq!(wrapped.builds().len(), 1);
    assert_eq!(bare.builds()[0].id, "bld_1");
    Ok(())
}
