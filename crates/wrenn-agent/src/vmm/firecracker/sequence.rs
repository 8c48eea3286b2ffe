//! The API request sequences for boot, pause-to-snapshot and restore, apart
//! from process handling so they can be checked against a model of the API.
use std::path::{Path, PathBuf};

use super::{
    api::{
        ActionType, ApiClient, ApiError, BootSource, Drive, InstanceAction, MachineConfig,
        MemBackend, MemBackendType, NetworkInterface, NetworkOverride, SnapshotCreate,
        SnapshotLoad, SnapshotType, VmState, VmStateChange,
    },
    FirecrackerError,
};
use crate::vmm::{
    backend::{SNAPSHOT_MEMORY_FILE, SNAPSHOT_STATE_FILE},
    GuestNet, VmSpec,
};

pub const ROOT_DRIVE_ID: &str = "rootfs";
pub const GUEST_IFACE_ID: &str = "eth0";

/// Everything sent to Firecracker before `InstanceStart`, derived from a
/// [`VmSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootPlan {
    pub machine: MachineConfig,
    pub boot_source: BootSource,
    pub root_drive: Drive,
    pub network: Option<NetworkInterface>,
}

impl BootPlan {
    /// Rejects what Firecracker cannot do: QEMU user-mode networking and
    /// `discard_writes` (Firecracker has no throw-away disk layer; give it a
    /// per-VM copy from [`crate::disk`] instead).
    pub fn from_spec(spec: &VmSpec) -> Result<Self, FirecrackerError> {
        if spec.discard_writes {
            return Err(FirecrackerError::DiscardWritesUnsupported);
        }
        Ok(Self {
            machine: MachineConfig {
                vcpu_count: spec.vcpus,
                mem_size_mib: spec.memory_mib,
            },
            boot_source: BootSource {
                kernel_image_path: spec.kernel.clone(),
                boot_args: kernel_cmdline(spec)?,
            },
            root_drive: Drive {
                drive_id: ROOT_DRIVE_ID.into(),
                path_on_host: spec.root_disk.clone(),
                is_root_device: true,
                is_read_only: false,
            },
            network: network_interface(&spec.net)?,
        })
    }
}

fn network_interface(net: &GuestNet) -> Result<Option<NetworkInterface>, FirecrackerError> {
    match net {
        GuestNet::None => Ok(None),
        GuestNet::UserForward { .. } => Err(FirecrackerError::UserNetUnsupported),
        GuestNet::Tap(tap) => Ok(Some(NetworkInterface {
            iface_id: GUEST_IFACE_ID.into(),
            host_dev_name: tap.tap.clone(),
            guest_mac: tap.guest_mac.clone(),
        })),
    }
}

/// Kernel command line. `reboot=k` makes a guest reboot end the Firecracker
/// process (it has no reset); `panic=-1` turns a panic into such a reboot;
/// `pci=off` because every device is virtio-mmio, which Firecracker appends
/// to this line itself.
pub fn kernel_cmdline(spec: &VmSpec) -> Result<String, FirecrackerError> {
    let mut args: Vec<String> = [
        "console=ttyS0",
        "reboot=k",
        "panic=-1",
        "pci=off",
        "quiet",
        "root=/dev/vda",
        "rw",
    ]
    .map(String::from)
    .into();
    match &spec.net {
        GuestNet::Tap(tap) => args.push(tap.kernel_ip_arg()),
        GuestNet::UserForward { .. } => return Err(FirecrackerError::UserNetUnsupported),
        GuestNet::None => {}
    }
    if let Some((program, rest)) = spec.init.split_first() {
        args.push(format!("init={program}"));
        args.extend(rest.iter().cloned());
    }
    Ok(args.join(" "))
}

/// Configures a fresh Firecracker process and starts the guest.
pub async fn configure_and_start(api: &ApiClient, plan: &BootPlan) -> Result<(), ApiError> {
    api.put("/machine-config", &plan.machine).await?;
    api.put("/boot-source", &plan.boot_source).await?;
    api.put(
        &format!("/drives/{}", plan.root_drive.drive_id),
        &plan.root_drive,
    )
    .await?;
    if let Some(iface) = &plan.network {
        api.put(&format!("/network-interfaces/{}", iface.iface_id), iface)
            .await?;
    }
    api.put(
        "/actions",
        &InstanceAction {
            action_type: ActionType::InstanceStart,
        },
    )
    .await
}

