//! Set-up shared by the root-only sandbox test binaries.
#![allow(
    dead_code,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "shared test helpers: not every test uses each; test code fails by panicking"
)]
use std::{collections::BTreeMap, time::Duration};

use wrenn_agent::{
    network::NetworkConfig,
    paths::{DataDir, KernelFormat},
    sandbox::{EgressSpec, Limits, ManagerOptions, SandboxConfig, SandboxManager, TimeoutAction},
    vmm::{accel, qemu::QemuBackend, Confinement},
};

/// A started manager on the real data dir with the QEMU backend.
pub async fn manager(ready_timeout: Duration) -> SandboxManager<QemuBackend> {
    let accel = accel::decide(Default::default(), accel::HostKvm::probe()).accel;
    let opts = ManagerOptions {
        data: DataDir::from_env(),
        network: NetworkConfig::default(),
        limits: Limits {
            max_vcpus: 2,
            max_memory_mib: 4096,
            max_disk_mib: 16384,
        },
        ready_timeout,
        kernel_format: KernelFormat::BzImage,
        guest_ca: None,
    };
    // Confined as in production (unprivileged user, seccomp, own cgroup).
    let confinement = Confinement::default_on()
        .expect("VM confinement (deploy/setup-host.sh creates the wrenn-vm user)");
    let manager = SandboxManager::new(QemuBackend::new(accel, confinement), opts).expect("manager");
    manager.start().await.expect("start-up");
    manager
}

/// A 1 vCPU, 512 MiB `base` sandbox with the given egress and env vars.
pub fn config(egress: EgressSpec, env_vars: BTreeMap<String, String>) -> SandboxConfig {
    SandboxConfig {
        template: "base".parse().expect("name"),
        vcpus: 1,
        memory_mib: 512,
        disk_mib: None,
        timeout_secs: 600,
        on_timeout: TimeoutAction::Kill,
        env_vars,
        metadata: BTreeMap::new(),
        egress,
    }
}

/// The VMM pid recorded for sandbox `id`.
pub fn vmm_pid(manager: &SandboxManager<QemuBackend>, id: &str) -> u32 {
    let path = manager
        .options()
        .data
        .root()
        .join("sandboxes")
        .join(id)
        .join("sandbox.json");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("record")).expect("json");
    record["pid"].as_u64().expect("a VMM pid in the record") as u32
}

/// Asserts the VMM `pid` runs as the VM user (not root) under seccomp, with
/// no capabilities, in its own cgroup with limits for `vcpus` and
/// `memory_mib`; returns the group's directories.
pub fn assert_confined(pid: u32, vcpus: u8, memory_mib: u32) -> Vec<std::path::PathBuf> {
    use wrenn_agent::vmm::cgroup::{CgroupFs, VmLimits, SYS_FS_CGROUP};
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().collect::<Vec<_>>())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    let vm_user = wrenn_agent::vmm::confine::VmUser::lookup("wrenn-vm").expect("wrenn-vm");
    assert!(
        field("Uid:").iter().all(|u| *u == vm_user.uid.to_string()),
        "QEMU runs as wrenn-vm: {:?}",
        field("Uid:")
    );
    assert_eq!(field("Seccomp:"), ["2"], "seccomp filter mode");
    assert_eq!(field("CapEff:"), ["0000000000000000"], "no capabilities");
    assert_eq!(field("NoNewPrivs:"), ["1"]);
    let fs = CgroupFs::detect(std::path::Path::new(SYS_FS_CGROUP)).expect("cgroups");
    let group = fs.group(pid);
    assert!(group.contains(pid), "QEMU {pid} in {:?}", group.dirs());
    let limits = VmLimits::for_vm(vcpus, memory_mib);
    let read = |dir: &std::path::Path, file: &str| {
        std::fs::read_to_string(dir.join(file))
            .expect(file)
            .trim()
            .to_owned()
    };
    match (&fs, group.dirs()) {
        (CgroupFs::V2 { .. }, [dir]) => {
            assert_eq!(
                read(dir, "cpu.max"),
                format!("{} 100000", limits.cpu_quota_us)
            );
            assert_eq!(read(dir, "memory.max"), limits.memory_bytes.to_string());
            assert_eq!(read(dir, "pids.max"), limits.pids.to_string());
        }
        (CgroupFs::V1 { .. }, [cpu, memory, pids]) => {
            assert_eq!(
                read(cpu, "cpu.cfs_quota_us"),
                limits.cpu_quota_us.to_string()
            );
            assert_eq!(
                read(memory, "memory.limit_in_bytes"),
                limits.memory_bytes.to_string()
            );
            assert_eq!(read(pids, "pids.max"), limits.pids.to_string());
        }
        other => panic!("unexpected cgroup layout {other:?}"),
    }
    group.dirs().to_vec()
}
