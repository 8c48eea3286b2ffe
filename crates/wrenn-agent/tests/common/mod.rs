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
    vmm::{accel, qemu::QemuBackend},
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
    };
    let manager = SandboxManager::new(QemuBackend { accel }, opts).expect("manager");
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
