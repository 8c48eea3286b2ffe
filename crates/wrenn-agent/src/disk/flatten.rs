//! Flattening a sandbox's qcow2 disk (and its backing chain) into one raw
//! image, the form template images take.
use std::path::{Path, PathBuf};

use tokio::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum FlattenError {
    #[error("cannot run qemu-img (install qemu-utils)")]
    Spawn(#[source] std::io::Error),
    #[error("qemu-img convert of {} failed: {stderr}", source_disk.display())]
    Convert {
        source_disk: PathBuf,
        stderr: String,
    },
}

/// Writes the content `qcow2` shows the guest (backing files included) into
/// a new sparse raw image at `dest`. The format is given, never probed: a
/// probed raw disk written by a guest could pose as qcow2 with a backing file
/// anywhere on the host. `-U` reads an image that a frozen VMM still holds
/// open; the caller makes sure nothing writes to it meanwhile. `dest` is
/// removed on failure.
pub async fn flatten_qcow2(qcow2: &Path, dest: &Path) -> Result<(), FlattenError> {
    let out = Command::new("qemu-img")
        .args(["convert", "-U", "-q", "-f", "qcow2", "-O", "raw"])
        .arg(qcow2)
        .arg(dest)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(FlattenError::Spawn)?;
    if out.status.success() {
        return Ok(());
    }
    super::remove_partial(dest);
    Err(FlattenError::Convert {
        source_disk: qcow2.to_path_buf(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::{create_disk, DiskStrategy};

    #[tokio::test]
    async fn flatten_when_overlay_written_then_raw_has_base_and_overlay_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().join("base.ext4");
        std::fs::write(&base, vec![7u8; 1 << 20]).expect("base");
        let overlay = dir.path().join("disk.qcow2");
        create_disk(DiskStrategy::Qcow2Overlay, &base, &overlay, None)
            .await
            .expect("overlay");
        let status = std::process::Command::new("qemu-io")
            .args(["-f", "qcow2", "-c", "write -P 9 0 4096"])
            .arg(&overlay)
            .output()
            .expect("qemu-io");
        assert!(status.status.success(), "{status:?}");
        let dest = dir.path().join("flat.raw");

        flatten_qcow2(&overlay, &dest).await.expect("flattened");

        let flat = std::fs::read(&dest).expect("read");
        assert_eq!(flat.len(), 1 << 20);
        assert!(flat[..4096].iter().all(|&b| b == 9));
        assert!(flat[4096..].iter().all(|&b| b == 7));
    }

    #[tokio::test]
    async fn flatten_when_source_missing_then_error_and_no_dest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("flat.raw");
        let err = flatten_qcow2(&dir.path().join("none.qcow2"), &dest)
            .await
            .expect_err("fails");
        assert!(matches!(err, FlattenError::Convert { .. }), "{err}");
        assert!(!dest.exists());
    }
}
