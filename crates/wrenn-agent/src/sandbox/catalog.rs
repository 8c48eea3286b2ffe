//! The template images on this host: listing, publishing and removal. The
//! layout is the image builder's (images/rootfs/build.sh):
//! `<data>/images/<template>/<version>/rootfs.ext4` with
//! `<data>/images/<template>/current -> <version>` (a relative link).
//! Staging happens in a dot directory beside the templates, which no
//! template name can match, and is published by one `rename`, so a half
//! image is never visible under a template's name.
use std::{
    path::{Path, PathBuf},
    time::UNIX_EPOCH,
};

use super::{id::random_string, template::SNAPSHOT_COMPLETE, TemplateName};
use crate::paths::DataDir;

const MIB: u64 = 1024 * 1024;
const ROOTFS: &str = "rootfs.ext4";
const CURRENT: &str = "current";

/// A published template image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateInfo {
    pub name: TemplateName,
    pub disk_mib: u64,
    /// A complete memory snapshot of the current version exists (any shape).
    pub has_memory_snapshot: bool,
    /// When `current` was last pointed somewhere (Unix ms).
    pub created_at_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("template '{0}' already exists")]
    Exists(TemplateName),
    #[error("cannot publish template image at {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The template images and their memory snapshots in one data directory.
#[derive(Debug, Clone)]
pub struct TemplateCatalog {
    images: PathBuf,
    snapshots: PathBuf,
}

impl TemplateCatalog {
    pub fn new(data: &DataDir) -> Self {
        Self {
            images: data.root().join("images"),
            snapshots: data.root().join("snapshots/templates"),
        }
    }

    /// `<data>/images`.
    pub fn images_dir(&self) -> &Path {
        &self.images
    }

    fn dir(&self, name: &TemplateName) -> PathBuf {
        self.images.join(name.as_str())
    }

    /// Whether anything (even a broken entry) holds the template's name.
    pub fn exists(&self, name: &TemplateName) -> bool {
        self.dir(name).symlink_metadata().is_ok()
    }

    /// The template, if its current image is in place.
    pub fn info(&self, name: &TemplateName) -> Option<TemplateInfo> {
        let current = self.dir(name).join(CURRENT);
        let image = std::fs::canonicalize(current.join(ROOTFS)).ok()?;
        let size = std::fs::metadata(&image).ok()?.len();
        let version = image.parent()?.file_name()?.to_string_lossy().into_owned();
        let created_at_ms = current
            .symlink_metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Some(TemplateInfo {
            name: name.clone(),
            disk_mib: size.div_ceil(MIB),
            has_memory_snapshot: self
                .snapshot_dirs(name)
                .any(|(v, dir)| v == version && dir.join(SNAPSHOT_COMPLETE).is_file()),
            created_at_ms,
        })
    }

    /// The directory of the template's current image version (canonical).
    pub fn version_dir(&self, name: &TemplateName) -> Option<PathBuf> {
        let image = std::fs::canonicalize(self.dir(name).join(CURRENT).join(ROOTFS)).ok()?;
        image.parent().map(Path::to_path_buf)
    }

