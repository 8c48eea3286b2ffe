//! A sandbox's egress policy, replaced while it lives: its host applies the
//! new policy at once (a running sandbox's firewall chain is rewritten in
//! one transaction) and keeps it for later starts; then the record follows.
use wrenn_types::SandboxId;

use super::{find, on_host};
use crate::{
    agent::{AgentEgress, AgentError},
    audit::{self, Outcome},
    auth::Principal,
    db::{self, sandboxes::SandboxRow},
    lifecycle::SandboxState,
    state::AppState,
};

/// Why the policy was not replaced.
#[derive(Debug, thiserror::Error)]
pub enum UpdateNetworkError {
    #[error("sandbox not found")]
    NotFound,
    /// Neither running nor paused.
    #[error("sandbox is {0}, not running")]
    NotLive(SandboxState),
    #[error("the sandbox's host is not connected")]
    HostNotConnected,
    #[error("the host refused: {0}")]
    Host(#[source] AgentError),
    #[error("database")]
    Db(#[from] sqlx::Error),
}

impl super::OnHostRefusal for UpdateNetworkError {
    const NOT_FOUND: Self = Self::NotFound;
    const HOST_NOT_CONNECTED: Self = Self::HostNotConnected;
}

/// Replaces the egress policy of the caller's sandbox `id` with `egress`
/// (the whole policy: what it leaves out is cleared).
pub async fn update_network(
    state: &AppState,
    principal: &Principal,
    id: &SandboxId,
    egress: AgentEgress,
) -> Result<SandboxRow, UpdateNetworkError> {
    let live = |row: &SandboxRow| match row.state {
        SandboxState::Running | SandboxState::Paused => Ok(()),
        other => Err(UpdateNetworkError::NotLive(other)),
    };
    let (row, agent) = on_host(state, &principal.team_id, id, live).await?;
    agent
        .update_egress(&row.id, &egress)
        .await
        .map_err(UpdateNetworkError::Host)?;
    db::sandboxes::set_egress(
        &state.db,
        &row.id,
        egress.internet,
        &egress.allow,
        &egress.deny,
    )
    .await?;
    let resource = ("sandbox", row.id.as_str());
    audit::record(
        &state.db,
        principal,
        "sandbox.network",
        resource,
        Outcome::Ok,
        "",
    )
    .await;
    find(state, &principal.team_id, id)
        .await?
        .ok_or(UpdateNetworkError::NotFound)
}
