//! `wrenn-agent serve`: the daemon. Chooses the backend, registers with the
//! control plane when asked (`--register`), recovers what a previous agent
//! left, serves the RPC API (and, registered, sends heartbeats) until
//! SIGTERM/SIGINT or until the control plane revokes the host, then drains
//! in-flight requests and exits, leaving sandboxes running for the next
//! start to re-adopt.
use std::time::Duration;

use anyhow::Context;
use wrenn_agent::{
    paths::{DataDir, KernelFormat, AGENT_UMASK},
    registration::{self, Usage},
    rpc::{self, AgentRpc, HostFacts},
    sandbox::{sealed::StateKey, ManagerOptions, SandboxError, SandboxManager, BUILTIN_TEMPLATES},
    vmm::{
        accel::{self, AccelDecision, HostKvm},
        firecracker::{
            jailer::{choose_jailer, JAILER_BIN_ENV},
            FirecrackerBackend,
        },
        qemu::QemuBackend,
        Accel, BackendKind, Confinement, Vmm,
    },
};

use super::{
    config::{BackendChoice, ServeConfig},
    register::{self, RegisterArgs, EXIT_HOST_REVOKED},
};

/// How long in-flight requests get after a stop signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves until stopped; the answer is the process's exit status.
pub async fn run(config: ServeConfig, args: RegisterArgs) -> anyhow::Result<i32> {
    tracing::info!(
        ?config,
        "starting wrenn-agent {}",
        env!("CARGO_PKG_VERSION")
    );
    let confinement = secure_host(&config)?;
    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (AGENT_LISTEN_ADDR)",
                config.listen_addr
            )
        })?;
    match choose_backend(config.backend, &confinement)? {
        Some(firecracker) => {
            let facts = HostFacts {
                backend: BackendKind::Firecracker,
                accel: AccelDecision {
                    accel: Accel::Kvm,
                    reason: "Firecracker runs on hardware KVM".into(),
                },
            };
            run_with(
                firecracker,
                KernelFormat::Vmlinux,
                facts,
                config,
                listener,
                args,
            )
            .await
        }
        None => {
            let decision = accel::decide(config.accel, HostKvm::probe());
            tracing::info!(accel = %decision.accel, reason = %decision.reason, "accelerator chosen");
            let facts = HostFacts {
                backend: BackendKind::Qemu,
                accel: decision.clone(),
            };
            let qemu = QemuBackend::new(decision.accel, confinement);
            run_with(qemu, KernelFormat::BzImage, facts, config, listener, args).await
        }
    }
}

/// `Some` for Firecracker, `None` for QEMU; logs why. `auto` is QEMU: the
/// whole sandbox path (boot, pause, resume, snapshots) is tested end to end
/// on QEMU only, so Firecracker runs only where asked for.
fn choose_backend(
    choice: BackendChoice,
    confinement: &Confinement,
) -> anyhow::Result<Option<FirecrackerBackend>> {
    match choice {
        BackendChoice::Qemu => {
            tracing::info!(
                backend = "qemu",
                reason = "AGENT_BACKEND=qemu",
                "backend chosen"
            );
            Ok(None)
        }
        BackendChoice::Auto => {
            tracing::info!(
                backend = "qemu",
                reason =
                    "AGENT_BACKEND=auto picks QEMU; set AGENT_BACKEND=firecracker for Firecracker",
                "backend chosen"
            );
            Ok(None)
        }
        BackendChoice::Firecracker => {
            let mut fc = FirecrackerBackend::detect()
                .context("AGENT_BACKEND=firecracker but Firecracker cannot run here")?;
            let user = match confinement {
                Confinement::On { user, .. } => Some((user.uid, user.gid)),
                Confinement::Off => None,
            };
            let jailer = choose_jailer(
                user,
                std::env::var_os(JAILER_BIN_ENV).map(Into::into),
                &fc.binary,
                std::env::var_os("PATH").as_deref(),
            )
            .context("AGENT_BACKEND=firecracker: refusing to run Firecracker without its jailer")?;
            if let Some(jailer) = jailer {
                fc = fc.with_jailer(jailer);
            }
            tracing::info!(
                backend = "firecracker",
                binary = %fc.binary.display(),
                jailer = ?fc.jailer.as_ref().map(|j| j.binary.display().to_string()),
                "backend chosen"
            );
            Ok(Some(fc))
        }
    }
}

