//! `POST /v1/sandboxes/{id}/exec`: runs a command to completion and answers
//! with its collected output.
use std::{collections::BTreeMap, time::Duration};

use axum::{extract::State, Json};
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::sandbox_id;
use crate::{
    api::extract::{ApiJson, ApiPath},
    auth::Principal,
    error::{ApiError, ApiResult},
    service::sandboxes::{self as service, CollectedExec, ExecCommand},
    state::AppState,
};

const MAX_COMMAND: usize = 256 * 1024;
/// The default whole-command limit.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

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

    /// The checks a collected exec has always made on top of
    /// [`ExecRequest::validate`] (once the host's Exec RPC made them): a
    /// POSIX user name, a working directory and env names without NUL.
    pub(crate) fn validate_collected(&self) -> Result<(), ApiError> {
        if let Some(user) = self.user.as_deref() {
            let posix = user
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
                && user
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b));
            if !posix {
                return Err(ApiError::validation(format!(
                    "user: '{user}' is not a valid user name"
                )));
            }
        }
        if self
            .cwd
            .as_deref()
            .is_some_and(|c| c.contains('\0') || c.len() > 4096)
        {
            return Err(ApiError::validation(
                "cwd: must be at most 4096 bytes without NUL",
            ));
        }
        if let Some(name) = self
            .env
            .as_ref()
            .and_then(|e| e.keys().find(|k| k.contains('\0')))
        {
            return Err(ApiError::validation(format!(
                "env: invalid variable name '{name}'"
            )));
        }
        Ok(())
    }

    /// The command as the service runs it.
    pub fn command(&self) -> ExecCommand {
        ExecCommand {
            command: self.command.clone(),
            user: self.user.clone().unwrap_or_else(|| "user".into()),
            cwd: self.cwd.clone().filter(|c| !c.is_empty()),
            env: self.env.clone().unwrap_or_default(),
            timeout: self
                .timeout_secs
                .map_or(DEFAULT_TIMEOUT, Duration::from_secs),
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

impl From<CollectedExec> for ExecResult {
    fn from(done: CollectedExec) -> Self {
        let (stdout, stderr, encoding) = render(done.stdout, done.stderr);
        Self {
            stdout,
            stderr,
            encoding,
            exit_code: done.exit_code,
            status: done.status,
            duration_ms: u64::try_from(done.duration.as_millis()).unwrap_or(u64::MAX),
            truncated: done.truncated,
        }
    }
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
    let id = sandbox_id(&id)?;
    request.validate_collected()?;
    let done = service::exec(&state, &principal.team_id, &id, &request.command()).await?;
    Ok(Json(done.into()))
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

    #[test]
    fn validate_collected_when_uppercase_user_or_nul_cwd_then_refused() {
        let user: ExecRequest =
            serde_json::from_str(r#"{"command":"ls","user":"Root"}"#).expect("json");
        assert!(user.validate_collected().is_err());
        let cwd: ExecRequest =
            serde_json::from_str(r#"{"command":"ls","cwd":"/a\u0000b"}"#).expect("json");
        assert!(cwd.validate_collected().is_err());
    }
}
