//! Errors of sandbox operations, each with a stable code for the RPC layer.
use super::{
    config::ConfigError,
    id::SandboxId,
    state::{IllegalTransition, SandboxState},
};

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid sandbox configuration: {0}")]
    InvalidConfig(#[from] ConfigError),
    #[error("template '{0}' does not exist on this host")]
    UnknownTemplate(String),
    #[error("a {requested_mib} MiB disk cannot hold template '{template}' ({template_mib} MiB); ask for at least that")]
    DiskTooSmall {
        template: String,
        requested_mib: u64,
        template_mib: u64,
    },
    #[error("sandbox {0} not found")]
    NotFound(SandboxId),
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    #[error("no capacity: {0}")]
    Capacity(String),
    #[error("sandbox {id} failed to start: {reason}")]
    StartFailed { id: SandboxId, reason: String },
    #[error("pausing sandbox {id} failed: {reason}")]
    PauseFailed { id: SandboxId, reason: String },
    #[error("resuming sandbox {id} failed: {reason}")]
    ResumeFailed { id: SandboxId, reason: String },
    #[error("snapshot of template '{template}' failed: {reason}")]
    TemplateSnapshotFailed { template: String, reason: String },
    #[error("sandbox {0} already exists")]
    AlreadyExists(SandboxId),
    #[error("template '{0}' already exists")]
    TemplateExists(String),
    #[error("the start spec of template '{template}' is invalid: {reason}")]
    InvalidStartSpec { template: String, reason: String },
    #[error("template '{0}' is built in and cannot be deleted")]
    TemplateProtected(String),
    #[error("template '{template}' is used by {sandboxes} sandbox(es); destroy them first")]
    TemplateInUse { template: String, sandboxes: usize },
    #[error("sandbox {id} is {state}; {action} needs it running or paused")]
    WrongState {
        id: SandboxId,
        state: SandboxState,
        action: &'static str,
    },
    #[error("snapshot of sandbox {id} failed: {reason}")]
    SnapshotFailed { id: SandboxId, reason: String },
    #[error("a fork makes 1 to {max} copies, not {count}")]
    ForkCount { count: usize, max: usize },
    #[error("sandbox {id} is {state}; a fork needs it running")]
    ForkNotRunning { id: SandboxId, state: SandboxState },
    #[error("this host's disks ({0}) cannot be forked; forks need qcow2 overlays (QEMU)")]
    ForkUnsupported(crate::disk::DiskStrategy),
    #[error("fork of sandbox {id} failed: {reason}")]
    ForkFailed { id: SandboxId, reason: String },
    #[error("sandbox {0} is busy with another operation")]
    Busy(SandboxId),
    #[error("storage error on {path}: {source}")]
    Storage {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot choose how sandbox disks are made: {0}")]
    DiskSetup(#[source] crate::disk::DiskError),
}

impl SandboxError {
    /// Stable machine-readable code (Connect / API error codes).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidConfig(_)
            | Self::DiskTooSmall { .. }
            | Self::ForkCount { .. }
            | Self::InvalidStartSpec { .. } => "invalid_argument",
            Self::UnknownTemplate(_) | Self::NotFound(_) => "not_found",
            Self::IllegalTransition(_)
            | Self::TemplateProtected(_)
            | Self::TemplateInUse { .. }
            | Self::WrongState { .. }
            | Self::ForkNotRunning { .. }
            | Self::ForkUnsupported(_) => "failed_precondition",
            Self::TemplateExists(_) => "already_exists",
            Self::Capacity(_) => "resource_exhausted",
            Self::Busy(_) => "aborted",
            Self::AlreadyExists(_) => "already_exists",
            Self::StartFailed { .. }
            | Self::PauseFailed { .. }
            | Self::ResumeFailed { .. }
            | Self::TemplateSnapshotFailed { .. }
            | Self::SnapshotFailed { .. }
            | Self::ForkFailed { .. } => "unavailable",
            Self::Storage { .. } | Self::DiskSetup(_) => "internal",
        }
    }

    /// A failed file-system operation on `path`.
    pub fn storage(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Storage {
            path: path.display().to_string(),
            source,
        }
    }
}
