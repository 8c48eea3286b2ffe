//! A sandbox's metrics history: what its host sampled from envd (every
//! 5 s, the last hour), for a window of time.
use wrenn_types::SandboxId;

use super::{agent_of, find};
use crate::{
    agent::{AgentError, AgentMetricsSample},
    auth::Principal,
    state::AppState,
};

/// Why no series was answered.
#[derive(Debug, thiserror::Error)]
pub enum MetricsHistoryError {
    #[error("sandbox not found")]
    NotFound,
    #[error("the sandbox's host is not connected")]
    HostNotConnected,
    #[error("the host refused: {0}")]
    Host(#[source] AgentError),
    #[error("database")]
    Db(#[from] sqlx::Error),
}

/// The samples of the caller's sandbox `id` in `[start_ms, end_ms]`
/// (Unix ms; `None`: unbounded), oldest first.
pub async fn metrics_history(
    state: &AppState,
    principal: &Principal,
    id: &SandboxId,
    start_ms: Option<u64>,
    end_ms: Option<u64>,
) -> Result<Vec<AgentMetricsSample>, MetricsHistoryError> {
    let row = find(state, &principal.team_id, id)
        .await?
        .ok_or(MetricsHistoryError::NotFound)?;
    let agent = agent_of(state, &row)
        .await
        .ok_or(MetricsHistoryError::HostNotConnected)?;
    match agent.metrics_history(&row.id, start_ms, end_ms).await {
        Ok(samples) => Ok(samples),
        // Stopped sandboxes are gone from their host, and so is their history.
        Err(AgentError::NotFound(_)) => Ok(Vec::new()),
        Err(err) => Err(MetricsHistoryError::Host(err)),
    }
}
