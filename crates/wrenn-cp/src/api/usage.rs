//! `/v1/usage`: the caller's team's metered usage (from the ledger) by
//! hour, day, sandbox or template, as JSON or CSV; `/v1/usage/export`, the
//! ledger's intervals themselves, streamed; `/v1/usage/invoice`, the
//! period's invoice preview; `/v1/admin/usage`, every team's (platform
//! admins only). Ranges are `[start, end)`, at most 400 days.
use axum::{
    body::Body,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{extract::ApiQuery, rfc3339};
use crate::{
    auth::Principal,
    db::{self, usage::IntervalRow},
    error::{ApiError, ApiResult},
    service::usage::{self, GroupBy, UsageError, UsageLine},
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_usage))
        .routes(routes!(export_usage))
        .routes(routes!(invoice))
        .routes(routes!(admin_usage))
}

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// `day` (default), `hour`, `sandbox` or `template` (`team` on the
    /// admin route).
    pub by: Option<String>,
    /// RFC 3339; default: 30 days before `end`.
    pub start: Option<String>,
    /// RFC 3339, exclusive; default: now.
    pub end: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// One group's usage.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageEntry {
    /// The hour's or day's start (RFC 3339), the sandbox id, the template
    /// name or the team id.
    pub key: String,
    /// The sandbox's template (sandbox groups only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub template: String,
    pub running_seconds: f64,
    pub paused_seconds: f64,
    /// Reserved vCPUs × seconds running.
    pub vcpu_seconds: f64,
    /// Reserved memory GiB × seconds running.
    pub memory_gib_seconds: f64,
    /// Storage GiB × hours paused.
    pub storage_gib_hours: f64,
    /// CPU seconds the guests actually used (user plus system time of
    /// their VMM processes while running), beside the reserved
    /// `vcpu_seconds`. Intervals recorded before the ledger measured it
    /// count 0.
    pub guest_cpu_seconds: f64,
}

impl From<&UsageLine> for UsageEntry {
    fn from(line: &UsageLine) -> Self {
        let t = line.totals;
        Self {
            key: line.key.clone(),
            template: line.template.clone(),
            running_seconds: t.running_ms as f64 / 1000.0,
            paused_seconds: t.paused_ms as f64 / 1000.0,
            vcpu_seconds: t.vcpu_seconds(),
            memory_gib_seconds: t.memory_gib_seconds(),
            storage_gib_hours: t.storage_gib_hours(),
            guest_cpu_seconds: t.guest_cpu_seconds(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Usage {
    pub by: String,
    pub start: String,
    pub end: String,
    pub entries: Vec<UsageEntry>,
}

impl From<UsageError> for ApiError {
    fn from(err: UsageError) -> Self {
        match err {
            UsageError::EmptyRange | UsageError::RangeTooLong => Self::Validation(err.to_string()),
            UsageError::Db(e) => e.into(),
        }
    }
}

fn instant(field: &str, text: &str) -> Result<i64, ApiError> {
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| ApiError::validation(format!("{field} must be an RFC 3339 instant")))?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| ApiError::validation(format!("{field} is out of range")))
}

/// `[start, end)` in Unix ms, checked.
fn range(query: &UsageQuery) -> Result<(i64, i64), ApiError> {
    let end = match &query.end {
        Some(text) => instant("end", text)?,
        None => db::now_ms(),
    };
    let start = match &query.start {
        Some(text) => instant("start", text)?,
        None => end - 30 * DAY_MS,
    };
    usage::check_range(start, end)?;
    Ok((start, end))
}

fn csv_wanted(query: &UsageQuery) -> Result<bool, ApiError> {
    match query.format.as_deref() {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(other) => Err(ApiError::validation(format!(
            "format must be json or csv, not '{other}'"
        ))),
    }
}

async fn answer(
    state: &AppState,
    team_id: Option<&str>,
    query: &UsageQuery,
    allowed: &[&str],
) -> ApiResult<Response> {
    let by_text = query.by.clone().unwrap_or_else(|| "day".into());
    let by = GroupBy::parse(&by_text)
        .filter(|_| allowed.contains(&by_text.as_str()))
        .ok_or_else(|| ApiError::validation(format!("by must be one of {}", allowed.join(", "))))?;
    let (start, end) = range(query)?;
    let csv = csv_wanted(query)?;
    let lines = usage::rollup(&state.db, team_id, by, start, end).await?;
    let entries: Vec<UsageEntry> = lines.iter().map(UsageEntry::from).collect();
    if csv {
        let mut text = String::from(
            "key,template,running_seconds,paused_seconds,vcpu_seconds,memory_gib_seconds,storage_gib_hours,guest_cpu_seconds\n",
        );
        for e in &entries {
            text.push_str(&format!(
                "{},{},{:.3},{:.3},{:.3},{:.3},{:.6},{:.3}\n",
                csv_field(&e.key),
                csv_field(&e.template),
                e.running_seconds,
                e.paused_seconds,
                e.vcpu_seconds,
                e.memory_gib_seconds,
                e.storage_gib_hours,
                e.guest_cpu_seconds
            ));
        }
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], text).into_response());
    }
    Ok(Json(Usage {
        by: by_text,
        start: rfc3339(start),
        end: rfc3339(end),
        entries,
    })
    .into_response())
}

/// Quotes a CSV field when it needs it.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The team's usage by `day`, `hour`, `sandbox` or `template`.
#[utoipa::path(get, path = "/v1/usage", tag = "pools", params(UsageQuery),
    responses((status = 200, body = Usage, description = "JSON, or CSV with format=csv"),
              (status = 422, body = crate::error::ErrorBody)))]
