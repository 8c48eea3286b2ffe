//! `GET /v1/audit`: the team's audit log, newest first, in pages, filtered
//! by actor, action, target, outcome and time.
use axum::{extract::State, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{cursor, extract::ApiQuery, page_limit, rfc3339};
use crate::{
    auth::Principal,
    db::{
        self,
        audit::{ActionFilter, AuditFilter, AuditRow},
    },
    error::{ApiError, ApiResult},
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
    /// The actor's id (a user, API key or host id, or `system`).
    pub actor: Option<String>,
    /// An action (`sandbox.create`), or every action of a prefix
    /// (`sandbox.*`).
    pub action: Option<String>,
    /// The resource's id.
    pub target: Option<String>,
    /// `ok`, `denied` or `failed`.
    pub outcome: Option<String>,
    /// RFC 3339; events at or after it.
    pub since: Option<String>,
    /// RFC 3339; events before it.
    pub until: Option<String>,
}

const OUTCOMES: [&str; 3] = ["ok", "denied", "failed"];
const MAX_FILTER_CHARS: usize = 200;

impl AuditQuery {
    /// The filters, checked: 422 for a value no event could have.
    fn filter(&self) -> ApiResult<AuditFilter> {
        let text = |name: &str, value: &Option<String>| -> ApiResult<Option<String>> {
            match value.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(v) if v.chars().count() > MAX_FILTER_CHARS => Err(ApiError::validation(
                    format!("{name} must be at most {MAX_FILTER_CHARS} characters"),
                )),
                Some(v) => Ok(Some(v.to_owned())),
            }
        };
        let action = match text("action", &self.action)? {
            None => None,
            Some(action) => Some(action_filter(&action)?),
        };
        let outcome = text("outcome", &self.outcome)?;
        if let Some(outcome) = &outcome {
            if !OUTCOMES.contains(&outcome.as_str()) {
                return Err(ApiError::validation(
                    "outcome must be one of ok, denied, failed",
                ));
            }
        }
        let since = text("since", &self.since)?
            .map(|t| instant("since", &t))
            .transpose()?;
        let until = text("until", &self.until)?
            .map(|t| instant("until", &t))
            .transpose()?;
        if let (Some(since), Some(until)) = (since, until) {
            if since > until {
                return Err(ApiError::validation("since must not be after until"));
            }
        }
        Ok(AuditFilter {
            actor: text("actor", &self.actor)?,
            action,
            target: text("target", &self.target)?,
            outcome,
            since,
            until,
        })
    }
}

/// `sandbox.create` matches exactly, `sandbox.*` every action that starts
/// with `sandbox.`; `*` anywhere else is refused.
fn action_filter(action: &str) -> ApiResult<ActionFilter> {
    match action.strip_suffix('*') {
        Some(prefix) if !prefix.contains('*') && (prefix.is_empty() || prefix.ends_with('.')) => {
            Ok(ActionFilter::Prefix(prefix.to_owned()))
        }
        None if !action.contains('*') => Ok(ActionFilter::Exact(action.to_owned())),
        _ => Err(ApiError::validation(
            "action must be an action or a prefix ending in .* (sandbox.*)",
        )),
    }
}

/// An RFC 3339 instant as Unix milliseconds.
fn instant(name: &str, text: &str) -> ApiResult<i64> {
    let invalid = || ApiError::validation(format!("{name} must be an RFC 3339 time"));
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| invalid())?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(|_| invalid())
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

/// The team's audit events, newest first, that match every filter given.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let limit = page_limit(query.limit)?;
    let filter = query.filter()?;
    let before = query.cursor.as_deref().map(cursor::decode).transpose()?;
    // One more than asked tells whether another page follows.
    let mut rows =
        db::audit::list(&state.db, &principal.team_id, &filter, before, limit + 1).await?;
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

#[cfg(test)]
mod tests {
    use super::{action_filter, instant, ActionFilter};

    #[test]
    fn action_filter_when_star_then_prefix_only_at_the_end() {
        assert_eq!(
            action_filter("sandbox.*").ok(),
            Some(ActionFilter::Prefix("sandbox.".into()))
        );
        assert_eq!(
            action_filter("sandbox.create").ok(),
            Some(ActionFilter::Exact("sandbox.create".into()))
        );
        assert!(action_filter("sand*").is_err());
        assert!(action_filter("*.create").is_err());
    }

    #[test]
    fn instant_when_rfc3339_then_unix_ms_else_refused() {
        assert_eq!(instant("since", "1970-01-01T00:00:01.5Z").ok(), Some(1500));
        assert!(instant("since", "yesterday").is_err());
    }
}