async fn run_with<V: Vmm>(
    backend: V,
    kernel_format: KernelFormat,
    facts: HostFacts,
    config: ServeConfig,
    listener: tokio::net::TcpListener,
    args: RegisterArgs,
) -> anyhow::Result<i32> {
    let tls = config
        .tls
        .as_ref()
        .map(|files| files.server_config())
        .transpose()
        .context("setting up TLS")?;
    let established = register::establish(&config, &args, &facts).await?;
    let opts = ManagerOptions {
        data: DataDir::new(&config.data_dir),
        network: config.network.clone(),
        limits: config.limits,
        ready_timeout: config.ready_timeout,
        kernel_format,
        guest_ca: config.guest_ca.clone(),
    };
    let manager = SandboxManager::new(backend, opts).context("setting up the sandbox manager")?;
    if let Some(limit) = config.max_concurrent_starts {
        manager.start_gate().set_limit(limit);
    }
    tracing::info!(
        limit = manager.start_gate().limit(),
        "VM starts at once (AGENT_MAX_CONCURRENT_STARTS; default four per CPU); the rest queue in order"
    );
    let report = manager
        .start()
        .await
        .context("recovering sandboxes and preparing host networking")?;
    // The manager logs the full report; keep one line for the daemon's story.
    tracing::debug!(?report, "recovery report");
    let _reaper = manager.spawn_reaper();
    let _metrics = manager.spawn_metrics_sampler();
    let warmers = spawn_warmers(&manager, &config);
    let _warm_pools = manager.start_warm_pools(&config.warm_pool, config.warm_pool_reserve_mib);

    let app = rpc::router(AgentRpc::new(manager.clone(), facts), established.secret);
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "serving wrenn.agent.v1.AgentService");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stopped = async move {
        let _ = stop_rx.await;
    };
    let server = match tls {
        Some(tls) => tokio::spawn(wrenn_agent::tls::serve_tls(listener, app, tls, stopped)),
        None => tokio::spawn(rpc::serve(listener, app, stopped)),
    };
    let heartbeat = established.heartbeat.map(|(client, hb)| {
        let manager = manager.clone();
        tokio::spawn(registration::heartbeat::run(client, hb, move || {
            Usage::of(&manager)
        }))
    });
    let mut exit_status = 0;
    tokio::select! {
        signal = wait_for_stop_signal() => {
            signal?;
            tracing::info!("stop signal received: no new connections; draining in-flight requests");
        }
        Some(Ok(revoked)) = async { match heartbeat { Some(task) => Some(task.await), None => None } } => {
            tracing::error!(code = %revoked.code, "{revoked}");
            tracing::info!("shutting down: no new connections; draining in-flight requests");
            exit_status = EXIT_HOST_REVOKED;
        }
    }
    let _ = stop_tx.send(());
    match tokio::time::timeout(DRAIN_TIMEOUT, server).await {
        Ok(joined) => joined.context("server task")?.context("serving")?,
        Err(_) => tracing::warn!(
            ?DRAIN_TIMEOUT,
            "in-flight requests still open; closing them"
        ),
    }
    // A template snapshot still being built goes with the agent: its task is
    // cancelled and awaited, so that its VM is killed before we exit.
    if let Some(warmers) = warmers {
        warmers.abort();
        let _ = warmers.await;
    }
    let running = manager.list().len();
    tracing::info!(
        sandboxes = running,
        "stopped; sandboxes are left as they are and the next start re-adopts them"
    );
    Ok(exit_status)
}

/// Host least privilege, before anything is created: umask 077, the data
/// directory made root-only, the state key sealing envd tokens installed,
/// and the VM confinement resolved (its leftover cgroups swept).
fn secure_host(config: &ServeConfig) -> anyhow::Result<Confinement> {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(AGENT_UMASK));
    let data = DataDir::new(&config.data_dir);
    let changed = data
        .restrict()
        .with_context(|| format!("making {} root-only", config.data_dir.display()))?;
    if changed > 0 {
        tracing::info!(changed, data_dir = %config.data_dir.display(), "removed group and other access from files of the data directory");
    }
    StateKey::load_or_create(&config.state_key_file, &data.root().join("sandboxes"))
        .context("AGENT_STATE_KEY_FILE")?
        .install();
    let confinement = Confinement::resolve(config.vm_confinement, &config.vm_user)
        .context("AGENT_VM_CONFINEMENT")?;
    let swept = confinement.sweep();
    if let Confinement::On { user, cgroups } = &confinement {
        tracing::info!(
            user = %user.name,
            cgroup_version = cgroups.version(),
            stale_cgroups_removed = swept,
            "VMs run confined: unprivileged user, seccomp, one cgroup each"
        );
    }
    Ok(confinement)
}

/// Builds the template snapshots of [`ServeConfig::warm_plan`] (the
/// built-in templates' and `AGENT_WARM_TEMPLATES`) in the background, one
/// by one; creates meanwhile cold boot. A snapshot already there costs
/// nothing.
fn spawn_warmers<V: Vmm>(
    manager: &SandboxManager<V>,
    config: &ServeConfig,
) -> Option<tokio::task::JoinHandle<()>> {
    let specs = config.warm_plan();
    if specs.is_empty() {
        return None;
    }
    let manager = manager.clone();
    Some(tokio::spawn(async move {
        for spec in specs {
            let started = std::time::Instant::now();
            match manager
                .warm_template(&spec.template, spec.vcpus, spec.memory_mib)
                .await
            {
                Ok(_) => tracing::info!(
                    template = %spec.template,
                    vcpus = spec.vcpus,
                    memory_mib = spec.memory_mib,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "template snapshot ready"
                ),
                // A built-in template whose image this host was not given.
                Err(SandboxError::UnknownTemplate(_))
                    if BUILTIN_TEMPLATES.contains(&spec.template.as_str()) =>
                {
                    tracing::info!(template = %spec.template, "no image of this built-in template on this host; no snapshot");
                }
                Err(err) => tracing::warn!(
                    template = %spec.template,
                    vcpus = spec.vcpus,
                    memory_mib = spec.memory_mib,
                    %err,
                    "template snapshot failed"
                ),
            }
        }
    }))
}

pub async fn wait_for_stop_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
