//! Layout of the agent's data directory (`/var/lib/wrenn` by default) and the
//! lookup of built artefacts (kernel, template images) in it.
use std::path::{Path, PathBuf};

/// Environment variable that moves the data directory.
pub const DATA_DIR_ENV: &str = "WRENN_DATA_DIR";
pub const DEFAULT_DATA_DIR: &str = "/var/lib/wrenn";

#[derive(Debug, thiserror::Error)]
pub enum ArtefactError {
    /// The guest kernel has not been built on this host.
    #[error("guest kernel not found at {0}; build it with `images/kernel/build.sh` or `deploy/setup-host.sh`")]
    KernelMissing(PathBuf),
    /// The template image has not been built on this host.
    #[error("template image '{template}' not found at {path}; build it with `images/rootfs/build.sh {template} <envd>` or `deploy/setup-host.sh`")]
    ImageMissing { template: String, path: PathBuf },
}

/// The data directory and where each kind of artefact lives inside it.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `$WRENN_DATA_DIR`, else `/var/lib/wrenn`.
    pub fn from_env() -> Self {
        Self::new(
            std::env::var_os(DATA_DIR_ENV).map_or_else(|| DEFAULT_DATA_DIR.into(), PathBuf::from),
        )
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The current guest kernel for QEMU (`bzImage`) or Firecracker (`vmlinux`).
    pub fn kernel(&self, file: KernelFormat) -> Result<PathBuf, ArtefactError> {
        let path = self.root.join("kernels/current").join(file.file_name());
        path.is_file()
            .then_some(path.clone())
            .ok_or(ArtefactError::KernelMissing(path))
    }

    /// The current read-only rootfs image of a template.
    pub fn template_image(&self, template: &str) -> Result<PathBuf, ArtefactError> {
        let path = self
            .root
            .join("images")
            .join(template)
            .join("current/rootfs.ext4");
        path.is_file()
            .then_some(path.clone())
            .ok_or_else(|| ArtefactError::ImageMissing {
                template: template.to_owned(),
                path,
            })
    }

    /// Scratch space for one VM (console log, QMP socket, disk overlay).
    pub fn run_dir(&self, name: &str) -> PathBuf {
        self.root.join("sandboxes").join(name)
    }
}

/// Which kernel image format a VMM loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelFormat {
    /// Compressed, self-decompressing image; QEMU `-kernel`.
    BzImage,
    /// Uncompressed ELF; Firecracker's `kernel_image_path`.
    Vmlinux,
}

impl KernelFormat {
    fn file_name(self) -> &'static str {
        match self {
            Self::BzImage => "bzImage",
            Self::Vmlinux => "vmlinux",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_image_when_missing_then_error_names_the_fix() {
        let dir = DataDir::new("/nonexistent-wrenn");
        let err = dir.template_image("base").expect_err("must be missing");
        let message = err.to_string();
        assert!(
            message.contains("images/base/current/rootfs.ext4"),
            "{message}"
        );
        assert!(message.contains("images/rootfs/build.sh base"), "{message}");
    }

    #[test]
    fn kernel_when_missing_then_error_names_the_path() {
        let dir = DataDir::new("/nonexistent-wrenn");
        let err = dir
            .kernel(KernelFormat::Vmlinux)
            .expect_err("must be missing");
        assert!(err.to_string().contains("kernels/current/vmlinux"));
    }
}
