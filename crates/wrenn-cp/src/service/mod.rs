//! The rules of each resource, between the API (`crate::api`) and the
//! database (`crate::db`) and host agents (`crate::agent`): the order of
//! steps, undo on failure, audit. Every function returns its operation's
//! typed error; `crate::error` maps them to HTTP in one place.
pub mod sandboxes;
pub mod templates;
