//! Start-up of the manager on a host that may hold a previous agent's work.
//!
//! The network set-up of a previous run cannot be trusted (the host rules are
//! rebuilt from scratch), so VMs that are still running are re-adopted through
//! their control socket, paused to disk, and resumed on fresh networks: their
//! processes and files survive an agent crash. Anything half-created (a
//! sandbox that was starting, an orphan VMM process, a directory without a
//! record) is removed, and every decision is logged.
use std::path::Path;

use super::{
    layout::{self, Layout},
    lifecycle::{SandboxRegistry, Sandboxes},
    record::SandboxRecord,
    state::SandboxState,
    template::SNAPSHOT_COMPLETE,
    SandboxError, SandboxId,
};
use crate::{
    network::{cleanup_leftovers, CleanupReport, NetnsPrefix},
    vmm::{RunningVm, Vmm},
};

/// What start-up found and did.
#[derive(Debug, Default)]
pub struct RecoveryReport {
    /// Running before the restart and running again now.
    pub resumed: Vec<SandboxId>,
    /// Paused sandboxes loaded as they were.
    pub paused: Vec<SandboxId>,
    /// Sandboxes whose VM was gone or could not be recovered (now `error`).
    pub failed: Vec<(SandboxId, String)>,
    /// Half-created sandboxes and unknown directories removed.
    pub removed: Vec<String>,
    /// VMM processes without a record, killed.
    pub orphans_killed: Vec<u32>,
    pub network: CleanupReport,
}

/// What recovery works with; it owns no state of its own.
pub struct Recovery<'a, V: Vmm> {
    pub registry: &'a SandboxRegistry<V>,
    pub sandboxes: &'a Sandboxes<V>,
    pub backend: &'a V,
    pub layout: &'a Layout,
    /// `<data>/warm`: pooled sandboxes of an earlier agent, all removed.
    pub warm_dir: &'a Path,
    pub netns_prefix: &'a NetnsPrefix,
}

