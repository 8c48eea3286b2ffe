//! OS users that requests act as, path resolution against their home, and
//! running filesystem work with their credentials (`setfsuid`, per thread).
use std::path::{Component, Path, PathBuf};

use nix::unistd::{Gid, Group, Uid, User};

use crate::connect::ConnectError;

/// A resolved OS user.
#[derive(Clone, Debug)]
pub struct UserInfo {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    pub home: PathBuf,
    pub shell: PathBuf,
}

impl UserInfo {
    /// Looks a user up by name; unknown users are `invalid_argument`.
    pub fn lookup(name: &str) -> Result<Self, ConnectError> {
        if name.is_empty() || name.contains(['/', '\0', ':']) {
            return Err(ConnectError::invalid_argument(format!(
                "invalid user name {name:?}"
            )));
        }
        match User::from_name(name) {
            Ok(Some(user)) => Ok(Self {
                name: user.name,
                uid: user.uid,
                gid: user.gid,
                home: user.dir,
                shell: user.shell,
            }),
            Ok(None) => Err(ConnectError::invalid_argument(format!(
                "user {name:?} does not exist"
            ))),
            Err(err) => Err(ConnectError::internal(format!(
                "looking up user {name:?}: {err}"
            ))),
        }
    }

    /// Supplementary groups from /etc/group (computed before any fork).
    pub fn groups(&self) -> Vec<Gid> {
        let Ok(cname) = std::ffi::CString::new(self.name.as_str()) else {
            return vec![self.gid];
        };
        nix::unistd::getgrouplist(&cname, self.gid).unwrap_or_else(|_| vec![self.gid])
    }
}

/// Name of a uid / gid for `EntryInfo.owner` / `group` (number if unknown).
pub fn user_name(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => user.name,
        _ => uid.to_string(),
    }
}

pub fn group_name(gid: u32) -> String {
    match Group::from_gid(Gid::from_raw(gid)) {
        Ok(Some(group)) => group.name,
        _ => gid.to_string(),
    }
}

/// Resolves a client path: `~` and relative paths against `home`, then `.`
/// and `..` lexically (symlinks are left to the kernel). Empty paths and
/// NUL bytes are rejected.
pub fn resolve_path(path: &str, home: &Path) -> Result<PathBuf, ConnectError> {
    if path.is_empty() {
        return Err(ConnectError::invalid_argument("path is empty"));
    }
    if path.contains('\0') {
        return Err(ConnectError::invalid_argument("path contains a NUL byte"));
    }
    let joined = if path == "~" {
        home.to_path_buf()
    } else if let Some(rest) = path.strip_prefix("~/") {
        home.join(rest)
    } else if path.starts_with('/') {
        PathBuf::from(path)
    } else {
        home.join(path)
    };
    let mut out = PathBuf::from("/");
    for component in joined.components() {
        match component {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => out.push(part),
        }
    }
    Ok(out)
}

/// Runs blocking filesystem work on a blocking thread with the user's
/// filesystem uid/gid, so the kernel applies that user's permissions and new
/// files belong to them. Root's identity is restored before the thread is
/// reused.
pub async fn run_as<T, F>(user: &UserInfo, work: F) -> Result<T, ConnectError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ConnectError> + Send + 'static,
{
    let (uid, gid) = (user.uid, user.gid);
    tokio::task::spawn_blocking(move || {
        let _guard = FsIdentity::assume(uid, gid);
        work()
    })
    .await
    .map_err(|err| ConnectError::internal(format!("worker failed: {err}")))?
}

/// Restores the thread's filesystem ids when dropped.
struct FsIdentity {
    uid: Uid,
    gid: Gid,
}

impl FsIdentity {
    fn assume(uid: Uid, gid: Gid) -> Self {
        // setfsgid first: after setfsuid to a non-root user we could not
        // change the gid any more.
        let old_gid = nix::unistd::setfsgid(gid);
        let old_uid = nix::unistd::setfsuid(uid);
        Self {
            uid: old_uid,
            gid: old_gid,
        }
    }
}

impl Drop for FsIdentity {
    fn drop(&mut self) {
        nix::unistd::setfsuid(self.uid);
        nix::unistd::setfsgid(self.gid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> PathBuf {
        PathBuf::from("/home/user")
    }

    #[test]
    fn resolve_path_when_relative_then_under_home() {
        assert_eq!(
            resolve_path("a/b.txt", &home()).expect("ok"),
            PathBuf::from("/home/user/a/b.txt")
        );
    }

    #[test]
    fn resolve_path_when_tilde_then_home() {
        assert_eq!(resolve_path("~", &home()).expect("ok"), home());
        assert_eq!(
            resolve_path("~/x", &home()).expect("ok"),
            PathBuf::from("/home/user/x")
        );
    }

    #[test]
    fn resolve_path_when_absolute_then_normalised() {
        assert_eq!(
            resolve_path("/tmp/./a/../b", &home()).expect("ok"),
            PathBuf::from("/tmp/b")
        );
    }

    #[test]
    fn resolve_path_when_dotdot_past_root_then_stays_at_root() {
        assert_eq!(
            resolve_path("../../../../etc", &home()).expect("ok"),
            PathBuf::from("/etc")
        );
    }

    #[test]
    fn resolve_path_when_empty_or_nul_then_invalid_argument() {
        assert!(resolve_path("", &home()).is_err());
        assert!(resolve_path("a\0b", &home()).is_err());
    }

    #[test]
    fn lookup_when_user_missing_then_invalid_argument() {
        let err = UserInfo::lookup("no-such-user-wrenn").expect_err("missing");
        assert_eq!(err.code, crate::connect::Code::InvalidArgument);
    }

    #[test]
    fn lookup_root_has_uid_zero() {
        let root = UserInfo::lookup("root").expect("root exists");
        assert_eq!(root.uid.as_raw(), 0);
    }
}
