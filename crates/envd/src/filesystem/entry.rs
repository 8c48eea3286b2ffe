//! `EntryInfo` for a path: type, size, mode, owner, modification time,
//! symlink target, from `lstat` (symlinks are reported as themselves), and
//! the user metadata kept in `user.e2b.*` extended attributes.
use std::{
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::Path,
};

use wrenn_proto::filesystem::{EntryInfo, FileType};

use crate::{
    connect::ConnectError,
    users::{group_name, user_name},
};

pub fn entry_info(path: &Path) -> Result<EntryInfo, ConnectError> {
    let meta = std::fs::symlink_metadata(path)
        .map_err(|err| ConnectError::from_io(&err, &format!("stat {}", path.display())))?;
    Ok(from_metadata(path, &meta))
}

pub fn from_metadata(path: &Path, meta: &std::fs::Metadata) -> EntryInfo {
    let file_type = meta.file_type();
    let kind = if file_type.is_symlink() {
        FileType::FILE_TYPE_SYMLINK
    } else if file_type.is_dir() {
        FileType::FILE_TYPE_DIRECTORY
    } else {
        FileType::FILE_TYPE_FILE
    };
    let symlink_target = file_type.is_symlink().then(|| {
        std::fs::canonicalize(path)
            .or_else(|_| std::fs::read_link(path))
            .map(|t| t.display().to_string())
            .unwrap_or_default()
    });
    let mode = meta.permissions().mode();
    EntryInfo {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into()),
        r#type: kind.into(),
        path: path.display().to_string(),
        size: meta.len() as i64,
        mode: mode & 0o7777,
        permissions: permissions_string(mode),
        owner: user_name(meta.uid()),
        group: group_name(meta.gid()),
        modified_time: buffa_types::google::protobuf::Timestamp {
            seconds: meta.mtime(),
            nanos: meta.mtime_nsec() as i32,
            ..Default::default()
        }
        .into(),
        symlink_target,
        is_symlink: file_type.is_symlink(),
        // Best effort, as in E2B's envd: an unreadable attribute set does
        // not fail the entry.
        metadata: crate::metadata::read(path)
            .ok()
            .flatten()
            .map(|m| m.into_iter().collect())
            .unwrap_or_default(),
        ..Default::default()
    }
}

/// `ls`-style mode string as Go's `FileMode.String()` prints it.
pub fn permissions_string(mode: u32) -> String {
    let kind = match mode & libc::S_IFMT {
        libc::S_IFDIR => 'd',
        libc::S_IFLNK => 'L',
        libc::S_IFIFO => 'p',
        libc::S_IFSOCK => 'S',
        libc::S_IFCHR => 'c',
        libc::S_IFBLK => 'D',
        _ => '-',
    };
    let mut out = String::with_capacity(10);
    out.push(kind);
    for shift in [6u32, 3, 0] {
        let bits = (mode >> shift) & 7;
        out.push(if bits & 4 != 0 { 'r' } else { '-' });
        out.push(if bits & 2 != 0 { 'w' } else { '-' });
        out.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_string_for_dir_and_file() {
        assert_eq!(permissions_string(libc::S_IFDIR | 0o755), "drwxr-xr-x");
        assert_eq!(permissions_string(libc::S_IFREG | 0o640), "-rw-r-----");
    }

    #[test]
    fn entry_info_reports_symlink_target() {
        let dir = std::env::temp_dir().join(format!("envd-entry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("f"), b"abc").expect("write");
        std::os::unix::fs::symlink(dir.join("f"), dir.join("l")).expect("symlink");
        let file = entry_info(&dir.join("f")).expect("stat");
        assert_eq!(file.size, 3);
        assert_eq!(file.r#type.as_known(), Some(FileType::FILE_TYPE_FILE));
        let link = entry_info(&dir.join("l")).expect("stat");
        assert!(link.is_symlink);
        assert!(link.symlink_target.expect("target").ends_with("/f"));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
