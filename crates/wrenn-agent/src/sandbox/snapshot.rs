//! Templates made from sandboxes, and the removal of templates. A snapshot
//! exports the sandbox's disk (a qcow2 chain flattened, a raw disk copied)
//! into a new raw template image, with the template's start spec
//! (`start.json`) beside it when it has one; a running sandbox is frozen
//! only for the copy and keeps running afterwards. Owns no state: it works through the
//! lifecycle (the guest's `sync`), the registry (the sandbox's operation
//! lock), the disk plan and the template catalog.

use super::{
    catalog::{PublishError, TemplateCatalog},
    layout::Layout,
    lifecycle::{SandboxRegistry, Sandboxes},
    start_spec::TemplateStartSpec,
    SandboxError, SandboxId, SandboxInfo, SandboxState, TemplateName,
};
use crate::{
    disk::DiskPlan,
    vmm::{RunningVm, Vmm},
};

/// Templates the agent ships with: never deleted through the API, and
/// their memory snapshots are made at start-up without any setting (when
/// the host has their image).
pub const BUILTIN_TEMPLATES: &[&str] = &["base", "code-interpreter-v1"];
/// The shape (vCPUs, MiB) `base`'s snapshot is made at on its own: the
/// shape a create gets when it names none.
pub const BUILTIN_SHAPE: (u8, u32) = (1, 512);

/// The shape a built-in template's snapshot is made at: the control
/// plane's default shape of that template (crates/wrenn-cp db/templates.rs
/// `BUILTINS`), so a create that names none restores it.
pub fn builtin_shape(template: &str) -> (u8, u32) {
    match template {
        "code-interpreter-v1" => (2, 1024),
        _ => BUILTIN_SHAPE,
    }
}

/// What publishing a sandbox's disk works with.
pub struct DiskPublisher<'a, V: Vmm> {
    pub registry: &'a SandboxRegistry<V>,
    pub sandboxes: &'a Sandboxes<V>,
    pub disks: &'a DiskPlan,
    pub layout: &'a Layout,
}

impl<V: Vmm> DiskPublisher<'_, V> {
    /// Copies the disk of sandbox `id` into a staged image of `template`
    /// (with `start` as its start spec) and publishes it; returns the
    /// sandbox's shape (vCPUs, MiB). Holds the sandbox's operation lock
    /// throughout.
    pub async fn publish(
        &self,
        id: &SandboxId,
        template: &TemplateName,
        start: Option<&TemplateStartSpec>,
        catalog: &TemplateCatalog,
    ) -> Result<(u8, u32), SandboxError> {
        let entry = self.registry.get(id)?;
        let mut runtime = entry.lock().await;
        let (state, vcpus, memory_mib, disk) = entry.read(|r| {
            let disk = self.layout.active_disk(r);
            (r.state(), r.config.vcpus, r.config.memory_mib, disk)
        });
        let failed = |reason: String| SandboxError::SnapshotFailed {
            id: id.clone(),
            reason,
        };
        let staged = catalog.stage(template).map_err(publish_error)?;
        match state {
            // A paused sandbox's disk was flushed when its VMM ended.
            SandboxState::Paused => self
                .disks
                .export(&disk, &staged.rootfs())
                .await
                .map_err(|e| failed(e.to_string()))?,
            SandboxState::Running => {
                // Writes still in the guest's page cache are not on the disk yet.
                self.sandboxes
                    .sync_guest(id)
                    .await
                    .map_err(|e| failed(format!("sync in the guest: {e}")))?;
                let vm = runtime
                    .vm()
                    .ok_or_else(|| failed("no VM process for a running sandbox".into()))?;
                vm.freeze()
                    .await
                    .map_err(|e| failed(format!("freeze: {e}")))?;
                let copied = self.disks.export(&disk, &staged.rootfs()).await;
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
        if let Some(spec) = start {
            let dir = staged.version_dir();
            spec.write_into(&dir)
                .map_err(|source| SandboxError::storage(&dir, source))?;
        }
        staged.publish().map_err(publish_error)?;
        Ok((vcpus, memory_mib))
    }
}

/// Removes a template's image and memory snapshots. Built-in templates and
/// templates that `sandboxes` still run on (their disks are made from the
/// image) are refused.
pub fn delete_template(
    catalog: &TemplateCatalog,
    sandboxes: &[SandboxInfo],
    template: &TemplateName,
) -> Result<(), SandboxError> {
    if BUILTIN_TEMPLATES.contains(&template.as_str()) {
        return Err(SandboxError::TemplateProtected(template.to_string()));
    }
    if !catalog.exists(template) {
        return Err(SandboxError::UnknownTemplate(template.to_string()));
    }
    let users = sandboxes
        .iter()
        .filter(|s| s.template == template.as_str())
        .filter(|s| !matches!(s.state, SandboxState::Stopped | SandboxState::Error))
        .count();
    if users > 0 {
        return Err(SandboxError::TemplateInUse {
            template: template.to_string(),
            sandboxes: users,
        });
    }
    catalog
        .remove(template)
        .map_err(|source| SandboxError::storage(catalog.images_dir(), source))?;
    tracing::info!(%template, "template deleted");
    Ok(())
}

fn publish_error(err: PublishError) -> SandboxError {
    match err {
        PublishError::Exists(name) => SandboxError::TemplateExists(name.to_string()),
        PublishError::Io { path, source } => SandboxError::storage(&path, source),
    }
}
