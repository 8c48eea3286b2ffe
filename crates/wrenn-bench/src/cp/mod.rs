//! Suite `cp`: the control plane's own costs.
//! - `list`: `GET /v1/sandboxes` with 1,000 records, SQLite and PostgreSQL
//!   (in-process server, no VMs);
//! - `overhead`: create → running and → first exec through `wrenn-cp` vs
//!   straight through `wrenn-agent` (real processes and VMs, needs root);
//! - `concurrent`: 20 creates at once through `wrenn-cp` (needs root);
//! - `schedule`: placement decision time with 100 simulated hosts;
//! - `exec`: collected and streaming exec of `true` on one sandbox through
//!   `wrenn-cp` (needs root; also alone as suite `cp-exec`);
//! - suite `cp-list` (alone): `GET /v1/sandboxes` with 1,000 records,
//!   today's `wrenn-cp` binary (`$WRENN_BENCH_BASELINE_CP`) against this
//!   build's in one run, SQLite and PostgreSQL (real processes, no VMs);
//! - suite `cp-ratelimit` (alone): `GET /v1/sandboxes` requests/s with the
//!   request limits on vs off (in-process, no VMs).
//!
//! The VM parts start `wrenn-agent serve`, which takes over the host's
//! sandbox networking: run one agent per machine at a time.
use anyhow::Context;
use wrenn_proto::wrenn::agent::v1 as pb;

use crate::Row;

pub(crate) mod api;
mod concurrent;
mod exec;
pub use exec::SAMPLES as EXEC_SAMPLES;
mod list;
mod list_ab;
mod load;
mod overhead;
pub(crate) mod procs;
mod rate_limit;
mod schedule;

pub async fn run(runs: usize) -> anyhow::Result<Vec<Row>> {
    let mut rows = list::run().await?;
    rows.extend(schedule::run().await?);
    if !nix::unistd::geteuid().is_root() {
        eprintln!("cp: skipping the VM parts (overhead, concurrent creates): they need root");
        rows.push(Row::text(
            "cp.vm_parts",
            "skipped",
            "",
            "not root: overhead and concurrent creates need root",
        ));
        return Ok(rows);
    }
    rows.extend(with_vms(runs, Parts::All).await?);
    Ok(rows)
}

/// Suite `cp-exec`: only the exec figures (needs root).
pub async fn run_exec() -> anyhow::Result<Vec<Row>> {
    anyhow::ensure!(nix::unistd::geteuid().is_root(), "suite cp-exec needs root");
    with_vms(0, Parts::Exec).await
}

/// Suite `cp-list`: list throughput and latency, baseline build vs this one.
pub async fn run_list_ab() -> anyhow::Result<Vec<Row>> {
    list_ab::run().await
}

/// Suite `cp-overhead`: only create → running and → first result through
/// the control plane vs straight through the agent (needs root).
pub async fn run_overhead(runs: usize) -> anyhow::Result<Vec<Row>> {
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "suite cp-overhead needs root"
    );
    with_vms(runs, Parts::Overhead).await
}

/// Suite `cp-ratelimit`: list throughput with the request limits on vs off.
pub async fn run_rate_limit() -> anyhow::Result<Vec<Row>> {
    rate_limit::run().await
}

/// Which VM parts [`with_vms`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parts {
    All,
    Exec,
    Overhead,
}

/// Starts the agent and the control plane, measures, then destroys whatever
/// sandboxes are left and stops both processes, also when measuring failed.
async fn with_vms(runs: usize, parts: Parts) -> anyhow::Result<Vec<Row>> {
    // Kept afterwards: the processes' logs explain odd figures.
    let dir = tempfile::Builder::new()
        .prefix("wrenn-bench-cp-")
        .tempdir()?
        .keep();
    eprintln!("cp: agent and control-plane logs in {}", dir.display());
    let agent = procs::Agent::start(&dir).await?;
    let client = agent.client()?;
    let measured = async {
        let cp = procs::ControlPlane::start(&dir, &agent).await?;
        let measured = async {
            let api = api::Api::signup(&cp.url).await?;
            let host = host_note(&client, &agent).await?;
            eprintln!("cp: {host}");
            if parts == Parts::Exec {
                return exec::run(&api, &client).await;
            }
            let proxy = agent.proxy()?;
            let mut rows = overhead::run(&api, &client, &proxy, runs).await?;
            if let Some(first) = rows.first_mut() {
                first.note = format!("{}; {host}", first.note);
            }
            if parts == Parts::Overhead {
                return Ok(rows);
            }
            rows.extend(concurrent::run(&api, &client).await?);
            rows.extend(exec::run(&api, &client).await?);
            Ok::<_, anyhow::Error>(rows)
        }
        .await;
        cp.stop().await?;
        measured
    }
    .await;
    let cleaned = destroy_everything(&client).await;
    agent.stop().await?;
    let left = cleaned?;
    if left > 0 {
        eprintln!("cp: warning: {left} sandboxes were left on the agent after the suite");
    }
    measured
}

/// Builds (or finds) the template memory snapshot of `base` for one shape,
/// so that creates restore instead of booting.
async fn warm(agent: &procs::AgentClient, vcpus: u32, memory_mib: u32) -> anyhow::Result<()> {
    let request = pb::WarmTemplateRequest {
        template: "base".into(),
        vcpus,
        memory_mib,
        ..Default::default()
    };
    agent
        .warm_template(request)
        .await
        .with_context(|| format!("warm the base snapshot for {vcpus} vCPU, {memory_mib} MiB"))?;
    Ok(())
}

async fn host_note(client: &procs::AgentClient, agent: &procs::Agent) -> anyhow::Result<String> {
    let info = client
        .host_info(pb::HostInfoRequest::default())
        .await?
        .into_owned();
    Ok(format!(
        "{} + {}, {} build",
        info.backend,
        info.accelerator,
        procs::profile(&agent.binary)
    ))
}

/// Destroys every sandbox the agent holds; answers how many it had.
pub(crate) async fn destroy_everything(client: &procs::AgentClient) -> anyhow::Result<usize> {
    let listed = client
        .list_sandboxes(pb::ListSandboxesRequest::default())
        .await?
        .into_owned()
        .sandboxes;
    for sandbox in &listed {
        eprintln!("cp: destroying leftover sandbox {}", sandbox.id);
        client
            .destroy_sandbox(pb::DestroySandboxRequest {
                id: sandbox.id.clone(),
                ..Default::default()
            })
            .await?;
    }
    Ok(listed.len())
}
