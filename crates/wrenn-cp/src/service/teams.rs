//! Teams as a user sees them: the ones they belong to, and creating a
//! shared team they own. Teams are a user concept (API keys are refused
//! at the edge).
use crate::{
    audit::{self, Outcome},
    db::{self, audit::NewAuditEvent, teams::TeamRow},
};

/// Why a team was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateTeamError {
    #[error("cannot store the team")]
    Database(#[from] sqlx::Error),
}

/// The user's teams, personal team first.
pub async fn list(db: &db::Db, user_id: &str) -> Result<Vec<TeamRow>, sqlx::Error> {
    db::teams::list_for_user(db, user_id).await
}

/// Creates a shared team named `name` (already validated) owned by
/// `user_id`, audited as `team.create`.
pub async fn create(db: &db::Db, user_id: &str, name: &str) -> Result<TeamRow, CreateTeamError> {
    let team = db::teams::create(db, user_id, name).await?;
    audit::write(
        db,
        NewAuditEvent {
            team_id: Some(&team.id),
            actor_type: "user",
            actor_id: user_id,
            action: "team.create",
            resource_type: "team",
            resource_id: &team.id,
            outcome: Outcome::Ok.as_str(),
            detail: "",
        },
    )
    .await;
    Ok(team)
}
