//! `GET /sandboxes/{sandboxID}/metrics?start=&end=`: E2B's time series of a
//! sandbox's resource use, from the history its host keeps (envd sampled
//! every 5 s, the last hour), oldest first, within `start`..`end` (Unix
//! seconds, both inclusive).
use axum::{extract::State, Json};
use serde::Deserialize;

use super::{
    error::{E2bError, E2bResult},
    extract::{Caller, SandboxPath},
    views::{visible, Metric},
};
use crate::{
    api::{extract::ApiQuery, rfc3339},
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
    visible(service::get(&state, &principal.team_id, &id).await?)?;
    // Seconds to the ms the host keeps; the end second is whole.
    let ms = |secs: i64| u64::try_from(secs).unwrap_or(0).saturating_mul(1000);
    let samples = service::metrics_history(
        &state,
        &principal,
        &id,
        window.start.map(ms),
        window.end.map(|e| ms(e).saturating_add(999)),
    )
    .await?;
    Ok(Json(
        samples
            .iter()
            .map(|s| sample(&s.metrics, s.at_ms / 1000))
            .collect(),
    ))
}

/// One of envd's `/metrics` answers, sampled by the host at `at` (Unix
/// seconds), as an E2B sample.
fn sample(raw: &serde_json::Value, at: i64) -> Metric {
    let number = |key: &str| {
        raw.get(key)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
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
    fn sample_when_host_sample_then_e2b_keys_at_its_instant() {
        let raw = serde_json::json!({"cpu_count": 2, "cpu_used_pct": 12.5,
            "mem_total": 1024, "mem_used": 512, "mem_cache": 64, "disk_used": 10, "disk_total": 100});
        let metric = serde_json::to_value(sample(&raw, 1_796_119_200)).expect("serializes");
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
