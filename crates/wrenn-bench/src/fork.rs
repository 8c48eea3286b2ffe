//! Suite `fork` (only when named; needs root): a running 512 MiB sandbox,
//! with a process and a file in it, forked into 1 and into 4 copies through
//! the sandbox manager with real VMs. Reported: the time from the fork call
//! to every copy running (envd answering, `/init` done), and to the end of
//! a first exec in each copy; medians of `runs` forks, each copy destroyed
//! before the next fork.
use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use wrenn_agent::{
    envd_client::ExecRequest,
    network::NetworkConfig,
    paths::{DataDir, KernelFormat},
    sandbox::{
        EgressSpec, ForkRequest, Limits, ManagerOptions, SandboxConfig, SandboxId, SandboxManager,
        TimeoutAction,
    },
    vmm::{accel, qemu::QemuBackend, Confinement},
};

use crate::{stats::median, Row};

type Manager = SandboxManager<QemuBackend>;

fn config() -> anyhow::Result<SandboxConfig> {
    Ok(SandboxConfig {
        template: "base".parse()?,
        vcpus: 1,
        memory_mib: 512,
        disk_mib: None,
        timeout_secs: 3600,
        on_timeout: TimeoutAction::Kill,
        env_vars: BTreeMap::new(),
        metadata: BTreeMap::new(),
        egress: EgressSpec::default(),
    })
}

/// Seconds to every copy running, and to a first exec done in each.
async fn fork_once(m: &Manager, source: &SandboxId, count: usize) -> anyhow::Result<(f64, f64)> {
    let copies = (0..count).map(|_| SandboxId::generate()).collect();
    let started = Instant::now();
    let made = m
        .fork(
            source,
            ForkRequest {
                copies,
                timeout_secs: None,
            },
        )
        .await?;
    let running = started.elapsed().as_secs_f64();
    let execs = made
        .iter()
        .map(|copy| m.exec(&copy.id, ExecRequest::shell("test -e /home/user/mark")));
    for output in futures_util::future::join_all(execs).await {
        anyhow::ensure!(output?.exit_code == 0, "a copy lacks the source's file");
    }
    let exec = started.elapsed().as_secs_f64();
    for copy in made {
        m.destroy(&copy.id).await?;
    }
    Ok((running, exec))
}

pub async fn run(runs: usize) -> anyhow::Result<Vec<Row>> {
    let accel = accel::decide(Default::default(), accel::HostKvm::probe()).accel;
    let opts = ManagerOptions {
        data: DataDir::from_env(),
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
    let source = m.create(config()?).await?;
    let setup = ExecRequest::shell(
        "echo x > /home/user/mark && (nohup sleep 3600 >/dev/null 2>&1 &) && sync",
    );
    anyhow::ensure!(
        m.exec(&source.id, setup).await?.exit_code == 0,
        "set-up failed"
    );
    let note = format!("median of {runs}, accel {accel}, 1 vCPU, 512 MiB, source keeps running");
    let rows = measure(&m, &source.id, runs, &note).await;
    // The source goes whatever happened (a failed fork removed its copies).
    m.destroy(&source.id).await?;
    rows
}

async fn measure(
    m: &Manager,
    source: &SandboxId,
    runs: usize,
    note: &str,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for count in [1, 4] {
        let (mut running, mut exec) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let (r, e) = fork_once(m, source, count).await?;
            running.push(r);
            exec.push(e);
        }
        rows.push(Row::new(
            &format!("fork.512mib.to_{count}_running"),
            median(&running),
            "s",
            note,
        ));
        rows.push(Row::new(
            &format!("fork.512mib.to_{count}_first_exec"),
            median(&exec),
            "s",
            "until a first exec finished in every copy",
        ));
    }
    Ok(rows)
}
