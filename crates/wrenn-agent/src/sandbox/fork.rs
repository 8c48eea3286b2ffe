//! Forks: running copies of a running sandbox with its memory and disk of
//! one moment, while the source keeps running. The source is frozen only
//! for that moment: its disk goes on in a new qcow2 layer over the frozen
//! file, its memory is written to a file, and it runs on. The frozen file
//! is then copied under `<data>/layers/` (the source's new layer names that
//! copy as its backing, so nothing ever reopens the original), and each
//! copy is a new sandbox (its own id, network slot and envd token, set by
//! `/init`) restored from that memory over an overlay of its own on it. All or nothing:
//! a copy that fails to start takes every copy of the fork with it. A
//! layer goes with the last sandbox whose disk reads it.
use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    time::Instant,
};

use futures_util::future::join_all;

use super::{
    config::{ConfigError, SandboxConfig, MAX_TIMEOUT_SECS},
    error::SandboxError,
    id::{AccessToken, SandboxId},
    launcher::{Launch, Start},
    layout,
    lifecycle::{new_record, Sandboxes},
    record::{next_vm_generation, SandboxInfo},
    state::{now_ms, SandboxState},
};
use crate::{
    disk::{layer, DiskStrategy},
    vmm::{RunningVm, Vmm},
};

/// Most copies one fork makes.
pub const MAX_FORK_COPIES: usize = 16;

/// What a fork asks for: the copies' ids (chosen by the caller, as with a
/// create) and their inactivity timeout (`None`: the source's).
#[derive(Debug, Clone)]
pub struct ForkRequest {
    pub copies: Vec<SandboxId>,
    pub timeout_secs: Option<u64>,
}

/// The source's state at the fork: what every copy starts from.
struct ForkPoint {
    config: SandboxConfig,
    /// The token envd in the memory image holds (the source's).
    token: AccessToken,
    /// The frozen disk, under `<data>/layers/`.
    layer: PathBuf,
    /// Every layer a copy's disk reads (the source's older ones too).
    layers: Vec<PathBuf>,
    /// Virtual size of the frozen disk, in bytes.
    size: u64,
    /// The memory image's directory, removed once the copies started.
    memory: PathBuf,
}

impl<V: Vmm> Sandboxes<V> {
    /// Forks running sandbox `source` into `request.copies`; answers the
    /// copies, all running, or an error and no copy at all.
    pub async fn fork(
        &self,
        source: &SandboxId,
        request: ForkRequest,
    ) -> Result<Vec<SandboxInfo>, SandboxError> {
        self.check_fork(source, &request)?;
        let started = Instant::now();
        let point = self.freeze_point(source).await?;
        let frozen_ms = started.elapsed().as_millis() as u64;
        let copies = self.start_copies(&point, &request).await;
        layout::remove_logged(&point.memory, "a fork's memory image");
        let copies = copies?;
        tracing::info!(sandbox_id = %source, copies = copies.len(), frozen_ms,
            duration_ms = started.elapsed().as_millis() as u64, "sandbox forked");
        Ok(copies)
    }

    /// Refuses a fork that cannot work before anything is touched.
    fn check_fork(&self, source: &SandboxId, request: &ForkRequest) -> Result<(), SandboxError> {
        let p = &self.parts;
        let count = request.copies.len();
        if count == 0 || count > MAX_FORK_COPIES {
            return Err(SandboxError::ForkCount {
                count,
                max: MAX_FORK_COPIES,
            });
        }
        if let Some(secs) = request.timeout_secs {
            if secs == 0 || secs > MAX_TIMEOUT_SECS {
                return Err(ConfigError::Timeout(secs).into());
            }
        }
        if p.disks.strategy() != DiskStrategy::Qcow2Overlay {
            return Err(SandboxError::ForkUnsupported(p.disks.strategy()));
        }
        let mut seen = HashSet::new();
        for id in &request.copies {
            if id == source
                || !seen.insert(id)
                || p.registry.contains(id)
                || p.layout.dir(id).exists()
            {
                return Err(SandboxError::AlreadyExists(id.clone()));
            }
        }
        let state = p.registry.get(source)?.state();
        if state != SandboxState::Running {
            return Err(SandboxError::ForkNotRunning {
                id: source.clone(),
                state,
            });
        }
        Ok(())
    }

