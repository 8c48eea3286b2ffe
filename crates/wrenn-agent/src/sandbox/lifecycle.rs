//! The lifecycle of sandboxes: create, pause, resume, destroy and the
//! inactivity deadline, each transition persisted and every resource (VM,
//! network slot, disk files) released on every failure. Owns only the order
//! of the steps: VMs and networks are the launcher's, records the
//! registry's, disks the disk plan's, template snapshots their store's.
use std::{sync::Arc, time::Instant};

use super::{
    config::{ConfigError, EgressSpec, Limits, SandboxConfig, TimeoutAction, MAX_TIMEOUT_SECS},
    cpu::vmm_cpu_ms,
    error::SandboxError,
    id::{AccessToken, SandboxId},
    launcher::{Launch, Launcher, Runtime, Start},
    layout::{self, Layout},
    pool_store::WarmStore,
    record::{SandboxInfo, SandboxRecord},
    registry::{Entry, Registry},
    start_spec::TemplateStartSpec,
    state::{now_ms, IllegalTransition, Lifecycle, SandboxState},
    template::{TemplateSnapshots, SNAPSHOT_COMPLETE},
};
use crate::{
    disk::DiskPlan,
    envd_client::{self, ExecOutput, ExecRequest},
    paths::DataDir,
    vmm::{RunningVm, Vmm},
};

/// The registry of sandboxes on backend `V`.
pub type SandboxRegistry<V> = Registry<Runtime<<V as Vmm>::Vm>>;

/// Where envd of a running sandbox answers, for callers that keep
/// connections: `generation` changes whenever a new VM starts.
#[derive(Debug, Clone)]
pub struct EnvdTarget {
    /// `http://ip:port`.
    pub url: String,
    pub token: AccessToken,
    pub generation: u64,
}

/// What a lifecycle is built from.
pub struct Parts<V: Vmm> {
    pub registry: Arc<SandboxRegistry<V>>,
    pub launcher: Arc<Launcher<V>>,
    pub disks: Arc<DiskPlan>,
    pub snapshots: Arc<TemplateSnapshots>,
    pub layout: Layout,
    pub data: DataDir,
    pub limits: Limits,
    /// Pooled sandboxes, claimed by matching creates.
    pub warm: Arc<WarmStore<V>>,
}

/// Drives sandboxes through their states.
pub struct Sandboxes<V: Vmm> {
    pub(super) parts: Parts<V>,
}

impl<V: Vmm> Sandboxes<V> {
    pub fn new(parts: Parts<V>) -> Self {
        Self { parts }
    }

    pub fn get(&self, id: &SandboxId) -> Result<SandboxInfo, SandboxError> {
        Ok(self.parts.registry.get(id)?.info())
    }

    pub fn list(&self) -> Vec<SandboxInfo> {
        self.parts.registry.list()
    }

