//! envd's access token of a sandbox, for the E2B API's answers: asked from
//! the sandbox's host each time (the agent made it and keeps it across pause
//! and resume), handed to the team's caller, and never stored, logged or
//! listed by the control plane (docs/security.md, "E2B API").
use super::agent_of;
use crate::{agent::AgentError, db::sandboxes::SandboxRow, secret::SecretString, state::AppState};

#[derive(Debug, thiserror::Error)]
pub enum EnvdTokenError {
    #[error("the sandbox's host is not connected")]
    HostNotConnected,
    #[error("the host refused: {0}")]
    Host(#[source] AgentError),
}

/// The token of `sandbox` (a record the caller's team owns); `None` when
/// its host reports it not running.
pub async fn envd_access_token(
    state: &AppState,
    sandbox: &SandboxRow,
) -> Result<Option<SecretString>, EnvdTokenError> {
    let agent = agent_of(state, sandbox)
        .await
        .ok_or(EnvdTokenError::HostNotConnected)?;
    match agent.envd_access_token(&sandbox.id).await {
        Ok(token) => Ok(token),
        Err(AgentError::NotFound(_)) => Ok(None),
        Err(err) => Err(EnvdTokenError::Host(err)),
    }
}