impl<V: Vmm> Recovery<'_, V> {
    /// Recovers what a previous agent left; `init_host_network` prepares
    /// host networking once the old networks are swept.
    pub async fn run(
        &self,
        init_host_network: impl std::future::Future<Output = Result<(), SandboxError>>,
    ) -> Result<RecoveryReport, SandboxError> {
        let mut report = RecoveryReport::default();
        let sandboxes_dir = self.layout.sandboxes();
        let mut to_resume = Vec::new();
        let mut known_pids = Vec::new();
        for dir in std::fs::read_dir(sandboxes_dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
        {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Ok(record) = SandboxRecord::load(&dir) else {
                // A directory without a readable record was never created.
                if !name.starts_with("dev-") {
                    layout::remove_logged(&dir, "a directory without a record");
                    report.removed.push(name);
                }
                continue;
            };
            if let Some(pid) = record.pid {
                known_pids.push(pid);
            }
            match self.recover_one(record, &dir).await {
                Recovered::Resume(id) => to_resume.push(id),
                Recovered::Paused(id) => report.paused.push(id),
                Recovered::Failed(id, why) => report.failed.push((id, why)),
                Recovered::Removed(id) => report.removed.push(id.to_string()),
            }
        }
        report.orphans_killed = kill_orphan_vmms(sandboxes_dir, &known_pids);
        // Pooled VMs are never adopted; a claimed one still names its pool
        // directory in its command line, hence the known pids.
        report
            .orphans_killed
            .extend(kill_orphan_vmms(self.warm_dir, &known_pids));
        if self.warm_dir.exists() {
            for dir in std::fs::read_dir(self.warm_dir)
                .into_iter()
                .flatten()
                .flatten()
            {
                layout::remove_logged(&dir.path(), "a pooled sandbox of an earlier agent");
                report
                    .removed
                    .push(format!("warm/{}", dir.file_name().to_string_lossy()));
            }
        }
        report.removed.extend(remove_unread_layers(
            self.layout,
            &self.registry.layers_in_use(),
        ));
        if let Some(data_root) = sandboxes_dir.parent() {
            // A template VM never outlives the build that booted it.
            let templates = data_root.join(TEMPLATE_SNAPSHOTS);
            report
                .orphans_killed
                .extend(kill_orphan_vmms(&templates, &[]));
            report
                .removed
                .extend(remove_unfinished_templates(data_root));
        }
        report.network = cleanup_leftovers(self.netns_prefix)
            .await
            .map_err(|e| SandboxError::Capacity(format!("network cleanup: {e}")))?;
        init_host_network.await?;
        for id in to_resume {
            match self.sandboxes.resume(&id).await {
                Ok(_) => report.resumed.push(id),
                Err(err) => report.failed.push((id, err.to_string())),
            }
        }
        tracing::info!(
            resumed = report.resumed.len(),
            paused = report.paused.len(),
            failed = report.failed.len(),
            removed = ?report.removed,
            orphans_killed = ?report.orphans_killed,
            network_removed = ?report.network,
            "recovery finished"
        );
        Ok(report)
    }

    /// Saves `record` (logged and reported on failure) and registers it.
    fn keep(&self, record: SandboxRecord, dir: &Path) -> Result<(), String> {
        let saved = record
            .save(dir)
            .map_err(|e| format!("saving its record failed: {e}"));
        if let Err(why) = &saved {
            tracing::warn!(sandbox_id = %record.id, reason = %why, "recovery");
        }
        self.registry.insert(dir.to_path_buf(), record);
        saved
    }

    async fn recover_one(&self, mut record: SandboxRecord, dir: &Path) -> Recovered {
        let id = record.id.clone();
        let pid_alive = record.pid.is_some_and(vmm_alive);
        match record.state() {
            SandboxState::Running | SandboxState::Pausing if pid_alive => {
                let pid = record.pid.unwrap_or_default();
                let Some(mut vm) = self.backend.adopt(&dir.join("run"), pid) else {
                    kill_pid(pid);
                    return self.failed(
                        record,
                        dir,
                        "the agent restarted and this backend cannot re-adopt VMs",
                    );
                };
                // Freeze it through its control socket while the old network
                // still stands, so nothing is lost when networks are rebuilt.
                record
                    .lifecycle
                    .force(SandboxState::Paused, RECOVERED.into());
                let snapshot = dir.join("snapshot");
                let paused = match layout::remove_path(&snapshot) {
                    Ok(()) => vm.pause_to(&snapshot).await.map_err(|e| e.to_string()),
                    Err(e) => Err(format!("removing the old snapshot: {e}")),
                };
                let marked = paused.and_then(|()| {
                    std::fs::write(snapshot.join(SNAPSHOT_COMPLETE), b"")
                        .map_err(|e| format!("marking the snapshot complete: {e}"))
                });
                match marked {
                    Ok(()) => {
                        record.clear_vm();
                        if let Err(why) = self.keep(record, dir) {
                            return Recovered::Failed(id, why);
                        }
                        tracing::info!(sandbox_id = %id, pid, "re-adopted a running VM; it resumes on a fresh network");
                        Recovered::Resume(id)
                    }
                    Err(err) => {
                        if let Err(e) = vm.kill().await {
                            tracing::warn!(sandbox_id = %id, %e, "stopping the re-adopted VM failed");
                        }
                        self.failed(
                            record,
                            dir,
                            &format!("re-adopting the VM after an agent restart failed: {err}"),
                        )
                    }
                }
            }
            SandboxState::Paused | SandboxState::Resuming | SandboxState::Pausing
                if record.paused_without_memory
                    || dir.join("snapshot").join(SNAPSHOT_COMPLETE).is_file() =>
            {
                if let Some(pid) = record.pid.filter(|&p| vmm_alive(p)) {
                    kill_pid(pid);
                }
                record
                    .lifecycle
                    .force(SandboxState::Paused, RECOVERED.into());
                record.clear_vm();
                match self.keep(record, dir) {
                    Ok(()) => Recovered::Paused(id),
                    Err(why) => Recovered::Failed(id, why),
                }
            }
            SandboxState::Starting => {
                // Half-created: nothing of it may remain.
                if let Some(pid) = record.pid.filter(|&p| vmm_alive(p)) {
                    kill_pid(pid);
                }
                layout::remove_logged(dir, "a half-created sandbox");
                tracing::info!(sandbox_id = %id, "removed a sandbox that was still starting when the agent stopped");
                Recovered::Removed(id)
            }
            SandboxState::Stopped => {
                layout::remove_logged(dir, "a stopped sandbox");
                Recovered::Removed(id)
            }
            SandboxState::Error => {
                self.registry.insert(dir.to_path_buf(), record);
                Recovered::Failed(id, "was already in error".into())
            }
            _ => self.failed(record, dir, "its VM stopped while the agent was down"),
        }
    }

    fn failed(&self, mut record: SandboxRecord, dir: &Path, why: &str) -> Recovered {
        let id = record.id.clone();
        layout::remove_contents_except_record(dir);
        record.lifecycle.force(SandboxState::Error, why.to_owned());
        record.clear_vm();
        let why = match self.keep(record, dir) {
            Ok(()) => why.to_owned(),
            Err(unsaved) => format!("{why}; {unsaved}"),
        };
        tracing::warn!(sandbox_id = %id, reason = %why, "sandbox not recovered");
        Recovered::Failed(id, why)
    }
}

