//! Conversions between the wire messages of `wrenn.agent.v1` and the agent's
//! typed values. Every request is parsed here, at the edge; a bad field is an
//! `invalid_argument` error that names it.
use std::collections::BTreeMap;

use wrenn_proto::wrenn::agent::v1 as pb;

use super::error::RpcError;
use crate::sandbox::{
    template_manifest::Manifest, AccessToken, EgressSpec, SandboxConfig, SandboxId, SandboxInfo,
    SandboxState, TemplateInfo, TemplateName, TemplateStartSpec, TimeoutAction,
};

pub fn sandbox_id(field: &'static str, raw: &str) -> Result<SandboxId, RpcError> {
    if raw.is_empty() {
        return Err(RpcError::invalid(field, "is required"));
    }
    raw.parse().map_err(|e| RpcError::invalid(field, e))
}

/// An id the caller may leave empty (`None`: the agent chooses).
pub fn optional_sandbox_id(field: &'static str, raw: &str) -> Result<Option<SandboxId>, RpcError> {
    if raw.is_empty() {
        return Ok(None);
    }
    sandbox_id(field, raw).map(Some)
}

pub fn template_name(field: &'static str, raw: &str) -> Result<TemplateName, RpcError> {
    if raw.is_empty() {
        return Err(RpcError::invalid(field, "is required"));
    }
    raw.parse().map_err(|e| RpcError::invalid(field, e))
}

/// The wire view of a template.
pub fn template(info: TemplateInfo) -> pb::Template {
    template_with(info, None)
}

/// The wire view with the image's content address when it is known.
pub fn template_with(info: TemplateInfo, manifest: Option<&Manifest>) -> pb::Template {
    pb::Template {
        name: info.name.to_string(),
        disk_mib: info.disk_mib,
        has_memory_snapshot: info.has_memory_snapshot,
        created_at_ms: info.created_at_ms,
        digest: manifest.map(Manifest::digest).unwrap_or_default(),
        artefact_bytes: manifest.map_or(0, Manifest::total_bytes),
        ..Default::default()
    }
}

pub fn vcpus(field: &'static str, raw: u32) -> Result<u8, RpcError> {
    u8::try_from(raw).map_err(|_| RpcError::invalid(field, format!("{raw} is too large")))
}

fn timeout_action(raw: &buffa::EnumValue<pb::TimeoutAction>) -> Result<TimeoutAction, RpcError> {
    match raw.as_known() {
        Some(
            pb::TimeoutAction::TIMEOUT_ACTION_UNSPECIFIED | pb::TimeoutAction::TIMEOUT_ACTION_KILL,
        ) => Ok(TimeoutAction::Kill),
        Some(pb::TimeoutAction::TIMEOUT_ACTION_PAUSE) => Ok(TimeoutAction::Pause),
        None => Err(RpcError::invalid("on_timeout", "unknown value")),
    }
}

/// The wire egress policy (absent: internet on, no lists); the manager
/// parses the lists.
pub fn egress(wire: Option<&pb::Egress>) -> EgressSpec {
    match wire {
        Some(e) => EgressSpec {
            internet: e.internet,
            allow: e.allow.clone(),
            deny: e.deny.clone(),
        },
        None => EgressSpec::default(),
    }
}

/// Parses a create request; the manager checks sizes against host limits.
pub fn sandbox_config(req: &pb::CreateSandboxRequest) -> Result<SandboxConfig, RpcError> {
    let egress = egress(req.egress.as_option());
    Ok(SandboxConfig {
        template: template_name("template", &req.template)?,
        vcpus: vcpus("vcpus", req.vcpus)?,
        memory_mib: req.memory_mib,
        disk_mib: req.disk_mib,
        timeout_secs: req.timeout_secs,
        on_timeout: timeout_action(&req.on_timeout)?,
        env_vars: sorted(&req.env_vars),
        metadata: sorted(&req.metadata),
        egress,
    })
}

