//! Missing parent directories, made the way E2B's envd makes them
//! (`permissions.EnsureDirs`): by envd itself (root), mode 0755, each new
//! one handed to the requesting user, anywhere in the tree (`/data/x`
//! works for `user` although `/` belongs to root). Existing directories
//! are left as they are; a file in the way is an error.
//!
//! The walk holds each parent open and works relative to it, and the new
//! directory is chowned without following a symlink, so swapping a path
//! component for a symlink meanwhile cannot make envd chown another file.
#![allow(
    unsafe_code,
    reason = "adopting the descriptor openat returns; the block has a SAFETY note"
)]

use std::{
    ffi::OsStr,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::{Component, Path},
};

use nix::{
    errno::Errno,
    fcntl::{openat, AtFlags, OFlag},
    sys::stat::{mkdirat, Mode},
    unistd::fchownat,
};

use crate::{connect::ConnectError, users::UserInfo};

/// Makes every missing directory of the absolute `dir` as root, owned by
/// `user`. Runs on a blocking thread with envd's own (root) identity.
pub async fn ensure_dirs(dir: &Path, user: &UserInfo) -> Result<(), ConnectError> {
    let dir = dir.to_path_buf();
    let (uid, gid) = (user.uid, user.gid);
    tokio::task::spawn_blocking(move || ensure_dirs_blocking(&dir, uid, gid))
        .await
        .map_err(|err| ConnectError::internal(format!("worker failed: {err}")))?
}

fn ensure_dirs_blocking(
    dir: &Path,
    uid: nix::unistd::Uid,
    gid: nix::unistd::Gid,
) -> Result<(), ConnectError> {
    let failed = |what: &str, at: &Path, err: Errno| {
        ConnectError::from_io(
            &std::io::Error::from(err),
            &format!("{what} {}", at.display()),
        )
    };
    let mut current =
        open_dir(None, OsStr::new("/")).map_err(|e| failed("open", Path::new("/"), e))?;
    let mut at = std::path::PathBuf::from("/");
    for component in dir.components() {
        let Component::Normal(name) = component else {
            continue;
        };
        at.push(name);
        let next = match open_dir(Some(&current), name) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                match mkdirat(
                    Some(current.as_raw_fd()),
                    name,
                    Mode::from_bits_truncate(0o755),
                ) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(err) => return Err(failed("mkdir", &at, err)),
                }
                // Chowned even when another request made it first: it may
                // not have chowned it yet (E2B does the same).
                fchownat(
                    Some(current.as_raw_fd()),
                    name,
                    Some(uid),
                    Some(gid),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|err| failed("chown", &at, err))?;
                open_dir(Some(&current), name).map_err(|err| failed("open", &at, err))?
            }
            Err(Errno::ENOTDIR) => {
                return Err(ConnectError::invalid_argument(format!(
                    "{} exists and is not a directory",
                    at.display()
                )))
            }
            Err(err) => return Err(failed("open", &at, err)),
        };
        current = next;
    }
    Ok(())
}

/// Opens a directory (following a symlink, as `os.Stat` does in E2B's walk).
fn open_dir(parent: Option<&OwnedFd>, name: &OsStr) -> Result<OwnedFd, Errno> {
    let fd = openat(
        parent.map(AsRawFd::as_raw_fd),
        name,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: `openat` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn ensure_dirs_when_missing_then_made_and_chowned_existing_left_alone() {
        let root = std::env::temp_dir().join(format!("envd-dirs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("mkdir");
        let before = std::fs::metadata(&root).expect("stat");
        let me = nix::unistd::Uid::current();
        // As root the new directories can go to another owner; otherwise
        // only to ourselves.
        let (uid, gid) = if me.is_root() {
            (
                nix::unistd::Uid::from_raw(4242),
                nix::unistd::Gid::from_raw(4243),
            )
        } else {
            (me, nix::unistd::Gid::current())
        };
        let deep = root.join("a/b/c");
        ensure_dirs_blocking(&deep, uid, gid).expect("ensure");
        for dir in [root.join("a"), root.join("a/b"), deep.clone()] {
            let meta = std::fs::metadata(&dir).expect("made");
            assert!(meta.is_dir());
            assert_eq!(
                (meta.uid(), meta.gid()),
                (uid.as_raw(), gid.as_raw()),
                "{dir:?}"
            );
        }
        let after = std::fs::metadata(&root).expect("stat");
        assert_eq!(
            before.uid(),
            after.uid(),
            "an existing directory keeps its owner"
        );
        // Twice is fine.
        ensure_dirs_blocking(&deep, uid, gid).expect("idempotent");
        std::fs::write(root.join("file"), b"x").expect("file");
        let err =
            ensure_dirs_blocking(&root.join("file/sub"), uid, gid).expect_err("a file in the way");
        assert_eq!(err.code, crate::connect::Code::InvalidArgument);
        std::fs::remove_dir_all(&root).expect("cleanup");
    }
}