const RECOVERED: &str = "recovered after an agent restart";
/// Template memory snapshots, under the data directory.
const TEMPLATE_SNAPSHOTS: &str = "snapshots/templates";

/// Removes what template builds cut short by the previous agent's end left
/// behind: staged template images (`images/.tmp-*`) and template snapshots
/// being built (`snapshots/templates/*.tmp-*`). Nothing builds yet.
fn remove_unfinished_templates(data_root: &Path) -> Vec<String> {
    let staged = |dir: &Path, unfinished: fn(&str) -> bool| -> Vec<String> {
        let mut removed = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if unfinished(&name) {
                layout::remove_logged(&entry.path(), "an unfinished template build");
                removed.push(name);
            }
        }
        removed
    };
    let mut removed = staged(&data_root.join("images"), |n| n.starts_with(".tmp-"));
    removed.extend(staged(&data_root.join(TEMPLATE_SNAPSHOTS), |n| {
        n.contains(".tmp-")
    }));
    removed
}

enum Recovered {
    Resume(SandboxId),
    Paused(SandboxId),
    Failed(SandboxId, String),
    Removed(SandboxId),
}

/// True when `pid` is a live VMM process (not a zombie, not reused by
/// something else).
fn vmm_alive(pid: u32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let cmdline = String::from_utf8_lossy(&cmdline);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat
        .rsplit(')')
        .next()
        .is_some_and(|rest| rest.trim_start().starts_with('Z'));
    !zombie && (cmdline.contains("qemu-system") || cmdline.contains("firecracker"))
}

fn kill_pid(pid: u32) {
    let target = nix::unistd::Pid::from_raw(pid as i32);
    if let Err(err) = nix::sys::signal::kill(target, nix::sys::signal::SIGKILL) {
        tracing::warn!(pid, %err, "killing a leftover VMM failed");
    }
}

/// Kills VMM processes that use files under `sandboxes_dir` but belong to no
/// record (e.g. a crash between spawning QEMU and saving its pid).
fn kill_orphan_vmms(sandboxes_dir: &Path, known: &[u32]) -> Vec<u32> {
    let marker = sandboxes_dir.display().to_string();
    let marker = marker.trim_end_matches('/');
    let mut killed = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if known.contains(&pid) || !vmm_alive(pid) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        // Dev boots (`wrenn-agent boot`) own their VMs; leave them alone.
        if mentions_dir(&cmdline, marker) && !cmdline.contains("/dev-") {
            kill_pid(pid);
            killed.push(pid);
        }
    }
    if !killed.is_empty() {
        tracing::warn!(pids = ?killed, "killed VMM processes that belonged to no sandbox");
    }
    killed
}