    /// Freezes the source, moves its disk onto a new layer, writes its
    /// memory and lets it run on. The source keeps running whatever fails.
    async fn freeze_point(&self, source: &SandboxId) -> Result<ForkPoint, SandboxError> {
        let p = &self.parts;
        let entry = p.registry.get(source)?;
        let mut runtime = entry.lock().await;
        let (state, config, token, frozen, layers) = entry.read(|r| {
            let disk = p.layout.active_disk(r);
            (
                r.state(),
                r.config.clone(),
                r.access_token.clone(),
                disk,
                r.layers.clone(),
            )
        });
        if state != SandboxState::Running {
            return Err(SandboxError::ForkNotRunning {
                id: source.clone(),
                state,
            });
        }
        let failed = |reason: String| SandboxError::ForkFailed {
            id: source.clone(),
            reason,
        };
        let name = format!("{source}-{}-{}", now_ms(), next_vm_generation());
        let frozen = std::path::absolute(&frozen).map_err(|e| SandboxError::storage(&frozen, e))?;
        let size = layer::virtual_size(&frozen)
            .await
            .map_err(|e| failed(format!("reading the disk: {e}")))?;
        // The copies, and the source's own later starts, read a copy of the
        // frozen file: the source's VMM keeps the original open for writing,
        // and QEMU's image locks refuse a second VMM on it. Nothing writes it
        // any more, so the copy is made while the source runs on; the new
        // overlay's header already names it (QEMU does not open the backing
        // of an `existing` overlay, it keeps the node it has).
        let frozen_layer = p.layout.layers().join(format!("{name}.qcow2"));
        let overlay_file = format!("disk-{name}.qcow2");
        let overlay = entry.dir().join(&overlay_file);
        layer::overlay(&frozen_layer, &overlay, size)
            .await
            .map_err(|e| failed(format!("the source's new layer: {e}")))?;
        let memory = p.layout.fork_dir(&name);
        let Some(vm) = runtime.vm() else {
            layout::remove_logged(&overlay, "a failed fork's overlay");
            return Err(failed("no VM process for a running sandbox".into()));
        };
        let frozen_at = Instant::now();
        if let Err(err) = vm.freeze().await {
            layout::remove_logged(&overlay, "a failed fork's overlay");
            return Err(failed(format!("freeze: {err}")));
        }
        let switched = vm.switch_disk(&overlay).await;
        let saved = match &switched {
            Ok(()) => {
                // From here the VM writes the overlay: say so before anything
                // else can fail, or a restart would boot the frozen file.
                let recorded = entry.update(|r| {
                    r.disk_file = Some(overlay_file.clone());
                    r.layers.push(frozen_layer.clone());
                    Ok(())
                });
                match recorded {
                    Ok(_) => vm.save_memory(&memory).await.map_err(|e| e.to_string()),
                    Err(err) => Err(format!("recording the new layer: {err}")),
                }
            }
            Err(err) => Err(err.to_string()),
        };
        if let Err(err) = vm.thaw().await {
            tracing::error!(sandbox_id = %source, error = %err, "the source stays frozen after a fork");
            return Err(failed(format!("thaw: {err}")));
        }
        let frozen_ms = frozen_at.elapsed().as_millis() as u64;
        drop(runtime);
        if switched.is_err() {
            layout::remove_logged(&overlay, "a failed fork's overlay");
            return Err(failed(saved.err().unwrap_or_default()));
        }
        let copied = copy_layer(&frozen, &frozen_layer).await;
        tracing::info!(sandbox_id = %source, frozen_ms,
            copied_ms = frozen_at.elapsed().as_millis() as u64 - frozen_ms, "fork point taken");
        if let Err(err) = copied {
            // The source's overlay names the layer: a second name of the
            // frozen file keeps the source's later starts working.
            layout::remove_logged(&frozen_layer, "a failed fork's layer");
            if let Err(e) = std::fs::hard_link(&frozen, &frozen_layer) {
                tracing::error!(sandbox_id = %source, error = %e, "the source's disk chain lost its frozen layer");
            }
            layout::remove_logged(&memory, "a failed fork's memory image");
            return Err(err);
        }
        if let Err(reason) = saved {
            layout::remove_logged(&memory, "a failed fork's memory image");
            return Err(failed(reason));
        }
        let mut copy_layers = layers;
        copy_layers.push(frozen_layer.clone());
        Ok(ForkPoint {
            config,
            token,
            layer: frozen_layer,
            layers: copy_layers,
            size,
            memory,
        })
    }

