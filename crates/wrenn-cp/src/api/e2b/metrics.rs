//! `GET /sandboxes/{sandboxID}/metrics?start=&end=`: E2B's time series of a
//! sandbox's resource use. Until the host keeps a history, the series is
//! the sample envd measures now (one element, or none when it falls outside
//! `start`..`end` or the sandbox is paused).
use axum::{extract::State, Json};
use serde::Deserialize;

use super::{
    error::{E2bError, E2bResult},
    extract::{Caller, SandboxPath},
    views::{visible, Metric},
};
use crate::{
    api::{extract::ApiQuery, rfc3339},
    lifecycle::SandboxState,
    service::sandboxes as service,
    state::AppState,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Unix seconds.
    start: Option<i64>,
    end: Option<i64>,
}

pub async fn metrics(
    State(state): State<AppState>,
    Caller(principal): Caller,
    SandboxPath(id): SandboxPath,
    window: Result<ApiQuery<Window>, crate::error::ApiError>,
) -> E2bResult<Json<Vec<Metric>>> {
    let ApiQuery(window) = window?;
    if let (Some(start), Some(end)) = (window.start, window.end) {
        if start > end {
            return Err(E2bError::bad_request("start must not be after end"));
        }
    }
    let row = visible(service::get(&state, &principal.team_id, &id).await?)?;
    if row.state != SandboxState::Running {
        return Ok(Json(Vec::new()));
    }
    let guest = service::guest(&state, &principal.team_id, &id).await?;
    let raw = guest.call(guest.envd.metrics()).await?;
    let sample = sample(&raw, crate::db::now_ms() / 1000);
    let inside = window.start.is_none_or(|s| sample.timestamp_unix >= s)
        && window.end.is_none_or(|e| sample.timestamp_unix <= e);
    Ok(Json(if inside { vec![sample] } else { Vec::new() }))
}

/// envd's `/metrics` answer as one E2B sample; `now` (Unix seconds) when
/// envd gave no instant.
fn sample(raw: &serde_json::Value, now: i64) -> Metric {
    let number = |key: &str| {
        raw.get(key)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    let at = raw
        .get("ts")
        .and_then(serde_json::Value::as_i64)
        .filter(|ts| *ts > 0)
        .unwrap_or(now);
    Metric {
        timestamp: rfc3339(at.saturating_mul(1000)),
        timestamp_unix: at,
        cpu_count: number("cpu_count"),
        cpu_used_pct: raw
            .get("cpu_used_pct")
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0),
        mem_used: number("mem_used"),
        mem_total: number("mem_total"),
        mem_cache: number("mem_cache"),
        disk_used: number("disk_used"),
        disk_total: number("disk_total"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_when_envd_answer_then_e2b_keys() {
        let raw = serde_json::json!({"ts": 1_796_119_200, "cpu_count": 2, "cpu_used_pct": 12.5,
            "mem_total": 1024, "mem_used": 512, "mem_cache": 64, "disk_used": 10, "disk_total": 100});
        let metric = serde_json::to_value(sample(&raw, 0)).expect("serializes");
        assert_eq!(metric["timestampUnix"], 1_796_119_200);
        assert_eq!(metric["timestamp"], "2026-12-01T10:00:00Z");
        assert_eq!(metric["cpuUsedPct"], 12.5);
        for key in [
            "cpuCount",
            "memUsed",
            "memTotal",
            "memCache",
            "diskUsed",
            "diskTotal",
        ] {
            assert!(metric.get(key).is_some(), "{key} missing: {metric}");
        }
    }
}
