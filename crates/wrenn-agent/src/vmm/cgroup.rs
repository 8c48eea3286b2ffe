//! One cgroup per VMM process, with CPU, memory and pids limits matching the
//! sandbox's size, so one sandbox cannot starve the host. cgroup v2 (one
//! hierarchy with `cgroup.controllers`, as on current distributions) is
//! preferred; hosts with the legacy v1 hierarchies (`cpu`, `memory`, `pids`
//! mounted separately) get the same limits through the v1 files. Groups are
//! `<hierarchy>/wrenn/vm-<pid>`: named by the VMM's pid, so a restarted agent
//! finds the group of a VM it adopts, and [`CgroupFs::sweep`] removes every
//! group whose process is gone (a busy group refuses `rmdir`).
use std::{
    io,
    path::{Path, PathBuf},
};

/// Where the kernel mounts cgroups.
pub const SYS_FS_CGROUP: &str = "/sys/fs/cgroup";
/// The parent of every VM group inside each hierarchy.
const PARENT: &str = "wrenn";
const GROUP_PREFIX: &str = "vm-";
/// The CFS period the CPU quota is expressed in (100 ms, the kernel default).
const CPU_PERIOD_US: u64 = 100_000;
/// Memory a VMM process needs beyond guest RAM: QEMU itself, its device
/// emulation, TCG's translation cache, and page cache of its snapshot writes.
pub const MEMORY_OVERHEAD_MIB: u64 = 512;
/// Threads beyond one per vCPU: QEMU's main loop, I/O thread pool (up to
/// 64 workers), RCU and migration threads.
const PIDS_OVERHEAD: u64 = 128;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no usable cgroup hierarchy under {0}: need cgroup v2 with the cpu, memory and pids controllers, or the v1 cpu, memory and pids hierarchies")]
    Unavailable(PathBuf),
    #[error("cgroup file {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> CgroupError + '_ {
    move |source| CgroupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The limits of one VM's group, derived from its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmLimits {
    /// CPU time per period: `vcpus` whole CPUs.
    pub cpu_quota_us: u64,
    pub memory_bytes: u64,
    pub pids: u64,
}

impl VmLimits {
    pub fn for_vm(vcpus: u8, memory_mib: u32) -> Self {
        let vcpus = u64::from(vcpus.max(1));
        Self {
            cpu_quota_us: vcpus * CPU_PERIOD_US,
            memory_bytes: (u64::from(memory_mib) + MEMORY_OVERHEAD_MIB) * 1024 * 1024,
            pids: PIDS_OVERHEAD + 2 * vcpus,
        }
    }
}

/// The cgroup hierarchy (or hierarchies) of this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupFs {
    /// Unified hierarchy rooted at `root`.
    V2 { root: PathBuf },
    /// Legacy hierarchies, one per controller.
    V1 {
        cpu: PathBuf,
        memory: PathBuf,
        pids: PathBuf,
    },
}

impl CgroupFs {
    /// Detects the hierarchy under `mount` (normally [`SYS_FS_CGROUP`]):
    /// v2 when its `cgroup.controllers` offers cpu, memory and pids, else v1
    /// when `cpu`, `memory` and `pids` are mounted below it.
    pub fn detect(mount: &Path) -> Result<Self, CgroupError> {
        if let Ok(controllers) = std::fs::read_to_string(mount.join("cgroup.controllers")) {
            let have: Vec<&str> = controllers.split_whitespace().collect();
            if ["cpu", "memory", "pids"].iter().all(|c| have.contains(c)) {
                return Ok(Self::V2 {
                    root: mount.to_owned(),
                });
            }
        }
        let v1 = |c: &str| {
            let dir = mount.join(c);
            dir.join("cgroup.procs").is_file().then_some(dir)
        };
        match (v1("cpu"), v1("memory"), v1("pids")) {
            (Some(cpu), Some(memory), Some(pids)) => Ok(Self::V1 { cpu, memory, pids }),
            _ => Err(CgroupError::Unavailable(mount.to_owned())),
        }
    }

    pub fn version(&self) -> u8 {
        match self {
            Self::V2 { .. } => 2,
            Self::V1 { .. } => 1,
        }
    }

    fn parents(&self) -> Vec<PathBuf> {
        match self {
            Self::V2 { root } => vec![root.join(PARENT)],
            Self::V1 { cpu, memory, pids } => {
                [cpu, memory, pids].iter().map(|h| h.join(PARENT)).collect()
            }
        }
    }

    /// The group of the VMM with process id `pid` (whether or not it exists).
    pub fn group(&self, pid: u32) -> VmCgroup {
        let name = format!("{GROUP_PREFIX}{pid}");
        VmCgroup {
            version: self.version(),
            dirs: self.parents().iter().map(|p| p.join(&name)).collect(),
        }
    }

