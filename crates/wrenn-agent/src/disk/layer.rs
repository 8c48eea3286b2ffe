//! Fork layers: a running sandbox's qcow2 disk frozen at a fork, read by
//! the source and every copy through a new overlay each. A running QEMU
//! holds the frozen file, so nothing here opens it as an image: sizes are
//! read with `-U` (shared) and overlays are made without opening their
//! backing file (`-u`).
use std::path::Path;

use tokio::process::Command;

use super::DiskError;

/// The virtual size in bytes of the qcow2 image `image`, read while a VMM
/// may hold it.
pub async fn virtual_size(image: &Path) -> Result<u64, DiskError> {
    let out = Command::new("qemu-img")
        .args(["info", "-U", "--output=json", "-f", "qcow2"])
        .arg(image)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(DiskError::QemuImgSpawn)?;
    if !out.status.success() {
        return Err(DiskError::QemuImg(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ));
    }
    let info: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| DiskError::QemuImg(format!("unreadable `qemu-img info`: {e}")))?;
    info["virtual-size"]
        .as_u64()
        .ok_or_else(|| DiskError::QemuImg("`qemu-img info` gave no virtual-size".into()))
}

/// Makes `dest`, a qcow2 overlay of `size` bytes over the qcow2 layer
/// `backing` (an absolute path, written into the header). `dest` must not
/// exist; a failed creation leaves nothing behind.
pub async fn overlay(backing: &Path, dest: &Path, size: u64) -> Result<(), DiskError> {
    if dest.exists() {
        return Err(DiskError::Exists(dest.to_path_buf()));
    }
    let out = Command::new("qemu-img")
        .args(["create", "-q", "-u", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(backing)
        .arg(dest)
        .arg(size.to_string())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(DiskError::QemuImgSpawn)?;
    if out.status.success() {
        Ok(())
    } else {
        super::remove_partial(dest);
        Err(DiskError::QemuImg(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ))
    }
}
