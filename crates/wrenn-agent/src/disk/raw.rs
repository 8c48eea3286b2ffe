//! Raw-image disks: reflink clones (`FICLONE`) and sparse copies, and the
//! probe that picks between them for a directory.
use std::{
    fs::{File, OpenOptions},
    io::{Read, Seek, SeekFrom, Write},
    path::Path,
};

use super::{DiskError, DiskStrategy, StrategyChoice};

const CHUNK: usize = 64 * 1024;

fn create_new(dest: &Path) -> Result<File, DiskError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => DiskError::Exists(dest.to_path_buf()),
            _ => DiskError::Io {
                path: dest.to_path_buf(),
                source,
            },
        })
}

fn open_template(template: &Path) -> Result<File, DiskError> {
    File::open(template).map_err(|source| DiskError::Template {
        path: template.to_path_buf(),
        source,
    })
}

fn grow(file: &File, dest: &Path, size: u64) -> Result<(), DiskError> {
    file.set_len(size).map_err(|source| DiskError::Io {
        path: dest.to_path_buf(),
        source,
    })
}

/// Clones `template` into `dest` sharing its extents, then grows it to `size`.
pub(super) fn reflink(template: &Path, dest: &Path, size: u64) -> Result<(), DiskError> {
    let source = open_template(template)?;
    let target = create_new(dest)?;
    rustix::fs::ioctl_ficlone(&target, &source).map_err(|errno| DiskError::Reflink {
        dest: dest.to_path_buf(),
        source: errno.into(),
    })?;
    grow(&target, dest, size)
}

/// Copies `template` into `dest`, leaving holes where the template has zero
/// blocks, then grows it to `size`.
pub(super) fn sparse_copy(template: &Path, dest: &Path, size: u64) -> Result<(), DiskError> {
    let mut source = open_template(template)?;
    let mut target = create_new(dest)?;
    let io_error = |source| DiskError::Io {
        path: dest.to_path_buf(),
        source,
    };
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = read_full(&mut source, &mut buf).map_err(|source| DiskError::Template {
            path: template.to_path_buf(),
            source,
        })?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().all(|&b| b == 0) {
            target.seek(SeekFrom::Current(n as i64)).map_err(io_error)?;
        } else {
            target.write_all(&buf[..n]).map_err(io_error)?;
        }
    }
    target.sync_all().map_err(io_error)?;
    grow(&target, dest, size)
}

fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Picks the raw-image strategy for disks created in `dir`: reflink when a
/// `FICLONE` between two scratch files there succeeds, else a sparse copy.
/// (Device-mapper snapshots are not implemented.)
pub fn detect_raw_strategy(dir: &Path) -> Result<StrategyChoice, DiskError> {
    let io_error = |source| DiskError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io_error)?;
    let probe = dir.join(format!(".reflink-probe-{}", std::process::id()));
    let clone = dir.join(format!(".reflink-probe-{}.clone", std::process::id()));
    let attempt = (|| -> std::io::Result<()> {
        let mut source = File::create(&probe)?;
        source.write_all(&[0xa5; 4096])?;
        source.sync_all()?;
        let target = File::create(&clone)?;
        rustix::fs::ioctl_ficlone(&target, &source)?;
        Ok(())
    })();
    super::remove_partial(&probe);
    super::remove_partial(&clone);
    Ok(match attempt {
        Ok(()) => StrategyChoice {
            strategy: DiskStrategy::Reflink,
            reason: format!("FICLONE works in {}", dir.display()),
        },
        Err(e) => StrategyChoice {
            strategy: DiskStrategy::SparseCopy,
            reason: format!(
                "FICLONE fails in {} ({e}); device-mapper snapshots not implemented",
                dir.display()
            ),
        },
    })
}
