//! One representation per concept, shared by the control plane, the agent,
//! the CLI and (through the wire formats) the SDKs: validated ids, the
//! sandbox state machine, resource sizes, what happens at a timeout, and the
//! stable error codes of the REST API, and the JSON of the agent's calls to
//! the control plane ([`host_wire`]). Parse at the edge into these types,
//! then trust them; convert only at the wire (JSON, proto), never through
//! ad-hoc strings.
pub mod envd_paths;
mod error_code;
pub mod host_wire;
mod id;
mod random;
mod resources;
mod state;
mod template_ref;
mod timeout;

pub use error_code::ErrorCode;
pub use id::{HostId, IdError, KeyId, SandboxId, TeamId, TemplateId, TemplateName, UserId};
pub use random::random_lowercase;
pub use resources::{Resources, ResourcesError};
pub use state::SandboxState;
pub use template_ref::{TemplateRef, TemplateTag};
pub use timeout::TimeoutAction;
