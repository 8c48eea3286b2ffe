//! `GET /v1/sandboxes/{id}/metrics/history`: the sandbox's metrics as a
//! time series (its host samples envd every 5 s and keeps an hour).
use axum::{extract::State, Json};
use serde::{Deserialize, Serialize};

use super::sandbox_id;
use crate::{
    api::{
        extract::{ApiPath, ApiQuery},
        rfc3339,
    },
    auth::Principal,
    error::{ApiError, ApiResult},
    service::sandboxes as service,
    state::AppState,
};

/// The window, in Unix seconds (as E2B's `start`/`end`); both optional.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MetricsWindow {
    pub start: Option<u64>,
    pub end: Option<u64>,
}

/// One sample.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MetricsSample {
    /// RFC 3339.
    pub timestamp: String,
    pub timestamp_unix: i64,
    pub cpu_count: u64,
    pub cpu_used_pct: f64,
    pub mem_total_mb: u64,
    pub mem_used_mb: u64,
    pub disk_total_mb: u64,
    pub disk_used_mb: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MetricsSeries {
    /// Oldest first.
    pub samples: Vec<MetricsSample>,
}

/// The sandbox's CPU, memory and disk use over time, sampled by its host
/// every 5 s (the last hour is kept), within `start`..`end`.
#[utoipa::path(
    get, path = "/v1/sandboxes/{id}/metrics/history", operation_id = "sandbox_metrics_history", tag = "sandboxes",
    params(("id" = String, Path), MetricsWindow),
    responses((status = 200, body = MetricsSeries), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody))
)]
pub async fn metrics_history(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(window): ApiQuery<MetricsWindow>,
) -> ApiResult<Json<MetricsSeries>> {
    if let (Some(start), Some(end)) = (window.start, window.end) {
        if start > end {
            return Err(ApiError::validation("start must not be after end"));
        }
    }
    let ms = |secs: u64| secs.saturating_mul(1000);
    let samples = service::metrics_history(
        &state,
        &principal,
        &sandbox_id(&id)?,
        window.start.map(ms),
        window.end.map(|e| ms(e).saturating_add(999)),
    )
    .await?;
    Ok(Json(MetricsSeries {
        samples: samples
            .into_iter()
            .map(|s| {
                let number = |key: &str| {
                    s.metrics
                        .get(key)
                        .and_then(serde_json::Value::as_u64)
                        .unwrap_or(0)
                };
                MetricsSample {
                    timestamp: rfc3339(s.at_ms),
                    timestamp_unix: s.at_ms / 1000,
                    cpu_count: number("cpu_count"),
                    cpu_used_pct: s
                        .metrics
                        .get("cpu_used_pct")
                        .and_then(serde_json::Value::as_f64)
                        .unwrap_or(0.0),
                    mem_total_mb: number("mem_total") >> 20,
                    mem_used_mb: number("mem_used") >> 20,
                    disk_total_mb: number("disk_total") >> 20,
                    disk_used_mb: number("disk_used") >> 20,
                }
            })
            .collect(),
    }))
}