    /// Creates sandbox `id` and returns once envd in it is ready and
    /// initialised. On failure every resource is released and the sandbox
    /// stays listed in state `error` with the reason.
    pub async fn create(
        &self,
        id: SandboxId,
        mut config: SandboxConfig,
    ) -> Result<SandboxInfo, SandboxError> {
        let p = &self.parts;
        let dir = p.layout.dir(&id);
        if p.registry.contains(&id) || dir.exists() {
            return Err(SandboxError::AlreadyExists(id));
        }
        let policy = config.validate(&p.limits)?;
        let image = layout::pinned_image(&p.data, &config.template)?;
        let start_spec = template_start(&config.template, &image)?;
        if let Some(spec) = &start_spec {
            // The template's environment is every command's default; the
            // record keeps the merged set, so resumes and claims use it too.
            config.env_vars = spec.sandbox_env(&config.env_vars);
        }
        // Refused before anything exists: a disk smaller than the template
        // is the caller's mistake, not a failed start.
        if let Some(requested_mib) = config.disk_mib {
            let template_bytes = std::fs::metadata(&image)
                .map_err(|source| SandboxError::storage(&image, source))?
                .len();
            if requested_mib.saturating_mul(1024 * 1024) < template_bytes {
                return Err(SandboxError::DiskTooSmall {
                    template: config.template.to_string(),
                    requested_mib,
                    template_mib: template_bytes.div_ceil(1024 * 1024),
                });
            }
        }
        if let Some(info) = self.claim_pooled(&id, &config, &policy).await? {
            return Ok(info);
        }
        let run_dir = p.layout.run_dir(&id);
        std::fs::create_dir_all(&run_dir).map_err(|source| SandboxError::storage(&dir, source))?;
        let now = now_ms();
        let snapshot = p
            .snapshots
            .ready(&config.template, &image, config.vcpus, config.memory_mib);
        let record = new_record(
            id.clone(),
            config,
            now,
            snapshot.clone(),
            p.disks.strategy(),
        );
        record
            .save(&dir)
            .map_err(|source| SandboxError::storage(&dir, source))?;
        let disk_mib = record.config.disk_mib;
        let entry = p.registry.insert(dir.clone(), record);
        let mut runtime = entry.lock().await;
        let started = Instant::now();
        let disk = p.layout.disk(&id);
        let result = async {
            let (base, start) = match &snapshot {
                Some(snap) => (p.disks.disk_in(snap), Start::Restore(snap)),
                None => (image.clone(), Start::Boot),
            };
            p.disks
                .create(&base, &disk, disk_mib)
                .await
                .map_err(|e| format!("disk: {e}"))?;
            let launch = Launch {
                disk: &disk,
                run_dir: &run_dir,
                policy: &policy,
                start,
                current_token: None,
                template_start: start_spec.as_ref(),
            };
            p.launcher.start(&entry, &mut runtime, launch).await
        }
        .await;
        let info = self.settle_start(&entry, &mut runtime, result).await?;
        tracing::info!(sandbox_id = %id, duration_ms = started.elapsed().as_millis() as u64,
            from_snapshot = snapshot.is_some(), disk_strategy = %p.disks.strategy(),
            "sandbox running");
        Ok(info)
    }

    /// The end of the first start of a new sandbox: `running`, or every
    /// resource released and the sandbox listed in `error` with the reason.
    pub(super) async fn settle_start(
        &self,
        entry: &Entry<Runtime<V::Vm>>,
        runtime: &mut Runtime<V::Vm>,
        result: Result<(), String>,
    ) -> Result<SandboxInfo, SandboxError> {
        let reason = match result {
            Ok(()) => match entry.transition(SandboxState::Running, None) {
                Ok(info) => return Ok(info),
                Err(err) => format!("recording the running state: {err}"),
            },
            Err(reason) => reason,
        };
        let id = entry.read(|r| r.id.clone());
        self.parts.launcher.release(runtime).await;
        layout::remove_contents_except_record(entry.dir());
        let recorded = entry.update(|r| {
            r.clear_vm();
            Ok(r.lifecycle
                .transition(SandboxState::Error, Some(reason.clone()))?)
        });
        tracing::warn!(sandbox_id = %id, %reason, "sandbox failed to start");
        recorded?;
        Err(SandboxError::StartFailed { id, reason })
    }

    /// Destroys a sandbox: VM, network, disk and snapshot are removed.
    /// Answers the final CPU reading of its VMM ([`SandboxInfo::cpu_usage_ms`]:
    /// the last one's when it was paused, `None` when unknown).
    pub async fn destroy(&self, id: &SandboxId) -> Result<Option<u64>, SandboxError> {
        let p = &self.parts;
        let entry = p.registry.get(id)?;
        let mut runtime = entry.lock().await;
        if entry.state() == SandboxState::Stopped {
            return Err(SandboxError::NotFound(id.clone()));
        }
        let cpu_ms = entry.info().cpu_usage_ms;
        p.launcher.release(&mut runtime).await;
        let layers = entry.read(|r| r.layers.clone());
        // The directory goes next: a failed write of the stopped state is
        // logged, it cannot outlive the removal.
        if let Err(err) = entry.update(|r| {
            r.clear_vm();
            if r.state().can_become(SandboxState::Stopped) {
                r.lifecycle.transition(SandboxState::Stopped, None)?;
            }
            Ok(())
        }) {
            tracing::warn!(sandbox_id = %id, %err, "recording the stopped state failed");
        }
        let dir = p.layout.dir(id);
        if let Err(err) = layout::remove_path(&dir) {
            tracing::warn!(sandbox_id = %id, %err, "removing the sandbox directory failed");
        }
        p.registry.remove(id);
        self.release_layers(&layers);
        tracing::info!(sandbox_id = %id, cpu_ms, "sandbox destroyed");
        Ok(cpu_ms)
    }

