//! Per-sandbox copy-on-write disks over a read-only template image: a qcow2
//! overlay for QEMU; for raw images (Firecracker) a reflink clone where the
//! file system supports it, else a sparse copy. Which format a host's disks
//! take is the VMM backend's call ([`DiskFormat`]); [`DiskPlan`] turns it
//! into a strategy once per host and logs why. Everything here that runs a
//! process or copies a file does so off the async executor's threads.
mod flatten;
pub mod layer;
mod plan;
mod raw;

use std::{
    fmt,
    path::{Path, PathBuf},
};

use tokio::process::Command;

pub use flatten::{flatten_qcow2, FlattenError};
pub use plan::{DiskPlan, ExportError};
pub use raw::detect_raw_strategy;

/// The image format a VMM backend boots its root disk in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskFormat {
    /// A qcow2 overlay over the template image (QEMU).
    Qcow2,
    /// A plain ext4 image file (Firecracker, which has no qcow2 support).
    Raw,
}

impl DiskFormat {
    /// The name of a disk of this format inside a sandbox or snapshot
    /// directory; QEMU tells the format from the extension.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Qcow2 => "disk.qcow2",
            Self::Raw => "disk.ext4",
        }
    }
}

impl fmt::Display for DiskFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Qcow2 => "qcow2",
            Self::Raw => "raw",
        })
    }
}

const MIB: u64 = 1024 * 1024;

/// How a sandbox disk is made from its template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskStrategy {
    /// `qemu-img create -f qcow2 -b <template>`: QEMU only.
    Qcow2Overlay,
    /// `FICLONE`: shares extents with the template until written (XFS, btrfs).
    Reflink,
    /// A full copy that skips zero blocks; works everywhere, costs time.
    SparseCopy,
}

impl fmt::Display for DiskStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Qcow2Overlay => "qcow2-overlay",
            Self::Reflink => "reflink",
            Self::SparseCopy => "sparse-copy",
        })
    }
}

/// A chosen strategy and why, for the agent's log and host specs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrategyChoice {
    pub strategy: DiskStrategy,
    pub reason: String,
}

/// Failures of [`create_disk`]; the destination never survives one.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("cannot read the template image {}", path.display())]
    Template {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("a {requested_mib} MiB disk cannot hold the template ({template_bytes} bytes)")]
    TooSmall {
        requested_mib: u64,
        template_bytes: u64,
    },
    #[error("{strategy} needs a raw template; {} is qcow2", path.display())]
    NotRaw {
        strategy: DiskStrategy,
        path: PathBuf,
    },
    #[error("{} already exists", .0.display())]
    Exists(PathBuf),
    #[error("cannot write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reflink clone into {} failed", dest.display())]
    Reflink {
        dest: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run qemu-img (install qemu-utils)")]
    QemuImgSpawn(#[source] std::io::Error),
    #[error("qemu-img failed: {0}")]
    QemuImg(String),
}

/// Image formats a template may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Raw,
    Qcow2,
}

impl Format {
    fn of(path: &Path) -> Self {
        if path.extension().is_some_and(|e| e == "qcow2") {
            Self::Qcow2
        } else {
            Self::Raw
        }
    }
}

/// Makes `dest`, a writable disk of `size_mib` MiB (the template's size when
/// `None`) whose initial content is `template`. A larger disk only grows the
/// block device; the guest grows its file system itself. `qemu-img` runs as
/// an async child process, raw copies on the blocking pool.
pub async fn create_disk(
    strategy: DiskStrategy,
    template: &Path,
    dest: &Path,
    size_mib: Option<u64>,
) -> Result<(), DiskError> {
    let format = Format::of(template);
    let template_bytes = template_size(template, format).await?;
    let size = match size_mib {
        Some(mib) if mib.saturating_mul(MIB) < template_bytes => {
            return Err(DiskError::TooSmall {
                requested_mib: mib,
                template_bytes,
            })
        }
        Some(mib) => mib * MIB,
        None => template_bytes,
    };
    if strategy != DiskStrategy::Qcow2Overlay && format != Format::Raw {
        return Err(DiskError::NotRaw {
            strategy,
            path: template.to_path_buf(),
        });
    }
    if dest.exists() {
        return Err(DiskError::Exists(dest.to_path_buf()));
    }
    let made = match strategy {
        DiskStrategy::Qcow2Overlay => qcow2_overlay(template, format, dest, size).await,
        DiskStrategy::Reflink | DiskStrategy::SparseCopy => {
            let (from, to) = (template.to_path_buf(), dest.to_path_buf());
            tokio::task::spawn_blocking(move || match strategy {
                DiskStrategy::Reflink => raw::reflink(&from, &to, size),
                _ => raw::sparse_copy(&from, &to, size),
            })
            .await
            .unwrap_or_else(|joined| {
                Err(DiskError::Io {
                    path: dest.to_path_buf(),
                    source: std::io::Error::other(joined),
                })
            })
        }
    };
    if made.is_err() {
        remove_partial(dest);
    }
    made
}

/// Removes what a failed creation left; a file that was never made is fine.
pub(crate) fn remove_partial(dest: &Path) {
    match std::fs::remove_file(dest) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => {
            tracing::warn!(path = %dest.display(), %err, "removing a half-made disk failed")
        }
    }
}

async fn template_size(template: &Path, format: Format) -> Result<u64, DiskError> {
    let template_error = |source| DiskError::Template {
        path: template.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(template).map_err(template_error)?;
    if format == Format::Raw {
        return Ok(meta.len());
    }
    let out = Command::new("qemu-img")
        .args(["info", "--output=json", "-f", "qcow2"])
        .arg(template)
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

async fn qcow2_overlay(
    template: &Path,
    format: Format,
    dest: &Path,
    size: u64,
) -> Result<(), DiskError> {
    let backing = std::path::absolute(template).map_err(|source| DiskError::Template {
        path: template.to_path_buf(),
        source,
    })?;
    let out = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F"])
        .arg(match format {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
        })
        .arg("-b")
        .arg(&backing)
        .arg(dest)
        .arg(size.to_string())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(DiskError::QemuImgSpawn)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(DiskError::QemuImg(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests;
