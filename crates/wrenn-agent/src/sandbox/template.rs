//! Template snapshots: a template booted once, frozen when envd is ready, and
//! restored for every later sandbox of the same shape instead of a cold boot.
//!
//! A snapshot lives in `<data>/snapshots/templates/<template>-<image>-<N>c<M>m/`
//! with the memory image, the disk layer of that moment (`disk.qcow2`, a
//! qcow2 over the template image) and a `complete` marker written last.
//! Sandboxes restored from it get their own qcow2 layer over `disk.qcow2`,
//! a fresh network slot and a fresh envd access token (the snapshot is taken
//! before `/init`, so it holds no token and no user environment).
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Instant,
};

use super::{
    id::TemplateName,
    manager::{storage, SandboxManager},
    SandboxError,
};
use crate::{
    disk::{create_disk, DiskStrategy},
    envd_client::{self, WaitReadyError},
    network::EgressPolicy,
    vmm::{GuestNet, RunningVm, VmSpec, Vmm},
};

pub const SNAPSHOT_DISK: &str = "disk.qcow2";
pub const SNAPSHOT_COMPLETE: &str = "complete";

/// Where template snapshots live, and one build lock per snapshot.
#[derive(Debug)]
pub struct TemplateSnapshots {
    root: PathBuf,
    building: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

impl TemplateSnapshots {
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            building: Mutex::default(),
        }
    }

    /// The snapshot directory for a template image version and VM shape.
    /// `image` is the canonical image path `.../images/<t>/<hash>/rootfs.ext4`.
    pub fn dir(
        &self,
        template: &TemplateName,
        image: &Path,
        vcpus: u8,
        memory_mib: u32,
    ) -> PathBuf {
        let version = image.parent().and_then(Path::file_name).map_or_else(
            || "unversioned".into(),
            |n| n.to_string_lossy().into_owned(),
        );
        self.root
            .join(format!("{template}-{version}-{vcpus}c{memory_mib}m"))
    }

    /// The snapshot directory if a complete snapshot exists.
    pub fn ready(
        &self,
        template: &TemplateName,
        image: &Path,
        vcpus: u8,
        memory_mib: u32,
    ) -> Option<PathBuf> {
        let dir = self.dir(template, image, vcpus, memory_mib);
        dir.join(SNAPSHOT_COMPLETE).is_file().then_some(dir)
    }

    fn lock_for(&self, dir: &Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.building.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(dir.to_owned()).or_default())
    }
}

impl<V: Vmm> SandboxManager<V> {
    /// Makes sure a snapshot of `template` at this shape exists, building it
    /// if needed (cold boot, wait for envd, snapshot). Returns its directory.
    pub async fn warm_template(
        &self,
        template: &TemplateName,
        vcpus: u8,
        memory_mib: u32,
    ) -> Result<PathBuf, SandboxError> {
        let image = self
            .options()
            .data
            .template_image(template.as_str())
            .map_err(|_| SandboxError::UnknownTemplate(template.to_string()))?;
        let image = std::fs::canonicalize(&image).map_err(|source| storage(&image, source))?;
        let templates = &self.inner.templates;
        let dir = templates.dir(template, &image, vcpus, memory_mib);
        let lock = templates.lock_for(&dir);
        let _building = lock.lock().await;
        if let Some(ready) = templates.ready(template, &image, vcpus, memory_mib) {
            return Ok(ready);
        }
        let started = Instant::now();
        let tmp = dir.with_extension(format!("tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(tmp.join("run")).map_err(|source| storage(&tmp, source))?;
        let result = self.build_snapshot(&image, &tmp, vcpus, memory_mib).await;
        match result {
            Ok(()) => {
                let _ = std::fs::remove_dir_all(tmp.join("run"));
                std::fs::write(tmp.join(SNAPSHOT_COMPLETE), b"")
                    .map_err(|source| storage(&tmp, source))?;
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::rename(&tmp, &dir).map_err(|source| storage(&dir, source))?;
                tracing::info!(%template, vcpus, memory_mib, duration_ms = started.elapsed().as_millis() as u64,
                    "template snapshot ready");
                Ok(dir)
            }
            Err(reason) => {
                let _ = std::fs::remove_dir_all(&tmp);
                Err(SandboxError::TemplateSnapshotFailed {
                    template: template.to_string(),
                    reason,
                })
            }
        }
    }

    async fn build_snapshot(
        &self,
        image: &Path,
        tmp: &Path,
        vcpus: u8,
        memory_mib: u32,
    ) -> Result<(), String> {
        let inner = &self.inner;
        create_disk(
            DiskStrategy::Qcow2Overlay,
            image,
            &tmp.join(SNAPSHOT_DISK),
            None,
        )
        .map_err(|e| format!("disk: {e}"))?;
        let lease = inner
            .slots
            .allocate()
            .map_err(|e| format!("no network slot free: {e}"))?;
        // The template VM needs no internet while it boots.
        let policy = EgressPolicy {
            internet: false,
            allow: Vec::new(),
            deny: Vec::new(),
        };
        let handle = inner
            .network
            .create(lease.slot(), &policy)
            .await
            .map_err(|e| format!("network: {e}"))?;
        let url = format!("http://{}", handle.envd_addr);
        let spec = VmSpec {
            run_dir: tmp.join("run"),
            kernel: inner
                .opts
                .data
                .kernel(inner.opts.kernel_format)
                .map_err(|e| e.to_string())?,
            root_disk: tmp.join(SNAPSHOT_DISK),
            discard_writes: false,
            vcpus,
            memory_mib,
            net: GuestNet::Tap(handle.tap.clone()),
            init: vec!["/usr/bin/envd".into()],
        };
        let outcome = async {
            let mut vm = inner
                .backend
                .boot(&spec)
                .await
                .map_err(|e| format!("VMM: {e}"))?;
            let timeout = inner.opts.ready_timeout;
            match envd_client::wait_ready(&inner.http, &url, &mut vm, timeout).await {
                Ok(()) => {}
                Err(WaitReadyError::VmStopped(err)) => {
                    return Err(format!("template VM stopped: {err}"));
                }
                Err(err @ WaitReadyError::Timeout(_)) => {
                    let tail = vm.console_tail(15);
                    let _ = vm.kill().await;
                    return Err(format!("{err} in the template VM; console:\n{tail}"));
                }
            }
            if let Err(err) = vm.pause_to(tmp).await {
                let _ = vm.kill().await;
                return Err(format!("snapshot: {err}"));
            }
            Ok(())
        }
        .await;
        if let Err(err) = inner.network.destroy(handle.slot).await {
            tracing::warn!(%err, "removing the template VM's network failed");
        }
        drop(lease);
        outcome
    }
}