    /// Creates the group for `pid`, sets `limits` and moves `pid` into it.
    pub fn confine(&self, pid: u32, limits: VmLimits) -> Result<VmCgroup, CgroupError> {
        self.prepare_parent()?;
        let group = self.group(pid);
        for dir in &group.dirs {
            match std::fs::create_dir(dir) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(io_at(dir)(e)),
                _ => {}
            }
        }
        let applied = group.set_limits(limits).and_then(|()| group.attach(pid));
        if let Err(err) = applied {
            group.remove();
            return Err(err);
        }
        Ok(group)
    }

    /// Creates `wrenn/` and, on v2, delegates the three controllers to it.
    fn prepare_parent(&self) -> Result<(), CgroupError> {
        for parent in self.parents() {
            std::fs::create_dir_all(&parent).map_err(io_at(&parent))?;
        }
        if let Self::V2 { root } = self {
            for dir in [root.clone(), root.join(PARENT)] {
                let control = dir.join("cgroup.subtree_control");
                let enabled = std::fs::read_to_string(&control).unwrap_or_default();
                let missing: Vec<String> = ["cpu", "memory", "pids"]
                    .iter()
                    .filter(|c| !enabled.split_whitespace().any(|e| e == **c))
                    .map(|c| format!("+{c}"))
                    .collect();
                if !missing.is_empty() {
                    write(&control, &missing.join(" "))?;
                }
            }
        }
        Ok(())
    }

    /// Removes every VM group with no process left (after a crash, or VMs
    /// that ended while no agent ran); returns how many it removed.
    pub fn sweep(&self) -> usize {
        let mut removed = 0;
        for parent in self.parents() {
            let Ok(entries) = std::fs::read_dir(&parent) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name.to_string_lossy().starts_with(GROUP_PREFIX)
                    && std::fs::remove_dir(entry.path()).is_ok()
                {
                    removed += 1;
                }
            }
        }
        removed
    }
}

/// The cgroup of one VMM process: one directory (v2) or one per controller (v1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmCgroup {
    version: u8,
    dirs: Vec<PathBuf>,
}

