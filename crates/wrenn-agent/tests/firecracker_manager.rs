//! A manager-level create on the Firecracker backend with a real binary
//! (`WRENN_FIRECRACKER_BIN`): the sandbox disk must be a raw ext4 image made
//! by the host's raw strategy (reflink or sparse copy), never a qcow2 file,
//! and Firecracker must accept the whole configuration up to
//! `InstanceStart`. Whether the guest then runs depends on the host (a
//! PVM-backed `/dev/kvm` cannot run it): a guest that boots must answer; one
//! that cannot must fail after the VMM started, not in the VMM set-up.
//! Without the binary, `/dev/kvm`, `vmlinux` or the `base` image the test
//! prints why it was skipped and passes. Root-only (namespaces, nftables):
//! `cargo test -p wrenn-agent --test firecracker_manager -- --ignored`.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use wrenn_agent::{
    disk::DiskFormat,
    network::NetworkConfig,
    paths::{DataDir, KernelFormat},
    sandbox::{EgressSpec, Limits, ManagerOptions, SandboxError, SandboxManager, SandboxState},
    vmm::{firecracker::FirecrackerBackend, BackendKind, VmSpec, Vmm, VmmError},
};

mod common;

const BIN_ENV: &str = "WRENN_FIRECRACKER_BIN";
const LIMIT: Duration = Duration::from_secs(180);

/// What the root drive handed to Firecracker held when the VM started.
#[derive(Debug, Clone)]
struct RootDrive {
    path: PathBuf,
    bytes: u64,
    ext4_magic: bool,
    qcow2_magic: bool,
}

fn inspect(path: &Path) -> std::io::Result<RootDrive> {
    let mut file = std::fs::File::open(path)?;
    let mut head = [0u8; 4];
    file.read_exact(&mut head)?;
    // The ext4 superblock starts at 1024; its magic 0xEF53 sits at +56.
    let mut magic = [0u8; 2];
    file.seek(SeekFrom::Start(1024 + 56))?;
    file.read_exact(&mut magic)?;
    Ok(RootDrive {
        path: path.to_path_buf(),
        bytes: file.metadata()?.len(),
        ext4_magic: magic == [0x53, 0xef],
        qcow2_magic: head == *b"QFI\xfb",
    })
}

/// The real Firecracker backend, noting each root drive it is given.
struct Recording {
    inner: FirecrackerBackend,
    drives: Arc<Mutex<Vec<std::io::Result<RootDrive>>>>,
}

impl Recording {
    fn note(&self, spec: &VmSpec) {
        let seen = inspect(&spec.root_disk);
        self.drives.lock().expect("lock").push(seen);
    }
}

impl Vmm for Recording {
    type Vm = <FirecrackerBackend as Vmm>::Vm;

    fn kind(&self) -> BackendKind {
        self.inner.kind()
    }

    fn disk_format(&self) -> DiskFormat {
        self.inner.disk_format()
    }

    async fn boot(&self, spec: &VmSpec) -> Result<Self::Vm, VmmError> {
        self.note(spec);
        self.inner.boot(spec).await
    }

    async fn restore(&self, spec: &VmSpec, snapshot_dir: &Path) -> Result<Self::Vm, VmmError> {
        self.note(spec);
        self.inner.restore(spec, snapshot_dir).await
    }

    fn adopt(&self, run_dir: &Path, pid: u32) -> Option<Self::Vm> {
        self.inner.adopt(run_dir, pid)
    }
}

fn prerequisites() -> Result<FirecrackerBackend, String> {
    let binary = std::env::var_os(BIN_ENV)
        .map(PathBuf::from)
        .ok_or_else(|| format!("{BIN_ENV} is not set"))?;
    if !binary.is_file() {
        return Err(format!("{BIN_ENV}={} is not a file", binary.display()));
    }
    if !Path::new("/dev/kvm").exists() {
        return Err("no /dev/kvm".into());
    }
    let data = DataDir::from_env();
    data.kernel(KernelFormat::Vmlinux)
        .map_err(|e| e.to_string())?;
    data.template_image("base").map_err(|e| e.to_string())?;
    Ok(FirecrackerBackend::new(binary))
}

