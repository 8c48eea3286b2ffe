//! `/v1/keys`: the team's API keys. The plaintext key is in the answer to
//! its creation and nowhere else: only its SHA-256 is stored, and it is
//! never logged. Creating and revoking keys needs a user login (the
//! rules: `service::keys`). A key is its creator's (`owner: user`, the
//! default) and is revoked when they leave the team or are deleted, or the
//! team's (`owner: team`, created by team owners only), which survives them.
use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    extract::{ApiJson, ApiPath},
    input, rfc3339,
};
use crate::{
    auth::{
        api_key::{KeyForm, KeyOwner},
        Principal,
    },
    db::keys::KeyRow,
    error::ApiResult,
    service::keys,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    /// Lifetime in seconds; none: the key does not expire.
    pub expires_in_secs: Option<u64>,
    /// `user` (default): the creator's key, revoked automatically when
    /// they leave the team or their account is deleted. `team`: the team's
    /// key (team owners only), which keeps working after its creator leaves.
    #[serde(default)]
    pub owner: Option<KeyOwner>,
    /// Mint the key in E2B's form, `e2b_` + 40 hex digits (the e2b SDKs up
    /// to 2.49 refuse other keys). Valid on both APIs. Default false.
    #[serde(default)]
    pub e2b: bool,
}

/// A newly created key; `key` is shown only here.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    /// The secret: `wrn_` + 32 characters, or `e2b_` + 40 hex digits.
    pub key: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    /// Whose key it is (see `CreateKey.owner`).
    pub owner: KeyOwner,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// The user who created the key.
    pub created_by: Option<String>,
    /// `user`: revoked when `created_by` leaves the team or is deleted;
    /// `team`: survives them.
    pub owner: KeyOwner,
}

impl From<KeyRow> for ApiKey {
    fn from(row: KeyRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            created_at: rfc3339(row.created_at),
            expires_at: row.expires_at.map(rfc3339),
            last_used_at: row.last_used_at.map(rfc3339),
            revoked_at: row.revoked_at.map(rfc3339),
            created_by: row.created_by,
            owner: row.owner,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyList {
    pub keys: Vec<ApiKey>,
}

/// Creates an API key for the team the request acts on. A `user` key (the
/// default) is revoked when its creator leaves the team or is deleted; a
/// `team` key (team owners only) survives its creator.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = CreateKey,
    responses((status = 201, body = CreatedKey), (status = 403, description = "forbidden: needs a user login, not an API key; `owner: team` needs a team owner", body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let user_id = principal.require_user()?;
    let name = input::name(&body.name, "name")?;
    let new = keys::NewKey {
        name: &name,
        expires_in_secs: body.expires_in_secs,
        created_by: user_id,
        owner: body.owner.unwrap_or(KeyOwner::User),
        form: if body.e2b {
            KeyForm::E2b
        } else {
            KeyForm::Wrenn
        },
    };
    let keys::CreatedKey { row, secret } = keys::create(&state.db, &principal, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            key: secret,
            created_at: rfc3339(row.created_at),
            expires_at: row.expires_at.map(rfc3339),
            owner: row.owner,
        }),
    ))
}

/// The team's keys, newest first, revoked ones included.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", responses((status = 200, body = KeyList)))]
async fn list_keys(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<KeyList>> {
    let keys = keys::list(&state.db, &principal).await?;
    Ok(Json(KeyList {
        keys: keys.into_iter().map(ApiKey::from).collect(),
    }))
}

/// Revokes one of the team's keys; requests made with it fail from now on.
#[utoipa::path(delete, path = "/v1/keys/{key_id}", tag = "keys",
    params(("key_id" = String, Path)),
    responses((status = 204), (status = 403, description = "forbidden: needs a user login, not an API key", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn revoke_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(key_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    principal.require_user()?;
    keys::revoke(&state.db, &principal, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
