//! Turning a root tree into a Wrenn template image the way
//! images/rootfs/build.sh does: debootstrap for a Debian base, then envd
//! as `/usr/bin/envd` (copied out of this host's `base` image with
//! `debugfs`, so an imported base runs the same envd as every other
//! template here), `/etc/hostname`, `/etc/hosts`, `/etc/wrenn-release`, the
//! user `user` that sandbox commands default to, and `mkfs.ext4 -d`.
use std::{os::unix::fs::PermissionsExt, path::Path};

use tokio::process::Command;

use super::tree;

/// Packages a `debian:<suite>` base gets on top of minbase (what `base`
/// users lean on most, without its language runtimes).
pub const DEBIAN_PACKAGES: &str =
    "ca-certificates,curl,sudo,procps,iproute2,iputils-ping,less,netbase";
/// Smallest image, and room left beyond the tree for the build's steps.
const MIN_IMAGE_MIB: u64 = 2048;
const HEADROOM_MIB: u64 = 1024;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("this host has no base template image to take envd from")]
    NoEnvd,
    #[error("{tool} failed: {tail}")]
    Tool { tool: &'static str, tail: String },
    #[error("cannot run {tool}")]
    Spawn {
        tool: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the root tree")]
    Tree(#[source] std::io::Error),
}

async fn run(tool: &'static str, command: &mut Command) -> Result<(), RootfsError> {
    let out = command
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|source| RootfsError::Spawn { tool, source })?;
    if out.status.success() {
        return Ok(());
    }
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let tail: Vec<&str> = text.lines().rev().take(5).collect();
    Err(RootfsError::Tool {
        tool,
        tail: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
    })
}

/// Copies `/usr/bin/envd` out of `base_rootfs` (an ext4 image) to `out`.
pub async fn envd_from(base_rootfs: &Path, out: &Path) -> Result<(), RootfsError> {
    if !base_rootfs.is_file() {
        return Err(RootfsError::NoEnvd);
    }
    let request = format!("dump /usr/bin/envd {}", out.display());
    run(
        "debugfs",
        Command::new("debugfs")
            .arg("-R")
            .arg(request)
            .arg(base_rootfs),
    )
    .await?;
    // debugfs exits 0 even when the file is missing.
    match std::fs::metadata(out) {
        Ok(m) if m.len() > 0 => Ok(()),
        _ => Err(RootfsError::NoEnvd),
    }
}

/// debootstrap minbase of `suite` into `tree` from `mirror`.
pub async fn debootstrap(suite: &str, tree: &Path, mirror: &str) -> Result<(), RootfsError> {
    run(
        "debootstrap",
        Command::new("debootstrap")
            .arg("--variant=minbase")
            .arg(format!("--include={DEBIAN_PACKAGES}"))
            .arg(suite)
            .arg(tree)
            .arg(mirror),
    )
    .await?;
    // apt's download cache and lists are dead weight in every disk.
    for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        let path = tree.join(dir);
        if let Ok(entries) = std::fs::read_dir(&path) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_file()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
    Ok(())
}

/// Adds envd and the files every Wrenn guest has; `label` goes into
/// `/etc/wrenn-release`; `owners`: chown what is made (needs root).
pub fn finish(tree: &Path, envd: &[u8], label: &str, owners: bool) -> Result<(), RootfsError> {
    let t = RootfsError::Tree;
    tree::write(tree, "usr/bin/envd", envd, 0o755).map_err(t)?;
    tree::write(tree, "etc/hostname", b"wrenn\n", 0o644).map_err(t)?;
    tree::write(
        tree,
        "etc/hosts",
        b"127.0.0.1\tlocalhost\n127.0.1.1\twrenn\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        0o644,
    )
    .map_err(t)?;
    let release = format!("template=imported\nsource={label}\n");
    tree::write(tree, "etc/wrenn-release", release.as_bytes(), 0o644).map_err(t)?;
    for dir in ["proc", "sys", "dev", "tmp", "run"] {
        tree::dir(tree, dir).map_err(t)?;
    }
    let tmp = tree::dir(tree, "tmp").map_err(t)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).map_err(t)?;
    add_user(tree, owners).map_err(t)
}