    /// Snapshots the sandbox to disk and frees its CPU, memory and network.
    /// Without `memory` only the disk is kept: the next resume boots afresh.
    pub async fn pause(&self, id: &SandboxId, memory: bool) -> Result<SandboxInfo, SandboxError> {
        if !memory {
            return self.pause_disk_only(id).await;
        }
        let p = &self.parts;
        let entry = p.registry.get(id)?;
        let mut runtime = entry.lock().await;
        entry.transition(SandboxState::Pausing, None)?;
        let snapshot = p.layout.snapshot_dir(id);
        let failed = |reason: String| SandboxError::PauseFailed {
            id: id.clone(),
            reason,
        };
        if let Err(err) = layout::remove_path(&snapshot) {
            entry.transition(SandboxState::Running, None)?;
            return Err(failed(format!("removing the old snapshot: {err}")));
        }
        let Some(vm) = runtime.vm() else {
            let reason = "no VM process for a running sandbox".to_owned();
            p.launcher.release(&mut runtime).await;
            entry.transition(SandboxState::Error, Some(reason.clone()))?;
            return Err(failed(reason));
        };
        let started = Instant::now();
        // The guest stops running with the snapshot's freeze: what the VMM
        // has used up to now is the guest's.
        let cpu_ms = vm.pid().and_then(vmm_cpu_ms);
        match vm.pause_to(&snapshot).await {
            Ok(()) => {
                runtime.forget_vm();
                p.launcher.release(&mut runtime).await;
                // Without the marker a restarted agent would not trust the
                // snapshot: not writing it is a failed pause.
                let marked = std::fs::write(snapshot.join(SNAPSHOT_COMPLETE), b"")
                    .map_err(|source| SandboxError::storage(&snapshot, source));
                let info = entry.update(|r| {
                    r.clear_vm();
                    r.last_cpu_ms = cpu_ms;
                    match &marked {
                        Ok(()) => r.lifecycle.transition(SandboxState::Paused, None)?,
                        Err(err) => r.lifecycle.force(
                            SandboxState::Error,
                            format!("pause failed: the snapshot was not marked complete: {err}"),
                        ),
                    }
                    Ok(())
                })?;
                if let Err(err) = marked {
                    tracing::warn!(sandbox_id = %id, %err, "pause failed");
                    return Err(failed(err.to_string()));
                }
                tracing::info!(sandbox_id = %id, duration_ms = started.elapsed().as_millis() as u64, "sandbox paused");
                Ok(info)
            }
            Err(err) => {
                let reason = err.to_string();
                layout::remove_logged(&snapshot, "a failed pause's snapshot");
                if vm.check_running().is_ok() {
                    entry.transition(SandboxState::Running, None)?;
                } else {
                    p.launcher.release(&mut runtime).await;
                    entry
                        .transition(SandboxState::Error, Some(format!("pause failed: {reason}")))?;
                }
                Err(failed(reason))
            }
        }
    }

    /// Keeps only the disk: the guest's writes are synced, the VM stopped
    /// (which drains the disk) and ended; processes and memory are gone.
    async fn pause_disk_only(&self, id: &SandboxId) -> Result<SandboxInfo, SandboxError> {
        let p = &self.parts;
        let entry = p.registry.get(id)?;
        let mut runtime = entry.lock().await;
        let failed = |reason: String| SandboxError::PauseFailed {
            id: id.clone(),
            reason,
        };
        // Writes still in the guest's page cache are not on the disk yet;
        // a guest that cannot sync is still running, nothing changed.
        self.sync_guest(id)
            .await
            .map_err(|e| failed(format!("sync in the guest: {e}")))?;
        entry.transition(SandboxState::Pausing, None)?;
        let frozen = match runtime.vm() {
            Some(vm) => vm.freeze().await.map_err(|e| e.to_string()),
            None => Err("no VM process for a running sandbox".to_owned()),
        };
        let cpu_ms = runtime.vm().and_then(|vm| vm.pid()).and_then(vmm_cpu_ms);
        p.launcher.release(&mut runtime).await;
        layout::remove_logged(&p.layout.snapshot_dir(id), "an old memory snapshot");
        let info = entry.update(|r| {
            r.clear_vm();
            r.last_cpu_ms = cpu_ms;
            match &frozen {
                Ok(()) => {
                    r.paused_without_memory = true;
                    r.lifecycle.transition(SandboxState::Paused, None)?;
                }
                Err(err) => r
                    .lifecycle
                    .force(SandboxState::Error, format!("pause failed: {err}")),
            }
            Ok(())
        })?;
        frozen.map_err(failed)?;
        tracing::info!(sandbox_id = %id, "sandbox paused, disk only");
        Ok(info)
    }

