//! `/v1/sandboxes`: records in the database, VMs on host agents. Handlers
//! load the caller's sandbox (other teams' are "not found"), check its state,
//! call its host, and record the transition with a guard on the state.
mod create;
mod exec;
mod exec_ws;
mod files;
mod lifecycle;
mod list;
mod pty;
pub(crate) mod types;

use std::sync::Arc;

use utoipa_axum::{router::OpenApiRouter, routes};

pub use types::{CreateSandbox, Sandbox};

use crate::{
    agent::{AgentApi, AgentError},
    auth::Principal,
    db::{self, sandboxes::SandboxRow},
    envd::{Envd, EnvdError},
    error::ApiError,
    lifecycle::SandboxState,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create::create, list::list))
        .routes(routes!(list::get, lifecycle::destroy))
        .routes(routes!(lifecycle::set_timeout))
        .routes(routes!(lifecycle::ping))
        .routes(routes!(lifecycle::pause))
        .routes(routes!(lifecycle::resume))
        .routes(routes!(lifecycle::connect))
        .routes(routes!(exec::exec))
        .routes(routes!(exec_ws::exec_ws))
        .routes(routes!(pty::pty))
        .routes(routes!(files::download, files::upload, files::remove))
        .routes(routes!(files::list))
        .routes(routes!(files::mkdir))
        .routes(routes!(files::rename))
        .routes(routes!(files::metrics))
}

/// The caller's sandbox `id`, or `not_found` (also for other teams' ids).
pub(crate) async fn load(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<SandboxRow, ApiError> {
    if !valid_id(id) {
        return Err(ApiError::NotFound { what: "sandbox" });
    }
    db::sandboxes::get(&state.db, &principal.team_id, id)
        .await?
        .ok_or(ApiError::NotFound { what: "sandbox" })
}

/// Sandbox ids are ours (`[a-z0-9-]`, at most 64): anything else cannot exist.
fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The agent of the host a sandbox is placed on.
pub(crate) async fn agent_of(
    state: &AppState,
    sandbox: &SandboxRow,
) -> Result<Arc<dyn AgentApi>, ApiError> {
    state
        .hosts
        .agent(sandbox.host_id.as_deref().unwrap_or_default())
        .await
        .map_err(|_| ApiError::AgentUnavailable("the sandbox's host is not connected".into()))
}

/// A running sandbox's envd, through its host.
pub(crate) async fn running_envd(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<Envd, ApiError> {
    sandbox_envd(state, principal, id).await.map(|s| s.envd)
}

/// A running sandbox's envd, able to tell "the guest failed" from "the
/// sandbox stopped during the call".
pub(crate) struct SandboxEnvd {
    pub envd: Envd,
    agent: std::sync::Arc<dyn crate::agent::AgentApi>,
    id: String,
}

impl SandboxEnvd {
    /// Awaits an envd call. A sandbox can time out or be destroyed while a
    /// call is in flight; its guest then just goes silent (a destroyed VM
    /// sends no reset). Such a failure is answered as `sandbox_not_running`
    /// after asking the host, not as an unavailable agent.
    pub async fn call<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, EnvdError>>,
    ) -> Result<T, ApiError> {
        match call.await {
            Ok(value) => Ok(value),
            Err(err) => Err(self.settle(envd_error(err)).await),
        }
    }

    async fn settle(&self, err: ApiError) -> ApiError {
        if !matches!(err, ApiError::AgentUnavailable(_)) {
            return err;
        }
        match self.agent.get(&self.id).await {
            Ok(sandbox) if sandbox.state == crate::agent::AgentState::Running => err,
            Ok(sandbox) => ApiError::SandboxNotRunning {
                state: format!("{:?}", sandbox.state).to_lowercase(),
            },
            Err(AgentError::NotFound(_)) => ApiError::SandboxNotRunning {
                state: "stopped".into(),
            },
            Err(_) => err,
        }
    }
}

/// [`running_envd`] for calls whose failures are settled against the host.
pub(crate) async fn sandbox_envd(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<SandboxEnvd, ApiError> {
    let sandbox = load(state, principal, id).await?;
    require_running(&sandbox)?;
    let agent = agent_of(state, &sandbox).await?;
    Ok(SandboxEnvd {
        envd: Envd::new(agent.envd(&sandbox.id), state_http()),
        agent,
        id: sandbox.id,
    })
}

fn state_http() -> reqwest::Client {
    static HTTP: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    HTTP.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap_or_default()
    })
    .clone()
}

pub(crate) fn require_running(sandbox: &SandboxRow) -> Result<(), ApiError> {
    if sandbox.state == SandboxState::Running {
        Ok(())
    } else {
        Err(ApiError::SandboxNotRunning {
            state: sandbox.state.to_string(),
        })
    }
}

/// An agent's refusal in API terms.
pub(crate) fn agent_error(err: AgentError) -> ApiError {
    match err {
        AgentError::NotFound(m) => ApiError::Conflict(format!("the host does not know this: {m}")),
        AgentError::InvalidArgument(m) => ApiError::Validation(m),
        AgentError::FailedPrecondition(m) | AgentError::AlreadyExists(m) => ApiError::Conflict(m),
        AgentError::Exhausted(m) => ApiError::NoCapacity(m),
        AgentError::Unavailable(m) => ApiError::AgentUnavailable(m),
    }
}

/// envd's refusal in API terms.
pub(crate) fn envd_error(err: EnvdError) -> ApiError {
    match err {
        EnvdError::Refused { code, message } => match code.as_str() {
            "NotFound" | "404" => ApiError::NotFound {
                what: "file or directory",
            },
            "InvalidArgument" | "400" => ApiError::BadRequest(message),
            "PermissionDenied" | "403" => {
                ApiError::BadRequest(format!("permission denied: {message}"))
            }
            "AlreadyExists" | "409" => ApiError::Conflict(message),
            "507" | "ResourceExhausted" => {
                ApiError::Conflict(format!("the sandbox's disk is full: {message}"))
            }
            _ if message.is_empty() => ApiError::AgentUnavailable(format!("envd failed ({code})")),
            _ => ApiError::AgentUnavailable(message),
        },
        EnvdError::Host { code, message } => match code.as_str() {
            // The host no longer runs it: the reconciler records why.
            "not_found" | "sandbox_not_running" => ApiError::SandboxNotRunning {
                state: "stopped".into(),
            },
            _ => ApiError::AgentUnavailable(message),
        },
        EnvdError::Unreachable(m) => ApiError::AgentUnavailable(m),
    }
}
