//! The sandbox manager: the one entry point to this host's sandboxes. It
//! builds the parts and hands each call to the part that owns it:
//!
//! - [`Registry`](super::registry::Registry): the live sandboxes and their records;
//! - [`Launcher`]: the VMM backend, networks and slots;
//! - [`DiskPlan`]: the disk format the backend boots and how disks are made;
//! - [`Sandboxes`]: the lifecycle (create, pause, resume, destroy);
//! - [`TemplateSnapshots`]: template memory snapshots;
//! - [`snapshot`](super::snapshot): templates made from sandboxes;
//! - [`Recovery`] and [`reaper`]: start-up and inactivity timeouts.
use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use super::{
    catalog::{TemplateCatalog, TemplateInfo},
    config::{Limits, SandboxConfig, TimeoutAction},
    error::SandboxError,
    fork::ForkRequest,
    id::{AccessToken, SandboxId, TemplateName},
    launcher::{Launcher, LauncherOptions},
    layout::{self, Layout},
    lifecycle::{EnvdTarget, Parts, SandboxRegistry, Sandboxes},
    metrics::{self, MetricsHistory, MetricsSample},
    pool_store::{WarmReport, WarmStore},
    reaper,
    record::SandboxInfo,
    recovery::{Recovery, RecoveryReport},
    snapshot::{self, DiskPublisher},
    start_spec::TemplateStartSpec,
    template::TemplateSnapshots,
    warm::WarmPoolSpec,
};
use crate::{
    disk::DiskPlan,
    envd_client::{ExecOutput, ExecRequest},
    guest_ca::GuestCa,
    network::NetworkConfig,
    paths::{DataDir, KernelFormat},
    vmm::Vmm,
};

/// Everything the manager needs besides the backend.
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    pub data: DataDir,
    pub network: NetworkConfig,
    pub limits: Limits,
    /// How long a guest gets to answer `/health` after boot or restore.
    pub ready_timeout: Duration,
    pub kernel_format: KernelFormat,
    /// `AGENT_GUEST_CA_FILE`: CA certificates every guest trusts.
    pub guest_ca: Option<GuestCa>,
}

/// The sandbox manager; cheap to clone (shared state).
pub struct SandboxManager<V: Vmm> {
    inner: Arc<Inner<V>>,
}

struct Inner<V: Vmm> {
    opts: ManagerOptions,
    layout: Layout,
    registry: Arc<SandboxRegistry<V>>,
    launcher: Arc<Launcher<V>>,
    disks: Arc<DiskPlan>,
    snapshots: Arc<TemplateSnapshots>,
    sandboxes: Arc<Sandboxes<V>>,
    metrics: Arc<MetricsHistory>,
}

impl<V: Vmm> Clone for SandboxManager<V> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<V: Vmm> std::fmt::Debug for SandboxManager<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxManager")
            .field("backend", &self.backend().kind())
            .field("disk_strategy", &self.inner.disks.strategy())
            .finish_non_exhaustive()
    }
}

impl<V: Vmm> SandboxManager<V> {
    /// Builds a manager. Call [`SandboxManager::start`] before serving.
    pub fn new(backend: V, opts: ManagerOptions) -> Result<Self, SandboxError> {
        let kind = backend.kind();
        let format = backend.disk_format();
        let launcher = Arc::new(Launcher::new(
            backend,
            LauncherOptions {
                data: opts.data.clone(),
                network: opts.network.clone(),
                kernel_format: opts.kernel_format,
                ready_timeout: opts.ready_timeout,
                guest_ca: opts.guest_ca.clone(),
            },
        )?);
        let sandboxes_dir = opts.data.root().join("sandboxes");
        std::fs::create_dir_all(&sandboxes_dir)
            .map_err(|source| SandboxError::storage(&sandboxes_dir, source))?;
        let disks =
            Arc::new(DiskPlan::choose(format, &sandboxes_dir).map_err(SandboxError::DiskSetup)?);
        let layout = Layout::new(&opts.data, disks.file_name());
        let snapshots = Arc::new(TemplateSnapshots::new(
            opts.data.root().join("snapshots/templates"),
            kind,
        ));
        let registry = Arc::new(SandboxRegistry::<V>::default());
        let sandboxes = Arc::new(Sandboxes::new(Parts {
            registry: Arc::clone(&registry),
            launcher: Arc::clone(&launcher),
            disks: Arc::clone(&disks),
            snapshots: Arc::clone(&snapshots),
            layout: layout.clone(),
            data: opts.data.clone(),
            limits: opts.limits,
            warm: Arc::new(WarmStore::new(&layout)),
        }));
        Ok(Self {
            inner: Arc::new(Inner {
                opts,
                layout,
                registry,
                launcher,
                disks,
                snapshots,
                sandboxes,
                metrics: Arc::default(),
            }),
        })
    }

