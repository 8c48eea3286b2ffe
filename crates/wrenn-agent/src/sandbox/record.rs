//! What the agent remembers about one sandbox, persisted as
//! `<data>/sandboxes/<id>/sandbox.json` after every change so that a
//! restarted agent knows what it owns. The envd token is sealed on disk
//! ([`super::sealed`]); the file is the owner's only (0600, by the agent's
//! umask and explicitly here).
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
    #[serde(with = "super::sealed::token")]
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
    /// The disk file the VM writes, in the sandbox's directory, when it is
    /// not the layout's default name: after a fork the sandbox goes on in a
    /// new layer over the frozen one.
    #[serde(default)]
    pub disk_file: Option<String>,
    /// Fork layers the sandbox's disk chain reads, shared with its copies
    /// or its source; a layer goes with the last sandbox that reads it.
    #[serde(default)]
    pub layers: Vec<PathBuf>,
    /// Paused without a memory image (filesystem only): the next resume
    /// boots afresh on the same disk.
    #[serde(default)]
    pub paused_without_memory: bool,
    /// The CPU time (ms) the last VMM process had used when it ended (a
    /// pause); cleared when a new one starts.
    #[serde(default)]
    pub last_cpu_ms: Option<u64>,
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

    /// Writes the record atomically (temp file + rename), mode 0600.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        use std::{io::Write, os::unix::fs::OpenOptionsExt};
        let tmp = dir.join(format!("{RECORD_FILE}.tmp"));
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        // A temp file left by an older agent keeps its mode on open.
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        file.write_all(&json)?;
        drop(file);
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
    /// CPU time (ms) of the VMM process: the current one's so far while it
    /// runs, else the last one's final reading (a counter per process).
    pub cpu_usage_ms: Option<u64>,
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
            cpu_usage_ms: r.pid.and_then(super::cpu::vmm_cpu_ms).or(r.last_cpu_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::sandbox::{EgressSpec, TimeoutAction};

    fn record() -> SandboxRecord {
        SandboxRecord {
            id: "sb-sealtest0001".parse().expect("id"),
            config: SandboxConfig {
                template: "base".parse().expect("name"),
                vcpus: 1,
                memory_mib: 256,
                disk_mib: None,
                timeout_secs: 60,
                on_timeout: TimeoutAction::Kill,
                env_vars: Default::default(),
                metadata: Default::default(),
                egress: EgressSpec::default(),
            },
            lifecycle: Lifecycle::new(),
            access_token: AccessToken::generate(),
            created_at_ms: 1,
            timeout_at_ms: 2,
            pid: None,
            slot: None,
            envd_addr: None,
            from_snapshot: None,
            disk_strategy: None,
            disk_file: None,
            layers: Vec::new(),
            paused_without_memory: false,
            last_cpu_ms: None,
            vm_generation: 0,
        }
    }

    #[test]
    fn save_when_written_then_0600_and_token_not_in_plaintext() {
        let dir = tempfile::tempdir().expect("tempdir");
        let record = record();
        record.save(dir.path()).expect("save");
        let path = dir.path().join(RECORD_FILE);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains(record.access_token.expose()), "{text}");
        assert!(text.contains("\"sealed\""), "{text}");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let loaded = SandboxRecord::load(dir.path()).expect("load");
        assert_eq!(loaded.access_token, record.access_token);
    }

    #[test]
    fn load_when_plaintext_token_of_older_agent_then_read_and_resealed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let record = record();
        let mut legacy = serde_json::to_value(&record).expect("json");
        legacy["access_token"] = serde_json::Value::String("legacy-plain-token".into());
        std::fs::write(
            dir.path().join(RECORD_FILE),
            serde_json::to_vec(&legacy).expect("bytes"),
        )
        .expect("write");
        let loaded = SandboxRecord::load(dir.path()).expect("legacy loads");
        assert_eq!(loaded.access_token.expose(), "legacy-plain-token");
        loaded.save(dir.path()).expect("save");
        let text = std::fs::read_to_string(dir.path().join(RECORD_FILE)).expect("read");
        assert!(!text.contains("legacy-plain-token"), "{text}");
    }

    #[test]
    fn info_when_vmm_runs_then_its_live_cpu_reading_over_the_last_one() {
        let mut record = record();
        record.pid = Some(std::process::id());
        record.last_cpu_ms = Some(u64::MAX);
        let cpu = SandboxInfo::from(&record).cpu_usage_ms.expect("a reading");
        assert!(cpu < u64::MAX, "{cpu}");
    }

    #[test]
    fn info_when_no_vmm_then_last_final_reading_kept_across_save_and_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut record = record();
        assert_eq!(SandboxInfo::from(&record).cpu_usage_ms, None);
        record.last_cpu_ms = Some(1234);
        record.save(dir.path()).expect("save");
        let loaded = SandboxRecord::load(dir.path()).expect("load");
        assert_eq!(SandboxInfo::from(&loaded).cpu_usage_ms, Some(1234));
    }

    #[test]
    fn load_when_record_of_older_agent_then_no_last_cpu_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut old = serde_json::to_value(record()).expect("json");
        old.as_object_mut().expect("object").remove("last_cpu_ms");
        std::fs::write(
            dir.path().join(RECORD_FILE),
            serde_json::to_vec(&old).expect("bytes"),
        )
        .expect("write");
        let loaded = SandboxRecord::load(dir.path()).expect("old record loads");
        assert_eq!(loaded.last_cpu_ms, None);
    }
}
