//! Suite `speed` (issue #15; needs root): the agent's speed and density,
//! each figure next to its floor measured in the same run.
//! - create → first `run("true")` from the template snapshot vs the floor:
//!   bare QEMU restore of the same snapshot (network and disk made
//!   beforehand) + one envd call;
//! - create → first `run("true")` on a warm-pool hit (`base:1:512:1`,
//!   the pool refilled before each run) vs the same floor, same run;
//! - 50 concurrent creates: how many succeed, p50/p99, creates/s;
//! - host memory (PSS, `/proc/PID/smaps_rollup`) per idle 512 MiB sandbox,
//!   20 of one template, against one idle sandbox alone.
use std::{
    path::Path,
    time::{Duration, Instant},
};

use wrenn_agent::{
    envd_client::{self, ExecRequest},
    network::{EgressPolicy, NetworkConfig, SandboxNetwork, Slot, SlotAllocator},
    paths::{DataDir, KernelFormat},
    sandbox::{Limits, ManagerOptions, SandboxConfig, SandboxManager},
    vmm::{accel, qemu::QemuBackend, Confinement, GuestNet, RunningVm, VmSpec, Vmm},
};

use crate::{
    agent_vm::{self, pid_of, pss_kib},
    stats::{median, percentile},
    Row,
};

type Manager = SandboxManager<QemuBackend>;

const MEMORY_MIB: u32 = 512;
const CONCURRENT: usize = 50;
const IDLE: usize = 20;

fn config() -> SandboxConfig {
    agent_vm::config(MEMORY_MIB)
}

pub async fn run(runs: usize) -> anyhow::Result<Vec<Row>> {
    let data = DataDir::from_env();
    let accel = accel::decide(Default::default(), accel::HostKvm::probe()).accel;
    let network = NetworkConfig::default();
    let opts = ManagerOptions {
        data: data.clone(),
        network: network.clone(),
        limits: Limits {
            max_vcpus: 2,
            max_memory_mib: 65536,
            max_disk_mib: 16384,
        },
        ready_timeout: Duration::from_secs(600),
        kernel_format: KernelFormat::BzImage,
        // Benches measure the plain guest: no operator CAs to install.
        guest_ca: None,
    };
    let m = SandboxManager::new(QemuBackend::new(accel, Confinement::default_on()?), opts)?;
    m.start().await?;
    let template = "base".parse()?;
    let snapshot = m.warm_template(&template, 1, MEMORY_MIB).await?;
    let note = format!("median of {runs}, accel {accel}, 1 vCPU, {MEMORY_MIB} MiB");
    let mut rows = Vec::new();

    // The floor's slot is the last one: the manager hands out the lowest.
    let floor = Floor {
        backend: QemuBackend::new(accel, Confinement::default_on()?),
        network: SandboxNetwork::new(network.clone())?,
        slot: SlotAllocator::new(network.max_slots).claim(network.max_slots - 1)?,
        data: &data,
        snapshot: &snapshot,
        manager: &m,
    };
    let (mut agent, mut bare, mut net) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let (restored, network) = floor.restore_and_exec().await?;
        bare.push(restored);
        net.push(network);
        let started = Instant::now();
        let sandbox = m.create(config()).await?;
        let out = m.exec(&sandbox.id, ExecRequest::shell("true")).await?;
        anyhow::ensure!(out.exit_code == 0, "first exec failed");
        agent.push(started.elapsed().as_secs_f64());
        m.destroy(&sandbox.id).await?;
    }
    let (agent_m, bare_m) = (median(&agent), median(&bare));
    rows.push(Row::new(
        "speed.create_to_first_run.pool_empty",
        agent_m,
        "s",
        format!("{note}; snapshot restore, target ≤ 0.6 s"),
    ));
    rows.push(Row::new(
        "speed.bare_restore_plus_exec",
        bare_m,
        "s",
        "floor: bare QEMU -incoming of the same snapshot + one envd exec (net, disk made before)",
    ));
    rows.push(Row::new(
        "speed.network_slot_create",
        median(&net),
        "s",
        "one sandbox network (namespace, veth, TAP, nftables) as the agent builds it",
    ));
    rows.push(Row::new(
        "speed.create_to_first_run.vs_floor",
        agent_m / bare_m,
        "x",
        "snapshot restore (pool empty) vs floor",
    ));
    rows.extend(warm_hits(&m, &floor, runs, &note).await?);

    // Without queueing (every start at once, as before the start gate),
    // then with the gate's default (or `SPEED_GATE_LIMIT`).
    let default_limit = std::env::var("SPEED_GATE_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(m.start_gate().limit());
    m.start_gate().set_limit(CONCURRENT);
    rows.extend(concurrent_creates(&m, "unqueued").await?);
    m.start_gate().set_limit(default_limit);
    rows.extend(concurrent_creates(&m, "gated").await?);
    rows.extend(idle_pss(&m, &data).await?);
    Ok(rows)
}