/// Where a snapshot's files go inside `snapshot_dir`.
pub fn snapshot_files(snapshot_dir: &Path) -> (PathBuf, PathBuf) {
    (
        snapshot_dir.join(SNAPSHOT_STATE_FILE),
        snapshot_dir.join(SNAPSHOT_MEMORY_FILE),
    )
}

/// Pauses the guest and writes a full snapshot into `snapshot_dir`. The
/// process keeps running (paused); ending it is the caller's business.
pub async fn pause_and_snapshot(api: &ApiClient, snapshot_dir: &Path) -> Result<(), ApiError> {
    api.patch(
        "/vm",
        &VmStateChange {
            state: VmState::Paused,
        },
    )
    .await?;
    let (snapshot_path, mem_file_path) = snapshot_files(snapshot_dir);
    api.put(
        "/snapshot/create",
        &SnapshotCreate {
            snapshot_type: SnapshotType::Full,
            snapshot_path,
            mem_file_path,
        },
    )
    .await
}

/// The load request for `snapshot_dir`, re-attaching the guest interface to
/// the TAP device of `net`.
pub fn snapshot_load(
    snapshot_dir: &Path,
    net: &GuestNet,
) -> Result<SnapshotLoad, FirecrackerError> {
    let (snapshot_path, backend_path) = snapshot_files(snapshot_dir);
    let network_overrides = network_interface(net)?
        .map(|iface| NetworkOverride {
            iface_id: iface.iface_id,
            host_dev_name: iface.host_dev_name,
        })
        .into_iter()
        .collect();
    Ok(SnapshotLoad {
        snapshot_path,
        mem_backend: MemBackend {
            backend_type: MemBackendType::File,
            backend_path,
        },
        resume_vm: true,
        network_overrides,
    })
}

/// Loads a snapshot into a fresh Firecracker process and resumes the guest.
pub async fn load_and_resume(api: &ApiClient, load: &SnapshotLoad) -> Result<(), ApiError> {
    api.put("/snapshot/load", load).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmm::TapAttachment;

    fn spec(net: GuestNet) -> VmSpec {
        VmSpec {
            run_dir: "/tmp/vm".into(),
            kernel: "/k/vmlinux".into(),
            root_disk: "/d/rootfs.ext4".into(),
            discard_writes: false,
            vcpus: 2,
            memory_mib: 256,
            net,
            init: vec!["/usr/bin/envd".into()],
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

    #[test]
    fn cmdline_when_tap_then_ip_arg_before_init() {
        let line = kernel_cmdline(&spec(tap())).expect("cmdline");
        assert_eq!(
            line,
            "console=ttyS0 reboot=k panic=-1 pci=off quiet root=/dev/vda rw \
             ip=169.254.0.21::169.254.0.22:255.255.255.252:sandbox:eth0:off:1.1.1.1 \
             init=/usr/bin/envd"
        );
    }

    #[test]
    fn plan_when_user_forward_then_typed_error() {
        let net = GuestNet::UserForward {
            host_port: 1,
            guest_port: 2,
        };
        let err = BootPlan::from_spec(&spec(net)).expect_err("qemu only");
        assert!(matches!(err, FirecrackerError::UserNetUnsupported), "{err}");
    }

    #[test]
    fn plan_when_discard_writes_then_typed_error() {
        let mut spec = spec(GuestNet::None);
        spec.discard_writes = true;
        let err = BootPlan::from_spec(&spec).expect_err("unsupported");
        assert!(matches!(err, FirecrackerError::DiscardWritesUnsupported));
    }

    #[test]
    fn snapshot_load_when_tap_then_overrides_eth0() {
        let load = snapshot_load(Path::new("/s"), &tap()).expect("load");
        assert_eq!(
            load.network_overrides,
            vec![NetworkOverride {
                iface_id: "eth0".into(),
                host_dev_name: "tap0".into()
            }]
        );
        assert_eq!(load.snapshot_path, Path::new("/s/state"));
    }
}