    pub fn backend(&self) -> &V {
        self.inner.launcher.backend()
    }

    pub fn options(&self) -> &ManagerOptions {
        &self.inner.opts
    }

    /// How many VMs may start at once (default: four per CPU); the rest
    /// queue first come, first served.
    pub fn start_gate(&self) -> &super::gate::StartGate {
        self.inner.launcher.gate()
    }

    /// How this host makes sandbox disks (format, strategy and why).
    pub fn disk_plan(&self) -> &DiskPlan {
        &self.inner.disks
    }

    /// Recovers what a previous agent left, then prepares host networking.
    /// Call once, before serving.
    pub async fn start(&self) -> Result<RecoveryReport, SandboxError> {
        let inner = &self.inner;
        let templates = self.templates();
        let swept = tokio::task::spawn_blocking(move || templates.sweep_staging())
            .await
            .unwrap_or(0);
        if swept > 0 {
            tracing::info!(swept, "removed template staging left by an earlier agent");
        }
        let recovery = Recovery {
            registry: &inner.registry,
            sandboxes: &inner.sandboxes,
            backend: inner.launcher.backend(),
            layout: &inner.layout,
            warm_dir: inner.sandboxes.parts.warm.dir(),
            netns_prefix: &inner.opts.network.netns_prefix,
        };
        recovery.run(inner.launcher.init_host_network()).await
    }

    /// Keeps `specs` of warm sandboxes ready (capped to the host's memory
    /// beyond `reserve_mib`) and refills them in the background until the
    /// manager is dropped everywhere else. Call after [`Self::start`]; no
    /// task when `specs` is empty.
    pub fn start_warm_pools(
        &self,
        specs: &[WarmPoolSpec],
        reserve_mib: u64,
    ) -> Option<tokio::task::JoinHandle<()>> {
        self.inner.sandboxes.start_warm_pools(specs, reserve_mib)
    }

    /// Idle pooled sandboxes, pool hits so far, capped pools.
    pub fn warm_report(&self) -> WarmReport {
        self.inner.sandboxes.parts.warm.report()
    }

    /// Changes the memory kept free for real sandboxes: when
    /// `MemAvailable` falls under it, pools shrink on their next pass
    /// (operators, and tests that provoke memory pressure).
    pub fn set_warm_reserve_mib(&self, reserve_mib: u64) {
        self.inner.sandboxes.parts.warm.set_reserve_mib(reserve_mib);
    }

    /// Idle pooled sandboxes of `template` (scheduler hints).
    pub fn warm_of(&self, template: &TemplateName) -> usize {
        self.inner.sandboxes.parts.warm.warm_of(template)
    }

    /// Stops every idle pooled sandbox (shutdown, tests); pools refill on
    /// their next pass unless the manager is gone.
    pub async fn drain_warm_pools(&self) {
        self.inner.sandboxes.drain_warm().await;
    }

    pub fn get(&self, id: &SandboxId) -> Result<SandboxInfo, SandboxError> {
        self.inner.sandboxes.get(id)
    }

    pub fn list(&self) -> Vec<SandboxInfo> {
        self.inner.sandboxes.list()
    }

    /// Creates a sandbox and returns once envd in it is ready and initialised.
    /// On failure every resource is released and the sandbox stays listed in
    /// state `error` with the reason.
    pub async fn create(&self, config: SandboxConfig) -> Result<SandboxInfo, SandboxError> {
        self.create_with_id(SandboxId::generate(), config).await
    }

    /// [`Self::create`] with an id chosen by the caller (the control plane's
    /// record id); refused if a sandbox with that id already exists here.
    pub async fn create_with_id(
        &self,
        id: SandboxId,
        config: SandboxConfig,
    ) -> Result<SandboxInfo, SandboxError> {
        self.inner.sandboxes.create(id, config).await
    }

    /// Destroys a sandbox: VM, network, disk and snapshot are removed.
    pub async fn destroy(&self, id: &SandboxId) -> Result<(), SandboxError> {
        self.destroy_metered(id).await.map(drop)
    }

