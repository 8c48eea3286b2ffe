//! What this host offers, for the control plane's scheduler: backend,
//! accelerator, disk strategy, CPUs, free memory and disk, sandboxes per
//! state.
use std::{collections::BTreeMap, path::Path};

use wrenn_proto::wrenn::agent::v1 as pb;

use crate::{
    sandbox::SandboxManager,
    vmm::{accel::AccelDecision, BackendKind, Vmm},
};

/// Facts fixed at start-up.
#[derive(Debug, Clone)]
pub struct HostFacts {
    pub backend: BackendKind,
    pub accel: AccelDecision,
}

impl HostFacts {
    /// The current report: fixed facts plus live figures.
    pub fn report<V: Vmm>(&self, manager: &SandboxManager<V>) -> pb::HostInfoResponse {
        let opts = manager.options();
        let mut by_state: BTreeMap<String, u32> = BTreeMap::new();
        for sandbox in manager.list() {
            *by_state
                .entry(sandbox.state.as_str().to_owned())
                .or_default() += 1;
        }
        let memory = MemInfo::read().unwrap_or_default();
        pb::HostInfoResponse {
            backend: self.backend.to_string(),
            accelerator: self.accel.accel.to_string(),
            accelerator_reason: self.accel.reason.clone(),
            cpus: host_cpus(),
            total_memory_mib: memory.total_mib,
            free_memory_mib: memory.available_mib,
            free_disk_mib: free_disk_mib(opts.data.root()).unwrap_or(0),
            sandboxes_by_state: by_state.into_iter().collect(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            max_vcpus: opts.limits.max_vcpus.into(),
            max_memory_mib: opts.limits.max_memory_mib,
            max_disk_mib: opts.limits.max_disk_mib,
            max_sandboxes: opts.network.max_slots,
            disk_strategy: manager.disk_plan().strategy().to_string(),
            ..Default::default()
        }
    }
}

pub fn host_cpus() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        .unwrap_or(1)
}

/// `MemTotal` and `MemAvailable` from `/proc/meminfo`, in MiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemInfo {
    pub total_mib: u64,
    pub available_mib: u64,
}

impl MemInfo {
    pub fn read() -> Option<Self> {
        Self::parse(&std::fs::read_to_string("/proc/meminfo").ok()?)
    }

    pub fn parse(text: &str) -> Option<Self> {
        let field = |name: &str| -> Option<u64> {
            let line = text.lines().find(|l| l.starts_with(name))?;
            let kib: u64 = line[name.len()..]
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(kib / 1024)
        };
        Some(Self {
            total_mib: field("MemTotal:")?,
            available_mib: field("MemAvailable:")?,
        })
    }
}

/// Space available to the agent in the file system holding `dir`.
pub fn free_disk_mib(dir: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize) / (1024 * 1024))
}

/// Size of the file system holding `dir`.
pub fn total_disk_mib(dir: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    Some(stat.f_blocks.saturating_mul(stat.f_frsize) / (1024 * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        network::NetworkConfig,
        paths::{DataDir, KernelFormat},
        sandbox::{Limits, ManagerOptions},
        vmm::{qemu::QemuBackend, Accel},
    };

    #[test]
    fn report_when_qemu_manager_then_backend_limits_and_disk_strategy() {
        let data = tempfile::tempdir().expect("tempdir");
        let opts = ManagerOptions {
            data: DataDir::new(data.path()),
            network: NetworkConfig::default(),
            limits: Limits {
                max_vcpus: 3,
                max_memory_mib: 1536,
                max_disk_mib: 8192,
            },
            ready_timeout: std::time::Duration::from_secs(5),
            kernel_format: KernelFormat::BzImage,
            guest_ca: None,
        };
        let manager =
            SandboxManager::new(QemuBackend::unconfined(Accel::Tcg), opts).expect("manager");
        let facts = HostFacts {
            backend: BackendKind::Qemu,
            accel: AccelDecision {
                accel: Accel::Tcg,
                reason: "test".into(),
            },
        };
        let info = facts.report(&manager);
        assert_eq!(info.backend, "qemu");
        assert_eq!(info.accelerator, "tcg");
        assert_eq!(info.accelerator_reason, "test");
        // QEMU boots qcow2, so disks are overlays whatever the file system.
        assert_eq!(info.disk_strategy, "qcow2-overlay");
        assert_eq!(
            info.disk_strategy,
            manager.disk_plan().strategy().to_string()
        );
        assert_eq!(
            (info.max_vcpus, info.max_memory_mib, info.max_disk_mib),
            (3, 1536, 8192)
        );
        assert_eq!(info.max_sandboxes, NetworkConfig::default().max_slots);
        assert!(info.sandboxes_by_state.is_empty());
        assert_eq!(info.agent_version, env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn meminfo_parse_when_proc_format_then_mib() {
        let text = "MemTotal:       16384000 kB\nMemFree:  100 kB\nMemAvailable:    8192000 kB\n";
        assert_eq!(
            MemInfo::parse(text),
            Some(MemInfo {
                total_mib: 16000,
                available_mib: 8000
            })
        );
    }

    #[test]
    fn free_disk_when_tmp_then_some() {
        assert!(free_disk_mib(Path::new("/tmp")).is_some());
    }

    #[test]
    fn total_disk_when_tmp_then_at_least_free() {
        let total = total_disk_mib(Path::new("/tmp")).expect("total");
        assert!(total >= free_disk_mib(Path::new("/tmp")).expect("free"));
    }
}
