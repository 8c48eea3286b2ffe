//! VMM backends behind one trait ([`backend::Vmm`]). QEMU (`-M microvm`) runs
//! everywhere, with KVM where ordinary guests run and TCG elsewhere, on qcow2
//! overlays; Firecracker, on raw images, runs where asked for explicitly
//! (`AGENT_BACKEND=firecracker`) on hosts with hardware KVM and its binary.
pub mod accel;
pub mod backend;
pub mod cgroup;
pub mod confine;
pub mod firecracker;
pub mod qemu;
pub mod qmp;

use std::path::PathBuf;

pub use accel::{Accel, AccelChoice};
pub use backend::{BackendKind, RunningVm, Vmm, VmmError, SNAPSHOT_GUEST_RAM_FILE};
pub use confine::{Confinement, ConfinementChoice};

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
    /// tests and development.
    UserForward { host_port: u16, guest_port: u16 },
    /// A TAP device inside a network namespace (sandboxes). The VMM process is
    /// started inside `netns` so it can open `tap`; the guest gets its
    /// address from the kernel `ip=` argument.
    Tap(TapAttachment),
}

/// What a VMM needs to attach a guest to its sandbox network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapAttachment {
    /// Network namespace name (`ip netns` name, under /run/netns).
    pub netns: String,
    pub tap: String,
    pub guest_mac: String,
    pub guest_ip: std::net::Ipv4Addr,
    pub gateway_ip: std::net::Ipv4Addr,
    pub prefix_len: u8,
    /// One or two resolvers (the kernel takes two at most).
    pub dns: Vec<std::net::Ipv4Addr>,
}

impl TapAttachment {
    /// The kernel `ip=` argument:
    /// `client::gateway:netmask:hostname:device:autoconf:dns0[:dns1]`.
    pub fn kernel_ip_arg(&self) -> String {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len))
            .unwrap_or(0);
        let mask = std::net::Ipv4Addr::from(mask);
        let dns: Vec<String> = self.dns.iter().take(2).map(ToString::to_string).collect();
        format!(
            "ip={}::{}:{mask}:sandbox:eth0:off:{}",
            self.guest_ip,
            self.gateway_ip,
            dns.join(":")
        )
    }
}

/// Guest address used with [`GuestNet::UserForward`] (QEMU's slirp defaults).
pub const USER_NET_GUEST_IP: &str = "10.0.2.15";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_ip_arg_when_slash_30_then_dotted_netmask() {
        let tap = TapAttachment {
            netns: "wrn-1".into(),
            tap: "tap0".into(),
            guest_mac: "02:fc:00:00:00:01".into(),
            guest_ip: "169.254.0.21".parse().expect("ip"),
            gateway_ip: "169.254.0.22".parse().expect("ip"),
            prefix_len: 30,
            dns: vec!["1.1.1.1".parse().expect("ip")],
        };
        assert_eq!(
            tap.kernel_ip_arg(),
            "ip=169.254.0.21::169.254.0.22:255.255.255.252:sandbox:eth0:off:1.1.1.1"
        );
    }
}
