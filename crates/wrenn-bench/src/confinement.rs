//! Suite `confinement`: what VM confinement (unprivileged user, QEMU's
//! seccomp filter, a cgroup per VM) costs on create → first exec. Two
//! managers on the same data directory, one confined and one not
//! (`AGENT_VM_CONFINEMENT=off`), strictly alternating in one run, so both
//! see the same host load; cold boots (a shape no template snapshot exists
//! for). Needs root and the wrenn-vm user.
use std::{collections::BTreeMap, time::Instant};

use wrenn_agent::{
    envd_client::ExecRequest,
    network::NetworkConfig,
    paths::{DataDir, KernelFormat},
    sandbox::{EgressSpec, Limits, ManagerOptions, SandboxConfig, SandboxManager, TimeoutAction},
    vmm::{accel, qemu::QemuBackend, Confinement},
};

use crate::{stats::median, Row};

/// Samples per variant.
pub const SAMPLES: usize = 20;
/// A guest size no test or warmer snapshots, so every create cold-boots.
const MEMORY_MIB: u32 = 448;

fn config() -> anyhow::Result<SandboxConfig> {
    Ok(SandboxConfig {
        template: "base".parse()?,
        vcpus: 1,
        memory_mib: MEMORY_MIB,
        disk_mib: None,
        timeout_secs: 600,
        on_timeout: TimeoutAction::Kill,
        env_vars: BTreeMap::new(),
        metadata: BTreeMap::new(),
        egress: EgressSpec::default(),
    })
}

/// Seconds from `create` to the end of a first `true`.
async fn create_to_exec(m: &SandboxManager<QemuBackend>) -> anyhow::Result<f64> {
    let started = Instant::now();
    let sandbox = m.create(config()?).await?;
    let output = m.exec(&sandbox.id, ExecRequest::shell("true")).await;
    let took = started.elapsed().as_secs_f64();
    m.destroy(&sandbox.id).await?;
    anyhow::ensure!(
        !sandbox.from_snapshot,
        "restored from a template snapshot; this suite measures cold boots"
    );
    anyhow::ensure!(output?.exit_code == 0, "first exec failed");
    Ok(took)
}

pub async fn run() -> anyhow::Result<Vec<Row>> {
    let accel = accel::decide(Default::default(), accel::HostKvm::probe()).accel;
    let opts = ManagerOptions {
        data: DataDir::from_env(),
        network: NetworkConfig::default(),
        limits: Limits {
            max_vcpus: 2,
            max_memory_mib: 4096,
            max_disk_mib: 16384,
        },
        ready_timeout: std::time::Duration::from_secs(120),
        kernel_format: KernelFormat::BzImage,
        // Benches measure the plain guest: no operator CAs to install.
        guest_ca: None,
    };
    let confined = SandboxManager::new(
        QemuBackend::new(accel, Confinement::default_on()?),
        opts.clone(),
    )?;
    // Recovery and the host's network set-up once, by the first manager;
    // the second shares them. Sandboxes strictly alternate (each destroyed
    // before the next starts), so the two never hold a network slot at once.
    confined.start().await?;
    let open = SandboxManager::new(QemuBackend::unconfined(accel), opts)?;
    // One of each first, unmeasured: page cache and first-use costs.
    create_to_exec(&confined).await?;
    create_to_exec(&open).await?;
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        // Alternate which goes first, so neither always follows the other.
        if i % 2 == 0 {
            on.push(create_to_exec(&confined).await?);
            off.push(create_to_exec(&open).await?);
        } else {
            off.push(create_to_exec(&open).await?);
            on.push(create_to_exec(&confined).await?);
        }
    }
    let (on_m, off_m) = (median(&on), median(&off));
    let note = format!(
        "median of {SAMPLES}, alternating, accel {accel}, cold boot, 1 vCPU, {MEMORY_MIB} MiB"
    );
    Ok(vec![
        Row::new(
            "confinement.create_to_first_exec.confined",
            on_m,
            "s",
            format!("{note}; wrenn-vm + seccomp + own cgroup"),
        ),
        Row::new(
            "confinement.create_to_first_exec.unconfined",
            off_m,
            "s",
            format!("{note}; AGENT_VM_CONFINEMENT=off"),
        ),
        Row::new(
            "confinement.overhead_ratio",
            on_m / off_m,
            "x",
            "confined / unconfined median",
        ),
    ])
}
