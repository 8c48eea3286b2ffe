//! Starting Firecracker directly or under its jailer, and where the files it
//! needs appear from its point of view. Under the jailer Firecracker sees only
//! its chroot (`<chroot_base>/<exec name>/<id>/root`), so the kernel, the disk
//! and snapshot files are hard-linked in and named by chroot paths.
use std::{
    ffi::OsString,
    path::{Path, PathBuf},
};

use super::FirecrackerError;
use crate::vmm::{GuestNet, VmSpec};

/// Running Firecracker under `jailer` (chroot, uid/gid drop, own netns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JailerConfig {
    pub binary: PathBuf,
    pub uid: u32,
    pub gid: u32,
    /// Parent of every jail (`/srv/jailer` is Firecracker's default).
    pub chroot_base: PathBuf,
}

/// Path of the jailer binary, overriding the lookup beside firecracker and
/// on `PATH`.
pub const JAILER_BIN_ENV: &str = "AGENT_JAILER_BIN";
/// Firecracker's default parent of every jail.
pub const DEFAULT_CHROOT_BASE: &str = "/srv/jailer";

/// Why Firecracker would have to run unjailed, which the agent refuses
/// unless VM confinement is switched off.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JailerMissing {
    #[error("{JAILER_BIN_ENV}={} is not an executable file", .0.display())]
    NotExecutable(PathBuf),
    #[error("no jailer binary beside {} or on PATH: install Firecracker's `jailer` (same release as firecracker), set {JAILER_BIN_ENV}, or run Firecracker unjailed with AGENT_VM_CONFINEMENT=off", .0.display())]
    NotFound(PathBuf),
}

/// How Firecracker runs: jailed as `user` (`Some((uid, gid))`, confinement
/// on) when a jailer is found (`$AGENT_JAILER_BIN`, beside the firecracker
/// binary, or on `PATH`), refused without one; unjailed only when
/// confinement is off (`user` is `None`).
pub fn choose_jailer(
    user: Option<(u32, u32)>,
    jailer_env: Option<PathBuf>,
    firecracker: &Path,
    path_var: Option<&std::ffi::OsStr>,
) -> Result<Option<JailerConfig>, JailerMissing> {
    let Some((uid, gid)) = user else {
        tracing::warn!("AGENT_VM_CONFINEMENT=off: Firecracker runs without its jailer, as root");
        return Ok(None);
    };
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let binary = match jailer_env {
        Some(path) if executable(&path) => path,
        Some(path) => return Err(JailerMissing::NotExecutable(path)),
        None => firecracker
            .parent()
            .map(|dir| dir.join("jailer"))
            .into_iter()
            .chain(
                path_var
                    .into_iter()
                    .flat_map(std::env::split_paths)
                    .map(|dir| dir.join("jailer")),
            )
            .find(|candidate| executable(candidate))
            .ok_or_else(|| JailerMissing::NotFound(firecracker.to_owned()))?,
    };
    Ok(Some(JailerConfig {
        binary,
        uid,
        gid,
        chroot_base: DEFAULT_CHROOT_BASE.into(),
    }))
}

/// API socket path inside the jail.
const JAIL_SOCKET: &str = "/run/firecracker.socket";
const JAIL_KERNEL: &str = "/vmlinux";
const JAIL_DISK: &str = "/rootfs";
const JAIL_SNAPSHOT_DIR: &str = "/snapshot";

/// The command that starts Firecracker for one VM, and the paths it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// The API socket, as seen by the agent.
    pub socket: PathBuf,
    /// Kernel and root disk, as seen by Firecracker.
    pub kernel: PathBuf,
    pub root_disk: PathBuf,
    /// The jail's root directory, when jailed.
    pub jail_root: Option<PathBuf>,
}

impl Launch {
    /// Firecracker started by the agent, inside the sandbox's network
    /// namespace (via `ip netns exec`) when it has a TAP device.
    pub fn direct(binary: &Path, spec: &VmSpec) -> Self {
        let socket = spec.run_dir.join("fc.sock");
        let mut args: Vec<OsString> = Vec::new();
        let program = match &spec.net {
            GuestNet::Tap(tap) => {
                args.extend(["netns".into(), "exec".into(), tap.netns.clone().into()]);
                args.push(binary.into());
                PathBuf::from("ip")
            }
            _ => binary.to_path_buf(),
        };
        args.extend(["--api-sock".into(), socket.clone().into()]);
        Self {
            program,
            args,
            socket,
            kernel: spec.kernel.clone(),
            root_disk: spec.root_disk.clone(),
            jail_root: None,
        }
    }

    /// Firecracker under the jailer; the jail id is the run directory's name.
    pub fn jailed(
        jailer: &JailerConfig,
        binary: &Path,
        spec: &VmSpec,
    ) -> Result<Self, FirecrackerError> {
        let id = jail_id(&spec.run_dir)?;
        let exec_name = binary
            .file_name()
            .ok_or_else(|| FirecrackerError::JailId(binary.display().to_string()))?;
        let jail_root = jailer.chroot_base.join(exec_name).join(&id).join("root");
        let mut args: Vec<OsString> = vec![
            "--id".into(),
            id.into(),
            "--exec-file".into(),
            binary.into(),
            "--uid".into(),
            jailer.uid.to_string().into(),
            "--gid".into(),
            jailer.gid.to_string().into(),
            "--chroot-base-dir".into(),
            jailer.chroot_base.clone().into(),
        ];
        if let GuestNet::Tap(tap) = &spec.net {
            args.extend([
                "--netns".into(),
                format!("/var/run/netns/{}", tap.netns).into(),
            ]);
        }
        args.extend(["--".into(), "--api-sock".into(), JAIL_SOCKET.into()]);
        Ok(Self {
            program: jailer.binary.clone(),
            args,
            socket: in_jail(&jail_root, Path::new(JAIL_SOCKET)),
            kernel: JAIL_KERNEL.into(),
            root_disk: JAIL_DISK.into(),
            jail_root: Some(jail_root),
        })
    }