/// True when a path under `dir` appears in `cmdline` (NUL-separated
/// arguments) as a whole path: preceded by the start of an argument or a
/// separator QEMU uses (`=`, `,`, `:`), and followed by `/`. Another agent's
/// data dir that merely contains this one's path (`/srv/a/var/lib/wrenn`, or
/// `/var/lib/wrenn2`) does not count.
fn mentions_dir(cmdline: &str, dir: &str) -> bool {
    let needle = format!("{dir}/");
    cmdline.split('\0').any(|arg| {
        arg.match_indices(&needle)
            .any(|(at, _)| at == 0 || matches!(arg.as_bytes()[at - 1], b'=' | b',' | b':' | b' '))
    })
}

/// Fork layers no recovered sandbox reads (their last reader went while no
/// agent ran), and memory images of forks that an agent stop interrupted.
fn remove_unread_layers(
    layout: &super::layout::Layout,
    in_use: &std::collections::HashSet<std::path::PathBuf>,
) -> Vec<String> {
    let mut removed = Vec::new();
    let layers = std::fs::read_dir(layout.layers()).into_iter().flatten();
    let forks = std::fs::read_dir(layout.forks()).into_iter().flatten();
    for path in layers.flatten().map(|e| e.path()) {
        if !in_use.contains(&path) {
            layout::remove_logged(&path, "a fork layer no sandbox reads");
            removed.push(path.display().to_string());
        }
    }
    for path in forks.flatten().map(|e| e.path()) {
        layout::remove_logged(&path, "an interrupted fork's memory image");
        removed.push(path.display().to_string());
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::{mentions_dir, remove_unfinished_templates, TEMPLATE_SNAPSHOTS};

    #[test]
    fn remove_unfinished_templates_when_builds_cut_short_then_only_staging_removed() {
        let root = tempfile::tempdir().expect("tempdir");
        let (images, snapshots) = (
            root.path().join("images"),
            root.path().join(TEMPLATE_SNAPSHOTS),
        );
        for dir in [
            images.join("base"),
            images.join(".tmp-tm-a-x1"),
            snapshots.join("tm-b-v-1c256m"),
            snapshots.join("tm-b-v-1c256m.tmp-42"),
        ] {
            std::fs::create_dir_all(dir).expect("dir");
        }

        let mut removed = remove_unfinished_templates(root.path());

        removed.sort();
        assert_eq!(removed, [".tmp-tm-a-x1", "tm-b-v-1c256m.tmp-42"]);
        assert!(images.join("base").is_dir());
        assert!(snapshots.join("tm-b-v-1c256m").is_dir());
    }

    const DIR: &str = "/var/lib/wrenn/sandboxes";

    #[test]
    fn mentions_dir_when_own_paths_then_true() {
        let cmdline =
            "qemu-system-x86_64\0-drive\0file=/var/lib/wrenn/sandboxes/sb-1/disk.qcow2,if=none\0";
        assert!(mentions_dir(cmdline, DIR));
        assert!(mentions_dir(
            "qemu\0-qmp\0unix:/var/lib/wrenn/sandboxes/sb-1/run/qmp.sock,server\0",
            DIR
        ));
        assert!(mentions_dir(
            "firecracker\0/var/lib/wrenn/sandboxes/x/fc.sock",
            DIR
        ));
    }

    #[test]
    fn mentions_dir_when_other_agents_data_dir_then_false() {
        let nested = "qemu\0-drive\0file=/tmp/mh/a/var/lib/wrenn/sandboxes/sb-1/disk.qcow2\0";
        assert!(!mentions_dir(nested, DIR));
        let sibling = "qemu\0-drive\0file=/var/lib/wrenn/sandboxes2/sb-1/disk.qcow2\0";
        assert!(!mentions_dir(sibling, DIR));
        assert!(!mentions_dir("qemu\0-nographic\0", DIR));
    }
}
