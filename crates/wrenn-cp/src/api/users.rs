//! `DELETE /v1/users/{user_id}`: deleting an account (the user themself,
//! or a platform admin; the rules: `service::deletion`).
use axum::{extract::State, http::StatusCode};
use utoipa_axum::{router::OpenApiRouter, routes};
use wrenn_types::UserId;

use super::extract::ApiPath;
use crate::{auth::Principal, error::ApiResult, service::deletion, state::AppState};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(delete_user))
}

/// Deletes a user (themself, or anyone for a platform admin): their
/// personal team and every shared team they are the only member of, with
/// those teams' sandboxes (destroyed on their hosts), templates and keys;
/// their own API keys (`owner: user`) in other teams are revoked and their
/// memberships removed. Refused (`conflict`) while they are the last owner
/// of a team with other members, and (`team_has_hosts`) while a team to be
/// deleted owns hosts. Audit events stay. Someone else's id is `404`.
#[utoipa::path(delete, path = "/v1/users/{user_id}", tag = "auth",
    params(("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 409, description = "conflict (last owner of a team with other members) or team_has_hosts", body = crate::error::ErrorBody),
              (status = 503, description = "agent_unavailable: a host refused to destroy a sandbox; retry", body = crate::error::ErrorBody)))]
async fn delete_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let user_id = UserId::try_from(user_id).ok();
    deletion::delete_user(&state, &principal, user_id.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT)
}
