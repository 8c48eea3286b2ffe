//! The rules of each resource, between the HTTP handlers (`api/`) and the
//! database (`db/`) and host agents (`agent/`): the order of steps, the
//! checks, undo on failure and the audit trail. One module per resource;
//! each operation returns its own error enum, mapped to HTTP in one place
//! per layer (`error.rs`, `api/service_errors.rs`).
pub mod accounts;
pub mod admin;
pub mod builds;
pub mod deletion;
pub mod hosts;
pub mod keys;
pub mod members;
pub mod notify;
pub mod pools;
pub mod sandboxes;
pub mod sessions;
pub mod teams;
pub mod template_copies;
pub mod templates;
pub mod usage;
