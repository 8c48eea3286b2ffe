//! Control-plane overhead: create → running and create → first exec result
//! through the REST API (HTTP, API key, database, then the agent) against
//! the same calls made straight to the agent (Connect for the create, its
//! envd proxy for the command, as the control plane does). Both restore
//! from the same template memory snapshot, warmed before measuring; the two
//! paths alternate so that machine noise hits both alike.
use std::time::Instant;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::json;
use wrenn_cp::{
    agent::{connect::ConnectAgent, AgentApi},
    envd::{Command, Envd, ProcessOutput},
};
use wrenn_proto::wrenn::agent::v1 as pb;

use super::{api::Api, procs::AgentClient, warm};
use crate::{stats::median, Row};

const VCPUS: u32 = 1;
const MEMORY_MIB: u32 = 512;

/// Milliseconds from the create call to its answer and to the end of `true`.
#[derive(Debug, Clone, Copy)]
struct Sample {
    ready: f64,
    exec: f64,
    from_snapshot: bool,
}

pub async fn run(
    api: &Api,
    agent: &AgentClient,
    proxy: &ConnectAgent,
    runs: usize,
) -> anyhow::Result<Vec<Row>> {
    warm(agent, VCPUS, MEMORY_MIB).await?;
    // One unmeasured round opens the connections and pages everything in.
    via_cp(api).await?;
    via_agent(agent, proxy).await?;
    let (mut cp, mut direct) = (Vec::new(), Vec::new());
    for round in 0..runs {
        if round % 2 == 0 {
            cp.push(via_cp(api).await?);
            direct.push(via_agent(agent, proxy).await?);
        } else {
            direct.push(via_agent(agent, proxy).await?);
            cp.push(via_cp(api).await?);
        }
    }
    let restored = cp.iter().chain(&direct).filter(|s| s.from_snapshot).count();
    let note = format!(
        "median of {runs}, {VCPUS} vCPU, {MEMORY_MIB} MiB, {restored}/{} from snapshot",
        2 * runs
    );
    let mut rows = figures("cp.create_to_running", &cp, &direct, |s| s.ready, &note);
    rows.extend(figures(
        "cp.create_to_first_exec",
        &cp,
        &direct,
        |s| s.exec,
        "create, then exec `true` (bash -l -c) to its exit code",
    ));
    Ok(rows)
}

fn figures(
    name: &str,
    cp: &[Sample],
    direct: &[Sample],
    pick: fn(&Sample) -> f64,
    note: &str,
) -> Vec<Row> {
    let cp_median = median(&cp.iter().map(pick).collect::<Vec<_>>());
    let direct_median = median(&direct.iter().map(pick).collect::<Vec<_>>());
    vec![
        Row::new(
            &format!("{name}.via_cp"),
            cp_median,
            "ms",
            format!("{note}; REST + API key"),
        ),
        Row::new(
            &format!("{name}.via_agent"),
            direct_median,
            "ms",
            "Connect CreateSandbox, then envd through the agent's proxy",
        ),
        Row::new(
            &format!("{name}.cp_vs_agent"),
            cp_median / direct_median,
            "x",
            "via_cp / via_agent",
        ),
        Row::new(
            &format!("{name}.cp_overhead"),
            cp_median - direct_median,
            "ms",
            "median via_cp - median via_agent; target < 20",
        ),
    ]
}

async fn via_cp(api: &Api) -> anyhow::Result<Sample> {
    let started = Instant::now();
    let body = json!({"template": "base", "vcpus": VCPUS, "memory_mb": MEMORY_MIB});
    let sandbox = api
        .json(
            Method::POST,
            "/v1/sandboxes",
            Some(body),
            StatusCode::CREATED,
        )
        .await?;
    let ready = started.elapsed();
    let id = super::api::text(&sandbox, "/id")?;
    let result = api
        .json(
            Method::POST,
            &format!("/v1/sandboxes/{id}/exec"),
            Some(json!({"command": "true"})),
            StatusCode::OK,
        )
        .await?;
    let exec = started.elapsed();
    api.json(
        Method::DELETE,
        &format!("/v1/sandboxes/{id}"),
        None,
        StatusCode::NO_CONTENT,
    )
    .await?;
    anyhow::ensure!(result["exit_code"] == 0, "exec `true` failed: {result}");
    Ok(Sample {
        ready: ready.as_secs_f64() * 1000.0,
        exec: exec.as_secs_f64() * 1000.0,
        from_snapshot: sandbox["from_snapshot"] == true,
    })
}

async fn via_agent(agent: &AgentClient, proxy: &ConnectAgent) -> anyhow::Result<Sample> {
    let started = Instant::now();
    let request = pb::CreateSandboxRequest {
        template: "base".into(),
        vcpus: VCPUS,
        memory_mib: MEMORY_MIB,
        timeout_secs: 300,
        ..Default::default()
    };
    let sandbox = agent
        .create_sandbox(request)
        .await?
        .into_owned()
        .sandbox
        .into_option()
        .ok_or_else(|| anyhow::anyhow!("CreateSandbox answered no sandbox"))?;
    let ready = started.elapsed();
    let exit_code = exec_true(proxy, &sandbox.id).await;
    let exec = started.elapsed();
    agent
        .destroy_sandbox(pb::DestroySandboxRequest {
            id: sandbox.id.clone(),
            ..Default::default()
        })
        .await?;
    anyhow::ensure!(exit_code? == 0, "exec `true` failed");
    Ok(Sample {
        ready: ready.as_secs_f64() * 1000.0,
        exec: exec.as_secs_f64() * 1000.0,
        from_snapshot: sandbox.from_snapshot,
    })
}

/// Runs `true` in sandbox `id` through the agent's envd proxy; answers
/// its exit code.
async fn exec_true(proxy: &ConnectAgent, id: &str) -> anyhow::Result<i32> {
    let command = Command {
        cmd: "/bin/bash".into(),
        args: vec!["-l".into(), "-c".into(), "true".into()],
        timeout: Some(std::time::Duration::from_secs(60)),
        ..Default::default()
    };
    let mut output = Envd::new(proxy.envd(id)).start(command).await?;
    while let Some(event) = output.next().await {
        if let ProcessOutput::Ended { exit_code, .. } = event? {
            return Ok(exit_code);
        }
    }
    anyhow::bail!("the exec stream ended without an exit code")
}
