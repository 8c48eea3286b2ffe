//! Destroy, pause, resume, connect and timeouts of one sandbox: the host
//! does the work, then the transition is recorded with a guard on the state
//! (a lost race leaves the other writer's state) and audited.
use wrenn_types::SandboxId;

use super::{agent_of, find, on_host, running};
use crate::{
    agent::{AgentError, AgentSandbox},
    audit::{self, Outcome},
    auth::Principal,
    db::{
        self,
        sandboxes::{SandboxRow, TransitionExtras},
    },
    lifecycle::SandboxState,
    service::pools,
    state::AppState,
};

/// Why a sandbox could not be destroyed.
#[derive(Debug, thiserror::Error)]
pub enum DestroySandboxError {
    #[error("sandbox not found")]
    NotFound,
    #[error("the host refused: {0}")]
    Host(#[source] AgentError),
    #[error("database")]
    Db(#[from] sqlx::Error),
}

/// Why a sandbox could not be paused.
#[derive(Debug, thiserror::Error)]
pub enum PauseSandboxError {
    #[error("sandbox not found")]
    NotFound,
    #[error("sandbox is {0}, not running")]
    NotRunning(SandboxState),
    /// The team's pool has no room for another paused sandbox.
    #[error(transparent)]
    PoolExhausted(pools::Exhausted),
    #[error("the sandbox's host is not connected")]
    HostNotConnected,
    #[error("the host refused: {0}")]
    Host(#[source] AgentError),
    #[error("database")]
    Db(#[from] sqlx::Error),
}

impl super::OnHostRefusal for PauseSandboxError {
    const NOT_FOUND: Self = Self::NotFound;
    const HOST_NOT_CONNECTED: Self = Self::HostNotConnected;
}

/// Why a sandbox could not be resumed.
#[derive(Debug, thiserror::Error)]
pub enum ResumeSandboxError {
    #[error("sandbox not found")]
    NotFound,
    #[error("sandbox is {0}, not paused")]
    NotPaused(SandboxState),
    /// The team's pool has no room to run it again.
    #[error(transparent)]
    PoolExhausted(pools::Exhausted),
    #[error("the sandbox's host is not connected")]
    HostNotConnected,
    #[error("the host refused: {0}")]
    Host(#[source] AgentError),
    #[error("database")]
    Db(#[from] sqlx::Error),
}

/// Why `connect` could not make a sandbox usable.
#[derive(Debug, thiserror::Error)]
pub enum ConnectSandboxError {
    #[error("sandbox not found")]
    NotFound,
    /// Neither running nor paused.
    #[error("sandbox is {0}, not running")]
    NotRunning(SandboxState),
    /// Paused, and the team's pool has no room to run it again.
    #[error(transparent)]
    PoolExhausted(pools::Exhausted),
    #[error("the sandbox's host is not connected")]
    HostNotConnected,
    #[error("the host refused: {0}")]
    Host(#[source] AgentError),
    #[error("database")]
    Db(#[from] sqlx::Error),
}

/// Why a sandbox's timeout could not be moved (`ping`, `timeout`).
#[derive(Debug, thiserror::Error)]
pub enum SetTimeoutError {
    #[error("sandbox not found")]
    NotFound,
    #[error("sandbox is {0}, not running")]
    NotRunning(SandboxState),
    #[error("the sandbox's host is not connected")]
    HostNotConnected,
    #[error("the host refused: {0}")]
    Host(#[source] AgentError),
    #[error("database")]
    Db(#[from] sqlx::Error),
}

/// Records `to` after the host did the work (and drops this replica's
/// cached proxy route of the sandbox).
pub(super) async fn record(
    state: &AppState,
    row: &SandboxRow,
    to: SandboxState,
    reported: Option<&AgentSandbox>,
) -> Result<(), sqlx::Error> {
    record_metered(state, row, to, reported, reported.and_then(|s| s.cpu_ms)).await
}

/// [`record`] with the final guest CPU reading the host answered.
async fn record_metered(
    state: &AppState,
    row: &SandboxRow,
    to: SandboxState,
    reported: Option<&AgentSandbox>,
    cpu_ms: Option<i64>,
) -> Result<(), sqlx::Error> {
    let extras = TransitionExtras {
        timeout_at: reported.map(|s| s.timeout_at_ms),
        started_at: (to == SandboxState::Running).then(db::now_ms),
        from_snapshot: None,
        cpu_ms,
    };
    db::sandboxes::transition(&state.db, &row.id, to, "", extras).await?;
    state.routes.invalidate(&row.id);
    Ok(())
}

async fn audit_ok(state: &AppState, principal: &Principal, action: &str, row: &SandboxRow) {
    let resource = ("sandbox", row.id.as_str());
    audit::record(&state.db, principal, action, resource, Outcome::Ok, "").await;
}

/// Destroys the sandbox: VM, disk and network are released; the record
/// stays, `stopped`. Destroying a stopped sandbox is a no-op.
pub async fn destroy(
    state: &AppState,
    principal: &Principal,
    id: &SandboxId,
) -> Result<(), DestroySandboxError> {
    let row = find(state, &principal.team_id, id)
        .await?
        .ok_or(DestroySandboxError::NotFound)?;
    if row.state == SandboxState::Stopped {
        return Ok(());
    }
    let mut cpu_ms = None;
    if let Some(agent) = agent_of(state, &row).await {
        match agent.destroy_metered(&row.id).await {
            Ok(reading) => cpu_ms = reading,
            Err(AgentError::NotFound(_)) => {}
            Err(err) => return Err(DestroySandboxError::Host(err)),
        }
    }
    record_metered(state, &row, SandboxState::Stopped, None, cpu_ms).await?;
    audit_ok(state, principal, "sandbox.destroy", &row).await;
    Ok(())
}

/// Pauses the sandbox to disk, freeing its CPU and memory; answers the
/// record as it is afterwards.
pub async fn pause(
    state: &AppState,
    principal: &Principal,
    id: &SandboxId,
) -> Result<SandboxRow, PauseSandboxError> {
    pause_keeping(state, principal, id, true).await
}

/// [`pause`]; without `memory` only the disk is kept and the next resume
/// boots afresh on it (same id and envd token; processes are gone).
pub async fn pause_keeping(
    state: &AppState,
    principal: &Principal,
    id: &SandboxId,
    memory: bool,
) -> Result<SandboxRow, PauseSandboxError> {
    let running = |row: &SandboxRow| running(row).map_err(PauseSandboxError::NotRunning);
    let (row, agent) = on_host(state, &principal.team_id, id, running).await?;
    pools::pause_reserved(&state.db, &state.config, &row)
        .await
        .map_err(|err| match err {
            pools::ReserveError::Exhausted(e) => PauseSandboxError::PoolExhausted(e),
            pools::ReserveError::Db(e) => PauseSandboxError::Db(e),
        })?;
    let paused = if memory {
        agent.pause(&row.id).await
    } else {
        agent.pause_disk_only(&row.id).await
    };
    let reported = match paused {
        Ok(reported) => reported,
        Err(err) => {
            pools::pause_failed(&state.db, &row).await?;
            return Err(PauseSandboxError::Host(err));
        }
    };
    record(state, &row, SandboxState::Paused, Some(&reported)).await?;
    audit_ok(state, principal, "sandbox.pause", &row).await;
    reload(state, principal, id)
        .await?
        .ok_or(PauseSandboxError::NotFound)
}

/// Resumes a paused sandbox; processes and files are as they were.
pub async fn resume(
    state: &AppState,
    principal: &Principal,
    id: &SandboxId,
) -> Result<SandboxRow, ResumeSandboxError> {
    let row = find(state, &principal.team_id, id)
        .await?
        .ok_or(ResumeSandboxError::NotFound)?;
    if row.state != SandboxState::Paused {
        return Err(ResumeSandboxError::NotPaused(row.state));
    }
    resume_row(state, principal, &row).await?;
    reload(state, principal, id)
        .await?
        .ok_or(ResumeSandboxError::NotFound)
}

async fn resume_row(
    state: &AppState,
    principal: &Principal,
    row: &SandboxRow,
) -> Result<(), ResumeSandboxError> {
    let agent = agent_of(state, row)
        .await
        .ok_or(ResumeSandboxError::HostNotConnected)?;
    pools::resume_reserved(&state.db, &state.config, row)
        .await
        .map_err(|err| match err {
            pools::ReserveError::Exhausted(e) => ResumeSandboxError::PoolExhausted(e),
            pools::ReserveError::Db(e) => ResumeSandboxError::Db(e),
        })?;
    let reported = match agent.resume(&row.id).await {
        Ok(reported) => reported,
        Err(err) => {
            pools::resume_failed(&state.db, row).await?;
            return Err(ResumeSandboxError::Host(err));
        }
    };
    record(state, row, SandboxState::Running, Some(&reported)).await?;
    audit_ok(state, principal, "sandbox.resume", row).await;
    Ok(())
}

/// Makes the sandbox usable: resumes it if paused, else moves its timeout.
pub async fn connect(
    state: &AppState,
    principal: &Principal,
    id: &SandboxId,
) -> Result<SandboxRow, ConnectSandboxError> {
    let row = find(state, &principal.team_id, id)
        .await?
        .ok_or(ConnectSandboxError::NotFound)?;
    match row.state {
        SandboxState::Paused => {
            resume_row(state, principal, &row)
                .await
                .map_err(|err| match err {
                    ResumeSandboxError::HostNotConnected => ConnectSandboxError::HostNotConnected,
                    ResumeSandboxError::PoolExhausted(e) => ConnectSandboxError::PoolExhausted(e),
                    ResumeSandboxError::Host(e) => ConnectSandboxError::Host(e),
                    ResumeSandboxError::Db(e) => ConnectSandboxError::Db(e),
                    ResumeSandboxError::NotFound | ResumeSandboxError::NotPaused(_) => {
                        ConnectSandboxError::NotFound
                    }
                })?
        }
        SandboxState::Running => touch(state, &row, None).await.map_err(|err| match err {
            SetTimeoutError::HostNotConnected => ConnectSandboxError::HostNotConnected,
            SetTimeoutError::Host(e) => ConnectSandboxError::Host(e),
            SetTimeoutError::Db(e) => ConnectSandboxError::Db(e),
            SetTimeoutError::NotFound => ConnectSandboxError::NotFound,
            SetTimeoutError::NotRunning(s) => ConnectSandboxError::NotRunning(s),
        })?,
        other => return Err(ConnectSandboxError::NotRunning(other)),
    }
    reload(state, principal, id)
        .await?
        .ok_or(ConnectSandboxError::NotFound)
}

/// Keeps the sandbox alive: its timeout starts again from now.
pub async fn ping(
    state: &AppState,
    principal: &Principal,
    id: &SandboxId,
) -> Result<SandboxRow, SetTimeoutError> {
    touch_running(state, principal, id, None).await
}

/// Sets a new inactivity timeout of `timeout_secs`, counted from now.
pub async fn set_timeout(
    state: &AppState,
    principal: &Principal,
    id: &SandboxId,
    timeout_secs: u64,
) -> Result<SandboxRow, SetTimeoutError> {
    touch_running(state, principal, id, Some(timeout_secs)).await
}

async fn touch_running(
    state: &AppState,
    principal: &Principal,
    id: &SandboxId,
    timeout_secs: Option<u64>,
) -> Result<SandboxRow, SetTimeoutError> {
    let row = find(state, &principal.team_id, id)
        .await?
        .ok_or(SetTimeoutError::NotFound)?;
    running(&row).map_err(SetTimeoutError::NotRunning)?;
    touch(state, &row, timeout_secs).await?;
    reload(state, principal, id)
        .await?
        .ok_or(SetTimeoutError::NotFound)
}

async fn touch(
    state: &AppState,
    row: &SandboxRow,
    timeout_secs: Option<u64>,
) -> Result<(), SetTimeoutError> {
    let agent = agent_of(state, row)
        .await
        .ok_or(SetTimeoutError::HostNotConnected)?;
    let reported = agent
        .set_timeout(&row.id, timeout_secs)
        .await
        .map_err(SetTimeoutError::Host)?;
    let secs = timeout_secs.and_then(|s| i64::try_from(s).ok());
    db::sandboxes::set_timeout_at(&state.db, &row.id, reported.timeout_at_ms, secs).await?;
    Ok(())
}

async fn reload(
    state: &AppState,
    principal: &Principal,
    id: &SandboxId,
) -> Result<Option<SandboxRow>, sqlx::Error> {
    find(state, &principal.team_id, id).await
}
