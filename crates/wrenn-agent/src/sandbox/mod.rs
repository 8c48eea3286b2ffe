//! Sandboxes on this host: validated configuration, lifecycle states, the
//! persisted record, and the manager with its parts (registry, launcher,
//! lifecycle, forks, template snapshots, recovery, reaper) that drive VMs, disks
//! and networks.
pub mod base_import;
pub mod catalog;
pub mod config;
mod cpu;
pub mod error;
mod fork;
pub mod gate;
pub mod id;
mod launcher;
mod layout;
mod lifecycle;
pub mod manager;
mod metrics;
mod pool;
mod pool_store;
mod reaper;
pub mod record;
mod recovery;
mod registry;
pub mod sealed;
mod snapshot;
pub mod start_spec;
pub mod state;
pub mod template;
pub mod template_fetch;
pub mod template_manifest;
pub mod warm;

pub use catalog::{TemplateCatalog, TemplateInfo};
pub use config::{EgressSpec, Limits, SandboxConfig, TimeoutAction};
pub use error::SandboxError;
pub use fork::{ForkRequest, MAX_FORK_COPIES};
pub use id::{AccessToken, SandboxId, TemplateName};
pub use lifecycle::EnvdTarget;
pub use manager::{ManagerOptions, SandboxManager};
pub use metrics::MetricsSample;
pub use pool::default_specs as quickstart_warm_pools;
pub use pool_store::WarmReport;
pub use record::{SandboxInfo, SandboxRecord};
pub use recovery::RecoveryReport;
pub use snapshot::{builtin_shape, BUILTIN_SHAPE, BUILTIN_TEMPLATES};
pub use start_spec::TemplateStartSpec;
pub use state::SandboxState;
