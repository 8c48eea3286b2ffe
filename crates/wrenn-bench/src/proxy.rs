//! Suite `proxy` (issue 12's figure): a 1 GiB download of a sparse file in
//! a `base` sandbox's guest, through the control plane's sandbox proxy
//! (`wrenn-cp` → agent `/guest/` → guest) vs straight to envd at the
//! sandbox's slot address, alternating, [`RUNS`] of each; the medians, their
//! ratio (target ≥ 0.8) and the control plane's peak RSS during the proxied
//! downloads (above its level before them). Real processes and a VM: needs
//! root and one agent per machine.
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::json;
use wrenn_proto::wrenn::agent::v1 as pb;

use crate::{
    cp::{api::Api, procs},
    stats::median,
    Row,
};

pub const RUNS: usize = 3;
const SIZE: u64 = 1 << 30;
const FILE: &str = "/tmp/bench-proxy-1g";

pub async fn run() -> anyhow::Result<Vec<Row>> {
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "suite proxy needs root (it runs an agent and a VM)"
    );
    let dir = tempfile::Builder::new()
        .prefix("wrenn-bench-proxy-")
        .tempdir()?
        .keep();
    eprintln!("proxy: agent and control-plane logs in {}", dir.display());
    let agent = procs::Agent::start(&dir).await?;
    let client = agent.client()?;
    let measured = async {
        let cp = procs::ControlPlane::start(&dir, &agent).await?;
        let measured = measure(&cp, &client).await;
        cp.stop().await?;
        measured
    }
    .await;
    let cleaned = crate::cp::destroy_everything(&client).await;
    agent.stop().await?;
    cleaned?;
    measured
}

async fn measure(
    cp: &procs::ControlPlane,
    client: &procs::AgentClient,
) -> anyhow::Result<Vec<Row>> {
    let api = Api::signup(&cp.url).await?;
    let created = api
        .json(
            Method::POST,
            "/v1/sandboxes",
            Some(json!({"template": "base", "timeout_secs": 1800})),
            StatusCode::CREATED,
        )
        .await?;
    let id = crate::cp::api::text(&created, "/id")?;
    let sandbox = client
        .get_sandbox(pb::GetSandboxRequest {
            id: id.clone(),
            ..Default::default()
        })
        .await?
        .into_owned()
        .sandbox
        .into_option()
        .context("no sandbox in GetSandbox")?;
    let (envd_url, token) = (sandbox.envd_url.clone(), sandbox.envd_access_token.clone());
    api.json(
        Method::POST,
        &format!("/v1/sandboxes/{id}/exec"),
        Some(json!({"command": format!("truncate -s {SIZE} {FILE}")})),
        StatusCode::OK,
    )
    .await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let direct = || {
        http.get(format!("{envd_url}/files?path={FILE}"))
            .header("x-access-token", &token)
    };
    let proxied = || {
        http.get(format!("{}/files?path={FILE}", cp.url))
            .header("host", "localhost")
            .header("e2b-sandbox-id", &id)
            .header("e2b-sandbox-port", "49983")
            .header("x-access-token", &token)
    };
    let pid = cp.pid().context("no pid of wrenn-cp")?;
    let (mut straight, mut through) = (Vec::new(), Vec::new());
    // Once each unmeasured: connections and page cache warm for both.
    download(direct()).await?;
    let baseline = rss_kib(pid).unwrap_or(0);
    download(proxied()).await?;
    let peak = Arc::new(AtomicU64::new(baseline));
    let sampling = tokio::spawn(sample_peak(pid, Arc::clone(&peak)));
    for _ in 0..RUNS {
        straight.push(download(direct()).await?);
        through.push(download(proxied()).await?);
    }
    sampling.abort();
    let peak = peak.load(Ordering::Relaxed);
    api.json(
        Method::DELETE,
        &format!("/v1/sandboxes/{id}"),
        None,
        StatusCode::NO_CONTENT,
    )
    .await?;
    let (straight, through) = (median(&straight), median(&through));
    let profile = procs::profile(&procs::binary("wrenn-cp", "WRENN_CP_BIN")?);
    Ok(vec![
        Row::new(
            "proxy.download_1g_direct",
            straight,
            "MiB/s",
            format!("straight to envd at the slot address, median of {RUNS}; {profile} build"),
        ),
        Row::new(
            "proxy.download_1g_proxy",
            through,
            "MiB/s",
            format!("through wrenn-cp and the agent's /guest/ hop, median of {RUNS}"),
        ),
        Row::new(
            "proxy.download_ratio",
            through / straight,
            "x",
            "proxy / direct throughput (target >= 0.8)",
        ),
        Row::new(
            "proxy.cp_peak_rss_growth",
            (peak as f64 - baseline as f64) / 1024.0,
            "MiB",
            format!("wrenn-cp peak RSS over its {:.0} MiB before, during the downloads (the first proxied one included)", baseline as f64 / 1024.0),
        ),
    ])
}

/// MiB/s of one full download; fails unless every byte arrived.
async fn download(request: reqwest::RequestBuilder) -> anyhow::Result<f64> {
    let started = Instant::now();
    let answer = request.send().await?;
    anyhow::ensure!(
        answer.status() == StatusCode::OK,
        "download answered {}",
        answer.status()
    );
    let mut stream = answer.bytes_stream();
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        total += chunk?.len() as u64;
    }
    anyhow::ensure!(total == SIZE, "downloaded {total} of {SIZE} bytes");
    Ok(SIZE as f64 / (1 << 20) as f64 / started.elapsed().as_secs_f64())
}

/// Raises `peak` to the RSS of `pid` every 50 ms until aborted.
async fn sample_peak(pid: u32, peak: Arc<AtomicU64>) {
    loop {
        peak.fetch_max(rss_kib(pid).unwrap_or(0), Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}
