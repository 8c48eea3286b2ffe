//! The disk plan of a host: which format its VMM boots, how sandbox disks of
//! that format are made from a template image, and how a sandbox disk is
//! turned back into a raw template image.
use std::path::{Path, PathBuf};

use super::{
    create_disk, detect_raw_strategy, flatten_qcow2, DiskError, DiskFormat, DiskStrategy,
    FlattenError, StrategyChoice,
};

/// Chosen once per host from the backend's [`DiskFormat`]; cheap to share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskPlan {
    format: DiskFormat,
    choice: StrategyChoice,
}

/// Failures of [`DiskPlan::export`]; `dest` never survives one.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Flatten(#[from] FlattenError),
    #[error(transparent)]
    Copy(#[from] DiskError),
}

impl DiskPlan {
    /// The plan for disks of `format` created in `dir`: qcow2 overlays for
    /// qcow2, and for raw images whichever of reflink or sparse copy works
    /// in `dir` (probed once, with the reason kept).
    pub fn choose(format: DiskFormat, dir: &Path) -> Result<Self, DiskError> {
        let choice = match format {
            DiskFormat::Qcow2 => StrategyChoice {
                strategy: DiskStrategy::Qcow2Overlay,
                reason: "the backend boots qcow2 overlays".into(),
            },
            DiskFormat::Raw => detect_raw_strategy(dir)?,
        };
        tracing::info!(%format, strategy = %choice.strategy, reason = %choice.reason,
            "disk strategy chosen");
        Ok(Self { format, choice })
    }

    pub fn format(&self) -> DiskFormat {
        self.format
    }

    pub fn strategy(&self) -> DiskStrategy {
        self.choice.strategy
    }

    /// Why [`Self::strategy`] was chosen, for logs and host reports.
    pub fn reason(&self) -> &str {
        &self.choice.reason
    }

    /// The disk's file name in a sandbox or snapshot directory.
    pub fn file_name(&self) -> &'static str {
        self.format.file_name()
    }

    /// The disk file inside `dir`.
    pub fn disk_in(&self, dir: &Path) -> PathBuf {
        dir.join(self.file_name())
    }

    /// Makes `dest` from `base` (a template image, or a snapshot's disk of
    /// this plan's format) with the plan's strategy.
    pub async fn create(
        &self,
        base: &Path,
        dest: &Path,
        size_mib: Option<u64>,
    ) -> Result<(), DiskError> {
        create_disk(self.choice.strategy, base, dest, size_mib).await
    }

    /// Writes what `disk` (a disk of this plan's format) shows the guest
    /// into a new raw image `dest`: a qcow2 chain is flattened, a raw disk
    /// is copied sparsely (never reflinked: `dest` may be on another file
    /// system). The caller keeps writers away from `disk` meanwhile.
    pub async fn export(&self, disk: &Path, dest: &Path) -> Result<(), ExportError> {
        match self.format {
            DiskFormat::Qcow2 => Ok(flatten_qcow2(disk, dest).await?),
            DiskFormat::Raw => Ok(create_disk(DiskStrategy::SparseCopy, disk, dest, None).await?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choose_when_qcow2_then_overlay_and_qcow2_file_name() {
        let dir = tempfile::tempdir().expect("tempdir");

        let plan = DiskPlan::choose(DiskFormat::Qcow2, dir.path()).expect("plan");

        assert_eq!(plan.strategy(), DiskStrategy::Qcow2Overlay);
        assert_eq!(plan.disk_in(dir.path()), dir.path().join("disk.qcow2"));
    }

    #[test]
    fn choose_when_raw_then_raw_strategy_and_ext4_file_name() {
        let dir = tempfile::tempdir().expect("tempdir");

        let plan = DiskPlan::choose(DiskFormat::Raw, dir.path()).expect("plan");

        assert!(matches!(
            plan.strategy(),
            DiskStrategy::Reflink | DiskStrategy::SparseCopy
        ));
        assert!(!plan.reason().is_empty());
        assert_eq!(plan.file_name(), "disk.ext4");
    }

    #[tokio::test]
    async fn export_when_raw_disk_then_same_bytes_in_dest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plan = DiskPlan::choose(DiskFormat::Raw, dir.path()).expect("plan");
        let disk = dir.path().join("disk.ext4");
        let mut bytes = vec![0u8; 1 << 20];
        bytes[..4096].fill(3);
        std::fs::write(&disk, &bytes).expect("disk");
        let dest = dir.path().join("rootfs.ext4");

        plan.export(&disk, &dest).await.expect("export");

        assert_eq!(std::fs::read(&dest).expect("read"), bytes);
    }
}
