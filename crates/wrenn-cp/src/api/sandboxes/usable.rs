//! The answer for a sandbox its caller is about to use (create, connect,
//! resume, fork): the view plus envd's access token, which the SDKs need
//! for the data plane through the sandbox proxy. Read from the host only
//! for a running sandbox; other answers never carry it.
use super::types::Sandbox;
use crate::{
    db::sandboxes::SandboxRow, error::ApiError, lifecycle::SandboxState,
    service::sandboxes as service, state::AppState,
};

pub(super) async fn usable_view(state: &AppState, row: SandboxRow) -> Result<Sandbox, ApiError> {
    let token = match row.state {
        SandboxState::Running => service::envd_access_token(state, &row)
            .await
            .map_err(|e| {
                ApiError::AgentUnavailable(format!(
                    "cannot read the sandbox's envd access token: {e}"
                ))
            })?
            .map(|t| t.expose().to_owned()),
        _ => None,
    };
    Ok(Sandbox {
        envd_access_token: token,
        ..Sandbox::view(row, state.config.domain.as_ref())
    })
}
