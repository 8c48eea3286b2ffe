//! Reading builds back: one, the team's list, their log lines, a cancel,
//! and the tags of a built template. Audited where they change something.
use crate::{
    audit::{self, Outcome},
    auth::Principal,
    db::{
        self,
        template_builds::{BuildRow, LogLine},
        templates::TagRow,
    },
    state::AppState,
};

#[derive(Debug, thiserror::Error)]
pub enum ReadBuildError {
    #[error("build '{0}' not found")]
    NotFound(String),
    #[error("database")]
    Db(#[from] sqlx::Error),
}

pub async fn get(state: &AppState, team_id: &str, id: &str) -> Result<BuildRow, ReadBuildError> {
    db::template_builds::get(&state.db, team_id, id)
        .await?
        .ok_or_else(|| ReadBuildError::NotFound(id.to_owned()))
}

pub async fn list(
    state: &AppState,
    team_id: &str,
    limit: i64,
) -> Result<Vec<BuildRow>, sqlx::Error> {
    db::template_builds::list(&state.db, team_id, limit).await
}

/// Lines from `offset`, at most `limit`.
pub async fn logs(
    state: &AppState,
    build_id: &str,
    offset: i64,
    limit: i64,
) -> Result<Vec<LogLine>, sqlx::Error> {
    db::template_builds::logs(&state.db, build_id, offset, limit).await
}

/// Cancels a build: a queued one at once, a running one at its runner's
/// next check. Answers the record as it now reads.
pub async fn cancel(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<BuildRow, ReadBuildError> {
    let before = get(state, &principal.team_id, id).await?;
    let asked = db::template_builds::request_cancel(&state.db, &principal.team_id, id).await?;
    if asked {
        audit::record(
            &state.db,
            principal,
            "template.build.cancel",
            ("template_build", id),
            Outcome::Ok,
            before.status.as_str(),
        )
        .await;
    }
    get(state, &principal.team_id, id).await
}

/// The tags of the team's built template `name`.
pub async fn tags(state: &AppState, team_id: &str, name: &str) -> Result<Vec<TagRow>, sqlx::Error> {
    db::templates::tags(&state.db, team_id, name).await
}
