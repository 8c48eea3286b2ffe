//! The build context a `template build` uploads: the CONTEXT directory as a
//! gzipped tar, minus what its `.dockerignore` leaves out. Entries are
//! relative (`dir/file`, never `/` or `..`), in sorted order so the same tree
//! packs the same way; symbolic links travel as links (never followed, so
//! nothing outside the context leaks in); owners are root, as `COPY` makes
//! them; sockets, FIFOs and devices are skipped.

use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use tar::{EntryType, Header};

use crate::dockerignore::{IgnoreError, IgnoreRules};

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("build context {} is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("cannot read {} in the build context", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Ignore(#[from] IgnoreError),
    #[error("cannot write the build context archive")]
    Write(#[source] io::Error),
}

/// A packed context.
#[derive(Debug)]
pub struct Packed {
    /// The gzipped tar.
    pub archive: Vec<u8>,
    /// Entries in the archive (files, directories, links).
    pub entries: usize,
    /// Bytes of file content before compression.
    pub content_bytes: u64,
    /// Paths left out because they are not files, directories or links.
    pub skipped: Vec<String>,
}

/// Packs `dir` honouring `dir/.dockerignore`.
pub fn pack(dir: &Path) -> Result<Packed, PackError> {
    let meta = fs::metadata(dir).map_err(|source| PackError::Read {
        path: dir.to_owned(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(PackError::NotADirectory {
            path: dir.to_owned(),
        });
    }
    let rules = match fs::read_to_string(dir.join(".dockerignore")) {
        Ok(text) => IgnoreRules::parse(&text)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => IgnoreRules::default(),
        Err(source) => {
            return Err(PackError::Read {
                path: dir.join(".dockerignore"),
                source,
            })
        }
    };
    let mut packer = Packer {
        tar: tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast())),
        rules,
        entries: 0,
        content_bytes: 0,
        skipped: Vec::new(),
    };
    packer.walk(dir, "", &mut Vec::new())?;
    let Packer {
        tar,
        entries,
        content_bytes,
        skipped,
        ..
    } = packer;
    let archive = tar
        .into_inner()
        .and_then(GzEncoder::finish)
        .map_err(PackError::Write)?;
    Ok(Packed {
        archive,
        entries,
        content_bytes,
        skipped,
    })
}

struct Packer {
    tar: tar::Builder<GzEncoder<Vec<u8>>>,
    rules: IgnoreRules,
    entries: usize,
    content_bytes: u64,
    skipped: Vec<String>,
}

impl Packer {
    /// Adds the children of `dir` (whose path in the archive is `prefix`).
    /// `pending` holds excluded parent directories not written yet: they are
    /// written just before the first child a `!` rule brings back.
    fn walk(
        &mut self,
        dir: &Path,
        prefix: &str,
        pending: &mut Vec<(String, Metadata)>,
    ) -> Result<(), PackError> {
        let read = |source| PackError::Read {
            path: dir.to_owned(),
            source,
        };
        let mut names: Vec<_> = fs::read_dir(dir)
            .map_err(read)?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(read)?;
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let rel = format!("{prefix}{}", name.to_string_lossy());
            let meta = fs::symlink_metadata(&path).map_err(|source| PackError::Read {
                path: path.clone(),
                source,
            })?;
            let excluded = self.rules.is_excluded(&rel);
            if meta.is_dir() {
                if !excluded {
                    self.flush(pending)?;
                    self.append_dir(&rel, &meta)?;
                    self.walk(&path, &format!("{rel}/"), pending)?;
                } else if self.rules.has_exceptions() {
                    pending.push((rel.clone(), meta));
                    self.walk(&path, &format!("{rel}/"), pending)?;
                    // Nothing under it came back: it stays out.
                    if pending.last().is_some_and(|(p, _)| *p == rel) {
                        pending.pop();
                    }
                }
                continue;
            }
            if excluded {
                continue;
            }
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).map_err(|source| PackError::Read {
                    path: path.clone(),
                    source,
                })?;
                self.flush(pending)?;
                let mut header = header(EntryType::Symlink, &meta, 0o777);
                self.tar
                    .append_link(&mut header, &rel, &target)
                    .map_err(PackError::Write)?;
                self.entries += 1;
            } else if meta.is_file() {
                let file = File::open(&path).map_err(|source| PackError::Read {
                    path: path.clone(),
                    source,
                })?;
                self.flush(pending)?;
                let mut header = header(EntryType::Regular, &meta, meta.permissions().mode());
                header.set_size(meta.len());
                // The archive is in memory: a failure here is the file's read.
                self.tar
                    .append_data(&mut header, &rel, file.take(meta.len()))
                    .map_err(|source| PackError::Read { path, source })?;
                self.entries += 1;
                self.content_bytes += meta.len();
            } else {
                self.skipped.push(rel);
            }
        }
        Ok(())
    }

    fn flush(&mut self, pending: &mut Vec<(String, Metadata)>) -> Result<(), PackError> {
        for (rel, meta) in std::mem::take(pending) {
            self.append_dir(&rel, &meta)?;
        }
        Ok(())
    }

    fn append_dir(&mut self, rel: &str, meta: &Metadata) -> Result<(), PackError> {
        let mut header = header(EntryType::Directory, meta, meta.permissions().mode());
        header.set_size(0);
        self.tar
            .append_data(&mut header, format!("{rel}/"), io::empty())
            .map_err(PackError::Write)?;
        self.entries += 1;
        Ok(())
    }
}

/// A header owned by root with the entry's permission bits and mtime.
fn header(kind: EntryType, meta: &Metadata, mode: u32) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode & 0o7777);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
    header.set_size(0);
    header
}

#[cfg(test)]
#[path = "build_context_tests.rs"]
mod tests;
