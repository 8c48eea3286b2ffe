//! Exec latency on one running sandbox through the control plane: the
//! collected `POST /v1/sandboxes/{id}/exec` of `true`, and the streaming
//! `GET /v1/sandboxes/{id}/exec/ws` of `true` (connect, command, frames up
//! to `exit`). The two alternate so that machine noise hits both alike.
use std::time::Instant;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

use super::{api::Api, procs::AgentClient, warm};
use crate::{stats::median, Row};

const VCPUS: u32 = 1;
const MEMORY_MIB: u32 = 512;
/// Samples per figure (the issue asks for the median of 50).
pub const SAMPLES: usize = 50;

pub async fn run(api: &Api, agent: &AgentClient) -> anyhow::Result<Vec<Row>> {
    warm(agent, VCPUS, MEMORY_MIB).await?;
    let body = json!({"template": "base", "vcpus": VCPUS, "memory_mb": MEMORY_MIB});
    let sandbox = api
        .json(
            Method::POST,
            "/v1/sandboxes",
            Some(body),
            StatusCode::CREATED,
        )
        .await?;
    let id = super::api::text(&sandbox, "/id")?;
    let measured = measure(api, &id).await;
    api.json(
        Method::DELETE,
        &format!("/v1/sandboxes/{id}"),
        None,
        StatusCode::NO_CONTENT,
    )
    .await?;
    let (collected, streamed) = measured?;
    let note = format!("median of {SAMPLES} on one sandbox, {VCPUS} vCPU, {MEMORY_MIB} MiB");
    Ok(vec![
        Row::new(
            "cp.exec_true.collected",
            median(&collected),
            "ms",
            format!("{note}; POST /v1/sandboxes/{{id}}/exec `true`"),
        ),
        Row::new(
            "cp.exec_true.streaming",
            median(&streamed),
            "ms",
            "GET /v1/sandboxes/{id}/exec/ws `true`: connect to exit frame",
        ),
    ])
}

async fn measure(api: &Api, id: &str) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    // One unmeasured round opens the connections and pages everything in.
    collected(api, id).await?;
    streamed(api, id).await?;
    let (mut c, mut s) = (Vec::new(), Vec::new());
    for round in 0..SAMPLES {
        if round % 2 == 0 {
            c.push(collected(api, id).await?);
            s.push(streamed(api, id).await?);
        } else {
            s.push(streamed(api, id).await?);
            c.push(collected(api, id).await?);
        }
    }
    Ok((c, s))
}

/// Milliseconds of one collected exec of `true`.
async fn collected(api: &Api, id: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let result = api
        .json(
            Method::POST,
            &format!("/v1/sandboxes/{id}/exec"),
            Some(json!({"command": "true"})),
            StatusCode::OK,
        )
        .await?;
    let took = started.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(result["exit_code"] == 0, "exec `true` failed: {result}");
    Ok(took)
}

/// Milliseconds of one streaming exec of `true`, WebSocket connect included.
async fn streamed(api: &Api, id: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let url = format!("{}/v1/sandboxes/{id}/exec/ws", api.base).replacen("http", "ws", 1);
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {}", api.key).parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .context("connect the exec WebSocket")?;
    ws.send(Message::Text(json!({"command": "true"}).to_string().into()))
        .await?;
    while let Some(message) = ws.next().await {
        let Message::Text(text) = message? else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text)?;
        match frame["type"].as_str() {
            Some("exit") => {
                let took = started.elapsed().as_secs_f64() * 1000.0;
                anyhow::ensure!(frame["exit_code"] == 0, "exec `true` failed: {frame}");
                return Ok(took);
            }
            Some("error") => anyhow::bail!("exec WebSocket error: {frame}"),
            _ => {}
        }
    }
    anyhow::bail!("the exec WebSocket closed without an exit frame")
}