    /// [`Self::destroy`], answering the final CPU reading (ms) of the
    /// sandbox's VMM process, `None` when unknown.
    pub async fn destroy_metered(&self, id: &SandboxId) -> Result<Option<u64>, SandboxError> {
        self.inner.sandboxes.destroy(id).await
    }

    /// Snapshots the sandbox to disk and frees its CPU, memory and network.
    pub async fn pause(&self, id: &SandboxId) -> Result<SandboxInfo, SandboxError> {
        self.inner.sandboxes.pause(id, true).await
    }

    /// Pauses keeping only the disk (E2B's `memory: false`): the VM ends,
    /// processes are lost, and the next resume boots afresh on the same
    /// disk with the same id and envd token.
    pub async fn pause_disk_only(&self, id: &SandboxId) -> Result<SandboxInfo, SandboxError> {
        self.inner.sandboxes.pause(id, false).await
    }

    /// Restores a paused sandbox with its processes and files.
    pub async fn resume(&self, id: &SandboxId) -> Result<SandboxInfo, SandboxError> {
        self.inner.sandboxes.resume(id).await
    }

    /// Forks running sandbox `id` into `request.copies`, each a running
    /// sandbox with the source's memory and disk of this moment; the
    /// source keeps running. All copies or none.
    pub async fn fork(
        &self,
        id: &SandboxId,
        request: ForkRequest,
    ) -> Result<Vec<SandboxInfo>, SandboxError> {
        self.inner.sandboxes.fork(id, request).await
    }

    /// Replaces the sandbox's egress policy, at once while it runs.
    pub async fn update_egress(
        &self,
        id: &SandboxId,
        egress: super::EgressSpec,
    ) -> Result<SandboxInfo, SandboxError> {
        self.inner.sandboxes.update_egress(id, egress).await
    }

    /// Moves the inactivity deadline to `timeout_secs` from now (E2B's
    /// `set_timeout`; a ping with the configured timeout).
    pub fn set_timeout(
        &self,
        id: &SandboxId,
        timeout_secs: Option<u64>,
    ) -> Result<SandboxInfo, SandboxError> {
        self.inner.sandboxes.set_timeout(id, timeout_secs)
    }

    /// Where envd of a running sandbox answers, with its access token.
    pub fn envd_endpoint(&self, id: &SandboxId) -> Result<(String, AccessToken), SandboxError> {
        self.envd_target(id).map(|t| (t.url, t.token))
    }

    /// [`Self::envd_endpoint`] with the VM generation, for connection pools.
    pub fn envd_target(&self, id: &SandboxId) -> Result<EnvdTarget, SandboxError> {
        self.inner.sandboxes.envd_target(id)
    }

    /// Runs a shell command in a running sandbox and collects its output.
    pub async fn exec(
        &self,
        id: &SandboxId,
        request: ExecRequest,
    ) -> Result<ExecOutput, SandboxError> {
        self.inner.sandboxes.exec(id, request).await
    }

    /// One pass of the inactivity reaper: pauses or kills running sandboxes
    /// whose deadline passed. Returns what it did, for logs and tests.
    pub async fn reap_expired(&self) -> Vec<(SandboxId, TimeoutAction)> {
        reaper::reap_expired(&self.inner.sandboxes).await
    }

    /// Runs [`SandboxManager::reap_expired`] every second until the manager
    /// is dropped everywhere else.
    pub fn spawn_reaper(&self) -> tokio::task::JoinHandle<()> {
        reaper::spawn(&self.inner.sandboxes)
    }

    /// Samples every running sandbox's envd metrics into its history
    /// until the manager is dropped everywhere else.
    pub fn spawn_metrics_sampler(&self) -> tokio::task::JoinHandle<()> {
        metrics::spawn_sampler(&self.inner.sandboxes, &self.inner.metrics)
    }

    /// The metrics samples of sandbox `id` in `[start_ms, end_ms]`, oldest
    /// first; empty for a sandbox never sampled.
    pub fn metrics_history(
        &self,
        id: &SandboxId,
        start_ms: Option<u64>,
        end_ms: Option<u64>,
    ) -> Result<Vec<MetricsSample>, SandboxError> {
        self.get(id)?;
        Ok(self.inner.metrics.range(id, start_ms, end_ms))
    }

    /// Destroys every sandbox (tests, shutdown with `--destroy-on-exit`).
    pub async fn destroy_all(&self) {
        for sandbox in self.list() {
            if let Err(err) = self.destroy(&sandbox.id).await {
                tracing::warn!(sandbox_id = %sandbox.id, %err, "destroying the sandbox failed");
            }
        }
    }