    /// Every published template, by name.
    pub fn list(&self) -> Vec<TemplateInfo> {
        let mut all: Vec<TemplateInfo> = std::fs::read_dir(&self.images)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<TemplateName>().ok())
            .filter_map(|name| self.info(&name))
            .collect();
        all.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
        all
    }

    /// A fresh staging area for a new template's first image version.
    pub fn stage(&self, name: &TemplateName) -> Result<StagedImage, PublishError> {
        let version = random_string(16);
        let root = self
            .images
            .join(format!(".tmp-{name}-{}", random_string(8)));
        let version_dir = root.join(&version);
        std::fs::create_dir_all(&version_dir).map_err(|source| PublishError::Io {
            path: version_dir,
            source,
        })?;
        Ok(StagedImage {
            root,
            version,
            name: name.clone(),
            target: self.dir(name),
            published: false,
        })
    }

    /// Removes the template's image directory and every memory snapshot of
    /// it. The directory is renamed away first, so the template vanishes at
    /// once even if deleting its files takes a while.
    pub fn remove(&self, name: &TemplateName) -> std::io::Result<()> {
        let doomed = self
            .images
            .join(format!(".del-{name}-{}", random_string(8)));
        std::fs::rename(self.dir(name), &doomed)?;
        for (_, dir) in self.snapshot_dirs(name).collect::<Vec<_>>() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::remove_dir_all(doomed)
    }

    /// Removes what an agent killed mid-operation left beside the
    /// templates: staging areas (`.tmp-*`) of images never published and
    /// images renamed away (`.del-*`) but not yet deleted. Call at start-up,
    /// before anything stages or removes an image. Answers how many went.
    pub fn sweep_staging(&self) -> usize {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.images)
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name();
            let leftover = name
                .to_str()
                .is_some_and(|n| n.starts_with(".tmp-") || n.starts_with(".del-"));
            if !leftover {
                continue;
            }
            let path = entry.path();
            let gone = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match gone {
                Ok(()) => removed += 1,
                Err(err) => {
                    tracing::warn!(path = %path.display(), %err, "cannot remove a template staging leftover");
                }
            }
        }
        removed
    }

    /// `(version, dir)` of the snapshot directories of `name`, named
    /// `<name>-<version>-<N>c<M>m` (see `TemplateSnapshots::dir`). The shape
    /// suffix is checked so that `a` never claims the snapshots of `a-b`.
    fn snapshot_dirs<'a>(
        &'a self,
        name: &'a TemplateName,
    ) -> impl Iterator<Item = (String, PathBuf)> + 'a {
        let prefix = format!("{name}-");
        std::fs::read_dir(&self.snapshots)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(move |e| {
                let file_name = e.file_name();
                let rest = file_name.to_str()?.strip_prefix(&prefix)?;
                let (version, shape) = rest.split_once('-')?;
                is_shape(shape).then(|| (version.to_owned(), e.path()))
            })
    }
}

/// `<N>c<M>m` with decimal N and M, and the memory-format suffix if any.
fn is_shape(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let text = ["-firecracker", "-rf"]
        .iter()
        .find_map(|suffix| text.strip_suffix(suffix))
        .unwrap_or(text);
    text.strip_suffix('m')
        .and_then(|t| t.split_once('c'))
        .is_some_and(|(n, m)| digits(n) && digits(m))
}

/// A template image being built; removed on drop unless published.
#[derive(Debug)]
pub struct StagedImage {
    root: PathBuf,
    version: String,
    name: TemplateName,
    target: PathBuf,
    published: bool,
}

impl StagedImage {
    /// The staged version directory: `rootfs.ext4` and the image's
    /// metadata (`start.json`); every regular file in it is part of the
    /// image (see `template_manifest`).
    pub fn version_dir(&self) -> PathBuf {
        self.root.join(&self.version)
    }

    /// Where the raw root file system goes.
    pub fn rootfs(&self) -> PathBuf {
        self.version_dir().join(ROOTFS)
    }

    /// Points `current` at the staged version and moves the whole template
    /// directory into place in one rename.
    pub fn publish(mut self) -> Result<(), PublishError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PublishError::Io { path, source }
        };
        let current = self.root.join(CURRENT);
        std::os::unix::fs::symlink(&self.version, &current).map_err(io(&current))?;
        if self.target.symlink_metadata().is_ok() {
            return Err(PublishError::Exists(self.name.clone()));
        }
        match std::fs::rename(&self.root, &self.target) {
            Ok(()) => {
                self.published = true;
                Ok(())
            }
            // Lost a race with another publisher of the same name.
            Err(e) if self.target.symlink_metadata().is_ok() => {
                tracing::debug!(error = %e, "template appeared while publishing");
                Err(PublishError::Exists(self.name.clone()))
            }
            Err(source) => Err(io(&self.target)(source)),
        }
    }
}

impl Drop for StagedImage {
    fn drop(&mut self) {
        if !self.published {
            if let Err(err) = std::fs::remove_dir_all(&self.root) {
                tracing::warn!(path = %self.root.display(), %err, "removing a staged template image failed");
            }
        }
    }
}

#[cfg(test)]
mod tests;
