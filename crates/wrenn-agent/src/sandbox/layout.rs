//! Where a sandbox's files live: `<data>/sandboxes/<id>/` with the record
//! (`sandbox.json`), the disk (named by the host's disk format), `run/`
//! (console, control socket) and `snapshot/` (a paused sandbox's memory);
//! `<data>/layers/` holds fork layers and `<data>/forks/` forks under way.
//! Also the pinning of a template image to its canonical, versioned path.
use std::path::{Path, PathBuf};

use super::{
    id::{SandboxId, TemplateName},
    record::{SandboxRecord, RECORD_FILE},
    SandboxError,
};
use crate::paths::DataDir;

const RUN_DIR: &str = "run";
const SNAPSHOT_DIR: &str = "snapshot";
const LAYERS_DIR: &str = "layers";
const FORKS_DIR: &str = "forks";
const WARM_DIR: &str = "warm";

/// The sandboxes directory and the disk file name; a plain value.
#[derive(Debug, Clone)]
pub struct Layout {
    sandboxes: PathBuf,
    disk_file: &'static str,
}

impl Layout {
    pub fn new(data: &DataDir, disk_file: &'static str) -> Self {
        Self {
            sandboxes: data.root().join("sandboxes"),
            disk_file,
        }
    }

    /// The same layout under `<data>/warm`: pooled sandboxes live there
    /// until a create claims one and its directory moves to `sandboxes/`.
    pub fn warm(&self) -> Self {
        Self {
            sandboxes: self.sandboxes.with_file_name(WARM_DIR),
            disk_file: self.disk_file,
        }
    }

    /// `<data>/sandboxes`, holding one directory per sandbox.
    pub fn sandboxes(&self) -> &Path {
        &self.sandboxes
    }

    pub fn dir(&self, id: &SandboxId) -> PathBuf {
        self.sandboxes.join(id.as_str())
    }

    pub fn disk(&self, id: &SandboxId) -> PathBuf {
        self.dir(id).join(self.disk_file)
    }

    /// The disk the sandbox of `record` writes: the default name, or the
    /// layer a fork moved it to.
    pub fn active_disk(&self, record: &SandboxRecord) -> PathBuf {
        match &record.disk_file {
            Some(file) => self.dir(&record.id).join(file),
            None => self.disk(&record.id),
        }
    }

    /// `<data>/layers`: fork layers, shared by the sandboxes that read them.
    pub fn layers(&self) -> PathBuf {
        self.sandboxes.with_file_name(LAYERS_DIR)
    }

    /// `<data>/forks`: memory images of forks under way.
    pub fn forks(&self) -> PathBuf {
        self.sandboxes.with_file_name(FORKS_DIR)
    }

    /// `<data>/forks/<name>`: a fork's memory image while its copies start.
    pub fn fork_dir(&self, name: &str) -> PathBuf {
        self.forks().join(name)
    }

    pub fn run_dir(&self, id: &SandboxId) -> PathBuf {
        self.dir(id).join(RUN_DIR)
    }

    pub fn snapshot_dir(&self, id: &SandboxId) -> PathBuf {
        self.dir(id).join(SNAPSHOT_DIR)
    }
}

/// The canonical (hash-versioned) image of `template`: later template
/// rebuilds must not change the base of a sandbox made from it.
pub fn pinned_image(data: &DataDir, template: &TemplateName) -> Result<PathBuf, SandboxError> {
    let image = data
        .template_image(template.as_str())
        .map_err(|_| SandboxError::UnknownTemplate(template.to_string()))?;
    std::fs::canonicalize(&image).map_err(|source| SandboxError::storage(&image, source))
}

/// Removes `path` (file or directory tree) if it exists.
pub fn remove_path(path: &Path) -> std::io::Result<()> {
    let removed = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match removed {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// [`remove_path`], logging a failure: for clean-ups whose failure leaves
/// only litter behind, never a wrong state.
pub fn remove_logged(path: &Path, what: &str) {
    if let Err(err) = remove_path(path) {
        tracing::warn!(path = %path.display(), %err, "removing {what} failed");
    }
}

/// After a failed start: keep only `sandbox.json` (the error record).
pub fn remove_contents_except_record(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == RECORD_FILE) {
            continue;
        }
        remove_logged(&path, "a failed sandbox's file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_contents_when_failed_start_then_only_record_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(RECORD_FILE), b"{}").expect("record");
        std::fs::write(dir.path().join("disk.ext4"), b"x").expect("disk");
        std::fs::create_dir_all(dir.path().join("run/inner")).expect("run");

        remove_contents_except_record(dir.path());

        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from(RECORD_FILE)]);
    }

    #[test]
    fn remove_path_when_missing_then_ok() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(remove_path(&dir.path().join("none")).is_ok());
    }
}
