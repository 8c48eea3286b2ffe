//! `POST /v1/hosts/{id}/token` and `POST /v1/hosts/register`: registration
//! tokens and agent registration (the rules: `service::hosts::registration`).
use axum::{extract::State, http::StatusCode, Json};
use serde::Serialize;
use wrenn_types::host_wire::{RegisterRequest, Registered};

use super::parse_host;
use crate::{
    api::{
        extract::{ApiJson, ApiPath},
        rfc3339,
    },
    auth::Principal,
    error::ApiResult,
    service,
    state::AppState,
};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    pub registration_token: String,
    pub token_expires_at: String,
}

/// Issues a fresh registration token for a pending host (e.g. after a
/// registration failed mid-way); the previous token stops working.
#[utoipa::path(post, path = "/v1/hosts/{id}/token", tag = "hosts", params(("id" = String, Path)),
    responses((status = 201, body = IssuedToken), (status = 404, body = crate::error::ErrorBody), (status = 409, description = "host_not_pending", body = crate::error::ErrorBody)))]
pub async fn issue_token(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    let ttl = state.config.registration_token_ttl;
    let token = service::hosts::issue_token(&state.db, &principal, &parse_host(&id)?, ttl).await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            registration_token: token.secret,
            token_expires_at: rfc3339(token.expires_at),
        }),
    ))
}

/// Registers an agent with a one-time token: the host goes `online` and
/// the agent gets its host JWT and the secret the control plane will use.
#[utoipa::path(post, path = "/v1/hosts/register", tag = "hosts", request_body = RegisterRequest,
    security(()),
    responses(
        (status = 201, body = Registered),
        (status = 401, description = "invalid_registration_token / registration_token_expired", body = crate::error::ErrorBody),
        (status = 409, description = "host_already_registered / tls_fingerprint_mismatch", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    let registered = service::hosts::register(&state, &request).await?;
    Ok((StatusCode::CREATED, Json(registered)))
}
