//! `POST /v1/hosts/{id}/heartbeat`: a registered agent says it is alive and
//! how loaded it is, authenticated by `X-Host-Token` (the rules:
//! `service::hosts::heartbeat`).
use axum::{extract::State, http::HeaderMap, Json};
use wrenn_types::host_wire::{HeartbeatAnswer, HeartbeatRequest};

use crate::{
    api::extract::{ApiJson, ApiPath},
    error::ApiResult,
    service,
    state::AppState,
};

/// Records a heartbeat of a registered host.
#[utoipa::path(post, path = "/v1/hosts/{id}/heartbeat", tag = "hosts", params(("id" = String, Path)),
    request_body = HeartbeatRequest,
    security(("host_token" = [])),
    responses(
        (status = 200, body = HeartbeatAnswer),
        (status = 401, description = "invalid_host_token", body = crate::error::ErrorBody),
        (status = 403, description = "host_mismatch", body = crate::error::ErrorBody),
        (status = 410, description = "host_deleted: stop the agent", body = crate::error::ErrorBody)))]
pub async fn heartbeat(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<HeartbeatRequest>,
) -> ApiResult<Json<HeartbeatAnswer>> {
    let token = headers.get("x-host-token").and_then(|v| v.to_str().ok());
    let answer = service::hosts::heartbeat(&state, token, &id, &request).await?;
    Ok(Json(answer))
}