/// The user `user` (sandbox commands' default) with passwordless sudo,
/// unless the image has one; uid/gid 1000 or the next free.
fn add_user(tree: &Path, owners: bool) -> std::io::Result<()> {
    let passwd =
        tree::read(tree, "etc/passwd").unwrap_or_else(|| "root:x:0:0:root:/root:/bin/sh\n".into());
    if passwd.lines().any(|l| l.starts_with("user:")) {
        return Ok(());
    }
    let group = tree::read(tree, "etc/group").unwrap_or_else(|| "root:x:0:\n".into());
    let ids = |text: &str| -> Vec<u32> {
        text.lines()
            .filter_map(|l| l.split(':').nth(2)?.parse().ok())
            .collect()
    };
    let (uids, gids) = (ids(&passwd), ids(&group));
    let id = (1000..60000)
        .find(|n| !uids.contains(n) && !gids.contains(n))
        .unwrap_or(60000);
    let shell = if tree::resolve(tree, Path::new("bin/bash"), true).is_some_and(|p| p.exists()) {
        "/bin/bash"
    } else {
        "/bin/sh"
    };
    let line = format!("user:x:{id}:{id}::/home/user:{shell}\n");
    tree::write(tree, "etc/passwd", append(&passwd, &line).as_bytes(), 0o644)?;
    let gline = format!("user:x:{id}:\n");
    tree::write(tree, "etc/group", append(&group, &gline).as_bytes(), 0o644)?;
    if let Some(shadow) = tree::read(tree, "etc/shadow") {
        tree::write(
            tree,
            "etc/shadow",
            append(&shadow, "user::19000:0:99999:7:::\n").as_bytes(),
            0o640,
        )?;
    }
    if tree::resolve(tree, Path::new("etc/sudoers.d"), true).is_some_and(|p| p.is_dir()) {
        tree::write(
            tree,
            "etc/sudoers.d/90-wrenn-user",
            b"user ALL=(ALL:ALL) NOPASSWD: ALL\n",
            0o440,
        )?;
    }
    let home = tree::dir(tree, "home/user")?;
    if owners {
        std::os::unix::fs::chown(&home, Some(id), Some(id))?;
    }
    Ok(())
}

fn append(text: &str, line: &str) -> String {
    let mut out = text.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(line);
    out
}

/// The image size for a tree of `used` bytes: half again as much plus
/// room for the build, at least the built-in templates' 2 GiB.
pub fn image_mib(used: u64) -> u64 {
    let used_mib = used.div_ceil(1024 * 1024);
    (used_mib + used_mib / 2 + HEADROOM_MIB).max(MIN_IMAGE_MIB)
}

/// Bytes the tree takes (4 KiB blocks per file, directories counted).
pub fn tree_bytes(tree: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![tree.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            total += m.len().div_ceil(4096) * 4096 + 4096;
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    total
}

/// `mkfs.ext4 -d tree` into `out`, sized for the tree.
pub async fn mkfs(tree: &Path, out: &Path) -> Result<u64, RootfsError> {
    let t = tree.to_path_buf();
    let used = tokio::task::spawn_blocking(move || tree_bytes(&t))
        .await
        .unwrap_or(0);
    let mib = image_mib(used);
    run(
        "mkfs.ext4",
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "wrenn-root", "-E", "root_owner=0:0", "-d"])
            .arg(tree)
            .arg(out)
            .arg(format!("{mib}M")),
    )
    .await?;
    Ok(mib)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_mib_when_small_then_minimum_else_grows() {
        assert_eq!(image_mib(10 << 20), MIN_IMAGE_MIB);
        assert_eq!(image_mib(4000 << 20), 4000 + 2000 + HEADROOM_MIB);
    }

    #[test]
    fn finish_when_image_lacks_user_then_added_with_free_id() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        tree::write(
            root,
            "etc/passwd",
            b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n",
            0o644,
        )
        .expect("passwd");
        tree::write(root, "etc/group", b"root:x:0:\napp:x:1000:\n", 0o644).expect("group");
        finish(root, b"#!envd", "test/img:1", false).expect("finish");
        let passwd = tree::read(root, "etc/passwd").expect("passwd");
        assert!(
            passwd.contains("user:x:1001:1001::/home/user:/bin/sh"),
            "{passwd}"
        );
        assert!(tree::read(root, "etc/group")
            .expect("group")
            .contains("user:x:1001:"));
        assert!(root.join("home/user").is_dir());
        let mode = |rel: &str| {
            std::fs::metadata(root.join(rel))
                .expect(rel)
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode("tmp"), 0o1777);
        assert_eq!(mode("home"), 0o755);
        assert_eq!(
            std::fs::read(root.join("usr/bin/envd")).expect("envd"),
            b"#!envd"
        );
        assert_eq!(tree::read(root, "etc/hostname").as_deref(), Some("wrenn\n"));
    }

    #[test]
    fn finish_when_user_exists_then_passwd_unchanged() {
        let tmp = tempfile::tempdir().expect("tmp");
        let text = "root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/bash\n";
        tree::write(tmp.path(), "etc/passwd", text.as_bytes(), 0o644).expect("passwd");
        finish(tmp.path(), b"x", "l", false).expect("finish");
        assert_eq!(tree::read(tmp.path(), "etc/passwd").as_deref(), Some(text));
    }
}
