//! A sandbox's metrics history: what its host sampled from envd (every
//! 5 s, the last hour), for a window of time.
use wrenn_types::SandboxId;

use super::on_host;
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

impl super::OnHostRefusal for MetricsHistoryError {
    const NOT_FOUND: Self = Self::NotFound;
    const HOST_NOT_CONNECTED: Self = Self::HostNotConnected;
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
    let any_state = |_: &_| Ok::<(), MetricsHistoryError>(());
    let (row, agent) = on_host(state, &principal.team_id, id, any_state).await?;
    match agent.metrics_history(&row.id, start_ms, end_ms).await {
        Ok(samples) => Ok(samples),
        // Stopped sandboxes are gone from their host, and so is their history.
        Err(AgentError::NotFound(_)) => Ok(Vec::new()),
        Err(err) => Err(MetricsHistoryError::Host(err)),
    }
}
