//! Suite `sandbox`: the agent's own figures, measured through the sandbox
//! manager with real VMs, TAP networks and qcow2 disks (needs root).
//! - create → first exec: cold boot vs restore from a template snapshot;
//! - pause and resume of a 512 MiB sandbox, and its snapshot size on disk;
//! - agent overhead: create-to-ready through the manager vs a bare QEMU boot
//!   of the same kernel and image to envd-ready;
//! - host memory per idle 256 MiB sandbox (QEMU RSS + agent share).
use std::time::{Duration, Instant};

use wrenn_agent::{
    devboot::{DevBootOptions, DevVm},
    envd_client::ExecRequest,
    network::NetworkConfig,
    paths::{DataDir, KernelFormat},
    sandbox::{Limits, ManagerOptions, SandboxManager},
    vmm::{accel, qemu::QemuBackend, Accel, Confinement},
};

use crate::{
    agent_vm::{config, dir_size, pid_of, rss_kib},
    stats::median,
    Row,
};

type Manager = SandboxManager<QemuBackend>;

/// Seconds from `create` to ready (create returned) and to the end of the
/// first exec.
struct Created {
    ready: f64,
    exec: f64,
    id: wrenn_agent::sandbox::SandboxId,
}

async fn create_to_exec(m: &Manager, memory_mib: u32) -> anyhow::Result<Created> {
    let started = Instant::now();
    let sandbox = m.create(config(memory_mib)).await?;
    let ready = started.elapsed().as_secs_f64();
    let output = m.exec(&sandbox.id, ExecRequest::shell("true")).await?;
    anyhow::ensure!(output.exit_code == 0, "first exec failed");
    Ok(Created {
        ready,
        exec: started.elapsed().as_secs_f64(),
        id: sandbox.id,
    })
}

