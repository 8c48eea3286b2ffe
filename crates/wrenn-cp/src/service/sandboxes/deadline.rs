//! Deadlines as E2B's API sets them: `connect` with a timeout (resumes a
//! paused sandbox, and moves a running one's deadline only later, never
//! earlier), and a timeout of zero, which is the timeout action now.
use wrenn_types::{SandboxId, TimeoutAction};

use super::{
    destroy, find, pause, resume, set_timeout, ConnectSandboxError, DestroySandboxError,
    PauseSandboxError, ResumeSandboxError, SetTimeoutError,
};
use crate::{
    auth::Principal,
    db::{self, sandboxes::SandboxRow},
    lifecycle::SandboxState,
    state::AppState,
};

/// How `connect_until` found the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connected {
    /// It was running.
    WasRunning,
    /// It was paused and is running again.
    Resumed,
}

impl From<ResumeSandboxError> for ConnectSandboxError {
    fn from(err: ResumeSandboxError) -> Self {
        match err {
            ResumeSandboxError::NotFound => Self::NotFound,
            ResumeSandboxError::NotPaused(state) => Self::NotRunning(state),
            ResumeSandboxError::HostNotConnected => Self::HostNotConnected,
            ResumeSandboxError::PoolExhausted(e) => Self::PoolExhausted(e),
            ResumeSandboxError::Host(e) => Self::Host(e),
            ResumeSandboxError::Db(e) => Self::Db(e),
        }
    }
}

impl From<SetTimeoutError> for ConnectSandboxError {
    fn from(err: SetTimeoutError) -> Self {
        match err {
            SetTimeoutError::NotFound => Self::NotFound,
            SetTimeoutError::NotRunning(state) => Self::NotRunning(state),
            SetTimeoutError::HostNotConnected => Self::HostNotConnected,
            SetTimeoutError::Host(e) => Self::Host(e),
            SetTimeoutError::Db(e) => Self::Db(e),
        }
    }
}

/// Makes the sandbox usable for at least `timeout_secs` from now: a paused
/// one is resumed with that timeout; a running one keeps a later deadline
/// it already has.
pub async fn connect_until(
    state: &AppState,
    principal: &Principal,
    id: &SandboxId,
    timeout_secs: u64,
) -> Result<(SandboxRow, Connected), ConnectSandboxError> {
    let row = find(state, &principal.team_id, id)
        .await?
        .ok_or(ConnectSandboxError::NotFound)?;
    let how = match row.state {
        SandboxState::Paused => {
            resume(state, principal, id).await?;
            set_timeout(state, principal, id, timeout_secs).await?;
            Connected::Resumed
        }
        SandboxState::Running => {
            let wanted = db::now_ms().saturating_add(secs_ms(timeout_secs));
            if row.timeout_at.is_none_or(|at| at < wanted) {
                set_timeout(state, principal, id, timeout_secs).await?;
            }
            Connected::WasRunning
        }
        other => return Err(ConnectSandboxError::NotRunning(other)),
    };
    let row = find(state, &principal.team_id, id)
        .await?
        .ok_or(ConnectSandboxError::NotFound)?;
    Ok((row, how))
}

fn secs_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// Why the timeout action could not be taken now.
#[derive(Debug, thiserror::Error)]
pub enum TimeOutNowError {
    #[error(transparent)]
    Destroy(#[from] DestroySandboxError),
    #[error(transparent)]
    Pause(#[from] PauseSandboxError),
    #[error("sandbox not found")]
    NotFound,
    #[error("sandbox is {0}, not running")]
    NotRunning(SandboxState),
    #[error("database")]
    Db(#[from] sqlx::Error),
}

/// A deadline of "now": the running sandbox's timeout action happens at
/// once (destroyed, or paused when its action is `pause`).
pub async fn time_out_now(
    state: &AppState,
    principal: &Principal,
    id: &SandboxId,
) -> Result<TimeoutAction, TimeOutNowError> {
    let row = find(state, &principal.team_id, id)
        .await?
        .ok_or(TimeOutNowError::NotFound)?;
    if row.state != SandboxState::Running {
        return Err(TimeOutNowError::NotRunning(row.state));
    }
    match row.on_timeout {
        TimeoutAction::Kill => destroy(state, principal, id).await?,
        TimeoutAction::Pause => {
            pause(state, principal, id).await?;
        }
    }
    Ok(row.on_timeout)
}
