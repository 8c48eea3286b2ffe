//! What the agent remembers about one sandbox, persisted as
//! `<data>/sandboxes/<id>/sandbox.json` after every change so that a
//! restarted agent knows what it owns.
use std::path::{Path, PathBuf};

use super::{
    config::SandboxConfig,
    id::{AccessToken, SandboxId},
    state::{Lifecycle, SandboxState},
};

use crate::disk::DiskStrategy;

pub const RECORD_FILE: &str = "sandbox.json";

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SandboxRecord {
    pub id: SandboxId,
    pub config: SandboxConfig,
    pub lifecycle: Lifecycle,
    pub access_token: AccessToken,
    pub created_at_ms: u64,
    /// When the inactivity timeout fires (Unix ms); moved by ping.
    pub timeout_at_ms: u64,
    /// VMM process while one runs.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Network slot while one is held.
    #[serde(default)]
    pub slot: Option<u32>,
    /// `ip:port` where the host reaches envd while running.
    #[serde(default)]
    pub envd_addr: Option<String>,
    /// Template snapshot the sandbox was restored from, if any.
    #[serde(default)]
    pub from_snapshot: Option<PathBuf>,
    /// How the sandbox's disk was made (qcow2 overlay, reflink or sparse
    /// copy); absent in records of agents that did not say.
    #[serde(default)]
    pub disk_strategy: Option<DiskStrategy>,
    /// Which VM incarnation envd at `envd_addr` is: a new number every time
    /// a VM starts, so connections kept to an earlier VM are never reused.
    /// Not persisted: connections do not outlive the agent.
    #[serde(skip)]
    pub vm_generation: u64,
}

/// A fresh [`SandboxRecord::vm_generation`], unique within this process.
pub fn next_vm_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl SandboxRecord {
    pub fn state(&self) -> SandboxState {
        self.lifecycle.state()
    }

    /// Forgets the VM: no process, network slot or envd address.
    pub fn clear_vm(&mut self) {
        self.pid = None;
        self.slot = None;
        self.envd_addr = None;
    }

    /// Writes the record atomically (temp file + rename).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join(format!("{RECORD_FILE}.tmp"));
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, dir.join(RECORD_FILE))
    }

    pub fn load(dir: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(dir.join(RECORD_FILE))?;
        serde_json::from_slice(&bytes).map_err(std::io::Error::other)
    }
}

/// The public view of a sandbox (no secrets but the envd token, which the
/// caller needs to talk to envd and is only given to the control plane).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SandboxInfo {
    pub id: SandboxId,
    pub template: String,
    pub state: SandboxState,
    pub reason: Option<String>,
    pub vcpus: u8,
    pub memory_mib: u32,
    pub disk_mib: Option<u64>,
    pub created_at_ms: u64,
    pub timeout_at_ms: u64,
    pub metadata: std::collections::BTreeMap<String, String>,
    pub envd_url: Option<String>,
    pub from_snapshot: bool,
}

impl From<&SandboxRecord> for SandboxInfo {
    fn from(r: &SandboxRecord) -> Self {
        Self {
            id: r.id.clone(),
            template: r.config.template.to_string(),
            state: r.state(),
            reason: r.lifecycle.reason().map(str::to_owned),
            vcpus: r.config.vcpus,
            memory_mib: r.config.memory_mib,
            disk_mib: r.config.disk_mib,
            created_at_ms: r.created_at_ms,
            timeout_at_ms: r.timeout_at_ms,
            metadata: r.config.metadata.clone(),
            envd_url: r.envd_addr.as_ref().map(|a| format!("http://{a}")),
            from_snapshot: r.from_snapshot.is_some(),
        }
    }
}