async fn get_usage(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> ApiResult<Response> {
    let allowed = ["day", "hour", "sandbox", "template"];
    answer(&state, Some(&principal.team_id), &query, &allowed).await
}

/// Every team's usage, by `team` (default here: team), `day`, `hour`,
/// `sandbox` or `template` (platform admins only).
#[utoipa::path(get, path = "/v1/admin/usage", tag = "admin", params(UsageQuery),
    responses((status = 200, body = Usage), (status = 403, body = crate::error::ErrorBody)))]
async fn admin_usage(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(mut query): ApiQuery<UsageQuery>,
) -> ApiResult<Response> {
    if !principal.is_platform_admin() {
        return Err(ApiError::Forbidden(
            "only platform admins may see every team's usage",
        ));
    }
    query.by.get_or_insert_with(|| "team".into());
    let allowed = ["team", "day", "hour", "sandbox", "template"];
    answer(&state, None, &query, &allowed).await
}

/// The ledger's intervals overlapping the range, oldest first, streamed a
/// page at a time: CSV, or JSON lines with format=json.
#[utoipa::path(get, path = "/v1/usage/export", tag = "pools", params(UsageQuery),
    responses((status = 200, description = "text/csv or application/x-ndjson, streamed"),
              (status = 422, body = crate::error::ErrorBody)))]
async fn export_usage(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> ApiResult<Response> {
    if query.by.is_some() {
        return Err(ApiError::validation("the export has no grouping (by)"));
    }
    let (start, end) = range(&query)?;
    let csv = query.format.as_deref() != Some("json");
    csv_wanted(&query)?;
    let header_line = csv.then(|| {
        "sandbox_id,template,host_id,phase,vcpus,memory_mib,storage_mib,started_at,ended_at,guest_cpu_seconds\n"
            .to_owned()
    });
    let db = state.db.clone();
    let team = principal.team_id.clone();
    // (cursor, finished); pages are read only as the client reads on.
    let pages = futures_util::stream::unfold((None, false), move |(cursor, done)| {
        let (db, team) = (db.clone(), team.clone());
        async move {
            if done {
                return None;
            }
            let page =
                db::usage::overlapping(&db, Some(&team), start, end, cursor, usage::PAGE).await;
            match page {
                Ok((rows, next)) => {
                    let text: String = rows.iter().map(|r| export_line(r, csv)).collect();
                    let finished = next.is_none();
                    Some((Ok::<_, std::io::Error>(text), (next, finished)))
                }
                Err(err) => {
                    tracing::error!(error = %err, "usage export failed mid-stream");
                    Some((
                        Err(std::io::Error::other("usage export failed")),
                        (None, true),
                    ))
                }
            }
        }
    });
    let head = futures_util::stream::iter(header_line.map(Ok));
    let body = Body::from_stream(futures_util::StreamExt::chain(head, pages));
    let content_type = if csv {
        "text/csv; charset=utf-8"
    } else {
        "application/x-ndjson"
    };
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

fn export_line(row: &IntervalRow, csv: bool) -> String {
    let ended = row.ended_at.map(rfc3339).unwrap_or_default();
    let cpu = row.cpu_ms.map(|ms| ms as f64 / 1000.0);
    if csv {
        format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            row.sandbox_id,
            csv_field(&row.template),
            row.host_id.as_deref().unwrap_or_default(),
            row.phase,
            row.vcpus,
            row.memory_mb,
            row.storage_mb,
            rfc3339(row.started_at),
            ended,
            cpu.map(|s| format!("{s:.3}")).unwrap_or_default()
        )
    } else {
        let line = serde_json::json!({
            "sandbox_id": row.sandbox_id, "template": row.template, "host_id": row.host_id,
            "phase": row.phase, "vcpus": row.vcpus, "memory_mib": row.memory_mb,
            "storage_mib": row.storage_mb, "started_at": rfc3339(row.started_at),
            "ended_at": row.ended_at.map(rfc3339), "guest_cpu_seconds": cpu,
        });
        format!("{line}\n")
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvoiceQuery {
    /// RFC 3339; default: 30 days before `end`.
    pub start: Option<String>,
    /// RFC 3339, exclusive; default: now.
    pub end: Option<String>,
}

/// An invoice preview: the plan's price plus burst past the pool.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Invoice {
    /// `null`: no plan, nothing charged.
    pub plan: Option<String>,
    pub period: String,
    pub start: String,
    pub end: String,
    pub price_cents: i64,
    /// vCPU-hours run past the pool's vCPUs (the `burst` overflow).
    pub burst_vcpu_hours: f64,
    pub burst_cents_per_vcpu_hour: i64,
    pub burst_cents: i64,
    pub total_cents: i64,
}

/// The team's invoice preview for the range.
#[utoipa::path(get, path = "/v1/usage/invoice", tag = "pools", params(InvoiceQuery),
    responses((status = 200, body = Invoice), (status = 422, body = crate::error::ErrorBody)))]
async fn invoice(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<InvoiceQuery>,
) -> ApiResult<Json<Invoice>> {
    let as_usage = UsageQuery {
        by: None,
        start: query.start,
        end: query.end,
        format: None,
    };
    let (start, end) = range(&as_usage)?;
    let i = usage::invoice(&state.db, &state.config, &principal.team_id, start, end).await?;
    Ok(Json(Invoice {
        plan: i.plan,
        period: i.period,
        start: rfc3339(start),
        end: rfc3339(end),
        price_cents: i.price_cents,
        burst_vcpu_hours: i.burst_vcpu_ms as f64 / 3_600_000.0,
        burst_cents_per_vcpu_hour: i.burst_cents_per_vcpu_hour,
        burst_cents: i.burst_cents,
        total_cents: i.total_cents,
    }))
}
