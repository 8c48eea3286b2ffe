//! Deleting teams and users (docs/api.md, "Deletion").
//!
//! A team is torn down in two phases. First the work on hosts, best effort
//! and repeatable: every sandbox that may hold a VM is destroyed through its
//! host (a host that cannot be reached is skipped, as a plain destroy does;
//! one that answers with an error stops the deletion with nothing of the
//! team's records removed, so a retry finishes it), then its templates are
//! deleted from their hosts (a failure there leaves only a disk image and is
//! audited). Then the records go in one database transaction: keys,
//! templates, sandbox records, memberships and the team. A team that still
//! owns bring-your-own-cloud hosts is refused (`team_has_hosts`): delete
//! them first. Audit events are never deleted.
//!
//! A user is deleted with their personal team and every shared team of
//! which they are the only member; a shared team in which they are the
//! last owner but not the only member is refused (`conflict`). Their own
//! keys in other teams are revoked with their memberships.
use wrenn_types::{SandboxId, TeamId, TemplateName, UserId};

use crate::{
    audit::{self, Outcome},
    auth::{Principal, Role},
    db::{self, audit::NewAuditEvent},
    lifecycle::SandboxState,
    service::{members::record_key_revoked, sandboxes, templates},
    state::AppState,
};

/// Why a team was not deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteTeamError {
    #[error("team not found")]
    NotFound,
    #[error("only team owners may do this")]
    NotOwner,
    #[error("this needs a user login, not an API key")]
    NeedsUser,
    #[error("a personal team is deleted with its user (DELETE /v1/users/{{user_id}})")]
    Personal,
    #[error(
        "team {team_id} still owns {count} host(s); delete them first (DELETE /v1/hosts/{{id}})"
    )]
    HasHosts { team_id: String, count: i64 },
    /// Some hosts refused to destroy a sandbox; nothing was deleted yet
    /// beyond the sandboxes that were destroyed. Retry.
    #[error("{failed} sandbox(es) of team {team_id} could not be destroyed on their hosts; nothing else was deleted, retry")]
    SandboxesRemain { team_id: String, failed: usize },
    #[error("cannot delete the team")]
    Database(#[from] sqlx::Error),
}

