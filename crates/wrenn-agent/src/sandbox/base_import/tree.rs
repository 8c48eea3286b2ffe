//! Paths inside a root tree that came from elsewhere (an image's layers, a
//! debootstrap): resolved as if the tree were `/` (symlinks followed
//! inside it, `..` stopping at its root), so writing to a resolved path
//! never lands on the host, and files written by the importer itself.
use std::{
    os::unix::fs::PermissionsExt,
    path::{Component, Path, PathBuf},
};

/// Most symlinks one path may traverse (as Linux's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// `rel` inside `root`, the symlinks of its directories resolved as if
/// `root` were `/` (and the last component's too with `follow_last`).
/// `None` after too many links.
pub fn resolve(root: &Path, rel: &Path, follow_last: bool) -> Option<PathBuf> {
    let mut pending: Vec<String> = components(rel);
    pending.reverse();
    let mut at: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            at.pop();
            continue;
        }
        let candidate = root.join(at.iter().collect::<PathBuf>()).join(&part);
        let last = pending.is_empty();
        match std::fs::read_link(&candidate) {
            Ok(target) if !last || follow_last => {
                links += 1;
                if links > MAX_LINKS {
                    return None;
                }
                if target.is_absolute() {
                    at.clear();
                }
                let mut more = components(&target);
                more.reverse();
                pending.extend(more);
            }
            _ => at.push(part),
        }
    }
    Some(root.join(at.iter().collect::<PathBuf>()))
}

/// The normal components of a path, `..` kept.
fn components(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// Removes whatever is at `path`, never following a symlink.
pub fn remove(path: &Path) -> std::io::Result<()> {
    match path.symlink_metadata() {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn links_error() -> std::io::Error {
    std::io::Error::other("too many symbolic links in the image")
}

/// The directory `rel` inside `root`, made if missing.
pub fn dir(root: &Path, rel: &str) -> std::io::Result<PathBuf> {
    let path = resolve(root, Path::new(rel), true).ok_or_else(links_error)?;
    make_dirs(&path)?;
    Ok(path)
}

/// Makes `path` and its missing parents with mode 0755 whatever the
/// process's umask: the agent's is 077, which would leave directories an
/// image only implies unreadable to the guest's users (`/home` of
/// `/home/user`, say).
pub fn make_dirs(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        make_dirs(parent)?;
    }
    match std::fs::create_dir(path) {
        Ok(()) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to the file `rel` inside `root` with `mode`, replacing
/// what was there (a symlink is replaced, not followed).
pub fn write(root: &Path, rel: &str, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let rel = Path::new(rel);
    let parent = dir(
        root,
        &rel.parent().unwrap_or(Path::new("")).to_string_lossy(),
    )?;
    let name = rel
        .file_name()
        .ok_or_else(|| std::io::Error::other("no file name"))?;
    let path = parent.join(name);
    remove(&path)?;
    std::fs::write(&path, bytes)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
}

/// The file `rel` inside `root`, if it is there.
pub fn read(root: &Path, rel: &str) -> Option<String> {
    let path = resolve(root, Path::new(rel), true)?;
    std::fs::read_to_string(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_when_parent_is_absolute_symlink_then_stays_inside() {
        let tmp = tempfile::tempdir().expect("tmp");
        let outside = tmp.path().join("host-etc");
        std::fs::create_dir(&outside).expect("mkdir");
        let root = tmp.path().join("root");
        std::fs::create_dir(&root).expect("mkdir");
        std::os::unix::fs::symlink(&outside, root.join("etc")).expect("symlink");
        write(&root, "etc/hostname", b"wrenn\n", 0o644).expect("write");
        assert!(!outside.join("hostname").exists());
        assert_eq!(read(&root, "etc/hostname").as_deref(), Some("wrenn\n"));
    }

    #[test]
    fn write_when_file_is_symlink_then_replaced_not_followed() {
        let tmp = tempfile::tempdir().expect("tmp");
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "safe").expect("write");
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        std::os::unix::fs::symlink(&victim, root.join("etc/hosts")).expect("symlink");
        write(&root, "etc/hosts", b"127.0.0.1 localhost\n", 0o644).expect("write");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "safe");
    }

    #[test]
    fn resolve_when_symlink_loop_then_none() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::os::unix::fs::symlink("b", tmp.path().join("a")).expect("symlink");
        std::os::unix::fs::symlink("a", tmp.path().join("b")).expect("symlink");
        assert!(resolve(tmp.path(), Path::new("a/x"), true).is_none());
    }
}
