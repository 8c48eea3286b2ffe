//! Sandboxes: create, read, lifecycle, fork, and the guest (exec, files, PTY,
//! metrics). Each operation loads the caller's sandbox (other teams' are
//! "not found"), checks its state, calls its host, and records the
//! transition with a guard on the state.
mod create;
mod deadline;
mod exec;
mod fork;
mod guest;
mod idempotent;
mod lifecycle;
mod metrics;
mod network;
mod queued;
mod read;
mod snapshots;
mod token;
mod traffic;

use std::sync::Arc;

pub use create::{create, CreateSandboxError, NewSandbox};
pub use deadline::{connect_until, time_out_now, Connected, TimeOutNowError};
pub use exec::{exec, CollectedExec, ExecCommand, ExecError};
pub use fork::{fork, ForkSandbox, ForkSandboxError, MAX_FORK_COUNT};
pub use guest::{guest, Guest, GuestCallError, OpenGuestError};
pub use idempotent::{
    create_once, request_fingerprint, BadIdempotencyKey, IdempotencyKey, IdempotentCreateError,
};
pub use lifecycle::{
    connect, destroy, pause, pause_keeping, ping, resume, set_timeout, ConnectSandboxError,
    DestroySandboxError, PauseSandboxError, ResumeSandboxError, SetTimeoutError,
};
pub use metrics::{metrics_history, MetricsHistoryError};
pub use network::{update_network, UpdateNetworkError};
pub use queued::{create_waiting, MAX_POOL_WAIT};
pub use read::{events, get, list, GetSandboxError, SandboxEvent, SandboxPage};
pub use snapshots::{list_snapshots, snapshot};
pub use token::{envd_access_token, EnvdTokenError};
pub use traffic::resume_on_traffic;
use wrenn_types::SandboxId;

use crate::{
    agent::AgentApi,
    db::{self, sandboxes::SandboxRow},
    lifecycle::SandboxState,
    state::AppState,
};

/// The caller's sandbox `id`; `None` also for other teams' ids.
async fn find(
    state: &AppState,
    team_id: &str,
    id: &SandboxId,
) -> Result<Option<SandboxRow>, sqlx::Error> {
    db::sandboxes::get(&state.db, team_id, id.as_str()).await
}

/// The agent of the host a sandbox is placed on, if connected.
async fn agent_of(state: &AppState, sandbox: &SandboxRow) -> Option<Arc<dyn AgentApi>> {
    let host = sandbox.host_id.as_deref()?;
    state.hosts.agent(host).await.ok()
}

/// The refusals of an operation that needs the caller's sandbox on its
/// connected host, under the names of the operation's own error.
trait OnHostRefusal: From<sqlx::Error> {
    const NOT_FOUND: Self;
    const HOST_NOT_CONNECTED: Self;
}

/// The caller's sandbox `id`, once `check` accepts it (its state), and the
/// agent of its host: the preamble of an operation on one sandbox's host.
async fn on_host<E: OnHostRefusal>(
    state: &AppState,
    team_id: &str,
    id: &SandboxId,
    check: impl FnOnce(&SandboxRow) -> Result<(), E>,
) -> Result<(SandboxRow, Arc<dyn AgentApi>), E> {
    let row = find(state, team_id, id).await?.ok_or(E::NOT_FOUND)?;
    check(&row)?;
    let agent = agent_of(state, &row).await.ok_or(E::HOST_NOT_CONNECTED)?;
    Ok((row, agent))
}

/// `Err(state)` unless the sandbox is running.
fn running(sandbox: &SandboxRow) -> Result<(), SandboxState> {
    if sandbox.state == SandboxState::Running {
        Ok(())
    } else {
        Err(sandbox.state)
    }
}
