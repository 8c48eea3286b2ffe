//! Twenty creates fired at once through the control plane, with real VMs:
//! how many succeed and how long each took; then every sandbox is destroyed
//! and the running list must be empty.
use std::time::Instant;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{api::Api, procs::AgentClient, warm};
use crate::{stats::percentile, Row};

const CREATES: usize = 20;
const VCPUS: u32 = 1;
const MEMORY_MIB: u32 = 256;

pub async fn run(api: &Api, agent: &AgentClient) -> anyhow::Result<Vec<Row>> {
    warm(agent, VCPUS, MEMORY_MIB).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CREATES {
        let api = api.clone();
        tasks.spawn(async move {
            let started = Instant::now();
            let body = json!({"template": "base", "vcpus": VCPUS, "memory_mb": MEMORY_MIB});
            let answer = api
                .json(
                    Method::POST,
                    "/v1/sandboxes",
                    Some(body),
                    StatusCode::CREATED,
                )
                .await;
            (started.elapsed().as_secs_f64(), answer)
        });
    }
    let (mut seconds, mut failures) = (Vec::new(), Vec::new());
    while let Some(joined) = tasks.join_next().await {
        match joined? {
            (took, Ok(_)) => seconds.push(took),
            (_, Err(err)) => failures.push(format!("{err:#}")),
        }
    }
    for failure in &failures {
        eprintln!("cp: a concurrent create failed: {failure}");
    }
    let left = destroy_all(api).await?;
    let note = format!(
        "{CREATES} at once, {VCPUS} vCPU, {MEMORY_MIB} MiB, snapshot warmed; {} failed",
        failures.len()
    );
    Ok(vec![
        Row::text(
            "cp.concurrent_create_20.succeeded",
            seconds.len().to_string(),
            "count",
            note,
        ),
        Row::new(
            "cp.concurrent_create_20.latency_p50",
            percentile(&seconds, 50.0),
            "s",
            "POST /v1/sandboxes to 201 (running)",
        ),
        Row::new(
            "cp.concurrent_create_20.latency_p99",
            percentile(&seconds, 99.0),
            "s",
            "",
        ),
        Row::text(
            "cp.concurrent_create_20.left_running",
            left.to_string(),
            "count",
            "GET /v1/sandboxes?state=running after DELETE of every sandbox",
        ),
    ])
}

/// Deletes every live sandbox of the team (failed creates included); answers
/// how many the running list still shows afterwards.
async fn destroy_all(api: &Api) -> anyhow::Result<usize> {
    let page = api
        .json(Method::GET, "/v1/sandboxes?limit=200", None, StatusCode::OK)
        .await?;
    for sandbox in sandboxes(&page) {
        let state = sandbox["state"].as_str().unwrap_or_default();
        if matches!(state, "stopped" | "error") {
            continue;
        }
        let id = super::api::text(sandbox, "/id")?;
        api.json(
            Method::DELETE,
            &format!("/v1/sandboxes/{id}"),
            None,
            StatusCode::NO_CONTENT,
        )
        .await?;
    }
    let running = api
        .json(
            Method::GET,
            "/v1/sandboxes?state=running",
            None,
            StatusCode::OK,
        )
        .await?;
    Ok(sandboxes(&running).len())
}

fn sandboxes(page: &Value) -> &[Value] {
    page["sandboxes"].as_array().map_or(&[], Vec::as_slice)
}
