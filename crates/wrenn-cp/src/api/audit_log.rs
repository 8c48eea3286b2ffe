//! `GET /v1/audit`: the team's audit log, newest first, in pages.
use axum::{extract::State, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{cursor, extract::ApiQuery, page_limit, rfc3339};
use crate::{
    auth::Principal,
    db::{self, audit::AuditRow},
    error::ApiResult,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// 1..=200, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

// One audit entry as the API shows it (built from `db::audit::AuditRow`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: String,
    /// RFC 3339.
    pub at: String,
    pub team_id: Option<String>,
    /// `user`, `api_key`, `host` or `system`.
    pub actor_type: String,
    pub actor_id: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    /// `ok`, `denied` or `failed`.
    pub outcome: String,
    pub detail: String,
}

impl From<AuditRow> for AuditEvent {
    fn from(row: AuditRow) -> Self {
        Self {
            id: row.id,
            at: rfc3339(row.at),
            team_id: row.team_id,
            actor_type: row.actor_type,
            actor_id: row.actor_id,
            action: row.action,
            resource_type: row.resource_type,
            resource_id: row.resource_id,
            outcome: row.outcome,
            detail: row.detail,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The team's audit events, newest first.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = crate::error::ErrorBody)))]
async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let limit = page_limit(query.limit)?;
    let before = query.cursor.as_deref().map(cursor::decode).transpose()?;
    // One more than asked tells whether another page follows.
    let mut rows = db::audit::list(&state.db, &principal.team_id, before, limit + 1).await?;
    let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more
        .then(|| rows.last().map(|event| cursor::encode(event.at, &event.id)))
        .flatten();
    Ok(Json(AuditPage {
        events: rows.into_iter().map(AuditEvent::from).collect(),
        next_cursor,
    }))
}