/// Create → first `run("true")` served by a warm pool of one, against
/// the floor measured in the same loop; the pool is stopped after.
async fn warm_hits(
    m: &Manager,
    floor: &Floor<'_>,
    runs: usize,
    note: &str,
) -> anyhow::Result<Vec<Row>> {
    let specs = wrenn_agent::sandbox::warm::parse_specs(&format!("base:1:{MEMORY_MIB}:1"))?;
    let pool = m
        .start_warm_pools(&specs, 256)
        .ok_or_else(|| anyhow::anyhow!("no warm pool started"))?;
    let until_warm = || async {
        while m.warm_report().warm == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let hits_before = m.warm_report().hits;
    let (mut hit, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        until_warm().await;
        bare.push(floor.restore_and_exec().await?.0);
        let started = Instant::now();
        let sandbox = m.create(config()).await?;
        let out = m.exec(&sandbox.id, ExecRequest::shell("true")).await?;
        anyhow::ensure!(out.exit_code == 0, "first exec failed");
        hit.push(started.elapsed().as_secs_f64());
        m.destroy(&sandbox.id).await?;
    }
    let hits = m.warm_report().hits - hits_before;
    anyhow::ensure!(
        hits == runs as u64,
        "{hits} of {runs} creates were pool hits"
    );
    until_warm().await;
    pool.abort();
    m.drain_warm_pools().await;
    let (hit_m, bare_m) = (median(&hit), median(&bare));
    eprintln!(
        "  warm-pool hit: median {hit_m:.3} s, floor {bare_m:.3} s (runs {hit:.3?} / {bare:.3?})"
    );
    Ok(vec![
        Row::new(
            "speed.create_to_first_run.warm_hit",
            hit_m,
            "s",
            format!("{note}; warm-pool hit, target median ≤ 0.15 s"),
        ),
        Row::new(
            "speed.create_to_first_run.warm_hit_floor",
            bare_m,
            "s",
            "floor in the same loop: bare QEMU -incoming + one envd exec",
        ),
        Row::new(
            "speed.create_to_first_run.warm_hit_vs_floor",
            hit_m / bare_m,
            "x",
            "target ≤ 1.3",
        ),
    ])
}

/// A bare restore of the template snapshot on a prepared network slot.
struct Floor<'a> {
    backend: QemuBackend,
    network: SandboxNetwork,
    slot: wrenn_agent::network::SlotLease,
    data: &'a DataDir,
    snapshot: &'a Path,
    manager: &'a Manager,
}

impl Floor<'_> {
    /// Seconds from QEMU's spawn to the end of one `true` through envd, and
    /// seconds the network took to build.
    async fn restore_and_exec(&self) -> anyhow::Result<(f64, f64)> {
        let slot: Slot = self.slot.slot();
        let policy = EgressPolicy {
            internet: false,
            allow: Vec::new(),
            deny: Vec::new(),
        };
        let net_started = Instant::now();
        let handle = self.network.create(slot, &policy).await?;
        let network = net_started.elapsed().as_secs_f64();
        let dir = self.data.root().join("sandboxes/bench-floor");
        std::fs::create_dir_all(dir.join("run"))?;
        let plan = self.manager.disk_plan();
        let disk = plan.disk_in(&dir);
        let _ = std::fs::remove_file(&disk);
        let result = async {
            plan.create(&plan.disk_in(self.snapshot), &disk, None)
                .await?;
            let spec = VmSpec {
                run_dir: dir.join("run"),
                kernel: self.data.kernel(KernelFormat::BzImage)?,
                root_disk: disk.clone(),
                discard_writes: false,
                vcpus: 1,
                memory_mib: MEMORY_MIB,
                net: GuestNet::Tap(handle.tap.clone()),
                init: vec!["/usr/bin/envd".into()],
            };
            let url = format!("http://{}", handle.envd_addr);
            let started = Instant::now();
            let mut vm = self.backend.restore(&spec, self.snapshot).await?;
            let http = reqwest::Client::new();
            let ready =
                envd_client::wait_ready(&http, &url, &mut vm, Duration::from_secs(120)).await;
            let out = match ready {
                Ok(()) => envd_client::exec(&url, &ExecRequest::shell("true"))
                    .await
                    .map_err(anyhow::Error::from),
                Err(err) => Err(anyhow::anyhow!("{err}")),
            };
            let elapsed = started.elapsed().as_secs_f64();
            let _ = vm.kill().await;
            anyhow::ensure!(out?.exit_code == 0, "floor exec failed");
            Ok(elapsed)
        }
        .await;
        self.network.destroy(slot).await?;
        let _ = std::fs::remove_dir_all(&dir);
        result.map(|restored| (restored, network))
    }
}