impl VmCgroup {
    /// The group's directories (v2: one; v1: cpu, memory, pids).
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    fn set_limits(&self, limits: VmLimits) -> Result<(), CgroupError> {
        match (self.version, self.dirs.as_slice()) {
            (2, [dir]) => {
                write(
                    &dir.join("cpu.max"),
                    &format!("{} {CPU_PERIOD_US}", limits.cpu_quota_us),
                )?;
                write(&dir.join("memory.max"), &limits.memory_bytes.to_string())?;
                // No swapping the guest out behind its back (absent without swap accounting).
                let swap = dir.join("memory.swap.max");
                if swap.exists() {
                    write(&swap, "0")?;
                }
                write(&dir.join("pids.max"), &limits.pids.to_string())
            }
            (_, [cpu, memory, pids]) => {
                write(&cpu.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
                write(
                    &cpu.join("cpu.cfs_quota_us"),
                    &limits.cpu_quota_us.to_string(),
                )?;
                write(
                    &memory.join("memory.limit_in_bytes"),
                    &limits.memory_bytes.to_string(),
                )?;
                write(&pids.join("pids.max"), &limits.pids.to_string())
            }
            _ => Err(CgroupError::Unavailable(PathBuf::new())),
        }
    }

    /// Moves `pid` (all its threads) into the group.
    pub fn attach(&self, pid: u32) -> Result<(), CgroupError> {
        for dir in &self.dirs {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// True when `pid` is listed in every directory of the group.
    pub fn contains(&self, pid: u32) -> bool {
        let pid = pid.to_string();
        self.dirs.iter().all(|dir| {
            std::fs::read_to_string(dir.join("cgroup.procs"))
                .is_ok_and(|procs| procs.lines().any(|l| l.trim() == pid))
        })
    }

    /// Removes the group once its process is gone. An exited process may
    /// linger in the group for a moment while it is reaped, so this retries
    /// briefly; what stays is logged and left for [`CgroupFs::sweep`].
    pub fn remove(&self) {
        for dir in &self.dirs {
            let mut tries = 0;
            loop {
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(e) if tries < 50 => {
                        let _ = e;
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    Err(err) => {
                        tracing::warn!(path = %dir.display(), %err, "removing a VM cgroup failed; the next start sweeps it");
                        break;
                    }
                }
            }
        }
    }
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(path, value).map_err(io_at(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake cgroup mount: plain directories and files in a temp dir.
    fn fake_v2() -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            root.path().join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .expect("controllers");
        std::fs::write(root.path().join("cgroup.subtree_control"), "").expect("subtree");
        root
    }

    fn fake_v1() -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("tempdir");
        for c in ["cpu", "memory", "pids"] {
            std::fs::create_dir(root.path().join(c)).expect("hierarchy");
            std::fs::write(root.path().join(c).join("cgroup.procs"), "").expect("procs");
        }
        // A v1 host may have an empty unified mount beside them.
        std::fs::create_dir(root.path().join("unified")).expect("unified");
        root
    }

    fn read(path: PathBuf) -> String {
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn limits_when_sized_then_cpu_is_vcpus_and_memory_has_overhead() {
        let limits = VmLimits::for_vm(2, 1024);
        assert_eq!(limits.cpu_quota_us, 200_000);
        assert_eq!(
            limits.memory_bytes,
            (1024 + MEMORY_OVERHEAD_MIB) * 1024 * 1024
        );
        assert_eq!(limits.pids, PIDS_OVERHEAD + 4);
    }

    #[test]
    fn detect_when_v2_controllers_then_v2() {
        let root = fake_v2();
        assert_eq!(
            CgroupFs::detect(root.path()).expect("v2"),
            CgroupFs::V2 {
                root: root.path().to_owned()
            }
        );
    }

    #[test]
    fn detect_when_v2_lacks_controllers_and_no_v1_then_unavailable() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::write(root.path().join("cgroup.controllers"), "io\n").expect("controllers");
        assert!(matches!(
            CgroupFs::detect(root.path()),
            Err(CgroupError::Unavailable(_))
        ));
    }

    #[test]
    fn detect_when_v1_hierarchies_then_v1() {
        let root = fake_v1();
        assert!(matches!(
            CgroupFs::detect(root.path()).expect("v1"),
            CgroupFs::V1 { .. }
        ));
    }

    #[test]
    fn confine_when_v2_then_controllers_delegated_and_limits_written() {
        let root = fake_v2();
        let fs = CgroupFs::detect(root.path()).expect("v2");
        let group = fs.confine(4242, VmLimits::for_vm(2, 512)).expect("confine");
        let dir = root.path().join("wrenn/vm-4242");
        assert_eq!(group.dirs(), std::slice::from_ref(&dir));
        assert_eq!(read(dir.join("cpu.max")), "200000 100000");
        assert_eq!(
            read(dir.join("memory.max")),
            ((512 + MEMORY_OVERHEAD_MIB) * 1024 * 1024).to_string()
        );
        assert_eq!(read(dir.join("pids.max")), (PIDS_OVERHEAD + 4).to_string());
        assert_eq!(read(dir.join("cgroup.procs")), "4242");
        assert!(group.contains(4242));
        assert_eq!(
            read(root.path().join("cgroup.subtree_control")),
            "+cpu +memory +pids"
        );
        assert_eq!(
            read(root.path().join("wrenn/cgroup.subtree_control")),
            "+cpu +memory +pids"
        );
    }

    #[test]
    fn confine_when_v1_then_each_hierarchy_gets_its_limit() {
        let root = fake_v1();
        let fs = CgroupFs::detect(root.path()).expect("v1");
        let group = fs.confine(77, VmLimits::for_vm(1, 256)).expect("confine");
        let at = |c: &str, f: &str| read(root.path().join(c).join("wrenn/vm-77").join(f));
        assert_eq!(at("cpu", "cpu.cfs_quota_us"), "100000");
        assert_eq!(at("cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(
            at("memory", "memory.limit_in_bytes"),
            ((256 + MEMORY_OVERHEAD_MIB) * 1024 * 1024).to_string()
        );
        assert_eq!(at("pids", "pids.max"), (PIDS_OVERHEAD + 2).to_string());
        for c in ["cpu", "memory", "pids"] {
            assert_eq!(at(c, "cgroup.procs"), "77");
        }
        assert!(group.contains(77));
        assert!(!group.contains(78));
    }

    #[test]
    fn group_when_adopted_pid_then_same_dirs_as_confine() {
        let root = fake_v1();
        let fs = CgroupFs::detect(root.path()).expect("v1");
        let made = fs.confine(9, VmLimits::for_vm(1, 256)).expect("confine");
        assert_eq!(fs.group(9), made);
    }

    #[test]
    fn sweep_when_groups_empty_then_removed_and_others_kept() {
        let root = fake_v2();
        let fs = CgroupFs::detect(root.path()).expect("v2");
        std::fs::create_dir_all(root.path().join("wrenn/vm-1")).expect("empty group");
        std::fs::create_dir_all(root.path().join("wrenn/other")).expect("foreign group");
        // A real cgroup with a process refuses rmdir; a non-empty dir does too.
        std::fs::create_dir_all(root.path().join("wrenn/vm-2")).expect("busy group");
        std::fs::write(root.path().join("wrenn/vm-2/cgroup.procs"), "2").expect("procs");
        assert_eq!(fs.sweep(), 1);
        assert!(!root.path().join("wrenn/vm-1").exists());
        assert!(root.path().join("wrenn/vm-2").exists());
        assert!(root.path().join("wrenn/other").exists());
    }
}
