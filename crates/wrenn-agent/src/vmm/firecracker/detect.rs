//! Whether this host can run Firecracker: hardware KVM (not PVM) and a
//! firecracker binary. The reason it cannot goes into the agent's log line
//! ("backend qemu: <why not firecracker>").
use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
};

use super::FirecrackerBackend;
use crate::vmm::accel::HostKvm;

/// Path of the firecracker binary, overriding the `PATH` lookup.
pub const FIRECRACKER_BIN_ENV: &str = "AGENT_FIRECRACKER_BIN";

/// Why Firecracker is not used on this host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FirecrackerUnavailable {
    #[error("no /dev/kvm")]
    NoKvm,
    #[error("/dev/kvm is not hardware KVM (no kvm_intel/kvm_amd{})", if *pvm { "; PVM-backed" } else { "" })]
    NoHardwareKvm { pvm: bool },
    #[error("{FIRECRACKER_BIN_ENV}={} is not an executable file", .0.display())]
    BinaryNotExecutable(PathBuf),
    #[error("no firecracker binary on PATH (set {FIRECRACKER_BIN_ENV})")]
    NotOnPath,
}

impl FirecrackerBackend {
    /// Probes this host: `/dev/kvm`, the KVM modules, `$AGENT_FIRECRACKER_BIN`
    /// and `PATH`.
    pub fn detect() -> Result<Self, FirecrackerUnavailable> {
        Self::detect_on(
            HostKvm::probe(),
            std::env::var_os(FIRECRACKER_BIN_ENV).map(PathBuf::from),
            std::env::var_os("PATH").as_deref(),
        )
    }

    /// [`FirecrackerBackend::detect`] with the host facts given.
    pub fn detect_on(
        host: HostKvm,
        binary_env: Option<PathBuf>,
        path_var: Option<&OsStr>,
    ) -> Result<Self, FirecrackerUnavailable> {
        if !host.dev_kvm {
            return Err(FirecrackerUnavailable::NoKvm);
        }
        if !host.hardware_module {
            return Err(FirecrackerUnavailable::NoHardwareKvm {
                pvm: host.pvm_module,
            });
        }
        let binary = match binary_env {
            Some(path) if is_executable(&path) => path,
            Some(path) => return Err(FirecrackerUnavailable::BinaryNotExecutable(path)),
            None => path_var
                .into_iter()
                .flat_map(std::env::split_paths)
                .map(|dir| dir.join("firecracker"))
                .find(|candidate| is_executable(candidate))
                .ok_or(FirecrackerUnavailable::NotOnPath)?,
        };
        Ok(Self::new(binary))
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HARDWARE: HostKvm = HostKvm {
        dev_kvm: true,
        hardware_module: true,
        pvm_module: false,
    };

    fn fake_binary(dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("firecracker");
        std::fs::write(&path, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    #[test]
    fn detect_when_pvm_only_then_reason_names_pvm() {
        let host = HostKvm {
            dev_kvm: true,
            hardware_module: false,
            pvm_module: true,
        };
        let err = FirecrackerBackend::detect_on(host, None, None).expect_err("no hw kvm");
        assert_eq!(err, FirecrackerUnavailable::NoHardwareKvm { pvm: true });
        assert!(err.to_string().contains("PVM"), "{err}");
    }

    #[test]
    fn detect_when_binary_on_path_then_usable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let binary = fake_binary(dir.path());
        let path = std::env::join_paths(["/nonexistent".as_ref(), dir.path()]).expect("join");
        let backend = FirecrackerBackend::detect_on(HARDWARE, None, Some(&path)).expect("usable");
        assert_eq!(backend.binary, binary);
    }

    #[test]
    fn detect_when_env_binary_missing_then_named() {
        let err = FirecrackerBackend::detect_on(HARDWARE, Some("/nope/fc".into()), None)
            .expect_err("missing");
        assert!(
            err.to_string().contains("AGENT_FIRECRACKER_BIN=/nope/fc"),
            "{err}"
        );
    }

    #[test]
    fn detect_when_nothing_on_path_then_not_on_path() {
        let path = OsStr::new("/nonexistent");
        let err = FirecrackerBackend::detect_on(HARDWARE, None, Some(path)).expect_err("none");
        assert_eq!(err, FirecrackerUnavailable::NotOnPath);
    }
}
