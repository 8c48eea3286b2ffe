//! What a host reports about itself: fixed specs at registration and the
//! free capacity and load of each heartbeat.
use serde::Serialize;
use wrenn_types::host_wire::WarmPoolLoad;

use crate::{
    rpc::{host, HostFacts},
    sandbox::{SandboxInfo, SandboxManager, SandboxState},
    vmm::Vmm,
};

/// `specs` of `POST /v1/hosts/register` (docs/hosts.md). Sizes in MiB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostSpecs {
    pub arch: String,
    pub cpus: u32,
    pub memory_mb: u64,
    pub disk_mb: u64,
    pub backend: String,
    pub accelerator: String,
    pub agent_version: String,
    /// SHA-256 (hex) of the certificate the agent serves, when it serves TLS.
    pub tls_cert_sha256: Option<String>,
}

impl HostSpecs {
    /// This machine, with the backend and accelerator the agent chose.
    pub fn detect(facts: &HostFacts, data_dir: &std::path::Path) -> Self {
        Self {
            arch: std::env::consts::ARCH.to_owned(),
            cpus: host::host_cpus(),
            memory_mb: host::MemInfo::read().unwrap_or_default().total_mib,
            disk_mb: host::total_disk_mib(data_dir).unwrap_or(0),
            backend: facts.backend.to_string(),
            accelerator: facts.accel.accel.to_string(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            tls_cert_sha256: None,
        }
    }
}

/// `free` of a heartbeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Free {
    pub vcpus: u32,
    pub memory_mb: u64,
    pub disk_mb: u64,
}

/// `load` of a heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Load {
    pub sandboxes_running: u32,
    pub sandboxes_paused: u32,
    /// Idle warm-pool sandboxes (never listed, never running).
    pub warm: u32,
    /// Each warm pool: shape, idle, kept and asked (the host cap).
    pub warm_pools: Vec<WarmPoolLoad>,
}

/// Free capacity and load, as one heartbeat reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub free: Free,
    pub load: Load,
}

/// Totals of the machine the usage is computed against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub cpus: u32,
    pub memory_mb: u64,
    /// Available space in the data directory's file system.
    pub free_disk_mb: u64,
}

impl Usage {
    /// Free = totals minus what sandboxes holding a VM were given (paused
    /// sandboxes hold only disk, which the file system figure already
    /// counts). Overcommit is the control plane's decision, so `free` never
    /// goes below zero here.
    pub fn compute(totals: Totals, sandboxes: &[SandboxInfo]) -> Self {
        let mut vcpus = 0u32;
        let mut memory = 0u64;
        let mut load = Load::default();
        for sandbox in sandboxes {
            match sandbox.state {
                SandboxState::Running => load.sandboxes_running += 1,
                SandboxState::Paused => load.sandboxes_paused += 1,
                _ => {}
            }
            if holds_a_vm(sandbox.state) {
                vcpus += u32::from(sandbox.vcpus);
                memory += u64::from(sandbox.memory_mib);
            }
        }
        Self {
            free: Free {
                vcpus: totals.cpus.saturating_sub(vcpus),
                memory_mb: totals.memory_mb.saturating_sub(memory),
                disk_mb: totals.free_disk_mb,
            },
            load,
        }
    }

    /// The manager's sandboxes against this machine now.
    pub fn of<V: Vmm>(manager: &SandboxManager<V>) -> Self {
        let totals = Totals {
            cpus: host::host_cpus(),
            memory_mb: host::MemInfo::read().unwrap_or_default().total_mib,
            free_disk_mb: host::free_disk_mib(manager.options().data.root()).unwrap_or(0),
        };
        let mut usage = Self::compute(totals, &manager.list());
        let report = manager.warm_report();
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        usage.load.warm = count(report.warm);
        usage.load.warm_pools = report
            .pools
            .iter()
            .map(|p| WarmPoolLoad {
                template: p.shape.template.to_string(),
                vcpus: u32::from(p.shape.vcpus),
                memory_mb: u64::from(p.shape.memory_mib),
                idle: count(p.idle),
                target: count(p.target),
                asked: count(p.asked),
            })
            .collect();
        usage
    }
}

fn holds_a_vm(state: SandboxState) -> bool {
    matches!(
        state,
        SandboxState::Starting
            | SandboxState::Running
            | SandboxState::Pausing
            | SandboxState::Resuming
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::SandboxId;

    fn sandbox(state: SandboxState, vcpus: u8, memory_mib: u32) -> SandboxInfo {
        SandboxInfo {
            id: SandboxId::generate(),
            template: "base".into(),
            state,
            reason: None,
            vcpus,
            memory_mib,
            disk_mib: None,
            created_at_ms: 0,
            timeout_at_ms: 0,
            metadata: Default::default(),
            envd_url: None,
            from_snapshot: false,
            cpu_usage_ms: None,
        }
    }

    const TOTALS: Totals = Totals {
        cpus: 4,
        memory_mb: 8000,
        free_disk_mb: 1000,
    };

    #[test]
    fn compute_when_idle_then_everything_free() {
        let usage = Usage::compute(TOTALS, &[]);
        assert_eq!(
            usage.free,
            Free {
                vcpus: 4,
                memory_mb: 8000,
                disk_mb: 1000
            }
        );
        assert_eq!(usage.load, Load::default());
    }

    #[test]
    fn compute_when_running_and_paused_then_only_vms_hold_cpu_and_memory() {
        let sandboxes = [
            sandbox(SandboxState::Running, 2, 1024),
            sandbox(SandboxState::Starting, 1, 512),
            sandbox(SandboxState::Paused, 2, 2048),
            sandbox(SandboxState::Stopped, 2, 2048),
        ];
        let usage = Usage::compute(TOTALS, &sandboxes);
        assert_eq!(usage.free.vcpus, 1);
        assert_eq!(usage.free.memory_mb, 8000 - 1536);
        assert_eq!(
            usage.load,
            Load {
                sandboxes_running: 1,
                sandboxes_paused: 1,
                warm: 0,
                warm_pools: Vec::new(),
            }
        );
    }

    #[test]
    fn compute_when_overcommitted_then_zero_not_negative() {
        let sandboxes = [
            sandbox(SandboxState::Running, 4, 4096),
            sandbox(SandboxState::Running, 4, 8192),
        ];
        let usage = Usage::compute(TOTALS, &sandboxes);
        assert_eq!(usage.free.vcpus, 0);
        assert_eq!(usage.free.memory_mb, 0);
    }
}
