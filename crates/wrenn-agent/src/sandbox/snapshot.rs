//! Templates made from sandboxes, and the removal of templates. A snapshot
//! flattens the sandbox's disk (through its whole backing chain) into a new
//! raw template image; a running sandbox is frozen only for the copy and
//! keeps running afterwards.
use std::time::{Duration, Instant};

use super::{
    catalog::{PublishError, TemplateCatalog, TemplateInfo},
    manager::{storage, SandboxManager, DISK_FILE},
    SandboxError, SandboxId, SandboxState, TemplateName,
};
use crate::{
    disk::flatten_qcow2,
    envd_client::ExecRequest,
    vmm::{RunningVm, Vmm},
};

/// Templates the agent ships with; never deleted through the API.
const PROTECTED_TEMPLATES: &[&str] = &["base"];
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

impl<V: Vmm> SandboxManager<V> {
    pub fn templates(&self) -> TemplateCatalog {
        TemplateCatalog::new(&self.options().data)
    }

    /// Makes template `template` from the sandbox's current disk and, with
    /// `memory`, its memory snapshot at the sandbox's shape. Runs as its own
    /// task: a caller that goes away mid-copy must not leave the VM frozen or
    /// a staging directory behind.
    pub async fn snapshot_to_template(
        &self,
        id: &SandboxId,
        template: &TemplateName,
        memory: bool,
    ) -> Result<TemplateInfo, SandboxError> {
        let this = self.clone();
        let (task_id, template) = (id.clone(), template.clone());
        tokio::spawn(async move { this.snapshot_task(&task_id, &template, memory).await })
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
    ) -> Result<TemplateInfo, SandboxError> {
        let catalog = self.templates();
        if catalog.exists(template) {
            return Err(SandboxError::TemplateExists(template.to_string()));
        }
        let started = Instant::now();
        let (vcpus, memory_mib) = self.publish_disk(id, template, &catalog).await?;
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

    /// Copies the disk into a staged image and publishes it; returns the
    /// sandbox's shape. Holds the sandbox's operation lock throughout.
    async fn publish_disk(
        &self,
        id: &SandboxId,
        template: &TemplateName,
        catalog: &TemplateCatalog,
    ) -> Result<(u8, u32), SandboxError> {
        let entry = self.entry(id)?;
        let mut runtime = entry.runtime.lock().await;
        let (state, vcpus, memory_mib) = {
            let r = entry.record.lock().unwrap_or_else(|e| e.into_inner());
            (r.state(), r.config.vcpus, r.config.memory_mib)
        };
        let failed = |reason: String| SandboxError::SnapshotFailed {
            id: id.clone(),
            reason,
        };
        let staged = catalog.stage(template).map_err(publish_error)?;
        let disk = self.sandbox_dir(id).join(DISK_FILE);
        match state {
            // A paused sandbox's disk was flushed when its VMM ended.
            SandboxState::Paused => flatten_qcow2(&disk, &staged.rootfs())
                .await
                .map_err(|e| failed(e.to_string()))?,
            SandboxState::Running => {
                // Writes still in the guest's page cache are not on the disk yet.
                let mut sync = ExecRequest::shell("sync");
                sync.user = "root".into();
                sync.timeout = SYNC_TIMEOUT;
                self.exec(id, sync)
                    .await
                    .map_err(|e| failed(format!("sync in the guest: {e}")))?;
                let vm = runtime
                    .vm
                    .as_mut()
                    .ok_or_else(|| failed("no VM process for a running sandbox".into()))?;
                vm.freeze()
                    .await
                    .map_err(|e| failed(format!("freeze: {e}")))?;
                let copied = flatten_qcow2(&disk, &staged.rootfs()).await;
                if let Err(err) = vm.thaw().await {
                    tracing::error!(sandbox_id = %id, error = %err, "the sandbox stays frozen after a snapshot");
                    return Err(failed(format!("thaw: {err}")));
                }
                copied.map_err(|e| failed(e.to_string()))?;
            }
            state => {
                return Err(SandboxError::WrongState {
                    id: id.clone(),
                    state,
                    action: "a snapshot",
                })
            }
        }
        staged.publish().map_err(publish_error)?;
        Ok((vcpus, memory_mib))
    }

    /// Removes a template's image and memory snapshots. Built-in templates
    /// and templates that sandboxes still run on (their disks are backed by
    /// the image) are refused.
    pub fn delete_template(&self, template: &TemplateName) -> Result<(), SandboxError> {
        if PROTECTED_TEMPLATES.contains(&template.as_str()) {
            return Err(SandboxError::TemplateProtected(template.to_string()));
        }
        let catalog = self.templates();
        if !catalog.exists(template) {
            return Err(SandboxError::UnknownTemplate(template.to_string()));
        }
        let users = self
            .list()
            .into_iter()
            .filter(|s| s.template == template.as_str())
            .filter(|s| !matches!(s.state, SandboxState::Stopped | SandboxState::Error))
            .count();
        if users > 0 {
            return Err(SandboxError::TemplateInUse {
                template: template.to_string(),
                sandboxes: users,
            });
        }
        let images = self.options().data.root().join("images");
        catalog
            .remove(template)
            .map_err(|source| storage(&images, source))?;
        tracing::info!(%template, "template deleted");
        Ok(())
    }
}

fn publish_error(err: PublishError) -> SandboxError {
    match err {
        PublishError::Exists(name) => SandboxError::TemplateExists(name.to_string()),
        PublishError::Io { path, source } => storage(&path, source),
    }
}
