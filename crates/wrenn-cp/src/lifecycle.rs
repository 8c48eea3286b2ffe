//! Sandbox states as the control plane records them: the state machine is
//! [`wrenn_types::SandboxState`] (one definition for the API, the CLI and
//! the SDK wire); this module re-exports it for the control plane.
pub use wrenn_types::SandboxState;
