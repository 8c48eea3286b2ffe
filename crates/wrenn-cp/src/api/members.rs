//! `/v1/teams/{team_id}/members`: who belongs to a team. Any member may
//! list; only owners add and remove others; any member may leave. A team
//! the caller is not in is `404` (the rules: `service::members`).
use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    extract::{ApiJson, ApiPath},
    input::Email,
};
use wrenn_types::{TeamId, UserId};

use crate::{
    auth::{Principal, Role},
    db::teams::MemberRow,
    error::{ApiError, ApiResult},
    service::members,
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

/// A team id from the path; a malformed one names no team the caller is
/// in, which answers `404` like any other.
fn parse_team(raw: String) -> ApiResult<TeamId> {
    TeamId::try_from(raw).map_err(|_| ApiError::NotFound { what: "team" })
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
    let members = members::list(&state.db, &principal, &parse_team(team_id)?).await?;
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
    let team_id = parse_team(team_id)?;
    let email = Email::parse(&body.email)?;
    let member = members::add(&state.db, &principal, &team_id, email.as_str(), body.role).await?;
    Ok((StatusCode::CREATED, Json(Member::from(member))))
}

/// Removes a member (owners; any member may remove themself to leave the
/// team); the last owner stays. The API keys the member created in the
/// team with `owner: user` are revoked with it (and audited); `owner:
/// team` keys keep working.
#[utoipa::path(delete, path = "/v1/teams/{team_id}/members/{user_id}", tag = "teams",
    params(("team_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn remove_member(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((team_id, user_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let team_id = parse_team(team_id)?;
    let user_id = UserId::try_from(user_id).ok();
    members::remove(&state.db, &principal, &team_id, user_id.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT)
}