pub async fn run(runs: usize) -> anyhow::Result<Vec<Row>> {
    let data = DataDir::from_env();
    let accel = accel::decide(Default::default(), accel::HostKvm::probe()).accel;
    let opts = ManagerOptions {
        data: data.clone(),
        network: NetworkConfig::default(),
        limits: Limits {
            max_vcpus: 2,
            max_memory_mib: 8192,
            max_disk_mib: 16384,
        },
        ready_timeout: Duration::from_secs(120),
        kernel_format: KernelFormat::BzImage,
        // Benches measure the plain guest: no operator CAs to install.
        guest_ca: None,
    };
    let m = SandboxManager::new(QemuBackend::new(accel, Confinement::default_on()?), opts)?;
    m.start().await?;
    let note = format!("median of {runs}, accel {accel}, 1 vCPU, 512 MiB");
    let mut rows = Vec::new();

    // Cold boots first (no snapshot for this shape may exist yet), then the
    // snapshot, then restores; the same loop shape for both.
    let template = "base".parse()?;
    let snapshot_dir = m.warm_template(&template, 1, 512).await?;
    let (mut cold, mut warm, mut bare) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cold_ready, mut warm_ready) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let hidden = snapshot_dir.join("complete");
        std::fs::remove_file(&hidden)?; // force a cold boot
        let result = create_to_exec(&m, 512).await;
        std::fs::write(&hidden, b"")?;
        let created = result?;
        cold.push(created.exec);
        cold_ready.push(created.ready);
        m.destroy(&created.id).await?;
        let created = create_to_exec(&m, 512).await?;
        warm.push(created.exec);
        warm_ready.push(created.ready);
        m.destroy(&created.id).await?;
        bare.push(bare_envd_ready(&data, accel).await?);
    }
    let (cold_m, warm_m, bare_m) = (median(&cold), median(&warm), median(&bare));
    let (ready_m, warm_ready_m) = (median(&cold_ready), median(&warm_ready));
    rows.push(Row::new(
        "sandbox.create_to_ready.cold_boot",
        ready_m,
        "s",
        "create() returned: envd healthy + /init",
    ));
    rows.push(Row::new(
        "sandbox.create_to_ready.from_snapshot",
        warm_ready_m,
        "s",
        note.clone(),
    ));
    rows.push(Row::new(
        "sandbox.create_to_ready.cold_vs_snapshot",
        ready_m / warm_ready_m,
        "x",
        "target ≥ 5",
    ));
    rows.push(Row::new(
        "sandbox.create_to_first_exec.cold_boot",
        cold_m,
        "s",
        "create + `bash -l -c true` finished",
    ));
    rows.push(Row::new(
        "sandbox.create_to_first_exec.from_snapshot",
        warm_m,
        "s",
        note.clone(),
    ));
    rows.push(Row::new(
        "sandbox.create_to_first_exec.cold_vs_snapshot",
        cold_m / warm_m,
        "x",
        "TCG retranslates all code after a restore",
    ));
    rows.push(Row::new(
        "sandbox.bare_qemu_to_envd_ready",
        bare_m,
        "s",
        "user-net, no agent, same kernel+image",
    ));
    rows.push(Row::new(
        "sandbox.agent_overhead_ratio",
        ready_m / bare_m,
        "x",
        "create-to-ready via agent / bare QEMU to envd ready; target ≤ 1.15",
    ));

    let (mut pause, mut resume, mut size) = (Vec::new(), Vec::new(), Vec::new());
    let sandbox = m.create(config(512)).await?;
    for _ in 0..runs {
        let started = Instant::now();
        m.pause(&sandbox.id).await?;
        pause.push(started.elapsed().as_secs_f64());
        size.push(
            dir_size(
                &data
                    .root()
                    .join("sandboxes")
                    .join(sandbox.id.as_str())
                    .join("snapshot"),
            ) as f64
                / 1048576.0,
        );
        let started = Instant::now();
        m.resume(&sandbox.id).await?;
        resume.push(started.elapsed().as_secs_f64());
    }
    m.destroy(&sandbox.id).await?;
    rows.push(Row::new(
        "sandbox.pause_512mib",
        median(&pause),
        "s",
        note.clone(),
    ));
    rows.push(Row::new(
        "sandbox.resume_512mib",
        median(&resume),
        "s",
        format!("{note}; until envd answers and /init done"),
    ));
    rows.push(Row::new(
        "sandbox.snapshot_size_512mib",
        median(&size),
        "MiB",
        "memory image on disk (zero pages compressed by QEMU)",
    ));

    // Ten idle 256 MiB sandboxes.
    let agent_before = rss_kib(std::process::id());
    let mut idle = Vec::new();
    for _ in 0..10 {
        idle.push(m.create(config(256)).await?);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let qemu_kib: u64 = idle
        .iter()
        .filter_map(|s| pid_of(&data, s.id.as_str()))
        .map(rss_kib)
        .sum();
    let agent_share = rss_kib(std::process::id()).saturating_sub(agent_before);
    for sandbox in &idle {
        m.destroy(&sandbox.id).await?;
    }
    rows.push(Row::new(
        "sandbox.host_memory_per_idle_256mib",
        (qemu_kib + agent_share) as f64 / 10.0 / 1024.0,
        "MiB",
        format!(
            "10 idle sandboxes: QEMU RSS {} MiB total + agent growth {} MiB",
            qemu_kib / 1024,
            agent_share / 1024
        ),
    ));
    Ok(rows)
}

/// Bare QEMU (no agent, user-mode networking, same kernel and image) from
/// spawn to envd answering `/health`.
async fn bare_envd_ready(data: &DataDir, accel: Accel) -> anyhow::Result<f64> {
    let options = DevBootOptions {
        vcpus: 1,
        memory_mib: 512,
        ..Default::default()
    };
    let mut vm = DevVm::spawn(data, accel, &options).await?;
    let ready = vm.wait_ready(Duration::from_secs(120)).await?;
    vm.shutdown(Duration::from_secs(30)).await?;
    Ok(ready.as_secs_f64())
}