/// A data dir of its own (so recovery touches no other test's sandboxes)
/// sharing the host's kernels and images.
fn private_data_dir(scratch: &Path) -> DataDir {
    let shared = DataDir::from_env();
    for part in ["kernels", "images"] {
        std::os::unix::fs::symlink(shared.root().join(part), scratch.join(part))
            .expect("link the shared artefacts");
    }
    DataDir::new(scratch)
}

#[tokio::test]
#[ignore = "needs root: network namespaces and nftables"]
async fn create_when_firecracker_backend_then_root_drive_is_raw_ext4() {
    let backend = match prerequisites() {
        Ok(backend) => backend,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let data = private_data_dir(scratch.path());
    let drives = Arc::new(Mutex::new(Vec::new()));
    let recording = Recording {
        inner: backend,
        drives: Arc::clone(&drives),
    };
    let opts = ManagerOptions {
        data: data.clone(),
        network: NetworkConfig::default(),
        limits: Limits {
            max_vcpus: 2,
            max_memory_mib: 4096,
            max_disk_mib: 16384,
        },
        ready_timeout: Duration::from_secs(30),
        kernel_format: KernelFormat::Vmlinux,
        guest_ca: None,
    };
    let manager = SandboxManager::new(recording, opts).expect("manager");
    tokio::time::timeout(LIMIT, manager.start())
        .await
        .expect("start-up in time")
        .expect("start-up");
    let mut config = common::config(EgressSpec::default(), Default::default());
    config.memory_mib = 256;

    let created = tokio::time::timeout(LIMIT, manager.create(config))
        .await
        .expect("create in time");

    let image = std::fs::canonicalize(data.template_image("base").expect("image")).expect("image");
    let template_bytes = std::fs::metadata(&image).expect("image").len();
    let seen: Vec<RootDrive> = drives
        .lock()
        .expect("lock")
        .drain(..)
        .map(|d| d.expect("root drive readable at boot"))
        .collect();
    assert_eq!(seen.len(), 1, "one boot: {seen:?}");
    let drive = &seen[0];
    assert_eq!(manager.disk_plan().format(), DiskFormat::Raw);
    assert_eq!(drive.path.file_name().expect("name"), "disk.ext4");
    assert!(
        drive.path.starts_with(data.root().join("sandboxes")),
        "{drive:?}"
    );
    assert!(drive.ext4_magic, "not an ext4 image: {drive:?}");
    assert!(!drive.qcow2_magic, "a qcow2 file: {drive:?}");
    assert_eq!(drive.bytes, template_bytes);
    eprintln!(
        "disk strategy: {} ({})",
        manager.disk_plan().strategy(),
        manager.disk_plan().reason()
    );

    let id = match created {
        Ok(info) => {
            eprintln!("the guest booted under Firecracker");
            assert_eq!(info.state, SandboxState::Running);
            info.id
        }
        Err(SandboxError::StartFailed { id, reason }) => {
            eprintln!("the guest did not come up on this host: {reason}");
            assert!(
                !reason.starts_with("VMM:") && !reason.starts_with("disk:"),
                "Firecracker refused the configuration: {reason}"
            );
            let info = manager.get(&id).expect("kept in error");
            assert_eq!(info.state, SandboxState::Error);
            id
        }
        Err(other) => panic!("create failed before the VM: {other}"),
    };
    let record = std::fs::read_to_string(
        data.root()
            .join("sandboxes")
            .join(id.as_str())
            .join("sandbox.json"),
    )
    .expect("record");
    let record: serde_json::Value = serde_json::from_str(&record).expect("json");
    assert_eq!(
        record["disk_strategy"],
        manager.disk_plan().strategy().to_string()
    );
    tokio::time::timeout(LIMIT, manager.destroy(&id))
        .await
        .expect("destroy in time")
        .expect("destroy");
}