    /// Restores a paused sandbox with its processes and files (or, paused
    /// without memory, boots it afresh on its disk with the same token).
    pub async fn resume(&self, id: &SandboxId) -> Result<SandboxInfo, SandboxError> {
        let p = &self.parts;
        let entry = p.registry.get(id)?;
        let mut runtime = entry.lock().await;
        let (config, token, disk, boot) = entry.read(|r| {
            let disk = p.layout.active_disk(r);
            (
                r.config.clone(),
                r.access_token.clone(),
                disk,
                r.paused_without_memory,
            )
        });
        entry.transition(SandboxState::Resuming, None)?;
        let snapshot = p.layout.snapshot_dir(id);
        let policy = config.validate(&p.limits)?;
        let started = Instant::now();
        let run_dir = p.layout.run_dir(id);
        // A disk-only resume boots afresh: the template's start command
        // starts again (best effort: a template gone since has none).
        let spec = if boot {
            layout::pinned_image(&p.data, &config.template)
                .ok()
                .and_then(|image| TemplateStartSpec::for_image(&image).ok().flatten())
        } else {
            None
        };
        let launch = Launch {
            template_start: spec.as_ref(),
            disk: &disk,
            run_dir: &run_dir,
            policy: &policy,
            start: if boot {
                Start::Boot
            } else {
                Start::Restore(&snapshot)
            },
            current_token: (!boot).then(|| token.expose()),
        };
        let reason = match p.launcher.start(&entry, &mut runtime, launch).await {
            Ok(()) => {
                let timeout_ms = config.timeout_secs * 1000;
                match entry.update(|r| {
                    r.timeout_at_ms = now_ms() + timeout_ms;
                    r.paused_without_memory = false;
                    // A new VMM process: its counter starts at 0.
                    r.last_cpu_ms = None;
                    Ok(r.lifecycle.transition(SandboxState::Running, None)?)
                }) {
                    Ok(info) => {
                        // The memory image is stale from now on; free its space.
                        layout::remove_logged(&snapshot, "a resumed sandbox's snapshot");
                        tracing::info!(sandbox_id = %id, duration_ms = started.elapsed().as_millis() as u64, "sandbox resumed");
                        return Ok(info);
                    }
                    Err(err) => format!("recording the running state: {err}"),
                }
            }
            Err(reason) => reason,
        };
        p.launcher.release(&mut runtime).await;
        let recorded = entry.update(|r| {
            r.clear_vm();
            Ok(r.lifecycle.transition(SandboxState::Paused, None)?)
        });
        tracing::warn!(sandbox_id = %id, %reason, "sandbox failed to resume");
        recorded?;
        Err(SandboxError::ResumeFailed {
            id: id.clone(),
            reason,
        })
    }

    /// Moves the inactivity deadline to `timeout_secs` (default: the
    /// configured timeout) from now.
    pub fn set_timeout(
        &self,
        id: &SandboxId,
        timeout_secs: Option<u64>,
    ) -> Result<SandboxInfo, SandboxError> {
        self.parts.registry.get(id)?.update(|r| {
            let secs = timeout_secs.unwrap_or(r.config.timeout_secs);
            if secs == 0 || secs > MAX_TIMEOUT_SECS {
                return Err(ConfigError::Timeout(secs).into());
            }
            r.timeout_at_ms = now_ms() + secs * 1000;
            Ok(())
        })
    }

    /// Replaces the sandbox's egress policy: recorded for its next starts
    /// and, while it runs, applied to its network at once.
    pub async fn update_egress(
        &self,
        id: &SandboxId,
        egress: EgressSpec,
    ) -> Result<SandboxInfo, SandboxError> {
        let p = &self.parts;
        let entry = p.registry.get(id)?;
        let runtime = entry.lock().await;
        let mut config = entry.read(|r| r.config.clone());
        config.egress = egress;
        let policy = config.validate(&p.limits)?;
        let state = entry.state();
        if matches!(state, SandboxState::Stopped | SandboxState::Error) {
            return Err(SandboxError::WrongState {
                id: id.clone(),
                state,
                action: "an egress update",
            });
        }
        p.launcher
            .update_policy(&runtime, &policy)
            .await
            .map_err(|reason| SandboxError::Capacity(format!("egress update: {reason}")))?;
        entry.update(|r| {
            r.config.egress = config.egress.clone();
            Ok(())
        })
    }

