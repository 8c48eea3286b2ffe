//! Platform administration (platform admins only; the rules:
//! `service::admin`): `GET /v1/admin/users` and `GET /v1/admin/teams` list
//! everyone in pages, `PUT /v1/admin/users/{user_id}/admin` grants and
//! revokes the admin flag.
use axum::{extract::State, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    cursor,
    extract::{ApiJson, ApiPath, ApiQuery},
    page_limit, rfc3339,
    views::User,
};
use wrenn_types::UserId;

use crate::{
    auth::Principal,
    db::directory::{DirectoryPage, DirectoryTeam},
    error::{ApiError, ApiResult},
    service::admin,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_admin))
        .routes(routes!(admin_list_users))
        .routes(routes!(admin_list_teams))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DirectoryQuery {
    /// 1..=200, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Case-insensitive substring: of the email or name (users), of the
    /// name or id (teams). At most 200 characters.
    pub q: Option<String>,
}

const MAX_SEARCH_CHARS: usize = 200;

impl DirectoryQuery {
    /// The page asked for, one row more than `limit` (that row tells whether
    /// another page follows).
    fn page(&self) -> ApiResult<(DirectoryPage<'_>, i64)> {
        let limit = page_limit(self.limit)?;
        let before = self.cursor.as_deref().map(cursor::decode).transpose()?;
        let search = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
        if search.is_some_and(|q| q.chars().count() > MAX_SEARCH_CHARS) {
            return Err(ApiError::validation("q must be at most 200 characters"));
        }
        let page = DirectoryPage {
            before,
            search,
            limit: limit + 1,
        };
        Ok((page, limit))
    }
}

/// Cuts the extra row off and says where the next page starts.
fn paged<T>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = more.then(|| rows.last().map(&key)).flatten();
    (rows, next)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserPage {
    pub users: Vec<User>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One team as the platform admin sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AdminTeam {
    pub id: String,
    pub name: String,
    /// A user's personal team.
    pub personal: bool,
    /// RFC 3339.
    pub created_at: String,
    pub member_count: i64,
}

impl From<DirectoryTeam> for AdminTeam {
    fn from(row: DirectoryTeam) -> Self {
        Self {
            id: row.id,
            name: row.name,
            personal: row.personal,
            created_at: rfc3339(row.created_at),
            member_count: row.member_count,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeamPage {
    pub teams: Vec<AdminTeam>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Every user of the platform, newest first.
#[utoipa::path(get, path = "/v1/admin/users", tag = "admin", params(DirectoryQuery),
    responses((status = 200, body = UserPage), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn admin_list_users(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<DirectoryQuery>,
) -> ApiResult<Json<UserPage>> {
    let (page, limit) = query.page()?;
    let rows = admin::list_users(&state.db, &principal, &page).await?;
    let (rows, next_cursor) = paged(rows, limit, |u| cursor::encode(u.created_at, &u.id));
    Ok(Json(UserPage {
        users: rows.iter().map(User::from).collect(),
        next_cursor,
    }))
}

/// Every team of the platform, newest first, with its member count.
#[utoipa::path(get, path = "/v1/admin/teams", tag = "admin", params(DirectoryQuery),
    responses((status = 200, body = TeamPage), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn admin_list_teams(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<DirectoryQuery>,
) -> ApiResult<Json<TeamPage>> {
    let (page, limit) = query.page()?;
    let rows = admin::list_teams(&state.db, &principal, &page).await?;
    let (rows, next_cursor) = paged(rows, limit, |t| cursor::encode(t.created_at, &t.id));
    Ok(Json(TeamPage {
        teams: rows.into_iter().map(AdminTeam::from).collect(),
        next_cursor,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAdmin {
    pub is_admin: bool,
}

/// Makes a user a platform admin, or not.
#[utoipa::path(put, path = "/v1/admin/users/{user_id}/admin", tag = "admin",
    params(("user_id" = String, Path)), request_body = SetAdmin,
    responses((status = 200, body = User), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
async fn set_admin(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<SetAdmin>,
) -> ApiResult<Json<User>> {
    let user_id = UserId::try_from(user_id).ok();
    let user = admin::set_admin(&state.db, &principal, user_id.as_ref(), body.is_admin).await?;
    Ok(Json(User::from(&user)))
}
