//! Template snapshots: a template booted once, frozen when envd is ready, and
//! restored for every later sandbox of the same shape instead of a cold boot.
//! A template with a start spec (`start.json` beside its image) is frozen
//! only once its start command is ready, so restored sandboxes wake up with
//! the service running.
//! [`TemplateSnapshots`] owns the snapshot directories and one build lock
//! per snapshot; booting the template VM is the launcher's.
//!
//! A snapshot lives in `<data>/snapshots/templates/<template>-<image>-<N>c<M>m/`
//! (with a suffix naming the memory format: `-rf` for QEMU,
//! `-firecracker`) with the memory image, the disk of that moment in the
//! backend's format (`disk.qcow2` over the template image, or a raw
//! `disk.ext4` copy) and a `complete` marker written last. Sandboxes
//! restored from it get their own disk made from the snapshot's, a fresh
//! network slot and a fresh envd access token (the snapshot is taken before
//! `/init`, so it holds no token and no user environment). Under QEMU the
//! guest's RAM is a file of its own (`guest-ram`) that every restored VM
//! maps copy-on-write. Such a snapshot's migration stream holds no RAM, so
//! its directory has a suffix of its own (`-rf`): an older agent on the
//! same data directory never restores it as an ordinary one.
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Instant,
};

use super::{
    id::TemplateName, launcher::Launcher, layout, start_spec::TemplateStartSpec, SandboxError,
};
use crate::{
    disk::DiskPlan,
    vmm::{BackendKind, Vmm, SNAPSHOT_GUEST_RAM_FILE},
};

/// Written last into a snapshot directory: the snapshot is whole.
pub const SNAPSHOT_COMPLETE: &str = "complete";

/// Where template snapshots live, and one build lock per snapshot.
#[derive(Debug)]
pub struct TemplateSnapshots {
    root: PathBuf,
    suffix: &'static str,
    /// Files a whole snapshot of this backend has besides the marker.
    required: &'static [&'static str],
    building: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

impl TemplateSnapshots {
    pub fn new(root: PathBuf, backend: BackendKind) -> Self {
        Self {
            root,
            suffix: match backend {
                // "RAM file": short, since the QMP socket's path under the
                // snapshot's temporary directory must stay under 108 bytes.
                BackendKind::Qemu => "-rf",
                BackendKind::Firecracker => "-firecracker",
            },
            required: match backend {
                BackendKind::Qemu => &[SNAPSHOT_GUEST_RAM_FILE],
                BackendKind::Firecracker => &[],
            },
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
        self.root.join(format!(
            "{template}-{version}-{vcpus}c{memory_mib}m{}",
            self.suffix
        ))
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
        let whole = dir.join(SNAPSHOT_COMPLETE).is_file()
            && self.required.iter().all(|file| dir.join(file).is_file());
        whole.then_some(dir)
    }

    fn lock_for(&self, dir: &Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.building.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(dir.to_owned()).or_default())
    }

    /// Makes sure a snapshot of `image` (template `template`) at this shape
    /// exists, building it if needed (cold boot, wait for envd, snapshot).
    /// Returns its directory.
    pub async fn warm<V: Vmm>(
        &self,
        launcher: &Launcher<V>,
        disks: &DiskPlan,
        template: &TemplateName,
        image: &Path,
        (vcpus, memory_mib): (u8, u32),
    ) -> Result<PathBuf, SandboxError> {
        let dir = self.dir(template, image, vcpus, memory_mib);
        let lock = self.lock_for(&dir);
        let _building = lock.lock().await;
        if let Some(ready) = self.ready(template, image, vcpus, memory_mib) {
            return Ok(ready);
        }
        let start =
            TemplateStartSpec::for_image(image).map_err(|e| SandboxError::InvalidStartSpec {
                template: template.to_string(),
                reason: e.to_string(),
            })?;
        let started = Instant::now();
        let tmp = dir.with_extension(format!("tmp-{}", std::process::id()));
        let storage = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SandboxError::storage(&path, source)
        };
        layout::remove_path(&tmp).map_err(storage(&tmp))?;
        std::fs::create_dir_all(tmp.join("run")).map_err(storage(&tmp))?;
        let built = async {
            let disk = disks.disk_in(&tmp);
            disks
                .create(image, &disk, None)
                .await
                .map_err(|e| format!("disk: {e}"))?;
            launcher
                .snapshot_template(&disk, &tmp, (vcpus, memory_mib), start.as_ref())
                .await
        }
        .await;
        if let Err(reason) = built {
            layout::remove_logged(&tmp, "a failed template snapshot");
            return Err(SandboxError::TemplateSnapshotFailed {
                template: template.to_string(),
                reason,
            });
        }
        let published = (|| {
            layout::remove_path(&tmp.join("run")).map_err(storage(&tmp))?;
            // Guest RAM reached the file through a shared mapping: on disk
            // before the snapshot counts as whole.
            let ram = tmp.join(SNAPSHOT_GUEST_RAM_FILE);
            if ram.is_file() {
                std::fs::File::open(&ram)
                    .and_then(|f| f.sync_all())
                    .map_err(storage(&ram))?;
            }
            std::fs::write(tmp.join(SNAPSHOT_COMPLETE), b"").map_err(storage(&tmp))?;
            layout::remove_path(&dir).map_err(storage(&dir))?;
            std::fs::rename(&tmp, &dir).map_err(storage(&dir))
        })();
        if let Err(err) = published {
            layout::remove_logged(&tmp, "an unpublished template snapshot");
            return Err(err);
        }
        tracing::info!(%template, vcpus, memory_mib, with_start_command = start.is_some(), duration_ms = started.elapsed().as_millis() as u64,
            "template snapshot ready");
        Ok(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> PathBuf {
        "/var/lib/wrenn/images/base/abc123/rootfs.ext4".into()
    }

    #[test]
    fn dir_when_qemu_then_suffix_of_the_ram_file_format() {
        let store = TemplateSnapshots::new("/s".into(), BackendKind::Qemu);
        let name: TemplateName = "base".parse().expect("name");

        assert_eq!(
            store.dir(&name, &image(), 2, 512),
            PathBuf::from("/s/base-abc123-2c512m-rf")
        );
    }

    #[test]
    fn ready_when_qemu_snapshot_lacks_its_ram_file_then_not_ready() {
        let root = tempfile::tempdir().expect("tempdir");
        let store = TemplateSnapshots::new(root.path().into(), BackendKind::Qemu);
        let name: TemplateName = "base".parse().expect("name");
        let dir = store.dir(&name, &image(), 1, 512);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join(SNAPSHOT_COMPLETE), b"").expect("marker");

        assert_eq!(store.ready(&name, &image(), 1, 512), None);
        std::fs::write(dir.join(SNAPSHOT_GUEST_RAM_FILE), b"").expect("ram");
        assert_eq!(store.ready(&name, &image(), 1, 512), Some(dir));
    }

    #[test]
    fn dir_when_firecracker_then_own_directory() {
        let store = TemplateSnapshots::new("/s".into(), BackendKind::Firecracker);
        let name: TemplateName = "base".parse().expect("name");

        assert_eq!(
            store.dir(&name, &image(), 1, 256),
            PathBuf::from("/s/base-abc123-1c256m-firecracker")
        );
    }
}