    /// Directory Firecracker writes a snapshot to or reads it from, as it
    /// sees it; the agent moves files between it and the sandbox's snapshot
    /// directory when jailed.
    pub fn snapshot_dir(&self, requested: &Path) -> PathBuf {
        match self.jail_root {
            Some(_) => JAIL_SNAPSHOT_DIR.into(),
            None => requested.to_path_buf(),
        }
    }

    /// The agent's path of a path Firecracker sees.
    pub fn host_path(&self, path: &Path) -> PathBuf {
        match &self.jail_root {
            Some(root) => in_jail(root, path),
            None => path.to_path_buf(),
        }
    }
}

fn in_jail(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// Jailer ids allow ASCII letters, digits and '-', at most 64 characters.
fn jail_id(run_dir: &Path) -> Result<String, FirecrackerError> {
    let name = run_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    valid
        .then(|| name.to_owned())
        .ok_or_else(|| FirecrackerError::JailId(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmm::TapAttachment;

    fn spec(net: GuestNet) -> VmSpec {
        VmSpec {
            run_dir: "/var/lib/wrenn/sandboxes/sb-1".into(),
            kernel: "/k/vmlinux".into(),
            root_disk: "/d/rootfs.ext4".into(),
            discard_writes: false,
            vcpus: 1,
            memory_mib: 128,
            net,
            init: Vec::new(),
        }
    }

    fn tap() -> GuestNet {
        GuestNet::Tap(TapAttachment {
            netns: "wrn-1".into(),
            tap: "tap0".into(),
            guest_mac: "02:fc:00:00:00:01".into(),
            guest_ip: "169.254.0.21".parse().expect("ip"),
            gateway_ip: "169.254.0.22".parse().expect("ip"),
            prefix_len: 30,
            dns: vec!["1.1.1.1".parse().expect("ip")],
        })
    }

    fn joined(launch: &Launch) -> String {
        let mut all = vec![launch.program.display().to_string()];
        all.extend(launch.args.iter().map(|a| a.to_string_lossy().into_owned()));
        all.join(" ")
    }

    #[test]
    fn direct_when_tap_then_started_in_netns() {
        let launch = Launch::direct(Path::new("/bin/firecracker"), &spec(tap()));
        assert_eq!(
            joined(&launch),
            "ip netns exec wrn-1 /bin/firecracker --api-sock /var/lib/wrenn/sandboxes/sb-1/fc.sock"
        );
    }

    #[test]
    fn jailed_when_tap_then_netns_flag_and_chroot_paths() {
        let jailer = JailerConfig {
            binary: "/bin/jailer".into(),
            uid: 123,
            gid: 456,
            chroot_base: "/srv/jailer".into(),
        };
        let launch =
            Launch::jailed(&jailer, Path::new("/bin/firecracker"), &spec(tap())).expect("jail");
        assert_eq!(
            joined(&launch),
            "/bin/jailer --id sb-1 --exec-file /bin/firecracker --uid 123 --gid 456 \
             --chroot-base-dir /srv/jailer --netns /var/run/netns/wrn-1 \
             -- --api-sock /run/firecracker.socket"
        );
        assert_eq!(
            launch.socket,
            Path::new("/srv/jailer/firecracker/sb-1/root/run/firecracker.socket")
        );
        assert_eq!(
            launch.host_path(Path::new("/snapshot/state")),
            Path::new("/srv/jailer/firecracker/sb-1/root/snapshot/state")
        );
    }

    fn fake(dir: &Path, name: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    #[test]
    fn choose_jailer_when_beside_firecracker_then_jailed_as_vm_user() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fc = fake(dir.path(), "firecracker");
        let jailer = fake(dir.path(), "jailer");
        let config = choose_jailer(Some((990, 991)), None, &fc, None)
            .expect("found")
            .expect("jailed");
        assert_eq!(
            config,
            JailerConfig {
                binary: jailer,
                uid: 990,
                gid: 991,
                chroot_base: DEFAULT_CHROOT_BASE.into(),
            }
        );
        let launch = Launch::jailed(&config, &fc, &spec(tap())).expect("jail");
        let line = joined(&launch);
        assert!(line.contains("--uid 990 --gid 991"), "{line}");
        assert!(
            line.starts_with(&config.binary.display().to_string()),
            "{line}"
        );
    }

    #[test]
    fn choose_jailer_when_none_found_then_refused_naming_the_opt_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fc = fake(dir.path(), "firecracker");
        let err = choose_jailer(
            Some((990, 990)),
            None,
            &fc,
            Some(std::ffi::OsStr::new("/nonexistent")),
        )
        .expect_err("no jailer");
        assert!(
            err.to_string().contains("AGENT_VM_CONFINEMENT=off"),
            "{err}"
        );
        let err = choose_jailer(Some((990, 990)), Some("/nope/jailer".into()), &fc, None)
            .expect_err("bad env");
        assert_eq!(err, JailerMissing::NotExecutable("/nope/jailer".into()));
    }

    #[test]
    fn choose_jailer_when_confinement_off_then_unjailed() {
        assert_eq!(
            choose_jailer(None, None, Path::new("/bin/firecracker"), None),
            Ok(None)
        );
    }

    #[test]
    fn jail_id_when_dots_then_rejected() {
        let err = jail_id(Path::new("/x/a.b")).expect_err("invalid");
        assert!(matches!(err, FirecrackerError::JailId(_)));
    }
}
