//! The Firecracker backend: one `firecracker` process per VM (optionally under
//! its jailer), driven through its REST API on a Unix socket, on raw disk
//! images. Chosen with `AGENT_BACKEND=firecracker` on hosts with hardware
//! KVM and a firecracker binary; see [`FirecrackerBackend::detect`].
pub mod api;
pub mod console;
pub mod detect;
pub mod jailer;
pub mod process;
pub mod sequence;

use std::path::{Path, PathBuf};

pub use api::{ApiClient, ApiError};
pub use detect::{FirecrackerUnavailable, FIRECRACKER_BIN_ENV};
pub use jailer::JailerConfig;
pub use process::FirecrackerVm;

use super::{BackendKind, VmSpec, Vmm, VmmError};
use jailer::Launch;
use sequence::BootPlan;

/// Failures of the Firecracker backend, before they are folded into
/// [`VmmError`] at the trait boundary.
#[derive(Debug, thiserror::Error)]
pub enum FirecrackerError {
    /// The spec asks for QEMU's user-mode networking.
    #[error("Firecracker needs a TAP device; user-mode networking is QEMU only")]
    UserNetUnsupported,
    /// Firecracker has no throw-away disk layer.
    #[error("Firecracker cannot discard disk writes; boot it on a per-VM disk copy")]
    DiscardWritesUnsupported,
    /// The run directory's name cannot be a jailer id.
    #[error("'{0}' cannot name a jail: use ASCII letters, digits and '-', at most 64")]
    JailId(String),
    #[error("cannot prepare {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start `{program}`", program = program.display())]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Firecracker exited ({status}); last console lines:\n{console_tail}")]
    Exited {
        status: String,
        console_tail: String,
    },
    #[error("Firecracker did not open its API socket {socket} within {timeout:?}", socket = socket.display())]
    SocketTimeout {
        socket: PathBuf,
        timeout: std::time::Duration,
    },
    #[error("Firecracker did not exit within {0:?} after SIGKILL")]
    ExitTimeout(std::time::Duration),
    #[error("waiting for Firecracker failed")]
    Wait(#[source] std::io::Error),
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// The error and its causes on one line, for string-carrying variants.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Folds a backend error into the shared [`VmmError`].
pub(crate) fn to_vmm_error(err: FirecrackerError) -> VmmError {
    match err {
        FirecrackerError::Io { path, source } => VmmError::Io {
            path: path.display().to_string(),
            source,
        },
        FirecrackerError::Spawn { program, source } => VmmError::Spawn {
            binary: program.display().to_string(),
            source,
        },
        FirecrackerError::Exited {
            status,
            console_tail,
        } => VmmError::Exited {
            status,
            console_tail,
        },
        FirecrackerError::ExitTimeout(timeout) => VmmError::Timeout(timeout),
        spec @ (FirecrackerError::UserNetUnsupported
        | FirecrackerError::DiscardWritesUnsupported
        | FirecrackerError::JailId(_)) => VmmError::Spawn {
            binary: "firecracker".into(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, spec),
        },
        other => VmmError::Control(Box::new(other)),
    }
}

/// Runs VMs with Firecracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirecrackerBackend {
    pub binary: PathBuf,
    pub jailer: Option<JailerConfig>,
}

impl FirecrackerBackend {
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        Self {
            binary: binary.into(),
            jailer: None,
        }
    }

    #[must_use]
    pub fn with_jailer(mut self, jailer: JailerConfig) -> Self {
        self.jailer = Some(jailer);
        self
    }

    fn launch(&self, spec: &VmSpec) -> Result<Launch, FirecrackerError> {
        match &self.jailer {
            Some(jailer) => Launch::jailed(jailer, &self.binary, spec),
            None => Ok(Launch::direct(&self.binary, spec)),
        }
    }

    fn jail_owner(&self) -> Option<(u32, u32)> {
        self.jailer.as_ref().map(|j| (j.uid, j.gid))
    }

    /// Starts a process, configures it from `spec` and starts the guest.
    pub async fn boot_vm(&self, spec: &VmSpec) -> Result<FirecrackerVm, FirecrackerError> {
        let mut plan = BootPlan::from_spec(spec)?;
        let launch = self.launch(spec)?;
        plan.boot_source.kernel_image_path = launch.kernel.clone();
        plan.root_drive.path_on_host = launch.root_disk.clone();
        let vm = FirecrackerVm::start(launch, &spec.run_dir, self.jail_owner()).await?;
        vm.stage(&spec.kernel, &plan.boot_source.kernel_image_path)?;
        vm.stage(&spec.root_disk, &plan.root_drive.path_on_host)?;
        sequence::configure_and_start(vm.api(), &plan).await?;
        Ok(vm)
    }

    /// Starts a process and resumes the snapshot in `snapshot_dir` in it.
    /// The root disk must be where it was when the snapshot was taken (under
    /// the jailer, `spec.root_disk` is linked to the same jail path).
    pub async fn restore_vm(
        &self,
        spec: &VmSpec,
        snapshot_dir: &Path,
    ) -> Result<FirecrackerVm, FirecrackerError> {
        let launch = self.launch(spec)?;
        let in_vm_dir = launch.snapshot_dir(snapshot_dir);
        let load = sequence::snapshot_load(&in_vm_dir, &spec.net)?;
        let root_disk = launch.root_disk.clone();
        let vm = FirecrackerVm::start(launch, &spec.run_dir, self.jail_owner()).await?;
        vm.stage(&spec.root_disk, &root_disk)?;
        let (state, memory) = sequence::snapshot_files(snapshot_dir);
        vm.stage(&state, &load.snapshot_path)?;
        vm.stage(&memory, &load.mem_backend.backend_path)?;
        let api = vm.api().clone().with_timeout(process::SNAPSHOT_TIMEOUT);
        sequence::load_and_resume(&api, &load).await?;
        Ok(vm)
    }
}

impl Vmm for FirecrackerBackend {
    type Vm = FirecrackerVm;

    fn kind(&self) -> BackendKind {
        BackendKind::Firecracker
    }

    /// Firecracker's block device is a plain file: no qcow2.
    fn disk_format(&self) -> crate::disk::DiskFormat {
        crate::disk::DiskFormat::Raw
    }

    async fn boot(&self, spec: &VmSpec) -> Result<FirecrackerVm, VmmError> {
        self.boot_vm(spec).await.map_err(to_vmm_error)
    }

    /// Firecracker's console is a pipe to the agent that dies with it, so a
    /// restarted agent does not adopt Firecracker VMs; it stops them instead.
    fn adopt(&self, _run_dir: &Path, _pid: u32) -> Option<FirecrackerVm> {
        None
    }

    async fn restore(&self, spec: &VmSpec, snapshot_dir: &Path) -> Result<FirecrackerVm, VmmError> {
        self.restore_vm(spec, snapshot_dir)
            .await
            .map_err(|e| match e {
                FirecrackerError::Api(api) => VmmError::Restore(error_chain(&api)),
                other => to_vmm_error(other),
            })
    }
}
