//! `/v1/webhook`: the caller's team's webhook (team owners set and remove
//! it; its secret is answered once, when set) and
//! `/v1/webhook/deliveries`, what was sent and how it went. The events and
//! their delivery: `service::notify`.
use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{extract::ApiJson, rfc3339};
use crate::{
    auth::Principal,
    db::{self, webhooks::DeliveryRow},
    error::{ApiError, ApiResult},
    role::Role,
    service::notify::{self, UrlError, WebhookError},
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_webhook, put_webhook, delete_webhook))
        .routes(routes!(list_deliveries))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// `http` or `https`; its host must resolve to public addresses.
    pub url: String,
}

/// A team's webhook.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Webhook {
    pub url: String,
    /// The HMAC-SHA256 key of `Wrenn-Signature`: only in the answer of
    /// the `PUT` that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: String,
}

/// One event sent (or being sent) to the team's webhook.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: String,
    /// `pool_threshold` or `pool_exhausted`.
    pub event: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    /// The last attempt's HTTP status, if it got one.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    /// When a pending delivery is tried next.
    pub next_at: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    /// The JSON sent.
    pub body: serde_json::Value,
}

impl From<&DeliveryRow> for Delivery {
    fn from(row: &DeliveryRow) -> Self {
        Self {
            id: row.id.clone(),
            event: row.event.clone(),
            state: row.state.clone(),
            attempts: row.attempts,
            last_status: row.last_status,
            last_error: row.last_error.clone(),
            next_at: (row.state == "pending").then(|| rfc3339(row.next_at)),
            created_at: rfc3339(row.created_at),
            delivered_at: row.delivered_at.map(rfc3339),
            body: serde_json::from_str(&row.body).unwrap_or(serde_json::Value::Null),
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(err: WebhookError) -> Self {
        match err {
            WebhookError::Url(e @ (UrlError::Malformed(_) | UrlError::Unresolved(_))) => {
                Self::Validation(e.to_string())
            }
            WebhookError::Url(e @ UrlError::NotPublic(_)) => Self::Validation(e.to_string()),
            WebhookError::Db(e) => e.into(),
        }
    }
}

const NOT_OWNER: ApiError = ApiError::Forbidden("only team owners may change the webhook");
const NO_WEBHOOK: ApiError = ApiError::NotFound { what: "webhook" };

/// The team's webhook (without its secret).
#[utoipa::path(get, path = "/v1/webhook", tag = "pools",
    responses((status = 200, body = Webhook), (status = 404, body = crate::error::ErrorBody)))]
async fn get_webhook(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Webhook>> {
    let row = db::webhooks::get(&state.db, &principal.team_id)
        .await?
        .ok_or(NO_WEBHOOK)?;
    Ok(Json(Webhook {
        url: row.url,
        secret: None,
        created_at: rfc3339(row.created_at),
    }))
}

/// Sets the team's webhook with a new secret, answered this once.
#[utoipa::path(put, path = "/v1/webhook", tag = "pools", request_body = WebhookBody,
    responses((status = 200, body = Webhook), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn put_webhook(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<WebhookBody>,
) -> ApiResult<Json<Webhook>> {
    if principal.role != Role::Owner {
        return Err(NOT_OWNER);
    }
    let row = notify::put_webhook(&state.db, &state.config, &principal.team_id, &body.url).await?;
    Ok(Json(Webhook {
        url: row.url,
        secret: Some(row.secret),
        created_at: rfc3339(row.created_at),
    }))
}

/// Removes the team's webhook; deliveries still pending are given up.
#[utoipa::path(delete, path = "/v1/webhook", tag = "pools",
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
async fn delete_webhook(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<StatusCode> {
    if principal.role != Role::Owner {
        return Err(NOT_OWNER);
    }
    if !db::webhooks::delete(&state.db, &principal.team_id).await? {
        return Err(NO_WEBHOOK);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The team's last 100 deliveries, newest first.
#[utoipa::path(get, path = "/v1/webhook/deliveries", tag = "pools",
    responses((status = 200, body = [Delivery])))]
async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<Delivery>>> {
    let rows = db::webhooks::deliveries(&state.db, &principal.team_id, 100).await?;
    Ok(Json(rows.iter().map(Delivery::from).collect()))
}
