//! What the suites that drive the sandbox manager share: the sandbox they
//! create and how they read a sandbox's VMM process from the host.
use std::{collections::BTreeMap, path::Path};

use wrenn_agent::{
    paths::DataDir,
    sandbox::{EgressSpec, SandboxConfig, TimeoutAction},
};

/// A one-vCPU sandbox of the `base` template with `memory_mib` of RAM.
pub fn config(memory_mib: u32) -> SandboxConfig {
    SandboxConfig {
        #[expect(clippy::expect_used, reason = "a literal, valid by construction")]
        template: "base".parse().expect("valid name"),
        vcpus: 1,
        memory_mib,
        disk_mib: None,
        timeout_secs: 3600,
        on_timeout: TimeoutAction::Kill,
        env_vars: BTreeMap::new(),
        metadata: BTreeMap::new(),
        egress: EgressSpec::default(),
    }
}

/// The sandbox's directory under the agent's data directory.
pub fn sandbox_dir(data: &DataDir, id: &str) -> std::path::PathBuf {
    data.root().join("sandboxes").join(id)
}

/// The VMM process of a running sandbox, from its record.
pub fn pid_of(data: &DataDir, id: &str) -> Option<u32> {
    let record = std::fs::read(sandbox_dir(data, id).join("sandbox.json")).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&record).ok()?;
    value.get("pid")?.as_u64().map(|p| p as u32)
}

/// Proportional set size: shared pages split among the processes mapping them.
pub fn pss_kib(pid: u32) -> u64 {
    proc_kib(&format!("/proc/{pid}/smaps_rollup"), "Pss:")
}

/// Resident set size.
pub fn rss_kib(pid: u32) -> u64 {
    proc_kib(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// The KiB figure on the line of `file` that starts with `key`; 0 if none.
fn proc_kib(file: &str, key: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Bytes of the files directly in `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}
