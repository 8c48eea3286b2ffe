//! `PUT /v1/sandboxes/{id}/network`: a live egress update.
use axum::{extract::State, Json};

use super::{
    sandbox_id,
    types::{Sandbox, UpdateNetwork},
};
use crate::{
    agent::AgentEgress,
    api::extract::{ApiJson, ApiPath},
    auth::Principal,
    error::ApiResult,
    service::sandboxes as service,
    state::AppState,
};

/// Replaces the sandbox's egress policy; a running sandbox's network
/// follows at once (connections to a newly denied address stop too).
/// Omitted fields are cleared: internet on, no lists.
#[utoipa::path(
    put, path = "/v1/sandboxes/{id}/network", operation_id = "update_sandbox_network", tag = "sandboxes",
    params(("id" = String, Path)),
    request_body = UpdateNetwork,
    responses(
        (status = 200, body = Sandbox),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "sandbox_not_running", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)
    )
)]
pub async fn update_network(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateNetwork>,
) -> ApiResult<Json<Sandbox>> {
    body.validate()?;
    let egress = AgentEgress {
        internet: body.internet.unwrap_or(true),
        allow: body.allow_out,
        deny: body.deny_out,
    };
    let row = service::update_network(&state, &principal, &sandbox_id(&id)?, egress).await?;
    Ok(Json(row.into()))
}
