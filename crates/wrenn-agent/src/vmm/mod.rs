//! VMM backends. The QEMU backend (`-M microvm`) runs everywhere, with KVM
//! where ordinary guests run and TCG elsewhere; Firecracker joins it behind a
//! common trait with the agent issue.
pub mod accel;
pub mod qemu;
pub mod qmp;

use std::path::PathBuf;

pub use accel::{Accel, AccelChoice};

/// Everything needed to boot one VM.
#[derive(Debug, Clone)]
pub struct VmSpec {
    /// Directory owned by this VM: console log, QMP socket, disk overlay.
    pub run_dir: PathBuf,
    pub kernel: PathBuf,
    /// Root disk image (raw ext4 or a qcow2 overlay over one).
    pub root_disk: PathBuf,
    /// Open the root disk read-only and discard writes (tests, benchmarks).
    pub discard_writes: bool,
    pub vcpus: u8,
    pub memory_mib: u32,
    pub net: GuestNet,
    /// Program the kernel starts as PID 1, with its arguments (plain words
    /// without '=' or '.', which the kernel passes on to init).
    pub init: Vec<String>,
}

/// How the guest is attached to a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestNet {
    /// No network device.
    None,
    /// QEMU user-mode networking with one TCP port of the guest (e.g. envd's
    /// 49983) forwarded to `127.0.0.1:host_port`. Needs no privileges; used by
    /// tests and development. Sandboxes use TAP devices (agent issue).
    UserForward { host_port: u16, guest_port: u16 },
}

/// Guest address used with [`GuestNet::UserForward`] (QEMU's slirp defaults).
pub const USER_NET_GUEST_IP: &str = "10.0.2.15";