    /// Starts every copy at once; on any failure destroys them all.
    async fn start_copies(
        &self,
        point: &ForkPoint,
        request: &ForkRequest,
    ) -> Result<Vec<SandboxInfo>, SandboxError> {
        let starts = request
            .copies
            .iter()
            .map(|id| self.start_copy(point, id.clone(), request.timeout_secs));
        let results = join_all(starts).await;
        if results.iter().all(Result::is_ok) {
            return Ok(results.into_iter().flatten().collect());
        }
        for id in &request.copies {
            match self.destroy(id).await {
                Ok(_) | Err(SandboxError::NotFound(_)) => {}
                Err(err) => {
                    tracing::warn!(sandbox_id = %id, %err, "removing a copy of a failed fork failed")
                }
            }
        }
        Err(results
            .into_iter()
            .find_map(Result::err)
            .unwrap_or_else(|| SandboxError::Capacity("fork failed".into())))
    }

    /// One copy: a new sandbox restored from the fork's memory image over
    /// its own overlay of the frozen layer.
    async fn start_copy(
        &self,
        point: &ForkPoint,
        id: SandboxId,
        timeout_secs: Option<u64>,
    ) -> Result<SandboxInfo, SandboxError> {
        let p = &self.parts;
        let dir = p.layout.dir(&id);
        if p.registry.contains(&id) || dir.exists() {
            return Err(SandboxError::AlreadyExists(id));
        }
        let mut config = point.config.clone();
        if let Some(secs) = timeout_secs {
            config.timeout_secs = secs;
        }
        let policy = config.validate(&p.limits)?;
        let run_dir = p.layout.run_dir(&id);
        std::fs::create_dir_all(&run_dir).map_err(|source| SandboxError::storage(&dir, source))?;
        let mut record = new_record(id.clone(), config, now_ms(), None, p.disks.strategy());
        record.layers = point.layers.clone();
        record
            .save(&dir)
            .map_err(|source| SandboxError::storage(&dir, source))?;
        let entry = p.registry.insert(dir.clone(), record);
        let mut runtime = entry.lock().await;
        let disk = p.layout.disk(&id);
        let result = async {
            layer::overlay(&point.layer, &disk, point.size)
                .await
                .map_err(|e| format!("disk: {e}"))?;
            let launch = Launch {
                disk: &disk,
                run_dir: &run_dir,
                policy: &policy,
                start: Start::Restore(&point.memory),
                current_token: Some(point.token.expose()),
                // Restored: the source's start command runs on.
                template_start: None,
            };
            p.launcher.start(&entry, &mut runtime, launch).await
        }
        .await;
        self.settle_start(&entry, &mut runtime, result).await
    }

    /// Removes the layers of a destroyed sandbox that no sandbox reads any
    /// more (best effort: what stays is only litter).
    pub(super) fn release_layers(&self, layers: &[PathBuf]) {
        if layers.is_empty() {
            return;
        }
        let in_use = self.parts.registry.layers_in_use();
        for layer in layers.iter().filter(|l| !in_use.contains(*l)) {
            layout::remove_logged(layer, "a fork layer no sandbox reads");
        }
    }
}

/// Copies the frozen disk `from` to the new layer `to` on the blocking pool
/// (`copy_file_range`: a reflink where the file system shares extents).
async fn copy_layer(from: &Path, to: &Path) -> Result<(), SandboxError> {
    let (src, dest) = (from.to_path_buf(), to.to_path_buf());
    tokio::task::spawn_blocking(move || {
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::copy(&src, &dest).map(|_| ())
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|copied| copied)
    .map_err(|e| SandboxError::storage(to, e))
}
