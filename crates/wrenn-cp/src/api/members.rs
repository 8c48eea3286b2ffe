//! `/v1/teams/{team_id}/members`: who belongs to a team. Any member may
//! list; only owners add and remove. A team the caller is not in is `404`.
use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    extract::{ApiJson, ApiPath},
    input::Email,
};
use crate::{
    audit::{self, Outcome},
    auth::{Actor, Principal, Role},
    db::{
        self,
        audit::NewAuditEvent,
        teams::{AddMemberError, MemberRow, RemoveMemberError},
    },
    error::{ApiError, ApiResult},
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_members, add_member))
        .routes(routes!(remove_member))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub role: Role,
}

impl From<MemberRow> for Member {
    fn from(row: MemberRow) -> Self {
        Self {
            user_id: row.user_id,
            email: row.email,
            role: row.role,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberList {
    pub members: Vec<Member>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// An existing user's email.
    pub email: String,
    pub role: Role,
}

impl From<AddMemberError> for ApiError {
    fn from(err: AddMemberError) -> Self {
        match err {
            AddMemberError::UnknownUser => Self::NotFound { what: "user" },
            AddMemberError::AlreadyMember => Self::Conflict(err.to_string()),
            AddMemberError::Db(source) => Self::internal(source),
        }
    }
}

impl From<RemoveMemberError> for ApiError {
    fn from(err: RemoveMemberError) -> Self {
        match err {
            RemoveMemberError::NotMember => Self::NotFound { what: "member" },
            RemoveMemberError::LastOwner => Self::Conflict(err.to_string()),
            RemoveMemberError::Db(source) => Self::internal(source),
        }
    }
}

/// The caller's role in `team_id`; `404` when the caller is not in it (an
/// API key is in its own team only).
async fn role_in(state: &AppState, principal: &Principal, team_id: &str) -> ApiResult<Role> {
    let role = match &principal.actor {
        Actor::User { user_id, .. } => db::users::membership(&state.db, team_id, user_id).await?,
        Actor::ApiKey { .. } => (principal.team_id == team_id).then_some(principal.role),
    };
    role.ok_or(ApiError::NotFound { what: "team" })
}

async fn require_owner_of(state: &AppState, principal: &Principal, team_id: &str) -> ApiResult<()> {
    match role_in(state, principal, team_id).await? {
        Role::Owner => Ok(()),
        Role::Member => Err(ApiError::Forbidden("only team owners may do this")),
    }
}

async fn record(
    state: &AppState,
    principal: &Principal,
    team_id: &str,
    action: &str,
    user_id: &str,
) {
    let (actor_type, actor_id) = principal.audit_actor();
    let event = NewAuditEvent {
        team_id: Some(team_id),
        actor_type,
        actor_id,
        action,
        resource_type: "user",
        resource_id: user_id,
        outcome: Outcome::Ok.as_str(),
        detail: "",
    };
    audit::write(&state.db, event).await;
}

/// The team's members.
#[utoipa::path(get, path = "/v1/teams/{team_id}/members", tag = "teams",
    params(("team_id" = String, Path)),
    responses((status = 200, body = MemberList), (status = 404, body = crate::error::ErrorBody)))]
async fn list_members(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(team_id): ApiPath<String>,
) -> ApiResult<Json<MemberList>> {
    role_in(&state, &principal, &team_id).await?;
    let members = db::teams::members(&state.db, &team_id).await?;
    Ok(Json(MemberList {
        members: members.into_iter().map(Member::from).collect(),
    }))
}

/// Adds an existing user to the team (owners only).
#[utoipa::path(post, path = "/v1/teams/{team_id}/members", tag = "teams",
    params(("team_id" = String, Path)), request_body = AddMember,
    responses((status = 201, body = Member), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn add_member(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(team_id): ApiPath<String>,
    ApiJson(body): ApiJson<AddMember>,
) -> ApiResult<(StatusCode, Json<Member>)> {
    require_owner_of(&state, &principal, &team_id).await?;
    let email = Email::parse(&body.email)?;
    let member = db::teams::add_member(&state.db, &team_id, email.as_str(), body.role).await?;
    record(
        &state,
        &principal,
        &team_id,
        "team_member.add",
        &member.user_id,
    )
    .await;
    Ok((StatusCode::CREATED, Json(Member::from(member))))
}

/// Removes a member (owners only); the last owner stays.
#[utoipa::path(delete, path = "/v1/teams/{team_id}/members/{user_id}", tag = "teams",
    params(("team_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn remove_member(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((team_id, user_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    require_owner_of(&state, &principal, &team_id).await?;
    db::teams::remove_member(&state.db, &team_id, &user_id).await?;
    record(&state, &principal, &team_id, "team_member.remove", &user_id).await;
    Ok(StatusCode::NO_CONTENT)
}