/// A snapshot's start spec: `None` when the message is absent or empty
/// (every field at its default), else validated.
pub fn template_start(
    wire: Option<&pb::TemplateStart>,
) -> Result<Option<TemplateStartSpec>, RpcError> {
    let Some(wire) = wire else {
        return Ok(None);
    };
    let spec = TemplateStartSpec {
        start_command: wire.start_command.clone(),
        ready_command: wire.ready_command.clone(),
        user: wire.user.clone(),
        workdir: wire.workdir.clone(),
        env: sorted(&wire.env),
        ready_timeout_secs: wire.ready_timeout_secs,
    };
    let empty = spec.start_command.is_empty()
        && spec.ready_command.is_empty()
        && spec.user.is_empty()
        && spec.workdir.is_empty()
        && spec.env.is_empty()
        && spec.ready_timeout_secs == 0;
    if empty {
        return Ok(None);
    }
    spec.validate()
        .map_err(|e| RpcError::invalid("start", e.to_string()))?;
    Ok(Some(spec))
}

fn sorted<'a>(map: impl IntoIterator<Item = (&'a String, &'a String)>) -> BTreeMap<String, String> {
    map.into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub fn state(state: SandboxState) -> pb::SandboxState {
    match state {
        SandboxState::Starting => pb::SandboxState::SANDBOX_STATE_STARTING,
        SandboxState::Running => pb::SandboxState::SANDBOX_STATE_RUNNING,
        SandboxState::Pausing => pb::SandboxState::SANDBOX_STATE_PAUSING,
        SandboxState::Paused => pb::SandboxState::SANDBOX_STATE_PAUSED,
        SandboxState::Resuming => pb::SandboxState::SANDBOX_STATE_RESUMING,
        SandboxState::Stopped => pb::SandboxState::SANDBOX_STATE_STOPPED,
        SandboxState::Error => pb::SandboxState::SANDBOX_STATE_ERROR,
    }
}

/// The wire view of a sandbox; `token` is envd's access token while running.
pub fn sandbox(info: SandboxInfo, token: Option<&AccessToken>) -> pb::Sandbox {
    pb::Sandbox {
        id: info.id.to_string(),
        template: info.template,
        state: state(info.state).into(),
        reason: info.reason.unwrap_or_default(),
        vcpus: info.vcpus.into(),
        memory_mib: info.memory_mib,
        disk_mib: info.disk_mib,
        created_at_ms: info.created_at_ms,
        timeout_at_ms: info.timeout_at_ms,
        metadata: info.metadata.into_iter().collect(),
        envd_url: info.envd_url.unwrap_or_default(),
        envd_access_token: token.map(|t| t.expose().to_owned()).unwrap_or_default(),
        from_snapshot: info.from_snapshot,
        cpu_usage_ms: info.cpu_usage_ms,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_id_when_uppercase_then_invalid_argument_names_field() {
        let err = sandbox_id("id", "ABC").expect_err("invalid");
        assert!(err
            .to_string()
            .starts_with("id: sandbox id 'ABC' is invalid"));
    }

    #[test]
    fn sandbox_config_when_vcpus_over_255_then_invalid() {
        let req = pb::CreateSandboxRequest {
            template: "base".into(),
            vcpus: 300,
            ..Default::default()
        };
        let err = sandbox_config(&req).expect_err("invalid");
        assert!(err.to_string().starts_with("vcpus:"));
    }

    #[test]
    fn template_start_when_absent_or_empty_then_none_and_bad_then_invalid() {
        assert_eq!(template_start(None).expect("none"), None);
        let empty = pb::TemplateStart::default();
        assert_eq!(template_start(Some(&empty)).expect("empty"), None);
        let ready_only = pb::TemplateStart {
            ready_command: "true".into(),
            ..Default::default()
        };
        let err = template_start(Some(&ready_only)).expect_err("no start command");
        assert!(err.to_string().starts_with("start:"), "{err}");
        let good = pb::TemplateStart {
            start_command: "python3 -m http.server 8000".into(),
            env: [("PORT".to_owned(), "8000".to_owned())]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let spec = template_start(Some(&good)).expect("valid").expect("some");
        assert_eq!(spec.env["PORT"], "8000");
    }
}
