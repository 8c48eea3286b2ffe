//! Applying OCI layers (tar streams) to a root tree in order, as the image
//! spec's "applying changesets" says: `.wh.<name>` removes `<name>` from
//! the layers below, `.wh..wh..opq` empties its directory of what the
//! layers below put there, anything else replaces what was at its path.
//!
//! Nothing a layer holds may write outside the tree: paths are resolved
//! component by component inside the tree (a symlink on the way is
//! followed as if the tree were `/`, the way a container sees it, never on
//! the host), `..` stops at the tree's root, hard links must point at
//! something already in the tree, and device nodes are skipped (a sandbox
//! gets its devices from the guest kernel's devtmpfs).
use std::{
    collections::HashSet,
    io::Read,
    path::{Component, Path, PathBuf},
};

use super::tree::{make_dirs, remove, resolve};

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("layer {layer}: entry '{path}' would leave the root ({why})")]
    Escape {
        layer: usize,
        path: String,
        why: &'static str,
    },
    #[error("layer {layer}: malformed tar stream")]
    Tar {
        layer: usize,
        #[source]
        source: std::io::Error,
    },
    #[error("layer {layer}: cannot write '{path}'")]
    Write {
        layer: usize,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// What applying the layers did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UnpackReport {
    pub entries: u64,
    pub whiteouts: u64,
    /// Device nodes left out.
    pub devices_skipped: u64,
}

/// Applies layers to `root`; `owners`: keep the tar's uid/gid (needs root).
#[derive(Debug)]
pub struct Unpacker {
    root: PathBuf,
    owners: bool,
    report: UnpackReport,
}

impl Unpacker {
    pub fn new(root: &Path, owners: bool) -> Self {
        Self {
            root: root.to_path_buf(),
            owners,
            report: UnpackReport::default(),
        }
    }

    pub fn report(&self) -> &UnpackReport {
        &self.report
    }

    /// Applies one uncompressed tar stream, layer number `layer` (for
    /// messages).
    pub fn apply(&mut self, layer: usize, stream: impl Read) -> Result<(), UnpackError> {
        let mut archive = tar::Archive::new(stream);
        archive.set_preserve_permissions(true);
        archive.set_preserve_mtime(true);
        archive.set_preserve_ownerships(self.owners);
        archive.set_unpack_xattrs(false);
        archive.set_overwrite(true);
        let tar_err = |source| UnpackError::Tar { layer, source };
        // Paths this layer wrote: an opaque whiteout spares them.
        let mut written: HashSet<PathBuf> = HashSet::new();
        for entry in archive.entries().map_err(tar_err)? {
            let mut entry = entry.map_err(tar_err)?;
            let raw = entry.path().map_err(tar_err)?.into_owned();
            let shown = raw.display().to_string();
            let Some(rel) = clean(&raw) else {
                return Err(UnpackError::Escape {
                    layer,
                    path: shown,
                    why: "'..' above the root",
                });
            };
            let Some(name) = rel.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue; // the root itself
            };
            let parent_rel = rel.parent().unwrap_or(Path::new(""));
            let escape = |why| UnpackError::Escape {
                layer,
                path: shown.clone(),
                why,
            };
            let parent =
                resolve(&self.root, parent_rel, true).ok_or_else(|| escape("too many symlinks"))?;
            let write_err = |source| UnpackError::Write {
                layer,
                path: shown.clone(),
                source,
            };
            if name == OPAQUE {
                self.report.whiteouts += 1;
                empty_dir(&parent, &written).map_err(write_err)?;
                continue;
            }
            if let Some(hidden) = name.strip_prefix(WHITEOUT) {
                self.report.whiteouts += 1;
                remove(&parent.join(hidden)).map_err(write_err)?;
                continue;
            }
            let kind = entry.header().entry_type();
            if kind.is_block_special() || kind.is_character_special() {
                self.report.devices_skipped += 1;
                continue;
            }
            make_dirs(&parent).map_err(write_err)?;
            let dest = parent.join(&name);
            let existing = dest.symlink_metadata().ok();
            match (&existing, kind.is_dir()) {
                (Some(m), true) if m.is_dir() => {}
                (Some(_), _) => remove(&dest).map_err(write_err)?,
                (None, _) => {}
            }
            if kind.is_hard_link() {
                let target = entry
                    .link_name()
                    .map_err(tar_err)?
                    .ok_or_else(|| escape("hard link without a target"))?;
                let target = clean(&target).ok_or_else(|| escape("hard link above the root"))?;
                let target = resolve(&self.root, &target, false)
                    .ok_or_else(|| escape("too many symlinks"))?;
                if !target.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
                    return Err(escape("hard link to nothing in the tree"));
                }
                std::fs::hard_link(&target, &dest).map_err(write_err)?;
            } else {
                entry.unpack(&dest).map_err(write_err)?;
            }
            written.insert(dest);
            self.report.entries += 1;
        }
        Ok(())
    }
}

/// A tar path as a relative path without `.`; `None` when `..` leaves
/// the root. A leading `/` is dropped (tar paths are relative to the root).
fn clean(path: &Path) -> Option<PathBuf> {
    let mut out: Vec<&std::ffi::OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::ParentDir => {
                out.pop()?;
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(out.iter().collect())
}

/// Empties `dir` of everything but what this layer wrote.
fn empty_dir(dir: &Path, keep: &HashSet<PathBuf>) -> std::io::Result<()> {
    if !dir.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if !keep.contains(&path) {
            remove(&path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
