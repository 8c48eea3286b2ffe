//! `POST /v1/sandboxes/{id}/exec`: runs a command to completion and answers
//! with its collected output.
use std::collections::BTreeMap;

use axum::{extract::State, Json};
use base64::Engine;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{agent_error, agent_of, load, require_running};
use crate::{
    agent::{ExecEvent, ExecSpec},
    api::extract::{ApiJson, ApiPath},
    auth::Principal,
    error::{ApiError, ApiResult},
    state::AppState,
};

/// Output kept per stream; the rest is dropped and `truncated` set.
const MAX_OUTPUT: usize = 16 * 1024 * 1024;
const MAX_COMMAND: usize = 256 * 1024;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    /// Run as `bash -l -c command`.
    pub command: String,
    /// Guest user; default `user`.
    pub user: Option<String>,
    /// Working directory; default the user's home.
    pub cwd: Option<String>,
    pub env: Option<BTreeMap<String, String>>,
    /// Whole-command limit, 1-3600 seconds; default 60.
    pub timeout_secs: Option<u64>,
}

impl ExecRequest {
    pub fn validate(&self) -> Result<(), ApiError> {
        if self.command.trim().is_empty() || self.command.len() > MAX_COMMAND {
            return Err(ApiError::validation(
                "command must be 1 byte to 256 KiB and not blank",
            ));
        }
        if let Some(user) = &self.user {
            super::types::validate_guest_user(user)?;
        }
        if self.timeout_secs.is_some_and(|t| !(1..=3600).contains(&t)) {
            return Err(ApiError::validation(
                "timeout_secs must be between 1 and 3600",
            ));
        }
        if self
            .env
            .as_ref()
            .is_some_and(|e| e.keys().any(|k| k.is_empty() || k.contains('=')))
        {
            return Err(ApiError::validation(
                "env: names must be non-empty and contain no '='",
            ));
        }
        Ok(())
    }

    pub fn spec(&self) -> ExecSpec {
        ExecSpec {
            command: self.command.clone(),
            user: self.user.clone().unwrap_or_default(),
            cwd: self.cwd.clone().unwrap_or_default(),
            env: self.env.clone().unwrap_or_default(),
            timeout_secs: self.timeout_secs.unwrap_or(60),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExecResult {
    pub stdout: String,
    pub stderr: String,
    /// `utf8`, or `base64` when either output is not valid UTF-8 (then both
    /// are base64).
    pub encoding: &'static str,
    pub exit_code: i32,
    /// How it ended, e.g. `exit status 0` or `signal: killed`.
    pub status: String,
    pub duration_ms: u64,
    /// True when an output was longer than 16 MiB and was cut.
    pub truncated: bool,
}

fn render(stdout: Vec<u8>, stderr: Vec<u8>) -> (String, String, &'static str) {
    match (String::from_utf8(stdout), String::from_utf8(stderr)) {
        (Ok(out), Ok(err)) => (out, err, "utf8"),
        (out, err) => {
            let b64 = |bytes: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(bytes);
            let bytes = |r: Result<String, std::string::FromUtf8Error>| match r {
                Ok(s) => s.into_bytes(),
                Err(e) => e.into_bytes(),
            };
            (b64(bytes(out)), b64(bytes(err)), "base64")
        }
    }
}

fn append(buffer: &mut Vec<u8>, bytes: &[u8], truncated: &mut bool) {
    let room = MAX_OUTPUT.saturating_sub(buffer.len());
    if bytes.len() > room {
        *truncated = true;
    }
    buffer.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

/// Runs a command and returns its output and exit code.
#[utoipa::path(
    post, path = "/v1/sandboxes/{id}/exec", tag = "sandboxes",
    params(("id" = String, Path)),
    request_body = ExecRequest,
    responses((status = 200, body = ExecResult), (status = 409, description = "sandbox_not_running", body = crate::error::ErrorBody))
)]
pub async fn exec(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<ExecRequest>,
) -> ApiResult<Json<ExecResult>> {
    request.validate()?;
    let row = load(&state, &principal, &id).await?;
    require_running(&row)?;
    let started = std::time::Instant::now();
    let mut events = agent_of(&state, &row)
        .await?
        .exec(&row.id, request.spec())
        .await
        .map_err(agent_error)?;
    let (mut stdout, mut stderr, mut truncated) = (Vec::new(), Vec::new(), false);
    while let Some(event) = events.next().await {
        match event.map_err(agent_error)? {
            ExecEvent::Stdout(bytes) => append(&mut stdout, &bytes, &mut truncated),
            ExecEvent::Stderr(bytes) => append(&mut stderr, &bytes, &mut truncated),
            ExecEvent::Started { .. } => {}
            ExecEvent::Ended { exit_code, status } => {
                let (stdout, stderr, encoding) = render(stdout, stderr);
                return Ok(Json(ExecResult {
                    stdout,
                    stderr,
                    encoding,
                    exit_code,
                    status,
                    duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    truncated,
                }));
            }
        }
    }
    Err(ApiError::AgentUnavailable(
        "the command's output ended without an exit status".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_when_binary_output_then_both_base64() {
        let (out, err, encoding) = render(vec![0xff, 0x00], b"ok".to_vec());
        assert_eq!(
            (out.as_str(), err.as_str(), encoding),
            ("/wA=", "b2s=", "base64")
        );
    }

    #[test]
    fn render_when_text_then_utf8() {
        let (out, _, encoding) = render("héllo".as_bytes().to_vec(), vec![]);
        assert_eq!((out.as_str(), encoding), ("héllo", "utf8"));
    }

    #[test]
    fn validate_when_blank_command_or_bad_user_then_refused() {
        let blank: ExecRequest = serde_json::from_str(r#"{"command":"  "}"#).expect("json");
        assert!(blank.validate().is_err());
        let user: ExecRequest =
            serde_json::from_str(r#"{"command":"ls","user":"a b"}"#).expect("json");
        assert!(user.validate().is_err());
    }
}
