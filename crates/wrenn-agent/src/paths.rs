//! Layout of the agent's data directory (`/var/lib/wrenn` by default) and the
//! lookup of built artefacts (kernel, template images) in it.
//!
//! Everything in it is root's only: the agent runs with umask 077 (every
//! directory it makes is 0700, every file 0600, VMM logs and sockets
//! included) and [`DataDir::restrict`] takes group and other access away
//! from what an earlier version or a builder left more open. The root itself
//! is 0711 (enter, not list), so the control plane's own directory in it
//! (`cp/`, owned by the `wrenn` user) stays reachable by its owner.
use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

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

    /// Makes the data directory root-only (agent start-up): the root 0711,
    /// and below it every file and directory loses group and other access.
    /// `cp/` belongs to the control plane, which keeps its own permissions;
    /// `build/` holds image staging trees whose modes are the guest's, so
    /// only the directory itself is closed. Symbolic links are not followed.
    /// Returns how many modes it changed.
    pub fn restrict(&self) -> std::io::Result<usize> {
        let mut changed = 0;
        std::fs::create_dir_all(&self.root)?;
        changed += clear_mode(&self.root, 0o066)?;
        for entry in std::fs::read_dir(&self.root)?.flatten() {
            let path = entry.path();
            match entry.file_name().to_str() {
                Some(CP_DIR) => {}
                Some(BUILD_DIR) => changed += clear_mode(&path, 0o077)?,
                _ => changed += restrict_tree(&path)?,
            }
        }
        Ok(changed)
    }
}

/// The control plane's directory inside the data directory (quickstart).
const CP_DIR: &str = "cp";
/// Image builders' staging trees.
const BUILD_DIR: &str = "build";

/// The umask the agent runs under: nothing it creates is group or world
/// accessible.
pub const AGENT_UMASK: u32 = 0o077;

/// Clears `bits` from `path`'s mode (not following a link); 1 if it changed.
fn clear_mode(path: &Path, bits: u32) -> std::io::Result<usize> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(0);
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & bits == 0 {
        return Ok(0);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & !bits))?;
    Ok(1)
}

fn restrict_tree(path: &Path) -> std::io::Result<usize> {
    let mut changed = match clear_mode(path, 0o077) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        other => other?,
    };
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)?.flatten() {
            changed += restrict_tree(&entry.path())?;
        }
    }
    Ok(changed)
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

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .expect("meta")
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn restrict_when_tree_is_open_then_root_only_except_cp_and_build_contents() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("data");
        let open = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod")
        };
        for d in [
            "sandboxes/sb-1/run",
            "cp",
            "build/stage/tmp",
            "images/base/v1",
        ] {
            std::fs::create_dir_all(root.join(d)).expect("dir");
        }
        for f in [
            "sandboxes/sb-1/sandbox.json",
            "sandboxes/sb-1/disk.qcow2",
            "cp/wrenn.db",
            "images/base/v1/rootfs.ext4",
        ] {
            std::fs::write(root.join(f), b"x").expect("file");
            open(&root.join(f), 0o644);
        }
        std::os::unix::fs::symlink("v1", root.join("images/base/current")).expect("link");
        for d in ["", "sandboxes", "sandboxes/sb-1", "cp", "build", "images"] {
            open(&root.join(d), 0o755);
        }
        open(&root.join("build/stage/tmp"), 0o1777);

        let dir = DataDir::new(&root);
        assert!(dir.restrict().expect("restrict") > 0);

        assert_eq!(mode(&root), 0o711);
        assert_eq!(mode(&root.join("sandboxes")), 0o700);
        assert_eq!(mode(&root.join("sandboxes/sb-1")), 0o700);
        assert_eq!(mode(&root.join("sandboxes/sb-1/sandbox.json")), 0o600);
        assert_eq!(mode(&root.join("sandboxes/sb-1/disk.qcow2")), 0o600);
        assert_eq!(mode(&root.join("images/base/v1/rootfs.ext4")), 0o600);
        assert_eq!(mode(&root.join("build")), 0o700);
        // The guest's modes in a staging tree and the control plane's own
        // directory are not the agent's to change.
        assert_eq!(mode(&root.join("build/stage/tmp")), 0o1777);
        assert_eq!(mode(&root.join("cp")), 0o755);
        assert_eq!(mode(&root.join("cp/wrenn.db")), 0o644);
        assert_eq!(dir.restrict().expect("again"), 0, "idempotent");
    }

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