    pub fn templates(&self) -> TemplateCatalog {
        TemplateCatalog::new(&self.inner.opts.data)
    }

    /// Makes sure a snapshot of `template` at this shape exists, building it
    /// if needed (cold boot, wait for envd, snapshot). Returns its directory.
    pub async fn warm_template(
        &self,
        template: &TemplateName,
        vcpus: u8,
        memory_mib: u32,
    ) -> Result<PathBuf, SandboxError> {
        let inner = &self.inner;
        let image = layout::pinned_image(&inner.opts.data, template)?;
        inner
            .snapshots
            .warm(
                &inner.launcher,
                &inner.disks,
                template,
                &image,
                (vcpus, memory_mib),
            )
            .await
    }

    /// Makes template `template` from the sandbox's current disk and, with
    /// `memory`, its memory snapshot at the sandbox's shape. `start` is the
    /// new template's start spec (none: the sandbox's template's, if it has
    /// one); its memory snapshot is taken once the start command is ready.
    /// Runs as its own task: a caller that goes away mid-copy must not leave
    /// the VM frozen or a staging directory behind.
    pub async fn snapshot_to_template(
        &self,
        id: &SandboxId,
        template: &TemplateName,
        memory: bool,
        start: Option<TemplateStartSpec>,
    ) -> Result<TemplateInfo, SandboxError> {
        let this = self.clone();
        let (task_id, template) = (id.clone(), template.clone());
        tokio::spawn(async move { this.snapshot_task(&task_id, &template, memory, start).await })
            .await
            .map_err(|e| SandboxError::SnapshotFailed {
                id: id.clone(),
                reason: format!("snapshot task: {e}"),
            })?
    }

    async fn snapshot_task(
        &self,
        id: &SandboxId,
        template: &TemplateName,
        memory: bool,
        start: Option<TemplateStartSpec>,
    ) -> Result<TemplateInfo, SandboxError> {
        let catalog = self.templates();
        if catalog.exists(template) {
            return Err(SandboxError::TemplateExists(template.to_string()));
        }
        let invalid = |reason: String| SandboxError::InvalidStartSpec {
            template: template.to_string(),
            reason,
        };
        let start = match start {
            Some(spec) => {
                spec.validate().map_err(|e| invalid(e.to_string()))?;
                Some(spec)
            }
            // A template of a template keeps its parent's service.
            None => {
                let parent = self.get(id)?.template;
                parent
                    .parse::<TemplateName>()
                    .ok()
                    .and_then(|name| layout::pinned_image(&self.inner.opts.data, &name).ok())
                    .map(|image| TemplateStartSpec::for_image(&image))
                    .transpose()
                    .map_err(|e| invalid(e.to_string()))?
                    .flatten()
            }
        };
        let started = Instant::now();
        let publisher = DiskPublisher {
            registry: &self.inner.registry,
            sandboxes: &self.inner.sandboxes,
            disks: &self.inner.disks,
            layout: &self.inner.layout,
        };
        let (vcpus, memory_mib) = publisher
            .publish(id, template, start.as_ref(), &catalog)
            .await?;
        if memory {
            if let Err(err) = self.warm_template(template, vcpus, memory_mib).await {
                // All or nothing: an image without its promised snapshot goes.
                if let Err(e) = catalog.remove(template) {
                    tracing::warn!(%template, error = %e, "removing the half-made template failed");
                }
                return Err(err);
            }
        }
        tracing::info!(sandbox_id = %id, %template, memory, duration_ms = started.elapsed().as_millis() as u64,
            "sandbox snapshotted into a template");
        catalog
            .info(template)
            .ok_or_else(|| SandboxError::UnknownTemplate(template.to_string()))
    }

    /// Removes a template's image and memory snapshots. Built-in templates
    /// and templates that sandboxes still run on are refused.
    pub fn delete_template(&self, template: &TemplateName) -> Result<(), SandboxError> {
        snapshot::delete_template(&self.templates(), &self.list(), template)?;
        if self.warm_of(template) > 0 || self.inner.sandboxes.has_warm_pool(template) {
            // Its pools drain: idle ones stop now, filling ones when ready.
            let sandboxes = Arc::clone(&self.inner.sandboxes);
            let template = template.clone();
            tokio::spawn(async move { sandboxes.drain_warm_template(&template).await });
        }
        Ok(())
    }
}