async fn concurrent_creates(m: &Manager, label: &str) -> anyhow::Result<Vec<Row>> {
    let limit = m.start_gate().limit();
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENT)
        .map(|_| {
            let m = m.clone();
            tokio::spawn(async move {
                let t = Instant::now();
                let created = m.create(config()).await;
                (created, t.elapsed().as_secs_f64())
            })
        })
        .collect();
    let (mut ok, mut times, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for task in tasks {
        let (created, secs) = task.await?;
        match created {
            Ok(info) => {
                ok.push(info.id);
                times.push(secs);
            }
            Err(err) => errors.push(err.to_string()),
        }
    }
    let wall = started.elapsed().as_secs_f64();
    if let Some(first) = errors.first() {
        eprintln!(
            "speed: {} of {CONCURRENT} creates failed; first: {first}",
            errors.len()
        );
    }
    for id in &ok {
        m.destroy(id).await?;
    }
    // Failed creates stay listed in `error`; remove them too.
    for sandbox in m.list() {
        let _ = m.destroy(&sandbox.id).await;
    }
    let rate = ok.len() as f64 / wall;
    let name = |figure: &str| format!("speed.concurrent_creates.{label}.{figure}");
    Ok(vec![
        Row::new(
            &name("succeeded"),
            ok.len() as f64,
            "of 50",
            format!("50 creates at once from the template snapshot, {limit} VM starts at a time; target 50"),
        ),
        Row::new(
            &name("p50"),
            percentile(&times, 50.0),
            "s",
            "create() latency of the successful ones",
        ),
        Row::new(&name("p99"), percentile(&times, 99.0), "s", ""),
        Row::new(
            &name("rate"),
            rate,
            "creates/s",
            format!("{} created in {wall:.1} s", ok.len()),
        ),
    ])
}

async fn idle_pss(m: &Manager, data: &DataDir) -> anyhow::Result<Vec<Row>> {
    let agent_before = pss_kib(std::process::id());
    let alone = m.create(config()).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let alone_kib = pid_of(data, alone.id.as_str()).map_or(0, pss_kib);
    m.destroy(&alone.id).await?;
    let mut idle = Vec::new();
    for _ in 0..IDLE {
        idle.push(m.create(config()).await?);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let qemu_kib: u64 = idle
        .iter()
        .filter_map(|s| pid_of(data, s.id.as_str()))
        .map(pss_kib)
        .sum();
    let agent_share = pss_kib(std::process::id()).saturating_sub(agent_before);
    for sandbox in &idle {
        m.destroy(&sandbox.id).await?;
    }
    let total = qemu_kib + agent_share;
    let beyond_first = total.saturating_sub(alone_kib) as f64 / (IDLE - 1) as f64 / 1024.0;
    Ok(vec![
        Row::new(
            "speed.pss_idle_512mib.alone",
            alone_kib as f64 / 1024.0,
            "MiB",
            "floor: one idle sandbox's QEMU PSS",
        ),
        Row::new(
            "speed.pss_idle_512mib.each_beyond_first",
            beyond_first,
            "MiB",
            format!(
                "20 idle sandboxes of one template: QEMU PSS {} MiB + agent growth {} MiB; target ≤ 40",
                qemu_kib / 1024,
                agent_share / 1024
            ),
        ),
    ])
}
