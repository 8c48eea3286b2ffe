//! Snapshots in E2B's sense: `POST /sandboxes/{sandboxID}/snapshots
//! {name?}` makes one (201 `{snapshotID, names}`), `GET /snapshots` lists
//! them a page at a time, and `DELETE /templates/{templateID}` deletes one
//! (a snapshot is a team template; its id is its name). Disk only: Wrenn
//! refuses `memory: true`.
use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    Json,
};
use serde::{Deserialize, Serialize};
use wrenn_types::TemplateName;

use super::{
    error::{E2bError, E2bResult},
    extract::{Caller, OptionalBody, SandboxPath},
    list::MAX_LIMIT,
    views::visible,
};
use crate::{
    api::{extract::ApiPath, extract::ApiQuery, sandboxes::types::validate_template_name},
    db::templates::TemplateRow,
    service::{sandboxes as service, templates},
    state::AppState,
};

/// E2B's `SandboxSnapshotRequest` (unknown fields are ignored, as E2B does).
#[derive(Debug, Default, Deserialize)]
pub struct SnapshotBody {
    name: Option<String>,
    /// `true` asks for the memory too (not supported: disk only).
    memory: Option<bool>,
}

/// E2B's `SnapshotInfo`: the id to create sandboxes from, and its names.
#[derive(Debug, Serialize)]
pub struct SnapshotInfo {
    #[serde(rename = "snapshotID")]
    snapshot_id: String,
    names: Vec<String>,
}

impl From<TemplateRow> for SnapshotInfo {
    fn from(row: TemplateRow) -> Self {
        Self {
            names: vec![row.name.clone()],
            snapshot_id: row.name,
        }
    }
}

/// `POST /sandboxes/{sandboxID}/snapshots`.
pub async fn create(
    State(state): State<AppState>,
    Caller(principal): Caller,
    SandboxPath(id): SandboxPath,
    OptionalBody(body): OptionalBody<SnapshotBody>,
) -> E2bResult<(StatusCode, Json<SnapshotInfo>)> {
    if body.memory == Some(true) {
        return Err(E2bError::bad_request(
            "memory: true (a snapshot with the sandbox's memory) is not supported by this Wrenn: snapshots keep the disk",
        ));
    }
    let name = body.name.map(template_name).transpose()?;
    visible(service::get(&state, &principal.team_id, &id).await?)?;
    let row = service::snapshot(&state, &principal, &id, name).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

fn template_name(name: String) -> E2bResult<TemplateName> {
    validate_template_name(&name)?;
    TemplateName::try_from(name).map_err(|e| E2bError::bad_request(e.to_string()))
}

/// `GET /snapshots` filters and page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotQuery {
    #[serde(rename = "sandboxID")]
    sandbox_id: Option<String>,
    name: Option<String>,
    limit: Option<i64>,
    /// The offset of the page, as the previous page's `X-Next-Token` gave it.
    #[serde(rename = "nextToken")]
    next_token: Option<String>,
}

/// `GET /snapshots?sandboxID=&name=&limit=&nextToken=`: newest first, the
/// next page's token in `X-Next-Token` (absent on the last page).
pub async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    query: Result<ApiQuery<SnapshotQuery>, crate::error::ApiError>,
) -> E2bResult<(HeaderMap, Json<Vec<SnapshotInfo>>)> {
    let ApiQuery(query) = query?;
    let limit = Some(query.limit.unwrap_or(MAX_LIMIT))
        .filter(|l| (1..=MAX_LIMIT).contains(l))
        .and_then(|l| usize::try_from(l).ok())
        .ok_or_else(|| E2bError::bad_request(format!("limit must be between 1 and {MAX_LIMIT}")))?;
    let offset = match query.next_token.as_deref() {
        None | Some("") => 0,
        Some(token) => token
            .parse::<usize>()
            .map_err(|_| E2bError::bad_request("nextToken is not a token this API gave"))?,
    };
    let rows = service::list_snapshots(
        &state,
        &principal.team_id,
        query.sandbox_id.as_deref(),
        query.name.as_deref(),
    )
    .await?;
    let mut headers = HeaderMap::new();
    let end = offset.saturating_add(limit);
    if end < rows.len() {
        headers.insert("x-next-token", HeaderValue::from(end));
    }
    let page = rows
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(SnapshotInfo::from)
        .collect();
    Ok((headers, Json(page)))
}

/// `DELETE /templates/{templateID}`: 204; 404 for a name the team has no
/// template of (the SDK's `delete_snapshot` answers `false` then).
pub async fn delete_template(
    State(state): State<AppState>,
    Caller(principal): Caller,
    ApiPath(name): ApiPath<String>,
) -> E2bResult<StatusCode> {
    // A name Wrenn could not have given names no template.
    let name = template_name(name).map_err(|_| E2bError::not_found("template not found"))?;
    templates::delete(&state, &principal, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