/// Why a user was not deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteUserError {
    /// No such user, or one the caller may not delete (only themself, or
    /// anyone for platform admins).
    #[error("user not found")]
    NotFound,
    #[error("this needs a user login, not an API key")]
    NeedsUser,
    #[error("the user is the last owner of team {0}, which has other members; make another member owner or delete the team first")]
    LastOwner(String),
    #[error(transparent)]
    Team(#[from] DeleteTeamError),
    #[error("cannot delete the user")]
    Database(#[from] sqlx::Error),
}

/// Deletes the team `team_id` (its owners only); audited as `team.delete`.
pub async fn delete_team(
    state: &AppState,
    principal: &Principal,
    team_id: &TeamId,
) -> Result<(), DeleteTeamError> {
    let user_id = principal.user_id().ok_or(DeleteTeamError::NeedsUser)?;
    let team = db::teams::get_for_user(&state.db, user_id, team_id.as_str())
        .await?
        .ok_or(DeleteTeamError::NotFound)?;
    if team.role != Role::Owner {
        return Err(DeleteTeamError::NotOwner);
    }
    if team.personal {
        return Err(DeleteTeamError::Personal);
    }
    tear_down(state, principal, team_id.as_str()).await
}

/// Both phases of a team's deletion, for a caller already allowed to.
async fn tear_down(
    state: &AppState,
    principal: &Principal,
    team_id: &str,
) -> Result<(), DeleteTeamError> {
    let count = db::teams::host_count(&state.db, team_id).await?;
    if count > 0 {
        return Err(DeleteTeamError::HasHosts {
            team_id: team_id.to_owned(),
            count,
        });
    }
    let acting = Principal {
        actor: principal.actor.clone(),
        team_id: team_id.to_owned(),
        role: Role::Owner,
    };
    destroy_sandboxes(state, &acting).await?;
    delete_templates(state, &acting).await?;
    let Some(keys) = db::teams::delete(&state.db, team_id).await? else {
        // Deleted meanwhile by another request: nothing left to do.
        return Ok(());
    };
    let team = TeamId::try_from(team_id).ok();
    for key_id in &keys {
        if let Some(team) = &team {
            record_key_revoked(&state.db, principal, team, key_id, "its team was deleted").await;
        }
    }
    audit::record(
        &state.db,
        &acting,
        "team.delete",
        ("team", team_id),
        Outcome::Ok,
        "",
    )
    .await;
    tracing::info!(team_id, keys = keys.len(), "team deleted");
    Ok(())
}

async fn destroy_sandboxes(state: &AppState, acting: &Principal) -> Result<(), DeleteTeamError> {
    let mut failed = 0;
    for row in db::sandboxes::not_stopped_of_team(&state.db, &acting.team_id).await? {
        let Ok(id) = SandboxId::try_from(row.id.as_str()) else {
            continue;
        };
        match sandboxes::destroy(state, acting, &id).await {
            Ok(()) | Err(sandboxes::DestroySandboxError::NotFound) => {}
            Err(err) => {
                failed += 1;
                tracing::warn!(sandbox_id = %row.id, error = %err, "cannot destroy a sandbox of a team being deleted");
                let detail = format!("team deletion: {err}");
                let resource = ("sandbox", row.id.as_str());
                audit::record(
                    &state.db,
                    acting,
                    "sandbox.destroy",
                    resource,
                    Outcome::Failed,
                    &detail,
                )
                .await;
            }
        }
    }
    if failed > 0 {
        return Err(DeleteTeamError::SandboxesRemain {
            team_id: acting.team_id.clone(),
            failed,
        });
    }
    // A create that raced the loop (pending when listed) is caught here.
    let left = db::sandboxes::not_stopped_of_team(&state.db, &acting.team_id).await?;
    let live = left
        .iter()
        .filter(|s| s.state != SandboxState::Stopped)
        .count();
    if live > 0 {
        return Err(DeleteTeamError::SandboxesRemain {
            team_id: acting.team_id.clone(),
            failed: live,
        });
    }
    Ok(())
}

async fn delete_templates(state: &AppState, acting: &Principal) -> Result<(), sqlx::Error> {
    for template in db::templates::list(&state.db, &acting.team_id).await? {
        if template.builtin || template.team_id.as_deref() != Some(acting.team_id.as_str()) {
            continue;
        }
        let Ok(name) = TemplateName::try_from(template.name.as_str()) else {
            continue;
        };
        if let Err(err) = templates::delete(state, acting, &name).await {
            // The record goes with the team; at worst a disk image stays.
            tracing::warn!(template = %template.name, error = %err, "cannot delete a template of a team being deleted");
            let detail = format!("team deletion: {err}");
            let resource = ("template", template.name.as_str());
            audit::record(
                &state.db,
                acting,
                "template.delete",
                resource,
                Outcome::Failed,
                &detail,
            )
            .await;
        }
    }
    Ok(())
}

/// Deletes the user `user_id` (themself, or anyone for platform admins);
/// audited as `user.delete`. `user_id` is `None` for a malformed id.
pub async fn delete_user(
    state: &AppState,
    principal: &Principal,
    user_id: Option<&UserId>,
) -> Result<(), DeleteUserError> {
    let caller = principal.user_id().ok_or(DeleteUserError::NeedsUser)?;
    let user_id = user_id.ok_or(DeleteUserError::NotFound)?;
    if caller != user_id.as_str() && !principal.is_platform_admin() {
        return Err(DeleteUserError::NotFound);
    }
    if db::users::get(&state.db, user_id.as_str()).await?.is_none() {
        return Err(DeleteUserError::NotFound);
    }
    let owned = db::teams::solely_owned(&state.db, user_id.as_str()).await?;
    if let Some((team, _)) = owned
        .iter()
        .find(|(t, members)| !t.personal && *members > 1)
    {
        return Err(DeleteUserError::LastOwner(team.id.clone()));
    }
    for (team, _) in &owned {
        tear_down(state, principal, &team.id).await?;
    }
    let Some(revoked) = db::users::delete(&state.db, user_id.as_str()).await? else {
        return Err(DeleteUserError::NotFound);
    };
    for (team_id, key_id) in &revoked {
        if let Ok(team) = TeamId::try_from(team_id.as_str()) {
            record_key_revoked(
                &state.db,
                principal,
                &team,
                key_id,
                "its creator was deleted",
            )
            .await;
        }
    }
    let (actor_type, actor_id) = principal.audit_actor();
    let personal = owned
        .iter()
        .find(|(t, _)| t.personal)
        .map(|(t, _)| t.id.as_str());
    audit::write(
        &state.db,
        NewAuditEvent {
            // The personal team is gone; its id keeps the event findable.
            team_id: personal.or(Some(principal.team_id.as_str())),
            actor_type,
            actor_id,
            action: "user.delete",
            resource_type: "user",
            resource_id: user_id.as_str(),
            outcome: Outcome::Ok.as_str(),
            detail: "",
        },
    )
    .await;
    tracing::info!(user_id = %user_id, "user deleted");
    Ok(())
}
