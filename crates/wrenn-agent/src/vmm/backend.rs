//! The one interface every VMM backend implements. The sandbox manager only
//! talks to these traits, so QEMU (everywhere) and Firecracker (hardware KVM
//! hosts) are interchangeable per host.
use std::{future::Future, path::Path, time::Duration};

use super::VmSpec;
use crate::disk::DiskFormat;

/// Which VMM a host runs; reported in host specs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Qemu,
    Firecracker,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Qemu => "qemu",
            Self::Firecracker => "firecracker",
        })
    }
}

/// Files of one memory snapshot inside a snapshot directory. Both backends
/// write `memory` (guest RAM, or QEMU's whole migration stream) and may write
/// `state` (device state, Firecracker only).
pub const SNAPSHOT_MEMORY_FILE: &str = "memory";
/// Guest RAM of a template snapshot kept as a file of its own (QEMU): every
/// VM restored from the snapshot maps it privately, so the pages none of
/// them changed are one copy in the host's page cache, shared copy-on-write.
pub const SNAPSHOT_GUEST_RAM_FILE: &str = "guest-ram";
pub const SNAPSHOT_STATE_FILE: &str = "state";

/// Failures shared by every backend, each naming what the operator can do.
#[derive(Debug, thiserror::Error)]
pub enum VmmError {
    #[error("cannot start the VMM process `{binary}`")]
    Spawn {
        binary: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the VMM exited unexpectedly ({status}); last console lines:\n{console_tail}")]
    Exited {
        status: String,
        console_tail: String,
    },
    #[error("the VMM did not answer its control socket")]
    Control(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("snapshot failed: {0}")]
    Snapshot(String),
    #[error("restore failed: {0}")]
    Restore(String),
    #[error("confining the VMM process: {0}")]
    Confine(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("{0} is not supported by this VMM backend")]
    Unsupported(&'static str),
    #[error("file system error on {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A VMM able to boot and restore VMs.
pub trait Vmm: Send + Sync + 'static {
    type Vm: RunningVm;

    fn kind(&self) -> BackendKind;

    /// The format of the root disks this backend boots; the sandbox manager
    /// makes sandbox and snapshot disks in it.
    fn disk_format(&self) -> DiskFormat;

    /// Cold-boots `spec`. Returns once the VMM runs; readiness of the guest
    /// (envd answering) is the caller's business.
    fn boot(&self, spec: &VmSpec) -> impl Future<Output = Result<Self::Vm, VmmError>> + Send;

    /// Cold-boots `spec` to be snapshotted into `snapshot_dir` as a
    /// template. A backend that can keep the guest's RAM in a file there,
    /// shared copy-on-write by every VM later restored from the snapshot,
    /// does so; the default is an ordinary boot.
    fn boot_template(
        &self,
        spec: &VmSpec,
        snapshot_dir: &Path,
    ) -> impl Future<Output = Result<Self::Vm, VmmError>> + Send {
        let _ = snapshot_dir;
        self.boot(spec)
    }

    /// Starts `spec` from the memory snapshot in `snapshot_dir` instead of
    /// booting. The disk in `spec` must hold the disk state of the moment the
    /// snapshot was taken.
    fn restore(
        &self,
        spec: &VmSpec,
        snapshot_dir: &Path,
    ) -> impl Future<Output = Result<Self::Vm, VmmError>> + Send;

    /// Takes over a VMM process left running by a previous agent process, or
    /// `None` when this backend cannot (the caller then stops it and says so).
    fn adopt(&self, run_dir: &Path, pid: u32) -> Option<Self::Vm>;
}

/// One running VM.
pub trait RunningVm: Send + Sync + 'static {
    /// The VMM's process id (for adoption after an agent restart).
    fn pid(&self) -> Option<u32>;

    /// Freezes the VM, writes its memory and device state into
    /// `snapshot_dir`, flushes its disk and ends the VMM process.
    fn pause_to(
        &mut self,
        snapshot_dir: &Path,
    ) -> impl Future<Output = Result<(), VmmError>> + Send;

    /// Stops the vCPUs without ending the VMM, with the disk's pending writes
    /// drained, so the disk file can be copied consistently.
    fn freeze(&mut self) -> impl Future<Output = Result<(), VmmError>> + Send;

    /// Lets a frozen VM run again.
    fn thaw(&mut self) -> impl Future<Output = Result<(), VmmError>> + Send;

    /// While frozen: the VM's disk continues on `overlay`, a new qcow2
    /// layer whose backing file is the current disk, so the current disk
    /// file stops changing (a fork's frozen layer). The agent made
    /// `overlay`; the VMM only opens it.
    fn switch_disk(&mut self, overlay: &Path) -> impl Future<Output = Result<(), VmmError>> + Send {
        let _ = overlay;
        async { Err(VmmError::Unsupported("switching a running disk")) }
    }

    /// While frozen: writes memory and device state into `snapshot_dir`
    /// like [`RunningVm::pause_to`], but the VMM stays, frozen, so that
    /// [`RunningVm::thaw`] lets the VM go on (a fork's memory image).
    fn save_memory(
        &mut self,
        snapshot_dir: &Path,
    ) -> impl Future<Output = Result<(), VmmError>> + Send {
        let _ = snapshot_dir;
        async { Err(VmmError::Unsupported("a memory image of a running VM")) }
    }

    /// Ends the VMM at once (the guest gets no chance to shut down).
    fn kill(&mut self) -> impl Future<Output = Result<(), VmmError>> + Send;

    /// `Err(Exited)` if the VMM process is gone.
    fn check_running(&mut self) -> Result<(), VmmError>;

    /// The last `n` lines of the serial console, for error reasons.
    fn console_tail(&self, n: usize) -> String;
}