    /// What the inactivity timeout does to sandbox `id`.
    pub fn timeout_action(&self, id: &SandboxId) -> Result<TimeoutAction, SandboxError> {
        Ok(self.parts.registry.get(id)?.read(|r| r.config.on_timeout))
    }

    /// Where envd of a running sandbox answers, its token and VM generation.
    pub fn envd_target(&self, id: &SandboxId) -> Result<EnvdTarget, SandboxError> {
        self.parts
            .registry
            .get(id)?
            .read(|r| match (&r.envd_addr, r.state()) {
                (Some(addr), SandboxState::Running) => Ok(EnvdTarget {
                    url: format!("http://{addr}"),
                    token: r.access_token.clone(),
                    generation: r.vm_generation,
                }),
                (_, state) => Err(IllegalTransition {
                    from: state,
                    to: SandboxState::Running,
                }
                .into()),
            })
    }

    /// Flushes a running sandbox's guest page cache to its disk (before the
    /// host copies the disk or stops the VMM).
    pub async fn sync_guest(&self, id: &SandboxId) -> Result<(), String> {
        let target = self.envd_target(id).map_err(|e| e.to_string())?;
        let http = self.parts.launcher.envd_http();
        envd_client::sync(http, &target.url, target.token.expose())
            .await
            .map_err(|e| e.to_string())
    }

    /// Runs a shell command in a running sandbox and collects its output.
    pub async fn exec(
        &self,
        id: &SandboxId,
        mut request: ExecRequest,
    ) -> Result<ExecOutput, SandboxError> {
        let target = self.envd_target(id)?;
        request.access_token = Some(target.token.expose().to_owned());
        envd_client::exec(&target.url, &request)
            .await
            .map_err(|e| SandboxError::StartFailed {
                id: id.clone(),
                reason: format!("exec: {e}"),
            })
    }
}

/// The record of a sandbox about to boot. Its deadline is armed here, before
/// anything starts: the reaper destroys a sandbox still `starting` at its
/// deadline, so a create that nobody sees through cannot keep a VM forever.
/// The start spec of `template`'s image `image`, if it has one.
fn template_start(
    template: &super::TemplateName,
    image: &std::path::Path,
) -> Result<Option<TemplateStartSpec>, SandboxError> {
    TemplateStartSpec::for_image(image).map_err(|e| SandboxError::InvalidStartSpec {
        template: template.to_string(),
        reason: e.to_string(),
    })
}

pub(super) fn new_record(
    id: SandboxId,
    config: SandboxConfig,
    now_ms: u64,
    from_snapshot: Option<std::path::PathBuf>,
    disk_strategy: crate::disk::DiskStrategy,
) -> SandboxRecord {
    SandboxRecord {
        id,
        timeout_at_ms: now_ms + config.timeout_secs * 1000,
        config,
        lifecycle: Lifecycle::new(),
        access_token: AccessToken::generate(),
        created_at_ms: now_ms,
        pid: None,
        slot: None,
        envd_addr: None,
        from_snapshot,
        disk_strategy: Some(disk_strategy),
        disk_file: None,
        layers: Vec::new(),
        paused_without_memory: false,
        last_cpu_ms: None,
        vm_generation: 0,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{disk::DiskStrategy, sandbox::config::EgressSpec};

    fn config(timeout_secs: u64) -> SandboxConfig {
        SandboxConfig {
            template: "base".parse().expect("name"),
            vcpus: 1,
            memory_mib: 256,
            disk_mib: None,
            timeout_secs,
            on_timeout: TimeoutAction::Pause,
            env_vars: BTreeMap::new(),
            metadata: BTreeMap::new(),
            egress: EgressSpec::default(),
        }
    }

    #[test]
    fn new_record_when_create_begins_then_deadline_armed_while_starting() {
        let record = new_record(
            SandboxId::generate(),
            config(30),
            1_000,
            None,
            DiskStrategy::Qcow2Overlay,
        );

        assert_eq!(record.state(), SandboxState::Starting);
        assert_eq!(record.timeout_at_ms, 31_000);
    }
}
