//! Sandboxes on this host: validated configuration, lifecycle states, the
//! persisted record and the manager that drives VMs, disks and networks.
pub mod catalog;
pub mod config;
pub mod error;
pub mod id;
pub mod manager;
pub mod record;
pub mod recovery;
pub mod snapshot;
pub mod state;
pub mod template;

pub use catalog::{TemplateCatalog, TemplateInfo};
pub use config::{EgressSpec, Limits, SandboxConfig, TimeoutAction};
pub use error::SandboxError;
pub use id::{AccessToken, SandboxId, TemplateName};
pub use manager::{ManagerOptions, SandboxManager};
pub use record::{SandboxInfo, SandboxRecord};
pub use state::SandboxState;
