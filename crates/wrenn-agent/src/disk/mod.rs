//! Per-sandbox copy-on-write disks over a read-only template image: a qcow2
//! overlay for QEMU; for raw images (Firecracker) a reflink clone where the
//! file system supports it, else a sparse copy. The strategy is chosen once
//! per host by [`detect_raw_strategy`] and its reason logged.
mod flatten;
mod raw;

use std::{
    fmt,
    path::{Path, PathBuf},
    process::Command,
};

pub use flatten::{flatten_qcow2, FlattenError};
pub use raw::detect_raw_strategy;

const MIB: u64 = 1024 * 1024;

/// How a sandbox disk is made from its template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
/// block device; the guest grows its file system itself.
pub fn create_disk(
    strategy: DiskStrategy,
    template: &Path,
    dest: &Path,
    size_mib: Option<u64>,
) -> Result<(), DiskError> {
    let format = Format::of(template);
    let template_bytes = template_size(template, format)?;
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
        DiskStrategy::Qcow2Overlay => qcow2_overlay(template, format, dest, size),
        DiskStrategy::Reflink => raw::reflink(template, dest, size),
        DiskStrategy::SparseCopy => raw::sparse_copy(template, dest, size),
    };
    if made.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    made
}

fn template_size(template: &Path, format: Format) -> Result<u64, DiskError> {
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
        .output()
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

fn qcow2_overlay(template: &Path, format: Format, dest: &Path, size: u64) -> Result<(), DiskError> {
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
        .output()
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
