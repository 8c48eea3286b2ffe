//! Who belongs to a team. Any member may list; only owners add and
//! remove others; any member may leave (remove themself). A team the
//! caller is not in is "not found", as if it did not exist (an API key is
//! in its own team only). A member who leaves or is removed loses the keys
//! they created there that are theirs (`owner: user`), revoked in the same
//! transaction. Changes are audited.
use wrenn_types::{TeamId, UserId};

use crate::{
    audit::{self, Outcome},
    auth::{Actor, Principal, Role},
    db::{self, audit::NewAuditEvent, teams::MemberRow},
};

/// Why the members were not listed.
#[derive(Debug, thiserror::Error)]
pub enum ListMembersError {
    #[error("team {0} not found")]
    TeamNotFound(TeamId),
    #[error("cannot read the members")]
    Database(#[from] sqlx::Error),
}

/// Why a member was not added.
#[derive(Debug, thiserror::Error)]
pub enum AddMemberError {
    #[error("team {0} not found")]
    TeamNotFound(TeamId),
    #[error("only team owners may do this")]
    NotOwner,
    #[error("no user has the email {email}")]
    UnknownUser { email: String },
    #[error("the user is already a member of this team")]
    AlreadyMember,
    #[error("cannot add the member")]
    Database(#[source] sqlx::Error),
}

/// Why a member was not removed.
#[derive(Debug, thiserror::Error)]
pub enum RemoveMemberError {
    #[error("team {0} not found")]
    TeamNotFound(TeamId),
    #[error("only team owners may do this")]
    NotOwner,
    #[error("the user is not a member of this team")]
    NotMember,
    #[error("the team's last owner cannot be removed")]
    LastOwner,
    #[error("cannot remove the member")]
    Database(#[source] sqlx::Error),
}

/// Not in the team, or a member but not an owner.
enum Denied {
    NotInTeam,
    NotOwner,
}

/// The caller's role in `team_id`; `None` when the caller is not in it.
async fn role_in(
    db: &db::Db,
    principal: &Principal,
    team_id: &TeamId,
) -> Result<Option<Role>, sqlx::Error> {
    Ok(match &principal.actor {
        Actor::User { user_id, .. } => db::users::membership(db, team_id.as_str(), user_id).await?,
        Actor::ApiKey { .. } => (principal.team_id == team_id.as_str()).then_some(principal.role),
    })
}

async fn require_owner(
    db: &db::Db,
    principal: &Principal,
    team_id: &TeamId,
) -> Result<Result<(), Denied>, sqlx::Error> {
    Ok(match role_in(db, principal, team_id).await? {
        None => Err(Denied::NotInTeam),
        Some(Role::Member) => Err(Denied::NotOwner),
        Some(Role::Owner) => Ok(()),
    })
}

async fn record(db: &db::Db, principal: &Principal, team_id: &TeamId, action: &str, user_id: &str) {
    let (actor_type, actor_id) = principal.audit_actor();
    let event = NewAuditEvent {
        team_id: Some(team_id.as_str()),
        actor_type,
        actor_id,
        action,
        resource_type: "user",
        resource_id: user_id,
        outcome: Outcome::Ok.as_str(),
        detail: "",
    };
    audit::write(db, event).await;
}

/// The team's members, for any member of it.
pub async fn list(
    db: &db::Db,
    principal: &Principal,
    team_id: &TeamId,
) -> Result<Vec<MemberRow>, ListMembersError> {
    if role_in(db, principal, team_id).await?.is_none() {
        return Err(ListMembersError::TeamNotFound(team_id.clone()));
    }
    Ok(db::teams::members(db, team_id.as_str()).await?)
}

/// Adds the existing user with `email` (already validated) to the team
/// (owners only); audited as `team_member.add`.
pub async fn add(
    db: &db::Db,
    principal: &Principal,
    team_id: &TeamId,
    email: &str,
    role: Role,
) -> Result<MemberRow, AddMemberError> {
    let owner = require_owner(db, principal, team_id)
        .await
        .map_err(AddMemberError::Database)?;
    match owner {
        Err(Denied::NotInTeam) => return Err(AddMemberError::TeamNotFound(team_id.clone())),
        Err(Denied::NotOwner) => return Err(AddMemberError::NotOwner),
        Ok(()) => {}
    }
    let member = db::teams::add_member(db, team_id.as_str(), email, role)
        .await
        .map_err(|err| match err {
            db::teams::AddMemberError::UnknownUser => AddMemberError::UnknownUser {
                email: email.to_owned(),
            },
            db::teams::AddMemberError::AlreadyMember => AddMemberError::AlreadyMember,
            db::teams::AddMemberError::Db(err) => AddMemberError::Database(err),
        })?;
    record(db, principal, team_id, "team_member.add", &member.user_id).await;
    Ok(member)
}

/// Removes a member (owners; any member may remove themself, i.e. leave)
/// unless they are the last owner; audited as `team_member.remove` and,
/// for each key of theirs revoked with it, `api_key.revoke`. `user_id` is
/// `None` for a malformed id, which names no member.
pub async fn remove(
    db: &db::Db,
    principal: &Principal,
    team_id: &TeamId,
    user_id: Option<&UserId>,
) -> Result<(), RemoveMemberError> {
    let leaving = user_id.is_some_and(|id| principal.user_id() == Some(id.as_str()));
    let owner = require_owner(db, principal, team_id)
        .await
        .map_err(RemoveMemberError::Database)?;
    match owner {
        Err(Denied::NotInTeam) => return Err(RemoveMemberError::TeamNotFound(team_id.clone())),
        Err(Denied::NotOwner) if !leaving => return Err(RemoveMemberError::NotOwner),
        Err(Denied::NotOwner) | Ok(()) => {}
    }
    let user_id = user_id.ok_or(RemoveMemberError::NotMember)?;
    let revoked = db::teams::remove_member(db, team_id.as_str(), user_id.as_str())
        .await
        .map_err(|err| match err {
            db::teams::RemoveMemberError::NotMember => RemoveMemberError::NotMember,
            db::teams::RemoveMemberError::LastOwner => RemoveMemberError::LastOwner,
            db::teams::RemoveMemberError::Db(err) => RemoveMemberError::Database(err),
        })?;
    record(
        db,
        principal,
        team_id,
        "team_member.remove",
        user_id.as_str(),
    )
    .await;
    for key_id in &revoked {
        record_key_revoked(db, principal, team_id, key_id, "its creator left the team").await;
    }
    Ok(())
}

/// Audits a key revoked because its creator is gone (`detail` says why).
pub async fn record_key_revoked(
    db: &db::Db,
    principal: &Principal,
    team_id: &TeamId,
    key_id: &str,
    detail: &str,
) {
    let (actor_type, actor_id) = principal.audit_actor();
    let event = NewAuditEvent {
        team_id: Some(team_id.as_str()),
        actor_type,
        actor_id,
        action: "api_key.revoke",
        resource_type: "api_key",
        resource_id: key_id,
        outcome: Outcome::Ok.as_str(),
        detail,
    };
    audit::write(db, event).await;
}
