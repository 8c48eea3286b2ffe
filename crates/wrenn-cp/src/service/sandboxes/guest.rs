//! The guest of a running sandbox: its envd through its host, for every
//! call that reaches inside (exec, PTY, files, metrics). A sandbox can time
//! out or be destroyed while a call is in flight; its guest then just goes
//! silent (a destroyed VM sends no reset), so such a failure is settled by
//! asking the host, and answered as "not running" rather than "unavailable".
use std::sync::Arc;

use wrenn_types::SandboxId;

use super::{on_host, running};
use crate::{
    agent::{AgentApi, AgentError, AgentState},
    envd::{Envd, EnvdError, HostRefusal, Refusal},
    lifecycle::SandboxState,
    state::AppState,
};

/// Why a sandbox's guest cannot be reached at all.
#[derive(Debug, thiserror::Error)]
pub enum OpenGuestError {
    #[error("sandbox not found")]
    NotFound,
    #[error("sandbox is {0}, not running")]
    NotRunning(SandboxState),
    #[error("the sandbox's host is not connected")]
    HostNotConnected,
    #[error("database")]
    Db(#[from] sqlx::Error),
}

impl super::OnHostRefusal for OpenGuestError {
    const NOT_FOUND: Self = Self::NotFound;
    const HOST_NOT_CONNECTED: Self = Self::HostNotConnected;
}

/// Why a call into the guest failed.
#[derive(Debug, thiserror::Error)]
pub enum GuestCallError {
    /// envd (or the host's proxy in front of it) refused or failed.
    #[error(transparent)]
    Envd(EnvdError),
    /// The sandbox stopped running during the call; the host reports it so.
    #[error("sandbox is {0:?}, not running")]
    HostReports(AgentState),
    /// The host no longer knows the sandbox.
    #[error("sandbox is stopped, not running")]
    Gone,
}

/// A running sandbox's envd, able to tell "the guest failed" from "the
/// sandbox stopped during the call".
#[derive(Debug, Clone)]
pub struct Guest {
    pub envd: Envd,
    agent: Arc<dyn AgentApi>,
    id: String,
}

/// The guest of the caller's running sandbox `id`.
pub async fn guest(
    state: &AppState,
    team_id: &str,
    id: &SandboxId,
) -> Result<Guest, OpenGuestError> {
    let running = |row: &_| running(row).map_err(OpenGuestError::NotRunning);
    let (sandbox, agent) = on_host(state, team_id, id, running).await?;
    Ok(Guest {
        envd: Envd::new(agent.envd(&sandbox.id)),
        agent,
        id: sandbox.id,
    })
}

impl Guest {
    /// Awaits an envd call, settling a failure that may mean the sandbox
    /// stopped meanwhile against the host.
    pub async fn call<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, EnvdError>>,
    ) -> Result<T, GuestCallError> {
        match call.await {
            Ok(value) => Ok(value),
            Err(err) => Err(self.settle(err).await),
        }
    }

    /// What `err` means once the host was asked whether the sandbox runs.
    pub async fn settle(&self, err: EnvdError) -> GuestCallError {
        let silent = match &err {
            EnvdError::Host {
                refusal: HostRefusal::SandboxGone,
                ..
            } => return GuestCallError::Gone,
            EnvdError::Unreachable(_)
            | EnvdError::Refused {
                kind: Refusal::Failed,
                ..
            }
            | EnvdError::Host {
                refusal: HostRefusal::Failed,
                ..
            } => true,
            EnvdError::Refused { .. } => false,
        };
        if !silent {
            return GuestCallError::Envd(err);
        }
        match self.agent.get(&self.id).await {
            Ok(sandbox) if sandbox.state == AgentState::Running => GuestCallError::Envd(err),
            Ok(sandbox) => GuestCallError::HostReports(sandbox.state),
            Err(AgentError::NotFound(_)) => GuestCallError::Gone,
            Err(_) => GuestCallError::Envd(err),
        }
    }
}
