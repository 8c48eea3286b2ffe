//! Reading sandbox records: one of the team's, a page of them, or the
//! recorded state transitions of one.
use wrenn_types::SandboxId;

use super::find;
use crate::{
    db::{
        self,
        sandboxes::{ListFilter, SandboxRow},
    },
    state::AppState,
};

#[derive(Debug, thiserror::Error)]
pub enum GetSandboxError {
    /// No such sandbox in the caller's team.
    #[error("sandbox not found")]
    NotFound,
    #[error("database")]
    Db(#[from] sqlx::Error),
}

/// One sandbox of the team.
pub async fn get(
    state: &AppState,
    team_id: &str,
    id: &SandboxId,
) -> Result<SandboxRow, GetSandboxError> {
    find(state, team_id, id)
        .await?
        .ok_or(GetSandboxError::NotFound)
}

/// One recorded state transition of a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxEvent {
    /// Unix ms.
    pub at: i64,
    pub from_state: String,
    pub to_state: String,
    /// Why, when recorded (empty otherwise).
    pub reason: String,
}

/// The state transitions of one sandbox of the team, oldest first.
pub async fn events(
    state: &AppState,
    team_id: &str,
    id: &SandboxId,
) -> Result<Vec<SandboxEvent>, GetSandboxError> {
    get(state, team_id, id).await?;
    let rows = db::sandboxes::events(&state.db, id.as_str()).await?;
    Ok(rows
        .into_iter()
        .map(|(at, from_state, to_state, reason)| SandboxEvent {
            at,
            from_state,
            to_state,
            reason,
        })
        .collect())
}

/// One page of the team's sandboxes, newest first.
#[derive(Debug)]
pub struct SandboxPage {
    pub sandboxes: Vec<SandboxRow>,
    /// Whether more follow the last one.
    pub more: bool,
}

/// The team's sandboxes matching `filter`, at most `filter.limit`.
pub async fn list(
    state: &AppState,
    team_id: &str,
    mut filter: ListFilter,
) -> Result<SandboxPage, sqlx::Error> {
    let limit = usize::try_from(filter.limit).unwrap_or(usize::MAX);
    // One more than asked tells whether another page exists.
    filter.limit += 1;
    let mut sandboxes = db::sandboxes::list(&state.db, team_id, &filter).await?;
    let more = sandboxes.len() > limit;
    sandboxes.truncate(limit);
    Ok(SandboxPage { sandboxes, more })
}
